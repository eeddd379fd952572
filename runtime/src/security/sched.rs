//! process.ioPriority (ioprio_set) and process.scheduler (sched_setattr): raw
//! syscalls nix has no wrapper for.

use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler,
};

use super::{failed, SecurityError};

const IOPRIO_WHO_PROCESS: libc::c_int = 1;
const IOPRIO_CLASS_SHIFT: u32 = 13;

/// The ioprio value for ioprio_set(2); checked in validation as well.
pub fn ioprio_value(p: &LinuxIOPriority) -> Result<i32, String> {
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..=7).contains(&p.priority()) {
        return Err(format!("{}: must be 0 to 7", p.priority()));
    }
    Ok(((class << IOPRIO_CLASS_SHIFT) | p.priority() as u32) as i32)
}

/// ioprio_set(2) with a value from [`ioprio_value`] (the plan's).
pub fn set_io_priority(v: i32) -> Result<(), SecurityError> {
    // SAFETY: plain integer arguments.
    if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, v) } < 0 {
        return Err(failed(
            "process.ioPriority",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// struct sched_attr of sched_setattr(2) (SCHED_ATTR_SIZE_VER1).
#[repr(C)]
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

/// The sched_attr for a config, or an error naming the field.
pub fn sched_attr(s: &Scheduler) -> Result<SchedAttr, (String, String)> {
    use LinuxSchedulerPolicy as P;
    let policy = match s.policy() {
        P::SchedOther => 0,
        P::SchedFifo => 1,
        P::SchedRr => 2,
        P::SchedBatch => 3,
        P::SchedIso => {
            return Err((
                "process.scheduler.policy".into(),
                "SCHED_ISO does not exist in Linux".into(),
            ))
        }
        P::SchedIdle => 5,
        P::SchedDeadline => 6,
    };
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        };
    }
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err((
            "process.scheduler.nice".into(),
            format!("{nice}: must be -20 to 19"),
        ));
    }
    let priority = s.priority().unwrap_or(0);
    let realtime = matches!(s.policy(), P::SchedFifo | P::SchedRr);
    if realtime && !(1..=99).contains(&priority) || !realtime && priority != 0 {
        return Err((
            "process.scheduler.priority".into(),
            format!("{priority}: 1 to 99 for SCHED_FIFO and SCHED_RR, else 0"),
        ));
    }
    let deadline = matches!(s.policy(), P::SchedDeadline);
    if !deadline && (s.runtime().is_some() || s.deadline().is_some() || s.period().is_some()) {
        return Err((
            "process.scheduler.runtime".into(),
            "runtime, deadline and period are for SCHED_DEADLINE only".into(),
        ));
    }
    Ok(SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice,
        priority: priority as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        util_min: 0,
        util_max: 0,
    })
}

/// sched_setattr(2) with an attr from [`sched_attr`] (the plan's).
pub fn set_scheduler(attr: &SchedAttr) -> Result<(), SecurityError> {
    // SAFETY: a pointer to a live, fully initialised sched_attr of the size it declares.
    if unsafe { libc::syscall(libc::SYS_sched_setattr, 0, attr as *const SchedAttr, 0) } < 0 {
        return Err(failed("process.scheduler", std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioprio_packs_class_and_level() {
        let p: LinuxIOPriority =
            serde_json::from_str(r#"{"class":"IOPRIO_CLASS_IDLE","priority":7}"#).unwrap();
        assert_eq!(ioprio_value(&p), Ok((3 << 13) | 7));
        let p: LinuxIOPriority =
            serde_json::from_str(r#"{"class":"IOPRIO_CLASS_BE","priority":9}"#).unwrap();
        assert!(ioprio_value(&p).is_err());
    }

    #[test]
    fn sched_attr_checks_fields() {
        let s: Scheduler = serde_json::from_str(
            r#"{"policy":"SCHED_BATCH","nice":5,"flags":["SCHED_RESET_ON_FORK"]}"#,
        )
        .unwrap();
        let a = sched_attr(&s).unwrap();
        assert_eq!((a.policy, a.nice, a.flags), (3, 5, 1));
        let s: Scheduler = serde_json::from_str(r#"{"policy":"SCHED_FIFO","priority":0}"#).unwrap();
        assert_eq!(sched_attr(&s).unwrap_err().0, "process.scheduler.priority");
        let s: Scheduler = serde_json::from_str(r#"{"policy":"SCHED_OTHER","runtime":5}"#).unwrap();
        assert_eq!(sched_attr(&s).unwrap_err().0, "process.scheduler.runtime");
    }
}

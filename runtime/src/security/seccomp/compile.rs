//! linux.seccomp → a plan (validated, names resolved, one decision per syscall
//! number and architecture) → classic BPF.
//!
//! Everything here is pure: no syscalls, no allocation outside the program.

use std::collections::BTreeMap;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction as Action, LinuxSeccompFilterFlag as Flag,
    LinuxSeccompOperator as Op,
};

use super::bpf::{self, Asm, Label, JMP_JEQ, JMP_JGE, JMP_JGT};
use super::syscalls;
use super::{invalid, ret, SeccompError};

/// `__X32_SYSCALL_BIT`: x32 syscalls arrive as AUDIT_ARCH_X86_64 with this bit set.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// AUDIT_ARCH_X86_64 (x86_64 and x32).
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// AUDIT_ARCH_I386.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// i386 socketcall(2) and ipc(2).
const NR_X86_SOCKETCALL: u32 = 102;
const NR_X86_IPC: u32 = 117;
/// The kernel caps an errno return at MAX_ERRNO.
const MAX_ERRNO: u32 = 4095;
const EPERM: u32 = 1;

/// The architectures brig can filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    X86_64,
    X86,
    X32,
}

impl Target {
    pub fn audit_arch(self) -> u32 {
        match self {
            Target::X86_64 | Target::X32 => AUDIT_ARCH_X86_64,
            Target::X86 => AUDIT_ARCH_I386,
        }
    }

    /// Every syscall of this architecture brig knows, as (name, number), by name.
    pub fn syscalls(self) -> &'static [(&'static str, u32)] {
        match self {
            Target::X86_64 => syscalls::X86_64,
            Target::X86 => syscalls::X86,
            Target::X32 => syscalls::X32,
        }
    }

    /// i386 passes 32-bit arguments: only the low halves are compared, with the
    /// value truncated to 32 bits, as libseccomp does. x86_64 and x32 hand the
    /// kernel full 64-bit registers, so both halves are compared (libseccomp
    /// compares only the low half on x32).
    pub fn args_are_32bit(self) -> bool {
        self == Target::X86
    }

    /// The syscall number of `name` on this architecture.
    pub fn resolve(self, name: &str) -> Option<u32> {
        lookup(self.syscalls(), name)
    }

    /// The OCI name, e.g. "SCMP_ARCH_X86_64".
    pub fn oci_name(self) -> &'static str {
        match self {
            Target::X86_64 => "SCMP_ARCH_X86_64",
            Target::X86 => "SCMP_ARCH_X86",
            Target::X32 => "SCMP_ARCH_X32",
        }
    }

    fn from_oci(a: Arch) -> Option<Target> {
        match a {
            Arch::ScmpArchNative => Target::native(),
            Arch::ScmpArchX86_64 => Some(Target::X86_64),
            Arch::ScmpArchX86 => Some(Target::X86),
            Arch::ScmpArchX32 => Some(Target::X32),
            _ => None,
        }
    }

    /// The architecture brig itself runs as: the one filtered when the config
    /// lists none, as libseccomp does.
    pub fn native() -> Option<Target> {
        if cfg!(target_arch = "x86_64") {
            Some(Target::X86_64)
        } else if cfg!(target_arch = "x86") {
            Some(Target::X86)
        } else {
            None
        }
    }
}

fn lookup(table: &[(&str, u32)], name: &str) -> Option<u32> {
    table
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| table[i].1)
}

/// Known anywhere: on one of brig's architectures, as an i386 multiplexed call,
/// or on another architecture libseccomp knows.
fn known_anywhere(name: &str) -> bool {
    [Target::X86_64, Target::X86, Target::X32]
        .iter()
        .any(|t| t.resolve(name).is_some())
        || lookup(syscalls::X86_SOCKETCALL, name).is_some()
        || lookup(syscalls::X86_IPC, name).is_some()
        || syscalls::OTHER_ARCHES.binary_search(&name).is_ok()
}

/// One argument comparison. `value_two` is the datum of MASKED_EQ (`value` is
/// its mask), 0 otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cond {
    pub arg: u8,
    pub op: Op,
    pub value: u64,
    pub value_two: u64,
}

impl Cond {
    /// The comparison on a full 64-bit argument, or on a 32-bit one with the
    /// values truncated (i386). The meaning the generated BPF must have.
    pub fn holds(&self, arg: u64, args_32bit: bool) -> bool {
        let (a, v, v2) = if args_32bit {
            (
                arg & 0xffff_ffff,
                self.value & 0xffff_ffff,
                self.value_two & 0xffff_ffff,
            )
        } else {
            (arg, self.value, self.value_two)
        };
        match self.op {
            Op::ScmpCmpNe => a != v,
            Op::ScmpCmpLt => a < v,
            Op::ScmpCmpLe => a <= v,
            Op::ScmpCmpEq => a == v,
            Op::ScmpCmpGe => a >= v,
            Op::ScmpCmpGt => a > v,
            Op::ScmpCmpMaskedEq => a & v == v2 & v,
        }
    }
}

/// A rule with at least one condition (all ANDed) and its action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub conds: Vec<Cond>,
    pub action: u32,
}

/// What one syscall number gets on one architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Whatever the arguments.
    Always(u32),
    /// The first rule whose conditions all hold; the default action when none does.
    Rules(Vec<Rule>),
}

/// The validated filter, before code generation.
#[derive(Clone, Debug)]
pub struct Plan {
    pub default: u32,
    /// In the order the config lists them, without duplicates.
    pub targets: Vec<Target>,
    pub syscalls: BTreeMap<Target, BTreeMap<u32, Decision>>,
    /// SECCOMP_FILTER_FLAG_* from linux.seccomp.flags.
    pub flags: u32,
    /// Some rule is SCMP_ACT_NOTIFY: load asks for a listener fd.
    pub listener: bool,
}

impl Plan {
    /// What the filter must answer for a syscall: the meaning the BPF must have.
    pub fn verdict(&self, data: &bpf::SeccompData) -> u32 {
        let nr = data.nr as u32;
        let target = match data.arch {
            AUDIT_ARCH_I386 => Target::X86,
            AUDIT_ARCH_X86_64 if nr & X32_SYSCALL_BIT != 0 => Target::X32,
            AUDIT_ARCH_X86_64 => Target::X86_64,
            _ => return ret::KILL_PROCESS,
        };
        if !self.targets.contains(&target) {
            return ret::KILL_PROCESS;
        }
        match self.syscalls.get(&target).and_then(|m| m.get(&nr)) {
            None => self.default,
            Some(Decision::Always(a)) => *a,
            Some(Decision::Rules(rules)) => rules
                .iter()
                .find(|r| {
                    r.conds
                        .iter()
                        .all(|c| c.holds(data.args[c.arg as usize], target.args_are_32bit()))
                })
                .map_or(self.default, |r| r.action),
        }
    }
}

/// The kernel's return value for an action, validating its errno/trace value.
fn action_value(a: Action, errno: Option<u32>, errno_field: &str) -> Result<u32, SeccompError> {
    let needs_no_value = |v: u32| match errno {
        Some(_) => Err(invalid(
            errno_field,
            format!(
                "{} takes no errno value; only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do",
                oci_name(&a)
            ),
        )),
        None => Ok(v),
    };
    match a {
        Action::ScmpActKill | Action::ScmpActKillThread => needs_no_value(ret::KILL_THREAD),
        Action::ScmpActKillProcess => needs_no_value(ret::KILL_PROCESS),
        Action::ScmpActTrap => needs_no_value(ret::TRAP),
        Action::ScmpActLog => needs_no_value(ret::LOG),
        Action::ScmpActAllow => needs_no_value(ret::ALLOW),
        Action::ScmpActNotify => needs_no_value(ret::USER_NOTIF),
        Action::ScmpActErrno => {
            let e = errno.unwrap_or(EPERM);
            if e > MAX_ERRNO {
                return Err(invalid(
                    errno_field,
                    format!("errno {e} is above the kernel's limit of {MAX_ERRNO}"),
                ));
            }
            Ok(ret::ERRNO | e)
        }
        Action::ScmpActTrace => {
            let e = errno.unwrap_or(EPERM);
            if e > 0xffff {
                return Err(invalid(
                    errno_field,
                    format!("trace value {e} does not fit in SECCOMP_RET_DATA (16 bits)"),
                ));
            }
            Ok(ret::TRACE | e)
        }
    }
}

/// The spelling of an enum value in config.json.
fn oci_name<T: serde::Serialize>(t: &T) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Calls brig's init makes after the filter is loaded to hand the listener fd to
/// the runtime (the sync socket's write and sendmsg): sending them to the agent
/// would wait forever for an agent that cannot have the fd yet.
const NOT_NOTIFIABLE: &[&str] = &["write", "sendmsg"];

/// Validate linux.seccomp and resolve it into a plan.
pub fn plan(s: &LinuxSeccomp) -> Result<Plan, SeccompError> {
    const F: &str = "linux.seccomp";
    if s.default_action() == Action::ScmpActNotify {
        return Err(invalid(
            format!("{F}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be the default action (every syscall of the init, \
             before the agent has the listener, would wait for it)",
        ));
    }
    let default = action_value(
        s.default_action(),
        s.default_errno_ret(),
        &format!("{F}.defaultErrnoRet"),
    )?;

    // As libseccomp (and so runc and crun) does: the native architecture is
    // always filtered, whether or not `architectures` lists it, and an entry
    // for an architecture this host cannot run (SCMP_ARCH_AARCH64 on x86_64)
    // adds nothing: no syscall of it can arrive here.
    let native = Target::native().ok_or_else(|| {
        invalid(
            format!("{F}.architectures"),
            "brig's seccomp supports x86 hosts only",
        )
    })?;
    let mut targets: Vec<Target> = vec![native];
    for a in s.architectures().iter().flatten() {
        if let Some(t) = Target::from_oci(*a) {
            if !targets.contains(&t) {
                targets.push(t);
            }
        }
    }

    let listener = s
        .syscalls()
        .iter()
        .flatten()
        .any(|r| r.action() == Action::ScmpActNotify);
    let mut flags = 0;
    for (i, f) in s.flags().iter().flatten().enumerate() {
        flags |= match f {
            Flag::SeccompFilterFlagTsync => super::FLAG_TSYNC,
            Flag::SeccompFilterFlagLog => super::FLAG_LOG,
            Flag::SeccompFilterFlagSpecAllow => super::FLAG_SPEC_ALLOW,
            Flag::SeccompFilterFlagWaitKillableRecv => {
                if !listener {
                    return Err(invalid(
                        format!("{F}.flags[{i}]"),
                        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs a SCMP_ACT_NOTIFY rule",
                    ));
                }
                super::FLAG_WAIT_KILLABLE_RECV
            }
        };
    }
    if listener
        && s.listener_path()
            .as_ref()
            .is_none_or(|p| p.as_os_str().is_empty())
    {
        return Err(invalid(
            format!("{F}.listenerPath"),
            "a SCMP_ACT_NOTIFY rule needs a listenerPath to send the listener fd to",
        ));
    }

    let mut raw: BTreeMap<Target, BTreeMap<u32, Vec<Rule>>> =
        targets.iter().map(|t| (*t, BTreeMap::new())).collect();
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let f = format!("{F}.syscalls[{i}]");
        let action = action_value(sc.action(), sc.errno_ret(), &format!("{f}.errnoRet"))?;
        if sc.names().is_empty() {
            return Err(invalid(format!("{f}.names"), "no syscall names"));
        }
        let mut conds = Vec::new();
        for (k, a) in sc.args().iter().flatten().enumerate() {
            if a.index() > 5 {
                return Err(invalid(
                    format!("{f}.args[{k}].index"),
                    format!(
                        "argument {} does not exist (syscalls take 0 to 5)",
                        a.index()
                    ),
                ));
            }
            let value_two = a.value_two().unwrap_or(0);
            if a.op() != Op::ScmpCmpMaskedEq && value_two != 0 {
                return Err(invalid(
                    format!("{f}.args[{k}].valueTwo"),
                    format!(
                        "only SCMP_CMP_MASKED_EQ takes valueTwo, not {}",
                        oci_name(&a.op())
                    ),
                ));
            }
            conds.push(Cond {
                arg: a.index() as u8,
                op: a.op(),
                value: a.value(),
                value_two,
            });
        }
        for (j, name) in sc.names().iter().enumerate() {
            let field = || format!("{f}.names[{j}]");
            if sc.action() == Action::ScmpActNotify && NOT_NOTIFIABLE.contains(&name.as_str()) {
                return Err(invalid(
                    field(),
                    format!(
                        "SCMP_ACT_NOTIFY cannot be used for {name}: brig's init needs it to \
                         hand over the listener fd after the filter is loaded"
                    ),
                ));
            }
            let mut found = false;
            for t in &targets {
                let map = raw.get_mut(t).expect("every target has a map");
                if let Some(nr) = t.resolve(name) {
                    found = true;
                    map.entry(nr).or_default().push(Rule {
                        conds: conds.clone(),
                        action,
                    });
                }
                if *t == Target::X86 {
                    multiplexed(map, name, &conds, action);
                }
            }
            if !found && !known_anywhere(name) {
                return Err(invalid(field(), format!("unknown syscall {name:?}")));
            }
        }
    }

    let syscalls = raw
        .into_iter()
        .map(|(t, m)| {
            let m = m
                .into_iter()
                .filter_map(|(nr, rules)| decide(rules, default).map(|d| (nr, d)))
                .collect();
            (t, m)
        })
        .collect();
    Ok(Plan {
        default,
        targets,
        syscalls,
        flags,
        listener,
    })
}

/// On i386 a socket or SysV IPC call can also be made through socketcall(2) or
/// ipc(2), with the call's number as the first argument and its own arguments in
/// memory, out of a filter's reach. A rule on such a name also matches the
/// multiplexed form, by that first argument. A rule with argument conditions
/// cannot be checked there: for a restricting action it matches every such call
/// (libseccomp's choice), for ALLOW and LOG it is left out, so that the
/// multiplexed form never lets through more than the rule did.
fn multiplexed(map: &mut BTreeMap<u32, Vec<Rule>>, name: &str, conds: &[Cond], action: u32) {
    let via = lookup(syscalls::X86_SOCKETCALL, name)
        .map(|sub| (NR_X86_SOCKETCALL, sub))
        .or_else(|| lookup(syscalls::X86_IPC, name).map(|sub| (NR_X86_IPC, sub)));
    let Some((nr, sub)) = via else { return };
    if !conds.is_empty() && (action == ret::ALLOW || action == ret::LOG) {
        return;
    }
    map.entry(nr).or_default().push(Rule {
        conds: vec![Cond {
            arg: 0,
            op: Op::ScmpCmpEq,
            value: sub as u64,
            value_two: 0,
        }],
        action,
    });
}

/// The rules of one syscall, in config order, into one decision, with libseccomp's
/// precedence (which runc and crun give their users):
/// - a rule whose action is the default action is dropped (libseccomp refuses it,
///   runc skips it);
/// - a rule without conditions wins over every rule with conditions, and the first
///   such rule wins over later ones;
/// - otherwise the first rule whose conditions all hold decides.
///
/// `None` when the syscall just gets the default action.
fn decide(mut rules: Vec<Rule>, default: u32) -> Option<Decision> {
    rules.retain(|r| r.action != default);
    if let Some(r) = rules.iter().find(|r| r.conds.is_empty()) {
        return Some(Decision::Always(r.action));
    }
    if rules.is_empty() {
        None
    } else {
        Some(Decision::Rules(rules))
    }
}

/// A run of consecutive syscall numbers with the same decision.
struct Run<'a> {
    lo: u32,
    hi: u32,
    decision: &'a Decision,
}

fn runs(m: &BTreeMap<u32, Decision>) -> Vec<Run<'_>> {
    let mut out: Vec<Run> = Vec::new();
    for (nr, d) in m {
        if let Some(last) = out.last_mut() {
            if let (Decision::Always(a), Decision::Always(b)) = (last.decision, d) {
                if a == b && last.hi.checked_add(1) == Some(*nr) {
                    last.hi = *nr;
                    continue;
                }
            }
        }
        out.push(Run {
            lo: *nr,
            hi: *nr,
            decision: d,
        });
    }
    out
}

/// Runs compared one after another at the bottom of the search tree.
const LEAF_RUNS: usize = 4;

struct Gen<'a> {
    asm: Asm,
    plan: &'a Plan,
}

/// The program, in execution order.
///
/// ```text
///        ld  arch
///        jeq AUDIT_ARCH_X86_64, S64        one test per architecture section
///        jeq AUDIT_ARCH_I386,   S32
///        ret KILL_PROCESS                  an architecture not in the config
/// S64:   ld  nr
///        jge X32_SYSCALL_BIT, bad          when x32 is not listed (or the reverse)
///        jge 230, R, L                     binary search over runs of numbers
/// L:     ...  jeq 2, T ...  jge 5 ... jgt 9 ... ret default
/// T:     ld args[0].hi ... ret ERRNO(1)    the rules of one syscall
/// S32:   ...
/// ```
pub fn generate(plan: &Plan) -> Vec<bpf::Insn> {
    let mut g = Gen {
        asm: Asm::default(),
        plan,
    };
    let bad = g.asm.ret(ret::KILL_PROCESS);
    let has = |t| plan.targets.contains(&t);
    // Sections in the order the config first names one of their architectures.
    let mut sections: Vec<u32> = Vec::new();
    for t in &plan.targets {
        if !sections.contains(&t.audit_arch()) {
            sections.push(t.audit_arch());
        }
    }
    let mut entries: Vec<(u32, Label)> = Vec::new();
    for audit in sections.iter().rev() {
        let body = if *audit == AUDIT_ARCH_I386 {
            let body = g.dispatch(&runs(&plan.syscalls[&Target::X86]), 0, true);
            g.asm.load(bpf::OFF_NR, body)
        } else {
            let empty = BTreeMap::new();
            let m64 = plan.syscalls.get(&Target::X86_64).unwrap_or(&empty);
            let m32 = plan.syscalls.get(&Target::X32).unwrap_or(&empty);
            let mut all = runs(m64);
            all.extend(runs(m32));
            let (x86_64, x32) = (has(Target::X86_64), has(Target::X32));
            let lower = if x86_64 { 0 } else { X32_SYSCALL_BIT };
            let body = g.dispatch(&all, lower, false);
            let guarded = match (x86_64, x32) {
                // An x32 number (or -1) where only x86_64 is allowed, as libseccomp.
                (true, false) => g.asm.jump(JMP_JGE, X32_SYSCALL_BIT, bad, body),
                (false, true) => g.asm.jump(JMP_JGE, X32_SYSCALL_BIT, body, bad),
                _ => body,
            };
            g.asm.load(bpf::OFF_NR, guarded)
        };
        entries.push((*audit, body));
    }
    let mut next = bad;
    for (audit, body) in entries {
        next = g.asm.jump(JMP_JEQ, audit, body, next);
    }
    g.asm.load(bpf::OFF_ARCH, next);
    g.asm.finish()
}

impl Gen<'_> {
    /// Code that, with A = the syscall number and A >= `lower`, returns the
    /// decision of its run or the default action.
    fn dispatch(&mut self, runs: &[Run], lower: u32, arg32: bool) -> Label {
        let default = self.plan.default;
        if runs.len() > LEAF_RUNS {
            let mid = runs.len() / 2;
            let right = self.dispatch(&runs[mid..], runs[mid].lo, arg32);
            let left = self.dispatch(&runs[..mid], lower, arg32);
            return self.asm.jump(JMP_JGE, runs[mid].lo, right, left);
        }
        // What is known of A when each run's test starts: a range test that fails
        // upward leaves A > hi; a single jeq leaves nothing new.
        let mut known = Vec::with_capacity(runs.len());
        let mut low = lower;
        for r in runs {
            known.push(low);
            if r.lo != r.hi {
                low = r.hi.saturating_add(1);
            }
        }
        let targets: Vec<Label> = runs
            .iter()
            .rev()
            .map(|r| self.target(r.decision, arg32))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let mut next = self.asm.ret(default);
        for (i, r) in runs.iter().enumerate().rev() {
            let t = targets[i];
            next = if r.lo == r.hi {
                self.asm.jump(JMP_JEQ, r.lo, t, next)
            } else {
                let in_range = self.asm.jump(JMP_JGT, r.hi, next, t);
                if r.lo > known[i] {
                    // Below this run: below every later one too.
                    let d = self.asm.ret(default);
                    self.asm.jump(JMP_JGE, r.lo, in_range, d)
                } else {
                    in_range
                }
            };
        }
        next
    }

    fn target(&mut self, d: &Decision, arg32: bool) -> Label {
        match d {
            Decision::Always(a) => self.asm.ret(*a),
            Decision::Rules(rules) => {
                let mut fail = self.asm.ret(self.plan.default);
                for r in rules.iter().rev() {
                    let mut next = self.asm.ret(r.action);
                    for c in r.conds.iter().rev() {
                        next = self.cond(c, next, fail, arg32);
                    }
                    fail = next;
                }
                fail
            }
        }
    }

    /// Code that goes to `t` when the condition holds, else to `f`. A 64-bit
    /// comparison looks at the high halves first and at the low halves only when
    /// those are equal.
    fn cond(&mut self, c: &Cond, t: Label, f: Label, arg32: bool) -> Label {
        let a = &mut self.asm;
        let (lo_off, hi_off) = (bpf::off_arg_lo(c.arg), bpf::off_arg_hi(c.arg));
        let (v_lo, v_hi) = (c.value as u32, (c.value >> 32) as u32);
        match c.op {
            Op::ScmpCmpMaskedEq => {
                let (d_lo, d_hi) = (c.value_two as u32, (c.value_two >> 32) as u32);
                let mut next = t;
                if v_lo != 0 {
                    let j = a.jump(JMP_JEQ, d_lo & v_lo, next, f);
                    let m = a.and(v_lo, j);
                    next = a.load(lo_off, m);
                }
                if v_hi != 0 && !arg32 {
                    let j = a.jump(JMP_JEQ, d_hi & v_hi, next, f);
                    let m = a.and(v_hi, j);
                    next = a.load(hi_off, m);
                }
                next
            }
            Op::ScmpCmpEq | Op::ScmpCmpNe => {
                let (t, f) = if c.op == Op::ScmpCmpEq {
                    (t, f)
                } else {
                    (f, t)
                };
                let j = a.jump(JMP_JEQ, v_lo, t, f);
                let lo = a.load(lo_off, j);
                if arg32 {
                    return lo;
                }
                let j = a.jump(JMP_JEQ, v_hi, lo, f);
                a.load(hi_off, j)
            }
            Op::ScmpCmpGt | Op::ScmpCmpGe | Op::ScmpCmpLt | Op::ScmpCmpLe => {
                // GT and GE as such; LT and LE as the negation of GE and GT.
                let (code, t, f) = match c.op {
                    Op::ScmpCmpGt => (JMP_JGT, t, f),
                    Op::ScmpCmpGe => (JMP_JGE, t, f),
                    Op::ScmpCmpLt => (JMP_JGE, f, t),
                    _ => (JMP_JGT, f, t),
                };
                let j = a.jump(code, v_lo, t, f);
                let lo = a.load(lo_off, j);
                if arg32 {
                    return lo;
                }
                let eq = a.jump(JMP_JEQ, v_hi, lo, f);
                let gt = a.jump(JMP_JGT, v_hi, t, eq);
                a.load(hi_off, gt)
            }
        }
    }
}

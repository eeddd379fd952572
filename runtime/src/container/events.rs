//! `events`: the container's resource usage and OOM kills as a stream of
//! events in runc's shape. Synchronous: one poll() over the cgroup's OOM
//! watcher and a pidfd of the init, with the time to the next stats line as
//! its timeout.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use brig_cgroups::{OomEvent, OomWatcher, Stats};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde::Serialize;

use super::store::Store;
use super::{cgroup, ContainerError};

/// One line of `events`: `{"type":"stats","id":..,"data":{..}}` or
/// `{"type":"oom","id":..}`, as runc prints them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Stats>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Stats,
    Oom,
}

/// One stats event (`events --stats`).
pub fn stats(store: &Store, id: &str) -> Result<Event, ContainerError> {
    let state = super::live_state(store, id)?;
    let data = cgroup::of_state(&state)?.stats()?;
    Ok(Event {
        kind: EventKind::Stats,
        id: state.id,
        data: Some(data),
    })
}

/// Stream events to `emit` until the container stops: stats every
/// `interval` (the first after one interval, as runc does) and an oom event
/// each time the kernel's OOM killer acts in the container's cgroup. A
/// container that stops ends the stream with `Ok`, after any OOM event its
/// end caused. `emit` returning an error (stdout closed) ends it too, with
/// that error.
pub fn watch(
    store: &Store,
    id: &str,
    interval: Duration,
    emit: &mut dyn FnMut(&Event) -> std::io::Result<()>,
) -> Result<(), ContainerError> {
    if interval.is_zero() {
        return Err(ContainerError::Other(
            "events: the interval must be greater than 0".into(),
        ));
    }
    let state = super::live_state(store, id)?;
    let pidfd = match crate::sys::pidfd_open(state.pid) {
        Ok(fd) => fd,
        // Gone between the state check and here: it stopped.
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(()),
        Err(e) => {
            return Err(ContainerError::Other(format!(
                "events {id}: pidfd_open {}: {e}",
                state.pid
            )))
        }
    };
    // The pidfd may be of a process that reused the pid.
    if !state.init_alive() {
        return Ok(());
    }
    let mgr = cgroup::of_state(&state)?;
    // Registered before the first wait, so no OOM kill from here on is missed.
    let mut watcher = match mgr.oom_watcher() {
        Ok(w) => Some(w),
        Err(e) => {
            eprintln!("brig: warning: events {id}: no OOM events, only stats: {e}");
            None
        }
    };
    let io = |e: std::io::Error| ContainerError::Other(format!("events {id}: writing: {e}"));
    let mut next = Instant::now() + interval;
    loop {
        let timeout = next.saturating_duration_since(Instant::now());
        let (oom_ready, exited) = wait_ready(watcher.as_ref(), &pidfd, timeout)
            .map_err(|e| ContainerError::Other(format!("events {id}: poll: {e}")))?;
        if oom_ready || exited {
            // Drained before looking at the exit: an OOM kill of the init is
            // signalled before the init is gone.
            drain_ooms(&mut watcher, &state.id, emit).map_err(|e| match e {
                DrainError::Cgroup(e) => ContainerError::from(e),
                DrainError::Emit(e) => io(e),
            })?;
        }
        if exited {
            return Ok(());
        }
        if Instant::now() >= next {
            match mgr.stats() {
                Ok(data) => emit(&Event {
                    kind: EventKind::Stats,
                    id: state.id.clone(),
                    data: Some(data),
                })
                .map_err(io)?,
                // The cgroup may go with the container between two polls;
                // the pidfd ends the loop then.
                Err(e) if state.init_alive() => eprintln!("brig: warning: events {id}: stats: {e}"),
                Err(_) => {}
            }
            // Ticks keep their phase; a slow round skips the ticks it missed.
            while next <= Instant::now() {
                next += interval;
            }
        }
    }
}

/// poll() the watcher's fd and the init's pidfd: (OOM fd readable, init exited).
fn wait_ready(
    watcher: Option<&OomWatcher>,
    pidfd: &std::os::fd::OwnedFd,
    timeout: Duration,
) -> Result<(bool, bool), Errno> {
    // Rounded up: a sub-millisecond rest must not become a busy poll(0).
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
    let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    if let Some(w) = watcher {
        fds.push(PollFd::new(w.as_fd(), PollFlags::POLLIN));
    }
    match poll(&mut fds, timeout) {
        Ok(_) => {}
        Err(Errno::EINTR) => return Ok((false, false)),
        Err(e) => return Err(e),
    }
    let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
    Ok((fds.get(1).is_some_and(ready), ready(&fds[0])))
}

enum DrainError {
    Cgroup(brig_cgroups::CgroupError),
    Emit(std::io::Error),
}

/// Emit one oom event for each notification pending on the watcher, without
/// blocking. A removed cgroup drops the watcher.
fn drain_ooms(
    watcher: &mut Option<OomWatcher>,
    id: &str,
    emit: &mut dyn FnMut(&Event) -> std::io::Result<()>,
) -> Result<(), DrainError> {
    let Some(w) = watcher else { return Ok(()) };
    loop {
        match w.wait(Some(Duration::ZERO)).map_err(DrainError::Cgroup)? {
            OomEvent::Oom(_) => emit(&Event {
                kind: EventKind::Oom,
                id: id.to_string(),
                data: None,
            })
            .map_err(DrainError::Emit)?,
            OomEvent::Timeout => return Ok(()),
            OomEvent::Gone => {
                *watcher = None;
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_runc_shape() {
        let oom = Event {
            kind: EventKind::Oom,
            id: "c1".into(),
            data: None,
        };
        assert_eq!(
            serde_json::to_string(&oom).unwrap(),
            r#"{"type":"oom","id":"c1"}"#
        );
        let stats = Event {
            kind: EventKind::Stats,
            id: "c1".into(),
            data: Some(Stats::default()),
        };
        let v = serde_json::to_value(&stats).unwrap();
        assert_eq!(v["type"], "stats");
        assert_eq!(v["id"], "c1");
        assert!(v["data"]["memory"]["usage"].is_object(), "{v}");
        assert!(v["data"]["cpu"]["usage"].is_object(), "{v}");
    }
}

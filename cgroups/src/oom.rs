//! OOM events without an async runtime: an eventfd registered on
//! memory.oom_control (v1), or inotify on memory.events (v2). Both are one fd,
//! so a caller can also put the watcher in its own poll loop.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::fsutil;
use crate::Result;

/// What [`OomWatcher::wait`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OomEvent {
    /// The cgroup hit OOM. v1: the number of OOM notifications since the last
    /// wait; v2: how much memory.events oom_kill rose.
    Oom(u64),
    /// Nothing happened before the timeout.
    Timeout,
    /// The cgroup was removed; no more events will come.
    Gone,
}

/// The kill counter the kernel keeps: `oom_kill` in memory.oom_control (v1,
/// Linux 4.13+) or memory.events (v2).
pub(crate) fn oom_kills(file: &Path) -> Result<u64> {
    let text = fsutil::read(file)?;
    Ok(fsutil::flat_keyed(&text, "oom_kill").unwrap_or(0))
}

#[derive(Debug)]
enum Source {
    V1 {
        efd: EventFd,
        /// Held open: the registration refers to it.
        _control: File,
        dir: PathBuf,
    },
    V2 {
        inotify: Inotify,
        events: PathBuf,
        last: u64,
    },
}

/// Waits for OOM events of one cgroup. Dropping it unregisters.
#[derive(Debug)]
pub struct OomWatcher {
    source: Source,
}

impl OomWatcher {
    /// v1: register an eventfd for memory.oom_control through
    /// cgroup.event_control in the memory cgroup `dir`.
    pub fn v1(dir: &Path) -> Result<Self> {
        let control_path = dir.join("memory.oom_control");
        let control = File::open(&control_path).map_err(|e| fsutil::io_err(&control_path, e))?;
        let efd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC)
            .map_err(|e| fsutil::io_err(dir, e.into()))?;
        let line = format!("{} {}", efd.as_fd().as_raw_fd(), control.as_raw_fd());
        fsutil::write(&dir.join("cgroup.event_control"), &line)?;
        Ok(OomWatcher {
            source: Source::V1 {
                efd,
                _control: control,
                dir: dir.to_path_buf(),
            },
        })
    }

    /// v2: watch memory.events of the cgroup `dir` for changes of oom_kill.
    pub fn v2(dir: &Path) -> Result<Self> {
        let events = dir.join("memory.events");
        let last = oom_kills(&events)?;
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .map_err(|e| fsutil::io_err(&events, e.into()))?;
        inotify
            .add_watch(&events, AddWatchFlags::IN_MODIFY)
            .map_err(|e| fsutil::io_err(&events, e.into()))?;
        Ok(OomWatcher {
            source: Source::V2 {
                inotify,
                events,
                last,
            },
        })
    }

    /// Block until an OOM event, the cgroup's removal, or `timeout` (`None`:
    /// no limit). The fd is always looked at once, so `Some(Duration::ZERO)`
    /// reads what is pending without blocking: the call to make after one's
    /// own poll() on [`AsFd::as_fd`] said it is readable.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<OomEvent> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let remaining = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if !self.ready(remaining)? {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(OomEvent::Timeout);
                }
                continue;
            }
            match &mut self.source {
                Source::V1 { efd, dir, .. } => {
                    let n = match efd.read() {
                        Ok(n) => n,
                        Err(Errno::EAGAIN | Errno::EINTR) => continue,
                        Err(e) => return Err(fsutil::io_err(&*dir, e.into())),
                    };
                    // The kernel also signals the eventfd when the cgroup goes away.
                    if !dir.join("memory.oom_control").exists() {
                        return Ok(OomEvent::Gone);
                    }
                    return Ok(OomEvent::Oom(n));
                }
                Source::V2 {
                    inotify,
                    events,
                    last,
                } => {
                    match inotify.read_events() {
                        Ok(_) | Err(Errno::EAGAIN) => {}
                        Err(Errno::EINTR) => continue,
                        Err(e) => return Err(fsutil::io_err(&*events, e.into())),
                    }
                    let now = match fsutil::read_opt(events)? {
                        Some(t) => fsutil::flat_keyed(&t, "oom_kill").unwrap_or(0),
                        None => return Ok(OomEvent::Gone),
                    };
                    // memory.events also changes for high/max events: only a
                    // rise in oom_kill is an OOM kill.
                    if now > *last {
                        let delta = now - *last;
                        *last = now;
                        return Ok(OomEvent::Oom(delta));
                    }
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(OomEvent::Timeout);
                    }
                }
            }
        }
    }

    /// poll() the fd; false on timeout slice or EINTR. The cgroup's removal is
    /// not an inotify event on cgroupfs, so v2 also re-checks once a second.
    fn ready(&self, remaining: Duration) -> Result<bool> {
        let slice = match self.source {
            Source::V1 { .. } => remaining,
            Source::V2 { .. } => remaining.min(Duration::from_secs(1)),
        };
        // Rounded up, so that a sub-millisecond rest does not spin on poll(0).
        let ms = slice.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => Ok(matches!(self.source, Source::V2 { .. })),
            Ok(_) => Ok(true),
            Err(Errno::EINTR) => Ok(false),
            Err(e) => Err(fsutil::io_err(self.path(), e.into())),
        }
    }

    fn path(&self) -> &Path {
        match &self.source {
            Source::V1 { dir, .. } => dir,
            Source::V2 { events, .. } => events,
        }
    }
}

impl AsFd for OomWatcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.source {
            Source::V1 { efd, .. } => efd.as_fd(),
            Source::V2 { inotify, .. } => inotify.as_fd(),
        }
    }
}

//! `start`: release the waiting init through the exec fifo, then run poststart hooks.

use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

use super::state::{ContainerState, Op, Status};
use super::store::{Store, FIFO_FILE};
use super::ContainerError;
use crate::hooks::{self, Phase};

/// Start a created container. Returns its state, now running.
pub fn start(store: &Store, id: &str) -> Result<ContainerState, ContainerError> {
    let locked = store.lock(id)?;
    let mut state = store.load(&locked, id)?;
    let status = state.current_status();
    super::check(&state, status, Op::Start)?;
    let fifo_path = locked.dir.join(FIFO_FILE);
    // The pidfd first, while the init is still held on the fifo: opening the
    // fifo lets it go, and a program that exits at once may be gone and
    // reaped (by an engine's subreaper) before the next line runs, so a pidfd
    // opened after the fifo could fail with ESRCH and lose the start of a
    // container that did run. The start time check ties the pidfd to our init,
    // not to a process that reused its pid.
    let pidfd = crate::sys::pidfd_open(state.pid)
        .ok()
        .filter(|_| state.init_alive());
    let Some(pidfd) = pidfd else {
        return Err(ContainerError::status(
            &state,
            Status::Stopped,
            "the container init exited before it was started",
        ));
    };
    // Non-blocking open: a reader always opens at once, and we poll for the init's
    // byte, checking that it is still alive, instead of hanging on a dead one.
    let fifo = open(
        &fifo_path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ContainerError::io(&fifo_path, e.into()))?;
    // Gone from now on, whatever happens to this command: a container whose
    // fifo is gone is no longer `created` (see Store::load), so a start killed
    // after it released the init never leaves a running program recorded as created.
    std::fs::remove_file(&fifo_path).map_err(|e| ContainerError::io(&fifo_path, e))?;
    crate::failpoint::wait_until("start.wait-init-reaped", || {
        // Gone (reaped), or a zombie that only this process can reap (`run`
        // is the init's parent): waiting longer would wait for ourselves.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", state.pid)) else {
            return true;
        };
        let mut f = stat[stat.rfind(')').map_or(0, |i| i + 1)..].split_whitespace();
        let (st, ppid) = (f.next(), f.next().and_then(|p| p.parse::<u32>().ok()));
        st == Some("Z") && ppid == Some(std::process::id())
    });
    loop {
        let mut fds = [
            libc::pollfd {
                fd: fifo.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        let n = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                2,
                Duration::from_secs(10).as_millis() as i32,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(ContainerError::io(&fifo_path, e));
        }
        if fds[0].revents & libc::POLLIN != 0 {
            let mut b = [0u8; 1];
            if matches!(nix::unistd::read(&fifo, &mut b), Ok(1)) {
                break;
            }
        }
        if fds[1].revents != 0 {
            return Err(ContainerError::status(
                &state,
                Status::Stopped,
                "the container init exited before it was started",
            ));
        }
    }
    // The init holds the fifo open until its execve; what it writes before it
    // closes is why it failed.
    let mut report = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let mut pfd = libc::pollfd {
            fd: fifo.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, -1) } < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(ContainerError::io(&fifo_path, e));
        }
        match nix::unistd::read(&fifo, &mut buf) {
            Ok(0) => break,
            Ok(n) => report.extend_from_slice(&buf[..n]),
            Err(nix::Error::EAGAIN) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(ContainerError::io(&fifo_path, e.into())),
        }
    }
    crate::failpoint::hit("start.after-release");
    if !report.is_empty() {
        state.status = Status::Stopped;
        store.save(&locked, &state)?;
        return Err(ContainerError::Other(format!(
            "container {id:?} failed to start: {}",
            String::from_utf8_lossy(&report)
        )));
    }
    state.status = Status::Running;
    store.save(&locked, &state)?;
    crate::failpoint::hit("start.after-save");
    drop(locked);
    // A failing poststart hook is a warning: the container runs on (runtime spec).
    if let Err(e) = hooks::run_phase(
        state.hooks.as_ref(),
        Phase::Poststart,
        state.hook_json(Status::Running).as_bytes(),
    ) {
        eprintln!("brig: warning: {e}");
    }
    Ok(state)
}

//! Waiting in the foreground: `run` (create, start, wait, delete, as `runc run`
//! does) and the relay of signals to the container's process.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::create::{create, CreateOptions};
use super::store::Store;
use super::{delete, start, ContainerError};
use crate::process::terminal::copy_our_winsize;
use crate::process::Stdio;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOutcome {
    /// The container's exit status, or 128+n when signal n killed it.
    pub exit_code: i32,
}

/// Run `f` with every signal blocked that brig relays (all but its own faults),
/// so that none is lost between the spawn and the wait.
pub(super) fn with_signals_blocked<T>(
    f: impl FnOnce(&SigSet) -> Result<T, ContainerError>,
) -> Result<T, ContainerError> {
    let mut set = SigSet::all();
    for sig in [
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
        Signal::SIGABRT,
        Signal::SIGTRAP,
    ] {
        set.remove(sig);
    }
    let mut old = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))
        .map_err(|e| ContainerError::Other(format!("sigprocmask: {e}")))?;
    let result = f(&set);
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    result
}

/// Forward every signal to `pid` until it exits, and with a terminal, relay it
/// to and from `stdio` (each one not given: ours). Returns its exit status
/// (128+n for signal n).
pub(super) fn relay_until_exit(
    pid: i32,
    set: &SigSet,
    console: Option<OwnedFd>,
    stdio: &Stdio,
) -> Result<i32, ContainerError> {
    let err = |what: &str, e: nix::Error| ContainerError::Other(format!("{what}: {e}"));
    let sfd = SignalFd::with_flags(set, SfdFlags::SFD_CLOEXEC).map_err(|e| err("signalfd", e))?;
    // SAFETY: fd 0 is open for the whole of this call (brig's own stdin).
    let stdin = stdio
        .stdin
        .as_ref()
        .map_or(unsafe { BorrowedFd::borrow_raw(0) }, |f| f.as_fd());
    let out: RawFd = stdio.stdout.as_ref().map_or(1, |f| f.as_raw_fd());
    // Our terminal goes raw while the container's terminal is relayed (from
    // our stdin), and comes back after.
    let _raw = console
        .as_ref()
        .filter(|_| stdio.stdin.is_none())
        .and_then(|_| RawMode::enter());
    if let Some(m) = &console {
        copy_our_winsize(m.as_raw_fd());
    }
    let (mut stdin_open, mut master_open) = (console.is_some(), console.is_some());
    let mut buf = [0u8; 8192];
    loop {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin, PollFlags::POLLIN));
        }
        if let (true, Some(m)) = (master_open, &console) {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(err("poll", e)),
            Ok(_) => {}
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut i = 1;
        if stdin_open {
            if ready[i] {
                let m = console
                    .as_ref()
                    .expect("stdin is relayed only with a terminal");
                match nix::unistd::read(stdin, &mut buf) {
                    Ok(0) | Err(_) => stdin_open = false,
                    Ok(n) => write_all(m.as_raw_fd(), &buf[..n]),
                }
            }
            i += 1;
        }
        if master_open && ready[i] {
            let m = console
                .as_ref()
                .expect("master is relayed only with a terminal");
            match nix::unistd::read(m, &mut buf) {
                // EIO: every slave fd is closed.
                Ok(0) | Err(_) => master_open = false,
                Ok(n) => write_all(out, &buf[..n]),
            }
        }
        if ready[0] {
            let Ok(Some(info)) = sfd.read_signal() else {
                continue;
            };
            // The raw number: nix's Signal has no real-time signals (34..64),
            // which are relayed like any other (systemd stops on SIGRTMIN+3).
            match info.ssi_signo as i32 {
                libc::SIGCHLD => {
                    if let Some(code) = reap(pid) {
                        if let (true, Some(m)) = (master_open, &console) {
                            drain(m, out, &mut buf);
                        }
                        return Ok(code);
                    }
                }
                libc::SIGWINCH if console.is_some() => {
                    copy_our_winsize(console.as_ref().expect("checked").as_raw_fd());
                }
                sig => {
                    // SAFETY: kill(2) with integer arguments.
                    let _ = unsafe { libc::kill(pid, sig) };
                }
            }
        }
    }
}

fn write_all(fd: i32, mut data: &[u8]) {
    // SAFETY: fd stays open for the call; BorrowedFd only lends it.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::Error::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// What the container wrote before it exited.
fn drain(master: &OwnedFd, out: RawFd, buf: &mut [u8]) {
    let _ = nix::fcntl::fcntl(
        master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    while let Ok(n) = nix::unistd::read(master, buf) {
        if n == 0 {
            break;
        }
        write_all(out, &buf[..n]);
    }
}

/// Our stdin in raw mode, restored on drop. None when stdin is not a terminal.
struct RawMode(nix::sys::termios::Termios);

impl RawMode {
    fn enter() -> Option<RawMode> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin(),
            nix::sys::termios::SetArg::TCSANOW,
            &self.0,
        );
    }
}

pub fn run_foreground(
    store: &Store,
    id: &str,
    opts: &CreateOptions,
    keep: bool,
) -> Result<RunOutcome, ContainerError> {
    // The init may be a grandchild (user namespaces): be its reaper all the same.
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| ContainerError::Other(format!("prctl: {e}")))?;
    with_signals_blocked(|set| {
        let created = create(store, id, opts)?;
        // The pty has our size before the process runs (a first `stty size`
        // must not race the relay's copy).
        if let Some(m) = &created.console {
            copy_our_winsize(m.as_raw_fd());
        }
        if let Err(e) = start(store, id) {
            let _ = delete(store, id, true);
            return Err(e);
        }
        let exit_code = relay_until_exit(created.state.pid, set, created.console, &opts.stdio)?;
        // `run --keep` (runc's flag): leave the stopped container for
        // `state` and `delete`.
        if !keep {
            delete(store, id, true)?;
        }
        Ok(RunOutcome { exit_code })
    })
}

/// Reap every exited child; the exit status of `pid` if it was among them
/// (128+n when signal n killed it). With libc's waitpid: nix's fails to
/// decode a status of a real-time signal, after the child is reaped already.
fn reap(pid: i32) -> Option<i32> {
    let mut result = None;
    loop {
        let mut status = 0;
        // SAFETY: waitpid(2) writing into a local int.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r <= 0 {
            return result;
        }
        if r == pid {
            if libc::WIFEXITED(status) {
                result = Some(libc::WEXITSTATUS(status));
            } else if libc::WIFSIGNALED(status) {
                result = Some(128 + libc::WTERMSIG(status));
            }
        }
    }
}

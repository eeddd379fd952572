//! The container process's fds 0, 1 and 2, as the caller of `create`, `run`
//! or `exec` gives them. Each one left out is inherited from the caller, as
//! runc does. The caller's own fds 0-2 are never touched: the fds are put in
//! place in the child, after the clone.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

#[derive(Debug, Default)]
pub struct Stdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

impl Stdio {
    /// All three inherited from the caller.
    pub fn inherit() -> Stdio {
        Stdio::default()
    }

    /// In the child, before anything else: each given fd onto 0, 1 or 2.
    /// Each is first copied to `above` or higher (close-on-exec), so that one
    /// given as fd 0-2 is not clobbered by an earlier dup2; the copies go at
    /// the exec.
    pub(crate) fn install(&self, above: RawFd) -> std::io::Result<()> {
        let fds = [&self.stdin, &self.stdout, &self.stderr];
        let mut copies = [-1; 3];
        for (i, fd) in fds.iter().enumerate() {
            if let Some(fd) = fd {
                // SAFETY: a valid fd; the copy is this process's.
                let c = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, above) };
                if c < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                copies[i] = c;
            }
        }
        for (target, c) in copies.into_iter().enumerate() {
            // SAFETY: dup2 of a valid fd onto 0-2 of this (the child) process.
            if c >= 0 && unsafe { libc::dup2(c, target as RawFd) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

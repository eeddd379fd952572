//! The protocol between `brig create` (the parent) and the container init while
//! the container is set up: typed messages, one per SOCK_SEQPACKET packet.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{Deserialize, Serialize};

/// Why the container init (or an exec'd process) failed before its execve:
/// the step it was at, the config field that step applies when there is one,
/// the errno when the kernel refused, and the message. Sent to the parent as
/// is; its text (`step: message`) is what brig prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitError {
    /// The step (`pivot_root`, `joining cgroup`) or the config field it
    /// applies (`process.cwd`, `linux.sysctl.net.ipv4.ip_forward`). Empty
    /// when the message says it all.
    pub step: String,
    /// The config.json field the step is about, when it is about one.
    pub field: Option<String>,
    /// The errno of the refused system call, when there is one.
    pub errno: Option<i32>,
    pub msg: String,
}

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.step.is_empty() {
            f.write_str(&self.msg)
        } else {
            write!(f, "{}: {}", self.step, self.msg)
        }
    }
}

impl std::error::Error for InitError {}

/// The config fields a step name may be: the top-level keys the init applies.
const FIELD_PREFIXES: &[&str] = &[
    "process.",
    "linux.",
    "hostname",
    "domainname",
    "mounts[",
    "root.",
];

impl InitError {
    /// The error of `step`, from the error `e` of what it called.
    pub fn at<E: std::fmt::Display + 'static>(step: &str, e: E) -> Self {
        let any: &dyn std::any::Any = &e;
        let errno = any
            .downcast_ref::<nix::Error>()
            .map(|n| *n as i32)
            .or_else(|| {
                any.downcast_ref::<std::io::Error>()
                    .and_then(|e| e.raw_os_error())
            });
        InitError {
            step: step.to_string(),
            field: FIELD_PREFIXES
                .iter()
                .any(|p| step.starts_with(p))
                .then(|| step.split(':').next().unwrap_or(step).to_string()),
            errno,
            msg: e.to_string(),
        }
    }
}

impl From<String> for InitError {
    fn from(msg: String) -> Self {
        InitError {
            step: String::new(),
            field: None,
            errno: None,
            msg,
        }
    }
}

impl From<&str> for InitError {
    fn from(msg: &str) -> Self {
        msg.to_string().into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// init → parent: I made a user namespace; write my uid and gid maps.
    MapIds,
    /// parent → init: the maps are written.
    IdsMapped,
    /// intermediate → parent: the container init is this host pid (after the
    /// extra fork a new pid namespace needs when it is made after a user namespace).
    Pid(i32),
    /// init → parent: mounts are done, run prestart and createRuntime hooks.
    MountsReady,
    /// parent → init: those hooks ran; here is the state JSON for the container's hooks.
    HooksDone { state: String },
    /// init → parent: set up, about to wait for `start` on the exec fifo.
    Ready,
    /// init → parent: the master of the container's terminal rides along (SCM_RIGHTS).
    Console,
    /// init → parent: setup failed.
    Error(InitError),
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("sync socket: {0}")]
    Sys(#[from] nix::Error),
    #[error("sync socket: bad message: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("the container init exited during setup")]
    Closed,
}

/// One end of the sync socket.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair: (parent end, init end). Both close on exec.
pub fn channel() -> Result<(Channel, Channel), ChannelError> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send(&self, msg: &Msg) -> Result<(), ChannelError> {
        self.send_fds(msg, &[])
    }

    /// Send a message with file descriptors attached.
    pub fn send_fds(&self, msg: &Msg, fds: &[RawFd]) -> Result<(), ChannelError> {
        let buf = serde_json::to_vec(msg)?;
        let iov = [IoSlice::new(&buf)];
        let cmsg = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
        loop {
            match sendmsg::<()>(self.fd.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), None) {
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(_) => return Ok(()),
            }
        }
    }

    pub fn recv(&self) -> Result<Msg, ChannelError> {
        self.recv_fd().map(|(m, _)| m)
    }

    /// Receive a message and the file descriptor sent with it, if any.
    pub fn recv_fd(&self) -> Result<(Msg, Option<OwnedFd>), ChannelError> {
        // The packet's size first (MSG_PEEK|MSG_TRUNC gives its full length),
        // then a buffer of that size: a fixed 64 KiB buffer cost each receive
        // 16 freshly faulted pages, on both sides of every create.
        let len = loop {
            let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC;
            match nix::sys::socket::recv(self.fd.as_raw_fd(), &mut [], flags) {
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(0) => return Err(ChannelError::Closed),
                Ok(n) => break n,
            }
        };
        let mut buf = vec![0u8; len];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let r = recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let (n, fd) = match r {
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(m) => {
                    let mut fd = None;
                    for c in m.cmsgs()? {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            for raw in fds {
                                // SAFETY: the kernel just installed this fd for us.
                                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                                fd.get_or_insert(owned);
                            }
                        }
                    }
                    (m.bytes, fd)
                }
            };
            if n == 0 {
                return Err(ChannelError::Closed);
            }
            return Ok((serde_json::from_slice(&buf[..n])?, fd));
        }
    }

    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_errors_carry_step_field_and_errno_across_the_socket() {
        let e = InitError::at("process.cwd", nix::Error::ENOENT);
        assert_eq!(e.step, "process.cwd");
        assert_eq!(e.field.as_deref(), Some("process.cwd"));
        assert_eq!(e.errno, Some(libc::ENOENT));
        // The text is what brig printed before errors were typed.
        assert_eq!(
            e.to_string(),
            format!("process.cwd: {}", nix::Error::ENOENT)
        );
        let io = InitError::at(
            "pivot_root",
            std::io::Error::from_raw_os_error(libc::EINVAL),
        );
        assert_eq!((io.field, io.errno), (None, Some(libc::EINVAL)));
        let term = InitError::at("process.terminal: grantpt", "no");
        assert_eq!(term.field.as_deref(), Some("process.terminal"));
        assert_eq!(term.errno, None);
        let plain = InitError::from("process: missing");
        assert_eq!(plain.to_string(), "process: missing");
        let (a, b) = channel().unwrap();
        a.send(&Msg::Error(e.clone())).unwrap();
        assert_eq!(b.recv().unwrap(), Msg::Error(e));
    }

    #[test]
    fn messages_cross_the_socket_whole() {
        let (a, b) = channel().unwrap();
        a.send(&Msg::HooksDone {
            state: "{\"id\":\"x\"}".into(),
        })
        .unwrap();
        a.send(&Msg::Pid(42)).unwrap();
        assert_eq!(
            b.recv().unwrap(),
            Msg::HooksDone {
                state: "{\"id\":\"x\"}".into()
            }
        );
        assert_eq!(b.recv().unwrap(), Msg::Pid(42));
        // A state bigger than the old fixed buffer (hooks get every annotation).
        let big = Msg::HooksDone {
            state: "a".repeat(100 * 1024),
        };
        a.send(&big).unwrap();
        assert_eq!(b.recv().unwrap(), big);
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        a.send_fds(&Msg::Console, &[f.as_raw_fd()]).unwrap();
        let (m, fd) = b.recv_fd().unwrap();
        assert_eq!(m, Msg::Console);
        let mut got = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(fd.unwrap()), &mut got).unwrap();
        assert!(got.starts_with(&std::process::id().to_string()));
        drop(a);
        assert!(matches!(b.recv(), Err(ChannelError::Closed)));
    }
}

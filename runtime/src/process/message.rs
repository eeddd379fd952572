//! The protocol between `brig create` (the parent) and the container init while
//! the container is set up: typed messages, one per SOCK_SEQPACKET packet.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{Deserialize, Serialize};

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
    Error(String),
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
        let mut buf = vec![0u8; 64 * 1024];
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

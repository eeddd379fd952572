//! The protocol between `brig create` (the parent) and the container init while
//! the container is set up: typed messages, one per SOCK_SEQPACKET packet.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
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
        let buf = serde_json::to_vec(msg)?;
        loop {
            match nix::unistd::write(&self.fd, &buf) {
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(_) => return Ok(()),
            }
        }
    }

    pub fn recv(&self) -> Result<Msg, ChannelError> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match nix::unistd::read(&self.fd, &mut buf) {
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(0) => return Err(ChannelError::Closed),
                Ok(n) => return Ok(serde_json::from_slice(&buf[..n])?),
            }
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
        drop(a);
        assert!(matches!(b.recv(), Err(ChannelError::Closed)));
    }
}

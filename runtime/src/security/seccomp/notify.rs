//! Handing the SCMP_ACT_NOTIFY listener fd over: from the init to the runtime
//! (any unix socket, e.g. the sync socket) and from the runtime to the seccomp
//! agent at linux.seccomp.listenerPath.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use oci_spec::runtime::{ContainerProcessStateBuilder, State, SECCOMP_FD_NAME};

use super::SeccompError;

/// Send `data` with `fd` attached (SCM_RIGHTS) in one sendmsg. Returns the bytes
/// sent, which on a stream socket may be fewer than `data`.
pub fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>, data: &[u8]) -> io::Result<usize> {
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    loop {
        match sendmsg::<()>(
            sock.as_raw_fd(),
            &[IoSlice::new(data)],
            &cmsg,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(nix::Error::EINTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

/// Receive into `buf` and take the one fd attached, if any (close-on-exec).
pub fn recv_fd(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = loop {
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::Error::EINTR) => continue,
            r => break r.map_err(io::Error::from)?,
        }
    };
    let mut fd = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for raw in fds {
                // SAFETY: the kernel just installed these fds in our table.
                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                if fd.is_none() {
                    fd = Some(owned);
                }
            }
        }
    }
    Ok((msg.bytes, fd))
}

/// The message for the seccomp agent: the container's OCI
/// ContainerProcessState (`fds: ["seccompFd"]`, the pid from `state`,
/// `metadata` from linux.seccomp.listenerMetadata), as runc sends it. Built
/// before the filter is loaded: nothing may allocate after it.
pub fn listener_message(state: &State, metadata: Option<&str>) -> Result<Vec<u8>, String> {
    let mut b = ContainerProcessStateBuilder::default()
        .version(state.version().clone())
        .fds(vec![SECCOMP_FD_NAME.to_string()])
        .pid(state.pid().unwrap_or(0))
        .state(state.clone());
    if let Some(m) = metadata {
        b = b.metadata(m);
    }
    let cps = b.build().map_err(|e| e.to_string())?;
    serde_json::to_vec(&cps).map_err(|e| e.to_string())
}

/// Connect to the seccomp agent's socket at `listener_path` (close-on-exec).
pub fn connect_agent(listener_path: &Path) -> Result<UnixStream, SeccompError> {
    UnixStream::connect(listener_path).map_err(|e| SeccompError::Listener {
        path: listener_path.to_path_buf(),
        msg: format!("connect: {e}"),
    })
}

/// Send `message` with the listener fd attached on a connected agent socket:
/// one sendmsg, and a write for the rest in the unlikely case the socket took
/// only part of it. The only calls brig makes between loading a filter with
/// a listener and the execve.
pub fn hand_over(
    agent: BorrowedFd<'_>,
    listener: BorrowedFd<'_>,
    message: &[u8],
) -> io::Result<()> {
    let sent = send_fd_no_alloc(agent, listener, message)?;
    let mut rest = &message[sent..];
    while !rest.is_empty() {
        match nix::unistd::write(agent, rest) {
            Ok(n) => rest = &rest[n..],
            Err(nix::Error::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// [`send_fd`] with the control message on the stack: after the filter is
/// loaded nothing may allocate (malloc may call brk or mmap, which a profile
/// may deny, or NOTIFY while the agent has no fd yet). nix's sendmsg
/// allocates its control buffer.
fn send_fd_no_alloc(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>, data: &[u8]) -> io::Result<usize> {
    // CMSG_SPACE(sizeof(int)), in a buffer aligned for struct cmsghdr.
    #[repr(C, align(8))]
    struct Cmsg([u8; 32]);
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    assert!(space <= 32, "CMSG_SPACE(int) is {space}");
    let mut buf = Cmsg([0; 32]);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf.0.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg_control points at `space` bytes, enough for one cmsghdr
    // with one int; CMSG_FIRSTHDR of it is non-null.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>(), fd.as_raw_fd());
    }
    loop {
        // SAFETY: a valid socket fd and the msghdr built above.
        let r = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Connect to the seccomp agent's socket at `listener_path` and send it the
/// container's OCI ContainerProcessState with the listener fd attached, as
/// runc does.
pub fn send_listener(
    listener: BorrowedFd<'_>,
    listener_path: &Path,
    state: &State,
    metadata: Option<&str>,
) -> Result<(), SeccompError> {
    let fail = |msg: String| SeccompError::Listener {
        path: listener_path.to_path_buf(),
        msg,
    };
    let json = listener_message(state, metadata).map_err(fail)?;
    let conn = connect_agent(listener_path)?;
    hand_over(conn.as_fd(), listener, &json).map_err(|e| fail(format!("send: {e}")))
}

//! A minimal seccomp notify agent for `linux.seccomp.notify-runtime-syscalls`: it listens on
//! `listenerPath`, takes the container process state and the seccomp fd from the runtime, and
//! lets every notified syscall continue until the filter has no users left.

use serde_json::Value;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

const NOTIF_RECV: libc::c_ulong = 0xC050_2100;
const NOTIF_SEND: libc::c_ulong = 0xC018_2101;
const FLAG_CONTINUE: u32 = 1;

#[repr(C)]
#[derive(Default)]
struct SeccompData {
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

#[repr(C)]
#[derive(Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    data: SeccompData,
}

#[repr(C)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

pub struct Agent {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<Value, String>>,
}

impl Agent {
    pub fn listen(path: &Path) -> std::io::Result<Agent> {
        let l = UnixListener::bind(path)?;
        l.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || serve(l, &s));
        Ok(Agent { stop, thread })
    }

    /// Stops the agent and returns the process state it received.
    pub fn finish(self) -> Result<Value, String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .unwrap_or_else(|_| Err("the agent thread panicked".into()))
    }
}

pub fn poll_in(fd: RawFd, ms: i32) -> i16 {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: p is one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, ms) };
    if n > 0 {
        p.revents
    } else {
        0
    }
}

fn serve(l: UnixListener, stop: &AtomicBool) -> Result<Value, String> {
    let deadline = Instant::now() + crate::ctx::DEADLINE;
    let conn = accept_within(&l, stop, deadline)
        .map_err(|e| format!("the runtime never connected to listenerPath ({e})"))?;
    conn.set_nonblocking(false).map_err(|e| e.to_string())?;
    let (first, fds) = recv_with_fds(conn.as_raw_fd())?;
    // The state may come in several messages; the runtime need not close the connection before
    // the agent answers, so read until the JSON is complete.
    let mut payload = first;
    let mut conn = conn;
    let state: Value = loop {
        match serde_json::from_slice(&payload) {
            Ok(v) => break v,
            Err(e) if e.is_eof() => {
                let mut more = [0u8; 4096];
                match conn.read(&mut more) {
                    Ok(0) | Err(_) => {
                        return Err(format!(
                            "the process state ended early: {}",
                            String::from_utf8_lossy(&payload)
                        ))
                    }
                    Ok(k) => payload.extend_from_slice(&more[..k]),
                }
            }
            Err(e) => {
                return Err(format!(
                    "the process state is not JSON ({e}): {}",
                    String::from_utf8_lossy(&payload)
                ))
            }
        }
    };
    let Some(fd) = fds.first() else {
        return Err(format!("no fd came with the process state {state}"));
    };
    // Let every notified syscall continue until the filter has no users.
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let ev = poll_in(fd.as_raw_fd(), 100);
        if ev & (libc::POLLHUP | libc::POLLERR) != 0 {
            break;
        }
        if ev & libc::POLLIN == 0 {
            continue;
        }
        let mut req = Notif::default();
        // SAFETY: req is a zeroed seccomp_notif of the size the ioctl number encodes.
        if unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_RECV, &mut req) } != 0 {
            continue;
        }
        let resp = NotifResp {
            id: req.id,
            val: 0,
            error: 0,
            flags: FLAG_CONTINUE,
        };
        // SAFETY: resp is a seccomp_notif_resp of the size the ioctl number encodes.
        unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_SEND, &resp) };
    }
    Ok(state)
}

/// One recvmsg on a unix socket: the payload and the fds that came with it (SCM_RIGHTS).
pub fn recv_with_fds(sock: RawFd) -> Result<(Vec<u8>, Vec<OwnedFd>), String> {
    let mut buf = vec![0u8; 65536];
    let mut cbuf = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; the pointers below stay valid for the recvmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: as above.
    let n = unsafe { libc::recvmsg(sock, &mut msg, 0) };
    if n < 0 {
        return Err(format!("recvmsg: {}", std::io::Error::last_os_error()));
    }
    let mut fds: Vec<OwnedFd> = Vec::new();
    // SAFETY: walking the control messages the kernel filled in.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c) as *const RawFd;
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize)
                    / std::mem::size_of::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(*data.add(i)));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    buf.truncate(n as usize);
    Ok((buf, fds))
}

/// Accepts one connection, polling so that `stop` and the deadline are honoured.
pub fn accept_within(
    l: &UnixListener,
    stop: &AtomicBool,
    deadline: Instant,
) -> Result<std::os::unix::net::UnixStream, String> {
    loop {
        match l.accept() {
            Ok((c, _)) => return Ok(c),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                    return Err("nobody connected to the socket".into());
                }
                poll_in(l.as_raw_fd(), 100);
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    }
}

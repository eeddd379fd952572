//! Terminals: the container's pty is made inside it (from its own devpts), the
//! master goes to the parent over the sync socket, and from there to a
//! `--console-socket` (runc's protocol) or to `run`'s relay.

use super::message::InitError;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use oci_spec::runtime::Box as ConsoleSize;

use super::message::{Channel, Msg};
use super::user_process::step;

nix::ioctl_write_ptr_bad!(set_winsize, libc::TIOCSWINSZ, libc::winsize);
nix::ioctl_read_bad!(get_winsize, libc::TIOCGWINSZ, libc::winsize);

/// In the container (after pivot_root): make a pty, make its slave our
/// controlling terminal and stdio, show it as /dev/console (for the init, not
/// for an exec), send the master up. The slave belongs to the process's user
/// `uid` (its group stays devpts' tty group), as in runc.
pub(super) fn setup_in_container(
    ch: &Channel,
    size: Option<&ConsoleSize>,
    dev_console: bool,
    uid: u32,
) -> Result<(), InitError> {
    let master = step(
        "process.terminal: /dev/ptmx (is devpts mounted at /dev/pts?)",
        posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC),
    )?;
    step("process.terminal: grantpt", grantpt(&master))?;
    step("process.terminal: unlockpt", unlockpt(&master))?;
    let name = step("process.terminal: ptsname", ptsname_r(&master))?;
    if let Some(sz) = size {
        let ws = libc::winsize {
            ws_row: sz.height() as u16,
            ws_col: sz.width() as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: a valid pty fd and a pointer to a local winsize.
        step("process.consoleSize", unsafe {
            set_winsize(master.as_raw_fd(), &ws)
        })?;
    }
    let slave = step(
        "process.terminal: opening the slave",
        nix::fcntl::open(
            name.as_str(),
            OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        ),
    )?;
    if uid != 0 {
        step(
            "process.terminal: chown",
            nix::unistd::fchown(&slave, Some(nix::unistd::Uid::from_raw(uid)), None),
        )?;
    }
    // The caller made us a session leader already (see
    // user_process::new_session), with no controlling terminal yet.
    // SAFETY: TIOCSCTTY takes an int flag; the fd is our open slave.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(InitError::at(
            "process.terminal: TIOCSCTTY",
            std::io::Error::last_os_error(),
        ));
    }
    for target in 0..3 {
        // SAFETY: dup2 onto the stdio numbers.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(InitError::at(
                "process.terminal: dup2",
                std::io::Error::last_os_error(),
            ));
        }
    }
    if dev_console {
        let console = Path::new("/dev/console");
        if !console.exists() {
            let _ = std::fs::File::create(console);
        }
        step(
            "process.terminal: /dev/console",
            nix::mount::mount(
                Some(name.as_str()),
                console,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            ),
        )?;
    }
    ch.send_fds(&Msg::Console, &[master.as_raw_fd()])
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Hand a terminal master to a `--console-socket` listener, as runc does: one
/// message whose data is the pty's name and whose SCM_RIGHTS carry the fd.
pub fn send_to_console_socket(path: &Path, master: &OwnedFd) -> std::io::Result<()> {
    crate::sys::send_fd_to_socket(path, b"/dev/ptmx", master)
}

/// Copy our terminal's window size to `to` (a pty master): stdin's, or
/// stdout's when stdin is not a terminal (`container run -t` without -i has
/// /dev/null as stdin; docker too takes the size from its output then).
pub fn copy_our_winsize(to: i32) {
    if !copy_winsize(0, to) {
        copy_winsize(1, to);
    }
}

/// Our terminal's size (stdin's, else stdout's) as a process.consoleSize,
/// for a process whose pty is made with it.
pub fn our_console_size() -> Option<ConsoleSize> {
    for fd in [0, 1] {
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: reads into a local winsize.
        if unsafe { get_winsize(fd, &mut ws) }.is_ok() && ws.ws_row > 0 {
            return oci_spec::runtime::BoxBuilder::default()
                .height(u64::from(ws.ws_row))
                .width(u64::from(ws.ws_col))
                .build()
                .ok();
        }
    }
    None
}

/// Copy the window size of `from` (a terminal) to `to` (a pty master).
/// Whether `from` had one.
pub fn copy_winsize(from: i32, to: i32) -> bool {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: both calls read or write a local winsize; failures are harmless.
    unsafe {
        if get_winsize(from, &mut ws).is_ok() {
            let _ = set_winsize(to, &ws);
            return true;
        }
    }
    false
}

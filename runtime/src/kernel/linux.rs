//! The real kernel: the seams over Linux system calls.

use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use brig_cgroups::{CgroupError, CgroupManager, Layout};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::LinuxResources;

use super::{CgroupSystem, InitSpawner, Kernel, ProcStat, ProcessTable, Release};
use crate::container::{ContainerError, ContainerState};
use crate::process::{InitConfig, ProcessError, Spawned};
use crate::rootfs::LinuxMounter;

/// /proc and pidfds.
#[derive(Debug, Default)]
pub struct LinuxProcesses;

/// clone(2)/clone3(2) into namespaces, and the exec fifo.
#[derive(Debug, Default)]
pub struct LinuxSpawner;

/// cgroupfs through brig-cgroups.
#[derive(Debug, Default)]
pub struct LinuxCgroups;

/// The real kernel.
pub static LINUX: Kernel<'static> = Kernel {
    processes: &LinuxProcesses,
    spawner: &LinuxSpawner,
    cgroups: &LinuxCgroups,
    mounter: &LinuxMounter,
};

impl ProcessTable for LinuxProcesses {
    fn stat(&self, pid: i32) -> Option<ProcStat> {
        crate::sys::proc_stat(pid)
    }

    fn signal_init(&self, pid: i32, start_time: u64, sig: i32) -> io::Result<()> {
        // Through a pidfd opened while the init is known to be ours (its
        // start time matched), so that a pid reused in between is never
        // signalled.
        let pidfd = crate::sys::pidfd_open(pid);
        let ours = self
            .stat(pid)
            .is_some_and(|s| s.start_time == start_time && !matches!(s.state, 'Z' | 'X'));
        let pidfd = match pidfd {
            Ok(fd) if ours => fd,
            _ => return Err(io::Error::from_raw_os_error(libc::ESRCH)),
        };
        // SAFETY: pidfd_send_signal(2) on a pidfd we own, no siginfo, no flags.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                pidfd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn signal(&self, pid: i32, sig: i32) -> io::Result<()> {
        // SAFETY: kill(2) with integer arguments.
        if unsafe { libc::kill(pid, sig) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn kill_and_wait(&self, pid: i32, _start_time: u64, timeout: Duration) {
        if let Ok(fd) = crate::sys::pidfd_open(pid) {
            // SAFETY: kill(2) with integer arguments.
            let _ = unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = crate::sys::wait_pidfd(&fd, Some(timeout));
        }
    }
}

impl InitSpawner for LinuxSpawner {
    fn spawn_init(
        &self,
        cfg: &InitConfig,
        hooks: &mut dyn FnMut(i32) -> Result<String, String>,
    ) -> Result<Spawned, ProcessError> {
        crate::process::spawn_init(cfg, hooks)
    }

    fn release(&self, state: &ContainerState, fifo_path: &Path) -> Result<Release, ContainerError> {
        // The pidfd first, while the init is still held on the fifo: opening
        // the fifo lets it go, and a program that exits at once may be gone
        // and reaped (by an engine's subreaper) before the next line runs, so
        // a pidfd opened after the fifo could fail with ESRCH and lose the
        // start of a container that did run. The start time check ties the
        // pidfd to our init, not to a process that reused its pid.
        let pidfd = crate::sys::pidfd_open(state.pid)
            .ok()
            .filter(|_| state.init_alive_in(&LinuxProcesses));
        let Some(pidfd) = pidfd else {
            return Ok(Release::Gone);
        };
        // Non-blocking open: a reader always opens at once, and we poll for
        // the init's byte, checking that it is still alive, instead of
        // hanging on a dead one.
        let fifo = open(
            fifo_path,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ContainerError::io(fifo_path, e.into()))?;
        // Gone from now on, whatever happens to this command: a container
        // whose fifo is gone is no longer `created` (see Store::load), so a
        // start killed after it released the init never leaves a running
        // program recorded as created.
        std::fs::remove_file(fifo_path).map_err(|e| ContainerError::io(fifo_path, e))?;
        crate::failpoint::wait_until("start.wait-init-reaped", || {
            // Gone (reaped), or a zombie that only this process can reap
            // (`run` is the init's parent): waiting longer would wait for
            // ourselves.
            let Ok(stat) = brig_cgroups::read_proc(format!("/proc/{}/stat", state.pid).as_ref())
            else {
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
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(ContainerError::io(fifo_path, e));
            }
            if fds[0].revents & libc::POLLIN != 0 {
                let mut b = [0u8; 1];
                if matches!(nix::unistd::read(&fifo, &mut b), Ok(1)) {
                    break;
                }
            }
            if fds[1].revents != 0 {
                return Ok(Release::Gone);
            }
        }
        // The init holds the fifo open until its execve; what it writes
        // before it closes is why it failed.
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
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(ContainerError::io(fifo_path, e));
            }
            match nix::unistd::read(&fifo, &mut buf) {
                Ok(0) => break,
                Ok(n) => report.extend_from_slice(&buf[..n]),
                Err(nix::Error::EAGAIN) | Err(nix::Error::EINTR) => {}
                Err(e) => return Err(ContainerError::io(fifo_path, e.into())),
            }
        }
        Ok(if report.is_empty() {
            Release::Started
        } else {
            Release::Failed(report)
        })
    }
}

impl CgroupSystem for LinuxCgroups {
    fn layout(&self) -> Result<Layout, CgroupError> {
        // Read once per process: `run` asks in create and again in delete,
        // the mounts do not change under one command, and each read of
        // /proc/self/mountinfo costs the kernel a walk of every mount.
        static LAYOUT: std::sync::OnceLock<Layout> = std::sync::OnceLock::new();
        if let Some(l) = LAYOUT.get() {
            return Ok(l.clone());
        }
        let l = brig_cgroups::detect_layout()?;
        Ok(LAYOUT.get_or_init(|| l).clone())
    }

    fn validate(&self, layout: &Layout, resources: &LinuxResources) -> Result<(), CgroupError> {
        brig_cgroups::validate_resources(layout, resources)
    }

    fn manager(
        &self,
        layout: &Layout,
        cgroups_path: Option<&Path>,
        id: &str,
        creator: Option<&str>,
    ) -> Result<Box<dyn CgroupManager>, CgroupError> {
        match creator {
            Some(text) => brig_cgroups::manager_for_process(layout, cgroups_path, id, text),
            None => brig_cgroups::manager_for(layout, cgroups_path, id),
        }
    }

    fn own_cgroups(&self) -> io::Result<String> {
        brig_cgroups::read_proc("/proc/self/cgroup".as_ref())
    }
}

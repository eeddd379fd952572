//! What joining a container's cgroups costs, two ways, in rotated rounds:
//!
//! - `procs`: fork, then the child writes "0" to `cgroup.procs` of every
//!   hierarchy (what brig, runc and crun do on a v1 or hybrid host);
//! - `tasks`: clone3 with CLONE_INTO_CGROUP into the cgroup2 dir (when cgroup2
//!   is mounted), then the child writes "0" to `tasks` of every v1 hierarchy.
//!
//! Writing a whole process to `cgroup.procs` takes the kernel's global
//! cgroup_threadgroup_rwsem for writing, which waits for an RCU grace period
//! unless another writer just did; moving a single thread (`tasks`, pid 0 = the
//! writer itself) skips that lock, and so does a clone straight into a cgroup2
//! dir. A freshly forked container init is single-threaded, so for it `tasks`
//! moves the whole process.
//!
//! The kernel skips the grace period for a writer that comes while the last
//! one's is still fresh, so the rounds are 200 ms apart (untimed;
//! `BRIG_CGJOIN_GAP_MS`): the case of
//! a container started when no other was started in the previous few ms.
//!
//! ```sh
//! cargo bench -p brig-benches --bench cgroup_join [-- ROUNDS]
//! ```

use std::ffi::CString;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use brig_benches::host;

/// The cgroup dirs of one round, removed on drop.
struct Dirs {
    v1: Vec<PathBuf>,
    v2: Option<PathBuf>,
}

impl Dirs {
    fn make(name: &str) -> Result<Self> {
        let mut d = Dirs {
            v1: Vec::new(),
            v2: None,
        };
        for (ctrls, mnt) in host::cgroup_mounts() {
            let dir = mnt.join(name);
            std::fs::create_dir(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
            if ctrls.is_empty() {
                d.v2 = Some(dir.clone());
            } else {
                d.v1.push(dir.clone());
            }
            if ctrls.split(',').any(|c| c == "cpuset") {
                // A v1 cpuset takes no task until it has cpus and mems.
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    let v = std::fs::read_to_string(mnt.join(f))?;
                    std::fs::write(dir.join(f), v.trim())?;
                }
            }
        }
        Ok(d)
    }
}

impl Drop for Dirs {
    fn drop(&mut self) {
        for d in self.v1.iter().chain(self.v2.iter()) {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn now_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Forks (or clone3s into `into`), lets the child write "0" to each of
/// `files`, and returns the child's time for those writes (ns).
fn join(files: &[CString], into: Option<&PathBuf>) -> Result<u64> {
    use std::os::fd::AsRawFd;
    let mut pipe = [0i32; 2];
    // SAFETY: valid out array.
    if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        bail!("pipe2: {}", std::io::Error::last_os_error());
    }
    let dirfd = match into {
        Some(d) => Some(std::fs::File::open(d)?),
        None => None,
    };
    let pid = match &dirfd {
        Some(fd) => {
            // The child below only makes raw syscalls and _exits.
            brig_cgroups::clone3_into_cgroup(0, fd.as_raw_fd())
                .map_err(|e| anyhow::anyhow!("clone3: {e}"))?
        }
        // SAFETY: single-threaded; the child only makes raw syscalls and _exits.
        None => unsafe { libc::fork() },
    };
    if pid < 0 {
        bail!("clone: {}", std::io::Error::last_os_error());
    }
    if pid == 0 {
        let t = now_ns();
        let mut ok = true;
        for f in files {
            // SAFETY: raw syscalls on a valid C string and buffer.
            unsafe {
                let fd = libc::open(f.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                ok &= fd >= 0 && libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
                libc::close(fd);
            }
        }
        let dt: u64 = if ok { now_ns() - t } else { u64::MAX };
        // SAFETY: write of 8 bytes from a live value, then _exit.
        unsafe {
            libc::write(pipe[1], (&dt as *const u64).cast(), 8);
            libc::_exit(0);
        }
    }
    // SAFETY: closing our copy of the write end; reading 8 bytes into a u64.
    let mut dt = 0u64;
    unsafe {
        libc::close(pipe[1]);
        let n = libc::read(pipe[0], (&mut dt as *mut u64).cast(), 8);
        libc::close(pipe[0]);
        let mut st = 0;
        libc::waitpid(pid, &mut st, 0);
        if n != 8 {
            bail!("the child sent nothing");
        }
    }
    if dt == u64::MAX {
        bail!("a write failed in the child");
    }
    Ok(dt)
}

fn main() -> Result<()> {
    let rounds: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    brig_benches::require_root()?;
    let gap_ms: u64 = std::env::var("BRIG_CGJOIN_GAP_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let mut procs = Vec::new();
    let mut tasks = Vec::new();
    for round in 0..rounds {
        for k in 0..2 {
            let mode = (round + k) % 2;
            std::thread::sleep(std::time::Duration::from_millis(gap_ms));
            let dirs = Dirs::make(&format!(
                "brig-bench-cgjoin-{}-{round}-{mode}",
                std::process::id()
            ))?;
            let c = |d: &PathBuf, f: &str| {
                CString::new(d.join(f).into_os_string().into_encoded_bytes())
            };
            if mode == 0 {
                let files = dirs
                    .v1
                    .iter()
                    .chain(dirs.v2.iter())
                    .map(|d| c(d, "cgroup.procs"))
                    .collect::<Result<Vec<_>, _>>()?;
                procs.push(join(&files, None)? as f64);
            } else {
                let files = dirs
                    .v1
                    .iter()
                    .map(|d| c(d, "tasks"))
                    .collect::<Result<Vec<_>, _>>()?;
                tasks.push(join(&files, dirs.v2.as_ref())? as f64);
            }
        }
    }
    let p = brig_benches::median(&mut procs) / 1e6;
    let t = brig_benches::median(&mut tasks) / 1e6;
    println!(
        "joining {} cgroup hierarchies, {rounds} rounds {gap_ms} ms apart, median:\n  cgroup.procs everywhere:                 {p:.3} ms\n  clone3(CLONE_INTO_CGROUP) + v1 `tasks`:  {t:.3} ms\n  ratio: {:.1}x",
        host::cgroup_mounts().len(),
        p / t.max(1e-9)
    );
    Ok(())
}

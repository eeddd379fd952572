//! OCI hooks: run each with the state JSON on stdin, its own env, and its timeout.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks};

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("hook {name} ({path}): {msg}")]
    Failed {
        name: String,
        path: String,
        msg: String,
    },
}

/// The hook lists, by their config.json names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Prestart => "prestart",
            Phase::CreateRuntime => "createRuntime",
            Phase::CreateContainer => "createContainer",
            Phase::StartContainer => "startContainer",
            Phase::Poststart => "poststart",
            Phase::Poststop => "poststop",
        }
    }

    /// Whether a failing hook only warns and the rest of the phase runs
    /// (poststart, poststop), rather than stopping the phase with an error.
    pub fn failure_is_warning(self) -> bool {
        matches!(self, Phase::Poststart | Phase::Poststop)
    }

    #[allow(deprecated)]
    pub fn list(self, hooks: &Hooks) -> &[Hook] {
        let l = match self {
            Phase::Prestart => hooks.prestart(),
            Phase::CreateRuntime => hooks.create_runtime(),
            Phase::CreateContainer => hooks.create_container(),
            Phase::StartContainer => hooks.start_container(),
            Phase::Poststart => hooks.poststart(),
            Phase::Poststop => hooks.poststop(),
        };
        l.as_deref().unwrap_or(&[])
    }
}

/// Run every hook of `phase` in order; the first failure stops the rest, except
/// in poststart and poststop, where each failure is a warning. A hook
/// with no `env` gets the runtime's own environment (as runc and crun do).
pub fn run_phase(hooks: Option<&Hooks>, phase: Phase, state_json: &[u8]) -> Result<(), HookError> {
    run_phase_env(hooks, phase, state_json, None)
}

/// [`run_phase`], where a hook with no `env` gets `default_env` when it is
/// given: the hooks that run in the container (createContainer,
/// startContainer) get the container process's environment there, as in runc,
/// rather than the runtime's, which may hold host secrets.
pub fn run_phase_env(
    hooks: Option<&Hooks>,
    phase: Phase,
    state_json: &[u8],
    default_env: Option<&[String]>,
) -> Result<(), HookError> {
    let Some(hooks) = hooks else { return Ok(()) };
    for (i, hook) in phase.list(hooks).iter().enumerate() {
        let r = run_hook_env(
            hook,
            &format!("hooks.{}[{i}]", phase.name()),
            state_json,
            default_env,
        );
        match r {
            // runtime-spec runtime.md: a failing poststart or poststop hook is
            // a warning, and the remaining hooks and the lifecycle continue.
            Err(e) if phase.failure_is_warning() => eprintln!("brig: warning: {e}"),
            r => r?,
        }
    }
    Ok(())
}

/// Run one hook. Its stdout and stderr are captured, and stderr goes into the error.
pub fn run_hook(hook: &Hook, name: &str, state_json: &[u8]) -> Result<(), HookError> {
    run_hook_env(hook, name, state_json, None)
}

/// The `bundle` of the state JSON a hook gets, when it is an absolute path.
fn bundle_of(state_json: &[u8]) -> Option<std::path::PathBuf> {
    let v: serde_json::Value = serde_json::from_slice(state_json).ok()?;
    let b = std::path::PathBuf::from(v.get("bundle")?.as_str()?);
    b.is_absolute().then_some(b)
}

/// How much of a hook's stderr goes into the error.
const STDERR_KEPT: usize = 4096;

fn run_hook_env(
    hook: &Hook,
    name: &str,
    state_json: &[u8],
    default_env: Option<&[String]>,
) -> Result<(), HookError> {
    let fail = |msg: String| HookError::Failed {
        name: name.to_string(),
        path: hook.path().display().to_string(),
        msg,
    };
    let mut cmd = Command::new(hook.path());
    let args = hook.args().as_deref().unwrap_or(&[]);
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    // runtime-spec: `env` has environ's semantics. Absent: the runtime's own
    // environment (or `default_env`); present, even empty: exactly that.
    let env = hook.env().as_deref().or(default_env);
    if let Some(env) = env {
        cmd.env_clear();
        for kv in env {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    // Hooks start in the bundle directory, as with runc and crun (hooks
    // written for them use bundle-relative paths such as rootfs/).
    if let Some(bundle) = bundle_of(state_json).filter(|b| b.is_dir()) {
        cmd.current_dir(bundle);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // No fd of the caller's reaches a hook but the three pipes: brig's own fds
    // are close-on-exec, but ones it inherited (a shell's `exec 7<file`, a
    // --preserve-fds fd meant for the container) are not.
    let max_fd = highest_open_fd();
    // SAFETY: the closure runs in the forked child after std set up stdio; it
    // makes only fcntl/close_range syscalls and does not allocate.
    unsafe {
        cmd.pre_exec(move || crate::sys::cloexec_from_upto(3, max_fd));
    }
    let mut child = cmd.spawn().map_err(|e| fail(format!("cannot run: {e}")))?;
    let timeout = hook.timeout().map(|t| Duration::from_secs(t as u64));
    let pidfd = crate::sys::pidfd_open(child.id() as i32).map_err(|e| fail(e.to_string()))?;
    let pipes = Pipes {
        stdin: child.stdin.take().map(OwnedFd::from),
        stdout: child.stdout.take().map(OwnedFd::from),
        stderr: child.stderr.take().map(OwnedFd::from),
    };
    let out = pump(pipes, &pidfd, state_json, timeout).map_err(|e| fail(e.to_string()));
    let stderr = match out {
        Ok(Some(stderr)) => stderr,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "timed out after {}s",
                hook.timeout().unwrap_or(0)
            )));
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    let status = child.wait().map_err(|e| fail(format!("waiting: {e}")))?;
    if status.success() {
        return Ok(());
    }
    let how = match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (_, Some(s)) => format!("killed by signal {s}"),
        _ => "failed".into(),
    };
    let stderr = String::from_utf8_lossy(&stderr);
    let stderr = stderr.trim();
    Err(fail(if stderr.is_empty() {
        how
    } else {
        format!("{how}: {stderr}")
    }))
}

/// The highest fd open in this process, for the fallback of the pre_exec
/// closure (which may not allocate, so it cannot list /proc/self/fd itself).
fn highest_open_fd() -> i32 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .max()
                .unwrap_or(1024)
        })
        .unwrap_or(1024)
}

struct Pipes {
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
}

/// Feed the hook its state on stdin and drain its stdout and stderr while it
/// runs, until it exits (its pidfd is readable) or `timeout` passes. A hook
/// may write any amount before it exits, or leave a child holding the pipes
/// open after it: neither blocks us. Returns the start of its stderr, or
/// `None` on timeout.
fn pump(
    mut p: Pipes,
    pidfd: &OwnedFd,
    mut input: &[u8],
    timeout: Option<Duration>,
) -> std::io::Result<Option<Vec<u8>>> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    for fd in [&p.stdin, &p.stdout, &p.stderr].into_iter().flatten() {
        fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut stderr = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut exited = false;
    loop {
        if input.is_empty() {
            p.stdin = None; // EOF for the hook
        }
        // After the hook exited: one last non-blocking drain of what it wrote.
        let mut fds = Vec::with_capacity(4);
        let ms = match deadline {
            _ if exited => 0,
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(None);
                }
                left.as_millis().clamp(1, i32::MAX as u128) as i32
            }
        };
        let mk = |fd: &OwnedFd, ev: i16| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: ev,
            revents: 0,
        };
        fds.push(mk(pidfd, libc::POLLIN));
        for (fd, ev) in [
            (&p.stdin, libc::POLLOUT),
            (&p.stdout, libc::POLLIN),
            (&p.stderr, libc::POLLIN),
        ] {
            // -1 keeps the slots in place for a pipe already closed.
            fds.push(fd.as_ref().map_or(
                libc::pollfd {
                    fd: -1,
                    events: 0,
                    revents: 0,
                },
                |f| mk(f, ev),
            ));
        }
        // SAFETY: a live array of pollfds and its length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let last_round = exited;
        if fds[0].revents != 0 {
            exited = true;
        }
        if fds[1].revents != 0 {
            if let Some(fd) = &p.stdin {
                match nix::unistd::write(fd, input) {
                    Ok(k) => input = &input[k..],
                    Err(nix::Error::EAGAIN | nix::Error::EINTR) => {}
                    // A hook that does not read its stdin is fine (EPIPE).
                    Err(_) => input = &[],
                }
            }
        }
        for (slot, keep) in [(2, false), (3, true)] {
            if fds[slot].revents == 0 && !exited {
                continue;
            }
            let pipe = if keep { &mut p.stderr } else { &mut p.stdout };
            let Some(fd) = pipe.as_ref() else { continue };
            // Read what is there now; EOF closes our end.
            loop {
                match nix::unistd::read(fd, &mut buf) {
                    Ok(0) => {
                        *pipe = None;
                        break;
                    }
                    Ok(k) => {
                        if keep && stderr.len() < STDERR_KEPT {
                            let room = STDERR_KEPT - stderr.len();
                            stderr.extend_from_slice(&buf[..k.min(room)]);
                        }
                    }
                    Err(nix::Error::EINTR) => {}
                    Err(_) => break, // EAGAIN: nothing more for now
                }
            }
        }
        if last_round || (exited && p.stdout.is_none() && p.stderr.is_none()) {
            return Ok(Some(stderr));
        }
    }
}

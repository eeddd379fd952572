//! OCI hooks: run each with the state JSON on stdin, its own env, and its timeout.

use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::Duration;

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

/// Run every hook of `phase` in order; the first failure stops the rest.
pub fn run_phase(hooks: Option<&Hooks>, phase: Phase, state_json: &[u8]) -> Result<(), HookError> {
    let Some(hooks) = hooks else { return Ok(()) };
    for (i, hook) in phase.list(hooks).iter().enumerate() {
        run_hook(hook, &format!("hooks.{}[{i}]", phase.name()), state_json)?;
    }
    Ok(())
}

/// Run one hook. Its stdout and stderr are captured, and stderr goes into the error.
pub fn run_hook(hook: &Hook, name: &str, state_json: &[u8]) -> Result<(), HookError> {
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
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| fail(format!("cannot run: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine: ignore EPIPE.
        let _ = stdin.write_all(state_json);
    }
    let timeout = hook.timeout().map(|t| Duration::from_secs(t as u64));
    let status = crate::sys::wait_child_timeout(&mut child, timeout)
        .map_err(|e| fail(format!("waiting: {e}")))?;
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(fail(format!(
            "timed out after {}s",
            hook.timeout().unwrap_or(0)
        )));
    };
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if status.success() {
        return Ok(());
    }
    let how = match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (_, Some(s)) => format!("killed by signal {s}"),
        _ => "failed".into(),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr = stderr.trim();
    Err(fail(if stderr.is_empty() {
        how
    } else {
        format!("{how}: {stderr}")
    }))
}

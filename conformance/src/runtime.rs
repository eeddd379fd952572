//! The one seam between the suite and a runtime: [`RuntimeUnderTest`], and [`CliRuntime`], which
//! drives any runc-compatible command line (runc, crun, youki, brig).
//!
//! A check talks to a runtime only through this trait and never asks which runtime it is.

use async_trait::async_trait;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// The operations of the OCI runtime command line that the suite uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Create,
    Start,
    State,
    Kill,
    Delete,
    Pause,
    Resume,
    Exec,
    Update,
    Events,
    Run,
}

impl Op {
    pub const ALL: [Op; 11] = [
        Op::Create,
        Op::Start,
        Op::State,
        Op::Kill,
        Op::Delete,
        Op::Pause,
        Op::Resume,
        Op::Exec,
        Op::Update,
        Op::Events,
        Op::Run,
    ];

    /// The subcommand name on a runc-compatible command line.
    pub fn subcommand(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Start => "start",
            Op::State => "state",
            Op::Kill => "kill",
            Op::Delete => "delete",
            Op::Pause => "pause",
            Op::Resume => "resume",
            Op::Exec => "exec",
            Op::Update => "update",
            Op::Events => "events",
            Op::Run => "run",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.subcommand())
    }
}

/// What one invocation of the runtime did.
#[derive(Clone, Debug)]
pub struct CmdOutput {
    /// The argv, for messages.
    pub argv: Vec<String>,
    /// The exit code, or `None` when the runtime itself died of a signal.
    pub code: Option<i32>,
    /// The signal that killed the runtime process itself, if any.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// A one-line description: the command, how it ended and the first line of stderr.
    pub fn describe(&self) -> String {
        let how = match (self.code, self.signal) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            (None, None) => "ended".to_string(),
        };
        let err = self.stderr.trim();
        let err = err.lines().last().unwrap_or("");
        if err.is_empty() {
            format!("`{}` {how}", self.argv.join(" "))
        } else {
            format!("`{}` {how}: {err}", self.argv.join(" "))
        }
    }

    /// `Ok(self)` if the runtime exited 0, else an error that says what it printed.
    pub fn ok(self) -> Result<Self, RuntimeError> {
        if self.success() {
            Ok(self)
        } else {
            Err(RuntimeError::Failed(self.describe()))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("could not run `{argv}`: {source}")]
    Spawn {
        argv: String,
        source: std::io::Error,
    },
    #[error("`{argv}` did not finish within {secs} s")]
    Timeout { argv: String, secs: u64 },
    #[error("{0}")]
    Failed(String),
    #[error("`{argv}` printed a state that is not JSON: {msg}")]
    BadState { argv: String, msg: String },
}

/// Where a detached container's standard output and error go. The suite gives files, never
/// pipes: a pipe would stay open after `create` returns and the reader would wait for the
/// container's exit.
#[derive(Clone, Debug)]
pub struct ContainerIo {
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

/// The one trait between the suite and a runtime.
#[async_trait]
pub trait RuntimeUnderTest: Send + Sync {
    /// A short name for reports (unique within one run).
    fn name(&self) -> &str;
    /// What was invoked, for reports (binary path and global arguments).
    fn describe(&self) -> String;
    /// Whether the runtime implements `op`. Checks that need an unsupported op are skipped.
    fn supports(&self, op: Op) -> bool;
    /// The full argv that runs `args` on this runtime (binary, its state root and global
    /// arguments first), for checks about the command line itself (missing arguments, inherited
    /// file descriptors, `features`). `None` when the runtime is not a command line.
    fn command(&self, _args: &[String]) -> Option<Vec<String>> {
        None
    }
    /// Whether driving containers needs the suite to be root (a runtime on an emulated kernel
    /// does not). Checks that require [`crate::host::Req::Root`] are skipped otherwise.
    fn needs_root(&self) -> bool {
        true
    }
    /// Whether the containers are processes of the host's kernel, which the suite can observe
    /// through /proc, cgroupfs, mounts, namespaces and the probe it puts in them. `false` for a
    /// runtime on an emulated kernel: checks that require [`crate::host::Req::HostKernel`] are
    /// skipped with that reason.
    fn host_kernel(&self) -> bool {
        true
    }
    /// Whether the container process `pid` (as `state` reported it) is alive.
    fn pid_alive(&self, pid: i32) -> bool {
        crate::sys::pid_alive(pid)
    }
    /// Waits up to `timeout` for the container process `pid` to end; false on timeout.
    async fn wait_pid_exit(&self, pid: i32, timeout: Duration) -> std::io::Result<bool> {
        crate::sys::wait_pid_exit(pid, timeout).await
    }

    async fn create(
        &self,
        id: &str,
        bundle: &Path,
        io: &ContainerIo,
    ) -> Result<CmdOutput, RuntimeError>;
    async fn start(&self, id: &str) -> Result<CmdOutput, RuntimeError>;
    /// The raw `state` invocation; see [`state_json`] for the parsed form.
    async fn state(&self, id: &str) -> Result<CmdOutput, RuntimeError>;
    /// Sends `signal` (a name such as `KILL`/`SIGKILL` or a number such as `9`, passed through).
    async fn kill(&self, id: &str, signal: &str) -> Result<CmdOutput, RuntimeError>;
    async fn delete(&self, id: &str, force: bool) -> Result<CmdOutput, RuntimeError>;
    async fn pause(&self, id: &str) -> Result<CmdOutput, RuntimeError>;
    async fn resume(&self, id: &str) -> Result<CmdOutput, RuntimeError>;
    /// Runs `args` in the container in the foreground and captures its output.
    async fn exec(&self, id: &str, args: &[String]) -> Result<CmdOutput, RuntimeError>;
    /// Applies `resources` (an OCI `linux.resources` object) to a running container.
    async fn update(&self, id: &str, resources: &Value) -> Result<CmdOutput, RuntimeError>;
    /// One snapshot of the container's statistics.
    async fn events_stats(&self, id: &str) -> Result<CmdOutput, RuntimeError>;
    /// create + start + wait + delete, in the foreground, with the container's output captured.
    async fn run(&self, id: &str, bundle: &Path) -> Result<CmdOutput, RuntimeError>;
}

/// Parses the JSON of a successful `state` call.
pub async fn state_json(rt: &dyn RuntimeUnderTest, id: &str) -> Result<Value, RuntimeError> {
    let out = rt.state(id).await?.ok()?;
    serde_json::from_str(&out.stdout).map_err(|e| RuntimeError::BadState {
        argv: out.argv.join(" "),
        msg: e.to_string(),
    })
}

/// Any runc-compatible runtime, driven through its command line as
/// `BINARY --root ROOT [GLOBAL_ARGS]... SUBCOMMAND ...`.
#[derive(Clone, Debug)]
pub struct CliRuntime {
    pub name: String,
    pub binary: PathBuf,
    pub global_args: Vec<String>,
    /// The runtime's state directory, private to this suite run.
    pub root: PathBuf,
    /// Where `update` resource files are written.
    pub scratch: PathBuf,
    /// How long one invocation may take before it is killed and reported as hung.
    pub timeout: Duration,
    supported: Vec<Op>,
}

impl CliRuntime {
    /// Builds the runtime and asks the binary which subcommands it has (`BINARY SUBCOMMAND
    /// --help` must exit 0). The root and scratch directories are created.
    pub async fn new(
        name: String,
        binary: PathBuf,
        global_args: Vec<String>,
        root: PathBuf,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&root)?;
        let scratch = root.join(".brig-conformance");
        std::fs::create_dir_all(&scratch)?;
        let mut rt = CliRuntime {
            name,
            binary,
            global_args,
            root,
            scratch,
            timeout: Duration::from_secs(30),
            supported: Vec::new(),
        };
        let version = rt.invoke(&["--version".into()], None).await;
        match version {
            Ok(o) if o.success() => {}
            Ok(o) => anyhow::bail!("{} does not answer --version: {}", rt.name, o.describe()),
            Err(e) => anyhow::bail!("{}: {e}", rt.name),
        }
        for op in Op::ALL {
            let out = rt
                .invoke(&[op.subcommand().into(), "--help".into()], None)
                .await?;
            if out.success() {
                rt.supported.push(op);
            }
        }
        Ok(rt)
    }

    fn argv(&self, args: &[String]) -> Vec<String> {
        let mut v = vec![
            self.binary.display().to_string(),
            "--root".to_string(),
            self.root.display().to_string(),
        ];
        v.extend(self.global_args.iter().cloned());
        v.extend(args.iter().cloned());
        v
    }

    /// Runs the runtime with captured stdout/stderr and a deadline.
    async fn invoke(
        &self,
        args: &[String],
        io: Option<&ContainerIo>,
    ) -> Result<CmdOutput, RuntimeError> {
        let argv = self.argv(args);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).stdin(Stdio::null()).kill_on_drop(true);
        let spawn_err = |source| RuntimeError::Spawn {
            argv: argv.join(" "),
            source,
        };
        // With files for the container's stdio, the runtime's own stderr goes there too: the
        // runtime hands its stdio to the container.
        let mut captured = true;
        if let Some(io) = io {
            let out = std::fs::File::create(&io.stdout).map_err(spawn_err)?;
            let err = std::fs::File::create(&io.stderr).map_err(spawn_err)?;
            cmd.stdout(out).stderr(err);
            captured = false;
        } else {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        let child = cmd.spawn().map_err(spawn_err)?;
        let waited = tokio::time::timeout(self.timeout, child.wait_with_output()).await;
        let output = match waited {
            Ok(r) => r.map_err(spawn_err)?,
            Err(_) => {
                return Err(RuntimeError::Timeout {
                    argv: argv.join(" "),
                    secs: self.timeout.as_secs(),
                })
            }
        };
        use std::os::unix::process::ExitStatusExt;
        let mut stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if !captured {
            if let Some(io) = io {
                stderr = std::fs::read_to_string(&io.stderr).unwrap_or_default();
            }
        }
        Ok(CmdOutput {
            argv,
            code: output.status.code(),
            signal: output.status.signal(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr,
        })
    }

    async fn simple(&self, args: &[&str]) -> Result<CmdOutput, RuntimeError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.invoke(&args, None).await
    }
}

#[async_trait]
impl RuntimeUnderTest for CliRuntime {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> String {
        let mut s = self.binary.display().to_string();
        for a in &self.global_args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }

    fn supports(&self, op: Op) -> bool {
        self.supported.contains(&op)
    }

    fn command(&self, args: &[String]) -> Option<Vec<String>> {
        Some(self.argv(args))
    }

    async fn create(
        &self,
        id: &str,
        bundle: &Path,
        io: &ContainerIo,
    ) -> Result<CmdOutput, RuntimeError> {
        let args = vec![
            "create".to_string(),
            "--bundle".to_string(),
            bundle.display().to_string(),
            id.to_string(),
        ];
        self.invoke(&args, Some(io)).await
    }

    async fn start(&self, id: &str) -> Result<CmdOutput, RuntimeError> {
        self.simple(&["start", id]).await
    }

    async fn state(&self, id: &str) -> Result<CmdOutput, RuntimeError> {
        self.simple(&["state", id]).await
    }

    async fn kill(&self, id: &str, signal: &str) -> Result<CmdOutput, RuntimeError> {
        self.simple(&["kill", id, signal]).await
    }

    async fn delete(&self, id: &str, force: bool) -> Result<CmdOutput, RuntimeError> {
        if force {
            self.simple(&["delete", "--force", id]).await
        } else {
            self.simple(&["delete", id]).await
        }
    }

    async fn pause(&self, id: &str) -> Result<CmdOutput, RuntimeError> {
        self.simple(&["pause", id]).await
    }

    async fn resume(&self, id: &str) -> Result<CmdOutput, RuntimeError> {
        self.simple(&["resume", id]).await
    }

    async fn exec(&self, id: &str, args: &[String]) -> Result<CmdOutput, RuntimeError> {
        let mut v = vec!["exec".to_string(), id.to_string()];
        v.extend(args.iter().cloned());
        self.invoke(&v, None).await
    }

    async fn update(&self, id: &str, resources: &Value) -> Result<CmdOutput, RuntimeError> {
        let file = self.scratch.join(format!("update-{id}.json"));
        let spawn_err = |source| RuntimeError::Spawn {
            argv: format!("write {}", file.display()),
            source,
        };
        std::fs::write(&file, resources.to_string()).map_err(spawn_err)?;
        let out = self
            .simple(&["update", "--resources", &file.display().to_string(), id])
            .await;
        let _ = std::fs::remove_file(&file);
        out
    }

    async fn events_stats(&self, id: &str) -> Result<CmdOutput, RuntimeError> {
        self.simple(&["events", "--stats", id]).await
    }

    async fn run(&self, id: &str, bundle: &Path) -> Result<CmdOutput, RuntimeError> {
        self.simple(&["run", "--bundle", &bundle.display().to_string(), id])
            .await
    }
}

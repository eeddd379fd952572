//! The conformance suite's second [`RuntimeUnderTest`]: brig-runtime's library
//! (`create_in`, `start_in`, `kill_in`, `delete_in`, `pause_in`, `resume_in`,
//! `state_in`) on the emulated kernel (`brig_runtime::kernel::emulator`), in
//! process and without root. It exists so that the suite's own logic (its
//! checks, `Ctx`, the runner, requirements and skips, cleanup, reports) is
//! tested in CI by an unprivileged user.
//!
//! It says it runs on no host kernel ([`RuntimeUnderTest::host_kernel`] is
//! false), so every check that observes a container through the host (/proc,
//! cgroupfs, mounts, namespaces, the probe's answers beyond the two below) is
//! skipped with that reason; the kernel-free ones run: lifecycle states, the
//! state JSON, error paths, kill and delete semantics.
//!
//! **The probe, modelled.** The suite's containers run its probe
//! (`/probe SUBCOMMAND...`). The emulated processes are scripted
//! ([`Program`]); [`probe_program`] maps the two probe subcommands that these
//! checks use onto them, and the adapter writes the lines the probe would
//! print into the container's stdout file when the emulated process does the
//! corresponding thing:
//! - `exit N`: exits N when started (prints nothing);
//! - `wait-signal`: once running it prints `{"cmd":"wait-signal","waiting":true}`;
//!   it handles every catchable signal, and on the first one the emulator
//!   reports as handled (`Event::Handled`) it prints
//!   `{"cmd":"wait-signal","signal":N}` and exits 0.
//!
//! Anything else is refused at `create` with a message that names it, so a
//! check that needs more of the probe fails loudly instead of passing.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use brig_conformance::runtime::{CmdOutput, ContainerIo, Op, RuntimeError, RuntimeUnderTest};
use brig_runtime::container::{self, CreateOptions, Store};
use brig_runtime::kernel::emulator::{Emulator, Event, Program};
use serde_json::{json, Value};

/// The probe subcommands the model knows.
const MODELLED: &[&str] = &["exit", "wait-signal"];

/// What the suite's probe does, as an emulated program: `/probe exit N` exits
/// N; `/probe wait-signal` waits, handling every catchable signal (exit 0 on
/// the first). Anything else fails its exec (the adapter refuses it at create
/// before it gets here).
pub fn probe_program(args: &[String]) -> Program {
    let sub: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match sub.as_slice() {
        ["exit", n] => Program::Exit(n.parse().unwrap_or(1)),
        ["wait-signal"] => Program::Hang {
            traps: (1..32)
                .filter(|s| *s != libc::SIGKILL && *s != libc::SIGSTOP)
                .collect(),
        },
        _ => Program::Fail,
    }
}

/// The probe's output of one emulated container process.
#[derive(Debug)]
struct Output {
    stdout: PathBuf,
    waits_for_signal: bool,
}

/// brig's library on the emulated kernel, behind the suite's trait.
pub struct EmulatedRuntime {
    name: String,
    emu: Emulator,
    store: Store,
    /// Where `run` puts a container's stdio.
    scratch: PathBuf,
    /// pid → where its probe writes.
    outputs: Mutex<BTreeMap<i32, Output>>,
    /// How many of the emulator's events the probe model has seen.
    seen: Mutex<usize>,
}

impl EmulatedRuntime {
    /// A runtime whose state root is `root` (made here) on a fresh emulator.
    pub fn new(name: &str, root: &Path) -> std::io::Result<Self> {
        let scratch = root.join(".run-io");
        std::fs::create_dir_all(&scratch)?;
        Ok(EmulatedRuntime {
            name: name.to_string(),
            emu: Emulator::with_programs(probe_program),
            store: Store::new(root.join("state")),
            scratch,
            outputs: Mutex::new(BTreeMap::new()),
            seen: Mutex::new(0),
        })
    }

    /// The emulated kernel (for tests that look at it).
    pub fn emulator(&self) -> &Emulator {
        &self.emu
    }

    fn done(&self, argv: Vec<String>, r: Result<String, String>) -> CmdOutput {
        self.observe();
        let (code, stdout, stderr) = match r {
            Ok(out) => (0, out, String::new()),
            Err(e) => (1, String::new(), format!("brig: {e}\n")),
        };
        CmdOutput {
            argv,
            code: Some(code),
            signal: None,
            stdout,
            stderr,
        }
    }

    /// The probe model: print what the emulated processes did since the last look.
    fn observe(&self) {
        let events = self.emu.events();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = self.outputs.lock().unwrap_or_else(|p| p.into_inner());
        for e in events.iter().skip(*seen) {
            if let Event::Handled { pid, sig } = e {
                if let Some(o) = outputs.get(pid).filter(|o| o.waits_for_signal) {
                    append(&o.stdout, &json!({"cmd": "wait-signal", "signal": sig}));
                }
            }
        }
        *seen = events.len();
    }

    fn create_sync(&self, id: &str, bundle: &Path, io: &ContainerIo) -> Result<String, String> {
        for f in [&io.stdout, &io.stderr] {
            std::fs::File::create(f).map_err(|e| format!("{}: {e}", f.display()))?;
        }
        let args = probe_args(bundle)?;
        if let Some(sub) = args.get(1).filter(|s| !MODELLED.contains(&s.as_str())) {
            return Err(format!(
                "the emulated probe models only {MODELLED:?}, not `{sub}` (args {args:?})"
            ));
        }
        if args.iter().any(|a| a == "+") {
            return Err(format!(
                "the emulated probe runs one subcommand, not a chain: {args:?}"
            ));
        }
        let opts = CreateOptions {
            bundle: bundle.to_path_buf(),
            ..Default::default()
        };
        let created = container::create_in(&self.emu.kernel(), &self.store, id, &opts)
            .map_err(|e| e.to_string())?;
        self.outputs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                created.state.pid,
                Output {
                    stdout: io.stdout.clone(),
                    waits_for_signal: args.get(1).is_some_and(|s| s == "wait-signal"),
                },
            );
        Ok(String::new())
    }

    fn start_sync(&self, id: &str) -> Result<String, String> {
        let st =
            container::start_in(&self.emu.kernel(), &self.store, id).map_err(|e| e.to_string())?;
        if self.emu.alive(st.pid) {
            let outputs = self.outputs.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(o) = outputs.get(&st.pid).filter(|o| o.waits_for_signal) {
                append(
                    &o.stdout,
                    &json!({"cmd": "wait-signal", "waiting": true, "pid": 1}),
                );
            }
        }
        Ok(String::new())
    }

    async fn wait_gone(&self, pid: i32, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut delay = Duration::from_millis(1);
        while self.emu.alive(pid) {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(50));
        }
        true
    }
}

/// `process.args` of the bundle's config.json.
fn probe_args(bundle: &Path) -> Result<Vec<String>, String> {
    let path = bundle.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(v["process"]["args"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default())
}

fn append(path: &Path, line: &Value) {
    if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(path) {
        let _ = writeln!(f, "{line}");
    }
}

fn argv(op: &str, args: &[&str]) -> Vec<String> {
    let mut v = vec![format!("brig_runtime::container::{op}_in")];
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

#[async_trait]
impl RuntimeUnderTest for EmulatedRuntime {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> String {
        "brig-runtime (library) on kernel::emulator".into()
    }

    fn supports(&self, op: Op) -> bool {
        matches!(
            op,
            Op::Create
                | Op::Start
                | Op::State
                | Op::Kill
                | Op::Delete
                | Op::Pause
                | Op::Resume
                | Op::Run
        )
    }

    fn needs_root(&self) -> bool {
        false
    }

    fn host_kernel(&self) -> bool {
        false
    }

    fn pid_alive(&self, pid: i32) -> bool {
        self.emu.alive(pid)
    }

    async fn wait_pid_exit(&self, pid: i32, timeout: Duration) -> std::io::Result<bool> {
        Ok(self.wait_gone(pid, timeout).await)
    }

    async fn create(
        &self,
        id: &str,
        bundle: &Path,
        io: &ContainerIo,
    ) -> Result<CmdOutput, RuntimeError> {
        let r = self.create_sync(id, bundle, io);
        if let Err(e) = &r {
            let _ = std::fs::write(&io.stderr, format!("brig: {e}\n"));
        }
        let b = bundle.display().to_string();
        Ok(self.done(argv("create", &["--bundle", &b, id]), r))
    }

    async fn start(&self, id: &str) -> Result<CmdOutput, RuntimeError> {
        let r = self.start_sync(id);
        Ok(self.done(argv("start", &[id]), r))
    }

    async fn state(&self, id: &str) -> Result<CmdOutput, RuntimeError> {
        let r = container::state_in(&self.emu.kernel(), &self.store, id)
            .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default() + "\n")
            .map_err(|e| e.to_string());
        Ok(self.done(argv("state", &[id]), r))
    }

    async fn kill(&self, id: &str, signal: &str) -> Result<CmdOutput, RuntimeError> {
        let r = container::parse_signal(signal).and_then(|sig| {
            container::kill_in(&self.emu.kernel(), &self.store, id, sig, false)
                .map(|()| String::new())
                .map_err(|e| e.to_string())
        });
        Ok(self.done(argv("kill", &[id, signal]), r))
    }

    async fn delete(&self, id: &str, force: bool) -> Result<CmdOutput, RuntimeError> {
        let r = container::delete_in(&self.emu.kernel(), &self.store, id, force)
            .map(|()| String::new())
            .map_err(|e| e.to_string());
        let args: &[&str] = if force { &["--force", id] } else { &[id] };
        Ok(self.done(argv("delete", args), r))
    }

    async fn pause(&self, id: &str) -> Result<CmdOutput, RuntimeError> {
        let r = container::pause_in(&self.emu.kernel(), &self.store, id)
            .map(|()| String::new())
            .map_err(|e| e.to_string());
        Ok(self.done(argv("pause", &[id]), r))
    }

    async fn resume(&self, id: &str) -> Result<CmdOutput, RuntimeError> {
        let r = container::resume_in(&self.emu.kernel(), &self.store, id)
            .map(|()| String::new())
            .map_err(|e| e.to_string());
        Ok(self.done(argv("resume", &[id]), r))
    }

    async fn exec(&self, id: &str, _args: &[String]) -> Result<CmdOutput, RuntimeError> {
        Err(RuntimeError::Failed(format!(
            "exec {id}: the emulated kernel has no exec (supports(Exec) is false)"
        )))
    }

    async fn update(&self, id: &str, _resources: &Value) -> Result<CmdOutput, RuntimeError> {
        Err(RuntimeError::Failed(format!(
            "update {id}: not on the emulated kernel (supports(Update) is false)"
        )))
    }

    async fn events_stats(&self, id: &str) -> Result<CmdOutput, RuntimeError> {
        Err(RuntimeError::Failed(format!(
            "events {id}: not on the emulated kernel (supports(Events) is false)"
        )))
    }

    /// create, start, wait for the exit (up to 30 s, as the CLI runtime's deadline), delete;
    /// the exit code is the container's.
    async fn run(&self, id: &str, bundle: &Path) -> Result<CmdOutput, RuntimeError> {
        let b = bundle.display().to_string();
        let argv = argv("run", &["--bundle", &b, id]);
        let io = ContainerIo {
            stdout: self.scratch.join(format!("{id}.out")),
            stderr: self.scratch.join(format!("{id}.err")),
        };
        let fail = |r: Result<String, String>| self.done(argv.clone(), r);
        if let Err(e) = self.create_sync(id, bundle, &io) {
            return Ok(fail(Err(e)));
        }
        let pid = container::state_in(&self.emu.kernel(), &self.store, id)
            .ok()
            .and_then(|v| v["pid"].as_i64())
            .unwrap_or(0) as i32;
        if let Err(e) = self.start_sync(id) {
            let _ = container::delete_in(&self.emu.kernel(), &self.store, id, true);
            return Ok(fail(Err(e)));
        }
        let secs = 30;
        if !self.wait_gone(pid, Duration::from_secs(secs)).await {
            let _ = container::delete_in(&self.emu.kernel(), &self.store, id, true);
            return Err(RuntimeError::Timeout {
                argv: argv.join(" "),
                secs,
            });
        }
        let code = self.emu.exit_code(pid);
        let del = container::delete_in(&self.emu.kernel(), &self.store, id, false);
        let mut out = fail(Ok(std::fs::read_to_string(&io.stdout).unwrap_or_default()));
        out.code = code;
        if let Err(e) = del {
            out.code = Some(1);
            out.stderr = format!("brig: {e}\n");
        }
        for f in [&io.stdout, &io.stderr] {
            let _ = std::fs::remove_file(f);
        }
        Ok(out)
    }
}

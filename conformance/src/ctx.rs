//! The context a check runs in: the runtime, host facts, its scratch dir, and helpers that keep
//! track of everything the check creates so the runner can clean it up even when the check fails.

use crate::bundle::{default_config, Bundle};
use crate::cgroupfs::ProcCgroups;
use crate::check::Verdict;
use crate::host::HostFacts;
use crate::runtime::{state_json, CmdOutput, ContainerIo, RuntimeUnderTest};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a check waits for anything it polls for (a state, a line of output, an exit).
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Shared by every check of a run.
#[derive(Debug)]
pub struct SuiteEnv {
    /// The shared read-only base rootfs.
    pub rootfs: PathBuf,
    /// The probe on the host (for hooks, which run outside the container).
    pub probe: PathBuf,
    /// The run's scratch directory.
    pub workdir: PathBuf,
    /// Short unique id of this run, part of every container id and cgroup path.
    pub run_id: String,
    counter: AtomicU64,
}

impl SuiteEnv {
    pub fn new(rootfs: PathBuf, probe: PathBuf, workdir: PathBuf, run_id: String) -> Self {
        SuiteEnv {
            rootfs,
            probe,
            workdir,
            run_id,
            counter: AtomicU64::new(0),
        }
    }

    /// The cgroup parent (relative to each hierarchy's root) under which every container of this
    /// run is placed; the runner removes it at the end.
    pub fn cgroup_parent(&self) -> String {
        format!("brig-conformance-{}", self.run_id)
    }

    pub fn next_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("bc-{}-{n}", self.run_id)
    }
}

/// A container created by a check.
#[derive(Clone, Debug)]
pub struct Container {
    pub id: String,
    pub bundle: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    /// The host pid of its init process, as `state` reported after create.
    pub pid: i32,
}

/// The result of a foreground `run`.
#[derive(Debug)]
pub struct Ran {
    pub out: CmdOutput,
    pub lines: Vec<Value>,
}

impl Ran {
    /// Fails unless the container exited 0, quoting the probe's error or the runtime's stderr.
    pub fn expect_ok(&self) -> Result<&Self, Verdict> {
        if self.out.success() {
            return Ok(self);
        }
        if let Some(err) = self.lines.iter().find(|l| l.get("error").is_some()) {
            return Err(Verdict::Fail(format!(
                "container exited {:?}; probe said {err}",
                self.out.code
            )));
        }
        Err(Verdict::Fail(format!(
            "run failed: {}",
            self.out.describe()
        )))
    }

    /// The first output line produced by probe subcommand `cmd`.
    pub fn line(&self, cmd: &str) -> Result<&Value, Verdict> {
        find_line(&self.lines, cmd)
    }
}

pub fn find_line<'a>(lines: &'a [Value], cmd: &str) -> Result<&'a Value, Verdict> {
    lines.iter().find(|l| l["cmd"] == cmd).ok_or_else(|| {
        Verdict::Fail(format!(
            "the probe printed no `{cmd}` answer (got {} lines: {})",
            lines.len(),
            truncate(&serde_json::to_string(lines).unwrap_or_default(), 200)
        ))
    })
}

pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// Parses the probe's output: one JSON object per complete line.
pub fn parse_lines(s: &str) -> Result<Vec<Value>, Verdict> {
    let complete = match s.rfind('\n') {
        Some(i) => &s[..=i],
        None => "",
    };
    complete
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| {
                Verdict::Fail(format!(
                    "container printed a line that is not probe JSON ({e}): {}",
                    truncate(l, 160)
                ))
            })
        })
        .collect()
}

pub struct Ctx {
    pub rt: Arc<dyn RuntimeUnderTest>,
    pub host: Arc<HostFacts>,
    pub env: Arc<SuiteEnv>,
    /// This check's scratch directory (bundles, output files, overlay layers).
    pub dir: PathBuf,
    containers: Mutex<Vec<String>>,
    mounts: Mutex<Vec<PathBuf>>,
    shm: Mutex<Vec<i32>>,
    bundles: AtomicU64,
}

impl Ctx {
    pub fn new(
        rt: Arc<dyn RuntimeUnderTest>,
        host: Arc<HostFacts>,
        env: Arc<SuiteEnv>,
        dir: PathBuf,
    ) -> Ctx {
        Ctx {
            rt,
            host,
            env,
            dir,
            containers: Mutex::new(Vec::new()),
            mounts: Mutex::new(Vec::new()),
            shm: Mutex::new(Vec::new()),
            bundles: AtomicU64::new(0),
        }
    }

    /// A fresh bundle whose process is the probe with `args`, and a fresh container id.
    pub fn bundle(&self, probe_args: &[&str]) -> Bundle {
        let n = self.bundles.fetch_add(1, Ordering::Relaxed);
        let id = self.env.next_id();
        let mut args = vec![crate::setup::PROBE_IN_CONTAINER.to_string()];
        args.extend(probe_args.iter().map(|s| s.to_string()));
        let cgroups_path = format!("/{}/{id}", self.env.cgroup_parent());
        Bundle {
            dir: self.dir.join(format!("bundle{n}")),
            id,
            config: default_config(&self.env.rootfs, &args, &cgroups_path),
            raw: false,
        }
    }

    /// A scratch directory inside this check's dir, readable by anyone (user-namespaced
    /// containers must reach bind mount sources).
    pub fn scratch(&self, name: &str) -> std::io::Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let p = self.dir.join(name);
        std::fs::create_dir_all(&p)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
        Ok(p)
    }

    /// Registers a container id for cleanup (for checks that drive the runtime by hand).
    pub fn track(&self, id: &str) {
        self.register(id)
    }

    /// Runs the runtime's own command line with `args` (see
    /// [`RuntimeUnderTest::command`]), with a deadline. With `leak`, the runtime starts with that
    /// file open on fd 7 and not close-on-exec, as a careless caller would leave it.
    pub async fn raw(&self, args: &[&str], leak: Option<&Path>) -> Result<CmdOutput, Verdict> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let Some(argv) = self.rt.command(&args) else {
            skip!("the runtime is not driven through a command line");
        };
        let mut cmd = match leak {
            Some(f) => {
                let mut c = tokio::process::Command::new("/bin/sh");
                c.arg("-c")
                    .arg("exec 7<\"$0\"; exec \"$@\"")
                    .arg(f)
                    .args(&argv);
                c
            }
            None => {
                let mut c = tokio::process::Command::new(&argv[0]);
                c.args(&argv[1..]);
                c
            }
        };
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn()?;
        let out = match tokio::time::timeout(DEADLINE, child.wait_with_output()).await {
            Ok(r) => r?,
            Err(_) => fail!(
                "`{}` did not finish within {} s",
                argv.join(" "),
                DEADLINE.as_secs()
            ),
        };
        use std::os::unix::process::ExitStatusExt;
        Ok(CmdOutput {
            argv,
            code: out.status.code(),
            signal: out.status.signal(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn register(&self, id: &str) {
        let mut c = self.containers.lock().expect("poisoned");
        if !c.iter().any(|x| x == id) {
            c.push(id.to_string());
        }
    }

    pub fn register_mount(&self, p: &Path) {
        self.mounts.lock().expect("poisoned").push(p.to_path_buf());
    }

    pub fn register_shm(&self, id: i32) {
        self.shm.lock().expect("poisoned").push(id);
    }

    fn write(&self, b: &Bundle) -> Result<(), Verdict> {
        b.write().map(|_| ()).map_err(Verdict::Fail)
    }

    /// `run` in the foreground; the output is parsed, the exit code is not judged.
    pub async fn run(&self, b: &Bundle) -> Result<Ran, Verdict> {
        self.write(b)?;
        self.register(&b.id);
        let out = self.rt.run(&b.id, &b.dir).await?;
        let lines = parse_lines(&out.stdout)?;
        Ok(Ran { out, lines })
    }

    /// `run`, failing unless the container exits 0.
    pub async fn run_ok(&self, b: &Bundle) -> Result<Ran, Verdict> {
        let r = self.run(b).await?;
        r.expect_ok()?;
        Ok(r)
    }

    /// `create` with id `id`; the raw outcome, for checks about errors.
    pub async fn try_create(&self, b: &Bundle, id: &str) -> Result<CmdOutput, Verdict> {
        self.write(b)?;
        self.register(id);
        let io = self.io(b);
        Ok(self.rt.create(id, &b.dir, &io).await?)
    }

    fn io(&self, b: &Bundle) -> ContainerIo {
        ContainerIo {
            stdout: b.dir.join("stdout"),
            stderr: b.dir.join("stderr"),
        }
    }

    /// `create`, which must succeed, then `state` for the init pid.
    pub async fn create(&self, b: &Bundle) -> Result<Container, Verdict> {
        let out = self.try_create(b, &b.id).await?;
        if !out.success() {
            fail!("create failed: {}", out.describe());
        }
        let st = state_json(self.rt.as_ref(), &b.id).await?;
        let pid = st["pid"].as_i64().unwrap_or(0) as i32;
        ensure!(pid > 0, "state after create has no pid: {st}");
        let io = self.io(b);
        Ok(Container {
            id: b.id.clone(),
            bundle: b.dir.clone(),
            stdout: io.stdout,
            stderr: io.stderr,
            pid,
        })
    }

    pub async fn start(&self, c: &Container) -> Result<(), Verdict> {
        let out = self.rt.start(&c.id).await?;
        if !out.success() {
            fail!("start failed: {}", out.describe());
        }
        Ok(())
    }

    /// create + start.
    pub async fn create_started(&self, b: &Bundle) -> Result<Container, Verdict> {
        let c = self.create(b).await?;
        self.start(&c).await?;
        Ok(c)
    }

    /// create + start of a probe chain ending in `wait-signal`, and waits until the probe says
    /// it is waiting (its signal handlers are installed).
    pub async fn started_waiting(&self, b: &Bundle) -> Result<Container, Verdict> {
        let c = self.create_started(b).await?;
        self.wait_output(&c, |l| l["waiting"] == true).await?;
        Ok(c)
    }

    /// The container's parsed stdout so far.
    pub fn output(&self, c: &Container) -> Result<Vec<Value>, Verdict> {
        let s = std::fs::read_to_string(&c.stdout).unwrap_or_default();
        parse_lines(&s)
    }

    /// Polls the container's stdout until a line satisfies `pred`.
    pub async fn wait_output(
        &self,
        c: &Container,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value, Verdict> {
        let deadline = Instant::now() + DEADLINE;
        let mut delay = Duration::from_millis(5);
        loop {
            let lines = self.output(c)?;
            if let Some(l) = lines.iter().find(|l| pred(l)) {
                return Ok(l.clone());
            }
            if let Some(err) = lines
                .iter()
                .find(|l| l.get("error").is_some_and(|e| !e.is_null()))
            {
                fail!("the probe failed: {err}");
            }
            if !self.rt.pid_alive(c.pid) {
                // One more read: the line may have landed just before the exit.
                let lines = self.output(c)?;
                if let Some(l) = lines.iter().find(|l| pred(l)) {
                    return Ok(l.clone());
                }
                let err = std::fs::read_to_string(&c.stderr).unwrap_or_default();
                fail!(
                    "container exited without the expected output; stdout: {} stderr: {}",
                    truncate(&serde_json::to_string(&lines).unwrap_or_default(), 200),
                    truncate(err.trim(), 200)
                );
            }
            if Instant::now() > deadline {
                fail!(
                    "no expected output from the container within {} s",
                    DEADLINE.as_secs()
                );
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }

    /// Waits (with the deadline) for the container's init process to exit.
    pub async fn wait_exit(&self, c: &Container) -> Result<(), Verdict> {
        match self.rt.wait_pid_exit(c.pid, DEADLINE).await {
            Ok(true) => Ok(()),
            Ok(false) => fail!(
                "container process {} still alive after {} s",
                c.pid,
                DEADLINE.as_secs()
            ),
            Err(e) => fail!("waiting for pid {}: {e}", c.pid),
        }
    }

    /// The parsed `state`.
    pub async fn state(&self, id: &str) -> Result<Value, Verdict> {
        Ok(state_json(self.rt.as_ref(), id).await?)
    }

    /// Polls `state` until its status is `want`.
    pub async fn wait_status(&self, id: &str, want: &str) -> Result<Value, Verdict> {
        let deadline = Instant::now() + DEADLINE;
        let mut delay = Duration::from_millis(5);
        loop {
            let st = self.state(id).await?;
            if st["status"] == want {
                return Ok(st);
            }
            if Instant::now() > deadline {
                fail!(
                    "state stayed {} instead of {want} for {} s",
                    st["status"],
                    DEADLINE.as_secs()
                );
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }

    /// `exec` of the probe in a running container; it must exit 0.
    pub async fn exec_probe(&self, c: &Container, args: &[&str]) -> Result<Vec<Value>, Verdict> {
        let mut v = vec![crate::setup::PROBE_IN_CONTAINER.to_string()];
        v.extend(args.iter().map(|s| s.to_string()));
        let out = self.rt.exec(&c.id, &v).await?;
        if !out.success() {
            fail!("exec failed: {}", out.describe());
        }
        parse_lines(&out.stdout)
    }

    pub async fn kill(&self, c: &Container, sig: &str) -> Result<(), Verdict> {
        let out = self.rt.kill(&c.id, sig).await?;
        if !out.success() {
            fail!("kill {sig} failed: {}", out.describe());
        }
        Ok(())
    }

    /// `delete`, which must succeed.
    pub async fn delete(&self, c: &Container) -> Result<(), Verdict> {
        let out = self.rt.delete(&c.id, false).await?;
        if !out.success() {
            fail!("delete failed: {}", out.describe());
        }
        Ok(())
    }

    /// Stops a running container: SIGKILL, wait for the exit, delete.
    pub async fn stop_and_delete(&self, c: &Container) -> Result<(), Verdict> {
        self.kill(c, "KILL").await?;
        self.wait_exit(c).await?;
        self.wait_status(&c.id, "stopped").await?;
        self.delete(c).await
    }

    /// The container's cgroups, read from the host.
    pub fn cgroups(&self, c: &Container) -> Result<ProcCgroups, Verdict> {
        ProcCgroups::of_pid(&self.host, c.pid)
            .map_err(|e| Verdict::Fail(format!("reading /proc/{}/cgroup: {e}", c.pid)))
    }

    /// Removes everything the check created: containers (kill + forced delete), host mounts,
    /// shm segments, leftover cgroups, and (unless `keep`) the scratch directory.
    pub async fn cleanup(&self, keep: bool) -> Vec<String> {
        let mut problems = Vec::new();
        let ids: Vec<String> = self.containers.lock().expect("poisoned").clone();
        for id in ids.iter().rev() {
            // Errors are expected here (already deleted, never created).
            let _ = self.rt.kill(id, "KILL").await;
            let _ = self.rt.delete(id, true).await;
        }
        let mounts: Vec<PathBuf> = self.mounts.lock().expect("poisoned").clone();
        for m in mounts.iter().rev() {
            if !crate::sys::host_mounts_under(m).is_empty() {
                if let Err(e) = crate::sys::unmount(m) {
                    problems.push(format!("unmounting {}: {e}", m.display()));
                }
            }
        }
        for id in self.shm.lock().expect("poisoned").drain(..) {
            crate::sys::shm_remove(id);
        }
        let parent = self.env.cgroup_parent();
        for id in &ids {
            for root in self.host.cgroup_roots() {
                let d = root.join(&parent).join(id);
                problems.extend(crate::cgroupfs::remove_tree(&d));
            }
        }
        if !keep {
            // Mounts made by a misbehaving runtime on the host would make this fail; report it.
            if let Err(e) = std::fs::remove_dir_all(&self.dir) {
                if self.dir.exists() {
                    problems.push(format!("removing {}: {e}", self.dir.display()));
                }
            }
        }
        problems
    }
}

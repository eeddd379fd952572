use std::path::PathBuf;

use oci_spec::runtime::{Capabilities, Capability, Process};

use brig_runtime::container::{self, ExecOptions, Store};

#[derive(Debug, clap::Args)]
#[command(trailing_var_arg = true)]
pub struct Args {
    pub id: String,
    /// The program and its arguments (unless --process gives them).
    pub command: Vec<String>,
    /// A process.json (the `process` object of config.json) to run instead.
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Add or override an environment variable (KEY=VALUE).
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Working directory inside the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// User to run as: UID[:GID].
    #[arg(short, long)]
    pub user: Option<String>,
    /// Supplementary group ids.
    #[arg(short = 'g', long)]
    pub additional_gids: Vec<u32>,
    /// Add a capability to the bounding, effective and permitted sets (and
    /// to ambient when the process's inheritable set has it), as runc.
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// Set no_new_privs for the process.
    #[arg(long)]
    pub no_new_privs: bool,
    /// Give the process a terminal (relayed, or sent to --console-socket).
    #[arg(short, long)]
    pub tty: bool,
    /// Return once the process runs.
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's host pid here.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that gets the terminal's master (SCM_RIGHTS).
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Unix socket that gets a pidfd of the process (SCM_RIGHTS), as runc 1.2.
    #[arg(long)]
    pub pidfd_socket: Option<PathBuf>,
    /// Pass this many extra fds (from 3 on).
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: i32,
    /// Allow exec in a paused container: the process is frozen with it, and
    /// exec returns once the container is resumed (as runc).
    #[arg(long)]
    pub ignore_paused: bool,
    /// Run the process in an existing sub-cgroup of the container's cgroup:
    /// `SUB` (in every hierarchy). runc's per-controller `CTRL:SUB` form is
    /// refused unless every hierarchy gets the same SUB.
    #[arg(long)]
    pub cgroup: Vec<String>,
}

fn parse_user(s: &str) -> anyhow::Result<(u32, Option<u32>)> {
    let bad = || anyhow::anyhow!("--user {s:?}: must be UID or UID:GID (numbers)");
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let uid = u.parse().map_err(|_| bad())?;
    let gid = g.map(|g| g.parse().map_err(|_| bad())).transpose()?;
    Ok((uid, gid))
}

fn process(store: &Store, a: &Args) -> anyhow::Result<Process> {
    let mut p = match &a.process {
        Some(path) => {
            let text = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("--process {}: {e}", path.display()))?;
            let text = brig_runtime::security::drop_unknown_capabilities(&text, &["capabilities"])
                .unwrap_or(text);
            brig_runtime::spec::parse_json::<Process>(path, &text)?
        }
        None => {
            if a.command.is_empty() {
                anyhow::bail!("exec: give a command, or --process FILE");
            }
            let mut p = container::base_process(store, &a.id)?;
            p.set_args(Some(a.command.clone()));
            p
        }
    };
    if a.process.is_some() && !a.command.is_empty() {
        // runc runs the --process file and ignores the arguments.
        eprintln!(
            "brig: warning: exec: --process given: ignoring the command {:?}",
            a.command
        );
    }
    if !a.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        for kv in &a.env {
            let Some((k, _)) = kv.split_once('=') else {
                anyhow::bail!("--env {kv:?}: must be KEY=VALUE");
            };
            env.retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k));
            env.push(kv.clone());
        }
        p.set_env(Some(env));
    }
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = parse_user(u)?;
        p.user_mut().set_uid(uid);
        if let Some(g) = gid {
            p.user_mut().set_gid(g);
        }
    }
    if !a.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(a.additional_gids.clone()));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let (usable, unknown): (Vec<&String>, Vec<&String>) = a
            .cap
            .iter()
            .partition(|n| brig_runtime::security::capability_usable(n));
        if !unknown.is_empty() {
            // runtime-spec 1.1: warn and go on, as runc does.
            let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
            eprintln!(
                "brig: warning: ignoring unknown or unavailable capabilities: [{}]",
                names.join(" ")
            );
        }
        for name in usable {
            let cap: Capability =
                serde_json::from_value(serde_json::Value::String(name.clone()))
                    .map_err(|_| anyhow::anyhow!("--cap {name:?}: unknown capability"))?;
            let add = |set: Option<Capabilities>| {
                let mut s = set.unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            // Never inheritable, and ambient only when inheritable has it
            // already (what ambient needs anyway): a capability that only
            // --cap gave must not survive the execve of an unprivileged
            // program (CVE-2022-29162; runc >= 1.1.2).
            caps.set_bounding(add(caps.bounding().clone()));
            caps.set_effective(add(caps.effective().clone()));
            caps.set_permitted(add(caps.permitted().clone()));
            if caps
                .inheritable()
                .as_ref()
                .is_some_and(|i| i.contains(&cap))
            {
                caps.set_ambient(add(caps.ambient().clone()));
            }
        }
        p.set_capabilities(Some(caps));
    }
    if a.tty {
        p.set_terminal(Some(true));
    } else if a.process.is_none() {
        // runc's rule: the config's terminal setting is not inherited by exec.
        p.set_terminal(Some(false));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    Ok(p)
}

/// `--cgroup` values: runc's `[CTRL:]SUB`, given one or more times. brig puts
/// an exec'd process in one sub-cgroup across every hierarchy, so the values
/// must agree on SUB.
fn sub_cgroup(values: &[String]) -> anyhow::Result<Option<PathBuf>> {
    let mut sub: Option<&str> = None;
    for v in values {
        let s = match v.split_once(':') {
            Some((_, s)) => s,
            None => v.as_str(),
        };
        if s.is_empty() {
            anyhow::bail!("--cgroup {v:?}: give a sub-cgroup, as SUB or CTRL:SUB");
        }
        match sub {
            Some(prev) if prev != s => anyhow::bail!(
                "--cgroup {v:?}: brig puts the process in one sub-cgroup in every hierarchy; \
                 a different one per controller ({prev:?} and {s:?}) is not supported"
            ),
            _ => sub = Some(s),
        }
    }
    Ok(sub.map(PathBuf::from))
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<i32> {
    if a.preserve_fds < 0 {
        anyhow::bail!("--preserve-fds {}: must not be negative", a.preserve_fds);
    }
    let opts = ExecOptions {
        process: process(store, &a)?,
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        preserve_fds: a.preserve_fds,
        console_socket: a.console_socket.clone(),
        pidfd_socket: a.pidfd_socket.clone(),
        ignore_paused: a.ignore_paused,
        sub_cgroup: sub_cgroup(&a.cgroup)?,
        stdio: container::Stdio::inherit(),
    };
    Ok(container::exec(store, &a.id, &opts)?)
}

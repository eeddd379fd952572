//! `brig container create|run|start|stop|rm|ls|logs|inspect|exec|pause|unpause|top|stats|port`:
//! containers from images, with docker's names, flags, columns and exit codes.

use std::time::Duration;

use crate::out;
use brig_engine::cmds::{bytes_binary, bytes_decimal, ExecFlags, Sample};
use brig_engine::flags::RawFlags;
use brig_engine::Engine;
use brig_engine::{CStatus, ContainerRecord};
use brig_runtime::container::Stdio;

/// The flags of `container create` and `container run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The image, when not given as the first argument (then every argument
    /// is the command).
    #[arg(long)]
    pub image: Option<String>,
    /// Keep stdin attached (without it the container's stdin is /dev/null).
    #[arg(short, long)]
    pub interactive: bool,
    /// Give the container a terminal (a pty; the window size follows ours).
    #[arg(short, long)]
    pub tty: bool,
    /// Replace the image's Entrypoint (its Cmd is dropped too; "" clears it).
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Mount the container's root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Read environment variables from a file (NAME=VALUE lines; -e wins).
    #[arg(long)]
    pub env_file: Vec<String>,
    /// Run brig's init as pid 1: it reaps zombies and forwards signals.
    #[arg(long)]
    pub init: bool,
    /// The container's name (default: the first 12 digits of its id).
    #[arg(long)]
    pub name: Option<String>,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Set an environment variable (NAME=VALUE, or NAME to pass brig's own).
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// The working directory inside the container.
    #[arg(short, long = "workdir")]
    pub workdir: Option<String>,
    /// USER[:GROUP], by name (the image's /etc/passwd) or number.
    #[arg(short, long)]
    pub user: Option<String>,
    #[arg(long)]
    pub hostname: Option<String>,
    /// Memory limit: a number with an optional b, k, m or g.
    #[arg(short, long)]
    pub memory: Option<String>,
    /// CPUs (1.5 = quota 150000 per period 100000).
    #[arg(long)]
    pub cpus: Option<String>,
    /// The most processes (-1: no limit).
    #[arg(long, allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// SRC:DST[:ro|rw]: a volume name or an absolute host path.
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// DST[:OPTIONS]: a tmpfs at DST (nosuid,nodev,noexec by default).
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// A network name (`brig network ls`), bridge (the default network, brig0,
    /// as docker's default), none (loopback only) or host (the host's).
    #[arg(long, env = "BRIG_NETWORK")]
    pub network: Option<String>,
    /// [HOSTIP:]HOSTPORT:CTRPORT[/tcp|udp]: publish a container port on the
    /// host (bridge networks only).
    #[arg(short, long = "publish")]
    pub publish: Vec<String>,
    /// IMAGE [COMMAND [ARG...]]: the image (NAME[:TAG], an id, or an id
    /// prefix), then the command (replaces the image's Cmd; the Entrypoint
    /// stays).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE [COMMAND]"
    )]
    pub command: Vec<String>,
}

impl RunArgs {
    fn raw(&self) -> Result<RawFlags, String> {
        // `IMAGE CMD...`, as docker's; or `--image IMAGE [--] CMD...`.
        let (image, command) = match &self.image {
            Some(i) => (i.clone(), self.command.clone()),
            None => match self.command.split_first() {
                Some((i, rest)) => (i.clone(), rest.to_vec()),
                None => (String::new(), Vec::new()),
            },
        };
        if image.starts_with('-') {
            // A flag clap does not know, taken for the image.
            return Err(format!(
                "unknown flag: {image} (brig does not support it; see `brig container run --help`)"
            ));
        }
        Ok(RawFlags {
            image,
            name: self.name.clone(),
            env: self.env.clone(),
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            memory: self.memory.clone(),
            cpus: self.cpus.clone(),
            pids_limit: self.pids_limit,
            volumes: self.volume.clone(),
            tmpfs: self.tmpfs.clone(),
            network: self.network.clone(),
            publish: self.publish.clone(),
            auto_remove: self.rm,
            command,
            entrypoint: self.entrypoint.clone(),
            read_only: self.read_only,
            env_files: self.env_file.clone(),
            init: self.init,
            tty: self.tty,
            interactive: self.interactive,
        })
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Make a container from an image (its rootfs, volumes and config.json); print its id.
    Create(RunArgs),
    /// Make a container and run it in the foreground (or --detach).
    Run {
        /// Start it and print its id; its output goes to `container logs`.
        #[arg(short, long)]
        detach: bool,
        #[command(flatten)]
        args: RunArgs,
    },
    /// Start containers in the background.
    Start {
        /// Stay in the foreground until the (one) container exits.
        #[arg(short, long)]
        attach: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Stop containers: SIGTERM, then SIGKILL after --time seconds.
    Stop {
        #[arg(short, long, default_value_t = 10)]
        time: u64,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove containers and their writable layers (volumes stay).
    #[command(alias = "remove")]
    Rm {
        /// Kill a running container first.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// List containers (running ones, or all with -a).
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Print what a detached container wrote.
    Logs {
        /// Keep printing what it writes until it stops.
        #[arg(short, long)]
        follow: bool,
        container: String,
    },
    /// Run a command in a running container.
    Exec {
        /// Keep stdin attached.
        #[arg(short, long)]
        interactive: bool,
        /// Give the command a terminal.
        #[arg(short, long)]
        tty: bool,
        /// Start it and return.
        #[arg(short, long)]
        detach: bool,
        /// Set an environment variable (NAME=VALUE, or NAME to pass brig's own).
        #[arg(short, long = "env")]
        env: Vec<String>,
        /// Read environment variables from a file.
        #[arg(long)]
        env_file: Vec<String>,
        /// The working directory inside the container.
        #[arg(short, long)]
        workdir: Option<String>,
        /// USER[:GROUP], by name (the container's /etc/passwd) or number.
        #[arg(short, long)]
        user: Option<String>,
        container: String,
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND"
        )]
        command: Vec<String>,
    },
    /// Freeze every process of containers.
    Pause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Thaw paused containers.
    Unpause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Show a container's processes: the host's `ps` (default -ef), only theirs.
    Top {
        container: String,
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "PS OPTIONS"
        )]
        ps_args: Vec<String>,
    },
    /// Live resource usage: CPU %, memory, network and block I/O, pids.
    Stats {
        /// Print one table and exit.
        #[arg(long)]
        no_stream: bool,
        /// All containers, not only running ones.
        #[arg(short, long)]
        all: bool,
        containers: Vec<String>,
    },
    /// List a container's published ports (or where one PORT[/PROTO] is).
    Port {
        container: String,
        port: Option<String>,
    },
    /// Print a container as JSON: its record, status, and network (IP, MAC,
    /// gateway, network, ports).
    Inspect {
        #[arg(required = true)]
        containers: Vec<String>,
    },
}

fn each(names: Vec<String>, mut f: impl FnMut(&str) -> anyhow::Result<()>) -> anyhow::Result<i32> {
    let mut failed = false;
    for n in names {
        match f(&n) {
            Ok(()) => out!("{n}")?,
            Err(e) => {
                crate::log::error(&e.to_string());
                failed = true;
            }
        }
    }
    Ok(i32::from(failed))
}

/// docker's exit codes for `run` and `exec` when the container's process
/// never ran: 127 when the command was not found, 126 when it could not be
/// invoked, 125 for brig's own errors (the process's own status otherwise).
pub fn docker_exit_code(e: &str) -> i32 {
    if e.contains("executable file not found") || e.contains("no such executable") {
        127
    } else if e.contains("cannot be invoked") || e.contains("Permission denied") {
        126
    } else {
        125
    }
}

pub fn run(engine: &Engine, cmd: Cmd) -> anyhow::Result<i32> {
    let docker_codes = matches!(cmd, Cmd::Create(_) | Cmd::Run { .. } | Cmd::Exec { .. });
    match run_cmd(engine, cmd) {
        Err(e) if docker_codes => {
            let text = e.to_string();
            crate::log::error(&text);
            Ok(docker_exit_code(&text))
        }
        r => r,
    }
}

fn run_cmd(engine: &Engine, cmd: Cmd) -> anyhow::Result<i32> {
    match cmd {
        Cmd::Create(a) => {
            let f = a
                .raw()
                .and_then(|r| r.check())
                .map_err(anyhow::Error::msg)?;
            if f.auto_remove {
                anyhow::bail!("--rm: only `container run` removes a container when it exits");
            }
            let rec = engine.create(&f)?;
            out!("{}", rec.id)?;
            Ok(0)
        }
        Cmd::Run { detach, args } => {
            let f = args
                .raw()
                .and_then(|r| r.check())
                .map_err(anyhow::Error::msg)?;
            let (rec, code) = engine.run(&f, detach)?;
            if detach {
                out!("{}", rec.id)?;
            }
            Ok(code)
        }
        Cmd::Start { attach, containers } => {
            if attach {
                if containers.len() != 1 {
                    anyhow::bail!("--attach: one container at a time");
                }
                let r = engine.find(&containers[0])?;
                return Ok(engine.start_foreground(&r, Stdio::inherit())?);
            }
            each(containers, |n| Ok(engine.start_detached(&engine.find(n)?)?))
        }
        Cmd::Stop { time, containers } => each(containers, |n| {
            Ok(engine.stop(&engine.find(n)?, Duration::from_secs(time))?)
        }),
        Cmd::Rm { force, containers } => {
            each(containers, |n| Ok(engine.remove(&engine.find(n)?, force)?))
        }
        Cmd::Ls { all, quiet } => {
            let mut rows = vec![[
                "CONTAINER ID".to_string(),
                "IMAGE".into(),
                "COMMAND".into(),
                "CREATED".into(),
                "STATUS".into(),
                "NAMES".into(),
            ]];
            for r in engine.records()? {
                let st = engine.status(&r);
                if !all
                    && !matches!(
                        st,
                        brig_engine::CStatus::Running | brig_engine::CStatus::Paused
                    )
                {
                    continue;
                }
                if quiet {
                    out!("{}", &r.id[..12])?;
                    continue;
                }
                let mut cmd = r.args.join(" ");
                if cmd.len() > 30 {
                    cmd.truncate(27);
                    cmd.push_str("...");
                }
                rows.push([
                    r.id[..12].to_string(),
                    r.image_ref.clone(),
                    format!("{cmd:?}"),
                    r.created.clone(),
                    st.to_string(),
                    r.name.clone(),
                ]);
            }
            if !quiet {
                crate::table::print(&rows)?;
            }
            Ok(0)
        }
        Cmd::Inspect { containers } => {
            let mut all = Vec::new();
            for n in containers {
                let r = engine.find(&n)?;
                all.push(engine.inspect(&r)?);
            }
            out!("{}", serde_json::to_string_pretty(&all)?)?;
            Ok(0)
        }
        Cmd::Logs { follow, container } => {
            let r = engine.find(&container)?;
            engine.logs(&r, follow, &mut std::io::stdout().lock())?;
            Ok(0)
        }
        Cmd::Exec {
            interactive,
            tty,
            detach,
            env,
            env_file,
            workdir,
            user,
            container,
            command,
        } => {
            let r = engine.find(&container)?;
            Ok(engine.exec(
                &r,
                &ExecFlags {
                    command,
                    interactive,
                    tty,
                    detach,
                    env,
                    env_files: env_file,
                    workdir,
                    user,
                },
            )?)
        }
        Cmd::Pause { containers } => {
            each(containers, |n| Ok(engine.pause(&engine.find(n)?, true)?))
        }
        Cmd::Unpause { containers } => {
            each(containers, |n| Ok(engine.pause(&engine.find(n)?, false)?))
        }
        Cmd::Top { container, ps_args } => {
            let r = engine.find(&container)?;
            for l in engine.top(&r, &ps_args)? {
                out!("{l}")?;
            }
            Ok(0)
        }
        Cmd::Port { container, port } => {
            let r = engine.find(&container)?;
            for l in engine.ports(&r, port.as_deref())? {
                out!("{l}")?;
            }
            Ok(0)
        }
        Cmd::Stats {
            no_stream,
            all,
            containers,
        } => stats(engine, no_stream, all, containers),
    }
}

/// `container stats`: docker's columns. CPU % is measured between two
/// samples a second apart (docker's daemon keeps the previous one; brig has
/// none to keep it, so --no-stream takes a second).
fn stats(engine: &Engine, no_stream: bool, all: bool, names: Vec<String>) -> anyhow::Result<i32> {
    let named = !names.is_empty();
    let pick = || -> anyhow::Result<Vec<ContainerRecord>> {
        if named {
            return names
                .iter()
                .map(|n| engine.find(n).map_err(Into::into))
                .collect();
        }
        Ok(engine
            .records()?
            .into_iter()
            .filter(|r| all || matches!(engine.status(r), CStatus::Running | CStatus::Paused))
            .collect())
    };
    let sample = |r: &ContainerRecord| -> anyhow::Result<Option<Sample>> {
        match engine.status(r) {
            CStatus::Running | CStatus::Paused => Ok(Some(engine.sample(r)?)),
            _ if named && !all => {
                anyhow::bail!("stats {}: the container is not running", r.name)
            }
            _ => Ok(None),
        }
    };
    let tty = nix::unistd::isatty(std::io::stdout()).unwrap_or(false);
    let mut prev: std::collections::HashMap<String, Sample> = Default::default();
    let records = pick()?;
    for r in &records {
        if let Some(s) = sample(r)? {
            prev.insert(r.id.clone(), s);
        }
    }
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let records = pick()?;
        let mut rows = vec![[
            "CONTAINER ID".to_string(),
            "NAME".into(),
            "CPU %".into(),
            "MEM USAGE / LIMIT".into(),
            "MEM %".into(),
            "NET I/O".into(),
            "BLOCK I/O".into(),
            "PIDS".into(),
        ]];
        for r in &records {
            // A container that stopped since the listing shows zeros.
            let now = match sample(r) {
                Ok(s) => s,
                Err(_) if !named => None,
                Err(e) => return Err(e),
            };
            let row = match (&now, prev.get(&r.id)) {
                (Some(n), before) => [
                    r.id[..12].to_string(),
                    r.name.clone(),
                    format!("{:.2}%", before.map(|b| n.cpu_percent(b)).unwrap_or(0.0)),
                    format!(
                        "{} / {}",
                        bytes_binary(n.mem_usage),
                        bytes_binary(n.mem_limit)
                    ),
                    format!("{:.2}%", n.mem_percent()),
                    format!("{} / {}", bytes_decimal(n.net.0), bytes_decimal(n.net.1)),
                    format!(
                        "{} / {}",
                        bytes_decimal(n.block.0),
                        bytes_decimal(n.block.1)
                    ),
                    n.pids.to_string(),
                ],
                (None, _) => [
                    r.id[..12].to_string(),
                    r.name.clone(),
                    "0.00%".into(),
                    "0B / 0B".into(),
                    "0.00%".into(),
                    "0B / 0B".into(),
                    "0B / 0B".into(),
                    "0".into(),
                ],
            };
            rows.push(row);
            match now {
                Some(n) => prev.insert(r.id.clone(), n),
                None => prev.remove(&r.id),
            };
        }
        if tty && !no_stream {
            // Clear the screen and go home, as docker's live view does.
            crate::write_line(format_args!("\x1b[2J\x1b[H"))?;
        }
        crate::table::print(&rows)?;
        if no_stream {
            return Ok(0);
        }
    }
}

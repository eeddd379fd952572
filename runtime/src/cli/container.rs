//! `brig container create|run|start|stop|rm|ls|logs|inspect`: containers from images.

use std::time::Duration;

use crate::cli::out;
use crate::engine::flags::RawFlags;
use crate::engine::Engine;

/// The flags of `container create` and `container run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The image: NAME[:TAG], an id, or an id prefix.
    #[arg(long)]
    pub image: String,
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
    /// The command (replaces the image's Cmd; the Entrypoint stays).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

impl RunArgs {
    fn raw(&self) -> RawFlags {
        RawFlags {
            image: self.image.clone(),
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
            command: self.command.clone(),
        }
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
    Logs { container: String },
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
                crate::cli::log::error(&e.to_string());
                failed = true;
            }
        }
    }
    Ok(i32::from(failed))
}

pub fn run(engine: &Engine, cmd: Cmd) -> anyhow::Result<i32> {
    match cmd {
        Cmd::Create(a) => {
            let f = a.raw().check().map_err(anyhow::Error::msg)?;
            if f.auto_remove {
                anyhow::bail!("--rm: only `container run` removes a container when it exits");
            }
            let rec = engine.create(&f)?;
            out!("{}", rec.id)?;
            Ok(0)
        }
        Cmd::Run { detach, args } => {
            let f = args.raw().check().map_err(anyhow::Error::msg)?;
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
                return Ok(engine.start_foreground(&r)?);
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
                        crate::engine::CStatus::Running | crate::engine::CStatus::Paused
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
                super::image::print_table(&rows)?;
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
        Cmd::Logs { container } => {
            let r = engine.find(&container)?;
            let data = crate::engine::read_log(engine, &r)?;
            use std::io::Write;
            let mut o = std::io::stdout().lock();
            match o.write_all(&data) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(0),
            }
        }
    }
}

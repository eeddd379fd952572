//! The runc-compatible command line. Each subcommand is a thin adapter over the
//! library, in a file of its own.

mod container;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod image;
mod kill;
mod list;
pub mod log;
pub mod network;
mod pause;
mod ps;
mod run;
mod spec;
mod start;
mod state;
mod update;
mod volume;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::container::Store;

#[derive(Debug, Parser)]
#[command(
    name = "brig",
    version,
    about = "An OCI container runtime with a runc-compatible CLI"
)]
pub struct Cli {
    /// Directory for container state (tmpfs recommended).
    #[arg(long, global = true, default_value = "/run/brig")]
    pub root: PathBuf,
    /// Also write errors (and with --debug, debug lines) to this file.
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Format of the --log file.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log what brig does, step by step.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Manage cgroups through systemd: not implemented, so refused.
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Where images, container snapshots and volumes live (`image`, `container`, `volume`).
    #[arg(long, global = true, env = "BRIG_IMAGE_ROOT", default_value = crate::image::store::DEFAULT_ROOT)]
    pub image_root: PathBuf,
    /// Where networks live (`network`, and `container` for --network/-p).
    #[command(flatten)]
    pub net_paths: network::Paths,
    /// runc's rootless mode (auto|true|false): only "false" or "auto" as root are accepted.
    #[arg(long, global = true)]
    pub rootless: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container; its process waits for `start`.
    Create(create::Args),
    /// Start the process of a created container.
    Start(start::Args),
    /// Print the OCI state of a container as JSON.
    State(state::Args),
    /// Send a signal to a container's init (default SIGTERM).
    Kill(kill::Args),
    /// Delete a container and what it holds.
    Delete(delete::Args),
    /// Run a new process in a running container.
    Exec(exec::Args),
    /// Create and start a container, wait for it, and delete it.
    Run(run::Args),
    /// List containers.
    #[command(alias = "ps-all")]
    List(list::Args),
    /// Freeze every process of a running container.
    Pause(pause::Args),
    /// Thaw a paused container.
    Resume(pause::Args),
    /// List the host pids of a container's processes.
    Ps(ps::Args),
    /// Change the resource limits of a container.
    Update(update::Args),
    /// Print the container's resource usage and OOM events as JSON lines.
    Events(events::Args),
    /// Write a default config.json.
    Spec(spec::Args),
    /// Print the OCI features document: what brig supports.
    Features(features::Args),
    /// Log in to a registry: check the credentials, store them in docker's config.json.
    Login(image::LoginArgs),
    /// Forget the credentials stored for a registry.
    Logout(image::LogoutArgs),
    /// Images: import, pull, push, ls, inspect, rm.
    #[command(subcommand)]
    Image(image::Cmd),
    /// Containers from images, docker-style: create, run, start, stop, rm, ls, logs.
    #[command(subcommand)]
    Container(container::Cmd),
    /// Named volumes: create, ls, rm.
    #[command(subcommand)]
    Volume(volume::Cmd),
    /// Manage container networks (CNI bridge networks, port publishing).
    Network(network::Args),
}

fn engine(
    image_root: &std::path::Path,
    net: &network::Paths,
    store: Store,
) -> anyhow::Result<crate::engine::Engine> {
    Ok(crate::engine::Engine::new(
        image_root,
        store,
        net.networks(),
    )?)
}

/// Print a line on stdout. A reader that went away (`brig list | head -1`) is not
/// an error; other write errors are.
macro_rules! out {
    ($($t:tt)*) => {
        $crate::cli::write_line(format_args!($($t)*))
    };
}
pub(crate) use out;

pub(crate) fn write_line(args: std::fmt::Arguments) -> anyhow::Result<()> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{args}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Run the CLI; returns the process exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    log::init(cli.log.as_deref(), cli.log_format, cli.debug);
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            // brig's errors carry their cause in their own message already; `{:#}`
            // would print it twice.
            log::error(&format!("{e}"));
            1
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    if cli.systemd_cgroup {
        anyhow::bail!(
            "--systemd-cgroup: brig does not manage cgroups through systemd; leave it out"
        );
    }
    match cli.rootless.as_deref() {
        None | Some("false") => {}
        Some("auto") if nix::unistd::geteuid().is_root() => {}
        Some(v) => anyhow::bail!("--rootless {v}: brig runs as root only"),
    }
    let store = Store::new(&cli.root);
    match cli.command {
        Command::Create(a) => create::run(&store, a),
        Command::Start(a) => start::run(&store, a),
        Command::State(a) => state::run(&store, a),
        Command::Kill(a) => kill::run(&store, a),
        Command::Delete(a) => delete::run(&store, a),
        Command::Exec(a) => exec::run(&store, a),
        Command::Run(a) => run::run(&store, a),
        Command::List(a) => list::run(&store, a),
        Command::Pause(a) => pause::pause(&store, a),
        Command::Resume(a) => pause::resume(&store, a),
        Command::Ps(a) => ps::run(&store, a),
        Command::Update(a) => update::run(&store, a),
        Command::Events(a) => events::run(&store, a),
        Command::Spec(a) => spec::run(a),
        Command::Features(a) => features::run(a),
        Command::Login(a) => image::login(a),
        Command::Logout(a) => image::logout(a),
        Command::Image(c) => image::run(&engine(&cli.image_root, &cli.net_paths, store)?, c),
        Command::Container(c) => {
            container::run(&engine(&cli.image_root, &cli.net_paths, store)?, c)
        }
        Command::Volume(c) => volume::run(&engine(&cli.image_root, &cli.net_paths, store)?, c),
        Command::Network(a) => network::run(&cli.net_paths, a),
    }
}

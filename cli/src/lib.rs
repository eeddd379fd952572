//! brig: the runc-compatible command line (and `brig container/image/volume/network`).
//! clap and output formatting only: each subcommand is a thin adapter over
//! brig-runtime (runc-level) or brig-engine (docker-level), in a file of its own.

mod container;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod image;
mod image_build;
mod kill;
mod list;
pub mod network;
mod pause;
mod ps;
mod run;
mod spec;
mod start;
mod state;
mod table;
mod update;
mod volume;

use std::path::PathBuf;

use brig_runtime::log;
use clap::{Parser, Subcommand, ValueEnum};

use brig_runtime::container::Store;

#[derive(Debug, Parser)]
#[command(
    name = "brig",
    about = "An OCI container runtime with a runc-compatible CLI"
)]
pub struct Cli {
    #[command(flatten)]
    pub globals: Globals,
    #[command(subcommand)]
    pub command: Command,
}

/// The runc-level commands alone, as one small command tree. `create`,
/// `start`, `run`, ... parse against it: building clap's tree for every
/// engine command too cost about 0.3 ms of each start (docs/benchmarks.md,
/// "where the time goes"). See [`parse`].
#[derive(Debug, Parser)]
#[command(
    name = "brig",
    about = "An OCI container runtime with a runc-compatible CLI"
)]
struct RuncCli {
    #[command(flatten)]
    globals: Globals,
    #[command(subcommand)]
    command: RuncCommand,
}

/// The flags before the command (runc's global flags).
#[derive(Debug, clap::Args)]
pub struct Globals {
    /// Print the version, the commit and the runtime-spec version (as runc).
    #[arg(short = 'v', long = "version")]
    pub version: bool,
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
    /// The engine's flags given before the command: refused with a hint
    /// (they go after `image`, `container`, `volume` or `network`).
    #[command(flatten)]
    pub misplaced: Misplaced,
    /// runc's rootless mode (auto|true|false): only "false" or "auto" as root are accepted.
    /// Without a value, after `spec`: write runc's rootless spec (`spec --rootless`).
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "")]
    pub rootless: Option<String>,
}

/// `--image-root`, `--network-root`, `--netns-dir` and `--cni-path` apply only
/// to the command groups that use them, and are taken after the group's name
/// (`brig container --image-root DIR ls`, or after the subcommand). Given
/// before the command they are refused, not ignored: `brig --image-root X
/// state ID` would otherwise look as if it meant something.
#[derive(Debug, Clone, clap::Args)]
pub struct Misplaced {
    #[arg(
        id = "misplaced_image_root",
        long = "image-root",
        hide = true,
        value_name = "DIR"
    )]
    image_root: Option<PathBuf>,
    #[arg(
        id = "misplaced_network_root",
        long = "network-root",
        hide = true,
        value_name = "DIR"
    )]
    network_root: Option<PathBuf>,
    #[arg(
        id = "misplaced_netns_dir",
        long = "netns-dir",
        hide = true,
        value_name = "DIR"
    )]
    netns_dir: Option<PathBuf>,
    #[arg(
        id = "misplaced_cni_path",
        long = "cni-path",
        hide = true,
        value_name = "PATH"
    )]
    cni_path: Option<String>,
}

impl Misplaced {
    fn check(&self) -> anyhow::Result<()> {
        let given = [
            (
                "--image-root",
                self.image_root.is_some(),
                "image, container or volume",
            ),
            (
                "--network-root",
                self.network_root.is_some(),
                "network or container",
            ),
            (
                "--netns-dir",
                self.netns_dir.is_some(),
                "network or container",
            ),
            (
                "--cni-path",
                self.cni_path.is_some(),
                "network or container",
            ),
        ];
        if let Some((flag, _, groups)) = given.iter().find(|(_, g, _)| *g) {
            let group = groups.split([' ', ',']).next().unwrap_or("container");
            anyhow::bail!(
                "{flag}: applies only to the {groups} commands: give it after the command group \
                 (e.g. `brig {group} {flag} DIR ls`), not before the command"
            );
        }
        Ok(())
    }
}

/// The image root: for `image`, `container` and `volume` (and their subcommands).
#[derive(Debug, Clone, clap::Args)]
pub struct ImageRoot {
    /// Where images, container snapshots and volumes live.
    #[arg(long, global = true, env = "BRIG_IMAGE_ROOT", default_value = brig_engine::image::store::DEFAULT_ROOT)]
    pub image_root: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ImageGroup {
    #[command(flatten)]
    pub root: ImageRoot,
    #[command(subcommand)]
    pub command: image::Cmd,
}

#[derive(Debug, clap::Args)]
pub struct ContainerGroup {
    #[command(flatten)]
    pub root: ImageRoot,
    /// Where networks live (for --network/-p).
    #[command(flatten)]
    pub net: network::Paths,
    #[command(subcommand)]
    pub command: container::Cmd,
}

#[derive(Debug, clap::Args)]
pub struct VolumeGroup {
    #[command(flatten)]
    pub root: ImageRoot,
    #[command(subcommand)]
    pub command: volume::Cmd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Runc(RuncCommand),
    /// Log in to a registry: check the credentials, store them in docker's config.json.
    Login(image::LoginArgs),
    /// Forget the credentials stored for a registry.
    Logout(image::LogoutArgs),
    /// Images: import, pull, push, build, ls, inspect, rm, tag, save, load.
    Image(ImageGroup),
    /// Containers from images, docker-style: create, run, start, stop, rm, ls, logs.
    Container(Box<ContainerGroup>),
    /// Named volumes: create, ls, rm.
    Volume(VolumeGroup),
    /// Manage container networks (CNI bridge networks, port publishing).
    Network(network::Args),
}

/// The runc-level commands: the lifecycle over a bundle (brig-runtime).
#[derive(Debug, Subcommand)]
pub enum RuncCommand {
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
}

/// The engine over `root`; `net` for the commands that attach networks (the
/// others never touch the networks, so they get the defaults).
fn engine(
    root: &ImageRoot,
    net: Option<&network::Paths>,
    store: Store,
) -> anyhow::Result<brig_engine::Engine> {
    let networks = net.map_or_else(brig_engine::network::Networks::system, |n| n.networks());
    Ok(brig_engine::Engine::new(&root.image_root, store, networks)?)
}

/// Print a line on stdout. A reader that went away (`brig list | head -1`) is not
/// an error; other write errors are.
macro_rules! out {
    ($($t:tt)*) => {
        $crate::write_line(format_args!($($t)*))
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

/// The runtime-spec version brig implements, for `--version` (runc prints
/// the one it was built against).
pub const SPEC_VERSION: &str = "1.2.1";

/// The global flags that take a value as the next word.
const GLOBAL_VALUE_FLAGS: &[&str] = &[
    "--root",
    "--log",
    "--log-format",
    "--rootless",
    "--image-root",
    "--network-root",
    "--netns-dir",
    "--cni-path",
];

/// The first word that is not a global flag (or its value): the command, if
/// any. `version` is true when `-v`/`--version` comes before it.
fn command_word(args: &[std::ffi::OsString]) -> (Option<&str>, bool) {
    let mut rest = args.iter().skip(1);
    while let Some(a) = rest.next() {
        match a.to_str() {
            Some("-v" | "--version") => return (None, true),
            Some(s) if GLOBAL_VALUE_FLAGS.contains(&s) => {
                rest.next();
            }
            Some(s) if s.starts_with('-') => {}
            word => return (word, false),
        }
    }
    (None, false)
}

/// The names (and aliases) of [`RuncCommand`]'s commands; a test keeps
/// them equal.
const RUNC_COMMANDS: &[&str] = &[
    "create", "start", "state", "kill", "delete", "exec", "run", "list", "ps-all", "pause",
    "resume", "ps", "update", "events", "spec", "features",
];

/// Parse the command line. A runc-level command parses against the small
/// tree of [`RuncCli`]; whatever that tree does not take (help, an error, a
/// misread word) is parsed again against the whole CLI, so help and errors
/// are always the whole CLI's.
fn parse(args: Vec<std::ffi::OsString>) -> Cli {
    if let (Some(word), _) = command_word(&args) {
        if RUNC_COMMANDS.contains(&word) {
            if let Ok(c) = RuncCli::try_parse_from(&args) {
                return Cli {
                    globals: c.globals,
                    command: Command::Runc(c.command),
                };
            }
        }
    }
    Cli::parse_from(args)
}

/// runc's layout: `runc version X`, `commit: ...`, `spec: ...`.
fn version_text() -> String {
    format!(
        "brig version {}\ncommit: {}\nspec: {SPEC_VERSION}",
        env!("CARGO_PKG_VERSION"),
        option_env!("BRIG_COMMIT").unwrap_or("unknown")
    )
}

/// Run the CLI; returns the process exit status.
///
/// Exit codes are runc's: 1 for brig's own errors, except in `exec`, where
/// the process's own status is the exit code and brig's errors give 255
/// (so that an engine can tell "exec failed" from "the program exited 1").
pub fn main() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if command_word(&args).1 {
        let _ = write_line(format_args!("{}", version_text()));
        return 0;
    }
    let cli = parse(args);
    let g = &cli.globals;
    log::init(g.log.as_deref(), g.log_format == LogFormat::Json, g.debug);
    let own_error_code = if matches!(cli.command, Command::Runc(RuncCommand::Exec(_))) {
        255
    } else {
        1
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            // brig's errors carry their cause in their own message already; `{:#}`
            // would print it twice.
            log::error(&format!("{e}"));
            own_error_code
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    let g = &cli.globals;
    g.misplaced.check()?;
    if g.systemd_cgroup {
        anyhow::bail!(
            "--systemd-cgroup: brig does not manage cgroups through systemd; leave it out"
        );
    }
    let spec_rootless = matches!(cli.command, Command::Runc(RuncCommand::Spec(_)))
        && g.rootless.as_deref() == Some("");
    match g.rootless.as_deref() {
        None | Some("false") => {}
        Some("") if spec_rootless => {}
        Some("") => anyhow::bail!("--rootless: give a value (auto, true or false)"),
        Some("auto") if nix::unistd::geteuid().is_root() => {}
        Some(v) => anyhow::bail!("--rootless {v}: brig runs as root only"),
    }
    let store = Store::new(&g.root);
    match cli.command {
        Command::Runc(c) => match c {
            RuncCommand::Create(a) => create::run(&store, a),
            RuncCommand::Start(a) => start::run(&store, a),
            RuncCommand::State(a) => state::run(&store, a),
            RuncCommand::Kill(a) => kill::run(&store, a),
            RuncCommand::Delete(a) => delete::run(&store, a),
            RuncCommand::Exec(a) => exec::run(&store, a),
            RuncCommand::Run(a) => run::run(&store, a),
            RuncCommand::List(a) => list::run(&store, a),
            RuncCommand::Pause(a) => pause::pause(&store, a),
            RuncCommand::Resume(a) => pause::resume(&store, a),
            RuncCommand::Ps(a) => ps::run(&store, a),
            RuncCommand::Update(a) => update::run(&store, a),
            RuncCommand::Events(a) => events::run(&store, a),
            RuncCommand::Spec(a) => spec::run(a, spec_rootless),
            RuncCommand::Features(a) => features::run(a),
        },
        Command::Login(a) => image::login(a),
        Command::Logout(a) => image::logout(a),
        Command::Image(g) => image::run(&engine(&g.root, None, store)?, g.command),
        Command::Container(g) => container::run(&engine(&g.root, Some(&g.net), store)?, g.command),
        Command::Volume(g) => volume::run(&engine(&g.root, None, store)?, g.command),
        Command::Network(a) => network::run(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_command_names_are_the_small_trees() {
        use clap::CommandFactory;
        let mut names: Vec<String> = RuncCli::command()
            .get_subcommands()
            .flat_map(|c| {
                std::iter::once(c.get_name().to_string())
                    .chain(c.get_all_aliases().map(str::to_string))
            })
            .collect();
        names.sort();
        let mut listed: Vec<String> = RUNC_COMMANDS.iter().map(|s| s.to_string()).collect();
        listed.sort();
        assert_eq!(names, listed);
    }

    fn argv(words: &[&str]) -> Vec<std::ffi::OsString> {
        words.iter().map(Into::into).collect()
    }

    #[test]
    fn the_command_word_skips_global_flags_and_their_values() {
        let w = |a: &[&str]| {
            let args = argv(a);
            let (word, version) = command_word(&args);
            (word.map(str::to_string), version)
        };
        let some = |s: &str| (Some(s.to_string()), false);
        assert_eq!(w(&["brig", "--root", "run", "state", "x"]), some("state"));
        assert_eq!(
            w(&["brig", "--debug", "--root=/r", "run", "x"]),
            some("run")
        );
        assert_eq!(w(&["brig", "--log", "f", "-v"]), (None, true));
        assert_eq!(w(&["brig", "image", "ls"]), some("image"));
        assert_eq!(w(&["brig"]), (None, false));
    }

    #[test]
    fn runc_level_commands_parse_as_with_the_whole_tree() {
        for a in [
            &[
                "brig", "--root", "/r", "--debug", "run", "-b", "/b", "--detach", "c1",
            ][..],
            &["brig", "kill", "--all", "c1", "KILL"],
            &["brig", "--log-format", "json", "exec", "-t", "c1", "sh"],
            &["brig", "--rootless", "false", "ps-all"],
        ] {
            let small = format!("{:?}", parse(argv(a)));
            let whole = format!("{:?}", Cli::try_parse_from(argv(a)).unwrap());
            assert_eq!(small, whole, "{a:?}");
        }
    }
}

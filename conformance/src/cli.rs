//! The command line: `brig-conformance run ...` and `brig-conformance list`.

use crate::report::{self, Format};
use crate::runner::{self, RunOptions};
use crate::suite::{run_suite, RuntimeSpec, SuiteOptions};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "brig-conformance",
    version,
    about = "Checks any runc-compatible OCI runtime for namespace isolation, cgroup enforcement, OOM semantics, overlay copy-on-write and lifecycle states"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run the checks against one or more runtimes.
    Run(RunArgs),
    /// List the checks.
    List {
        #[arg(long)]
        only: Vec<String>,
        #[arg(long)]
        skip: Vec<String>,
        /// `table` (default) or `json`.
        #[arg(long, value_enum, default_value = "table")]
        format: ListFormat,
    },
    /// Print the coverage map of runtime-spec v1.1.0: every normative statement and the checks
    /// that test it, with counts per file and level.
    Coverage {
        /// `text` (default) or `markdown` (the content of docs/spec-coverage.md).
        #[arg(long, value_enum, default_value = "text")]
        format: CoverageFormat,
    },
    /// Mutation testing of the suite: run it against a runtime wrapped by brig-mutant, once per
    /// fault, and report which faults some check caught.
    Mutants(crate::mutants::MutantsArgs),
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum CoverageFormat {
    Text,
    Markdown,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// A runtime binary (path, or a name looked up on PATH). Repeat to compare runtimes.
    #[arg(long = "runtime", required_unless_present = "path_runtimes")]
    pub runtime: Vec<PathBuf>,
    /// Also test each of runc, crun and youki that is on PATH (after the --runtime ones).
    #[arg(long)]
    pub path_runtimes: bool,
    /// A global argument for the runtime given just before it (repeatable), for example
    /// `--runtime crun --runtime-arg=--cgroup-manager=cgroupfs`.
    #[arg(long = "runtime-arg", allow_hyphen_values = true)]
    pub runtime_arg: Vec<String>,
    /// Run only checks whose id matches one of these globs (`ns.*`).
    #[arg(long)]
    pub only: Vec<String>,
    /// Leave out checks whose id matches one of these globs.
    #[arg(long)]
    pub skip: Vec<String>,
    #[arg(long, value_enum, default_value = "tap")]
    pub format: Format,
    /// Also write the report (in --format) to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// How many checks run at once (default: the number of cpus).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Keep the bundles and outputs of failed checks and print where.
    #[arg(long)]
    pub keep_failed: bool,
    /// Where the base rootfs is cached.
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Parent directory of the run's scratch directory.
    #[arg(long, default_value = "/tmp")]
    pub scratch_dir: PathBuf,
    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The runc-compatible runtimes `--path-runtimes` looks for.
pub const PATH_RUNTIMES: [&str; 3] = ["runc", "crun", "youki"];

/// Pairs each `--runtime-arg` with the `--runtime` given before it on the command line.
fn runtime_specs(m: &clap::ArgMatches, args: &RunArgs) -> anyhow::Result<Vec<RuntimeSpec>> {
    let rt_idx: Vec<usize> = m
        .indices_of("runtime")
        .map(|i| i.collect())
        .unwrap_or_default();
    let arg_idx: Vec<usize> = m
        .indices_of("runtime_arg")
        .map(|i| i.collect())
        .unwrap_or_default();
    let mut specs: Vec<RuntimeSpec> = args
        .runtime
        .iter()
        .map(|b| RuntimeSpec {
            binary: b.clone(),
            args: Vec::new(),
        })
        .collect();
    for (value, at) in args.runtime_arg.iter().zip(arg_idx) {
        let Some(owner) = rt_idx.iter().rposition(|i| *i < at) else {
            anyhow::bail!("--runtime-arg {value:?} must come after the --runtime it belongs to");
        };
        specs[owner].args.push(value.clone());
    }
    if args.path_runtimes {
        for name in PATH_RUNTIMES {
            let Ok(found) = crate::suite::resolve_binary(std::path::Path::new(name)) else {
                continue;
            };
            let already = specs.iter().any(|s| {
                crate::suite::resolve_binary(&s.binary)
                    .ok()
                    .and_then(|b| b.canonicalize().ok())
                    == found.canonicalize().ok()
            });
            if !already {
                specs.push(RuntimeSpec {
                    binary: found,
                    args: Vec::new(),
                });
            }
        }
        anyhow::ensure!(
            !specs.is_empty(),
            "--path-runtimes: none of {PATH_RUNTIMES:?} is on PATH"
        );
    }
    Ok(specs)
}

pub fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match cli.cmd {
        Cmd::List { only, skip, format } => {
            match runner::select(crate::checks::all(), &only, &skip) {
                Ok(checks) => {
                    print!(
                        "{}",
                        crate::checks::render_list(&checks, matches!(format, ListFormat::Json))
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("brig-conformance: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Coverage { format } => {
            let rows = crate::coverage::rows();
            match format {
                CoverageFormat::Text => print!("{}", crate::coverage::render_text(&rows)),
                CoverageFormat::Markdown => print!("{}", crate::coverage::render_markdown(&rows)),
            }
            ExitCode::SUCCESS
        }
        Cmd::Mutants(args) => match crate::mutants::main(args) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("brig-conformance: {e:#}");
                ExitCode::from(2)
            }
        },
        Cmd::Run(args) => {
            let sub = matches
                .subcommand_matches("run")
                .expect("the run subcommand was parsed");
            match run(sub, args) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("brig-conformance: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

/// Returns whether every applicable MUST check passed.
fn run(m: &clap::ArgMatches, args: RunArgs) -> anyhow::Result<bool> {
    let runtimes = runtime_specs(m, &args)?;
    let checks = runner::select(crate::checks::all(), &args.only, &args.skip)?;
    let mut run_opts = RunOptions {
        keep_failed: args.keep_failed,
        progress: !args.quiet,
        ..RunOptions::default()
    };
    if let Some(j) = args.jobs {
        anyhow::ensure!(j > 0, "--jobs must be at least 1");
        run_opts.jobs = j;
    }
    let opts = SuiteOptions {
        runtimes,
        checks,
        run: run_opts,
        cache_dir: args
            .cache_dir
            .unwrap_or_else(crate::setup::default_cache_dir),
        scratch_parent: args.scratch_dir,
    };
    let quiet = args.quiet;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut opts = opts;
    opts.run.interrupt = Some(rx.clone());
    let report = rt.block_on(async move {
        // Ctrl-C stops the checks in flight, cleans up after them and still prints the report.
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("brig-conformance: interrupted, cleaning up");
                let _ = tx.send(true);
            }
        });
        run_suite(opts, &mut |s| {
            if !quiet {
                eprintln!("brig-conformance: {s}");
            }
        })
        .await
    })?;
    let text = report::render(&report, args.format);
    print!("{text}");
    if let Some(p) = &args.report {
        std::fs::write(p, &text)
            .map_err(|e| anyhow::anyhow!("writing report {}: {e}", p.display()))?;
    }
    anyhow::ensure!(!*rx.borrow(), "interrupted: the report above is incomplete");
    Ok(report.all_must_pass())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(argv: &[&str]) -> anyhow::Result<Vec<RuntimeSpec>> {
        let m = Cli::command().try_get_matches_from(argv)?;
        let cli = Cli::from_arg_matches(&m)?;
        let Cmd::Run(args) = cli.cmd else {
            panic!("not run")
        };
        runtime_specs(m.subcommand_matches("run").unwrap(), &args)
    }

    #[test]
    fn runtime_args_belong_to_the_runtime_before_them() {
        let s = specs(&[
            "brig-conformance",
            "run",
            "--runtime",
            "runc",
            "--runtime",
            "crun",
            "--runtime-arg=--cgroup-manager=cgroupfs",
            "--runtime-arg",
            "--debug",
        ])
        .unwrap();
        assert!(s[0].args.is_empty());
        assert_eq!(s[1].args, ["--cgroup-manager=cgroupfs", "--debug"]);
    }

    #[test]
    fn a_runtime_arg_before_any_runtime_is_an_error() {
        let e = specs(&[
            "brig-conformance",
            "run",
            "--runtime-arg=--x",
            "--runtime",
            "runc",
        ]);
        assert!(e.is_err());
    }
}

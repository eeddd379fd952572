//! `brig-vm`: runs cells of the VM matrix by hand, against any runtimes, and prints the table
//! that docs/vm-matrix.md holds.

use anyhow::{bail, Result};
use brig_vm_tests::kernel::{self, Mode};
use brig_vm_tests::matrix::{self, progress, CellResult, SuiteRun, VmConfig};
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::sync::Mutex;

#[derive(Parser, Debug)]
#[command(
    name = "brig-vm",
    about = "Boots Debian kernels in QEMU and runs brig-conformance inside"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Boot the selected cells (default: every kernel of the list in each of its modes).
    Run {
        /// Kernel names from the list (vm-tests/kernels or $BRIG_VM_KERNELS); repeatable.
        #[arg(long)]
        kernel: Vec<String>,
        /// Cgroup modes (v2, v1, hybrid); repeatable. Default: each kernel's own modes.
        #[arg(long)]
        mode: Vec<String>,
        /// Runtimes to test in the guest: `brig` (the static build of this workspace), or a
        /// name on PATH or a path (copied in with its shared libraries). Default: brig.
        #[arg(long)]
        runtime: Vec<String>,
        /// A global argument for the runtime given just before it.
        #[arg(long = "runtime-arg", allow_hyphen_values = true)]
        runtime_arg: Vec<String>,
        #[arg(long)]
        only: Vec<String>,
        #[arg(long)]
        skip: Vec<String>,
        /// Checks at once in the guest (default: its cpus).
        #[arg(long)]
        jobs: Option<usize>,
        /// Cells booted at once (default: the host's cpus).
        #[arg(long)]
        parallel: Option<usize>,
    },
    /// Print the kernel list and the package each entry resolves to.
    Kernels,
}

fn main() -> ExitCode {
    let m = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&m).unwrap_or_else(|e| e.exit());
    let run_matches = m.subcommand_matches("run");
    match run(cli, run_matches) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("brig-vm: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli, m: Option<&clap::ArgMatches>) -> Result<bool> {
    match cli.cmd {
        Cmd::Kernels => {
            for k in kernel::list()? {
                let p = matrix::prepared_kernel(&k)?;
                println!(
                    "{}\t{}\t{}\t{}",
                    k.name,
                    p.kernel.origin,
                    p.kernel.release,
                    k.modes
                        .iter()
                        .map(|m| m.name())
                        .collect::<Vec<_>>()
                        .join(",")
                );
            }
            Ok(true)
        }
        Cmd::Run {
            kernel: names,
            mode,
            runtime,
            runtime_arg,
            only,
            skip,
            jobs,
            parallel,
        } => {
            let list = kernel::list()?;
            for n in &names {
                if !list.iter().any(|k| &k.name == n) {
                    bail!("no kernel {n} in the list");
                }
            }
            let modes: Vec<Mode> = mode.iter().map(|s| Mode::parse(s)).collect::<Result<_>>()?;
            let mut cells = Vec::new();
            for k in list
                .iter()
                .filter(|k| names.is_empty() || names.contains(&k.name))
            {
                let ms = if modes.is_empty() {
                    k.modes.clone()
                } else {
                    modes.clone()
                };
                for md in ms {
                    cells.push((k.clone(), md));
                }
            }
            // Pair each --runtime-arg with the --runtime before it.
            let mut runtime_args = Vec::new();
            if let Some(m) = m {
                let rt_idx: Vec<usize> = m
                    .indices_of("runtime")
                    .map(|i| i.collect())
                    .unwrap_or_default();
                let arg_idx: Vec<usize> = m
                    .indices_of("runtime_arg")
                    .map(|i| i.collect())
                    .unwrap_or_default();
                for (v, at) in runtime_arg.iter().zip(arg_idx) {
                    let Some(owner) = rt_idx.iter().rposition(|i| *i < at) else {
                        bail!("--runtime-arg {v:?} must come after the --runtime it belongs to");
                    };
                    runtime_args.push((owner, v.clone()));
                }
            }
            let suite = SuiteRun {
                runtimes: if runtime.is_empty() {
                    vec!["brig".into()]
                } else {
                    runtime
                },
                runtime_args,
                only,
                skip,
                jobs,
            };
            let vm = VmConfig::from_env()?;
            let parallel = parallel
                .unwrap_or_else(|| {
                    std::thread::available_parallelism()
                        .map(|n| n.get())
                        .unwrap_or(1)
                })
                .max(1);
            let queue = Mutex::new(cells.clone().into_iter().enumerate().collect::<Vec<_>>());
            let results: Mutex<Vec<(usize, Result<CellResult>)>> = Mutex::new(Vec::new());
            std::thread::scope(|s| {
                for _ in 0..parallel.min(cells.len()) {
                    s.spawn(|| loop {
                        let Some((i, (k, md))) = queue.lock().unwrap().pop() else {
                            break;
                        };
                        let r = matrix::run_cell(&k, md, &suite, &vm);
                        match &r {
                            Ok(c) => {
                                progress(&c.summary_line());
                                let _ = matrix::save_report(c);
                            }
                            Err(e) => progress(&format!("{}/{md}: FAILED: {e:#}", k.name)),
                        }
                        results.lock().unwrap().push((i, r));
                    });
                }
            });
            let mut results = results.into_inner().unwrap();
            results.sort_by_key(|(i, _)| *i);
            let mut ok = true;
            println!("| kernel | package | mode | runtime | passed | failed (MUST) | skipped | boot s | suite s |");
            println!("|---|---|---|---|---|---|---|---|---|");
            let mut failures = Vec::new();
            for (i, r) in &results {
                let (k, md) = &cells[*i];
                match r {
                    Ok(c) => {
                        for rt in &c.report.runtimes {
                            println!(
                                "| {} | {} | {} | {} | {} | {} ({}) | {} | {:.1} | {:.1} |",
                                k.name,
                                c.kernel.origin,
                                md,
                                rt.name,
                                rt.pass,
                                rt.fail,
                                rt.must_fail,
                                rt.skip,
                                c.boot.boot_seconds().unwrap_or(f64::NAN),
                                c.boot.payload_seconds().unwrap_or(f64::NAN),
                            );
                            for f in &rt.failures {
                                failures.push(format!(
                                    "- {}/{md} {} `{}` ({}): {}",
                                    k.name, rt.name, f.id, f.level, f.reason
                                ));
                            }
                        }
                        if !c.must_failures().is_empty() {
                            ok = false;
                        }
                    }
                    Err(_) => {
                        ok = false;
                        println!("| {} | | {md} | | no report | | | | |", k.name);
                    }
                }
            }
            if !failures.is_empty() {
                println!("\nFailures:\n{}", failures.join("\n"));
            }
            Ok(ok)
        }
    }
}

//! Mutation testing of the suite. `brig-mutant` (src/bin/brig-mutant.rs) wraps a real runtime
//! and injects one named fault: it rewrites config.json at `create`/`run`, or bends an answer of
//! the command line (`state` output, an exit code). `brig-conformance mutants` runs the checks
//! of each fault's area against the mutant; a fault is caught when some check that passes on the
//! real runtime fails on the mutant. A surviving fault is a missing check.

use crate::report::Outcome;
use crate::runner::{self, RunOptions};
use crate::suite::{run_suite, RuntimeSpec, SuiteOptions};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// How a fault is applied.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Rewrites config.json before `create` or `run` reaches the real runtime.
    Config(fn(&mut Value)),
    /// Changes what the command line answers.
    Cli,
}

#[derive(Clone, Copy, Debug)]
pub struct Fault {
    pub name: &'static str,
    /// The area of the coverage map it breaks.
    pub area: &'static str,
    pub what: &'static str,
    /// The checks relevant to it (globs); only these run against the mutant.
    pub checks: &'static [&'static str],
    pub kind: Kind,
}

fn ns_remove(c: &mut Value, kind: &str) {
    if let Some(a) = c["linux"]["namespaces"].as_array_mut() {
        a.retain(|n| n["type"] != kind);
    }
}

fn ns_add(c: &mut Value, kind: &str) {
    if let Some(a) = c["linux"]["namespaces"].as_array_mut() {
        if !a.iter().any(|n| n["type"] == kind) {
            a.push(json!({"type": kind}));
        }
    }
}

fn remove(c: &mut Value, path: &[&str]) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut cur = c;
    for p in parents {
        cur = match cur.get_mut(*p) {
            Some(v) => v,
            None => return,
        };
    }
    if let Some(o) = cur.as_object_mut() {
        o.remove(*last);
    }
}

fn for_caps(c: &mut Value, f: impl Fn(&mut Vec<Value>)) {
    if let Some(caps) = c["process"]["capabilities"].as_object_mut() {
        for (_, set) in caps.iter_mut() {
            if let Some(a) = set.as_array_mut() {
                f(a);
            }
        }
    }
}

fn mounts(c: &mut Value) -> Option<&mut Vec<Value>> {
    c["mounts"].as_array_mut()
}

fn hooks(c: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    c["hooks"].as_object_mut()
}

/// The number of mounts in the suite's default config (bundle.rs); mounts after them are the
/// checks' own.
const DEFAULT_MOUNTS: usize = 7;

macro_rules! fault {
    ($name:literal, $area:literal, $what:literal, [$($g:literal),+], cli) => {
        Fault { name: $name, area: $area, what: $what, checks: &[$($g),+], kind: Kind::Cli }
    };
    ($name:literal, $area:literal, $what:literal, [$($g:literal),+], $f:expr) => {
        Fault { name: $name, area: $area, what: $what, checks: &[$($g),+], kind: Kind::Config($f) }
    };
}

pub const FAULTS: &[Fault] = &[
    fault!(
        "drop-memory-limit",
        "config-linux.md#memory",
        "removes linux.resources.memory.limit",
        ["cgroup.memory.*", "oom.*"],
        |c| remove(c, &["linux", "resources", "memory", "limit"])
    ),
    fault!(
        "ignore-pids-limit",
        "config-linux.md#pids",
        "removes linux.resources.pids",
        ["cgroup.pids.*"],
        |c| remove(c, &["linux", "resources", "pids"])
    ),
    fault!(
        "drop-cpu-quota",
        "config-linux.md#cpu",
        "removes cpu quota and period",
        ["cgroup.cpu.*"],
        |c| {
            remove(c, &["linux", "resources", "cpu", "quota"]);
            remove(c, &["linux", "resources", "cpu", "period"]);
        }
    ),
    fault!(
        "drop-cpuset",
        "config-linux.md#cpu",
        "removes cpu.cpus and cpu.mems",
        ["cgroup.cpuset.*"],
        |c| {
            remove(c, &["linux", "resources", "cpu", "cpus"]);
            remove(c, &["linux", "resources", "cpu", "mems"]);
        }
    ),
    fault!(
        "drop-blkio",
        "config-linux.md#block-io",
        "removes linux.resources.blockIO",
        ["cgroup.blkio.*"],
        |c| remove(c, &["linux", "resources", "blockIO"])
    ),
    fault!(
        "drop-network-resources",
        "config-linux.md#network",
        "removes linux.resources.network",
        ["cgroup.net-*"],
        |c| remove(c, &["linux", "resources", "network"])
    ),
    fault!(
        "drop-device-rules",
        "config-linux.md#allowed-device-list",
        "replaces the device rules with allow-all",
        ["cgroup.devices.*", "linux.devices.cgroup-deny-wins"],
        |c| c["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}])
    ),
    fault!(
        "wrong-cgroups-path",
        "config-linux.md#cgroups-path",
        "appends -mutant to cgroupsPath",
        ["cgroup.path.*"],
        |c| {
            if let Some(p) = c["linux"]["cgroupsPath"].as_str() {
                c["linux"]["cgroupsPath"] = json!(format!("{p}-mutant"));
            }
        }
    ),
    fault!(
        "skip-ns-pid",
        "config-linux.md#namespaces",
        "leaves out the pid namespace",
        ["ns.pid.*", "ns.all.*"],
        |c| ns_remove(c, "pid")
    ),
    fault!(
        "skip-ns-network",
        "config-linux.md#namespaces",
        "leaves out the network namespace",
        ["ns.net.*", "ns.all.*"],
        |c| ns_remove(c, "network")
    ),
    fault!(
        "skip-ns-ipc",
        "config-linux.md#namespaces",
        "leaves out the ipc namespace",
        ["ns.ipc.*", "ns.all.*"],
        |c| ns_remove(c, "ipc")
    ),
    fault!(
        "skip-ns-uts",
        "config-linux.md#namespaces",
        "leaves out the uts namespace (and the hostname it needs)",
        ["ns.uts.*", "ns.all.*"],
        |c| {
            ns_remove(c, "uts");
            remove(c, &["hostname"]);
            remove(c, &["domainname"]);
        }
    ),
    fault!(
        "skip-ns-mount",
        "config-linux.md#namespaces",
        "leaves out the mount namespace",
        ["ns.mnt.*", "ns.all.*"],
        |c| ns_remove(c, "mount")
    ),
    fault!(
        "skip-ns-user",
        "config-linux.md#namespaces",
        "leaves out the user namespace and its mappings",
        [
            "ns.user.uid-map",
            "ns.user.gid-map",
            "ns.user.file-owner-mapped"
        ],
        |c| {
            ns_remove(c, "user");
            remove(c, &["linux", "uidMappings"]);
            remove(c, &["linux", "gidMappings"]);
        }
    ),
    fault!(
        "skip-ns-cgroup",
        "config-linux.md#namespaces",
        "leaves out the cgroup namespace",
        ["ns.cgroup.*"],
        |c| ns_remove(c, "cgroup")
    ),
    fault!(
        "add-ns-uts",
        "config-linux.md#namespaces",
        "adds a uts namespace the config left out",
        ["ns.absent.*"],
        |c| ns_add(c, "uts")
    ),
    fault!(
        "add-ns-ipc",
        "config-linux.md#namespaces",
        "adds an ipc namespace the config left out",
        ["ns.absent.*"],
        |c| ns_add(c, "ipc")
    ),
    fault!(
        "wrong-uid-map",
        "config-linux.md#user-namespace-mappings",
        "shifts the uid mapping's hostID by one",
        ["ns.user.*"],
        |c| {
            if let Some(m) = c["linux"]["uidMappings"][0]["hostID"].as_u64() {
                c["linux"]["uidMappings"][0]["hostID"] = json!(m + 1);
            }
        }
    ),
    fault!(
        "unmask-paths",
        "config-linux.md#masked-paths",
        "empties maskedPaths",
        ["linux.masked-paths.*"],
        |c| c["linux"]["maskedPaths"] = json!([])
    ),
    fault!(
        "drop-readonly-paths",
        "config-linux.md#readonly-paths",
        "empties readonlyPaths",
        ["linux.readonly-paths.*"],
        |c| c["linux"]["readonlyPaths"] = json!([])
    ),
    fault!(
        "skip-root-readonly",
        "config.md#root",
        "sets root.readonly false",
        ["linux.root.*"],
        |c| c["root"]["readonly"] = json!(false)
    ),
    fault!(
        "drop-sysctl",
        "config-linux.md#sysctl",
        "removes linux.sysctl",
        ["linux.sysctl.*"],
        |c| remove(c, &["linux", "sysctl"])
    ),
    fault!(
        "drop-rootfs-propagation",
        "config-linux.md#rootfs-mount-propagation",
        "removes rootfsPropagation",
        ["linux.rootfs-propagation.*"],
        |c| remove(c, &["linux", "rootfsPropagation"])
    ),
    fault!(
        "drop-devices",
        "config-linux.md#devices",
        "removes linux.devices",
        ["linux.devices.*"],
        |c| remove(c, &["linux", "devices"])
    ),
    fault!(
        "drop-seccomp",
        "config-linux.md#seccomp",
        "removes linux.seccomp",
        ["linux.seccomp.*"],
        |c| remove(c, &["linux", "seccomp"])
    ),
    fault!(
        "drop-bind-mounts",
        "config.md#mounts",
        "removes the checks' bind mounts",
        [
            "ns.mnt.*",
            "lifecycle.delete.keeps-foreign",
            "ns.user.bind-private-source"
        ],
        |c| {
            if let Some(m) = mounts(c) {
                m.retain(|m| m["type"] != "bind");
            }
        }
    ),
    fault!(
        "reverse-mounts",
        "config.md#mounts",
        "mounts the checks' own mounts in reverse order",
        ["linux.mounts.order"],
        |c| {
            if let Some(m) = mounts(c) {
                if m.len() > DEFAULT_MOUNTS {
                    m[DEFAULT_MOUNTS..].reverse();
                }
            }
        }
    ),
    fault!(
        "drop-ro-option",
        "config.md#linux-mount-options",
        "strips ro from every mount",
        ["ns.mnt.bind-readonly", "linux.mounts.*"],
        |c| {
            if let Some(m) = mounts(c) {
                for x in m {
                    if let Some(o) = x["options"].as_array_mut() {
                        o.retain(|o| o != "ro" && o != "rro");
                    }
                }
            }
        }
    ),
    fault!(
        "drop-cwd",
        "config.md#process",
        "sets process.cwd to /",
        ["process.cwd.*"],
        |c| c["process"]["cwd"] = json!("/")
    ),
    fault!(
        "drop-env",
        "config.md#process",
        "keeps only PATH of process.env",
        ["process.env.*", "lifecycle.create.config-snapshot"],
        |c| {
            if let Some(e) = c["process"]["env"].as_array_mut() {
                e.retain(|v| v.as_str().is_some_and(|s| s.starts_with("PATH=")));
            }
        }
    ),
    fault!(
        "drop-uid-gid",
        "config.md#posix-platform-user",
        "runs as uid 0, gid 0 without additional groups",
        ["process.user.*"],
        |c| c["process"]["user"] = json!({"uid": 0, "gid": 0})
    ),
    fault!(
        "drop-rlimits",
        "config.md#posix-process",
        "removes process.rlimits",
        ["process.rlimits.*"],
        |c| remove(c, &["process", "rlimits"])
    ),
    fault!(
        "drop-capability",
        "config.md#linux-process",
        "drops CAP_NET_BIND_SERVICE from every set",
        ["process.caps.*"],
        |c| for_caps(c, |a| a.retain(|x| x != "CAP_NET_BIND_SERVICE"))
    ),
    fault!(
        "add-capability",
        "config.md#linux-process",
        "adds CAP_SYS_ADMIN to every set",
        ["process.caps.*"],
        |c| for_caps(c, |a| a.push(json!("CAP_SYS_ADMIN")))
    ),
    fault!(
        "drop-ambient",
        "config.md#linux-process",
        "removes the inheritable and ambient sets",
        ["process.caps.*"],
        |c| {
            remove(c, &["process", "capabilities", "ambient"]);
            remove(c, &["process", "capabilities", "inheritable"]);
        }
    ),
    fault!(
        "nnp-off",
        "config.md#linux-process",
        "sets noNewPrivileges false",
        ["process.no-new-privileges.*"],
        |c| c["process"]["noNewPrivileges"] = json!(false)
    ),
    fault!(
        "drop-oom-score-adj",
        "config.md#linux-process",
        "removes oomScoreAdj",
        ["oom.score-adj.*"],
        |c| remove(c, &["process", "oomScoreAdj"])
    ),
    fault!(
        "set-oom-score-adj",
        "config.md#linux-process",
        "sets oomScoreAdj 500 when the config leaves it out",
        ["oom.score-adj.*"],
        |c| {
            if c["process"].get("oomScoreAdj").is_none() {
                c["process"]["oomScoreAdj"] = json!(500);
            }
        }
    ),
    fault!(
        "wrong-hostname",
        "config.md#hostname",
        "sets hostname to mutant",
        ["ns.uts.*"],
        |c| {
            if c.get("hostname").is_some() {
                c["hostname"] = json!("mutant");
            }
        }
    ),
    fault!(
        "drop-console",
        "runc-cli#terminal",
        "sets process.terminal false",
        ["process.terminal.*"],
        |c| c["process"]["terminal"] = json!(false)
    ),
    fault!(
        "drop-domainname",
        "config.md#domainname",
        "removes domainname",
        ["ns.uts.domainname"],
        |c| remove(c, &["domainname"])
    ),
    fault!(
        "drop-annotations",
        "runtime.md#state",
        "removes annotations",
        ["lifecycle.state.*"],
        |c| remove(c, &["annotations"])
    ),
    fault!(
        "reverse-hooks",
        "config.md#posix-platform-hooks",
        "runs the hooks of each kind in reverse order",
        ["lifecycle.hooks.*"],
        |c| {
            if let Some(h) = hooks(c) {
                for (_, v) in h.iter_mut() {
                    if let Some(a) = v.as_array_mut() {
                        a.reverse();
                    }
                }
            }
        }
    ),
    fault!(
        "hooks-out-of-order",
        "config.md#posix-platform-hooks",
        "runs the poststart hooks as createRuntime hooks",
        ["lifecycle.hooks.*"],
        |c| {
            if let Some(h) = hooks(c) {
                if let Some(ps) = h.remove("poststart") {
                    let mut cr = h
                        .remove("createRuntime")
                        .and_then(|v| v.as_array().cloned())
                        .unwrap_or_default();
                    cr.extend(ps.as_array().cloned().unwrap_or_default());
                    h.insert("createRuntime".into(), json!(cr));
                }
            }
        }
    ),
    fault!(
        "drop-hook-env",
        "config.md#posix-platform-hooks",
        "removes env from every hook",
        ["lifecycle.hooks.*"],
        |c| {
            if let Some(h) = hooks(c) {
                for (_, v) in h.iter_mut() {
                    for x in v.as_array_mut().into_iter().flatten() {
                        if let Some(o) = x.as_object_mut() {
                            o.remove("env");
                        }
                    }
                }
            }
        }
    ),
    fault!(
        "drop-failing-hook",
        "runtime.md#lifecycle",
        "removes hooks run with the fail argument",
        ["lifecycle.hooks.*"],
        |c| {
            if let Some(h) = hooks(c) {
                for (_, v) in h.iter_mut() {
                    if let Some(a) = v.as_array_mut() {
                        a.retain(|x| !x["args"].to_string().contains("\"fail\""));
                    }
                }
            }
        }
    ),
    fault!(
        "leak-fd",
        "runtime-linux.md#file-descriptors",
        "hands the container an extra open fd (--preserve-fds 1 with /etc/hostname on fd 3)",
        ["process.fds.*", "lifecycle.hooks.no-host-fd"],
        cli
    ),
    fault!(
        "state-running-when-stopped",
        "runtime.md#state",
        "state reports running for a stopped container",
        ["lifecycle.exit.*", "lifecycle.kill.*", "oom.state.*"],
        cli
    ),
    fault!(
        "state-wrong-pid",
        "runtime.md#state",
        "state reports the pid plus one",
        ["lifecycle.state.*"],
        cli
    ),
    fault!(
        "oom-exit-0",
        "runtime.md#kill",
        "run exits 0 instead of 137 after an OOM kill",
        ["oom.run.*"],
        cli
    ),
    fault!(
        "ignore-kill",
        "runtime.md#kill",
        "kill exits 0 without sending the signal",
        ["lifecycle.kill.*"],
        cli
    ),
    fault!(
        "refuse-signal-zero",
        "runtime.md#kill",
        "kill with signal 0 is an error",
        ["lifecycle.kill.*"],
        cli
    ),
    fault!(
        "start-twice-ok",
        "runtime.md#start",
        "a failing start exits 0",
        ["lifecycle.error.*"],
        cli
    ),
    fault!(
        "delete-running-ok",
        "runtime.md#delete",
        "a failing delete exits 0",
        ["lifecycle.error.*"],
        cli
    ),
    fault!(
        "leave-cgroup",
        "runtime.md#delete",
        "delete leaves the container's memory cgroup behind",
        ["lifecycle.cleanup.*"],
        cli
    ),
];

pub fn find(name: &str) -> Option<&'static Fault> {
    FAULTS.iter().find(|f| f.name == name)
}

// ---------------------------------------------------------------- the wrapper's logic

/// The bundle directory of a `create`/`run` argv (after the subcommand), as runc reads it.
pub fn bundle_of(args: &[String]) -> PathBuf {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--bundle" || a == "-b" {
            if let Some(v) = it.next() {
                return PathBuf::from(v);
            }
        } else if let Some(v) = a.strip_prefix("--bundle=") {
            return PathBuf::from(v);
        }
    }
    PathBuf::from(".")
}

/// Rewrites the bundle's config.json with a config fault.
pub fn rewrite_config(bundle: &Path, f: fn(&mut Value)) -> std::io::Result<()> {
    let p = bundle.join("config.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    f(&mut v);
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap_or_default())
}

/// The index of the subcommand in the runtime's argv (after global options).
pub fn subcommand_index(args: &[String]) -> Option<usize> {
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if !a.starts_with('-') {
            return Some(i);
        }
        // Global options that take a separate value.
        if matches!(a.as_str(), "--root" | "--log" | "--log-format" | "--criu") {
            i += 1;
        }
        i += 1;
    }
    None
}

// ---------------------------------------------------------------- the runner

#[derive(clap::Args, Debug)]
pub struct MutantsArgs {
    /// The real runtime to wrap (a path or a name on PATH).
    #[arg(long)]
    pub runtime: PathBuf,
    /// Only the faults whose name matches one of these globs.
    #[arg(long)]
    pub only: Vec<String>,
    /// Run every check against each mutant instead of the fault's area only.
    #[arg(long)]
    pub all_checks: bool,
    #[arg(long)]
    pub jobs: Option<usize>,
    /// List the faults and exit.
    #[arg(long)]
    pub list: bool,
    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

fn mutant_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let cand = me.with_file_name("brig-mutant");
    anyhow::ensure!(
        cand.is_file(),
        "{} not found: build it with `cargo build -p brig-conformance --bins`",
        cand.display()
    );
    Ok(cand)
}

fn run_once(
    rt: &tokio::runtime::Runtime,
    spec: RuntimeSpec,
    checks: &[String],
    jobs: Option<usize>,
) -> anyhow::Result<BTreeMap<String, Outcome>> {
    let selected = runner::select(crate::checks::all(), checks, &[])?;
    let mut run = RunOptions {
        progress: false,
        ..RunOptions::default()
    };
    if let Some(j) = jobs {
        run.jobs = j;
    }
    let opts = SuiteOptions {
        runtimes: vec![spec],
        checks: selected,
        run,
        cache_dir: crate::setup::default_cache_dir(),
        scratch_parent: PathBuf::from("/tmp"),
    };
    let report = rt.block_on(run_suite(opts, &mut |_| {}))?;
    Ok(report
        .rows
        .iter()
        .map(|r| (r.id.clone(), r.results[0].result))
        .collect())
}

pub fn main(args: MutantsArgs) -> anyhow::Result<bool> {
    if args.list {
        for f in FAULTS {
            println!("{:28} {:45} {}", f.name, f.area, f.what);
        }
        println!("{} faults", FAULTS.len());
        return Ok(true);
    }
    let real = crate::suite::resolve_binary(&args.runtime)?;
    let mutant = mutant_binary()?;
    let set = {
        let mut b = globset::GlobSetBuilder::new();
        for g in &args.only {
            b.add(globset::Glob::new(g)?);
        }
        b.build()?
    };
    let faults: Vec<&Fault> = FAULTS
        .iter()
        .filter(|f| args.only.is_empty() || set.is_match(f.name))
        .collect();
    let area_checks = |f: &Fault| -> Vec<String> {
        if args.all_checks {
            Vec::new()
        } else {
            f.checks.iter().map(|s| s.to_string()).collect()
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let log = |s: &str| {
        if !args.quiet {
            eprintln!("brig-conformance mutants: {s}");
        }
    };
    // The baseline: which of the relevant checks pass on the real runtime.
    let mut union: BTreeSet<String> = BTreeSet::new();
    for f in &faults {
        union.extend(area_checks(f));
    }
    log(&format!(
        "baseline: {} against {}",
        if args.all_checks {
            "every check".to_string()
        } else {
            format!("{} check globs", union.len())
        },
        real.display()
    ));
    let baseline = run_once(
        &rt,
        RuntimeSpec {
            binary: real.clone(),
            args: Vec::new(),
        },
        &union.into_iter().collect::<Vec<_>>(),
        args.jobs,
    )?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| fault | area | caught by (passes on {}, fails on the mutant) |",
        real.display()
    );
    let _ = writeln!(out, "| --- | --- | --- |");
    let mut caught = 0;
    let mut not_applicable = 0;
    for f in &faults {
        // A fault can only be caught by a check that passes on the real runtime.
        let area = runner::select(crate::checks::all(), &area_checks(f), &[])?;
        let passing = area
            .iter()
            .filter(|c| baseline.get(c.id) == Some(&Outcome::Pass))
            .count();
        if passing == 0 {
            let why = if area
                .iter()
                .all(|c| baseline.get(c.id) == Some(&Outcome::Skip))
            {
                "every check of its area skips on this host"
            } else {
                "no check of its area passes on the real runtime"
            };
            not_applicable += 1;
            log(&format!("{}: not applicable: {why}", f.name));
            let _ = writeln!(out, "| {} | {} | n/a: {why} |", f.name, f.area);
            continue;
        }
        let spec = RuntimeSpec {
            binary: mutant.clone(),
            args: vec![
                format!("--mutant-runtime={}", real.display()),
                format!("--mutant-fault={}", f.name),
            ],
        };
        let res = run_once(&rt, spec, &area_checks(f), args.jobs)?;
        let by: Vec<&str> = res
            .iter()
            .filter(|(id, o)| **o == Outcome::Fail && baseline.get(*id) == Some(&Outcome::Pass))
            .map(|(id, _)| id.as_str())
            .collect();
        if by.is_empty() {
            log(&format!("{}: SURVIVED", f.name));
            let _ = writeln!(out, "| {} | {} | **survived** |", f.name, f.area);
        } else {
            caught += 1;
            log(&format!("{}: caught by {}", f.name, by.join(", ")));
            let _ = writeln!(out, "| {} | {} | {} |", f.name, f.area, by.join(", "));
        }
    }
    let _ = writeln!(
        out,
        "\nmutation score: {caught}/{} applicable faults caught ({not_applicable} of {} not applicable here){}",
        faults.len() - not_applicable,
        faults.len(),
        if args.all_checks {
            " (every check run against each mutant)"
        } else {
            " (each mutant run against the checks of its area only)"
        }
    );
    print!("{out}");
    Ok(caught == faults.len() - not_applicable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn forty_distinct_faults_each_with_checks_that_exist() {
        let mut names = HashSet::new();
        for f in FAULTS {
            assert!(names.insert(f.name), "duplicate fault {}", f.name);
            let globs: Vec<String> = f.checks.iter().map(|s| s.to_string()).collect();
            let sel = runner::select(crate::checks::all(), &globs, &[]).expect("globs");
            assert!(!sel.is_empty(), "fault {} names no existing check", f.name);
        }
        assert!(FAULTS.len() >= 40, "only {} faults", FAULTS.len());
    }

    #[test]
    fn config_faults_change_the_default_config() {
        let base = crate::bundle::default_config(Path::new("/r"), &["/probe".into()], "/x/y");
        for f in FAULTS {
            if let Kind::Config(rewrite) = f.kind {
                let mut v = base.clone();
                // Give the fault something to act on where the default config lacks it.
                v["linux"]["resources"]["memory"] = json!({"limit": 1});
                v["linux"]["resources"]["pids"] = json!({"limit": 1});
                v["linux"]["resources"]["cpu"] =
                    json!({"quota": 1, "period": 1, "cpus": "0", "mems": "0"});
                v["linux"]["resources"]["blockIO"] = json!({"weight": 10});
                v["linux"]["resources"]["network"] = json!({"classID": 1});
                v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1, "size": 1}]);
                v["linux"]["sysctl"] = json!({"a": "b"});
                v["linux"]["rootfsPropagation"] = json!("rslave");
                v["linux"]["devices"] = json!([]);
                v["linux"]["seccomp"] = json!({});
                v["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .extend([json!({"type": "user"}), json!({"type": "cgroup"})]);
                v["process"]["capabilities"]["ambient"] = json!(["CAP_KILL"]);
                v["process"]["oomScoreAdj"] = json!(1);
                v["process"]["cwd"] = json!("/tmp");
                v["process"]["user"] = json!({"uid": 1, "gid": 1});
                v["process"]["terminal"] = json!(true);
                v["domainname"] = json!("d");
                v["annotations"] = json!({"a": "b"});
                v["mounts"].as_array_mut().unwrap().extend([
                    json!({"destination": "/a", "type": "bind", "source": "/a", "options": ["rbind", "ro"]}),
                    json!({"destination": "/b", "type": "tmpfs", "source": "tmpfs"}),
                ]);
                v["hooks"] = json!({
                    "createRuntime": [{"path": "/a"}, {"path": "/b", "args": ["x", "fail"], "env": ["A=1"]}],
                    "poststart": [{"path": "/c"}],
                });
                let before = v.clone();
                let mut ns_without_ipc = before.clone();
                ns_without_ipc["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|n| n["type"] != "ipc" && n["type"] != "uts");
                if let Some(p) = ns_without_ipc["process"].as_object_mut() {
                    p.remove("oomScoreAdj");
                }
                let mut w = ns_without_ipc.clone();
                rewrite(&mut v);
                rewrite(&mut w);
                assert!(
                    v != before || w != ns_without_ipc,
                    "fault {} changes nothing",
                    f.name
                );
            }
        }
    }

    #[test]
    fn subcommand_and_bundle_are_found() {
        let a: Vec<String> = [
            "--root", "/r", "--log", "x", "create", "--bundle", "/b", "id",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let i = subcommand_index(&a).unwrap();
        assert_eq!(a[i], "create");
        assert_eq!(bundle_of(&a[i + 1..]), PathBuf::from("/b"));
    }
}

//! brig-mutant: a runc-compatible runtime that is a real one with one injected fault, for the
//! mutation testing of brig-conformance (`brig-conformance mutants`).
//!
//! `brig-mutant [GLOBAL OPTIONS] --mutant-runtime=PATH --mutant-fault=NAME SUBCOMMAND ...`
//! passes every call to PATH with the two --mutant options removed, and applies the fault NAME
//! (see `brig-conformance mutants --list --runtime x`).

use brig_conformance::mutants::{self, bundle_of, subcommand_index, Kind};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

fn die(msg: &str) -> ! {
    eprintln!("brig-mutant: {msg}");
    std::process::exit(2)
}

fn code(st: std::process::ExitStatus) -> i32 {
    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
}

fn main() {
    let mut real = None;
    let mut fault = None;
    let mut args: Vec<String> = Vec::new();
    for a in std::env::args().skip(1) {
        if let Some(v) = a.strip_prefix("--mutant-runtime=") {
            real = Some(v.to_string());
        } else if let Some(v) = a.strip_prefix("--mutant-fault=") {
            fault = Some(v.to_string());
        } else {
            args.push(a);
        }
    }
    let real = real.unwrap_or_else(|| die("--mutant-runtime=PATH is required"));
    let name = fault.unwrap_or_else(|| die("--mutant-fault=NAME is required"));
    let f = mutants::find(&name).unwrap_or_else(|| die(&format!("unknown fault {name}")));
    let sub_at = subcommand_index(&args);
    let sub = sub_at.map(|i| args[i].clone()).unwrap_or_default();
    let rest: Vec<String> = sub_at.map(|i| args[i + 1..].to_vec()).unwrap_or_default();
    let mut cmd = Command::new(&real);
    cmd.args(&args);
    match (f.kind, sub.as_str()) {
        (Kind::Config(rewrite), "create" | "run")
            if !rest.iter().any(|a| a == "--help" || a == "-h")
                && bundle_of(&rest).join("config.json").is_file() =>
        {
            if let Err(e) = mutants::rewrite_config(&bundle_of(&rest), rewrite) {
                die(&format!("rewriting config.json: {e}"));
            }
            let e = cmd.exec();
            die(&format!("exec {real}: {e}"));
        }
        (Kind::Config(_), _) => {
            let e = cmd.exec();
            die(&format!("exec {real}: {e}"));
        }
        (Kind::Cli, _) => {}
    }
    match (name.as_str(), sub.as_str()) {
        ("leak-fd", "create" | "run") => {
            let file = std::fs::File::open("/etc/hostname").unwrap_or_else(|e| die(&e.to_string()));
            use std::os::fd::IntoRawFd;
            let fd = file.into_raw_fd();
            let i = sub_at.expect("subcommand present");
            let mut a = args.clone();
            a.insert(i + 1, "--preserve-fds=1".into());
            let mut cmd = Command::new(&real);
            cmd.args(&a);
            // SAFETY: dup2 and fcntl in the child before exec, on fds we own.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::dup2(fd, 3) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::fcntl(3, libc::F_SETFD, 0);
                    Ok(())
                });
            }
            let e = cmd.exec();
            die(&format!("exec {real}: {e}"));
        }
        ("state-running-when-stopped" | "state-wrong-pid", "state") => {
            let out = cmd
                .stderr(Stdio::inherit())
                .output()
                .unwrap_or_else(|e| die(&e.to_string()));
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() {
                if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&text) {
                    if name == "state-running-when-stopped" && v["status"] == "stopped" {
                        v["status"] = serde_json::json!("running");
                    }
                    if name == "state-wrong-pid" {
                        if let Some(p) = v["pid"].as_i64().filter(|p| *p > 0) {
                            v["pid"] = serde_json::json!(p + 1);
                        }
                    }
                    text = serde_json::to_string_pretty(&v).unwrap_or(text);
                }
            }
            print!("{text}");
            std::process::exit(code(out.status));
        }
        ("oom-exit-0", "run") => {
            let st = cmd.status().unwrap_or_else(|e| die(&e.to_string()));
            let c = code(st);
            std::process::exit(if c == 137 { 0 } else { c });
        }
        ("ignore-kill", "kill") => std::process::exit(0),
        ("refuse-signal-zero", "kill") if rest.iter().any(|a| a == "0") => die("no such signal 0"),
        ("start-twice-ok", "start") | ("delete-running-ok", "delete") => {
            let st = cmd.status().unwrap_or_else(|e| die(&e.to_string()));
            let _ = st;
            std::process::exit(0);
        }
        ("leave-cgroup", "delete") => {
            // Note the container's cgroupsPath before it goes, and make its memory cgroup again.
            let id = rest
                .iter()
                .rfind(|a| !a.starts_with('-'))
                .cloned()
                .unwrap_or_default();
            let mut state_cmd = Command::new(&real);
            state_cmd
                .args(&args[..sub_at.unwrap_or(0)])
                .args(["state", &id]);
            let cg = state_cmd
                .output()
                .ok()
                .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
                .and_then(|s| s["bundle"].as_str().map(String::from))
                .and_then(|b| std::fs::read_to_string(format!("{b}/config.json")).ok())
                .and_then(|c| serde_json::from_str::<serde_json::Value>(&c).ok())
                .and_then(|c| c["linux"]["cgroupsPath"].as_str().map(String::from));
            let st = cmd.status().unwrap_or_else(|e| die(&e.to_string()));
            if let Some(p) = cg {
                for ctrl in ["memory", "pids", "cpu,cpuacct"] {
                    let _ = std::fs::create_dir_all(format!(
                        "/sys/fs/cgroup/{ctrl}/{}",
                        p.trim_start_matches('/')
                    ));
                }
            }
            std::process::exit(code(st));
        }
        _ => {
            let e = cmd.exec();
            die(&format!("exec {real}: {e}"));
        }
    }
}

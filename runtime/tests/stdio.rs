//! The library's stdio option (issue 17): `create`/`run`/`exec` take the
//! process's fds 0-2 explicitly, and the caller's own fds 0-2 are never
//! swapped. Real kernel, root, busybox-static.
//!
//! No libtest harness (Cargo.toml: harness = false): `run_foreground` and
//! `exec` wait for SIGCHLD on a signalfd with the signal blocked in the
//! calling thread, as in brig's single-threaded binary. Under libtest the
//! test runs in a thread of its own, and the main thread, which does not
//! block SIGCHLD, may take (and drop) the signal: the wait would then hang.

use std::io::{Read, Seek, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use brig_runtime::container::{self, CreateOptions, ExecOptions, Stdio, Store};

fn rootfs(dir: &Path) {
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
    for a in ["sh", "cat", "echo", "sleep"] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(a)).unwrap();
    }
}

/// Writes the bundle's config.json (made from the default spec) running `args`.
fn config(bundle: &Path, args: &[&str]) -> CreateOptions {
    let mut spec: serde_json::Value =
        serde_json::from_str(brig_runtime::spec::default_spec_text()).unwrap();
    spec["process"]["args"] = serde_json::json!(args);
    spec["process"]["terminal"] = false.into();
    spec["root"]["readonly"] = false.into();
    std::fs::write(bundle.join("config.json"), spec.to_string()).unwrap();
    CreateOptions {
        bundle: bundle.to_path_buf(),
        ..Default::default()
    }
}

fn temp_file(content: &[u8]) -> std::fs::File {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(content).unwrap();
    f.rewind().unwrap();
    f
}

fn fd(f: &std::fs::File) -> Option<OwnedFd> {
    Some(OwnedFd::from(f.try_clone().unwrap()))
}

fn read_back(mut f: std::fs::File) -> String {
    let mut s = String::new();
    f.rewind().unwrap();
    f.read_to_string(&mut s).unwrap();
    s
}

/// Force-deletes the container however the test ends.
struct Cleanup<'a>(&'a Store, String);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = container::delete(self.0, &self.1, true);
    }
}

fn skip() -> bool {
    if !nix::unistd::geteuid().is_root() || !Path::new("/bin/busybox").exists() {
        eprintln!("SKIPPED: needs root and /bin/busybox (busybox-static)");
        return true;
    }
    false
}

fn main() {
    run_and_exec_use_the_given_stdio();
    println!("test run_and_exec_use_the_given_stdio ... ok");
}

fn run_and_exec_use_the_given_stdio() {
    if skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("bundle");
    rootfs(&b.join("rootfs"));
    let store = Store::new(tmp.path().join("state"));
    let id = format!("arch-stdio-{}", std::process::id());
    let _c = Cleanup(&store, id.clone());

    // run: stdin from a file, stdout and stderr to two others.
    let (input, out, err) = (temp_file(b"hello\n"), temp_file(b""), temp_file(b""));
    let mut opts = config(&b, &["sh", "-c", "read l; echo out:$l; echo err >&2"]);
    opts.foreground = true;
    opts.stdio = Stdio {
        stdin: fd(&input),
        stdout: fd(&out),
        stderr: fd(&err),
    };
    let r = container::run_foreground(&store, &id, &opts, false).unwrap();
    assert_eq!(r.exit_code, 0);
    assert_eq!(read_back(out), "out:hello\n");
    assert_eq!(read_back(err), "err\n");

    // exec into a running container: the same.
    let opts = config(&b, &["sleep", "100"]);
    container::create(&store, &id, &opts).unwrap();
    container::start(&store, &id).unwrap();
    let (input, out) = (temp_file(b"piped\n"), temp_file(b""));
    let mut process = container::base_process(&store, &id).unwrap();
    process.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "cat; echo e >&2".into(),
    ]));
    let e = ExecOptions {
        process,
        detach: false,
        pid_file: None,
        preserve_fds: 0,
        console_socket: None,
        pidfd_socket: None,
        ignore_paused: false,
        sub_cgroup: None,
        stdio: Stdio {
            stdin: fd(&input),
            stdout: fd(&out),
            stderr: fd(&out),
        },
    };
    assert_eq!(container::exec(&store, &id, &e).unwrap(), 0);
    assert_eq!(read_back(out), "piped\ne\n");
}

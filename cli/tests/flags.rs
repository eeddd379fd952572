//! The engine's path flags (`--image-root`, `--network-root`, `--netns-dir`,
//! `--cni-path`) apply only to the command groups that use them (issue 17):
//! given where they would be ignored, they are refused.

use std::process::{Command, Output};

const BRIG: &str = env!("CARGO_BIN_EXE_brig");

fn brig(args: &[&str]) -> Output {
    Command::new(BRIG)
        .args(args)
        .env_remove("BRIG_IMAGE_ROOT")
        .env_remove("BRIG_NETWORK_ROOT")
        .env_remove("BRIG_NETNS_DIR")
        .env_remove("BRIG_CNI_PATH")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn engine_flags_before_the_command_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("state");
    let root = root.to_str().unwrap();
    for (flag, group) in [
        ("--image-root", "container"),
        ("--network-root", "network"),
        ("--netns-dir", "network"),
        ("--cni-path", "network"),
    ] {
        for cmd in [&["state", "arch-nosuch"][..], &["list"], &[group, "ls"]] {
            let mut args = vec!["--root", root, flag, "/tmp/arch-unused"];
            args.extend_from_slice(cmd);
            let o = brig(&args);
            assert_eq!(o.status.code(), Some(1), "{args:?}");
            let e = stderr(&o);
            assert!(
                e.contains(&format!("{flag}: applies only to the ")) && e.contains(group),
                "{args:?}: {e}"
            );
        }
    }
    assert!(!std::path::Path::new("/tmp/arch-unused").exists());
}

#[test]
fn engine_flags_are_refused_by_commands_that_would_ignore_them() {
    for args in [
        &["state", "--image-root", "/tmp/arch-unused", "x"][..],
        &["kill", "--network-root", "/tmp/arch-unused", "x"],
        &["image", "--network-root", "/tmp/arch-unused", "ls"],
        &["volume", "--cni-path", "/tmp/arch-unused", "ls"],
        &["network", "--image-root", "/tmp/arch-unused", "ls"],
    ] {
        let o = brig(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains("unexpected argument"), "{args:?}");
    }
}

#[test]
fn engine_flags_after_their_group_or_subcommand_and_env_vars_work() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |s: &str| tmp.path().join(s).to_str().unwrap().to_string();
    let (root, images, nets) = (p("state"), p("images"), p("nets"));
    let ok = |args: &[&str]| {
        let o = brig(args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    };
    ok(&["--root", &root, "container", "--image-root", &images, "ls"]);
    assert!(tmp.path().join("images/containers").is_dir());
    ok(&[
        "--root",
        &root,
        "container",
        "ls",
        "--image-root",
        &images,
        "-a",
    ]);
    ok(&["--root", &root, "image", "--image-root", &images, "ls"]);
    ok(&["--root", &root, "volume", "ls", "--image-root", &images]);
    ok(&["network", "--network-root", &nets, "ls"]);
    // With an image root of its own: the default one (/var/lib/brig) is
    // root's, and this needs no root.
    ok(&[
        "--root",
        &root,
        "container",
        "--network-root",
        &nets,
        "--image-root",
        &images,
        "ls",
    ]);
    // The env vars still apply to the commands that use them.
    let o = Command::new(BRIG)
        .args(["--root", &root, "volume", "create", "arch-vol"])
        .env("BRIG_IMAGE_ROOT", p("env-images"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(tmp
        .path()
        .join("env-images/volumes/arch-vol/_data")
        .is_dir());
}

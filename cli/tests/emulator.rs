//! The emulated kernel's own behaviour, through the library's lifecycle
//! calls: scripted exits, the OOM kill (137, its event, the cgroup's count),
//! pids.max, the freezer, the mount table of the plan, and the overlay model.
//! No root.

mod emu;

use std::path::Path;

use brig_runtime::container::{self, CreateOptions};
use brig_runtime::kernel::emulator::{Emulator, Event, Overlay};
use emu::EmuBed;
use nix::mount::MsFlags;

fn opts(bed: &EmuBed) -> CreateOptions {
    CreateOptions {
        bundle: bed.bundle.clone(),
        ..Default::default()
    }
}

/// Rewrite the bed's config.json through `f`.
fn edit_config(bed: &EmuBed, f: impl FnOnce(&mut serde_json::Value)) {
    let path = bed.bundle.join("config.json");
    let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    f(&mut c);
    std::fs::write(&path, serde_json::to_vec(&c).unwrap()).unwrap();
}

#[test]
fn a_program_that_exits_is_stopped_with_its_exit_code() {
    let bed = EmuBed::new(&["emu-exit", "3"]);
    let emu = Emulator::new();
    let k = emu.kernel();
    let c = container::create_in(&k, &bed.store, "exit3", &opts(&bed)).unwrap();
    assert_eq!(
        container::state_in(&k, &bed.store, "exit3").unwrap()["status"],
        "created"
    );
    container::start_in(&k, &bed.store, "exit3").unwrap();
    let st = container::state_in(&k, &bed.store, "exit3").unwrap();
    assert_eq!(
        (st["status"].as_str(), st["pid"].as_i64()),
        (Some("stopped"), Some(0))
    );
    assert_eq!(emu.exit_code(c.state.pid), Some(3));
    container::delete_in(&k, &bed.store, "exit3", false).unwrap();
    assert!(emu.cgroups().is_empty());
}

#[test]
fn a_failing_exec_fails_start_and_stops_the_container() {
    let bed = EmuBed::new(&["emu-fail"]);
    let emu = Emulator::new();
    let k = emu.kernel();
    container::create_in(&k, &bed.store, "fail", &opts(&bed)).unwrap();
    let e = container::start_in(&k, &bed.store, "fail")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("failed to start") && e.contains("process.args[0]"),
        "{e}"
    );
    assert_eq!(
        container::state_in(&k, &bed.store, "fail").unwrap()["status"],
        "stopped"
    );
    container::delete_in(&k, &bed.store, "fail", false).unwrap();
}

#[test]
fn memory_over_the_limit_is_oom_killed_with_137_and_an_event() {
    let bed = EmuBed::new(&["emu-oom", "2097152"]);
    edit_config(&bed, |c| {
        c["linux"]["resources"]["memory"] = serde_json::json!({"limit": 1048576})
    });
    let emu = Emulator::new();
    let k = emu.kernel();
    let c = container::create_in(&k, &bed.store, "oom", &opts(&bed)).unwrap();
    let pid = c.state.pid;
    assert_eq!(emu.cgroup("/brig/oom").unwrap().memory_max, Some(1048576));
    container::start_in(&k, &bed.store, "oom").unwrap();
    assert_eq!(emu.exit_code(pid), Some(137));
    let cg = emu.cgroup("/brig/oom").unwrap();
    assert_eq!((cg.oom_kills, cg.memory_current), (1, 0));
    assert!(emu.events().contains(&Event::OomKill {
        pid,
        cgroup: "/brig/oom".into()
    }));
    assert_eq!(
        container::state_in(&k, &bed.store, "oom").unwrap()["status"],
        "stopped"
    );
    container::delete_in(&k, &bed.store, "oom", false).unwrap();

    // Under the limit it keeps running, its memory accounted.
    edit_config(&bed, |c| {
        c["linux"]["resources"]["memory"]["limit"] = serde_json::json!(4194304)
    });
    container::create_in(&k, &bed.store, "fits", &opts(&bed)).unwrap();
    container::start_in(&k, &bed.store, "fits").unwrap();
    let cg = emu.cgroup("/brig/fits").unwrap();
    assert_eq!((cg.oom_kills, cg.memory_current), (0, 2097152));
    assert_eq!(
        container::state_in(&k, &bed.store, "fits").unwrap()["status"],
        "running"
    );
    container::delete_in(&k, &bed.store, "fits", true).unwrap();
    assert!(emu.cgroups().is_empty() && emu.pids().is_empty());
}

#[test]
fn pids_max_refuses_a_process_past_it_and_create_leaves_nothing() {
    let bed = EmuBed::new(&["emu-hang"]);
    edit_config(&bed, |c| {
        c["linux"]["resources"]["pids"] = serde_json::json!({"limit": 1});
        c["linux"]["cgroupsPath"] = serde_json::json!("/shared");
    });
    let emu = Emulator::new();
    let k = emu.kernel();
    container::create_in(&k, &bed.store, "first", &opts(&bed)).unwrap();
    // A second container in the same cgroup: its init is one pid too many.
    let e = container::create_in(&k, &bed.store, "second", &opts(&bed)).unwrap_err();
    assert!(e.to_string().contains("pids.max"), "{e}");
    assert!(!bed.store.dir("second").exists());
    container::delete_in(&k, &bed.store, "first", true).unwrap();
    assert!(emu.pids().is_empty());
}

#[test]
fn the_freezer_holds_signals_until_resume() {
    let bed = EmuBed::new(&["emu-hang", "TERM"]);
    let emu = Emulator::new();
    let k = emu.kernel();
    container::create_in(&k, &bed.store, "frz", &opts(&bed)).unwrap();
    container::start_in(&k, &bed.store, "frz").unwrap();
    container::pause_in(&k, &bed.store, "frz").unwrap();
    assert!(emu.cgroup("/brig/frz").unwrap().frozen);
    container::kill_in(&k, &bed.store, "frz", libc::SIGTERM, false).unwrap();
    assert_eq!(
        container::state_in(&k, &bed.store, "frz").unwrap()["status"],
        "paused"
    );
    container::resume_in(&k, &bed.store, "frz").unwrap();
    assert_eq!(
        container::state_in(&k, &bed.store, "frz").unwrap()["status"],
        "stopped"
    );
    container::delete_in(&k, &bed.store, "frz", false).unwrap();
}

#[test]
fn the_mount_table_holds_the_plan_with_parsed_flags() {
    let bed = EmuBed::new(&["emu-hang"]);
    let src = bed.tmp.path().join("data");
    std::fs::create_dir(&src).unwrap();
    edit_config(&bed, |c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/data", "type": "bind", "source": src,
            "options": ["rbind", "ro", "nosuid"]
        }));
    });
    let emu = Emulator::new();
    let k = emu.kernel();
    container::create_in(&k, &bed.store, "mnt", &opts(&bed)).unwrap();
    let mounts = emu.mounts();
    let data = mounts
        .iter()
        .find(|m| m.target.ends_with("rootfs/data"))
        .expect("the bind mount is in the table");
    assert_eq!(data.source.as_deref(), Some(src.as_path()));
    assert!(data
        .flags
        .contains(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID));
    let proc_ = mounts
        .iter()
        .find(|m| m.target.ends_with("rootfs/proc"))
        .unwrap();
    assert_eq!(proc_.fstype.as_deref(), Some("proc"));
    container::delete_in(&k, &bed.store, "mnt", true).unwrap();
}

#[test]
fn the_overlay_copies_up_and_whites_out() {
    let tmp = tempfile::tempdir().unwrap();
    let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
    std::fs::create_dir_all(lower.join("etc")).unwrap();
    std::fs::create_dir_all(lower.join("var/cache")).unwrap();
    std::fs::create_dir_all(&upper).unwrap();
    std::fs::write(lower.join("etc/hosts"), "lower").unwrap();
    std::fs::write(lower.join("etc/motd"), "hello").unwrap();
    std::fs::write(lower.join("var/cache/a"), "a").unwrap();
    let ov = Overlay {
        lower: vec![lower.clone()],
        upper: upper.clone(),
    };
    // Read through to the lower layer; a write copies up, the lower is untouched.
    assert_eq!(ov.read(Path::new("etc/hosts")).unwrap(), b"lower");
    ov.write(Path::new("etc/hosts"), b"upper").unwrap();
    assert_eq!(ov.read(Path::new("etc/hosts")).unwrap(), b"upper");
    assert_eq!(std::fs::read(lower.join("etc/hosts")).unwrap(), b"lower");
    ov.copy_up(Path::new("etc/motd")).unwrap();
    assert_eq!(std::fs::read(upper.join("etc/motd")).unwrap(), b"hello");
    // A removal of a lower file leaves a whiteout; the merged view hides it.
    ov.remove(Path::new("etc/motd")).unwrap();
    assert!(upper.join("etc/.wh.motd").exists());
    assert!(ov.read(Path::new("etc/motd")).is_err());
    assert_eq!(ov.list(Path::new("etc")).unwrap(), vec!["hosts"]);
    // A directory removed and made again is opaque: the lower content is gone.
    ov.remove(Path::new("var/cache")).unwrap();
    ov.mkdir(Path::new("var/cache")).unwrap();
    assert!(upper.join("var/cache/.wh..wh..opq").exists());
    assert!(ov.list(Path::new("var/cache")).unwrap().is_empty());
    assert!(ov.read(Path::new("var/cache/a")).is_err());
    // Writing a whited-out name brings it back.
    ov.write(Path::new("etc/motd"), b"new").unwrap();
    assert_eq!(ov.read(Path::new("etc/motd")).unwrap(), b"new");
    assert_eq!(ov.list(Path::new("etc")).unwrap(), vec!["hosts", "motd"]);
}

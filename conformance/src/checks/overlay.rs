//! Overlay: the suite prepares a layered rootfs with overlayfs the way an engine does (lower
//! layers, an upper dir and a work dir) and the container writes through it. Also an overlay
//! mount given in config.json.

use crate::bundle::Bundle;
use crate::check::{Check, CheckResult, Verdict};
use crate::ctx::Ctx;
use crate::host::Req;
use crate::runtime::Op;
use serde_json::json;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use Op::{Create, Delete, Run, Start, State};

pub fn checks() -> Vec<Check> {
    vec![
        check! {
            id: "overlay.copy-up.modified-file", group: Overlay, spec: "config.md#root", level: Must,
            summary: "a file from a lower layer changed in the container is copied up into the upper dir",
            requires: [Req::Root, Req::HostKernel, Req::Filesystem("overlay"), Req::Op(Run)], run: copy_up,
        },
        check! {
            id: "overlay.copy-up.new-file", group: Overlay, spec: "config.md#root", level: Must,
            summary: "a file created in the container lands in the upper dir only",
            requires: [Req::Root, Req::HostKernel, Req::Filesystem("overlay"), Req::Op(Run)], run: new_file,
        },
        check! {
            id: "overlay.lower.unchanged", group: Overlay, spec: "config.md#root", level: Must,
            summary: "writes, deletes and directory replacement in the container leave the lower layer unchanged",
            requires: [Req::Root, Req::HostKernel, Req::Filesystem("overlay"), Req::Op(Run)], run: lower_unchanged,
        },
        check! {
            id: "overlay.whiteout.deleted-file", group: Overlay, spec: "config.md#root", level: Must,
            summary: "a lower file deleted in the container becomes a whiteout in the upper dir and is gone inside",
            requires: [Req::Root, Req::HostKernel, Req::Filesystem("overlay"), Req::Op(Run)], run: whiteout,
        },
        check! {
            id: "overlay.opaque.replaced-dir", group: Overlay, spec: "config.md#root", level: Must,
            summary: "a lower directory removed and recreated becomes opaque: only the new entries show",
            requires: [Req::Root, Req::HostKernel, Req::Filesystem("overlay"), Req::Op(Run)], run: opaque,
        },
        check! {
            id: "overlay.isolation.two-containers", group: Overlay, spec: "config.md#root", level: Must,
            summary: "two containers on the same lower layer with their own uppers do not see each other's writes",
            requires: [Req::Root, Req::HostKernel, Req::Filesystem("overlay"), Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Run)], run: two_containers,
        },
        check! {
            id: "overlay.upper.persists-after-stop", group: Overlay, spec: "config.md#root", level: Must,
            summary: "the upper dir keeps the container's writes after stop and delete, until it is removed",
            requires: [Req::Root, Req::HostKernel, Req::Filesystem("overlay"), Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Delete), Req::Op(Run)], run: persists,
        },
        check! {
            id: "overlay.config-mount.mounted", group: Overlay, spec: "config.md#mounts", level: Must,
            summary: "an overlay mount given in config.json is mounted, merges its layers and writes to its upper dir",
            requires: [Req::Root, Req::HostKernel, Req::Filesystem("overlay"), Req::Op(Run)], run: config_mount,
        },
    ]
}

/// The layers of one overlay: a test layer over the base rootfs.
struct Layers {
    lower: PathBuf,
    upper: PathBuf,
    work: PathBuf,
    merged: PathBuf,
}

/// Writes the test layer: /data/a, /data/b, /data/dir/{x,y}.
fn make_lower(c: &Ctx) -> std::io::Result<PathBuf> {
    let lower = c.scratch("lower")?;
    std::fs::create_dir_all(lower.join("data/dir"))?;
    std::fs::write(lower.join("data/a"), "lower-a")?;
    std::fs::write(lower.join("data/b"), "lower-b")?;
    std::fs::write(lower.join("data/dir/x"), "lower-x")?;
    std::fs::write(lower.join("data/dir/y"), "lower-y")?;
    Ok(lower)
}

/// Mounts lower (over the base rootfs) with a fresh upper and work dir named `name`.
fn mount_layers(c: &Ctx, lower: &Path, name: &str) -> Result<Layers, Verdict> {
    let upper = c.scratch(&format!("{name}-upper"))?;
    let l = Layers {
        lower: lower.to_path_buf(),
        work: c.scratch(&format!("{name}-work"))?,
        merged: c.scratch(&format!("{name}-merged"))?,
        upper,
    };
    remount(c, &l)?;
    Ok(l)
}

fn remount(c: &Ctx, l: &Layers) -> CheckResult {
    crate::sys::mount_overlay(&[&l.lower, &c.env.rootfs], &l.upper, &l.work, &l.merged).map_err(
        |e| {
            Verdict::Fail(format!(
                "suite could not mount overlay on {}: {e}",
                l.merged.display()
            ))
        },
    )?;
    c.register_mount(&l.merged);
    Ok(())
}

fn on(c: &Ctx, l: &Layers, args: &[&str]) -> Bundle {
    let mut b = c.bundle(args);
    b.set(
        "root",
        json!({"path": l.merged.display().to_string(), "readonly": false}),
    );
    b
}

async fn layered(c: &Ctx) -> Result<Layers, Verdict> {
    let lower = make_lower(c)?;
    mount_layers(c, &lower, "c1")
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

async fn copy_up(c: Arc<Ctx>) -> CheckResult {
    let l = layered(&c).await?;
    c.run_ok(&on(
        &c,
        &l,
        &["append", "/data/a", "+changed", "+", "read", "/data/a"],
    ))
    .await?;
    let up = read(&l.upper.join("data/a"));
    ensure!(
        up.as_deref() == Some("lower-a+changed"),
        "upper/data/a is {up:?}, want the copied-up, changed file"
    );
    Ok(())
}

async fn new_file(c: Arc<Ctx>) -> CheckResult {
    let l = layered(&c).await?;
    c.run_ok(&on(&c, &l, &["write", "/data/new", "fresh"]))
        .await?;
    let up = read(&l.upper.join("data/new"));
    ensure!(
        up.as_deref() == Some("fresh"),
        "upper/data/new is {up:?}, want \"fresh\""
    );
    ensure!(
        !l.lower.join("data/new").exists(),
        "the new file reached the lower layer"
    );
    Ok(())
}

async fn lower_unchanged(c: Arc<Ctx>) -> CheckResult {
    let l = layered(&c).await?;
    c.run_ok(&on(
        &c,
        &l,
        &[
            "append",
            "/data/a",
            "+x",
            "+",
            "rm",
            "/data/b",
            "+",
            "rm",
            "/data/dir",
            "+",
            "mkdir",
            "/data/dir",
            "+",
            "write",
            "/data/c",
            "c",
        ],
    ))
    .await?;
    let want = [
        ("data/a", "lower-a"),
        ("data/b", "lower-b"),
        ("data/dir/x", "lower-x"),
        ("data/dir/y", "lower-y"),
    ];
    for (f, content) in want {
        let got = read(&l.lower.join(f));
        ensure!(
            got.as_deref() == Some(content),
            "lower/{f} is now {got:?}, want {content:?}"
        );
    }
    ensure!(
        !l.lower.join("data/c").exists(),
        "a new file reached the lower layer"
    );
    Ok(())
}

async fn whiteout(c: Arc<Ctx>) -> CheckResult {
    let l = layered(&c).await?;
    let r = c
        .run_ok(&on(&c, &l, &["rm", "/data/b", "+", "stat", "/data/b"]))
        .await?;
    let st = r.line("stat")?;
    ensure!(
        st["exists"] == false,
        "/data/b is still visible in the container after rm"
    );
    let m = std::fs::symlink_metadata(l.upper.join("data/b"))
        .map_err(|e| Verdict::Fail(format!("no whiteout at upper/data/b: {e}")))?;
    ensure!(
        m.file_type().is_char_device() && m.rdev() == 0,
        "upper/data/b is not a whiteout (a 0:0 character device)"
    );
    Ok(())
}

async fn opaque(c: Arc<Ctx>) -> CheckResult {
    let l = layered(&c).await?;
    c.run_ok(&on(
        &c,
        &l,
        &[
            "rm",
            "/data/dir",
            "+",
            "mkdir",
            "/data/dir",
            "+",
            "write",
            "/data/dir/new",
            "n",
        ],
    ))
    .await?;
    let x = crate::sys::lgetxattr(&l.upper.join("data/dir"), "trusted.overlay.opaque");
    ensure!(
        x.as_deref() == Some(b"y".as_slice()),
        "upper/data/dir has trusted.overlay.opaque = {x:?}, want \"y\""
    );
    // A fresh container on the same layers sees only the new entry.
    let r = c.run_ok(&on(&c, &l, &["ls", "/data/dir"])).await?;
    let ls = r.line("ls")?;
    ensure!(
        ls["entries"] == json!(["new"]),
        "/data/dir lists {}, want only [\"new\"]",
        ls["entries"]
    );
    Ok(())
}

async fn two_containers(c: Arc<Ctx>) -> CheckResult {
    let lower = make_lower(&c)?;
    let la = mount_layers(&c, &lower, "a")?;
    let lb = mount_layers(&c, &lower, "b")?;
    let a = c
        .started_waiting(&on(
            &c,
            &la,
            &["write", "/data/from-a", "a", "+", "wait-signal"],
        ))
        .await?;
    let r = c
        .run_ok(&on(
            &c,
            &lb,
            &["write", "/data/from-b", "b", "+", "stat", "/data/from-a"],
        ))
        .await?;
    ensure!(
        r.line("stat")?["exists"] == false,
        "container b sees container a's /data/from-a"
    );
    let seen = exists_in(&c, &a, &la, "/data/from-b").await?;
    ensure!(!seen, "container a sees container b's /data/from-b");
    ensure!(
        !lower.join("data/from-a").exists() && !lower.join("data/from-b").exists(),
        "writes reached the shared lower layer"
    );
    Ok(())
}

async fn persists(c: Arc<Ctx>) -> CheckResult {
    let l = layered(&c).await?;
    let k = c
        .create_started(&on(&c, &l, &["write", "/data/kept", "kept"]))
        .await?;
    c.wait_exit(&k).await?;
    c.wait_status(&k.id, "stopped").await?;
    ensure!(
        read(&l.upper.join("data/kept")).as_deref() == Some("kept"),
        "upper/data/kept is missing once the container stopped"
    );
    c.delete(&k).await?;
    ensure!(
        read(&l.upper.join("data/kept")).as_deref() == Some("kept"),
        "upper/data/kept is missing after delete"
    );
    // Mount the same layers again, as an engine restarting the container would.
    crate::sys::unmount(&l.merged).map_err(|e| Verdict::Fail(format!("unmount: {e}")))?;
    remount(&c, &l)?;
    let r = c.run_ok(&on(&c, &l, &["read", "/data/kept"])).await?;
    ensure!(
        r.line("read")?["content"] == "kept",
        "a new container on the same upper does not see /data/kept"
    );
    // Removing the upper (a fresh one) removes the write.
    crate::sys::unmount(&l.merged).map_err(|e| Verdict::Fail(format!("unmount: {e}")))?;
    std::fs::remove_dir_all(&l.upper)?;
    std::fs::remove_dir_all(&l.work)?;
    std::fs::create_dir_all(&l.upper)?;
    std::fs::create_dir_all(&l.work)?;
    remount(&c, &l)?;
    let r = c.run_ok(&on(&c, &l, &["stat", "/data/kept"])).await?;
    ensure!(
        r.line("stat")?["exists"] == false,
        "/data/kept is still there after the upper was removed"
    );
    Ok(())
}

async fn config_mount(c: Arc<Ctx>) -> CheckResult {
    let lower = make_lower(&c)?;
    let upper = c.scratch("cfg-upper")?;
    let work = c.scratch("cfg-work")?;
    let mut b = c.bundle(&[
        "write",
        "/merged/via-config",
        "v",
        "+",
        "ls",
        "/merged",
        "+",
        "read",
        "/merged/data/a",
    ]);
    b.push(
        "mounts",
        json!({
            "destination": "/merged", "type": "overlay", "source": "overlay",
            "options": [
                format!("lowerdir={}", lower.display()),
                format!("upperdir={}", upper.display()),
                format!("workdir={}", work.display()),
            ],
        }),
    );
    let r = c.run_ok(&b).await?;
    let ls = r.line("ls")?;
    ensure!(
        ls["entries"] == json!(["data", "via-config"]),
        "/merged lists {}, want [\"data\", \"via-config\"]",
        ls["entries"]
    );
    ensure!(
        r.line("read")?["content"] == "lower-a",
        "/merged/data/a does not show the lower layer"
    );
    ensure!(
        read(&upper.join("via-config")).as_deref() == Some("v"),
        "the write did not land in the mount's upper dir"
    );
    ensure!(
        !lower.join("via-config").exists(),
        "the write reached the lower dir"
    );
    Ok(())
}

/// Whether `path` exists in running container `k`: through exec when the runtime has it, else
/// through a new container on the same layers.
async fn exists_in(
    c: &Ctx,
    k: &crate::ctx::Container,
    l: &Layers,
    path: &str,
) -> Result<bool, Verdict> {
    if c.rt.supports(Op::Exec) {
        let lines = c.exec_probe(k, &["stat", path]).await?;
        return Ok(crate::ctx::find_line(&lines, "stat")?["exists"] == true);
    }
    let r = c.run_ok(&on(c, l, &["stat", path])).await?;
    Ok(r.line("stat")?["exists"] == true)
}

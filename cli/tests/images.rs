//! Images on the real kernel: import, layer unpacking (and its refusals),
//! overlay copy-on-write, volumes, tmpfs, image rm and GC, and `container run`
//! end to end. Run as root.

mod common;
#[path = "common/images.rs"]
mod img;

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use img::{Comp, ImgBed, Layer};
use serde_json::{json, Value};

fn no_cmd() -> Value {
    json!({})
}

/// `container create` then `container start -a`: the id and the output.
fn create_and_run(bed: &ImgBed, args: &[&str]) -> (String, String) {
    let mut a = vec!["container", "create"];
    a.extend_from_slice(args);
    let id = bed.ok(&a).trim().to_string();
    let out = bed.ok(&["container", "start", "--attach", &id]);
    (id, out)
}

#[test]
fn copy_up_whiteout_and_shared_lower_dirs() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    let data = Layer::new()
        .dir("data/")
        .file("data/file", b"old\n")
        .file("data/del", b"x\n")
        .tar();
    bed.busybox_image("cow", vec![(data.clone(), Comp::Plain)], no_cmd());
    let layer_dir = bed.image_root.join("layers").join(&img::sha(&data)[7..]);
    assert!(
        layer_dir.join("data/file").is_file(),
        "the layer is unpacked once, by diff id"
    );

    let (a, out) = create_and_run(
        &bed,
        &[
            "--image",
            "cow",
            "--",
            "sh",
            "-c",
            "echo new > /data/file; rm /data/del; cat /data/file; ls /data",
        ],
    );
    assert_eq!(out, "new\nfile\n");
    // The writable layer holds the copy and a whiteout; the layer is unchanged.
    let upper = bed.container_dir(&a).join("upper");
    assert_eq!(
        std::fs::read_to_string(upper.join("data/file")).unwrap(),
        "new\n"
    );
    let wh = std::fs::symlink_metadata(upper.join("data/del")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "whiteout is a 0/0 char device"
    );
    assert_eq!(
        std::fs::read_to_string(layer_dir.join("data/file")).unwrap(),
        "old\n"
    );
    assert!(layer_dir.join("data/del").is_file());

    // A second container sees the image as it was, from the same lower dirs.
    let (b, out) = create_and_run(
        &bed,
        &["--image", "cow", "--", "cat", "/data/file", "/data/del"],
    );
    assert_eq!(out, "old\nx\n");
    // Both overlays are still mounted on the host (until rm): a lower file has
    // the layer's inode in both.
    let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
    let layer_ino = ino(&layer_dir.join("data/del"));
    assert_eq!(
        ino(&bed.container_dir(&b).join("rootfs/data/del")),
        layer_ino
    );
    let bb = bed.image_root.join("layers");
    let bb_inos: Vec<u64> = [&a, &b]
        .iter()
        .map(|id| ino(&bed.container_dir(id).join("rootfs/bin/busybox")))
        .collect();
    assert_eq!(
        bb_inos[0], bb_inos[1],
        "two containers share the busybox layer's inode"
    );
    let lowerdirs: Vec<String> = [&a, &b]
        .iter()
        .map(|id| {
            let mp = bed.container_dir(id).join("rootfs");
            let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
            let line = info
                .lines()
                .find(|l| l.split(' ').nth(4) == Some(mp.to_str().unwrap()))
                .expect("rootfs is mounted");
            let opts = line.rsplit(' ').next().unwrap();
            opts.split(',')
                .find_map(|o| o.strip_prefix("lowerdir="))
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(lowerdirs[0], lowerdirs[1]);
    assert!(lowerdirs[0].starts_with(bb.to_str().unwrap()));

    // The writable layer survives a stop and a start of the same container...
    let out = bed.ok(&["container", "start", "--attach", &a]);
    assert_eq!(
        out, "new\nfile\n",
        "cat after a second run of the same container"
    );
    // ...and goes with rm.
    bed.ok(&["container", "rm", &a, &b]);
    bed.assert_no_containers();
    assert_eq!(
        std::fs::read_to_string(layer_dir.join("data/file")).unwrap(),
        "old\n"
    );
}

#[test]
fn opaque_dirs_and_layer_whiteouts_hide_lower_entries() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    let l1 = Layer::new()
        .dir("d/")
        .file("d/a", b"a")
        .dir("d/sub/")
        .file("d/sub/deep", b"deep")
        .file("gone", b"gone")
        .tar();
    let l2 = Layer::new()
        .dir("d/")
        .file("d/.wh..wh..opq", b"")
        .file("d/b", b"b")
        .file(".wh.gone", b"")
        .tar();
    bed.busybox_image(
        "opq",
        vec![(l1, Comp::Gzip), (l2.clone(), Comp::Gzip)],
        no_cmd(),
    );
    let l2_dir = bed.image_root.join("layers").join(&img::sha(&l2)[7..]);
    let mut v = [0u8; 8];
    let n = xattr_get(&l2_dir.join("d"), "trusted.overlay.opaque", &mut v);
    assert_eq!(&v[..n], b"y", "opaque dir xattr");
    let out = bed.ok(&[
        "container",
        "run",
        "--rm",
        "--image",
        "opq",
        "--",
        "sh",
        "-c",
        "ls -a /d; test -e /gone || echo no-gone",
    ]);
    assert_eq!(out, ".\n..\nb\nno-gone\n");
    bed.assert_no_containers();
}

fn xattr_get(p: &Path, name: &str, buf: &mut [u8]) -> usize {
    let p = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    // SAFETY: valid C strings and buffer.
    let r = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    assert!(
        r >= 0,
        "getxattr {name}: {}",
        std::io::Error::last_os_error()
    );
    r as usize
}

/// A hostile layer is refused with an error naming the entry; nothing outside
/// the store changes, and the store keeps nothing of the failed import.
#[test]
fn hostile_layers_are_refused() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    let outside = bed.path("outside");
    std::fs::create_dir(&outside).unwrap();
    let o = outside.to_str().unwrap().to_string();
    let shadow_before = std::fs::read("/etc/shadow").ok();
    let shadow_meta = std::fs::metadata("/etc/shadow")
        .ok()
        .map(|m| (m.ino(), m.nlink()));
    let deep_up = "../".repeat(20);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            Layer::new().file("../../etc/x", b"x").tar(),
            "`..`",
        ),
        (
            "dotdot-deep",
            Layer::new()
                .file(&format!("{deep_up}{}/pwned", &o[1..]), b"x")
                .tar(),
            "`..`",
        ),
        (
            "absolute",
            Layer::new().file(&format!("{o}/pwned"), b"x").tar(),
            "absolute",
        ),
        (
            "abs-symlink",
            Layer::new()
                .symlink("evil", &o)
                .file("evil/pwned", b"x")
                .tar(),
            "symlink",
        ),
        (
            "rel-symlink",
            Layer::new()
                .symlink("up", &format!("{deep_up}{}", &o[1..]))
                .file("up/pwned", b"x")
                .tar(),
            "symlink",
        ),
        (
            "symlink-chain",
            Layer::new()
                .symlink("a", "b")
                .symlink("b", &o)
                .dir("a/sub/")
                .file("a/sub/pwned", b"x")
                .tar(),
            "symlink",
        ),
        (
            "symlink-dir-then-file",
            Layer::new()
                .dir("etc/")
                .symlink("etc/cfg", &o)
                .file("etc/cfg/pwned", b"x")
                .tar(),
            "symlink",
        ),
        (
            "hardlink-abs",
            Layer::new().hardlink("shadow", "/etc/shadow").tar(),
            "absolute",
        ),
        (
            "hardlink-dotdot",
            Layer::new()
                .hardlink("shadow", &format!("{deep_up}etc/shadow"))
                .tar(),
            "`..`",
        ),
        (
            "hardlink-via-symlink",
            Layer::new()
                .symlink("etc", "/etc")
                .hardlink("shadow", "etc/shadow")
                .tar(),
            "symlink",
        ),
        (
            "hardlink-missing",
            Layer::new().hardlink("x", "nothing-here").tar(),
            "same layer",
        ),
    ];
    for (name, tar, why) in cases {
        let dir = bed.path(&format!("hostile-{name}"));
        img::write_layout(&dir, &[(tar, Comp::Plain)], no_cmd(), "latest");
        let err = bed.fails(&["image", "import", dir.to_str().unwrap(), "hostile"]);
        assert!(err.contains("entry") && err.contains(why), "{name}: {err}");
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "{name} wrote outside the store"
        );
        assert!(!bed.image_root.join("etc").exists() && !bed.image_root.join("x").exists());
        for sub in ["layers", "images", "tmp", "blobs/sha256"] {
            assert_eq!(
                bed.entries(sub),
                Vec::<String>::new(),
                "{name}: {sub} keeps something"
            );
        }
    }
    assert_eq!(std::fs::read("/etc/shadow").ok(), shadow_before);
    assert_eq!(
        std::fs::metadata("/etc/shadow")
            .ok()
            .map(|m| (m.ino(), m.nlink())),
        shadow_meta
    );
    assert!(!Path::new("/etc/x").exists());
}

/// Layers may be plain, gzip or zstd; each is checked against its diff id.
#[test]
fn gzip_zstd_and_plain_layers() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    bed.busybox_image(
        "comp",
        vec![
            (Layer::new().file("plain", b"p\n").tar(), Comp::Plain),
            (Layer::new().file("gz", b"g\n").tar(), Comp::Gzip),
            (Layer::new().file("zst", b"z\n").tar(), Comp::Zstd),
        ],
        json!({"Cmd": ["cat", "/plain", "/gz", "/zst"]}),
    );
    let out = bed.ok(&["container", "run", "--rm", "--image", "comp"]);
    assert_eq!(out, "p\ng\nz\n");
    let inspect = bed.ok(&["image", "inspect", "comp"]);
    assert_eq!(inspect.matches("sha256:").count(), 5, "{inspect}");
    assert!(inspect.contains("layer 3"), "{inspect}");
}

/// The overlay options of the container's `/`, from its own mountinfo.
fn root_overlay_options(mountinfo: &str) -> String {
    let line = mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .unwrap_or_else(|| panic!("no / in {mountinfo}"));
    let (_, fs) = line.split_once(" - ").expect("a mountinfo line");
    assert!(fs.starts_with("overlay "), "{line}");
    fs.to_string()
}

/// `container run --rm` mounts its writable layer with overlayfs' `volatile`
/// (its unmount then syncs nothing: the layer goes right after); a container
/// that outlives its run keeps the plain, synced overlay. Both leave nothing.
#[test]
fn run_rm_overlay_is_volatile_and_a_kept_container_is_not() {
    let bed = ImgBed::new();
    bed.busybox_image(
        "vol",
        vec![],
        json!({"Cmd": ["cat", "/proc/self/mountinfo"]}),
    );
    // Kernels since 6.x show it as fsync=volatile, older ones as volatile.
    let volatile = |opts: &str| {
        opts.split(',')
            .any(|o| o == "volatile" || o == "fsync=volatile")
    };
    let rm = root_overlay_options(&bed.ok(&["container", "run", "--rm", "vol"]));
    assert!(volatile(&rm), "{rm}");
    bed.assert_no_containers();

    let (id, out) = create_and_run(&bed, &["vol"]);
    let kept = root_overlay_options(&out);
    assert!(!volatile(&kept), "{kept}");
    bed.ok(&["container", "rm", &id]);
    bed.assert_no_containers();
}

#[test]
fn corrupt_blobs_are_detected_and_never_used() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    let dir = bed.path("layout");
    let digests = img::write_layout(
        &dir,
        &[(Layer::new().busybox().tar(), Comp::Gzip)],
        json!({"Cmd": ["echo", "ran"]}),
        "latest",
    );
    let blob = dir.join("blobs/sha256").join(&digests[0][7..]);
    let good = std::fs::read(&blob).unwrap();
    let mut bad = good.clone();
    let n = bad.len();
    bad[n / 2] ^= 0xff;
    std::fs::write(&blob, &bad).unwrap();
    let err = bed.fails(&["image", "import", dir.to_str().unwrap(), "c"]);
    assert!(
        err.contains("corrupt") && err.contains(&digests[0]),
        "{err}"
    );
    for sub in ["layers", "images", "blobs/sha256"] {
        assert_eq!(bed.entries(sub), Vec::<String>::new(), "{sub}");
    }
    std::fs::write(&blob, &good).unwrap();
    bed.import(&dir, "c");

    // The config blob, damaged in the store: run refuses and leaves nothing.
    let inspect: Value =
        serde_json::from_str(&bed.ok(&["image", "inspect", "--json", "c"])).unwrap();
    assert_eq!(inspect["config"]["config"]["Cmd"][0], "echo");
    let rec: Value = serde_json::from_slice(
        &std::fs::read(
            bed.image_root
                .join("images")
                .join(format!("{}.json", &inspect["id"].as_str().unwrap()[7..])),
        )
        .unwrap(),
    )
    .unwrap();
    let cfg = bed
        .image_root
        .join("blobs/sha256")
        .join(&rec["config"].as_str().unwrap()[7..]);
    let cfg_good = std::fs::read(&cfg).unwrap();
    std::fs::write(&cfg, cfg_good.replace_bytes("echo", "ecxo")).unwrap();
    let err = bed.fails(&["container", "run", "--rm", "--image", "c"]);
    assert!(err.contains("corrupt"), "{err}");
    bed.assert_no_containers();
    std::fs::write(&cfg, &cfg_good).unwrap();

    // A layer blob damaged in the store whose dir is gone: not unpacked again.
    let layer_dir = bed
        .image_root
        .join("layers")
        .join(&rec["layers"][0]["diff_id"].as_str().unwrap()[7..]);
    std::fs::remove_dir_all(&layer_dir).unwrap();
    let lblob = bed.image_root.join("blobs/sha256").join(&digests[0][7..]);
    std::fs::write(&lblob, &bad).unwrap();
    let err = bed.fails(&["container", "run", "--rm", "--image", "c"]);
    assert!(err.contains("corrupt"), "{err}");
    bed.assert_no_containers();
    assert!(!layer_dir.exists());
    // Repaired, the layer is unpacked again from its blob.
    std::fs::write(&lblob, &good).unwrap();
    assert_eq!(
        bed.ok(&["container", "run", "--rm", "--image", "c"]),
        "ran\n"
    );
}

trait ReplaceBytes {
    fn replace_bytes(&self, from: &str, to: &str) -> Vec<u8>;
}

impl ReplaceBytes for Vec<u8> {
    fn replace_bytes(&self, from: &str, to: &str) -> Vec<u8> {
        String::from_utf8_lossy(self).replace(from, to).into_bytes()
    }
}

#[test]
fn volumes_survive_rm_and_the_writable_layer_does_not() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    bed.busybox_image("vol", vec![], no_cmd());
    bed.ok(&[
        "container",
        "run",
        "--rm",
        "--image",
        "vol",
        "-v",
        "data:/data",
        "--",
        "sh",
        "-c",
        "echo kept > /data/f; echo lost > /tmp/f",
    ]);
    bed.assert_no_containers();
    assert_eq!(bed.ok(&["volume", "ls"]), "VOLUME NAME\ndata\n");
    let out = bed.ok(&[
        "container",
        "run",
        "--rm",
        "--image",
        "vol",
        "-v",
        "data:/data",
        "--",
        "sh",
        "-c",
        "cat /data/f; cat /tmp/f 2>/dev/null || echo no-tmp-f",
    ]);
    assert_eq!(out, "kept\nno-tmp-f\n");

    // A bind mount, read-only.
    let host = bed.path("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("h"), "from host\n").unwrap();
    let spec = format!("{}:/h:ro", host.display());
    let out = bed.ok(&[
        "container",
        "run",
        "--rm",
        "--image",
        "vol",
        "-v",
        &spec,
        "--",
        "sh",
        "-c",
        "cat /h/h; touch /h/new 2>/dev/null || echo read-only",
    ]);
    assert_eq!(out, "from host\nread-only\n");
    assert!(!host.join("new").exists());

    // volume rm refuses while a container names the volume.
    let id = bed
        .ok(&[
            "container",
            "create",
            "--image",
            "vol",
            "-v",
            "data:/data",
            "--",
            "true",
        ])
        .trim()
        .to_string();
    let err = bed.fails(&["volume", "rm", "data"]);
    assert!(err.contains("in use"), "{err}");
    bed.ok(&["container", "rm", &id]);
    bed.ok(&["volume", "rm", "data"]);
    assert_eq!(bed.entries("volumes"), Vec::<String>::new());
}

#[test]
fn tmpfs_is_in_memory_only() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    bed.busybox_image("tmpfs", vec![], no_cmd());
    let (id, out) = create_and_run(
        &bed,
        &[
            "--image",
            "tmpfs",
            "--tmpfs",
            "/scratch:size=1m",
            "--",
            "sh",
            "-c",
            "echo x > /scratch/f; grep ' /scratch ' /proc/mounts",
        ],
    );
    assert!(out.starts_with("tmpfs /scratch tmpfs "), "{out}");
    assert!(out.contains("size=1024k"), "{out}");
    let upper = bed.container_dir(&id).join("upper");
    assert!(
        !upper.join("scratch/f").exists(),
        "a tmpfs write reached the writable layer"
    );
    let out = bed.ok(&["container", "start", "--attach", &id]);
    assert!(out.starts_with("tmpfs"), "{out}");
    bed.ok(&["container", "rm", &id]);
}

#[test]
fn image_config_and_flags_make_the_process() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    bed.busybox_image(
        "cfg",
        vec![(Layer::new().dir("work/").tar(), Comp::Plain)],
        json!({
            "Entrypoint": ["sh", "-c"],
            "Cmd": ["echo $FOO $(pwd) $(id -u):$(id -g) $(hostname)"],
            "Env": ["FOO=image", "PATH=/bin"],
            "WorkingDir": "/work",
            "User": "nobody",
            "ExposedPorts": {"80/tcp": {}},
        }),
    );
    let out = bed.ok(&[
        "container",
        "run",
        "--rm",
        "--image",
        "cfg",
        "--hostname",
        "h1",
    ]);
    assert_eq!(out, "image /work 65534:65534 h1\n");
    let out = bed.ok(&[
        "container",
        "run",
        "--rm",
        "--image",
        "cfg",
        "-e",
        "FOO=flag",
        "-w",
        "/tmp",
        "-u",
        "0:65534",
        "--",
        "echo $FOO $(pwd) $(id -u):$(id -g)",
    ]);
    assert_eq!(out, "flag /tmp 0:65534\n");

    // Resources become config.json's linux.resources.
    let id = bed
        .ok(&[
            "container",
            "create",
            "--image",
            "cfg",
            "--memory",
            "512m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "64",
            "--name",
            "res",
        ])
        .trim()
        .to_string();
    let cfg: Value =
        serde_json::from_slice(&std::fs::read(bed.container_dir(&id).join("config.json")).unwrap())
            .unwrap();
    let r = &cfg["linux"]["resources"];
    assert_eq!(r["memory"]["limit"], 512 << 20);
    assert_eq!(r["cpu"]["quota"], 50000);
    assert_eq!(r["cpu"]["period"], 100000);
    assert_eq!(r["pids"]["limit"], 64);
    assert_eq!(cfg["annotations"]["brig.image.exposedPorts"], "80/tcp");
    let err = bed.fails(&["container", "create", "--image", "cfg", "--name", "res"]);
    assert!(err.contains("--name res"), "{err}");
    bed.ok(&["container", "rm", "res"]);
    bed.assert_no_containers();
}

/// Bad flags and bad references fail with an error that names them, and
/// leave no container dir, mount, runtime state or volume behind.
#[test]
fn bad_flags_and_refs_leave_nothing() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    bed.busybox_image("ok", vec![], no_cmd());
    let cases: &[(&[&str], &str)] = &[
        (&["--image", "nosuch", "--", "true"], "nosuch"),
        (&["--image", "sha256:1234", "--", "true"], "digest"),
        (&["--image", "ok"], "no Entrypoint or Cmd"),
        (
            &["--image", "ok", "--memory", "12q", "--", "true"],
            "--memory",
        ),
        (&["--image", "ok", "--cpus", "0", "--", "true"], "--cpus"),
        (
            &["--image", "ok", "--pids-limit", "0", "--", "true"],
            "--pids-limit",
        ),
        (&["--image", "ok", "-v", "rel:x", "--", "true"], "-v"),
        (
            &["--image", "ok", "-v", "/nonexistent-brig:/x", "--", "true"],
            "-v",
        ),
        (
            &["--image", "ok", "--tmpfs", "/t:bogus", "--", "true"],
            "--tmpfs",
        ),
        (
            &["--image", "ok", "--network", "No Such", "--", "true"],
            "--network No Such",
        ),
        // The bed's default network is none (BRIG_NETWORK): no ports there.
        (&["--image", "ok", "-p", "80:80", "--", "true"], "-p 80:80"),
        (&["--image", "ok", "-p", "80", "--", "true"], "-p \"80\""),
        (&["--image", "ok", "-w", "rel", "--", "true"], "-w"),
        (&["--image", "ok", "--name", "-bad", "--", "true"], "--name"),
        (
            &[
                "--image",
                "ok",
                "-v",
                "newvol:/v",
                "-u",
                "nosuchuser",
                "--",
                "true",
            ],
            "nosuchuser",
        ),
        (
            &["--image", "ok", "--", "/no/such/binary"],
            "no/such/binary",
        ),
    ];
    for (args, want) in cases {
        let mut a = vec!["container", "run", "--rm"];
        a.extend_from_slice(args);
        let err = bed.fails(&a);
        assert!(err.contains(want), "{args:?}: {err}");
        bed.assert_no_containers();
        assert_eq!(bed.entries("volumes"), Vec::<String>::new(), "{args:?}");
    }
    let err = bed.fails(&[
        "image",
        "import",
        bed.path("nothing").to_str().unwrap(),
        "x",
    ]);
    assert!(err.contains("nothing"), "{err}");
    let err = bed.fails(&["image", "import", "/etc/hostname", "Bad:Name"]);
    assert!(err.contains("Bad"), "{err}");
    let err = bed.fails(&["image", "rm", "nosuch"]);
    assert!(err.contains("nosuch"), "{err}");
    bed.fails(&["container", "rm", "nosuch"]);
}

/// image rm refuses an image a container uses; removing the last name removes
/// the image and the layers no other image shares.
#[test]
fn image_rm_refuses_in_use_and_collects_unused_layers() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    let top1 = Layer::new().file("one", b"1").tar();
    let top2 = Layer::new().file("two", b"2").tar();
    bed.busybox_image("one", vec![(top1.clone(), Comp::Gzip)], no_cmd());
    let base_before = bed.entries("layers");
    assert_eq!(base_before.len(), 2);
    bed.busybox_image("two", vec![(top2.clone(), Comp::Gzip)], no_cmd());
    let layers = bed.entries("layers");
    assert_eq!(layers.len(), 3, "the shared busybox layer is unpacked once");
    bed.ok(&[
        "image",
        "import",
        bed.path("layout-one").to_str().unwrap(),
        "alias:v1",
    ]);

    let id = bed
        .ok(&["container", "create", "--image", "one", "--", "true"])
        .trim()
        .to_string();
    // Untagging one of two names is allowed; the last name is not, while in use.
    assert_eq!(bed.ok(&["image", "rm", "alias:v1"]), "Untagged: alias:v1\n");
    let err = bed.fails(&["image", "rm", "one"]);
    assert!(err.contains("in use"), "{err}");
    bed.ok(&["container", "rm", &id]);
    let out = bed.ok(&["image", "rm", "one"]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
    let left = bed.entries("layers");
    assert_eq!(left.len(), 2);
    assert!(!left.contains(&img::sha(&top1)[7..].to_string()));
    assert!(left.contains(&img::sha(&top2)[7..].to_string()));
    let ls = bed.ok(&["image", "ls"]);
    assert!(ls.contains("two") && !ls.contains("one"), "{ls}");
    assert_eq!(
        bed.ok(&[
            "container",
            "run",
            "--rm",
            "--image",
            "two",
            "--",
            "cat",
            "/two"
        ]),
        "2"
    );
    bed.ok(&["image", "rm", "two"]);
    for sub in ["layers", "images", "blobs/sha256"] {
        assert_eq!(bed.entries(sub), Vec::<String>::new(), "{sub}");
    }
}

/// Detached containers: run -d, ls, logs, stop (writable layer kept), start
/// again, rm -f.
#[test]
fn detached_stop_start_and_rm() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    bed.busybox_image("det", vec![], no_cmd());
    let id = bed
        .ok(&[
            "container",
            "run",
            "-d",
            "--name",
            "d1",
            "--image",
            "det",
            "--",
            "sh",
            "-c",
            "echo started >> /count; echo hello; test -e /once && exit 0; touch /once; exec sleep 1000",
        ])
        .trim()
        .to_string();
    let ls = bed.ok(&["container", "ls"]);
    assert!(ls.contains("d1") && ls.contains("running"), "{ls}");
    // Its output goes to its log; wait until the shell got that far.
    let mut waited = 0;
    while !bed.ok(&["container", "logs", "d1"]).contains("hello") {
        assert!(waited < 1000, "no output in the log of a running container");
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    let err = bed.fails(&["container", "rm", "d1"]);
    assert!(err.contains("running"), "{err}");
    bed.ok(&["container", "stop", "-t", "1", "d1"]);
    let ls = bed.ok(&["container", "ls", "-a"]);
    assert!(ls.contains("exited"), "{ls}");
    // In the foreground this time: the second run exits at once.
    assert_eq!(bed.ok(&["container", "start", "--attach", "d1"]), "hello\n");
    let upper = bed.container_dir(&id).join("upper");
    assert_eq!(
        std::fs::read_to_string(upper.join("count")).unwrap(),
        "started\nstarted\n"
    );
    bed.ok(&["container", "start", "d1"]);
    bed.ok(&["container", "rm", "--force", "d1"]);
    bed.assert_no_containers();
}

/// An image built by umoci (from Debian) from a directory runs; the same
/// layout as an oci-archive tarball imports too.
#[test]
fn umoci_image_runs() {
    if common::skip_without_root() {
        return;
    }
    if std::process::Command::new("umoci")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("umoci is missing: install it (scripts/test does)");
    }
    let bed = ImgBed::new();
    let layout = bed.path("umoci");
    let bundle = bed.path("bundle");
    let l = layout.to_str().unwrap();
    let image = format!("{l}:v1");
    let umoci = |args: &[&str]| {
        let o = std::process::Command::new("umoci")
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "umoci {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    umoci(&["init", "--layout", l]);
    umoci(&["new", "--image", &image]);
    umoci(&["unpack", "--image", &image, bundle.to_str().unwrap()]);
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    std::fs::write(rootfs.join("hello"), "from umoci\n").unwrap();
    umoci(&["repack", "--image", &image, bundle.to_str().unwrap()]);
    umoci(&[
        "config",
        "--image",
        &image,
        "--config.entrypoint=/bin/sh",
        "--config.cmd=-c",
        "--config.cmd=/bin/busybox cat /hello; echo $GREETING",
        "--config.env=GREETING=hi",
    ]);
    bed.ok(&["image", "import", "--source-tag", "v1", l, "umoci:v1"]);
    assert_eq!(
        bed.ok(&["container", "run", "--rm", "--image", "umoci:v1"]),
        "from umoci\nhi\n"
    );
    // The same layout, as an oci-archive.
    let archive = bed.path("umoci.tar");
    let o = std::process::Command::new("tar")
        .args(["-C", l, "-cf", archive.to_str().unwrap(), "."])
        .output()
        .unwrap();
    assert!(o.status.success());
    bed.ok(&["image", "import", archive.to_str().unwrap(), "archived"]);
    assert_eq!(
        bed.ok(&["container", "run", "--rm", "--image", "archived"]),
        "from umoci\nhi\n"
    );
    bed.assert_no_containers();
}

/// A plain rootfs tarball is a one-layer image, as `docker import` makes.
#[test]
fn rootfs_tarball_import() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    let tar = img::compress(&Layer::new().busybox().tar(), Comp::Zstd);
    let p = bed.path("rootfs.tar.zst");
    std::fs::write(&p, tar).unwrap();
    bed.ok(&["image", "import", p.to_str().unwrap(), "flat:1"]);
    let out = bed.ok(&[
        "container",
        "run",
        "--rm",
        "--image",
        "flat:1",
        "--",
        "echo",
        "flat",
    ]);
    assert_eq!(out, "flat\n");
    assert_eq!(bed.entries("layers").len(), 1);
}

/// What a layer entry carries arrives in the layer dir: ownership, modes with
/// set-id bits, mtimes (of directories too), xattrs (not trusted.overlay.*
/// ones), devices, fifos, hard links and symlinks.
#[test]
fn unpack_keeps_metadata() {
    if common::skip_without_root() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    let add = |b: &mut tar::Builder<Vec<u8>>, h: &mut tar::Header, name: &str, data: &[u8]| {
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(h, data).unwrap();
    };
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o750);
    h.set_uid(7);
    h.set_gid(8);
    h.set_mtime(1_000_000);
    add(&mut b, &mut h, "dir/", b"");
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o4755);
    h.set_uid(1234);
    h.set_gid(99);
    h.set_mtime(1_600_000_000);
    b.append_pax_extensions([
        ("SCHILY.xattr.user.k", &b"v"[..]),
        ("SCHILY.xattr.trusted.overlay.redirect", &b"/elsewhere"[..]),
    ])
    .unwrap();
    add(&mut b, &mut h, "dir/suid", b"data");
    h.set_entry_type(tar::EntryType::Link);
    h.set_link_name("dir/suid").unwrap();
    add(&mut b, &mut h, "dir/hard", b"");
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_link_name("/absolute/target").unwrap();
    h.set_uid(5);
    add(&mut b, &mut h, "dir/sym", b"");
    h.set_entry_type(tar::EntryType::Char);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    h.set_mode(0o666);
    add(&mut b, &mut h, "null", b"");
    h.set_entry_type(tar::EntryType::Fifo);
    h.set_mode(0o600);
    add(&mut b, &mut h, "fifo", b"");
    let tar = b.into_inner().unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let n = brig_engine::image::unpack_layer(&tar[..], tmp.path()).unwrap();
    assert_eq!(n, 6);
    let d = tmp.path().join("dir");
    let m = std::fs::symlink_metadata(&d).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.permissions().mode() & 0o7777),
        (7, 8, 0o750)
    );
    assert_eq!(
        m.mtime(),
        1_000_000,
        "directory mtimes are set after their children"
    );
    let m = std::fs::symlink_metadata(d.join("suid")).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.permissions().mode() & 0o7777),
        (1234, 99, 0o4755)
    );
    assert_eq!((m.mtime(), m.nlink()), (1_600_000_000, 2));
    assert_eq!(std::fs::read(d.join("hard")).unwrap(), b"data");
    let mut v = [0u8; 4];
    assert_eq!(xattr_get(&d.join("suid"), "user.k", &mut v), 1);
    let p = std::ffi::CString::new(d.join("suid").to_str().unwrap()).unwrap();
    let k = std::ffi::CString::new("trusted.overlay.redirect").unwrap();
    // SAFETY: valid C strings; a NULL buffer asks for the size.
    let r = unsafe { libc::lgetxattr(p.as_ptr(), k.as_ptr(), std::ptr::null_mut(), 0) };
    assert!(r < 0, "a layer must not set trusted.overlay.* xattrs");
    assert_eq!(
        std::fs::read_link(d.join("sym")).unwrap(),
        Path::new("/absolute/target")
    );
    assert_eq!(std::fs::symlink_metadata(d.join("sym")).unwrap().uid(), 5);
    let m = std::fs::symlink_metadata(tmp.path().join("null")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(
        (m.rdev(), m.permissions().mode() & 0o777),
        (libc::makedev(1, 3), 0o666)
    );
    assert!(std::fs::symlink_metadata(tmp.path().join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
}

/// `--network none` (the bed's default, through BRIG_NETWORK; brig's own is
/// the bridge network, which tests/network.rs covers inside a throwaway
/// namespace): a network namespace of its own, loopback only; `--network
/// host`: the host's.
#[test]
fn network_none_and_host() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    bed.busybox_image("net", vec![], no_cmd());
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let host_ns = host_ns.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut a = vec!["container", "run", "--rm", "--image", "net"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&[
            "--",
            "sh",
            "-c",
            "readlink /proc/self/ns/net; ls /sys/class/net",
        ]);
        bed.ok(&a)
    };
    let none = run(&[]);
    assert!(!none.starts_with(host_ns), "{none}");
    assert!(
        none.ends_with("lo\n") && none.lines().count() == 2,
        "{none}"
    );
    assert_eq!(run(&["--network", "none"]).lines().count(), 2);
    let host = run(&["--network", "host"]);
    assert!(host.starts_with(host_ns), "{host} vs {host_ns}");
    bed.assert_no_containers();
}

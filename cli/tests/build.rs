//! `brig image build` on the real kernel: multi-stage builds, the image
//! config, whiteouts in layers, the build cache, parse errors, failing RUNs
//! (nothing left behind), the built image run and saved. Run as root.

mod common;
#[path = "common/images.rs"]
mod img;

use std::path::Path;

use img::ImgBed;
use serde_json::{json, Value};

/// A context dir with these files.
fn context(bed: &ImgBed, name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = bed.path(name);
    for (p, data) in files {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    dir
}

fn bed_with_busybox() -> ImgBed {
    let bed = ImgBed::new();
    bed.busybox_image("bb", vec![], json!({}));
    bed
}

fn build(bed: &ImgBed, args: &[&str]) -> String {
    let mut a = vec!["image", "build"];
    a.extend_from_slice(args);
    bed.ok(&a)
}

fn inspect(bed: &ImgBed, r: &str) -> Value {
    serde_json::from_str(&bed.ok(&["image", "inspect", "--json", r])).unwrap()
}

fn run(bed: &ImgBed, image: &str, cmd: &[&str]) -> String {
    let mut a = vec!["container", "run", "--rm", "--network", "none", image];
    a.extend_from_slice(cmd);
    bed.ok(&a)
}

/// Nothing of a build is left: no step dir, mount, container or attachment.
fn assert_no_build_leftovers(bed: &ImgBed) {
    assert_eq!(
        bed.entries("build"),
        Vec::<String>::new(),
        "build step dirs left"
    );
    bed.assert_no_containers();
}

#[test]
fn multi_stage_build_sets_the_config_and_runs() {
    if common::skip_without_root() {
        return;
    }
    let bed = bed_with_busybox();
    let ctx = context(
        &bed,
        "ctx-ms",
        &[
            ("owned.txt", "owned\n"),
            (
                "Dockerfile",
                r#"# a multi-stage build
ARG BASE=bb
FROM ${BASE} AS builder
ARG MSG=default
WORKDIR /src
RUN echo "$MSG from builder" > out.txt && \
    mkdir -p sub && echo x > sub/y
FROM bb
ENV GREETING="hi there" DIR=/app
ARG UNSET
COPY --from=builder /src/out.txt ${DIR}/
COPY --chown=65534:65534 owned.txt $DIR/owned.txt
WORKDIR $DIR
USER nobody
EXPOSE 8080 53/udp
LABEL org.example.test=yes
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat out.txt; echo $GREETING; id -u; pwd; stat -c '%u:%g %a' owned.txt"]
"#,
            ),
        ],
    );
    let out = build(
        &bed,
        &[
            "-t",
            "ms:1",
            "--build-arg",
            "MSG=custom",
            ctx.to_str().unwrap(),
        ],
    );
    assert!(out.contains("STEP 1/15: FROM ${BASE} AS builder"), "{out}");
    assert!(out.contains("Successfully tagged ms:1"), "{out}");
    let v = inspect(&bed, "ms:1");
    let c = &v["config"]["config"];
    println!("config: {c:#}");
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"GREETING=hi there") && env.contains(&"DIR=/app"),
        "{env:?}"
    );
    assert!(
        !env.iter()
            .any(|e| e.starts_with("MSG=") || e.starts_with("UNSET")),
        "ARGs are not kept: {env:?}"
    );
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["User"], "nobody");
    assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c"]));
    assert_eq!(c["Cmd"].as_array().unwrap().len(), 1);
    assert_eq!(c["ExposedPorts"], json!({"8080/tcp": {}, "53/udp": {}}));
    assert_eq!(c["Labels"], json!({"org.example.test": "yes"}));
    // busybox + two COPY layers: the builder stage's layers are not in it.
    assert_eq!(v["layers"].as_array().unwrap().len(), 3, "{v:#}");
    let got = run(&bed, "ms:1", &[]);
    assert_eq!(
        got,
        "custom from builder\nhi there\n65534\n/app\n65534:65534 644\n"
    );
    // history: one row per instruction, the RUN and COPY ones with sizes.
    let h = bed.ok(&["image", "history", "--no-trunc", "ms:1"]);
    println!("{h}");
    let first = h.lines().nth(1).unwrap();
    assert!(first.contains("CMD [\"cat out.txt"), "{h}");
    assert!(h.contains("COPY --from=builder /src/out.txt /app/"), "{h}");
    assert!(
        h.contains("COPY --chown=65534:65534 owned.txt /app/owned.txt"),
        "{h}"
    );
    assert!(h.contains("ENV GREETING=hi there DIR=/app"), "{h}");
    assert!(h.contains("layer 0"), "the base image's history stays: {h}");
    // --target: only the first stage, with its RUN layer.
    build(
        &bed,
        &[
            "-t",
            "ms:builder",
            "--target",
            "builder",
            ctx.to_str().unwrap(),
        ],
    );
    assert_eq!(run(&bed, "ms:builder", &["cat", "/src/sub/y"]), "x\n");
    let h = bed.ok(&["image", "history", "--no-trunc", "ms:builder"]);
    assert!(
        h.contains("RUN /bin/sh -c echo \"$MSG from builder\" > out.txt"),
        "{h}"
    );
    assert_no_build_leftovers(&bed);
}

/// The layer tars of the image saved as an oci-archive: for each layer, its
/// entry names.
fn saved_layers(bed: &ImgBed, image: &str) -> (std::path::PathBuf, Vec<Vec<String>>) {
    let archive = bed.path(&format!("{}.tar", image.replace(':', "_")));
    bed.ok(&["image", "save", "-o", archive.to_str().unwrap(), image]);
    let mut a = tar::Archive::new(std::fs::File::open(&archive).unwrap());
    let mut blobs = std::collections::HashMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        blobs.insert(name, data);
    }
    let index: Value = serde_json::from_slice(&blobs["index.json"]).unwrap();
    let blob = |d: &str| &blobs[&format!("blobs/sha256/{}", &d[7..])];
    let m: Value =
        serde_json::from_slice(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let layers = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let data = blob(l["digest"].as_str().unwrap());
            let r = flate2::read::MultiGzDecoder::new(&data[..]);
            let mut names: Vec<String> = if data.starts_with(&[0x1f, 0x8b]) {
                tar::Archive::new(r)
                    .entries()
                    .unwrap()
                    .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
                    .collect()
            } else {
                tar::Archive::new(&data[..])
                    .entries()
                    .unwrap()
                    .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
                    .collect()
            };
            names.sort();
            names
        })
        .collect();
    (archive, layers)
}

#[test]
fn deletions_become_oci_whiteouts() {
    if common::skip_without_root() {
        return;
    }
    let bed = bed_with_busybox();
    let ctx = context(
        &bed,
        "ctx-wh",
        &[(
            "Dockerfile",
            "FROM bb\n\
             RUN mkdir /d && echo a > /d/a && echo b > /d/b && echo gone > /gone\n\
             RUN rm /gone && rm -r /d && mkdir /d && echo c > /d/c\n\
             CMD [\"sh\", \"-c\", \"ls /d; test -e /gone || echo no-gone\"]\n",
        )],
    );
    build(&bed, &["-t", "wh", ctx.to_str().unwrap()]);
    assert_eq!(run(&bed, "wh", &[]), "c\nno-gone\n");
    let (archive, layers) = saved_layers(&bed, "wh");
    assert_eq!(layers.len(), 3);
    println!("layers: {layers:?}");
    assert_eq!(layers[1], vec!["d/", "d/a", "d/b", "gone"]);
    assert_eq!(layers[2], vec![".wh.gone", "d/", "d/.wh..wh..opq", "d/c"]);
    // skopeo reads the archive and sees the three layers.
    let o = std::process::Command::new("skopeo")
        .args(["inspect", &format!("oci-archive:{}", archive.display())])
        .output()
        .expect("skopeo");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    println!("skopeo inspect: Layers {}", v["Layers"]);
    assert_eq!(v["Layers"].as_array().unwrap().len(), 3);
    // And the archive loads back in another store, with the same result.
    let other = ImgBed::new();
    other.ok(&["image", "load", "-i", archive.to_str().unwrap()]);
    assert_eq!(run(&other, "wh", &[]), "c\nno-gone\n");
    assert_no_build_leftovers(&bed);
}

#[test]
fn an_unchanged_rebuild_comes_from_the_cache() {
    if common::skip_without_root() {
        return;
    }
    let bed = bed_with_busybox();
    let ctx = context(
        &bed,
        "ctx-cache",
        &[
            ("app.txt", "v1\n"),
            (
                "Dockerfile",
                "FROM bb\nRUN echo RUN-WAS-HERE; cat /proc/sys/kernel/random/uuid > /uuid\nCOPY app.txt /app.txt\nRUN echo SECOND-RUN; cat /app.txt > /copy\n",
            ),
        ],
    );
    let c = ctx.to_str().unwrap();
    let first = build(&bed, &["-t", "cache:1", c]);
    assert!(
        first.lines().any(|l| l == "RUN-WAS-HERE") && first.contains("\nSECOND-RUN\n"),
        "{first}"
    );
    let layers = |r: &str| inspect(&bed, r)["layers"].clone();
    let again = build(&bed, &["-t", "cache:2", c]);
    println!("{again}");
    let printed = |out: &str, what: &str| out.lines().any(|l| l == what);
    assert!(
        !printed(&again, "RUN-WAS-HERE") && !printed(&again, "SECOND-RUN"),
        "a RUN ran again:\n{again}"
    );
    assert_eq!(again.matches("--> Using cache").count(), 3, "{again}");
    assert_eq!(layers("cache:1"), layers("cache:2"), "the same layers");
    assert_eq!(
        inspect(&bed, "cache:1")["id"],
        inspect(&bed, "cache:2")["id"],
        "the same image"
    );
    let uuid = run(&bed, "cache:1", &["cat", "/uuid"]);
    assert_eq!(run(&bed, "cache:2", &["cat", "/uuid"]), uuid);
    // A changed COPY source: the first RUN is cached, the COPY and the RUN after it are not.
    std::fs::write(ctx.join("app.txt"), "v2\n").unwrap();
    let third = build(&bed, &["-t", "cache:3", c]);
    assert!(
        !printed(&third, "RUN-WAS-HERE") && printed(&third, "SECOND-RUN"),
        "{third}"
    );
    assert_eq!(third.matches("--> Using cache").count(), 1, "{third}");
    assert_eq!(run(&bed, "cache:3", &["cat", "/copy"]), "v2\n");
    assert_eq!(run(&bed, "cache:3", &["cat", "/uuid"]), uuid);
    // --no-cache runs everything.
    let fourth = build(&bed, &["-t", "cache:4", "--no-cache", c]);
    assert!(
        printed(&fourth, "RUN-WAS-HERE") && !fourth.contains("Using cache"),
        "{fourth}"
    );
    // A changed build arg in scope misses the cache of the RUN after it.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb\nARG V=1\nRUN echo ARG-RUN-$V\n",
    )
    .unwrap();
    let a1 = build(&bed, &["-t", "cache:a", c]);
    assert!(printed(&a1, "ARG-RUN-1"), "{a1}");
    let a2 = build(&bed, &["-t", "cache:a", "--build-arg", "V=2", c]);
    assert!(printed(&a2, "ARG-RUN-2"), "{a2}");
    let a3 = build(&bed, &["-t", "cache:a", c]);
    assert!(
        !printed(&a3, "ARG-RUN-1") && a3.contains("Using cache"),
        "{a3}"
    );
    assert_no_build_leftovers(&bed);
}

#[test]
fn dockerignore_and_add_of_a_tar() {
    if common::skip_without_root() {
        return;
    }
    let bed = bed_with_busybox();
    let ctx = context(
        &bed,
        "ctx-ign",
        &[
            ("keep.txt", "k\n"),
            ("secret.key", "s\n"),
            ("logs/a.log", "l\n"),
            ("logs/keep.log", "kl\n"),
            ("src/deep/x.tmp", "t\n"),
            ("src/deep/x.rs", "r\n"),
            ("out/junk", "j\n"),
            ("out/sub/keep.me", "m\n"),
            (
                ".dockerignore",
                "# comment\n*.key\nlogs/*.log\n!logs/keep.log\n**/*.tmp\nout\n!out/sub/keep.me\n",
            ),
            (
                "Dockerfile",
                "FROM bb\nCOPY . /ctx/\nADD t.tar.gz /untar/\nADD plain.txt /plain/\n",
            ),
        ],
    );
    // A gzipped tar in the context, made with the tar crate.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o640);
    h.set_uid(12);
    h.set_gid(34);
    h.set_cksum();
    b.append_data(&mut h, "inside/file", &b"in\n"[..]).unwrap();
    let data = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &data).unwrap();
    std::fs::write(ctx.join("t.tar.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(ctx.join("plain.txt"), "p\n").unwrap();
    build(&bed, &["-t", "ign", ctx.to_str().unwrap()]);
    let got = run(
        &bed,
        "ign",
        &["sh", "-c", "cd /ctx && busybox find . -type f | busybox sort; stat -c '%u:%g %a' /untar/inside/file; cat /plain/plain.txt; test -e /untar/t.tar.gz || echo extracted"],
    );
    assert_eq!(
        got,
        "./.dockerignore\n./Dockerfile\n./keep.txt\n./logs/keep.log\n./out/sub/keep.me\n./plain.txt\n./src/deep/x.rs\n./t.tar.gz\n12:34 640\np\nextracted\n"
    );
    assert_no_build_leftovers(&bed);
}

#[test]
fn parse_errors_name_the_line_and_instruction() {
    if common::skip_without_root() {
        return;
    }
    let bed = bed_with_busybox();
    let before = bed.ok(&["image", "ls", "-q"]);
    for (df, want) in [
        ("FROM bb\nRUN true\nCOPY onlyone\n", "line 3: COPY"),
        (
            "FROM bb\n\n# c\nFROOM bb\n",
            "line 4: FROOM: unknown instruction",
        ),
        (
            "FROM bb\nRUN echo a \\\n  b\nWORKDIR ${X\n",
            "line 4: WORKDIR",
        ),
        ("FROM bb\nADD http://example.com/x /x\n", "line 2: ADD"),
        ("RUN true\nFROM bb\n", "line 1: RUN"),
    ] {
        let ctx = context(&bed, "ctx-parse", &[("Dockerfile", df)]);
        let e = bed.fails(&["image", "build", "-t", "bad", ctx.to_str().unwrap()]);
        println!("{e}");
        assert!(e.contains(want), "{df:?}: {e}");
    }
    let ctx = context(
        &bed,
        "ctx-parse",
        &[("Dockerfile", "FROM bb\nCOPY missing /x\n")],
    );
    let e = bed.fails(&["image", "build", "-t", "bad", ctx.to_str().unwrap()]);
    assert!(e.contains("line 2: COPY") && e.contains("missing"), "{e}");
    let e = bed.fails(&[
        "image",
        "build",
        "-t",
        "bad",
        "--target",
        "nope",
        ctx.to_str().unwrap(),
    ]);
    assert!(e.contains("--target nope"), "{e}");
    assert_eq!(bed.ok(&["image", "ls", "-q"]), before, "no image made");
    assert_no_build_leftovers(&bed);
}

#[test]
fn a_failing_run_shows_its_output_and_code_and_leaves_nothing() {
    if common::skip_without_root() {
        return;
    }
    let bed = bed_with_busybox();
    let ctx = context(
        &bed,
        "ctx-fail",
        &[(
            "Dockerfile",
            "FROM bb\nRUN echo first > /f\nRUN echo visible-output; echo to-stderr >&2; exit 7\nCMD [\"true\"]\n",
        )],
    );
    let blobs_before = bed.entries("blobs/sha256").len();
    let o = bed.brig(&["image", "build", "-t", "failing", ctx.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    println!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout.contains("visible-output") && stderr.contains("to-stderr"));
    assert!(
        stderr.contains("line 3: RUN") && stderr.contains("non-zero code: 7"),
        "{stderr}"
    );
    assert!(bed
        .fails(&["image", "inspect", "failing"])
        .contains("no such image"));
    assert_no_build_leftovers(&bed);
    // The first RUN's layer stays as cache only (one blob); no image, no config.
    assert_eq!(bed.entries("blobs/sha256").len(), blobs_before + 1);
    assert_eq!(bed.entries("images").len(), 1);
}

#[test]
fn a_killed_build_is_cleaned_up_by_the_next() {
    if common::skip_without_root() {
        return;
    }
    let bed = bed_with_busybox();
    let ctx = context(
        &bed,
        "ctx-kill",
        &[("Dockerfile", "FROM bb\nRUN echo started; sleep 300\n")],
    );
    let mut child = bed
        .command(&["image", "build", "-t", "killed", ctx.to_str().unwrap()])
        // The RUN's process has brig's stdio: never the test's own.
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait (with a deadline) until the RUN's container is in the runtime's state.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let running = std::fs::read_dir(&bed.root)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("build-"))
            })
            .unwrap_or(false);
        if running {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the RUN never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        bed.entries("build").len(),
        1,
        "the killed build's step is there"
    );
    // The next build removes it: its container, mount and dir.
    let ctx2 = context(&bed, "ctx-kill2", &[("Dockerfile", "FROM bb\nRUN true\n")]);
    build(&bed, &["-t", "next", ctx2.to_str().unwrap()]);
    assert_no_build_leftovers(&bed);
}

#[test]
fn scratch_and_copy_semantics() {
    if common::skip_without_root() {
        return;
    }
    let bed = bed_with_busybox();
    let ctx = context(
        &bed,
        "ctx-scratch",
        &[
            ("a/one", "1\n"),
            ("a/two", "2\n"),
            ("b.txt", "b\n"),
            (
                "Dockerfile",
                "FROM scratch\nCOPY --from=bb /bin/busybox /bin/busybox\nCOPY a /dir\nCOPY a/* b.txt /many/\nCOPY b.txt /file-renamed\nWORKDIR rel\nCOPY b.txt .\nENTRYPOINT [\"/bin/busybox\"]\n",
            ),
        ],
    );
    build(&bed, &["-t", "scr", ctx.to_str().unwrap()]);
    let got = run(
        &bed,
        "scr",
        &[
            "sh",
            "-c",
            "busybox find /dir /many /file-renamed /rel | busybox sort",
        ],
    );
    assert_eq!(
        got,
        "/dir\n/dir/one\n/dir/two\n/file-renamed\n/many\n/many/b.txt\n/many/one\n/many/two\n/rel\n/rel/b.txt\n"
    );
    let ctx2 = context(
        &bed,
        "ctx-scratch2",
        &[
            ("Dockerfile", "FROM scratch\nCOPY a b /notdir\n"),
            ("a", ""),
            ("b", ""),
        ],
    );
    let e = bed.fails(&["image", "build", "-t", "x", ctx2.to_str().unwrap()]);
    assert!(e.contains("must be a directory and end with a /"), "{e}");
    assert_no_build_leftovers(&bed);
}

#[allow(dead_code)]
fn exists(p: &Path) -> bool {
    p.exists()
}

// ---- side by side with buildah ----

const BUILDAH_STUBS: &[&str] = &[
    "dev",
    "proc",
    "sys",
    "run",
    "etc/hostname",
    "etc/hosts",
    "etc/resolv.conf",
];
const EMPTY_SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// buildah, installed with apt-get on first use (Debian's package).
fn buildah() -> Option<&'static str> {
    if Path::new("/usr/bin/buildah").exists() {
        return Some("/usr/bin/buildah");
    }
    eprintln!("buildah is missing: installing Debian's buildah with apt-get (first use)");
    let ok = std::process::Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "buildah"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|s| s.success());
    (ok && Path::new("/usr/bin/buildah").exists()).then_some("/usr/bin/buildah")
}

/// An OCI image layout unpacked with umoci: its rootfs dir.
fn umoci_unpack(layout: &Path, tag: &str, bundle: &Path) -> std::path::PathBuf {
    let o = std::process::Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{tag}", layout.display()))
        .arg(bundle)
        .output()
        .expect("umoci");
    assert!(
        o.status.success(),
        "umoci unpack: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    bundle.join("rootfs")
}

/// Every entry of a tree: path, type, mode, owner, and content or link target
/// (mtimes left out: the two builds run at different times).
fn tree(root: &Path) -> std::collections::BTreeMap<String, String> {
    use sha2::Digest as _;
    use std::os::unix::fs::MetadataExt;
    let mut out = std::collections::BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let what = if m.is_dir() {
                "dir".to_string()
            } else if m.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_file() {
                format!(
                    "file {:x}",
                    sha2::Sha256::digest(std::fs::read(&p).unwrap())
                )
            } else {
                "other".to_string()
            };
            out.insert(
                rel,
                format!("{:o} {}:{} {what}", m.mode(), m.uid(), m.gid()),
            );
            if m.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    walk(root, root, &mut out);
    out
}

fn config_fields(cfg: &Value) -> Value {
    let c = &cfg["config"];
    json!({
        "Env": c["Env"], "Cmd": c["Cmd"], "Entrypoint": c["Entrypoint"],
        "WorkingDir": c["WorkingDir"], "User": c["User"],
    })
}

/// The config of the image in an OCI layout (its only manifest).
fn layout_config(layout: &Path) -> Value {
    let blob = |d: &str| std::fs::read(layout.join("blobs/sha256").join(&d[7..])).unwrap();
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let m: Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    serde_json::from_slice(&blob(m["config"]["digest"].as_str().unwrap())).unwrap()
}

#[test]
fn the_same_dockerfile_built_by_buildah_gives_the_same_image() {
    if common::skip_without_root() {
        return;
    }
    let Some(buildah) = buildah() else {
        panic!("buildah is not installed and apt-get could not install it");
    };
    let bed = bed_with_busybox();
    let dockerfile = r#"ARG BASE
FROM $BASE AS build
RUN mkdir -p /out && echo built > /out/artifact && chmod 0750 /out/artifact
FROM $BASE
ENV APP_HOME=/srv/app PATH=/usr/local/bin:/usr/bin:/bin
WORKDIR $APP_HOME
COPY --chown=65534:65534 files/ ./files/
COPY --from=build /out/artifact /srv/artifact
ADD tree.tar /srv/tree/
RUN echo hello > greeting && chmod 600 greeting && ln -s greeting link && mkdir -p sub/dir && rm /etc/group
USER nobody
ENTRYPOINT ["/bin/sh"]
CMD ["-c", "cat greeting"]
"#;
    let ctx = context(
        &bed,
        "ctx-cmp",
        &[
            ("Dockerfile", dockerfile),
            ("files/a.txt", "a\n"),
            ("files/sub/b.txt", "b\n"),
        ],
    );
    std::fs::set_permissions(
        ctx.join("files/a.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o600);
    h.set_uid(7);
    h.set_gid(8);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    b.append_data(&mut h, "t/x", &b"x\n"[..]).unwrap();
    std::fs::write(ctx.join("tree.tar"), b.into_inner().unwrap()).unwrap();

    // brig
    build(
        &bed,
        &["-t", "cmp", "--build-arg", "BASE=bb", ctx.to_str().unwrap()],
    );
    let brig_tar = bed.path("brig-cmp.tar");
    bed.ok(&["image", "save", "-o", brig_tar.to_str().unwrap(), "cmp"]);
    let brig_layout = bed.path("brig-layout");
    std::fs::create_dir_all(&brig_layout).unwrap();
    tar::Archive::new(std::fs::File::open(&brig_tar).unwrap())
        .unpack(&brig_layout)
        .unwrap();
    let index: Value =
        serde_json::from_slice(&std::fs::read(brig_layout.join("index.json")).unwrap()).unwrap();
    let brig_tag = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .unwrap()
        .to_string();

    // buildah, in a private root with the vfs driver, from the busybox
    // image as brig saved it.
    let bb_tar = bed.path("bb.tar");
    bed.ok(&["image", "save", "-o", bb_tar.to_str().unwrap(), "bb"]);
    let broot = bed.path("buildah");
    let bh = |args: &[&str]| {
        let o = std::process::Command::new(buildah)
            .arg("--root")
            .arg(broot.join("root"))
            .arg("--runroot")
            .arg(broot.join("run"))
            .arg("--storage-driver")
            .arg("vfs")
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "buildah {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let base = format!("BASE=oci-archive:{}", bb_tar.display());
    bh(&[
        "bud",
        "--network",
        "none",
        "--layers",
        "--build-arg",
        &base,
        "-t",
        "cmp",
        ctx.to_str().unwrap(),
    ]);
    let bh_layout = bed.path("buildah-layout");
    bh(&["push", "cmp", &format!("oci:{}:cmp", bh_layout.display())]);
    let o = std::process::Command::new(buildah)
        .args(["--root"])
        .arg(broot.join("root"))
        .arg("--runroot")
        .arg(broot.join("run"))
        .args(["--storage-driver", "vfs", "rmi", "--all", "--force"])
        .output();
    drop(o);

    // The files.
    let brig_fs = tree(&umoci_unpack(
        &brig_layout,
        &brig_tag,
        &bed.path("brig-bundle"),
    ));
    let bh_fs = tree(&umoci_unpack(
        &bh_layout,
        "cmp",
        &bed.path("buildah-bundle"),
    ));
    println!("{:<32} {:<40} buildah", "PATH", "brig");
    let mut differ = Vec::new();
    let keys: std::collections::BTreeSet<&String> = brig_fs.keys().chain(bh_fs.keys()).collect();
    for k in keys {
        let (a, b) = (brig_fs.get(k), bh_fs.get(k));
        let show = |v: Option<&String>| {
            v.map_or("(missing)".to_string(), |s| {
                if s.len() > 38 {
                    format!("{}…", &s[..37])
                } else {
                    s.clone()
                }
            })
        };
        if !k.starts_with("bin/") {
            println!("{k:<32} {:<40} {}", show(a), show(b));
        }
        // buildah (1.28) leaves the mount points of its RUN containers in the
        // image, empty; docker's BuildKit and brig leave none.
        let stub =
            b.is_some_and(|b| b.ends_with(" dir") || b.ends_with(&format!("file {EMPTY_SHA}")));
        if a.is_none() && stub && BUILDAH_STUBS.contains(&k.as_str()) {
            println!(
                "{:<32} (a mount point buildah's RUN left behind; not compared)",
                ""
            );
            continue;
        }
        if a != b {
            differ.push(format!("{k}: brig {a:?}, buildah {b:?}"));
        }
    }
    // The configs.
    let a = config_fields(&layout_config(&brig_layout));
    let b = config_fields(&layout_config(&bh_layout));
    println!("config brig:    {a}");
    println!("config buildah: {b}");
    assert_eq!(a, b, "the image configs differ");
    assert!(
        differ.is_empty(),
        "the files differ:\n{}",
        differ.join("\n")
    );
    let _ = std::fs::remove_dir_all(&broot);
}

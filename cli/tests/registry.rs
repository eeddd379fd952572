//! Registries: `image pull`, `image push`, `login` and `logout` against a
//! real registry (Debian's `docker-registry`, the CNCF distribution registry),
//! started by each test on 127.0.0.1 with a free port, a temp storage dir and
//! an htpasswd file, and stopped by a Drop guard. A small proxy thread between
//! brig and the registry can flip a byte of a blob or stall a blob midway.
//!
//! Run as root (the image store and `container run`). The registry and
//! htpasswd (apache2-utils) are installed with apt-get on first use.

mod common;
#[path = "common/images.rs"]
mod img;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use img::{sha, Comp, ImgBed, Layer};
use serde_json::json;

const REGISTRY: &str = "/usr/bin/docker-registry";
const HTPASSWD: &str = "/usr/bin/htpasswd";

static INSTALL: Mutex<()> = Mutex::new(());

/// Install docker-registry and apache2-utils unless they are there, and stop
/// the system service the package may have started (the tests run their own).
fn ensure_installed() {
    let _g = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if Path::new(REGISTRY).exists() && Path::new(HTPASSWD).exists() {
        return;
    }
    eprintln!(
        "registry tests: {REGISTRY} or {HTPASSWD} is missing: installing docker-registry and apache2-utils with apt-get"
    );
    let st = Command::new("apt-get")
        .args([
            "install",
            "-y",
            "--no-install-recommends",
            "docker-registry",
            "apache2-utils",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .expect("apt-get");
    assert!(
        st.success(),
        "apt-get install docker-registry apache2-utils failed"
    );
    // The package's service is not what the tests use: stop and disable it.
    if Path::new("/etc/init.d/docker-registry").exists() {
        eprintln!(
            "registry tests: stopping the docker-registry system service the package started"
        );
        let _ = Command::new("/etc/init.d/docker-registry")
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("update-rc.d")
            .args(["docker-registry", "disable"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(port: u16, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "docker-registry exited ({st}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "docker-registry did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A registry process; killed (and waited for) on drop.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

const USER: &str = "brigtest";
const PASS: &str = "s3cret-pw";

impl Registry {
    fn start(with_auth: bool) -> Registry {
        ensure_installed();
        let dir = tempfile::Builder::new()
            .prefix("brig-reg")
            .tempdir()
            .unwrap();
        let port = free_port();
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if with_auth {
            let o = Command::new(HTPASSWD)
                .args(["-Bbn", USER, PASS])
                .output()
                .unwrap();
            assert!(o.status.success());
            std::fs::write(dir.path().join("htpasswd"), &o.stdout).unwrap();
            cfg.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: brig-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            ));
        }
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let log = dir.path().join("registry.log");
        let child = Command::new(REGISTRY)
            .arg("serve")
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("registry.err")).unwrap())
            .spawn()
            .unwrap();
        let err = dir.path().join("registry.err");
        // The guard first: a registry that never listens is killed too.
        let mut reg = Registry {
            child,
            port,
            _dir: dir,
        };
        wait_listening(port, &mut reg.child, &err);
        reg
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Debug)]
enum Mode {
    Pass,
    /// Flip one byte in the body of this blob.
    Corrupt(String),
    /// Send this many bytes of this blob's body, then nothing (until stopped).
    Stall(String, usize),
    /// Be a registry with bearer-token auth in front of one without: /token
    /// gives TOKEN for Basic USER:PASS; other requests need `Bearer TOKEN`
    /// (answered 401 with a Bearer challenge otherwise).
    Bearer,
}

const TOKEN: &str = "tok-3f1a";

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().skip(1).find_map(|h| {
        let (k, v) = h.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn respond(w: &mut TcpStream, status: &str, extra: &[String], body: &str) -> std::io::Result<()> {
    let mut head = vec![format!("HTTP/1.1 {status}")];
    head.extend_from_slice(extra);
    head.push("Content-Type: application/json".into());
    head.push(format!("Content-Length: {}", body.len()));
    write_head(w, &head)?;
    w.write_all(body.as_bytes())
}

/// The bearer gate of [`Mode::Bearer`]: Some(request) to forward (its
/// Authorization removed), None when it answered itself.
fn bearer_gate(req: &[String], w: &mut TcpStream) -> std::io::Result<Option<Vec<String>>> {
    use base64::Engine as _;
    let line = &req[0];
    if line.starts_with("GET /token") {
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"))
        );
        if header(req, "authorization") == Some(want.as_str()) {
            respond(
                w,
                "200 OK",
                &[],
                &format!(r#"{{"token":"{TOKEN}","access_token":"{TOKEN}"}}"#),
            )?;
        } else {
            respond(
                w,
                "401 Unauthorized",
                &[],
                r#"{"details":"incorrect username or password"}"#,
            )?;
        }
        return Ok(None);
    }
    if header(req, "authorization") != Some(format!("Bearer {TOKEN}").as_str()) {
        let host = header(req, "host").unwrap_or("127.0.0.1");
        respond(
            w,
            "401 Unauthorized",
            &[format!(
                r#"WWW-Authenticate: Bearer realm="http://{host}/token",service="brig-test""#
            )],
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#,
        )?;
        return Ok(None);
    }
    Ok(Some(
        req.iter()
            .filter(|h| !h.to_ascii_lowercase().starts_with("authorization:"))
            .cloned()
            .collect(),
    ))
}

/// An HTTP proxy for one request per connection (it makes both sides close):
/// forwards to the registry, and does to blob bodies what `mode` says.
struct Proxy {
    port: u16,
    mode: Arc<Mutex<Mode>>,
    /// The request lines it forwarded.
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let mode = Arc::new(Mutex::new(Mode::Pass));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, lg, st) = (mode.clone(), log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        let (m, lg, st) = (m.clone(), lg.clone(), st.clone());
                        std::thread::spawn(move || {
                            let _ = serve(c, upstream, &m, &lg, &st);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Proxy {
            port,
            mode,
            log,
            stop,
            thread: Some(thread),
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn set(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }

    fn blob_gets(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("GET ") && l.contains("/blobs/"))
            .cloned()
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Read an HTTP head (up to the blank line).
fn read_head(r: &mut BufReader<TcpStream>) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = l.trim_end().to_string();
        if l.is_empty() {
            return Ok(lines);
        }
        lines.push(l);
    }
}

fn content_length(head: &[String]) -> Option<usize> {
    head.iter().find_map(|h| {
        let (k, v) = h.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())
            .flatten()
    })
}

fn write_head(w: &mut TcpStream, head: &[String]) -> std::io::Result<()> {
    let mut s = String::new();
    for h in head {
        let k = h.split(':').next().unwrap_or("");
        if k.eq_ignore_ascii_case("connection") || k.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        s.push_str(h);
        s.push_str("\r\n");
    }
    s.push_str("Connection: close\r\n\r\n");
    w.write_all(s.as_bytes())
}

fn serve(
    client: TcpStream,
    upstream: u16,
    mode: &Mutex<Mode>,
    log: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    // brig tries TLS first on an insecure (here: loopback) registry, as
    // docker does; this proxy speaks plain HTTP, so it hangs up on TLS.
    let mut first = [0u8; 1];
    if client.peek(&mut first)? == 1 && first[0] == 0x16 {
        log.lock().unwrap().push("TLS handshake".into());
        return Ok(());
    }
    let mut cw = client.try_clone()?;
    let mut cr = BufReader::new(client);
    let req = read_head(&mut cr)?;
    let mut body = vec![0u8; content_length(&req).unwrap_or(0)];
    cr.read_exact(&mut body)?;
    let line = req.first().cloned().unwrap_or_default();
    log.lock().unwrap().push(line.clone());
    let m = mode.lock().unwrap().clone();
    let req = match m {
        Mode::Bearer => match bearer_gate(&req, &mut cw)? {
            Some(r) => r,
            None => return Ok(()),
        },
        _ => req,
    };
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    write_head(&mut up, &req)?;
    up.write_all(&body)?;
    let mut ur = BufReader::new(up.try_clone()?);
    let resp = read_head(&mut ur)?;
    write_head(&mut cw, &resp)?;
    let is_get_blob = |d: &str| line.starts_with("GET ") && line.contains(&format!("/blobs/{d}"));
    let ok = resp
        .first()
        .is_some_and(|s| s.contains(" 200") || s.contains(" 206"));
    let mut sent = 0usize;
    let mut flipped = false;
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = ur.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = &mut buf[..n];
        match &m {
            Mode::Corrupt(d) if ok && is_get_blob(d) && !flipped => {
                chunk[n / 2] ^= 0x01;
                flipped = true;
            }
            Mode::Stall(d, limit) if ok && is_get_blob(d) && sent + n >= *limit => {
                cw.write_all(&chunk[..limit - sent])?;
                cw.flush()?;
                // Hold the connection open, sending nothing.
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return Ok(());
            }
            _ => {}
        }
        cw.write_all(chunk)?;
        sent += n;
    }
    Ok(())
}

/// The test bed plus a private docker config dir.
struct Bed {
    img: ImgBed,
}

impl Bed {
    fn new() -> Bed {
        let img = ImgBed::new();
        std::fs::create_dir_all(img.path("docker")).unwrap();
        Bed { img }
    }

    fn docker_config(&self) -> PathBuf {
        self.img.path("docker")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = self.img.command(args);
        c.env("DOCKER_CONFIG", self.docker_config())
            .env_remove("BRIG_INSECURE_REGISTRIES")
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("https_proxy")
            .env_remove("HTTPS_PROXY")
            .env_remove("all_proxy")
            .env_remove("ALL_PROXY");
        c
    }

    fn brig(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.brig(args);
        assert!(
            o.status.success(),
            "brig {args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn fails(&self, args: &[&str]) -> String {
        let o = self.brig(args);
        assert!(
            !o.status.success(),
            "brig {args:?} succeeded: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    fn login(&self, host: &str, user: &str, pw: &str) -> Output {
        let mut c = self.command(&["login", "--username", user, "--password-stdin", host]);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut ch = c.spawn().unwrap();
        ch.stdin
            .take()
            .unwrap()
            .write_all(format!("{pw}\n").as_bytes())
            .unwrap();
        ch.wait_with_output().unwrap()
    }

    /// A busybox image from a rootfs tarball made from /bin/busybox.
    fn import_busybox(&self, name: &str) {
        let tar = Layer::new().busybox().tar();
        let gz = img::compress(&tar, Comp::Gzip);
        let p = self.img.path("busybox.tar.gz");
        std::fs::write(&p, gz).unwrap();
        self.ok(&[
            "image",
            "import",
            "--format",
            "rootfs",
            p.to_str().unwrap(),
            name,
        ]);
    }

    fn entries(&self, sub: &str) -> Vec<String> {
        self.img.entries(sub)
    }
}

/// A brig process that is killed and reaped on drop (a failed test too).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Bytes that gzip cannot shrink (a layer large enough to stall midway).
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Write an OCI layout with one manifest: busybox + a big noise layer, and
/// import it as `name`. Returns the (busybox, noise) blob digests.
fn import_two_layers(bed: &Bed, name: &str) -> (String, String) {
    let dir = bed.img.path("layout2");
    let noise = Layer::new().file("noise.bin", &noise(3 << 20, 7)).tar();
    let d = img::write_layout(
        &dir,
        &[
            (Layer::new().busybox().tar(), Comp::Gzip),
            (noise, Comp::Gzip),
        ],
        json!({"Cmd": ["sh", "-c", "echo ok"]}),
        "latest",
    );
    bed.img.import(&dir, name);
    (d[0].clone(), d[1].clone())
}

#[test]
fn push_pull_round_trip_then_run() {
    if common::skip_without_root() {
        return;
    }
    let reg = Registry::start(false);
    let proxy = Proxy::start(reg.port);
    let bed = Bed::new();
    let name = format!("{}/brig/busybox:v1", reg.host());
    bed.import_busybox(&name);
    let id = bed.ok(&["image", "inspect", "--json", &name]);
    let id = serde_json::from_str::<serde_json::Value>(&id).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = bed.ok(&["image", "push", &name]);
    assert!(out.contains(&format!("v1: digest: {id}")), "{out}");
    // A second push sends no layer again.
    let out = bed.ok(&["image", "push", &name]);
    assert!(out.contains("Layer already exists"), "{out}");

    // Pull through the proxy (to count what comes over the wire).
    let via = format!("{}/brig/busybox:v1", proxy.host());
    bed.ok(&["image", "rm", &name]);
    assert!(
        bed.entries("blobs/sha256").is_empty(),
        "the rm removed every blob"
    );
    let out = bed.ok(&["image", "pull", &via]);
    assert!(out.contains(&format!("Digest: {id}")), "{out}");
    assert!(out.contains("Pull complete"), "{out}");
    // The pulled image is the pushed one, byte for byte (same manifest digest).
    let ls = bed.ok(&["image", "ls"]);
    assert!(ls.contains(&id[7..19]), "{ls}");
    assert_eq!(
        proxy.blob_gets().len(),
        2,
        "config and layer: {:?}",
        proxy.blob_gets()
    );
    let run = bed.ok(&[
        "container",
        "run",
        "--rm",
        "--network",
        "none",
        "--image",
        &via,
        "--",
        "echo",
        "pulled",
    ]);
    assert_eq!(run, "pulled\n");

    // Pulled again: nothing but the manifest comes over the network.
    let out = bed.ok(&["image", "pull", &via]);
    assert!(
        out.contains("Already exists") && out.contains("Image is up to date"),
        "{out}"
    );
    assert_eq!(
        proxy.blob_gets().len(),
        2,
        "no blob fetched again: {:?}",
        proxy.blob_gets()
    );
    assert!(
        bed.entries("downloads").is_empty(),
        "{:?}",
        bed.entries("downloads")
    );
    bed.img.assert_no_containers();
}

#[test]
fn auth_refused_then_accepted() {
    if common::skip_without_root() {
        return;
    }
    let reg = Registry::start(true);
    let bed = Bed::new();
    let host = reg.host();
    let name = format!("{host}/private/busybox:latest");
    bed.import_busybox(&name);

    // No credentials: the registry refuses, and brig says how to fix it.
    let err = bed.fails(&["image", "push", &name]);
    assert!(err.contains("401") && err.contains("brig login"), "{err}");

    // Wrong password: refused, nothing stored.
    let o = bed.login(&host, USER, "wrong");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("incorrect username or password"), "{err}");
    let cfg = bed.docker_config().join("config.json");
    assert!(!cfg.exists(), "a refused login stores nothing");

    // Right password: stored as docker does, mode 0600.
    let o = bed.login(&host, USER, PASS);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Login Succeeded"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    use base64::Engine as _;
    assert_eq!(
        v["auths"][&host]["auth"],
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"))
    );

    bed.ok(&["image", "push", &name]);
    bed.ok(&["image", "rm", &name]);
    bed.ok(&["image", "pull", &name]);

    // Logged out: refused again.
    let out = bed.ok(&["logout", &host]);
    assert!(out.contains("Removing login credentials"), "{out}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    assert!(v["auths"].get(&host).is_none(), "{v}");
    bed.ok(&["image", "rm", &name]);
    let err = bed.fails(&["image", "pull", &name]);
    assert!(
        err.contains("unauthorized (401)") && err.contains("brig login"),
        "{err}"
    );
    assert!(bed.entries("images").is_empty());
}

#[test]
fn a_corrupt_blob_is_refused_and_named() {
    if common::skip_without_root() {
        return;
    }
    let reg = Registry::start(false);
    let proxy = Proxy::start(reg.port);
    let bed = Bed::new();
    let name = format!("{}/c/two:v1", reg.host());
    let (_bb, big) = import_two_layers(&bed, &name);
    bed.ok(&["image", "push", &name]);
    bed.ok(&["image", "rm", &name]);

    let via = format!("{}/c/two:v1", proxy.host());
    proxy.set(Mode::Corrupt(big.clone()));
    let err = bed.fails(&["image", "pull", &via]);
    assert!(err.contains(&big) && err.contains("corrupt"), "{err}");
    // Nothing of it is kept: no blob under its name, no partial, no image.
    // (The other blobs wait in downloads/ for the next pull: verified, or as a
    // .partial when the failure stopped their download.)
    let hex = &big[7..];
    assert!(!bed.entries("blobs/sha256").contains(&hex.to_string()));
    let dl = bed.entries("downloads");
    assert!(!dl.iter().any(|e| e.starts_with(hex)), "{dl:?}");
    for e in &dl {
        // A download of another blob that the failure cut short stays as a
        // .partial, which the next pull resumes (and verifies); under a final
        // name only verified blobs.
        if e.ends_with(".partial") {
            continue;
        }
        let data = std::fs::read(bed.img.image_root.join("downloads").join(e)).unwrap();
        assert_eq!(sha(&data)[7..], **e, "only verified blobs are kept");
    }
    assert!(bed.entries("images").is_empty());
    assert!(bed.entries("tmp").is_empty());
    assert!(
        bed.entries("layers").is_empty(),
        "{:?}",
        bed.entries("layers")
    );

    proxy.set(Mode::Pass);
    bed.ok(&["image", "pull", &via]);
    assert!(bed.entries("downloads").is_empty());
    let run = bed.ok(&[
        "container",
        "run",
        "--rm",
        "--network",
        "none",
        "--image",
        &via,
    ]);
    assert_eq!(run, "ok\n");
}

#[test]
fn a_killed_pull_resumes_and_leaves_nothing_corrupt() {
    if common::skip_without_root() {
        return;
    }
    let reg = Registry::start(false);
    let proxy = Proxy::start(reg.port);
    let bed = Bed::new();
    let name = format!("{}/r/two:v1", reg.host());
    let (small, big) = import_two_layers(&bed, &name);
    bed.ok(&["image", "push", &name]);
    bed.ok(&["image", "rm", &name]);

    let via = format!("{}/r/two:v1", proxy.host());
    const CUT: usize = 1 << 20;
    proxy.set(Mode::Stall(big.clone(), CUT));
    let mut child = Reaped(
        bed.command(&["image", "pull", &via])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let partial = bed
        .img
        .image_root
        .join("downloads")
        .join(format!("{}.partial", &big[7..]));
    let small_done = bed.img.image_root.join("downloads").join(&small[7..]);
    let deadline = Instant::now() + Duration::from_secs(60);
    // The stalled layer does not hold up the other one: they download in parallel.
    while !(std::fs::metadata(&partial).is_ok_and(|m| m.len() == CUT as u64)
        && small_done.is_file())
    {
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the pull ended early"
        );
        assert!(
            Instant::now() < deadline,
            "the pull did not reach the stall"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    // Killed midway: no blob under its final name, no image.
    assert!(!bed
        .img
        .image_root
        .join("blobs/sha256")
        .join(&big[7..])
        .exists());
    assert!(bed.entries("images").is_empty());

    proxy.set(Mode::Pass);
    let before = proxy.blob_gets().len();
    let out = bed.ok(&["image", "pull", &via]);
    assert!(out.contains(&format!("Resuming at {CUT} of")), "{out}");
    let gets = proxy.blob_gets()[before..].to_vec();
    assert!(
        !gets.iter().any(|g| g.contains(&small)),
        "the finished layer is not fetched again: {gets:?}"
    );
    assert!(
        bed.entries("downloads").is_empty(),
        "{:?}",
        bed.entries("downloads")
    );
    // Every blob hashes to its name.
    for b in bed.entries("blobs/sha256") {
        let data = std::fs::read(bed.img.image_root.join("blobs/sha256").join(&b)).unwrap();
        assert_eq!(sha(&data)[7..], b);
    }
    let run = bed.ok(&[
        "container",
        "run",
        "--rm",
        "--network",
        "none",
        "--image",
        &via,
    ]);
    assert_eq!(run, "ok\n");

    // A .partial that went bad on disk is not trusted: the pull starts over.
    bed.ok(&["image", "rm", &via]);
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&partial, noise(CUT, 99)).unwrap();
    let out = bed.ok(&["image", "pull", &via]);
    assert!(out.contains("Resuming at"), "{out}");
    assert!(bed.entries("downloads").is_empty());
    let run = bed.ok(&[
        "container",
        "run",
        "--rm",
        "--network",
        "none",
        "--image",
        &via,
    ]);
    assert_eq!(run, "ok\n");
}

/// Put a blob into an OCI layout dir; its digest.
fn put(dir: &Path, data: &[u8]) -> String {
    let d = sha(data);
    let p = dir.join("blobs/sha256").join(&d[7..]);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
    d
}

#[test]
fn a_multi_arch_index_gives_the_host_platform_or_the_one_asked_for() {
    if common::skip_without_root() {
        return;
    }
    let reg = Registry::start(false);
    let bed = Bed::new();
    // An index of two images, pushed with skopeo.
    let dir = bed.img.path("multi");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let host = img::arch();
    let other = if host == "arm64" { "amd64" } else { "arm64" };
    let mut entries = Vec::new();
    let mut ids = std::collections::BTreeMap::new();
    for arch in [other, host] {
        let tar = Layer::new().busybox().file("arch", arch.as_bytes()).tar();
        let blob = img::compress(&tar, Comp::Gzip);
        let ld = put(&dir, &blob);
        let cfg = serde_json::to_vec(&json!({
            "architecture": arch, "os": "linux", "config": {"Cmd": ["cat", "/arch"]},
            "rootfs": {"type": "layers", "diff_ids": [sha(&tar)]},
        }))
        .unwrap();
        let cd = put(&dir, &cfg);
        let m = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cfg.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": blob.len()}],
        }))
        .unwrap();
        let md = put(&dir, &m);
        ids.insert(arch, md.clone());
        entries.push(
            json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
            "size": m.len(), "platform": {"os": "linux", "architecture": arch}}),
        );
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries,
    }))
    .unwrap();
    let idx_d = put(&dir, &index);
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json", "digest": idx_d, "size": index.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}))
        .unwrap(),
    )
    .unwrap();
    let name = format!("{}/m/multi:v1", reg.host());
    let o = Command::new("skopeo")
        .args(["copy", "--all", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:multi", dir.display()))
        .arg(format!("docker://{name}"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    let out = bed.ok(&["image", "pull", &name]);
    assert!(out.contains(&format!("Digest: {}", ids[host])), "{out}");
    let run = bed.ok(&[
        "container",
        "run",
        "--rm",
        "--network",
        "none",
        "--image",
        &name,
    ]);
    assert_eq!(run, host);

    let other_name = format!("{}/m/multi:v1", reg.host());
    let out = bed.ok(&[
        "image",
        "pull",
        "--platform",
        &format!("linux/{other}"),
        &other_name,
    ]);
    assert!(out.contains(&format!("Digest: {}", ids[other])), "{out}");

    let err = bed.fails(&["image", "pull", "--platform", "linux/s390x", &name]);
    assert!(
        err.contains("no manifest for linux/s390x") && err.contains(host),
        "{err}"
    );
    let err = bed.fails(&["image", "pull", "--platform", "s390x", &name]);
    assert!(err.contains("--platform"), "{err}");
}

#[test]
fn loopback_is_insecure_by_default_and_bad_flags_are_refused() {
    if common::skip_without_root() {
        return;
    }
    let reg = Registry::start(false);
    let bed = Bed::new();
    // localhost, as docker: loopback registries are spoken to over plain HTTP
    // with no flag (a non-loopback one would need --insecure-registry; the
    // unit tests of image::registry cover that choice, as these tests reach
    // no other host).
    let name = format!("localhost:{}/l/busybox:v1", reg.port);
    bed.import_busybox(&name);
    bed.ok(&["image", "push", &name]);
    bed.ok(&["image", "rm", &name]);
    bed.ok(&["image", "pull", &name]);

    let err = bed.fails(&[
        "image",
        "pull",
        "--insecure-registry",
        "10.0.0.0/8",
        &format!("{}/x:1", reg.host()),
    ]);
    assert!(
        err.contains("--insecure-registry") && err.contains("CIDR"),
        "{err}"
    );
    let mut c = bed.command(&["image", "pull", &format!("{}/x:1", reg.host())]);
    let o = c
        .env("BRIG_INSECURE_REGISTRIES", "http://a")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("BRIG_INSECURE_REGISTRIES"));
    let err = bed.fails(&["login", "--username", "u", &reg.host()]);
    assert!(err.contains("--password-stdin"), "{err}");
    let err = bed.fails(&["image", "pull", &format!("{}/nothing/here:v1", reg.host())]);
    assert!(err.contains("manifest unknown"), "{err}");
}

#[test]
fn bearer_token_auth_for_login_push_and_pull() {
    if common::skip_without_root() {
        return;
    }
    let reg = Registry::start(false);
    let proxy = Proxy::start(reg.port);
    proxy.set(Mode::Bearer);
    let bed = Bed::new();
    let host = proxy.host();
    let name = format!("{host}/tok/busybox:v1");
    bed.import_busybox(&name);

    let err = bed.fails(&["image", "push", &name]);
    assert!(err.contains("brig login"), "{err}");
    let o = bed.login(&host, USER, "wrong");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("incorrect username or password"));
    let o = bed.login(&host, USER, PASS);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    bed.ok(&["image", "push", &name]);
    bed.ok(&["image", "rm", &name]);
    bed.ok(&["image", "pull", &name]);
    let log = proxy.log.lock().unwrap().clone();
    assert!(
        log.iter().any(|l| l.starts_with("GET /token")),
        "the token realm was asked: {log:?}"
    );
    bed.ok(&["logout", &host]);
    bed.ok(&["image", "rm", &name]);
    let err = bed.fails(&["image", "pull", &name]);
    assert!(err.contains("brig login"), "{err}");
}

#[test]
fn two_pulls_of_one_image_at_once() {
    if common::skip_without_root() {
        return;
    }
    let reg = Registry::start(false);
    let bed = Bed::new();
    let name = format!("{}/p/two:v1", reg.host());
    import_two_layers(&bed, &name);
    bed.ok(&["image", "push", &name]);
    bed.ok(&["image", "rm", &name]);
    let spawn = || {
        Reaped(
            bed.command(&["image", "pull", &name])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        )
    };
    let (mut a, mut b) = (spawn(), spawn());
    for c in [&mut a, &mut b] {
        let mut err = String::new();
        c.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert!(c.0.wait().unwrap().success(), "{err}");
    }
    assert!(
        bed.entries("downloads").is_empty(),
        "{:?}",
        bed.entries("downloads")
    );
    for b in bed.entries("blobs/sha256") {
        let data = std::fs::read(bed.img.image_root.join("blobs/sha256").join(&b)).unwrap();
        assert_eq!(sha(&data)[7..], b);
    }
    let run = bed.ok(&[
        "container",
        "run",
        "--rm",
        "--network",
        "none",
        "--image",
        &name,
    ]);
    assert_eq!(run, "ok\n");
}

#[test]
fn progress_is_redrawn_on_a_terminal_and_plain_otherwise() {
    if common::skip_without_root() {
        return;
    }
    let reg = Registry::start(false);
    let bed = Bed::new();
    let name = format!("{}/tty/two:v1", reg.host());
    import_two_layers(&bed, &name);
    bed.ok(&["image", "push", &name]);
    bed.ok(&["image", "rm", &name]);
    // A real pty (script(1)): per-blob lines redrawn in place.
    let cmdline = format!(
        "{} --root {} image --image-root {} pull {name}",
        common::BRIG,
        bed.img.root.display(),
        bed.img.image_root.display()
    );
    let o = Command::new("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .env("DOCKER_CONFIG", bed.docker_config())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("\x1b[2K") && out.contains("\x1b[2A"),
        "{out:?}"
    );
    assert!(
        out.contains("Pull complete") && out.contains("Digest: sha256:"),
        "{out:?}"
    );
    // Not a terminal: one plain line per state change, no escape sequences.
    bed.ok(&["image", "rm", &name]);
    let out = bed.ok(&["image", "pull", &name]);
    assert!(!out.contains('\x1b'), "{out:?}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines
            .iter()
            .filter(|l| l.ends_with(": Pull complete"))
            .count()
            == 2,
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(": Verifying Checksum: Download complete")),
        "{out}"
    );
}

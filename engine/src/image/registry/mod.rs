//! Registries (the OCI distribution protocol): `pull`, `push`, `login`.
//!
//! The protocol is oci-client's (reqwest with rustls). It is async: each
//! command builds a current-thread tokio runtime of its own and blocks on
//! it, so nothing async reaches the runtime's create/start path. This module
//! uses the image store's API only (blobs, `ensure_layer`, records, refs).
//!
//! A pull: manifest (or index → the manifest for the platform) → config →
//! layers. Every blob is fetched to ROOT/downloads/HEX.partial, hashed as it
//! arrives, and renamed to ROOT/downloads/HEX only when it hashes to its
//! digest; a blob that does not is deleted and named in the error. A killed
//! pull leaves its .partial file, and the next pull of that blob continues
//! from its end with a Range request (from the start again if the registry
//! ignores the range, or if the whole then does not verify). Under the
//! store's lock, the verified blobs move into ROOT/blobs, each layer is
//! unpacked (and checked against its diff id) by `ImageStore::ensure_layer`,
//! and the image record and name are written. Blobs the store has already
//! are not fetched again.

pub mod auth;
pub mod progress;

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use oci_client::client::{BlobResponse, ClientConfig, ClientProtocol};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::Digest as _;

use super::import::{host_arch, is_index, is_manifest, MAX_JSON};
use super::store::{normalize_ref, ImageRecord, ImageStore, LayerRecord};
use super::{Digest, ImageError, Result};
pub use progress::Progress;

/// How many blobs download (or upload) at once.
pub const PARALLEL: usize = 4;

const ACCEPT: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

pub(crate) fn reg_err(s: impl Into<String>) -> ImageError {
    ImageError::Registry(s.into())
}

/// `os/arch[/variant]`, as docker's `--platform`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            arch: host_arch().into(),
            variant: None,
        }
    }

    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || {
            reg_err(format!(
                "--platform {s:?}: expected os/arch[/variant], e.g. linux/amd64 or linux/arm/v7"
            ))
        };
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        if parts[0] != "linux" {
            return Err(reg_err(format!(
                "--platform {s:?}: brig runs linux images only"
            )));
        }
        Ok(Platform {
            os: parts[0].into(),
            arch: parts[1].into(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A registry host and whether it may be spoken to over plain HTTP.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: String,
    /// Listed insecure, or loopback: HTTPS without certificate checks if it
    /// speaks TLS, else plain HTTP (see [`Endpoint::probe`]).
    pub insecure: bool,
    /// An insecure registry that answered over TLS.
    pub tls: bool,
}

impl Endpoint {
    /// `host` (HOST[:PORT]) is insecure when `insecure` lists it (exactly, as
    /// HOST:PORT or HOST), or when it is a loopback address (127.0.0.0/8,
    /// ::1, or the name localhost), as docker's default insecure CIDRs are.
    pub fn new(host: &str, insecure: &[String]) -> Endpoint {
        let bare = host_part(host);
        let listed = insecure.iter().any(|i| i == host || i == bare);
        Endpoint {
            host: host.to_string(),
            insecure: listed || is_loopback(bare),
            tls: false,
        }
    }

    pub fn scheme(&self) -> &'static str {
        if self.insecure && !self.tls {
            "http"
        } else {
            "https"
        }
    }

    /// As docker does for an insecure registry: HTTPS first (any
    /// certificate), plain HTTP if no TLS answers. A secure registry is
    /// HTTPS with verified certificates, and never probed.
    pub async fn probe(&mut self) {
        if !self.insecure {
            return;
        }
        let Ok(c) = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(std::time::Duration::from_secs(10))
            .build()
        else {
            return;
        };
        self.tls = c
            .get(format!("https://{}/v2/", self.host))
            .send()
            .await
            .is_ok();
    }
}

fn host_part(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn is_loopback(h: &str) -> bool {
    if h == "localhost" {
        return true;
    }
    h.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

/// The insecure registries: `--insecure-registry` values and
/// BRIG_INSECURE_REGISTRIES (comma-separated), checked.
pub fn insecure_list(flags: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let env = std::env::var("BRIG_INSECURE_REGISTRIES").unwrap_or_default();
    for (from, v) in flags
        .iter()
        .map(|f| ("--insecure-registry", f.as_str()))
        .chain(
            env.split(',')
                .map(|s| ("BRIG_INSECURE_REGISTRIES", s.trim()))
                .filter(|(_, s)| !s.is_empty()),
        )
    {
        if v.contains('/') || v.contains("://") || v.is_empty() || v.contains(char::is_whitespace) {
            return Err(reg_err(format!(
                "{from} {v:?}: expected HOST or HOST:PORT (brig takes no CIDR ranges or URLs)"
            )));
        }
        out.push(v.to_string());
    }
    Ok(out)
}

fn parse_reference(r: &str) -> Result<Reference> {
    r.parse::<Reference>()
        .map_err(|e| reg_err(format!("image reference {r:?}: {e}")))
}

fn client_for(ep: &Endpoint) -> Client {
    let protocol = if ep.scheme() == "http" {
        ClientProtocol::HttpsExcept(vec![ep.host.clone()])
    } else {
        ClientProtocol::Https
    };
    Client::new(ClientConfig {
        protocol,
        max_concurrent_download: PARALLEL,
        max_concurrent_upload: PARALLEL,
        connect_timeout: Some(std::time::Duration::from_secs(30)),
        accept_invalid_certificates: ep.insecure,
        ..Default::default()
    })
}

fn registry_auth(host: &str) -> Result<RegistryAuth> {
    Ok(match auth::credentials(host)? {
        Some((u, p)) => RegistryAuth::Basic(u, p),
        None => RegistryAuth::Anonymous,
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| reg_err(format!("cannot start the I/O runtime: {e}")))
}

/// oci-client's error as one line, with the hint that helps.
fn oci_err(what: &str, e: oci_client::errors::OciDistributionError) -> ImageError {
    use oci_client::errors::OciDistributionError as E;
    const LOGIN: &str = "; log in with `brig login HOST` (or check the credentials stored for it)";
    let hint = match &e {
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => LOGIN,
        E::RequestError(r) if r.status() == Some(reqwest::StatusCode::UNAUTHORIZED) => LOGIN,
        E::RequestError(r) if r.status().is_none() => {
            "; is the registry up? (brig speaks HTTPS to it unless it is loopback or named by --insecure-registry)"
        }
        _ => "",
    };
    let msg = match &e {
        E::RegistryError { envelope, url } => {
            let codes: Vec<String> = envelope.errors.iter().map(|x| x.message.clone()).collect();
            format!("{} ({url})", codes.join("; "))
        }
        E::ImageManifestNotFoundError(m) => format!("manifest unknown: {m}"),
        E::UnauthorizedError { url } => format!("unauthorized (401): {url}"),
        _ => auth::chain(&e),
    };
    reg_err(format!("{what}: {msg}{hint}"))
}

// ---------------------------------------------------------------- login

pub struct LoginOptions {
    pub host: String,
    pub username: String,
    pub password: String,
    pub insecure: Vec<String>,
}

/// Check the credentials against the registry, then store them. Returns the
/// config file written.
pub fn login(opts: &LoginOptions) -> Result<PathBuf> {
    if opts.host.contains('/') {
        return Err(reg_err(format!(
            "login: {:?}: expected a registry HOST[:PORT], not a URL or an image",
            opts.host
        )));
    }
    if opts.username.is_empty() || opts.username.contains(':') {
        return Err(reg_err(
            "login: --username must be non-empty and hold no ':'",
        ));
    }
    if opts.password.is_empty() {
        return Err(reg_err("login: the password is empty"));
    }
    let mut ep = Endpoint::new(&opts.host, &opts.insecure);
    runtime()?.block_on(async {
        ep.probe().await;
        auth::check(&ep, &opts.username, &opts.password).await
    })?;
    auth::store(&opts.host, &opts.username, &opts.password)
}

// ---------------------------------------------------------------- pull

pub struct PullOptions {
    pub reference: String,
    pub platform: Option<Platform>,
    pub insecure: Vec<String>,
}

/// What a pull did.
pub struct Pulled {
    pub record: ImageRecord,
    /// The name it was stored under (None for a pull by digest).
    pub name: Option<String>,
    /// How many blobs came over the network.
    pub fetched: usize,
}

/// The blob to fetch, as oci-client wants it.
fn desc(d: &Digest, size: u64) -> OciDescriptor {
    OciDescriptor {
        digest: d.to_string(),
        size: size as i64,
        ..Default::default()
    }
}

/// Pull an image into the store.
pub fn pull(store: &ImageStore, opts: &PullOptions, progress: &Progress) -> Result<Pulled> {
    let reference = parse_reference(&opts.reference)?;
    let name = match reference.digest() {
        Some(_) => None,
        None => Some(normalize_ref(&opts.reference)?),
    };
    let platform = opts.platform.clone().unwrap_or_else(Platform::host);
    let mut ep = Endpoint::new(reference.registry(), &opts.insecure);
    let downloads = store.root().join("downloads");
    std::fs::create_dir_all(&downloads).map_err(|e| ImageError::io(&downloads, e))?;
    let auth = registry_auth(reference.registry())?;
    let rt = runtime()?;
    rt.block_on(ep.probe());
    let client = client_for(&ep);
    // Layers unpacked before the commit: removed again if the pull fails.
    let early_dirs: std::cell::RefCell<Vec<Digest>> = Default::default();
    let fetched_all = rt.block_on(async {
        let what = reference.whole();
        let (mut body, mut digest) = client
            .pull_manifest_raw(&reference, &auth, ACCEPT)
            .await
            .map_err(|e| oci_err(&what, e))?;
        // The manifest, checked against its digest (the one asked for, or the
        // one the registry says) by brig as well.
        let mut id = check_manifest(&what, &body, &digest, reference.digest())?;
        let mut hops = 0;
        loop {
            let v: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| reg_err(format!("{what}: manifest {id}: {e}")))?;
            let mt = v["mediaType"].as_str().unwrap_or("").to_string();
            let looks_index = is_index(&mt) || (mt.is_empty() && v.get("manifests").is_some());
            if !looks_index {
                if !mt.is_empty() && !is_manifest(&mt) {
                    return Err(reg_err(format!(
                        "{what}: manifest {id}: media type {mt}: brig pulls OCI and docker v2 images only"
                    )));
                }
                break;
            }
            hops += 1;
            if hops > 3 {
                return Err(reg_err(format!("{what}: indexes nested too deep")));
            }
            let index = super::import::parse_index(&body)?;
            let pick = pick_platform(&index, &platform)
                .map_err(|e| reg_err(format!("{what}: index {id}: {e}")))?;
            let r = Reference::with_digest(
                reference.registry().to_string(),
                reference.repository().to_string(),
                pick.to_string(),
            );
            (body, digest) = client
                .pull_manifest_raw(&r, &auth, ACCEPT)
                .await
                .map_err(|e| oci_err(&what, e))?;
            id = check_manifest(&what, &body, &digest, Some(pick.as_str()))?;
        }
        let manifest = super::import::parse_manifest(&body)?;
        let cfg_desc = manifest.config();
        let cfg_digest = Digest::parse(cfg_desc.digest().as_ref())?;
        if cfg_desc.size() > MAX_JSON {
            return Err(reg_err(format!(
                "{what}: config {cfg_digest}: {} bytes is more than brig reads",
                cfg_desc.size()
            )));
        }
        let mut fetched = 0;
        // The config first: it says which layers (diff ids) the image has.
        let cfg_path = if store.has_blob(&cfg_digest) {
            store.blob_path(&cfg_digest)
        } else {
            fetched += 1;
            fetch(
                &client,
                &reference,
                &cfg_digest,
                cfg_desc.size(),
                &downloads,
                progress,
                false,
            )
            .await?
        };
        let cfg_bytes = std::fs::read(&cfg_path).map_err(|e| ImageError::io(&cfg_path, e))?;
        if Digest::of(&cfg_bytes) != cfg_digest {
            return Err(ImageError::Corrupt {
                digest: cfg_digest.to_string(),
                actual: Digest::of(&cfg_bytes).to_string(),
            });
        }
        let config = super::import::parse_config(&cfg_bytes)?;
        let layers = super::import::layer_records_for(&manifest, &config, &platform.arch)
            .map_err(|e| reg_err(format!("{what}: {e}")))?;
        let mut todo = Vec::new();
        for l in &layers {
            if store.has_blob(&l.digest) {
                progress.state(l.digest.short(), "Already exists");
            } else if !todo.iter().any(|t: &&LayerRecord| t.digest == l.digest) {
                progress.state(l.digest.short(), "Waiting");
                todo.push(l);
            }
        }
        fetched += todo.len();
        futures_util::stream::iter(todo.into_iter().map(|l| async {
            let path = fetch(
                &client,
                &reference,
                &l.digest,
                l.size,
                &downloads,
                progress,
                true,
            )
            .await?;
            // Unpack it now, on another thread, while the other blobs
            // download. Best effort: the commit unpacks (and checks) every
            // layer that is not in place, and reports what goes wrong.
            progress.state(l.digest.short(), "Extracting");
            // Noted before it starts: a failing pull drops this future, but
            // the unpacking runs on (the runtime's drop waits for it).
            early_dirs.borrow_mut().push(l.diff_id.clone());
            let (st, rec) = (store.clone(), l.clone());
            let early = tokio::task::spawn_blocking(move || st.ensure_layer_from(&rec, &path))
                .await
                .ok()
                .and_then(|r| r.ok());
            if early.is_some() {
                progress.state(l.digest.short(), "Pull complete");
            }
            Ok::<_, ImageError>(())
        }))
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
        Ok::<_, ImageError>((id, body, cfg_digest, layers, fetched))
    });
    drop(rt);
    let (id, manifest_bytes, cfg_digest, layers, fetched) = match fetched_all {
        Ok(v) => v,
        Err(e) => {
            forget_layers(store, &early_dirs.into_inner());
            return Err(e);
        }
    };

    // Commit, under the store's lock: the verified blobs move in, the
    // layers are unpacked, the record and the name are written.
    let _lock = store.lock()?;
    let mut fresh = Vec::new();
    let result = (|| {
        for d in std::iter::once(&cfg_digest).chain(layers.iter().map(|l| &l.digest)) {
            let done = downloads.join(d.hex());
            if done.is_file() {
                let dst = store.blob_path(d);
                std::fs::rename(&done, &dst).map_err(|e| ImageError::io(&dst, e))?;
                fresh.push(d.clone());
            } else if !store.has_blob(d) {
                return Err(reg_err(format!(
                    "blob {d}: removed from the store while the pull ran; pull again"
                )));
            }
        }
        store.put_blob(&manifest_bytes[..], Some(&id))?;
        for l in &layers {
            let p = store.blob_path(&l.digest);
            let size = std::fs::metadata(&p)
                .map_err(|e| ImageError::io(&p, e))?
                .len();
            if size != l.size {
                return Err(reg_err(format!(
                    "layer {}: the manifest says {} bytes, the blob has {size}",
                    l.digest, l.size
                )));
            }
            if !store.layer_dir(&l.diff_id).is_dir() {
                store.ensure_layer(l)?;
                if fresh.contains(&l.digest) {
                    progress.state(l.digest.short(), "Pull complete");
                }
            }
        }
        let rec = match store.load_image(&id) {
            Ok(r) => r,
            Err(_) => {
                let rec = ImageRecord {
                    id: id.clone(),
                    config: cfg_digest.clone(),
                    layers: layers.clone(),
                    imported: brig_runtime::sys::rfc3339_now(),
                };
                store.save_image(&rec)?;
                rec
            }
        };
        if let Some(n) = &name {
            let mut refs = store.refs()?;
            refs.insert(n.clone(), rec.id.clone());
            store.save_refs(&refs)?;
        }
        Ok(rec)
    })();
    match result {
        Ok(record) => Ok(Pulled {
            record,
            name,
            fetched,
        }),
        Err(e) => {
            let _ = store.gc();
            Err(e)
        }
    }
}

/// Remove the layer dirs a failed pull unpacked, unless an image uses them
/// (the downloads stay, for the next pull to resume).
fn forget_layers(store: &ImageStore, diff_ids: &[Digest]) {
    if diff_ids.is_empty() {
        return;
    }
    let Ok(_lock) = store.lock() else { return };
    let Ok(images) = store.images() else { return };
    for d in diff_ids {
        if !images
            .iter()
            .any(|i| i.layers.iter().any(|l| l.diff_id == *d))
        {
            let _ = super::unpack::remove_tree(&store.layer_dir(d));
        }
    }
}

fn check_manifest(what: &str, body: &[u8], said: &str, asked: Option<&str>) -> Result<Digest> {
    if body.len() as u64 > MAX_JSON {
        return Err(reg_err(format!(
            "{what}: the manifest is larger than {MAX_JSON} bytes"
        )));
    }
    let actual = Digest::of(body);
    for expect in [Some(said), asked].into_iter().flatten() {
        if expect.starts_with("sha256:") && expect != actual.as_str() {
            return Err(ImageError::Corrupt {
                digest: expect.to_string(),
                actual: actual.to_string(),
            });
        }
    }
    Ok(actual)
}

/// The manifest of an index for `want`.
fn pick_platform(index: &oci_spec::image::ImageIndex, want: &Platform) -> Result<Digest> {
    let mut seen = Vec::new();
    for d in index.manifests() {
        let Some(p) = d.platform() else { continue };
        let (os, arch) = (p.os().to_string(), p.architecture().to_string());
        let variant = p.variant().clone();
        seen.push(match &variant {
            Some(v) => format!("{os}/{arch}/{v}"),
            None => format!("{os}/{arch}"),
        });
        if os != want.os || arch != want.arch {
            continue;
        }
        if let Some(v) = &want.variant {
            // arm64's only variant is v8, which indexes often leave out.
            let implied = variant.is_none() && arch == "arm64" && v == "v8";
            if variant.as_deref() != Some(v.as_str()) && !implied {
                continue;
            }
        }
        return Digest::parse(d.digest().as_ref());
    }
    Err(reg_err(format!(
        "no manifest for {want} (the index has: {})",
        if seen.is_empty() {
            "no platforms".to_string()
        } else {
            seen.join(", ")
        }
    )))
}

/// Hold an exclusive flock on `f` (another brig pulling the same blob waits).
fn flock(f: &File, p: &Path) -> Result<()> {
    // SAFETY: a valid fd.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(ImageError::io(p, std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Fetch one blob to DIR/HEX (verified), resuming DIR/HEX.partial. Returns
/// the path.
async fn fetch(
    client: &Client,
    reference: &Reference,
    digest: &Digest,
    size: u64,
    dir: &Path,
    progress: &Progress,
    show: bool,
) -> Result<PathBuf> {
    let id = digest.short();
    let done = dir.join(digest.hex());
    let part = dir.join(format!("{}.partial", digest.hex()));
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e: std::io::Error| ImageError::io(&p, e)
    };
    // Lock the .partial that is at its path: one another pull renamed or
    // removed while this one waited for its lock is not written to.
    let mut f = loop {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&part)
            .map_err(io(&part))?;
        flock(&f, &part)?;
        use std::os::unix::fs::MetadataExt;
        let held = f.metadata().map_err(io(&part))?;
        match std::fs::metadata(&part) {
            Ok(m) if m.ino() == held.ino() && m.dev() == held.dev() => break f,
            _ => continue,
        }
    };
    if done.is_file() {
        // Another pull finished it while this one waited.
        let _ = std::fs::remove_file(&part);
        return Ok(done);
    }
    // What is there already, hashed.
    let mut have = f.metadata().map_err(io(&part))?.len();
    let mut hasher = sha2::Sha256::new();
    if have > size {
        f.set_len(0).map_err(io(&part))?;
        have = 0;
    }
    if have > 0 {
        let mut buf = vec![0u8; 1 << 20];
        let mut left = have;
        while left > 0 {
            let n = f
                .read(&mut buf[..(left.min(1 << 20)) as usize])
                .map_err(io(&part))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            left -= n as u64;
        }
    }
    f.seek(std::io::SeekFrom::Start(have)).map_err(io(&part))?;
    let mut retried = false;
    loop {
        let resumed = have > 0;
        if show {
            progress.state(
                id,
                &if resumed {
                    format!("Resuming at {have} of {size} bytes")
                } else {
                    format!("Pulling fs layer ({size} bytes)")
                },
            );
        }
        if have < size {
            let d = desc(digest, size);
            let what = format!("blob {digest}");
            let mut stream = if resumed {
                match client
                    .pull_blob_stream_partial(reference, &d, have, None)
                    .await
                    .map_err(|e| oci_err(&what, e))?
                {
                    BlobResponse::Partial(s) => s,
                    BlobResponse::Full(s) => {
                        // The registry sent the whole blob: start over.
                        f.set_len(0).map_err(io(&part))?;
                        f.seek(std::io::SeekFrom::Start(0)).map_err(io(&part))?;
                        hasher = sha2::Sha256::new();
                        have = 0;
                        s
                    }
                }
            } else {
                client
                    .pull_blob_stream(reference, &d)
                    .await
                    .map_err(|e| oci_err(&what, e))?
            };
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(b) => {
                        if have + b.len() as u64 > size {
                            drop(f);
                            let _ = std::fs::remove_file(&part);
                            return Err(reg_err(format!(
                                "blob {digest}: the registry sent more than the manifest's {size} bytes; the blob is not used"
                            )));
                        }
                        f.write_all(&b).map_err(io(&part))?;
                        hasher.update(&b);
                        have += b.len() as u64;
                        if show {
                            progress.bytes(id, "Downloading", have, size);
                        }
                    }
                    // oci-client's own digest check fails after the last
                    // byte: brig's check below says which blob and why.
                    Err(_) if have == size => break,
                    Err(e) => {
                        let _ = f.sync_data();
                        return Err(reg_err(format!(
                            "blob {digest}: the download stopped after {have} of {size} bytes: {}; pull again to resume",
                            auth::chain(&e)
                        )));
                    }
                }
            }
            if have < size {
                let _ = f.sync_data();
                return Err(reg_err(format!(
                    "blob {digest}: the registry closed the download after {have} of {size} bytes; pull again to resume"
                )));
            }
        }
        f.sync_all().map_err(io(&part))?;
        let actual = Digest::from_sha256(&std::mem::take(&mut hasher).finalize());
        if actual == *digest {
            std::fs::rename(&part, &done).map_err(io(&done))?;
            if show {
                progress.state(id, "Verifying Checksum: Download complete");
            }
            return Ok(done);
        }
        // Not the blob: none of it is kept. A resumed download may have
        // continued a bad start, so it gets one fresh try.
        f.set_len(0).map_err(io(&part))?;
        f.seek(std::io::SeekFrom::Start(0)).map_err(io(&part))?;
        have = 0;
        if resumed && !retried {
            retried = true;
            continue;
        }
        drop(f);
        let _ = std::fs::remove_file(&part);
        return Err(ImageError::Corrupt {
            digest: digest.to_string(),
            actual: actual.to_string(),
        });
    }
}

// ---------------------------------------------------------------- push

pub struct PushOptions {
    /// The local image (NAME[:TAG]), also where it goes.
    pub reference: String,
    pub insecure: Vec<String>,
}

/// Push an image from the store. Returns its manifest digest and size.
pub fn push(
    store: &ImageStore,
    opts: &PushOptions,
    progress: &Progress,
) -> Result<(Digest, usize)> {
    let rec = store.resolve(&opts.reference)?;
    let reference = parse_reference(&opts.reference)?;
    if reference.digest().is_some() {
        return Err(reg_err(format!(
            "push {:?}: push to a tag, not a digest",
            opts.reference
        )));
    }
    let manifest = store.read_blob(&rec.id, MAX_JSON)?;
    let v: serde_json::Value = serde_json::from_slice(&manifest)
        .map_err(|e| reg_err(format!("manifest {}: {e}", rec.id)))?;
    let media_type = v["mediaType"]
        .as_str()
        .unwrap_or("application/vnd.oci.image.manifest.v1+json")
        .to_string();
    // Every blob is checked before it leaves.
    let cfg = store.read_blob(&rec.config, MAX_JSON)?;
    let mut ep = Endpoint::new(reference.registry(), &opts.insecure);
    let auth = registry_auth(reference.registry())?;
    let rt = runtime()?;
    rt.block_on(ep.probe());
    let client = client_for(&ep);
    let what = reference.whole();
    rt.block_on(async {
        client
            .auth(&reference, &auth, oci_client::RegistryOperation::Push)
            .await
            .map_err(|e| oci_err(&what, e))?;
        let mut blobs: Vec<(Digest, u64)> = Vec::new();
        for l in &rec.layers {
            if !blobs.iter().any(|(d, _)| *d == l.digest) {
                blobs.push((l.digest.clone(), l.size));
            }
        }
        futures_util::stream::iter(
            blobs
                .iter()
                .map(|(d, size)| push_blob(&client, &reference, store, d, *size, progress)),
        )
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
        if !client
            .blob_exists(&reference, rec.config.as_str())
            .await
            .map_err(|e| oci_err(&what, e))?
        {
            client
                .push_blob(&reference, cfg, rec.config.as_str())
                .await
                .map_err(|e| oci_err(&format!("config {}", rec.config), e))?;
        }
        let ct = reqwest::header::HeaderValue::from_str(&media_type)
            .map_err(|e| reg_err(format!("manifest media type {media_type:?}: {e}")))?;
        client
            .push_manifest_raw(&reference, manifest.clone(), ct)
            .await
            .map_err(|e| oci_err(&format!("{what}: manifest"), e))?;
        Ok::<_, ImageError>(())
    })?;
    Ok((rec.id, manifest.len()))
}

async fn push_blob(
    client: &Client,
    reference: &Reference,
    store: &ImageStore,
    d: &Digest,
    size: u64,
    progress: &Progress,
) -> Result<()> {
    let id = d.short();
    let what = format!("blob {d}");
    if client
        .blob_exists(reference, d.as_str())
        .await
        .map_err(|e| oci_err(&what, e))?
    {
        progress.state(id, "Layer already exists");
        return Ok(());
    }
    let p = store.blob_path(d);
    let f = File::open(&p).map_err(|e| ImageError::io(&p, e))?;
    progress.state(id, &format!("Pushing ({size} bytes)"));
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    // Read in 4 MiB pieces (one PATCH each), hashed on the way: a blob that
    // rotted in the store does not reach the registry.
    let want = d.clone();
    let stream = futures_util::stream::try_unfold(
        (f, sha2::Sha256::new(), false),
        move |(mut f, mut h, ended)| {
            let counter = counter.clone();
            let want = want.clone();
            async move {
                if ended {
                    return Ok(None);
                }
                let mut buf = vec![0u8; 4 << 20];
                let mut n = 0;
                while n < buf.len() {
                    let k = f.read(&mut buf[n..]).map_err(|e| {
                        oci_client::errors::OciDistributionError::GenericError(Some(e.to_string()))
                    })?;
                    if k == 0 {
                        break;
                    }
                    n += k;
                }
                buf.truncate(n);
                h.update(&buf);
                counter.fetch_add(n as u64, Ordering::Relaxed);
                let end = n == 0 || n < (4 << 20);
                if end {
                    let got = Digest::from_sha256(&h.clone().finalize());
                    if got != want {
                        return Err(oci_client::errors::OciDistributionError::GenericError(
                            Some(format!(
                                "blob {want}: corrupt in the store: its content hashes to {got}"
                            )),
                        ));
                    }
                    if n == 0 {
                        return Ok(None);
                    }
                }
                Ok(Some((bytes::Bytes::from(buf), (f, h, end))))
            }
        },
    );
    let upload = client.push_blob_stream(reference, stream, d.as_str(), Some(size));
    let mut upload = std::pin::pin!(upload);
    loop {
        let tick = tokio::time::sleep(std::time::Duration::from_millis(100));
        tokio::select! {
            r = &mut upload => {
                r.map_err(|e| oci_err(&what, e))?;
                break;
            }
            _ = tick => progress.bytes(id, "Pushing", sent.load(Ordering::Relaxed), size),
        }
    }
    progress.state(id, "Pushed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_unless_loopback_or_listed() {
        let none: Vec<String> = vec![];
        for (host, insecure) in [
            ("registry.example.com", false),
            ("registry.example.com:5000", false),
            ("10.1.2.3:5000", false),
            ("127.0.0.1:5000", true),
            ("127.9.9.9", true),
            ("localhost:5000", true),
            ("[::1]:5000", true),
        ] {
            assert_eq!(Endpoint::new(host, &none).insecure, insecure, "{host}");
        }
        let listed = vec![
            "registry.example.com:5000".to_string(),
            "10.1.2.3".to_string(),
        ];
        assert!(Endpoint::new("registry.example.com:5000", &listed).insecure);
        assert!(!Endpoint::new("registry.example.com:5001", &listed).insecure);
        assert!(Endpoint::new("10.1.2.3:5000", &listed).insecure);
        assert_eq!(
            Endpoint::new("registry.example.com", &none).scheme(),
            "https"
        );
    }

    #[test]
    fn the_index_entry_for_the_platform_is_picked() {
        let e = |hex: char, arch: &str, variant: Option<&str>| {
            let mut p = serde_json::json!({"os": "linux", "architecture": arch});
            if let Some(v) = variant {
                p["variant"] = v.into();
            }
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": format!("sha256:{}", hex.to_string().repeat(64)),
                "size": 1, "platform": p,
            })
        };
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [
            e('a', "amd64", None), e('b', "arm64", None), e('c', "arm", Some("v7")),
        ]});
        let index = crate::image::import::parse_index(index.to_string().as_bytes()).unwrap();
        let pick = |p: &str| pick_platform(&index, &Platform::parse(p).unwrap());
        assert!(pick("linux/amd64").unwrap().hex().starts_with('a'));
        assert!(pick("linux/arm64/v8").unwrap().hex().starts_with('b'));
        assert!(pick("linux/arm/v7").unwrap().hex().starts_with('c'));
        let err = pick("linux/arm/v6").unwrap_err().to_string();
        assert!(
            err.contains("linux/arm/v7") && err.contains("linux/amd64"),
            "{err}"
        );
    }

    #[test]
    fn platforms_parse_as_docker_spells_them() {
        let p = Platform::parse("linux/arm/v7").unwrap();
        assert_eq!((p.arch.as_str(), p.variant.as_deref()), ("arm", Some("v7")));
        assert_eq!(p.to_string(), "linux/arm/v7");
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "windows/amd64"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }
}

//! The docker-like front end: containers from images (`brig container ...`) and
//! named volumes (`brig volume ...`).
//!
//! A container here is a record under the image root (ROOT/containers/ID:
//! record.json, the bundle's config.json, the overlay snapshot, a log for
//! detached runs). Starting it mounts the overlay rootfs (as a containerd
//! snapshotter does), then drives the same lifecycle code as `brig create`
//! and `brig start` with that directory as the bundle, under the same id. The
//! runtime's own state dir (`--root`) stays as runc's.

pub mod archive;
pub mod build;
pub mod bundle;
pub mod cmds;
pub mod flags;
pub mod image;
pub mod network;
pub mod store;
pub mod util;
pub mod volume;

pub use util::random_hex;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::image::snapshot::Snapshot;
use crate::image::{Digest, ImageStore};
use crate::network::{AttachRequest, NetworkMode, Networks};
use brig_runtime::container::{self, CreateOptions, Status, Store};
use brig_runtime::spec::Spec;
use flags::{Mount, RunFlags};
use store::EngineDirs;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Image(#[from] image::ImageError),
    #[error(transparent)]
    Container(#[from] container::ContainerError),
    #[error(transparent)]
    Network(#[from] crate::network::NetworkError),
    #[error("{0}")]
    Msg(String),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

fn msg(s: impl Into<String>) -> EngineError {
    EngineError::Msg(s.into())
}

/// A `--debug` line for one of the engine's steps on container `id` (with the
/// milliseconds since main began, as the runtime's steps have them), so that
/// `brig --debug container run` shows where the engine's time goes.
fn step(id: &str, what: std::fmt::Arguments) {
    container::trace::step("engine", id, what);
}

/// What brig keeps about a container made from an image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    /// The image's id (manifest digest) and the reference it was given as.
    pub image: Digest,
    pub image_ref: String,
    pub created: String,
    pub args: Vec<String>,
    /// The named volumes it mounts (`volume rm` refuses them).
    pub volumes: Vec<String>,
    pub auto_remove: bool,
    /// `--network`: its attachment (namespace, address, ports) lives from
    /// create to rm, in the network store.
    pub network: NetworkMode,
}

/// A container's status as `container ls` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CStatus {
    /// Made, never started (or stopped and deleted from the runtime).
    Created,
    Running,
    Paused,
    Exited,
}

impl std::fmt::Display for CStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CStatus::Created => "created",
            CStatus::Running => "running",
            CStatus::Paused => "paused",
            CStatus::Exited => "exited",
        })
    }
}

pub struct Engine {
    pub images: ImageStore,
    pub dirs: EngineDirs,
    pub runtime: Store,
    pub networks: Networks,
}

/// Undoes a half-made container unless disarmed.
struct Undo<'a> {
    dir: Option<PathBuf>,
    volumes: Vec<PathBuf>,
    /// The id whose network attachment to undo.
    attached: Option<String>,
    engine: &'a Engine,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.attached.take() {
            let _ = self.engine.networks.detach(&id);
        }
        if let Some(d) = self.dir.take() {
            let snap = Snapshot::new(&d);
            if snap.remove().is_ok() {
                let _ = std::fs::remove_dir_all(&d);
            }
        }
        for v in self.volumes.drain(..) {
            let _ = std::fs::remove_dir_all(v);
        }
    }
}

impl Engine {
    pub fn new(image_root: &Path, runtime: Store, networks: Networks) -> Result<Engine> {
        let images = ImageStore::open(image_root)?;
        Ok(Engine {
            dirs: EngineDirs::open(images.root())?,
            images,
            runtime,
            networks,
        })
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.dirs.containers().join(id)
    }

    pub fn records(&self) -> Result<Vec<ContainerRecord>> {
        let dir = self.dirs.containers();
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(|e| image::ImageError::io(&dir, e))? {
            let e = e.map_err(|e| image::ImageError::io(&dir, e))?;
            let p = e.path().join("record.json");
            if let Ok(data) = std::fs::read(&p) {
                let r: ContainerRecord = serde_json::from_slice(&data)
                    .map_err(|e| msg(format!("{}: {e}", p.display())))?;
                out.push(r);
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(out)
    }

    /// The container a name, an id or a unique id prefix names.
    pub fn find(&self, key: &str) -> Result<ContainerRecord> {
        let all = self.records()?;
        if let Some(r) = all.iter().find(|r| r.name == key || r.id == key) {
            return Ok(r.clone());
        }
        let m: Vec<_> = all.iter().filter(|r| r.id.starts_with(key)).collect();
        match (key.is_empty(), m.len()) {
            (false, 1) => Ok(m[0].clone()),
            (false, n) if n > 1 => Err(msg(format!(
                "container {key:?}: the prefix matches {n} containers"
            ))),
            _ => Err(msg(format!("container {key:?}: no such container"))),
        }
    }

    pub fn status(&self, r: &ContainerRecord) -> CStatus {
        match self.runtime.peek(&r.id) {
            Ok(st) => match st.current_status() {
                Status::Running => CStatus::Running,
                Status::Paused => CStatus::Paused,
                Status::Stopped => CStatus::Exited,
                Status::Created | Status::Creating => CStatus::Created,
            },
            Err(_) if self.dir(&r.id).join("started").exists() => CStatus::Exited,
            Err(_) => CStatus::Created,
        }
    }

    /// The lower dirs of an image, bottom first; unpacked again from their
    /// (checked) blobs if a layer dir is missing.
    fn lowers(&self, img: &image::ImageRecord) -> Result<Vec<PathBuf>> {
        img.layers
            .iter()
            .map(|l| self.images.ensure_layer(l).map_err(Into::into))
            .collect()
    }

    /// `container create`: the record, the snapshot (mounted), the volumes and
    /// config.json. Nothing runs yet. Returns the record.
    pub fn create(&self, f: &RunFlags) -> Result<ContainerRecord> {
        self.create_with_spec(f).map(|(rec, _)| rec)
    }

    /// [`create`](Self::create), also returning the config it wrote, so that
    /// `run` hands it to the runtime in memory instead of having config.json
    /// read back.
    fn create_with_spec(&self, f: &RunFlags) -> Result<(ContainerRecord, Spec)> {
        step("-", format_args!("create: begin"));
        let _lock = self.images.lock()?;
        step("-", format_args!("create: store locked"));
        let img = self.images.resolve(&f.image)?;
        let cfg = image::import::image_config(&self.images, &img)?;
        step("-", format_args!("create: image resolved, config read"));
        if bundle::args_of(&cfg, f).is_empty() {
            return Err(msg(format!(
                "image {}: no Entrypoint or Cmd; give a command after the image",
                f.image
            )));
        }
        let init_shim = if f.init {
            Some(self.init_shim()?)
        } else {
            None
        };
        let all = self.records()?;
        let id = random_hex(32);
        let name = f.name.clone().unwrap_or_else(|| id[..12].to_string());
        if let Some(o) = all.iter().find(|r| r.name == name) {
            return Err(msg(format!(
                "--name {name}: container {} has that name already",
                &o.id[..12]
            )));
        }
        step(&id, format_args!("create: name checked"));
        let lowers = self.lowers(&img)?;
        step(&id, format_args!("create: layers found"));
        let dir = self.dir(&id);
        std::fs::create_dir(&dir).map_err(|e| image::ImageError::io(&dir, e))?;
        let mut undo = Undo {
            dir: Some(dir.clone()),
            volumes: Vec::new(),
            attached: None,
            engine: self,
        };
        // The record first: a create killed from here on leaves a container
        // that `container rm` removes (its snapshot and config may be missing).
        let volumes: Vec<String> = f
            .mounts
            .iter()
            .filter_map(|m| match m {
                Mount::Volume { name, .. } => Some(name.clone()),
                Mount::Bind { .. } => None,
            })
            .collect();
        let rec = ContainerRecord {
            id: id.clone(),
            name: name.clone(),
            image: img.id.clone(),
            image_ref: f.image.clone(),
            created: brig_runtime::sys::rfc3339_now(),
            // What the user runs, as docker shows it (not the --init shim).
            args: bundle::user_args(&cfg, f.entrypoint.as_deref(), &f.command),
            volumes,
            auto_remove: f.auto_remove,
            network: f.network.clone(),
        };
        image::store::write_json(&dir.join("record.json"), &rec)?;
        step(&id, format_args!("create: record written"));
        let snap = Snapshot::new(&dir);
        snap.prepare()?;
        // A --rm container's writable layer goes when it exits: no sync of it.
        snap.mount_with(&lowers, f.auto_remove)?;
        step(&id, format_args!("create: overlay mounted"));
        for name in &rec.volumes {
            if let Some(made) = volume::ensure(&self.dirs, name)? {
                undo.volumes.push(made);
            }
        }
        undo.attached = Some(id.clone());
        let attachment = self.networks.attach(
            &id,
            &AttachRequest {
                mode: f.network.clone(),
                ports: f.ports.clone(),
                // As docker: the container's hostname in its /etc/hosts.
                hostname: bundle::hostname(f, &id),
                ephemeral: f.auto_remove,
            },
        )?;
        step(
            &id,
            format_args!("create: network attached ({})", f.network),
        );
        let vols = self.dirs.volumes();
        let vdir = move |n: &str| volume::data_dir(&vols, n);
        let spec = bundle::config_json(&bundle::BundleInput {
            id: &id,
            name: &name,
            image_id: img.id.as_str(),
            image: &cfg,
            flags: f,
            rootfs: &snap.rootfs(),
            volume_dir: &vdir,
            network: &attachment,
            init_shim: init_shim.as_deref(),
        })
        .map_err(msg)?;
        step(&id, format_args!("create: config built"));
        let cfg_path = dir.join("config.json");
        // config.json is read by the runtime's create next; only a container
        // that may be started after a crash needs it on disk for sure (a --rm
        // one is never started again: `container rm` removes it unread).
        image::store::write_json_with(&cfg_path, &spec, !f.auto_remove)?;
        step(&id, format_args!("create: config written"));
        // The runtime's own checks, now, so that a bad config fails at create:
        // on the config in memory, as the runtime's create will take it.
        let typed: Spec = serde_json::from_value(spec)
            .map_err(|e| msg(format!("{}: {e}", cfg_path.display())))?;
        brig_runtime::spec::compile_in_memory(&dir, typed.clone())
            .map_err(container::ContainerError::from)?;
        step(&id, format_args!("create: config validated"));
        undo.dir = None;
        undo.volumes.clear();
        undo.attached = None;
        Ok((rec, typed))
    }

    /// Make the overlay rootfs ready and the runtime's old, stopped container
    /// (if any) gone, so that the runtime's create can run.
    fn prepare_start(&self, r: &ContainerRecord, spec: Option<Spec>) -> Result<CreateOptions> {
        step(&r.id, format_args!("start: begin"));
        let _lock = self.images.lock()?;
        match self.status(r) {
            CStatus::Running | CStatus::Paused => {
                return Err(msg(format!("container {}: is running already", r.name)))
            }
            _ => {}
        }
        if self.runtime.peek(&r.id).is_ok() {
            container::delete(&self.runtime, &r.id, true)?;
        }
        let img = self.images.load_image(&r.image)?;
        let lowers = self.lowers(&img)?;
        let dir = self.dir(&r.id);
        Snapshot::new(&dir).mount_with(&lowers, r.auto_remove)?;
        let started = dir.join("started");
        std::fs::write(&started, b"").map_err(|e| image::ImageError::io(&started, e))?;
        step(&r.id, format_args!("start: overlay ready, runtime next"));
        Ok(CreateOptions {
            bundle: dir,
            spec,
            ..Default::default()
        })
    }

    /// Start a container in the background: its stdout and stderr go to
    /// ROOT/containers/ID/log, its stdin is /dev/null.
    pub fn start_detached(&self, r: &ContainerRecord) -> Result<()> {
        self.start_detached_with(r, None)
    }

    /// [`start_detached`](Self::start_detached) with the config in memory
    /// when the caller has it (`run`); otherwise the runtime reads config.json.
    fn start_detached_with(&self, r: &ContainerRecord, spec: Option<Spec>) -> Result<()> {
        if self.has_tty(r) {
            return Err(msg(format!(
                "container {}: was made with -t; brig has no daemon to hold its terminal: start it with --attach",
                r.name
            )));
        }
        let mut opts = self.prepare_start(r, spec)?;
        let log = self.dir(&r.id).join("log");
        let logf: std::os::fd::OwnedFd = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| image::ImageError::io(&log, e))?
            .into();
        opts.stdio = container::Stdio {
            stdin: Some(cmds::dev_null()?),
            stdout: Some(
                logf.try_clone()
                    .map_err(|e| image::ImageError::io(&log, e))?,
            ),
            stderr: Some(logf),
        };
        container::create(&self.runtime, &r.id, &opts)?;
        if let Err(e) = container::start(&self.runtime, &r.id) {
            let _ = container::delete(&self.runtime, &r.id, true);
            return Err(e.into());
        }
        Ok(())
    }

    /// Run a container in the foreground, relaying signals, until it exits.
    /// Returns its exit code.
    pub fn start_foreground(&self, r: &ContainerRecord, stdio: container::Stdio) -> Result<i32> {
        self.start_foreground_with(r, stdio, None)
    }

    /// [`start_foreground`](Self::start_foreground) with the config in memory
    /// when the caller has it (`run`).
    fn start_foreground_with(
        &self,
        r: &ContainerRecord,
        stdio: container::Stdio,
        spec: Option<Spec>,
    ) -> Result<i32> {
        let mut opts = self.prepare_start(r, spec)?;
        opts.foreground = true;
        opts.stdio = stdio;
        let code = container::run_foreground(&self.runtime, &r.id, &opts, false)?.exit_code;
        step(
            &r.id,
            format_args!("start: exited with {code}, runtime deleted"),
        );
        Ok(code)
    }

    /// Whether the container's process has a terminal (`-t`).
    fn has_tty(&self, r: &ContainerRecord) -> bool {
        std::fs::read(self.dir(&r.id).join("config.json"))
            .ok()
            .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())
            .and_then(|v| v["process"]["terminal"].as_bool())
            .unwrap_or(false)
    }

    /// `container run`: create, then run in the foreground (or detached), and
    /// with --rm remove the container after it exits (or fails to start).
    pub fn run(&self, f: &RunFlags, detach: bool) -> Result<(ContainerRecord, i32)> {
        if detach && f.auto_remove {
            return Err(msg(
                "--rm with --detach: brig has no daemon to remove a container when it exits; leave one out",
            ));
        }
        if detach && (f.tty || f.interactive) {
            return Err(msg(
                "-i or -t with --detach: brig has no daemon to hold the terminal or stdin; leave them out, or run in the foreground",
            ));
        }
        let (rec, spec) = self.create_with_spec(f)?;
        let result = if detach {
            self.start_detached_with(&rec, Some(spec)).map(|()| 0)
        } else {
            // Without -i the container gets no stdin, as with docker.
            cmds::stdio(f.interactive).and_then(|s| self.start_foreground_with(&rec, s, Some(spec)))
        };
        if f.auto_remove || (detach && result.is_err()) {
            let removed = self.remove(&rec, true);
            let code = result?;
            removed?;
            return Ok((rec, code));
        }
        result.map(|c| (rec, c))
    }

    /// `container inspect`: the record, the status and pid, and the network
    /// attachment (IP, MAC, gateway, network, ports), as JSON.
    pub fn inspect(&self, r: &ContainerRecord) -> Result<serde_json::Value> {
        let status = self.status(r);
        let pid = match self.runtime.peek(&r.id) {
            Ok(st) if matches!(status, CStatus::Running | CStatus::Paused) => st.pid,
            _ => 0,
        };
        let network = match self.networks.attachment(&r.id)? {
            Some(a) => a.to_public_json(),
            None => serde_json::Value::Null,
        };
        let mut v = serde_json::to_value(r).map_err(|e| msg(e.to_string()))?;
        v["status"] = serde_json::json!(status.to_string());
        v["pid"] = serde_json::json!(pid);
        v["network_settings"] = network;
        Ok(v)
    }

    /// `container stop`: SIGTERM (or the image's StopSignal), then SIGKILL
    /// after `timeout`, then the runtime's container is deleted. The record
    /// and its writable layer stay.
    pub fn stop(&self, r: &ContainerRecord, timeout: Duration) -> Result<()> {
        let Ok(state) = self.runtime.peek(&r.id) else {
            return Ok(());
        };
        if state.current_status() == Status::Running {
            let sig = self.stop_signal(r).unwrap_or(libc::SIGTERM);
            if container::kill(&self.runtime, &r.id, sig, false).is_ok() {
                if let Ok(fd) = brig_runtime::sys::pidfd_open(state.pid) {
                    let _ = brig_runtime::sys::wait_pidfd(&fd, Some(timeout));
                }
            }
        }
        container::delete(&self.runtime, &r.id, true)?;
        Ok(())
    }

    fn stop_signal(&self, r: &ContainerRecord) -> Option<i32> {
        let img = self.images.load_image(&r.image).ok()?;
        let cfg = image::import::image_config(&self.images, &img).ok()?;
        let s = cfg.config().as_ref()?.stop_signal().clone()?;
        container::parse_signal(&s).ok()
    }

    /// `container rm`: refuses a running container unless `force`; deletes
    /// the runtime's container, unmounts the overlay, removes the writable
    /// layer and the record. Volumes stay.
    pub fn remove(&self, r: &ContainerRecord, force: bool) -> Result<()> {
        step(&r.id, format_args!("rm: begin"));
        let _lock = self.images.lock()?;
        let st = self.status(r);
        if matches!(st, CStatus::Running | CStatus::Paused) && !force {
            return Err(msg(format!(
                "container {}: is {st}; stop it first, or rm --force",
                r.name
            )));
        }
        if self.runtime.peek(&r.id).is_ok() || force {
            container::delete(&self.runtime, &r.id, true)?;
        }
        step(&r.id, format_args!("rm: runtime state gone"));
        let dir = self.dir(&r.id);
        // The network and the snapshot are independent: each goes on its own
        // core. CNI DEL (idempotent): no veth, rule or lease outlives the
        // container.
        let (detached, removed) = std::thread::scope(|s| {
            let net = s.spawn(|| {
                let d = self.networks.detach(&r.id);
                step(&r.id, format_args!("rm: network detached"));
                d
            });
            let snap = Snapshot::new(&dir).remove();
            step(&r.id, format_args!("rm: snapshot removed"));
            let net = net.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            (net, snap)
        });
        detached?;
        removed?;
        for f in ["config.json", "log", "started", "record.json"] {
            let p = dir.join(f);
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(image::ImageError::io(&p, e).into())
                }
                _ => {}
            }
        }
        std::fs::remove_dir(&dir).map_err(|e| image::ImageError::io(&dir, e))?;
        step(&r.id, format_args!("rm: done"));
        Ok(())
    }

    /// `image rm`: untag `reference`; when no name is left (or it was named
    /// by id), remove the image, unless a container uses it, and collect the
    /// blobs and layers nothing uses any more. Returns what was done, as lines.
    pub fn remove_image(&self, reference: &str) -> Result<Vec<String>> {
        let _lock = self.images.lock()?;
        let img = self.images.resolve(reference)?;
        let mut refs = self.images.refs()?;
        let mut out = Vec::new();
        let by_name = image::store::normalize_ref(reference)
            .ok()
            .filter(|n| refs.get(n) == Some(&img.id));
        let names = self.images.names_of(&img.id)?;
        if let Some(n) = &by_name {
            if names.len() > 1 {
                refs.remove(n);
                self.images.save_refs(&refs)?;
                out.push(format!("Untagged: {n}"));
                return Ok(out);
            }
        }
        let users: Vec<String> = self
            .records()?
            .into_iter()
            .filter(|r| r.image == img.id)
            .map(|r| r.name)
            .collect();
        if !users.is_empty() {
            return Err(msg(format!(
                "image {reference}: in use by container(s) {}; remove them first",
                users.join(", ")
            )));
        }
        for n in &names {
            refs.remove(n);
            out.push(format!("Untagged: {n}"));
        }
        self.images.save_refs(&refs)?;
        self.images.remove_image_record(&img.id)?;
        out.push(format!("Deleted: {}", img.id));
        let (blobs, layers) = self.images.gc()?;
        out.push(format!(
            "Removed {blobs} blob(s) and {layers} layer dir(s) that no image uses"
        ));
        Ok(out)
    }
}

/// The tail of a container's log (`container logs`).
pub fn read_log(engine: &Engine, r: &ContainerRecord) -> Result<Vec<u8>> {
    let p = engine.dir(&r.id).join("log");
    let mut out = Vec::new();
    match std::fs::File::open(&p) {
        Ok(mut f) => {
            f.read_to_end(&mut out)
                .map_err(|e| image::ImageError::io(&p, e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(image::ImageError::io(&p, e).into()),
    }
    Ok(out)
}

//! `brig image build`: a Dockerfile built into an OCI image in the store.
//!
//! Each stage starts from an image of the store (pulled if missing), an
//! earlier stage, or `scratch`. RUN, COPY and ADD each make one layer: a
//! snapshot (an overlay of the layers so far, with an upper dir of its own,
//! under ROOT/build/ID) is changed (RUN runs a container on it through the
//! same bundle and lifecycle code as `container run`; COPY writes into it),
//! then its upper dir becomes a tar (see [`layer`]), stored as a blob and
//! unpacked as a layer like any imported one. The other instructions change
//! the image config only. The result gets a config (with a history entry per
//! instruction) and a manifest, and the names given with `-t`.
//!
//! The build cache (ROOT/build-cache/HEX.json) maps the sha256 of the parent
//! layers' chain id, the instruction after substitution and what else it
//! depends on (RUN: the config's Env, User and WorkingDir and the ARGs in
//! scope; COPY/ADD: the content hash of the sources) to the layer it made.
//! A final config that differs from an earlier build's only in its times
//! gives that earlier image again (same id), as docker's cached rebuild.
//! Its layers live as long as an image holds them: `image rm` and the GC of
//! `image import` drop the others, and the cache misses for them.
//!
//! The store's lock is held for the build (pulls of missing FROM images
//! happen before it is taken), except while a RUN's container runs: that
//! container's init is a fork of brig and would keep the lock's fd. A lease
//! (ROOT/leases/build-PID.json) keeps the build's layers from the GC of
//! another brig meanwhile, as long as the build's process lives.

pub mod context;
pub mod copy;
pub mod dockerfile;
pub mod layer;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::Digest as _;

use crate::image::snapshot::Snapshot;
use crate::image::store::normalize_ref;
use crate::image::{self, Digest, ImageError, ImageRecord, LayerRecord};
use crate::network::{AttachRequest, NetworkMode};
use crate::util::random_hex;
use crate::{bundle, cmds, msg, Engine, Result};
use brig_runtime::container::{self, CreateOptions};
use dockerfile::{expand, Command, Instruction, Kind};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub context: PathBuf,
    /// `-f`: default CONTEXT/Dockerfile.
    pub dockerfile: Option<PathBuf>,
    pub tags: Vec<String>,
    pub build_args: Vec<(String, String)>,
    pub target: Option<String>,
    /// RUN's network: none (the default) or a bridge network.
    pub network: NetworkMode,
    pub no_cache: bool,
}

/// What a build made.
#[derive(Debug)]
pub struct Built {
    pub record: ImageRecord,
    pub names: Vec<String>,
    /// Steps taken from the cache, and RUNs that ran.
    pub cached: usize,
    pub ran: usize,
}

/// The image a stage builds, as it goes.
#[derive(Debug, Clone)]
struct StageState {
    cfg: Value,
    layers: Vec<LayerRecord>,
    /// ARGs in scope: (name, value; None if declared without one).
    args: Vec<(String, Option<String>)>,
    /// A CMD was given in this stage (ENTRYPOINT then keeps it).
    cmd_set: bool,
}

fn conf(cfg: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !cfg["config"].is_object() {
        cfg["config"] = json!({});
    }
    cfg["config"].as_object_mut().expect("an object")
}

impl StageState {
    fn scratch() -> StageState {
        StageState {
            cfg: json!({
                "architecture": image::import::host_arch(),
                "os": "linux",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": []},
                "history": [],
            }),
            layers: Vec::new(),
            args: Vec::new(),
            cmd_set: false,
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        self.cfg["config"]["Env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str()?.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A variable for substitution: ENV wins over ARG (as docker).
    fn lookup(&self, k: &str) -> Option<String> {
        if let Some((_, v)) = self.env().into_iter().find(|(n, _)| n == k) {
            return Some(v);
        }
        self.args
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.clone())
    }

    fn set_env(&mut self, k: &str, v: &str) {
        let mut env = self.env();
        match env.iter_mut().find(|(n, _)| n == k) {
            Some(e) => e.1 = v.to_string(),
            None => env.push((k.to_string(), v.to_string())),
        }
        conf(&mut self.cfg).insert(
            "Env".into(),
            json!(env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()),
        );
    }

    fn workdir(&self) -> String {
        match self.cfg["config"]["WorkingDir"].as_str() {
            Some(w) if !w.is_empty() => w.to_string(),
            _ => "/".into(),
        }
    }

    fn history(&mut self, created_by: &str, empty: bool) {
        if !self.cfg["history"].is_array() {
            self.cfg["history"] = json!([]);
        }
        let mut h = json!({"created": brig_runtime::sys::rfc3339_now(), "created_by": created_by});
        if empty {
            h["empty_layer"] = json!(true);
        }
        self.cfg["history"]
            .as_array_mut()
            .expect("an array")
            .push(h);
    }

    fn push_layer(&mut self, l: LayerRecord) {
        if !self.cfg["rootfs"]["diff_ids"].is_array() {
            self.cfg["rootfs"] = json!({"type": "layers", "diff_ids": []});
        }
        self.cfg["rootfs"]["diff_ids"]
            .as_array_mut()
            .expect("an array")
            .push(json!(l.diff_id.as_str()));
        self.layers.push(l);
    }

    /// The OCI chain id of the layers (`scratch` for none).
    fn chain_id(&self) -> String {
        let mut chain: Option<String> = None;
        for l in &self.layers {
            chain = Some(match chain {
                None => l.diff_id.to_string(),
                Some(c) => Digest::of(format!("{c} {}", l.diff_id).as_bytes()).to_string(),
            });
        }
        chain.unwrap_or_else(|| "scratch".into())
    }

    /// The ARGs with values, as RUN's environment (an ENV of the same name wins).
    fn arg_env(&self) -> Vec<(String, String)> {
        let env = self.env();
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in &self.args {
            if let Some(v) = v {
                if env.iter().any(|(n, _)| n == k) {
                    continue;
                }
                out.retain(|(n, _)| n != k);
                out.push((k.clone(), v.clone()));
            }
        }
        out
    }
}

enum Base {
    Scratch,
    Stage(usize),
    Image(ImageRecord),
}

/// A step's snapshot and container, all removed on drop (a failed step
/// leaves nothing).
struct Step<'a> {
    engine: &'a Engine,
    id: String,
    dir: PathBuf,
    attached: bool,
}

impl Step<'_> {
    fn snap(&self) -> Snapshot {
        Snapshot::new(&self.dir)
    }
}

impl Drop for Step<'_> {
    fn drop(&mut self) {
        // Forced: it also clears a create that was killed half-way.
        let _ = container::delete(&self.engine.runtime, &self.id, true);
        if self.attached {
            let _ = self.engine.networks.detach(&self.id);
        }
        if self.snap().remove().is_ok() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn step_err(ins: &Instruction, e: impl std::fmt::Display) -> super::EngineError {
    msg(format!("Dockerfile line {}: {}: {e}", ins.line, ins.name))
}

fn io_err(p: &Path) -> impl FnOnce(std::io::Error) -> super::EngineError + '_ {
    move |e| ImageError::io(p, e).into()
}

fn cache_key(parts: &[&str]) -> Digest {
    Digest::of(parts.join("\n\0").as_bytes())
}

fn command_json(c: &Command) -> String {
    serde_json::to_string(&c.argv()).unwrap_or_default()
}

/// `/a/b` + `c` → `/a/b/c`; `..` and `.` resolved lexically.
fn join_abs(base: &str, p: &str) -> String {
    let full = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("{base}/{p}")
    };
    format!("/{}", context::clean(&full).join("/"))
}

impl Engine {
    fn cache_path(&self, key: &Digest) -> PathBuf {
        self.images
            .root()
            .join("build-cache")
            .join(format!("{}.json", key.hex()))
    }

    /// The cached layer for `key`, if its blob and layer are still there.
    fn cache_get(&self, key: &Digest) -> Option<LayerRecord> {
        let data = std::fs::read(self.cache_path(key)).ok()?;
        let l: LayerRecord = serde_json::from_slice(&data).ok()?;
        if !self.images.has_blob(&l.digest) {
            return None;
        }
        self.images.ensure_layer(&l).ok()?;
        Some(l)
    }

    fn cache_put(&self, key: &Digest, l: &LayerRecord) -> Result<()> {
        self.cache_write(key, l)
    }

    /// A new step dir with its snapshot mounted over `layers`.
    fn step(&self, layers: &[LayerRecord]) -> Result<Step<'_>> {
        let id = format!("build-{}", random_hex(16));
        let dir = self.images.root().join("build").join(&id);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let step = Step {
            engine: self,
            id,
            dir,
            attached: false,
        };
        let owner = step.dir.join("owner");
        std::fs::write(&owner, std::process::id().to_string()).map_err(io_err(&owner))?;
        let lowers: Vec<PathBuf> = layers
            .iter()
            .map(|l| self.images.ensure_layer(l))
            .collect::<Result<_, _>>()?;
        let snap = step.snap();
        snap.prepare()?;
        snap.mount(&lowers)?;
        Ok(step)
    }

    /// The upper dir as a layer: tar, blob, unpacked layer dir.
    fn commit_upper(&self, upper: &Path) -> Result<LayerRecord> {
        let tmp = self.images.temp_path("build-layer");
        let result = (|| -> Result<LayerRecord> {
            let f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
            let mut w = std::io::BufWriter::new(f);
            layer::write_layer(upper, &mut w).map_err(io_err(upper))?;
            w.flush().map_err(io_err(&tmp))?;
            drop(w);
            let f = std::fs::File::open(&tmp).map_err(io_err(&tmp))?;
            let (digest, size) = self.images.put_blob(f, None)?;
            let l = LayerRecord {
                diff_id: digest.clone(),
                digest,
                size,
                media_type: LAYER_TAR.into(),
            };
            self.images.ensure_layer(&l)?;
            Ok(l)
        })();
        let _ = std::fs::remove_file(&tmp);
        result
    }

    /// Build the image `o` describes. `say` gets the progress lines.
    pub fn build(&self, o: &BuildOptions, say: &mut dyn FnMut(&str)) -> Result<Built> {
        if o.tags.is_empty() {
            return Err(msg("image build: -t NAME[:TAG] is required"));
        }
        let names = o
            .tags
            .iter()
            .map(|t| normalize_ref(t))
            .collect::<Result<Vec<_>, _>>()?;
        match &o.network {
            NetworkMode::None | NetworkMode::Named(_) => {}
            NetworkMode::Host => {
                return Err(msg(
                    "--network host: brig's build runs RUN with none or a bridge network only",
                ))
            }
        }
        let ctx = std::fs::canonicalize(&o.context)
            .map_err(|e| msg(format!("build context {}: {e}", o.context.display())))?;
        if !ctx.is_dir() {
            return Err(msg(format!(
                "build context {}: not a directory",
                o.context.display()
            )));
        }
        let df_path = o
            .dockerfile
            .clone()
            .unwrap_or_else(|| ctx.join("Dockerfile"));
        let text = std::fs::read_to_string(&df_path)
            .map_err(|e| msg(format!("-f {}: {e}", df_path.display())))?;
        let df =
            dockerfile::parse(&text).map_err(|e| msg(format!("{}: {e}", df_path.display())))?;
        let ignore = context::Ignore::load(&ctx)
            .map_err(|e| msg(format!("{}/.dockerignore: {e}", ctx.display())))?;
        let last = match &o.target {
            Some(t) => df.stage_index(t).ok_or_else(|| {
                msg(format!(
                    "--target {t}: no such stage (the stages: {})",
                    df.stages
                        .iter()
                        .enumerate()
                        .map(|(i, s)| s.name.clone().unwrap_or_else(|| i.to_string()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?,
            None => df.stages.len() - 1,
        };
        for (k, _) in &o.build_args {
            if k.is_empty() {
                return Err(msg("--build-arg: an empty name (give NAME=VALUE)"));
            }
        }
        let mut used: BTreeSet<String> = BTreeSet::new();
        let build_arg = |k: &str| {
            o.build_args
                .iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        // The global ARGs, for FROM lines.
        let mut global: Vec<(String, Option<String>)> = Vec::new();
        for (k, d) in &df.global_args {
            let v = match build_arg(k) {
                Some(v) => {
                    used.insert(k.clone());
                    Some(v)
                }
                None => match d {
                    Some(d) => Some(
                        expand(d, &|n| lookup_args(&global, n))
                            .map_err(|e| msg(format!("ARG {k}: {e}")))?,
                    ),
                    None => None,
                },
            };
            global.push((k.clone(), v));
        }
        // Each stage's base: pulled now if missing (a pull takes the lock).
        let mut bases = Vec::new();
        for (i, s) in df.stages.iter().enumerate().take(last + 1) {
            let err = |e: String| msg(format!("Dockerfile line {}: FROM: {e}", s.line));
            let name = expand(&s.base, &|n| lookup_args(&global, n)).map_err(err)?;
            if name.is_empty() {
                return Err(err(format!("{:?} expands to an empty name", s.base)));
            }
            let lname = name.to_ascii_lowercase();
            let base = if lname == "scratch" {
                Base::Scratch
            } else if let Some(j) = df.stages[..i]
                .iter()
                .position(|p| p.name.as_deref() == Some(lname.as_str()))
            {
                Base::Stage(j)
            } else {
                Base::Image(self.base_image(&name).map_err(|e| err(e.to_string()))?)
            };
            bases.push(base);
        }
        let mut lock = Some(self.images.lock()?);
        self.remove_stale_steps();
        let lease = LeaseGuard {
            path: self
                .images
                .lease_path(&format!("build-{}", std::process::id())),
        };
        let total: usize = df.stages[..=last]
            .iter()
            .map(|s| 1 + s.instructions.len())
            .sum();
        let mut n = 0;
        let mut done: Vec<StageState> = Vec::new();
        let mut cached = 0;
        let mut ran = 0;
        for (i, stage) in df.stages.iter().enumerate().take(last + 1) {
            n += 1;
            say(&format!(
                "STEP {n}/{total}: FROM {}{}",
                stage.base,
                stage
                    .name
                    .as_ref()
                    .map(|s| format!(" AS {s}"))
                    .unwrap_or_default()
            ));
            let mut st = match &bases[i] {
                Base::Scratch => StageState::scratch(),
                Base::Stage(j) => {
                    let mut s = done[*j].clone();
                    s.args.clear();
                    s.cmd_set = false;
                    s
                }
                Base::Image(rec) => {
                    let data = self.images.read_blob(&rec.config, 4 << 20)?;
                    let cfg: Value = serde_json::from_slice(&data)
                        .map_err(|e| msg(format!("image config {}: {e}", rec.config)))?;
                    StageState {
                        cfg,
                        layers: rec.layers.clone(),
                        args: Vec::new(),
                        cmd_set: false,
                    }
                }
            };
            // As BuildKit and buildah: an image without PATH gets the default one.
            if !st.env().iter().any(|(k, _)| k == "PATH") {
                let mut env = st.env();
                env.insert(0, ("PATH".into(), DEFAULT_PATH.into()));
                conf(&mut st.cfg).insert(
                    "Env".into(),
                    json!(env
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()),
                );
            }
            for ins in &stage.instructions {
                n += 1;
                say(&format!("STEP {n}/{total}: {} {}", ins.name, ins.text));
                let x = |st: &StageState, w: &str| {
                    expand(w, &|k| st.lookup(k)).map_err(|e| step_err(ins, e))
                };
                match &ins.kind {
                    Kind::Env(pairs) => {
                        let mut vals = Vec::new();
                        for (k, v) in pairs {
                            vals.push((k.clone(), x(&st, v)?));
                        }
                        for (k, v) in &vals {
                            st.set_env(k, v);
                        }
                        let shown: Vec<String> =
                            vals.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        st.history(&format!("ENV {}", shown.join(" ")), true);
                    }
                    Kind::Arg(args) => {
                        let mut shown = Vec::new();
                        for (k, d) in args {
                            let v = match build_arg(k) {
                                Some(v) => {
                                    used.insert(k.clone());
                                    Some(v)
                                }
                                None => match d {
                                    Some(d) => Some(x(&st, d)?),
                                    // A global ARG's value, declared again in the stage.
                                    None => lookup_args(&global, k),
                                },
                            };
                            shown.push(match &v {
                                Some(v) => format!("{k}={v}"),
                                None => k.clone(),
                            });
                            st.args.push((k.clone(), v));
                        }
                        st.history(&format!("ARG {}", shown.join(" ")), true);
                    }
                    Kind::Workdir(w) => {
                        let w = join_abs(&st.workdir(), &x(&st, w)?);
                        conf(&mut st.cfg).insert("WorkingDir".into(), json!(w));
                        st.history(&format!("WORKDIR {w}"), true);
                    }
                    Kind::User(u) => {
                        let u = x(&st, u)?;
                        conf(&mut st.cfg).insert("User".into(), json!(u));
                        st.history(&format!("USER {u}"), true);
                    }
                    Kind::Cmd(c) => {
                        conf(&mut st.cfg).insert("Cmd".into(), json!(c.argv()));
                        st.cmd_set = true;
                        st.history(&format!("CMD {}", command_json(c)), true);
                    }
                    Kind::Entrypoint(c) => {
                        let cfg = conf(&mut st.cfg);
                        cfg.insert("Entrypoint".into(), json!(c.argv()));
                        // As docker: an ENTRYPOINT drops the base image's CMD.
                        if !st.cmd_set {
                            cfg.remove("Cmd");
                        }
                        st.history(&format!("ENTRYPOINT {}", command_json(c)), true);
                    }
                    Kind::Expose(ports) => {
                        let mut shown = Vec::new();
                        for p in ports {
                            let p = x(&st, p)?;
                            let (num, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
                            let proto = proto.to_ascii_lowercase();
                            let ok_num = match num.split_once('-') {
                                Some((a, b)) => {
                                    a.parse::<u16>().is_ok() && b.parse::<u16>().is_ok()
                                }
                                None => num.parse::<u16>().is_ok(),
                            };
                            if !ok_num || !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
                                return Err(step_err(
                                    ins,
                                    format!("{p:?}: expected PORT[/tcp|udp|sctp]"),
                                ));
                            }
                            let key = format!("{num}/{proto}");
                            let cfg = conf(&mut st.cfg);
                            if !cfg.get("ExposedPorts").is_some_and(Value::is_object) {
                                cfg.insert("ExposedPorts".into(), json!({}));
                            }
                            cfg["ExposedPorts"][&key] = json!({});
                            shown.push(key);
                        }
                        st.history(&format!("EXPOSE {}", shown.join(" ")), true);
                    }
                    Kind::Label(pairs) => {
                        let mut shown = Vec::new();
                        for (k, v) in pairs {
                            let (k, v) = (x(&st, k)?, x(&st, v)?);
                            let cfg = conf(&mut st.cfg);
                            if !cfg.get("Labels").is_some_and(Value::is_object) {
                                cfg.insert("Labels".into(), json!({}));
                            }
                            cfg["Labels"][&k] = json!(v);
                            shown.push(format!("{k}={v}"));
                        }
                        st.history(&format!("LABEL {}", shown.join(" ")), true);
                    }
                    Kind::Run(c) => {
                        let argv = c.argv();
                        let created_by = match c {
                            Command::Shell(s) => format!("RUN /bin/sh -c {s}"),
                            Command::Exec(_) => format!("RUN {}", command_json(c)),
                        };
                        let conf_v = &st.cfg["config"];
                        let key = cache_key(&[
                            "RUN",
                            &st.chain_id(),
                            &command_json(c),
                            &conf_v["Env"].to_string(),
                            &conf_v["User"].to_string(),
                            &st.workdir(),
                            &serde_json::to_string(&st.arg_env()).unwrap_or_default(),
                            &format!("{:?}", o.network),
                        ]);
                        let l = match self.cache_get(&key).filter(|_| !o.no_cache) {
                            Some(l) => {
                                say(&format!("--> Using cache {}", l.diff_id.hex()));
                                cached += 1;
                                l
                            }
                            None => {
                                ran += 1;
                                // The layers in use, leased from the GC while
                                // the RUN runs without the store's lock.
                                let mut all: Vec<&LayerRecord> =
                                    done.iter().flat_map(|d| &d.layers).collect();
                                all.extend(&st.layers);
                                let lease_data = image::store::Lease {
                                    pid: std::process::id(),
                                    blobs: all.iter().map(|l| l.digest.hex().to_string()).collect(),
                                    layers: all
                                        .iter()
                                        .map(|l| l.diff_id.hex().to_string())
                                        .collect(),
                                };
                                if let Some(d) = lease.path.parent() {
                                    std::fs::create_dir_all(d).map_err(io_err(d))?;
                                }
                                image::store::write_json(&lease.path, &lease_data)?;
                                let l = self.run_step(&st, argv, &o.network, ins, &mut lock)?;
                                self.cache_put(&key, &l)?;
                                l
                            }
                        };
                        st.push_layer(l);
                        st.history(&created_by, false);
                    }
                    Kind::Copy {
                        add,
                        srcs,
                        dest,
                        chown,
                        from,
                    } => {
                        let srcs = srcs.iter().map(|s| x(&st, s)).collect::<Result<Vec<_>>>()?;
                        let dest = x(&st, dest)?;
                        let chown = chown.as_deref().map(|c| x(&st, c)).transpose()?;
                        let from = from.as_deref().map(|c| x(&st, c)).transpose()?;
                        let from_state = match &from {
                            None => None,
                            Some(f) => Some(match df.stage_index(f).filter(|j| *j < i) {
                                Some(j) => done[j].layers.clone(),
                                None if df.stage_index(f).is_some() => {
                                    return Err(step_err(
                                        ins,
                                        format!(
                                            "--from={f}: a stage can copy from earlier stages only"
                                        ),
                                    ))
                                }
                                None => {
                                    self.images
                                        .resolve(f)
                                        .map_err(|e| step_err(ins, format!("--from={f}: {e}")))?
                                        .layers
                                }
                            }),
                        };
                        let name = if *add { "ADD" } else { "COPY" };
                        let mut created_by = format!("{name} ");
                        if let Some(c) = &chown {
                            created_by.push_str(&format!("--chown={c} "));
                        }
                        if let Some(f) = &from {
                            created_by.push_str(&format!("--from={f} "));
                        }
                        created_by.push_str(&format!("{} {dest}", srcs.join(" ")));
                        let req = CopyReq {
                            add: *add,
                            srcs: &srcs,
                            dest: join_abs(&st.workdir(), &dest)
                                + if dest.ends_with('/')
                                    || dest.ends_with("/.")
                                    || dest == "."
                                    || dest == ".."
                                {
                                    "/"
                                } else {
                                    ""
                                },
                            chown: chown.as_deref(),
                            ctx: &ctx,
                            ignore: &ignore,
                        };
                        let l = self
                            .copy_step(
                                &st,
                                &req,
                                from_state.as_deref(),
                                &created_by,
                                o.no_cache,
                                &mut cached,
                                say,
                            )
                            .map_err(|e| step_err(ins, e))?;
                        st.push_layer(l);
                        st.history(&created_by, false);
                    }
                }
            }
            done.push(st);
        }
        for (k, _) in &o.build_args {
            if !used.contains(k) {
                say(&format!(
                    "[Warning] one or more build args were not consumed: {k}"
                ));
            }
        }
        let st = done.pop().expect("one stage at least");
        let rec = self.commit_image(st, &names)?;
        drop(lease);
        drop(lock);
        Ok(Built {
            record: rec,
            names,
            cached,
            ran,
        })
    }

    /// The steps of a build that was killed (the process named in their
    /// `owner` file is gone): their container, network attachment, snapshot
    /// and dir go.
    fn remove_stale_steps(&self) {
        let dir = self.images.root().join("build");
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if !id.starts_with("build-") {
                continue;
            }
            // A build that runs a RUN (without the lock) owns its step.
            let owner = std::fs::read_to_string(e.path().join("owner")).unwrap_or_default();
            if !owner.is_empty()
                && owner != std::process::id().to_string()
                && Path::new(&format!("/proc/{owner}")).exists()
            {
                continue;
            }
            drop(Step {
                engine: self,
                id,
                dir: e.path(),
                attached: true,
            });
        }
    }

    /// A FROM image: from the store, else pulled.
    fn base_image(&self, name: &str) -> Result<ImageRecord> {
        match self.images.resolve(name) {
            Ok(r) => Ok(r),
            Err(ImageError::NotFound(_)) => {
                let pulled = image::registry::pull(
                    &self.images,
                    &image::registry::PullOptions {
                        reference: name.to_string(),
                        platform: None,
                        insecure: image::registry::insecure_list(&[])?,
                    },
                    &image::registry::Progress::new(false),
                )
                .map_err(|e| {
                    msg(format!(
                        "image {name:?}: not in the store, and pulling it failed: {e}"
                    ))
                })?;
                Ok(pulled.record)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The final config and manifest, stored, and the names pointed at them.
    fn commit_image(&self, st: StageState, names: &[String]) -> Result<ImageRecord> {
        // An image with the same layers and config but for its times, built
        // before: the same image again (as docker's cached rebuild).
        let mut timeless = st.cfg.clone();
        if let Some(o) = timeless.as_object_mut() {
            o.remove("created");
        }
        for h in timeless["history"].as_array_mut().into_iter().flatten() {
            if let Some(o) = h.as_object_mut() {
                o.remove("created");
            }
        }
        let key = cache_key(&["IMAGE", &timeless.to_string()]);
        let same = std::fs::read(self.cache_path(&key))
            .ok()
            .and_then(|d| serde_json::from_slice::<Digest>(&d).ok())
            .and_then(|id| self.images.load_image(&id).ok())
            .filter(|r| r.layers == st.layers);
        let rec = match same {
            Some(r) => r,
            None => {
                let r = self.write_image(st)?;
                self.cache_write(&key, &r.id)?;
                r
            }
        };
        let mut refs = self.images.refs()?;
        for n in names {
            refs.insert(n.clone(), rec.id.clone());
        }
        self.images.save_refs(&refs)?;
        Ok(rec)
    }

    fn cache_write<T: serde::Serialize>(&self, key: &Digest, v: &T) -> Result<()> {
        let p = self.cache_path(key);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(io_err(d))?;
        }
        image::store::write_json(&p, v)?;
        Ok(())
    }

    /// The config and manifest blobs and the image record.
    fn write_image(&self, mut st: StageState) -> Result<ImageRecord> {
        let now = brig_runtime::sys::rfc3339_now();
        st.cfg["created"] = json!(now);
        let cfg_bytes = serde_json::to_vec(&st.cfg).map_err(|e| msg(e.to_string()))?;
        // Checked as any image config is.
        image::import::parse_config(&cfg_bytes)?;
        let config = self.images.put_bytes(&cfg_bytes)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config.as_str(),
                "size": cfg_bytes.len(),
            },
            "layers": st.layers.iter().map(|l| json!({
                "mediaType": l.media_type,
                "digest": l.digest.as_str(),
                "size": l.size,
            })).collect::<Vec<_>>(),
        });
        let m_bytes = serde_json::to_vec(&manifest).map_err(|e| msg(e.to_string()))?;
        let id = self.images.put_bytes(&m_bytes)?;
        let rec = ImageRecord {
            id,
            config,
            layers: st.layers,
            imported: now,
        };
        self.images.save_image(&rec)?;
        Ok(rec)
    }

    /// RUN: a container on a new snapshot, through the same bundle
    /// (config.json from the image config) and lifecycle code as
    /// `container run`; its upper dir becomes the layer.
    fn run_step(
        &self,
        st: &StageState,
        argv: Vec<String>,
        network: &NetworkMode,
        ins: &Instruction,
        lock: &mut Option<image::StoreLock>,
    ) -> Result<LayerRecord> {
        let mut step = self.step(&st.layers)?;
        let snap = step.snap();
        let rootfs = snap.rootfs();
        // The working dir is made (root-owned), as docker makes it.
        let wd = copy::in_root(&rootfs, &st.workdir());
        copy::mkdir_p(&wd, None).map_err(io_err(&wd))?;
        let cfg_bytes = serde_json::to_vec(&st.cfg).map_err(|e| msg(e.to_string()))?;
        let image_cfg = image::import::parse_config(&cfg_bytes)?;
        let flags = super::flags::RunFlags {
            image: "build".into(),
            name: None,
            env: st.arg_env(),
            workdir: None,
            user: None,
            hostname: None,
            memory: None,
            cpu: None,
            pids_limit: None,
            mounts: Vec::new(),
            tmpfs: Vec::new(),
            network: network.clone(),
            ports: Vec::new(),
            auto_remove: false,
            command: argv.clone(),
            // RUN ignores the image's ENTRYPOINT, as docker's.
            entrypoint: Some(Vec::new()),
            read_only: false,
            init: false,
            tty: false,
            interactive: false,
        };
        step.attached = true;
        let attachment = self.networks.attach(
            &step.id,
            &AttachRequest {
                mode: network.clone(),
                ports: Vec::new(),
                hostname: bundle::hostname(&flags, &step.id),
                ephemeral: false,
            },
        )?;
        let vols = self.dirs.volumes();
        let vdir = move |n: &str| super::volume::data_dir(&vols, n);
        let spec = bundle::config_json(&bundle::BundleInput {
            id: &step.id,
            name: &step.id,
            image_id: "",
            image: &image_cfg,
            flags: &flags,
            rootfs: &rootfs,
            volume_dir: &vdir,
            network: &attachment,
            init_shim: None,
        })
        .map_err(|e| step_err(ins, e))?;
        // The mount points the runtime will make in the rootfs (and their
        // parents) that the image lacks: removed from the layer after.
        // Their parents that the image has are copied up when the runtime
        // makes a stub in them: dropped too if nothing else changed them.
        let mut stubs: BTreeSet<PathBuf> = BTreeSet::new();
        let mut parents: Vec<(PathBuf, (u32, u32, u32))> = Vec::new();
        for m in spec["mounts"].as_array().into_iter().flatten() {
            let Some(d) = m["destination"].as_str() else {
                continue;
            };
            let mut p = PathBuf::from("/");
            for c in context::clean(d) {
                p.push(c);
                let host = copy::in_root(&rootfs, &p.to_string_lossy());
                let Ok(rel) = host.strip_prefix(&rootfs).map(Path::to_path_buf) else {
                    break;
                };
                match std::fs::symlink_metadata(&host) {
                    Err(_) => {
                        stubs.insert(rel);
                    }
                    Ok(m) if m.is_dir() => {
                        use std::os::unix::fs::MetadataExt;
                        parents.push((rel, (m.mode(), m.uid(), m.gid())));
                    }
                    Ok(_) => {}
                }
            }
        }
        image::store::write_json(&step.dir.join("config.json"), &spec)?;
        let opts = CreateOptions {
            bundle: step.dir.clone(),
            foreground: true,
            // docker gives a RUN no stdin; stdout and stderr are the build's.
            stdio: cmds::stdio(false)?,
            ..Default::default()
        };
        // Not under the store's lock: the container's init is a fork of
        // this process and would hold the lock's fd as long as it lives (for
        // ever, if brig is killed before the start). The lease keeps the
        // layers from the GC meanwhile.
        *lock = None;
        let code: Result<i32> =
            (|| Ok(container::run_foreground(&self.runtime, &step.id, &opts, false)?.exit_code))();
        *lock = Some(self.images.lock()?);
        let code = code?;
        if code != 0 {
            return Err(step_err(
                ins,
                format!(
                    "{}: the command returned a non-zero code: {code}",
                    serde_json::to_string(&argv).unwrap_or_default()
                ),
            ));
        }
        snap.unmount()?;
        let upper = snap.upper();
        // Deepest first.
        for rel in stubs.iter().rev() {
            let p = upper.join(rel);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => {
                    let _ = std::fs::remove_dir(&p);
                }
                Ok(m) if m.is_file() && m.len() == 0 => {
                    let _ = std::fs::remove_file(&p);
                }
                _ => {}
            }
        }
        parents.sort();
        parents.dedup();
        for (rel, (mode, uid, gid)) in parents.iter().rev() {
            use std::os::unix::fs::MetadataExt;
            let p = upper.join(rel);
            if rel.as_os_str().is_empty() {
                continue;
            }
            if let Ok(m) = std::fs::symlink_metadata(&p) {
                let empty = std::fs::read_dir(&p).is_ok_and(|mut d| d.next().is_none());
                if m.is_dir()
                    && empty
                    && (m.mode(), m.uid(), m.gid()) == (*mode, *uid, *gid)
                    && !layer::is_opaque(&p)
                {
                    let _ = std::fs::remove_dir(&p);
                }
            }
        }
        self.commit_upper(&upper)
    }

    #[allow(clippy::too_many_arguments)]
    fn copy_step(
        &self,
        st: &StageState,
        r: &CopyReq,
        from: Option<&[LayerRecord]>,
        created_by: &str,
        no_cache: bool,
        cached: &mut usize,
        say: &mut dyn FnMut(&str),
    ) -> Result<LayerRecord> {
        // The source tree: the context, or a snapshot of the other stage.
        let from_step = match from {
            Some(layers) => Some(self.step(layers)?),
            None => None,
        };
        let src_root = match &from_step {
            Some(s) => s.snap().rootfs(),
            None => r.ctx.to_path_buf(),
        };
        let ignore = if from.is_some() {
            context::Ignore::default()
        } else {
            r.ignore.clone()
        };
        // Each source: (host path, followed if a symlink, inside the root).
        let mut sources: Vec<(PathBuf, String)> = Vec::new();
        for s in r.srcs {
            let found = context::find_sources(&src_root, s, &ignore).map_err(io_err(&src_root))?;
            if found.is_empty() {
                return Err(msg(format!(
                    "{s}: {}",
                    if context::has_glob(s) {
                        "no source files match"
                    } else if from.is_some() {
                        "no such file in the source stage"
                    } else {
                        "excluded by .dockerignore"
                    }
                )));
            }
            for comps in found {
                let p = copy::in_root(&src_root, &format!("/{}", comps.join("/")));
                if std::fs::metadata(&p).is_err() {
                    return Err(msg(format!(
                        "{s}: no such file in the {}",
                        if from.is_some() {
                            "source stage"
                        } else {
                            "build context"
                        }
                    )));
                }
                let base = comps.last().cloned().unwrap_or_default();
                sources.push((p, base));
            }
        }
        let into_dir = r.dest.ends_with('/');
        if sources.len() > 1 && !into_dir {
            return Err(msg(format!(
                "{} sources: the destination {} must be a directory and end with a /",
                sources.len(),
                r.dest
            )));
        }
        let keep_ctx =
            |root: &Path, ig: &context::Ignore, p: &Path| -> bool { keep_path(root, ig, p) };
        // The cache key: the sources' content.
        let mut h = sha2::Sha256::new();
        for (p, _) in &sources {
            copy::hash_tree(
                p,
                "",
                &mut h,
                &mut |c| keep_ctx(&src_root, &ignore, c),
                from.is_some(),
            )
            .map_err(io_err(p))?;
        }
        let content = Digest::from_sha256(&h.finalize());
        let key = cache_key(&[
            "COPY",
            &st.chain_id(),
            created_by,
            &r.dest,
            content.as_str(),
        ]);
        if !no_cache {
            if let Some(l) = self.cache_get(&key) {
                say(&format!("--> Using cache {}", l.diff_id.hex()));
                *cached += 1;
                return Ok(l);
            }
        }
        let step = self.step(&st.layers)?;
        let snap = step.snap();
        let rootfs = snap.rootfs();
        let owner: copy::Owner = match r.chown {
            Some(c) => {
                let (user, group) = match c.split_once(':') {
                    Some((u, g)) => (u, Some(g)),
                    None => (c, None),
                };
                let (uid, _, _) = bundle::resolve_user(&rootfs, user)
                    .map_err(|e| msg(format!("--chown={c}: {e}")))?;
                let gid = match group {
                    Some(g) => {
                        bundle::resolve_user(&rootfs, &format!("{uid}:{g}"))
                            .map_err(|e| msg(format!("--chown={c}: {e}")))?
                            .1
                    }
                    // As docker documents: a user alone gives the same
                    // number as the group.
                    None => uid,
                };
                Some((uid, gid))
            }
            // The context's files are root's; another stage's keep theirs.
            None if from.is_none() => Some((0, 0)),
            None => None,
        };
        let dest_host = copy::in_root(&rootfs, &r.dest);
        let dest_is_dir = into_dir || dest_host.is_dir();
        for (p, base) in &sources {
            let m = std::fs::metadata(p).map_err(io_err(p))?;
            let err = |e: std::io::Error| msg(format!("{}: {e}", p.display()));
            if m.is_dir() {
                copy::mkdir_p(&dest_host, owner).map_err(err)?;
                copy::copy_dir_filtered(p, &dest_host, owner, &mut |c| {
                    keep_ctx(&src_root, &ignore, c)
                })
                .map_err(err)?;
            } else if r.add && copy::is_tar(p) {
                copy::mkdir_p(&dest_host, owner).map_err(err)?;
                copy::extract_tar(p, &dest_host).map_err(err)?;
            } else {
                let target = if dest_is_dir {
                    copy::mkdir_p(&dest_host, owner).map_err(err)?;
                    dest_host.join(base)
                } else {
                    let parent = Path::new(&r.dest).parent().unwrap_or(Path::new("/"));
                    let ph = copy::in_root(&rootfs, &parent.to_string_lossy());
                    copy::mkdir_p(&ph, owner).map_err(err)?;
                    ph.join(Path::new(&r.dest).file_name().unwrap_or_default())
                };
                // The source itself, its symlink followed (as docker's).
                let real = std::fs::canonicalize(p).map_err(err)?;
                copy::copy_entry(&real, &target, owner, &mut |_| true).map_err(err)?;
            }
        }
        drop(from_step);
        snap.unmount()?;
        let l = self.commit_upper(&snap.upper())?;
        drop(step);
        self.cache_put(&key, &l)?;
        Ok(l)
    }
}

/// Removes the build's lease file.
struct LeaseGuard {
    path: PathBuf,
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

struct CopyReq<'a> {
    add: bool,
    srcs: &'a [String],
    /// Absolute; ends with `/` when the user's did.
    dest: String,
    chown: Option<&'a str>,
    ctx: &'a Path,
    ignore: &'a context::Ignore,
}

/// Whether the context path `p` is sent (not excluded by .dockerignore). An
/// excluded dir is entered still when an exception pattern keeps something
/// below it.
fn keep_path(root: &Path, ig: &context::Ignore, p: &Path) -> bool {
    let Ok(rel) = p.strip_prefix(root) else {
        return true;
    };
    if !ig.excluded(&context::clean(&rel.to_string_lossy())) {
        return true;
    }
    if !ig.has_exceptions() || !std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) {
        return false;
    }
    std::fs::read_dir(p)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| keep_path(root, ig, &e.path()))
}

fn lookup_args(args: &[(String, Option<String>)], k: &str) -> Option<String> {
    args.iter()
        .rev()
        .find(|(n, _)| n == k)
        .and_then(|(_, v)| v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_as_workdir_does() {
        assert_eq!(join_abs("/", "a"), "/a");
        assert_eq!(join_abs("/a/b", "../c/./d"), "/a/c/d");
        assert_eq!(join_abs("/a", "/x/"), "/x");
        assert_eq!(join_abs("/", ".."), "/");
    }

    #[test]
    fn chain_ids_follow_the_oci_rule() {
        let mut st = StageState::scratch();
        assert_eq!(st.chain_id(), "scratch");
        let d = |c: char| Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap();
        let l = |c| LayerRecord {
            digest: d(c),
            diff_id: d(c),
            size: 1,
            media_type: LAYER_TAR.into(),
        };
        st.push_layer(l('a'));
        assert_eq!(st.chain_id(), d('a').to_string());
        st.push_layer(l('b'));
        assert_eq!(
            st.chain_id(),
            Digest::of(format!("{} {}", d('a'), d('b')).as_bytes()).to_string()
        );
    }
}

//! `brig image import|pull|push|ls|inspect|rm`, and `brig login|logout`.

use std::io::Write;
use std::path::PathBuf;

use crate::out;
use brig_engine::image::{self, ImportFormat, ImportOptions};
use brig_engine::Engine;

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Import an OCI layout dir, an oci-archive tarball, or a rootfs tarball.
    Import {
        /// The layout dir or tar file.
        source: PathBuf,
        /// The name to give it: NAME[:TAG] (TAG defaults to latest).
        name: String,
        /// What the source is (guessed when left out).
        #[arg(long, value_parser = import_format())]
        format: Option<ImportFormat>,
        /// Which manifest of the layout's index (its org.opencontainers.image.ref.name).
        #[arg(long)]
        source_tag: Option<String>,
    },
    /// Pull an image from a registry: REGISTRY[:PORT]/NAME[:TAG|@DIGEST].
    Pull {
        reference: String,
        /// The platform to take from a multi-arch index: os/arch[/variant]
        /// (default: this host's).
        #[arg(long)]
        platform: Option<String>,
        #[command(flatten)]
        registry: RegistryFlags,
    },
    /// Push a local image to the registry its name says.
    Push {
        reference: String,
        #[command(flatten)]
        registry: RegistryFlags,
    },
    /// List images.
    #[command(alias = "list")]
    Ls {
        /// Only the ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show an image's layers (digest, size, what made them) and config.
    Inspect {
        reference: String,
        /// The whole record and config as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Give an image another name: SOURCE (a name or id) gets TARGET (NAME[:TAG]).
    Tag { source: String, target: String },
    /// Write images to an oci-archive tarball (for `image load`, `podman load`, skopeo).
    Save {
        /// The file to write (default: stdout, unless it is a terminal).
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[arg(required = true)]
        references: Vec<String>,
    },
    /// Load the images of an oci-archive tarball, under the names it gives them.
    Load {
        /// The archive (default: stdin).
        #[arg(short, long)]
        input: Option<PathBuf>,
        /// Print only the names.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Build an image from a Dockerfile.
    Build(super::image_build::BuildArgs),
    /// Show the history of an image: what made each layer.
    History {
        reference: String,
        /// Show the whole CREATED BY and image id.
        #[arg(long)]
        no_trunc: bool,
        /// Only the image ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove images (untag; the last name removes the image and its unused layers).
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        references: Vec<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct RegistryFlags {
    /// A registry (HOST:PORT) spoken to over plain HTTP; repeatable. Also
    /// BRIG_INSECURE_REGISTRIES=HOST:PORT,... Loopback hosts always are.
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    insecure: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The registry: HOST[:PORT].
    server: String,
    #[arg(short, long)]
    username: Option<String>,
    /// Read the password from stdin (the only way: brig takes no password
    /// on its command line).
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    registry: RegistryFlags,
}

#[derive(Debug, clap::Args)]
pub struct LogoutArgs {
    /// The registry: HOST[:PORT].
    server: String,
}

fn stdout_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

/// `brig login`: check the credentials against the registry, then store them.
pub fn login(a: LoginArgs) -> anyhow::Result<i32> {
    use std::io::Read;
    let Some(username) = a.username else {
        anyhow::bail!("login: --username is required (brig does not prompt)");
    };
    if !a.password_stdin {
        anyhow::bail!("login: --password-stdin is required: pipe the password in");
    }
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password)?;
    // As docker: the trailing newline of `echo pw |` is not part of it.
    let password = password.trim_end_matches(['\n', '\r']).to_string();
    let path = image::registry::login(&image::registry::LoginOptions {
        host: a.server,
        username,
        password,
        insecure: image::registry::insecure_list(&a.registry.insecure)?,
    })?;
    eprintln!(
        "WARNING! Your password is stored unencrypted in {}.",
        path.display()
    );
    out!("Login Succeeded")?;
    Ok(0)
}

/// `brig logout`: forget the stored credentials.
pub fn logout(a: LogoutArgs) -> anyhow::Result<i32> {
    if image::registry::auth::remove(&a.server)? {
        out!("Removing login credentials for {}", a.server)?;
    } else {
        out!("Not logged in to {}", a.server)?;
    }
    Ok(0)
}

pub fn run(engine: &Engine, cmd: Cmd) -> anyhow::Result<i32> {
    let store = &engine.images;
    match cmd {
        c @ (Cmd::Tag { .. } | Cmd::Save { .. } | Cmd::Load { .. }) => {
            return run_archive(engine, c)
        }
        Cmd::Build(a) => return super::image_build::build(engine, a),
        Cmd::History {
            reference,
            no_trunc,
            quiet,
        } => return super::image_build::history(engine, &reference, no_trunc, quiet),
        Cmd::Import {
            source,
            name,
            format,
            source_tag,
        } => {
            let rec = image::import(
                store,
                &ImportOptions {
                    source,
                    format,
                    source_tag,
                    name,
                },
            )?;
            out!("{}", rec.id)?;
        }
        Cmd::Pull {
            reference,
            platform,
            registry,
        } => {
            let platform = platform
                .map(|p| image::registry::Platform::parse(&p))
                .transpose()?;
            let progress = image::registry::Progress::new(stdout_is_tty());
            let pulled = image::registry::pull(
                store,
                &image::registry::PullOptions {
                    reference: reference.clone(),
                    platform,
                    insecure: image::registry::insecure_list(&registry.insecure)?,
                },
                &progress,
            )?;
            progress.line(&format!("Digest: {}", pulled.record.id));
            progress.line(&format!(
                "Status: {} for {}",
                if pulled.fetched == 0 {
                    "Image is up to date"
                } else {
                    "Downloaded newer image"
                },
                pulled.name.as_deref().unwrap_or(&reference)
            ));
        }
        Cmd::Push {
            reference,
            registry,
        } => {
            let progress = image::registry::Progress::new(stdout_is_tty());
            let (digest, size) = image::registry::push(
                store,
                &image::registry::PushOptions {
                    reference: reference.clone(),
                    insecure: image::registry::insecure_list(&registry.insecure)?,
                },
                &progress,
            )?;
            let tag = image::store::normalize_ref(&reference)?;
            let tag = tag
                .rsplit_once(':')
                .map_or("latest", |(_, t)| t)
                .to_string();
            progress.line(&format!("{tag}: digest: {digest} size: {size}"));
        }
        Cmd::Ls { quiet } => {
            let refs = store.refs()?;
            let images = store.images()?;
            if quiet {
                for i in &images {
                    out!("{}", i.id.short())?;
                }
                return Ok(0);
            }
            let mut rows = vec![[
                "REPOSITORY".to_string(),
                "TAG".into(),
                "IMAGE ID".into(),
                "IMPORTED".into(),
                "SIZE".into(),
            ]];
            for i in &images {
                let size = brig_engine::image::registry::progress::human(
                    i.layers.iter().map(|l| l.size).sum(),
                );
                let names: Vec<&String> = refs
                    .iter()
                    .filter(|(_, d)| **d == i.id)
                    .map(|(n, _)| n)
                    .collect();
                let mut push = |repo: &str, tag: &str| {
                    rows.push([
                        repo.to_string(),
                        tag.to_string(),
                        i.id.short().to_string(),
                        i.imported.clone(),
                        size.clone(),
                    ])
                };
                if names.is_empty() {
                    push("<none>", "<none>");
                }
                for n in names {
                    let (r, t) = n.rsplit_once(':').unwrap_or((n, ""));
                    push(r, t);
                }
            }
            crate::table::print(&rows)?;
        }
        Cmd::Inspect { reference, json } => {
            let rec = store.resolve(&reference)?;
            if json {
                let cfg = image::import::image_config(store, &rec)?;
                let v = serde_json::json!({
                    "id": rec.id,
                    "names": store.names_of(&rec.id)?,
                    "imported": rec.imported,
                    "layers": rec.layers,
                    "config": cfg,
                });
                out!("{}", serde_json::to_string_pretty(&v)?)?;
                return Ok(0);
            }
            out!("ID:      {}", rec.id)?;
            out!("NAMES:   {}", store.names_of(&rec.id)?.join(" "))?;
            let cfg = image::import::image_config(store, &rec)?;
            if let Some(c) = cfg.config() {
                let j = |v: &Option<Vec<String>>| serde_json::to_string(v).unwrap_or_default();
                out!("ENTRYPOINT: {}  CMD: {}", j(c.entrypoint()), j(c.cmd()))?;
            }
            let mut rows = vec![[
                "LAYER".to_string(),
                "DIFF ID".into(),
                "SIZE".into(),
                "CREATED".into(),
                "CREATED BY".into(),
            ]];
            for (l, created, by) in image::import::history(store, &rec)?.into_iter().rev() {
                rows.push([
                    l.digest.to_string(),
                    l.diff_id.short().to_string(),
                    brig_engine::image::registry::progress::human(l.size),
                    created.unwrap_or_default(),
                    by.unwrap_or_default(),
                ]);
            }
            crate::table::print(&rows)?;
        }
        Cmd::Rm { references } => {
            let mut failed = false;
            for r in references {
                match engine.remove_image(&r) {
                    Ok(lines) => {
                        for l in lines {
                            out!("{l}")?;
                        }
                    }
                    Err(e) => {
                        crate::log::error(&e.to_string());
                        failed = true;
                    }
                }
            }
            return Ok(i32::from(failed));
        }
    }
    Ok(0)
}

/// `image tag`, `image save`, `image load`.
fn run_archive(engine: &Engine, cmd: Cmd) -> anyhow::Result<i32> {
    match cmd {
        Cmd::Tag { source, target } => engine.tag(&source, &target)?,
        Cmd::Save { output, references } => match output {
            Some(path) => {
                // Written beside its final name, then renamed: a failed save
                // leaves no half-written archive under it.
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                let tmp =
                    path.with_file_name(format!(".{name}.tmp-{}", brig_engine::random_hex(6)));
                let io = |e: std::io::Error| anyhow::anyhow!("-o {}: {e}", path.display());
                let result = (|| -> anyhow::Result<()> {
                    let f = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&tmp)
                        .map_err(io)?;
                    let mut w = std::io::BufWriter::new(&f);
                    engine.save(&references, &mut w)?;
                    w.flush().map_err(io)?;
                    drop(w);
                    f.sync_all().map_err(io)?;
                    std::fs::rename(&tmp, &path).map_err(io)?;
                    Ok(())
                })();
                if result.is_err() {
                    let _ = std::fs::remove_file(&tmp);
                }
                result?;
            }
            None => {
                if nix::unistd::isatty(std::io::stdout()).unwrap_or(false) {
                    anyhow::bail!(
                        "image save: refusing to write an archive to a terminal; use -o FILE or redirect stdout"
                    );
                }
                engine.save(&references, &mut std::io::stdout().lock())?;
            }
        },
        Cmd::Load { input, quiet } => {
            let (path, _tmp) = match input {
                Some(p) => (p, None),
                None => {
                    // A tar read twice (index first): stdin is copied to a
                    // temp file under the image root first.
                    if nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
                        anyhow::bail!("image load: give -i FILE, or the archive on stdin");
                    }
                    // Not under ROOT/tmp: the import's GC empties that.
                    let tmp = TempFile(
                        engine
                            .images
                            .root()
                            .join(format!(".load-{}", brig_engine::random_hex(8))),
                    );
                    let mut f = std::fs::File::create(&tmp.0)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", tmp.0.display()))?;
                    std::io::copy(&mut std::io::stdin().lock(), &mut f)
                        .map_err(|e| anyhow::anyhow!("image load: reading stdin: {e}"))?;
                    (tmp.0.clone(), Some(tmp))
                }
            };
            for n in engine.load(&path)? {
                if quiet {
                    out!("{n}")?;
                } else {
                    out!("Loaded image: {n}")?;
                }
            }
        }
        _ => unreachable!("run_archive takes tag, save and load"),
    }
    Ok(0)
}

/// A file removed on drop.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `--format`'s parser: the names with clap's "possible values" in the help.
fn import_format() -> impl clap::builder::TypedValueParser<Value = ImportFormat> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(ImportFormat::NAMES)
        .map(|s| s.parse::<ImportFormat>().expect("one of NAMES"))
}

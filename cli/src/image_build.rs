//! `brig image build` and `brig image history`.

use std::path::PathBuf;

use crate::out;
use brig_engine::build::BuildOptions;
use brig_engine::image;
use brig_engine::Engine;

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The name to give the image: NAME[:TAG] (repeatable).
    #[arg(short = 't', long = "tag", required = true)]
    tags: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// A build argument: NAME=VALUE (repeatable; NAME alone takes it from
    /// brig's environment, as docker).
    #[arg(long = "build-arg", value_name = "NAME=VALUE")]
    build_args: Vec<String>,
    /// Build up to this stage (a name or a number).
    #[arg(long)]
    target: Option<String>,
    /// The network of RUN: none (the default) or bridge (a named network works too).
    #[arg(long, default_value = "none")]
    network: String,
    /// Take nothing from the build cache.
    #[arg(long)]
    no_cache: bool,
    /// Print only the image id.
    #[arg(short, long)]
    quiet: bool,
    /// The build context: a directory.
    context: PathBuf,
}

pub fn build(engine: &Engine, a: BuildArgs) -> anyhow::Result<i32> {
    let mut build_args = Vec::new();
    for b in &a.build_args {
        match b.split_once('=') {
            Some((k, v)) => build_args.push((k.to_string(), v.to_string())),
            None => {
                if let Ok(v) = std::env::var(b) {
                    build_args.push((b.clone(), v));
                }
            }
        }
    }
    let network = brig_engine::network::NetworkMode::parse(&a.network)
        .map_err(|e| anyhow::anyhow!("--network {}: {e}", a.network))?;
    let opts = BuildOptions {
        context: a.context,
        dockerfile: a.file,
        tags: a.tags,
        build_args,
        target: a.target,
        network,
        no_cache: a.no_cache,
    };
    let quiet = a.quiet;
    let built = engine.build(&opts, &mut |line| {
        if !quiet {
            let _ = out!("{line}");
        }
    })?;
    if quiet {
        out!("{}", built.record.id)?;
        return Ok(0);
    }
    out!("COMMIT {}", built.names.join(" "))?;
    out!("--> {}", built.record.id.short())?;
    for n in &built.names {
        out!("Successfully tagged {n}")?;
    }
    out!("{}", built.record.id)?;
    Ok(0)
}

/// `image history REF`: one row per history entry, newest first, as docker's
/// (IMAGE is the id on the top row and `<missing>` below it).
pub fn history(
    engine: &Engine,
    reference: &str,
    no_trunc: bool,
    quiet: bool,
) -> anyhow::Result<i32> {
    let store = &engine.images;
    let rec = store.resolve(reference)?;
    let cfg = image::import::image_config(store, &rec)?;
    let hist = cfg.history().clone().unwrap_or_default();
    let mut layers = rec.layers.iter();
    let mut rows: Vec<[String; 5]> = Vec::new();
    for h in &hist {
        let empty = h.empty_layer().unwrap_or(false);
        let size = if empty {
            0
        } else {
            layers.next().map_or(0, |l| l.size)
        };
        let mut by = h
            .created_by()
            .clone()
            .unwrap_or_default()
            .replace('\n', " ");
        if !no_trunc && by.chars().count() > 45 {
            by = by.chars().take(44).collect::<String>() + "…";
        }
        rows.push([
            "<missing>".into(),
            h.created().clone().unwrap_or_default(),
            by,
            brig_engine::image::registry::progress::human(size),
            h.comment().clone().unwrap_or_default(),
        ]);
    }
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top[0] = if no_trunc {
            rec.id.to_string()
        } else {
            rec.id.short().to_string()
        };
    }
    if quiet {
        for r in rows {
            out!("{}", r[0])?;
        }
        return Ok(0);
    }
    let mut all = vec![[
        "IMAGE".to_string(),
        "CREATED".into(),
        "CREATED BY".into(),
        "SIZE".into(),
        "COMMENT".into(),
    ]];
    all.extend(rows);
    crate::table::print(&all)?;
    Ok(0)
}

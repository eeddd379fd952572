use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write config.json.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
}

/// `rootless`: `spec --rootless` was given (runc's rootless variant).
pub fn run(a: Args, rootless: bool) -> anyhow::Result<i32> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        anyhow::bail!("{}: exists already; remove it first", path.display());
    }
    let text = if rootless {
        brig_runtime::spec::rootless_spec_text(
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    } else {
        brig_runtime::spec::default_spec_text().to_string()
    };
    std::fs::write(&path, text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(0)
}

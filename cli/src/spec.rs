use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write config.json.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<i32> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        anyhow::bail!("{}: exists already; remove it first", path.display());
    }
    std::fs::write(&path, brig_runtime::spec::default_spec_text())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_a: Args) -> anyhow::Result<i32> {
    super::out!(
        "{}",
        serde_json::to_string_pretty(&brig_runtime::features::features())?
    )?;
    Ok(0)
}

use brig_runtime::container::{self, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    pub id: String,
    /// Kill a running container first (and succeed when it does not exist).
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<i32> {
    container::delete(store, &a.id, a.force)?;
    Ok(0)
}

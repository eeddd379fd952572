use brig_runtime::container::{self, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    pub id: String,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<i32> {
    container::start(store, &a.id)?;
    Ok(0)
}

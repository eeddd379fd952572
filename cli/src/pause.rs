use brig_runtime::container::{self, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    pub id: String,
}

pub fn pause(store: &Store, a: Args) -> anyhow::Result<i32> {
    container::pause(store, &a.id)?;
    Ok(0)
}

pub fn resume(store: &Store, a: Args) -> anyhow::Result<i32> {
    container::resume(store, &a.id)?;
    Ok(0)
}

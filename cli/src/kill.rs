use brig_runtime::container::{self, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    pub id: String,
    /// Signal name (KILL, SIGKILL) or number.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
    /// Signal every process in the container's cgroup.
    #[arg(short, long)]
    pub all: bool,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<i32> {
    let sig = container::parse_signal(&a.signal).map_err(anyhow::Error::msg)?;
    container::kill(store, &a.id, sig, a.all)?;
    Ok(0)
}

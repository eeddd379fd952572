use brig_runtime::container::{self, Store};

use super::create::CreateArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub id: String,
    #[command(flatten)]
    pub opts: CreateArgs,
    /// Start the container and return, leaving it running.
    #[arg(short, long)]
    pub detach: bool,
    /// Do not delete the container after it exits (it stays, stopped).
    #[arg(long)]
    pub keep: bool,
    /// Accepted for runc compatibility, without effect: a foreground `run`
    /// stays the reaper of the container's init (with a user namespace the
    /// init is its grandchild, which it could not wait for otherwise).
    #[arg(long)]
    pub no_subreaper: bool,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<i32> {
    let _ = a.no_subreaper; // see its doc: accepted, no effect
    let opts = a.opts.options(!a.detach)?;
    if a.detach {
        container::create(store, &a.id, &opts)?;
        if let Err(e) = container::start(store, &a.id) {
            let _ = container::delete(store, &a.id, true);
            return Err(e.into());
        }
        return Ok(0);
    }
    Ok(container::run_foreground(store, &a.id, &opts, a.keep)?.exit_code)
}

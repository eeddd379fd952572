use std::path::PathBuf;

use brig_runtime::container::{self, CreateOptions, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    pub id: String,
    #[command(flatten)]
    pub opts: CreateArgs,
}

/// The flags `create` and `run` share.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The bundle directory (holding config.json).
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the container init's host pid here.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Use chroot instead of pivot_root (for a rootfs on a ramdisk).
    #[arg(long)]
    pub no_pivot: bool,
    /// Pass this many extra fds (from 3 on) to the container.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: i32,
    /// Unix socket that gets the master of the container's terminal (SCM_RIGHTS).
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
}

impl CreateArgs {
    pub fn options(&self, foreground: bool) -> anyhow::Result<CreateOptions> {
        if self.preserve_fds < 0 {
            anyhow::bail!("--preserve-fds {}: must not be negative", self.preserve_fds);
        }
        Ok(CreateOptions {
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            no_pivot: self.no_pivot,
            preserve_fds: self.preserve_fds,
            console_socket: self.console_socket.clone(),
            foreground,
            // runc's: the container's stdio is brig's own.
            stdio: container::Stdio::inherit(),
        })
    }
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<i32> {
    let opts = a.opts.options(false)?;
    let c = container::create(store, &a.id, &opts)?;
    super::log::debug(&format!("created {} with init pid {}", a.id, c.state.pid));
    Ok(0)
}

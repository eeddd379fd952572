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
    /// Unix socket that gets a pidfd of the container's init (SCM_RIGHTS), as runc 1.2.
    #[arg(long)]
    pub pidfd_socket: Option<PathBuf>,
    /// Keep the caller's session keyring instead of a new one per container.
    #[arg(long)]
    pub no_new_keyring: bool,
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
            pidfd_socket: self.pidfd_socket.clone(),
            foreground,
            // runc's: the container's stdio is brig's own.
            stdio: container::Stdio::inherit(),
            no_new_keyring: self.no_new_keyring,
            listen_fds: listen_fds(),
            spec: None,
        })
    }
}

/// The fds systemd socket activation gave us (sd_listen_fds(3)): LISTEN_FDS,
/// when LISTEN_PID is our pid; else none, as in runc.
fn listen_fds() -> i32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let n = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or(0);
    if ours && n > 0 {
        n
    } else {
        0
    }
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<i32> {
    let opts = a.opts.options(false)?;
    let c = container::create(store, &a.id, &opts)?;
    super::log::debug(&format!("created {} with init pid {}", a.id, c.state.pid));
    Ok(0)
}

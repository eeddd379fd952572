//! `ps`: the container's processes, as runc shows them. `--format json` prints
//! the host pids; `table` runs ps(1) with the given arguments (default `-ef`)
//! and keeps the header and the lines of the container's processes.

use clap::ValueEnum;

use brig_runtime::container::{self, Store};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
#[command(trailing_var_arg = true)]
pub struct Args {
    pub id: String,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Arguments for ps(1) (table format), e.g. `brig ps ID -- -o pid,comm`.
    #[arg(allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<i32> {
    // A stopped container has no processes to show: an empty list, or the
    // header alone, as runc prints.
    let pids = container::pids_or_none(store, &a.id)?;
    match a.format {
        Format::Json => super::out!("{}", serde_json::to_string(&pids)?)?,
        Format::Table => {
            let args: Vec<String> = if a.ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                a.ps_args.clone()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|e| anyhow::anyhow!("ps {}: {e}", args.join(" ")))?;
            if !out.status.success() {
                anyhow::bail!(
                    "ps {}: {}: {}",
                    args.join(" "),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let Some(col) = header.split_whitespace().position(|c| c == "PID") else {
                anyhow::bail!("ps {}: no PID column in its output", args.join(" "));
            };
            super::out!("{header}")?;
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    super::out!("{line}")?;
                }
            }
        }
    }
    Ok(0)
}

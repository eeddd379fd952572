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
            for line in container::ps_lines(&pids, &a.ps_args).map_err(anyhow::Error::msg)? {
                super::out!("{line}")?;
            }
        }
    }
    Ok(0)
}

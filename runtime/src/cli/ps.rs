use clap::ValueEnum;

use crate::container::{self, Store};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    pub id: String,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<i32> {
    let pids = container::pids(store, &a.id)?;
    match a.format {
        Format::Json => super::out!("{}", serde_json::to_string(&pids)?)?,
        Format::Table => {
            super::out!("PID     CMD")?;
            for pid in pids {
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmd: Vec<String> = cmd
                    .split(|b| *b == 0)
                    .filter(|s| !s.is_empty())
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect();
                super::out!("{pid:<7} {}", cmd.join(" "))?;
            }
        }
    }
    Ok(0)
}

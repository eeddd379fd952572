//! `brig volume create|ls|rm`.

use crate::out;
use brig_engine::Engine;

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Make a named volume (nothing happens if it exists).
    Create { name: String },
    /// List volumes.
    #[command(alias = "list")]
    Ls,
    /// Remove volumes and their data (refused while a container names one).
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

pub fn run(engine: &Engine, cmd: Cmd) -> anyhow::Result<i32> {
    match cmd {
        Cmd::Create { name } => {
            engine.create_volume(&name)?;
            out!("{name}")?;
        }
        Cmd::Ls => {
            let mut rows = vec![["VOLUME NAME".to_string()]];
            rows.extend(engine.volumes()?.into_iter().map(|v| [v]));
            crate::table::print(&rows)?;
        }
        Cmd::Rm { names } => {
            let mut failed = false;
            for n in names {
                match engine.remove_volume(&n) {
                    Ok(()) => out!("{n}")?,
                    Err(e) => {
                        crate::log::error(&e.to_string());
                        failed = true;
                    }
                }
            }
            return Ok(i32::from(failed));
        }
    }
    Ok(0)
}

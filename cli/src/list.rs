use clap::ValueEnum;

use brig_runtime::container::Store;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print only the ids.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<i32> {
    let mut rows = Vec::new();
    for id in store.ids()? {
        // One damaged or half-made container must not hide the others.
        match store.peek(&id) {
            Ok(st) => rows.push(st.oci_json()),
            Err(e) => super::log::debug(&format!("list: skipping {id}: {e}")),
        }
    }
    if a.quiet {
        for r in &rows {
            super::out!("{}", r["id"].as_str().unwrap_or_default())?;
        }
        return Ok(0);
    }
    match a.format {
        Format::Json => super::out!("{}", serde_json::to_string(&rows)?)?,
        Format::Table => {
            let head = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"];
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    ["id", "pid", "status", "bundle", "created", "owner"]
                        .iter()
                        .map(|k| match &r[*k] {
                            serde_json::Value::String(s) => s.clone(),
                            v => v.to_string(),
                        })
                        .collect()
                })
                .collect();
            let mut table = vec![head.map(String::from).to_vec()];
            table.extend(cells);
            crate::table::print(&table)?;
        }
    }
    Ok(0)
}

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
            let mut width = head.map(str::len);
            for row in &cells {
                for (w, c) in width.iter_mut().zip(row) {
                    *w = (*w).max(c.len());
                }
            }
            let line = |cols: Vec<&str>| {
                let s: Vec<String> = cols
                    .iter()
                    .zip(width)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                super::out!("{}", s.join("   ").trim_end())
            };
            line(head.to_vec())?;
            for row in &cells {
                line(row.iter().map(String::as_str).collect())?;
            }
        }
    }
    Ok(0)
}

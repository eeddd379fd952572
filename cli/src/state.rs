use brig_runtime::container::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub id: String,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<i32> {
    let st = store.peek(&a.id)?;
    super::out!("{}", serde_json::to_string_pretty(&st.oci_json())?)?;
    Ok(0)
}

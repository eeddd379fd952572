//! `brig network`: the networks (CNI conflists) containers join, and the
//! low-level attach/detach that `brig container run --network/-p` uses.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};

use brig_engine::network::{AttachRequest, NetworkMode, Networks, PortMapping, Subnet};

/// Where networks live; shared with the commands that attach containers.
#[derive(Debug, Clone, clap::Args)]
pub struct Paths {
    /// Directory of the network conflists, IPAM leases and attachment records.
    #[arg(long, global = true, env = "BRIG_NETWORK_ROOT", default_value = Networks::DEFAULT_ROOT)]
    pub network_root: PathBuf,
    /// Directory of the containers' network namespace files.
    #[arg(long, global = true, env = "BRIG_NETNS_DIR", default_value = Networks::DEFAULT_NETNS_DIR)]
    pub netns_dir: PathBuf,
    /// Where the CNI plugins are, colon-separated (CNI_PATH).
    #[arg(long, global = true, env = "BRIG_CNI_PATH", default_value = Networks::DEFAULT_CNI_PATH)]
    pub cni_path: String,
}

impl Paths {
    pub fn networks(&self) -> Networks {
        Networks::new(
            &self.network_root,
            &self.netns_dir,
            self.cni_path
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect(),
        )
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub paths: Paths,
    #[command(subcommand)]
    pub command: NetCommand,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum NetCommand {
    /// Create a bridge network (a CNI conflist).
    Create {
        name: String,
        /// Its IPv4 subnet; the default is the first free /24 of 10.78.0.0/16.
        #[arg(long, value_parser = parse_subnet)]
        subnet: Option<Subnet>,
    },
    /// List the networks.
    #[command(alias = "list")]
    Ls {
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Remove networks no container is attached to.
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Print a network's conflist.
    Inspect { name: String },
    /// Give a container id a network namespace on a network; prints the attachment.
    Attach {
        id: String,
        /// A network name, `none` (only lo) or `host` (the host's namespace).
        #[arg(long, default_value = brig_engine::network::DEFAULT_NETWORK)]
        network: String,
        #[arg(short = 'p', long = "publish", value_parser = PortMapping::parse,
              help = "Publish a port: [HOSTIP:]HOSTPORT:CTRPORT[/tcp|udp]")]
        publish: Vec<PortMapping>,
        /// The container's hostname, for its /etc/hosts (default: the id).
        #[arg(long)]
        hostname: Option<String>,
    },
    /// Undo attach: CNI DEL, the namespace, the record. Not attached is not an error.
    Detach { id: String },
    /// List the attachments (containers with a network).
    Ps {
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

fn parse_subnet(s: &str) -> Result<Subnet, String> {
    s.parse()
}

pub fn run(a: Args) -> anyhow::Result<i32> {
    let nets = a.paths.networks();
    match a.command {
        NetCommand::Create { name, subnet } => {
            let n = nets.create(&name, subnet)?;
            super::out!("{}", n.name)?;
        }
        NetCommand::Ls { format } => {
            let list = nets.list()?;
            let atts = nets.attachments()?;
            let users = |name: &str| {
                atts.iter()
                    .filter(|a| a.network() == Some(name))
                    .map(|a| a.container_id.clone())
                    .collect::<Vec<_>>()
            };
            match format {
                Format::Json => {
                    let v: Vec<serde_json::Value> = list
                        .iter()
                        .map(|n| {
                            serde_json::json!({
                                "name": n.name,
                                "subnet": n.subnet.to_string(),
                                "gateway": n.gateway.to_string(),
                                "bridge": n.bridge,
                                "containers": users(&n.name),
                            })
                        })
                        .collect();
                    super::out!("{}", serde_json::to_string(&v)?)?;
                }
                Format::Table => {
                    let rows = list
                        .iter()
                        .map(|n| {
                            vec![
                                n.name.clone(),
                                n.subnet.to_string(),
                                n.gateway.to_string(),
                                n.bridge.clone(),
                                users(&n.name).len().to_string(),
                            ]
                        })
                        .collect();
                    table(&["NAME", "SUBNET", "GATEWAY", "BRIDGE", "CONTAINERS"], rows)?;
                }
            }
        }
        NetCommand::Rm { names } => {
            let mut failed = false;
            for n in names {
                match nets.remove(&n) {
                    Ok(()) => super::out!("{n}")?,
                    Err(e) => {
                        super::log::error(&e.to_string());
                        failed = true;
                    }
                }
            }
            return Ok(i32::from(failed));
        }
        NetCommand::Inspect { name } => {
            let n = nets.get(&name)?;
            super::out!("{}", serde_json::to_string_pretty(&n.conflist)?)?;
        }
        NetCommand::Attach {
            id,
            network,
            publish,
            hostname,
        } => {
            let req = AttachRequest {
                mode: NetworkMode::parse(&network)?,
                hostname: hostname.unwrap_or_else(|| id.clone()),
                ports: publish,
                ephemeral: false,
            };
            let att = nets.attach(&id, &req)?;
            super::out!("{}", serde_json::to_string_pretty(&att.to_public_json())?)?;
        }
        NetCommand::Detach { id } => {
            nets.detach(&id)?;
        }
        NetCommand::Ps { format } => {
            let atts = nets.attachments()?;
            match format {
                Format::Json => {
                    let v: Vec<_> = atts.iter().map(|a| a.to_public_json()).collect();
                    super::out!("{}", serde_json::to_string(&v)?)?;
                }
                Format::Table => {
                    let opt = |o: Option<String>| o.unwrap_or_else(|| "-".into());
                    let rows = atts
                        .iter()
                        .map(|a| {
                            vec![
                                a.container_id.clone(),
                                a.mode.to_string(),
                                opt(a
                                    .ip
                                    .map(|ip| format!("{ip}/{}", a.prefix_len.unwrap_or(32)))),
                                opt(a.mac.clone()),
                                if a.ports.is_empty() {
                                    "-".into()
                                } else {
                                    a.ports
                                        .iter()
                                        .map(|p| p.to_string())
                                        .collect::<Vec<_>>()
                                        .join(",")
                                },
                            ]
                        })
                        .collect();
                    table(&["CONTAINER", "NETWORK", "IP", "MAC", "PORTS"], rows)?;
                }
            }
        }
    }
    Ok(0)
}

fn table(head: &[&str], rows: Vec<Vec<String>>) -> anyhow::Result<()> {
    let mut table = vec![head.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    table.extend(rows);
    crate::table::print(&table)
}

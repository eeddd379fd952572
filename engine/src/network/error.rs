use std::path::{Path, PathBuf};

/// Everything that can go wrong with networks and attachments. Each message
/// names what it is about (the network, the container, the plugin, the port).
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network name {0:?}: must be 1-64 letters, digits and _ . - starting with a letter or digit (none and host are reserved)")]
    BadName(String),
    #[error("network {0:?} does not exist (brig network ls lists them)")]
    NotFound(String),
    #[error("network {0:?} already exists")]
    Exists(String),
    #[error("network {name:?} is in use by container(s) {}: detach them first", containers.join(", "))]
    InUse {
        name: String,
        containers: Vec<String>,
    },
    #[error("{0}")]
    BadSubnet(String),
    #[error("subnet {subnet} overlaps {other}; pick another --subnet")]
    Overlap { subnet: String, other: String },
    #[error("no free subnet for the default network brig0 ({why}): make it with `brig network create brig0 --subnet CIDR` (a free range)")]
    DefaultOverlap { why: String },
    #[error("no free subnet in 10.78.0.0/16 for a new network: give --subnet")]
    NoFreeSubnet,
    #[error("{0}")]
    BadPort(String),
    #[error("host port {port}: {why}")]
    PortTaken { port: String, why: String },
    #[error("CNI plugin {plugin:?} (network {network:?}) not found in {}: install the Debian package containernetworking-plugins, or point --cni-path at the plugins", search.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":"))]
    PluginMissing {
        plugin: String,
        network: String,
        search: Vec<PathBuf>,
    },
    #[error("{0}")]
    Plugin(Box<PluginFailure>),
    #[error("container id {0:?}: must be a name of letters, digits and _ + . - (never a path)")]
    BadContainerId(String),
    #[error(
        "hostname {0:?}: must be at most 253 letters, digits, - and . (it goes into /etc/hosts)"
    )]
    BadHostname(String),
    #[error("container {id:?} is already attached (network {network}): detach it first")]
    Attached { id: String, network: String },
    #[error("--network {mode} cannot publish ports (-p {port}): only a bridge network can")]
    PortsWithoutBridge { mode: String, port: String },
    #[error("the rule that keeps containers on {bridge} off the host's 127.0.0.0/8: {msg}")]
    Guard { bridge: String, msg: String },
    #[error("the masquerade rule the bridge plugin left for container {container:?}: {msg}")]
    Masquerade { container: String, msg: String },
    #[error("{path}: {msg}")]
    Corrupt { path: PathBuf, msg: String },
    #[error("network namespace {path}: {source}")]
    Netns {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{first}; then, undoing it: {undo}")]
    Undo {
        first: Box<NetworkError>,
        undo: Box<NetworkError>,
    },
}

/// A CNI plugin that failed: its error object (`code`, `msg`, `details`), or
/// what it wrote when it wrote none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginFailure {
    pub network: String,
    pub plugin: String,
    pub command: &'static str,
    pub container: String,
    pub code: Option<u64>,
    pub msg: String,
    pub details: String,
}

impl std::fmt::Display for PluginFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "network {:?}: CNI plugin {} {} for container {:?} failed",
            self.network, self.plugin, self.command, self.container
        )?;
        if let Some(c) = self.code {
            write!(f, " (CNI error code {c})")?;
        }
        write!(f, ": {}", self.msg)?;
        if !self.details.is_empty() {
            write!(f, " ({})", self.details)?;
        }
        Ok(())
    }
}

impl NetworkError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> NetworkError {
        NetworkError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = NetworkError> = std::result::Result<T, E>;

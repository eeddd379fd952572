//! Where container networking plugs in. For now brig offers `none` (a new,
//! empty network namespace: loopback only) and `host` (no network namespace).
//! CNI networks (`--network NAME`, `-p`) are refused until runtime/src/network/
//! provides them; `attach` is the function that will call it.

use std::path::PathBuf;

/// `--network`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NetworkMode {
    /// A new network namespace with loopback only (the default, for now).
    None,
    /// The host's network namespace.
    Host,
}

impl NetworkMode {
    pub fn parse(s: &str) -> Result<NetworkMode, String> {
        match s {
            "none" => Ok(NetworkMode::None),
            "host" => Ok(NetworkMode::Host),
            other => Err(format!(
                "--network {other}: networks are not available in brig yet; use none or host"
            )),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            NetworkMode::None => "none",
            NetworkMode::Host => "host",
        }
    }
}

/// The network namespace a container's config.json gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Netns {
    /// `{"type": "network"}`: the runtime makes a new one.
    New,
    /// No network namespace entry: the host's.
    Host,
    /// `{"type": "network", "path": P}`: one made by network setup.
    Path(PathBuf),
}

/// Set up the network of container `id` before its config.json is written;
/// returns the namespace to put into it. Network setup (CNI) will return
/// `Netns::Path` here for the networks it makes.
pub fn attach(_id: &str, mode: &NetworkMode) -> Result<Netns, String> {
    Ok(match mode {
        NetworkMode::None => Netns::New,
        NetworkMode::Host => Netns::Host,
    })
}

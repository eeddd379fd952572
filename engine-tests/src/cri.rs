//! A small CRI v1 client over containerd's unix socket: the messages of the calls the tests
//! make, written with prost's derive (field numbers as in Kubernetes' `runtime.v1` api.proto),
//! and tonic's generic unary call. Fields a test does not set are left out: protobuf skips
//! unknown fields, so the subset is wire-compatible. No protoc is needed to build it.

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::PathBuf;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint, Uri};

#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionRequest {
    #[prost(string, tag = "1")]
    pub version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionResponse {
    #[prost(string, tag = "1")]
    pub version: String,
    #[prost(string, tag = "2")]
    pub runtime_name: String,
    #[prost(string, tag = "3")]
    pub runtime_version: String,
    #[prost(string, tag = "4")]
    pub runtime_api_version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxMetadata {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub uid: String,
    #[prost(string, tag = "3")]
    pub namespace: String,
    #[prost(uint32, tag = "4")]
    pub attempt: u32,
}

/// NamespaceMode: POD = 0, CONTAINER = 1, NODE = 2, TARGET = 3.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NamespaceOption {
    #[prost(int32, tag = "1")]
    pub network: i32,
    #[prost(int32, tag = "2")]
    pub pid: i32,
    #[prost(int32, tag = "3")]
    pub ipc: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LinuxSandboxSecurityContext {
    #[prost(message, optional, tag = "1")]
    pub namespace_options: Option<NamespaceOption>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LinuxPodSandboxConfig {
    #[prost(string, tag = "1")]
    pub cgroup_parent: String,
    #[prost(message, optional, tag = "2")]
    pub security_context: Option<LinuxSandboxSecurityContext>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxConfig {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<PodSandboxMetadata>,
    #[prost(string, tag = "2")]
    pub hostname: String,
    #[prost(string, tag = "3")]
    pub log_directory: String,
    #[prost(map = "string, string", tag = "6")]
    pub labels: HashMap<String, String>,
    #[prost(message, optional, tag = "8")]
    pub linux: Option<LinuxPodSandboxConfig>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RunPodSandboxRequest {
    #[prost(message, optional, tag = "1")]
    pub config: Option<PodSandboxConfig>,
    #[prost(string, tag = "2")]
    pub runtime_handler: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RunPodSandboxResponse {
    #[prost(string, tag = "1")]
    pub pod_sandbox_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxIdRequest {
    #[prost(string, tag = "1")]
    pub pod_sandbox_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxStatusRequest {
    #[prost(string, tag = "1")]
    pub pod_sandbox_id: String,
    #[prost(bool, tag = "2")]
    pub verbose: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxNetworkStatus {
    #[prost(string, tag = "1")]
    pub ip: String,
}

/// PodSandboxState: SANDBOX_READY = 0, SANDBOX_NOTREADY = 1.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxStatus {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(int32, tag = "3")]
    pub state: i32,
    #[prost(message, optional, tag = "5")]
    pub network: Option<PodSandboxNetworkStatus>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxStatusResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<PodSandboxStatus>,
    /// With `verbose`, containerd's "info" key holds JSON with the sandbox's runtime spec.
    #[prost(map = "string, string", tag = "2")]
    pub info: HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerMetadata {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint32, tag = "2")]
    pub attempt: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ImageSpec {
    #[prost(string, tag = "1")]
    pub image: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LinuxContainerResources {
    #[prost(int64, tag = "4")]
    pub memory_limit_in_bytes: i64,
    #[prost(int64, tag = "10")]
    pub memory_swap_limit_in_bytes: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LinuxContainerConfig {
    #[prost(message, optional, tag = "1")]
    pub resources: Option<LinuxContainerResources>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerConfig {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ContainerMetadata>,
    #[prost(message, optional, tag = "2")]
    pub image: Option<ImageSpec>,
    #[prost(string, repeated, tag = "3")]
    pub command: Vec<String>,
    #[prost(string, repeated, tag = "4")]
    pub args: Vec<String>,
    #[prost(string, tag = "11")]
    pub log_path: String,
    #[prost(message, optional, tag = "15")]
    pub linux: Option<LinuxContainerConfig>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateContainerRequest {
    #[prost(string, tag = "1")]
    pub pod_sandbox_id: String,
    #[prost(message, optional, tag = "2")]
    pub config: Option<ContainerConfig>,
    #[prost(message, optional, tag = "3")]
    pub sandbox_config: Option<PodSandboxConfig>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateContainerResponse {
    #[prost(string, tag = "1")]
    pub container_id: String,
}

/// StartContainerRequest, RemoveContainerRequest, ContainerStatusRequest (verbose false).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerIdRequest {
    #[prost(string, tag = "1")]
    pub container_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StopContainerRequest {
    #[prost(string, tag = "1")]
    pub container_id: String,
    #[prost(int64, tag = "2")]
    pub timeout: i64,
}

/// ContainerState: CREATED = 0, RUNNING = 1, EXITED = 2, UNKNOWN = 3.
pub const CONTAINER_RUNNING: i32 = 1;
pub const CONTAINER_EXITED: i32 = 2;

#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerStatus {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(int32, tag = "3")]
    pub state: i32,
    #[prost(int64, tag = "6")]
    pub finished_at: i64,
    #[prost(int32, tag = "7")]
    pub exit_code: i32,
    #[prost(string, tag = "10")]
    pub reason: String,
    #[prost(string, tag = "11")]
    pub message: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerStatusResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<ContainerStatus>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecSyncRequest {
    #[prost(string, tag = "1")]
    pub container_id: String,
    #[prost(string, repeated, tag = "2")]
    pub cmd: Vec<String>,
    #[prost(int64, tag = "3")]
    pub timeout: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecSyncResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub stdout: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub stderr: Vec<u8>,
    #[prost(int32, tag = "3")]
    pub exit_code: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandbox {
    #[prost(string, tag = "1")]
    pub id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListPodSandboxResponse {
    #[prost(message, repeated, tag = "1")]
    pub items: Vec<PodSandbox>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Container {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub pod_sandbox_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListContainersResponse {
    #[prost(message, repeated, tag = "1")]
    pub containers: Vec<Container>,
}

/// A CRI runtime-service client over a unix socket.
#[derive(Clone)]
pub struct Client {
    grpc: tonic::client::Grpc<Channel>,
}

impl Client {
    pub async fn connect(socket: PathBuf) -> Result<Client> {
        // The URI is required by tonic and ignored by the connector.
        let channel = Endpoint::try_from("http://[::1]:50051")?
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let socket = socket.clone();
                async move {
                    let s = tokio::net::UnixStream::connect(socket).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
                }
            }))
            .await
            .context("connecting to containerd's CRI socket")?;
        Ok(Client {
            grpc: tonic::client::Grpc::new(channel),
        })
    }

    async fn call<Req, Resp>(&mut self, method: &'static str, req: Req) -> Result<Resp>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        self.grpc
            .ready()
            .await
            .with_context(|| format!("CRI {method}: the channel is not ready"))?;
        let path = PathAndQuery::from_static(method);
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        let resp = self
            .grpc
            .unary(tonic::Request::new(req), path, codec)
            .await
            .map_err(|s| anyhow::anyhow!("CRI {method}: {:?}: {}", s.code(), s.message()))?;
        Ok(resp.into_inner())
    }

    pub async fn version(&mut self) -> Result<VersionResponse> {
        self.call(
            "/runtime.v1.RuntimeService/Version",
            VersionRequest {
                version: "v1".into(),
            },
        )
        .await
    }

    pub async fn run_pod_sandbox(&mut self, config: PodSandboxConfig) -> Result<String> {
        let r: RunPodSandboxResponse = self
            .call(
                "/runtime.v1.RuntimeService/RunPodSandbox",
                RunPodSandboxRequest {
                    config: Some(config),
                    runtime_handler: String::new(),
                },
            )
            .await?;
        Ok(r.pod_sandbox_id)
    }

    pub async fn pod_sandbox_status(&mut self, id: &str) -> Result<PodSandboxStatus> {
        let r = self.pod_sandbox_status_verbose(id, false).await?;
        r.status.context("PodSandboxStatus without a status")
    }

    pub async fn pod_sandbox_status_verbose(
        &mut self,
        id: &str,
        verbose: bool,
    ) -> Result<PodSandboxStatusResponse> {
        self.call(
            "/runtime.v1.RuntimeService/PodSandboxStatus",
            PodSandboxStatusRequest {
                pod_sandbox_id: id.into(),
                verbose,
            },
        )
        .await
    }

    /// The path of the pod's network namespace, from containerd's verbose sandbox info.
    pub async fn pod_netns_path(&mut self, id: &str) -> Result<String> {
        let r = self.pod_sandbox_status_verbose(id, true).await?;
        let info = r.info.get("info").context("no verbose info for the pod")?;
        let v: serde_json::Value = serde_json::from_str(info)?;
        v.pointer("/runtimeSpec/linux/namespaces")
            .and_then(|n| n.as_array())
            .and_then(|a| {
                a.iter()
                    .find(|n| n["type"] == "network")
                    .and_then(|n| n["path"].as_str())
            })
            .map(str::to_string)
            .context("the pod's runtime spec has no network namespace path")
    }

    pub async fn stop_pod_sandbox(&mut self, id: &str) -> Result<()> {
        let _: Empty = self
            .call(
                "/runtime.v1.RuntimeService/StopPodSandbox",
                PodSandboxIdRequest {
                    pod_sandbox_id: id.into(),
                },
            )
            .await?;
        Ok(())
    }

    pub async fn remove_pod_sandbox(&mut self, id: &str) -> Result<()> {
        let _: Empty = self
            .call(
                "/runtime.v1.RuntimeService/RemovePodSandbox",
                PodSandboxIdRequest {
                    pod_sandbox_id: id.into(),
                },
            )
            .await?;
        Ok(())
    }

    pub async fn list_pod_sandbox(&mut self) -> Result<Vec<String>> {
        let r: ListPodSandboxResponse = self
            .call("/runtime.v1.RuntimeService/ListPodSandbox", Empty {})
            .await?;
        Ok(r.items.into_iter().map(|p| p.id).collect())
    }

    pub async fn list_containers(&mut self) -> Result<Vec<Container>> {
        let r: ListContainersResponse = self
            .call("/runtime.v1.RuntimeService/ListContainers", Empty {})
            .await?;
        Ok(r.containers)
    }

    pub async fn create_container(
        &mut self,
        pod: &str,
        config: ContainerConfig,
        sandbox: PodSandboxConfig,
    ) -> Result<String> {
        let r: CreateContainerResponse = self
            .call(
                "/runtime.v1.RuntimeService/CreateContainer",
                CreateContainerRequest {
                    pod_sandbox_id: pod.into(),
                    config: Some(config),
                    sandbox_config: Some(sandbox),
                },
            )
            .await?;
        Ok(r.container_id)
    }

    pub async fn start_container(&mut self, id: &str) -> Result<()> {
        let _: Empty = self
            .call(
                "/runtime.v1.RuntimeService/StartContainer",
                ContainerIdRequest {
                    container_id: id.into(),
                },
            )
            .await?;
        Ok(())
    }

    pub async fn stop_container(&mut self, id: &str, timeout: i64) -> Result<()> {
        let _: Empty = self
            .call(
                "/runtime.v1.RuntimeService/StopContainer",
                StopContainerRequest {
                    container_id: id.into(),
                    timeout,
                },
            )
            .await?;
        Ok(())
    }

    pub async fn remove_container(&mut self, id: &str) -> Result<()> {
        let _: Empty = self
            .call(
                "/runtime.v1.RuntimeService/RemoveContainer",
                ContainerIdRequest {
                    container_id: id.into(),
                },
            )
            .await?;
        Ok(())
    }

    pub async fn container_status(&mut self, id: &str) -> Result<ContainerStatus> {
        let r: ContainerStatusResponse = self
            .call(
                "/runtime.v1.RuntimeService/ContainerStatus",
                ContainerIdRequest {
                    container_id: id.into(),
                },
            )
            .await?;
        r.status.context("ContainerStatus without a status")
    }

    pub async fn exec_sync(
        &mut self,
        id: &str,
        cmd: &[&str],
        timeout: i64,
    ) -> Result<ExecSyncResponse> {
        self.call(
            "/runtime.v1.RuntimeService/ExecSync",
            ExecSyncRequest {
                container_id: id.into(),
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
                timeout,
            },
        )
        .await
    }
}

//! The Kubernetes node path: a private containerd with its CRI plugin, the runtime under test
//! (brig unless $BRIG_ENGINE_RUNTIME) as the runc binary of io.containerd.runc.v2, a CNI bridge
//! that exists only in the harness's network namespace, and a pause image built from busybox.
//! A CRI client written in Rust speaks to it over its unix socket, as the kubelet would.

use anyhow::{bail, ensure, Context, Result};
use brig_engine_tests::containerd::{Containerd, CNI_BRIDGE, IMAGE};
use brig_engine_tests::cri::*;
use brig_engine_tests::{log, runtime_under_test, trial_result};
use libtest_mimic::{Arguments, Trial};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Env {
    ctd: Containerd,
    rt: tokio::runtime::Runtime,
    client: Client,
}

type Scenario = for<'a> fn(&'a Env) -> Pin<Box<dyn Future<Output = Result<()>> + 'a>>;

const SCENARIOS: &[(&str, Scenario)] = &[
    ("pod_exec_stop_remove", |e| {
        Box::pin(pod_exec_stop_remove(e))
    }),
    ("oom_killed_137", |e| Box::pin(oom_killed_137(e))),
    ("exited_container_in_shared_pid_pod", |e| {
        Box::pin(exited_container_in_shared_pid_pod(e))
    }),
];

fn main() {
    let args = Arguments::from_args();
    let skip = brig_engine_tests::skip_reason();
    if let Some(why) = &skip {
        log(&format!("SKIPPED cri: {why}"));
    }
    let wanted = SCENARIOS
        .iter()
        .any(|(n, _)| args.filter.as_deref().is_none_or(|f| n.contains(f)));
    let env = if skip.is_none() && wanted && !args.list {
        Some(Arc::new(
            start().expect("starting containerd with its CRI plugin"),
        ))
    } else {
        None
    };
    let trials = SCENARIOS
        .iter()
        .map(|&(name, f)| {
            let e = env.clone();
            Trial::test(name, move || {
                let e = e.expect("containerd was started");
                let r = e.rt.block_on(f(&e));
                trial_result(r.map_err(|err| {
                    anyhow::anyhow!("{err:#}\n--- containerd log:\n{}", e.ctd.log_tail())
                }))
            })
            .with_ignored_flag(skip.is_some())
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(env);
    conclusion.exit();
}

fn start() -> Result<Env> {
    let runtime = runtime_under_test()?;
    log(&format!(
        "containerd CRI with BinaryName = {}",
        runtime.path.display()
    ));
    let ctd = Containerd::start(runtime, true)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client = rt.block_on(async {
        let mut c = Client::connect(ctd.socket()).await?;
        let v = c.version().await?;
        log(&format!(
            "CRI {} {} (API {})",
            v.runtime_name, v.runtime_version, v.runtime_api_version
        ));
        Ok::<_, anyhow::Error>(c)
    })?;
    Ok(Env { ctd, rt, client })
}

const POD: i32 = 0;
const CONTAINER: i32 = 1;

fn sandbox_config(e: &Env, name: &str, pid_mode: i32) -> Result<PodSandboxConfig> {
    let logs = e.ctd.dir.path().join("logs").join(name);
    std::fs::create_dir_all(&logs)?;
    Ok(PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: format!("{}-{name}", e.ctd.runtime.name),
            uid: format!("uid-{}-{name}", e.ctd.runtime.name),
            namespace: "brig-engine".into(),
            attempt: 0,
        }),
        hostname: name.replace('_', "-"),
        log_directory: logs.display().to_string(),
        labels: Default::default(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: format!("{}/{name}", e.ctd.cgroup.path()),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption {
                    network: POD,
                    pid: pid_mode,
                    ipc: POD,
                }),
            }),
        }),
    })
}

fn container_config(name: &str, command: &[&str], memory: Option<i64>) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: IMAGE.into(),
        }),
        command: command.iter().map(|s| s.to_string()).collect(),
        args: Vec::new(),
        log_path: format!("{name}.log"),
        linux: Some(LinuxContainerConfig {
            resources: Some(LinuxContainerResources {
                memory_limit_in_bytes: memory.unwrap_or(0),
                memory_swap_limit_in_bytes: memory.unwrap_or(0),
            }),
        }),
    }
}

async fn wait_status(
    c: &mut Client,
    id: &str,
    state: i32,
    timeout: Duration,
) -> Result<ContainerStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        let st = c.container_status(id).await?;
        if st.state == state {
            return Ok(st);
        }
        if Instant::now() > deadline {
            bail!("container {id} did not reach state {state} in {timeout:?}: {st:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_container(
    c: &mut Client,
    pod: &str,
    sb: &PodSandboxConfig,
    cfg: ContainerConfig,
) -> Result<String> {
    let id = c.create_container(pod, cfg, sb.clone()).await?;
    c.start_container(&id).await?;
    Ok(id)
}

/// Stops and removes the pod (StopPodSandbox first removes nothing; RemovePodSandbox removes
/// its containers), then checks that nothing of it is left: no sandbox, no network namespace,
/// no shim, no mount, no cgroup.
async fn remove_pod(e: &Env, pod: &str, cgroup_name: &str) -> Result<()> {
    let mut c = e.client.clone();
    let netns = c.pod_netns_path(pod).await?;
    let netns_name = netns.rsplit('/').next().unwrap_or_default();
    ensure!(
        e.ctd.sandbox.netns_files()?.iter().any(|n| n == netns_name),
        "the pod's network namespace {netns} is not in /run/netns"
    );
    tokio::time::timeout(Duration::from_secs(30), c.stop_pod_sandbox(pod))
        .await
        .context("StopPodSandbox did not return in 30 s")??;
    tokio::time::timeout(Duration::from_secs(30), c.remove_pod_sandbox(pod))
        .await
        .context("RemovePodSandbox did not return in 30 s")??;
    let pods = c.list_pod_sandbox().await?;
    ensure!(!pods.iter().any(|p| p == pod), "the pod is still listed");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let shims: Vec<_> = e
            .ctd
            .leftover_processes()
            .into_iter()
            .filter(|(_, cmd)| cmd.contains(pod))
            .collect();
        if shims.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            bail!("shims left after RemovePodSandbox: {shims:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mounts = e.ctd.sandbox.mounts_with(pod)?;
    ensure!(
        mounts.is_empty(),
        "mounts left after RemovePodSandbox: {mounts:?}"
    );
    ensure!(
        !e.ctd.sandbox.netns_files()?.iter().any(|n| n == netns_name),
        "the pod's network namespace {netns} is left after RemovePodSandbox"
    );
    let netns_mounts = e.ctd.sandbox.mounts_with(netns_name)?;
    ensure!(
        netns_mounts.is_empty(),
        "netns mounts left: {netns_mounts:?}"
    );
    let cg: Vec<_> = e
        .ctd
        .cgroup
        .children()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(&format!("{cgroup_name}/")))
        .collect();
    ensure!(cg.is_empty(), "cgroups left after RemovePodSandbox: {cg:?}");
    Ok(())
}

/// RunPodSandbox → Create/StartContainer → ContainerStatus → ExecSync → StopContainer (a TERM
/// handler within the grace period; PID 1 without one killed when it ends) → RemovePodSandbox.
async fn pod_exec_stop_remove(e: &Env) -> Result<()> {
    let name = "lifecycle";
    let mut c = e.client.clone();
    let sb = sandbox_config(e, name, CONTAINER)?;
    let pod = c.run_pod_sandbox(sb.clone()).await?;
    let r = async {
        let st = c.pod_sandbox_status(&pod).await?;
        ensure!(st.state == 0, "the pod is not ready: {st:?}");
        let ip = st.network.map(|n| n.ip).unwrap_or_default();
        ensure!(
            ip.starts_with("10.233.7."),
            "the pod got no address from the CNI bridge {CNI_BRIDGE}: {ip:?}"
        );
        let graceful = start_container(
            &mut c,
            &pod,
            &sb,
            container_config(
                "graceful",
                &[
                    "sh",
                    "-c",
                    "trap 'exit 0' TERM; while :; do sleep 0.1; done",
                ],
                None,
            ),
        )
        .await?;
        wait_status(
            &mut c,
            &graceful,
            CONTAINER_RUNNING,
            Duration::from_secs(30),
        )
        .await?;
        let x = c
            .exec_sync(
                &graceful,
                &["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"],
                30,
            )
            .await?;
        ensure!(
            x.exit_code == 3 && x.stdout == b"to-stdout\n" && x.stderr == b"to-stderr\n",
            "ExecSync: {x:?}"
        );
        let x = c
            .exec_sync(&graceful, &["ip", "-4", "addr", "show", "eth0"], 30)
            .await?;
        let out = String::from_utf8_lossy(&x.stdout);
        ensure!(out.contains(&ip), "eth0 in the pod lacks {ip}: {out}");
        let x = c
            .exec_sync(&graceful, &["wget", "-q", "-O-", "http://127.0.0.1:1/"], 30)
            .await?;
        ensure!(
            String::from_utf8_lossy(&x.stderr).contains("refused"),
            "loopback in the pod: {x:?}"
        );
        c.stop_container(&graceful, 30).await?;
        let st = wait_status(&mut c, &graceful, CONTAINER_EXITED, Duration::from_secs(30)).await?;
        ensure!(
            st.exit_code == 0,
            "StopContainer with a TERM handler: exit {} reason {}",
            st.exit_code,
            st.reason
        );
        let stubborn = start_container(
            &mut c,
            &pod,
            &sb,
            container_config(
                "stubborn",
                &["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"],
                None,
            ),
        )
        .await?;
        wait_status(
            &mut c,
            &stubborn,
            CONTAINER_RUNNING,
            Duration::from_secs(30),
        )
        .await?;
        tokio::time::timeout(Duration::from_secs(60), c.stop_container(&stubborn, 1))
            .await
            .context("StopContainer with a 1 s grace period did not return in 60 s")??;
        let st = wait_status(&mut c, &stubborn, CONTAINER_EXITED, Duration::from_secs(30)).await?;
        ensure!(
            st.exit_code == 137,
            "StopContainer past the grace period: exit {} (want 137)",
            st.exit_code
        );
        c.remove_container(&graceful).await?;
        c.remove_container(&stubborn).await?;
        let left: Vec<_> = c
            .list_containers()
            .await?
            .into_iter()
            .filter(|x| x.pod_sandbox_id == pod)
            .collect();
        ensure!(
            left.is_empty(),
            "containers left after RemoveContainer: {left:?}"
        );
        Ok(())
    }
    .await;
    let cleanup = remove_pod(e, &pod, name).await;
    r?;
    cleanup
}

/// A container over its memory limit: ContainerStatus says OOMKilled, exit 137.
async fn oom_killed_137(e: &Env) -> Result<()> {
    let name = "oom";
    let mut c = e.client.clone();
    let sb = sandbox_config(e, name, CONTAINER)?;
    let pod = c.run_pod_sandbox(sb.clone()).await?;
    let r = async {
        let id = start_container(
            &mut c,
            &pod,
            &sb,
            container_config(
                "hog",
                &[
                    "sh",
                    "-c",
                    "x=$(head -c 200m /dev/zero | tr '\\0' a); echo survived",
                ],
                Some(32 << 20),
            ),
        )
        .await?;
        let st = wait_status(&mut c, &id, CONTAINER_EXITED, Duration::from_secs(60)).await?;
        ensure!(
            st.reason == "OOMKilled" && st.exit_code == 137,
            "a memory hog over 32 MiB: reason {:?} exit {} (want OOMKilled, 137)",
            st.reason,
            st.exit_code
        );
        Ok(())
    }
    .await;
    let cleanup = remove_pod(e, &pod, name).await;
    r?;
    cleanup
}

/// A container that exits on its own in a pod whose PID namespace is shared: containerd then
/// kills what is left with `kill --all` on a stopped container, and must see it exited.
async fn exited_container_in_shared_pid_pod(e: &Env) -> Result<()> {
    let name = "sharedpid";
    let mut c = e.client.clone();
    let sb = sandbox_config(e, name, POD)?;
    let pod = c.run_pod_sandbox(sb.clone()).await?;
    let r = async {
        let id = start_container(
            &mut c,
            &pod,
            &sb,
            container_config("quick", &["sh", "-c", "exit 4"], None),
        )
        .await?;
        let st = wait_status(&mut c, &id, CONTAINER_EXITED, Duration::from_secs(30)).await?;
        ensure!(st.exit_code == 4, "exit code {} (want 4)", st.exit_code);
        tokio::time::timeout(Duration::from_secs(30), c.remove_container(&id))
            .await
            .context("RemoveContainer did not return in 30 s")??;
        Ok(())
    }
    .await;
    let cleanup = remove_pod(e, &pod, name).await;
    r?;
    cleanup
}

//! Checks for the statements the coverage map (src/coverage.rs) showed uncovered: the edges that
//! other runtimes' own tests exercise. Hooks (failure per kind, environment, namespaces, file
//! descriptors), seccomp profiles that touch syscalls a runtime itself makes, devices of every
//! type and the device cgroup, mount options (recursive ones, a read-only /dev), namespaces left
//! out, capabilities, rlimits, config validation, cgroup fitness, and `features`.

use crate::bundle::Bundle;
use crate::check::{Check, CheckResult, Verdict};
use crate::checks::lifecycle::{add_hooks, hook_log, hook_names};
use crate::checks::namespaces::user_bundle;
use crate::ctx::{find_line, Ctx, Ran};
use crate::host::Req;
use crate::runtime::Op;
use crate::sys::own_ns;
use serde_json::{json, Value};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use Op::{Create, Delete, Kill, Run, Start, State};

pub fn checks() -> Vec<Check> {
    vec![
        // ------------------------------------------------------------ lifecycle and CLI
        check! {
            id: "lifecycle.kill.signal-zero", group: Lifecycle, spec: "runtime.md#kill", level: Must,
            summary: "kill with signal 0 of a running container succeeds and leaves it running",
            requires: [Req::Root, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Kill)], run: kill_zero,
        },
        check! {
            id: "lifecycle.create.config-snapshot", group: Lifecycle, spec: "runtime.md#lifecycle", level: Must,
            summary: "changing config.json between create and start has no effect on the container",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State)], run: config_snapshot,
        },
        check! {
            id: "lifecycle.error.missing-id", group: Lifecycle, spec: "runtime.md#operations", level: Must,
            summary: "create, state, start, kill and delete without a container id are errors",
            requires: [Req::Root, Req::HostKernel], run: missing_id,
        },
        check! {
            id: "lifecycle.error.invalid-id", group: Lifecycle, spec: "runtime.md#create", level: Must,
            summary: "create with an id holding a slash is an error and no container exists after it",
            requires: [Req::Root, Req::Op(Create), Req::Op(State)], run: invalid_id,
        },
        check! {
            id: "lifecycle.delete.keeps-foreign", group: Lifecycle, spec: "runtime.md#delete", level: Must,
            summary: "delete leaves a bind-mounted host directory and its files in place",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: keeps_foreign,
        },
        check! {
            id: "lifecycle.config.unknown-property-ignored", group: Lifecycle, spec: "config.md#extensibility", level: Must,
            summary: "unknown properties (top level, process, linux) and unknown annotation keys are ignored",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: unknown_property,
        },
        check! {
            id: "lifecycle.config.invalid-value-error", group: Lifecycle, spec: "config.md#valid-values", level: Must,
            summary: "a namespace of an unknown type is an error at create and leaves no container",
            requires: [Req::Root, Req::Op(Create), Req::Op(State)], run: invalid_value,
        },
        // ------------------------------------------------------------ hooks
        check! {
            id: "lifecycle.hooks.prestart-failure-aborts", group: Lifecycle, spec: "runtime.md#lifecycle", level: Must,
            summary: "a failing prestart hook makes create or start fail and the program never runs",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State)], run: fail_prestart,
        },
        check! {
            id: "lifecycle.hooks.createcontainer-failure-aborts", group: Lifecycle, spec: "runtime.md#lifecycle", level: Must,
            summary: "a failing createContainer hook makes create or start fail and the program never runs",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State)], run: fail_create_container,
        },
        check! {
            id: "lifecycle.hooks.startcontainer-failure-aborts", group: Lifecycle, spec: "runtime.md#lifecycle", level: Must,
            summary: "a failing startContainer hook makes start fail and the program never runs",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State)], run: fail_start_container,
        },
        check! {
            id: "lifecycle.hooks.poststart-failure-continues", group: Lifecycle, spec: "runtime.md#lifecycle", level: Must,
            summary: "a failing poststart hook is only a warning: start succeeds, the program runs, poststop still runs",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Delete), Req::Op(Kill)], run: fail_poststart,
        },
        check! {
            id: "lifecycle.hooks.poststop-failure-continues", group: Lifecycle, spec: "runtime.md#lifecycle", level: Must,
            summary: "a failing poststop hook is only a warning: delete succeeds and the container is gone",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Delete)], run: fail_poststop,
        },
        check! {
            id: "lifecycle.hooks.listed-order", group: Lifecycle, spec: "config.md#posix-platform-hooks", level: Must,
            summary: "two hooks of one kind run in the order listed",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Delete)], run: hooks_listed_order,
        },
        check! {
            id: "lifecycle.hooks.kind-sequence", group: Lifecycle, spec: "config.md#posix-platform-hooks", level: Must,
            summary: "over a whole lifecycle prestart < createRuntime < createContainer < poststart < poststop, and createContainer < startContainer",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Delete)], run: hooks_kind_sequence,
        },
        check! {
            id: "lifecycle.hooks.env-given", group: Lifecycle, spec: "config.md#posix-platform-hooks", level: Must,
            summary: "a hook with env runs with exactly that environment",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Delete)], run: hooks_env_given,
        },
        check! {
            id: "lifecycle.hooks.env-absent-inherited", group: Lifecycle, spec: "runc-cli#hooks", level: Should,
            summary: "a hook without env runs with the runtime's environment, as in runc and crun",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Delete)], run: hooks_env_absent,
        },
        check! {
            id: "lifecycle.hooks.namespaces", group: Lifecycle, spec: "config.md#posix-platform-hooks", level: Must,
            summary: "runtime-namespace hooks run in the runtime's mount and pid namespaces; createContainer and startContainer in the container's mount namespace",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Delete)], run: hooks_namespaces,
        },
        check! {
            id: "lifecycle.hooks.no-host-fd", group: Lifecycle, spec: "runtime-linux.md#file-descriptors", level: Must,
            summary: "an fd the caller left open reaches neither the container process nor its startContainer hook",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: hooks_no_host_fd,
        },
        check! {
            id: "process.fds.only-stdio", group: Process, spec: "runtime-linux.md#file-descriptors", level: Should,
            summary: "the container process has only fds 0, 1 and 2 open",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: only_stdio,
        },
        // ------------------------------------------------------------ namespaces
        check! {
            id: "ns.absent.ipc-is-host", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "without an ipc namespace in the config the container shares the runtime's",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: absent_ipc,
        },
        check! {
            id: "ns.absent.uts-is-host", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "without a uts namespace in the config the container shares the runtime's",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: absent_uts,
        },
        check! {
            id: "ns.absent.cgroup-is-host", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "without a cgroup namespace in the config the container shares the runtime's",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: absent_cgroup,
        },
        check! {
            id: "ns.time.own", group: Namespaces, spec: "config-linux.md#namespaces", level: Should,
            summary: "a time namespace entry gives the container its own time namespace",
            requires: [Req::Root, Req::HostKernel, Req::Namespace("time"), Req::Op(Run)], run: time_own,
        },
        check! {
            id: "ns.join.wrong-type-error", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "a network namespace path that names a uts namespace is an error",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(State)], run: join_wrong_type,
        },
        check! {
            id: "ns.duplicate.error", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "two namespace entries of one type are an error",
            requires: [Req::Root, Req::Op(Create), Req::Op(State)], run: ns_duplicate,
        },
        check! {
            id: "ns.user.rootfs-not-chowned", group: Namespaces, spec: "config-linux.md#user-namespace-mappings", level: Should,
            summary: "a user-namespaced container leaves the owner of its rootfs unchanged",
            requires: [Req::Root, Req::HostKernel, Req::UserNamespaces, Req::Op(Run)], run: rootfs_not_chowned,
        },
        check! {
            id: "ns.user.bind-private-source", group: Namespaces, spec: "config-linux.md#user-namespace-mappings", level: Must,
            summary: "in a user namespace, a bind mount whose source sits under a 0700 root-only directory works",
            requires: [Req::Root, Req::HostKernel, Req::UserNamespaces, Req::Op(Run)], run: bind_private_source,
        },
        // ------------------------------------------------------------ devices
        check! {
            id: "linux.devices.all-types", group: Process, spec: "config-linux.md#devices", level: Must,
            summary: "devices of type c, b, u and p are created with their numbers, fileMode, uid and gid",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: devices_all_types,
        },
        check! {
            id: "linux.devices.outside-dev", group: Process, spec: "config-linux.md#devices", level: Must,
            summary: "a device whose path is outside /dev is created there",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: devices_outside_dev,
        },
        check! {
            id: "linux.devices.cgroup-deny-wins", group: Process, spec: "config-linux.md#allowed-device-list", level: Must,
            summary: "a device listed in linux.devices but allowed only r by the device rules refuses writes (EPERM)",
            requires: [Req::Root, Req::HostKernel, Req::Controller("devices"), Req::Op(Run)], run: devices_deny_wins,
        },
        check! {
            id: "linux.devices.ptmx", group: Process, spec: "config-linux.md#default-devices", level: Must,
            summary: "/dev/ptmx is a symlink to pts/ptmx or the ptmx device 5:2",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: devices_ptmx,
        },
        check! {
            id: "linux.default-filesystems.mounted", group: Process, spec: "config-linux.md#default-filesystems", level: Should,
            summary: "/proc, /sys, /dev/pts and /dev/shm are proc, sysfs, devpts and tmpfs",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: default_filesystems,
        },
        check! {
            id: "linux.devices.conflict-error", group: Process, spec: "config-linux.md#devices", level: Must,
            summary: "a device whose path holds a regular file is an error (on a private overlay rootfs)",
            requires: [Req::Root, Req::HostKernel, Req::Filesystem("overlay"), Req::Op(Create), Req::Op(State)], run: devices_conflict,
        },
        check! {
            id: "linux.masked-paths.no-pivot-proc", group: Process, spec: "config-linux.md#masked-paths", level: Must,
            summary: "with --no-pivot a process in a new user namespace still cannot mount a fresh, unmasked /proc",
            requires: [Req::Root, Req::HostKernel, Req::UserNamespaces, Req::Op(Run)], run: no_pivot_proc,
        },
        check! {
            id: "linux.rootfs-propagation.shared", group: Process, spec: "config-linux.md#rootfs-mount-propagation", level: Must,
            summary: "rootfsPropagation shared makes the container's / a shared mount",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: propagation_shared,
        },
        // ------------------------------------------------------------ mounts
        check! {
            id: "linux.mounts.order", group: Process, spec: "config.md#mounts", level: Must,
            summary: "mounts are made in the listed order (a mount nested in an earlier one stays visible)",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: mounts_order,
        },
        check! {
            id: "linux.mounts.relative-destination", group: Process, spec: "config.md#mounts", level: Must,
            summary: "a relative mount destination is taken relative to /",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: mounts_relative,
        },
        check! {
            id: "linux.mounts.options-must", group: Process, spec: "config.md#linux-mount-options", level: Must,
            summary: "every MUST mount option is accepted; ro, nosuid, nodev, noexec, noatime, nodiratime show in mountinfo; data options reach the filesystem",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: options_must,
        },
        check! {
            id: "linux.mounts.options-should", group: Process, spec: "config.md#linux-mount-options", level: Should,
            summary: "every SHOULD mount option (the recursive ones, nosymfollow) is accepted and shows in mountinfo",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: options_should,
        },
        check! {
            id: "linux.mounts.rro", group: Process, spec: "config.md#linux-mount-options", level: Should,
            summary: "rro makes the submounts of a bind mount read-only too",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: mounts_rro,
        },
        check! {
            id: "linux.mounts.dev-readonly", group: Process, spec: "config.md#linux-mount-options", level: Must,
            summary: "a /dev tmpfs with ro works: the container runs, /dev refuses writes, /dev/null still works",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: dev_readonly,
        },
        // ------------------------------------------------------------ process
        check! {
            id: "process.console-size.ignored", group: Process, spec: "config.md#process", level: Must,
            summary: "consoleSize without terminal is ignored and the container runs",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: console_size_ignored,
        },
        check! {
            id: "process.args.path-search", group: Process, spec: "config.md#process", level: Must,
            summary: "a bare program name in args[0] is looked up in the process's PATH",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: args_path_search,
        },
        check! {
            id: "process.rlimits.unknown-type-error", group: Process, spec: "config.md#posix-process", level: Must,
            summary: "an rlimit type with no kernel resource is an error at create",
            requires: [Req::Root, Req::Op(Create), Req::Op(State)], run: rlimit_unknown,
        },
        check! {
            id: "process.rlimits.duplicate-error", group: Process, spec: "config.md#posix-process", level: Must,
            summary: "two rlimits of the same type are an error at create",
            requires: [Req::Root, Req::Op(Create), Req::Op(State)], run: rlimit_duplicate,
        },
        check! {
            id: "process.caps.unknown-warns", group: Process, spec: "config.md#linux-process", level: Should,
            summary: "a capability name the kernel does not know does not fail the container",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: caps_unknown,
        },
        check! {
            id: "process.caps.inheritable-ambient", group: Process, spec: "config.md#linux-process", level: Must,
            summary: "inheritable (one beyond permitted) and ambient sets are exactly as configured",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: caps_inheritable_ambient,
        },
        check! {
            id: "process.cwd.created-readonly-root", group: Process, spec: "runc-cli#cwd", level: Should,
            summary: "a missing cwd is created even with root.readonly (on a private overlay rootfs)",
            requires: [Req::Root, Req::HostKernel, Req::Filesystem("overlay"), Req::Op(Run)], run: cwd_readonly_root,
        },
        check! {
            id: "process.terminal.owner", group: Process, spec: "runc-cli#terminal", level: Should,
            summary: "with terminal true and user 1000:1000 the tty (from --console-socket) belongs to uid 1000",
            requires: [Req::Root, Req::HostKernel, Req::Op(Start), Req::Op(State)], run: terminal_owner,
        },
        check! {
            id: "linux.devices.console", group: Process, spec: "config-linux.md#default-devices", level: Must,
            summary: "with terminal true, /dev/console is the container's terminal",
            requires: [Req::Root, Req::HostKernel, Req::Op(Start), Req::Op(State)], run: console_is_pty,
        },
        check! {
            id: "process.env.home-default", group: Process, spec: "runc-cli#environment", level: Should,
            summary: "without HOME in env, HOME is the user's home from the container's /etc/passwd",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: env_home_default,
        },
        check! {
            id: "oom.score-adj.unset-unchanged", group: Oom, spec: "config.md#linux-process", level: Must,
            summary: "without oomScoreAdj the container's oom_score_adj is the runtime's",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: oom_score_unset,
        },
        // ------------------------------------------------------------ cgroups and platform features
        check! {
            id: "cgroup.path.frozen-refused", group: Cgroups, spec: "config-linux.md#control-groups", level: Must,
            summary: "create into a FROZEN cgroupsPath is refused promptly, not left hanging",
            requires: [Req::Root, Req::HostKernel, Req::Controller("freezer"), Req::Op(Create), Req::Op(State)], run: frozen_refused,
        },
        check! {
            id: "cgroup.ownership.v1-unchanged", group: Cgroups, spec: "config-linux.md#cgroup-ownership", level: Should,
            summary: "with cgroup v1, a user-namespaced container's cgroup directory stays owned by root",
            requires: [Req::Root, Req::HostKernel, Req::UserNamespaces, Req::CgroupV1File("memory", "memory.limit_in_bytes"), Req::Op(Create), Req::Op(Start), Req::Op(State)], run: ownership_v1,
        },
        check! {
            id: "cgroup.unified.absent-controller-error", group: Cgroups, spec: "config-linux.md#unified", level: Must,
            summary: "a unified key for a controller the cgroup2 tree does not have is an error",
            requires: [Req::Root, Req::HostKernel, Req::CgroupV1File("memory", "memory.limit_in_bytes"), Req::Op(Create), Req::Op(State)], run: unified_absent,
        },
        check! {
            id: "linux.intel-rdt.no-resctrl-error", group: Cgroups, spec: "config-linux.md#intelrdt", level: Must,
            summary: "intelRdt without a mounted resctrl filesystem is an error",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(State)], run: rdt_no_resctrl,
        },
        // ------------------------------------------------------------ seccomp
        check! {
            id: "linux.seccomp.errno", group: Process, spec: "config-linux.md#seccomp", level: Must,
            summary: "an ERRNO rule returns its errnoRet, and EPERM without one",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: seccomp_errno,
        },
        check! {
            id: "linux.seccomp.errnoret-invalid-action-error", group: Process, spec: "config-linux.md#seccomp", level: Must,
            summary: "errnoRet on an action that takes no errno (KILL) is an error at create",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(State)], run: seccomp_errnoret_invalid,
        },
        check! {
            id: "linux.seccomp.deny-close-range", group: Process, spec: "config-linux.md#seccomp", level: Must,
            summary: "with noNewPrivileges false, a profile that denies close_range still lets the program start, and the program sees the denial",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: seccomp_close_range,
        },
        check! {
            id: "linux.seccomp.notify-runtime-syscalls", group: Process, spec: "config-linux.md#seccomp", level: Must,
            summary: "NOTIFY on execve, openat, read, close and getcwd with an agent at listenerPath: the agent gets the process state and seccompFd, and the program runs to its end",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: seccomp_notify,
        },
        check! {
            id: "linux.seccomp.listener-missing-error", group: Process, spec: "config-linux.md#seccomp", level: Must,
            summary: "NOTIFY with a listenerPath nobody listens on is an error, not a hang",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(State)], run: seccomp_listener_missing,
        },
        check! {
            id: "linux.seccomp.foreign-arch", group: Process, spec: "runc-cli#seccomp", level: Should,
            summary: "an extra architecture in architectures (AArch64 on x86_64) is accepted and the rules apply",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: seccomp_foreign_arch,
        },
        check! {
            id: "linux.seccomp.native-arch-implied", group: Process, spec: "runc-cli#seccomp", level: Should,
            summary: "architectures without the native one still filters native syscalls (no SIGSYS)",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: seccomp_native_implied,
        },
        // ------------------------------------------------------------ features
        check! {
            id: "features.document.valid", group: Lifecycle, spec: "features.md#features-document", level: Must,
            summary: "`features` prints ociVersionMin <= ociVersionMax, only v1.1 properties, known hooks, no data mount options, string annotations",
            requires: [Req::Root, Req::HostKernel], run: features_valid,
        },
        check! {
            id: "features.oci-version.accepted", group: Lifecycle, spec: "features.md#specification-version", level: Must,
            summary: "configs with ociVersion set to ociVersionMin and to ociVersionMax run",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: features_versions,
        },
        check! {
            id: "features.mount-options.accepted", group: Lifecycle, spec: "features.md#mount-options", level: Must,
            summary: "every mount option `features` lists is accepted in config.json",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: features_mount_options,
        },
    ]
}

fn verdict(e: String) -> Verdict {
    Verdict::Fail(e)
}

/// create must fail, and no container of that id may exist afterwards.
async fn expect_create_error(c: &Ctx, b: &Bundle, what: &str) -> CheckResult {
    let out = c.try_create(b, &b.id).await?;
    if out.success() {
        fail!("create succeeded although {what}");
    }
    let st = c.rt.state(&b.id).await?;
    ensure!(
        !st.success(),
        "create failed ({}) but left a container behind: state says {}",
        out.describe(),
        st.stdout.trim()
    );
    Ok(())
}

// ---------------------------------------------------------------- lifecycle

async fn kill_zero(c: Arc<Ctx>) -> CheckResult {
    let k = c.started_waiting(&c.bundle(&["wait-signal"])).await?;
    c.kill(&k, "0").await?;
    ensure!(c.rt.pid_alive(k.pid), "the container died from kill 0");
    let st = c.state(&k.id).await?;
    ensure!(
        st["status"] == "running",
        "status after kill 0 is {}",
        st["status"]
    );
    let got = c.output(&k)?;
    ensure!(
        !got.iter().any(|l| l.get("signal").is_some()),
        "the process received a signal from kill 0: {got:?}"
    );
    c.stop_and_delete(&k).await
}

async fn config_snapshot(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["env"]);
    b.set("process.env", json!(["PATH=/bin", "SNAPSHOT=create"]));
    let k = c.create(&b).await?;
    b.set("process.env", json!(["PATH=/bin", "SNAPSHOT=changed"]));
    b.probe_args(&["exit", "7"]);
    b.write().map_err(verdict)?;
    c.start(&k).await?;
    c.wait_exit(&k).await?;
    let lines = c.output(&k)?;
    let env = find_line(&lines, "env")
        .map_err(|_| Verdict::Fail("the program ran with the args written after create".into()))?;
    let env = env["env"].to_string();
    ensure!(
        env.contains("SNAPSHOT=create"),
        "environment after editing config.json between create and start: {env}"
    );
    Ok(())
}

async fn missing_id(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["exit", "0"]);
    b.write().map_err(verdict)?;
    let dir = b.dir.display().to_string();
    let mut accepted = Vec::new();
    for args in [
        vec!["create", "--bundle", dir.as_str()],
        vec!["state"],
        vec!["start"],
        vec!["kill"],
        vec!["delete"],
    ] {
        let out = c.raw(&args, None).await?;
        if out.success() {
            accepted.push(args.join(" "));
        }
    }
    ensure!(
        accepted.is_empty(),
        "accepted without a container id: {accepted:?}"
    );
    Ok(())
}

async fn invalid_id(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["exit", "0"]);
    let bad = format!("{}/x", b.id);
    let out = c.try_create(&b, &bad).await?;
    ensure!(!out.success(), "create accepted the id {bad:?}");
    let st = c.rt.state(&bad).await?;
    ensure!(
        !st.success(),
        "state of {bad:?} succeeds after the refused create"
    );
    Ok(())
}

async fn keeps_foreign(c: Arc<Ctx>) -> CheckResult {
    let vol = c.scratch("vol")?;
    std::fs::write(vol.join("keep"), "x")?;
    let mut b = c.bundle(&["read", "/data/keep"]);
    b.bind(&vol, "/data", false);
    c.run_ok(&b).await?;
    ensure!(
        vol.join("keep").exists(),
        "the bind mount source's file is gone after the container was deleted"
    );
    Ok(())
}

async fn unknown_property(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["exit", "0"]);
    b.raw = true;
    b.set("brigConformanceUnknown", json!({"nested": [1, 2]}));
    b.set("process.brigConformanceUnknown", json!(true));
    b.set("linux.brigConformanceUnknown", json!("x"));
    b.set(
        "annotations",
        json!({"com.example.brig-conformance.unknown": "v"}),
    );
    c.run_ok(&b).await?;
    Ok(())
}

async fn invalid_value(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["exit", "0"]);
    b.raw = true;
    b.push("linux.namespaces", json!({"type": "brig-bogus"}));
    expect_create_error(&c, &b, "a namespace has the unknown type brig-bogus").await
}

// ---------------------------------------------------------------- hooks

/// Adds every hook with `kind` failing; create (and start when create succeeds) must fail and
/// the program must never run.
async fn hook_failure_aborts(c: &Ctx, kind: &str) -> CheckResult {
    let out = c.scratch("out")?;
    let mut b = c.bundle(&["write", "/out/ran", "yes"]);
    b.bind(&out, "/out", false);
    add_hooks(c, &mut b, Some(kind))?;
    let created = c.try_create(&b, &b.id).await?;
    let mut failed = !created.success();
    if created.success() {
        let started = c.rt.start(&b.id).await?;
        failed = !started.success();
        let st = c.rt.state(&b.id).await?;
        if st.success() {
            let v: Value = serde_json::from_str(&st.stdout).unwrap_or_default();
            if let Some(pid) = v["pid"].as_i64().filter(|p| *p > 0) {
                let _ = c.rt.wait_pid_exit(pid as i32, crate::ctx::DEADLINE).await;
            }
        }
    }
    ensure!(
        failed,
        "create and start both succeeded although the {kind} hook failed"
    );
    ensure!(
        !out.join("ran").exists(),
        "the user program ran although the {kind} hook failed"
    );
    Ok(())
}

async fn fail_prestart(c: Arc<Ctx>) -> CheckResult {
    hook_failure_aborts(&c, "prestart").await
}

async fn fail_create_container(c: Arc<Ctx>) -> CheckResult {
    hook_failure_aborts(&c, "createContainer").await
}

async fn fail_start_container(c: Arc<Ctx>) -> CheckResult {
    hook_failure_aborts(&c, "startContainer").await
}

async fn fail_poststart(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["wait-signal"]);
    let log = add_hooks(&c, &mut b, Some("poststart"))?;
    let k = c.create(&b).await?;
    let started = c.rt.start(&k.id).await?;
    ensure!(
        started.success(),
        "start failed because the poststart hook failed: {}",
        started.describe()
    );
    c.wait_output(&k, |l| l["waiting"] == true).await?;
    c.stop_and_delete(&k).await?;
    let names = hook_names(&hook_log(&log)?);
    ensure!(
        names.iter().any(|n| n == "poststop"),
        "poststop did not run after a failed poststart hook: {names:?}"
    );
    Ok(())
}

async fn fail_poststop(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["exit", "0"]);
    add_hooks(&c, &mut b, Some("poststop"))?;
    let k = c.create_started(&b).await?;
    c.wait_exit(&k).await?;
    c.wait_status(&k.id, "stopped").await?;
    let out = c.rt.delete(&k.id, false).await?;
    ensure!(
        out.success(),
        "delete failed because the poststop hook failed: {}",
        out.describe()
    );
    let st = c.rt.state(&k.id).await?;
    ensure!(!st.success(), "the container still exists after delete");
    Ok(())
}

fn probe_hook(c: &Ctx, name: &str, log: &Path, env: Option<&[&str]>) -> Value {
    let mut h = json!({
        "path": c.env.probe.display().to_string(),
        "args": ["brig-probe", "hook", name, log.display().to_string()],
    });
    if let Some(env) = env {
        h["env"] = json!(env);
    }
    h
}

async fn lifecycle_once(c: &Ctx, b: &Bundle) -> CheckResult {
    let k = c.create_started(b).await?;
    c.wait_exit(&k).await?;
    c.wait_status(&k.id, "stopped").await?;
    c.delete(&k).await
}

async fn hooks_listed_order(c: Arc<Ctx>) -> CheckResult {
    let log = c.scratch("hooklog")?.join("log");
    let mut b = c.bundle(&["exit", "0"]);
    for kind in ["createRuntime", "poststart", "poststop"] {
        for n in ["1", "2", "3"] {
            b.push(
                &format!("hooks.{kind}"),
                probe_hook(&c, &format!("{kind}-{n}"), &log, None),
            );
        }
    }
    lifecycle_once(&c, &b).await?;
    let got = hook_names(&hook_log(&log)?);
    let want: Vec<String> = ["createRuntime", "poststart", "poststop"]
        .iter()
        .flat_map(|k| ["1", "2", "3"].map(|n| format!("{k}-{n}")))
        .collect();
    ensure!(got == want, "hooks ran as {got:?}, want {want:?}");
    Ok(())
}

async fn one_hook_env(c: &Ctx, env: Option<&[&str]>) -> Result<Vec<String>, Verdict> {
    let log = c.scratch("hooklog")?.join("log");
    let mut b = c.bundle(&["exit", "0"]);
    b.push(
        "hooks.createRuntime",
        probe_hook(c, "createRuntime", &log, env),
    );
    lifecycle_once(c, &b).await?;
    let lines = hook_log(&log)?;
    let l = lines
        .first()
        .ok_or_else(|| Verdict::Fail("the createRuntime hook did not run".into()))?;
    Ok(l["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default())
}

async fn hooks_env_given(c: Arc<Ctx>) -> CheckResult {
    let got = one_hook_env(&c, Some(&["BRIG_HOOK=1", "PATH=/x"])).await?;
    let mut sorted = got.clone();
    sorted.sort();
    ensure!(
        sorted == ["BRIG_HOOK=1", "PATH=/x"],
        "the hook's environment is {got:?}, want exactly [BRIG_HOOK=1, PATH=/x]"
    );
    Ok(())
}

async fn hooks_env_absent(c: Arc<Ctx>) -> CheckResult {
    let got = one_hook_env(&c, None).await?;
    ensure!(
        got.iter().any(|e| e.starts_with("PATH=")),
        "a hook without env got {got:?}: not the runtime's environment"
    );
    Ok(())
}

async fn hooks_namespaces(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["exit", "0"]);
    let log = add_hooks(&c, &mut b, None)?;
    lifecycle_once(&c, &b).await?;
    let lines = hook_log(&log)?;
    let host_mnt = own_ns("mnt");
    let host_pid = own_ns("pid");
    let mut wrong = Vec::new();
    for l in &lines {
        let name = l["hook"].as_str().unwrap_or("?");
        let mnt = l["ns"]["mnt"].as_u64();
        let pid = l["ns"]["pid"].as_u64();
        let in_container = matches!(name, "createContainer" | "startContainer");
        if in_container && mnt == host_mnt {
            wrong.push(format!("{name} ran in the runtime's mount namespace"));
        }
        if !in_container && (mnt != host_mnt || pid != host_pid) {
            wrong.push(format!(
                "{name} ran outside the runtime's mount or pid namespace"
            ));
        }
    }
    ensure!(lines.len() == 6, "{} hooks ran, want 6", lines.len());
    ensure!(wrong.is_empty(), "{}", wrong.join("; "));
    Ok(())
}

fn fd_names(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    k.sort_by_key(|s| s.parse::<i64>().unwrap_or(i64::MAX));
    k
}

async fn hooks_no_host_fd(c: Arc<Ctx>) -> CheckResult {
    let secret = c.dir.join("host-secret");
    std::fs::write(&secret, "host only")?;
    let logdir = c.scratch("hooklog")?;
    let mut b = c.bundle(&["fds"]);
    b.push(
        "hooks.startContainer",
        json!({"path": "/probe", "args": ["brig-probe", "hook", "startContainer", "/hooklog/log"]}),
    );
    b.bind(&logdir, "/hooklog", false);
    b.write().map_err(verdict)?;
    c.track(&b.id);
    let dir = b.dir.display().to_string();
    let out = c
        .raw(
            &["run", "--bundle", dir.as_str(), b.id.as_str()],
            Some(&secret),
        )
        .await?;
    let ran = Ran {
        lines: crate::ctx::parse_lines(&out.stdout)?,
        out,
    };
    ran.expect_ok()?;
    let mut leaks = Vec::new();
    let fds = &ran.line("fds")?["fds"];
    if fds.to_string().contains("host-secret") || fd_names(fds) != ["0", "1", "2"] {
        leaks.push(format!("container process has fds {fds}"));
    }
    for l in hook_log(&logdir.join("log"))? {
        if l["fds"].to_string().contains("host-secret") {
            leaks.push(format!("{} hook has fds {}", l["hook"], l["fds"]));
        }
    }
    ensure!(leaks.is_empty(), "{}", leaks.join("; "));
    Ok(())
}

async fn only_stdio(c: Arc<Ctx>) -> CheckResult {
    let r = c.run_ok(&c.bundle(&["fds"])).await?;
    let fds = &r.line("fds")?["fds"];
    ensure!(
        fd_names(fds) == ["0", "1", "2"],
        "the container process has fds {fds}, want only 0, 1, 2"
    );
    Ok(())
}

// ---------------------------------------------------------------- namespaces

async fn absent_kind(c: &Ctx, config_kind: &str, proc_kind: &str) -> CheckResult {
    let mut b = c.bundle(&["ns"]);
    b.without_namespace(config_kind);
    if config_kind == "uts" {
        if let Some(o) = b.config.as_object_mut() {
            o.remove("hostname");
        }
    }
    let r = c.run_ok(&b).await?;
    let got = r.line("ns")?["ns"][proc_kind].as_u64();
    ensure!(
        got == own_ns(proc_kind),
        "{config_kind} namespace {got:?}, want the runtime's {:?}",
        own_ns(proc_kind)
    );
    Ok(())
}

async fn absent_ipc(c: Arc<Ctx>) -> CheckResult {
    absent_kind(&c, "ipc", "ipc").await
}

async fn absent_uts(c: Arc<Ctx>) -> CheckResult {
    absent_kind(&c, "uts", "uts").await
}

async fn absent_cgroup(c: Arc<Ctx>) -> CheckResult {
    absent_kind(&c, "cgroup", "cgroup").await
}

async fn time_own(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["ns"]);
    b.with_namespace("time", None);
    let r = c.run_ok(&b).await?;
    let got = r.line("ns")?["ns"]["time"].as_u64();
    ensure!(
        got.is_some() && got != own_ns("time"),
        "time namespace {got:?} is the runtime's"
    );
    Ok(())
}

async fn join_wrong_type(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["exit", "0"]);
    let uts = format!("/proc/{}/ns/uts", std::process::id());
    b.with_namespace("network", Some(&uts));
    expect_create_error(&c, &b, "the network namespace path names a uts namespace").await
}

async fn ns_duplicate(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["exit", "0"]);
    b.raw = true;
    b.push("linux.namespaces", json!({"type": "uts"}));
    expect_create_error(&c, &b, "the uts namespace is listed twice").await
}

async fn rootfs_not_chowned(c: Arc<Ctx>) -> CheckResult {
    let before = std::fs::metadata(&c.env.rootfs)?;
    c.run_ok(&user_bundle(&c, &["exit", "0"])).await?;
    let after = std::fs::metadata(&c.env.rootfs)?;
    ensure!(
        (before.uid(), before.gid()) == (after.uid(), after.gid()),
        "the rootfs changed owner from {}:{} to {}:{}",
        before.uid(),
        before.gid(),
        after.uid(),
        after.gid()
    );
    Ok(())
}

async fn bind_private_source(c: Arc<Ctx>) -> CheckResult {
    let private = c.dir.join("private");
    let data = private.join("data");
    std::fs::create_dir_all(&data)?;
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700))?;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755))?;
    std::fs::write(data.join("f"), "from-host")?;
    std::fs::set_permissions(data.join("f"), std::fs::Permissions::from_mode(0o644))?;
    let mut b = user_bundle(&c, &["read", "/data/f"]);
    b.bind(&data, "/data", true);
    let r = c.run_ok(&b).await?;
    let l = r.line("read")?;
    ensure!(
        l["content"] == "from-host",
        "reading the bind mount gave {l}"
    );
    Ok(())
}

// ---------------------------------------------------------------- devices

fn stat_lines(r: &Ran, path: &str) -> Value {
    r.lines
        .iter()
        .find(|l| l["cmd"] == "stat" && l["path"] == path)
        .cloned()
        .unwrap_or_default()
}

fn chain(cmds: &[Vec<&'static str>]) -> Vec<&'static str> {
    let mut v = Vec::new();
    for (i, c) in cmds.iter().enumerate() {
        if i > 0 {
            v.push("+");
        }
        v.extend(c.iter().copied());
    }
    v
}

async fn devices_all_types(c: Arc<Ctx>) -> CheckResult {
    let devs = [
        ("/dev/bc-c", "c", 1, 3, "char"),
        ("/dev/bc-b", "b", 7, 200, "block"),
        ("/dev/bc-u", "u", 1, 5, "char"),
        ("/dev/bc-p", "p", 0, 0, "fifo"),
    ];
    let args = chain(&devs.iter().map(|d| vec!["stat", d.0]).collect::<Vec<_>>());
    let mut b = c.bundle(&args);
    for (path, t, ma, mi, _) in devs {
        let mut d = json!({"path": path, "type": t, "fileMode": 0o640, "uid": 1, "gid": 2});
        if t != "p" {
            d["major"] = json!(ma);
            d["minor"] = json!(mi);
        }
        b.push("linux.devices", d);
    }
    let r = c.run_ok(&b).await?;
    for (path, _, ma, mi, kind) in devs {
        let st = stat_lines(&r, path);
        ensure!(st["kind"] == kind, "{path} is {st}, want a {kind} device");
        if kind != "fifo" {
            ensure!(
                st["rdev_major"] == ma && st["rdev_minor"] == mi,
                "{path} is {}:{}, want {ma}:{mi}",
                st["rdev_major"],
                st["rdev_minor"]
            );
        }
        ensure!(
            st["mode"] == 0o640 && st["uid"] == 1 && st["gid"] == 2,
            "{path} has mode {:o} owner {}:{}, want 640 1:2",
            st["mode"].as_u64().unwrap_or(0),
            st["uid"],
            st["gid"]
        );
    }
    Ok(())
}

async fn devices_outside_dev(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["stat", "/tmp/bc-devs/null"]);
    b.push(
        "linux.devices",
        json!({"path": "/tmp/bc-devs/null", "type": "c", "major": 1, "minor": 3}),
    );
    let r = c.run_ok(&b).await?;
    let st = r.line("stat")?;
    ensure!(
        st["kind"] == "char" && st["rdev_major"] == 1 && st["rdev_minor"] == 3,
        "/tmp/bc-devs/null is {st}, want the character device 1:3"
    );
    Ok(())
}

async fn devices_deny_wins(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&[
        "write",
        "/dev/kmsg",
        "brig-conformance: this write must be refused\n",
    ]);
    b.set(
        "linux.resources.devices",
        json!([{"allow": false, "access": "rwm"},
               {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}]),
    );
    b.push(
        "linux.devices",
        json!({"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}),
    );
    let r = c.run_ok(&b).await?;
    let l = r.line("write")?;
    ensure!(
        l["ok"] == false && l["errno"] == libc::EPERM,
        "writing /dev/kmsg (allowed only r by the device rules) gave {l}, want EPERM"
    );
    Ok(())
}

async fn devices_ptmx(c: Arc<Ctx>) -> CheckResult {
    let r = c.run_ok(&c.bundle(&["stat", "/dev/ptmx"])).await?;
    let st = r.line("stat")?;
    let ok = st["kind"] == "symlink"
        || (st["kind"] == "char" && st["rdev_major"] == 5 && st["rdev_minor"] == 2);
    ensure!(ok, "/dev/ptmx is {st}");
    Ok(())
}

async fn default_filesystems(c: Arc<Ctx>) -> CheckResult {
    let r = c.run_ok(&c.bundle(&["mounts"])).await?;
    let mounts = r.line("mounts")?["mounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (p, t) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
    ] {
        ensure!(
            mounts
                .iter()
                .any(|m| m["mount_point"] == p && m["fstype"] == t),
            "{p} is not a {t} mount"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- mounts

fn tmpfs(dest: &str, opts: &[&str]) -> Value {
    json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": opts})
}

fn mount_list(r: &Ran) -> Result<Vec<Value>, Verdict> {
    Ok(r.line("mounts")?["mounts"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

fn find_mount<'a>(mounts: &'a [Value], at: &str) -> Option<&'a Value> {
    // The last mount at a point is the visible one.
    mounts.iter().rev().find(|m| m["mount_point"] == at)
}

async fn mounts_order(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["mounts"]);
    b.push("mounts", tmpfs("/tmp/bc-a", &["mode=755"]));
    b.push("mounts", tmpfs("/tmp/bc-a/b", &["mode=755"]));
    let r = c.run_ok(&b).await?;
    let mounts = mount_list(&r)?;
    let ia = mounts.iter().position(|m| m["mount_point"] == "/tmp/bc-a");
    let ib = mounts
        .iter()
        .position(|m| m["mount_point"] == "/tmp/bc-a/b");
    ensure!(
        matches!((ia, ib), (Some(a), Some(b)) if a < b),
        "mount positions /tmp/bc-a {ia:?}, /tmp/bc-a/b {ib:?}: not mounted in the listed order"
    );
    Ok(())
}

async fn mounts_relative(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["mounts"]);
    b.push("mounts", tmpfs("tmp/bc-rel", &["mode=755"]));
    let r = c.run_ok(&b).await?;
    ensure!(
        find_mount(&mount_list(&r)?, "/tmp/bc-rel").is_some(),
        "the relative destination tmp/bc-rel is not mounted at /tmp/bc-rel"
    );
    Ok(())
}

/// Flags that show in the per-mount options of mountinfo, and the option that sets them.
const VISIBLE: &[(&str, &str)] = &[
    ("ro", "ro"),
    ("nosuid", "nosuid"),
    ("nodev", "nodev"),
    ("noexec", "noexec"),
    ("noatime", "noatime"),
    ("nodiratime", "nodiratime"),
    ("rro", "ro"),
    ("rnosuid", "nosuid"),
    ("rnodev", "nodev"),
    ("rnoexec", "noexec"),
    ("rnoatime", "noatime"),
    ("rnodiratime", "nodiratime"),
    ("nosymfollow", "nosymfollow"),
    ("rnosymfollow", "nosymfollow"),
];

const PROPAGATION: &[&str] = &[
    "bind",
    "rbind",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
];

/// Mounts each option on its own tmpfs (or bind mount, for bind and propagation options) under
/// /tmp/bc-o/N and returns the probe's mount table.
async fn options_run(c: &Ctx, opts: &[&str]) -> Result<Vec<Value>, Verdict> {
    let src = c.scratch("bindsrc")?;
    let mut b = c.bundle(&["mounts"]);
    for (i, o) in opts.iter().enumerate() {
        let dest = format!("/tmp/bc-o/{i}");
        let recursive_attr = o.starts_with('r')
            && !PROPAGATION.contains(o)
            && *o != "remount"
            && *o != "relatime"
            && *o != "ro"
            && *o != "rw";
        if PROPAGATION.contains(o) || recursive_attr {
            let mut options = vec![o.to_string()];
            if *o != "bind" && *o != "rbind" {
                options.insert(0, "rbind".into());
            }
            b.push(
                "mounts",
                json!({"destination": dest, "type": "bind", "source": src.display().to_string(),
                       "options": options}),
            );
        } else {
            b.push("mounts", tmpfs(&dest, &[o]));
        }
    }
    let r = c.run(&b).await?;
    if !r.out.success() {
        fail!(
            "the container with one mount per option {opts:?} did not run: {}",
            r.out.describe()
        );
    }
    mount_list(&r)
}

/// Runs all options in one container; when that fails, finds the refused ones one container
/// each, and checks the rest. Returns the refused options and the flag mismatches.
async fn options_check(c: &Ctx, opts: &[&str]) -> CheckResult {
    let mut refused: Vec<&str> = Vec::new();
    let accepted: Vec<&str> = if options_run(c, opts).await.is_ok() {
        opts.to_vec()
    } else {
        for o in opts {
            if options_run(c, &[o]).await.is_err() {
                refused.push(o);
            }
        }
        opts.iter()
            .copied()
            .filter(|o| !refused.contains(o))
            .collect()
    };
    let mut problems = Vec::new();
    if !refused.is_empty() {
        problems.push(format!("refused: {}", refused.join(", ")));
    }
    if !accepted.is_empty() {
        let mounts = options_run(c, &accepted).await?;
        for (i, o) in accepted.iter().enumerate() {
            let at = format!("/tmp/bc-o/{i}");
            let Some(m) = find_mount(&mounts, &at) else {
                problems.push(format!("{o}: nothing mounted at {at}"));
                continue;
            };
            if let Some((_, flag)) = VISIBLE.iter().find(|(opt, _)| opt == o) {
                let have = m["options"].as_str().unwrap_or("");
                if !have.split(',').any(|x| x == *flag) {
                    problems.push(format!("{o}: the mount has options {have}"));
                }
            }
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("; "));
    Ok(())
}

async fn options_must(c: Arc<Ctx>) -> CheckResult {
    let opts: Vec<&str> = crate::coverage::MOUNT_OPTIONS
        .iter()
        .filter(|(n, l)| *l == crate::coverage::SpecLevel::Must && *n != "remount")
        .map(|(n, _)| *n)
        .collect();
    options_check(&c, &opts).await?;
    // An option unknown to mount(8) goes to the filesystem as data.
    let mut b = c.bundle(&["stat", "/tmp/bc-data"]);
    b.push("mounts", tmpfs("/tmp/bc-data", &["mode=0710"]));
    let r = c.run_ok(&b).await?;
    let st = r.line("stat")?;
    ensure!(
        st["mode"] == 0o710,
        "a tmpfs with mode=0710 has mode {:o}: the data option did not reach the filesystem",
        st["mode"].as_u64().unwrap_or(0)
    );
    Ok(())
}

async fn options_should(c: Arc<Ctx>) -> CheckResult {
    let opts: Vec<&str> = crate::coverage::MOUNT_OPTIONS
        .iter()
        .filter(|(_, l)| *l == crate::coverage::SpecLevel::Should)
        .map(|(n, _)| *n)
        .collect();
    options_check(&c, &opts).await
}

async fn mounts_rro(c: Arc<Ctx>) -> CheckResult {
    let vol = c.scratch("vol")?;
    let sub = vol.join("sub");
    std::fs::create_dir_all(&sub)?;
    nix::mount::mount(
        Some("tmpfs"),
        &sub,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("mode=0777"),
    )
    .map_err(|e| Verdict::Fail(format!("mounting a tmpfs on the host: {e}")))?;
    c.register_mount(&sub);
    let mut b = c.bundle(&["write", "/tmp/bc-vol/sub/x", "y"]);
    b.push(
        "mounts",
        json!({"destination": "/tmp/bc-vol", "type": "bind", "source": vol.display().to_string(),
               "options": ["rbind", "rro"]}),
    );
    let r = c.run(&b).await?;
    if !r.out.success() {
        fail!("rro refused: {}", r.out.describe());
    }
    let l = r.line("write")?;
    ensure!(
        l["ok"] == false && l["errno"] == libc::EROFS,
        "writing into a submount of an rro bind mount gave {l}, want EROFS"
    );
    Ok(())
}

async fn dev_readonly(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["write", "/dev/bc-x", "y", "+", "write", "/dev/null", "y"]);
    if let Some(ms) = b.config["mounts"].as_array_mut() {
        for m in ms.iter_mut().filter(|m| m["destination"] == "/dev") {
            if let Some(o) = m["options"].as_array_mut() {
                o.push(json!("ro"));
            }
        }
    }
    let r = c.run(&b).await?;
    if !r.out.success() && r.lines.is_empty() {
        fail!("a read-only /dev was refused: {}", r.out.describe());
    }
    let writes: Vec<&Value> = r.lines.iter().filter(|l| l["cmd"] == "write").collect();
    ensure!(writes.len() == 2, "probe output: {:?}", r.lines);
    ensure!(
        writes[0]["ok"] == false && writes[0]["errno"] == libc::EROFS,
        "creating a file in a read-only /dev gave {}, want EROFS",
        writes[0]
    );
    ensure!(
        writes[1]["ok"] == true,
        "writing /dev/null gave {}",
        writes[1]
    );
    Ok(())
}

// ---------------------------------------------------------------- process

async fn console_size_ignored(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["exit", "0"]);
    b.set("process.consoleSize", json!({"height": 10, "width": 40}));
    c.run_ok(&b).await?;
    Ok(())
}

async fn args_path_search(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["env"]);
    let mut args = b.config["process"]["args"].clone();
    args[0] = json!("probe");
    b.set("process.args", args);
    b.set("process.env", json!(["PATH=/bin:/"]));
    let r = c.run_ok(&b).await?;
    r.line("env")?;
    Ok(())
}

async fn rlimit_unknown(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["exit", "0"]);
    b.raw = true;
    b.push(
        "process.rlimits",
        json!({"type": "RLIMIT_BRIG_BOGUS", "soft": 1, "hard": 1}),
    );
    expect_create_error(&c, &b, "an rlimit type has no kernel resource").await
}

async fn rlimit_duplicate(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["exit", "0"]);
    b.raw = true;
    b.push(
        "process.rlimits",
        json!({"type": "RLIMIT_NOFILE", "soft": 512, "hard": 512}),
    );
    expect_create_error(&c, &b, "RLIMIT_NOFILE is listed twice").await
}

async fn caps_unknown(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["caps"]);
    b.raw = true;
    let mut caps: Vec<&str> = crate::bundle::DEFAULT_CAPS.to_vec();
    caps.push("CAP_BRIG_CONFORMANCE_UNKNOWN");
    for set in ["bounding", "effective", "permitted"] {
        b.set(&format!("process.capabilities.{set}"), json!(caps));
    }
    let r = c.run_ok(&b).await?;
    r.line("caps")?;
    Ok(())
}

fn mask(bits: &[u32]) -> u64 {
    bits.iter().fold(0, |m, b| m | (1u64 << b))
}

fn cap_field(r: &Ran, f: &str) -> Result<u64, Verdict> {
    let v = &r.line("caps")?["status"][f];
    v.as_str()
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .ok_or_else(|| Verdict::Fail(format!("{f} is {v}")))
}

async fn caps_inheritable_ambient(c: Arc<Ctx>) -> CheckResult {
    // CAP_CHOWN 0, CAP_KILL 5, CAP_NET_BIND_SERVICE 10, CAP_AUDIT_WRITE 29.
    let mut b = c.bundle(&["caps"]);
    b.set(
        "process.capabilities",
        json!({
            "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
            "effective": crate::bundle::DEFAULT_CAPS,
            "permitted": crate::bundle::DEFAULT_CAPS,
            "inheritable": ["CAP_CHOWN", "CAP_KILL"],
            "ambient": ["CAP_KILL"],
        }),
    );
    let r = c.run_ok(&b).await?;
    let (inh, amb, prm) = (
        cap_field(&r, "CapInh")?,
        cap_field(&r, "CapAmb")?,
        cap_field(&r, "CapPrm")?,
    );
    ensure!(
        inh == mask(&[0, 5]),
        "CapInh is {inh:x}, want CAP_CHOWN|CAP_KILL"
    );
    ensure!(amb == mask(&[5]), "CapAmb is {amb:x}, want CAP_KILL");
    ensure!(
        prm == mask(&[5, 10, 29]),
        "CapPrm is {prm:x}, want the default three"
    );
    Ok(())
}

async fn env_home_default(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["env"]);
    b.set("process.env", json!(["PATH=/bin"]));
    let r = c.run_ok(&b).await?;
    let env = r.line("env")?["env"].to_string();
    // The base rootfs's /etc/passwd gives root the home directory /.
    ensure!(
        env.contains("\"HOME=/\""),
        "environment without HOME in process.env: {env}, want HOME=/ from /etc/passwd"
    );
    Ok(())
}

async fn oom_score_unset(c: Arc<Ctx>) -> CheckResult {
    let own = std::fs::read_to_string("/proc/self/oom_score_adj")?;
    let mut b = c.bundle(&["read", "/proc/self/oom_score_adj"]);
    if let Some(p) = b.config["process"].as_object_mut() {
        p.remove("oomScoreAdj");
    }
    let r = c.run_ok(&b).await?;
    let got = r.line("read")?["content"]
        .as_str()
        .unwrap_or("")
        .trim()
        .to_string();
    ensure!(
        got == own.trim(),
        "oom_score_adj is {got} in the container, the runtime's is {}",
        own.trim()
    );
    Ok(())
}

// ---------------------------------------------------------------- cgroups

async fn frozen_refused(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["exit", "0"]);
    let rel = format!("{}/{}", c.env.cgroup_parent(), b.id);
    // (directory, state file, frozen value, thawed value)
    let (dir, file, frozen, thawed) = match c.host.controller("freezer") {
        Some(crate::host::ControllerHome::V1(m)) => {
            (m.join(&rel), "freezer.state", "FROZEN", "THAWED")
        }
        Some(crate::host::ControllerHome::V2(m)) => (m.join(&rel), "cgroup.freeze", "1", "0"),
        None => skip!("no freezer on this host"),
    };
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(file), frozen)?;
    let res = expect_create_error(&c, &b, "its cgroup is frozen").await;
    // Thaw whatever happened and end what a hung runtime left in the cgroup, so that cleanup
    // can remove it.
    let _ = std::fs::write(dir.join(file), thawed);
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        // SAFETY: kill takes no pointers; these processes are in this check's own cgroup.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = crate::sys::wait_pid_exit(pid, crate::ctx::DEADLINE).await;
    }
    res
}

async fn ownership_v1(c: Arc<Ctx>) -> CheckResult {
    let b = user_bundle(&c, &["wait-signal"]);
    let k = c.started_waiting(&b).await?;
    let cg = c.cgroups(&k)?;
    let dir = cg
        .v1
        .get("memory")
        .cloned()
        .ok_or_else(|| Verdict::Fail("no v1 memory cgroup".into()))?;
    let m = std::fs::metadata(&dir)?;
    let procs = std::fs::metadata(dir.join("cgroup.procs"))?;
    c.stop_and_delete(&k).await?;
    ensure!(
        m.uid() == 0 && procs.uid() == 0,
        "the v1 memory cgroup {} is owned by {} (cgroup.procs by {})",
        dir.display(),
        m.uid(),
        procs.uid()
    );
    Ok(())
}

async fn unified_absent(c: Arc<Ctx>) -> CheckResult {
    if c.host.v2_controllers.iter().any(|x| x == "memory") {
        skip!("memory is enabled in the cgroup2 tree here");
    }
    let mut b = c.bundle(&["exit", "0"]);
    b.set("linux.resources.unified", json!({"memory.max": "67108864"}));
    expect_create_error(&c, &b, "the cgroup2 tree has no memory controller").await
}

async fn rdt_no_resctrl(c: Arc<Ctx>) -> CheckResult {
    let mi = std::fs::read_to_string("/proc/self/mountinfo")?;
    if mi.contains(" - resctrl ") {
        skip!("resctrl is mounted on this host");
    }
    let mut b = c.bundle(&["exit", "0"]);
    b.set("linux.intelRdt", json!({"closID": "brig-conformance"}));
    expect_create_error(&c, &b, "no resctrl filesystem is mounted").await
}

// ---------------------------------------------------------------- seccomp

fn seccomp(rules: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})
}

fn try_line<'a>(r: &'a Ran, name: &str) -> Result<&'a Value, Verdict> {
    r.lines
        .iter()
        .find(|l| l["cmd"] == "try" && l["syscall"] == name)
        .ok_or_else(|| Verdict::Fail(format!("no answer for try {name}: {:?}", r.lines)))
}

async fn seccomp_errno(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["try", "mkdir", "/tmp/bc-x", "+", "try", "uname"]);
    b.set(
        "linux.seccomp",
        seccomp(json!([
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EDQUOT},
            {"names": ["uname"], "action": "SCMP_ACT_ERRNO"},
        ])),
    );
    let r = c.run_ok(&b).await?;
    let m = try_line(&r, "mkdir")?;
    ensure!(
        m["errno"] == libc::EDQUOT,
        "mkdir gave {m}, want errno EDQUOT"
    );
    let u = try_line(&r, "uname")?;
    ensure!(
        u["errno"] == libc::EPERM,
        "uname gave {u}, want errno EPERM (the default)"
    );
    Ok(())
}

async fn seccomp_errnoret_invalid(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["exit", "0"]);
    b.set(
        "linux.seccomp",
        seccomp(json!([{"names": ["mkdir"], "action": "SCMP_ACT_KILL", "errnoRet": 1}])),
    );
    expect_create_error(&c, &b, "errnoRet was given for SCMP_ACT_KILL").await
}

async fn seccomp_close_range(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["try", "close-range"]);
    b.set("process.noNewPrivileges", json!(false));
    b.set(
        "linux.seccomp",
        seccomp(json!([{"names": ["close_range"], "action": "SCMP_ACT_ERRNO"}])),
    );
    let r = c.run_ok(&b).await?;
    let l = try_line(&r, "close-range")?;
    ensure!(
        l["errno"] == libc::EPERM,
        "close_range in the container gave {l}, want EPERM"
    );
    Ok(())
}

async fn seccomp_listener_missing(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["exit", "0"]);
    let mut s = seccomp(json!([{"names": ["getcwd"], "action": "SCMP_ACT_NOTIFY"}]));
    s["listenerPath"] = json!(c.dir.join("nobody.sock").display().to_string());
    b.set("linux.seccomp", s);
    expect_create_error(&c, &b, "nobody listens on listenerPath").await
}

async fn seccomp_foreign_arch(c: Arc<Ctx>) -> CheckResult {
    if std::env::consts::ARCH != "x86_64" {
        skip!("written for x86_64 hosts");
    }
    let mut b = c.bundle(&["try", "uname"]);
    let mut s = seccomp(json!([{"names": ["uname"], "action": "SCMP_ACT_ERRNO"}]));
    s["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"]);
    b.set("linux.seccomp", s);
    let r = c.run_ok(&b).await?;
    let l = try_line(&r, "uname")?;
    ensure!(l["errno"] == libc::EPERM, "uname gave {l}, want EPERM");
    Ok(())
}

async fn seccomp_native_implied(c: Arc<Ctx>) -> CheckResult {
    if std::env::consts::ARCH != "x86_64" {
        skip!("written for x86_64 hosts");
    }
    let mut b = c.bundle(&["try", "uname"]);
    let mut s = seccomp(json!([{"names": ["uname"], "action": "SCMP_ACT_ERRNO"}]));
    s["architectures"] = json!(["SCMP_ARCH_X86"]);
    b.set("linux.seccomp", s);
    let r = c.run_ok(&b).await?;
    let l = try_line(&r, "uname")?;
    ensure!(l["errno"] == libc::EPERM, "uname gave {l}, want EPERM");
    Ok(())
}

async fn seccomp_notify(c: Arc<Ctx>) -> CheckResult {
    let sock = c.dir.join("agent.sock");
    let agent = crate::seccomp_agent::Agent::listen(&sock)?;
    let mut b = c.bundle(&["try", "getcwd"]);
    let mut s = seccomp(json!([{
        "names": ["execve", "openat", "read", "close", "getcwd"],
        "action": "SCMP_ACT_NOTIFY",
    }]));
    s["listenerPath"] = json!(sock.display().to_string());
    s["listenerMetadata"] = json!("brig-conformance");
    b.set("linux.seccomp", s);
    let r = c.run(&b).await;
    let got = agent.finish();
    let r = match r {
        Ok(r) => r,
        Err(Verdict::Fail(e)) => fail!("{e}; the agent says: {got:?}"),
        Err(e) => return Err(e),
    };
    if let Err(Verdict::Fail(e)) = r.expect_ok() {
        fail!("{e}; the agent says: {got:?}");
    }
    let l = try_line(&r, "getcwd")?;
    ensure!(l["ok"] == true, "getcwd (continued by the agent) gave {l}");
    let st = got.map_err(Verdict::Fail)?;
    ensure!(
        st["fds"] == json!(["seccompFd"]) && st["metadata"] == "brig-conformance",
        "the agent got {st}, want fds [seccompFd] and the metadata"
    );
    ensure!(
        st["ociVersion"].is_string()
            && st["pid"].as_i64().is_some_and(|p| p > 0)
            && st["state"]["id"] == b.id.as_str(),
        "the process state lacks ociVersion, pid or the container state: {st}"
    );
    Ok(())
}

// ---------------------------------------------------------------- features

async fn features(c: &Ctx) -> Result<Value, Verdict> {
    let out = c.raw(&["features"], None).await?;
    if !out.success() {
        skip!("the runtime has no `features` command: {}", out.describe());
    }
    serde_json::from_str(&out.stdout)
        .map_err(|e| Verdict::Fail(format!("`features` printed no JSON object: {e}")))
}

fn version_tuple(s: &str) -> Option<(u64, u64, u64)> {
    let core = s.split(['-', '+']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((it.next()??, it.next()??, it.next()??))
}

async fn features_valid(c: Arc<Ctx>) -> CheckResult {
    let f = features(&c).await?;
    let obj = f
        .as_object()
        .ok_or_else(|| Verdict::Fail("not an object".into()))?;
    let known = [
        "ociVersionMin",
        "ociVersionMax",
        "hooks",
        "mountOptions",
        "linux",
        "annotations",
    ];
    let extra: Vec<&String> = obj
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .collect();
    ensure!(
        extra.is_empty(),
        "properties v1.1 does not define: {extra:?}"
    );
    let min = f["ociVersionMin"].as_str().and_then(version_tuple);
    let max = f["ociVersionMax"].as_str().and_then(version_tuple);
    ensure!(
        matches!((min, max), (Some(a), Some(b)) if a <= b),
        "ociVersionMin {} / ociVersionMax {}",
        f["ociVersionMin"],
        f["ociVersionMax"]
    );
    let hooks = [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ];
    for h in f["hooks"].as_array().cloned().unwrap_or_default() {
        ensure!(
            hooks.contains(&h.as_str().unwrap_or("")),
            "unknown hook {h}"
        );
    }
    for o in f["mountOptions"].as_array().cloned().unwrap_or_default() {
        ensure!(
            !o.as_str().unwrap_or("=").contains('='),
            "data option {o} in mountOptions"
        );
    }
    if let Some(a) = f.get("annotations").filter(|a| !a.is_null()) {
        let ok = a
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string));
        ensure!(ok, "annotations are not a string map: {a}");
    }
    Ok(())
}

async fn features_versions(c: Arc<Ctx>) -> CheckResult {
    let f = features(&c).await?;
    for key in ["ociVersionMin", "ociVersionMax"] {
        let v = f[key].as_str().unwrap_or("").to_string();
        let mut b = c.bundle(&["exit", "0"]);
        b.set("ociVersion", json!(v));
        let r = c.run(&b).await?;
        ensure!(
            r.out.success(),
            "a config with ociVersion {v} ({key}) failed: {}",
            r.out.describe()
        );
    }
    Ok(())
}

async fn features_mount_options(c: Arc<Ctx>) -> CheckResult {
    let f = features(&c).await?;
    let listed: Vec<String> = f["mountOptions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    // remount needs something to remount and idmap needs mappings; tmpcopyup is tested as is.
    let opts: Vec<&str> = listed
        .iter()
        .map(String::as_str)
        .filter(|o| !matches!(*o, "remount" | "idmap" | "ridmap"))
        .collect();
    if opts.is_empty() {
        skip!("`features` lists no mount options");
    }
    if options_run(&c, &opts).await.is_ok() {
        return Ok(());
    }
    // Find which ones, one container each.
    let mut refused = Vec::new();
    for o in &opts {
        if options_run(&c, &[o]).await.is_err() {
            refused.push(*o);
        }
    }
    ensure!(
        refused.is_empty(),
        "listed by `features` but refused in config.json: {refused:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------- later additions

async fn hooks_kind_sequence(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["exit", "0"]);
    let log = add_hooks(&c, &mut b, None)?;
    lifecycle_once(&c, &b).await?;
    let names = hook_names(&hook_log(&log)?);
    let at = |k: &str| names.iter().position(|n| n == k);
    let before = |a: &str, b: &str| matches!((at(a), at(b)), (Some(x), Some(y)) if x < y);
    let mut wrong = Vec::new();
    for (a, b) in [
        ("prestart", "createRuntime"),
        ("createRuntime", "createContainer"),
        ("createContainer", "poststart"),
        ("createContainer", "startContainer"),
        ("poststart", "poststop"),
        ("startContainer", "poststop"),
    ] {
        if !before(a, b) {
            wrong.push(format!("{a} not before {b}"));
        }
    }
    ensure!(
        wrong.is_empty(),
        "hooks ran as {names:?}: {}",
        wrong.join(", ")
    );
    Ok(())
}

/// A private root for one check: an overlay of the base rootfs with a fresh upper directory, so
/// that a runtime may create or replace files in it without touching the shared base.
fn private_root(c: &Ctx) -> Result<std::path::PathBuf, Verdict> {
    let upper = c.scratch("root-upper")?;
    let work = c.scratch("root-work")?;
    let merged = c.scratch("root-merged")?;
    crate::sys::mount_overlay(&[&c.env.rootfs], &upper, &work, &merged)
        .map_err(|e| Verdict::Fail(format!("suite could not mount an overlay rootfs: {e}")))?;
    c.register_mount(&merged);
    Ok(merged)
}

async fn devices_conflict(c: Arc<Ctx>) -> CheckResult {
    let root = private_root(&c)?;
    let mut b = c.bundle(&["exit", "0"]);
    b.set("root.path", json!(root.display().to_string()));
    b.push(
        "linux.devices",
        json!({"path": "/etc/group", "type": "c", "major": 1, "minor": 3}),
    );
    expect_create_error(&c, &b, "/etc/group is a regular file, not the device 1:3").await
}

async fn propagation_shared(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["mounts"]);
    b.set("linux.rootfsPropagation", json!("shared"));
    let r = c.run_ok(&b).await?;
    let mounts = mount_list(&r)?;
    let root = mounts
        .iter()
        .find(|m| m["mount_point"] == "/")
        .cloned()
        .unwrap_or_default();
    ensure!(
        root["optional"]
            .as_str()
            .is_some_and(|o| o.contains("shared:")),
        "/ in the container is {root}: not shared"
    );
    Ok(())
}

async fn cwd_readonly_root(c: Arc<Ctx>) -> CheckResult {
    let root = private_root(&c)?;
    let mut b = c.bundle(&["env"]);
    b.set("root.path", json!(root.display().to_string()));
    b.set("process.cwd", json!("/brig-new/cwd"));
    let r = c.run_ok(&b).await?;
    let got = &r.line("env")?["cwd"];
    ensure!(*got == "/brig-new/cwd", "cwd is {got}, want /brig-new/cwd");
    Ok(())
}

/// Runs the probe chain `args` (ending in a wait) with a terminal, taking the pty master over
/// --console-socket, and returns the parsed lines once one answers `want`.
async fn terminal_run(
    c: &Ctx,
    args: &[&str],
    want: &'static str,
) -> Result<(String, Vec<Value>), Verdict> {
    let sock = c.dir.join("console.sock");
    let l = std::os::unix::net::UnixListener::bind(&sock)?;
    l.set_nonblocking(true)?;
    let mut b = c.bundle(args);
    b.set("process.terminal", json!(true));
    b.set("process.user", json!({"uid": 1000, "gid": 1000}));
    b.write().map_err(verdict)?;
    c.track(&b.id);
    let dir = b.dir.display().to_string();
    let sock_s = sock.display().to_string();
    let out = c
        .raw(
            &[
                "create",
                "--bundle",
                &dir,
                "--console-socket",
                &sock_s,
                &b.id,
            ],
            None,
        )
        .await?;
    if !out.success() {
        fail!("create with a terminal failed: {}", out.describe());
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    let deadline = std::time::Instant::now() + crate::ctx::DEADLINE;
    let conn = crate::seccomp_agent::accept_within(&l, &stop, deadline).map_err(verdict)?;
    let (_, fds) = crate::seccomp_agent::recv_with_fds(std::os::fd::AsRawFd::as_raw_fd(&conn))
        .map_err(verdict)?;
    let Some(master) = fds.into_iter().next() else {
        fail!("no pty master came over --console-socket");
    };
    let started = c.rt.start(&b.id).await?;
    if !started.success() {
        fail!("start failed: {}", started.describe());
    }
    let mut master = std::fs::File::from(master);
    let lines = tokio::task::spawn_blocking(move || -> Result<Vec<Value>, String> {
        use std::io::Read;
        let mut acc = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if std::time::Instant::now() > deadline {
                return Err("no tty answer from the container".into());
            }
            if crate::seccomp_agent::poll_in(std::os::fd::AsRawFd::as_raw_fd(&master), 100) == 0 {
                continue;
            }
            let n = master.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the terminal closed without an answer".into());
            }
            acc.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&acc).replace('\r', "");
            if let Some(l) = text.lines().find(|l| l.contains(want)) {
                if text.contains(&format!("{l}\n")) {
                    return Ok(text
                        .lines()
                        .filter_map(|l| serde_json::from_str(l).ok())
                        .collect());
                }
            }
        }
    })
    .await
    .map_err(|e| Verdict::Fail(e.to_string()))?
    .map_err(verdict)?;
    Ok((b.id.clone(), lines))
}

async fn terminal_owner(c: Arc<Ctx>) -> CheckResult {
    let (id, lines) = terminal_run(&c, &["tty", "+", "sleep", "100"], "\"cmd\":\"tty\"").await?;
    let _ = c.rt.kill(&id, "KILL").await;
    let line = find_line(&lines, "tty")?;
    ensure!(line["isatty"] == true, "stdin is not a terminal: {line}");
    ensure!(
        line["uid"] == 1000,
        "the terminal belongs to uid {} (gid {}), want the process user 1000",
        line["uid"],
        line["gid"]
    );
    Ok(())
}

async fn console_is_pty(c: Arc<Ctx>) -> CheckResult {
    let (id, lines) = terminal_run(
        &c,
        &["tty", "+", "stat", "/dev/console", "+", "sleep", "100"],
        "/dev/console",
    )
    .await?;
    let _ = c.rt.kill(&id, "KILL").await;
    let tty = find_line(&lines, "tty")?;
    let st = find_line(&lines, "stat")?;
    ensure!(
        st["kind"] == "char"
            && st["rdev_major"] == tty["rdev_major"]
            && st["rdev_minor"] == tty["rdev_minor"],
        "/dev/console is {st}, the terminal is {tty}"
    );
    Ok(())
}

async fn no_pivot_proc(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["exit", "0"]);
    b.set(
        "process.args",
        json!([
            "/bin/unshare",
            "-mrpf",
            "/bin/sh",
            "-c",
            "mount -t proc none /proc && echo PROC-MOUNTED; true"
        ]),
    );
    let mut caps: Vec<&str> = crate::bundle::DEFAULT_CAPS.to_vec();
    caps.push("CAP_SETFCAP");
    for set in ["bounding", "effective", "permitted"] {
        b.set(&format!("process.capabilities.{set}"), json!(caps));
    }
    b.write().map_err(verdict)?;
    c.track(&b.id);
    let dir = b.dir.display().to_string();
    let out = c
        .raw(&["run", "--no-pivot", "--bundle", &dir, &b.id], None)
        .await?;
    if !out.success() && out.stderr.contains("no-pivot") {
        skip!("the runtime has no --no-pivot: {}", out.describe());
    }
    ensure!(
        !out.stdout.contains("PROC-MOUNTED"),
        "with --no-pivot the container mounted a fresh /proc in a user namespace: the host's /proc stays reachable and masked paths can be read through it"
    );
    Ok(())
}

//! The coverage map: every normative statement (MUST, MUST NOT, REQUIRED, SHOULD, SHOULD NOT) of
//! runtime-spec v1.1.0's runtime.md, runtime-linux.md, config.md, config-linux.md and
//! features.md, in our own words, with the checks that test it or why one host cannot.
//!
//! `brig-conformance coverage` prints it; `--format markdown` regenerates docs/spec-coverage.md.
//! Unit tests keep it honest: every check has a row, every row names only existing checks, and
//! the markdown file is current.

use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpecLevel {
    Must,
    MustNot,
    Required,
    Should,
    ShouldNot,
}

impl SpecLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            SpecLevel::Must => "MUST",
            SpecLevel::MustNot => "MUST NOT",
            SpecLevel::Required => "REQUIRED",
            SpecLevel::Should => "SHOULD",
            SpecLevel::ShouldNot => "SHOULD NOT",
        }
    }

    /// MUST, MUST NOT and REQUIRED.
    pub fn mandatory(self) -> bool {
        matches!(
            self,
            SpecLevel::Must | SpecLevel::MustNot | SpecLevel::Required
        )
    }
}

/// How a statement is covered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cover {
    /// These checks test it.
    Checks(&'static [&'static str]),
    /// It binds the author of config.json, not the runtime (the runtime MAY validate); the suite
    /// only ever writes bundles that satisfy it (bundle.rs validates every config).
    Bundle,
    /// It applies to Windows, Solaris or another platform, not Linux.
    NotLinux,
    /// Cannot be tested on one host; the reason names the limit.
    Untestable(&'static str),
}

#[derive(Clone, Copy, Debug)]
pub struct Row {
    pub file: &'static str,
    /// The section's anchor within the file.
    pub section: &'static str,
    pub level: SpecLevel,
    /// The statement, in our own words.
    pub statement: &'static str,
    pub cover: Cover,
}

use Cover::{Bundle, Checks, NotLinux, Untestable};
use SpecLevel::{Must, MustNot, Required, Should, ShouldNot};

macro_rules! row {
    ($file:literal, $sec:literal, $lvl:ident, $stmt:literal, [$($id:literal),+ $(,)?]) => {
        Row { file: $file, section: $sec, level: $lvl, statement: $stmt, cover: Checks(&[$($id),+]) }
    };
    ($file:literal, $sec:literal, $lvl:ident, $stmt:literal, $cover:expr) => {
        Row { file: $file, section: $sec, level: $lvl, statement: $stmt, cover: $cover }
    };
}

const NO_RDT: Cover = Untestable("no Intel RDT hardware and no resctrl filesystem on this host");
const V1_HOST: Cover = Untestable(
    "cgroup delegation rules apply to cgroup v2; on this hybrid host every controller is a v1 hierarchy and the cgroup2 tree has none",
);
const WARNING_UNOBSERVABLE: Cover = Untestable(
    "the spec leaves how a warning is shown to the runtime (runtime.md#warnings), so no output can be required; the checks test that the operation goes on",
);

/// The statements, in spec order within each file.
pub const ROWS: &[Row] = &[
    // ---------------------------------------------------------------- runtime.md
    row!("runtime.md", "scope-of-a-container", Must, "whoever created a container can run every operation of the spec on it", ["lifecycle.start.status-running", "lifecycle.kill.by-name", "lifecycle.delete.gone", "lifecycle.state.fields"]),
    row!("runtime.md", "state", Required, "state carries ociVersion", ["lifecycle.state.schema"]),
    row!("runtime.md", "state", Required, "state carries the container's id", ["lifecycle.state.fields"]),
    row!("runtime.md", "state", Must, "a container id is unique among all containers on the host", ["lifecycle.error.duplicate-id"]),
    row!("runtime.md", "state", Required, "state carries a status", ["lifecycle.state.schema", "lifecycle.create.status-created"]),
    row!("runtime.md", "state", Must, "a status value beyond the four defined ones names a new state, not a defined one", ["lifecycle.state.schema", "lifecycle.pause.paused"]),
    row!("runtime.md", "state", Required, "on Linux state carries the host pid of the container process while created or running", ["lifecycle.state.fields"]),
    row!("runtime.md", "state", Required, "state carries the absolute bundle path", ["lifecycle.state.fields"]),
    row!("runtime.md", "state", Must, "state serialised as JSON follows the documented shape", ["lifecycle.state.schema"]),
    row!("runtime.md", "lifecycle", Must, "create builds the environment as config.json describes (each config field below is one instance)", ["ns.all.distinct-from-host", "cgroup.memory.limit", "process.env.applied"]),
    row!("runtime.md", "lifecycle", Must, "when the environment cannot be built as configured, create is an error", ["lifecycle.error.bad-rootfs", "lifecycle.config.invalid-value-error"]),
    row!("runtime.md", "lifecycle", MustNot, "the user program does not run during create", ["lifecycle.create.process-not-started"]),
    row!("runtime.md", "lifecycle", MustNot, "editing config.json after create changes nothing in the container", ["lifecycle.create.config-snapshot"]),
    row!("runtime.md", "lifecycle", Must, "prestart hooks are run", ["lifecycle.hooks.order"]),
    row!("runtime.md", "lifecycle", Must, "a failing prestart hook is an error, stops the container and goes on with destruction", ["lifecycle.hooks.prestart-failure-aborts"]),
    row!("runtime.md", "lifecycle", Must, "createRuntime hooks are run", ["lifecycle.hooks.order"]),
    row!("runtime.md", "lifecycle", Must, "a failing createRuntime hook is an error, stops the container and goes on with destruction", ["lifecycle.hooks.failure-aborts"]),
    row!("runtime.md", "lifecycle", Must, "createContainer hooks are run", ["lifecycle.hooks.order"]),
    row!("runtime.md", "lifecycle", Must, "a failing createContainer hook is an error, stops the container and goes on with destruction", ["lifecycle.hooks.createcontainer-failure-aborts"]),
    row!("runtime.md", "lifecycle", Must, "startContainer hooks are run", ["lifecycle.hooks.order"]),
    row!("runtime.md", "lifecycle", Must, "a failing startContainer hook is an error, stops the container and goes on with destruction", ["lifecycle.hooks.startcontainer-failure-aborts"]),
    row!("runtime.md", "lifecycle", Must, "start runs the user program from process", ["lifecycle.create.process-not-started", "lifecycle.start.status-running"]),
    row!("runtime.md", "lifecycle", Must, "poststart hooks are run", ["lifecycle.hooks.order"]),
    row!("runtime.md", "lifecycle", Must, "a failing poststart hook is logged as a warning and everything goes on as if it had succeeded", ["lifecycle.hooks.poststart-failure-continues"]),
    row!("runtime.md", "lifecycle", Must, "delete destroys the container by undoing what create did", ["lifecycle.cleanup.no-process", "lifecycle.cleanup.no-cgroup", "lifecycle.cleanup.no-mount"]),
    row!("runtime.md", "lifecycle", Must, "poststop hooks are run", ["lifecycle.hooks.order"]),
    row!("runtime.md", "lifecycle", Must, "a failing poststop hook is logged as a warning and everything goes on as if it had succeeded", ["lifecycle.hooks.poststop-failure-continues"]),
    row!("runtime.md", "errors", Must, "an operation that fails leaves the environment as it was before the attempt", ["lifecycle.error.bad-rootfs", "lifecycle.error.duplicate-id", "lifecycle.error.start-twice"]),
    row!("runtime.md", "warnings", Must, "after logging a warning the operation carries on unchanged", ["lifecycle.hooks.poststart-failure-continues", "process.caps.unknown-warns"]),
    row!("runtime.md", "operations", Must, "the runtime offers state, create, start, kill and delete (where the OS allows them)", ["lifecycle.create.status-created", "lifecycle.start.status-running", "lifecycle.kill.by-name", "lifecycle.delete.gone"]),
    row!("runtime.md", "query-state", Must, "state without an id is an error", ["lifecycle.error.missing-id"]),
    row!("runtime.md", "query-state", Must, "state of an unknown container is an error", ["lifecycle.error.unknown-id"]),
    row!("runtime.md", "query-state", Must, "state returns the state described in the State section", ["lifecycle.state.fields", "lifecycle.state.schema"]),
    row!("runtime.md", "create", Must, "create without a bundle path and id is an error", ["lifecycle.error.missing-id"]),
    row!("runtime.md", "create", Must, "create with an id already in use, or an otherwise invalid id, is an error", ["lifecycle.error.duplicate-id", "lifecycle.error.invalid-id"]),
    row!("runtime.md", "create", MustNot, "after such an id error no new container exists", ["lifecycle.error.duplicate-id", "lifecycle.error.invalid-id"]),
    row!("runtime.md", "create", Must, "create makes a new container from config.json", ["lifecycle.create.status-created"]),
    row!("runtime.md", "create", Must, "every resource the config asks for exists after create", ["cgroup.path.honoured", "ns.all.distinct-from-host"]),
    row!("runtime.md", "create", MustNot, "create does not run the user program", ["lifecycle.create.process-not-started"]),
    row!("runtime.md", "create", Must, "a container that cannot be made as configured is an error", ["lifecycle.error.bad-rootfs", "lifecycle.config.invalid-value-error"]),
    row!("runtime.md", "create", MustNot, "after that error no new container exists", ["lifecycle.error.bad-rootfs"]),
    row!("runtime.md", "create", Must, "after create the status is created", ["lifecycle.create.status-created"]),
    row!("runtime.md", "start", Must, "start without an id is an error", ["lifecycle.error.missing-id"]),
    row!("runtime.md", "start", Must, "start of an unknown container is an error", ["lifecycle.error.unknown-id"]),
    row!("runtime.md", "start", Must, "start of a started container is an error and changes nothing", ["lifecycle.error.start-twice"]),
    row!("runtime.md", "start", Must, "start runs the user program", ["lifecycle.create.process-not-started"]),
    row!("runtime.md", "start", Must, "after start the status is running", ["lifecycle.start.status-running"]),
    row!("runtime.md", "kill", Must, "kill without an id is an error", ["lifecycle.error.missing-id"]),
    row!("runtime.md", "kill", Must, "kill of a container that is not running is an error and changes nothing", ["lifecycle.error.kill-stopped"]),
    row!("runtime.md", "kill", Must, "kill delivers the given signal to the container process", ["lifecycle.kill.by-name", "lifecycle.kill.by-number", "lifecycle.kill.signal-zero"]),
    row!("runtime.md", "kill", Must, "once the container process has stopped, for whatever reason, the status is stopped", ["lifecycle.exit.status-stopped", "lifecycle.kill.sigkill-stops", "oom.state.stopped"]),
    row!("runtime.md", "delete", Must, "delete without an id is an error", ["lifecycle.error.missing-id"]),
    row!("runtime.md", "delete", Must, "delete of an unknown container is an error", ["lifecycle.error.unknown-id"]),
    row!("runtime.md", "delete", Must, "delete of a container whose process runs is an error", ["lifecycle.error.delete-running"]),
    row!("runtime.md", "delete", Must, "delete removes what create made", ["lifecycle.delete.gone", "lifecycle.cleanup.no-cgroup", "lifecycle.cleanup.no-mount"]),
    row!("runtime.md", "delete", MustNot, "delete leaves alone resources the container uses but did not create", ["lifecycle.delete.keeps-foreign"]),
    // ---------------------------------------------------------------- runtime-linux.md
    row!("runtime-linux.md", "file-descriptors", Should, "by default only stdin, stdout and stderr are open in the application (stated without a keyword; read as SHOULD)", ["process.fds.only-stdio", "lifecycle.hooks.no-host-fd"]),
    row!("runtime-linux.md", "dev-symbolic-links", Must, "during create, /dev/fd, /dev/stdin, /dev/stdout and /dev/stderr link to /proc/self/fd and its 0, 1, 2 when those exist after the mounts", ["linux.devices.symlinks"]),
    // ---------------------------------------------------------------- config.md
    row!("config.md", "specification-version", Must, "ociVersion is a SemVer 2.0.0 string", Bundle),
    row!("config.md", "specification-version", Required, "ociVersion is present", Bundle),
    row!("config.md", "root", Required, "root is present on Linux", Bundle),
    row!("config.md", "root", MustNot, "root is absent for Hyper-V containers", NotLinux),
    row!("config.md", "root", Required, "root.path is present", Bundle),
    row!("config.md", "root", Must, "on Windows root.path is a volume GUID path", NotLinux),
    row!("config.md", "root", Should, "root.path is the conventional rootfs", Bundle),
    row!("config.md", "root", Must, "a directory exists at root.path", ["lifecycle.error.bad-rootfs"]),
    row!("config.md", "root", Must, "with root.readonly true the root filesystem is read-only in the container", ["linux.root.readonly"]),
    row!("config.md", "root", Must, "on Windows root.readonly is absent or false", NotLinux),
    row!("config.md", "mounts", Must, "mounts are mounted in the order listed", ["linux.mounts.order"]),
    row!("config.md", "mounts", Required, "each mount has a destination", Bundle),
    row!("config.md", "mounts", Should, "on Linux a destination is an absolute path", Bundle),
    row!("config.md", "mounts", Must, "on Linux a relative destination is taken relative to /", ["linux.mounts.relative-destination"]),
    row!("config.md", "mounts", Must, "on Windows a destination is absolute and no mount nests in another", NotLinux),
    row!("config.md", "mounts", Must, "on Solaris and other platforms a destination is absolute", NotLinux),
    row!("config.md", "mounts", Must, "on Windows the ro option is supported", NotLinux),
    row!("config.md", "linux-mount-options", Should, "a custom option that mount(8) knows behaves as in mount(8)", ["linux.mounts.options-must"]),
    row!("config.md", "linux-mount-options", Should, "an unknown option is passed to mount(2) as filesystem data", ["linux.mounts.options-must"]),
    row!("config.md", "posix-platform-mounts", Should, "mount uidMappings/gidMappings are applied with mount_setattr(MOUNT_ATTR_IDMAP)", Untestable("how a runtime applies an id-mapped mount is not observable from the container; the mapping itself is REQUIRED below only with the idmap option, which is newer than v1.1.0")),
    row!("config.md", "posix-platform-mounts", Should, "a mount with uidMappings/gidMappings lists idmap or ridmap", Bundle),
    row!("config.md", "posix-platform-mounts", Must, "uidMappings and gidMappings of a mount come together", Bundle),
    row!("config.md", "process", Required, "process is present when start is called", Bundle),
    row!("config.md", "process", Must, "consoleSize is ignored when terminal is false or unset", ["process.console-size.ignored"]),
    row!("config.md", "process", Required, "consoleSize has height and width", Bundle),
    row!("config.md", "process", Required, "cwd is present", Bundle),
    row!("config.md", "process", Must, "cwd is an absolute path", Bundle),
    row!("config.md", "process", Required, "args has at least one entry (not Windows), used like execvp's file", ["process.args.path-search"]),
    row!("config.md", "process", Required, "on Windows commandLine is present when args is absent", NotLinux),
    row!("config.md", "posix-process", Required, "each rlimit has type, soft and hard", Bundle),
    row!("config.md", "posix-process", Must, "an rlimit type with no kernel resource is an error", ["process.rlimits.unknown-type-error"]),
    row!("config.md", "posix-process", Must, "getrlimit succeeds for each configured type", ["process.rlimits.lowered"]),
    row!("config.md", "posix-process", Must, "the soft limit equals the configured soft value", ["process.rlimits.lowered", "process.rlimits.above-host-hard"]),
    row!("config.md", "posix-process", Must, "the hard limit equals the configured hard value", ["process.rlimits.lowered", "process.rlimits.above-host-hard"]),
    row!("config.md", "posix-process", Must, "two rlimits of the same type are an error", ["process.rlimits.duplicate-error"]),
    row!("config.md", "linux-process", Must, "a capability that cannot be mapped or granted is logged as a warning", WARNING_UNOBSERVABLE),
    row!("config.md", "linux-process", ShouldNot, "the runtime does not fail because a capability cannot be granted", ["process.caps.unknown-warns"]),
    row!("config.md", "linux-process", Must, "the bounding, effective and permitted sets are kept as configured (step 2 of the lifecycle)", ["process.caps.bounding"]),
    row!("config.md", "linux-process", Must, "the inheritable and ambient sets are kept as configured, inheritable ones beyond permitted included (step 2)", ["process.caps.inheritable-ambient"]),
    row!("config.md", "linux-process", Must, "noNewPrivileges true sets no_new_privs (step 2)", ["process.no-new-privileges.set"]),
    row!("config.md", "linux-process", Must, "a set oomScoreAdj is written to oom_score_adj", ["oom.score-adj.applied"]),
    row!("config.md", "linux-process", MustNot, "without oomScoreAdj the runtime leaves oom_score_adj alone", ["oom.score-adj.unset-unchanged"]),
    row!("config.md", "linux-process", Required, "scheduler has a policy; ioPriority has class and priority", Bundle),
    row!("config.md", "linux-process", Must, "apparmorProfile and selinuxLabel are applied (step 2)", ["process.apparmor.profile", "process.selinux.label"]),
    row!("config.md", "posix-platform-user", Required, "user has uid and gid; the process runs with them and additionalGids (step 2)", ["process.user.ids"]),
    row!("config.md", "hostname", Must, "the container sees the configured hostname (step 2 of the lifecycle)", ["ns.uts.hostname", "ns.uts.host-hostname-unchanged", "ns.join.uts-by-path"]),
    row!("config.md", "domainname", Must, "the container sees the configured domainname (step 2 of the lifecycle)", ["ns.uts.domainname"]),
    row!("config.md", "process", Must, "the process gets env and starts in cwd (step 2 of the lifecycle)", ["process.env.applied", "process.cwd.applied"]),
    row!("config.md", "platform-specific-configuration", Must, "the windows object is set for Windows targets", NotLinux),
    row!("config.md", "posix-platform-hooks", Required, "each hook has a path", Bundle),
    row!("config.md", "posix-platform-hooks", Must, "a hook path is absolute", Bundle),
    row!("config.md", "posix-platform-hooks", Must, "a hook timeout, when set, is above zero", Bundle),
    row!("config.md", "posix-platform-hooks", Must, "prestart, createRuntime, createContainer, poststart and poststop paths resolve in the runtime namespace", ["lifecycle.hooks.order"]),
    row!("config.md", "posix-platform-hooks", Must, "startContainer paths resolve in the container namespace", ["lifecycle.hooks.order"]),
    row!("config.md", "posix-platform-hooks", Must, "prestart, createRuntime, poststart and poststop hooks run in the runtime namespace", ["lifecycle.hooks.namespaces"]),
    row!("config.md", "posix-platform-hooks", Must, "createContainer and startContainer hooks run in the container namespace", ["lifecycle.hooks.namespaces"]),
    row!("config.md", "posix-platform-hooks", Must, "hooks of one kind run in the order listed", ["lifecycle.hooks.listed-order"]),
    row!("config.md", "posix-platform-hooks", Must, "the kinds run in the order the lifecycle gives them (checked pairwise, also where runc runs poststart early)", ["lifecycle.hooks.kind-sequence", "lifecycle.hooks.order"]),
    row!("config.md", "posix-platform-hooks", Must, "every hook gets the container state on stdin", ["lifecycle.hooks.state-stdin"]),
    row!("config.md", "posix-platform-hooks", Must, "a hook with env gets exactly that environment (environ semantics)", ["lifecycle.hooks.env-given"]),
    row!("config.md", "prestart", Must, "prestart hooks run during create, after the environment exists and before pivot_root", ["lifecycle.hooks.order"]),
    row!("config.md", "prestart", Must, "prestart hooks run before createRuntime hooks", ["lifecycle.hooks.order"]),
    row!("config.md", "createruntime-hooks", Must, "createRuntime hooks run during create, after the environment exists and before pivot_root", ["lifecycle.hooks.order"]),
    row!("config.md", "createcontainer-hooks", Must, "createContainer hooks run during create before pivot_root, after createRuntime hooks", ["lifecycle.hooks.order"]),
    row!("config.md", "startcontainer-hooks", Must, "startContainer hooks run during start, before the user program", ["lifecycle.hooks.order"]),
    row!("config.md", "poststart", Must, "poststart hooks run after the user program started and before start returns", ["lifecycle.hooks.order"]),
    row!("config.md", "poststop", Must, "poststop hooks run after the container is deleted and before delete returns", ["lifecycle.hooks.order"]),
    row!("config.md", "annotations", Must, "annotations are a string-to-string map with non-empty keys; org.opencontainers keys only as specified", Bundle),
    row!("config.md", "annotations", Should, "annotation keys use reverse domain notation", Bundle),
    row!("config.md", "annotations", Must, "unknown annotation keys are treated like any unknown property", ["lifecycle.config.unknown-property-ignored"]),
    row!("config.md", "extensibility", Must, "unknown properties are ignored and never an error", ["lifecycle.config.unknown-property-ignored"]),
    row!("config.md", "valid-values", Must, "an invalid or unsupported value is an error", ["lifecycle.config.invalid-value-error", "process.rlimits.unknown-type-error"]),
    // ---------------------------------------------------------------- config-linux.md
    row!("config-linux.md", "default-filesystems", Should, "/proc, /sys, /dev/pts and /dev/shm are available in the container", ["linux.default-filesystems.mounted"]),
    row!("config-linux.md", "namespaces", Required, "each namespace entry has a type", Bundle),
    row!("config-linux.md", "namespaces", Should, "pid, network, mount, ipc, uts, user, cgroup and time namespaces are supported", ["ns.pid.init-is-pid1", "ns.net.loopback-only", "ns.mnt.mount-invisible-on-host", "ns.ipc.shm-not-shared", "ns.uts.hostname", "ns.user.uid-map", "ns.cgroup.root-is-slash", "ns.time.own"]),
    row!("config-linux.md", "namespaces", Must, "a namespace path is absolute in the runtime mount namespace", Bundle),
    row!("config-linux.md", "namespaces", Must, "with a path, the process joins that namespace", ["ns.join.network-by-path", "ns.join.uts-by-path"]),
    row!("config-linux.md", "namespaces", Must, "a path that is not a namespace of the given type is an error", ["ns.join.wrong-type-error"]),
    row!("config-linux.md", "namespaces", Must, "without a path, a new namespace of that type is made", ["ns.all.distinct-from-host", "ns.time.own"]),
    row!("config-linux.md", "namespaces", Must, "a type left out of namespaces is inherited from the runtime", ["ns.absent.network-is-host", "ns.absent.pid-is-host", "ns.absent.ipc-is-host", "ns.absent.uts-is-host", "ns.absent.cgroup-is-host"]),
    row!("config-linux.md", "namespaces", Must, "two entries of the same type are an error", ["ns.duplicate.error"]),
    row!("config-linux.md", "user-namespace-mappings", Required, "each mapping has containerID, hostID and size; they are applied (step 2)", ["ns.user.uid-map", "ns.user.gid-map", "ns.user.file-owner-mapped"]),
    row!("config-linux.md", "user-namespace-mappings", ShouldNot, "the runtime does not chown the filesystems it is given to realise a mapping", ["ns.user.rootfs-not-chowned"]),
    row!("config-linux.md", "user-namespace-mappings", Must, "bind mounts work in a user-namespaced container, sources under host-only directories included (step 2)", ["ns.user.bind-private-source"]),
    row!("config-linux.md", "devices", Must, "every listed device is available in the container", ["linux.devices.all-types", "linux.devices.outside-dev"]),
    row!("config-linux.md", "devices", Required, "each device has a type (c, b, u or p) and a path", ["linux.devices.all-types"]),
    row!("config-linux.md", "devices", Must, "an existing file at a device path that is not that device is an error", ["linux.devices.conflict-error"]),
    row!("config-linux.md", "devices", Required, "major and minor are given unless the type is p", ["linux.devices.all-types"]),
    row!("config-linux.md", "devices", Must, "fileMode, uid and gid of a device are applied (step 2)", ["linux.devices.all-types"]),
    row!("config-linux.md", "devices", ShouldNot, "one type/major/minor is not used for two devices", Bundle),
    row!("config-linux.md", "default-devices", Must, "/dev/null, zero, full, random, urandom and tty are supplied", ["linux.devices.default"]),
    row!("config-linux.md", "default-devices", Must, "/dev/console is the terminal's pty when terminal is true", ["linux.devices.console"]),
    row!("config-linux.md", "default-devices", Must, "/dev/ptmx is the container's /dev/pts/ptmx (bind or symlink)", ["linux.devices.ptmx"]),
    row!("config-linux.md", "control-groups", Must, "a cgroup found unfit (frozen, or non-empty at create) is an error", ["cgroup.path.frozen-refused"]),
    row!("config-linux.md", "cgroups-path", Must, "cgroupsPath is absolute or relative", Bundle),
    row!("config-linux.md", "cgroups-path", Must, "an absolute cgroupsPath is taken relative to the cgroup mount point", ["cgroup.path.honoured"]),
    row!("config-linux.md", "cgroups-path", Must, "the same cgroupsPath always lands at the same place", ["cgroup.path.honoured"]),
    row!("config-linux.md", "cgroups-path", Must, "a cgroupsPath the runtime deems invalid is an error", Untestable("which values are invalid is the runtime's choice, so no value is invalid for every runtime")),
    row!("config-linux.md", "cgroup-ownership", ShouldNot, "with cgroup v1 the container cgroup's owner is not changed", ["cgroup.ownership.v1-unchanged"]),
    row!("config-linux.md", "cgroup-ownership", ShouldNot, "ownership changes only with a new cgroup namespace", V1_HOST),
    row!("config-linux.md", "cgroup-ownership", Should, "ownership changes exactly when /sys/fs/cgroup is mounted read-write", V1_HOST),
    row!("config-linux.md", "cgroup-ownership", ShouldNot, "without such a mount ownership is not changed", V1_HOST),
    row!("config-linux.md", "cgroup-ownership", Should, "only the directory and the files in /sys/kernel/cgroup/delegate change owner", V1_HOST),
    row!("config-linux.md", "cgroup-ownership", MustNot, "a delegate file missing from the cgroup is not a failure", V1_HOST),
    row!("config-linux.md", "cgroup-ownership", Should, "delegate files that exist change owner", V1_HOST),
    row!("config-linux.md", "cgroup-ownership", Must, "without /sys/kernel/cgroup/delegate the fallback list is cgroup.procs, cgroup.subtree_control, cgroup.threads", V1_HOST),
    row!("config-linux.md", "cgroup-ownership", ShouldNot, "no other file changes owner", V1_HOST),
    row!("config-linux.md", "allowed-device-list", Must, "device rules apply in the order listed, later ones winning, linux.devices included", ["linux.devices.cgroup-deny-wins", "cgroup.devices.default-deny"]),
    row!("config-linux.md", "allowed-device-list", Required, "each rule has allow", Bundle),
    row!("config-linux.md", "memory", Must, "memory limit, reservation and swap are applied (step 2)", ["cgroup.memory.limit", "cgroup.memory.reservation", "cgroup.memory.swap", "oom.run.exit-137"]),
    row!("config-linux.md", "memory", Must, "with checkBeforeUpdate a limit below current usage is rejected", Untestable("on this host memory is a cgroup v1 hierarchy, where the kernel itself refuses such a limit, so a runtime that ignores the flag cannot be told apart")),
    row!("config-linux.md", "cpu", Must, "a positive quota is not below burst, and burst not above quota", Bundle),
    row!("config-linux.md", "cpu", Must, "cpu shares, quota, period, cpus and mems are applied (step 2)", ["cgroup.cpu.quota", "cgroup.cpu.shares", "cgroup.cpuset.cpus", "cgroup.cpuset.mems", "cgroup.cpu.quota-throttled", "cgroup.cpuset.affinity-enforced"]),
    row!("config-linux.md", "block-io", Must, "a weightDevice entry has weight or leafWeight", Bundle),
    row!("config-linux.md", "block-io", Must, "block IO weight and throttles are applied (step 2)", ["cgroup.blkio.weight", "cgroup.blkio.throttle-read-bps", "cgroup.blkio.throttle-write-iops"]),
    row!("config-linux.md", "network", Must, "classID and priorities are applied (step 2)", ["cgroup.net-cls.classid", "cgroup.net-prio.ifpriomap"]),
    row!("config-linux.md", "pids", Required, "pids.limit is applied", ["cgroup.pids.limit", "cgroup.pids.fork-bomb-stopped"]),
    row!("config-linux.md", "rdma", Must, "an rdma entry has hcaHandles or hcaObjects", Bundle),
    row!("config-linux.md", "unified", Must, "the controllers a unified key needs are enabled", Untestable("on this hybrid host no controller is enabled in the cgroup2 tree and every one is bound to a v1 hierarchy, so none can be enabled")),
    row!("config-linux.md", "unified", Must, "unified keys the runtime does not know are still written", Untestable("on this hybrid host the cgroup2 tree has no controller files to write")),
    row!("config-linux.md", "unified", Must, "a unified key for a controller that is absent or cannot be enabled is an error", ["cgroup.unified.absent-controller-error"]),
    row!("config-linux.md", "unified", Must, "v1 settings that cannot be converted for a v2 controller are an error", Untestable("needs a controller on cgroup v2; this hybrid host has all of them on v1")),
    row!("config-linux.md", "intelrdt", Must, "the container pid goes into the tasks file of the closID directory", NO_RDT),
    row!("config-linux.md", "intelrdt", Must, "intelRdt without a mounted resctrl is an error", ["linux.intel-rdt.no-resctrl-error"]),
    row!("config-linux.md", "intelrdt", MustNot, "without intelRdt no resctrl filesystem is touched", NO_RDT),
    row!("config-linux.md", "intelrdt", Should, "l3CacheSchema starts with L3: and has no newline", Bundle),
    row!("config-linux.md", "intelrdt", Must, "memBwSchema starts with MB: and has no newline", Bundle),
    row!("config-linux.md", "intelrdt", Must, "the schemata rules (combined write, MB: lines, schemata last, none when unset) hold", NO_RDT),
    row!("config-linux.md", "intelrdt", Must, "without closID a directory named after the container id is made", NO_RDT),
    row!("config-linux.md", "intelrdt", Must, "a missing closID directory is made; an existing one must match the schemas or it is an error", NO_RDT),
    row!("config-linux.md", "intelrdt", Must, "a closID with no schema joins the existing directory or is an error", NO_RDT),
    row!("config-linux.md", "sysctl", Must, "sysctl values are set in the container (step 2)", ["linux.sysctl.applied"]),
    row!("config-linux.md", "seccomp", Required, "seccomp has a defaultAction; each rule has names and an action", Bundle),
    row!("config-linux.md", "seccomp", Must, "an errnoRet on an action that takes no errno is an error", ["linux.seccomp.errnoret-invalid-action-error"]),
    row!("config-linux.md", "seccomp", Must, "the filter applies: a matching syscall gets the rule's action and errno, EPERM by default (step 2)", ["linux.seccomp.errno"]),
    row!("config-linux.md", "seccomp", Must, "the filter never stops the runtime from starting the program: syscalls the runtime makes after loading it are not the container's", ["linux.seccomp.deny-close-range", "linux.seccomp.notify-runtime-syscalls"]),
    row!("config-linux.md", "seccomp", Must, "the listener socket is AF_UNIX SOCK_STREAM and gets exactly one process state per connection, then is closed", ["linux.seccomp.notify-runtime-syscalls"]),
    row!("config-linux.md", "seccomp", Must, "failing to send to listenerPath is an error", ["linux.seccomp.listener-missing-error"]),
    row!("config-linux.md", "seccomp", MustNot, "listenerMetadata is not set without listenerPath", Bundle),
    row!("config-linux.md", "seccomp", Must, "names holds at least one syscall", Bundle),
    row!("config-linux.md", "container-process-state", Must, "the process state goes as JSON with the fds in SCM_RIGHTS, in the first sendmsg when there are several", ["linux.seccomp.notify-runtime-syscalls"]),
    row!("config-linux.md", "container-process-state", Required, "the process state has ociVersion, pid and state, and fds names seccompFd", ["linux.seccomp.notify-runtime-syscalls"]),
    row!("config-linux.md", "rootfs-mount-propagation", Must, "rootfsPropagation is applied (step 2)", ["linux.rootfs-propagation.rslave", "linux.rootfs-propagation.shared"]),
    row!("config-linux.md", "masked-paths", Must, "masked paths are absolute; they cannot be read in the container (step 2)", ["linux.masked-paths.masked", "linux.masked-paths.no-pivot-proc"]),
    row!("config-linux.md", "readonly-paths", Must, "read-only paths are absolute; they refuse writes in the container (step 2)", ["linux.readonly-paths.readonly"]),
    // ---------------------------------------------------------------- features.md
    row!("features.md", "features-document", Should, "the features document is fixed when the runtime is built, not probed at run time", Untestable("when a document was computed is not observable from outside the binary")),
    row!("features.md", "features-document", MustNot, "null in the document is not read as an empty value", Untestable("a rule for readers of the document, not for the runtime")),
    row!("features.md", "specification-version", Required, "ociVersionMin and ociVersionMax are present", ["features.document.valid"]),
    row!("features.md", "specification-version", Must, "configs with ociVersion equal to ociVersionMin or ociVersionMax are accepted", ["features.oci-version.accepted"]),
    row!("features.md", "specification-version", MustNot, "ociVersionMax is not below ociVersionMin", ["features.document.valid"]),
    row!("features.md", "specification-version", MustNot, "the document has no property that spec version does not define", ["features.document.valid"]),
    row!("features.md", "hooks", Must, "every hook name listed is supported", ["features.document.valid", "lifecycle.hooks.order"]),
    row!("features.md", "mount-options", Must, "every mount option listed is recognised in config.json", ["features.mount-options.accepted"]),
    row!("features.md", "mount-options", ShouldNot, "the list has no filesystem-specific (mount data) options", ["features.document.valid"]),
    row!("features.md", "annotations", Must, "annotations are a string map like config.json's", ["features.document.valid"]),
    // ---------------------------------------------------------------- conventions
    row!("runc-cli", "conventions", Should, "kill accepts SIG-prefixed names like runc", ["lifecycle.kill.sig-prefix"]),
    row!("runc-cli", "conventions", Should, "delete --force removes a running container", ["lifecycle.delete.force-running"]),
    row!("runc-cli", "conventions", Should, "pause and resume freeze and thaw the container", ["lifecycle.pause.paused", "lifecycle.resume.running"]),
    row!("runc-cli", "conventions", Should, "exec runs in all the container's namespaces and returns the exit code", ["lifecycle.exec.joins-namespaces", "lifecycle.exec.exit-code"]),
    row!("runc-cli", "conventions", Should, "run returns the container's exit code", ["lifecycle.run.exit-code", "oom.run.exit-137"]),
    row!("runc-cli", "conventions", Should, "state carries annotations", ["lifecycle.state.annotations"]),
    row!("runc-cli", "conventions", Should, "events --stats prints a stats object", ["lifecycle.events.stats"]),
    row!("runc-cli", "conventions", Should, "update changes a running container's memory and pids limits", ["cgroup.update.memory", "cgroup.update.pids"]),
    row!("runc-cli", "conventions", Should, "delete of a created container without --force (runc kills it; the spec calls it an error)", ["lifecycle.error.delete-created", "lifecycle.kill.created"]),
    row!("runc-cli", "conventions", Should, "a missing cwd is created before the root is made read-only", ["process.cwd.created-readonly-root"]),
    row!("runc-cli", "conventions", Should, "the terminal of a non-root process belongs to that user", ["process.terminal.owner"]),
    row!("runc-cli", "conventions", Should, "HOME is set from the container's /etc/passwd when env lacks it", ["process.env.home-default"]),
    row!("runc-cli", "conventions", Should, "hooks without env inherit the runtime's environment", ["lifecycle.hooks.env-absent-inherited"]),
    row!("runc-cli", "conventions", Should, "seccomp architectures the host cannot filter are accepted and the native one is always added (libseccomp)", ["linux.seccomp.foreign-arch", "linux.seccomp.native-arch-implied"]),
    row!("runc-cli", "conventions", Should, "recursive mount options (rro and the rest) are applied to submounts", ["linux.mounts.rro"]),
    row!("runc-cli", "conventions", Should, "memory swappiness is applied where the kernel has it; the deprecated kernel limits do not fail the container", ["cgroup.memory.swappiness", "cgroup.memory.kernel"]),
    row!("runc-cli", "conventions", Should, "OOM kills are counted and leave siblings and the runtime alive", ["oom.counter.oom-kill", "oom.sibling.survives", "oom.runtime.survives", "oom.under-limit.survives"]),
    row!("runc-cli", "conventions", Should, "overlay mounts from the config behave like overlayfs", ["overlay.copy-up.modified-file", "overlay.copy-up.new-file", "overlay.lower.unchanged", "overlay.whiteout.deleted-file", "overlay.opaque.replaced-dir", "overlay.isolation.two-containers", "overlay.upper.persists-after-stop", "overlay.config-mount.mounted"]),
    row!("runc-cli", "conventions", Should, "namespace isolation is real: pids, ports, mounts, IPC and the host's files stay apart", ["ns.pid.host-pid-differs", "ns.pid.host-processes-invisible", "ns.net.same-port-twice", "ns.mnt.host-home-absent", "ns.mnt.host-home-bind-mounted", "ns.mnt.bind-readonly"]),
    row!("runc-cli", "conventions", Should, "a read-only /dev works: it is remounted read-only after its submounts", ["linux.mounts.dev-readonly"]),
];

/// One row per option of the Linux mount options table (config.md#linux-mount-options).
/// (name, level); MAY options are listed for completeness and not counted as normative.
pub const MOUNT_OPTIONS: &[(&str, SpecLevel)] = &[
    ("async", Must),
    ("atime", Must),
    ("bind", Must),
    ("defaults", Must),
    ("dev", Must),
    ("diratime", Must),
    ("dirsync", Must),
    ("exec", Must),
    ("iversion", Must),
    ("lazytime", Must),
    ("loud", Must),
    ("noatime", Must),
    ("nodev", Must),
    ("nodiratime", Must),
    ("noexec", Must),
    ("noiversion", Must),
    ("nolazytime", Must),
    ("norelatime", Must),
    ("nostrictatime", Must),
    ("nosuid", Must),
    ("nosymfollow", Should),
    ("private", Must),
    ("ratime", Should),
    ("rbind", Must),
    ("rdev", Should),
    ("rdiratime", Should),
    ("relatime", Must),
    ("remount", Must),
    ("rexec", Should),
    ("rnoatime", Should),
    ("rnodiratime", Should),
    ("rnoexec", Should),
    ("rnorelatime", Should),
    ("rnostrictatime", Should),
    ("rnosuid", Should),
    ("rnosymfollow", Should),
    ("ro", Must),
    ("rprivate", Must),
    ("rrelatime", Should),
    ("rro", Should),
    ("rrw", Should),
    ("rshared", Must),
    ("rslave", Must),
    ("rstrictatime", Should),
    ("rsuid", Should),
    ("rsymfollow", Should),
    ("runbindable", Must),
    ("rw", Must),
    ("shared", Must),
    ("silent", Must),
    ("slave", Must),
    ("strictatime", Must),
    ("suid", Must),
    ("symfollow", Should),
    ("sync", Must),
    ("unbindable", Must),
];

/// The check that covers a mount option of the table.
pub fn mount_option_check(name: &str, level: SpecLevel) -> &'static [&'static str] {
    match (name, level) {
        ("remount", _) => &["linux.mounts.dev-readonly"],
        ("rro", _) => &["linux.mounts.rro", "linux.mounts.options-should"],
        (_, Must) => &["linux.mounts.options-must"],
        _ => &["linux.mounts.options-should"],
    }
}

/// Every row: the static ones and one per mount option.
pub fn rows() -> Vec<Row> {
    let mut v: Vec<Row> = ROWS.to_vec();
    let at = v
        .iter()
        .position(|r| r.section == "linux-mount-options")
        .unwrap_or(v.len());
    let opts: Vec<Row> = MOUNT_OPTIONS
        .iter()
        .map(|(name, level)| Row {
            file: "config.md",
            section: "linux-mount-options",
            level: *level,
            statement: Box::leak(
                format!("the `{name}` mount option is implemented").into_boxed_str(),
            ),
            cover: Checks(mount_option_check(name, *level)),
        })
        .collect();
    v.splice(at..at, opts);
    v
}

pub const FILES: &[&str] = &[
    "runtime.md",
    "runtime-linux.md",
    "config.md",
    "config-linux.md",
    "features.md",
    "runc-cli",
];

/// Counts per file and level: (rows, rows with checks, untestable, bundle-side, not Linux).
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    pub rows: usize,
    pub checked: usize,
    pub untestable: usize,
    pub bundle: usize,
    pub not_linux: usize,
}

pub fn counts(rows: &[Row]) -> BTreeMap<(&'static str, SpecLevel), Counts> {
    let mut m: BTreeMap<(&'static str, SpecLevel), Counts> = BTreeMap::new();
    for r in rows {
        let c = m.entry((r.file, r.level)).or_default();
        c.rows += 1;
        match r.cover {
            Checks(_) => c.checked += 1,
            Untestable(_) => c.untestable += 1,
            Bundle => c.bundle += 1,
            NotLinux => c.not_linux += 1,
        }
    }
    m
}

fn cover_text(c: &Cover) -> String {
    match c {
        Checks(ids) => ids.join(", "),
        Bundle => {
            "— bundle-side: binds the config author; the suite writes only valid configs".into()
        }
        NotLinux => "— not Linux".into(),
        Untestable(why) => format!("— untestable here: {why}"),
    }
}

fn file_order(f: &str) -> usize {
    FILES.iter().position(|x| *x == f).unwrap_or(FILES.len())
}

/// The counts table (both formats use it).
pub fn render_counts(rows: &[Row]) -> String {
    let m = counts(rows);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| file | level | statements | with checks | untestable on one host | bundle-side | not Linux |"
    );
    let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    let mut keys: Vec<_> = m.keys().copied().collect();
    keys.sort_by_key(|(f, l)| (file_order(f), *l));
    let mut total = Counts::default();
    for k in keys {
        let c = m[&k];
        total.rows += c.rows;
        total.checked += c.checked;
        total.untestable += c.untestable;
        total.bundle += c.bundle;
        total.not_linux += c.not_linux;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            k.0,
            k.1.as_str(),
            c.rows,
            c.checked,
            c.untestable,
            c.bundle,
            c.not_linux
        );
    }
    let _ = writeln!(
        s,
        "| **all** | | **{}** | **{}** | **{}** | **{}** | **{}** |",
        total.rows, total.checked, total.untestable, total.bundle, total.not_linux
    );
    s
}

/// `brig-conformance coverage`: a plain listing and the counts.
pub fn render_text(rows: &[Row]) -> String {
    let mut s = String::new();
    for r in rows {
        let _ = writeln!(
            s,
            "{}#{}  {}  {}\n    -> {}",
            r.file,
            r.section,
            r.level.as_str(),
            r.statement,
            cover_text(&r.cover)
        );
    }
    s.push('\n');
    s.push_str(&render_counts(rows));
    s
}

/// docs/spec-coverage.md.
pub fn render_markdown(rows: &[Row]) -> String {
    let mut s = String::new();
    s.push_str("# Coverage of runtime-spec v1.1.0 by brig-conformance\n\n");
    s.push_str(
        "Generated by `brig-conformance coverage --format markdown > docs/spec-coverage.md` from \
         `conformance/src/coverage.rs`; do not edit by hand (a unit test compares them).\n\n\
         Every normative statement (MUST, MUST NOT, REQUIRED, SHOULD, SHOULD NOT) of runtime.md, \
         runtime-linux.md, config.md, config-linux.md and features.md, in our own words, with the \
         checks that test it. \"(step 2)\" marks a config field whose only keyword is the lifecycle's \
         rule that create builds the environment the config describes. `runc-cli` rows are \
         conventions of runc's command line that engines rely on; their checks are SHOULD.\n\n",
    );
    s.push_str("## Counts\n\n");
    s.push_str(&render_counts(rows));
    let mut files: Vec<&str> = rows.iter().map(|r| r.file).collect();
    files.dedup();
    files.sort_by_key(|f| file_order(f));
    files.dedup();
    for f in files {
        let _ = writeln!(s, "\n## {f}\n");
        let _ = writeln!(s, "| section | level | statement | covered by |");
        let _ = writeln!(s, "| --- | --- | --- | --- |");
        for r in rows.iter().filter(|r| r.file == f) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                r.section,
                r.level.as_str(),
                r.statement.replace('|', "\\|"),
                cover_text(&r.cover).replace('|', "\\|")
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn check_ids() -> HashSet<&'static str> {
        crate::checks::all().iter().map(|c| c.id).collect()
    }

    #[test]
    fn every_row_names_existing_checks() {
        let ids = check_ids();
        for r in rows() {
            if let Checks(list) = r.cover {
                assert!(
                    !list.is_empty(),
                    "{}#{}: empty check list",
                    r.file,
                    r.section
                );
                for id in list {
                    assert!(
                        ids.contains(id),
                        "{}#{} names unknown check {id}",
                        r.file,
                        r.section
                    );
                }
            }
        }
    }

    #[test]
    fn every_check_has_a_row() {
        let covered: HashSet<&str> = rows()
            .iter()
            .flat_map(|r| match r.cover {
                Checks(l) => l.to_vec(),
                _ => Vec::new(),
            })
            .collect();
        for c in crate::checks::all() {
            assert!(covered.contains(c.id), "check {} has no coverage row", c.id);
        }
    }

    #[test]
    fn rows_are_in_known_files_and_sections_are_anchors() {
        for r in rows() {
            assert!(FILES.contains(&r.file), "{}", r.file);
            assert!(
                r.section
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{}",
                r.section
            );
        }
    }

    #[test]
    fn docs_spec_coverage_is_current() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/spec-coverage.md");
        let on_disk = std::fs::read_to_string(&p).unwrap_or_default();
        assert!(
            on_disk == render_markdown(&rows()),
            "docs/spec-coverage.md is stale: run `brig-conformance coverage --format markdown > docs/spec-coverage.md`"
        );
    }
}

//! The probe's subcommands. Each returns one JSON object.

use crate::{emit, Answer, Failure};
use serde_json::{json, Value};
use std::ffi::CString;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::time::{Duration, Instant};

pub const NAMES: &[&str] = &[
    "ns",
    "ids",
    "ps",
    "hostname",
    "net",
    "bind-port",
    "mounts",
    "mount-tmpfs",
    "stat",
    "read",
    "write",
    "append",
    "rm",
    "mkdir",
    "ls",
    "cgroup",
    "caps",
    "shm",
    "hog-mem",
    "spin",
    "fork-bomb",
    "sleep",
    "wait-signal",
    "exit",
    "hook",
    "affinity",
    "rlimits",
    "env",
    "fds",
    "try",
    "tty",
];

pub fn dispatch(name: &str, args: &[String]) -> Answer {
    let a = |i: usize| -> Result<&str, Failure> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| Failure::msg(format!("{name}: missing argument {}", i + 1)))
    };
    let num = |i: usize| -> Result<u64, Failure> {
        let s = a(i)?;
        s.parse::<u64>()
            .map_err(|_| Failure::msg(format!("{name}: {s:?} is not a number")))
    };
    match name {
        "ns" => ns(),
        "ids" => ids(),
        "ps" => ps(),
        "hostname" => hostname(),
        "net" => net(),
        "bind-port" => bind_port(num(0)? as u16),
        "mounts" => mounts(),
        "mount-tmpfs" => mount_tmpfs(a(0)?),
        "stat" => stat(a(0)?),
        "read" => read(a(0)?),
        "write" => write(a(0)?, a(1)?, false),
        "append" => write(a(0)?, a(1)?, true),
        "rm" => rm(a(0)?),
        "mkdir" => fs::create_dir_all(a(0)?)
            .map(|_| json!({"cmd": "mkdir", "ok": true}))
            .map_err(|e| Failure::io("mkdir", e)),
        "ls" => ls(a(0)?),
        "cgroup" => cgroup(),
        "caps" => caps(),
        "shm" => match a(0)? {
            "create" => shm_create(num(1)? as i32),
            "list" => shm_list(),
            other => Err(Failure::msg(format!("shm: unknown action {other:?}"))),
        },
        "hog-mem" => hog_mem(num(0)?),
        "spin" => spin(
            num(0)?,
            args.get(1).map(|_| num(1)).transpose()?.unwrap_or(1),
        ),
        "fork-bomb" => fork_bomb(num(0)?),
        "sleep" => {
            let secs = num(0)?;
            std::thread::sleep(Duration::from_secs(secs));
            Ok(json!({"cmd": "sleep", "slept_s": secs}))
        }
        "wait-signal" => wait_signal(),
        "exit" => std::process::exit(num(0)? as i32),
        "hook" => hook(a(0)?, a(1)?, args.get(2).map(String::as_str)),
        "affinity" => affinity(),
        "rlimits" => rlimits(),
        "env" => Ok(json!({
            "cmd": "env",
            "env": std::env::vars().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "cwd": std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default(),
        })),
        "fds" => Ok(json!({"cmd": "fds", "fds": open_fds()})),
        "tty" => tty(),
        "try" => try_syscall(a(0)?, args.get(1).map(String::as_str)),
        other => Err(Failure::msg(format!("unknown subcommand {other:?}"))),
    }
}

/// Whether stdin is a terminal, and the owner and mode of that terminal.
fn tty() -> Answer {
    // SAFETY: isatty and fstat on fd 0 with a valid stat buffer.
    let is = unsafe { libc::isatty(0) } == 1;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(0, &mut st) } != 0 {
        return Err(Failure::last_os("fstat 0"));
    }
    Ok(json!({
        "cmd": "tty", "isatty": is, "uid": st.st_uid, "gid": st.st_gid,
        "mode": st.st_mode & 0o7777,
        "rdev_major": libc::major(st.st_rdev), "rdev_minor": libc::minor(st.st_rdev),
        "path": fs::read_link("/proc/self/fd/0").map(|p| p.display().to_string()).unwrap_or_default(),
    }))
}

/// The process's open file descriptors and what they point to, without the one used to list them.
pub fn open_fds() -> Value {
    let mut m = serde_json::Map::new();
    let Ok(dir) = fs::read_dir("/proc/self/fd") else {
        return Value::Null;
    };
    let entries: Vec<String> = dir
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for name in entries {
        // The directory stream's own fd is gone by now, so its link no longer resolves.
        if let Ok(target) = fs::read_link(format!("/proc/self/fd/{name}")) {
            m.insert(name, json!(target.to_string_lossy()));
        }
    }
    Value::Object(m)
}

/// Makes one syscall and reports its result and errno, for seccomp checks: `try mkdir PATH`,
/// `try getcwd`, `try uname`, `try close-range`.
fn try_syscall(name: &str, arg: Option<&str>) -> Answer {
    let res: std::io::Result<()> = match name {
        "mkdir" => fs::create_dir(arg.unwrap_or("/tmp/brig-probe-try")),
        "getcwd" => std::env::current_dir().map(|_| ()),
        "uname" => {
            // SAFETY: u is a valid utsname to fill.
            let mut u: libc::utsname = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            if unsafe { libc::uname(&mut u) } == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        }
        "close-range" => {
            // SAFETY: closes no fd in use (the range is far above any open fd).
            let rc = unsafe { libc::syscall(libc::SYS_close_range, 1000u32, 1001u32, 0u32) };
            if rc == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        }
        other => return Err(Failure::msg(format!("try: unknown syscall {other:?}"))),
    };
    Ok(match res {
        Ok(()) => json!({"cmd": "try", "syscall": name, "ok": true}),
        Err(e) => json!({"cmd": "try", "syscall": name, "ok": false, "errno": e.raw_os_error()}),
    })
}

fn ns_inode(kind: &str) -> Value {
    match fs::read_link(format!("/proc/self/ns/{kind}")) {
        Ok(target) => {
            let s = target.to_string_lossy().into_owned();
            let inode = s
                .rsplit_once('[')
                .and_then(|(_, r)| r.trim_end_matches(']').parse::<u64>().ok());
            json!(inode)
        }
        Err(_) => Value::Null,
    }
}

fn ns() -> Answer {
    let mut m = serde_json::Map::new();
    for kind in ["pid", "net", "mnt", "uts", "ipc", "user", "cgroup", "time"] {
        m.insert(kind.to_string(), ns_inode(kind));
    }
    Ok(json!({"cmd": "ns", "pid": std::process::id(), "ns": m}))
}

fn ids() -> Answer {
    // SAFETY: these getters cannot fail and take no pointers.
    let (uid, gid, euid, egid, ppid) = unsafe {
        (
            libc::getuid(),
            libc::getgid(),
            libc::geteuid(),
            libc::getegid(),
            libc::getppid(),
        )
    };
    let mut groups = vec![0 as libc::gid_t; 256];
    // SAFETY: the buffer holds 256 gids and we pass that size.
    let n = unsafe { libc::getgroups(groups.len() as i32, groups.as_mut_ptr()) };
    groups.truncate(n.max(0) as usize);
    Ok(json!({
        "cmd": "ids",
        "pid": std::process::id(),
        "ppid": ppid,
        "uid": uid, "gid": gid, "euid": euid, "egid": egid,
        "groups": groups,
        "uid_map": parse_idmap(&fs::read_to_string("/proc/self/uid_map").unwrap_or_default()),
        "gid_map": parse_idmap(&fs::read_to_string("/proc/self/gid_map").unwrap_or_default()),
    }))
}

fn parse_idmap(s: &str) -> Value {
    let rows: Vec<Value> = s
        .lines()
        .filter_map(|l| {
            let f: Vec<u64> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (f.len() == 3).then(|| json!({"container_id": f[0], "host_id": f[1], "size": f[2]}))
        })
        .collect();
    json!(rows)
}

fn ps() -> Answer {
    let mut procs = Vec::new();
    let dir = fs::read_dir("/proc").map_err(|e| Failure::io("read /proc", e))?;
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let cmdline: Vec<String> = fs::read(format!("/proc/{pid}/cmdline"))
            .unwrap_or_default()
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        procs.push(json!({"pid": pid, "comm": comm.trim_end(), "cmdline": cmdline}));
    }
    procs.sort_by_key(|p| p["pid"].as_u64());
    Ok(json!({"cmd": "ps", "self": std::process::id(), "procs": procs}))
}

fn hostname() -> Answer {
    // SAFETY: utsname is plain old data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: u is a valid utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return Err(Failure::last_os("uname"));
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Ok(json!({
        "cmd": "hostname",
        "hostname": field(&u.nodename),
        "domainname": field(&u.domainname),
    }))
}

fn net() -> Answer {
    let s =
        fs::read_to_string("/proc/net/dev").map_err(|e| Failure::io("read /proc/net/dev", e))?;
    let mut ifaces: Vec<String> = s
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|n| n.trim().to_string()))
        .filter(|n| !n.is_empty())
        .collect();
    ifaces.sort();
    Ok(json!({"cmd": "net", "interfaces": ifaces}))
}

fn bind_port(port: u16) -> Answer {
    match std::net::TcpListener::bind(("0.0.0.0", port)) {
        Ok(l) => {
            // Keep the socket bound for the rest of the chain (for example `+ wait-signal`).
            std::mem::forget(l);
            Ok(json!({"cmd": "bind-port", "port": port, "bound": true}))
        }
        Err(e) => Ok(json!({
            "cmd": "bind-port", "port": port, "bound": false,
            "error": e.to_string(), "errno": e.raw_os_error(),
        })),
    }
}

fn mounts() -> Answer {
    let s = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Failure::io("read /proc/self/mountinfo", e))?;
    let rows: Vec<Value> = s
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let lf: Vec<&str> = left.split(' ').collect();
            let rf: Vec<&str> = right.split(' ').collect();
            Some(json!({
                "mount_point": lf.get(4)?,
                "options": lf.get(5)?,
                "optional": lf.get(6..).map(|x| x.join(" ")).unwrap_or_default(),
                "fstype": rf.first()?,
                "source": rf.get(1)?,
                "super_options": rf.get(2).copied().unwrap_or(""),
            }))
        })
        .collect();
    Ok(json!({"cmd": "mounts", "mounts": rows}))
}

fn cstr(s: &str) -> Result<CString, Failure> {
    CString::new(s).map_err(|_| Failure::msg(format!("{s:?} contains NUL")))
}

fn mount_tmpfs(path: &str) -> Answer {
    fs::create_dir_all(path).map_err(|e| Failure::io("mkdir", e))?;
    let target = cstr(path)?;
    let fstype = cstr("tmpfs")?;
    // SAFETY: all pointers are valid NUL-terminated strings; data may be null.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(Failure::last_os("mount tmpfs"));
    }
    Ok(json!({"cmd": "mount-tmpfs", "path": path, "mounted": true}))
}

fn stat(path: &str) -> Answer {
    match fs::symlink_metadata(path) {
        Ok(m) => {
            let ft = m.file_type();
            let kind = if ft.is_dir() {
                "dir"
            } else if ft.is_file() {
                "file"
            } else if ft.is_symlink() {
                "symlink"
            } else if ft.is_char_device() {
                "char"
            } else if ft.is_block_device() {
                "block"
            } else if ft.is_fifo() {
                "fifo"
            } else {
                "socket"
            };
            Ok(json!({
                "cmd": "stat", "path": path, "exists": true, "kind": kind,
                "uid": m.uid(), "gid": m.gid(), "mode": m.mode() & 0o7777, "size": m.size(),
                "rdev_major": libc::major(m.rdev()), "rdev_minor": libc::minor(m.rdev()),
            }))
        }
        Err(e) => Ok(json!({
            "cmd": "stat", "path": path, "exists": false,
            "error": e.to_string(), "errno": e.raw_os_error(),
        })),
    }
}

fn read(path: &str) -> Answer {
    match fs::read(path) {
        Ok(b) => Ok(json!({"cmd": "read", "path": path, "ok": true,
                           "content": String::from_utf8_lossy(&b)})),
        Err(e) => Ok(json!({"cmd": "read", "path": path, "ok": false,
                            "error": e.to_string(), "errno": e.raw_os_error()})),
    }
}

fn write(path: &str, content: &str, append: bool) -> Answer {
    let res = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .and_then(|mut f| f.write_all(content.as_bytes()));
    let cmd = if append { "append" } else { "write" };
    match res {
        Ok(()) => Ok(json!({"cmd": cmd, "path": path, "ok": true})),
        Err(e) => Ok(json!({"cmd": cmd, "path": path, "ok": false,
                            "error": e.to_string(), "errno": e.raw_os_error()})),
    }
}

fn rm(path: &str) -> Answer {
    let res = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match res {
        Ok(()) => Ok(json!({"cmd": "rm", "path": path, "ok": true})),
        Err(e) => Ok(json!({"cmd": "rm", "path": path, "ok": false,
                            "error": e.to_string(), "errno": e.raw_os_error()})),
    }
}

fn ls(path: &str) -> Answer {
    match fs::read_dir(path) {
        Ok(d) => {
            let mut names: Vec<String> = d
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            Ok(json!({"cmd": "ls", "path": path, "ok": true, "entries": names}))
        }
        Err(e) => Ok(json!({"cmd": "ls", "path": path, "ok": false,
                            "error": e.to_string(), "errno": e.raw_os_error()})),
    }
}

fn cgroup() -> Answer {
    let s = fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| Failure::io("read /proc/self/cgroup", e))?;
    let rows: Vec<Value> = s
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let (h, c, p) = (it.next()?, it.next()?, it.next()?);
            Some(json!({"hierarchy": h.parse::<u32>().ok(), "controllers": c, "path": p}))
        })
        .collect();
    Ok(json!({"cmd": "cgroup", "cgroups": rows}))
}

fn caps() -> Answer {
    let s = fs::read_to_string("/proc/self/status")
        .map_err(|e| Failure::io("read /proc/self/status", e))?;
    let mut m = serde_json::Map::new();
    for line in s.lines() {
        if let Some((k, v)) = line.split_once(':') {
            if matches!(
                k,
                "CapInh" | "CapPrm" | "CapEff" | "CapBnd" | "CapAmb" | "NoNewPrivs" | "Seccomp"
            ) {
                m.insert(k.to_string(), json!(v.trim()));
            }
        }
    }
    Ok(json!({"cmd": "caps", "status": m}))
}

fn shm_create(key: i32) -> Answer {
    // SAFETY: shmget takes no pointers.
    let id = unsafe { libc::shmget(key, 4096, libc::IPC_CREAT | 0o600) };
    if id < 0 {
        return Err(Failure::last_os("shmget"));
    }
    Ok(json!({"cmd": "shm", "key": key, "shmid": id}))
}

fn shm_list() -> Answer {
    let s = fs::read_to_string("/proc/sysvipc/shm")
        .map_err(|e| Failure::io("read /proc/sysvipc/shm", e))?;
    let keys: Vec<i64> = s
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    Ok(json!({"cmd": "shm", "keys": keys}))
}

/// Allocates `mb` MiB one MiB at a time, touching every page so it is really charged.
fn hog_mem(mb: u64) -> Answer {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    for _ in 0..mb {
        let mut chunk = vec![0u8; 1 << 20];
        for i in (0..chunk.len()).step_by(4096) {
            chunk[i] = 1;
        }
        kept.push(chunk);
    }
    let total: usize = kept.iter().map(Vec::len).sum();
    Ok(json!({"cmd": "hog-mem", "allocated_mb": total >> 20}))
}

/// Burns CPU in `threads` threads for `ms` milliseconds of wall time.
fn spin(ms: u64, threads: u64) -> Answer {
    let deadline = Instant::now() + Duration::from_millis(ms);
    let handles: Vec<_> = (0..threads.max(1))
        .map(|_| {
            std::thread::spawn(move || {
                let mut x: u64 = 0;
                while Instant::now() < deadline {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
                x
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    Ok(json!({"cmd": "spin", "ms": ms, "threads": threads}))
}

/// Forks up to `n` children that each wait for the parent to finish, and reports how many forks
/// succeeded and the errno of the first failure.
fn fork_bomb(n: u64) -> Answer {
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(Failure::last_os("pipe"));
    }
    let (rd, wr) = (fds[0], fds[1]);
    let mut children = Vec::new();
    let mut failure: Option<std::io::Error> = None;
    for _ in 0..n {
        // SAFETY: the child only calls async-signal-safe functions (close, read, _exit).
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            failure = Some(std::io::Error::last_os_error());
            break;
        }
        if pid == 0 {
            let mut b = [0u8; 1];
            // SAFETY: plain descriptor calls on our own pipe, then _exit.
            unsafe {
                libc::close(wr);
                libc::read(rd, b.as_mut_ptr().cast(), 1);
                libc::_exit(0);
            }
        }
        children.push(pid);
    }
    // SAFETY: closing our descriptors makes every child's read return 0.
    unsafe {
        libc::close(wr);
        libc::close(rd);
    }
    for pid in &children {
        let mut status = 0;
        // SAFETY: status is a valid int.
        unsafe { libc::waitpid(*pid, &mut status, 0) };
    }
    Ok(json!({
        "cmd": "fork-bomb",
        "requested": n,
        "forked": children.len(),
        // The failed fork is the expected outcome, not a failure of the probe:
        // `error` would make the suite's output watcher judge the probe failed.
        "fork_error": failure.as_ref().map(|e| e.to_string()),
        "errno": failure.as_ref().and_then(|e| e.raw_os_error()),
    }))
}

extern "C" fn ignore(_: libc::c_int) {}

/// Prints `{"waiting":true}`, then waits for any catchable signal and reports it.
fn wait_signal() -> Answer {
    // SAFETY: sigset operations on a local set, and sigaction with a valid handler. A handler
    // is installed because a pid namespace's init ignores signals left at their default action.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in 1..32 {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = ignore as extern "C" fn(libc::c_int) as usize;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
            libc::sigaddset(&mut set, sig);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        emit(&json!({"cmd": "wait-signal", "waiting": true, "pid": std::process::id()}));
        loop {
            let sig = libc::sigwaitinfo(&set, std::ptr::null_mut());
            if sig > 0 {
                return Ok(json!({"cmd": "wait-signal", "signal": sig}));
            }
        }
    }
}

/// An OCI hook: reads the state from stdin and appends `{"hook":NAME,"state":...}` to LOG.
/// With a third argument `fail`, exits 1 after logging.
fn hook(name: &str, log: &str, mode: Option<&str>) -> Answer {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| Failure::io("read stdin", e))?;
    let state: Value = serde_json::from_str(&input).unwrap_or(json!({"unparsable": input}));
    let mut nss = serde_json::Map::new();
    for kind in ["pid", "net", "mnt", "uts", "ipc", "user", "cgroup"] {
        nss.insert(kind.to_string(), ns_inode(kind));
    }
    let line = json!({
        "hook": name, "state": state, "pid": std::process::id(),
        "env": std::env::vars().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "fds": open_fds(), "ns": nss,
    });
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| Failure::io("open hook log", e))?;
    f.write_all(format!("{line}\n").as_bytes())
        .map_err(|e| Failure::io("write hook log", e))?;
    if mode == Some("fail") {
        std::process::exit(1);
    }
    Ok(json!({"cmd": "hook", "hook": name}))
}

fn affinity() -> Answer {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a valid cpu_set_t of the size we pass.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } != 0
    {
        return Err(Failure::last_os("sched_getaffinity"));
    }
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: i is below CPU_SETSIZE.
        .filter(|i| unsafe { libc::CPU_ISSET(*i, &set) })
        .collect();
    Ok(json!({"cmd": "affinity", "cpus": cpus}))
}

fn rlimits() -> Answer {
    let mut m = serde_json::Map::new();
    for (name, res) in [
        ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
        ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
        ("RLIMIT_CORE", libc::RLIMIT_CORE),
        ("RLIMIT_STACK", libc::RLIMIT_STACK),
    ] {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: r is a valid rlimit.
        if unsafe { libc::getrlimit(res, &mut r) } == 0 {
            m.insert(name.into(), json!({"soft": r.rlim_cur, "hard": r.rlim_max}));
        }
    }
    Ok(json!({"cmd": "rlimits", "rlimits": m}))
}

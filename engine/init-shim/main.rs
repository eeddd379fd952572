//! brig-init: the tiny init that `brig container run --init` makes pid 1 of
//! the container, as docker does with tini. It starts the command as its
//! child, forwards every signal it gets to that child, reaps every process
//! that ends up as its child (orphans are re-parented to pid 1), and exits
//! with the command's status (128+n when signal n killed it).
//!
//! It is built by runtime/build.rs as a static executable (glibc's crt-static,
//! no crates, std plus a few libc calls) and embedded in brig: container
//! images need not have any libc for it to run. brig writes it once under
//! the image root and bind-mounts it read-only at /dev/init.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;

#[repr(C)]
struct SigSet([u64; 16]);

extern "C" {
    fn sigfillset(set: *mut SigSet) -> i32;
    fn sigemptyset(set: *mut SigSet) -> i32;
    fn sigprocmask(how: i32, set: *const SigSet, old: *mut SigSet) -> i32;
    fn sigwait(set: *const SigSet, sig: *mut i32) -> i32;
    fn fork() -> i32;
    fn execvp(file: *const i8, argv: *const *const i8) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
    fn _exit(code: i32) -> !;
    fn __errno_location() -> *mut i32;
}

const SIG_SETMASK: i32 = 2;
const WNOHANG: i32 = 1;
const SIGCHLD: i32 = 17;
const ENOENT: i32 = 2;

fn status_code(st: i32) -> i32 {
    if st & 0x7f == 0 {
        (st >> 8) & 0xff
    } else {
        128 + (st & 0x7f)
    }
}

fn main() {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    if args.is_empty() {
        eprintln!("brig-init: usage: brig-init [--] COMMAND [ARG...]");
        std::process::exit(127);
    }
    let cargs: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
        .collect();
    let mut argv: Vec<*const i8> = cargs.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut all = SigSet([0; 16]);
    let mut none = SigSet([0; 16]);
    // SAFETY: plain libc calls on local sigsets; after fork the child only
    // calls async-signal-safe functions (sigprocmask, execvp, _exit, write).
    unsafe {
        sigfillset(&mut all);
        sigemptyset(&mut none);
        sigprocmask(SIG_SETMASK, &all, std::ptr::null_mut());
        let child = fork();
        if child < 0 {
            eprintln!("brig-init: fork: {}", std::io::Error::last_os_error());
            std::process::exit(125);
        }
        if child == 0 {
            sigprocmask(SIG_SETMASK, &none, std::ptr::null_mut());
            execvp(argv[0], argv.as_ptr());
            let errno = *__errno_location();
            let msg = format!(
                "brig-init: exec {}: {}\n",
                args[0].to_string_lossy(),
                std::io::Error::from_raw_os_error(errno)
            );
            use std::io::Write;
            let _ = std::io::stderr().write_all(msg.as_bytes());
            _exit(if errno == ENOENT { 127 } else { 126 });
        }
        loop {
            let mut sig = 0;
            if sigwait(&all, &mut sig) != 0 {
                continue;
            }
            if sig == SIGCHLD {
                loop {
                    let mut st = 0;
                    let pid = waitpid(-1, &mut st, WNOHANG);
                    if pid <= 0 {
                        break;
                    }
                    if pid == child {
                        std::process::exit(status_code(st));
                    }
                }
            } else {
                kill(child, sig);
            }
        }
    }
}

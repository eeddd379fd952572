//! Device rules on cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program built from
//! linux.resources.devices and attached to the cgroup. The raw bpf(2) calls
//! live here and nowhere else (nix has no wrapper).
//!
//! Semantics follow the v1 devices cgroup: rules are read in order and the last
//! one that matches an access decides it; with no match, access is allowed (a
//! new v1 cgroup under the root allows everything). Configs start with
//! "deny all", which, being the last match for everything not allowed later,
//! denies the rest.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::resources::DEVICES;
use crate::{fsutil, CgroupError, Result};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Lets nested cgroups (a container that runs containers) add their own programs.
const BPF_F_ALLOW_MULTI: u32 = 2;

// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; },
// access_type = access << 16 | type.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

/// One eBPF instruction (struct bpf_insn).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    code: u8,
    /// dst in the low nibble, src in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const MOV64_X: u8 = 0xbf;
const MOV64_K: u8 = 0xb7;
const AND64_K: u8 = 0x57;
const RSH64_K: u8 = 0x77;
const JNE_K: u8 = 0x55;
const EXIT: u8 = 0x95;

/// A rule reduced to what the program compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    /// None: any type ('a').
    typ: Option<i32>,
    major: Option<i32>,
    minor: Option<i32>,
    access: i32,
    allow: bool,
}

fn rule(i: usize, d: &LinuxDeviceCgroup) -> Result<Rule> {
    let field = |f: &str| format!("{DEVICES}[{i}].{f}");
    let invalid = |f: &str, msg: String| CgroupError::InvalidResource {
        field: field(f),
        msg,
    };
    let typ = match d.typ().unwrap_or_default() {
        LinuxDeviceType::A => None,
        LinuxDeviceType::B => Some(DEV_BLOCK),
        LinuxDeviceType::C | LinuxDeviceType::U => Some(DEV_CHAR),
        LinuxDeviceType::P => {
            return Err(invalid(
                "type",
                "device rules have no FIFOs (p); only a, b and c".into(),
            ))
        }
    };
    let num = |name: &str, v: Option<i64>| -> Result<Option<i32>> {
        match v {
            None => Ok(None),
            Some(n) if n < 0 => Ok(None),
            Some(n) => i32::try_from(n)
                .map(Some)
                .map_err(|_| invalid(name, format!("{n} is too large"))),
        }
    };
    let access = d.access().as_deref().unwrap_or("");
    let access = if access.is_empty() { "rwm" } else { access };
    let mut bits = 0;
    for c in access.chars() {
        bits |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => {
                return Err(invalid(
                    "access",
                    format!("{access:?} has letters other than r, w and m"),
                ))
            }
        };
    }
    Ok(Rule {
        typ,
        major: num("major", d.major())?,
        minor: num("minor", d.minor())?,
        access: bits,
        allow: d.allow(),
    })
}

/// The program for `rules`. Registers: r2 type, r3 access, r4 major, r5 minor.
pub(crate) fn program(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Insn>> {
    let rules: Vec<Rule> = rules
        .iter()
        .enumerate()
        .map(|(i, d)| rule(i, d))
        .collect::<Result<_>>()?;
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(MOV64_X, 3, 2, 0, 0),
        insn(AND64_K, 2, 0, 0, 0xffff),
        insn(RSH64_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    // Last rule first: the first block that matches returns, so the last
    // matching rule decides.
    for r in rules.iter().rev() {
        // Each check jumps past the block when the access does not match.
        let mut block: Vec<Insn> = Vec::new();
        let mut jumps: Vec<usize> = Vec::new();
        if let Some(t) = r.typ {
            jumps.push(block.len());
            block.push(insn(JNE_K, 2, 0, 0, t));
        }
        if r.access != ACC_READ | ACC_WRITE | ACC_MKNOD {
            // Matches only when every requested access is in the rule.
            block.push(insn(MOV64_X, 6, 3, 0, 0));
            block.push(insn(AND64_K, 6, 0, 0, !r.access & 0x7));
            jumps.push(block.len());
            block.push(insn(JNE_K, 6, 0, 0, 0));
        }
        if let Some(m) = r.major {
            jumps.push(block.len());
            block.push(insn(JNE_K, 4, 0, 0, m));
        }
        if let Some(m) = r.minor {
            jumps.push(block.len());
            block.push(insn(JNE_K, 5, 0, 0, m));
        }
        block.push(insn(MOV64_K, 0, 0, 0, i32::from(r.allow)));
        block.push(insn(EXIT, 0, 0, 0, 0));
        // Each jump skips to the first instruction after the block.
        let len = block.len();
        let catch_all = jumps.is_empty();
        for j in jumps {
            block[j].off = (len - j - 1) as i16;
        }
        p.extend(block);
        // A rule that matches everything decides everything not decided
        // yet: earlier rules could never run, and the verifier refuses
        // unreachable code.
        if catch_all {
            return Ok(p);
        }
    }
    p.push(insn(MOV64_K, 0, 0, 0, 1));
    p.push(insn(EXIT, 0, 0, 0, 0));
    Ok(p)
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// bpf(2). SAFETY (for callers): `attr` must be the attr struct `cmd` expects,
/// with every pointer in it valid for the call.
unsafe fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: per the caller's contract; the size passed is T's own.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn load(prog: &[Insn]) -> io::Result<OwnedFd> {
    let license = CString::new("Apache").expect("no NUL");
    let mut log = vec![0u8; 64 * 1024];
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    attr.prog_name[..7].copy_from_slice(b"brigdev");
    // SAFETY: PROG_LOAD with insns, license and log pointing at live buffers.
    match unsafe { bpf(BPF_PROG_LOAD, &mut attr) } {
        // SAFETY: PROG_LOAD returns a new fd that nothing else owns.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(0);
            let verifier = String::from_utf8_lossy(&log[..end]);
            Err(io::Error::new(
                e.kind(),
                format!("{e}; verifier: {}", verifier.trim()),
            ))
        }
    }
}

fn attached(cgroup: &File) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    // SAFETY: PROG_QUERY with prog_ids pointing at prog_cnt u32s.
    unsafe { bpf(BPF_PROG_QUERY, &mut attr) }?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

/// Load the program for `rules` and attach it to the cgroup at `dir`,
/// replacing the programs an earlier apply attached. The new one is attached
/// before the old ones go, so no access slips through during an update.
pub(crate) fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let prog = program(rules)?;
    let fail = |what: &str, e: io::Error| CgroupError::Unsupported {
        field: DEVICES.into(),
        why: format!("{what} the eBPF device program for {}: {e}", dir.display()),
    };
    let cgroup = File::open(dir).map_err(|e| fsutil::io_err(dir, e))?;
    let old = attached(&cgroup).map_err(|e| fail("querying", e))?;
    let fd = load(&prog).map_err(|e| fail("loading", e))?;
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    // SAFETY: PROG_ATTACH with two fds we hold open.
    unsafe { bpf(BPF_PROG_ATTACH, &mut attr) }.map_err(|e| fail("attaching", e))?;
    for id in old {
        let mut get = GetFdAttr {
            prog_id: id,
            ..Default::default()
        };
        // SAFETY: PROG_GET_FD_BY_ID takes no pointers.
        let old_fd = match unsafe { bpf(BPF_PROG_GET_FD_BY_ID, &mut get) } {
            // SAFETY: a new fd that nothing else owns.
            Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd as i32) },
            // Detached meanwhile.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(fail("finding an earlier", e)),
        };
        let mut detach = AttachAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_bpf_fd: old_fd.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        // SAFETY: PROG_DETACH with two fds we hold open.
        match unsafe { bpf(BPF_PROG_DETACH, &mut detach) } {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(fail("detaching an earlier", e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verifier refuses a program with instructions no path reaches.
    fn assert_all_reachable(p: &[Insn]) {
        let mut seen = vec![false; p.len()];
        let mut todo = vec![0usize];
        while let Some(pc) = todo.pop() {
            if pc >= p.len() || seen[pc] {
                continue;
            }
            seen[pc] = true;
            match p[pc].code {
                EXIT => {}
                JNE_K => todo.extend([pc + 1, pc + 1 + p[pc].off as usize]),
                _ => todo.push(pc + 1),
            }
        }
        assert!(seen.iter().all(|&s| s), "unreachable code in {p:?}");
    }

    /// Run the program the way the kernel would, for unit tests.
    fn run(p: &[Insn], typ: i32, access: i32, major: i32, minor: i32) -> i64 {
        assert_all_reachable(p);
        let ctx = [(access << 16 | typ) as u32, major as u32, minor as u32];
        let mut r = [0i64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => {
                    assert_eq!(src, 1);
                    r[dst] = i64::from(ctx[i.off as usize / 4]);
                }
                MOV64_X => r[dst] = r[src],
                MOV64_K => r[dst] = i64::from(i.imm),
                AND64_K => r[dst] &= i64::from(i.imm),
                RSH64_K => r[dst] >>= i.imm,
                JNE_K => {
                    if r[dst] != i64::from(i.imm) {
                        pc += i.off as usize;
                    }
                }
                EXIT => return r[0],
                other => panic!("unknown opcode {other:#x}"),
            }
        }
    }

    use crate::device_rule as dev;

    #[test]
    fn last_matching_rule_decides() {
        let rules = vec![
            dev(false, LinuxDeviceType::A, None, None, "rwm"),
            dev(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
            dev(true, LinuxDeviceType::C, Some(1), Some(5), "r"),
            dev(true, LinuxDeviceType::C, None, None, "m"),
        ];
        let p = program(&rules).unwrap();
        // /dev/null: everything.
        assert_eq!(run(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 3), 1);
        // /dev/zero: read only.
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 5), 1);
        assert_eq!(run(&p, DEV_CHAR, ACC_WRITE, 1, 5), 0);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 5), 0);
        // mknod of any char device, but not reading one.
        assert_eq!(run(&p, DEV_CHAR, ACC_MKNOD, 10, 200), 1);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 10, 200), 0);
        // Block devices: denied by the first rule.
        assert_eq!(run(&p, DEV_BLOCK, ACC_READ, 254, 0), 0);
    }

    #[test]
    fn rules_before_a_catch_all_are_dropped() {
        let p = program(&[
            dev(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
            dev(false, LinuxDeviceType::A, None, None, "rwm"),
        ])
        .unwrap();
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 3), 0);
        assert_eq!(p.len(), 6 + 2, "only the catch-all block after the loads");
    }

    #[test]
    fn no_catch_all_means_allowed_as_in_v1() {
        let p = program(&[dev(false, LinuxDeviceType::B, Some(254), None, "w")]).unwrap();
        assert_eq!(run(&p, DEV_BLOCK, ACC_WRITE, 254, 1), 0);
        assert_eq!(run(&p, DEV_BLOCK, ACC_READ, 254, 1), 1);
        assert_eq!(run(&p, DEV_CHAR, ACC_WRITE, 1, 3), 1);
        assert_eq!(run(&program(&[]).unwrap(), DEV_CHAR, ACC_READ, 1, 3), 1);
    }

    #[test]
    fn bad_rules_name_the_field() {
        let err = program(&[
            dev(true, LinuxDeviceType::C, Some(1), Some(3), "rw"),
            dev(true, LinuxDeviceType::C, Some(1 << 40), None, "r"),
        ])
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("linux.resources.devices[1].major"),
            "{err}"
        );
    }
}

#!/usr/bin/env python3
"""Generate syscalls.rs: the x86_64, x86 and x32 syscall name tables of brig's seccomp compiler.

Sources, all on a Debian machine:
  - /usr/include/x86_64-linux-gnu/asm/unistd_{64,32,x32}.h (linux-libc-dev: the numbers up to its kernel);
  - LATER below: the syscalls added to the kernel's x86 tables after those headers
    (arch/x86/entry/syscalls/syscall_{32,64}.tbl), checked by hand against the kernel;
  - /usr/include/seccomp-syscalls.h (libseccomp-dev): every name libseccomp knows on any
    architecture. The names of it that x86 does not have become OTHER_ARCHES: accepted in a
    profile (runc/libseccomp accept them) but matching nothing here.
Run with --check to also compare every number with libseccomp's resolver (libseccomp.so.2).

Usage: python3 gen_syscalls.py > syscalls.rs   (from this directory)
"""
import re
import subprocess
import sys

ASM = "/usr/include/x86_64-linux-gnu/asm"
X32_BIT = 0x40000000

# Added to the x86 tables after linux-libc-dev 6.1: (name, x86_64 and x32 number, i386 number).
# uretprobe and uprobe are 64-bit only (x86_64 and x32 share the "common" rows of syscall_64.tbl).
LATER = [
    ("uretprobe", 335, None),
    ("uprobe", 336, None),
    ("cachestat", 451, 451),
    ("fchmodat2", 452, 452),
    ("map_shadow_stack", 453, 453),
    ("futex_wake", 454, 454),
    ("futex_wait", 455, 455),
    ("futex_requeue", 456, 456),
    ("statmount", 457, 457),
    ("listmount", 458, 458),
    ("lsm_get_self_attr", 459, 459),
    ("lsm_set_self_attr", 460, 460),
    ("lsm_list_modules", 461, 461),
    ("mseal", 462, 462),
    ("setxattrat", 463, 463),
    ("getxattrat", 464, 464),
    ("listxattrat", 465, 465),
    ("removexattrat", 466, 466),
    ("open_tree_attr", 467, 467),
    ("file_getattr", 468, 468),
    ("file_setattr", 469, 469),
    ("listns", 470, 470),
]


# i386 multiplexes the socket calls over socketcall(2) and the SysV IPC calls over
# ipc(2); the first argument picks the call (SYS_* in linux/net.h, and the ipc call
# numbers of the kernel's ipc/syscall.c). A rule on one of these names also covers
# the multiplexed form on SCMP_ARCH_X86, as libseccomp does.
SOCKETCALL = {
    "socket": 1, "bind": 2, "connect": 3, "listen": 4, "accept": 5, "getsockname": 6,
    "getpeername": 7, "socketpair": 8, "send": 9, "recv": 10, "sendto": 11, "recvfrom": 12,
    "shutdown": 13, "setsockopt": 14, "getsockopt": 15, "sendmsg": 16, "recvmsg": 17,
    "accept4": 18, "recvmmsg": 19, "sendmmsg": 20,
}
IPC = {
    "semop": 1, "semget": 2, "semctl": 3, "semtimedop": 4, "msgsnd": 11, "msgrcv": 12,
    "msgget": 13, "msgctl": 14, "shmat": 21, "shmdt": 22, "shmget": 23, "shmctl": 24,
}


def header(name):
    out = {}
    with open(f"{ASM}/{name}") as f:
        for line in f:
            m = re.match(r"#define __NR_(\w+)\s+(.+)$", line.strip())
            if not m:
                continue
            val = m.group(2).replace("__X32_SYSCALL_BIT", str(X32_BIT))
            out[m.group(1)] = eval(val.replace("(", " ( ").replace(")", " ) "))  # "(N + M)"
    return out


def tables():
    x86_64 = header("unistd_64.h")
    x86 = header("unistd_32.h")
    x32 = header("unistd_x32.h")
    for name, n64, n32 in LATER:
        for table, nr in ((x86_64, n64), (x32, None if n64 is None else X32_BIT + n64), (x86, n32)):
            if nr is None:
                continue
            if name in table and table[name] != nr:
                sys.exit(f"{name}: header says {table[name]}, LATER says {nr}")
            table[name] = nr
    return x86_64, x86, x32


def libseccomp_names():
    names = set()
    with open("/usr/include/seccomp-syscalls.h") as f:
        for line in f:
            m = re.match(r"#define __SNR_(\w+)\s", line)
            if m:
                names.add(m.group(1))
    return names


def check(x86_64, x86, x32):
    import ctypes
    lib = ctypes.CDLL("libseccomp.so.2")
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    bad = 0
    later = {name for name, _, _ in LATER}
    for token, table in ((0xC000003E, x86_64), (0x40000003, x86), (0x4000003E, x32)):
        for name, nr in table.items():
            got = lib.seccomp_syscall_resolve_name_arch(token, name.encode())
            # libseccomp answers a pseudo number for x86's multiplexed calls that also
            # have a direct number; it adds rules for both, as brig does.
            multiplexed = token == 0x40000003 and (name in SOCKETCALL or name in IPC)
            if got != nr and name not in later and not multiplexed:
                print(f"// MISMATCH arch {token:#x} {name}: brig {nr}, libseccomp {got}", file=sys.stderr)
                bad += 1
    print(f"checked against libseccomp: {bad} mismatches", file=sys.stderr)


def emit(name, doc, table):
    print(f"/// {doc}")
    print(f"pub(super) static {name}: &[(&str, u32)] = &[")
    for n, nr in sorted(table.items()):
        print(f'    ("{n}", {nr:#x}),' if nr >= X32_BIT else f'    ("{n}", {nr}),')
    print("];")
    print()


def main():
    x86_64, x86, x32 = tables()
    if "--check" in sys.argv:
        check(x86_64, x86, x32)
    ours = set(x86_64) | set(x86) | set(x32) | set(SOCKETCALL) | set(IPC)
    other = sorted(libseccomp_names() - ours)
    ver = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "linux-libc-dev"],
                         capture_output=True, text=True).stdout.strip()
    print("// @generated by gen_syscalls.py from linux-libc-dev " + ver +
          " headers, the later x86 syscalls listed in the script, and libseccomp-dev's name list.")
    print("// Do not edit by hand: change the script and run `python3 gen_syscalls.py > syscalls.rs`.")
    print("// Each table is sorted by name for binary search.")
    print()
    emit("X86_64", "SCMP_ARCH_X86_64 (AUDIT_ARCH_X86_64).", x86_64)
    emit("X86", "SCMP_ARCH_X86 (AUDIT_ARCH_I386).", x86)
    emit("X32", "SCMP_ARCH_X32 (AUDIT_ARCH_X86_64, numbers with __X32_SYSCALL_BIT set).", x32)
    print("/// SCMP_ARCH_X86: the calls multiplexed over socketcall(2) (102), by their first argument.")
    print("pub(super) static X86_SOCKETCALL: &[(&str, u32)] = &[")
    for n, sub in sorted(SOCKETCALL.items()):
        print(f'    ("{n}", {sub}),')
    print("];")
    print()
    print("/// SCMP_ARCH_X86: the calls multiplexed over ipc(2) (117), by their first argument.")
    print("pub(super) static X86_IPC: &[(&str, u32)] = &[")
    for n, sub in sorted(IPC.items()):
        print(f'    ("{n}", {sub}),')
    print("];")
    print()
    print("/// Names libseccomp knows on some other architecture and x86 lacks: accepted, match nothing.")
    print("pub(super) static OTHER_ARCHES: &[&str] = &[")
    for n in other:
        print(f'    "{n}",')
    print("];")


main()

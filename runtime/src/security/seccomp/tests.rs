//! The compiler checked by running its BPF in `bpf::simulate` against verdicts
//! written down by hand, and against a reference evaluation of the profile.

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator as Op};
use serde_json::{json, Value};

use super::bpf::{self, SeccompData};
use super::compile::{AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use super::*;

const AARCH64: u32 = 0xc000_00b7;
const MKDIR: i32 = 83;
const PERSONALITY: i32 = 135;
const GETPID: i32 = 39;
const X86_MKDIR: i32 = 39;
const X86_SOCKETCALL: i32 = 102;
const X86_SOCKET: i32 = 359;

fn spec(v: Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("a valid linux.seccomp")
}

fn prog(v: Value) -> Program {
    compile(&spec(v)).expect("compiles")
}

fn run(p: &Program, arch: u32, nr: i32, args: [u64; 6]) -> u32 {
    let d = SeccompData {
        nr,
        arch,
        instruction_pointer: 0x7f00_1234_5678,
        args,
    };
    bpf::simulate(p.instructions(), &d).expect("the program runs")
}

fn x64(p: &Program, nr: i32, a0: u64) -> u32 {
    run(p, AUDIT_ARCH_X86_64, nr, [a0, 0, 0, 0, 0, 0])
}

fn err(v: Value) -> String {
    compile(&spec(v)).expect_err("must not compile").to_string()
}

#[test]
fn every_action_returns_its_kernel_value() {
    let cases = [
        (json!({"action": "SCMP_ACT_KILL"}), ret::KILL_THREAD),
        (json!({"action": "SCMP_ACT_KILL_THREAD"}), ret::KILL_THREAD),
        (
            json!({"action": "SCMP_ACT_KILL_PROCESS"}),
            ret::KILL_PROCESS,
        ),
        (json!({"action": "SCMP_ACT_TRAP"}), ret::TRAP),
        (json!({"action": "SCMP_ACT_ERRNO"}), ret::ERRNO | 1),
        (
            json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 38}),
            ret::ERRNO | 38,
        ),
        (
            json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 0}),
            ret::ERRNO,
        ),
        (json!({"action": "SCMP_ACT_TRACE"}), ret::TRACE | 1),
        (
            json!({"action": "SCMP_ACT_TRACE", "errnoRet": 4242}),
            ret::TRACE | 4242,
        ),
        (json!({"action": "SCMP_ACT_LOG"}), ret::LOG),
        (json!({"action": "SCMP_ACT_NOTIFY"}), ret::USER_NOTIF),
    ];
    for (rule, want) in cases {
        let mut rule = rule;
        rule["names"] = json!(["mkdir"]);
        let p = prog(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "syscalls": [rule],
        }));
        assert_eq!(x64(&p, MKDIR, 0), want, "{rule}");
        assert_eq!(x64(&p, GETPID, 0), ret::ALLOW, "{rule}");
    }
}

#[test]
fn default_action_and_default_errno() {
    let p = prog(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]}),
    );
    assert_eq!(x64(&p, MKDIR, 0), ret::ERRNO | 38);
    assert_eq!(x64(&p, GETPID, 0), ret::ALLOW);
    let p = prog(json!({"defaultAction": "SCMP_ACT_ERRNO"}));
    assert_eq!(x64(&p, MKDIR, 0), ret::ERRNO | 1, "EPERM when not given");
    let p = prog(json!({"defaultAction": "SCMP_ACT_KILL_PROCESS"}));
    assert_eq!(x64(&p, 0, 0), ret::KILL_PROCESS);
    let p = prog(json!({"defaultAction": "SCMP_ACT_LOG"}));
    assert_eq!(x64(&p, 0, 0), ret::LOG);
}

/// The operators, written out once more on u64 for the test.
fn expect(op: Op, value: u64, value_two: u64, arg: u64) -> bool {
    match op {
        Op::ScmpCmpNe => arg != value,
        Op::ScmpCmpLt => arg < value,
        Op::ScmpCmpLe => arg <= value,
        Op::ScmpCmpEq => arg == value,
        Op::ScmpCmpGe => arg >= value,
        Op::ScmpCmpGt => arg > value,
        Op::ScmpCmpMaskedEq => arg & value == value_two & value,
    }
}

const OPS: [(&str, Op); 7] = [
    ("SCMP_CMP_NE", Op::ScmpCmpNe),
    ("SCMP_CMP_LT", Op::ScmpCmpLt),
    ("SCMP_CMP_LE", Op::ScmpCmpLe),
    ("SCMP_CMP_EQ", Op::ScmpCmpEq),
    ("SCMP_CMP_GE", Op::ScmpCmpGe),
    ("SCMP_CMP_GT", Op::ScmpCmpGt),
    ("SCMP_CMP_MASKED_EQ", Op::ScmpCmpMaskedEq),
];

/// Values whose high and low halves each fall below, on and above the
/// compared value's halves.
fn near(v: u64) -> Vec<u64> {
    let (hi, lo) = (v >> 32, v & 0xffff_ffff);
    let mut out = vec![0, 1, u64::MAX, 0xffff_ffff, 1 << 32, v];
    for h in [hi.wrapping_sub(1), hi, hi + 1] {
        for l in [lo.wrapping_sub(1), lo, lo + 1] {
            out.push(((h & 0xffff_ffff) << 32) | (l & 0xffff_ffff));
        }
    }
    out
}

#[test]
fn every_operator_on_both_halves_of_64_bit_arguments() {
    let values = [
        0u64,
        5,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0005,
        0xdead_beef_0000_0001,
        0x8000_0000_8000_0000,
        u64::MAX,
    ];
    for (name, op) in OPS {
        for v in values {
            let (value, value_two) = if op == Op::ScmpCmpMaskedEq {
                (v, 0x1234_5678_9abc_def0u64)
            } else {
                (v, 0)
            };
            for index in [0u64, 3, 5] {
                let p = prog(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                    {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                     "args": [{"index": index, "value": value, "valueTwo": value_two, "op": name}]}]}));
                for arg in near(v).into_iter().chain(near(value_two)) {
                    let mut args = [0x5555_5555_5555_5555; 6];
                    args[index as usize] = arg;
                    let want = if expect(op, value, value_two, arg) {
                        ret::ERRNO | 1
                    } else {
                        ret::ALLOW
                    };
                    assert_eq!(
                        run(&p, AUDIT_ARCH_X86_64, PERSONALITY, args),
                        want,
                        "{name} value {value:#x} valueTwo {value_two:#x}: args[{index}] = {arg:#x}"
                    );
                }
            }
        }
    }
}

#[test]
fn i386_compares_the_low_halves_like_libseccomp() {
    // personality(0xffffffff) denied, the way Docker's profile spells it, and a
    // value with high bits compared by its low half.
    let p = prog(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_EQ"}]},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2,
             "args": [{"index": 1, "value": 0x1_0000_0010u64, "op": "SCMP_CMP_GT"}]}]}),
    );
    let x86 = |nr, a0, a1| run(&p, AUDIT_ARCH_I386, nr, [a0, a1, 0, 0, 0, 0]);
    assert_eq!(x86(136, 0xffff_ffff, 0), ret::ERRNO | 1);
    assert_eq!(x86(136, 0, 0), ret::ALLOW);
    assert_eq!(
        x86(X86_MKDIR, 0, 0x11),
        ret::ERRNO | 2,
        "0x11 > (u32)0x1_0000_0010"
    );
    assert_eq!(x86(X86_MKDIR, 0, 0x10), ret::ALLOW);
}

#[test]
fn args_of_one_rule_are_anded_and_rules_are_ored() {
    let p = prog(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 0, "value": 10, "op": "SCMP_CMP_GE"},
            {"index": 0, "value": 20, "op": "SCMP_CMP_LE"},
            {"index": 1, "value": 7, "op": "SCMP_CMP_NE"}]},
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 2, "value": 0xf0, "valueTwo": 0x30, "op": "SCMP_CMP_MASKED_EQ"}]}]}));
    let call = |a0, a1, a2| run(&p, AUDIT_ARCH_X86_64, PERSONALITY, [a0, a1, a2, 0, 0, 0]);
    assert_eq!(call(15, 0, 0), ret::ERRNO | 1);
    assert_eq!(call(15, 7, 0), ret::ALLOW, "args[1] == 7");
    assert_eq!(call(21, 0, 0), ret::ALLOW, "args[0] > 20");
    assert_eq!(call(9, 0, 0), ret::ALLOW, "args[0] < 10");
    assert_eq!(call(9, 0, 0x3f), ret::ERRNO | 1, "the second rule");
    assert_eq!(call(9, 0, 0x4f), ret::ALLOW);
}

#[test]
fn precedence_is_libseccomps() {
    // A rule without args wins over rules with args, whatever the order.
    let p = prog(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_TRAP",
         "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW"}]}));
    assert_eq!(x64(&p, PERSONALITY, 5), ret::ALLOW);
    // The first rule without args wins.
    let p = prog(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["mkdir"], "action": "SCMP_ACT_TRAP"}]}));
    assert_eq!(x64(&p, MKDIR, 0), ret::ALLOW);
    // A rule with the default action is dropped (libseccomp refuses it, runc skips it).
    let p = prog(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"}]}));
    assert_eq!(x64(&p, MKDIR, 0), ret::ALLOW);
    // Otherwise the first rule whose args match.
    let p = prog(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_TRAP",
         "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_LE"}]},
        {"names": ["personality"], "action": "SCMP_ACT_KILL_PROCESS",
         "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_GE"}]}]}));
    assert_eq!(x64(&p, PERSONALITY, 4), ret::TRAP);
    assert_eq!(x64(&p, PERSONALITY, 6), ret::KILL_PROCESS);
}

#[test]
fn architectures() {
    let deny_mkdir = |arches: Value| {
        prog(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": arches,
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}),
        )
    };
    // None listed: the native one only; the rest is killed.
    let p = deny_mkdir(Value::Null);
    assert_eq!(x64(&p, MKDIR, 0), ret::ERRNO | 1);
    assert_eq!(
        run(&p, AUDIT_ARCH_I386, X86_MKDIR, [0; 6]),
        ret::KILL_PROCESS
    );
    assert_eq!(run(&p, AARCH64, 34, [0; 6]), ret::KILL_PROCESS);
    // x32 numbers on x86_64 are rejected unless x32 is listed (as libseccomp does).
    let x32_mkdir = (X32_SYSCALL_BIT + 83) as i32;
    assert_eq!(
        run(&p, AUDIT_ARCH_X86_64, x32_mkdir, [0; 6]),
        ret::KILL_PROCESS
    );
    assert_eq!(
        run(&p, AUDIT_ARCH_X86_64, (X32_SYSCALL_BIT + 39) as i32, [0; 6]),
        ret::KILL_PROCESS
    );
    assert_eq!(run(&p, AUDIT_ARCH_X86_64, -1, [0; 6]), ret::KILL_PROCESS);

    let p = deny_mkdir(json!([
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32"
    ]));
    assert_eq!(x64(&p, MKDIR, 0), ret::ERRNO | 1);
    assert_eq!(x64(&p, GETPID, 0), ret::ALLOW);
    assert_eq!(run(&p, AUDIT_ARCH_I386, X86_MKDIR, [0; 6]), ret::ERRNO | 1);
    assert_eq!(run(&p, AUDIT_ARCH_I386, 20, [0; 6]), ret::ALLOW);
    assert_eq!(
        run(&p, AUDIT_ARCH_X86_64, x32_mkdir, [0; 6]),
        ret::ERRNO | 1
    );
    assert_eq!(run(&p, AARCH64, 34, [0; 6]), ret::KILL_PROCESS);

    // x32 alone: the native x86_64 is filtered too, as libseccomp always
    // adds it (the rule applies there, not a kill).
    let p = deny_mkdir(json!(["SCMP_ARCH_X32"]));
    assert_eq!(
        run(&p, AUDIT_ARCH_X86_64, x32_mkdir, [0; 6]),
        ret::ERRNO | 1
    );
    assert_eq!(x64(&p, MKDIR, 0), ret::ERRNO | 1);
    assert_eq!(x64(&p, GETPID, 0), ret::ALLOW);

    // An architecture this host cannot run adds nothing and is no error.
    let p = deny_mkdir(json!(["SCMP_ARCH_AARCH64"]));
    assert_eq!(x64(&p, MKDIR, 0), ret::ERRNO | 1);
    assert_eq!(run(&p, AARCH64, 34, [0; 6]), ret::KILL_PROCESS);

    // SCMP_ARCH_NATIVE is x86_64 here.
    let p = deny_mkdir(json!(["SCMP_ARCH_NATIVE"]));
    assert_eq!(x64(&p, MKDIR, 0), ret::ERRNO | 1);
}

#[test]
fn i386_socket_calls_are_also_filtered_through_socketcall() {
    let p = prog(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97},
            {"names": ["recv"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}]}),
    );
    let x86 = |nr, a0| run(&p, AUDIT_ARCH_I386, nr, [a0, 0, 0, 0, 0, 0]);
    assert_eq!(x86(X86_SOCKET, 2), ret::ERRNO | 97);
    assert_eq!(x86(X86_SOCKETCALL, 1), ret::ERRNO | 97, "SYS_SOCKET");
    assert_eq!(x86(X86_SOCKETCALL, 10), ret::ERRNO | 5, "SYS_RECV");
    assert_eq!(x86(X86_SOCKETCALL, 3), ret::ALLOW, "SYS_CONNECT");

    // An ALLOW rule with args cannot be checked through socketcall: left out.
    let p = prog(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
    );
    assert_eq!(
        run(&p, AUDIT_ARCH_I386, X86_SOCKET, [1, 0, 0, 0, 0, 0]),
        ret::ALLOW
    );
    assert_eq!(
        run(&p, AUDIT_ARCH_I386, X86_SOCKETCALL, [1, 0, 0, 0, 0, 0]),
        ret::ERRNO | 1
    );
}

#[test]
fn names_of_other_architectures_are_accepted_and_match_nothing() {
    let p = prog(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["cacheflush", "recv", "socketcall", "_llseek", "mkdir"], "action": "SCMP_ACT_ERRNO"}]}));
    assert_eq!(x64(&p, MKDIR, 0), ret::ERRNO | 1);
    assert_eq!(x64(&p, GETPID, 0), ret::ALLOW);
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["read", "write", "mkdirat_typo"], "action": "SCMP_ACT_ERRNO"}]}),
            "linux.seccomp.syscalls[1].names[2]: unknown syscall \"mkdirat_typo\"",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 1, "value": 1, "op": "SCMP_CMP_EQ"},
                          {"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
            "linux.seccomp.syscalls[0].args[1].index: argument 6 does not exist",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 1, "valueTwo": 2, "op": "SCMP_CMP_EQ"}]}]}),
            "linux.seccomp.syscalls[0].args[0].valueTwo: only SCMP_CMP_MASKED_EQ",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]}),
            "linux.seccomp.syscalls[0].errnoRet: SCMP_ACT_ALLOW takes no errno value",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}),
            "linux.seccomp.defaultErrnoRet: SCMP_ACT_ALLOW takes no errno value",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 4096}),
            "linux.seccomp.defaultErrnoRet: errno 4096 is above",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 65536}]}),
            "linux.seccomp.syscalls[0].errnoRet: trace value 65536",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"}),
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
            "linux.seccomp.listenerPath: a SCMP_ACT_NOTIFY rule needs a listenerPath",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x", "syscalls": [
                {"names": ["mkdir", "write"], "action": "SCMP_ACT_NOTIFY"}]}),
            "linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for write",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW",
                   "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}),
            "linux.seccomp.flags[1]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": [], "action": "SCMP_ACT_ERRNO"}]}),
            "linux.seccomp.syscalls[0].names: no syscall names",
        ),
    ];
    for (v, want) in cases {
        let got = err(v.clone());
        assert!(got.starts_with(want), "{v}\n got: {got}\nwant: {want}...");
    }
}

#[test]
fn unknown_actions_operators_and_flags_fail_to_parse() {
    // oci-spec's enums refuse them while config.json is read, before compile.
    for v in [
        json!({"defaultAction": "SCMP_ACT_FOO"}),
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}),
        json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FOO"]}),
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"],
            "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}]}),
    ] {
        assert!(
            serde_json::from_value::<LinuxSeccomp>(v.clone()).is_err(),
            "{v}"
        );
    }
}

#[test]
fn flags() {
    let p = prog(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}));
    assert_eq!(p.flags(), FLAG_LOG | FLAG_SPEC_ALLOW);
    assert!(!p.has_listener());
    let p = prog(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
    );
    assert_eq!(
        p.flags(),
        FLAG_TSYNC | FLAG_TSYNC_ESRCH | FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV
    );
    assert!(p.has_listener());
}

#[test]
fn syscall_tables_are_sorted_and_right_where_checked() {
    use super::syscalls::*;
    for t in [X86_64, X86, X32, X86_SOCKETCALL, X86_IPC] {
        assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
    }
    assert!(OTHER_ARCHES.windows(2).all(|w| w[0] < w[1]));
    let r = |t: Target, n| t.resolve(n);
    assert_eq!(r(Target::X86_64, "mkdir"), Some(83));
    assert_eq!(r(Target::X86_64, "personality"), Some(135));
    assert_eq!(r(Target::X86_64, "clone3"), Some(435));
    assert_eq!(r(Target::X86_64, "listns"), Some(470));
    assert_eq!(r(Target::X86, "mkdir"), Some(39));
    assert_eq!(r(Target::X86, "socketcall"), Some(102));
    assert_eq!(r(Target::X86, "mseal"), Some(462));
    assert_eq!(r(Target::X32, "mkdir"), Some(X32_SYSCALL_BIT + 83));
    assert_eq!(r(Target::X32, "execve"), Some(X32_SYSCALL_BIT + 520));
    assert_eq!(r(Target::X32, "rt_sigaction"), Some(X32_SYSCALL_BIT + 512));
    assert_eq!(r(Target::X86_64, "socketcall"), None);
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

const INTERESTING: [u64; 10] = [
    0,
    1,
    5,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0005,
    0xffff_ffff_0000_0000,
    0x8000_0000_0000_0001,
    u64::MAX,
    0x0000_0002_ffff_fffe,
];

fn value(rng: &mut Rng) -> u64 {
    if rng.below(4) == 0 {
        rng.next()
    } else {
        *rng.pick(&INTERESTING)
    }
}

/// The profile's meaning, evaluated straight from the config: what the BPF
/// must return. Independent of the plan the compiler builds.
fn reference(s: &LinuxSeccomp, d: &SeccompData) -> u32 {
    let action = |a: LinuxSeccompAction, e: Option<u32>| match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => 0,
        LinuxSeccompAction::ScmpActKillProcess => ret::KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => ret::TRAP,
        LinuxSeccompAction::ScmpActErrno => ret::ERRNO | e.unwrap_or(1),
        LinuxSeccompAction::ScmpActTrace => ret::TRACE | e.unwrap_or(1),
        LinuxSeccompAction::ScmpActLog => ret::LOG,
        LinuxSeccompAction::ScmpActAllow => ret::ALLOW,
        LinuxSeccompAction::ScmpActNotify => ret::USER_NOTIF,
    };
    let default = action(s.default_action(), s.default_errno_ret());
    let nr = d.nr as u32;
    let t = match d.arch {
        AUDIT_ARCH_I386 => Target::X86,
        AUDIT_ARCH_X86_64 if nr >= X32_SYSCALL_BIT => Target::X32,
        AUDIT_ARCH_X86_64 => Target::X86_64,
        _ => return ret::KILL_PROCESS,
    };
    // The native x86_64 always, whatever is listed (other arches map to it too).
    let listed: Vec<Target> = match s.architectures().as_deref() {
        None | Some([]) => vec![Target::X86_64],
        Some(v) => std::iter::once(&oci_spec::runtime::Arch::ScmpArchNative)
            .chain(v.iter())
            .map(|a| match a {
                oci_spec::runtime::Arch::ScmpArchX86 => Target::X86,
                oci_spec::runtime::Arch::ScmpArchX32 => Target::X32,
                _ => Target::X86_64,
            })
            .collect(),
    };
    if !listed.contains(&t) {
        return ret::KILL_PROCESS;
    }
    let arg32 = t == Target::X86;
    // (conditions as (index, op, value, valueTwo), action) in config order.
    type Conds = Vec<(usize, Op, u64, u64)>;
    let mut cands: Vec<(Conds, u32)> = Vec::new();
    for sc in s.syscalls().iter().flatten() {
        let a = action(sc.action(), sc.errno_ret());
        let conds: Vec<_> = sc
            .args()
            .iter()
            .flatten()
            .map(|c| (c.index(), c.op(), c.value(), c.value_two().unwrap_or(0)))
            .collect();
        for name in sc.names() {
            if t.resolve(name) == Some(nr) {
                cands.push((conds.clone(), a));
            }
            if t == Target::X86 {
                let mux = super::syscalls::X86_SOCKETCALL
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, sub)| (102, *sub))
                    .or_else(|| {
                        super::syscalls::X86_IPC
                            .iter()
                            .find(|(n, _)| n == name)
                            .map(|(_, sub)| (117, *sub))
                    });
                if let Some((mnr, sub)) = mux {
                    let permissive = a == ret::ALLOW || a == ret::LOG;
                    if mnr == nr && (conds.is_empty() || !permissive) {
                        cands.push((vec![(0, Op::ScmpCmpEq, sub as u64, 0)], a));
                    }
                }
            }
        }
    }
    cands.retain(|(_, a)| *a != default);
    if let Some((_, a)) = cands.iter().find(|(c, _)| c.is_empty()) {
        return *a;
    }
    let mask = if arg32 { 0xffff_ffff } else { u64::MAX };
    cands
        .iter()
        .find(|(conds, _)| {
            conds
                .iter()
                .all(|(i, op, v, v2)| expect(*op, v & mask, v2 & mask, d.args[*i] & mask))
        })
        .map_or(default, |(_, a)| *a)
}

fn random_profile(rng: &mut Rng, big: bool) -> Value {
    const POOL: [&str; 16] = [
        "mkdir",
        "personality",
        "socket",
        "read",
        "openat",
        "clone",
        "getpid",
        "recv",
        "accept",
        "semop",
        "ipc",
        "socketcall",
        "arch_prctl",
        "_llseek",
        "mmap",
        "fchmodat2",
    ];
    let actions = [
        json!({"action": "SCMP_ACT_ALLOW"}),
        json!({"action": "SCMP_ACT_ERRNO"}),
        json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 38}),
        json!({"action": "SCMP_ACT_KILL_PROCESS"}),
        json!({"action": "SCMP_ACT_KILL"}),
        json!({"action": "SCMP_ACT_TRAP"}),
        json!({"action": "SCMP_ACT_TRACE", "errnoRet": 7}),
        json!({"action": "SCMP_ACT_LOG"}),
        json!({"action": "SCMP_ACT_NOTIFY"}),
    ];
    let arch_sets = [
        json!(null),
        json!(["SCMP_ARCH_X86_64"]),
        json!(["SCMP_ARCH_X86"]),
        json!(["SCMP_ARCH_X32"]),
        json!(["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]),
        json!(["SCMP_ARCH_X32", "SCMP_ARCH_X86_64"]),
    ];
    let n_rules = if big {
        150 + rng.below(150)
    } else {
        rng.below(8)
    };
    let mut rules = Vec::new();
    for _ in 0..n_rules {
        let mut r = rng.pick(&actions).clone();
        let n_names = 1 + rng.below(3);
        let names: Vec<&str> = (0..n_names)
            .map(|_| {
                if big || rng.below(3) == 0 {
                    rng.pick(super::syscalls::X86_64).0
                } else {
                    *rng.pick(&POOL)
                }
            })
            .filter(|n| *n != "write" && *n != "sendmsg")
            .collect();
        if names.is_empty() {
            continue;
        }
        r["names"] = json!(names);
        if rng.below(if big { 5 } else { 2 }) == 0 {
            let args: Vec<Value> = (0..1 + rng.below(3))
                .map(|_| {
                    let (op, _) = *rng.pick(&OPS);
                    let mut a = json!({"index": rng.below(6), "value": value(rng), "op": op});
                    if op == "SCMP_CMP_MASKED_EQ" {
                        a["valueTwo"] = json!(value(rng));
                    }
                    a
                })
                .collect();
            r["args"] = json!(args);
        }
        rules.push(r);
    }
    let mut p = rng.pick(&actions[..8]).clone();
    if let Some(e) = p.get("errnoRet").cloned() {
        p["defaultErrnoRet"] = e;
        p.as_object_mut().unwrap().remove("errnoRet");
    }
    p["defaultAction"] = p["action"].take();
    p.as_object_mut().unwrap().remove("action");
    p["architectures"] = rng.pick(&arch_sets).clone();
    p["listenerPath"] = json!("/run/agent.sock");
    p["syscalls"] = json!(rules);
    p
}

#[test]
fn compiled_programs_agree_with_the_reference_on_random_profiles() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut checked, mut too_big) = (0, 0);
    for round in 0..240 {
        let big = round % 20 == 0;
        let v = random_profile(&mut rng, big);
        let s = spec(v.clone());
        let p = match compile(&s) {
            Ok(p) => p,
            // A big random profile on three architectures may pass the kernel's limit.
            Err(e) if big && e.to_string().contains("at most 4096") => {
                too_big += 1;
                continue;
            }
            Err(e) => panic!("round {round}: {e}\n{v}"),
        };
        assert_eq!(bpf::check(p.instructions()), Ok(()));
        let plan = compile::plan(&s).unwrap();
        // Syscall numbers worth trying: those of the profile's names, neighbours, odd ones.
        let mut nrs: Vec<i32> = vec![0, 1, 102, 117, 500, -1];
        for sc in s.syscalls().iter().flatten() {
            for n in sc.names() {
                for t in [Target::X86_64, Target::X86, Target::X32] {
                    if let Some(nr) = t.resolve(n) {
                        nrs.extend([nr as i32, nr as i32 + 1, nr as i32 - 1]);
                    }
                }
            }
        }
        let arches = [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, AARCH64];
        let tries = if big { 1500 } else { 250 };
        for _ in 0..tries {
            let mut args = [0u64; 6];
            for a in &mut args {
                *a = value(&mut rng);
            }
            if rng.below(3) == 0 {
                args[0] = rng.below(25) as u64; // socketcall and ipc call numbers
            }
            let d = SeccompData {
                nr: *rng.pick(&nrs),
                arch: *rng.pick(&arches),
                instruction_pointer: 0,
                args,
            };
            let want = reference(&s, &d);
            let got = bpf::simulate(p.instructions(), &d).unwrap();
            assert_eq!(got, want, "round {round}: {d:?}\n{v}");
            assert_eq!(plan.verdict(&d), want, "plan, round {round}: {d:?}\n{v}");
            checked += 1;
        }
    }
    assert!(too_big <= 5, "{too_big} profiles too big");
    assert!(checked > 60_000, "{checked}");
}

#[test]
fn a_docker_sized_profile_stays_small_and_far_jumps_work() {
    // Every x86_64 syscall but a few allowed, on three architectures, with rules
    // with args spread between them: conditional jumps must go past 255
    // instructions through trampolines.
    let names: Vec<&str> = super::syscalls::X86_64
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !["mount", "umount2", "reboot", "personality", "clone"].contains(n))
        .collect();
    let mut rules = vec![json!({"names": names, "action": "SCMP_ACT_ALLOW"})];
    for v in [0u64, 8, 0x20000, 0x20008, 0xffff_ffff] {
        rules.push(json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]}));
    }
    rules.push(json!({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}));
    let v = json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": rules});
    let s = spec(v);
    let p = compile(&s).unwrap();
    let n = p.instructions().len();
    assert!(n < 1000, "{n} instructions");
    let has_far_jump = p.instructions().iter().any(|i| i.code == bpf::JMP_JA);
    let mut rng = Rng(7);
    for nr in (0..560).chain(X32_SYSCALL_BIT..X32_SYSCALL_BIT + 560) {
        for arch in [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386] {
            let mut args = [0u64; 6];
            args[0] = *rng.pick(&[0, 8, 0x20000, 0xffff_ffff, 0x1_0000_0000, 0x1000_0000]);
            let d = SeccompData {
                nr: nr as i32,
                arch,
                instruction_pointer: 0,
                args,
            };
            assert_eq!(
                bpf::simulate(p.instructions(), &d).unwrap(),
                reference(&s, &d),
                "{d:?}"
            );
        }
    }
    // The test is only worth its name if the program needed trampolines; with
    // a tree this compact it may not, so force long runs of conditional rules.
    let mut rules = Vec::new();
    for (i, (n, _)) in super::syscalls::X86_64.iter().enumerate().step_by(2) {
        rules.push(
            json!({"names": [n], "action": "SCMP_ACT_ERRNO", "errnoRet": i % 4000,
            "args": [{"index": i % 6, "value": i as u64 * 0x1_0000_0001, "op": "SCMP_CMP_LT"}]}),
        );
    }
    let s = spec(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}));
    let p = compile(&s).unwrap();
    assert!(
        has_far_jump || p.instructions().iter().any(|i| i.code == bpf::JMP_JA),
        "no trampoline was needed"
    );
    for nr in 0..480 {
        for k in 0..6u64 {
            let d = SeccompData {
                nr,
                arch: AUDIT_ARCH_X86_64,
                instruction_pointer: 0,
                args: [k * 0x1_0000_0001 * 90; 6],
            };
            assert_eq!(
                bpf::simulate(p.instructions(), &d).unwrap(),
                reference(&s, &d)
            );
        }
    }
}

#[test]
fn the_simulator_refuses_what_the_kernel_refuses() {
    use bpf::Insn;
    let ret = Insn {
        code: bpf::RET_K,
        jt: 0,
        jf: 0,
        k: 0,
    };
    assert!(bpf::check(&[]).is_err());
    assert!(bpf::check(&[ret]).is_ok());
    let jump_out = Insn {
        code: bpf::JMP_JEQ,
        jt: 1,
        jf: 0,
        k: 0,
    };
    assert!(bpf::check(&[jump_out, ret]).is_err());
    let bad_load = Insn {
        code: bpf::LD_W_ABS,
        jt: 0,
        jf: 0,
        k: 64,
    };
    assert!(bpf::check(&[bad_load, ret]).is_err());
    let load = Insn { k: 0, ..bad_load };
    assert!(bpf::check(&[ret, load]).is_err(), "must end in a return");
}

#[test]
fn fds_travel_over_a_socket() {
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;
    let (a, b) = UnixStream::pair().unwrap();
    let mut f = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut f, b"hello").unwrap();
    let n = send_fd(a.as_fd(), f.as_fd(), b"payload").unwrap();
    assert_eq!(n, 7);
    let mut buf = [0u8; 64];
    let (n, fd) = recv_fd(b.as_fd(), &mut buf).unwrap();
    assert_eq!(&buf[..n], b"payload");
    let mut got = std::fs::File::from(fd.expect("an fd came along"));
    use std::io::Seek;
    got.rewind().unwrap();
    let mut s = String::new();
    got.read_to_string(&mut s).unwrap();
    assert_eq!(s, "hello");
}

#[test]
fn features_lists_what_the_kernel_takes() {
    let f = features();
    assert_eq!(f["enabled"], true);
    let actions: Vec<&str> = f["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // Every kernel brig targets (>= 5.0) has these.
    for a in [
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_NOTIFY",
    ] {
        assert!(actions.contains(&a), "{a}: {f}");
    }
    let supported = f["supportedFlags"].as_array().unwrap();
    assert!(
        supported.contains(&json!("SECCOMP_FILTER_FLAG_TSYNC")),
        "{f}"
    );
}

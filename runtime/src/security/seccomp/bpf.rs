//! Classic BPF as seccomp uses it: the instruction, a backward assembler that
//! resolves every jump as it emits it, a checker for the kernel's rules, and an
//! interpreter that runs a program on a `SeccompData` exactly as the kernel would.
//!
//! Only the handful of opcodes the compiler emits exist here: 32-bit absolute
//! loads from `seccomp_data`, AND with a constant, the four conditional jumps on a
//! constant, the unconditional jump and return of a constant.

use std::collections::HashMap;

/// One instruction, laid out as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// BPF_LD | BPF_W | BPF_ABS: A = 32-bit word of seccomp_data at offset k.
pub const LD_W_ABS: u16 = 0x20;
/// BPF_ALU | BPF_AND | BPF_K: A &= k.
pub const ALU_AND_K: u16 = 0x54;
/// BPF_JMP | BPF_JA: pc += k.
pub const JMP_JA: u16 = 0x05;
/// BPF_JMP | BPF_JEQ | BPF_K.
pub const JMP_JEQ: u16 = 0x15;
/// BPF_JMP | BPF_JGT | BPF_K (unsigned).
pub const JMP_JGT: u16 = 0x25;
/// BPF_JMP | BPF_JGE | BPF_K (unsigned).
pub const JMP_JGE: u16 = 0x35;
/// BPF_JMP | BPF_JSET | BPF_K.
pub const JMP_JSET: u16 = 0x45;
/// BPF_RET | BPF_K.
pub const RET_K: u16 = 0x06;

/// The kernel's limit on one filter (BPF_MAXINSNS).
pub const MAX_INSNS: usize = 4096;

/// Offsets in `struct seccomp_data` (little-endian x86).
pub const OFF_NR: u32 = 0;
pub const OFF_ARCH: u32 = 4;
pub const fn off_arg_lo(i: u8) -> u32 {
    16 + 8 * i as u32
}
pub const fn off_arg_hi(i: u8) -> u32 {
    16 + 8 * i as u32 + 4
}

/// What the kernel hands a filter: `struct seccomp_data`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeccompData {
    pub nr: i32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    /// The 32-bit word at `off`, as a BPF_W | BPF_ABS load reads it on a
    /// little-endian machine. `None` past the end or unaligned.
    pub fn word(&self, off: u32) -> Option<u32> {
        if off & 3 != 0 {
            return None;
        }
        Some(match off {
            0 => self.nr as u32,
            4 => self.arch,
            8 => self.instruction_pointer as u32,
            12 => (self.instruction_pointer >> 32) as u32,
            16..=63 => {
                let a = self.args[((off - 16) / 8) as usize];
                if (off - 16) & 7 == 0 {
                    a as u32
                } else {
                    (a >> 32) as u32
                }
            }
            _ => return None,
        })
    }
}

/// Run a program the way the kernel's seccomp BPF interpreter does and return
/// the action. Errors on anything the kernel's checker would refuse at load time,
/// or that the interpreter reaches and cannot run.
pub fn simulate(prog: &[Insn], data: &SeccompData) -> Result<u32, String> {
    check(prog)?;
    let mut a: u32 = 0;
    let mut pc = 0usize;
    loop {
        let i = prog
            .get(pc)
            .ok_or_else(|| format!("pc {pc} ran off the end"))?;
        pc += 1;
        match i.code {
            LD_W_ABS => {
                a = data
                    .word(i.k)
                    .ok_or_else(|| format!("bad load offset {}", i.k))?
            }
            ALU_AND_K => a &= i.k,
            JMP_JA => pc += i.k as usize,
            JMP_JEQ | JMP_JGT | JMP_JGE | JMP_JSET => {
                let taken = match i.code {
                    JMP_JEQ => a == i.k,
                    JMP_JGT => a > i.k,
                    JMP_JGE => a >= i.k,
                    _ => a & i.k != 0,
                };
                pc += if taken { i.jt } else { i.jf } as usize;
            }
            RET_K => return Ok(i.k),
            c => return Err(format!("pc {}: opcode {c:#x} not supported", pc - 1)),
        }
    }
}

/// The static rules the kernel checks when a filter is loaded (sk_chk_filter and
/// seccomp_check_filter), for the opcodes we emit: a length of 1..=4096, every
/// jump inside the program, loads aligned and inside seccomp_data, and a return
/// as the last instruction.
pub fn check(prog: &[Insn]) -> Result<(), String> {
    if prog.is_empty() || prog.len() > MAX_INSNS {
        return Err(format!(
            "{} instructions (the kernel takes 1 to {MAX_INSNS})",
            prog.len()
        ));
    }
    let n = prog.len();
    for (pc, i) in prog.iter().enumerate() {
        let rest = n - pc - 1;
        match i.code {
            LD_W_ABS => {
                if i.k & 3 != 0 || i.k >= 64 {
                    return Err(format!("pc {pc}: load offset {} outside seccomp_data", i.k));
                }
            }
            ALU_AND_K | RET_K => {}
            JMP_JA => {
                if i.k as usize >= rest {
                    return Err(format!("pc {pc}: ja {} leaves the program", i.k));
                }
            }
            JMP_JEQ | JMP_JGT | JMP_JGE | JMP_JSET => {
                if i.jt as usize >= rest || i.jf as usize >= rest {
                    return Err(format!("pc {pc}: jump leaves the program"));
                }
            }
            c => return Err(format!("pc {pc}: opcode {c:#x} not allowed")),
        }
    }
    if prog[n - 1].code != RET_K {
        return Err("the last instruction is not a return".into());
    }
    Ok(())
}

/// A place in the program being assembled: the index of an instruction counted
/// from the END of the program. Code is emitted last instruction first, so every
/// jump target exists when the jump is emitted (BPF jumps only go forward).
pub type Label = usize;

/// The backward assembler. Conditional jumps reach at most 255 instructions
/// ahead; a farther target gets an unconditional `ja` trampoline (32-bit reach)
/// right after the jump.
#[derive(Default)]
pub struct Asm {
    rev: Vec<Insn>,
    rets: HashMap<u32, Label>,
}

impl Asm {
    /// The label the next emitted instruction will get.
    fn pos(&self) -> Label {
        self.rev.len()
    }

    fn push(&mut self, i: Insn) -> Label {
        self.rev.push(i);
        self.rev.len() - 1
    }

    /// Forward distance from an instruction about to be emitted to `t`.
    fn dist(&self, t: Label) -> usize {
        self.pos() - t - 1
    }

    /// Make `next` the instruction that sequential flow reaches: a `ja` unless it
    /// is the last one emitted.
    fn flow_into(&mut self, next: Label) {
        if next + 1 != self.pos() {
            self.goto(next);
        }
    }

    /// `A = seccomp_data[off]`, then go on at `next`.
    pub fn load(&mut self, off: u32, next: Label) -> Label {
        self.flow_into(next);
        self.push(Insn {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: off,
        })
    }

    /// `A &= k`, then go on at `next`.
    pub fn and(&mut self, k: u32, next: Label) -> Label {
        self.flow_into(next);
        self.push(Insn {
            code: ALU_AND_K,
            jt: 0,
            jf: 0,
            k,
        })
    }

    /// A `return action` target: reuses one emitted nearby, else emits one.
    pub fn ret(&mut self, action: u32) -> Label {
        if let Some(&l) = self.rets.get(&action) {
            if self.dist(l) <= 200 {
                return l;
            }
        }
        let l = self.push(Insn {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: action,
        });
        self.rets.insert(action, l);
        l
    }

    /// `pc = t`.
    pub fn goto(&mut self, t: Label) -> Label {
        let k = self.dist(t) as u32;
        self.push(Insn {
            code: JMP_JA,
            jt: 0,
            jf: 0,
            k,
        })
    }

    /// `if (A <op> k) goto jt else goto jf`, with trampolines for far targets.
    pub fn jump(&mut self, code: u16, k: u32, jt: Label, jf: Label) -> Label {
        if jt == jf {
            return if self.dist(jt) == 0 {
                jt
            } else {
                self.goto(jt)
            };
        }
        let jt = if self.dist(jt) > 255 {
            self.goto(jt)
        } else {
            jt
        };
        let jf = if self.dist(jf) > 255 {
            self.goto(jf)
        } else {
            jf
        };
        let (t, f) = (self.dist(jt), self.dist(jf));
        self.push(Insn {
            code,
            jt: t as u8,
            jf: f as u8,
            k,
        })
    }

    /// The program in execution order.
    pub fn finish(mut self) -> Vec<Insn> {
        self.rev.reverse();
        self.rev
    }
}

//! The seccomp sandbox: the only wall between the guest and the host.
//!
//! The filter is built at run time, when the real file descriptors and
//! limits are known, from the rules each tender module contributes
//! ([`Rules`]). It has two parts:
//!
//! 1. a raw BPF prefix on `seccomp_data.instruction_pointer`: any syscall
//!    issued from below the end of guest memory (guest memory, and the
//!    syscall sled and reserved pages under it, where nothing of the
//!    tender lives) returns `SECCOMP_RET_TRAP`, whatever its number, so
//!    even an allowed syscall never reaches the host from guest code (the
//!    tender's SIGSYS handler then forwards or reports it). So
//!    does any 32-bit syscall, wherever the host says it came from: the
//!    tender makes none, and the host reports a 32-bit `sysenter` at its
//!    own return address (the 32-bit vDSO's, outside guest memory), so
//!    only this catches a guest program's;
//! 2. the seccompiler program: the allowed syscalls with their argument
//!    pins; anything else kills the process.
//!
//! It is installed last, right before the jump into the guest, and there is
//! no way to run without it.

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch, sock_filter,
};
use std::collections::BTreeMap;

/// Why the sandbox could not be built or installed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// seccompiler refused a rule or the filter.
    #[error("cannot build the seccomp filter: {0}")]
    Build(String),
    /// The kernel refused the filter.
    #[error("cannot install the seccomp filter: {0}")]
    Install(String),
    /// Host code lies where the filter traps every syscall.
    #[error("host code at {0:#x}..{1:#x} lies below the end of guest memory {2:#x}")]
    HostCodeLow(u64, u64, u64),
}

/// One argument pin: `arg[index] OP value`.
#[derive(Debug, Clone, Copy)]
pub enum Pin {
    /// Argument equals the value.
    Eq(u8, u64),
    /// Argument is at most the value.
    Le(u8, u64),
}

/// The allowed syscalls, each with the conditions under which it is
/// allowed (a list of alternatives, each a conjunction of pins).
#[derive(Debug, Default)]
pub struct Rules {
    map: BTreeMap<i64, Vec<Vec<Pin>>>,
}

impl Rules {
    /// Allow syscall `nr` when all `pins` hold (no pins: unconditionally).
    pub fn allow(&mut self, nr: i64, pins: &[Pin]) {
        self.map.entry(nr).or_default().push(pins.to_vec());
    }

    /// The allowed syscall numbers.
    pub fn syscalls(&self) -> impl Iterator<Item = i64> + '_ {
        self.map.keys().copied()
    }

    fn compile(&self) -> Result<BpfProgram, SandboxError> {
        let err = |e: seccompiler::BackendError| SandboxError::Build(e.to_string());
        let mut rules = BTreeMap::new();
        for (&nr, alternatives) in &self.map {
            let mut out = Vec::new();
            // An unconditional alternative allows the syscall outright;
            // seccompiler expresses that as an empty rule list.
            if !alternatives.iter().any(|a| a.is_empty()) {
                for alt in alternatives {
                    let conds = alt
                        .iter()
                        .map(|p| {
                            let (i, op, v) = match *p {
                                Pin::Eq(i, v) => (i, SeccompCmpOp::Eq, v),
                                Pin::Le(i, v) => (i, SeccompCmpOp::Le, v),
                            };
                            SeccompCondition::new(i, SeccompCmpArgLen::Qword, op, v)
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(err)?;
                    out.push(SeccompRule::new(conds).map_err(err)?);
                }
            }
            rules.insert(nr, out);
        }
        let filter = SeccompFilter::new(rules, SeccompAction::KillProcess, SeccompAction::Allow, TargetArch::x86_64)
            .map_err(err)?;
        filter.try_into().map_err(|e: seccompiler::BackendError| SandboxError::Build(e.to_string()))
    }
}

const LD_W_ABS: u16 = 0x20;
const JGT_K: u16 = 0x25;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;
/// `SECCOMP_RET_TRAP`.
pub const RET_TRAP: u32 = 0x0003_0000;
/// Offset of `arch` in `seccomp_data`.
const ARCH: u32 = 4;
/// Offsets of the instruction pointer's low and high words in `seccomp_data`.
const IP_LO: u32 = 8;
const IP_HI: u32 = 12;

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter { code, jt: 0, jf: 0, k }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// BPF that returns `SECCOMP_RET_TRAP` for a syscall of another
/// architecture than x86_64 or whose instruction pointer lies below
/// `guest_end`, and otherwise falls through to the instruction after it.
/// The range starts at 0, not at guest memory: the syscall sled and the
/// reserved pages below guest memory run guest code too. The test is a
/// 64-bit comparison made of 32-bit BPF ones.
pub fn guest_ip_prefix(guest_end: u64) -> Vec<sock_filter> {
    let (e_hi, e_lo) = ((guest_end >> 32) as u32, guest_end as u32);
    // Jumps are relative, so the arch test in front leaves the range
    // test's offsets alone. Range test indices: 5 = GUEST (return TRAP),
    // 6 = NOT (fall through).
    let mut prog = vec![stmt(LD_W_ABS, ARCH), jump(JEQ_K, crate::gate::AUDIT_ARCH_X86_64, 1, 0), stmt(RET_K, RET_TRAP)];
    prog.extend([
        stmt(LD_W_ABS, IP_HI),   // 0
        jump(JGT_K, e_hi, 4, 0), // 1: hi > e_hi -> 6
        jump(JEQ_K, e_hi, 0, 2), // 2: hi < e_hi -> 5
        stmt(LD_W_ABS, IP_LO),   // 3
        jump(JGE_K, e_lo, 1, 0), // 4: lo >= e_lo -> 6
        stmt(RET_K, RET_TRAP),   // 5
    ]);
    prog
}

/// Check that no host code (see `host_code`) lies below `guest_end`,
/// where the filter would trap the tender's own syscalls. Guest memory is
/// mapped without replacing anything, but below it only the sled proves
/// the range empty, and only when it is on.
pub fn check_host_code(guest_end: u64, host_code: &[(u64, u64)]) -> Result<(), SandboxError> {
    match host_code.iter().find(|&&(s, e)| s < e && s < guest_end) {
        Some(&(s, e)) => Err(SandboxError::HostCodeLow(s, e, guest_end)),
        None => Ok(()),
    }
}

/// The whole program: guest-IP prefix, then the allow-list.
pub fn build(guest_end: u64, rules: &Rules) -> Result<BpfProgram, SandboxError> {
    let mut prog = guest_ip_prefix(guest_end);
    prog.extend(rules.compile()?);
    if prog.len() > 4096 {
        return Err(SandboxError::Build(format!("{} BPF instructions, the kernel takes 4096", prog.len())));
    }
    Ok(prog)
}

/// Make sure no crash of this process writes a core dump: a core holds
/// all of guest memory and the tender's (at `--mem=256`, some 270 MB),
/// which the user never asked to keep. Two locks: the process becomes not
/// dumpable (with the usual `fs.suid_dumpable` 0 the kernel then dumps
/// nothing at all, whatever `core_pattern` says; it also keeps other
/// processes of the user from attaching with ptrace), and its core size
/// limit, soft and hard, becomes 0 (no core file even where
/// `suid_dumpable` is 2; a `core_pattern` pipe helper is only told the
/// limit, and the common ones honour it).
pub fn forbid_core_dumps() -> std::io::Result<()> {
    let zero = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `zero` is a valid rlimit; lowering a limit needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: PR_SET_DUMPABLE takes an integer and changes only this
    // process's dumpable attribute.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Install `prog` for this (single-threaded) process: no_new_privs, then
/// the filter. Nothing after this may make a syscall the filter forbids.
pub fn install(prog: &BpfProgram) -> Result<(), SandboxError> {
    seccompiler::apply_filter(prog).map_err(|e| SandboxError::Install(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for the instructions the prefix uses.
    fn run(prog: &[sock_filter], ip: u64) -> Option<u32> {
        run_arch(prog, crate::gate::AUDIT_ARCH_X86_64, ip)
    }

    fn run_arch(prog: &[sock_filter], arch: u32, ip: u64) -> Option<u32> {
        let data = {
            let mut d = [0u8; 64];
            d[4..8].copy_from_slice(&arch.to_le_bytes());
            d[8..16].copy_from_slice(&ip.to_le_bytes());
            d
        };
        let (mut pc, mut a) = (0usize, 0u32);
        while let Some(ins) = prog.get(pc) {
            pc += 1;
            match ins.code {
                LD_W_ABS => {
                    let k = ins.k as usize;
                    a = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
                }
                RET_K => return Some(ins.k),
                JGT_K | JEQ_K | JGE_K => {
                    let t = match ins.code {
                        JGT_K => a > ins.k,
                        JEQ_K => a == ins.k,
                        _ => a >= ins.k,
                    };
                    pc += if t { ins.jt } else { ins.jf } as usize;
                }
                _ => panic!("unexpected opcode"),
            }
        }
        None // fell through: not the guest
    }

    #[test]
    fn prefix_traps_exactly_below_the_end_of_guest_memory() {
        for end in [0x810_0000u64, 0x10_0010_0000, 0x1_0000_1000, 0x2_0000_0000, 0xffff_f000] {
            let p = guest_ip_prefix(end);
            // The sled, the reserved pages, guest memory.
            for ip in [0, 1, 0x1ff, 0x7000, 0xf_ffff, 0x10_0000, end - 1, end / 2, end.saturating_sub(1 << 32)] {
                assert_eq!(run(&p, ip), Some(RET_TRAP), "{ip:#x} below {end:#x}");
            }
            for ip in [end, end + 1, u64::MAX, 0x5555_5555_0000, end + (1 << 32), end | 0xffff_ffff] {
                assert_eq!(run(&p, ip), None, "{ip:#x} above {end:#x}");
            }
        }
        // No guest memory at all: nothing is trapped (the filter tests).
        let p = guest_ip_prefix(0);
        for ip in [0, 0x10_0000, u64::MAX] {
            assert_eq!(run(&p, ip), None, "{ip:#x}");
        }
    }

    #[test]
    fn host_code_must_lie_above_guest_memory() {
        let code = [(0x5555_5555_0000, 0x5555_5556_0000), (0, 0), (0x7fff_0000_0000, 0x7fff_0000_2000)];
        assert!(check_host_code(0x810_0000, &code).is_ok());
        let low = [(0x5555_5555_0000, 0x5555_5556_0000), (0x40_0000, 0x50_0000)];
        assert!(matches!(check_host_code(0x810_0000, &low), Err(SandboxError::HostCodeLow(0x40_0000, 0x50_0000, _))));
        assert!(check_host_code(0x40_0000, &low).is_ok());
    }

    #[test]
    fn prefix_traps_every_32bit_syscall() {
        const AUDIT_ARCH_I386: u32 = 0x4000_0003;
        let p = guest_ip_prefix(0x810_0000);
        for ip in [0, 0x10_0000, 0x5555_5555_0000, u64::MAX] {
            assert_eq!(run_arch(&p, AUDIT_ARCH_I386, ip), Some(RET_TRAP), "{ip:#x}");
        }
        assert_eq!(run_arch(&p, crate::gate::AUDIT_ARCH_X86_64, 0x5555_5555_0000), None);
    }

    #[test]
    fn rules_compile() {
        let mut rules = Rules::default();
        rules.allow(libc::SYS_write, &[Pin::Eq(0, 1)]);
        rules.allow(libc::SYS_write, &[Pin::Eq(0, 2)]);
        rules.allow(libc::SYS_exit_group, &[]);
        let prog = build(0x20_0000, &rules).unwrap();
        assert!(prog.len() > 9);
        assert_eq!(rules.syscalls().count(), 2);
    }
}

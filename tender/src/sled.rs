//! The syscall sled: code at address 0 that takes a rewritten syscall site
//! of a guest program to the guest kernel's fast syscall entry (issue 13,
//! lazy rewriting; DESIGN.md §5).
//!
//! What: a guest kernel that announces a fast syscall entry (its
//! [`nabla_abi::note::FastSyscallNote`]) may rewrite a program's `syscall`
//! instruction (`0F 05`) that trapped once into `call *%rax` (`FF D0`,
//! also two bytes). The call lands at the address equal to the syscall
//! number, in the sled mapped here, which slides into a jump to a
//! trampoline page, which jumps to the entry: a function call instead of a
//! seccomp trap. The guest learns that it may rewrite from
//! [`nabla_abi::BOOT_FLAG_SYSCALL_SLED`], whose doc is the contract.
//!
//! Design: everything below guest memory ([`GUEST_BASE`]) is ours, mapped
//! before the sandbox with `MAP_FIXED_NOREPLACE` and never writable once
//! the guest runs:
//!
//! ```text
//! 0x0000  sled A      64 blocks of 66 66 66 66 66 66 66 90, ending at 512
//! 0x0200  jmp         E9 FB 6D 00 00  (to the trampoline)
//! 0x0205  60          (#UD: see below)
//! 0x0206  sled B      66 66 66 66 90, then 446 blocks, ending at 4091
//! 0x0ffb  jmp         E9 00 60 00 00  (to the trampoline)
//! 0x1000  no access   ... up to the trampoline
//! 0x7000  trampoline  E9 rel32 (to the fast entry), then int3 to the end
//! 0x8000  no access   ... up to GUEST_BASE
//! ```
//!
//! A block is one 8-byte nop (`nop` with seven redundant operand-size
//! prefixes), so a call landing on any of its bytes decodes prefixes and
//! a `0x90` up to the block's end, then whole blocks: about one cycle per
//! block, where single-byte nops would cost one per byte (measured: 58 ns
//! over 512 bytes of `0x90`, 5.4 ns over 8-byte blocks).
//!
//! Every byte is also an entry (the number that lands on it), so the
//! bytes that are not sled must do nothing but fault at once. The
//! trampoline's address (0x7000) is chosen for that: it makes the two
//! jumps' displacements `FB 6D 00 00` and `00 60 00 00`, and with the
//! `60` after the first one every entry inside them faults at its first
//! instruction with every register intact:
//!
//! | entry | bytes | instruction | result |
//! |---|---|---|---|
//! | 513 | `FB` | `sti` | #GP (user mode, IOPL 0): SIGSEGV |
//! | 514 | `6D` | `insd` | #GP (no I/O permission): SIGSEGV |
//! | 515 | `00 00` | `add [rax], al` | write to page 0 (read-only): SIGSEGV |
//! | 516 | `00 60 66` | `add [rax+0x66], ah` | the same |
//! | 517 | `60` | `pusha` | invalid in 64-bit mode: SIGILL |
//! | 4092 | `00 60 00` | `add [rax+0], ah` | write to page 0: SIGSEGV |
//! | 4093 | `60` | `pusha` | SIGILL |
//! | 4094 | `00 00` | `add [rax], al` | write to page 0: SIGSEGV |
//! | 4095 | `00` | runs into page 1 | no access: SIGSEGV |
//!
//! (The first sketch of this layout had its trampoline at 0xCC000: that
//! makes 514 `BD` = `mov ebp, imm32`, which clobbers `rbp` and slides on
//! into sled B; and with `CC` at 517, 516 becomes `add ah, cl` and slides
//! on too, with another syscall number.)
//!
//! No byte of page 0 is `0F` or `CD`, so none of it can be a syscall
//! (`0F 05`, `0F 34`) or an `int`; and the seccomp filter traps every
//! syscall whose instruction pointer is below guest memory anyway.
//!
//! Limits: mapping address 0 needs `CAP_SYS_RAWIO` (root) or
//! `vm.mmap_min_addr` = 0; otherwise the sled is simply off and the guest
//! keeps the trap path, as it does with `--no-syscall-rewrite`, without a
//! fast syscall note, or when the entry is not in the guest's code. With
//! the sled on, reads of address 0 by the guest no longer fault. The
//! trampoline's displacement depends on the entry, so numbers 0x7001 to
//! 0x7004 run those bytes (a displacement holding a syscall instruction
//! leaves the sled off), and numbers from `GUEST_BASE` up land in guest
//! memory: which sites it rewrites is the guest's business.

use crate::elf::{Image, PAGE};
use crate::memory::GUEST_BASE;
use nix::errno::Errno;
use object::elf::PF_X;

/// Bytes in a page, as a `usize`.
const PAGE_LEN: usize = PAGE as usize;
/// One sled block: `nop` with seven redundant operand-size prefixes, the
/// longest nop that needs no ModRM byte (so entering at any byte still
/// decodes as prefixes and `0x90`).
pub const BLOCK: [u8; 8] = [0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x90];
/// `jmp rel32`.
const JMP_REL32: u8 = 0xE9;
/// `pusha`: invalid in 64-bit mode (#UD), one byte, no operands.
const UD_PUSHA: u8 = 0x60;
/// `int3`: the trampoline's filler.
const INT3: u8 = 0xCC;
/// End of sled A, where its jump starts (a multiple of 8: whole blocks).
pub const SLED_A_END: usize = 512;
/// Where sled B starts: after sled A's jump and the `pusha` that ends the
/// last entry inside its displacement.
pub const SLED_B_START: usize = SLED_A_END + 6;
/// End of sled B, where its jump starts (the last 5 bytes of page 0).
pub const SLED_B_END: usize = PAGE_LEN - 5;
/// Address of the trampoline page (see the module doc for why here).
pub const TRAMPOLINE: u64 = 0x7000;

/// The `rel32` of a `jmp` at `at` (in page 0) to the trampoline.
const fn to_trampoline(at: usize) -> i32 {
    (TRAMPOLINE as i64 - (at as i64 + 5)) as i32
}

// The bytes the module doc's table is about.
const _: () = assert!(to_trampoline(SLED_A_END) == 0x6DFB);
const _: () = assert!(to_trampoline(SLED_B_END) == 0x6000);
const _: () = assert!(SLED_A_END.is_multiple_of(BLOCK.len()) && SLED_B_START < SLED_B_END);
const _: () = assert!(TRAMPOLINE.is_multiple_of(PAGE) && TRAMPOLINE >= PAGE && TRAMPOLINE + PAGE <= GUEST_BASE);

/// Fill `page[start..end]` with blocks laid out so that one ends exactly
/// at `end` (the first may be partial).
const fn fill_sled(mut page: [u8; PAGE_LEN], start: usize, end: usize) -> [u8; PAGE_LEN] {
    let mut i = start;
    while i < end {
        // Offset within the block that ends at `end`.
        let k = (BLOCK.len() - (end - i) % BLOCK.len()) % BLOCK.len();
        page[i] = BLOCK[k];
        i += 1;
    }
    page
}

const fn put_jmp(mut page: [u8; PAGE_LEN], at: usize) -> [u8; PAGE_LEN] {
    let rel = to_trampoline(at).to_le_bytes();
    page[at] = JMP_REL32;
    let mut i = 0;
    while i < 4 {
        page[at + 1 + i] = rel[i];
        i += 1;
    }
    page
}

const fn page0() -> [u8; PAGE_LEN] {
    let page = fill_sled([0; PAGE_LEN], 0, SLED_A_END);
    let mut page = put_jmp(page, SLED_A_END);
    page[SLED_A_END + 5] = UD_PUSHA;
    let page = fill_sled(page, SLED_B_START, SLED_B_END);
    put_jmp(page, SLED_B_END)
}

/// The bytes of page 0.
pub static PAGE0: [u8; PAGE_LEN] = page0();

/// Arguments owned by the sled.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SledArgs {
    /// Keep every guest syscall on the trap path: map no sled at address
    /// 0, so reads of address 0 fault again
    #[arg(long)]
    pub no_syscall_rewrite: bool,
}

/// Why the sled is off. None of these is an error of the run: the guest
/// then keeps every syscall on the trap path.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SledOff {
    /// The user asked for it.
    #[error("--no-syscall-rewrite")]
    Disabled,
    /// The guest carries no fast syscall note.
    #[error("the guest has no fast syscall entry")]
    NoEntry,
    /// The note points outside the guest's code.
    #[error("the fast syscall entry {0:#x} is not in an executable segment of the guest")]
    NotCode(u64),
    /// The entry is out of reach of the trampoline's `jmp rel32`.
    #[error("the fast syscall entry {0:#x} is out of reach of a 32-bit jump from {TRAMPOLINE:#x}")]
    TooFar(u64),
    /// The trampoline's displacement would hold `0F 05`.
    #[error("the jump to the fast syscall entry {0:#x} would hold a syscall instruction")]
    SyscallBytes(u64),
    /// The host does not let us map address 0.
    #[error("cannot map the sled at address 0 (needs root or vm.mmap_min_addr=0): {}", .0.desc())]
    Denied(Errno),
    /// Another mapping failure (nothing of the sled is left mapped).
    #[error("cannot map {what} at {at:#x}: {}", .err.desc())]
    Map {
        /// Which part.
        what: &'static str,
        /// Its address.
        at: u64,
        /// The host's error.
        err: Errno,
    },
}

/// The trampoline page for a fast entry at `entry`.
pub fn trampoline(entry: u64) -> Result<[u8; PAGE_LEN], SledOff> {
    let rel = i32::try_from(i128::from(entry) - i128::from(TRAMPOLINE + 5)).map_err(|_| SledOff::TooFar(entry))?;
    let rel = rel.to_le_bytes();
    // Numbers 0x7001..=0x7004 execute these bytes: a syscall among them
    // would be trapped and end the guest, so rather no sled.
    if rel.windows(2).any(|w| w == [0x0F, 0x05]) {
        return Err(SledOff::SyscallBytes(entry));
    }
    let mut page = [INT3; PAGE_LEN];
    page[0] = JMP_REL32;
    page[1..5].copy_from_slice(&rel);
    Ok(page)
}

/// The mapped sled. Unmapped on drop (only tests drop it: the tender
/// forgets it, since the guest never returns).
#[derive(Debug)]
pub struct Sled {
    entry: u64,
    _mapped: Mapped,
}

impl Sled {
    /// The guest address of the fast syscall entry the trampoline jumps to.
    pub fn entry(&self) -> u64 {
        self.entry
    }
}

/// Decide and, if on, map the sled for `image` loaded with `bias` (see
/// `loader::bias`). Nothing is mapped when it is off.
pub fn setup(args: &SledArgs, image: &Image, bias: u64) -> Result<Sled, SledOff> {
    if args.no_syscall_rewrite {
        return Err(SledOff::Disabled);
    }
    let link = image.fast_syscall.ok_or(SledOff::NoEntry)?;
    let entry = link.wrapping_add(bias);
    let in_code = image.segments.iter().any(|s| s.flags & PF_X != 0 && link >= s.vaddr && link - s.vaddr < s.memsz);
    if !in_code {
        return Err(SledOff::NotCode(entry));
    }
    let mapped = map(&trampoline(entry)?)?;
    Ok(Sled { entry, _mapped: mapped })
}

/// The `--verbose` line (without the `nabla-tender: ` prefix).
pub fn describe(sled: &Result<Sled, SledOff>) -> String {
    match sled {
        Ok(s) => format!("syscall rewriting on: sled at 0x0, entry {:#x}", s.entry),
        Err(why) => format!("syscall rewriting off: {why}"),
    }
}

/// Our mappings below guest memory, unmapped on drop: on a failure half
/// way, only what we mapped goes (a `MAP_FIXED_NOREPLACE` failure may mean
/// someone else's mapping is there).
#[derive(Debug, Default)]
struct Mapped {
    ranges: [(u64, u64); 4],
    n: usize,
}

impl Drop for Mapped {
    fn drop(&mut self) {
        for &(start, len) in &self.ranges[..self.n] {
            // SAFETY: each range is a mapping of ours made by `fresh`,
            // which nothing else references.
            unsafe { libc::munmap(start as *mut libc::c_void, len as usize) };
        }
    }
}

/// Map `len` fresh bytes at `at` with `prot`, refusing to replace
/// anything, and record them in `m`.
fn fresh(m: &mut Mapped, at: u64, len: u64, prot: libc::c_int) -> Result<(), Errno> {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED_NOREPLACE;
    // SAFETY: a fresh anonymous mapping; MAP_FIXED_NOREPLACE makes the
    // kernel refuse rather than replace any existing mapping.
    let p = unsafe { libc::mmap(at as *mut libc::c_void, len as usize, prot, flags, -1, 0) };
    if p == libc::MAP_FAILED {
        return Err(Errno::last());
    }
    if p as u64 != at {
        // A kernel older than 4.17 takes MAP_FIXED_NOREPLACE as a hint.
        // SAFETY: the mapping just made, elsewhere, referenced by nobody.
        unsafe { libc::munmap(p, len as usize) };
        return Err(Errno::EEXIST);
    }
    m.ranges[m.n] = (at, len);
    m.n += 1;
    Ok(())
}

/// Copy `bytes` to address `at`, which may be 0.
///
/// # Safety
/// `at..at + bytes.len()` must be writable memory of ours that nothing
/// else references.
unsafe fn copy_to(at: u64, bytes: &[u8]) {
    // Rust takes a write through a null pointer as undefined behaviour
    // even where address 0 is mapped, so the CPU copies (`rep movsb`,
    // which the compiler does not reason about). DF is clear, as the ABI
    // guarantees at every call.
    // SAFETY: the caller's contract; the asm touches only rdi, rsi, rcx
    // and the destination range.
    unsafe {
        core::arch::asm!(
            "rep movsb",
            inout("rdi") at => _,
            inout("rsi") bytes.as_ptr() => _,
            inout("rcx") bytes.len() => _,
            options(nostack, preserves_flags),
        )
    }
}

/// Map a read-only code page at `at` holding `bytes`: written while it is
/// read-write, then made read and execute.
fn code_page(m: &mut Mapped, at: u64, bytes: &[u8; PAGE_LEN]) -> Result<(), Errno> {
    fresh(m, at, PAGE, libc::PROT_READ | libc::PROT_WRITE)?;
    // SAFETY: the page was just mapped read-write by us (recorded in `m`).
    unsafe { copy_to(at, bytes) };
    // SAFETY: changes only the protection of our own fresh page.
    if unsafe { libc::mprotect(at as *mut libc::c_void, PAGE_LEN, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Map page 0, the trampoline and the no-access pages in between and up
/// to guest memory. Page 0 goes first: it is the one the host may refuse.
fn map(trampoline: &[u8; PAGE_LEN]) -> Result<Mapped, SledOff> {
    let mut m = Mapped::default();
    code_page(&mut m, 0, &PAGE0).map_err(|err| match err {
        Errno::EPERM | Errno::EACCES => SledOff::Denied(err),
        err => SledOff::Map { what: "the sled", at: 0, err },
    })?;
    let fail = |what, at| move |err| SledOff::Map { what, at, err };
    code_page(&mut m, TRAMPOLINE, trampoline).map_err(fail("the trampoline", TRAMPOLINE))?;
    // Calls with numbers landing here fault cleanly (the guest kernel
    // answers ENOSYS); nothing else can ever be mapped below guest memory.
    for (start, end) in [(PAGE, TRAMPOLINE), (TRAMPOLINE + PAGE, GUEST_BASE)] {
        fresh(&mut m, start, end - start, libc::PROT_NONE).map_err(fail("the reserved pages", start))?;
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::{Kind, Segment};
    use nabla_abi::note::AbiDesc;

    #[test]
    fn page0_has_the_documented_bytes() {
        for block in PAGE0[..SLED_A_END].chunks(8) {
            assert_eq!(block, BLOCK);
        }
        assert_eq!(PAGE0[512..518], [0xE9, 0xFB, 0x6D, 0x00, 0x00, 0x60]);
        assert_eq!(PAGE0[518..523], [0x66, 0x66, 0x66, 0x66, 0x90]);
        for block in PAGE0[523..SLED_B_END].chunks(8) {
            assert_eq!(block, BLOCK);
        }
        assert_eq!((SLED_B_END - 523) / 8, 446);
        assert_eq!(PAGE0[4091..], [0xE9, 0x00, 0x60, 0x00, 0x00]);
        // Both jumps land on the trampoline.
        for at in [SLED_A_END, SLED_B_END] {
            let rel = i32::from_le_bytes(PAGE0[at + 1..at + 5].try_into().unwrap());
            assert_eq!((at as i64 + 5 + i64::from(rel)) as u64, TRAMPOLINE);
        }
        // Nothing that could start a syscall or an `int`.
        assert!(!PAGE0.iter().any(|&b| b == 0x0F || b == 0xCD));
    }

    /// Walk instructions of the form `66* 90` from `at`: where it stops
    /// (at the first byte that is neither).
    fn walk(at: usize) -> usize {
        let mut pc = at;
        loop {
            let start = pc;
            while PAGE0.get(pc) == Some(&0x66) {
                pc += 1;
            }
            if PAGE0.get(pc) != Some(&0x90) {
                assert_eq!(pc, start, "a prefix run from {start} ends in {:#x}", PAGE0[pc]);
                return pc;
            }
            pc += 1;
            assert!(pc - start <= 15, "instruction at {start} too long");
        }
    }

    #[test]
    fn every_sled_entry_reaches_its_jump_on_an_instruction_boundary() {
        for at in 0..=SLED_A_END {
            assert_eq!(walk(at), SLED_A_END, "entry {at}");
        }
        for at in SLED_B_START..=SLED_B_END {
            assert_eq!(walk(at), SLED_B_END, "entry {at}");
        }
    }

    #[test]
    fn entries_between_the_sleds_fault_at_once() {
        // (entry, its first bytes): see the module doc's table.
        let faulting: [(usize, &[u8]); 9] = [
            (513, &[0xFB]),             // sti
            (514, &[0x6D]),             // insd
            (515, &[0x00, 0x00]),       // add [rax], al
            (516, &[0x00, 0x60, 0x66]), // add [rax+0x66], ah
            (517, &[0x60]),             // pusha
            (4092, &[0x00, 0x60, 0x00]),
            (4093, &[0x60]),
            (4094, &[0x00, 0x00]),
            (4095, &[0x00]), // and page 1 has no access
        ];
        for (at, bytes) in faulting {
            assert_eq!(&PAGE0[at..at + bytes.len()], bytes, "entry {at}");
            // The memory forms write to page 0 itself (rax = the entry).
            if bytes.len() > 1 {
                let disp = if bytes[1] == 0x60 { i64::from(bytes[2] as i8) } else { 0 };
                assert!((0..PAGE as i64).contains(&(at as i64 + disp)), "entry {at}");
            }
        }
    }

    #[test]
    fn trampoline_jumps_to_the_entry_or_refuses() {
        let page = trampoline(0x4df000).unwrap();
        assert_eq!(page[0], 0xE9);
        let rel = i32::from_le_bytes(page[1..5].try_into().unwrap());
        assert_eq!(TRAMPOLINE as i64 + 5 + i64::from(rel), 0x4df000);
        assert!(page[5..].iter().all(|&b| b == 0xCC));
        // Backwards is fine too.
        assert!(trampoline(0x1000).is_ok());
        let far = TRAMPOLINE + 5 + (1 << 31);
        assert_eq!(trampoline(far), Err(SledOff::TooFar(far)));
        assert!(trampoline(far - 1).is_ok());
        let bad = TRAMPOLINE + 5 + 0x050F;
        assert_eq!(trampoline(bad), Err(SledOff::SyscallBytes(bad)));
    }

    fn image(fast_syscall: Option<u64>) -> Image {
        let seg = |vaddr, flags| Segment { vaddr, memsz: 0x1000, file: 0..0, flags };
        Image {
            kind: Kind::Dyn,
            entry: 0x1000,
            segments: vec![seg(0x0, 4), seg(0x1000, 5), seg(0x2000, 6)],
            start: 0,
            end: 0x3000,
            relocs: Vec::new(),
            relro: None,
            abi: AbiDesc { abi_version: 0, layout_crc: 0 },
            manifest: Vec::new(),
            flags: 0,
            fast_syscall,
        }
    }

    #[test]
    fn decisions_that_map_nothing() {
        let on = SledArgs::default();
        let off = SledArgs { no_syscall_rewrite: true };
        assert_eq!(setup(&off, &image(Some(0x1800)), GUEST_BASE).unwrap_err(), SledOff::Disabled);
        assert_eq!(setup(&on, &image(None), GUEST_BASE).unwrap_err(), SledOff::NoEntry);
        // Read-only and writable segments are not code; nor is past the end.
        for link in [0x800, 0x2800, 0x3000] {
            let want = SledOff::NotCode(GUEST_BASE + link);
            assert_eq!(setup(&on, &image(Some(link)), GUEST_BASE).unwrap_err(), want);
        }
        let e = describe(&Err(SledOff::Denied(Errno::EPERM)));
        assert_eq!(
            e,
            "syscall rewriting off: cannot map the sled at address 0 (needs root or vm.mmap_min_addr=0): \
             Operation not permitted"
        );
        assert_eq!(describe(&Err(SledOff::NoEntry)), "syscall rewriting off: the guest has no fast syscall entry");
    }

    /// The protection of the mapping holding `addr`, from /proc/self/maps.
    fn prot_at(addr: u64) -> Option<String> {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        maps.lines().find_map(|l| {
            let (range, rest) = l.split_once(' ')?;
            let (s, e) = range.split_once('-')?;
            let (s, e) = (u64::from_str_radix(s, 16).ok()?, u64::from_str_radix(e, 16).ok()?);
            (s <= addr && addr < e).then(|| rest[..4].to_string())
        })
    }

    #[test]
    fn maps_the_sled_where_the_host_allows_it() {
        // Nothing else in this test process lives below guest memory.
        match setup(&SledArgs::default(), &image(Some(0x1800)), GUEST_BASE) {
            Ok(sled) => {
                assert_eq!(sled.entry(), GUEST_BASE + 0x1800);
                let mut back = [0u8; PAGE_LEN];
                // SAFETY: reads our own readable page 0 into `back` (the
                // same asm copy, in the other direction).
                unsafe {
                    core::arch::asm!(
                        "rep movsb",
                        inout("rdi") back.as_mut_ptr() => _,
                        inout("rsi") 0u64 => _,
                        inout("rcx") PAGE_LEN => _,
                        options(nostack, preserves_flags),
                    )
                };
                assert_eq!(back, PAGE0);
                assert_eq!(prot_at(0).as_deref(), Some("r-xp"));
                assert_eq!(prot_at(TRAMPOLINE).as_deref(), Some("r-xp"));
                for addr in [PAGE, TRAMPOLINE - 1, TRAMPOLINE + PAGE, GUEST_BASE - 1] {
                    assert_eq!(prot_at(addr).as_deref(), Some("---p"), "{addr:#x}");
                }
                drop(sled);
                assert_eq!(prot_at(0), None);
                assert_eq!(prot_at(GUEST_BASE - 1), None);
            }
            Err(SledOff::Denied(e)) => {
                // Not privileged: the one outcome besides success, and nothing left behind.
                assert!(matches!(e, Errno::EPERM | Errno::EACCES));
                assert_eq!(prot_at(0), None);
            }
            Err(e) => panic!("{e}"),
        }
    }
}

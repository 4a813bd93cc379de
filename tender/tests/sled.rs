//! The syscall sled end to end: a hand-made guest with a fast syscall note
//! runs in the real tender, which maps the sled (as root) and says so in
//! the boot info; the guest reads address 0 and calls it with a dozen
//! syscall numbers, each of which must reach its fast entry with `rax`,
//! `rsp` and the flags as the contract says (`nabla_abi::BOOT_FLAG_SYSCALL_SLED`),
//! and numbers the sled does not take must end as guest faults. Where the
//! host refuses address 0 (not root, `vm.mmap_min_addr` > 0), the test
//! checks the `--verbose` line that says the sled is off, and says so on
//! stderr: it is not silently counted as the "on" case.
//!
//! The guest is 230 bytes of x86_64 code in a two-segment `ET_EXEC` file
//! built here, so no toolchain is needed for it.

#![allow(clippy::unwrap_used)] // a failing unwrap is a failing test

use nabla_abi::note::{NOTE_NAME_PADDED, NOTE_TYPE_ABI, NOTE_TYPE_FAST_SYSCALL};
use nabla_tender::elf::{self, ElfError};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Link address of the guest: the start of guest memory.
const BASE: u64 = 0x10_0000;
/// File offset (and offset from `BASE`) of the code.
const CODE_OFF: usize = 0x100;
/// Offset of the fast syscall entry in [`CODE`].
const FAST: u64 = 0xc1;
/// Where the fast entry is, as the note says.
const ENTRY: u64 = BASE + CODE_OFF as u64 + FAST;

/// The guest. Entered with `rdi` = the `BootInfo`; the first byte of its
/// command line picks what it does:
///
/// * (none): exit 10 without `BOOT_FLAG_SYSCALL_SLED`; else `call *%rax`
///   with each of [`NUMBERS`] (carry flag set), where the fast entry
///   (`fast`) checks `rax`, `rsp` and the carry flag and returns; exit 42
///   when all arrived intact (11 or 13 when not);
/// * `r`: read 8 bytes at address 0: exit 43 if they are a sled block;
/// * `i`: call number 517 (`pusha` in the sled: SIGILL);
/// * `u`: call number 5000 (a reserved page with no access: SIGSEGV);
/// * `n`: call number -1 (SIGSEGV).
const CODE: [u8; 0xe4] = [
    // start: (+0x00)
    0x48, 0x8b, 0x5f, 0x48, // mov rbx,qword ptr [rdi+0x48]
    0x4c, 0x8b, 0x7f, 0x38, // mov r15,qword ptr [rdi+0x38]
    0x48, 0x83, 0xe4, 0xf0, // and rsp,0xfffffffffffffff0
    0x41, 0x0f, 0xb6, 0x07, // movzx eax,byte ptr [r15]
    0x3c, 0x72, // cmp al,0x72
    0x74, 0x5e, // je read0
    0x3c, 0x69, // cmp al,0x69
    0x74, 0x7a, // je ill
    0x3c, 0x75, // cmp al,0x75
    0x0f, 0x84, 0x80, 0x00, 0x00, 0x00, // je unmapped
    0x3c, 0x6e, // cmp al,0x6e
    0x0f, 0x84, 0x86, 0x00, 0x00, 0x00, // je noncanonical
    0x8b, 0x47, 0x5c, // mov eax,dword ptr [rdi+0x5c]
    0xa9, 0x04, 0x00, 0x00, 0x00, // test eax,0x4
    0x74, 0x32, // je nosled
    0x48, 0x8d, 0x35, 0xab, 0x00, 0x00, 0x00, // lea rsi,[rip+0xab]
    // next: (+0x39)
    0x8b, 0x06, // mov eax,dword ptr [rsi]
    0x83, 0xf8, 0xff, // cmp eax,0xffffffff
    0x74, 0x1d, // je done
    0x49, 0x89, 0xc4, // mov r12,rax
    0x49, 0x89, 0xe5, // mov r13,rsp
    0x45, 0x31, 0xf6, // xor r14d,r14d
    0xf9, // stc
    0xff, 0xd0, // call rax
    0x41, 0x83, 0xfe, 0x01, // cmp r14d,0x1
    0x75, 0x19, // jne bad
    0x49, 0x39, 0xe5, // cmp r13,rsp
    0x75, 0x14, // jne bad
    0x48, 0x83, 0xc6, 0x04, // add rsi,0x4
    0xeb, 0xdc, // jmp next
    // done: (+0x5d)
    0xbf, 0x2a, 0x00, 0x00, 0x00, // mov edi,0x2a
    0xeb, 0x58, // jmp exit
    // nosled: (+0x64)
    0xbf, 0x0a, 0x00, 0x00, 0x00, // mov edi,0xa
    0xeb, 0x51, // jmp exit
    // bad: (+0x6b)
    0xbf, 0x0b, 0x00, 0x00, 0x00, // mov edi,0xb
    0xeb, 0x4a, // jmp exit
    // read0: (+0x72)
    0x31, 0xc0, // xor eax,eax
    0x48, 0x8b, 0x08, // mov rcx,qword ptr [rax]
    0x48, 0xba, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x90, // movabs rdx,0x9066666666666666
    0xbf, 0x2b, 0x00, 0x00, 0x00, // mov edi,0x2b
    0x48, 0x39, 0xd1, // cmp rcx,rdx
    0x74, 0x31, // je exit
    0xbf, 0x2c, 0x00, 0x00, 0x00, // mov edi,0x2c
    0xeb, 0x2a, // jmp exit
    // ill: (+0x92)
    0xb8, 0x05, 0x02, 0x00, 0x00, // mov eax,0x205
    0xff, 0xd0, // call rax
    0xbf, 0x0c, 0x00, 0x00, 0x00, // mov edi,0xc
    0xeb, 0x1c, // jmp exit
    // unmapped: (+0xa0)
    0xb8, 0x88, 0x13, 0x00, 0x00, // mov eax,0x1388
    0xff, 0xd0, // call rax
    0xbf, 0x0c, 0x00, 0x00, 0x00, // mov edi,0xc
    0xeb, 0x0e, // jmp exit
    // noncanonical: (+0xae)
    0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, // mov rax,0xffffffffffffffff
    0xff, 0xd0, // call rax
    0xbf, 0x0c, 0x00, 0x00, 0x00, // mov edi,0xc
    // exit: (+0xbc)
    0xff, 0x53, 0x30, // call qword ptr [rbx+0x30]
    0x0f, 0x0b, // ud2
    // fast: (+0xc1)
    0x73, 0x13, // jae bad_entry
    0x4c, 0x39, 0xe0, // cmp rax,r12
    0x75, 0x0e, // jne bad_entry
    0x48, 0x8d, 0x4c, 0x24, 0x08, // lea rcx,[rsp+0x8]
    0x4c, 0x39, 0xe9, // cmp rcx,r13
    0x75, 0x04, // jne bad_entry
    0x41, 0xff, 0xc6, // inc r14d
    0xc3, // ret
    // bad_entry: (+0xd6)
    0x48, 0x83, 0xe4, 0xf0, // and rsp,0xfffffffffffffff0
    0xbf, 0x0d, 0x00, 0x00, 0x00, // mov edi,0xd
    0xeb, 0xdb, // jmp exit
    0x0f, 0x1f, 0x00, // nop dword ptr [rax]
];

/// The numbers the guest calls: both sleds' ends, an invalid syscall
/// (1000, as the benchmark's), both jumps and the trampoline itself.
const NUMBERS: [u32; 11] = [0, 1, 39, 511, 512, 518, 519, 1000, 4090, 4091, 0x7000];

/// One ELF note record named `Nabla`.
fn note(note_type: u32, desc: &[u8]) -> Vec<u8> {
    let mut n = Vec::new();
    for w in [6, desc.len() as u32, note_type] {
        n.extend_from_slice(&w.to_le_bytes());
    }
    n.extend_from_slice(&NOTE_NAME_PADDED);
    n.extend_from_slice(desc);
    n.resize(n.len().next_multiple_of(4), 0);
    n
}

/// The guest file, with a fast syscall note of descriptor `fast` if any.
fn guest_bytes(fast: Option<&[u8]>) -> Vec<u8> {
    let mut abi = nabla_abi::ABI_VERSION.to_le_bytes().to_vec();
    abi.extend_from_slice(&nabla_abi::LAYOUT_CRC.to_le_bytes());
    let mut notes = note(NOTE_TYPE_ABI, &abi);
    if let Some(desc) = fast {
        notes.extend(note(NOTE_TYPE_FAST_SYSCALL, desc));
    }
    let notes_off = 64 + 2 * 56;
    let mut code = CODE.to_vec();
    for n in NUMBERS.iter().chain(&[u32::MAX]) {
        code.extend_from_slice(&n.to_le_bytes());
    }
    let len = (CODE_OFF + code.len()) as u64;
    let mut f = Vec::new();
    // ELF header: ELF64, little-endian, ET_EXEC, x86_64, two program headers.
    f.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&62u16.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&(BASE + CODE_OFF as u64).to_le_bytes());
    f.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
    f.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    f.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    for h in [64u16, 56, 2, 64, 0, 0] {
        f.extend_from_slice(&h.to_le_bytes());
    }
    // PT_LOAD, read and execute: the whole file at BASE.
    // PT_NOTE: the notes.
    let phdr = |t: u32, flags: u32, off: u64, size: u64, align: u64| {
        let mut p = Vec::new();
        p.extend_from_slice(&t.to_le_bytes());
        p.extend_from_slice(&flags.to_le_bytes());
        for v in [off, BASE + off, BASE + off, size, size, align] {
            p.extend_from_slice(&v.to_le_bytes());
        }
        p
    };
    f.extend(phdr(1, 5, 0, len, 0x1000));
    f.extend(phdr(4, 4, notes_off as u64, notes.len() as u64, 4));
    assert_eq!(f.len(), notes_off);
    f.extend(notes);
    assert!(f.len() <= CODE_OFF);
    f.resize(CODE_OFF, 0);
    f.extend(code);
    f
}

/// Write a guest file for test `name`.
fn guest(name: &str, fast: Option<&[u8]>) -> PathBuf {
    let path = std::env::temp_dir().join(format!("nabla-sled-{}-{name}", std::process::id()));
    std::fs::write(&path, guest_bytes(fast)).unwrap();
    path
}

struct Run {
    code: i32,
    stderr: String,
}

/// Run the tender on `guest` with `flags` and the guest command line `mode`.
fn run(guest: &PathBuf, flags: &[&str], mode: &str) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_nabla-tender"))
        .arg("--mem=2")
        .args(flags)
        .arg(guest)
        .args(if mode.is_empty() { vec![] } else { vec!["--", mode] })
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run { code: out.status.code().unwrap_or(-1), stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
}

/// The one `--verbose` line about the sled.
fn sled_line(r: &Run) -> &str {
    let lines: Vec<&str> = r.stderr.lines().filter(|l| l.contains("syscall rewriting")).collect();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    lines[0]
}

#[test]
fn the_sled_reaches_the_fast_entry_or_is_reported_off() {
    let g = guest("entry", Some(&ENTRY.to_le_bytes()));
    let r = run(&g, &["--verbose"], "");
    let line = sled_line(&r);
    if line == format!("nabla-tender: syscall rewriting on: sled at 0x0, entry {ENTRY:#x}") {
        assert_eq!(r.code, 42, "{}", r.stderr);
        let r = run(&g, &[], "r");
        assert_eq!((r.code, r.stderr.as_str()), (43, ""), "address 0 holds the sled");
        let r = run(&g, &[], "i");
        assert_eq!(r.code, 132, "{}", r.stderr);
        assert!(r.stderr.contains("guest fault SIGILL at 0x205"), "{}", r.stderr);
        let r = run(&g, &[], "u");
        assert_eq!(r.code, 139, "{}", r.stderr);
        assert!(r.stderr.contains("guest fault SIGSEGV at 0x1388"), "{}", r.stderr);
        let r = run(&g, &[], "n");
        assert_eq!(r.code, 139, "{}", r.stderr);
        assert!(r.stderr.contains("guest fault SIGSEGV at "), "{}", r.stderr);
    } else {
        let off = "nabla-tender: syscall rewriting off: cannot map the sled at address 0 \
                   (needs root or vm.mmap_min_addr=0): ";
        assert!(line.starts_with(off), "{line}");
        assert_eq!(r.code, 10, "{}", r.stderr);
        eprintln!("address 0 cannot be mapped here: only the sled's \"off\" path was checked");
    }
    std::fs::remove_file(g).unwrap();
}

#[test]
fn no_syscall_rewrite_keeps_address_0_unmapped() {
    let g = guest("disabled", Some(&ENTRY.to_le_bytes()));
    let r = run(&g, &["--verbose", "--no-syscall-rewrite"], "");
    assert_eq!(sled_line(&r), "nabla-tender: syscall rewriting off: --no-syscall-rewrite");
    assert_eq!(r.code, 10, "{}", r.stderr);
    let r = run(&g, &["--no-syscall-rewrite"], "r");
    assert_eq!(r.code, 139, "{}", r.stderr);
    assert!(r.stderr.contains("accessing 0x0"), "{}", r.stderr);
    std::fs::remove_file(g).unwrap();
}

#[test]
fn guests_without_a_usable_entry_get_no_sled() {
    let g = guest("none", None);
    let r = run(&g, &["--verbose"], "");
    assert_eq!(sled_line(&r), "nabla-tender: syscall rewriting off: the guest has no fast syscall entry");
    assert_eq!(r.code, 10, "{}", r.stderr);
    std::fs::remove_file(g).unwrap();

    let g = guest("data", Some(&0x20_0000u64.to_le_bytes()));
    let r = run(&g, &["--verbose"], "");
    let want = "nabla-tender: syscall rewriting off: the fast syscall entry 0x200000 is not in an executable segment \
                of the guest";
    assert_eq!(sled_line(&r), want);
    assert_eq!(r.code, 10, "{}", r.stderr);
    std::fs::remove_file(g).unwrap();
}

#[test]
fn the_fast_syscall_note_is_parsed_and_checked() {
    assert_eq!(elf::parse(&guest_bytes(Some(&ENTRY.to_le_bytes()))).unwrap().fast_syscall, Some(ENTRY));
    assert_eq!(elf::parse(&guest_bytes(None)).unwrap().fast_syscall, None);
    let short = guest_bytes(Some(&[1, 2, 3, 4]));
    assert_eq!(elf::parse(&short).unwrap_err(), ElfError::BadFastSyscall(4));
    let g = guest("short", Some(&[1, 2, 3, 4]));
    let r = run(&g, &[], "");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("bad fast syscall note: its descriptor is 4 bytes, not 8"), "{}", r.stderr);
    std::fs::remove_file(g).unwrap();
}

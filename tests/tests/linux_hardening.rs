//! The Linux guest, hardened: what testing on other hosts and as an
//! attacker found (FPU state on AMX hosts, empty buffers, large and
//! fragmented memory, clone without CLONE_VM, 32-bit code). The checks
//! that run inside the test init's "test" mode are in `linux.rs`; these
//! need a boot of their own.

use nabla_platform::xsave::{self, Component};
use nabla_tests::linux::{boot_initramfs, boot_with, spawn_initramfs};

/// The save instruction, xsave mask and area size the kernel should choose
/// on this host.
fn expected_fpu_line() -> String {
    let leaf1 = core::arch::x86_64::__cpuid(1);
    if leaf1.ecx & (1 << 26) == 0 || leaf1.ecx & (1 << 27) == 0 {
        return "nabla: user FPU state: fxsave (no xsave), 512 bytes".into();
    }
    // SAFETY: OSXSAVE is set (checked above), so xgetbv is allowed.
    let xcr0 = unsafe { core::arch::x86_64::_xgetbv(0) };
    let leaf = |i: u32| {
        let r = core::arch::x86_64::__cpuid_count(0xd, i);
        Component { size: r.eax, offset: r.ebx, flags: r.ecx }
    };
    // The kernel's save area: 2696 bytes (uml_pt_regs.fp on x86_64).
    let p = xsave::plan(xcr0, leaf, 2696);
    assert_eq!(p.mask & (3 << 17), 0, "AMX must never be in the mask");
    if xcr0 & 4 != 0 {
        assert_ne!(p.mask & 4, 0, "the host enables AVX: it must be saved");
    }
    // xsaveopt where the CPU has it: CPUID.(EAX=0xd, ECX=1):EAX bit 0.
    let insn = if core::arch::x86_64::__cpuid_count(0xd, 1).eax & 1 != 0 { "xsaveopt" } else { "xsave" };
    format!("nabla: user FPU state: {insn} mask {:#x}, {} bytes", p.mask, p.size)
}

#[test]
fn the_kernel_says_which_fpu_state_it_switches() {
    let r = boot_with(64, None, 60);
    assert_eq!(r.code, Some(0), "{r:?}");
    let want = expected_fpu_line();
    assert!(r.stdout.lines().any(|l| l.ends_with(&want)), "no line \"{want}\" in:\n{}", r.stdout);
    assert!(!r.stdout.contains("do not fit"), "{}", r.stdout);
}

#[test]
fn mappings_of_up_to_64_mib_work() {
    // mmap of 5, 8, 16 and 64 MiB, malloc of 4 and 16 MiB (4 MiB was the
    // largest before the page allocator's order went from 10 to 14).
    let r = boot_with(256, Some("big-mmap"), 60);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("nabla-init: big-mmap ok"), "{}", r.stdout);
}

#[test]
fn five_thousand_spawns_of_a_1_mib_program_fit_in_64_mib() {
    // Each child leaves a page behind in tmpfs (one of 500 files it
    // rewrites): with the tails of exec's blocks given back, such pages
    // fragment memory until exec fails with 240 MiB free.
    let r = boot_initramfs(&spawn_initramfs(), 64, Some("spawn-many=5000"), 300);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("nabla-init: spawn-many 5000 of 5000 ok"), "{}", r.stdout);
    assert!(!r.stdout.contains("Allocation of length"), "{}", r.stdout);
}

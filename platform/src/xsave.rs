//! Which user FPU state a nabla Linux kernel saves with `xsave`, and how
//! big the save area is (feature `uml`; used by the kernel's
//! `nabla_setup_fpu`).
//!
//! The kernel switches the FPU/SSE/AVX state of its user processes itself
//! (they all run in one host thread), so it must save every register a
//! program can use, or programs see each other's registers. It must not
//! simply take the host's whole XCR0 either:
//!
//! * AMX (components 17 TILECFG and 18 TILEDATA) is only usable by a host
//!   process after `arch_prctl(ARCH_REQ_XCOMP_PERM)`, which the guest never
//!   makes; until then the host arms XFD for it, and its 8 KiB of tile
//!   data would make the area not fit anyway. Any component that the CPU
//!   lets the host gate with XFD (CPUID.(0xd,i).ECX bit 2) is left out for
//!   the same reason.
//! * Supervisor components are not in XCR0 and never concern us.
//! * PKRU (component 9) is not a per-process register here: the tender
//!   gives the kernel's entries its own PKRU back whatever a program
//!   wrote, and protection keys mean nothing without an MMU (there is no
//!   `pkey_alloc`), so it is left out too.
//!
//! So the mask is XCR0 restricted to the user components a program can
//! really use: x87, SSE, AVX, MPX, the three AVX-512 components and APX.
//! The area size, in the standard (non-compacted) format, is the end
//! of the highest chosen component, from its CPUID.(0xd,i) offset and size
//! (CPUID.(0xd,0).EBX is the size for the whole of XCR0, AMX included,
//! which is not what we save).
//!
//! If the area would not fit in the kernel's buffer, the highest
//! components are dropped until it does and reported in `dropped`, so the
//! kernel can say at boot that those registers are not switched.

/// Bytes of the legacy (fxsave) region plus the xsave header.
pub const LEGACY_AND_HEADER: u32 = 512 + 64;

/// Components a user program can use and that we save when the host
/// enables them: x87 (0), SSE (1), AVX (2), MPX BNDREGS (3) and BNDCSR
/// (4), AVX-512 opmask (5), ZMM_Hi256 (6) and Hi16_ZMM (7), and APX
/// extended GPRs (19).
pub const USER_COMPONENTS: u64 = 0b1111_1111 | 1 << 19;

/// CPUID.(0xd, i).ECX bit: the component can be gated by XFD.
const XFD_CAPABLE: u32 = 1 << 2;

/// What CPUID.(EAX=0xd, ECX=i) says of component `i` (i >= 2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Component {
    /// EAX: size in bytes.
    pub size: u32,
    /// EBX: offset in the standard format.
    pub offset: u32,
    /// ECX: flags (bit 0 supervisor, bit 1 aligned, bit 2 XFD).
    pub flags: u32,
}

/// The chosen save mask and area size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Requested-feature bitmap for xsave/xrstor (edx:eax).
    pub mask: u64,
    /// Bytes of the save area for `mask`, standard format.
    pub size: u32,
    /// User components enabled in XCR0 that do not fit in the buffer
    /// (their registers are not switched between processes).
    pub dropped: u64,
}

/// Choose the mask and size for a host with `xcr0`, reading component
/// figures through `leaf`, for a save buffer of `limit` bytes.
pub fn plan(xcr0: u64, leaf: impl Fn(u32) -> Component, limit: u32) -> Plan {
    let mut mask = xcr0 & USER_COMPONENTS;
    for i in 2..64 {
        if mask & (1u64 << i) != 0 && leaf(i).flags & XFD_CAPABLE != 0 {
            mask &= !(1u64 << i);
        }
    }
    let size_of = |mask: u64| {
        (2..64u32)
            .filter(|&i| mask & (1u64 << i) != 0)
            .map(|i| {
                let c = leaf(i);
                c.offset.saturating_add(c.size)
            })
            .fold(LEGACY_AND_HEADER, u32::max)
    };
    let mut dropped = 0;
    let mut size = size_of(mask);
    while size > limit && mask > 0b11 {
        let top = 63 - mask.leading_zeros();
        mask &= !(1u64 << top);
        dropped |= 1u64 << top;
        size = size_of(mask);
    }
    Plan { mask, size, dropped }
}

/// The kernel's entry: the plan for this CPU's XCR0 and a buffer of
/// `limit` bytes; stores the size in `*size` and the dropped components
/// in `*dropped`. The caller has checked that the CPU has XSAVE and the
/// host enabled it (CPUID.1:ECX.OSXSAVE).
///
/// # Safety
/// `size` and `dropped` must be valid for writes.
#[cfg(feature = "uml")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nabla_xsave_plan(xcr0: u64, limit: u32, size: *mut u32, dropped: *mut u64) -> u64 {
    let leaf = |i: u32| {
        let r = core::arch::x86_64::__cpuid_count(0xd, i);
        Component { size: r.eax, offset: r.ebx, flags: r.ecx }
    };
    let p = plan(xcr0, leaf, limit);
    // SAFETY: the caller passes writable pointers.
    unsafe {
        size.write(p.size);
        dropped.write(p.dropped);
    }
    p.mask
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CPUID.(0xd, i) figures of the components of the hosts below.
    fn sapphire_rapids(i: u32) -> Component {
        let (size, offset, flags) = match i {
            2 => (256, 576, 0),
            5 => (64, 1088, 0),
            6 => (512, 1152, 0),
            7 => (1024, 1664, 0),
            9 => (8, 2688, 0),
            17 => (64, 2752, 0),
            18 => (8192, 2816, 0b110),
            _ => (0, 0, 0),
        };
        Component { size, offset, flags }
    }

    /// CPUID.(0xd,0).EBX: the area for the whole of XCR0.
    fn whole(xcr0: u64, leaf: impl Fn(u32) -> Component) -> u32 {
        (2..64).filter(|&i| xcr0 & (1u64 << i) != 0).map(|i| leaf(i).offset + leaf(i).size).fold(576, u32::max)
    }

    #[test]
    fn amx_host_saves_avx512_but_not_tiles() {
        // XCR0 0x600e7: x87, SSE, AVX, AVX-512, TILECFG, TILEDATA.
        assert_eq!(whole(0x600e7, sapphire_rapids), 11008);
        let p = plan(0x600e7, sapphire_rapids, 4096);
        assert_eq!(p, Plan { mask: 0xe7, size: 2688, dropped: 0 });
    }

    #[test]
    fn avx512_host() {
        let p = plan(0xe7, sapphire_rapids, 4096);
        assert_eq!(p, Plan { mask: 0xe7, size: 2688, dropped: 0 });
    }

    #[test]
    fn avx2_host() {
        let p = plan(0x7, sapphire_rapids, 4096);
        assert_eq!(p, Plan { mask: 0x7, size: 832, dropped: 0 });
    }

    #[test]
    fn mpx_is_kept_and_pkru_left_out() {
        let skx = |i: u32| match i {
            3 => Component { size: 64, offset: 960, flags: 0 },
            4 => Component { size: 64, offset: 1024, flags: 0 },
            _ => sapphire_rapids(i),
        };
        let p = plan(0x2ff, skx, 4096);
        assert_eq!(p, Plan { mask: 0xff, size: 2688, dropped: 0 });
        // This machine: AVX2 and PKRU.
        assert_eq!(plan(0x207, sapphire_rapids, 2696).mask, 0x7);
    }

    #[test]
    fn unknown_and_xfd_components_are_left_out() {
        let leaf = |i: u32| match i {
            // A hypothetical XFD-gated user component.
            20 => Component { size: 64, offset: 3000, flags: 0b100 },
            _ => sapphire_rapids(i),
        };
        assert_eq!(plan(0x7 | 1 << 20 | 1 << 30, leaf, 4096).mask, 0x7);
    }

    #[test]
    fn too_small_a_buffer_drops_the_highest_and_says_so() {
        let p = plan(0xe7, sapphire_rapids, 1024);
        assert_eq!(p, Plan { mask: 0x7, size: 832, dropped: 0xe0 });
        let p = plan(0x7, sapphire_rapids, 600);
        assert_eq!(p, Plan { mask: 0x3, size: 576, dropped: 0x4 });
    }
}

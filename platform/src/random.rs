//! A random word for the guest runtime without a host call: the CPU's
//! RDRAND when it has one, else a mix of the clocks and the time-stamp
//! counter (unpredictable enough for a stack-protector canary, not for
//! keys).

use core::sync::atomic::{AtomicU8, Ordering};

/// Where a random word came from.
#[cfg_attr(feature = "uml", allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The CPU's RDRAND instruction.
    Rdrand,
    /// The clocks and the time-stamp counter, mixed.
    Clock,
}

/// RDRAND support: 0 unknown, 1 no, 2 yes. CPUID traps to the hypervisor
/// in a VM, so it is asked once.
static RDRAND: AtomicU8 = AtomicU8::new(0);

fn has_rdrand() -> bool {
    match RDRAND.load(Ordering::Relaxed) {
        0 => {
            let yes = core::arch::x86_64::__cpuid(1).ecx & (1 << 30) != 0;
            RDRAND.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
        v => v == 2,
    }
}

/// One RDRAND word, retried as Intel advises; `None` without RDRAND or
/// when it keeps failing.
pub fn rdrand() -> Option<u64> {
    if !has_rdrand() {
        return None;
    }
    for _ in 0..10 {
        let (v, ok): (u64, u8);
        // SAFETY: the CPU has RDRAND (checked above); it writes a register
        // and the carry flag only.
        unsafe {
            core::arch::asm!("rdrand {v}", "setc {ok}", v = out(reg) v, ok = out(reg_byte) ok, options(nomem, nostack))
        };
        if ok != 0 {
            return Some(v);
        }
    }
    None
}

/// The splitmix64 finaliser: spreads every input bit over the word.
#[cfg_attr(feature = "uml", allow(dead_code))]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A random word and where it came from.
#[cfg_attr(feature = "uml", allow(dead_code))]
pub fn word() -> (u64, Source) {
    if let Some(v) = rdrand() {
        return (v, Source::Rdrand);
    }
    // SAFETY: RDTSC reads the time-stamp counter; user mode may (Linux
    // does not set CR4.TSD for the tender).
    let tsc = unsafe { core::arch::x86_64::_rdtsc() };
    let v = mix(crate::clock_wall() ^ mix(crate::clock_monotonic() ^ mix(tsc)));
    (v, Source::Clock)
}

//! SSE and (when the CPU has it) AVX arithmetic, with values kept live
//! across hypercalls.
#![no_std]
#![no_main]

use core::arch::x86_64::*;
use core::hint::black_box;
use nabla_platform::{clock_monotonic, println};

nabla_platform::guest_main!(main);

fn has_avx() -> bool {
    let c = __cpuid(1);
    let (osxsave, avx) = (c.ecx & (1 << 27) != 0, c.ecx & (1 << 28) != 0);
    // SAFETY: xgetbv is available when OSXSAVE is set.
    osxsave && avx && unsafe { _xgetbv(0) } & 6 == 6
}

#[target_feature(enable = "avx")]
fn avx_sum(a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
    let mut out = [0.0; 4];
    // SAFETY: unaligned loads/stores of 4 f64 from/to arrays of 4.
    unsafe {
        let x = _mm256_loadu_pd(a.as_ptr());
        let y = _mm256_loadu_pd(b.as_ptr());
        let _ = clock_monotonic();
        _mm256_storeu_pd(out.as_mut_ptr(), _mm256_mul_pd(_mm256_add_pd(x, y), y));
    }
    out
}

fn main(_cmdline: &str) -> i32 {
    let x = black_box(2.0f64);
    let _ = clock_monotonic();
    let y = black_box(x * black_box(1.5) + 0.25) / black_box(0.5);
    // SAFETY: SSE2 is baseline on x86_64.
    let s = unsafe { _mm_cvtsd_f64(_mm_sqrt_sd(_mm_setzero_pd(), _mm_set_sd(black_box(6.5 * 6.5)))) };
    if y != 6.5 || s != 6.5 {
        println!("SSE arithmetic wrong: {y} {s}");
        return 1;
    }
    if has_avx() {
        // SAFETY: AVX presence checked above.
        let r = unsafe { avx_sum(black_box([1.0, 2.0, 3.0, 4.0]), black_box([0.5, 0.5, 2.0, -1.0])) };
        if r != [0.75, 1.25, 10.0, -3.0] {
            println!("AVX arithmetic wrong: {r:?}");
            return 1;
        }
        println!("AVX ok");
    } else {
        println!("no AVX on this CPU; SSE only");
    }
    println!("SUCCESS");
    0
}

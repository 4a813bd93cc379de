//! A fixed-address (ET_EXEC) guest: checks it runs at its link address and
//! that pointers in its data were not relocated, then SUCCESS.
#![no_std]
#![no_main]

static WORDS: [&str; 2] = ["fixed", "address"];

nabla_platform::guest_main!(main);

fn main(_cmdline: &str) -> i32 {
    let here = main as *const () as u64;
    let bi = nabla_platform::boot_info();
    if here < bi.image_start || here >= bi.image_end {
        nabla_platform::println!("code at {here:#x} is outside the image");
        return 1;
    }
    nabla_platform::println!("{} {} guest at {here:#x}", WORDS[0], WORDS[1]);
    nabla_platform::println!("SUCCESS");
    0
}

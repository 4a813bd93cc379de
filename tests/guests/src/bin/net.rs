//! Net device `service0` at 10.0.0.2: answers ARP and ICMP echo until it
//! has answered the number of echo requests given as argument.
#![no_std]
#![no_main]

#[path = "../net.rs"]
mod net;

nabla_platform::guest_main!(main);
nabla_platform::devices![net "service0"];

fn main(cmdline: &str) -> i32 {
    let limit = cmdline.trim().parse().unwrap_or(0);
    let Some(i) = net::Iface::new("service0", [10, 0, 0, 2]) else { return 1 };
    let mut ifaces = [i];
    if !net::serve(&mut ifaces, limit) {
        return 1;
    }
    nabla_platform::println!("answered {} echo requests", ifaces[0].answered);
    nabla_platform::println!("SUCCESS");
    0
}

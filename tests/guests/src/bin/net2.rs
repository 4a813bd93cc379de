//! Two net devices: `service0` at 10.0.0.2 and `service1` at 10.1.0.2;
//! answers on both until each has answered the given number of echoes.
#![no_std]
#![no_main]

#[path = "../net.rs"]
mod net;

nabla_platform::guest_main!(main);
nabla_platform::devices![net "service0", net "service1"];

fn main(cmdline: &str) -> i32 {
    let limit = cmdline.trim().parse().unwrap_or(0);
    let (Some(a), Some(b)) = (net::Iface::new("service0", [10, 0, 0, 2]), net::Iface::new("service1", [10, 1, 0, 2]))
    else {
        return 1;
    };
    let mut ifaces = [a, b];
    if !net::serve(&mut ifaces, limit) {
        return 1;
    }
    nabla_platform::println!("answered {} + {} echo requests", ifaces[0].answered, ifaces[1].answered);
    nabla_platform::println!("SUCCESS");
    0
}

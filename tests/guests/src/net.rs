//! A minimal ARP and ICMP-echo responder shared by the `net` and `net2`
//! test guests: answers ARP requests for its address and echo requests
//! sent to it, checking the IPv4 and ICMP checksums of what it receives.

use nabla_platform::abi::DEVICE_NET;
use nabla_platform::{clock_monotonic, net_read, net_write, println, yield_until};

/// One interface of the responder.
pub struct Iface {
    /// Device handle.
    pub handle: u32,
    /// Its MAC.
    pub mac: [u8; 6],
    /// Its IPv4 address.
    pub ip: [u8; 4],
    /// Echo requests answered.
    pub answered: u64,
}

impl Iface {
    /// The net device `name`, answering for `ip`.
    pub fn new(name: &str, ip: [u8; 4]) -> Option<Iface> {
        let (handle, d) = nabla_platform::device(name, DEVICE_NET)?;
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&d.mac[..6]);
        println!("{name}: mac {:02x?} mtu {} ip {}.{}.{}.{}", mac, d.mtu, ip[0], ip[1], ip[2], ip[3]);
        Some(Iface { handle, mac, ip, answered: 0 })
    }
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        let w = if c.len() == 2 { u16::from_be_bytes([c[0], c[1]]) } else { u16::from_be_bytes([c[0], 0]) };
        sum += u32::from(w);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Build the answer to `f` in `out`; returns its length.
fn answer(i: &mut Iface, f: &[u8], out: &mut [u8]) -> Option<usize> {
    if f.len() < 14 {
        return None;
    }
    let ethertype = u16::from_be_bytes([f[12], f[13]]);
    out[0..6].copy_from_slice(&f[6..12]);
    out[6..12].copy_from_slice(&i.mac);
    out[12..14].copy_from_slice(&f[12..14]);
    let p = &f[14..];
    match ethertype {
        0x0806 if p.len() >= 28 && p[6..8] == [0, 1] && p[24..28] == i.ip => {
            let o = &mut out[14..42];
            o[0..6].copy_from_slice(&[0, 1, 8, 0, 6, 4]);
            o[6..8].copy_from_slice(&[0, 2]);
            o[8..14].copy_from_slice(&i.mac);
            o[14..18].copy_from_slice(&i.ip);
            o[18..28].copy_from_slice(&p[8..18]);
            Some(42)
        }
        0x0800 if p.len() >= 20 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
            if p[0] >> 4 != 4 || ihl < 20 || total < ihl + 8 || total > p.len() || p[9] != 1 || p[16..20] != i.ip {
                return None;
            }
            if checksum(&p[..ihl]) != 0 || checksum(&p[ihl..total]) != 0 || p[ihl] != 8 {
                return None;
            }
            let o = &mut out[14..14 + total];
            o.copy_from_slice(&p[..total]);
            o[8] = 64;
            o[10..12].copy_from_slice(&[0, 0]);
            o[12..16].copy_from_slice(&p[16..20]);
            o[16..20].copy_from_slice(&p[12..16]);
            let c = checksum(&o[..ihl]);
            o[10..12].copy_from_slice(&c.to_be_bytes());
            o[ihl] = 0;
            o[ihl + 2..ihl + 4].copy_from_slice(&[0, 0]);
            let c = checksum(&o[ihl..]);
            o[ihl + 2..ihl + 4].copy_from_slice(&c.to_be_bytes());
            i.answered += 1;
            Some(14 + total)
        }
        _ => None,
    }
}

/// Answer on every interface until each has answered `limit` echo
/// requests (0: forever). Returns false on a device error.
pub fn serve(ifaces: &mut [Iface], limit: u64) -> bool {
    let mut frame = [0u8; 9216];
    let mut out = [0u8; 9216];
    loop {
        for i in ifaces.iter_mut() {
            loop {
                match net_read(i.handle, &mut frame) {
                    Ok(Some(n)) => {
                        if let Some(len) = answer(i, &frame[..n], &mut out) {
                            while let Err(e) = net_write(i.handle, &out[..len]) {
                                if e.0 != nabla_platform::abi::RESULT_AGAIN {
                                    println!("net_write failed: {e:?}");
                                    return false;
                                }
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        println!("net_read failed: {e:?}");
                        return false;
                    }
                }
            }
        }
        if limit != 0 && ifaces.iter().all(|i| i.answered >= limit) {
            return true;
        }
        if yield_until(clock_monotonic() + 1_000_000_000).is_err() {
            return false;
        }
    }
}

//! The Linux guest's network, as a user runs it: `nabla-tender
//! --net:eth0=tap0` (or `=@FD`) in a network namespace of the test's own,
//! the guest booted from a copy of the root image, configured by the
//! kernel's `ip=` parameter, by udhcpc from dnsmasq or by hand (ip,
//! ifconfig, route), and traffic checked end to end: flood pings with a
//! payload pattern both ways, 3 x 64 MiB downloaded at once from busybox
//! httpd in the guest, wget out of the guest, UDP both ways, two
//! interfaces, jumbo frames, handed-over tap fds with and without the
//! virtio-net header, loopback, /etc/resolv.conf, a tap deleted under a
//! running guest, and the host syscalls of a guest flooding its tap.
//!
//! Design: each test makes its own namespace (`Netns`, deleted on drop
//! with its taps; every process it started is killed on drop), so the same
//! addresses serve every test: the host side is 10.0.0.1/24 on tap0
//! (10.1.0.1/24 on tap1), the guest 10.0.0.2 (10.1.0.2). The console shell
//! is driven line by line (`Guest::cmd` waits for a marker echoed after
//! each script), servers in the guest are waited for by their listening
//! socket (netstat), and the host's own sockets (an HTTP server, UDP
//! peers, a UDP sink) are bound inside the namespace before the guest
//! uses them, so no test sleeps to synchronise.
//!
//! Limits: needs root (CI runs as root), iproute2, iputils ping, curl,
//! dnsmasq and strace (scripts/setup.sh installs them).

#![allow(clippy::unwrap_used)] // a failing unwrap is a failing test

use nabla_tests::bin;
use nabla_tests::disk::{powered_off, program_lines, rootfs_copy, scratch, shell};
use nabla_tests::netns::{Guest, Netns, Reap};
use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// The guest's MAC on eth0.
const MAC: &str = "--net-mac:eth0=02:00:00:00:00:02";
/// The kernel's own configuration of eth0: 10.0.0.2/24, gateway 10.0.0.1.
const IP: &str = "ip=10.0.0.2::10.0.0.1:255.255.255.0::eth0:off";
/// The host side of tap0.
const TAP0: (&str, &str) = ("tap0", "10.0.0.1/24");

/// A shell function for the guest: wait until something listens on port
/// $1 (TCP or UDP).
const LISTENING: &str = "listening() { until netstat -ltun | grep -q \":$1 \"; do sleep 0.02; done; }";

/// Boot the guest in `ns` with `flags` (net devices) and kernel `words`,
/// and wait for its shell (rcS and the kernel's ip= are done by then).
fn boot_in(ns: &Netns, tag: &str, wrapper: &[&str], flags: &[&str], words: &[&str]) -> Guest {
    let mut g = ns.boot(&scratch(&format!("net-{tag}")), wrapper, 256, flags, words);
    // What it printed so far is the platform's banner.
    g.cmd(LISTENING, 60);
    g
}

/// The usual guest: eth0 on tap0, MAC 02:00:00:00:00:02, 10.0.0.2/24.
fn boot(ns: &Netns, tag: &str) -> Guest {
    boot_in(ns, tag, &[], &["--net:eth0=tap0", MAC], &[IP])
}

/// `count` flood pings (`ping -f`, as root) of `size` bytes with a
/// payload pattern from the namespace to `addr`: every one answered, none
/// twice, every payload intact (iputils checks the pattern).
fn flood_ping(ns: &Netns, addr: &str, count: u32, size: u32, extra: &[&str]) {
    let (c, s) = (count.to_string(), size.to_string());
    let mut args = vec!["ping", "-f", "-c", &c, "-p", "4e61626c61", "-s", &s, "-W", "2"];
    args.extend_from_slice(extra);
    args.push(addr);
    let (ok, text) = ns.run(&args);
    assert!(ok, "ping {addr} failed: {text}");
    assert!(text.contains(&format!("{count} packets transmitted, {count} received")), "{text}");
    assert!(!text.contains("wrong data") && !text.contains("DUP"), "{text}");
}

/// `count` pings from the guest (busybox, the next as soon as a reply
/// came) of `size` bytes with a payload byte: all answered, none twice.
fn guest_ping(g: &mut Guest, addr: &str, count: u32, size: u32) {
    let out = g.cmd(&format!("ping -q -A -c {count} -s {size} -p 4e -W 2 {addr}; echo rc=$?"), 120);
    assert!(out.contains(&format!("{count} packets transmitted, {count} packets received, 0% packet loss")), "{out}");
    assert!(!out.contains("DUP") && out.contains("rc=0"), "{out}");
}

/// The kernel's boot line for net device `dev` (`nabla-net eth0: MAC ...,
/// MTU ..., offloads on|off`), from dmesg (the console is `quiet`).
fn boot_line(g: &mut Guest, dev: &str) -> String {
    let out = g.cmd(&format!("dmesg | grep 'nabla-net {dev}:'"), 10);
    out.lines().next().map(|l| l[l.find("nabla-net").unwrap()..].to_owned()).unwrap_or_default()
}

/// `n` random bytes from the host's /dev/urandom.
fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut v).unwrap();
    v
}

/// SHA-256 of `data` as hex (the host's sha256sum).
fn sha256_of(data: &[u8]) -> String {
    let mut c = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let data = data.to_vec();
    let w = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let out = c.wait_with_output().unwrap();
    w.join().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_owned()
}

/// The hash a guest's `sha256sum FILE` printed.
fn guest_sha(out: &str, file: &str) -> String {
    let line = out.lines().find(|l| l.ends_with(file)).unwrap_or_else(|| panic!("no sha256sum of {file}: {out}"));
    line.split_whitespace().next().unwrap().to_owned()
}

/// An HTTP server in the namespace on `addr` that answers one `GET
/// /file` with `body` and tells what it saw (the request line, or an
/// error). The socket listens before this returns.
fn serve_once(ns: &Netns, addr: &str, body: Vec<u8>) -> Receiver<Result<String, String>> {
    let listener = ns.tcp_listener(addr);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let answer = || -> Result<String, String> {
            let (mut s, _) = listener.accept().map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err(format!("request cut short: {:?}", String::from_utf8_lossy(&req)));
                }
                req.extend_from_slice(&buf[..n]);
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
            s.write_all(&body).map_err(|e| e.to_string())?;
            Ok(String::from_utf8_lossy(&req).lines().next().unwrap_or("").to_owned())
        };
        let _ = tx.send(answer());
    });
    rx
}

/// The guest fetches `size` random bytes with wget from a server on the
/// host side (10.0.0.1:8080); the copy's SHA-256 is the original's.
fn wget_from_host(ns: &Netns, g: &mut Guest, size: usize) {
    let body = random_bytes(size);
    let want = sha256_of(&body);
    let served = serve_once(ns, "10.0.0.1:8080", body);
    let out = g.cmd(
        "wget -q -T 30 -O /tmp/fetched http://10.0.0.1:8080/file && sha256sum /tmp/fetched; rm -f /tmp/fetched",
        90,
    );
    let req = served.recv_timeout(Duration::from_secs(10)).expect("the server saw no request");
    assert_eq!(req, Ok("GET /file HTTP/1.1".to_owned()), "{out}");
    assert_eq!(guest_sha(&out, "/tmp/fetched"), want, "{out}");
}

/// busybox httpd in the guest serves `mib` MiB of random data made in the
/// guest (tmpfs /tmp) as /big; returns the guest's sha256sum of it.
fn guest_http_server(g: &mut Guest, mib: u32) -> String {
    let out = g.cmd(
        &format!(
            "mkdir -p /tmp/www && dd if=/dev/urandom of=/tmp/www/big bs=1M count={mib} 2>/dev/null && \
             sha256sum /tmp/www/big\nhttpd -p 80 -h /tmp/www && listening 80"
        ),
        60,
    );
    guest_sha(&out, "/tmp/www/big")
}

/// `n` downloads of http://10.0.0.2/big at once from the namespace
/// (curl); each one's SHA-256.
fn host_downloads(ns: &Netns, n: usize) -> Vec<String> {
    std::thread::scope(|s| {
        let all: Vec<_> = (0..n)
            .map(|_| {
                s.spawn(|| {
                    let cmd = "set -o pipefail; curl -sS --fail --max-time 90 http://10.0.0.2/big | sha256sum";
                    let (ok, text) = ns.run(&["bash", "-c", cmd]);
                    assert!(ok, "download failed: {text}");
                    text.split_whitespace().next().unwrap().to_owned()
                })
            })
            .collect();
        all.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Boots with eth0 configured by ip=, the MAC given and the tap's MTU, as
/// the kernel's boot line says; 10,000 flood pings with a pattern from the
/// host all come back intact, and 2,000 from the guest (busybox) too.
#[test]
fn pings_both_ways() {
    let ns = Netns::new("lnping", &[TAP0]);
    let mut g = boot(&ns, "ping");
    assert_eq!(boot_line(&mut g, "eth0"), "nabla-net eth0: MAC 02:00:00:00:00:02, MTU 1500, offloads on");
    let out = g.cmd("cat /sys/class/net/eth0/address /sys/class/net/eth0/mtu; ip -4 addr show dev eth0", 10);
    assert!(out.starts_with("02:00:00:00:00:02\n1500\n"), "{out}");
    assert!(out.contains("inet 10.0.0.2/24"), "{out}");
    flood_ping(&ns, "10.0.0.2", 10_000, 56, &[]);
    guest_ping(&mut g, "10.0.0.1", 2_000, 56);
    powered_off(&g.finish(30));
}

/// TCP into the guest: busybox httpd serves 64 MiB it made from
/// /dev/urandom; three downloads at once from the host all match the
/// guest's own sha256sum.
#[test]
fn three_downloads_of_64_mib_from_the_guest() {
    let ns = Netns::new("lnhttp", &[TAP0]);
    let mut g = boot(&ns, "http");
    let want = guest_http_server(&mut g, 64);
    for got in host_downloads(&ns, 3) {
        assert_eq!(got, want);
    }
    powered_off(&g.finish(30));
}

/// TCP out of the guest: its wget fetches 8 MiB of random data from a
/// server in the namespace, intact.
#[test]
fn wget_from_the_host() {
    let ns = Netns::new("lnwget", &[TAP0]);
    let mut g = boot(&ns, "wget");
    wget_from_host(&ns, &mut g, 8 << 20);
    powered_off(&g.finish(30));
}

/// UDP both ways with busybox nc in the guest: 100 datagrams from the
/// host to a guest echo server (which upper-cases them) each come back,
/// and a datagram the guest sends reaches the host, whose reply the
/// guest prints.
#[test]
fn udp_both_ways() {
    let ns = Netns::new("lnudp", &[TAP0]);
    let mut g = boot(&ns, "udp");
    let out = g.cmd("nc -u -l -p 5001 -e tr a-z A-Z </dev/null &\nlistening 5001", 30);
    assert_eq!(out, "");
    let peer = ns.udp_socket("10.0.0.1:0");
    peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 2048];
    for i in 0..100 {
        peer.send_to(format!("datagram {i} from the host\n").as_bytes(), "10.0.0.2:5001").unwrap();
        let (n, from) = peer.recv_from(&mut buf).expect("no answer from the guest");
        assert_eq!(from.to_string(), "10.0.0.2:5001");
        assert_eq!(String::from_utf8_lossy(&buf[..n]), format!("DATAGRAM {i} FROM THE HOST\n"));
    }
    let sink = ns.udp_socket("10.0.0.1:5002");
    sink.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let replier = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let (n, from) = sink.recv_from(&mut buf).expect("no datagram from the guest");
        sink.send_to(b"the host got it\n", from).unwrap();
        (String::from_utf8_lossy(&buf[..n]).into_owned(), from.ip().to_string())
    });
    let out = g.cmd("echo 'hello from the guest' | nc -u -w 1 10.0.0.1 5002", 30);
    assert_eq!(replier.join().unwrap(), ("hello from the guest\n".to_owned(), "10.0.0.2".to_owned()));
    assert_eq!(out, "the host got it\n");
    powered_off(&g.finish(30));
}

/// Two interfaces on two subnets: eth0 on tap0 (ip=), eth1 on tap1
/// configured with ip; each answers flood pings on its own tap, and the
/// guest reaches both host addresses.
#[test]
fn two_interfaces_on_two_subnets() {
    let ns = Netns::new("lntwo", &[TAP0, ("tap1", "10.1.0.1/24")]);
    let flags = ["--net:eth0=tap0", "--net:eth1=tap1", MAC, "--net-mac:eth1=02:00:00:00:01:02"];
    let mut g = boot_in(&ns, "two", &[], &flags, &[IP]);
    assert!(boot_line(&mut g, "eth1").starts_with("nabla-net eth1: MAC 02:00:00:00:01:02, MTU 1500"));
    let out = g.cmd("ip addr add 10.1.0.2/24 dev eth1 && ip link set eth1 up && ip -4 addr show | grep inet", 10);
    assert!(out.contains("inet 10.0.0.2/24") && out.contains("inet 10.1.0.2/24"), "{out}");
    std::thread::scope(|s| {
        s.spawn(|| flood_ping(&ns, "10.0.0.2", 2_000, 56, &[]));
        s.spawn(|| flood_ping(&ns, "10.1.0.2", 2_000, 56, &[]));
    });
    guest_ping(&mut g, "10.0.0.1", 100, 56);
    guest_ping(&mut g, "10.1.0.1", 100, 56);
    // Each subnet went through its own tap: both taps carried the pings.
    for tap in ["tap0", "tap1"] {
        let (ok, text) = ns.run(&["cat", &format!("/sys/class/net/{tap}/statistics/rx_packets")]);
        assert!(ok && text.trim().parse::<u64>().unwrap() >= 2_100, "{tap}: {text}");
    }
    powered_off(&g.finish(30));
}

/// Jumbo frames: a tap of MTU 9000 gives eth0 MTU 9000; pings of 8972
/// bytes with the don't-fragment bit pass both ways, and a wget of 8 MiB
/// is intact.
#[test]
fn mtu_9000() {
    let ns = Netns::with_mtu("lnjumbo", &[TAP0], Some(9000));
    let mut g = boot(&ns, "jumbo");
    assert_eq!(boot_line(&mut g, "eth0"), "nabla-net eth0: MAC 02:00:00:00:00:02, MTU 9000, offloads on");
    assert_eq!(g.cmd("cat /sys/class/net/eth0/mtu", 10), "9000\n");
    flood_ping(&ns, "10.0.0.2", 1_000, 8972, &["-M", "do"]);
    guest_ping(&mut g, "10.0.0.1", 100, 8972);
    wget_from_host(&ns, &mut g, 8 << 20);
    powered_off(&g.finish(30));
}

/// `--net:eth0=@3`, a tap opened by the caller (nabla-tapfd) with
/// IFF_VNET_HDR when `vnet_hdr`: the boot line says whether offloads are
/// on, and pings and TCP both ways work.
fn inherited_tap_fd(tag: &str, vnet_hdr: bool) {
    let ns = Netns::new(tag, &[TAP0]);
    let tapfd = bin("nabla-tapfd");
    let mut wrapper = vec![tapfd.to_str().unwrap()];
    if vnet_hdr {
        wrapper.push("--vnet-hdr");
    }
    wrapper.extend_from_slice(&["tap0", "3", "--"]);
    let mut g = boot_in(&ns, tag, &wrapper, &["--net:eth0=@3", MAC], &[IP]);
    let offloads = if vnet_hdr { "on" } else { "off" };
    assert_eq!(
        boot_line(&mut g, "eth0"),
        format!("nabla-net eth0: MAC 02:00:00:00:00:02, MTU 1500, offloads {offloads}")
    );
    flood_ping(&ns, "10.0.0.2", 1_000, 1400, &[]);
    wget_from_host(&ns, &mut g, 8 << 20);
    let want = guest_http_server(&mut g, 8);
    assert_eq!(host_downloads(&ns, 1), [want]);
    powered_off(&g.finish(30));
}

/// A handed-over tap fd with the virtio-net header: offloads on.
#[test]
fn inherited_tap_fd_with_vnet_hdr() {
    inherited_tap_fd("lnfdv", true);
}

/// A handed-over tap fd without it: plain frames, offloads off.
#[test]
fn inherited_tap_fd_without_vnet_hdr() {
    inherited_tap_fd("lnfdp", false);
}

/// dnsmasq in the namespace on tap0, in the foreground, logging to its
/// stderr; killed on drop.
struct Dnsmasq {
    _child: Reap,
    _log: std::thread::JoinHandle<()>,
    leases: std::path::PathBuf,
}

impl Dnsmasq {
    /// DHCP on tap0 (10.0.0.50-60, router and name server 10.0.0.1,
    /// domain nabla.test, 10.0.0.77 for our MAC) and DNS on 10.0.0.1
    /// (host.nabla.test is 10.0.0.99, nothing forwarded). Returns once it
    /// says it serves DHCP.
    fn start(ns: &Netns, dir: &std::path::Path) -> Dnsmasq {
        let leases = dir.join("leases");
        let mut child = ns
            .exec(&["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts"])
            .args(["--interface=tap0", "--bind-interfaces", "--log-facility=-", "--user=root"])
            .args(["--dhcp-range=10.0.0.50,10.0.0.60,255.255.255.0,1h", "--dhcp-host=02:00:00:00:00:02,10.0.0.77"])
            .args(["--dhcp-option=option:router,10.0.0.1", "--dhcp-option=option:dns-server,10.0.0.1"])
            .args(["--dhcp-option=option:domain-name,nabla.test", "--address=/host.nabla.test/10.0.0.99"])
            .arg(format!("--dhcp-leasefile={}", leases.display()))
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dnsmasq (dnsmasq-base) must be installed");
        let err = child.stderr.take().unwrap();
        let child = Reap(Some(child));
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut seen = String::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(l) if l.contains("DHCP, IP range") => break,
                Ok(l) => seen.push_str(&(l + "\n")),
                Err(_) => panic!("dnsmasq did not start: {seen}"),
            }
        }
        Dnsmasq { _child: child, _log: log, leases }
    }
}

/// With no ip=, udhcpc gets 10.0.0.77 from dnsmasq; its script sets the
/// address, the default route and /etc/resolv.conf (through the link
/// into /run), which the resolver then uses; ifconfig and route show it
/// all; the host reaches the leased address.
#[test]
fn udhcpc_gets_a_lease_from_dnsmasq() {
    let ns = Netns::new("lndhcp", &[TAP0]);
    let dir = scratch("net-dhcp-server");
    let dns = Dnsmasq::start(&ns, &dir);
    let mut g = boot_in(&ns, "dhcp", &[], &["--net:eth0=tap0", MAC], &[]);
    let out = g.cmd("udhcpc -i eth0 -f -q -n -t 5 -T 2 2>&1; echo rc=$?", 60);
    assert!(out.contains("lease of 10.0.0.77 obtained from 10.0.0.1") && out.contains("rc=0"), "{out}");
    let out = g.cmd("ifconfig eth0", 10);
    for want in ["HWaddr 02:00:00:00:00:02", "inet addr:10.0.0.77  Bcast:10.0.0.255  Mask:255.255.255.0", "UP "] {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }
    let out = g.cmd("route -n | grep eth0", 10);
    let routes: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert!(routes.contains(&vec!["0.0.0.0", "10.0.0.1", "0.0.0.0", "UG", "0", "0", "0", "eth0"]), "{out}");
    assert!(routes.contains(&vec!["10.0.0.0", "0.0.0.0", "255.255.255.0", "U", "0", "0", "0", "eth0"]), "{out}");
    let out = g.cmd("readlink /etc/resolv.conf; cat /etc/resolv.conf", 10);
    assert_eq!(out, "../run/resolv.conf\nsearch nabla.test\nnameserver 10.0.0.1\n");
    let out = g.cmd("nslookup host.nabla.test", 30);
    assert!(out.contains("Address: 10.0.0.99"), "{out}");
    flood_ping(&ns, "10.0.0.77", 1_000, 56, &[]);
    let leases = std::fs::read_to_string(&dns.leases).unwrap();
    assert!(leases.contains("02:00:00:00:00:02 10.0.0.77"), "{leases}");
    powered_off(&g.finish(30));
}

/// With no ip=, eth0 configured by hand, first with ip (address, link,
/// default route), then anew with ifconfig and route: `route -n`,
/// `ifconfig` and `ip` show each configuration and the host reaches each
/// address. Without name servers from the kernel there is no resolv.conf.
#[test]
fn manual_configuration_with_ip_ifconfig_and_route() {
    let ns = Netns::new("lnmanual", &[TAP0]);
    let mut g = boot_in(&ns, "manual", &[], &["--net:eth0=tap0", MAC], &[]);
    let out = g.cmd("cat /sys/class/net/eth0/operstate; cat /etc/resolv.conf 2>&1", 10);
    assert_eq!(out, "down\ncat: can't open '/etc/resolv.conf': No such file or directory\n");
    let out = g.cmd(
        "ip link set eth0 up && ip addr add 10.0.0.2/24 dev eth0 && ip route add default via 10.0.0.1 && \
         route -n | grep eth0 && ip -4 addr show dev eth0 | grep inet",
        10,
    );
    assert!(out.contains("0.0.0.0         10.0.0.1        0.0.0.0         UG"), "{out}");
    assert!(out.contains("inet 10.0.0.2/24 scope global eth0"), "{out}");
    flood_ping(&ns, "10.0.0.2", 1_000, 56, &[]);
    let out = g.cmd(
        "ip addr flush dev eth0 && ifconfig eth0 10.0.0.3 netmask 255.255.255.0 up && \
         route add default gw 10.0.0.1 eth0 && route -n | grep eth0 && ifconfig eth0",
        10,
    );
    assert!(out.contains("0.0.0.0         10.0.0.1        0.0.0.0         UG"), "{out}");
    assert!(out.contains("10.0.0.0        0.0.0.0         255.255.255.0   U"), "{out}");
    assert!(out.contains("inet addr:10.0.0.3  Bcast:10.0.0.255  Mask:255.255.255.0"), "{out}");
    flood_ping(&ns, "10.0.0.3", 1_000, 56, &[]);
    let (ok, text) = ns.run(&["ping", "-c", "1", "-W", "1", "10.0.0.2"]);
    assert!(!ok, "the old address still answers: {text}");
    guest_ping(&mut g, "10.0.0.1", 10, 56);
    powered_off(&g.finish(30));
}

/// ip= with a host name and a name server: /proc/net/pnp lists it, rcS
/// copies it to /run/resolv.conf (where /etc/resolv.conf points), and the
/// host name is the kernel's.
#[test]
fn resolv_conf_from_the_kernels_ip_parameter() {
    let ns = Netns::new("lnresolv", &[TAP0]);
    let ip = "ip=10.0.0.2::10.0.0.1:255.255.255.0:guest:eth0:off:10.0.0.1";
    let mut g = boot_in(&ns, "resolv", &[], &["--net:eth0=tap0", MAC], &[ip]);
    let out = g.cmd("grep nameserver /proc/net/pnp; readlink /etc/resolv.conf; cat /etc/resolv.conf; hostname", 10);
    assert_eq!(out, "nameserver 10.0.0.1\n../run/resolv.conf\nnameserver 10.0.0.1\nguest\n");
    powered_off(&g.finish(30));
}

/// Loopback is up at boot, with no net device at all: a ping of
/// 127.0.0.1, and a TCP connection through nc on 127.0.0.1 carrying a
/// line each way.
#[test]
fn loopback_is_up() {
    let dir = scratch("net-loopback");
    let img = rootfs_copy(&dir);
    let script = format!(
        "{LISTENING}
ip link show lo | grep -o 'state [A-Z]*'
ping -c 1 -W 5 127.0.0.1 | grep -o '1 packets received'
nc -l -p 7000 -e sh -c 'read l; echo \"server got: $l\"' </dev/null &
listening 7000
echo 'over loopback' | nc 127.0.0.1 7000"
    );
    let r = shell(&img, &script);
    powered_off(&r);
    assert_eq!(program_lines(&r), ["state UNKNOWN", "1 packets received", "server got: over loopback"], "{}", r.stdout);
}

/// A tap deleted on the host under a running guest: the interface loses
/// its carrier (operstate down), and the guest goes on running its shell
/// and powers off normally.
#[test]
fn a_deleted_tap_takes_the_link_down_and_the_guest_goes_on() {
    let ns = Netns::new("lngone", &[TAP0]);
    let mut g = boot(&ns, "gone");
    guest_ping(&mut g, "10.0.0.1", 10, 56);
    ns.ip(&["link", "del", "tap0"]);
    // Traffic the guest sends meanwhile only gets lost; wait (10 s at most)
    // for the driver to notice.
    let out = g.cmd(
        "i=0; until grep -qx down /sys/class/net/eth0/operstate || [ $i -ge 500 ]; do \
         ping -c 1 -W 1 10.0.0.1 >/dev/null 2>&1; sleep 0.02; i=$((i + 1)); done
cat /sys/class/net/eth0/operstate; cat /sys/class/net/eth0/carrier 2>/dev/null || echo no-carrier-file",
        60,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"down"), "{out}\n{}", g.output());
    assert!(matches!(lines.get(1), Some(&"0") | Some(&"no-carrier-file")), "{out}");
    let out = g.cmd("echo still here; uname -s; ping -c 1 -W 1 10.0.0.1 >/dev/null 2>&1; echo ping=$?", 30);
    assert_eq!(out, "still here\nLinux\nping=1\n");
    powered_off(&g.finish(30));
}

/// The host syscalls in `trace` (strace -f -e signal=SIGSYS output) that
/// the tender made itself: every syscall line not followed by the SIGSYS
/// of its own trap (those are the guest's, which never reach the host).
/// Returns (name, first argument) pairs, and whether the process was
/// killed.
fn host_syscalls(trace: &str) -> (Vec<(String, String)>, bool) {
    let mut pending: BTreeMap<String, Option<(String, String)>> = BTreeMap::new();
    let mut host = Vec::new();
    let mut killed = false;
    for line in trace.lines() {
        let (pid, rest) = line.split_once(' ').unwrap_or(("", line));
        let rest = rest.trim_start();
        if rest.starts_with("+++ killed") {
            killed = true;
        }
        if rest.starts_with("---") {
            if let Some(i) = rest.find("si_syscall=__NR_") {
                let name: String = rest[i + 16..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                let p = pending.entry(pid.to_owned()).or_default();
                if p.as_ref().is_some_and(|(n, _)| *n == name) {
                    *p = None;
                }
            }
            continue;
        }
        if rest.starts_with("+++") || rest.starts_with("<...") {
            continue;
        }
        let Some(open) = rest.find('(') else { continue };
        let name = rest[..open].to_owned();
        let arg: String = rest[open + 1..].chars().take_while(|c| *c != ',' && *c != ')').collect();
        if let Some(prev) = pending.insert(pid.to_owned(), Some((name, arg))).flatten() {
            host.push(prev);
        }
    }
    // The last call of each thread is left out: strace detaches on its
    // timeout, and a trapped guest call cut there has no SIGSYS line yet.
    (host, killed)
}

/// A guest flooding its tap (nc -u from /dev/zero to a host socket that
/// never reads) makes, in 2 s under strace, only the tender's pinned host
/// syscalls, and reads and writes only its own fds (console, disk, tap);
/// the tender stays sandboxed (Seccomp: 2), is not killed, and the guest
/// powers off normally afterwards.
#[test]
fn a_flooding_guest_keeps_to_its_pinned_syscalls() {
    let ns = Netns::new("lnflood", &[TAP0]);
    let sink = ns.udp_socket("10.0.0.1:9");
    sink.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut g = boot(&ns, "flood");
    let pid = g.pid();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.lines().any(|l| l.split_whitespace().eq(["Seccomp:", "2"])), "{status}");
    // The fds the tender may read and write: the console (stdin, stdout,
    // stderr and its copies) and the tap; the disk for pread and pwrite.
    let link = |fd: &str| std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap().display().to_string();
    let console = [link("0"), link("1"), link("2")];
    let (mut fds, mut tap, mut disk) = (Vec::new(), Vec::new(), Vec::new());
    for e in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let fd = e.unwrap().file_name().to_string_lossy().into_owned();
        let target = link(&fd);
        if target == "/dev/net/tun" {
            tap.push(fd);
        } else if target.ends_with("rootfs.img") {
            disk.push(fd);
        } else if console.contains(&target) {
            fds.push(fd);
        }
    }
    assert_eq!(tap.len(), 1, "tap fds: {tap:?}");
    fds.extend(tap.iter().cloned());
    g.send("nc -u 10.0.0.1 9 </dev/zero >/dev/null 2>&1 &");
    // The flood has reached the host.
    let mut buf = vec![0u8; 65536];
    let (n, _) = sink.recv_from(&mut buf).expect("no flood arrived");
    assert!(n > 0 && buf[..n].iter().all(|&b| b == 0));
    let trace = scratch("net-flood-trace").join("strace.txt");
    let st = Command::new("timeout")
        .args(["-s", "INT", "2", "strace", "-f", "-qq", "-e", "signal=SIGSYS", "-o"])
        .arg(&trace)
        .args(["-p", &pid.to_string()])
        .status()
        .expect("strace must be installed");
    assert!(st.code().is_some(), "strace: {st:?}");
    let text = std::fs::read_to_string(&trace).unwrap();
    let (host, killed) = host_syscalls(&text);
    assert!(!killed, "the tender was killed:\n{}", &text[text.len().saturating_sub(2000)..]);
    let allowed = [
        "read",
        "readv",
        "write",
        "pread64",
        "pwrite64",
        "fdatasync",
        "ioctl",
        "clock_gettime",
        "epoll_pwait2",
        "epoll_ctl",
        "exit_group",
        "rt_sigreturn",
        "arch_prctl",
    ];
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, arg) in &host {
        assert!(allowed.contains(&name.as_str()), "host syscall {name}({arg}, ...) in the trace");
        match name.as_str() {
            "read" | "write" => assert!(fds.contains(arg), "{name} on fd {arg} (allowed {fds:?})"),
            "readv" => assert!(tap.contains(arg), "readv on fd {arg}: only the tap's"),
            "pread64" | "pwrite64" | "fdatasync" => assert!(disk.contains(arg), "{name} on fd {arg}"),
            _ => {}
        }
        *counts.entry(name.as_str()).or_default() += 1;
    }
    // The flood went on under strace: writes to the tap.
    let tap_writes = host.iter().filter(|(n, a)| n == "write" && tap.contains(a)).count();
    assert!(tap_writes > 10, "only {tap_writes} writes to the tap in 2 s: {counts:?}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.lines().any(|l| l.split_whitespace().eq(["Seccomp:", "2"])), "{status}");
    let out = g.cmd("kill $! && echo flood stopped", 30);
    assert_eq!(out, "flood stopped\n");
    powered_off(&g.finish(30));
}

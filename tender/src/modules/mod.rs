//! Tender modules. Each owns its command-line arguments (a clap `Args`
//! struct flattened into the CLI), its set-up (run before the sandbox) and
//! the seccomp rules its hypercalls need.
//!
//! | module | arguments | host resources |
//! |---|---|---|
//! | `core` | `--mem`, `--quiet` | guest memory, epoll fd, clocks, exit, signals, TLS |
//! | `console` | `--kernel-log` | stdout, stderr, the kernel log file (output), stdin (input device) |
//! | `block` | `--block:NAME=PATH[:ro]`, `--block-sector-size:NAME=N` | one file per device |
//! | `net` | `--net:NAME=TAP\|@FD`, `--net-mac:NAME=MAC` | one tap fd per device |
//!
//! `devices` matches the guest's manifest with the block and net
//! attachments and sets them up; the block and net modules then each
//! contribute the rules of their own devices.

pub mod block;
pub mod console;
pub mod core;
pub mod devices;
pub mod net;

use crate::sandbox::Rules;

/// What every tender module provides once set up.
pub trait Module {
    /// Short name, for messages.
    fn name(&self) -> &'static str;
    /// Allow exactly the host syscalls this module's hypercalls need, each
    /// pinned to its own file descriptors and argument ranges.
    fn rules(&self, rules: &mut Rules);
}

/// Split a `NAME=VALUE` device argument of `flag`, checking NAME.
pub fn parse_named<'a>(flag: &str, arg: &'a str) -> Result<(&'a str, &'a str), String> {
    let Some((name, value)) = arg.split_once('=') else {
        return Err(format!("{flag}:{arg}: expected {flag}:NAME=VALUE"));
    };
    if let Err(e) = crate::manifest::check_name(name) {
        return Err(format!("{flag}:{name}: not a valid device name: {e}"));
    }
    Ok((name, value))
}

/// Flags whose colon form (`--block:NAME=PATH`) is rewritten to the form
/// clap parses (`--block=NAME=PATH`).
const COLON_FLAGS: [&str; 4] = ["--block-sector-size:", "--block:", "--net-mac:", "--net:"];

/// Options whose value may be the next argument (`--block PATH`).
const VALUE_FLAGS: [&str; 7] =
    ["--block", "--block-sector-size", "--net", "--net-mac", "--mem", "--initrd", "--kernel-log"];

/// Rewrite the colon forms of the device flags, up to the first argument
/// that is not an option or an option's value (the guest image) or `--`.
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_options = true;
    let mut value_next = false;
    for (i, a) in args.into_iter().enumerate() {
        if i > 0 && in_options {
            if std::mem::take(&mut value_next) {
                out.push(a);
                continue;
            }
            value_next = VALUE_FLAGS.contains(&a.as_str());
            if a == "--" || !a.starts_with('-') {
                in_options = false;
            } else if let Some(flag) = COLON_FLAGS.iter().find(|f| a.starts_with(*f)) {
                let rest = &a[flag.len()..];
                // The colon form always names a device: `--block:disk`
                // without `=` must not read as `--block PATH`.
                let eq = if rest.contains('=') { "" } else { "=" };
                out.push(format!("{}={rest}{eq}", &flag[..flag.len() - 1]));
                continue;
            }
        }
        out.push(a);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colon_flags_are_rewritten_before_the_kernel_only() {
        let args = ["t", "--block:disk=a.img", "--mem=4", "--net:eth0=tap0", "k", "--block:x=y"];
        let out = normalize_args(args.iter().map(|s| s.to_string()));
        assert_eq!(out, ["t", "--block=disk=a.img", "--mem=4", "--net=eth0=tap0", "k", "--block:x=y"]);
        let out =
            normalize_args(["t", "--block-sector-size:d=4096", "--net-mac:n=02:00:00:00:00:01"].map(String::from));
        assert_eq!(out, ["t", "--block-sector-size=d=4096", "--net-mac=n=02:00:00:00:00:01"]);
        assert_eq!(normalize_args(["t", "--block:disk", "k"].map(String::from)), ["t", "--block=disk=", "k"]);
        // A value in the next argument is still among the options.
        let out = normalize_args(["t", "--block", "a.img", "--block:disk1=b.img", "k", "--net:x"].map(String::from));
        assert_eq!(out, ["t", "--block", "a.img", "--block=disk1=b.img", "k", "--net:x"]);
    }

    #[test]
    fn names() {
        assert_eq!(parse_named("--block", "disk=a=b"), Ok(("disk", "a=b")));
        assert!(parse_named("--block", "disk").is_err());
        assert!(parse_named("--block", "=x").is_err());
        assert!(parse_named("--block", "a/b=x").is_err());
        assert!(parse_named("--block", &format!("{}=x", "n".repeat(67))).is_ok());
        let e = parse_named("--block", &format!("{}=x", "n".repeat(68))).unwrap_err();
        assert!(e.contains("not a valid device name: the name is 68 characters long, at most 67"), "{e}");
    }
}

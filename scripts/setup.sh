#!/usr/bin/env bash
# Installs what the build needs on a fresh Debian 12 machine, once.
# Each `make` target calls this first; it is quick when nothing is missing.
set -euo pipefail

need_pkgs=()
command -v gcc >/dev/null || need_pkgs+=(gcc)
# glibc's headers and static libraries: the test programs built with the
# host's gcc (static-pie, -static -no-pie, the Python launcher).
[ -f /usr/include/stdio.h ] && [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || need_pkgs+=(libc6-dev)
command -v make >/dev/null || need_pkgs+=(make)
# The device tests: network namespaces, taps and ping.
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v ping >/dev/null || need_pkgs+=(iputils-ping)
# The Linux network tests (tests/tests/linux_net.rs): a DHCP server in the
# test's namespace (in /usr/sbin, outside a user's PATH), downloads from
# the guest, and the tender's host syscalls while the guest floods its tap.
command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || need_pkgs+=(dnsmasq-base)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v strace >/dev/null || need_pkgs+=(strace)
# The network benchmarks: an HTTP load generator.
command -v wrk >/dev/null || need_pkgs+=(wrk)
# The container tests and benchmarks (tests/tests/containers.rs,
# tests/tests/runnc.rs, the containers section of scripts/bench.sh):
# containerd with ctr and its runc shim, Debian's runc to compare with,
# and genisoimage for runnc's ISO root file systems.
command -v containerd >/dev/null && command -v ctr >/dev/null || need_pkgs+=(containerd)
command -v runc >/dev/null || [ -x /usr/sbin/runc ] || need_pkgs+=(runc)
command -v genisoimage >/dev/null || need_pkgs+=(genisoimage)

if ((${#need_pkgs[@]})); then
    echo "setup: installing ${need_pkgs[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${need_pkgs[@]}"
fi

if ! command -v cargo >/dev/null; then
    echo "setup: cargo is missing; install Rust (rustup) first" >&2
    exit 1
fi
if ! cargo clippy --version >/dev/null 2>&1 || ! cargo fmt --version >/dev/null 2>&1; then
    rustup component add clippy rustfmt
fi

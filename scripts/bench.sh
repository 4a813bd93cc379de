#!/usr/bin/env bash
# make bench: the tender's start-up cost, measured against a baseline in
# the same run (the machine is noisy; ratios are what we report).
#
# Boot: wall time from fork/exec to exit of `nabla-tender --quiet
# target/guests/hello`, next to a static C hello process, RUNS runs of
# each, interleaved (see tests/src/bin/nabla-bench.rs); median, 10th and
# 90th percentiles, and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-500}
bench=target/release/nabla-bench
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mkdir -p target/bench
cc -O2 -static -o target/bench/hello-static bench/hello.c

{
    read -r c c10 c90 crss
    read -r t t10 t90 trss
} < <($bench boot "$RUNS" -- target/bench/hello-static -- target/release/nabla-tender --quiet target/guests/hello)
ratio=$(awk -v a="$t" -v b="$c" 'BEGIN {printf "%.2f", a / b}')

echo "boot: fork+exec to exit, $RUNS interleaved runs each (median [p10-p90])"
printf '  %-34s %7s us [%s-%s]  peak RSS %5s KiB\n' "static C hello (baseline)" "$c" "$c10" "$c90" "$crss"
printf '  %-34s %7s us [%s-%s]  peak RSS %5s KiB\n' "nabla-tender --quiet hello" "$t" "$t10" "$t90" "$trss"
echo "  ratio tender / static C hello: $ratio"

# Trap path: a guest `syscall` trapped by the sandbox and forwarded by the
# tender's SIGSYS handler to the guest's own entry (trapbench), next to the
# bare floor of any trap-based path (a filter trapping getpid to a SIGSYS
# handler that only sets RAX) and a native getpid; 1M calls each, medians of
# ROUNDS interleaved rounds.
ROUNDS=${ROUNDS:-3}
g=() f=() t=()
for _ in $(seq "$ROUNDS"); do
    g+=("$($bench getpid 1000000)")
    f+=("$($bench trap 1000000)")
    t+=("$(target/release/nabla-tender --quiet target/guests/trapbench 1000000)")
done
gm=$(printf '%s\n' "${g[@]}" | median) fm=$(printf '%s\n' "${f[@]}" | median) tm=$(printf '%s\n' "${t[@]}" | median)
echo
echo "trap path: ns per call, median of $ROUNDS rounds x 1M calls"
printf '  %-52s %8s\n' "native getpid" "$gm"
printf '  %-52s %8s\n' "bare seccomp trap round trip (the floor)" "$fm"
printf '  %-52s %8s  (%sx the floor)\n' "guest syscall -> tender SIGSYS -> guest entry -> back" "$tm" \
    "$(awk -v a="$tm" -v b="$fm" 'BEGIN {printf "%.2f", a / b}')"

# Block: sequential read and write of a 256 MiB file in 4 KiB, 64 KiB and
# 256 KiB requests, the blkbench guest against the same loop run natively
# (nabla-bench blk) on the same file; ROUNDS interleaved rounds, medians.
ROUNDS=${ROUNDS:-3}
img=target/bench/disk.img
truncate -s 0 "$img" && truncate -s 256M "$img"
echo
echo "block: sequential throughput on a 256 MiB file, MiB/s (median of $ROUNDS interleaved rounds)"
printf '  %-6s %-8s %10s %10s %7s\n' mode request native nabla ratio
for size in 4096 65536 262144; do
    for mode in write read; do
        n=() g=()
        for _ in $(seq "$ROUNDS"); do
            n+=("$($bench blk "$mode" "$size" "$img")")
            g+=("$(target/release/nabla-tender --quiet --block:storage="$img" target/guests/blkbench "$mode" "$size")")
        done
        nm=$(printf '%s\n' "${n[@]}" | median) gm=$(printf '%s\n' "${g[@]}" | median)
        printf '  %-6s %-8s %10s %10s %6.2fx\n' "$mode" "$((size / 1024)) KiB" "$nm" "$gm" \
            "$(awk -v a="$gm" -v b="$nm" 'BEGIN {print a / b}')"
    done
done

# Net: flood ping through the tap to the net guest, against the same flood
# ping between two network namespaces over a veth pair (kernel to kernel).
ns=nabla-bench-$$
ip netns add "$ns"
ip netns add "$ns-peer"
cleanup() { ip netns del "$ns" 2>/dev/null; ip netns del "$ns-peer" 2>/dev/null; }
trap cleanup EXIT
ip -n "$ns" tuntap add tap0 mode tap
ip -n "$ns" addr add 10.0.0.1/24 dev tap0
ip -n "$ns" link set tap0 up
ip -n "$ns" link add veth0 type veth peer name veth1 netns "$ns-peer"
ip -n "$ns" addr add 10.9.0.1/24 dev veth0
ip -n "$ns" link set veth0 up
ip -n "$ns-peer" addr add 10.9.0.2/24 dev veth1
ip -n "$ns-peer" link set veth1 up
ip netns exec "$ns" target/release/nabla-tender --quiet --net:service0=tap0 target/guests/net 0 >/dev/null &
guest=$!
sleep 0.3
flood() {
    local out rtt ms
    out=$(ip netns exec "$ns" ping -q -f -c "${PINGS:-20000}" -s 56 "$1")
    rtt=$(sed -n 's#.*= [0-9.]*/\([0-9.]*\)/.*#\1#p' <<<"$out")
    ms=$(sed -n 's#.*received, .*time \([0-9]*\)ms#\1#p' <<<"$out")
    echo "$rtt $(awk -v n="${PINGS:-20000}" -v ms="$ms" 'BEGIN {printf "%d", n / (ms / 1000)}')"
}
read -r vrtt vpps < <(flood 10.9.0.2)
read -r nrtt npps < <(flood 10.0.0.2)
kill "$guest"
echo
echo "net: flood ping (${PINGS:-20000} x 56-byte echo), average round trip and packets per second"
printf '  %-44s %8s ms %8s pps\n' "veth to another namespace (baseline)" "$vrtt" "$vpps"
printf '  %-44s %8s ms %8s pps\n' "tap to the net guest in nabla-tender" "$nrtt" "$npps"

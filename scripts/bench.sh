#!/usr/bin/env bash
# make bench: the tender's start-up cost, measured against a baseline in
# the same run (the machine is noisy; ratios are what we report).
#
# Boot: wall time from fork/exec to exit of `nabla-tender --quiet
# target/guests/hello`, next to a static C hello process, RUNS runs of
# each, interleaved (see tests/src/bin/nabla-bench.rs); median, 10th and
# 90th percentiles, and peak RSS.
#
# Sections, in order: boot, trap, block, net (unikernel guests), then
# linux-boot, linux-syscall, linux-spawn (the Linux guest, build/linux.nabla
# on target/init/test.cpio). ONLY=NAMES (comma- or space-separated;
# "linux" stands for the three Linux ones) runs just those, e.g.
# `ONLY=linux scripts/bench.sh`. Environment: RUNS (unikernel boot runs,
# 500), LINUX_RUNS (Linux boot runs, 50), ROUNDS (interleaved rounds of the
# other sections, 3), PINGS (net, 20000).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-500}
bench=target/release/nabla-bench
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
want() {
    local o
    [ -z "${ONLY:-}" ] && return 0
    for o in ${ONLY//,/ }; do
        [ "$o" = "$1" ] || { [ "$o" = linux ] && [[ $1 == linux-* ]]; } && return 0
    done
    return 1
}
mkdir -p target/bench
cc -O2 -static -o target/bench/hello-static bench/hello.c

if want boot; then
    {
        read -r c c10 c90 crss
        read -r t t10 t90 trss
    } < <($bench boot "$RUNS" -- target/bench/hello-static -- target/release/nabla-tender --quiet target/guests/hello)
    ratio=$(awk -v a="$t" -v b="$c" 'BEGIN {printf "%.2f", a / b}')

    echo "boot: fork+exec to exit, $RUNS interleaved runs each (median [p10-p90])"
    printf '  %-34s %7s us [%s-%s]  peak RSS %5s KiB\n' "static C hello (baseline)" "$c" "$c10" "$c90" "$crss"
    printf '  %-34s %7s us [%s-%s]  peak RSS %5s KiB\n' "nabla-tender --quiet hello" "$t" "$t10" "$t90" "$trss"
    echo "  ratio tender / static C hello: $ratio"
fi

# Trap path: a guest `syscall` trapped by the sandbox and forwarded by the
# tender's SIGSYS handler to the guest's own entry (trapbench), next to the
# bare floor of any trap-based path (a filter trapping getpid to a SIGSYS
# handler that only sets RAX) and a native getpid; 1M calls each, medians of
# ROUNDS interleaved rounds.
if want trap; then
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
fi

# Block: sequential read and write of a 256 MiB file in 4 KiB, 64 KiB and
# 256 KiB requests, the blkbench guest against the same loop run natively
# (nabla-bench blk) on the same file; ROUNDS interleaved rounds, medians.
if want block; then
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
fi

# Net: flood ping through the tap to the net guest, against the same flood
# ping between two network namespaces over a veth pair (kernel to kernel).
if want net; then
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
fi

# ---- The Linux guest: build/linux.nabla with the test init. ----
linux_kernel=build/linux.nabla linux_initrd=target/init/test.cpio linux_init=target/init/init
linux_tender=(target/release/nabla-tender --quiet --mem=64 --initrd "$linux_initrd" "$linux_kernel" quiet)
if want linux-boot || want linux-syscall || want linux-spawn; then
    for f in "$linux_kernel" "$linux_initrd" "$linux_init"; do
        if [ ! -e "$f" ]; then
            echo "bench: $f is missing: the Linux benchmarks need 'make kernel initramfs' first" >&2
            exit 1
        fi
    done
    if [ tests/init/init.c -nt "$linux_init" ] || [ "$linux_init" -nt "$linux_initrd" ]; then
        echo "bench: $linux_init or $linux_initrd is older than tests/init/init.c: run 'make initramfs'" >&2
        exit 1
    fi
fi
# Runs a command that prints "nabla-init: bench WHAT N UNIT FIGURE UNIT/CALL"
# (the test init in a bench mode, as the guest's init or natively) and
# prints FIGURE; fails, with the command's output, when it has no such line.
init_figure() {
    local what=$1 out fig
    shift
    out=$("$@" 2>&1 | tr -d '\r') || { printf 'bench: %s failed:\n%s\n' "$*" "$out" >&2; return 1; }
    fig=$(sed -n "s#^nabla-init: bench $what [0-9]* [a-z]* \([0-9.]*\) [a-z]*/[a-z]*\$#\1#p" <<<"$out")
    [ -n "$fig" ] || { printf 'bench: no "nabla-init: bench %s" figure from %s:\n%s\n' "$what" "$*" "$out" >&2; return 1; }
    echo "$fig"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# Linux boot: wall time from fork/exec to exit of the tender booting Linux
# with --mem=64 and `quiet`, the init powering off at once (tender exec,
# kernel boot, init's first instruction, power-off, exit), next to the
# static C hello, LINUX_RUNS runs each, interleaved (nabla-bench boot).
if want linux-boot; then
    LINUX_RUNS=${LINUX_RUNS:-50}
    {
        read -r c c10 c90 crss
        read -r t t10 t90 trss
    } < <($bench boot "$LINUX_RUNS" -- target/bench/hello-static -- "${linux_tender[@]}" NABLA_INIT=poweroff)
    echo
    echo "linux boot: fork+exec to exit, $LINUX_RUNS interleaved runs each (median [p10-p90])"
    printf '  %-34s %7s us [%s-%s]  peak RSS %5s KiB\n' "static C hello (baseline)" "$c" "$c10" "$c90" "$crss"
    printf '  %-34s %7s us [%s-%s]  peak RSS %5s KiB\n' "Linux boot to init, power-off" "$t" "$t10" "$t90" "$trss"
    printf '  median %s ms (goal <= 3 ms; nabla-linux anchor 6 ms)\n' "$(awk -v a="$t" 'BEGIN {printf "%.2f", a / 1000}')"
    echo "  ratio Linux boot / static C hello: $(ratio "$t" "$c")"
fi

# Linux syscalls on the trap path: N calls timed by the test init itself
# (bench-getpid=N: syscall(SYS_getpid); bench-null=N: syscall number 1000,
# ENOSYS) as the guest's init and as a native process on the host (the same
# binary), next to the bare seccomp trap floor (nabla-bench trap); 1M calls
# each, medians of ROUNDS interleaved rounds.
if want linux-syscall; then
    ROUNDS=${ROUNDS:-3}
    n=1000000 ng=() nn=() f=() lg=() ln=()
    for _ in $(seq "$ROUNDS"); do
        ng+=("$(init_figure getpid "$linux_init" bench-getpid=$n)")
        nn+=("$(init_figure null "$linux_init" bench-null=$n)")
        f+=("$($bench trap $n)")
        lg+=("$(init_figure getpid "${linux_tender[@]}" NABLA_INIT=bench-getpid=$n)")
        ln+=("$(init_figure null "${linux_tender[@]}" NABLA_INIT=bench-null=$n)")
    done
    ngm=$(printf '%s\n' "${ng[@]}" | median) nnm=$(printf '%s\n' "${nn[@]}" | median)
    fm=$(printf '%s\n' "${f[@]}" | median)
    lgm=$(printf '%s\n' "${lg[@]}" | median) lnm=$(printf '%s\n' "${ln[@]}" | median)
    echo
    echo "linux syscalls: ns per call, median of $ROUNDS interleaved rounds x 1M calls (test init's bench modes)"
    printf '  %-44s %8s\n' "native getpid (target/init/init on the host)" "$ngm"
    printf '  %-44s %8s\n' "native invalid syscall (ENOSYS)" "$nnm"
    printf '  %-44s %8s\n' "bare seccomp trap round trip (the floor)" "$fm"
    printf '  %-44s %8s  (%sx the floor, goal <= 1.2x; %sx native)\n' "Linux guest getpid" "$lgm" \
        "$(ratio "$lgm" "$fm")" "$(ratio "$lgm" "$ngm")"
    printf '  %-44s %8s  (%sx the floor; %sx native)\n' "Linux guest invalid syscall (ENOSYS)" "$lnm" \
        "$(ratio "$lnm" "$fm")" "$(ratio "$lnm" "$nnm")"
fi

# Linux vfork+exec+wait: N x (posix_spawn of the test init in mode exit=0,
# waitpid), timed by the init (bench-spawn=N) as the guest's init and
# natively (a posix_spawn of a static-pie binary on the host); 1000 each,
# medians of ROUNDS interleaved rounds.
if want linux-spawn; then
    ROUNDS=${ROUNDS:-3}
    n=1000 sn=() sl=()
    for _ in $(seq "$ROUNDS"); do
        sn+=("$(init_figure spawn "$linux_init" bench-spawn=$n)")
        sl+=("$(init_figure spawn "${linux_tender[@]}" NABLA_INIT=bench-spawn=$n)")
    done
    snm=$(printf '%s\n' "${sn[@]}" | median) slm=$(printf '%s\n' "${sl[@]}" | median)
    echo
    echo "linux spawn: us per posix_spawn (vfork+exec) + waitpid, median of $ROUNDS interleaved rounds x $n"
    printf '  %-44s %8s\n' "native posix_spawn of the static-pie init" "$snm"
    printf '  %-44s %8s  (%sx native; goal <= 140 us, nommu UML v13 anchor 140 us)\n' "Linux guest posix_spawn of /init" "$slm" \
        "$(ratio "$slm" "$snm")"
fi

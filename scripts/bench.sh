#!/usr/bin/env bash
# make bench: the tender's start-up cost, measured against a baseline in
# the same run (the machine is noisy; ratios are what we report).
#
# Boot: wall time from fork/exec to exit of `nabla-tender --quiet
# target/guests/hello`, next to a static C hello process, RUNS runs of
# each, interleaved (see tests/src/bin/nabla-bench.rs); median, 10th and
# 90th percentiles, and peak RSS.
#
# Sections, in order: boot, trap, clock, block, net (unikernel guests), then
# linux-boot, linux-syscall, linux-spawn (the Linux guest, build/linux.nabla
# on target/init/test.cpio), then disk-boot, disk-io, disk-fsync,
# disk-spawn, disk-rss (the Linux guest booting a copy of
# build/rootfs.ext4, with a second ext4 disk), then linux-syscalls (that
# guest timing a dozen system calls and operations with bench/syscalls.c,
# against the same binary natively), then linux-programs (that
# guest running Debian's glibc programs from build/programs.ext4, `make
# programs`, against the same programs natively), then linux-net-tcp,
# linux-net-rr, linux-net-http (that guest with eth0 on a tap, against the
# same servers between two network namespaces over a veth pair), then
# containers-start, containers-mem (containerd and ctr running the image
# of `make oci-image` with Debian's runc and with nabla-runtime).
# ONLY=NAMES (comma- or space-separated; "linux" stands for the three
# Linux ones (not linux-syscalls, linux-programs), "disk" for the five
# disk ones, "linux-net" for the three network ones, "containers" for the
# two container ones) runs just those,
# e.g. `ONLY=linux scripts/bench.sh`.
# Environment: RUNS (unikernel boot runs, 500), LINUX_RUNS (Linux boot
# runs, 50), DISK_RUNS (disk boot runs, 50), ROUNDS (interleaved rounds of
# the other sections, 3; linux-syscalls 5), PINGS (net, 20000), FSYNCS
# (disk-fsync calls, 500), SPAWNS (disk-spawn spawns, 1000), NET_ROUNDS
# (interleaved rounds of the linux-net sections, 3), NET_SECS (seconds per netbench and wrk
# run, 2), NET_PINGS (echoes per ping run, 1000), PROG_SPAWNS (linux-programs
# /bin/true spawns, 200), PROG_INTERP_SPAWNS (its perl and python3 spawns,
# 20), PROG_PROCS (its sleep instances, 10), CTR_RUNS (containers-start
# runs, 20), CTR_IDLE (containers-mem containers per runtime, 5), SYSCALLS_N (linux-syscalls
# calls per operation, 200000), SYSCALLS_RR (its pipe round trips,
# 20000), SYSCALLS_SPAWNS (its spawns, 1000), SYSCALLS_CPU (the host CPU
# it pins both sides to, 0). The disk-io section drops
# the host's page cache, linux-programs chroots and the linux-net ones
# create network namespaces (all need root); linux-net-http needs wrk.
# The linux-net sections take about 100 s, linux-programs about 15 s,
# linux-syscalls about 60 s.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-500}
bench=target/release/nabla-bench
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
want() {
    local o
    [ -z "${ONLY:-}" ] && return 0
    for o in ${ONLY//,/ }; do
        [ "$o" = "$1" ] || { [ "$o" = linux ] && [[ $1 == linux-* && $1 != linux-net-* && $1 != linux-programs && $1 != linux-syscalls ]]; } ||
            { [ "$o" = linux-net ] && [[ $1 == linux-net-* ]]; } ||
            { [ "$o" = disk ] && [[ $1 == disk-* ]]; } ||
            { [ "$o" = containers ] && [[ $1 == containers-* ]]; } && return 0
    done
    return 1
}
mkdir -p target/bench
cc -O2 -static -o target/bench/hello-static bench/hello.c
# linux-programs' own inputs, checked before any section runs.
prog_img=build/programs.ext4 prog_tree=$PWD/build/programs/root
if want linux-programs; then
    for f in "$prog_img" "$prog_tree/bin/true" "$prog_tree/bin/sleep" "$prog_tree/usr/bin/perl" \
        "$prog_tree/usr/bin/python3"; do
        if [ ! -e "$f" ]; then
            echo "bench: $f is missing: the linux-programs section needs 'make programs' first" >&2
            exit 1
        fi
    done
    if [ "$(id -u)" -ne 0 ]; then
        echo "bench: the linux-programs section chroots natively: it needs root" >&2
        exit 1
    fi
fi

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

# Clock: the clock_monotonic hypercall (clockbench), which the tender
# serves through the host's vDSO, next to the same clock read natively
# through the vDSO and by a raw clock_gettime syscall (the hypercall's
# path without a vDSO); 1M calls each, medians of ROUNDS interleaved rounds.
if want clock; then
    ROUNDS=${ROUNDS:-3}
    s=() v=() h=()
    for _ in $(seq "$ROUNDS"); do
        s+=("$($bench clock syscall 1000000)")
        v+=("$($bench clock vdso 1000000)")
        h+=("$(target/release/nabla-tender --quiet target/guests/clockbench 1000000)")
    done
    sm=$(printf '%s\n' "${s[@]}" | median) vm=$(printf '%s\n' "${v[@]}" | median) hm=$(printf '%s\n' "${h[@]}" | median)
    echo
    echo "clock: ns per CLOCK_MONOTONIC read, median of $ROUNDS rounds x 1M calls"
    echo "  ($(target/release/nabla-tender --verbose --quiet target/guests/clockbench 1 2>&1 >/dev/null))"
    printf '  %-52s %8s\n' "native clock_gettime syscall" "$sm"
    printf '  %-52s %8s\n' "native clock_gettime through the vDSO" "$vm"
    printf '  %-52s %8s  (%sx the native vDSO)\n' "guest clock_monotonic hypercall" "$hm" \
        "$(awk -v a="$hm" -v b="$vm" 'BEGIN {printf "%.2f", a / b}')"
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
            bn=() bg=()
            for _ in $(seq "$ROUNDS"); do
                bn+=("$($bench blk "$mode" "$size" "$img")")
                bg+=("$(target/release/nabla-tender --quiet --block:storage="$img" target/guests/blkbench "$mode" "$size")")
            done
            nm=$(printf '%s\n' "${bn[@]}" | median) gm=$(printf '%s\n' "${bg[@]}" | median)
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

# ---- The Linux guest on its disk: build/linux.nabla booting a copy of
# build/rootfs.ext4 (busybox init, hush as /bin/sh) as /dev/vda, and for
# the I/O sections a fresh 512 MiB ext4 second disk (/dev/vdb, mounted on
# /mnt) holding the static-pie helpers bench/fsync.c, bench/spawn.c and
# bench/syscalls.c.
# The images and the native baselines' files all live in target/bench, on
# the same host file system. ----
disk_root=target/bench/root.img disk_img=target/bench/disk1.img disk_dir=target/bench/disk1
disk_boot=(target/release/nabla-tender --quiet --mem=128 "--block=$disk_root" build/linux.nabla quiet)
disk_tender=(target/release/nabla-tender --quiet --mem=512 "--block=$disk_root" "--block:disk1=$disk_img" build/linux.nabla quiet)
if want disk-boot || want disk-io || want disk-fsync || want disk-spawn || want disk-rss ||
    want linux-syscalls || want linux-programs || want linux-net-tcp || want linux-net-rr || want linux-net-http; then
    for f in build/linux.nabla build/rootfs.ext4 build/busybox/busybox; do
        if [ ! -e "$f" ]; then
            echo "bench: $f is missing: the disk and network benchmarks need 'make kernel busybox image' first" >&2
            exit 1
        fi
    done
    # A copy of the root image (never the original: the guest mounts it
    # read-write) and the helpers, built as musl static-pies.
    cp --sparse=always build/rootfs.ext4 "$disk_root"
    scripts/musl-specs.sh target/bench/musl-static-pie.specs
    rm -rf "$disk_dir" && mkdir -p "$disk_dir"
    for p in fsync spawn netbench syscalls; do
        gcc -specs target/bench/musl-static-pie.specs -static-pie -O2 -Wall -Wextra -Werror -fPIE \
            -o "target/bench/$p" "bench/$p.c"
        cp "target/bench/$p" "$disk_dir/"
    done
    # The native spawn baseline's /bin/true: busybox's applet link.
    ln -sfn "$PWD/build/busybox/busybox" target/bench/true
    # The HTTP benchmark's page: 4 KiB.
    mkdir -p "$disk_dir/www"
    head -c 4096 /dev/zero | tr '\0' x >"$disk_dir/www/4k.html"
fi
# A fresh, sparse 512 MiB ext4 image holding the helpers, as disk1.
mkdisk() {
    rm -f "$disk_img"
    truncate -s 512M "$disk_img"
    mke2fs -q -t ext4 -F -d "$disk_dir" "$disk_img"
}
# Runs the shell script $1 in the guest (the console shell on a pipe,
# --mem=512, disk1 attached) and prints its output without the power-off
# line; fails, with the output, when the tender does not exit 0.
guest() {
    local out
    out=$(printf '%s\n' "$1" | "${disk_tender[@]}" 2>&1 | tr -d '\r') ||
        { printf 'bench: the guest failed running %s:\n%s\n' "$1" "$out" >&2; return 1; }
    grep -v '^reboot: ' <<<"$out"
}
# The first line of $2 that starts with "$1 " (the helpers' result line),
# without that word; fails, with the output, when there is none.
figure() {
    local fig
    fig=$(sed -n "s/^$1 //p" <<<"$2" | head -n 1)
    [ -n "$fig" ] || { printf 'bench: no "%s" line in:\n%s\n' "$1" "$2" >&2; return 1; }
    echo "$fig"
}
# MiB/s from dd's own report (coreutils: "N bytes (...) copied, S s, R
# MB/s" with MB = 10^6; busybox: "N bytes (...) copied, S seconds, R
# MB/s" with MB = 2^20): N / S / 2^20, checking that N is all 256 MiB.
dd_mibs() {
    local line
    line=$(sed -n 's/^\([0-9]*\) bytes .* copied, \([0-9.]*\) s.*/\1 \2/p' <<<"$1")
    [ "${line%% *}" = 268435456 ] || { printf 'bench: no full 256 MiB dd report in:\n%s\n' "$1" >&2; return 1; }
    awk -v n="${line%% *}" -v s="${line##* }" 'BEGIN {printf "%.1f", n / s / 1048576}'
}
drop_caches() { sync && echo 3 >/proc/sys/vm/drop_caches; }
# Write then read 256 MiB in one boot, as in a guest that has run for a
# while: dd writes disk1's /mnt/f (conv=fsync), the guest drops its page
# cache and says so, the host drops its own, and only then (a `read` in
# the guest's script waits for a line) dd reads the file back. Prints both
# dd reports.
guest_write_read() {
    local fifo=target/bench/io.fifo out=target/bench/io.out pid
    rm -f "$fifo" && mkfifo "$fifo"
    "${disk_tender[@]}" <"$fifo" >"$out" 2>&1 &
    pid=$!
    exec 9>"$fifo"
    printf '%s
' 'mount /dev/vdb /mnt && dd if=/dev/zero of=/mnt/f bs=1M count=256 conv=fsync' \
        'echo 3 >/proc/sys/vm/drop_caches; echo dropped; read go' >&9
    until grep -q '^dropped' "$out"; do
        kill -0 "$pid" 2>/dev/null || { echo "bench: the guest ended early:" >&2; cat "$out" >&2; return 1; }
        sleep 0.05
    done
    drop_caches
    printf '%s
' go 'dd if=/mnt/f of=/dev/null bs=1M; umount /mnt' >&9
    exec 9>&-
    wait "$pid" || { echo "bench: the guest failed:" >&2; cat "$out" >&2; return 1; }
    rm -f "$fifo"
    tr -d '\r' <"$out" | grep -v '^reboot: '
}

# Disk boot: the tender booting the ext4 root (--mem=128, as make run) to
# busybox init and its login shell on the console. To power-off: stdin a
# pipe holding `true`, the shell runs it and powers off at end of input
# (fork+exec to exit, nabla-bench boot-stdin). To the prompt: the console
# on a pty (nabla-bench pty), from fork to the first "# " of
# root@nabla:~#, then Ctrl-D and to exit. Baseline: the static C hello
# (as linux-boot), fork+exec to exit, interleaved in each; native busybox
# `sh -c true` for reference. DISK_RUNS runs of each.
if want disk-boot; then
    DISK_RUNS=${DISK_RUNS:-50}
    {
        read -r c c10 c90 crss
        read -r s s10 s90 srss
        read -r t t10 t90 trss
    } < <($bench boot-stdin "$DISK_RUNS" $'true\n' -- target/bench/hello-static -- \
        build/busybox/busybox sh -c true -- "${disk_boot[@]}")
    {
        read -r pc pc10 pc90 pcrss
        read -r p p10 p90 prss
        read -r e e10 e90 _
    } < <($bench pty "$DISK_RUNS" '# ' -- target/bench/hello-static -- "${disk_boot[@]}")
    echo
    echo "disk boot: ext4 root, --mem=128, $DISK_RUNS interleaved runs each (median [p10-p90])"
    printf '  %-44s %8s us [%s-%s]  peak RSS %5s KiB\n' "static C hello (baseline)" "$c" "$c10" "$c90" "$crss"
    printf '  %-44s %8s us [%s-%s]  peak RSS %5s KiB\n' "native busybox sh -c true (reference)" "$s" "$s10" "$s90" "$srss"
    printf '  %-44s %8s us [%s-%s]  peak RSS %5s KiB\n' "boot, \`true\` piped in, to power-off, exit" "$t" "$t10" "$t90" "$trss"
    echo "  ratio boot to power-off / static C hello: $(ratio "$t" "$c") ($(ratio "$t" "$s")x busybox sh -c true)"
    printf '  %-44s %8s us [%s-%s]  peak RSS %5s KiB\n' "static C hello (baseline, pty run)" "$pc" "$pc10" "$pc90" "$pcrss"
    printf '  %-44s %8s us [%s-%s]  peak RSS %5s KiB\n' "boot to the first prompt, on a pty" "$p" "$p10" "$p90" "$prss"
    printf '  %-44s %8s us [%s-%s]\n' "  then Ctrl-D, to exit (from the start)" "$e" "$e10" "$e90"
    echo "  ratio boot to the prompt / static C hello: $(ratio "$p" "$pc")"
fi

# Disk I/O: sequential write then read of a 256 MiB file in 1 MiB
# requests, dd in the guest on the fresh ext4 disk1 (busybox dd, --mem=512)
# against the host's dd on a file of the host file system that holds the
# image: write `dd if=/dev/zero of=F bs=1M count=256 conv=fsync`, read `dd
# if=F of=/dev/null bs=1M` after dropping the host's page cache (sync; echo
# 3 > /proc/sys/vm/drop_caches: it holds the guest's image too); the
# guest reads in the same boot, after dropping its own cache and the
# host's (guest_write_read), and once more in a fresh boot, whose memory
# the host has yet to fault in. MiB/s from dd's reports; ROUNDS
# interleaved rounds, medians.
if want disk-io; then
    ROUNDS=${ROUNDS:-3}
    hostf=target/bench/io.f nw=() gw=() nr=() gr=() gc=()
    for _ in $(seq "$ROUNDS"); do
        mkdisk
        rm -f "$hostf" && sync
        nw+=("$(dd_mibs "$(LC_ALL=C dd if=/dev/zero of="$hostf" bs=1M count=256 conv=fsync 2>&1)")")
        both=$(guest_write_read)
        gw+=("$(dd_mibs "$(sed -n '1,/copied/p' <<<"$both")")")
        gr+=("$(dd_mibs "$(sed '1,/copied/d' <<<"$both")")")
        drop_caches
        nr+=("$(dd_mibs "$(LC_ALL=C dd if="$hostf" of=/dev/null bs=1M 2>&1)")")
        drop_caches
        gc+=("$(dd_mibs "$(guest 'mount /dev/vdb /mnt && dd if=/mnt/f of=/dev/null bs=1M && umount /mnt')")")
    done
    rm -f "$hostf"
    nwm=$(printf '%s\n' "${nw[@]}" | median) gwm=$(printf '%s\n' "${gw[@]}" | median)
    nrm=$(printf '%s\n' "${nr[@]}" | median) grm=$(printf '%s\n' "${gr[@]}" | median)
    gcm=$(printf '%s\n' "${gc[@]}" | median)
    echo
    echo "disk io: 256 MiB sequential in 1 MiB requests (dd), MiB/s, median of $ROUNDS interleaved rounds"
    printf '  %-6s %10s %10s %7s\n' mode native guest ratio
    printf '  %-6s %10s %10s %6sx  (goal >= 0.80x)\n' write "$nwm" "$gwm" "$(ratio "$gwm" "$nwm")"
    printf '  %-6s %10s %10s %6sx  (goal >= 0.80x)\n' read "$nrm" "$grm" "$(ratio "$grm" "$nrm")"
    printf '  %-6s %10s %10s %6sx  (read in a fresh boot: the guest memory is new to the host)\n' read-new "$nrm" "$gcm" "$(ratio "$gcm" "$nrm")"
    echo "  (all rounds: native write ${nw[*]}, guest write ${gw[*]}; native read ${nr[*]}, guest read ${gr[*]}, fresh boot ${gc[*]})"
fi

# Disk fsync: FSYNCS x (append 4 KiB, fsync) by bench/fsync.c, in the
# guest on the ext4 disk1 and natively on the host file system holding
# the image; per-call median [p10-p90], the medians of ROUNDS interleaved
# rounds.
if want disk-fsync; then
    ROUNDS=${ROUNDS:-3} FSYNCS=${FSYNCS:-500}
    mkdisk
    fn=() fn10=() fn90=() fg=() fg10=() fg90=()
    for _ in $(seq "$ROUNDS"); do
        read -r _ a b c < <(figure fsync "$(target/bench/fsync target/bench/fsync.f "$FSYNCS")")
        fn+=("$a") fn10+=("$b") fn90+=("$c")
        read -r _ a b c < <(figure fsync "$(guest "mount /dev/vdb /mnt && /mnt/fsync /mnt/fsync.f $FSYNCS && umount /mnt")")
        fg+=("$a") fg10+=("$b") fg90+=("$c")
    done
    rm -f target/bench/fsync.f
    m() { printf '%s\n' "$@" | median; }
    nm=$(m "${fn[@]}") gm=$(m "${fg[@]}")
    echo
    echo "disk fsync: us per 4 KiB append + fsync, $FSYNCS calls, median [p10-p90] (medians of $ROUNDS interleaved rounds)"
    printf '  %-44s %8s us [%s-%s]\n' "native, host file system (baseline)" "$nm" "$(m "${fn10[@]}")" "$(m "${fn90[@]}")"
    printf '  %-44s %8s us [%s-%s]\n' "Linux guest, ext4 on disk1" "$gm" "$(m "${fg10[@]}")" "$(m "${fg90[@]}")"
    echo "  ratio guest / native: $(ratio "$gm" "$nm")"
fi

# Disk spawn: SPAWNS x (posix_spawn + waitpid) of busybox `true` by
# bench/spawn.c: in the guest /bin/true from the ext4 root (the applet
# link; the helper itself on disk1), natively a link named true to
# build/busybox/busybox; us per spawn, medians of ROUNDS interleaved rounds.
if want disk-spawn; then
    ROUNDS=${ROUNDS:-3} SPAWNS=${SPAWNS:-1000}
    mkdisk
    sp_n=() sp_g=()
    for _ in $(seq "$ROUNDS"); do
        read -r _ a < <(figure spawn "$(target/bench/spawn "$SPAWNS" target/bench/true)")
        sp_n+=("$a")
        read -r _ a < <(figure spawn "$(guest "mount /dev/vdb /mnt && /mnt/spawn $SPAWNS /bin/true && umount /mnt")")
        sp_g+=("$a")
    done
    nm=$(printf '%s\n' "${sp_n[@]}" | median) gm=$(printf '%s\n' "${sp_g[@]}" | median)
    echo
    echo "disk spawn: us per posix_spawn + waitpid of busybox true, median of $ROUNDS interleaved rounds x $SPAWNS"
    printf '  %-44s %8s\n' "native, a link true -> build/busybox/busybox" "$nm"
    printf '  %-44s %8s  (%sx native)\n' "Linux guest, /bin/true on the ext4 root" "$gm" "$(ratio "$gm" "$nm")"
fi

# Disk RSS: VmRSS (and VmHWM) of the tender with the guest idle at its
# prompt (--mem=128, console on a pty, one second after the first "# "),
# next to the only native counterpart of an idle shell at a prompt: the
# same busybox's hush (build/busybox/busybox sh) on a pty, one second
# after its prompt; medians of ROUNDS interleaved rounds.
if want disk-rss; then
    ROUNDS=${ROUNDS:-3}
    nr=() nh=() gr=() gh=()
    for _ in $(seq "$ROUNDS"); do
        read -r a b < <($bench pty-rss '# ' 1 -- build/busybox/busybox sh)
        nr+=("$a") nh+=("$b")
        read -r a b < <($bench pty-rss '# ' 1 -- "${disk_boot[@]}")
        gr+=("$a") gh+=("$b")
    done
    m() { printf '%s\n' "$@" | median; }
    nrm=$(m "${nr[@]}") grm=$(m "${gr[@]}")
    echo
    echo "disk rss: idle at the prompt on a pty, 1 s after it, KiB, median of $ROUNDS interleaved rounds"
    printf '  %-44s VmRSS %7s  VmHWM %7s\n' "native busybox sh (hush), idle (baseline)" "$nrm" "$(m "${nh[@]}")"
    printf '  %-44s VmRSS %7s  VmHWM %7s\n' "nabla-tender, Linux guest idle at its shell" "$grm" "$(m "${gh[@]}")"
    echo "  ratio guest / native hush: $(ratio "$grm" "$nrm") (no native equivalent of a whole idle system)"
fi

# Linux syscalls: bench/syscalls.c (one static-pie, `syscalls run N RR
# SPAWNS`) times each operation as a loop of its own, N times (RR pipe
# round trips, SPAWNS spawns), in ns per operation: a null syscall
# (number 1000, ENOSYS), syscall(SYS_getpid), clock_gettime(CLOCK_MONOTONIC)
# through musl (the vDSO, natively and in the guest, whose vDSO reads the
# guest kernel's clock) and as syscall(SYS_clock_gettime), 1-byte read of /dev/zero and write to
# /dev/null, stat and open+close of a file (the binary, as ./syscalls from
# its directory on both sides), select on 10 and 100 pipe read ends (none
# ready, timeout 0), a 1-byte pipe round trip to a child (posix_spawn'd:
# no fork in the guest) and posix_spawn + waitpid of the same binary in
# its exit mode. In the guest from disk1 (the console shell, --mem=512),
# natively on the host file system; both sides pinned to the host CPU
# SYSCALLS_CPU (taskset), as the guest's whole system is one host thread
# (unpinned, the native round trip crosses CPUs: a wake-up of an idle CPU
# of this VM, tens of us). The guest runs twice per round: as it boots by
# default (syscall sites rewritten into calls through the tender's sled
# after their first trap, and the vDSO) and with --no-syscall-rewrite (the
# trap path: every syscall a seccomp trap; the vDSO still there). The bare
# seccomp trap floor (nabla-bench trap) alongside; medians of ROUNDS (5)
# interleaved rounds (two boots per round).
if want linux-syscalls; then
    ROUNDS=${ROUNDS:-5} SYSCALLS_N=${SYSCALLS_N:-200000} SYSCALLS_RR=${SYSCALLS_RR:-20000}
    SYSCALLS_SPAWNS=${SYSCALLS_SPAWNS:-1000} SYSCALLS_CPU=${SYSCALLS_CPU:-0}
    sc_ops=(null getpid clock-libc clock-syscall read-zero write-null stat open-close select-10 select-100
        pipe-round-trip spawn-wait)
    sc_args="run $SYSCALLS_N $SYSCALLS_RR $SYSCALLS_SPAWNS"
    pin=(taskset -c "$SYSCALLS_CPU")
    mkdisk
    declare -A sc_nat=() sc_gst=() sc_trp=()
    sc_f=()
    sc_script="mount -o noinit_itable /dev/vdb /mnt && cd /mnt && ./syscalls $sc_args; cd / && umount /mnt"
    for _ in $(seq "$ROUNDS"); do
        # shellcheck disable=SC2086 # sc_args is words
        nat=$(cd target/bench && "${pin[@]}" ./syscalls $sc_args) ||
            { printf 'bench: the native syscalls run failed:\n%s\n' "$nat" >&2; exit 1; }
        # The guest: the tender pinned (disk_tender only changes in these
        # subshells), rewriting syscall sites, then on the trap path.
        gst=$(disk_tender=("${pin[@]}" "${disk_tender[@]}") && guest "$sc_script")
        trp=$(disk_tender=("${pin[@]}" "${disk_tender[0]}" --no-syscall-rewrite "${disk_tender[@]:1}") &&
            guest "$sc_script")
        sc_f+=("$("${pin[@]}" $bench trap "$SYSCALLS_N")")
        for k in "${sc_ops[@]}" vdso; do
            sc_nat[$k]+=" $(figure "$k" "$nat")" sc_gst[$k]+=" $(figure "$k" "$gst")"
            sc_trp[$k]+=" $(figure "$k" "$trp")"
        done
    done
    med() { tr ' ' '\n' <<<"$1" | grep . | median; }
    sc_how() { [ "$(med "$1")" = 1 ] && echo vDSO || echo syscall; }
    echo
    echo "linux syscalls: ns per operation (bench/syscalls.c), median of $ROUNDS interleaved rounds, all pinned to CPU $SYSCALLS_CPU"
    printf '  %-62s %9s %9s %9s %7s %7s\n' "$SYSCALLS_N x each unless said" native guest "trap path" "g/n" "t/n"
    sc_labels=("null syscall (number 1000, ENOSYS)" "getpid, syscall(SYS_getpid)"
        "clock_gettime(MONOTONIC), musl's ($(sc_how "${sc_nat[vdso]}")/$(sc_how "${sc_gst[vdso]}")/$(sc_how "${sc_trp[vdso]}"))"
        "clock_gettime(MONOTONIC), syscall(SYS_clock_gettime)" "read 1 byte of /dev/zero" "write 1 byte to /dev/null"
        "stat of a file (./syscalls)" "open + close of that file" "select, 10 pipe read ends, none ready, timeout 0"
        "select, 100 pipe read ends, none ready, timeout 0" "pipe round trip, 1 byte, two processes, $SYSCALLS_RR x"
        "posix_spawn + waitpid of a static-pie, $SYSCALLS_SPAWNS x")
    for i in "${!sc_ops[@]}"; do
        sc_n=$(med "${sc_nat[${sc_ops[$i]}]}") sc_g=$(med "${sc_gst[${sc_ops[$i]}]}")
        sc_t=$(med "${sc_trp[${sc_ops[$i]}]}")
        printf '  %-62s %9s %9s %9s %6sx %6sx\n' "${sc_labels[$i]}" "$sc_n" "$sc_g" "$sc_t" \
            "$(ratio "$sc_g" "$sc_n")" "$(ratio "$sc_t" "$sc_n")"
    done
    printf '  %-62s %9s\n' "bare seccomp trap round trip (the floor), native" "$(printf '%s\n' "${sc_f[@]}" | median)"
    echo "  (guest: the default boot, each syscall site rewritten into a call through the tender's sled after"
    echo "  its first trap, and the guest's vDSO; trap path: the same guest with --no-syscall-rewrite, where"
    echo "  every syscall is a seccomp trap; g/n = guest / native, t/n = trap path / native; musl's"
    echo "  clock_gettime goes through a vDSO or a syscall, as said for native/guest/trap path)"
fi

# ---- Debian's programs: build/programs.ext4 (from `make programs`:
# Debian 12's own glibc binaries, dynamically linked, unmodified; its tree
# is build/programs/root) attached read-only as disk2 (/dev/vdc, mounted
# on /run/p) next to the root copy and disk1 (the helpers), with --mem=512;
# the same script runs chrooted into the image in the guest and into the
# tree natively (in a mount namespace of its own, as root: /dev, proc, and
# a tmpfs /tmp holding bench/spawn.c's static-pie). ----
# Exec to exit: PROG_SPAWNS x (posix_spawn + waitpid) of Debian's
# /bin/true (coreutils) and PROG_INTERP_SPAWNS of perl -e 1 and python3 -c
# pass, timed by the spawn helper, us per spawn. Python is
# /usr/local/bin/python3 on both sides: Debian's interpreter library
# (libpython3.11.so.1.0) under CPython's one-line main built as a PIE
# (tests/programs/python3.c), since Debian's /usr/bin/python3.11 is linked
# at a fixed address (ET_EXEC), which no-MMU Linux refuses. Memory per
# running process:
# PROG_PROCS instances of `sleep 1000` started in the background (Debian's
# coreutils sleep, chrooted; then busybox's sleep, the musl static-pie of
# the root image, natively a link named sleep to build/busybox/busybox),
# in the guest MemAvailable (and MemFree) of /proc/meminfo before them less
# after them, over PROG_PROCS, in KiB: whatever the kernel spends on them,
# their memory, its own structures and their share of what they map in
# common; natively their summed Pss (and Rss) from /proc/PID/smaps_rollup
# over PROG_PROCS (the host's meminfo moves with everything else the host
# runs: too noisy for this), which leaves out the kernel's structures
# (page tables, kernel stacks). Medians of ROUNDS interleaved rounds (one
# boot per round).
if want linux-programs; then
    ROUNDS=${ROUNDS:-3} PROG_SPAWNS=${PROG_SPAWNS:-200} PROG_INTERP_SPAWNS=${PROG_INTERP_SPAWNS:-20}
    PROG_PROCS=${PROG_PROCS:-10}
    prog_tender=(target/release/nabla-tender --quiet --mem=512 "--block=$disk_root" "--block:disk1=$disk_img"
        "--block:disk2=$prog_img:ro" build/linux.nabla quiet)
    ln -sfn "$PWD/build/busybox/busybox" target/bench/sleep
    # The measuring script, for the guest's hush and the host's sh: R is
    # the tree's root, BB_SLEEP busybox's sleep. Each figure is one line
    # "NAME FIGURES" (the spawn helper's "spawn N US"; "mem N AVAIL FREE
    # [PSS]" with N the instances that ran).
    prog_script() {
        cat <<SCRIPT
R=$1 BB_SLEEP=$2
echo "true \$(chroot \$R /tmp/spawn $PROG_SPAWNS /bin/true)"
echo "perl \$(chroot \$R /tmp/spawn $PROG_INTERP_SPAWNS /usr/bin/perl perl -e 1)"
echo "python \$(chroot \$R /tmp/spawn $PROG_INTERP_SPAWNS /usr/local/bin/python3 python3 -c pass)"
for what in glibc busybox; do
    if [ \$what = glibc ]; then chroot \$R /bin/sleep 0; else \$BB_SLEEP 0; fi
    a0=\$(awk '/^MemAvailable:/ {print \$2}' /proc/meminfo) f0=\$(awk '/^MemFree:/ {print \$2}' /proc/meminfo)
    pids="" i=0
    while [ \$i -lt $PROG_PROCS ]; do
        if [ \$what = glibc ]; then chroot \$R /bin/sleep 1000 & else \$BB_SLEEP 1000 & fi
        pids="\$pids \$!" i=\$((i + 1))
    done
    sleep 1
    a1=\$(awk '/^MemAvailable:/ {print \$2}' /proc/meminfo) f1=\$(awk '/^MemFree:/ {print \$2}' /proc/meminfo)
    n=0 pss=0 rss=0
    for p in \$pids; do
        [ "\$(cat /proc/\$p/comm 2>/dev/null)" = sleep ] || continue
        n=\$((n + 1))
        [ -e /proc/\$p/smaps_rollup ] || continue
        pss=\$((pss + \$(awk '/^Pss:/ {print \$2}' /proc/\$p/smaps_rollup)))
        rss=\$((rss + \$(awk '/^Rss:/ {print \$2}' /proc/\$p/smaps_rollup)))
    done
    kill \$pids 2>/dev/null
    wait
    echo "mem-\$what \$n \$(( (a0 - a1) / $PROG_PROCS )) \$(( (f0 - f1) / $PROG_PROCS )) \$((pss / $PROG_PROCS)) \$((rss / $PROG_PROCS))"
done
SCRIPT
    }
    prog_guest() {
        local out
        out=$({
            echo 'mount /dev/vdb /mnt && mkdir -p /run/p && mount -o ro /dev/vdc /run/p &&'
            echo 'mount -t tmpfs tmpfs /run/p/tmp && mount -t proc proc /run/p/proc &&'
            echo 'mount -t devtmpfs devtmpfs /run/p/dev && cp /mnt/spawn /run/p/tmp/spawn || echo SETUP-FAILED'
            prog_script /run/p /bin/sleep
        } | "${prog_tender[@]}" 2>&1 | tr -d '\r') ||
            { printf 'bench: the guest failed running the linux-programs script:\n%s\n' "$out" >&2; return 1; }
        grep -v '^reboot: ' <<<"$out"
    }
    prog_native() {
        # shellcheck disable=SC2016 # expanded by the inner shell
        unshare -m --propagation private /bin/sh -c 'set -e
            mount --rbind /dev "$0/dev"; mount -t proc proc "$0/proc"; mount -t tmpfs tmpfs "$0/tmp"
            cp target/bench/spawn "$0/tmp/spawn"
            set +e; eval "$1"' "$prog_tree" "$(prog_script "$prog_tree" "$PWD/target/bench/sleep")" 2>&1
    }
    # One figure from a run's output: field $3 of the line "$2 ..." (the
    # words after the name); fails, with the output, when it is missing or
    # a memory line counts fewer instances than were started.
    prog_field() {
        local line
        line=$(figure "$2" "$1") || return 1
        if [[ $2 == mem-* ]] && [ "${line%% *}" != "$PROG_PROCS" ]; then
            printf 'bench: only %s of %s %s instances ran:\n%s\n' "${line%% *}" "$PROG_PROCS" "$2" "$1" >&2
            return 1
        fi
        awk -v i="$3" '{print $i}' <<<"$line"
    }
    mkdisk
    declare -A pn=() pg=()
    for _ in $(seq "$ROUNDS"); do
        nat=$(prog_native) || { printf 'bench: the native linux-programs run failed:\n%s\n' "$nat" >&2; exit 1; }
        gst=$(prog_guest)
        for k in true perl python; do
            pn[$k]+="$(prog_field "$nat" "$k" 3) "
        done
        for k in true perl python; do
            pg[$k]+="$(prog_field "$gst" "$k" 3) "
        done
        for k in mem-glibc mem-busybox; do
            pn[$k]+="$(prog_field "$nat" "$k" 4) " pn[$k-rss]+="$(prog_field "$nat" "$k" 5) "
            pg[$k]+="$(prog_field "$gst" "$k" 2) " pg[$k-free]+="$(prog_field "$gst" "$k" 3) "
        done
    done
    med() { tr ' ' '\n' <<<"$1" | grep . | median; }
    echo
    echo "linux programs: Debian 12's glibc programs (build/programs.ext4, chrooted), median of $ROUNDS interleaved rounds"
    printf '  %-52s %10s %10s %7s\n' "exec to exit, us per posix_spawn + waitpid" native guest ratio
    row() {
        local n g
        n=$(med "${pn[$2]}") g=$(med "${pg[$2]:-}")
        printf '  %-52s %10s %10s %6sx\n' "$1" "$n" "$g" "$(ratio "$g" "$n")"
    }
    row "/bin/true (coreutils, dynamic glibc), $PROG_SPAWNS x" true
    row "perl -e 1, $PROG_INTERP_SPAWNS x" perl
    row "python3 -c pass (Debian's libpython3.11), $PROG_INTERP_SPAWNS x" python
    printf '  %-52s %10s %10s %7s\n' "memory per running process, KiB ($PROG_PROCS x sleep 1000)" native guest ratio
    for k in mem-glibc mem-busybox; do
        [ $k = mem-glibc ] && d="coreutils sleep (dynamic glibc)" || d="busybox sleep (musl static-pie)"
        row "$d" "$k"
        echo "    (native Pss; guest MemAvailable drop. Native Rss $(med "${pn[$k-rss]}"), guest MemFree drop $(med "${pg[$k-free]}"))"
    done
fi

# ---- The Linux guest on the network: build/linux.nabla as above (the root
# copy, disk1 holding bench/netbench.c's static-pie and www/4k.html,
# --mem=512) with eth0 on a tap in a network namespace ($net_ns: tap0
# 10.0.0.1, the guest 10.0.0.2), its console shell running netbench's
# server and busybox httpd; the clients run on the host in $net_ns. Baseline:
# the same servers (the same netbench binary, the same busybox) in a second
# namespace ($net_ns-peer, veth1 10.0.1.2) reached from $net_ns over a veth pair
# (veth0 10.0.1.1), kernel to kernel. One boot serves all three sections
# (each figure measured on veth, then on the guest); the TCP section boots
# once more with the tap handed over as a file descriptor without
# IFF_VNET_HDR (nabla-tapfd, --net:eth0=@3): no offloads. ----
if want linux-net-tcp || want linux-net-rr || want linux-net-http; then
    NET_ROUNDS=${NET_ROUNDS:-3} NET_SECS=${NET_SECS:-2} NET_PINGS=${NET_PINGS:-1000}
    if want linux-net-http && ! command -v wrk >/dev/null; then
        echo "bench: wrk is missing: scripts/setup.sh installs it (or apt-get install wrk)" >&2
        exit 1
    fi
    net_ns=nabla-bench-net-$$ port=5201
    net_fifo=target/bench/net.fifo net_out=target/bench/net.out net_pids=() net_guest=""
    net_tender=(target/release/nabla-tender --quiet --mem=512 "--block=$disk_root" "--block:disk1=$disk_img")
    net_boot=(build/linux.nabla quiet ip=10.0.0.2::10.0.0.1:255.255.255.0::eth0:off)
    # On any exit: the guest, the baseline servers, the namespaces (and the
    # net section's, whose EXIT trap this one replaces).
    net_cleanup() {
        local p
        exec 9>&-
        for p in $net_guest "${net_pids[@]}"; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        ip netns del "$net_ns" 2>/dev/null || true
        ip netns del "$net_ns-peer" 2>/dev/null || true
        rm -f "$net_fifo"
        if declare -F cleanup >/dev/null; then cleanup || true; fi
    }
    trap net_cleanup EXIT
    trap 'exit 130' INT TERM
    in_ns() { ip netns exec "$net_ns" "$@"; }
    ip netns add "$net_ns"
    ip netns add "$net_ns-peer"
    ip -n "$net_ns" link set lo up
    ip -n "$net_ns-peer" link set lo up
    ip -n "$net_ns" link add veth0 type veth peer name veth1 netns "$net_ns-peer"
    ip -n "$net_ns" addr add 10.0.1.1/24 dev veth0
    ip -n "$net_ns" link set veth0 up
    ip -n "$net_ns-peer" addr add 10.0.1.2/24 dev veth1
    ip -n "$net_ns-peer" link set veth1 up
    # A fresh tap0 for each boot (no offload state left by the last one).
    net_tap() {
        ip -n "$net_ns" link del tap0 2>/dev/null || true
        ip -n "$net_ns" tuntap add tap0 mode tap
        ip -n "$net_ns" addr add 10.0.0.1/24 dev tap0
        ip -n "$net_ns" link set tap0 up
    }
    # Waits until HOST:PORT accepts a connection (from $net_ns), up to 10 s.
    net_wait_port() {
        local i
        for i in $(seq 200); do
            in_ns bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null && return 0
            sleep 0.05
        done
        echo "bench: nothing listens on $1:$2" >&2
        return 1
    }
    ip netns exec "$net_ns-peer" target/bench/netbench server "$port" >/dev/null &
    net_pids+=($!)
    ip netns exec "$net_ns-peer" build/busybox/busybox httpd -f -p 80 -h "$disk_dir/www" &
    net_pids+=($!)
    net_wait_port 10.0.1.2 "$port"
    net_wait_port 10.0.1.2 80
    # Boots the guest with the tender's command line "$@" (inside $net_ns) on
    # the fifo, starts the servers in its shell, and waits for them (30 s
    # at most for netbench's READY line).
    net_guest_up() {
        local i=0
        rm -f "$net_fifo" && mkfifo "$net_fifo"
        ip netns exec "$net_ns" "$@" <"$net_fifo" >"$net_out" 2>&1 &
        net_guest=$! # the tender itself: ip and nabla-tapfd exec it
        exec 9>"$net_fifo"
        printf '%s\n' 'mount /dev/vdb /mnt' "/mnt/netbench server $port &" \
            'httpd -f -p 80 -h /mnt/www &' 'read x' >&9
        until grep -q "^READY $port" "$net_out"; do
            kill -0 "$net_guest" 2>/dev/null || { echo "bench: the guest ended early:" >&2; cat "$net_out" >&2; return 1; }
            [ $((i += 1)) -le 600 ] || { echo "bench: no READY from the guest's netbench in 30 s:" >&2; cat "$net_out" >&2; return 1; }
            sleep 0.05
        done
        net_wait_port 10.0.0.2 "$port"
        net_wait_port 10.0.0.2 80
    }
    # Ends the shell's input: it powers off; fails, with the console, when
    # the tender does not exit 0 within 10 s.
    net_guest_down() {
        local i
        exec 9>&-
        for i in $(seq 200); do
            kill -0 "$net_guest" 2>/dev/null || break
            sleep 0.05
        done
        kill -0 "$net_guest" 2>/dev/null && { echo "bench: the guest did not power off:" >&2; cat "$net_out" >&2; return 1; }
        wait "$net_guest" || { echo "bench: the guest failed:" >&2; cat "$net_out" >&2; return 1; }
        net_guest=""
    }
    # netbench's figure against HOST: Mbit/s (send, recv) or the median
    # round trip in us (rr).
    net_netbench() {
        local out
        out=$(in_ns target/bench/netbench client "$@") || { echo "bench: netbench client $* failed" >&2; return 1; }
        case $out in
            "stream MBIT "* | "rr US "*) read -r _ _ fig _ <<<"$out" && echo "$fig" ;;
            *) printf 'bench: no result line from netbench client %s:\n%s\n' "$*" "$out" >&2; return 1 ;;
        esac
    }
    # Average ping round trip to HOST in us: NET_PINGS echoes, ping's
    # options OPTS (-i 0.001: 1 ms apart; -f: each as soon as the last
    # answer is in).
    net_ping() {
        local host=$1 out rtt
        shift
        out=$(in_ns ping -q -c "$NET_PINGS" "$@" "$host" 2>&1) || { printf 'bench: ping %s failed:\n%s\n' "$host" "$out" >&2; return 1; }
        rtt=$(sed -n 's#^rtt .* = [0-9.]*/\([0-9.]*\)/.*#\1#p' <<<"$out")
        [ -n "$rtt" ] || { printf 'bench: no rtt line from ping %s:\n%s\n' "$host" "$out" >&2; return 1; }
        awk -v a="$rtt" 'BEGIN {printf "%.1f", a * 1000}'
    }
    # Requests per second from wrk against HOST's 4 KiB page (1 thread,
    # 4 connections, NET_SECS s); fails on errors or non-2xx answers.
    net_wrk() {
        local out rps
        out=$(in_ns wrk -t 1 -c 4 -d "${NET_SECS}s" "http://$1/4k.html" 2>&1) || { printf 'bench: wrk %s failed:\n%s\n' "$1" "$out" >&2; return 1; }
        rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\)$/\1/p' <<<"$out")
        if [ -z "$rps" ] || grep -q -e 'Non-2xx' -e 'Socket errors' <<<"$out"; then
            printf 'bench: wrk %s: no clean result:\n%s\n' "$1" "$out" >&2
            return 1
        fi
        echo "$rps"
    }

    # One round of figure KEY: the function F against the veth peer, then
    # against the guest (F HOST ARGS...), appended to vf[KEY] and gf[KEY].
    declare -A vf gf
    net_round() {
        local key=$1 f=$2 v g
        shift 2
        v=$("$f" 10.0.1.2 "$@")
        g=$("$f" 10.0.0.2 "$@")
        vf[$key]+=" $v" gf[$key]+=" $g"
    }
    mkdisk
    net_tap
    net_guest_up "${net_tender[@]}" --net:eth0=tap0 "${net_boot[@]}"
    for _ in $(seq "$NET_ROUNDS"); do
        if want linux-net-tcp; then
            for m in send recv; do
                for n in 1 4; do net_round "$m$n" net_netbench "$port" "$m" "$n" "$NET_SECS"; done
            done
        fi
        if want linux-net-rr; then
            net_round ping net_ping -i 0.001
            net_round flood net_ping -f
            net_round rr net_netbench "$port" rr 1 "$NET_SECS"
        fi
        if want linux-net-http; then net_round http net_wrk; fi
    done
    net_guest_down
    if want linux-net-tcp; then
        # Offloads off: the tap opened by nabla-tapfd without IFF_VNET_HDR.
        net_tap
        net_guest_up target/release/nabla-tapfd tap0 3 -- "${net_tender[@]}" --net:eth0=@3 "${net_boot[@]}"
        for _ in $(seq "$NET_ROUNDS"); do
            for m in send recv; do gf[${m}1off]+=" $(net_netbench 10.0.0.2 "$port" "$m" 1 "$NET_SECS")"; done
        done
        net_guest_down
    fi
    net_cleanup
    trap - EXIT INT TERM

    med() { tr ' ' '\n' <<<"$1" | grep . | median; }
    # A report row: LABEL, the veth and guest figures of KEY (and GKEY for
    # the guest, when other), the ratio guest / veth.
    net_row() {
        local v g
        v=$(med "${vf[$2]}") g=$(med "${gf[${3:-$2}]}")
        printf '  %-46s %10s %10s %6sx\n' "$1" "$v" "$g" "$(ratio "$g" "$v")"
    }
    net_rounds() {
        local k
        printf '  (all rounds:'
        for k in "$@"; do
            if [[ $k == *off ]]; then printf ' %s guest%s;' "$k" "${gf[$k]}"; else printf ' %s veth%s guest%s;' "$k" "${vf[$k]}" "${gf[$k]}"; fi
        done
        echo ')'
    }
    if want linux-net-tcp; then
        echo
        echo "linux net tcp: netbench stream throughput, Mbit/s, 128 KiB writes, median of $NET_ROUNDS interleaved rounds x $NET_SECS s"
        printf '  %-46s %10s %10s %7s\n' "" veth guest ratio
        for m in send recv; do
            [ $m = send ] && d="host -> guest" || d="guest -> host"
            net_row "$d, 1 stream" "${m}1"
            net_row "$d, 4 streams" "${m}4"
            net_row "$d, 1 stream, guest offloads off" "${m}1" "${m}1off"
        done
        echo "  (ratio guest / veth; on veth, \"guest\" is the peer namespace; the veth pair keeps its offloads in every row)"
        net_rounds send1 send4 send1off recv1 recv4 recv1off
    fi
    if want linux-net-rr; then
        echo
        echo "linux net rr: round trip in us, median of $NET_ROUNDS interleaved rounds"
        printf '  %-46s %10s %10s %7s\n' "" veth guest ratio
        net_row "ping, average of $NET_PINGS echoes 1 ms apart" ping
        net_row "ping -f, average of $NET_PINGS back to back" flood
        net_row "TCP 1-byte request/response, median, $NET_SECS s" rr
        echo "  (ratio guest / veth: above 1 is slower. 1 ms apart, each echo wakes the idle tender and its answer wakes ping;"
        echo "  over veth the peer's kernel answers within ping's own send)"
        net_rounds ping flood rr
    fi
    if want linux-net-http; then
        echo
        echo "linux net http: busybox httpd (a spawn per connection), a 4 KiB page, wrk -t 1 -c 4, requests/s, median of $NET_ROUNDS interleaved rounds x $NET_SECS s"
        printf '  %-46s %10s %10s %7s\n' "" veth guest ratio
        net_row "GET /4k.html" http
        net_rounds http
    fi
fi

# ---- Containers: Debian's containerd (a daemon of this run's own, own
# root, state and socket under /tmp, no CRI plugin) and ctr driving the
# stock io.containerd.runc.v2 shim on the image of `make oci-image`
# (build/oci-image.tar), with Debian's runc and with nabla-runtime, in
# the same run.
# containers-start: `ctr run --rm IMAGE ID /bin/nabla-test hello`, exec
# of ctr to its exit (container create, start, the program, exit,
# delete), CTR_RUNS runs each (20), interleaved, after 3 warm-ups each
# (nabla-bench boot; nabla-runtime's root-disk cache is warm).
# containers-mem: CTR_IDLE (5) containers of /bin/nabla-test sleep
# started detached with each runtime and left idle 2 s; the sum over
# each container's shim and all its descendants (runc: the program;
# nabla-runtime: the tender) of Rss and Pss from /proc/PID/smaps_rollup,
# divided by the number of containers. ----
if want containers-start || want containers-mem; then
    CTR_RUNS=${CTR_RUNS:-20} CTR_IDLE=${CTR_IDLE:-5}
    img=build/oci-image.tar nabla_rt=$PWD/target/release/nabla-runtime runc_rt=$(command -v runc || echo /usr/sbin/runc)
    for f in "$img" "$nabla_rt" "$runc_rt" target/release/nabla-init target/release/linux.nabla; do
        if [ ! -e "$f" ]; then
            echo "bench: $f is missing: the containers sections need 'make oci-image tender nabla-init kernel' and Debian's runc" >&2
            exit 1
        fi
    done
    ctd_dir=/tmp/nabla-bench-ctd-$$
    ctd_sock=$ctd_dir/ctd.sock
    ctd_pid=""
    ctd_cleanup() {
        local ns id m
        if [ -n "$ctd_pid" ]; then
            for ns in bench-runc bench-nabla; do
                for id in $(ctr -a "$ctd_sock" -n $ns task ls -q 2>/dev/null); do
                    ctr -a "$ctd_sock" -n $ns task delete -f "$id" >/dev/null 2>&1 || true
                done
                for id in $(ctr -a "$ctd_sock" -n $ns container ls -q 2>/dev/null); do
                    ctr -a "$ctd_sock" -n $ns container delete "$id" >/dev/null 2>&1 || true
                done
            done
            kill "$ctd_pid" 2>/dev/null || true
            wait "$ctd_pid" 2>/dev/null || true
        fi
        awk -v d="$ctd_dir/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
            umount -l "$m" || true
        done
        rm -rf "$ctd_dir" /run/containerd/runc/bench-runc /run/containerd/runc/bench-nabla
    }
    trap ctd_cleanup EXIT INT TERM
    mkdir -p "$ctd_dir"
    cat >"$ctd_dir/config.toml" <<TOML
version = 2
root = "$ctd_dir/root"
state = "$ctd_dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.native",
  "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$ctd_sock"
[ttrpc]
  address = "$ctd_sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
TOML
    containerd --config "$ctd_dir/config.toml" >"$ctd_dir/containerd.log" 2>&1 &
    ctd_pid=$!
    for _ in $(seq 500); do
        ctr -a "$ctd_sock" version >/dev/null 2>&1 && break
        sleep 0.02
    done
    for ns in bench-runc bench-nabla; do
        ctr -a "$ctd_sock" -n $ns image import "$img" >/dev/null
    done
    image=docker.io/nabla/test:latest
    # ctr run with each runtime, up to the options.
    runc_run=("$(command -v ctr)" -a "$ctd_sock" -n bench-runc run --runtime io.containerd.runc.v2 --runc-binary "$runc_rt")
    nabla_run=("$(command -v ctr)" -a "$ctd_sock" -n bench-nabla run --runtime io.containerd.runc.v2 --runc-binary "$nabla_rt")
    if want containers-start; then
        {
            read -r r r10 r90 _
            read -r n n10 n90 _
        } < <($bench boot "$CTR_RUNS" -- "${runc_run[@]}" --rm "$image" hello /bin/nabla-test hello \
            -- "${nabla_run[@]}" --rm "$image" hello /bin/nabla-test hello)
        echo
        echo "containers start: ctr run --rm of a hello container, exec of ctr to its exit, $CTR_RUNS interleaved runs each (median [p10-p90])"
        ms() { awk -v a="$1" 'BEGIN {printf "%.1f", a / 1000}'; }
        printf '  %-34s %7s ms [%s-%s]\n' "runc (Debian's, baseline)" "$(ms "$r")" "$(ms "$r10")" "$(ms "$r90")"
        printf '  %-34s %7s ms [%s-%s]\n' "nabla-runtime" "$(ms "$n")" "$(ms "$n10")" "$(ms "$n90")"
        echo "  ratio nabla-runtime / runc: $(ratio "$n" "$r") (goal <= 1)"
    fi
    if want containers-mem; then
        # Sum of Rss and Pss (KiB) over the shims of namespace NS and all
        # their descendants, and the shims' own.
        ns_mem() {
            local shims all frontier next p q s
            shims=$(ps -eo pid=,args= | awk -v ns="$1" -v a="$ctd_sock" \
                '$2 ~ /containerd-shim-runc-v2$/ && index($0, "-namespace " ns " ") && index($0, a) {print $1}')
            all=$shims frontier=$shims
            while [ -n "$frontier" ]; do
                next=$(ps -eo pid=,ppid= | awk -v f=" $(echo $frontier) " 'index(f, " " $2 " ") {print $1}')
                all="$all $next" frontier=$next
            done
            for p in $all; do
                s=0
                for q in $shims; do [ "$p" = "$q" ] && s=1; done
                awk -v s=$s '/^Rss:/ {r = $2} /^Pss:/ {p = $2} END {print r, p, s}' "/proc/$p/smaps_rollup"
            done | awk '{r += $1; p += $2} $3 == 1 {sr += $1; sp += $2} END {printf "%d %d %d %d\n", r, p, sr, sp}'
        }
        for i in $(seq "$CTR_IDLE"); do
            "${runc_run[@]}" -d --null-io "$image" "idle$i" /bin/nabla-test sleep >/dev/null
            "${nabla_run[@]}" -d --null-io "$image" "idle$i" /bin/nabla-test sleep >/dev/null
        done
        sleep 2
        read -r rr rp rsr rsp < <(ns_mem bench-runc)
        read -r nr np nsr nsp < <(ns_mem bench-nabla)
        echo
        echo "containers memory: $CTR_IDLE idle containers (/bin/nabla-test sleep) per runtime, KiB per container"
        printf '  %-34s %8s %8s   %s\n' "" Rss Pss "(of which the shim: Rss, Pss)"
        per() { awk -v a="$1" -v n="$CTR_IDLE" 'BEGIN {printf "%d", a / n}'; }
        printf '  %-34s %8s %8s   (%s, %s)\n' "runc: shim + program" "$(per "$rr")" "$(per "$rp")" "$(per "$rsr")" "$(per "$rsp")"
        printf '  %-34s %8s %8s   (%s, %s)\n' "nabla-runtime: shim + tender" "$(per "$nr")" "$(per "$np")" "$(per "$nsr")" "$(per "$nsp")"
        echo "  ratio nabla-runtime / runc, Pss: $(ratio "$np" "$rp")"
    fi
    ctd_cleanup
    trap - EXIT INT TERM
fi

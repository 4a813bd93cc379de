#!/usr/bin/env bash
# Run busybox's own testsuite (testsuite/runtest of the busybox source that
# scripts/build-busybox.sh built) natively on the host against
# build/busybox/busybox, or inside the Linux guest against its /bin/busybox
# (the same binary), so that the two pass counts can be compared.
#
#   scripts/busybox-testsuite.sh MODE OUT_DIR      (MODE: native or guest)
#
# Output: OUT_DIR/results.txt, one line per test ("PASS name", "FAIL name",
# "SKIPPED name", "UNTESTED name", in runtest's order), OUT_DIR/runtest.log
# (everything runtest printed), and on stdout the summary line
# "busybox testsuite (MODE): P passed, F failed, S skipped of T" (skipped
# counts SKIPPED and UNTESTED). Exits 1 when the run did not complete
# (runtest killed by a time limit, the guest did not power off, no marker
# at the end of the log); a failing test is not an error of this script.
#
# How: runtest wants a "bindir" holding busybox and the build's .config
# (which applets and features exist), with the testsuite in bindir/testsuite
# (tests reach ../busybox and ../examples from there). OUT_DIR/work is that
# tree: busybox (a link to the binary under test), .config (from the build
# tree build/busybox/obj), examples/ and testsuite/ copied from the source,
# an `sh` link to busybox, and applets/, a link per applet. runtest itself
# makes bindir/runtest-tempdir-links and puts it first in PATH for the
# new-style tests.
#
# Both modes run the same way, so that a difference is the kernel's and not
# the environment's: the shell is busybox hush in both (the guest has no
# other: ash needs fork; natively the copied scripts' "#!/bin/sh" lines
# are rewritten to bindir/sh, and `sh -x -e` of the old-style tests finds
# bindir/sh first in PATH), the command path holds busybox applets only (no
# host tool stands in for a missing applet), the environment is the same
# short list (env -i), stdin is /dev/null, stdout and stderr a file, the
# user is root, and SKIP_INTERNET_TESTS is set. runtest needs nothing from
# bash: hush runs it (local, $(( )), echo -ne are all hush builtins).
# all_sourcecode.tests checks the busybox source tree, which is not copied:
# it finds no Makefile and runs nothing, in both modes.
#
# Guest mode: the tree is built in OUT_DIR/stage with the paths it has in
# the guest (/mnt/bb, busybox -> /bin/busybox) and packed into
# OUT_DIR/testsuite.ext4 with `mke2fs -t ext4 -d` (no root needed); a copy
# of build/rootfs.ext4 (OUT_DIR/root.ext4) is the root disk, the original
# is never booted, and the testsuite image is disk1 (/dev/vdb). The console
# shell gets a short script on stdin: mount /dev/vdb on /mnt, run
# /mnt/bb/run.sh with stdin /dev/null (no test eats the rest of the console
# input) and output to /mnt/bb/runtest.log, shown on the console meanwhile
# by `tail -f`, then `ps` (what the tests left running), and end of input
# powers the guest off. The host reads the log back with debugfs, or takes
# the console's copy (OUT_DIR/console.log) when the guest did not shut
# down cleanly.
#
# Limits: the whole run has a time limit (BB_TIMEOUT seconds, default 900
# in the guest, where it takes about 4 minutes, and 600 natively, about 2),
# and runtest a little less inside it (a watchdog in run.sh: busybox's
# `timeout` does nothing with CONFIG_NOMMU, see run.sh), so that a hanging
# test ends the run with what it has rather than hanging it; such a run is
# reported as not complete. The applets in HANG_APPLETS would run after the
# others, each in its own runtest limited to 60 s: none is needed, no test
# hangs in the guest (the slowest applet is bc: over a minute natively, two
# to three minutes in the guest). Test names are runtest's: a few are not
# unique across applets. The user must be root (some tests mount, chroot
# or mknod; the guest's shell is root). Needs the built busybox
# (scripts/build-busybox.sh build/busybox), and for guest mode the kernel,
# the root image and the tender (make kernel image tender); e2fsprogs for
# mke2fs and debugfs.
set -euo pipefail
if [ $# -ne 2 ] || { [ "$1" != native ] && [ "$1" != guest ]; }; then
    echo "usage: scripts/busybox-testsuite.sh native|guest OUT_DIR" >&2
    exit 2
fi
mode=$1
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
src=$root/build/apt-src/src/busybox-1.35.0
busybox=$root/build/busybox/busybox
config=$root/build/busybox/obj/.config
tender=$root/target/release/nabla-tender
# NABLA_TEST_NO_REWRITE=1 (as for the Linux tests, see tests/src/linux.rs):
# the guest on the trap path, every syscall site left as it is.
tender_flags=()
if [ "${NABLA_TEST_NO_REWRITE:-}" = 1 ]; then
    tender_flags=(--no-syscall-rewrite)
fi
kernel=$root/build/linux.nabla
rootfs=$root/build/rootfs.ext4
guest_dir=/mnt/bb
hang_limit=60
# Applets whose tests hang in the guest (none in 1.35.0): each would run
# in a runtest of its own, limited to $hang_limit s.
HANG_APPLETS=""

for f in "$busybox" "$config" "$src/testsuite/runtest"; do
    if [ ! -e "$f" ]; then
        echo "busybox-testsuite: $f is missing (run scripts/build-busybox.sh build/busybox)" >&2
        exit 1
    fi
done

# The tree runtest runs in, built in $1 for the bindir path $2 with
# busybox as a link to $3.
prepare() {
    local tree=$1 dir=$2 target=$3 a
    rm -rf "$tree"
    mkdir -p "$tree/applets"
    ln -s "$target" "$tree/busybox"
    ln -s busybox "$tree/sh"
    cp "$config" "$tree/.config"
    cp -a "$src/examples" "$tree/examples"
    cp -a "$src/testsuite" "$tree/testsuite"
    # The scripts' interpreter: hush (bindir/sh), not the host's /bin/sh.
    grep -rlZ --exclude-dir=.git '^#!/bin/sh' "$tree/testsuite" |
        xargs -0 -r sed -i "1s|^#!/bin/sh|#!$dir/sh|"
    for a in busybox $("$busybox" --list); do
        ln -s "$dir/busybox" "$tree/applets/$a"
    done
    # What runs runtest in the tree (the same script in both modes).
    {
        echo "#!$dir/sh"
        echo "# Run busybox's testsuite in $dir/testsuite (run.sh MAIN_LIMIT);"
        echo "# written by scripts/busybox-testsuite.sh."
        echo "dir=$dir hang_applets='$HANG_APPLETS' hang_limit=$hang_limit"
        cat <<'EOF'
PATH=$dir/applets
cd "$dir/testsuite" || exit 1
complete=1
# Run a command with runtest's environment under a time limit ($1 s).
# busybox's own `timeout` does not work with CONFIG_NOMMU in 1.35.0 (its
# re-executed watcher takes -pPID for the command, so it watches and
# kills itself, never the command): a watchdog subshell instead.
run() {
    limit=$1
    shift
    env -i PATH="$dir/applets" HOME=/root LC_ALL=C TZ=UTC SKIP_INTERNET_TESTS=1 \
        "$@" </dev/null 2>&1 &
    pid=$!
    # The watchdog ends within a second of the command: nothing is left.
    (
        n=0
        while kill -0 "$pid"; do
            [ "$n" -lt "$limit" ] || { kill "$pid"; exit; }
            sleep 1
            n=$((n + 1))
        done
    ) >/dev/null 2>&1 &
    wait "$pid"
    rc=$?
    if [ "$rc" -eq 143 ]; then
        echo "busybox-testsuite: killed '$*' after $limit s"
        complete=0
    fi
    return "$rc"
}
main=""
for a in busybox $(busybox --list); do
    case " $hang_applets " in
        *" $a "*) ;;
        *) main="$main $a" ;;
    esac
done
run "$1" ./runtest $main
echo "busybox-testsuite: runtest ended with status $?"
for a in $hang_applets; do
    run "$hang_limit" ./runtest "$a"
    echo "busybox-testsuite: runtest $a ended with status $?"
done
[ "$complete" -eq 0 ] || echo "busybox-testsuite: done"
EOF
    } >"$tree/run.sh"
    chmod +x "$tree/run.sh"
}

# results.txt and the summary from a runtest log ($1); fails unless the
# log ends with the completion marker.
summarize() {
    local log=$1 p f s t
    tr -d '\r' <"$log" |
        sed -n -e 's/^\(PASS\|FAIL\|SKIPPED\|UNTESTED\): \(.*\)$/\1 \2/p' >"$out/results.txt"
    p=$(grep -c '^PASS ' "$out/results.txt" || true)
    f=$(grep -c '^FAIL ' "$out/results.txt" || true)
    s=$(grep -c -E '^(SKIPPED|UNTESTED) ' "$out/results.txt" || true)
    t=$((p + f + s))
    echo "busybox testsuite ($mode): $p passed, $f failed, $s skipped of $t"
    if ! tr -d '\r' <"$log" | grep -qx 'busybox-testsuite: done'; then
        echo "busybox-testsuite: the $mode run did not complete (see $log)" >&2
        return 1
    fi
}

start=$(date +%s)
if [ "$mode" = native ]; then
    limit=${BB_TIMEOUT:-600}
    tree=$out/work
    prepare "$tree" "$tree" "$busybox"
    timeout "$limit" "$tree/run.sh" $((limit - 30)) >"$out/runtest.log" 2>&1 || true
    summarize "$out/runtest.log"
else
    limit=${BB_TIMEOUT:-900}
    for f in "$tender" "$kernel" "$rootfs"; do
        if [ ! -e "$f" ]; then
            echo "busybox-testsuite: $f is missing (make tender kernel image)" >&2
            exit 1
        fi
    done
    prepare "$out/stage/bb" "$guest_dir" /bin/busybox
    # Room for the tests' temporary files (tar, cpio and unzip write
    # some), in 4 KiB blocks as on the host (mke2fs would choose 1 KiB
    # for this size, and du-l-works expects a 4 KiB directory).
    rm -f "$out/testsuite.ext4" "$out/root.ext4"
    mke2fs -q -t ext4 -b 4096 -E root_owner=0:0 -d "$out/stage" "$out/testsuite.ext4" 256M >/dev/null
    cp --sparse=always "$rootfs" "$out/root.ext4"
    # The console shell's input. runtest writes to a file on disk1, and
    # `tail -f` shows it on the console meanwhile: a pipe to tee would
    # keep the shell waiting for as long as any process a test left
    # behind holds the pipe open. ps shows such processes.
    log=$guest_dir/runtest.log
    guest_script=(
        "mount /dev/vdb /mnt || poweroff"
        ": >$log"
        "tail -f $log & tail=\$!"
        "$guest_dir/run.sh $((limit - 60)) </dev/null >$log 2>&1"
        "sleep 2; kill \$tail"
        "sleep 1; echo busybox-testsuite: left behind:; ps"
        "sync"
    )
    status=0
    printf '%s\n' "${guest_script[@]}" |
        timeout "$limit" "$tender" "${tender_flags[@]}" --mem=256 --block "$out/root.ext4" --block disk1="$out/testsuite.ext4" \
            "$kernel" -- quiet >"$out/console.log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        echo "busybox-testsuite: the guest ended with status $status (124: killed after $limit s)" >&2
    fi
    # The log on disk1 is complete when the guest shut down cleanly; the
    # console has what tail showed of it when it did not.
    debugfs -R "cat bb/runtest.log" "$out/testsuite.ext4" >"$out/runtest.log" 2>/dev/null || true
    if ! grep -qx 'busybox-testsuite: done' "$out/runtest.log"; then
        tr -d '\r' <"$out/console.log" >"$out/runtest.log"
    fi
    summarize "$out/runtest.log" || exit 1
    [ "$status" -eq 0 ] || exit 1
fi
echo "busybox-testsuite: $mode run took $(($(date +%s) - start)) s"

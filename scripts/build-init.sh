#!/usr/bin/env bash
# Build the test init (tests/init/init.c and hardening.c) and the 1 MiB
# helper program (tests/init/big.c) as static-pies against Debian's musl,
# and pack them into an initramfs.
#
#   scripts/build-init.sh OUT_DIR
#
# Outputs: OUT_DIR/init and OUT_DIR/big (the binaries), OUT_DIR/test.cpio
# (the initramfs: /init, /dev, /dev/console, /proc, /sys, /tmp, /root),
# OUT_DIR/spawn.cpio (the same and /big) and
# OUT_DIR/musl-static-pie.specs (the gcc specs used). Needs
# target/release/nabla-cpio (`make tender` builds it). Installs musl-tools
# when musl-gcc is missing. Does nothing when the outputs are newer than
# the sources, this script, scripts/musl-specs.sh and nabla-cpio.
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: scripts/build-init.sh OUT_DIR" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
out=$1
srcdir=$root/tests/init
srcs=("$srcdir/init.c" "$srcdir/hardening.c")
big_src=$srcdir/big.c
cpio_tool=$root/target/release/nabla-cpio
bin=$out/init
big=$out/big
image=$out/test.cpio
spawn_image=$out/spawn.cpio
specs=$out/musl-static-pie.specs

if [ ! -x "$cpio_tool" ]; then
    echo "build-init: $cpio_tool is missing (run 'make tender')" >&2
    exit 1
fi

up_to_date() {
    local o i
    for o in "$bin" "$big" "$image" "$spawn_image" "$specs"; do
        [ -e "$o" ] || return 1
        for i in "${srcs[@]}" "$srcdir/init.h" "$big_src" "$0" "$root/scripts/musl-specs.sh" "$cpio_tool"; do
            [ "$o" -nt "$i" ] || return 1
        done
    done
}
if up_to_date; then
    echo "build-init: $bin and $image are up to date"
    exit 0
fi

# The static-pie specs file (scripts/musl-specs.sh installs musl-tools
# when musl-gcc is missing).
"$root/scripts/musl-specs.sh" "$specs"

# Build one static-pie and check it is one: ELF type DYN, no PT_INTERP,
# no shared libraries needed, no text relocations.
build() {
    local out=$1
    shift
    gcc -specs "$specs" -static-pie -O2 -Wall -Wextra -Werror -fPIE -o "$out.tmp" "$@"
    fail() {
        echo "build-init: $out is not a static-pie: $1" >&2
        rm -f "$out.tmp"
        exit 1
    }
    readelf -h "$out.tmp" | grep -q 'Type:[[:space:]]*DYN' || fail "ELF type is not DYN"
    if readelf -l "$out.tmp" | grep -q INTERP; then fail "it has a PT_INTERP program header"; fi
    if readelf -d "$out.tmp" | grep -q '(NEEDED)'; then fail "it needs shared libraries"; fi
    if readelf -d "$out.tmp" | grep -q 'TEXTREL'; then fail "it has text relocations"; fi
    mv "$out.tmp" "$out"
}
build "$bin" "${srcs[@]}"
build "$big" "$big_src"

# Uncompressed: the kernel unpacks a plain cpio without running inflate
# (nabla-cpio writes only stored gzip blocks anyway). test.cpio is what
# make run, the tests and the boot benchmark boot; spawn.cpio adds /big,
# for the spawn-many test only (a megabyte more to unpack at every boot).
pack() {
    local image=$1
    shift
    "$cpio_tool" "$image.tmp" \
        "file:/init:$bin:0755" \
        "$@" \
        dir:/dev:0755 \
        char:/dev/console:0600:5:1 \
        dir:/proc:0755 \
        dir:/sys:0755 \
        dir:/tmp:0755 \
        dir:/root:0700
    mv "$image.tmp" "$image"
}
pack "$image"
pack "$spawn_image" "file:/big:$big:0755"
echo "build-init: built $bin and $big (static-pie, musl), $image and $spawn_image"

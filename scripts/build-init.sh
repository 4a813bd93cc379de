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
# the sources, this script and nabla-cpio.
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
        for i in "${srcs[@]}" "$srcdir/init.h" "$big_src" "$0" "$cpio_tool"; do
            [ "$o" -nt "$i" ] || return 1
        done
    done
}
if up_to_date; then
    echo "build-init: $bin and $image are up to date"
    exit 0
fi

if ! command -v musl-gcc >/dev/null; then
    echo "build-init: installing musl-tools"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q musl-tools
fi

# musl-gcc's own specs file: named in the wrapper script, else one of the
# usual places.
orig=$(sed -n 's/.*-specs "\{0,1\}\([^" ]*\.specs\).*/\1/p' "$(command -v musl-gcc)" | head -n 1)
for f in "$orig" /usr/lib/x86_64-linux-musl/musl-gcc.specs /usr/lib/musl/lib/musl-gcc.specs; do
    if [ -n "$f" ] && [ -f "$f" ]; then
        orig=$f
        break
    fi
done
if [ -z "$orig" ] || [ ! -f "$orig" ]; then
    echo "build-init: cannot find musl-gcc's specs file" >&2
    exit 1
fi

# musl-gcc ignores -static-pie: its specs always start with Scrt1.o (which
# does not relocate itself) and link with a dynamic loader. Ours keeps its
# include and library paths and changes two things: rcrt1.o (musl's
# self-relocating start file) instead of Scrt1.o, and a link line for a
# static PIE with no PT_INTERP and no text relocations.
mkdir -p "$out"
awk '
  sect == "startfile" { gsub(/%\{!shared: */, ""); gsub(/Scrt1\.o\}/, "rcrt1.o"); print; sect = ""; next }
  sect == "link" { print "-nostdlib -static -pie --no-dynamic-linker -z text -z noexecstack %{rdynamic:-export-dynamic}"; sect = ""; next }
  /^\*startfile:$/ { sect = "startfile" }
  /^\*link:$/ { sect = "link" }
  { print }' "$orig" >"$specs.tmp"
rcrt1=$(sed -n '/^\*startfile:$/{n;p;}' "$specs.tmp" | tr ' ' '\n' | grep 'rcrt1\.o$' || true)
if [ -z "$rcrt1" ] || [ ! -f "$rcrt1" ] || ! grep -q -- '--no-dynamic-linker' "$specs.tmp"; then
    echo "build-init: could not derive a static-pie specs file from $orig (rcrt1.o: '${rcrt1}')" >&2
    exit 1
fi
mv "$specs.tmp" "$specs"

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

#!/usr/bin/env bash
# Build nabla-init, the container guest's first process
# (userland/init/nabla-init.c), as a static-pie against Debian's musl.
#
#   scripts/build-nabla-init.sh OUT
#
# Output: OUT (the binary) and target/nabla-init-build/musl-static-pie.specs
# (the gcc specs used, from scripts/musl-specs.sh, which installs
# musl-tools when musl-gcc is missing: Debian's musl is all it needs, not
# the build/musl loader of `make image`, so it works from a fresh clone).
# Checks that OUT is a true static-pie (ELF type DYN, no PT_INTERP, no
# shared libraries, no text relocations): the nommu guest loads it with
# binfmt_elf_fdpic at any address. Does nothing when OUT is newer than
# the sources, this script and scripts/musl-specs.sh.
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: scripts/build-nabla-init.sh OUT" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
out=$1
srcdir=$root/userland/init
srcs=("$srcdir/nabla-init.c")
specs=$root/target/nabla-init-build/musl-static-pie.specs

up_to_date() {
    local o i
    for o in "$out" "$specs"; do
        [ -e "$o" ] || return 1
        for i in "$srcdir"/*.c "$srcdir"/*.h "$0" "$root/scripts/musl-specs.sh"; do
            [ -e "$i" ] || continue
            [ "$o" -nt "$i" ] || return 1
        done
    done
}
if up_to_date; then
    echo "build-nabla-init: $out is up to date"
    exit 0
fi

mkdir -p "$(dirname "$out")" "$(dirname "$specs")"
"$root/scripts/musl-specs.sh" "$specs"
gcc -specs "$specs" -static-pie -Os -Wall -Wextra -Werror -fPIE -o "$out.tmp" "${srcs[@]}"
fail() {
    echo "build-nabla-init: $out is not a static-pie: $1" >&2
    rm -f "$out.tmp"
    exit 1
}
readelf -h "$out.tmp" | grep -q 'Type:[[:space:]]*DYN' || fail "ELF type is not DYN"
if readelf -l "$out.tmp" | grep -q INTERP; then fail "it has a PT_INTERP program header"; fi
if readelf -d "$out.tmp" | grep -q '(NEEDED)'; then fail "it needs shared libraries"; fi
if readelf -d "$out.tmp" | grep -q 'TEXTREL'; then fail "it has text relocations"; fi
strip "$out.tmp"
mv "$out.tmp" "$out"
echo "build-nabla-init: built $out (static-pie, musl, $(stat -c %s "$out") bytes)"

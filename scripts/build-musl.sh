#!/usr/bin/env bash
# Build musl's dynamic loader for the nommu Linux guest: Debian bookworm's
# musl 1.2.3 source package, compiled with musl's own no-MMU loading
# support switched on (DL_NOMMU_SUPPORT), so that dynamically linked musl
# programs can start in the guest.
#
#   scripts/build-musl.sh OUT_DIR
#
# Output: OUT_DIR/ld-musl-x86_64.so.1, musl's libc.so, which is also its
# dynamic loader (the PT_INTERP of a program musl-gcc links; the image
# holds it as /lib/ld-musl-x86_64.so.1 with /lib/libc.so linking to it).
#
# Why DL_NOMMU_SUPPORT: musl's loader reserves a library's address range
# with one mapping and then maps each segment over it with MAP_FIXED. A
# nommu kernel refuses MAP_FIXED (EINVAL); with DL_NOMMU_SUPPORT=1 the
# loader reserves the range with one anonymous read-write-execute mapping
# and, after the first EINVAL, reads the segments into it instead
# (mmap_fixed in ldso/dynlink.c). Upstream turns it on only for SuperH
# (arch/sh/reloc.h); src/internal/dynlink.h defines it to 0 only
# `#ifndef DL_NOMMU_SUPPORT`, after including the arch's reloc.h, and
# x86_64's reloc.h does not define it, so -DDL_NOMMU_SUPPORT=1 in CFLAGS
# is enough. The script checks both in the source and, after the build,
# that the preprocessed loader takes the fallback.
#
# As Debian builds it: musl-fts (debian/musl-fts) is compiled into libc,
# so the loader has every symbol that Debian's musl-dev libc.so (what
# musl-gcc links against) has; the script checks that. Not as Debian
# builds it: no --enable-debug (no -g: smaller, and no build paths in the
# file), musl's default optimisation (-Os, with -O3 for its internal,
# malloc and string code), syslibdir /lib.
#
# The source comes once through `apt-get source` with an apt source list
# and state directory of our own (build/musl/apt: the machine's apt
# configuration is untouched) and stays extracted in
# build/musl/src/musl-1.2.3. The build tree is OUT_DIR/obj (musl's
# out-of-tree build), its log OUT_DIR/build.log. The same source and
# script give the same bytes. Installs dpkg-dev and musl-tools when
# missing. Does nothing when the output is newer than this script and the
# extracted source.
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: scripts/build-musl.sh OUT_DIR" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
apt_dir=$root/build/musl/apt
src_parent=$root/build/musl/src
src=$src_parent/musl-1.2.3
stamp=$src/.nabla-extracted
obj=$out/obj
ldso=$out/ld-musl-x86_64.so.1
log=$out/build.log
cflags="-DDL_NOMMU_SUPPORT=1"

up_to_date() {
    local i
    [ -e "$ldso" ] || return 1
    for i in "$0" "$stamp"; do
        [ -e "$i" ] && [ "$ldso" -nt "$i" ] || return 1
    done
}
if up_to_date; then
    echo "build-musl: $ldso is up to date"
    exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
apt_updated=""
apt_install() {
    echo "build-musl: installing $*"
    if [ -z "$apt_updated" ]; then
        $sudo apt-get update -q
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$@"
}
command -v dpkg-source >/dev/null || apt_install dpkg-dev
# Debian's musl-dev: its libc.so is what musl-gcc links programs against,
# and the symbol check below compares with it.
debian_libc=/usr/lib/x86_64-linux-musl/libc.so
command -v musl-gcc >/dev/null && [ -f "$debian_libc" ] || apt_install musl-tools

# The source, once: the newest 1.2.3 revision in bookworm main.
if [ ! -f "$stamp" ]; then
    echo "build-musl: fetching Debian's musl 1.2.3 source package"
    rm -rf "$src"
    version=$("$root/scripts/debian-source.sh" musl '^1\.2\.3-' "$apt_dir" "$src_parent")
    if [ ! -f "$src/configure" ] || [ ! -f "$src/ldso/dynlink.c" ]; then
        echo "build-musl: apt-get source did not give $src" >&2
        exit 1
    fi
    # Debian's copy_fts step (debian/rules): fts in libc, <fts.h> installed.
    mkdir -p "$src/src/fts"
    cp "$src/debian/musl-fts/fts.c" "$src/debian/musl-fts/config.h" "$src/src/fts/"
    cp "$src/debian/musl-fts/fts.h" "$src/include/"
    echo "$version" >"$src/.nabla-version"
    touch "$stamp"
fi
version=$(cat "$src/.nabla-version")

# The switch must exist and be ours to set (see the header).
if ! grep -q '^#ifndef DL_NOMMU_SUPPORT$' "$src/src/internal/dynlink.h" ||
    grep -q 'DL_NOMMU_SUPPORT' "$src/arch/x86_64/reloc.h" ||
    ! grep -q 'if (!DL_NOMMU_SUPPORT || q != MAP_FAILED || errno != EINVAL)' "$src/ldso/dynlink.c"; then
    echo "build-musl: $src does not have the DL_NOMMU_SUPPORT switch this script expects" >&2
    exit 1
fi

echo "build-musl: building musl $version (CFLAGS=$cflags) in $obj"
rm -rf "$obj"
mkdir -p "$obj"
if ! (cd "$obj" && "$src/configure" --prefix=/usr --syslibdir=/lib --disable-static \
        CC=gcc CFLAGS="$cflags" &&
        make -j"$(nproc)" lib/libc.so) >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "build-musl: the build failed (log: $log)" >&2
    exit 1
fi
built=$obj/lib/libc.so

# Check: the loader was compiled with the fallback (the preprocessed
# mmap_fixed reads `!1 ||`), it is a shared object with an entry point
# (the loader starts at _dlstart), and it defines every symbol Debian's
# libc.so does.
make_cflags=$(sed -n 's/^CFLAGS_AUTO = //p' "$obj/config.mak")
# (The whole output is read: grep -q would leave gcc writing to a closed
# pipe, which pipefail reports.)
if ! gcc -E -std=c99 -ffreestanding -nostdinc -D_XOPEN_SOURCE=700 \
        -I"$src/arch/x86_64" -I"$src/arch/generic" -I"$obj/obj/src/internal" -I"$src/src/include" \
        -I"$src/src/internal" -I"$obj/obj/include" -I"$src/include" $make_cflags $cflags \
        "$src/ldso/dynlink.c" | grep -c 'if (!1 || q != ((void \*) -1)' >/dev/null; then
    echo "build-musl: ldso/dynlink.c does not preprocess with DL_NOMMU_SUPPORT=1" >&2
    exit 1
fi
if ! readelf -h "$built" | grep -c 'Type: *DYN' >/dev/null; then
    echo "build-musl: $built is not a shared object" >&2
    exit 1
fi
symbols() { nm -D --defined-only "$1" | awk '{print $NF}' | LC_ALL=C sort -u; }
missing=$(LC_ALL=C comm -23 <(symbols "$debian_libc") <(symbols "$built"))
if [ -n "$missing" ]; then
    echo "build-musl: $built lacks symbols Debian's $debian_libc has:" >&2
    echo "$missing" >&2
    exit 1
fi
# Stripped as Debian's package is (dh_strip): the dynamic symbols stay.
strip --strip-unneeded -o "$ldso.tmp" "$built"
chmod 0755 "$ldso.tmp"
mv "$ldso.tmp" "$ldso"
echo "build-musl: built $ldso ($(stat -c %s "$ldso") bytes, sha256 $(sha256sum "$ldso" | cut -c1-16)...)"

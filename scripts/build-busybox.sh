#!/usr/bin/env bash
# Build busybox for the nommu Linux guest: Debian bookworm's busybox 1.35.0
# source package, configured for no MMU (vfork only, hush as /bin/sh) and
# linked as a true static-pie against Debian's musl.
#
#   scripts/build-busybox.sh OUT_DIR
#
# Output: OUT_DIR/busybox, the same bytes for the same source and
# configuration (the banner carries the Debian version, not the build
# date). Also in OUT_DIR: musl-static-pie.specs (the gcc specs used) and
# linux-headers (links to the kernel's uapi headers). The source comes
# once through `apt-get source` with an apt source list and state
# directory of our own (build/apt-src), so the machine's apt configuration
# is untouched; it stays extracted in build/apt-src/src/busybox-1.35.0
# (Debian's patches applied, then ours: userland/busybox-patches/). The
# build tree is OUT_DIR/obj (busybox's O=, so rebuilds are incremental),
# its log OUT_DIR/build.log. The
# configuration is `make defconfig` plus userland/busybox.config, checked
# line by line. Installs dpkg-dev, musl-tools and linux-libc-dev when
# missing. Does nothing when OUT_DIR/busybox is newer than this script,
# scripts/musl-specs.sh, userland/busybox.config and the extracted source.
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: scripts/build-busybox.sh OUT_DIR" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
fragment=$root/userland/busybox.config
patches_dir=$root/userland/busybox-patches
apt_dir=$root/build/apt-src
src=$apt_dir/src/busybox-1.35.0
stamp=$src/.nabla-extracted
obj=$out/obj
bin=$out/busybox
specs=$out/musl-static-pie.specs
headers=$out/linux-headers
log=$out/build.log

# CC and LD go to make as words: no blanks in the paths.
case "$root$out" in
    *[[:space:]]*)
        echo "build-busybox: the paths ($root, $out) must not contain blanks" >&2
        exit 1
        ;;
esac

# Our patches to Debian's source (userland/busybox-patches/*.patch, in
# order), applied once after extraction; the stamp holds their hash, so a
# changed patch extracts the source afresh.
shopt -s nullglob
patches=("$patches_dir"/*.patch)
shopt -u nullglob
patches_hash=$(cat "${patches[@]}" /dev/null | sha256sum | cut -d' ' -f1)

up_to_date() {
    local i
    [ -e "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$patches_hash" ] || return 1
    for i in "$0" "$root/scripts/musl-specs.sh" "$fragment" "$stamp"; do
        [ -e "$i" ] && [ "$bin" -nt "$i" ] || return 1
    done
}
if up_to_date; then
    echo "build-busybox: $bin is up to date"
    exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
apt_updated=""
apt_install() {
    echo "build-busybox: installing $*"
    if [ -z "$apt_updated" ]; then
        $sudo apt-get update -q
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$@"
}
# dpkg-source (dpkg-dev) unpacks what apt-get source fetches; the kernel's
# uapi headers (linux-libc-dev) are what busybox includes as <linux/*.h>.
command -v dpkg-source >/dev/null || apt_install dpkg-dev
[ -f /usr/include/linux/kd.h ] || apt_install linux-libc-dev

# The source, once: the newest 1.35.0 revision in bookworm main.
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$patches_hash" ]; then
    echo "build-busybox: fetching Debian's busybox 1.35.0 source package"
    # Objects built from the old source would outlive a removed patch.
    rm -rf "$src" "$obj"
    version=$("$root/scripts/debian-source.sh" busybox '^1:1\.35\.0-' "$apt_dir" "$apt_dir/src")
    if [ ! -f "$src/Makefile" ]; then
        echo "build-busybox: apt-get source did not give $src" >&2
        exit 1
    fi
    for p in "${patches[@]}"; do
        if ! patch -d "$src" -p1 --forward --quiet <"$p"; then
            echo "build-busybox: ${p#"$root"/} does not apply to busybox $version" >&2
            exit 1
        fi
    done
    echo "$version" >"$src/.nabla-version"
    echo "$patches_hash" >"$stamp"
fi
version=$(cat "$src/.nabla-version")

# The static-pie specs file (shared with scripts/build-init.sh; installs
# musl-tools when musl-gcc is missing).
"$root/scripts/musl-specs.sh" "$specs"

# musl's headers have no <linux/*.h>, <asm/*.h>, <mtd/*.h>: a directory
# of links to the kernel's uapi headers, searched after musl's own (the
# usual way to build against musl; glibc's headers stay out).
multiarch=$(gcc -print-multiarch)
rm -rf "$headers"
mkdir -p "$headers"
for d in linux asm-generic mtd misc rdma sound video xen; do
    [ ! -d "/usr/include/$d" ] || ln -s "/usr/include/$d" "$headers/$d"
done
ln -s "/usr/include/$multiarch/asm" "$headers/asm"

# The compiler is gcc with our specs (musl's include and library paths,
# rcrt1.o, a static-pie link line). Busybox's partial links (ld -r of each
# directory's built-in.o) use LD, which must not get that link line
# (-pie and -r conflict): plain gcc -nostdlib, as busybox's default LD is.
# The version tag replaces the build date in the banner, so that the same
# source and config give the same binary.
mk=(make -C "$src" O="$obj" -j2
    CC="gcc -specs $specs -isystem $headers"
    LD="gcc -nostdlib"
    BB_EXTRA_VERSION="Debian $version, nabla"
    KCONFIG_NOTIMESTAMP=1)

# Configuration: defconfig, then our lines, then oldconfig to settle what
# depends on them; every line of the fragment must hold afterwards (a
# "not set" symbol may also be hidden by its dependencies).
mkdir -p "$obj"
echo "build-busybox: configuring (defconfig + ${fragment#"$root"/})"
"${mk[@]}" defconfig >"$log" 2>&1 || { tail -n 20 "$log" >&2; exit 1; }
fragment_lines() {
    sed -n -e 's/^\(CONFIG_[A-Za-z0-9_]*=.*\)$/\1/p' \
           -e 's/^\(# CONFIG_[A-Za-z0-9_]* is not set\)$/\1/p' "$fragment"
}
symbol_of() {
    local l=$1
    l=${l#\# }
    l=${l%%=*}
    echo "${l%% *}"
}
cp "$obj/.config" "$obj/.config.frag"
while IFS= read -r line; do
    sym=$(symbol_of "$line")
    sed -i -e "/^$sym=/d" -e "/^# $sym is not set\$/d" "$obj/.config.frag"
    echo "$line" >>"$obj/.config.frag"
done < <(fragment_lines)
mv "$obj/.config.frag" "$obj/.config"
(yes "" || true) | "${mk[@]}" oldconfig >>"$log" 2>&1 || { tail -n 20 "$log" >&2; exit 1; }
bad=0
while IFS= read -r line; do
    sym=$(symbol_of "$line")
    if grep -qxF -- "$line" "$obj/.config"; then
        continue
    fi
    case "$line" in
        "# "*) grep -q "^$sym=" "$obj/.config" || continue ;;
    esac
    echo "build-busybox: $fragment asks for '$line', .config has '$(grep -E "^$sym=|^# $sym is not set" "$obj/.config" || echo nothing)'" >&2
    bad=1
done < <(fragment_lines)
[ "$bad" -eq 0 ] || exit 1

echo "build-busybox: building busybox $version (log: $log)"
start=$(date +%s)
if ! "${mk[@]}" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "build-busybox: the build failed (full log: $log)" >&2
    exit 1
fi

# A static-pie, as scripts/build-init.sh checks its own: ELF type DYN, no
# PT_INTERP, no shared libraries needed, no text relocations.
fail() {
    echo "build-busybox: $obj/busybox is not a static-pie: $1" >&2
    exit 1
}
readelf -h "$obj/busybox" | grep -q 'Type:[[:space:]]*DYN' || fail "ELF type is not DYN"
if readelf -l "$obj/busybox" | grep -q INTERP; then fail "it has a PT_INTERP program header"; fi
if readelf -d "$obj/busybox" | grep -q '(NEEDED)'; then fail "it needs shared libraries"; fi
if readelf -d "$obj/busybox" | grep -q 'TEXTREL'; then fail "it has text relocations"; fi

# It runs here too (the host kernel loads a static-pie the same way), and
# hush, built for no MMU, still runs a command line.
check() {
    local want=$1 got
    shift
    got=$("$obj/busybox" "$@" 2>&1) || true
    if [ "$got" != "$want" ]; then
        echo "build-busybox: 'busybox $*' printed '$got', not '$want'" >&2
        exit 1
    fi
}
check ok echo ok
# shellcheck disable=SC2016 # the $((...)) is for hush
check 3 sh -c 'echo $((1+2))'

cp "$obj/busybox" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "build-busybox: built $bin ($(stat -c %s "$bin") bytes, static-pie, musl) in $(($(date +%s) - start)) s"

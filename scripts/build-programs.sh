#!/usr/bin/env bash
# Build the image of real Debian programs for tests/tests/linux_programs.rs:
# Debian 12's own binary packages (glibc, dynamically linked, unmodified),
# unpacked into a tree that the test runs with `chroot` both natively on
# the host and in the guest (the image attached as a second disk), and
# compares.
#
#   scripts/build-programs.sh OUT_IMAGE
#
# e.g. scripts/build-programs.sh build/programs.ext4. Steps:
#
# 1. Resolve: apt's own resolver, asked to install PROGRAMS (below) on a
#    system with nothing installed (`apt-get -s` with an empty dpkg status,
#    no recommends), gives every package they need with its version,
#    libc6 and every library included.
# 2. Fetch: `apt-get download` of each PACKAGE=VERSION missing from the
#    cache build/programs/debs (a .deb already there is not fetched again).
# 3. Unpack: `dpkg -x` of each into build/programs/root (made afresh; no
#    maintainer script runs), less /usr/share/locale, man and info (the
#    programs run in the C locale), then what those scripts or an installer
#    would have made and the programs need: /etc/passwd and /etc/group
#    (root, nobody), the empty mount points /dev, /proc, /sys, /run (the
#    test mounts devtmpfs or the host's /dev, proc, and a tmpfs on /tmp),
#    /tmp 1777, /etc/ld.so.cache (the tree's own ldconfig) and the byte
#    code of the Python standard library (the tree's own python3 and
#    compileall: the image is mounted read-only, where Python cannot write
#    it, and compiling every import at each start is slow in the guest).
# 4. Check: every ELF file of the tree finds each of its NEEDED libraries
#    inside the tree (the tree's own `ld.so --list`, chrooted), and every
#    program of CHECKS runs natively under chroot and prints what it
#    should.
# 5. Image: OUT_IMAGE, ext4 without a journal (the tests attach it
#    read-only), sized to the tree, made with `mke2fs -d` (no mounting).
#
# Needs chroot and mount as root (CI runs as root; otherwise `unshare -r`,
# a user namespace, stands in) and Debian's mirrors on the first run (apt-get
# update runs first when apt cannot resolve the list). Owners are copied
# from the tree: root when run as root.
#
# Cached: does nothing, and asks apt nothing, when OUT_IMAGE, the tree and
# the stamp OUT_IMAGE.stamp exist and the stamp holds this script's hash
# (the package list is part of the script). A changed script rebuilds the
# tree and the image, downloading only the .debs not yet in the cache;
# versions are the mirror's candidates at the time of that rebuild.
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: scripts/build-programs.sh OUT_IMAGE" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
image=$1
work=$root/build/programs
debs=$work/debs
tree=$work/root
stamp=$image.stamp
fs_uuid=3c0f3a52-4d7e-4b0e-9a55-6e61626c6131
hash_seed=0d0a6e61-626c-612d-7072-6f6772616d73

# What the tests run, by package (apt adds the libraries and the rest).
PROGRAMS=(
    coreutils findutils        # ls cat sort uniq wc sha256sum base64 od head tr cut; find
    file libmagic-mgc          # file, libmagic and its compiled magic database
    grep sed mawk diffutils    # text tools
    gzip bzip2 xz-utils tar zstd
    python3.11 python3-minimal # the interpreter, its standard library, /usr/bin/python3
    libpython3.11              # the same interpreter as a shared library (see below)
    sqlite3
    bash dash perl-base
    libc6 libc-bin             # ld.so and libc (pulled in anyway), ldconfig
)
# Run natively after unpacking: "COMMAND|TEXT its output must contain";
# COMMAND's words are split on spaces, "\ " keeps a space in a word.
CHECKS=(
    "/bin/ls --version|GNU coreutils"
    "/usr/bin/find --version|GNU findutils"
    "/usr/bin/file --version|magic file from /etc/magic:/usr/share/misc/magic"
    "/bin/grep --version|GNU grep"
    "/bin/sed --version|GNU sed"
    "/usr/bin/mawk -W version|mawk 1.3.4"
    "/usr/bin/diff --version|GNU diffutils"
    "/bin/gzip --version|gzip 1."
    "/bin/bzip2 --help|a block-sorting file compressor"
    "/usr/bin/xz --version|liblzma"
    "/bin/tar --version|GNU tar"
    "/usr/bin/zstd --version|Zstandard CLI"
    "/usr/bin/python3 -c import\ sqlite3,ssl,json,hashlib,ctypes,lzma,bz2,zlib,readline;print(sqlite3.sqlite_version)|3."
    "/usr/local/bin/python3 -c import\ sys,json;print(sys.prefix,sys.version_info[:2])|/usr (3, 11)"
    "/usr/bin/sqlite3 :memory: select\ 6*7;|42"
    "/bin/bash -c echo\ \$BASH_VERSION|5.2"
    "/bin/dash -c echo\ dash|dash"
    "/usr/bin/perl -e print\ 6*7|42"
)

# Debian's /usr/bin/python3.11 is not position-independent (ET_EXEC),
# which no-MMU Linux cannot run: tests/programs/python3.c, CPython's own
# one-line main, built as a PIE against Debian's libpython3.11.so.1.0,
# becomes /usr/local/bin/python3 (the interpreter and its library stay
# Debian's).
launcher=$root/tests/programs/python3.c
inputs_hash() {
    cat "$0" "$launcher" | sha256sum | cut -d' ' -f1
}
up_to_date() {
    [ -f "$image" ] && [ -f "$stamp" ] && [ -x "$tree/usr/local/bin/python3" ] || return 1
    [ "$(cat "$stamp")" = "$(inputs_hash)" ]
}
if up_to_date; then
    echo "build-programs: $image is up to date"
    exit 0
fi

PATH=$PATH:/usr/sbin:/sbin
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
# Run a command chrooted in the tree, in a mount namespace of its own with
# the host's /dev and a tmpfs on /tmp (perl -e opens /dev/null), as the
# test does.
ns=(unshare -m --propagation private)
[ "$(id -u)" -eq 0 ] || ns=(unshare -r -m --propagation private)
in_tree() {
    # shellcheck disable=SC2016 # expanded by the inner shell
    "${ns[@]}" /bin/sh -c 'mount --rbind /dev "$0/dev" && mount -t tmpfs tmpfs "$0/tmp" && exec chroot "$0" "$@"' \
        "$tree" "$@"
}
for tool in apt-get dpkg mke2fs e2fsck chroot unshare; do
    if ! command -v "$tool" >/dev/null; then
        echo "build-programs: $tool is missing (Debian's apt, dpkg, e2fsprogs, coreutils)" >&2
        exit 1
    fi
done

# 1. Resolve, with fresh package lists if apt cannot.
resolve() {
    apt-get -s -q -o Dir::State::status=/dev/null -o APT::Install-Recommends=false \
        install "${PROGRAMS[@]}" 2>&1 | awk '$1 == "Inst" { gsub(/[()]/, "", $3); print $2 "=" $3 }'
}
pkgs=$(resolve)
if [ -z "$pkgs" ]; then
    echo "build-programs: updating apt's package lists"
    $sudo apt-get update -q
    pkgs=$(resolve)
fi
if [ -z "$pkgs" ]; then
    echo "build-programs: apt cannot resolve ${PROGRAMS[*]}:" >&2
    apt-get -s -o Dir::State::status=/dev/null -o APT::Install-Recommends=false install "${PROGRAMS[@]}" >&2 || true
    exit 1
fi
mapfile -t pkgs < <(LC_ALL=C sort <<<"$pkgs")

# 2. Fetch what the cache lacks. A .deb is named NAME_VERSION_ARCH.deb,
# the version's epoch colon written %3a.
deb_of() {
    local name=${1%%=*} ver=${1#*=} f
    for f in "$debs/${name}_${ver//:/%3a}_"*.deb; do
        [ -s "$f" ] && echo "$f" && return 0
    done
    return 1
}
mkdir -p "$debs"
missing=()
for p in "${pkgs[@]}"; do
    deb_of "$p" >/dev/null || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "build-programs: downloading ${#missing[@]} of ${#pkgs[@]} packages"
    # As root, apt warns that its _apt user cannot write here; the
    # download itself is fine.
    (cd "$debs" && apt-get download -qq "${missing[@]}" 2>&1 | grep -v "unsandboxed as root\|No sandbox user" || true)
fi
files=()
for p in "${pkgs[@]}"; do
    if ! f=$(deb_of "$p"); then
        echo "build-programs: $p was not downloaded into $debs" >&2
        exit 1
    fi
    files+=("$f")
done

# 3. Unpack. The stamp goes first: a run that fails from here on must not
# leave an old image passing for this tree.
rm -f "$stamp"
rm -rf "$tree"
mkdir -p "$tree"
for f in "${files[@]}"; do
    dpkg -x "$f" "$tree"
done
# Translations, manual and info pages: unused here (the C locale; Debian's
# minimal images leave them out the same way, with dpkg --path-exclude).
rm -rf "$tree/usr/share/locale" "$tree/usr/share/man" "$tree/usr/share/info"
for d in dev proc sys run etc root; do
    mkdir -p "$tree/$d"
done
mkdir -p "$tree/tmp"
chmod 1777 "$tree/tmp"
chmod 0700 "$tree/root"
printf '%s\n' 'root:x:0:0:root:/root:/bin/bash' 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' \
    >"$tree/etc/passwd"
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$tree/etc/group"
chmod 0644 "$tree/etc/passwd" "$tree/etc/group"
in_tree /sbin/ldconfig
mkdir -p "$tree/usr/local/bin"
gcc -O2 -Wall -Wextra -Werror -fPIE -pie -o "$tree/usr/local/bin/python3" "$launcher" \
    "$tree/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"
in_tree /usr/bin/python3 -E -m compileall -q /usr/lib/python3.11 >/dev/null

# 4. Check: NEEDED libraries inside the tree, then the programs.
elfs=()
while IFS= read -r -d '' f; do
    magic=""
    LC_ALL=C IFS= read -r -n 4 magic <"$f" || true
    [ "$magic" = $'\x7fELF' ] && elfs+=("${f#"$tree"}")
done < <(find "$tree" -type f \( -perm -u+x -o -name '*.so' -o -name '*.so.*' \) -print0)
bad=0
for f in "${elfs[@]}"; do
    out=$(in_tree /lib64/ld-linux-x86-64.so.2 --list "$f" 2>&1) || true
    if grep -q 'not found' <<<"$out"; then
        echo "build-programs: $f: libraries missing from the tree:" >&2
        grep 'not found' <<<"$out" >&2
        bad=1
    fi
done
if [ "$bad" -ne 0 ]; then
    echo "build-programs: add the packages that ship those libraries to PROGRAMS" >&2
    exit 1
fi
for c in "${CHECKS[@]}"; do
    cmd=${c%%|*}
    want=${c#*|}
    # shellcheck disable=SC2162 # backslashes escape spaces here
    read -a argv <<<"$cmd"
    if ! out=$(in_tree "${argv[@]}" 2>&1 </dev/null) || [ "${out#*"$want"}" = "$out" ]; then
        echo "build-programs: \`$cmd\` in the tree failed or did not print \"$want\":" >&2
        echo "$out" >&2
        exit 1
    fi
done
echo "build-programs: ${#pkgs[@]} packages; ${#elfs[@]} ELF files resolve inside the tree; ${#CHECKS[@]} programs run"

# 5. The image: the tree's size plus a quarter and 16 MiB, inodes for
# every file plus a quarter.
kib=$(du -sk "$tree" | cut -f1)
nfiles=$(find "$tree" | wc -l)
size_mib=$((kib * 5 / 4 / 1024 + 16))
inodes=$((nfiles * 5 / 4 + 1024))
mkdir -p "$(dirname "$image")"
rm -f "$image.tmp" "$stamp"
truncate -s "${size_mib}M" "$image.tmp"
mke2fs -q -F -t ext4 -O ^has_journal -b 4096 -I 256 -N "$inodes" -L nabla-programs -U "$fs_uuid" \
    -E "root_owner=0:0,hash_seed=$hash_seed,no_copy_xattrs,nodiscard,lazy_itable_init=0" \
    -d "$tree" "$image.tmp"
e2fsck -fn "$image.tmp" >"$image.fsck" 2>&1 || {
    cat "$image.fsck" >&2
    echo "build-programs: e2fsck -fn found problems in $image.tmp" >&2
    exit 1
}
rm -f "$image.fsck"
mv "$image.tmp" "$image"
inputs_hash >"$stamp"
echo "build-programs: built $image (${size_mib} MiB, $nfiles files, a tree of $((kib / 1024)) MiB)"

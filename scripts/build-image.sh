#!/usr/bin/env bash
# Build the guest's root file system: an ext4 image with busybox (hush as
# /bin/sh, busybox init as /sbin/init), musl's dynamic loader and the
# skeleton in userland/rootfs,
# made with `mke2fs -d` from a staging directory: no root privileges, no
# mounting.
#
#   scripts/build-image.sh BUSYBOX MUSL_LDSO OUT_IMAGE
#
# e.g. scripts/build-image.sh build/busybox/busybox
# build/musl/ld-musl-x86_64.so.1 build/rootfs.ext4 (MUSL_LDSO from
# scripts/build-musl.sh).
# OUT_IMAGE is a 128 MiB sparse file with a journal; the staging directory
# OUT_IMAGE.staging is kept for inspection. Contents: /bin/busybox and a
# symbolic link for each applet where `busybox --list-full` puts it;
# MUSL_LDSO as /lib/ld-musl-x86_64.so.1 (the PT_INTERP of musl's dynamic
# programs) and /lib/libc.so, a symbolic link to it (musl's libc.so is its
# loader: a program's DT_NEEDED libc.so resolves to the loader itself);
# userland/rootfs copied as it is (inittab, rcS, the console session,
# profile, motd, passwd, group, hostname, hosts, udhcpc's script: the
# comments in /etc/inittab say how boot and power-off work; passwd, group
# and motd have no comment syntax of their own); /etc/resolv.conf, a
# symbolic link to ../run/resolv.conf (rcS and udhcpc's script write it
# there: see /etc/init.d/rcS); the empty directories /dev (the
# kernel mounts devtmpfs there), /proc, /sys, /tmp (1777), /run,
# /root (0700), /mnt, /var, /home. Every file is owned by root.
#
# Reproducible: the same inputs give the same image, byte for byte. The
# UUID and the directory hash seed are fixed; every inode's times are
# SOURCE_DATE_EPOCH (default 2024-01-01 00:00:00 UTC), and so are the
# superblock's (E2FSPROGS_FAKE_TIME, which e2fsprogs 1.47.0 honours in
# mke2fs and debugfs; it does not know SOURCE_DATE_EPOCH); host xattrs are
# not copied. mke2fs -d copies each file's ctime from the staging
# directory (the time it was written, which touch cannot set), and its
# owner (root_owner= only covers /): a debugfs pass sets uid, gid and
# the four times (a, m, c, cr) of every inode. A changed SOURCE_DATE_EPOCH
# alone does not make the image out of date. The layout options that would otherwise come
# from the host's /etc/mke2fs.conf or kernel (block and inode size, inode
# ratio, lazy init) are given; the ext4 feature list is the host's (Debian
# 12: no orphan_file, no metadata_csum_seed), so another e2fsprogs
# version or configuration can give other bytes.
#
# Installs e2fsprogs when missing. Does nothing when OUT_IMAGE is newer
# than this script, BUSYBOX, MUSL_LDSO and everything under userland/.
set -euo pipefail
if [ $# -ne 3 ]; then
    echo "usage: scripts/build-image.sh BUSYBOX MUSL_LDSO OUT_IMAGE" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
for f in "$1" "$2"; do
    if [ ! -f "$f" ]; then
        echo "build-image: $f is missing (run scripts/build-busybox.sh and scripts/build-musl.sh, or make image)" >&2
        exit 1
    fi
done
busybox=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ldso=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
image=$3
skel=$root/userland/rootfs
staging=$image.staging
size=128M
epoch=${SOURCE_DATE_EPOCH:-1704067200}
fs_uuid=954eb2e6-ad51-435e-bfa2-5e69810723b2
hash_seed=fb8c9186-a9c6-4537-a19a-1bf6a1d8ca7a

if [ ! -x "$busybox" ]; then
    echo "build-image: $busybox is missing (run scripts/build-busybox.sh)" >&2
    exit 1
fi
if [ ! -f "$ldso" ] || ! readelf -h "$ldso" 2>/dev/null | grep -c 'Type: *DYN' >/dev/null; then
    echo "build-image: $ldso is missing or not a shared object (run scripts/build-musl.sh)" >&2
    exit 1
fi

up_to_date() {
    [ -e "$image" ] && [ "$image" -nt "$0" ] && [ "$image" -nt "$busybox" ] && [ "$image" -nt "$ldso" ] || return 1
    # Newer files, and directories changed by an added or removed file.
    [ -z "$(find "$root/userland" -newer "$image" -print -quit)" ]
}
if up_to_date; then
    echo "build-image: $image is up to date"
    exit 0
fi

# e2fsprogs lives in /sbin, outside a user's PATH on Debian.
PATH=$PATH:/usr/sbin:/sbin
if ! command -v mke2fs >/dev/null || ! command -v debugfs >/dev/null || ! command -v e2fsck >/dev/null; then
    echo "build-image: installing e2fsprogs"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q e2fsprogs
fi

# The staging directory: modes set explicitly, whatever the umask.
mkdir -p "$(dirname "$image")"
rm -rf "$staging"
mkdir -p "$staging"
for d in bin sbin lib usr usr/bin usr/sbin dev proc sys run mnt var home etc etc/init.d; do
    mkdir -p "$staging/$d"
    chmod 0755 "$staging/$d"
done
mkdir -m 1777 "$staging/tmp"
mkdir -m 0700 "$staging/root"
cp "$busybox" "$staging/bin/busybox"
chmod 0755 "$staging/bin/busybox"
# musl's loader, and libc.so for programs that name it (see the header).
cp "$ldso" "$staging/lib/ld-musl-x86_64.so.1"
chmod 0755 "$staging/lib/ld-musl-x86_64.so.1"
ln -s ld-musl-x86_64.so.1 "$staging/lib/libc.so"

# One relative link per applet (the image also reads right when mounted
# elsewhere), where busybox's own installer would put it.
# (Run as bin/busybox: busybox finds its applet by its own name.)
bb=$staging/bin/busybox
if ! applets=$("$bb" --list-full) || ! list=$("$bb" --list); then
    echo "build-image: $busybox does not run here" >&2
    exit 1
fi
while IFS= read -r path; do
    case $path in "" | bin/busybox) continue ;; esac
    up=""
    rest=$path
    while [ "${rest#*/}" != "$rest" ]; do
        up=../$up
        rest=${rest#*/}
    done
    mkdir -p "$staging/$(dirname "$path")"
    ln -s "${up}bin/busybox" "$staging/$path"
done <<<"$applets"
if [ "$(readlink "$staging/bin/sh")" != ../bin/busybox ] || [ ! -L "$staging/sbin/init" ]; then
    echo "build-image: busybox --list-full has no bin/sh or sbin/init" >&2
    exit 1
fi
if ! grep -qx hush <<<"$list" || grep -qx ash <<<"$list"; then
    echo "build-image: $busybox has no hush, or has ash: /bin/sh would not be hush" >&2
    exit 1
fi

# The skeleton: directories 0755, files 0644, or 0755 when executable in
# the checkout.
(cd "$skel" && find . -mindepth 1 | LC_ALL=C sort) | while IFS= read -r f; do
    f=${f#./}
    if [ -d "$skel/$f" ]; then
        mkdir -p "$staging/$f"
        chmod 0755 "$staging/$f"
    elif [ -f "$skel/$f" ]; then
        rm -f "$staging/$f"
        cp "$skel/$f" "$staging/$f"
        if [ -x "$skel/$f" ]; then chmod 0755 "$staging/$f"; else chmod 0644 "$staging/$f"; fi
    else
        echo "build-image: $skel/$f is neither a file nor a directory" >&2
        exit 1
    fi
done
# Name servers live in /run (a tmpfs at run time; see /etc/init.d/rcS).
ln -sfn ../run/resolv.conf "$staging/etc/resolv.conf"
find "$staging" -exec touch -h -d "@$epoch" {} +

# The file system. Lazy init off for the inode tables (the guest kernel
# would otherwise zero them in the background after mounting) and on for
# the journal (a new sparse file already reads as zeros).
export E2FSPROGS_FAKE_TIME=$epoch
rm -f "$image.tmp"
truncate -s "$size" "$image.tmp"
mke2fs -q -F -t ext4 -T default -b 4096 -I 256 -i 16384 -L nabla-root \
    -U "$fs_uuid" \
    -E "root_owner=0:0,hash_seed=$hash_seed,no_copy_xattrs,nodiscard,lazy_itable_init=0,lazy_journal_init=1" \
    -d "$staging" "$image.tmp"

# Owners and times of every inode (see the header).
cmds=$image.debugfs
(cd "$staging" && find . -mindepth 1 | LC_ALL=C sort) | while IFS= read -r f; do
    f=/${f#./}
    for field in uid gid; do
        echo "sif \"$f\" $field 0"
    done
    for field in atime mtime ctime crtime; do
        echo "sif \"$f\" $field @$epoch"
    done
done >"$cmds"
for field in atime mtime ctime crtime; do
    echo "sif / $field @$epoch"
done >>"$cmds"
if debugfs -w -f "$cmds" "$image.tmp" 2>&1 >/dev/null | grep -v '^debugfs [0-9.]* ([^)]*)$' >&2; then
    echo "build-image: debugfs could not set owners and times ($cmds)" >&2
    exit 1
fi
rm -f "$cmds"

# Check: every entry of every directory owned by 0:0, then a full fsck.
dirs=$(cd "$staging" && find . -type d | LC_ALL=C sort | sed 's|^\.|/|; s|^//|/|')
listing=$(while IFS= read -r d; do echo "ls -l \"$d\""; done <<<"$dirs" | debugfs -f - "$image.tmp" 2>/dev/null)
not_root=$(awk '$3 ~ /^\([0-9]+\)$/ && ($4 != 0 || $5 != 0)' <<<"$listing")
if [ -n "$not_root" ]; then
    echo "build-image: files not owned by root in $image.tmp:" >&2
    echo "$not_root" >&2
    exit 1
fi
e2fsck -fn "$image.tmp" >"$image.fsck" 2>&1 || {
    cat "$image.fsck" >&2
    echo "build-image: e2fsck -fn found problems in $image.tmp" >&2
    exit 1
}
rm -f "$image.fsck"
mv "$image.tmp" "$image"
echo "build-image: built $image ($size, $(du -k "$image" | cut -f1) KiB used, sha256 $(sha256sum "$image" | cut -c1-16)...)"

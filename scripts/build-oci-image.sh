#!/usr/bin/env bash
# Build the containers' test image: an OCI image archive (an OCI image
# layout in a tar, what `ctr image import` reads) named
# docker.io/nabla/test:latest, for the tests in tests/tests/containers.rs
# and the containers section of scripts/bench.sh.
#
#   scripts/build-oci-image.sh OUT.tar
#
# e.g. scripts/build-oci-image.sh build/oci-image.tar (`make oci-image`).
#
# Contents of its one layer: our busybox (build/busybox/busybox, `make
# busybox`) at /bin/busybox with one relative symbolic link per applet
# where `busybox --list-full` puts it (/bin/sh is hush, as in
# build/rootfs.ext4); /bin/nabla-test (tests/containers/nabla-test.c,
# static-pie against Debian's musl: see its header for its modes);
# /bin/nopie (tests/containers/nopie.c, gcc -static -no-pie against
# glibc: an entrypoint that is not position-independent); /www/index.html
# (tests/containers/www, served by busybox httpd); /etc/passwd and
# /etc/group from userland/rootfs; the empty directories /dev, /proc,
# /sys, /run, /var, /root (0700) and /tmp (1777).
#
# The archive: oci-layout, index.json (one manifest, annotated with
# org.opencontainers.image.ref.name = docker.io/nabla/test:latest, which
# containerd 1.6's importer keeps as the image's name when ctr is given
# no --base-name), and blobs/sha256/ with the manifest, the image config
# (amd64, linux, Cmd /bin/nabla-test hello, Env PATH, WorkingDir /,
# rootfs.diff_ids) and the layer (tar.gz). Reproducible: the layer is
# tarred in name order with mtime 0 and owner 0:0 and gzipped with no
# name or time (gzip -n), so the same inputs give the same digests, and
# the outer tar the same way. OUT.d/ keeps the staging tree and blobs for
# inspection.
#
# Does nothing when OUT.tar is newer than this script, the busybox, the
# sources under tests/containers/, userland/rootfs/etc/{passwd,group} and
# scripts/musl-specs.sh (which installs musl-tools when musl-gcc is
# missing).
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: scripts/build-oci-image.sh OUT.tar" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
out=$1
work=$out.d
busybox=$root/build/busybox/busybox
src=$root/tests/containers
etc=$root/userland/rootfs/etc
name=docker.io/nabla/test:latest
epoch=0

if [ ! -x "$busybox" ]; then
    echo "build-oci-image: $busybox is missing (run 'make busybox')" >&2
    exit 1
fi
inputs=("$0" "$busybox" "$root/scripts/musl-specs.sh" "$etc/passwd" "$etc/group")
while IFS= read -r f; do inputs+=("$f"); done < <(find "$src" -type f | LC_ALL=C sort)
up_to_date() {
    local i
    [ -e "$out" ] || return 1
    for i in "${inputs[@]}"; do
        [ "$out" -nt "$i" ] || return 1
    done
    # A file removed from tests/containers changes its directory.
    [ -z "$(find "$src" -newer "$out" -print -quit)" ]
}
if up_to_date; then
    echo "build-oci-image: $out is up to date"
    exit 0
fi

rm -rf "$work"
mkdir -p "$work/rootfs" "$work/oci/blobs/sha256"
staging=$work/rootfs

# The test programs. nabla-test: a true static-pie (what the no-MMU guest
# loads); nopie: ELF type EXEC.
specs=$work/musl-static-pie.specs
"$root/scripts/musl-specs.sh" "$specs"
mkdir -p "$staging/bin"
gcc -specs "$specs" -static-pie -O2 -Wall -Wextra -Werror -fPIE -o "$staging/bin/nabla-test" "$src/nabla-test.c"
readelf -h "$staging/bin/nabla-test" | grep -q 'Type:[[:space:]]*DYN' || {
    echo "build-oci-image: nabla-test is not a static-pie" >&2
    exit 1
}
if readelf -l "$staging/bin/nabla-test" | grep -q INTERP; then
    echo "build-oci-image: nabla-test has a PT_INTERP" >&2
    exit 1
fi
gcc -static -no-pie -O2 -Wall -Wextra -Werror -o "$staging/bin/nopie" "$src/nopie.c"
readelf -h "$staging/bin/nopie" | grep -q 'Type:[[:space:]]*EXEC' || {
    echo "build-oci-image: nopie is not of ELF type EXEC" >&2
    exit 1
}
strip "$staging/bin/nopie"

# Busybox and its applets (as scripts/build-image.sh lays them out).
cp "$busybox" "$staging/bin/busybox"
if ! applets=$("$staging/bin/busybox" --list-full); then
    echo "build-oci-image: $busybox does not run here" >&2
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
[ "$(readlink "$staging/bin/sh")" = ../bin/busybox ] || {
    echo "build-oci-image: busybox --list-full has no bin/sh" >&2
    exit 1
}

mkdir -p "$staging/etc" "$staging/www" "$staging/dev" "$staging/proc" "$staging/sys" "$staging/run" "$staging/var"
cp "$etc/passwd" "$etc/group" "$staging/etc/"
cp -r "$src/www/." "$staging/www/"
mkdir -m 0700 "$staging/root"
mkdir -m 1777 "$staging/tmp"
# Modes independent of the umask: directories 0755 (but /root, /tmp),
# programs 0755, other files 0644.
find "$staging" -type d ! -path "$staging/root" ! -path "$staging/tmp" -exec chmod 0755 {} +
find "$staging" -type f -exec chmod 0644 {} +
chmod 0755 "$staging/bin/busybox" "$staging/bin/nabla-test" "$staging/bin/nopie"

# Reproducible tar: name order, fixed times and owners, no pax headers
# with times (GNU format).
rtar() {
    tar --format=gnu --sort=name --mtime=@$epoch --owner=0 --group=0 --numeric-owner \
        --mode=u+w,go-w "$@"
}
blobs=$work/oci/blobs/sha256
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

rtar -C "$staging" -cf "$work/layer.tar" .
diff_id=$(sha "$work/layer.tar")
gzip -n -9 -c "$work/layer.tar" >"$work/layer.tar.gz"
layer=$(sha "$work/layer.tar.gz")
layer_size=$(size "$work/layer.tar.gz")
mv "$work/layer.tar.gz" "$blobs/$layer"
rm -f "$work/layer.tar"

# JSON with no trailing newline (the digests are over these exact bytes).
printf '%s' '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/nabla-test","hello"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:'"$diff_id"'"]},"history":[{"created_by":"scripts/build-oci-image.sh"}]}' >"$work/config.json"
config=$(sha "$work/config.json")
config_size=$(size "$work/config.json")
mv "$work/config.json" "$blobs/$config"

printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'"$config"'","size":'"$config_size"'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:'"$layer"'","size":'"$layer_size"'}]}' >"$work/manifest.json"
manifest=$(sha "$work/manifest.json")
manifest_size=$(size "$work/manifest.json")
mv "$work/manifest.json" "$blobs/$manifest"

printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"
printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:'"$manifest"'","size":'"$manifest_size"',"platform":{"architecture":"amd64","os":"linux"},"annotations":{"org.opencontainers.image.ref.name":"'"$name"'"}}]}' >"$work/oci/index.json"

mkdir -p "$(dirname "$out")"
rtar -C "$work/oci" -cf "$out.tmp" oci-layout index.json blobs
mv "$out.tmp" "$out"
echo "build-oci-image: built $out ($name, layer $((layer_size / 1024)) KiB, manifest sha256:${manifest:0:16}...)"

#!/usr/bin/env bash
# Fetch and extract Debian's linux-source-6.12 (6.12.117) under build/,
# once. The first step of `make kernel` (the Linux guest is in progress).
#
# The package comes from bookworm-security through an apt source list and
# state directory of our own (build/apt), so the machine's apt
# configuration is untouched. Re-running is instant once extracted.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
src=$build/linux-source-6.12
version=6.12.117
[ -f "$src/.nabla-extracted" ] && exit 0

apt_dir=$build/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
cat > "$apt_dir/sources.list" <<LIST
deb http://deb.debian.org/debian-security bookworm-security main
LIST
opts=(-o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache" -q)
deb=$(ls "$apt_dir"/debs/linux-source-6.12_"$version"*_all.deb 2>/dev/null | head -1 || true)
if [ -z "$deb" ]; then
    echo "kernel-source: fetching linux-source-6.12 $version (about 150 MB)"
    apt-get "${opts[@]}" update
    pkg_version=$(apt-cache "${opts[@]}" madison linux-source-6.12 | awk -v v="$version" '$3 ~ "^"v {print $3; exit}')
    if [ -z "$pkg_version" ]; then
        echo "kernel-source: linux-source-6.12 $version is not in bookworm-security" >&2
        exit 1
    fi
    (cd "$apt_dir/debs" && apt-get "${opts[@]}" download "linux-source-6.12=$pkg_version")
    deb=$(ls "$apt_dir"/debs/linux-source-6.12_"$version"*_all.deb | head -1)
fi
echo "kernel-source: extracting $(basename "$deb")"
rm -rf "$build/deb-root" "$src"
dpkg-deb -x "$deb" "$build/deb-root"
mkdir -p "$src"
tar -xJf "$build/deb-root/usr/src/linux-source-6.12.tar.xz" -C "$src" --strip-components=1
rm -rf "$build/deb-root"
touch "$src/.nabla-extracted"
echo "kernel-source: $src ready"

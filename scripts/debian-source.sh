#!/usr/bin/env bash
# Fetch and unpack a Debian bookworm source package with apt-get source,
# through an apt configuration of our own (a deb-src list, package lists
# and cache under APT_DIR), so the machine's apt setup is not touched:
#
#   scripts/debian-source.sh PACKAGE VERSION_RE APT_DIR DEST_DIR
#
# VERSION_RE is an awk regular expression the version must match (e.g.
# '^1\.2\.3-'): the newest matching version in bookworm main is fetched
# and unpacked into DEST_DIR (apt-get source's own directory, e.g.
# DEST_DIR/musl-1.2.3). Prints that version on stdout as its last line;
# apt's own output goes to stderr. Fails, saying why, when no version
# matches. Needs dpkg-source (dpkg-dev) and the network on each run: the
# callers cache what it unpacks. Shared by scripts/build-busybox.sh and
# scripts/build-musl.sh.
set -euo pipefail
if [ $# -ne 4 ]; then
    echo "usage: scripts/debian-source.sh PACKAGE VERSION_RE APT_DIR DEST_DIR" >&2
    exit 2
fi
package=$1 version_re=$2 apt_dir=$3 dest=$4
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$dest"
cat >"$apt_dir/sources.list" <<LIST
deb-src http://deb.debian.org/debian bookworm main
LIST
opts=(-o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache" -q)
# As root, apt would warn that its _apt sandbox user cannot write here.
[ "$(id -u)" -ne 0 ] || opts+=(-o APT::Sandbox::User=root)
apt-get "${opts[@]}" update >&2
version=$(apt-cache "${opts[@]}" showsrc "$package" |
    awk -v re="$version_re" '$1 == "Version:" && $2 ~ re {print $2}' | sort -V | tail -n 1)
if [ -z "$version" ]; then
    echo "debian-source: no $package matching $version_re in bookworm main" >&2
    exit 1
fi
(cd "$dest" && apt-get "${opts[@]}" source "$package=$version") >&2
echo "$version"

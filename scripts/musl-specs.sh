#!/usr/bin/env bash
# Derive a gcc specs file from musl-gcc's that links a true static-pie
# against Debian's musl (musl-gcc itself ignores -static-pie and links a
# dynamic PIE).
#
#   scripts/musl-specs.sh OUT_SPECS_FILE
#
# Use it as `gcc -specs OUT_SPECS_FILE -static-pie -fPIE ...`. Installs
# musl-tools when musl-gcc is missing. Shared by scripts/build-init.sh and
# scripts/build-busybox.sh. Always rewrites OUT_SPECS_FILE (atomically).
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: scripts/musl-specs.sh OUT_SPECS_FILE" >&2
    exit 2
fi
specs=$1

if ! command -v musl-gcc >/dev/null; then
    echo "musl-specs: installing musl-tools"
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
    echo "musl-specs: cannot find musl-gcc's specs file" >&2
    exit 1
fi

# musl-gcc ignores -static-pie: its specs always start with Scrt1.o (which
# does not relocate itself) and link with a dynamic loader. Ours keeps its
# include and library paths and changes two things: rcrt1.o (musl's
# self-relocating start file) instead of Scrt1.o, and a link line for a
# static PIE with no PT_INTERP and no text relocations.
mkdir -p "$(dirname "$specs")"
awk '
  sect == "startfile" { gsub(/%\{!shared: */, ""); gsub(/Scrt1\.o\}/, "rcrt1.o"); print; sect = ""; next }
  sect == "link" { print "-nostdlib -static -pie --no-dynamic-linker -z text -z noexecstack %{rdynamic:-export-dynamic}"; sect = ""; next }
  /^\*startfile:$/ { sect = "startfile" }
  /^\*link:$/ { sect = "link" }
  { print }' "$orig" >"$specs.tmp"
rcrt1=$(sed -n '/^\*startfile:$/{n;p;}' "$specs.tmp" | tr ' ' '\n' | grep 'rcrt1\.o$' || true)
if [ -z "$rcrt1" ] || [ ! -f "$rcrt1" ] || ! grep -q -- '--no-dynamic-linker' "$specs.tmp"; then
    echo "musl-specs: could not derive a static-pie specs file from $orig (rcrt1.o: '${rcrt1}')" >&2
    rm -f "$specs.tmp"
    exit 1
fi
mv "$specs.tmp" "$specs"

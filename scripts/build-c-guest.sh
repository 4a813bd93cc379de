#!/usr/bin/env bash
# Build a C unikernel written against the Solo5 API into a Nabla guest.
#
#   scripts/build-c-guest.sh APP.c MANIFEST.json OUTPUT
#
# Needs target/release/libnabla_platform.a and nabla-elftool (`make`
# builds both). These are the whole recipe (the README's); no linker
# script is needed: the default static-pie layout keeps our notes in a
# PT_NOTE segment and the TLS template in PT_TLS.
set -euo pipefail
app=$1 manifest=$2 out=$3
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Freestanding and position-independent, with the compiler's own headers
# only (solo5.h needs nothing else), and Solo5's stack protector: the
# canary is the global __stack_chk_guard, which the library sets at start.
cflags=(-O2 -ffreestanding -fno-builtin -fPIE -nostdinc
        -fstack-protector-strong -mstack-protector-guard=global
        -isystem "$(cc -print-file-name=include)" -I "$root/platform/include")
"$root/target/release/nabla-elftool" gen-manifest "$manifest" "$tmp/manifest.c"
cc "${cflags[@]}" -c -o "$tmp/app.o" "$app"
cc "${cflags[@]}" -c -o "$tmp/manifest.o" "$tmp/manifest.c"
# static-pie without any C library: the platform library provides _start
# (-u pulls it in even for an application that calls no Solo5 function)
# and the Solo5 API, and keeps everything else to itself.
cc -nostdlib -static-pie -Wl,--no-dynamic-linker -Wl,-z,noexecstack -Wl,-z,separate-code \
   -Wl,-u,_start -o "$out" "$tmp/app.o" "$tmp/manifest.o" "$root/target/release/libnabla_platform.a"

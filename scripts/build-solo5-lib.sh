#!/usr/bin/env bash
# Build target/release/libnabla_platform.a, the Solo5 library for C guests
# (`make c-guests` runs this).
#
#   scripts/build-solo5-lib.sh
#
# cargo builds nabla-platform with the `solo5` feature as a static library;
# that archive exports every global of the Rust code (memcpy, memset,
# memmove, memcmp, bcmp, strlen, ...) and of the compiler helpers it pulls
# in, so a guest with its own small libc would not link. Like Solo5's own
# bindings, the library is therefore made one relocatable object (a partial
# link from `_start`, which pulls the platform and the helpers it needs) in
# which only these stay global:
#   - the Solo5 API (solo5_*), and _start;
#   - the stack protector's __stack_chk_guard and __stack_chk_fail;
#   - undefined: solo5_app_main (the application's) and __ehdr_start (the
#     linker's).
# Everything else becomes local. The script checks the result and fails if
# any other global is left.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lib=$root/target/release/libnabla_platform.a
cd "$root"
${CARGO:-cargo} rustc --release -p nabla-platform --features solo5 --crate-type staticlib
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Idempotent: an archive already processed is one object with the same
# globals, and comes out the same.
ld -r -o "$tmp/all.o" -u _start "$lib"
objcopy --wildcard -G 'solo5_*' -G _start -G '__stack_chk_*' "$tmp/all.o" "$tmp/nabla_platform.o"
ar rcD "$tmp/lib.a" "$tmp/nabla_platform.o"

# nm's LLVM plugin complains about Rust objects on stderr; only stdout counts.
bad=$(nm -g "$tmp/lib.a" 2>/dev/null | awk 'NF >= 2 {print $NF}' |
      grep -Ev '^(solo5_[a-z0-9_]+|_start|__stack_chk_guard|__stack_chk_fail|__ehdr_start)$' || true)
if [ -n "$bad" ]; then
    echo "build-solo5-lib: unexpected global symbols in the library:" $bad >&2
    exit 1
fi
mv "$tmp/lib.a" "$lib"

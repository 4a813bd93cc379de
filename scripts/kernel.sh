#!/usr/bin/env bash
# make kernel: Debian's linux-source-6.12, our patch series, our config,
# built out of tree under build/, linked against the platform library.
#
#   scripts/kernel.sh PLATFORM_LIB
#
#   build/linux-source-6.12   the source, extracted once (kernel-source.sh),
#                             a git repository whose tag `pristine` is the
#                             unpatched tree
#   build/linux               the build tree (O=)
#   build/linux.nabla         the result: the kernel nabla-tender boots
#
# The series is re-applied only when a patch or the series changes, by
# resetting to `pristine` and applying every patch again as a commit
# (`git am`, so that the tree can be edited and the series regenerated
# with `git format-patch pristine`): files no patch touches keep their
# timestamps, and so do patched files whose content comes out the same, so
# an edited patch rebuilds only what it changes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=$root/build/linux-source-6.12
out=$root/build/linux
patches=$root/kernel-patches
lib=$(realpath "${1:?usage: kernel.sh PLATFORM_LIB}")

need=()
for tool in flex bison bc; do command -v "$tool" >/dev/null || need+=("$tool"); done
if ((${#need[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${need[@]}"
fi

"$root/scripts/kernel-source.sh"
git_=(git -C "$src" -c user.name=nabla -c user.email=nabla@localhost)
if ! "${git_[@]}" rev-parse -q --verify pristine >/dev/null 2>&1; then
    echo "kernel: recording the pristine tree (once)"
    "${git_[@]}" init -q
    # -f: Debian's tarball ships a .gitignore that ignores everything.
    "${git_[@]}" add -A -f
    "${git_[@]}" commit -qm "linux-source-6.12 as extracted"
    "${git_[@]}" tag pristine
fi

list=$(grep -v '^\s*#' "$patches/series" | grep -v '^\s*$' || true)
stamp=$(cd "$patches" && cat series $list | sha256sum | cut -d' ' -f1)
if [ "$(cat "$src/.git/nabla-series" 2>/dev/null)" != "$stamp" ]; then
    echo "kernel: applying the patch series"
    # Remember the files the applied series changed, with their contents
    # and times: those that come out of the new series identical get their
    # old times back, so that make rebuilds only what really changed.
    saved=$(mktemp)
    (cd "$src" && git diff --name-only pristine HEAD 2>/dev/null | while read -r f; do
        [ -f "$f" ] && printf '%s %s %s\n' "$(sha1sum < "$f" | cut -c1-40)" "$(stat -c %.9Y "$f")" "$f"
    done) > "$saved" || true
    "${git_[@]}" am --abort >/dev/null 2>&1 || true
    "${git_[@]}" reset -q --hard pristine
    "${git_[@]}" clean -qfdx
    for p in $list; do
        echo "  $p"
        "${git_[@]}" am -q "$patches/$p"
    done
    while read -r sum time f; do
        if [ -f "$src/$f" ] && [ "$(sha1sum < "$src/$f" | cut -c1-40)" = "$sum" ]; then
            touch -d "@$time" "$src/$f"
        fi
    done < "$saved"
    rm -f "$saved"
    echo "$stamp" > "$src/.git/nabla-series"
fi

mkdir -p "$out"
if ! cmp -s "$patches/nabla.config" "$out/.nabla.config"; then
    echo "kernel: configuring"
    KCONFIG_ALLCONFIG="$patches/nabla.config" make -s -C "$src" O="$out" ARCH=um allnoconfig
    cp "$patches/nabla.config" "$out/.nabla.config"
fi
# Kbuild does not know about the platform library: relink when it changed.
if [ -e "$out/vmlinux" ] && [ "$lib" -nt "$out/vmlinux" ]; then
    rm -f "$out/vmlinux"
fi
make -s -C "$src" O="$out" ARCH=um -j"$(nproc)" NABLA_PLATFORM="$lib" vmlinux
# A new file, renamed into place: the tender maps the kernel file, so a
# guest still running the old one must not see it change under it.
cp "$out/vmlinux" "$root/build/linux.nabla.tmp"
mv -f "$root/build/linux.nabla.tmp" "$root/build/linux.nabla"
echo "kernel: build/linux.nabla"

#!/usr/bin/env bash
# make bench: the tender's start-up cost, measured against a baseline in
# the same run (the machine is noisy; ratios are what we report).
#
# Boot: wall time from fork/exec to exit of `nabla-tender --quiet
# target/guests/hello`, next to a static C hello process, RUNS runs of
# each, interleaved (see tests/src/bin/nabla-bench.rs); median, 10th and
# 90th percentiles, and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-500}
bench=target/release/nabla-bench
mkdir -p target/bench
cc -O2 -static -o target/bench/hello-static bench/hello.c

{
    read -r c c10 c90 crss
    read -r t t10 t90 trss
} < <($bench boot "$RUNS" -- target/bench/hello-static -- target/release/nabla-tender --quiet target/guests/hello)
ratio=$(awk -v a="$t" -v b="$c" 'BEGIN {printf "%.2f", a / b}')

echo "boot: fork+exec to exit, $RUNS interleaved runs each (median [p10-p90])"
printf '  %-34s %7s us [%s-%s]  peak RSS %5s KiB\n' "static C hello (baseline)" "$c" "$c10" "$c90" "$crss"
printf '  %-34s %7s us [%s-%s]  peak RSS %5s KiB\n' "nabla-tender --quiet hello" "$t" "$t10" "$t90" "$trss"
echo "  ratio tender / static C hello: $ratio"

#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# fuzz/run.sh -- build the libFuzzer targets and run each one for a set time.
#
#   fuzz/run.sh [--smoke] [--seconds N] [target ...]
#
# --smoke runs each target FUZZ_SMOKE_SECONDS (default 20) -- what `make test`
# does; otherwise FUZZ_SECONDS (default 600) each -- what `make fuzz` does.
# Seeds come from fuzz/corpus/<target>/ (checked in, read only); inputs the
# fuzzer finds go to $OUT/fuzz/corpus/<target>/ and are reused by later runs.
# A crash, leak, sanitizer report or timeout stops with a non-zero status and
# leaves the input in $OUT/fuzz/artifacts/<target>/. A summary table of
# executions per target is printed and written to $OUT/fuzz/summary.txt.
set -eu

cd "$(dirname "$0")/.."
OUT=${OUT:-build}
FUZZ_OUT=$OUT/fuzz
seconds=${FUZZ_SECONDS:-600}
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) seconds=${FUZZ_SMOKE_SECONDS:-20}; shift ;;
	--seconds) seconds=$2; shift 2 ;;
	-h|--help) sed -n '3,14p' "$0"; exit 0 ;;
	-*) echo "fuzz/run.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done

# Generated headers (protobuf-c, BPF skeleton) come from the main build.
make --no-print-directory -s OUT="$OUT" "$OUT/gen/profile.pb-c.h" "$OUT/gen/profile.skel.h"
targets=${*:-$(make --no-print-directory -s -f fuzz/Makefile OUT="$OUT" list)}
bins=$(for t in $targets; do printf '%s/fuzz_%s ' "$FUZZ_OUT" "$t"; done)
# shellcheck disable=SC2086 -- one word per target
make --no-print-directory -s -f fuzz/Makefile OUT="$OUT" -j2 $bins

summary=$FUZZ_OUT/summary.txt
printf '%-16s %10s %8s %6s %s\n' target executions seconds cov result > "$summary"
failed=0
for t in $targets; do
	work=$FUZZ_OUT/corpus/$t
	art=$FUZZ_OUT/artifacts/$t
	log=$FUZZ_OUT/$t.log
	mkdir -p "$work" "$art"
	rc=0
	ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$FUZZ_OUT/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
		-max_len=65536 -print_final_stats=1 -artifact_prefix="$art/" \
		"$work" "fuzz/corpus/$t" > "$log" 2>&1 || rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	if [ "$rc" -eq 0 ]; then
		res=ok
	else
		res="FAILED (exit $rc, see $log)"
		failed=1
		grep -E 'ERROR|SUMMARY|invariant|Test unit written' "$log" | head -8 >&2 || true
	fi
	printf '%-16s %10s %8s %6s %s\n' "$t" "${runs:-?}" "$seconds" "${cov:-?}" "$res" | tee -a "$summary"
done
[ "$failed" -eq 0 ] || { echo "fuzz: a target failed; reproduce with $FUZZ_OUT/fuzz_<target> <artifact>" >&2; exit 1; }

#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# run.sh -- `make bench`: podprof side by side with perf, BCC profile and bpftrace,
# then time-to-answer, operator scale and symbolization (cold and warm symbol
# cache, RSS with line tables); writes docs/benchmarks.md.
#
# Needs root (eBPF, perf events, cgroups). Env: PODPROF_BUILD (binaries and
# lib*.a, default build), TOOLS_DIR (kube-apiserver, etcd, kubectl, default
# ~/.cache/podprof), BENCH_QUICK=1 for short runs (development; about 5 min),
# BENCH_ONLY="local tta scale sym unwind python selected offcpu start" to run some parts (the report uses the
# results folder BENCH_RESULTS, default build/bench, so earlier parts stay; a part with no result there keeps
# its section of the existing docs/benchmarks.md).
# The full run takes about 15-20 minutes.
set -euo pipefail

export REPO=$(cd "$(dirname "$0")/.." && pwd)
export PODPROF_BUILD=$(cd "${PODPROF_BUILD:-$REPO/build}" && pwd)
export TOOLS_DIR=${TOOLS_DIR:-$HOME/.cache/podprof}
export RES=${BENCH_RESULTS:-$PODPROF_BUILD/bench}
ONLY=${BENCH_ONLY:-local tta scale sym unwind python selected offcpu start}
mkdir -p "$RES"

if [ "$(id -u)" != 0 ]; then
	echo "bench: needs root (eBPF, perf events, cgroups)" >&2
	exit 1
fi

# Peers to compare with, from Debian. A package that will not install is
# reported in the tables as not runnable, not hidden.
missing=()
command -v perf >/dev/null 2>&1 || [ -x /usr/bin/perf_6.1 ] || missing+=(linux-perf)
command -v profile-bpfcc >/dev/null 2>&1 || missing+=(bpfcc-tools)
command -v bpftrace >/dev/null 2>&1 || missing+=(bpftrace)
command -v bpftool >/dev/null 2>&1 || missing+=(bpftool)
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench: installing ${missing[*]}"
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") \
		>"$RES/apt.log" 2>&1 || echo "bench: apt-get install failed (see $RES/apt.log); continuing"
fi

# Sockets for 5,000 load-generator workers plus the operator's side of them.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cd "$REPO/bench"
run_part() { # name, command...
	local name=$1
	shift
	case " $ONLY " in *" $name "*) ;; *) return 0 ;; esac
	echo "== bench: $name"
	"$@" || echo "bench: part $name failed (exit $?); the report says what is missing"
}

run_part local python3 local.py --out "$RES/local.json"
run_part tta python3 cluster.py --out "$RES/tta.json"
run_part scale python3 scale.py --out "$RES/scale.json"
run_part unwind python3 unwind.py --out "$RES/unwind.json"
run_part python python3 python.py --out "$RES/python.json"
# The yardstick sampler for selected.py (not part of podprof).
build_minsampler() {
	local d="$RES/minsampler"
	mkdir -p "$d"
	clang -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_x86 -I"$REPO/bpf" \
		-c "$REPO/bench/minsampler/minsampler.bpf.c" -o "$d/minsampler.bpf.o" &&
		bpftool gen skeleton "$d/minsampler.bpf.o" >"$d/minsampler.skel.h" &&
		gcc -O2 -std=gnu11 -Wall -Wextra -Werror -I"$d" -o "$d/minsampler" \
			"$REPO/bench/minsampler/minsampler.c" -lbpf -lelf -lz
}
case " $ONLY " in *" selected "*) build_minsampler || echo "bench: minsampler did not build; selected.py runs without it" ;; esac
run_part selected python3 selected.py --out "$RES/selected.json"
run_part offcpu python3 offcpu.py --out "$RES/offcpu.json"
run_part start python3 agent_start.py --out "$RES/agent_start.json"

# Symbolization: a tiny program linked against the worker's own library.
build_symbench() {
	gcc -O2 -std=gnu11 -Wall -Wextra -Werror -I"$REPO/lib" -I"$REPO/worker" -I"$PODPROF_BUILD/gen" \
		-o "$RES/symbench" "$REPO/bench/symbench.c" "$PODPROF_BUILD/libworker.a" \
		"$PODPROF_BUILD/libcommon.a" -lbpf -lelf -ldw -lz -lcurl -ljson-c -lwebsockets -lcap \
		-lprotobuf-c -lpthread -lm
}
run_part sym bash -c "$(declare -f build_symbench); build_symbench && python3 symbol.py --out '$RES/sym.json' --symbench '$RES/symbench'"

python3 report.py "$RES" "$REPO/docs/benchmarks.md"
echo "bench: wrote docs/benchmarks.md (raw results in $RES)"

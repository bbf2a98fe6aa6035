#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build-image.sh -- the build steps of the container image, runnable without one.
#
# The Dockerfile runs `deps` and `build` in its Debian bookworm build stage
# and installs the package list that `build` writes into the slim runtime
# stage. `make test` runs `--check` on the host (no container engine needed):
# it performs the same `build` into a temporary folder and checks the result,
# so the image recipe cannot rot unnoticed.
#
# Usage:
#   scripts/build-image.sh deps            install the build packages (apt, root)
#   scripts/build-image.sh build OUTDIR    build the binaries into OUTDIR/bin and
#                                          write OUTDIR/runtime-packages.txt
#   scripts/build-image.sh --check [--keep] build into a temp dir and check it
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
BINARIES=(podprof-operator podprof-worker kubectl-podprof)

# Build-stage packages: compilers and -dev headers. None of these may reach
# the runtime stage (checked below).
BUILD_PKGS=(
	make gcc libc6-dev clang llvm pkg-config bpftool ca-certificates
	libbpf-dev libelf-dev libdw-dev zlib1g-dev libcurl4-openssl-dev libjson-c-dev
	libwebsockets-dev libcap-dev libprotobuf-c-dev protobuf-c-compiler libyaml-dev
	libssl-dev
)
# Package name patterns that must never be in the runtime stage.
FORBIDDEN='^(gcc|g\+\+|cpp|clang|llvm|binutils|make|libc6-dev|.*-dev)(-[0-9.]+)?(:.*)?$'

die() {
	echo "build-image: $*" >&2
	exit 1
}

cmd_deps() {
	[[ $(id -u) -eq 0 ]] || die "deps needs root (apt-get)"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${BUILD_PKGS[@]}"
}

# shared_libs BINARY -> resolved paths of the shared libraries it loads.
shared_libs() {
	local out
	out=$(ldd "$1") || die "ldd $1 failed"
	if grep -q 'not found' <<<"$out"; then
		die "$1 has unresolved libraries:"$'\n'"$(grep 'not found' <<<"$out")"
	fi
	awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$out" | sort -u
}

# owning_package PATH -> the Debian package that ships PATH (tries the
# /usr-merged twin too: ldd may say /lib/... while dpkg knows /usr/lib/...).
owning_package() {
	local p=$1 alt pkg
	alt=${p#/usr}
	[[ $alt == "$p" ]] && alt=/usr$p
	for q in "$p" "$alt" "$(readlink -f "$p")"; do
		pkg=$(dpkg -S "$q" 2>/dev/null | head -n1 | cut -d: -f1) || true
		if [[ -n $pkg ]]; then
			echo "$pkg"
			return
		fi
	done
	die "no Debian package ships $p"
}

cmd_build() {
	local out=${1:?usage: build OUTDIR}
	out=$(mkdir -p "$out" && cd "$out" && pwd)
	local obj=$out/obj
	make -C "$REPO" -j"$(nproc)" OUT="$obj" "$obj/podprof-operator" "$obj/podprof-worker" \
		"$obj/kubectl-podprof"
	mkdir -p "$out/bin"
	local b libs=()
	for b in "${BINARIES[@]}"; do
		install -m 0755 "$obj/$b" "$out/bin/$b"
		strip --strip-debug "$out/bin/$b"
		mapfile -t -O "${#libs[@]}" libs < <(shared_libs "$out/bin/$b")
	done
	printf '%s\n' "${libs[@]}" | sort -u >"$out/shared-libs.txt"
	local lib
	while read -r lib; do
		owning_package "$lib"
	done <"$out/shared-libs.txt" | sort -u >"$out/runtime-packages.txt"
	echo "build-image: binaries in $out/bin; runtime packages: $(tr '\n' ' ' <"$out/runtime-packages.txt")"
}

cmd_check() {
	local keep=0 tmp
	[[ ${1:-} == --keep ]] && keep=1
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/podprof-image.XXXXXX")
	# Expanded now: $tmp is local and gone by the time the EXIT trap runs.
	((keep)) || trap "rm -rf -- '$tmp'" EXIT
	cmd_build "$tmp" >/dev/null
	local b
	for b in "${BINARIES[@]}"; do
		[[ -x $tmp/bin/$b ]] || die "check: $b was not built"
		file -b "$tmp/bin/$b" 2>/dev/null | grep -q 'ELF' || die "check: $b is not an ELF binary"
		# Each answers --help without touching the cluster or the kernel.
		"$tmp/bin/$b" --help >/dev/null 2>&1 || [[ $? -le 2 ]] || die "check: $b --help crashed"
	done
	# Each binary's libraries are the ones the Makefile links (libbpf, libcurl, ...).
	local want
	for want in libbpf libelf libz libcurl libjson-c libwebsockets libcap libprotobuf-c libyaml-0 libcrypto; do
		grep -q "/$want\.so" "$tmp/shared-libs.txt" || die "check: no $want in the shared-library list"
	done
	[[ -s $tmp/runtime-packages.txt ]] || die "check: empty runtime package list"
	if grep -E "$FORBIDDEN" "$tmp/runtime-packages.txt"; then
		die "check: compilers or -dev packages would reach the runtime stage"
	fi
	# The Dockerfile must still call this script's steps and run the operator as non-root.
	local df=$REPO/Dockerfile
	grep -q 'scripts/build-image.sh deps' "$df" || die "check: Dockerfile no longer runs 'deps'"
	grep -q 'scripts/build-image.sh build' "$df" || die "check: Dockerfile no longer runs 'build'"
	grep -q 'runtime-packages.txt' "$df" || die "check: Dockerfile ignores runtime-packages.txt"
	grep -Eq '^USER +[1-9][0-9]*' "$df" || die "check: Dockerfile has no non-root USER"
	echo "build-image: check ok ($(wc -l <"$tmp/shared-libs.txt") shared libraries from" \
		"$(wc -l <"$tmp/runtime-packages.txt") packages: $(tr '\n' ' ' <"$tmp/runtime-packages.txt"))"
	if ((keep)); then echo "build-image: kept $tmp"; fi
	return 0
}

case ${1:-} in
deps) cmd_deps ;;
build)
	shift
	cmd_build "$@"
	;;
--check)
	shift
	cmd_check "$@"
	;;
*) die "usage: $0 deps | build OUTDIR | --check [--keep]" ;;
esac

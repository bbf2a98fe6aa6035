#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# deps.sh -- install what building and testing podprof needs, only if missing.
#
# Debian packages through apt-get (root) and pytest through pip. The
# Go-built tools (kube-apiserver, kubectl, etcd, S3 server) are built by
# e2e/tools/build.sh into a cache outside the checkout.
set -euo pipefail

PKGS=(
	make gcc clang llvm libclang-rt-14-dev pkg-config clang-format git openssl curl ca-certificates
	libbpf-dev bpftool linux-perf
	libcurl4-openssl-dev libjson-c-dev libwebsockets-dev libcap-dev libcap2-bin libyaml-dev libssl-dev
	libelf-dev libdw-dev libprotobuf-c-dev protobuf-c-compiler zlib1g-dev
	python3 python3-pip iproute2 procps valgrind strace python3-seccomp
	chromium # the flame graph's browser test (e2e/test_plugin.py)
	qemu-system-x86 busybox-static cpio debian-archive-keyring
	libc6-dbg binutils nodejs openjdk-17-jdk-headless
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if ((${#missing[@]})); then
	echo "deps: installing Debian packages: ${missing[*]}"
	if [[ $(id -u) -ne 0 ]]; then
		echo "deps: need root to install packages (run as root or install them by hand)" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! python3 -c 'import pytest' 2>/dev/null; then
	echo "deps: installing pytest"
	python3 -m pip install -q pytest ||
		python3 -m pip install -q --break-system-packages pytest
fi

if ! command -v go >/dev/null 2>&1 && [[ ! -x /usr/local/go/bin/go ]]; then
	echo "deps: installing the Go toolchain (golang-go) for the test tools"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go
fi

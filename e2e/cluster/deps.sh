#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# deps.sh -- Debian packages the real-cluster suite needs, installed only if missing.
#
# containerd, runc and the CNI plugins run the node; podman and debootstrap
# build the images; iptables and conntrack serve kube-proxy; bpftool checks
# that uninstall unloads the worker's programs. (Go-built parts: build.sh node.)
set -euo pipefail

PKGS=(containerd runc containernetworking-plugins podman debootstrap iptables conntrack bpftool gcc libc6-dev)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
((${#missing[@]})) || exit 0
echo "cluster deps: installing ${missing[*]}"
[[ $(id -u) -eq 0 ]] || {
	echo "cluster deps: need root to install packages" >&2
	exit 1
}
apt-get update -qq
# Debian's containerd package starts nothing here (no systemd as PID 1);
# the suite runs its own containerd with its own config and socket.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"

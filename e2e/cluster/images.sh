#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# images.sh -- build the real-cluster suite's container images with podman, no registry.
#
# base     Debian bookworm made with debootstrap from Debian's packages and
#          `podman import`ed as docker.io/library/debian:bookworm (and
#          :bookworm-slim), so the project's Dockerfile builds unchanged with
#          --pull=never. The rootfs tarball is cached in $TOOLS_DIR/images.
# pause    the sandbox image: a static pause binary built from pause.c.
# podprof  the project's own Dockerfile (operator + worker image).
# demoapp  e2e/workloads/demoapp.c on the bookworm base, with
#          e2e/workloads/offcpu.c beside it (/usr/local/bin/offcpu).
# pyapp    e2e/workloads/pywork.py run by Debian's python3.11 (the host's
#          binary, its standard library and libexpat copied onto the base).
# Each built image is also saved as an OCI archive in $OUT (default
# $TOOLS_DIR/images) for `ctr -n k8s.io images import`.
#
# Usage: e2e/cluster/images.sh [base|pause|podprof|demoapp|pyapp ...]   (default: all)
# Image names: see the *_IMAGE variables below (node.py computes the same).
# The images built from this checkout carry a tag of its own (e2e- and the
# first 8 hex digits of the SHA-256 of the checkout's real path, or
# $PODPROF_IMAGE_TAG), and so do their archives: two checkouts on one
# machine do not overwrite each other's images.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd -P)
TOOLS_DIR=${TOOLS_DIR:-$HOME/.cache/podprof}
OUT=${OUT:-$TOOLS_DIR/images}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm

BASE_IMAGE=docker.io/library/debian:bookworm
BASE_SLIM_IMAGE=docker.io/library/debian:bookworm-slim
PAUSE_IMAGE=localhost/podprof-pause:3.10
TAG=${PODPROF_IMAGE_TAG:-e2e-$(printf '%s' "$REPO" | sha256sum | cut -c1-8)}
PODPROF_IMAGE=localhost/podprof:$TAG
DEMOAPP_IMAGE=localhost/podprof-demoapp:$TAG
PYAPP_IMAGE=localhost/podprof-pyapp:$TAG

# podman runs RUN steps with the engine's default ulimits, which exceed the
# hard limits here (no CAP_SYS_RESOURCE); these stay inside them.
ULIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

mkdir -p "$OUT"

log() { echo "images: $*" >&2; }
die() {
	echo "images: $*" >&2
	exit 1
}

# timed NAME CMD... -> run CMD, report how long it took.
timed() {
	local name=$1 start
	shift
	start=$(date +%s)
	"$@"
	log "$name took $(($(date +%s) - start))s"
}

have_image() { podman image exists "$1"; }

# save IMAGE FILE -> OCI archive of IMAGE (rewritten only when the image changed).
save() {
	local image=$1 file=$OUT/$2 id
	id=$(podman image inspect --format '{{.Id}}' "$image")
	if [[ -f $file && -f $file.id && $(cat "$file.id") == "$id" ]]; then
		return
	fi
	rm -f "$file"
	podman save --format oci-archive -o "$file" "$image"
	echo "$id" >"$file.id"
	log "saved $image -> $file"
}

# The debootstrapped rootfs tarball is the slow part (minutes); keep it.
base_rootfs() {
	local tar=$OUT/debian-$SUITE-rootfs.tar
	if [[ -s $tar ]]; then
		echo "$tar"
		return
	fi
	command -v debootstrap >/dev/null || die "debootstrap missing (apt-get install debootstrap)"
	local dir
	dir=$(mktemp -d /var/tmp/podprof-debootstrap.XXXXXX)
	# shellcheck disable=SC2064 # expand now: dir is local
	trap "rm -rf '$dir'" RETURN
	log "debootstrap $SUITE from $MIRROR (first time only)"
	timed debootstrap debootstrap --variant=minbase "$SUITE" "$dir" "$MIRROR" >&2
	rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
	tar --numeric-owner -C "$dir" -cf "$tar.tmp" .
	mv "$tar.tmp" "$tar"
	echo "$tar"
}

build_base() {
	if have_image "$BASE_IMAGE" && have_image "$BASE_SLIM_IMAGE"; then
		log "base $BASE_IMAGE present"
		return
	fi
	local tar
	tar=$(base_rootfs)
	podman import --change 'CMD ["/bin/bash"]' "$tar" "$BASE_IMAGE" >/dev/null
	# One minbase rootfs serves as both: "slim" upstream is the same Debian
	# with docs trimmed, which does not matter to the tests.
	podman tag "$BASE_IMAGE" "$BASE_SLIM_IMAGE"
	log "imported $BASE_IMAGE and $BASE_SLIM_IMAGE"
}

build_pause() {
	local ctx
	ctx=$(mktemp -d)
	# shellcheck disable=SC2064
	trap "rm -rf '$ctx'" RETURN
	gcc -static -O2 -Wall -Wextra -Werror -o "$ctx/pause" "$HERE/pause.c"
	printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$ctx/Containerfile"
	podman build -q "${ULIMITS[@]}" --pull=never -t "$PAUSE_IMAGE" -f "$ctx/Containerfile" "$ctx" >/dev/null
	save "$PAUSE_IMAGE" pause.oci.tar
}

build_podprof() {
	have_image "$BASE_IMAGE" || build_base
	# --network host: the build stage's apt-get reaches Debian's mirror the
	# same way the host does, without a container network in between.
	timed "podprof image" podman build "${ULIMITS[@]}" --pull=never --network host \
		-t "$PODPROF_IMAGE" -f "$REPO/Dockerfile" "$REPO" >&2
	save "$PODPROF_IMAGE" "podprof-$TAG.oci.tar"
}

build_demoapp() {
	have_image "$BASE_IMAGE" || build_base
	local ctx
	ctx=$(mktemp -d)
	# shellcheck disable=SC2064
	trap "rm -rf '$ctx'" RETURN
	# Compiled on the host (Debian bookworm, same libc as the base image) so
	# the image needs no compiler; frame pointers keep user stacks unwindable.
	gcc -O2 -g -fno-omit-frame-pointer -Wall -Wextra -Werror -o "$ctx/demoapp" \
		"$REPO/e2e/workloads/demoapp.c"
	gcc -O1 -g -fno-omit-frame-pointer -pthread -Wall -Wextra -Werror -o "$ctx/offcpu" \
		"$REPO/e2e/workloads/offcpu.c"
	printf 'FROM %s\nCOPY demoapp offcpu /usr/local/bin/\nUSER 65534:65534\nENTRYPOINT ["/usr/local/bin/demoapp"]\n' \
		"$BASE_IMAGE" >"$ctx/Containerfile"
	podman build -q "${ULIMITS[@]}" --pull=never -t "$DEMOAPP_IMAGE" -f "$ctx/Containerfile" "$ctx" >/dev/null
	save "$DEMOAPP_IMAGE" "demoapp-$TAG.oci.tar"
}

build_pyapp() {
	have_image "$BASE_IMAGE" || build_base
	[[ -x /usr/bin/python3.11 ]] || die "python3.11 missing (apt-get install python3.11)"
	local ctx
	ctx=$(mktemp -d)
	# shellcheck disable=SC2064
	trap "rm -rf '$ctx'" RETURN
	# The host is Debian bookworm like the base: its interpreter runs there
	# unchanged. Only the modules the workload imports matter; the big
	# optional parts of the standard library stay out.
	mkdir -p "$ctx/lib"
	cp /usr/bin/python3.11 "$ctx/python3.11"
	cp -L /lib/x86_64-linux-gnu/libexpat.so.1 "$ctx/lib/"
	tar -C /usr/lib -cf "$ctx/stdlib.tar" --exclude=test --exclude=__pycache__ --exclude=idlelib \
		--exclude=tkinter --exclude=lib2to3 --exclude=ensurepip --exclude=site-packages \
		--exclude=dist-packages python3.11
	cp "$REPO/e2e/workloads/pywork.py" "$ctx/pywork.py"
	printf '%s\n' "FROM $BASE_IMAGE" 'COPY python3.11 /usr/bin/python3.11' \
		'COPY lib/ /usr/lib/x86_64-linux-gnu/' 'ADD stdlib.tar /usr/lib/' \
		'COPY pywork.py /app/pywork.py' 'USER 65534:65534' \
		'ENTRYPOINT ["/usr/bin/python3.11", "/app/pywork.py"]' >"$ctx/Containerfile"
	podman build -q "${ULIMITS[@]}" --pull=never -t "$PYAPP_IMAGE" -f "$ctx/Containerfile" "$ctx" >/dev/null
	save "$PYAPP_IMAGE" "pyapp-$TAG.oci.tar"
}

command -v podman >/dev/null || die "podman missing (apt-get install podman)"
what=("$@")
((${#what[@]})) || what=(base pause podprof demoapp pyapp)
for w in "${what[@]}"; do
	case $w in
	base) build_base ;;
	pause) build_pause ;;
	podprof) build_podprof ;;
	demoapp) build_demoapp ;;
	pyapp) build_pyapp ;;
	*) die "unknown image '$w' (base pause podprof demoapp pyapp)" ;;
	esac
done

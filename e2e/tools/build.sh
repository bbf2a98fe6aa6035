#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build.sh -- build the Go-based test tools once into $TOOLS_DIR/bin.
#
# kube-apiserver and kubectl come from k8s.io/kubernetes through the wrapper
# module in this folder (its replace lines map the staging modules to their
# published tags); etcd through the wrapper module in etcd/ (etcd's own
# go.mod uses ../ replaces); MinIO (the S3 server, it checks SigV4) and helm
# straight from the Go module proxy at pinned versions. Each tool gets a
# stamp file holding its pin and the hash of the files that pin it, so a
# second run is a no-op and bumping a pin rebuilds just that tool.
#
# Usage: TOOLS_DIR=~/.cache/podprof e2e/tools/build.sh [tool...]
#   tools: kube etcd minio helm (default: these four); node (kubelet,
#   kube-controller-manager, kube-scheduler, kube-proxy) only when named
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLS_DIR=${TOOLS_DIR:-$HOME/.cache/podprof}
BIN=$TOOLS_DIR/bin
STAMPS=$BIN/.stamps

KUBE_VERSION=v1.34.4
ETCD_VERSION=v3.5.21
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
HELM_VERSION=v3.19.0
# Oldest Go that builds all of the above (k8s 1.34 and MinIO need 1.24).
GO_MIN=1.24

export PATH=$PATH:/usr/local/go/bin
export CGO_ENABLED=${CGO_ENABLED:-0}
export GOFLAGS=${GOFLAGS:--mod=mod}

mkdir -p "$BIN" "$STAMPS"

die() {
	echo "tools: $*" >&2
	exit 1
}

check_go() {
	command -v go >/dev/null 2>&1 || die "no Go toolchain on PATH (need >= $GO_MIN)"
	local v
	v=$(go env GOVERSION | sed 's/^go//')
	# sort -V puts the smaller version first; anything older than GO_MIN fails.
	if [[ $(printf '%s\n%s\n' "$GO_MIN" "$v" | sort -V | head -n1) != "$GO_MIN" ]]; then
		die "Go $v is too old, need >= $GO_MIN (e.g. the tarball from go.dev/dl into /usr/local/go)"
	fi
}

# stamp_of NAME PIN FILES... -> the text written to the stamp after a build.
stamp_of() {
	local pin=$1
	shift
	if (($#)); then
		echo "$pin $(cat "$@" | sha256sum | cut -d' ' -f1)"
	else
		echo "$pin"
	fi
}

# up_to_date NAME STAMP BINARIES... -> 0 when every binary exists and the
# stamp matches.
up_to_date() {
	local name=$1 stamp=$2
	shift 2
	local b
	for b in "$@"; do
		[[ -x $BIN/$b ]] || return 1
	done
	[[ -f $STAMPS/$name && $(cat "$STAMPS/$name") == "$stamp" ]]
}

# timed NAME CMD... -> runs CMD and reports the wall time it took.
timed() {
	local name=$1 start end
	shift
	start=$(date +%s)
	"$@"
	end=$(date +%s)
	echo "tools: built $name in $((end - start))s"
}

build_kube() {
	local stamp
	stamp=$(stamp_of "$KUBE_VERSION" "$HERE/go.mod" "$HERE/go.sum")
	if up_to_date kube "$stamp" kube-apiserver kubectl; then
		echo "tools: kube-apiserver, kubectl $KUBE_VERSION cached"
		return
	fi
	echo "tools: building kube-apiserver and kubectl $KUBE_VERSION (first time: about 6-12 min on 2 cores)"
	(cd "$HERE" && timed "kube-apiserver+kubectl" go build -trimpath \
		-ldflags="-s -w $(kube_version_ldflags)" -o "$BIN/" \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl)
	echo "$stamp" >"$STAMPS/kube"
}

# kube_version_ldflags: the version variables are normally set by the
# Kubernetes release build; without them /version says v0.0.0, helm's
# kubeVersion checks fail and the kubelet reports a bogus version.
kube_version_ldflags() {
	local minor=${KUBE_VERSION#v1.}
	minor=${minor%%.*}
	local v="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
	v+=" -X k8s.io/component-base/version.gitMajor=1"
	v+=" -X k8s.io/component-base/version.gitMinor=$minor"
	v+=" -X k8s.io/component-base/version.gitTreeState=clean"
	v+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
	v+=" -X k8s.io/client-go/pkg/version.gitMajor=1"
	v+=" -X k8s.io/client-go/pkg/version.gitMinor=$minor"
	echo "$v"
}

# ---- node components (real-cluster suite, e2e/cluster) ----------------------
# kubelet, kube-controller-manager, kube-scheduler and kube-proxy from the same
# pinned module as kube-apiserver. Not in the default tool list: only the
# real-cluster suite (`make test-cluster`) asks for them. Own stamp "node".
NODE_BINARIES=(kubelet kube-controller-manager kube-scheduler kube-proxy)

build_node() {
	local stamp
	stamp=$(stamp_of "$KUBE_VERSION" "$HERE/go.mod" "$HERE/go.sum")
	if up_to_date node "$stamp" "${NODE_BINARIES[@]}"; then
		echo "tools: ${NODE_BINARIES[*]} $KUBE_VERSION cached"
		return
	fi
	echo "tools: building ${NODE_BINARIES[*]} $KUBE_VERSION (first time: about 6-12 min on 2 cores)"
	local pkgs=() b
	for b in "${NODE_BINARIES[@]}"; do
		pkgs+=("k8s.io/kubernetes/cmd/$b")
	done
	(cd "$HERE" && timed "${NODE_BINARIES[*]}" go build -trimpath \
		-ldflags="-s -w $(kube_version_ldflags)" -o "$BIN/" "${pkgs[@]}")
	echo "$stamp" >"$STAMPS/node"
}
# ---- end of node components --------------------------------------------------

build_etcd() {
	local stamp
	stamp=$(stamp_of "$ETCD_VERSION" "$HERE/etcd/go.mod" "$HERE/etcd/go.sum")
	if up_to_date etcd "$stamp" etcd; then
		echo "tools: etcd $ETCD_VERSION cached"
		return
	fi
	echo "tools: building etcd $ETCD_VERSION"
	(cd "$HERE/etcd" && timed etcd go build -trimpath -ldflags="-s -w" \
		-o "$BIN/etcd" go.etcd.io/etcd/server/v3)
	echo "$stamp" >"$STAMPS/etcd"
}

# go_install NAME BINARY PKG VERSION: modules whose go.mod has no replace
# lines install straight from the proxy, pinned by their own go.sum.
go_install() {
	local name=$1 binary=$2 pkg=$3 version=$4 stamp
	stamp=$(stamp_of "$version")
	if up_to_date "$name" "$stamp" "$binary"; then
		echo "tools: $name $version cached"
		return
	fi
	echo "tools: building $name $version"
	# go install ignores -mod, and -o is not available to it.
	GOFLAGS= GOBIN="$BIN" timed "$name" go install -trimpath -ldflags="-s -w" "$pkg@$version"
	echo "$stamp" >"$STAMPS/$name"
}

check_go
tools=("$@")
((${#tools[@]})) || tools=(kube etcd minio helm)
for t in "${tools[@]}"; do
	case $t in
	kube) build_kube ;;
	etcd) build_etcd ;;
	minio) go_install minio minio github.com/minio/minio "$MINIO_VERSION" ;;
	helm) go_install helm helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" ;;
	node) build_node ;;
	*) die "unknown tool '$t' (kube etcd minio helm node)" ;;
	esac
done

# SPDX-License-Identifier: Apache-2.0
# podprof image: podprof-operator, podprof-worker and the kubectl-podprof plugin
# in one slim Debian image.
#
# Build:  docker build -t podprof:dev .     (or: podman build -t podprof:dev .)
# The build steps live in scripts/build-image.sh, which `make test` runs on
# the host (`--check`) so this recipe keeps working without a container engine.

# ---- build stage: compilers and headers, never shipped --------------------
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/build-image.sh scripts/build-image.sh
RUN scripts/build-image.sh deps
COPY . .
RUN scripts/build-image.sh build /out

# ---- runtime stage: the binaries and the packages of their libraries ----------
FROM debian:bookworm-slim
COPY --from=build /out/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update -qq \
	&& DEBIAN_FRONTEND=noninteractive xargs -a /tmp/runtime-packages.txt \
		apt-get install -y -qq --no-install-recommends ca-certificates \
	&& rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
	&& groupadd --gid 65532 podprof \
	&& useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin podprof \
	&& mkdir -p /var/lib/podprof/spool && chown -R 65532:65532 /var/lib/podprof
# kubectl-podprof ships too, so `kubectl cp` or an init container can hand it
# to users of air-gapped clusters (krew installs it from the release archive).
COPY --from=build /out/bin/podprof-operator /out/bin/podprof-worker \
	/out/bin/kubectl-podprof /usr/local/bin/
# The operator runs as this user; the worker's DaemonSet sets runAsUser 0
# because its eBPF capabilities only take effect for root (no ambient caps).
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/podprof-operator"]
CMD ["run", "--help"]

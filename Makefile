# SPDX-License-Identifier: Apache-2.0
# podprof -- build, test, demo and bench entry points.
#
# Everything builds into $(OUT) (default build/). `make` builds both binaries,
# the BPF objects and their skeletons; `make test` installs what is missing
# (see `make deps`), then runs unit tests (plain and ASan+UBSan) and the
# integration/e2e suite against real eBPF, a real kube-apiserver and a real
# S3 server. Quiet unless V=1.

OUT        ?= build
ASAN_OUT   ?= $(OUT)/asan
TOOLS_DIR  ?= $(HOME)/.cache/podprof
CC         ?= gcc
CLANG      ?= clang
BPFTOOL    ?= bpftool
PROTOC_C   ?= protoc-c
ARCH       := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O2 \
	-fno-omit-frame-pointer
SAN_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=undefined -O1
LDLIBS      := -lbpf -lelf -ldw -lz -lcurl -ljson-c -lwebsockets -lcap -lprotobuf-c \
	$(shell pkg-config --libs yaml-0.1 libcrypto) -lpthread -lm

# Include paths per source folder: a folder sees its own headers and those
# of the layers below it, so an include that crosses the layering (lib/ using
# the operator, the hub using the reconciler, ...) fails to build.
OP_DIRS  := operator/k8s operator/hub operator/storage operator/reconcile
INC_LIB  := -Ilib -I$(OUT)/gen
INC_lib/                := $(INC_LIB)
INC_$(OUT)/gen/         := $(INC_LIB)
INC_worker/             := -Iworker -Ibpf $(INC_LIB)
INC_operator/k8s/       := -Ioperator/k8s $(INC_LIB)
INC_operator/hub/       := -Ioperator/hub $(INC_LIB)
INC_operator/storage/   := -Ioperator/storage $(INC_LIB)
INC_operator/reconcile/ := -Ioperator/reconcile -Ioperator/k8s \
	-Ioperator/storage $(INC_LIB)
INC_operator/           := -Ioperator $(addprefix -I,$(OP_DIRS)) $(INC_LIB)
INC_cli/                := -Icli -Ioperator/k8s -Ioperator/storage $(INC_LIB)
INC_tests/drivers/      := -Itests/drivers $(addprefix -I,$(OP_DIRS)) $(INC_LIB)
INC_tests/unit/         := -Itests/unit -Icli -Ioperator $(addprefix -I,$(OP_DIRS)) \
	-Iworker -Ibpf $(INC_LIB)

# Per-build-flavour settings: $(1)=output dir, $(2)=extra cflags
LIB_SRCS      := $(wildcard lib/*.c)
WORKER_SRCS   := $(filter-out worker/main.c,$(wildcard worker/*.c))
OPERATOR_SRCS := $(filter-out operator/main.c,$(wildcard operator/*.c operator/*/*.c))
CLI_SRCS      := $(filter-out cli/main.c,$(wildcard cli/*.c))
UNIT_SRCS     := $(wildcard tests/unit/*.c)
DRIVER_SRCS   := $(wildcard tests/drivers/*.c)
BPF_SRCS      := $(wildcard bpf/*.bpf.c)
PROTOS        := $(wildcard lib/*.proto)
PROTO_C       := $(patsubst lib/%.proto,$(OUT)/gen/%.pb-c.c,$(PROTOS))
PROTO_H       := $(PROTO_C:.c=.h)
SKELS         := $(patsubst bpf/%.bpf.c,$(OUT)/gen/%.skel.h,$(BPF_SRCS))
GEN_HDRS      := $(PROTO_H) $(SKELS)

.DELETE_ON_ERROR:
# Generated sources are only named as pattern-rule prerequisites; without
# this make treats them as intermediate, deletes them and rebuilds every run.
.SECONDARY: $(PROTO_C) $(PROTO_H) $(SKELS) $(SKELS:.skel.h=.bpf.o)
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin

.PHONY: install krew all asan deps tools test unit unit-asan e2e test-kernels image-check test-cluster fuzz fuzz-smoke demo bench clean format format-check vmlinux

all: $(OUT)/podprof-worker $(OUT)/podprof-operator $(OUT)/kubectl-podprof $(OUT)/podprof-testdrv

# ---- generated sources ---------------------------------------------------
$(OUT)/gen/%.pb-c.c $(OUT)/gen/%.pb-c.h: lib/%.proto
	$(call msg,PROTOC,$<)
	$(Q)mkdir -p $(OUT)/gen
	$(Q)$(PROTOC_C) --proto_path=lib --c_out=$(OUT)/gen $<

$(OUT)/gen/%.bpf.o: bpf/%.bpf.c bpf/vmlinux.h $(wildcard bpf/*.h)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(OUT)/gen
	$(Q)$(CLANG) -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) \
		-Ibpf -c $< -o $@
	$(Q)llvm-strip -g $@ 2>/dev/null || true

$(OUT)/gen/%.skel.h: $(OUT)/gen/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# vmlinux.h is checked in (CO-RE: any BTF dump compiles), so builds do not
# depend on the build host's kernel. `make vmlinux` regenerates it.
vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > bpf/vmlinux.h

# ---- C objects, one rule per flavour ----------------------------------------
# -MMD -MP: each object records the headers it read (obj/*.d, included
# below), so a changed header rebuilds exactly what uses it. The generated
# headers are order-only: they must exist before the first compile.
define flavour
$(1)/obj/%.o: %.c | $(GEN_HDRS)
	$$(call msg,CC,$$@)
	$$(Q)mkdir -p $$(dir $$@)
	$$(Q)$$(CC) $$(CFLAGS_BASE) $$(INC_$$(dir $$<)) $(2) -MMD -MP -c $$< -o $$@

$(1)/obj/gen/%.o: $(OUT)/gen/%.c | $(GEN_HDRS)
	$$(call msg,CC,$$@)
	$$(Q)mkdir -p $$(dir $$@)
	$$(Q)$$(CC) $$(CFLAGS_BASE) $$(INC_LIB) $(2) -Wno-unused-parameter -MMD -MP -c $$< -o $$@

$(1)/libcommon.a: $(patsubst %.c,$(1)/obj/%.o,$(LIB_SRCS)) $(patsubst $(OUT)/gen/%.c,$(1)/obj/gen/%.o,$(PROTO_C))
	$$(call msg,AR,$$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^

$(1)/libworker.a: $(patsubst %.c,$(1)/obj/%.o,$(WORKER_SRCS))
	$$(call msg,AR,$$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^

$(1)/liboperator.a: $(patsubst %.c,$(1)/obj/%.o,$(OPERATOR_SRCS))
	$$(call msg,AR,$$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^

$(1)/libcli.a: $(patsubst %.c,$(1)/obj/%.o,$(CLI_SRCS))
	$$(call msg,AR,$$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^

# The kubectl plugin links the operator's Kubernetes client and renderer.
$(1)/kubectl-podprof: $(1)/obj/cli/main.o $(1)/libcli.a $(1)/liboperator.a $(1)/libcommon.a
	$$(call msg,LINK,$$@)
	$$(Q)$$(CC) $(2) -o $$@ $$^ $$(LDLIBS)

$(1)/podprof-worker: $(1)/obj/worker/main.o $(1)/libworker.a $(1)/libcommon.a
	$$(call msg,LINK,$$@)
	$$(Q)$$(CC) $(2) -o $$@ $$^ $$(LDLIBS)

$(1)/podprof-operator: $(1)/obj/operator/main.o $(1)/liboperator.a $(1)/libcommon.a
	$$(call msg,LINK,$$@)
	$$(Q)$$(CC) $(2) -o $$@ $$^ $$(LDLIBS)

# Test-only: drives one operator module at a time for the e2e suite; never
# installed or put in the image.
$(1)/podprof-testdrv: $(patsubst %.c,$(1)/obj/%.o,$(DRIVER_SRCS)) $(1)/liboperator.a $(1)/libcommon.a
	$$(call msg,LINK,$$@)
	$$(Q)$$(CC) $(2) -o $$@ $$^ $$(LDLIBS)

$(1)/unit-tests: $(patsubst %.c,$(1)/obj/%.o,$(UNIT_SRCS)) $(1)/libcli.a $(1)/liboperator.a $(1)/libworker.a $(1)/libcommon.a
	$$(call msg,LINK,$$@)
	$$(Q)$$(CC) $(2) -o $$@ $$^ $$(LDLIBS)
endef

$(eval $(call flavour,$(OUT),))
$(eval $(call flavour,$(ASAN_OUT),$(SAN_FLAGS)))
-include $(sort $(shell find $(OUT) $(ASAN_OUT) -name '*.d' 2>/dev/null))

asan: $(ASAN_OUT)/podprof-worker $(ASAN_OUT)/podprof-operator $(ASAN_OUT)/kubectl-podprof \
	$(ASAN_OUT)/podprof-testdrv $(ASAN_OUT)/unit-tests

# kubectl finds plugins as kubectl-<name> on PATH.
install: all
	$(Q)install -d $(DESTDIR)$(BINDIR)
	$(Q)install -m 0755 $(OUT)/podprof-operator $(OUT)/podprof-worker $(OUT)/kubectl-podprof \
		$(DESTDIR)$(BINDIR)/

# krew archive and manifest for this build's architecture (cli/krew/podprof.yaml).
KREW_ARCH     := $(shell uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')
KREW_URI_BASE ?= file://$(abspath $(OUT))/krew
krew: $(OUT)/kubectl-podprof
	$(call msg,KREW,$(OUT)/krew)
	$(Q)rm -rf $(OUT)/krew/stage && mkdir -p $(OUT)/krew/stage
	$(Q)install -m 0755 $(OUT)/kubectl-podprof $(OUT)/krew/stage/
	$(Q)strip --strip-debug $(OUT)/krew/stage/kubectl-podprof
	$(Q)tar -C $(OUT)/krew/stage -czf $(OUT)/krew/kubectl-podprof-linux-$(KREW_ARCH).tar.gz \
		kubectl-podprof
	$(Q)sed -e 's|@ARCH@|$(KREW_ARCH)|' \
		-e 's|@URI@|$(KREW_URI_BASE)/kubectl-podprof-linux-$(KREW_ARCH).tar.gz|' \
		-e "s|@SHA256@|$$(sha256sum $(OUT)/krew/kubectl-podprof-linux-$(KREW_ARCH).tar.gz | cut -d' ' -f1)|" \
		cli/krew/podprof.yaml > $(OUT)/krew/podprof.yaml

# ---- dependencies ------------------------------------------------------------
# Installs missing Debian packages and builds the Go-based test tools
# (kube-apiserver, kubectl, etcd, S3 server) into $(TOOLS_DIR), once.
deps:
	$(Q)scripts/deps.sh

tools: deps
	$(Q)TOOLS_DIR=$(TOOLS_DIR) e2e/tools/build.sh

# ---- tests -------------------------------------------------------------------
unit: $(OUT)/unit-tests
	$(Q)$(OUT)/unit-tests

unit-asan: $(ASAN_OUT)/unit-tests
	$(Q)ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(ASAN_OUT)/unit-tests

e2e: all asan $(OUT)/unit-tests
	$(Q)TOOLS_DIR=$(TOOLS_DIR) PODPROF_BUILD=$(OUT) PODPROF_ASAN_BUILD=$(ASAN_OUT) \
		python3 -m pytest -ra -v --durations=25 e2e --ignore=e2e/test_cluster.py --ignore=e2e/test_kernels.py

# The sampler on Debian's 5.10, 6.1 and 6.12 kernels, each booted in qemu
# (TCG) with an initramfs built from this build (e2e/test_kernels.py). Kernel
# packages and the initramfs are cached in $(TOOLS_DIR)/kernels. -s: the
# per-kernel report (verifier instruction counts, paths taken, features, top
# functions) is the point of the run. KERNEL=5.10 boots only the kernels whose
# name contains that (pytest -k; 6.1 also matches 6.12).
test-kernels: all
	$(Q)scripts/deps.sh
	$(Q)TOOLS_DIR=$(TOOLS_DIR) PODPROF_BUILD=$(OUT) python3 -m pytest -ra -v -s e2e/test_kernels.py \
		$(if $(KERNEL),-k '$(KERNEL)')

# A real single-node cluster (containerd, runc, kubelet): the image built with
# podman from the Dockerfile and the chart installed with helm
# (e2e/test_cluster.py; its fixture builds the node components and images).
test-cluster: tools all
	$(Q)e2e/cluster/deps.sh
	$(Q)TOOLS_DIR=$(TOOLS_DIR) PODPROF_BUILD=$(OUT) python3 -m pytest -ra -v e2e/test_cluster.py

# libFuzzer targets (clang, ASan+UBSan) for every parser of outside input,
# built into $(OUT)/fuzz: `make fuzz` runs each for FUZZ_SECONDS (600),
# `make test` runs each for FUZZ_SMOKE_SECONDS (10).
fuzz: $(PROTO_H) $(SKELS)
	$(Q)OUT=$(OUT) fuzz/run.sh

fuzz-smoke: $(PROTO_H) $(SKELS)
	$(Q)FUZZ_SMOKE_SECONDS=$${FUZZ_SMOKE_SECONDS:-10} OUT=$(OUT) fuzz/run.sh --smoke

# The container image cannot be built without a container engine; this runs
# the Dockerfile's build steps on the host so the recipe cannot rot.
image-check:
	$(Q)scripts/build-image.sh --check

test: tools
	$(Q)$(MAKE) --no-print-directory format-check all asan
	$(Q)$(MAKE) --no-print-directory unit unit-asan
	$(Q)$(MAKE) --no-print-directory fuzz-smoke
	$(Q)$(MAKE) --no-print-directory image-check
	$(Q)$(MAKE) --no-print-directory e2e
	$(Q)$(MAKE) --no-print-directory test-kernels
	$(Q)$(MAKE) --no-print-directory test-cluster

demo: tools all
	$(Q)TOOLS_DIR=$(TOOLS_DIR) PODPROF_BUILD=$(OUT) scripts/demo.sh $(DEMO_ARGS)

bench: tools all
	$(Q)TOOLS_DIR=$(TOOLS_DIR) PODPROF_BUILD=$(OUT) bench/run.sh

format:
	$(Q)clang-format -i $$(git ls-files '*.c' '*.h' | grep -v -e '^bpf/vmlinux.h$$')

format-check:
	$(Q)clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h' | grep -v -e '^bpf/vmlinux.h$$')

clean:
	rm -rf $(OUT)

/* SPDX-License-Identifier: Apache-2.0 */
/* spec.h -- the ProfilingTarget spec as the operator uses it.
 *
 * Parsed from the object's JSON once per generation. The CRD schema already
 * enforces types, defaults and bounds; parsing re-checks them because the
 * operator must survive objects written before a schema change.
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_SPEC_H
#define PODPROF_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct label_selector;

#define SPEC_MAX_CONTAINERS   32
#define SPEC_MIN_DURATION_MS  1000
#define SPEC_MAX_DURATION_MS  3600000
#define SPEC_DEF_MIN_BLOCK_US 1000     /* spec.offcpu.minBlock default, see docs/usage.md */
#define SPEC_MAX_MIN_BLOCK_US 10000000 /* ... at most 10s */

struct target_spec {
	struct label_selector *selector;       /* owned */
	char *containers[SPEC_MAX_CONTAINERS]; /* container-name filter; none = all */
	size_t ncontainers;
	int64_t duration_ms; /* window length */
	int frequency_hz;    /* 1..1000 */
	bool kernel_stacks;
	bool frame_pointers;  /* spec.unwinder: framepointer */
	bool offcpu;	      /* spec.profile: offcpu (time off CPU, not CPU samples) */
	int64_t min_block_us; /* spec.offcpu.minBlock: shorter blocks are not counted */
	char *output_prefix;  /* optional, below the operator's prefix; no trailing '/'; owned */
	int64_t every_ms;     /* schedule.every: start of one window to the next; 0 = one window */
	uint32_t count;	      /* schedule.count: windows to run; 0 = until deleted */
};

/* Parse obj.spec into *out (zeroed first). Defaults as the CRD: 30s, 99 Hz,
 * kernel stacks on, profile cpu, minBlock 1ms. On failure *msg names the bad field. Release with
 * target_spec_release(). */
int target_spec_parse(struct json_object *spec, struct target_spec *out, const char **msg);
void target_spec_release(struct target_spec *s);

/* True when the container-name filter admits `name` (no filter: all). */
bool target_spec_wants_container(const struct target_spec *s, const char *name);

#endif

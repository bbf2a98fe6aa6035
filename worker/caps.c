/* SPDX-License-Identifier: Apache-2.0 */
/* caps.c -- libcap wrapper: keep the worker's capability set, drop everything else. */
#include "caps.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sys/capability.h>

#include "log.h"

#define MOD "caps"

static const cap_value_t keep[] = {CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH,
				   CAP_SYSLOG};

static bool in_keep(cap_value_t c)
{
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		if (keep[i] == c)
			return true;
	}
	return false;
}

static bool have(cap_t caps, cap_value_t c, cap_flag_t which)
{
	cap_flag_value_t v = CAP_CLEAR;

	return cap_get_flag(caps, c, which, &v) == 0 && v == CAP_SET;
}

int caps_drop_to_worker_set(void)
{
	cap_t cur = NULL, next = NULL;
	bool can_bound;
	int err;

	cur = cap_get_proc();
	next = cap_init();
	if (!cur || !next) {
		err = -errno;
		goto cleanup;
	}
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		if (!have(cur, keep[i], CAP_PERMITTED))
			continue;
		if (cap_set_flag(next, CAP_PERMITTED, 1, &keep[i], CAP_SET) != 0 ||
		    cap_set_flag(next, CAP_EFFECTIVE, 1, &keep[i], CAP_SET) != 0) {
			err = -errno;
			goto cleanup;
		}
	}
	/* The bounding set needs CAP_SETPCAP, so trim it before giving that up. */
	can_bound = have(cur, CAP_SETPCAP, CAP_EFFECTIVE);
	for (cap_value_t c = 0; can_bound && c < (cap_value_t)cap_max_bits(); c++) {
		if (in_keep(c) || CAP_IS_SUPPORTED(c) == 0)
			continue;
		if (cap_drop_bound(c) != 0 && errno != EINVAL) {
			err = -errno;
			log_error(MOD, "dropping capability %d from the bounding set: %s", (int)c,
				  strerror(errno));
			goto cleanup;
		}
	}
	if (!can_bound)
		log_debug(MOD, "no CAP_SETPCAP: bounding set left as is");
	if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient() != 0) {
		err = -errno;
		goto cleanup;
	}
	if (cap_set_proc(next) != 0) {
		err = -errno;
		log_error(MOD, "cap_set_proc: %s", strerror(-err));
		goto cleanup;
	}
	err = 0;
cleanup:
	if (cur)
		cap_free(cur);
	if (next)
		cap_free(next);
	return err;
}

int caps_check_sampling(void)
{
	cap_t cur = cap_get_proc();
	bool bpf, perfmon, admin;

	if (!cur)
		return -errno;
	bpf = have(cur, CAP_BPF, CAP_EFFECTIVE);
	perfmon = have(cur, CAP_PERFMON, CAP_EFFECTIVE);
	admin = have(cur, CAP_SYS_ADMIN, CAP_EFFECTIVE);
	cap_free(cur);
	if ((bpf && perfmon) || admin)
		return 0;
	log_error(MOD, "missing %s%s%s: run the worker as root or grant CAP_BPF and CAP_PERFMON",
		  bpf ? "" : "CAP_BPF", !bpf && !perfmon ? " and " : "",
		  perfmon ? "" : "CAP_PERFMON");
	return -EPERM;
}

int caps_describe(char *buf, size_t len)
{
	cap_t cur = cap_get_proc();
	char *txt;
	int err = 0;

	if (!cur)
		return -errno;
	txt = cap_to_text(cur, NULL);
	if (!txt) {
		err = -errno;
		goto cleanup;
	}
	if ((size_t)snprintf(buf, len, "%s", txt) >= len)
		err = -ENAMETOOLONG;
	cap_free(txt);
cleanup:
	cap_free(cur);
	return err;
}

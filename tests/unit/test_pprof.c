/* SPDX-License-Identifier: Apache-2.0 */
/* test_pprof.c -- profiles survive encode/merge unchanged, are deduplicated,
 * and malformed or oversized input is refused without touching the builder.
 */
#include "unit.h"
#include "pprof.h"
#include "profile.pb-c.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#define PERIOD_NS 10101010LL /* 99 Hz */
#define MAX_IN	  (64u << 20)

static const struct pprof_mapping_info app_map = {.start = 0x55550000,
						  .limit = 0x55560000,
						  .file_offset = 0x1000,
						  .filename = "/usr/bin/app",
						  .build_id = "abcdef0123"};
static const struct pprof_mapping_info libc_map = {.start = 0x7f000000,
						   .limit = 0x7f100000,
						   .file_offset = 0,
						   .filename = "/lib/libc.so.6",
						   .build_id = NULL};

#define FR(a, fn, m)                                                                               \
	{                                                                                          \
		.addr = (a), .function = (fn), .filename = NULL, .mapping = (m)                    \
	}

/* A small profile: hot (3), cold (1), a recursive stack, an unsymbolized
 * frame, and two pods in labels. */
static struct pprof_builder *sample_profile(void)
{
	struct pprof_builder *b = NULL;
	const struct pprof_frame hot[] = {FR(0x55551010, "hot", &app_map),
					  FR(0x55551200, "main", &app_map)};
	const struct pprof_frame cold[] = {FR(0x55551110, "cold", &app_map),
					   FR(0x55551200, "main", &app_map)};
	const struct pprof_frame rec[] = {
	    FR(0x55551300, "fib", &app_map), FR(0x55551310, "fib", &app_map),
	    FR(0x55551310, "fib", &app_map), FR(0x55551200, "main", &app_map)};
	const struct pprof_frame unsym[] = {FR(0x7f000123, NULL, &libc_map),
					    FR(0x55551200, "main", &app_map)};
	const struct pprof_label pod_a[] = {{.key = "pod", .str = "a"},
					    {.key = "pid", .num = 42, .num_unit = "pid"}};
	const struct pprof_label pod_b[] = {{.key = "pod", .str = "b"},
					    {.key = "pid", .num = 43, .num_unit = "pid"}};

	if (pprof_builder_new(&b, PERIOD_NS, 1700000000000000000LL))
		return NULL;
	pprof_builder_set_duration(b, 5000000000LL);
	if (pprof_builder_add(b, hot, 2, 300, pod_a, 2) ||
	    pprof_builder_add(b, hot, 2, 60, pod_b, 2) ||
	    pprof_builder_add(b, cold, 2, 100, pod_a, 2) ||
	    pprof_builder_add(b, rec, 4, 20, pod_a, 2) ||
	    pprof_builder_add(b, unsym, 2, 7, pod_b, 2)) {
		pprof_builder_free(b);
		return NULL;
	}
	return b;
}

static int find_top(const struct pprof_top_entry *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].function, name) == 0)
			return (int)i;
	return -1;
}

/* The top table names the hottest function first with correct self/total. */
UNIT_TEST(pprof_top_self_total)
{
	struct pprof_builder *b = sample_profile();
	struct pprof_top_entry *t = NULL;
	size_t n = 0;
	int i;

	CHECK(b != NULL);
	if (!b)
		return;
	CHECK_EQ_INT(pprof_builder_total(b), 487);
	CHECK_EQ_INT(pprof_builder_top(b, 10, &t, &n), 0);
	CHECK_EQ_INT(n, 5);
	CHECK_EQ_STR(t[0].function, "hot");
	CHECK_EQ_INT(t[0].self, 360);
	CHECK_EQ_INT(t[0].total, 360);
	CHECK_EQ_STR(t[1].function, "cold");
	CHECK_EQ_STR(t[2].function, "fib");
	CHECK_EQ_INT(t[2].self, 20);
	CHECK_EQ_INT(t[2].total, 20); /* recursion counts once per sample */
	CHECK_EQ_STR(t[3].function, "libc.so.6+0x123");
	CHECK_EQ_INT(t[3].self, 7);
	i = find_top(t, n, "main");
	CHECK(i >= 0);
	if (i >= 0) {
		CHECK_EQ_INT(t[i].self, 0);
		CHECK_EQ_INT(t[i].total, 487);
	}
	pprof_top_free(t, n);
	/* Asking for fewer rows truncates. */
	CHECK_EQ_INT(pprof_builder_top(b, 1, &t, &n), 0);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_STR(t[0].function, "hot");
	pprof_top_free(t, n);
	pprof_builder_free(b);
}

static void check_same_top(int *unit_failed, struct pprof_builder *x, struct pprof_builder *y)
{
	struct pprof_top_entry *a = NULL, *b = NULL;
	size_t na = 0, nb = 0;

	CHECK_EQ_INT(pprof_builder_top(x, 100, &a, &na), 0);
	CHECK_EQ_INT(pprof_builder_top(y, 100, &b, &nb), 0);
	CHECK_EQ_INT(na, nb);
	for (size_t i = 0; i < na && i < nb; i++) {
		CHECK_EQ_STR(a[i].function, b[i].function);
		CHECK_EQ_INT(a[i].self, b[i].self);
		CHECK_EQ_INT(a[i].total, b[i].total);
	}
	pprof_top_free(a, na);
	pprof_top_free(b, nb);
}

/* What the worker encodes, the operator decodes to the same totals and top. */
UNIT_TEST(pprof_round_trip)
{
	struct pprof_builder *b = sample_profile(), *m = NULL;
	void *gz = NULL, *raw = NULL;
	size_t gz_len = 0, raw_len = 0;

	CHECK(b != NULL);
	if (!b)
		return;
	CHECK_EQ_INT(pprof_builder_encode(b, true, &gz, &gz_len), 0);
	CHECK_EQ_INT(pprof_builder_encode(b, false, &raw, &raw_len), 0);
	CHECK(gz_len > 18 && ((uint8_t *)gz)[0] == 0x1f && ((uint8_t *)gz)[1] == 0x8b);
	CHECK_EQ_INT(pprof_builder_new(&m, PERIOD_NS, 0), 0);
	CHECK_EQ_INT(pprof_builder_merge(m, gz, gz_len, MAX_IN), 0);
	CHECK_EQ_INT(pprof_builder_total(m), pprof_builder_total(b));
	check_same_top(unit_failed, b, m);

	/* Merging the raw form too doubles every count, and re-encoding the
	 * merged builder is as small as the original: nothing got duplicated. */
	CHECK_EQ_INT(pprof_builder_merge(m, raw, raw_len, MAX_IN), 0);
	CHECK_EQ_INT(pprof_builder_total(m), 2 * pprof_builder_total(b));
	{
		Perftools__Profiles__Profile *p1, *p2;
		void *raw2 = NULL;
		size_t raw2_len = 0;

		CHECK_EQ_INT(pprof_builder_encode(m, false, &raw2, &raw2_len), 0);
		p1 = perftools__profiles__profile__unpack(NULL, raw_len, raw);
		p2 = perftools__profiles__profile__unpack(NULL, raw2_len, raw2);
		CHECK(p1 && p2);
		if (p1 && p2) {
			CHECK_EQ_INT(p2->n_sample, p1->n_sample);
			CHECK_EQ_INT(p2->n_location, p1->n_location);
			CHECK_EQ_INT(p2->n_function, p1->n_function);
			CHECK_EQ_INT(p2->n_mapping, p1->n_mapping);
			CHECK_EQ_INT(p2->n_string_table, p1->n_string_table);
			CHECK_EQ_INT(p2->time_nanos, 1700000000000000000LL);
			CHECK_EQ_INT(p2->duration_nanos, 5000000000LL);
			CHECK_EQ_INT(p2->period, PERIOD_NS);
		}
		perftools__profiles__profile__free_unpacked(p1, NULL);
		perftools__profiles__profile__free_unpacked(p2, NULL);
		free(raw2);
	}
	free(gz);
	free(raw);
	pprof_builder_free(m);
	pprof_builder_free(b);
}

static const char *pstr(const Perftools__Profiles__Profile *p, int64_t i)
{
	return i >= 0 && (size_t)i < p->n_string_table ? p->string_table[i] : "<bad>";
}

/* The encoded profile has unique strings/functions/locations/mappings, the
 * fixed sample types, period, and labels with units. */
UNIT_TEST(pprof_encoded_dedup)
{
	struct pprof_builder *b = sample_profile();
	Perftools__Profiles__Profile *p = NULL;
	void *raw = NULL;
	size_t len = 0;

	CHECK(b != NULL);
	if (!b)
		return;
	CHECK_EQ_INT(pprof_builder_encode(b, false, &raw, &len), 0);
	p = perftools__profiles__profile__unpack(NULL, len, raw);
	CHECK(p != NULL);
	if (!p)
		goto out;
	CHECK_EQ_STR(p->string_table[0], "");
	for (size_t i = 0; i < p->n_string_table; i++)
		for (size_t j = i + 1; j < p->n_string_table; j++)
			CHECK(strcmp(p->string_table[i], p->string_table[j]) != 0);
	/* hot/cold/fib/main; main's location shared by every stack; the two
	 * fib return addresses differ, the two recursive frames share one. */
	CHECK_EQ_INT(p->n_function, 4);
	CHECK_EQ_INT(p->n_location, 6);
	CHECK_EQ_INT(p->n_mapping, 2);
	CHECK_EQ_INT(p->n_sample, 5);
	CHECK_EQ_INT(p->n_sample_type, 2);
	CHECK_EQ_STR(pstr(p, p->sample_type[0]->type), "samples");
	CHECK_EQ_STR(pstr(p, p->sample_type[0]->unit), "count");
	CHECK_EQ_STR(pstr(p, p->sample_type[1]->type), "cpu");
	CHECK_EQ_STR(pstr(p, p->sample_type[1]->unit), "nanoseconds");
	CHECK(p->period_type != NULL);
	if (p->period_type)
		CHECK_EQ_STR(pstr(p, p->period_type->type), "cpu");
	CHECK_EQ_INT(p->period, PERIOD_NS);
	for (size_t i = 0; i < p->n_sample; i++) {
		CHECK_EQ_INT(p->sample[i]->n_value, 2);
		CHECK_EQ_INT(p->sample[i]->value[1], p->sample[i]->value[0] * PERIOD_NS);
		CHECK_EQ_INT(p->sample[i]->n_label, 2);
	}
	for (size_t i = 0; i < p->n_location; i++) {
		const Perftools__Profiles__Location *l = p->location[i];

		CHECK(l->mapping_id >= 1 && l->mapping_id <= p->n_mapping);
		for (size_t j = i + 1; j < p->n_location; j++)
			CHECK(l->address != p->location[j]->address ||
			      l->mapping_id != p->location[j]->mapping_id);
		if (l->address == 0x7f000123) {
			CHECK_EQ_INT(l->n_line, 0); /* unsymbolized keeps the address */
			CHECK_EQ_STR(pstr(p, p->mapping[l->mapping_id - 1]->filename),
				     "/lib/libc.so.6");
		}
	}
	for (size_t i = 0; i < p->n_mapping; i++) {
		const Perftools__Profiles__Mapping *m = p->mapping[i];

		if (strcmp(pstr(p, m->filename), "/usr/bin/app") == 0) {
			CHECK_EQ_STR(pstr(p, m->build_id), "abcdef0123");
			CHECK_EQ_INT(m->file_offset, 0x1000);
			CHECK(m->has_functions);
		} else {
			CHECK(!m->has_functions);
		}
	}
	for (size_t i = 0; i < p->sample[0]->n_label; i++) {
		const Perftools__Profiles__Label *l = p->sample[0]->label[i];

		if (strcmp(pstr(p, l->key), "pid") == 0) {
			CHECK_EQ_INT(l->num, 42);
			CHECK_EQ_STR(pstr(p, l->num_unit), "pid");
		} else {
			CHECK_EQ_STR(pstr(p, l->key), "pod");
			CHECK_EQ_STR(pstr(p, l->str), "a");
		}
	}
out:
	perftools__profiles__profile__free_unpacked(p, NULL);
	free(raw);
	pprof_builder_free(b);
}

/* Identical stack + labels merge; labels given in another order count as
 * the same; a different label value is a separate sample. */
UNIT_TEST(pprof_identical_samples_merge)
{
	struct pprof_builder *b = NULL;
	const struct pprof_frame st[] = {FR(0x1000, "f", NULL)};
	const struct pprof_label l1[] = {{.key = "pod", .str = "a"}, {.key = "comm", .str = "x"}};
	const struct pprof_label l2[] = {{.key = "comm", .str = "x"}, {.key = "pod", .str = "a"}};
	const struct pprof_label l3[] = {{.key = "comm", .str = "y"}, {.key = "pod", .str = "a"}};
	Perftools__Profiles__Profile *p;
	void *raw = NULL;
	size_t len = 0;

	CHECK_EQ_INT(pprof_builder_new(&b, 1000, 0), 0);
	CHECK_EQ_INT(pprof_builder_add(b, st, 1, 2, l1, 2), 0);
	CHECK_EQ_INT(pprof_builder_add(b, st, 1, 3, l2, 2), 0);
	CHECK_EQ_INT(pprof_builder_add(b, st, 1, 4, l3, 2), 0);
	CHECK_EQ_INT(pprof_builder_add(b, st, 1, 0, l3, 2), 0);
	CHECK(pprof_builder_add(b, st, 1, -1, l3, 2) < 0);
	CHECK_EQ_INT(pprof_builder_total(b), 9);
	CHECK_EQ_INT(pprof_builder_encode(b, false, &raw, &len), 0);
	p = perftools__profiles__profile__unpack(NULL, len, raw);
	CHECK(p != NULL);
	if (p) {
		CHECK_EQ_INT(p->n_sample, 2);
		CHECK_EQ_INT(p->sample[0]->value[0], 5);
		CHECK_EQ_INT(p->sample[0]->value[1], 5000);
		CHECK_EQ_INT(p->sample[1]->value[0], 4);
		CHECK_EQ_INT(p->n_location, 1);
	}
	perftools__profiles__profile__free_unpacked(p, NULL);
	free(raw);
	pprof_builder_free(b);
}

/* 100k distinct stacks (plus repeats) build, encode and merge back: no
 * quadratic behaviour, no lost samples. */
UNIT_TEST(pprof_many_stacks)
{
	struct pprof_builder *b = NULL, *m = NULL;
	void *gz = NULL;
	size_t len = 0;
	char name[32];

	CHECK_EQ_INT(pprof_builder_new(&b, 1000, 0), 0);
	for (int i = 0; i < 100000; i++) {
		struct pprof_frame st[3] = {FR(0x10000 + (uint64_t)i * 16, name, &app_map),
					    FR(0x900000 + (uint64_t)(i % 97), "mid", &app_map),
					    FR(0x1, "root", NULL)};

		snprintf(name, sizeof(name), "fn%d", i % 5000);
		if (pprof_builder_add(b, st, 3, 1 + (i & 1), NULL, 0)) {
			CHECK(0);
			break;
		}
		if (i % 10 == 0)
			pprof_builder_add(b, st, 3, 1, NULL, 0);
	}
	CHECK_EQ_INT(pprof_builder_total(b), 150000 + 10000);
	CHECK_EQ_INT(pprof_builder_encode(b, true, &gz, &len), 0);
	CHECK_EQ_INT(pprof_builder_new(&m, 1000, 0), 0);
	CHECK_EQ_INT(pprof_builder_merge(m, gz, len, MAX_IN), 0);
	CHECK_EQ_INT(pprof_builder_total(m), 160000);
	check_same_top(unit_failed, b, m);
	free(gz);
	pprof_builder_free(m);
	pprof_builder_free(b);
}

/* ---- malformed input ------------------------------------------------------ */

/* A hand-made valid profile whose fields each case breaks in turn. */
struct crafted {
	Perftools__Profiles__Profile p;
	Perftools__Profiles__ValueType vt[2], *vtp[2];
	Perftools__Profiles__Sample s, *sp;
	uint64_t loc_ids[2];
	int64_t values[2];
	Perftools__Profiles__Label l, *lp;
	Perftools__Profiles__Mapping m, *mp;
	Perftools__Profiles__Location loc[2], *locp[2];
	Perftools__Profiles__Line ln, *lnp;
	Perftools__Profiles__Function f, *fp;
	char *strs[7];
};

static void craft_init(struct crafted *c)
{
	static char *const strs[] = {"", "samples", "count", "cpu", "nanoseconds", "f", "/bin/x"};

	memset(c, 0, sizeof(*c));
	perftools__profiles__profile__init(&c->p);
	for (int i = 0; i < 7; i++)
		c->strs[i] = strs[i];
	c->p.string_table = c->strs;
	c->p.n_string_table = 7;
	for (int i = 0; i < 2; i++) {
		perftools__profiles__value_type__init(&c->vt[i]);
		c->vt[i].type = 1 + 2 * i;
		c->vt[i].unit = 2 + 2 * i;
		c->vtp[i] = &c->vt[i];
	}
	c->p.sample_type = c->vtp;
	c->p.n_sample_type = 2;
	c->p.period = 100;
	perftools__profiles__mapping__init(&c->m);
	c->m.id = 7; /* ids need not be dense */
	c->m.filename = 6;
	c->mp = &c->m;
	c->p.mapping = &c->mp;
	c->p.n_mapping = 1;
	perftools__profiles__function__init(&c->f);
	c->f.id = 3;
	c->f.name = 5;
	c->fp = &c->f;
	c->p.function = &c->fp;
	c->p.n_function = 1;
	perftools__profiles__line__init(&c->ln);
	c->ln.function_id = 3;
	c->lnp = &c->ln;
	for (int i = 0; i < 2; i++) {
		perftools__profiles__location__init(&c->loc[i]);
		c->loc[i].id = 10 + i;
		c->loc[i].mapping_id = 7;
		c->loc[i].address = 0x400000 + i;
		c->locp[i] = &c->loc[i];
	}
	c->loc[0].line = &c->lnp;
	c->loc[0].n_line = 1;
	c->p.location = c->locp;
	c->p.n_location = 2;
	perftools__profiles__label__init(&c->l);
	c->l.key = 5;
	c->l.str = 6;
	c->lp = &c->l;
	perftools__profiles__sample__init(&c->s);
	c->loc_ids[0] = 10;
	c->loc_ids[1] = 11;
	c->s.location_id = c->loc_ids;
	c->s.n_location_id = 2;
	c->values[0] = 4;
	c->values[1] = 400;
	c->s.value = c->values;
	c->s.n_value = 2;
	c->s.label = &c->lp;
	c->s.n_label = 1;
	c->sp = &c->s;
	c->p.sample = &c->sp;
	c->p.n_sample = 1;
}

static int merge_crafted(struct pprof_builder *b, const struct crafted *c)
{
	size_t len = perftools__profiles__profile__get_packed_size(&c->p);
	uint8_t *buf = malloc(len + 1);
	int err;

	if (!buf)
		return -ENOMEM;
	perftools__profiles__profile__pack(&c->p, buf);
	err = pprof_builder_merge(b, buf, len, MAX_IN);
	free(buf);
	return err;
}

/* Out-of-range string/function/location/mapping references are refused
 * with -EINVAL and leave nothing behind; the unbroken profile merges. */
UNIT_TEST(pprof_merge_bad_ids)
{
	struct pprof_builder *b = NULL;
	struct crafted c;
	int cases = 0;

	CHECK_EQ_INT(pprof_builder_new(&b, 100, 0), 0);
	for (int i = 0;; i++) {
		craft_init(&c);
		switch (i) {
		case 0:
			c.f.name = 7;
			break; /* string past end */
		case 1:
			c.f.filename = -1;
			break; /* negative string */
		case 2:
			c.m.filename = 1000;
			break;
		case 3:
			c.l.key = 99;
			break;
		case 4:
			c.l.num_unit = 8;
			break;
		case 5:
			c.ln.function_id = 4;
			break; /* no such function */
		case 6:
			c.loc[1].mapping_id = 8;
			break; /* no such mapping */
		case 7:
			c.loc_ids[1] = 12;
			break; /* no such location */
		case 8:
			c.loc[1].id = 10;
			break; /* duplicate id */
		case 9:
			c.f.id = 0;
			break; /* id 0 is "none" */
		case 10:
			c.s.n_value = 1;
			break; /* values != types */
		case 11:
			c.strs[0] = "x";
			break; /* [0] must be "" */
		case 12:
			c.p.n_string_table = 0;
			c.f.name = 0;
			c.m.filename = 0;
			break;
		case 13:
			c.values[0] = -5;
			break; /* negative count */
		case 14:
			c.vt[0].type = 5;
			c.vt[1].type = 5;
			break; /* no known type */
		case 15:
			c.vt[1].unit = 77;
			break;
		default:
			goto done;
		}
		cases++;
		CHECK_EQ_INT(merge_crafted(b, &c), -EINVAL);
		CHECK_EQ_INT(pprof_builder_total(b), 0);
	}
done:
	CHECK_EQ_INT(cases, 16);
	craft_init(&c);
	CHECK_EQ_INT(merge_crafted(b, &c), 0);
	CHECK_EQ_INT(pprof_builder_total(b), 4);
	{
		struct pprof_top_entry *t = NULL;
		size_t n = 0;

		CHECK_EQ_INT(pprof_builder_top(b, 5, &t, &n), 0);
		CHECK(n >= 1);
		if (n >= 1) {
			CHECK_EQ_STR(t[0].function, "f");
			CHECK_EQ_INT(t[0].self, 4);
		}
		pprof_top_free(t, n);
	}
	pprof_builder_free(b);
}

static size_t gzip_bytes(const void *in, size_t len, uint8_t *out, size_t cap)
{
	z_stream zs = {0};
	size_t n = 0;

	if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	if (deflate(&zs, Z_FINISH) == Z_STREAM_END)
		n = zs.total_out;
	deflateEnd(&zs);
	return n;
}

/* Truncated, garbage and wrongly-compressed input is refused cleanly. */
UNIT_TEST(pprof_merge_malformed_bytes)
{
	struct pprof_builder *b = sample_profile(), *m = NULL;
	uint8_t *gz = NULL, *raw = NULL, junk[512];
	size_t gz_len = 0, raw_len = 0;
	int refused = 0;

	CHECK(b != NULL);
	if (!b)
		return;
	CHECK_EQ_INT(pprof_builder_encode(b, true, (void **)&gz, &gz_len), 0);
	CHECK_EQ_INT(pprof_builder_encode(b, false, (void **)&raw, &raw_len), 0);
	CHECK_EQ_INT(pprof_builder_new(&m, PERIOD_NS, 0), 0);
	/* Every truncation of the gzip form fails (the trailer has a CRC). */
	for (size_t cut = 0; cut < gz_len; cut++) {
		int err = pprof_builder_merge(m, gz, cut, MAX_IN);

		refused += err == -EINVAL;
	}
	/* Even 0 bytes fails: an empty profile lacks the "" string entry. */
	CHECK_EQ_INT(refused, gz_len);
	/* Truncated raw protobuf: either refused or (when cut at a message
	 * boundary) a smaller valid profile; never a crash. */
	for (size_t cut = 1; cut < raw_len; cut++) {
		struct pprof_builder *t = NULL;

		if (pprof_builder_new(&t, PERIOD_NS, 0))
			break;
		(void)pprof_builder_merge(t, raw, cut, MAX_IN);
		CHECK(pprof_builder_total(t) <= pprof_builder_total(b));
		pprof_builder_free(t);
	}
	/* Garbage. */
	srand(7);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand();
	junk[0] = 0x0a; /* looks like a field 1 header */
	CHECK(pprof_builder_merge(m, junk, sizeof(junk), MAX_IN) < 0);
	/* gzip magic followed by junk, and a corrupted deflate body. */
	junk[0] = 0x1f;
	junk[1] = 0x8b;
	CHECK_EQ_INT(pprof_builder_merge(m, junk, sizeof(junk), MAX_IN), -EINVAL);
	gz[gz_len / 2] ^= 0x55;
	CHECK_EQ_INT(pprof_builder_merge(m, gz, gz_len, MAX_IN), -EINVAL);
	/* A gzip of something that is not a profile. */
	{
		uint8_t out[256];
		size_t n = gzip_bytes("not a profile at all", 20, out, sizeof(out));

		CHECK(n > 0);
		CHECK(pprof_builder_merge(m, out, n, MAX_IN) < 0);
	}
	CHECK_EQ_INT(pprof_builder_total(m), 0);
	free(gz);
	free(raw);
	pprof_builder_free(m);
	pprof_builder_free(b);
}

/* Input past the size cap is refused with -E2BIG, also when compressed
 * (a gzip bomb never inflates past the cap). */
UNIT_TEST(pprof_merge_size_cap)
{
	struct pprof_builder *b = sample_profile(), *m = NULL;
	void *gz = NULL, *raw = NULL;
	size_t gz_len = 0, raw_len = 0, bomb_len;
	uint8_t *zeros = calloc(16u << 20, 1), *bomb = malloc(1u << 20);

	CHECK(b && zeros && bomb);
	if (!b || !zeros || !bomb)
		goto out;
	CHECK_EQ_INT(pprof_builder_encode(b, true, &gz, &gz_len), 0);
	CHECK_EQ_INT(pprof_builder_encode(b, false, &raw, &raw_len), 0);
	CHECK_EQ_INT(pprof_builder_new(&m, PERIOD_NS, 0), 0);
	CHECK_EQ_INT(pprof_builder_merge(m, raw, raw_len, raw_len - 1), -E2BIG);
	CHECK_EQ_INT(pprof_builder_merge(m, gz, gz_len, raw_len - 1), -E2BIG);
	CHECK_EQ_INT(pprof_builder_total(m), 0);
	CHECK_EQ_INT(pprof_builder_merge(m, gz, gz_len, raw_len), 0);
	CHECK_EQ_INT(pprof_builder_total(m), pprof_builder_total(b));
	bomb_len = gzip_bytes(zeros, 16u << 20, bomb, 1u << 20);
	CHECK(bomb_len > 0 && bomb_len < 100000);
	CHECK_EQ_INT(pprof_builder_merge(m, bomb, bomb_len, 1u << 20), -E2BIG);
out:
	free(zeros);
	free(bomb);
	free(gz);
	free(raw);
	pprof_builder_free(m);
	pprof_builder_free(b);
}

/* Writes a known profile to $PODPROF_PPROF_OUT for e2e/test_pprof_reader.py
 * (an independent reader, `go tool pprof`, must see the same names and
 * counts); without the variable it only checks the file can be encoded. */
UNIT_TEST(pprof_write_known_profile)
{
	const char *path = getenv("PODPROF_PPROF_OUT");
	struct pprof_builder *b = sample_profile();
	void *gz = NULL;
	size_t len = 0;

	CHECK(b != NULL);
	if (!b)
		return;
	CHECK_EQ_INT(pprof_builder_encode(b, true, &gz, &len), 0);
	if (path && gz) {
		FILE *f = fopen(path, "wb");

		CHECK(f != NULL);
		if (f) {
			CHECK_EQ_INT(fwrite(gz, 1, len, f), len);
			CHECK_EQ_INT(fclose(f), 0);
		}
	}
	free(gz);
	pprof_builder_free(b);
}

/* An inlined call is one Location with one Line per level, innermost
 * first; functions keep file and start line; mappings claim functions only
 * when all their locations are named, files and lines when their line
 * tables named some (a named start-up function without a line does not
 * withdraw the claim), also after a merge. */
UNIT_TEST(pprof_inline_lines_and_mapping_flags)
{
	static const struct pprof_mapping_info dw_map = {
	    .start = 0x1000, .limit = 0x2000, .filename = "/app", .has_inline_frames = true};
	static const struct pprof_line chain[] = {
	    {.function = "inl", .filename = "a.c", .line = 12, .start_line = 10},
	    {.function = "outer", .filename = "a.c", .line = 30, .start_line = 28}};
	const struct pprof_frame fr[] = {
	    {.addr = 0x1100, .lines = chain, .nlines = 2, .mapping = &dw_map},
	    {.addr = 0x1010, .function = "_start", .mapping = &dw_map},
	    {.addr = 0x7f000010, .function = "getpid", .mapping = &libc_map}};
	struct pprof_builder *b = NULL, *m = NULL;
	Perftools__Profiles__Profile *p = NULL;
	void *raw = NULL, *raw2 = NULL;
	size_t len = 0, len2 = 0;

	CHECK_EQ_INT(pprof_builder_new(&b, PERIOD_NS, 0), 0);
	CHECK_EQ_INT(pprof_builder_add(b, fr, 3, 3, NULL, 0), 0);
	CHECK_EQ_INT(pprof_builder_encode(b, false, &raw, &len), 0);
	/* Through a merge: what the operator writes keeps it all. */
	CHECK_EQ_INT(pprof_builder_new(&m, PERIOD_NS, 0), 0);
	CHECK_EQ_INT(pprof_builder_merge(m, raw, len, MAX_IN), 0);
	CHECK_EQ_INT(pprof_builder_encode(m, false, &raw2, &len2), 0);
	p = raw2 ? perftools__profiles__profile__unpack(NULL, len2, raw2) : NULL;
	CHECK(p != NULL && p->n_location == 3 && p->n_mapping == 2 && p->n_function == 4);
	if (p && p->n_location == 3 && p->n_mapping == 2 && p->n_function == 4) {
		const Perftools__Profiles__Location *l = p->location[0];
		const Perftools__Profiles__Function *f;

		CHECK_EQ_INT(l->n_line, 2);
		if (l->n_line == 2) {
			f = p->function[l->line[0]->function_id - 1];
			CHECK_EQ_STR(pstr(p, f->name), "inl");
			CHECK_EQ_STR(pstr(p, f->filename), "a.c");
			CHECK_EQ_INT(f->start_line, 10);
			CHECK_EQ_INT(l->line[0]->line, 12);
			f = p->function[l->line[1]->function_id - 1];
			CHECK_EQ_STR(pstr(p, f->name), "outer");
			CHECK_EQ_INT(l->line[1]->line, 30);
		}
		for (size_t i = 0; i < p->n_mapping; i++) {
			const Perftools__Profiles__Mapping *mp = p->mapping[i];
			bool app = strcmp(pstr(p, mp->filename), "/app") == 0;

			CHECK(mp->has_functions);
			CHECK_EQ_INT(mp->has_filenames, app);
			CHECK_EQ_INT(mp->has_line_numbers, app);
			CHECK_EQ_INT(mp->has_inline_frames, app);
		}
	}
	if (p)
		perftools__profiles__profile__free_unpacked(p, NULL);
	free(raw);
	free(raw2);
	pprof_builder_free(b);
	pprof_builder_free(m);
}

/* pprof tools read the first mapping as the main binary: the executable of
 * the most-sampled process, not a library or another process's binary. */
UNIT_TEST(pprof_first_mapping_is_main_executable)
{
	static const struct pprof_mapping_info small = {
	    .start = 0x400000, .limit = 0x401000, .filename = "/usr/bin/small"};
	const struct pprof_frame one[] = {FR(0x7f000010, "getpid", &libc_map),
					  FR(0x400010, "main", &small)};
	const struct pprof_frame two[] = {FR(0x7f000010, "getpid", &libc_map),
					  FR(0x55551010, "hot", &app_map)};
	const struct pprof_label p1[] = {{.key = "pid", .num = 1, .num_unit = "pid"}};
	const struct pprof_label p2[] = {{.key = "pid", .num = 2, .num_unit = "pid"}};
	struct pprof_builder *b = NULL;
	Perftools__Profiles__Profile *p = NULL;
	void *raw = NULL;
	size_t len = 0;

	CHECK_EQ_INT(pprof_builder_new(&b, PERIOD_NS, 0), 0);
	CHECK_EQ_INT(pprof_builder_add(b, one, 2, 5, p1, 1), 0);
	CHECK_EQ_INT(pprof_builder_add(b, two, 2, 9, p2, 1), 0);
	CHECK_EQ_INT(pprof_builder_encode(b, false, &raw, &len), 0);
	p = raw ? perftools__profiles__profile__unpack(NULL, len, raw) : NULL;
	CHECK(p && p->n_mapping == 3);
	if (p && p->n_mapping == 3)
		CHECK_EQ_STR(pstr(p, p->mapping[0]->filename), "/usr/bin/app");
	if (p)
		perftools__profiles__profile__free_unpacked(p, NULL);
	free(raw);
	pprof_builder_free(b);
}

/* Each top row names its hottest line: the line of the function with the
 * most self samples, a caller's busiest call site when it is never the
 * leaf, and nothing when the profile has no lines for it. */
UNIT_TEST(pprof_top_hottest_line)
{
	static const struct pprof_mapping_info map = {
	    .start = 0x1000, .limit = 0x9000, .filename = "/app", .has_inline_frames = true};
	static const struct pprof_line leaf_a[] = {
	    {.function = "leaf", .filename = "src/leaf.c", .line = 7, .start_line = 5},
	    {.function = "caller", .filename = "src/main.c", .line = 40, .start_line = 30}};
	static const struct pprof_line leaf_b[] = {
	    {.function = "leaf", .filename = "src/leaf.c", .line = 9, .start_line = 5}};
	static const struct pprof_line call_b[] = {
	    {.function = "caller", .filename = "src/main.c", .line = 44, .start_line = 30}};
	const struct pprof_frame s1[] = {
	    {.addr = 0x1100, .lines = leaf_a, .nlines = 2, .mapping = &map}};
	const struct pprof_frame s2[] = {
	    {.addr = 0x1200, .lines = leaf_b, .nlines = 1, .mapping = &map},
	    {.addr = 0x2200, .lines = call_b, .nlines = 1, .mapping = &map}};
	const struct pprof_frame s3[] = {{.addr = 0x3300, .function = "nolines", .mapping = &map}};
	struct pprof_builder *b = NULL;
	struct pprof_top_entry *t = NULL;
	size_t n = 0;
	int i;

	CHECK_EQ_INT(pprof_builder_new(&b, PERIOD_NS, 0), 0);
	if (!b)
		return;
	/* leaf: 5 samples at line 7 (inlined into caller at 40), 8 at line 9
	 * (called from caller's line 44); nolines: 2. */
	CHECK_EQ_INT(pprof_builder_add(b, s1, 1, 5, NULL, 0), 0);
	CHECK_EQ_INT(pprof_builder_add(b, s2, 2, 8, NULL, 0), 0);
	CHECK_EQ_INT(pprof_builder_add(b, s3, 1, 2, NULL, 0), 0);
	CHECK_EQ_INT(pprof_builder_top(b, 10, &t, &n), 0);
	i = find_top(t, n, "leaf");
	CHECK(i == 0);
	if (i >= 0) {
		CHECK_EQ_INT(t[i].self, 13);
		CHECK_EQ_STR(t[i].filename, "src/leaf.c");
		CHECK_EQ_INT(t[i].line, 9);
	}
	i = find_top(t, n, "caller");
	CHECK(i >= 0);
	if (i >= 0) {
		CHECK_EQ_INT(t[i].self, 0);
		CHECK_EQ_STR(t[i].filename, "src/main.c");
		CHECK_EQ_INT(t[i].line, 44); /* 8 samples pass there, 5 at line 40 */
	}
	i = find_top(t, n, "nolines");
	CHECK(i >= 0);
	if (i >= 0)
		CHECK(t[i].filename == NULL && t[i].line == 0);
	pprof_top_free(t, n);
	pprof_builder_free(b);
}

/* An off-CPU profile has one sample type, off_cpu/nanoseconds, keeps it
 * through a merge into an empty builder, and refuses to mix with CPU samples. */
UNIT_TEST(pprof_offcpu_kind)
{
	static const struct pprof_mapping_info app = {
	    .start = 0x1000, .limit = 0x9000, .filename = "/app"};
	const struct pprof_frame wait[] = {FR(0x1100, "wait_for_disk", &app),
					   FR(0x1200, "main", &app)};
	struct pprof_builder *b = NULL, *m = NULL, *cpu = sample_profile();
	Perftools__Profiles__Profile *p = NULL;
	void *raw = NULL, *cpu_raw = NULL;
	size_t raw_len = 0, cpu_len = 0;

	CHECK(cpu != NULL);
	CHECK_EQ_INT(pprof_builder_new(&b, 0, 0), 0);
	CHECK_EQ_INT(pprof_builder_set_offcpu(b), 0);
	CHECK(pprof_builder_is_offcpu(b));
	CHECK_EQ_INT(pprof_builder_add(b, wait, 2, 2500000000LL, NULL, 0), 0);
	CHECK_EQ_INT(pprof_builder_total(b), 2500000000LL);
	CHECK_EQ_INT(pprof_builder_encode(b, false, &raw, &raw_len), 0);
	p = perftools__profiles__profile__unpack(NULL, raw_len, raw);
	CHECK(p != NULL);
	if (p) {
		CHECK_EQ_INT(p->n_sample_type, 1);
		CHECK_EQ_STR(p->string_table[p->sample_type[0]->type], "off_cpu");
		CHECK_EQ_STR(p->string_table[p->sample_type[0]->unit], "nanoseconds");
		CHECK_EQ_INT(p->n_sample, 1);
		CHECK_EQ_INT(p->sample[0]->n_value, 1);
		CHECK_EQ_INT(p->sample[0]->value[0], 2500000000LL);
	}
	/* A builder that holds samples cannot change kind. */
	CHECK_EQ_INT(pprof_builder_set_offcpu(cpu), -EINVAL);

	CHECK_EQ_INT(pprof_builder_new(&m, 10000000, 0), 0);
	CHECK_EQ_INT(pprof_builder_merge(m, raw, raw_len, MAX_IN), 0);
	CHECK(pprof_builder_is_offcpu(m));
	CHECK_EQ_INT(pprof_builder_total(m), 2500000000LL);
	CHECK_EQ_INT(pprof_builder_encode(cpu, false, &cpu_raw, &cpu_len), 0);
	CHECK_EQ_INT(pprof_builder_merge(m, cpu_raw, cpu_len, MAX_IN), -EINVAL);
	CHECK_EQ_INT(pprof_builder_merge(cpu, raw, raw_len, MAX_IN), -EINVAL);

	perftools__profiles__profile__free_unpacked(p, NULL);
	free(raw);
	free(cpu_raw);
	pprof_builder_free(b);
	pprof_builder_free(m);
	pprof_builder_free(cpu);
}

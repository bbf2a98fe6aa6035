/* SPDX-License-Identifier: Apache-2.0 */
/* test_proto.c -- the podprof.v1 codec accepts every valid message, round-trips
 * it unchanged, and refuses each kind of malformed input with its specific
 * reason (replays the recorded frames in tests/unit/data/proto/).
 */
#include "unit.h"
#include "proto.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>

#define FRAME_CAP (PROTO_MAX_TEXT_FRAME + 16)

static char *read_frame(const char *name, size_t *len)
{
	char path[512];
	char *buf;
	FILE *f;

	snprintf(path, sizeof(path), "%s/proto/%s", unit_data_dir(), name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	buf = malloc(FRAME_CAP);
	if (buf)
		*len = fread(buf, 1, FRAME_CAP, f);
	fclose(f);
	return buf;
}

/* Files are named "<expected status>__<what>.json"; "ok" means accepted. */
UNIT_TEST(proto_recorded_frames)
{
	char dir[512];
	struct dirent *de;
	int seen_ok = 0, seen_bad = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/proto", unit_data_dir());
	d = opendir(dir);
	CHECK(d != NULL);
	if (!d)
		return;
	while ((de = readdir(d))) {
		char want[48];
		const char *sep = strstr(de->d_name, "__");
		struct proto_msg m, m2;
		struct proto_err err;
		size_t len = 0;
		char *buf;
		int rc;

		if (de->d_name[0] == '.' || !sep || (size_t)(sep - de->d_name) >= sizeof(want))
			continue;
		memcpy(want, de->d_name, (size_t)(sep - de->d_name));
		want[sep - de->d_name] = '\0';
		buf = read_frame(de->d_name, &len);
		CHECK(buf != NULL);
		if (!buf)
			continue;
		rc = proto_decode(buf, len, &m, &err);
		if (strcmp(want, "ok") == 0) {
			char *enc = NULL, *enc2 = NULL;
			size_t el = 0, el2 = 0;

			seen_ok++;
			if (rc != 0)
				fprintf(stderr, "    %s: refused (%s at '%s')\n", de->d_name,
					proto_status_str(err.status), err.field);
			CHECK_EQ_INT(rc, 0);
			/* Round trip: encode, decode, encode again gives the same bytes. */
			CHECK_EQ_INT(proto_encode(&m, &enc, &el, &err), 0);
			CHECK_EQ_INT(proto_decode(enc, el, &m2, &err), 0);
			CHECK_EQ_INT(m2.type, m.type);
			CHECK_EQ_INT(proto_encode(&m2, &enc2, &el2, &err), 0);
			CHECK_EQ_STR(enc, enc2);
			free(enc);
			free(enc2);
			proto_msg_free(&m2);
		} else {
			seen_bad++;
			if (rc == 0 || strcmp(proto_status_str(err.status), want) != 0)
				fprintf(stderr, "    %s: got rc=%d status=%s\n", de->d_name, rc,
					proto_status_str(err.status));
			CHECK(rc < 0);
			CHECK_EQ_STR(proto_status_str(err.status), want);
			CHECK_EQ_INT(m.type, PROTO_NONE);
		}
		proto_msg_free(&m);
		free(buf);
	}
	closedir(d);
	CHECK(seen_ok >= 8);
	CHECK(seen_bad >= 20);
}

UNIT_TEST(proto_attach_fields)
{
	static const char f[] =
	    "{\"v\":1,\"type\":\"attach\",\"jobId\":\"t1/2\",\"frequencyHz\":49,"
	    "\"windowMs\":1500,\"kernelStacks\":true,\"framePointers\":true,\"pods\":[{\"uid\":"
	    "\"u1\",\"namespace\":"
	    "\"ns\",\"name\":\"p1\",\"containers\":[{\"name\":\"c\",\"id\":\"containerd://"
	    "ab\"}]}]}";
	struct proto_attach copy;
	struct proto_msg m;
	struct proto_err err;

	CHECK_EQ_INT(proto_decode(f, strlen(f), &m, &err), 0);
	CHECK_EQ_INT(m.type, PROTO_ATTACH);
	CHECK_EQ_STR(m.u.attach.job_id, "t1/2");
	CHECK_EQ_INT(m.u.attach.frequency_hz, 49);
	CHECK_EQ_INT(m.u.attach.window_ms, 1500);
	CHECK(m.u.attach.kernel_stacks);
	CHECK(m.u.attach.frame_pointers);
	CHECK_EQ_INT(m.u.attach.n_pods, 1);
	CHECK_EQ_STR(m.u.attach.pods[0].ns, "ns");
	CHECK_EQ_INT(m.u.attach.pods[0].n_containers, 1);
	CHECK_EQ_STR(m.u.attach.pods[0].containers[0].id, "containerd://ab");
	CHECK_EQ_INT(proto_attach_copy(&copy, &m.u.attach), 0);
	proto_msg_free(&m);
	/* The copy owns its own memory (ASan would flag a shared pointer). */
	CHECK_EQ_STR(copy.pods[0].containers[0].name, "c");
	proto_attach_free(&copy);
	proto_attach_free(NULL);
	proto_msg_free(NULL);
}

/* A frame one byte over the cap is refused before parsing. */
UNIT_TEST(proto_oversized_frame)
{
	size_t n = PROTO_MAX_TEXT_FRAME + 1;
	char *buf = malloc(n);
	struct proto_msg m;
	struct proto_err err;

	CHECK(buf != NULL);
	if (!buf)
		return;
	memset(buf, ' ', n);
	memcpy(buf, "{\"v\":1,\"type\":\"heartbeat\"}", 26);
	CHECK_EQ_INT(proto_decode(buf, n, &m, &err), -E2BIG);
	CHECK_EQ_STR(proto_status_str(err.status), "too_big");
	/* Exactly at the cap (trailing whitespace is legal JSON) is accepted. */
	CHECK_EQ_INT(proto_decode(buf, n - 1, &m, &err), 0);
	proto_msg_free(&m);
	free(buf);
}

UNIT_TEST(proto_oversized_string)
{
	char buf[2048];
	char node[PROTO_MAX_NODE_LEN + 2];
	struct proto_msg m;
	struct proto_err err;
	int n;

	memset(node, 'a', sizeof(node) - 1);
	node[sizeof(node) - 1] = '\0'; /* one over the cap */
	n = snprintf(buf, sizeof(buf),
		     "{\"v\":1,\"type\":\"hello\",\"node\":\"%s\",\"version\":\"1\"}", node);
	CHECK_EQ_INT(proto_decode(buf, (size_t)n, &m, &err), -EINVAL);
	CHECK_EQ_STR(proto_status_str(err.status), "bad_string");
	CHECK_EQ_STR(err.field, "node");
	node[sizeof(node) - 2] = '\0'; /* exactly at the cap */
	n = snprintf(buf, sizeof(buf),
		     "{\"v\":1,\"type\":\"hello\",\"node\":\"%s\",\"version\":\"1\"}", node);
	CHECK_EQ_INT(proto_decode(buf, (size_t)n, &m, &err), 0);
	proto_msg_free(&m);
}

/* Arrays over their cap are refused; the count is checked before any copy. */
UNIT_TEST(proto_huge_arrays)
{
	size_t cap = 64 * 1024;
	char *buf = malloc(cap);
	struct proto_msg m;
	struct proto_err err;
	size_t off;

	CHECK(buf != NULL);
	if (!buf)
		return;
	off = (size_t)snprintf(buf, cap,
			       "{\"v\":1,\"type\":\"progress\",\"jobId\":\"j\",\"samples\":1,"
			       "\"pods\":[");
	for (int i = 0; i <= PROTO_MAX_PODS; i++)
		off += (size_t)snprintf(buf + off, cap - off, "%s{\"uid\":\"u\",\"samples\":1}",
					i ? "," : "");
	off += (size_t)snprintf(buf + off, cap - off, "]}");
	CHECK(off < cap);
	CHECK_EQ_INT(proto_decode(buf, off, &m, &err), -EINVAL);
	CHECK_EQ_STR(proto_status_str(err.status), "too_many");
	CHECK_EQ_STR(err.field, "pods");

	off = (size_t)snprintf(buf, cap,
			       "{\"v\":1,\"type\":\"hello\",\"node\":\"n\",\"version\":"
			       "\"1\",\"capabilities\":[");
	for (int i = 0; i <= PROTO_MAX_CAPS; i++)
		off += (size_t)snprintf(buf + off, cap - off, "%s\"c%d\"", i ? "," : "", i);
	off += (size_t)snprintf(buf + off, cap - off, "]}");
	CHECK_EQ_INT(proto_decode(buf, off, &m, &err), -EINVAL);
	CHECK_EQ_STR(proto_status_str(err.status), "too_many");
	free(buf);
}

/* The sender refuses to encode what the receiver would refuse. */
UNIT_TEST(proto_encode_validates)
{
	struct proto_msg m = {.type = PROTO_ATTACH};
	struct proto_err err;
	char *out = NULL;
	size_t len;

	snprintf(m.u.attach.job_id, sizeof(m.u.attach.job_id), "j1");
	m.u.attach.frequency_hz = 5000;
	m.u.attach.window_ms = 1000;
	CHECK_EQ_INT(proto_encode(&m, &out, &len, &err), -EINVAL);
	CHECK_EQ_STR(err.field, "frequencyHz");
	CHECK(out == NULL);
	m.u.attach.frequency_hz = 99;
	CHECK_EQ_INT(proto_encode(&m, &out, &len, &err), 0);
	CHECK(out && strstr(out, "\"type\":\"attach\""));
	free(out);
	m.type = (enum proto_type)99;
	CHECK_EQ_INT(proto_encode(&m, &out, &len, &err), -EINVAL);
}

UNIT_TEST(proto_profile_header)
{
	uint8_t buf[PROTO_PROFILE_HEADER_MAX + 4];
	struct proto_profile_header h;
	struct proto_err err;
	int n;

	n = proto_profile_header_encode(buf, sizeof(buf), "tgt/7", PROTO_PROFILE_FINAL);
	CHECK_EQ_INT(n, 13);
	CHECK_EQ_INT(proto_profile_header_decode(buf, (size_t)n, &h, &err), 13);
	CHECK_EQ_STR(h.job_id, "tgt/7");
	CHECK_EQ_INT(h.flags, PROTO_PROFILE_FINAL);
	/* Truncated, bad magic, unknown flag, wrong version, oversize job id length. */
	CHECK_EQ_INT(proto_profile_header_decode(buf, 10, &h, &err), -EPROTO);
	CHECK_EQ_STR(proto_status_str(err.status), "bad_header");
	buf[5] = 0x80;
	CHECK_EQ_INT(proto_profile_header_decode(buf, (size_t)n, &h, &err), -EPROTO);
	buf[5] = 0;
	buf[4] = 2;
	CHECK_EQ_INT(proto_profile_header_decode(buf, (size_t)n, &h, &err), -EPROTO);
	CHECK_EQ_STR(proto_status_str(err.status), "bad_version");
	buf[4] = PROTO_VERSION;
	buf[6] = 0xff;
	CHECK_EQ_INT(proto_profile_header_decode(buf, sizeof(buf), &h, &err), -EPROTO);
	buf[0] = 'X';
	CHECK_EQ_INT(proto_profile_header_decode(buf, (size_t)n, &h, &err), -EPROTO);
	CHECK_EQ_INT(proto_profile_header_encode(buf, sizeof(buf), "", 0), -EINVAL);
	CHECK_EQ_INT(proto_profile_header_encode(buf, sizeof(buf), "a b", 0), -EINVAL);
	CHECK_EQ_INT(proto_profile_header_encode(buf, 8, "abc", 0), -ENOSPC);
}

/* Integer literals beyond INT64_MAX are refused, never clamped (issue 17). */
UNIT_TEST(proto_int_above_int64_refused)
{
	static const char *const bad[] = {
	    "{\"v\":1,\"type\":\"heartbeat\",\"seq\":9223372036854775808}",
	    "{\"v\":1,\"type\":\"heartbeat\",\"seq\":18446744073709551615}",
	    "{\"v\":1,\"type\":\"heartbeat\",\"seq\":99999999999999999999999}",
	};
	static const char ok[] = "{\"v\":1,\"type\":\"heartbeat\",\"seq\":9223372036854775807}";
	struct proto_msg m;
	struct proto_err err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_INT(proto_decode(bad[i], strlen(bad[i]), &m, &err), -EINVAL);
		CHECK_EQ_STR(proto_status_str(err.status), "out_of_range");
	}
	CHECK_EQ_INT(proto_decode(ok, strlen(ok), &m, &err), 0);
	CHECK(m.u.heartbeat.seq == (uint64_t)INT64_MAX);
	proto_msg_free(&m);
}

/* progress carries the worker's symbol cache and unwind table figures and
 * the job's notices; all three are optional, so old peers interoperate. */
UNIT_TEST(proto_progress_stats_and_notices)
{
	static const char old[] = "{\"v\":1,\"type\":\"progress\",\"jobId\":\"j\",\"samples\":3}";
	struct proto_msg m = {.type = PROTO_PROGRESS}, d;
	struct proto_progress *p = &m.u.progress;
	struct proto_notice notes[PROTO_MAX_NOTICES + 1];
	char big[PROTO_MAX_NOTICE_LEN + 2]; /* one byte over the cap */
	char frame[PROTO_MAX_NOTICE_LEN + 200];
	struct proto_err err;
	char *out = NULL;
	size_t len;
	int n;

	/* An older worker's progress: nothing present. */
	CHECK_EQ_INT(proto_decode(old, strlen(old), &d, &err), 0);
	CHECK(!d.u.progress.symbols.present && !d.u.progress.unwind.present);
	CHECK_EQ_INT(d.u.progress.n_notices, 0);
	proto_msg_free(&d);
	/* Not present: not sent, so an older operator sees the same message. */
	snprintf(p->job_id, sizeof(p->job_id), "j");
	CHECK_EQ_INT(proto_encode(&m, &out, &len, &err), 0);
	CHECK(out && !strstr(out, "symbols") && !strstr(out, "unwind") && !strstr(out, "notices"));
	free(out);

	p->symbols = (struct proto_symbols){.present = true,
					    .binaries = 5,
					    .bytes = 7 << 20,
					    .max_bytes = 128 << 20,
					    .hits = INT64_MAX,
					    .misses = 5,
					    .evictions = 2};
	p->unwind = (struct proto_unwind){
	    .present = true, .tables = 4, .rows = 999, .rows_capacity = 1 << 18, .evictions = 1};
	memset(notes, 0, sizeof(notes));
	for (size_t i = 0; i <= PROTO_MAX_NOTICES; i++) {
		snprintf(notes[i].code, sizeof(notes[i].code), "code_%zu", i);
		memset(notes[i].message, 'x', PROTO_MAX_NOTICE_LEN); /* exactly at the cap */
	}
	p->notices = notes;
	p->n_notices = PROTO_MAX_NOTICES;
	CHECK_EQ_INT(proto_encode(&m, &out, &len, &err), 0);
	CHECK_EQ_INT(proto_decode(out, len, &d, &err), 0);
	free(out);
	CHECK(d.u.progress.symbols.present && d.u.progress.unwind.present);
	CHECK(d.u.progress.symbols.hits == (uint64_t)INT64_MAX);
	CHECK_EQ_INT(d.u.progress.symbols.binaries, 5);
	CHECK_EQ_INT(d.u.progress.symbols.bytes, 7 << 20);
	CHECK_EQ_INT(d.u.progress.symbols.max_bytes, 128 << 20);
	CHECK_EQ_INT(d.u.progress.symbols.misses, 5);
	CHECK_EQ_INT(d.u.progress.symbols.evictions, 2);
	CHECK_EQ_INT(d.u.progress.unwind.tables, 4);
	CHECK_EQ_INT(d.u.progress.unwind.rows, 999);
	CHECK_EQ_INT(d.u.progress.unwind.rows_capacity, 1 << 18);
	CHECK_EQ_INT(d.u.progress.unwind.evictions, 1);
	CHECK_EQ_INT(d.u.progress.n_notices, PROTO_MAX_NOTICES);
	CHECK_EQ_STR(d.u.progress.notices[7].code, "code_7");
	CHECK_EQ_INT(strlen(d.u.progress.notices[7].message), PROTO_MAX_NOTICE_LEN);
	proto_msg_free(&d);

	/* One notice too many, a message one byte over, a counter over INT64_MAX,
	 * a control character: each refused by the sender as by the receiver. */
	p->n_notices = PROTO_MAX_NOTICES + 1;
	CHECK_EQ_INT(proto_encode(&m, &out, &len, &err), -EINVAL);
	CHECK_EQ_STR(proto_status_str(err.status), "too_many");
	CHECK_EQ_STR(err.field, "notices");
	p->n_notices = 1;
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	n = snprintf(frame, sizeof(frame),
		     "{\"v\":1,\"type\":\"progress\",\"jobId\":\"j\",\"samples\":1,"
		     "\"notices\":[{\"code\":\"c\",\"message\":\"%s\"}]}",
		     big);
	CHECK_EQ_INT(proto_decode(frame, (size_t)n, &d, &err), -EINVAL);
	CHECK_EQ_STR(proto_status_str(err.status), "bad_string");
	CHECK_EQ_STR(err.field, "notices[].message");
	memset(notes[0].message, 0, sizeof(notes[0].message));
	snprintf(notes[0].message, sizeof(notes[0].message), "tab\there");
	CHECK_EQ_INT(proto_encode(&m, &out, &len, &err), -EINVAL);
	CHECK_EQ_STR(proto_status_str(err.status), "bad_string");
	snprintf(notes[0].message, sizeof(notes[0].message), "fine");
	p->symbols.misses = (uint64_t)INT64_MAX + 1;
	CHECK_EQ_INT(proto_encode(&m, &out, &len, &err), -EINVAL);
	CHECK_EQ_STR(proto_status_str(err.status), "out_of_range");
	CHECK_EQ_STR(err.field, "symbols.misses");
	p->symbols.misses = 0;
	CHECK_EQ_INT(proto_encode(&m, &out, &len, &err), 0);
	free(out);
}

/* attach carries the profile kind and the off-CPU threshold; CPU is the
 * default, an unknown kind or a threshold over 10 s is refused. */
UNIT_TEST(proto_attach_offcpu)
{
	static const char head[] = "{\"v\":1,\"type\":\"attach\",\"jobId\":\"j\",\"frequencyHz\":"
				   "99,\"windowMs\":1000,\"pods\":[]";
	char f[512];
	struct proto_msg m;
	struct proto_err err;

	snprintf(f, sizeof(f), "%s}", head);
	CHECK_EQ_INT(proto_decode(f, strlen(f), &m, &err), 0);
	CHECK(!m.u.attach.offcpu);
	proto_msg_free(&m);

	snprintf(f, sizeof(f), "%s,\"profile\":\"offcpu\"}", head);
	CHECK_EQ_INT(proto_decode(f, strlen(f), &m, &err), 0);
	CHECK(m.u.attach.offcpu);
	CHECK_EQ_INT(m.u.attach.min_block_us, PROTO_DEFAULT_MIN_BLOCK_US);
	proto_msg_free(&m);

	snprintf(f, sizeof(f), "%s,\"profile\":\"offcpu\",\"minBlockUs\":250}", head);
	CHECK_EQ_INT(proto_decode(f, strlen(f), &m, &err), 0);
	CHECK_EQ_INT(m.u.attach.min_block_us, 250);
	proto_msg_free(&m);

	/* Encoding writes both back. */
	{
		struct proto_msg out = {.type = PROTO_ATTACH};
		char *enc = NULL;
		size_t len = 0;

		snprintf(out.u.attach.job_id, sizeof(out.u.attach.job_id), "j2");
		out.u.attach.frequency_hz = 99;
		out.u.attach.window_ms = 1000;
		out.u.attach.offcpu = true;
		out.u.attach.min_block_us = 5000;
		CHECK_EQ_INT(proto_encode(&out, &enc, &len, &err), 0);
		CHECK_EQ_INT(proto_decode(enc, len, &m, &err), 0);
		CHECK(m.u.attach.offcpu);
		CHECK_EQ_INT(m.u.attach.min_block_us, 5000);
		proto_msg_free(&m);
		free(enc);
	}

	snprintf(f, sizeof(f), "%s,\"profile\":\"cpu\"}", head);
	CHECK_EQ_INT(proto_decode(f, strlen(f), &m, &err), 0);
	CHECK(!m.u.attach.offcpu);
	proto_msg_free(&m);

	snprintf(f, sizeof(f), "%s,\"profile\":\"memory\"}", head);
	CHECK(proto_decode(f, strlen(f), &m, &err) < 0);
	CHECK_EQ_STR(err.field, "profile");
	snprintf(f, sizeof(f), "%s,\"profile\":\"offcpu\",\"minBlockUs\":10000001}", head);
	CHECK(proto_decode(f, strlen(f), &m, &err) < 0);
	CHECK_EQ_STR(err.field, "minBlockUs");
}

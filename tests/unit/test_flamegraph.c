/* SPDX-License-Identifier: Apache-2.0 */
/* test_flamegraph.c -- flame graph widths follow sample shares; names are escaped. */
#include "unit.h"

#include "flamegraph.h"
#include "pprof.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void add(struct pprof_builder *b, int64_t count, const char *leaf, const char *mid,
		const char *root)
{
	struct pprof_frame f[3] = {{0}};
	size_t n = 0;

	/* pprof stacks are leaf-first. */
	for (const char *names[3] = {leaf, mid, root}, **p = names; p < names + 3; p++) {
		if (!*p)
			continue;
		f[n].addr = 0x1000 + n;
		f[n].function = *p;
		n++;
	}
	pprof_builder_add(b, f, n, count, NULL, 0);
}

/* Rect geometry of the frame whose tooltip starts with `title` + " (". */
static int frame(const char *svg, const char *title, double *x, double *w, double *y)
{
	char want[256];
	const char *t, *r;

	snprintf(want, sizeof(want), "<title>%s (", title);
	t = strstr(svg, want);
	if (!t || strstr(t + 1, want))
		return -1; /* missing or ambiguous */
	r = strstr(t, "<rect ");
	if (!r || sscanf(r, "<rect x=\"%lf\" y=\"%lf\" width=\"%lf\"", x, y, w) != 3)
		return -1;
	return 0;
}

static char *render(struct pprof_builder *b, const char *title, size_t *len)
{
	void *pb = NULL;
	size_t pb_len = 0;
	char *svg = NULL;

	if (pprof_builder_encode(b, true, &pb, &pb_len))
		return NULL;
	if (flamegraph_svg(pb, pb_len, title, &svg, len))
		svg = NULL;
	free(pb);
	return svg;
}

/* Each frame's width is its share of samples; callers sit below callees. */
UNIT_TEST(flamegraph_widths_follow_shares)
{
	struct pprof_builder *b = NULL;
	double x, w, y, ya, yb, ymain;
	size_t len = 0;
	char *svg;

	CHECK_EQ_INT(pprof_builder_new(&b, 10101010, 0), 0);
	add(b, 1000, "b", "a", "main");
	add(b, 500, "c", "main", NULL);
	add(b, 200, "a", "main", NULL);
	add(b, 299, "operator<<(std::ostream&, \"x\")", "main", NULL);
	add(b, 1, "tiny", "main", NULL); /* 1 of 2000 = 0.05%: hidden */
	svg = render(b, "web & <api>", &len);
	CHECK(svg != NULL);
	if (!svg)
		goto cleanup;
	CHECK_EQ_INT(strlen(svg), len);
	/* 1180 px drawable (1200 - 2 * 10 margin). */
	CHECK_EQ_INT(frame(svg, "all", &x, &w, &y), 0);
	CHECK(x == 10.0 && w == 1180.0);
	CHECK_EQ_INT(frame(svg, "main", &x, &w, &ymain), 0);
	CHECK(w == 1180.0);
	CHECK_EQ_INT(frame(svg, "a", &x, &w, &ya), 0);
	CHECK(x == 10.0 && w == 708.0); /* 1200 of 2000 */
	CHECK_EQ_INT(frame(svg, "b", &x, &w, &yb), 0);
	CHECK(x == 10.0 && w == 590.0); /* 1000 of 2000 */
	CHECK_EQ_INT(frame(svg, "c", &x, &w, &y), 0);
	CHECK(x == 718.0 && w == 295.0); /* after a, 500 of 2000 */
	CHECK(y == ya);
	CHECK_EQ_INT(frame(svg, "operator&lt;&lt;(std::ostream&amp;, &quot;x&quot;)", &x, &w, &y),
		     0);
	CHECK(x == 1013.0 && w == 176.41); /* 299 of 2000 */
	CHECK(ymain > ya && ya > yb);	   /* root at the bottom */
	CHECK(strstr(svg, "tiny") == NULL);
	CHECK(strstr(svg, "<title>a (1200 samples, 60.00%, self 200)</title>") != NULL);
	CHECK(strstr(svg, ">web &amp; &lt;api&gt;</text>") != NULL);
	CHECK(strstr(svg, "operator<<") == NULL);
	/* The only script is the constant one; the hostile name stays text. */
	CHECK(strstr(svg, "<script") && !strstr(strstr(svg, "<script") + 1, "<script"));
	CHECK(strstr(svg, flamegraph_script) != NULL);
	CHECK(strstr(svg, "href") == NULL);
cleanup:
	free(svg);
	pprof_builder_free(b);
}

/* Control characters, invalid UTF-8 and unsymbolized frames still give valid text. */
UNIT_TEST(flamegraph_hostile_names)
{
	struct pprof_builder *b = NULL;
	struct pprof_mapping_info m = {.start = 0x400000,
				       .limit = 0x500000,
				       .file_offset = 0x1000,
				       .filename = "/usr/lib/libx.so"};
	struct pprof_frame f[2] = {{.addr = 0x401234, .mapping = &m}, {.addr = 1, .function = "r"}};
	double x, w, y;
	size_t len = 0;
	char *svg;

	CHECK_EQ_INT(pprof_builder_new(&b, 10101010, 0), 0);
	pprof_builder_add(b, f, 2, 10, NULL, 0);
	add(b, 10, "bad\x01\xff\xc3 name]]>", "r", NULL);
	add(b, 10, "caf\xc3\xa9", "r", NULL);
	svg = render(b, NULL, &len);
	CHECK(svg != NULL);
	if (!svg)
		goto cleanup;
	CHECK_EQ_INT(frame(svg, "libx.so+0x2234", &x, &w, &y), 0);
	CHECK_EQ_INT(frame(svg, "bad??? name]]&gt;", &x, &w, &y), 0);
	CHECK_EQ_INT(frame(svg, "caf\xc3\xa9", &x, &w, &y), 0);
	for (const char *p = svg; *p; p++)
		CHECK((unsigned char)*p >= 0x20 || *p == '\n');
cleanup:
	free(svg);
	pprof_builder_free(b);
}

/* An empty profile renders a valid page saying so; garbage is refused. */
UNIT_TEST(flamegraph_empty_and_garbage)
{
	struct pprof_builder *b = NULL;
	size_t len = 0;
	char *svg;

	CHECK_EQ_INT(pprof_builder_new(&b, 10101010, 0), 0);
	svg = render(b, "empty", &len);
	CHECK(svg != NULL);
	CHECK(svg && strstr(svg, "no samples in this profile") != NULL);
	CHECK(svg && strstr(svg, "<rect x=\"10") == NULL);
	free(svg);
	pprof_builder_free(b);
	CHECK(flamegraph_svg("\x1f\x8bjunkjunk", 10, NULL, &svg, &len) < 0);
	CHECK(svg == NULL);
	CHECK(flamegraph_svg("\x0a\xff\xff\xff\x0f", 5, NULL, &svg, &len) < 0);
	CHECK(svg == NULL);
}

/* The fill colour of the frame whose tooltip starts with `title` + " (". */
static int fill(const char *svg, const char *title, unsigned *r, unsigned *g, unsigned *b)
{
	char want[256];
	const char *t, *f;

	snprintf(want, sizeof(want), "<title>%s (", title);
	t = strstr(svg, want);
	f = t ? strstr(t, "fill=\"rgb(") : NULL;
	if (!f || sscanf(f, "fill=\"rgb(%u,%u,%u)", r, g, b) != 3)
		return -1;
	return 0;
}

static void encode(struct pprof_builder *b, void **pb, size_t *len)
{
	*pb = NULL;
	*len = 0;
	pprof_builder_encode(b, true, pb, len);
}

/* 3:1 before and 1:3 after: the grown function is red, the shrunk one blue,
 * their unchanged caller grey; tooltips carry the change; a legend exists. */
UNIT_TEST(flamegraph_diff_colours_by_change_of_share)
{
	struct pprof_builder *a = NULL, *b = NULL;
	void *pa = NULL, *pb = NULL;
	size_t la = 0, lb = 0, len = 0;
	unsigned r, g, bl;
	char *svg = NULL;

	CHECK_EQ_INT(pprof_builder_new(&a, 1, 0), 0);
	CHECK_EQ_INT(pprof_builder_new(&b, 1, 0), 0);
	add(a, 300, "hot_before", "main", NULL);
	add(a, 100, "hot_after", "main", NULL);
	add(b, 100, "hot_before", "main", NULL);
	add(b, 300, "hot_after", "main", NULL);
	encode(a, &pa, &la);
	encode(b, &pb, &lb);
	CHECK_EQ_INT(flamegraph_diff_svg(pa, la, pb, lb, "a -> b", &svg, &len), 0);
	CHECK(svg && len == strlen(svg));
	if (svg) {
		CHECK_EQ_INT(fill(svg, "hot_after", &r, &g, &bl), 0);
		CHECK(r == 255 && bl < 100); /* grew by 50 points: saturated red */
		CHECK_EQ_INT(fill(svg, "hot_before", &r, &g, &bl), 0);
		CHECK(bl == 255 && r < 100); /* shrank: blue */
		CHECK_EQ_INT(fill(svg, "main", &r, &g, &bl), 0);
		CHECK(r == g && g == bl); /* 100% in both: grey */
		CHECK(strstr(svg, "hot_after (300 samples, 75.00%, self 300; before 100 samples, "
				  "25.00%; change +50.00 points)") != NULL);
		CHECK(strstr(svg, "class=\"legend\"") != NULL);
		CHECK(strstr(svg, "+50.0 pts") && strstr(svg, "-50.0 pts"));
	}
	free(svg);
	svg = NULL;
	/* A profile against itself: nothing changed, everything grey. */
	CHECK_EQ_INT(flamegraph_diff_svg(pa, la, pa, la, NULL, &svg, &len), 0);
	if (svg) {
		CHECK_EQ_INT(fill(svg, "hot_after", &r, &g, &bl), 0);
		CHECK(r == g && g == bl);
	}
	free(svg);
	svg = NULL;
	/* Garbage as the baseline is refused, not drawn. */
	CHECK(flamegraph_diff_svg("nope", 4, pb, lb, NULL, &svg, &len) < 0);
	CHECK(svg == NULL);
	free(pa);
	free(pb);
	pprof_builder_free(a);
	pprof_builder_free(b);
}

/* Where the profile has lines, a frame's tooltip names its busiest source
 * line on a second line (the leaf: where the CPU was; a caller: the call
 * site); file names are escaped like frame names. */
UNIT_TEST(flamegraph_tooltip_hottest_line)
{
	static const struct pprof_line at7[] = {
	    {.function = "leaf", .filename = "src/<leaf>.c", .line = 7},
	    {.function = "main", .filename = "main.c", .line = 20}};
	static const struct pprof_line at9[] = {
	    {.function = "leaf", .filename = "src/<leaf>.c", .line = 9}};
	static const struct pprof_line from21[] = {
	    {.function = "main", .filename = "main.c", .line = 21}};
	const struct pprof_frame s1[] = {{.addr = 0x1100, .lines = at7, .nlines = 2}};
	const struct pprof_frame s2[] = {{.addr = 0x1200, .lines = at9, .nlines = 1},
					 {.addr = 0x2100, .lines = from21, .nlines = 1}};
	struct pprof_builder *b = NULL;
	size_t len = 0;
	char *svg;

	CHECK_EQ_INT(pprof_builder_new(&b, 10101010, 0), 0);
	if (!b)
		return;
	CHECK_EQ_INT(pprof_builder_add(b, s1, 1, 30, NULL, 0), 0);
	CHECK_EQ_INT(pprof_builder_add(b, s2, 2, 70, NULL, 0), 0);
	svg = render(b, "lines", &len);
	CHECK(svg != NULL);
	if (svg) {
		CHECK(
		    strstr(svg,
			   "<title>leaf (100 samples, 100.00%, self 100)\nat src/&lt;leaf&gt;.c:9 "
			   "(70 samples there)</title>") != NULL);
		CHECK(strstr(svg, "<title>main (100 samples, 100.00%, self 0)\nat main.c:21 "
				  "(70 samples there)</title>") != NULL);
		/* The root has no line. */
		CHECK(strstr(svg, "<title>all (100 samples, 100.00%, self 0)</title>") != NULL);
	}
	free(svg);
	pprof_builder_free(b);
}

/* Python frames (the worker's "[python]" mapping) are drawn blue-green, native ones warm. */
UNIT_TEST(flamegraph_python_frames_coloured_apart)
{
	struct pprof_mapping_info py = {.filename = "[python]"};
	struct pprof_mapping_info exe = {.filename = "/usr/bin/python3.11", .limit = 1 << 20};
	struct pprof_line line = {.function = "Worker.run", .filename = "w.py", .line = 7};
	struct pprof_frame f[2] = {{.addr = 0x7f0000001000,
				    .function = "Worker.run",
				    .lines = &line,
				    .nlines = 1,
				    .mapping = &py},
				   {.addr = 0x1234, .function = "Py_RunMain", .mapping = &exe}};
	struct pprof_builder *b = NULL;
	unsigned r, g, bl;
	size_t len = 0;
	char *svg;

	CHECK_EQ_INT(pprof_builder_new(&b, 10101010, 0), 0);
	CHECK_EQ_INT(pprof_builder_add(b, f, 2, 10, NULL, 0), 0);
	svg = render(b, "py", &len);
	CHECK(svg != NULL);
	if (svg) {
		CHECK_EQ_INT(fill(svg, "Worker.run", &r, &g, &bl), 0);
		CHECK(bl >= 170 && g >= 150 && r < 80);
		CHECK_EQ_INT(fill(svg, "Py_RunMain", &r, &g, &bl), 0);
		CHECK(r >= 205 && bl < 55);
	}
	free(svg);
	pprof_builder_free(b);
}

/* An off-CPU profile is drawn by blocked time and says so: tooltips in
 * milliseconds blocked, the subtitle in seconds of blocked time. */
UNIT_TEST(flamegraph_offcpu_says_blocked_time)
{
	struct pprof_builder *b = NULL;
	double x, w, y;
	size_t len = 0;
	char *svg;

	CHECK_EQ_INT(pprof_builder_new(&b, 0, 0), 0);
	CHECK_EQ_INT(pprof_builder_set_offcpu(b), 0);
	add(b, 300000000, "read", "main", NULL); /* 300 ms */
	add(b, 100000000, "nanosleep", "main", NULL);
	svg = render(b, "ns/t: blocked time (off CPU)", &len);
	CHECK(svg != NULL);
	if (!svg)
		goto cleanup;
	CHECK_EQ_INT(frame(svg, "read", &x, &w, &y), 0);
	CHECK(w == 885.0); /* 3/4 of 1180 px */
	CHECK(strstr(svg, "<title>read (300.0 ms blocked, 75.00%, self 300.0 ms)</title>") != NULL);
	CHECK(strstr(svg, "0.400 s blocked (off CPU); width = share of blocked time") != NULL);
	CHECK(strstr(svg, " samples,") == NULL && strstr(svg, " samples;") == NULL);
cleanup:
	free(svg);
	pprof_builder_free(b);
}

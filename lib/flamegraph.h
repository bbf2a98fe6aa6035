/* SPDX-License-Identifier: Apache-2.0 */
/* flamegraph.h -- render a pprof profile as a self-contained SVG flame graph.
 *
 * Written next to every uploaded profile (same key, .svg) so a user can open
 * the answer in a browser without any profiling UI. The SVG is
 * self-contained (no external fonts, links or network access): each frame is
 * a <g class="f"> holding a <title> tooltip ("function (N samples, P%, self
 * S)"), a <rect> whose width is proportional to the samples of that call
 * path, and a (truncated) label. Root at the bottom, callers below callees,
 * siblings sorted by name; frames narrower than 0.1% of the total are
 * dropped (with their callees). One constant embedded script
 * (flamegraph_script.c) adds click-to-zoom, reset, and search with
 * highlighting and the matched share; it reads names from the escaped
 * titles only, so profile contents never reach code.
 *
 * Layering: decoding and validation go through lib/pprof (pprof_builder_merge
 * and encode), and the tree is read with protobuf-c's generated
 * profile.pb-c.h, so untrusted input is checked by the same code that
 * merges worker profiles.
 *
 * Return convention: 0 on success, negative errno on failure (-EINVAL for a
 * malformed profile, -E2BIG past the size caps, -ENOMEM).
 */
#ifndef PODPROF_FLAMEGRAPH_H
#define PODPROF_FLAMEGRAPH_H

#include <stddef.h>

/* Largest accepted profile after decompression. */
#define FLAMEGRAPH_MAX_PROFILE (64u << 20)

/* Render the profile (gzip-compressed or plain protobuf, len bytes) as SVG.
 * title (may be NULL) is shown on top, XML-escaped like every function
 * name. Values are the first sample type (samples/count in podprof
 * profiles). An empty profile renders a valid SVG that says so. On success
 * *svg_out is a malloc'd NUL-terminated document of *svg_len bytes; the
 * caller frees it. On failure *svg_out is NULL. */
int flamegraph_svg(const void *pprof, size_t len, const char *title, char **svg_out,
		   size_t *svg_len);

/* Differential flame graph: the shape (widths) is `after`; each frame is
 * coloured by the change of its share of samples (the frame with its
 * callees, as a fraction of each profile's total) from `before` to `after`:
 * red where it grew, blue where it shrank, grey where it stayed, saturated
 * at the largest change shown. A legend gives the scale; each tooltip adds
 * the before samples, share and the change in percentage points. Call paths
 * only in `before` are not drawn. Same inputs, caps and ownership as
 * flamegraph_svg(). */
int flamegraph_diff_svg(const void *before, size_t before_len, const void *after, size_t after_len,
			const char *title, char **svg_out, size_t *svg_len);

/* The script embedded in every rendered SVG (flamegraph_script.c). */
extern const char flamegraph_script[];

#endif

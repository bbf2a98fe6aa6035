/* SPDX-License-Identifier: Apache-2.0 */
/* run.c -- kubectl podprof run: one window over the pods a selector matches.
 *
 * Creates a ProfilingTarget with a generated name, polls its status twice a
 * second to show progress (a redrawn bar on a terminal, plain lines
 * otherwise), and once the merged profile is stored reads it back through
 * the operator, writes it and prints the top functions. Ctrl-C (or SIGTERM)
 * deletes the target: the operator then detaches every worker, so nothing
 * keeps sampling. The target of a finished run is kept, so `top`, `fetch`
 * and `diff` can read it later.
 */
#include "cli.h"
#include "clock.h"
#include "json_path.h"

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PT_PREFIX	 "/apis/podprof.dev/v1alpha1"
#define POLL_MS		 500
#define PLAIN_EVERY_MS	 5000 /* non-TTY: a samples line at most this often */
#define BAR_WIDTH	 30
#define OWNER_LABEL	 "podprof.dev/owner"
#define CREATED_BY_LABEL "app.kubernetes.io/managed-by"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* The local user as a label value (lowercase alnum, '-', '.', '_'). */
static void owner_value(char *buf, size_t len)
{
	const struct passwd *pw = getpwuid(getuid());
	const char *u = getenv("USER");
	size_t n = 0;

	if (!u || !*u)
		u = pw ? pw->pw_name : "unknown";
	for (; *u && n + 1 < len && n < 63; u++) {
		char ch = *u;

		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		    ch == '.' || ch == '_')
			buf[n++] = ch;
		else if (ch >= 'A' && ch <= 'Z')
			buf[n++] = (char)(ch - 'A' + 'a');
	}
	while (n && !((buf[n - 1] >= 'a' && buf[n - 1] <= 'z') ||
		      (buf[n - 1] >= '0' && buf[n - 1] <= '9')))
		n--;
	buf[n] = '\0';
	if (!n)
		snprintf(buf, len, "unknown");
}

static json_object *target_json(const struct cli_opts *o)
{
	json_object *t = json_object_new_object(), *meta = json_object_new_object();
	json_object *labels = json_object_new_object(), *spec = json_object_new_object();
	json_object *sel = NULL;
	char dur[32], owner[64];

	if (!t || !meta || !labels || !spec || cli_selector_json(o->selector, &sel, NULL)) {
		json_object_put(t);
		json_object_put(meta);
		json_object_put(labels);
		json_object_put(spec);
		return NULL;
	}
	owner_value(owner, sizeof(owner));
	cli_format_duration(o->duration_ms, dur, sizeof(dur));
	json_object_object_add(t, "apiVersion", json_object_new_string("podprof.dev/v1alpha1"));
	json_object_object_add(t, "kind", json_object_new_string("ProfilingTarget"));
	json_object_object_add(meta, "generateName", json_object_new_string("podprof-run-"));
	json_object_object_add(labels, CREATED_BY_LABEL, json_object_new_string("kubectl-podprof"));
	json_object_object_add(labels, OWNER_LABEL, json_object_new_string(owner));
	json_object_object_add(meta, "labels", labels);
	json_object_object_add(t, "metadata", meta);
	json_object_object_add(spec, "selector", sel);
	json_object_object_add(spec, "duration", json_object_new_string(dur));
	json_object_object_add(spec, "frequencyHz", json_object_new_int64((int64_t)o->frequency));
	json_object_object_add(spec, "kernelStacks", json_object_new_boolean(o->kernel_stacks));
	if (o->offcpu) {
		json_object *off = json_object_new_object();

		json_object_object_add(spec, "profile", json_object_new_string("offcpu"));
		if (o->min_block)
			json_object_object_add(off, "minBlock",
					       json_object_new_string(o->min_block));
		json_object_object_add(spec, "offcpu", off);
	}
	json_object_object_add(t, "spec", spec);
	return t;
}

static json_object *jget(json_object *o, const char *a, const char *b)
{
	return json_path(o, a, b, (const char *)NULL);
}

static const char *jstr(json_object *o, const char *a, const char *b)
{
	const char *s = json_path_str(o, a, b, (const char *)NULL);

	return s ? s : "";
}

/* Length of v when it is an array, else 0 (json-c asserts on other types). */
static size_t jlen(json_object *v)
{
	return json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
}

/* What the progress line shows, read from the target's status. */
struct progress {
	char phase[32];
	char upload[32];
	char message[256];
	int nodes, attached, pods;
	int64_t samples;
	bool stored; /* profile.state Uploaded: the object can be read */
};

static void read_progress(json_object *t, struct progress *p)
{
	json_object *st = jget(t, "status", NULL), *nodes = jget(st, "nodes", NULL);

	memset(p, 0, sizeof(*p));
	snprintf(p->phase, sizeof(p->phase), "%s",
		 *jstr(st, "phase", NULL) ? jstr(st, "phase", NULL) : "Pending");
	snprintf(p->upload, sizeof(p->upload), "%s", jstr(st, "profile", "state"));
	p->stored = !strcmp(p->upload, "Uploaded");
	p->pods = json_object_get_int(jget(st, "matchedPods", NULL));
	p->samples = json_object_get_int64(jget(st, "samples", NULL));
	if (jget(st, "nodeStates", NULL)) {
		/* The counts cover every node; the nodes list stops at 256. */
		p->nodes = json_object_get_int(jget(st, "matchedNodes", NULL));
		p->attached = json_object_get_int(jget(st, "nodeStates", "Attached")) +
			      json_object_get_int(jget(st, "nodeStates", "Done"));
	} else {
		for (size_t i = 0; i < jlen(nodes); i++) {
			const char *s = jstr(json_object_array_get_idx(nodes, i), "state", NULL);

			p->nodes++;
			p->attached += !strcmp(s, "Attached") || !strcmp(s, "Done");
		}
	}
	/* The Ready condition's message says why a run failed. */
	for (size_t i = 0; i < jlen(jget(st, "conditions", NULL)); i++) {
		json_object *c = json_object_array_get_idx(jget(st, "conditions", NULL), i);

		if (!strcmp(jstr(c, "type", NULL), "Ready"))
			snprintf(p->message, sizeof(p->message), "%s", jstr(c, "message", NULL));
	}
}

static void show(const struct cli_opts *o, bool tty, const struct progress *p,
		 const struct progress *last, int64_t running_ms, bool *dirty, int64_t *last_line)
{
	int64_t win = o->duration_ms, el = running_ms < 0 ? 0 : running_ms;
	int fill = (int)(el >= win ? BAR_WIDTH : el * BAR_WIDTH / win);
	char bar[BAR_WIDTH + 1];

	if (o->quiet)
		return;
	if (tty) {
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '-', (size_t)(BAR_WIDTH - fill));
		bar[BAR_WIDTH] = '\0';
		fprintf(stderr, "\r\033[K%-9s [%s] %3lld/%llds  nodes %d/%d  pods %d  samples %lld",
			p->phase, bar, (long long)(el > win ? win : el) / 1000,
			(long long)win / 1000, p->attached, p->nodes, p->pods,
			(long long)p->samples);
		*dirty = true;
		return;
	}
	if (strcmp(p->phase, last->phase) || p->attached != last->attached ||
	    p->nodes != last->nodes || p->pods != last->pods || strcmp(p->upload, last->upload) ||
	    (int64_t)clock_mono_ms() - *last_line >= PLAIN_EVERY_MS) {
		fprintf(stderr, "%s: nodes %d/%d attached, pods %d, samples %lld%s%s\n", p->phase,
			p->attached, p->nodes, p->pods, (long long)p->samples,
			*p->upload ? ", profile " : "", p->upload);
		*last_line = (int64_t)clock_mono_ms();
	}
}

static int delete_target(struct k8s_client *c, const char *path, const char *name, bool quiet)
{
	struct k8s_api_error aerr = {0};
	int err = k8s_delete(c, path, NULL, &aerr);

	if (err && err != -ENOENT)
		fprintf(stderr, "error: could not delete profilingtarget %s: %s\n", name,
			aerr.message[0] ? aerr.message : strerror(-err));
	else if (!quiet)
		fprintf(stderr, "deleted profilingtarget %s\n", name);
	return err == -ENOENT ? 0 : err;
}

int cmd_run(struct cli_opts *o)
{
	struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
	struct k8s_client *c = NULL;
	struct k8s_api_error aerr = {0};
	json_object *t = NULL, *created = NULL, *cur = NULL;
	struct progress p = {0}, last = {0};
	char list[512], path[1024], name[256];
	bool tty = isatty(STDERR_FILENO), dirty = false;
	int64_t deadline, running_since = -1, last_line = 0;
	void *data = NULL;
	size_t len = 0;
	int rc = CLI_EXIT_FAIL, err;

	if (cli_connect(o, &c))
		goto cleanup;
	t = target_json(o);
	if (!t ||
	    k8s_build_path(list, sizeof(list), PT_PREFIX, o->ns, "profilingtargets", NULL, NULL)) {
		fprintf(stderr, "error: cannot build the ProfilingTarget\n");
		goto cleanup;
	}
	/* Handlers first, so a Ctrl-C right after the create still deletes. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	err = k8s_create(c, list, t, &created, &aerr);
	if (err) {
		fprintf(stderr, "error: cannot create a ProfilingTarget in namespace %s: %s\n",
			o->ns, aerr.message[0] ? aerr.message : strerror(-err));
		goto restore;
	}
	snprintf(name, sizeof(name), "%s", jstr(created, "metadata", "name"));
	if (k8s_build_path(path, sizeof(path), PT_PREFIX, o->ns, "profilingtargets", name, NULL))
		goto restore;
	if (!o->quiet && o->offcpu)
		fprintf(stderr,
			"profilingtarget %s/%s created: %s for %llds, off CPU (blocks from "
			"%s)\n",
			o->ns, name, o->selector, (long long)o->duration_ms / 1000,
			o->min_block ? o->min_block : "1ms");
	else if (!o->quiet)
		fprintf(stderr, "profilingtarget %s/%s created: %s for %llds at %lu Hz\n", o->ns,
			name, o->selector, (long long)o->duration_ms / 1000, o->frequency);
	deadline =
	    (int64_t)clock_mono_ms() + (o->timeout_ms ? o->timeout_ms : o->duration_ms + 120000);
	for (;;) {
		struct timespec ts = {0, POLL_MS * 1000000L};

		if (interrupted)
			break;
		json_object_put(cur);
		cur = NULL;
		err = k8s_get(c, path, &cur, &aerr);
		if (err == -ENOENT) {
			fprintf(stderr, "%serror: profilingtarget %s was deleted\n",
				dirty ? "\n" : "", name);
			goto restore;
		}
		if (!err) {
			read_progress(cur, &p);
			if (running_since < 0 && strcmp(p.phase, "Pending"))
				running_since = (int64_t)clock_mono_ms();
			show(o, tty, &p, &last,
			     running_since < 0 ? 0 : (int64_t)clock_mono_ms() - running_since,
			     &dirty, &last_line);
			last = p;
			if (!strcmp(p.phase, "Failed") ||
			    (!strcmp(p.phase, "Succeeded") && p.stored) ||
			    !strcmp(p.upload, "Failed"))
				break;
		}
		if ((int64_t)clock_mono_ms() >= deadline) {
			fprintf(
			    stderr, "%serror: no stored profile after %llds; giving up\n",
			    dirty ? "\n" : "",
			    (long long)(o->timeout_ms ? o->timeout_ms : o->duration_ms + 120000) /
				1000);
			goto delete;
		}
		nanosleep(&ts, NULL); /* a signal cuts it short */
	}
	if (dirty)
		fputc('\n', stderr);
	if (interrupted) {
		rc = CLI_EXIT_INTERRUPTED;
		fprintf(stderr, "interrupted: stopping the run\n");
		goto delete;
	}
	if (strcmp(p.phase, "Succeeded") || !p.stored) {
		fprintf(stderr, "error: run %s failed: %s\n", name,
			*p.message ? p.message : "the profile could not be stored");
		goto restore;
	}
	err = cli_fetch_profile(c, o, name, o->output ? o->output : ".", &data, &len);
	if (!err)
		err = cli_print_top(data, len, o->lines);
	if (!err)
		rc = CLI_EXIT_OK;
	goto restore;
	delete : delete_target(c, path, name, o->quiet);
restore:
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
cleanup:
	free(data);
	json_object_put(cur);
	json_object_put(created);
	json_object_put(t);
	k8s_client_free(c);
	return rc;
}

// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "enginetest.h"
#include "nstest.h"
#include "state/journal.h"

void etest_open(struct etest *t)
{
	char err[512];

	memset(t, 0, sizeof(*t));
	strcpy(t->dir, "/tmp/ovl-engine-req-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->wg_dir, sizeof(t->wg_dir), "%s/wg", t->dir);
	assert_int_equal(mkdir(t->wg_dir, 0700), 0);
	struct engine_config cfg = {
		.data_dir = t->dir,
		.dns = { .threads = 1, .resolv_conf = "/nonexistent" }, /* no upstream: nothing leaves */
		.dp = { .wg_sock_dir = t->wg_dir, .no_unmanaged = true },
	};
	if (engine_open(&cfg, &t->e, err, sizeof(err)) < 0)
		fail_msg("engine_open: %s", err);
	assert_int_equal(nl_open(&t->nl), 0);
}

static int leftover_cb(const struct nl_link *l, void *arg)
{
	int *left = arg;

	if (!strncmp(l->name, "zl-", 3) || !strncmp(l->name, "veth-", 5)) {
		fprintf(stderr, "teardown left %s behind\n", l->name);
		(*left)++;
	}
	return 0;
}

bool etest_close(struct etest *t)
{
	char cmd[128];
	int left = 0, err;

	/* Everything is released before any verdict, so the next test starts clean. */
	engine_teardown(t->e);
	err = nl_link_list(t->nl, leftover_cb, &left);
	engine_close(t->e);
	nl_close(t->nl);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	return system(cmd) == 0 && err == 0 && left == 0;
}

int etest_fixture_setup(void **state)
{
	struct etest *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	if (nstest_active)
		etest_open(t);
	*state = t;
	return 0;
}

int etest_fixture_teardown(void **state)
{
	struct etest *t = *state;
	bool clean = !nstest_active || etest_close(t);

	free(t);
	return clean ? 0 : -1;
}

void etest_call(struct etest *t, const struct ovl_request *q, struct ovl_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	engine_handle(t->e, q, resp);
}

void etest_ok(struct etest *t, const struct ovl_request *q)
{
	struct ovl_response r;

	etest_call(t, q, &r);
	if (r.result == OVL_RES_ERR)
		fail_msg("%s: %s", ovl_op_name(q->op), r.message);
	ovl_response_free(&r);
}

void etest_refused(struct etest *t, const struct ovl_request *q, const char *why)
{
	struct ovl_response r;
	char *before = etest_snapshot(t), *after;

	etest_call(t, q, &r);
	if (r.result != OVL_RES_ERR)
		fail_msg("%s: accepted, want an error saying \"%s\"", ovl_op_name(q->op), why);
	if (!strstr(r.message, why))
		fail_msg("%s: \"%s\", want \"%s\" in it", ovl_op_name(q->op), r.message, why);
	ovl_response_free(&r);
	after = etest_snapshot(t);
	if (strcmp(before, after))
		fail_msg("%s was refused but changed the host or the state:\n--- before\n%s--- after\n%s",
			 ovl_op_name(q->op), before, after);
	free(before);
	free(after);
}

char *etest_run(const char *cmd)
{
	char *out = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&out, &len), *p = popen(cmd, "r");
	char line[1024];

	assert_non_null(o);
	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		fputs(line, o);
	assert_int_equal(pclose(p), 0);
	assert_int_equal(fclose(o), 0);
	return out;
}

/*
 * The state a restart would load: state.json with state.journal's records
 * applied (state/journal.h), written out as state.json would hold it.
 */
char *etest_state(struct etest *t)
{
	char path[128], jpath[128], out[128], err[600], *text;
	struct ovl_state st;
	struct state_journal_scan scan;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/state.json", t->dir);
	snprintf(jpath, sizeof(jpath), "%s/%s", t->dir, STATE_JOURNAL_FILE_NAME);
	snprintf(out, sizeof(out), "%s/state.json.test-view", t->dir);
	int r = state_load(path, &st, err, sizeof(err));
	if (r == 1) {
		state_free(&st);
		return strdup("");
	}
	if (r < 0 || state_journal_replay(jpath, &st, &scan, err, sizeof(err)) < 0 ||
	    state_save(out, &st, err, sizeof(err)) < 0)
		fail_msg("the saved state does not load: %s", err);
	state_free(&st);
	f = fopen(out, "r");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	unlink(out);
	return text;
}

char *etest_state_get(struct etest *t, const char *path)
{
	char *text = etest_state(t), *copy = strdup(path), *part, *save, *out = NULL;
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr), *v = root;

	if (!root)
		fail_msg("state.json is not JSON: %s", jerr.text);
	for (part = strtok_r(copy, ".", &save); v && part; part = strtok_r(NULL, ".", &save))
		v = json_is_array(v) ? json_array_get(v, strtoul(part, NULL, 10)) : json_object_get(v, part);
	if (v)
		out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(root);
	free(copy);
	free(text);
	return out;
}

/* Left out of snapshots: what the kernel adds by itself (IPv6 link-local, multicast). */
static bool kernel_own(const char *line)
{
	return strstr(line, "fe80") || strstr(line, "ff00::");
}

static int snap_addr_cb(const struct ip_prefix *p, void *arg)
{
	char text[IP_PREFIX_STRLEN];

	ip_prefix_format(p, text, sizeof(text));
	if (!kernel_own(text))
		fprintf(arg, " %s", text);
	return 0;
}

struct link_names {
	char (*names)[IFNAMSIZ];
	size_t n;
};

static int collect_cb(const struct nl_link *l, void *arg)
{
	struct link_names *ln = arg;
	void *grown = realloc(ln->names, (ln->n + 1) * sizeof(*ln->names));

	assert_non_null(grown);
	ln->names = grown;
	snprintf(ln->names[ln->n++], IFNAMSIZ, "%s", l->name);
	return 0;
}

static int count_retired_cb(const struct nl_link *l, void *arg)
{
	if (strncmp(l->name, "vdel-", 5) == 0)
		(*(int *)arg)++;
	return 0;
}

/* Detached containers' links are deleted in the background (engine reaper.c): wait until they are gone. */
static void wait_for_reaper(struct etest *t)
{
	for (int waited = 0; waited < 500; waited++) {
		int n = 0;

		assert_int_equal(nl_link_list(t->nl, count_retired_cb, &n), 0);
		if (n == 0)
			return;
		usleep(10000);
	}
	/* Still there after 5 s: the snapshot shows them, and the comparison fails. */
}

char *etest_snapshot(struct etest *t)
{
	struct link_names ln = { 0 };
	char *text = NULL, *state, *routes, *ruleset, *line, *save;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	wait_for_reaper(t);
	state = etest_state(t);
	fprintf(out, "state: %s\n", state);
	free(state);
	assert_int_equal(nl_link_list(t->nl, collect_cb, &ln), 0);
	for (size_t i = 0; i < ln.n; i++) {
		struct nl_link l;

		if (nl_link_get(t->nl, ln.names[i], &l))
			continue; /* went away meanwhile: the next snapshot shows it missing */
		fprintf(out, "link %s kind=%s master=%d %s addr:", l.name, l.kind, l.master,
			l.flags & IFF_UP ? "up" : "down");
		nl_addr_list(t->nl, l.name, snap_addr_cb, out);
		fputc('\n', out);
	}
	free(ln.names);
	routes = etest_run("ip -4 route show table all; ip -6 route show table all");
	for (line = strtok_r(routes, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *down = strstr(line, " linkdown");

		if (down) /* carrier comes and goes by itself */
			memmove(down, down + 9, strlen(down + 9) + 1);
		if (!kernel_own(line))
			fprintf(out, "route %s\n", line);
	}
	free(routes);
	ruleset = etest_run("nft list ruleset");
	fprintf(out, "%s", ruleset);
	free(ruleset);
	assert_int_equal(fclose(out), 0);
	return text;
}

struct ovl_request etest_setup_global(const char *deployment, const char *cluster, const char *slice)
{
	struct ovl_request q = { .op = OVL_OP_SETUP_GLOBAL_OVERLAY };

	q.setup_global.deployment = (char *)deployment;
	q.setup_global.instance_id = (char *)"0";
	assert_int_equal(ip_prefix_parse(cluster, &q.setup_global.cluster_cidr), 0);
	if (slice) {
		q.setup_global.has_slice_cidr = true;
		assert_int_equal(ip_prefix_parse(slice, &q.setup_global.slice_cidr), 0);
	}
	q.setup_global.host_adapter_mandatory = true;
	return q;
}

struct ovl_request etest_setup_service(const char *service, enum ovl_mode mode)
{
	struct ovl_request q = { .op = OVL_OP_SETUP_SERVICE_OVERLAY };

	q.setup_service.service = (char *)service;
	q.setup_service.mode = mode;
	return q;
}

void etest_global_ifname(struct etest *t, char name[IFNAMSIZ])
{
	struct ovl_request q = { .op = OVL_OP_STATUS };
	struct ovl_response r;

	etest_call(t, &q, &r);
	assert_int_equal(r.result, OVL_RES_STATUS);
	assert_non_null(r.status.interface);
	snprintf(name, IFNAMSIZ, "%s", r.status.interface);
	ovl_response_free(&r);
}

struct addr_find {
	struct ip_prefix want;
	bool found;
};

static int addr_find_cb(const struct ip_prefix *p, void *arg)
{
	struct addr_find *f = arg;

	if (ip_prefix_equal(p, &f->want))
		f->found = true;
	return 0;
}

bool etest_has_addr(struct etest *t, const char *link, const char *prefix)
{
	struct addr_find f = { 0 };

	assert_int_equal(ip_prefix_parse(prefix, &f.want), 0);
	return nl_addr_list(t->nl, link, addr_find_cb, &f) == 0 && f.found;
}

char *etest_wg_get(struct etest *t, const char *ifname)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *out = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&out, &len);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char buf[4096];
	ssize_t n;

	assert_non_null(o);
	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s.sock", t->wg_dir, ifname);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		fail_msg("UAPI socket %s: %s", sa.sun_path, strerror(errno));
	assert_int_equal(write(fd, "get=1\n\n", 7), 7);
	/* The answer ends with an empty line, after "errno=N". */
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		fwrite(buf, 1, (size_t)n, o);
		fflush(o);
		if (len >= 2 && !strcmp(out + len - 2, "\n\n"))
			break;
	}
	close(fd);
	assert_int_equal(fclose(o), 0);
	return out;
}

pid_t etest_container(void)
{
	int ready[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Only async-signal-safe calls: the parent has threads. It dies
		 * with the test, and holds none of the test's output open. */
		int nul = open("/dev/null", O_RDWR);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (nul < 0 || dup2(nul, STDOUT_FILENO) < 0 || dup2(nul, STDERR_FILENO) < 0)
			_exit(1);
		if (unshare(CLONE_NEWNET) == 0 && write(ready[1], "x", 1) == 1)
			for (;;)
				pause();
		_exit(1);
	}
	close(ready[1]);
	/* Once it wrote, it sits in its own namespace: no waiting on a guess. */
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return pid;
}

pid_t etest_vanished_pid(void)
{
	pid_t pid = etest_container();

	etest_container_end(pid);
	return pid;
}

void etest_container_end(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

char *etest_run_in(pid_t pid, const char *cmd)
{
	char line[512];

	snprintf(line, sizeof(line), "nsenter -t %d -n sh -c '%s'", (int)pid, cmd);
	return etest_run(line);
}

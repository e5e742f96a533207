// SPDX-License-Identifier: MIT
/*
 * Our accept rules in the legacy iptables filter table: found in
 * iptables-legacy-save's listing, replaced by one iptables-legacy-restore
 * --noflush run per family.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/hostfw_legacy.h"
#include "util/log.h"

extern char **environ;

/* Docker's chain for the administrator's rules, if the table has it, else the hook's own chain. */
#define LEGACY_FORWARD "FORWARD"

/* A listing longer than this is not read (a filter table of a million rules). */
#define LEGACY_LISTING_MAX (64u << 20)

/* Whether line (len bytes, no newline) carries --comment tag, plain or quoted. */
static bool line_tagged(const char *line, size_t len, const char *tag)
{
	static const char key[] = " --comment ";
	size_t tl = strlen(tag);

	for (const char *p = line; (p = memmem(p, len - (size_t)(p - line), key, sizeof(key) - 1));) {
		const char *v = p + sizeof(key) - 1;
		size_t left = len - (size_t)(v - line);
		bool quoted = left > 0 && *v == '"';
		size_t vl = tl + (quoted ? 2 : 0);
		if (left >= vl && !memcmp(v + quoted, tag, tl) && (!quoted || v[tl + 1] == '"') &&
		    (left == vl || v[vl] == ' '))
			return true;
		p = v;
	}
	return false;
}

static bool line_is(const char *line, size_t len, const char *s)
{
	return len == strlen(s) && !memcmp(line, s, len);
}

/* Whether a ":NAME POLICY [p:b]" line declares chain. */
static bool declares(const char *line, size_t len, const char *chain)
{
	size_t cl = strlen(chain);
	return len > cl + 1 && line[0] == ':' && !memcmp(line + 1, chain, cl) && line[cl + 1] == ' ';
}

int hostfw_legacy_render(const char *save, sa_family_t af, const struct hostfw_opts *opts, FILE *f)
{
	bool in_filter = false, seen_filter = false, has_forward = false, has_docker = false, other = false;
	char *dels = NULL;
	size_t dlen = 0;
	FILE *d = open_memstream(&dels, &dlen);

	if (!d)
		return -ENOMEM;
	for (const char *line = save; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		if (len == 0 || line[0] == '#') {
			/* blank or a comment */
		} else if (line_is(line, len, "*filter")) {
			in_filter = seen_filter = true;
		} else if (line[0] == '*') {
			in_filter = false;
		} else if (line_is(line, len, "COMMIT")) {
			in_filter = false;
		} else if (!in_filter) {
			other = true; /* a rule or chain outside any table: not a listing */
		} else if (line[0] == ':') {
			has_forward |= declares(line, len, LEGACY_FORWARD);
			has_docker |= declares(line, len, HOSTFW_DOCKER_USER);
		} else if (len > 3 && !memcmp(line, "-A ", 3) && line_tagged(line, len, opts->tag)) {
			fprintf(d, "-D %.*s\n", (int)(len - 3), line + 3);
		}
		line += len + (nl ? 1 : 0);
	}
	if (fclose(d)) {
		free(dels);
		return -ENOMEM;
	}
	if (other || (!seen_filter && *save)) {
		free(dels);
		return -EINVAL;
	}
	const char *target = has_docker ? HOSTFW_DOCKER_USER : has_forward ? LEGACY_FORWARD : NULL;
	size_t n_ours = 0;
	for (size_t i = 0; target && i < opts->n_cluster; i++)
		n_ours += opts->cluster[i].addr.family == af;
	if (dlen == 0 && n_ours == 0) {
		free(dels);
		return 0;
	}
	fprintf(f, "*filter\n%s", dels ? dels : "");
	free(dels);
	static const char *const dirs[] = { "-s", "-d" };
	char buf[IP_PREFIX_STRLEN];
	for (size_t i = 0; target && i < opts->n_cluster; i++) {
		struct ip_prefix net = ip_prefix_network(&opts->cluster[i]);
		if (net.addr.family != af)
			continue;
		ip_prefix_format(&net, buf, sizeof(buf));
		for (size_t k = 0; k < 2; k++)
			fprintf(f, "-I %s 1 %s %s -m comment --comment %s -j ACCEPT\n", target, dirs[k], buf,
				opts->tag);
	}
	fprintf(f, "COMMIT\n");
	return n_ours ? 1 : 0;
}

/* ---- running the tools ------------------------------------------------- */

struct legacy_family {
	sa_family_t af;
	const char *names; /* the namespace's legacy tables of the family */
	const char *save, *restore;
};

static const struct legacy_family legacy_families[] = {
	{ AF_INET, "/proc/net/ip_tables_names", "iptables-legacy-save", "iptables-legacy-restore" },
	{ AF_INET6, "/proc/net/ip6_tables_names", "ip6tables-legacy-save", "ip6tables-legacy-restore" },
};

/* Whether the legacy filter table of a family exists here (reading the list creates none). */
static bool filter_table_exists(const char *names)
{
	char buf[512];
	FILE *f = fopen(names, "re");
	bool found = false;

	if (!f)
		return false; /* no x_tables in this kernel: nothing to see */
	while (!found && fgets(buf, sizeof(buf), f))
		found = !strcmp(buf, "filter\n");
	fclose(f);
	return found;
}

/* The contents of memfd fd (malloc'd, NUL-terminated), or NULL. */
static char *memfd_text(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size > LEGACY_LISTING_MAX)
		return NULL;
	char *s = malloc((size_t)st.st_size + 1);
	ssize_t n = s ? pread(fd, s, (size_t)st.st_size, 0) : -1;
	if (n < 0) {
		free(s);
		return NULL;
	}
	s[n] = '\0';
	return s;
}

/*
 * Starts argv[0] from PATH, or from the sbin directories where iptables
 * lives when PATH lacks them (a daemon started with a minimal environment).
 * 0 or -errno.
 */
static int spawn_tool(pid_t *pid, char *const argv[], const posix_spawn_file_actions_t *fa,
		      const posix_spawnattr_t *at)
{
	static const char *const dirs[] = { "/usr/sbin/", "/sbin/" };
	int r = posix_spawnp(pid, argv[0], fa, at, argv, environ);
	for (size_t i = 0; r == ENOENT && i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char path[128];
		snprintf(path, sizeof(path), "%s%s", dirs[i], argv[0]);
		r = posix_spawn(pid, path, fa, at, argv, environ);
	}
	return -r;
}

/*
 * Runs argv (searched in PATH) with in on its standard input (NULL: none).
 * Its standard output in *out when out is given; the first line of its
 * standard error in err. Files, not pipes, so that neither side can block
 * the other. Returns its exit status, or -errno when it could not run.
 */
static int run_tool(char *const argv[], const char *in, char **out, char *err, size_t errlen)
{
	int fds[3] = { -1, -1, -1 }, r = 0;
	pid_t pid;
	posix_spawn_file_actions_t fa;

	err[0] = '\0';
	for (int i = 0; i < 3; i++)
		if ((fds[i] = memfd_create("overlayd-iptables", MFD_CLOEXEC)) < 0)
			r = -errno;
	if (!r && in) {
		size_t len = strlen(in);
		if (write(fds[0], in, len) != (ssize_t)len || lseek(fds[0], 0, SEEK_SET) < 0)
			r = -EIO;
	}
	if (!r && (r = -posix_spawn_file_actions_init(&fa)) == 0) {
		posix_spawnattr_t at;
		sigset_t none;
		sigemptyset(&none);
		for (int i = 0; i < 3 && !r; i++)
			r = -posix_spawn_file_actions_adddup2(&fa, fds[i], i);
		/* The tool gets no signal blocked, whatever this thread blocks. */
		if (!r && (r = -posix_spawnattr_init(&at)) == 0) {
			r = -posix_spawnattr_setsigmask(&at, &none);
			if (!r)
				r = -posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
			if (!r)
				r = spawn_tool(&pid, argv, &fa, &at);
			posix_spawnattr_destroy(&at);
		}
		posix_spawn_file_actions_destroy(&fa);
	}
	if (!r) {
		int st;
		while (waitpid(pid, &st, 0) < 0)
			if (errno != EINTR) {
				st = 0xff00; /* lost: report a failure */
				break;
			}
		r = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		char *e = memfd_text(fds[2]);
		if (e) {
			snprintf(err, errlen, "%.*s", (int)strcspn(e, "\n"), e);
			free(e);
		}
		if (out && !(*out = memfd_text(fds[1])) && r == 0)
			r = -ENOMEM;
	}
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return r;
}

/* One family: 1 when its chain carries our rules, 0 otherwise (logged when it failed). */
static int apply_family(const struct legacy_family *fam, const struct hostfw_opts *opts)
{
	char *const save_argv[] = { (char *)fam->save, "-t", "filter", NULL };
	/* -w: wait for the xtables lock that Docker and UFW take too. */
	char *const restore_argv[] = { (char *)fam->restore, "--noflush", "-w", "10", NULL };
	char err[256];
	int r = 0;

	/* A writer that changes the table between the listing and the restore fails
	 * the restore (a -D finds nothing): once more on a fresh listing. */
	for (int attempt = 0; attempt < 2; attempt++) {
		char *listing = NULL, *script = NULL;
		size_t len = 0;
		int st = run_tool(save_argv, NULL, &listing, err, sizeof(err));
		if (st) {
			log_warn("legacy iptables: the %s filter table is in use but %s failed (%s): forwarded cluster "
				 "traffic may be dropped there",
				 fam->af == AF_INET ? "IPv4" : "IPv6", fam->save, st < 0 ? strerror(-st) : err);
			free(listing);
			return 0;
		}
		FILE *f = open_memstream(&script, &len);
		r = f ? hostfw_legacy_render(listing, fam->af, opts, f) : -ENOMEM;
		free(listing);
		if ((f && fclose(f)) || r < 0) {
			log_warn("legacy iptables: cannot read the listing of %s", fam->save);
			free(script);
			return 0;
		}
		if (len == 0) {
			free(script);
			return 0;
		}
		st = run_tool(restore_argv, script, NULL, err, sizeof(err));
		free(script);
		if (st == 0)
			return r;
		if (attempt == 1)
			log_warn("legacy iptables: %s failed (%s): forwarded cluster traffic may be dropped", fam->restore,
				 st < 0 ? strerror(-st) : err);
	}
	return 0;
}

int hostfw_legacy_apply(const struct hostfw_opts *opts)
{
	int chains = 0;

	if (opts->skip_firewalld)
		return 0; /* firewalld trusts the cluster in whatever backend it drives */
	for (size_t i = 0; i < sizeof(legacy_families) / sizeof(legacy_families[0]); i++)
		if (filter_table_exists(legacy_families[i].names))
			chains += apply_family(&legacy_families[i], opts);
	return chains;
}

// SPDX-License-Identifier: MIT
/* unmanaged.c against scratch directories (no service is ever contacted). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/unmanaged.h"

struct scratch {
	char root[PATH_MAX];
	char networkd[PATH_MAX + 16]; /* exists */
	char nm[PATH_MAX + 16];       /* does not exist yet */
	struct unmanaged_opts opts;
};

static int setup(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	snprintf(s->root, sizeof(s->root), "%s/ovl-unmanaged-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(s->root))
		return -1;
	snprintf(s->networkd, sizeof(s->networkd), "%s/network", s->root);
	snprintf(s->nm, sizeof(s->nm), "%s/conf.d", s->root);
	if (mkdir(s->networkd, 0755))
		return -1;
	s->opts = (struct unmanaged_opts){
		.networkd_dir = s->networkd,
		.nm_dir = s->nm,
		.instance = "t1",
		.networkd_running = 1,
		.nm_running = 1,
	};
	*state = s;
	return 0;
}

static void remove_if_there(const char *dir, const char *name)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	unlink(p);
}

static int teardown(void **state)
{
	struct scratch *s = *state;

	remove_if_there(s->networkd, "00-overlayd-t1-unmanaged.network");
	remove_if_there(s->nm, "overlayd-t1-unmanaged.conf");
	rmdir(s->nm);
	rmdir(s->networkd);
	rmdir(s->root);
	free(s);
	return 0;
}

static char *slurp(const char *path)
{
	static char buf[1024];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

static void put(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void mark_writes_and_unmark_removes(void **state)
{
	struct scratch *s = *state;
	struct unmanaged_state st;
	char *c;

	assert_int_equal(unmanaged_mark(&s->opts, &st), 0);
	c = slurp(st.networkd_file);
	assert_non_null(c);
	assert_non_null(strstr(c, "[Match]\nName=zl-*\n"));
	assert_non_null(strstr(c, "[Link]\nUnmanaged=yes\n"));
	assert_non_null(strstr(st.networkd_file, "/network/00-overlayd-t1-unmanaged.network"));
	c = slurp(st.nm_file);
	assert_non_null(c);
	assert_non_null(strstr(c, "[keyfile]\nunmanaged-devices+=interface-name:zl-*\n"));
	assert_true(exists(s->nm)); /* created for us */

	assert_int_equal(unmanaged_unmark(&s->opts, &st), 0);
	assert_false(exists(s->nm));          /* we created it, we remove it */
	assert_true(exists(s->networkd));     /* it was there before: kept */
	assert_int_equal(rmdir(s->networkd), 0); /* and empty */
	assert_int_equal(mkdir(s->networkd, 0755), 0);
	assert_int_equal(unmanaged_unmark(&s->opts, &st), 0); /* twice is fine */
}

static void nothing_when_services_are_not_running(void **state)
{
	struct scratch *s = *state;
	struct unmanaged_state st;

	s->opts.networkd_running = 0;
	s->opts.nm_running = 0;
	assert_int_equal(unmanaged_mark(&s->opts, &st), 0);
	assert_string_equal(st.networkd_file, "");
	assert_string_equal(st.nm_file, "");
	assert_false(exists(s->nm));
	assert_int_equal(unmanaged_unmark(&s->opts, &st), 0);
}

static void foreign_file_is_never_clobbered(void **state)
{
	struct scratch *s = *state;
	struct unmanaged_state st;
	char nm_file[PATH_MAX * 2], nd_file[PATH_MAX * 2];

	/* NM's name is taken by someone else's file: fail, and roll networkd back. */
	assert_int_equal(mkdir(s->nm, 0755), 0);
	snprintf(nm_file, sizeof(nm_file), "%s/overlayd-t1-unmanaged.conf", s->nm);
	snprintf(nd_file, sizeof(nd_file), "%s/00-overlayd-t1-unmanaged.network", s->networkd);
	put(nm_file, "[keyfile]\nunmanaged-devices=mac:00:11:22:33:44:55\n");
	assert_int_equal(unmanaged_mark(&s->opts, &st), -EEXIST);
	assert_string_equal(slurp(nm_file), "[keyfile]\nunmanaged-devices=mac:00:11:22:33:44:55\n");
	assert_false(exists(nd_file));
	assert_int_equal(unlink(nm_file), 0);
}

static void leftover_is_adopted_and_edits_are_kept(void **state)
{
	struct scratch *s = *state;
	struct unmanaged_state st, st2;
	char saved[PATH_MAX];

	/* A crashed run left its drop-in: the next run adopts it. */
	assert_int_equal(unmanaged_mark(&s->opts, &st), 0);
	snprintf(saved, sizeof(saved), "%s", st.networkd_file);
	assert_int_equal(unmanaged_mark(&s->opts, &st2), 0);
	assert_string_equal(st2.networkd_file, saved);

	/* An operator edited the file meanwhile: it is theirs now. */
	put(st2.networkd_file, "[Match]\nName=zl-*\n[Link]\nUnmanaged=yes\nRequiredForOnline=no\n");
	assert_int_equal(unmanaged_unmark(&s->opts, &st2), 0);
	assert_true(exists(saved));
	assert_false(exists(st.nm_file));
	assert_int_equal(unlink(saved), 0);
}

static void bad_words_are_rejected(void **state)
{
	struct scratch *s = *state;
	struct unmanaged_state st;

	s->opts.instance = "../x";
	assert_int_equal(unmanaged_mark(&s->opts, &st), -EINVAL);
	s->opts.instance = "t1";
	s->opts.pattern = "zl-*\nUnmanaged=no";
	assert_int_equal(unmanaged_mark(&s->opts, &st), -EINVAL);
	assert_false(exists(s->nm));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(mark_writes_and_unmark_removes, setup, teardown),
		cmocka_unit_test_setup_teardown(nothing_when_services_are_not_running, setup, teardown),
		cmocka_unit_test_setup_teardown(foreign_file_is_never_clobbered, setup, teardown),
		cmocka_unit_test_setup_teardown(leftover_is_adopted_and_edits_are_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_words_are_rejected, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/* netns.c: work runs in the target namespace; the caller never moves. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/netns.h"
#include "net/sysctl.h"
#include "nstest.h"

/* The namespace inode identifies it. */
static ino_t ns_ino_of_fd(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st.st_ino;
}

static ino_t current_ino(void)
{
	struct stat st;

	assert_int_equal(stat("/proc/thread-self/ns/net", &st), 0);
	return st.st_ino;
}

struct probe {
	ino_t seen;
	int result;
};

static int probe_fn(void *arg)
{
	struct probe *p = arg;
	struct stat st;

	if (stat("/proc/thread-self/ns/net", &st))
		return -errno;
	p->seen = st.st_ino;
	return p->result;
}

static void run_executes_inside_and_never_moves_caller(void **state)
{
	ino_t home;
	int target;
	struct probe p = { .result = 7 };

	NSTEST_REQUIRE();
	home = current_ino();
	target = netns_new();
	assert_true(target >= 0);
	assert_true(ns_ino_of_fd(target) != home);

	assert_int_equal(netns_run(target, probe_fn, &p), 7);
	assert_int_equal(p.seen, ns_ino_of_fd(target));
	assert_int_equal(current_ino(), home);

	/* fn failing changes nothing for the caller either. */
	p.result = -EIO;
	assert_int_equal(netns_run(target, probe_fn, &p), -EIO);
	assert_int_equal(current_ino(), home);
	close(target);
}

static void run_rejects_non_namespace_fds(void **state)
{
	struct probe p = { .result = 0 };
	int fd;

	NSTEST_REQUIRE();
	p.seen = 0;
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(netns_run(fd, probe_fn, &p), -EINVAL);
	assert_int_equal(p.seen, 0); /* fn never ran */
	close(fd);
	assert_int_equal(netns_run(-1, probe_fn, &p), -EBADF);
}

/* Sets ip_forward and reads it back, all inside the target namespace. */
static int forward_on(void *arg)
{
	char v[8];
	int err = sysctl_write("net.ipv4.ip_forward", NULL, NULL, "1");

	if (!err)
		err = sysctl_read("net.ipv4.ip_forward", NULL, NULL, v, sizeof(v));
	return err ? err : strcmp(v, "1") ? -EIO : 0;
}

static void sysctls_inside_belong_to_the_target(void **state)
{
	char v[8];
	int target;

	NSTEST_REQUIRE();
	assert_int_equal(sysctl_write("net.ipv4.ip_forward", NULL, NULL, "0"), 0);
	target = netns_new();
	assert_true(target >= 0);
	assert_int_equal(netns_run(target, forward_on, NULL), 0);
	assert_int_equal(sysctl_read("net.ipv4.ip_forward", NULL, NULL, v, sizeof(v)), 0);
	assert_string_equal(v, "0");
	close(target);
}

static void open_pid(void **state)
{
	pid_t child;
	int fd, status;

	NSTEST_REQUIRE();
	fd = netns_open_pid(getpid());
	assert_true(fd >= 0);
	assert_int_equal(ns_ino_of_fd(fd), current_ino());
	close(fd);

	/* A process that has exited (and been reaped) is ESRCH. */
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(netns_open_pid(child), -ESRCH);
	assert_int_equal(netns_open_pid(0), -ESRCH);
	assert_int_equal(netns_open_pid(-5), -ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(run_executes_inside_and_never_moves_caller),
		cmocka_unit_test(run_rejects_non_namespace_fds),
		cmocka_unit_test(sysctls_inside_belong_to_the_target),
		cmocka_unit_test(open_pid),
	};

	nstest_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

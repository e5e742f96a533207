// SPDX-License-Identifier: MIT
/* Work inside another network namespace, on a dedicated thread. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/netns.h"

struct netns_job {
	int ns_fd;        /* -1: unshare a new namespace instead of joining */
	int (*fn)(void *);
	void *arg;
	int result;
};

static void *netns_thread(void *p)
{
	struct netns_job *job = p;

	if (job->ns_fd >= 0 ? setns(job->ns_fd, CLONE_NEWNET) : unshare(CLONE_NEWNET)) {
		job->result = -errno;
		return NULL;
	}
	job->result = job->fn(job->arg);
	/* The thread ends here, and its namespace membership with it. */
	return NULL;
}

static int netns_job_run(struct netns_job *job)
{
	pthread_t t;
	int err = pthread_create(&t, NULL, netns_thread, job);

	if (err)
		return -err;
	err = pthread_join(t, NULL);
	return err ? -err : job->result;
}

int netns_run(int ns_fd, int (*fn)(void *arg), void *arg)
{
	struct netns_job job = { .ns_fd = ns_fd, .fn = fn, .arg = arg };

	if (ns_fd < 0 || !fn)
		return -EBADF;
	return netns_job_run(&job);
}

int netns_open_pid(pid_t pid)
{
	char path[64];
	int fd;

	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	/* /proc/<pid> is gone (or never was): the process exited. */
	return errno == ENOENT ? -ESRCH : -errno;
}

/* Opens the calling thread's own network namespace (O_CLOEXEC). */
static int netns_open_current(void)
{
	int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	return fd >= 0 ? fd : -errno;
}

static int open_current_cb(void *arg)
{
	(void)arg;
	return netns_open_current();
}

int netns_new(void)
{
	struct netns_job job = { .ns_fd = -1, .fn = open_current_cb };

	return netns_job_run(&job);
}

// SPDX-License-Identifier: MIT
/* Wake-up placement policy (see placement.h) and the thread policy switch. */
#include "wg/placement.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

bool wg_placement_wanted(const struct wg_placement *p, uint64_t now, bool cpu_free)
{
	return p->able && cpu_free && now >= p->resume && now - p->last_traffic >= WG_PLACEMENT_GAP_NS;
}

void wg_placement_traffic(struct wg_placement *p, uint64_t now)
{
	p->last_traffic = now;
}

void wg_placement_done(struct wg_placement *p, uint64_t now, uint64_t waited)
{
	if (waited <= WG_PLACEMENT_WAIT_NS) {
		p->strikes = 0;
		return;
	}
	if (p->strikes < WG_PLACEMENT_FORGIVEN + WG_PLACEMENT_MAX_BACKOFF)
		p->strikes++;
	if (p->strikes > WG_PLACEMENT_FORGIVEN)
		p->resume = now + (WG_PLACEMENT_BACKOFF_NS << (p->strikes - WG_PLACEMENT_FORGIVEN - 1));
}

bool wg_cpu_free(void)
{
	/* "0.12 0.34 0.56 R/T lastpid": R counts runnable tasks, the caller included. */
	char buf[128];
	unsigned running = 0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	ssize_t got = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	const char *p;

	if (fd >= 0)
		close(fd);
	if (got <= 0)
		return false;
	buf[got] = '\0';
	p = strchr(buf, '/');
	while (p && p > buf && p[-1] != ' ')
		p--;
	if (!p || sscanf(p, "%u/", &running) != 1 || running == 0)
		return false;
	return cpus > 0 && running - 1 < (unsigned long)cpus;
}

bool wg_sample_due(atomic_uint_fast64_t *next, uint64_t now, uint64_t period)
{
	uint64_t due = atomic_load(next);
	return now >= due && atomic_compare_exchange_strong(next, &due, now + period);
}

static atomic_uint_fast64_t cpu_free_due;
static atomic_bool cpu_free_sample;

void wg_cpu_free_refresh(uint64_t now)
{
	if (wg_sample_due(&cpu_free_due, now, WG_CPU_FREE_PERIOD_NS))
		atomic_store(&cpu_free_sample, wg_cpu_free());
}

bool wg_cpu_free_sampled(void)
{
	return atomic_load(&cpu_free_sample);
}

static bool has_cap_sys_nice(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { 0 };

	if (syscall(SYS_capget, &hdr, data) < 0)
		return false;
	return data[CAP_TO_INDEX(CAP_SYS_NICE)].effective & CAP_TO_MASK(CAP_SYS_NICE);
}

bool wg_thread_placement_able(void)
{
	struct rlimit rl;

	if (sched_getscheduler(0) != SCHED_OTHER)
		return false; /* someone chose a policy for us: keep it */
	if (has_cap_sys_nice())
		return true;
	/* The kernel lets a SCHED_IDLE thread back to nice n when RLIMIT_NICE >= 20 - n. */
	return getrlimit(RLIMIT_NICE, &rl) == 0 &&
	       (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)(20 - getpriority(PRIO_PROCESS, 0)));
}

int wg_thread_set_policy(enum wg_thread_policy policy)
{
	struct { /* struct sched_attr (linux/sched/types.h clashes with sched.h) */
		uint32_t size, sched_policy;
		uint64_t sched_flags;
		int32_t sched_nice;
		uint32_t sched_priority;
		uint64_t sched_runtime, sched_deadline, sched_period;
	} attr = {
		.size = sizeof(attr),
		.sched_policy = policy == WG_THREAD_IDLE ? SCHED_IDLE : SCHED_OTHER,
		.sched_nice = getpriority(PRIO_PROCESS, 0),
		/* EEVDF kernels (6.6+) take a requested slice; older ones ignore it. */
		.sched_runtime = policy == WG_THREAD_SHORT_SLICE ? 100 * 1000 : 0,
	};
	return syscall(SYS_sched_setattr, 0, &attr, 0) < 0 ? -errno : 0;
}

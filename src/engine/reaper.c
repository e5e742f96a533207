// SPDX-License-Identifier: MIT
/*
 * Container links deleted off the request path.
 *
 * Deleting a veth costs the kernel an RCU barrier (tens of milliseconds on a
 * busy host), paid by whoever asks. A detach therefore only retires its links
 * (net/netlink.h nl_link_retire: down, off the bridge, renamed
 * DP_DYING_PREFIX<ifindex>, into group DP_DYING_GROUP), which is quick and
 * already makes the detach true: no traffic passes, the container's ends
 * were unplugged inside it first (attach.c: no address, down, renamed), the
 * pid's names are free again.
 * This thread then deletes the whole group in one request. It first lets
 * REAP_COALESCE_MS pass, so the detaches of that window share one deletion:
 * a deletion holds the kernel's RTNL lock, which every attach and detach
 * needs too, and one per detach would make them queue behind it.
 *
 * A pending deletion is never only in memory: the group and the name are on
 * the host, and recovery and teardown finish them (dp_reaper_flush), so a
 * crash leaks nothing.
 */
#include "engine/dp.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "engine/crashpoint.h"
#include "net/netlink.h"
#include "util/deadline.h"
#include "util/log.h"

static void reap(struct nl_handle *nl)
{
	int r = nl_link_delete_group(nl, DP_DYING_GROUP);
	if (r < 0)
		log_warn("cannot delete retired container links (group %u): %s", DP_DYING_GROUP, strerror(-r));
}

#define REAP_COALESCE_MS 50

/* Waits until REAP_COALESCE_MS have passed or the reaper is stopped (with reap_lock held). */
static void coalesce(struct dp *dp)
{
	struct timespec until = deadline_after_ms(CLOCK_MONOTONIC, REAP_COALESCE_MS);
	while (!dp->reap_stop && pthread_cond_timedwait(&dp->reap_cond, &dp->reap_lock, &until) != ETIMEDOUT)
		;
}

static void *reaper_main(void *arg)
{
	struct dp *dp = arg;
	struct nl_handle *nl = NULL;
	int r = nl_open(&nl);
	if (r < 0)
		log_warn("link reaper: cannot open netlink: %s; retired links wait for teardown or restart",
			 strerror(-r));
	pthread_mutex_lock(&dp->reap_lock);
	for (;;) {
		while (!dp->reap_pending && !dp->reap_stop)
			pthread_cond_wait(&dp->reap_cond, &dp->reap_lock);
		if (!dp->reap_pending)
			break;
		coalesce(dp);
		dp->reap_pending = false;
		pthread_mutex_unlock(&dp->reap_lock);
		crashpoint("reap-pending");
		if (nl)
			reap(nl);
		pthread_mutex_lock(&dp->reap_lock);
	}
	pthread_mutex_unlock(&dp->reap_lock);
	if (nl)
		nl_close(nl);
	return NULL;
}

static bool reaper_start(struct dp *dp)
{
	if (dp->reap_running)
		return true;
	dp->reap_stop = false;
	dp->reap_pending = false;
	int r = pthread_create(&dp->reap_thread, NULL, reaper_main, dp);
	if (r != 0) {
		log_warn("cannot start the link reaper: %s; container links are deleted in the request", strerror(r));
		return false;
	}
	dp->reap_running = true;
	return true;
}

void dp_reaper_stop(struct engine *e)
{
	struct dp *dp = e->dp;
	if (!dp->reap_running)
		return;
	pthread_mutex_lock(&dp->reap_lock);
	dp->reap_stop = true;
	pthread_cond_signal(&dp->reap_cond);
	pthread_mutex_unlock(&dp->reap_lock);
	pthread_join(dp->reap_thread, NULL); /* serves every retire made before the stop */
	dp->reap_running = false;
}

void dp_reaper_flush(struct engine *e)
{
	if (e->dp->nl)
		reap(e->dp->nl);
}

/* 1 when name was retired, 0 when it is gone already (missing, or deleted here as a fallback). */
static int retire_one(struct engine *e, const char *name, bool reaper)
{
	struct dp *dp = e->dp;
	int r = reaper ? nl_link_retire(dp->nl, name, DP_DYING_GROUP, DP_DYING_PREFIX) : -ESRCH;
	if (r >= 0)
		return r;
	if (reaper)
		log_warn("cannot retire %s (%s); deleting it in the request", name, strerror(-r));
	if ((r = nl_link_delete(dp->nl, name)) < 0)
		log_warn("cannot delete %s: %s", name, strerror(-r));
	return 0;
}

void dp_reaper_retire(struct engine *e, const char *const *names, size_t n)
{
	struct dp *dp = e->dp;
	bool reaper = reaper_start(dp), any = false;
	for (size_t i = 0; i < n; i++)
		any |= retire_one(e, names[i], reaper) > 0;
	if (!any)
		return;
	/* One wake-up after all of them: the reaper never sees half a detach. */
	pthread_mutex_lock(&dp->reap_lock);
	dp->reap_pending = true;
	pthread_cond_signal(&dp->reap_cond);
	pthread_mutex_unlock(&dp->reap_lock);
}

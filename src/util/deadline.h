/* SPDX-License-Identifier: MIT */
/*
 * An absolute deadline ms milliseconds from now on clock, for
 * pthread_cond_timedwait (CLOCK_REALTIME unless the condition variable was
 * made with another clock, e.g. CLOCK_MONOTONIC); and a clock's time in ms.
 */
#ifndef OVL_UTIL_DEADLINE_H
#define OVL_UTIL_DEADLINE_H

#include <stdint.h>
#include <time.h>

static inline struct timespec deadline_after_ms(clockid_t clock, uint64_t ms)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* The time on clock in milliseconds (CLOCK_MONOTONIC for intervals, CLOCK_REALTIME for Unix time). */
static inline uint64_t clock_now_ms(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Wake-up placement for sparse, request/response traffic.
 *
 * On small VMs the cost of a packet is dominated not by crypto but by
 * wake-ups: the scheduler sends each woken thread to an idle CPU, and
 * waking a halted vCPU costs ~150 us where a wake-up on the running CPU
 * costs ~15 us. A ping crosses several such hops (TUN reader, the peer's
 * receiver, the pinging process) and every one used to land on the other,
 * halted vCPU.
 *
 * The scheduler counts a CPU that runs only SCHED_IDLE tasks as idle when it
 * places a woken task, and such a task is preempted at once. So when the
 * TUN reader wakes after a quiet spell (WG_PLACEMENT_GAP_NS without TUN
 * traffic) it handles the packet, sends it and spins for the answer as
 * SCHED_IDLE: whoever its sends and writes wake - the receiver, the
 * application the answer is for - is placed on this already running CPU and
 * runs immediately, and the spinner never delays them. Bulk traffic never
 * takes this path (no gap), so throughput keeps ordinary scheduling.
 *
 * The TUN reader otherwise asks for a short slice, so that its wake-ups
 * preempt busy tasks rather than queue behind them; a placement pass
 * therefore first yields, letting the sender it may have preempted finish
 * and sleep, so that its CPU really is running nothing else.
 *
 * A SCHED_IDLE thread gets almost no CPU next to busy normal tasks, and it
 * may hold the device's read lock. So placement is only used while fewer
 * other tasks are runnable than there are CPUs (an idle CPU exists for the
 * wake-ups to go to), as sampled from /proc/loadavg ten times a second
 * (one sample per process, taken by the devices' timer threads). A pass that still spent more than
 * WG_PLACEMENT_WAIT_NS off the CPU (starved, or sharing its CPU with a
 * long-running wakee) is a strike. One strike is forgiven: a kernel thread
 * that runs for a millisecond now and then (memory compaction, DAMON) makes
 * one on an idle machine. Each further strike in a row pauses placement for
 * WG_PLACEMENT_BACKOFF_NS, doubling per strike up to
 * WG_PLACEMENT_MAX_BACKOFF. Going back to SCHED_OTHER
 * needs CAP_SYS_NICE or a RLIMIT_NICE of 20; without either, placement is
 * never used.
 */
#ifndef OVL_WG_PLACEMENT_H
#define OVL_WG_PLACEMENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* TUN traffic this far apart is sparse. */
#define WG_PLACEMENT_GAP_NS (1000 * 1000ull)
/* A pass that waited this long for the CPU was starved. */
#define WG_PLACEMENT_WAIT_NS (1000 * 1000ull)
/* Starved passes in a row that cost nothing... */
#define WG_PLACEMENT_FORGIVEN 1
/* ...after n more, no placement for BACKOFF << (n - 1)... */
#define WG_PLACEMENT_BACKOFF_NS (1000 * 1000 * 1000ull)
/* ...with n capped here (32 s). */
#define WG_PLACEMENT_MAX_BACKOFF 6

struct wg_placement {
	bool able;              /* this thread may use SCHED_IDLE and come back */
	unsigned strikes;       /* starved passes in a row */
	uint64_t last_traffic;  /* when the TUN last had packets */
	uint64_t resume;        /* no placement before this time */
};

/* Whether a pass starting at now should run as SCHED_IDLE, cpu_free as sampled. */
bool wg_placement_wanted(const struct wg_placement *p, uint64_t now, bool cpu_free);
/* The TUN had packets at now. */
void wg_placement_traffic(struct wg_placement *p, uint64_t now);
/* A SCHED_IDLE pass ended at now after waiting off the CPU for waited ns. */
void wg_placement_done(struct wg_placement *p, uint64_t now, uint64_t waited);
/* Whether fewer tasks than CPUs are runnable besides the caller (from /proc/loadavg). */
bool wg_cpu_free(void);
/* How often a process samples it, however many devices ask. */
#define WG_CPU_FREE_PERIOD_NS (100 * 1000 * 1000ull)
/*
 * Samples wg_cpu_free() if this process's sample is WG_CPU_FREE_PERIOD_NS old
 * at now. Every device's timer thread calls it ten times a second, but a
 * daemon with many devices reads /proc/loadavg (~20 us) only ten times a
 * second in all, and never on the data path.
 */
void wg_cpu_free_refresh(uint64_t now);
/* This process's latest wg_cpu_free() sample (false before the first). */
bool wg_cpu_free_sampled(void);
/*
 * Whether a sample is due at now, given the time *next it is next due: true
 * for exactly one of any number of concurrent callers, which moves *next a
 * period on.
 */
bool wg_sample_due(atomic_uint_fast64_t *next, uint64_t now, uint64_t period);

enum wg_thread_policy {
	WG_THREAD_NORMAL,      /* SCHED_OTHER, default slice */
	WG_THREAD_SHORT_SLICE, /* SCHED_OTHER asking for 100 us slices: preempts on wakeup */
	WG_THREAD_IDLE,        /* SCHED_IDLE */
};
/*
 * Whether the calling thread runs SCHED_OTHER and may return to it from
 * SCHED_IDLE (CAP_SYS_NICE, or RLIMIT_NICE of at least 20).
 */
bool wg_thread_placement_able(void);
/* Sets the calling thread's policy; -errno on failure. */
int wg_thread_set_policy(enum wg_thread_policy policy);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * A small single-threaded epoll event loop: fd watches, timerfd timers,
 * signalfd, and evloop_post() to run a function on the loop thread from any
 * other thread (eventfd + a locked queue).
 *
 * Everything except evloop_post() must be called on the loop thread. Callbacks
 * may add or remove watches (including their own) while being dispatched: a
 * removed watch is only freed after the current batch of events.
 */
#ifndef OVL_UTIL_EVLOOP_H
#define OVL_UTIL_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

struct evloop;
struct evloop_watch;

/* events: EPOLLIN / EPOLLOUT / EPOLLERR / EPOLLHUP bits as reported by epoll. */
typedef void (*evloop_fd_fn)(struct evloop *loop, int fd, uint32_t events, void *arg);
typedef void (*evloop_timer_fn)(struct evloop *loop, void *arg);
typedef void (*evloop_signal_fn)(struct evloop *loop, int signo, void *arg);
typedef void (*evloop_post_fn)(void *arg);

struct evloop *evloop_new(void);
/*
 * Frees the loop and every remaining watch (closing the timer/signal fds it
 * made; watched caller fds stay open). Posted functions never run are dropped.
 */
void evloop_free(struct evloop *loop);

/* Watches fd for events (EPOLLIN/EPOLLOUT). The fd stays owned by the caller. */
struct evloop_watch *evloop_watch_fd(struct evloop *loop, int fd, uint32_t events, evloop_fd_fn fn, void *arg);
int evloop_watch_modify(struct evloop *loop, struct evloop_watch *w, uint32_t events);
/* Stops watching (does not close the fd). Safe from inside any callback. */
void evloop_unwatch(struct evloop *loop, struct evloop_watch *w);

/* A timer firing after first_ms, then every interval_ms (0 = once; then it stays armed-off). */
struct evloop_watch *evloop_timer(struct evloop *loop, uint64_t first_ms, uint64_t interval_ms,
				  evloop_timer_fn fn, void *arg);
/*
 * Re-arms a timer from evloop_timer(): fires after first_ms (0 = at once),
 * then every interval_ms (0 = once). Needs no new descriptor, so it works
 * while the process is out of them. 0 or -errno.
 */
int evloop_timer_set(struct evloop *loop, struct evloop_watch *w, uint64_t first_ms, uint64_t interval_ms);
/* Disarms a timer without removing it. 0 or -errno. */
int evloop_timer_disarm(struct evloop *loop, struct evloop_watch *w);

/*
 * Blocks the given signals for the calling thread (call before starting other
 * threads so they inherit the mask) and delivers them through a signalfd.
 */
struct evloop_watch *evloop_signals(struct evloop *loop, const int *signals, int count, evloop_signal_fn fn,
				    void *arg);

/* Thread-safe: runs fn(arg) on the loop thread soon, in posting order. 0 or -errno. */
int evloop_post(struct evloop *loop, evloop_post_fn fn, void *arg);

/* Runs every function posted so far, on the calling (loop) thread; used while shutting down. */
void evloop_run_posted(struct evloop *loop);

/* Runs until evloop_stop(). Returns 0, or -errno when epoll fails. */
int evloop_run(struct evloop *loop);
void evloop_stop(struct evloop *loop);

#endif

// SPDX-License-Identifier: MIT
/*
 * epoll event loop. Each watch is heap-allocated and is what epoll's data.ptr
 * points at; removal marks it dead and parks it on a list that is freed after
 * the current epoll_wait batch, so a callback may remove any watch (its own,
 * or one whose event is still pending in the batch) without a use-after-free.
 */
#include "util/evloop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "util/log.h"

enum watch_kind { WATCH_FD, WATCH_TIMER, WATCH_SIGNAL, WATCH_POST };

struct evloop_watch {
	enum watch_kind kind;
	int fd;
	bool owns_fd; /* timerfd/signalfd/eventfd are ours to close */
	bool dead;
	union {
		evloop_fd_fn fd_fn;
		evloop_timer_fn timer_fn;
		evloop_signal_fn signal_fn;
	};
	void *arg;
	struct evloop_watch *next_dead;
	struct evloop_watch *prev, *next; /* every watch not yet freed */
};

struct post_item {
	evloop_post_fn fn;
	void *arg;
	struct post_item *next;
};

struct evloop {
	int epfd;
	struct evloop_watch *watches;
	bool stop;
	struct evloop_watch *dead;
	struct evloop_watch *post_watch;
	pthread_mutex_t post_lock;
	struct post_item *post_head, *post_tail;
};

static struct evloop_watch *watch_add(struct evloop *loop, enum watch_kind kind, int fd, bool owns_fd,
				      uint32_t events, void *arg)
{
	struct evloop_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->kind = kind;
	w->fd = fd;
	w->owns_fd = owns_fd;
	w->arg = arg;
	struct epoll_event ev = { .events = events, .data.ptr = w };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		free(w);
		errno = e;
		return NULL;
	}
	w->next = loop->watches;
	if (w->next)
		w->next->prev = w;
	loop->watches = w;
	return w;
}

static void post_dispatch(struct evloop *loop)
{
	uint64_t n;
	if (read(loop->post_watch->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("evloop: reading the post eventfd failed: %s", strerror(errno));
	pthread_mutex_lock(&loop->post_lock);
	struct post_item *items = loop->post_head;
	loop->post_head = loop->post_tail = NULL;
	pthread_mutex_unlock(&loop->post_lock);
	while (items) {
		struct post_item *next = items->next;
		items->fn(items->arg);
		free(items);
		items = next;
	}
}

struct evloop *evloop_new(void)
{
	struct evloop *loop = calloc(1, sizeof(*loop));
	if (!loop)
		return NULL;
	pthread_mutex_init(&loop->post_lock, NULL);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		goto fail;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		goto fail;
	loop->post_watch = watch_add(loop, WATCH_POST, efd, true, EPOLLIN, NULL);
	if (!loop->post_watch) {
		close(efd);
		goto fail;
	}
	return loop;
fail:
	if (loop->epfd >= 0)
		close(loop->epfd);
	pthread_mutex_destroy(&loop->post_lock);
	free(loop);
	return NULL;
}

static void free_dead(struct evloop *loop)
{
	while (loop->dead) {
		struct evloop_watch *w = loop->dead;
		loop->dead = w->next_dead;
		if (w->prev)
			w->prev->next = w->next;
		else
			loop->watches = w->next;
		if (w->next)
			w->next->prev = w->prev;
		free(w);
	}
}

void evloop_free(struct evloop *loop)
{
	if (!loop)
		return;
	/* Watches the owner never removed (signals, timers) go with the loop. */
	for (struct evloop_watch *w = loop->watches; w; w = w->next)
		evloop_unwatch(loop, w);
	free_dead(loop);
	struct post_item *it = loop->post_head;
	while (it) {
		struct post_item *next = it->next;
		free(it);
		it = next;
	}
	close(loop->epfd);
	pthread_mutex_destroy(&loop->post_lock);
	free(loop);
}

struct evloop_watch *evloop_watch_fd(struct evloop *loop, int fd, uint32_t events, evloop_fd_fn fn, void *arg)
{
	struct evloop_watch *w = watch_add(loop, WATCH_FD, fd, false, events, arg);
	if (w)
		w->fd_fn = fn;
	return w;
}

int evloop_watch_modify(struct evloop *loop, struct evloop_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void evloop_unwatch(struct evloop *loop, struct evloop_watch *w)
{
	if (!w || w->dead)
		return;
	/* Fails only if the caller already closed the fd, which epoll handles itself. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	if (w->owns_fd)
		close(w->fd);
	w->dead = true;
	w->next_dead = loop->dead;
	loop->dead = w;
}

static void ms_to_timespec(uint64_t ms, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

/* A zero it_value would disarm the timer: first_ms 0 fires at once instead. */
static int timerfd_arm(int tfd, uint64_t first_ms, uint64_t interval_ms)
{
	struct itimerspec its = { 0 };
	ms_to_timespec(first_ms, &its.it_value);
	if (first_ms == 0)
		its.it_value.tv_nsec = 1;
	ms_to_timespec(interval_ms, &its.it_interval);
	return timerfd_settime(tfd, 0, &its, NULL) < 0 ? -errno : 0;
}

struct evloop_watch *evloop_timer(struct evloop *loop, uint64_t first_ms, uint64_t interval_ms,
				  evloop_timer_fn fn, void *arg)
{
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (tfd < 0)
		return NULL;
	if (timerfd_arm(tfd, first_ms, interval_ms) < 0) {
		close(tfd);
		return NULL;
	}
	struct evloop_watch *w = watch_add(loop, WATCH_TIMER, tfd, true, EPOLLIN, arg);
	if (!w) {
		close(tfd);
		return NULL;
	}
	w->timer_fn = fn;
	return w;
}

int evloop_timer_set(struct evloop *loop, struct evloop_watch *w, uint64_t first_ms, uint64_t interval_ms)
{
	if (w->kind != WATCH_TIMER || w->dead)
		return -EINVAL;
	return timerfd_arm(w->fd, first_ms, interval_ms);
}

int evloop_timer_disarm(struct evloop *loop, struct evloop_watch *w)
{
	if (w->kind != WATCH_TIMER || w->dead)
		return -EINVAL;
	/*
	 * Setting the time clears pending expirations, so an expiry already in
	 * this batch's events finds nothing to read and is not dispatched.
	 */
	struct itimerspec off = { 0 };
	return timerfd_settime(w->fd, 0, &off, NULL) < 0 ? -errno : 0;
}

struct evloop_watch *evloop_signals(struct evloop *loop, const int *signals, int count, evloop_signal_fn fn,
				    void *arg)
{
	sigset_t set;
	sigemptyset(&set);
	for (int i = 0; i < count; i++)
		sigaddset(&set, signals[i]);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return NULL;
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return NULL;
	struct evloop_watch *w = watch_add(loop, WATCH_SIGNAL, sfd, true, EPOLLIN, arg);
	if (!w) {
		close(sfd);
		return NULL;
	}
	w->signal_fn = fn;
	return w;
}

int evloop_post(struct evloop *loop, evloop_post_fn fn, void *arg)
{
	struct post_item *it = malloc(sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->fn = fn;
	it->arg = arg;
	it->next = NULL;
	pthread_mutex_lock(&loop->post_lock);
	bool was_empty = loop->post_head == NULL;
	if (loop->post_tail)
		loop->post_tail->next = it;
	else
		loop->post_head = it;
	loop->post_tail = it;
	pthread_mutex_unlock(&loop->post_lock);
	/* One wake-up per batch: the loop drains the whole queue on each wake. */
	if (was_empty) {
		uint64_t one = 1;
		if (write(loop->post_watch->fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			return -errno;
	}
	return 0;
}

static void dispatch(struct evloop *loop, struct evloop_watch *w, uint32_t events)
{
	switch (w->kind) {
	case WATCH_FD:
		w->fd_fn(loop, w->fd, events, w->arg);
		break;
	case WATCH_TIMER: {
		uint64_t expirations;
		if (read(w->fd, &expirations, sizeof(expirations)) == (ssize_t)sizeof(expirations))
			w->timer_fn(loop, w->arg);
		break;
	}
	case WATCH_SIGNAL: {
		struct signalfd_siginfo si;
		while (!w->dead && read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			w->signal_fn(loop, (int)si.ssi_signo, w->arg);
		break;
	}
	case WATCH_POST:
		post_dispatch(loop);
		break;
	}
}

int evloop_run(struct evloop *loop)
{
	struct epoll_event evs[64];
	loop->stop = false;
	while (!loop->stop) {
		int n = epoll_wait(loop->epfd, evs, 64, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !loop->stop; i++) {
			struct evloop_watch *w = evs[i].data.ptr;
			if (!w->dead)
				dispatch(loop, w, evs[i].events);
		}
		free_dead(loop);
	}
	return 0;
}

void evloop_run_posted(struct evloop *loop)
{
	post_dispatch(loop);
}

void evloop_stop(struct evloop *loop)
{
	loop->stop = true;
}

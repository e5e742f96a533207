// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/evloop.h"

struct counts {
	int timer, posted, fd, sig;
	struct evloop_watch *self;
	int pipe_r;
};

static void on_timer(struct evloop *loop, void *arg)
{
	struct counts *c = arg;
	if (++c->timer == 3) {
		evloop_unwatch(loop, c->self); /* removing itself from its own callback */
		evloop_stop(loop);
	}
}

static void timer_repeats_and_can_remove_itself(void **state)
{
	struct evloop *loop = evloop_new();
	struct counts c = { 0 };
	c.self = evloop_timer(loop, 1, 1, on_timer, &c);
	assert_non_null(c.self);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(c.timer, 3);
	evloop_free(loop);
}

static void count_timer(struct evloop *loop, void *arg)
{
	struct counts *c = arg;
	c->timer++;
}

static void stop_timer(struct evloop *loop, void *arg)
{
	evloop_stop(loop);
}

/* The ipc server's accept back-off re-arms one timer while out of descriptors. */
static void timer_can_be_disarmed_and_rearmed(void **state)
{
	struct evloop *loop = evloop_new();
	struct counts c = { 0 };
	struct evloop_watch *t = evloop_timer(loop, 1, 1, count_timer, &c);
	assert_non_null(t);
	assert_int_equal(evloop_timer_disarm(loop, t), 0);
	struct evloop_watch *stop = evloop_timer(loop, 30, 0, stop_timer, NULL);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(c.timer, 0); /* disarmed: never fired in 30 ms */

	assert_int_equal(evloop_timer_set(loop, t, 0, 0), 0); /* once, at once */
	assert_int_equal(evloop_timer_set(loop, stop, 30, 0), 0);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(c.timer, 1);
	assert_int_equal(evloop_timer_set(loop, stop, 30, 0), 0);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(c.timer, 1); /* one-shot: stays disarmed after firing */
	evloop_free(loop);
}

static void on_post(void *arg)
{
	struct counts *c = arg;
	c->posted++;
}

static void stop_post(void *arg)
{
	evloop_stop(arg);
}

struct poster {
	struct evloop *loop;
	struct counts *c;
};

static void *post_many(void *p)
{
	struct poster *ps = p;
	for (int i = 0; i < 10000; i++)
		evloop_post(ps->loop, on_post, ps->c);
	evloop_post(ps->loop, stop_post, ps->loop);
	return NULL;
}

static void posts_from_another_thread_run_in_order(void **state)
{
	struct evloop *loop = evloop_new();
	struct counts c = { 0 };
	struct poster ps = { loop, &c };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, post_many, &ps), 0);
	assert_int_equal(evloop_run(loop), 0);
	pthread_join(t, NULL);
	/* stop_post was posted last, so every earlier post ran before it. */
	assert_int_equal(c.posted, 10000);
	evloop_free(loop);
}

static void on_readable(struct evloop *loop, int fd, uint32_t events, void *arg)
{
	struct counts *c = arg;
	char b;
	assert_true(events & EPOLLIN);
	assert_int_equal(read(fd, &b, 1), 1);
	c->fd++;
	evloop_unwatch(loop, c->self);
	evloop_stop(loop);
}

static void on_sig(struct evloop *loop, int signo, void *arg)
{
	struct counts *c = arg;
	assert_int_equal(signo, SIGUSR1);
	c->sig++;
	evloop_stop(loop);
}

static void fd_and_signal_watches(void **state)
{
	struct evloop *loop = evloop_new();
	struct counts c = { 0 };
	int p[2];
	assert_int_equal(pipe(p), 0);
	c.self = evloop_watch_fd(loop, p[0], EPOLLIN, on_readable, &c);
	assert_non_null(c.self);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(c.fd, 1);
	const int sigs[] = { SIGUSR1 };
	assert_non_null(evloop_signals(loop, sigs, 1, on_sig, &c));
	assert_int_equal(kill(getpid(), SIGUSR1), 0);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(c.sig, 1);
	close(p[0]);
	close(p[1]);
	evloop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(timer_repeats_and_can_remove_itself),
		cmocka_unit_test(timer_can_be_disarmed_and_rearmed),
		cmocka_unit_test(posts_from_another_thread_run_in_order),
		cmocka_unit_test(fd_and_signal_watches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

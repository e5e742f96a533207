// SPDX-License-Identifier: MIT
/*
 * wg-flood: sends WireGuard handshake initiations that carry a valid MAC1
 * for a target's public key, at a given rate, from one UDP socket, with
 * sendmmsg. MAC1 needs only the responder's public key (mac1 =
 * MAC(HASH("mac1----" || Spub_r), msg[0:116])), so this is what anyone who
 * knows a device's public key can send; everything else in the messages is
 * random, so no handshake ever follows.
 *
 *   wg-flood [-r RATE] [-t SECONDS] [-b BATCH] [-j THREADS] IP:PORT PUBLIC_KEY_BASE64
 *
 * RATE 0 sends as fast as possible. SECONDS 0 runs until SIGINT/SIGTERM.
 * THREADS senders (default 1) share the rate, each with its own socket on
 * the same address: still one source for per-address rate limits.
 * At the end it prints "sent N in T s: R/s" (the rate it achieved, which on
 * a busy machine may fall short of the one asked for).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/inet.h"
#include "util/key.h"
#include "wg/cookie.h"
#include "wg/crypto.h"
#include "wg/messages.h"

#define POOL 1024 /* distinct messages, sent round-robin */
#define MAX_BATCH 256
#define MAX_THREADS 16

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000ull), .tv_nsec = (long)(t % 1000000000ull) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop)
		;
}

static struct wg_msg_initiation pool[POOL];

struct sender {
	pthread_t thread;
	int fd;
	double rate; /* this sender's share; 0: unpaced */
	unsigned batch;
	uint64_t start, end, sent;
};

static void *send_loop(void *arg)
{
	struct sender *s = arg;
	struct mmsghdr msgs[MAX_BATCH];
	struct iovec iov[MAX_BATCH];

	while (!stop) {
		uint64_t t = now_ns();
		if (t >= s->end)
			break;
		if (s->rate > 0) {
			/* Paced by the clock: message k leaves at start + k / rate. */
			uint64_t due = s->start + (uint64_t)((double)s->sent / s->rate * 1e9);
			if (due > t) {
				sleep_until(due < s->end ? due : s->end);
				continue;
			}
		}
		memset(msgs, 0, sizeof(msgs[0]) * s->batch);
		for (unsigned i = 0; i < s->batch; i++) {
			iov[i].iov_base = &pool[(s->sent + i) % POOL];
			iov[i].iov_len = sizeof(pool[0]);
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		int n = sendmmsg(s->fd, msgs, s->batch, 0);
		if (n > 0)
			s->sent += (uint64_t)n;
		else if (n < 0 && errno != EINTR && errno != ENOBUFS && errno != EAGAIN &&
			 errno != ECONNREFUSED) {
			perror("wg-flood: sendmmsg");
			break;
		}
	}
	return NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: wg-flood [-r RATE] [-t SECONDS] [-b BATCH] [-j THREADS] IP:PORT PUBLIC_KEY_BASE64\n");
	return 2;
}

int main(int argc, char **argv)
{
	static struct sender senders[MAX_THREADS];
	struct wg_cookie_maker maker;
	struct ip_endpoint target;
	struct sockaddr_storage ss;
	socklen_t sl;
	uint8_t pub[WG_KEY_LEN];
	double rate = 100000, seconds = 10;
	unsigned batch = 32, threads = 1;
	uint64_t sent = 0, start, end;
	int opt, tiny = 4096;

	while ((opt = getopt(argc, argv, "r:t:b:j:")) != -1) {
		switch (opt) {
		case 'r':
			rate = atof(optarg);
			break;
		case 't':
			seconds = atof(optarg);
			break;
		case 'b':
			batch = (unsigned)atoi(optarg);
			break;
		case 'j':
			threads = (unsigned)atoi(optarg);
			break;
		default:
			return usage();
		}
	}
	if (argc - optind != 2 || rate < 0 || seconds < 0 || batch < 1 || batch > MAX_BATCH ||
	    threads < 1 || threads > MAX_THREADS)
		return usage();
	if (ip_endpoint_parse(argv[optind], &target) || key_from_base64(argv[optind + 1], pub)) {
		fprintf(stderr, "wg-flood: bad endpoint or public key\n");
		return 2;
	}
	if (wg_crypto_init()) {
		fprintf(stderr, "wg-flood: cannot initialise the crypto library\n");
		return 1;
	}
	for (unsigned i = 0; i < POOL; i++) {
		wg_random(&pool[i], sizeof(pool[i]));
		pool[i].type = htole32(WG_MSG_INITIATION);
		/* A fresh maker per message: no cookie, so MAC2 stays zero, as for a first try. */
		wg_cookie_maker_init(&maker, pub);
		wg_cookie_add_macs(&maker, (uint8_t *)&pool[i], sizeof(pool[i]), now_ns());
	}
	ip_endpoint_to_sockaddr(&target, &ss, &sl);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	start = now_ns();
	end = seconds > 0 ? start + (uint64_t)(seconds * 1e9) : UINT64_MAX;
	for (unsigned i = 0; i < threads; i++) {
		struct sender *s = &senders[i];
		s->fd = socket(target.addr.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&ss, sl) < 0) {
			perror("wg-flood: socket");
			return 1;
		}
		/* Cookie replies come back; nobody reads them, so keep their queue small. */
		(void)setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &tiny, sizeof(tiny));
		s->rate = rate / threads;
		s->batch = batch;
		s->start = start;
		s->end = end;
		if (pthread_create(&s->thread, NULL, send_loop, s)) {
			fprintf(stderr, "wg-flood: cannot start a sender thread\n");
			return 1;
		}
	}
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(senders[i].thread, NULL);
		sent += senders[i].sent;
		close(senders[i].fd);
	}
	double took = (double)(now_ns() - start) / 1e9;
	printf("sent %llu in %.2f s: %.0f/s\n", (unsigned long long)sent, took, took > 0 ? (double)sent / took : 0);
	return 0;
}

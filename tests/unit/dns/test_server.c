// SPDX-License-Identifier: MIT
/*
 * The server through its public API on loopback: listener bookkeeping and
 * errors, answers over UDP and TCP, registrations racing with queries, a
 * burst of queries answered in batches, and which worker serves them.
 * Ports are random high ones, retried when taken (other engineers' tests
 * run on this machine too).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "dns/dns.h"
#include "dns/worker.h" /* which worker answered, and the steering policy */
#include "querybuf.h"

static struct dns_server *new_server(void)
{
	struct dns_config cfg = { .zone = "zlayer.local", .no_forward = true, .threads = 2 };
	struct dns_server *srv = dns_server_create(&cfg);
	assert_non_null(srv);
	return srv;
}

/* Listens on 127.0.0.1:<random high port>; returns the endpoint. */
static struct ip_endpoint listen_random(struct dns_server *srv)
{
	struct ip_endpoint ep;
	assert_int_equal(ip_endpoint_parse("127.0.0.1:0", &ep), 0);
	for (int tries = 0; tries < 50; tries++) {
		uint16_t r;
		assert_int_equal(getrandom(&r, sizeof(r), 0), (ssize_t)sizeof(r));
		ep.port = (uint16_t)(20000 + r % 40000);
		int err = dns_server_listen(srv, &ep);
		if (err == 0)
			return ep;
		assert_int_equal(err, -EADDRINUSE);
	}
	fail_msg("no free port");
	return ep;
}

/* One query over UDP (tcp false) or TCP; returns the answer length, 0 on
 * no answer within 2 s. */
static size_t exchange(const struct ip_endpoint *ep, bool tcp, const uint8_t *q, size_t qlen, uint8_t *ans,
		       size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	ip_endpoint_to_sockaddr(ep, &ss, &sl);
	int fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	struct timeval tv = { .tv_sec = 2 };
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	ssize_t n = 0;
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		close(fd);
		return 0;
	}
	if (tcp) {
		uint8_t buf[600];
		be16_put(buf, (uint16_t)qlen);
		memcpy(buf + 2, q, qlen);
		assert_int_equal(send(fd, buf, qlen + 2, 0), (ssize_t)qlen + 2);
		uint8_t lenbuf[2];
		if (recv(fd, lenbuf, 2, MSG_WAITALL) == 2)
			n = recv(fd, ans, be16_get(lenbuf) < cap ? be16_get(lenbuf) : cap, MSG_WAITALL);
	} else {
		assert_int_equal(send(fd, q, qlen, 0), (ssize_t)qlen);
		n = recv(fd, ans, cap, 0);
	}
	close(fd);
	return n > 0 ? (size_t)n : 0;
}

static void listener_errors(void **state)
{
	struct dns_server *srv = new_server();
	struct ip_endpoint ep = listen_random(srv), zero_port = ep, nonlocal;
	zero_port.port = 0;
	assert_int_equal(dns_server_listen(srv, &ep), -EEXIST);
	assert_int_equal(dns_server_listen(srv, &zero_port), -EINVAL);
	assert_int_equal(dns_server_listen(srv, NULL), -EINVAL);
	assert_int_equal(ip_endpoint_parse("203.0.113.1:53", &nonlocal), 0);
	assert_int_equal(dns_server_listen(srv, &nonlocal), -EADDRNOTAVAIL);
	assert_int_equal(dns_server_unlisten(srv, &nonlocal), -ENOENT);
	/* Another server cannot take the same port. */
	struct dns_server *other = new_server();
	assert_int_equal(dns_server_listen(other, &ep), -EADDRINUSE);
	dns_server_destroy(other);
	assert_int_equal(dns_server_unlisten(srv, &ep), 0);
	assert_int_equal(dns_server_unlisten(srv, &ep), -ENOENT);
	dns_server_destroy(srv);
	struct dns_config bad = { .zone = "bad zone" };
	assert_null(dns_server_create(&bad));
	assert_int_equal(errno, EINVAL);
}

/* A server with web -> 10.200.0.5, listening at *ep. */
static struct dns_server *web_server(struct ip_endpoint *ep)
{
	struct dns_server *srv = new_server();
	struct ip_addr a;
	assert_int_equal(ip_addr_parse("10.200.0.5", &a), 0);
	assert_int_equal(dns_record_set(srv, "web", &a), 0);
	*ep = listen_random(srv);
	return srv;
}

static void answers_over_udp_and_tcp(void **state)
{
	struct ip_endpoint ep;
	struct dns_server *srv = web_server(&ep);
	uint8_t q[512], ans[1024];
	size_t qlen = make_query(q, 77, "web.zlayer.local.", DNS_T_A, 0);
	for (int tcp = 0; tcp < 2; tcp++) {
		size_t n = exchange(&ep, tcp, q, qlen, ans, sizeof(ans));
		assert_true(n > 12);
		assert_int_equal(be16_get(ans), 77);
		assert_int_equal(msg_count(ans, 1), 1);
		assert_memory_equal(ans + n - 4, "\x0a\xc8\x00\x05", 4);
	}
	/* Listeners can be cycled while the server runs. */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(dns_server_unlisten(srv, &ep), 0);
		ep = listen_random(srv);
		assert_true(exchange(&ep, i & 1, q, qlen, ans, sizeof(ans)) > 12);
	}
	struct dns_record *v;
	size_t count;
	assert_int_equal(dns_record_list(srv, &v, &count), 0);
	assert_int_equal(count, 1);
	assert_string_equal(v[0].name, "web.zlayer.local.");
	free(v);
	dns_server_destroy(srv);
}

struct race {
	struct dns_server *srv;
	struct ip_endpoint ep;
	atomic_bool stop;
	atomic_uint answered, bad;
};

static void *querier(void *arg)
{
	struct race *r = arg;
	uint8_t q[512], ans[1024];
	size_t qlen = make_query(q, 1, "churn.zlayer.local.", DNS_T_A, 0);
	while (!atomic_load(&r->stop)) {
		size_t n = exchange(&r->ep, false, q, qlen, ans, sizeof(ans));
		if (!n)
			continue;
		atomic_fetch_add(&r->answered, 1);
		/* Either the name has an address, or it is NXDOMAIN with the SOA. */
		bool ok = (msg_rcode(ans) == 0 && msg_count(ans, 1) == 1) ||
			  (msg_rcode(ans) == 3 && msg_count(ans, 2) == 1);
		if (!ok)
			atomic_fetch_add(&r->bad, 1);
	}
	return NULL;
}

static void registrations_race_with_queries(void **state)
{
	struct race r = { .srv = new_server() };
	r.ep = listen_random(r.srv);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, querier, &r), 0);
	struct ip_addr a;
	assert_int_equal(ip_addr_parse("10.200.0.1", &a), 0);
	char name[32];
	/*
	 * Churn for at least 3000 rounds and until the querier has seen enough
	 * answers to have raced us (on a loaded machine it may start late).
	 */
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0;; i++) {
		if (i >= 3000 && atomic_load(&r.answered) >= 200)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 30)
			break;
		a.bytes[3] = (uint8_t)i;
		assert_int_equal(dns_record_set(r.srv, "churn", &a), 0);
		snprintf(name, sizeof(name), "other%d", i % 50);
		assert_int_equal(dns_record_set(r.srv, name, &a), 0);
		if (i % 3 == 0)
			assert_int_equal(dns_record_remove(r.srv, "churn"), 0);
	}
	atomic_store(&r.stop, true);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(atomic_load(&r.answered) >= 200);
	assert_int_equal(atomic_load(&r.bad), 0);
	dns_server_destroy(r.srv);
}

/* A UDP socket connected to ep (its own source port), 2 s receive timeout. */
static int udp_client(const struct ip_endpoint *ep)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	ip_endpoint_to_sockaddr(ep, &ss, &sl);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	struct timeval tv = { .tv_sec = 2 };
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, sl), 0);
	return fd;
}

#define BURST 100

/*
 * Every client sends its query before any reads: the worker takes them in
 * batches, and each answer must still reach the port that asked, with that
 * query's ID and that name's address.
 */
static void burst_from_many_ports_keeps_pairs(void **state)
{
	struct dns_server *srv = new_server();
	char name[32];
	struct ip_addr a;
	assert_int_equal(ip_addr_parse("10.201.0.0", &a), 0);
	for (int i = 0; i < BURST; i++) {
		snprintf(name, sizeof(name), "svc%d", i);
		a.bytes[3] = (uint8_t)i;
		assert_int_equal(dns_record_set(srv, name, &a), 0);
	}
	struct ip_endpoint ep = listen_random(srv);
	int fds[BURST];
	uint8_t q[512], ans[1024];
	for (int i = 0; i < BURST; i++) {
		fds[i] = udp_client(&ep);
		snprintf(name, sizeof(name), "svc%d.zlayer.local.", i);
		size_t qlen = make_query(q, (uint16_t)(1000 + i), name, DNS_T_A, 0);
		assert_int_equal(send(fds[i], q, qlen, 0), (ssize_t)qlen);
	}
	for (int i = 0; i < BURST; i++) {
		ssize_t n = recv(fds[i], ans, sizeof(ans), 0);
		assert_true(n > 12);
		assert_int_equal(be16_get(ans), 1000 + i);
		assert_int_equal(msg_count(ans, 1), 1);
		assert_int_equal(ans[n - 1], (uint8_t)i);
		close(fds[i]);
	}
	dns_server_destroy(srv);
}

/* Steering needs each thread's schedstat; without it every worker serves. */
static void skip_without_schedstat(void)
{
	if (access("/proc/self/schedstat", R_OK) != 0)
		skip();
}

static uint64_t worker_answers(struct dns_server *srv, unsigned w)
{
	return mx_read(&srv->workers[w]->metrics.queries[DNS_RESULT_NOERROR]);
}

/* Queries from n clients, each on its own source port, answered in turn. */
static void ask_from_ports(const struct ip_endpoint *ep, int n)
{
	uint8_t q[512], ans[1024];
	size_t qlen = make_query(q, 9, "web.zlayer.local.", DNS_T_A, 0);
	for (int i = 0; i < n; i++) {
		int fd = udp_client(ep);
		assert_int_equal(send(fd, q, qlen, 0), (ssize_t)qlen);
		assert_true(recv(fd, ans, sizeof(ans), 0) > 12);
		close(fd);
	}
}

/*
 * Under light load one worker answers everything (steer.c): clients on 64
 * source ports, which the kernel's hash alone would spread over both.
 */
static void light_load_stays_on_one_worker(void **state)
{
	skip_without_schedstat();
	struct ip_endpoint ep;
	struct dns_server *srv = web_server(&ep);
	ask_from_ports(&ep, 64);
	assert_int_equal(worker_answers(srv, 0), 64);
	assert_int_equal(worker_answers(srv, 1), 0);
	dns_server_destroy(srv);
}

/* Worker 0's socket, which takes every query while it serves alone, has the
 * receive buffer of all the listener's sockets together. */
static void worker0_socket_buffers_for_all(void **state)
{
	struct ip_endpoint ep;
	struct dns_server *srv = web_server(&ep);
	int size0, size1;
	socklen_t sl = sizeof(int);
	assert_int_equal(getsockopt(srv->listeners->udp[0].fd, SOL_SOCKET, SO_RCVBUF, &size0, &sl), 0);
	assert_int_equal(getsockopt(srv->listeners->udp[1].fd, SOL_SOCKET, SO_RCVBUF, &size1, &sl), 0);
	assert_true(size0 >= 2 * size1);
	dns_server_destroy(srv);
}

/*
 * Both steering programs on a listener: spread, 64 source ports reach both
 * workers (all on one by chance: 2^-63); one worker, they all reach worker 0.
 * The mode itself stays "one" under this load, so worker 0 never re-applies
 * it behind the test's back (it applies a mode only when it changes).
 */
static void steering_programs(void **state)
{
	skip_without_schedstat();
	struct ip_endpoint ep;
	struct dns_server *srv = web_server(&ep);
	pthread_mutex_lock(&srv->lock);
	dns_steer_listener(srv->listeners, DNS_STEER_SPREAD);
	pthread_mutex_unlock(&srv->lock);
	ask_from_ports(&ep, 64);
	uint64_t on0 = worker_answers(srv, 0), on1 = worker_answers(srv, 1);
	assert_int_equal(on0 + on1, 64);
	assert_true(on0 > 0 && on1 > 0);
	pthread_mutex_lock(&srv->lock);
	dns_steer_listener(srv->listeners, DNS_STEER_ONE);
	pthread_mutex_unlock(&srv->lock);
	ask_from_ports(&ep, 64);
	assert_int_equal(worker_answers(srv, 0), on0 + 64);
	assert_int_equal(worker_answers(srv, 1), on1);
	dns_server_destroy(srv);
}

/* The server's counter of result r so far. */
static uint64_t server_count(struct dns_server *srv, enum dns_result r)
{
	struct dns_metrics m;
	dns_server_metrics(srv, &m);
	return m.queries[r];
}

#define FORWARDS 1500

/*
 * Forwarded queries waiting for an upstream: with two workers the server
 * holds 2 x MAX_PENDING_PER_WORKER of them, as when the kernel's hash spread
 * the clients over both, although one worker now gets every query.
 */
static void one_worker_holds_every_workers_pending_queries(void **state)
{
	skip_without_schedstat();
	/* Each waiting query has a socket of its own. */
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = rl.rlim_max;
	if (rl.rlim_max < FORWARDS + 100 || setrlimit(RLIMIT_NOFILE, &rl) < 0)
		skip();
	/* An upstream that never answers. */
	struct ip_endpoint up;
	assert_int_equal(ip_endpoint_parse("127.0.0.1:0", &up), 0);
	int upfd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	ip_endpoint_to_sockaddr(&up, &ss, &sl);
	assert_int_equal(bind(upfd, (struct sockaddr *)&ss, sl), 0);
	assert_int_equal(getsockname(upfd, (struct sockaddr *)&ss, &sl), 0);
	up.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	struct dns_config cfg = { .zone = "zlayer.local", .threads = 2, .upstreams = &up, .n_upstreams = 1,
				  .forward_timeout_ms = 30000 };
	struct dns_server *srv = dns_server_create(&cfg);
	assert_non_null(srv);
	struct ip_endpoint ep = listen_random(srv);
	int clients[16];
	for (int c = 0; c < 16; c++)
		clients[c] = udp_client(&ep);
	uint8_t q[512];
	/* In steps the listener's receive buffer holds. */
	for (int i = 0; i < FORWARDS; i++) {
		size_t qlen = make_query(q, (uint16_t)i, "outside.example.", DNS_T_A, 0);
		assert_int_equal(send(clients[i % 16], q, qlen, 0), (ssize_t)qlen);
		if (i % 100 != 99 && i != FORWARDS - 1)
			continue;
		for (int t = 0; t < 500; t++) {
			if (server_count(srv, DNS_RESULT_FORWARDED) + server_count(srv, DNS_RESULT_SERVFAIL) > (uint64_t)i)
				break;
			nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
		}
	}
	assert_int_equal(server_count(srv, DNS_RESULT_SERVFAIL), 0);
	assert_int_equal(server_count(srv, DNS_RESULT_FORWARDED), FORWARDS);
	dns_server_destroy(srv);
	for (int c = 0; c < 16; c++)
		close(clients[c]);
	close(upfd);
}

/* The policy: spread once worker 0 is (nearly) never idle, back to one
 * only well below, so that the dearer spread mode does not flap back. */
static void steering_policy(void **state)
{
	const double idle[2] = { 0.1, 0 }, saturated[2] = { 0.9, 0 }, both[2] = { 0.5, 0.3 }, low[2] = { 0.2, 0.1 };
	assert_int_equal(dns_steer_next(DNS_STEER_ONE, idle, 2), DNS_STEER_ONE);
	assert_int_equal(dns_steer_next(DNS_STEER_ONE, saturated, 2), DNS_STEER_SPREAD);
	assert_int_equal(dns_steer_next(DNS_STEER_SPREAD, both, 2), DNS_STEER_SPREAD);
	assert_int_equal(dns_steer_next(DNS_STEER_SPREAD, low, 2), DNS_STEER_ONE);
	assert_int_equal(dns_steer_next(DNS_STEER_ONE, both, 2), DNS_STEER_ONE);
	/* One worker: nothing to spread to. */
	assert_int_equal(dns_steer_next(DNS_STEER_ONE, saturated, 1), DNS_STEER_ONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(listener_errors),
		cmocka_unit_test(answers_over_udp_and_tcp),
		cmocka_unit_test(registrations_race_with_queries),
		cmocka_unit_test(burst_from_many_ports_keeps_pairs),
		cmocka_unit_test(light_load_stays_on_one_worker),
		cmocka_unit_test(steering_programs),
		cmocka_unit_test(worker0_socket_buffers_for_all),
		cmocka_unit_test(one_worker_holds_every_workers_pending_queries),
		cmocka_unit_test(steering_policy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

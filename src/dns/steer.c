// SPDX-License-Identifier: MIT
/*
 * Which worker a listener's UDP datagrams reach.
 *
 * Every listener has one UDP socket per worker in one SO_REUSEPORT group.
 * Left alone, the kernel hashes each client's address and port over the
 * group, so every worker gets a share of the clients, and with few queries
 * in flight each worker wakes for a handful of them. On a 2-core machine
 * with the clients on the same cores that is the dearer way: with two
 * workers both the server and its client switch context more often per
 * query (perf stat under bench/dns.sh -p), and one switch costs more than
 * answering several queries.
 *
 * So while one worker keeps up, a one-instruction classic BPF program on the
 * group sends every datagram to worker 0's socket (index 0: the first bound;
 * its receive buffer is widened to hold what all of them held), which
 * drains them in larger batches. Worker 0 reads every worker's time on
 * a CPU each STEER_PERIOD_MS: once it ran for most of a period, the program
 * is swapped for one that returns an out-of-range index, which makes the
 * kernel fall back to its hash (socket(7)), and every worker serves; when
 * all of them together ran for well under one CPU, back to worker 0 alone.
 * Time on a CPU, not time wanting one: a worker 0 that waits behind other
 * work would only be joined by another waiter, at a higher cost per query.
 * Spreading costs more per query, so the two thresholds leave room between
 * them (dns_steer_next) and the mode does not flap.
 */
#include <fcntl.h>
#include <linux/filter.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns/worker.h"
#include "util/log.h"

#define STEER_PERIOD_NS (100 * 1000000ull)

static const char *mode_name(enum dns_steer_mode m)
{
	return m == DNS_STEER_ONE ? "one worker" : "every worker";
}

enum dns_steer_mode dns_steer_next(enum dns_steer_mode cur, const double *busy, unsigned n)
{
	if (n < 2)
		return DNS_STEER_ONE;
	if (cur == DNS_STEER_ONE)
		return busy[0] >= DNS_STEER_SPREAD_AT ? DNS_STEER_SPREAD : DNS_STEER_ONE;
	double total = 0;
	for (unsigned i = 0; i < n; i++)
		total += busy[i];
	return total < DNS_STEER_ONE_BELOW ? DNS_STEER_ONE : DNS_STEER_SPREAD;
}

void dns_steer_widen(struct listener *l)
{
	int size;
	socklen_t sl = sizeof(size);
	if (l->nudp < 2 || getsockopt(l->udp[0].fd, SOL_SOCKET, SO_RCVBUF, &size, &sl) < 0)
		return;
	/* The kernel reports twice what was asked (its bookkeeping), and
	 * doubles what is asked: ask for half of nudp times the report. A
	 * refusal (above net.core.rmem_max without CAP_NET_ADMIN) leaves the
	 * default: bursts then overflow sooner, nothing else. */
	size = size / 2 * (int)l->nudp;
	if (setsockopt(l->udp[0].fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0 &&
	    setsockopt(l->udp[0].fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) < 0)
		log_debug("dns: cannot widen worker 0's receive buffer: %m");
}

void dns_steer_listener(struct listener *l, enum dns_steer_mode mode)
{
	if (l->nudp < 2)
		return;
	/* The program's value is the index of the socket in the group; one
	 * past any index falls back to the kernel's hash. */
	struct sock_filter insn = BPF_STMT(BPF_RET | BPF_K, mode == DNS_STEER_ONE ? 0 : 0xffffffffu);
	struct sock_fprog prog = { .len = 1, .filter = &insn };
	/* Attached to one socket, it serves the whole group. */
	if (setsockopt(l->udp[0].fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		log_debug("dns: cannot steer UDP queries to %s: %m", mode_name(mode));
}

/* Every listener to mode (srv->lock held). One that refuses keeps what it
 * had, at worst the kernel's hash: every worker serving, as without us. */
static void apply(struct dns_server *srv, enum dns_steer_mode mode)
{
	for (struct listener *l = srv->listeners; l; l = l->next)
		dns_steer_listener(l, mode);
}

/* The nanoseconds the thread tid has run on a CPU, from its schedstat (the
 * first of: on a CPU, waiting on a run queue, timeslices); 0 if unknown. */
static uint64_t run_ns(pid_t tid)
{
	char path[64], buf[96];
	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	unsigned long long run;
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return sscanf(buf, "%llu", &run) == 1 ? run : 0;
}

int dns_steer_timeout_ms(const struct dns_server *srv)
{
	/* Spread, worker 0 may see none of the datagrams: wake to measure. */
	return srv->steer.mode == DNS_STEER_SPREAD ? (int)(STEER_PERIOD_NS / 1000000) : -1;
}

void dns_steer_tick(struct dns_server *srv, uint64_t now_ns)
{
	struct dns_steer *s = &srv->steer;
	if (srv->nworkers < 2 || now_ns - s->wall_ns < STEER_PERIOD_NS)
		return;
	double busy[MAX_WORKERS];
	bool first = !s->wall_ns, known = true;
	for (unsigned i = 0; i < srv->nworkers; i++) {
		pid_t tid = atomic_load_explicit(&srv->workers[i]->tid, memory_order_relaxed);
		uint64_t t = tid ? run_ns(tid) : 0;
		busy[i] = (double)(t - s->run_ns[i]) / (double)(now_ns - s->wall_ns);
		known = known && t;
		s->run_ns[i] = t;
	}
	s->wall_ns = now_ns;
	if (first)
		return;
	/* Not measured (no schedstat, a worker not started): as if busy,
	 * so every worker serves, as with the kernel's hash alone. */
	enum dns_steer_mode next = known ? dns_steer_next(s->mode, busy, srv->nworkers) : DNS_STEER_SPREAD;
	/* listen/unlisten hold the lock while they wait for this thread to
	 * loop: never wait for it here, try again next period instead. */
	if (next == s->mode || pthread_mutex_trylock(&srv->lock) != 0)
		return;
	apply(srv, next);
	s->mode = next;
	log_debug("dns: UDP queries now go to %s (worker 0 busy %.0f%%)", mode_name(next), busy[0] * 100);
	pthread_mutex_unlock(&srv->lock);
}

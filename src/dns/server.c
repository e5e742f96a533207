// SPDX-License-Identifier: MIT
/*
 * The serving side: listeners, worker threads and the lifecycle; the
 * transports are in udp.c and tcp.c, the forwarder in forward.c, which
 * worker gets a listener's datagrams in steer.c.
 *
 * Each worker is a thread with its own epoll set. Every listener has one UDP
 * socket per worker, all bound to the same address with SO_REUSEPORT, so the
 * kernel can spread clients over the workers with no shared queue; while
 * worker 0 keeps up alone it gets them all (steer.c). A worker reads and
 * answers a batch at a time (recvmmsg/sendmmsg). Worker 0 also
 * owns the TCP listeners and connections. Forwarded queries stay on the
 * worker that received them: each gets its own connected UDP socket to the
 * upstream (a fresh random source port) and a fresh random ID; an answer
 * truncated upstream is fetched again over TCP.
 *
 * Listeners come and go while workers run. To close one safely, the caller
 * removes its sockets from every epoll set, marks it dead, bumps a
 * generation counter and waits until every worker has finished two loop
 * iterations: by then no worker holds an event for those sockets, and each
 * has dropped the connections and forwarded queries that answered through
 * them. Only then are the sockets closed (a closed descriptor number could
 * otherwise be reused under a worker's feet).
 */
#include "dns/dns.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns/resolvconf.h"
#include "dns/worker.h"
#include "util/log.h"

static void wake(struct worker *w)
{
	uint64_t one = 1;
	if (write(w->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("dns: cannot wake worker %u: %m", w->index);
}

/* ---- the worker loop ---------------------------------------------------- */

/* After a listener was removed: drop what still answers through it. */
static void drop_dead(struct worker *w)
{
	for (struct pending *p = w->pending, *next; p; p = next) {
		next = p->next;
		if (p->us && atomic_load(&p->us->l->dead))
			dns_fwd_free(w, p);
	}
	for (struct tcp_conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		if (atomic_load(&c->l->dead))
			dns_tcp_close(w, c);
	}
}

static void expire(struct worker *w, int64_t now)
{
	dns_fwd_expire(w, now);
	for (struct tcp_conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		if (!c->inflight && now - c->last_active_ms >= w->srv->tcp_idle_ms)
			dns_tcp_close(w, c);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct dns_server *srv = w->srv;
	struct epoll_event evs[64];
	atomic_store_explicit(&w->tid, gettid(), memory_order_relaxed);
	while (!atomic_load(&srv->stop)) {
		int timeout = w->npending ? 20 : w->nconns ? 250 : -1;
		if (w->index == 0 && timeout < 0)
			timeout = dns_steer_timeout_ms(srv);
		int n = epoll_wait(w->epfd, evs, 64, timeout);
		if (n < 0) {
			/* Not expected (EINTR aside); keep looping, slowly, so
			 * the loop counter still moves for workers_quiesce(). */
			if (errno != EINTR) {
				log_error("dns: worker %u: epoll_wait: %m", w->index);
				nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
			}
			n = 0;
		}
		for (int i = 0; i < n; i++) {
			struct ev *e = evs[i].data.ptr;
			switch (e->kind) {
			case EV_WAKE: {
				uint64_t v;
				if (read(w->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_warn("dns: worker %u: reading its wake-up: %m", w->index);
				break;
			}
			case EV_UDP:
				dns_udp_readable(w, (struct udp_sock *)e);
				break;
			case EV_TCP_LISTEN:
				dns_tcp_accept(w, (struct listener *)((char *)e - offsetof(struct listener, tcp_ev)));
				break;
			case EV_TCP_CONN:
				dns_tcp_readable(w, (struct tcp_conn *)e, evs[i].events);
				/* The connection may be gone: later events in this
				 * batch never name it (epoll reports an fd once). */
				break;
			case EV_UPSTREAM:
				dns_fwd_event(w, (struct pending *)e, evs[i].events);
				break;
			}
		}
		if (w->npending || w->nconns)
			expire(w, dns_now_ms());
		if (w->index == 0)
			dns_steer_tick(srv, mx_now_ns());
		unsigned gen = atomic_load(&srv->gen);
		if (gen != w->seen_gen) {
			drop_dead(w);
			w->seen_gen = gen;
		}
		atomic_fetch_add(&w->loops, 1);
	}
	return NULL;
}

/* ---- listeners ---------------------------------------------------------- */

static int bound_socket(const struct ip_endpoint *ep, int type, bool reuseport)
{
	bool v6 = ep->addr.family == AF_INET6;
	/* Wildcard UDP sockets learn each datagram's local address. */
	bool pktinfo = type == SOCK_DGRAM && ip_addr_is_unspecified(&ep->addr);
	struct sockaddr_storage ss;
	socklen_t sl;
	ip_endpoint_to_sockaddr(ep, &ss, &sl);
	int fd = socket(ep->addr.family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, reuseport ? SO_REUSEPORT : SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    (pktinfo && setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_RECVPKTINFO : IP_PKTINFO, &one,
				   sizeof(one)) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, sl) < 0 || (type == SOCK_STREAM && listen(fd, 128) < 0)) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void listener_close(struct listener *l)
{
	if (l->tcp_fd >= 0)
		close(l->tcp_fd);
	for (unsigned i = 0; i < l->nudp; i++)
		close(l->udp[i].fd);
	free(l);
}

/* Flags the upstreams that are one of our listeners (srv->lock held). */
static void mark_self_upstreams(struct dns_server *srv)
{
	for (unsigned i = 0; i < srv->nupstreams; i++) {
		bool self = false;
		for (struct listener *l = srv->listeners; l && !self; l = l->next)
			self = ip_addr_equal(&srv->upstreams[i].addr, &l->ep.addr) &&
			       srv->upstreams[i].port == l->ep.port;
		if (self && !atomic_load(&srv->upstream_is_self[i])) {
			char b[IP_ENDPOINT_STRLEN];
			log_warn("dns: upstream %s is this server itself: skipped, as forwarding there "
				 "would loop", ip_endpoint_format(&srv->upstreams[i], b, sizeof(b)));
		}
		atomic_store(&srv->upstream_is_self[i], self);
	}
}

/* Waits until every worker has run two full iterations since now. */
static void workers_quiesce(struct dns_server *srv)
{
	unsigned long start[MAX_WORKERS];
	for (unsigned i = 0; i < srv->nworkers; i++) {
		start[i] = atomic_load(&srv->workers[i]->loops);
		wake(srv->workers[i]);
	}
	for (unsigned i = 0; i < srv->nworkers; i++) {
		while (atomic_load(&srv->workers[i]->loops) < start[i] + 2) {
			wake(srv->workers[i]);
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
		}
	}
}

int dns_server_listen(struct dns_server *srv, const struct ip_endpoint *ep)
{
	char b[IP_ENDPOINT_STRLEN];
	if (!ep || ep->port == 0 || (ep->addr.family != AF_INET && ep->addr.family != AF_INET6))
		return -EINVAL;
	pthread_mutex_lock(&srv->lock);
	int err = 0;
	for (struct listener *x = srv->listeners; x; x = x->next) {
		if (ip_addr_equal(&x->ep.addr, &ep->addr) && x->ep.port == ep->port) {
			err = -EEXIST;
			goto out;
		}
	}
	struct listener *l = calloc(1, sizeof(*l));
	if (!l) {
		err = -ENOMEM;
		goto out;
	}
	l->ep = *ep;
	l->wildcard = ip_addr_is_unspecified(&ep->addr);
	l->tcp_ev.kind = EV_TCP_LISTEN;
	/* TCP first and without SO_REUSEPORT: it fails with EADDRINUSE when
	 * another server holds the port, which the UDP sockets would not. */
	l->tcp_fd = bound_socket(ep, SOCK_STREAM, false);
	if (l->tcp_fd < 0) {
		err = l->tcp_fd;
		free(l);
		goto out;
	}
	for (unsigned i = 0; i < srv->nworkers; i++) {
		int fd = bound_socket(ep, SOCK_DGRAM, true);
		if (fd < 0) {
			err = fd;
			listener_close(l);
			goto out;
		}
		l->udp[i] = (struct udp_sock){ .ev.kind = EV_UDP, .fd = fd, .l = l };
		l->nudp++;
	}
	dns_steer_widen(l);
	dns_steer_listener(l, srv->steer.mode);
	unsigned added = 0;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &l->tcp_ev };
	if (epoll_ctl(srv->workers[0]->epfd, EPOLL_CTL_ADD, l->tcp_fd, &ev) < 0)
		err = -errno;
	for (; !err && added < l->nudp; added++) {
		ev.data.ptr = &l->udp[added];
		if (epoll_ctl(srv->workers[added]->epfd, EPOLL_CTL_ADD, l->udp[added].fd, &ev) < 0)
			err = -errno;
	}
	if (err) {
		/* Unwind: no worker may still hold an event for these sockets. */
		epoll_ctl(srv->workers[0]->epfd, EPOLL_CTL_DEL, l->tcp_fd, NULL);
		for (unsigned i = 0; i < added; i++)
			epoll_ctl(srv->workers[i]->epfd, EPOLL_CTL_DEL, l->udp[i].fd, NULL);
		atomic_store(&l->dead, true);
		atomic_fetch_add(&srv->gen, 1);
		workers_quiesce(srv);
		listener_close(l);
		goto out;
	}
	l->next = srv->listeners;
	srv->listeners = l;
	log_info("dns: listening on %s (UDP x%u, TCP)", ip_endpoint_format(ep, b, sizeof(b)), l->nudp);
	mark_self_upstreams(srv);
out:
	pthread_mutex_unlock(&srv->lock);
	if (err && err != -EEXIST)
		log_warn("dns: cannot listen on %s: %s", ip_endpoint_format(ep, b, sizeof(b)), strerror(-err));
	return err;
}

int dns_server_unlisten(struct dns_server *srv, const struct ip_endpoint *ep)
{
	if (!ep)
		return -EINVAL;
	pthread_mutex_lock(&srv->lock);
	struct listener **pp = &srv->listeners, *l = NULL;
	for (; *pp; pp = &(*pp)->next) {
		if (ip_addr_equal(&(*pp)->ep.addr, &ep->addr) && (*pp)->ep.port == ep->port) {
			l = *pp;
			*pp = l->next;
			break;
		}
	}
	if (l) {
		for (unsigned i = 0; i < l->nudp; i++)
			epoll_ctl(srv->workers[i]->epfd, EPOLL_CTL_DEL, l->udp[i].fd, NULL);
		epoll_ctl(srv->workers[0]->epfd, EPOLL_CTL_DEL, l->tcp_fd, NULL);
		atomic_store(&l->dead, true);
		atomic_fetch_add(&srv->gen, 1);
		workers_quiesce(srv);
		listener_close(l);
		mark_self_upstreams(srv);
	}
	pthread_mutex_unlock(&srv->lock);
	if (!l)
		return -ENOENT;
	char b[IP_ENDPOINT_STRLEN];
	log_info("dns: stopped listening on %s", ip_endpoint_format(ep, b, sizeof(b)));
	return 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void worker_free(struct worker *w)
{
	while (w->conns)
		dns_tcp_close(w, w->conns);
	while (w->pending)
		dns_fwd_free(w, w->pending);
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->wakefd >= 0)
		close(w->wakefd);
	free(w);
}

static struct worker *worker_new(struct dns_server *srv, unsigned index)
{
	struct worker *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->srv = srv;
	w->index = index;
	w->wake_ev.kind = EV_WAKE;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &w->wake_ev };
	if (w->epfd < 0 || w->wakefd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev) < 0) {
		int err = errno;
		worker_free(w);
		errno = err;
		return NULL;
	}
	return w;
}

static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > MAX_WORKERS ? MAX_WORKERS : (unsigned)n;
}

static int load_upstreams(struct dns_server *srv, const struct dns_config *cfg)
{
	if (cfg->no_forward)
		return 0;
	if (cfg->n_upstreams) {
		for (size_t i = 0; i < cfg->n_upstreams && i < DNS_MAX_UPSTREAMS; i++) {
			if (cfg->upstreams[i].port == 0 || ip_addr_is_unspecified(&cfg->upstreams[i].addr)) {
				char e[IP_ENDPOINT_STRLEN];
				log_error("dns: upstream %s needs an address and a port",
					  ip_endpoint_format(&cfg->upstreams[i], e, sizeof(e)));
				return -EINVAL;
			}
			srv->upstreams[srv->nupstreams++] = cfg->upstreams[i];
		}
		return 0;
	}
	const char *path = cfg->resolv_conf ? cfg->resolv_conf : "/etc/resolv.conf";
	int n = dns_resolv_conf_read(path, srv->upstreams, DNS_MAX_UPSTREAMS);
	if (n < 0) {
		/* Not fatal: outside names then get SERVFAIL, and the zone works. */
		log_warn("dns: cannot read %s (%s): names outside the zone will fail", path, strerror(-n));
		return 0;
	}
	if (n == 0)
		log_warn("dns: %s lists no usable (non-loopback) nameserver: names outside the zone will fail",
			 path);
	srv->nupstreams = (unsigned)n;
	return 0;
}

struct dns_server *dns_server_create(const struct dns_config *cfg)
{
	static const struct dns_config defaults = { 0 };
	if (!cfg)
		cfg = &defaults;
	if (cfg->threads > MAX_WORKERS) {
		log_error("dns: %u serving threads requested, at most %u", cfg->threads, MAX_WORKERS);
		errno = EINVAL;
		return NULL;
	}
	struct dns_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	int err = pthread_mutex_init(&srv->lock, NULL);
	if (err) {
		free(srv);
		errno = err;
		return NULL;
	}
	srv->acfg.ttl = cfg->ttl ? cfg->ttl : DNS_DEFAULT_TTL;
	srv->acfg.negative_ttl = cfg->negative_ttl ? cfg->negative_ttl : DNS_DEFAULT_NEGATIVE_TTL;
	srv->acfg.forward = !cfg->no_forward;
	srv->forward_timeout_ms = cfg->forward_timeout_ms ? cfg->forward_timeout_ms : DNS_DEFAULT_FORWARD_TIMEOUT_MS;
	srv->tcp_max_conns = cfg->tcp_max_conns ? cfg->tcp_max_conns : 256;
	srv->tcp_idle_ms = cfg->tcp_idle_ms ? cfg->tcp_idle_ms : 10000;
	srv->nworkers = cfg->threads ? cfg->threads : default_threads();
	/* The serial starts at the wall clock so it grows across restarts. */
	const char *zone = cfg->zone ? cfg->zone : DNS_DEFAULT_ZONE;
	srv->store = dns_store_new(zone, (uint32_t)time(NULL));
	if (!srv->store) {
		err = errno;
		if (err == EINVAL)
			log_error("dns: invalid zone '%s': want a domain name such as \"zlayer.local\"", zone);
		goto fail;
	}
	err = -load_upstreams(srv, cfg);
	if (err)
		goto fail;
	for (unsigned i = 0; i < srv->nworkers; i++) {
		srv->workers[i] = worker_new(srv, i);
		if (!srv->workers[i]) {
			err = errno;
			goto fail;
		}
	}
	for (unsigned i = 0; i < srv->nworkers; i++) {
		err = pthread_create(&srv->workers[i]->thread, NULL, worker_main, srv->workers[i]);
		if (err)
			goto fail;
		srv->workers[i]->started = true;
	}
	return srv;
fail:
	dns_server_destroy(srv);
	errno = err;
	return NULL;
}

void dns_server_destroy(struct dns_server *srv)
{
	if (!srv)
		return;
	atomic_store(&srv->stop, true);
	for (unsigned i = 0; i < srv->nworkers; i++) {
		if (srv->workers[i] && srv->workers[i]->started) {
			wake(srv->workers[i]);
			pthread_join(srv->workers[i]->thread, NULL);
		}
	}
	/* Threads are gone: everything below is single-threaded. */
	for (unsigned i = 0; i < srv->nworkers; i++)
		if (srv->workers[i])
			worker_free(srv->workers[i]);
	while (srv->listeners) {
		struct listener *l = srv->listeners;
		srv->listeners = l->next;
		listener_close(l);
	}
	dns_store_free(srv->store);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

int dns_server_set_zone(struct dns_server *srv, const char *zone)
{
	return dns_store_set_zone(srv->store, zone);
}

int dns_record_set(struct dns_server *srv, const char *name, const struct ip_addr *addr)
{
	return dns_store_set(srv->store, name, addr);
}

int dns_record_remove(struct dns_server *srv, const char *name)
{
	return dns_store_remove(srv->store, name);
}

int dns_record_list(struct dns_server *srv, struct dns_record **out, size_t *count)
{
	return dns_store_list(srv->store, out, count);
}

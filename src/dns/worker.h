/* SPDX-License-Identifier: MIT */
/*
 * Internal to the DNS server: what its files share. server.c owns the
 * listeners, the worker threads and the lifecycle; udp.c the UDP transport;
 * tcp.c the TCP connections; forward.c the queries sent upstream. All of
 * them run on one worker thread at a time for a given worker's data.
 */
#ifndef OVL_DNS_WORKER_H
#define OVL_DNS_WORKER_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "dns/answer.h"
#include "dns/dns.h"
#include "dns/store.h"
#include "dns/wire.h"

#define UDP_BATCH 32
#define UDP_RX_BUF 2048		/* queries are small; larger ones are not queries */
#define MAX_WORKERS 4
#define MAX_PENDING_PER_WORKER 1024 /* forwarded queries; see pending_limit() */
#define TCP_TX_MAX (256 * 1024)	/* a client that stops reading is cut off here */
#define TCP_RX_BUF (2 + DNS_MSG_MAX)

enum ev_kind { EV_WAKE, EV_UDP, EV_TCP_LISTEN, EV_TCP_CONN, EV_UPSTREAM };

/* The first member of everything registered in an epoll set. */
struct ev {
	enum ev_kind kind;
};

struct listener;

/*
 * The local address a datagram reached. Only wildcard listeners need it:
 * their answers must leave from that address (IP_PKTINFO / IPV6_PKTINFO),
 * or a client that asked 10.0.0.2 gets its answer from 10.0.0.1 and drops
 * it. family 0 means "let the kernel choose", as for bound addresses.
 */
struct udp_local {
	sa_family_t family;
	union {
		struct in_pktinfo v4;
		struct in6_pktinfo v6;
	};
};

union udp_ctrl {
	struct cmsghdr align;
	uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

struct udp_sock {
	struct ev ev;
	int fd;
	struct listener *l;
};

struct listener {
	struct listener *next;
	struct ip_endpoint ep;
	bool wildcard; /* 0.0.0.0 or :: */
	atomic_bool dead;
	struct ev tcp_ev; /* EV_TCP_LISTEN */
	int tcp_fd;
	unsigned nudp;
	struct udp_sock udp[MAX_WORKERS];
};

struct tcp_conn {
	struct ev ev;
	struct tcp_conn *prev, *next;
	int fd;
	struct listener *l;
	int64_t last_active_ms;
	unsigned inflight; /* forwarded queries still waiting */
	bool want_out;
	/* A send failed; closed at the next safe point (never under the
	 * caller's feet while it still walks this connection's data). */
	bool broken;
	size_t rxlen;
	uint8_t *rx;
	uint8_t *tx;
	size_t txlen, txoff;
};

struct pending {
	struct ev ev;
	struct pending *prev, *next;
	int fd;			/* connected to the current upstream */
	/* Over TCP once upstream answered with TC over UDP (RFC 7766 5). */
	bool tcp, tcp_connected;
	uint8_t *tcp_rx;	/* 2-byte length + message + room for an OPT */
	size_t tcp_rxlen;
	uint16_t id;		/* the ID we chose */
	unsigned upstream;	/* index of the current attempt */
	int64_t start_ms, attempt_deadline_ms;
	uint64_t start_ns; /* the query's arrival, for the latency metric */
	struct dns_query q;	/* the client's query */
	/* Where the answer goes: a UDP client or a TCP connection (NULL again
	 * if that connection closed first: the answer is then discarded). */
	struct udp_sock *us;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	struct udp_local local;
	struct tcp_conn *conn;
};

struct worker {
	struct dns_server *srv;
	unsigned index;
	pthread_t thread;
	atomic_int tid; /* its thread's, once it runs; 0 before */
	bool started;
	int epfd, wakefd;
	struct ev wake_ev;
	atomic_ulong loops;
	unsigned seen_gen;
	struct pending *pending;
	unsigned npending;
	struct tcp_conn *conns;
	unsigned nconns;
	/* Batch buffers for UDP. */
	struct mmsghdr in[UDP_BATCH], out[UDP_BATCH];
	struct iovec in_iov[UDP_BATCH], out_iov[UDP_BATCH];
	struct sockaddr_storage peers[UDP_BATCH];
	union udp_ctrl ctrl_in[UDP_BATCH], ctrl_out[UDP_BATCH];
	uint8_t rx[UDP_BATCH][UDP_RX_BUF];
	uint8_t tx[UDP_BATCH][DNS_ANSWER_BUF];
	uint8_t upstream_buf[DNS_MSG_MAX + 1 + DNS_OPT_RR_LEN];
	/* This worker's share of the server's metrics: one per worker, so that
	 * counting a query never bounces a cache line between CPUs (summed by
	 * dns_server_metrics). */
	struct dns_metrics metrics;
};

/* Where a listener's UDP datagrams go (steer.c). */
enum dns_steer_mode {
	DNS_STEER_ONE,	  /* all to worker 0 */
	DNS_STEER_SPREAD, /* the kernel's hash over every worker */
};

/* The share of time worker 0 runs on a CPU from which the others join in,
 * and the share of all of them together under which it serves alone again. */
#define DNS_STEER_SPREAD_AT 0.85
#define DNS_STEER_ONE_BELOW 0.4

struct dns_steer {
	/* Changed by worker 0 with the server's lock held. */
	enum dns_steer_mode mode;
	/* Worker 0's: each worker's time on a CPU, and the clock, at the
	 * last measure. */
	uint64_t run_ns[MAX_WORKERS], wall_ns;
};

struct dns_server {
	struct dns_store *store;
	struct dns_answer_cfg acfg;
	struct ip_endpoint upstreams[DNS_MAX_UPSTREAMS];
	/* Upstreams that are one of our own listeners: forwarding there would
	 * loop, so they are skipped (kept up to date by listen/unlisten). */
	atomic_bool upstream_is_self[DNS_MAX_UPSTREAMS];
	unsigned nupstreams;
	unsigned forward_timeout_ms, tcp_max_conns, tcp_idle_ms;
	unsigned nworkers;
	struct worker *workers[MAX_WORKERS];
	atomic_bool stop;
	atomic_uint gen;
	pthread_mutex_t lock; /* the listener list, and listen/unlisten as a whole */
	struct listener *listeners;
	struct dns_steer steer;
};

/* Counts an answer w built (its rcode) and its latency (metrics.c). */
void dns_count_reply(struct worker *w, const uint8_t *msg, size_t len, uint64_t latency_ns);

static inline int64_t dns_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* steer.c */
/* The next mode given the share of the last period (0..1) each worker ran
 * on a CPU. */
enum dns_steer_mode dns_steer_next(enum dns_steer_mode cur, const double *busy, unsigned n);
/* Gives worker 0's socket of l, which takes every datagram while it serves
 * alone, the receive buffer of all of l's sockets together. */
void dns_steer_widen(struct listener *l);
/* Sends l's datagrams as mode says (srv->lock held, or l not listed yet). */
void dns_steer_listener(struct listener *l, enum dns_steer_mode mode);
/* On worker 0, each loop: measures once a period and switches modes. */
void dns_steer_tick(struct dns_server *srv, uint64_t now_ns);
/* How long worker 0 may sleep so that its measures go on. */
int dns_steer_timeout_ms(const struct dns_server *srv);

/* udp.c */
void dns_udp_readable(struct worker *w, struct udp_sock *us);
void dns_udp_send_one(struct udp_sock *us, const struct sockaddr_storage *peer, socklen_t peerlen,
		      const struct udp_local *local, const uint8_t *msg, size_t len);

/* tcp.c */
void dns_tcp_accept(struct worker *w, struct listener *l);
void dns_tcp_readable(struct worker *w, struct tcp_conn *c, uint32_t events);
/* Queues one length-prefixed message; on failure marks the connection
 * broken (closed later by dns_tcp_close_if_broken) and returns -1. */
int dns_tcp_send(struct worker *w, struct tcp_conn *c, const uint8_t *msg, size_t len);
void dns_tcp_close(struct worker *w, struct tcp_conn *c);
void dns_tcp_close_if_broken(struct worker *w, struct tcp_conn *c);

/* forward.c */
/* Forwards q for a UDP client (us, peer, local) or a TCP one (conn). */
void dns_fwd_start(struct worker *w, const struct dns_query *q, uint64_t start_ns, struct udp_sock *us,
		   const struct sockaddr_storage *peer, socklen_t peerlen, const struct udp_local *local,
		   struct tcp_conn *conn);
void dns_fwd_event(struct worker *w, struct pending *p, uint32_t events);
void dns_fwd_expire(struct worker *w, int64_t now);
void dns_fwd_free(struct worker *w, struct pending *p);

#endif

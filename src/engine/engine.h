/* SPDX-License-Identifier: MIT */
/*
 * The overlay engine: the daemon's state and the execution of every request.
 *
 * Threading: requests run one at a time, in arrival order. The daemon's
 * worker (engine/worker.h) runs them on its thread, or a quick read on the
 * submitting thread while the worker is idle; its queue lock keeps a single
 * thread inside the engine, so request code takes no lock of its own. Beside
 * it run the peer-health job (a thread of its own, peers.c), which reads the
 * global WireGuard device under dp->health_lock (whoever destroys that device
 * takes the lock), and the DNS server's threads, reached only through the
 * thread-safe dns/ API. engine_emit_event() may be called from any thread.
 *
 * Calling it directly (tests, a future etcd membership module):
 *
 *	struct engine *e;
 *	struct engine_config cfg = { .data_dir = "/var/lib/zlayer" };
 *	if (engine_open(&cfg, &e, err, sizeof(err)) < 0) ...
 *	struct ovl_request req = { .op = OVL_OP_SET_LOCAL_NODE_ID, .set_local_node_id.node_id = 3 };
 *	struct ovl_response resp;
 *	engine_handle(e, &req, &resp);   // never fails: errors come back as OVL_RES_ERR
 *	ovl_response_free(&resp);
 *	engine_close(e);
 *
 * Persistence: every request that changes what the daemon owns is written to
 * <data_dir>/state.json before its response is returned.
 *
 * The Linux data plane (global/service overlays, container attach, peers on
 * the userspace WireGuard devices, firewall, DNS listener) lives in
 * global.c, service.c, attach.c, guest.c, hostshared.c, addr.c, peers.c,
 * nat.c, status.c, teardown.c and recover.c; dp.h is their shared model and
 * dp_record.c its record in the state file. dns.c is the overlay DNS glue.
 */
#ifndef OVL_ENGINE_ENGINE_H
#define OVL_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/request.h"
#include "util/inet.h"

struct engine;

/*
 * The overlay DNS server the engine runs (engine/dns.c). A zeroed struct is
 * the usual daemon: DNS on, zone from the state file (else "zlayer.local"),
 * upstreams from /etc/resolv.conf, and no listener until the global overlay
 * is up (then <node_ip>:53).
 */
struct engine_dns_config {
	bool disabled;			  /* no server at all; records are still kept in the state */
	const char *zone;		  /* NULL = the state's zone, else the default; set = persisted */
	const struct ip_endpoint *upstreams; /* none = resolv_conf's nameservers */
	size_t n_upstreams;
	const char *resolv_conf;	  /* NULL = /etc/resolv.conf */
	/* Listeners independent of the data plane (operators, tests). When any
	 * is requested, failing to start the server or to bind is an
	 * engine_open() error; otherwise a server that cannot start is only a
	 * warning and the daemon runs without DNS. */
	const struct ip_endpoint *listen;
	size_t n_listen;
	unsigned threads;		  /* serving threads; 0 = the DNS default */
	unsigned forward_timeout_ms;	  /* 0 = the DNS default */
};

/*
 * Where the data plane may touch the host; every path is configurable so
 * tests never write host files. Strings must outlive the engine.
 */
struct engine_dp_opts {
	const char *wg_sock_dir;  /* WireGuard UAPI sockets; NULL: /var/run/wireguard */
	const char *networkd_dir; /* unmanaged drop-ins; NULL: /run/systemd/network */
	const char *nm_dir;	  /* NULL: /run/NetworkManager/conf.d */
	bool no_unmanaged;	  /* never write networkd/NM drop-ins */
	/* TUN queues, each with a reader thread that encrypts, per WireGuard
	 * device (the global one and each dedicated service device); 0: one
	 * per online CPU, at most WG_MAX_QUEUES. */
	unsigned wg_queues;
};

struct engine_config {
	const char *data_dir;	    /* must exist; state.json lives here */
	bool discard_corrupt_state; /* start empty after moving a corrupt state file aside */
	struct engine_dns_config dns;
	struct engine_dp_opts dp;   /* the Linux data plane */
};

/*
 * Loads (or creates) the state in cfg->data_dir and starts the DNS server,
 * which has threads of its own: block the signals the caller handles (e.g.
 * through a signalfd) before calling this, so they are never delivered to
 * one of those threads. A corrupt state file is
 * moved to state.json.corrupt-<time>; unless cfg->discard_corrupt_state, that
 * is an error (-EBADMSG) so the daemon refuses to run on an empty state.
 * Returns 0 or -errno, with an actionable message in err.
 */
int engine_open(const struct engine_config *cfg, struct engine **out, char *err, size_t errlen);
void engine_close(struct engine *e);

/*
 * Executes one request and persists any change before returning. resp is
 * always filled (OVL_RES_ERR on failure); free it with ovl_response_free.
 */
void engine_handle(struct engine *e, const struct ovl_request *req, struct ovl_response *resp);

/*
 * Group commit, for the worker: engine_execute() runs a request without
 * saving (*changed tells whether it changed the state); one engine_persist()
 * then saves a whole batch before any of its answers go out. When that fails,
 * each changed request's answer becomes an error via engine_fail_unsaved().
 */
void engine_execute(struct engine *e, const struct ovl_request *req, struct ovl_response *resp, bool *changed);
int engine_persist(struct engine *e, char *err, size_t errlen);
void engine_fail_unsaved(struct ovl_response *resp, const struct ovl_request *req, const char *why);

/*
 * True for requests that only read the engine and are cheap (status,
 * nat_status): the worker may run them on the submitting thread when it is
 * idle, saving two thread hand-offs per request.
 */
bool engine_request_is_quick_read(const struct ovl_request *req);

/* True once a shutdown request has been handled. */
bool engine_shutdown_requested(const struct engine *e);

/* Reverts every host change the engine made (graceful stop), and stops the
 * DNS server. Idempotent. */
void engine_teardown(struct engine *e);

/*
 * Writes the daemon's Prometheus metrics into out (engine/metrics.c): any
 * thread, at any time between engine_open and engine_close. It waits for a
 * running request and copies the devices and pools it reports, then renders
 * without holding anything.
 */
struct mx_text;
void engine_metrics_collect(struct engine *e, struct mx_text *out);
/* Events go to one sink (the daemon broadcasts them to every client). */
typedef void (*engine_event_fn)(const struct ovl_event *ev, void *arg);
void engine_set_event_sink(struct engine *e, engine_event_fn fn, void *arg);
/* Thread-safe as long as the sink is (the daemon's posts to its loop). */
void engine_emit_event(struct engine *e, const struct ovl_event *ev);

#endif

// SPDX-License-Identifier: MIT
/*
 * The daemon's Prometheus metrics: what the engine counts (requests, attach
 * and detach latency and failures, state saves) and, read at scrape time,
 * every WireGuard device and peer, every service pool and the DNS server.
 *
 * A scrape runs on the metrics thread. It takes view_lock, which every
 * request holds while it runs, so it reads devices and services that no
 * request is changing; it copies what it needs, lets go, and only then
 * renders the text. A request waits at most for that copy (about a
 * millisecond with a thousand peers), never for the scraper's socket.
 */
#include "engine/dp.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"
#include "wg/wg.h"

/* ---- counting ---- */

static const struct {
	const char *needle;
	enum engine_fail_reason reason;
} reason_table[] = {
	/* Checked in order: the first needle found in the message wins. */
	{ "global overlay", ENGINE_FAIL_NO_GLOBAL },
	{ "no service overlay", ENGINE_FAIL_NO_SERVICE },
	{ "already attached", ENGINE_FAIL_ALREADY_ATTACHED },
	{ "exhausted", ENGINE_FAIL_POOL_EXHAUSTED },
	{ "does not exist", ENGINE_FAIL_NO_PROCESS },
	{ "not a container", ENGINE_FAIL_INVALID },
	{ "invalid", ENGINE_FAIL_INVALID },
	{ "must not be empty", ENGINE_FAIL_INVALID },
	{ "field `", ENGINE_FAIL_INVALID },
};

enum engine_fail_reason engine_fail_reason_of(const char *message)
{
	for (size_t i = 0; message && i < sizeof(reason_table) / sizeof(reason_table[0]); i++)
		if (strstr(message, reason_table[i].needle))
			return reason_table[i].reason;
	return ENGINE_FAIL_OTHER;
}

const char *engine_fail_reason_name(enum engine_fail_reason r)
{
	static const char *const names[ENGINE_FAIL_COUNT_] = {
		[ENGINE_FAIL_INVALID] = "invalid",
		[ENGINE_FAIL_NO_GLOBAL] = "no_global_overlay",
		[ENGINE_FAIL_NO_SERVICE] = "no_service_overlay",
		[ENGINE_FAIL_ALREADY_ATTACHED] = "already_attached",
		[ENGINE_FAIL_NO_PROCESS] = "no_such_process",
		[ENGINE_FAIL_POOL_EXHAUSTED] = "pool_exhausted",
		[ENGINE_FAIL_OTHER] = "other",
	};
	return (unsigned)r < ENGINE_FAIL_COUNT_ ? names[r] : "other";
}

void engine_count_request(struct engine_counters *c, const struct ovl_request *q, const struct ovl_response *resp,
			  uint64_t start_ns)
{
	bool err = resp->result == OVL_RES_ERR;
	if ((unsigned)q->op < OVL_OP_COUNT_)
		mx_inc(&c->requests[q->op][err]);
	if (q->op == OVL_OP_ATTACH_CONTAINER || q->op == OVL_OP_DETACH_CONTAINER) {
		bool attach = q->op == OVL_OP_ATTACH_CONTAINER;
		mx_observe_since(attach ? &c->attach_seconds : &c->detach_seconds, start_ns);
		if (err)
			mx_inc(&(attach ? c->attach_failures : c->detach_failures)[engine_fail_reason_of(resp->message)]);
	}
}

void engine_count_save(struct engine_counters *c, int result, uint64_t start_ns)
{
	mx_inc(&c->saves[result < 0]);
	mx_observe_since(&c->save_seconds, start_ns);
}

/* ---- the scrape's copy ---- */

struct mx_device {
	char name[IFNAMSIZ];
	struct wg_device_status *st;
	bool *healthy;	/* per peer: the health job's verdict (it watches global and dedicated devices) */
	char (*labels)[128]; /* per peer: device="...",peer="..." */
};

struct mx_view {
	struct mx_device *devs;
	size_t n_devs;
	struct ovl_service_status *services;
	size_t n_services;
	bool has_dns;
	struct dns_metrics dns;
};

static void view_free(struct mx_view *v)
{
	for (size_t i = 0; i < v->n_devs; i++) {
		wg_device_status_free(v->devs[i].st);
		free(v->devs[i].healthy);
		free(v->devs[i].labels);
	}
	free(v->devs);
	for (size_t i = 0; i < v->n_services; i++) {
		free(v->services[i].service);
		free(v->services[i].bridge);
	}
	free(v->services);
	memset(v, 0, sizeof(*v));
}

/* health: the verdicts of the health job (global and dedicated devices' peers). */
static int add_device(struct mx_view *v, const char *name, struct wg_device *dev,
		      const struct engine_status_health *health)
{
	struct mx_device *d = &v->devs[v->n_devs];
	memset(d, 0, sizeof(*d));
	if (wg_device_status(dev, &d->st) < 0)
		return 0; /* a device going away: nothing to report */
	snprintf(d->name, sizeof(d->name), "%s", name);
	v->n_devs++;
	if (!d->st->n_peers)
		return 0;
	if (!(d->healthy = calloc(d->st->n_peers, sizeof(*d->healthy))) ||
	    !(d->labels = calloc(d->st->n_peers, sizeof(*d->labels))))
		return -ENOMEM;
	for (size_t i = 0; i < d->st->n_peers; i++) {
		uint8_t key[WG_KEY_LEN];
		mx_labels(d->labels[i], sizeof(d->labels[i]), "device", d->name, "peer", d->st->peers[i].public_key,
			  NULL);
		d->healthy[i] = key_from_base64(d->st->peers[i].public_key, key) == 0 &&
				engine_status_health_of(health, key) == 1;
	}
	return 0;
}

/* With view_lock held: copies what the scrape reports. */
static int view_take(struct engine *e, struct mx_view *v)
{
	struct dp *dp = e->dp;
	memset(v, 0, sizeof(*v));
	if (!(v->devs = calloc(dp->n_services + 1, sizeof(*v->devs))) ||
	    (dp->n_services && !(v->services = calloc(dp->n_services, sizeof(*v->services)))))
		return -ENOMEM;
	struct engine_status_health health;
	if (engine_status_health_take(dp, &health) < 0)
		return -ENOMEM;
	/* The health job watches the dedicated devices too: one table has every verdict. */
	int r = dp->gdev ? add_device(v, dp->gname, dp->gdev, &health) : 0;
	for (size_t i = 0; r == 0 && i < dp->n_services; i++) {
		struct dp_service *s = &dp->services[i];
		if ((s->dedicated && s->dev && add_device(v, s->dev_name, s->dev, &health) < 0) ||
		    engine_status_service_fill(dp, s, &v->services[v->n_services++]) < 0)
			r = -ENOMEM;
	}
	engine_status_health_free(&health);
	if (r < 0)
		return r;
	if (e->dns) {
		v->has_dns = true;
		dns_server_metrics(e->dns, &v->dns);
	}
	return 0;
}

/* ---- rendering ---- */

/* One sample per peer of every device: value(peer status). */
#define PEER_FAMILY(t, v, name, type, help, value)                                                  \
	do {                                                                                        \
		mx_text_family(t, name, type, help);                                                \
		for (size_t d_ = 0; d_ < (v)->n_devs; d_++)                                         \
			for (size_t p_ = 0; p_ < (v)->devs[d_].st->n_peers; p_++) {                  \
				const struct wg_peer_status *ps = &(v)->devs[d_].st->peers[p_];      \
				(void)ps;                                                            \
				mx_text_sample(t, name, (v)->devs[d_].labels[p_], (uint64_t)(value)); \
			}                                                                           \
	} while (0)

static void render_wg(struct mx_text *t, const struct mx_view *v)
{
	char l[128];
	mx_text_family(t, "overlayd_wg_device_peers", MX_GAUGE, "Peers configured on the WireGuard device.");
	for (size_t i = 0; i < v->n_devs; i++)
		mx_text_sample(t, "overlayd_wg_device_peers", mx_labels(l, sizeof(l), "device", v->devs[i].name, NULL),
			       v->devs[i].st->n_peers);
	mx_text_family(t, "overlayd_wg_cookie_replies_total", MX_COUNTER,
		       "Cookie replies sent to handshake initiators while under load.");
	for (size_t i = 0; i < v->n_devs; i++)
		mx_text_sample(t, "overlayd_wg_cookie_replies_total",
			       mx_labels(l, sizeof(l), "device", v->devs[i].name, NULL), v->devs[i].st->cookie_replies);
	mx_text_family(t, "overlayd_wg_handshakes_rate_limited_total", MX_COUNTER,
		       "Handshake messages dropped: over their source's rate, or without a valid cookie under load.");
	for (size_t i = 0; i < v->n_devs; i++)
		mx_text_sample(t, "overlayd_wg_handshakes_rate_limited_total",
			       mx_labels(l, sizeof(l), "device", v->devs[i].name, NULL),
			       v->devs[i].st->handshakes_rate_limited);

	PEER_FAMILY(t, v, "overlayd_wg_peer_receive_bytes_total", MX_COUNTER, "Bytes received from the peer.",
		    ps->rx_bytes);
	PEER_FAMILY(t, v, "overlayd_wg_peer_transmit_bytes_total", MX_COUNTER, "Bytes sent to the peer.",
		    ps->tx_bytes);
	PEER_FAMILY(t, v, "overlayd_wg_peer_receive_packets_total", MX_COUNTER, "WireGuard messages (data, keepalives, handshakes) received from the peer.",
		    ps->rx_packets);
	PEER_FAMILY(t, v, "overlayd_wg_peer_transmit_packets_total", MX_COUNTER, "WireGuard messages (data, keepalives, handshakes) sent to the peer.",
		    ps->tx_packets);
	PEER_FAMILY(t, v, "overlayd_wg_peer_last_handshake_timestamp_seconds", MX_GAUGE,
		    "Unix time of the last completed handshake; 0 when none.", ps->last_handshake_sec);
	PEER_FAMILY(t, v, "overlayd_wg_peer_handshake_attempts_total", MX_COUNTER,
		    "Handshake initiations sent to the peer.", ps->handshake_attempts);
	PEER_FAMILY(t, v, "overlayd_wg_peer_handshake_failures_total", MX_COUNTER,
		    "Handshakes given up after every retry went unanswered.", ps->handshake_failures);
	PEER_FAMILY(t, v, "overlayd_wg_peer_endpoint_changes_total", MX_COUNTER,
		    "Times the peer's endpoint changed (roaming, or set by the orchestrator).", ps->endpoint_changes);
	mx_text_family(t, "overlayd_wg_peer_healthy", MX_GAUGE,
		       "1 when the peer handshook within the health threshold, as last judged.");
	for (size_t d = 0; d < v->n_devs; d++)
		for (size_t p = 0; p < v->devs[d].st->n_peers; p++)
			mx_text_sample(t, "overlayd_wg_peer_healthy", v->devs[d].labels[p], v->devs[d].healthy[p]);
	/* Every path is direct until NAT traversal lands; then hole-punched and relayed appear. */
	mx_text_family(t, "overlayd_wg_peer_connection_info", MX_GAUGE,
		       "The peer's connection type (direct, hole-punched, relayed) as the label type; always 1.");
	for (size_t d = 0; d < v->n_devs; d++)
		for (size_t p = 0; p < v->devs[d].st->n_peers; p++) {
			const struct wg_peer_status *ps = &v->devs[d].st->peers[p];
			if (!ps->has_endpoint)
				continue;
			char labels[160];
			snprintf(labels, sizeof(labels), "%s,type=\"%s\"", v->devs[d].labels[p],
				 ovl_connection_type_name(OVL_CONN_DIRECT));
			mx_text_sample(t, "overlayd_wg_peer_connection_info", labels, 1);
		}
}

enum service_gauge { POOL_SIZE, POOL_IN_USE, ATTACHED };

static uint64_t service_gauge(const struct ovl_service_status *s, enum service_gauge g)
{
	return g == POOL_SIZE ? s->pool_size : g == POOL_IN_USE ? s->addresses_in_use : s->attached;
}

static void render_services(struct mx_text *t, const struct mx_view *v)
{
	static const struct {
		const char *name, *help;
	} families[] = {
		[POOL_SIZE] = { "overlayd_service_pool_addresses", "Container addresses the service's pool can hand out." },
		[POOL_IN_USE] = { "overlayd_service_pool_addresses_in_use",
				  "Addresses of the service's pool in use (a shared bridge's pool serves every shared "
				  "service)." },
		[ATTACHED] = { "overlayd_service_attachments", "Containers and guests attached to the service." },
	};
	char l[300];
	for (int g = POOL_SIZE; g <= ATTACHED; g++) {
		mx_text_family(t, families[g].name, MX_GAUGE, families[g].help);
		for (size_t i = 0; i < v->n_services; i++) {
			const struct ovl_service_status *s = &v->services[i];
			mx_text_sample(t, families[g].name,
				       mx_labels(l, sizeof(l), "service", s->service, "mode", ovl_mode_name(s->mode), NULL),
				       service_gauge(s, (enum service_gauge)g));
		}
	}
}

static void render_engine(struct mx_text *t, struct engine_counters *c)
{
	char l[128];
	mx_text_family(t, "overlayd_control_requests_total", MX_COUNTER, "Control-socket requests by op and result.");
	for (int op = 0; op < OVL_OP_COUNT_; op++)
		for (int err = 0; err < 2; err++)
			mx_text_sample(t, "overlayd_control_requests_total",
				       mx_labels(l, sizeof(l), "op", ovl_op_name((enum ovl_op)op), "result",
						 err ? "err" : "ok", NULL),
				       mx_read(&c->requests[op][err]));
	static const struct {
		const char *op;
		enum ovl_op code;
	} kinds[] = { { "attach", OVL_OP_ATTACH_CONTAINER }, { "detach", OVL_OP_DETACH_CONTAINER } };
	mx_text_family(t, "overlayd_attachments_total", MX_COUNTER, "Attach and detach requests that succeeded.");
	for (size_t k = 0; k < 2; k++)
		mx_text_sample(t, "overlayd_attachments_total", mx_labels(l, sizeof(l), "op", kinds[k].op, NULL),
			       mx_read(&c->requests[kinds[k].code][0]));
	mx_text_family(t, "overlayd_attachment_failures_total", MX_COUNTER, "Attach and detach failures by reason.");
	for (size_t k = 0; k < 2; k++)
		for (int r = 0; r < ENGINE_FAIL_COUNT_; r++)
			mx_text_sample(t, "overlayd_attachment_failures_total",
				       mx_labels(l, sizeof(l), "op", kinds[k].op, "reason",
						 engine_fail_reason_name((enum engine_fail_reason)r), NULL),
				       mx_read(&(k ? c->detach_failures : c->attach_failures)[r]));
	mx_text_family(t, "overlayd_attachment_duration_seconds", MX_HISTOGRAM,
		       "Time to handle an attach or detach request, failures included.");
	mx_text_histogram(t, "overlayd_attachment_duration_seconds", mx_labels(l, sizeof(l), "op", "attach", NULL),
			  &c->attach_seconds);
	mx_text_histogram(t, "overlayd_attachment_duration_seconds", mx_labels(l, sizeof(l), "op", "detach", NULL),
			  &c->detach_seconds);
	mx_text_family(t, "overlayd_state_saves_total", MX_COUNTER,
		       "Saves of the state (a journal append or a new state file), by result.");
	mx_text_sample(t, "overlayd_state_saves_total", "result=\"ok\"", mx_read(&c->saves[0]));
	mx_text_sample(t, "overlayd_state_saves_total", "result=\"failed\"", mx_read(&c->saves[1]));
	mx_text_family(t, "overlayd_state_save_duration_seconds", MX_HISTOGRAM,
		       "Time to write and sync a save (a journal append or a new state file).");
	mx_text_histogram(t, "overlayd_state_save_duration_seconds", "", &c->save_seconds);
}

static void render_dns(struct mx_text *t, const struct mx_view *v)
{
	if (!v->has_dns)
		return;
	char l[64];
	mx_text_family(t, "overlayd_dns_queries_total", MX_COUNTER,
		       "DNS queries by result: the answer's rcode, or forwarded upstream.");
	for (int r = 0; r < DNS_RESULT_COUNT_; r++)
		mx_text_sample(t, "overlayd_dns_queries_total",
			       mx_labels(l, sizeof(l), "result", dns_result_name((enum dns_result)r), NULL),
			       mx_read(&v->dns.queries[r]));
	mx_text_family(t, "overlayd_dns_query_duration_seconds", MX_HISTOGRAM,
		       "Time from a query's arrival to its answer (forwarded: the upstream's answer relayed).");
	mx_text_histogram(t, "overlayd_dns_query_duration_seconds", "", &v->dns.latency);
}

void engine_metrics_collect(struct engine *e, struct mx_text *t)
{
	struct mx_view v;
	pthread_mutex_lock(&e->view_lock);
	int r = view_take(e, &v);
	pthread_mutex_unlock(&e->view_lock);
	if (r < 0) {
		t->oom = true;
	} else {
		render_engine(t, &e->counters);
		render_wg(t, &v);
		render_services(t, &v);
		render_dns(t, &v);
	}
	view_free(&v);
}

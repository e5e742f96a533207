// SPDX-License-Identifier: MIT
/* Engine lifetime, request dispatch and persistence. */
#include "engine/dp.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/crashpoint.h"
#include "util/log.h"

/*
 * Writes state.json with the data plane's record converted into it, under
 * the next journal generation, then starts that (empty) journal: a crash in
 * between leaves a journal of the old generation, which the next start
 * ignores since state.json holds its records (state/journal.h).
 */
static int engine_snapshot(struct engine *e, char *err, size_t errlen)
{
	if (e->dp && dp_record_store(e) < 0) {
		snprintf(err, errlen, "out of memory recording the data plane state");
		e->snapshot_due = true;
		return -ENOMEM;
	}
	e->st.journal_generation++;
	int r = state_save(e->state_path, &e->st, err, errlen);
	if (r < 0) {
		e->snapshot_due = true;
		return r;
	}
	crashpoint("snapshot-written");
	state_journal_batch_clear(&e->jbatch);
	e->snapshot_due = false;
	struct stat sb;
	e->snapshot_size = stat(e->state_path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
	char why[600];
	if (state_journal_reset(&e->journal, e->journal_path, e->st.journal_generation, why, sizeof(why)) < 0)
		log_warn("%s: every change writes state.json until a later reset works", why);
	return 0;
}

/*
 * Saves the batch's changes, once per group commit however many there are:
 * as journal records when they are all attaches and detaches (a cost that
 * does not grow with the number attached), else, and when the journal has
 * outgrown state.json, as a new state.json.
 */
static int engine_save(struct engine *e, char *err, size_t errlen)
{
	if (!e->snapshot_due && !state_journal_wants_compaction(&e->journal, e->snapshot_size)) {
		if (state_journal_append(&e->journal, &e->jbatch, err, errlen) == 0) {
			state_journal_batch_clear(&e->jbatch);
			crashpoint("journal-appended");
			return 0;
		}
		/* It may end in a torn record now: nothing is appended after it before a reset. */
		log_warn("%s; writing state.json instead", err);
		state_journal_close(&e->journal);
	}
	return engine_snapshot(e, err, errlen);
}

/* Applies state.journal's records to the state just loaded from state.json. */
static int engine_replay_journal(struct engine *e, char *err, size_t errlen)
{
	struct state_journal_scan scan;
	char why[600];
	int r = state_journal_replay(e->journal_path, &e->st, &scan, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "cannot load the state journal: %s (move %s aside to start from state.json "
				      "alone, losing the attachments it recorded)", why, e->journal_path);
		return r;
	}
	if (scan.n_records || scan.torn_bytes) {
		log_info("state journal %s: %zu record(s) replayed%s", e->journal_path, scan.n_records,
			 scan.torn_bytes ? "; a torn last write (never acknowledged) dropped" : "");
		e->snapshot_due = true; /* written into state.json at once, below */
	}
	return 0;
}

int engine_open(const struct engine_config *cfg, struct engine **out, char *err, size_t errlen)
{
	struct engine *e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&e->view_lock, NULL);
	e->data_dir = strdup(cfg->data_dir);
	/* asprintf leaves its pointer undefined when it fails. */
	if (e->data_dir && asprintf(&e->state_path, "%s/%s", cfg->data_dir, STATE_FILE_NAME) < 0)
		e->state_path = NULL;
	if (e->state_path && asprintf(&e->journal_path, "%s/%s", cfg->data_dir, STATE_JOURNAL_FILE_NAME) < 0)
		e->journal_path = NULL;
	if (!e->journal_path) {
		engine_close(e);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}

	char why[512];
	int r = state_load(e->state_path, &e->st, why, sizeof(why));
	if (r == -EBADMSG) {
		char moved[4200];
		int q = state_quarantine(e->state_path, moved, sizeof(moved));
		if (q < 0) {
			snprintf(err, errlen, "corrupt state file %s (%s), and moving it aside failed: %s",
				 e->state_path, why, strerror(-q));
			engine_close(e);
			return -EBADMSG;
		}
		if (!cfg->discard_corrupt_state) {
			snprintf(err, errlen,
				 "corrupt state file: %s; it was moved to %s. Refusing to start with an empty state "
				 "(the daemon would forget the interfaces and addresses it owns). Repair and move it "
				 "back, or start with --discard-corrupt-state to begin empty.",
				 why, moved);
			engine_close(e);
			return -EBADMSG;
		}
		log_error("corrupt state file: %s; moved to %s; starting with an empty state as requested "
			  "(--discard-corrupt-state)",
			  why, moved);
	} else if (r < 0) {
		snprintf(err, errlen, "cannot load state: %s", why);
		engine_close(e);
		return r;
	} else if (r == 0) {
		log_info("loaded state from %s: node id %llu, %zu peer(s), %zu DNS record(s), %zu allocation(s)",
			 e->state_path, (unsigned long long)e->st.node_id, e->st.n_peers, e->st.n_dns,
			 ipam_slice_count(&e->st.slice));
	} else {
		log_info("no state file at %s yet: starting fresh", e->state_path);
	}
	bool fresh = r != 0;
	if (!fresh && (r = engine_replay_journal(e, err, errlen)) < 0) {
		engine_close(e);
		return r;
	}
	/* DNS first: restart recovery in dp_open may bring the node listener up. */
	if ((r = engine_dns_start(e, &cfg->dns, err, errlen)) < 0 || (r = dp_open(e, &cfg->dp, err, errlen)) < 0) {
		engine_close(e);
		return r;
	}
	if (fresh || e->dirty || e->snapshot_due || e->jbatch.n) {
		e->dirty = false;
		/*
		 * Write a fresh (or re-zoned, replayed or recovered) state now: a
		 * data dir we cannot persist into is a startup error, not a later
		 * surprise.
		 */
		r = engine_snapshot(e, err, errlen);
	} else {
		/* state.json holds everything: a journal left (empty, or stale) is replaced. */
		r = state_journal_reset(&e->journal, e->journal_path, e->st.journal_generation, err, errlen);
	}
	if (r < 0) {
		engine_close(e);
		return r;
	}
	*out = e;
	return 0;
}

void engine_close(struct engine *e)
{
	if (!e)
		return;
	char err[600];
	/* A clean stop folds the journal into state.json, which then is all an older build needs. */
	if (e->journal.open && (e->unsaved || e->journal.size > STATE_JOURNAL_HEADER_LEN) &&
	    engine_snapshot(e, err, sizeof(err)) < 0)
		log_error("stop: %s", err);
	state_journal_close(&e->journal);
	state_journal_batch_free(&e->jbatch);
	dp_close(e);
	engine_dns_stop(e);
	state_free(&e->st);
	free(e->state_path);
	free(e->journal_path);
	free(e->data_dir);
	pthread_mutex_destroy(&e->view_lock);
	free(e);
}

bool engine_shutdown_requested(const struct engine *e)
{
	return e->shutdown_requested;
}

void engine_teardown(struct engine *e)
{
	struct ovl_response resp = { 0 };
	e->dirty = false;
	pthread_mutex_lock(&e->view_lock);
	engine_global_teardown(e, &resp);
	pthread_mutex_unlock(&e->view_lock);
	ovl_response_free(&resp);
	char err[600];
	if ((e->dirty || e->unsaved || e->jbatch.n) && engine_snapshot(e, err, sizeof(err)) < 0)
		log_error("teardown: %s", err);
	e->unsaved = false;
	engine_dns_stop(e);
}

void engine_set_event_sink(struct engine *e, engine_event_fn fn, void *arg)
{
	e->event_fn = fn;
	e->event_arg = arg;
}

void engine_emit_event(struct engine *e, const struct ovl_event *ev)
{
	if (e->event_fn)
		e->event_fn(ev, e->event_arg);
}

static void dispatch(struct engine *e, const struct ovl_request *q, struct ovl_response *resp)
{
	switch (q->op) {
	case OVL_OP_SET_LOCAL_NODE_ID:
		if (e->st.node_id != q->set_local_node_id.node_id) {
			e->st.node_id = q->set_local_node_id.node_id;
			e->dirty = true;
		}
		resp_ok(resp);
		return;
	case OVL_OP_SET_LOCAL_WG_PUBKEY:
		memcpy(e->st.local_wg_pubkey, q->set_local_wg_pubkey.pubkey, WG_KEY_LEN);
		e->st.has_local_wg_pubkey = true;
		e->dirty = true;
		resp_ok(resp);
		return;
	case OVL_OP_SETUP_GLOBAL_OVERLAY:
		engine_global_setup(e, &q->setup_global, resp);
		return;
	case OVL_OP_TEARDOWN_GLOBAL_OVERLAY:
		engine_global_teardown(e, resp);
		return;
	case OVL_OP_SETUP_SERVICE_OVERLAY:
		engine_service_setup(e, q->setup_service.service, q->setup_service.mode,
				     q->setup_service.has_subnet ? &q->setup_service.subnet : NULL, resp);
		return;
	case OVL_OP_TEARDOWN_SERVICE_OVERLAY:
		engine_service_teardown(e, q->teardown_service.service, resp);
		return;
	case OVL_OP_ALLOCATE_IP:
		engine_addr_allocate(e, q->allocate_ip.service, q->allocate_ip.join_global, resp);
		return;
	case OVL_OP_RELEASE_IP:
		engine_addr_release(e, &q->release_ip.ip, resp);
		return;
	case OVL_OP_ATTACH_CONTAINER:
		engine_attach_container(e, &q->attach, resp);
		return;
	case OVL_OP_DETACH_CONTAINER:
		engine_detach_container(e, &q->detach.handle, resp);
		return;
	case OVL_OP_ADD_PEER:
		engine_peers_add(e, &q->add_peer.peer, &q->add_peer.scope, resp);
		return;
	case OVL_OP_REMOVE_PEER:
		engine_peers_remove(e, q->remove_peer.pubkey, &q->remove_peer.scope, resp);
		return;
	case OVL_OP_ADD_ALLOWED_IP:
	case OVL_OP_REMOVE_ALLOWED_IP:
		engine_peers_allowed_ip(e, q->op == OVL_OP_ADD_ALLOWED_IP, q->allowed_ip.pubkey, &q->allowed_ip.cidr,
				 &q->allowed_ip.scope, resp);
		return;
	case OVL_OP_REGISTER_DNS:
		engine_dns_register(e, q->register_dns.name, &q->register_dns.ip, resp);
		return;
	case OVL_OP_UNREGISTER_DNS:
		engine_dns_unregister(e, q->unregister_dns.name, resp);
		return;
	case OVL_OP_WRITE_SCOPED_RESOLVER:
	case OVL_OP_REMOVE_SCOPED_RESOLVER:
		engine_dns_scoped_resolver(e, resp);
		return;
	case OVL_OP_PRUNE_ORPHAN_BRIDGES:
		engine_teardown_prune(e, q->prune.names, q->prune.n, resp);
		return;
	case OVL_OP_STATUS:
		engine_status_snapshot(e, resp);
		return;
	case OVL_OP_NAT_TICK:
		engine_nat_tick(e, resp);
		return;
	case OVL_OP_NAT_STATUS:
		engine_nat_status(e, resp);
		return;
	case OVL_OP_SHUTDOWN:
		engine_teardown_shutdown(e, resp);
		return;
	case OVL_OP_COUNT_:
		break;
	}
	ovl_response_err(resp, "unknown request op %d", (int)q->op);
}

bool engine_request_is_quick_read(const struct ovl_request *req)
{
	return req->op == OVL_OP_STATUS || req->op == OVL_OP_NAT_STATUS;
}

void engine_execute(struct engine *e, const struct ovl_request *req, struct ovl_response *resp, bool *changed)
{
	memset(resp, 0, sizeof(*resp));
	*changed = false;
	if (e->shutdown_requested) {
		/* Requests queued behind a shutdown must not touch a torn-down engine. */
		ovl_response_err(resp, "%s: overlayd is shutting down", ovl_op_name(req->op));
		return;
	}
	e->dirty = false;
	e->journaled = false;
	uint64_t start_ns = mx_now_ns();
	pthread_mutex_lock(&e->view_lock); /* a metrics scrape reads between requests */
	dispatch(e, req, resp);
	pthread_mutex_unlock(&e->view_lock);
	engine_count_request(&e->counters, req, resp, start_ns);
	if (e->dirty)
		e->snapshot_due = true;
	if (e->dirty || e->journaled) {
		*changed = true;
		e->unsaved = true;
	}
}

int engine_persist(struct engine *e, char *err, size_t errlen)
{
	if (!e->unsaved)
		return 0;
	uint64_t start_ns = mx_now_ns();
	int r = engine_save(e, err, errlen);
	engine_count_save(&e->counters, r, start_ns);
	if (r < 0) {
		log_error("%s", err);
		return r;
	}
	e->unsaved = false;
	return 0;
}

void engine_fail_unsaved(struct ovl_response *resp, const struct ovl_request *req, const char *why)
{
	/*
	 * The change is live in memory but not durable: say so rather than
	 * answer ok, so the orchestrator can retry or alert.
	 */
	ovl_response_free(resp);
	ovl_response_err(resp, "%s was applied but the state could not be saved: %s", ovl_op_name(req->op), why);
}

void engine_handle(struct engine *e, const struct ovl_request *req, struct ovl_response *resp)
{
	bool changed;
	char err[600];
	engine_execute(e, req, resp, &changed);
	if (changed && engine_persist(e, err, sizeof(err)) < 0)
		engine_fail_unsaved(resp, req, err);
}

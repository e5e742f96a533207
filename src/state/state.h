/* SPDX-License-Identifier: MIT */
/*
 * The persistent state file, <data_dir>/state.json: everything a restarted
 * daemon must know about what it owns.
 *
 * Format: one JSON object with "version": 1. Written atomically (temp file in
 * the same directory, fsync, rename, fsync of the directory), mode 0600 (it
 * will hold private keys). Top-level keys this build does not know are kept
 * verbatim and written back, so a newer field survives an older daemon.
 *
 * A file that cannot be read as a version-1 state is never silently replaced:
 * state_load() reports it, and the daemon moves it aside with
 * state_quarantine() (to state.json.corrupt-<unix time>) and refuses to start
 * unless told to discard it.
 *
 * Older builds kept the data-plane record under "dataplane" among the
 * unknown keys and listed each service a second time under "services"; such
 * a file loads as is (the record is read into the typed section, the second
 * list is dropped) and is written back in the current layout.
 *
 * Changes since the last write are appended to <data_dir>/state.journal
 * (state/journal.h); "journal_generation" names the journal that continues
 * this file.
 *
 * To add a field: add it to struct ovl_state, free it in state_free(), write
 * it in state.c's encoder and read it (optional, with a default) in its
 * decoder. Bump STATE_VERSION only for an incompatible change.
 */
#ifndef OVL_STATE_STATE_H
#define OVL_STATE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipam/slice.h"
#include "ipam/subnets.h"
#include "state/dataplane.h"
#include "state/model.h"

#define STATE_VERSION 1
#define STATE_FILE_NAME "state.json"
#define STATE_DEFAULT_CLUSTER_CIDR "10.200.0.0/16"
#define STATE_DEFAULT_WG_PORT 51420

struct state_dns_record {
	char *name;
	struct ip_addr ip;
};

/* What setup_global_overlay established (global_set). */
struct state_global {
	char *deployment;
	char *instance_id;
	struct ip_prefix cluster_cidr;
	bool has_slice;
	struct ip_prefix slice_cidr;
	uint16_t wg_port;
	bool has_private_key;
	uint8_t private_key[WG_KEY_LEN];
	bool has_nat;
	struct ovl_nat_config nat;
	bool host_adapter_mandatory;
};

struct ovl_state {
	uint64_t node_id;
	bool has_local_wg_pubkey;
	uint8_t local_wg_pubkey[WG_KEY_LEN];

	bool global_set;
	struct state_global global;

	/* Node-slice allocator (bound to the default cluster /16 before setup). */
	struct ipam_slice slice;

	/* Service-subnet registry, created on first use. */
	bool has_subnets;
	struct ipam_subnets subnets;

	/* The overlay DNS zone last set (--dns-zone or an attach's dns_domain);
	 * NULL = never set, the DNS default applies. Relative record names
	 * follow it. */
	char *dns_zone;
	struct state_dns_record *dns;
	size_t n_dns;
	struct ovl_peer_spec *peers; /* global-scope peers, PeerSpec form */
	size_t n_peers;
	/* Every host change of the data plane, and each service (state/dataplane.h). */
	struct state_dataplane dataplane;
	/* Which state journal continues this file (state/journal.h); 0 in files of older builds. */
	uint64_t journal_generation;

	void *unknown; /* json_t object of top-level keys this build does not know */
};

/* A fresh state: node id 0, slice allocator on 10.200.0.0/16. 0 or -ENOMEM. */
int state_init(struct ovl_state *st);
void state_free(struct ovl_state *st);

/*
 * Loads path into st (which state_load initialises). Returns 0 when loaded,
 * 1 when the file does not exist (st is fresh), -EBADMSG when the file is
 * corrupt or of an unsupported version, another -errno when unreadable; err
 * says what is wrong and where.
 */
int state_load(const char *path, struct ovl_state *st, char *err, size_t errlen);

/* Atomic, durable write of st to path, mode 0600. 0 or -errno with err set. */
int state_save(const char *path, const struct ovl_state *st, char *err, size_t errlen);

/* For the state's files (state.c, journal.c): write every byte (0 or -errno); fsync path's directory. */
int state_write_all(int fd, const void *buf, size_t len);
int state_fsync_dir_of(const char *path);

/* Renames path to path.corrupt-<unix time>; the new name goes to moved_to. 0 or -errno. */
int state_quarantine(const char *path, char *moved_to, size_t len);

/* Lookup helpers. */
struct ovl_peer_spec *state_find_peer(struct ovl_state *st, const uint8_t key[WG_KEY_LEN]);
struct state_dns_record *state_find_dns(struct ovl_state *st, const char *name);

/* Mutators keeping the arrays consistent. 0 or -ENOMEM. */
int state_put_peer(struct ovl_state *st, const struct ovl_peer_spec *p); /* copy; replaces same key */
bool state_remove_peer(struct ovl_state *st, const uint8_t key[WG_KEY_LEN]);
int state_put_dns(struct ovl_state *st, const char *name, const struct ip_addr *ip);
bool state_remove_dns(struct ovl_state *st, const char *name);
int state_set_dns_zone(struct ovl_state *st, const char *zone); /* copy; NULL clears */

#endif

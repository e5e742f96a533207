/* SPDX-License-Identifier: MIT */
/*
 * The state journal, <data_dir>/state.journal: the changes made since
 * state.json was last written, appended once per group commit, so that
 * persisting an attach costs the same with 10 or 1,000 containers attached.
 *
 * Format (integers little-endian):
 *
 *   file    := header record*
 *   header  := "OVLJ" u32 version (1) u64 generation               16 bytes
 *   record  := u32 len, u32 crc, u8 type, payload (len bytes)
 *   crc     := CRC-32 (ISO 3309) of type and payload
 *   payload := one JSON object:
 *              type 1, attach: the attachment, as an element of
 *                      state.json's dataplane.attachments (replaces the
 *                      pid's record if there is one)
 *              type 2, detach: {"pid": N}
 *              type 3, IPv6 forwarding switched on for a device (one of
 *                      dataplane.ipv6_forwarding): {"dev": "veth-42-s"}
 *              type 4, that device's entry gone: {"dev": "veth-42-s"}
 *
 * state.json (the snapshot) stays the whole state; its "journal_generation"
 * names the journal that continues it. Loading = state.json, then the
 * journal's records in order if its generation is that one. A journal of
 * another generation is left over from a compaction that stopped after
 * writing state.json (whose contents already include its records): it is
 * ignored, then replaced.
 *
 * Writing: the records of a batch go in one write and one fdatasync before
 * any answer of the batch leaves. A crash in the middle of a write leaves a
 * torn last record (short, or its CRC does not match): that record was never
 * acknowledged, so it and anything after it are dropped. Compaction writes
 * state.json with the next generation (atomically, as always), then resets
 * the journal to an empty one of that generation; a crash between the two
 * steps is the stale case above. The engine compacts when the journal
 * outgrows state.json (at least STATE_JOURNAL_COMPACT_MIN bytes), at start
 * and at a clean stop, so an older build that knows no journal finds
 * everything in state.json after a clean stop.
 *
 * The records are what an attach or detach of a container changes: the
 * attachment and the addresses it holds (its bridge pool's and, with
 * join_global, the node slice's), and for an IPv6 container the devices
 * whose IPv6 forwarding was switched on. Any other change is written as a
 * new state.json.
 */
#ifndef OVL_STATE_JOURNAL_H
#define OVL_STATE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/state.h"

#define STATE_JOURNAL_FILE_NAME "state.journal"
#define STATE_JOURNAL_VERSION 1
#define STATE_JOURNAL_HEADER_LEN 16
#define STATE_JOURNAL_RECORD_HEADER_LEN 9
/* Larger is not a record of ours: an attachment is a few hundred bytes. */
#define STATE_JOURNAL_RECORD_MAX 65536
#define STATE_JOURNAL_COMPACT_MIN (1u << 20)

enum state_journal_type {
	STATE_JOURNAL_ATTACH = 1,
	STATE_JOURNAL_DETACH = 2,
	STATE_JOURNAL_V6_FORWARDING_ON = 3,
	STATE_JOURNAL_V6_FORWARDING_OFF = 4,
};

struct state_journal_record {
	enum state_journal_type type;
	struct state_dp_attach attach; /* attach; detach: only pid is set */
	char dev[IFNAMSIZ];	       /* the IPv6 forwarding records */
};

/* ---- parsing (pure: the fuzzed part) ---- */

/* Called per record in file order; the record is freed after. A negative return stops the scan with it. */
typedef int (*state_journal_visit_fn)(const struct state_journal_record *rec, void *arg);

struct state_journal_scan {
	bool stale;	   /* no header (an interrupted reset) or another generation: nothing to apply */
	size_t n_records;  /* visited */
	size_t valid_len;  /* bytes up to the end of the last intact record */
	size_t torn_bytes; /* dropped after valid_len (a torn last write) */
};

/*
 * Scans a journal's bytes for the snapshot of generation generation.
 * 0 (see scan: stale, torn), -EBADMSG when the header is not a journal's or
 * an intact record does not decode (err says where), or what visit returned.
 */
int state_journal_scan(const uint8_t *buf, size_t len, uint64_t generation, state_journal_visit_fn visit,
		       void *arg, struct state_journal_scan *scan, char *err, size_t errlen);

/* Applies one record to st (the attachment list, its bridge's pool, the node slice, IPv6 forwarding). 0 or -ENOMEM. */
int state_journal_apply(struct ovl_state *st, const struct state_journal_record *rec);

/* ---- a batch of encoded records ---- */

struct state_journal_batch {
	uint8_t *buf;
	size_t len, cap;
	size_t n;
};

/* Encodes rec onto b. 0 or -ENOMEM (b unchanged). */
int state_journal_batch_add(struct state_journal_batch *b, const struct state_journal_record *rec);
void state_journal_batch_clear(struct state_journal_batch *b); /* empty, keeps the buffer */
void state_journal_batch_free(struct state_journal_batch *b);

/* ---- the file ---- */

struct state_journal {
	bool open; /* a zeroed journal is closed */
	int fd;
	uint64_t generation;
	uint64_t size; /* bytes, header included */
};

/*
 * Reads path and applies its records to st (loaded from the snapshot).
 * 0 when read (absent = empty; scan says what was found), -EBADMSG when it
 * is not a journal or an intact record is malformed, another -errno when
 * unreadable; err says what and where.
 */
int state_journal_replay(const char *path, struct ovl_state *st, struct state_journal_scan *scan, char *err,
			 size_t errlen);

/*
 * Opens (creating) path as an empty journal of generation, durably. Only
 * once the snapshot holds every record of the journal being replaced.
 * 0 or -errno with err set (j is then closed).
 */
int state_journal_reset(struct state_journal *j, const char *path, uint64_t generation, char *err, size_t errlen);

/*
 * Appends b's records with one write and one fdatasync. 0 or -errno with err
 * set; after a failure the file may end in a torn record, so the caller
 * writes a snapshot (and resets) before appending again.
 */
int state_journal_append(struct state_journal *j, const struct state_journal_batch *b, char *err, size_t errlen);

/* Whether it is time to write the snapshot instead (the journal outgrew snapshot_size bytes). */
bool state_journal_wants_compaction(const struct state_journal *j, uint64_t snapshot_size);

void state_journal_close(struct state_journal *j);

#endif

// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the state journal's record parser
 * (src/state/journal.c): the bytes of <data_dir>/state.journal as a
 * restarting daemon reads them (generation 0). A refusal says why; the
 * records read are applied to a fresh state (as replay does) and encoded
 * again, and what is encoded must scan back to the same records and bytes:
 * a record the daemon wrote and cannot read back would lose an attachment at
 * the next restart.
 *
 *   build-fuzz/fuzz/fuzz_journal_record fuzz/corpus-journal_record/ -max_total_time=60
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state/journal.h"
#include "util/le32.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct replay {
	struct ovl_state st;
	struct state_journal_batch again;
};

static int visit(const struct state_journal_record *rec, void *arg)
{
	struct replay *r = arg;
	if (state_journal_apply(&r->st, rec) < 0 || state_journal_batch_add(&r->again, rec) < 0)
		abort(); /* no allocation fails here */
	return 0;
}

static int collect(const struct state_journal_record *rec, void *arg)
{
	return state_journal_batch_add(arg, rec) < 0 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct replay r = { 0 };
	struct state_journal_scan scan, back;
	char err[600] = "";
	if (state_init(&r.st) < 0)
		abort();
	int e = state_journal_scan(data, size, 0, visit, &r, &scan, err, sizeof(err));
	if (e < 0 && !err[0])
		abort(); /* a refusal always says why */
	if (e == 0 && !scan.stale) {
		if (scan.valid_len + scan.torn_bytes != size || r.again.n != scan.n_records)
			abort();
		/* The records read, written again after the same header, read back to the same bytes. */
		uint8_t *file = malloc(STATE_JOURNAL_HEADER_LEN + r.again.len);
		struct state_journal_batch twice = { 0 };
		if (!file)
			abort();
		memcpy(file, data, STATE_JOURNAL_HEADER_LEN);
		memcpy(file + STATE_JOURNAL_HEADER_LEN, r.again.buf, r.again.len);
		if (state_journal_scan(file, STATE_JOURNAL_HEADER_LEN + r.again.len, 0, collect, &twice, &back, err,
				       sizeof(err)) != 0 ||
		    back.n_records != scan.n_records || back.torn_bytes || twice.len != r.again.len ||
		    memcmp(twice.buf, r.again.buf, twice.len) != 0)
			abort();
		state_journal_batch_free(&twice);
		free(file);
	}
	state_journal_batch_free(&r.again);
	state_free(&r.st);
	return 0;
}

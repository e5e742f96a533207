// SPDX-License-Identifier: MIT
/*
 * The state journal (state/journal.h): records replayed on top of state.json
 * (attachments, their bridge pool and node-slice addresses), a torn last
 * record dropped, a journal of another generation (a compaction that stopped
 * after writing state.json) ignored, a crash between a journal write and the
 * next state.json losing nothing, malformed intact records refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "state/journal.h"
#include "util/crc32.h"
#include "util/le32.h"

struct fixture {
	char dir[64];
	char path[128], jpath[128];
	struct state_journal j;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/ovl-journal-test-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/state.json", f->dir);
	snprintf(f->jpath, sizeof(f->jpath), "%s/%s", f->dir, STATE_JOURNAL_FILE_NAME);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	state_journal_close(&f->j);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	int r = system(cmd);
	free(f);
	return r == 0 ? 0 : -1;
}

static struct ip_addr ip(const char *s)
{
	struct ip_addr a;
	assert_int_equal(ip_addr_parse(s, &a), 0);
	return a;
}

/* A state with service web (bridge 10.0.0.0/26) and the node slice 10.200.1.0/24; saved as generation gen. */
static void save_base(struct fixture *f, uint64_t gen)
{
	struct ovl_state st;
	char err[300];
	struct ip_prefix slice;
	assert_int_equal(state_init(&st), 0);
	assert_int_equal(ip_prefix_parse("10.200.1.0/24", &slice), 0);
	ipam_slice_free(&st.slice);
	assert_int_equal(ipam_slice_init(&st.slice, &slice), 0);
	st.dataplane.up = true;
	st.dataplane.services = calloc(1, sizeof(*st.dataplane.services));
	assert_non_null(st.dataplane.services);
	st.dataplane.n_services = 1;
	struct state_dp_service *s = &st.dataplane.services[0];
	s->name = strdup("web");
	s->mode = OVL_MODE_ISOLATED;
	snprintf(s->bridge.name, sizeof(s->bridge.name), "zl-web-b");
	assert_int_equal(ip_prefix_parse("10.0.0.0/26", &s->bridge.subnet), 0);
	st.journal_generation = gen;
	assert_int_equal(state_save(f->path, &st, err, sizeof(err)), 0);
	state_free(&st);
}

static struct state_journal_record attach_rec(uint32_t pid, const char *addr, const char *global)
{
	struct state_journal_record r = { .type = STATE_JOURNAL_ATTACH };
	r.attach.pid = pid;
	r.attach.service = "web";
	r.attach.ip = ip(addr);
	if (global) {
		r.attach.has_global = true;
		r.attach.global_ip = ip(global);
	}
	return r;
}

static struct state_journal_record detach_rec(uint32_t pid)
{
	return (struct state_journal_record){ .type = STATE_JOURNAL_DETACH, .attach.pid = pid };
}

/* Appends recs to the open journal as one batch (one group commit). */
static void append(struct fixture *f, const struct state_journal_record *recs, size_t n)
{
	struct state_journal_batch b = { 0 };
	char err[300];
	for (size_t i = 0; i < n; i++)
		assert_int_equal(state_journal_batch_add(&b, &recs[i]), 0);
	assert_int_equal(state_journal_append(&f->j, &b, err, sizeof(err)), 0);
	state_journal_batch_free(&b);
}

/* state.json, then the journal, as a start loads them. */
static int load(struct fixture *f, struct ovl_state *st, struct state_journal_scan *scan, char *err, size_t errlen)
{
	assert_int_equal(state_load(f->path, st, err, errlen), 0);
	return state_journal_replay(f->jpath, st, scan, err, errlen);
}

static bool pool_has(const struct ovl_state *st, const char *addr)
{
	const struct state_bridge *b = &st->dataplane.services[0].bridge;
	struct ip_addr a = ip(addr);
	for (size_t i = 0; i < b->n_allocated; i++)
		if (ip_addr_equal(&b->allocated[i], &a))
			return true;
	return false;
}

static void records_replay_on_the_snapshot(void **state)
{
	struct fixture *f = *state;
	struct ovl_state st;
	struct state_journal_scan scan;
	char err[300];
	save_base(f, 3);
	assert_int_equal(state_journal_reset(&f->j, f->jpath, 3, err, sizeof(err)), 0);
	struct state_journal_record first[] = { attach_rec(101, "10.0.0.2", "10.200.1.7"), attach_rec(102, "10.0.0.3", NULL) };
	struct state_journal_record second[] = { detach_rec(101), attach_rec(103, "10.0.0.4", "10.200.1.8") };
	append(f, first, 2);
	append(f, second, 2);

	assert_int_equal(load(f, &st, &scan, err, sizeof(err)), 0);
	assert_false(scan.stale);
	assert_int_equal(scan.n_records, 4);
	assert_int_equal(scan.torn_bytes, 0);
	assert_int_equal(st.dataplane.n_attaches, 2);
	assert_int_equal(st.dataplane.attaches[0].pid, 102);
	assert_string_equal(st.dataplane.attaches[0].service, "web");
	assert_false(st.dataplane.attaches[0].has_global);
	assert_int_equal(st.dataplane.attaches[1].pid, 103);
	assert_true(st.dataplane.attaches[1].has_global);
	/* The detached container's addresses are free again; the others' held. */
	assert_false(pool_has(&st, "10.0.0.2"));
	assert_true(pool_has(&st, "10.0.0.3") && pool_has(&st, "10.0.0.4"));
	struct ip_addr g7 = ip("10.200.1.7"), g8 = ip("10.200.1.8");
	assert_false(ipam_slice_is_allocated(&st.slice, &g7));
	assert_true(ipam_slice_is_allocated(&st.slice, &g8));
	state_free(&st);
}

/* An IPv6 container's forwarding entries (dataplane.ipv6_forwarding) come and go with it. */
static void ipv6_forwarding_records_replay(void **state)
{
	struct fixture *f = *state;
	struct ovl_state st;
	struct state_journal_scan scan;
	char err[300];
	save_base(f, 1);
	assert_int_equal(state_journal_reset(&f->j, f->jpath, 1, err, sizeof(err)), 0);
	struct state_journal_record on_a = { .type = STATE_JOURNAL_V6_FORWARDING_ON, .dev = "veth-7-s" },
				    on_b = { .type = STATE_JOURNAL_V6_FORWARDING_ON, .dev = "veth-8-s" },
				    off_a = { .type = STATE_JOURNAL_V6_FORWARDING_OFF, .dev = "veth-7-s" };
	struct state_journal_record recs[] = { on_a, on_b, on_a, off_a, on_a };
	append(f, recs, 3);
	assert_int_equal(load(f, &st, &scan, err, sizeof(err)), 0);
	assert_int_equal(st.dataplane.n_ipv6_forwarding, 2); /* once each */
	assert_string_equal(st.dataplane.ipv6_forwarding[0], "veth-7-s");
	assert_string_equal(st.dataplane.ipv6_forwarding[1], "veth-8-s");
	state_free(&st);
	append(f, recs + 3, 1);
	assert_int_equal(load(f, &st, &scan, err, sizeof(err)), 0);
	assert_int_equal(st.dataplane.n_ipv6_forwarding, 1);
	assert_string_equal(st.dataplane.ipv6_forwarding[0], "veth-8-s");
	state_free(&st);
	append(f, recs + 4, 1);
	assert_int_equal(load(f, &st, &scan, err, sizeof(err)), 0);
	assert_int_equal(scan.n_records, 5);
	assert_int_equal(st.dataplane.n_ipv6_forwarding, 2);
	assert_string_equal(st.dataplane.ipv6_forwarding[1], "veth-7-s"); /* in order, as the engine keeps it */
	state_free(&st);
}

static void a_torn_last_record_is_dropped(void **state)
{
	struct fixture *f = *state;
	struct ovl_state st;
	struct state_journal_scan scan;
	char err[300];
	struct stat sb;
	save_base(f, 1);
	assert_int_equal(state_journal_reset(&f->j, f->jpath, 1, err, sizeof(err)), 0);
	struct state_journal_record one = attach_rec(101, "10.0.0.2", NULL), two = attach_rec(102, "10.0.0.3", NULL);
	append(f, &one, 1);
	assert_int_equal(stat(f->jpath, &sb), 0);
	off_t intact = sb.st_size;
	append(f, &two, 1);
	assert_int_equal(stat(f->jpath, &sb), 0);
	off_t whole = sb.st_size;

	/* Every cut inside the second record: the first survives, the second is dropped. */
	for (off_t cut = intact + 1; cut < whole; cut += 7) {
		assert_int_equal(truncate(f->jpath, cut), 0);
		assert_int_equal(load(f, &st, &scan, err, sizeof(err)), 0);
		assert_int_equal(scan.n_records, 1);
		assert_int_equal(scan.valid_len, (size_t)intact);
		assert_int_equal(scan.torn_bytes, (size_t)(cut - intact));
		assert_int_equal(st.dataplane.n_attaches, 1);
		assert_int_equal(st.dataplane.attaches[0].pid, 101);
		assert_false(pool_has(&st, "10.0.0.3"));
		state_free(&st);
	}

	/* A whole record whose bytes changed (its CRC does not match) is torn too. */
	state_journal_close(&f->j);
	assert_int_equal(truncate(f->jpath, intact), 0);
	assert_int_equal(state_journal_reset(&f->j, f->jpath, 1, err, sizeof(err)), 0);
	append(f, &one, 1);
	append(f, &two, 1);
	int fd = open(f->jpath, O_RDWR);
	assert_true(fd >= 0);
	char c;
	assert_int_equal(pread(fd, &c, 1, whole - 3), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, whole - 3), 1);
	close(fd);
	assert_int_equal(load(f, &st, &scan, err, sizeof(err)), 0);
	assert_int_equal(scan.n_records, 1);
	assert_true(scan.torn_bytes > 0);
	assert_int_equal(st.dataplane.n_attaches, 1);
	state_free(&st);
}

/*
 * Compaction: state.json is written with the next generation, then the
 * journal is reset to it. Stopped in between, the old journal's records are
 * in state.json already and must not apply twice.
 */
static void compaction_stopped_before_the_reset_applies_nothing_twice(void **state)
{
	struct fixture *f = *state;
	struct ovl_state st, compacted;
	struct state_journal_scan scan;
	char err[300];
	save_base(f, 1);
	assert_int_equal(state_journal_reset(&f->j, f->jpath, 1, err, sizeof(err)), 0);
	struct state_journal_record recs[] = { attach_rec(101, "10.0.0.2", "10.200.1.7"),
					       attach_rec(102, "10.0.0.3", NULL) };
	append(f, recs, 2);

	/*
	 * The compaction: the engine writes its state under generation 2, here
	 * with a later change in it (a batch that also did something else
	 * detached 101), and stops before the reset.
	 */
	assert_int_equal(load(f, &compacted, &scan, err, sizeof(err)), 0);
	struct state_journal_record later = detach_rec(101);
	assert_int_equal(state_journal_apply(&compacted, &later), 0);
	compacted.journal_generation = 2;
	assert_int_equal(state_save(f->path, &compacted, err, sizeof(err)), 0);
	state_free(&compacted);

	assert_int_equal(load(f, &st, &scan, err, sizeof(err)), 0);
	assert_true(scan.stale);
	assert_int_equal(scan.n_records, 0);
	assert_int_equal(st.dataplane.n_attaches, 1);
	assert_int_equal(st.dataplane.attaches[0].pid, 102);
	assert_int_equal(st.dataplane.services[0].bridge.n_allocated, 1);
	struct ip_addr g = ip("10.200.1.7");
	assert_false(ipam_slice_is_allocated(&st.slice, &g)); /* 101's, released by the later change */
	state_free(&st);

	/* The reset that follows: an empty journal of generation 2, appended to from then on. */
	assert_int_equal(state_journal_reset(&f->j, f->jpath, 2, err, sizeof(err)), 0);
	assert_false(state_journal_wants_compaction(&f->j, 0));
	struct state_journal_record more = detach_rec(102);
	append(f, &more, 1);
	assert_int_equal(load(f, &st, &scan, err, sizeof(err)), 0);
	assert_false(scan.stale);
	assert_int_equal(st.dataplane.n_attaches, 0);
	assert_int_equal(st.dataplane.services[0].bridge.n_allocated, 0);
	state_free(&st);
}

/* Appended and synced, then a crash before any state.json: the record is loaded from the journal. */
static void a_crash_between_journal_write_and_snapshot_loses_nothing(void **state)
{
	struct fixture *f = *state;
	struct ovl_state st;
	struct state_journal_scan scan;
	char err[300];
	save_base(f, 5);
	assert_int_equal(state_journal_reset(&f->j, f->jpath, 5, err, sizeof(err)), 0);
	struct state_journal_record rec = attach_rec(101, "10.0.0.2", "10.200.1.7");
	append(f, &rec, 1);
	state_journal_close(&f->j); /* the crash: nothing else happens */
	assert_int_equal(load(f, &st, &scan, err, sizeof(err)), 0);
	assert_int_equal(st.dataplane.n_attaches, 1);
	assert_true(pool_has(&st, "10.0.0.2"));
	struct ip_addr g = ip("10.200.1.7");
	assert_true(ipam_slice_is_allocated(&st.slice, &g));
	/* Replayed and written as the next state.json, it loads the same without the journal. */
	st.journal_generation = 6;
	assert_int_equal(state_save(f->path, &st, err, sizeof(err)), 0);
	state_free(&st);
	assert_int_equal(load(f, &st, &scan, err, sizeof(err)), 0);
	assert_true(scan.stale);
	assert_int_equal(st.dataplane.n_attaches, 1);
	assert_true(pool_has(&st, "10.0.0.2"));
	state_free(&st);
}

static void the_journal_wants_compaction_when_it_outgrows_the_snapshot(void **state)
{
	struct fixture *f = *state;
	char err[300];
	assert_int_equal(state_journal_reset(&f->j, f->jpath, 1, err, sizeof(err)), 0);
	assert_false(state_journal_wants_compaction(&f->j, 0));
	f->j.size = STATE_JOURNAL_COMPACT_MIN + 1;
	assert_true(state_journal_wants_compaction(&f->j, 1000));
	assert_false(state_journal_wants_compaction(&f->j, 4 * STATE_JOURNAL_COMPACT_MIN));
	state_journal_close(&f->j);
	assert_true(state_journal_wants_compaction(&f->j, 0)); /* closed (a failed reset): state.json only */
}

/* An intact record (its CRC matches) is what we wrote: one that does not decode is corruption, said so. */
static void malformed_journals_are_refused(void **state)
{
	struct fixture *f = *state;
	struct state_journal_scan scan;
	char err[300] = "";
	uint8_t buf[128];
	static const char payload[] = "{\"pid\": \"x\"}";
	size_t plen = strlen(payload);
	memcpy(buf, "OVLJ", 4);
	le32_put(buf + 4, STATE_JOURNAL_VERSION);
	memset(buf + 8, 0, 8);
	le32_put(buf + 16, (uint32_t)plen);
	buf[24] = STATE_JOURNAL_DETACH;
	memcpy(buf + 25, payload, plen);
	uint8_t type = STATE_JOURNAL_DETACH;
	le32_put(buf + 20, crc32_update(crc32_update(0, &type, 1), (const uint8_t *)payload, plen));
	assert_int_equal(state_journal_scan(buf, 25 + plen, 0, NULL, NULL, &scan, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "record 1"));
	assert_non_null(strstr(err, "pid"));

	/* An unknown type, intact. */
	buf[24] = 9;
	type = 9;
	le32_put(buf + 20, crc32_update(crc32_update(0, &type, 1), (const uint8_t *)payload, plen));
	assert_int_equal(state_journal_scan(buf, 25 + plen, 0, NULL, NULL, &scan, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "unknown record type 9"));

	/* Not a journal at all. */
	memcpy(buf, "{\"ve", 4);
	assert_int_equal(state_journal_scan(buf, 25 + plen, 0, NULL, NULL, &scan, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "not a version-1 state journal"));

	/* A header cut short (a reset interrupted): nothing was ever appended to it. */
	assert_int_equal(state_journal_scan(buf, 10, 0, NULL, NULL, &scan, err, sizeof(err)), 0);
	assert_true(scan.stale);
	(void)f;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(records_replay_on_the_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(ipv6_forwarding_records_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(a_torn_last_record_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(compaction_stopped_before_the_reset_applies_nothing_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(a_crash_between_journal_write_and_snapshot_loses_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(the_journal_wants_compaction_when_it_outgrows_the_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(malformed_journals_are_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

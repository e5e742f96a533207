// SPDX-License-Identifier: MIT
#include "state/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state/model_json.h"
#include "util/crc32.h"
#include "util/le32.h"

static const uint8_t magic[4] = { 'O', 'V', 'L', 'J' };

static uint64_t le64_get(const uint8_t *p)
{
	return (uint64_t)le32_get(p) | (uint64_t)le32_get(p + 4) << 32;
}

static void le64_put(uint8_t *p, uint64_t v)
{
	le32_put(p, (uint32_t)v);
	le32_put(p + 4, (uint32_t)(v >> 32));
}

static uint32_t record_crc(uint8_t type, const uint8_t *payload, size_t len)
{
	return crc32_update(crc32_update(0, &type, 1), payload, len);
}

/* ---- parsing ---- */

static int record_decode(uint8_t type, const uint8_t *payload, size_t len, struct state_journal_record *rec,
			 char *err, size_t errlen)
{
	json_error_t jerr;
	char why[300];
	int r;
	memset(rec, 0, sizeof(*rec));
	json_t *o = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		snprintf(err, errlen, "not JSON: %s", jerr.text);
		return -EBADMSG;
	}
	switch (type) {
	case STATE_JOURNAL_ATTACH:
		rec->type = STATE_JOURNAL_ATTACH;
		r = state_dp_attach_from_json(o, &rec->attach, why, sizeof(why));
		break;
	case STATE_JOURNAL_DETACH:
		rec->type = STATE_JOURNAL_DETACH;
		r = mj_u32(o, "pid", true, &rec->attach.pid, why, sizeof(why));
		if (r == 0 && rec->attach.pid == 0) {
			snprintf(why, sizeof(why), "field `pid`: expected a process id");
			r = -EINVAL;
		}
		break;
	case STATE_JOURNAL_V6_FORWARDING_ON:
	case STATE_JOURNAL_V6_FORWARDING_OFF: {
		const char *dev;
		rec->type = type;
		r = mj_string(o, "dev", true, &dev, why, sizeof(why));
		if (r == 0 && (!dev[0] || strlen(dev) >= IFNAMSIZ)) {
			snprintf(why, sizeof(why), "field `dev`: expected an interface name");
			r = -EINVAL;
		}
		if (r == 0)
			memcpy(rec->dev, dev, strlen(dev) + 1);
		break;
	}
	default:
		snprintf(why, sizeof(why), "unknown record type %u", type);
		r = -EINVAL;
	}
	json_decref(o);
	if (r < 0) {
		state_dp_attach_free(&rec->attach);
		if (r == -ENOMEM)
			return r;
		snprintf(err, errlen, "%s", why);
		return -EBADMSG;
	}
	return 0;
}

int state_journal_scan(const uint8_t *buf, size_t len, uint64_t generation, state_journal_visit_fn visit,
		       void *arg, struct state_journal_scan *scan, char *err, size_t errlen)
{
	memset(scan, 0, sizeof(*scan));
	if (len < STATE_JOURNAL_HEADER_LEN) {
		/* An empty file, or a reset torn before its header was whole: nothing was appended to it. */
		scan->stale = true;
		return 0;
	}
	if (memcmp(buf, magic, sizeof(magic)) != 0 || le32_get(buf + 4) != STATE_JOURNAL_VERSION) {
		snprintf(err, errlen, "not a version-%d state journal", STATE_JOURNAL_VERSION);
		return -EBADMSG;
	}
	if (le64_get(buf + 8) != generation) {
		scan->stale = true;
		return 0;
	}
	size_t off = STATE_JOURNAL_HEADER_LEN;
	scan->valid_len = off;
	while (off < len) {
		size_t left = len - off;
		uint32_t plen = left >= STATE_JOURNAL_RECORD_HEADER_LEN ? le32_get(buf + off) : 0;
		if (left < STATE_JOURNAL_RECORD_HEADER_LEN || plen > STATE_JOURNAL_RECORD_MAX ||
		    plen > left - STATE_JOURNAL_RECORD_HEADER_LEN)
			break; /* torn */
		uint8_t type = buf[off + 8];
		const uint8_t *payload = buf + off + STATE_JOURNAL_RECORD_HEADER_LEN;
		if (record_crc(type, payload, plen) != le32_get(buf + off + 4))
			break; /* torn */
		struct state_journal_record rec;
		char why[400];
		int r = record_decode(type, payload, plen, &rec, why, sizeof(why));
		if (r == -EBADMSG)
			snprintf(err, errlen, "record %zu (at byte %zu): %s", scan->n_records + 1, off, why);
		if (r < 0)
			return r;
		r = visit ? visit(&rec, arg) : 0;
		state_dp_attach_free(&rec.attach);
		if (r < 0)
			return r;
		scan->n_records++;
		off += STATE_JOURNAL_RECORD_HEADER_LEN + plen;
		scan->valid_len = off;
	}
	scan->torn_bytes = len - scan->valid_len;
	return 0;
}

/* ---- applying ---- */

/* The record's bridge of service: its own, or the shared one (NULL when there is none). */
static struct state_bridge *bridge_of(struct state_dataplane *dp, const char *service)
{
	for (size_t i = 0; service && i < dp->n_services; i++) {
		struct state_dp_service *s = &dp->services[i];
		if (strcmp(s->name, service) != 0)
			continue;
		if (!s->on_shared)
			return &s->bridge;
		return dp->has_shared ? &dp->shared : NULL;
	}
	return NULL;
}

static struct ip_addr *bridge_find(struct state_bridge *b, const struct ip_addr *ip)
{
	for (size_t i = 0; i < b->n_allocated; i++)
		if (ip_addr_equal(&b->allocated[i], ip))
			return &b->allocated[i];
	return NULL;
}

/* Drops pid's attachment with the addresses it holds; nothing when there is none. */
static void attach_remove(struct ovl_state *st, uint32_t pid)
{
	struct state_dataplane *dp = &st->dataplane;
	for (size_t i = 0; i < dp->n_attaches; i++) {
		struct state_dp_attach *a = &dp->attaches[i];
		if (a->pid != pid)
			continue;
		struct state_bridge *b = bridge_of(dp, a->service);
		struct ip_addr *held = b ? bridge_find(b, &a->ip) : NULL;
		if (held)
			*held = b->allocated[--b->n_allocated]; /* the pool is a set: order does not matter */
		if (a->has_global)
			ipam_slice_release(&st->slice, &a->global_ip);
		state_dp_attach_free(a);
		memmove(a, a + 1, (dp->n_attaches - i - 1) * sizeof(*a));
		dp->n_attaches--;
		return;
	}
}

/* The device's entry in the list of devices whose IPv6 forwarding we switched on: added once, or dropped. */
static int v6_forwarding_apply(struct state_dataplane *dp, const char *dev, bool on)
{
	for (size_t i = 0; i < dp->n_ipv6_forwarding; i++) {
		if (strcmp(dp->ipv6_forwarding[i], dev) != 0)
			continue;
		if (!on) { /* in order, as the engine's list keeps it */
			memmove(&dp->ipv6_forwarding[i], &dp->ipv6_forwarding[i + 1],
				(dp->n_ipv6_forwarding - i - 1) * sizeof(*dp->ipv6_forwarding));
			dp->n_ipv6_forwarding--;
		}
		return 0;
	}
	if (!on)
		return 0;
	void *grown = realloc(dp->ipv6_forwarding, (dp->n_ipv6_forwarding + 1) * sizeof(*dp->ipv6_forwarding));
	if (!grown)
		return -ENOMEM;
	dp->ipv6_forwarding = grown;
	snprintf(dp->ipv6_forwarding[dp->n_ipv6_forwarding++], IFNAMSIZ, "%s", dev);
	return 0;
}

int state_journal_apply(struct ovl_state *st, const struct state_journal_record *rec)
{
	struct state_dataplane *dp = &st->dataplane;
	if (rec->type == STATE_JOURNAL_V6_FORWARDING_ON || rec->type == STATE_JOURNAL_V6_FORWARDING_OFF)
		return v6_forwarding_apply(dp, rec->dev, rec->type == STATE_JOURNAL_V6_FORWARDING_ON);
	attach_remove(st, rec->attach.pid);
	if (rec->type == STATE_JOURNAL_DETACH)
		return 0;
	struct state_bridge *b = bridge_of(dp, rec->attach.service);
	void *grown = realloc(dp->attaches, (dp->n_attaches + 1) * sizeof(*dp->attaches));
	if (!grown)
		return -ENOMEM;
	dp->attaches = grown;
	if (b && !bridge_find(b, &rec->attach.ip)) {
		if (!(grown = realloc(b->allocated, (b->n_allocated + 1) * sizeof(*b->allocated))))
			return -ENOMEM;
		b->allocated = grown;
		b->allocated[b->n_allocated++] = rec->attach.ip;
	}
	if (rec->attach.has_global && ipam_slice_reserve(&st->slice, &rec->attach.global_ip) == -ENOMEM)
		return -ENOMEM;
	if (state_dp_attach_copy(&dp->attaches[dp->n_attaches], &rec->attach) < 0)
		return -ENOMEM;
	dp->n_attaches++;
	return 0;
}

/* ---- batches ---- */

int state_journal_batch_add(struct state_journal_batch *b, const struct state_journal_record *rec)
{
	json_t *o = rec->type == STATE_JOURNAL_ATTACH ? state_dp_attach_to_json(&rec->attach)
		    : rec->type == STATE_JOURNAL_DETACH ? json_pack("{s:I}", "pid", (json_int_t)rec->attach.pid)
							: json_pack("{s:s}", "dev", rec->dev);
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (!text)
		return -ENOMEM;
	size_t plen = strlen(text), need = b->len + STATE_JOURNAL_RECORD_HEADER_LEN + plen;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < need)
			cap *= 2;
		uint8_t *n = realloc(b->buf, cap);
		if (!n) {
			free(text);
			return -ENOMEM;
		}
		b->buf = n;
		b->cap = cap;
	}
	uint8_t *p = b->buf + b->len;
	le32_put(p, (uint32_t)plen);
	le32_put(p + 4, record_crc((uint8_t)rec->type, (const uint8_t *)text, plen));
	p[8] = (uint8_t)rec->type;
	memcpy(p + STATE_JOURNAL_RECORD_HEADER_LEN, text, plen);
	free(text);
	b->len = need;
	b->n++;
	return 0;
}

void state_journal_batch_clear(struct state_journal_batch *b)
{
	b->len = 0;
	b->n = 0;
}

void state_journal_batch_free(struct state_journal_batch *b)
{
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

/* ---- the file ---- */

static int apply_visit(const struct state_journal_record *rec, void *arg)
{
	return state_journal_apply(arg, rec);
}

static int read_all(int fd, uint8_t **out, size_t *len)
{
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return -errno;
	size_t size = (size_t)sb.st_size, got = 0;
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return -ENOMEM;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int r = n < 0 ? -errno : 0;
			if (r < 0) {
				free(buf);
				return r;
			}
			break; /* shrank meanwhile: what was read is what there is */
		}
		got += (size_t)n;
	}
	*out = buf;
	*len = got;
	return 0;
}

int state_journal_replay(const char *path, struct ovl_state *st, struct state_journal_scan *scan, char *err,
			 size_t errlen)
{
	memset(scan, 0, sizeof(*scan));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			scan->stale = true;
			return 0;
		}
		int r = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return r;
	}
	uint8_t *buf = NULL;
	size_t len = 0;
	int r = read_all(fd, &buf, &len);
	close(fd);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-r));
		return r;
	}
	char why[500] = "";
	r = state_journal_scan(buf, len, st->journal_generation, apply_visit, st, scan, why, sizeof(why));
	free(buf);
	if (r < 0)
		snprintf(err, errlen, "%s: %s", path, r == -ENOMEM ? "out of memory" : why);
	return r;
}

int state_journal_reset(struct state_journal *j, const char *path, uint64_t generation, char *err, size_t errlen)
{
	uint8_t header[STATE_JOURNAL_HEADER_LEN];
	memcpy(header, magic, sizeof(magic));
	le32_put(header + 4, STATE_JOURNAL_VERSION);
	le64_put(header + 8, generation);
	state_journal_close(j);
	int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	int r = fd < 0 ? -errno : 0;
	if (r == 0 && (ftruncate(fd, 0) < 0 || fchmod(fd, 0600) < 0))
		r = -errno;
	if (r == 0)
		r = state_write_all(fd, header, sizeof(header));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0)
		r = state_fsync_dir_of(path); /* the file's name, when this created it */
	if (r < 0) {
		snprintf(err, errlen, "cannot reset the state journal %s: %s", path, strerror(-r));
		if (fd >= 0)
			close(fd);
		return r;
	}
	j->fd = fd;
	j->open = true;
	j->generation = generation;
	j->size = sizeof(header);
	return 0;
}

int state_journal_append(struct state_journal *j, const struct state_journal_batch *b, char *err, size_t errlen)
{
	if (!j->open) {
		snprintf(err, errlen, "the state journal is not open");
		return -EBADF;
	}
	int r = state_write_all(j->fd, b->buf, b->len);
	if (r == 0 && fdatasync(j->fd) < 0)
		r = -errno;
	if (r < 0) {
		snprintf(err, errlen, "cannot append to the state journal: %s", strerror(-r));
		return r;
	}
	j->size += b->len;
	return 0;
}

bool state_journal_wants_compaction(const struct state_journal *j, uint64_t snapshot_size)
{
	uint64_t limit = snapshot_size > STATE_JOURNAL_COMPACT_MIN ? snapshot_size : STATE_JOURNAL_COMPACT_MIN;
	return !j->open || j->size > limit;
}

void state_journal_close(struct state_journal *j)
{
	if (j->open)
		close(j->fd);
	j->open = false;
	j->size = 0;
}

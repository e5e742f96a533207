/* SPDX-License-Identifier: MIT */
/*
 * Prometheus metrics: counters and latency histograms cheap enough for the
 * data path (relaxed atomic adds, no locks), and the text exposition format
 * (version 0.0.4) they are rendered in.
 *
 * Counters live in the structures of the code that counts (a WireGuard peer,
 * the DNS server, the engine); a scrape reads them with mx_read() and writes
 * families with mx_text_*. Names and labels follow Prometheus conventions:
 * counters end in _total, durations are _seconds, sizes are bytes.
 */
#ifndef OVL_METRICS_METRICS_H
#define OVL_METRICS_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef _Atomic uint64_t mx_counter;

static inline void mx_add(mx_counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline void mx_inc(mx_counter *c)
{
	mx_add(c, 1);
}

static inline uint64_t mx_read(const mx_counter *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* Latency buckets, in seconds: 100 us to 10 s (plus +Inf). */
#define MX_LATENCY_BUCKETS 16

struct mx_histogram {
	mx_counter bucket[MX_LATENCY_BUCKETS + 1]; /* non-cumulative; the last is +Inf */
	mx_counter count;
	mx_counter sum_ns;
};

void mx_observe_ns(struct mx_histogram *h, uint64_t ns);
/* A snapshot of src (each field read once). */
void mx_histogram_copy(struct mx_histogram *dst, const struct mx_histogram *src);

/* CLOCK_MONOTONIC in nanoseconds, for latencies. */
static inline uint64_t mx_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Observes the time since start_ns (from mx_now_ns). */
static inline void mx_observe_since(struct mx_histogram *h, uint64_t start_ns)
{
	mx_observe_ns(h, mx_now_ns() - start_ns);
}

/*
 * The exposition text being built. Appends never fail visibly: running out
 * of memory sets oom, and the scrape answers 500.
 */
struct mx_text {
	char *buf;
	size_t len, cap;
	bool oom;
};

enum mx_type { MX_COUNTER, MX_GAUGE, MX_HISTOGRAM };

/* "# HELP name help" and "# TYPE name type": once per family, before its samples. */
void mx_text_family(struct mx_text *t, const char *name, enum mx_type type, const char *help);
/*
 * One sample: name{labels} value. labels is "" or a list built with
 * mx_labels() ("k=\"v\",k2=\"v2\"", values escaped).
 */
void mx_text_sample(struct mx_text *t, const char *name, const char *labels, uint64_t value);
/* name_bucket{labels,le=...}, name_sum and name_count of a histogram family. */
void mx_text_histogram(struct mx_text *t, const char *name, const char *labels, const struct mx_histogram *h);
void mx_text_free(struct mx_text *t);

/*
 * Builds a label list into out from key, value pairs (NULL-terminated),
 * escaping backslash, double quote and newline in values as the format
 * requires. Returns out; a list that does not fit is cut at a whole label.
 */
const char *mx_labels(char *out, size_t len, ...) __attribute__((sentinel));

#endif

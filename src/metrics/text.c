// SPDX-License-Identifier: MIT
/* The Prometheus text exposition format, and latency histograms. */
#include "metrics/metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds in nanoseconds and as the le label prints them. */
static const uint64_t bound_ns[MX_LATENCY_BUCKETS] = {
	100000,	   250000,    500000,	 1000000,    2500000,	 5000000,    10000000,	 25000000,
	50000000,  100000000, 250000000, 500000000,  1000000000, 2500000000, 5000000000, 10000000000,
};
static const char *const bound_le[MX_LATENCY_BUCKETS] = {
	"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
	"0.05",	  "0.1",     "0.25",   "0.5",	"1",	  "2.5",   "5",	   "10",
};

void mx_observe_ns(struct mx_histogram *h, uint64_t ns)
{
	size_t i = 0;
	while (i < MX_LATENCY_BUCKETS && ns > bound_ns[i])
		i++;
	mx_inc(&h->bucket[i]);
	mx_inc(&h->count);
	mx_add(&h->sum_ns, ns);
}

void mx_histogram_copy(struct mx_histogram *dst, const struct mx_histogram *src)
{
	for (size_t i = 0; i <= MX_LATENCY_BUCKETS; i++)
		dst->bucket[i] = mx_read(&src->bucket[i]);
	dst->count = mx_read(&src->count);
	dst->sum_ns = mx_read(&src->sum_ns);
}

/* Room for n more bytes (and a terminating NUL); false when out of memory. */
static bool reserve(struct mx_text *t, size_t n)
{
	if (t->oom)
		return false;
	if (t->cap - t->len > n)
		return true;
	size_t cap = t->cap ? t->cap * 2 : 16384;
	while (cap - t->len <= n)
		cap *= 2;
	char *b = realloc(t->buf, cap);
	if (!b) {
		t->oom = true;
		return false;
	}
	t->buf = b;
	t->cap = cap;
	return true;
}

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

/* Decimal digits of v at p; the end. */
static char *put_u64(char *p, uint64_t v)
{
	char digits[20];
	size_t n = 0;
	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		*p++ = digits[--n];
	return p;
}

static void append(struct mx_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append(struct mx_text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(t, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

void mx_text_family(struct mx_text *t, const char *name, enum mx_type type, const char *help)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	append(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, types[type]);
}

/*
 * The hot loop of a scrape (a line per peer and family): built with memcpy
 * rather than printf, which is several times slower per line.
 */
void mx_text_sample(struct mx_text *t, const char *name, const char *labels, uint64_t value)
{
	size_t nlen = strlen(name), llen = strlen(labels);
	if (!reserve(t, nlen + llen + 2 + 1 + 20 + 1))
		return;
	char *p = put(t->buf + t->len, name, nlen);
	if (llen) {
		*p++ = '{';
		p = put(p, labels, llen);
		*p++ = '}';
	}
	*p++ = ' ';
	p = put_u64(p, value);
	*p++ = '\n';
	*p = '\0';
	t->len = (size_t)(p - t->buf);
}

void mx_text_histogram(struct mx_text *t, const char *name, const char *labels, const struct mx_histogram *h)
{
	const char *sep = *labels ? "," : "";
	uint64_t cumulative = 0;
	for (size_t i = 0; i < MX_LATENCY_BUCKETS; i++) {
		cumulative += mx_read(&h->bucket[i]);
		append(t, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name, labels, sep, bound_le[i], cumulative);
	}
	/* Read count once and use it for +Inf too, so the buckets never exceed it mid-scrape. */
	uint64_t count = mx_read(&h->count);
	cumulative += mx_read(&h->bucket[MX_LATENCY_BUCKETS]);
	append(t, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, cumulative > count ? cumulative : count);
	if (*labels) {
		append(t, "%s_sum{%s} %.9g\n", name, labels, (double)mx_read(&h->sum_ns) / 1e9);
		append(t, "%s_count{%s} %" PRIu64 "\n", name, labels, cumulative > count ? cumulative : count);
	} else {
		append(t, "%s_sum %.9g\n", name, (double)mx_read(&h->sum_ns) / 1e9);
		append(t, "%s_count %" PRIu64 "\n", name, cumulative > count ? cumulative : count);
	}
}

void mx_text_free(struct mx_text *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}

const char *mx_labels(char *out, size_t len, ...)
{
	va_list ap;
	size_t used = 0;
	out[0] = '\0';
	va_start(ap, len);
	for (const char *key; (key = va_arg(ap, const char *));) {
		const char *value = va_arg(ap, const char *);
		char buf[512];
		size_t n = (size_t)snprintf(buf, sizeof(buf), "%s%s=\"", used ? "," : "", key);
		for (const char *p = value; *p && n + 4 < sizeof(buf); p++) {
			if (*p == '\\' || *p == '"' || *p == '\n')
				buf[n++] = '\\';
			buf[n++] = *p == '\n' ? 'n' : *p;
		}
		buf[n++] = '"';
		buf[n] = '\0';
		if (used + n >= len)
			break;
		memcpy(out + used, buf, n + 1);
		used += n;
	}
	va_end(ap);
	return out;
}

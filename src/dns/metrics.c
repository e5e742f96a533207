// SPDX-License-Identifier: MIT
/* The DNS server's metrics: queries by result and their latency. */
#include <string.h>

#include "dns/worker.h"

const char *dns_result_name(enum dns_result r)
{
	static const char *const names[DNS_RESULT_COUNT_] = {
		[DNS_RESULT_NOERROR] = "NOERROR", [DNS_RESULT_NXDOMAIN] = "NXDOMAIN", [DNS_RESULT_SERVFAIL] = "SERVFAIL",
		[DNS_RESULT_FORMERR] = "FORMERR", [DNS_RESULT_REFUSED] = "REFUSED",   [DNS_RESULT_OTHER] = "other",
		[DNS_RESULT_FORWARDED] = "forwarded",
	};
	return (unsigned)r < DNS_RESULT_COUNT_ ? names[r] : "other";
}

void dns_count_reply(struct worker *w, const uint8_t *msg, size_t len, uint64_t latency_ns)
{
	enum dns_result r = DNS_RESULT_OTHER;
	if (len >= DNS_HEADER_LEN) {
		switch (msg[3] & 0x0f) { /* the header's RCODE */
		case DNS_R_NOERROR: r = DNS_RESULT_NOERROR; break;
		case DNS_R_NXDOMAIN: r = DNS_RESULT_NXDOMAIN; break;
		case DNS_R_SERVFAIL: r = DNS_RESULT_SERVFAIL; break;
		case DNS_R_FORMERR: r = DNS_RESULT_FORMERR; break;
		case DNS_R_REFUSED: r = DNS_RESULT_REFUSED; break;
		default: break;
		}
	}
	mx_inc(&w->metrics.queries[r]);
	mx_observe_ns(&w->metrics.latency, latency_ns);
}

void dns_server_metrics(struct dns_server *srv, struct dns_metrics *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned w = 0; w < srv->nworkers; w++) {
		const struct dns_metrics *m = &srv->workers[w]->metrics;
		for (int i = 0; i < DNS_RESULT_COUNT_; i++)
			out->queries[i] += mx_read(&m->queries[i]);
		mx_histogram_add(&out->latency, &m->latency);
	}
}

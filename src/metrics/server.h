/* SPDX-License-Identifier: MIT */
/*
 * The metrics endpoint: a minimal HTTP/1.1 server on its own thread that
 * answers GET /metrics with the text the collect callback writes. One
 * connection at a time, each bounded in time and size, so a slow or hostile
 * scraper delays only other scrapes, never the daemon's requests.
 */
#ifndef OVL_METRICS_SERVER_H
#define OVL_METRICS_SERVER_H

#include <stdint.h>

#include "metrics/metrics.h"
#include "util/inet.h"

struct mx_server;

/* Writes the whole exposition into out (on the server's thread). */
typedef void (*mx_collect_fn)(void *arg, struct mx_text *out);

/*
 * Binds listen (port 0 picks one) and starts the thread. 0, or -errno with
 * the listening socket not created (the reason is also logged).
 */
int mx_server_start(const struct ip_endpoint *listen, mx_collect_fn collect, void *arg, struct mx_server **out);
/* The bound port (the chosen one for port 0). */
uint16_t mx_server_port(const struct mx_server *s);
/* Stops the thread (an open connection is dropped at once) and closes the socket. */
void mx_server_stop(struct mx_server *s);

#endif

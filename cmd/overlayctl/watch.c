// SPDX-License-Identifier: MIT
/* `overlayctl watch`: prints the daemon's events until interrupted. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"
#include "ipc/client.h"

static volatile sig_atomic_t interrupted;
static volatile sig_atomic_t watch_fd = -1;

/*
 * Setting a flag alone would lose a signal that lands between the loop's check
 * and the blocking read; shutting the socket down (async-signal-safe) makes that
 * read return at once.
 */
static void on_sigint(int sig)
{
	interrupted = 1;
	if (watch_fd >= 0)
		shutdown(watch_fd, SHUT_RDWR);
}

int ctl_watch(const char *path, bool raw)
{
	/* Before connecting: an interrupt right after the connection exists must still end cleanly. */
	struct sigaction sa = { .sa_handler = on_sigint };
	sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: recv returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	int fd = ctl_connect(path);
	if (fd < 0)
		return 1;
	watch_fd = fd;
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (!interrupted) {
		char *body;
		size_t len;
		int r = ipc_client_recv(fd, &body, &len);
		if (r < 0) {
			if (interrupted || r == -EINTR)
				break;
			watch_fd = -1;
			fprintf(stderr, "overlayctl: %s\n", r == -EPIPE ? "overlayd closed the connection" : strerror(-r));
			close(fd);
			return 1;
		}
		json_error_t e;
		json_t *f = json_loadb(body, len, 0, &e);
		if (f && !raw) {
			const char *ev = json_string_value(json_object_get(f, "event"));
			if (ev && strcmp(ev, "peer_health_changed") == 0)
				printf("peer_health_changed pubkey=%s healthy=%s\n", ctl_str_or_dash(f, "pubkey"),
				       json_is_true(json_object_get(f, "healthy")) ? "true" : "false");
			else if (ev && strcmp(ev, "nat_endpoint_changed") == 0)
				printf("nat_endpoint_changed pubkey=%s endpoint=%s\n", ctl_str_or_dash(f, "pubkey"),
				       ctl_str_or_dash(f, "endpoint"));
			else
				printf("%.*s\n", (int)len, body);
		} else {
			printf("%.*s\n", (int)len, body);
		}
		json_decref(f);
		free(body);
	}
	watch_fd = -1;
	close(fd);
	return 0;
}


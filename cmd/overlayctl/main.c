// SPDX-License-Identifier: MIT
/*
 * overlayctl: the operator's client for overlayd's control socket.
 *
 *   overlayctl [--socket PATH] [--json] <op> [key=value ...]
 *   overlayctl status | peers | services | attachments | watch | bench [options]
 *
 * Every protocol op is reachable: key=value pairs become the request's
 * fields. Values of string fields stay strings; any other value is taken as
 * JSON when it parses (numbers, true/false, objects such as
 * handle='{"platform":"linux_pid","pid":42}') and as a string otherwise.
 * Exit status: 0 ok, 1 err response or connection failure, 2 usage.
 *
 * One file per subcommand, as wireguard-tools splits wg: op.c (any protocol
 * op), answer.c (its one-line answer), status.c (the node's tables), watch.c,
 * bench.c. This file parses the global options and dispatches.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "ipc/client.h"
#include "proto/frame.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: overlayctl [--socket PATH | --data-dir DIR] [--json] <op> [key=value ...]\n"
		"       overlayctl [--socket PATH] [--json] status       the node: peers, services, attachments\n"
		"       overlayctl [--socket PATH] [--json] peers | services | attachments   one table\n"
		"       overlayctl [--socket PATH] [--json] nat          NAT traversal: candidates, TURN, relay, peers\n"
		"       overlayctl [--socket PATH] watch         print events until interrupted\n"
		"       overlayctl [--socket PATH] bench [--clients N] [--seconds S] [--pipeline D]\n"
		"                                        [--op OP | --request JSON]\n"
		"\n"
		"ops: set_local_node_id node_id=N | set_local_wg_pubkey pubkey=K | setup_global_overlay ...\n"
		"     allocate_ip service=S join_global=false | release_ip ip=A | add_peer public_key=K\n"
		"     endpoint=H:P allowed_ips=C[,C] [persistent_keepalive_secs=N] | remove_peer pubkey=K\n"
		"     register_dns name=N ip=A | unregister_dns name=N | prune_orphan_bridges\n"
		"     live_bridge_names='[...]' | nat_status | nat_tick | shutdown | ... (see overlayctl(8))\n"
		"\n"
		"The socket defaults to $OVERLAYD_SOCKET, else " PROTO_DEFAULT_SOCKET
		" (with --data-dir DIR: DIR/run/" PROTO_SOCKET_NAME ").\n"
		"Exit status: 0 ok, 1 error response or connection failure, 2 usage error.\n");
}

int ctl_connect(const char *path)
{
	int fd = ipc_client_connect(path);
	if (fd < 0)
		fprintf(stderr, "overlayctl: cannot connect to %s: %s%s\n", path, strerror(-fd),
			fd == -ENOENT || fd == -ECONNREFUSED ? " (is overlayd running?)" : "");
	return fd;
}

static const char *color_if(int fd, enum ctl_color c)
{
	static const char *const seq[] = { [CTL_RESET] = "\033[0m", [CTL_BOLD] = "\033[1m", [CTL_RED] = "\033[31m",
					   [CTL_GREEN] = "\033[32m" };
	static int on[3] = { -1, -1, -1 }; /* per fd, decided once */
	if (on[fd] < 0) {
		const char *term = getenv("TERM");
		on[fd] = isatty(fd) && !getenv("NO_COLOR") && !(term && strcmp(term, "dumb") == 0);
	}
	return on[fd] ? seq[c] : "";
}

const char *ctl_color(enum ctl_color c)
{
	return color_if(STDOUT_FILENO, c);
}

const char *ctl_color_err(enum ctl_color c)
{
	return color_if(STDERR_FILENO, c);
}

const char *ctl_str_or_dash(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

json_int_t ctl_int(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

int main(int argc, char **argv)
{
	const char *path = getenv("OVERLAYD_SOCKET");
	char buf[4200];
	bool raw = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			raw = true;
		} else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
			path = argv[++i];
		} else if (strcmp(argv[i], "--data-dir") == 0 && i + 1 < argc) {
			snprintf(buf, sizeof(buf), "%s/run/" PROTO_SOCKET_NAME, argv[++i]);
			path = buf;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			puts("overlayctl " OVL_VERSION);
			return 0;
		} else {
			fprintf(stderr, "overlayctl: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (!path || !*path)
		path = PROTO_DEFAULT_SOCKET;
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	const char *op = argv[i];
	if (strcmp(op, "watch") == 0)
		return i + 1 == argc ? ctl_watch(path, raw) : (usage(stderr), 2);
	if (strcmp(op, "peers") == 0 || strcmp(op, "services") == 0 || strcmp(op, "attachments") == 0)
		return i + 1 == argc ? ctl_show(path, raw, op) : (usage(stderr), 2);
	if (strcmp(op, "nat") == 0)
		return i + 1 == argc ? ctl_nat(path, raw) : (usage(stderr), 2);
	if (strcmp(op, "bench") == 0)
		return ctl_bench(path, argc - i, argv + i);
	return ctl_op(path, raw, argc - i, argv + i);
}

// SPDX-License-Identifier: MIT
/*
 * overlayctl: the operator's client for overlayd's control socket.
 *
 *   overlayctl [--socket PATH] [--json] <op> [key=value ...]
 *   overlayctl status | watch | bench [options]
 *
 * Every protocol op is reachable: key=value pairs become the request's
 * fields. Values of string fields stay strings; any other value is taken as
 * JSON when it parses (numbers, true/false, objects such as
 * handle='{"platform":"linux_pid","pid":42}') and as a string otherwise.
 * Exit status: 0 ok, 1 err response or connection failure, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ipc/client.h"
#include "proto/frame.h"


/* Fields that are strings in the protocol even when they look like numbers. */
static const char *const string_fields[] = {
	"service",    "name",	    "deployment",  "instance_id", "ip",	       "cidr",	     "pubkey",
	"public_key", "endpoint",   "allowed_ips", "zone",	  "node_ip",   "mode",	     "cluster_cidr",
	"slice_cidr", "private_key", "dns_server", "dns_domain",  "isolation_network",
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: overlayctl [--socket PATH | --data-dir DIR] [--json] <op> [key=value ...]\n"
		"       overlayctl [--socket PATH] status        node status as a table\n"
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

static bool is_string_field(const char *key)
{
	for (size_t i = 0; i < sizeof(string_fields) / sizeof(string_fields[0]); i++)
		if (strcmp(key, string_fields[i]) == 0)
			return true;
	return false;
}

static json_t *typed_value(const char *key, const char *value)
{
	if (!is_string_field(key)) {
		json_error_t e;
		json_t *v = json_loads(value, JSON_DECODE_ANY, &e);
		if (v)
			return v;
	}
	return json_string(value);
}

static int connect_or_report(const char *path)
{
	int fd = ipc_client_connect(path);
	if (fd < 0)
		fprintf(stderr, "overlayctl: cannot connect to %s: %s%s\n", path, strerror(-fd),
			fd == -ENOENT || fd == -ECONNREFUSED ? " (is overlayd running?)" : "");
	return fd;
}

/* Sends one request and returns its response object (new reference), or NULL after reporting. */
static json_t *call(int fd, json_t *request, uint64_t id)
{
	json_t *frame = json_pack("{s:s, s:I, s:O}", "frame", "request", "id", (json_int_t)id, "request", request);
	char *text = frame ? json_dumps(frame, JSON_COMPACT) : NULL;
	json_decref(frame);
	if (!text) {
		fprintf(stderr, "overlayctl: out of memory\n");
		return NULL;
	}
	int r = ipc_client_send(fd, text, strlen(text));
	free(text);
	if (r < 0) {
		fprintf(stderr, "overlayctl: sending the request failed: %s\n", strerror(-r));
		return NULL;
	}
	for (;;) {
		char *body;
		size_t len;
		r = ipc_client_recv(fd, &body, &len);
		if (r < 0) {
			fprintf(stderr, "overlayctl: reading the response failed: %s\n",
				r == -EPIPE ? "overlayd closed the connection" : strerror(-r));
			return NULL;
		}
		json_error_t e;
		json_t *f = json_loadb(body, len, 0, &e);
		free(body);
		if (!f) {
			fprintf(stderr, "overlayctl: invalid frame from overlayd: %s\n", e.text);
			return NULL;
		}
		json_t *fid = json_object_get(f, "id");
		json_t *resp = json_object_get(f, "response");
		const char *kind = json_string_value(json_object_get(f, "frame"));
		if (kind && strcmp(kind, "response") == 0 && json_is_integer(fid) &&
		    ((uint64_t)json_integer_value(fid) == id || json_integer_value(fid) == 0) && json_is_object(resp)) {
			json_incref(resp);
			json_decref(f);
			return resp;
		}
		json_decref(f); /* an event: not ours to print here */
	}
}

static const char *str_or_dash(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

static void print_status(json_t *r)
{
	printf("%-14s %s\n", "interface", str_or_dash(r, "interface"));
	printf("%-14s %s\n", "node ip", str_or_dash(r, "node_ip"));
	printf("%-14s %s\n", "public key", str_or_dash(r, "public_key"));
	printf("%-14s %s\n", "overlay cidr", str_or_dash(r, "overlay_cidr"));
	printf("%-14s %s\n", "slice cidr", str_or_dash(r, "slice_cidr"));
	printf("%-14s %" JSON_INTEGER_FORMAT "\n", "peers", json_integer_value(json_object_get(r, "peer_count")));
	printf("%-14s %" JSON_INTEGER_FORMAT "\n", "services", json_integer_value(json_object_get(r, "service_count")));
	json_t *peers = json_object_get(r, "peers"), *v;
	size_t i;
	if (json_array_size(peers)) {
		printf("\n%-44s  %-22s  %-28s  %s\n", "PEER", "ENDPOINT", "ALLOWED IPS", "LAST HANDSHAKE");
		json_array_foreach(peers, i, v)
		{
			json_int_t hs = json_integer_value(json_object_get(v, "last_handshake_unix_secs"));
			char when[32] = "never";
			if (hs > 0) {
				time_t t = (time_t)hs;
				struct tm tm;
				strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
			}
			printf("%-44s  %-22s  %-28s  %s\n", str_or_dash(v, "public_key"), str_or_dash(v, "endpoint"),
			       str_or_dash(v, "allowed_ips"), when);
		}
	}
	json_t *ded = json_object_get(r, "dedicated_services");
	if (json_array_size(ded)) {
		printf("\n%-16s  %-15s  %-5s  %-15s  %-18s  %s\n", "DEDICATED", "INTERFACE", "PORT", "OVERLAY IP",
		       "SUBNET", "PEERS");
		json_array_foreach(ded, i, v)
		{
			printf("%-16s  %-15s  %-5" JSON_INTEGER_FORMAT "  %-15s  %-18s  %" JSON_INTEGER_FORMAT "\n",
			       str_or_dash(v, "service"), str_or_dash(v, "interface"),
			       json_integer_value(json_object_get(v, "listen_port")), str_or_dash(v, "overlay_ip"),
			       str_or_dash(v, "subnet"), json_integer_value(json_object_get(v, "peer_count")));
		}
	}
}

/* Prints a response; returns the exit status. */
static int print_response(json_t *resp, bool raw)
{
	const char *result = json_string_value(json_object_get(resp, "result"));
	bool err = result && strcmp(result, "err") == 0;
	if (raw) {
		char *t = json_dumps(resp, JSON_COMPACT);
		if (t)
			puts(t);
		free(t);
	} else if (err) {
		fprintf(stderr, "error: %s\n", str_or_dash(resp, "message"));
	} else if (result && strcmp(result, "ok") == 0) {
		puts("ok");
	} else if (result && (strcmp(result, "ip") == 0 || strcmp(result, "attached") == 0)) {
		puts(str_or_dash(resp, "ip"));
	} else if (result && strcmp(result, "status") == 0) {
		print_status(resp);
	} else {
		char *t = json_dumps(resp, JSON_INDENT(2));
		if (t)
			puts(t);
		free(t);
	}
	return err ? 1 : 0;
}

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

static int watch(const char *path, bool raw)
{
	/* Before connecting: an interrupt right after the connection exists must still end cleanly. */
	struct sigaction sa = { .sa_handler = on_sigint };
	sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: recv returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	int fd = connect_or_report(path);
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
				printf("peer_health_changed pubkey=%s healthy=%s\n", str_or_dash(f, "pubkey"),
				       json_is_true(json_object_get(f, "healthy")) ? "true" : "false");
			else if (ev && strcmp(ev, "nat_endpoint_changed") == 0)
				printf("nat_endpoint_changed pubkey=%s endpoint=%s\n", str_or_dash(f, "pubkey"),
				       str_or_dash(f, "endpoint"));
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

/* ---- bench: request rate, one connection or many ---- */

struct bench_client {
	const char *path;
	const char *frame; /* encoded request (id fixed: responses are counted, not matched) */
	size_t frame_len;
	int pipeline;
	double seconds;
	uint64_t done;
	uint64_t errors;
	int failed;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *bench_thread(void *p)
{
	struct bench_client *b = p;
	int fd = ipc_client_connect(b->path);
	if (fd < 0) {
		b->failed = -fd;
		return NULL;
	}
	double end = now_s() + b->seconds;
	int inflight = 0;
	for (;;) {
		bool more = now_s() < end;
		while (more && inflight < b->pipeline) {
			if (ipc_client_send(fd, b->frame, b->frame_len) < 0) {
				b->failed = EPIPE;
				goto out;
			}
			inflight++;
		}
		if (!inflight)
			break;
		char *body;
		size_t len;
		if (ipc_client_recv(fd, &body, &len) < 0) {
			b->failed = EPIPE;
			goto out;
		}
		if (strstr(body, "\"result\":\"err\""))
			b->errors++;
		free(body);
		inflight--;
		b->done++;
	}
out:
	close(fd);
	return NULL;
}

static int bench(const char *path, int argc, char **argv)
{
	int clients = 1, pipeline = 1;
	double seconds = 3;
	const char *op = "status", *request = NULL;
	static const struct option opts[] = {
		{ "request", required_argument, NULL, 'r' },
		{ "clients", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{ "pipeline", required_argument, NULL, 'p' },
		{ "op", required_argument, NULL, 'o' },
		{ 0 },
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			clients = atoi(optarg);
			break;
		case 's':
			seconds = atof(optarg);
			break;
		case 'p':
			pipeline = atoi(optarg);
			break;
		case 'o':
			op = optarg;
			break;
		case 'r':
			request = optarg;
			break;
		default:
			return 2;
		}
	}
	if (clients < 1 || clients > 1024 || pipeline < 1 || pipeline > 4096 || !(seconds > 0)) {
		fprintf(stderr, "overlayctl bench: --clients 1..1024, --pipeline 1..4096, --seconds > 0\n");
		return 2;
	}
	char frame[4096];
	int flen = request ? snprintf(frame, sizeof(frame), "{\"frame\":\"request\",\"id\":1,\"request\":%s}", request)
			   : snprintf(frame, sizeof(frame), "{\"frame\":\"request\",\"id\":1,\"request\":{\"op\":\"%s\"}}", op);
	if (flen < 0 || (size_t)flen >= sizeof(frame)) {
		fprintf(stderr, "overlayctl bench: request too long\n");
		return 2;
	}
	if (request)
		op = "custom";
	struct bench_client *bc = calloc((size_t)clients, sizeof(*bc));
	pthread_t *th = calloc((size_t)clients, sizeof(*th));
	if (!bc || !th)
		return 1;
	double t0 = now_s();
	for (int i = 0; i < clients; i++) {
		bc[i] = (struct bench_client){ .path = path, .frame = frame, .frame_len = (size_t)flen,
					       .pipeline = pipeline, .seconds = seconds };
		if (pthread_create(&th[i], NULL, bench_thread, &bc[i]) != 0) {
			fprintf(stderr, "overlayctl bench: cannot start thread\n");
			return 1;
		}
	}
	uint64_t total = 0, errors = 0;
	int failed = 0;
	for (int i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		total += bc[i].done;
		errors += bc[i].errors;
		if (bc[i].failed)
			failed = bc[i].failed;
	}
	double dt = now_s() - t0;
	printf("op=%s clients=%d pipeline=%d requests=%" PRIu64 " errors=%" PRIu64 " seconds=%.2f rate=%.0f req/s\n",
	       op, clients, pipeline, total, errors, dt, (double)total / dt);
	free(bc);
	free(th);
	if (failed) {
		fprintf(stderr, "overlayctl bench: a client failed: %s\n", strerror(failed));
		return 1;
	}
	return errors ? 1 : 0;
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
	const char *op = argv[i++];
	if (strcmp(op, "watch") == 0)
		return i == argc ? watch(path, raw) : (usage(stderr), 2);
	if (strcmp(op, "bench") == 0)
		return bench(path, argc - i + 1, argv + i - 1);

	json_t *req = json_pack("{s:s}", "op", op);
	for (; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq || eq == argv[i]) {
			fprintf(stderr, "overlayctl: expected key=value, got \"%s\"\n", argv[i]);
			json_decref(req);
			return 2;
		}
		*eq = '\0';
		if (json_object_set_new(req, argv[i], typed_value(argv[i], eq + 1)) < 0) {
			json_decref(req);
			return 1;
		}
	}
	int fd = connect_or_report(path);
	if (fd < 0) {
		json_decref(req);
		return 1;
	}
	json_t *resp = call(fd, req, 1);
	json_decref(req);
	close(fd);
	if (!resp)
		return 1;
	int rc = print_response(resp, raw);
	json_decref(resp);
	return rc;
}

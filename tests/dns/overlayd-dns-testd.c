// SPDX-License-Identifier: MIT
/*
 * overlayd-dns-testd: the overlay DNS server alone, driven from the command
 * line and stdin, for tests and benchmarks until the daemon wires it in.
 *
 *   overlayd-dns-testd [--listen ADDR:PORT]... [--zone ZONE] [--ttl S]
 *       [--negative-ttl S] [--no-forward] [--upstream ADDR:PORT]...
 *       [--resolv-conf PATH] [--timeout-ms N] [--threads N]
 *       [--tcp-idle-ms N] [--tcp-max-conns N] [--record NAME=IP]...
 *       [--hosts FILE] [--no-stdin] [--debug]
 *
 * --hosts reads "IP NAME" lines (hosts(5) style) and registers each NAME as
 * absolute. Prints "ready" on stdout once listening. Then, unless
 * --no-stdin, reads commands from stdin, one per line, answering "ok",
 * "err <reason>", or for "list" one "NAME IP" line per record and "end":
 *   set NAME IP | del NAME | zone ZONE | list | listen EP | unlisten EP
 * It exits on EOF or "quit"; with --no-stdin on SIGINT/SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"
#include "util/log.h"

#define MAX_LIST 16

struct opts {
	struct dns_config cfg;
	struct ip_endpoint listen[MAX_LIST], upstreams[DNS_MAX_UPSTREAMS];
	size_t nlisten;
	const char *records[256];
	size_t nrecords;
	const char *hosts;
	bool no_stdin;
};

static int parse_uint(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || !*s || *end || v > 1000000000ul)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int set_record(struct dns_server *srv, const char *name, const char *ip, char *err, size_t errlen)
{
	struct ip_addr a;
	if (ip_addr_parse(ip, &a) < 0) {
		snprintf(err, errlen, "bad address '%s'", ip);
		return -EINVAL;
	}
	int rc = dns_record_set(srv, name, &a);
	if (rc < 0)
		snprintf(err, errlen, "cannot register '%s' -> %s: %s", name, ip, strerror(-rc));
	return rc;
}

static int load_hosts(struct dns_server *srv, const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "cannot open %s: %m\n", path);
		return -1;
	}
	char line[512], err[300];
	int rc = 0;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		char *save = NULL, *ip = strtok_r(line, " \t\r\n", &save), *name = strtok_r(NULL, " \t\r\n", &save);
		if (!ip || ip[0] == '#' || !name)
			continue;
		char abs[300];
		snprintf(abs, sizeof(abs), "%s%s", name, name[strlen(name) - 1] == '.' ? "" : ".");
		if (set_record(srv, abs, ip, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: %s\n", path, err);
			rc = -1;
		}
	}
	fclose(f);
	return rc;
}

static void command(struct dns_server *srv, char *line)
{
	char *save = NULL, *cmd = strtok_r(line, " \t\r\n", &save);
	char *a1 = strtok_r(NULL, " \t\r\n", &save), *a2 = strtok_r(NULL, " \t\r\n", &save);
	char err[300] = "";
	int rc = -EINVAL;
	struct ip_endpoint ep;
	if (!cmd) {
		return;
	} else if (!strcmp(cmd, "set") && a1 && a2) {
		rc = set_record(srv, a1, a2, err, sizeof(err));
	} else if (!strcmp(cmd, "del") && a1) {
		rc = dns_record_remove(srv, a1);
	} else if (!strcmp(cmd, "zone") && a1) {
		rc = dns_server_set_zone(srv, a1);
	} else if ((!strcmp(cmd, "listen") || !strcmp(cmd, "unlisten")) && a1) {
		if (ip_endpoint_parse(a1, &ep) < 0)
			snprintf(err, sizeof(err), "bad endpoint '%s'", a1);
		else
			rc = cmd[0] == 'l' ? dns_server_listen(srv, &ep) : dns_server_unlisten(srv, &ep);
	} else if (!strcmp(cmd, "list")) {
		struct dns_record *v;
		size_t n;
		rc = dns_record_list(srv, &v, &n);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			char b[IP_ADDR_STRLEN];
			printf("%s %s\n", v[i].name, ip_addr_format(&v[i].addr, b, sizeof(b)));
		}
		if (rc == 0) {
			free(v);
			printf("end\n");
			fflush(stdout);
			return;
		}
	} else {
		snprintf(err, sizeof(err), "unknown command or missing argument");
	}
	if (rc == 0)
		printf("ok\n");
	else
		printf("err %s\n", err[0] ? err : strerror(-rc));
	fflush(stdout);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },	  { "zone", required_argument, NULL, 'z' },
		{ "ttl", required_argument, NULL, 't' },	  { "negative-ttl", required_argument, NULL, 'n' },
		{ "no-forward", no_argument, NULL, 'F' },	  { "upstream", required_argument, NULL, 'u' },
		{ "resolv-conf", required_argument, NULL, 'r' }, { "timeout-ms", required_argument, NULL, 'T' },
		{ "threads", required_argument, NULL, 'j' },	  { "tcp-idle-ms", required_argument, NULL, 'i' },
		{ "tcp-max-conns", required_argument, NULL, 'c' }, { "record", required_argument, NULL, 'R' },
		{ "hosts", required_argument, NULL, 'H' },	  { "no-stdin", no_argument, NULL, 'S' },
		{ "debug", no_argument, NULL, 'd' },		  { NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case 'l':
			bad = o->nlisten >= MAX_LIST || ip_endpoint_parse(optarg, &o->listen[o->nlisten++]) < 0;
			break;
		case 'u':
			bad = o->cfg.n_upstreams >= DNS_MAX_UPSTREAMS ||
			      ip_endpoint_parse(optarg, &o->upstreams[o->cfg.n_upstreams++]) < 0;
			break;
		case 'z': o->cfg.zone = optarg; break;
		case 't': bad = parse_uint(optarg, &o->cfg.ttl) < 0; break;
		case 'n': bad = parse_uint(optarg, &o->cfg.negative_ttl) < 0; break;
		case 'F': o->cfg.no_forward = true; break;
		case 'r': o->cfg.resolv_conf = optarg; break;
		case 'T': bad = parse_uint(optarg, &o->cfg.forward_timeout_ms) < 0; break;
		case 'j': bad = parse_uint(optarg, &o->cfg.threads) < 0; break;
		case 'i': bad = parse_uint(optarg, &o->cfg.tcp_idle_ms) < 0; break;
		case 'c': bad = parse_uint(optarg, &o->cfg.tcp_max_conns) < 0; break;
		case 'R':
			bad = o->nrecords >= sizeof(o->records) / sizeof(o->records[0]) || !strchr(optarg, '=');
			if (!bad)
				o->records[o->nrecords++] = optarg;
			break;
		case 'H': o->hosts = optarg; break;
		case 'S': o->no_stdin = true; break;
		case 'd': log_set_level(LOG_LVL_DEBUG); break;
		default: return -1;
		}
		if (bad) {
			fprintf(stderr, "bad or too many values: '%s'\n", optarg);
			return -1;
		}
	}
	o->cfg.upstreams = o->upstreams;
	return optind == argc ? 0 : -1;
}

int main(int argc, char **argv)
{
	static struct opts o;
	if (parse_args(argc, argv, &o) < 0) {
		fprintf(stderr, "usage: see the comment at the top of overlayd-dns-testd.c\n");
		return 2;
	}
	/* Block the stop signals before threads start so only sigwait sees them. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	if (o.no_stdin)
		pthread_sigmask(SIG_BLOCK, &stop, NULL);

	struct dns_server *srv = dns_server_create(&o.cfg);
	if (!srv) {
		fprintf(stderr, "cannot create the DNS server: %m\n");
		return 1;
	}
	int rc = 0;
	char err[300];
	for (size_t i = 0; rc == 0 && i < o.nrecords; i++) {
		char *eq = strchr(o.records[i], '=');
		*eq = '\0';
		if (set_record(srv, o.records[i], eq + 1, err, sizeof(err)) < 0) {
			fprintf(stderr, "--record: %s\n", err);
			rc = 1;
		}
	}
	if (rc == 0 && o.hosts && load_hosts(srv, o.hosts) < 0)
		rc = 1;
	for (size_t i = 0; rc == 0 && i < o.nlisten; i++) {
		int e = dns_server_listen(srv, &o.listen[i]);
		if (e < 0) {
			char b[IP_ENDPOINT_STRLEN];
			fprintf(stderr, "cannot listen on %s: %s\n", ip_endpoint_format(&o.listen[i], b, sizeof(b)),
				strerror(-e));
			rc = 1;
		}
	}
	if (rc == 0) {
		printf("ready\n");
		fflush(stdout);
		if (o.no_stdin) {
			int sig;
			sigwait(&stop, &sig);
		} else {
			char line[1024];
			while (fgets(line, sizeof(line), stdin) && strncmp(line, "quit", 4) != 0)
				command(srv, line);
		}
	}
	dns_server_destroy(srv);
	return rc;
}

// SPDX-License-Identifier: MIT
/*
 * overlayd: the per-node overlay-network daemon. Thin: parses arguments,
 * takes the data-dir lock, and wires the control socket (ipc/, on the main
 * thread's event loop) to the engine (on its worker thread).
 *
 * A signal stops the daemon and leaves the data plane running (a restart or
 * an upgrade does not disconnect containers); the shutdown request and
 * "overlayd --teardown" remove it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "dns/dns.h"
#include "engine/engine.h"
#include "engine/worker.h"
#include "ipc/client.h"
#include "proto/frame.h"
#include "ipc/server.h"
#include "metrics/server.h"
#include "util/evloop.h"
#include "util/inet.h"
#include "util/log.h"
#include "wg/wg.h"

#define DEFAULT_DATA_DIR "/var/lib/zlayer"
#define SOCKET_GROUP "zlayer"
#define MAX_DNS_ENDPOINTS 8

struct daemon {
	struct evloop *loop;
	struct engine *engine;
	struct engine_worker *worker;
	struct ipc_server *server;
	struct cluster *cluster; /* --cluster: NULL otherwise */
	struct mx_server *metrics; /* --metrics-listen; NULL when off */
	bool stopping;
	bool by_signal; /* leave the data plane as it is */
};

/* An engine request of the cluster thread's own, waited for (cluster_hooks.call). */
struct sync_call {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

static void collect_metrics(void *engine, struct mx_text *out)
{
	engine_metrics_collect(engine, out);
}

/* One request on its way from the loop to the worker, which answers the client itself. */
struct daemon_job {
	struct engine_job job; /* first: the worker hands back &job */
	struct daemon *d;
	struct ipc_reply *reply;
	struct sync_call *sync; /* set instead of reply for the cluster thread's requests */
};

struct daemon_event {
	struct daemon *d;
	struct ovl_event ev;
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: overlayd [--data-dir DIR] [--socket PATH] [--log-level LEVEL] [--discard-corrupt-state]\n"
		   "                [--dns-zone ZONE] [--dns-upstream IP[:PORT]]... [--dns-listen ADDR:PORT]...\n"
		   "                [--no-dns] [--metrics-listen ADDR:PORT] [--wg-queues N]\n"
		   "                [--cluster etcd=URL[,URL...]] [--cluster-prefix PREFIX]\n"
		   "                [--cluster-lease-ttl SECS] [--cluster-advertise IP]\n"
		   "                [--cluster-cacert FILE] [--cluster-cert FILE] [--cluster-key FILE]\n"
		   "       overlayd --teardown [--data-dir DIR]\n"
		   "\n"
		   "  --data-dir DIR           state and lock directory (default " DEFAULT_DATA_DIR ")\n"
		   "  --socket PATH            control socket (default " PROTO_DEFAULT_SOCKET " with the default\n"
		   "                           data dir, else DIR/run/" PROTO_SOCKET_NAME ")\n"
		   "  --log-level LEVEL        error, warn, info (default) or debug\n"
		   "  --discard-corrupt-state  start empty when state.json is corrupt (it is kept aside)\n"
		   "  --dns-zone ZONE          overlay DNS zone (default: the recorded one, else " DNS_DEFAULT_ZONE ")\n"
		   "  --dns-upstream IP[:PORT] resolver for names outside the overlay (repeatable; port 53 by\n"
		   "                           default; default: the nameservers of /etc/resolv.conf)\n"
		   "  --dns-listen ADDR:PORT   also serve DNS there, with or without the data plane (repeatable;\n"
		   "                           IPv6 as [ADDR]:PORT)\n"
		   "  --no-dns                 run no DNS server (records are still kept)\n"
		   "  --metrics-listen ADDR:PORT  serve Prometheus metrics at http://ADDR:PORT/metrics (off by\n"
		   "                           default; IPv6 as [ADDR]:PORT; port 0 picks one, logged)\n"
		   "  --wg-sock-dir DIR        WireGuard UAPI socket directory (default /var/run/wireguard)\n"
		   "  --wg-queues N            TUN queues, each with an encrypting thread, per WireGuard device\n"
		   "                           (1-%d; default one per CPU, at most %d)\n"
		   "  --networkd-dir DIR       systemd-networkd drop-in directory (default /run/systemd/network)\n"
		   "  --nm-dir DIR             NetworkManager drop-in directory (default /run/NetworkManager/conf.d)\n"
		   "  --no-unmanaged           never write networkd/NetworkManager drop-ins\n"
		   "  --cluster etcd=URL,...   cluster mode: find the other nodes, claim slices and subnets\n"
		   "                           through etcd (http:// or https:// endpoints)\n"
		   "  --cluster-prefix PREFIX  etcd key prefix (default " CLUSTER_DEFAULT_PREFIX ")\n"
		   "  --cluster-lease-ttl SECS how long a silent node stays a member (default 15)\n"
		   "  --cluster-advertise IP   underlay address other nodes reach us at (default: our source\n"
		   "                           address towards the first etcd endpoint)\n"
		   "  --cluster-cacert FILE, --cluster-cert FILE, --cluster-key FILE\n"
		   "                           TLS files for https:// etcd endpoints\n"
		   "  --teardown               remove everything a stopped overlayd left running (devices,\n"
		   "                           bridges, veths, addresses, routes, firewall rules, sysctls)\n"
		   "                           and exit\n"
		   "  -h, --help               this help\n"
		   "  --version                print the version\n",
		WG_MAX_QUEUES, WG_MAX_QUEUES);
}

/*
 * "IP:PORT", "[IPv6]:PORT", or (upstreams only) a bare address meaning port
 * 53. A listener may be a wildcard address; an upstream may not.
 */
static int parse_dns_endpoint(const char *s, bool is_listen, struct ip_endpoint *out)
{
	if (ip_endpoint_parse(s, out) < 0) {
		if (is_listen || ip_addr_parse(s, &out->addr) < 0)
			return -EINVAL;
		out->port = 53;
	}
	if (out->port == 0 || (!is_listen && ip_addr_is_unspecified(&out->addr)))
		return -EINVAL;
	return 0;
}

static void begin_stop(struct daemon *d, const char *why)
{
	if (d->stopping)
		return;
	d->stopping = true;
	log_info("stopping: %s", why);
	evloop_stop(d->loop);
}

static void shutdown_requested(void *arg)
{
	begin_stop(arg, "shutdown request");
}

static void job_free(struct daemon_job *j)
{
	if (j->job.has_request)
		ovl_request_free(&j->job.req);
	ovl_response_free(&j->job.resp);
	free(j);
}

/* Worker thread: a finished job is answered straight to its client. */
static void job_done(struct engine_job *job, void *arg)
{
	struct daemon *d = arg;
	struct daemon_job *j = (struct daemon_job *)job;
	if (j->sync) {
		pthread_mutex_lock(&j->sync->lock);
		j->sync->done = true;
		pthread_cond_signal(&j->sync->cond);
		pthread_mutex_unlock(&j->sync->lock);
		return;
	}
	if (d->cluster && j->job.has_request) {
		if (j->job.resp.result == OVL_RES_STATUS)
			cluster_fill_status(d->cluster, &j->job.resp.status);
		cluster_note_result(d->cluster, &j->job.req, &j->job.resp);
	}
	ipc_reply_send(j->reply, &j->job.resp);
	if (j->job.has_request && j->job.req.op == OVL_OP_SHUTDOWN && j->job.resp.result == OVL_RES_OK &&
	    evloop_post(d->loop, shutdown_requested, d) < 0)
		log_error("cannot hand the shutdown request to the event loop");
	job_free(j);
}

/* Loop thread: a decoded (or rejected) frame goes to the worker, in arrival order. */
static void on_request(struct ipc_reply *reply, struct ovl_request *req, const char *err, void *arg)
{
	struct daemon *d = arg;
	struct daemon_job *j = calloc(1, sizeof(*j));
	if (!j) {
		if (req)
			ovl_request_free(req);
		struct ovl_response r;
		ovl_response_err(&r, "overlayd is out of memory");
		ipc_reply_send(reply, &r);
		ovl_response_free(&r);
		return;
	}
	j->d = d;
	j->reply = reply;
	if (req) {
		log_debug("request %llu: %s", (unsigned long long)ipc_reply_id(reply), ovl_op_name(req->op));
		j->job.has_request = true;
		j->job.req = *req;
	} else {
		ovl_response_err(&j->job.resp, "%s", err);
	}
	if (!d->cluster || !cluster_take(d->cluster, &j->job)) /* claims first; it forwards the job */
		engine_worker_submit(d->worker, &j->job);
}

/* Cluster thread: one engine request, answered before we return. req stays the caller's. */
static void cluster_call(void *arg, const struct ovl_request *req, struct ovl_response *resp)
{
	struct daemon *d = arg;
	struct sync_call sc = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	struct daemon_job j = { .job = { .has_request = true, .req = *req }, .d = d, .sync = &sc };
	engine_worker_submit(d->worker, &j.job);
	pthread_mutex_lock(&sc.lock);
	while (!sc.done)
		pthread_cond_wait(&sc.cond, &sc.lock);
	pthread_mutex_unlock(&sc.lock);
	*resp = j.job.resp;
}

static void cluster_forward(void *arg, struct engine_job *job)
{
	struct daemon *d = arg;
	engine_worker_submit(d->worker, job);
}

/* --cluster-prefix: "/x" or "/x/y", no trailing slash, printable. */
static bool cluster_prefix_valid(const char *p)
{
	size_t len = strlen(p);
	if (len < 2 || len > 200 || p[0] != '/' || p[len - 1] == '/')
		return false;
	for (; *p; p++)
		if (*p <= ' ' || *p > '~')
			return false;
	return true;
}

static void broadcast(void *arg)
{
	struct daemon_event *e = arg;
	if (!e->d->stopping)
		ipc_server_broadcast(e->d->server, &e->ev);
	free(e);
}

/* Any thread: events raised by the engine reach every client through the loop. */
static void on_event(const struct ovl_event *ev, void *arg)
{
	struct daemon *d = arg;
	struct daemon_event *e = malloc(sizeof(*e));
	if (!e)
		return;
	e->d = d;
	e->ev = *ev;
	if (evloop_post(d->loop, broadcast, e) < 0)
		free(e);
}

static void on_signal(struct evloop *loop, int signo, void *arg)
{
	struct daemon *d = arg;
	if (!d->stopping)
		d->by_signal = true;
	begin_stop(d, signo == SIGTERM ? "SIGTERM (the data plane stays up)" : "SIGINT (the data plane stays up)");
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Takes <data_dir>/overlayd.lock. Returns the fd (kept open for the process lifetime) or -1. */
static int take_lock(const char *data_dir)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/overlayd.lock", data_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("cannot open lock file %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			char pid[24] = "", who[48] = "";
			ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
			if (n > 0) {
				pid[n] = '\0';
				pid[strcspn(pid, "\n")] = '\0';
				snprintf(who, sizeof(who), " (pid %s)", pid);
			}
			log_error("another overlayd%s is already running with data dir %s (lock %s is held); "
				  "exiting without touching its socket",
				  who, data_dir, path);
		} else {
			log_error("cannot lock %s: %s", path, strerror(errno));
		}
		close(fd);
		return -1;
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("cannot record our pid in %s: %s", path, strerror(errno));
	return fd;
}

/* Removes a stale socket file left by a crashed daemon (we hold the lock, so it is stale). */
static int remove_stale_socket(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_error("%s exists and is not a socket; refusing to replace it", path);
		return -EEXIST;
	}
	/*
	 * Our lock only covers our data dir: a daemon on another data dir may
	 * have been pointed at the same --socket. A socket that answers is live.
	 */
	int fd = ipc_client_connect(path);
	if (fd >= 0) {
		close(fd);
		log_error("%s is in use by another running process; refusing to take it over", path);
		return -EEXIST;
	}
	if (unlink(path) < 0)
		return -errno;
	log_info("removed stale socket %s", path);
	return 0;
}

/*
 * Every client connection, WireGuard device, netns and DNS socket is a
 * descriptor; the common soft limit of 1024 is far below the hard limit and
 * a busy node hits it. Raising the soft limit needs no privilege.
 */
static void raise_nofile_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rlim_t old = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("cannot raise the open-file limit from %llu to %llu: %s", (unsigned long long)old,
			 (unsigned long long)rl.rlim_max, strerror(errno));
	else
		log_debug("open-file limit raised from %llu to %llu", (unsigned long long)old,
			  (unsigned long long)rl.rlim_max);
}

/*
 * --teardown: what the shutdown request does, for an operator removing
 * overlayd while it is stopped. The lock (held by the caller) keeps a running
 * daemon out; the engine restores what the state records, then reverts it all.
 */
static int teardown_and_exit(const char *data_dir, bool discard_corrupt, const struct engine_dp_opts *dpo,
			     int lock_fd)
{
	struct engine_config ecfg = {
		.data_dir = data_dir,
		.discard_corrupt_state = discard_corrupt,
		.dns = { .disabled = true },
		.dp = *dpo,
	};
	struct engine *e;
	char err[1024];
	int status = 1;

	if (engine_open(&ecfg, &e, err, sizeof(err)) < 0) {
		log_error("teardown: %s", err);
	} else {
		engine_teardown(e);
		engine_close(e);
		log_info("teardown: everything overlayd set up under %s is removed", data_dir);
		status = 0;
	}
	close(lock_fd);
	return status;
}

int main(int argc, char **argv)
{
	const char *data_dir = DEFAULT_DATA_DIR;
	const char *socket_path = NULL;
	bool discard_corrupt = false, teardown_only = false;
	struct ip_endpoint dns_upstreams[MAX_DNS_ENDPOINTS], dns_listen[MAX_DNS_ENDPOINTS];
	struct engine_dns_config dns = { .upstreams = dns_upstreams, .listen = dns_listen };
	struct engine_dp_opts dpo = { 0 };
	const char *cluster_spec = NULL;
	struct cluster_config ccfg = { .prefix = CLUSTER_DEFAULT_PREFIX, .lease_ttl = CLUSTER_DEFAULT_LEASE_TTL };
	struct ip_endpoint metrics_ep;
	bool metrics_on = false;
	enum { OPT_CLUSTER = 1000, OPT_CLUSTER_PREFIX, OPT_CLUSTER_TTL, OPT_CLUSTER_ADVERTISE, OPT_CLUSTER_CACERT,
	       OPT_CLUSTER_CERT, OPT_CLUSTER_KEY, OPT_WG_QUEUES };
	static const struct option opts[] = {
		{ "cluster", required_argument, NULL, OPT_CLUSTER },
		{ "cluster-prefix", required_argument, NULL, OPT_CLUSTER_PREFIX },
		{ "cluster-lease-ttl", required_argument, NULL, OPT_CLUSTER_TTL },
		{ "cluster-advertise", required_argument, NULL, OPT_CLUSTER_ADVERTISE },
		{ "cluster-cacert", required_argument, NULL, OPT_CLUSTER_CACERT },
		{ "cluster-cert", required_argument, NULL, OPT_CLUSTER_CERT },
		{ "cluster-key", required_argument, NULL, OPT_CLUSTER_KEY },
		{ "wg-sock-dir", required_argument, NULL, 'W' },
		{ "wg-queues", required_argument, NULL, OPT_WG_QUEUES },
		{ "networkd-dir", required_argument, NULL, 'n' },
		{ "nm-dir", required_argument, NULL, 'm' },
		{ "no-unmanaged", no_argument, NULL, 'U' },
		{ "teardown", no_argument, NULL, 'T' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "discard-corrupt-state", no_argument, NULL, 'D' },
		{ "dns-zone", required_argument, NULL, 'z' },
		{ "dns-upstream", required_argument, NULL, 'u' },
		{ "dns-listen", required_argument, NULL, 'L' },
		{ "no-dns", no_argument, NULL, 'N' },
		{ "metrics-listen", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			data_dir = optarg;
			break;
		case 's':
			socket_path = optarg;
			break;
		case 'l': {
			enum log_level lvl;
			if (log_level_parse(optarg, &lvl) < 0) {
				fprintf(stderr, "overlayd: unknown log level \"%s\" (error, warn, info, debug)\n", optarg);
				return 2;
			}
			log_set_level(lvl);
			break;
		}
		case 'D':
			discard_corrupt = true;
			break;
		case 'z':
			dns.zone = optarg;
			break;
		case 'u':
		case 'L': {
			bool is_listen = c == 'L';
			size_t *n = is_listen ? &dns.n_listen : &dns.n_upstreams;
			struct ip_endpoint *list = is_listen ? dns_listen : dns_upstreams;
			if (*n == MAX_DNS_ENDPOINTS) {
				fprintf(stderr, "overlayd: at most %d --dns-%s options\n", MAX_DNS_ENDPOINTS,
					is_listen ? "listen" : "upstream");
				return 2;
			}
			if (parse_dns_endpoint(optarg, is_listen, &list[*n]) < 0) {
				fprintf(stderr,
					is_listen ? "overlayd: --dns-listen \"%s\": want ADDR:PORT with a port 1-65535 "
						    "(IPv6 as [ADDR]:PORT)\n"
						  : "overlayd: --dns-upstream \"%s\": want IP or IP:PORT with a port "
						    "1-65535 (IPv6 as [IP]:PORT)\n",
					optarg);
				return 2;
			}
			(*n)++;
			break;
		}
		case 'N':
			dns.disabled = true;
			break;
		case 'M':
			if (ip_endpoint_parse(optarg, &metrics_ep) < 0) {
				fprintf(stderr, "overlayd: --metrics-listen \"%s\": want ADDR:PORT (IPv6 as [ADDR]:PORT)\n",
					optarg);
				return 2;
			}
			metrics_on = true;
			break;
		case 'W':
			dpo.wg_sock_dir = optarg;
			break;
		case OPT_WG_QUEUES: {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || end == optarg || n < 1 || n > WG_MAX_QUEUES) {
				fprintf(stderr, "overlayd: --wg-queues \"%s\": want a number from 1 to %d\n", optarg,
					WG_MAX_QUEUES);
				return 2;
			}
			dpo.wg_queues = (unsigned)n;
			break;
		}
		case 'n':
			dpo.networkd_dir = optarg;
			break;
		case 'm':
			dpo.nm_dir = optarg;
			break;
		case 'U':
			dpo.no_unmanaged = true;
			break;
		case OPT_CLUSTER:
			cluster_spec = optarg;
			break;
		case OPT_CLUSTER_PREFIX:
			if (!cluster_prefix_valid(optarg)) {
				fprintf(stderr, "overlayd: --cluster-prefix \"%s\": want /NAME[/NAME...] with no trailing slash\n",
					optarg);
				return 2;
			}
			ccfg.prefix = optarg;
			break;
		case OPT_CLUSTER_TTL: {
			char *end;
			long ttl = strtol(optarg, &end, 10);
			if (*end || end == optarg || ttl < 2 || ttl > 86400) {
				fprintf(stderr, "overlayd: --cluster-lease-ttl \"%s\": want seconds, 2-86400\n", optarg);
				return 2;
			}
			ccfg.lease_ttl = (int)ttl;
			break;
		}
		case OPT_CLUSTER_ADVERTISE:
			ccfg.advertise = optarg;
			break;
		case OPT_CLUSTER_CACERT:
			ccfg.etcd.cacert = optarg;
			break;
		case OPT_CLUSTER_CERT:
			ccfg.etcd.cert = optarg;
			break;
		case OPT_CLUSTER_KEY:
			ccfg.etcd.key = optarg;
			break;
		case 'T':
			teardown_only = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			puts("overlayd " OVL_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (dns.disabled && dns.n_listen) {
		fprintf(stderr, "overlayd: --dns-listen and --no-dns contradict each other\n");
		return 2;
	}
	if (cluster_spec) {
		char cerr[300];
		if (etcd_config_parse(&ccfg.etcd, cluster_spec, cerr, sizeof(cerr)) < 0) {
			fprintf(stderr, "overlayd: %s\n", cerr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "overlayd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	char sock_buf[4200];
	if (!socket_path) {
		if (strcmp(data_dir, DEFAULT_DATA_DIR) == 0) {
			socket_path = PROTO_DEFAULT_SOCKET;
		} else {
			snprintf(sock_buf, sizeof(sock_buf), "%s/run/%s", data_dir, PROTO_SOCKET_NAME);
			socket_path = sock_buf;
		}
	}

	/*
	 * 0711: others may traverse to DIR/run/ (the socket has its own 0660
	 * mode and group) but not list the directory; state.json and the lock
	 * are 0600 themselves.
	 */
	raise_nofile_limit();
	int r = mkdir_p(data_dir, 0711);
	if (r < 0) {
		log_error("cannot create data dir %s: %s", data_dir, strerror(-r));
		return 1;
	}
	int lock_fd = take_lock(data_dir);
	if (lock_fd < 0)
		return 1;
	if (teardown_only)
		return teardown_and_exit(data_dir, discard_corrupt, &dpo, lock_fd);

	struct daemon d = { 0 };
	char err[1024];
	int status = 1;
	d.loop = evloop_new();
	if (!d.loop) {
		log_error("cannot create the event loop: %s", strerror(errno));
		goto out_lock;
	}
	/*
	 * Before any thread starts (the engine's data plane starts DNS and
	 * WireGuard threads when it restores state), so every thread inherits
	 * the blocked mask.
	 */
	const int sigs[] = { SIGTERM, SIGINT };
	if (!evloop_signals(d.loop, sigs, 2, on_signal, &d)) {
		log_error("cannot set up signal handling: %s", strerror(errno));
		goto out_loop;
	}
	signal(SIGPIPE, SIG_IGN);
	struct engine_config ecfg = { .data_dir = data_dir, .discard_corrupt_state = discard_corrupt, .dns = dns, .dp = dpo };
	if (engine_open(&ecfg, &d.engine, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto out_loop;
	}
	if (metrics_on) {
		if (mx_server_start(&metrics_ep, collect_metrics, d.engine, &d.metrics) < 0)
			goto out_engine; /* logged */
		char ep[IP_ENDPOINT_STRLEN];
		metrics_ep.port = mx_server_port(d.metrics);
		log_info("metrics at http://%s/metrics", ip_endpoint_format(&metrics_ep, ep, sizeof(ep)));
	}

	char dir[4200];
	snprintf(dir, sizeof(dir), "%s", socket_path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if ((r = mkdir_p(dir, 0755)) < 0) {
			log_error("cannot create socket directory %s: %s", dir, strerror(-r));
			goto out_engine;
		}
	}
	if ((r = remove_stale_socket(socket_path)) < 0) {
		if (r != -EEXIST)
			log_error("cannot remove stale socket %s: %s", socket_path, strerror(-r));
		goto out_engine;
	}
	struct group *grp = getgrnam(SOCKET_GROUP);
	struct ipc_server_config scfg = {
		.path = socket_path,
		.mode = 0660,
		.gid = grp ? grp->gr_gid : (gid_t)-1,
		.on_request = on_request,
		.arg = &d,
	};
	d.server = ipc_server_new(d.loop, &scfg, err, sizeof(err));
	if (!d.server) {
		log_error("%s", err);
		goto out_engine;
	}
	engine_set_event_sink(d.engine, on_event, &d);
	d.worker = engine_worker_start(d.engine, job_done, &d);
	if (!d.worker) {
		log_error("cannot start the engine thread: %s", strerror(errno));
		goto out_server;
	}
	if (cluster_spec) {
		ccfg.data_dir = data_dir;
		ccfg.hooks = (struct cluster_hooks){ .call = cluster_call, .forward = cluster_forward, .arg = &d };
		d.cluster = cluster_start(&ccfg, err, sizeof(err));
		if (!d.cluster) {
			log_error("cluster mode: %s", err);
			engine_worker_stop(d.worker);
			goto out_server;
		}
	}

	log_info("overlayd listening on %s (data dir %s)", socket_path, data_dir);
	sd_notify(0, "READY=1");
	r = evloop_run(d.loop);
	if (r < 0)
		log_error("event loop failed: %s", strerror(-r));
	sd_notify(0, "STOPPING=1");

	/* Graceful: stop reading, finish and answer what was accepted, then tear down (not on a signal). */
	ipc_server_pause(d.server);
	bool keep_data_plane = d.by_signal && !engine_shutdown_requested(d.engine);
	/* Before the worker (it submits to it); a data plane left up stays a member for the next start. */
	cluster_stop(d.cluster, !keep_data_plane);
	d.cluster = NULL;
	engine_worker_stop(d.worker);
	engine_set_event_sink(d.engine, NULL, NULL); /* the loop is about to go */
	evloop_run_posted(d.loop); /* notes from the worker about output left queued */
	ipc_server_flush(d.server, 2000);
	mx_server_stop(d.metrics); /* before the DNS server it reads stops (teardown or close) */
	d.metrics = NULL;
	if (keep_data_plane)
		log_info("leaving the data plane up for the next start (remove it with the shutdown request "
			 "or overlayd --teardown)");
	else
		engine_teardown(d.engine);
	status = r < 0 ? 1 : 0;
	log_info("overlayd stopped");
out_server:
	ipc_server_free(d.server);
out_engine:
	mx_server_stop(d.metrics);
	engine_close(d.engine);
out_loop:
	evloop_free(d.loop);
out_lock:
	close(lock_fd);
	etcd_config_free(&ccfg.etcd);
	return status;
}

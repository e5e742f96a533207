// SPDX-License-Identifier: MIT
/*
 * The engine's DNS glue called from C: the zone (engine_dns_set_zone), the
 * node listener the data plane opens (engine_dns_listen_node on port 53,
 * tested inside a private network namespace, so only as root), and the
 * startup rules for explicit listeners.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>

#include "engine/priv.h"
#include "nstest.h"
#include "querybuf.h"

struct fx {
	char dir[64];
	struct engine *e;
};

static struct fx *fx_open(const struct engine_dns_config *dns)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->dir, "/tmp/ovl-engine-dns-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	char err[512];
	struct engine_config cfg = { .data_dir = f->dir };
	if (dns)
		cfg.dns = *dns;
	cfg.dns.threads = 1;
	cfg.dns.resolv_conf = "/nonexistent"; /* no upstream: nothing leaves the test */
	int r = engine_open(&cfg, &f->e, err, sizeof(err));
	if (r < 0)
		fail_msg("engine_open: %s", err);
	return f;
}

static void fx_close(struct fx *f)
{
	engine_close(f->e);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
}

static void request_ok(struct engine *e, const struct ovl_request *q)
{
	struct ovl_response r;
	engine_handle(e, q, &r);
	if (r.result != OVL_RES_OK)
		fail_msg("%s: %s", ovl_op_name(q->op), r.result == OVL_RES_ERR ? r.message : "not ok");
	ovl_response_free(&r);
}

static void register_name(struct engine *e, const char *name, const char *ip)
{
	struct ovl_request q = { .op = OVL_OP_REGISTER_DNS };
	q.register_dns.name = (char *)name;
	assert_int_equal(ip_addr_parse(ip, &q.register_dns.ip), 0);
	request_ok(e, &q);
}

/*
 * Asks server:port for name's A record. Returns the rcode (address in *a when
 * there is an answer) or -errno: -ECONNREFUSED when nothing listens there.
 */
static int ask(const char *server, uint16_t port, const char *name, char *a, size_t alen)
{
	uint8_t q[512], m[1500];
	size_t qlen = make_query(q, 0x4242, name, DNS_T_A, 0);
	assert_true(qlen > 0);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	assert_int_equal(inet_pton(AF_INET, server, &sa.sin_addr), 1);
	struct timeval tv = { .tv_sec = 3 };
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(fd, q, qlen, 0), (ssize_t)qlen);
	ssize_t n = recv(fd, m, sizeof(m), 0);
	int err = errno;
	close(fd);
	if (n < 0)
		return -err;
	assert_true(n >= DNS_HEADER_LEN);
	a[0] = '\0';
	struct rr_view rr;
	if (msg_count(m, 1) && msg_rr(m, (size_t)n, 1, 0, &rr) == 0 && rr.type == DNS_T_A && rr.rdlen == 4)
		inet_ntop(AF_INET, m + rr.rdata, a, (socklen_t)alen);
	return msg_rcode(m);
}

static void zone_moves_relative_names_and_is_persisted(void **state)
{
	struct fx *f = fx_open(NULL);
	register_name(f->e, "web", "10.200.0.5");
	register_name(f->e, "abs.bench.local.", "10.200.0.6");

	f->e->dirty = false;
	assert_int_equal(engine_dns_set_zone(f->e, "Corp.Test"), 0);
	assert_true(f->e->dirty); /* the caller's request persists it */
	assert_string_equal(f->e->st.dns_zone, "corp.test.");
	struct dns_record *recs;
	size_t n;
	assert_int_equal(dns_record_list(f->e->dns, &recs, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(recs[0].name, "abs.bench.local."); /* absolute: stays */
	assert_string_equal(recs[1].name, "web.corp.test.");   /* relative: follows */
	free(recs);

	/* The same zone again changes nothing. */
	f->e->dirty = false;
	assert_int_equal(engine_dns_set_zone(f->e, "corp.test."), 0);
	assert_false(f->e->dirty);

	/* Refused zones leave everything as it was. */
	assert_int_equal(engine_dns_set_zone(f->e, "a..b"), -EINVAL);
	assert_int_equal(engine_dns_set_zone(f->e, NULL), -EINVAL);
	char longzone[260];
	memset(longzone, 'z', sizeof(longzone));
	for (size_t i = 63; i < sizeof(longzone); i += 64)
		longzone[i] = '.';
	longzone[250] = '\0'; /* fits alone (252 wire bytes), not with "web." in front */
	assert_int_equal(engine_dns_set_zone(f->e, longzone), -EINVAL);
	assert_false(f->e->dirty);
	assert_string_equal(f->e->st.dns_zone, "corp.test.");
	fx_close(f);
}

static void disabled_dns_keeps_records_only(void **state)
{
	struct engine_dns_config dns = { .disabled = true };
	struct fx *f = fx_open(&dns);
	assert_null(f->e->dns);
	register_name(f->e, "web", "10.200.0.5");
	assert_int_equal(f->e->st.n_dns, 1);
	struct ip_addr lo;
	assert_int_equal(ip_addr_parse("127.0.0.1", &lo), 0);
	assert_int_equal(engine_dns_listen_node(f->e, &lo), 0); /* nothing to serve: not an error */
	engine_dns_unlisten_node(f->e);
	assert_int_equal(engine_dns_set_zone(f->e, "corp.test"), 0);
	assert_string_equal(f->e->st.dns_zone, "corp.test.");
	fx_close(f);
}

static void node_listener_serves_moves_and_stops(void **state)
{
	NSTEST_REQUIRE();
	struct fx *f = fx_open(NULL);
	register_name(f->e, "web", "10.200.0.5");
	char a[INET_ADDRSTRLEN];
	struct ip_addr one, two, absent;
	assert_int_equal(ip_addr_parse("127.0.0.1", &one), 0);
	assert_int_equal(ip_addr_parse("127.0.0.2", &two), 0);
	assert_int_equal(ip_addr_parse("192.0.2.1", &absent), 0);

	assert_int_equal(ask("127.0.0.1", 53, "web.zlayer.local.", a, sizeof(a)), -ECONNREFUSED);
	assert_int_equal(engine_dns_listen_node(f->e, &one), 0);
	assert_int_equal(ask("127.0.0.1", 53, "web.zlayer.local.", a, sizeof(a)), 0);
	assert_string_equal(a, "10.200.0.5");
	assert_int_equal(engine_dns_listen_node(f->e, &one), 0); /* again: still one listener */

	/* A new node address moves the listener. */
	assert_int_equal(engine_dns_listen_node(f->e, &two), 0);
	assert_int_equal(ask("127.0.0.2", 53, "web.zlayer.local.", a, sizeof(a)), 0);
	assert_string_equal(a, "10.200.0.5");
	assert_int_equal(ask("127.0.0.1", 53, "web.zlayer.local.", a, sizeof(a)), -ECONNREFUSED);

	engine_dns_unlisten_node(f->e);
	assert_int_equal(ask("127.0.0.2", 53, "web.zlayer.local.", a, sizeof(a)), -ECONNREFUSED);
	engine_dns_unlisten_node(f->e); /* idempotent */

	/* An address not on any interface yet is the bind's error. */
	assert_int_equal(engine_dns_listen_node(f->e, &absent), -EADDRNOTAVAIL);
	fx_close(f);
}

static void node_listener_leaves_an_operators_listener_alone(void **state)
{
	NSTEST_REQUIRE();
	struct ip_endpoint ep;
	assert_int_equal(ip_endpoint_parse("127.0.0.3:53", &ep), 0);
	struct engine_dns_config dns = { .listen = &ep, .n_listen = 1 };
	struct fx *f = fx_open(&dns);
	register_name(f->e, "web", "10.200.0.5");
	char a[INET_ADDRSTRLEN];
	assert_int_equal(engine_dns_listen_node(f->e, &ep.addr), 0);
	engine_dns_unlisten_node(f->e); /* not ours to close */
	assert_int_equal(ask("127.0.0.3", 53, "web.zlayer.local.", a, sizeof(a)), 0);
	assert_string_equal(a, "10.200.0.5");
	fx_close(f);
}

static void node_listener_under_an_operators_wildcard(void **state)
{
	NSTEST_REQUIRE();
	struct ip_endpoint ep;
	assert_int_equal(ip_endpoint_parse("0.0.0.0:53", &ep), 0);
	struct engine_dns_config dns = { .listen = &ep, .n_listen = 1 };
	struct fx *f = fx_open(&dns);
	register_name(f->e, "web", "10.200.0.5");
	char a[INET_ADDRSTRLEN];
	struct ip_addr node;
	assert_int_equal(ip_addr_parse("127.0.0.4", &node), 0);
	/* The wildcard already answers on the node address: that is success. */
	assert_int_equal(engine_dns_listen_node(f->e, &node), 0);
	assert_int_equal(ask("127.0.0.4", 53, "web.zlayer.local.", a, sizeof(a)), 0);
	assert_string_equal(a, "10.200.0.5");
	engine_dns_unlisten_node(f->e);
	assert_int_equal(ask("127.0.0.4", 53, "web.zlayer.local.", a, sizeof(a)), 0);
	fx_close(f);
}

static void explicit_listener_failure_is_a_startup_error(void **state)
{
	NSTEST_REQUIRE();
	char dir[] = "/tmp/ovl-engine-dns-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct ip_endpoint ep;
	assert_int_equal(ip_endpoint_parse("192.0.2.1:5353", &ep), 0);
	struct engine_config cfg = { .data_dir = dir, .dns = { .listen = &ep, .n_listen = 1, .threads = 1 } };
	struct engine *e = NULL;
	char err[512] = "";
	assert_int_equal(engine_open(&cfg, &e, err, sizeof(err)), -EADDRNOTAVAIL);
	assert_null(e);
	assert_non_null(strstr(err, "cannot listen for DNS on 192.0.2.1:5353"));
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(zone_moves_relative_names_and_is_persisted),
		cmocka_unit_test(disabled_dns_keeps_records_only),
		cmocka_unit_test(node_listener_serves_moves_and_stops),
		cmocka_unit_test(node_listener_leaves_an_operators_listener_alone),
		cmocka_unit_test(node_listener_under_an_operators_wildcard),
		cmocka_unit_test(explicit_listener_failure_is_a_startup_error),
	};
	/* Before any thread: the namespace is per process. */
	nstest_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * firewall.c: rule rendering (pure), then the real tables in a private
 * namespace, then real packets through a small topology of namespaces.
 */
#include <errno.h>
#include <nftables/libnftables.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/firewall.h"
#include "net/netlink.h"
#include "net/sysctl.h"
#include "nstest.h"

static struct ip_addr addr(const char *s)
{
	struct ip_addr a;

	assert_int_equal(ip_addr_parse(s, &a), 0);
	return a;
}

static struct ip_prefix prefix(const char *s)
{
	struct ip_prefix p;

	assert_int_equal(ip_prefix_parse(s, &p), 0);
	return p;
}

/* A description shared by the tests; rebuilt per test so each may edit it. */
struct sample {
	struct ip_prefix cluster[2];
	struct ip_addr node[4];
	struct ip_addr net_a[6], net_b[2];
	struct fw_network networks[2];
	const char *ifaces[1];
	struct fw_config cfg;
};

static void sample_init(struct sample *s)
{
	memset(s, 0, sizeof(*s));
	s->cluster[0] = prefix("10.77.5.5/16"); /* host bits are masked off */
	s->cluster[1] = prefix("fd77::/48");
	s->node[0] = addr("10.77.0.1");
	s->node[1] = addr("10.77.1.1");
	s->node[2] = addr("fd77::1");
	s->node[3] = addr("fd77:1::1");
	s->net_a[0] = addr("10.77.0.2");
	s->net_a[1] = addr("10.77.0.3");
	s->net_a[2] = addr("10.77.1.2");
	s->net_a[3] = addr("fd77::2");
	s->net_a[4] = addr("fd77::3");
	s->net_a[5] = addr("fd77:1::2");
	s->net_b[0] = addr("10.77.0.4");
	s->net_b[1] = addr("fd77::4");
	s->networks[0] = (struct fw_network){ "a", s->net_a, 6 };
	s->networks[1] = (struct fw_network){ "b", s->net_b, 2 };
	s->ifaces[0] = "zl-*";
	s->cfg = (struct fw_config){
		.cluster = s->cluster, .n_cluster = 2,
		.node_ips = s->node, .n_node_ips = 4,
		.overlay_ifaces = s->ifaces, .n_overlay_ifaces = 1,
		.masquerade = true,
		.networks = s->networks, .n_networks = 2,
	};
}

static void assert_has(const char *haystack, const char *needle)
{
	if (!haystack)
		fail_msg("missing \"%s\": no text at all", needle);
	else if (!strstr(haystack, needle))
		fail_msg("missing \"%s\" in:\n%s", needle, haystack);
}

static void render_full_description(void **state)
{
	struct sample s;
	char *script;

	sample_init(&s);
	assert_int_equal(fw_render("overlayd_t", &s.cfg, &script), 0);
	/* Both tables are reset in the same transaction that defines them. */
	assert_has(script, "table inet overlayd_t {}\ndelete table inet overlayd_t\n");
	assert_has(script, "table bridge overlayd_t {}\ndelete table bridge overlayd_t\n");
	assert_true(strstr(script, "delete table bridge") < strstr(script, "table inet overlayd_t {\n"));
	assert_has(script, "set cluster4 { type ipv4_addr; flags interval; auto-merge; elements = { 10.77.0.0/16 } }");
	assert_has(script, "set cluster6 { type ipv6_addr; flags interval; auto-merge; elements = { fd77::/48 } }");
	assert_has(script, "set node4 { type ipv4_addr; elements = { 10.77.0.1, 10.77.1.1 } }");
	assert_has(script, "set node6 { type ipv6_addr; elements = { fd77::1, fd77:1::1 } }");
	assert_has(script, "set net0_4 { type ipv4_addr; comment \"isolation network a\"; "
			   "elements = { 10.77.0.2, 10.77.0.3, 10.77.1.2 } }");
	assert_has(script, "set net1_6 { type ipv6_addr; comment \"isolation network b\"; elements = { fd77::4 } }");
	assert_has(script, "ip saddr @net0_4 ip daddr @net0_4 return\n");
	assert_has(script, "ip saddr @net0_4 ip daddr @node4 return\n");
	assert_has(script, "ip saddr @net0_4 ip daddr @cluster4 drop\n");
	assert_has(script, "ip daddr @net1_4 ip saddr @cluster4 drop\n");
	assert_has(script, "ip6 daddr @net1_6 ip6 saddr @cluster6 drop\n");
	assert_has(script, "type filter hook forward priority filter; policy accept;\n\t\tjump isolate\n");
	assert_has(script, "type filter hook input priority filter; policy accept;\n\t\tjump isolate\n");
	assert_has(script, "ip saddr @cluster4 accept\n");
	assert_has(script, "oifname \"zl-*\" return\n\t\tip saddr @cluster4 ip daddr != @cluster4 masquerade\n");
	/* The bridge table isolates too (traffic between ports of one bridge). */
	assert_has(strstr(script, "table bridge overlayd_t {\n"), "jump isolate");
	free(script);

	s.cfg.masquerade = false;
	s.cfg.n_networks = 0;
	assert_int_equal(fw_render("overlayd_t", &s.cfg, &script), 0);
	assert_null(strstr(script, "masquerade"));
	/* No nat chain at all: even an empty one would turn conntrack on. */
	assert_null(strstr(script, "type nat"));
	assert_null(strstr(script, "net0_"));
	assert_null(strstr(script, " drop"));
	free(script);
}

static void render_rejects_bad_descriptions(void **state)
{
	struct sample s;
	char *script = (char *)1;

	sample_init(&s);
	s.ifaces[0] = "zl-*\" accept";
	assert_int_equal(fw_render("overlayd_t", &s.cfg, &script), -EINVAL);
	assert_null(script);
	sample_init(&s);
	s.ifaces[0] = "*";
	assert_int_equal(fw_render("overlayd_t", &s.cfg, &script), -EINVAL);
	sample_init(&s);
	s.net_b[0] = s.net_a[1]; /* one address in two networks */
	assert_int_equal(fw_render("overlayd_t", &s.cfg, &script), -EINVAL);
	sample_init(&s);
	s.net_a[2] = (struct ip_addr){ 0 };
	assert_int_equal(fw_render("overlayd_t", &s.cfg, &script), -EINVAL);
	sample_init(&s);
	s.networks[1].name = "";
	assert_int_equal(fw_render("overlayd_t", &s.cfg, &script), -EINVAL);
	sample_init(&s);
	s.cluster[0].len = 40;
	assert_int_equal(fw_render("overlayd_t", &s.cfg, &script), -EINVAL);

	/* A hostile network name ends up as a harmless comment. */
	sample_init(&s);
	s.networks[0].name = "we\"b; flush ruleset";
	assert_int_equal(fw_render("overlayd_t", &s.cfg, &script), 0);
	assert_has(script, "comment \"isolation network we_b__flush_ruleset\"");
	free(script);
}

static void open_rejects_bad_instances(void **state)
{
	struct fw *fw;

	assert_int_equal(fw_open("", &fw), -EINVAL);
	assert_int_equal(fw_open("a b", &fw), -EINVAL);
	assert_int_equal(fw_open("x;y", &fw), -EINVAL);
	assert_int_equal(fw_open("0123456789012345678901234", &fw), -EINVAL);
}

/* `nft list table <family> <name>`, or NULL when it fails (no such table). */
static char *nft_list(const char *family, const char *table)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	char cmd[128], *out = NULL;

	assert_non_null(nft);
	assert_int_equal(nft_ctx_buffer_output(nft), 0);
	assert_int_equal(nft_ctx_buffer_error(nft), 0);
	snprintf(cmd, sizeof(cmd), "list table %s %s", family, table);
	if (nft_run_cmd_from_buffer(nft, cmd) == 0)
		out = strdup(nft_ctx_get_output_buffer(nft));
	nft_ctx_free(nft);
	return out;
}

static struct fw *open_fw(void)
{
	struct fw *fw;
	int err = fw_open("t", &fw);

	if (err)
		fail_msg("fw_open: %s", strerror(-err));
	return fw;
}

static void apply_reapply_members_remove(void **state)
{
	struct sample s;
	struct fw *fw;
	char *out;

	NSTEST_REQUIRE();
	fw = open_fw();
	assert_string_equal(fw_table_name(fw), "overlayd_t");
	assert_null(nft_list("inet", "overlayd_t"));
	sample_init(&s);
	if (fw_apply(fw, &s.cfg))
		fail_msg("fw_apply: %s", fw_error(fw));
	out = nft_list("inet", "overlayd_t");
	assert_non_null(out);
	assert_has(out, "10.77.0.3");
	assert_has(out, "masquerade");
	assert_has(out, "comment \"isolation network b\"");
	free(out);
	out = nft_list("bridge", "overlayd_t");
	assert_non_null(out);
	assert_has(out, "10.77.0.3");
	free(out);

	/* Re-applying replaces: a member left out is gone from both tables. */
	s.networks[0].n_members = 1;
	assert_int_equal(fw_apply(fw, &s.cfg), 0);
	out = nft_list("inet", "overlayd_t");
	assert_null(strstr(out, "10.77.0.3"));
	assert_has(out, "10.77.0.2");
	free(out);

	/* A rejected description leaves the applied rules as they were. */
	s.ifaces[0] = "bad iface";
	assert_int_equal(fw_apply(fw, &s.cfg), -EINVAL);
	out = nft_list("inet", "overlayd_t");
	assert_has(out, "10.77.0.2");
	free(out);

	assert_int_equal(fw_remove(fw), 0);
	assert_null(nft_list("inet", "overlayd_t"));
	assert_null(nft_list("bridge", "overlayd_t"));
	assert_int_equal(fw_remove(fw), 0);
	fw_close(fw);
}

/* ---- packets -------------------------------------------------------------- */

enum { C1, C2, C3, C4, D1, EXT, N_NS };

struct topo {
	struct nl_handle *nl;
	int ns[N_NS];
};

#define PASS_MS 3000
#define FAIL_MS 500

static void expect_ping(struct topo *t, int from, const char *dst, bool reach, const char *what)
{
	int ret = nstest_ping(t->ns[from], dst, reach ? PASS_MS : FAIL_MS);

	if (reach && ret)
		fail_msg("%s: expected a reply from %s, got %s", what, dst, strerror(-ret));
	if (!reach && ret != -ETIMEDOUT)
		fail_msg("%s: expected no reply from %s, got %s", what, dst, ret ? strerror(-ret) : "a reply");
}

static void topo_gateway(struct topo *t, const char *bridge, const char *gw)
{
	struct ip_addr a = addr(gw);

	assert_int_equal(nl_bridge_create(t->nl, bridge), 0);
	assert_int_equal(nl_addr_add(t->nl, bridge, &a, 24), 0);
	assert_int_equal(nl_link_set_up(t->nl, bridge), 0);
}

/*
 * The node is this test's namespace. Containers c1..c4 sit on bridge zl-b0
 * (10.77.0.0/24), d1 on zl-b1 (10.77.1.0/24), so c <-> d is routed and
 * c <-> c is bridged. "ext" is a non-cluster network (198.51.100.0/24) with
 * no route back to the cluster: only masquerade lets replies return.
 */
static void topo_build(struct topo *t)
{
	static const struct {
		const char *host, *bridge, *ip, *gw;
	} c[N_NS] = {
		[C1] = { "h-c1", "zl-b0", "10.77.0.2", "10.77.0.1" },
		[C2] = { "h-c2", "zl-b0", "10.77.0.3", "10.77.0.1" },
		[C3] = { "h-c3", "zl-b0", "10.77.0.4", "10.77.0.1" },
		[C4] = { "h-c4", "zl-b0", "10.77.0.5", "10.77.0.1" },
		[D1] = { "h-d1", "zl-b1", "10.77.1.2", "10.77.1.1" },
		[EXT] = { "up0", NULL, "198.51.100.2", NULL },
	};
	static const struct {
		int ns;
		const char *ip, *gw;
	} c6[] = {
		{ C1, "fd77::2", "fd77::1" }, { C2, "fd77::3", "fd77::1" }, { C3, "fd77::4", "fd77::1" },
		{ C4, "fd77::5", "fd77::1" }, { D1, "fd77:1::2", "fd77:1::1" },
	};
	struct ip_addr up = addr("198.51.100.1"), gw6[2] = { addr("fd77::1"), addr("fd77:1::1") };
	char v[8];

	assert_int_equal(nl_open(&t->nl), 0);
	topo_gateway(t, "zl-b0", "10.77.0.1");
	topo_gateway(t, "zl-b1", "10.77.1.1");
	for (int i = 0; i < N_NS; i++) {
		t->ns[i] = nstest_container(t->nl, c[i].host, c[i].bridge, c[i].ip, 24, c[i].gw);
		assert_true(t->ns[i] >= 0);
	}
	assert_int_equal(nl_addr_add(t->nl, "up0", &up, 24), 0);
	assert_int_equal(nl_addr_add(t->nl, "zl-b0", &gw6[0], 64), 0);
	assert_int_equal(nl_addr_add(t->nl, "zl-b1", &gw6[1], 64), 0);
	for (size_t i = 0; i < sizeof(c6) / sizeof(c6[0]); i++)
		assert_int_equal(nstest_container_addr(t->ns[c6[i].ns], c6[i].ip, 64, c6[i].gw), 0);
	assert_int_equal(sysctl_write("net.ipv4.ip_forward", NULL, NULL, "1"), 0);
	/* Our private namespace: conf.all is fine here (never on a real host). */
	assert_int_equal(sysctl_write("net.ipv6.conf", "all", "forwarding", "1"), 0);
	/*
	 * With br_netfilter loaded, bridged IPv4 would also cross the inet
	 * hooks; switch that off in this namespace so only the bridge table
	 * can stop traffic between ports of one bridge.
	 */
	if (sysctl_read("net.bridge.bridge-nf-call-iptables", NULL, NULL, v, sizeof(v)) == 0) {
		assert_int_equal(sysctl_write("net.bridge.bridge-nf-call-iptables", NULL, NULL, "0"), 0);
		assert_int_equal(sysctl_write("net.bridge.bridge-nf-call-ip6tables", NULL, NULL, "0"), 0);
	}
}

static void topo_destroy(struct topo *t)
{
	for (int i = 0; i < N_NS; i++)
		close(t->ns[i]); /* the namespaces and their veth ends go with them */
	nl_link_delete(t->nl, "zl-b0");
	nl_link_delete(t->nl, "zl-b1");
	nl_close(t->nl);
}

static void isolation_and_masquerade_packets(void **state)
{
	struct sample s;
	struct topo t;
	struct fw *fw;
	struct ip_addr c3 = addr("10.77.0.4");

	NSTEST_REQUIRE();
	topo_build(&t);

	/* Without rules: everything in the cluster talks, egress has no way back. */
	expect_ping(&t, C1, "10.77.0.4", true, "no rules, c1 -> c3");
	expect_ping(&t, C1, "198.51.100.2", false, "no rules, c1 -> ext");
	expect_ping(&t, C1, "fd77::4", true, "no rules, c1 -> c3 (v6)");

	fw = open_fw();
	sample_init(&s);
	/* a = {c1, c2, d1}, b = {c3}; c4 is in no network. */
	if (fw_apply(fw, &s.cfg))
		fail_msg("fw_apply: %s", fw_error(fw));

	expect_ping(&t, C1, "10.77.0.3", true, "same network, same bridge");
	expect_ping(&t, C1, "10.77.1.2", true, "same network, routed");
	expect_ping(&t, C1, "10.77.0.4", false, "other network, same bridge");
	expect_ping(&t, D1, "10.77.0.4", false, "other network, routed");
	expect_ping(&t, C1, "10.77.0.5", false, "member -> non-member");
	expect_ping(&t, C4, "10.77.0.4", false, "non-member -> member");
	expect_ping(&t, C3, "10.77.1.1", true, "member -> node address");
	expect_ping(&t, C4, "10.77.0.1", true, "non-member -> node");
	expect_ping(&t, C1, "198.51.100.2", true, "member -> egress, masqueraded");
	expect_ping(&t, C1, "fd77::3", true, "same network, same bridge (v6)");
	expect_ping(&t, C1, "fd77:1::2", true, "same network, routed (v6)");
	expect_ping(&t, C1, "fd77::4", false, "other network, same bridge (v6)");
	expect_ping(&t, D1, "fd77::4", false, "other network, routed (v6)");

	/* Membership changes (a re-apply, as the engine does) take effect at once. */
	s.networks[1].n_members = 0; /* c3 leaves b */
	assert_int_equal(fw_apply(fw, &s.cfg), 0);
	expect_ping(&t, C4, "10.77.0.4", true, "both outside any network");
	s.net_a[2] = c3; /* c3 joins a, in place of d1 */
	assert_int_equal(fw_apply(fw, &s.cfg), 0);
	expect_ping(&t, C1, "10.77.0.4", true, "c3 joined network a");

	assert_int_equal(fw_remove(fw), 0);
	expect_ping(&t, C1, "10.77.0.5", true, "rules removed");
	fw_close(fw);
	topo_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(render_full_description),
		cmocka_unit_test(render_rejects_bad_descriptions),
		cmocka_unit_test(open_rejects_bad_instances),
		cmocka_unit_test(apply_reapply_members_remove),
		cmocka_unit_test(isolation_and_masquerade_packets),
	};

	nstest_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

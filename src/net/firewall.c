// SPDX-License-Identifier: MIT
/*
 * nftables tables of this daemon, on libnftables. fw_render() turns a
 * description into one nft script; running a script is one netlink batch,
 * i.e. one kernel transaction, so every change here is all-or-nothing.
 */
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>

#include "net/firewall.h"
#include "net/firewalld.h"
#include "net/hostfw.h"
#include "net/hostfw_legacy.h"

#define FW_TABLE_PREFIX "overlayd_"

struct fw {
	struct nft_ctx *nft;
	char table[sizeof(FW_TABLE_PREFIX) + FW_INSTANCE_MAX];
	struct ip_prefix *cluster; /* of the last applied cfg: firewalld's trust is undone for these */
	size_t n_cluster;
	int host_chains;	   /* foreign forward chains given accept rules by the last apply */
	char error[1024];
};

/* The two families the tables live in; the bridge one sees L2-forwarded traffic. */
static const char *const fw_families[] = { "inet", "bridge" };

/* ---- rendering ------------------------------------------------------------ */

static const char *ip_kw(sa_family_t family)
{
	return family == AF_INET6 ? "ip6" : "ip";
}

static const char *set_type(sa_family_t family)
{
	return family == AF_INET6 ? "ipv6_addr" : "ipv4_addr";
}

static char set_suffix(sa_family_t family)
{
	return family == AF_INET6 ? '6' : '4';
}

static bool valid_iface_pattern(const char *p)
{
	size_t n = p ? strlen(p) : 0;

	if (n == 0 || n >= IFNAMSIZ)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '*' && i == n - 1 && n > 1)
			continue;
		if (!isalnum(c) && c != '-' && c != '_' && c != '.')
			return false;
	}
	return true;
}

static int cmp_addr(const void *a, const void *b)
{
	return ip_addr_compare(a, b);
}

/* Every member address in at most one network, once; families known. */
static int check_members(const struct fw_config *cfg)
{
	struct ip_addr *all;
	size_t n = 0, total = 0;
	int err = 0;

	for (size_t i = 0; i < cfg->n_networks; i++)
		total += cfg->networks[i].n_members;
	if (total == 0)
		return 0;
	all = malloc(total * sizeof(*all));
	if (!all)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_networks; i++)
		for (size_t j = 0; j < cfg->networks[i].n_members; j++)
			all[n++] = cfg->networks[i].members[j];
	qsort(all, n, sizeof(*all), cmp_addr);
	for (size_t i = 0; i < n && !err; i++) {
		if (all[i].family != AF_INET && all[i].family != AF_INET6)
			err = -EINVAL;
		else if (i > 0 && ip_addr_equal(&all[i - 1], &all[i]))
			err = -EINVAL;
	}
	free(all);
	return err;
}

static int check_config(const struct fw_config *cfg)
{
	for (size_t i = 0; i < cfg->n_cluster; i++) {
		sa_family_t f = cfg->cluster[i].addr.family;
		if ((f != AF_INET && f != AF_INET6) || cfg->cluster[i].len > ip_addr_bits(&cfg->cluster[i].addr))
			return -EINVAL;
	}
	for (size_t i = 0; i < cfg->n_node_ips; i++)
		if (cfg->node_ips[i].family != AF_INET && cfg->node_ips[i].family != AF_INET6)
			return -EINVAL;
	for (size_t i = 0; i < cfg->n_overlay_ifaces; i++)
		if (!valid_iface_pattern(cfg->overlay_ifaces[i]))
			return -EINVAL;
	for (size_t i = 0; i < cfg->n_networks; i++)
		if (!cfg->networks[i].name || !*cfg->networks[i].name)
			return -EINVAL;
	return check_members(cfg);
}

/* A set declaration: its elements are the addresses of one family. */
static void put_addr_set(FILE *f, const char *name, sa_family_t family, const struct ip_addr *addrs,
			 size_t n, const char *comment)
{
	char buf[IP_ADDR_STRLEN];
	bool first = true;

	fprintf(f, "\tset %s%c { type %s;", name, set_suffix(family), set_type(family));
	if (comment)
		fprintf(f, " comment \"%s\";", comment);
	for (size_t i = 0; i < n; i++) {
		if (addrs[i].family != family)
			continue;
		fprintf(f, "%s%s", first ? " elements = { " : ", ", ip_addr_format(&addrs[i], buf, sizeof(buf)));
		first = false;
	}
	fprintf(f, "%s }\n", first ? "" : " }");
}

static void put_cluster_set(FILE *f, const struct fw_config *cfg, sa_family_t family)
{
	char buf[IP_PREFIX_STRLEN];
	bool first = true;

	/* auto-merge: overlapping CIDRs are allowed and simply merged. */
	fprintf(f, "\tset cluster%c { type %s; flags interval; auto-merge;", set_suffix(family),
		set_type(family));
	for (size_t i = 0; i < cfg->n_cluster; i++) {
		struct ip_prefix net;
		if (cfg->cluster[i].addr.family != family)
			continue;
		net = ip_prefix_network(&cfg->cluster[i]);
		fprintf(f, "%s%s", first ? " elements = { " : ", ", ip_prefix_format(&net, buf, sizeof(buf)));
		first = false;
	}
	fprintf(f, "%s }\n", first ? "" : " }");
}

/* The network's name as a comment: printable, no quotes, bounded. */
static void comment_of(const char *name, char *out, size_t len)
{
	size_t i = 0;

	snprintf(out, len, "isolation network ");
	i = strlen(out);
	for (const char *s = name; *s && i + 1 < len; s++)
		out[i++] = isalnum((unsigned char)*s) || strchr("-_.:@", *s) ? *s : '_';
	out[i] = '\0';
}

static void put_sets(FILE *f, const struct fw_config *cfg)
{
	static const sa_family_t families[] = { AF_INET, AF_INET6 };
	char name[32], comment[128];

	for (size_t k = 0; k < 2; k++) {
		put_cluster_set(f, cfg, families[k]);
		put_addr_set(f, "node", families[k], cfg->node_ips, cfg->n_node_ips, NULL);
	}
	for (size_t i = 0; i < cfg->n_networks; i++) {
		snprintf(name, sizeof(name), "net%zu_", i);
		comment_of(cfg->networks[i].name, comment, sizeof(comment));
		for (size_t k = 0; k < 2; k++)
			put_addr_set(f, name, families[k], cfg->networks[i].members,
				     cfg->networks[i].n_members, comment);
	}
}

/*
 * The isolation chain, jumped to from every filtering hook. "return" hands
 * allowed packets back to the caller chain; only cross-network packets drop.
 */
static void put_isolate_chain(FILE *f, const struct fw_config *cfg)
{
	static const sa_family_t families[] = { AF_INET, AF_INET6 };

	fprintf(f, "\tchain isolate {\n");
	for (size_t i = 0; i < cfg->n_networks; i++) {
		for (size_t k = 0; k < 2; k++) {
			const char *ip = ip_kw(families[k]);
			char s = set_suffix(families[k]);
			fprintf(f, "\t\t%s saddr @net%zu_%c %s daddr @net%zu_%c return\n", ip, i, s, ip, i, s);
			fprintf(f, "\t\t%s saddr @net%zu_%c %s daddr @node%c return\n", ip, i, s, ip, s);
			fprintf(f, "\t\t%s saddr @net%zu_%c %s daddr @cluster%c drop\n", ip, i, s, ip, s);
			fprintf(f, "\t\t%s daddr @net%zu_%c %s saddr @node%c return\n", ip, i, s, ip, s);
			fprintf(f, "\t\t%s daddr @net%zu_%c %s saddr @cluster%c drop\n", ip, i, s, ip, s);
		}
	}
	fprintf(f, "\t}\n");
}

static void put_inet_table(FILE *f, const char *table, const struct fw_config *cfg)
{
	fprintf(f, "table inet %s {\n", table);
	put_sets(f, cfg);
	put_isolate_chain(f, cfg);
	fprintf(f, "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
		   "\t\tjump isolate\n"
		   "\t\tip saddr @cluster4 accept\n\t\tip daddr @cluster4 accept\n"
		   "\t\tip6 saddr @cluster6 accept\n\t\tip6 daddr @cluster6 accept\n\t}\n");
	fprintf(f, "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n"
		   "\t\tjump isolate\n"
		   "\t\tip saddr @cluster4 accept\n\t\tip6 saddr @cluster6 accept\n\t}\n");
	/*
	 * A nat chain, even an empty one, turns connection tracking on for every
	 * packet of the namespace (about a tenth of the cost of a DNS query to
	 * the node): so it exists only while there is something to masquerade.
	 */
	if (cfg->masquerade) {
		fprintf(f, "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
		/* Overlay-to-overlay traffic keeps its source. */
		for (size_t i = 0; i < cfg->n_overlay_ifaces; i++)
			fprintf(f, "\t\toifname \"%s\" return\n", cfg->overlay_ifaces[i]);
		fprintf(f, "\t\tip saddr @cluster4 ip daddr != @cluster4 masquerade\n"
			   "\t\tip6 saddr @cluster6 ip6 daddr != @cluster6 masquerade\n\t}\n");
	}
	fprintf(f, "}\n");
}

static void put_bridge_table(FILE *f, const char *table, const struct fw_config *cfg)
{
	fprintf(f, "table bridge %s {\n", table);
	put_sets(f, cfg);
	put_isolate_chain(f, cfg);
	fprintf(f, "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
		   "\t\tjump isolate\n\t}\n}\n");
}

/* "add + delete" of each table: deletes it whether or not it existed. */
static void put_table_reset(FILE *f, const char *table)
{
	for (size_t i = 0; i < sizeof(fw_families) / sizeof(fw_families[0]); i++)
		fprintf(f, "table %s %s {}\ndelete table %s %s\n", fw_families[i], table,
			fw_families[i], table);
}

int fw_render(const char *table, const struct fw_config *cfg, char **script)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int err;

	*script = NULL;
	if (!table || !cfg)
		return -EINVAL;
	if ((err = check_config(cfg)))
		return err;
	f = open_memstream(&buf, &len);
	if (!f)
		return -errno;
	put_table_reset(f, table);
	put_inet_table(f, table, cfg);
	put_bridge_table(f, table, cfg);
	if (fclose(f)) {
		free(buf);
		return -ENOMEM;
	}
	*script = buf;
	return 0;
}

/* ---- running -------------------------------------------------------------- */

static bool valid_instance(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > FW_INSTANCE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '_')
			return false;
	return true;
}

/* nf_tables needs nfnetlink; without it the kernel has no nftables at all. */
static int nfnetlink_probe(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

int fw_open(const char *instance, struct fw **out)
{
	struct fw *fw;
	int err;

	if (!valid_instance(instance))
		return -EINVAL;
	if ((err = nfnetlink_probe()))
		return err;
	fw = calloc(1, sizeof(*fw));
	if (!fw)
		return -ENOMEM;
	snprintf(fw->table, sizeof(fw->table), FW_TABLE_PREFIX "%s", instance);
	fw->nft = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!fw->nft || nft_ctx_buffer_error(fw->nft) || nft_ctx_buffer_output(fw->nft)) {
		fw_close(fw);
		return -ENOMEM;
	}
	*out = fw;
	return 0;
}

void fw_close(struct fw *fw)
{
	if (!fw)
		return;
	if (fw->nft)
		nft_ctx_free(fw->nft);
	free(fw->cluster);
	free(fw);
}

const char *fw_table_name(const struct fw *fw)
{
	return fw->table;
}

const char *fw_error(const struct fw *fw)
{
	return fw->error;
}

int fw_host_chains(const struct fw *fw)
{
	return fw->host_chains;
}

/* Runs one script as one transaction; keeps nft's complaint in fw->error. */
static int fw_run(struct fw *fw, const char *script)
{
	const char *msg;
	size_t n;

	fw->error[0] = '\0';
	if (nft_run_cmd_from_buffer(fw->nft, script) == 0)
		return 0;
	msg = nft_ctx_get_error_buffer(fw->nft);
	snprintf(fw->error, sizeof(fw->error), "%s", msg && *msg ? msg : "nft command failed");
	n = strlen(fw->error);
	while (n > 0 && fw->error[n - 1] == '\n')
		fw->error[--n] = '\0';
	return -EIO;
}

/*
 * Runs own (our tables' script, may be empty) together with the replacement
 * of our rules in the host's forward chains (hostfw.h), as one transaction.
 * The chains are listed first; a foreign tool changing them in between fails
 * the transaction, which is retried once on a fresh listing. Then the same
 * rules in the legacy iptables filter tables, where they exist
 * (hostfw_legacy.h; their own transaction, nft cannot reach them). firewalld:
 * firewalld_manages_us(), asked once by the caller, which may need it again.
 */
static int fw_run_with_host(struct fw *fw, const char *own, const struct ip_prefix *cluster, size_t n_cluster,
			    bool firewalld)
{
	struct hostfw_opts ho = {
		.tag = fw->table,
		.cluster = cluster,
		.n_cluster = n_cluster,
		.skip_firewalld = firewalld,
	};
	int err = -EIO;

	for (int attempt = 0; attempt < 2; attempt++) {
		char *ruleset = hostfw_list_ruleset(), *script = NULL;
		size_t len = 0;
		FILE *f;
		int chains;

		if (!ruleset) {
			snprintf(fw->error, sizeof(fw->error), "cannot list the ruleset: %s", strerror(errno));
			return -EIO;
		}
		f = open_memstream(&script, &len);
		if (!f) {
			free(ruleset);
			return -ENOMEM;
		}
		fputs(own, f);
		chains = hostfw_render(ruleset, FW_TABLE_PREFIX, &ho, f);
		free(ruleset);
		if (fclose(f) || chains < 0) {
			free(script);
			snprintf(fw->error, sizeof(fw->error), "cannot read the ruleset listing");
			return chains < 0 ? chains : -ENOMEM;
		}
		err = fw_run(fw, script);
		free(script);
		if (!err) {
			fw->host_chains = chains + hostfw_legacy_apply(&ho);
			break;
		}
	}
	/* firewalld logs its own failures; our tables are in place regardless. */
	if (!err && ho.skip_firewalld)
		for (size_t i = 0; i < n_cluster; i++)
			firewalld_trust(&cluster[i]);
	return err;
}

static int remember_cluster(struct fw *fw, const struct fw_config *cfg)
{
	struct ip_prefix *c = malloc((cfg->n_cluster ? cfg->n_cluster : 1) * sizeof(*c));

	if (!c)
		return -ENOMEM;
	memcpy(c, cfg->cluster, cfg->n_cluster * sizeof(*c));
	free(fw->cluster);
	fw->cluster = c;
	fw->n_cluster = cfg->n_cluster;
	return 0;
}

int fw_apply(struct fw *fw, const struct fw_config *cfg)
{
	char *script;
	int err;

	fw->error[0] = '\0';
	if ((err = fw_render(fw->table, cfg, &script))) {
		if (err == -EINVAL)
			snprintf(fw->error, sizeof(fw->error), "invalid firewall description");
		return err;
	}
	err = fw_run_with_host(fw, script, cfg->cluster, cfg->n_cluster, firewalld_manages_us());
	free(script);
	return err ? err : remember_cluster(fw, cfg);
}

int fw_remove(struct fw *fw)
{
	char *script = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&script, &len);
	bool firewalld;
	int err;

	if (!f)
		return -errno;
	put_table_reset(f, fw->table);
	if (fclose(f)) {
		free(script);
		return -ENOMEM;
	}
	firewalld = firewalld_manages_us();
	err = fw_run_with_host(fw, script, NULL, 0, firewalld);
	free(script);
	if (err)
		return err;
	if (firewalld)
		for (size_t i = 0; i < fw->n_cluster; i++)
			firewalld_untrust(&fw->cluster[i]);
	return 0;
}

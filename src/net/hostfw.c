// SPDX-License-Identifier: MIT
/*
 * Our accept rules in the host's forward chains: found in nft's JSON listing,
 * written as one nft script that the caller runs in the same transaction as
 * its own tables.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <nftables/libnftables.h>
#include <stdlib.h>
#include <string.h>

#include "net/hostfw.h"

/* A chain that gets our rules: at most one per table and family. */
struct hostfw_target {
	const char *family, *table, *chain;
};

/*
 * Names we write into a script unquoted. nft names may hold more, but a table
 * or chain named otherwise is left alone rather than quoted wrongly.
 */
static bool plain_name(const char *s)
{
	if (!s || !*s || strlen(s) > 255)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_-.", *s))
			return false;
	return true;
}

static const char *str_of(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static bool table_has_chain(json_t *items, const char *family, const char *table, const char *chain)
{
	size_t i;
	json_t *it, *c;

	json_array_foreach (items, i, it) {
		c = json_object_get(it, "chain");
		if (c && !strcmp(str_of(c, "family") ?: "", family) && !strcmp(str_of(c, "table") ?: "", table) &&
		    !strcmp(str_of(c, "name") ?: "", chain))
			return true;
	}
	return false;
}

static bool is_foreign_forward(json_t *chain, const char *own_prefix, const struct hostfw_opts *opts)
{
	const char *family = str_of(chain, "family"), *table = str_of(chain, "table");
	const char *hook = str_of(chain, "hook"), *type = str_of(chain, "type");

	if (!family || !table || !hook || !type || strcmp(hook, "forward") || strcmp(type, "filter"))
		return false;
	if (strcmp(family, "ip") && strcmp(family, "ip6") && strcmp(family, "inet"))
		return false;
	if (!strncmp(table, own_prefix, strlen(own_prefix)))
		return false;
	return !(opts->skip_firewalld && !strcmp(table, "firewalld"));
}

static void put_accepts(FILE *f, const struct hostfw_target *t, const struct hostfw_opts *opts)
{
	static const char *const dirs[] = { "saddr", "daddr" };
	char buf[IP_PREFIX_STRLEN];

	for (size_t i = 0; i < opts->n_cluster; i++) {
		struct ip_prefix net = ip_prefix_network(&opts->cluster[i]);
		bool v6 = net.addr.family == AF_INET6;
		if ((v6 && !strcmp(t->family, "ip")) || (!v6 && !strcmp(t->family, "ip6")))
			continue;
		ip_prefix_format(&net, buf, sizeof(buf));
		for (size_t d = 0; d < 2; d++)
			fprintf(f, "insert rule %s %s %s %s %s %s accept comment \"%s\"\n", t->family, t->table,
				t->chain, v6 ? "ip6" : "ip", dirs[d], buf, opts->tag);
	}
}

static void put_deletes(FILE *f, json_t *items, const char *tag)
{
	size_t i;
	json_t *it, *r;

	json_array_foreach (items, i, it) {
		r = json_object_get(it, "rule");
		if (!r || strcmp(str_of(r, "comment") ?: "", tag))
			continue;
		const char *family = str_of(r, "family"), *table = str_of(r, "table"), *chain = str_of(r, "chain");
		json_t *handle = json_object_get(r, "handle");
		if (!plain_name(family) || !plain_name(table) || !plain_name(chain) || !json_is_integer(handle))
			continue;
		fprintf(f, "delete rule %s %s %s handle %lld\n", family, table, chain,
			(long long)json_integer_value(handle));
	}
}

static bool seen(const struct hostfw_target *ts, size_t n, const struct hostfw_target *t)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(ts[i].family, t->family) && !strcmp(ts[i].table, t->table) &&
		    !strcmp(ts[i].chain, t->chain))
			return true;
	return false;
}

int hostfw_render(const char *ruleset_json, const char *own_prefix, const struct hostfw_opts *opts, FILE *f)
{
	json_t *root = json_loads(ruleset_json, 0, NULL);
	json_t *items = json_object_get(root, "nftables");
	struct hostfw_target *targets = NULL;
	size_t n = 0, i;
	json_t *it, *c;

	if (!json_is_array(items)) {
		json_decref(root);
		return -EINVAL;
	}
	targets = calloc(json_array_size(items) + 1, sizeof(*targets));
	if (!targets) {
		json_decref(root);
		return -ENOMEM;
	}
	put_deletes(f, items, opts->tag);
	json_array_foreach (items, i, it) {
		c = json_object_get(it, "chain");
		if (!opts->n_cluster || !c || !is_foreign_forward(c, own_prefix, opts))
			continue;
		struct hostfw_target t = { str_of(c, "family"), str_of(c, "table"), str_of(c, "name") };
		/* Docker's FORWARD jumps to DOCKER-USER before its own (isolation) rules. */
		if (strcmp(t.family, "inet") && table_has_chain(items, t.family, t.table, HOSTFW_DOCKER_USER))
			t.chain = HOSTFW_DOCKER_USER;
		if (!plain_name(t.table) || !plain_name(t.chain)) {
			fprintf(f, "# forward chain with an unusual name left alone\n");
			continue;
		}
		if (seen(targets, n, &t))
			continue;
		targets[n++] = t;
		put_accepts(f, &t, opts);
	}
	free(targets);
	json_decref(root);
	return (int)n;
}

char *hostfw_list_ruleset(void)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	char *out = NULL;

	if (!nft) {
		errno = ENOMEM;
		return NULL;
	}
	nft_ctx_output_set_flags(nft, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE);
	if (nft_ctx_buffer_output(nft) || nft_ctx_buffer_error(nft)) {
		errno = ENOMEM;
	} else if (nft_run_cmd_from_buffer(nft, "list ruleset") != 0) {
		errno = EIO;
	} else {
		out = strdup(nft_ctx_get_output_buffer(nft));
		if (!out)
			errno = ENOMEM;
	}
	nft_ctx_free(nft);
	return out;
}

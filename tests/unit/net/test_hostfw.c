// SPDX-License-Identifier: MIT
/*
 * hostfw.c: which of the host's chains get our accept rules, and which of
 * its rules we delete, from nft JSON listings like those of real hosts.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/hostfw.h"

#define TAG "overlayd_t_0"

/* The listing of a host after Docker started: FORWARD drops and jumps to DOCKER-USER. */
static const char docker_json[] =
	"{\"nftables\": [{\"metainfo\": {\"json_schema_version\": 1}},"
	"{\"table\": {\"family\": \"ip\", \"name\": \"filter\", \"handle\": 1}},"
	"{\"chain\": {\"family\": \"ip\", \"table\": \"filter\", \"name\": \"FORWARD\", \"handle\": 1,"
	" \"type\": \"filter\", \"hook\": \"forward\", \"prio\": 0, \"policy\": \"drop\"}},"
	"{\"chain\": {\"family\": \"ip\", \"table\": \"filter\", \"name\": \"DOCKER-USER\", \"handle\": 2}},"
	"{\"chain\": {\"family\": \"ip\", \"table\": \"nat\", \"name\": \"POSTROUTING\", \"handle\": 3,"
	" \"type\": \"nat\", \"hook\": \"postrouting\", \"prio\": 100, \"policy\": \"accept\"}},"
	"{\"rule\": {\"family\": \"ip\", \"table\": \"filter\", \"chain\": \"FORWARD\", \"handle\": 4,"
	" \"expr\": [{\"jump\": {\"target\": \"DOCKER-USER\"}}]}},"
	"{\"rule\": {\"family\": \"ip\", \"table\": \"filter\", \"chain\": \"DOCKER-USER\", \"handle\": 7,"
	" \"comment\": \"" TAG "\", \"expr\": [{\"accept\": null}]}},"
	"{\"rule\": {\"family\": \"ip\", \"table\": \"filter\", \"chain\": \"DOCKER-USER\", \"handle\": 8,"
	" \"comment\": \"overlayd_other_1\", \"expr\": [{\"accept\": null}]}}]}";

/* An administrator's nftables.conf, our own tables, firewalld's and a bridge table. */
static const char mixed_json[] =
	"{\"nftables\": ["
	"{\"chain\": {\"family\": \"inet\", \"table\": \"filter\", \"name\": \"forward\", \"handle\": 1,"
	" \"type\": \"filter\", \"hook\": \"forward\", \"prio\": 0, \"policy\": \"drop\"}},"
	"{\"chain\": {\"family\": \"inet\", \"table\": \"filter\", \"name\": \"input\", \"handle\": 2,"
	" \"type\": \"filter\", \"hook\": \"input\", \"prio\": 0, \"policy\": \"drop\"}},"
	"{\"chain\": {\"family\": \"inet\", \"table\": \"overlayd_t_0\", \"name\": \"forward\", \"handle\": 1,"
	" \"type\": \"filter\", \"hook\": \"forward\", \"prio\": 0, \"policy\": \"accept\"}},"
	"{\"chain\": {\"family\": \"inet\", \"table\": \"firewalld\", \"name\": \"filter_FORWARD\", \"handle\": 9,"
	" \"type\": \"filter\", \"hook\": \"forward\", \"prio\": 10, \"policy\": \"accept\"}},"
	"{\"chain\": {\"family\": \"bridge\", \"table\": \"br\", \"name\": \"forward\", \"handle\": 1,"
	" \"type\": \"filter\", \"hook\": \"forward\", \"prio\": 0, \"policy\": \"drop\"}},"
	"{\"chain\": {\"family\": \"ip6\", \"table\": \"odd\", \"name\": \"my chain\", \"handle\": 1,"
	" \"type\": \"filter\", \"hook\": \"forward\", \"prio\": 0, \"policy\": \"drop\"}}]}";

struct rendered {
	char *text;
	int ret;
};

static struct rendered render(const char *json, const struct hostfw_opts *o)
{
	struct rendered r = { 0 };
	size_t len;
	FILE *f = open_memstream(&r.text, &len);

	assert_non_null(f);
	r.ret = hostfw_render(json, "overlayd_", o, f);
	assert_int_equal(fclose(f), 0);
	return r;
}

static size_t count_lines(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static struct ip_prefix cluster[2];

static int setup(void **state)
{
	assert_int_equal(ip_prefix_parse("10.200.7.1/16", &cluster[0]), 0); /* host bits masked */
	assert_int_equal(ip_prefix_parse("fd20::/48", &cluster[1]), 0);
	return 0;
}

static void test_docker_user_gets_the_rules(void **state)
{
	struct hostfw_opts o = { .tag = TAG, .cluster = cluster, .n_cluster = 2 };
	struct rendered r = render(docker_json, &o);

	assert_int_equal(r.ret, 1);
	assert_non_null(strstr(r.text, "insert rule ip filter DOCKER-USER ip saddr 10.200.0.0/16 accept comment \""
				       TAG "\"\n"));
	assert_non_null(strstr(r.text, "insert rule ip filter DOCKER-USER ip daddr 10.200.0.0/16 accept"));
	assert_null(strstr(r.text, "filter FORWARD ip")); /* Docker's FORWARD itself is left alone */
	assert_null(strstr(r.text, "fd20::"));		  /* an ip table has no IPv6 */
	assert_null(strstr(r.text, " nat "));
	/* Our previous rule goes, another instance's stays. */
	assert_non_null(strstr(r.text, "delete rule ip filter DOCKER-USER handle 7\n"));
	assert_int_equal(count_lines(r.text, "delete rule"), 1);
	/* The deletes come first: one transaction replaces the old rules with the new. */
	assert_true(strstr(r.text, "delete rule") < strstr(r.text, "insert rule"));
	free(r.text);
}

static void test_foreign_forward_chains_only(void **state)
{
	struct hostfw_opts o = { .tag = TAG, .cluster = cluster, .n_cluster = 2 };
	struct rendered r = render(mixed_json, &o);

	/* inet filter forward and firewalld's (it does not run); not input, ours, bridge, the odd name. */
	assert_int_equal(r.ret, 2);
	assert_int_equal(count_lines(r.text, "insert rule inet filter forward "), 4);
	assert_non_null(strstr(r.text, "insert rule inet filter forward ip6 saddr fd20::/48 accept"));
	assert_int_equal(count_lines(r.text, "insert rule inet firewalld filter_FORWARD "), 4);
	assert_null(strstr(r.text, "overlayd_t_0 forward"));
	assert_null(strstr(r.text, " input "));
	assert_null(strstr(r.text, "bridge"));
	assert_null(strstr(r.text, "my chain"));
	free(r.text);

	/* firewalld running: its table is rebuilt on reload; it gets sources instead. */
	o.skip_firewalld = true;
	r = render(mixed_json, &o);
	assert_int_equal(r.ret, 1);
	assert_null(strstr(r.text, "firewalld"));
	free(r.text);
}

static void test_removal_only_deletes_our_rules(void **state)
{
	struct hostfw_opts o = { .tag = TAG };
	struct rendered r = render(docker_json, &o);

	assert_int_equal(r.ret, 0);
	assert_string_equal(r.text, "delete rule ip filter DOCKER-USER handle 7\n");
	free(r.text);
}

static void test_bad_listing(void **state)
{
	struct hostfw_opts o = { .tag = TAG, .cluster = cluster, .n_cluster = 1 };
	struct rendered r = render("not json", &o);

	assert_int_equal(r.ret, -EINVAL);
	assert_string_equal(r.text, "");
	free(r.text);
	r = render("{\"nftables\": {}}", &o);
	assert_int_equal(r.ret, -EINVAL);
	free(r.text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_docker_user_gets_the_rules, setup),
		cmocka_unit_test_setup(test_foreign_forward_chains_only, setup),
		cmocka_unit_test(test_removal_only_deletes_our_rules),
		cmocka_unit_test_setup(test_bad_listing, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

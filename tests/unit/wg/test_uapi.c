// SPDX-License-Identifier: MIT
/* The UAPI set parser: every key wg(8) sends, and clear errors for bad input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "wg/uapi.h"

#define KEY1 "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"
#define KEY2 "58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376"

static int parse(const char *text, struct wg_uapi_set *set)
{
	char err[160];
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	assert_non_null(f);
	int ret = wg_uapi_parse_set(f, set, err, sizeof(err));
	fclose(f);
	return ret;
}

static void full_request(void **state)
{
	struct wg_uapi_set s;
	assert_int_equal(parse("private_key=" KEY1 "\nlisten_port=51820\nfwmark=0\nreplace_peers=true\n"
			       "public_key=" KEY2 "\npreshared_key=" KEY1 "\nendpoint=[fd00::1]:51821\n"
			       "persistent_keepalive_interval=25\nreplace_allowed_ips=true\n"
			       "allowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\nprotocol_version=1\n"
			       "public_key=" KEY1 "\nremove=true\n"
			       "public_key=" KEY1 "\nupdate_only=true\nallowed_ip=10.9.0.1/32\n\n", &s),
			 0);
	assert_true(s.set_private_key && s.set_listen_port && s.set_fwmark && s.replace_peers);
	assert_int_equal(s.listen_port, 51820);
	assert_int_equal(s.n_peers, 3);
	assert_int_equal(s.peers[0].cfg.n_allowed_ips, 2);
	assert_true(s.peers[0].cfg.replace_allowed_ips && s.peers[0].cfg.set_preshared_key);
	assert_int_equal(s.peers[0].cfg.endpoint.port, 51821);
	assert_int_equal(s.peers[0].cfg.persistent_keepalive, 25);
	assert_true(s.peers[1].remove);
	assert_true(s.peers[2].cfg.update_only);
	assert_int_equal(s.peers[2].cfg.allowed_ips[0].len, 32);
	wg_uapi_set_free(&s);
}

static void errors(void **state)
{
	struct wg_uapi_set s;
	static const struct {
		const char *text;
		int err;
	} cases[] = {
		{ "private_key=zz\n\n", -EINVAL },
		{ "listen_port=65536\n\n", -EINVAL },
		{ "listen_port=-1\n\n", -EINVAL },
		{ "fwmark=4294967296\n\n", -EINVAL },
		{ "bogus=1\n\n", -EINVAL },
		{ "no equals sign\n\n", -EPROTO },
		{ "public_key=" KEY2 "\nendpoint=1.2.3.4\n\n", -EINVAL },
		{ "public_key=" KEY2 "\nallowed_ip=10.0.0.0/33\n\n", -EINVAL },
		{ "public_key=" KEY2 "\nprotocol_version=2\n\n", -EPROTO },
		{ "public_key=" KEY2 "\nremove=yes\n\n", -EINVAL },
		{ "public_key=" KEY2 "\nfrobnicate=1\n\n", -EINVAL },
		{ "public_key=short\n\n", -EINVAL },
		{ "listen_port=1\n", -EPROTO }, /* no terminating blank line */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = parse(cases[i].text, &s);
		if (ret != cases[i].err)
			fail_msg("case %zu \"%s\": got %d, want %d", i, cases[i].text, ret, cases[i].err);
		wg_uapi_set_free(&s);
	}
}

static void consumes_whole_request_on_error(void **state)
{
	/* After an error the parser still reads to the blank line, so the next request is intact. */
	const char *text = "bogus=1\nlisten_port=1\n\nget=1\n\n";
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	struct wg_uapi_set s;
	char line[16];
	assert_int_equal(wg_uapi_parse_set(f, &s, NULL, 0), -EINVAL);
	wg_uapi_set_free(&s);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "get=1\n");
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_request),
		cmocka_unit_test(errors),
		cmocka_unit_test(consumes_whole_request_on_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "dns/name.h"

static struct dns_name zone(void)
{
	struct dns_name z;
	assert_int_equal(dns_name_from_text("zlayer.local.", NULL, false, &z), 0);
	return z;
}

static void text_round_trip(void **state)
{
	struct dns_name z = zone(), n;
	char buf[DNS_NAME_STRLEN];
	assert_int_equal(dns_name_from_text("Web", &z, false, &n), 0);
	assert_string_equal(dns_name_to_text(&n, buf, sizeof(buf)), "web.zlayer.local.");
	assert_int_equal(dns_name_from_text("svc1.Bench.local.", &z, false, &n), 0);
	assert_string_equal(dns_name_to_text(&n, buf, sizeof(buf)), "svc1.bench.local.");
	assert_int_equal(n.len, 18);
	assert_int_equal(dns_name_from_text(".", NULL, true, &n), 0);
	assert_int_equal(n.len, 1);
	assert_string_equal(dns_name_to_text(&n, buf, sizeof(buf)), ".");
}

static void text_rejects_bad_names(void **state)
{
	struct dns_name z = zone(), n;
	char label64[80], long_name[300];
	memset(label64, 'a', 64);
	strcpy(label64 + 64, ".");
	/* 128 labels of "a." is 256 wire bytes: one too many. */
	for (int i = 0; i < 128; i++)
		memcpy(long_name + 2 * i, "a.", 2);
	long_name[256] = '\0';
	const char *bad[] = { "", ".", "a..b.", ".a.", "sp ace.", "semi;colon.", "dot\\.", label64, long_name };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(dns_name_from_text(bad[i], &z, false, &n), -EINVAL);
	assert_int_equal(dns_name_from_text("relative", NULL, false, &n), -EINVAL);
	long_name[254] = '\0'; /* 127 labels: 255 bytes, the maximum */
	assert_int_equal(dns_name_from_text(long_name, NULL, false, &n), 0);
	assert_int_equal(n.len, 255);
	/* A relative name that no longer fits once the zone is appended. */
	long_name[249] = '\0'; /* ends in a label: relative */
	assert_int_equal(dns_name_from_text(long_name, &z, false, &n), -EINVAL);
}

/* Each refusal says what is wrong; the output name is untouched. */
static void parse_says_why(void **state)
{
	static const struct {
		const char *text, *why;
	} cases[] = {
		{ "", "the name is empty" },
		{ ".", "root" },
		{ "a..b", "empty label at byte 2" },
		{ ".lead", "empty label at byte 0" },
		{ "trail..", "empty label at byte 6" },
		{ "sp ace", "character ' ' is not allowed" },
		{ "tab\tx", "byte 0x09 is not allowed" },
		{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.y", "longer than 63 bytes" },
	};
	struct dns_name z = zone(), n = { .len = 7 };
	char why[160], long_name[300];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		assert_int_equal(dns_name_parse(cases[i].text, &z, false, &n, why, sizeof(why)), -EINVAL);
		if (!strstr(why, cases[i].why))
			fail_msg("\"%s\": got \"%s\", want \"%s\"", cases[i].text, why, cases[i].why);
		assert_int_equal(n.len, 7);
	}
	/* 241 characters (labels 63, 63, 63, 49): 242 wire bytes alone, 256 with the zone. */
	memset(long_name, 'a', 241);
	long_name[241] = '\0';
	for (int i = 63; i < 241; i += 64)
		long_name[i] = '.';
	assert_int_equal(dns_name_parse(long_name, &z, false, &n, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "256 bytes long in DNS wire form with the zone zlayer.local., more than 255"));
	assert_int_equal(dns_name_parse(long_name, NULL, false, &n, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "relative"));
	strcat(long_name, "."); /* absolute: 243 wire bytes */
	assert_int_equal(dns_name_parse(long_name, NULL, false, &n, why, sizeof(why)), 0);
	assert_int_equal(n.len, 243);
	/* why may be NULL, and a good name leaves it alone. */
	assert_int_equal(dns_name_parse("a..b", &z, false, &n, NULL, 0), -EINVAL);
	strcpy(why, "untouched");
	assert_int_equal(dns_name_parse("Web", &z, false, &n, why, sizeof(why)), 0);
	assert_string_equal(why, "untouched");
	char buf[DNS_NAME_STRLEN];
	assert_string_equal(dns_name_to_text(&n, buf, sizeof(buf)), "web.zlayer.local.");
}

static void subdomain_and_parent(void **state)
{
	struct dns_name z = zone(), n, p;
	assert_int_equal(dns_name_from_text("a.b.zlayer.local.", NULL, false, &n), 0);
	assert_true(dns_name_is_subdomain(&n, &z));
	assert_true(dns_name_is_subdomain(&z, &z));
	assert_false(dns_name_is_subdomain(&z, &n));
	/* Label boundaries matter: "xzlayer.local" is not under "zlayer.local". */
	assert_int_equal(dns_name_from_text("xzlayer.local.", NULL, false, &n), 0);
	assert_false(dns_name_is_subdomain(&n, &z));
	assert_true(dns_name_parent(&z, &p));
	char buf[DNS_NAME_STRLEN];
	assert_string_equal(dns_name_to_text(&p, buf, sizeof(buf)), "local.");
	assert_true(dns_name_parent(&p, &p));
	assert_false(dns_name_parent(&p, &p)); /* root */
}

static void reverse_names(void **state)
{
	struct ip_addr a;
	struct dns_name n;
	char buf[DNS_NAME_STRLEN];
	assert_int_equal(ip_addr_parse("10.200.0.5", &a), 0);
	dns_name_reverse(&a, &n);
	assert_string_equal(dns_name_to_text(&n, buf, sizeof(buf)), "5.0.200.10.in-addr.arpa.");
	assert_int_equal(ip_addr_parse("fd00::1:2", &a), 0);
	dns_name_reverse(&a, &n);
	assert_string_equal(dns_name_to_text(&n, buf, sizeof(buf)),
			    "2.0.0.0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.");
}

static void read_follows_pointers(void **state)
{
	/* "abc" at 0, then "x" + pointer to 0 at 5. */
	const uint8_t msg[] = { 3, 'a', 'b', 'c', 0, 1, 'x', 0xc0, 0x00, 0xff };
	struct dns_name n;
	size_t off = 5;
	assert_int_equal(dns_name_read(msg, sizeof(msg), &off, &n), 0);
	assert_int_equal(off, 9); /* past the pointer, not the target */
	char buf[DNS_NAME_STRLEN];
	assert_string_equal(dns_name_to_text(&n, buf, sizeof(buf)), "x.abc.");
}

static void read_rejects_hostile_names(void **state)
{
	struct dns_name n;
	size_t off;
	/* A pointer to itself, and a pair pointing at each other. */
	const uint8_t self[] = { 0xc0, 0x00 };
	const uint8_t pair[] = { 1, 'a', 0xc0, 0x04, 0xc0, 0x00 };
	/* A forward pointer, truncated names, reserved label types. */
	const uint8_t forward[] = { 0xc0, 0x02, 0 };
	const uint8_t cut_label[] = { 5, 'a', 'b' };
	const uint8_t no_root[] = { 1, 'a' };
	const uint8_t cut_ptr[] = { 1, 'a', 0xc0 };
	const uint8_t ext[] = { 0x41, 0 };
	const uint8_t res[] = { 0x80, 0 };
	struct {
		const uint8_t *m;
		size_t len, off;
	} cases[] = {
		{ self, sizeof(self), 0 },	     { pair, sizeof(pair), 4 },	   { forward, sizeof(forward), 0 },
		{ cut_label, sizeof(cut_label), 0 }, { no_root, sizeof(no_root), 0 }, { cut_ptr, sizeof(cut_ptr), 0 },
		{ ext, sizeof(ext), 0 },	     { res, sizeof(res), 0 },	   { self, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		off = cases[i].off;
		assert_int_equal(dns_name_read(cases[i].m, cases[i].len, &off, &n), -EBADMSG);
	}
	/* Labels chained by backward pointers may not expand past 255 bytes:
	 * 200 bytes of labels, then a name of 63 + pointer back into them. */
	uint8_t big[300];
	size_t w = 0;
	for (int i = 0; i < 4; i++) {
		big[w++] = 49;
		memset(big + w, 'a', 49);
		w += 49;
	}
	big[w++] = 0; /* 201 bytes: a valid 201-byte name at 0 */
	size_t second = w;
	big[w++] = 63;
	memset(big + w, 'b', 63);
	w += 63;
	big[w++] = 0xc0;
	big[w++] = 0;
	off = 0;
	assert_int_equal(dns_name_read(big, w, &off, &n), 0);
	off = second;
	assert_int_equal(dns_name_read(big, w, &off, &n), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_round_trip),	cmocka_unit_test(text_rejects_bad_names),
		cmocka_unit_test(parse_says_why),
		cmocka_unit_test(subdomain_and_parent), cmocka_unit_test(reverse_names),
		cmocka_unit_test(read_follows_pointers), cmocka_unit_test(read_rejects_hostile_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

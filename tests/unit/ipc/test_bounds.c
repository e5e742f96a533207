// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ipc/bounds.h"
#include "ipc/codec.h"

static bool within(const char *s)
{
	char err[256];
	return ipc_frame_within_bounds(s, strlen(s), err, sizeof(err));
}

/* depth arrays nested inside the frame's own two objects: "[[...]]". */
static char *nested(int arrays)
{
	char *s = malloc((size_t)arrays * 2 + 64);
	assert_non_null(s);
	static const char head[] = "{\"request\":{\"x\":";
	memcpy(s, head, sizeof(head) - 1);
	size_t n = sizeof(head) - 1;
	for (int i = 0; i < arrays; i++)
		s[n++] = '[';
	for (int i = 0; i < arrays; i++)
		s[n++] = ']';
	strcpy(s + n, "}}");
	return s;
}

static void nesting_limit_is_exact(void **state)
{
	char *ok = nested(IPC_MAX_NESTING - 2), *deep = nested(IPC_MAX_NESTING - 1);
	assert_true(within(ok));
	char err[256];
	assert_false(ipc_frame_within_bounds(deep, strlen(deep), err, sizeof(err)));
	assert_non_null(strstr(err, "nested deeper than the limit of 32"));
	free(ok);
	free(deep);
}

/* An array of n items inside a one-member object: n + 1 items in all. */
static char *array_of(size_t n)
{
	char *s = malloc(n * 2 + 16);
	assert_non_null(s);
	static const char head[] = "{\"a\":[";
	memcpy(s, head, sizeof(head) - 1);
	size_t k = sizeof(head) - 1;
	for (size_t i = 0; i < n; i++) {
		if (i)
			s[k++] = ',';
		s[k++] = '0';
	}
	strcpy(s + k, "]}");
	return s;
}

static void item_limit_is_exact(void **state)
{
	char *ok = array_of(IPC_MAX_ITEMS - 1), *big = array_of(IPC_MAX_ITEMS);
	assert_true(within(ok));
	char err[256];
	assert_false(ipc_frame_within_bounds(big, strlen(big), err, sizeof(err)));
	assert_non_null(strstr(err, "more than the limit of 100000"));
	free(ok);
	free(big);
}

static void strings_and_empty_containers_count_right(void **state)
{
	/* Brackets, commas and escaped quotes inside strings are not structure. */
	char *s = malloc(IPC_MAX_ITEMS * 4 + 64);
	assert_non_null(s);
	size_t k = 6;
	memcpy(s, "{\"a\":\"", k);
	for (int i = 0; i < IPC_MAX_ITEMS; i++)
		k += (size_t)sprintf(s + k, "[,\\\"");
	strcpy(s + k, "\\\\\"}");
	assert_true(within(s));
	free(s);
	/* Empty containers hold no items: [] x (limit) separated by commas is limit items. */
	s = malloc(IPC_MAX_ITEMS * 3 + 16);
	assert_non_null(s);
	s[0] = '[';
	k = 1;
	for (int i = 0; i < IPC_MAX_ITEMS; i++)
		k += (size_t)sprintf(s + k, i ? ",[]" : "[]");
	strcpy(s + k, "]");
	assert_true(within(s));
	strcpy(s + k, ",{}]");
	assert_false(within(s));
	free(s);
}

static void codec_refuses_over_limit_frames_unparsed(void **state)
{
	char *body = array_of(IPC_MAX_ITEMS);
	uint64_t id = 99;
	struct ovl_request q;
	char err[256];
	assert_int_equal(codec_decode_request(body, strlen(body), &id, &q, err, sizeof(err)), CODEC_BAD_FRAME);
	assert_int_equal(id, 0);
	assert_non_null(strstr(err, "limit"));
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nesting_limit_is_exact),
		cmocka_unit_test(item_limit_is_exact),
		cmocka_unit_test(strings_and_empty_containers_count_right),
		cmocka_unit_test(codec_refuses_over_limit_frames_unparsed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the reader of iptables-legacy-save listings
 * (src/net/hostfw_legacy.c): a legacy filter table as the host's tools list
 * it. Besides not crashing: a listing is refused or answered with a script
 * in which every -D names a rule the listing has (with -A), carrying our
 * tag, so that nothing but our own rules is ever deleted.
 *
 *   build-fuzz/fuzz/fuzz_iptables_save fuzz/corpus-iptables_save/ -max_total_time=60
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/hostfw_legacy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TAG "overlayd_f_0"

/* Whether line has the comment TAG itself, not a longer one that begins like it. */
static bool has_tag(const char *line)
{
	static const char *const forms[] = { " --comment " TAG, " --comment \"" TAG "\"" };
	for (size_t i = 0; i < 2; i++)
		for (const char *p = line; (p = strstr(p, forms[i])); p++)
			if (p[strlen(forms[i])] == ' ' || p[strlen(forms[i])] == '\0')
				return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ip_prefix cluster[2];
	if (ip_prefix_parse("10.200.0.0/16", &cluster[0]) || ip_prefix_parse("fd20::/48", &cluster[1]))
		abort();
	char *save = malloc(size + 1);
	if (!save)
		return 0;
	memcpy(save, data, size);
	save[size] = '\0'; /* the tool's output is text: a NUL ends it */
	struct hostfw_opts opts = { .tag = TAG, .cluster = cluster, .n_cluster = size % 3 };
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		abort();
	int r = hostfw_legacy_render(save, size & 1 ? AF_INET6 : AF_INET, &opts, f);
	if (fclose(f))
		abort();
	if (r < 0 && (r != -EINVAL || len))
		abort(); /* a refusal writes nothing */
	for (char *line = out, *nl; r >= 0 && line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (!strncmp(line, "-D ", 3)) {
			/* "-A" + the rest must be a line of the listing, and carry our tag. */
			size_t rl = strlen(line + 3);
			const char *p = save;
			bool found = false;
			while (!found && (p = strstr(p, line + 3))) {
				found = p >= save + 3 && !memcmp(p - 3, "-A ", 3) && (p == save + 3 || p[-4] == '\n') &&
					(p[rl] == '\n' || p[rl] == '\0');
				p++;
			}
			if (!found || !has_tag(line))
				abort();
		} else if (strcmp(line, "*filter") && strcmp(line, "COMMIT") && strncmp(line, "-I ", 3)) {
			abort();
		}
	}
	free(out);
	free(save);
	return 0;
}

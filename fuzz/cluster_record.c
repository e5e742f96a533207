// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for cluster-mode node records (src/cluster/record.c):
 * what other nodes write into etcd, so input from peers. A record that
 * decodes must encode, and decode again to the same text; a refusal always
 * says why.
 *
 *   build-fuzz/fuzz/fuzz_cluster_record fuzz/corpus-cluster_record/ -max_total_time=60
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct cluster_record r, back;
	char err[256] = "";
	int rc = cluster_record_decode(text, &r, err, sizeof(err));
	free(text);
	if (rc < 0) {
		if (!err[0])
			abort();
		return 0;
	}
	char *first = cluster_record_encode(&r);
	if (!first || cluster_record_decode(first, &back, err, sizeof(err)) < 0)
		abort();
	char *second = cluster_record_encode(&back);
	if (!second || strcmp(first, second) != 0)
		abort();
	free(first);
	free(second);
	cluster_record_free(&r);
	cluster_record_free(&back);
	return 0;
}

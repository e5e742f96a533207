// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the state-file loader (src/state): every input is
 * written as <tmp>/state.json and loaded as a restarting daemon would. A file
 * that loads must save, and what is saved must load again and save to the
 * same bytes: a state the daemon accepted and cannot write back (or that
 * changes on every restart) would lose what it owns at the next restart.
 *
 *   build-fuzz/fuzz/fuzz_state_file fuzz/corpus-state_file/ -max_total_time=60
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* tmpfs: state_save fsyncs every file it writes. */
static char dir[] = "/dev/shm/fuzz-state-XXXXXX";
static char in_path[256], out_path[256], again_path[256];

static void cleanup(void)
{
	unlink(in_path);
	unlink(out_path);
	unlink(again_path);
	rmdir(dir);
}

static void setup(void)
{
	if (!mkdtemp(dir))
		abort();
	atexit(cleanup);
	snprintf(in_path, sizeof(in_path), "%s/in.json", dir);
	snprintf(out_path, sizeof(out_path), "%s/out.json", dir);
	snprintf(again_path, sizeof(again_path), "%s/again.json", dir);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 20);
	if (!f || !buf)
		abort();
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ovl_state st, back;
	char err[512];
	FILE *f;

	if (!in_path[0])
		setup();
	if (!(f = fopen(in_path, "wb")) || fwrite(data, 1, size, f) != size || fclose(f))
		abort();
	if (state_load(in_path, &st, err, sizeof(err)) != 0) {
		/* FUZZ_VERBOSE=1: say why a seed is rejected (corpus upkeep). */
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "rejected: %s\n", err);
		state_free(&st);
		return 0;
	}
	if (state_save(out_path, &st, err, sizeof(err)) != 0 || state_load(out_path, &back, err, sizeof(err)) != 0 ||
	    state_save(again_path, &back, err, sizeof(err)) != 0) {
		fprintf(stderr, "a loaded state does not save and load back: %s\n", err);
		abort();
	}
	size_t a_len, b_len;
	char *a = slurp(out_path, &a_len), *b = slurp(again_path, &b_len);
	if (a_len != b_len || memcmp(a, b, a_len)) {
		fprintf(stderr, "state.json changes on a reload:\n%.*s\n---\n%.*s\n", (int)a_len, a, (int)b_len, b);
		abort();
	}
	free(a);
	free(b);
	state_free(&st);
	state_free(&back);
	return 0;
}

// SPDX-License-Identifier: MIT
/* `overlayctl bench`: control-socket request rate, one connection or many. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ipc/client.h"

struct bench_client {
	const char *path;
	const char *frame; /* encoded request (id fixed: responses are counted, not matched) */
	size_t frame_len;
	int pipeline;
	double seconds;
	uint64_t done;
	uint64_t errors;
	int failed;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *bench_thread(void *p)
{
	struct bench_client *b = p;
	int fd = ipc_client_connect(b->path);
	if (fd < 0) {
		b->failed = -fd;
		return NULL;
	}
	double end = now_s() + b->seconds;
	int inflight = 0;
	for (;;) {
		bool more = now_s() < end;
		while (more && inflight < b->pipeline) {
			if (ipc_client_send(fd, b->frame, b->frame_len) < 0) {
				b->failed = EPIPE;
				goto out;
			}
			inflight++;
		}
		if (!inflight)
			break;
		char *body;
		size_t len;
		if (ipc_client_recv(fd, &body, &len) < 0) {
			b->failed = EPIPE;
			goto out;
		}
		if (strstr(body, "\"result\":\"err\""))
			b->errors++;
		free(body);
		inflight--;
		b->done++;
	}
out:
	close(fd);
	return NULL;
}

int ctl_bench(const char *path, int argc, char **argv)
{
	int clients = 1, pipeline = 1;
	double seconds = 3;
	const char *op = "status", *request = NULL;
	static const struct option opts[] = {
		{ "request", required_argument, NULL, 'r' },
		{ "clients", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{ "pipeline", required_argument, NULL, 'p' },
		{ "op", required_argument, NULL, 'o' },
		{ 0 },
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			clients = atoi(optarg);
			break;
		case 's':
			seconds = atof(optarg);
			break;
		case 'p':
			pipeline = atoi(optarg);
			break;
		case 'o':
			op = optarg;
			break;
		case 'r':
			request = optarg;
			break;
		default:
			return 2;
		}
	}
	if (clients < 1 || clients > 1024 || pipeline < 1 || pipeline > 4096 || !(seconds > 0)) {
		fprintf(stderr, "overlayctl bench: --clients 1..1024, --pipeline 1..4096, --seconds > 0\n");
		return 2;
	}
	char frame[4096];
	int flen = request ? snprintf(frame, sizeof(frame), "{\"frame\":\"request\",\"id\":1,\"request\":%s}", request)
			   : snprintf(frame, sizeof(frame), "{\"frame\":\"request\",\"id\":1,\"request\":{\"op\":\"%s\"}}", op);
	if (flen < 0 || (size_t)flen >= sizeof(frame)) {
		fprintf(stderr, "overlayctl bench: request too long\n");
		return 2;
	}
	if (request)
		op = "custom";
	struct bench_client *bc = calloc((size_t)clients, sizeof(*bc));
	pthread_t *th = calloc((size_t)clients, sizeof(*th));
	if (!bc || !th)
		return 1;
	double t0 = now_s();
	for (int i = 0; i < clients; i++) {
		bc[i] = (struct bench_client){ .path = path, .frame = frame, .frame_len = (size_t)flen,
					       .pipeline = pipeline, .seconds = seconds };
		if (pthread_create(&th[i], NULL, bench_thread, &bc[i]) != 0) {
			fprintf(stderr, "overlayctl bench: cannot start thread\n");
			return 1;
		}
	}
	uint64_t total = 0, errors = 0;
	int failed = 0;
	for (int i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		total += bc[i].done;
		errors += bc[i].errors;
		if (bc[i].failed)
			failed = bc[i].failed;
	}
	double dt = now_s() - t0;
	printf("op=%s clients=%d pipeline=%d requests=%" PRIu64 " errors=%" PRIu64 " seconds=%.2f rate=%.0f req/s\n",
	       op, clients, pipeline, total, errors, dt, (double)total / dt);
	free(bc);
	free(th);
	if (failed) {
		fprintf(stderr, "overlayctl bench: a client failed: %s\n", strerror(failed));
		return 1;
	}
	return errors ? 1 : 0;
}


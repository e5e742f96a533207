// SPDX-License-Identifier: MIT
/* The server on a real Unix socket: events broadcast to every client, posted from another thread. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ipc/client.h"
#include "ipc/server.h"

#define KEY "YNXtAzepDqRv9H52osJVDQnznT5AL11eVK3sB5JhQX0="

struct ctx {
	struct evloop *loop;
	struct ipc_server *srv;
};

/* Answers every request at once with ok (an engine stand-in: this tests transport only). */
static void on_request(struct ipc_reply *reply, struct ovl_request *req, const char *err, void *arg)
{
	struct ovl_response r = { .result = OVL_RES_OK };
	if (req)
		ovl_request_free(req);
	else
		ovl_response_err(&r, "%s", err);
	ipc_reply_send(reply, &r);
	ovl_response_free(&r);
}

static void *loop_main(void *p)
{
	evloop_run(p);
	return NULL;
}

static void do_broadcast(void *p)
{
	struct ctx *c = p;
	struct ovl_event ev = { .kind = OVL_EV_PEER_HEALTH_CHANGED, .healthy = true };
	key_from_base64(KEY, ev.pubkey);
	ipc_server_broadcast(c->srv, &ev);
}

static void do_stop(void *p)
{
	evloop_stop(p);
}

static void ping(int fd)
{
	const char *req = "{\"frame\":\"request\",\"id\":1,\"request\":{\"op\":\"status\"}}";
	assert_int_equal(ipc_client_send(fd, req, strlen(req)), 0);
	char *body;
	size_t len;
	assert_int_equal(ipc_client_recv(fd, &body, &len), 0);
	assert_non_null(strstr(body, "\"result\":\"ok\""));
	free(body);
}

static void events_reach_every_client(void **state)
{
	char dir[] = "/tmp/ovl-ipc-test-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	struct ctx c = { .loop = evloop_new() };
	assert_non_null(c.loop);
	char err[256];
	struct ipc_server_config cfg = { .path = path, .mode = 0660, .gid = (gid_t)-1, .on_request = on_request,
					 .arg = &c };
	c.srv = ipc_server_new(c.loop, &cfg, err, sizeof(err));
	assert_non_null(c.srv);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, loop_main, c.loop), 0);

	int fds[3];
	for (int i = 0; i < 3; i++) {
		fds[i] = ipc_client_connect(path);
		assert_true(fds[i] >= 0);
		ping(fds[i]); /* the server has accepted this client */
	}
	assert_int_equal(evloop_post(c.loop, do_broadcast, &c), 0);
	for (int i = 0; i < 3; i++) {
		char *body;
		size_t len;
		assert_int_equal(ipc_client_recv(fds[i], &body, &len), 0);
		assert_string_equal(body, "{\"frame\":\"event\",\"event\":\"peer_health_changed\",\"pubkey\":\"" KEY
					  "\",\"healthy\":true}");
		free(body);
		ping(fds[i]); /* still a working request connection */
		close(fds[i]);
	}
	assert_int_equal(evloop_post(c.loop, do_stop, c.loop), 0);
	pthread_join(t, NULL);
	ipc_server_free(c.srv);
	evloop_free(c.loop);
	assert_int_equal(access(path, F_OK), -1); /* socket removed */
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(events_reach_every_client),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

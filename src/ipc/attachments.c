// SPDX-License-Identifier: MIT
#include "ipc/attachments.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "state/model_json.h"

static json_t *handle_json(const struct ovl_handle *h)
{
	if (h->platform == OVL_HANDLE_LINUX_PID)
		return json_pack("{s:s, s:I}", "platform", "linux_pid", "pid", (json_int_t)h->pid);
	return json_pack("{s:s, s:s}", "platform", h->platform == OVL_HANDLE_HOST_SHARED ? "host_shared" : "guest_managed",
			 "id", h->id ? h->id : "");
}

/* The list as JSON text (malloc'd), or NULL when out of memory. */
static char *encode(const struct ovl_res_status *s, size_t *len)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < s->n_attachments; i++) {
		const struct ovl_attachment_status *t = &s->attachments[i];
		json_t *e = json_object();
		if (json_array_append_new(a, e) < 0 || mj_set_new(e, "handle", handle_json(&t->handle)) < 0 ||
		    (t->service && mj_set_new(e, "service", json_string(t->service)) < 0) ||
		    mj_set_new(e, "ip", mj_ip_string(&t->ip)) < 0 ||
		    (t->has_global_ip && mj_set_new(e, "global_ip", mj_ip_string(&t->global_ip)) < 0)) {
			json_decref(a);
			return NULL;
		}
	}
	char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	*len = text ? strlen(text) : 0;
	return text;
}

/* The last version encoded; the lock covers it and its use. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t cached_version;
static char *cached;
static size_t cached_len;

char *codec_add_attachments(char *frame, size_t *len, const struct ovl_res_status *s)
{
	static const char placeholder[] = CODEC_ATTACHMENTS_PLACEHOLDER;
	/*
	 * The first match is the key: in a JSON string the quotes would be
	 * escaped, and status has no keys of the client's choosing.
	 */
	char *at = memmem(frame, *len, placeholder, sizeof(placeholder) - 1);
	if (!at) {
		free(frame);
		return NULL;
	}
	pthread_mutex_lock(&lock);
	if (!cached || !s->attachments_version || s->attachments_version != cached_version) {
		size_t n;
		char *text = encode(s, &n);
		if (!text) {
			pthread_mutex_unlock(&lock);
			free(frame);
			return NULL;
		}
		free(cached);
		cached = text;
		cached_len = n;
		cached_version = s->attachments_version;
	}
	/* `null` goes, the list comes. */
	size_t head = (size_t)(at - frame) + sizeof(placeholder) - 1 - 4, tail = *len - head - 4;
	size_t total = head + cached_len + tail;
	char *out = malloc(total + 1);
	if (out) {
		memcpy(out, frame, head);
		memcpy(out + head, cached, cached_len);
		memcpy(out + head + cached_len, frame + head + 4, tail + 1); /* with the NUL */
		*len = total;
	}
	if (!s->attachments_version) { /* not a version: not kept */
		free(cached);
		cached = NULL;
	}
	pthread_mutex_unlock(&lock);
	free(frame);
	return out;
}

/* SPDX-License-Identifier: MIT */
/*
 * The "attachments" extension of a status answer, as JSON text. status lists
 * every attachment, so with 1,000 containers its encoding was most of the
 * answer's cost, paid again on every call. The text of the last list version
 * encoded (ovl_res_status.attachments_version, unique in the process) is
 * kept, and a status answer of the same version copies it instead.
 */
#ifndef OVL_IPC_ATTACHMENTS_H
#define OVL_IPC_ATTACHMENTS_H

#include <stddef.h>

#include "proto/request.h"

/* What the answer's encoder puts where the list goes. */
#define CODEC_ATTACHMENTS_PLACEHOLDER "\"attachments\":null"

/*
 * frame: an encoded status answer (NUL-terminated, *len bytes) holding the
 * placeholder. Returns it with s's list in the placeholder's place, as a new
 * string (frame is freed; *len updated), or NULL when out of memory (frame is
 * freed too). Thread-safe.
 */
char *codec_add_attachments(char *frame, size_t *len, const struct ovl_res_status *s);

#endif

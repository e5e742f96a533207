/* SPDX-License-Identifier: MIT */
/*
 * JSON (jansson) forms of the model values, shared by the IPC codec (wire)
 * and the state file, plus typed field readers with user-facing errors.
 *
 * Readers follow the protocol's rules: a missing or null optional field
 * leaves the default; a missing/null required field or a mistyped one is an
 * error whose message names the field ("field `wg_port`: expected an integer
 * 0..65535").
 */
#ifndef OVL_STATE_MODEL_JSON_H
#define OVL_STATE_MODEL_JSON_H

#include <jansson.h>

#include "state/model.h"

/* Field readers: 0 = read, 1 = absent/null (optional only; *out untouched), -EINVAL = error. */
int mj_string(const json_t *obj, const char *key, bool required, const char **out, char *err, size_t errlen);
/* mj_string, copied to the heap (the caller frees *out); -ENOMEM too. */
int mj_string_dup(const json_t *obj, const char *key, bool required, char **out, char *err, size_t errlen);
int mj_u64(const json_t *obj, const char *key, bool required, uint64_t *out, char *err, size_t errlen);
int mj_u16(const json_t *obj, const char *key, bool required, uint16_t *out, char *err, size_t errlen);
int mj_u32(const json_t *obj, const char *key, bool required, uint32_t *out, char *err, size_t errlen);
int mj_bool(const json_t *obj, const char *key, bool required, bool *out, char *err, size_t errlen);
int mj_ip(const json_t *obj, const char *key, bool required, struct ip_addr *out, char *err, size_t errlen);
int mj_prefix(const json_t *obj, const char *key, bool required, struct ip_prefix *out, char *err, size_t errlen);
int mj_key(const json_t *obj, const char *key, bool required, uint8_t out[WG_KEY_LEN], char *err, size_t errlen);
/* An array field (absent/null = 1); *out borrowed. */
int mj_array(const json_t *obj, const char *key, bool required, json_t **out, char *err, size_t errlen);
int mj_object(const json_t *obj, const char *key, bool required, json_t **out, char *err, size_t errlen);

/* PeerSpec fields read from obj (the add_peer request carries them flattened). */
int mj_peer_from_json(const json_t *obj, struct ovl_peer_spec *out, char *err, size_t errlen);
json_t *mj_peer_to_json(const struct ovl_peer_spec *p);
int mj_candidate_from_json(const json_t *obj, struct ovl_candidate *out, char *err, size_t errlen);
json_t *mj_candidate_to_json(const struct ovl_candidate *c);
int mj_nat_from_json(const json_t *obj, struct ovl_nat_config *out, char *err, size_t errlen);
json_t *mj_nat_to_json(const struct ovl_nat_config *c);

/* Helpers for writers: set only when present. */
int mj_set_new(json_t *obj, const char *key, json_t *value); /* steals value; -ENOMEM */
json_t *mj_ip_string(const struct ip_addr *a);
json_t *mj_prefix_string(const struct ip_prefix *p);
json_t *mj_key_string(const uint8_t key[WG_KEY_LEN]);

#endif

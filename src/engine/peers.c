// SPDX-License-Identifier: MIT
/*
 * add_peer / remove_peer / add_allowed_ip / remove_allowed_ip.
 *
 * Global scope: the peer set is recorded in the state (PeerSpec form, with
 * its NAT candidates) whether or not a device is up, so the data plane can
 * install it once the device exists and guest configs can reproduce it.
 * Without a host device the on-device step is skipped with a warning, as in
 * the original. Service scope needs that service's dedicated device.
 */
#include "engine/priv.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"

/* The dedicated device for a service scope; none exist in this build. */
static bool dedicated_exists(struct engine *e, const char *service)
{
	return false;
}

static bool scope_ok(struct engine *e, const struct ovl_scope *s, struct ovl_response *resp)
{
	if (s->service && !dedicated_exists(e, s->service)) {
		ovl_response_err(resp, "no dedicated overlay for service %s", s->service);
		return false;
	}
	return true;
}

void peers_add(struct engine *e, const struct ovl_peer_spec *p, const struct ovl_scope *s, struct ovl_response *resp)
{
	if (!scope_ok(e, s, resp))
		return;
	char k[WG_KEY_B64_LEN + 1];
	key_to_base64(p->public_key, k);
	if (!e->global_up)
		log_warn("add_peer %s: global overlay has no host device yet; peer recorded, to be installed "
			 "when the device is up",
			 k);
	if (state_put_peer(&e->st, p) < 0) {
		ovl_response_err(resp, "add_peer %s: out of memory", k);
		return;
	}
	e->dirty = true;
	resp_ok(resp);
}

void peers_remove(struct engine *e, const uint8_t key[WG_KEY_LEN], const struct ovl_scope *s,
		  struct ovl_response *resp)
{
	if (!scope_ok(e, s, resp))
		return;
	if (state_remove_peer(&e->st, key))
		e->dirty = true;
	resp_ok(resp);
}

static bool has_prefix(const struct ovl_peer_spec *p, const struct ip_prefix *c)
{
	for (size_t i = 0; i < p->n_allowed_ips; i++)
		if (ip_prefix_equal(&p->allowed_ips[i], c))
			return true;
	return false;
}

void peers_allowed_ip(struct engine *e, bool add, const uint8_t key[WG_KEY_LEN], const struct ip_prefix *cidr,
		      const struct ovl_scope *s, struct ovl_response *resp)
{
	if (!scope_ok(e, s, resp))
		return;
	char k[WG_KEY_B64_LEN + 1];
	key_to_base64(key, k);
	struct ovl_peer_spec *p = state_find_peer(&e->st, key);
	if (!p) {
		/* The original's no-device path skips silently; keep it ok but say why. */
		log_warn("%s_allowed_ip: peer %s is not known; nothing recorded", add ? "add" : "remove", k);
		resp_ok(resp);
		return;
	}
	if (add && !has_prefix(p, cidr)) {
		struct ip_prefix *n = realloc(p->allowed_ips, (p->n_allowed_ips + 1) * sizeof(*n));
		if (!n) {
			ovl_response_err(resp, "add_allowed_ip %s: out of memory", k);
			return;
		}
		p->allowed_ips = n;
		p->allowed_ips[p->n_allowed_ips++] = *cidr;
		e->dirty = true;
	} else if (!add) {
		for (size_t i = 0; i < p->n_allowed_ips; i++) {
			if (ip_prefix_equal(&p->allowed_ips[i], cidr)) {
				memmove(&p->allowed_ips[i], &p->allowed_ips[i + 1],
					(p->n_allowed_ips - i - 1) * sizeof(*p->allowed_ips));
				p->n_allowed_ips--;
				e->dirty = true;
				break;
			}
		}
	}
	resp_ok(resp);
}

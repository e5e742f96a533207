/* SPDX-License-Identifier: MIT */
/*
 * Userspace WireGuard, as a library: the daemon runs its devices in-process
 * through these functions; overlayd-wg(8) wraps one device in a
 * wireguard-go-compatible command. Every device also serves the UAPI on
 * <uapi_dir>/<ifname>.sock, so `wg show` works on it.
 *
 * Thread-safety: every function may be called from any thread while the
 * device's own threads run the data path. Several devices may live in one
 * process; the only state they share is one sample of the free CPUs
 * (placement.h), refreshed by whichever device's timer thread finds it old.
 *
 * Callbacks run on the device's threads with internal locks held: they must
 * not call wg_* functions on the same device (queue the work instead).
 */
#ifndef OVL_WG_WG_H
#define OVL_WG_WG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/inet.h"
#include "util/key.h"

struct wg_device;

/*
 * At most this many TUN queues (and reader threads) per device. Each costs
 * ~640 KiB of send buffers, and the kernel spreads flows over queues: more
 * queues than concurrent bulk flows bring nothing.
 */
#define WG_MAX_QUEUES 8
#define WG_MAX_RELAY_SERVERS 8 /* wg_device_set_relay_servers() */

/* A handshake with peer completed (a new session is in use). */
typedef void (*wg_handshake_fn)(void *user, const uint8_t peer_key[WG_KEY_LEN]);
/* An authenticated packet came from a new address of peer (roaming). */
typedef void (*wg_endpoint_fn)(void *user, const uint8_t peer_key[WG_KEY_LEN],
			       const struct ip_endpoint *endpoint);
/*
 * A datagram on the device's UDP port that is not WireGuard (STUN: see
 * wg_is_stun(), or anything else). Called on the receive thread; copy what
 * you keep. Without a hook such datagrams are counted and dropped.
 */
typedef void (*wg_datagram_fn)(void *user, const uint8_t *buf, size_t len,
			       const struct ip_endpoint *from);
/* The device died on its own (its link was deleted). */
typedef void (*wg_dead_fn)(void *user);

struct wg_device_config {
	const char *ifname;			/* <= 15 bytes; required */
	const uint8_t *private_key;		/* NULL: none yet */
	uint16_t listen_port;			/* 0: pick a free one */
	uint32_t fwmark;			/* 0: none */
	unsigned mtu;				/* 0: 1420 */
	const char *uapi_dir;			/* NULL: /var/run/wireguard */
	bool no_uapi;				/* don't serve the UAPI socket */
	/*
	 * TUN queues, each read by its own thread that encrypts what it reads:
	 * bulk flows spread over that many cores. 0: one per online CPU, at
	 * most WG_MAX_QUEUES. A re-attached single-queue link keeps
	 * its one queue.
	 */
	unsigned queues;
	wg_handshake_fn on_handshake;
	wg_endpoint_fn on_endpoint;
	wg_datagram_fn on_datagram;
	wg_dead_fn on_dead;
	void *user;
};

/*
 * Creates the TUN device (in the calling thread's network namespace; needs
 * CAP_NET_ADMIN), the UDP sockets, the UAPI socket and the threads. The link
 * is left down with no addresses: bring it up and address it as for any
 * interface. Returns 0 or a negative errno (the reason is also logged).
 */
int wg_device_create(const struct wg_device_config *cfg, struct wg_device **out);
/*
 * Stops the threads, removes the TUN device (unless it was made persistent)
 * and the UAPI socket, frees all.
 */
void wg_device_destroy(struct wg_device *dev);
/*
 * TUNSETPERSIST: the TUN link (its addresses and routes) outlives the device
 * and the process, so a restarted daemon re-attaches to it by name with
 * wg_device_create() (the kernel refuses a link that is not a TUN of ours, or
 * one another process holds). A persistent link is removed by deleting it.
 */
int wg_device_set_persistent(struct wg_device *dev, bool persistent);
/*
 * 1 when the existing link ifname is a TUN we would have made and may
 * re-attach: persistent, our flags (not a TAP, no packet info, virtio-net
 * header; multi-queue, or single-queue as older versions made it), owned by
 * our effective uid and gid or by nobody.
 * 0 otherwise, with the reason in why.
 */
int wg_tun_reusable(const char *ifname, char *why, size_t whylen);

const char *wg_device_ifname(const struct wg_device *dev);
/* Rebinds both sockets; -EADDRINUSE leaves the old port in place. */
int wg_device_set_listen_port(struct wg_device *dev, uint16_t port);
uint16_t wg_device_listen_port(struct wg_device *dev);

struct wg_peer_config {
	uint8_t public_key[WG_KEY_LEN];
	bool update_only;		  /* do nothing if the peer does not exist */
	bool set_preshared_key;
	uint8_t preshared_key[WG_KEY_LEN]; /* all zero: none */
	bool set_endpoint;
	struct ip_endpoint endpoint;
	bool set_persistent_keepalive;
	uint16_t persistent_keepalive; /* seconds; 0: off */
	bool replace_allowed_ips;      /* drop the existing ones first */
	const struct ip_prefix *allowed_ips;
	size_t n_allowed_ips;
};

/* Create or update a peer. A peer with the device's own public key is ignored. */
int wg_peer_upsert(struct wg_device *dev, const struct wg_peer_config *cfg);
/* -ENOENT when there is no such peer. */
int wg_peer_remove(struct wg_device *dev, const uint8_t key[WG_KEY_LEN]);
int wg_peer_add_allowed_ip(struct wg_device *dev, const uint8_t key[WG_KEY_LEN],
			   const struct ip_prefix *prefix);
int wg_peer_remove_allowed_ip(struct wg_device *dev, const uint8_t key[WG_KEY_LEN],
			      const struct ip_prefix *prefix);
/*
 * Sends a handshake initiation to the peer now (when it has an endpoint and
 * none was sent in the last REKEY_TIMEOUT), instead of on its first packet:
 * a restarted device gets a session before traffic needs one. -ENOENT when
 * there is no such peer.
 */
int wg_peer_initiate_handshake(struct wg_device *dev, const uint8_t key[WG_KEY_LEN]);
/*
 * One keepalive to the peer now, on its current path (or a handshake when
 * no session runs). For NAT traversal: a persistent keepalive is sent only
 * when nothing crossed in either direction, so of an idle pair one side may
 * only ever receive; a path's liveness needs packets both ways.
 */
int wg_peer_send_keepalive(struct wg_device *dev, const uint8_t key[WG_KEY_LEN]);

struct wg_peer_status {
	char public_key[WG_KEY_B64_LEN + 1];
	bool has_endpoint;
	struct ip_endpoint endpoint;
	struct ip_prefix *allowed_ips;
	size_t n_allowed_ips;
	int64_t last_handshake_sec; /* Unix time; 0: never */
	long last_handshake_nsec;
	uint64_t rx_bytes, tx_bytes;
	uint64_t rx_packets, tx_packets;   /* WireGuard messages, as the bytes count them */
	uint64_t handshake_attempts;	   /* initiations sent */
	uint64_t handshake_failures;	   /* handshakes given up after every retry */
	uint64_t endpoint_changes;	   /* roaming, or set from the configuration */
	uint16_t persistent_keepalive;
	bool has_preshared_key;
	/*
	 * For NAT traversal's path selection (Unix ms, 0: never): the last
	 * authenticated packet that came directly (not through a TURN server)
	 * and through each of wg_device_set_relay_servers()'s servers (in its
	 * order); when the direct path was last proven both ways (a handshake
	 * whose two messages crossed it: see pathobs.c). relayed: the peer is
	 * on the relayed path now.
	 */
	int64_t direct_rx_ms, direct_proven_ms;
	int64_t relay_rx_ms[WG_MAX_RELAY_SERVERS];
	bool relayed;
};

struct wg_device_status {
	char ifname[16];
	bool has_private_key;
	char public_key[WG_KEY_B64_LEN + 1];
	uint16_t listen_port;
	uint32_t fwmark;
	uint64_t cookie_replies;	  /* sent to initiators while under load */
	uint64_t handshakes_rate_limited; /* dropped: over their source's rate, or no valid cookie under load */
	struct wg_peer_status *peers;
	size_t n_peers;
};

int wg_device_status(struct wg_device *dev, struct wg_device_status **out);
void wg_device_status_free(struct wg_device_status *st);

/*
 * NAT traversal: one new handshake initiation to the peer, sent from the
 * device's port to each of eps at once. The peer's endpoint is left alone:
 * whichever candidate answers first becomes it, by the ordinary roaming
 * rule (authenticated packet from a new address), and on_endpoint reports
 * it. A peer on a relay with no session yet gets the same initiation through
 * the relay too (the probe replaces the handshake in flight). Returns how many were sent to
 * eps, or -ENOENT (no such peer), -ENOKEY.
 */
int wg_peer_probe(struct wg_device *dev, const uint8_t key[WG_KEY_LEN], const struct ip_endpoint *eps, size_t n);

/*
 * NAT traversal through a TURN relay (relay.c). The device's TURN servers
 * (resolved; at most 8): ChannelData from them is unwrapped and handed to
 * WireGuard, from anyone else it is not; and a packet through them never
 * makes a server a peer's plain endpoint. With a server reached over IPv6
 * the TUN link's MTU is 4 bytes below the configured one (ChannelData's
 * header), so that relayed datagrams are no larger than direct ones. 0, or
 * -E2BIG.
 */
int wg_device_set_relay_servers(struct wg_device *dev, const struct ip_endpoint *servers, size_t n);
/*
 * Puts the peer on the relayed path: its datagrams go to server (one of the
 * device's TURN servers) as ChannelData on channel (0x4000-0x4FFF, bound by
 * the caller's TURN client). The session is the same on any path; no
 * handshake is started here (of a pair, only one node should initiate:
 * wg_peer_initiate_handshake). server NULL: back to its UDP endpoint. The
 * endpoint itself is left alone (authenticated packets arriving directly
 * still update it). 0, -ENOENT, or -EINVAL (a channel out of range, a
 * server not configured).
 */
int wg_peer_set_relay_path(struct wg_device *dev, const uint8_t key[WG_KEY_LEN], const struct ip_endpoint *server,
			   uint16_t channel);
/*
 * The relayed path without a channel (none bound yet, or the server refuses
 * ChannelBind): the peer's datagrams go to server as TURN Send indications
 * (XOR-PEER-ADDRESS target, DATA) - target being the address the caller's
 * TURN client holds a permission for. Each costs a copy and a syscall of
 * its own (no batching); wg_peer_set_relay_path() puts the peer back on
 * ChannelData once its channel is bound. 0, -ENOENT, or -EINVAL (a server
 * not configured, target unset).
 */
int wg_peer_set_relay_send(struct wg_device *dev, const uint8_t key[WG_KEY_LEN], const struct ip_endpoint *server,
			   const struct ip_endpoint *target);

/*
 * A WireGuard message that came through server (one of the device's TURN
 * servers) in a TURN Data indication, the relay's fallback when no channel
 * is bound: handed to WireGuard as if it had come in ChannelData. At most
 * WG_RELAYED_MAX bytes. Not from a hook (it takes the device's locks).
 * 0, or -EINVAL (not a WireGuard message, too long, not a TURN server).
 */
#define WG_RELAYED_MAX 2048
int wg_device_receive_relayed(struct wg_device *dev, const struct ip_endpoint *server, const uint8_t *buf,
			      size_t len);

/* Send a raw datagram from the device's UDP port (STUN, hole punching). */
int wg_device_send_raw(struct wg_device *dev, const struct ip_endpoint *to, const void *buf,
		       size_t len);
/*
 * True when buf looks like STUN (RFC 5389: top bits 00, magic cookie at
 * bytes 4..7, length field len - 20, len a multiple of 4).
 */
bool wg_is_stun(const uint8_t *buf, size_t len);

int wg_keypair_generate(uint8_t private_key[WG_KEY_LEN], uint8_t public_key[WG_KEY_LEN]);
int wg_public_from_private(const uint8_t private_key[WG_KEY_LEN], uint8_t public_key[WG_KEY_LEN]);

#endif

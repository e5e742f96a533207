/* SPDX-License-Identifier: MIT */
/*
 * The device and peer structures shared by the files that implement them
 * (device.c, peer.c, timers.c, socket.c, send.c, receive.c, threads.c,
 * pollmode.c, uapi.c, uapi_server.c). Not public: the daemon uses wg.h.
 *
 * Locking, outermost first:
 *   dev->lock (rwlock, writer-preferring): configuration - identity, peer
 *     list, allowed IPs, sockets. Data path and timer threads hold it for
 *     reading; configuration changes take it for writing, so a peer is only
 *     freed when no packet is being processed.
 *   peer->lock (mutex): one peer's handshake, keypairs, endpoint, timers,
 *     staged packets.
 *   dev->cookie_lock, the index table, the rate limiters and the handshake
 *     queue: leaf locks.
 */
#ifndef OVL_WG_DEVICE_H
#define OVL_WG_DEVICE_H

#include <linux/if_tun.h>
#include <net/if.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "wg/allowedips.h"
#include "wg/cookie.h"
#include "wg/handshake.h"
#include "wg/index.h"
#include "wg/messages.h"
#include "wg/ordered.h"
#include "wg/noise.h"
#include "wg/pollmode.h"
#include "wg/ratelimit.h"
#include "wg/wg.h"

#define WG_MAX_STAGED 128
#define WG_BATCH 64
/*
 * The TUN flags of every device (device.c asks for them, persist.c checks a
 * link it would re-attach to): a virtio-net header per packet for the
 * offloads, no packet information, several queues (one reader thread each).
 * A persistent link of an older version has one queue and no
 * IFF_MULTI_QUEUE: it is re-attached as it is, with one queue.
 */
#define WG_TUN_FLAGS (IFF_TUN | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE)

struct wg_staged {
	STAILQ_ENTRY(wg_staged) link;
	size_t len;
	uint8_t data[];
};

struct wg_peer {
	TAILQ_ENTRY(wg_peer) link;
	struct wg_device *dev;
	uint8_t public_key[WG_KEY_LEN];
	struct wg_aip_owner aips; /* under dev->lock */

	pthread_mutex_t lock;
	struct noise_handshake hs;
	struct wg_cookie_maker cookie;
	struct noise_keypair *kp_current, *kp_previous, *kp_next;
	bool has_endpoint;
	struct ip_endpoint endpoint;
	/*
	 * The local address the endpoint's packets arrive on (family 0: none
	 * known): ours leave from it, as kernel WireGuard does, so a host with
	 * several addresses answers from the one the peer sent to.
	 */
	struct ip_addr src;
	uint16_t persistent_keepalive;
	uint64_t last_handshake_unix_ns; /* wall clock, for wg show */
	uint64_t last_initiation_sent_ns;
	unsigned handshake_attempts;
	bool sent_lastminute_handshake;
	bool need_another_keepalive;
	/* Timer deadlines (monotonic ns); 0 = not armed. */
	uint64_t t_retransmit, t_send_keepalive, t_new_handshake, t_zero_keys, t_persistent;
	/*
	 * The relayed path (relay.c): when set, datagrams to the peer go to the
	 * TURN server relay_server as ChannelData on relay_channel, or, with
	 * relay_channel 0 (no channel bound), as Send indications towards
	 * relay_target, whatever the endpoint; the endpoint is kept (and still
	 * roams) for the way back.
	 */
	bool relay;
	struct ip_endpoint relay_server, relay_target;
	uint16_t relay_channel;
	/* What its paths did, for the NAT agent (pathobs.c); wg_now_ns() times, 0: never. */
	struct {
		uint64_t direct_rx_ns, direct_proven_ns;
		uint64_t relay_rx_ns[WG_MAX_RELAY_SERVERS]; /* by index in the device's relay_servers */
		bool initiation_direct;		    /* the last initiation left directly */
		uint32_t answered_direct_index;	    /* the session we answered directly; 0: none */
	} path;
	STAILQ_HEAD(, wg_staged) staged;
	unsigned n_staged;

	atomic_uint_fast64_t rx_bytes, tx_bytes;
	/* For wg_device_status (metrics): relaxed adds next to the byte counts. */
	atomic_uint_fast64_t rx_packets, tx_packets;
	atomic_uint_fast64_t handshake_initiations, handshake_failures, endpoint_changes;
};

TAILQ_HEAD(wg_peer_list, wg_peer);

/*
 * One queue of the multi-queue TUN device. The kernel puts each flow's
 * packets on one queue (by flow hash, or the queue we last wrote that
 * flow's packets to: see wg_rx_queue), and one thread reads, encrypts and
 * sends each queue's packets in order: a flow is never reordered, and
 * different flows are encrypted on different cores. Queue 0's reader is
 * "the TUN reader" of pollmode.h (solo polling).
 */
struct wg_tun_queue {
	struct wg_device *dev;
	unsigned index;
	int fd;
	pthread_mutex_t tx_lock; /* guards tx: this queue's reads and its send batch */
	struct tun_reader *tx;
	pthread_t thread;
	bool running;
};

struct wg_device {
	char ifname[IFNAMSIZ];
	struct wg_device_config cfg; /* callbacks and user data; strings not kept */
	char uapi_path[108];

	pthread_mutex_t config_lock; /* serialises configuration changes (outside lock) */
	pthread_rwlock_t lock;
	struct noise_identity identity;
	struct wg_peer_list peers;
	size_t n_peers;
	struct wg_allowedips aips;
	uint16_t port;
	uint32_t fwmark;
	/* The TUN link's MTU, which padding stays within: the configured one,
	 * less what relaying costs (wg_device_set_relay_servers). With dev->lock. */
	unsigned mtu;

	pthread_mutex_t cookie_lock;
	struct wg_cookie_checker cookie_checker;
	struct wg_ratelimit ratelimit;	      /* handshakes per source; load detection */
	struct wg_ratelimit cookie_ratelimit; /* cookie replies per source */
	struct wg_handshake_queue *handshakes; /* NULL: no worker, handshakes inline */
	struct wg_pool *crypt; /* NULL: no workers, receive batches decrypted by their reader */
	atomic_uint_fast64_t cookie_replies_limited; /* withheld: over the source's rate */
	atomic_uint_fast64_t cookie_replies_sent;
	atomic_uint_fast64_t hs_rate_limited; /* handshakes dropped over their source's rate */
	struct wg_index_table index;

	unsigned n_queues; /* TUN queues, each with its reader thread; fixed at creation */
	struct wg_tun_queue queue[WG_MAX_QUEUES];
	int udp_fd[2]; /* [0] IPv4, [1] IPv6; -1 when absent */
	/*
	 * One reader at a time per data socket (the UDP reader, or a TUN reader
	 * polling it): what arrived in order is written to the TUN device in
	 * order, whoever reads.
	 */
	pthread_mutex_t udp_rx_lock[2];
	int hs_fd[2];  /* the same port's handshake sockets (socket.c); -1 when absent */
	int stop_fd;   /* eventfd: all threads */
	int net_stop_fd; /* eventfd: UDP receive threads, to rebind */
	int poll_kick[WG_POLLERS]; /* eventfds, one per poller (pollmode.h) */
	atomic_int poll_mode; /* enum wg_poll_mode */
	atomic_uint_fast64_t last_traffic_ns; /* any data-path thread handled packets */
	atomic_uint_fast64_t split_hold_ns; /* bulk traffic: no solo mode before this */
	/* Datagrams that were not WireGuard, dropped for want of a hook (socket.c). */
	atomic_uint_fast64_t rx_stun_dropped, rx_other_dropped;
	/* The TURN servers whose ChannelData is unwrapped (relay.c); under lock. */
	struct ip_endpoint relay_servers[WG_MAX_RELAY_SERVERS];
	size_t n_relay_servers;
	atomic_uint_fast64_t rx_relay_dropped; /* ChannelData that held no WireGuard message */
	atomic_uint_fast64_t relay_indications; /* Send indications sent: their transaction ids */
	int uapi_fd;
	dev_t uapi_st_dev; /* identity of our socket file, to notice its removal */
	ino_t uapi_st_ino;
	pthread_t timer_thread, uapi_thread, udp_thread[2], handshake_thread, hs_reader_thread;
	bool udp_running[2], uapi_running, handshake_running, hs_reader_running;
	atomic_bool stopping;
	atomic_bool dead;
};

uint64_t wg_now_ns(void);      /* CLOCK_BOOTTIME: keeps counting during suspend */
uint64_t wg_unix_now_ns(void); /* CLOCK_REALTIME */
uint64_t wg_thread_cpu_ns(void); /* CPU time of the calling thread */

/* peer.c - all with dev->lock held for writing unless noted */
struct wg_peer *wg_peer_find(struct wg_device *dev, const uint8_t key[WG_KEY_LEN]);
struct wg_peer *wg_peer_create(struct wg_device *dev, const uint8_t key[WG_KEY_LEN]);
void wg_peer_destroy(struct wg_peer *peer);
/* With peer->lock held: */
void wg_peer_zero_keys(struct wg_peer *peer);
void wg_peer_add_keypair(struct wg_peer *peer, struct noise_keypair *kp);
/* True when kp was the unconfirmed next keypair and is now current. */
bool wg_peer_confirm_keypair(struct wg_peer *peer, struct noise_keypair *kp);
/* An authenticated packet from ep, received on local (NULL: unknown). */
void wg_peer_set_endpoint(struct wg_peer *peer, const struct ip_endpoint *ep, const struct ip_addr *local);
int wg_peer_apply(struct wg_device *dev, const struct wg_peer_config *cfg);

/* timers.c - with peer->lock held */
void wg_timers_data_sent(struct wg_peer *peer);
void wg_timers_data_received(struct wg_peer *peer);
void wg_timers_any_authenticated_packet_sent(struct wg_peer *peer);
void wg_timers_any_authenticated_packet_received(struct wg_peer *peer);
void wg_timers_any_authenticated_packet_traversal(struct wg_peer *peer);
void wg_timers_handshake_initiated(struct wg_peer *peer);
void wg_timers_handshake_complete(struct wg_peer *peer);
void wg_timers_session_derived(struct wg_peer *peer);
void wg_timers_stop(struct wg_peer *peer);
/* Run due timers of every peer; dev->lock held for reading. */
void wg_timers_tick(struct wg_device *dev);

/* send.c - with peer->lock held unless noted */
/*
 * How datagrams reach a peer, chosen here: wg_send_to_peer carries every
 * kind, and the batched TUN-to-UDP path (tun_packet in send.c) UDP and
 * ChannelData (its header written in front in place); Send indications go
 * one by one through wg_send_to_peer.
 */
enum wg_path_kind {
	WG_PATH_NONE,	    /* no endpoint known */
	WG_PATH_UDP,	    /* *ep: the peer's UDP endpoint */
	WG_PATH_RELAY,	    /* *ep: the TURN server; ChannelData on peer->relay_channel */
	WG_PATH_RELAY_SEND, /* *ep: the TURN server; Send indications to peer->relay_target */
};
enum wg_path_kind wg_peer_path(const struct wg_peer *peer, struct ip_endpoint *ep, struct ip_addr *src);
int wg_send_to_peer(struct wg_peer *peer, const void *buf, size_t len);
void wg_send_initiation(struct wg_peer *peer, bool is_retry);
void wg_send_keepalive(struct wg_peer *peer);
void wg_send_staged(struct wg_peer *peer);
void wg_stage_packet(struct wg_peer *peer, const uint8_t *pkt, size_t len);
/*
 * Read, encrypt and send what is queued on TUN queue q (one batch).
 * With dev->lock (read) and q->tx_lock held. Returns the number of
 * reads, or -errno when the TUN device failed (the link is gone); segments,
 * unless NULL, gets the number of packets they held (TSO reads hold many). Besides
 * the TUN reader thread, a UDP reader calls it right after writing to the
 * TUN device: replies and ACKs the kernel produced synchronously go out at
 * once, without waking another thread.
 */
int wg_tun_drain(struct wg_device *dev, struct wg_tun_queue *q, unsigned *segments);
/* The MTU the device was created with (its config's, else the default). */
static inline unsigned wg_device_configured_mtu(const struct wg_device *dev)
{
	return dev->cfg.mtu ? dev->cfg.mtu : WG_DEFAULT_MTU;
}
/* Sets the MTU of the TUN link ifname (logged when refused). 0 or -errno. */
int wg_tun_set_mtu(const char *ifname, unsigned mtu);
struct tun_reader;
struct tun_reader *wg_tun_tx_new(void);
void wg_tun_tx_free(struct tun_reader *r);

/* receive.c */
struct wg_rx; /* a receive batch's state (TUN write coalescing) */
struct wg_rx *wg_rx_new(void);
void wg_rx_free(struct wg_rx *rx);
/*
 * Process one WireGuard message (socket.c has classified it). rx may be
 * NULL (each packet then goes to the TUN device at once); otherwise call
 * wg_rx_flush after a batch.
 */
void wg_receive_datagram(struct wg_device *dev, struct wg_rx *rx, uint8_t *buf, size_t len,
			 const struct ip_endpoint *src);
/* The same, for a datagram that arrived on the local address local (IP_PKTINFO). */
void wg_receive_datagram_on(struct wg_device *dev, struct wg_rx *rx, uint8_t *buf, size_t len,
			    const struct ip_endpoint *src, const struct ip_addr *local);
/* The same for a message whose type the caller has classified (wg_message_classify). */
void wg_receive_message(struct wg_device *dev, struct wg_rx *rx, enum wg_message_type type, uint8_t *buf,
			size_t len, const struct ip_endpoint *src, const struct ip_addr *local);
/*
 * A data message in two steps, so that the costly first one can run on any
 * thread (ordered.h) while the second runs in arrival order. Open: the
 * keypair (a reference) and the decryption in place; plen < 0 when the
 * message is dropped. With dev->lock held for reading.
 */
struct wg_rx_data {
	struct wg_peer *peer;
	struct noise_keypair *kp;
	int plen;
};
void wg_receive_data_open(struct wg_device *dev, uint8_t *buf, size_t len, struct wg_rx_data *d);
/* Deliver: the peer's state (endpoint, timers), cryptokey routing, the TUN write; drops the reference. */
void wg_receive_data_deliver(struct wg_device *dev, struct wg_rx *rx, uint8_t *buf, size_t len,
			     const struct wg_rx_data *d, const struct ip_endpoint *src,
			     const struct ip_addr *local);
/*
 * The Diffie-Hellman part of an admitted initiation or response (the
 * handshake worker's job). With dev->lock held for reading.
 */
void wg_receive_handshake(struct wg_device *dev, uint8_t *buf, size_t len,
			  const struct ip_endpoint *src, const struct ip_addr *local);
/*
 * Writes what the batch coalesced; the TUN queues the batch wrote to, one
 * bit per queue index (0: none).
 */
unsigned wg_rx_flush(struct wg_device *dev, struct wg_rx *rx);
/*
 * The TUN queue a received packet is written to. The kernel sends a flow's
 * replies out on the queue its packets were last written to, so this
 * chooses which reader handles the answers: one queue per flow (by a hash
 * of its addresses and ports, the same both ways) while traffic is bulk,
 * and queue 0, the solo poller, while the device is solo.
 */
unsigned wg_rx_queue(const struct wg_device *dev, const uint8_t *pkt, size_t len);

/* socket.c - the demultiplexing itself is in socket.h */
/* Low-level: one datagram from the device's socket of ep's family. */
int wg_udp_send(struct wg_device *dev, const struct ip_endpoint *ep, const void *buf, size_t len);
/* The same for a datagram in n pieces (a relay header in front of a message: no copy). */
int wg_udp_sendv(struct wg_device *dev, const struct ip_endpoint *ep, struct iovec *iov, size_t n);
/*
 * The same from the local address src (family 0: the kernel's choice).
 * When src is no longer ours (-EINVAL, -EADDRNOTAVAIL) the datagram is sent
 * from the kernel's choice and *src is cleared, so the caller forgets it.
 */
int wg_udp_send_from(struct wg_device *dev, const struct ip_endpoint *ep, struct ip_addr *src, const void *buf,
		     size_t len);
/*
 * Writes an IP_PKTINFO / IPV6_PKTINFO control message choosing src as the
 * source address at buf (CMSG_SPACE(sizeof(struct in6_pktinfo)) bytes of
 * room, aligned); returns the bytes used.
 */
size_t wg_pktinfo_put(char *buf, const struct ip_addr *src);
/* A UDP receive batch's buffers and state; one per thread that reads sockets. */
struct udp_reader;
struct udp_reader *wg_udp_rx_new(void);
void wg_udp_rx_free(struct udp_reader *r);
/*
 * Read one batch from UDP socket fd without blocking and process it,
 * then send what the kernel answered through the TUN device. With
 * dev->lock held for reading. Returns the number of datagrams read, those
 * coalesced by UDP GRO counted one by one (0 when none was waiting).
 */
int wg_udp_receive(struct wg_device *dev, struct udp_reader *r, int fd);
/*
 * The same for the data socket of slot (0: IPv4, 1: IPv6) under its
 * udp_rx_lock: waiting for it when wait, else 0 when another thread reads it.
 */
int wg_udp_receive_data(struct wg_device *dev, struct udp_reader *r, int slot, bool wait);
/* With config_lock held and lock NOT held: new sockets on port, readers restarted. */
int wg_device_rebind(struct wg_device *dev, uint16_t port);

/* relay.c - the relayed path's data plane; with dev->lock held (read) */
/* True when ep is one of the device's TURN servers. */
bool wg_relay_is_server(const struct wg_device *dev, const struct ip_endpoint *ep);
/* The 4-byte ChannelData header for len bytes of data on channel (RFC 8656 12.4). */
void wg_channel_data_header(uint8_t hdr[4], uint16_t channel, size_t len);
/* One datagram to the peer through server as ChannelData on channel (header and data, no copy). */
int wg_relay_send(struct wg_device *dev, const struct ip_endpoint *server, uint16_t channel, const void *buf,
		  size_t len);
/* A Send indication's header (RFC 8656 10.1) ahead of the data: at most this long. */
#define WG_SEND_INDICATION_MAX_HEADER (20 + 4 + 20 + 4)
/*
 * The header of a Send indication carrying len bytes to target: the STUN
 * header (txid), XOR-PEER-ADDRESS and the DATA attribute's type and length;
 * the data and its zero padding to 4 bytes follow. Returns its length, or 0
 * when len does not fit a STUN message.
 */
size_t wg_send_indication_header(uint8_t hdr[WG_SEND_INDICATION_MAX_HEADER], const uint8_t txid[12],
				 const struct ip_endpoint *target, size_t len);
/* One datagram to target through server as a Send indication (header, data, padding: no copy). */
int wg_relay_send_indication(struct wg_device *dev, const struct ip_endpoint *server,
			     const struct ip_endpoint *target, const void *buf, size_t len);
/*
 * ChannelData from src (classified WG_DGRAM_CHANNEL_DATA): when src is one of
 * the device's TURN servers and it holds a WireGuard message, that message
 * goes to the receive path as coming from src, which wg_peer_set_endpoint
 * never takes for a plain endpoint. Anything else is counted and dropped.
 */
void wg_relay_receive(struct wg_device *dev, struct wg_rx *rx, uint8_t *buf, size_t len,
		      const struct ip_endpoint *src, const struct ip_addr *local);

/* pathobs.c - with peer->lock held: the receive path tells what came by which path */
void wg_pathobs_initiation_sent(struct wg_peer *peer, bool direct);
void wg_pathobs_initiation(struct wg_peer *peer, const struct ip_endpoint *src, uint64_t now);
void wg_pathobs_response(struct wg_peer *peer, const struct ip_endpoint *src, uint64_t now);
void wg_pathobs_data(struct wg_peer *peer, const struct noise_keypair *kp, const struct ip_endpoint *src,
		     uint64_t now);
/* Our response to an initiation from src (session index), sent back by the path it came. */
int wg_pathobs_send_response(struct wg_peer *peer, const void *resp, size_t len, uint32_t index,
			     const struct ip_endpoint *src, const struct ip_addr *local);
void wg_pathobs_status(const struct wg_peer *peer, struct wg_peer_status *ps);

/* threads.c - thread bodies; dev->lock taken inside */
void *wg_tun_reader(void *arg); /* arg: its struct wg_tun_queue */
void *wg_udp_reader(void *arg); /* arg: a malloc'd wg_udp_reader_arg, freed by the thread */
struct wg_udp_reader_arg {
	struct wg_device *dev;
	int slot;
};
/* The thread that reads the handshake sockets (hs_fd) and queues what it admits. */
void *wg_handshake_reader(void *arg);
/* A UDP reader per open socket, and the handshake reader; with lock NOT held. */
int wg_udp_readers_start(struct wg_device *dev);
void wg_udp_readers_stop(struct wg_device *dev);

/* device.c - with config_lock and lock (write) held */
int wg_device_set_private_key_locked(struct wg_device *dev, const uint8_t key[WG_KEY_LEN]);
int wg_device_set_fwmark_locked(struct wg_device *dev, uint32_t mark);
void wg_device_mark_dead(struct wg_device *dev);
void wg_thread_name(pthread_t t, const char *role, const char *ifname);

/* uapi.c */
int wg_uapi_start(struct wg_device *dev, const char *dir);
void wg_uapi_stop(struct wg_device *dev);
/* Handle one UAPI request read from in, reply to out. -errno on I/O failure. */
int wg_uapi_serve(struct wg_device *dev, FILE *in, FILE *out);

#endif

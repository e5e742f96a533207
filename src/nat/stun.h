/* SPDX-License-Identifier: MIT */
/*
 * STUN (RFC 8489) and TURN (RFC 8656) messages: the wire constants of
 * both, Binding requests, indications and
 * the success answer a peer's check gets (all with FINGERPRINT), a bounds-checked parser, the
 * MESSAGE-INTEGRITY check and ChannelData framing. Messages of any other
 * shape are built with nat/stun_build.h. Pure: no sockets, no clock.
 */
#ifndef OVL_NAT_STUN_H
#define OVL_NAT_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/inet.h"

#define STUN_HEADER_LEN 20
#define STUN_MAGIC_COOKIE 0x2112A442u
#define STUN_TXID_LEN 12
#define STUN_FINGERPRINT_XOR 0x5354554Eu
#define STUN_MAX_MESSAGE 1280 /* the largest message whose integrity we check (requests are small) */

/*
 * A message type is a 12-bit method and a 2-bit class, interleaved
 * (RFC 8489 5): M11..M7 C1 M6..M4 C0 M3..M0.
 */
#define STUN_CLASS_REQUEST 0x0000
#define STUN_CLASS_INDICATION 0x0010
#define STUN_CLASS_SUCCESS 0x0100
#define STUN_CLASS_ERROR 0x0110

#define STUN_METHOD_BINDING 0x001
#define TURN_METHOD_ALLOCATE 0x003
#define TURN_METHOD_REFRESH 0x004
#define TURN_METHOD_SEND 0x006
#define TURN_METHOD_DATA 0x007
#define TURN_METHOD_CREATE_PERMISSION 0x008
#define TURN_METHOD_CHANNEL_BIND 0x009

static inline uint16_t stun_type(uint16_t method, uint16_t cls)
{
	return (uint16_t)((method & 0x000f) | (method & 0x0070) << 1 | (method & 0x0f80) << 2 | cls);
}

static inline uint16_t stun_type_method(uint16_t type)
{
	return (uint16_t)((type & 0x000f) | (type & 0x00e0) >> 1 | (type & 0x3e00) >> 2);
}

static inline uint16_t stun_type_class(uint16_t type)
{
	return type & 0x0110;
}

#define STUN_BINDING_REQUEST 0x0001
#define STUN_BINDING_INDICATION 0x0011
#define STUN_BINDING_SUCCESS 0x0101
#define STUN_BINDING_ERROR 0x0111

/* Attributes. */
#define STUN_ATTR_MAPPED_ADDRESS 0x0001
#define STUN_ATTR_USERNAME 0x0006
#define STUN_ATTR_MESSAGE_INTEGRITY 0x0008
#define STUN_ATTR_ERROR_CODE 0x0009
#define STUN_ATTR_UNKNOWN_ATTRIBUTES 0x000A
#define STUN_ATTR_REALM 0x0014
#define STUN_ATTR_NONCE 0x0015
#define STUN_ATTR_XOR_MAPPED_ADDRESS 0x0020
#define STUN_ATTR_SOFTWARE 0x8022
#define STUN_ATTR_FINGERPRINT 0x8028

/* TURN attributes (RFC 8656 18). */
#define TURN_ATTR_CHANNEL_NUMBER 0x000C
#define TURN_ATTR_LIFETIME 0x000D
#define TURN_ATTR_XOR_PEER_ADDRESS 0x0012
#define TURN_ATTR_DATA 0x0013
#define TURN_ATTR_XOR_RELAYED_ADDRESS 0x0016
#define TURN_ATTR_REQUESTED_ADDRESS_FAMILY 0x0017
#define TURN_ATTR_EVEN_PORT 0x0018
#define TURN_ATTR_REQUESTED_TRANSPORT 0x0019
#define TURN_ATTR_DONT_FRAGMENT 0x001A
#define TURN_ATTR_RESERVATION_TOKEN 0x0022
#define TURN_ATTR_ADDITIONAL_ADDRESS_FAMILY 0x8000
#define TURN_ATTR_ADDRESS_ERROR_CODE 0x8001
#define TURN_ATTR_ICMP 0x8004

#define TURN_TRANSPORT_UDP 17 /* REQUESTED-TRANSPORT's protocol number */

/* Error codes (RFC 8489 14.8, RFC 8656 19). */
#define STUN_ERR_TRY_ALTERNATE 300
#define STUN_ERR_BAD_REQUEST 400
#define STUN_ERR_UNAUTHENTICATED 401
#define STUN_ERR_FORBIDDEN 403
#define STUN_ERR_UNKNOWN_ATTRIBUTE 420
#define TURN_ERR_ALLOCATION_MISMATCH 437
#define STUN_ERR_STALE_NONCE 438
#define TURN_ERR_ADDRESS_FAMILY 440
#define TURN_ERR_WRONG_CREDENTIALS 441
#define TURN_ERR_UNSUPPORTED_TRANSPORT 442
#define TURN_ERR_QUOTA_REACHED 486
#define STUN_ERR_SERVER_ERROR 500
#define TURN_ERR_INSUFFICIENT_CAPACITY 508

/*
 * ChannelData (RFC 8656 12.4): channel number (0x4000-0x4FFF), length of
 * the application data, the data. Over UDP no padding is needed, and any
 * present is ignored. Byte 0 is 0x40-0x4F, so neither STUN (top bits 0)
 * nor WireGuard (byte 0 is 1-4) is ever mistaken for it.
 */
#define TURN_CHANNEL_MIN 0x4000
#define TURN_CHANNEL_MAX 0x4FFF
/*
 * RFC 5766 allowed 0x4000-0x7FFF, and clients written to it use the whole
 * range (coturn's turnutils_uclient picks 0x6b62, for instance). Byte 0 is
 * then 0x40-0x7F: still neither STUN nor WireGuard.
 */
#define TURN_CHANNEL_MAX_RFC5766 0x7FFF
#define TURN_CHANNEL_HEADER_LEN 4
/* RFC 8656 7: allocations live 600 s by default, permissions 300 s, channels 600 s. */
#define TURN_DEFAULT_LIFETIME_S 600
#define TURN_PERMISSION_LIFETIME_S 300
#define TURN_CHANNEL_LIFETIME_S 600

#define STUN_MAX_PEER_ADDRESSES 4 /* XOR-PEER-ADDRESS entries recorded per message */
#define STUN_MAX_UNKNOWN 4	  /* unknown comprehension-required types recorded (for 420) */

#define STUN_FAMILY_IPV4 0x01
#define STUN_FAMILY_IPV6 0x02

struct stun_msg {
	uint16_t type;
	uint8_t txid[STUN_TXID_LEN];
	bool has_mapped;	 /* XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS */
	struct ip_endpoint mapped;
	bool has_fingerprint;	 /* present and correct (a wrong one fails the parse) */
	bool has_integrity;
	size_t integrity_offset; /* of the MESSAGE-INTEGRITY attribute header */
	uint16_t error_code;	 /* 300..699 from ERROR-CODE, else 0 */
	unsigned unknown_required; /* comprehension-required attributes we do not know */
	uint16_t unknown_types[STUN_MAX_UNKNOWN]; /* the first of them, for UNKNOWN-ATTRIBUTES */

	/*
	 * Text and data attributes point into the parsed buffer (valid while it
	 * is); NULL when absent. Lengths are the attributes' own, unpadded.
	 */
	const uint8_t *username, *realm, *nonce, *software, *error_reason, *data;
	size_t username_len, realm_len, nonce_len, software_len, error_reason_len, data_len;

	/* TURN. */
	bool has_lifetime, has_relayed, has_channel, has_transport, has_requested_family, has_even_port;
	bool dont_fragment, has_data;
	uint32_t lifetime_s;
	struct ip_endpoint relayed;	/* XOR-RELAYED-ADDRESS */
	uint16_t channel;		/* CHANNEL-NUMBER */
	uint8_t transport;		/* REQUESTED-TRANSPORT's protocol */
	uint8_t requested_family;	/* REQUESTED-ADDRESS-FAMILY: STUN_FAMILY_IPV4/6 */
	struct ip_endpoint peers[STUN_MAX_PEER_ADDRESSES]; /* XOR-PEER-ADDRESS, in order */
	size_t n_peers;			/* recorded (at most STUN_MAX_PEER_ADDRESSES) */
	size_t n_peers_seen;		/* present in the message */
};

/* CRC-32 (ISO 3309, as zlib), for FINGERPRINT. */
uint32_t stun_crc32(const uint8_t *buf, size_t len);

/*
 * Writes a Binding request with txid and a FINGERPRINT into buf (cap >= 28).
 * Returns its length, or 0 when cap is too small.
 */
size_t stun_write_binding_request(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN]);

/* A Binding indication (a keepalive that gets no answer, RFC 8489 3.1) with FINGERPRINT; as above. */
size_t stun_write_binding_indication(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN]);

/*
 * A Binding request with USERNAME (who asks: a peer's connectivity check)
 * and FINGERPRINT. 0 when cap is too small.
 */
size_t stun_write_binding_request_user(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN],
				       const char *username);

/* A Binding success response to txid: XOR-MAPPED-ADDRESS mapped, FINGERPRINT. 0 when cap is too small. */
size_t stun_write_binding_success(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN],
				  const struct ip_endpoint *mapped);

/*
 * Parses one STUN message: 0, or -EINVAL when it is not a well-formed one
 * (header, lengths, attribute bounds, an address of the wrong size, a
 * FINGERPRINT that is not last or does not match). Attributes after
 * MESSAGE-INTEGRITY other than FINGERPRINT are ignored, as RFC 8489 says.
 */
int stun_parse(const uint8_t *buf, size_t len, struct stun_msg *out);

/*
 * Checks MESSAGE-INTEGRITY (HMAC-SHA1 with key) of a message stun_parse
 * accepted with has_integrity. True when it matches.
 */
bool stun_check_integrity(const uint8_t *buf, size_t len, const struct stun_msg *m, const uint8_t *key,
			  size_t keylen);

/*
 * The long-term credential key (RFC 8489 9.2.2): MD5(username ":" realm ":"
 * password). The password must already be in its SASLprep form (we take
 * the bytes as given: ASCII credentials need no preparation). 0 or -EINVAL.
 */
int stun_long_term_key(const char *username, size_t ulen, const char *realm, size_t rlen, const char *password,
		       uint8_t key[16]);

/*
 * A ChannelData message: true when buf is one (channel in range, the
 * length field within len), with its channel and data. Pure bounds checks.
 */
bool turn_channel_data_parse(const uint8_t *buf, size_t len, uint16_t *channel, const uint8_t **data,
			     size_t *data_len);
/* The same with channels up to max_channel (TURN_CHANNEL_MAX_RFC5766 for a server that serves both RFCs). */
bool turn_channel_data_parse_upto(const uint8_t *buf, size_t len, uint16_t max_channel, uint16_t *channel,
				  const uint8_t **data, size_t *data_len);

/* Writes the 4-byte ChannelData header for data_len bytes of data at hdr. */
void turn_channel_data_header(uint8_t hdr[TURN_CHANNEL_HEADER_LEN], uint16_t channel, uint16_t data_len);

#endif

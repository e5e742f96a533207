/* SPDX-License-Identifier: MIT */
/*
 * The control socket's framing (protocol.md): each frame is a u32
 * little-endian body length followed by that many bytes of JSON. Shared by
 * the server, the client library, overlayd and overlayctl.
 */
#ifndef OVL_PROTO_FRAME_H
#define OVL_PROTO_FRAME_H

#include "util/le32.h"

/* The protocol's frame size limit: 8 MiB of JSON body. */
#define PROTO_MAX_FRAME (8u * 1024u * 1024u)
/* Bytes of length prefix before each body. */
#define PROTO_FRAME_HEADER 4u

/* The socket's file name, under <data-dir>/run/ or /var/run/. */
#define PROTO_SOCKET_NAME "zlayer-overlayd.sock"
/* Where overlayd listens and overlayctl connects without --socket / --data-dir. */
#define PROTO_DEFAULT_SOCKET "/var/run/" PROTO_SOCKET_NAME

#endif

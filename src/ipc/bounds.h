/* SPDX-License-Identifier: MIT */
/*
 * A cheap pre-scan of a frame body that bounds what parsing it would cost:
 * nesting depth and the number of array elements and object members. jansson
 * allocates a node per value (an 8 MiB array of zeros is ~4 M nodes, ~200 MB,
 * ~0.5 s on the event loop), so a frame over the limits is refused before it
 * is parsed. One pass, no allocation; invalid JSON is left for the parser.
 */
#ifndef OVL_IPC_BOUNDS_H
#define OVL_IPC_BOUNDS_H

#include <stdbool.h>
#include <stddef.h>

/* Limits of the control protocol (docs/protocol-extensions.md). */
#define IPC_MAX_NESTING 32
#define IPC_MAX_ITEMS 100000

/* True when body stays within both limits; otherwise err names the limit exceeded. */
bool ipc_frame_within_bounds(const char *body, size_t len, char *err, size_t errlen);

#endif

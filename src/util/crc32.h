/* SPDX-License-Identifier: MIT */
/* CRC-32 (ISO 3309, as zlib's crc32): STUN's FINGERPRINT and the state journal's records. */
#ifndef OVL_UTIL_CRC32_H
#define OVL_UTIL_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of len bytes at buf, continuing from crc (0 to start). */
uint32_t crc32_update(uint32_t crc, const uint8_t *buf, size_t len);

#endif

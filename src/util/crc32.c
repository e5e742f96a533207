// SPDX-License-Identifier: MIT
#include "util/crc32.h"

/* Bitwise: the inputs are a few hundred bytes (a STUN message, one journal record). */
uint32_t crc32_update(uint32_t crc, const uint8_t *buf, size_t len)
{
	crc = ~crc;
	for (size_t i = 0; i < len; i++) {
		crc ^= buf[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

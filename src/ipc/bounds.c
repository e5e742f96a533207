// SPDX-License-Identifier: MIT
#include "ipc/bounds.h"

#include <stdio.h>
#include <string.h>

bool ipc_frame_within_bounds(const char *body, size_t len, char *err, size_t errlen)
{
	const char *p = body, *end = body + len;
	unsigned depth = 0;
	size_t items = 0;
	bool opened = false; /* just after [ or {: the next token starts a first item unless it closes */
	while (p < end) {
		char c = *p++;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (opened) {
			opened = false;
			if (c != ']' && c != '}')
				items++;
		}
		switch (c) {
		case '"':
			/* Skip the string: to the next quote not escaped by an odd run of backslashes. */
			for (;;) {
				const char *q = memchr(p, '"', (size_t)(end - p));
				if (!q)
					return true; /* unterminated: the parser reports it */
				const char *b = q;
				while (b > p && b[-1] == '\\')
					b--;
				p = q + 1;
				if ((q - b) % 2 == 0)
					break;
			}
			break;
		case '[':
		case '{':
			if (++depth > IPC_MAX_NESTING) {
				snprintf(err, errlen, "frame refused: JSON nested deeper than the limit of %d levels",
					 IPC_MAX_NESTING);
				return false;
			}
			opened = true;
			break;
		case ']':
		case '}':
			if (depth)
				depth--;
			break;
		case ',':
			items++;
			break;
		default:
			break;
		}
		if (items > IPC_MAX_ITEMS) {
			snprintf(err, errlen,
				 "frame refused: more than the limit of %d array elements and object members", IPC_MAX_ITEMS);
			return false;
		}
	}
	return true;
}

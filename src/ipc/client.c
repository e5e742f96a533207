// SPDX-License-Identifier: MIT
#include "ipc/client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/frame.h"

int ipc_client_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = recv(fd, p, len, 0);
		if (n == 0)
			return -EPIPE;
		if (n < 0)
			return -errno; /* including EINTR: a caller's signal handler wants control back */
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int ipc_client_send(int fd, const void *body, size_t len)
{
	if (len > PROTO_MAX_FRAME)
		return -EMSGSIZE;
	uint8_t hdr[PROTO_FRAME_HEADER];
	le32_put(hdr, (uint32_t)len);
	int r = write_all(fd, hdr, sizeof(hdr));
	return r ? r : write_all(fd, body, len);
}

int ipc_client_recv(int fd, char **body, size_t *len)
{
	uint8_t hdr[PROTO_FRAME_HEADER];
	int r = read_all(fd, hdr, sizeof(hdr));
	if (r)
		return r;
	uint32_t n = le32_get(hdr);
	if (n > PROTO_MAX_FRAME)
		return -EMSGSIZE;
	char *b = malloc((size_t)n + 1);
	if (!b)
		return -ENOMEM;
	r = read_all(fd, b, n);
	if (r) {
		free(b);
		return r;
	}
	b[n] = '\0';
	*body = b;
	*len = n;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* A blocking client for the control socket (overlayctl, the benchmark, tests). */
#ifndef OVL_IPC_CLIENT_H
#define OVL_IPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

/* Connects to path. Returns the fd, or -errno. */
int ipc_client_connect(const char *path);
/* Sends one frame (u32 LE length + body). 0 or -errno. */
int ipc_client_send(int fd, const void *body, size_t len);
/*
 * Receives one frame into a malloc'd NUL-terminated buffer. 0, -EPIPE at EOF,
 * -EMSGSIZE, or -errno (-EINTR when a signal handler interrupted the wait).
 */
int ipc_client_recv(int fd, char **body, size_t *len);

#endif

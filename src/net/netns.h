/* SPDX-License-Identifier: MIT */
/*
 * Running work inside another network namespace without ever moving the
 * daemon's own threads there.
 *
 * setns(CLONE_NEWNET) changes only the calling thread. netns_run() does it on a
 * short-lived thread of its own, so however fn fails (or even if setns back
 * would fail), the caller's thread stays in its namespace. Anything fn opens
 * there (a netlink handle, a socket) stays bound to that namespace.
 */
#ifndef OVL_NET_NETNS_H
#define OVL_NET_NETNS_H

#include <sys/types.h>

/*
 * Runs fn(arg) on a new thread that first joins the namespace behind ns_fd,
 * waits for it and returns fn's result. Returns a negative errno when the
 * thread cannot be started or setns fails (fn is then not called). fn must
 * not keep using the thread after it returns (no thread-local state survives).
 */
int netns_run(int ns_fd, int (*fn)(void *arg), void *arg);

/*
 * Opens /proc/<pid>/ns/net (O_CLOEXEC). Returns the fd, -ESRCH when the
 * process does not exist (any more), -EACCES/-EPERM without the privilege,
 * or another negative errno.
 */
int netns_open_pid(pid_t pid);

/*
 * Creates a fresh, empty, anonymous network namespace (only "lo", down) and
 * returns an fd that keeps it alive; closing the last fd destroys it. Nothing
 * is named or mounted, so nothing can leak beyond the fd.
 */
int netns_new(void);

#endif

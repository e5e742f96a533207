/* SPDX-License-Identifier: MIT */
/*
 * Keeping systemd-networkd and NetworkManager away from the overlay links.
 *
 * Both would otherwise try to configure a new "zl-*" link (DHCP, IPv6 RAs,
 * flushing our addresses). Each one that runs gets a drop-in saying the links
 * are unmanaged; unmanaged_unmark() removes exactly the files (and the
 * directory) unmanaged_mark() created, and only while they still hold what
 * was written, so an operator's own files are never lost.
 */
#ifndef OVL_NET_UNMANAGED_H
#define OVL_NET_UNMANAGED_H

#include <limits.h>
#include <stdbool.h>

struct unmanaged_opts {
	const char *networkd_dir; /* NULL: /run/systemd/network */
	const char *nm_dir;       /* NULL: /run/NetworkManager/conf.d */
	const char *instance;     /* drop-ins are named "overlayd-<instance>" ([A-Za-z0-9_-]); NULL: "overlayd" */
	const char *pattern;      /* interface glob ([A-Za-z0-9_.*-]); NULL: "zl-*" */
	/* -1: ask the system bus whether the service runs; 0/1: take as given. */
	int networkd_running;
	int nm_running;
	/* Ask the running service to reload its configuration over D-Bus. */
	bool reload;
};

/* What unmanaged_mark() wrote, for unmanaged_unmark(). */
struct unmanaged_state {
	char networkd_file[PATH_MAX];  /* "" when not written */
	char nm_file[PATH_MAX];
	char networkd_dir[PATH_MAX];   /* set when mark created the directory */
	char nm_dir[PATH_MAX];
};

/*
 * Writes the drop-in of each running service (atomically: temporary file,
 * then rename). A drop-in already there with identical content (left by a
 * crashed run) is adopted. -EEXIST when a different file holds the name, or
 * another negative errno; on error nothing stays written. A failed reload is
 * logged, not returned. -EINVAL for a bad instance or pattern.
 */
int unmanaged_mark(const struct unmanaged_opts *opts, struct unmanaged_state *st);

/* Removes what mark wrote; safe to call twice or after a failed mark. */
int unmanaged_unmark(const struct unmanaged_opts *opts, struct unmanaged_state *st);

#endif

// SPDX-License-Identifier: MIT
/* systemd-networkd and NetworkManager drop-ins for the overlay links. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "net/bus.h"
#include "net/unmanaged.h"
#include "util/log.h"

#define DROPIN_MAX 512

struct manager {
	const char *what;       /* for log lines */
	const char *bus_name;
	const char *default_dir;
	/* File: <dir>/<file_head><instance><file_tail>; content: <head><pattern><tail>. */
	const char *file_head, *file_tail;
	const char *content_head, *content_tail;
	/* Reload call; its signature differs between the two services. */
	const char *path, *iface, *method, *sig;
};

static const struct manager networkd = {
	.what = "systemd-networkd",
	.bus_name = "org.freedesktop.network1",
	.default_dir = "/run/systemd/network",
	/* "00-" sorts first: networkd applies the first .network file that matches. */
	.file_head = "00-",
	.file_tail = "-unmanaged.network",
	.content_head = "# Written by overlayd; removed when it shuts down.\n"
			"# Overlay links are configured by overlayd, not systemd-networkd.\n"
			"[Match]\nName=",
	.content_tail = "\n\n[Link]\nUnmanaged=yes\n",
	.path = "/org/freedesktop/network1",
	.iface = "org.freedesktop.network1.Manager",
	.method = "Reload",
	.sig = "",
};

static const struct manager nm = {
	.what = "NetworkManager",
	.bus_name = "org.freedesktop.NetworkManager",
	.default_dir = "/run/NetworkManager/conf.d",
	.file_head = "",
	.file_tail = "-unmanaged.conf",
	/* "+=" appends to the list, keeping the operator's own unmanaged devices. */
	.content_head = "# Written by overlayd; removed when it shuts down.\n"
			"[keyfile]\nunmanaged-devices+=interface-name:",
	.content_tail = "\n",
	.path = "/org/freedesktop/NetworkManager",
	.iface = "org.freedesktop.NetworkManager",
	.method = "Reload",
	.sig = "u", /* flags: 1 = reload the configuration files */
};

static void content_of(const struct manager *m, const struct unmanaged_opts *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", m->content_head, o->pattern ? o->pattern : "zl-*", m->content_tail);
}

/* 1 when the service owns its bus name, 0 when not (or no bus to ask). */
static int service_running(const struct manager *m, int given)
{
	if (given >= 0)
		return given > 0;
	return bus_name_has_owner(m->bus_name);
}

static void service_reload(const struct manager *m)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus *bus = NULL;
	int r = sd_bus_open_system(&bus);

	if (r >= 0) {
		if (m->sig[0])
			r = sd_bus_call_method(bus, m->bus_name, m->path, m->iface, m->method, &error, NULL,
					       m->sig, 1u);
		else
			r = sd_bus_call_method(bus, m->bus_name, m->path, m->iface, m->method, &error, NULL,
					       NULL);
	}
	if (r < 0)
		log_warn("could not ask %s to reload its configuration: %s", m->what,
			 error.message ? error.message : strerror(-r));
	sd_bus_error_free(&error);
	sd_bus_flush_close_unref(bus);
}

/* 1 when path holds exactly want, 0 when it holds something else, -errno. */
static int file_holds(const char *path, const char *want)
{
	char buf[DROPIN_MAX + 1];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return strcmp(buf, want) == 0;
}

static int write_atomic(const char *path, const char *content)
{
	char tmp[PATH_MAX + 8];
	size_t len = strlen(content);
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, content, len) != (ssize_t)len)
		err = errno ? -errno : -EIO;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static int mark_one(const struct manager *m, const struct unmanaged_opts *o, const char *dir,
		    char *file, char *created_dir)
{
	char content[DROPIN_MAX];
	int err;

	if (snprintf(file, PATH_MAX, "%s/%soverlayd%s%s%s", dir, m->file_head, o->instance ? "-" : "",
		     o->instance ? o->instance : "", m->file_tail) >= PATH_MAX) {
		file[0] = '\0';
		return -ENAMETOOLONG;
	}
	content_of(m, o, content, sizeof(content));
	err = file_holds(file, content);
	if (err == 1)
		return 0; /* ours, from an earlier run: adopt it */
	if (err != -ENOENT) {
		file[0] = '\0';
		return err == 0 ? -EEXIST : err;
	}
	err = 0;
	if (mkdir(dir, 0755) == 0)
		snprintf(created_dir, PATH_MAX, "%s", dir);
	else if (errno != EEXIST)
		err = -errno;
	if (!err)
		err = write_atomic(file, content);
	if (err)
		file[0] = '\0';
	return err;
}

static int unmark_one(const struct manager *m, const struct unmanaged_opts *o, char *file,
		      char *created_dir)
{
	char content[DROPIN_MAX];
	int err = 0, held;

	if (file[0]) {
		content_of(m, o, content, sizeof(content));
		held = file_holds(file, content);
		/* Someone edited it since: it is theirs now; gone is gone. */
		if (held == 1 && unlink(file) && errno != ENOENT)
			err = -errno;
		else if (held < 0 && held != -ENOENT)
			err = held;
		if (!err)
			file[0] = '\0';
	}
	if (!err && created_dir[0]) {
		/* Only if empty: someone else may have put files there since. */
		if (rmdir(created_dir) && errno != ENOTEMPTY && errno != ENOENT && errno != EEXIST)
			err = -errno;
		created_dir[0] = '\0';
	}
	return err;
}

/* Both end up inside configuration files and file names: keep them plain. */
static bool valid_word(const char *s, const char *extra, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return false;
	return true;
}

int unmanaged_mark(const struct unmanaged_opts *o, struct unmanaged_state *st)
{
	bool nd, nmr;
	int err = 0;

	memset(st, 0, sizeof(*st));
	if ((o->instance && !valid_word(o->instance, "_-", 64)) ||
	    (o->pattern && !valid_word(o->pattern, "_-.*", 15)))
		return -EINVAL;
	nd = service_running(&networkd, o->networkd_running);
	nmr = service_running(&nm, o->nm_running);
	if (nd)
		err = mark_one(&networkd, o, o->networkd_dir ? o->networkd_dir : networkd.default_dir,
			       st->networkd_file, st->networkd_dir);
	if (!err && nmr)
		err = mark_one(&nm, o, o->nm_dir ? o->nm_dir : nm.default_dir, st->nm_file, st->nm_dir);
	if (err) {
		unmanaged_unmark(o, st);
		return err;
	}
	if (o->reload && nd)
		service_reload(&networkd);
	if (o->reload && nmr)
		service_reload(&nm);
	return 0;
}

int unmanaged_unmark(const struct unmanaged_opts *o, struct unmanaged_state *st)
{
	bool had_nd = st->networkd_file[0], had_nm = st->nm_file[0];
	int err = unmark_one(&networkd, o, st->networkd_file, st->networkd_dir);
	int err2 = unmark_one(&nm, o, st->nm_file, st->nm_dir);

	if (o->reload && had_nd && !st->networkd_file[0])
		service_reload(&networkd);
	if (o->reload && had_nm && !st->nm_file[0])
		service_reload(&nm);
	return err ? err : err2;
}

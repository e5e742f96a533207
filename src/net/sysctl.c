// SPDX-License-Identifier: MIT
/* /proc/sys access by dotted key, and snapshot/restore. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/sysctl.h"

#define SYSCTL_ROOT "/proc/sys"

struct path_buf {
	char *buf;
	size_t len, used;
};

static int path_putc(struct path_buf *p, char c)
{
	if (p->used + 1 >= p->len)
		return -ENAMETOOLONG;
	p->buf[p->used++] = c;
	p->buf[p->used] = '\0';
	return 0;
}

/* Appends "/" + a dotted key part with its dots as slashes. */
static int path_put_dotted(struct path_buf *p, const char *part)
{
	const char *comp = part;
	int err;

	if (!*part)
		return -EINVAL;
	for (const char *s = part;; s++) {
		if (*s == '.' || *s == '\0') {
			size_t n = (size_t)(s - comp);
			/* "a..b", ".a", "a." and ".." would name another file. */
			if (n == 0)
				return -EINVAL;
			if ((err = path_putc(p, '/')))
				return err;
			for (size_t i = 0; i < n; i++)
				if ((err = path_putc(p, comp[i])))
					return err;
			if (*s == '\0')
				return 0;
			comp = s + 1;
		} else if (*s == '/') {
			return -EINVAL;
		}
	}
}

/* A device name is one path component, kept verbatim (dots included). */
static int path_put_dev(struct path_buf *p, const char *dev)
{
	size_t n = strlen(dev);
	int err;

	if (n == 0 || n >= IFNAMSIZ || strchr(dev, '/') || !strcmp(dev, ".") || !strcmp(dev, ".."))
		return -EINVAL;
	if ((err = path_putc(p, '/')))
		return err;
	for (size_t i = 0; i < n; i++)
		if ((err = path_putc(p, dev[i])))
			return err;
	return 0;
}

int sysctl_path(const char *prefix, const char *dev, const char *leaf, char *buf, size_t len)
{
	struct path_buf p = { buf, len, 0 };
	int err;

	if (!prefix || (dev && !leaf) || len == 0)
		return -EINVAL;
	buf[0] = '\0';
	for (const char *s = SYSCTL_ROOT; *s; s++)
		if ((err = path_putc(&p, *s)))
			return err;
	if ((err = path_put_dotted(&p, prefix)))
		return err;
	if (dev && (err = path_put_dev(&p, dev)))
		return err;
	if (leaf && (err = path_put_dotted(&p, leaf)))
		return err;
	return 0;
}

static int read_path(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if (len == 0)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, len - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	close(fd);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

static int write_path(const char *path, const char *value)
{
	size_t len = strlen(value);
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = write(fd, value, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		err = -errno;
	else if ((size_t)n != len)
		err = -EIO;
	if (close(fd) && !err)
		err = -errno;
	return err;
}

int sysctl_read(const char *prefix, const char *dev, const char *leaf, char *buf, size_t len)
{
	char path[SYSCTL_PATH_MAX];
	int err = sysctl_path(prefix, dev, leaf, path, sizeof(path));

	return err ? err : read_path(path, buf, len);
}

int sysctl_write(const char *prefix, const char *dev, const char *leaf, const char *value)
{
	char path[SYSCTL_PATH_MAX];
	int err;

	if (!value)
		return -EINVAL;
	err = sysctl_path(prefix, dev, leaf, path, sizeof(path));
	return err ? err : write_path(path, value);
}

int sysctl_set_saved(struct sysctl_saved *s, const char *prefix, const char *dev, const char *leaf,
		     const char *value)
{
	char path[SYSCTL_PATH_MAX], old[SYSCTL_VALUE_MAX];
	int err;

	if (!value)
		return -EINVAL;
	err = sysctl_path(prefix, dev, leaf, path, sizeof(path));
	if (err)
		return err;
	/* One record follows one parameter; reusing it for another is a bug. */
	if (s->saved && strcmp(s->path, path))
		return -EINVAL;
	if (!s->saved && (err = read_path(path, old, sizeof(old))))
		return err;
	if ((err = write_path(path, value)))
		return err;
	if (!s->saved) {
		snprintf(s->path, sizeof(s->path), "%s", path);
		snprintf(s->old_value, sizeof(s->old_value), "%s", old);
		s->saved = true;
	}
	return 0;
}

int sysctl_restore(struct sysctl_saved *s)
{
	int err;

	if (!s->saved)
		return 0;
	err = write_path(s->path, s->old_value);
	if (err == -ENOENT)
		err = 0; /* the device, and its parameter, are gone */
	if (!err)
		s->saved = false;
	return err;
}

// SPDX-License-Identifier: MIT
/*
 * The UAPI socket: <dir>/<ifname>.sock, a Unix stream socket that wg(8)
 * connects to. One thread per device accepts and serves connections one at
 * a time (requests are small and quick), and notices when the socket file
 * is deleted, which - as with wireguard-go - means "shut down".
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"
#include "wg/device.h"
#include "wg/uapi.h"

#define DEFAULT_DIR "/var/run/wireguard"

static void serve_connection(struct wg_device *dev, int fd)
{
	struct timeval tv = { .tv_sec = 5 };
	FILE *in, *out;
	int fd2;

	/* A stalled client must not wedge the configuration path for long. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 || (fd2 = dup(fd)) < 0) {
		close(fd);
		return;
	}
	in = fdopen(fd, "r");
	out = in ? fdopen(fd2, "w") : NULL;
	if (!in || !out) {
		if (in)
			fclose(in);
		else
			close(fd);
		close(fd2);
		return;
	}
	while (wg_uapi_serve(dev, in, out) > 0)
		;
	fclose(in);
	fclose(out);
}

static bool socket_still_ours(struct wg_device *dev)
{
	struct stat st;
	return stat(dev->uapi_path, &st) == 0 && st.st_ino == dev->uapi_st_ino &&
	       st.st_dev == dev->uapi_st_dev;
}

static void *uapi_thread(void *arg)
{
	struct wg_device *dev = arg;
	struct pollfd pfd[2] = { { .fd = dev->uapi_fd, .events = POLLIN }, { .fd = dev->stop_fd, .events = POLLIN } };
	while (!atomic_load(&dev->stopping)) {
		int r = poll(pfd, 2, 1000);
		if (r < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (r == 0) {
			if (!socket_still_ours(dev)) {
				log_info("wg %s: UAPI socket %s was removed, shutting down", dev->ifname,
					 dev->uapi_path);
				wg_device_mark_dead(dev);
				break;
			}
			continue;
		}
		if (pfd[0].revents) {
			int fd = accept4(dev->uapi_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				serve_connection(dev, fd);
		}
	}
	return NULL;
}

int wg_uapi_start(struct wg_device *dev, const char *dir)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, ret;

	if (!dir)
		dir = DEFAULT_DIR;
	if ((size_t)snprintf(dev->uapi_path, sizeof(dev->uapi_path), "%s/%s.sock", dir, dev->ifname) >=
	    sizeof(dev->uapi_path)) {
		log_error("wg %s: UAPI socket path under %s is too long", dev->ifname, dir);
		return -ENAMETOOLONG;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		ret = -errno;
		log_error("wg %s: cannot create %s: %s", dev->ifname, dir, strerror(errno));
		return ret;
	}
	memcpy(sun.sun_path, dev->uapi_path, strlen(dev->uapi_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A socket file nobody answers on is a leftover: replace it. A live one is not ours. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		log_error("wg %s: %s is in use by another running instance", dev->ifname, dev->uapi_path);
		close(fd);
		return -EADDRINUSE;
	}
	close(fd);
	if (unlink(dev->uapi_path) < 0 && errno != ENOENT) {
		ret = -errno;
		log_error("wg %s: cannot remove stale %s: %s", dev->ifname, dev->uapi_path, strerror(errno));
		return ret;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(dev->uapi_path, 0600) < 0 ||
	    listen(fd, 16) < 0) {
		ret = -errno;
		log_error("wg %s: cannot listen on %s: %s", dev->ifname, dev->uapi_path, strerror(errno));
		close(fd);
		unlink(dev->uapi_path);
		return ret;
	}
	struct stat st;
	if (stat(dev->uapi_path, &st) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	dev->uapi_st_dev = st.st_dev;
	dev->uapi_st_ino = st.st_ino;
	dev->uapi_fd = fd;
	if (pthread_create(&dev->uapi_thread, NULL, uapi_thread, dev)) {
		close(fd);
		dev->uapi_fd = -1;
		unlink(dev->uapi_path);
		return -EAGAIN;
	}
	wg_thread_name(dev->uapi_thread, "uapi", dev->ifname);
	dev->uapi_running = true;
	return 0;
}

void wg_uapi_stop(struct wg_device *dev)
{
	if (!dev->uapi_running)
		return;
	pthread_join(dev->uapi_thread, NULL);
	dev->uapi_running = false;
	close(dev->uapi_fd);
	dev->uapi_fd = -1;
	/* Remove only our own socket, not one a successor created at the same path. */
	if (socket_still_ours(dev))
		unlink(dev->uapi_path);
}

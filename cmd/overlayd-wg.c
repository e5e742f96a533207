// SPDX-License-Identifier: MIT
/*
 * overlayd-wg: a userspace WireGuard device, driven like wireguard-go.
 *
 *   overlayd-wg [-f|--foreground] IFNAME
 *
 * Creates the TUN device IFNAME and /var/run/wireguard/IFNAME.sock for wg(8),
 * then daemonizes (unless -f or WG_PROCESS_FOREGROUND=1). Exits on SIGTERM or
 * SIGINT, when the link is deleted, or when the socket file is removed.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "util/log.h"
#include "wg/wg.h"

static void usage(FILE *f, const char *prog)
{
	fprintf(f, "Usage: %s [-f/--foreground] INTERFACE-NAME\n", prog);
}

static void on_dead(void *user)
{
	uint64_t one = 1;
	/* Nothing more useful to do if this fails: the main loop polls the device anyway. */
	if (write(*(int *)user, &one, sizeof(one)) < 0)
		return;
}

/* OVERLAYD_WG_QUEUES: the TUN queues (wg_device_config.queues); 0 when unset. -1 when invalid. */
static int queues_from_env(unsigned *queues)
{
	const char *v = getenv("OVERLAYD_WG_QUEUES");
	char *end;
	unsigned long n;
	*queues = 0;
	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n < 1 || n > WG_MAX_QUEUES || v[0] == '-')
		return -1;
	*queues = (unsigned)n;
	return 0;
}

static void log_level_from_env(void)
{
	/* wireguard-go's LOG_LEVEL: verbose, error or silent. */
	const char *lvl = getenv("LOG_LEVEL");
	enum log_level l;
	if (!lvl)
		return;
	if (strcmp(lvl, "verbose") == 0)
		log_set_level(LOG_LVL_DEBUG);
	else if (strcmp(lvl, "silent") == 0 || strcmp(lvl, "error") == 0)
		log_set_level(LOG_LVL_ERROR);
	else if (log_level_parse(lvl, &l) == 0)
		log_set_level(l);
}

/*
 * Fork; the parent waits for the child to report the device ready (one
 * byte: 0 = ok) and exits with its status, as wireguard-go does.
 */
static int daemonize(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char status = 1;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &status, 1) != 1)
			status = 1;
		_exit(status ? EXIT_FAILURE : EXIT_SUCCESS);
	}
	close(p[0]);
	if (setsid() < 0)
		return -errno;
	*ready_fd = p[1];
	return 0;
}

static void report_ready(int *ready_fd, char status)
{
	int devnull;
	if (*ready_fd < 0)
		return;
	if (write(*ready_fd, &status, 1) != 1)
		log_warn("overlayd-wg: cannot report readiness to the parent: %s", strerror(errno));
	close(*ready_fd);
	*ready_fd = -1;
	if (status)
		return;
	/* Detached: stdio goes nowhere, as for any daemon. */
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		close(devnull);
	}
}

int main(int argc, char **argv)
{
	const char *ifname = NULL, *env = getenv("WG_PROCESS_FOREGROUND");
	bool foreground = env && strcmp(env, "1") == 0;
	struct wg_device_config cfg = { 0 };
	struct wg_device *dev = NULL;
	int dead_fd, sig_fd, ready_fd = -1, ret;
	sigset_t sigs;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--foreground") == 0) {
			foreground = true;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout, argv[0]);
			return EXIT_SUCCESS;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("overlayd-wg 0.1.0 (userspace WireGuard, UAPI protocol version 1)\n");
			return EXIT_SUCCESS;
		} else if (!ifname && argv[i][0] != '-') {
			ifname = argv[i];
		} else {
			usage(stderr, argv[0]);
			return EXIT_FAILURE;
		}
	}
	if (!ifname) {
		usage(stderr, argv[0]);
		return EXIT_FAILURE;
	}
	log_level_from_env();
	if (queues_from_env(&cfg.queues)) {
		log_error("overlayd-wg: OVERLAYD_WG_QUEUES must be a number from 1 to %d", WG_MAX_QUEUES);
		return EXIT_FAILURE;
	}
	umask(0077);

	if (!foreground && (ret = daemonize(&ready_fd))) {
		log_error("overlayd-wg: cannot daemonize: %s", strerror(-ret));
		return EXIT_FAILURE;
	}
	/* Block the signals before any thread exists so only signalfd sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) < 0 ||
	    (sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC)) < 0 ||
	    (dead_fd = eventfd(0, EFD_CLOEXEC)) < 0) {
		log_error("overlayd-wg: cannot set up signal handling: %s", strerror(errno));
		report_ready(&ready_fd, 1);
		return EXIT_FAILURE;
	}
	cfg.ifname = ifname;
	cfg.on_dead = on_dead;
	cfg.user = &dead_fd;
	ret = wg_device_create(&cfg, &dev);
	if (ret) {
		log_error("overlayd-wg: cannot create device %s: %s", ifname, strerror(-ret));
		report_ready(&ready_fd, 1);
		return EXIT_FAILURE;
	}
	log_info("overlayd-wg: device %s up, UDP port %u", ifname, wg_device_listen_port(dev));
	report_ready(&ready_fd, 0);

	struct pollfd pfd[2] = { { .fd = sig_fd, .events = POLLIN }, { .fd = dead_fd, .events = POLLIN } };
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("overlayd-wg: poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents) {
			struct signalfd_siginfo si;
			if (read(sig_fd, &si, sizeof(si)) == sizeof(si))
				log_info("overlayd-wg: %s: shutting down", strsignal((int)si.ssi_signo));
			break;
		}
		if (pfd[1].revents)
			break;
	}
	wg_device_destroy(dev);
	close(sig_fd);
	close(dead_fd);
	return EXIT_SUCCESS;
}

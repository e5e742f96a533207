// SPDX-License-Identifier: MIT
/*
 * attach_container / detach_container for linux_pid handles (the other
 * platforms are routed to guest.c and hostshared.c).
 *
 * A container gets eth0 on its service's bridge (or the shared bridge) with a
 * default route via the bridge gateway, and with join_global eth1 on the
 * global overlay: a /32 in the container and a /32 host route to it through
 * its host-side veth. Host-side names are deterministic ("veth-<pid>-s",
 * "veth-<pid>-g"), so a detach finds them even without a record, and a
 * failed attach removes everything it made.
 */
#include "engine/dp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dns/dns.h"
#include "engine/crashpoint.h"
#include "net/firewall.h"
#include "net/netlink.h"
#include "net/netns.h"
#include "util/log.h"

/* What is configured inside the container's namespace, on its thread. */
struct ns_setup {
	const char *ifname;
	struct ip_addr ip;
	uint8_t len;
	bool has_gateway; /* default route via gateway */
	struct ip_addr gateway;
	bool has_onlink; /* host route to onlink through ifname */
	struct ip_addr onlink;
	const char *step;
	int err;
};

static int ns_configure(void *arg)
{
	struct ns_setup *c = arg;
	struct nl_handle *nl;
	int r;
	c->step = "open netlink in";
	if ((r = nl_open(&nl)) < 0)
		return c->err = r;
	c->step = "address";
	if ((r = nl_addr_add(nl, c->ifname, &c->ip, c->len)) < 0)
		goto out;
	c->step = "bring up";
	if ((r = nl_link_set_up(nl, c->ifname)) < 0 || (r = nl_link_set_up(nl, "lo")) < 0)
		goto out;
	c->step = "route through";
	if (c->has_onlink && (r = nl_route_replace_host(nl, &c->onlink, c->ifname, NULL)) < 0)
		goto out;
	c->step = "add the default route on";
	if (c->has_gateway && (r = nl_route_add_default(nl, &c->gateway)) < 0)
		goto out;
	r = 0;
out:
	nl_close(nl);
	return c->err = r;
}

/*
 * One veth pair: host side veth-<pid>-<tag>, container side cfg->ifname,
 * configured per cfg; the host side joins bridge or, without one, gets a
 * host route to cfg->ip.
 */
static int veth_into(struct engine *e, uint32_t pid, int ns_fd, const char *tag, struct ns_setup *cfg,
		     const char *bridge, char *err, size_t errlen)
{
	struct nl_handle *nl = e->dp->nl;
	char host[VETH_NAME_SIZE], ip[IP_ADDR_STRLEN];
	snprintf(host, sizeof(host), "veth-%u-%s", pid, tag);
	ip_addr_format(&cfg->ip, ip, sizeof(ip));
	const char *step = "remove a stale";
	int r;
	if ((r = nl_link_delete(nl, host)) < 0)
		goto fail;
	/* The container end is born in its namespace under its final name: no move, no rename. */
	step = "create";
	r = nl_veth_create_into(nl, host, cfg->ifname, ns_fd, DP_MTU);
	if (r == -EEXIST) {
		/* The end of a just-detached link may still hold the name: its deletion is pending (reaper.c). */
		dp_reaper_flush(e);
		r = nl_veth_create_into(nl, host, cfg->ifname, ns_fd, DP_MTU);
	}
	if (r < 0)
		goto fail;
	crashpoint("attach-veth-created");
	r = netns_run(ns_fd, ns_configure, cfg);
	if (r < 0) {
		snprintf(err, errlen, "container %u: cannot %s %s (%s): %s", pid, cfg->err ? cfg->step : "enter the namespace of",
			 cfg->ifname, ip, strerror(-r));
		nl_link_delete(nl, host);
		return r;
	}
	step = "bring up";
	if ((r = nl_link_set_up(nl, host)) < 0)
		goto fail_del;
	if (bridge) {
		step = "enslave to the bridge";
		if ((r = nl_link_set_master(nl, host, bridge)) < 0)
			goto fail_del;
	} else {
		step = "route the container address through";
		if ((r = nl_route_replace_host(nl, &cfg->ip, host, &e->dp->node_ip)) < 0)
			goto fail_del;
	}
	return 0;
fail_del:
	nl_link_delete(nl, host); /* takes the container end along */
fail:
	snprintf(err, errlen, "container %u: cannot %s veth %s (%s%s%s): %s", pid, step, host, ip, bridge ? " on " : "",
		 bridge ? bridge : "", strerror(-r));
	return r;
}

/* Takes the pid's links out of service now; the reaper deletes them (reaper.c). */
static void delete_veths(struct engine *e, uint32_t pid)
{
	char names[2][VETH_NAME_SIZE];
	const char *const list[] = { names[0], names[1] };
	snprintf(names[0], sizeof(names[0]), "veth-%u-s", pid);
	snprintf(names[1], sizeof(names[1]), "veth-%u-g", pid);
	dp_reaper_retire(e, list, 2);
	for (size_t i = 0; i < 2; i++)
		dp_forwarding_forget(e, names[i]);
}

/* What a detach unplugs inside the container: eth0, and eth1 with global. */
struct ns_unplug {
	const struct state_dp_attach *a;
	uint8_t len; /* eth0's prefix length: its bridge's subnet */
};

/* The container's end: its address removed, then retired as the host end is (down, renamed). */
static int unplug_end(struct nl_handle *nl, const char *ifname, const struct ip_addr *ip, uint8_t len)
{
	int r = nl_addr_del(nl, ifname, ip, len);
	return r < 0 ? r : nl_link_retire(nl, ifname, DP_DYING_GROUP, DP_DYING_PREFIX "c");
}

static int ns_unplug(void *arg)
{
	const struct ns_unplug *u = arg;
	struct nl_handle *nl;
	int r = nl_open(&nl);
	if (r < 0)
		return r;
	r = unplug_end(nl, "eth0", &u->a->ip, u->len);
	if (r >= 0 && u->a->has_global)
		r = unplug_end(nl, "eth1", &u->a->global_ip, (uint8_t)ip_addr_bits(&u->a->global_ip));
	nl_close(nl);
	return r < 0 ? r : 0;
}

/*
 * A detached container's links are deleted later (reaper.c), so its ends are
 * unplugged inside it first: addresses removed (one handed out again is then
 * nowhere else), down, renamed vdel-c<ifindex> (eth0 and eth1 are free for a
 * new attach). They go when their host ends are deleted. Moving them out of
 * the container instead would cost the kernel's RCU wait that the reaper is
 * there to avoid. A process that is gone took its namespace along.
 */
static void unplug_container(struct engine *e, const struct state_dp_attach *a)
{
	const struct dp_bridge *b = dp_service_bridge(e->dp, dp_find_service(e->dp, a->service));
	int ns_fd = netns_open_pid((pid_t)a->pid);
	if (!b || ns_fd < 0) {
		if (ns_fd >= 0)
			close(ns_fd);
		return;
	}
	struct ns_unplug u = { .a = a, .len = b->subnet.len };
	int r = netns_run(ns_fd, ns_unplug, &u);
	close(ns_fd);
	if (r < 0)
		log_warn("container %u: cannot unplug its links inside it: %s (they are down and leaving)", a->pid,
			 strerror(-r));
}

/*
 * The pid's namespace. A runtime may hand over a pid between fork and
 * unshare(CLONE_NEWNET): the process then still sits in its parent's
 * namespace (often the host's), and configuring "its" namespace would
 * configure that one. So while the pid shares its parent's namespace, or
 * ours, it gets a short bounded grace period to move; a pid still in our own
 * namespace after it is refused (it is not a container). One that keeps
 * sharing its parent's namespace (not ours) is accepted: a process inside a
 * container may be handed over too.
 */
#define NS_GRACE_MS 250

static int ns_of(const char *path, struct stat *st)
{
	return stat(path, st) < 0 ? -errno : 0;
}

static bool same_ns(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev;
}

/* The parent's namespace, from /proc/<pid>/status; false when unknown. */
static bool parent_ns(uint32_t pid, struct stat *st)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	unsigned ppid = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "PPid: %u", &ppid) == 1)
			break;
	fclose(f);
	if (ppid == 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%u/ns/net", ppid);
	return ns_of(path, st) == 0;
}

static int open_container_ns(uint32_t pid, char *err, size_t errlen)
{
	struct stat own, st, parent;
	if (ns_of("/proc/self/ns/net", &own) < 0) {
		snprintf(err, errlen, "cannot inspect overlayd's own network namespace: %s", strerror(errno));
		return -errno;
	}
	for (int waited = 0;; waited++) {
		int fd = netns_open_pid((pid_t)pid);
		if (fd < 0) {
			if (fd == -ESRCH || fd == -ENOENT)
				snprintf(err, errlen, "process %u does not exist (it may have exited)", pid);
			else
				snprintf(err, errlen, "cannot open the network namespace of process %u: %s", pid,
					 strerror(-fd));
			return fd;
		}
		if (fstat(fd, &st) < 0) {
			int r = -errno;
			close(fd);
			snprintf(err, errlen, "cannot inspect the network namespace of process %u: %s", pid,
				 strerror(-r));
			return r;
		}
		bool ours = same_ns(&st, &own);
		bool parents = parent_ns(pid, &parent) && same_ns(&st, &parent);
		if (!ours && (!parents || waited >= NS_GRACE_MS))
			return fd;
		close(fd);
		if (waited >= NS_GRACE_MS) {
			snprintf(err, errlen,
				 "process %u shares overlayd's network namespace: it is not a container (start it "
				 "in its own network namespace)", pid);
			return -EINVAL;
		}
		usleep(1000);
	}
}

/*
 * The container's links for a: eth0 on bridge b (service s), eth1 on the
 * global overlay when a->has_global, and forwarding on every device its
 * traffic enters the node by. Stale links of the pid's names are replaced.
 * On failure the caller deletes what was made (delete_veths).
 */
static int plumb(struct engine *e, const struct state_dp_attach *a, const struct dp_service *s, const struct dp_bridge *b,
		 int ns_fd, char *err, size_t errlen)
{
	struct dp *dp = e->dp;
	struct ns_setup s0 = { .ifname = "eth0", .ip = a->ip, .len = b->subnet.len, .has_gateway = true,
			       .gateway = b->gateway };
	int r = veth_into(e, a->pid, ns_fd, "s", &s0, b->name, err, errlen);
	if (r < 0)
		return r;
	if (a->has_global) {
		struct ns_setup s1 = { .ifname = "eth1", .ip = a->global_ip, .len = (uint8_t)ip_addr_bits(&a->global_ip),
				       .has_onlink = true, .onlink = dp->node_ip };
		if ((r = veth_into(e, a->pid, ns_fd, "g", &s1, NULL, err, errlen)) < 0)
			return r;
	}
	char host[VETH_NAME_SIZE];
	snprintf(host, sizeof(host), "veth-%u-s", a->pid);
	/* Every device this container's traffic enters the node by. */
	dp_forwarding_enable(e, &a->ip, host);
	dp_forwarding_enable(e, &a->ip, b->name);
	if (dp->has_device)
		dp_forwarding_enable(e, &a->ip, dp->gname);
	if (s->dedicated)
		dp_forwarding_enable(e, &a->ip, s->dev_name);
	if (a->has_global) {
		snprintf(host, sizeof(host), "veth-%u-g", a->pid);
		dp_forwarding_enable(e, &a->global_ip, host);
	}
	return 0;
}

int dp_attach_replumb(struct engine *e, struct state_dp_attach *a, char *err, size_t errlen)
{
	struct dp_service *s = dp_find_service(e->dp, a->service);
	struct dp_bridge *b = dp_service_bridge(e->dp, s);
	if (!b) {
		snprintf(err, errlen, "its service %s has no bridge", a->service);
		return -ENOENT;
	}
	int ns_fd = open_container_ns(a->pid, err, errlen);
	if (ns_fd < 0)
		return ns_fd;
	int r = plumb(e, a, s, b, ns_fd, err, errlen);
	close(ns_fd);
	if (r < 0) {
		delete_veths(e, a->pid);
		dp_reaper_flush(e); /* a failure path: nothing of it may outlive the answer */
	}
	return r;
}

void engine_attach_container(struct engine *e, const struct ovl_req_attach *r, struct ovl_response *resp)
{
	/* Every platform may be fenced: containers, guests and host_shared workloads alike. */
	if (r->isolation_network && !*r->isolation_network) {
		ovl_response_err(resp, "attach_container: isolation_network must not be empty");
		return;
	}
	switch (r->handle.platform) {
	case OVL_HANDLE_GUEST_MANAGED:
		engine_guest_attach(e, r, resp);
		return;
	case OVL_HANDLE_HOST_SHARED:
		engine_hostshared_attach(e, r, resp);
		return;
	case OVL_HANDLE_LINUX_PID:
		break;
	}
	struct dp *dp = e->dp;
	uint32_t pid = r->handle.pid;
	char err[600];
	if (!dp->up) {
		ovl_response_err(resp, "attach_container %u: global overlay not set up; call setup_global_overlay first",
				 pid);
		return;
	}
	struct dp_service *s = dp_find_service(dp, r->service);
	struct dp_bridge *b = dp_service_bridge(dp, s);
	if (!b) {
		ovl_response_err(resp, "attach_container %u: no service overlay for service %s; call "
				       "setup_service_overlay first", pid, r->service);
		return;
	}
	struct state_dp_attach *old = dp_find_attach(dp, pid);
	if (old) {
		if (strcmp(old->service, r->service) != 0) {
			ovl_response_err(resp, "attach_container %u: already attached to service %s; detach it first",
					 pid, old->service);
			return;
		}
		resp->result = OVL_RES_ATTACHED; /* idempotent */
		resp->ip = old->ip;
		return;
	}
	if (r->dns_domain && engine_dns_set_zone(e, r->dns_domain) < 0) {
		ovl_response_err(resp, "attach_container %u: invalid dns_domain \"%.80s\"", pid, r->dns_domain);
		return;
	}
	if (pid == 0 || pid == (uint32_t)getpid()) {
		ovl_response_err(resp, "attach_container: pid %u is not a container", pid);
		return;
	}
	if (dp_nl(e, &dp->nl, err, sizeof(err)) < 0) {
		ovl_response_err(resp, "attach_container %u: %s", pid, err);
		return;
	}
	void *grown = realloc(dp->attaches, (dp->n_attaches + 1) * sizeof(*dp->attaches));
	if (!grown) {
		ovl_response_err(resp, "attach_container %u: out of memory", pid);
		return;
	}
	dp->attaches = grown;
	int ns_fd = open_container_ns(pid, err, sizeof(err));
	if (ns_fd < 0) {
		ovl_response_err(resp, "attach_container: %s", err);
		return;
	}
	struct state_dp_attach a = { .pid = pid, .ephemeral = r->ephemeral };
	a.service = strdup(r->service);
	a.isolation = r->isolation_network ? strdup(r->isolation_network) : NULL;
	if (!a.service || (r->isolation_network && !a.isolation)) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	char sub[IP_PREFIX_STRLEN];
	if (ipam_slice_alloc(&b->pool, &a.ip) < 0) {
		snprintf(err, sizeof(err), "service bridge %s subnet %s exhausted", b->name,
			 ip_prefix_format(&b->subnet, sub, sizeof(sub)));
		goto fail;
	}
	if (r->join_global && dp->has_device) {
		if (ipam_slice_alloc(&e->st.slice, &a.global_ip) < 0) {
			snprintf(err, sizeof(err), "node slice %s exhausted (join_global)",
				 ip_prefix_format(&e->st.slice.cidr, sub, sizeof(sub)));
			goto fail_ip;
		}
		a.has_global = true;
	}
	if (plumb(e, &a, s, b, ns_fd, err, sizeof(err)) < 0)
		goto fail_veth;
	close(ns_fd);
	crashpoint("attach-host-changed");
	dp->attaches[dp->n_attaches++] = a;
	dp_attachments_changed(dp);
	if (a.isolation && dp_firewall_sync(e) < 0) {
		/* A fence that cannot be installed is no fence: undo the attach. */
		dp_attach_release(e, &dp->attaches[dp->n_attaches - 1], true);
		dp_reaper_flush(e);
		ovl_response_err(resp, "attach_container %u (service %s): cannot install the isolation rules for "
				       "network %s; see overlayd's log for nft's message", pid, r->service,
				 r->isolation_network);
		return;
	}
	dp_commit_attach(e, &dp->attaches[dp->n_attaches - 1]);
	resp->result = OVL_RES_ATTACHED;
	resp->ip = a.ip;
	return;
fail_veth:
	delete_veths(e, pid);
	dp_reaper_flush(e); /* the container's end goes too before its address is free again */
	if (a.has_global)
		ipam_slice_release(&e->st.slice, &a.global_ip);
fail_ip:
	ipam_slice_release(&b->pool, &a.ip);
fail:
	close(ns_fd);
	free(a.service);
	free(a.isolation);
	ovl_response_err(resp, "attach_container %u (service %s): %s", pid, r->service, err);
}

void dp_attach_release(struct engine *e, struct state_dp_attach *a, bool delete_links)
{
	struct dp *dp = e->dp;
	if (delete_links && dp->nl)
		delete_veths(e, a->pid);
	struct dp_bridge *b = dp_service_bridge(dp, dp_find_service(dp, a->service));
	if (b)
		ipam_slice_release(&b->pool, &a->ip);
	if (a->has_global)
		ipam_slice_release(&e->st.slice, &a->global_ip);
	bool fenced = a->isolation != NULL;
	free(a->service);
	free(a->isolation);
	size_t idx = (size_t)(a - dp->attaches);
	memmove(a, a + 1, (dp->n_attaches - idx - 1) * sizeof(*a));
	dp->n_attaches--;
	dp_attachments_changed(dp);
	if (fenced)
		dp_firewall_sync(e); /* drains the member from its network */
}

void engine_detach_container(struct engine *e, const struct ovl_handle *h, struct ovl_response *resp)
{
	switch (h->platform) {
	case OVL_HANDLE_GUEST_MANAGED:
		engine_guest_detach(e, h->id, resp);
		return;
	case OVL_HANDLE_HOST_SHARED:
		engine_hostshared_detach(e, h->id, resp);
		return;
	case OVL_HANDLE_LINUX_PID:
		break;
	}
	struct dp *dp = e->dp;
	char err[300];
	struct state_dp_attach *a = dp_find_attach(dp, h->pid);
	/*
	 * Retire the deterministic veths even without a record (a crash before
	 * the record was saved): the pid's names can only be ours. When this
	 * answers, they are down and off the bridge, and a recorded container's
	 * ends are unplugged (no address, down, renamed); the kernel's slow
	 * deletion follows (reaper.c).
	 */
	if (dp->up && dp_nl(e, &dp->nl, err, sizeof(err)) == 0) {
		if (a)
			unplug_container(e, a);
		delete_veths(e, h->pid);
	}
	crashpoint("detach-host-changed");
	if (!a) {
		resp_ok(resp); /* idempotent */
		return;
	}
	bool ephemeral = a->ephemeral;
	char *service = strdup(a->service);
	dp_attach_release(e, a, false);
	/*
	 * Ephemeral last-leaver: a per-job bridge goes the moment its last
	 * container leaves, through the same path as teardown_service_overlay.
	 */
	struct dp_service *s = service ? dp_find_service(dp, service) : NULL;
	if (ephemeral && s && !s->on_shared && dp->nl && nl_bridge_member_count(dp->nl, s->bridge.name) == 0) {
		log_info("ephemeral service %s: last container left; tearing its bridge %s down", service,
			 s->bridge.name);
		dp_service_remove(e, s, false);
		dp_firewall_sync(e);
		dp_commit(e); /* a service went: not a journal record */
	}
	free(service);
	dp_commit_detach(e, h->pid);
	resp_ok(resp);
}

struct sweep {
	struct dp *record; /* NULL: only links whose process is gone; else also retired ones left by a crash */
	struct sweep_link {
		char name[IFNAMSIZ];
		uint32_t pid;
		bool running;
	} *dead;
	size_t n;
	int err;
};

/* A running pid's link stays when it is in use: recorded, or (no record given) ours or not. */
static bool in_use(const struct sweep *sw, uint32_t pid, const char *tag)
{
	if (!sw->record)
		return true;
	const struct state_dp_attach *a = dp_find_attach(sw->record, pid);
	return a && (tag[0] == 's' || a->has_global);
}

static int sweep_visit(const struct nl_link *l, void *arg)
{
	struct sweep *sw = arg;
	unsigned pid;
	char tag[4], rest;
	bool running = false;
	if (sw->record && strncmp(l->name, DP_DYING_PREFIX, strlen(DP_DYING_PREFIX)) == 0 &&
	    strcmp(l->kind, "veth") == 0) {
		pid = 0; /* a retired link whose deletion a crash interrupted */
	} else {
		if (sscanf(l->name, "veth-%u-%3[sg]%c", &pid, tag, &rest) != 2)
			return 0;
		char proc[32];
		snprintf(proc, sizeof(proc), "/proc/%u", pid);
		running = access(proc, F_OK) == 0;
		if (running && in_use(sw, pid, tag))
			return 0;
	}
	void *n = realloc(sw->dead, (sw->n + 1) * sizeof(*sw->dead));
	if (!n)
		return sw->err = -ENOMEM;
	sw->dead = n;
	sw->dead[sw->n] = (struct sweep_link){ .pid = pid, .running = running };
	snprintf(sw->dead[sw->n++].name, IFNAMSIZ, "%s", l->name);
	return 0;
}

void dp_sweep_orphan_veths(struct engine *e, bool unrecorded)
{
	struct dp *dp = e->dp;
	struct sweep sw = { .record = unrecorded ? dp : NULL };
	if (!dp->nl)
		return;
	if (unrecorded)
		dp_reaper_flush(e); /* retired links a crash left pending, in one batch */
	int r = nl_link_list(dp->nl, sweep_visit, &sw);
	if (r < 0)
		log_warn("orphan veth sweep: cannot list links: %s", strerror(-r));
	for (size_t i = 0; i < sw.n; i++) {
		const struct sweep_link *l = &sw.dead[i];
		if (l->running)
			log_warn("deleting veth %s: container %u is running but this link is not in the saved record "
				 "(a crash came before the save, so its request was never answered; a retry makes it "
				 "again)", l->name, l->pid);
		else if (l->pid == 0)
			log_info("deleting retired veth %s (its deletion was pending)", l->name);
		else
			log_info("deleting orphan veth %s (its process is gone)", l->name);
		if ((r = nl_link_delete(dp->nl, l->name)) < 0)
			log_warn("cannot delete orphan veth %s: %s", l->name, strerror(-r));
		dp_forwarding_forget(e, l->name);
	}
	free(sw.dead);
}

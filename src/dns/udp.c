// SPDX-License-Identifier: MIT
/* The UDP transport: a batch of queries in (recvmmsg), their answers out
 * (sendmmsg), from the address each query reached. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns/worker.h"
#include "util/log.h"

static void local_from_msg(struct msghdr *m, struct udp_local *out)
{
	out->family = 0;
	for (struct cmsghdr *c = m->msg_control ? CMSG_FIRSTHDR(m) : NULL; c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			memcpy(&out->v4, CMSG_DATA(c), sizeof(out->v4));
			out->v4.ipi_spec_dst = out->v4.ipi_addr; /* answer from where it came */
			out->v4.ipi_ifindex = 0;		 /* and let routing pick the way */
			out->family = AF_INET;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			memcpy(&out->v6, CMSG_DATA(c), sizeof(out->v6)); /* ifindex kept: link-local */
			out->family = AF_INET6;
		}
	}
}

static void local_to_msg(const struct udp_local *l, struct msghdr *m, union udp_ctrl *ctrl)
{
	m->msg_control = NULL;
	m->msg_controllen = 0;
	if (!l->family)
		return;
	bool v4 = l->family == AF_INET;
	size_t dlen = v4 ? sizeof(l->v4) : sizeof(l->v6);
	m->msg_control = ctrl->buf;
	m->msg_controllen = CMSG_SPACE(dlen);
	struct cmsghdr *c = CMSG_FIRSTHDR(m);
	c->cmsg_level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
	c->cmsg_type = v4 ? IP_PKTINFO : IPV6_PKTINFO;
	c->cmsg_len = CMSG_LEN(dlen);
	memcpy(CMSG_DATA(c), v4 ? (const void *)&l->v4 : (const void *)&l->v6, dlen);
}

/* One datagram to a UDP client, from the address it asked. */
void dns_udp_send_one(struct udp_sock *us, const struct sockaddr_storage *peer, socklen_t peerlen,
		      const struct udp_local *local, const uint8_t *msg, size_t len)
{
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr m = { .msg_name = (void *)peer, .msg_namelen = peerlen, .msg_iov = &iov, .msg_iovlen = 1 };
	union udp_ctrl ctrl;
	local_to_msg(local, &m, &ctrl);
	if (sendmsg(us->fd, &m, MSG_DONTWAIT) < 0)
		log_debug("dns: sending an answer over UDP: %m");
}

void dns_udp_readable(struct worker *w, struct udp_sock *us)
{
	bool wildcard = us->l->wildcard;
	for (unsigned i = 0; i < UDP_BATCH; i++) {
		w->in_iov[i] = (struct iovec){ .iov_base = w->rx[i], .iov_len = UDP_RX_BUF };
		w->in[i].msg_hdr = (struct msghdr){ .msg_name = &w->peers[i], .msg_namelen = sizeof(w->peers[i]),
						    .msg_iov = &w->in_iov[i], .msg_iovlen = 1 };
		if (wildcard) {
			w->in[i].msg_hdr.msg_control = w->ctrl_in[i].buf;
			w->in[i].msg_hdr.msg_controllen = sizeof(w->ctrl_in[i].buf);
		}
	}
	int n = recvmmsg(us->fd, w->in, UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return;
	/* One clock read for the batch's arrival, one for its answers. */
	uint64_t start_ns = mx_now_ns();
	unsigned nout = 0;
	for (int i = 0; i < n; i++) {
		if (w->in[i].msg_hdr.msg_flags & MSG_TRUNC)
			continue; /* larger than any query: not one */
		struct dns_query q;
		size_t olen = 0;
		enum dns_verdict v = dns_answer(w->srv->store, &w->srv->acfg, w->rx[i], w->in[i].msg_len, false, &q,
						w->tx[nout], &olen);
		struct udp_local local = { 0 };
		if (wildcard && v != DNS_VERDICT_DROP)
			local_from_msg(&w->in[i].msg_hdr, &local);
		if (v == DNS_VERDICT_FORWARD) {
			dns_fwd_start(w, &q, start_ns, us, &w->peers[i], w->in[i].msg_hdr.msg_namelen, &local, NULL);
		} else if (v == DNS_VERDICT_REPLY) {
			w->out_iov[nout] = (struct iovec){ .iov_base = w->tx[nout], .iov_len = olen };
			w->out[nout].msg_hdr = (struct msghdr){ .msg_name = &w->peers[i],
								.msg_namelen = w->in[i].msg_hdr.msg_namelen,
								.msg_iov = &w->out_iov[nout], .msg_iovlen = 1 };
			local_to_msg(&local, &w->out[nout].msg_hdr, &w->ctrl_out[nout]);
			nout++;
		}
	}
	uint64_t latency_ns = mx_now_ns() - start_ns;
	for (unsigned i = 0; i < nout; i++)
		dns_count_reply(w, w->tx[i], w->out_iov[i].iov_len, latency_ns);
	for (unsigned sent = 0; sent < nout;) {
		int m = sendmmsg(us->fd, w->out + sent, nout - sent, MSG_DONTWAIT);
		if (m < 0) {
			if (errno == EINTR)
				continue;
			/* A full send buffer or an unreachable client: UDP
			 * answers are best effort, the client retries. */
			log_debug("dns: sendmmsg: %m");
			sent++; /* skip the one that failed */
			continue;
		}
		sent += (unsigned)m;
	}
}

/*
 * SOCK_DGRAM for AF_INET and AF_INET6 on lwIP's raw UDP API.
 *
 * A datagram lwIP delivers is queued on the socket with its sender's
 * address (struct inet_dgram, in lwIP's heap) until read; when the queue
 * holds SO_RCVBUF bytes or more, or lwIP's heap is out of room, the
 * datagram is dropped, as Linux drops it. A send builds one pbuf and
 * hands it to lwIP, which delivers it through the loopback before the
 * call returns.
 *
 * Linux's rules followed here (net/ipv4/udp.c, af_inet.c): connect with
 * AF_UNSPEC dissolves the association; sendto with an address works on a
 * connected socket; a send with no address on an unconnected socket is
 * EDESTADDRREQ; a datagram longer than the buffer comes back cut, with
 * MSG_TRUNC in msg_flags, and its full length returned when the caller
 * passed MSG_TRUNC; poll is datagram_poll().
 *
 * Locks: the stack lock for everything (inet.h).
 */
#include "inet/inet.h"

#include "lwip/mem.h"
#include "lwip/icmp.h"
#include "lwip/prot/icmp6.h"
#include "lwip/prot/ip.h"
#include "lwip/prot/ip6.h"
#include "lwip/udp.h"

/* The largest UDP payload: 65535 minus the UDP and IPv4 headers, as on
 * Linux. For IPv6 Linux allows 65527 (fragmenting); lwIP's packet
 * length is 16 bits and counts the 40-byte IPv6 header, so 65487 is the
 * most it can carry (docs/inet.md lists the difference). */
#define INET_UDP4_MAX	(65535 - 8 - 20)
#define INET_UDP6_MAX	(65535 - 8 - 40)

/* The most of a packet an ICMP error check reads: an IPv4 header with
 * options, the ICMP header, the quoted IPv4 header with options and the
 * quoted UDP ports (IPv6 needs 40 + 8 + 40 + 4, less). */
#define ICMP_PEEK_MAX	(60 + 8 + 60 + 4)
#define IP4_HLEN_MIN	20
#define ICMP_HLEN	8

/* What an ICMP error quotes of the datagram that caused it. */
struct icmp_quote {
	ip_addr_t	src, dst;
	uint16_t	sport, dport;
};

static uint16_t
get_be16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

/* The IPv4 header at @b: its length, or 0 unless it is a valid one of
 * protocol @proto with @n bytes of room. */
static size_t
ip4_hlen(const uint8_t *b, size_t n, uint8_t proto)
{
	size_t hlen;

	if (n < IP4_HLEN_MIN || (b[0] >> 4) != 4 || b[9] != proto)
		return 0;
	hlen = (size_t)(b[0] & 15) * 4;
	return hlen >= IP4_HLEN_MIN && hlen <= n ? hlen : 0;
}

/* An ICMP port unreachable quoting a UDP datagram (RFC 792). */
static bool
parse_icmp4(const uint8_t *b, size_t n, struct icmp_quote *q)
{
	size_t out, in;
	uint32_t a;

	out = ip4_hlen(b, n, IP_PROTO_ICMP);
	if (out == 0 || n < out + ICMP_HLEN ||
	    b[out] != ICMP_DUR || b[out + 1] != ICMP_DUR_PORT)
		return false;
	b += out + ICMP_HLEN;
	n -= out + ICMP_HLEN;
	in = ip4_hlen(b, n, IP_PROTO_UDP);
	if (in == 0 || n < in + 4)
		return false;
	ks__memcpy(&a, b + 12, 4);
	ip_addr_set_ip4_u32_val(q->src, a);
	ks__memcpy(&a, b + 16, 4);
	ip_addr_set_ip4_u32_val(q->dst, a);
	q->sport = get_be16(b + in);
	q->dport = get_be16(b + in + 2);
	return true;
}

static void
set_ip6(ip_addr_t *ip, const uint8_t *b)
{
	ks__memset(ip, 0, sizeof(*ip));
	ks__memcpy(ip_2_ip6(ip)->addr, b, 16);
	IP_SET_TYPE_VAL(*ip, IPADDR_TYPE_V6);
}

/* An ICMPv6 port unreachable quoting a UDP datagram (RFC 4443); lwIP
 * sends neither carries extension headers. */
static bool
parse_icmp6(const uint8_t *b, size_t n, struct icmp_quote *q)
{
	if (n < 2 * IP6_HLEN + ICMP_HLEN + 4 || (b[0] >> 4) != 6 ||
	    b[6] != IP6_NEXTH_ICMP6 || b[IP6_HLEN] != ICMP6_TYPE_DUR ||
	    b[IP6_HLEN + 1] != ICMP6_DUR_PORT)
		return false;
	b += IP6_HLEN + ICMP_HLEN;
	if ((b[0] >> 4) != 6 || b[6] != IP6_NEXTH_UDP)
		return false;
	set_ip6(&q->src, b + 8);
	set_ip6(&q->dst, b + 24);
	q->sport = get_be16(b + IP6_HLEN);
	q->dport = get_be16(b + IP6_HLEN + 2);
	return true;
}

/* See inet.h. Linux reports a hard error to a connected socket only (an
 * unconnected one would need IP_RECVERR); port unreachable is one. */
void
ks__inet_udp_icmp_peek(const struct pbuf *p)
{
	uint8_t b[ICMP_PEEK_MAX];
	struct icmp_quote q;
	struct udp_pcb *pcb;
	size_t n;

	n = pbuf_copy_partial(p, b, sizeof(b), 0);
	if (!parse_icmp4(b, n, &q) && !parse_icmp6(b, n, &q))
		return;
	for (pcb = udp_pcbs; pcb != NULL; pcb = pcb->next) {
		if (!(pcb->flags & UDP_FLAGS_CONNECTED) ||
		    pcb->local_port != q.sport || pcb->remote_port != q.dport ||
		    !ip_addr_cmp(&pcb->remote_ip, &q.dst))
			continue;
		if (!ip_addr_isany(&pcb->local_ip) &&
		    !ip_addr_cmp(&pcb->local_ip, &q.src))
			continue;
		ks__inet_set_error(&((struct inet_sock *)pcb->recv_arg)->base,
				   KS_ECONNREFUSED);
		return;
	}
}

static void
udp_recv_cb(void *arg, struct udp_pcb *pcb, struct pbuf *p,
	    const ip_addr_t *addr, u16_t port)
{
	struct inet_sock *is = arg;
	struct inet_dgram *d;
	int rcvbuf;

	ks__lock(&is->base);
	rcvbuf = is->base.rcvbuf;
	ks__unlock(&is->base);
	if (is->dq_bytes >= (size_t)rcvbuf)
		goto drop;
	d = mem_malloc(sizeof(*d));
	if (d == NULL)
		goto drop;
	d->next = NULL;
	d->p = p;
	ip_addr_copy(d->from, *addr);
	d->port = port;
	if (is->dq_tail != NULL)
		is->dq_tail->next = d;
	else
		is->dq_head = d;
	is->dq_tail = d;
	is->dq_bytes += p->tot_len;
	ks__inet_wake(&is->base, KS_POLLIN);
	return;
drop:
	pbuf_free(p);
}

/* See inet.h. */
int
ks__inet_udp_attach_locked(struct inet_sock *is)
{
	struct udp_pcb *pcb;

	pcb = udp_new_ip_type(ks__inet_pcb_type(is));
	if (pcb == NULL)
		return -KS_ENOMEM;
	udp_recv(pcb, udp_recv_cb, is);
	is->pcb.udp = pcb;
	ks__inet_apply_ip_opts(is);
	return 0;
}

/* The loopback's broadcast address (127.0.0.0/8), and the limited
 * broadcast, which has no route here (the loopback is the only link). */
#define INET_LOOP_BROADCAST	0x7fffffffu
#define INET_LIMITED_BROADCAST	0xffffffffu

/*
 * Whether a datagram may go to @ip: an address of the loopback
 * (ks__inet_local_dest), or its broadcast address when SO_BROADCAST is on (Linux's ip_route_connect
 * refuses a broadcast route to a socket without it: EACCES). Returns 0,
 * -KS_EACCES or -KS__ENETUNREACH. Stack lock held.
 */
static int
check_dest(struct ks_sock *so, const ip_addr_t *ip)
{
	uint32_t a = IP_IS_V4(ip) ? lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(ip))) :
		     0;
	bool on;

	if (a != INET_LOOP_BROADCAST && a != INET_LIMITED_BROADCAST)
		return ks__inet_link_reaches(ip) ? 0 : ks__inet_local_dest(ip);
	ks__lock(so);
	on = ks__has_opt(so, KS_OPT_BROADCAST);
	ks__unlock(so);
	if (!on)
		return -KS_EACCES;
	return a == INET_LOOP_BROADCAST ? 0 : -KS__ENETUNREACH;
}

static bool
udp_is_connected(struct inet_sock *is)
{
	return (is->pcb.udp->flags & UDP_FLAGS_CONNECTED) != 0;
}

/*
 * Linux's udp_lib_lport_inuse() for a bind with SO_REUSEADDR or
 * SO_REUSEPORT (without either, lwIP's own check is Linux's). Returns 0
 * or -KS_EADDRINUSE. Stack lock held.
 */
static int
bind_conflict_check(const struct inet_bind_req *req, const ip_addr_t *ip,
		    uint16_t port)
{
	struct udp_pcb *pcb;

	for (pcb = udp_pcbs; pcb != NULL; pcb = pcb->next)
		if (pcb->local_port == port &&
		    ks__inet_addr_overlaps(&pcb->local_ip, ip) &&
		    !ks__inet_may_share(req, pcb->so_options, false,
					pcb->recv_arg))
			return -KS_EADDRINUSE;
	return 0;
}

/* Lends SOF_REUSEADDR to every pcb on @port, or takes it back, around a
 * udp_bind() that bind_conflict_check() allowed. Stack lock held. */
static void
lend_reuse_on_port(uint16_t port, bool lend)
{
	struct udp_pcb *pcb;

	for (pcb = udp_pcbs; pcb != NULL; pcb = pcb->next)
		if (pcb->local_port == port)
			ks__inet_lend_reuse(&pcb->so_options, lend);
}

static int
udp_bind_op(struct ks_sock *so, const void *addr, uint32_t len)
{
	struct inet_sock *is = inet_sk(so);
	struct inet_bind_req req;
	struct udp_pcb *pcb;
	ip_addr_t ip;
	uint16_t port;
	bool shared;
	int err;

	ks__inet_lock();
	err = ks__inet_bind_addr(so, addr, len, &ip, &port);
	if (err < 0)
		goto unlock;
	err = -KS_EINVAL;
	if (is->bound)
		goto unlock;
	pcb = is->pcb.udp;
	shared = ks__inet_bind_prepare(so, &pcb->so_options, port, &req);
	if (shared) {
		err = bind_conflict_check(&req, &ip, port);
		if (err < 0)
			goto unlock;
		lend_reuse_on_port(port, true);
		ks__inet_lend_reuse(&pcb->so_options, true);
	}
	err = ks__inet_err(udp_bind(pcb, &ip, port));
	if (shared) {
		lend_reuse_on_port(port, false);
		ks__inet_lend_reuse(&pcb->so_options, false);
	}
	if (err == 0)
		is->bound = true;
unlock:
	ks__inet_unlock();
	return err;
}

static int
udp_connect_op(struct ks_sock *so, const void *addr, uint32_t len,
	       bool nonblock)
{
	struct inet_sock *is = inet_sk(so);
	ip_addr_t ip;
	uint16_t port;
	int err;

	ks__inet_lock();
	err = ks__inet_parse_addr(so, addr, len, &ip, &port, true);
	if (err < 0)
		goto unlock;
	if (err == 1) {
		/* AF_UNSPEC: back to unconnected; the local port stays. */
		udp_disconnect(is->pcb.udp);
		err = 0;
		ks__lock(so);
		so->state = KS_SS_UNCONNECTED;
		ks__unlock(so);
		goto unlock;
	}
	ks__inet_any_to_loopback(&ip);
	/* The loopback is the only interface (tcp.c says the same). */
	err = check_dest(so, &ip);
	if (err < 0)
		goto unlock;
	err = ks__inet_err(udp_connect(is->pcb.udp, &ip, port));
	if (err < 0)
		goto unlock;
	is->bound = true;
	ks__lock(so);
	so->state = KS_SS_CONNECTED;
	ks__unlock(so);
unlock:
	ks__inet_unlock();
	return err;
}

static long
udp_sendmsg_op(struct ks_sock *so, const struct ks_msghdr *msg,
	       struct ks_iter *it, int flags)
{
	struct inet_sock *is = inet_sk(so);
	size_t max = so->family == KS_AF_INET ? INET_UDP4_MAX : INET_UDP6_MAX;
	size_t len = it->count;
	ip_addr_t ip;
	uint16_t port;
	struct pbuf *p;
	long err;

	/* Linux's udp_sendmsg(): no out-of-band data on a datagram. */
	if (flags & KS_MSG_OOB)
		return -KS_EOPNOTSUPP;
	ks__inet_lock();
	if (msg->msg_namelen > 0) {
		err = ks__inet_parse_addr(so, msg->msg_name, msg->msg_namelen,
					  &ip, &port, false);
		if (err < 0)
			goto unlock;
		ks__inet_any_to_loopback(&ip);
		err = check_dest(so, &ip);
		if (err < 0)
			goto unlock;
	} else if (udp_is_connected(is)) {
		ip_addr_copy(ip, is->pcb.udp->remote_ip);
		port = is->pcb.udp->remote_port;
	} else {
		err = -KS_EDESTADDRREQ;
		goto unlock;
	}
	err = -KS_EMSGSIZE;
	if (len > max)
		goto unlock;
	/* Linux's sock_alloc_send_skb(): a pending error (an ICMP error on
	 * a connected socket) fails this send, then the shutdown. */
	err = ks__inet_take_error(so);
	if (err < 0)
		goto unlock;
	err = -KS_EPIPE;
	if (so->shutdown & KS_SEND_SHUTDOWN)
		goto unlock;
	err = -KS_ENOBUFS;
	p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
	if (p == NULL)
		goto unlock;
	err = ks__iter_copy_from(it, p->payload, len);
	if (err == 0)
		err = ks__inet_err(udp_sendto(is->pcb.udp, p, &ip, port));
	pbuf_free(p);
	if (err == 0) {
		is->bound = true;
		err = (long)len;
	}
unlock:
	ks__inet_unlock();
	if (err == -KS_EPIPE && !(flags & KS_MSG_NOSIGNAL))
		ks__port->signal_pipe();
	return err;
}

/* Copies @n bytes of @p to @it. */
static int
pbuf_copy_out(struct pbuf *p, struct ks_iter *it, size_t n)
{
	int err;

	for (; p != NULL && n > 0; p = p->next) {
		size_t k = p->len < n ? p->len : n;

		err = ks__iter_copy_to(it, p->payload, k);
		if (err < 0)
			return err;
		n -= k;
	}
	return 0;
}

static long
udp_recvmsg_op(struct ks_sock *so, struct ks_msghdr *msg, struct ks_iter *it,
	       int flags)
{
	struct inet_sock *is = inet_sk(so);
	bool nonblock = (flags & KS_MSG_DONTWAIT) != 0;
	int64_t deadline = -2, t;
	struct inet_dgram *d;
	size_t n, full;
	long err;

	if (flags & KS_MSG_OOB)
		return -KS_EOPNOTSUPP;
	/* Nothing is ever queued on the error queue (no IP_RECVERR yet). */
	if (flags & KS_MSG_ERRQUEUE)
		return -KS_EAGAIN;
	msg->msg_controllen = 0;
	ks__inet_lock();
	for (;;) {
		/* Linux's __skb_recv_udp(): a pending error comes before
		 * any queued datagram. */
		ks__lock(so);
		err = ks__sock_error_locked(so);
		t = so->rcvtimeo;
		ks__unlock(so);
		if (err < 0)
			goto unlock;
		if ((d = is->dq_head) != NULL)
			break;
		/* Linux's __skb_recv_udp(): only a call that would wait
		 * learns of the shutdown (0); one that would not is
		 * EAGAIN. */
		if ((so->shutdown & KS_RCV_SHUTDOWN) && !nonblock) {
			msg->msg_namelen = 0;
			err = 0;
			goto unlock;
		}
		if (deadline == -2)
			deadline = ks__deadline(t, nonblock);
		err = ks__inet_wait_locked(so, KS_POLLIN, deadline);
		if (err < 0)
			goto unlock;
	}
	full = d->p->tot_len;
	n = full < it->count ? full : it->count;
	err = pbuf_copy_out(d->p, it, n);
	if (err == 0) {
		if (msg->msg_name != NULL && msg->msg_namelen > 0)
			ks__inet_put_addr(so, &d->from, d->port, msg->msg_name,
					  &msg->msg_namelen);
		else
			msg->msg_namelen = 0;
		if (n < full)
			msg->msg_flags |= KS_MSG_TRUNC;
		err = (flags & KS_MSG_TRUNC) ? (long)full : (long)n;
	}
	/* Taken off the queue even when the copy failed (EFAULT): Linux's
	 * udp_recvmsg() had dequeued it and drops it. */
	if (!(flags & KS_MSG_PEEK)) {
		is->dq_head = d->next;
		if (is->dq_head == NULL)
			is->dq_tail = NULL;
		is->dq_bytes -= full;
		pbuf_free(d->p);
		mem_free(d);
	}
unlock:
	ks__inet_unlock();
	return err;
}

static int
udp_shutdown_op(struct ks_sock *so, int how)
{
	struct inet_sock *is = inet_sk(so);
	int err = 0;

	ks__inet_lock();
	/* Linux's inet_shutdown(): an unconnected socket is ENOTCONN, yet
	 * takes the bits and wakes its waiters all the same, which is how
	 * a program wakes a thread blocked in recvfrom(). */
	if (!udp_is_connected(is))
		err = -KS_ENOTCONN;
	ks__lock(so);
	so->shutdown |= (unsigned)how + 1;
	ks__wake_locked(so, KS_POLLIN | KS_POLLOUT | KS_POLLHUP |
			    KS_POLLRDHUP);
	ks__unlock(so);
	ks__inet_unlock();
	return err;
}

static int
udp_getname_op(struct ks_sock *so, void *addr, uint32_t *len, bool peer)
{
	struct inet_sock *is = inet_sk(so);
	struct udp_pcb *pcb = is->pcb.udp;
	int err = 0;

	ks__inet_lock();
	if (peer) {
		if (!udp_is_connected(is))
			err = -KS_ENOTCONN;
		else
			ks__inet_put_addr(so, &pcb->remote_ip,
					  pcb->remote_port, addr, len);
	} else {
		ks__inet_put_addr(so, &pcb->local_ip, pcb->local_port, addr,
				  len);
	}
	ks__inet_unlock();
	return err;
}

static unsigned
udp_poll_op(struct ks_sock *so, struct ks_poll_entry *pe)
{
	struct inet_sock *is = inet_sk(so);
	unsigned mask = KS_POLLOUT | KS_POLLWRNORM | KS_POLLWRBAND;

	ks__inet_lock();
	ks__lock(so);
	if (pe != NULL)
		ks__poll_link_add_locked(so, pe, &pe->link[0]);
	if (so->err)
		mask |= KS_POLLERR;
	if (so->shutdown & KS_RCV_SHUTDOWN)
		mask |= KS_POLLRDHUP | KS_POLLIN | KS_POLLRDNORM;
	if (so->shutdown == KS_SHUTDOWN_MASK)
		mask |= KS_POLLHUP;
	if (is->dq_head != NULL)
		mask |= KS_POLLIN | KS_POLLRDNORM;
	ks__unlock(so);
	ks__inet_unlock();
	return mask;
}

static int
udp_ioctl_op(struct ks_sock *so, unsigned long cmd, void *arg)
{
	struct inet_sock *is = inet_sk(so);
	int v;

	switch (cmd) {
	case KS_FIONREAD:
		/* Linux: the length of the next datagram. */
		ks__inet_lock();
		v = is->dq_head != NULL ? is->dq_head->p->tot_len : 0;
		ks__inet_unlock();
		break;
	case KS_SIOCOUTQ:
		/* lwIP delivers a send before it returns. */
		v = 0;
		break;
	default:
		return -KS_ENOTTY;
	}
	return ks__port->copy_to_user(arg, &v, sizeof(v));
}

static void
udp_release_op(struct ks_sock *so)
{
	struct inet_sock *is = inet_sk(so);
	struct inet_dgram *d;

	ks__inet_lock();
	if (is->pcb.udp != NULL)
		udp_remove(is->pcb.udp);
	is->pcb.udp = NULL;
	while ((d = is->dq_head) != NULL) {
		is->dq_head = d->next;
		pbuf_free(d->p);
		mem_free(d);
	}
	is->dq_tail = NULL;
	is->dq_bytes = 0;
	is->released = true;
	ks__lock(so);
	so->shutdown = KS_SHUTDOWN_MASK;
	ks__wake_locked(so, KS_POLLIN | KS_POLLOUT | KS_POLLHUP | KS_POLLERR);
	ks__unlock(so);
	ks__inet_stack_put_locked();
	ks__inet_unlock();
}

const struct ks_proto_ops ks__inet_udp_ops = {
	.bind		= udp_bind_op,
	.listen		= ks__no_listen,
	.connect	= udp_connect_op,
	.accept		= ks__no_accept,
	.sendmsg	= udp_sendmsg_op,
	.recvmsg	= udp_recvmsg_op,
	.shutdown	= udp_shutdown_op,
	.getname	= udp_getname_op,
	.poll		= udp_poll_op,
	.ioctl		= udp_ioctl_op,
	.setsockopt	= ks__inet_setsockopt_ip,
	.getsockopt	= ks__inet_getsockopt_ip,
	.release	= udp_release_op,
	.destroy	= ks__inet_destroy,
	.diag		= ks__no_diag,
};

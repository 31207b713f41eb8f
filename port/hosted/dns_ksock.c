/*
 * DNS transport over ksock's own TCP/IP: struct ks_dns_transport on
 * AF_INET / AF_INET6 sockets of the ks_* object API, so the resolver's
 * queries leave through lwIP (ksock's loopback, or a link such as the
 * hosted TAP interface) instead of the host's sockets.
 *
 * Each endpoint is one non-blocking ksock socket connect()ed to its
 * server: a fresh UDP socket gets a fresh ephemeral port for every try,
 * as the resolver's anti-spoofing rules want. Waiting (a reply, a TCP
 * connection, room to send) registers a poll entry on each socket
 * waited for and parks the calling thread through ksock's port until
 * one wakes it or the deadline passes, the way a kernel's poll() does;
 * deadlines are on the port's monotonic clock, which the hosted
 * resolver's port shares.
 *
 * Memory: endpoints come from ksock's port (so its allocation accounting
 * and failure injection reach them). Sockets are created in the calling
 * thread's context; nothing here is shared between endpoints, and an
 * endpoint belongs to the one lookup that opened it.
 *
 * Needs a running ksock (ks_init, or ksp_init in the hosted port); the
 * port may park threads by handle (park/unpark, the hosted port) or by
 * word (KS_PORT_PARK_WORD, a kernel).
 */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <ksock/dns.h>
#include <ksock/ksock.h>

struct ksock_ep {
	struct ks_sock		*so;
	int			 proto;		/* KS_DNS_UDP or KS_DNS_TCP */
	struct ks_dns_server	 srv;		/* the peer: a stream's "from" */
	struct ks_poll_entry	 pe;		/* used while waiting only */
};

/*
 * A thread waiting for one of several sockets (ks_poll's wake target).
 * A port that parks threads by handle gets unpark(@thread); one with
 * KS_PORT_PARK_WORD (a kernel) sleeps on @word, which a wake-up sets.
 */
struct ksock_waiter {
	void		*thread;		/* port thread_self() */
	_Atomic int	 word;			/* 1: woken since the last look */
};

union ksock_addr {
	struct ks_sockaddr_in	v4;
	struct ks_sockaddr_in6	v6;
	struct ks_sockaddr_storage ss;
};

static uint32_t
to_ks_addr(const struct ks_dns_server *srv, union ksock_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (srv->family == KS_AF_INET) {
		a->v4.sin_family = KS_AF_INET;
		a->v4.sin_port = htons(srv->port);
		memcpy(&a->v4.sin_addr, srv->addr, 4);
		return sizeof(a->v4);
	}
	a->v6.sin6_family = KS_AF_INET6;
	a->v6.sin6_port = htons(srv->port);
	memcpy(&a->v6.sin6_addr, srv->addr, 16);
	return sizeof(a->v6);
}

static void
from_ks_addr(const union ksock_addr *a, struct ks_dns_server *out)
{
	memset(out, 0, sizeof(*out));
	if (a->ss.ss_family == KS_AF_INET) {
		out->family = KS_AF_INET;
		out->port = ntohs(a->v4.sin_port);
		memcpy(out->addr, &a->v4.sin_addr, 4);
	} else if (a->ss.ss_family == KS_AF_INET6) {
		out->family = KS_AF_INET6;
		out->port = ntohs(a->v6.sin6_port);
		memcpy(out->addr, &a->v6.sin6_addr, 16);
	}
}

static bool
parks_on_words(const struct ks_port *port)
{
	return (port->flags & KS_PORT_PARK_WORD) != 0;
}

/* ks_poll's callback: runs with ksock locks held, so it only unparks. */
static void
waiter_wake(struct ks_poll_entry *pe, unsigned events)
{
	struct ksock_waiter *w = pe->arg;
	const struct ks_port *port = ks_port();

	(void)events;
	atomic_store(&w->word, 1);
	if (parks_on_words(port))
		port->unpark_word(&w->word);
	else
		port->unpark(w->thread);
}

/*
 * Waits until one of the @n endpoints at @eps has one of @events (or an
 * error or hang-up, which the next call on it reports), or @deadline_ns
 * passes (-1: never). Returns its index, -KS_ETIMEDOUT or -KS_EINTR.
 *
 * Each pass registers every entry for the socket's current state and
 * only then looks, so a change between the look and park() unparks us
 * and park() returns at once: no wake-up is lost.
 */
static int
wait_any(struct ksock_ep *const *eps, size_t n, unsigned events,
	 int64_t deadline_ns)
{
	const struct ks_port *port = ks_port();
	struct ksock_waiter w = {
		parks_on_words(port) ? NULL : port->thread_self(), 0,
	};
	unsigned want = events | KS_POLLERR | KS_POLLHUP;
	int ret;

	for (size_t i = 0; i < n; i++) {
		eps[i]->pe.wake = waiter_wake;
		eps[i]->pe.arg = &w;
	}
	for (;;) {
		atomic_store(&w.word, 0);
		ret = -1;
		for (size_t i = 0; i < n; i++)
			if ((ks_poll(eps[i]->so, &eps[i]->pe) & want) != 0 &&
			    ret < 0)
				ret = (int)i;
		if (ret >= 0)
			break;
		if (deadline_ns >= 0 && port->now() >= deadline_ns) {
			ret = -KS_ETIMEDOUT;
			break;
		}
		ret = parks_on_words(port) ?
		      port->park_word(&w.word, 0, deadline_ns) :
		      port->park(deadline_ns);
		if (ret == -KS_EINTR)
			break;
	}
	for (size_t i = 0; i < n; i++)
		ks_poll_remove(&eps[i]->pe);
	return ret;
}

static int
wait_one(struct ksock_ep *ep, unsigned events, int64_t deadline_ns)
{
	int ret = wait_any(&ep, 1, events, deadline_ns);

	return ret < 0 ? ret : 0;
}

/* A TCP connection in progress: waits for it and takes its result. */
static int
finish_connect(struct ksock_ep *ep, int64_t deadline_ns)
{
	uint32_t len = sizeof(int);
	int soerr = 0, err;

	err = wait_one(ep, KS_POLLOUT, deadline_ns);
	if (err < 0)
		return err;
	err = ks_getsockopt(ep->so, KS_SOL_SOCKET, KS_SO_ERROR, &soerr, &len);
	if (err < 0)
		return err;
	return -soerr;
}

static int
ksock_open(void *ctx, int proto, const struct ks_dns_server *srv,
	   int64_t deadline_ns, void **out)
{
	const struct ks_port *port = ks_port();
	struct ksock_ep *ep;
	union ksock_addr a;
	uint32_t len = to_ks_addr(srv, &a);
	int err;

	(void)ctx;
	ep = port->alloc(sizeof(*ep));
	if (ep == NULL)
		return -KS_ENOMEM;
	memset(ep, 0, sizeof(*ep));
	ep->proto = proto;
	ep->srv = *srv;
	err = ks_socket(srv->family, proto == KS_DNS_TCP ? KS_SOCK_STREAM :
			KS_SOCK_DGRAM, 0, &ep->so);
	if (err < 0)
		goto free_ep;
	ks_set_nonblock(ep->so, true);
	err = ks_connect(ep->so, &a, len);
	if (err == -KS_EINPROGRESS)
		err = finish_connect(ep, deadline_ns);
	if (err < 0)
		goto close_so;
	*out = ep;
	return 0;

close_so:
	ks_close(ep->so);
free_ep:
	port->free(ep, sizeof(*ep));
	return err;
}

static int
ksock_send(void *p, const void *buf, size_t len)
{
	struct ksock_ep *ep = p;
	size_t off = 0;
	long k;

	while (off < len) {
		struct ks_iovec iov = { (char *)buf + off, len - off };
		struct ks_msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

		k = ks_sendmsg(ep->so, &msg, KS_MSG_NOSIGNAL);
		if (k == -KS_EAGAIN && ep->proto == KS_DNS_TCP) {
			/* A query is a few hundred bytes: a fresh
			 * connection takes it, unless lwIP's heap is dry. */
			int err = wait_one(ep, KS_POLLOUT, -1);

			if (err < 0)
				return err;
			continue;
		}
		if (k < 0)
			return (int)k;
		if (ep->proto == KS_DNS_UDP && (size_t)k != len)
			return -KS_EMSGSIZE;
		off += (size_t)k;
	}
	return 0;
}

static int
ksock_recv(void *p, void *buf, size_t cap, struct ks_dns_server *from,
	   int64_t deadline_ns)
{
	struct ksock_ep *ep = p;
	union ksock_addr a;
	long k;
	int err;

	for (;;) {
		struct ks_iovec iov = { buf, cap };
		struct ks_msghdr msg = {
			.msg_name = &a, .msg_namelen = sizeof(a),
			.msg_iov = &iov, .msg_iovlen = 1,
		};

		memset(&a, 0, sizeof(a));
		k = ks_recvmsg(ep->so, &msg, 0);
		if (k >= 0) {
			/* A stream has one peer: the server we connected to. */
			if (ep->proto == KS_DNS_TCP || msg.msg_namelen == 0)
				*from = ep->srv;
			else
				from_ks_addr(&a, from);
			if (msg.msg_flags & KS_MSG_TRUNC)
				return -KS_EMSGSIZE;	/* @buf has @cap bytes */
			return (int)k;
		}
		if (k != -KS_EAGAIN)
			return (int)k;
		err = wait_one(ep, KS_POLLIN, deadline_ns);
		if (err < 0)
			return err;
	}
}

static void
ksock_close(void *p)
{
	struct ksock_ep *ep = p;

	ks_close(ep->so);
	ks_port()->free(ep, sizeof(*ep));
}

/* struct ks_dns_transport.wait: a reply (or an error) on any endpoint. */
static int
ksock_wait(void *ctx, void *const *eps, size_t n, int64_t deadline_ns)
{
	(void)ctx;
	return wait_any((struct ksock_ep *const *)eps, n, KS_POLLIN,
			deadline_ns);
}

/*
 * struct ks_dns_transport.source: the address a connected UDP socket of
 * ksock gets towards @addr, so RFC 6724 ordering sees ksock's own routes
 * (a destination ksock cannot reach is reported unreachable).
 */
static int
ksock_source(void *ctx, int family, const uint8_t *addr, uint32_t scope,
	     uint8_t *src)
{
	struct ks_dns_server dst = { .family = family, .port = 9 };
	union ksock_addr a, me;
	uint32_t len, melen = sizeof(me);
	struct ks_sock *so;
	int err;

	(void)ctx;
	memcpy(dst.addr, addr, family == KS_AF_INET ? 4 : 16);
	len = to_ks_addr(&dst, &a);
	if (family == KS_AF_INET6)
		a.v6.sin6_scope_id = scope;
	err = ks_socket(family, KS_SOCK_DGRAM, 0, &so);
	if (err < 0)
		return err;
	err = ks_connect(so, &a, len);
	if (err == 0)
		err = ks_getsockname(so, &me, &melen);
	ks_close(so);
	if (err < 0)
		return err;
	if (family == KS_AF_INET)
		memcpy(src, &me.v4.sin_addr, 4);
	else
		memcpy(src, &me.v6.sin6_addr, 16);
	return 0;
}

/*
 * Fills @tp with the transport over ksock's own sockets. ksock must be
 * running (ks_init or ksp_init) whenever a resolver made with @tp looks
 * something up. Neither addrconfig nor if_index is given: ksock has no
 * interface list to read, so AI_ADDRCONFIG filters nothing and only
 * numeric IPv6 scopes are understood.
 */
void
ks_dns_ksock_transport(struct ks_dns_transport *tp)
{
	memset(tp, 0, sizeof(*tp));
	tp->open = ksock_open;
	tp->send = ksock_send;
	tp->recv = ksock_recv;
	tp->close = ksock_close;
	tp->wait = ksock_wait;
	tp->source = ksock_source;
}

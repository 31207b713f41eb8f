/*
 * Hosted DNS transport: struct ks_dns_transport over Linux UDP and TCP
 * sockets.
 *
 * Each endpoint is one socket, opened non-blocking and close-on-exec and
 * connect()ed to its server, so the kernel picks a fresh ephemeral source
 * port for every query and already drops datagrams from other peers; recv
 * still reports the sender so the resolver core checks it itself (the core
 * must not depend on a transport being that careful). Deadlines are
 * CLOCK_MONOTONIC nanoseconds, the clock of the hosted port's now().
 *
 * No shared state: an endpoint belongs to the one lookup that opened it.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ksock/dns.h>

struct hosted_ep {
	int	fd;
	int	proto;
};

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Waits until @fd has @events or @deadline_ns passes (-1: forever). */
static int
wait_fd(int fd, short events, int64_t deadline_ns)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int timeout = -1;

		if (deadline_ns >= 0) {
			int64_t left = deadline_ns - mono_ns();
			if (left <= 0)
				return -KS_ETIMEDOUT;
			/* Round up so we never wake just before the deadline. */
			timeout = (int)((left + 999999) / 1000000);
		}
		int n = poll(&p, 1, timeout);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static socklen_t
to_sockaddr(const struct ks_dns_server *srv, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (srv->family == KS_AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(srv->port);
		memcpy(&sin->sin_addr, srv->addr, 4);
		return sizeof *sin;
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(srv->port);
	memcpy(&sin6->sin6_addr, srv->addr, 16);
	return sizeof *sin6;
}

static void
from_sockaddr(const struct sockaddr_storage *ss, struct ks_dns_server *out)
{
	memset(out, 0, sizeof *out);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;
		out->family = KS_AF_INET;
		out->port = ntohs(sin->sin_port);
		memcpy(out->addr, &sin->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;
		out->family = KS_AF_INET6;
		out->port = ntohs(sin6->sin6_port);
		memcpy(out->addr, &sin6->sin6_addr, 16);
	}
}

static int
hosted_open(void *ctx, int proto, const struct ks_dns_server *srv,
	    int64_t deadline_ns, void **out)
{
	struct sockaddr_storage ss;
	socklen_t sslen = to_sockaddr(srv, &ss);
	struct hosted_ep *ep;
	int err;

	ep = malloc(sizeof *ep);
	if (!ep)
		return -KS_ENOMEM;
	ep->proto = proto;
	ep->fd = socket(ss.ss_family, (proto == KS_DNS_TCP ? SOCK_STREAM :
				       SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ep->fd < 0) {
		err = -errno;
		goto free_ep;
	}
	if (connect(ep->fd, (struct sockaddr *)&ss, sslen) < 0) {
		if (errno != EINPROGRESS) {
			err = -errno;
			goto close_fd;
		}
		err = wait_fd(ep->fd, POLLOUT, deadline_ns);
		if (err < 0)
			goto close_fd;
		int soerr = 0;
		socklen_t len = sizeof soerr;
		getsockopt(ep->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (soerr) {
			err = -soerr;
			goto close_fd;
		}
	}
	*out = ep;
	return 0;

close_fd:
	close(ep->fd);
free_ep:
	free(ep);
	return err;
}

static int
hosted_send(void *p, const void *buf, size_t len)
{
	struct hosted_ep *ep = p;
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(ep->fd, (const char *)buf + off, len - off,
				 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && ep->proto == KS_DNS_TCP) {
				int err = wait_fd(ep->fd, POLLOUT, -1);
				if (err < 0)
					return err;
				continue;
			}
			return -errno;
		}
		off += (size_t)n;
	}
	return 0;
}

static int
hosted_recv(void *p, void *buf, size_t cap, struct ks_dns_server *from,
	    int64_t deadline_ns)
{
	struct hosted_ep *ep = p;

	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof ss;
		ssize_t n;

		/* MSG_TRUNC: learn a datagram's real size, to report an
		 * oversized one instead of a silently cut one. */
		n = recvfrom(ep->fd, buf, cap,
			     ep->proto == KS_DNS_UDP ? MSG_TRUNC : 0,
			     (struct sockaddr *)&ss, &sslen);
		if (n >= 0) {
			if (ep->proto == KS_DNS_TCP || sslen == 0) {
				/* A stream has one peer: the one we connected to. */
				struct sockaddr_storage peer;
				socklen_t plen = sizeof peer;
				if (getpeername(ep->fd, (struct sockaddr *)&peer,
						&plen) == 0)
					from_sockaddr(&peer, from);
			} else {
				from_sockaddr(&ss, from);
			}
			if (ep->proto == KS_DNS_UDP && (size_t)n > cap)
				return -KS_EMSGSIZE;	/* @buf holds the first @cap bytes */
			return (int)n;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		int err = wait_fd(ep->fd, POLLIN, deadline_ns);
		if (err < 0)
			return err;
	}
}

static void
hosted_close(void *p)
{
	struct hosted_ep *ep = p;

	close(ep->fd);
	free(ep);
}

/* Polls every endpoint at once (struct ks_dns_transport.wait). */
static int
hosted_wait(void *ctx, void *const *eps, size_t n, int64_t deadline_ns)
{
	struct pollfd p[64];

	if (n > sizeof p / sizeof p[0])
		n = sizeof p / sizeof p[0];
	for (size_t i = 0; i < n; i++) {
		const struct hosted_ep *ep = eps[i];
		p[i].fd = ep->fd;
		p[i].events = POLLIN;
		p[i].revents = 0;
	}
	for (;;) {
		int timeout = -1;

		if (deadline_ns >= 0) {
			int64_t left = deadline_ns - mono_ns();
			if (left <= 0)
				return -KS_ETIMEDOUT;
			timeout = (int)((left + 999999) / 1000000);
		}
		int got = poll(p, (nfds_t)n, timeout);
		if (got < 0 && errno != EINTR)
			return -errno;
		for (size_t i = 0; got > 0 && i < n; i++)
			if (p[i].revents)
				return (int)i;
	}
}

/* if_nametoindex() (struct ks_dns_transport.if_index). */
static int
hosted_if_index(void *ctx, const char *name, size_t len, uint32_t *index)
{
	char buf[IF_NAMESIZE];

	if (len == 0 || len >= sizeof buf)
		return -KS_ENOENT;
	memcpy(buf, name, len);
	buf[len] = 0;
	*index = if_nametoindex(buf);
	return *index ? 0 : -KS_ENOENT;
}

/* The source address a connected UDP socket gets (struct
 * ks_dns_transport.source), as glibc finds it for RFC 6724 ordering. */
static int
hosted_source(void *ctx, int family, const uint8_t *addr, uint32_t scope,
	      uint8_t *src)
{
	struct ks_dns_server dst = { .family = family, .port = 9 };
	struct sockaddr_storage ss, me;
	socklen_t len = to_sockaddr((memcpy(dst.addr, addr,
					    family == KS_AF_INET ? 4 : 16),
				     &dst), &ss), melen = sizeof me;
	int fd, err = 0;

	if (family == KS_AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_scope_id = scope;
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 ||
	    getsockname(fd, (struct sockaddr *)&me, &melen) < 0)
		err = -errno;
	close(fd);
	if (err)
		return err;
	if (me.ss_family == AF_INET)
		memcpy(src, &((struct sockaddr_in *)&me)->sin_addr, 4);
	else
		memcpy(src, &((struct sockaddr_in6 *)&me)->sin6_addr, 16);
	return 0;
}

/* Non-loopback, non-link-local addresses, as glibc's AI_ADDRCONFIG. */
static void
hosted_addrconfig(void *ctx, bool *v4, bool *v6)
{
	struct ifaddrs *ifa, *i;

	*v4 = *v6 = false;
	if (getifaddrs(&ifa) < 0)
		return;
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			const struct sockaddr_in *s = (const void *)i->ifa_addr;
			if ((ntohl(s->sin_addr.s_addr) >> 24) != 127)
				*v4 = true;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *s = (const void *)i->ifa_addr;
			if (!IN6_IS_ADDR_LOOPBACK(&s->sin6_addr) &&
			    !IN6_IS_ADDR_LINKLOCAL(&s->sin6_addr))
				*v6 = true;
		}
	}
	freeifaddrs(ifa);
}

/* Fills @tp with the hosted transport. */
void
ks_dns_hosted_transport(struct ks_dns_transport *tp)
{
	memset(tp, 0, sizeof *tp);
	tp->open = hosted_open;
	tp->send = hosted_send;
	tp->recv = hosted_recv;
	tp->close = hosted_close;
	tp->addrconfig = hosted_addrconfig;
	tp->wait = hosted_wait;
	tp->if_index = hosted_if_index;
	tp->source = hosted_source;
}

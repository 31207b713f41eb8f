/*
 * Unit tests: AF_INET and AF_INET6 through the object API, with an
 * allocation failing at every allocation each test makes (the harness's
 * injection): the first socket's lwIP heap, each socket's memory, the
 * socket accept() makes. Every failure must come back as ENOMEM or
 * ENOBUFS and leave nothing allocated (the stack stops with its last
 * socket and returns its heap).
 */
#include <arpa/inet.h>

#include "unit.h"

static struct ks_sock *
inet_socket(int family, int type)
{
	struct ks_sock *so = NULL;

	if (OK(ks_socket(family, type, 0, &so)) < 0)
		return NULL;
	ut_track(so);
	return so;
}

static uint32_t
lo4(struct ks_sockaddr_in *a, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = KS_AF_INET;
	a->sin_port = htons(port);
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sizeof(*a);
}

static uint32_t
lo6(struct ks_sockaddr_in6 *a, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->sin6_family = KS_AF_INET6;
	a->sin6_port = htons(port);
	a->sin6_addr.s6_bytes[15] = 1;
	return sizeof(*a);
}

/* The port @so is bound to (sin_port and sin6_port share an offset). */
static uint16_t
port_of(struct ks_sock *so)
{
	struct ks_sockaddr_in6 a;
	uint32_t len = sizeof(a);

	memset(&a, 0, sizeof(a));
	EQ(ks_getsockname(so, &a, &len), 0);
	return ntohs(a.sin6_port);
}

/* Binds @so to the loopback of its family with port @port. */
static long
bind_lo(struct ks_sock *so, int family, uint16_t port)
{
	struct ks_sockaddr_in6 a6;
	struct ks_sockaddr_in a4;

	if (family == KS_AF_INET)
		return ks_bind(so, &a4, lo4(&a4, port));
	return ks_bind(so, &a6, lo6(&a6, port));
}

static long
connect_lo(struct ks_sock *so, int family, uint16_t port)
{
	struct ks_sockaddr_in6 a6;
	struct ks_sockaddr_in a4;

	if (family == KS_AF_INET)
		return ks_connect(so, &a4, lo4(&a4, port));
	return ks_connect(so, &a6, lo6(&a6, port));
}

/* Every family and type is created and closed; the rest is refused as
 * Linux refuses it. */
static void
t_create_close(void)
{
	static const int families[] = { KS_AF_INET, KS_AF_INET6 };
	static const int types[] = { KS_SOCK_STREAM, KS_SOCK_DGRAM };
	struct ks_sock *pair[2], *so = NULL;

	for (size_t f = 0; f < 2; f++) {
		for (size_t t = 0; t < 2; t++) {
			so = inet_socket(families[f], types[t]);
			if (so == NULL)
				return;
			CHECK_EQ(ks_sock_family(so), families[f]);
			CHECK_EQ(ks_sock_type(so), types[t]);
			ut_close(&so);
		}
	}
	ERR(ks_socket(KS_AF_INET, KS_SOCK_STREAM, KS_IPPROTO_UDP, &so),
	    -KS_EPROTONOSUPPORT);
	ERR(ks_socket(KS_AF_INET6, KS_SOCK_DGRAM, KS_IPPROTO_TCP, &so),
	    -KS_EPROTONOSUPPORT);
	ERR(ks_socket(KS_AF_INET, KS_SOCK_SEQPACKET, 0, &so),
	    -KS_ESOCKTNOSUPPORT);
	ERR(ks_socketpair(KS_AF_INET, KS_SOCK_STREAM, 0, pair),
	    -KS_EOPNOTSUPP);
}

/* A connection over the loopback carries bytes both ways, then ends. */
static void
tcp_exchange(int family)
{
	struct ks_sock *l = inet_socket(family, KS_SOCK_STREAM);
	struct ks_sock *c = inet_socket(family, KS_SOCK_STREAM), *s;
	uint16_t port;
	char buf[16];

	if (c == NULL)
		return;
	EQ(bind_lo(l, family, 0), 0);
	EQ(ks_listen(l, 4), 0);
	port = port_of(l);
	EQ(connect_lo(c, family, port), 0);
	s = ut_accept(l);
	EQ(ut_send(c, "request", 7, 0), 7);
	EQ(ut_recv(s, buf, sizeof(buf), 0), 7);
	CHECK_MEM(buf, "request", 7);
	EQ(ut_send(s, "reply", 5, 0), 5);
	EQ(ut_recv(c, buf, sizeof(buf), 0), 5);
	CHECK_MEM(buf, "reply", 5);
	EQ(ks_shutdown(c, KS_SHUT_WR), 0);
	EQ(ut_recv(s, buf, sizeof(buf), 0), 0);
}

static void
t_tcp_exchange_v4(void)
{
	tcp_exchange(KS_AF_INET);
}

static void
t_tcp_exchange_v6(void)
{
	tcp_exchange(KS_AF_INET6);
}

/* A connection nobody accepted is reset when its listener closes. */
static void
t_listener_close_resets_pending(void)
{
	struct ks_sock *l = inet_socket(KS_AF_INET, KS_SOCK_STREAM);
	struct ks_sock *c = inet_socket(KS_AF_INET, KS_SOCK_STREAM);
	char buf[4];

	if (c == NULL)
		return;
	EQ(bind_lo(l, KS_AF_INET, 0), 0);
	EQ(ks_listen(l, 4), 0);
	EQ(connect_lo(c, KS_AF_INET, port_of(l)), 0);
	EQ(ut_send(c, "early", 5, 0), 5);
	ut_close(&l);
	ERR(ut_recv(c, buf, sizeof(buf), 0), -KS_ECONNRESET);
}

/* Datagrams between two sockets name their sender. */
static void
t_udp_exchange(void)
{
	struct ks_sock *a = inet_socket(KS_AF_INET, KS_SOCK_DGRAM);
	struct ks_sock *b = inet_socket(KS_AF_INET, KS_SOCK_DGRAM);
	struct ks_sockaddr_in to, from;
	uint32_t alen = sizeof(from);
	char buf[16];
	int mflags = 0;

	if (b == NULL)
		return;
	EQ(bind_lo(b, KS_AF_INET, 0), 0);
	lo4(&to, port_of(b));
	EQ(ut_sendto(a, "datagram", 8, 0, &to, sizeof(to)), 8);
	EQ(ut_recvfrom(b, buf, 4, 0, &from, &alen, &mflags), 4);
	CHECK_MEM(buf, "data", 4);
	CHECK(mflags & KS_MSG_TRUNC);
	CHECK_EQ(alen, sizeof(from));
	CHECK_EQ(ntohs(from.sin_port), port_of(a));
}

/* The stack stops with its last socket and starts again with the next:
 * a port used before is free again. */
static void
t_stack_restarts(void)
{
	struct ks_sock *a = inet_socket(KS_AF_INET, KS_SOCK_STREAM);
	uint16_t port;

	if (a == NULL)
		return;
	EQ(bind_lo(a, KS_AF_INET, 0), 0);
	EQ(ks_listen(a, 1), 0);
	port = port_of(a);
	ut_close(&a);
	a = inet_socket(KS_AF_INET, KS_SOCK_STREAM);
	EQ(bind_lo(a, KS_AF_INET, port), 0);
}

/* lwIP's heap running dry: sends fail cleanly with ENOBUFS while
 * datagrams nobody reads fill it, and work again once they are read. */
static void
t_heap_dry_enobufs(void)
{
	static char big[60000];
	struct ks_sock *a = inet_socket(KS_AF_INET, KS_SOCK_DGRAM);
	struct ks_sock *b = inet_socket(KS_AF_INET, KS_SOCK_DGRAM);
	struct ks_sockaddr_in to;
	long r = 0, sent = 0, got = 0;

	if (b == NULL)
		return;
	EQ(bind_lo(b, KS_AF_INET, 0), 0);
	/* Room in the socket for more than lwIP's whole heap. */
	EQ(ut_setint(b, KS_SO_RCVBUF, 8 << 20), 0);
	lo4(&to, port_of(b));
	while (ut_live() && sent < 1000) {
		r = ut_sendto(a, big, sizeof(big), 0, &to, sizeof(to));
		if (r != (long)sizeof(big))
			break;
		sent++;
	}
	CHECK_EQ(r, -KS_ENOBUFS);
	CHECK(sent > 10);
	while (ut_live() &&
	       ut_recv(b, big, sizeof(big), KS_MSG_DONTWAIT) ==
	       (long)sizeof(big))
		got++;
	/* Each datagram sent was queued (none dropped before the heap ran
	 * dry), and the heap serves sends again. */
	CHECK_EQ(got, sent);
	EQ(ut_sendto(a, big, sizeof(big), 0, &to, sizeof(to)),
	   (long)sizeof(big));
}

#define CONC_BYTES	(1L << 20)

static int
conc_writer(void *arg)
{
	struct ks_sock *so = arg;
	static char buf[7000];
	long off = 0;

	while (off < CONC_BYTES) {
		long n = CONC_BYTES - off < (long)sizeof(buf) ?
			 CONC_BYTES - off : (long)sizeof(buf);

		for (long i = 0; i < n; i++)
			buf[i] = (char)((off + i) % 251);
		n = ut_send(so, buf, (size_t)n, 0);
		if (n <= 0)
			return 1;
		off += n;
	}
	return ks_shutdown(so, KS_SHUT_WR) < 0;
}

/* Two processes on two threads: one writes 1 MiB while the other reads
 * it, so both block and wake each other through the stack lock (TSan
 * runs this too). No injection: a stopped writer would leave the reader
 * waiting. */
static void
t_concurrent_stream(void)
{
	struct ks_sock *l = inet_socket(KS_AF_INET, KS_SOCK_STREAM);
	struct ks_sock *c = inet_socket(KS_AF_INET, KS_SOCK_STREAM), *s;
	static char buf[5000];
	struct ksp_proc *w;
	long off = 0, bad = -1, n;

	if (c == NULL)
		return;
	EQ(bind_lo(l, KS_AF_INET, 0), 0);
	EQ(ks_listen(l, 1), 0);
	EQ(connect_lo(c, KS_AF_INET, port_of(l)), 0);
	s = ut_accept(l);
	if (s == NULL)
		return;
	w = ut_spawn(conc_writer, c);
	while ((n = ut_recv(s, buf, sizeof(buf), 0)) > 0) {
		for (long i = 0; i < n && bad < 0; i++)
			if (buf[i] != (char)((off + i) % 251))
				bad = off + i;
		off += n;
	}
	CHECK_EQ(n, 0);
	CHECK_EQ(off, CONC_BYTES);
	CHECK_EQ(bad, -1);
	CHECK_EQ(ut_join(w), 0);
}

/* The loopback is the only interface: a destination elsewhere has no
 * route, for TCP and UDP (Linux on a host without a route says the
 * same), instead of a SYN that the loopback drops until a timeout. */
static void
t_no_route_elsewhere(void)
{
	struct ks_sock *t = inet_socket(KS_AF_INET, KS_SOCK_STREAM);
	struct ks_sock *u = inet_socket(KS_AF_INET, KS_SOCK_DGRAM);
	struct ks_sockaddr_in far;

	if (u == NULL)
		return;
	lo4(&far, 80);
	far.sin_addr.s_addr = htonl(0xc0000201);	/* 192.0.2.1 */
	ERR(ks_connect(t, &far, sizeof(far)), -101 /* ENETUNREACH */);
	ERR(ks_connect(u, &far, sizeof(far)), -101);
	ERR(ut_sendto(u, "x", 1, 0, &far, sizeof(far)), -101);
}

/* One connection that the client closes first, so its end goes to
 * TIME_WAIT on the listener's stack; returns the client's port. */
static uint16_t
connect_close_first(struct ks_sock *l)
{
	struct ks_sock *c = inet_socket(KS_AF_INET, KS_SOCK_STREAM), *s;
	uint16_t port;

	if (c == NULL)
		return 0;
	EQ(connect_lo(c, KS_AF_INET, port_of(l)), 0);
	port = port_of(c);
	s = ut_accept(l);
	ut_close(&c);
	ut_close(&s);
	return port;
}

/* At most a few hundred connections stay in TIME_WAIT (stack.c's
 * INET_TW_MAX, 256; trimmed back to it past twice that): after 600, the
 * first client's port is free again, the last one's still held. */
static void
t_time_wait_bounded(void)
{
	struct ks_sock *l = inet_socket(KS_AF_INET, KS_SOCK_STREAM);
	struct ks_sock *b;
	uint16_t first, last = 0;

	if (l == NULL)
		return;
	EQ(bind_lo(l, KS_AF_INET, 0), 0);
	EQ(ks_listen(l, 8), 0);
	first = connect_close_first(l);
	for (int i = 1; i < 600 && ut_live(); i++)
		last = connect_close_first(l);
	b = inet_socket(KS_AF_INET, KS_SOCK_STREAM);
	if (b == NULL)
		return;
	ERR(bind_lo(b, KS_AF_INET, last), -KS_EADDRINUSE);
	EQ(bind_lo(b, KS_AF_INET, first), 0);
}

static const struct ut_test tests[] = {
	{ "create_close", t_create_close, 0 },
	{ "tcp_exchange_v4", t_tcp_exchange_v4, 0 },
	{ "tcp_exchange_v6", t_tcp_exchange_v6, 0 },
	{ "listener_close_resets_pending", t_listener_close_resets_pending, 0 },
	{ "udp_exchange", t_udp_exchange, 0 },
	{ "stack_restarts", t_stack_restarts, 0 },
	{ "heap_dry_enobufs", t_heap_dry_enobufs, 0 },
	{ "concurrent_stream", t_concurrent_stream, UT_NO_INJECT },
	{ "no_route_elsewhere", t_no_route_elsewhere, 0 },
	{ "time_wait_bounded", t_time_wait_bounded, UT_NO_INJECT },
};

UT_MAIN(tests)

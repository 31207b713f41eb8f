/*
 * Unit tests: AF_INET and AF_INET6 through the object API, with an
 * allocation failing at every allocation each test makes (the harness's
 * injection): the first socket's lwIP heap, each socket's memory, the
 * socket accept() makes. Every failure must come back as ENOMEM or
 * ENOBUFS and leave nothing allocated (the stack stops with its last
 * socket and returns its heap). Some look inside (lwIP's headers): a
 * connection whose far end vanishes (keepalive), lwIP's heap taken.
 */
#include "unit.h"

/* lwIP's headers give htonl and the rest (lwIP's own, from the library)
 * and clash with <arpa/inet.h>; its cc.h names the byte order itself
 * (the same value as glibc's, spelt differently). */
#undef BYTE_ORDER
#include "inet/inet.h"
#include "lwip/mem.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

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
	a->sin_addr.s_addr = htonl(IPADDR_LOOPBACK);
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

/* An accepted socket copies its listener's rare options (SO_LINGER's
 * time lives apart, allocated): a failed copy is accept's ENOMEM. */
static void
t_accept_inherits_linger(void)
{
	struct ks_sock *l = inet_socket(KS_AF_INET, KS_SOCK_STREAM);
	struct ks_sock *c = inet_socket(KS_AF_INET, KS_SOCK_STREAM), *s;
	struct ks_linger lg = { .l_onoff = 1, .l_linger = 7 }, got;
	uint32_t len = sizeof(got);

	if (c == NULL)
		return;
	EQ(bind_lo(l, KS_AF_INET, 0), 0);
	EQ(ks_listen(l, 4), 0);
	EQ(ks_setsockopt(l, KS_SOL_SOCKET, KS_SO_LINGER, &lg, sizeof(lg)), 0);
	EQ(connect_lo(c, KS_AF_INET, port_of(l)), 0);
	s = ut_accept(l);
	if (s == NULL)
		return;
	EQ(ks_getsockopt(s, KS_SOL_SOCKET, KS_SO_LINGER, &got, &len), 0);
	CHECK_EQ(got.l_onoff, 1);
	CHECK_EQ(got.l_linger, 7);
}

/* Makes @so's connection vanish from lwIP without a word to the peer
 * (as a host that lost power), so the peer's next segment draws a
 * reset. */
static void
vanish(struct ks_sock *so)
{
	struct tcp_pcb *pcb;

	ks__inet_lock();
	pcb = inet_sk(so)->pcb.tcp;
	if (pcb != NULL)
		tcp_abandon(pcb, 0);
	ks__inet_unlock();
}

/*
 * A connection with TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT at 1 and
 * SO_RCVTIMEO @timeout_s: returns its client end, and its accepted end
 * in *@far; or NULL.
 */
static struct ks_sock *
keep_pair(int timeout_s, struct ks_sock **far)
{
	struct ks_sock *l = inet_socket(KS_AF_INET, KS_SOCK_STREAM);
	struct ks_sock *c = inet_socket(KS_AF_INET, KS_SOCK_STREAM);
	struct ks_timeval tv = { .tv_sec = timeout_s };
	int one = 1;

	if (c == NULL)
		return NULL;
	EQ(bind_lo(l, KS_AF_INET, 0), 0);
	EQ(ks_listen(l, 4), 0);
	EQ(connect_lo(c, KS_AF_INET, port_of(l)), 0);
	*far = ut_accept(l);
	if (*far == NULL)
		return NULL;
	for (int name = 4; name <= 6; name++)	/* KEEPIDLE, INTVL, CNT */
		EQ(ks_setsockopt(c, KS_IPPROTO_TCP, name, &one, sizeof(one)),
		   0);
	EQ(ks_setsockopt(c, KS_SOL_SOCKET, KS_SO_RCVTIMEO, &tv, sizeof(tv)),
	   0);
	return c;
}

/*
 * SO_KEEPALIVE reaches lwIP, set after the connection exists: with the
 * far end gone, the first probe (after TCP_KEEPIDLE, 1 s) draws a reset
 * and the blocked recv sees ECONNRESET.
 */
static void
t_keepalive_probes(void)
{
	struct ks_sock *s, *c = keep_pair(30, &s);
	char buf[4];

	if (c == NULL)
		return;
	vanish(s);
	EQ(ut_setint(c, KS_SO_KEEPALIVE, 1), 0);
	ERR(ut_recv(c, buf, sizeof(buf), 0), -KS_ECONNRESET);
}

/* Without SO_KEEPALIVE an idle connection whose far end vanished stays
 * silent: the recv runs into its timeout. */
static void
t_no_keepalive_silent(void)
{
	struct ks_sock *s, *c = keep_pair(3, &s);
	char buf[4];

	if (c == NULL)
		return;
	vanish(s);
	ERR(ut_recv(c, buf, sizeof(buf), 0), -KS_EAGAIN);
}

/*
 * Keepalive probes nobody answers (white box: the connection's far
 * address is made one no packet reaches) end the connection after
 * TCP_KEEPCNT of them: the blocked recv sees ETIMEDOUT, as on Linux.
 */
static void
t_keepalive_timeout(void)
{
	struct ks_sock *s, *c = keep_pair(60, &s);
	char buf[4];

	if (c == NULL)
		return;
	EQ(ut_setint(c, KS_SO_KEEPALIVE, 1), 0);
	ks__inet_lock();
	ip_addr_set_ip4_u32_val(inet_sk(c)->pcb.tcp->remote_ip,
				htonl(0xc0000201));	/* 192.0.2.1 */
	ks__inet_unlock();
	ERR(ut_recv(c, buf, sizeof(buf), 0), -KS_ETIMEDOUT);
}

#define ALIASES		128	/* af_inet.c's INET_ALIAS_MAX */

/* Each further address of 127.0.0.0/8 a socket binds takes an alias of
 * lwIP's: up to the limit, then ENOBUFS (nothing half made); an address
 * bound before stays bindable; the stack's stop frees them all. */
static void
t_loopnet_alias_limit(void)
{
	static struct ks_sock *so[ALIASES + 2];
	struct ks_sockaddr_in a;

	for (int i = 0; i < ALIASES + 2; i++) {
		so[i] = inet_socket(KS_AF_INET, KS_SOCK_DGRAM);
		if (so[i] == NULL)
			return;
	}
	for (int i = 0; i < ALIASES; i++) {
		lo4(&a, 0);
		a.sin_addr.s_addr = htonl(0x7f010000 + (uint32_t)i);
		EQ(ks_bind(so[i], &a, sizeof(a)), 0);
	}
	lo4(&a, 0);
	a.sin_addr.s_addr = htonl(0x7f020000);
	ERR(ks_bind(so[ALIASES], &a, sizeof(a)), -KS_ENOBUFS);
	a.sin_addr.s_addr = htonl(0x7f010000);
	EQ(ks_bind(so[ALIASES + 1], &a, sizeof(a)), 0);
}

/* A listener stopped by connect(AF_UNSPEC) keeps its name and listens
 * there again (Linux's listens too but, oddly, refuses connections; the
 * conformance test stops before that). */
static void
t_listener_unspec_relisten(void)
{
	struct ks_sock *l = inet_socket(KS_AF_INET, KS_SOCK_STREAM);
	struct ks_sock *c = inet_socket(KS_AF_INET, KS_SOCK_STREAM);
	struct ks_sockaddr unspec = { .sa_family = KS_AF_UNSPEC };
	uint16_t port;

	if (c == NULL)
		return;
	EQ(bind_lo(l, KS_AF_INET, 0), 0);
	EQ(ks_listen(l, 4), 0);
	port = port_of(l);
	EQ(ks_connect(l, &unspec, sizeof(unspec)), 0);
	CHECK_EQ(port_of(l), port);
	EQ(ks_listen(l, 4), 0);
	CHECK_EQ(port_of(l), port);
	EQ(connect_lo(c, KS_AF_INET, port), 0);
	ut_accept(l);
}

#define HEAP_BLOCKS	64

/* Takes all of lwIP's heap (white box), largest blocks first; returns
 * how many blocks @blk holds. */
static int
heap_take_all(void **blk)
{
	size_t size = (size_t)1 << 20;
	int n = 0;

	ks__inet_lock();
	while (size >= MEM_ALIGNMENT && n < HEAP_BLOCKS) {
		void *b = mem_malloc((mem_size_t)size);

		if (b == NULL)
			size /= 2;
		else
			blk[n++] = b;
	}
	ks__inet_unlock();
	return n;
}

static void
heap_give_back(void **blk, int n)
{
	ks__inet_lock();
	while (n > 0)
		mem_free(blk[--n]);
	ks__inet_unlock();
}

/* With lwIP's heap dry, a new address of 127.0.0.0/8 has no room for its
 * alias: bind and sendto fail cleanly with ENOBUFS and work once there
 * is room again. */
static void
t_loopnet_alias_heap_dry(void)
{
	struct ks_sock *u = inet_socket(KS_AF_INET, KS_SOCK_DGRAM);
	struct ks_sock *b = inet_socket(KS_AF_INET, KS_SOCK_DGRAM);
	static void *blk[HEAP_BLOCKS];
	struct ks_sockaddr_in a;
	int n;

	if (b == NULL)
		return;
	lo4(&a, 0);
	a.sin_addr.s_addr = htonl(0x7f000063);
	n = heap_take_all(blk);
	ERR(ks_bind(b, &a, sizeof(a)), -KS_ENOBUFS);
	a.sin_port = htons(9);
	ERR(ut_sendto(u, "x", 1, 0, &a, sizeof(a)), -KS_ENOBUFS);
	heap_give_back(blk, n);
	a.sin_port = 0;
	EQ(ks_bind(b, &a, sizeof(a)), 0);
	lo4(&a, port_of(b));
	a.sin_addr.s_addr = htonl(0x7f000063);
	EQ(ut_sendto(u, "x", 1, 0, &a, sizeof(a)), 1);
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
	{ "accept_inherits_linger", t_accept_inherits_linger, 0 },
	{ "keepalive_probes", t_keepalive_probes, UT_NO_INJECT },
	{ "no_keepalive_silent", t_no_keepalive_silent, UT_NO_INJECT },
	{ "keepalive_timeout", t_keepalive_timeout, UT_NO_INJECT },
	{ "loopnet_alias_limit", t_loopnet_alias_limit, UT_NO_INJECT },
	{ "loopnet_alias_heap_dry", t_loopnet_alias_heap_dry, 0 },
	{ "listener_unspec_relisten", t_listener_unspec_relisten, 0 },
	{ "time_wait_bounded", t_time_wait_bounded, UT_NO_INJECT },
};

UT_MAIN(tests)

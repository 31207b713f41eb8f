/*
 * TCP over the loopback (AF_INET and AF_INET6): bind and names
 * (privileged ports, the ephemeral range, SO_REUSEADDR, SO_REUSEPORT,
 * all of 127.0.0.0/8), listen and its backlog, accept and accept4,
 * connect (blocking, non-blocking, refused, EALREADY, ETIMEDOUT,
 * ENETUNREACH), data with MSG_PEEK and MSG_DONTWAIT, half-close, close
 * with unread data (reset), poll readiness in every state, options
 * (TCP_MAXSEG, SO_RCVLOWAT, buffers, inheritance, TCP_INFO), and a large
 * transfer checked byte for byte. Run on Linux's loopback and on ksock's.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sched.h>

#include "harness.h"

/* -- helpers -- */

static struct sockaddr_in
lo4(uint16_t port)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};

	return a;
}

static struct sockaddr_in6
lo6(uint16_t port)
{
	struct sockaddr_in6 a = {
		.sin6_family = AF_INET6,
		.sin6_port = htons(port),
		.sin6_addr = IN6ADDR_LOOPBACK_INIT,
	};

	return a;
}

static uint16_t
local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	CHECK_OK(getsockname(fd, (struct sockaddr *)&ss, &len));
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* A listener on 127.0.0.1 (or ::1) with an ephemeral port. */
static int
listener(int family, uint16_t *port)
{
	int fd = CHECK_OK(socket(family, SOCK_STREAM, 0));

	if (family == AF_INET) {
		struct sockaddr_in a = lo4(0);

		CHECK_OK(bind(fd, (struct sockaddr *)&a, sizeof(a)));
	} else {
		struct sockaddr_in6 a = lo6(0);

		CHECK_OK(bind(fd, (struct sockaddr *)&a, sizeof(a)));
	}
	CHECK_OK(listen(fd, 8));
	*port = local_port(fd);
	return fd;
}

/* A connected pair over the loopback: c[0] the client, c[1] accepted. */
static void
tcp_pair(int family, int c[2])
{
	uint16_t port;
	int l = listener(family, &port);

	c[0] = CHECK_OK(socket(family, SOCK_STREAM, 0));
	if (family == AF_INET) {
		struct sockaddr_in a = lo4(port);

		CHECK_OK(connect(c[0], (struct sockaddr *)&a, sizeof(a)));
	} else {
		struct sockaddr_in6 a = lo6(port);

		CHECK_OK(connect(c[0], (struct sockaddr *)&a, sizeof(a)));
	}
	c[1] = CHECK_OK(accept(l, NULL, NULL));
	CHECK_OK(close(l));
}

/* A port nobody listens on: bound once, then closed. */
static uint16_t
closed_port(void)
{
	int fd = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	struct sockaddr_in a = lo4(0);
	uint16_t port;

	CHECK_OK(bind(fd, (struct sockaddr *)&a, sizeof(a)));
	port = local_port(fd);
	CHECK_OK(close(fd));
	return port;
}

static int
revents(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	CHECK_OK(poll(&p, 1, 0));
	return p.revents;
}

/* An int option's value. */
static int
int_opt(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	CHECK_OK(getsockopt(fd, level, name, &v, &len));
	return v;
}

static int
so_error(int fd)
{
	return int_opt(fd, SOL_SOCKET, SO_ERROR);
}

#define ALL_EVENTS	(POLLIN | POLLOUT | POLLRDHUP)

/* -- tests -- */

/* Port 0 picks an ephemeral port; an unbound socket's name is 0.0.0.0:0. */
static void
t_bind_ephemeral(void)
{
	int fd = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	struct sockaddr_in a = lo4(0), got;
	socklen_t len = sizeof(got);

	CHECK_OK(getsockname(fd, (struct sockaddr *)&got, &len));
	CHECK_EQ(len, sizeof(got));
	CHECK_EQ(got.sin_family, AF_INET);
	CHECK_EQ(got.sin_port, 0);
	CHECK_EQ(got.sin_addr.s_addr, 0);
	CHECK_OK(bind(fd, (struct sockaddr *)&a, sizeof(a)));
	len = sizeof(got);
	CHECK_OK(getsockname(fd, (struct sockaddr *)&got, &len));
	CHECK(got.sin_port != 0);
	CHECK_EQ(got.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	CHECK_OK(close(fd));
}

/* Binding twice is EINVAL, a taken port EADDRINUSE, an address that is
 * not local EADDRNOTAVAIL, a short address EINVAL, another family
 * EAFNOSUPPORT. */
static void
t_bind_errors(void)
{
	int a = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	int b = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	struct sockaddr_in any = lo4(0), taken, far = lo4(0), wrong = lo4(0);

	CHECK_OK(bind(a, (struct sockaddr *)&any, sizeof(any)));
	CHECK_ERR(bind(a, (struct sockaddr *)&any, sizeof(any)), EINVAL);
	taken = lo4(local_port(a));
	CHECK_ERR(bind(b, (struct sockaddr *)&taken, sizeof(taken)),
		  EADDRINUSE);
	/* 192.0.2.1 (TEST-NET-1) is no address of this host. */
	far.sin_addr.s_addr = htonl(0xc0000201);
	CHECK_ERR(bind(b, (struct sockaddr *)&far, sizeof(far)),
		  EADDRNOTAVAIL);
	CHECK_ERR(bind(b, (struct sockaddr *)&any, sizeof(any) - 1), EINVAL);
	wrong.sin_family = AF_INET6;
	CHECK_ERR(bind(b, (struct sockaddr *)&wrong, sizeof(wrong)),
		  EAFNOSUPPORT);
	CHECK_OK(close(a));
	CHECK_OK(close(b));
}

/* connect and accept agree on both names; accept reports the client. */
static void
t_connect_accept_names(void)
{
	uint16_t port;
	int l = listener(AF_INET, &port);
	int c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0)), s;
	struct sockaddr_in to = lo4(port), from, cname, cpeer, sname, speer;
	socklen_t len = sizeof(from);

	CHECK_OK(connect(c, (struct sockaddr *)&to, sizeof(to)));
	s = CHECK_OK(accept(l, (struct sockaddr *)&from, &len));
	CHECK_EQ(len, sizeof(from));
	len = sizeof(cname);
	CHECK_OK(getsockname(c, (struct sockaddr *)&cname, &len));
	len = sizeof(cpeer);
	CHECK_OK(getpeername(c, (struct sockaddr *)&cpeer, &len));
	len = sizeof(sname);
	CHECK_OK(getsockname(s, (struct sockaddr *)&sname, &len));
	len = sizeof(speer);
	CHECK_OK(getpeername(s, (struct sockaddr *)&speer, &len));
	CHECK_EQ(cpeer.sin_port, htons(port));
	CHECK_EQ(sname.sin_port, htons(port));
	CHECK_EQ(speer.sin_port, cname.sin_port);
	CHECK_EQ(from.sin_port, cname.sin_port);
	CHECK_EQ(from.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	CHECK_EQ(speer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	CHECK_ERR(connect(c, (struct sockaddr *)&to, sizeof(to)), EISCONN);
	CHECK_ERR(getpeername(l, (struct sockaddr *)&speer, &len), ENOTCONN);
	CHECK_OK(close(c));
	CHECK_OK(close(s));
	CHECK_OK(close(l));
}

/* Nothing listens: a blocking connect is ECONNREFUSED; a non-blocking
 * one EINPROGRESS, then POLLERR and SO_ERROR ECONNREFUSED (read once). */
static void
t_connect_refused(void)
{
	struct sockaddr_in to = lo4(closed_port());
	int c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	int n = CHECK_OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
	struct pollfd p = { .fd = n, .events = POLLOUT };

	CHECK_ERR(connect(c, (struct sockaddr *)&to, sizeof(to)),
		  ECONNREFUSED);
	CHECK_ERR(connect(n, (struct sockaddr *)&to, sizeof(to)),
		  EINPROGRESS);
	CHECK_EQ(poll(&p, 1, 5000), 1);
	CHECK(p.revents & POLLERR);
	CHECK_EQ(so_error(n), ECONNREFUSED);
	CHECK_EQ(so_error(n), 0);
	CHECK_OK(close(c));
	CHECK_OK(close(n));
}

/* A non-blocking connect says EINPROGRESS, becomes writable with no
 * error; the next connect reports the success (0), the one after that
 * EISCONN. */
static void
t_connect_nonblocking(void)
{
	uint16_t port;
	int l = listener(AF_INET, &port);
	int c = CHECK_OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)), s;
	struct sockaddr_in to = lo4(port);
	struct pollfd p = { .fd = c, .events = POLLOUT };

	CHECK_ERR(connect(c, (struct sockaddr *)&to, sizeof(to)),
		  EINPROGRESS);
	CHECK_EQ(poll(&p, 1, 5000), 1);
	CHECK_EQ(p.revents, POLLOUT);
	CHECK_EQ(so_error(c), 0);
	CHECK_EQ(connect(c, (struct sockaddr *)&to, sizeof(to)), 0);
	CHECK_ERR(connect(c, (struct sockaddr *)&to, sizeof(to)), EISCONN);
	s = CHECK_OK(accept(l, NULL, NULL));
	CHECK_OK(close(s));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* Not connected: send is EPIPE, recv ENOTCONN, getpeername ENOTCONN;
 * accept on a socket that does not listen is EINVAL. */
static void
t_unconnected_errors(void)
{
	int fd = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	char c = 'x';

	CHECK_ERR(send(fd, &c, 1, MSG_NOSIGNAL), EPIPE);
	CHECK_ERR(recv(fd, &c, 1, MSG_DONTWAIT), ENOTCONN);
	CHECK_ERR(getpeername(fd, (struct sockaddr *)&a, &len), ENOTCONN);
	CHECK_ERR(accept(fd, NULL, NULL), EINVAL);
	CHECK_ERR(shutdown(fd, SHUT_WR), ENOTCONN);
	CHECK_OK(close(fd));
}

/* MSG_DONTWAIT on an empty socket is EAGAIN; MSG_PEEK leaves the bytes. */
static void
t_send_recv_peek(void)
{
	int c[2];
	char buf[16];

	tcp_pair(AF_INET, c);
	CHECK_ERR(recv(c[1], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	CHECK_EQ(send(c[0], "hello", 5, 0), 5);
	CHECK_EQ(recv(c[1], buf, sizeof(buf), MSG_PEEK), 5);
	CHECK_MEM(buf, "hello", 5);
	CHECK_EQ(recv(c[1], buf, 2, 0), 2);
	CHECK_MEM(buf, "he", 2);
	CHECK_EQ(recv(c[1], buf, sizeof(buf), 0), 3);
	CHECK_MEM(buf, "llo", 3);
	CHECK_ERR(recv(c[1], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	CHECK_OK(close(c[0]));
	CHECK_OK(close(c[1]));
}

/* shutdown(SHUT_WR): the peer reads 0 and RDHUP, and can still send
 * back; the writer's sends are EPIPE. */
static void
t_half_close(void)
{
	int c[2];
	char buf[8];

	tcp_pair(AF_INET, c);
	CHECK_OK(shutdown(c[0], SHUT_WR));
	CHECK_EQ(recv(c[1], buf, sizeof(buf), 0), 0);
	CHECK_EQ(revents(c[1], ALL_EVENTS), POLLIN | POLLOUT | POLLRDHUP);
	CHECK_EQ(send(c[1], "back", 4, 0), 4);
	CHECK_EQ(recv(c[0], buf, sizeof(buf), 0), 4);
	CHECK_MEM(buf, "back", 4);
	CHECK_ERR(send(c[0], "x", 1, MSG_NOSIGNAL), EPIPE);
	CHECK_OK(close(c[0]));
	CHECK_OK(close(c[1]));
}

/* Closing with unread data resets the connection: the peer's next recv
 * is ECONNRESET, then end of file; poll shows the error and hang-up. */
static void
t_close_unread_resets(void)
{
	int c[2];
	char buf[8];

	tcp_pair(AF_INET, c);
	CHECK_EQ(send(c[1], "unread", 6, 0), 6);
	/* Let the bytes arrive before the close. */
	CHECK_EQ(revents(c[0], POLLIN) & POLLIN, POLLIN);
	CHECK_OK(close(c[0]));
	th_sleep_ms(20);
	CHECK_EQ(revents(c[1], ALL_EVENTS) & (POLLERR | POLLHUP),
		 POLLERR | POLLHUP);
	CHECK_ERR(recv(c[1], buf, sizeof(buf), 0), ECONNRESET);
	CHECK_EQ(recv(c[1], buf, sizeof(buf), 0), 0);
	CHECK_OK(close(c[1]));
}

/* An orderly close: the peer reads what was sent, then 0, and poll says
 * IN and RDHUP. */
static void
t_close_orderly(void)
{
	int c[2];
	char buf[8];

	tcp_pair(AF_INET, c);
	CHECK_EQ(send(c[0], "bye", 3, 0), 3);
	CHECK_OK(close(c[0]));
	th_sleep_ms(20);
	CHECK_EQ(revents(c[1], POLLIN | POLLRDHUP), POLLIN | POLLRDHUP);
	CHECK_EQ(recv(c[1], buf, sizeof(buf), 0), 3);
	CHECK_EQ(recv(c[1], buf, sizeof(buf), 0), 0);
	CHECK_OK(close(c[1]));
}

/* poll: a fresh socket is OUT|HUP; a listener nothing (then IN once a
 * connection waits); a connected socket OUT, and IN once data came. */
static void
t_poll_states(void)
{
	uint16_t port;
	int fresh = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	int l = listener(AF_INET, &port), c, s;
	struct sockaddr_in to = lo4(port);

	CHECK_EQ(revents(fresh, ALL_EVENTS), POLLOUT | POLLHUP);
	CHECK_EQ(revents(l, ALL_EVENTS), 0);
	c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&to, sizeof(to)));
	th_sleep_ms(20);
	CHECK_EQ(revents(l, ALL_EVENTS), POLLIN);
	s = CHECK_OK(accept(l, NULL, NULL));
	CHECK_EQ(revents(l, ALL_EVENTS), 0);
	CHECK_EQ(revents(c, ALL_EVENTS), POLLOUT);
	CHECK_EQ(send(s, "x", 1, 0), 1);
	th_sleep_ms(20);
	CHECK_EQ(revents(c, ALL_EVENTS), POLLIN | POLLOUT);
	CHECK_OK(close(fresh));
	CHECK_OK(close(c));
	CHECK_OK(close(s));
	CHECK_OK(close(l));
}

/* A non-blocking sender fills the path until EAGAIN; the reader drains
 * it and the sender becomes writable again. */
static void
t_nonblocking_send_fills(void)
{
	static char chunk[4096];
	int c[2];
	long total = 0, got = 0, n;
	char buf[8192];
	struct pollfd p;

	tcp_pair(AF_INET, c);
	memset(chunk, 'z', sizeof(chunk));
	while ((n = send(c[0], chunk, sizeof(chunk), MSG_DONTWAIT)) > 0)
		total += n;
	CHECK_EQ(n, -1);
	CHECK_EQ(errno, EAGAIN);
	CHECK(total > 0);
	while (got < total) {
		n = recv(c[1], buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		got += n;
	}
	CHECK_EQ(got, total);
	p = (struct pollfd){ .fd = c[0], .events = POLLOUT };
	CHECK_EQ(poll(&p, 1, 5000), 1);
	CHECK_EQ(p.revents, POLLOUT);
	CHECK_OK(close(c[0]));
	CHECK_OK(close(c[1]));
}

#define BIG_BYTES	(4L << 20)

static unsigned char
pattern(long i)
{
	return (unsigned char)((i * 7 + (i >> 11)) & 0xff);
}

static int
big_writer(void *arg)
{
	int fd = *(int *)arg;
	static unsigned char buf[65536 + 13];
	long off = 0;

	while (off < BIG_BYTES) {
		/* Odd sizes, so that segments and reads never line up. */
		long n = (long)sizeof(buf) - (off % 1000);

		if (n > BIG_BYTES - off)
			n = BIG_BYTES - off;
		for (long i = 0; i < n; i++)
			buf[i] = pattern(off + i);
		n = send(fd, buf, (size_t)n, 0);
		if (n <= 0)
			return 1;
		off += n;
	}
	return close(fd) < 0;
}

/* 4 MiB from a writer process arrive in order, byte for byte, then EOF
 * (IPv4 and IPv6). */
static void
big_transfer(int family)
{
	static unsigned char buf[50000];
	struct th_child *w;
	long off = 0, bad = -1, n;
	int c[2];

	tcp_pair(family, c);
	w = th_fork(big_writer, &c[0]);
	CHECK_OK(close(c[0]));
	while ((n = recv(c[1], buf, sizeof(buf), 0)) > 0) {
		for (long i = 0; i < n && bad < 0; i++)
			if (buf[i] != pattern(off + i))
				bad = off + i;
		off += n;
	}
	CHECK_EQ(n, 0);
	CHECK_EQ(off, BIG_BYTES);
	CHECK_EQ(bad, -1);
	CHECK_EQ(th_join(w), 0);
	CHECK_OK(close(c[1]));
}

static void
t_big_transfer_v4(void)
{
	big_transfer(AF_INET);
}

static void
t_big_transfer_v6(void)
{
	big_transfer(AF_INET6);
}

/* IPv6: names of a connection over ::1. */
static void
t_v6_names(void)
{
	int c[2];
	struct sockaddr_in6 a;
	socklen_t len = sizeof(a);
	struct in6_addr lo = IN6ADDR_LOOPBACK_INIT;

	tcp_pair(AF_INET6, c);
	CHECK_OK(getpeername(c[1], (struct sockaddr *)&a, &len));
	CHECK_EQ(len, sizeof(a));
	CHECK_EQ(a.sin6_family, AF_INET6);
	CHECK_MEM(&a.sin6_addr, &lo, sizeof(lo));
	CHECK_EQ(a.sin6_port, htons(local_port(c[0])));
	CHECK_OK(close(c[0]));
	CHECK_OK(close(c[1]));
}

/* TCP_NODELAY reads back what was set. */
static void
t_nodelay(void)
{
	int c[2], v = 1;
	socklen_t len = sizeof(v);

	tcp_pair(AF_INET, c);
	CHECK_OK(getsockopt(c[0], IPPROTO_TCP, TCP_NODELAY, &v, &len));
	CHECK_EQ(v, 0);
	v = 1;
	CHECK_OK(setsockopt(c[0], IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)));
	len = sizeof(v);
	v = 0;
	CHECK_OK(getsockopt(c[0], IPPROTO_TCP, TCP_NODELAY, &v, &len));
	CHECK_EQ(v, 1);
	CHECK_OK(close(c[0]));
	CHECK_OK(close(c[1]));
}

/* Non-blocking accept is EAGAIN, SO_RCVTIMEO ends a blocking one with
 * EAGAIN; accept4(SOCK_NONBLOCK) makes a non-blocking socket. */
static void
t_accept_flags_timeout(void)
{
	uint16_t port;
	int l = listener(AF_INET, &port), c, s;
	struct sockaddr_in to = lo4(port);
	struct timeval tv = { .tv_usec = 50000 };
	long long t0;

	CHECK_OK(fcntl(l, F_SETFL, O_NONBLOCK));
	CHECK_ERR(accept(l, NULL, NULL), EAGAIN);
	CHECK_OK(fcntl(l, F_SETFL, 0));
	CHECK_OK(setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	t0 = th_now_ms();
	CHECK_ERR(accept(l, NULL, NULL), EAGAIN);
	CHECK(th_now_ms() - t0 >= 40);
	c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&to, sizeof(to)));
	s = CHECK_OK(accept4(l, NULL, NULL, SOCK_NONBLOCK));
	CHECK(fcntl(s, F_GETFL) & O_NONBLOCK);
	CHECK_ERR(recv(s, &to, 1, 0), EAGAIN);
	CHECK_OK(close(s));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

static int
slow_writer(void *arg)
{
	int fd = *(int *)arg;

	for (int i = 0; i < 3; i++) {
		th_sleep_ms(20);
		if (send(fd, "abcd", 4, 0) != 4)
			return 1;
	}
	return close(fd) < 0;
}

/* MSG_WAITALL waits for the whole request across several sends. */
static void
t_recv_waitall(void)
{
	struct th_child *w;
	char buf[12];
	int c[2];

	tcp_pair(AF_INET, c);
	w = th_fork(slow_writer, &c[0]);
	CHECK_OK(close(c[0]));
	CHECK_EQ(recv(c[1], buf, sizeof(buf), MSG_WAITALL), 12);
	CHECK_MEM(buf, "abcdabcdabcd", 12);
	CHECK_EQ(th_join(w), 0);
	CHECK_OK(close(c[1]));
}

/* A send after shutdown(SHUT_WR) is EPIPE and raises SIGPIPE, unless
 * MSG_NOSIGNAL. */
static void
t_sigpipe(void)
{
	int c[2];

	tcp_pair(AF_INET, c);
	th_catch(SIGPIPE);
	CHECK_OK(shutdown(c[0], SHUT_WR));
	CHECK_ERR(send(c[0], "x", 1, MSG_NOSIGNAL), EPIPE);
	CHECK_EQ(th_signal_count(SIGPIPE), 0);
	CHECK_ERR(send(c[0], "x", 1, 0), EPIPE);
	CHECK_EQ(th_signal_count(SIGPIPE), 1);
	CHECK_OK(close(c[0]));
	CHECK_OK(close(c[1]));
}

/* SO_LINGER with a zero timeout makes close send a reset. */
static void
t_linger_zero_resets(void)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int c[2];
	char buf[4];

	tcp_pair(AF_INET, c);
	CHECK_OK(setsockopt(c[0], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	CHECK_OK(close(c[0]));
	th_sleep_ms(20);
	CHECK_ERR(recv(c[1], buf, sizeof(buf), 0), ECONNRESET);
	CHECK_ERR(send(c[1], "x", 1, MSG_NOSIGNAL), EPIPE);
	CHECK_OK(close(c[1]));
}

/* FIONREAD counts unread bytes; SIOCOUTQ is 0 once the loopback peer
 * acknowledged everything. */
static void
t_fionread_outq(void)
{
	int c[2], n = -1;

	tcp_pair(AF_INET, c);
	CHECK_EQ(send(c[0], "12345", 5, 0), 5);
	th_sleep_ms(20);
	CHECK_OK(ioctl(c[1], FIONREAD, &n));
	CHECK_EQ(n, 5);
	n = -1;
	CHECK_OK(ioctl(c[0], SIOCOUTQ, &n));
	CHECK_EQ(n, 0);
	CHECK_OK(close(c[0]));
	CHECK_OK(close(c[1]));
}

static const unsigned char mapped_lo[16] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1,
};

/* An AF_INET6 socket is dual-stack by default (IPV6_V6ONLY 0): an IPv4
 * client reaches a listener on ::, and both ends of the accepted socket
 * read back as IPv4-mapped addresses. */
static void
t_v6_dual_stack(void)
{
	int l = CHECK_OK(socket(AF_INET6, SOCK_STREAM, 0)), c, s, v = -1;
	struct sockaddr_in6 any = { .sin6_family = AF_INET6 }, from, name;
	socklen_t len = sizeof(v);
	struct sockaddr_in to;

	CHECK_OK(getsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len));
	CHECK_EQ(v, 0);
	CHECK_OK(bind(l, (struct sockaddr *)&any, sizeof(any)));
	CHECK_OK(listen(l, 4));
	to = lo4(local_port(l));
	c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&to, sizeof(to)));
	len = sizeof(from);
	s = CHECK_OK(accept(l, (struct sockaddr *)&from, &len));
	CHECK_EQ(len, sizeof(from));
	CHECK_EQ(from.sin6_family, AF_INET6);
	CHECK_MEM(&from.sin6_addr, mapped_lo, 16);
	CHECK_EQ(ntohs(from.sin6_port), local_port(c));
	len = sizeof(name);
	CHECK_OK(getsockname(s, (struct sockaddr *)&name, &len));
	CHECK_MEM(&name.sin6_addr, mapped_lo, 16);
	CHECK_EQ(name.sin6_port, to.sin_port);
	CHECK_EQ(send(c, "v4", 2, 0), 2);
	CHECK_EQ(recv(s, &v, sizeof(v), 0), 2);
	CHECK_OK(close(s));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* IPV6_V6ONLY: IPv4 clients are refused, a mapped address cannot be
 * bound, and the option is fixed once the socket is bound; an AF_INET
 * socket does not know the level (EOPNOTSUPP to get, ENOPROTOOPT to
 * set, as Linux's ip_getsockopt/ip_setsockopt answer). */
static void
t_v6only(void)
{
	int l = CHECK_OK(socket(AF_INET6, SOCK_STREAM, 0)), one = 1;
	int c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0)), v = -1;
	struct sockaddr_in6 any = { .sin6_family = AF_INET6 }, m = any;
	socklen_t len = sizeof(v);
	struct sockaddr_in to;

	CHECK_OK(setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)));
	CHECK_OK(getsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len));
	CHECK_EQ(v, 1);
	memcpy(&m.sin6_addr, mapped_lo, 16);
	CHECK_ERR(bind(l, (struct sockaddr *)&m, sizeof(m)), EINVAL);
	CHECK_OK(bind(l, (struct sockaddr *)&any, sizeof(any)));
	CHECK_ERR(setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)),
		  EINVAL);
	CHECK_OK(listen(l, 4));
	to = lo4(local_port(l));
	CHECK_ERR(connect(c, (struct sockaddr *)&to, sizeof(to)),
		  ECONNREFUSED);
	len = sizeof(v);
	CHECK_ERR(getsockopt(c, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len),
		  EOPNOTSUPP);
	CHECK_ERR(setsockopt(c, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)),
		  ENOPROTOOPT);
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

static int
reuse_socket(void)
{
	int fd = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0)), one = 1;

	CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
	return fd;
}

/* Leaves a connection in TIME_WAIT on *@a's port (the server end,
 * which closes first), from a listener with SO_REUSEADDR or without. */
static void
time_wait_on(struct sockaddr_in *a, bool reuse)
{
	int l = reuse ? reuse_socket() : CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	int c, s;
	char buf[4];

	*a = lo4(0);
	CHECK_OK(bind(l, (struct sockaddr *)a, sizeof(*a)));
	CHECK_OK(listen(l, 1));
	*a = lo4(local_port(l));
	c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)a, sizeof(*a)));
	s = CHECK_OK(accept(l, NULL, NULL));
	CHECK_OK(close(l));
	CHECK_OK(close(s));
	CHECK_EQ(recv(c, buf, sizeof(buf), 0), 0);
	CHECK_OK(close(c));
	th_sleep_ms(20);
}

/* A connection in TIME_WAIT holds its port: a bind there is EADDRINUSE
 * without SO_REUSEADDR, and with it only when the old connection had
 * it too (Linux checks both ends' sk_reuse). */
static void
t_reuseaddr_time_wait(void)
{
	int keep = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0)), n;
	struct sockaddr_in a;

	time_wait_on(&a, true);
	n = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_ERR(bind(n, (struct sockaddr *)&a, sizeof(a)), EADDRINUSE);
	CHECK_OK(close(n));
	n = reuse_socket();
	CHECK_OK(bind(n, (struct sockaddr *)&a, sizeof(a)));
	CHECK_OK(listen(n, 1));
	CHECK_OK(close(n));
	time_wait_on(&a, false);
	n = reuse_socket();
	CHECK_ERR(bind(n, (struct sockaddr *)&a, sizeof(a)), EADDRINUSE);
	CHECK_OK(close(n));
	CHECK_OK(close(keep));
}

/* SO_REUSEADDR does not share a listening port: two such sockets bind
 * one port, only one of them listens, and a third cannot bind while it
 * does. */
static void
t_reuseaddr_listeners(void)
{
	int x = reuse_socket(), y = reuse_socket(), z = reuse_socket();
	struct sockaddr_in a = lo4(0);

	CHECK_OK(bind(x, (struct sockaddr *)&a, sizeof(a)));
	a = lo4(local_port(x));
	CHECK_OK(bind(y, (struct sockaddr *)&a, sizeof(a)));
	CHECK_OK(listen(x, 1));
	CHECK_ERR(listen(y, 1), EADDRINUSE);
	CHECK_ERR(bind(z, (struct sockaddr *)&a, sizeof(a)), EADDRINUSE);
	CHECK_OK(close(x));
	CHECK_OK(close(y));
	CHECK_OK(close(z));
}

static int
get_int(int fd, int level, int name)
{
	int v = -12345;
	socklen_t len = sizeof(v);

	CHECK_OK(getsockopt(fd, level, name, &v, &len));
	CHECK_EQ(len, sizeof(v));
	return v;
}

static int
set_int(int fd, int level, int name, int v)
{
	return setsockopt(fd, level, name, &v, sizeof(v));
}

/* IP_TTL: 64 by default, 1-255, -1 restores the default; IP_TOS reads
 * back what was set; an option IPPROTO_IP does not have here is
 * ENOPROTOOPT. IPV6_UNICAST_HOPS likewise on AF_INET6, 0 allowed. */
static void
t_ip_options(void)
{
	int fd = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	int fd6 = CHECK_OK(socket(AF_INET6, SOCK_STREAM, 0));

	CHECK_EQ(get_int(fd, IPPROTO_IP, IP_TTL), 64);
	CHECK_OK(set_int(fd, IPPROTO_IP, IP_TTL, 5));
	CHECK_EQ(get_int(fd, IPPROTO_IP, IP_TTL), 5);
	CHECK_ERR(set_int(fd, IPPROTO_IP, IP_TTL, 0), EINVAL);
	CHECK_ERR(set_int(fd, IPPROTO_IP, IP_TTL, 256), EINVAL);
	CHECK_OK(set_int(fd, IPPROTO_IP, IP_TTL, -1));
	CHECK_EQ(get_int(fd, IPPROTO_IP, IP_TTL), 64);
	CHECK_EQ(get_int(fd, IPPROTO_IP, IP_TOS), 0);
	CHECK_OK(set_int(fd, IPPROTO_IP, IP_TOS, 0x10));
	CHECK_EQ(get_int(fd, IPPROTO_IP, IP_TOS), 0x10);
	CHECK_ERR(set_int(fd, IPPROTO_IP, IP_HDRINCL, 1), ENOPROTOOPT);
	CHECK_EQ(get_int(fd6, IPPROTO_IPV6, IPV6_UNICAST_HOPS), 64);
	CHECK_OK(set_int(fd6, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 0));
	CHECK_EQ(get_int(fd6, IPPROTO_IPV6, IPV6_UNICAST_HOPS), 0);
	CHECK_ERR(set_int(fd6, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 256), EINVAL);
	CHECK_OK(set_int(fd6, IPPROTO_IPV6, IPV6_UNICAST_HOPS, -1));
	CHECK_EQ(get_int(fd6, IPPROTO_IPV6, IPV6_UNICAST_HOPS), 64);
	CHECK_OK(close(fd));
	CHECK_OK(close(fd6));
}

/* TCP_KEEPIDLE/KEEPINTVL/KEEPCNT: Linux's defaults 7200/75/9, read back
 * what was set, EINVAL outside 1-32767 (1-127 for the count); an
 * accepted connection inherits them from its listener. */
static void
t_keepalive_options(void)
{
	uint16_t port;
	int l = listener(AF_INET, &port), c, s;
	struct sockaddr_in to = lo4(port);

	CHECK_EQ(get_int(l, IPPROTO_TCP, TCP_KEEPIDLE), 7200);
	CHECK_EQ(get_int(l, IPPROTO_TCP, TCP_KEEPINTVL), 75);
	CHECK_EQ(get_int(l, IPPROTO_TCP, TCP_KEEPCNT), 9);
	CHECK_OK(set_int(l, IPPROTO_TCP, TCP_KEEPIDLE, 60));
	CHECK_OK(set_int(l, IPPROTO_TCP, TCP_KEEPINTVL, 10));
	CHECK_OK(set_int(l, IPPROTO_TCP, TCP_KEEPCNT, 3));
	CHECK_ERR(set_int(l, IPPROTO_TCP, TCP_KEEPIDLE, 0), EINVAL);
	CHECK_ERR(set_int(l, IPPROTO_TCP, TCP_KEEPIDLE, 32768), EINVAL);
	CHECK_ERR(set_int(l, IPPROTO_TCP, TCP_KEEPCNT, 128), EINVAL);
	c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&to, sizeof(to)));
	s = CHECK_OK(accept(l, NULL, NULL));
	CHECK_EQ(get_int(s, IPPROTO_TCP, TCP_KEEPIDLE), 60);
	CHECK_EQ(get_int(s, IPPROTO_TCP, TCP_KEEPINTVL), 10);
	CHECK_EQ(get_int(s, IPPROTO_TCP, TCP_KEEPCNT), 3);
	CHECK_EQ(get_int(c, IPPROTO_TCP, TCP_KEEPIDLE), 7200);
	CHECK_OK(close(s));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* connect with AF_UNSPEC resets the connection (the peer reads
 * ECONNRESET), leaves the socket unconnected, and it may connect again. */
static void
t_connect_unspec_disconnects(void)
{
	uint16_t port;
	int l = listener(AF_INET, &port), c, s, s2;
	struct sockaddr_in to = lo4(port), peer;
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	socklen_t len = sizeof(peer);
	char buf[4];

	c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&to, sizeof(to)));
	s = CHECK_OK(accept(l, NULL, NULL));
	CHECK_OK(connect(c, &unspec, sizeof(unspec)));
	CHECK_ERR(getpeername(c, (struct sockaddr *)&peer, &len), ENOTCONN);
	th_sleep_ms(20);
	CHECK_ERR(recv(s, buf, sizeof(buf), 0), ECONNRESET);
	CHECK_OK(connect(c, (struct sockaddr *)&to, sizeof(to)));
	s2 = CHECK_OK(accept(l, NULL, NULL));
	CHECK_EQ(send(c, "ok", 2, 0), 2);
	CHECK_EQ(recv(s2, buf, sizeof(buf), 0), 2);
	CHECK_OK(close(s2));
	CHECK_OK(close(s));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* Both ends shut down for writing, in turn: the connection is over for
 * both sockets (Linux's state CLOSE, one end in TIME_WAIT behind it):
 * no peer, EPIPE, no error, every poll bit but ERR, and the local name
 * still readable. */
static void
t_both_closed(void)
{
	int c[2];
	struct sockaddr_in before, after, peer;
	socklen_t len = sizeof(before);
	char buf[4];

	tcp_pair(AF_INET, c);
	CHECK_OK(getsockname(c[0], (struct sockaddr *)&before, &len));
	CHECK_OK(shutdown(c[0], SHUT_WR));
	CHECK_EQ(recv(c[1], buf, sizeof(buf), 0), 0);
	CHECK_OK(shutdown(c[1], SHUT_WR));
	CHECK_EQ(recv(c[0], buf, sizeof(buf), 0), 0);
	th_sleep_ms(20);
	for (int i = 0; i < 2; i++) {
		len = sizeof(peer);
		CHECK_ERR(getpeername(c[i], (struct sockaddr *)&peer, &len),
			  ENOTCONN);
		CHECK_ERR(send(c[i], "x", 1, MSG_NOSIGNAL), EPIPE);
		CHECK_EQ(so_error(c[i]), 0);
		CHECK_EQ(revents(c[i], ALL_EVENTS),
			 POLLIN | POLLOUT | POLLHUP | POLLRDHUP);
		CHECK_EQ(recv(c[i], buf, sizeof(buf), 0), 0);
	}
	len = sizeof(after);
	CHECK_OK(getsockname(c[0], (struct sockaddr *)&after, &len));
	CHECK_EQ(after.sin_port, before.sin_port);
	CHECK_EQ(after.sin_addr.s_addr, before.sin_addr.s_addr);
	CHECK_OK(close(c[0]));
	CHECK_OK(close(c[1]));
}

/* No urgent data to read is EINVAL; the error queue is empty (EAGAIN at
 * once on a blocking socket). */
static void
t_oob_errqueue(void)
{
	int c[2];
	char buf[4];

	tcp_pair(AF_INET, c);
	CHECK_ERR(recv(c[1], buf, sizeof(buf), MSG_OOB), EINVAL);
	CHECK_ERR(recv(c[1], buf, sizeof(buf), MSG_ERRQUEUE), EAGAIN);
	CHECK_OK(close(c[0]));
	CHECK_OK(close(c[1]));
}

/* SO_TYPE, SO_PROTOCOL and SO_DOMAIN name the socket; SO_ACCEPTCONN
 * turns on with listen(); shutdown(SHUT_RD) makes recv return 0. */
static void
t_socket_options_shut_rd(void)
{
	int fd = CHECK_OK(socket(AF_INET6, SOCK_STREAM, 0)), c[2];
	char buf[4];

	CHECK_EQ(get_int(fd, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
	CHECK_EQ(get_int(fd, SOL_SOCKET, SO_PROTOCOL), IPPROTO_TCP);
	CHECK_EQ(get_int(fd, SOL_SOCKET, SO_DOMAIN), AF_INET6);
	CHECK_EQ(get_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 0);
	CHECK_OK(listen(fd, 1));
	CHECK_EQ(get_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
	CHECK_OK(close(fd));
	tcp_pair(AF_INET, c);
	CHECK_OK(shutdown(c[1], SHUT_RD));
	CHECK_EQ(recv(c[1], buf, sizeof(buf), 0), 0);
	CHECK_EQ(revents(c[1], ALL_EVENTS), POLLIN | POLLOUT | POLLRDHUP);
	CHECK_OK(close(c[0]));
	CHECK_OK(close(c[1]));
}

static int
close_later(void *arg)
{
	th_sleep_ms(100);
	return close(*(int *)arg) < 0;
}

/* A reset while a blocking send waits: the send returns what it sent,
 * and the error stays for the next call (ECONNRESET). */
static void
t_reset_during_send(void)
{
	static char big[16 << 20];
	struct th_child *w;
	int c[2];
	long n;

	tcp_pair(AF_INET, c);
	CHECK_EQ(send(c[1], "unread", 6, 0), 6);
	th_sleep_ms(20);
	/* The peer holds unread data, so its close is a reset. */
	w = th_fork(close_later, &c[0]);
	CHECK_OK(close(c[0]));
	n = send(c[1], big, sizeof(big), MSG_NOSIGNAL);
	CHECK(n > 0);
	CHECK(n < (long)sizeof(big));
	CHECK_ERR(send(c[1], big, 1, MSG_NOSIGNAL), ECONNRESET);
	CHECK_EQ(th_join(w), 0);
	CHECK_OK(close(c[1]));
}

/* Data that arrived before a reset is still read, and the reset comes
 * after it, also when MSG_WAITALL asked for more. */
static void
t_reset_after_data(void)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int c[2];
	char buf[10];

	tcp_pair(AF_INET, c);
	CHECK_EQ(send(c[0], "abc", 3, 0), 3);
	th_sleep_ms(20);
	CHECK_OK(setsockopt(c[0], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	CHECK_OK(close(c[0]));
	th_sleep_ms(20);
	CHECK_EQ(recv(c[1], buf, sizeof(buf), MSG_WAITALL), 3);
	CHECK_MEM(buf, "abc", 3);
	CHECK_ERR(recv(c[1], buf, sizeof(buf), 0), ECONNRESET);
	CHECK_EQ(recv(c[1], buf, sizeof(buf), 0), 0);
	CHECK_OK(close(c[1]));
}

/* A fresh socket of @family and @type with the SOL_SOCKET option @opt
 * on (none if 0), bound to the loopback's @port; or -1 with errno. */
static int
bind_lo(int family, int type, uint16_t port, int opt)
{
	int fd = CHECK_OK(socket(family, type, 0)), on = 1, r;

	if (opt != 0)
		CHECK_OK(setsockopt(fd, SOL_SOCKET, opt, &on, sizeof(on)));
	if (family == AF_INET) {
		struct sockaddr_in a = lo4(port);

		r = bind(fd, (struct sockaddr *)&a, sizeof(a));
	} else {
		struct sockaddr_in6 a = lo6(port);

		r = bind(fd, (struct sockaddr *)&a, sizeof(a));
	}
	if (r < 0) {
		int e = errno;

		CHECK_OK(close(fd));
		errno = e;
		return -1;
	}
	return fd;
}

/* bind_lo() for AF_INET: UDP's port sharing is tested beside TCP's. */
static int
bind_shared(int type, uint16_t port, int opt)
{
	return bind_lo(AF_INET, type, port, opt);
}

/* Without privilege every port below 1024 is EACCES, TCP and UDP, IPv4
 * and IPv6; port 0 (an ephemeral one) is not. */
static int
unprivileged_binds(void *arg)
{
	static const int families[] = { AF_INET, AF_INET6 };
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM };

	if (th_setcred(65534, 65534) < 0)
		return 1;
	for (int f = 0; f < 2; f++) {
		for (int t = 0; t < 2; t++) {
			CHECK_ERR(bind_lo(families[f], types[t], 1, 0),
				  EACCES);
			CHECK_ERR(bind_lo(families[f], types[t], 1023, 0),
				  EACCES);
			CHECK_OK(close(CHECK_OK(bind_lo(families[f], types[t],
							0, 0))));
		}
	}
	return th_failures();
}

/* Whether the host keeps Linux's default for privileged ports. */
static bool
default_sysctl(const char *path, const char *want)
{
	char buf[64] = "";
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return false;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = 0;
	fclose(f);
	return strcmp(buf, want) == 0;
}

/* Ports below 1024 need CAP_NET_BIND_SERVICE: root binds one, a process
 * that gave up root gets EACCES (checked before "already bound"). */
static void
t_bind_privileged(void)
{
	int fd = -1;

	th_require_root();
	if (!default_sysctl("/proc/sys/net/ipv4/ip_unprivileged_port_start",
			    "1024\n"))
		th_skip("ip_unprivileged_port_start is not 1024");
	/* Some port below 1024 is free even on a busy host. */
	for (uint16_t p = 1023; p > 900 && fd < 0; p--)
		fd = bind_lo(AF_INET, SOCK_STREAM, p, 0);
	CHECK(fd >= 0);
	CHECK_OK(close(fd));
	CHECK_EQ(th_join(th_fork(unprivileged_binds, NULL)), 0);
}

/* Ephemeral ports come from Linux's default range, 32768-60999, for
 * bind and for connect, TCP and UDP. */
static void
t_ephemeral_range(void)
{
	uint16_t lport;
	int l, c, u;
	struct sockaddr_in to;

	if (!default_sysctl("/proc/sys/net/ipv4/ip_local_port_range",
			    "32768\t60999\n"))
		th_skip("ip_local_port_range is not 32768-60999");
	l = listener(AF_INET, &lport);
	to = lo4(lport);
	CHECK(lport >= 32768 && lport <= 60999);
	c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&to, sizeof(to)));
	CHECK(local_port(c) >= 32768 && local_port(c) <= 60999);
	u = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	CHECK_EQ(sendto(u, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
	CHECK(local_port(u) >= 32768 && local_port(u) <= 60999);
	CHECK_OK(close(u));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* Linux queues backlog + 1 connections, then drops further SYNs: the
 * late client stays in SYN_SENT (poll shows nothing, no error) and gets
 * in on a retry once accept() made room; a blocking connect waits for
 * that and reports it (then EISCONN). listen() again changes the
 * backlog; a negative one is somaxconn. */
static void
t_listen_backlog_full(void)
{
	for (int backlog = 0; backlog <= 1; backlog++) {
		uint16_t port;
		int l = listener(AF_INET, &port), c[2], late, s;
		struct sockaddr_in to = lo4(port);

		CHECK_OK(listen(l, backlog));
		for (int i = 0; i <= backlog; i++) {
			c[i] = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
			CHECK_OK(connect(c[i], (struct sockaddr *)&to,
					 sizeof(to)));
		}
		late = CHECK_OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK,
				       0));
		CHECK_ERR(connect(late, (struct sockaddr *)&to, sizeof(to)),
			  EINPROGRESS);
		th_sleep_ms(50);
		CHECK_EQ(revents(late, ALL_EVENTS), 0);
		CHECK_EQ(so_error(late), 0);
		CHECK_EQ(revents(l, ALL_EVENTS), POLLIN);
		s = CHECK_OK(accept(l, NULL, NULL));
		CHECK_OK(close(s));
		CHECK_OK(fcntl(late, F_SETFL, 0));
		CHECK_OK(connect(late, (struct sockaddr *)&to, sizeof(to)));
		CHECK_ERR(connect(late, (struct sockaddr *)&to, sizeof(to)),
			  EISCONN);
		for (int i = 0; i <= backlog; i++)
			CHECK_OK(close(CHECK_OK(accept(l, NULL, NULL))));
		CHECK_OK(fcntl(l, F_SETFL, O_NONBLOCK));
		CHECK_ERR(accept(l, NULL, NULL), EAGAIN);
		for (int i = 0; i <= backlog; i++)
			CHECK_OK(close(c[i]));
		CHECK_OK(close(late));
		CHECK_OK(close(l));
	}
}

/* A negative backlog is somaxconn: many connections wait at once. */
static void
t_listen_backlog_negative(void)
{
	uint16_t port;
	int l = listener(AF_INET, &port), c[16];
	struct sockaddr_in to = lo4(port);

	CHECK_OK(listen(l, -1));
	for (int i = 0; i < 16; i++) {
		c[i] = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
		CHECK_OK(connect(c[i], (struct sockaddr *)&to, sizeof(to)));
	}
	for (int i = 0; i < 16; i++) {
		CHECK_OK(close(CHECK_OK(accept(l, NULL, NULL))));
		CHECK_OK(close(c[i]));
	}
	CHECK_OK(close(l));
}

/* accept4 takes SOCK_NONBLOCK and SOCK_CLOEXEC only (else EINVAL). */
static void
t_accept4_flags(void)
{
	uint16_t port;
	int l = listener(AF_INET, &port), c, s;
	struct sockaddr_in to = lo4(port);

	c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&to, sizeof(to)));
	CHECK_ERR(accept4(l, NULL, NULL, 0x1), EINVAL);
	CHECK_ERR(accept4(l, NULL, NULL, SOCK_NONBLOCK | 0x4000), EINVAL);
	s = CHECK_OK(accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
	CHECK(fcntl(s, F_GETFL) & O_NONBLOCK);
	CHECK(fcntl(s, F_GETFD) & FD_CLOEXEC);
	CHECK_ERR(recv(s, &to, 1, 0), EAGAIN);
	CHECK_OK(close(s));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* A TCP socket starts with tcp_wmem[1] and tcp_rmem[1]; what is set is
 * doubled, and tiny requests rise to the minimum. */
static void
t_buffer_sizes(void)
{
	int fd = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));

	CHECK_EQ(get_int(fd, SOL_SOCKET, SO_SNDBUF), 16384);
	CHECK_EQ(get_int(fd, SOL_SOCKET, SO_RCVBUF), 131072);
	CHECK_OK(set_int(fd, SOL_SOCKET, SO_SNDBUF, 10000));
	CHECK_OK(set_int(fd, SOL_SOCKET, SO_RCVBUF, 10000));
	CHECK_EQ(get_int(fd, SOL_SOCKET, SO_SNDBUF), 20000);
	CHECK_EQ(get_int(fd, SOL_SOCKET, SO_RCVBUF), 20000);
	CHECK_OK(set_int(fd, SOL_SOCKET, SO_SNDBUF, 1));
	CHECK_OK(set_int(fd, SOL_SOCKET, SO_RCVBUF, 1));
	CHECK_EQ(get_int(fd, SOL_SOCKET, SO_SNDBUF), 4608);
	CHECK_EQ(get_int(fd, SOL_SOCKET, SO_RCVBUF), 2304);
	CHECK_OK(close(fd));
}

/* An accepted socket starts with its listener's socket options. */
static void
t_accept_inherits_options(void)
{
	struct timeval tv = { .tv_sec = 1 }, got_tv;
	struct linger lg = { .l_onoff = 1, .l_linger = 5 }, got_lg;
	socklen_t len;
	uint16_t port;
	int l = listener(AF_INET, &port), c, s;
	struct sockaddr_in to = lo4(port);

	CHECK_OK(set_int(l, SOL_SOCKET, SO_KEEPALIVE, 1));
	CHECK_OK(set_int(l, SOL_SOCKET, SO_SNDBUF, 20000));
	CHECK_OK(set_int(l, SOL_SOCKET, SO_RCVBUF, 10000));
	CHECK_OK(set_int(l, SOL_SOCKET, SO_RCVLOWAT, 7));
	CHECK_OK(setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	CHECK_OK(setsockopt(l, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&to, sizeof(to)));
	s = CHECK_OK(accept(l, NULL, NULL));
	CHECK_EQ(get_int(s, SOL_SOCKET, SO_KEEPALIVE), 1);
	CHECK_EQ(get_int(s, SOL_SOCKET, SO_SNDBUF), 40000);
	CHECK_EQ(get_int(s, SOL_SOCKET, SO_RCVBUF), 20000);
	CHECK_EQ(get_int(s, SOL_SOCKET, SO_RCVLOWAT), 7);
	len = sizeof(got_tv);
	CHECK_OK(getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &got_tv, &len));
	CHECK_EQ(got_tv.tv_sec, 1);
	CHECK_EQ(got_tv.tv_usec, 0);
	len = sizeof(got_lg);
	CHECK_OK(getsockopt(s, SOL_SOCKET, SO_LINGER, &got_lg, &len));
	CHECK_EQ(got_lg.l_onoff, 1);
	CHECK_EQ(got_lg.l_linger, 5);
	/* The client's are its own. */
	CHECK_EQ(get_int(c, SOL_SOCKET, SO_KEEPALIVE), 0);
	CHECK_OK(close(s));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* TCP_MAXSEG: 536 until set; 0 or 88 to 32767 may be set (else EINVAL)
 * and read back while not connected; a listener passes it on, and a
 * connection's segments are no larger. */
static void
t_maxseg(void)
{
	static const struct {
		int	set;
		int	err;
		int	reads;
	} cases[] = {
		{ 87, EINVAL, 536 }, { 88, 0, 88 }, { 32767, 0, 32767 },
		{ 32768, EINVAL, 32767 }, { -1, EINVAL, 32767 },
		{ 0, 0, 536 }, { 1000, 0, 1000 },
	};
	int fd = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0)), c, s, v;
	struct sockaddr_in to;
	uint16_t port;

	CHECK_EQ(get_int(fd, IPPROTO_TCP, TCP_MAXSEG), 536);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = cases[i].set;
		if (cases[i].err != 0)
			CHECK_ERR(setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &v,
					     sizeof(v)), cases[i].err);
		else
			CHECK_OK(set_int(fd, IPPROTO_TCP, TCP_MAXSEG, v));
		CHECK_EQ(get_int(fd, IPPROTO_TCP, TCP_MAXSEG), cases[i].reads);
	}
	to = lo4(0);
	CHECK_OK(bind(fd, (struct sockaddr *)&to, sizeof(to)));
	CHECK_OK(listen(fd, 4));
	CHECK_EQ(get_int(fd, IPPROTO_TCP, TCP_MAXSEG), 1000);
	port = local_port(fd);
	to = lo4(port);
	c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&to, sizeof(to)));
	s = CHECK_OK(accept(fd, NULL, NULL));
	/* Linux takes the timestamp option off (988); lwIP has none. */
	v = get_int(s, IPPROTO_TCP, TCP_MAXSEG);
	CHECK(v > 900 && v <= 1000);
	CHECK_OK(close(s));
	CHECK_OK(close(c));
	CHECK_OK(close(fd));
}

static int
lowat_writer(void *arg)
{
	int fd = *(int *)arg;

	th_sleep_ms(50);
	if (send(fd, "ab", 2, 0) != 2)
		return 1;
	th_sleep_ms(50);
	if (send(fd, "cd", 2, 0) != 2)
		return 1;
	return close(fd) < 0;
}

/* SO_RCVLOWAT: poll says readable from that many bytes on; a blocking
 * recv waits for them (or for less when asking for less, or at end of
 * file), a non-blocking one takes what is there. */
static void
t_rcvlowat(void)
{
	struct th_child *w;
	char buf[16];
	int c[2];

	tcp_pair(AF_INET, c);
	CHECK_OK(set_int(c[1], SOL_SOCKET, SO_RCVLOWAT, 5));
	CHECK_EQ(send(c[0], "abc", 3, 0), 3);
	th_sleep_ms(20);
	CHECK_EQ(revents(c[1], ALL_EVENTS), POLLOUT);
	CHECK_EQ(recv(c[1], buf, sizeof(buf), MSG_DONTWAIT), 3);
	CHECK_EQ(send(c[0], "abc", 3, 0), 3);
	th_sleep_ms(20);
	CHECK_EQ(revents(c[1], ALL_EVENTS), POLLOUT);
	CHECK_EQ(send(c[0], "de", 2, 0), 2);
	th_sleep_ms(20);
	CHECK_EQ(revents(c[1], ALL_EVENTS), POLLIN | POLLOUT);
	CHECK_EQ(recv(c[1], buf, sizeof(buf), 0), 5);
	CHECK_MEM(buf, "abcde", 5);

	CHECK_OK(set_int(c[1], SOL_SOCKET, SO_RCVLOWAT, 4));
	CHECK_EQ(send(c[0], "xy", 2, 0), 2);
	CHECK_EQ(recv(c[1], buf, 1, 0), 1);
	CHECK_EQ(recv(c[1], buf, sizeof(buf), MSG_DONTWAIT), 1);
	w = th_fork(lowat_writer, &c[0]);
	CHECK_OK(close(c[0]));
	CHECK_EQ(recv(c[1], buf, sizeof(buf), 0), 4);
	CHECK_MEM(buf, "abcd", 4);
	CHECK_EQ(th_join(w), 0);
	CHECK_EQ(recv(c[1], buf, sizeof(buf), 0), 0);
	CHECK_OK(close(c[1]));
}

/* Both ends of a fresh connection after @setup, each polled for every
 * event once the loopback has settled. */
struct poll_case {
	const char	*what;
	void		(*setup)(int c[2]);
	int		 want[2];
};

static void
ps_none(int c[2])
{
}

static void
ps_data(int c[2])
{
	CHECK_EQ(send(c[0], "x", 1, 0), 1);
}

static void
ps_shut_wr(int c[2])
{
	CHECK_OK(shutdown(c[0], SHUT_WR));
}

static void
ps_shut_rd(int c[2])
{
	CHECK_OK(shutdown(c[0], SHUT_RD));
}

static void
ps_shut_rdwr(int c[2])
{
	CHECK_OK(shutdown(c[0], SHUT_RDWR));
}

static void
ps_shut_wr_both(int c[2])
{
	CHECK_OK(shutdown(c[0], SHUT_WR));
	CHECK_OK(shutdown(c[1], SHUT_WR));
}

/* A reset: the far end closes with data it never read. */
static void
ps_reset(int c[2])
{
	CHECK_EQ(send(c[1], "unread", 6, 0), 6);
	th_sleep_ms(20);
	CHECK_OK(close(c[0]));
	c[0] = -1;
}

/* The same, with the error already read through SO_ERROR. */
static void
ps_reset_seen(int c[2])
{
	ps_reset(c);
	th_sleep_ms(20);
	CHECK_EQ(so_error(c[1]), ECONNRESET);
}

/* An orderly close of the far end: FIN only. */
static void
ps_peer_closed(int c[2])
{
	CHECK_OK(close(c[0]));
	c[0] = -1;
}

#define RD_ALL	(POLLIN | POLLRDHUP)

/* poll's answer in each state of a connection, on both ends (Linux's
 * tcp_poll; -1 marks an end the setup closed). */
static void
t_poll_every_state(void)
{
	static const struct poll_case cases[] = {
		{ "established", ps_none, { POLLOUT, POLLOUT } },
		{ "data waiting", ps_data, { POLLOUT, POLLIN | POLLOUT } },
		{ "half-closed (sent FIN)", ps_shut_wr,
		  { POLLOUT, RD_ALL | POLLOUT } },
		{ "shut for reading", ps_shut_rd, { RD_ALL | POLLOUT, POLLOUT } },
		{ "shut both ways", ps_shut_rdwr,
		  { RD_ALL | POLLOUT | POLLHUP, RD_ALL | POLLOUT } },
		{ "half-closed both ways", ps_shut_wr_both,
		  { RD_ALL | POLLOUT | POLLHUP, RD_ALL | POLLOUT | POLLHUP } },
		{ "reset", ps_reset,
		  { -1, RD_ALL | POLLOUT | POLLHUP | POLLERR } },
		{ "reset, error read", ps_reset_seen,
		  { -1, RD_ALL | POLLOUT | POLLHUP } },
		{ "peer closed", ps_peer_closed, { -1, RD_ALL | POLLOUT } },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int c[2];

		tcp_pair(AF_INET, c);
		cases[i].setup(c);
		th_sleep_ms(20);
		for (int end = 0; end < 2; end++) {
			int got;

			if (c[end] < 0)
				continue;
			got = revents(c[end], ALL_EVENTS);
			if (got != cases[i].want[end])
				th_fail(__FILE__, __LINE__,
					"%s, end %d: revents %#x, want %#x",
					cases[i].what, end, got,
					cases[i].want[end]);
		}
		for (int end = 0; end < 2; end++)
			if (c[end] >= 0)
				CHECK_OK(close(c[end]));
	}
}

/* A refused non-blocking connect: error, hang-up, readable and
 * writable; once the error is read, the rest stays. */
static void
t_poll_refused(void)
{
	struct sockaddr_in to = lo4(closed_port());
	int c = CHECK_OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
	struct pollfd p = { .fd = c, .events = POLLOUT };

	CHECK_ERR(connect(c, (struct sockaddr *)&to, sizeof(to)), EINPROGRESS);
	CHECK_EQ(poll(&p, 1, 10000), 1);
	CHECK_EQ(revents(c, ALL_EVENTS),
		 RD_ALL | POLLOUT | POLLHUP | POLLERR);
	CHECK_EQ(so_error(c), ECONNREFUSED);
	CHECK_EQ(revents(c, ALL_EVENTS), RD_ALL | POLLOUT | POLLHUP);
	CHECK_OK(close(c));
}

/* A SYN the listener drops (its queue is full) is sent again until
 * TCP_SYNCNT retransmissions went unanswered, then connect says
 * ETIMEDOUT (about 3 s with one); meanwhile a second connect on a
 * non-blocking socket is EALREADY. TCP_SYNCNT is 6 by default, 1-127. */
static void
t_connect_timeout_ealready(void)
{
	uint16_t port;
	int l = listener(AF_INET, &port), c, n, t, v;
	struct sockaddr_in to = lo4(port);

	CHECK_OK(listen(l, 0));
	c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&to, sizeof(to)));
	n = CHECK_OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
	CHECK_ERR(connect(n, (struct sockaddr *)&to, sizeof(to)), EINPROGRESS);
	CHECK_ERR(connect(n, (struct sockaddr *)&to, sizeof(to)), EALREADY);
	CHECK_OK(close(n));

	t = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_EQ(get_int(t, IPPROTO_TCP, TCP_SYNCNT), 6);
	v = 0;
	CHECK_ERR(setsockopt(t, IPPROTO_TCP, TCP_SYNCNT, &v, sizeof(v)),
		  EINVAL);
	v = 128;
	CHECK_ERR(setsockopt(t, IPPROTO_TCP, TCP_SYNCNT, &v, sizeof(v)),
		  EINVAL);
	CHECK_OK(set_int(t, IPPROTO_TCP, TCP_SYNCNT, 1));
	CHECK_EQ(get_int(t, IPPROTO_TCP, TCP_SYNCNT), 1);
	CHECK_ERR(connect(t, (struct sockaddr *)&to, sizeof(to)), ETIMEDOUT);
	CHECK_EQ(so_error(t), 0);
	CHECK_OK(close(t));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* In a network namespace of its own (only a loopback, and that down on
 * Linux) nothing has a route: TCP and UDP. (IPv6 there has no source
 * address either, so Linux says EADDRNOTAVAIL first.) */
static int
no_route_child(void *arg)
{
	struct sockaddr_in far = lo4(80);
	int t, n, u;

	if (unshare(CLONE_NEWNET) < 0)
		return 1;
	far.sin_addr.s_addr = htonl(0xc0000201);	/* 192.0.2.1 */
	t = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	n = CHECK_OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
	u = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	CHECK_ERR(connect(t, (struct sockaddr *)&far, sizeof(far)),
		  ENETUNREACH);
	CHECK_ERR(connect(n, (struct sockaddr *)&far, sizeof(far)),
		  ENETUNREACH);
	CHECK_ERR(sendto(u, "x", 1, 0, (struct sockaddr *)&far, sizeof(far)),
		  ENETUNREACH);
	CHECK_ERR(connect(u, (struct sockaddr *)&far, sizeof(far)),
		  ENETUNREACH);
	CHECK_OK(close(t));
	CHECK_OK(close(n));
	CHECK_OK(close(u));
	return th_failures();
}

static void
t_connect_enetunreach(void)
{
	th_require_root();
	CHECK_EQ(th_join(th_fork(no_route_child, NULL)), 0);
}

static int
other_user_binds(void *arg)
{
	uint16_t port = *(uint16_t *)arg;

	if (th_setcred(65534, 65534) < 0)
		return 1;
	CHECK_ERR(bind_shared(SOCK_STREAM, port, SO_REUSEPORT), EADDRINUSE);
	CHECK_ERR(bind_shared(SOCK_DGRAM, port, SO_REUSEPORT), EADDRINUSE);
	return th_failures();
}

/* Accepts @n connections from whichever of listeners @l[0..1] has one. */
static void
accept_from_either(const int l[2], int n)
{
	for (int got = 0; got < n;) {
		struct pollfd p[2] = {
			{ .fd = l[0], .events = POLLIN },
			{ .fd = l[1], .events = POLLIN },
		};

		if (CHECK_OK(poll(p, 2, 10000)) <= 0)
			break;
		for (int i = 0; i < 2; i++) {
			if (p[i].revents & POLLIN) {
				CHECK_OK(close(CHECK_OK(accept(l[i], NULL,
							       NULL))));
				got++;
			}
		}
	}
}

/* SO_REUSEPORT: sockets that all set it, of one owner, share a port,
 * TCP (both bind and listen, every connection reaches one of them, the
 * other serves alone once one closes) and UDP (every datagram reaches
 * one of them); without it, or as another user, EADDRINUSE. */
static void
t_reuseport(void)
{
	int l[2], u[2], c[6], s;
	uint16_t port;
	struct sockaddr_in to;
	char buf[4];

	l[0] = bind_shared(SOCK_STREAM, 0, SO_REUSEPORT);
	port = local_port(l[0]);
	to = lo4(port);
	l[1] = CHECK_OK(bind_shared(SOCK_STREAM, port, SO_REUSEPORT));
	CHECK_ERR(bind_shared(SOCK_STREAM, port, 0), EADDRINUSE);
	CHECK_ERR(bind_shared(SOCK_STREAM, port, SO_REUSEADDR), EADDRINUSE);
	CHECK_OK(listen(l[0], 8));
	CHECK_OK(listen(l[1], 8));
	for (int i = 0; i < 6; i++) {
		c[i] = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
		CHECK_OK(connect(c[i], (struct sockaddr *)&to, sizeof(to)));
	}
	accept_from_either(l, 6);
	CHECK_OK(close(l[0]));
	s = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_OK(connect(s, (struct sockaddr *)&to, sizeof(to)));
	CHECK_OK(close(CHECK_OK(accept(l[1], NULL, NULL))));
	CHECK_OK(close(s));
	for (int i = 0; i < 6; i++)
		CHECK_OK(close(c[i]));

	u[0] = CHECK_OK(bind_shared(SOCK_DGRAM, port, SO_REUSEPORT));
	u[1] = CHECK_OK(bind_shared(SOCK_DGRAM, port, SO_REUSEPORT));
	CHECK_ERR(bind_shared(SOCK_DGRAM, port, 0), EADDRINUSE);
	if (geteuid() == 0)
		CHECK_EQ(th_join(th_fork(other_user_binds, &port)), 0);
	s = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	for (int i = 0; i < 5; i++)
		CHECK_EQ(sendto(s, "d", 1, 0, (struct sockaddr *)&to,
				sizeof(to)), 1);
	for (int got = 0; got < 5;) {
		struct pollfd p[2] = {
			{ .fd = u[0], .events = POLLIN },
			{ .fd = u[1], .events = POLLIN },
		};

		if (CHECK_OK(poll(p, 2, 10000)) <= 0)
			break;
		for (int i = 0; i < 2; i++)
			if (p[i].revents & POLLIN) {
				CHECK_EQ(recv(u[i], buf, sizeof(buf), 0), 1);
				got++;
			}
	}
	CHECK_OK(close(s));
	CHECK_OK(close(u[0]));
	CHECK_OK(close(u[1]));
	CHECK_OK(close(l[1]));
}

/* UDP with SO_REUSEADDR: sockets that all set it share a port; one
 * without it is EADDRINUSE either way round. */
static void
t_reuseaddr_udp(void)
{
	int a = bind_shared(SOCK_DGRAM, 0, SO_REUSEADDR), b;
	uint16_t port = local_port(a);

	b = CHECK_OK(bind_shared(SOCK_DGRAM, port, SO_REUSEADDR));
	CHECK_ERR(bind_shared(SOCK_DGRAM, port, 0), EADDRINUSE);
	CHECK_OK(close(a));
	CHECK_OK(close(b));
	a = CHECK_OK(bind_shared(SOCK_DGRAM, port, 0));
	CHECK_ERR(bind_shared(SOCK_DGRAM, port, SO_REUSEADDR), EADDRINUSE);
	CHECK_OK(close(a));
}

static struct sockaddr_in
in_loopnet(uint32_t host, uint16_t port)
{
	struct sockaddr_in a = lo4(port);

	a.sin_addr.s_addr = htonl(host);
	return a;
}

static uint32_t
name_addr(int fd, bool peer)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	if (peer)
		CHECK_OK(getpeername(fd, (struct sockaddr *)&a, &len));
	else
		CHECK_OK(getsockname(fd, (struct sockaddr *)&a, &len));
	return ntohl(a.sin_addr.s_addr);
}

/* The whole of 127.0.0.0/8 is this host's: a listener binds 127.0.0.2;
 * a wildcard listener answers on 127.45.6.7 and says so in the accepted
 * socket's name; an unbound client speaks from 127.0.0.1, a bound one
 * from its own address; nobody on 127.0.0.3 refuses. */
static void
t_loopnet(void)
{
	struct sockaddr_in a = in_loopnet(0x7f000002, 0), any = lo4(0), to;
	int l = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0)), c, s, w, b;

	CHECK_OK(bind(l, (struct sockaddr *)&a, sizeof(a)));
	CHECK_OK(listen(l, 4));
	CHECK_EQ(name_addr(l, false), 0x7f000002);
	to = in_loopnet(0x7f000002, local_port(l));
	c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&to, sizeof(to)));
	s = CHECK_OK(accept(l, NULL, NULL));
	CHECK_EQ(name_addr(c, true), 0x7f000002);
	CHECK_EQ(name_addr(c, false), 0x7f000001);
	CHECK_EQ(name_addr(s, false), 0x7f000002);
	CHECK_EQ(name_addr(s, true), 0x7f000001);
	CHECK_OK(close(s));
	CHECK_OK(close(c));

	any.sin_addr.s_addr = htonl(INADDR_ANY);
	w = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_OK(bind(w, (struct sockaddr *)&any, sizeof(any)));
	CHECK_OK(listen(w, 4));
	to = in_loopnet(0x7f2d0607, local_port(w));
	b = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	a = in_loopnet(0x7f000004, 0);
	CHECK_OK(bind(b, (struct sockaddr *)&a, sizeof(a)));
	CHECK_OK(connect(b, (struct sockaddr *)&to, sizeof(to)));
	s = CHECK_OK(accept(w, NULL, NULL));
	CHECK_EQ(name_addr(s, false), 0x7f2d0607);
	CHECK_EQ(name_addr(s, true), 0x7f000004);
	CHECK_OK(close(s));
	CHECK_OK(close(b));

	to = in_loopnet(0x7f000003, local_port(l));
	c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_ERR(connect(c, (struct sockaddr *)&to, sizeof(to)),
		  ECONNREFUSED);
	CHECK_OK(close(c));
	CHECK_OK(close(w));
	CHECK_OK(close(l));
}

static struct tcp_info
tcp_info_of(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0xff, sizeof(ti));
	CHECK_OK(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len));
	CHECK_EQ(len, sizeof(ti));
	return ti;
}

/* TCP_INFO names the state as Linux numbers it: closed, listening,
 * connecting, established, each side of a half-close, reset; a live
 * connection has a segment size and a retransmission timeout, and
 * nothing unacknowledged once idle. */
static void
t_tcp_info(void)
{
	uint16_t port;
	int fresh = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	int l = listener(AF_INET, &port), c[2], n, full;
	struct sockaddr_in to = lo4(port);
	struct tcp_info ti;

	CHECK_EQ(tcp_info_of(fresh).tcpi_state, TCP_CLOSE);
	CHECK_EQ(tcp_info_of(l).tcpi_state, TCP_LISTEN);
	tcp_pair(AF_INET, c);
	ti = tcp_info_of(c[0]);
	CHECK_EQ(ti.tcpi_state, TCP_ESTABLISHED);
	CHECK(ti.tcpi_snd_mss > 0);
	CHECK(ti.tcpi_rto > 0);
	CHECK_EQ(ti.tcpi_unacked, 0);
	CHECK_OK(shutdown(c[0], SHUT_WR));
	th_sleep_ms(20);
	CHECK_EQ(tcp_info_of(c[0]).tcpi_state, TCP_FIN_WAIT2);
	CHECK_EQ(tcp_info_of(c[1]).tcpi_state, TCP_CLOSE_WAIT);
	CHECK_OK(close(c[0]));
	CHECK_OK(close(c[1]));

	/* A listener with a full queue leaves a client in SYN_SENT. */
	CHECK_OK(listen(l, 0));
	full = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_OK(connect(full, (struct sockaddr *)&to, sizeof(to)));
	n = CHECK_OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
	CHECK_ERR(connect(n, (struct sockaddr *)&to, sizeof(to)), EINPROGRESS);
	CHECK_EQ(tcp_info_of(n).tcpi_state, TCP_SYN_SENT);
	CHECK_OK(close(n));
	CHECK_OK(close(full));
	CHECK_OK(close(l));

	tcp_pair(AF_INET, c);
	CHECK_EQ(send(c[1], "unread", 6, 0), 6);
	th_sleep_ms(20);
	CHECK_OK(close(c[0]));
	th_sleep_ms(20);
	CHECK_EQ(tcp_info_of(c[1]).tcpi_state, TCP_CLOSE);
	CHECK_OK(close(c[1]));
	CHECK_OK(close(fresh));
}

/* An IPV6_V6ONLY socket has no route to an IPv4-mapped address:
 * connect and sendto are ENETUNREACH (bind is EINVAL, t_v6only). */
static void
t_v6only_mapped_unreachable(void)
{
	uint16_t port;
	int l = listener(AF_INET, &port), one = 1;
	int t = CHECK_OK(socket(AF_INET6, SOCK_STREAM, 0));
	int u = CHECK_OK(socket(AF_INET6, SOCK_DGRAM, 0));
	struct sockaddr_in6 m = { .sin6_family = AF_INET6,
				  .sin6_port = htons(port) };

	memcpy(&m.sin6_addr, mapped_lo, 16);
	CHECK_OK(setsockopt(t, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)));
	CHECK_OK(setsockopt(u, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)));
	CHECK_ERR(connect(t, (struct sockaddr *)&m, sizeof(m)), ENETUNREACH);
	CHECK_ERR(sendto(u, "x", 1, 0, (struct sockaddr *)&m, sizeof(m)),
		  ENETUNREACH);
	CHECK_ERR(connect(u, (struct sockaddr *)&m, sizeof(m)), ENETUNREACH);
	CHECK_OK(close(u));
	CHECK_OK(close(t));
	CHECK_OK(close(l));
}

/* connect(AF_UNSPEC) on a listener stops it: the connection it held is
 * reset, accept is EINVAL, poll says writable and hung up, the name
 * stays, and nobody else can connect. */
static void
t_listener_unspec_stops(void)
{
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	uint16_t port;
	int l = listener(AF_INET, &port), c, late;
	struct sockaddr_in to = lo4(port);
	char buf[4];

	c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&to, sizeof(to)));
	CHECK_OK(connect(l, &unspec, sizeof(unspec)));
	CHECK_EQ(local_port(l), port);
	CHECK_ERR(accept4(l, NULL, NULL, SOCK_NONBLOCK), EINVAL);
	CHECK_EQ(revents(l, ALL_EVENTS), POLLOUT | POLLHUP);
	th_sleep_ms(20);
	CHECK_ERR(recv(c, buf, sizeof(buf), MSG_DONTWAIT), ECONNRESET);
	late = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_ERR(connect(late, (struct sockaddr *)&to, sizeof(to)),
		  ECONNREFUSED);
	CHECK_OK(close(late));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* Runs accept on the listener in *arg, and leaves its result there
 * (errno negated; a descriptor is closed and reported as 0). */
static void *
blocked_accept_main(void *arg)
{
	int *fd = arg;
	int c = accept(*fd, NULL, NULL);

	*fd = c < 0 ? -errno : 0;
	if (c >= 0)
		close(c);
	return NULL;
}

/* Linux's inet_shutdown() on a listener: SHUT_WR leaves it listening;
 * SHUT_RD stops it, waking a thread blocked in accept (EINVAL), and a
 * connect to its port is refused. */
static void
t_shutdown_listener(void)
{
	uint16_t port;
	int l = listener(AF_INET, &port), arg = l;
	int c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	struct sockaddr_in a = lo4(port);
	pthread_t t;

	CHECK_OK(shutdown(l, SHUT_WR));
	CHECK_OK(connect(c, (struct sockaddr *)&a, sizeof(a)));
	CHECK_OK(close(CHECK_OK(accept(l, NULL, NULL))));
	CHECK_OK(close(c));
	c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_EQ(pthread_create(&t, NULL, blocked_accept_main, &arg), 0);
	th_sleep_ms(100);
	CHECK_OK(shutdown(l, SHUT_RD));
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(arg, -EINVAL);
	CHECK_ERR(accept(l, NULL, NULL), EINVAL);
	CHECK_ERR(connect(c, (struct sockaddr *)&a, sizeof(a)), ECONNREFUSED);
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* shutdown on a socket never connected is ENOTCONN, yet takes effect
 * as on Linux: poll reports it shut for reading, and recv returns 0
 * instead of ENOTCONN. */
static void
t_shutdown_unconnected(void)
{
	int fd = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	char c;

	CHECK_ERR(recv(fd, &c, 1, MSG_DONTWAIT), ENOTCONN);
	CHECK_ERR(shutdown(fd, SHUT_RD), ENOTCONN);
	CHECK_EQ(revents(fd, POLLIN | POLLOUT | POLLRDHUP),
		 POLLIN | POLLOUT | POLLRDHUP | POLLHUP);
	CHECK_EQ(recv(fd, &c, 1, MSG_DONTWAIT), 0);
	CHECK_OK(close(fd));
}

static int
nodelay(int fd)
{
	return int_opt(fd, IPPROTO_TCP, TCP_NODELAY);
}

/* TCP_NODELAY on a listener reads back and passes to the connections
 * it accepts (Linux clones the listener's socket); the connecting side
 * keeps its own. */
static void
t_nodelay_inherited(void)
{
	int l = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	int c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
	struct sockaddr_in a = lo4(0);
	socklen_t len = sizeof(a);
	int one = 1, s;

	CHECK_OK(setsockopt(l, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)));
	CHECK_OK(bind(l, (struct sockaddr *)&a, sizeof(a)));
	CHECK_OK(listen(l, 8));
	CHECK_EQ(nodelay(l), 1);
	CHECK_OK(getsockname(l, (struct sockaddr *)&a, &len));
	CHECK_OK(connect(c, (struct sockaddr *)&a, sizeof(a)));
	s = CHECK_OK(accept(l, NULL, NULL));
	CHECK_EQ(nodelay(s), 1);
	CHECK_EQ(nodelay(c), 0);
	CHECK_OK(close(s));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

static const struct th_test tests[] = {
	{ "bind_ephemeral", t_bind_ephemeral },
	{ "bind_errors", t_bind_errors },
	{ "connect_accept_names", t_connect_accept_names },
	{ "connect_refused", t_connect_refused },
	{ "connect_nonblocking", t_connect_nonblocking },
	{ "unconnected_errors", t_unconnected_errors },
	{ "send_recv_peek", t_send_recv_peek },
	{ "half_close", t_half_close },
	{ "close_unread_resets", t_close_unread_resets },
	{ "close_orderly", t_close_orderly },
	{ "poll_states", t_poll_states },
	{ "nonblocking_send_fills", t_nonblocking_send_fills },
	{ "big_transfer_v4", t_big_transfer_v4 },
	{ "big_transfer_v6", t_big_transfer_v6 },
	{ "v6_names", t_v6_names },
	{ "nodelay", t_nodelay },
	{ "accept_flags_timeout", t_accept_flags_timeout },
	{ "recv_waitall", t_recv_waitall },
	{ "sigpipe", t_sigpipe },
	{ "linger_zero_resets", t_linger_zero_resets },
	{ "fionread_outq", t_fionread_outq },
	{ "v6_dual_stack", t_v6_dual_stack },
	{ "v6only", t_v6only },
	{ "reuseaddr_time_wait", t_reuseaddr_time_wait },
	{ "reuseaddr_listeners", t_reuseaddr_listeners },
	{ "ip_options", t_ip_options },
	{ "keepalive_options", t_keepalive_options },
	{ "connect_unspec_disconnects", t_connect_unspec_disconnects },
	{ "both_closed", t_both_closed },
	{ "oob_errqueue", t_oob_errqueue },
	{ "socket_options_shut_rd", t_socket_options_shut_rd },
	{ "reset_during_send", t_reset_during_send },
	{ "reset_after_data", t_reset_after_data },
	{ "bind_privileged", t_bind_privileged },
	{ "ephemeral_range", t_ephemeral_range },
	{ "listen_backlog_full", t_listen_backlog_full },
	{ "listen_backlog_negative", t_listen_backlog_negative },
	{ "accept4_flags", t_accept4_flags },
	{ "buffer_sizes", t_buffer_sizes },
	{ "accept_inherits_options", t_accept_inherits_options },
	{ "maxseg", t_maxseg },
	{ "rcvlowat", t_rcvlowat },
	{ "poll_every_state", t_poll_every_state },
	{ "poll_refused", t_poll_refused },
	{ "connect_timeout_ealready", t_connect_timeout_ealready },
	{ "connect_enetunreach", t_connect_enetunreach },
	{ "reuseport", t_reuseport },
	{ "reuseaddr_udp", t_reuseaddr_udp },
	{ "loopnet", t_loopnet },
	{ "tcp_info", t_tcp_info },
	{ "v6only_mapped_unreachable", t_v6only_mapped_unreachable },
	{ "listener_unspec_stops", t_listener_unspec_stops },
	{ "shutdown_listener", t_shutdown_listener },
	{ "shutdown_unconnected", t_shutdown_unconnected },
	{ "nodelay_inherited", t_nodelay_inherited },
};

TH_MAIN(tests)

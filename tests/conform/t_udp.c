/*
 * UDP over the loopback (AF_INET and AF_INET6): ephemeral ports and
 * EADDRINUSE, sendto/recvfrom with the sender's address, datagram
 * boundaries, MSG_PEEK, MSG_TRUNC both ways, MSG_DONTWAIT, connect and
 * disconnect (AF_UNSPEC), EDESTADDRREQ, EMSGSIZE, FIONREAD and poll,
 * ICMP port unreachable as ECONNREFUSED, SO_BROADCAST, 127.0.0.0/8.
 * Run on Linux's loopback and on ksock's.
 */
#include <netinet/in.h>
#include <arpa/inet.h>

#include "harness.h"

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

static uint16_t
local_port(int fd)
{
	struct sockaddr_in6 a;
	socklen_t len = sizeof(a);

	CHECK_OK(getsockname(fd, (struct sockaddr *)&a, &len));
	/* sin_port and sin6_port sit at the same offset. */
	return ntohs(a.sin6_port);
}

/* A UDP socket bound to 127.0.0.1 with an ephemeral port. */
static int
bound4(struct sockaddr_in *addr)
{
	int fd = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	struct sockaddr_in a = lo4(0);

	CHECK_OK(bind(fd, (struct sockaddr *)&a, sizeof(a)));
	*addr = lo4(local_port(fd));
	return fd;
}

static int
revents(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT | POLLRDHUP };

	CHECK_OK(poll(&p, 1, 0));
	return p.revents;
}

/* Port 0 picks a port; a second bind to it is EADDRINUSE. */
static void
t_bind_ephemeral_inuse(void)
{
	struct sockaddr_in a;
	int x = bound4(&a), y = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));

	CHECK(a.sin_port != 0);
	CHECK_ERR(bind(y, (struct sockaddr *)&a, sizeof(a)), EADDRINUSE);
	CHECK_OK(close(x));
	CHECK_OK(close(y));
}

/* sendto from an unbound socket binds it; recvfrom names the sender. */
static void
t_sendto_recvfrom(void)
{
	struct sockaddr_in b_addr, from;
	int b = bound4(&b_addr), a = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	socklen_t len = sizeof(from);
	char buf[16];

	CHECK_EQ(sendto(a, "ping", 4, 0, (struct sockaddr *)&b_addr,
			sizeof(b_addr)), 4);
	CHECK(local_port(a) != 0);
	CHECK_EQ(recvfrom(b, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			  &len), 4);
	CHECK_MEM(buf, "ping", 4);
	CHECK_EQ(len, sizeof(from));
	CHECK_EQ(from.sin_family, AF_INET);
	CHECK_EQ(from.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	CHECK_EQ(ntohs(from.sin_port), local_port(a));
	CHECK_OK(close(a));
	CHECK_OK(close(b));
}

/* Datagrams keep their boundaries and order; MSG_PEEK leaves one. */
static void
t_boundaries_peek(void)
{
	struct sockaddr_in b_addr;
	int b = bound4(&b_addr), a = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	char buf[16];

	CHECK_EQ(sendto(a, "one", 3, 0, (struct sockaddr *)&b_addr,
			sizeof(b_addr)), 3);
	CHECK_EQ(sendto(a, "three", 5, 0, (struct sockaddr *)&b_addr,
			sizeof(b_addr)), 5);
	CHECK_EQ(recv(b, buf, sizeof(buf), MSG_PEEK), 3);
	CHECK_EQ(recv(b, buf, sizeof(buf), 0), 3);
	CHECK_MEM(buf, "one", 3);
	CHECK_EQ(recv(b, buf, sizeof(buf), 0), 5);
	CHECK_MEM(buf, "three", 5);
	CHECK_ERR(recv(b, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	CHECK_OK(close(a));
	CHECK_OK(close(b));
}

/* A datagram longer than the buffer is cut and flagged MSG_TRUNC; with
 * MSG_TRUNC passed, recv returns its real length. */
static void
t_truncation(void)
{
	struct sockaddr_in b_addr;
	int b = bound4(&b_addr), a = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	char buf[4];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	CHECK_EQ(sendto(a, "0123456789", 10, 0, (struct sockaddr *)&b_addr,
			sizeof(b_addr)), 10);
	CHECK_EQ(sendto(a, "abcdefghij", 10, 0, (struct sockaddr *)&b_addr,
			sizeof(b_addr)), 10);
	CHECK_EQ(recvmsg(b, &m, 0), 4);
	CHECK(m.msg_flags & MSG_TRUNC);
	CHECK_MEM(buf, "0123", 4);
	CHECK_EQ(recv(b, buf, sizeof(buf), MSG_TRUNC), 10);
	CHECK_MEM(buf, "abcd", 4);
	CHECK_OK(close(a));
	CHECK_OK(close(b));
}

/* connect fixes the peer (send needs no address; getpeername names it);
 * connect with AF_UNSPEC dissolves it: ENOTCONN, EDESTADDRREQ. */
static void
t_connect_disconnect(void)
{
	struct sockaddr_in b_addr, peer;
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	int b = bound4(&b_addr), a = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	socklen_t len = sizeof(peer);
	char buf[8];

	CHECK_ERR(send(a, "x", 1, 0), EDESTADDRREQ);
	CHECK_ERR(getpeername(a, (struct sockaddr *)&peer, &len), ENOTCONN);
	CHECK_OK(connect(a, (struct sockaddr *)&b_addr, sizeof(b_addr)));
	len = sizeof(peer);
	CHECK_OK(getpeername(a, (struct sockaddr *)&peer, &len));
	CHECK_EQ(peer.sin_port, b_addr.sin_port);
	CHECK_EQ(send(a, "conn", 4, 0), 4);
	CHECK_EQ(recv(b, buf, sizeof(buf), 0), 4);
	CHECK_MEM(buf, "conn", 4);
	/* sendto with an address still works on a connected socket. */
	CHECK_EQ(sendto(a, "to", 2, 0, (struct sockaddr *)&b_addr,
			sizeof(b_addr)), 2);
	CHECK_EQ(recv(b, buf, sizeof(buf), 0), 2);
	CHECK_OK(connect(a, &unspec, sizeof(unspec)));
	len = sizeof(peer);
	CHECK_ERR(getpeername(a, (struct sockaddr *)&peer, &len), ENOTCONN);
	CHECK_ERR(send(a, "x", 1, 0), EDESTADDRREQ);
	CHECK_OK(close(a));
	CHECK_OK(close(b));
}

/* 65507 bytes is the largest IPv4 datagram; one more is EMSGSIZE. */
static void
t_emsgsize(void)
{
	static char big[65508];
	static char in[65508];
	struct sockaddr_in b_addr;
	int b = bound4(&b_addr), a = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	int v = 1 << 20;

	CHECK_OK(setsockopt(b, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)));
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 13);
	CHECK_ERR(sendto(a, big, 65508, 0, (struct sockaddr *)&b_addr,
			 sizeof(b_addr)), EMSGSIZE);
	CHECK_EQ(sendto(a, big, 65507, 0, (struct sockaddr *)&b_addr,
			sizeof(b_addr)), 65507);
	CHECK_EQ(recv(b, in, sizeof(in), 0), 65507);
	CHECK_MEM(in, big, 65507);
	CHECK_OK(close(a));
	CHECK_OK(close(b));
}

/* poll: writable at once, readable when a datagram waits; FIONREAD is
 * the next datagram's length. */
static void
t_poll_fionread(void)
{
	struct sockaddr_in b_addr;
	int b = bound4(&b_addr), a = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	int n = -1;
	char buf[8];

	CHECK_EQ(revents(b), POLLOUT);
	CHECK_OK(ioctl(b, FIONREAD, &n));
	CHECK_EQ(n, 0);
	CHECK_EQ(sendto(a, "12345", 5, 0, (struct sockaddr *)&b_addr,
			sizeof(b_addr)), 5);
	CHECK_EQ(sendto(a, "12", 2, 0, (struct sockaddr *)&b_addr,
			sizeof(b_addr)), 2);
	CHECK_EQ(revents(b), POLLIN | POLLOUT);
	CHECK_OK(ioctl(b, FIONREAD, &n));
	CHECK_EQ(n, 5);
	CHECK_EQ(recv(b, buf, sizeof(buf), 0), 5);
	CHECK_EQ(recv(b, buf, sizeof(buf), 0), 2);
	CHECK_EQ(revents(b), POLLOUT);
	CHECK_OK(close(a));
	CHECK_OK(close(b));
}

/* IPv6: a datagram over ::1 names its sender. */
static void
t_v6_sendto(void)
{
	struct sockaddr_in6 any = { .sin6_family = AF_INET6,
				    .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in6 to, from;
	struct in6_addr lo = IN6ADDR_LOOPBACK_INIT;
	int b = CHECK_OK(socket(AF_INET6, SOCK_DGRAM, 0));
	int a = CHECK_OK(socket(AF_INET6, SOCK_DGRAM, 0));
	socklen_t len = sizeof(from);
	char buf[8];

	CHECK_OK(bind(b, (struct sockaddr *)&any, sizeof(any)));
	to = any;
	to.sin6_port = htons(local_port(b));
	CHECK_EQ(sendto(a, "six", 3, 0, (struct sockaddr *)&to, sizeof(to)),
		 3);
	CHECK_EQ(recvfrom(b, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			  &len), 3);
	CHECK_MEM(buf, "six", 3);
	CHECK_EQ(len, sizeof(from));
	CHECK_EQ(from.sin6_family, AF_INET6);
	CHECK_MEM(&from.sin6_addr, &lo, sizeof(lo));
	CHECK_EQ(ntohs(from.sin6_port), local_port(a));
	CHECK_OK(close(a));
	CHECK_OK(close(b));
}

/* A dual-stack AF_INET6 socket talks to an AF_INET one through
 * ::ffff:127.0.0.1, and sees its replies come from that address. */
static void
t_v4_mapped(void)
{
	static const unsigned char mapped_lo[16] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1,
	};
	struct sockaddr_in b_addr, from4;
	struct sockaddr_in6 to6 = { .sin6_family = AF_INET6 }, from6;
	int b = bound4(&b_addr), a = CHECK_OK(socket(AF_INET6, SOCK_DGRAM, 0));
	socklen_t len = sizeof(from4);
	char buf[8];

	memcpy(&to6.sin6_addr, mapped_lo, 16);
	to6.sin6_port = b_addr.sin_port;
	CHECK_EQ(sendto(a, "map", 3, 0, (struct sockaddr *)&to6, sizeof(to6)),
		 3);
	CHECK_EQ(recvfrom(b, buf, sizeof(buf), 0, (struct sockaddr *)&from4,
			  &len), 3);
	CHECK_EQ(from4.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	CHECK_EQ(ntohs(from4.sin_port), local_port(a));
	CHECK_EQ(sendto(b, "back", 4, 0, (struct sockaddr *)&from4,
			sizeof(from4)), 4);
	len = sizeof(from6);
	CHECK_EQ(recvfrom(a, buf, sizeof(buf), 0, (struct sockaddr *)&from6,
			  &len), 4);
	CHECK_EQ(len, sizeof(from6));
	CHECK_EQ(from6.sin6_family, AF_INET6);
	CHECK_MEM(&from6.sin6_addr, mapped_lo, 16);
	CHECK_EQ(from6.sin6_port, b_addr.sin_port);
	CHECK_OK(close(a));
	CHECK_OK(close(b));
}

/* Flags UDP does not do: MSG_OOB on send is EOPNOTSUPP; the error queue
 * is empty (EAGAIN, at once, even from a blocking socket). */
static void
t_unsupported_flags(void)
{
	struct sockaddr_in b_addr;
	int b = bound4(&b_addr), a = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	char buf[4];

	CHECK_ERR(sendto(a, "x", 1, MSG_OOB, (struct sockaddr *)&b_addr,
			 sizeof(b_addr)), EOPNOTSUPP);
	CHECK_ERR(recv(b, buf, sizeof(buf), MSG_ERRQUEUE), EAGAIN);
	/* shutdown needs a connected socket. */
	CHECK_ERR(shutdown(a, SHUT_RDWR), ENOTCONN);
	CHECK_OK(close(a));
	CHECK_OK(close(b));
}

/* A UDP port nobody has: bound once, then closed. */
static struct sockaddr_in
closed4(void)
{
	struct sockaddr_in a;

	CHECK_OK(close(bound4(&a)));
	return a;
}

/* Waits (generously) until @fd reports POLLERR; returns its revents. */
static int
wait_err(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };

	for (int i = 0; i < 100 && !(p.revents & POLLERR); i++)
		CHECK_OK(poll(&p, 1, 100));
	return p.revents;
}

/* A datagram to a closed port draws an ICMP port unreachable: a
 * connected socket reports ECONNREFUSED once, through POLLERR and then
 * the next recv, send or SO_ERROR, and works again after it. */
static void
t_icmp_refused_connected(void)
{
	struct sockaddr_in to = closed4();
	int a = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	int err = -1;
	socklen_t len = sizeof(err);
	char buf[4];

	CHECK_OK(connect(a, (struct sockaddr *)&to, sizeof(to)));
	CHECK_EQ(revents(a), POLLOUT);
	CHECK_EQ(send(a, "x", 1, 0), 1);
	CHECK_EQ(wait_err(a), POLLERR | POLLOUT);
	CHECK_ERR(recv(a, buf, sizeof(buf), 0), ECONNREFUSED);
	CHECK_EQ(revents(a), POLLOUT);
	CHECK_ERR(recv(a, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);

	CHECK_EQ(send(a, "y", 1, 0), 1);
	CHECK_EQ(wait_err(a), POLLERR | POLLOUT);
	CHECK_ERR(send(a, "z", 1, 0), ECONNREFUSED);
	CHECK_EQ(revents(a), POLLOUT);

	CHECK_EQ(send(a, "w", 1, 0), 1);
	CHECK_EQ(wait_err(a), POLLERR | POLLOUT);
	CHECK_OK(getsockopt(a, SOL_SOCKET, SO_ERROR, &err, &len));
	CHECK_EQ(err, ECONNREFUSED);
	CHECK_OK(getsockopt(a, SOL_SOCKET, SO_ERROR, &err, &len));
	CHECK_EQ(err, 0);
	CHECK_OK(close(a));
}

/* The error comes before a datagram already queued (from another
 * sender), which the next recv then returns. */
static void
t_icmp_error_before_data(void)
{
	struct sockaddr_in to = closed4(), a_addr;
	int a = bound4(&a_addr), b = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	char buf[8];

	CHECK_EQ(sendto(b, "data", 4, 0, (struct sockaddr *)&a_addr,
			sizeof(a_addr)), 4);
	CHECK_OK(connect(a, (struct sockaddr *)&to, sizeof(to)));
	CHECK_EQ(send(a, "x", 1, 0), 1);
	CHECK_EQ(wait_err(a), POLLERR | POLLIN | POLLOUT);
	CHECK_ERR(recv(a, buf, sizeof(buf), 0), ECONNREFUSED);
	CHECK_EQ(recv(a, buf, sizeof(buf), 0), 4);
	CHECK_MEM(buf, "data", 4);
	CHECK_OK(close(a));
	CHECK_OK(close(b));
}

/* An unconnected socket hears nothing of it (no IP_RECVERR): a later
 * datagram to a live port arrives, and no error is pending. */
static void
t_icmp_unconnected_silent(void)
{
	struct sockaddr_in to = closed4(), b_addr;
	int b = bound4(&b_addr), a = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	int err = -1;
	socklen_t len = sizeof(err);
	char buf[4];

	CHECK_EQ(sendto(a, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
	CHECK_EQ(sendto(a, "y", 1, 0, (struct sockaddr *)&b_addr,
			sizeof(b_addr)), 1);
	CHECK_EQ(recv(b, buf, sizeof(buf), 0), 1);
	CHECK_EQ(revents(a), POLLOUT);
	CHECK_OK(getsockopt(a, SOL_SOCKET, SO_ERROR, &err, &len));
	CHECK_EQ(err, 0);
	CHECK_OK(close(a));
	CHECK_OK(close(b));
}

/* IPv6: ICMPv6 port unreachable on a connected socket, the same way. */
static void
t_icmp6_refused(void)
{
	struct sockaddr_in6 to = { .sin6_family = AF_INET6,
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int x = CHECK_OK(socket(AF_INET6, SOCK_DGRAM, 0));
	int a = CHECK_OK(socket(AF_INET6, SOCK_DGRAM, 0));
	char buf[4];

	CHECK_OK(bind(x, (struct sockaddr *)&to, sizeof(to)));
	to.sin6_port = htons(local_port(x));
	CHECK_OK(close(x));
	CHECK_OK(connect(a, (struct sockaddr *)&to, sizeof(to)));
	CHECK_EQ(send(a, "x", 1, 0), 1);
	CHECK_EQ(wait_err(a), POLLERR | POLLOUT);
	CHECK_ERR(recv(a, buf, sizeof(buf), 0), ECONNREFUSED);
	CHECK_EQ(revents(a), POLLOUT);
	CHECK_OK(close(a));
}

/* A broadcast needs SO_BROADCAST (EACCES without it, for sendto and
 * connect); with it, the loopback's broadcast 127.255.255.255 reaches a
 * socket bound to the wildcard. */
static void
t_broadcast(void)
{
	struct sockaddr_in any = { .sin_family = AF_INET }, bc, from;
	int r = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	int a = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	socklen_t len = sizeof(from);
	char buf[8];
	int on = 1;

	CHECK_OK(bind(r, (struct sockaddr *)&any, sizeof(any)));
	bc = lo4(local_port(r));
	bc.sin_addr.s_addr = htonl(0x7fffffff);
	CHECK_ERR(sendto(a, "b", 1, 0, (struct sockaddr *)&bc, sizeof(bc)),
		  EACCES);
	CHECK_ERR(connect(a, (struct sockaddr *)&bc, sizeof(bc)), EACCES);
	bc.sin_addr.s_addr = htonl(INADDR_BROADCAST);
	CHECK_ERR(sendto(a, "b", 1, 0, (struct sockaddr *)&bc, sizeof(bc)),
		  EACCES);
	CHECK_OK(setsockopt(a, SOL_SOCKET, SO_BROADCAST, &on, sizeof(on)));
	bc.sin_addr.s_addr = htonl(0x7fffffff);
	CHECK_EQ(sendto(a, "bc", 2, 0, (struct sockaddr *)&bc, sizeof(bc)), 2);
	CHECK_EQ(recvfrom(r, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			  &len), 2);
	CHECK_EQ(from.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	CHECK_EQ(ntohs(from.sin_port), local_port(a));
	CHECK_OK(connect(a, (struct sockaddr *)&bc, sizeof(bc)));
	CHECK_EQ(send(a, "cc", 2, 0), 2);
	CHECK_EQ(recv(r, buf, sizeof(buf), 0), 2);
	CHECK_OK(close(a));
	CHECK_OK(close(r));
}

/* A UDP socket's buffers start at net.core's defaults. */
static void
t_buffer_defaults(void)
{
	int fd = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0)), v = -1;
	socklen_t len = sizeof(v);

	CHECK_OK(getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &len));
	CHECK_EQ(v, 212992);
	CHECK_OK(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len));
	CHECK_EQ(v, 212992);
	CHECK_OK(close(fd));
}

/* 127.0.0.0/8 is this host's: a socket bound to 127.0.0.5 hears an
 * unbound sender as 127.0.0.1; a connected socket whose datagram to
 * 127.0.0.6 finds nobody gets ECONNREFUSED. */
static void
t_loopnet(void)
{
	struct sockaddr_in b_addr = lo4(0), from, to;
	int b = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	int a = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	socklen_t len = sizeof(from);
	char buf[4];

	b_addr.sin_addr.s_addr = htonl(0x7f000005);
	CHECK_OK(bind(b, (struct sockaddr *)&b_addr, sizeof(b_addr)));
	b_addr.sin_port = htons(local_port(b));
	CHECK_EQ(sendto(a, "x", 1, 0, (struct sockaddr *)&b_addr,
			sizeof(b_addr)), 1);
	CHECK_EQ(recvfrom(b, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			  &len), 1);
	CHECK_EQ(from.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	to = b_addr;
	to.sin_addr.s_addr = htonl(0x7f000006);
	CHECK_OK(connect(a, (struct sockaddr *)&to, sizeof(to)));
	CHECK_EQ(send(a, "y", 1, 0), 1);
	CHECK_EQ(wait_err(a), POLLERR | POLLOUT);
	CHECK_ERR(recv(a, buf, sizeof(buf), 0), ECONNREFUSED);
	CHECK_OK(close(a));
	CHECK_OK(close(b));
}

/* Runs recv on the socket in *arg, and leaves its result there (errno
 * negated). */
static void *
blocked_recv_main(void *arg)
{
	int *fd = arg;
	char buf[4];
	ssize_t n = recv(*fd, buf, sizeof(buf), 0);

	*fd = n < 0 ? -errno : (int)n;
	return NULL;
}

/* shutdown on an unconnected socket is ENOTCONN, yet it takes effect
 * (Linux's inet_shutdown): a thread blocked in recv returns 0, poll
 * reports the socket shut for reading, and a blocking recv returns 0
 * at once while a non-blocking one, finding nothing, is EAGAIN. */
static void
t_shutdown_unconnected(void)
{
	struct sockaddr_in b_addr;
	int b = bound4(&b_addr), arg = b;
	char buf[4];
	pthread_t t;

	CHECK_EQ(pthread_create(&t, NULL, blocked_recv_main, &arg), 0);
	th_sleep_ms(100);
	CHECK_ERR(shutdown(b, SHUT_RD), ENOTCONN);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(arg, 0);
	CHECK_EQ(revents(b), POLLIN | POLLOUT | POLLRDHUP);
	CHECK_EQ(recv(b, buf, sizeof(buf), 0), 0);
	CHECK_ERR(recv(b, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	CHECK_ERR(shutdown(b, SHUT_WR), ENOTCONN);
	CHECK_EQ(revents(b), POLLIN | POLLOUT | POLLRDHUP | POLLHUP);
	CHECK_OK(close(b));
}

/* A bad buffer or address pointer is EFAULT, and the datagram is lost
 * all the same (Linux's udp_recvmsg had taken it off the queue), unless
 * it was only peeked at. */
static void
t_efault_drops(void)
{
	struct sockaddr_in b_addr;
	int b = bound4(&b_addr), a = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	socklen_t len = sizeof(b_addr);
	char buf[8];

	CHECK_EQ(sendto(a, "one", 3, 0, (struct sockaddr *)&b_addr,
			sizeof(b_addr)), 3);
	CHECK_EQ(sendto(a, "two", 3, 0, (struct sockaddr *)&b_addr,
			sizeof(b_addr)), 3);
	CHECK_EQ(sendto(a, "three", 5, 0, (struct sockaddr *)&b_addr,
			sizeof(b_addr)), 5);
	CHECK_ERR(recv(b, (void *)1, sizeof(buf), MSG_PEEK), EFAULT);
	CHECK_ERR(recv(b, (void *)1, sizeof(buf), 0), EFAULT);
	CHECK_ERR(recvfrom(b, buf, sizeof(buf), 0, (struct sockaddr *)1,
			   &len), EFAULT);
	CHECK_EQ(recv(b, buf, sizeof(buf), MSG_DONTWAIT), 5);
	CHECK_MEM(buf, "three", 5);
	CHECK_ERR(recv(b, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	CHECK_OK(close(a));
	CHECK_OK(close(b));
}

/* IP_TTL and IP_TOS take a single byte too, as Linux's
 * do_ip_setsockopt() does; a length of 0 is EINVAL for IP_TTL and sets
 * IP_TOS to 0; IPV6_UNICAST_HOPS wants a whole int. */
static void
t_ip_opts_byte(void)
{
	int s = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
	int s6 = CHECK_OK(socket(AF_INET6, SOCK_DGRAM, 0));
	unsigned char c = 7;
	int v = 0x40;
	socklen_t len = sizeof(v);

	CHECK_OK(setsockopt(s, IPPROTO_IP, IP_TTL, &c, 1));
	CHECK_OK(getsockopt(s, IPPROTO_IP, IP_TTL, &v, &len));
	CHECK_EQ(v, 7);
	CHECK_EQ(len, sizeof(v));
	CHECK_ERR(setsockopt(s, IPPROTO_IP, IP_TTL, &c, 0), EINVAL);
	c = 0;
	CHECK_ERR(setsockopt(s, IPPROTO_IP, IP_TTL, &c, 1), EINVAL);
	c = 0x20;
	CHECK_OK(setsockopt(s, IPPROTO_IP, IP_TOS, &c, 1));
	CHECK_OK(getsockopt(s, IPPROTO_IP, IP_TOS, &v, &len));
	CHECK_EQ(v, 0x20);
	CHECK_OK(setsockopt(s, IPPROTO_IP, IP_TOS, &c, 0));
	CHECK_OK(getsockopt(s, IPPROTO_IP, IP_TOS, &v, &len));
	CHECK_EQ(v, 0);
	c = 5;
	CHECK_ERR(setsockopt(s6, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &c, 1),
		  EINVAL);
	CHECK_OK(close(s6));
	CHECK_OK(close(s));
}

static const struct th_test tests[] = {
	{ "bind_ephemeral_inuse", t_bind_ephemeral_inuse },
	{ "sendto_recvfrom", t_sendto_recvfrom },
	{ "boundaries_peek", t_boundaries_peek },
	{ "truncation", t_truncation },
	{ "connect_disconnect", t_connect_disconnect },
	{ "emsgsize", t_emsgsize },
	{ "poll_fionread", t_poll_fionread },
	{ "v6_sendto", t_v6_sendto },
	{ "v4_mapped", t_v4_mapped },
	{ "unsupported_flags", t_unsupported_flags },
	{ "icmp_refused_connected", t_icmp_refused_connected },
	{ "icmp_error_before_data", t_icmp_error_before_data },
	{ "icmp_unconnected_silent", t_icmp_unconnected_silent },
	{ "icmp6_refused", t_icmp6_refused },
	{ "broadcast", t_broadcast },
	{ "buffer_defaults", t_buffer_defaults },
	{ "loopnet", t_loopnet },
	{ "shutdown_unconnected", t_shutdown_unconnected },
	{ "efault_drops", t_efault_drops },
	{ "ip_opts_byte", t_ip_opts_byte },
};

TH_MAIN(tests)

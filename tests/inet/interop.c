/*
 * ksock's TCP/IP against the Linux kernel's, across a TAP link.
 *
 * Each test runs in a child process of the conformance harness
 * (tests/conform/harness.h: fresh ksock, nothing left allocated or open
 * afterwards), enters a network namespace of its own with kstap0
 * (netns.h), attaches ksock to it as 10.77.0.2 / fd77::2 and plays both
 * ends in one process: one end through libc (the Linux kernel, 10.77.0.1
 * / fd77::1), the other through ksock's POSIX personality. Every case
 * runs four times: ksock client and Linux server, Linux client and ksock
 * server, over IPv4 and IPv6 (the name says which: _k2l_v4 ...).
 *
 * Where one end runs alone (a connection refused, an address nobody
 * answers), the Linux client's run is the reference the ksock client's
 * must match: both assert the same results.
 */
#include "../conform/harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ksock/posix.h>

#include "netns.h"

/* One end of a conversation: the calls of one TCP/IP, and its address. */
struct side {
	const char *name;
	bool	 is_ksock;
	const char *v4, *v6;
	int	(*socket)(int, int, int);
	int	(*bind)(int, const struct sockaddr *, socklen_t);
	int	(*listen)(int, int);
	int	(*accept)(int, struct sockaddr *, socklen_t *);
	int	(*connect)(int, const struct sockaddr *, socklen_t);
	ssize_t	(*send)(int, const void *, size_t, int);
	ssize_t	(*recv)(int, void *, size_t, int);
	ssize_t	(*sendto)(int, const void *, size_t, int,
			  const struct sockaddr *, socklen_t);
	ssize_t	(*recvfrom)(int, void *, size_t, int, struct sockaddr *,
			    socklen_t *);
	int	(*close)(int);
	int	(*shutdown)(int, int);
	int	(*setsockopt)(int, int, int, const void *, socklen_t);
	int	(*getsockopt)(int, int, int, void *, socklen_t *);
	int	(*getsockname)(int, struct sockaddr *, socklen_t *);
	int	(*getpeername)(int, struct sockaddr *, socklen_t *);
	int	(*poll)(struct pollfd *, nfds_t, int);
};

static const struct side linux_side = {
	"linux", false, TN_LINUX_V4, TN_LINUX_V6,
	socket, bind, listen, accept, connect, send, recv, sendto, recvfrom,
	close, shutdown, setsockopt, getsockopt, getsockname, getpeername,
	poll,
};

static const struct side ksock_side = {
	"ksock", true, TN_KSOCK_V4_ADDR, TN_KSOCK_V6_ADDR,
	ksp_socket, ksp_bind, ksp_listen, ksp_accept, ksp_connect, ksp_send,
	ksp_recv, ksp_sendto, ksp_recvfrom, ksp_close, ksp_shutdown,
	ksp_setsockopt, ksp_getsockopt, ksp_getsockname, ksp_getpeername,
	ksp_poll,
};

/* What a case gets: who connects, who listens, which family. */
struct run {
	const struct side *client, *server;
	int	 family;
	bool	 attached;
};

/* -- addresses -- */

struct addr {
	struct sockaddr_storage	ss;
	socklen_t		len;
};

static struct addr
addr_of(int family, const char *text, uint16_t port)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&a.ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		CHECK_EQ(inet_pton(AF_INET, text, &in->sin_addr), 1);
		a.len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a.ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		CHECK_EQ(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
		a.len = sizeof(*in6);
	}
	return a;
}

/* @s's own address on the link, in @family. */
static const char *
side_addr(const struct side *s, int family)
{
	return family == AF_INET ? s->v4 : s->v6;
}

static uint16_t
port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* Checks that @got (of length @len) is @text's address (any port). */
static void
check_addr_is(const struct sockaddr_storage *got, socklen_t len, int family,
	      const char *text)
{
	char buf[INET6_ADDRSTRLEN] = "";

	CHECK_EQ(got->ss_family, family);
	if (family == AF_INET) {
		CHECK_EQ(len, sizeof(struct sockaddr_in));
		inet_ntop(AF_INET, &((const struct sockaddr_in *)got)->sin_addr,
			  buf, sizeof(buf));
	} else {
		CHECK_EQ(len, sizeof(struct sockaddr_in6));
		inet_ntop(AF_INET6,
			  &((const struct sockaddr_in6 *)got)->sin6_addr, buf,
			  sizeof(buf));
	}
	if (strcmp(buf, text) != 0)
		th_fail(__FILE__, __LINE__, "address %s, want %s", buf, text);
}

/* -- set-up -- */

/* A socket of @type on @s bound to its address, port chosen; the port
 * is returned through @port. */
static int
bound_socket(const struct side *s, int family, int type, uint16_t *port)
{
	struct addr a = addr_of(family, side_addr(s, family), 0);
	struct sockaddr_storage got;
	socklen_t len = sizeof(got);
	int fd = CHECK_OK(s->socket(family, type, 0));

	CHECK_OK(s->bind(fd, (struct sockaddr *)&a.ss, a.len));
	CHECK_OK(s->getsockname(fd, (struct sockaddr *)&got, &len));
	*port = port_of(&got);
	return fd;
}

static int
listener(const struct side *s, int family, uint16_t *port)
{
	int fd = bound_socket(s, family, SOCK_STREAM, port);

	CHECK_OK(s->listen(fd, 128));
	return fd;
}

/* A blocking connect from @r's client to @r's server at @port. */
static int
connect_to(const struct run *r, uint16_t port)
{
	struct addr a = addr_of(r->family, side_addr(r->server, r->family),
				port);
	int fd = CHECK_OK(r->client->socket(r->family, SOCK_STREAM, 0));

	CHECK_OK(r->client->connect(fd, (struct sockaddr *)&a.ss, a.len));
	return fd;
}

/* Both ends of one TCP connection, the listener closed again. Checks
 * the addresses each end sees. */
static void
tcp_pair(const struct run *r, int *cfd, int *sfd)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	uint16_t port;
	int lfd = listener(r->server, r->family, &port);

	*cfd = connect_to(r, port);
	*sfd = CHECK_OK(r->server->accept(lfd, (struct sockaddr *)&peer, &len));
	check_addr_is(&peer, len, r->family, side_addr(r->client, r->family));
	len = sizeof(peer);
	CHECK_OK(r->client->getpeername(*cfd, (struct sockaddr *)&peer, &len));
	check_addr_is(&peer, len, r->family, side_addr(r->server, r->family));
	CHECK_EQ(port_of(&peer), port);
	len = sizeof(peer);
	CHECK_OK(r->client->getsockname(*cfd, (struct sockaddr *)&peer, &len));
	check_addr_is(&peer, len, r->family, side_addr(r->client, r->family));
	CHECK_OK(r->server->close(lfd));
}

/* Generous: the machine is shared; nothing here waits for a timeout. */
static void
set_timeouts(const struct side *s, int fd)
{
	struct timeval tv = { .tv_sec = 20 };

	CHECK_OK(s->setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	CHECK_OK(s->setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)));
}

/* -- cases -- */

/* A short exchange both ways, then an orderly close seen as end of file
 * by the other end. */
static void
tcp_hello(struct run *r)
{
	const struct side *c = r->client, *s = r->server;
	char buf[64];
	int cfd, sfd;

	tcp_pair(r, &cfd, &sfd);
	set_timeouts(c, cfd);
	set_timeouts(s, sfd);
	CHECK_EQ(c->send(cfd, "hello", 5, MSG_NOSIGNAL), 5);
	CHECK_EQ(s->recv(sfd, buf, sizeof(buf), 0), 5);
	CHECK_MEM(buf, "hello", 5);
	CHECK_EQ(s->send(sfd, "world!", 6, MSG_NOSIGNAL), 6);
	CHECK_EQ(c->recv(cfd, buf, sizeof(buf), 0), 6);
	CHECK_MEM(buf, "world!", 6);
	CHECK_OK(c->close(cfd));
	CHECK_EQ(s->recv(sfd, buf, sizeof(buf), 0), 0);
	CHECK_OK(s->close(sfd));
}

/* -- the table -- */

#define CASES(X)	\
	X(tcp_hello)

/* Runs @fn with @client connecting to @server over @family. */
static void
run_case(void (*fn)(struct run *), const struct side *client,
	 const struct side *server, int family)
{
	struct run r = { client, server, family, false };

	if (tn_enter() < 0)
		th_skip(tn_reason());
	if (ksp_inet_tap_attach(TN_IFNAME, TN_KSOCK_V4, TN_KSOCK_V6) < 0) {
		th_fail(__FILE__, __LINE__, "ksp_inet_tap_attach: %s",
			strerror(errno));
		return;
	}
	r.attached = true;
	fn(&r);
	if (r.attached)
		CHECK_OK(ksp_inet_tap_detach());
}

#define WRAP(c)								\
	static void c##_k2l_v4(void)					\
	{ run_case(c, &ksock_side, &linux_side, AF_INET); }		\
	static void c##_l2k_v4(void)					\
	{ run_case(c, &linux_side, &ksock_side, AF_INET); }		\
	static void c##_k2l_v6(void)					\
	{ run_case(c, &ksock_side, &linux_side, AF_INET6); }		\
	static void c##_l2k_v6(void)					\
	{ run_case(c, &linux_side, &ksock_side, AF_INET6); }
CASES(WRAP)

#define ENTRY(c)							\
	{ #c "_k2l_v4", c##_k2l_v4 }, { #c "_l2k_v4", c##_l2k_v4 },	\
	{ #c "_k2l_v6", c##_k2l_v6 }, { #c "_l2k_v6", c##_l2k_v6 },
static const struct th_test tests[] = {
	CASES(ENTRY)
};

TH_MAIN(tests)

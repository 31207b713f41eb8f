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
#include <sys/wait.h>

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

/* -- addresses -- */

/* The client's end binds its own address on the link; the other end's,
 * or one nobody has, is not local. */
static void
bind_addrs(struct run *r)
{
	const struct side *c = r->client;
	const char *others[] = {
		side_addr(r->server, r->family),
		r->family == AF_INET ? TN_UNUSED_V4 : TN_UNUSED_V6,
	};
	uint16_t port;
	int fd = bound_socket(c, r->family, SOCK_DGRAM, &port);

	CHECK(port != 0);
	CHECK_OK(c->close(fd));
	for (int i = 0; i < 2; i++) {
		struct addr a = addr_of(r->family, others[i], 0);

		fd = CHECK_OK(c->socket(r->family, SOCK_STREAM, 0));
		CHECK_ERR(c->bind(fd, (struct sockaddr *)&a.ss, a.len),
			  EADDRNOTAVAIL);
		CHECK_OK(c->close(fd));
	}
}

/* -- dual stack -- */

/* An AF_INET6 socket reaches an IPv4 peer through its IPv4-mapped
 * address, and a dual-stack listener on the wildcard accepts from one:
 * each end sees the other's address mapped (the _v6 runs; the _v4 ones
 * leave the mapping out and check the plain IPv4 wildcard listener). */
static void
tcp_mapped(struct run *r)
{
	const struct side *c = r->client, *s = r->server;
	bool map = r->family == AF_INET6;
	int fam = map ? AF_INET6 : AF_INET;
	char want_c[64], want_s[64];
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	struct addr any = addr_of(fam, map ? "::" : "0.0.0.0", 0), to;
	int lfd, cfd, sfd;
	char buf[4];

	snprintf(want_c, sizeof(want_c), "%s%s", map ? "::ffff:" : "", c->v4);
	snprintf(want_s, sizeof(want_s), "%s%s", map ? "::ffff:" : "", s->v4);
	lfd = CHECK_OK(s->socket(fam, SOCK_STREAM, 0));
	CHECK_OK(s->bind(lfd, (struct sockaddr *)&any.ss, any.len));
	CHECK_OK(s->listen(lfd, 4));
	CHECK_OK(s->getsockname(lfd, (struct sockaddr *)&peer, &len));
	to = addr_of(fam, want_s, port_of(&peer));
	cfd = CHECK_OK(c->socket(fam, SOCK_STREAM, 0));
	CHECK_OK(c->connect(cfd, (struct sockaddr *)&to.ss, to.len));
	len = sizeof(peer);
	sfd = CHECK_OK(s->accept(lfd, (struct sockaddr *)&peer, &len));
	check_addr_is(&peer, len, fam, want_c);
	len = sizeof(peer);
	CHECK_OK(s->getsockname(sfd, (struct sockaddr *)&peer, &len));
	check_addr_is(&peer, len, fam, want_s);
	len = sizeof(peer);
	CHECK_OK(c->getsockname(cfd, (struct sockaddr *)&peer, &len));
	check_addr_is(&peer, len, fam, want_c);
	set_timeouts(s, sfd);
	CHECK_EQ(c->send(cfd, "map", 3, MSG_NOSIGNAL), 3);
	CHECK_EQ(s->recv(sfd, buf, sizeof(buf), 0), 3);
	CHECK_MEM(buf, "map", 3);
	CHECK_OK(c->close(cfd));
	CHECK_OK(s->close(sfd));
	CHECK_OK(s->close(lfd));
}

/* -- bulk data -- */

#define BULK_BYTES	(4 << 20)	/* each way */

/* The byte at @off of stream @seed: not periodic over a window or a
 * segment, so a lost, repeated or reordered piece shows. */
static unsigned char
pattern(size_t off, unsigned seed)
{
	uint32_t x = (uint32_t)off * 2654435761u + seed * 40503u;

	return (unsigned char)((x >> 24) ^ (off >> 16));
}

/* Sends @n bytes of stream @seed in pieces of varying size. */
static void
send_stream(const struct side *s, int fd, size_t n, unsigned seed)
{
	static const size_t pieces[] = { 1, 1000, 65536, 1460, 7, 30000 };
	unsigned char *buf = malloc(65536);
	size_t off = 0;

	CHECK(buf != NULL);
	for (int i = 0; buf != NULL && off < n; i++) {
		size_t len = pieces[i % 6];
		ssize_t done;

		if (len > n - off)
			len = n - off;
		for (size_t k = 0; k < len; k++)
			buf[k] = pattern(off + k, seed);
		done = s->send(fd, buf, len, MSG_NOSIGNAL);
		if (done <= 0) {
			th_fail(__FILE__, __LINE__, "%s send at %zu: %zd (%s)",
				s->name, off, done, strerror(errno));
			break;
		}
		off += (size_t)done;
	}
	free(buf);
}

/* Receives until end of file and checks it is @n bytes of stream @seed. */
static void
recv_stream(const struct side *s, int fd, size_t n, unsigned seed)
{
	unsigned char *buf = malloc(65536);
	size_t off = 0;
	ssize_t got = 0;

	CHECK(buf != NULL);
	while (buf != NULL && (got = s->recv(fd, buf, 65536, 0)) > 0) {
		for (ssize_t k = 0; k < got; k++)
			if (buf[k] != pattern(off + (size_t)k, seed)) {
				th_fail(__FILE__, __LINE__,
					"byte %zu differs", off + (size_t)k);
				free(buf);
				return;
			}
		off += (size_t)got;
	}
	CHECK_OK(got);
	CHECK_EQ(off, n);
	free(buf);
}

struct bulk_client {
	const struct side *s;
	int fd;
};

/* The client's half, in a process of its own: its stream out, then the
 * server's back. */
static int
bulk_client_main(void *arg)
{
	struct bulk_client *bc = arg;

	send_stream(bc->s, bc->fd, BULK_BYTES, 1);
	CHECK_OK(bc->s->shutdown(bc->fd, SHUT_WR));
	recv_stream(bc->s, bc->fd, BULK_BYTES, 2);
	return th_failures();
}

/* Several megabytes each way, checked byte for byte, each direction
 * ended by a half-close. */
static void
tcp_bulk(struct run *r)
{
	struct bulk_client bc = { r->client, -1 };
	struct th_child *child;
	int sfd;

	tcp_pair(r, &bc.fd, &sfd);
	set_timeouts(r->client, bc.fd);
	set_timeouts(r->server, sfd);
	child = th_fork(bulk_client_main, &bc);
	recv_stream(r->server, sfd, BULK_BYTES, 1);
	send_stream(r->server, sfd, BULK_BYTES, 2);
	CHECK_OK(r->server->shutdown(sfd, SHUT_WR));
	CHECK_EQ(th_join(child), 0);
	CHECK_OK(r->client->close(bc.fd));
	CHECK_OK(r->server->close(sfd));
}

/* -- many connections -- */

#define MANY		64
#define MANY_MSG	1000

/* @MANY connections open at once; each carries a message naming it,
 * which the server reads and echoes. */
static void
tcp_many(struct run *r)
{
	const struct side *c = r->client, *s = r->server;
	int cfd[MANY], sfd[MANY];
	unsigned char msg[4 + MANY_MSG], got[4 + MANY_MSG];
	uint16_t port;
	int lfd = listener(s, r->family, &port);

	for (int i = 0; i < MANY; i++)
		cfd[i] = connect_to(r, port);
	for (int i = 0; i < MANY; i++) {
		sfd[i] = CHECK_OK(s->accept(lfd, NULL, NULL));
		set_timeouts(s, sfd[i]);
		set_timeouts(c, cfd[i]);
	}
	CHECK_OK(s->close(lfd));
	for (int i = 0; i < MANY; i++) {
		memcpy(msg, &i, 4);
		for (int k = 0; k < MANY_MSG; k++)
			msg[4 + k] = pattern((size_t)k, (unsigned)i);
		CHECK_EQ(c->send(cfd[i], msg, sizeof(msg), MSG_NOSIGNAL),
			 sizeof(msg));
	}
	/* Accepted in whatever order: each says which it is. */
	for (int i = 0; i < MANY; i++) {
		int id;

		CHECK_EQ(s->recv(sfd[i], got, sizeof(got), MSG_WAITALL),
			 sizeof(got));
		memcpy(&id, got, 4);
		CHECK(id >= 0 && id < MANY);
		for (int k = 0; k < MANY_MSG; k++)
			if (got[4 + k] != pattern((size_t)k, (unsigned)id)) {
				th_fail(__FILE__, __LINE__, "connection %d", id);
				break;
			}
		CHECK_EQ(s->send(sfd[i], got, sizeof(got), MSG_NOSIGNAL),
			 sizeof(got));
	}
	for (int i = 0; i < MANY; i++) {
		CHECK_EQ(c->recv(cfd[i], got, sizeof(got), MSG_WAITALL),
			 sizeof(got));
		memcpy(&msg, &i, 4);
		CHECK_MEM(got, msg, 4);
	}
	for (int i = 0; i < MANY; i++) {
		CHECK_OK(c->close(cfd[i]));
		CHECK_OK(s->close(sfd[i]));
	}
}

/* -- concurrent connections -- */

#define PAR_CLIENTS	8
#define PAR_ROUNDS	8
#define PAR_BYTES	10000

struct par_client {
	const struct run *r;
	uint16_t port;
	unsigned id;
};

/* One client process: connections one after another, each sending a
 * message of its own and reading it back. */
static int
par_client_main(void *arg)
{
	struct par_client *pc = arg;
	const struct side *c = pc->r->client;
	unsigned char out[PAR_BYTES], in[PAR_BYTES];

	for (unsigned k = 0; k < PAR_ROUNDS; k++) {
		unsigned seed = pc->id * PAR_ROUNDS + k;
		int fd = connect_to(pc->r, pc->port);

		set_timeouts(c, fd);
		for (size_t i = 0; i < PAR_BYTES; i++)
			out[i] = pattern(i, seed);
		CHECK_EQ(c->send(fd, out, PAR_BYTES, MSG_NOSIGNAL), PAR_BYTES);
		CHECK_EQ(c->recv(fd, in, PAR_BYTES, MSG_WAITALL), PAR_BYTES);
		CHECK_MEM(in, out, PAR_BYTES);
		CHECK_EQ(c->recv(fd, in, 1, 0), 0);
		CHECK_OK(c->close(fd));
	}
	return th_failures();
}

/* Several client processes connect at once while the server echoes
 * each connection and closes it: the stack serves socket calls from
 * many threads and frames from the reader at the same time. */
static void
tcp_parallel(struct run *r)
{
	const struct side *s = r->server;
	struct par_client pc[PAR_CLIENTS];
	struct th_child *child[PAR_CLIENTS];
	unsigned char buf[PAR_BYTES];
	uint16_t port;
	int lfd = listener(s, r->family, &port);

	for (unsigned i = 0; i < PAR_CLIENTS; i++) {
		pc[i] = (struct par_client){ r, port, i };
		child[i] = th_fork(par_client_main, &pc[i]);
	}
	for (int n = 0; n < PAR_CLIENTS * PAR_ROUNDS; n++) {
		int fd = CHECK_OK(s->accept(lfd, NULL, NULL));

		if (fd < 0)
			break;
		set_timeouts(s, fd);
		CHECK_EQ(s->recv(fd, buf, PAR_BYTES, MSG_WAITALL), PAR_BYTES);
		CHECK_EQ(s->send(fd, buf, PAR_BYTES, MSG_NOSIGNAL), PAR_BYTES);
		CHECK_OK(s->close(fd));
	}
	for (unsigned i = 0; i < PAR_CLIENTS; i++)
		CHECK_EQ(th_join(child[i]), 0);
	CHECK_OK(s->close(lfd));
}

/* -- refused, reset, unreachable -- */

/* A port on the server's side that nobody listens on: bound, then
 * closed again. */
static uint16_t
free_port(const struct side *s, int family)
{
	uint16_t port;
	int fd = bound_socket(s, family, SOCK_STREAM, &port);

	CHECK_OK(s->close(fd));
	return port;
}

/* Connecting to a closed port is refused by a reset. */
static void
tcp_refused(struct run *r)
{
	uint16_t port = free_port(r->server, r->family);
	struct addr a = addr_of(r->family, side_addr(r->server, r->family),
				port);
	int fd = CHECK_OK(r->client->socket(r->family, SOCK_STREAM, 0));

	CHECK_ERR(r->client->connect(fd, (struct sockaddr *)&a.ss, a.len),
		  ECONNREFUSED);
	CHECK_OK(r->client->close(fd));
}

/* SO_LINGER 0 on the server resets the connection: the client reads
 * ECONNRESET once, then end of file. */
static void
tcp_reset(struct run *r)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	char buf[16];
	int cfd, sfd;

	tcp_pair(r, &cfd, &sfd);
	set_timeouts(r->client, cfd);
	CHECK_EQ(r->client->send(cfd, "x", 1, MSG_NOSIGNAL), 1);
	CHECK_EQ(r->server->recv(sfd, buf, sizeof(buf), 0), 1);
	CHECK_OK(r->server->setsockopt(sfd, SOL_SOCKET, SO_LINGER, &lg,
				       sizeof(lg)));
	CHECK_OK(r->server->close(sfd));
	CHECK_ERR(r->client->recv(cfd, buf, sizeof(buf), 0), ECONNRESET);
	CHECK_EQ(r->client->recv(cfd, buf, sizeof(buf), 0), 0);
	CHECK_OK(r->client->close(cfd));
}

/* An address on the link that nobody has: the connection stays in
 * progress while the neighbour is looked for (Linux gives up with
 * EHOSTUNREACH after three seconds of unanswered ARP or ND; ksock keeps
 * retrying the SYN: only the common part is asserted, with a bound). */
static void
tcp_unused(struct run *r)
{
	struct addr a = addr_of(r->family, r->family == AF_INET ?
				TN_UNUSED_V4 : TN_UNUSED_V6, 80);
	struct pollfd p;
	int fd = CHECK_OK(r->client->socket(r->family,
					    SOCK_STREAM | SOCK_NONBLOCK, 0));

	CHECK_ERR(r->client->connect(fd, (struct sockaddr *)&a.ss, a.len),
		  EINPROGRESS);
	CHECK_ERR(r->client->connect(fd, (struct sockaddr *)&a.ss, a.len),
		  EALREADY);
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	CHECK_EQ(r->client->poll(&p, 1, 1000), 0);
	CHECK_OK(r->client->close(fd));
}

/* Off the link there is no route, for TCP and UDP alike. */
static void
unreachable(struct run *r)
{
	struct addr a = addr_of(r->family, r->family == AF_INET ?
				TN_OFFLINK_V4 : TN_OFFLINK_V6, 80);
	int fd = CHECK_OK(r->client->socket(r->family, SOCK_STREAM, 0));

	CHECK_ERR(r->client->connect(fd, (struct sockaddr *)&a.ss, a.len),
		  ENETUNREACH);
	CHECK_OK(r->client->close(fd));
	fd = CHECK_OK(r->client->socket(r->family, SOCK_DGRAM, 0));
	CHECK_ERR(r->client->sendto(fd, "x", 1, 0, (struct sockaddr *)&a.ss,
				    a.len), ENETUNREACH);
	CHECK_ERR(r->client->connect(fd, (struct sockaddr *)&a.ss, a.len),
		  ENETUNREACH);
	CHECK_OK(r->client->close(fd));
}

/* -- UDP -- */

/* Datagrams of sizes around the MTU and far beyond it (fragmented and
 * reassembled both ways), each answered; both ends see the other's
 * address as the sender. */
static void
udp_sizes(struct run *r)
{
	static const size_t sizes[] = { 1, 512, 1452, 1453, 1472, 1473, 3000,
					8972, 20000, 60000 };
	const struct side *c = r->client, *s = r->server;
	unsigned char *out = malloc(65536), *in = malloc(65536);
	struct sockaddr_storage from;
	socklen_t flen;
	uint16_t sport, cport;
	int sfd = bound_socket(s, r->family, SOCK_DGRAM, &sport);
	int cfd = bound_socket(c, r->family, SOCK_DGRAM, &cport);
	struct addr to = addr_of(r->family, side_addr(s, r->family), sport);

	CHECK(out != NULL && in != NULL);
	set_timeouts(s, sfd);
	set_timeouts(c, cfd);
	for (size_t i = 0; out != NULL && in != NULL &&
			   i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];

		for (size_t k = 0; k < n; k++)
			out[k] = pattern(k, (unsigned)i);
		CHECK_EQ(c->sendto(cfd, out, n, 0, (struct sockaddr *)&to.ss,
				   to.len), n);
		flen = sizeof(from);
		memset(in, 0, n);
		CHECK_EQ(s->recvfrom(sfd, in, 65536, 0,
				     (struct sockaddr *)&from, &flen), n);
		CHECK_MEM(in, out, n);
		check_addr_is(&from, flen, r->family, side_addr(c, r->family));
		CHECK_EQ(port_of(&from), cport);
		/* The answer goes back to the address the datagram came from. */
		out[0] ^= 0xff;
		CHECK_EQ(s->sendto(sfd, out, n, 0, (struct sockaddr *)&from,
				   flen), n);
		flen = sizeof(from);
		CHECK_EQ(c->recvfrom(cfd, in, 65536, 0,
				     (struct sockaddr *)&from, &flen), n);
		CHECK_MEM(in, out, n);
		check_addr_is(&from, flen, r->family, side_addr(s, r->family));
		CHECK_EQ(port_of(&from), sport);
	}
	free(out);
	free(in);
	CHECK_OK(c->close(cfd));
	CHECK_OK(s->close(sfd));
}

/* -- a peer that vanishes -- */

/* Small keepalive timing on @fd (seconds: 1 idle, 1 between probes, 2
 * probes), SO_KEEPALIVE on. */
static void
set_keepalive(const struct side *s, int fd)
{
	int one = 1, two = 2;

	CHECK_OK(s->setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)));
	CHECK_OK(s->setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &one, sizeof(one)));
	CHECK_OK(s->setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &one,
			       sizeof(one)));
	CHECK_OK(s->setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &two, sizeof(two)));
}

/* ksock's link goes away under an idle connection, without a word to
 * the peer: Linux's keepalive probes go unanswered and its read ends
 * with ETIMEDOUT. ksock's end, like Linux's when an interface goes
 * away, is still connected, with nothing to read. */
static void
vanish_ksock(struct run *r)
{
	const struct side *lx = r->client->is_ksock ? r->server : r->client;
	const struct side *ks = r->client->is_ksock ? r->client : r->server;
	int cfd, sfd, lfd, kfd;
	char buf[8];

	tcp_pair(r, &cfd, &sfd);
	lfd = r->client->is_ksock ? sfd : cfd;
	kfd = r->client->is_ksock ? cfd : sfd;
	set_timeouts(lx, lfd);
	set_keepalive(lx, lfd);
	CHECK_OK(ksp_inet_tap_detach());
	r->attached = false;
	CHECK_ERR(ks->recv(kfd, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	CHECK_ERR(lx->recv(lfd, buf, sizeof(buf), 0), ETIMEDOUT);
	CHECK_ERR(ks->recv(kfd, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	CHECK_OK(ks->close(kfd));
	CHECK_OK(lx->close(lfd));
}

/* Linux's end goes away under an idle connection (its address is
 * removed, so what ksock sends there is dropped unanswered): ksock's
 * keepalive probes go unanswered and its read ends with ETIMEDOUT, as
 * Linux's does in vanish_ksock. */
static void
vanish_linux(struct run *r)
{
	const struct side *ks = r->client->is_ksock ? r->client : r->server;
	char cmd[96], buf[8];
	int cfd, sfd, lfd, kfd;

	tcp_pair(r, &cfd, &sfd);
	lfd = r->client->is_ksock ? sfd : cfd;
	kfd = r->client->is_ksock ? cfd : sfd;
	set_timeouts(ks, kfd);
	set_keepalive(ks, kfd);
	snprintf(cmd, sizeof(cmd), "addr del %s/%d dev " TN_IFNAME,
		 side_addr(&linux_side, r->family),
		 r->family == AF_INET ? 24 : 64);
	if (tn_ip(cmd) < 0)
		th_fail(__FILE__, __LINE__, "%s", tn_reason());
	CHECK_ERR(ks->recv(kfd, buf, sizeof(buf), 0), ETIMEDOUT);
	CHECK_OK(ks->close(kfd));
	CHECK_OK(close(lfd));
}
#define CASES_KEEPALIVE(X)	X(vanish_linux)

/* -- the attachment itself (ksock only) -- */

static void
enter_or_skip(void)
{
	if (tn_enter() < 0)
		th_skip(tn_reason());
}

/* Attach, detach and drain refuse what they cannot do, leaving nothing open
 * or allocated (the harness checks both after the test). */
static void
tap_errors(void)
{
	enter_or_skip();
	CHECK_ERR(ksp_inet_tap_detach(), ENODEV);
	CHECK_ERR(ksp_inet_tap_attach("nosuch0", TN_KSOCK_V4, NULL), ENODEV);
	CHECK_ERR(ksp_inet_tap_attach(TN_IFNAME, NULL, NULL), EINVAL);
	CHECK_ERR(ksp_inet_tap_attach(TN_IFNAME, "10.77.0.2", NULL), EINVAL);
	CHECK_ERR(ksp_inet_tap_attach(TN_IFNAME, "10.77.0.2/33", NULL), EINVAL);
	CHECK_ERR(ksp_inet_tap_attach(TN_IFNAME, "10.77.0.x/24", NULL), EINVAL);
	CHECK_ERR(ksp_inet_tap_attach(TN_IFNAME, NULL, "fd77::2/48"), EINVAL);
	CHECK_ERR(ksp_inet_tap_attach(TN_IFNAME, TN_KSOCK_V6, NULL), EINVAL);
	CHECK_ERR(ksp_inet_tap_attach("an-interface-name-too-long", TN_KSOCK_V4,
				      NULL), EINVAL);
	CHECK_ERR(ksp_inet_tap_drain(0), ENODEV);
	CHECK_OK(ksp_inet_tap_attach(TN_IFNAME, TN_KSOCK_V4, TN_KSOCK_V6));
	CHECK_ERR(ksp_inet_tap_attach(TN_IFNAME, TN_KSOCK_V4, NULL), EBUSY);
	/* Nothing in flight: a drain returns at once. */
	CHECK_ERR(ksp_inet_tap_drain(-1), EINVAL);
	CHECK_OK(ksp_inet_tap_drain(0));
	CHECK_OK(ksp_inet_tap_detach());
	CHECK_ERR(ksp_inet_tap_detach(), ENODEV);
	/* Attached again afterwards, with one family only. */
	CHECK_OK(ksp_inet_tap_attach(TN_IFNAME, NULL, TN_KSOCK_V6));
	CHECK_OK(ksp_inet_tap_detach());
}

/* Each allocation attaching makes fails in turn: attach says ENOMEM and
 * leaves nothing behind, until it succeeds; the link then works. */
static void
tap_alloc_failure(void)
{
	long base, n;
	int ok = -1;

	enter_or_skip();
	base = ksp_alloc_outstanding();
	for (n = 1; n < 100 && ok < 0; n++) {
		ksp_alloc_fail_at(n);
		ok = ksp_inet_tap_attach(TN_IFNAME, TN_KSOCK_V4, TN_KSOCK_V6);
		ksp_alloc_fail_at(0);
		if (ok < 0) {
			CHECK_EQ(errno, ENOMEM);
			CHECK_EQ(ksp_alloc_outstanding(), base);
		}
	}
	CHECK_OK(ok);
	CHECK(n > 2);	/* at least one allocation was made to fail */
	if (ok == 0) {
		struct run r = { &ksock_side, &linux_side, AF_INET, true };

		tcp_hello(&r);
		CHECK_OK(ksp_inet_tap_detach());
	}
	CHECK_EQ(ksp_alloc_outstanding(), base);
}

/* Detaching while a connection on the link is open leaves it open, as
 * Linux does when an interface goes away: nothing arrives, what is sent
 * is lost, and closing it is what finally stops the stack. */
static void
tap_detach_busy(void)
{
	struct run r = { &ksock_side, &linux_side, AF_INET, true };
	int cfd, sfd;
	char c;

	enter_or_skip();
	CHECK_OK(ksp_inet_tap_attach(TN_IFNAME, TN_KSOCK_V4, TN_KSOCK_V6));
	tcp_pair(&r, &cfd, &sfd);
	CHECK_OK(ksp_inet_tap_detach());
	CHECK_ERR(ksp_recv(cfd, &c, 1, MSG_DONTWAIT), EAGAIN);
	CHECK_EQ(ksp_send(cfd, "x", 1, MSG_NOSIGNAL), 1);
	CHECK_ERR(recv(sfd, &c, 1, MSG_DONTWAIT), EAGAIN);
	CHECK_OK(ksp_close(cfd));
	CHECK_OK(close(sfd));
}

/* A connection outlives a detach and goes on once the link is attached
 * again with the same address, as one on Linux does when an address is
 * removed and added back. */
static void
tap_reattach(void)
{
	struct run r = { &ksock_side, &linux_side, AF_INET, true };
	int cfd, sfd;
	char buf[8];

	enter_or_skip();
	CHECK_OK(ksp_inet_tap_attach(TN_IFNAME, TN_KSOCK_V4, TN_KSOCK_V6));
	tcp_pair(&r, &cfd, &sfd);
	set_timeouts(&ksock_side, cfd);
	set_timeouts(&linux_side, sfd);
	CHECK_OK(ksp_inet_tap_detach());
	CHECK_OK(ksp_inet_tap_attach(TN_IFNAME, TN_KSOCK_V4, TN_KSOCK_V6));
	CHECK_EQ(ksp_send(cfd, "again", 5, MSG_NOSIGNAL), 5);
	CHECK_EQ(recv(sfd, buf, sizeof(buf), 0), 5);
	CHECK_MEM(buf, "again", 5);
	CHECK_EQ(send(sfd, "back", 4, MSG_NOSIGNAL), 4);
	CHECK_EQ(ksp_recv(cfd, buf, sizeof(buf), 0), 4);
	CHECK_MEM(buf, "back", 4);
	CHECK_OK(ksp_close(cfd));
	CHECK_OK(close(sfd));
	CHECK_OK(ksp_inet_tap_detach());
}

/* CPU time this process has used, in milliseconds. */
static long long
cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The TAP device is deleted under an attached link: the socket on it
 * no longer hears from its peer, the reader does not spin on the dead
 * descriptor (the process stays nearly idle while it waits), and
 * detaching still ends everything. */
static void
tap_device_deleted(void)
{
	struct run r = { &ksock_side, &linux_side, AF_INET, true };
	long long cpu;
	int cfd, sfd;
	char c;

	enter_or_skip();
	CHECK_OK(ksp_inet_tap_attach(TN_IFNAME, TN_KSOCK_V4, TN_KSOCK_V6));
	tcp_pair(&r, &cfd, &sfd);
	if (tn_ip("link del " TN_IFNAME) < 0)
		th_fail(__FILE__, __LINE__, "%s", tn_reason());
	CHECK_OK(close(sfd));
	cpu = cpu_ms();
	th_sleep_ms(1000);
	CHECK(cpu_ms() - cpu < 500);
	CHECK_ERR(ksp_recv(cfd, &c, 1, MSG_DONTWAIT), EAGAIN);
	CHECK_OK(ksp_inet_tap_detach());
	CHECK_OK(ksp_close(cfd));
}

/* A process forked while the link is attached does not inherit it: the
 * child has no link to detach, and its exit (closing its copies of the
 * descriptors) leaves the parent's link working. */
static void
tap_fork_child(void)
{
	struct run r = { &ksock_side, &linux_side, AF_INET, true };
	int status = -1;
	pid_t pid;

	enter_or_skip();
	CHECK_OK(ksp_inet_tap_attach(TN_IFNAME, TN_KSOCK_V4, TN_KSOCK_V6));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0)
		_exit(ksp_inet_tap_detach() == -1 && errno == ENODEV ? 0 : 1);
	CHECK(pid > 0);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	tcp_hello(&r);
	CHECK_OK(ksp_inet_tap_detach());
}

/* -- the table -- */

#define CASES(X)	\
	X(tcp_hello)	\
	X(bind_addrs)	\
	X(tcp_mapped)	\
	X(tcp_bulk)	\
	X(tcp_many)	\
	X(tcp_parallel)	\
	X(tcp_refused)	\
	X(tcp_reset)	\
	X(tcp_unused)	\
	X(unreachable)	\
	X(udp_sizes)	\
	X(vanish_ksock)	\
	CASES_KEEPALIVE(X)

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
	{ "tap_errors", tap_errors },
	{ "tap_alloc_failure", tap_alloc_failure },
	{ "tap_detach_busy", tap_detach_busy },
	{ "tap_reattach", tap_reattach },
	{ "tap_device_deleted", tap_device_deleted },
	{ "tap_fork_child", tap_fork_child },
	CASES(ENTRY)
};

TH_MAIN(tests)

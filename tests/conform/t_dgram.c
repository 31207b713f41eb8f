/*
 * SOCK_DGRAM: addressed sends and the sender's name, 0-byte datagrams,
 * truncation, the SO_SNDBUF - 32 size limit, connect and disconnect with
 * every error a connected or closed peer produces, and flow control
 * (a receiver not connected back takes max_dgram_qlen + 1 datagrams).
 *
 * Names are abstract (th_unique) except where a path is the point.
 */
#include <pthread.h>

#include "harness.h"

#define QLEN_ACCEPTED	11	/* net.unix.max_dgram_qlen (10) + 1 */

/* -- helpers -- */

struct named {
	int			fd;
	struct sockaddr_un	addr;
	socklen_t		len;
};

/* A dgram socket bound to the abstract name th_unique() + @tag. */
static void
named_socket(struct named *n, const char *tag)
{
	char name[96];

	snprintf(name, sizeof(name), "%s-%s", th_unique(), tag);
	n->len = th_addr_abstract(&n->addr, name, strlen(name));
	n->fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(bind(n->fd, (struct sockaddr *)&n->addr, n->len));
}

static struct sockaddr *
sa(struct named *n)
{
	return (struct sockaddr *)&n->addr;
}

static void
close_pair(int sv[2])
{
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

static int
inq(int fd)
{
	int n = -1;

	CHECK_OK(ioctl(fd, FIONREAD, &n));
	return n;
}

/* Sends 1-byte datagrams with MSG_DONTWAIT (to @to unless NULL) until
 * EAGAIN; returns how many went. */
static int
fill(int fd, struct named *to)
{
	int count = 0;
	ssize_t n;

	for (;;) {
		if (to != NULL)
			n = sendto(fd, "d", 1, MSG_DONTWAIT, sa(to), to->len);
		else
			n = send(fd, "d", 1, MSG_DONTWAIT);
		if (n != 1)
			break;
		count++;
	}
	CHECK_EQ(n, -1);
	CHECK_EQ(errno, EAGAIN);
	return count;
}

static bool
readable_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/* A child that sleeps @ms, then sends one datagram on @fd (to @to if not
 * NULL) and writes one byte to @done. */
struct job {
	int		 fd;
	int		 ms;
	struct named	*to;
	int		 done;
};

static int
send_job(void *p)
{
	const struct job *j = p;

	th_sleep_ms(j->ms);
	if (j->to != NULL)
		CHECK_EQ(sendto(j->fd, "late", 4, 0, sa(j->to), j->to->len), 4);
	else
		CHECK_EQ(send(j->fd, "late", 4, 0), 4);
	if (j->done >= 0)
		CHECK_EQ(write(j->done, "x", 1), 1);
	return th_failures();
}

/* A child that sleeps @ms, then receives one datagram on @fd. */
static int
recv_job(void *p)
{
	const struct job *j = p;
	char buf[8];

	th_sleep_ms(j->ms);
	CHECK(recv(j->fd, buf, sizeof(buf), 0) >= 0);
	return th_failures();
}

/* -- addresses -- */

/* recvfrom reports a path-bound sender's name with length
 * offsetof(sun_path) + strlen + 1. */
static void
dgram_sendto_path(void)
{
	struct sockaddr_un ra, sa_, from;
	socklen_t rlen = th_addr_path(&ra, "recv.sock");
	socklen_t slen = th_addr_path(&sa_, "send.sock");
	socklen_t flen = sizeof(from);
	int r, s;
	char buf[8];

	r = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(bind(r, (struct sockaddr *)&ra, rlen));
	CHECK_OK(bind(s, (struct sockaddr *)&sa_, slen));
	CHECK_EQ(sendto(s, "path", 4, 0, (struct sockaddr *)&ra, rlen), 4);
	memset(&from, 0, sizeof(from));
	CHECK_EQ(recvfrom(r, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			  &flen), 4);
	CHECK_MEM(buf, "path", 4);
	CHECK_EQ(flen, offsetof(struct sockaddr_un, sun_path) + 10);
	CHECK_EQ(from.sun_family, AF_UNIX);
	CHECK(strcmp(from.sun_path, "send.sock") == 0);
	CHECK_OK(close(r));
	CHECK_OK(close(s));
	CHECK_OK(unlink("recv.sock"));
	CHECK_OK(unlink("send.sock"));
}

/* recvfrom reports an abstract sender's name with its exact length. */
static void
dgram_sendto_abstract(void)
{
	struct named r, s;
	struct sockaddr_un from;
	socklen_t flen = sizeof(from);
	char buf[8];

	named_socket(&r, "r");
	named_socket(&s, "s");
	CHECK_EQ(sendto(s.fd, "abs", 3, 0, sa(&r), r.len), 3);
	memset(&from, 0, sizeof(from));
	CHECK_EQ(recvfrom(r.fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			  &flen), 3);
	CHECK_EQ(flen, s.len);
	CHECK_MEM(&from, &s.addr, s.len);
	CHECK_OK(close(r.fd));
	CHECK_OK(close(s.fd));
}

/* An unbound sender stays unbound: recvfrom reports address length 0. */
static void
dgram_unbound_sender(void)
{
	struct named r;
	struct sockaddr_un from, me;
	socklen_t flen = sizeof(from), mlen = sizeof(me);
	int s;
	char buf[8];

	named_socket(&r, "r");
	s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_EQ(sendto(s, "anon", 4, 0, sa(&r), r.len), 4);
	CHECK_EQ(recvfrom(r.fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			  &flen), 4);
	CHECK_EQ(flen, 0);
	CHECK_OK(getsockname(s, (struct sockaddr *)&me, &mlen));
	CHECK_EQ(mlen, sizeof(sa_family_t));
	CHECK_OK(close(r.fd));
	CHECK_OK(close(s));
}

/* sendmsg takes the destination in msg_name and recvmsg returns the
 * sender's name in it. */
static void
dgram_sendmsg_recvmsg_names(void)
{
	struct named r, s;
	struct sockaddr_un from;
	char buf[8];
	struct iovec ov = { "msg", 3 }, iv = { buf, sizeof(buf) };
	struct msghdr om = { .msg_iov = &ov, .msg_iovlen = 1 };
	struct msghdr im = {
		.msg_name = &from, .msg_namelen = sizeof(from),
		.msg_iov = &iv, .msg_iovlen = 1, .msg_flags = -1,
	};

	named_socket(&r, "r");
	named_socket(&s, "s");
	om.msg_name = sa(&r);
	om.msg_namelen = r.len;
	CHECK_EQ(sendmsg(s.fd, &om, 0), 3);
	CHECK_EQ(recvmsg(r.fd, &im, 0), 3);
	CHECK_EQ(im.msg_namelen, s.len);
	CHECK_MEM(&from, &s.addr, s.len);
	CHECK_EQ(im.msg_flags, 0);
	CHECK_OK(close(r.fd));
	CHECK_OK(close(s.fd));
}

/* -- datagrams -- */

/* Each datagram is received whole and alone. */
static void
dgram_boundaries(void)
{
	int sv[2];
	char buf[16];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_EQ(send(sv[0], "one", 3, 0), 3);
	CHECK_EQ(write(sv[0], "three", 5), 5);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 3);
	CHECK_EQ(read(sv[1], buf, sizeof(buf)), 5);
	CHECK_MEM(buf, "three", 5);
	CHECK_ERR(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	close_pair(sv);
}

/* A 0-byte datagram is queued, polls readable and reads as 0 with the
 * sender's name. */
static void
dgram_zero_length(void)
{
	struct named r, s;
	struct sockaddr_un from;
	socklen_t flen = sizeof(from);
	struct pollfd p;
	char buf[4];

	named_socket(&r, "r");
	named_socket(&s, "s");
	CHECK_EQ(sendto(s.fd, "", 0, 0, sa(&r), r.len), 0);
	CHECK_EQ(inq(r.fd), 0);
	p = (struct pollfd){ .fd = r.fd, .events = POLLIN };
	CHECK_EQ(poll(&p, 1, 0), 1);
	CHECK_EQ(recvfrom(r.fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			  &flen), 0);
	CHECK_EQ(flen, s.len);
	CHECK_ERR(recv(r.fd, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	CHECK_OK(close(r.fd));
	CHECK_OK(close(s.fd));
}

/* A short buffer gets the start with MSG_TRUNC in msg_flags; the rest is
 * discarded. */
static void
dgram_truncation(void)
{
	int sv[2];
	char buf[16];
	struct iovec iv = { buf, 4 };
	struct msghdr m = { .msg_iov = &iv, .msg_iovlen = 1, .msg_flags = -1 };

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_EQ(send(sv[0], "0123456789", 10, 0), 10);
	CHECK_EQ(recvmsg(sv[1], &m, 0), 4);
	CHECK_MEM(buf, "0123", 4);
	CHECK_EQ(m.msg_flags, MSG_TRUNC);
	CHECK_ERR(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	close_pair(sv);
}

/* The MSG_TRUNC recv flag returns the datagram's real length. */
static void
dgram_trunc_flag_real_length(void)
{
	int sv[2];
	char buf[16];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_EQ(send(sv[0], "0123456789", 10, 0), 10);
	CHECK_EQ(recv(sv[1], buf, 4, MSG_TRUNC), 10);
	CHECK_MEM(buf, "0123", 4);
	CHECK_EQ(send(sv[0], "0123456789", 10, 0), 10);
	CHECK_EQ(recv(sv[1], NULL, 0, MSG_TRUNC), 10);
	close_pair(sv);
}

/* MSG_PEEK returns the first datagram and its sender and keeps it. */
static void
dgram_peek(void)
{
	struct named r, s;
	struct sockaddr_un from;
	socklen_t flen = sizeof(from);
	char buf[8];

	named_socket(&r, "r");
	named_socket(&s, "s");
	CHECK_EQ(sendto(s.fd, "first", 5, 0, sa(&r), r.len), 5);
	CHECK_EQ(sendto(s.fd, "2nd", 3, 0, sa(&r), r.len), 3);
	CHECK_EQ(recvfrom(r.fd, buf, sizeof(buf), MSG_PEEK,
			  (struct sockaddr *)&from, &flen), 5);
	CHECK_EQ(flen, s.len);
	CHECK_EQ(recv(r.fd, buf, 2, MSG_PEEK), 2);
	CHECK_EQ(recv(r.fd, buf, sizeof(buf), 0), 5);
	CHECK_MEM(buf, "first", 5);
	CHECK_EQ(recv(r.fd, buf, sizeof(buf), 0), 3);
	CHECK_OK(close(r.fd));
	CHECK_OK(close(s.fd));
}

/* FIONREAD is the size of the first queued datagram, not the total. */
static void
dgram_fionread_first(void)
{
	int sv[2];
	char buf[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_EQ(inq(sv[1]), 0);
	CHECK_EQ(send(sv[0], "abc", 3, 0), 3);
	CHECK_EQ(send(sv[0], "defghij", 7, 0), 7);
	CHECK_EQ(inq(sv[1]), 3);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 3);
	CHECK_EQ(inq(sv[1]), 7);
	close_pair(sv);
}

/* The largest datagram is SO_SNDBUF - 32 bytes (EMSGSIZE beyond), with
 * the default buffer. */
static void
dgram_emsgsize_default(void)
{
	int sv[2], sndbuf = 0;
	socklen_t len = sizeof(sndbuf);
	char *buf;

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_OK(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, &len));
	buf = calloc(1, (size_t)sndbuf);
	CHECK_ERR(send(sv[0], buf, (size_t)sndbuf - 31, 0), EMSGSIZE);
	CHECK_EQ(send(sv[0], buf, (size_t)sndbuf - 32, 0), sndbuf - 32);
	CHECK_EQ(recv(sv[1], buf, (size_t)sndbuf, 0), sndbuf - 32);
	free(buf);
	close_pair(sv);
}

/* A large datagram costs its sender (SIOCOUTQ) what Linux's sk_buff
 * costs: a head of at most 16064 bytes (SKB_MAX_ALLOC, four pages less
 * the shared info) rounded up to its slab, plus whole pages for the
 * rest, at most 17 of them. */
static void
dgram_siocoutq_large(void)
{
	static const struct {
		size_t	len;
		int	outq;
	} cases[] = {
		{ 16000, 16640 },	/* head only */
		{ 17000, 20736 },	/* 16384 slab + 1 page */
		{ 29000, 33024 },	/* 16384 slab + 4 pages */
		{ 90000, 102656 },	/* 32768 slab + 17 pages */
	};
	static char buf[100000];
	static const int types[] = { SOCK_DGRAM, SOCK_SEQPACKET };

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			int sv[2], outq = -1;

			CHECK_OK(socketpair(AF_UNIX, types[t], 0, sv));
			CHECK_EQ(send(sv[0], buf, cases[i].len, 0),
				 (long)cases[i].len);
			CHECK_OK(ioctl(sv[0], SIOCOUTQ, &outq));
			CHECK_EQ(outq, cases[i].outq);
			close_pair(sv);
		}
	}
}

/* Setting SO_SNDBUF moves the limit: with 8192 requested (16384 stored)
 * 16352 bytes go and 16353 fail with EMSGSIZE. */
static void
dgram_emsgsize_follows_sndbuf(void)
{
	struct named r;
	int s, req = 8192, sndbuf = 0;
	socklen_t len = sizeof(sndbuf);
	static char buf[20000];

	named_socket(&r, "r");
	s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(setsockopt(s, SOL_SOCKET, SO_SNDBUF, &req, sizeof(req)));
	CHECK_OK(getsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len));
	CHECK_EQ(sndbuf, 16384);
	CHECK_ERR(sendto(s, buf, 16353, 0, sa(&r), r.len), EMSGSIZE);
	CHECK_EQ(sendto(s, buf, 16352, 0, sa(&r), r.len), 16352);
	CHECK_EQ(recv(r.fd, buf, sizeof(buf), 0), 16352);
	CHECK_OK(close(s));
	CHECK_OK(close(r.fd));
}

/* -- connect -- */

/* connect sets the default peer: send, write and getpeername use it, and
 * the receiver sees the sender's name. */
static void
dgram_connect_default_peer(void)
{
	struct named r, s;
	struct sockaddr_un from, peer;
	socklen_t flen = sizeof(from), plen = sizeof(peer);
	char buf[8];

	named_socket(&r, "r");
	named_socket(&s, "s");
	CHECK_OK(connect(s.fd, sa(&r), r.len));
	CHECK_OK(getpeername(s.fd, (struct sockaddr *)&peer, &plen));
	CHECK_EQ(plen, r.len);
	CHECK_MEM(&peer, &r.addr, r.len);
	CHECK_EQ(send(s.fd, "a", 1, 0), 1);
	CHECK_EQ(write(s.fd, "bc", 2), 2);
	CHECK_EQ(recvfrom(r.fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			  &flen), 1);
	CHECK_EQ(flen, s.len);
	CHECK_EQ(recv(r.fd, buf, sizeof(buf), 0), 2);
	CHECK_OK(close(r.fd));
	CHECK_OK(close(s.fd));
}

/* sendto with an address overrides the connected peer. */
static void
dgram_sendto_overrides_peer(void)
{
	struct named a, b, s;
	char buf[8];

	named_socket(&a, "a");
	named_socket(&b, "b");
	named_socket(&s, "s");
	CHECK_OK(connect(s.fd, sa(&a), a.len));
	CHECK_EQ(sendto(s.fd, "tob", 3, 0, sa(&b), b.len), 3);
	CHECK_EQ(recv(b.fd, buf, sizeof(buf), MSG_DONTWAIT), 3);
	CHECK_ERR(recv(a.fd, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	CHECK_EQ(send(s.fd, "toa", 3, 0), 3);
	CHECK_EQ(recv(a.fd, buf, sizeof(buf), MSG_DONTWAIT), 3);
	CHECK_OK(close(a.fd));
	CHECK_OK(close(b.fd));
	CHECK_OK(close(s.fd));
}

/* A connected socket receives only from its peer: anyone else's sendto
 * fails with EPERM. */
static void
dgram_eperm_third_party(void)
{
	struct named a, b, c;
	char buf[8];

	named_socket(&a, "a");
	named_socket(&b, "b");
	named_socket(&c, "c");
	CHECK_OK(connect(b.fd, sa(&c), c.len));
	CHECK_ERR(sendto(a.fd, "x", 1, 0, sa(&b), b.len), EPERM);
	CHECK_EQ(sendto(c.fd, "y", 1, 0, sa(&b), b.len), 1);
	CHECK_EQ(recv(b.fd, buf, sizeof(buf), MSG_DONTWAIT), 1);
	CHECK_EQ(buf[0], 'y');
	CHECK_OK(close(a.fd));
	CHECK_OK(close(b.fd));
	CHECK_OK(close(c.fd));
}

/* Connecting to a different peer purges everything queued for us;
 * reconnecting to the same peer does not. */
static void
dgram_reconnect_purges_queue(void)
{
	struct named a, b, c;
	char buf[8];

	named_socket(&a, "a");
	named_socket(&b, "b");
	named_socket(&c, "c");
	CHECK_OK(connect(a.fd, sa(&b), b.len));
	CHECK_EQ(sendto(b.fd, "1", 1, 0, sa(&a), a.len), 1);
	CHECK_OK(connect(a.fd, sa(&b), b.len));
	CHECK_EQ(inq(a.fd), 1);
	CHECK_EQ(sendto(b.fd, "2", 1, 0, sa(&a), a.len), 1);
	CHECK_OK(connect(a.fd, sa(&c), c.len));
	CHECK_ERR(recv(a.fd, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	CHECK_OK(close(a.fd));
	CHECK_OK(close(b.fd));
	CHECK_OK(close(c.fd));
}

/* An old peer connected back to us gets ECONNRESET when we connect
 * elsewhere with its datagrams unread, and its sends then fail with EPERM. */
static void
dgram_reconnect_resets_old_peer(void)
{
	struct named a, b, c;
	int err = -1;
	socklen_t len = sizeof(err);
	char buf[8];

	named_socket(&a, "a");
	named_socket(&b, "b");
	named_socket(&c, "c");
	CHECK_OK(connect(a.fd, sa(&b), b.len));
	CHECK_OK(connect(b.fd, sa(&a), a.len));
	CHECK_EQ(send(b.fd, "unread", 6, 0), 6);
	CHECK_OK(connect(a.fd, sa(&c), c.len));
	CHECK_ERR(recv(b.fd, buf, sizeof(buf), MSG_DONTWAIT), ECONNRESET);
	CHECK_OK(getsockopt(b.fd, SOL_SOCKET, SO_ERROR, &err, &len));
	CHECK_EQ(err, 0);
	CHECK_ERR(send(b.fd, "x", 1, 0), EPERM);
	CHECK_OK(close(a.fd));
	CHECK_OK(close(b.fd));
	CHECK_OK(close(c.fd));
}

/* No ECONNRESET for the old peer if nothing was queued from it. */
static void
dgram_reconnect_empty_no_reset(void)
{
	struct named a, b, c;
	int err = -1;
	socklen_t len = sizeof(err);

	named_socket(&a, "a");
	named_socket(&b, "b");
	named_socket(&c, "c");
	CHECK_OK(connect(a.fd, sa(&b), b.len));
	CHECK_OK(connect(b.fd, sa(&a), a.len));
	CHECK_OK(connect(a.fd, sa(&c), c.len));
	CHECK_OK(getsockopt(b.fd, SOL_SOCKET, SO_ERROR, &err, &len));
	CHECK_EQ(err, 0);
	CHECK_OK(close(a.fd));
	CHECK_OK(close(b.fd));
	CHECK_OK(close(c.fd));
}

/* connect with AF_UNSPEC dissolves the association: getpeername and send
 * fail with ENOTCONN, and other senders are accepted again. */
static void
dgram_unspec_disconnect(void)
{
	struct named a, b, c;
	struct sockaddr un = { .sa_family = AF_UNSPEC };
	struct sockaddr_un peer;
	socklen_t plen = sizeof(peer);
	char buf[8];

	named_socket(&a, "a");
	named_socket(&b, "b");
	named_socket(&c, "c");
	CHECK_OK(connect(a.fd, sa(&b), b.len));
	CHECK_ERR(sendto(c.fd, "x", 1, 0, sa(&a), a.len), EPERM);
	CHECK_OK(connect(a.fd, &un, sizeof(un)));
	CHECK_ERR(getpeername(a.fd, (struct sockaddr *)&peer, &plen), ENOTCONN);
	CHECK_ERR(send(a.fd, "x", 1, 0), ENOTCONN);
	CHECK_EQ(sendto(c.fd, "y", 1, 0, sa(&a), a.len), 1);
	CHECK_EQ(recv(a.fd, buf, sizeof(buf), MSG_DONTWAIT), 1);
	CHECK_OK(close(a.fd));
	CHECK_OK(close(b.fd));
	CHECK_OK(close(c.fd));
}

/* An AF_UNSPEC disconnect also purges the receive queue. */
static void
dgram_unspec_purges_queue(void)
{
	struct named a, b;
	struct sockaddr un = { .sa_family = AF_UNSPEC };
	char buf[8];

	named_socket(&a, "a");
	named_socket(&b, "b");
	CHECK_OK(connect(a.fd, sa(&b), b.len));
	CHECK_EQ(sendto(b.fd, "q", 1, 0, sa(&a), a.len), 1);
	CHECK_OK(connect(a.fd, &un, sizeof(un)));
	CHECK_ERR(recv(a.fd, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	CHECK_OK(close(a.fd));
	CHECK_OK(close(b.fd));
}

/* When the connected peer closes, the first send fails with ECONNREFUSED
 * and drops the association; later sends fail with ENOTCONN. */
static void
dgram_peer_closed_refused_then_notconn(void)
{
	struct named a, b;
	struct sockaddr_un peer;
	socklen_t plen = sizeof(peer);

	named_socket(&a, "a");
	named_socket(&b, "b");
	CHECK_OK(connect(a.fd, sa(&b), b.len));
	CHECK_OK(close(b.fd));
	CHECK_ERR(send(a.fd, "x", 1, 0), ECONNREFUSED);
	CHECK_ERR(send(a.fd, "x", 1, 0), ENOTCONN);
	CHECK_ERR(getpeername(a.fd, (struct sockaddr *)&peer, &plen), ENOTCONN);
	CHECK_OK(close(a.fd));
}

/* The same holds for a datagram socketpair whose other end closed. */
static void
dgram_pair_closed_refused_then_notconn(void)
{
	int sv[2];
	char buf[4];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_OK(close(sv[1]));
	CHECK_ERR(write(sv[0], "x", 1), ECONNREFUSED);
	CHECK_ERR(write(sv[0], "x", 1), ENOTCONN);
	CHECK_ERR(recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	CHECK_OK(close(sv[0]));
}

/* sendto a path whose socket has closed fails with ECONNREFUSED; a
 * missing path with ENOENT. */
static void
dgram_sendto_stale_path(void)
{
	struct sockaddr_un ra;
	socklen_t rlen = th_addr_path(&ra, "stale.sock");
	struct sockaddr_un na;
	socklen_t nlen = th_addr_path(&na, "missing.sock");
	int r, s;

	r = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(bind(r, (struct sockaddr *)&ra, rlen));
	CHECK_OK(close(r));
	s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_ERR(sendto(s, "x", 1, 0, (struct sockaddr *)&ra, rlen),
		  ECONNREFUSED);
	CHECK_ERR(sendto(s, "x", 1, 0, (struct sockaddr *)&na, nlen), ENOENT);
	CHECK_OK(close(s));
	CHECK_OK(unlink("stale.sock"));
}

/* sendto an abstract name nobody holds fails with ECONNREFUSED; so does
 * one held only by a stream socket. */
static void
dgram_sendto_unbound_abstract(void)
{
	struct sockaddr_un a;
	socklen_t alen = th_addr_abstract(&a, th_unique(), strlen(th_unique()));
	int s, st;

	s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_ERR(sendto(s, "x", 1, 0, (struct sockaddr *)&a, alen),
		  ECONNREFUSED);
	st = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(st, (struct sockaddr *)&a, alen));
	CHECK_ERR(sendto(s, "x", 1, 0, (struct sockaddr *)&a, alen),
		  ECONNREFUSED);
	CHECK_OK(close(st));
	CHECK_OK(close(s));
}

/* send without an address on an unconnected socket fails with ENOTCONN. */
static void
dgram_send_unconnected(void)
{
	int s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	struct iovec iv = { "x", 1 };
	struct msghdr m = { .msg_iov = &iv, .msg_iovlen = 1 };

	CHECK_ERR(send(s, "x", 1, 0), ENOTCONN);
	CHECK_ERR(write(s, "x", 1), ENOTCONN);
	CHECK_ERR(sendmsg(s, &m, 0), ENOTCONN);
	CHECK_OK(close(s));
}

/* -- flow control -- */

/* A receiver not connected back to the sender queues max_dgram_qlen + 1
 * datagrams, then the sender gets EAGAIN, whatever its buffer space. */
static void
dgram_nonmutual_queue_limit(void)
{
	struct named r;
	int s;
	char buf[4];

	named_socket(&r, "r");
	s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_EQ(fill(s, &r), QLEN_ACCEPTED);
	CHECK_ERR(sendto(s, "x", 1, MSG_DONTWAIT, sa(&r), r.len), EAGAIN);
	CHECK_EQ(recv(r.fd, buf, sizeof(buf), 0), 1);
	CHECK_EQ(sendto(s, "x", 1, MSG_DONTWAIT, sa(&r), r.len), 1);
	CHECK_ERR(sendto(s, "x", 1, MSG_DONTWAIT, sa(&r), r.len), EAGAIN);
	CHECK_OK(close(s));
	CHECK_OK(close(r.fd));
}

/* The same limit applies to a sender connected to a receiver that is not
 * connected back, and it is shared by all senders. */
static void
dgram_nonmutual_connected_limit(void)
{
	struct named r;
	int s1, s2;

	named_socket(&r, "r");
	s1 = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	s2 = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(connect(s1, sa(&r), r.len));
	for (int i = 0; i < 6; i++)
		CHECK_EQ(send(s1, "x", 1, MSG_DONTWAIT), 1);
	CHECK_EQ(fill(s2, &r), QLEN_ACCEPTED - 6);
	CHECK_ERR(send(s1, "x", 1, MSG_DONTWAIT), EAGAIN);
	CHECK_OK(close(s1));
	CHECK_OK(close(s2));
	CHECK_OK(close(r.fd));
}

/* Between mutually connected sockets only SO_SNDBUF limits: far more than
 * max_dgram_qlen + 1 datagrams queue before EAGAIN. */
static void
dgram_mutual_sndbuf_limit(void)
{
	int sv[2], count;
	char buf[4];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	count = fill(sv[0], NULL);
	CHECK(count > 2 * QLEN_ACCEPTED);
	for (int i = 0; i < count; i++)
		CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 1);
	CHECK_ERR(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	close_pair(sv);
}

/* A sender blocked on a full non-mutual receiver stays blocked until the
 * receiver reads one datagram, then its send completes. */
static void
dgram_blocked_sender_wakes(void)
{
	struct named r;
	int s, pp[2];
	char buf[8];
	struct job j = { -1, 0, NULL, -1 };
	struct th_child *c;

	named_socket(&r, "r");
	s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(pipe(pp));
	CHECK_EQ(fill(s, &r), QLEN_ACCEPTED);
	j.fd = s;
	j.to = &r;
	j.done = pp[1];
	c = th_fork(send_job, &j);
	CHECK(!readable_within(pp[0], 150));
	CHECK_EQ(recv(r.fd, buf, sizeof(buf), 0), 1);
	CHECK(readable_within(pp[0], 5000));
	CHECK_EQ(read(pp[0], buf, 1), 1);
	CHECK_EQ(th_join(c), 0);
	for (int i = 0; i < QLEN_ACCEPTED - 1; i++)
		CHECK_EQ(recv(r.fd, buf, sizeof(buf), 0), 1);
	CHECK_EQ(recv(r.fd, buf, sizeof(buf), 0), 4);
	CHECK_MEM(buf, "late", 4);
	CHECK_OK(close(pp[0]));
	CHECK_OK(close(pp[1]));
	CHECK_OK(close(s));
	CHECK_OK(close(r.fd));
}

/* A connected sender polls not writable while its non-mutual peer is
 * full, and a poll waiting for POLLOUT returns when another process reads
 * from the peer. */
static void
dgram_pollout_after_receiver_reads(void)
{
	struct named r;
	int s;
	struct pollfd p;
	char buf[8];
	struct th_child *c;
	struct job j = { -1, 100, NULL, -1 };

	named_socket(&r, "r");
	s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(connect(s, sa(&r), r.len));
	CHECK_EQ(fill(s, NULL), QLEN_ACCEPTED);
	p = (struct pollfd){ .fd = s, .events = POLLOUT };
	CHECK_EQ(poll(&p, 1, 0), 0);
	j.fd = r.fd;
	c = th_fork(recv_job, &j);
	CHECK_EQ(poll(&p, 1, 5000), 1);
	CHECK_EQ(p.revents, POLLOUT);
	CHECK_EQ(th_join(c), 0);
	CHECK_EQ(send(s, "y", 1, MSG_DONTWAIT), 1);
	CHECK_ERR(send(s, "z", 1, MSG_DONTWAIT), EAGAIN);
	for (int i = 0; i < QLEN_ACCEPTED; i++)
		CHECK_EQ(recv(r.fd, buf, sizeof(buf), 0), 1);
	CHECK_OK(close(s));
	CHECK_OK(close(r.fd));
}

/* A sendto to a receiver that arrives later (in another process) wakes a
 * blocked recvfrom. */
static void
dgram_blocked_recv_wakes(void)
{
	struct named r;
	int s;
	char buf[8];
	struct th_child *c;
	struct job j = { -1, 100, NULL, -1 };

	named_socket(&r, "r");
	s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	j.fd = s;
	j.to = &r;
	c = th_fork(send_job, &j);
	CHECK_EQ(recv(r.fd, buf, sizeof(buf), 0), 4);
	CHECK_MEM(buf, "late", 4);
	CHECK_EQ(th_join(c), 0);
	CHECK_OK(close(s));
	CHECK_OK(close(r.fd));
}

/* A thread of this process blocked sending on a connected socket whose
 * peer's queue is full: the send's errno, or 0. */
struct blocked_send {
	int		fd;
	int		err;
};

static void *
blocked_send_main(void *arg)
{
	struct blocked_send *b = arg;

	b->err = send(b->fd, "x", 1, 0) < 0 ? errno : 0;
	return NULL;
}

/*
 * Two senders wait for room at a connected peer that then closes: the
 * first to look again finds its peer dead (ECONNREFUSED) and drops the
 * association; the other's peer is no longer the one it waited on, and
 * Linux gives it ECONNRESET (not ENOTCONN: it never looks up the peer
 * again). Later sends get ENOTCONN.
 */
static void
dgram_peer_died_under_two_senders(void)
{
	struct named r;
	struct blocked_send b[2];
	struct timeval tv = { 5, 0 };
	pthread_t t[2];
	int fd, n = 0, refused = 0, reset = 0;

	named_socket(&r, "r");
	fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(connect(fd, sa(&r), r.len));
	CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)));
	while (send(fd, "d", 1, MSG_DONTWAIT) == 1)
		n++;
	CHECK_EQ(n, QLEN_ACCEPTED);
	for (int i = 0; i < 2; i++) {
		b[i].fd = fd;
		b[i].err = -1;
		CHECK_EQ(pthread_create(&t[i], NULL, blocked_send_main, &b[i]),
			 0);
	}
	th_sleep_ms(100);
	CHECK_OK(close(r.fd));
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		refused += b[i].err == ECONNREFUSED;
		reset += b[i].err == ECONNRESET;
	}
	if (refused != 1 || reset != 1)
		th_fail(__FILE__, __LINE__, "senders got %s and %s",
			strerror(b[0].err), strerror(b[1].err));
	CHECK_ERR(send(fd, "x", 1, 0), ENOTCONN);
	CHECK_OK(close(fd));
}

static const struct th_test tests[] = {
	{ "dgram_sendto_path", dgram_sendto_path },
	{ "dgram_sendto_abstract", dgram_sendto_abstract },
	{ "dgram_unbound_sender", dgram_unbound_sender },
	{ "dgram_sendmsg_recvmsg_names", dgram_sendmsg_recvmsg_names },
	{ "dgram_boundaries", dgram_boundaries },
	{ "dgram_zero_length", dgram_zero_length },
	{ "dgram_truncation", dgram_truncation },
	{ "dgram_trunc_flag_real_length", dgram_trunc_flag_real_length },
	{ "dgram_peek", dgram_peek },
	{ "dgram_fionread_first", dgram_fionread_first },
	{ "dgram_emsgsize_default", dgram_emsgsize_default },
	{ "dgram_siocoutq_large", dgram_siocoutq_large },
	{ "dgram_emsgsize_follows_sndbuf", dgram_emsgsize_follows_sndbuf },
	{ "dgram_connect_default_peer", dgram_connect_default_peer },
	{ "dgram_sendto_overrides_peer", dgram_sendto_overrides_peer },
	{ "dgram_eperm_third_party", dgram_eperm_third_party },
	{ "dgram_reconnect_purges_queue", dgram_reconnect_purges_queue },
	{ "dgram_reconnect_resets_old_peer", dgram_reconnect_resets_old_peer },
	{ "dgram_reconnect_empty_no_reset", dgram_reconnect_empty_no_reset },
	{ "dgram_unspec_disconnect", dgram_unspec_disconnect },
	{ "dgram_unspec_purges_queue", dgram_unspec_purges_queue },
	{ "dgram_peer_closed_refused_then_notconn",
	  dgram_peer_closed_refused_then_notconn },
	{ "dgram_pair_closed_refused_then_notconn",
	  dgram_pair_closed_refused_then_notconn },
	{ "dgram_sendto_stale_path", dgram_sendto_stale_path },
	{ "dgram_sendto_unbound_abstract", dgram_sendto_unbound_abstract },
	{ "dgram_send_unconnected", dgram_send_unconnected },
	{ "dgram_nonmutual_queue_limit", dgram_nonmutual_queue_limit },
	{ "dgram_nonmutual_connected_limit", dgram_nonmutual_connected_limit },
	{ "dgram_mutual_sndbuf_limit", dgram_mutual_sndbuf_limit },
	{ "dgram_blocked_sender_wakes", dgram_blocked_sender_wakes },
	{ "dgram_pollout_after_receiver_reads",
	  dgram_pollout_after_receiver_reads },
	{ "dgram_blocked_recv_wakes", dgram_blocked_recv_wakes },
	{ "dgram_peer_died_under_two_senders",
	  dgram_peer_died_under_two_senders },
};

TH_MAIN(tests)

/*
 * The AF_INET / AF_INET6 side of the benchmark: connected TCP and UDP
 * pairs on each side's own loopback (127.0.0.1 or ::1: the Linux
 * kernel's, or the one inside ksock's lwIP) or, for a link row, across
 * the link of bench_inet_link.c; and the UDP rate scenario.
 *
 * The stream scenarios of bench_scn.c (throughput, ping-pong, connection
 * rate) run unchanged over these pairs: a scenario with .family set asks
 * here instead of socketpair(). Everything is created on the calling
 * thread before the scenario starts its threads (bench.h's rule), and a
 * TCP pair is complete when bench_inet_pair() returns: a blocking
 * connect() returns once the handshake is done, and accept() then finds
 * the connection queued.
 *
 * UDP loses datagrams when the receiver's queue is full, on Linux as on
 * ksock, and the benchmark's rule is that every reader knows what it is
 * owed. So the UDP scenario paces itself: the receiver acknowledges every
 * window of datagrams, far below either side's default queue limit, and
 * the sender waits for that before sending the next window. A datagram
 * lost anyway fails the run (the receiver's SO_RCVTIMEO ends the wait)
 * instead of hanging it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "bench.h"

/* A datagram that is not there after this long was lost: fail the run. */
#define UDP_LOST_SECONDS	10
/* The largest UDP datagram a scenario sends. */
#define UDP_MAX_SIZE		(64 * 1024)

/* The side's loopback address of @family, port 0, in @ss. */
static socklen_t
loopback_addr(int family, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		return sizeof(*sin6);
	}
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sizeof(*sin);
}

/*
 * Where the two ends of a pair are made: the server end (the listener,
 * or the receiving UDP socket) with @srv_ops at @srv, in the network
 * namespace @srv_ns when it is not -1; the client end with the
 * scenario's ops, bound (UDP) to @cli. Ports are 0.
 */
struct inet_ends {
	const struct bench_ops	*srv_ops;
	struct sockaddr_storage	 srv, cli;
	socklen_t		 len;
	int			 srv_ns;
};

static void
ends_of(const struct bench_ops *ops, const struct bench_scn *s,
	struct inet_ends *e)
{
	e->srv_ops = ops;
	e->srv_ns = -1;
	if (s->link) {
		bench_link_ends(ops, &e->srv_ops, &e->srv, &e->cli, &e->len,
				&e->srv_ns);
		return;
	}
	e->len = loopback_addr(s->family, &e->srv);
	e->cli = e->srv;
}

/* A socket of @type made with @ops (in namespace @ns unless -1) and
 * bound to @at; its address in @ss. The descriptor, or -1 with r->err. */
static int
bound_socket(const struct bench_ops *ops, int type,
	     const struct sockaddr_storage *at, socklen_t len, int ns,
	     struct sockaddr_storage *ss, struct bench_result *r)
{
	socklen_t sslen = sizeof(*ss);
	int fd;

	if (ns >= 0 && bench_link_enter(ns) < 0)
		return bench_fail(r, "setns: %s", strerror(errno));
	fd = ops->socket(at->ss_family, type, 0);
	if (ns >= 0 && bench_link_leave() < 0) {
		bench_fail(r, "setns back: %s", strerror(errno));
		if (fd >= 0)
			ops->close(fd);
		return -1;
	}
	if (fd < 0)
		return bench_fail(r, "socket: %s", strerror(errno));
	if (ops->bind(fd, (const struct sockaddr *)at, len) < 0 ||
	    ops->getsockname(fd, (struct sockaddr *)ss, &sslen) < 0) {
		bench_fail(r, "bind: %s", strerror(errno));
		ops->close(fd);
		return -1;
	}
	return fd;
}

int
bench_inet_listener(const struct bench_ops *ops, const struct bench_scn *s,
		    int backlog, struct sockaddr_storage *ss, socklen_t *len,
		    struct bench_result *r)
{
	struct inet_ends e;
	int fd;

	ends_of(ops, s, &e);
	*len = e.len;
	fd = bound_socket(e.srv_ops, SOCK_STREAM, &e.srv, e.len, e.srv_ns, ss,
			  r);
	if (fd >= 0 && e.srv_ops->listen(fd, backlog) < 0) {
		bench_fail(r, "listen: %s", strerror(errno));
		e.srv_ops->close(fd);
		return -1;
	}
	return fd;
}

static int
set_nodelay(const struct bench_ops *ops, int fd)
{
	int one = 1;

	return ops->setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			       sizeof(one));
}

static int
tcp_pair(const struct bench_ops *ops, const struct bench_scn *s,
	 bool nodelay, int sv[2], struct bench_result *r)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int lfd;

	lfd = bench_inet_listener(ops, s, 1, &ss, &len, r);
	if (lfd < 0)
		return -1;
	sv[0] = ops->socket(ss.ss_family, SOCK_STREAM, 0);
	if (sv[0] < 0) {
		bench_fail(r, "socket: %s", strerror(errno));
		goto close_listener;
	}
	if (ops->connect(sv[0], (struct sockaddr *)&ss, len) < 0) {
		bench_fail(r, "connect: %s", strerror(errno));
		goto close_client;
	}
	sv[1] = ops->accept(lfd, NULL, NULL);
	if (sv[1] < 0) {
		bench_fail(r, "accept: %s", strerror(errno));
		goto close_client;
	}
	if (nodelay && (set_nodelay(ops, sv[0]) < 0 ||
			set_nodelay(ops, sv[1]) < 0)) {
		bench_fail(r, "TCP_NODELAY: %s", strerror(errno));
		goto close_server;
	}
	ops->close(lfd);
	return 0;

close_server:
	ops->close(sv[1]);
close_client:
	ops->close(sv[0]);
close_listener:
	ops->close(lfd);
	return -1;
}

/* sv[0] the sender (client end), sv[1] the receiver (server end). */
static int
udp_pair(const struct bench_ops *ops, const struct bench_scn *s, int sv[2],
	 struct bench_result *r)
{
	struct sockaddr_storage ss[2];
	struct inet_ends e;

	ends_of(ops, s, &e);
	sv[0] = bound_socket(ops, SOCK_DGRAM, &e.cli, e.len, -1, &ss[0], r);
	if (sv[0] < 0)
		return -1;
	sv[1] = bound_socket(e.srv_ops, SOCK_DGRAM, &e.srv, e.len, e.srv_ns,
			     &ss[1], r);
	if (sv[1] < 0)
		goto close_first;
	if (ops->connect(sv[0], (struct sockaddr *)&ss[1], e.len) < 0 ||
	    ops->connect(sv[1], (struct sockaddr *)&ss[0], e.len) < 0) {
		bench_fail(r, "connect: %s", strerror(errno));
		goto close_second;
	}
	return 0;

close_second:
	ops->close(sv[1]);
close_first:
	ops->close(sv[0]);
	return -1;
}

int
bench_inet_pair(const struct bench_ops *ops, const struct bench_scn *s,
		bool nodelay, int sv[2], struct bench_result *r)
{
	if (s->type == SOCK_DGRAM)
		return udp_pair(ops, s, sv, r);
	return tcp_pair(ops, s, nodelay, sv, r);
}

/* -- UDP datagrams per second -- */

struct udp_sender {
	const struct bench_ops *ops;
	int		 fd;
	size_t		 size;
	int		 window;
	long		 n;
	char		*buf;
};

static int
set_lost_timeout(const struct bench_ops *ops, int fd)
{
	struct timeval tv = { .tv_sec = UDP_LOST_SECONDS };

	return ops->setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Receives one datagram of at most @cap bytes; its length, or -errno. */
static ssize_t
recv_dgram(const struct bench_ops *ops, int fd, void *buf, size_t cap)
{
	ssize_t k;

	do
		k = ops->recv(fd, buf, cap, 0);
	while (k < 0 && errno == EINTR);
	return k < 0 ? -errno : k;
}

static int
send_dgram(const struct bench_ops *ops, int fd, const void *buf, size_t len)
{
	ssize_t k;

	do
		k = ops->send(fd, buf, len, MSG_NOSIGNAL);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return errno;
	return (size_t)k == len ? 0 : EMSGSIZE;
}

/* The acknowledgement after datagram @i (0-based) of @n, or not. */
static bool
ack_due(long i, long n, int window)
{
	return (i + 1) % window == 0 || i + 1 == n;
}

/*
 * Sends @n datagrams of @size bytes, each starting with its number and
 * ending with its number's low byte, and after every window waits for
 * the receiver's acknowledgement (the count it has received).
 */
static int
udp_sender_main(void *p)
{
	struct udp_sender *u = p;
	long long count;
	ssize_t k;
	int err;

	for (long i = 0; i < u->n; i++) {
		long long seq = i;

		memcpy(u->buf, &seq, sizeof(seq));
		u->buf[u->size - 1] = (char)i;
		err = send_dgram(u->ops, u->fd, u->buf, u->size);
		if (err != 0)
			return err;
		if (!ack_due(i, u->n, u->window))
			continue;
		k = recv_dgram(u->ops, u->fd, &count, sizeof(count));
		if (k < 0)
			return (int)-k;
		if (k != sizeof(count) || count != i + 1)
			return EBADMSG;
	}
	return 0;
}

int
bench_run_udp_rate(const struct bench_ops *ops, const struct bench_scn *s,
		   long n, struct bench_result *r)
{
	struct bench_thread t;
	struct udp_sender u;
	char *wbuf, *rbuf;
	long long got = 0, seq;
	int64_t t0;
	ssize_t k;
	int sv[2], ret = -1, serr;

	r->want = n;
	if (s->size < sizeof(seq) + 1 || s->size > UDP_MAX_SIZE)
		return bench_fail(r, "datagram size %zu out of range", s->size);
	wbuf = malloc(s->size);
	rbuf = malloc(s->size + 1);
	if (wbuf == NULL || rbuf == NULL) {
		bench_fail(r, "out of memory");
		goto free_bufs;
	}
	memset(wbuf, 'u', s->size);
	if (bench_inet_pair(ops, s, false, sv, r) < 0)
		goto free_bufs;
	if (set_lost_timeout(ops, sv[0]) < 0 ||
	    set_lost_timeout(ops, sv[1]) < 0) {
		bench_fail(r, "SO_RCVTIMEO: %s", strerror(errno));
		goto close_pair;
	}
	u = (struct udp_sender){ ops, sv[0], s->size, s->window, n, wbuf };
	t0 = bench_now_ns();
	if (ops->thread_start(&t, udp_sender_main, &u) < 0) {
		bench_fail(r, "thread: %s", strerror(errno));
		goto close_pair;
	}
	while (got < n) {
		/* One byte of room: a datagram longer than sent shows. */
		k = recv_dgram(ops, sv[1], rbuf, s->size + 1);
		if (k < 0) {
			bench_fail(r, "datagram %lld: %s", got,
				   strerror((int)-k));
			break;
		}
		memcpy(&seq, rbuf, sizeof(seq));
		if ((size_t)k != s->size || seq != got ||
		    rbuf[k - 1] != (char)got || rbuf[k / 2] != 'u') {
			bench_fail(r, "datagram %lld: %zd bytes, number %lld: "
				   "lost, reordered or damaged", got, k, seq);
			break;
		}
		got++;
		if (ack_due(got - 1, n, s->window)) {
			int err = send_dgram(ops, sv[1], &got, sizeof(got));

			if (err != 0) {
				bench_fail(r, "ack %lld: %s", got,
					   strerror(err));
				break;
			}
		}
	}
	r->seconds = (double)(bench_now_ns() - t0) / 1e9;
	/* Wakes a sender still waiting for an acknowledgement. */
	if (got < n)
		ops->shutdown(sv[0], SHUT_RDWR);
	serr = ops->thread_join(&t);
	r->moved = got;
	if (got == n) {
		if (serr != 0)
			bench_fail(r, "sender: %s", strerror(serr));
		else
			ret = 0;
	}
	r->value = (double)got / r->seconds;
close_pair:
	ops->close(sv[0]);
	ops->close(sv[1]);
free_bufs:
	free(wbuf);
	free(rbuf);
	return ret;
}

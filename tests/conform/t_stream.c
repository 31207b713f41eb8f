/*
 * SOCK_STREAM data transfer: every send and receive call, byte streams
 * that join separate sends, the receive flags, the error cases of an
 * unconnected or shut down socket, SIGPIPE, backpressure from a full send
 * queue, and the FIONREAD/SIOCOUTQ ioctls.
 *
 * Concurrency goes through th_fork children (a simulated process on
 * ksock); they talk to the test only through sockets and pipes.
 */
#include "harness.h"

#define CHUNK		4096
#define BIG		(1 << 20)

/* -- helpers -- */

static void
stream_pair(int sv[2])
{
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
}

static void
close_pair(int sv[2])
{
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* Sends with MSG_DONTWAIT until the send queue is full; returns the bytes
 * queued and checks that the stop was EAGAIN. */
static size_t
fill(int fd)
{
	static char buf[CHUNK];
	size_t total = 0;
	ssize_t n;

	while ((n = send(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	CHECK_EQ(n, -1);
	CHECK_EQ(errno, EAGAIN);
	return total;
}

/* Receives with MSG_DONTWAIT until nothing is left; returns the bytes. */
static size_t
drain(int fd)
{
	static char buf[CHUNK];
	size_t total = 0;
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	CHECK_EQ(n, -1);
	CHECK_EQ(errno, EAGAIN);
	return total;
}

/* Receives exactly @n bytes, blocking; returns how many arrived. */
static size_t
recv_exact(int fd, size_t n)
{
	static char buf[CHUNK];
	size_t total = 0;
	ssize_t r;

	while (total < n) {
		r = recv(fd, buf, n - total < sizeof(buf) ? n - total :
			 sizeof(buf), 0);
		if (r <= 0)
			break;
		total += (size_t)r;
	}
	return total;
}

static int
inq(int fd)
{
	int n = -1;

	CHECK_OK(ioctl(fd, FIONREAD, &n));
	return n;
}

static int
outq(int fd)
{
	int n = -1;

	CHECK_OK(ioctl(fd, SIOCOUTQ, &n));
	return n;
}

static void
set_timeo(int fd, int opt, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	CHECK_OK(setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv)));
}

/* True if @fd becomes readable within @ms milliseconds. */
static bool
readable_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static unsigned char
pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 251);
}

/* A child's scripted action: after @ms, do @what on @fd, then write one
 * byte to @done (unless it is -1). */
enum job_what { JOB_SEND, JOB_SEND_PATTERN, JOB_CLOSE, JOB_SHUT_WR };

struct job {
	enum job_what	 what;
	int		 fd;
	int		 ms;
	const char	*buf;
	size_t		 len;		/* bytes to send; all must go */
	int		 done;
};

static int
job_main(void *p)
{
	const struct job *j = p;

	if (j->ms > 0)
		th_sleep_ms(j->ms);
	switch (j->what) {
	case JOB_SEND:
		CHECK_EQ(send(j->fd, j->buf, j->len, 0), j->len);
		break;
	case JOB_SEND_PATTERN: {
		static unsigned char buf[7777];
		size_t off = 0;

		while (off < j->len) {
			size_t n = j->len - off < sizeof(buf) ?
				   j->len - off : sizeof(buf);

			for (size_t i = 0; i < n; i++)
				buf[i] = pattern(off + i);
			ssize_t r = send(j->fd, buf, n, 0);
			CHECK_EQ(r, n);
			if (r <= 0)
				break;
			off += (size_t)r;
		}
		break;
	}
	case JOB_CLOSE:
		CHECK_OK(close(j->fd));
		break;
	case JOB_SHUT_WR:
		CHECK_OK(shutdown(j->fd, SHUT_WR));
		break;
	}
	if (j->done >= 0)
		CHECK_EQ(write(j->done, "x", 1), 1);
	return th_failures();
}

/* -- the calls, byte-exact -- */

/* send/recv move exactly the bytes given, in both directions. */
static void
stream_send_recv(void)
{
	int sv[2];
	char buf[16];

	stream_pair(sv);
	CHECK_EQ(send(sv[0], "hello", 5, 0), 5);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 5);
	CHECK_MEM(buf, "hello", 5);
	CHECK_EQ(send(sv[1], "back", 4, 0), 4);
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 4);
	CHECK_MEM(buf, "back", 4);
	close_pair(sv);
}

/* write/read behave as send/recv without flags. */
static void
stream_read_write(void)
{
	int sv[2];
	char buf[16];

	stream_pair(sv);
	CHECK_EQ(write(sv[0], "abcdef", 6), 6);
	CHECK_EQ(read(sv[1], buf, 4), 4);
	CHECK_MEM(buf, "abcd", 4);
	CHECK_EQ(read(sv[1], buf, sizeof(buf)), 2);
	CHECK_MEM(buf, "ef", 2);
	close_pair(sv);
}

/* writev gathers its vectors in order and readv scatters them across
 * differently sized vectors. */
static void
stream_readv_writev(void)
{
	int sv[2];
	char a[3], b[5], c[8];
	struct iovec out[3] = {
		{ "one", 3 }, { "", 0 }, { "twothree", 8 },
	};
	struct iovec in[3] = { { a, 3 }, { b, 5 }, { c, 8 } };

	stream_pair(sv);
	CHECK_EQ(writev(sv[0], out, 3), 11);
	CHECK_EQ(readv(sv[1], in, 3), 11);
	CHECK_MEM(a, "one", 3);
	CHECK_MEM(b, "twoth", 5);
	CHECK_MEM(c, "ree", 3);
	close_pair(sv);
}

/* sendmsg/recvmsg carry the bytes, msg_flags is 0, and an unbound sender
 * reports a name length of 0. */
static void
stream_sendmsg_recvmsg(void)
{
	int sv[2];
	char buf[32];
	struct sockaddr_un from;
	struct iovec ov[2] = { { "head", 4 }, { "tail", 4 } };
	struct msghdr om = { .msg_iov = ov, .msg_iovlen = 2 };
	struct iovec iv = { buf, sizeof(buf) };
	struct msghdr im = {
		.msg_name = &from, .msg_namelen = sizeof(from),
		.msg_iov = &iv, .msg_iovlen = 1, .msg_flags = -1,
	};

	stream_pair(sv);
	CHECK_EQ(sendmsg(sv[0], &om, 0), 8);
	CHECK_EQ(recvmsg(sv[1], &im, 0), 8);
	CHECK_MEM(buf, "headtail", 8);
	CHECK_EQ(im.msg_flags, 0);
	CHECK_EQ(im.msg_namelen, 0);
	close_pair(sv);
}

/* recvfrom on an accepted connection reports the bound client's name, and
 * the client sees the listener's name. */
static void
stream_recvfrom_names(void)
{
	struct sockaddr_un la, ca, from;
	socklen_t llen, clen, flen;
	char lname[80], cname[80], buf[8];
	int l, c, a;

	snprintf(lname, sizeof(lname), "%s-l", th_unique());
	snprintf(cname, sizeof(cname), "%s-c", th_unique());
	llen = th_addr_abstract(&la, lname, strlen(lname));
	clen = th_addr_abstract(&ca, cname, strlen(cname));
	l = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(l, (struct sockaddr *)&la, llen));
	CHECK_OK(listen(l, 1));
	c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(c, (struct sockaddr *)&ca, clen));
	CHECK_OK(connect(c, (struct sockaddr *)&la, llen));
	a = CHECK_OK(accept(l, NULL, NULL));

	CHECK_EQ(send(c, "hi", 2, 0), 2);
	flen = sizeof(from);
	memset(&from, 0, sizeof(from));
	CHECK_EQ(recvfrom(a, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			  &flen), 2);
	CHECK_EQ(flen, clen);
	CHECK_MEM(&from, &ca, clen);

	CHECK_EQ(send(a, "yo", 2, 0), 2);
	flen = sizeof(from);
	memset(&from, 0, sizeof(from));
	CHECK_EQ(recvfrom(c, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			  &flen), 2);
	CHECK_EQ(flen, llen);
	CHECK_MEM(&from, &la, llen);
	CHECK_OK(close(a));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* A client may send before it is accepted; the accepted socket reads it. */
static void
stream_send_before_accept(void)
{
	struct sockaddr_un la;
	socklen_t llen = th_addr_abstract(&la, th_unique(), strlen(th_unique()));
	char buf[8];
	int l, c, a;

	l = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(l, (struct sockaddr *)&la, llen));
	CHECK_OK(listen(l, 1));
	c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&la, llen));
	CHECK_EQ(send(c, "early", 5, 0), 5);
	a = CHECK_OK(accept(l, NULL, NULL));
	CHECK_EQ(inq(a), 5);
	CHECK_EQ(recv(a, buf, sizeof(buf), 0), 5);
	CHECK_MEM(buf, "early", 5);
	CHECK_OK(close(a));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* Separate sends are joined into one byte stream by a large recv. */
static void
stream_joins_sends(void)
{
	int sv[2];
	char buf[16];

	stream_pair(sv);
	CHECK_EQ(send(sv[0], "ab", 2, 0), 2);
	CHECK_EQ(send(sv[0], "cd", 2, 0), 2);
	CHECK_EQ(write(sv[0], "ef", 2), 2);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 6);
	CHECK_MEM(buf, "abcdef", 6);
	close_pair(sv);
}

/* A recv that stops inside a send leaves the rest for the next recv. */
static void
stream_partial_reads(void)
{
	int sv[2];
	char buf[16];

	stream_pair(sv);
	CHECK_EQ(send(sv[0], "abcdefgh", 8, 0), 8);
	CHECK_EQ(recv(sv[1], buf, 3, 0), 3);
	CHECK_MEM(buf, "abc", 3);
	CHECK_EQ(recv(sv[1], buf, 3, 0), 3);
	CHECK_MEM(buf, "def", 3);
	CHECK_EQ(recv(sv[1], buf, 3, 0), 2);
	CHECK_MEM(buf, "gh", 2);
	close_pair(sv);
}

/* MSG_PEEK spans separate sends and leaves every byte queued. */
static void
stream_peek_spans_sends(void)
{
	int sv[2];
	char buf[16];

	stream_pair(sv);
	CHECK_EQ(send(sv[0], "abc", 3, 0), 3);
	CHECK_EQ(send(sv[0], "def", 3, 0), 3);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_PEEK), 6);
	CHECK_MEM(buf, "abcdef", 6);
	CHECK_EQ(recv(sv[1], buf, 4, MSG_PEEK), 4);
	CHECK_MEM(buf, "abcd", 4);
	CHECK_EQ(inq(sv[1]), 6);
	CHECK_EQ(recv(sv[1], buf, 4, 0), 4);
	CHECK_MEM(buf, "abcd", 4);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_PEEK), 2);
	CHECK_MEM(buf, "ef", 2);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 2);
	close_pair(sv);
}

/* MSG_DONTWAIT on an empty blocking socket fails at once with EAGAIN. */
static void
stream_dontwait_eagain(void)
{
	int sv[2];
	char buf[4];
	long long t0;

	stream_pair(sv);
	t0 = th_now_ms();
	CHECK_ERR(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	CHECK_ERR(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT | MSG_PEEK),
		  EAGAIN);
	CHECK(th_now_ms() - t0 < 500);
	fill(sv[0]);
	CHECK_ERR(send(sv[0], "x", 1, MSG_DONTWAIT), EAGAIN);
	close_pair(sv);
}

/* MSG_WAITALL waits past the bytes already queued until a later send
 * fills the buffer. */
static void
stream_waitall_complete(void)
{
	int sv[2];
	char buf[12];
	struct job j = { JOB_SEND, -1, 100, "efghijkl", 8, -1 };
	struct th_child *c;

	stream_pair(sv);
	CHECK_EQ(send(sv[0], "abcd", 4, 0), 4);
	j.fd = sv[0];
	c = th_fork(job_main, &j);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_WAITALL), 12);
	CHECK_MEM(buf, "abcdefghijkl", 12);
	CHECK_EQ(th_join(c), 0);
	close_pair(sv);
}

/* MSG_WAITALL returns the bytes it has when the peer shuts down writing. */
static void
stream_waitall_short_at_eof(void)
{
	int sv[2];
	char buf[10];

	stream_pair(sv);
	CHECK_EQ(send(sv[0], "abc", 3, 0), 3);
	CHECK_OK(shutdown(sv[0], SHUT_WR));
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_WAITALL), 3);
	CHECK_MEM(buf, "abc", 3);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_WAITALL), 0);
	close_pair(sv);
}

/* MSG_WAITALL returns the bytes it has when SO_RCVTIMEO expires. */
static void
stream_waitall_short_at_timeout(void)
{
	int sv[2];
	char buf[10];
	long long t0;

	stream_pair(sv);
	set_timeo(sv[1], SO_RCVTIMEO, 100);
	CHECK_EQ(send(sv[0], "abc", 3, 0), 3);
	t0 = th_now_ms();
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_WAITALL), 3);
	CHECK(th_now_ms() - t0 >= 90);
	CHECK_MEM(buf, "abc", 3);
	CHECK_ERR(recv(sv[1], buf, sizeof(buf), MSG_WAITALL), EAGAIN);
	close_pair(sv);
}

/* A peek never waits once it has copied something: MSG_PEEK with
 * MSG_WAITALL, or with SO_RCVLOWAT above what is queued, returns the
 * queued bytes at once (a blocking read would wait). */
static void
stream_peek_target_returns_at_once(void)
{
	int sv[2], lowat = 8;
	char buf[10];
	long long t0;

	stream_pair(sv);
	set_timeo(sv[1], SO_RCVTIMEO, 2000);
	CHECK_EQ(send(sv[0], "abc", 3, 0), 3);
	t0 = th_now_ms();
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_PEEK | MSG_WAITALL), 3);
	CHECK(th_now_ms() - t0 < 1000);
	CHECK_MEM(buf, "abc", 3);
	CHECK_EQ(send(sv[0], "def", 3, 0), 3);
	CHECK_OK(setsockopt(sv[1], SOL_SOCKET, SO_RCVLOWAT, &lowat,
			    sizeof(lowat)));
	t0 = th_now_ms();
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_PEEK), 6);
	CHECK(th_now_ms() - t0 < 1000);
	CHECK_MEM(buf, "abcdef", 6);
	/* Still all queued. */
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 6);
	close_pair(sv);
}

/* MSG_TRUNC has no effect on a stream: it returns what was copied, sets
 * no flag, and the rest stays queued. */
static void
stream_msg_trunc_ignored(void)
{
	int sv[2];
	char buf[16];
	struct iovec iv = { buf, 4 };
	struct msghdr m = { .msg_iov = &iv, .msg_iovlen = 1 };

	stream_pair(sv);
	CHECK_EQ(send(sv[0], "0123456789", 10, 0), 10);
	CHECK_EQ(recv(sv[1], buf, 4, MSG_TRUNC), 4);
	CHECK_MEM(buf, "0123", 4);
	CHECK_EQ(recvmsg(sv[1], &m, MSG_TRUNC), 4);
	CHECK_MEM(buf, "4567", 4);
	CHECK_EQ(m.msg_flags, 0);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 2);
	CHECK_MEM(buf, "89", 2);
	close_pair(sv);
}

/* A 0-byte send returns 0 and queues nothing: FIONREAD stays 0 and recv
 * would block. */
static void
stream_zero_send(void)
{
	int sv[2];
	char buf[4];
	struct iovec iv = { buf, 0 };
	struct msghdr m = { .msg_iov = &iv, .msg_iovlen = 1 };

	stream_pair(sv);
	CHECK_EQ(send(sv[0], "", 0, 0), 0);
	CHECK_EQ(write(sv[0], "", 0), 0);
	CHECK_EQ(sendmsg(sv[0], &m, 0), 0);
	CHECK_EQ(inq(sv[1]), 0);
	CHECK_ERR(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	close_pair(sv);
}

/* A 0-byte recv with data queued returns 0 and consumes nothing. */
static void
stream_zero_recv(void)
{
	int sv[2];
	char buf[4];

	stream_pair(sv);
	CHECK_EQ(send(sv[0], "abc", 3, 0), 3);
	CHECK_EQ(recv(sv[1], buf, 0, 0), 0);
	CHECK_EQ(inq(sv[1]), 3);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 3);
	close_pair(sv);
}

/* Sending on an unconnected stream socket fails with ENOTCONN and raises
 * no SIGPIPE. */
static void
stream_send_unconnected(void)
{
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));

	th_catch(SIGPIPE);
	CHECK_ERR(send(fd, "x", 1, 0), ENOTCONN);
	CHECK_ERR(write(fd, "x", 1), ENOTCONN);
	CHECK_EQ(th_signal_count(SIGPIPE), 0);
	CHECK_OK(close(fd));
}

/* Receiving on an unconnected stream socket fails with EINVAL. */
static void
stream_recv_unconnected(void)
{
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	char buf[4];

	CHECK_ERR(recv(fd, buf, sizeof(buf), 0), EINVAL);
	CHECK_ERR(read(fd, buf, sizeof(buf)), EINVAL);
	CHECK_OK(close(fd));
}

/* Receiving on a listening socket fails with EINVAL. */
static void
stream_recv_listening(void)
{
	struct sockaddr_un la;
	socklen_t llen = th_addr_abstract(&la, th_unique(), strlen(th_unique()));
	int l = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	char buf[4];

	CHECK_OK(bind(l, (struct sockaddr *)&la, llen));
	CHECK_OK(listen(l, 1));
	CHECK_ERR(recv(l, buf, sizeof(buf), MSG_DONTWAIT), EINVAL);
	CHECK_ERR(send(l, "x", 1, 0), ENOTCONN);
	CHECK_OK(close(l));
}

/* sendto with an address on a connected stream socket fails with EISCONN,
 * even when the address is the peer's. */
static void
stream_sendto_connected(void)
{
	struct sockaddr_un la;
	socklen_t llen = th_addr_abstract(&la, th_unique(), strlen(th_unique()));
	int l, c, a;
	char buf[4];

	l = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(l, (struct sockaddr *)&la, llen));
	CHECK_OK(listen(l, 1));
	c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&la, llen));
	a = CHECK_OK(accept(l, NULL, NULL));
	CHECK_ERR(sendto(c, "x", 1, 0, (struct sockaddr *)&la, llen), EISCONN);
	CHECK_ERR(recv(a, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	CHECK_OK(close(a));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* sendto with an address on an unconnected stream socket fails with
 * EOPNOTSUPP: streams never send to a name. */
static void
stream_sendto_unconnected(void)
{
	struct sockaddr_un la;
	socklen_t llen = th_addr_abstract(&la, th_unique(), strlen(th_unique()));
	int l, fd;

	l = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(l, (struct sockaddr *)&la, llen));
	CHECK_OK(listen(l, 1));
	fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_ERR(sendto(fd, "x", 1, 0, (struct sockaddr *)&la, llen),
		  EOPNOTSUPP);
	CHECK_OK(close(fd));
	CHECK_OK(close(l));
}

/* How the send side was broken, for the EPIPE table. */
enum broken { PEER_CLOSED, PEER_SHUT_RD, OWN_SHUT_WR };

static int
broken_pair(enum broken how, int sv[2])
{
	stream_pair(sv);
	switch (how) {
	case PEER_CLOSED:
		CHECK_OK(close(sv[1]));
		sv[1] = -1;
		break;
	case PEER_SHUT_RD:
		CHECK_OK(shutdown(sv[1], SHUT_RD));
		break;
	case OWN_SHUT_WR:
		CHECK_OK(shutdown(sv[0], SHUT_WR));
		break;
	}
	return sv[0];
}

static void
close_broken(int sv[2])
{
	CHECK_OK(close(sv[0]));
	if (sv[1] >= 0)
		CHECK_OK(close(sv[1]));
}

/* After the peer closed, the peer did SHUT_RD, or we did SHUT_WR, every
 * send call fails with EPIPE and raises one SIGPIPE each. */
static void
stream_epipe_sigpipe(void)
{
	static const enum broken cases[] = {
		PEER_CLOSED, PEER_SHUT_RD, OWN_SHUT_WR,
	};
	struct iovec iv = { "x", 1 };
	struct msghdr m = { .msg_iov = &iv, .msg_iovlen = 1 };

	th_catch(SIGPIPE);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int sv[2], fd = broken_pair(cases[i], sv);
		int before = th_signal_count(SIGPIPE);

		CHECK_ERR(send(fd, "x", 1, 0), EPIPE);
		CHECK_EQ(th_signal_count(SIGPIPE), before + 1);
		CHECK_ERR(write(fd, "x", 1), EPIPE);
		CHECK_ERR(sendmsg(fd, &m, 0), EPIPE);
		CHECK_ERR(writev(fd, &iv, 1), EPIPE);
		CHECK_EQ(th_signal_count(SIGPIPE), before + 4);
		close_broken(sv);
	}
}

/* With MSG_NOSIGNAL the same sends fail with EPIPE and raise nothing. */
static void
stream_epipe_nosignal(void)
{
	static const enum broken cases[] = {
		PEER_CLOSED, PEER_SHUT_RD, OWN_SHUT_WR,
	};
	struct iovec iv = { "x", 1 };
	struct msghdr m = { .msg_iov = &iv, .msg_iovlen = 1 };

	th_catch(SIGPIPE);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int sv[2], fd = broken_pair(cases[i], sv);

		CHECK_ERR(send(fd, "x", 1, MSG_NOSIGNAL), EPIPE);
		CHECK_ERR(sendmsg(fd, &m, MSG_NOSIGNAL), EPIPE);
		CHECK_ERR(send(fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT), EPIPE);
		close_broken(sv);
	}
	CHECK_EQ(th_signal_count(SIGPIPE), 0);
}

/* Even a 0-byte send to a closed peer fails with EPIPE. */
static void
stream_epipe_zero_length(void)
{
	int sv[2];

	stream_pair(sv);
	CHECK_OK(close(sv[1]));
	CHECK_ERR(send(sv[0], "", 0, MSG_NOSIGNAL), EPIPE);
	CHECK_OK(close(sv[0]));
}

/* MSG_EOR, MSG_MORE and MSG_CONFIRM are accepted and do not change the
 * byte stream. */
static void
stream_eor_more_accepted(void)
{
	static const int flags[] = { MSG_EOR, MSG_MORE, MSG_CONFIRM,
				     MSG_EOR | MSG_MORE };
	int sv[2];
	char buf[16];

	stream_pair(sv);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		CHECK_EQ(send(sv[0], "ab", 2, flags[i]), 2);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 8);
	CHECK_MEM(buf, "abababab", 8);
	close_pair(sv);
}

/* After the peer sends and closes, recv returns its data, then 0 forever. */
static void
stream_eof_after_data(void)
{
	int sv[2];
	char buf[16];

	stream_pair(sv);
	CHECK_EQ(send(sv[1], "last", 4, 0), 4);
	CHECK_OK(close(sv[1]));
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 4);
	CHECK_MEM(buf, "last", 4);
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 0);
	CHECK_EQ(read(sv[0], buf, sizeof(buf)), 0);
	CHECK_OK(close(sv[0]));
}

/* 1 MiB written by another process in odd-sized sends arrives complete
 * and in order. */
static void
stream_large_transfer(void)
{
	static unsigned char buf[5000];
	int sv[2];
	struct job j = { JOB_SEND_PATTERN, -1, 0, NULL, BIG, -1 };
	struct th_child *c;
	size_t got = 0, bad = 0;
	ssize_t n;

	stream_pair(sv);
	j.fd = sv[0];
	c = th_fork(job_main, &j);
	CHECK_OK(close(sv[0]));
	while ((n = recv(sv[1], buf, sizeof(buf), 0)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern(got + (size_t)i))
				bad++;
		got += (size_t)n;
	}
	CHECK_EQ(n, 0);
	CHECK_EQ(got, BIG);
	CHECK_EQ(bad, 0);
	CHECK_EQ(th_join(c), 0);
	CHECK_OK(close(sv[1]));
}

/* A non-blocking sender queues some bytes, then gets EAGAIN; the reader
 * finds exactly those bytes. */
static void
stream_backpressure_eagain(void)
{
	int sv[2];
	size_t queued;

	stream_pair(sv);
	CHECK_OK(fcntl(sv[0], F_SETFL, O_NONBLOCK));
	queued = fill(sv[0]);
	CHECK(queued > 0);
	CHECK_ERR(send(sv[0], "x", 1, 0), EAGAIN);
	CHECK_ERR(write(sv[0], "x", 1), EAGAIN);
	CHECK_EQ(inq(sv[1]), queued);
	CHECK_EQ(drain(sv[1]), queued);
	CHECK_EQ(send(sv[0], "x", 1, 0), 1);
	close_pair(sv);
}

/* The receiver's SO_RCVBUF does not limit a stream: a tiny receive buffer
 * still takes as much as the sender's SO_SNDBUF allows. */
static void
stream_rcvbuf_no_effect(void)
{
	int sv[2], small = 1;
	size_t queued;

	stream_pair(sv);
	CHECK_OK(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small,
			    sizeof(small)));
	queued = fill(sv[0]);
	CHECK(queued > 65536);
	CHECK_EQ(drain(sv[1]), queued);
	close_pair(sv);
}

/* A sender blocked on a full queue stays blocked until the reader drains,
 * then completes its send. */
static void
stream_blocked_sender_wakes(void)
{
	int sv[2], pp[2];
	char buf[8];
	struct job j = { JOB_SEND, -1, 0, "payload", 7, -1 };
	struct th_child *c;
	size_t queued;

	stream_pair(sv);
	CHECK_OK(pipe(pp));
	queued = fill(sv[0]);
	j.fd = sv[0];
	j.done = pp[1];
	c = th_fork(job_main, &j);
	CHECK(!readable_within(pp[0], 150));
	CHECK_EQ(recv_exact(sv[1], queued), queued);
	CHECK(readable_within(pp[0], 5000));
	CHECK_EQ(read(pp[0], buf, 1), 1);
	CHECK_EQ(th_join(c), 0);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 7);
	CHECK_MEM(buf, "payload", 7);
	close_pair(pp);
	close_pair(sv);
}

/* A send larger than the queue that times out on SO_SNDTIMEO returns the
 * count it queued, which is exactly what the reader finds. */
static void
stream_sndtimeo_partial(void)
{
	static char big[BIG];
	int sv[2];
	ssize_t n;
	long long t0;

	stream_pair(sv);
	set_timeo(sv[0], SO_SNDTIMEO, 100);
	t0 = th_now_ms();
	n = send(sv[0], big, sizeof(big), 0);
	CHECK(th_now_ms() - t0 >= 90);
	CHECK(n > 0 && n < (ssize_t)sizeof(big));
	CHECK_EQ(inq(sv[1]), n);
	CHECK_ERR(send(sv[0], big, sizeof(big), 0), EAGAIN);
	CHECK_EQ(drain(sv[1]), n);
	close_pair(sv);
}

/* FIONREAD and SIOCINQ report the total of unread bytes across sends. */
static void
stream_fionread_totals(void)
{
	int sv[2], n = -1;
	char buf[8];

	stream_pair(sv);
	CHECK_EQ(inq(sv[1]), 0);
	CHECK_EQ(send(sv[0], "abc", 3, 0), 3);
	CHECK_EQ(send(sv[0], "defgh", 5, 0), 5);
	CHECK_EQ(inq(sv[1]), 8);
	CHECK_OK(ioctl(sv[1], SIOCINQ, &n));
	CHECK_EQ(n, 8);
	CHECK_EQ(recv(sv[1], buf, 4, 0), 4);
	CHECK_EQ(inq(sv[1]), 4);
	CHECK_EQ(recv(sv[1], buf, 2, MSG_PEEK), 2);
	CHECK_EQ(inq(sv[1]), 4);
	CHECK_EQ(inq(sv[0]), 0);
	close_pair(sv);
}

/* SIOCOUTQ is 0 with nothing queued, at least the unread bytes while the
 * peer has not read them (Linux counts buffer memory, not bytes), and 0
 * again once they are read. */
static void
stream_siocoutq(void)
{
	int sv[2];
	char buf[16];

	stream_pair(sv);
	CHECK_EQ(outq(sv[0]), 0);
	CHECK_EQ(send(sv[0], "abc", 3, 0), 3);
	CHECK_EQ(send(sv[0], "defgh", 5, 0), 5);
	CHECK(outq(sv[0]) >= 8);
	CHECK_EQ(outq(sv[1]), 0);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 8);
	CHECK_EQ(outq(sv[0]), 0);
	close_pair(sv);
}

static const struct th_test tests[] = {
	{ "stream_send_recv", stream_send_recv },
	{ "stream_peek_target_returns_at_once",
	  stream_peek_target_returns_at_once },
	{ "stream_read_write", stream_read_write },
	{ "stream_readv_writev", stream_readv_writev },
	{ "stream_sendmsg_recvmsg", stream_sendmsg_recvmsg },
	{ "stream_recvfrom_names", stream_recvfrom_names },
	{ "stream_send_before_accept", stream_send_before_accept },
	{ "stream_joins_sends", stream_joins_sends },
	{ "stream_partial_reads", stream_partial_reads },
	{ "stream_peek_spans_sends", stream_peek_spans_sends },
	{ "stream_dontwait_eagain", stream_dontwait_eagain },
	{ "stream_waitall_complete", stream_waitall_complete },
	{ "stream_waitall_short_at_eof", stream_waitall_short_at_eof },
	{ "stream_waitall_short_at_timeout", stream_waitall_short_at_timeout },
	{ "stream_msg_trunc_ignored", stream_msg_trunc_ignored },
	{ "stream_zero_send", stream_zero_send },
	{ "stream_zero_recv", stream_zero_recv },
	{ "stream_send_unconnected", stream_send_unconnected },
	{ "stream_recv_unconnected", stream_recv_unconnected },
	{ "stream_recv_listening", stream_recv_listening },
	{ "stream_sendto_connected", stream_sendto_connected },
	{ "stream_sendto_unconnected", stream_sendto_unconnected },
	{ "stream_epipe_sigpipe", stream_epipe_sigpipe },
	{ "stream_epipe_nosignal", stream_epipe_nosignal },
	{ "stream_epipe_zero_length", stream_epipe_zero_length },
	{ "stream_eor_more_accepted", stream_eor_more_accepted },
	{ "stream_eof_after_data", stream_eof_after_data },
	{ "stream_large_transfer", stream_large_transfer },
	{ "stream_backpressure_eagain", stream_backpressure_eagain },
	{ "stream_rcvbuf_no_effect", stream_rcvbuf_no_effect },
	{ "stream_blocked_sender_wakes", stream_blocked_sender_wakes },
	{ "stream_sndtimeo_partial", stream_sndtimeo_partial },
	{ "stream_fionread_totals", stream_fionread_totals },
	{ "stream_siocoutq", stream_siocoutq },
};

TH_MAIN(tests)

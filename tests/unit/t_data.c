/*
 * Unit tests: data through ks_sendmsg/ks_recvmsg. Iovecs of several
 * segments (including empty ones), stream joining, record boundaries and
 * truncation for seqpacket and dgram, peeking, MSG_WAITALL, shutdown and
 * its effect on the peer, the send-side errors, FIONREAD/SIOCOUTQ, and
 * backpressure from the send buffer.
 */
#include "unit.h"

#include <signal.h>

/* Sends @n segments of @iov as one message. */
static long
sendv(struct ks_sock *so, struct ks_iovec *iov, size_t n, int flags)
{
	struct ks_msghdr msg = { .msg_iov = iov, .msg_iovlen = n };

	return ks_sendmsg(so, &msg, flags);
}

/* Receives into @n segments of @iov; *@mflags gets msg_flags. */
static long
recvv(struct ks_sock *so, struct ks_iovec *iov, size_t n, int flags,
      int *mflags)
{
	struct ks_msghdr msg = { .msg_iov = iov, .msg_iovlen = n };
	long r = ks_recvmsg(so, &msg, flags);

	if (mflags != NULL)
		*mflags = msg.msg_flags;
	return r;
}

static void
fill(char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(seed + i * 7 + (i >> 8));
}


/* A stream carries a message of four segments (one empty) into a
 * receive vector of other sizes, joined with the next send. */
static void
t_stream_iovecs(void)
{
	static char out[1 + 1000 + 7 + 300], in[sizeof(out)];
	struct ks_iovec siov[4] = {
		{ out, 1 }, { out + 1, 1000 }, { NULL, 0 }, { out + 1001, 7 },
	};
	struct ks_iovec riov[3] = {
		{ in, 500 }, { in + 500, 3 }, { in + 503, sizeof(in) - 503 },
	};
	struct ks_sock *s[2];

	fill(out, sizeof(out), 1);
	ut_pair(KS_SOCK_STREAM, s);
	EQ(sendv(s[0], siov, 4, 0), 1008);
	EQ(ut_send(s[0], out + 1008, 300, 0), 300);
	EQ(recvv(s[1], riov, 3, KS_MSG_WAITALL, NULL), (long)sizeof(in));
	CHECK_MEM(in, out, sizeof(in));
	/* A short receive leaves the rest for the next one. */
	EQ(sendv(s[1], siov, 4, 0), 1008);
	EQ(ut_recv(s[0], in, 10, 0), 10);
	EQ(recvv(s[0], riov, 3, 0, NULL), 998);
	CHECK_MEM(in, out + 10, 998);
}

/* Seqpacket keeps records: a short buffer gets the record's start and
 * MSG_TRUNC, the rest is dropped; the MSG_TRUNC flag returns the real
 * length; a zero-length record reads as 0. */
static void
t_seqpacket_records(void)
{
	struct ks_sock *s[2];
	char buf[64];
	int mf = 0;
	struct ks_iovec riov[2] = { { buf, 2 }, { buf + 2, 2 } };

	ut_pair(KS_SOCK_SEQPACKET, s);
	EQ(ut_send(s[0], "first", 5, 0), 5);
	EQ(ut_send(s[0], "second", 6, 0), 6);
	EQ(ut_send(s[0], "", 0, 0), 0);
	EQ(ut_send(s[0], "fourth", 6, KS_MSG_EOR), 6);
	EQ(ut_recv(s[1], buf, sizeof(buf), 0), 5);
	CHECK_MEM(buf, "first", 5);
	EQ(recvv(s[1], riov, 2, 0, &mf), 4);
	CHECK_MEM(buf, "seco", 4);
	CHECK((mf & KS_MSG_TRUNC) != 0);
	EQ(ut_recvfrom(s[1], buf, sizeof(buf), 0, NULL, NULL, &mf), 0);
	CHECK_EQ(mf & KS_MSG_TRUNC, 0);
	EQ(ut_recv(s[1], buf, 3, KS_MSG_TRUNC), 6);
	CHECK_MEM(buf, "fou", 3);
	ERR(ut_recv(s[1], buf, sizeof(buf), KS_MSG_DONTWAIT), -KS_EAGAIN);
}

/* Dgram keeps records and truncates like seqpacket; zero-length
 * datagrams exist; a payload above SO_SNDBUF - 32 is EMSGSIZE; recvfrom
 * reports the sender's name. */
static void
t_dgram_records(void)
{
	struct ks_sockaddr_un ra, sa, from;
	struct ks_sock *r, *s;
	uint32_t rlen = ut_abstract(&ra, "dr-r");
	uint32_t slen = ut_abstract(&sa, "dr-s");
	uint32_t flen;
	static char big[4608];
	char buf[64];
	int mf = 0, sndbuf = 0;

	r = ut_socket(KS_SOCK_DGRAM);
	s = ut_socket(KS_SOCK_DGRAM);
	OK(ks_bind(r, &ra, rlen));
	OK(ks_bind(s, &sa, slen));
	EQ(ut_sendto(s, "hello", 5, 0, &ra, rlen), 5);
	EQ(ut_sendto(s, "", 0, 0, &ra, rlen), 0);
	EQ(ut_sendto(s, "truncated", 9, 0, &ra, rlen), 9);
	flen = sizeof(from);
	EQ(ut_recvfrom(r, buf, sizeof(buf), 0, &from, &flen, &mf), 5);
	CHECK_MEM(buf, "hello", 5);
	CHECK_EQ(flen, slen);
	CHECK_MEM(&from, &sa, slen);
	EQ(ut_recv(r, buf, sizeof(buf), 0), 0);
	EQ(ut_recvfrom(r, buf, 5, 0, NULL, NULL, &mf), 5);
	CHECK((mf & KS_MSG_TRUNC) != 0);
	ERR(ut_recv(r, buf, sizeof(buf), KS_MSG_DONTWAIT), -KS_EAGAIN);

	EQ(ut_setint(s, KS_SO_SNDBUF, 1), 0);		/* the minimum, 4608 */
	EQ(ut_getint(s, KS_SO_SNDBUF, &sndbuf), 0);
	CHECK_EQ(sndbuf, 4608);
	EQ(ut_sendto(s, big, 4608 - 32, 0, &ra, rlen), 4608 - 32);
	ERR(ut_sendto(s, big, 4608 - 31, 0, &ra, rlen), -KS_EMSGSIZE);
	EQ(ut_recv(r, big, sizeof(big), 0), 4608 - 32);
}

/* MSG_PEEK leaves data in place, on a stream (across sends) and on a
 * dgram socket (one datagram). */
static void
t_peek(void)
{
	struct ks_sock *s[2], *d[2];
	char buf[16];

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_send(s[0], "abc", 3, 0), 3);
	EQ(ut_send(s[0], "def", 3, 0), 3);
	EQ(ut_recv(s[1], buf, sizeof(buf), KS_MSG_PEEK), 6);
	CHECK_MEM(buf, "abcdef", 6);
	EQ(ut_recv(s[1], buf, 2, 0), 2);
	EQ(ut_recv(s[1], buf, sizeof(buf), KS_MSG_PEEK), 4);
	CHECK_MEM(buf, "cdef", 4);
	EQ(ut_recv(s[1], buf, sizeof(buf), 0), 4);

	ut_pair(KS_SOCK_DGRAM, d);
	EQ(ut_send(d[0], "one", 3, 0), 3);
	EQ(ut_send(d[0], "two", 3, 0), 3);
	EQ(ut_recv(d[1], buf, sizeof(buf), KS_MSG_PEEK), 3);
	CHECK_MEM(buf, "one", 3);
	EQ(ut_recv(d[1], buf, sizeof(buf), 0), 3);
	CHECK_MEM(buf, "one", 3);
	EQ(ut_recv(d[1], buf, sizeof(buf), 0), 3);
	CHECK_MEM(buf, "two", 3);
}

/* MSG_WAITALL returns short at EOF; MSG_DONTWAIT on an empty socket is
 * EAGAIN; a 0-byte stream send returns 0 and queues nothing. */
static void
t_waitall_dontwait_zero(void)
{
	struct ks_sock *s[2];
	char buf[16];
	int n = -1;

	ut_pair(KS_SOCK_STREAM, s);
	ERR(ut_recv(s[1], buf, sizeof(buf), KS_MSG_DONTWAIT), -KS_EAGAIN);
	EQ(ut_send(s[0], "", 0, 0), 0);
	EQ(ut_ioctl_int(s[1], KS_FIONREAD, &n), 0);
	CHECK_EQ(n, 0);
	ERR(ut_recv(s[1], buf, sizeof(buf), KS_MSG_DONTWAIT), -KS_EAGAIN);
	EQ(ut_send(s[0], "abcd", 4, 0), 4);
	EQ(ks_shutdown(s[0], KS_SHUT_WR), 0);
	EQ(ut_recv(s[1], buf, sizeof(buf), KS_MSG_WAITALL), 4);
	EQ(ut_recv(s[1], buf, sizeof(buf), KS_MSG_WAITALL), 0);
}

/* shutdown mirrors to the peer: my SHUT_WR gives the peer EOF after the
 * queued data and me EPIPE; my SHUT_RD gives the peer EPIPE while I can
 * still read what was queued; how > 2 is EINVAL; shutting down an
 * unconnected socket succeeds. A dgram shutdown is not mirrored, but a
 * send to a peer that shut its receive side is EPIPE (without SIGPIPE). */
static void
t_shutdown(void)
{
	struct ks_sock *s[2], *u, *d[2];
	char buf[8];

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_send(s[0], "q", 1, 0), 1);
	EQ(ks_shutdown(s[0], KS_SHUT_WR), 0);
	ERR(ut_send(s[0], "x", 1, KS_MSG_NOSIGNAL), -KS_EPIPE);
	EQ(ut_recv(s[1], buf, sizeof(buf), 0), 1);
	EQ(ut_recv(s[1], buf, sizeof(buf), 0), 0);
	EQ(ut_send(s[1], "back", 4, 0), 4);		/* the other way works */
	EQ(ut_recv(s[0], buf, sizeof(buf), 0), 4);

	EQ(ut_send(s[1], "r", 1, 0), 1);
	EQ(ks_shutdown(s[0], KS_SHUT_RD), 0);
	ERR(ut_send(s[1], "x", 1, KS_MSG_NOSIGNAL), -KS_EPIPE);
	EQ(ut_recv(s[0], buf, sizeof(buf), 0), 1);
	EQ(ut_recv(s[0], buf, sizeof(buf), 0), 0);
	ERR(ks_shutdown(s[0], 3), -KS_EINVAL);
	ERR(ks_shutdown(s[0], -1), -KS_EINVAL);

	u = ut_socket(KS_SOCK_STREAM);
	EQ(ks_shutdown(u, KS_SHUT_RDWR), 0);

	ut_pair(KS_SOCK_DGRAM, d);
	EQ(ks_shutdown(d[0], KS_SHUT_RD), 0);
	ERR(ut_send(d[1], "x", 1, 0), -KS_EPIPE);
	EQ(ks_shutdown(d[1], KS_SHUT_WR), 0);
	ERR(ut_send(d[1], "x", 1, KS_MSG_NOSIGNAL), -KS_EPIPE);
	EQ(ut_send(d[0], "y", 1, 0), 1);
}

/* The send side's errors on an unconnected stream socket, and on a
 * connected one given an address. */
static void
t_send_errors(void)
{
	struct ks_sockaddr_un a;
	uint32_t alen = ut_abstract(&a, "nobody");
	struct ks_sock *u, *s[2];
	char c;

	u = ut_socket(KS_SOCK_STREAM);
	ERR(ut_send(u, "a", 1, KS_MSG_NOSIGNAL), -KS_ENOTCONN);
	ERR(ut_sendto(u, "a", 1, 0, &a, alen), -KS_EOPNOTSUPP);
	ERR(ut_recv(u, &c, 1, KS_MSG_DONTWAIT), -KS_EINVAL);
	ut_pair(KS_SOCK_STREAM, s);
	ERR(ut_sendto(s[0], "a", 1, 0, &a, alen), -KS_EISCONN);
}

static volatile sig_atomic_t pipes;

static void
count_pipe(int sig)
{
	(void)sig;
	pipes++;
}

/* EPIPE on a stream comes with SIGPIPE, unless MSG_NOSIGNAL; seqpacket
 * never signals. */
static void
t_sigpipe(void)
{
	struct ks_sock *s[2], *q[2];
	struct sigaction sa = { .sa_handler = count_pipe };

	sigaction(SIGPIPE, &sa, NULL);
	ut_pair(KS_SOCK_STREAM, s);
	ut_pair(KS_SOCK_SEQPACKET, q);
	ut_close(&s[1]);
	ut_close(&q[1]);
	ERR(ut_send(s[0], "a", 1, KS_MSG_NOSIGNAL), -KS_EPIPE);
	CHECK_EQ(pipes, 0);
	ERR(ut_send(s[0], "a", 1, 0), -KS_EPIPE);
	CHECK_EQ(pipes, 1);
	ERR(ut_send(q[0], "a", 1, 0), -KS_EPIPE);
	CHECK_EQ(pipes, 1);
	signal(SIGPIPE, SIG_IGN);
}

/* FIONREAD: stream total unread, dgram the first datagram, EINVAL on a
 * listener; SIOCOUTQ: non-zero while the sender has data queued unread
 * (Linux counts buffer memory, not bytes), 0 once it is read. */
static void
t_ioctl_queues(void)
{
	struct ks_sockaddr_un a;
	uint32_t alen = ut_abstract(&a, "ioctl-l");
	struct ks_sock *s[2], *d[2], *l;
	char buf[16];
	int n = -1;

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_send(s[0], "abc", 3, 0), 3);
	EQ(ut_send(s[0], "defgh", 5, 0), 5);
	EQ(ut_ioctl_int(s[1], KS_FIONREAD, &n), 0);
	CHECK_EQ(n, 8);
	EQ(ut_ioctl_int(s[0], KS_SIOCOUTQ, &n), 0);
	CHECK(n >= 8);
	EQ(ut_recv(s[1], buf, 4, 0), 4);
	EQ(ut_ioctl_int(s[1], KS_SIOCINQ, &n), 0);
	CHECK_EQ(n, 4);
	EQ(ut_ioctl_int(s[0], KS_SIOCOUTQ, &n), 0);
	CHECK(n >= 4);
	EQ(ut_recv(s[1], buf, sizeof(buf), 0), 4);
	EQ(ut_ioctl_int(s[0], KS_SIOCOUTQ, &n), 0);
	CHECK_EQ(n, 0);
	ERR(ks_ioctl(s[0], 0x12345678, &n), -KS_ENOTTY);

	ut_pair(KS_SOCK_DGRAM, d);
	EQ(ut_send(d[0], "12", 2, 0), 2);
	EQ(ut_send(d[0], "34567", 5, 0), 5);
	EQ(ut_ioctl_int(d[1], KS_FIONREAD, &n), 0);
	CHECK_EQ(n, 2);

	l = ut_socket(KS_SOCK_STREAM);
	OK(ks_bind(l, &a, alen));
	OK(ks_listen(l, 1));
	ERR(ut_ioctl_int(l, KS_FIONREAD, &n), -KS_EINVAL);
	EQ(ut_ioctl_int(l, KS_SIOCOUTQ, &n), 0);
	CHECK_EQ(n, 0);
}

/* A stream sender fills its SO_SNDBUF: non-blocking sends stop with
 * EAGAIN (after a short count at most once) at a bounded amount; once
 * the receiver drains, it can send again. */
static void
t_stream_backpressure(void)
{
	static char chunk[4096];
	struct ks_sock *s[2];
	long total = 0, r = 0, got = 0;

	ut_pair(KS_SOCK_STREAM | KS_SOCK_NONBLOCK, s);
	EQ(ut_setint(s[0], KS_SO_SNDBUF, 16384), 0);	/* 32768 */
	for (int i = 0; i < 1000 && ut_live(); i++) {
		r = CALL(ut_send(s[0], chunk, sizeof(chunk), 0));
		if (r < 0)
			break;
		total += r;
	}
	if (!ut_live())
		return;
	CHECK_EQ(r, -KS_EAGAIN);
	CHECK(total >= 16384);
	CHECK(total <= 32768 + (long)sizeof(chunk));
	CHECK((ks_poll(s[0], NULL) & KS_POLLOUT) == 0);
	for (int i = 0; i < 1000 && ut_live(); i++) {
		r = CALL(ut_recv(s[1], chunk, sizeof(chunk), 0));
		if (r <= 0)
			break;
		got += r;
	}
	CHECK_EQ(r, -KS_EAGAIN);
	CHECK_EQ(got, total);
	CHECK((ks_poll(s[0], NULL) & KS_POLLOUT) != 0);
	EQ(ut_send(s[0], chunk, sizeof(chunk), 0), (long)sizeof(chunk));
}

/* The byte at offset @off of a bulk transfer. */
static char
byte_at(long off)
{
	return (char)(off * 7 + (off >> 9));
}

/* 256 KiB go through a stream pair and a seqpacket pair in interleaved
 * non-blocking sends and receives, intact and in order. */
static void
t_bulk_transfer(void)
{
	enum { TOTAL = 256 * 1024, CHUNK = 6000 };
	static char out[CHUNK], in[CHUNK];
	static const int types[] = { KS_SOCK_STREAM, KS_SOCK_SEQPACKET };

	for (size_t t = 0; t < 2; t++) {
		struct ks_sock *s[2];
		long sent = 0, got = 0, r;

		ut_pair(types[t] | KS_SOCK_NONBLOCK, s);
		while (got < TOTAL && ut_live()) {
			if (sent < TOTAL) {
				size_t n = sent + CHUNK <= TOTAL ? CHUNK
								 : TOTAL - sent;

				for (size_t i = 0; i < n; i++)
					out[i] = byte_at(sent + (long)i);
				r = CALL(ut_send(s[0], out, n, 0));
				if (r >= 0) {
					if (types[t] == KS_SOCK_SEQPACKET)
						EQ(r, (long)n);
					sent += r;
				} else if (r != -KS_EAGAIN && ut_live()) {
					ut_fail(__FILE__, __LINE__,
						"send: %ld", r);
					break;
				}
			}
			r = CALL(ut_recv(s[1], in, CHUNK, 0));
			if (r > 0) {
				for (long i = 0; i < r; i++)
					if (in[i] != byte_at(got + i)) {
						ut_fail(__FILE__, __LINE__,
							"byte %ld differs",
							got + i);
						break;
					}
				got += r;
			} else if (r != -KS_EAGAIN && ut_live()) {
				ut_fail(__FILE__, __LINE__, "recv: %ld", r);
				break;
			}
		}
		CHECK_EQ(got, TOTAL);
		ut_close(&s[0]);
		ut_close(&s[1]);
	}
}

/* A dgram message of three segments (one empty) arrives into two
 * receive segments: the start fills both, MSG_TRUNC is set, and the
 * MSG_TRUNC flag returns the whole length. */
static void
t_dgram_iovecs(void)
{
	struct ks_iovec siov[3] = {
		{ "abc", 3 }, { NULL, 0 }, { "defgh", 5 },
	};
	char p1[2], p2[3];
	struct ks_iovec riov[2] = { { p1, 2 }, { p2, 3 } };
	struct ks_sock *d[2];
	int mf = 0;

	ut_pair(KS_SOCK_DGRAM, d);
	EQ(sendv(d[0], siov, 3, 0), 8);
	EQ(recvv(d[1], riov, 2, 0, &mf), 5);
	CHECK_MEM(p1, "ab", 2);
	CHECK_MEM(p2, "cde", 3);
	CHECK((mf & KS_MSG_TRUNC) != 0);
	EQ(sendv(d[0], siov, 3, 0), 8);
	EQ(recvv(d[1], riov, 2, KS_MSG_TRUNC, &mf), 8);
	ERR(recvv(d[1], riov, 2, KS_MSG_DONTWAIT, NULL), -KS_EAGAIN);
}

/* SO_PEEK_OFF (default -1): from 0, each peek continues where the last
 * one ended, and a normal read moves the offset back. */
static void
t_peek_off(void)
{
	struct ks_sock *s[2];
	char buf[16];
	int v = 0;

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_send(s[0], "abc", 3, 0), 3);
	EQ(ut_send(s[0], "def", 3, 0), 3);
	EQ(ut_getint(s[1], KS_SO_PEEK_OFF, &v), 0);
	CHECK_EQ(v, -1);
	EQ(ut_setint(s[1], KS_SO_PEEK_OFF, 0), 0);
	EQ(ut_recv(s[1], buf, 2, KS_MSG_PEEK), 2);
	CHECK_MEM(buf, "ab", 2);
	EQ(ut_recv(s[1], buf, 2, KS_MSG_PEEK), 2);
	CHECK_MEM(buf, "cd", 2);
	EQ(ut_recv(s[1], buf, 3, 0), 3);
	CHECK_MEM(buf, "abc", 3);
	EQ(ut_getint(s[1], KS_SO_PEEK_OFF, &v), 0);
	CHECK_EQ(v, 1);
	EQ(ut_recv(s[1], buf, sizeof(buf), KS_MSG_PEEK), 2);
	CHECK_MEM(buf, "ef", 2);
}

struct writer {
	struct ks_sock	*so;
	const char	*text;
	uint32_t	 uid;
};

static int
write_as(void *p)
{
	struct writer *w = p;

	ut_become(w->uid, w->uid);
	EQ(ut_sends(w->so, w->text), (long)strlen(w->text));
	return 0;
}

/* A stream receiver with SO_PASSCRED never joins data from writers with
 * different credentials into one read; without it, it does. The second
 * writer is another user's process sharing the socket. */
static void
t_stream_creds_not_joined(void)
{
	struct ks_sock *s[2];
	struct writer w = { .text = "bbb", .uid = 1000 };
	char buf[16];

	for (int passcred = 1; passcred >= 0; passcred--) {
		ut_pair(KS_SOCK_STREAM, s);
		EQ(ut_setint(s[1], KS_SO_PASSCRED, passcred), 0);
		EQ(ut_sends(s[0], "aaa"), 3);
		w.so = s[0];
		ut_join(ut_spawn(write_as, &w));
		EQ(ut_sends(s[0], "ccc"), 3);
		if (passcred) {
			EQ(ut_recv(s[1], buf, sizeof(buf), 0), 3);
			CHECK_MEM(buf, "aaa", 3);
			EQ(ut_recv(s[1], buf, sizeof(buf), 0), 3);
			CHECK_MEM(buf, "bbb", 3);
			EQ(ut_recv(s[1], buf, sizeof(buf), 0), 3);
			CHECK_MEM(buf, "ccc", 3);
		} else {
			EQ(ut_recv(s[1], buf, sizeof(buf), 0), 9);
			CHECK_MEM(buf, "aaabbbccc", 9);
		}
		ut_close(&s[0]);
		ut_close(&s[1]);
	}
}

/* A socket that has passed data and has nothing queued holds no more
 * allocations than it did when new (buffers are freed once read), for
 * each type. */
static void
t_idle_socket_holds_nothing(void)
{
	static const int types[] = {
		KS_SOCK_STREAM, KS_SOCK_DGRAM, KS_SOCK_SEQPACKET,
	};
	static char buf[5000];

	for (size_t i = 0; i < 3; i++) {
		struct ks_sock *s[2];
		long before;

		ut_pair(types[i], s);
		before = ksp_alloc_outstanding();
		for (int k = 0; k < 10 && ut_live(); k++) {
			EQ(ut_send(s[0], buf, sizeof(buf), 0), (long)sizeof(buf));
			EQ(ut_send(s[1], buf, 10, 0), 10);
			EQ(ut_recv(s[1], buf, sizeof(buf), KS_MSG_WAITALL),
			   (long)sizeof(buf));
			EQ(ut_recv(s[0], buf, sizeof(buf), 0), 10);
		}
		CHECK_EQ(ksp_alloc_outstanding(), before);
		ut_close(&s[0]);
		ut_close(&s[1]);
	}
}

static const struct ut_test tests[] = {
	{ "stream_iovecs",		t_stream_iovecs, 0 },
	{ "seqpacket_records",		t_seqpacket_records, 0 },
	{ "dgram_records",		t_dgram_records, 0 },
	{ "peek",			t_peek, 0 },
	{ "waitall_dontwait_zero",	t_waitall_dontwait_zero, 0 },
	{ "shutdown",			t_shutdown, 0 },
	{ "send_errors",		t_send_errors, 0 },
	{ "sigpipe",			t_sigpipe, 0 },
	{ "ioctl_queues",		t_ioctl_queues, 0 },
	{ "stream_backpressure",	t_stream_backpressure, 0 },
	{ "bulk_transfer",		t_bulk_transfer, 0 },
	{ "dgram_iovecs",		t_dgram_iovecs, 0 },
	{ "peek_off",			t_peek_off, 0 },
	{ "stream_creds_not_joined",	t_stream_creds_not_joined, 0 },
	{ "idle_socket_holds_nothing",	t_idle_socket_holds_nothing, 0 },
};

UT_MAIN(tests)

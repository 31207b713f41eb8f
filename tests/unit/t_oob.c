/*
 * Unit tests: out-of-band data on stream sockets through the ks_* API.
 * The byte, the mark (SIOCATMARK), reads that stop at it or drop it,
 * SO_OOBINLINE, peeks, POLLPRI, SIGURG to the owner, what the byte costs
 * its sender, and the errors on other socket types. Linux is the oracle:
 * the expectations below are what Linux 6.18 does (tests/conform/t_oob.c
 * checks the same on both).
 */
#include "unit.h"

#include <signal.h>
#include <unistd.h>

static int
at_mark(struct ks_sock *so)
{
	int v = -1;

	if (ut_live() && ut_ioctl_int(so, KS_SIOCATMARK, &v) < 0)
		return -1;
	return v;
}

static int
inq(struct ks_sock *so)
{
	int v = -1;

	if (ut_live() && ut_ioctl_int(so, KS_FIONREAD, &v) < 0)
		return -1;
	return v;
}

static int
outq(struct ks_sock *so)
{
	int v = -1;

	if (ut_live() && ut_ioctl_int(so, KS_SIOCOUTQ, &v) < 0)
		return -1;
	return v;
}

static bool
has_pri(struct ks_sock *so)
{
	return (ks_poll(so, NULL) & KS_POLLPRI) != 0;
}

/* recv(MSG_OOB) of one byte; *@mflags gets msg_flags. */
static long
recv_oob(struct ks_sock *so, char *c, int flags, int *mflags)
{
	return ut_recvfrom(so, c, 1, KS_MSG_OOB | KS_MSG_DONTWAIT | flags,
			   NULL, NULL, mflags);
}

static long
rd(struct ks_sock *so, char *buf, size_t len)
{
	return ut_recv(so, buf, len, KS_MSG_DONTWAIT);
}

/* The last byte of a MSG_OOB send is out of band: it counts in FIONREAD
 * until taken, recv(MSG_OOB) returns it with MSG_OOB in msg_flags, a
 * normal read stops at the mark, and SIOCATMARK reads 1 there. */
static void
t_byte_and_mark(void)
{
	struct ks_sock *s[2];
	char buf[16], c = 0;
	int mf = 0;

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_send(s[0], "abc", 3, KS_MSG_OOB), 3);
	EQ(ut_send(s[0], "de", 2, 0), 2);
	CHECK_EQ(at_mark(s[1]), 0);
	CHECK_EQ(inq(s[1]), 5);
	CHECK(has_pri(s[1]));
	CHECK(!has_pri(s[0]));
	EQ(recv_oob(s[1], &c, 0, &mf), 1);
	CHECK_EQ(c, 'c');
	CHECK_EQ(mf & KS_MSG_OOB, KS_MSG_OOB);
	CHECK(!has_pri(s[1]));
	CHECK_EQ(inq(s[1]), 4);
	EQ(rd(s[1], buf, sizeof(buf)), 2);
	CHECK_MEM(buf, "ab", 2);
	CHECK_EQ(at_mark(s[1]), 1);
	EQ(rd(s[1], buf, sizeof(buf)), 2);
	CHECK_MEM(buf, "de", 2);
	CHECK_EQ(at_mark(s[1]), 0);
	ERR(rd(s[1], buf, sizeof(buf)), -KS_EAGAIN);
}

/* A read stops at the mark even with MSG_WAITALL, and a blocking one
 * returns what it has rather than waiting. */
static void
t_waitall_stops_at_mark(void)
{
	struct ks_sock *s[2];
	char buf[16];

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_send(s[0], "gh", 2, KS_MSG_OOB), 2);
	EQ(ut_send(s[0], "ij", 2, 0), 2);
	EQ(ut_recv(s[1], buf, sizeof(buf), KS_MSG_WAITALL), 1);
	CHECK_EQ(buf[0], 'g');
}

/* A second OOB send turns the first byte into ordinary data. */
static void
t_second_send_demotes_first(void)
{
	struct ks_sock *s[2];
	char buf[16], c = 0;

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_send(s[0], "xy", 2, KS_MSG_OOB), 2);
	EQ(ut_send(s[0], "z", 1, KS_MSG_OOB), 1);
	EQ(rd(s[1], buf, sizeof(buf)), 2);
	CHECK_MEM(buf, "xy", 2);
	CHECK_EQ(at_mark(s[1]), 1);
	EQ(recv_oob(s[1], &c, 0, NULL), 1);
	CHECK_EQ(c, 'z');
	ERR(rd(s[1], buf, sizeof(buf)), -KS_EAGAIN);
}

/* A read that starts at the byte drops it (and it is no longer pending);
 * a lone byte is not data, so that read finds nothing. */
static void
t_read_at_mark_drops_byte(void)
{
	struct ks_sock *s[2];
	char buf[16], c;

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_send(s[0], "ab", 2, KS_MSG_OOB), 2);
	EQ(ut_send(s[0], "cd", 2, 0), 2);
	EQ(rd(s[1], buf, sizeof(buf)), 1);
	EQ(rd(s[1], buf, sizeof(buf)), 2);
	CHECK_MEM(buf, "cd", 2);
	ERR(recv_oob(s[1], &c, 0, NULL), -KS_EINVAL);
	CHECK(!has_pri(s[1]));

	EQ(ut_send(s[0], "x", 1, KS_MSG_OOB), 1);
	CHECK_EQ(at_mark(s[1]), 1);
	CHECK_EQ(inq(s[1]), 1);
	ERR(rd(s[1], buf, sizeof(buf)), -KS_EAGAIN);
	CHECK_EQ(inq(s[1]), 0);
	ERR(recv_oob(s[1], &c, 0, NULL), -KS_EINVAL);
	CHECK_EQ(outq(s[0]), 0);
}

/* Taking the byte leaves the mark: a read still stops there, and once
 * past it the queue is empty, the sender uncharged. */
static void
t_taken_byte_leaves_mark(void)
{
	struct ks_sock *s[2];
	char buf[16], c;

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_send(s[0], "abc", 3, KS_MSG_OOB), 3);
	EQ(ut_send(s[0], "de", 2, 0), 2);
	EQ(recv_oob(s[1], &c, 0, NULL), 1);
	EQ(rd(s[1], buf, sizeof(buf)), 2);
	CHECK_MEM(buf, "ab", 2);
	CHECK_EQ(at_mark(s[1]), 1);
	EQ(rd(s[1], buf, sizeof(buf)), 2);
	CHECK_MEM(buf, "de", 2);
	CHECK_EQ(outq(s[0]), 0);
}

/* The byte costs its sender a message of its own, as Linux's sk_buff;
 * sending and taking bytes over and over leaves one empty mark, not one
 * per byte. */
static void
t_byte_charged_and_marks_merge(void)
{
	struct ks_sock *s[2];
	char c;
	int one = -1;
	long before = 0;

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_send(s[0], "x", 1, 0), 1);
	one = outq(s[0]);
	EQ(ut_send(s[0], "y", 1, KS_MSG_OOB), 1);
	CHECK_EQ(outq(s[0]), 2 * one);
	EQ(ut_send(s[0], "ab", 2, KS_MSG_OOB), 2);
	CHECK_EQ(outq(s[0]), 4 * one);
	EQ(recv_oob(s[1], &c, 0, NULL), 1);
	if (ut_live())
		before = ksp_alloc_outstanding();
	for (int i = 0; i < 50 && ut_live(); i++) {
		EQ(ut_send(s[0], "z", 1, KS_MSG_OOB), 1);
		EQ(recv_oob(s[1], &c, 0, NULL), 1);
		CHECK_EQ(c, 'z');
	}
	if (ut_live())
		CHECK_EQ(ksp_alloc_outstanding(), before);
}

/* With SO_OOBINLINE the byte is data: recv(MSG_OOB) is EINVAL, POLLPRI
 * still shows it, a read stops at the mark, and the next read returns it
 * followed by later data. */
static void
t_inline(void)
{
	struct ks_sock *s[2];
	char buf[16], c;
	int v = 0;

	ut_pair(KS_SOCK_STREAM, s);
	OK(ut_setint(s[1], KS_SO_OOBINLINE, 1));
	OK(ut_getint(s[1], KS_SO_OOBINLINE, &v));
	CHECK_EQ(v, 1);
	EQ(ut_send(s[0], "ab", 2, KS_MSG_OOB), 2);
	EQ(ut_send(s[0], "cd", 2, 0), 2);
	ERR(recv_oob(s[1], &c, 0, NULL), -KS_EINVAL);
	CHECK(has_pri(s[1]));
	EQ(rd(s[1], buf, sizeof(buf)), 1);
	CHECK_EQ(at_mark(s[1]), 1);
	/* A peek reads the byte inline and leaves it pending. */
	EQ(ut_recv(s[1], buf, sizeof(buf), KS_MSG_PEEK | KS_MSG_DONTWAIT), 3);
	CHECK_MEM(buf, "bcd", 3);
	CHECK(has_pri(s[1]));
	EQ(rd(s[1], buf, sizeof(buf)), 3);
	CHECK_MEM(buf, "bcd", 3);
	CHECK_EQ(ks_poll(s[1], NULL) & (KS_POLLIN | KS_POLLPRI), 0);
}

/* Peeks: MSG_OOB|MSG_PEEK leaves the byte; a normal peek stops at the
 * mark; one that starts there passes over the byte without dropping it. */
static void
t_peek(void)
{
	struct ks_sock *s[2];
	char buf[16], c = 0;

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_send(s[0], "xy", 2, 0), 2);
	EQ(ut_send(s[0], "zw", 2, KS_MSG_OOB), 2);
	EQ(ut_send(s[0], "uv", 2, 0), 2);
	EQ(recv_oob(s[1], &c, KS_MSG_PEEK, NULL), 1);
	CHECK_EQ(c, 'w');
	CHECK(has_pri(s[1]));
	EQ(ut_recv(s[1], buf, sizeof(buf), KS_MSG_PEEK | KS_MSG_DONTWAIT), 3);
	CHECK_MEM(buf, "xyz", 3);
	EQ(rd(s[1], buf, sizeof(buf)), 3);
	EQ(ut_recv(s[1], buf, sizeof(buf), KS_MSG_PEEK | KS_MSG_DONTWAIT), 2);
	CHECK_MEM(buf, "uv", 2);
	CHECK(has_pri(s[1]));
	c = 0;
	EQ(recv_oob(s[1], &c, 0, NULL), 1);
	CHECK_EQ(c, 'w');
	EQ(rd(s[1], buf, sizeof(buf)), 2);
	CHECK_MEM(buf, "uv", 2);
}

/* With SO_PEEK_OFF a peek that skips onto the byte reads it as data, as
 * Linux does, and the offset moves with what normal reads take. */
static void
t_peek_off(void)
{
	struct ks_sock *s[2];
	char buf[16];

	ut_pair(KS_SOCK_STREAM, s);
	OK(ut_setint(s[1], KS_SO_PEEK_OFF, 0));
	EQ(ut_send(s[0], "ab", 2, 0), 2);
	EQ(ut_send(s[0], "cd", 2, KS_MSG_OOB), 2);
	EQ(ut_send(s[0], "ef", 2, 0), 2);
	EQ(ut_recv(s[1], buf, 2, KS_MSG_PEEK), 2);
	CHECK_MEM(buf, "ab", 2);
	EQ(ut_recv(s[1], buf, sizeof(buf), KS_MSG_PEEK), 1);
	CHECK_EQ(buf[0], 'c');
	EQ(ut_recv(s[1], buf, sizeof(buf), KS_MSG_PEEK), 3);
	CHECK_MEM(buf, "def", 3);
	EQ(rd(s[1], buf, sizeof(buf)), 3);
	CHECK_MEM(buf, "abc", 3);
	ERR(ut_recv(s[1], buf, sizeof(buf), KS_MSG_PEEK | KS_MSG_DONTWAIT),
	    -KS_EAGAIN);
	EQ(rd(s[1], buf, sizeof(buf)), 2);
	CHECK_MEM(buf, "ef", 2);
}

/* recv(MSG_OOB) into no room still takes the byte, and returns 1. */
static void
t_zero_length_oob_read(void)
{
	struct ks_sock *s[2];
	char c;

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_send(s[0], "q", 1, KS_MSG_OOB), 1);
	EQ(ut_recv(s[1], &c, 0, KS_MSG_OOB), 1);
	ERR(recv_oob(s[1], &c, 0, NULL), -KS_EINVAL);
}

static volatile sig_atomic_t urgs;

static void
count_urg(int sig)
{
	(void)sig;
	urgs++;
}

/* Waits up to a second for SIGURG number @n. */
static bool
urgs_reach(int n)
{
	for (int i = 0; i < 100 && urgs < n; i++)
		ut_sleep_ms(10);
	return urgs == n;
}

/* Each OOB send signals the receiver's owner; a socket without an owner,
 * or an owner of the sender, gets nothing. */
static void
t_sigurg_to_owner(void)
{
	struct sigaction sa = { .sa_handler = count_urg };
	struct ks_sock *s[2];

	urgs = 0;
	sigaction(SIGURG, &sa, NULL);
	ut_pair(KS_SOCK_STREAM, s);
	if (ut_live())
		ks_set_owner(s[0], (int32_t)getpid());
	EQ(ut_send(s[0], "a", 1, KS_MSG_OOB), 1);
	ut_sleep_ms(20);
	CHECK_EQ(urgs, 0);
	if (ut_live()) {
		ks_set_owner(s[1], (int32_t)getpid());
		CHECK_EQ(ks_get_owner(s[1]), (int32_t)getpid());
	}
	EQ(ut_send(s[0], "b", 1, 0), 1);
	ut_sleep_ms(20);
	CHECK_EQ(urgs, 0);
	EQ(ut_send(s[0], "c", 1, KS_MSG_OOB), 1);
	CHECK(!ut_live() || urgs_reach(1));
	EQ(ut_send(s[0], "d", 1, KS_MSG_OOB), 1);
	CHECK(!ut_live() || urgs_reach(2));
	signal(SIGURG, SIG_DFL);
}

/* Closing either end with a byte and marks queued releases them all (the
 * harness checks that nothing stays allocated). */
static void
t_close_with_byte_queued(void)
{
	struct ks_sock *s[2], *t[2];
	char c;

	ut_pair(KS_SOCK_STREAM, s);
	ut_pair(KS_SOCK_STREAM, t);
	EQ(ut_send(s[0], "ab", 2, KS_MSG_OOB), 2);
	EQ(ut_send(t[0], "a", 1, KS_MSG_OOB), 1);
	EQ(recv_oob(t[1], &c, 0, NULL), 1);
	EQ(ut_send(t[0], "b", 1, KS_MSG_OOB), 1);
	ut_close(&s[1]);
	ut_close(&t[0]);
}

/* Errors, each from a fresh pair: MSG_OOB on datagram and seqpacket
 * sockets (send and receive), a 0-byte MSG_OOB send, recv(MSG_OOB) with
 * nothing pending (even with data queued), and on an unconnected stream
 * socket. */
static void
t_errors(void)
{
	static const struct {
		int	type;
		long	send_oob;	/* a 2-byte MSG_OOB send */
		long	recv_oob;	/* then, with data queued */
	} cases[] = {
		{ KS_SOCK_DGRAM,	-KS_EOPNOTSUPP, -KS_EOPNOTSUPP },
		{ KS_SOCK_SEQPACKET,	-KS_EOPNOTSUPP, -KS_EOPNOTSUPP },
		{ KS_SOCK_STREAM,	2,		-KS_EINVAL },
	};
	struct ks_sock *u;
	char buf[4];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ks_sock *s[2];

		ut_pair(cases[i].type, s);
		EQ(ut_send(s[0], "ab", 2, KS_MSG_OOB), cases[i].send_oob);
		ERR(ut_send(s[0], "", 0, KS_MSG_OOB), -KS_EOPNOTSUPP);
		EQ(ut_send(s[0], "cd", 2, 0), 2);
		if (cases[i].type == KS_SOCK_STREAM)
			EQ(recv_oob(s[1], buf, 0, NULL), 1);
		ERR(recv_oob(s[1], buf, 0, NULL), cases[i].recv_oob);
		ut_close(&s[0]);
		ut_close(&s[1]);
	}
	u = ut_socket(KS_SOCK_STREAM);
	ERR(recv_oob(u, buf, 0, NULL), -KS_EINVAL);
	ERR(ut_send(u, "ab", 2, KS_MSG_OOB), -KS_ENOTCONN);
	ERR(ut_send(u, "", 0, KS_MSG_OOB), -KS_EOPNOTSUPP);
	CHECK_EQ(at_mark(u), 0);
}

static const struct ut_test tests[] = {
	{ "byte_and_mark",		t_byte_and_mark, 0 },
	{ "waitall_stops_at_mark",	t_waitall_stops_at_mark, 0 },
	{ "second_send_demotes_first",	t_second_send_demotes_first, 0 },
	{ "read_at_mark_drops_byte",	t_read_at_mark_drops_byte, 0 },
	{ "taken_byte_leaves_mark",	t_taken_byte_leaves_mark, 0 },
	{ "byte_charged_and_marks_merge", t_byte_charged_and_marks_merge, 0 },
	{ "inline",			t_inline, 0 },
	{ "peek",			t_peek, 0 },
	{ "peek_off",			t_peek_off, 0 },
	{ "zero_length_oob_read",	t_zero_length_oob_read, 0 },
	/* Waits for real time (a signal's delivery). */
	{ "sigurg_to_owner",		t_sigurg_to_owner, UT_NO_INJECT },
	{ "close_with_byte_queued",	t_close_with_byte_queued, 0 },
	{ "errors",			t_errors, 0 },
};

UT_MAIN(tests)

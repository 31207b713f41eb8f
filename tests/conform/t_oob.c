/*
 * MSG_OOB on stream sockets: the out-of-band byte, the mark (SIOCATMARK),
 * POLLPRI, SIGURG, SO_OOBINLINE, and the errors on other types.
 */
#include "harness.h"

static void
pair(int sv[2])
{
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
}

static void
close_pair(int sv[2])
{
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

static int
at_mark(int s)
{
	int v = -1;

	CHECK_OK(ioctl(s, SIOCATMARK, &v));
	return v;
}

static short
revents(int s)
{
	struct pollfd p = { s, POLLIN | POLLPRI, 0 };

	CHECK_OK(poll(&p, 1, 0));
	return p.revents;
}

/* Reads normal data; returns the count, with the bytes in @buf. */
static ssize_t
rd(int s, char *buf, size_t len)
{
	return recv(s, buf, len, MSG_DONTWAIT);
}

static void
no_oob(int s)
{
	char c;

	CHECK_ERR(recv(s, &c, 1, MSG_OOB | MSG_DONTWAIT), EINVAL);
}

static void
empty(int s)
{
	char c;

	CHECK_ERR(recv(s, &c, 1, MSG_DONTWAIT), EAGAIN);
}

/* The last byte of a MSG_OOB send is the out-of-band byte; the rest is
 * ordinary data, and the send returns the whole length. */
static void
oob_last_byte_is_oob(void)
{
	int sv[2];
	char buf[16], c = 0;

	pair(sv);
	CHECK_EQ(send(sv[0], "abc", 3, MSG_OOB), 3);
	CHECK_EQ(recv(sv[1], &c, 1, MSG_OOB), 1);
	CHECK_EQ(c, 'c');
	no_oob(sv[1]);
	CHECK_EQ(rd(sv[1], buf, sizeof(buf)), 2);
	CHECK_MEM(buf, "ab", 2);
	empty(sv[1]);
	close_pair(sv);
}

/* A large MSG_OOB send puts only its final byte out of band. */
static void
oob_large_send(void)
{
	static char out[1000], in[1000];
	int sv[2];
	char c = 0;

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (char)('A' + i % 26);
	pair(sv);
	CHECK_EQ(send(sv[0], out, sizeof(out), MSG_OOB), sizeof(out));
	CHECK_EQ(rd(sv[1], in, sizeof(in)), sizeof(in) - 1);
	CHECK_MEM(in, out, sizeof(in) - 1);
	CHECK_EQ(recv(sv[1], &c, 1, MSG_OOB), 1);
	CHECK_EQ(c, out[sizeof(out) - 1]);
	close_pair(sv);
}

/* A normal read stops at the mark even when more data follows, and
 * SIOCATMARK reads 1 there and 0 before it. */
static void
oob_read_stops_at_mark(void)
{
	int sv[2];
	char buf[16], c = 0;

	pair(sv);
	CHECK_EQ(at_mark(sv[1]), 0);
	CHECK_EQ(send(sv[0], "ab", 2, 0), 2);
	CHECK_EQ(send(sv[0], "cd", 2, MSG_OOB), 2);
	CHECK_EQ(send(sv[0], "ef", 2, 0), 2);
	CHECK_EQ(at_mark(sv[1]), 0);
	CHECK_EQ(rd(sv[1], buf, sizeof(buf)), 3);
	CHECK_MEM(buf, "abc", 3);
	CHECK_EQ(at_mark(sv[1]), 1);
	CHECK_EQ(recv(sv[1], &c, 1, MSG_OOB), 1);
	CHECK_EQ(c, 'd');
	CHECK_EQ(rd(sv[1], buf, sizeof(buf)), 2);
	CHECK_MEM(buf, "ef", 2);
	CHECK_EQ(at_mark(sv[1]), 0);
	close_pair(sv);
}

/* Taking the OOB byte first does not move the mark: a normal read still
 * stops where the byte was. */
static void
oob_taken_first_read_still_stops(void)
{
	int sv[2];
	char buf[16], c = 0;

	pair(sv);
	CHECK_EQ(send(sv[0], "abc", 3, MSG_OOB), 3);
	CHECK_EQ(send(sv[0], "de", 2, 0), 2);
	CHECK_EQ(recv(sv[1], &c, 1, MSG_OOB), 1);
	CHECK_EQ(c, 'c');
	CHECK_EQ(rd(sv[1], buf, sizeof(buf)), 2);
	CHECK_MEM(buf, "ab", 2);
	CHECK_EQ(rd(sv[1], buf, sizeof(buf)), 2);
	CHECK_MEM(buf, "de", 2);
	empty(sv[1]);
	close_pair(sv);
}

/* POLLPRI is set while an OOB byte is pending and cleared once it is
 * read. */
static void
oob_pollpri(void)
{
	int sv[2];
	char buf[16], c;

	pair(sv);
	CHECK_EQ(revents(sv[1]), 0);
	CHECK_EQ(send(sv[0], "ab", 2, MSG_OOB), 2);
	CHECK_EQ(revents(sv[1]), POLLIN | POLLPRI);
	CHECK_EQ(revents(sv[0]), 0);
	CHECK_EQ(recv(sv[1], &c, 1, MSG_OOB), 1);
	CHECK_EQ(revents(sv[1]), POLLIN);
	CHECK_EQ(rd(sv[1], buf, sizeof(buf)), 1);
	close_pair(sv);
}

/* Waits up to a second for @n SIGURG signals. */
static bool
sigurg_reaches(int n)
{
	for (int i = 0; i < 100 && th_signal_count(SIGURG) < n; i++)
		th_sleep_ms(10);
	return th_signal_count(SIGURG) == n;
}

/* The receiving socket's F_SETOWN owner gets SIGURG for each OOB send. */
static void
oob_sigurg_to_owner(void)
{
	int sv[2];
	char c;

	th_catch(SIGURG);
	pair(sv);
	CHECK_OK(fcntl(sv[1], F_SETOWN, getpid()));
	CHECK_EQ(fcntl(sv[1], F_GETOWN), getpid());
	CHECK_EQ(send(sv[0], "x", 1, 0), 1);
	th_sleep_ms(50);
	CHECK_EQ(th_signal_count(SIGURG), 0);
	CHECK_EQ(send(sv[0], "y", 1, MSG_OOB), 1);
	CHECK(sigurg_reaches(1));
	CHECK_EQ(send(sv[0], "z", 1, MSG_OOB), 1);
	CHECK(sigurg_reaches(2));
	CHECK_EQ(recv(sv[1], &c, 1, MSG_OOB), 1);
	CHECK_EQ(c, 'z');
	close_pair(sv);
}

/* Without an owner no SIGURG is sent; an owner set on the sender does not
 * get one either. */
static void
oob_no_sigurg_without_owner(void)
{
	int sv[2];

	th_catch(SIGURG);
	pair(sv);
	CHECK_EQ(fcntl(sv[1], F_GETOWN), 0);
	CHECK_OK(fcntl(sv[0], F_SETOWN, getpid()));
	CHECK_EQ(send(sv[0], "y", 1, MSG_OOB), 1);
	th_sleep_ms(100);
	CHECK_EQ(th_signal_count(SIGURG), 0);
	close_pair(sv);
}

/* A second OOB send turns the first OOB byte into ordinary data. */
static void
oob_second_send_demotes_first(void)
{
	int sv[2];
	char buf[16], c = 0;

	pair(sv);
	CHECK_EQ(send(sv[0], "a", 1, MSG_OOB), 1);
	CHECK_EQ(send(sv[0], "b", 1, MSG_OOB), 1);
	CHECK_EQ(rd(sv[1], buf, sizeof(buf)), 1);
	CHECK_EQ(buf[0], 'a');
	CHECK_EQ(at_mark(sv[1]), 1);
	CHECK_EQ(recv(sv[1], &c, 1, MSG_OOB), 1);
	CHECK_EQ(c, 'b');
	empty(sv[1]);
	close_pair(sv);
}

/* A normal read that starts at the mark passes over the OOB byte, which
 * is then gone. */
static void
oob_passed_over_dropped(void)
{
	int sv[2];
	char buf[16];

	pair(sv);
	CHECK_EQ(send(sv[0], "ab", 2, MSG_OOB), 2);
	CHECK_EQ(send(sv[0], "cd", 2, 0), 2);
	CHECK_EQ(rd(sv[1], buf, sizeof(buf)), 1);
	CHECK_EQ(buf[0], 'a');
	CHECK_EQ(rd(sv[1], buf, sizeof(buf)), 2);
	CHECK_MEM(buf, "cd", 2);
	no_oob(sv[1]);
	CHECK(!(revents(sv[1]) & POLLPRI));
	empty(sv[1]);
	close_pair(sv);
}

/* A lone OOB byte is not ordinary data: a normal read finds nothing, and
 * passing over the byte drops it. */
static void
oob_lone_byte_dropped_by_read(void)
{
	int sv[2];
	char buf[16];

	pair(sv);
	CHECK_EQ(send(sv[0], "x", 1, MSG_OOB), 1);
	CHECK_EQ(at_mark(sv[1]), 1);
	empty(sv[1]);
	no_oob(sv[1]);
	CHECK_EQ(send(sv[0], "y", 1, 0), 1);
	CHECK_EQ(rd(sv[1], buf, sizeof(buf)), 1);
	CHECK_EQ(buf[0], 'y');
	close_pair(sv);
}

/* MSG_OOB|MSG_PEEK returns the byte without consuming it. */
static void
oob_peek(void)
{
	int sv[2];
	char c = 0;

	pair(sv);
	CHECK_EQ(send(sv[0], "pq", 2, MSG_OOB), 2);
	CHECK_EQ(recv(sv[1], &c, 1, MSG_OOB | MSG_PEEK), 1);
	CHECK_EQ(c, 'q');
	c = 0;
	CHECK_EQ(recv(sv[1], &c, 1, MSG_OOB | MSG_PEEK), 1);
	CHECK_EQ(c, 'q');
	CHECK(revents(sv[1]) & POLLPRI);
	c = 0;
	CHECK_EQ(recv(sv[1], &c, 1, MSG_OOB), 1);
	CHECK_EQ(c, 'q');
	no_oob(sv[1]);
	close_pair(sv);
}

/* With SO_OOBINLINE the byte stays in the stream: recv(MSG_OOB) gives
 * EINVAL, the read still stops at the mark, and the next read returns the
 * byte followed by later data. */
static void
oob_inline(void)
{
	int sv[2], on = 1, v = 0;
	socklen_t len = sizeof(v);
	char buf[16];

	pair(sv);
	CHECK_OK(setsockopt(sv[1], SOL_SOCKET, SO_OOBINLINE, &on, sizeof(on)));
	CHECK_OK(getsockopt(sv[1], SOL_SOCKET, SO_OOBINLINE, &v, &len));
	CHECK_EQ(v, 1);
	CHECK_EQ(send(sv[0], "ab", 2, MSG_OOB), 2);
	CHECK_EQ(send(sv[0], "cd", 2, 0), 2);
	no_oob(sv[1]);
	CHECK(revents(sv[1]) & POLLPRI);
	CHECK_EQ(rd(sv[1], buf, sizeof(buf)), 1);
	CHECK_EQ(buf[0], 'a');
	CHECK_EQ(at_mark(sv[1]), 1);
	CHECK_EQ(rd(sv[1], buf, sizeof(buf)), 3);
	CHECK_MEM(buf, "bcd", 3);
	CHECK_EQ(revents(sv[1]), 0);
	close_pair(sv);
}

/* A 0-byte MSG_OOB send gives EOPNOTSUPP. */
static void
oob_zero_byte_eopnotsupp(void)
{
	int sv[2];

	pair(sv);
	CHECK_ERR(send(sv[0], "", 0, MSG_OOB), EOPNOTSUPP);
	empty(sv[1]);
	no_oob(sv[1]);
	close_pair(sv);
}

/* MSG_OOB on datagram and seqpacket sockets gives EOPNOTSUPP, on send and
 * on receive. */
static void
oob_other_types_eopnotsupp(void)
{
	static const int types[] = { SOCK_DGRAM, SOCK_SEQPACKET };

	for (size_t i = 0; i < 2; i++) {
		int sv[2];
		char c;

		CHECK_OK(socketpair(AF_UNIX, types[i], 0, sv));
		CHECK_ERR(send(sv[0], "ab", 2, MSG_OOB), EOPNOTSUPP);
		CHECK_EQ(send(sv[0], "ab", 2, 0), 2);
		CHECK_ERR(recv(sv[1], &c, 1, MSG_OOB), EOPNOTSUPP);
		CHECK_EQ(recv(sv[1], &c, 1, MSG_DONTWAIT), 1);
		close_pair(sv);
	}
}

/* recv(MSG_OOB) with no OOB byte pending gives EINVAL at once, even on a
 * blocking socket and with ordinary data queued. */
static void
oob_none_pending_einval(void)
{
	int sv[2];
	char c;

	pair(sv);
	CHECK_ERR(recv(sv[1], &c, 1, MSG_OOB), EINVAL);
	CHECK_EQ(send(sv[0], "ab", 2, 0), 2);
	CHECK_ERR(recv(sv[1], &c, 1, MSG_OOB), EINVAL);
	CHECK_EQ(send(sv[0], "c", 1, MSG_OOB), 1);
	CHECK_EQ(recv(sv[1], &c, 1, MSG_OOB), 1);
	CHECK_ERR(recv(sv[1], &c, 1, MSG_OOB), EINVAL);
	close_pair(sv);
}

/*
 * Short reads (0 or 1 byte, peeking or not) at and before the mark, with
 * and without SO_OOBINLINE, as Linux 6.18 answers them: a peek passes
 * over the out-of-band byte it cannot return and, having copied nothing
 * (a 0-byte peek never copies), waits for data past it (EAGAIN here);
 * a 0-byte read that is not a peek stops at the first message. @then is
 * what a plain read of 8 bytes finds next. With data after the byte, or
 * after a consumed mark, the walk ends there and the peek returns 0.
 */
static const struct {
	const char	*pre;		/* normal data before the byte */
	bool		 inline_oob;
	size_t		 len;
	bool		 peek;
	int		 ret;		/* or -errno */
	const char	*then;		/* NULL: EAGAIN */
	const char	*post;		/* normal data after it, or NULL */
	bool		 take;		/* recv(MSG_OOB) first: a consumed
					 * mark stays */
} short_reads[] = {
	{ "", false, 0, true, -EAGAIN, NULL, NULL, false },
	{ "", false, 0, false, -EAGAIN, NULL, NULL, false },
	{ "", false, 1, true, -EAGAIN, NULL, NULL, false },
	{ "", false, 1, false, -EAGAIN, NULL, NULL, false },
	{ "", true, 0, true, 0, "X", NULL, false },
	{ "", true, 0, false, 0, "X", NULL, false },
	{ "", true, 1, true, 1, "X", NULL, false },
	{ "", true, 1, false, 1, NULL, NULL, false },
	{ "ab", false, 0, true, -EAGAIN, "ab", NULL, false },
	{ "ab", false, 0, false, 0, "ab", NULL, false },
	{ "ab", false, 1, true, 1, "ab", NULL, false },
	{ "ab", false, 1, false, 1, "b", NULL, false },
	{ "ab", true, 0, true, 0, "ab", NULL, false },
	{ "ab", true, 0, false, 0, "ab", NULL, false },
	{ "ab", true, 1, true, 1, "ab", NULL, false },
	{ "ab", true, 1, false, 1, "b", NULL, false },
	{ "ab", false, 0, true, 0, "ab", "cd", false },
	{ "", false, 0, true, 0, "cd", "cd", false },
	{ "ab", false, 0, true, -EAGAIN, "ab", NULL, true },
	{ "", false, 0, true, -EAGAIN, NULL, NULL, true },
	{ "ab", false, 0, true, 0, "ab", "cd", true },
	{ "", false, 0, true, 0, "cd", "cd", true },
};

static void
oob_short_reads(void)
{
	for (size_t i = 0; i < sizeof(short_reads) / sizeof(short_reads[0]);
	     i++) {
		int sv[2], one = 1;
		char buf[8];
		ssize_t r;

		pair(sv);
		if (short_reads[i].inline_oob)
			CHECK_OK(setsockopt(sv[1], SOL_SOCKET, SO_OOBINLINE,
					    &one, sizeof(one)));
		if (*short_reads[i].pre)
			CHECK_EQ(send(sv[0], short_reads[i].pre,
				      strlen(short_reads[i].pre), 0),
				 (ssize_t)strlen(short_reads[i].pre));
		CHECK_EQ(send(sv[0], "X", 1, MSG_OOB), 1);
		if (short_reads[i].take)
			CHECK_EQ(recv(sv[1], buf, 1, MSG_OOB), 1);
		if (short_reads[i].post)
			CHECK_EQ(send(sv[0], short_reads[i].post,
				      strlen(short_reads[i].post), 0),
				 (ssize_t)strlen(short_reads[i].post));
		r = recv(sv[1], buf, short_reads[i].len, MSG_DONTWAIT |
			 (short_reads[i].peek ? MSG_PEEK : 0));
		if (r < 0)
			r = -errno;
		if (r != short_reads[i].ret)
			th_fail(__FILE__, __LINE__, "case %zu: got %zd, want %d",
				i, r, short_reads[i].ret);
		r = rd(sv[1], buf, sizeof(buf));
		if (short_reads[i].then == NULL) {
			if (r != -1 || errno != EAGAIN)
				th_fail(__FILE__, __LINE__,
					"case %zu: then %zd, want EAGAIN", i, r);
		} else if (r != (ssize_t)strlen(short_reads[i].then) ||
			   memcmp(buf, short_reads[i].then, (size_t)r) != 0) {
			th_fail(__FILE__, __LINE__, "case %zu: then %zd", i, r);
		}
		close_pair(sv);
	}
}

/* A blocking 0-byte peek with only data before the byte and the byte
 * itself queued waits (here until SO_RCVTIMEO) rather than returning 0. */
static void
oob_zero_peek_blocks(void)
{
	struct timeval tv = { 0, 100000 };
	int sv[2];
	char buf[1];
	long long t0;

	pair(sv);
	CHECK_OK(setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	CHECK_EQ(send(sv[0], "ab", 2, 0), 2);
	CHECK_EQ(send(sv[0], "X", 1, MSG_OOB), 1);
	t0 = th_now_ms();
	CHECK_ERR(recv(sv[1], buf, 0, MSG_PEEK), EAGAIN);
	CHECK(th_now_ms() - t0 >= 90);
	close_pair(sv);
}

static const struct th_test tests[] = {
	{ "oob_last_byte_is_oob", oob_last_byte_is_oob },
	{ "oob_short_reads", oob_short_reads },
	{ "oob_zero_peek_blocks", oob_zero_peek_blocks },
	{ "oob_large_send", oob_large_send },
	{ "oob_read_stops_at_mark", oob_read_stops_at_mark },
	{ "oob_taken_first_read_still_stops", oob_taken_first_read_still_stops },
	{ "oob_pollpri", oob_pollpri },
	{ "oob_sigurg_to_owner", oob_sigurg_to_owner },
	{ "oob_no_sigurg_without_owner", oob_no_sigurg_without_owner },
	{ "oob_second_send_demotes_first", oob_second_send_demotes_first },
	{ "oob_passed_over_dropped", oob_passed_over_dropped },
	{ "oob_lone_byte_dropped_by_read", oob_lone_byte_dropped_by_read },
	{ "oob_peek", oob_peek },
	{ "oob_inline", oob_inline },
	{ "oob_zero_byte_eopnotsupp", oob_zero_byte_eopnotsupp },
	{ "oob_other_types_eopnotsupp", oob_other_types_eopnotsupp },
	{ "oob_none_pending_einval", oob_none_pending_einval },
};

TH_MAIN(tests)

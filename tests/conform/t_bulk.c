/*
 * Conformance: large transfers to a writer blocked for buffer space.
 *
 * A writer process sends 1 MiB in one call and blocks once its send
 * buffer is full; the test then reads, peeks, shuts down or closes while
 * it is blocked, or the writer's own timeout or a signal ends its wait.
 * Every byte read is checked against a pattern that depends on its
 * position in the stream (or its record), and the writer reports the
 * count its send returned over a pipe. (ksock copies most of such a
 * transfer once, straight from the writer's buffer: src/unix/offer.c.
 * What a program sees must not change.)
 */
#include "harness.h"

#define BIG		(1024 * 1024)
/* Long enough for the writer to fill its buffer and block. */
#define SETTLE_MS	150

static unsigned char
pattern(size_t i)
{
	return (unsigned char)(i * 131 + (i >> 12) + 7);
}

static bool
is_pattern(const unsigned char *b, size_t at, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (b[i] != pattern(at + i))
			return false;
	return true;
}

struct writer {
	int	fd;		/* the socket to send on */
	int	report;		/* pipe: the send's result goes here */
	size_t	len;
	int	flags;
	int	sndtimeo_ms;	/* 0: none */
	int	signal_ms;	/* 0: none; else SIGUSR1 after this long */
	int	peer;		/* the other end: the writer's copy closed */
};

static int
writer_main(void *arg)
{
	struct writer *w = arg;
	unsigned char *buf = malloc(w->len);
	long r;

	if (buf == NULL)
		return 1;
	/* Only the test holds the reader's end, so its close is one. */
	close(w->peer);
	for (size_t i = 0; i < w->len; i++)
		buf[i] = pattern(i);
	if (w->sndtimeo_ms != 0) {
		struct timeval tv = { 0, w->sndtimeo_ms * 1000 };

		CHECK_OK(setsockopt(w->fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
				    sizeof(tv)));
	}
	if (w->signal_ms != 0) {
		th_catch(SIGUSR1);
		th_signal_after(pthread_self(), SIGUSR1, w->signal_ms);
	}
	r = send(w->fd, buf, w->len, w->flags);
	if (r < 0)
		r = -errno;
	CHECK_EQ(write(w->report, &r, sizeof(r)), (long)sizeof(r));
	free(buf);
	return th_failures();
}

/* Starts a writer of @len bytes on @fd (@peer is the other end, which
 * the writer closes); *@rep gets the report pipe's read end. */
static struct th_child *
start_writer(struct writer *w, int fd, int peer, size_t len, int flags,
	     int *rep)
{
	int p[2];
	struct th_child *c;

	CHECK_OK(pipe(p));
	w->fd = fd;
	w->peer = peer;
	w->report = p[1];
	w->len = len;
	w->flags = flags;
	c = th_fork(writer_main, w);
	close(p[1]);
	*rep = p[0];
	th_sleep_ms(SETTLE_MS);
	return c;
}

/* Joins the writer and returns what its send returned. */
static long
writer_result(struct th_child *c, int rep)
{
	long r = -1;

	CHECK_EQ(th_join(c), 0);
	CHECK_EQ(read(rep, &r, sizeof(r)), (long)sizeof(r));
	close(rep);
	return r;
}

/* Reads until @want bytes, EOF or an error, in reads of at most
 * @piece, checking the pattern from stream offset @at. */
static size_t
read_pattern(int fd, size_t at, size_t want, size_t piece, int flags)
{
	unsigned char *buf = malloc(piece);
	size_t got = 0;

	while (buf != NULL && got < want) {
		size_t n = want - got < piece ? want - got : piece;
		long r = recv(fd, buf, n, flags);

		if (r <= 0)
			break;
		if (!is_pattern(buf, at + got, (size_t)r)) {
			CHECK(!"wrong bytes");
			break;
		}
		got += (size_t)r;
	}
	free(buf);
	return got;
}

/* While the writer is blocked: poll says the reader may read and the
 * writer may not write, a peek returns what FIONREAD says is queued,
 * SIOCOUTQ counts at least that; then one MSG_WAITALL read gets all. */
static void
t_blocked_writer_whole(void)
{
	unsigned char *buf = malloc(BIG);
	struct pollfd p[2];
	struct writer w = { 0 };
	struct th_child *c;
	int sv[2], rep, inq = -1, outq = -1;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	c = start_writer(&w, sv[0], sv[1], BIG, 0, &rep);
	p[0].fd = sv[1];
	p[0].events = POLLIN;
	p[1].fd = sv[0];
	p[1].events = POLLOUT;
	CHECK_EQ(poll(p, 2, 0), 1);
	CHECK_EQ(p[0].revents, POLLIN);
	CHECK_EQ(p[1].revents, 0);
	CHECK_OK(ioctl(sv[1], FIONREAD, &inq));
	CHECK_OK(ioctl(sv[0], SIOCOUTQ, &outq));
	CHECK(inq > 0 && inq < BIG);
	CHECK(outq >= inq);
	CHECK_EQ(recv(sv[1], buf, BIG, MSG_PEEK), inq);
	CHECK(is_pattern(buf, 0, (size_t)inq));
	CHECK_EQ(recv(sv[1], buf, BIG, MSG_WAITALL), BIG);
	CHECK(is_pattern(buf, 0, BIG));
	CHECK_EQ(writer_result(c, rep), BIG);
	close(sv[0]);
	close(sv[1]);
	free(buf);
}

/* Reads of 10,000 bytes get the whole megabyte in order. */
static void
t_blocked_writer_partial_reads(void)
{
	struct writer w = { 0 };
	struct th_child *c;
	int sv[2], rep;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	c = start_writer(&w, sv[0], sv[1], BIG, 0, &rep);
	CHECK_EQ(read_pattern(sv[1], 0, BIG, 10000, 0), BIG);
	CHECK_EQ(writer_result(c, rep), BIG);
	close(sv[0]);
	close(sv[1]);
}

/* The writer's SO_SNDTIMEO ends its wait after a read took part: it
 * returns a partial count, and exactly that many bytes arrive. */
static void
t_blocked_writer_times_out(void)
{
	struct writer w = { .sndtimeo_ms = 400 };
	struct th_child *c;
	int sv[2], rep;
	size_t first;
	long sent;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	c = start_writer(&w, sv[0], sv[1], BIG, 0, &rep);
	first = read_pattern(sv[1], 0, 500000, 500000, 0);
	CHECK(first > 0);
	sent = writer_result(c, rep);
	CHECK(sent > (long)first && sent < BIG);
	CHECK_EQ(first + read_pattern(sv[1], first, BIG, BIG, MSG_DONTWAIT),
		 (size_t)sent);
	close(sv[0]);
	close(sv[1]);
}

/* A signal ends the writer's wait: a partial count, all of it readable. */
static void
t_blocked_writer_signalled(void)
{
	struct writer w = { .signal_ms = 100 };
	struct th_child *c;
	int sv[2], rep;
	long sent;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	c = start_writer(&w, sv[0], sv[1], BIG, 0, &rep);
	th_sleep_ms(100);
	sent = writer_result(c, rep);
	CHECK(sent > 0 && sent < BIG);
	CHECK_EQ(read_pattern(sv[1], 0, BIG, BIG, MSG_DONTWAIT), (size_t)sent);
	close(sv[0]);
	close(sv[1]);
}

/* SHUT_WR on the writer's socket while it is blocked: a partial count,
 * those bytes, then EOF. */
static void
t_blocked_writer_shut_down(void)
{
	struct writer w = { 0 };
	struct th_child *c;
	int sv[2], rep;
	char b;
	long sent;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	c = start_writer(&w, sv[0], sv[1], BIG, MSG_NOSIGNAL, &rep);
	CHECK_OK(shutdown(sv[0], SHUT_WR));
	sent = writer_result(c, rep);
	CHECK(sent > 0 && sent < BIG);
	CHECK_EQ(read_pattern(sv[1], 0, BIG, BIG, 0), (size_t)sent);
	CHECK_EQ(recv(sv[1], &b, 1, 0), 0);
	close(sv[0]);
	close(sv[1]);
}

/* The reader reads part, then closes: the writer's send returns what it
 * got rid of, at least what was read. */
static void
t_reader_closes_mid_transfer(void)
{
	struct writer w = { 0 };
	struct th_child *c;
	int sv[2], rep;
	long sent;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	c = start_writer(&w, sv[0], sv[1], BIG, MSG_NOSIGNAL, &rep);
	CHECK_EQ(read_pattern(sv[1], 0, 600000, 600000, MSG_WAITALL), 600000);
	close(sv[1]);
	sent = writer_result(c, rep);
	CHECK(sent >= 600000 && sent < BIG);
	close(sv[0]);
}

/* Seqpacket: 100,000-byte records from a writer that blocks behind
 * them: each read gets one record, whole, or its start and MSG_TRUNC. */
static void
t_seqpacket_records(void)
{
	enum { RECLEN = 100000, RECORDS = 6 };
	unsigned char *buf = malloc(2 * RECLEN);
	struct writer w = { 0 };
	struct th_child *c;
	int sv[2], rep;

	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	for (size_t i = 0; i < RECLEN; i++)
		buf[i] = pattern(i);
	for (int k = 0; k < RECORDS; k++) {
		int queued = 0;

		/* Fill the buffer, so the writer's record waits. */
		while (send(sv[0], buf, RECLEN, MSG_DONTWAIT) == RECLEN)
			queued++;
		CHECK_EQ(errno, EAGAIN);
		CHECK(queued > 0);
		c = start_writer(&w, sv[0], sv[1], RECLEN, 0, &rep);
		for (int q = 0; q < queued; q++) {
			CHECK_EQ(recv(sv[1], buf + RECLEN, RECLEN, 0), RECLEN);
			CHECK(is_pattern(buf + RECLEN, 0, RECLEN));
		}
		if (k % 2 == 0) {
			struct iovec iov = { buf + RECLEN, 1000 };
			struct msghdr msg = { .msg_iov = &iov,
					      .msg_iovlen = 1 };

			CHECK_EQ(recvmsg(sv[1], &msg, 0), 1000);
			CHECK(msg.msg_flags & MSG_TRUNC);
			CHECK(is_pattern(buf + RECLEN, 0, 1000));
		} else {
			CHECK_EQ(recv(sv[1], buf + RECLEN, RECLEN, 0), RECLEN);
			CHECK(is_pattern(buf + RECLEN, 0, RECLEN));
		}
		CHECK_EQ(writer_result(c, rep), RECLEN);
	}
	CHECK_EQ(recv(sv[1], buf, 1, MSG_DONTWAIT), -1);
	close(sv[0]);
	close(sv[1]);
	free(buf);
}

static const struct th_test tests[] = {
	{ "blocked_writer_whole",	t_blocked_writer_whole },
	{ "blocked_writer_partial_reads", t_blocked_writer_partial_reads },
	{ "blocked_writer_times_out",	t_blocked_writer_times_out },
	{ "blocked_writer_signalled",	t_blocked_writer_signalled },
	{ "blocked_writer_shut_down",	t_blocked_writer_shut_down },
	{ "reader_closes_mid_transfer",	t_reader_closes_mid_transfer },
	{ "seqpacket_records",		t_seqpacket_records },
};

TH_MAIN(tests)

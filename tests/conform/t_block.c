/*
 * Blocking calls: SO_RCVTIMEO and SO_SNDTIMEO timeouts, interruption by
 * a signal (EINTR, or the count so far after partial progress), wake-ups
 * by another process, and non-blocking mode (O_NONBLOCK via fcntl,
 * SOCK_NONBLOCK, MSG_DONTWAIT) turning every wait into EAGAIN.
 */
#include <limits.h>

#include "harness.h"

#define TIMEO_MS	150	/* SO_RCVTIMEO/SO_SNDTIMEO under test */
#define SIGNAL_MS	100	/* when th_signal_after interrupts */
#define QLEN_ACCEPTED	11	/* net.unix.max_dgram_qlen (10) + 1 */

/* -- helpers -- */

static void
close_pair(int sv[2])
{
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

static void
set_timeo(int fd, int opt, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	CHECK_OK(setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv)));
}

/* The elapsed time of a wait that should last @ms: at least that (less
 * clock granularity), and not wildly more. */
static void
check_elapsed(long long t0, int ms)
{
	long long dt = th_now_ms() - t0;

	if (dt < ms - 10 || dt > 10 * ms)
		th_fail(__FILE__, __LINE__, "waited %lld ms, want about %d",
			dt, ms);
}

static size_t
fill(int fd)
{
	static char buf[4096];
	size_t total = 0;
	ssize_t n;

	while ((n = send(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	CHECK_EQ(errno, EAGAIN);
	return total;
}

static int
inq(int fd)
{
	int n = -1;

	CHECK_OK(ioctl(fd, FIONREAD, &n));
	return n;
}

/* Arranges for SIGUSR1 to interrupt this thread in SIGNAL_MS. */
static void
interrupt_soon(void)
{
	th_catch(SIGUSR1);
	th_signal_after(pthread_self(), SIGUSR1, SIGNAL_MS);
}

struct named {
	int			fd;
	struct sockaddr_un	addr;
	socklen_t		len;
};

/* Fills @n's address with the abstract name th_unique() + @tag. */
static void
named_addr(struct named *n, const char *tag)
{
	char name[96];

	snprintf(name, sizeof(name), "%s-%s", th_unique(), tag);
	n->len = th_addr_abstract(&n->addr, name, strlen(name));
}

/* A socket of @type bound to the abstract name th_unique() + @tag. */
static void
named_socket(struct named *n, int type, const char *tag)
{
	named_addr(n, tag);
	n->fd = CHECK_OK(socket(AF_UNIX, type, 0));
	CHECK_OK(bind(n->fd, (struct sockaddr *)&n->addr, n->len));
}

/* A child's action after @ms: send "wake" on @fd, close it, drain it, or
 * connect a new stream socket to @to. */
enum job_what { JOB_SEND, JOB_CLOSE, JOB_DRAIN, JOB_CONNECT };

struct job {
	enum job_what	 what;
	int		 fd;
	int		 ms;
	struct named	*to;
};

static int
job_main(void *p)
{
	const struct job *j = p;
	char buf[4096];
	int c;

	th_sleep_ms(j->ms);
	switch (j->what) {
	case JOB_SEND:
		CHECK_EQ(send(j->fd, "wake", 4, 0), 4);
		break;
	case JOB_CLOSE:
		CHECK_OK(close(j->fd));
		break;
	case JOB_DRAIN:
		while (recv(j->fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
		CHECK_EQ(errno, EAGAIN);
		break;
	case JOB_CONNECT:
		c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
		CHECK_OK(connect(c, (struct sockaddr *)&j->to->addr,
				 j->to->len));
		CHECK_EQ(send(c, "hi", 2, 0), 2);
		CHECK_OK(close(c));
		break;
	}
	return th_failures();
}

/* -- timeouts -- */

/* recv with SO_RCVTIMEO on an empty socket of each type fails with EAGAIN
 * after about the timeout. */
static void
block_rcvtimeo_recv(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM };

	for (size_t i = 0; i < 3; i++) {
		int sv[2];
		char buf[4];
		long long t0;

		CHECK_OK(socketpair(AF_UNIX, types[i], 0, sv));
		set_timeo(sv[0], SO_RCVTIMEO, TIMEO_MS);
		t0 = th_now_ms();
		CHECK_ERR(recv(sv[0], buf, sizeof(buf), 0), EAGAIN);
		check_elapsed(t0, TIMEO_MS);
		close_pair(sv);
	}
}

/* accept with SO_RCVTIMEO on a listener with nothing pending fails with
 * EAGAIN after about the timeout. */
static void
block_rcvtimeo_accept(void)
{
	struct named l;
	long long t0;

	named_socket(&l, SOCK_STREAM, "l");
	CHECK_OK(listen(l.fd, 1));
	set_timeo(l.fd, SO_RCVTIMEO, TIMEO_MS);
	t0 = th_now_ms();
	CHECK_ERR(accept(l.fd, NULL, NULL), EAGAIN);
	check_elapsed(t0, TIMEO_MS);
	CHECK_OK(close(l.fd));
}

/* send with SO_SNDTIMEO on a full stream fails with EAGAIN after about
 * the timeout, having sent nothing. */
static void
block_sndtimeo_stream_full(void)
{
	int sv[2];
	size_t queued;
	long long t0;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	queued = fill(sv[0]);
	set_timeo(sv[0], SO_SNDTIMEO, TIMEO_MS);
	t0 = th_now_ms();
	CHECK_ERR(send(sv[0], "x", 1, 0), EAGAIN);
	check_elapsed(t0, TIMEO_MS);
	CHECK_EQ(inq(sv[1]), queued);
	close_pair(sv);
}

/* A datagram send with SO_SNDTIMEO to a full non-mutual receiver fails
 * with EAGAIN after about the timeout. */
static void
block_sndtimeo_dgram_full(void)
{
	struct named r;
	int s, n = 0;
	long long t0;

	named_socket(&r, SOCK_DGRAM, "r");
	s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(connect(s, (struct sockaddr *)&r.addr, r.len));
	while (send(s, "d", 1, MSG_DONTWAIT) == 1)
		n++;
	CHECK_EQ(n, QLEN_ACCEPTED);
	set_timeo(s, SO_SNDTIMEO, TIMEO_MS);
	t0 = th_now_ms();
	CHECK_ERR(send(s, "d", 1, 0), EAGAIN);
	check_elapsed(t0, TIMEO_MS);
	CHECK_OK(close(s));
	CHECK_OK(close(r.fd));
}

/* A zero SO_RCVTIMEO means wait forever: recv returns the data another
 * process sends later. */
static void
block_rcvtimeo_zero_waits(void)
{
	int sv[2];
	char buf[8];
	struct job j = { JOB_SEND, -1, 2 * TIMEO_MS, NULL };
	struct th_child *c;
	long long t0;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	set_timeo(sv[0], SO_RCVTIMEO, TIMEO_MS);
	set_timeo(sv[0], SO_RCVTIMEO, 0);
	j.fd = sv[1];
	c = th_fork(job_main, &j);
	t0 = th_now_ms();
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 4);
	CHECK(th_now_ms() - t0 >= TIMEO_MS);
	CHECK_EQ(th_join(c), 0);
	close_pair(sv);
}

/* A sender blocked with a long SO_SNDTIMEO completes as soon as another
 * process drains the receiver. */
static void
block_sndtimeo_woken_early(void)
{
	int sv[2];
	struct job j = { JOB_DRAIN, -1, SIGNAL_MS, NULL };
	struct th_child *c;
	long long t0;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	fill(sv[0]);
	set_timeo(sv[0], SO_SNDTIMEO, 5000);
	j.fd = sv[1];
	c = th_fork(job_main, &j);
	t0 = th_now_ms();
	CHECK_EQ(send(sv[0], "x", 1, 0), 1);
	CHECK(th_now_ms() - t0 < 4000);
	CHECK_EQ(th_join(c), 0);
	close_pair(sv);
}

/*
 * Timeouts too large for a deadline in nanoseconds (9.2e9 s and more):
 * each reads back as Linux reads it back (jiffies, rounded up to one;
 * from LONG_MAX / HZ - 1 seconds on it means "forever" and reads back
 * 0), and a recv still blocks until another process sends. With
 * SO_SNDTIMEO, a send on a full stream waits until the reader drains.
 */
static const struct {
	long	sec, usec;	/* set */
	long	back_sec;	/* read back (usec reads back 0) */
} huge_timeouts[] = {
	{ 9223372036L,		0,	9223372036L },
	{ 9223372037L,		999999,	9223372038L },
	{ 36893488147419101L,	0,	36893488147419101L },
	{ 36893488147419102L,	0,	0 },
	{ LONG_MAX,		0,	0 },
};

static void
block_huge_timeouts(void)
{
	for (size_t i = 0; i < sizeof(huge_timeouts) /
	     sizeof(huge_timeouts[0]); i++) {
		struct timeval tv = { huge_timeouts[i].sec,
				      huge_timeouts[i].usec };
		struct timeval out = { -1, -1 };
		socklen_t len = sizeof(out);
		struct job j = { JOB_SEND, -1, TIMEO_MS, NULL };
		struct th_child *c;
		int sv[2], opt = i % 2 ? SO_SNDTIMEO : SO_RCVTIMEO;
		char buf[8];
		long long t0;

		CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
		CHECK_OK(setsockopt(sv[0], SOL_SOCKET, opt, &tv, sizeof(tv)));
		CHECK_OK(getsockopt(sv[0], SOL_SOCKET, opt, &out, &len));
		CHECK_EQ(len, sizeof(out));
		CHECK_EQ(out.tv_sec, huge_timeouts[i].back_sec);
		CHECK_EQ(out.tv_usec, 0);
		j.fd = sv[1];
		if (opt == SO_SNDTIMEO) {
			fill(sv[0]);
			j.what = JOB_DRAIN;
		}
		c = th_fork(job_main, &j);
		t0 = th_now_ms();
		if (opt == SO_SNDTIMEO)
			CHECK_EQ(send(sv[0], "x", 1, 0), 1);
		else
			CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 4);
		CHECK(th_now_ms() - t0 >= TIMEO_MS - 10);
		CHECK_EQ(th_join(c), 0);
		close_pair(sv);
	}
}

/* -- signals -- */

/* A blocking recv of each type interrupted by a handled signal fails with
 * EINTR. */
static void
block_recv_eintr(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM };

	for (size_t i = 0; i < 3; i++) {
		int sv[2];
		char buf[4];
		long long t0;

		CHECK_OK(socketpair(AF_UNIX, types[i], 0, sv));
		interrupt_soon();
		t0 = th_now_ms();
		CHECK_ERR(recv(sv[0], buf, sizeof(buf), 0), EINTR);
		check_elapsed(t0, SIGNAL_MS);
		CHECK_EQ(th_signal_count(SIGUSR1), (int)i + 1);
		close_pair(sv);
	}
}

/* A blocking accept interrupted by a handled signal fails with EINTR. */
static void
block_accept_eintr(void)
{
	struct named l;

	named_socket(&l, SOCK_STREAM, "l");
	CHECK_OK(listen(l.fd, 1));
	interrupt_soon();
	CHECK_ERR(accept(l.fd, NULL, NULL), EINTR);
	CHECK_EQ(th_signal_count(SIGUSR1), 1);
	CHECK_OK(close(l.fd));
}

/* A blocking send on a full stream interrupted before any progress fails
 * with EINTR. */
static void
block_send_eintr(void)
{
	int sv[2];
	size_t queued;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	queued = fill(sv[0]);
	interrupt_soon();
	CHECK_ERR(send(sv[0], "x", 1, 0), EINTR);
	CHECK_EQ(inq(sv[1]), queued);
	close_pair(sv);
}

/* A blocking stream send interrupted after partial progress returns the
 * count sent, which is exactly what the reader finds. */
static void
block_send_eintr_partial(void)
{
	static char big[1 << 20];
	int sv[2];
	ssize_t n;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	interrupt_soon();
	n = send(sv[0], big, sizeof(big), 0);
	CHECK(n > 0 && n < (ssize_t)sizeof(big));
	CHECK_EQ(inq(sv[1]), n);
	CHECK_EQ(th_signal_count(SIGUSR1), 1);
	close_pair(sv);
}

/* A datagram send blocked by a full non-mutual receiver, interrupted,
 * fails with EINTR. */
static void
block_dgram_send_eintr(void)
{
	struct named r;
	int s;

	named_socket(&r, SOCK_DGRAM, "r");
	s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(connect(s, (struct sockaddr *)&r.addr, r.len));
	while (send(s, "d", 1, MSG_DONTWAIT) == 1)
		;
	interrupt_soon();
	CHECK_ERR(send(s, "d", 1, 0), EINTR);
	CHECK_EQ(inq(r.fd), 1);
	CHECK_OK(close(s));
	CHECK_OK(close(r.fd));
}

/* MSG_WAITALL interrupted by a signal returns the bytes it already has. */
static void
block_waitall_eintr_short(void)
{
	int sv[2];
	char buf[10];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(send(sv[1], "abc", 3, 0), 3);
	interrupt_soon();
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), MSG_WAITALL), 3);
	CHECK_MEM(buf, "abc", 3);
	CHECK_EQ(th_signal_count(SIGUSR1), 1);
	close_pair(sv);
}

/* -- wake-ups -- */

/* A blocked recv of each type is woken by another process's send. */
static void
block_recv_woken_by_data(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM };

	for (size_t i = 0; i < 3; i++) {
		int sv[2];
		char buf[8];
		struct job j = { JOB_SEND, -1, SIGNAL_MS, NULL };
		struct th_child *c;
		long long t0;

		CHECK_OK(socketpair(AF_UNIX, types[i], 0, sv));
		j.fd = sv[1];
		c = th_fork(job_main, &j);
		t0 = th_now_ms();
		CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 4);
		CHECK_MEM(buf, "wake", 4);
		check_elapsed(t0, SIGNAL_MS);
		CHECK_EQ(th_join(c), 0);
		close_pair(sv);
	}
}

/* A blocked stream or seqpacket recv is woken by the peer's close and
 * returns 0. */
static void
block_recv_woken_by_close(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };

	for (size_t i = 0; i < 2; i++) {
		int sv[2];
		char buf[8];
		struct job j = { JOB_CLOSE, -1, SIGNAL_MS, NULL };
		struct th_child *c;
		long long t0;

		CHECK_OK(socketpair(AF_UNIX, types[i], 0, sv));
		j.fd = sv[1];
		c = th_fork(job_main, &j);
		CHECK_OK(close(sv[1]));
		t0 = th_now_ms();
		CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 0);
		check_elapsed(t0, SIGNAL_MS);
		CHECK_EQ(th_join(c), 0);
		CHECK_OK(close(sv[0]));
	}
}

/* A blocked accept is woken by another process's connect, and the
 * accepted socket reads what that client sent. */
static void
block_accept_woken_by_connect(void)
{
	struct named l;
	struct job j = { JOB_CONNECT, -1, SIGNAL_MS, NULL };
	struct th_child *c;
	char buf[4];
	int a;

	named_socket(&l, SOCK_STREAM, "l");
	CHECK_OK(listen(l.fd, 1));
	j.to = &l;
	c = th_fork(job_main, &j);
	a = CHECK_OK(accept(l.fd, NULL, NULL));
	CHECK_EQ(recv(a, buf, sizeof(buf), MSG_WAITALL), 2);
	CHECK_EQ(th_join(c), 0);
	CHECK_OK(close(a));
	CHECK_OK(close(l.fd));
}

/* -- non-blocking -- */

/*
 * Every call that would block fails at once with EAGAIN when the socket
 * is non-blocking, by SOCK_NONBLOCK (@by_flag) or by fcntl O_NONBLOCK:
 * recv, read, recvmsg on each type; send, write on a full stream; send to
 * a full datagram receiver; accept with nothing pending; connect to a
 * full backlog.
 */
static int
nb_socket(int type, bool by_flag)
{
	int fd = CHECK_OK(socket(AF_UNIX, type | (by_flag ? SOCK_NONBLOCK : 0),
				 0));

	if (!by_flag)
		CHECK_OK(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK));
	CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
	return fd;
}

static void
nb_pair(int type, bool by_flag, int sv[2])
{
	CHECK_OK(socketpair(AF_UNIX, type | (by_flag ? SOCK_NONBLOCK : 0), 0,
			    sv));
	if (!by_flag)
		CHECK_OK(fcntl(sv[0], F_SETFL, O_NONBLOCK));
	CHECK(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
}

static void
nonblocking_calls(bool by_flag)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM };
	long long t0 = th_now_ms();
	struct named l, r;
	char buf[8];
	struct iovec iv = { buf, sizeof(buf) };
	struct msghdr m = { .msg_iov = &iv, .msg_iovlen = 1 };
	int sv[2], c1, c2, s;

	for (size_t i = 0; i < 3; i++) {
		nb_pair(types[i], by_flag, sv);
		CHECK_ERR(recv(sv[0], buf, sizeof(buf), 0), EAGAIN);
		CHECK_ERR(read(sv[0], buf, sizeof(buf)), EAGAIN);
		CHECK_ERR(recvmsg(sv[0], &m, 0), EAGAIN);
		close_pair(sv);
	}

	nb_pair(SOCK_STREAM, by_flag, sv);
	fill(sv[0]);
	CHECK_ERR(send(sv[0], "x", 1, 0), EAGAIN);
	CHECK_ERR(write(sv[0], "x", 1), EAGAIN);
	close_pair(sv);

	named_socket(&r, SOCK_DGRAM, "r");
	s = nb_socket(SOCK_DGRAM, by_flag);
	for (int i = 0; i < QLEN_ACCEPTED; i++)
		CHECK_EQ(sendto(s, "d", 1, 0, (struct sockaddr *)&r.addr,
				r.len), 1);
	CHECK_ERR(sendto(s, "d", 1, 0, (struct sockaddr *)&r.addr, r.len),
		  EAGAIN);
	CHECK_OK(close(s));
	CHECK_OK(close(r.fd));

	/* backlog 0 admits one pending connection; the next must wait. */
	named_addr(&l, "l");
	l.fd = nb_socket(SOCK_STREAM, by_flag);
	CHECK_OK(bind(l.fd, (struct sockaddr *)&l.addr, l.len));
	CHECK_OK(listen(l.fd, 0));
	CHECK_ERR(accept(l.fd, NULL, NULL), EAGAIN);
	c1 = nb_socket(SOCK_STREAM, by_flag);
	CHECK_OK(connect(c1, (struct sockaddr *)&l.addr, l.len));
	c2 = nb_socket(SOCK_STREAM, by_flag);
	CHECK_ERR(connect(c2, (struct sockaddr *)&l.addr, l.len), EAGAIN);
	CHECK_OK(close(c2));
	CHECK_OK(close(c1));
	CHECK_OK(close(l.fd));

	CHECK(th_now_ms() - t0 < 1000);
}

/* With O_NONBLOCK set by fcntl every would-block call gives EAGAIN. */
static void
block_nonblock_fcntl(void)
{
	nonblocking_calls(false);
}

/* With SOCK_NONBLOCK at creation every would-block call gives EAGAIN. */
static void
block_nonblock_sock_flag(void)
{
	nonblocking_calls(true);
}

/* Clearing O_NONBLOCK makes the socket block again (until SO_RCVTIMEO). */
static void
block_fcntl_clear_nonblock(void)
{
	int sv[2];
	char buf[4];
	long long t0;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
	CHECK_ERR(recv(sv[0], buf, sizeof(buf), 0), EAGAIN);
	CHECK_OK(fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) & ~O_NONBLOCK));
	CHECK_EQ(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
	set_timeo(sv[0], SO_RCVTIMEO, TIMEO_MS);
	t0 = th_now_ms();
	CHECK_ERR(recv(sv[0], buf, sizeof(buf), 0), EAGAIN);
	check_elapsed(t0, TIMEO_MS);
	close_pair(sv);
}

/* O_NONBLOCK belongs to the open file: a dup shares it. */
static void
block_nonblock_shared_by_dup(void)
{
	int sv[2], d;
	char buf[4];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	d = CHECK_OK(dup(sv[0]));
	CHECK_OK(fcntl(sv[0], F_SETFL, O_NONBLOCK));
	CHECK(fcntl(d, F_GETFL) & O_NONBLOCK);
	CHECK_ERR(recv(d, buf, sizeof(buf), 0), EAGAIN);
	CHECK_OK(close(d));
	close_pair(sv);
}

/* MSG_DONTWAIT makes a single call on a blocking socket non-blocking,
 * leaving the socket blocking. */
static void
block_dontwait_one_call(void)
{
	int sv[2];
	char buf[4];
	long long t0 = th_now_ms();

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_ERR(recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	fill(sv[0]);
	CHECK_ERR(send(sv[0], "x", 1, MSG_DONTWAIT), EAGAIN);
	CHECK(th_now_ms() - t0 < 1000);
	CHECK_EQ(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
	close_pair(sv);
}

static const struct th_test tests[] = {
	{ "block_rcvtimeo_recv", block_rcvtimeo_recv },
	{ "block_rcvtimeo_accept", block_rcvtimeo_accept },
	{ "block_sndtimeo_stream_full", block_sndtimeo_stream_full },
	{ "block_sndtimeo_dgram_full", block_sndtimeo_dgram_full },
	{ "block_rcvtimeo_zero_waits", block_rcvtimeo_zero_waits },
	{ "block_sndtimeo_woken_early", block_sndtimeo_woken_early },
	{ "block_huge_timeouts", block_huge_timeouts },
	{ "block_recv_eintr", block_recv_eintr },
	{ "block_accept_eintr", block_accept_eintr },
	{ "block_send_eintr", block_send_eintr },
	{ "block_send_eintr_partial", block_send_eintr_partial },
	{ "block_dgram_send_eintr", block_dgram_send_eintr },
	{ "block_waitall_eintr_short", block_waitall_eintr_short },
	{ "block_recv_woken_by_data", block_recv_woken_by_data },
	{ "block_recv_woken_by_close", block_recv_woken_by_close },
	{ "block_accept_woken_by_connect", block_accept_woken_by_connect },
	{ "block_nonblock_fcntl", block_nonblock_fcntl },
	{ "block_nonblock_sock_flag", block_nonblock_sock_flag },
	{ "block_fcntl_clear_nonblock", block_fcntl_clear_nonblock },
	{ "block_nonblock_shared_by_dup", block_nonblock_shared_by_dup },
	{ "block_dontwait_one_call", block_dontwait_one_call },
};

TH_MAIN(tests)

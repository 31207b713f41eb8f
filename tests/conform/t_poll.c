/*
 * poll readiness of AF_UNIX sockets: the exact mask in every state of
 * each socket type, writability following the send queue (and, for a
 * datagram sender, its peer's receive queue), timeouts, wake-ups from
 * another process, and poll's own rules (POLLNVAL, negative descriptors,
 * HUP and ERR reported unasked, pipes mixed with sockets).
 */
#include "harness.h"

#define ALL	(POLLIN | POLLOUT | POLLRDHUP | POLLPRI)
#define QLEN_ACCEPTED	11	/* net.unix.max_dgram_qlen (10) + 1 */

/* -- helpers -- */

/* The revents of @fd for every interesting event, without waiting. */
static int
revents(int fd)
{
	struct pollfd p = { .fd = fd, .events = ALL, .revents = -1 };

	CHECK_OK(poll(&p, 1, 0));
	return p.revents;
}

static void
close_pair(int sv[2])
{
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
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

static size_t
drain(int fd)
{
	static char buf[4096];
	size_t total = 0;
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	CHECK_EQ(errno, EAGAIN);
	return total;
}

struct named {
	int			fd;
	struct sockaddr_un	addr;
	socklen_t		len;
};

/* A socket of @type bound to the abstract name th_unique() + @tag. */
static void
named_socket(struct named *n, int type, const char *tag)
{
	char name[96];

	snprintf(name, sizeof(name), "%s-%s", th_unique(), tag);
	n->len = th_addr_abstract(&n->addr, name, strlen(name));
	n->fd = CHECK_OK(socket(AF_UNIX, type, 0));
	CHECK_OK(bind(n->fd, (struct sockaddr *)&n->addr, n->len));
}

/* A child's action on @fd after @ms: send a byte, close, drain, or
 * connect to @to. */
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

	th_sleep_ms(j->ms);
	switch (j->what) {
	case JOB_SEND:
		CHECK_EQ(send(j->fd, "x", 1, 0), 1);
		break;
	case JOB_CLOSE:
		CHECK_OK(close(j->fd));
		break;
	case JOB_DRAIN:
		CHECK(drain(j->fd) > 0);
		break;
	case JOB_CONNECT: {
		int c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));

		CHECK_OK(connect(c, (struct sockaddr *)&j->to->addr,
				 j->to->len));
		/* Stay connected until the test has polled the listener. */
		th_sleep_ms(200);
		CHECK_OK(close(c));
		break;
	}
	}
	return th_failures();
}

/* -- fresh and connected sockets -- */

/* A fresh stream socket polls OUT|HUP (not connected means hung up). */
static void
poll_fresh_stream(void)
{
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));

	CHECK_EQ(revents(fd), POLLOUT | POLLHUP);
	CHECK_OK(close(fd));
}

/* A fresh datagram socket polls OUT only. */
static void
poll_fresh_dgram(void)
{
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));

	CHECK_EQ(revents(fd), POLLOUT);
	CHECK_OK(close(fd));
}

/* A fresh seqpacket socket polls OUT|HUP. */
static void
poll_fresh_seqpacket(void)
{
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_SEQPACKET, 0));

	CHECK_EQ(revents(fd), POLLOUT | POLLHUP);
	CHECK_OK(close(fd));
}

/* A bound but unconnected stream socket still polls OUT|HUP. */
static void
poll_bound_stream(void)
{
	struct named n;

	named_socket(&n, SOCK_STREAM, "b");
	CHECK_EQ(revents(n.fd), POLLOUT | POLLHUP);
	CHECK_OK(close(n.fd));
}

/* HUP is reported even when not asked for (events 0). */
static void
poll_hup_unrequested(void)
{
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	struct pollfd p = { .fd = fd, .events = 0 };

	CHECK_EQ(poll(&p, 1, 0), 1);
	CHECK_EQ(p.revents, POLLHUP);
	CHECK_OK(close(fd));
}

/* A connected pair of each type polls OUT on both ends. */
static void
poll_connected_idle(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM };

	for (size_t i = 0; i < 3; i++) {
		int sv[2];

		CHECK_OK(socketpair(AF_UNIX, types[i], 0, sv));
		CHECK_EQ(revents(sv[0]), POLLOUT);
		CHECK_EQ(revents(sv[1]), POLLOUT);
		close_pair(sv);
	}
}

/* Queued data adds IN, of each type, and only on the receiving end. */
static void
poll_data_readable(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM };

	for (size_t i = 0; i < 3; i++) {
		int sv[2];
		char buf[4];

		CHECK_OK(socketpair(AF_UNIX, types[i], 0, sv));
		CHECK_EQ(send(sv[0], "x", 1, 0), 1);
		CHECK_EQ(revents(sv[1]), POLLIN | POLLOUT);
		CHECK_EQ(revents(sv[0]), POLLOUT);
		CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 1);
		CHECK_EQ(revents(sv[1]), POLLOUT);
		close_pair(sv);
	}
}

/* POLLRDNORM and POLLWRNORM are reported alongside IN and OUT. */
static void
poll_rdnorm_wrnorm(void)
{
	int sv[2];
	struct pollfd p;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(send(sv[0], "x", 1, 0), 1);
	p = (struct pollfd){ .fd = sv[1], .events = POLLRDNORM | POLLWRNORM };
	CHECK_EQ(poll(&p, 1, 0), 1);
	CHECK_EQ(p.revents, POLLRDNORM | POLLWRNORM);
	close_pair(sv);
}

/* -- listeners -- */

/* A listener polls nothing while idle and IN while a connection is
 * pending, for stream and seqpacket. */
static void
poll_listener(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };

	for (size_t i = 0; i < 2; i++) {
		struct named l;
		int c, a;

		named_socket(&l, types[i], "l");
		CHECK_OK(listen(l.fd, 4));
		CHECK_EQ(revents(l.fd), 0);
		c = CHECK_OK(socket(AF_UNIX, types[i], 0));
		CHECK_OK(connect(c, (struct sockaddr *)&l.addr, l.len));
		CHECK_EQ(revents(l.fd), POLLIN);
		CHECK_EQ(revents(c), POLLOUT);
		a = CHECK_OK(accept(l.fd, NULL, NULL));
		CHECK_EQ(revents(l.fd), 0);
		CHECK_EQ(revents(a), POLLOUT);
		CHECK_OK(close(a));
		CHECK_OK(close(c));
		CHECK_OK(close(l.fd));
	}
}

/* A poll on a listener is woken when another process connects. */
static void
poll_woken_by_connect(void)
{
	struct named l;
	struct job j = { JOB_CONNECT, -1, 100, NULL };
	struct pollfd p;
	struct th_child *c;

	named_socket(&l, SOCK_STREAM, "l");
	CHECK_OK(listen(l.fd, 4));
	j.to = &l;
	c = th_fork(job_main, &j);
	p = (struct pollfd){ .fd = l.fd, .events = POLLIN };
	CHECK_EQ(poll(&p, 1, 5000), 1);
	CHECK_EQ(p.revents, POLLIN);
	CHECK_EQ(th_join(c), 0);
	CHECK_OK(close(l.fd));
}

/* -- shutdown and close -- */

/* After the peer's SHUT_WR: IN|OUT|RDHUP; the peer itself polls OUT. */
static void
poll_peer_shut_wr(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };

	for (size_t i = 0; i < 2; i++) {
		int sv[2];

		CHECK_OK(socketpair(AF_UNIX, types[i], 0, sv));
		CHECK_OK(shutdown(sv[1], SHUT_WR));
		CHECK_EQ(revents(sv[0]), POLLIN | POLLOUT | POLLRDHUP);
		CHECK_EQ(revents(sv[1]), POLLOUT);
		close_pair(sv);
	}
}

/* After our own SHUT_RD: IN|OUT|RDHUP. */
static void
poll_own_shut_rd(void)
{
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(shutdown(sv[0], SHUT_RD));
	CHECK_EQ(revents(sv[0]), POLLIN | POLLOUT | POLLRDHUP);
	CHECK_EQ(revents(sv[1]), POLLOUT);
	close_pair(sv);
}

/* SHUT_RDWR: both ends poll IN|OUT|HUP|RDHUP. */
static void
poll_shut_rdwr(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };

	for (size_t i = 0; i < 2; i++) {
		int sv[2], want = POLLIN | POLLOUT | POLLHUP | POLLRDHUP;

		CHECK_OK(socketpair(AF_UNIX, types[i], 0, sv));
		CHECK_OK(shutdown(sv[0], SHUT_RDWR));
		CHECK_EQ(revents(sv[0]), want);
		CHECK_EQ(revents(sv[1]), want);
		close_pair(sv);
	}
}

/* After the peer closed: IN|OUT|HUP|RDHUP, for stream and seqpacket. */
static void
poll_peer_closed(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };

	for (size_t i = 0; i < 2; i++) {
		int sv[2];

		CHECK_OK(socketpair(AF_UNIX, types[i], 0, sv));
		CHECK_OK(close(sv[1]));
		CHECK_EQ(revents(sv[0]), POLLIN | POLLOUT | POLLHUP | POLLRDHUP);
		CHECK_OK(close(sv[0]));
	}
}

/* A peer that closed with our data unread adds ERR, until SO_ERROR is
 * read. */
static void
poll_peer_closed_unread(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };

	for (size_t i = 0; i < 2; i++) {
		int sv[2], err = -1, base = POLLIN | POLLOUT | POLLHUP |
					     POLLRDHUP;
		socklen_t len = sizeof(err);

		CHECK_OK(socketpair(AF_UNIX, types[i], 0, sv));
		CHECK_EQ(send(sv[0], "x", 1, 0), 1);
		CHECK_OK(close(sv[1]));
		CHECK_EQ(revents(sv[0]), base | POLLERR);
		CHECK_OK(getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &err, &len));
		CHECK_EQ(err, ECONNRESET);
		CHECK_EQ(revents(sv[0]), base);
		CHECK_OK(close(sv[0]));
	}
}

/* ERR is reported even when not asked for. */
static void
poll_err_unrequested(void)
{
	int sv[2];
	struct pollfd p;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(send(sv[0], "x", 1, 0), 1);
	CHECK_OK(close(sv[1]));
	p = (struct pollfd){ .fd = sv[0], .events = 0 };
	CHECK_EQ(poll(&p, 1, 0), 1);
	CHECK_EQ(p.revents, POLLERR | POLLHUP);
	CHECK_OK(close(sv[0]));
}

/* A datagram socket whose peer closed keeps polling OUT only (the next
 * send reports ECONNREFUSED). */
static void
poll_dgram_peer_closed(void)
{
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_OK(close(sv[1]));
	CHECK_EQ(revents(sv[0]), POLLOUT);
	CHECK_ERR(send(sv[0], "x", 1, 0), ECONNREFUSED);
	CHECK_OK(close(sv[0]));
}

/* Datagram shutdown is local: SHUT_RD gives IN|OUT|RDHUP, SHUT_RDWR adds
 * HUP, and the peer keeps polling OUT. */
static void
poll_dgram_shutdown(void)
{
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_OK(shutdown(sv[0], SHUT_RD));
	CHECK_EQ(revents(sv[0]), POLLIN | POLLOUT | POLLRDHUP);
	CHECK_OK(shutdown(sv[0], SHUT_WR));
	CHECK_EQ(revents(sv[0]), POLLIN | POLLOUT | POLLRDHUP | POLLHUP);
	CHECK_EQ(revents(sv[1]), POLLOUT);
	close_pair(sv);
}

/* -- writability -- */

/* A stream or seqpacket sender with a full send queue loses OUT, and gets
 * it back once the receiver drains. */
static void
poll_out_follows_send_queue(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };

	for (size_t i = 0; i < 2; i++) {
		int sv[2];

		CHECK_OK(socketpair(AF_UNIX, types[i], 0, sv));
		fill(sv[0]);
		CHECK_EQ(revents(sv[0]), 0);
		CHECK_EQ(revents(sv[1]), POLLIN | POLLOUT);
		drain(sv[1]);
		CHECK_EQ(revents(sv[0]), POLLOUT);
		close_pair(sv);
	}
}

/* A poll waiting for POLLOUT on a full stream returns when another
 * process drains the receiver. */
static void
poll_out_woken_by_drain(void)
{
	int sv[2];
	struct job j = { JOB_DRAIN, -1, 100, NULL };
	struct pollfd p;
	struct th_child *c;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	fill(sv[0]);
	j.fd = sv[1];
	c = th_fork(job_main, &j);
	p = (struct pollfd){ .fd = sv[0], .events = POLLOUT };
	CHECK_EQ(poll(&p, 1, 5000), 1);
	CHECK_EQ(p.revents, POLLOUT);
	CHECK_EQ(th_join(c), 0);
	close_pair(sv);
}

/* A datagram sender connected to a full receiver that is not connected
 * back polls not writable; it is writable again when the receiver reads. */
static void
poll_dgram_full_receiver(void)
{
	struct named r;
	int s, n = 0;
	char buf[4];

	named_socket(&r, SOCK_DGRAM, "r");
	s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(connect(s, (struct sockaddr *)&r.addr, r.len));
	while (send(s, "d", 1, MSG_DONTWAIT) == 1)
		n++;
	CHECK_EQ(n, QLEN_ACCEPTED);
	CHECK_EQ(revents(s), 0);
	CHECK_EQ(revents(r.fd), POLLIN | POLLOUT);
	CHECK_EQ(recv(r.fd, buf, sizeof(buf), 0), 1);
	CHECK_EQ(revents(s), POLLOUT);
	CHECK_OK(close(s));
	CHECK_OK(close(r.fd));
}

/* A datagram sender blocked by a full receiver becomes writable when the
 * receiver dies, and the next send reports ECONNREFUSED. */
static void
poll_dgram_full_receiver_dies(void)
{
	struct named r;
	int s;

	named_socket(&r, SOCK_DGRAM, "r");
	s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(connect(s, (struct sockaddr *)&r.addr, r.len));
	while (send(s, "d", 1, MSG_DONTWAIT) == 1)
		;
	CHECK_EQ(revents(s), 0);
	CHECK_OK(close(r.fd));
	CHECK_EQ(revents(s), POLLOUT);
	CHECK_ERR(send(s, "d", 1, MSG_DONTWAIT), ECONNREFUSED);
	CHECK_OK(close(s));
}

/* An unconnected datagram sender stays writable in poll even when the
 * receiver it fills is full (poll only checks a connected peer). */
static void
poll_dgram_unconnected_sender(void)
{
	struct named r;
	int s;

	named_socket(&r, SOCK_DGRAM, "r");
	s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	while (sendto(s, "d", 1, MSG_DONTWAIT, (struct sockaddr *)&r.addr,
		      r.len) == 1)
		;
	CHECK_EQ(errno, EAGAIN);
	CHECK_EQ(revents(s), POLLOUT);
	CHECK_OK(close(s));
	CHECK_OK(close(r.fd));
}

/* Mutually connected datagram sockets are not limited by the receive
 * queue length: a sender with 11+ queued datagrams still polls OUT. */
static void
poll_dgram_mutual_writable(void)
{
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	for (int i = 0; i < 2 * QLEN_ACCEPTED; i++)
		CHECK_EQ(send(sv[0], "d", 1, MSG_DONTWAIT), 1);
	CHECK_EQ(revents(sv[0]), POLLOUT);
	close_pair(sv);
}

/* -- poll itself -- */

/* A timeout of 0 returns 0 at once when nothing is ready. */
static void
poll_timeout_zero(void)
{
	int sv[2];
	struct pollfd p;
	long long t0;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	p = (struct pollfd){ .fd = sv[0], .events = POLLIN, .revents = -1 };
	t0 = th_now_ms();
	CHECK_EQ(poll(&p, 1, 0), 0);
	CHECK(th_now_ms() - t0 < 500);
	CHECK_EQ(p.revents, 0);
	close_pair(sv);
}

/* A timeout that elapses returns 0 after at least that time. */
static void
poll_timeout_elapses(void)
{
	int sv[2];
	struct pollfd p;
	long long t0, dt;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	p = (struct pollfd){ .fd = sv[0], .events = POLLIN };
	t0 = th_now_ms();
	CHECK_EQ(poll(&p, 1, 150), 0);
	dt = th_now_ms() - t0;
	CHECK(dt >= 140 && dt < 1500);
	CHECK_EQ(p.revents, 0);
	close_pair(sv);
}

/* A poll waiting for IN is woken by another process's send. */
static void
poll_woken_by_send(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM };

	for (size_t i = 0; i < 3; i++) {
		int sv[2];
		struct job j = { JOB_SEND, -1, 100, NULL };
		struct pollfd p;
		struct th_child *c;
		long long t0;

		CHECK_OK(socketpair(AF_UNIX, types[i], 0, sv));
		j.fd = sv[1];
		c = th_fork(job_main, &j);
		p = (struct pollfd){ .fd = sv[0], .events = POLLIN };
		t0 = th_now_ms();
		CHECK_EQ(poll(&p, 1, 5000), 1);
		CHECK(th_now_ms() - t0 >= 50);
		CHECK_EQ(p.revents, POLLIN);
		CHECK_EQ(th_join(c), 0);
		close_pair(sv);
	}
}

/* A poll waiting for IN is woken by the peer's close, with HUP. */
static void
poll_woken_by_close(void)
{
	int sv[2];
	struct job j = { JOB_CLOSE, -1, 100, NULL };
	struct pollfd p;
	struct th_child *c;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	j.fd = sv[1];
	c = th_fork(job_main, &j);
	CHECK_OK(close(sv[1]));
	p = (struct pollfd){ .fd = sv[0], .events = POLLIN | POLLRDHUP };
	CHECK_EQ(poll(&p, 1, 5000), 1);
	CHECK_EQ(p.revents, POLLIN | POLLRDHUP | POLLHUP);
	CHECK_EQ(th_join(c), 0);
	CHECK_OK(close(sv[0]));
}

/* A closed descriptor polls POLLNVAL and counts as ready. */
static void
poll_nval_closed(void)
{
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	struct pollfd p = { .fd = fd, .events = POLLIN };

	CHECK_OK(close(fd));
	CHECK_EQ(poll(&p, 1, 0), 1);
	CHECK_EQ(p.revents, POLLNVAL);
}

/* A negative descriptor is ignored: revents 0, not counted. */
static void
poll_negative_fd_ignored(void)
{
	int sv[2];
	struct pollfd p[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	p[0] = (struct pollfd){ .fd = -1, .events = POLLIN, .revents = -1 };
	p[1] = (struct pollfd){ .fd = sv[0], .events = POLLOUT };
	CHECK_EQ(poll(p, 2, 0), 1);
	CHECK_EQ(p[0].revents, 0);
	CHECK_EQ(p[1].revents, POLLOUT);
	close_pair(sv);
}

/* poll returns the number of entries with events, over several sockets. */
static void
poll_counts_ready(void)
{
	int a[2], b[2], c[2];
	struct pollfd p[3];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, a));
	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, b));
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, c));
	CHECK_EQ(send(a[1], "x", 1, 0), 1);
	CHECK_EQ(send(c[1], "x", 1, 0), 1);
	p[0] = (struct pollfd){ .fd = a[0], .events = POLLIN };
	p[1] = (struct pollfd){ .fd = b[0], .events = POLLIN };
	p[2] = (struct pollfd){ .fd = c[0], .events = POLLIN };
	CHECK_EQ(poll(p, 3, 0), 2);
	CHECK_EQ(p[0].revents, POLLIN);
	CHECK_EQ(p[1].revents, 0);
	CHECK_EQ(p[2].revents, POLLIN);
	close_pair(a);
	close_pair(b);
	close_pair(c);
}

/* A pipe and a socket polled together each report their own readiness. */
static void
poll_pipe_and_socket(void)
{
	int pp[2], sv[2];
	struct pollfd p[2];

	CHECK_OK(pipe(pp));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	p[0] = (struct pollfd){ .fd = pp[0], .events = POLLIN };
	p[1] = (struct pollfd){ .fd = sv[0], .events = POLLIN };
	CHECK_EQ(poll(p, 2, 0), 0);
	CHECK_EQ(write(pp[1], "p", 1), 1);
	CHECK_EQ(poll(p, 2, 0), 1);
	CHECK_EQ(p[0].revents, POLLIN);
	CHECK_EQ(p[1].revents, 0);
	CHECK_EQ(send(sv[1], "s", 1, 0), 1);
	CHECK_EQ(poll(p, 2, 0), 2);
	CHECK_EQ(p[1].revents, POLLIN);
	close_pair(pp);
	close_pair(sv);
}

/* Writable means the send queue's cost is at most a quarter of SO_SNDBUF
 * counting one more byte, as Linux's sk_wmem_alloc starts at 1: with
 * SO_SNDBUF 12288, three empty datagrams (768 each) leave the socket
 * writable and a fourth (3072, exactly a quarter) does not. */
static void
poll_out_quarter_counts_one_more(void)
{
	int sv[2], v = 6144, outq = -1;

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv));
	CHECK_OK(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)));
	for (int i = 0; i < 3; i++)
		CHECK_EQ(send(sv[0], "", 0, 0), 0);
	CHECK_OK(ioctl(sv[0], SIOCOUTQ, &outq));
	CHECK_EQ(outq, 2304);
	CHECK(revents(sv[0]) & POLLOUT);
	CHECK_EQ(send(sv[0], "", 0, 0), 0);
	CHECK_OK(ioctl(sv[0], SIOCOUTQ, &outq));
	CHECK_EQ(outq, 3072);
	CHECK(!(revents(sv[0]) & POLLOUT));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

static const struct th_test tests[] = {
	{ "poll_fresh_stream", poll_fresh_stream },
	{ "poll_out_quarter_counts_one_more",
	  poll_out_quarter_counts_one_more },
	{ "poll_fresh_dgram", poll_fresh_dgram },
	{ "poll_fresh_seqpacket", poll_fresh_seqpacket },
	{ "poll_bound_stream", poll_bound_stream },
	{ "poll_hup_unrequested", poll_hup_unrequested },
	{ "poll_connected_idle", poll_connected_idle },
	{ "poll_data_readable", poll_data_readable },
	{ "poll_rdnorm_wrnorm", poll_rdnorm_wrnorm },
	{ "poll_listener", poll_listener },
	{ "poll_woken_by_connect", poll_woken_by_connect },
	{ "poll_peer_shut_wr", poll_peer_shut_wr },
	{ "poll_own_shut_rd", poll_own_shut_rd },
	{ "poll_shut_rdwr", poll_shut_rdwr },
	{ "poll_peer_closed", poll_peer_closed },
	{ "poll_peer_closed_unread", poll_peer_closed_unread },
	{ "poll_err_unrequested", poll_err_unrequested },
	{ "poll_dgram_peer_closed", poll_dgram_peer_closed },
	{ "poll_dgram_shutdown", poll_dgram_shutdown },
	{ "poll_out_follows_send_queue", poll_out_follows_send_queue },
	{ "poll_out_woken_by_drain", poll_out_woken_by_drain },
	{ "poll_dgram_full_receiver", poll_dgram_full_receiver },
	{ "poll_dgram_full_receiver_dies", poll_dgram_full_receiver_dies },
	{ "poll_dgram_unconnected_sender", poll_dgram_unconnected_sender },
	{ "poll_dgram_mutual_writable", poll_dgram_mutual_writable },
	{ "poll_timeout_zero", poll_timeout_zero },
	{ "poll_timeout_elapses", poll_timeout_elapses },
	{ "poll_woken_by_send", poll_woken_by_send },
	{ "poll_woken_by_close", poll_woken_by_close },
	{ "poll_nval_closed", poll_nval_closed },
	{ "poll_negative_fd_ignored", poll_negative_fd_ignored },
	{ "poll_counts_ready", poll_counts_ready },
	{ "poll_pipe_and_socket", poll_pipe_and_socket },
};

TH_MAIN(tests)

/*
 * shutdown and close: argument checks, each direction's effect on both
 * ends of a stream or seqpacket connection, datagram shutdown staying
 * local, a listener that stops listening, and a peer that closes with
 * unread data (ECONNRESET once).
 */
#include "harness.h"

/* -- helpers -- */

static void
close_pair(int sv[2])
{
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

static int
revents(int fd)
{
	struct pollfd p = {
		.fd = fd, .events = POLLIN | POLLOUT | POLLRDHUP | POLLPRI,
	};

	CHECK_OK(poll(&p, 1, 0));
	return p.revents;
}

static int
so_error(int fd)
{
	int err = -1;
	socklen_t len = sizeof(err);

	CHECK_OK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len));
	return err;
}

/* Sends with MSG_DONTWAIT until the send queue is full. */
static void
fill(int fd)
{
	static char buf[4096];

	while (send(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	CHECK_EQ(errno, EAGAIN);
}

/* A child that sleeps @ms, then shuts down (@how >= 0) or closes (@how
 * -1) @fd. */
struct job {
	int	fd;
	int	ms;
	int	how;
};

static int
job_main(void *p)
{
	const struct job *j = p;

	th_sleep_ms(j->ms);
	if (j->how >= 0)
		CHECK_OK(shutdown(j->fd, j->how));
	else
		CHECK_OK(close(j->fd));
	return th_failures();
}

static const int conn_types[] = { SOCK_STREAM, SOCK_SEQPACKET };
#define N_CONN_TYPES	(sizeof(conn_types) / sizeof(conn_types[0]))

/* -- arguments -- */

/* shutdown succeeds on an unconnected socket of every type, in every
 * direction. */
static void
shutdown_unconnected_ok(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM };

	for (size_t i = 0; i < 3; i++)
		for (int how = SHUT_RD; how <= SHUT_RDWR; how++) {
			int fd = CHECK_OK(socket(AF_UNIX, types[i], 0));

			CHECK_EQ(shutdown(fd, how), 0);
			CHECK_OK(close(fd));
		}
}

/* A direction outside SHUT_RD..SHUT_RDWR fails with EINVAL. */
static void
shutdown_bad_how(void)
{
	static const int bad[] = { 3, 4, 100, -1 };
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_ERR(shutdown(sv[0], bad[i]), EINVAL);
	CHECK_EQ(send(sv[0], "x", 1, 0), 1);
	close_pair(sv);
}

/* shutdown on a descriptor that is not a socket fails with ENOTSOCK. */
static void
shutdown_not_socket(void)
{
	int pp[2];

	CHECK_OK(pipe(pp));
	CHECK_ERR(shutdown(pp[0], SHUT_RDWR), ENOTSOCK);
	close_pair(pp);
	CHECK_ERR(shutdown(pp[0], SHUT_RDWR), EBADF);
}

/* Repeating a shutdown, or widening it, succeeds. */
static void
shutdown_repeat_ok(void)
{
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(shutdown(sv[0], SHUT_WR), 0);
	CHECK_EQ(shutdown(sv[0], SHUT_WR), 0);
	CHECK_EQ(shutdown(sv[0], SHUT_RDWR), 0);
	CHECK_EQ(shutdown(sv[0], SHUT_RD), 0);
	close_pair(sv);
}

/* -- SHUT_WR -- */

/* After SHUT_WR the peer reads the queued data, then EOF, for stream and
 * seqpacket. */
static void
shutdown_wr_peer_reads_then_eof(void)
{
	for (size_t i = 0; i < N_CONN_TYPES; i++) {
		int sv[2];
		char buf[8];

		CHECK_OK(socketpair(AF_UNIX, conn_types[i], 0, sv));
		CHECK_EQ(send(sv[0], "tail", 4, 0), 4);
		CHECK_OK(shutdown(sv[0], SHUT_WR));
		CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 4);
		CHECK_MEM(buf, "tail", 4);
		CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 0);
		CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 0);
		close_pair(sv);
	}
}

/* After our own SHUT_WR, sending fails with EPIPE: with SIGPIPE on a
 * stream, without on seqpacket. */
static void
shutdown_wr_own_send_epipe(void)
{
	int sv[2];

	th_catch(SIGPIPE);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(shutdown(sv[0], SHUT_WR));
	CHECK_ERR(send(sv[0], "x", 1, 0), EPIPE);
	CHECK_EQ(th_signal_count(SIGPIPE), 1);
	close_pair(sv);

	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	CHECK_OK(shutdown(sv[0], SHUT_WR));
	CHECK_ERR(send(sv[0], "x", 1, 0), EPIPE);
	CHECK_EQ(th_signal_count(SIGPIPE), 1);
	close_pair(sv);
}

/* After our SHUT_WR we still receive what the peer sends. */
static void
shutdown_wr_own_still_receives(void)
{
	for (size_t i = 0; i < N_CONN_TYPES; i++) {
		int sv[2];
		char buf[8];

		CHECK_OK(socketpair(AF_UNIX, conn_types[i], 0, sv));
		CHECK_OK(shutdown(sv[0], SHUT_WR));
		CHECK_EQ(send(sv[1], "back", 4, 0), 4);
		CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 4);
		CHECK_MEM(buf, "back", 4);
		close_pair(sv);
	}
}

/* A peer blocked in recv is woken by our SHUT_WR and reads EOF. */
static void
shutdown_wr_wakes_reader(void)
{
	int sv[2];
	char buf[8];
	struct job j = { -1, 100, SHUT_WR };
	struct th_child *c;
	long long t0;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	j.fd = sv[0];
	c = th_fork(job_main, &j);
	t0 = th_now_ms();
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 0);
	CHECK(th_now_ms() - t0 >= 50);
	CHECK_EQ(th_join(c), 0);
	close_pair(sv);
}

/* -- SHUT_RD -- */

/* After the peer's SHUT_RD a stream send fails with EPIPE and SIGPIPE. */
static void
shutdown_rd_peer_send_epipe_stream(void)
{
	int sv[2];

	th_catch(SIGPIPE);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(shutdown(sv[1], SHUT_RD));
	CHECK_ERR(send(sv[0], "x", 1, 0), EPIPE);
	CHECK_EQ(th_signal_count(SIGPIPE), 1);
	close_pair(sv);
}

/* After the peer's SHUT_RD a seqpacket send fails with EPIPE and no
 * SIGPIPE. */
static void
shutdown_rd_peer_send_epipe_seqpacket(void)
{
	int sv[2];

	th_catch(SIGPIPE);
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	CHECK_OK(shutdown(sv[1], SHUT_RD));
	CHECK_ERR(send(sv[0], "x", 1, 0), EPIPE);
	CHECK_EQ(th_signal_count(SIGPIPE), 0);
	close_pair(sv);
}

/* After our SHUT_RD the data already queued for us is still read, then
 * recv returns 0 at once. */
static void
shutdown_rd_queued_still_readable(void)
{
	for (size_t i = 0; i < N_CONN_TYPES; i++) {
		int sv[2];
		char buf[8];

		CHECK_OK(socketpair(AF_UNIX, conn_types[i], 0, sv));
		CHECK_EQ(send(sv[1], "kept", 4, 0), 4);
		CHECK_OK(shutdown(sv[0], SHUT_RD));
		CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 4);
		CHECK_MEM(buf, "kept", 4);
		CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 0);
		close_pair(sv);
	}
}

/* After our SHUT_RD we can still send, and the peer receives it. */
static void
shutdown_rd_own_still_sends(void)
{
	for (size_t i = 0; i < N_CONN_TYPES; i++) {
		int sv[2];
		char buf[8];

		CHECK_OK(socketpair(AF_UNIX, conn_types[i], 0, sv));
		CHECK_OK(shutdown(sv[0], SHUT_RD));
		CHECK_EQ(send(sv[0], "out", 3, 0), 3);
		CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 3);
		close_pair(sv);
	}
}

/*
 * A stream sender blocked on a full queue is woken by the peer's SHUT_RD
 * (@how) or close (-1) and fails with @err (EPIPE, or ECONNRESET when the
 * peer closed with our data unread), but without SIGPIPE: Linux raises
 * SIGPIPE only when the shutdown is seen before the send waits. The next
 * send gets EPIPE and SIGPIPE.
 */
static void
blocked_sender_woken(int how, int err)
{
	int sv[2];
	static char buf[4096];
	struct job j = { -1, 100, how };
	struct th_child *c;

	th_catch(SIGPIPE);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	fill(sv[0]);
	j.fd = sv[1];
	c = th_fork(job_main, &j);
	if (how < 0) {
		CHECK_OK(close(sv[1]));
		sv[1] = -1;
	}
	CHECK_ERR(send(sv[0], buf, sizeof(buf), 0), err);
	CHECK_EQ(th_signal_count(SIGPIPE), 0);
	CHECK_ERR(send(sv[0], buf, sizeof(buf), 0), EPIPE);
	CHECK_EQ(th_signal_count(SIGPIPE), 1);
	CHECK_EQ(so_error(sv[0]), 0);
	CHECK_EQ(th_join(c), 0);
	CHECK_OK(close(sv[0]));
	if (sv[1] >= 0)
		CHECK_OK(close(sv[1]));
}

/* The peer's SHUT_RD wakes a blocked stream sender with EPIPE. */
static void
shutdown_rd_wakes_blocked_sender(void)
{
	blocked_sender_woken(SHUT_RD, EPIPE);
}

/* The close of a peer that left our data unread wakes a blocked stream
 * sender with ECONNRESET (the pending error, consumed). */
static void
close_wakes_blocked_sender(void)
{
	blocked_sender_woken(-1, ECONNRESET);
}

/* -- SHUT_RDWR -- */

/* SHUT_RDWR on one end makes both ends poll HUP; our recv reads 0 and our
 * send fails with EPIPE, as does the peer's. */
static void
shutdown_rdwr_both_ends(void)
{
	for (size_t i = 0; i < N_CONN_TYPES; i++) {
		int sv[2];
		char buf[4];

		CHECK_OK(socketpair(AF_UNIX, conn_types[i], 0, sv));
		CHECK_OK(shutdown(sv[0], SHUT_RDWR));
		CHECK(revents(sv[0]) & POLLHUP);
		CHECK(revents(sv[1]) & POLLHUP);
		CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 0);
		CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 0);
		CHECK_ERR(send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
		CHECK_ERR(send(sv[1], "x", 1, MSG_NOSIGNAL), EPIPE);
		close_pair(sv);
	}
}

/* SHUT_RD on one end and SHUT_WR on the other add up to HUP on both. */
static void
shutdown_halves_add_up(void)
{
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(shutdown(sv[0], SHUT_WR));
	CHECK(!(revents(sv[0]) & POLLHUP));
	CHECK_OK(shutdown(sv[1], SHUT_WR));
	CHECK(revents(sv[0]) & POLLHUP);
	CHECK(revents(sv[1]) & POLLHUP);
	close_pair(sv);
}

/* A peer that shut down both ways with our data unread does not make us
 * see ECONNRESET: only close does. */
static void
shutdown_rdwr_unread_no_reset(void)
{
	int sv[2];
	char buf[4];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(send(sv[0], "unread", 6, 0), 6);
	CHECK_OK(shutdown(sv[1], SHUT_RDWR));
	CHECK_EQ(so_error(sv[0]), 0);
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 0);
	close_pair(sv);
}

/* -- datagram -- */

/* Datagram SHUT_WR is local: our send fails with EPIPE (no SIGPIPE) while
 * the peer can still send to us and polls no hangup. */
static void
shutdown_dgram_wr_local(void)
{
	int sv[2];
	char buf[4];

	th_catch(SIGPIPE);
	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_OK(shutdown(sv[0], SHUT_WR));
	CHECK_ERR(send(sv[0], "x", 1, 0), EPIPE);
	CHECK_EQ(th_signal_count(SIGPIPE), 0);
	CHECK_EQ(revents(sv[1]), POLLOUT);
	CHECK_EQ(send(sv[1], "y", 1, 0), 1);
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 1);
	close_pair(sv);
}

/* Datagram SHUT_RD: our blocking recv returns 0 at once (non-blocking:
 * EAGAIN) and the peer's sends to us fail with EPIPE, while the peer's own
 * state is unchanged. */
static void
shutdown_dgram_rd_local(void)
{
	int sv[2];
	char buf[4];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_OK(shutdown(sv[0], SHUT_RD));
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 0);
	CHECK_ERR(recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	CHECK_ERR(send(sv[1], "x", 1, MSG_NOSIGNAL), EPIPE);
	CHECK_EQ(revents(sv[1]), POLLOUT);
	CHECK_EQ(send(sv[0], "y", 1, 0), 1);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 1);
	close_pair(sv);
}

/* -- listeners -- */

/* A listener that did SHUT_RD refuses new connections with ECONNREFUSED. */
static void
shutdown_listener_rd_refuses(void)
{
	struct sockaddr_un la;
	socklen_t llen = th_addr_abstract(&la, th_unique(), strlen(th_unique()));
	int l, c;

	l = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(l, (struct sockaddr *)&la, llen));
	CHECK_OK(listen(l, 4));
	CHECK_OK(shutdown(l, SHUT_RD));
	c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_ERR(connect(c, (struct sockaddr *)&la, llen), ECONNREFUSED);
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* A client whose listener closed before accepting it reads ECONNRESET,
 * then 0. */
static void
shutdown_listener_closed_client_reset(void)
{
	struct sockaddr_un la;
	socklen_t llen = th_addr_abstract(&la, th_unique(), strlen(th_unique()));
	int l, c;
	char buf[4];

	l = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(l, (struct sockaddr *)&la, llen));
	CHECK_OK(listen(l, 4));
	c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&la, llen));
	CHECK_OK(close(l));
	CHECK_ERR(recv(c, buf, sizeof(buf), 0), ECONNRESET);
	CHECK_EQ(recv(c, buf, sizeof(buf), 0), 0);
	CHECK_OK(close(c));
}

/* -- close with unread data -- */

/* A stream peer that closes with our data unread: we read our own queued
 * data first, then ECONNRESET once, then 0. */
static void
close_unread_stream_reset_once(void)
{
	int sv[2];
	char buf[16];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(send(sv[1], "for0", 4, 0), 4);
	CHECK_EQ(send(sv[0], "lost", 4, 0), 4);
	CHECK_OK(close(sv[1]));
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 4);
	CHECK_MEM(buf, "for0", 4);
	CHECK_ERR(recv(sv[0], buf, sizeof(buf), 0), ECONNRESET);
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 0);
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 0);
	CHECK_OK(close(sv[0]));
}

/* The reset shows as POLLERR and SO_ERROR ECONNRESET; reading SO_ERROR
 * clears both, and recv then reads 0. */
static void
close_unread_stream_so_error(void)
{
	int sv[2];
	char buf[4];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(send(sv[0], "lost", 4, 0), 4);
	CHECK_OK(close(sv[1]));
	CHECK(revents(sv[0]) & POLLERR);
	CHECK_EQ(so_error(sv[0]), ECONNRESET);
	CHECK(!(revents(sv[0]) & POLLERR));
	CHECK_EQ(so_error(sv[0]), 0);
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 0);
	CHECK_OK(close(sv[0]));
}

/* A stream send after such a reset fails with EPIPE (the error is reported
 * by recv, not by send). */
static void
close_unread_stream_send_epipe(void)
{
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(send(sv[0], "lost", 4, 0), 4);
	CHECK_OK(close(sv[1]));
	CHECK_ERR(send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
	CHECK_EQ(so_error(sv[0]), ECONNRESET);
	CHECK_OK(close(sv[0]));
}

/* A seqpacket peer that closes with unread data: ECONNRESET comes before
 * the records queued for us. */
static void
close_unread_seqpacket_reset_first(void)
{
	int sv[2];
	char buf[16];

	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	CHECK_EQ(send(sv[1], "for0", 4, 0), 4);
	CHECK_EQ(send(sv[0], "lost", 4, 0), 4);
	CHECK_OK(close(sv[1]));
	CHECK_ERR(read(sv[0], buf, sizeof(buf)), ECONNRESET);
	CHECK_EQ(read(sv[0], buf, sizeof(buf)), 4);
	CHECK_EQ(read(sv[0], buf, sizeof(buf)), 0);
	CHECK_OK(close(sv[0]));
}

/* A peer that read everything before closing leaves no error: just EOF. */
static void
close_after_reading_no_reset(void)
{
	for (size_t i = 0; i < N_CONN_TYPES; i++) {
		int sv[2];
		char buf[8];

		CHECK_OK(socketpair(AF_UNIX, conn_types[i], 0, sv));
		CHECK_EQ(send(sv[0], "read", 4, 0), 4);
		CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 4);
		CHECK_OK(close(sv[1]));
		CHECK_EQ(so_error(sv[0]), 0);
		CHECK(!(revents(sv[0]) & POLLERR));
		CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 0);
		CHECK_OK(close(sv[0]));
	}
}

/* A reader blocked in recv is woken by the peer's close with 0. */
static void
close_wakes_reader(void)
{
	int sv[2];
	char buf[8];
	struct job j = { -1, 100, -1 };
	struct th_child *c;

	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	j.fd = sv[1];
	c = th_fork(job_main, &j);
	CHECK_OK(close(sv[1]));
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 0);
	CHECK_EQ(th_join(c), 0);
	CHECK_OK(close(sv[0]));
}

/* What a closing socket leaves unread resets its peer only when there is
 * data: an empty message at the head of its queue (a consumed
 * out-of-band mark, an empty record) does not count, so the peer sees no
 * ECONNRESET. */
static void
close_empty_head_no_reset(void)
{
	int sv[2], err = -1;
	socklen_t len = sizeof(err);
	char c;

	/* A stream whose only queued message is the consumed OOB mark. */
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(send(sv[0], "x", 1, MSG_OOB), 1);
	CHECK_EQ(recv(sv[1], &c, 1, MSG_OOB), 1);
	CHECK_OK(close(sv[1]));
	CHECK_OK(getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &err, &len));
	CHECK_EQ(err, 0);
	CHECK_OK(close(sv[0]));

	/* A seqpacket socket holding one empty record. */
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	CHECK_EQ(send(sv[0], "", 0, 0), 0);
	CHECK_OK(close(sv[1]));
	CHECK_ERR(send(sv[0], "y", 1, MSG_NOSIGNAL), EPIPE);
	CHECK_OK(close(sv[0]));

	/* Behind the empty head there is data: that resets. */
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	CHECK_EQ(send(sv[0], "", 0, 0), 0);
	CHECK_EQ(send(sv[0], "z", 1, 0), 1);
	CHECK_OK(close(sv[1]));
	CHECK_ERR(send(sv[0], "y", 1, MSG_NOSIGNAL), ECONNRESET);
	CHECK_OK(close(sv[0]));
}

static const struct th_test tests[] = {
	{ "close_empty_head_no_reset", close_empty_head_no_reset },
	{ "shutdown_unconnected_ok", shutdown_unconnected_ok },
	{ "shutdown_bad_how", shutdown_bad_how },
	{ "shutdown_not_socket", shutdown_not_socket },
	{ "shutdown_repeat_ok", shutdown_repeat_ok },
	{ "shutdown_wr_peer_reads_then_eof", shutdown_wr_peer_reads_then_eof },
	{ "shutdown_wr_own_send_epipe", shutdown_wr_own_send_epipe },
	{ "shutdown_wr_own_still_receives", shutdown_wr_own_still_receives },
	{ "shutdown_wr_wakes_reader", shutdown_wr_wakes_reader },
	{ "shutdown_rd_peer_send_epipe_stream",
	  shutdown_rd_peer_send_epipe_stream },
	{ "shutdown_rd_peer_send_epipe_seqpacket",
	  shutdown_rd_peer_send_epipe_seqpacket },
	{ "shutdown_rd_queued_still_readable",
	  shutdown_rd_queued_still_readable },
	{ "shutdown_rd_own_still_sends", shutdown_rd_own_still_sends },
	{ "shutdown_rd_wakes_blocked_sender", shutdown_rd_wakes_blocked_sender },
	{ "shutdown_rdwr_both_ends", shutdown_rdwr_both_ends },
	{ "shutdown_halves_add_up", shutdown_halves_add_up },
	{ "shutdown_rdwr_unread_no_reset", shutdown_rdwr_unread_no_reset },
	{ "shutdown_dgram_wr_local", shutdown_dgram_wr_local },
	{ "shutdown_dgram_rd_local", shutdown_dgram_rd_local },
	{ "shutdown_listener_rd_refuses", shutdown_listener_rd_refuses },
	{ "shutdown_listener_closed_client_reset",
	  shutdown_listener_closed_client_reset },
	{ "close_unread_stream_reset_once", close_unread_stream_reset_once },
	{ "close_unread_stream_so_error", close_unread_stream_so_error },
	{ "close_unread_stream_send_epipe", close_unread_stream_send_epipe },
	{ "close_unread_seqpacket_reset_first",
	  close_unread_seqpacket_reset_first },
	{ "close_after_reading_no_reset", close_after_reading_no_reset },
	{ "close_wakes_reader", close_wakes_reader },
	{ "close_wakes_blocked_sender", close_wakes_blocked_sender },
};

TH_MAIN(tests)

/*
 * SOCK_SEQPACKET data transfer: records keep their boundaries, a short
 * buffer truncates, 0-byte records exist, EPIPE comes without SIGPIPE,
 * and a peer that closed with unread data is reported (ECONNRESET) before
 * the data still queued.
 */
#include "harness.h"

/* -- helpers -- */

static void
seq_pair(int sv[2])
{
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
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

/* recvmsg into @buf of @len bytes; stores msg_flags in @flags. */
static ssize_t
recv_flags(int fd, void *buf, size_t len, int rflags, int *flags)
{
	struct iovec iv = { buf, len };
	struct msghdr m = { .msg_iov = &iv, .msg_iovlen = 1, .msg_flags = -1 };
	ssize_t n = recvmsg(fd, &m, rflags);

	*flags = m.msg_flags;
	return n;
}

/* -- records -- */

/* Each send is one record; a large buffer receives one record at a time. */
static void
seqpacket_record_boundaries(void)
{
	int sv[2];
	char buf[32];

	seq_pair(sv);
	CHECK_EQ(send(sv[0], "ab", 2, 0), 2);
	CHECK_EQ(send(sv[0], "cde", 3, 0), 3);
	CHECK_EQ(write(sv[0], "fghi", 4), 4);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 2);
	CHECK_MEM(buf, "ab", 2);
	CHECK_EQ(read(sv[1], buf, sizeof(buf)), 3);
	CHECK_MEM(buf, "cde", 3);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 4);
	CHECK_MEM(buf, "fghi", 4);
	CHECK_ERR(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	close_pair(sv);
}

/* A short buffer gets the start of the record with MSG_TRUNC; the rest of
 * the record is discarded and the next recv gets the next record. */
static void
seqpacket_short_buffer_truncates(void)
{
	int sv[2], flags;
	char buf[32];

	seq_pair(sv);
	CHECK_EQ(send(sv[0], "0123456789", 10, 0), 10);
	CHECK_EQ(send(sv[0], "next", 4, 0), 4);
	CHECK_EQ(recv_flags(sv[1], buf, 4, 0, &flags), 4);
	CHECK_MEM(buf, "0123", 4);
	CHECK_EQ(flags, MSG_TRUNC);
	CHECK_EQ(recv_flags(sv[1], buf, sizeof(buf), 0, &flags), 4);
	CHECK_MEM(buf, "next", 4);
	CHECK_EQ(flags, 0);
	close_pair(sv);
}

/* With the MSG_TRUNC flag, recv returns the record's real length while
 * copying only what fits. */
static void
seqpacket_trunc_flag_real_length(void)
{
	int sv[2], flags;
	char buf[32];

	seq_pair(sv);
	CHECK_EQ(send(sv[0], "0123456789", 10, 0), 10);
	memset(buf, '-', sizeof(buf));
	CHECK_EQ(recv_flags(sv[1], buf, 4, MSG_TRUNC, &flags), 10);
	CHECK_MEM(buf, "0123-", 5);
	CHECK_EQ(flags, MSG_TRUNC);
	CHECK_EQ(send(sv[0], "abc", 3, 0), 3);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_TRUNC), 3);
	CHECK_ERR(recv(sv[1], buf, 0, MSG_TRUNC | MSG_DONTWAIT), EAGAIN);
	close_pair(sv);
}

/* A read() with a short buffer truncates just like recv. */
static void
seqpacket_read_truncates(void)
{
	int sv[2];
	char buf[32];

	seq_pair(sv);
	CHECK_EQ(send(sv[0], "0123456789", 10, 0), 10);
	CHECK_EQ(send(sv[0], "xy", 2, 0), 2);
	CHECK_EQ(read(sv[1], buf, 3), 3);
	CHECK_MEM(buf, "012", 3);
	CHECK_EQ(read(sv[1], buf, sizeof(buf)), 2);
	CHECK_MEM(buf, "xy", 2);
	close_pair(sv);
}

/* A 0-byte record is sent, counts in no FIONREAD byte, wakes poll, and
 * reads as 0 without being EOF: the next record follows. */
static void
seqpacket_zero_record(void)
{
	int sv[2], flags;
	char buf[8];
	struct pollfd p;

	seq_pair(sv);
	CHECK_EQ(send(sv[0], "", 0, 0), 0);
	CHECK_EQ(send(sv[0], "z", 1, 0), 1);
	CHECK_EQ(inq(sv[1]), 1);
	p = (struct pollfd){ .fd = sv[1], .events = POLLIN };
	CHECK_EQ(poll(&p, 1, 0), 1);
	CHECK_EQ(p.revents, POLLIN);
	CHECK_EQ(recv_flags(sv[1], buf, sizeof(buf), 0, &flags), 0);
	CHECK_EQ(flags, 0);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 1);
	CHECK_ERR(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	close_pair(sv);
}

/* recvmsg reports msg_flags 0 for a whole record and a name length of 0
 * for a socketpair peer. */
static void
seqpacket_recvmsg_flags(void)
{
	int sv[2];
	char buf[16];
	struct sockaddr_un from;
	struct iovec iv = { buf, sizeof(buf) };
	struct msghdr m = {
		.msg_name = &from, .msg_namelen = sizeof(from),
		.msg_iov = &iv, .msg_iovlen = 1, .msg_flags = -1,
	};

	seq_pair(sv);
	CHECK_EQ(send(sv[0], "rec", 3, MSG_EOR), 3);
	CHECK_EQ(recvmsg(sv[1], &m, 0), 3);
	CHECK_EQ(m.msg_flags, 0);
	CHECK_EQ(m.msg_namelen, 0);
	close_pair(sv);
}

/* writev makes one record of all its vectors; readv scatters it. */
static void
seqpacket_writev_one_record(void)
{
	int sv[2];
	char a[2], b[8];
	struct iovec out[2] = { { "abc", 3 }, { "def", 3 } };
	struct iovec in[2] = { { a, 2 }, { b, 8 } };

	seq_pair(sv);
	CHECK_EQ(writev(sv[0], out, 2), 6);
	CHECK_EQ(send(sv[0], "g", 1, 0), 1);
	CHECK_EQ(readv(sv[1], in, 2), 6);
	CHECK_MEM(a, "ab", 2);
	CHECK_MEM(b, "cdef", 4);
	CHECK_EQ(recv(sv[1], b, sizeof(b), 0), 1);
	close_pair(sv);
}

/* FIONREAD is the total of all queued records. */
static void
seqpacket_fionread(void)
{
	int sv[2];
	char buf[8];

	seq_pair(sv);
	CHECK_EQ(inq(sv[1]), 0);
	CHECK_EQ(send(sv[0], "abc", 3, 0), 3);
	CHECK_EQ(send(sv[0], "defgh", 5, 0), 5);
	CHECK_EQ(inq(sv[1]), 8);
	CHECK_EQ(recv(sv[1], buf, 1, 0), 1);
	CHECK_EQ(inq(sv[1]), 5);
	close_pair(sv);
}

/* MSG_PEEK returns the record and leaves it queued, even when truncated. */
static void
seqpacket_peek_keeps_record(void)
{
	int sv[2], flags;
	char buf[16];

	seq_pair(sv);
	CHECK_EQ(send(sv[0], "record", 6, 0), 6);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_PEEK), 6);
	CHECK_MEM(buf, "record", 6);
	CHECK_EQ(recv_flags(sv[1], buf, 3, MSG_PEEK, &flags), 3);
	CHECK_EQ(flags, MSG_TRUNC);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 6);
	CHECK_MEM(buf, "record", 6);
	CHECK_ERR(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	close_pair(sv);
}

/* MSG_WAITALL does not join records: it returns one record. */
static void
seqpacket_waitall_one_record(void)
{
	int sv[2];
	char buf[16];

	seq_pair(sv);
	CHECK_EQ(send(sv[0], "abc", 3, 0), 3);
	CHECK_EQ(send(sv[0], "def", 3, 0), 3);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_WAITALL), 3);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_WAITALL), 3);
	close_pair(sv);
}

/* A record larger than SO_SNDBUF - 32 fails with EMSGSIZE; one of exactly
 * that size goes through. */
static void
seqpacket_emsgsize(void)
{
	int sv[2], req = 8192, sndbuf = 0;
	socklen_t len = sizeof(sndbuf);
	char *buf;

	seq_pair(sv);
	CHECK_OK(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &req, sizeof(req)));
	CHECK_OK(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, &len));
	CHECK_EQ(sndbuf, 2 * req);
	buf = calloc(1, (size_t)sndbuf);
	CHECK_ERR(send(sv[0], buf, (size_t)sndbuf - 31, 0), EMSGSIZE);
	CHECK_EQ(inq(sv[1]), 0);
	CHECK_EQ(send(sv[0], buf, (size_t)sndbuf - 32, 0), sndbuf - 32);
	CHECK_EQ(recv(sv[1], buf, (size_t)sndbuf, 0), sndbuf - 32);
	free(buf);
	close_pair(sv);
}

/* Sending on an unconnected seqpacket socket fails with ENOTCONN, with or
 * without an address. */
static void
seqpacket_send_unconnected(void)
{
	struct sockaddr_un sa;
	socklen_t slen = th_addr_abstract(&sa, th_unique(), strlen(th_unique()));
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_SEQPACKET, 0));

	CHECK_ERR(send(fd, "x", 1, 0), ENOTCONN);
	CHECK_ERR(sendto(fd, "x", 1, 0, (struct sockaddr *)&sa, slen),
		  ENOTCONN);
	CHECK_OK(close(fd));
}

/* Receiving on an unconnected seqpacket socket fails with ENOTCONN (a
 * stream socket says EINVAL). */
static void
seqpacket_recv_unconnected(void)
{
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_SEQPACKET, 0));
	char buf[4];

	CHECK_ERR(recv(fd, buf, sizeof(buf), 0), ENOTCONN);
	CHECK_OK(close(fd));
}

/* A connected seqpacket socket ignores the address given to sendto: the
 * record goes to the peer. */
static void
seqpacket_sendto_ignores_address(void)
{
	struct sockaddr_un sa;
	socklen_t slen = th_addr_abstract(&sa, th_unique(), strlen(th_unique()));
	int sv[2];
	char buf[8];

	seq_pair(sv);
	CHECK_EQ(sendto(sv[0], "to", 2, 0, (struct sockaddr *)&sa, slen), 2);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 2);
	CHECK_MEM(buf, "to", 2);
	close_pair(sv);
}

/* Records flow over a listener-made connection in both directions, with
 * records sent before accept kept. */
static void
seqpacket_connected_via_listener(void)
{
	struct sockaddr_un la;
	socklen_t llen = th_addr_abstract(&la, th_unique(), strlen(th_unique()));
	int l, c, a;
	char buf[8];

	l = CHECK_OK(socket(AF_UNIX, SOCK_SEQPACKET, 0));
	CHECK_OK(bind(l, (struct sockaddr *)&la, llen));
	CHECK_OK(listen(l, 1));
	c = CHECK_OK(socket(AF_UNIX, SOCK_SEQPACKET, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&la, llen));
	CHECK_EQ(send(c, "one", 3, 0), 3);
	CHECK_EQ(send(c, "two!", 4, 0), 4);
	a = CHECK_OK(accept(l, NULL, NULL));
	CHECK_EQ(recv(a, buf, sizeof(buf), 0), 3);
	CHECK_EQ(recv(a, buf, sizeof(buf), 0), 4);
	CHECK_MEM(buf, "two!", 4);
	CHECK_EQ(send(a, "back", 4, 0), 4);
	CHECK_EQ(recv(c, buf, sizeof(buf), 0), 4);
	CHECK_OK(close(a));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* After the peer closed (having read everything) send fails with EPIPE
 * and raises no SIGPIPE, with or without MSG_NOSIGNAL. */
static void
seqpacket_epipe_no_sigpipe(void)
{
	int sv[2];

	th_catch(SIGPIPE);
	seq_pair(sv);
	CHECK_OK(close(sv[1]));
	CHECK_ERR(send(sv[0], "x", 1, 0), EPIPE);
	CHECK_ERR(write(sv[0], "x", 1), EPIPE);
	CHECK_ERR(send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
	CHECK_EQ(th_signal_count(SIGPIPE), 0);
	CHECK_OK(close(sv[0]));
}

/* After the peer closed, queued records are still read, then 0 (EOF). */
static void
seqpacket_eof_after_records(void)
{
	int sv[2];
	char buf[8];

	seq_pair(sv);
	CHECK_EQ(send(sv[1], "a", 1, 0), 1);
	CHECK_EQ(send(sv[1], "bc", 2, 0), 2);
	CHECK_OK(close(sv[1]));
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 1);
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 2);
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 0);
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT), 0);
	CHECK_OK(close(sv[0]));
}

/* When the peer closes with records we sent still unread, our recv
 * reports ECONNRESET once, before the records queued for us, then EOF. */
static void
seqpacket_reset_before_queued(void)
{
	int sv[2], err = -1;
	socklen_t len = sizeof(err);
	char buf[8];

	seq_pair(sv);
	CHECK_EQ(send(sv[1], "for0", 4, 0), 4);
	CHECK_EQ(send(sv[0], "lost", 4, 0), 4);
	CHECK_OK(close(sv[1]));
	CHECK_ERR(recv(sv[0], buf, sizeof(buf), 0), ECONNRESET);
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 4);
	CHECK_MEM(buf, "for0", 4);
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 0);
	CHECK_OK(getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &err, &len));
	CHECK_EQ(err, 0);
	CHECK_OK(close(sv[0]));
}

/* When the peer closes with unread records, a send gets ECONNRESET once,
 * then EPIPE, never SIGPIPE. */
static void
seqpacket_send_reset_then_epipe(void)
{
	int sv[2];

	th_catch(SIGPIPE);
	seq_pair(sv);
	CHECK_EQ(send(sv[0], "lost", 4, 0), 4);
	CHECK_OK(close(sv[1]));
	CHECK_ERR(send(sv[0], "x", 1, 0), ECONNRESET);
	CHECK_ERR(send(sv[0], "x", 1, 0), EPIPE);
	CHECK_ERR(send(sv[0], "x", 1, 0), EPIPE);
	CHECK_EQ(th_signal_count(SIGPIPE), 0);
	CHECK_OK(close(sv[0]));
}

/* SO_ERROR reads the ECONNRESET left by a peer that closed with unread
 * records, and clears it: recv then sees plain EOF. */
static void
seqpacket_reset_so_error(void)
{
	int sv[2], err = -1;
	socklen_t len = sizeof(err);
	char buf[4];

	seq_pair(sv);
	CHECK_EQ(send(sv[0], "lost", 4, 0), 4);
	CHECK_OK(close(sv[1]));
	CHECK_OK(getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &err, &len));
	CHECK_EQ(err, ECONNRESET);
	CHECK_OK(getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &err, &len));
	CHECK_EQ(err, 0);
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 0);
	CHECK_OK(close(sv[0]));
}

/* MSG_DONTWAIT on an empty connected socket fails with EAGAIN; a
 * non-blocking one does too. */
static void
seqpacket_dontwait_eagain(void)
{
	int sv[2];
	char buf[4];

	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv));
	CHECK_ERR(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	CHECK_ERR(recv(sv[1], buf, sizeof(buf), 0), EAGAIN);
	CHECK_ERR(read(sv[1], buf, sizeof(buf)), EAGAIN);
	close_pair(sv);
}

/* Between connected seqpacket sockets only the sender's SO_SNDBUF limits:
 * far more than max_dgram_qlen records queue before EAGAIN. */
static void
seqpacket_sndbuf_limits(void)
{
	int sv[2], count = 0;
	char buf[4];

	seq_pair(sv);
	while (send(sv[0], "rec", 3, MSG_DONTWAIT) == 3)
		count++;
	CHECK_EQ(errno, EAGAIN);
	CHECK(count > 11);
	CHECK_EQ(inq(sv[1]), 3 * count);
	for (int i = 0; i < count; i++)
		CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 3);
	CHECK_EQ(send(sv[0], "rec", 3, MSG_DONTWAIT), 3);
	close_pair(sv);
}

static const struct th_test tests[] = {
	{ "seqpacket_record_boundaries", seqpacket_record_boundaries },
	{ "seqpacket_short_buffer_truncates", seqpacket_short_buffer_truncates },
	{ "seqpacket_trunc_flag_real_length", seqpacket_trunc_flag_real_length },
	{ "seqpacket_read_truncates", seqpacket_read_truncates },
	{ "seqpacket_zero_record", seqpacket_zero_record },
	{ "seqpacket_recvmsg_flags", seqpacket_recvmsg_flags },
	{ "seqpacket_writev_one_record", seqpacket_writev_one_record },
	{ "seqpacket_fionread", seqpacket_fionread },
	{ "seqpacket_peek_keeps_record", seqpacket_peek_keeps_record },
	{ "seqpacket_waitall_one_record", seqpacket_waitall_one_record },
	{ "seqpacket_emsgsize", seqpacket_emsgsize },
	{ "seqpacket_send_unconnected", seqpacket_send_unconnected },
	{ "seqpacket_recv_unconnected", seqpacket_recv_unconnected },
	{ "seqpacket_sendto_ignores_address", seqpacket_sendto_ignores_address },
	{ "seqpacket_connected_via_listener", seqpacket_connected_via_listener },
	{ "seqpacket_epipe_no_sigpipe", seqpacket_epipe_no_sigpipe },
	{ "seqpacket_eof_after_records", seqpacket_eof_after_records },
	{ "seqpacket_reset_before_queued", seqpacket_reset_before_queued },
	{ "seqpacket_send_reset_then_epipe", seqpacket_send_reset_then_epipe },
	{ "seqpacket_reset_so_error", seqpacket_reset_so_error },
	{ "seqpacket_dontwait_eagain", seqpacket_dontwait_eagain },
	{ "seqpacket_sndbuf_limits", seqpacket_sndbuf_limits },
};

TH_MAIN(tests)

/*
 * SCM_RIGHTS: passing pipes, files and sockets; limits and errors; how
 * descriptors ride on stream data; truncated control buffers; peeking;
 * release of descriptors left queued when a receiver goes away.
 *
 * "Released" is observed through a pipe: once every write end is closed,
 * including copies in flight, a non-blocking read of the read end returns
 * 0 instead of failing with EAGAIN.
 */
#include "harness.h"

#define MAX_FDS		253	/* SCM_MAX_FD */
#define CTL_SIZE	4096

/* What one recvmsg returned, with every SCM_RIGHTS descriptor collected. */
struct received {
	ssize_t	ret;
	int	err;		/* errno when ret < 0 */
	int	flags;		/* msg_flags */
	size_t	controllen;	/* msg_controllen after the call */
	int	ncmsg;		/* control headers of any kind */
	int	nrights;	/* SCM_RIGHTS headers */
	size_t	rights_len;	/* cmsg_len of the last SCM_RIGHTS header */
	int	nfds;
	int	fds[MAX_FDS + 8];
};

/*
 * Sends @len bytes with @n descriptors, split over @nhdr SCM_RIGHTS
 * headers of as equal a size as possible.
 */
static ssize_t
send_fds_split(int s, const void *data, size_t len, const int *fds, int n,
	       int nhdr, int flags)
{
	static union {
		char		buf[CTL_SIZE];
		struct cmsghdr	align;
	} u;
	struct iovec iov = { (void *)data, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	size_t total = 0;
	int done = 0;

	memset(&u, 0, sizeof(u));
	for (int h = 0; h < nhdr; h++)
		total += CMSG_SPACE(sizeof(int) *
				    (size_t)((n * (h + 1)) / nhdr - (n * h) / nhdr));
	if (n > 0) {
		msg.msg_control = u.buf;
		msg.msg_controllen = total;
	}
	c = CMSG_FIRSTHDR(&msg);
	for (int h = 0; h < nhdr && n > 0; h++) {
		int cnt = (n * (h + 1)) / nhdr - (n * h) / nhdr;

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)cnt);
		memcpy(CMSG_DATA(c), fds + done, sizeof(int) * (size_t)cnt);
		done += cnt;
		c = CMSG_NXTHDR(&msg, c);
	}
	return sendmsg(s, &msg, flags);
}

static ssize_t
send_fds(int s, const void *data, size_t len, const int *fds, int n)
{
	return send_fds_split(s, data, len, fds, n, 1, 0);
}

/*
 * Receives into @buf, offering a control buffer of @ctl_len bytes (none
 * when 0), and fills @r.
 */
static void
recv_fds(int s, void *buf, size_t len, size_t ctl_len, int flags,
	 struct received *r)
{
	static union {
		char		buf[CTL_SIZE];
		struct cmsghdr	align;
	} u;
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	memset(&u, 0, sizeof(u));
	memset(r, 0, sizeof(*r));
	if (ctl_len > 0) {
		msg.msg_control = u.buf;
		msg.msg_controllen = ctl_len;
	}
	errno = 0;
	r->ret = recvmsg(s, &msg, flags);
	r->err = errno;
	if (r->ret < 0)
		return;
	r->flags = msg.msg_flags;
	r->controllen = msg.msg_controllen;
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		r->ncmsg++;
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		r->nrights++;
		r->rights_len = c->cmsg_len;
		int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

		for (int i = 0; i < n && r->nfds < MAX_FDS + 8; i++)
			memcpy(&r->fds[r->nfds++],
			       CMSG_DATA(c) + sizeof(int) * (size_t)i,
			       sizeof(int));
	}
}

static void
close_received(struct received *r)
{
	for (int i = 0; i < r->nfds; i++)
		CHECK_OK(close(r->fds[i]));
	r->nfds = 0;
}

/* @a and @b refer to the same file (fstat st_dev and st_ino agree). */
static bool
same_object(int a, int b)
{
	struct stat sa, sb;

	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return false;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* A non-blocking read end sees EOF: every write end, in flight or not,
 * has been closed. */
static bool
writers_gone(int rd)
{
	char c;

	return read(rd, &c, 1) == 0;
}

/* A non-blocking read end still has a writer somewhere. */
static bool
writer_alive(int rd)
{
	char c;

	errno = 0;
	return read(rd, &c, 1) == -1 && errno == EAGAIN;
}

static void
no_message(int s)
{
	char c;

	CHECK_ERR(recv(s, &c, 1, MSG_DONTWAIT), EAGAIN);
}

static const int all_types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
#define NTYPES	(sizeof(all_types) / sizeof(all_types[0]))

/* A pipe's write end arrives as a new descriptor for the same pipe, and
 * bytes written through it reach the original read end. */
static void
rights_pass_pipe(void)
{
	int sv[2], p[2];
	struct received r;
	char buf[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe2(p, O_NONBLOCK));
	CHECK_EQ(send_fds(sv[0], "x", 1, &p[1], 1), 1);
	recv_fds(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 1);
	CHECK_EQ(buf[0], 'x');
	CHECK_EQ(r.flags, 0);
	CHECK_EQ(r.nfds, 1);
	CHECK_EQ(r.rights_len, CMSG_LEN(sizeof(int)));
	CHECK(r.fds[0] != p[1] && r.fds[0] != sv[0] && r.fds[0] != sv[1]);
	CHECK(same_object(r.fds[0], p[1]));
	CHECK(same_object(r.fds[0], p[0]));
	CHECK_EQ(write(r.fds[0], "hi", 2), 2);
	CHECK_EQ(read(p[0], buf, sizeof(buf)), 2);
	CHECK_MEM(buf, "hi", 2);
	close_received(&r);
	CHECK_OK(close(p[1]));
	CHECK(writers_gone(p[0]));
	CHECK_OK(close(p[0]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* A regular file arrives as the same open file: same inode, and the file
 * offset is shared with the sender's descriptor. */
static void
rights_pass_file(void)
{
	int sv[2], f;
	struct received r;
	struct stat st;
	char buf[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	f = CHECK_OK(open("file", O_RDWR | O_CREAT | O_TRUNC, 0600));
	CHECK_EQ(write(f, "abc", 3), 3);
	CHECK_EQ(send_fds(sv[0], "x", 1, &f, 1), 1);
	recv_fds(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 1);
	CHECK_EQ(r.nfds, 1);
	CHECK(same_object(r.fds[0], f));
	/* A shared offset appends after "abc"; a fresh open would overwrite. */
	CHECK_EQ(write(r.fds[0], "def", 3), 3);
	CHECK_OK(fstat(f, &st));
	CHECK_EQ(st.st_size, 6);
	CHECK(S_ISREG(st.st_mode));
	close_received(&r);
	CHECK_OK(close(f));
	CHECK_OK(unlink("file"));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* A socket arrives as the same socket: same inode, and it still talks to
 * its peer. */
static void
rights_pass_socket(void)
{
	int sv[2], q[2];
	struct received r;
	struct stat st;
	char buf[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, q));
	CHECK_EQ(send_fds(sv[0], "s", 1, &q[0], 1), 1);
	CHECK_OK(close(q[0]));
	recv_fds(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 1);
	CHECK_EQ(r.nfds, 1);
	CHECK_OK(fstat(r.fds[0], &st));
	CHECK(S_ISSOCK(st.st_mode));
	int type = 0;
	socklen_t len = sizeof(type);

	CHECK_OK(getsockopt(r.fds[0], SOL_SOCKET, SO_TYPE, &type, &len));
	CHECK_EQ(type, SOCK_SEQPACKET);
	CHECK_EQ(send(r.fds[0], "ping", 4, 0), 4);
	CHECK_EQ(recv(q[1], buf, sizeof(buf), 0), 4);
	CHECK_MEM(buf, "ping", 4);
	close_received(&r);
	CHECK_EQ(recv(q[1], buf, sizeof(buf), 0), 0);
	CHECK_OK(close(q[1]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* Stream, datagram and seqpacket sockets all carry descriptors. */
static void
rights_all_types(void)
{
	for (size_t i = 0; i < NTYPES; i++) {
		int sv[2], p[2];
		struct received r;
		char buf[8];

		CHECK_OK(socketpair(AF_UNIX, all_types[i], 0, sv));
		CHECK_OK(pipe2(p, O_NONBLOCK));
		CHECK_EQ(send_fds(sv[1], "abc", 3, &p[1], 1), 3);
		CHECK_OK(close(p[1]));
		recv_fds(sv[0], buf, sizeof(buf), CTL_SIZE, 0, &r);
		CHECK_EQ(r.ret, 3);
		CHECK_EQ(r.flags, 0);
		CHECK_EQ(r.nrights, 1);
		CHECK_EQ(r.nfds, 1);
		CHECK(same_object(r.fds[0], p[0]));
		CHECK(writer_alive(p[0]));
		close_received(&r);
		CHECK(writers_gone(p[0]));
		CHECK_OK(close(p[0]));
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
}

/* Several descriptors of different kinds arrive in the order sent. */
static void
rights_several_in_order(void)
{
	int sv[2], p[2], q[2], f, fds[4];
	struct received r;
	char buf[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_OK(pipe(p));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, q));
	f = CHECK_OK(open("file", O_RDWR | O_CREAT, 0600));
	fds[0] = q[0];
	fds[1] = p[0];
	fds[2] = f;
	fds[3] = p[1];
	CHECK_EQ(send_fds(sv[0], "", 0, fds, 4), 0);
	recv_fds(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 0);
	CHECK_EQ(r.nrights, 1);
	CHECK_EQ(r.rights_len, CMSG_LEN(4 * sizeof(int)));
	CHECK_EQ(r.nfds, 4);
	for (int i = 0; i < 4 && i < r.nfds; i++) {
		CHECK(same_object(r.fds[i], fds[i]));
		for (int j = 0; j < i; j++)
			CHECK(r.fds[i] != r.fds[j]);
	}
	close_received(&r);
	CHECK_OK(close(f));
	CHECK_OK(unlink("file"));
	CHECK_OK(close(p[0]));
	CHECK_OK(close(p[1]));
	CHECK_OK(close(q[0]));
	CHECK_OK(close(q[1]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* 253 descriptors split over three SCM_RIGHTS headers arrive merged into
 * one header of 253. */
static void
rights_253_merged(void)
{
	int sv[2], p[2], fds[MAX_FDS];
	struct received r;
	char buf[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	CHECK_OK(pipe2(p, O_NONBLOCK));
	for (int i = 0; i < MAX_FDS; i++)
		fds[i] = p[1];
	CHECK_EQ(send_fds_split(sv[0], "m", 1, fds, MAX_FDS, 3, 0), 1);
	CHECK_OK(close(p[1]));
	recv_fds(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 1);
	CHECK_EQ(r.flags, 0);
	CHECK_EQ(r.ncmsg, 1);
	CHECK_EQ(r.nrights, 1);
	CHECK_EQ(r.rights_len, CMSG_LEN(MAX_FDS * sizeof(int)));
	CHECK_EQ(r.controllen, CMSG_SPACE(MAX_FDS * sizeof(int)));
	CHECK_EQ(r.nfds, MAX_FDS);
	for (int i = 0; i < r.nfds; i++)
		CHECK(same_object(r.fds[i], p[0]));
	close_received(&r);
	CHECK(writers_gone(p[0]));
	CHECK_OK(close(p[0]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* 254 descriptors in one message, in one header or split over two,
 * give EINVAL and send nothing. */
static void
rights_254_einval(void)
{
	int sv[2], p[2], fds[MAX_FDS + 1];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_OK(pipe2(p, O_NONBLOCK));
	for (int i = 0; i < MAX_FDS + 1; i++)
		fds[i] = p[1];
	CHECK_ERR(send_fds_split(sv[0], "m", 1, fds, MAX_FDS + 1, 1, 0),
		  EINVAL);
	CHECK_ERR(send_fds_split(sv[0], "m", 1, fds, MAX_FDS + 1, 2, 0),
		  EINVAL);
	no_message(sv[1]);
	CHECK_OK(close(p[1]));
	CHECK(writers_gone(p[0]));
	CHECK_OK(close(p[0]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* A descriptor that is not open (-1, a closed number, one past a good one
 * in the list) gives EBADF and sends nothing. */
static void
rights_bad_fd_ebadf(void)
{
	int sv[2], p[2], fds[2], closed_fd;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe2(p, O_NONBLOCK));
	closed_fd = CHECK_OK(dup(p[0]));
	CHECK_OK(close(closed_fd));
	fds[0] = -1;
	CHECK_ERR(send_fds(sv[0], "x", 1, fds, 1), EBADF);
	fds[0] = closed_fd;
	CHECK_ERR(send_fds(sv[0], "x", 1, fds, 1), EBADF);
	fds[0] = p[1];
	fds[1] = closed_fd;
	CHECK_ERR(send_fds(sv[0], "x", 1, fds, 2), EBADF);
	no_message(sv[1]);
	CHECK_OK(close(p[1]));
	CHECK(writers_gone(p[0]));
	CHECK_OK(close(p[0]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* A socket may send its own descriptor; the copy received by its peer is
 * that socket, and keeps it open after the original is closed. */
static void
rights_own_descriptor(void)
{
	int sv[2];
	struct received r;
	char buf[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(send_fds(sv[0], "o", 1, &sv[0], 1), 1);
	recv_fds(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 1);
	CHECK_EQ(r.nfds, 1);
	CHECK(same_object(r.fds[0], sv[0]));
	CHECK_OK(close(sv[0]));
	CHECK_EQ(send(r.fds[0], "back", 4, 0), 4);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 4);
	CHECK_MEM(buf, "back", 4);
	close_received(&r);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 0);
	CHECK_OK(close(sv[1]));
}

/* On a stream the descriptors ride on the first byte of the write: a
 * 1-byte read gets them, the rest of the write comes without. */
static void
rights_stream_first_byte(void)
{
	int sv[2], p[2];
	struct received r;
	char buf[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe(p));
	CHECK_EQ(send_fds(sv[0], "abc", 3, &p[1], 1), 3);
	recv_fds(sv[1], buf, 1, CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 1);
	CHECK_EQ(buf[0], 'a');
	CHECK_EQ(r.nfds, 1);
	CHECK(same_object(r.fds[0], p[1]));
	close_received(&r);
	recv_fds(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 2);
	CHECK_MEM(buf, "bc", 2);
	CHECK_EQ(r.ncmsg, 0);
	CHECK_EQ(r.controllen, 0);
	close_received(&r);
	CHECK_OK(close(p[0]));
	CHECK_OK(close(p[1]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* A stream read joins plain writes but stops after the write that carries
 * descriptors, and never adds a second write's descriptors to them. */
static void
rights_stream_read_stops_after_fds(void)
{
	int sv[2], p[2];
	struct received r;
	char buf[16];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe(p));
	CHECK_EQ(send(sv[0], "ab", 2, 0), 2);
	CHECK_EQ(send_fds(sv[0], "cd", 2, &p[0], 1), 2);
	CHECK_EQ(send_fds(sv[0], "ef", 2, &p[1], 1), 2);
	CHECK_EQ(send(sv[0], "gh", 2, 0), 2);
	recv_fds(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 4);
	CHECK_MEM(buf, "abcd", 4);
	CHECK_EQ(r.nfds, 1);
	CHECK(same_object(r.fds[0], p[0]));
	close_received(&r);
	recv_fds(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 2);
	CHECK_MEM(buf, "ef", 2);
	CHECK_EQ(r.nfds, 1);
	close_received(&r);
	recv_fds(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 2);
	CHECK_MEM(buf, "gh", 2);
	CHECK_EQ(r.nfds, 0);
	CHECK_OK(close(p[0]));
	CHECK_OK(close(p[1]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* A 0-byte stream send with descriptors returns 0 and delivers nothing:
 * the descriptors are not in flight. */
static void
rights_stream_zero_byte_sends_nothing(void)
{
	int sv[2], p[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe2(p, O_NONBLOCK));
	CHECK_EQ(send_fds(sv[0], "", 0, &p[1], 1), 0);
	no_message(sv[1]);
	CHECK_OK(close(p[1]));
	CHECK(writers_gone(p[0]));
	CHECK_OK(close(p[0]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* A 0-byte datagram or seqpacket record with descriptors is delivered,
 * descriptors included. */
static void
rights_zero_byte_dgram_seqpacket_delivered(void)
{
	static const int types[] = { SOCK_DGRAM, SOCK_SEQPACKET };

	for (size_t i = 0; i < 2; i++) {
		int sv[2], p[2];
		struct received r;
		char buf[8];

		CHECK_OK(socketpair(AF_UNIX, types[i], 0, sv));
		CHECK_OK(pipe(p));
		CHECK_EQ(send_fds(sv[0], "", 0, &p[1], 1), 0);
		recv_fds(sv[1], buf, sizeof(buf), CTL_SIZE, MSG_DONTWAIT, &r);
		CHECK_EQ(r.ret, 0);
		CHECK_EQ(r.flags, 0);
		CHECK_EQ(r.nfds, 1);
		CHECK(r.nfds == 1 && same_object(r.fds[0], p[1]));
		close_received(&r);
		CHECK_OK(close(p[0]));
		CHECK_OK(close(p[1]));
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
}

/*
 * A control buffer with room for some descriptors gets
 * (msg_controllen - CMSG_LEN(0)) / sizeof(int) of them and MSG_CTRUNC;
 * the others are closed, not left queued.
 */
static void
rights_ctrunc_closes_rest(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		int sv[2], p[3][2], w[3];
		struct received r;
		char buf[8];

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		for (int i = 0; i < 3; i++) {
			CHECK_OK(pipe2(p[i], O_NONBLOCK));
			w[i] = p[i][1];
		}
		CHECK_EQ(send_fds(sv[0], "x", 1, w, 3), 1);
		for (int i = 0; i < 3; i++)
			CHECK_OK(close(p[i][1]));
		/* CMSG_SPACE(4) is 24 on LP64: room for two descriptors. */
		recv_fds(sv[1], buf, sizeof(buf), CMSG_SPACE(sizeof(int)), 0,
			 &r);
		CHECK_EQ(r.ret, 1);
		CHECK_EQ(r.flags, MSG_CTRUNC);
		CHECK_EQ(r.nrights, 1);
		CHECK_EQ(r.rights_len, CMSG_LEN(2 * sizeof(int)));
		CHECK_EQ(r.controllen, CMSG_SPACE(sizeof(int)));
		CHECK_EQ(r.nfds, 2);
		for (int i = 0; i < r.nfds; i++)
			CHECK(same_object(r.fds[i], p[i][0]));
		CHECK(writer_alive(p[0][0]));
		CHECK(writer_alive(p[1][0]));
		CHECK(writers_gone(p[2][0]));
		close_received(&r);
		no_message(sv[1]);
		for (int i = 0; i < 3; i++) {
			CHECK(writers_gone(p[i][0]));
			CHECK_OK(close(p[i][0]));
		}
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
}

/* A control buffer with room for the header only installs nothing, sets
 * MSG_CTRUNC and closes every descriptor. */
static void
rights_ctrunc_header_only(void)
{
	int sv[2], p[2];
	struct received r;
	char buf[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_OK(pipe2(p, O_NONBLOCK));
	CHECK_EQ(send_fds(sv[0], "x", 1, &p[1], 1), 1);
	CHECK_OK(close(p[1]));
	recv_fds(sv[1], buf, sizeof(buf), sizeof(struct cmsghdr), 0, &r);
	CHECK_EQ(r.ret, 1);
	CHECK_EQ(r.flags, MSG_CTRUNC);
	CHECK_EQ(r.nfds, 0);
	CHECK_EQ(r.controllen, 0);
	CHECK(writers_gone(p[0]));
	CHECK_OK(close(p[0]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* With no control buffer at all every descriptor is closed and
 * MSG_CTRUNC is set; a plain recv closes them too. */
static void
rights_no_control_buffer_closes_all(void)
{
	int sv[2], p[2], w[2];
	struct received r;
	char buf[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	CHECK_OK(pipe2(p, O_NONBLOCK));
	w[0] = p[1];
	w[1] = p[1];
	CHECK_EQ(send_fds(sv[0], "x", 1, w, 2), 1);
	CHECK_EQ(send_fds(sv[0], "y", 1, w, 1), 1);
	CHECK_OK(close(p[1]));
	recv_fds(sv[1], buf, sizeof(buf), 0, 0, &r);
	CHECK_EQ(r.ret, 1);
	CHECK_EQ(r.flags, MSG_CTRUNC);
	CHECK_EQ(r.controllen, 0);
	CHECK(writer_alive(p[0]));
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 1);
	CHECK_EQ(buf[0], 'y');
	CHECK(writers_gone(p[0]));
	CHECK_OK(close(p[0]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* MSG_CMSG_CLOEXEC sets FD_CLOEXEC on the received descriptors; without
 * it they are not close-on-exec. */
static void
rights_cmsg_cloexec(void)
{
	int sv[2], p[2];
	struct received r;
	char buf[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe2(p, O_CLOEXEC));
	CHECK_EQ(send_fds(sv[0], "a", 1, &p[0], 1), 1);
	CHECK_EQ(send_fds(sv[0], "b", 1, &p[0], 1), 1);
	recv_fds(sv[1], buf, sizeof(buf), CTL_SIZE, MSG_CMSG_CLOEXEC, &r);
	CHECK_EQ(r.ret, 1);
	CHECK_EQ(r.nfds, 1);
	CHECK_EQ(fcntl(r.fds[0], F_GETFD), FD_CLOEXEC);
	close_received(&r);
	recv_fds(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 1);
	CHECK_EQ(r.nfds, 1);
	CHECK_EQ(fcntl(r.fds[0], F_GETFD), 0);
	close_received(&r);
	CHECK_OK(close(p[0]));
	CHECK_OK(close(p[1]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* Each MSG_PEEK installs fresh duplicates; the real read gets its own,
 * and all of them are the same pipe. */
static void
rights_peek_installs_fresh_dups(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		int sv[2], p[2];
		struct received r1, r2, r3;
		char buf[8];

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		CHECK_OK(pipe2(p, O_NONBLOCK));
		CHECK_EQ(send_fds(sv[0], "x", 1, &p[1], 1), 1);
		CHECK_OK(close(p[1]));
		recv_fds(sv[1], buf, sizeof(buf), CTL_SIZE, MSG_PEEK, &r1);
		recv_fds(sv[1], buf, sizeof(buf), CTL_SIZE, MSG_PEEK, &r2);
		recv_fds(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r3);
		CHECK_EQ(r1.ret, 1);
		CHECK_EQ(r2.ret, 1);
		CHECK_EQ(r3.ret, 1);
		CHECK_EQ(r1.nfds, 1);
		CHECK_EQ(r2.nfds, 1);
		CHECK_EQ(r3.nfds, 1);
		CHECK(r1.fds[0] != r2.fds[0]);
		CHECK(r2.fds[0] != r3.fds[0]);
		CHECK(r1.fds[0] != r3.fds[0]);
		CHECK(same_object(r1.fds[0], p[0]));
		CHECK(same_object(r2.fds[0], p[0]));
		CHECK(same_object(r3.fds[0], p[0]));
		no_message(sv[1]);
		close_received(&r1);
		close_received(&r2);
		CHECK(writer_alive(p[0]));
		close_received(&r3);
		CHECK(writers_gone(p[0]));
		CHECK_OK(close(p[0]));
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
}

/* MSG_PEEK on a stream spans plain writes but stops after the write
 * carrying descriptors, just as a read does. */
static void
rights_peek_stream_stops_at_fds(void)
{
	int sv[2], p[2];
	struct received r;
	char buf[16];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe(p));
	CHECK_EQ(send(sv[0], "ab", 2, 0), 2);
	CHECK_EQ(send_fds(sv[0], "cd", 2, &p[0], 1), 2);
	CHECK_EQ(send(sv[0], "ef", 2, 0), 2);
	recv_fds(sv[1], buf, sizeof(buf), CTL_SIZE, MSG_PEEK, &r);
	CHECK_EQ(r.ret, 4);
	CHECK_MEM(buf, "abcd", 4);
	CHECK_EQ(r.nfds, 1);
	close_received(&r);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 4);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 2);
	CHECK_OK(close(p[0]));
	CHECK_OK(close(p[1]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* Descriptors in messages still queued when the receiver closes are
 * released, on every socket type. */
static void
rights_released_when_receiver_closes(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		int sv[2], p[2];

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		CHECK_OK(pipe2(p, O_NONBLOCK));
		CHECK_EQ(send_fds(sv[0], "1", 1, &p[1], 1), 1);
		CHECK_EQ(send_fds(sv[0], "2", 1, &p[1], 1), 1);
		CHECK_OK(close(p[1]));
		CHECK(writer_alive(p[0]));
		CHECK_OK(close(sv[1]));
		CHECK(writers_gone(p[0]));
		CHECK_OK(close(p[0]));
		CHECK_OK(close(sv[0]));
	}
}

/* Descriptors sent to a connection not yet accepted are released when its
 * listener closes. */
static void
rights_released_when_listener_closes(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };

	for (size_t t = 0; t < 2; t++) {
		struct sockaddr_un sun;
		socklen_t len = th_addr_path(&sun, "l");
		int l, c, p[2];

		l = CHECK_OK(socket(AF_UNIX, types[t], 0));
		CHECK_OK(bind(l, (struct sockaddr *)&sun, len));
		CHECK_OK(listen(l, 4));
		c = CHECK_OK(socket(AF_UNIX, types[t], 0));
		CHECK_OK(connect(c, (struct sockaddr *)&sun, len));
		CHECK_OK(pipe2(p, O_NONBLOCK));
		CHECK_EQ(send_fds(c, "e", 1, &p[1], 1), 1);
		CHECK_OK(close(p[1]));
		CHECK(writer_alive(p[0]));
		CHECK_OK(close(l));
		CHECK(writers_gone(p[0]));
		CHECK_OK(close(p[0]));
		CHECK_OK(close(c));
		CHECK_OK(unlink("l"));
	}
}

/* The sender may close its descriptor right after sending: the one in
 * flight keeps the pipe open until the receiver closes its copy. */
static void
rights_inflight_outlives_sender_copy(void)
{
	int sv[2], p[2];
	struct received r;
	char buf[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_OK(pipe2(p, O_NONBLOCK));
	CHECK_EQ(send_fds(sv[0], "x", 1, &p[1], 1), 1);
	CHECK_OK(close(p[1]));
	CHECK(writer_alive(p[0]));
	recv_fds(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.nfds, 1);
	CHECK_EQ(write(r.fds[0], "z", 1), 1);
	CHECK_EQ(read(p[0], buf, 1), 1);
	CHECK_EQ(buf[0], 'z');
	close_received(&r);
	CHECK(writers_gone(p[0]));
	CHECK_OK(close(p[0]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* msg_controllen on return is CMSG_SPACE of the descriptors installed,
 * even when the buffer offered is larger. */
static void
rights_received_controllen(void)
{
	for (int n = 1; n <= 5; n++) {
		int sv[2], p[2], fds[5];
		struct received r;
		char buf[8];

		CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
		CHECK_OK(pipe(p));
		for (int i = 0; i < n; i++)
			fds[i] = p[i & 1];
		CHECK_EQ(send_fds(sv[0], "x", 1, fds, n), 1);
		recv_fds(sv[1], buf, sizeof(buf), 512, 0, &r);
		CHECK_EQ(r.ret, 1);
		CHECK_EQ(r.flags, 0);
		CHECK_EQ(r.controllen, CMSG_SPACE(sizeof(int) * (size_t)n));
		CHECK_EQ(r.rights_len, CMSG_LEN(sizeof(int) * (size_t)n));
		CHECK_EQ(r.nfds, n);
		close_received(&r);
		CHECK_OK(close(p[0]));
		CHECK_OK(close(p[1]));
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
}

/* Child of rights_across_processes: receives a pipe write end and writes
 * its own pid through it. */
static int
write_pid_child(void *arg)
{
	int s = *(int *)arg;
	struct received r;
	char buf[8];
	pid_t pid = getpid();

	recv_fds(s, buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 1);
	CHECK_EQ(r.nfds, 1);
	if (r.nfds == 1)
		CHECK_EQ(write(r.fds[0], &pid, sizeof(pid)), sizeof(pid));
	close_received(&r);
	CHECK_OK(close(s));
	return th_failures();
}

/* A descriptor sent to another process is usable there. */
static void
rights_across_processes(void)
{
	int sv[2], p[2];
	struct th_child *c;
	pid_t pid = 0;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe(p));
	c = th_fork(write_pid_child, &sv[1]);
	CHECK_OK(close(sv[1]));
	CHECK_EQ(send_fds(sv[0], "x", 1, &p[1], 1), 1);
	CHECK_OK(close(p[1]));
	CHECK_EQ(read(p[0], &pid, sizeof(pid)), sizeof(pid));
	CHECK(pid > 0 && pid != getpid());
	CHECK_EQ(th_join(c), 0);
	CHECK_EQ(read(p[0], &pid, sizeof(pid)), 0);
	CHECK_OK(close(p[0]));
	CHECK_OK(close(sv[0]));
}

/* The soft RLIMIT_NOFILE of this process, from /proc/self/limits (the
 * hosted port charges in-flight descriptors against the same limit). */
static long
nofile_limit(void)
{
	static char text[8192];
	const char *line;
	long soft = -1;
	ssize_t n;
	int fd;

	fd = CHECK_OK(open("/proc/self/limits", O_RDONLY));
	n = read(fd, text, sizeof(text) - 1);
	CHECK_OK(close(fd));
	if (n <= 0)
		return -1;
	text[n] = '\0';
	line = strstr(text, "Max open files");
	if (line == NULL || sscanf(line + strlen("Max open files"), "%ld",
				   &soft) != 1)
		return -1;
	return soft;
}

#define INFLIGHT_PAIRS	64	/* sockets to spread the messages over */

/* Child: as nobody, keeps sending MAX_FDS copies of the descriptor at
 * *arg until a send fails; checks when and how. */
static int
inflight_limit_child(void *arg)
{
	int fd = *(int *)arg, fds[MAX_FDS], sv[INFLIGHT_PAIRS][2];
	long limit = nofile_limit(), sent = 0, max_msgs;
	int npairs = 0;
	ssize_t r = 0;

	CHECK(limit > 0);
	if (limit <= 0 || th_setcred(65534, 65534) < 0) {
		CHECK(!"setup");
		return th_failures();
	}
	for (int i = 0; i < MAX_FDS; i++)
		fds[i] = fd;
	max_msgs = limit / MAX_FDS + 2;
	while (sent < max_msgs && npairs <= INFLIGHT_PAIRS) {
		if (npairs == 0 || (r < 0 && errno == EAGAIN)) {
			if (npairs == INFLIGHT_PAIRS)
				break;
			CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0,
					    sv[npairs]));
			npairs++;
		}
		errno = 0;
		r = send_fds_split(sv[npairs - 1][0], "x", 1, fds, MAX_FDS, 1,
				   MSG_DONTWAIT);
		if (r == 1)
			sent++;
		else if (errno != EAGAIN)
			break;
	}
	/* Sends go on while the user's in-flight count is within the
	 * limit, so the one that first exceeds it still succeeds. */
	CHECK_EQ(r, -1);
	CHECK_EQ(errno, ETOOMANYREFS);
	CHECK_EQ(sent, limit / MAX_FDS + 1);
	for (int i = 0; i < npairs; i++) {
		CHECK_OK(close(sv[i][0]));
		CHECK_OK(close(sv[i][1]));
	}
	/* Closing the receivers released them: sending works again. */
	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv[0]));
	CHECK_EQ(send_fds(sv[0][0], "x", 1, fds, MAX_FDS), 1);
	CHECK_OK(close(sv[0][0]));
	CHECK_OK(close(sv[0][1]));
	return th_failures();
}

/* An unprivileged user whose descriptors in flight exceed its
 * RLIMIT_NOFILE gets ETOOMANYREFS. */
static void
rights_inflight_limit_etoomanyrefs(void)
{
	int p[2];

	th_require_root();
	CHECK_OK(pipe2(p, O_NONBLOCK));
	CHECK_EQ(th_join(th_fork(inflight_limit_child, &p[1])), 0);
	CHECK_OK(close(p[1]));
	CHECK(writers_gone(p[0]));
	CHECK_OK(close(p[0]));
}

static const struct th_test tests[] = {
	{ "rights_pass_pipe", rights_pass_pipe },
	{ "rights_pass_file", rights_pass_file },
	{ "rights_pass_socket", rights_pass_socket },
	{ "rights_all_types", rights_all_types },
	{ "rights_several_in_order", rights_several_in_order },
	{ "rights_253_merged", rights_253_merged },
	{ "rights_254_einval", rights_254_einval },
	{ "rights_bad_fd_ebadf", rights_bad_fd_ebadf },
	{ "rights_own_descriptor", rights_own_descriptor },
	{ "rights_stream_first_byte", rights_stream_first_byte },
	{ "rights_stream_read_stops_after_fds",
	  rights_stream_read_stops_after_fds },
	{ "rights_stream_zero_byte_sends_nothing",
	  rights_stream_zero_byte_sends_nothing },
	{ "rights_zero_byte_dgram_seqpacket_delivered",
	  rights_zero_byte_dgram_seqpacket_delivered },
	{ "rights_ctrunc_closes_rest", rights_ctrunc_closes_rest },
	{ "rights_ctrunc_header_only", rights_ctrunc_header_only },
	{ "rights_no_control_buffer_closes_all",
	  rights_no_control_buffer_closes_all },
	{ "rights_cmsg_cloexec", rights_cmsg_cloexec },
	{ "rights_peek_installs_fresh_dups", rights_peek_installs_fresh_dups },
	{ "rights_peek_stream_stops_at_fds", rights_peek_stream_stops_at_fds },
	{ "rights_released_when_receiver_closes",
	  rights_released_when_receiver_closes },
	{ "rights_released_when_listener_closes",
	  rights_released_when_listener_closes },
	{ "rights_inflight_outlives_sender_copy",
	  rights_inflight_outlives_sender_copy },
	{ "rights_received_controllen", rights_received_controllen },
	{ "rights_across_processes", rights_across_processes },
	{ "rights_inflight_limit_etoomanyrefs",
	  rights_inflight_limit_etoomanyrefs },
};

TH_MAIN(tests)

/*
 * Control buffer parsing on send: headers of other levels, trailing
 * padding, malformed lengths and the size limit; and the control buffer
 * fields recvmsg fills in.
 *
 * Control buffers are built byte by byte here, since the point is to feed
 * the kernel what CMSG_NXTHDR would never produce.
 */
#include "harness.h"

#define OPTMEM_MAX	131072	/* net.core.optmem_max on the reference host */
#define HDR		sizeof(struct cmsghdr)

static union {
	char		b[OPTMEM_MAX + 256];
	struct cmsghdr	align;
} ctl;

/* Writes a header at @off of @ctl: cmsg_len @len, then @n data bytes.
 * Returns the offset just past CMSG_ALIGN(@len). */
static size_t
put_hdr(size_t off, size_t len, int level, int type, const void *data,
	size_t n)
{
	struct cmsghdr h;

	memset(&h, 0, sizeof(h));
	h.cmsg_len = len;
	h.cmsg_level = level;
	h.cmsg_type = type;
	memcpy(ctl.b + off, &h, HDR);
	if (n > 0)
		memcpy(ctl.b + off + HDR, data, n);
	return off + CMSG_ALIGN(len);
}

/* Sends one byte with the first @ctl_len bytes of @ctl as control data. */
static ssize_t
send_raw(int s, size_t ctl_len)
{
	struct iovec iov = { "x", 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.b, .msg_controllen = ctl_len,
	};

	return sendmsg(s, &msg, 0);
}

/* Receives one message; returns its length and fills @flags, the control
 * length returned and the descriptors received (closed by the caller). */
static ssize_t
recv_any(int s, int *flags, size_t *controllen, int *fds, int *nfds)
{
	union {
		char		b[256];
		struct cmsghdr	align;
	} u;
	char buf[8];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.b, .msg_controllen = sizeof(u.b),
	};
	struct cmsghdr *c;
	ssize_t ret;

	*nfds = 0;
	ret = recvmsg(s, &msg, MSG_DONTWAIT);
	if (ret < 0)
		return ret;
	*flags = msg.msg_flags;
	*controllen = msg.msg_controllen;
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		     i++)
			memcpy(&fds[(*nfds)++], CMSG_DATA(c) + i * sizeof(int),
			       sizeof(int));
	}
	return ret;
}

/* Exactly one plain byte is queued on @s, with no control data. */
static void
one_plain_message(int s)
{
	int flags = -1, fds[8], nfds;
	size_t controllen = 1;

	CHECK_EQ(recv_any(s, &flags, &controllen, fds, &nfds), 1);
	CHECK_EQ(flags, 0);
	CHECK_EQ(controllen, 0);
	CHECK_EQ(nfds, 0);
	CHECK_ERR(recv(s, &flags, 1, MSG_DONTWAIT), EAGAIN);
}

static void
nothing_queued(int s)
{
	char c;

	CHECK_ERR(recv(s, &c, 1, MSG_DONTWAIT), EAGAIN);
}

static const int all_types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
#define NTYPES	(sizeof(all_types) / sizeof(all_types[0]))

/* Headers of levels other than SOL_SOCKET are skipped without looking at
 * their type or data. */
static void
cmsg_other_level_ignored(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		int sv[2];
		size_t off;

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		off = put_hdr(0, CMSG_LEN(4), 0 /* SOL_IP */, 1, "abcd", 4);
		off = put_hdr(off, CMSG_LEN(3), 0x7eadbeef, SCM_RIGHTS,
			      "abc", 3);
		off = put_hdr(off, CMSG_LEN(0), 41 /* SOL_IPV6 */, 99, NULL, 0);
		CHECK_EQ(send_raw(sv[0], off), 1);
		one_plain_message(sv[1]);
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
}

/* SCM_RIGHTS headers around a header of another level still merge into
 * one received header. */
static void
cmsg_other_level_between_rights(void)
{
	int sv[2], p[2], fds[8], nfds, flags = -1;
	size_t off, controllen = 0;

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_OK(pipe(p));
	off = put_hdr(0, CMSG_LEN(4), SOL_SOCKET, SCM_RIGHTS, &p[0], 4);
	off = put_hdr(off, CMSG_LEN(8), 0, 2, "12345678", 8);
	off = put_hdr(off, CMSG_LEN(4), SOL_SOCKET, SCM_RIGHTS, &p[1], 4);
	CHECK_EQ(send_raw(sv[0], off), 1);
	CHECK_EQ(recv_any(sv[1], &flags, &controllen, fds, &nfds), 1);
	CHECK_EQ(flags, 0);
	CHECK_EQ(controllen, CMSG_SPACE(2 * sizeof(int)));
	CHECK_EQ(nfds, 2);
	for (int i = 0; i < nfds; i++)
		CHECK_OK(close(fds[i]));
	CHECK_OK(close(p[0]));
	CHECK_OK(close(p[1]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* An unknown type at level SOL_SOCKET gives EINVAL. */
static void
cmsg_unknown_type_einval(void)
{
	static const int types[] = { 0, 0x7f, 0xffff };
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t off = put_hdr(0, CMSG_LEN(4), SOL_SOCKET, types[i],
				     "abcd", 4);

		CHECK_ERR(send_raw(sv[0], off), EINVAL);
	}
	nothing_queued(sv[1]);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* 16 or more bytes of zero padding after the last header read as a header
 * with cmsg_len 0: EINVAL, and nothing is sent. */
static void
cmsg_trailing_padding_16_einval(void)
{
	static const size_t pads[] = { 16, 20, 24, 64 };

	for (size_t t = 0; t < NTYPES; t++) {
		int sv[2], p[2];
		char c;

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		CHECK_OK(pipe2(p, O_NONBLOCK));
		for (size_t i = 0; i < sizeof(pads) / sizeof(pads[0]); i++) {
			size_t off;

			memset(ctl.b, 0, 256);
			off = put_hdr(0, CMSG_LEN(4), SOL_SOCKET, SCM_RIGHTS,
				      &p[1], 4);
			CHECK_ERR(send_raw(sv[0], off + pads[i]), EINVAL);
		}
		nothing_queued(sv[1]);
		CHECK_OK(close(p[1]));
		CHECK_EQ(read(p[0], &c, 1), 0);	/* nothing left in flight */
		CHECK_OK(close(p[0]));
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
}

/* Fewer than 16 bytes after the last header, zero or not, are ignored. */
static void
cmsg_trailing_padding_under_16_ok(void)
{
	static const size_t pads[] = { 1, 8, 15 };
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	for (size_t i = 0; i < sizeof(pads) / sizeof(pads[0]); i++) {
		size_t off;

		memset(ctl.b, i == 1 ? 0xa5 : 0, 256);
		off = put_hdr(0, CMSG_LEN(4), 0, 1, "abcd", 4);
		CHECK_EQ(send_raw(sv[0], off + pads[i]), 1);
		one_plain_message(sv[1]);
	}
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/*
 * msg_controllen of optmem_max (131072) or more gives ENOBUFS; one byte
 * less is accepted. Linux allocates the copy with sock_kmalloc(), which
 * requires the socket's option memory plus the size to stay strictly
 * below optmem_max.
 */
static void
cmsg_controllen_limit(void)
{
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	memset(ctl.b, 0, sizeof(ctl.b));
	put_hdr(0, OPTMEM_MAX + 1, 0, 1, NULL, 0);
	CHECK_ERR(send_raw(sv[0], OPTMEM_MAX + 1), ENOBUFS);
	put_hdr(0, OPTMEM_MAX + 64, 0, 1, NULL, 0);
	CHECK_ERR(send_raw(sv[0], OPTMEM_MAX + 64), ENOBUFS);
	put_hdr(0, OPTMEM_MAX, 0, 1, NULL, 0);
	CHECK_ERR(send_raw(sv[0], OPTMEM_MAX), ENOBUFS);
	nothing_queued(sv[1]);
	put_hdr(0, OPTMEM_MAX - 1, 0, 1, NULL, 0);
	CHECK_EQ(send_raw(sv[0], OPTMEM_MAX - 1), 1);
	one_plain_message(sv[1]);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* A cmsg_len smaller than the header itself gives EINVAL. */
static void
cmsg_len_below_header_einval(void)
{
	static const size_t lens[] = { 0, 1, 8, HDR - 1 };

	for (size_t t = 0; t < NTYPES; t++) {
		int sv[2];

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			memset(ctl.b, 0, 256);
			put_hdr(0, lens[i], SOL_SOCKET, SCM_RIGHTS, NULL, 0);
			CHECK_ERR(send_raw(sv[0], CMSG_SPACE(4)), EINVAL);
			/* At another level too: lengths are checked first. */
			put_hdr(0, lens[i], 0, 1, NULL, 0);
			CHECK_ERR(send_raw(sv[0], CMSG_SPACE(4)), EINVAL);
		}
		nothing_queued(sv[1]);
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
}

/* A cmsg_len reaching past msg_controllen gives EINVAL, for the first
 * header and for a later one. */
static void
cmsg_len_past_buffer_einval(void)
{
	int sv[2], p[2];
	size_t off;
	char c;

	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	CHECK_OK(pipe2(p, O_NONBLOCK));
	memset(ctl.b, 0, 256);
	put_hdr(0, CMSG_LEN(8), SOL_SOCKET, SCM_RIGHTS, &p[1], 4);
	CHECK_ERR(send_raw(sv[0], CMSG_LEN(4)), EINVAL);
	put_hdr(0, CMSG_LEN(4) + 1, 0, 1, NULL, 0);
	CHECK_ERR(send_raw(sv[0], CMSG_LEN(4)), EINVAL);
	off = put_hdr(0, CMSG_LEN(4), SOL_SOCKET, SCM_RIGHTS, &p[1], 4);
	put_hdr(off, 1000, 0, 1, NULL, 0);
	CHECK_ERR(send_raw(sv[0], off + CMSG_SPACE(4)), EINVAL);
	nothing_queued(sv[1]);
	CHECK_OK(close(p[1]));
	CHECK_EQ(read(p[0], &c, 1), 0);
	CHECK_OK(close(p[0]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* A msg_controllen too small to hold one header means no headers: the
 * bytes are not looked at and the send succeeds. */
static void
cmsg_controllen_below_header_ignored(void)
{
	static const size_t lens[] = { 1, 8, HDR - 1 };
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	memset(ctl.b, 0xff, 256);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		CHECK_EQ(send_raw(sv[0], lens[i]), 1);
		one_plain_message(sv[1]);
	}
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* A NULL msg_control with a nonzero msg_controllen gives EFAULT; with
 * msg_controllen 0 it is simply no control data. */
static void
cmsg_null_control(void)
{
	int sv[2];
	struct iovec iov = { "x", 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = NULL, .msg_controllen = CMSG_SPACE(4),
	};

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_ERR(sendmsg(sv[0], &msg, 0), EFAULT);
	nothing_queued(sv[1]);
	msg.msg_controllen = 0;
	CHECK_EQ(sendmsg(sv[0], &msg, 0), 1);
	one_plain_message(sv[1]);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* An SCM_RIGHTS header with no descriptors is accepted and delivers no
 * header. */
static void
cmsg_empty_rights_ok(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		int sv[2];

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		put_hdr(0, CMSG_LEN(0), SOL_SOCKET, SCM_RIGHTS, NULL, 0);
		CHECK_EQ(send_raw(sv[0], CMSG_LEN(0)), 1);
		one_plain_message(sv[1]);
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
}

/* An SCM_RIGHTS data length that is not a multiple of sizeof(int) is
 * rounded down to whole descriptors. */
static void
cmsg_rights_len_rounds_down(void)
{
	int sv[2], p[2], fds[8], nfds, flags = -1;
	size_t controllen = 0;
	char data[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_OK(pipe(p));
	memcpy(data, &p[0], sizeof(int));
	memset(data + sizeof(int), 0xff, sizeof(data) - sizeof(int));
	put_hdr(0, CMSG_LEN(sizeof(int) + 3), SOL_SOCKET, SCM_RIGHTS, data,
		sizeof(data));
	CHECK_EQ(send_raw(sv[0], CMSG_SPACE(sizeof(int) + 3)), 1);
	CHECK_EQ(recv_any(sv[1], &flags, &controllen, fds, &nfds), 1);
	CHECK_EQ(flags, 0);
	CHECK_EQ(nfds, 1);
	CHECK_EQ(controllen, CMSG_SPACE(sizeof(int)));
	for (int i = 0; i < nfds; i++)
		CHECK_OK(close(fds[i]));
	CHECK_OK(close(p[0]));
	CHECK_OK(close(p[1]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* recvmsg overwrites msg_flags and sets msg_controllen to 0 when the
 * message carries no control data. */
static void
cmsg_recv_fields_reset(void)
{
	int sv[2];
	union {
		char		b[64];
		struct cmsghdr	align;
	} u;
	char buf[8];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.b, .msg_controllen = sizeof(u.b),
		.msg_flags = MSG_CTRUNC | MSG_TRUNC | MSG_OOB,
	};

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(send(sv[0], "ab", 2, 0), 2);
	CHECK_EQ(recvmsg(sv[1], &msg, 0), 2);
	CHECK_EQ(msg.msg_flags, 0);
	CHECK_EQ(msg.msg_controllen, 0);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* recvmsg hands MSG_CMSG_CLOEXEC back in msg_flags when it was asked
 * for (Linux starts msg_flags from the call's MSG_CMSG_* flags), with or
 * without descriptors, for every type. */
static void
cmsg_recv_cloexec_in_msg_flags(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		int sv[2];
		char buf[8];
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

		CHECK_OK(socketpair(AF_UNIX, types[t], 0, sv));
		CHECK_EQ(send(sv[0], "ab", 2, 0), 2);
		CHECK_EQ(recvmsg(sv[1], &msg, MSG_CMSG_CLOEXEC), 2);
		CHECK_EQ(msg.msg_flags, MSG_CMSG_CLOEXEC);
		CHECK_EQ(send(sv[0], "cd", 2, 0), 2);
		CHECK_EQ(recvmsg(sv[1], &msg, 0), 2);
		CHECK_EQ(msg.msg_flags, 0);
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
}

static const struct th_test tests[] = {
	{ "cmsg_other_level_ignored", cmsg_other_level_ignored },
	{ "cmsg_other_level_between_rights", cmsg_other_level_between_rights },
	{ "cmsg_unknown_type_einval", cmsg_unknown_type_einval },
	{ "cmsg_trailing_padding_16_einval", cmsg_trailing_padding_16_einval },
	{ "cmsg_trailing_padding_under_16_ok",
	  cmsg_trailing_padding_under_16_ok },
	{ "cmsg_controllen_limit", cmsg_controllen_limit },
	{ "cmsg_len_below_header_einval", cmsg_len_below_header_einval },
	{ "cmsg_len_past_buffer_einval", cmsg_len_past_buffer_einval },
	{ "cmsg_controllen_below_header_ignored",
	  cmsg_controllen_below_header_ignored },
	{ "cmsg_null_control", cmsg_null_control },
	{ "cmsg_empty_rights_ok", cmsg_empty_rights_ok },
	{ "cmsg_rights_len_rounds_down", cmsg_rights_len_rounds_down },
	{ "cmsg_recv_fields_reset", cmsg_recv_fields_reset },
	{ "cmsg_recv_cloexec_in_msg_flags", cmsg_recv_cloexec_in_msg_flags },
};

TH_MAIN(tests)

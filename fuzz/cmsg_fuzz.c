/*
 * libFuzzer target: arbitrary control buffers (and lengths) given to
 * sendmsg on each AF_UNIX socket type, through the hosted POSIX
 * personality, with real descriptors at hand for SCM_RIGHTS (the
 * sockets themselves, a pipe, /dev/null).
 *
 * Each input is one send: the call must return (any result), the
 * receiving end is then drained with a control buffer of a size the input
 * picks (so descriptors are installed, truncated and closed), what was
 * received is closed, and ksock must be back where it started: the same
 * number of allocations outstanding and of descriptors open. Anything
 * else aborts, and AddressSanitizer watches every read of the control
 * buffer, which sits in a heap block of exactly msg_controllen bytes.
 *
 * Input: byte 0 picks the socket type (bits 0-1), whether to send 0 or 1
 * byte (bit 2), and a msg_controllen at or past the 131072-byte limit
 * with a short buffer behind it (bit 3: ENOBUFS before any read); byte 1
 * is the receiver's control buffer size in 4-byte steps; the rest is the
 * control buffer.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ksock/ksock.h>
#include <ksock/posix.h>

static const int types[3] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
static int pairs[3][2];
static int pipefd[2], nullfd;

static void
die(const char *what)
{
	fprintf(stderr, "cmsg_fuzz: %s\n", what);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (ksp_init() < 0)
		die("ksp_init");
	for (int t = 0; t < 3; t++)
		if (ksp_socketpair(AF_UNIX, types[t] | SOCK_NONBLOCK, 0,
				   pairs[t]) < 0)
			die("socketpair");
	if (ksp_pipe2(pipefd, O_NONBLOCK) < 0)
		die("pipe");
	nullfd = ksp_open("/dev/null", O_RDWR);
	if (nullfd < 0)
		die("open /dev/null");
	return 0;
}

/* Closes every descriptor an SCM_RIGHTS header of @msg delivered. */
static void
close_received(struct msghdr *msg)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL;
	     c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		     i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (ksp_close(fd) < 0)
				die("received descriptor does not close");
		}
	}
}

/* Reads everything queued on @s, offering @ctl_len bytes of control
 * buffer each time. */
static void
drain(int s, size_t ctl_len)
{
	static union {
		char		b[4096];
		struct cmsghdr	align;
	} u;
	char buf[16];

	for (int i = 0; i < 64; i++) {
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl_len ? u.b : NULL,
			.msg_controllen = ctl_len,
		};

		if (ksp_recvmsg(s, &msg, MSG_DONTWAIT) < 0)
			return;
		if (msg.msg_controllen > ctl_len)
			die("msg_controllen grew");
		close_received(&msg);
	}
	die("queue does not drain");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	long allocs = ksp_alloc_outstanding();
	int fds = ksp_fd_count();
	size_t len, ctl_len;
	unsigned char *ctl;
	int t, sent_one;

	if (size < 2)
		return 0;
	t = data[0] & 3;
	if (t == 3)
		t = 1;
	sent_one = (data[0] & 4) != 0;
	ctl_len = (size_t)data[1] * 4;
	len = size - 2;
	ctl = malloc(len ? len : 1);
	if (ctl == NULL)
		return 0;
	memcpy(ctl, data + 2, len);

	struct iovec iov = { "x", (size_t)sent_one };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = len ? ctl : NULL, .msg_controllen = len,
	};

	if (data[0] & 8)
		msg.msg_controllen = 131072 + len;
	(void)ksp_sendmsg(pairs[t][0], &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	free(ctl);
	drain(pairs[t][1], ctl_len);

	if (ksp_alloc_outstanding() != allocs)
		die("allocations left behind");
	if (ksp_fd_count() != fds)
		die("descriptors left behind");
	return 0;
}

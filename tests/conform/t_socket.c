/*
 * Socket creation: types, protocols, flags, and socketpair.
 */
#include "harness.h"

/* Stream, datagram and seqpacket sockets can be created; SOCK_RAW acts as
 * a datagram socket. */
static void
socket_types(void)
{
	static const struct { int type, want; } cases[] = {
		{ SOCK_STREAM, SOCK_STREAM },
		{ SOCK_DGRAM, SOCK_DGRAM },
		{ SOCK_SEQPACKET, SOCK_SEQPACKET },
		{ SOCK_RAW, SOCK_DGRAM },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = CHECK_OK(socket(AF_UNIX, cases[i].type, 0));
		int type = -1;
		socklen_t len = sizeof(type);

		CHECK_OK(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len));
		CHECK_EQ(type, cases[i].want);
		CHECK_EQ(len, sizeof(int));
		CHECK_OK(close(fd));
	}
}

/* Unknown types give ESOCKTNOSUPPORT; protocols other than 0 and 1 give
 * EPROTONOSUPPORT. */
static void
socket_bad_args(void)
{
	int fd;

	CHECK_ERR(socket(AF_UNIX, 4 /* SOCK_RDM */, 0), ESOCKTNOSUPPORT);
	/* Beyond SOCK_MAX (10) the generic layer answers EINVAL. */
	CHECK_ERR(socket(AF_UNIX, 15, 0), EINVAL);
	CHECK_ERR(socket(AF_UNIX, SOCK_STREAM, 2), EPROTONOSUPPORT);
	fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 1));
	CHECK_OK(close(fd));
}

/* SOCK_NONBLOCK and SOCK_CLOEXEC show up in F_GETFL and F_GETFD. */
static void
socket_flags(void)
{
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
				 SOCK_CLOEXEC, 0));

	CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
	CHECK_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
	CHECK_OK(close(fd));
}

/* fcntl on a socket: F_SETOWN_EX / F_GETOWN_EX work as on any file (and
 * refuse a negative pid or an unknown type), and the pipe-size commands fail with EBADF (the file is not a pipe). */
static void
socket_fcntl_owner_ex_pipe_sz(void)
{
	struct f_owner_ex ox = { .type = F_OWNER_PID, .pid = getpid() };
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));

	CHECK_OK(fcntl(fd, F_SETOWN_EX, &ox));
	memset(&ox, 0, sizeof(ox));
	CHECK_OK(fcntl(fd, F_GETOWN_EX, &ox));
	CHECK_EQ(ox.type, F_OWNER_PID);
	CHECK_EQ(ox.pid, getpid());
	CHECK_EQ(fcntl(fd, F_GETOWN), getpid());
	/* A negative number names no process, nor group (find_vpid), and
	 * an unknown type is refused; the owner stays. */
	ox.type = F_OWNER_PGRP;
	ox.pid = -getpid();
	CHECK_ERR(fcntl(fd, F_SETOWN_EX, &ox), ESRCH);
	ox.type = 7;
	ox.pid = 0;
	CHECK_ERR(fcntl(fd, F_SETOWN_EX, &ox), EINVAL);
	CHECK_EQ(fcntl(fd, F_GETOWN), getpid());
	CHECK_ERR(fcntl(fd, F_GETPIPE_SZ), EBADF);
	CHECK_ERR(fcntl(fd, F_SETPIPE_SZ, 4096), EBADF);
	CHECK_OK(close(fd));
}

/* fstat on a socket fills in S_IFSOCK; a NULL buffer is EFAULT. */
static void
socket_fstat(void)
{
	struct stat *volatile none = NULL;	/* hidden from -Wnonnull */
	struct stat st;
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));

	CHECK_OK(fstat(fd, &st));
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_ERR(fstat(fd, none), EFAULT);
	CHECK_OK(close(fd));
}

static const struct th_test tests[] = {
	{ "socket_types", socket_types },
	{ "socket_bad_args", socket_bad_args },
	{ "socket_flags", socket_flags },
	{ "socket_fcntl_owner_ex_pipe_sz", socket_fcntl_owner_ex_pipe_sz },
	{ "socket_fstat", socket_fstat },
};

TH_MAIN(tests)

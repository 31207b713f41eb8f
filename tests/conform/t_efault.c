/*
 * Bad user pointers: every socket call handed an address it may not
 * touch fails with -1/EFAULT and the program goes on, as on Linux. The
 * pointers are an unmapped page, a read-only page (as a place to write),
 * a page of a file mapping past the end of the file (SIGBUS on access),
 * and each argument a call reads or writes: buffers, iovec arrays, the
 * msghdr itself, msg_name, msg_control, socket addresses, address and
 * option lengths, option values, the socketpair and pipe arrays,
 * fstat's buffer, fcntl's and ioctl's socket owner, poll's array. Where Linux keeps the data queued, a later good
 * receive gets the bytes; where it drops it, the queue is empty.
 *
 * Also iovec lengths, measured on Linux 6.x (import_iovec, import_ubuf,
 * vfs_read/vfs_write): one length above SSIZE_MAX is EINVAL; a total
 * above SSIZE_MAX is EFAULT (access_ok fails on the first huge segment);
 * a length that reaches past the user address space is EFAULT with more
 * than one segment, while a single segment (and recv/send's one buffer)
 * is first capped at MAX_RW_COUNT; read and write check the uncapped
 * length and fail with EFAULT.
 */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "harness.h"

#define NCASES(a)	(sizeof(a) / sizeof((a)[0]))
#define PAGE		4096
#define DATA		"abcd"
#define DATALEN		4

/* What the receiving end's queue holds after the failed call. */
enum queue { ANY, KEPT, DROPPED, EMPTY };

/* The bad places, made fresh for each case. */
struct fx {
	int		 sv[2];		/* sv[0] is the socket the call uses */
	int		 type;
	char		*unmapped;	/* a page that cannot be touched */
	char		*ro;		/* a read-only page of zeroes */
	char		*bus;		/* a file mapping with no file behind */
	char		*page;		/* a writable page, then a hole */
	struct msghdr	*ro_msg;	/* a msghdr on a read-only page */
	struct iovec	 iov[2];
	char		 buf[64];
};

/* Maps two pages and takes all access from the second: a page with a
 * hole after it (a hole that no later mapping can fill). */
static char *
page_then_hole(void)
{
	char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	CHECK_OK(mprotect(p + PAGE, PAGE, PROT_NONE));
	return p;
}

static void
fx_init(struct fx *x, int type)
{
	int fd;

	memset(x, 0, sizeof(*x));
	x->type = type;
	CHECK_OK(socketpair(AF_UNIX, type, 0, x->sv));
	/* A datagram sender with a name (autobound), so a receive has an
	 * address to store. */
	if (type == SOCK_DGRAM) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };

		CHECK_OK(bind(x->sv[1], (struct sockaddr *)&a,
			      sizeof(sa_family_t)));
	}
	x->page = page_then_hole();
	x->unmapped = x->page + PAGE;
	x->ro = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(x->ro != MAP_FAILED);
	/* A msghdr that can be read but not written back, pointing at a
	 * good buffer: the receive works, its results cannot be stored. */
	x->iov[0].iov_base = x->buf;
	x->iov[0].iov_len = sizeof(x->buf);
	x->ro_msg = (struct msghdr *)(void *)x->ro;
	x->ro_msg->msg_iov = x->iov;
	x->ro_msg->msg_iovlen = 1;
	CHECK_OK(mprotect(x->ro, PAGE, PROT_READ));
	/* A real descriptor on every build (the mapping needs a real
	 * file), closed again at once. */
	fd = (int)syscall(SYS_openat, AT_FDCWD, "empty",
			  O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	x->bus = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(x->bus != MAP_FAILED);
	CHECK_OK(unlink("empty"));
	syscall(SYS_close, fd);
}

static void
fx_fini(struct fx *x)
{
	CHECK_OK(close(x->sv[0]));
	CHECK_OK(close(x->sv[1]));
	CHECK_OK(munmap(x->page, 2 * PAGE));
	CHECK_OK(munmap(x->ro, PAGE));
	CHECK_OK(munmap(x->bus, PAGE));
}

/* -- sends: nothing may arrive -- */

static long send_unmapped(struct fx *x)
{ return send(x->sv[0], x->unmapped, 16, 0); }
static long send_past_eof(struct fx *x)
{ return send(x->sv[0], x->bus, 16, 0); }
static long send_across_hole(struct fx *x)
{ return send(x->sv[0], x->page + PAGE - 8, 16, 0); }
static long write_unmapped(struct fx *x)
{ return write(x->sv[0], x->unmapped, 16); }
static long write_past_eof(struct fx *x)
{ return write(x->sv[0], x->bus, 16); }

static long
sendto_bad_addr(struct fx *x)
{
	return sendto(x->sv[0], DATA, DATALEN, 0,
		      (struct sockaddr *)(void *)x->unmapped,
		      sizeof(struct sockaddr_un));
}

static long sendmsg_bad_msghdr(struct fx *x)
{ return sendmsg(x->sv[0], (struct msghdr *)(void *)x->unmapped, 0); }

static long
sendmsg_bad_iov_array(struct fx *x)
{
	struct msghdr m = { .msg_iov = (struct iovec *)(void *)x->unmapped,
			    .msg_iovlen = 1 };

	return sendmsg(x->sv[0], &m, 0);
}

static long
sendmsg_bad_iov_base(struct fx *x)
{
	struct iovec iov[2] = { { (void *)DATA, DATALEN },
				{ x->unmapped, 8 } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };

	return sendmsg(x->sv[0], &m, 0);
}

static long
sendmsg_bad_name(struct fx *x)
{
	struct iovec iov = { (void *)DATA, DATALEN };
	struct msghdr m = { .msg_name = x->unmapped,
			    .msg_namelen = sizeof(struct sockaddr_un),
			    .msg_iov = &iov, .msg_iovlen = 1 };

	return sendmsg(x->sv[0], &m, 0);
}

static long
sendmsg_bad_control(struct fx *x)
{
	struct iovec iov = { (void *)DATA, DATALEN };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = x->unmapped,
			    .msg_controllen = CMSG_SPACE(sizeof(int)) };

	return sendmsg(x->sv[0], &m, 0);
}

static long
sendmsg_control_across_hole(struct fx *x)
{
	struct iovec iov = { (void *)DATA, DATALEN };
	struct cmsghdr *c = (struct cmsghdr *)(void *)(x->page + PAGE -
						       sizeof(*c));
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c,
			    .msg_controllen = CMSG_SPACE(sizeof(int)) };

	c->cmsg_len = CMSG_LEN(sizeof(int));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	return sendmsg(x->sv[0], &m, 0);
}

static long writev_bad_array(struct fx *x)
{ return writev(x->sv[0], (struct iovec *)(void *)x->unmapped, 2); }

static long
sendmmsg_bad_vec(struct fx *x)
{
	return sendmmsg(x->sv[0], (struct mmsghdr *)(void *)x->unmapped, 1, 0);
}

/* -- receives: DATA is queued first -- */

static long recv_unmapped(struct fx *x)
{ return recv(x->sv[0], x->unmapped, 16, 0); }
static long recv_readonly(struct fx *x)
{ return recv(x->sv[0], x->ro, 16, 0); }
static long read_unmapped(struct fx *x)
{ return read(x->sv[0], x->unmapped, 16); }
static long read_readonly(struct fx *x)
{ return read(x->sv[0], x->ro, 16); }
static long readv_bad_array(struct fx *x)
{ return readv(x->sv[0], (struct iovec *)(void *)x->unmapped, 1); }
static long recvmsg_bad_msghdr(struct fx *x)
{ return recvmsg(x->sv[0], (struct msghdr *)(void *)x->unmapped, 0); }
static long recvmsg_readonly_msghdr(struct fx *x)
{ return recvmsg(x->sv[0], x->ro_msg, 0); }

static long
recvmsg_bad_iov_array(struct fx *x)
{
	struct msghdr m = { .msg_iov = (struct iovec *)(void *)x->unmapped,
			    .msg_iovlen = 1 };

	return recvmsg(x->sv[0], &m, 0);
}

static long
recvmsg_bad_iov_base(struct fx *x)
{
	struct iovec iov = { x->unmapped, 16 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	return recvmsg(x->sv[0], &m, 0);
}

static long
recvmsg_bad_name(struct fx *x)
{
	struct iovec iov = { x->buf, sizeof(x->buf) };
	struct msghdr m = { .msg_name = x->unmapped,
			    .msg_namelen = sizeof(struct sockaddr_un),
			    .msg_iov = &iov, .msg_iovlen = 1 };

	return recvmsg(x->sv[0], &m, 0);
}

static long
recvfrom_bad_addr(struct fx *x)
{
	socklen_t len = sizeof(struct sockaddr_un);

	return recvfrom(x->sv[0], x->buf, sizeof(x->buf), 0,
			(struct sockaddr *)(void *)x->unmapped, &len);
}

static long
recvfrom_bad_addrlen(struct fx *x)
{
	struct sockaddr_un a;

	return recvfrom(x->sv[0], x->buf, sizeof(x->buf), 0,
			(struct sockaddr *)&a, (socklen_t *)(void *)x->unmapped);
}

static long
recvmmsg_bad_vec(struct fx *x)
{
	return recvmmsg(x->sv[0], (struct mmsghdr *)(void *)x->unmapped, 1, 0,
			NULL);
}

/* -- names, options, pairs: no data involved -- */

static long
bind_bad_addr(struct fx *x)
{
	return bind(x->sv[0], (struct sockaddr *)(void *)x->unmapped,
		    sizeof(struct sockaddr_un));
}

static long
connect_bad_addr(struct fx *x)
{
	return connect(x->sv[0], (struct sockaddr *)(void *)x->unmapped,
		       sizeof(struct sockaddr_un));
}

/* accept on a listener with one connection waiting: the address copy
 * fails after the connection was taken, and Linux drops it. */
static long
accept_with(void *addr, socklen_t *len)
{
	const char *name = th_unique();
	struct sockaddr_un a;
	socklen_t alen = th_addr_abstract(&a, name, strlen(name));
	int l, c, e;
	long r;

	l = CHECK_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
	c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(l, (struct sockaddr *)&a, alen));
	CHECK_OK(listen(l, 1));
	CHECK_OK(connect(c, (struct sockaddr *)&a, alen));
	errno = 0;
	r = accept(l, addr, len);
	e = errno;
	CHECK_ERR(accept(l, NULL, NULL), EAGAIN);
	CHECK_OK(close(c));
	CHECK_OK(close(l));
	errno = e;
	return r;
}

static long
accept_bad_addr(struct fx *x)
{
	socklen_t len = sizeof(struct sockaddr_un);

	return accept_with(x->unmapped, &len);
}

static long
accept_bad_addrlen(struct fx *x)
{
	struct sockaddr_un a;

	return accept_with(&a, (socklen_t *)(void *)x->ro);
}

static long
getsockname_bad_addr(struct fx *x)
{
	socklen_t len = sizeof(struct sockaddr_un);

	return getsockname(x->sv[0], (struct sockaddr *)(void *)x->unmapped,
			   &len);
}

static long
getsockname_bad_len(struct fx *x)
{
	struct sockaddr_un a;

	return getsockname(x->sv[0], (struct sockaddr *)&a,
			   (socklen_t *)(void *)x->unmapped);
}

static long
getpeername_bad_addr(struct fx *x)
{
	socklen_t len = sizeof(struct sockaddr_un);

	return getpeername(x->sv[0], (struct sockaddr *)(void *)x->ro, &len);
}

static long
getpeername_bad_len(struct fx *x)
{
	struct sockaddr_un a;

	return getpeername(x->sv[0], (struct sockaddr *)&a,
			   (socklen_t *)(void *)x->ro);
}

static long
getsockopt_bad_val(struct fx *x)
{
	socklen_t len = sizeof(int);

	return getsockopt(x->sv[0], SOL_SOCKET, SO_TYPE, x->unmapped, &len);
}

static long
getsockopt_bad_len(struct fx *x)
{
	int v;

	return getsockopt(x->sv[0], SOL_SOCKET, SO_TYPE, &v,
			  (socklen_t *)(void *)x->unmapped);
}

static long
setsockopt_bad_val(struct fx *x)
{
	return setsockopt(x->sv[0], SOL_SOCKET, SO_RCVBUF, x->unmapped,
			  sizeof(int));
}

static long
setsockopt_val_past_eof(struct fx *x)
{
	return setsockopt(x->sv[0], SOL_SOCKET, SO_SNDBUF, x->bus,
			  sizeof(int));
}

static long socketpair_bad_array(struct fx *x)
{ return socketpair(AF_UNIX, x->type, 0, (int *)(void *)x->unmapped); }
static long socketpair_readonly_array(struct fx *x)
{ return socketpair(AF_UNIX, x->type, 0, (int *)(void *)x->ro); }
static long pipe_bad_array(struct fx *x)
{ return pipe((int *)(void *)x->unmapped); }
static long pipe_readonly_array(struct fx *x)
{ return pipe2((int *)(void *)x->ro, O_CLOEXEC); }
static long fstat_unmapped(struct fx *x)
{ return fstat(x->sv[0], (struct stat *)(void *)x->unmapped); }
static long fstat_readonly(struct fx *x)
{ return fstat(x->sv[0], (struct stat *)(void *)x->ro); }
static long ioctl_fionread_bad(struct fx *x)
{ return ioctl(x->sv[0], FIONREAD, x->unmapped); }
static long poll_unmapped(struct fx *x)
{ return poll((struct pollfd *)(void *)x->unmapped, 1, 0); }
/* A readable array whose answers cannot be written back. */
static long poll_readonly(struct fx *x)
{ return poll((struct pollfd *)(void *)x->ro, 1, 0); }
static long fcntl_setown_ex_unmapped(struct fx *x)
{ return fcntl(x->sv[0], F_SETOWN_EX, x->unmapped); }
static long fcntl_getown_ex_unmapped(struct fx *x)
{ return fcntl(x->sv[0], F_GETOWN_EX, x->unmapped); }
static long fcntl_getown_ex_readonly(struct fx *x)
{ return fcntl(x->sv[0], F_GETOWN_EX, x->ro); }
static long ioctl_fiosetown_unmapped(struct fx *x)
{ return ioctl(x->sv[0], FIOSETOWN, x->unmapped); }
static long ioctl_siocgpgrp_readonly(struct fx *x)
{ return ioctl(x->sv[0], SIOCGPGRP, x->ro); }

static const struct {
	const char	*name;
	long		(*call)(struct fx *);
	int		 type;
	bool		 queued;	/* DATA waits on sv[0] before the call */
	enum queue	 after;		/* what the queue holds after it */
} cases[] = {
	{ "send_unmapped",	send_unmapped,		SOCK_STREAM, false, EMPTY },
	{ "send_unmapped_dgram", send_unmapped,		SOCK_DGRAM, false, EMPTY },
	{ "send_past_eof",	send_past_eof,		SOCK_STREAM, false, EMPTY },
	{ "send_across_hole",	send_across_hole,	SOCK_SEQPACKET, false, EMPTY },
	{ "write_unmapped",	write_unmapped,		SOCK_STREAM, false, EMPTY },
	{ "write_past_eof",	write_past_eof,		SOCK_DGRAM, false, EMPTY },
	{ "sendto_bad_addr",	sendto_bad_addr,	SOCK_DGRAM, false, EMPTY },
	{ "sendmsg_bad_msghdr",	sendmsg_bad_msghdr,	SOCK_STREAM, false, EMPTY },
	{ "sendmsg_bad_iov_array", sendmsg_bad_iov_array, SOCK_STREAM, false, EMPTY },
	{ "sendmsg_bad_iov_base", sendmsg_bad_iov_base,	SOCK_STREAM, false, EMPTY },
	{ "sendmsg_bad_iov_base_dgram", sendmsg_bad_iov_base, SOCK_DGRAM, false, EMPTY },
	{ "sendmsg_bad_name",	sendmsg_bad_name,	SOCK_DGRAM, false, EMPTY },
	{ "sendmsg_bad_control", sendmsg_bad_control,	SOCK_STREAM, false, EMPTY },
	{ "sendmsg_control_across_hole", sendmsg_control_across_hole,
						SOCK_DGRAM, false, EMPTY },
	{ "writev_bad_array",	writev_bad_array,	SOCK_STREAM, false, EMPTY },
	{ "sendmmsg_bad_vec",	sendmmsg_bad_vec,	SOCK_DGRAM, false, EMPTY },
	{ "recv_unmapped",	recv_unmapped,		SOCK_STREAM, true, KEPT },
	{ "recv_readonly",	recv_readonly,		SOCK_STREAM, true, KEPT },
	{ "recv_readonly_dgram", recv_readonly,		SOCK_DGRAM, true, DROPPED },
	{ "read_unmapped",	read_unmapped,		SOCK_STREAM, true, KEPT },
	{ "read_readonly",	read_readonly,		SOCK_STREAM, true, KEPT },
	{ "readv_bad_array",	readv_bad_array,	SOCK_STREAM, true, KEPT },
	{ "recvmsg_bad_msghdr",	recvmsg_bad_msghdr,	SOCK_STREAM, true, KEPT },
	{ "recvmsg_bad_iov_array", recvmsg_bad_iov_array, SOCK_DGRAM, true, KEPT },
	{ "recvmsg_bad_iov_base", recvmsg_bad_iov_base,	SOCK_STREAM, true, KEPT },
	{ "recvmsg_readonly_msghdr", recvmsg_readonly_msghdr,
						SOCK_STREAM, true, DROPPED },
	{ "recvmsg_bad_name",	recvmsg_bad_name,	SOCK_DGRAM, true, DROPPED },
	{ "recvfrom_bad_addr",	recvfrom_bad_addr,	SOCK_DGRAM, true, DROPPED },
	{ "recvfrom_bad_addrlen", recvfrom_bad_addrlen,	SOCK_STREAM, true, DROPPED },
	{ "recvmmsg_bad_vec",	recvmmsg_bad_vec,	SOCK_DGRAM, true, KEPT },
	{ "bind_bad_addr",	bind_bad_addr,		SOCK_STREAM, false, ANY },
	{ "connect_bad_addr",	connect_bad_addr,	SOCK_DGRAM, false, ANY },
	{ "accept_bad_addr",	accept_bad_addr,	SOCK_STREAM, false, ANY },
	{ "accept_bad_addrlen",	accept_bad_addrlen,	SOCK_STREAM, false, ANY },
	{ "getsockname_bad_addr", getsockname_bad_addr,	SOCK_STREAM, false, ANY },
	{ "getsockname_bad_len", getsockname_bad_len,	SOCK_STREAM, false, ANY },
	{ "getpeername_bad_addr", getpeername_bad_addr,	SOCK_STREAM, false, ANY },
	{ "getpeername_bad_len", getpeername_bad_len,	SOCK_STREAM, false, ANY },
	{ "getsockopt_bad_val",	getsockopt_bad_val,	SOCK_STREAM, false, ANY },
	{ "getsockopt_bad_len",	getsockopt_bad_len,	SOCK_STREAM, false, ANY },
	{ "setsockopt_bad_val",	setsockopt_bad_val,	SOCK_STREAM, false, ANY },
	{ "setsockopt_val_past_eof", setsockopt_val_past_eof, SOCK_STREAM, false, ANY },
	{ "socketpair_bad_array", socketpair_bad_array,	SOCK_STREAM, false, ANY },
	{ "socketpair_readonly_array", socketpair_readonly_array,
						SOCK_DGRAM, false, ANY },
	{ "pipe_bad_array",	pipe_bad_array,		SOCK_STREAM, false, ANY },
	{ "pipe_readonly_array", pipe_readonly_array,	SOCK_STREAM, false, ANY },
	{ "fstat_unmapped",	fstat_unmapped,		SOCK_STREAM, false, ANY },
	{ "fstat_readonly",	fstat_readonly,		SOCK_DGRAM, false, ANY },
	{ "ioctl_fionread_bad",	ioctl_fionread_bad,	SOCK_STREAM, true, KEPT },
	{ "poll_unmapped",	poll_unmapped,		SOCK_STREAM, false, ANY },
	{ "poll_readonly",	poll_readonly,		SOCK_STREAM, false, ANY },
	{ "fcntl_setown_ex_unmapped", fcntl_setown_ex_unmapped,
						SOCK_STREAM, false, ANY },
	{ "fcntl_getown_ex_unmapped", fcntl_getown_ex_unmapped,
						SOCK_STREAM, false, ANY },
	{ "fcntl_getown_ex_readonly", fcntl_getown_ex_readonly,
						SOCK_DGRAM, false, ANY },
	{ "ioctl_fiosetown_unmapped", ioctl_fiosetown_unmapped,
						SOCK_STREAM, false, ANY },
	{ "ioctl_siocgpgrp_readonly", ioctl_siocgpgrp_readonly,
						SOCK_STREAM, false, ANY },
};

/* Each case fails with -1/EFAULT, and the receiving queue then holds what
 * Linux leaves in it. */
static void
bad_pointers_give_efault(void)
{
	for (size_t i = 0; i < NCASES(cases); i++) {
		struct fx x;
		char got[16];
		long r;
		int e;

		fx_init(&x, cases[i].type);
		if (cases[i].queued)
			CHECK_EQ(send(x.sv[1], DATA, DATALEN, 0), DATALEN);
		errno = 0;
		r = cases[i].call(&x);
		e = errno;
		if (r != -1 || e != EFAULT)
			th_fail(__FILE__, __LINE__, "%s: want -1/EFAULT, got "
				"%ld/%s", cases[i].name, r,
				r == -1 ? strerror(e) : "no error");
		/* The sending cases look at the other end, the receiving
		 * ones at their own. */
		int rfd = cases[i].queued ? x.sv[0] : x.sv[1];

		r = recv(rfd, got, sizeof(got), MSG_DONTWAIT);
		switch (cases[i].after) {
		case KEPT:
			if (r != DATALEN || memcmp(got, DATA, DATALEN) != 0)
				th_fail(__FILE__, __LINE__, "%s: data not kept "
					"(recv %ld)", cases[i].name, r);
			break;
		case DROPPED:
		case EMPTY:
			if (r != -1 || errno != EAGAIN)
				th_fail(__FILE__, __LINE__, "%s: queue not "
					"empty (recv %ld)", cases[i].name, r);
			break;
		case ANY:
			break;
		}
		fx_fini(&x);
	}
}

/* -- iovec lengths -- */

/* Sizes the compiler cannot see, so it does not warn about them. */
static volatile size_t huge_len = 1UL << 50;
static volatile size_t over_ssize = (size_t)SSIZE_MAX + 1;
static volatile size_t half_over = (size_t)SSIZE_MAX / 2 + 1;

struct lcase {
	const char	*name;
	int		 call;		/* W_*: which call */
	size_t		 len[2];	/* lengths of the segments */
	int		 nseg;
	int		 type;
	long		 want;		/* >= 0: a byte count; < 0: -errno */
};

enum { W_WRITEV, W_SENDMSG, W_READV, W_RECVMSG, W_READ, W_WRITE, W_RECV,
       W_SEND };

static long
lcall(const struct lcase *c, int sv[2], char *buf)
{
	struct iovec iov[2] = { { buf, c->len[0] }, { buf + 8, c->len[1] } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)c->nseg };
	int fd = c->call == W_READV || c->call == W_RECVMSG ||
		 c->call == W_READ || c->call == W_RECV ? sv[1] : sv[0];

	switch (c->call) {
	case W_WRITEV:	return writev(fd, iov, c->nseg);
	case W_SENDMSG:	return sendmsg(fd, &m, MSG_DONTWAIT);
	case W_READV:	return readv(fd, iov, c->nseg);
	case W_RECVMSG:	return recvmsg(fd, &m, MSG_DONTWAIT);
	case W_READ:	return read(fd, buf, c->len[0]);
	case W_WRITE:	return write(fd, buf, c->len[0]);
	case W_RECV:	return recv(fd, buf, c->len[0], MSG_DONTWAIT);
	case W_SEND:	return send(fd, buf, c->len[0], MSG_DONTWAIT);
	}
	return 0;
}

/* Linux's results for lengths at and past the limits; a receive that
 * fails keeps the data queued. */
static void
iovec_lengths_as_linux(void)
{
	const size_t huge = huge_len, over = over_ssize, half = half_over;
	const struct lcase lc[] = {
		{ "writev total over SSIZE_MAX", W_WRITEV, { half, half }, 2,
		  SOCK_STREAM, -EFAULT },
		{ "sendmsg total over SSIZE_MAX", W_SENDMSG, { half, half }, 2,
		  SOCK_DGRAM, -EFAULT },
		{ "readv total over SSIZE_MAX", W_READV, { half, half }, 2,
		  SOCK_STREAM, -EFAULT },
		{ "writev one over SSIZE_MAX", W_WRITEV, { over, 0 }, 1,
		  SOCK_STREAM, -EINVAL },
		{ "writev first of two over SSIZE_MAX", W_WRITEV, { over, 4 }, 2,
		  SOCK_STREAM, -EINVAL },
		{ "recvmsg one over SSIZE_MAX", W_RECVMSG, { over, 0 }, 1,
		  SOCK_DGRAM, -EINVAL },
		{ "writev second of two past the address space", W_WRITEV,
		  { 4, huge }, 2, SOCK_STREAM, -EFAULT },
		{ "recvmsg first of two past the address space", W_RECVMSG,
		  { huge, 4 }, 2, SOCK_STREAM, -EFAULT },
		{ "readv second of two past the address space", W_READV,
		  { 4, huge }, 2, SOCK_DGRAM, -EFAULT },
		{ "recvmsg one past the address space is capped", W_RECVMSG,
		  { huge, 0 }, 1, SOCK_STREAM, DATALEN },
		{ "readv one past the address space is capped", W_READV,
		  { huge, 0 }, 1, SOCK_DGRAM, DATALEN },
		{ "recv past the address space is capped", W_RECV,
		  { huge, 0 }, 1, SOCK_STREAM, DATALEN },
		{ "dgram send past the address space is capped", W_SEND,
		  { huge, 0 }, 1, SOCK_DGRAM, -EMSGSIZE },
		{ "dgram writev one past the address space is capped",
		  W_WRITEV, { huge, 0 }, 1, SOCK_DGRAM, -EMSGSIZE },
		{ "dgram writev of nothing sends nothing", W_WRITEV, { 0, 0 },
		  1, SOCK_DGRAM, 0 },
		{ "read past the address space", W_READ, { huge, 0 }, 1,
		  SOCK_STREAM, -EFAULT },
		{ "write past the address space", W_WRITE, { huge, 0 }, 1,
		  SOCK_DGRAM, -EFAULT },
		{ "write over SSIZE_MAX", W_WRITE, { over, 0 }, 1,
		  SOCK_STREAM, -EFAULT },
	};

	for (size_t i = 0; i < NCASES(lc); i++) {
		const struct lcase *c = &lc[i];
		bool rx = c->call == W_READV || c->call == W_RECVMSG ||
			  c->call == W_READ || c->call == W_RECV;
		/* Static: far below the top of the address space, where a
		 * stack buffer plus MAX_RW_COUNT might not be. */
		static char buf[64] = DATA;
		char got[16];
		int sv[2];
		long r, want_r;
		int e;

		CHECK_OK(socketpair(AF_UNIX, c->type | SOCK_NONBLOCK, 0, sv));
		if (rx)
			CHECK_EQ(send(sv[0], DATA, DATALEN, 0), DATALEN);
		errno = 0;
		r = lcall(c, sv, buf);
		e = errno;
		want_r = c->want >= 0 ? c->want : -1;
		if (r != want_r || (r == -1 && e != -c->want))
			th_fail(__FILE__, __LINE__, "%s: want %ld/%s, got "
				"%ld/%s", c->name, want_r,
				c->want < 0 ? strerror((int)-c->want) : "-",
				r, r == -1 ? strerror(e) : "-");
		if (rx && c->want < 0) {
			r = recv(sv[1], got, sizeof(got), MSG_DONTWAIT);
			if (r != DATALEN)
				th_fail(__FILE__, __LINE__, "%s: data not "
					"kept (recv %ld)", c->name, r);
		} else if (!rx) {
			/* Nothing was sent. */
			r = recv(sv[1], got, sizeof(got), MSG_DONTWAIT);
			if (r != -1 || errno != EAGAIN)
				th_fail(__FILE__, __LINE__, "%s: something "
					"was sent (recv %ld)", c->name, r);
		}
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
}

/* A send whose one buffer runs from a good page into a hole never reads
 * past the page: it fails with EFAULT and sends nothing, as on Linux,
 * whether the length is capped (past the address space) or not. */
static void
send_into_hole(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
	char *p = page_then_hole();
	char got[PAGE];

	memset(p, 'p', PAGE);
	for (size_t i = 0; i < NCASES(types); i++) {
		int sv[2];

		CHECK_OK(socketpair(AF_UNIX, types[i] | SOCK_NONBLOCK, 0, sv));
		/* Capped at MAX_RW_COUNT: too long for a datagram. */
		if (types[i] == SOCK_STREAM)
			CHECK_ERR(send(sv[0], p, huge_len, 0), EFAULT);
		else
			CHECK_ERR(send(sv[0], p, huge_len, 0), EMSGSIZE);
		CHECK_ERR(send(sv[0], p, PAGE + 1000, 0), EFAULT);
		CHECK_ERR(recv(sv[1], got, sizeof(got), 0), EAGAIN);
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
	CHECK_OK(munmap(p, 2 * PAGE));
}

/* A receive whose msg_control cannot be written is not EFAULT on Linux:
 * the data comes, the credentials are lost silently, and msg_controllen
 * is 0. (Passed descriptors are not tested here: Linux 5.10 and later
 * does not install one whose number cannot be written, while ksock's
 * put_rights() in src/unix/scm.c still leaves it open, as older Linux
 * did.) */
static void
bad_receive_control_as_linux(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
	char *hole = page_then_hole();
	char *ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);

	CHECK(ro != MAP_FAILED);
	for (size_t i = 0; i < 2 * NCASES(types); i++) {
		char buf[16];
		struct iovec riov = { buf, sizeof(buf) };
		struct msghdr r = { .msg_iov = &riov, .msg_iovlen = 1,
				    .msg_controllen = 64 };
		int sv[2], one = 1;

		r.msg_control = i < NCASES(types) ? hole + PAGE : ro;
		CHECK_OK(socketpair(AF_UNIX, types[i % NCASES(types)], 0, sv));
		CHECK_OK(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one,
				    sizeof(one)));
		CHECK_EQ(send(sv[0], DATA, DATALEN, 0), DATALEN);
		CHECK_EQ(recvmsg(sv[1], &r, MSG_DONTWAIT), DATALEN);
		CHECK_EQ(r.msg_flags, 0);
		CHECK_EQ(r.msg_controllen, 0);
		CHECK_MEM(buf, DATA, DATALEN);
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
	CHECK_OK(munmap(hole, 2 * PAGE));
	CHECK_OK(munmap(ro, PAGE));
}

/* A MSG_WAITALL stream receive whose buffer has a hole far past its
 * start (past the 224 KiB a ksockd window holds): Linux returns the
 * bytes of the chunks copied before the hole and keeps the rest queued,
 * so that a receive into good memory then gets every byte sent, in
 * order. */
#define HOLE_BUF_PAGES	96
#define HOLE_PAGE	70
#define HOLE_SENT	(100 * PAGE)

/* The byte at @i of what the sender sends. */
static unsigned char
hole_byte(size_t i)
{
	return (unsigned char)(i * 7 + i / PAGE);
}

static void *
hole_sender_main(void *arg)
{
	static unsigned char data[HOLE_SENT];
	int fd = *(int *)arg;
	size_t off = 0;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = hole_byte(i);
	while (off < sizeof(data)) {
		ssize_t n = send(fd, data + off, sizeof(data) - off, 0);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	return NULL;
}

static void
waitall_hole_past_a_window(void)
{
	unsigned char *p = mmap(NULL, HOLE_BUF_PAGES * PAGE,
				PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t t;
	size_t got = 0, bad = 0;
	ssize_t n;
	int sv[2];

	CHECK(p != MAP_FAILED);
	CHECK_OK(mprotect(p + HOLE_PAGE * PAGE, PAGE, PROT_NONE));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(pthread_create(&t, NULL, hole_sender_main, &sv[0]), 0);
	n = recv(sv[1], p, HOLE_BUF_PAGES * PAGE, MSG_WAITALL);
	CHECK(n > 0 && n <= HOLE_PAGE * PAGE);
	for (size_t i = 0; n > 0 && i < (size_t)n; i++)
		bad += p[i] != hole_byte(i);
	CHECK_EQ(bad, 0);
	if (n > 0)
		got = (size_t)n;
	/* The rest, into good memory (the pages before the hole). */
	while (got < HOLE_SENT) {
		size_t want = HOLE_SENT - got;

		if (want > HOLE_PAGE * PAGE)
			want = HOLE_PAGE * PAGE;
		n = recv(sv[1], p, want, 0);
		if (n <= 0)
			break;
		for (size_t i = 0; i < (size_t)n; i++)
			bad += p[i] != hole_byte(got + i);
		got += (size_t)n;
	}
	CHECK_EQ(got, HOLE_SENT);
	CHECK_EQ(bad, 0);
	pthread_join(t, NULL);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
	CHECK_OK(munmap(p, HOLE_BUF_PAGES * PAGE));
}

/*
 * A stream send of 512 KiB (longer than ksockd's window, so its server
 * reads it straight from this process) whose buffer has a hole: at the
 * start, EFAULT and nothing sent; 160 KiB in, the parts before the
 * fault go (at least one, within the default send buffer) and the send
 * returns their count, exactly those bytes arrive, as on Linux, where a
 * copy that could fault only in the library would have sent nothing.
 */
#define LARGE_PAGES	128
#define LARGE_HOLE	40

static void
large_send_with_hole(void)
{
	unsigned char *p = mmap(NULL, LARGE_PAGES * PAGE,
				PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *got = malloc(LARGE_HOLE * PAGE);
	size_t bad = 0;
	ssize_t n;
	int sv[2];

	CHECK(p != MAP_FAILED && got != NULL);
	for (size_t i = 0; i < LARGE_PAGES * PAGE; i++)
		p[i] = hole_byte(i);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
	CHECK_OK(mprotect(p, PAGE, PROT_NONE));
	CHECK_ERR(send(sv[0], p, LARGE_PAGES * PAGE, 0), EFAULT);
	CHECK_ERR(recv(sv[1], got, PAGE, 0), EAGAIN);
	CHECK_OK(mprotect(p, PAGE, PROT_READ | PROT_WRITE));
	CHECK_OK(mprotect(p + LARGE_HOLE * PAGE, PAGE, PROT_NONE));
	n = send(sv[0], p, LARGE_PAGES * PAGE, 0);
	CHECK(n > 0 && n <= LARGE_HOLE * PAGE);
	if (n > 0) {
		CHECK_EQ(recv(sv[1], got, LARGE_HOLE * PAGE, MSG_WAITALL), n);
		for (size_t i = 0; i < (size_t)n; i++)
			bad += got[i] != hole_byte(i);
	}
	CHECK_EQ(bad, 0);
	CHECK_ERR(recv(sv[1], got, PAGE, 0), EAGAIN);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
	CHECK_OK(munmap(p, LARGE_PAGES * PAGE));
	free(got);
}

static const struct th_test tests[] = {
	{ "bad_pointers_give_efault",	bad_pointers_give_efault },
	{ "iovec_lengths_as_linux",	iovec_lengths_as_linux },
	{ "send_into_hole",		send_into_hole },
	{ "bad_receive_control_as_linux", bad_receive_control_as_linux },
	{ "waitall_hole_past_a_window",	waitall_hole_past_a_window },
	{ "large_send_with_hole",	large_send_with_hole },
};

TH_MAIN(tests)

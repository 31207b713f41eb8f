/*
 * Hosted port: the POSIX personality (include/ksock/posix.h).
 *
 * Every call looks its descriptor up in the calling simulated process's
 * table, takes a reference to the file, drops the table lock, and only
 * then calls ksock, so a blocking call never holds a table lock. Errors
 * come back from ksock as -KS_E* and become -1/errno here, at this one
 * boundary (KS_E* equal Linux's errno values).
 *
 * The socket calls are the boundary layer's (boundary.h): it checks the
 * arguments, moves addresses, option values and msghdrs, imports iovec
 * arrays and reaches user memory only through the copy hooks. What is
 * left here is this personality's own: its descriptor tables.
 * Host descriptors (pipes, files) forward read, write, fcntl, ioctl and
 * fstat to the real descriptor, and poll can mix both kinds.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <ksock/posix.h>

#include "hosted.h"

static_assert(O_NONBLOCK == KS_O_NONBLOCK, "flags");


/* Sets errno from the negative @err and returns -1 (boundary.h). */
static int
fail(long err)
{
	return (int)ksp__fail(err);
}

/* The calling process's descriptor table (starting ksock if needed). */
static struct ksp_fdtable *
table(void)
{
	struct ksp_proc *p = ksp__proc();

	if (p == NULL) {
		ksp_init();
		p = ksp__proc();
		if (p == NULL)
			abort();
	}
	return &p->fdt;
}

/* The file behind @fd, held. Returns 0 or -EBADF. */
static int
get_file(int fd, struct ksp_file **out)
{
	return ksp__fd_get(table(), fd, out);
}

/* The socket file behind @fd, held. Returns 0, -EBADF or -ENOTSOCK. */
static int
get_sock(int fd, struct ksp_file **out)
{
	int err = get_file(fd, out);

	if (err < 0)
		return err;
	if ((*out)->so == NULL) {
		ksp__file_put(*out);
		return -ENOTSOCK;
	}
	return 0;
}

/* Installs a new socket as a descriptor; drops the creation reference. */
static int
install_sock(struct ks_sock *so, bool cloexec)
{
	struct ksp_file *f = ksp__file_new_sock(so);
	int fd;

	if (f == NULL) {
		ks_close(so);
		return fail(-ENOMEM);
	}
	fd = ksp__fd_install(table(), f, cloexec, 0);
	ksp__file_put(f);
	return fd < 0 ? fail(fd) : fd;
}

/* -- sockets -- */

int
ksp_socket(int domain, int type, int protocol)
{
	struct ks_sock *so;
	int err;

	table();
	err = ks_socket(domain, type, protocol, &so);
	if (err < 0)
		return fail(err);
	return install_sock(so, (type & SOCK_CLOEXEC) != 0);
}

int
ksp_socketpair(int domain, int type, int protocol, int sv[2])
{
	struct ksp_fdtable *t = table();
	struct ks_sock *so[2];
	struct ksp_file *f[2] = { NULL, NULL };
	bool cloexec = (type & SOCK_CLOEXEC) != 0;
	int fd[2], err;

	/* As Linux: flags, then both descriptors and their numbers stored,
	 * then the sockets. */
	err = ksp__sys_socketpair_flags(type);
	if (err < 0)
		return fail(err);
	fd[0] = ksp__fd_reserve(t);
	if (fd[0] < 0)
		return fail(fd[0]);
	fd[1] = ksp__fd_reserve(t);
	if (fd[1] < 0) {
		err = fd[1];
		goto unreserve0;
	}
	err = ksp__sys_socketpair_out(sv, fd[0], fd[1]);
	if (err < 0)
		goto unreserve1;
	err = ks_socketpair(domain, type, protocol, so);
	if (err < 0)
		goto unreserve1;
	f[0] = ksp__file_new_sock(so[0]);
	f[1] = ksp__file_new_sock(so[1]);
	if (f[0] == NULL || f[1] == NULL) {
		err = -ENOMEM;
		goto close_socks;
	}
	ksp__fd_commit(t, fd[0], f[0], cloexec);
	ksp__fd_commit(t, fd[1], f[1], cloexec);
	ksp__file_put(f[0]);
	ksp__file_put(f[1]);
	return 0;

close_socks:
	for (int i = 0; i < 2; i++) {
		if (f[i] != NULL)
			ksp__file_put(f[i]);
		else
			ks_close(so[i]);
	}
unreserve1:
	ksp__fd_unreserve(t, fd[1]);
unreserve0:
	ksp__fd_unreserve(t, fd[0]);
	return fail(err);
}

/*
 * Socket call @call on the socket behind @fd, with the call's arguments
 * after the descriptor: the boundary's result, or -1/errno.
 */
static long
sock_call(int fd, enum ksp_sys call, long a0, long a1, long a2, long a3,
	  long a4)
{
	const long a[5] = { a0, a1, a2, a3, a4 };
	struct ksp_file *f;
	long n;

	n = get_sock(fd, &f);
	if (n < 0)
		return fail(n);
	n = ksp__sys_call(f->so, call, a);
	ksp__file_put(f);
	return n < 0 ? fail(n) : n;
}

int
ksp_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	return (int)sock_call(fd, KSP_SYS_BIND, (long)addr, len, 0, 0, 0);
}

int
ksp_listen(int fd, int backlog)
{
	return (int)sock_call(fd, KSP_SYS_LISTEN, backlog, 0, 0, 0, 0);
}

int
ksp_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct ksp_fdtable *t = table();
	struct ks_sock *nso;
	struct ksp_file *f, *nf;
	int nfd, err;

	err = ksp__sys_accept_flags(flags);
	if (err < 0)
		return fail(err);
	err = get_sock(fd, &f);
	if (err < 0)
		return fail(err);
	/* Linux takes the descriptor number before it waits. */
	nfd = ksp__fd_reserve(t);
	if (nfd < 0) {
		err = nfd;
		goto put_file;
	}
	err = ksp__sys_accept(f->so, flags, &nso, addr, len);
	if (err < 0)
		goto unreserve;
	nf = ksp__file_new_sock(nso);
	if (nf == NULL) {
		ks_close(nso);
		err = -ENOMEM;
		goto unreserve;
	}
	ksp__fd_commit(t, nfd, nf, (flags & SOCK_CLOEXEC) != 0);
	ksp__file_put(nf);
	ksp__file_put(f);
	return nfd;

unreserve:
	ksp__fd_unreserve(t, nfd);
put_file:
	ksp__file_put(f);
	return fail(err);
}

int
ksp_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return ksp_accept4(fd, addr, len, 0);
}

int
ksp_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return (int)sock_call(fd, KSP_SYS_CONNECT, (long)addr, len, 0, 0, 0);
}

int
ksp_shutdown(int fd, int how)
{
	return (int)sock_call(fd, KSP_SYS_SHUTDOWN, how, 0, 0, 0, 0);
}

int
ksp_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	return (int)sock_call(fd, KSP_SYS_GETSOCKOPT, level, name, (long)val,
			      (long)len, 0);
}

int
ksp_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	return (int)sock_call(fd, KSP_SYS_SETSOCKOPT, level, name, (long)val,
			      len, 0);
}

int
ksp_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	return (int)sock_call(fd, KSP_SYS_GETSOCKNAME, (long)addr, (long)len,
			      0, 0, 0);
}

int
ksp_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	return (int)sock_call(fd, KSP_SYS_GETPEERNAME, (long)addr, (long)len,
			      0, 0, 0);
}

/* -- data -- */

ssize_t
ksp_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	return sock_call(fd, KSP_SYS_SENDMSG, (long)msg, flags, 0, 0, 0);
}

ssize_t
ksp_sendto(int fd, const void *buf, size_t len, int flags,
	   const struct sockaddr *addr, socklen_t alen)
{
	return sock_call(fd, KSP_SYS_SENDTO, (long)buf, (long)len, flags,
			 (long)addr, alen);
}

ssize_t
ksp_send(int fd, const void *buf, size_t len, int flags)
{
	return ksp_sendto(fd, buf, len, flags, NULL, 0);
}

ssize_t
ksp_recvmsg(int fd, struct msghdr *msg, int flags)
{
	return sock_call(fd, KSP_SYS_RECVMSG, (long)msg, flags, 0, 0, 0);
}

ssize_t
ksp_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
	     socklen_t *alen)
{
	return sock_call(fd, KSP_SYS_RECVFROM, (long)buf, (long)len, flags,
			 (long)addr, (long)alen);
}

ssize_t
ksp_recv(int fd, void *buf, size_t len, int flags)
{
	return ksp_recvfrom(fd, buf, len, flags, NULL, NULL);
}

int
ksp_sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
	return (int)sock_call(fd, KSP_SYS_SENDMMSG, (long)vec, vlen, flags, 0,
			      0);
}

int
ksp_recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags,
	     struct timespec *timeout)
{
	return (int)sock_call(fd, KSP_SYS_RECVMMSG, (long)vec, vlen, flags,
			      (long)timeout, 0);
}

/*
 * read, write, readv and writev on any file: a socket goes through the
 * boundary, a host file to the real call. @op picks the call; @buf is a
 * buffer of @len bytes, or an iovec array of @len segments.
 */
enum rw_op { RW_READ, RW_WRITE, RW_READV, RW_WRITEV };

static ssize_t
do_rw(int fd, enum rw_op op, void *buf, size_t len)
{
	struct ksp_file *f;
	long n;
	int err;

	err = get_file(fd, &f);
	if (err < 0)
		return fail(err);
	if (f->so == NULL) {
		switch (op) {
		case RW_READ:	n = read(f->hostfd, buf, len); break;
		case RW_WRITE:	n = write(f->hostfd, buf, len); break;
		case RW_READV:	n = readv(f->hostfd, buf, (int)len); break;
		default:	n = writev(f->hostfd, buf, (int)len); break;
		}
		n = n < 0 ? -errno : n;
	} else {
		switch (op) {
		case RW_READ:	n = ksp__sys_read(f->so, buf, len); break;
		case RW_WRITE:	n = ksp__sys_write(f->so, buf, len); break;
		case RW_READV:	n = ksp__sys_readv(f->so, buf, (int)len); break;
		default:	n = ksp__sys_writev(f->so, buf, (int)len); break;
		}
	}
	ksp__file_put(f);
	return n < 0 ? fail(n) : n;
}

ssize_t
ksp_read(int fd, void *buf, size_t len)
{
	return do_rw(fd, RW_READ, buf, len);
}

ssize_t
ksp_write(int fd, const void *buf, size_t len)
{
	return do_rw(fd, RW_WRITE, (void *)buf, len);
}

ssize_t
ksp_readv(int fd, const struct iovec *iov, int iovcnt)
{
	return do_rw(fd, RW_READV, (void *)iov, (size_t)iovcnt);
}

ssize_t
ksp_writev(int fd, const struct iovec *iov, int iovcnt)
{
	return do_rw(fd, RW_WRITEV, (void *)iov, (size_t)iovcnt);
}

/* -- descriptors -- */

int
ksp_close(int fd)
{
	int err = ksp__fd_close(table(), fd);

	return err < 0 ? fail(err) : 0;
}

int
ksp_dup(int fd)
{
	struct ksp_file *f;
	int err;

	err = get_file(fd, &f);
	if (err < 0)
		return fail(err);
	err = ksp__fd_install(table(), f, false, 0);
	ksp__file_put(f);
	return err < 0 ? fail(err) : err;
}

int
ksp_dup3(int fd, int newfd, int flags)
{
	int err;

	/* As Linux's ksys_dup3(): flags, equal numbers, then the range. */
	if (flags & ~O_CLOEXEC)
		return fail(-EINVAL);
	if (fd == newfd)
		return fail(-EINVAL);
	err = ksp__fd_dup3(table(), fd, newfd, (flags & O_CLOEXEC) != 0);
	return err < 0 ? fail(err) : err;
}

int
ksp_dup2(int fd, int newfd)
{
	int err;

	if (fd == newfd) {
		err = ksp__fd_get_cloexec(table(), fd);
		return err < 0 ? fail(err) : newfd;
	}
	err = ksp__fd_dup3(table(), fd, newfd, false);
	return err < 0 ? fail(err) : err;
}

/* Installs the host descriptors @hfd[0..1] as a pair of new descriptors. */
static int
install_host_pair(int hfd[2], bool cloexec, int fds[2])
{
	struct ksp_fdtable *t = table();
	struct ksp_file *f[2];
	int fd[2], err;

	fd[0] = ksp__fd_reserve(t);
	if (fd[0] < 0) {
		err = fd[0];
		goto close_host;
	}
	fd[1] = ksp__fd_reserve(t);
	if (fd[1] < 0) {
		err = fd[1];
		goto unreserve0;
	}
	/* As Linux's do_pipe2(): the numbers go out before they are
	 * installed, and a bad array is EFAULT with nothing left open. */
	err = ksp__copy_to_user(fds, fd, sizeof(fd));
	if (err < 0)
		goto unreserve1;
	f[0] = ksp__file_new_host(hfd[0]);
	f[1] = f[0] != NULL ? ksp__file_new_host(hfd[1]) : NULL;
	if (f[1] == NULL) {
		free(f[0]);
		err = -ENOMEM;
		goto unreserve1;
	}
	for (int i = 0; i < 2; i++) {
		ksp__fd_commit(t, fd[i], f[i], cloexec);
		ksp__file_put(f[i]);
	}
	return 0;

unreserve1:
	ksp__fd_unreserve(t, fd[1]);
unreserve0:
	ksp__fd_unreserve(t, fd[0]);
close_host:
	close(hfd[0]);
	close(hfd[1]);
	return fail(err);
}

int
ksp_pipe2(int fds[2], int flags)
{
	int hfd[2];

	if (fds == NULL)
		return fail(-EFAULT);
	/* Real descriptors are always close-on-exec; the simulated one
	 * carries the flag. */
	if (pipe2(hfd, flags | O_CLOEXEC) < 0)
		return -1;
	return install_host_pair(hfd, (flags & O_CLOEXEC) != 0, fds);
}

int
ksp_pipe(int fds[2])
{
	return ksp_pipe2(fds, 0);
}

int
ksp_open(const char *path, int flags, ...)
{
	struct ksp_proc *p;
	struct ksp_file *f;
	mode_t mode = 0;
	uid_t uid;
	gid_t gid;
	int hfd, fd, saved;

	if (flags & (O_CREAT | __O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	table();
	p = ksp__proc();
	pthread_mutex_lock(&p->lock);
	mode &= ~p->umask;
	uid = p->euid;
	gid = p->egid;
	pthread_mutex_unlock(&p->lock);
	/* The kernel checks access and owns new files with the simulated
	 * ids: fsuid and fsgid are per thread. */
	if (geteuid() == 0 && uid != 0) {
		setfsgid(gid);
		setfsuid(uid);
	}
	hfd = open(path, flags | O_CLOEXEC, mode);
	saved = errno;
	if (geteuid() == 0 && uid != 0) {
		setfsuid(0);
		setfsgid(getegid());
	}
	if (hfd < 0)
		return fail(-saved);
	f = ksp__file_new_host(hfd);
	if (f == NULL) {
		close(hfd);
		return fail(-ENOMEM);
	}
	fd = ksp__fd_install(table(), f, (flags & O_CLOEXEC) != 0, 0);
	ksp__file_put(f);
	return fd < 0 ? fail(fd) : fd;
}

int
ksp_fstat(int fd, struct stat *st)
{
	struct ksp_file *f;
	int err;

	err = get_file(fd, &f);
	if (err < 0)
		return fail(err);
	if (f->so == NULL) {
		err = fstat(f->hostfd, st) < 0 ? -errno : 0;
	} else {
		err = ksp__sys_fstat(f->so, ksp_geteuid(), ksp_getegid(), st);
	}
	ksp__file_put(f);
	return err < 0 ? fail(err) : 0;
}

/* fcntl on a real descriptor, as a result or -errno. */
static int
host_fcntl(int hostfd, int cmd, long arg)
{
	int r = fcntl(hostfd, cmd, arg);

	return r < 0 ? -errno : r;
}

int
ksp_fcntl(int fd, int cmd, ...)
{
	struct ksp_fdtable *t = table();
	struct ksp_file *f;
	va_list ap;
	long arg;
	int r;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);

	r = get_file(fd, &f);
	if (r < 0)
		return fail(r);
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if (arg < 0 || !ksp__fd_below_limit(arg)) {
			r = -EINVAL;
			break;
		}
		r = ksp__fd_install(t, f, cmd == F_DUPFD_CLOEXEC, (int)arg);
		break;
	case F_GETFD:
		r = ksp__fd_get_cloexec(t, fd);
		if (r > 0)
			r = FD_CLOEXEC;
		break;
	case F_SETFD:
		r = ksp__fd_set_cloexec(t, fd, (arg & FD_CLOEXEC) != 0);
		break;
	case F_GETFL:
		if (f->so == NULL)
			r = host_fcntl(f->hostfd, F_GETFL, 0);
		else
			r = O_RDWR | (ks_is_nonblock(f->so) ? O_NONBLOCK : 0) |
			    (int)atomic_load(&f->fl);
		break;
	case F_SETFL:
		if (f->so == NULL) {
			r = host_fcntl(f->hostfd, F_SETFL, arg);
		} else if (arg & O_DIRECT) {
			r = -EINVAL;	/* a socket has no direct I/O */
		} else {
			/* O_ASYNC is kept for F_GETFL; the personality
			 * sends no SIGIO. */
			ks_set_nonblock(f->so, (arg & O_NONBLOCK) != 0);
			atomic_store(&f->fl, (unsigned)arg & KSP_SOCK_SETFL &
					     ~(unsigned)O_NONBLOCK);
			r = 0;
		}
		break;
	case F_GETSIG:
		r = f->so == NULL ? host_fcntl(f->hostfd, cmd, arg) :
		    atomic_load(&f->sig);
		break;
	case F_SETSIG:
		if (f->so == NULL) {
			r = host_fcntl(f->hostfd, cmd, arg);
		} else if ((unsigned long)arg > KSP_NSIG) {
			r = -EINVAL;
		} else {
			atomic_store(&f->sig, (int)arg);
			r = 0;
		}
		break;
	case F_SETOWN:
		if (f->so == NULL)
			r = host_fcntl(f->hostfd, F_SETOWN, arg);
		else
			r = ksp__sys_setown(f->so, arg);
		break;
	case F_GETOWN:
		if (f->so == NULL)
			r = host_fcntl(f->hostfd, F_GETOWN, 0);
		else {
			/* A process group owner is negative, and no error. */
			r = ks_get_owner(f->so);
			ksp__file_put(f);
			return r;
		}
		break;
	case F_SETOWN_EX:
	case F_GETOWN_EX:
		if (f->so == NULL)
			r = host_fcntl(f->hostfd, cmd, arg);
		else
			r = ksp__sys_owner_ex(f->so, cmd == F_SETOWN_EX,
					      (void *)arg);
		break;
	case F_GETPIPE_SZ:
	case F_SETPIPE_SZ:
		/* Linux: not a pipe, so no pipe_inode_info: EBADF. */
		if (f->so == NULL)
			r = host_fcntl(f->hostfd, cmd, arg);
		else
			r = -EBADF;
		break;
	default:
		if (f->so == NULL)
			r = host_fcntl(f->hostfd, cmd, arg);
		else
			r = ksp__sock_fcntl_file(cmd, arg);
		break;
	}
	ksp__file_put(f);
	return r < 0 ? fail(r) : r;
}

/*
 * The ioctls Linux answers for a socket's file before the socket sees
 * them (FIOASYNC) or in sock_ioctl() for every family (the owner); ENOTTY
 * for others. Linux reads and writes an int through @arg.
 */
static int
sock_file_ioctl(struct ksp_file *f, unsigned long req, void *arg)
{
	int v;

	switch (req) {
	case FIOASYNC:
		if (ksp__copy_from_user(&v, arg, sizeof(v)) < 0)
			return -EFAULT;
		if (v != 0)
			atomic_fetch_or(&f->fl, (unsigned)O_ASYNC);
		else
			atomic_fetch_and(&f->fl, ~(unsigned)O_ASYNC);
		return 0;
	default:
		return ksp__sys_owner_ioctl(f->so, req, arg);
	}
}

int
ksp_ioctl(int fd, unsigned long req, ...)
{
	struct ksp_file *f;
	va_list ap;
	void *arg;
	int r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);

	r = get_file(fd, &f);
	if (r < 0)
		return fail(r);
	if (req == FIOCLEX || req == FIONCLEX)
		r = ksp__fd_set_cloexec(table(), fd, req == FIOCLEX);
	else if (f->so == NULL)
		r = ioctl(f->hostfd, req, arg) < 0 ? -errno : 0;
	else {
		r = sock_file_ioctl(f, req, arg);
		if (r == -ENOTTY)
			r = ks_ioctl(f->so, req, arg);
		if (r == -ENOTTY)
			r = ksp__sock_ioctl_netdev(req, arg);
	}
	ksp__file_put(f);
	return r < 0 ? fail(r) : r;
}

/* -- poll -- */

/*
 * ksp_poll() as Linux's do_poll(): a first pass that registers nothing
 * (most polls on a busy socket find it ready, and then registering and
 * removing an entry per descriptor would be wasted), then a pass that
 * registers every socket's entry, then a wait. The wait spins while the
 * port's policy says spinning can pay (spin.c, the same policy ksock's
 * own waiters follow): a wake-up that finds the poller spinning costs no
 * system call, and a ping-pong over poll is all such wake-ups. The state
 * word goes SPINNING -> SLEEPING when the poller parks, and a waker moves
 * it to WOKEN, unparking only a sleeper. After a wake-up a pass without
 * registering looks again; only if it finds nothing (a wake-up for events
 * nobody asked for) does the next pass register again. With host
 * descriptors the poller sleeps in the real poll() on them and an
 * eventfd instead.
 *
 * The eventfd is made while entries are registered, so a waker may read
 * w->efd while the poller writes it: it is atomic, and a waker that saw
 * -1 unparks the thread, which the poller notices before it sleeps (it
 * looks once more after publishing the eventfd).
 *
 * Up to POLL_STACK_FDS descriptors are tracked on the stack; more are
 * allocated.
 */
#define POLL_STACK_FDS	16

enum { POLL_SPINNING, POLL_SLEEPING, POLL_WOKEN };

struct poll_waiter {
	struct ksp_thread *thr;
	atomic_int	   efd;		/* eventfd when host files are polled */
	atomic_int	   state;	/* POLL_* */
};

struct poll_slot {
	struct ks_poll_entry pe;
	struct ksp_file	    *f;
	bool		     registered;
};

/* Runs with ksock locks held: only wakes the polling thread. */
static void
poll_wake(struct ks_poll_entry *pe, unsigned events)
{
	struct poll_waiter *w = pe->arg;
	int efd;

	if (atomic_exchange(&w->state, POLL_WOKEN) == POLL_WOKEN)
		return;		/* told already */
	efd = atomic_load(&w->efd);
	if (efd >= 0) {
		uint64_t one = 1;
		ssize_t n = write(efd, &one, sizeof(one));

		(void)n;
	} else {
		ksp__unpark(w->thr);
	}
}

/* Milliseconds left until @deadline (-1: none), rounded up. */
static int
poll_ms_left(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - ksp__now();
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > INT_MAX ? INT_MAX : (int)left;
}

static bool
poll_is_woken(struct poll_waiter *w)
{
	return atomic_load_explicit(&w->state, memory_order_acquire) ==
	       POLL_WOKEN;
}

static bool
poll_woken_cb(void *w)
{
	return poll_is_woken(w);
}

/*
 * Waits for a wake-up of @w (sockets only): spins while the spin policy
 * says so, then parks. Returns 0 (woken, or the deadline passed:
 * *@timed_out says which), or -EINTR.
 */
static int
poll_sleep(struct poll_waiter *w, int64_t deadline, bool *timed_out)
{
	int expected = POLL_SPINNING;
	int err;

	if (ksp__spin_until(poll_woken_cb, w, deadline))
		return 0;
	if (!atomic_compare_exchange_strong(&w->state, &expected,
					    POLL_SLEEPING))
		return 0;
	do {
		err = ksp__park(deadline);
		if (err == -KS_ETIMEDOUT) {
			*timed_out = true;
			return 0;
		}
		if (err < 0)
			return err;
	} while (!poll_is_woken(w));
	return 0;
}

/* Sleeps in the real poll() on the host descriptors and the eventfd.
 * Returns 0 or -errno. */
static int
poll_sleep_host(struct poll_waiter *w, struct pollfd *hp, size_t nhost,
		int64_t deadline, bool *timed_out)
{
	uint64_t cnt;
	ssize_t n;

	hp[nhost].fd = atomic_load(&w->efd);
	hp[nhost].events = POLLIN;
	if (poll(hp, nhost + 1, poll_ms_left(deadline)) < 0)
		return -errno;
	n = read(hp[nhost].fd, &cnt, sizeof(cnt));
	(void)n;
	if (atomic_exchange(&w->thr->interrupted, false))
		return -EINTR;
	if (deadline >= 0 && ksp__now() >= deadline)
		*timed_out = true;
	return 0;
}

/*
 * One pass over @fds: fills revents and returns how many are ready, or
 * -errno. @reg: register each socket's entry (re-registering it for the
 * socket's current state).
 */
static int
poll_pass(struct pollfd *fds, nfds_t nfds, struct poll_slot *slot,
	  struct pollfd *hp, size_t nhost, bool reg)
{
	size_t h = 0;
	int ready = 0;

	for (nfds_t i = 0; i < nfds; i++) {
		struct poll_slot *s = &slot[i];
		unsigned mask;

		fds[i].revents = 0;
		if (fds[i].fd < 0)
			continue;
		if (s->f == NULL) {
			fds[i].revents = POLLNVAL;
		} else if (s->f->so != NULL) {
			mask = ks_poll(s->f->so, reg ? &s->pe : NULL);
			if (reg)
				s->registered = true;
			fds[i].revents = (short)(mask & ((unsigned)fds[i].events |
					  POLLERR | POLLHUP));
		} else {
			hp[h].fd = s->f->hostfd;
			hp[h].events = fds[i].events;
			hp[h].revents = 0;
			h++;
		}
	}
	if (nhost > 0) {
		if (poll(hp, nhost, 0) < 0)
			return -errno;
		h = 0;
		for (nfds_t i = 0; i < nfds; i++)
			if (fds[i].fd >= 0 && slot[i].f != NULL &&
			    slot[i].f->so == NULL)
				fds[i].revents = hp[h++].revents;
	}
	for (nfds_t i = 0; i < nfds; i++)
		if (fds[i].revents != 0)
			ready++;
	return ready;
}

/* ksp_poll() on @fds, a copy in the library's memory; -1/errno or the
 * ready count. */
static int
poll_fds(struct pollfd *fds, nfds_t nfds, int timeout)
{
	struct poll_slot stack_slot[POLL_STACK_FDS];
	struct pollfd stack_hp[POLL_STACK_FDS + 1];
	struct poll_waiter w = { ksp__thread(), -1, POLL_SPINNING };
	struct poll_slot *slot = stack_slot;
	struct pollfd *hp = stack_hp;
	int64_t deadline = -1;
	size_t nhost = 0;
	bool timed_out = timeout == 0, reg = false;
	int ready = 0, err = 0;

	if (timeout > 0)
		deadline = ksp__now() + (int64_t)timeout * 1000000;
	if (nfds > POLL_STACK_FDS) {
		slot = calloc(nfds, sizeof(*slot));
		hp = calloc(nfds + 1, sizeof(*hp));
		if (slot == NULL || hp == NULL) {
			free(slot);
			free(hp);
			return fail(-ENOMEM);
		}
	} else {
		memset(stack_slot, 0, nfds * sizeof(*slot));
	}
	for (nfds_t i = 0; i < nfds; i++) {
		if (fds[i].fd < 0 || get_file(fds[i].fd, &slot[i].f) < 0)
			continue;
		slot[i].pe.wake = poll_wake;
		slot[i].pe.arg = &w;
		if (slot[i].f->so == NULL)
			nhost++;
	}

	for (;;) {
		ready = poll_pass(fds, nfds, slot, hp, nhost, reg && !timed_out);
		if (ready < 0) {
			err = ready;
			ready = 0;
			goto out;
		}
		if (ready > 0 || timed_out)
			break;
		if (!reg) {
			/* Register, then look once more before sleeping: an
			 * event in between wakes us. */
			reg = true;
			atomic_store(&w.state, POLL_SPINNING);
			continue;
		}
		if (nhost > 0 && atomic_load(&w.efd) < 0) {
			int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

			if (efd < 0) {
				err = -errno;
				goto out;
			}
			atomic_store(&w.efd, efd);
			atomic_store(&w.thr->poll_efd, efd);
			/* Wakers that came before the eventfd unparked
			 * us; look again with it in place. */
			atomic_store(&w.state, POLL_SPINNING);
			continue;
		}
		err = nhost > 0 ?
		      poll_sleep_host(&w, hp, nhost, deadline, &timed_out) :
		      poll_sleep(&w, deadline, &timed_out);
		if (err < 0)
			goto out;
		/* Woken: a pass without registering, which keeps the
		 * entries where they are, finds what woke us; if nothing
		 * did, the next pass registers again. */
		reg = atomic_load(&w.state) != POLL_WOKEN;
		atomic_store(&w.state, POLL_SPINNING);
		if (!reg) {
			ready = poll_pass(fds, nfds, slot, hp, nhost, false);
			if (ready < 0) {
				err = ready;
				ready = 0;
				goto out;
			}
			if (ready > 0 || timed_out)
				break;
			reg = true;
		}
	}

out:
	for (nfds_t i = 0; i < nfds; i++) {
		if (slot[i].registered)
			ks_poll_remove(&slot[i].pe);
		ksp__file_put(slot[i].f);
	}
	if (atomic_load(&w.efd) >= 0) {
		atomic_store(&w.thr->poll_efd, -1);
		close(atomic_load(&w.efd));
	}
	if (slot != stack_slot) {
		free(slot);
		free(hp);
	}
	return err < 0 ? fail(err) : ready;
}

/*
 * As do_sys_poll(): the count is checked against the descriptor limit,
 * then the program's array is read through the copy hooks, and the
 * answers are written back the same way (EFAULT when they cannot be).
 */
int
ksp_poll(struct pollfd *ufds, nfds_t nfds, int timeout)
{
	struct pollfd stack_fds[POLL_STACK_FDS], *k = stack_fds;
	size_t size = nfds * sizeof(*k);
	int r;

	if (nfds > (nfds_t)INT32_MAX ||
	    (nfds > 0 && !ksp__fd_below_limit((long)nfds - 1)))
		return fail(-EINVAL);
	if (nfds > POLL_STACK_FDS) {
		k = malloc(size);
		if (k == NULL)
			return fail(-ENOMEM);
	}
	if (nfds > 0 && ksp__copy_from_user(k, ufds, size) < 0) {
		r = fail(-EFAULT);
		goto free_copy;
	}
	r = poll_fds(k, nfds, timeout);
	if (r >= 0 && nfds > 0 && ksp__copy_to_user(ufds, k, size) < 0)
		r = fail(-EFAULT);
free_copy:
	if (k != stack_fds)
		free(k);
	return r;
}

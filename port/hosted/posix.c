/*
 * Hosted port: the POSIX personality (include/ksock/posix.h).
 *
 * Every call looks its descriptor up in the calling simulated process's
 * table, takes a reference to the file, drops the table lock, and only
 * then calls ksock, so a blocking call never holds a table lock. Errors
 * come back from ksock as -KS_E* and become -1/errno here, at this one
 * boundary (KS_E* equal Linux's errno values).
 *
 * Addresses and option values are copied between the caller's buffers and
 * kernel-side storage the way Linux's move_addr_to_kernel() and
 * move_addr_to_user() do, with the same length checks; data and control
 * buffers are passed on as user memory (the port's copy hooks read them).
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

/* struct msghdr and struct iovec are passed to ksock as they are. */
static_assert(sizeof(struct msghdr) == sizeof(struct ks_msghdr), "msghdr");
static_assert(offsetof(struct msghdr, msg_name) ==
	      offsetof(struct ks_msghdr, msg_name), "msg_name");
static_assert(offsetof(struct msghdr, msg_namelen) ==
	      offsetof(struct ks_msghdr, msg_namelen), "msg_namelen");
static_assert(offsetof(struct msghdr, msg_iov) ==
	      offsetof(struct ks_msghdr, msg_iov), "msg_iov");
static_assert(offsetof(struct msghdr, msg_iovlen) ==
	      offsetof(struct ks_msghdr, msg_iovlen), "msg_iovlen");
static_assert(offsetof(struct msghdr, msg_control) ==
	      offsetof(struct ks_msghdr, msg_control), "msg_control");
static_assert(offsetof(struct msghdr, msg_controllen) ==
	      offsetof(struct ks_msghdr, msg_controllen), "msg_controllen");
static_assert(offsetof(struct msghdr, msg_flags) ==
	      offsetof(struct ks_msghdr, msg_flags), "msg_flags");
static_assert(sizeof(struct iovec) == sizeof(struct ks_iovec), "iovec");
static_assert(offsetof(struct iovec, iov_base) ==
	      offsetof(struct ks_iovec, iov_base), "iov_base");
static_assert(offsetof(struct iovec, iov_len) ==
	      offsetof(struct ks_iovec, iov_len), "iov_len");
static_assert(sizeof(struct sockaddr_storage) ==
	      sizeof(struct ks_sockaddr_storage), "sockaddr_storage");
static_assert(SOCK_CLOEXEC == KS_SOCK_CLOEXEC && O_NONBLOCK == KS_O_NONBLOCK,
	      "flags");

/* Linux's UIO_MAXIOV: longer iovec arrays are refused. */
#define KSP_UIO_MAXIOV	1024
/* st_dev reported for sockets, as Linux reports sockfs's device. */
#define KSP_SOCK_DEV	0x6b73

/* Sets errno from the negative @err and returns -1. */
static int
fail(long err)
{
	errno = (int)-err;
	return -1;
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

/* import_iovec()'s checks. Returns the total length or -errno. */
static ssize_t
iov_check(const struct iovec *iov, size_t n)
{
	size_t total = 0;

	if (n > KSP_UIO_MAXIOV)
		return -EINVAL;
	if (n > 0 && iov == NULL)
		return -EFAULT;
	for (size_t i = 0; i < n; i++) {
		if (iov[i].iov_len > SSIZE_MAX ||
		    total + iov[i].iov_len > SSIZE_MAX)
			return -EINVAL;
		total += iov[i].iov_len;
	}
	return (ssize_t)total;
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

	/* As Linux: flags, then both descriptors, then the sockets. */
	if ((type & ~KS_SOCK_TYPE_MASK) & ~(SOCK_CLOEXEC | SOCK_NONBLOCK))
		return fail(-EINVAL);
	fd[0] = ksp__fd_reserve(t);
	if (fd[0] < 0)
		return fail(fd[0]);
	fd[1] = ksp__fd_reserve(t);
	if (fd[1] < 0) {
		err = fd[1];
		goto unreserve0;
	}
	if (sv == NULL) {
		err = -EFAULT;
		goto unreserve1;
	}
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
	sv[0] = fd[0];
	sv[1] = fd[1];
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

int
ksp_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct ks_sockaddr_storage k;
	struct ksp_file *f;
	int err;

	err = get_sock(fd, &f);
	if (err < 0)
		return fail(err);
	err = ksp__addr_in(addr, len, &k);
	if (err == 0)
		err = ks_bind(f->so, &k, len);
	ksp__file_put(f);
	return err < 0 ? fail(err) : 0;
}

int
ksp_listen(int fd, int backlog)
{
	struct ksp_file *f;
	int err;

	err = get_sock(fd, &f);
	if (err < 0)
		return fail(err);
	err = ks_listen(f->so, backlog);
	ksp__file_put(f);
	return err < 0 ? fail(err) : 0;
}

int
ksp_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct ksp_fdtable *t = table();
	struct ks_sockaddr_storage k;
	uint32_t klen = sizeof(k);
	struct ks_sock *nso;
	struct ksp_file *f, *nf;
	int nfd, err;

	if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK))
		return fail(-EINVAL);
	err = get_sock(fd, &f);
	if (err < 0)
		return fail(err);
	/* Linux takes the descriptor number before it waits. */
	nfd = ksp__fd_reserve(t);
	if (nfd < 0) {
		err = nfd;
		goto put_file;
	}
	err = ks_accept(f->so, flags, &nso, addr != NULL ? &k : NULL,
			addr != NULL ? &klen : NULL);
	if (err < 0)
		goto unreserve;
	nf = ksp__file_new_sock(nso);
	if (nf == NULL) {
		ks_close(nso);
		err = -ENOMEM;
		goto unreserve;
	}
	if (addr != NULL) {
		err = ksp__addr_out(&k, klen, addr, len);
		if (err < 0) {
			ksp__file_put(nf);
			goto unreserve;
		}
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
	struct ks_sockaddr_storage k;
	struct ksp_file *f;
	int err;

	err = get_sock(fd, &f);
	if (err < 0)
		return fail(err);
	err = ksp__addr_in(addr, len, &k);
	if (err == 0)
		err = ks_connect(f->so, &k, len);
	ksp__file_put(f);
	return err < 0 ? fail(err) : 0;
}

int
ksp_shutdown(int fd, int how)
{
	struct ksp_file *f;
	int err;

	err = get_sock(fd, &f);
	if (err < 0)
		return fail(err);
	err = ks_shutdown(f->so, how);
	ksp__file_put(f);
	return err < 0 ? fail(err) : 0;
}

int
ksp_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct ksp_file *f;
	uint32_t klen;
	int err;

	err = get_sock(fd, &f);
	if (err < 0)
		return fail(err);
	if (len == NULL) {
		err = -EFAULT;
		goto put_file;
	}
	if ((int)*len < 0) {
		err = -EINVAL;
		goto put_file;
	}
	klen = *len;
	if (val == NULL && klen > 0) {
		err = -EFAULT;
		goto put_file;
	}
	err = ks_getsockopt(f->so, level, name, val, &klen);
	if (err >= 0)
		*len = klen;
put_file:
	ksp__file_put(f);
	return err < 0 ? fail(err) : 0;
}

int
ksp_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct ksp_file *f;
	int err;

	err = get_sock(fd, &f);
	if (err < 0)
		return fail(err);
	if ((int)len < 0)
		err = -EINVAL;
	else if (val == NULL && len > 0)
		err = -EFAULT;
	else
		err = ks_setsockopt(f->so, level, name, val, len);
	ksp__file_put(f);
	return err < 0 ? fail(err) : 0;
}

static int
get_name(int fd, struct sockaddr *addr, socklen_t *len, bool peer)
{
	struct ks_sockaddr_storage k;
	uint32_t klen = sizeof(k);
	struct ksp_file *f;
	int err;

	err = get_sock(fd, &f);
	if (err < 0)
		return fail(err);
	err = peer ? ks_getpeername(f->so, &k, &klen) :
		     ks_getsockname(f->so, &k, &klen);
	if (err >= 0)
		err = ksp__addr_out(&k, klen, addr, len);
	ksp__file_put(f);
	return err < 0 ? fail(err) : 0;
}

int
ksp_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	return get_name(fd, addr, len, false);
}

int
ksp_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	return get_name(fd, addr, len, true);
}

/* -- data -- */

/* sendmsg on a held socket file; @msg's name and iovec already checked. */
static ssize_t
sock_send(struct ksp_file *f, const struct ks_msghdr *msg, int flags)
{
	long n = ks_sendmsg(f->so, msg, flags);

	return n < 0 ? fail(n) : (ssize_t)n;
}

ssize_t
ksp_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct ks_sockaddr_storage name;
	struct ks_msghdr k;
	struct ksp_file *f;
	ssize_t n;
	int err;

	err = get_sock(fd, &f);
	if (err < 0)
		return fail(err);
	if (msg == NULL) {
		err = -EFAULT;
		goto put_file;
	}
	memcpy(&k, msg, sizeof(k));
	/* As Linux's __copy_msghdr(). */
	if (k.msg_name == NULL)
		k.msg_namelen = 0;
	if ((int)k.msg_namelen < 0) {
		err = -EINVAL;
		goto put_file;
	}
	if (k.msg_namelen > sizeof(name))
		k.msg_namelen = sizeof(name);
	if (k.msg_iovlen > KSP_UIO_MAXIOV) {
		err = -EMSGSIZE;
		goto put_file;
	}
	if (k.msg_namelen > 0) {
		memcpy(&name, k.msg_name, k.msg_namelen);
		k.msg_name = &name;
	} else {
		k.msg_name = NULL;
	}
	n = iov_check((const struct iovec *)k.msg_iov, k.msg_iovlen);
	if (n < 0) {
		err = (int)n;
		goto put_file;
	}
	k.msg_flags = 0;
	n = sock_send(f, &k, flags);
	ksp__file_put(f);
	return n;

put_file:
	ksp__file_put(f);
	return fail(err);
}

ssize_t
ksp_sendto(int fd, const void *buf, size_t len, int flags,
	   const struct sockaddr *addr, socklen_t alen)
{
	struct ks_sockaddr_storage name;
	struct ks_iovec iov = { (void *)buf, len };
	struct ks_msghdr k = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct ksp_file *f;
	ssize_t n;
	int err;

	err = get_sock(fd, &f);
	if (err < 0)
		return fail(err);
	if (len > INT_MAX)
		iov.iov_len = INT_MAX;
	if (addr != NULL) {
		err = ksp__addr_in(addr, alen, &name);
		if (err < 0) {
			ksp__file_put(f);
			return fail(err);
		}
		k.msg_name = &name;
		k.msg_namelen = alen;
	}
	n = sock_send(f, &k, flags);
	ksp__file_put(f);
	return n;
}

ssize_t
ksp_send(int fd, const void *buf, size_t len, int flags)
{
	return ksp_sendto(fd, buf, len, flags, NULL, 0);
}

/*
 * recvmsg on a held socket file. @k's name, when not NULL, is kernel
 * storage; the address then goes to @uname / *@unamelen.
 */
static ssize_t
sock_recv(struct ksp_file *f, struct ks_msghdr *k, int flags,
	  struct sockaddr *uname, socklen_t *unamelen)
{
	long n;
	int err;

	k->msg_flags = 0;
	n = ks_recvmsg(f->so, k, flags);
	if (n < 0)
		return fail(n);
	if (k->msg_name != NULL) {
		err = ksp__addr_out(k->msg_name, k->msg_namelen, uname, unamelen);
		if (err < 0)
			return fail(err);
	}
	return (ssize_t)n;
}

ssize_t
ksp_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct ks_sockaddr_storage name;
	struct ks_msghdr k;
	struct ksp_file *f;
	ssize_t n;
	int err;

	err = get_sock(fd, &f);
	if (err < 0)
		return fail(err);
	if (msg == NULL) {
		err = -EFAULT;
		goto put_file;
	}
	memcpy(&k, msg, sizeof(k));
	if (k.msg_name == NULL)
		k.msg_namelen = 0;
	if ((int)k.msg_namelen < 0) {
		err = -EINVAL;
		goto put_file;
	}
	if (k.msg_iovlen > KSP_UIO_MAXIOV) {
		err = -EMSGSIZE;
		goto put_file;
	}
	n = iov_check((const struct iovec *)k.msg_iov, k.msg_iovlen);
	if (n < 0) {
		err = (int)n;
		goto put_file;
	}
	if (k.msg_name != NULL) {
		k.msg_name = &name;
		k.msg_namelen = sizeof(name);
	}
	n = sock_recv(f, &k, flags, msg->msg_name, &msg->msg_namelen);
	if (n >= 0) {
		msg->msg_flags = k.msg_flags;
		msg->msg_controllen = k.msg_controllen;
	}
	ksp__file_put(f);
	return n;

put_file:
	ksp__file_put(f);
	return fail(err);
}

ssize_t
ksp_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
	     socklen_t *alen)
{
	struct ks_sockaddr_storage name;
	struct ks_iovec iov = { buf, len };
	struct ks_msghdr k = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct ksp_file *f;
	ssize_t n;
	int err;

	err = get_sock(fd, &f);
	if (err < 0)
		return fail(err);
	if (len > INT_MAX)
		iov.iov_len = INT_MAX;
	if (addr != NULL) {
		k.msg_name = &name;
		k.msg_namelen = sizeof(name);
	}
	n = sock_recv(f, &k, flags, addr, alen);
	ksp__file_put(f);
	return n;
}

ssize_t
ksp_recv(int fd, void *buf, size_t len, int flags)
{
	return ksp_recvfrom(fd, buf, len, flags, NULL, NULL);
}

/* readv on any file: a socket reads through ks_recvmsg. */
static ssize_t
do_readv(int fd, const struct iovec *iov, int iovcnt)
{
	struct ks_msghdr k = { 0 };
	struct ksp_file *f;
	ssize_t n;
	int err;

	err = get_file(fd, &f);
	if (err < 0)
		return fail(err);
	if (f->so == NULL) {
		n = readv(f->hostfd, iov, iovcnt);
		goto put_file;
	}
	n = iovcnt < 0 ? -EINVAL : iov_check(iov, (size_t)iovcnt);
	if (n < 0) {
		n = fail(n);
		goto put_file;
	}
	/* Linux's sock_read_iter(): reading nothing returns 0 at once. */
	if (n == 0)
		goto put_file;
	k.msg_iov = (struct ks_iovec *)(void *)iov;
	k.msg_iovlen = (size_t)iovcnt;
	n = sock_recv(f, &k, 0, NULL, NULL);
put_file:
	ksp__file_put(f);
	return n;
}

/* writev on any file: a socket writes through ks_sendmsg. */
static ssize_t
do_writev(int fd, const struct iovec *iov, int iovcnt)
{
	struct ks_msghdr k = { 0 };
	struct ksp_file *f;
	ssize_t n;
	int err;

	err = get_file(fd, &f);
	if (err < 0)
		return fail(err);
	if (f->so == NULL) {
		n = writev(f->hostfd, iov, iovcnt);
		goto put_file;
	}
	n = iovcnt < 0 ? -EINVAL : iov_check(iov, (size_t)iovcnt);
	if (n < 0) {
		n = fail(n);
		goto put_file;
	}
	k.msg_iov = (struct ks_iovec *)(void *)iov;
	k.msg_iovlen = (size_t)iovcnt;
	/* Linux's sock_write_iter() marks a seqpacket write as a record. */
	n = sock_send(f, &k, ks_sock_type(f->so) == KS_SOCK_SEQPACKET ?
			     KS_MSG_EOR : 0);
put_file:
	ksp__file_put(f);
	return n;
}

ssize_t
ksp_read(int fd, void *buf, size_t len)
{
	struct iovec iov = { buf, len > INT_MAX ? INT_MAX : len };

	return do_readv(fd, &iov, 1);
}

ssize_t
ksp_write(int fd, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len > INT_MAX ? INT_MAX : len };

	return do_writev(fd, &iov, 1);
}

ssize_t
ksp_readv(int fd, const struct iovec *iov, int iovcnt)
{
	return do_readv(fd, iov, iovcnt);
}

ssize_t
ksp_writev(int fd, const struct iovec *iov, int iovcnt)
{
	return do_writev(fd, iov, iovcnt);
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
		fds[i] = fd[i];
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
	} else if (st == NULL) {
		err = -EFAULT;
	} else {
		memset(st, 0, sizeof(*st));
		st->st_dev = KSP_SOCK_DEV;
		st->st_ino = (ino_t)ks_sock_id(f->so);
		st->st_mode = S_IFSOCK | 0777;
		st->st_nlink = 1;
		st->st_uid = ksp_geteuid();
		st->st_gid = ksp_getegid();
		st->st_blksize = 4096;
	}
	ksp__file_put(f);
	return err < 0 ? fail(err) : 0;
}

/* F_SETOWN on a socket: a pid or -pgrp that exists (ESRCH otherwise). */
static int
sock_setown(struct ks_sock *so, long arg)
{
	int who = (int)arg;

	if (who == INT_MIN)
		return -EINVAL;
	if (who != 0 && !ksp__pid_exists(who < 0 ? -who : who))
		return -ESRCH;
	ks_set_owner(so, who);
	return 0;
}

/* F_SETOWN_EX / F_GETOWN_EX on a socket; a thread owner is kept as its
 * process, which is where ksock sends SIGURG. */
static int
sock_owner_ex(struct ks_sock *so, int cmd, struct f_owner_ex *ox)
{
	int32_t owner;

	if (ox == NULL)
		return -EFAULT;
	if (cmd == F_GETOWN_EX) {
		owner = ks_get_owner(so);
		ox->type = owner < 0 ? F_OWNER_PGRP : F_OWNER_PID;
		ox->pid = owner < 0 ? -owner : owner;
		return 0;
	}
	if (ox->type == F_OWNER_PGRP)
		return sock_setown(so, -(long)ox->pid);
	if (ox->type == F_OWNER_PID || ox->type == F_OWNER_TID)
		return sock_setown(so, ox->pid);
	return -EINVAL;
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
		if (arg < 0 || arg >= ksp__fd_limit()) {
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
			r = sock_setown(f->so, arg);
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
			r = sock_owner_ex(f->so, cmd, (struct f_owner_ex *)arg);
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
	case FIOSETOWN:
	case SIOCSPGRP:
		if (ksp__copy_from_user(&v, arg, sizeof(v)) < 0)
			return -EFAULT;
		return sock_setown(f->so, v);
	case FIOGETOWN:
	case SIOCGPGRP:
		v = ks_get_owner(f->so);
		return ksp__copy_to_user(arg, &v, sizeof(v)) < 0 ? -EFAULT : 0;
	default:
		return -ENOTTY;
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
 * registers every socket's entry, then a wait. The wait spins for a
 * moment before parking, as ksock's own waiters do (src/core/wait.c): a
 * wake-up that finds the poller spinning costs no system call, and a
 * ping-pong over poll is all such wake-ups. The state word goes SPINNING
 * -> SLEEPING when the poller parks, and a waker moves it to WOKEN,
 * unparking only a sleeper. After a wake-up a pass without registering
 * looks again; only if it finds nothing (a wake-up for events nobody
 * asked for) does the next pass register again. With host descriptors
 * the poller sleeps in the real poll() on them and an eventfd instead.
 *
 * Up to POLL_STACK_FDS descriptors are tracked on the stack; more are
 * allocated.
 */
#define POLL_STACK_FDS	16
/* The spin: about the cost of a park and unpark pair (see wait.c). */
#define POLL_SPIN_NS	20000
#define POLL_SPIN_CHECK	64

enum { POLL_SPINNING, POLL_SLEEPING, POLL_WOKEN };

struct poll_waiter {
	struct ksp_thread *thr;
	int		   efd;		/* eventfd when host files are polled */
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

	if (atomic_exchange(&w->state, POLL_WOKEN) == POLL_WOKEN)
		return;		/* told already */
	if (w->efd >= 0) {
		uint64_t one = 1;
		ssize_t n = write(w->efd, &one, sizeof(one));

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

static inline void
poll_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * Waits for a wake-up of @w (sockets only): spins, then parks. Returns 0
 * (woken, or the deadline passed: *@timed_out says which), or -EINTR.
 */
static int
poll_sleep(struct poll_waiter *w, int64_t deadline, bool *timed_out)
{
	int64_t spin_end = ksp__now() + POLL_SPIN_NS;
	int expected = POLL_SPINNING;
	int err;

	if (deadline >= 0 && deadline < spin_end)
		spin_end = deadline;
	for (unsigned i = 1;; i++) {
		if (atomic_load_explicit(&w->state, memory_order_acquire) ==
		    POLL_WOKEN)
			return 0;
		poll_cpu_relax();
		if (i % POLL_SPIN_CHECK == 0 && ksp__now() >= spin_end)
			break;
	}
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
	} while (atomic_load(&w->state) != POLL_WOKEN);
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

	hp[nhost].fd = w->efd;
	hp[nhost].events = POLLIN;
	if (poll(hp, nhost + 1, poll_ms_left(deadline)) < 0)
		return -errno;
	n = read(w->efd, &cnt, sizeof(cnt));
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

int
ksp_poll(struct pollfd *fds, nfds_t nfds, int timeout)
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

	if (nfds > (nfds_t)ksp__fd_limit())
		return fail(-EINVAL);
	if (nfds > 0 && fds == NULL)
		return fail(-EFAULT);
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
		if (nhost > 0 && w.efd < 0) {
			w.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (w.efd < 0) {
				err = -errno;
				goto out;
			}
			atomic_store(&w.thr->poll_efd, w.efd);
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
	if (w.efd >= 0) {
		atomic_store(&w.thr->poll_efd, -1);
		close(w.efd);
	}
	if (slot != stack_slot) {
		free(slot);
		free(hp);
	}
	return err < 0 ? fail(err) : ready;
}

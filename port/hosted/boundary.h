/*
 * The system-call boundary, once for every front end: the hosted POSIX
 * personality (posix.c), the preload shim (port/preload/shim.c), and the
 * kernel glue and ksockd to come. Linux keeps this work once, in
 * net/socket.c and lib/iov_iter.c, for every family; so do we.
 *
 * Each ksp__sys_*() function is one socket system call on a socket the
 * front end has already found behind its descriptor (a struct ks_sock
 * it holds a reference to for the length of the call). It does what
 * Linux does between the system-call entry and the protocol: length and
 * flag checks, in Linux's order; the msghdr copied in and its results
 * copied out (msg_name, msg_namelen, msg_flags, msg_controllen); iovec
 * arrays imported and checked as import_iovec() does; socket addresses
 * moved as move_addr_to_kernel() and move_addr_to_user() do; option
 * values and lengths. Every user pointer is touched only through the
 * copy hooks (usercopy.c), which fail with -EFAULT and never fault.
 *
 * What stays in a front end is what is really its own: finding the
 * socket behind a descriptor, reserving and installing descriptors, and
 * turning the negative errno these functions return into -1/errno, with
 * ksp__fail() (musl's rule: one conversion, at the boundary).
 *
 * Nothing here knows a descriptor table. No locks are held or taken
 * other than ksock's own; calls may block in ksock.
 */
#ifndef KSOCK_PORT_BOUNDARY_H
#define KSOCK_PORT_BOUNDARY_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include <ksock/ksock.h>

#pragma GCC visibility push(hidden)

/* Linux's UIO_MAXIOV: longer iovec arrays are refused. */
#define KSP_UIO_MAXIOV	1024
/* Linux's UIO_FASTIOV: up to this many segments need no allocation. */
#define KSP_UIO_FASTIOV	8
/* Linux's MAX_RW_COUNT (INT_MAX rounded down to a page): no read or
 * write moves more at once. */
#define KSP_RW_MAX	0x7ffff000UL

/* Sets errno from the negative @err and returns -1. */
static inline long
ksp__fail(long err)
{
	errno = (int)-err;
	return -1;
}

/* -- user memory (usercopy.c) -- */

/* port.h's copy hooks: 0, or -EFAULT for memory that cannot be read or
 * written (never a fault). Async-signal-safe. */
int	ksp__copy_from_user(void *dst, const void *usrc, size_t len);
int	ksp__copy_to_user(void *udst, const void *src, size_t len);
/* Linux's access_ok(): whether @len bytes at @p end inside the user
 * address space. Says nothing about whether they are mapped. */
bool	ksp__user_range_ok(const void *p, size_t len);

/*
 * For a front end that sees the program's own sigaction calls (the
 * preload shim): once the copy hooks' SIGSEGV/SIGBUS handlers are in
 * place, a program's action for those signals becomes the one faults
 * outside copies go to, and *@old reports the program's previous one,
 * so the program sees what it would have seen. Returns 1 (done), 0 (not
 * such a call: pass it on), or -EFAULT.
 */
int	ksp__fault_sigaction(int sig, const struct sigaction *act,
			     struct sigaction *old);

/* -- pieces (boundary.c) -- */

/* An iovec array imported from user memory: the segments in kernel
 * memory (fast[] or an allocation), checked and capped. */
struct ksp_iov {
	struct ks_iovec	*iov;
	size_t		 n;
	size_t		 total;		/* capped at KSP_RW_MAX */
	struct ks_iovec	 fast[KSP_UIO_FASTIOV];
};

/*
 * import_iovec(): copies the @n segments at @uiov into @v. Returns 0, or
 * -EINVAL (more than KSP_UIO_MAXIOV segments, a length above SSIZE_MAX),
 * -EFAULT (the array unreadable, a segment ending outside the user
 * address space), -ENOMEM. A single segment is capped before its range
 * is checked, several after, as Linux does. ksp__iov_release() frees.
 */
int	ksp__iov_import(struct ksp_iov *v, const struct iovec *uiov, size_t n);
void	ksp__iov_release(struct ksp_iov *v);

/* move_addr_to_kernel(): a socket address of @len bytes into @k. 0,
 * -EINVAL (length), -EFAULT. */
int	ksp__addr_in(const struct sockaddr *uaddr, socklen_t len,
		     struct ks_sockaddr_storage *k);
/* move_addr_to_user(): at most *@ulen bytes of the @klen-byte address @k
 * to @uaddr, then @klen to *@ulen. 0, -EINVAL (*@ulen < 0), -EFAULT. */
int	ksp__addr_out(const void *k, uint32_t klen, struct sockaddr *uaddr,
		      socklen_t *ulen);

/* -- socket calls on a found socket; each returns >= 0 or -errno -- */

/* socketpair(2)'s flag check, made before descriptors are taken. */
int	ksp__sys_socketpair_flags(int type);
/* socketpair(2)'s result: the two numbers into @usv. 0 or -EFAULT. */
int	ksp__sys_socketpair_out(int *usv, int fd0, int fd1);
int	ksp__sys_bind(struct ks_sock *so, const struct sockaddr *uaddr,
		      socklen_t len);
int	ksp__sys_connect(struct ks_sock *so, const struct sockaddr *uaddr,
			 socklen_t len);
/* accept4(2)'s flag check, made before anything else. */
int	ksp__sys_accept_flags(int flags);
/* accept4(2) without descriptors: *@out gets the new socket (the
 * caller's reference). A failed address copy-out closes it, as Linux
 * drops the connection. */
int	ksp__sys_accept(struct ks_sock *so, int flags, struct ks_sock **out,
			struct sockaddr *uaddr, socklen_t *ulen);
int	ksp__sys_getname(struct ks_sock *so, struct sockaddr *uaddr,
			 socklen_t *ulen, bool peer);
int	ksp__sys_getsockopt(struct ks_sock *so, int level, int name,
			    void *uval, socklen_t *ulen);
int	ksp__sys_setsockopt(struct ks_sock *so, int level, int name,
			    const void *uval, socklen_t len);
long	ksp__sys_sendmsg(struct ks_sock *so, const struct msghdr *umsg,
			 int flags);
long	ksp__sys_recvmsg(struct ks_sock *so, struct msghdr *umsg, int flags);
long	ksp__sys_sendto(struct ks_sock *so, const void *ubuf, size_t len,
			int flags, const struct sockaddr *uaddr, socklen_t alen);
long	ksp__sys_recvfrom(struct ks_sock *so, void *ubuf, size_t len,
			  int flags, struct sockaddr *uaddr, socklen_t *ualen);
int	ksp__sys_sendmmsg(struct ks_sock *so, struct mmsghdr *uvec,
			  unsigned int vlen, int flags);
int	ksp__sys_recvmmsg(struct ks_sock *so, struct mmsghdr *uvec,
			  unsigned int vlen, int flags,
			  struct timespec *utimeout);
/* st_dev reported for sockets, as Linux reports sockfs's device. */
#define KSP_SOCK_DEV	0x6b73
/* What fstat(2) reports for a socket owned by @uid/@gid, into @k. */
void	ksp__sock_stat(struct ks_sock *so, uid_t uid, gid_t gid,
		       struct stat *k);
/* fstat(2) on a socket: the same, copied out to @ust. 0 or -EFAULT. */
int	ksp__sys_fstat(struct ks_sock *so, uid_t uid, gid_t gid,
		       struct stat *ust);
/* read(2), write(2), readv(2), writev(2) on a socket. */
long	ksp__sys_read(struct ks_sock *so, void *ubuf, size_t len);
long	ksp__sys_write(struct ks_sock *so, const void *ubuf, size_t len);
long	ksp__sys_readv(struct ks_sock *so, const struct iovec *uiov,
		       int iovcnt);
long	ksp__sys_writev(struct ks_sock *so, const struct iovec *uiov,
			int iovcnt);

/*
 * The same calls by number, for a front end that forwards calls as a
 * number and arguments (socketcall(2)'s idea; ksockd's requests): the
 * arguments after the descriptor, in @a, as syscall(2) passes them.
 * Returns what the typed function returns.
 */
enum ksp_sys {
	KSP_SYS_BIND, KSP_SYS_CONNECT, KSP_SYS_LISTEN, KSP_SYS_SHUTDOWN,
	KSP_SYS_GETSOCKNAME, KSP_SYS_GETPEERNAME, KSP_SYS_GETSOCKOPT,
	KSP_SYS_SETSOCKOPT, KSP_SYS_SENDMSG, KSP_SYS_RECVMSG, KSP_SYS_SENDTO,
	KSP_SYS_RECVFROM, KSP_SYS_SENDMMSG, KSP_SYS_RECVMMSG, KSP_SYS_READ,
	KSP_SYS_WRITE, KSP_SYS_READV, KSP_SYS_WRITEV,
};
long	ksp__sys_call(struct ks_sock *so, enum ksp_sys call, const long a[5]);

#pragma GCC visibility pop

#endif /* KSOCK_PORT_BOUNDARY_H */

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
 * values and lengths. Pointer arguments are user pointers with Linux's
 * LP64 layouts (abi.h's struct ks_msghdr, struct ks_iovec, and the two
 * below); they are touched only through the port's copy hooks
 * (ks_port()->copy_from_user / copy_to_user), so a bad one is -EFAULT
 * wherever the port's hooks say so. Results are >= 0 or -KS_E*.
 *
 * What stays in a front end is what is really its own: finding the
 * socket behind a descriptor, reserving and installing descriptors, and
 * turning a negative result into its own error convention (-1/errno in
 * the Linux front ends: one conversion, at the boundary, as musl does).
 *
 * Like src/core, this layer is freestanding (ksock's headers and the
 * compiler's only), so a kernel's glue compiles it as it is. Besides
 * struct ks_port it needs one function from its host:
 * ksp__user_range_ok(), Linux's access_ok().
 *
 * Nothing here knows a descriptor table. No locks of its own; calls may
 * block in ksock.
 */
#ifndef KSOCK_PORT_BOUNDARY_H
#define KSOCK_PORT_BOUNDARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ksock/ksock.h>

#pragma GCC visibility push(hidden)

/* Linux's UIO_MAXIOV: longer iovec arrays are refused. */
#define KSP_UIO_MAXIOV	1024
/* Linux's UIO_FASTIOV: up to this many segments need no allocation. */
#define KSP_UIO_FASTIOV	8
/* Linux's MAX_RW_COUNT (INT_MAX rounded down to a page): no read or
 * write moves more at once. */
#define KSP_RW_MAX	0x7ffff000UL
/* Linux's MSG_WAITFORONE (recvmmsg only; abi.h has no use for it). */
#define KSP_MSG_WAITFORONE 0x10000

/* Layout of struct mmsghdr (LP64). */
struct ksp_mmsghdr {
	struct ks_msghdr msg_hdr;
	unsigned int	 msg_len;
};

/* Layout of struct timespec (LP64). */
struct ksp_timespec {
	int64_t		 tv_sec;
	long		 tv_nsec;
};

/* Provided by the host: whether @len bytes at user address @p end inside
 * the user address space (Linux's access_ok()). Says nothing about
 * whether they are mapped. */
bool	ksp__user_range_ok(const void *p, size_t len);

/* -- pieces -- */

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
 * -KS_EINVAL (more than KSP_UIO_MAXIOV segments, a length above
 * LONG_MAX), -KS_EFAULT (the array unreadable, a segment ending outside
 * the user address space), -KS_ENOMEM. A single segment is capped before
 * its range is checked, several after, as Linux does.
 * ksp__iov_release() frees.
 */
int	ksp__iov_import(struct ksp_iov *v, const struct ks_iovec *uiov,
			size_t n);
void	ksp__iov_release(struct ksp_iov *v);

/*
 * The checks read(2) and write(2) make before the socket (vfs_read(),
 * vfs_write()), for a front end that then forwards the call: 0 to go
 * on, -KS_EFAULT for a range past the user address space (the uncapped
 * length), 1 for a read of nothing, which returns 0 at once (a write of
 * nothing still sends an empty datagram or record).
 */
int	ksp__rw_begin(const void *ubuf, size_t len, bool write);
/*
 * The same for readv(2) and writev(2) (vfs_readv(), vfs_writev()): the
 * count checked (-KS_EINVAL below 0), then @uiov imported into @v as by
 * ksp__iov_import(); 1 when the segments hold nothing, which moves
 * nothing, not even an empty datagram, and returns 0. On 0 or 1 the
 * caller releases @v.
 */
int	ksp__rwv_begin(struct ksp_iov *v, const struct ks_iovec *uiov,
		       int iovcnt);

/* move_addr_to_kernel(): a socket address of @len bytes into @k. 0,
 * -KS_EINVAL (length), -KS_EFAULT. */
int	ksp__addr_in(const void *uaddr, uint32_t len,
		     struct ks_sockaddr_storage *k);
/* move_addr_to_user(): at most *@ulen bytes of the @klen-byte address @k
 * to @uaddr, then @klen to *@ulen. 0, -KS_EINVAL (*@ulen < 0),
 * -KS_EFAULT. */
int	ksp__addr_out(const void *k, uint32_t klen, void *uaddr,
		      uint32_t *ulen);

/* -- socket calls on a found socket -- */

/* socketpair(2)'s flag check, made before descriptors are taken. */
int	ksp__sys_socketpair_flags(int type);
/* socketpair(2)'s result: the two numbers into @usv. 0 or -KS_EFAULT. */
int	ksp__sys_socketpair_out(int *usv, int fd0, int fd1);
int	ksp__sys_bind(struct ks_sock *so, const void *uaddr, uint32_t len);
int	ksp__sys_connect(struct ks_sock *so, const void *uaddr, uint32_t len);
/* accept4(2)'s flag check, made before anything else. */
int	ksp__sys_accept_flags(int flags);
/* accept4(2) without descriptors: *@out gets the new socket (the
 * caller's reference). A failed address copy-out closes it, as Linux
 * drops the connection. */
int	ksp__sys_accept(struct ks_sock *so, int flags, struct ks_sock **out,
			void *uaddr, uint32_t *ulen);
int	ksp__sys_getname(struct ks_sock *so, void *uaddr, uint32_t *ulen,
			 bool peer);
int	ksp__sys_getsockopt(struct ks_sock *so, int level, int name,
			    void *uval, uint32_t *ulen);
int	ksp__sys_setsockopt(struct ks_sock *so, int level, int name,
			    const void *uval, uint32_t len);
long	ksp__sys_sendmsg(struct ks_sock *so, const struct ks_msghdr *umsg,
			 int flags);
long	ksp__sys_recvmsg(struct ks_sock *so, struct ks_msghdr *umsg,
			 int flags);
long	ksp__sys_sendto(struct ks_sock *so, const void *ubuf, size_t len,
			int flags, const void *uaddr, uint32_t alen);
long	ksp__sys_recvfrom(struct ks_sock *so, void *ubuf, size_t len,
			  int flags, void *uaddr, uint32_t *ualen);
int	ksp__sys_sendmmsg(struct ks_sock *so, struct ksp_mmsghdr *uvec,
			  unsigned int vlen, int flags);
int	ksp__sys_recvmmsg(struct ks_sock *so, struct ksp_mmsghdr *uvec,
			  unsigned int vlen, int flags,
			  struct ksp_timespec *utimeout);
/* read(2), write(2), readv(2), writev(2) on a socket. */
long	ksp__sys_read(struct ks_sock *so, void *ubuf, size_t len);
long	ksp__sys_write(struct ks_sock *so, const void *ubuf, size_t len);
long	ksp__sys_readv(struct ks_sock *so, const struct ks_iovec *uiov,
		       int iovcnt);
long	ksp__sys_writev(struct ks_sock *so, const struct ks_iovec *uiov,
			int iovcnt);

/* The socket's owner (SIGIO, SIGURG), for both front ends: fcntl(2)'s
 * F_SETOWN, with @arg read as an int (0, -KS_EINVAL for INT_MIN,
 * -KS_ESRCH for no such process); F_SETOWN_EX (@set) and F_GETOWN_EX
 * through the struct f_owner_ex at @uox (0, -KS_EFAULT, -KS_EINVAL for
 * an unknown type, -KS_ESRCH); and the ioctls FIOSETOWN, SIOCSPGRP,
 * FIOGETOWN and SIOCGPGRP through the int at @uarg (-KS_ENOTTY for any
 * other @req, which the caller then hands to ks_ioctl()). */
int	ksp__sys_setown(struct ks_sock *so, long arg);
int	ksp__sys_owner_ex(struct ks_sock *so, bool set, void *uox);
int	ksp__sys_owner_ioctl(struct ks_sock *so, unsigned long req,
			     void *uarg);

/*
 * The same calls by number, for a front end that forwards calls as a
 * number and arguments (socketcall(2)'s idea; ksockd's requests): the
 * arguments after the descriptor, in @a, as syscall(2) passes them.
 * Returns what the typed function returns, or -KS_ENOSYS.
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

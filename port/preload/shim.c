/*
 * Preload port: the libc entry points a program reaches its sockets by.
 *
 * Each function here has the name and signature of a libc function and
 * is found before libc's by the dynamic linker (LD_PRELOAD). A call on a
 * ksock descriptor is served by ksock through the boundary layer that
 * every front end shares (port/hosted/boundary.h: argument checks, user
 * memory, msghdr and address moves), and its negative errno becomes
 * -1/errno here; a call on any other descriptor goes to the kernel as a
 * raw system call, unchanged. socket() and
 * socketpair() create ksock sockets for AF_UNIX, socket() also for the
 * AF_INET/AF_INET6 TCP and UDP sockets that KSOCK_RUN_INET hands to
 * ksock (inet.c), and both create kernel sockets for everything else.
 *
 * Descriptor numbers: see fdmap.c. Operations that make or remove
 * numbers (dup, dup2, dup3, F_DUPFD, close, close_range) let the kernel
 * do them on the placeholder and then update the map, so both kinds of
 * descriptor share one number space without collisions.
 *
 * fork: the child gets the parent's numbers, but the ksock sockets behind
 * them are the parent's and are not shared across processes yet: in the
 * child they become stale (every call on them fails with EBADF; close
 * works), and the child's copy of ksock closes them, so the child can
 * create and use sockets of its own. vfork children (posix_spawn,
 * Python's subprocess) share the parent's memory: there the map is left
 * alone and calls go to the kernel.
 *
 * Signals: a blocking ksock call parks on a futex, so the kernel decides
 * restarts as it does for socket calls (thread.c): SA_RESTART restarts a
 * call without a timeout, and a call with SO_RCVTIMEO / SO_SNDTIMEO
 * returns EINTR.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "preload.h"
#include "../hosted/hosted.h"
#include "../ksockd/ksd.h"


/* Every libc entry point below is exported; the rest is internal. */
#define KP_EXPORT	__attribute__((visibility("default")))

/* libc's internal and fortified names, which its headers do not declare. */
extern void __chk_fail(void) __attribute__((noreturn));
ssize_t	__read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t	__recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t	__recvfrom_chk(int fd, void *buf, size_t len, size_t buflen,
		       int flags, struct sockaddr *addr, socklen_t *alen);
ssize_t	__pread_chk(int fd, void *buf, size_t len, off_t off, size_t buflen);
ssize_t	__pread64_chk(int fd, void *buf, size_t len, off_t off,
		      size_t buflen);
int	__fxstat(int ver, int fd, struct stat *st);
int	__sigaction(int sig, const struct sigaction *act, struct sigaction *old);
sighandler_t bsd_signal(int sig, sighandler_t handler);
int	__fxstat64(int ver, int fd, struct stat64 *st);

struct kp_stats kp_stats;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static atomic_bool ready;
static pid_t owner_pid;
static bool fallback = true;

/* Sets errno from the negative @err and returns -1 (boundary.h). */
static long
fail(long err)
{
	return ksp__fail(err);
}

/* -- start, fork and exit -- */

/* A child with a copy of our memory starts a ksock of its own; with
 * @diag, its diag server too (not in a clone() child, which ends with
 * its one thread's exit and would leave the server's thread behind). */
static void
child_start(bool diag)
{
	owner_pid = (pid_t)syscall(SYS_getpid);
	/* Nothing inherited may be locked: other threads of the parent may
	 * have held those locks at the fork, and they do not exist here. */
	ksp__thread_fork_child();
	if (ks_fork_child() < 0)
		abort();
	kp__fd_stale_all();
	kp__inet_fork_child();
	if (diag)
		kp__diag_start();
}

static void
atfork_child(void)
{
	child_start(true);
}

static void
print_stats(void)
{
	const char *where = getenv("KSOCK_RUN_STATS");
	FILE *fp = stderr;

	if (where == NULL || where[0] == '\0')
		return;
	if (strcmp(where, "1") != 0) {
		fp = fopen(where, "ae");
		if (fp == NULL)
			return;
	}
	fprintf(fp, "ksock-run: pid %d: %ld sockets, %ld pairs, %ld accepted, "
		"%ld sends (%ld bytes), %ld receives, %ld waits, "
		"%ld descriptors received, %d descriptors open\n",
		(int)getpid(), atomic_load(&kp_stats.sockets),
		atomic_load(&kp_stats.pairs), atomic_load(&kp_stats.accepted),
		atomic_load(&kp_stats.sends),
		atomic_load(&kp_stats.bytes_sent), atomic_load(&kp_stats.recvs),
		atomic_load(&kp_stats.polls), atomic_load(&kp_stats.passed),
		kp__fd_count());
	if (kp__inet_on())
		fprintf(fp, "ksock-run: pid %d: %ld AF_INET/AF_INET6 sockets "
			"(of the sockets and accepted above)\n", (int)getpid(),
			atomic_load(&kp_stats.inet));
	if (fp != stderr)
		fclose(fp);
}

static void
init_once_fn(void)
{
	const char *fb = getenv("KSOCK_RUN_FALLBACK");

	if (kp__inet_init() < 0)
		_exit(125);	/* ksock-run's own failure status */
	if (ks_init(kp__port()) < 0) {
		fprintf(stderr, "ksock-run: ks_init failed\n");
		abort();
	}
	owner_pid = (pid_t)syscall(SYS_getpid);
	fallback = fb == NULL || strcmp(fb, "0") != 0;
	pthread_atfork(NULL, NULL, atfork_child);
	atexit(print_stats);
	kp__remote_init();
	atomic_store(&ready, true);
	kp__diag_start();
}

/* Starts ksock on first use. */
void
kp__ensure_init(void)
{
	pthread_once(&init_once, init_once_fn);
}

bool
kp__ready(void)
{
	return atomic_load_explicit(&ready, memory_order_relaxed);
}

__attribute__((constructor)) static void
kp_constructor(void)
{
	kp__ensure_init();
}

/* Whether this is a vfork child, which shares the parent's memory. */
static bool
in_vfork_child(void)
{
	return (pid_t)syscall(SYS_getpid) != owner_pid;
}

/* -- signals -- */

/*
 * sigaction and signal for SIGSEGV and SIGBUS: once ksock's copy hooks
 * catch their own faults (port/hosted/usercopy.c), the program's handler
 * is chained behind theirs instead of replacing them, so a bad pointer
 * handed to a socket call stays EFAULT. Everything else is libc's.
 */
KP_EXPORT int
sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	int r = ksp__fault_sigaction(sig, act, old);

	if (r < 0)
		return (int)fail(r);
	if (r > 0)
		return 0;
	return __sigaction(sig, act, old);
}

/* signal() as glibc's: BSD semantics (SA_RESTART, the signal blocked in
 * its handler). */
KP_EXPORT sighandler_t
signal(int sig, sighandler_t handler)
{
	struct sigaction sa, old;

	if (sig != SIGSEGV && sig != SIGBUS)
		return bsd_signal(sig, handler);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, sig);
	if (sigaction(sig, &sa, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

/* See preload.h. */
bool
kp__in_vfork_child(void)
{
	return in_vfork_child();
}

/* See preload.h: a child that has a copy of our memory (fork, or clone
 * without CLONE_VM) starts afresh, as after fork(). */
void
kp__fork_child(void)
{
	child_start(false);
	kp__remote_clone_child();
}

/* -- lookups -- */

static long count(enum ksp_sys call, long n);

/*
 * The socket file behind @fd, held; NULL with *@err 0 for a kernel
 * descriptor (pass the call on), or NULL with -EBADF for a stale one.
 */
static struct kp_file *
sock_get(int fd, int *err)
{
	struct kp_file *f = kp__fd_get(fd);

	*err = 0;
	if (f == NULL)
		return NULL;
	if (f->kind == KP_SOCK) {
		/* O_ASYNC: what this call does to its own socket is no
		 * readiness change to signal (kp__file_put() ends it). */
		kp__async_self(f->so);
		return f;
	}
	if (f == &kp_stale)
		*err = -EBADF;
	kp__file_put(f);
	return NULL;
}

/*
 * The remote socket at @fd (ksock-run --ksockd: remote.c), held, or NULL
 * for any other descriptor. One test of a constant flag otherwise.
 */
static struct kp_file *
remote_get(int fd)
{
	struct kp_file *f;

	if (!kp__remote_on() || !kp__fd_is_mapped(fd))
		return NULL;
	f = kp__fd_get(fd);
	if (f != NULL && f->kind == KP_REMOTE)
		return f;
	kp__file_put(f);
	return NULL;
}

/* Ends a call on the remote @f with its result @n (or -errno). */
static long
remote_done(struct kp_file *f, enum ksp_sys call, long n)
{
	kp__file_put(f);
	n = count(call, n);
	return n < 0 ? fail(n) : n;
}

/*
 * Maps the placeholder @fd to @so; drops the creation reference. Returns
 * @fd, or -ENOMEM with the socket and the placeholder closed.
 */
static int
install_sock_at(struct ks_sock *so, int fd)
{
	struct kp_file *f = kp__file_new(KP_SOCK);

	if (f == NULL) {
		ks_close(so);
		sys_close(fd);
		return -ENOMEM;
	}
	f->so = so;
	kp__fd_set(fd, f);
	kp__file_put(f);
	return fd;
}

/*
 * Gives @so a placeholder number and maps it; drops the creation
 * reference. Returns the descriptor or -errno.
 */
int
kp__install_sock(struct ks_sock *so, bool cloexec)
{
	int fd = kp__placeholder(cloexec);

	if (fd < 0) {
		ks_close(so);
		return fd;
	}
	return install_sock_at(so, fd);
}

/* ksock-run's counters (KSOCK_RUN_STATS) for a call's result @n. */
static long
count(enum ksp_sys call, long n)
{
	if (n < 0)
		return n;
	switch (call) {
	case KSP_SYS_SENDMSG:
	case KSP_SYS_SENDTO:
	case KSP_SYS_SENDMMSG:
	case KSP_SYS_WRITE:
	case KSP_SYS_WRITEV:
		atomic_fetch_add_explicit(&kp_stats.sends, 1,
					  memory_order_relaxed);
		if (call != KSP_SYS_SENDMMSG)
			atomic_fetch_add_explicit(&kp_stats.bytes_sent, n,
						  memory_order_relaxed);
		break;
	case KSP_SYS_RECVMSG:
	case KSP_SYS_RECVFROM:
	case KSP_SYS_RECVMMSG:
	case KSP_SYS_READ:
	case KSP_SYS_READV:
		atomic_fetch_add_explicit(&kp_stats.recvs, 1,
					  memory_order_relaxed);
		break;
	default:
		break;
	}
	return n;
}

/*
 * count() for a call @n that may have sent on @f: a send that found no
 * room arms O_ASYNC's POLL_OUT signal for when room comes back.
 */
static long
sent(struct kp_file *f, enum ksp_sys call, long n)
{
	if (n == -EAGAIN)
		kp__async_nospace(f);
	return count(call, n);
}

/* Whether @call reads from its socket (epoll must know:
 * kp__reading_begin). */
static bool
is_receive(enum ksp_sys call)
{
	return call == KSP_SYS_RECVMSG || call == KSP_SYS_RECVFROM ||
	       call == KSP_SYS_RECVMMSG || call == KSP_SYS_READ ||
	       call == KSP_SYS_READV;
}

/*
 * Socket call @call on @fd, with the call's arguments after the
 * descriptor: through the boundary on a ksock socket, or the kernel's
 * system call @nr with the same arguments on any other descriptor.
 * Returns the result or -1/errno.
 */
static long
sock_call(int fd, enum ksp_sys call, long nr, long a0, long a1, long a2,
	  long a3, long a4)
{
	const long a[5] = { a0, a1, a2, a3, a4 };
	struct kp_file *f;
	long n;
	int err;

	f = remote_get(fd);
	if (f != NULL)
		return remote_done(f, call, kp__remote_call(f, (int)call, a));
	f = sock_get(fd, &err);
	if (f == NULL)
		return err < 0 ? fail(err) : syscall(nr, fd, a0, a1, a2, a3, a4);
	if (is_receive(call)) {
		struct ks_sock *outer = kp__reading_begin(f->so);

		n = count(call, ksp__sys_call(f->so, call, a));
		kp__reading_end(outer);
	} else {
		n = sent(f, call, ksp__sys_call(f->so, call, a));
	}
	kp__file_put(f);
	return n < 0 ? fail(n) : n;
}

/* -- sockets -- */

KP_EXPORT int
socket(int domain, int type, int protocol)
{
	struct ks_sock *so;
	int err;

	if (domain != AF_UNIX && !kp__inet_serves(domain, type, protocol)) {
		long fd = syscall(SYS_socket, domain, type, protocol);

		kp__fd_kernel_new(fd);
		return (int)fd;
	}
	kp__ensure_init();
	if (domain == AF_UNIX && kp__remote_on()) {
		err = kp__remote_socket(domain, type, protocol);
		if (err < 0)
			return (int)fail(err);
		atomic_fetch_add(&kp_stats.sockets, 1);
		return err;
	}
	err = domain != AF_UNIX ? kp__inet_link() : 0;
	if (err < 0)
		return (int)fail(err);
	err = ks_socket(domain, type, protocol, &so);
	if (err < 0)
		return (int)fail(err);
	err = kp__install_sock(so, (type & SOCK_CLOEXEC) != 0);
	if (err < 0)
		return (int)fail(err);
	atomic_fetch_add(&kp_stats.sockets, 1);
	if (domain != AF_UNIX)
		atomic_fetch_add(&kp_stats.inet, 1);
	return err;
}

KP_EXPORT int
socketpair(int domain, int type, int protocol, int sv[2])
{
	struct ks_sock *so[2];
	bool cloexec = (type & SOCK_CLOEXEC) != 0;
	int fd0, fd1, err;

	if (domain != AF_UNIX)
		return (int)syscall(SYS_socketpair, domain, type, protocol, sv);
	kp__ensure_init();
	if (kp__remote_on()) {
		err = kp__remote_socketpair(domain, type, protocol, sv);
		if (err < 0)
			return (int)fail(err);
		atomic_fetch_add(&kp_stats.pairs, 1);
		return 0;
	}
	err = ksp__sys_socketpair_flags(type);
	if (err < 0)
		return (int)fail(err);
	err = ks_socketpair(domain, type, protocol, so);
	if (err < 0)
		return (int)fail(err);
	fd0 = kp__install_sock(so[0], cloexec);
	if (fd0 < 0) {
		ks_close(so[1]);
		return (int)fail(fd0);
	}
	fd1 = kp__install_sock(so[1], cloexec);
	if (fd1 < 0) {
		err = fd1;
		goto close0;
	}
	err = ksp__sys_socketpair_out(sv, fd0, fd1);
	if (err < 0) {
		kp__file_put(kp__fd_take(fd1));
		sys_close(fd1);
		goto close0;
	}
	atomic_fetch_add(&kp_stats.pairs, 1);
	return 0;

close0:
	kp__file_put(kp__fd_take(fd0));
	sys_close(fd0);
	return (int)fail(err);
}

KP_EXPORT int
bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	return (int)sock_call(fd, KSP_SYS_BIND, SYS_bind, (long)addr, len, 0,
			      0, 0);
}

KP_EXPORT int
listen(int fd, int backlog)
{
	return (int)sock_call(fd, KSP_SYS_LISTEN, SYS_listen, backlog, 0, 0, 0,
			      0);
}

KP_EXPORT int
accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct ks_sock *nso;
	struct kp_file *f;
	int nfd, err;
	bool inet;

	f = remote_get(fd);
	if (f != NULL) {
		nfd = kp__remote_accept(f, addr, len, flags);
		kp__file_put(f);
		if (nfd < 0)
			return (int)fail(nfd);
		atomic_fetch_add(&kp_stats.accepted, 1);
		return nfd;
	}
	f = sock_get(fd, &err);
	if (f == NULL && err < 0)
		return (int)fail(err);
	if (f == NULL) {
		long kfd = syscall(SYS_accept4, fd, addr, len, flags);

		kp__fd_kernel_new(kfd);
		return (int)kfd;
	}
	/* Linux takes the descriptor number before it dequeues: EMFILE
	 * leaves the connection queued for a later accept. */
	err = ksp__sys_accept_flags(flags);
	nfd = err < 0 ? err : kp__placeholder((flags & SOCK_CLOEXEC) != 0);
	if (nfd < 0) {
		kp__file_put(f);
		return (int)fail(nfd);
	}
	err = ksp__sys_accept(f->so, flags, &nso, addr, len);
	kp__file_put(f);
	if (err < 0) {
		sys_close(nfd);
		return (int)fail(err);
	}
	inet = kp__is_inet_sock(nso);
	nfd = install_sock_at(nso, nfd);
	if (nfd < 0)
		return (int)fail(nfd);
	atomic_fetch_add(&kp_stats.accepted, 1);
	if (inet)
		atomic_fetch_add(&kp_stats.inet, 1);
	return nfd;
}

KP_EXPORT int
accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return accept4(fd, addr, len, 0);
}

/* @f's state for a move to the kernel: its own ksock's answers, or the
 * server's for a remote socket. Returns 0 or -errno. */
static int
movable_of(struct kp_file *f, struct kp_movable *m)
{
	struct ks_sockaddr_storage peer;
	uint32_t plen = sizeof(peer);
	int err;

	if (f->kind == KP_REMOTE)
		return kp__remote_movable(f, m);
	m->family = ks_sock_family(f->so);
	m->type = ks_sock_type(f->so);
	m->nlen = sizeof(m->name);
	err = ks_getsockname(f->so, &m->name, &m->nlen);
	if (err == 0)
		err = ks_ioctl(f->so, KS_SIOCINQ, &m->inq);
	m->peer = ks_getpeername(f->so, &peer, &plen) == 0;
	m->nonblock = ks_is_nonblock(f->so);
	return err;
}

/*
 * A peer outside ksock: the name exists but no ksock socket has it (a
 * system daemon, a program not run under ksock-run). The socket at @fd
 * (its own ksock's, or the ksockd server's) moves to a kernel socket of its type on the same number, which
 * then does the call and all later ones: connect(@addr) when @connect_it,
 * else the caller's send. Only a socket that has no peer and nothing
 * queued moves, so nothing is lost, and only when the kernel has a socket
 * at @addr: a stream socket when the kernel's connect succeeds, a
 * datagram socket when a probe's connect does (which the peer does not
 * see). A named datagram socket takes its name along (a path's node is
 * made again by the kernel's bind); a named stream socket does not move.
 * Returns 0 (moved), the kernel's -errno (nothing changed), or 1 when the
 * socket cannot move (ksock's error then stands).
 */
static int
move_to_kernel(int fd, struct kp_file *f, const struct sockaddr *addr,
	       socklen_t alen, bool connect_it)
{
	struct kp_movable m;
	struct sockaddr_un *sun = (struct sockaddr_un *)&m.name;
	int type, kfd, err;
	bool named;
	long flags;

	/* A name outside ksock is an AF_UNIX matter: an Internet address
	 * ksock refuses is refused (its TCP/IP is the only one the
	 * program's Internet sockets reach). */
	if (!fallback || movable_of(f, &m) < 0 || m.family != AF_UNIX ||
	    m.peer || m.inq != 0)
		return 1;
	type = m.type;
	named = m.nlen > sizeof(sa_family_t);
	if (type != SOCK_DGRAM && (named || !connect_it))
		return 1;
	flags = syscall(SYS_fcntl, fd, F_GETFD);
	if (flags < 0)
		return 1;
	if (type == SOCK_DGRAM) {
		kfd = (int)syscall(SYS_socket, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (kfd < 0)
			return 1;
		err = syscall(SYS_connect, kfd, addr, alen) < 0 ? -errno : 0;
		sys_close(kfd);
		if (err < 0)
			return err;
	}
	kfd = (int)syscall(SYS_socket, AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (kfd < 0)
		return 1;
	if (named) {
		if (sun->sun_path[0] != '\0')
			syscall(SYS_unlink, sun->sun_path);
		if (syscall(SYS_bind, kfd, &m.name, m.nlen) < 0)
			goto close_kfd;
	}
	if (connect_it && syscall(SYS_connect, kfd, addr, alen) < 0) {
		err = -errno;
		sys_close(kfd);
		return err;
	}
	if (m.nonblock)
		syscall(SYS_fcntl, kfd, F_SETFL, O_RDWR | O_NONBLOCK);
	if (syscall(SYS_dup3, kfd, fd, (flags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
		goto close_kfd;
	sys_close(kfd);
	kp__file_put(kp__fd_take(fd));
	return 0;

close_kfd:
	sys_close(kfd);
	return 1;
}

/*
 * A send with an address (sendto, sendmsg, sendmmsg) that ksock refused
 * (ECONNREFUSED) to a name outside ksock: the socket moves to the kernel,
 * which sends. Returns the count, or -errno (ksock's when it cannot move).
 */
static long
send_outside(int fd, struct kp_file *f, const struct msghdr *msg, int flags)
{
	int err = move_to_kernel(fd, f, msg->msg_name, msg->msg_namelen, false);
	long n;

	if (err != 0)
		return err < 0 ? err : -ECONNREFUSED;
	n = syscall(SYS_sendmsg, fd, msg, flags);
	return n < 0 ? -errno : n;
}

KP_EXPORT int
connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct kp_file *f;
	int err;

	const long a[5] = { (long)addr, len };

	f = remote_get(fd);
	if (f != NULL) {
		err = (int)kp__remote_call(f, KSP_SYS_CONNECT, a);
	} else {
		f = sock_get(fd, &err);
		if (f == NULL)
			return err < 0 ? (int)fail(err) :
			       (int)syscall(SYS_connect, fd, addr, len);
		err = ksp__sys_connect(f->so, addr, len);
	}
	if (err == -ECONNREFUSED) {
		int moved = move_to_kernel(fd, f, addr, len, true);

		if (moved != 1)
			err = moved;
	}
	kp__file_put(f);
	return err < 0 ? (int)fail(err) : 0;
}

KP_EXPORT int
shutdown(int fd, int how)
{
	return (int)sock_call(fd, KSP_SYS_SHUTDOWN, SYS_shutdown, how, 0, 0, 0,
			      0);
}

KP_EXPORT int
getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	return (int)sock_call(fd, KSP_SYS_GETSOCKOPT, SYS_getsockopt, level,
			      name, (long)val, (long)len, 0);
}

KP_EXPORT int
setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	return (int)sock_call(fd, KSP_SYS_SETSOCKOPT, SYS_setsockopt, level,
			      name, (long)val, len, 0);
}


KP_EXPORT int
getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	return (int)sock_call(fd, KSP_SYS_GETSOCKNAME, SYS_getsockname,
			      (long)addr, (long)len, 0, 0, 0);
}

KP_EXPORT int
getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	return (int)sock_call(fd, KSP_SYS_GETPEERNAME, SYS_getpeername,
			      (long)addr, (long)len, 0, 0, 0);
}

/* -- data -- */

/*
 * splice and sendfile move data between a socket and a kernel file
 * through a buffer of the library's; the socket is a ksock one or, under
 * --ksockd, a remote one, and the helpers below are the one place that
 * tells the two apart.
 */

/* The socket at @fd, of either kind, held; else as sock_get(). */
static struct kp_file *
data_sock_get(int fd, int *err)
{
	struct kp_file *f = remote_get(fd);

	*err = 0;
	return f != NULL ? f : sock_get(fd, err);
}

/* A send of kernel memory (sendfile's buffer). */
static long
sock_send(struct kp_file *f, const struct ks_msghdr *msg, int flags)
{
	long n;

	if (f->kind == KP_REMOTE) {
		const long a[5] = { (long)msg, flags };

		n = kp__remote_call(f, KSP_SYS_SENDMSG, a);
	} else {
		n = ks_sendmsg(f->so, msg, flags);
	}
	return sent(f, KSP_SYS_SENDMSG, n);
}

/* A receive into kernel memory (splice's buffer), as a reader for epoll
 * (kp__reading_begin). */
static long
sock_recv(struct kp_file *f, struct ks_msghdr *k, int flags)
{
	struct ks_sock *outer;
	long n;

	if (f->kind == KP_REMOTE) {
		const long a[5] = { (long)k, flags };

		return count(KSP_SYS_RECVMSG,
			     kp__remote_call(f, KSP_SYS_RECVMSG, a));
	}
	outer = kp__reading_begin(f->so);
	n = ks_recvmsg(f->so, k, flags);
	kp__reading_end(outer);
	return count(KSP_SYS_RECVMSG, n);
}

/* Whether the socket of @f has room for a send now. */
static bool
sock_writable(struct kp_file *f)
{
	struct pollfd p = { .fd = f->rfd, .events = POLLOUT };

	if (f->kind != KP_REMOTE)
		return (ks_poll(f->so, NULL) & KS_POLLOUT) != 0;
	return ksd_poll(&p, 1, 0) == 1 && (p.revents & POLLOUT);
}

/* Whether the socket of @f is O_NONBLOCK. */
static bool
sock_nonblock(struct kp_file *f)
{
	if (f->kind != KP_REMOTE)
		return ks_is_nonblock(f->so);
	return (kp__remote_fcntl(f, F_GETFL, 0) & O_NONBLOCK) != 0;
}

/* Whether the socket of @f keeps record boundaries (SOCK_SEQPACKET). */
static bool
sock_seqpacket(struct kp_file *f)
{
	int type = 0;
	socklen_t len = sizeof(type);

	if (f->kind != KP_REMOTE)
		return ks_sock_type(f->so) == KS_SOCK_SEQPACKET;
	return ksd_getsockopt(f->rfd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	       type == SOCK_SEQPACKET;
}

KP_EXPORT ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct kp_file *f;
	long n;
	int err;

	const long a[5] = { (long)msg, flags };

	f = remote_get(fd);
	if (f != NULL) {
		n = count(KSP_SYS_SENDMSG, kp__remote_call(f, KSP_SYS_SENDMSG, a));
	} else {
		f = sock_get(fd, &err);
		if (f == NULL)
			return err < 0 ? fail(err) :
			       syscall(SYS_sendmsg, fd, msg, flags);
		n = sent(f, KSP_SYS_SENDMSG, ksp__sys_sendmsg(f->so,
			 (const struct ks_msghdr *)(const void *)msg, flags));
	}
	if (n == -ECONNREFUSED && msg->msg_name != NULL)
		n = send_outside(fd, f, msg, flags);
	kp__file_put(f);
	return n < 0 ? fail(n) : n;
}

KP_EXPORT ssize_t
recvmsg(int fd, struct msghdr *msg, int flags)
{
	return sock_call(fd, KSP_SYS_RECVMSG, SYS_recvmsg, (long)msg, flags, 0,
			 0, 0);
}

KP_EXPORT ssize_t
sendto(int fd, const void *buf, size_t len, int flags,
       const struct sockaddr *addr, socklen_t alen)
{
	struct kp_file *f;
	long n;
	int err;

	const long a[5] = { (long)buf, (long)len, flags, (long)addr, alen };

	f = remote_get(fd);
	if (f != NULL) {
		n = count(KSP_SYS_SENDTO, kp__remote_call(f, KSP_SYS_SENDTO, a));
	} else {
		f = sock_get(fd, &err);
		if (f == NULL)
			return err < 0 ? fail(err) :
			       syscall(SYS_sendto, fd, buf, len, flags, addr,
				       alen);
		n = sent(f, KSP_SYS_SENDTO,
			 ksp__sys_sendto(f->so, buf, len, flags, addr, alen));
	}
	if (n == -ECONNREFUSED && addr != NULL) {
		struct iovec uiov = { (void *)buf, len };
		struct msghdr m = { .msg_name = (void *)addr, .msg_namelen = alen,
				    .msg_iov = &uiov, .msg_iovlen = 1 };

		n = send_outside(fd, f, &m, flags);
	}
	kp__file_put(f);
	return n < 0 ? fail(n) : n;
}

KP_EXPORT ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
	return sendto(fd, buf, len, flags, NULL, 0);
}

KP_EXPORT ssize_t
recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
	 socklen_t *alen)
{
	return sock_call(fd, KSP_SYS_RECVFROM, SYS_recvfrom, (long)buf,
			 (long)len, flags, (long)addr, (long)alen);
}

KP_EXPORT ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
	return recvfrom(fd, buf, len, flags, NULL, NULL);
}

KP_EXPORT int
sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
	struct kp_file *f;
	long n, more;
	int err;

	const long a[5] = { (long)vec, vlen, flags };

	f = remote_get(fd);
	if (f != NULL) {
		n = count(KSP_SYS_SENDMMSG,
			  kp__remote_call(f, KSP_SYS_SENDMMSG, a));
	} else {
		f = sock_get(fd, &err);
		if (f == NULL)
			return err < 0 ? (int)fail(err) :
			       (int)syscall(SYS_sendmmsg, fd, vec, vlen, flags);
		n = sent(f, KSP_SYS_SENDMMSG, ksp__sys_sendmmsg(f->so,
			 (struct ksp_mmsghdr *)(void *)vec, vlen, flags));
	}
	/* A refused first message (the boundary returns a count when an
	 * earlier one went) to a name outside ksock: the socket moves to
	 * the kernel, which sends the rest. */
	if (n == -ECONNREFUSED && vlen > 0 && vec[0].msg_hdr.msg_name != NULL) {
		n = send_outside(fd, f, &vec[0].msg_hdr, flags);
		if (n >= 0) {
			vec[0].msg_len = (unsigned int)n;
			more = vlen > 1 ? syscall(SYS_sendmmsg, fd, vec + 1,
						  vlen - 1, flags) : 0;
			n = 1 + (more > 0 ? more : 0);
		}
	}
	kp__file_put(f);
	return n < 0 ? (int)fail(n) : (int)n;
}

KP_EXPORT int
recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags,
	 struct timespec *timeout)
{
	return (int)sock_call(fd, KSP_SYS_RECVMMSG, SYS_recvmmsg, (long)vec,
			      vlen, flags, (long)timeout, 0);
}

KP_EXPORT ssize_t
readv(int fd, const struct iovec *iov, int iovcnt)
{
	return sock_call(fd, KSP_SYS_READV, SYS_readv, (long)iov, iovcnt, 0, 0,
			 0);
}

KP_EXPORT ssize_t
writev(int fd, const struct iovec *iov, int iovcnt)
{
	return sock_call(fd, KSP_SYS_WRITEV, SYS_writev, (long)iov, iovcnt, 0,
			 0, 0);
}

KP_EXPORT ssize_t
read(int fd, void *buf, size_t len)
{
	if (!kp__fd_is_mapped(fd))
		return syscall(SYS_read, fd, buf, len);
	return sock_call(fd, KSP_SYS_READ, SYS_read, (long)buf, (long)len, 0, 0,
			 0);
}

KP_EXPORT ssize_t
write(int fd, const void *buf, size_t len)
{
	if (!kp__fd_is_mapped(fd))
		return syscall(SYS_write, fd, buf, len);
	return sock_call(fd, KSP_SYS_WRITE, SYS_write, (long)buf, (long)len, 0,
			 0, 0);
}

/* The positioned calls: a socket has no position (ESPIPE). */
static long
sock_espipe(int fd)
{
	int err;
	struct kp_file *f = remote_get(fd);

	if (f == NULL)
		f = sock_get(fd, &err);
	if (f == NULL)
		return err;
	kp__file_put(f);
	return -ESPIPE;
}

#define POSITIONED(name, nr, type, ...)					\
KP_EXPORT ssize_t							\
name(int fd, type buf, size_t len, off_t off)				\
{									\
	long err = sock_espipe(fd);					\
									\
	if (err < 0)							\
		return fail(err);					\
	return syscall(nr, fd, buf, len, off);				\
}
POSITIONED(pread, SYS_pread64, void *)
POSITIONED(pread64, SYS_pread64, void *)
POSITIONED(pwrite, SYS_pwrite64, const void *)
POSITIONED(pwrite64, SYS_pwrite64, const void *)

#define POSITIONED_V(name, nr)						\
KP_EXPORT ssize_t							\
name(int fd, const struct iovec *iov, int cnt, off_t off)		\
{									\
	long err = sock_espipe(fd);					\
									\
	if (err < 0)							\
		return fail(err);					\
	return syscall(nr, fd, iov, cnt, (long)off, 0L);		\
}
POSITIONED_V(preadv, SYS_preadv)
POSITIONED_V(preadv64, SYS_preadv)
POSITIONED_V(pwritev, SYS_pwritev)
POSITIONED_V(pwritev64, SYS_pwritev)

/* preadv2/pwritev2 at offset -1 use the file position: readv/writev. */
#define POSITIONED_V2(name, nr, plain)					\
KP_EXPORT ssize_t							\
name(int fd, const struct iovec *iov, int cnt, off_t off, int flags)	\
{									\
	long err;							\
									\
	if (off == -1 && kp__fd_is_mapped(fd))				\
		return plain(fd, iov, cnt);				\
	err = sock_espipe(fd);						\
	if (err < 0)							\
		return fail(err);					\
	return syscall(nr, fd, iov, cnt, (long)off, 0L, flags);		\
}
POSITIONED_V2(preadv2, SYS_preadv2, readv)
POSITIONED_V2(preadv64v2, SYS_preadv2, readv)
POSITIONED_V2(pwritev2, SYS_pwritev2, writev)
POSITIONED_V2(pwritev64v2, SYS_pwritev2, writev)

KP_EXPORT off_t
lseek(int fd, off_t off, int whence)
{
	long err = sock_espipe(fd);

	if (err < 0)
		return fail(err);
	return syscall(SYS_lseek, fd, off, whence);
}

KP_EXPORT off_t
lseek64(int fd, off_t off, int whence)
{
	return lseek(fd, off, whence);
}

/* The st_mode of @fd, or -errno. */
static int
fd_mode(int fd)
{
	struct stat st;

	if (syscall(SYS_fstat, fd, &st) < 0)
		return -errno;
	return (int)st.st_mode;
}

/* Bytes moved by one step of splice between a pipe and a socket. */
#define KP_SPLICE_CHUNK	16384

/* What a pipe is ready for now (a zero-timeout poll's revents). */
static short
pipe_ready(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct timespec zero = { 0, 0 };

	if (syscall(SYS_ppoll, &p, 1L, &zero, NULL, 0L) != 1)
		return 0;
	return p.revents;
}

/*
 * splice from the pipe @pfd into the socket of @f: what the pipe holds,
 * up to @len, in steps of one chunk. The first step waits for data and
 * for room unless @nonblock; later steps move only what is there, and
 * read the pipe only when the socket has room, so what is read is sent
 * (a socket with room takes a chunk whole). Returns the count or -errno.
 */
static long
splice_to_sock(int pfd, struct kp_file *f, size_t len, bool nonblock)
{
	char buf[KP_SPLICE_CHUNK];
	size_t total = 0;
	long err = 0;

	while (total < len) {
		struct ks_iovec iov = { buf, 0 };
		struct ks_msghdr k = { .msg_iov = &iov, .msg_iovlen = 1 };
		size_t want = len - total;
		long got, sent;

		if (want > sizeof(buf))
			want = sizeof(buf);
		if ((nonblock || total > 0) && !sock_writable(f)) {
			err = -EAGAIN;
			break;
		}
		if (nonblock || total > 0) {
			short pr = pipe_ready(pfd);

			/* Empty: the end when no writer is left (a read
			 * then returns 0 below), else nothing to wait for. */
			if (!(pr & (POLLIN | POLLHUP))) {
				err = -EAGAIN;
				break;
			}
		}
		got = syscall(SYS_read, pfd, buf, want);
		if (got < 0) {
			err = -errno;
			break;
		}
		if (got == 0)
			break;
		iov.iov_len = (size_t)got;
		sent = sock_send(f, &k, sock_seqpacket(f) ? KS_MSG_EOR : 0);
		if (sent < 0) {
			err = sent;
			break;
		}
		total += (size_t)sent;
		if (sent < got)
			break;
	}
	if (total > 0)
		return (long)total;
	return err;
}

/*
 * splice from the socket of @f into the pipe @pfd: the data is peeked,
 * written to the pipe, and only what the pipe took is consumed.
 */
static long
splice_from_sock(struct kp_file *f, int pfd, size_t len, bool nonblock)
{
	char buf[KP_SPLICE_CHUNK];
	struct ks_iovec iov = { buf, len < sizeof(buf) ? len : sizeof(buf) };
	struct ks_msghdr k = { .msg_iov = &iov, .msg_iovlen = 1 };
	long got, put;

	got = sock_recv(f, &k, KS_MSG_PEEK | (nonblock ? KS_MSG_DONTWAIT : 0));
	if (got <= 0)
		return got;
	put = syscall(SYS_write, pfd, buf, (size_t)got);
	if (put < 0)
		return -errno;
	iov.iov_len = (size_t)put;
	k = (struct ks_msghdr){ .msg_iov = &iov, .msg_iovlen = 1 };
	return sock_recv(f, &k, KS_MSG_DONTWAIT);
}

/*
 * splice(2) with a ksock socket on one side: the other must be a pipe
 * (EINVAL otherwise, as Linux); a socket has no offset (EINVAL for the
 * socket's, ESPIPE for the pipe's). SPLICE_F_NONBLOCK, or O_NONBLOCK on
 * the socket, makes it return EAGAIN instead of waiting.
 */
/* Linux's SPLICE_F_ALL: MOVE, NONBLOCK, MORE, GIFT. */
#define KP_SPLICE_F_ALL	0xf

/* Whether a splice offset can be read (NULL: none, which is fine). */
static bool
user_off_ok(const loff_t *uoff)
{
	loff_t k;

	return uoff == NULL || ksp__copy_from_user(&k, uoff, sizeof(k)) == 0;
}

KP_EXPORT ssize_t
splice(int in_fd, loff_t *off_in, int out_fd, loff_t *off_out, size_t len,
       unsigned int flags)
{
	struct kp_file *in, *out;
	long r;
	int e1, e2;
	bool nonblock;

	in = data_sock_get(in_fd, &e1);
	out = data_sock_get(out_fd, &e2);
	if (in == NULL && out == NULL && e1 == 0 && e2 == 0)
		return syscall(SYS_splice, in_fd, off_in, out_fd, off_out, len,
			       flags);
	/* Linux's order: a zero length, the flags, the descriptors, an
	 * offset on a pipe's side, reading the offsets, then what the
	 * files can do (a socket has no offset; one end must be a pipe). */
	if (len == 0) {
		r = 0;
		goto put;
	}
	if (flags & ~(unsigned)KP_SPLICE_F_ALL) {
		r = -EINVAL;
		goto put;
	}
	if (e1 < 0 || e2 < 0) {
		r = e1 < 0 ? e1 : e2;
		goto put;
	}
	r = in != NULL && out != NULL ? S_IFSOCK :
	    fd_mode(in != NULL ? out_fd : in_fd);
	if (r < 0)
		goto put;
	if (S_ISFIFO(r) && (in != NULL ? off_out : off_in) != NULL) {
		r = -ESPIPE;
	} else if (!user_off_ok(off_in) || !user_off_ok(off_out)) {
		r = -EFAULT;
	} else if (!S_ISFIFO(r) || off_in != NULL || off_out != NULL) {
		r = -EINVAL;
	} else {
		struct kp_file *sf = in != NULL ? in : out;

		nonblock = (flags & SPLICE_F_NONBLOCK) || sock_nonblock(sf);
		r = in != NULL ? splice_from_sock(in, out_fd, len, nonblock) :
				 splice_to_sock(in_fd, out, len, nonblock);
	}
put:
	kp__file_put(in);
	kp__file_put(out);
	return r < 0 ? fail(r) : r;
}

/* 0 when the kernel's @fd is open for reading (@write: writing), else
 * -EBADF, as do_tee() checks its two files. */
static int
kernel_fd_mode_ok(int fd, bool write)
{
	long fl = syscall(SYS_fcntl, fd, F_GETFL);

	if (fl < 0 || (fl & O_PATH))
		return -EBADF;
	if ((fl & O_ACCMODE) == (write ? O_RDONLY : O_WRONLY))
		return -EBADF;
	return 0;
}

/*
 * tee(2) with a socket on either side: Linux's checks of the flags, the
 * length and the two files, then EINVAL, as a socket is no pipe (the
 * placeholder would make it EBADF). vmsplice(2) needs nothing: Linux's
 * EBADF for a descriptor that is no pipe is the placeholder's too.
 */
KP_EXPORT ssize_t
tee(int in_fd, int out_fd, size_t len, unsigned int flags)
{
	struct kp_file *in, *out;
	long r;
	int e1, e2;

	in = data_sock_get(in_fd, &e1);
	out = data_sock_get(out_fd, &e2);
	if (in == NULL && out == NULL && e1 == 0 && e2 == 0)
		return syscall(SYS_tee, in_fd, out_fd, len, flags);
	if (flags & ~(unsigned)KP_SPLICE_F_ALL)
		r = -EINVAL;
	else if (len == 0)
		r = 0;
	else if (e1 < 0 || e2 < 0)
		r = e1 < 0 ? e1 : e2;
	else if (in == NULL)
		r = kernel_fd_mode_ok(in_fd, false);
	else if (out == NULL)
		r = kernel_fd_mode_ok(out_fd, true);
	else
		r = 0;
	if (r == 0 && len != 0)
		r = -EINVAL;
	kp__file_put(in);
	kp__file_put(out);
	return r < 0 ? fail(r) : r;
}

/*
 * sendfile(2) into a ksock socket: read from @in_fd and send, as the
 * kernel's splice path would. Out of a ksock socket: EINVAL as Linux.
 */
KP_EXPORT ssize_t
sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
	char buf[16384];
	struct kp_file *f;
	ssize_t total = 0;
	off_t koff = 0;
	int err;

	/* Linux reads the offset first: a bad one goes to the kernel
	 * unread, which fails with EFAULT and does nothing else. */
	if (offset != NULL && ksp__copy_from_user(&koff, offset,
						  sizeof(koff)) < 0)
		return syscall(SYS_sendfile, out_fd, in_fd, offset, count);
	if (kp__fd_is_mapped(in_fd))
		return fail(-EINVAL);
	f = data_sock_get(out_fd, &err);
	if (f == NULL)
		return err < 0 ? fail(err) :
		       syscall(SYS_sendfile, out_fd, in_fd, offset, count);
	/* As Linux: the source must be a file that can be read at an
	 * offset (do_sendfile() wants FMODE_PREAD): not a pipe or socket. */
	err = fd_mode(in_fd);
	if (err >= 0 && (S_ISFIFO(err) || S_ISSOCK(err)))
		err = -EINVAL;
	if (err < 0) {
		kp__file_put(f);
		return fail(err);
	}
	err = 0;
	while ((size_t)total < count) {
		size_t want = count - (size_t)total;
		struct ks_iovec iov = { buf, 0 };
		struct ks_msghdr k = { .msg_iov = &iov, .msg_iovlen = 1 };
		long got, sent;

		if (want > sizeof(buf))
			want = sizeof(buf);
		got = offset != NULL ?
		      syscall(SYS_pread64, in_fd, buf, want, koff) :
		      syscall(SYS_read, in_fd, buf, want);
		if (got < 0) {
			err = -errno;
			break;
		}
		if (got == 0)
			break;
		iov.iov_len = (size_t)got;
		sent = sock_send(f, &k, total > 0 ? MSG_DONTWAIT : 0);
		if (sent < 0) {
			err = (int)sent;
			if (offset == NULL)	/* give the unsent bytes back */
				syscall(SYS_lseek, in_fd, -got, SEEK_CUR);
			break;
		}
		if (offset != NULL)
			koff += sent;
		else if (sent < got)
			syscall(SYS_lseek, in_fd, sent - got, SEEK_CUR);
		total += sent;
		if (sent < got)
			break;
	}
	kp__file_put(f);
	if (total == 0 && err < 0)
		return fail(err);
	/* As Linux: an offset that cannot be written back is EFAULT, even
	 * after the bytes went. */
	if (offset != NULL && ksp__copy_to_user(offset, &koff,
						sizeof(koff)) < 0)
		return fail(-EFAULT);
	return total;
}

KP_EXPORT ssize_t
sendfile64(int out_fd, int in_fd, off_t *offset, size_t count)
{
	return sendfile(out_fd, in_fd, offset, count);
}

/* -- fortified (_FORTIFY_SOURCE) names -- */

KP_EXPORT ssize_t
__read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen)
		__chk_fail();
	return read(fd, buf, len);
}

KP_EXPORT ssize_t
__recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	if (len > buflen)
		__chk_fail();
	return recv(fd, buf, len, flags);
}

KP_EXPORT ssize_t
__recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
	       struct sockaddr *addr, socklen_t *alen)
{
	if (len > buflen)
		__chk_fail();
	return recvfrom(fd, buf, len, flags, addr, alen);
}

KP_EXPORT ssize_t
__pread_chk(int fd, void *buf, size_t len, off_t off, size_t buflen)
{
	if (len > buflen)
		__chk_fail();
	return pread(fd, buf, len, off);
}

KP_EXPORT ssize_t
__pread64_chk(int fd, void *buf, size_t len, off_t off, size_t buflen)
{
	if (len > buflen)
		__chk_fail();
	return pread(fd, buf, len, off);
}

/* -- descriptors -- */

KP_EXPORT int
close(int fd)
{
	struct kp_file *f;
	long r;

	/* A program that closes every number (a daemon's loop) must not
	 * cut the library's connection to its server. */
	if (kp__remote_private(fd))
		return 0;
	if (!kp__fd_is_mapped(fd) || in_vfork_child())
		return (int)syscall(SYS_close, fd);
	/* Out of the map before the kernel can hand the number out again;
	 * a remote socket's server number is closed before the kernel's, so
	 * that the next socket can have both. */
	f = kp__fd_take(fd);
	if (f != NULL && f->kind == KP_REMOTE) {
		kp__file_put(f);
		f = NULL;
	}
	r = syscall(SYS_close, fd);
	kp__file_put(f);
	return (int)r;
}

/* After the kernel made @nfd a copy of @fd: the map follows. */
static void
map_copy(struct kp_file *f, int nfd)
{
	if (f != NULL && f->kind == KP_REMOTE)
		kp__remote_dup(f, nfd, syscall(SYS_fcntl, nfd, F_GETFD) == FD_CLOEXEC);
	else if (f != NULL && f != &kp_stale)
		kp__fd_set(nfd, f);
	else
		kp__file_put(kp__fd_take(nfd));
}

KP_EXPORT int
dup(int fd)
{
	struct kp_file *f;
	long nfd;

	if (in_vfork_child())
		return (int)syscall(SYS_dup, fd);
	if (!kp__fd_is_mapped(fd)) {
		nfd = syscall(SYS_dup, fd);
		kp__fd_kernel_new(nfd);
		return (int)nfd;
	}
	f = kp__fd_get(fd);
	nfd = syscall(SYS_dup, fd);
	if (nfd >= 0)
		map_copy(f, (int)nfd);
	kp__file_put(f);
	return (int)nfd;
}

KP_EXPORT int
dup3(int fd, int newfd, int flags)
{
	struct kp_file *f;
	long r;

	if ((!kp__fd_is_mapped(fd) && !kp__fd_is_mapped(newfd)) ||
	    in_vfork_child())
		return (int)syscall(SYS_dup3, fd, newfd, flags);
	f = kp__fd_get(fd);
	r = syscall(SYS_dup3, fd, newfd, flags);
	if (r >= 0)
		map_copy(f, newfd);
	kp__file_put(f);
	return (int)r;
}

KP_EXPORT int
dup2(int fd, int newfd)
{
	if (fd == newfd)	/* dup2 checks @fd and returns it */
		return (int)syscall(SYS_fcntl, fd, F_GETFD) < 0 ? -1 : newfd;
	return dup3(fd, newfd, 0);
}

static long
sock_fcntl(int fd, struct kp_file *f, int cmd, long arg)
{
	struct ks_sock *so = f->so;
	int err;

	switch (cmd) {
	case F_GETFL:
		return O_RDWR | (ks_is_nonblock(so) ? O_NONBLOCK : 0) |
		       (int)atomic_load(&f->fl);
	case F_SETFL:
		if (arg & O_DIRECT)
			return -EINVAL;	/* a socket has no direct I/O */
		err = kp__async_set(fd, f, (arg & O_ASYNC) != 0);
		if (err < 0)
			return err;
		ks_set_nonblock(so, (arg & O_NONBLOCK) != 0);
		atomic_store(&f->fl, ((unsigned)arg & (O_APPEND | O_NOATIME)) |
				     (atomic_load(&f->fl) & O_ASYNC));
		return 0;
	case F_GETSIG:
		return atomic_load(&f->sig);
	case F_SETSIG:
		if ((unsigned long)arg > KSP_NSIG)
			return -EINVAL;
		atomic_store(&f->sig, (int)arg);
		return 0;
	case F_SETOWN:
		return ksp__sys_setown(so, arg);
	case F_GETOWN:
		return ks_get_owner(so);
	case F_SETOWN_EX:
	case F_GETOWN_EX:
		return ksp__sys_owner_ex(so, cmd == F_SETOWN_EX, (void *)arg);
	case F_GETPIPE_SZ:
	case F_SETPIPE_SZ:
		return -EBADF;
	default:
		/* Locks, leases, F_NOTIFY: the placeholder is O_PATH, which
		 * refuses them, so they are answered as for a socket. */
		return ksp__sock_fcntl_file(cmd, arg);
	}
}

static long
do_fcntl(int fd, int cmd, long arg)
{
	struct kp_file *f;
	long r;

	if (!kp__fd_is_mapped(fd)) {
		r = syscall(SYS_fcntl, fd, cmd, arg);
		if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
			kp__fd_kernel_new(r);
		return r;
	}
	switch (cmd) {
	case F_GETFD:
		/* Close-on-exec lives on the placeholder (and in the server,
		 * for a remote socket: its EXEC closes there too). */
		return syscall(SYS_fcntl, fd, cmd, arg);
	case F_SETFD:
		r = syscall(SYS_fcntl, fd, cmd, arg);
		f = r == 0 ? remote_get(fd) : NULL;
		if (f != NULL)
			kp__remote_cloexec(f, (arg & FD_CLOEXEC) != 0);
		kp__file_put(f);
		return r;
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if (in_vfork_child())
			return syscall(SYS_fcntl, fd, cmd, arg);
		f = kp__fd_get(fd);
		r = syscall(SYS_fcntl, fd, cmd, arg);
		if (r >= 0)
			map_copy(f, (int)r);
		kp__file_put(f);
		return r;
	}
	f = kp__fd_get(fd);
	if (f == NULL || f->kind == KP_EPOLL) {
		kp__file_put(f);
		return syscall(SYS_fcntl, fd, cmd, arg);
	}
	r = f == &kp_stale ? -EBADF :
	    f->kind == KP_REMOTE ? kp__remote_fcntl(f, cmd, arg) :
	    sock_fcntl(fd, f, cmd, arg);
	kp__file_put(f);
	/* A process group owner is negative, and no error. */
	if (cmd == F_GETOWN && f != &kp_stale)
		return r;
	return r < 0 ? fail(r) : r;
}

KP_EXPORT int
fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	return (int)do_fcntl(fd, cmd, arg);
}

KP_EXPORT int
fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	return (int)do_fcntl(fd, cmd, arg);
}

/*
 * The ioctls Linux answers for a socket's file before the socket sees
 * them (FIOASYNC) or in sock_ioctl() for every family (the owner); ENOTTY
 * for others. Linux reads and writes an int through @arg.
 */
static int
sock_file_ioctl(int fd, struct kp_file *f, unsigned long req, void *arg)
{
	int v, err;

	switch (req) {
	case FIOASYNC:
		if (ksp__copy_from_user(&v, arg, sizeof(v)) < 0)
			return -EFAULT;
		return kp__async_set(fd, f, v != 0);
	default:
		err = ksp__sys_owner_ioctl(f->so, req, arg);
		return err == -ENOTTY ? ks_ioctl(f->so, req, arg) : err;
	}
}

KP_EXPORT int
ioctl(int fd, unsigned long req, ...)
{
	struct kp_file *f;
	va_list ap;
	void *arg;
	int err;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if ((req == FIOCLEX || req == FIONCLEX) && kp__fd_is_mapped(fd)) {
		/* Close-on-exec lives on the placeholder, which is O_PATH
		 * and so refuses ioctl(2) itself. */
		f = kp__fd_get(fd);
		if (f == NULL)
			return (int)syscall(SYS_ioctl, fd, req, arg);
		if (f->kind == KP_REMOTE)
			kp__remote_cloexec(f, req == FIOCLEX);
		kp__file_put(f);
		return (int)syscall(SYS_fcntl, fd, F_SETFD,
				    req == FIOCLEX ? FD_CLOEXEC : 0);
	}
	f = remote_get(fd);
	if (f != NULL) {
		err = kp__remote_ioctl(f, req, arg);
		kp__file_put(f);
		return err < 0 ? (int)fail(err) : err;
	}
	f = sock_get(fd, &err);
	if (f == NULL)
		return err < 0 ? (int)fail(err) :
		       (int)syscall(SYS_ioctl, fd, req, arg);
	err = sock_file_ioctl(fd, f, req, arg);
	if (err == -ENOTTY)
		err = ksp__sock_ioctl_netdev(req, arg);
	kp__file_put(f);
	return err < 0 ? (int)fail(err) : err;
}

/* -- fstat and friends -- */

/*
 * Whether @p is NULL, for arguments glibc declares nonnull: the compiler
 * would drop a plain test, but a program can still pass NULL, and the
 * kernel answers EFAULT.
 */
static bool
is_null(const void *p)
{
	__asm__("" : "+r"(p));
	return p == NULL;
}

KP_EXPORT int
fstat(int fd, struct stat *st)
{
	struct kp_file *f;
	int err;

	f = remote_get(fd);
	if (f != NULL) {
		err = kp__remote_fstat(f, st);
		kp__file_put(f);
		return err < 0 ? (int)fail(err) : 0;
	}
	f = sock_get(fd, &err);
	if (f == NULL)
		return err < 0 ? (int)fail(err) :
		       (int)syscall(SYS_fstat, fd, st);
	err = ksp__sys_fstat(f->so, geteuid(), getegid(), st);
	kp__file_put(f);
	return err < 0 ? (int)fail(err) : 0;
}

/* On x86_64 and the other LP64 ports struct stat64 is struct stat. */
_Static_assert(sizeof(struct stat64) == sizeof(struct stat), "stat64");

KP_EXPORT int
fstat64(int fd, struct stat64 *st)
{
	return fstat(fd, (struct stat *)st);
}

KP_EXPORT int
__fxstat(int ver, int fd, struct stat *st)
{
	return fstat(fd, st);
}

KP_EXPORT int
__fxstat64(int ver, int fd, struct stat64 *st)
{
	return fstat(fd, (struct stat *)st);
}

KP_EXPORT int
fstatat(int dfd, const char *path, struct stat *st, int flags)
{
	if ((flags & AT_EMPTY_PATH) && !is_null(path) && path[0] == '\0' &&
	    kp__fd_is_mapped(dfd))
		return fstat(dfd, st);
	return (int)syscall(SYS_newfstatat, dfd, path, st, flags);
}

KP_EXPORT int
fstatat64(int dfd, const char *path, struct stat64 *st, int flags)
{
	return fstatat(dfd, path, (struct stat *)st, flags);
}

KP_EXPORT int
statx(int dfd, const char *path, int flags, unsigned int mask,
      struct statx *stx)
{
	struct stat st;

	if ((flags & AT_EMPTY_PATH) && !is_null(path) && path[0] == '\0' &&
	    kp__fd_is_mapped(dfd)) {
		struct kp_file *f;
		int err;

		f = sock_get(dfd, &err);
		if (f != NULL) {
			struct statx k;

			ksp__sock_stat(f->so, geteuid(), getegid(), &st);
			kp__file_put(f);
			memset(&k, 0, sizeof(k));
			k.stx_mask = STATX_BASIC_STATS;
			k.stx_blksize = (uint32_t)st.st_blksize;
			k.stx_nlink = 1;
			k.stx_uid = st.st_uid;
			k.stx_gid = st.st_gid;
			k.stx_mode = (uint16_t)st.st_mode;
			k.stx_ino = st.st_ino;
			k.stx_dev_major = 0;
			k.stx_dev_minor = KSP_SOCK_DEV;
			err = ksp__copy_to_user(stx, &k, sizeof(k));
			return err < 0 ? (int)fail(err) : 0;
		}
		if (err < 0)
			return (int)fail(err);
	}
	return (int)syscall(SYS_statx, dfd, path, flags, mask, stx);
}

/*
 * Preload port: every way a dynamically linked program can close a
 * descriptor, or copy its memory into a child, that does not pass through
 * close() or fork():
 *
 *   syscall(SYS_close, ...)   libuv (and so Node.js) closes this way; the
 *                             dup and close_range numbers too, the data,
 *                             fcntl and ioctl calls on a socket, and a raw
 *                             clone without CLONE_VM, which is a fork;
 *   close_range, closefrom    glibc closes through its own system call;
 *   fdopen and stdio          a FILE on a ksock socket is a stream of
 *                             this library's (fopencookie) whose reads,
 *                             writes and close are the shim's, so stdio
 *                             works on it and fclose() closes the socket;
 *   clone()                   glibc's clone runs no fork handlers: a
 *                             child without CLONE_VM starts as a forked
 *                             one does (ks_fork_child()).
 *
 * What a program does with raw system-call instructions stays out of
 * reach; a number closed behind the library's back is noticed when the
 * library sees the kernel hand it out again (kp__fd_kernel_new(): here
 * for syscall(3) and pipe, elsewhere for open, socket, accept, dup).
 *
 * Since this file interposes syscall(3), the library's own raw calls go
 * to libc's syscall through kp__syscall().
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "preload.h"
#include "../hosted/hosted.h"

#undef syscall

#define KP_EXPORT	__attribute__((visibility("default")))

typedef long (*syscall_fn)(long nr, ...);
static _Atomic(syscall_fn) libc_syscall;

/* See preload.h. */
void *
kp__libc_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL)
		abort();
	return p;
}

/* See preload.h: libc's syscall(3). */
long
kp__syscall(long nr, ...)
{
	syscall_fn fn = atomic_load_explicit(&libc_syscall,
					     memory_order_acquire);
	long a[6];
	va_list ap;

	if (fn == NULL) {
		fn = (syscall_fn)kp__libc_sym("syscall");
		atomic_store_explicit(&libc_syscall, fn, memory_order_release);
	}
	/* As libc's own syscall(): six arguments, whatever was passed. */
	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	return fn(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* -- close_range and closefrom -- */

/* See preload.h: the map's side of close_range(@first, @last, @flags),
 * before the kernel's. */
void
kp__fd_close_range(unsigned first, unsigned last, unsigned flags)
{
	/* CLOSE_RANGE_CLOEXEC closes nothing: the flag lives on the
	 * placeholders. With CLOSE_RANGE_UNSHARE the calling thread gets a
	 * table of its own first; the map is the process's, so the
	 * numbers go from it for every thread (docs/ksock-run.md). */
	if (kp__fd_count() == 0 || first > last || kp__in_vfork_child())
		return;
	if (flags & CLOSE_RANGE_CLOEXEC) {
		kp__remote_cloexec_range(first, last);
		return;
	}
	kp__fd_take_range(first, last);
}

KP_EXPORT int
close_range(unsigned int first, unsigned int last, int flags)
{
	/* The kernel's own refusals, before the map forgets anything. */
	if (((unsigned)flags & ~(unsigned)(CLOSE_RANGE_CLOEXEC |
					   CLOSE_RANGE_UNSHARE)) ||
	    first > last) {
		errno = EINVAL;
		return -1;
	}
	kp__fd_close_range(first, last, (unsigned)flags);
	return (int)kp__remote_close_range(first, last, (unsigned)flags);
}

KP_EXPORT void
closefrom(int lowfd)
{
	unsigned first = lowfd < 0 ? 0 : (unsigned)lowfd;
	void (*fn)(int);

	kp__fd_close_range(first, ~0u, 0);
	if (kp__remote_close_range(first, ~0u, 0) == 0)
		return;
	/* A kernel without close_range: libc's fallback walks /proc. */
	fn = (void (*)(int))kp__libc_sym("closefrom");
	fn(lowfd);
}

/* -- syscall(3) -- */

/*
 * Whether system call @nr returns a new descriptor: the number was free
 * in the kernel, so an entry the map still has there is one a raw close
 * left behind (kp__fd_kernel_new()).
 */
static bool
makes_number(long nr)
{
	switch (nr) {
	case SYS_open:
	case SYS_openat:
	case SYS_openat2:
	case SYS_creat:
	case SYS_open_by_handle_at:
	case SYS_socket:
	case SYS_accept:
	case SYS_accept4:
	case SYS_epoll_create:
	case SYS_epoll_create1:
	case SYS_eventfd:
	case SYS_eventfd2:
	case SYS_signalfd:
	case SYS_signalfd4:
	case SYS_timerfd_create:
	case SYS_inotify_init:
	case SYS_inotify_init1:
	case SYS_memfd_create:
	case SYS_pidfd_open:
	case SYS_pidfd_getfd:
	case SYS_fanotify_init:
	case SYS_userfaultfd:
	case SYS_perf_event_open:
	case SYS_io_uring_setup:
		return true;
	}
	return false;
}

/* Both numbers of a pipe the kernel just made (read through the copy
 * hook: the kernel wrote them, but another thread may unmap them). */
static void
kernel_new_pair(const int *ufds)
{
	int k[2];

	if (ksp__copy_from_user(k, ufds, sizeof(k)) == 0) {
		kp__fd_kernel_new(k[0]);
		kp__fd_kernel_new(k[1]);
	}
}

/* glibc's clone() child entry: fn and arg of the caller. */
struct clone_start {
	int	(*fn)(void *);
	void	*arg;
};

/* A call on a number the map knows, as its libc name does it. */
static long
sock_syscall(long nr, const long *a)
{
	int fd = (int)a[0];

	switch (nr) {
	case SYS_read:
		return read(fd, (void *)a[1], (size_t)a[2]);
	case SYS_write:
		return write(fd, (const void *)a[1], (size_t)a[2]);
	case SYS_readv:
		return readv(fd, (const struct iovec *)a[1], (int)a[2]);
	case SYS_writev:
		return writev(fd, (const struct iovec *)a[1], (int)a[2]);
	case SYS_sendto:
		return sendto(fd, (const void *)a[1], (size_t)a[2], (int)a[3],
			      (const struct sockaddr *)a[4], (socklen_t)a[5]);
	case SYS_recvfrom:
		return recvfrom(fd, (void *)a[1], (size_t)a[2], (int)a[3],
				(struct sockaddr *)a[4], (socklen_t *)a[5]);
	case SYS_sendmsg:
		return sendmsg(fd, (const struct msghdr *)a[1], (int)a[2]);
	case SYS_recvmsg:
		return recvmsg(fd, (struct msghdr *)a[1], (int)a[2]);
	case SYS_shutdown:
		return shutdown(fd, (int)a[1]);
	case SYS_fcntl:
		return fcntl(fd, (int)a[1], a[2]);
	default:
		return ioctl(fd, (unsigned long)a[1], (void *)a[2]);
	}
}

/*
 * syscall(3) as libc's, except for the numbers that close or copy
 * descriptors, and the data, fcntl and ioctl calls on a number the map
 * knows, which go through the shim as their libc names do, and a raw
 * clone without CLONE_VM or a stack (a fork), whose child starts afresh.
 */
KP_EXPORT long
syscall(long nr, ...)
{
	long a[6], r;
	va_list ap;

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	switch (nr) {
	case SYS_close:
		return close((int)a[0]);
	case SYS_close_range:
		return close_range((unsigned)a[0], (unsigned)a[1], (int)a[2]);
	case SYS_dup:
		return dup((int)a[0]);
#ifdef SYS_dup2
	case SYS_dup2:
		return dup2((int)a[0], (int)a[1]);
#endif
	case SYS_dup3:
		return dup3((int)a[0], (int)a[1], (int)a[2]);
	case SYS_read:
	case SYS_write:
	case SYS_readv:
	case SYS_writev:
	case SYS_sendto:
	case SYS_recvfrom:
	case SYS_sendmsg:
	case SYS_recvmsg:
	case SYS_shutdown:
	case SYS_fcntl:
	case SYS_ioctl:
		if (kp__fd_is_mapped((int)a[0]))
			return sock_syscall(nr, a);
		break;
	case SYS_pipe:
	case SYS_pipe2:
		r = kp__syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		if (r == 0)
			kernel_new_pair((const int *)a[0]);
		return r;
	case SYS_clone:
		if ((a[0] & CLONE_VM) || a[1] != 0)
			break;
		r = kp__syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		if (r == 0)
			kp__fork_child();
		return r;
	}
	r = kp__syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (makes_number(nr) || (nr == SYS_fcntl && (a[1] == F_DUPFD ||
						      a[1] == F_DUPFD_CLOEXEC)))
		kp__fd_kernel_new(r);
	return r;
}

/* -- pipe -- */

KP_EXPORT int
pipe2(int fds[2], int flags)
{
	long r = kp__syscall(SYS_pipe2, fds, flags);

	if (r == 0)
		kernel_new_pair(fds);
	return (int)r;
}

KP_EXPORT int
pipe(int fds[2])
{
	return pipe2(fds, 0);
}

/* -- clone -- */

static int
clone_child(void *p)
{
	struct clone_start *cs = p;

	kp__fork_child();
	return cs->fn(cs->arg);
}

typedef int (*clone_fn)(int (*)(void *), void *, int, void *, ...);

/*
 * clone(2)'s glibc wrapper. A child with a copy of our memory (no
 * CLONE_VM) starts as a forked child does, since glibc runs no fork
 * handlers for it; the start record on our stack is in its copy.
 */
KP_EXPORT int
clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	clone_fn real = (clone_fn)kp__libc_sym("clone");
	struct clone_start cs = { fn, arg };
	pid_t *ptid, *ctid;
	void *tls;
	va_list ap;

	va_start(ap, arg);
	ptid = va_arg(ap, pid_t *);
	tls = va_arg(ap, void *);
	ctid = va_arg(ap, pid_t *);
	va_end(ap);
	if ((flags & CLONE_VM) || fn == NULL)
		return real(fn, stack, flags, arg, ptid, tls, ctid);
	return real(clone_child, stack, flags, &cs, ptid, tls, ctid);
}

/* -- stdio -- */

static ssize_t
cookie_read(void *c, char *buf, size_t len)
{
	return read((int)(intptr_t)c, buf, len);
}

/* As glibc's own file streams: write until done or an error. */
static ssize_t
cookie_write(void *c, const char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write((int)(intptr_t)c, buf + done, len - done);

		if (n < 0)
			return done > 0 ? (ssize_t)done : -1;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int
cookie_seek(void *c, off64_t *off, int whence)
{
	errno = ESPIPE;
	return -1;
}

static int
cookie_close(void *c)
{
	return close((int)(intptr_t)c);
}

static const cookie_io_functions_t sock_stream = {
	.read	= cookie_read,
	.write	= cookie_write,
	.seek	= cookie_seek,
	.close	= cookie_close,
};

/*
 * fdopen(3). On a ksock socket the stream is a cookie stream that calls
 * the shim (glibc's own streams would reach the placeholder through its
 * internal system calls), with the descriptor as its fileno().
 */
KP_EXPORT FILE *
fdopen(int fd, const char *mode)
{
	FILE *(*real)(int, const char *);
	struct kp_file *f = kp__fd_get(fd);
	FILE *fp;

	if (f == NULL || (f->kind != KP_SOCK && f->kind != KP_REMOTE)) {
		bool stale = f == &kp_stale;

		kp__file_put(f);
		if (stale) {
			errno = EBADF;
			return NULL;
		}
		real = (FILE *(*)(int, const char *))kp__libc_sym("fdopen");
		return real(fd, mode);
	}
	if (mode == NULL || (mode[0] != 'r' && mode[0] != 'w' &&
			     mode[0] != 'a')) {
		kp__file_put(f);
		errno = EINVAL;
		return NULL;
	}
	/* glibc's fdopen sets O_APPEND for "a", as the kernel keeps it. */
	if (mode[0] == 'a')
		atomic_fetch_or(&f->fl, (unsigned)O_APPEND);
	kp__file_put(f);
	fp = fopencookie((void *)(intptr_t)fd, mode, sock_stream);
	if (fp != NULL)
		fp->_fileno = fd;
	return fp;
}

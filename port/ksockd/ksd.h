/*
 * The ksockd client library: the socket calls of one process, served
 * by a ksockd server. Each function mirrors its POSIX namesake and
 * returns -1 with errno on failure. Descriptors are ksockd's numbers
 * (the process's table in the server), not kernel descriptors.
 *
 * Threads: any number may call at once, up to KSD_SLOTS inside a call
 * (the others wait for a slot). A call that blocks in the server holds
 * no server thread. A signal handler that interrupts a call ends it as
 * on Linux (EINTR, or the bytes already moved), or restarts it when it
 * had SA_RESTART and Linux would restart the call: the library learns
 * the handler's flags from the interrupt hook (ksd_set_intr_hook).
 */
#ifndef KSOCK_KSD_H
#define KSOCK_KSD_H

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "proto.h"

/* Attaches the process to the server at @addr (a path, or @NAME for an
 * abstract name). A process started by ksd_execve() claims the
 * descriptors it kept (KSOCKD_TOKEN in the environment). */
int	ksd_attach(const char *addr);
/* Closes every descriptor and detaches (the EXIT label). */
int	ksd_detach(void);

int	ksd_socket(int domain, int type, int protocol);
int	ksd_socketpair(int domain, int type, int protocol, int sv[2]);
int	ksd_bind(int fd, const struct sockaddr *addr, socklen_t len);
int	ksd_listen(int fd, int backlog);
int	ksd_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int	ksd_connect(int fd, const struct sockaddr *addr, socklen_t len);
ssize_t	ksd_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t	ksd_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t	ksd_send(int fd, const void *buf, size_t len, int flags);
ssize_t	ksd_recv(int fd, void *buf, size_t len, int flags);
ssize_t	ksd_sendto(int fd, const void *buf, size_t len, int flags,
		   const struct sockaddr *addr, socklen_t alen);
ssize_t	ksd_recvfrom(int fd, void *buf, size_t len, int flags,
		     struct sockaddr *addr, socklen_t *alen);
/* read(2), write(2), readv(2), writev(2) on a socket, with the
 * boundary's checks (ksp__rw_begin(), ksp__rwv_begin()). */
ssize_t	ksd_read(int fd, void *buf, size_t len);
ssize_t	ksd_write(int fd, const void *buf, size_t len);
ssize_t	ksd_readv(int fd, const struct iovec *iov, int cnt);
ssize_t	ksd_writev(int fd, const struct iovec *iov, int cnt);
int	ksd_shutdown(int fd, int how);
/* Whether a receive into a buffer the library finds it cannot write
 * goes straight into the caller's buffers (KSD_F_DIRECT), so that it
 * fails inside the server's copy, rather than through the window (good
 * buffers always do): true until a server has said it cannot reach this
 * process's memory. */
bool	ksd_copies_direct(void);
int	ksd_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int	ksd_setsockopt(int fd, int level, int name, const void *val,
		       socklen_t len);
int	ksd_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int	ksd_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
/* FIONREAD/SIOCINQ, SIOCOUTQ, SIOCATMARK, FIONBIO, FIOASYNC on an int. */
int	ksd_ioctl(int fd, unsigned long req, int *arg);
/*
 * F_GETFL, F_SETFL (O_NONBLOCK, O_ASYNC), F_GETFD, F_SETFD, F_SETOWN,
 * F_GETOWN (a process group owner is negative, errno untouched),
 * F_SETSIG, F_GETSIG. The owner gets SIGIO or F_SETSIG's signal
 * (docs/ksockd.md, "O_ASYNC"), and SIGURG.
 */
int	ksd_fcntl(int fd, int cmd, int arg);
int	ksd_poll(struct pollfd *fds, nfds_t n, int timeout);
int	ksd_close(int fd);
int	ksd_dup(int fd);
int	ksd_dup3(int fd, int newfd, int flags);
/* fork(2): the child inherits the process's ksockd descriptors. */
pid_t	ksd_fork(void);
/* execve(2): descriptors without FD_CLOEXEC survive into the new
 * program, which claims them with ksd_attach(). */
int	ksd_execve(const char *path, char *const argv[], char *const envp[]);
/* What the server holds (for tests). */
int	ksd_status(struct ksd_status *st);
/*
 * One page of the server's socket listing (KSD_DIAG, for ksockstat):
 * ksock's diag wire format, the sockets from id @from on, each with the
 * pids holding it, into @buf (@len bytes; a window's worth suffices).
 * *@next: the id to ask from next, 0 when the listing is complete.
 * Returns the bytes, or -1/errno (EMSGSIZE: @len holds no socket).
 */
ssize_t	ksd_diag(uint64_t from, void *buf, size_t len, uint64_t *next);

/*
 * ppoll(2) over ksockd descriptors (@fds, @n) and kernel descriptors
 * (@kfds, @nk) at once: returns how many entries of both arrays have
 * revents, 0 at @timeout (NULL: none), or -1 with errno (EINTR when a
 * signal came first and nothing was ready; @sigmask as ppoll's, applied
 * while waiting). The ksockd entries wait in the server, the kernel
 * ones in the kernel, and the first to be ready ends both waits.
 */
int	ksd_poll_mixed(struct pollfd *fds, nfds_t n, struct pollfd *kfds,
		       nfds_t nk, const struct timespec *timeout,
		       const sigset_t *sigmask);

/*
 * Signals. A handler that interrupts the wait for a reply makes the
 * library call the interrupt hook, on the interrupted thread, after the
 * handler ran: it returns non-zero when the handler had SA_RESTART
 * (the call is then restarted where Linux restarts it), 0 for EINTR.
 * NULL restores the default, ksd_intr_restarts().
 */
void	ksd_set_intr_hook(int (*hook)(void));
/*
 * The default hook: whether every handler that ran on this thread
 * since the current call began, among those installed through
 * ksd_sigaction(), had SA_RESTART. When none of those ran (handlers
 * installed with the C library's sigaction), the process's catching
 * handlers decide: 0 when none has SA_RESTART, else 1. Resets what it
 * read.
 */
int	ksd_intr_restarts(void);
/*
 * sigaction(2), with the handler run through a trampoline that notes
 * its SA_RESTART for ksd_intr_restarts(); @old reports what the program
 * installed. SIG_DFL and SIG_IGN are installed as they are.
 */
int	ksd_sigaction(int sig, const struct sigaction *act,
		      struct sigaction *old);
/* The sigaction that ksd_sigaction() calls underneath (NULL: the C
 * library's). A preload library that interposes sigaction with
 * ksd_sigaction passes the next one (dlsym(RTLD_NEXT, "sigaction")), or
 * the two would call each other. */
void	ksd_set_real_sigaction(int (*real)(int, const struct sigaction *,
					   struct sigaction *));

/*
 * SCM_RIGHTS carries kernel descriptors too (pipes, files, kernel
 * sockets): they really move to the receiving process, which gets
 * kernel descriptors in its control message. The library asks the
 * classifier which numbers of a sent control message are kernel
 * descriptors (non-zero) rather than the process's ksockd ones; NULL
 * restores the default, ksd_fd_is_kernel().
 */
void	ksd_set_fd_classifier(int (*is_kernel)(int fd));
/* The default classifier: @fd is open in the kernel and is not a
 * ksockd descriptor of the process (no request for a number the
 * library knows open in the server, one F_GETFD request for any other
 * number open in the kernel). */
int	ksd_fd_is_kernel(int fd);

/*
 * For a front end that keeps a descriptor map of its own (ksock-run's
 * library, port/preload/remote.c). These return -errno, not -1/errno.
 */
/* Whether the process is attached. */
bool	ksd__attached(void);
/* The kernel descriptor of the connection to the server, or -1. */
int	ksd__conn_fd(void);
/* Whether @fd is one of the library's own kernel descriptors (the
 * connection, a slot's notifier). */
bool	ksd__private_fd(int fd);
/* Makes every slot's notifier now (they are made on first use
 * otherwise): a front end whose descriptors share the program's number
 * space has them before the program looks at its descriptors. Returns
 * 0 or -errno. */
int	ksd__notifiers_open(void);
/* Those descriptors into @out (room for KSD_SLOTS + 1); their count. */
int	ksd__private_fds(int *out);
/* One request of @label with @flags (KSD_F_*), @fd, @a0..@a2 and @inlen
 * bytes of @inl (at most KSD_INLINE); the reply goes to @rep. Returns
 * rep->ret: >= 0, or -errno (-EBADF when not attached). */
long	ksd__request(uint32_t label, uint32_t flags, int fd, int a0, int a1,
		     int a2, const void *inl, size_t inlen, struct ksd_rep *rep);
/* Closes the server's descriptor @fd, which the caller knows open (its
 * own table says so: the close cannot fail), without waiting for the
 * reply when the server watches this client; the server still runs it
 * before any request made after it (docs/ksockd.md, "Closes without a
 * reply"). */
void	ksd__close_nowait(int fd);
/* fork(2) in the two halves pthread_atfork() runs: before, the FORK
 * request's token; in the child, its own attachment (the parent's
 * connection and region are left to the parent), claiming @token (0: a
 * fresh table), or with !@reattach none: the child is only detached. */
int	ksd__fork_token(uint64_t *token);
/* Attaches again with the process's descriptors (a FORK hand-over it
 * claims itself), so that the server takes its identity and umask anew
 * (after setuid(2), umask(2)). No other thread may be inside a call. */
int	ksd__reattach(void);
/* Tells the server that the calling thread moved to another network
 * namespace (unshare(2), setns(2)): the server reads the process's
 * again (its main thread's), and from now on this thread's calls name
 * it (KSD_F_THREAD_NS), so the sockets it makes take its own
 * namespace's abstract names. Returns 0, or -1/errno. */
int	ksd__netns_changed(void);
int	ksd__fork_child(uint64_t token, bool reattach);
/*
 * KSD_WATCH (proto.h): a persistent watch @id of the @n entries @ents
 * (read back with the server's revents, last and inq); @report: how many
 * ready entries the caller reports now (0: a look that changes nothing).
 * With @create the watch is new and *@wfd gets its kernel socket, which
 * the server makes readable when the watch rings. Returns the entries
 * reported (ready, with @report 0), or -errno: EMFILE (KSD_WATCH_MAX),
 * ENOENT (no such watch: the connection is another), EBADF (detached).
 */
int	ksd__watch(int id, bool create, struct ksd_watchfd *ents, unsigned n,
		   int report, int *wfd);
/* Ends watch @id. Returns 0 or -errno. */
int	ksd__unwatch(int id);
/* A number that changes with each attachment (a watch is its
 * connection's: after a fork or ksd__reattach, make it again). */
unsigned ksd__conn_gen(void);

#endif /* KSOCK_KSD_H */

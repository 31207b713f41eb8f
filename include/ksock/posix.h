/*
 * ksock hosted port: the POSIX personality and simulated processes.
 *
 * Hosted only (needs libc). The personality offers the POSIX socket calls
 * with their usual signatures, returning -1 and setting errno; descriptor
 * numbers index the calling simulated process's own table, which holds
 * ksock sockets and host files (pipes, regular files) side by side, so a
 * test can pass either over SCM_RIGHTS.
 *
 * Simulated processes: every thread runs as one process (pid, real,
 * effective and saved uid/gid, umask, descriptor table). The thread that
 * calls ksp_init() becomes the first process, with the real process's pid
 * and ids. ksp_fork() copies the caller's process (descriptor table
 * included, under a new pid) and runs a function in it on a new thread.
 * A process whose euid is 0 holds every privilege, as root does on Linux.
 */
#ifndef KSOCK_POSIX_H
#define KSOCK_POSIX_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "port.h"

/* -- the hosted port -- */

/*
 * The hosted implementation of struct ks_port. ksp_alloc_* expose its
 * allocation accounting: tests check that nothing stays allocated, and
 * ksp_alloc_fail_at(n) makes the n-th allocation from now fail (0 turns
 * failure injection off).
 */
const struct ks_port *ksp_port(void);
long	ksp_alloc_outstanding(void);	/* allocations not yet freed */
long	ksp_alloc_count(void);		/* allocations made so far */
void	ksp_alloc_fail_at(long n);

/*
 * Starts ksock on the hosted port and makes the calling thread the first
 * simulated process. Returns 0 or -1/errno. Idempotent.
 */
int	ksp_init(void);

/*
 * Ends the calling process's descriptor table and stops ksock. Returns 0,
 * or -1/EBUSY when sockets are still open (a leak the caller should
 * report).
 */
int	ksp_fini(void);

/* -- introspection (port/hosted/diag.c, tools/ksockstat) -- */

/*
 * A snapshot of every open socket of a ksock instance, with the
 * counters: taken in this process, or fetched from another process's
 * diag server. Formats: ss -x like, /proc/net/unix, JSON, the counters.
 */
struct ksp_diag_snapshot;
enum { KSP_DIAG_SS, KSP_DIAG_PROC, KSP_DIAG_JSON, KSP_DIAG_STATS };

/* What to list: bit (1 << KS_SOCK_*) of @types, bit (1 << KS_DIAG_*) of
 * @states (0: all), and names containing @name as /proc/net/unix prints
 * them ('@' for NULs; NULL: all). */
struct ksp_diag_filter {
	unsigned	 types;
	unsigned	 states;
	const char	*name;
};

/* This process's instance (ksock started). 0, or -1/ENOMEM, ESRCH. */
int	ksp_diag_snapshot(struct ksp_diag_snapshot **out);
void	ksp_diag_snapshot_free(struct ksp_diag_snapshot *s);
/* Prints @s in @format (KSP_DIAG_*) to @f. Returns 0 or -1/errno. */
int	ksp_diag_print(FILE *f, const struct ksp_diag_snapshot *s, int format,
		       const struct ksp_diag_filter *flt);
/* Snapshot and print in one: the in-process ksockstat. */
int	ksp_diag_dump(FILE *f, int format, const struct ksp_diag_filter *flt);
/* The wire format the diag server speaks (see port/hosted/diag.c). */
int	ksp_diag_snapshot_write(FILE *f, const struct ksp_diag_snapshot *s);
int	ksp_diag_snapshot_read(FILE *f, struct ksp_diag_snapshot **out);
/*
 * Makes @s a listing with holders (ksockd's): it prints a pids column
 * (ss "pids:", JSON "pids"), "-" for a socket no process holds.
 * Returns 0 or -1/ENOMEM.
 */
int	ksp_diag_with_pids(struct ksp_diag_snapshot *s);
/*
 * Records that the process @pid holds socket @id of @s (and makes @s a
 * listing with holders). Returns 0, or -1/ENOENT (no socket @id in @s),
 * ENOMEM.
 */
int	ksp_diag_add_pid(struct ksp_diag_snapshot *s, uint64_t id, int32_t pid);
/*
 * One page of @s in the wire format: the header, the records of the
 * sockets with id >= @from that fit in @max bytes, the end line.
 * *@next is the id to go on from, 0 when the page holds the rest.
 * Returns the bytes written, or -1/errno (EMSGSIZE: not even one
 * record fits).
 */
long	ksp_diag_snapshot_write_page(FILE *f, const struct ksp_diag_snapshot *s,
				     uint64_t from, size_t max, uint64_t *next);
/* Names ksockstat's filters accept ("listening" or ss's "LISTEN"...):
 * the KS_DIAG_* / KS_SOCK_* value, or -1. */
int	ksp_diag_parse_state(const char *name);
int	ksp_diag_parse_type(const char *name);

/*
 * The diag server: a thread answering on the real abstract socket
 * "\0ksock-diag-<pid>" with a snapshot per connection, for clients of
 * our real uid or root. ksp_init() starts it when KSOCK_DIAG=1 is in the
 * environment; ksp_fini() stops it. Returns 0 (also when running) or
 * -1/errno.
 */
int	ksp_diag_serve(void);
void	ksp_diag_stop(void);
/* The server's address for @pid; returns its length. */
struct sockaddr_un;
socklen_t ksp_diag_addr(pid_t pid, struct sockaddr_un *sun);
/* Fetches a snapshot from @pid's server. 0, or -1/errno (ECONNREFUSED:
 * no server there; EPROTO). */
int	ksp_diag_fetch(pid_t pid, struct ksp_diag_snapshot **out);

/* -- simulated processes -- */

struct ksp_proc;

/*
 * Runs @fn(@arg) as a new process that is a copy of the caller's (new
 * pid, same credentials and umask, a copy of the descriptor table
 * referring to the same open files), on a new thread. When @fn returns,
 * the process's descriptors are closed and its return value is its exit
 * status. Returns the process, or NULL with errno set.
 */
struct ksp_proc *ksp_fork(int (*fn)(void *), void *arg);

/* Waits for @p to end, frees it and returns its exit status. */
int	ksp_wait(struct ksp_proc *p);

/*
 * Sets the calling process's real, effective and saved ids, as
 * setresuid/setresgid would; (uint32_t)-1 leaves one unchanged. Returns 0
 * or -1/EPERM (only a process with euid 0 may change its ids freely).
 */
int	ksp_setresuid(uid_t r, uid_t e, uid_t s);
int	ksp_setresgid(gid_t r, gid_t e, gid_t s);

/* Interrupts a blocking ksock call in @p's thread: it returns EINTR. */
void	ksp_interrupt(struct ksp_proc *p);

/* The number of open descriptors in the calling process's table. */
int	ksp_fd_count(void);

/*
 * setrlimit(2) for the real process (the simulated ones share its
 * limits). The personality caches RLIMIT_NOFILE, which numbers every
 * descriptor table: a change made here is seen at once, one made through
 * libc's setrlimit within 50 ms (a raise at once).
 */
int	ksp_setrlimit(int resource, const struct rlimit *rl);

/* Identity calls that answer for the simulated process. */
pid_t	ksp_getpid(void);
uid_t	ksp_getuid(void);
uid_t	ksp_geteuid(void);
gid_t	ksp_getgid(void);
gid_t	ksp_getegid(void);
mode_t	ksp_umask(mode_t mask);

/*
 * unshare(2) and setns(2) for the calling thread (a simulated process
 * runs on one), which also tell ksock that the thread's network namespace
 * may have changed: sockets it creates afterwards have the abstract names
 * of the new one. ksp_setns takes a descriptor of the simulated process
 * (a namespace file opened with ksp_open). Returns 0, or -1 and errno as
 * the system call.
 */
int	ksp_unshare(int flags);
int	ksp_setns(int fd, int nstype);

/* -- ksock's TCP/IP on a TAP link (port/hosted/tap.c, docs/inet.md) -- */

/*
 * Attaches ksock's TCP/IP to the existing TAP device @ifname in the
 * calling thread's network namespace: an Ethernet interface with a random
 * locally administered MAC and the addresses @v4cidr ("10.77.0.2/24")
 * and @v6cidr ("fd77::2/64"; the prefix must be 64), either of which may
 * be NULL, up at once; its subnets are the only routes besides the
 * loopback. One host thread reads frames and drives the stack's timers
 * until ksp_inet_tap_detach(). Starts ksock (ksp_init) if needed.
 * Returns 0, or -1 with errno: EINVAL (a bad or missing address, a bad
 * name), ENODEV (no such device), EBUSY (a link is attached, or the
 * device is in use), ENOMEM, EPERM, or what opening /dev/net/tun gives;
 * ENXIO where ksock is not started and this library cannot start it
 * (the preload library starts ksock itself).
 */
int	ksp_inet_tap_attach(const char *ifname, const char *v4cidr,
			    const char *v6cidr);

/*
 * Stops the reader thread, removes the interface (connections on its
 * addresses stay, and time out, as on Linux when an interface goes
 * away) and closes the device; nothing stays allocated once no AF_INET
 * socket is left. Returns 0, or -1/ENODEV when
 * nothing is attached.
 */
int	ksp_inet_tap_detach(void);

/*
 * Waits up to @timeout_ms milliseconds until no TCP connection across
 * the link holds data or a FIN its peer has not acknowledged (closed
 * connections included), the reader thread carrying on meanwhile: what
 * a process calls before it ends, as Linux's kernel would finish
 * sending after the program exited. Returns 0, or -1 with errno:
 * ETIMEDOUT (still in flight at the deadline), ENODEV (nothing
 * attached), EINVAL (a negative @timeout_ms).
 */
int	ksp_inet_tap_drain(int timeout_ms);

/* -- the POSIX personality: -1 and errno on failure -- */

int	ksp_socket(int domain, int type, int protocol);
int	ksp_socketpair(int domain, int type, int protocol, int sv[2]);
int	ksp_bind(int fd, const struct sockaddr *addr, socklen_t len);
int	ksp_listen(int fd, int backlog);
int	ksp_accept(int fd, struct sockaddr *addr, socklen_t *len);
int	ksp_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int	ksp_connect(int fd, const struct sockaddr *addr, socklen_t len);
ssize_t	ksp_send(int fd, const void *buf, size_t len, int flags);
ssize_t	ksp_sendto(int fd, const void *buf, size_t len, int flags,
		   const struct sockaddr *addr, socklen_t alen);
ssize_t	ksp_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t	ksp_recv(int fd, void *buf, size_t len, int flags);
ssize_t	ksp_recvfrom(int fd, void *buf, size_t len, int flags,
		     struct sockaddr *addr, socklen_t *alen);
ssize_t	ksp_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t	ksp_read(int fd, void *buf, size_t len);
ssize_t	ksp_write(int fd, const void *buf, size_t len);
ssize_t	ksp_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t	ksp_writev(int fd, const struct iovec *iov, int iovcnt);
/* struct mmsghdr is <sys/socket.h>'s under _GNU_SOURCE. */
struct mmsghdr;
struct timespec;
int	ksp_sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags);
int	ksp_recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags,
		     struct timespec *timeout);
int	ksp_close(int fd);
int	ksp_shutdown(int fd, int how);
int	ksp_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int	ksp_setsockopt(int fd, int level, int name, const void *val,
		       socklen_t len);
int	ksp_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int	ksp_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
int	ksp_fcntl(int fd, int cmd, ...);
int	ksp_ioctl(int fd, unsigned long req, ...);
int	ksp_poll(struct pollfd *fds, nfds_t nfds, int timeout);
int	ksp_dup(int fd);
int	ksp_dup2(int fd, int newfd);
int	ksp_dup3(int fd, int newfd, int flags);
int	ksp_pipe(int fds[2]);
int	ksp_pipe2(int fds[2], int flags);
int	ksp_open(const char *path, int flags, ...);
int	ksp_fstat(int fd, struct stat *st);

#endif /* KSOCK_POSIX_H */

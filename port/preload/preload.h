/*
 * Internals of the preload port (libksock-preload.so). Not a public header.
 *
 * The preload library runs inside a real, unmodified, dynamically linked
 * program. It interposes the libc socket and descriptor calls: AF_UNIX
 * sockets are served by ksock, everything else goes to the Linux kernel
 * through raw system calls (never through libc's names, which this
 * library itself defines).
 *
 * Objects:
 *   struct kp_file   an open file as ksock and the descriptor map see it:
 *                    a ksock socket, an epoll instance that watches ksock
 *                    sockets, or (in flight over SCM_RIGHTS only) a
 *                    duplicate of a kernel descriptor.
 *   descriptor map   fd number -> struct kp_file, for the numbers that are
 *                    not plain kernel descriptors. A ksock socket's number
 *                    is reserved in the kernel by a placeholder descriptor
 *                    (an O_PATH descriptor of this library's file), so the
 *                    kernel never hands the number out while ksock uses it,
 *                    and the placeholder carries FD_CLOEXEC.
 *
 * Reference counts: refs counts descriptor-map entries and messages in
 * flight; the last one closes what the file holds (ks_close, close(2)).
 * mem counts refs != 0 as one, plus epoll items that watch the file, and
 * frees the memory. An epoll item notices that its socket was closed when
 * refs has dropped to zero, as Linux drops an epoll item with the last
 * reference to its file.
 *
 * Locks, in the order they are taken:
 *   epoll   (ep->lock)       the item list of one epoll instance
 *   item    (it->lock)       ks_poll()/ks_poll_remove() on one item
 *   ksock's own locks
 *   chunk   (chunk->lock)    a chunk of the descriptor map; a leaf, held
 *                            only to read an entry and take a reference
 * Wake callbacks run under ksock's locks and touch only atomics and
 * eventfds.
 */
#ifndef KSOCK_PORT_PRELOAD_H
#define KSOCK_PORT_PRELOAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ksock/ksock.h>

enum kp_kind {
	KP_SOCK,	/* a ksock socket behind a placeholder descriptor */
	KP_EPOLL,	/* a real epoll descriptor that also watches sockets */
	KP_HOST,	/* a duplicate of a kernel descriptor, in flight */
	KP_STALE,	/* a socket inherited over fork: unusable (EBADF) */
	KP_REMOTE,	/* a socket in a ksockd server (remote.c) */
};

struct kp_epoll;
struct kp_async;

/* A remote socket's open file state, as Linux keeps it in struct file:
 * shared by the descriptors dup made of it (remote.c). */
struct kp_rdesc {
	atomic_long	 refs;		/* [A] remote files that share it */
	/* O_APPEND, O_NOATIME; O_ASYNC, F_SETSIG's signal and the owner
	 * are the server's (the open file's, shared between processes). */
	atomic_uint	 fl;		/* [A] */
};

struct kp_file {
	atomic_long	 refs;		/* [A] open references */
	atomic_long	 mem;		/* [A] memory references */
	enum kp_kind	 kind;		/* [I] */
	struct ks_sock	*so;		/* [I] KP_SOCK */
	int		 hostfd;	/* [I] KP_HOST */
	struct kp_epoll	*ep;		/* [I] KP_EPOLL */
	/* The open file's own state, as Linux keeps it in struct file. */
	atomic_uint	 fl;		/* [A] O_APPEND, O_ASYNC, O_NOATIME */
	atomic_int	 sig;		/* [A] F_SETSIG's signal, 0: SIGIO */
	atomic_bool	 nospace;	/* [A] a send found no room (SIGIO) */
	struct kp_async	*async;		/* [async lock] O_ASYNC's entry */
	/* KP_REMOTE: the server's number, which is the program's too. */
	int		 rfd;		/* [I] */
	atomic_bool	 rkeep;		/* [A] rfd now holds another file:
					 * the release does not close it */
	struct kp_rdesc	*rd;		/* [I] */
};

/* Internal to the library: not among its dynamic symbols. */
#pragma GCC visibility push(hidden)

/*
 * Raw system calls: the library must not call the names it interposes,
 * and it interposes syscall(3) itself (close.c), so inside the library
 * syscall() is libc's, reached through kp__syscall().
 */
long	kp__syscall(long nr, ...);
#define syscall		kp__syscall
#define sys_close(fd)	syscall(SYS_close, (long)(fd))

/* The stale marker that replaces inherited sockets in a forked child. */
extern struct kp_file kp_stale;

/* port.c */
const struct ks_port *kp__port(void);
int	kp__placeholder(bool cloexec);
long	kp__alloc_outstanding(void);
int	kp__fd_move_high(int fd);

/* fdmap.c */
#define KP_MAX_FD	(1 << 20)	/* Linux's default fs.nr_open */
struct kp_file *kp__file_new(enum kp_kind kind);
void	kp__file_hold(struct kp_file *f);
void	kp__file_put(struct kp_file *f);
void	kp__file_mem_hold(struct kp_file *f);
void	kp__file_mem_put(struct kp_file *f);
struct kp_file *kp__fd_get(int fd);
bool	kp__fd_take_if(int fd, struct kp_file *f);
void	kp__fd_kernel_new(long fd);
const char *kp__placeholder_path(void);
bool	kp__fd_is_mapped(int fd);
void	kp__fd_set(int fd, struct kp_file *f);
struct kp_file *kp__fd_take(int fd);
void	kp__fd_stale_all(void);
/* Every remote entry becomes the stale marker (one thread only). */
void	kp__fd_stale_remote(void);
void	kp__fd_take_range(unsigned first, unsigned last);
int	kp__fd_count(void);

/* shim.c */
bool	kp__ready(void);
void	kp__ensure_init(void);
bool	kp__in_vfork_child(void);
void	kp__fork_child(void);
int	kp__install_sock(struct ks_sock *so, bool cloexec);

/* close.c */
/* libc's own definition of @name (the next one after this library). */
void	*kp__libc_sym(const char *name);
void	kp__fd_close_range(unsigned first, unsigned last, unsigned flags);

/* async.c: O_ASYNC */
int	kp__async_set(int fd, struct kp_file *f, bool on);
void	kp__async_free(struct kp_file *f);
void	kp__async_self(struct ks_sock *so);
void	kp__async_end(struct ks_sock *so);
void	kp__async_flush(void);
void	kp__async_nospace(struct kp_file *f);

/* diag.c */
void	kp__diag_start(void);

/* inet.c: AF_INET/AF_INET6 sockets (KSOCK_RUN_INET) */
/* Reads the mode, once, at the library's start. 0, or -EINVAL (an
 * unknown mode, said on stderr). */
int	kp__inet_init(void);
/* Whether ksock serves some Internet sockets (the mode is not off). */
bool	kp__inet_on(void);
/* Whether socket(@domain, @type, @protocol) is ksock's: an AF_INET or
 * AF_INET6 TCP or UDP socket, in a mode that serves them. */
bool	kp__inet_serves(int domain, int type, int protocol);
/* Before a served socket is made: in tap mode, attaches the link the
 * first time. 0, or the attach's -errno (every time). */
int	kp__inet_link(void);
/* In a forked child (one thread): in tap mode after the parent
 * attached, every later served socket() fails with ENETDOWN. */
void	kp__inet_fork_child(void);
/* Whether @so is an AF_INET or AF_INET6 socket. */
bool	kp__is_inet_sock(struct ks_sock *so);

/* epoll.c */
void	kp__epoll_free(struct kp_epoll *ep);
/* Makes @ep's kernel descriptor readable exactly while one of its socket
 * items is ready (before a poll or an outer epoll asks the kernel). */
void	kp__epoll_refresh(struct kp_epoll *ep);
/* Around a receive on @so: notes the socket this thread reads from, so
 * that the wake-up a reader causes on its own socket is no event for
 * epoll. begin returns what end must be given back (receives nest when
 * a signal handler reads). */
struct ks_sock *kp__reading_begin(struct ks_sock *so);
void	kp__reading_end(struct ks_sock *outer);

/* remote.c: sockets in a ksockd server (ksock-run --ksockd). Results
 * are -errno. */
struct pollfd;
struct stat;
struct sockaddr;
void	kp__remote_init(void);
/* socket(2) of the client library built in (mk/preload.mk renames its
 * calls): the kernel's, placed high. */
int	kp__kernel_socket(int domain, int type, int protocol);
int	kp__kernel_close(int fd);
mode_t	kp__kernel_umask(mode_t mask);
/* After the calling process moved to another network namespace
 * (unshare, setns): the server is told, as after a set*id call. */
void	kp__remote_netns_changed(void);
/* Whether AF_UNIX sockets are the server's (KSOCK_RUN_KSOCKD). */
bool	kp__remote_on(void);
int	kp__remote_socket(int domain, int type, int protocol);
int	kp__remote_socketpair(int domain, int type, int protocol, int sv[2]);
int	kp__remote_accept(struct kp_file *f, struct sockaddr *addr,
			  unsigned *len, int flags);
/* The socket call @call (boundary.h's numbering) with its arguments
 * after the descriptor. */
long	kp__remote_call(struct kp_file *f, int call, const long a[5]);
long	kp__remote_fcntl(struct kp_file *f, int cmd, long arg);
int	kp__remote_ioctl(struct kp_file *f, unsigned long req, void *arg);
int	kp__remote_fstat(struct kp_file *f, struct stat *ust);
/* After the kernel made @nfd a copy of @f's number: the server's too,
 * and the map. */
void	kp__remote_dup(struct kp_file *f, int nfd, bool cloexec);
/* After F_SETFD/FIOCLEX/FIONCLEX on the placeholder: the server's. */
void	kp__remote_cloexec(struct kp_file *f, bool on);
/* The last reference to a remote file is gone: the server's number
 * closes (unless it holds another file now). */
void	kp__remote_release(struct kp_file *f);
/* Whether @fds names a remote socket; poll over them (deadline in
 * monotonic ns, -1: none; @mask as ppoll's). */
bool	kp__remote_in(const struct pollfd *fds, unsigned long nfds);
int	kp__remote_poll(struct pollfd *fds, unsigned long nfds,
			int64_t deadline, const sigset_t *mask);
/* close_range(2) in the kernel, sparing the connection to the server
 * (the program does not know it). Returns 0 or -1/errno. */
long	kp__remote_close_range(unsigned first, unsigned last, unsigned flags);
/* CLOSE_RANGE_CLOEXEC over [@first, @last]: the server's flags too. */
void	kp__remote_cloexec_range(unsigned first, unsigned last);
/* Whether @fd is the library's own connection to the server, which
 * close(2) from the program leaves open. */
bool	kp__remote_private(int fd);
/* epoll over remote sockets (level-triggered, EPOLLONESHOT; an
 * edge-triggered item reports a change of its readiness or new bytes),
 * kept in the instance's *@rp under its lock: ctl returns 0 or -errno;
 * scan asks the server without waiting and fills at most @max events,
 * -1 when there is no remote item; *@watched says that the server's
 * watch (KSD_WATCH) of the items is armed, so that its kernel socket,
 * in the instance's kernel set with the data KP_EP_REMOTE_MAGIC, becomes
 * readable when one may be ready (else the caller waits in steps). arm,
 * after a ctl on the kernel instance @epfd: makes the watch (the first
 * time) or arms it again for the items now; refresh arms it again, so
 * that the kernel sees the instance readable exactly when an item is
 * ready. */
#define KP_EP_REMOTE_MAGIC	0x6b736f636b2d7265ULL	/* "ksock-re" */
struct kp_repoll;
struct epoll_event;
int	kp__remote_epoll_ctl(struct kp_repoll **rp, int op, int fd,
			     const struct epoll_event *ev);
int	kp__remote_epoll_scan(struct kp_repoll *r, struct epoll_event *out,
			      int max, bool *watched);
void	kp__remote_epoll_arm(struct kp_repoll *r, int epfd);
void	kp__remote_epoll_refresh(struct kp_repoll *r);
void	kp__remote_epoll_free(struct kp_repoll *r);
/* A clone() child that ran no fork handler: remote sockets go stale. */
void	kp__remote_clone_child(void);

/*
 * What decides whether a socket may move to a kernel socket (a peer
 * outside ksock: shim.c's move_to_kernel), and what moves along.
 */
struct kp_movable {
	int		family;		/* AF_UNIX, AF_INET... */
	int		type;		/* SOCK_STREAM, SOCK_DGRAM... */
	struct ks_sockaddr_storage name;	/* its own name */
	uint32_t	nlen;		/* the name's length */
	bool		peer;		/* connected, or a connection's end */
	int		inq;		/* bytes or datagrams queued (SIOCINQ) */
	bool		nonblock;	/* O_NONBLOCK */
};
/* @f's state for a move (the server's answers). Returns 0 or -errno. */
int	kp__remote_movable(struct kp_file *f, struct kp_movable *m);

/* Counters for the summary line (KSOCK_RUN_STATS). */
struct kp_stats {
	atomic_long	sockets;	/* created by socket() */
	atomic_long	pairs;		/* created by socketpair() */
	atomic_long	accepted;
	atomic_long	sends;
	atomic_long	recvs;
	atomic_long	bytes_sent;
	atomic_long	polls;		/* poll/select/epoll waits with ksock fds */
	atomic_long	passed;		/* descriptors received over SCM_RIGHTS */
	atomic_long	inet;		/* AF_INET/AF_INET6 of sockets+accepted */
};
extern struct kp_stats kp_stats;

#pragma GCC visibility pop

#endif /* KSOCK_PORT_PRELOAD_H */

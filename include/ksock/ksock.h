/*
 * ksock object API: what a kernel's system-call layer calls.
 *
 * Every function returns a value >= 0 on success or a negative -KS_E*
 * (equal to -errno on Linux). Sockets are objects, not descriptors: the
 * host keeps its own descriptor table and maps each open socket file to
 * one struct ks_sock, calling ks_close() when the last reference to that
 * file goes away.
 *
 * Memory rules (see port.h): addresses, option values, the ks_msghdr and
 * its iovec array are kernel memory; the bytes behind iov_base and
 * msg_control and ioctl arguments are user memory.
 *
 * Freestanding: only ksock's headers and <stddef.h>/<stdint.h>/<stdbool.h>.
 */
#ifndef KSOCK_KSOCK_H
#define KSOCK_KSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi.h"
#include "port.h"

struct ks_sock;

/*
 * The library's version, "MAJOR.MINOR.PATCH", as KS_VERSION_STRING in
 * <ksock/version.h> was when the library was built. A program compares
 * it with the header's to tell a library from another release. Static
 * storage; callable before ks_init().
 */
const char *ks_version(void);

/*
 * Starts ksock with @port, which must outlive it. Returns 0, or
 * -KS_EINVAL when the table is of an unknown version or too small.
 */
int	ks_init(const struct ks_port *port);

/*
 * Stops ksock. Every socket must have been closed; cycles of sockets in
 * flight that nothing can reach any more are collected first (on a host
 * that does not report dropped file references, the last of them may be
 * waiting for this). Returns 0, or -KS_EBUSY while sockets remain.
 */
int	ks_fini(void);

/*
 * Starts ksock afresh in a process the host has just forked, from the
 * child's only thread, before anything else in the child calls ksock.
 * Another thread of the parent may have held any ksock lock at the fork,
 * so nothing inherited is touched: every inherited socket is abandoned
 * (the host must forget its references to them and never pass them to
 * ksock again; their memory stays as the fork copied it), and the child
 * gets empty name tables and counters, as if ks_init() had just run.
 * Returns 0, or what ks_init() returns.
 */
int	ks_fork_child(void);

/* The port ksock runs on (for other ksock modules such as the resolver). */
const struct ks_port *ks_port(void);

/*
 * Creates a socket. @type may carry KS_SOCK_NONBLOCK (kept on the socket)
 * and KS_SOCK_CLOEXEC (ignored here: descriptors are the host's). Returns
 * 0 with *@out holding the caller's reference, or -KS_EAFNOSUPPORT,
 * -KS_ESOCKTNOSUPPORT, -KS_EPROTONOSUPPORT, -KS_EINVAL, -KS_ENOMEM.
 */
int	ks_socket(int domain, int type, int protocol, struct ks_sock **out);

/* Creates a connected pair (out[0], out[1]); errors as ks_socket(). */
int	ks_socketpair(int domain, int type, int protocol, struct ks_sock *out[2]);

/*
 * Drops the host's reference: the socket is shut down, its peer told, and
 * its memory freed once nothing else refers to it. Always returns 0.
 */
int	ks_close(struct ks_sock *so);

/* bind(2), listen(2), connect(2): errors as Linux. */
int	ks_bind(struct ks_sock *so, const void *addr, uint32_t addrlen);
int	ks_listen(struct ks_sock *so, int backlog);
int	ks_connect(struct ks_sock *so, const void *addr, uint32_t addrlen);

/*
 * accept4(2). @flags may hold KS_SOCK_NONBLOCK and KS_SOCK_CLOEXEC.
 * On success *@out holds the new socket; when @addr is not NULL the
 * peer's address is written (truncated to *@addrlen) and *@addrlen set to
 * its full length.
 */
int	ks_accept(struct ks_sock *so, int flags, struct ks_sock **out,
		  void *addr, uint32_t *addrlen);

/*
 * sendmsg(2) / recvmsg(2): the one send path and the one receive path
 * that send, sendto, write, writev, recv, recvfrom, read and readv are
 * built on. Return the byte count or -KS_E*. recvmsg sets msg_flags,
 * msg_namelen and msg_controllen as Linux does. What is user memory
 * (reached only through the port's copy hooks, so a bad pointer gives
 * -KS_EFAULT): the buffers the iovecs point at, and recvmsg's
 * msg_control. Kernel memory, which the host copies in (and out) as
 * Linux's ___sys_sendmsg/___sys_recvmsg do: the msghdr, its iovec
 * array, msg_name, and sendmsg's msg_control.
 */
long	ks_sendmsg(struct ks_sock *so, const struct ks_msghdr *msg, int flags);
long	ks_recvmsg(struct ks_sock *so, struct ks_msghdr *msg, int flags);

/* shutdown(2). */
int	ks_shutdown(struct ks_sock *so, int how);

/*
 * getsockname(2) / getpeername(2): writes at most *@addrlen bytes to
 * @addr and sets *@addrlen to the full length.
 */
int	ks_getsockname(struct ks_sock *so, void *addr, uint32_t *addrlen);
int	ks_getpeername(struct ks_sock *so, void *addr, uint32_t *addrlen);

/*
 * getsockopt(2) / setsockopt(2). @val is kernel memory; getsockopt writes
 * at most *@len bytes and sets *@len as Linux does: also when it fails
 * with -KS_ERANGE (SO_PEERGROUPS into too small a buffer), where *@len
 * becomes the length needed, which the host copies back to optlen.
 */
int	ks_getsockopt(struct ks_sock *so, int level, int name, void *val,
		      uint32_t *len);
int	ks_setsockopt(struct ks_sock *so, int level, int name,
		      const void *val, uint32_t len);

/*
 * ioctl(2) for KS_FIONREAD/KS_SIOCINQ, KS_SIOCOUTQ, KS_SIOCATMARK (an int
 * written to user memory @arg) and KS_FIONBIO (an int read from @arg).
 * Returns 0, -KS_EFAULT, -KS_EINVAL (FIONREAD on a listener), or
 * -KS_ENOTTY for a command sockets do not know, as Linux.
 */
int	ks_ioctl(struct ks_sock *so, unsigned long cmd, void *arg);

/* The O_NONBLOCK file flag, which ksock keeps on the socket. */
void	ks_set_nonblock(struct ks_sock *so, bool on);
bool	ks_is_nonblock(const struct ks_sock *so);

/* F_SETOWN / F_GETOWN: who gets SIGURG (a pid, or -pgrp). */
void	ks_set_owner(struct ks_sock *so, int32_t owner);
int32_t	ks_get_owner(const struct ks_sock *so);

/* The socket's family and type, for the host's fstat and the like. */
int	ks_sock_family(const struct ks_sock *so);
int	ks_sock_type(const struct ks_sock *so);
/* An inode-like number, unique among live sockets, never reused soon. */
uint64_t ks_sock_id(const struct ks_sock *so);

/*
 * Poll and wake-up callbacks, for a kernel's poll/select/epoll.
 *
 * The caller owns a struct ks_poll_entry and fills .wake and .arg; the
 * rest is ksock's. ks_poll() returns the current readiness (KS_POLL*) and,
 * when @pe is not NULL, registers @pe on @so (and, for a datagram socket
 * whose peer's queue is full, on that peer too) until ks_poll_remove().
 * Calling ks_poll() again with a registered @pe re-registers it for the
 * socket's current state. An entry is registered on at most one socket.
 *
 * .wake is called with @events that may have changed (a hint; call
 * ks_poll() for the truth). It runs with ksock locks held: it may only
 * record the event and unpark a thread; it must not call into ksock.
 */
struct ks_poll_entry;
struct ks_poll_link {
	struct ks_poll_link	*next, *prev;	/* ksock's */
	struct ks_poll_entry	*entry;		/* ksock's */
	struct ks_sock		*so;		/* ksock's: holds a reference */
};
struct ks_poll_entry {
	void	(*wake)(struct ks_poll_entry *pe, unsigned events);
	void	 *arg;
	struct ks_poll_link link[2];		/* ksock's */
};

unsigned ks_poll(struct ks_sock *so, struct ks_poll_entry *pe);
void	 ks_poll_remove(struct ks_poll_entry *pe);

/*
 * Socket references for hosts and other ksock modules: a held socket
 * stays allocated (though it may be closed) until released.
 */
void	ks_sock_hold(struct ks_sock *so);
void	ks_sock_release(struct ks_sock *so);

/*
 * The host dropped a reference to the file behind @so and @refs remain
 * (the last one calls ks_close() instead). The caller holds a socket
 * reference (ks_sock_hold) across the call. This is how the collector
 * frees a cycle of sockets in flight as soon as nothing outside it can
 * reach it; for a socket that is not in flight it costs an atomic load.
 * A host whose port's file_drops_reported() says false need not call it
 * (a call is then ignored: see port.h for when collection happens).
 * No ksock lock may be held.
 */
void	ks_sock_file_dropped(struct ks_sock *so, long refs);

/*
 * Introspection: what Linux's sock_diag reports for AF_UNIX, for tools
 * such as ksockstat (and a kernel's /proc/net/unix).
 *
 * ks_diag_walk() calls @fn(@so, @arg) once for every socket object
 * still allocated. It is safe against sockets created and closed
 * meanwhile: it holds a reference to @so, and no ksock lock, while @fn
 * runs, so @fn may call ks_diag_sock() or any other ks_* call on @so
 * except ks_close(). A closed socket that messages or poll entries still
 * refer to is visited too: ks_diag_sock() answers -KS_ENOENT for it, and
 * a listing skips it, as Linux unhashes a socket at close. A socket
 * created during the walk may or may not be visited. @fn returns 0 to go
 * on; anything else ends the walk and is returned. Returns 0 otherwise.
 * Takes the all-sockets lock between calls, never during one.
 */
int	ks_diag_walk(int (*fn)(struct ks_sock *so, void *arg), void *arg);

/* States ks_diag_sock() reports. */
enum ks_diag_state {
	KS_DIAG_UNCONNECTED = 1,	/* fresh, bound, or a dgram socket
					 * with no default peer */
	KS_DIAG_LISTENING,
	KS_DIAG_CONNECTED,
	KS_DIAG_EMBRYO,			/* connected, not yet accepted */
	KS_DIAG_DISCONNECTED,		/* was connected; the peer closed */
};

/* Shutdown bits in ks_diag_sock.shutdown (Linux's UNIX_DIAG_SHUTDOWN). */
#define KS_DIAG_SHUT_RD		1
#define KS_DIAG_SHUT_WR		2

struct ks_diag_sock {
	uint64_t	 id;		/* ks_sock_id(): the inode-like id */
	int		 family;	/* KS_AF_* */
	int		 type;		/* KS_SOCK_* */
	int		 state;		/* enum ks_diag_state */
	uint32_t	 refcount;	/* references to the object */
	uint32_t	 shutdown;	/* KS_DIAG_SHUT_* */
	uint32_t	 uid, gid;	/* owner: the creator's effective ids */
	uint64_t	 peer_id;	/* connected peer (default peer for
					 * dgram), or 0 */
	/* Bound name: sun_path's bytes; an abstract name starts with its
	 * NUL and may hold more; a path has no terminator. 0: unbound. */
	uint32_t	 name_len;
	unsigned char	 name[KS_UNIX_PATH_MAX];
	struct ks_node_key node;	/* path names: the filesystem node
					 * (host dev, ino), else zeros */
	/* Queues as UNIX_DIAG_RQLEN: unread bytes (a datagram socket: the
	 * first datagram's size) and sent bytes not yet read (SIOCOUTQ);
	 * for a listener, pending connections and the backlog. */
	uint32_t	 rqueue, wqueue;
	uint32_t	 rcv_msgs;	/* messages in the receive queue */
	uint32_t	 rcv_bytes;	/* payload bytes in it */
	/* Listener: connections waiting (as Linux's UNIX_DIAG_ICONS, the
	 * ids of the connecting clients), the first @pending_cap of them
	 * written to @pending, which the caller sets (or NULL, 0). */
	uint32_t	 npending;
	uint32_t	 backlog;
	uint64_t	*pending;
	uint32_t	 pending_cap;
	/* Descriptors: carried by messages in the receive queue, and the
	 * number of times this socket itself is in flight. */
	uint32_t	 fds_queued;
	uint32_t	 inflight;
	/* Memory (UNIX_DIAG_MEMINFO): what the receive queue's messages
	 * cost their senders, SO_RCVBUF, what our sent messages cost
	 * (wmem), SO_SNDBUF, and bytes ksock allocated for this socket
	 * (object, name, receive queue). */
	uint64_t	 rmem_alloc;
	uint32_t	 rcvbuf;
	uint64_t	 wmem_alloc;
	uint32_t	 sndbuf;
	uint64_t	 mem;
};

/*
 * Fills @rec for @so (the caller holds a reference), keeping the
 * caller's rec->pending and rec->pending_cap. Returns 0, or -KS_ENOENT
 * when @so is closed. Takes @so's lock, and briefly its peer's (a
 * listener's pending connections are read under its own lock).
 */
int	ks_diag_sock(struct ks_sock *so, struct ks_diag_sock *rec);

/* Counters since ks_init(). */
struct ks_diag_stats {
	uint64_t	sockets;		/* live socket objects */
	uint64_t	refused_backlog;	/* connects refused or timed
						 * out: the backlog was full */
	uint64_t	refused_nospace;	/* senders that gave up for want
						 * of buffer space (EAGAIN:
						 * non-blocking or timed out),
						 * whether the call then failed
						 * or returned a short count */
	uint64_t	refused_toomanyrefs;	/* SCM_RIGHTS over the
						 * descriptor limit */
	uint64_t	gc_runs;		/* collector runs */
	uint64_t	gc_collected;		/* sockets it freed */
};

/* Fills @out. Always returns 0. */
int	ks_diag_stats(struct ks_diag_stats *out);

#endif /* KSOCK_KSOCK_H */

/*
 * AF_UNIX internals shared by the files of src/unix:
 *
 *   af_unix.c    the family: create, socketpair, close, shutdown, names
 *                reported, ioctls, locking helpers
 *   names.c      path, abstract and automatic names and their table
 *   conn.c       connections: listen, connect (via an embryo socket
 *                queued on the listener), accept, and connection poll
 *   stream.c     SOCK_STREAM data
 *   seqpacket.c  SOCK_SEQPACKET: connections with record boundaries
 *   dgram.c      SOCK_DGRAM data, connect and disconnect
 *   offer.c      single copy: readers take bytes from blocked writers
 *   scm.c        ancillary data: descriptors and credentials (scm.h)
 *   gc.c         collection of unreachable in-flight cycles (scm.h)
 *   diag.c       introspection: the family's part of sock_diag records
 *
 * Locks, in the order they are taken:
 *   names  (unix_names.lock in names.c)  [N] the path and abstract tables
 *   socket (base.lock)                   [S] two sockets are locked lowest
 *                                        address first, by
 *                                        ks__unix_lock_pair() only; a
 *                                        listener's before one of its
 *                                        embryos' (the collector only);
 *                                        a fresh embryo's last, under
 *                                        its client's and listener's
 *                                        (connect, conn.c)
 *   gc     (gc.c)                        [G] the in-flight graph and the
 *                                        per-user in-flight counts
 * Data sends take only the receiver's lock (plus, briefly and before, the
 * sender's own); nothing global sits on the data path. After any lock is
 * dropped and retaken, state is checked again.
 * Tags: [I] immutable after creation, [S] socket lock, [N] names lock,
 *       [G] gc lock, [A] atomic.
 */
#ifndef KSOCK_UNIX_H
#define KSOCK_UNIX_H

#include "core/core.h"
#include "unix/scm.h"

/* net.unix.max_dgram_qlen: a receiver not connected back to the sender
 * takes this many datagrams (plus one) before the sender must wait. */
#define UNIX_MAX_DGRAM_QLEN	10
/* Autobind names are \0 and five hex digits: 2^20 of them. */
#define UNIX_AUTOBIND_NAMES	(1u << 20)
/* The address length of an unbound socket: just sun_family. */
#define UNIX_FAMILY_LEN		((uint32_t)offsetof(struct ks_sockaddr_un, sun_path))

/* A bound name, shared (refcounted) by a listener and its accepted
 * sockets, which report it as their own address. */
struct unix_name {
	atomic_int		refs;		/* [A] */
	uint32_t		len;		/* [I] address length reported */
	uint32_t		hash;		/* [I] for the table (all bits) */
	bool			is_path;	/* [I] */
	struct ks_node_key	key;		/* [I] path names: the node */
	/* [I] path names: when the name entered the table (names.c's bind
	 * generation); a lookup that began before ignores it. */
	uint64_t		gen;
	/* [I] sun_family and sun_path, @len bytes plus a NUL so a 108-byte
	 * path is a C string too. */
	unsigned char		sun[];
};

struct unix_sock {
	struct ks_sock		 base;		/* [I] must be first */
	struct unix_sock	*peer;		/* [S] connected peer (holds a
						 * reference), or NULL */
	/* [S,N] set once when bound; others read it with an acquire load. */
	_Atomic(struct unix_name *) name;
	struct unix_sock	*name_next;	/* [N] table chain */
	struct ks_mqueue	 rcvq;		/* [S] messages to read */
	/* [S] stream: the one-byte message in @rcvq holding the pending
	 * out-of-band byte (the mark is just before it), or NULL. */
	struct ks_mbuf		*oob;
	struct unix_sock	*acc_head;	/* [S] listener: embryos */
	struct unix_sock	*acc_tail;	/* [S] */
	struct unix_sock	*acc_next;	/* [listener's S] queue link */
	uint32_t		 acc_count;	/* [S] */
	int			 backlog;	/* [S] listen backlog, or the
						 * dgram queue limit */
	/* [G] written, [A] read: references to the socket held by queued
	 * messages; a vertex of the in-flight graph while not zero */
	atomic_int		 inflight;
	bool			 dead;		/* [S] closed */
	bool			 reading;	/* [S] a stream reader is copying
						 * out with the lock dropped */
	bool			 embryo;	/* [S] connected, not accepted */
	bool			 hashed;	/* [N] in the name table */
	/* [listener's S] while an embryo: its listener (no reference), for
	 * the collector, which reads it atomically. */
	_Atomic(struct unix_sock *) listener;
	/* [G] the collector's state (scm.h), while a list of descriptors
	 * carries the socket, else NULL */
	struct unix_vertex	*gc;
	/* [I] the network namespace it was created in (port.h netns): its
	 * abstract names live there. */
	uint64_t		 netns;
};

static inline struct unix_sock *
unix_sk(struct ks_sock *so)
{
	return (struct unix_sock *)(void *)so;
}

static inline void
unix_hold(struct unix_sock *u)
{
	ks_sock_hold(&u->base);
}

static inline void
unix_put(struct unix_sock *u)
{
	ks_sock_release(&u->base);
}

static inline void
unix_lock(struct unix_sock *u)
{
	ks__lock(&u->base);
}

static inline void
unix_unlock(struct unix_sock *u)
{
	ks__unlock(&u->base);
}

static inline struct unix_name *
unix_name_of(struct unix_sock *u)
{
	return atomic_load_explicit(&u->name, memory_order_acquire);
}

static inline bool
unix_is_connection_type(const struct unix_sock *u)
{
	return u->base.type == KS_SOCK_STREAM ||
	       u->base.type == KS_SOCK_SEQPACKET;
}

/* Whether @other's queue is too full for a sender it is not connected
 * back to (Linux's unix_recvq_full()). Lock of @other held. */
static inline bool
unix_recvq_is_full_locked(const struct unix_sock *other)
{
	return other->rcvq.count > (uint32_t)other->backlog;
}

/* What an accepted socket takes from its listener at connect time
 * (Linux's sk_scm_recv_flags): SO_PASSCRED, SO_PASSSEC, SO_PASSPIDFD,
 * SO_PASSRIGHTS. */
#define UNIX_OPT_INHERITED	(KS_OPT_PASSCRED | KS_OPT_PASSSEC | \
				 KS_OPT_PASSPIDFD | KS_OPT_NOPASSRIGHTS)

/* Whether @other refuses descriptors (SO_PASSRIGHTS off): a send of
 * SCM_RIGHTS to it is EPERM. Lock of @other held. */
static inline bool
unix_refuses_fds_locked(const struct unix_sock *other)
{
	return ks__has_opt(&other->base, KS_OPT_NOPASSRIGHTS);
}

/* Linux's unix_may_passcred(): SO_PASSCRED or SO_PASSPIDFD, either of
 * which makes messages carry the sender's credentials (and a sender
 * autobind). Socket lock held. */
static inline bool
unix_may_passcred_locked(const struct ks_sock *so)
{
	return (so->optflags & (KS_OPT_PASSCRED | KS_OPT_PASSPIDFD)) != 0;
}

/* Poll bits for "may write". */
#define UNIX_POLL_OUT	(KS_POLLOUT | KS_POLLWRNORM | KS_POLLWRBAND)
#define UNIX_POLL_IN	(KS_POLLIN | KS_POLLRDNORM)

/* -- af_unix.c -- */

/* Creates an AF_UNIX socket of @type (already mapped: no SOCK_RAW). */
int	ks__unix_create(int type, struct unix_sock **out);
/* Locks @a and @b (either may be NULL or both the same), lowest address
 * first. */
void	ks__unix_lock_pair(struct unix_sock *a, struct unix_sock *b);
void	ks__unix_unlock_pair(struct unix_sock *a, struct unix_sock *b);
/* Our connected peer with a reference, or NULL. Takes @u's lock. */
struct unix_sock *ks__unix_peer_get(struct unix_sock *u);
/* Release of one socket (ks_close, or an embryo dropped by its closing
 * listener when @embryo). */
void	ks__unix_release(struct unix_sock *u, bool embryo);
/* Empties @u's queue (and forgets its out-of-band byte); returns the
 * chain, to free with no lock held. Lock of @u held. */
struct ks_mbuf *ks__unix_purge_queue_locked(struct unix_sock *u);
/* Shared operations. */
int	ks__unix_shutdown(struct ks_sock *so, int how);
int	ks__unix_getname(struct ks_sock *so, void *addr, uint32_t *len,
			 bool peer);
int	ks__unix_ioctl(struct ks_sock *so, unsigned long cmd, void *arg);
void	ks__unix_sock_release(struct ks_sock *so);
void	ks__unix_destroy(struct ks_sock *so);
/* Writes the address of @sender (its bound name, or none) to @msg. */
void	ks__unix_copy_addr(struct ks_msghdr *msg, uint32_t cap,
			   struct ks_sock *sender);

/* -- names.c -- */

int	ks__unix_names_init(void);
void	ks__unix_names_fini(void);
/* bind(2). Takes the names lock and @u's lock. */
int	ks__unix_bind(struct ks_sock *so, const void *addr, uint32_t len);
/* Gives @u an automatic abstract name unless bound. Returns 0 or
 * -KS_ENOSPC / -KS_ENOMEM. */
int	ks__unix_autobind(struct unix_sock *u);
/* Validates an address for connect/sendto (Linux's unix_validate_addr). */
int	ks__unix_validate_addr(const void *addr, uint32_t len);
/*
 * Finds the socket bound to @addr for @so (its type and, for abstract
 * names, its network namespace): returns 0 with a reference in *@out, or
 * -KS_ENOENT, -KS_EACCES... (path walk), -KS_ECONNREFUSED (no socket
 * there), -KS_EPROTOTYPE (path bound by another type).
 */
int	ks__unix_find(struct ks_sock *so, const void *addr, uint32_t len,
		      struct unix_sock **out);
/* Takes @u's name off the table (at close). Takes the names lock. */
void	ks__unix_unhash(struct unix_sock *u);
void	ks__unix_name_hold(struct unix_name *n);
void	ks__unix_name_put(struct unix_name *n);

/* -- conn.c -- */

int	ks__unix_listen(struct ks_sock *so, int backlog);
int	ks__unix_stream_connect(struct ks_sock *so, const void *addr,
				uint32_t len, bool nonblock);
int	ks__unix_accept(struct ks_sock *so, int flags, bool nonblock,
			struct ks_sock **out);
unsigned ks__unix_conn_poll(struct ks_sock *so, struct ks_poll_entry *pe);

/* -- stream.c -- */

/* SIOCATMARK: whether the next normal read starts at the out-of-band
 * mark. Takes @u's lock. */
bool	ks__unix_stream_at_mark(struct unix_sock *u);

/*
 * Waits until @so may allocate another message to send: reports a
 * pending error, then SHUT_WR (-KS_EPIPE), then waits while its charge is
 * at or above SO_SNDBUF. Returns 0, -KS_EAGAIN, -KS_EINTR. No lock held.
 */
int	ks__unix_wait_sndbuf(struct ks_sock *so, int64_t deadline);

/* -- offer.c: single copy from a writer blocked for room -- */

/* Sends of at least this many bytes are offered: a few pages, where one
 * copy fewer outweighs the bookkeeping. */
#define UNIX_OFFER_MIN		8192

/*
 * ks__unix_wait_sndbuf() for a writer with @left bytes to go after what
 * it has queued on @other (@record: one seqpacket record, taken whole):
 * while it waits for room, it offers them to @other's readers. Returns
 * as ks__unix_wait_sndbuf() (0 also when readers took every byte), or
 * -KS_EFAULT when a reader found the writer's memory bad; in every case
 * *@taken is what readers took (@left for a record taken), and @it has
 * moved past what they copied. No lock held.
 */
int	ks__unix_wait_offering(struct ks_sock *so, struct unix_sock *other,
			       struct ks_iter *it, size_t left, bool record,
			       int64_t deadline, size_t *taken);
/*
 * Copies up to @want bytes into @it straight from a writer offering on
 * @u (of @record kind), when nothing is queued before them. Returns the
 * bytes copied, with the writer in *@writer (NULL when nothing was
 * taken) and what it offered in *@reclen (a record's length); 0 when
 * there is nothing to take;
 * -KS_EFAULT when the reader's memory is bad (a record is then lost, as
 * a queued one would be). Drops and retakes @u's lock; the caller keeps
 * other readers out (the reading token), or, for a record, takes it
 * whole. Socket lock of @u held.
 */
long	ks__unix_take_offer_locked(struct unix_sock *u, struct ks_iter *it,
				   size_t want, bool record,
				   struct ks_sock **writer, size_t *reclen);

/* -- dgram.c, used by seqpacket.c -- */

long	ks__unix_dgram_sendmsg(struct ks_sock *so, const struct ks_msghdr *msg,
			       struct ks_iter *it, int flags);
long	ks__unix_dgram_recvmsg(struct ks_sock *so, struct ks_msghdr *msg,
			       struct ks_iter *it, int flags);
unsigned ks__unix_dgram_poll(struct ks_sock *so, struct ks_poll_entry *pe);

/* -- diag.c -- */

/* ops->diag of every type, and the family's diag_stats. */
int	ks__unix_diag(struct ks_sock *so, struct ks_diag_sock *rec);
void	ks__unix_diag_stats(struct ks_diag_stats *out);

/* The operations tables, one per type. */
extern const struct ks_proto_ops ks__unix_stream_ops;
extern const struct ks_proto_ops ks__unix_seqpacket_ops;
extern const struct ks_proto_ops ks__unix_dgram_ops;

#endif /* KSOCK_UNIX_H */

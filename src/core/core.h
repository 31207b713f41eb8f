/*
 * ksock core: the address-family-agnostic socket layer, shared between
 * src/core and the families (src/unix, later src/inet).
 *
 * What lives here:
 *   - struct ks_sock, the part of every socket the core understands, and
 *     its reference count;
 *   - struct ks_proto_ops, one operations table per socket type, whose
 *     unused slots point at the ks__no_* stubs so no call site tests for
 *     NULL; struct ks_family, what a family registers;
 *   - wait queues (threads parked through the port, and poll entries);
 *   - message buffers (struct ks_mbuf) and their queue, charged to the
 *     sending socket until consumed;
 *   - iovec iteration through the port's copy hooks.
 *
 * Locks, in the order they are taken:
 *   family locks (e.g. unix_names.lock)  taken before any socket lock
 *   socket (so->lock)      everything tagged [S]; two sockets are locked
 *                          lowest address first, by the family's pair helper
 *   all-sockets list lock  [G]: only at create and free, never with others
 * Tags: [I] immutable after creation, [S] socket lock, [A] atomic,
 *       [G] the all-sockets list lock.
 *
 * Freestanding: only the headers DESIGN.md allows.
 */
#ifndef KSOCK_CORE_H
#define KSOCK_CORE_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ksock/ksock.h>

/* The port ksock runs on: set by ks_init(), cleared by ks_fini(). */
extern const struct ks_port *ks__port;

#define ks__memcpy(d, s, n)	__builtin_memcpy((d), (s), (n))
#define ks__memset(d, c, n)	__builtin_memset((d), (c), (n))
#define ks__memcmp(a, b, n)	__builtin_memcmp((a), (b), (n))
#define ks__container_of(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

static inline void *
ks__alloc(size_t size)
{
	return ks__port->alloc(size);
}

static inline void
ks__free(void *p, size_t size)
{
	ks__port->free(p, size);
}

/* -- limits, with Linux's values -- */

/* net.core.wmem_default / rmem_default: programs read these back. */
#define KS_SNDBUF_DEFAULT	212992
#define KS_RCVBUF_DEFAULT	212992
/* net.core.wmem_max / rmem_max: setsockopt clamps to it, then doubles. */
#define KS_SNDBUF_MAX		4194304
#define KS_RCVBUF_MAX		4194304
/* SOCK_MIN_SNDBUF / SOCK_MIN_RCVBUF: what tiny requests are raised to. */
#define KS_SNDBUF_MIN		4608
#define KS_RCVBUF_MIN		2304
/* net.core.somaxconn: listen() clamps the backlog to it. */
#define KS_SOMAXCONN		4096
/* UIO_MAXIOV: more iovecs is EMSGSIZE. */
#define KS_IOV_MAX		1024
/* MAX_RW_COUNT: Linux silently caps one transfer at INT_MAX & PAGE_MASK. */
#define KS_RW_MAX		0x7ffff000UL
/*
 * Linux keeps socket timeouts in jiffies and rounds what programs set up
 * to a whole jiffy; this machine's kernel runs with HZ=250, so a timeout
 * reads back in 4 ms steps as it does there.
 */
#define KS_HZ			250
#define KS_NSEC_PER_TICK	(1000000000LL / KS_HZ)
/* A timeout of this many ticks or more never expires (Linux's
 * MAX_SCHEDULE_TIMEOUT / HZ - 1 seconds). */
#define KS_TIMEO_FOREVER	(-1)

/* -- socket object -- */

/* Generic connection states, as Linux's sk_state for AF_UNIX. */
enum {
	KS_SS_UNCONNECTED = 1,	/* TCP_CLOSE */
	KS_SS_CONNECTED,	/* TCP_ESTABLISHED */
	KS_SS_LISTENING,	/* TCP_LISTEN */
};

/* Shutdown bits (Linux's RCV_SHUTDOWN / SEND_SHUTDOWN). */
#define KS_RCV_SHUTDOWN		1
#define KS_SEND_SHUTDOWN	2
#define KS_SHUTDOWN_MASK	3

/* Boolean SOL_SOCKET options, in ks_sock.optflags. */
#define KS_OPT_REUSEADDR	0x001
#define KS_OPT_KEEPALIVE	0x002
#define KS_OPT_PASSCRED		0x004
#define KS_OPT_LINGER		0x008
#define KS_OPT_DEBUG		0x010
#define KS_OPT_DONTROUTE	0x020
#define KS_OPT_BROADCAST	0x040
#define KS_OPT_OOBINLINE	0x080
#define KS_OPT_REUSEPORT	0x100
#define KS_OPT_NO_CHECK		0x200
#define KS_OPT_PASSSEC		0x400
#define KS_OPT_PASSPIDFD	0x800
#define KS_OPT_NOPASSRIGHTS	0x1000	/* SO_PASSRIGHTS 0 (it starts on) */
/* Linux's SOCK_RCVTSTAMP, SOCK_RCVTSTAMPNS and SOCK_TSTAMP_NEW: which
 * timestamp a reader gets, and which of the option names reads it. */
#define KS_OPT_RCVTSTAMP	0x2000
#define KS_OPT_RCVTSTAMPNS	0x4000
#define KS_OPT_TSTAMP_NEW	0x8000
#define KS_OPT_INQ		0x10000	/* SO_INQ: SCM_INQ with each read */

/* A wait queue: threads parked in ksock calls and host poll entries. */
struct ks_waitq {
	struct ks_poll_link	*head;		/* [S] */
	atomic_uint		 nwait;		/* [A] links on the list, so a
						 * waker without the lock can
						 * skip taking it */
};

struct ks_proto_ops;

/* Supplementary groups recorded with credentials (SO_PEERGROUPS),
 * shared by the sockets that report them; immutable once made. */
struct ks_groups {
	atomic_int	refs;		/* [A] */
	uint32_t	n;		/* [I] groups */
	uint32_t	cap;		/* [I] room allocated for */
	uint32_t	gid[];		/* [I] */
};

/*
 * SOL_SOCKET options that only some programs set, kept apart so that a
 * socket that never sets them carries a pointer rather than their bytes:
 * allocated by the first setsockopt that stores a value other than the
 * default, freed with the socket. All [S].
 */
struct ks_sock_xopts {
	int			 priority;	/* SO_PRIORITY */
	unsigned		 linger;	/* SO_LINGER seconds */
	uint32_t		 mark;		/* SO_MARK */
	uint32_t		 tsflags;	/* SO_TIMESTAMPING flags */
	int			 bound_dev_if;	/* SO_BINDTODEVICE: device
						 * index, or 0 */
	char			 bound_dev[KS_IFNAMSIZ]; /* its name */
};

/* Fields are ordered by size so that no padding sits between them. */
struct ks_sock {
	const struct ks_proto_ops *ops;		/* [I] */
	struct ks_mutex		 lock;
	atomic_long		 refs;		/* [A] */
	atomic_long		 wmem;		/* [A] bytes (with overhead) of
						 * sent, unread messages */
	uint64_t		 id;		/* [I] ks_sock_id() */
	struct ks_sock		*all_next, *all_prev; /* [G] */
	struct ks_waitq		 wq;		/* [S] */
	int64_t			 rcvtimeo;	/* [S] ticks, or KS_TIMEO_FOREVER */
	int64_t			 sndtimeo;	/* [S] */
	struct ks_groups	*peergroups;	/* [S] SO_PEERGROUPS, NULL: none */
	struct ks_sock_xopts	*xopts;		/* [S] rare options, or NULL:
						 * all at their defaults */
	atomic_int		 sndbuf;	/* [A] written under [S] */
	int			 rcvbuf;	/* [S] */
	int			 err;		/* [S] pending SO_ERROR (positive) */
	int			 peek_off;	/* [S] SO_PEEK_OFF, -1 off */
	int			 rcvlowat;	/* [S] SO_RCVLOWAT */
	struct ks_ucred		 peercred;	/* [S] SO_PEERCRED */
	atomic_int		 owner;		/* [A] F_SETOWN */
	uint32_t		 uid, gid;	/* [I] creator's effective ids
						 * (the owner diag reports) */
	uint32_t		 optflags;	/* [S] KS_OPT_* */
	uint16_t		 family;	/* [I] */
	uint8_t			 type;		/* [I] */
	uint8_t			 protocol;	/* [I] */
	uint8_t			 state;		/* [S] KS_SS_* */
	uint8_t			 shutdown;	/* [S] KS_*_SHUTDOWN */
	bool			 peercred_set;	/* [S] peercred was recorded
						 * (SO_PEERGROUPS: else ENODATA) */
	atomic_bool		 nonblock;	/* [A] O_NONBLOCK */
};

static inline void
ks__lock(struct ks_sock *so)
{
	ks__port->mutex_lock(&so->lock);
}

static inline void
ks__unlock(struct ks_sock *so)
{
	ks__port->mutex_unlock(&so->lock);
}

/*
 * Reads and clears the pending error (Linux's sock_error()): returns 0 or
 * a negative -KS_E*. Socket lock held.
 */
static inline int
ks__sock_error_locked(struct ks_sock *so)
{
	int err = so->err;

	so->err = 0;
	return -err;
}

static inline bool
ks__has_opt(const struct ks_sock *so, unsigned opt)
{
	return (so->optflags & opt) != 0;
}

/* -- iovec iteration -- */

/* A cursor over a msghdr's iovec array (kernel memory) whose segments
 * point at user memory. */
struct ks_iter {
	const struct ks_iovec	*iov;	/* current segment */
	size_t			 nr;	/* segments left, current included */
	size_t			 off;	/* offset into the current segment */
	size_t			 count;	/* bytes left in the whole transfer */
};

/*
 * Sets @it over @msg's iovecs. Returns 0, -KS_EMSGSIZE (more than
 * KS_IOV_MAX segments) or -KS_EINVAL (a negative length). The total is
 * capped at KS_RW_MAX as Linux does.
 */
int	ks__iter_init(struct ks_iter *it, const struct ks_msghdr *msg);
/* Copies min(@n, it->count) bytes from user memory to @dst. Returns 0
 * or -KS_EFAULT; the cursor advances past what was copied. */
int	ks__iter_copy_from(struct ks_iter *it, void *dst, size_t n);
/* Copies min(@n, it->count) bytes from @src to user memory; as above. */
int	ks__iter_copy_to(struct ks_iter *it, const void *src, size_t n);

/*
 * Whether the port copies between threads' user memory (port.h
 * copy_user_cross answered 0 at ks_init()): readers then take large
 * transfers straight from blocked writers' buffers.
 */
extern bool ks__cross_copy;

/*
 * Moves min(@n, @dst->count, @src->count) bytes from @src's segments
 * (user memory of thread @owner, blocked in a send) to @dst's (the
 * caller's) through the port's copy_user_cross, advancing both cursors
 * by *@moved. Returns 0, -KS_EFAULT (@dst is bad) or -KS_EACCES (@src
 * is); the segment pair that failed counts as not moved.
 */
int	ks__iter_move(struct ks_iter *dst, struct ks_iter *src, void *owner,
		      size_t n, size_t *moved);

/* Where the next byte comes from or goes (a hint: it is not read), or
 * NULL when no segment is left. */
static inline const void *
ks__iter_pos(const struct ks_iter *it)
{
	if (it->nr == 0)
		return NULL;
	if (it->off >= it->iov->iov_len)
		return it->nr > 1 ? it->iov[1].iov_base : NULL;
	return (const char *)it->iov->iov_base + it->off;
}

/* -- message buffers -- */

/*
 * Ancillary data attached to one message (credentials to deliver,
 * descriptors in flight). Defined by the family that creates it; the
 * core only calls its release hook when the message is freed.
 */
struct ks_anc;
struct ks_anc_ops {
	void	(*release)(struct ks_anc *anc);
};
struct ks_anc {
	const struct ks_anc_ops	*ops;
};

/*
 * One message: a send's worth of bytes (a stream send may make several),
 * allocated per send and freed when consumed, so an idle socket holds no
 * buffer memory. While queued it is charged to the sending socket
 * (@owner's wmem, @truesize bytes), which it keeps a reference to.
 */
struct ks_mbuf {
	struct ks_mbuf	*next;
	struct ks_sock	*owner;		/* charged sender, or NULL */
	struct ks_anc	*anc;		/* credentials / descriptors, or NULL */
	int32_t		 pid;		/* the sender's credentials */
	uint32_t	 uid, gid;
	uint32_t	 len;		/* payload bytes */
	uint32_t	 off;		/* bytes consumed (stream reads) */
	uint32_t	 truesize;	/* what it costs the sender */
	uint32_t	 headroom;	/* where the allocation starts, this
					 * many bytes before the header (large
					 * payloads are placed: msg.c) */
	/* [S of the queue's socket] a peek returned this empty datagram
	 * (Linux's skb->peeked) */
	uint32_t	 peeked;
	/* [S of the queue's socket] real time (port realtime) it was
	 * queued at, when its reader wanted timestamps then, else when a
	 * read that wanted one first saw it; 0 until then */
	int64_t		 tstamp;
	unsigned char	 data[];
};

/* A FIFO of messages; guarded by the owning socket's lock. */
struct ks_mqueue {
	struct ks_mbuf	*head, *tail;
	uint32_t	 count;		/* messages */
	/* unread payload bytes: below 4 GiB, as each sender's charge is
	 * bounded by its SO_SNDBUF and a datagram receiver takes few
	 * senders' messages beyond its peer's (Linux reports it as an int) */
	uint32_t	 bytes;
};

/* Allocates a message with room for @len bytes, costing @truesize.
 * Returns 0 or -KS_ENOBUFS. */
int	ks__mbuf_alloc(size_t len, uint32_t truesize, struct ks_mbuf **out);
/*
 * The same, with a payload of 512 bytes or more placed at @like's offset
 * modulo 64 (to 8 bytes): the sender passes where its copy comes from, so
 * the copy in runs between mutually aligned buffers. NULL: 64-aligned.
 */
int	ks__mbuf_alloc_like(size_t len, uint32_t truesize, const void *like,
			    struct ks_mbuf **out);
/*
 * Charges @m to @so (takes a reference to it and adds the message's
 * truesize to its wmem). No lock needed.
 */
void	ks__mbuf_charge(struct ks_mbuf *m, struct ks_sock *so);
/*
 * Frees @m: releases its ancillary data, uncharges the sender and wakes
 * the sender's writers when room appeared. Call with no lock held.
 */
void	ks__mbuf_free(struct ks_mbuf *m);
/* Frees a chain linked through ->next. No lock held. */
void	ks__mbuf_free_chain(struct ks_mbuf *m);

static inline void
ks__mq_push(struct ks_mqueue *q, struct ks_mbuf *m)
{
	m->next = NULL;
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->count++;
	q->bytes += m->len - m->off;
}

static inline struct ks_mbuf *
ks__mq_pop(struct ks_mqueue *q)
{
	struct ks_mbuf *m = q->head;

	if (!m)
		return NULL;
	q->head = m->next;
	if (!q->head)
		q->tail = NULL;
	q->count--;
	q->bytes -= m->len - m->off;
	m->next = NULL;
	return m;
}

/* Empties @q and returns its chain (free it with no lock held). */
static inline struct ks_mbuf *
ks__mq_take_all(struct ks_mqueue *q)
{
	struct ks_mbuf *m = q->head;

	q->head = q->tail = NULL;
	q->count = 0;
	q->bytes = 0;
	return m;
}

/*
 * What a message costs its sender, computed as Linux computes the
 * truesize of the sk_buff it would have made: SO_SNDBUF limits this sum,
 * SIOCOUTQ reports it, and programs (and tests) count how many sends fit,
 * so it follows Linux's allocator exactly: a 256-byte sk_buff, a head
 * rounded up to kmalloc's power-of-two classes together with the
 * 320-byte skb_shared_info, and whole 4 KiB pages for the rest.
 */
#define KS_SKB_OVERHEAD		256	/* SKB_DATA_ALIGN(sizeof(sk_buff)) */
#define KS_SKB_SHINFO		320	/* SKB_DATA_ALIGN(skb_shared_info) */
#define KS_PAGE_SIZE		4096
/* SKB_MAX_HEAD(0): the largest head that fits one page. */
#define KS_SKB_MAX_HEAD		(KS_PAGE_SIZE - KS_SKB_SHINFO)
/* SKB_MAX_ALLOC (SKB_MAX_ORDER(0, 2)): the largest head a datagram gets
 * before pages. */
#define KS_SKB_MAX_ALLOC	(4 * KS_PAGE_SIZE - KS_SKB_SHINFO)
/* MAX_SKB_FRAGS pages at most. */
#define KS_SKB_MAX_FRAGS	17
/* A stream message is at most a head and 32 KiB of pages
 * (UNIX_SKB_FRAGS_SZ); a send is cut into messages of that size. */
#define KS_STREAM_MSG_MAX	(KS_SKB_MAX_HEAD + 32768)

static inline size_t
ks__page_align(size_t n)
{
	return (n + KS_PAGE_SIZE - 1) & ~(size_t)(KS_PAGE_SIZE - 1);
}

/* An sk_buff whose head holds @head bytes. */
static inline size_t
ks__skb_head_truesize(size_t head)
{
	size_t want = ((head + 63) & ~(size_t)63) + KS_SKB_SHINFO;
	size_t slab = 512;

	while (slab < want)
		slab <<= 1;
	return slab + KS_SKB_OVERHEAD;
}

/* A datagram (or record) of @len bytes: Linux's unix_dgram_sendmsg(). */
static inline uint32_t
ks__dgram_truesize(size_t len)
{
	size_t pages = 0;

	if (len > KS_SKB_MAX_ALLOC) {
		pages = len - KS_SKB_MAX_ALLOC;
		if (pages > KS_SKB_MAX_FRAGS * KS_PAGE_SIZE)
			pages = KS_SKB_MAX_FRAGS * KS_PAGE_SIZE;
		pages = ks__page_align(pages);
	}
	return (uint32_t)(ks__skb_head_truesize(len - pages) + pages);
}

/* A stream message of @len bytes (at most KS_STREAM_MSG_MAX): Linux's
 * unix_stream_sendmsg() puts what exceeds one page's head in pages. */
static inline uint32_t
ks__stream_truesize(size_t len)
{
	size_t data = len > KS_SKB_MAX_HEAD ?
		      ks__page_align(len - KS_SKB_MAX_HEAD) : 0;

	if (data > len)
		data = len;
	return (uint32_t)(ks__skb_head_truesize(len - data) +
			  ks__page_align(data));
}

/*
 * Wakes @so's writers after its wmem dropped (called by ks__mbuf_free).
 * No lock held.
 */
void	ks__sock_write_space(struct ks_sock *so);

/* Whether @so may queue more (Linux's unix_writable(): a quarter). Linux
 * tests its raw sk_wmem_alloc, which starts at 1, so one more byte counts
 * here than SIOCOUTQ reports. */
static inline bool
ks__sock_writable(const struct ks_sock *so)
{
	return ((atomic_load(&((struct ks_sock *)so)->wmem) + 1) << 2) <=
	       atomic_load_explicit(&((struct ks_sock *)so)->sndbuf,
				    memory_order_relaxed);
}

/* -- waiting -- */

/*
 * A thread waiting for some @mask of events on one socket. It spins for
 * a moment before parking (most waits on a busy socket are short, and a
 * wake-up that finds the waiter spinning costs no system call), then
 * tells wakers it sleeps: @state goes SPINNING -> SLEEPING, and a waker
 * moves it to WOKEN, unparking the thread only if it was SLEEPING.
 */
enum { KS__W_SPINNING, KS__W_SLEEPING, KS__W_WOKEN };
struct ks__waiter {
	struct ks_poll_entry	pe;
	void			*thread;
	unsigned		 mask;
	atomic_int		 state;
};

/*
 * An internal event: room to send appeared, though not enough for poll
 * to call the socket writable (a quarter of SO_SNDBUF). Wakes blocked
 * senders only, never host poll entries.
 */
#define KS__WAKE_SPACE		0x40000000u

/*
 * Deadline for a blocking call: 0 when @nonblock or the timeout is zero,
 * -1 for none (also when now + @timeo ticks is past INT64_MAX
 * nanoseconds), else now + @timeo ticks.
 */
int64_t	ks__deadline(int64_t timeo, bool nonblock);

/*
 * What a caller does with a wait's result @err: a wait that ended at
 * the deadline (-KS_EAGAIN) makes it look once more, as Linux does after
 * its wait, since what it waited for may have come just then; *@deadline
 * becomes 0, so a further wait gives -KS_EAGAIN at once. Returns 0 for
 * "look again", else @err.
 */
static inline int
ks__wait_expired(int err, int64_t *deadline)
{
	if (err == -KS_EAGAIN && *deadline != 0) {
		*deadline = 0;
		return 0;
	}
	return err;
}

/* Prepares @w to wait for @mask. */
void	ks__waiter_init(struct ks__waiter *w, unsigned mask);
/* Puts @w on @so's queue. Socket lock held. */
void	ks__wait_add_locked(struct ks_sock *so, struct ks__waiter *w);
/* Takes @w off @so's queue. Socket lock held. */
void	ks__wait_del_locked(struct ks_sock *so, struct ks__waiter *w);
/*
 * Puts @w, already waiting on one socket, on a second socket's queue
 * too (its second link), where others find it by its pe.arg; wakes on
 * either queue wake it. Lock of @so held.
 */
void	ks__wait_add_second_locked(struct ks_sock *so, struct ks__waiter *w);
/* Takes @w's second link off @so's queue. Lock of @so held. */
void	ks__wait_del_second_locked(struct ks_sock *so, struct ks__waiter *w);
/* The waiter a wait queue link belongs to, when a ksock thread (not a
 * host poll entry) waits there; else NULL. */
struct ks__waiter *ks__link_waiter(struct ks_poll_link *l);
/*
 * The usual wait: puts @w on @so's queue, drops the lock, parks until
 * woken or @deadline, retakes the lock and takes @w off. Returns 0 (re-
 * check the condition), -KS_EAGAIN at the deadline, -KS_EINTR on a
 * signal. Socket lock held on entry and return.
 */
int	ks__wait_locked(struct ks_sock *so, struct ks__waiter *w,
			int64_t deadline);
/*
 * Sleeps until @w is woken (spinning first), @deadline, or a signal, with
 * no lock held. @w must be on a queue, added (or re-armed with
 * ks__waiter_rearm_locked) under that queue's lock. Returns 0 (re-check
 * the condition), -KS_EAGAIN at the deadline, -KS_EINTR.
 */
int	ks__waiter_sleep(struct ks__waiter *w, int64_t deadline);
/* Makes @w sleep again after a wake-up. Lock of its queue held. */
static inline void
ks__waiter_rearm_locked(struct ks__waiter *w)
{
	atomic_store_explicit(&w->state, KS__W_SPINNING, memory_order_relaxed);
}
/* Calls every waiter of @so interested in @events. Socket lock held. */
void	ks__wake_locked(struct ks_sock *so, unsigned events);

static inline bool
ks__has_waiters(struct ks_sock *so)
{
	return atomic_load(&so->wq.nwait) != 0;
}

/* Adds link @l (of entry @pe) to @so's queue, taking a reference. Socket
 * lock held. */
void	ks__poll_link_add_locked(struct ks_sock *so, struct ks_poll_entry *pe,
				 struct ks_poll_link *l);

/* -- operations -- */

/*
 * What a socket type does. Every slot is set; a type that lacks an
 * operation points it at a ks__no_* stub. The core has already checked
 * what is generic (flag words, option levels it handles) and turned the
 * socket's O_NONBLOCK into KS_MSG_DONTWAIT / @nonblock.
 */
struct ks_proto_ops {
	int	(*bind)(struct ks_sock *so, const void *addr, uint32_t len);
	int	(*listen)(struct ks_sock *so, int backlog);
	int	(*connect)(struct ks_sock *so, const void *addr, uint32_t len,
			   bool nonblock);
	/* @flags: KS_SOCK_NONBLOCK for the new socket. */
	int	(*accept)(struct ks_sock *so, int flags, bool nonblock,
			  struct ks_sock **out);
	/* @it covers msg's iovecs. */
	long	(*sendmsg)(struct ks_sock *so, const struct ks_msghdr *msg,
			   struct ks_iter *it, int flags);
	/* On entry msg_namelen and msg_controllen hold the capacities;
	 * the op sets them (and msg_flags) to what it wrote. */
	long	(*recvmsg)(struct ks_sock *so, struct ks_msghdr *msg,
			   struct ks_iter *it, int flags);
	int	(*shutdown)(struct ks_sock *so, int how);
	/* Writes the address (at most *len bytes) and sets *len. */
	int	(*getname)(struct ks_sock *so, void *addr, uint32_t *len,
			   bool peer);
	unsigned (*poll)(struct ks_sock *so, struct ks_poll_entry *pe);
	int	(*ioctl)(struct ks_sock *so, unsigned long cmd, void *arg);
	/* Options at levels other than SOL_SOCKET. */
	int	(*setsockopt)(struct ks_sock *so, int level, int name,
			      const void *val, uint32_t len);
	int	(*getsockopt)(struct ks_sock *so, int level, int name,
			      void *val, uint32_t *len);
	/* ks_close(): shut down, tell the peer, drop queues and names. */
	void	(*release)(struct ks_sock *so);
	/* The last reference went: free the socket's memory. */
	void	(*destroy)(struct ks_sock *so);
	/*
	 * Introspection: fills the family's part of @rec (the core filled
	 * the generic part). Returns 0, or -KS_ENOENT for a closed socket,
	 * which walks skip. Called with no lock held and a reference.
	 */
	int	(*diag)(struct ks_sock *so, struct ks_diag_sock *rec);
	/* Whether SO_PEEK_OFF applies (the core keeps the offset). */
	bool	has_peek_off;
	/* Whether SO_INQ applies (the type delivers SCM_INQ). */
	bool	has_inq;
};

/* Stubs for the slots a type does not support (Linux's sock_no_*). */
int	ks__no_bind(struct ks_sock *so, const void *addr, uint32_t len);
int	ks__no_listen(struct ks_sock *so, int backlog);
int	ks__no_connect(struct ks_sock *so, const void *addr, uint32_t len,
		       bool nonblock);
int	ks__no_accept(struct ks_sock *so, int flags, bool nonblock,
		      struct ks_sock **out);
int	ks__no_ioctl(struct ks_sock *so, unsigned long cmd, void *arg);
int	ks__no_setsockopt(struct ks_sock *so, int level, int name,
			  const void *val, uint32_t len);
int	ks__no_getsockopt(struct ks_sock *so, int level, int name, void *val,
			  uint32_t *len);
/* Reports nothing beyond the core's part: returns 0. */
int	ks__no_diag(struct ks_sock *so, struct ks_diag_sock *rec);

/* An address family. */
struct ks_family {
	int	domain;
	/* Called by ks_init() / ks_fini(). init returns 0 or -KS_E*. */
	int	(*init)(void);
	void	(*fini)(void);
	/* Creates a socket of @type (flags removed) and @protocol. */
	int	(*create)(int type, int protocol, struct ks_sock **out);
	/* Connects two fresh sockets of one type, or -KS_EOPNOTSUPP. */
	int	(*socketpair)(struct ks_sock *a, struct ks_sock *b);
	/* Adds the family's counters (its collector's) to @out; may be
	 * NULL when the family keeps none. */
	void	(*diag_stats)(struct ks_diag_stats *out);
	/* ks_sock_file_dropped() for this family's sockets; may be NULL
	 * when none of them can be in flight. */
	void	(*file_dropped)(struct ks_sock *so, long refs);
	/* Called by ks_fini() before it counts the sockets left: frees
	 * sockets only the family still holds (unreachable ones in flight).
	 * No lock held; may be NULL. */
	void	(*collect)(void);
};

/* -- the all-sockets list (sock.c) and introspection (diag.c) -- */

/* Every socket from ks__sock_init() to ks__sock_fini(), newest first. */
struct ks__sock_list {
	struct ks_mutex	 lock;
	struct ks_sock	*head;		/* [G] */
	long		 count;		/* [G] */
};
extern struct ks__sock_list ks__all_socks;

/* Zeroes the counters (ks_init). */
void	ks__diag_reset(void);

/* Refused operations ks_diag_stats() reports. */
enum ks__diag_counter {
	KS__CNT_BACKLOG_FULL,	/* connect: the listener's backlog was full */
	KS__CNT_NOSPACE,	/* send: buffers full, EAGAIN */
	KS__CNT_TOOMANYREFS,	/* SCM_RIGHTS over the in-flight limit */
	KS__CNT_MAX
};

extern atomic_uint_fast64_t ks__diag_counters[KS__CNT_MAX];

/* Counts one refused operation. Any context; relaxed, off the fast path. */
static inline void
ks__diag_count(enum ks__diag_counter c)
{
	atomic_fetch_add_explicit(&ks__diag_counters[c], 1,
				  memory_order_relaxed);
}


/*
 * Sets up the generic part of a new socket: one reference (the caller's),
 * default options, an id, and a place on the all-sockets list.
 */
void	ks__sock_init(struct ks_sock *so, const struct ks_proto_ops *ops,
		      int family, int type, int protocol);
/* Undoes ks__sock_init() just before the family frees the socket. */
void	ks__sock_fini(struct ks_sock *so);
/* Records the calling process's credentials as @so's SO_PEERCRED. */
void	ks__cred_self(struct ks_ucred *out);
/* The calling process's supplementary groups, in a new object (*@out
 * NULL when it has none). Returns 0 or -KS_ENOMEM. No lock needed. */
int	ks__groups_self(struct ks_groups **out);
/* Another reference to @g (NULL: none); returns @g. */
static inline struct ks_groups *
ks__groups_hold(struct ks_groups *g)
{
	if (g != NULL)
		atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
	return g;
}
/* Drops a reference to @g (NULL: none). Any context. */
void	ks__groups_put(struct ks_groups *g);
/* Records @cred and @groups (the caller's reference passes to @so) as
 * @so's peer credentials, dropping the groups it had. Socket lock held. */
void	ks__set_peercred_locked(struct ks_sock *so, const struct ks_ucred *cred,
				struct ks_groups *groups);

/* SOL_SOCKET options (opt.c). */
int	ks__sock_setopt(struct ks_sock *so, int name, const void *val,
			uint32_t len);
int	ks__sock_getopt(struct ks_sock *so, int name, void *val,
			uint32_t *len);

#endif /* KSOCK_CORE_H */

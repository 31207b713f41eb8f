/*
 * The ksockd protocol: what a client process and the socket server put
 * in the memory they share, and the bootstrap messages before that
 * (docs/ksockd.md is the specification; this header is its layout).
 *
 * A client owns one region, made by the server (a sealed memfd that
 * neither side can shrink or grow), mapped by both:
 *
 *   struct ksd_shm
 *     header                       magic, version, slot count, sizes
 *     slot[KSD_SLOTS]              one per client thread in a call:
 *        state  (futex word)       IDLE -> POSTED (client) [-> SLEEPING
 *                                  (client)] -> DONE (server)
 *        req    (fixed size)       label, descriptor, arguments, inline
 *        rep    (fixed size)       result, values, inline
 *     window[KSD_SLOTS]            the slot's bulk data: KSD_DATA_MAX
 *                                  bytes of data, then KSD_CTL_MAX bytes
 *                                  of control messages
 *     bells                        posted slots, and whether the server
 *                                  is looking (struct ksd_bells)
 *
 * Every field is a fixed-width integer in the host's byte order. The
 * server copies a request out of the region before it looks at it, so a
 * client that rewrites it meanwhile changes nothing the server decided.
 *
 * Freestanding: <stdint.h> and <stdatomic.h> only.
 */
#ifndef KSOCK_KSOCKD_PROTO_H
#define KSOCK_KSOCKD_PROTO_H

#include <stdatomic.h>
#include <stdint.h>

#define KSD_MAGIC	0x6b736f636b64ULL	/* "ksockd" */
/* 3: struct ksd_req's tid, WATCH/UNWATCH, KSD_F_DIRECT, and closes
 * without a reply (struct ksd_bells' close_nowait). */
#define KSD_VERSION	3

/* Threads of one client that may be inside a call at once. */
#define KSD_SLOTS	8
/* Bytes of data one call moves through the window: above Linux's
 * default SO_SNDBUF (212992), so any datagram a default socket can
 * send fits in one call. */
#define KSD_DATA_MAX	(224 * 1024)
/* Bytes of control messages one call carries: room for 253 descriptors
 * (SCM_MAX_FD) and credentials, with headers. */
#define KSD_CTL_MAX	(4 * 1024)
/* Linux's net.core.optmem_max default: a send's control buffer of this
 * many bytes or more is ENOBUFS; a longer one than KSD_CTL_MAX goes
 * without the messages AF_UNIX ignores. */
#define KSD_OPTMEM_MAX	131072
#define KSD_WINDOW	(KSD_DATA_MAX + KSD_CTL_MAX)
/* Inline bytes in a request or a reply: a socket address (at most 128),
 * and small data after it. */
#define KSD_INLINE	256
/* Data up to this size travels inline, after the address. */
#define KSD_INLINE_DATA	(KSD_INLINE - 128)
/* Entries of one poll request (struct ksd_pollfd, in the window). */
#define KSD_POLL_MAX	1024
/* Fork and exec hand-overs waiting to be claimed, server-wide, and how
 * long one waits before the server drops it. */
#define KSD_HANDOVER_MAX	64
#define KSD_HANDOVER_NS		(30LL * 1000000000)

/* Request labels: one per operation. */
enum ksd_label {
	KSD_SOCKET = 1,		/* a0 domain, a1 type, a2 protocol */
	KSD_SOCKETPAIR,		/* a0 domain, a1 type, a2 protocol */
	KSD_BIND,		/* fd; address inline, addrlen */
	KSD_LISTEN,		/* fd, a0 backlog */
	KSD_ACCEPT,		/* fd, a0 flags; reply: address inline */
	KSD_CONNECT,		/* fd; address inline, addrlen */
	KSD_SENDMSG,		/* fd, a0 flags; address inline, data inline
				 * or in the window, control in the window */
	KSD_RECVMSG,		/* fd, a0 flags, datalen, ctllen, addrlen
				 * (0: no address wanted) */
	KSD_SHUTDOWN,		/* fd, a0 how */
	KSD_GETSOCKOPT,		/* fd, a0 level, a1 name, datalen: room */
	KSD_SETSOCKOPT,		/* fd, a0 level, a1 name; value in window */
	KSD_GETNAME,		/* fd, a0 0: sockname, 1: peername */
	KSD_IOCTL,		/* fd, a0 command, int in/out in a1/val[0] */
	KSD_FCNTL,		/* fd, a0 command (F_GETFL...), a1 argument */
	KSD_POLL,		/* a0 count, a1 timeout ms (-1: none);
				 * struct ksd_pollfd[count] in the window */
	KSD_CLOSE,		/* fd */
	KSD_DUP,		/* fd, a0 newfd (-1: lowest free), a1 cloexec */
	KSD_FORK,		/* reply: token the child claims with */
	KSD_EXEC,		/* close-on-exec closed; reply: token */
	KSD_EXIT,		/* every descriptor closed */
	KSD_STATUS,		/* reply: struct ksd_status inline */
	KSD_NOTIFY,		/* the server makes the slot's notifier: a
				 * kernel socketpair; it keeps one end and
				 * sends the other on the bootstrap
				 * connection (SCM_RIGHTS) before it replies */
	KSD_DIAG,		/* a0, a1: the lowest socket id wanted (low,
				 * high 32 bits), datalen: room; reply: ret
				 * bytes of ksock's diag wire format at
				 * window[0], token: the id to go on from
				 * (0: the rest was listed) */
	KSD_NETNS,		/* the process moved to another network
				 * namespace: the server reads it again (a
				 * new connection could not reach it) */
	KSD_WATCH,		/* a0 count, a1 watch id, a2 how many ready
				 * entries the client reports now (0: a
				 * look that changes nothing); struct
				 * ksd_watchfd[count] in the window; with
				 * KSD_F_WATCH_NEW a new watch, whose
				 * socket's end comes on the bootstrap
				 * connection before the reply (val[0] 1) */
	KSD_UNWATCH,		/* a1 watch id: the watch ends */
	KSD_LABEL_END
};

/* Slot states (the futex word). */
#define KSD_IDLE	0
#define KSD_POSTED	1
#define KSD_DONE	2
/* POSTED, and the client sleeps on the futex: the server's reply wakes
 * it (FUTEX_WAKE) only from this state, so a client that is still
 * spinning on its slot costs the server no system call. A client that
 * never spins may post with SLEEPING at once. */
#define KSD_SLEEPING	3

/* Request flags. */
#define KSD_F_DATA_INLINE	1u	/* SENDMSG: data after the address */
#define KSD_F_NOTIFY		2u	/* any label: when the reply is in, one
					 * byte also goes to the slot's
					 * notifier (KSD_NOTIFY), so a kernel
					 * poll can wait for it */
#define KSD_F_CWD		4u	/* BIND, CONNECT, SENDMSG: the doorbell
					 * carries the client's working
					 * directory (its first descriptor), for
					 * a relative path name */
#define KSD_F_KFDS		8u	/* SENDMSG: the doorbell carries kernel
					 * descriptors (after the directory),
					 * one for each -1 among the control
					 * message's SCM_RIGHTS numbers, in order */

/* Descriptors one doorbell may carry: the kernel's SCM_MAX_FD for a whole
 * message, the directory among them (a relative path and 253 kernel
 * descriptors is one too many: EINVAL). */
#define KSD_BELL_FDS	253

/* KSD_WATCH: the id is a new watch's (EEXIST when it is taken). */
#define KSD_F_WATCH_NEW		32u

/* SOCKET, SOCKETPAIR, ACCEPT: the new descriptors go at the numbers in
 * inl (struct ksd_place) when those are free (else they stay at the
 * lowest free ones: the client compares); DUP: a0 must be free (EBUSY
 * instead of closing what it holds). A client whose descriptors share
 * one number space with the kernel's asks for the numbers it reserved
 * there (ksock-run's placeholders: docs/ksock-run.md). */
#define KSD_F_PLACE		16u
/* RECVMSG: the data goes straight into the client's own buffers, which
 * the window lists (struct ksd_iov x a[1], at most KSD_DIRECT_SEGS;
 * datalen: their total), not into the window; the server writes them
 * with process_vm_writev() as a kernel's copy_to_user(), so a buffer that
 * cannot be written is EFAULT with the data still queued where Linux
 * keeps it. A server that cannot reach the client's memory replies
 * -EOPNOTSUPP with val[3] KSD_DIRECT_REFUSED, having done nothing. */
#define KSD_F_DIRECT		32u
#define KSD_DIRECT_SEGS		1024
#define KSD_DIRECT_REFUSED	1

/* Any label: the calling thread has moved to a network namespace of its
 * own (unshare, setns), and req.tid names it: the call's new sockets
 * take that thread's namespace (/proc/PID/task/TID/ns/net), not the
 * process's. A tid that is not a thread of the client is ESRCH. */
#define KSD_F_THREAD_NS		64u

struct ksd_req {
	uint32_t	label;		/* enum ksd_label */
	uint32_t	flags;		/* KSD_F_* */
	int32_t		fd;
	int32_t		a[3];
	uint32_t	addrlen;	/* bytes of address in inl */
	uint32_t	datalen;
	uint32_t	ctllen;
	uint32_t	pad;
	uint64_t	seq;		/* echoed in the reply */
	unsigned char	inl[KSD_INLINE];
	int32_t		tid;		/* KSD_F_THREAD_NS: the caller */
	uint32_t	pad2;
};

struct ksd_rep {
	int64_t		ret;		/* >= 0, or -errno */
	int32_t		val[4];		/* per label: new descriptors,
					 * msg_flags, option length... */
	uint32_t	addrlen;	/* address in inl (full length) */
	uint32_t	ctllen;		/* control bytes in the window */
	uint64_t	seq;
	uint64_t	token;		/* FORK, EXEC */
	unsigned char	inl[KSD_INLINE];
};

struct ksd_slot {
	_Atomic uint32_t state;		/* futex word: KSD_IDLE... */
	uint32_t	 pad;
	struct ksd_req	 req;
	struct ksd_rep	 rep;
};

/*
 * The doorbell in memory (version 2). A client posts a request without
 * a descriptor to pass by setting its slot's bit in @posted; then, only
 * when @watching is 0, it rings KSD_BELL_KICK on the bootstrap socket.
 * The server sets @watching while it looks at the region between its
 * turns (a client that called recently), and before it sleeps it clears
 * @watching and then takes @posted once more: both sides store, then
 * load the other's word (sequentially consistent), so either the client
 * sees 0 and rings, or the server sees the bit. The server takes bits
 * with an exchange, so a request runs once however it was announced.
 */
struct ksd_bells {
	_Atomic uint32_t posted;	/* bit i: slot i posted, no bell */
	_Atomic uint32_t watching;	/* 1: the server looks at @posted */
	/* 1: a CLOSE posted while @watching may go without its caller
	 * waiting for the reply (no kernel descriptor is in flight in the
	 * server, so no close can close one); set by the server before
	 * @watching, kept only while it watches. */
	_Atomic uint32_t close_nowait;
};

struct ksd_shm {
	uint64_t	magic;
	uint32_t	version;
	uint32_t	nslots;
	uint32_t	data_max, ctl_max;
	struct ksd_slot	slot[KSD_SLOTS];
	unsigned char	window[KSD_SLOTS][KSD_WINDOW];
	struct ksd_bells bells;
};

/* KSD_F_PLACE: where the new descriptors should go (in the request's
 * inl; SOCKET and ACCEPT use fd[0]). */
struct ksd_place {
	int32_t		fd[2];
};

/* One poll entry, in the window. */
struct ksd_pollfd {
	int32_t		fd;
	int16_t		events;
	int16_t		revents;
};

/* KSD_F_DIRECT: one buffer of the client's, an address of its own
 * address space. */
struct ksd_iov {
	uint64_t	base;
	uint64_t	len;
};

/* KSD_STATUS: what the server holds (for tests and tools). */
struct ksd_status {
	int64_t		ksock_allocs;	/* ksock allocations outstanding */
	int64_t		sockets;	/* live socket objects */
	int64_t		objects;	/* ksockd's own objects outstanding */
	int64_t		clients;	/* connected clients */
	int64_t		parked;		/* calls waiting */
	int64_t		descriptors;	/* descriptors in all tables */
	int64_t		handovers;	/* fork/exec hand-overs unclaimed */
	int64_t		watches;	/* KSD_WATCH watches of all clients */
};

/* Bootstrap, on the server's SOCK_SEQPACKET socket. */
struct ksd_hello {
	uint64_t	magic;
	uint32_t	version;
	uint32_t	umask;
	uint64_t	token;		/* 0, or a FORK/EXEC token */
};

struct ksd_welcome {
	uint64_t	magic;
	uint32_t	version;
	int32_t		err;		/* 0, or -errno: refused */
	uint64_t	shm_size;	/* the region comes as SCM_RIGHTS */
};

/* A doorbell: the slot whose request is posted. */
struct ksd_bell {
	uint32_t	slot;		/* the slot, and KSD_BELL_* bits */
};

/*
 * A CANCEL doorbell: the slot's call was interrupted by a signal in the
 * client. A parked call ends with -EINTR or, when it moved bytes, their
 * count; with KSD_BELL_RESTART (the handler had SA_RESTART) a call that
 * Linux restarts stays parked instead (not a poll, not a call on a
 * socket with SO_RCVTIMEO/SO_SNDTIMEO). A slot whose call has already
 * been answered is left alone: the bell is late, not wrong.
 */
#define KSD_BELL_CANCEL		0x80000000u
#define KSD_BELL_RESTART	0x40000000u
/* A KICK doorbell names no slot: the server takes the region's posted
 * bits (struct ksd_bells). Any doorbell makes the server take them
 * first, so a CANCEL never overtakes the request it cancels. */
#define KSD_BELL_KICK		0x20000000u

/*
 * KSD_WATCH (docs/ksockd.md, "Watches"): a persistent poll of up to
 * KSD_POLL_MAX sockets, for an epoll instance. The server keeps a kernel
 * socketpair per watch and sends one byte on its end when, after the
 * request, a watched socket is woken, or at once when an entry stays
 * ready after what the client reports; the client's end sits in the
 * instance's kernel epoll set. A client has at most KSD_WATCH_MAX: each
 * costs the server a descriptor and up to KSD_POLL_MAX entries, and a
 * process rarely has more epoll instances than event loops.
 */
#define KSD_WATCH_MAX		64
/* Entry flags in ksd_watchfd.events, Linux's EPOLLET and EPOLLONESHOT;
 * the low 16 bits are poll(2) events. */
#define KSD_WATCH_EDGE		0x80000000u
#define KSD_WATCH_ONESHOT	0x40000000u

/* One watch entry, in the window. last and inq: an edge-triggered
 * entry's readiness and bytes queued when the client last looked
 * (updated by a report); revents: what is reported (POLLNVAL: no such
 * socket). */
struct ksd_watchfd {
	int32_t		fd;		/* < 0: ignored */
	uint32_t	events;
	int32_t		inq;
	int16_t		last;
	int16_t		revents;
};

#endif /* KSOCK_KSOCKD_PROTO_H */

/*
 * AF_UNIX ancillary data (scm.c) and the collector of unreachable
 * in-flight cycles (gc.c): the structures they share with the rest of
 * src/unix, and the calls the send and receive paths make.
 *
 * A send's control buffer is parsed into a struct unix_scm (explicit
 * credentials, and a list of the files behind the descriptors, each
 * held). The files go with one message as a struct unix_fpl, its
 * ancillary data (struct ks_anc), charged to the sending user. When the
 * message is queued, every AF_UNIX socket among the files becomes an edge
 * of the in-flight graph: from that socket (it is "in flight") to the
 * socket whose queue holds the message (gc.c). Receiving detaches the
 * list, installs what fits in the caller's control buffer and drops the
 * rest; freeing a message drops its files.
 *
 * Locks: see gc.c. The gc lock ([G] below) is taken after socket locks,
 * never before, and no port file hook that may close or install a file
 * (file_put, file_install) is called with it held (file_count is).
 * Tags: [I] immutable once the message is queued, [G] gc lock, [A] atomic.
 */
#ifndef KSOCK_UNIX_SCM_H
#define KSOCK_UNIX_SCM_H

#include "core/core.h"

struct unix_sock;
struct unix_fpl;
struct unix_user;

/* Credentials a message carries when none were attached (pid 0, ids
 * unset); delivered as pid 0 and the overflow ids. */
#define UNIX_CRED_NONE_PID	0
#define UNIX_CRED_NONE_ID	UINT32_MAX
/* What Linux shows for an id it cannot map (overflowuid/overflowgid). */
#define UNIX_OVERFLOW_ID	65534u
/*
 * net.core.optmem_max: Linux copies the control buffer with
 * sock_kmalloc(), which wants the size strictly below it (with nothing
 * else charged to the socket's option memory), so 131071 bytes is the
 * most a send may offer; more is ENOBUFS.
 */
#define UNIX_OPTMEM_MAX		131072

/* One reference to an in-flight AF_UNIX socket, held by a queued
 * message: an edge from that socket to the message's receiver. */
struct unix_edge {
	struct unix_sock	*pred;		/* [I] the socket in flight */
	struct unix_fpl		*fpl;		/* [I] the list holding it */
	struct ks_file		*file;		/* [I] pred's file */
	struct unix_edge	*next, *prev;	/* [G] pred's list of edges */
};

/*
 * The collector's view of one socket, a vertex of the in-flight graph
 * while the socket's inflight count is not zero. Allocated only for a
 * socket that a list of descriptors carries (ks__unix_gc_prepare(), when
 * a send attaches them), and freed when the last such list is: an idle
 * socket, or one merely connected, has none.
 */
struct unix_vertex {
	/* [G] lists (queued or about to be) that carry the socket */
	unsigned long		 holds;
	struct ks_file		*file;		/* [G] the socket's file, valid
						 * while in flight */
	struct unix_edge	*edges;		/* [G] */
	/* [G] Tarjan's state; meaningful when @epoch is the run's. */
	uint64_t		 epoch, index, low, scc;
	struct unix_edge	*next_edge;
	struct unix_sock	*parent, *stack_next, *scc_next, *kill_next;
	bool			 on_stack;
	/* [G] found dead: a purge owns kill_next, and no later run takes
	 * the socket again (it closes once the purge puts its files). */
	bool			 collecting;
	/* [G] on a purge's kill list: the vertex stays until the purge has
	 * walked past it, whatever its holds */
	bool			 listed;
	/* [G] the list of every vertex, for a run over the whole graph */
	struct unix_sock	*vnext, *vprev;
};

/* The files one message carries. */
struct unix_fpl {
	struct ks_anc		 anc;		/* [I] must be first */
	atomic_int		 refs;		/* [A] the message's, and one per
						 * peek copying from it */
	struct unix_sock	*receiver;	/* [G] whose queue holds it */
	struct unix_user	*user;		/* [I] who is charged */
	struct unix_fpl		*drain_next;	/* [G] gc.c's list of lists
						 * whose files are being put */
	uint16_t		 count;		/* [I] files */
	uint16_t		 count_unix;	/* [I] AF_UNIX sockets among them */
	struct unix_edge	*edges;		/* [I] count_unix, after fp[] */
	struct ks_file		*fp[];		/* [I] each holds a reference */
};

/* What one send's control buffer asked for. */
struct unix_scm {
	struct unix_fplist	*files;		/* parsed descriptors, or NULL */
	bool			 has_creds;	/* SCM_CREDENTIALS given */
	struct ks_ucred		 creds;
};

/* -- scm.c -- */

/*
 * Parses @msg's control buffer (user memory) into @scm, as Linux's
 * __scm_send(): returns 0, -KS_ENOBUFS (131072 bytes or more),
 * -KS_EFAULT, -KS_EINVAL (malformed header, unknown SOL_SOCKET type,
 * more than KS_SCM_MAX_FD descriptors, bad SCM_CREDENTIALS length or ids),
 * -KS_EBADF, -KS_EPERM, -KS_ESRCH, -KS_ENOMEM. On error nothing is held.
 * No lock held; takes none.
 */
int	ks__unix_scm_send(const struct ks_msghdr *msg, struct unix_scm *scm);
/* Drops what @scm still holds (descriptors not attached). No lock held. */
void	ks__unix_scm_destroy(struct unix_scm *scm);
/* Sets @m's credentials: the explicit ones of @scm, else "none". */
void	ks__unix_scm_set_creds(const struct unix_scm *scm, struct ks_mbuf *m);
/*
 * Moves @scm's descriptors onto @m, charging them to @cred's user:
 * returns 0 (nothing to do counts), -KS_ETOOMANYREFS (the user has more
 * than the host's limit in flight and is not privileged) or -KS_ENOMEM;
 * on error @scm keeps them. No lock held.
 */
int	ks__unix_scm_attach_fds(struct unix_scm *scm, struct ks_mbuf *m,
				const struct ks_cred *cred);
/*
 * What queueing a message left the collector to do once the sender holds
 * no lock: the sockets of cycles the message completed (held, to purge),
 * or a run over the whole graph (a host that does not report dropped
 * file references). Pass it to ks__unix_gc_after_queue().
 */
struct unix_gc_todo {
	struct unix_sock	*kill;
	bool			 full;
};

/*
 * @m is being queued on @other by @sender: attaches @cred (the sender's
 * real ones) unless credentials are there already and SO_PASSCRED is on
 * either side (@sender_passcred) or @other is not accepted yet (Linux's
 * maybe_add_creds()), and enters @m's sockets in the in-flight graph,
 * setting @todo. Lock of @other held (the gc lock is taken inside).
 */
void	ks__unix_scm_queue_locked(struct ks_mbuf *m, struct unix_sock *other,
				  bool sender_passcred,
				  const struct ks_cred *cred,
				  struct unix_gc_todo *todo);
/* Whether @m carries descriptors (a stream read ends after it). */
static inline bool
ks__unix_mbuf_has_fds(const struct ks_mbuf *m)
{
	return m->anc != NULL;
}
/* Takes @m's descriptors away from it (a read consumed its first
 * byte): the caller owns the list. Lock of the queue's socket held. */
struct unix_fpl *ks__unix_scm_detach(struct ks_mbuf *m);
/* Another reference to @m's list, for a peek that copies it after the
 * lock is dropped. Lock of the queue's socket held. */
struct unix_fpl *ks__unix_scm_peek(struct ks_mbuf *m);

/* How many descriptors the ancillary data @anc of a message carries. */
uint32_t ks__unix_anc_nfds(const struct ks_anc *anc);

/* The credentials a read delivers (the first message's). */
struct unix_rcv_creds {
	bool		valid;
	int32_t		pid;
	uint32_t	uid, gid;
};

/* Control messages a read may add around credentials and descriptors. */
struct unix_rcv_extra {
	/* KS_SCM_TIMESTAMP_OLD/_NEW or KS_SCM_TIMESTAMPNS_OLD/_NEW (the
	 * reader's SO_TIMESTAMP* choice), or 0 for none; @ts_ns the time,
	 * real-time nanoseconds */
	int		ts_type;
	int64_t		ts_ns;
	/* SO_INQ: SCM_INQ with the bytes left to read */
	bool		inq;
	int		inq_bytes;
	/* SO_PASSPIDFD: SCM_PIDFD for the sender (after any SCM_RIGHTS) */
	bool		pidfd;
};

/*
 * Fills @msg's control buffer (capacity @cap, user memory) as Linux's
 * __sock_recv_timestamp() and scm_recv(): first the timestamp @x asks
 * for, then SCM_CREDENTIALS when @passcred (the reader's SO_PASSCRED,
 * read under its lock) and @creds is valid, then SCM_RIGHTS with as
 * many of @fpl's files as fit, installed as new descriptors
 * (close-on-exec with KS_MSG_CMSG_CLOEXEC), then SCM_PIDFD and SCM_INQ
 * if @x asks;
 * sets msg_controllen to what was written and MSG_CTRUNC when something
 * did not fit. @x may be NULL. Consumes the caller's reference to @fpl
 * (NULL: none); when @peek the files stay with the message, else the
 * ones not installed are closed. No lock held.
 */
void	ks__unix_scm_recv(struct ks_msghdr *msg, size_t cap, bool passcred,
			  const struct unix_rcv_creds *creds,
			  struct unix_fpl *fpl, bool peek, int flags,
			  const struct unix_rcv_extra *x);
/* Drops the caller's reference to @fpl (NULL: none) without delivering
 * anything. No lock held. */
void	ks__unix_scm_drop(struct unix_fpl *fpl);
/* The credentials of @m, for a read. */
static inline void
ks__unix_rcv_creds(struct unix_rcv_creds *c, const struct ks_mbuf *m)
{
	c->valid = true;
	c->pid = m->pid;
	c->uid = m->uid;
	c->gid = m->gid;
}

/* -- gc.c -- */

int	ks__unix_gc_init(void);
void	ks__unix_gc_fini(void);
/*
 * Charges @n descriptors to @uid, as Linux's unix_inflight accounting:
 * the check comes before the addition, so the send that crosses the limit
 * succeeds. Returns 0 with *@out, -KS_ETOOMANYREFS, -KS_ENOMEM. No lock
 * held.
 */
int	ks__unix_user_charge(uint32_t uid, unsigned n, struct unix_user **out);
void	ks__unix_user_uncharge(struct unix_user *user, unsigned n);
/*
 * Enters @fpl's sockets in the graph, queued on @receiver, and says in
 * @todo what collection that calls for: a socket put in flight with no
 * reference left outside the graph may have completed an unreachable
 * cycle, which no dropped reference will ever report. Lock of @receiver
 * held; takes the gc lock.
 */
void	ks__unix_gc_add_edges(struct unix_fpl *fpl, struct unix_sock *receiver,
			      struct unix_gc_todo *todo);
/* Does what @todo says. No lock held. */
void	ks__unix_gc_do(struct unix_gc_todo *todo);
static inline void
ks__unix_gc_after_queue(struct unix_gc_todo *todo)
{
	if (todo->kill != NULL || todo->full)
		ks__unix_gc_do(todo);
}
/*
 * An AF_UNIX socket was closed: on a host that does not report dropped
 * file references, a run over the whole graph if anything is in flight
 * (Linux's unix_release_sock()); else nothing. No lock held.
 */
void	ks__unix_gc_released(void);
/* Collects every unreachable cycle, whatever the host (ks_fini). No lock
 * held. */
void	ks__unix_gc_collect_all(void);
/*
 * Gives every AF_UNIX socket @fpl carries a vertex, allocating those
 * missing, and holds them for @fpl until ks__unix_gc_del_edges(): so
 * queueing it later needs no allocation. Returns 0 or -KS_ENOMEM (then
 * nothing is held). Call once per list, before it can be queued. No
 * lock held; takes the gc lock.
 */
int	ks__unix_gc_prepare(struct unix_fpl *fpl);
/* Takes @fpl's sockets out of the graph (it left its queue, or never
 * reached one) and drops its holds on their vertices. No lock held;
 * takes the gc lock. */
void	ks__unix_gc_del_edges(struct unix_fpl *fpl);
/*
 * Puts @fpl's files and frees it. A file put may close a socket, whose
 * queue holds more lists: those are put by the outermost call in this
 * thread, in a loop, so the stack does not grow with the graph. No lock
 * held.
 */
void	ks__unix_fpl_put_files(struct unix_fpl *fpl);
/* Waits for a collection in progress to end (Linux's barrier in
 * unix_peek_fds(); also a closing listener's, since a run may have read
 * an embryo's pointer to it). No lock held. */
void	ks__unix_gc_barrier(void);
/*
 * The host dropped a reference to @so's file, leaving @refs: collects
 * @so's strongly connected component of the in-flight graph if nothing
 * outside it can reach it any more. Ignored on a host that does not
 * report every dropped reference. No lock held.
 */
void	ks__unix_gc_file_dropped(struct ks_sock *so, long refs);
/* How many times the collector ran, and how many sockets it freed. */
void	ks__unix_gc_stats(uint64_t *runs, uint64_t *collected);
/* The references to @u held by messages in flight. */
long	ks__unix_inflight_of(struct unix_sock *u);

#endif /* KSOCK_UNIX_SCM_H */

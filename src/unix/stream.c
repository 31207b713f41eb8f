/*
 * AF_UNIX SOCK_STREAM data: one copy in (the sender's user memory into a
 * message it allocates), one copy out (the message into the reader's
 * user memory); or, for what a writer blocked for room still has to send,
 * one copy from its memory into the reader's (offer.c).
 *
 * A send is cut into messages as Linux cuts it into sk_buffs (at most
 * half the send buffer, "two messages in the pipe", and at most
 * KS_STREAM_MSG_MAX), so partial sends and SIOCOUTQ match. Each message
 * is charged to the sender until the reader consumes it; the sender
 * blocks while its charge is at or above SO_SNDBUF and is woken by the
 * reader freeing messages as soon as it is below (poll reports it
 * writable only at a quarter, as Linux). The receiver's SO_RCVBUF plays
 * no part, as on Linux.
 *
 * Reads join messages, but never past a message carrying ancillary data
 * (descriptors) and, with SO_PASSCRED, never across writers with other
 * credentials. Consumed messages are freed after the lock is dropped.
 *
 * Locks: a send takes its own lock (to read the peer, which stays set
 * until our own close, and to wait for room) and then only the
 * receiver's lock per message. A reader copies large chunks out with its
 * lock dropped, so senders can queue meanwhile; it holds the socket's
 * reading token instead (Linux's iolock), which keeps the messages it
 * copies from in place: only a token holder advances or removes the head
 * of a stream queue (close empties it, but never during a call).
 *
 * Out-of-band data, as Linux's (CONFIG_AF_UNIX_OOB): the last byte of a
 * MSG_OOB send travels as a one-byte message of its own at the tail of
 * the queue, and the receiver's @oob points at it; the mark is the
 * position of that message. Keeping it in the queue, rather than beside
 * it, is what makes every quirk Linux has fall out of queue order: a
 * normal read stops before the message, a read that starts there drops
 * it (or, with SO_OOBINLINE, reads it), recv(MSG_OOB) empties it but
 * leaves it queued so reads still stop there, and a newer OOB send just
 * moves @oob, leaving the old byte as ordinary data. The message is
 * charged like any other, so SIOCOUTQ and SO_SNDBUF count it as Linux
 * counts its sk_buff; that costs one allocation per MSG_OOB send, no more
 * than a one-byte send. SIGURG goes to the receiver's F_SETOWN owner
 * after its lock is dropped. recv(MSG_OOB) holds the reading token, as
 * it may unlink a message.
 */
#include "unix/unix.h"

/* Bytes of @m not yet read: 0 for a consumed out-of-band message, which
 * stays queued as the mark. */
static size_t
mbuf_unread(const struct ks_mbuf *m)
{
	return m->len - m->off;
}

/* Takes the head of @u's queue onto the chain ending at *@tail. */
static void
drop_head_locked(struct unix_sock *u, struct ks_mbuf ***tail)
{
	struct ks_mbuf *m = ks__mq_pop(&u->rcvq);

	**tail = m;
	*tail = &m->next;
}

static size_t
stream_msg_size(struct ks_sock *so, size_t left)
{
	int half = atomic_load_explicit(&so->sndbuf, memory_order_relaxed) / 2 -
		   64;
	size_t max = half > 0 ? (size_t)half : 1;

	if (max > KS_STREAM_MSG_MAX)
		max = KS_STREAM_MSG_MAX;
	return left < max ? left : max;
}

/*
 * Waits until @so may allocate another message (Linux's
 * sock_alloc_send_pskb() loop): reports a pending error, then our own
 * SHUT_WR (-KS_EPIPE), then waits while the charge is at or above
 * SO_SNDBUF. Returns 0, -KS_EAGAIN (non-blocking or timed out), -KS_EINTR.
 * No lock held on entry or return.
 */
int
ks__unix_wait_sndbuf(struct ks_sock *so, int64_t deadline)
{
	struct ks__waiter w;
	bool waiting = false;
	int err = 0;

	ks__lock(so);
	for (;;) {
		err = ks__sock_error_locked(so);
		if (err < 0)
			break;
		if (so->shutdown & KS_SEND_SHUTDOWN) {
			err = -KS_EPIPE;
			break;
		}
		if (atomic_load(&so->wmem) < atomic_load(&so->sndbuf))
			break;
		if (deadline == 0) {
			err = -KS_EAGAIN;
			break;
		}
		if (!waiting) {
			/* Publish ourselves, then look again: readers free
			 * our charge without our lock. */
			ks__waiter_init(&w, UNIX_POLL_OUT);
			ks__wait_add_locked(so, &w);
			waiting = true;
			continue;
		}
		ks__unlock(so);
		err = ks__wait_expired(ks__waiter_sleep(&w, deadline),
				       &deadline);
		ks__lock(so);
		if (err < 0)
			break;
		ks__waiter_rearm_locked(&w);
	}
	if (waiting)
		ks__wait_del_locked(so, &w);
	ks__unlock(so);
	if (err == -KS_EAGAIN)
		ks__diag_count(KS__CNT_NOSPACE);
	return err;
}

/*
 * Sends the out-of-band byte, the last of a MSG_OOB send (Linux's
 * queue_oob()): a one-byte message at the tail of @other's queue becomes
 * its pending byte, a previous one turning into ordinary data, and
 * @other's owner gets SIGURG. Returns 0, -KS_EPIPE (@other closed or shut
 * down reading; no SIGPIPE, as Linux), or what waiting for room and
 * allocating return. No lock held.
 */
static int
stream_send_oob(struct ks_sock *so, struct unix_sock *other,
		struct ks_iter *it, const struct ks_cred *cred,
		struct unix_scm *scm, bool passcred, int64_t deadline)
{
	struct unix_gc_todo todo;
	struct ks_mbuf *m;
	int32_t owner;
	int err;

	err = ks__unix_wait_sndbuf(so, deadline);
	if (err < 0)
		return err;
	err = ks__mbuf_alloc(1, ks__stream_truesize(1), &m);
	if (err < 0)
		return err;
	err = ks__iter_copy_from(it, m->data, 1);
	if (err < 0)
		goto free_m;
	ks__unix_scm_set_creds(scm, m);
	err = ks__unix_scm_attach_fds(scm, m, cred);
	if (err < 0)
		goto free_m;
	ks__mbuf_charge(m, so);

	unix_lock(other);
	if (other->dead || (other->base.shutdown & KS_RCV_SHUTDOWN)) {
		err = -KS_EPIPE;
		goto unlock;
	}
	if (m->anc != NULL && unix_refuses_fds_locked(other)) {
		err = -KS_EPERM;
		goto unlock;
	}
	ks__unix_scm_queue_locked(m, other, passcred, cred, &todo);
	ks__mq_push(&other->rcvq, m);
	other->oob = m;
	if (ks__has_waiters(&other->base))
		ks__wake_locked(&other->base, UNIX_POLL_IN | KS_POLLPRI);
	unix_unlock(other);
	ks__unix_gc_after_queue(&todo);
	/* Linux signals with the receiver locked; the owner is atomic, and
	 * a host's signal path may take locks of its own, so we signal after
	 * (the peer pointer stays valid until our own close). */
	owner = atomic_load(&other->base.owner);
	if (owner != 0)
		ks__port->signal_urg(owner);
	return 0;

unlock:
	unix_unlock(other);
free_m:
	ks__mbuf_free(m);
	return err;
}

/* The pipe broke: SIGPIPE unless MSG_NOSIGNAL, as Linux's stream send. */
static long
stream_pipe_err(size_t sent, int flags)
{
	if (sent == 0 && !(flags & KS_MSG_NOSIGNAL))
		ks__port->signal_pipe();
	return sent ? (long)sent : -KS_EPIPE;
}

static long
unix_stream_sendmsg(struct ks_sock *so, const struct ks_msghdr *msg,
		    struct ks_iter *it, int flags)
{
	struct unix_sock *u = unix_sk(so), *other;
	struct unix_scm scm;
	struct ks_cred cred;
	size_t total = it->count, sent = 0;
	int64_t deadline;
	uint8_t shut;
	int state, err = 0;
	bool oob = (flags & KS_MSG_OOB) != 0, passcred;
	long ret;

	/* Control data first, as Linux's scm_send(); the descriptors ride on
	 * the first message, so a 0-byte send sends none. */
	err = ks__unix_scm_send(msg, &scm);
	if (err < 0)
		return err;
	/* The last byte goes out of band, so there must be one. */
	if (oob) {
		if (total == 0) {
			ret = -KS_EOPNOTSUPP;
			goto destroy_scm;
		}
		total--;
	}
	unix_lock(u);
	other = u->peer;
	shut = so->shutdown;
	state = so->state;
	passcred = unix_may_passcred_locked(so);
	deadline = ks__deadline(so->sndtimeo, flags & KS_MSG_DONTWAIT);
	unix_unlock(u);
	if (msg->msg_namelen != 0) {
		ret = state == KS_SS_CONNECTED ? -KS_EISCONN : -KS_EOPNOTSUPP;
		goto destroy_scm;
	}
	if (other == NULL) {
		ret = -KS_ENOTCONN;
		goto destroy_scm;
	}
	if (shut & KS_SEND_SHUTDOWN) {
		ret = stream_pipe_err(0, flags);
		goto destroy_scm;
	}
	ks__port->cred(&cred);

	while (sent < total) {
		struct unix_gc_todo todo;
		struct ks_mbuf *m;
		size_t size, taken;
		bool wake;

		if (ks__cross_copy && scm.files == NULL &&
		    total - sent >= UNIX_OFFER_MIN) {
			err = ks__unix_wait_offering(so, other, it, total - sent,
						     false, deadline, &taken);
			sent += taken;
			if (err < 0 || sent == total)
				break;
		} else {
			err = ks__unix_wait_sndbuf(so, deadline);
			if (err < 0)
				break;
		}
		size = stream_msg_size(so, total - sent);
		err = ks__mbuf_alloc_like(size, ks__stream_truesize(size),
					  ks__iter_pos(it), &m);
		if (err < 0)
			break;
		err = ks__iter_copy_from(it, m->data, size);
		if (err == 0) {
			ks__unix_scm_set_creds(&scm, m);
			err = ks__unix_scm_attach_fds(&scm, m, &cred);
		}
		if (err < 0) {
			ks__mbuf_free(m);
			break;
		}
		ks__mbuf_charge(m, so);

		unix_lock(other);
		if (other->dead || (other->base.shutdown & KS_RCV_SHUTDOWN)) {
			unix_unlock(other);
			ks__mbuf_free(m);
			ret = stream_pipe_err(sent, flags);
			goto destroy_scm;
		}
		/* Descriptors ride on the first message: nothing was sent. */
		if (m->anc != NULL && unix_refuses_fds_locked(other)) {
			unix_unlock(other);
			ks__mbuf_free(m);
			ret = -KS_EPERM;
			goto destroy_scm;
		}
		ks__unix_scm_queue_locked(m, other, passcred, &cred, &todo);
		ks__mq_push(&other->rcvq, m);
		wake = ks__has_waiters(&other->base);
		if (wake)
			ks__wake_locked(&other->base, UNIX_POLL_IN);
		unix_unlock(other);
		ks__unix_gc_after_queue(&todo);
		sent += size;
	}
	/* The out-of-band byte follows only a complete send of the rest. */
	if (oob && sent == total) {
		err = stream_send_oob(so, other, it, &cred, &scm, passcred,
				      deadline);
		if (err == 0)
			sent++;
	}
	/* An EPIPE found while allocating (we were shut down while waiting
	 * for room) comes without SIGPIPE, as on Linux. */
	ret = sent ? (long)sent : err;
destroy_scm:
	ks__unix_scm_destroy(&scm);
	return ret;
}

/* Chunks at least this big are copied out with the socket lock dropped;
 * smaller ones cost less than the unlock and relock. */
#define UNIX_COPY_UNLOCKED_MIN	2048

/*
 * Takes the reading token, waiting (however the socket blocks: the holder
 * never keeps it long) while another reader has it. Linux's token, the
 * iolock, is an uninterruptible mutex: a signal does not end this wait,
 * but the read's next wait for data, if it comes to one; the host has
 * already run the handler, so *@intr remembers it. Socket lock held.
 */
static void
reader_enter_locked(struct unix_sock *u, struct ks__waiter *w, bool *intr)
{
	while (u->reading)
		if (ks__wait_locked(&u->base, w, -1) == -KS_EINTR)
			*intr = true;
	u->reading = true;
}

static void
reader_exit_locked(struct unix_sock *u)
{
	u->reading = false;
	if (ks__has_waiters(&u->base))
		ks__wake_locked(&u->base, UNIX_POLL_IN);
}

/* Whether a reader that started with the credentials of @first may go on
 * into @m (Linux's unix_skb_scm_eq()). */
static bool
creds_are_same(const struct ks_mbuf *first, const struct ks_mbuf *m)
{
	return first->pid == m->pid && first->uid == m->uid &&
	       first->gid == m->gid;
}

/*
 * What a read does about the mark at @m (the head, or where a peek goes
 * on), as Linux's manage_oob(): returns the message to read from, or NULL
 * when the read must stop here (or, having copied nothing, finds nothing
 * to read). A consumed mark stops a read that has copied something unless
 * a newer byte is pending; otherwise a read passes it, a non-peeking one
 * dropping it. The pending byte stops a read that has copied something;
 * a read that starts at it takes it as data with SO_OOBINLINE, and
 * otherwise passes over it, a non-peeking one dropping it (then no longer
 * pending either way). Only a non-peeking read, at the head, drops
 * anything; dropped messages go on the chain ending at *@drop. A peek
 * that passes over the byte adds it to *@passed. Socket lock and reading
 * token held.
 */
static struct ks_mbuf *
stream_manage_oob_locked(struct unix_sock *u, struct ks_mbuf *m, bool peek,
			 bool copied, size_t *passed, struct ks_mbuf ***drop)
{
	bool inline_oob = ks__has_opt(&u->base, KS_OPT_OOBINLINE);

	if (m == NULL || (mbuf_unread(m) != 0 && m != u->oob))
		return m;
	if (mbuf_unread(m) == 0) {
		if (copied && u->oob == NULL)
			return NULL;
		if (peek) {
			m = m->next;
		} else {
			drop_head_locked(u, drop);
			m = u->rcvq.head;
		}
		if (m == NULL || m != u->oob)
			return m;
	}
	if (copied)
		return NULL;
	if (!peek) {
		u->oob = NULL;
		if (!inline_oob) {
			drop_head_locked(u, drop);
			m = u->rcvq.head;
		}
	} else if (!inline_oob) {
		*passed += 1;
		m = m->next;
	}
	return m;
}

/*
 * Finds where a read goes on: the message and the offset into it
 * (*@skip, on entry the bytes a peek has already passed). Linux looks at
 * the mark at the head before it skips a peek's offset, and later where
 * the read goes on. Returns NULL with *@stop set when the read stops at
 * the mark, or with *@stop clear when nothing more is queued. Socket lock
 * and reading token held.
 */
static struct ks_mbuf *
stream_find_locked(struct unix_sock *u, bool peek, size_t copied,
		   size_t *skip, size_t *passed, struct ks_mbuf ***drop,
		   bool *stop)
{
	struct ks_mbuf *m = u->rcvq.head;

	*stop = false;
	if (copied != 0) {
		while (m != NULL && *skip > 0 && *skip >= mbuf_unread(m)) {
			*skip -= mbuf_unread(m);
			m = m->next;
		}
		if (m == NULL || *skip > 0)
			return m;
	}
	if (m == NULL)
		return NULL;
	m = stream_manage_oob_locked(u, m, peek, copied != 0, passed, drop);
	if (m == NULL) {
		*stop = true;
		return NULL;
	}
	while (m != NULL && *skip >= mbuf_unread(m)) {
		*skip -= mbuf_unread(m);
		/* A non-peeking read reads from the head only. */
		if (!peek && m == u->rcvq.head) {
			drop_head_locked(u, drop);
			m = u->rcvq.head;
		} else {
			m = m->next;
		}
	}
	return m;
}

/*
 * recv(MSG_OOB), Linux's unix_stream_recv_urg(): returns 1 with the
 * pending byte (a 0-byte buffer gets nothing but consumes it too) and
 * MSG_OOB in msg_flags. Unless MSG_PEEK the byte is consumed, but its
 * empty message stays queued as the mark, so a normal read still stops
 * there; an empty mark just before it merges with it. Returns -KS_EINVAL
 * when no byte is pending or SO_OOBINLINE is on, -KS_EFAULT, -KS_EINTR.
 */
static long
stream_recv_oob(struct unix_sock *u, struct ks_msghdr *msg,
		struct ks_iter *it, int flags)
{
	struct ks_mbuf *m, *prev = NULL, *before = NULL, *x;
	struct ks__waiter w;
	unsigned char c = 0;
	bool intr = false;
	int err = 0;

	ks__waiter_init(&w, UNIX_POLL_IN);
	unix_lock(u);
	/* Nothing here waits after the token: a signal meanwhile ends
	 * nothing (Linux's recv(MSG_OOB) takes the iolock as a mutex). */
	reader_enter_locked(u, &w, &intr);
	m = u->oob;
	if (ks__has_opt(&u->base, KS_OPT_OOBINLINE) || m == NULL) {
		err = -KS_EINVAL;
		goto exit;
	}
	c = m->data[m->off];
	if (!(flags & KS_MSG_PEEK)) {
		u->oob = NULL;
		m->off++;
		u->rcvq.bytes--;
		/* Linux unlinks its predecessor in O(1); our queue is singly
		 * linked, so we walk it (bounded by the sender's SO_SNDBUF,
		 * and recv(MSG_OOB) is rare). */
		for (x = u->rcvq.head; x != m; x = x->next) {
			before = prev;
			prev = x;
		}
		if (prev != NULL && mbuf_unread(prev) == 0) {
			if (before != NULL)
				before->next = m;
			else
				u->rcvq.head = m;
			u->rcvq.count--;
			prev->next = NULL;
		} else {
			prev = NULL;
		}
	}
exit:
	reader_exit_locked(u);
	unix_unlock(u);
	if (err < 0)
		return err;
	if (prev != NULL)
		ks__mbuf_free(prev);
	/* Consumed even when the copy faults, as on Linux. */
	if (ks__iter_copy_to(it, &c, it->count != 0) < 0)
		return -KS_EFAULT;
	msg->msg_flags |= KS_MSG_OOB;
	return 1;
}

/*
 * Whether a 0-byte peek that found @m must wait as if nothing were
 * queued. Linux's peek does not stop when its buffer is full: it walks on
 * message by message (copying 0 bytes from each) until the queue ends or
 * a message carries descriptors, passing the marks as any peek does; a
 * walk that ends by passing the pending out-of-band byte (without
 * SO_OOBINLINE) or a consumed mark finds "no data" and waits, one that
 * ends anywhere else returns 0. Only a 0-byte peek can tell the
 * difference. Socket lock and reading token held.
 */
static bool
zero_peek_waits_locked(struct unix_sock *u, struct ks_mbuf *m)
{
	bool inline_oob = ks__has_opt(&u->base, KS_OPT_OOBINLINE);

	for (;;) {
		if (ks__unix_mbuf_has_fds(m))
			return false;
		m = m->next;
		if (m == NULL)
			return false;
		if (mbuf_unread(m) == 0) {
			m = m->next;
			if (m == NULL)
				return true;
		}
		if (m == u->oob && !inline_oob) {
			m = m->next;
			if (m == NULL)
				return true;
		}
	}
}

/* See unix.h. Linux's SIOCATMARK: at the pending byte, or at a consumed
 * mark with no newer byte pending beyond the one right after it. */
bool
ks__unix_stream_at_mark(struct unix_sock *u)
{
	struct ks_mbuf *m;
	bool at;

	unix_lock(u);
	m = u->rcvq.head;
	at = m != NULL &&
	     (m == u->oob || (mbuf_unread(m) == 0 &&
			      (u->oob == NULL || m->next == u->oob)));
	unix_unlock(u);
	return at;
}

static long
unix_stream_recvmsg(struct ks_sock *so, struct ks_msghdr *msg,
		    struct ks_iter *it, int flags)
{
	struct unix_sock *u = unix_sk(so);
	struct ks_mbuf *m, *done = NULL, **done_tail = &done;
	struct ks_mbuf first_creds = { 0 };
	/* Linux delivers zeros (pid 0, uid and gid 0) to a reader with
	 * SO_PASSCRED that read no message, at EOF for one. */
	struct unix_rcv_creds creds = { .valid = true };
	struct unix_rcv_extra x = { 0, 0, false, 0, false };
	struct unix_fpl *fpl = NULL;
	struct ks__waiter w;
	uint32_t namecap = msg->msg_namelen;
	size_t size = it->count, copied = 0, target;
	size_t ctlcap = msg->msg_controllen;
	bool check_creds = false, peek = (flags & KS_MSG_PEEK) != 0;
	bool name_done = msg->msg_name == NULL, stop, passcred, intr = false;
	int64_t deadline;
	int err = 0;
	size_t skip0, skip, passed = 0;

	msg->msg_namelen = 0;
	msg->msg_controllen = 0;
	ks__waiter_init(&w, UNIX_POLL_IN);

	unix_lock(u);
	if (so->state != KS_SS_CONNECTED) {
		unix_unlock(u);
		return -KS_EINVAL;
	}
	if (flags & KS_MSG_OOB) {
		unix_unlock(u);
		return stream_recv_oob(u, msg, it, flags);
	}
	deadline = ks__deadline(so->rcvtimeo, flags & KS_MSG_DONTWAIT);
	/* Linux's sock_rcvlowat(): all with MSG_WAITALL, else SO_RCVLOWAT,
	 * and never less than one byte (so a 0-byte read waits for data). */
	target = (flags & KS_MSG_WAITALL) ? size :
		 ((size_t)so->rcvlowat < size ? (size_t)so->rcvlowat : size);
	if (target == 0)
		target = 1;
	skip0 = peek && so->peek_off > 0 ? (size_t)so->peek_off : 0;
	reader_enter_locked(u, &w, &intr);

	for (;;) {
		/* A peek goes on past what it has copied so far, and past an
		 * out-of-band byte it passed over. */
		if (copied == 0)
			passed = 0;
		skip = skip0 + (peek ? copied + passed : 0);
		m = stream_find_locked(u, peek, copied, &skip, &passed,
				       &done_tail, &stop);
		if (m != NULL && peek && size == 0 &&
		    zero_peek_waits_locked(u, m))
			m = NULL;
		if (m == NULL && !stop && !peek) {
			struct ks_sock *writer = NULL;
			size_t offered;
			long n = 0;

			/* Credentials go with messages only. */
			if (!unix_may_passcred_locked(so))
				n = ks__unix_take_offer_locked(u, it,
							       size - copied,
							       false, &writer,
							       &offered);

			if (n < 0) {
				if (copied == 0)
					err = (int)n;
				break;
			}
			if (n > 0) {
				if (!name_done) {
					ks__unix_copy_addr(msg, namecap, writer);
					name_done = true;
				}
				copied += (size_t)n;
				if (so->peek_off >= 0)
					so->peek_off = so->peek_off > (int)n ?
						       so->peek_off - (int)n : 0;
				if (copied == size)
					break;
				continue;
			}
		}
		if (m == NULL) {
			/* At the mark a read ends, whatever its target; so
			 * does a peek at the end of the queue once it has
			 * copied something (Linux's peek never waits then). */
			if (copied >= target || (copied != 0 && (stop || peek)))
				break;
			/* POSIX wants the error before EOF. */
			err = ks__sock_error_locked(so);
			if (err < 0)
				break;
			if (so->shutdown & KS_RCV_SHUTDOWN)
				break;
			if (deadline == 0) {
				err = -KS_EAGAIN;
				break;
			}
			/* A signal came while we waited for the token. */
			if (intr) {
				err = -KS_EINTR;
				break;
			}
			/* Let the writer refill while we sleep. */
			if (done != NULL) {
				unix_unlock(u);
				ks__mbuf_free_chain(done);
				done = NULL;
				done_tail = &done;
				unix_lock(u);
				continue;
			}
			reader_exit_locked(u);
			err = ks__wait_expired(ks__wait_locked(so, &w, deadline),
					       &deadline);
			if (err < 0)
				goto unlock;
			reader_enter_locked(u, &w, &intr);
			continue;
		}
		if (check_creds) {
			/* Never glue data from different writers. */
			if (!creds_are_same(&first_creds, m))
				break;
		} else if (unix_may_passcred_locked(so)) {
			first_creds.pid = m->pid;
			first_creds.uid = m->uid;
			first_creds.gid = m->gid;
			ks__unix_rcv_creds(&creds, m);
			check_creds = true;
		}
		if (!name_done) {
			ks__unix_copy_addr(msg, namecap, m->owner);
			name_done = true;
		}

		size_t avail = m->len - m->off - skip;
		size_t chunk = avail < size - copied ? avail : size - copied;

		if (chunk >= UNIX_COPY_UNLOCKED_MIN) {
			unix_unlock(u);
			err = ks__iter_copy_to(it, m->data + m->off + skip, chunk);
			unix_lock(u);
		} else {
			err = ks__iter_copy_to(it, m->data + m->off + skip, chunk);
		}
		if (err < 0) {
			if (copied != 0)
				err = 0;
			break;
		}
		copied += chunk;
		if (!peek) {
			/* Descriptors go with the first byte read of their
			 * message, and end the read: they belong to its
			 * bytes. */
			bool had_fds = ks__unix_mbuf_has_fds(m);

			if (had_fds)
				fpl = ks__unix_scm_detach(m);
			m->off += (uint32_t)chunk;
			u->rcvq.bytes -= chunk;
			if (so->peek_off >= 0)
				so->peek_off = so->peek_off > (int)chunk ?
					       so->peek_off - (int)chunk : 0;
			if (m->off < m->len)
				break;
			ks__mq_pop(&u->rcvq);
			*done_tail = m;
			done_tail = &m->next;
			if (had_fds)
				break;
		} else {
			if (so->peek_off >= 0)
				so->peek_off += (int)chunk;
			if (ks__unix_mbuf_has_fds(m)) {
				fpl = ks__unix_scm_peek(m);
				break;
			}
		}
		if (copied == size)
			break;
	}
	reader_exit_locked(u);
unlock:
	passcred = ks__has_opt(so, KS_OPT_PASSCRED);
	x.pidfd = ks__has_opt(so, KS_OPT_PASSPIDFD);
	/* SO_INQ: what is left to read, after a read that did not fail
	 * (Linux's unix_stream_read_generic()). */
	x.inq = ks__has_opt(so, KS_OPT_INQ) && (copied != 0 || err >= 0);
	x.inq_bytes = (int)u->rcvq.bytes;
	unix_unlock(u);
	ks__mbuf_free_chain(done);
	ks__unix_scm_recv(msg, ctlcap, passcred, &creds, fpl, peek, flags, &x);
	return copied ? (long)copied : err;
}

const struct ks_proto_ops ks__unix_stream_ops = {
	.bind		= ks__unix_bind,
	.listen		= ks__unix_listen,
	.connect	= ks__unix_stream_connect,
	.accept		= ks__unix_accept,
	.sendmsg	= unix_stream_sendmsg,
	.recvmsg	= unix_stream_recvmsg,
	.shutdown	= ks__unix_shutdown,
	.getname	= ks__unix_getname,
	.poll		= ks__unix_conn_poll,
	.ioctl		= ks__unix_ioctl,
	.setsockopt	= ks__no_setsockopt,
	.getsockopt	= ks__no_getsockopt,
	.release	= ks__unix_sock_release,
	.destroy	= ks__unix_destroy,
	.diag		= ks__unix_diag,
	.has_peek_off	= true,
	.has_inq	= true,
};

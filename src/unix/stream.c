/*
 * AF_UNIX SOCK_STREAM data: one copy in (the sender's user memory into a
 * message it allocates), one copy out (the message into the reader's
 * user memory).
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
 */
#include "unix/unix.h"

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
		err = ks__waiter_sleep(&w, deadline);
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
	struct ks_cred cred;
	size_t total = it->count, sent = 0;
	int64_t deadline;
	uint8_t shut;
	int state, err = 0;

	if (flags & KS_MSG_OOB)
		return -KS_EOPNOTSUPP;
	unix_lock(u);
	other = u->peer;
	shut = so->shutdown;
	state = so->state;
	deadline = ks__deadline(so->sndtimeo, flags & KS_MSG_DONTWAIT);
	unix_unlock(u);
	if (msg->msg_namelen != 0)
		return state == KS_SS_CONNECTED ? -KS_EISCONN : -KS_EOPNOTSUPP;
	if (other == NULL)
		return -KS_ENOTCONN;
	if (shut & KS_SEND_SHUTDOWN)
		return stream_pipe_err(0, flags);
	ks__port->cred(&cred);

	while (sent < total) {
		struct ks_mbuf *m;
		size_t size = stream_msg_size(so, total - sent);
		bool wake;

		err = ks__unix_wait_sndbuf(so, deadline);
		if (err < 0)
			break;
		err = ks__mbuf_alloc(size, ks__stream_truesize(size), &m);
		if (err < 0)
			break;
		err = ks__iter_copy_from(it, m->data, size);
		if (err < 0) {
			ks__mbuf_free(m);
			break;
		}
		ks__unix_mbuf_creds(m, &cred);
		ks__mbuf_charge(m, so);

		unix_lock(other);
		if (other->dead || (other->base.shutdown & KS_RCV_SHUTDOWN)) {
			unix_unlock(other);
			ks__mbuf_free(m);
			return stream_pipe_err(sent, flags);
		}
		ks__mq_push(&other->rcvq, m);
		wake = ks__has_waiters(&other->base);
		if (wake)
			ks__wake_locked(&other->base, UNIX_POLL_IN);
		unix_unlock(other);
		sent += size;
	}
	/* An EPIPE found while allocating (we were shut down while waiting
	 * for room) comes without SIGPIPE, as on Linux. */
	return sent ? (long)sent : err;
}

/* Chunks at least this big are copied out with the socket lock dropped;
 * smaller ones cost less than the unlock and relock. */
#define UNIX_COPY_UNLOCKED_MIN	2048

/*
 * Takes the reading token, waiting (however the socket blocks: the holder
 * never keeps it long) while another reader has it. Socket lock held.
 */
static int
reader_enter_locked(struct unix_sock *u, struct ks__waiter *w)
{
	int err;

	while (u->reading) {
		err = ks__wait_locked(&u->base, w, -1);
		if (err < 0)
			return err;
	}
	u->reading = true;
	return 0;
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

static long
unix_stream_recvmsg(struct ks_sock *so, struct ks_msghdr *msg,
		    struct ks_iter *it, int flags)
{
	struct unix_sock *u = unix_sk(so);
	struct ks_mbuf *m, *done = NULL, **done_tail = &done;
	struct ks_mbuf first_creds = { 0 };
	struct ks__waiter w;
	uint32_t namecap = msg->msg_namelen;
	size_t size = it->count, copied = 0, target;
	bool check_creds = false, peek = (flags & KS_MSG_PEEK) != 0;
	bool name_done = msg->msg_name == NULL;
	int64_t deadline;
	int err = 0;
	size_t skip0, skip;

	msg->msg_namelen = 0;
	msg->msg_controllen = 0;
	if (flags & KS_MSG_OOB)
		return -KS_EOPNOTSUPP;
	ks__waiter_init(&w, UNIX_POLL_IN);

	unix_lock(u);
	if (so->state != KS_SS_CONNECTED) {
		unix_unlock(u);
		return -KS_EINVAL;
	}
	deadline = ks__deadline(so->rcvtimeo, flags & KS_MSG_DONTWAIT);
	/* Linux's sock_rcvlowat(): all with MSG_WAITALL, else SO_RCVLOWAT,
	 * and never less than one byte (so a 0-byte read waits for data). */
	target = (flags & KS_MSG_WAITALL) ? size :
		 ((size_t)so->rcvlowat < size ? (size_t)so->rcvlowat : size);
	if (target == 0)
		target = 1;
	skip0 = peek && so->peek_off > 0 ? (size_t)so->peek_off : 0;
	err = reader_enter_locked(u, &w);
	if (err < 0) {
		unix_unlock(u);
		return err;
	}

	for (;;) {
		/* A peek goes on past what it has copied so far. */
		skip = skip0 + (peek ? copied : 0);
		m = u->rcvq.head;
		while (m != NULL && skip >= m->len - m->off) {
			skip -= m->len - m->off;
			m = m->next;
		}
		if (m == NULL) {
			if (copied >= target)
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
			err = ks__wait_locked(so, &w, deadline);
			if (err == 0)
				err = reader_enter_locked(u, &w);
			if (err < 0)
				goto unlock;
			continue;
		}
		if (check_creds) {
			/* Never glue data from different writers. */
			if (!creds_are_same(&first_creds, m))
				break;
		} else if (ks__has_opt(so, KS_OPT_PASSCRED)) {
			first_creds.pid = m->pid;
			first_creds.uid = m->uid;
			first_creds.gid = m->gid;
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
			/* Descriptors end a read: they belong to its bytes. */
			if (m->anc != NULL)
				break;
		} else {
			if (so->peek_off >= 0)
				so->peek_off += (int)chunk;
			if (m->anc != NULL)
				break;
		}
		if (copied == size)
			break;
	}
	reader_exit_locked(u);
unlock:
	unix_unlock(u);
	ks__mbuf_free_chain(done);
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
};

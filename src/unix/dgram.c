/*
 * AF_UNIX SOCK_DGRAM: datagrams, connect / reconnect / disconnect, and
 * the send and receive paths SOCK_SEQPACKET reuses.
 *
 * Each datagram is one message, charged to its sender until read, so
 * between sockets connected to each other only the sender's SO_SNDBUF
 * limits (payload at most SO_SNDBUF - 32: EMSGSIZE). A receiver that is
 * not connected back to the sender takes at most max_dgram_qlen + 1
 * datagrams; then the sender waits on the receiver's queue (or gets
 * EAGAIN) and is woken when the receiver reads. Poll registers on that
 * receiver too, so the sender becomes writable when it drains.
 *
 * connect sets the default peer; connecting elsewhere purges our queue
 * and gives an old peer connected back to us ECONNRESET. A send to a
 * connected peer that has closed gets ECONNREFUSED once and drops the
 * association (then ENOTCONN); a send that looked the peer up before
 * another dropped it gets ECONNRESET.
 *
 * Locks: a send takes the receiver's lock (and ours alone, before or
 * after, never nested except through ks__unix_lock_pair()). Connect
 * holds both through ks__unix_lock_pair(). Dropped references and freed
 * messages happen with no lock held.
 */
#include "unix/unix.h"

/* Linux's unix_may_send(): @other is connected nowhere, or to us. */
static bool
may_send_locked(struct unix_sock *u, struct unix_sock *other)
{
	return other->peer == NULL || other->peer == u;
}

/*
 * We stopped talking to @other (reconnect, disconnect, or it died):
 * drop what we had queued and, if @other is alive and connected back to
 * us, tell it that messages were lost (Linux's unix_dgram_disconnected()).
 * No lock held.
 */
static void
dgram_disconnected(struct unix_sock *u, struct unix_sock *other)
{
	struct ks_mbuf *q;

	unix_lock(u);
	q = ks__mq_take_all(&u->rcvq);
	if (q != NULL)
		ks__wake_locked(&u->base, UNIX_POLL_OUT);
	unix_unlock(u);
	if (q == NULL)
		return;
	ks__mbuf_free_chain(q);
	unix_lock(other);
	if (!other->dead && other->peer == u) {
		other->base.err = KS_ECONNRESET;
		ks__wake_locked(&other->base, KS_POLLERR);
	}
	unix_unlock(other);
}

/*
 * connect(2) on a datagram socket: sets, changes or (AF_UNSPEC) clears
 * the default peer. Returns 0, -KS_EINVAL, the lookup's errors, -KS_EPERM
 * (the target is connected to someone else), -KS_ENOMEM / -KS_ENOSPC
 * (autobind with SO_PASSCRED).
 */
static int
unix_dgram_connect(struct ks_sock *so, const void *addr, uint32_t len,
		   bool nonblock)
{
	const struct ks_sockaddr_un *sun = addr;
	struct unix_sock *u = unix_sk(so), *other = NULL, *old;
	bool passcred;
	int err;

	if (len < sizeof(sun->sun_family))
		return -KS_EINVAL;
	if (sun->sun_family != KS_AF_UNSPEC) {
		err = ks__unix_validate_addr(addr, len);
		if (err < 0)
			return err;
		unix_lock(u);
		passcred = unix_may_passcred_locked(so);
		unix_unlock(u);
		if (passcred) {
			err = ks__unix_autobind(u);
			if (err < 0)
				return err;
		}
restart:
		err = ks__unix_find(so, addr, len, &other);
		if (err < 0)
			return err;
		ks__unix_lock_pair(u, other);
		if (other->dead) {
			ks__unix_unlock_pair(u, other);
			unix_put(other);
			goto restart;
		}
		if (!may_send_locked(u, other)) {
			ks__unix_unlock_pair(u, other);
			unix_put(other);
			return -KS_EPERM;
		}
	} else {
		unix_lock(u);
	}
	old = u->peer;
	u->peer = other;	/* the lookup's reference */
	so->state = other ? KS_SS_CONNECTED : KS_SS_UNCONNECTED;
	/* Linux marks the target established too (for sockmap), for good:
	 * only introspection shows it (/proc/net/unix's St 03), and nothing
	 * here reads a datagram socket's state otherwise. */
	if (other != NULL)
		other->base.state = KS_SS_CONNECTED;
	/* Writability now depends on another peer's queue. */
	ks__wake_locked(so, UNIX_POLL_OUT);
	ks__unix_unlock_pair(u, other);
	if (old != NULL) {
		if (old != other)
			dgram_disconnected(u, old);
		unix_put(old);
	}
	return 0;
}

/* The default peer is dead: forget it (if it still is ours) and report
 * ECONNREFUSED; later sends get ENOTCONN. No lock held. */
static void
dgram_peer_died(struct unix_sock *u, struct unix_sock *other)
{
	bool was_peer;

	unix_lock(u);
	was_peer = u->peer == other;
	if (was_peer) {
		u->peer = NULL;
		u->base.state = KS_SS_UNCONNECTED;
	}
	unix_unlock(u);
	if (was_peer) {
		dgram_disconnected(u, other);
		unix_put(other);
	}
}

/*
 * See unix.h: sendmsg for datagram and seqpacket sockets. Returns the
 * length, or -KS_EOPNOTSUPP (MSG_OOB), -KS_EINVAL (address), -KS_EMSGSIZE,
 * -KS_EPIPE (our SHUT_WR, the receiver's SHUT_RD, a dead seqpacket
 * peer), -KS_ENOTCONN, -KS_ECONNREFUSED, -KS_ECONNRESET (the peer we
 * looked up died and another send dropped it first), -KS_EPERM,
 * -KS_EAGAIN, -KS_EINTR, -KS_EFAULT, -KS_ENOBUFS, a pending error,
 * lookup errors.
 */
long
ks__unix_dgram_sendmsg(struct ks_sock *so, const struct ks_msghdr *msg,
		       struct ks_iter *it, int flags)
{
	struct unix_sock *u = unix_sk(so), *other;
	struct ks__waiter w;
	struct ks_mbuf *m;
	struct ks_cred cred;
	struct unix_scm scm;
	struct unix_gc_todo todo;
	size_t total = it->count;
	bool passcred, seqpacket = so->type == KS_SOCK_SEQPACKET;
	int64_t deadline;
	long err;

	/* Control data first, as Linux's scm_send(). */
	err = ks__unix_scm_send(msg, &scm);
	if (err < 0)
		return err;
	if (flags & KS_MSG_OOB) {
		err = -KS_EOPNOTSUPP;
		goto destroy_scm;
	}
	if (msg->msg_namelen != 0) {
		err = ks__unix_validate_addr(msg->msg_name, msg->msg_namelen);
		if (err < 0)
			goto destroy_scm;
	}
	unix_lock(u);
	passcred = unix_may_passcred_locked(so);
	deadline = ks__deadline(so->sndtimeo, flags & KS_MSG_DONTWAIT);
	unix_unlock(u);
	if (passcred) {
		err = ks__unix_autobind(u);
		if (err < 0)
			goto destroy_scm;
	}
	if (total > (size_t)atomic_load(&so->sndbuf) - 32) {
		err = -KS_EMSGSIZE;
		goto destroy_scm;
	}
	if (seqpacket && ks__cross_copy && scm.files == NULL &&
	    total >= UNIX_OFFER_MIN) {
		/* A reader may take the record straight from our buffer
		 * while we wait for room (offer.c). */
		struct unix_sock *peer = ks__unix_peer_get(u);
		size_t taken = 0;

		if (peer == NULL) {
			err = -KS_ENOTCONN;
			goto destroy_scm;
		}
		err = ks__unix_wait_offering(so, peer, it, total, true,
					     deadline, &taken);
		unix_put(peer);
		if (err == 0 && taken == total) {
			err = (long)total;
			goto destroy_scm;
		}
	} else {
		err = ks__unix_wait_sndbuf(so, deadline);
	}
	if (err < 0)
		goto destroy_scm;
	err = ks__mbuf_alloc(total, ks__dgram_truesize(total), &m);
	if (err < 0)
		goto destroy_scm;
	err = ks__iter_copy_from(it, m->data, total);
	if (err < 0)
		goto free_msg;
	ks__port->cred(&cred);
	ks__unix_scm_set_creds(&scm, m);
	err = ks__unix_scm_attach_fds(&scm, m, &cred);
	if (err < 0)
		goto free_msg;
	ks__mbuf_charge(m, so);
	ks__waiter_init(&w, UNIX_POLL_OUT);

	/* The peer is looked up once: a send that waited for room goes on
	 * to the socket it waited on, as Linux's does. */
	other = NULL;
	if (msg->msg_namelen == 0) {
		other = ks__unix_peer_get(u);
		if (other == NULL) {
			err = -KS_ENOTCONN;
			goto free_msg;
		}
	}
restart:
	if (other == NULL) {
		/* Our peer died and someone else already dropped it (Linux's
		 * answer to that is ECONNRESET), or a named target died. */
		err = -KS_ECONNRESET;
		if (msg->msg_namelen == 0)
			goto free_msg;
		err = ks__unix_find(so, msg->msg_name, msg->msg_namelen,
				    &other);
		if (err < 0)
			goto free_msg;
	}
	unix_lock(other);
	if (!may_send_locked(u, other)) {
		err = -KS_EPERM;
		goto unlock;
	}
	if (other->dead) {
		unix_unlock(other);
		if (seqpacket) {
			err = -KS_EPIPE;
		} else {
			unix_lock(u);
			err = u->peer == other ? -KS_ECONNREFUSED : 0;
			unix_unlock(u);
			if (err < 0)
				dgram_peer_died(u, other);
		}
		unix_put(other);
		other = NULL;
		if (err < 0)
			goto free_msg;
		goto restart;
	}
	if (other->base.shutdown & KS_RCV_SHUTDOWN) {
		err = -KS_EPIPE;
		goto unlock;
	}
	if (m->anc != NULL && unix_refuses_fds_locked(other)) {
		err = -KS_EPERM;
		goto unlock;
	}
	if (other != u && other->peer != u && unix_recvq_is_full_locked(other)) {
		err = ks__wait_expired(ks__wait_locked(&other->base, &w,
						       deadline), &deadline);
		unix_unlock(other);
		if (err == -KS_EAGAIN)
			ks__diag_count(KS__CNT_NOSPACE);
		if (err < 0) {
			unix_put(other);
			goto free_msg;
		}
		goto restart;
	}
	ks__unix_scm_queue_locked(m, other, passcred, &cred, &todo);
	/* Its reader wants timestamps: the time it was queued at. */
	if (ks__has_opt(&other->base, KS_OPT_RCVTSTAMP))
		m->tstamp = ks__port->realtime();
	ks__mq_push(&other->rcvq, m);
	if (ks__has_waiters(&other->base))
		ks__wake_locked(&other->base, UNIX_POLL_IN);
	unix_unlock(other);
	unix_put(other);
	ks__unix_gc_after_queue(&todo);
	return (long)total;

unlock:
	unix_unlock(other);
	unix_put(other);
free_msg:
	ks__mbuf_free(m);
destroy_scm:
	ks__unix_scm_destroy(&scm);
	return err;
}

/*
 * The first datagram to read, past SO_PEEK_OFF bytes when peeking; *@skip
 * is left at the offset inside it. With SO_PEEK_OFF on, a peek also
 * passes over an empty datagram an earlier peek returned, as Linux's
 * __skb_try_recv_from_queue() (else it would return it for ever).
 * Socket lock held.
 */
static struct ks_mbuf *
first_to_read_locked(struct unix_sock *u, bool peek, size_t *skip)
{
	struct ks_mbuf *m = u->rcvq.head;
	bool at_off = peek && u->base.peek_off >= 0;
	size_t off = at_off ? (size_t)u->base.peek_off : 0;

	while (m != NULL && at_off && off >= m->len && (off > 0 || m->peeked)) {
		off -= m->len;
		m = m->next;
	}
	*skip = m != NULL ? off : 0;
	return m;
}

/* Which timestamp a reader asked for (SO_TIMESTAMP* names), or 0. Linux
 * timestamps datagrams and records, never stream data. Socket lock
 * held. */
static int
timestamp_type_locked(const struct ks_sock *so)
{
	bool nw = ks__has_opt(so, KS_OPT_TSTAMP_NEW);

	if (!ks__has_opt(so, KS_OPT_RCVTSTAMP))
		return 0;
	if (ks__has_opt(so, KS_OPT_RCVTSTAMPNS))
		return nw ? KS_SCM_TIMESTAMPNS_NEW : KS_SCM_TIMESTAMPNS_OLD;
	return nw ? KS_SCM_TIMESTAMP_NEW : KS_SCM_TIMESTAMP_OLD;
}

/* Whether a read wants nothing that only a queued message carries
 * (credentials, a pidfd, a timestamp), so it may take an offered record.
 * Socket lock held. */
static bool
reads_plain_locked(struct ks_sock *so)
{
	return !unix_may_passcred_locked(so) && timestamp_type_locked(so) == 0;
}

/*
 * A seqpacket read that finds nothing queued takes the record a writer
 * blocked for room offers (offer.c), as it would take it queued: the
 * start that fits, MSG_TRUNC for the rest (and its full length with the
 * MSG_TRUNC flag), SO_PEEK_OFF moved back by the record. Returns the
 * read's result, or 0 when there was no record to take. Socket lock
 * held (dropped and retaken).
 */
static long
take_record_locked(struct unix_sock *u, struct ks_msghdr *msg,
		   uint32_t namecap, struct ks_iter *it, size_t size, int flags)
{
	struct ks_sock *writer = NULL;
	size_t reclen = 0;
	long n;

	n = ks__unix_take_offer_locked(u, it, size, true, &writer, &reclen);
	if (n == 0 && writer == NULL)
		return 0;
	if (u->base.peek_off >= 0)
		u->base.peek_off = u->base.peek_off > (int)reclen ?
				   u->base.peek_off - (int)reclen : 0;
	if (n < 0)
		return n;
	ks__unix_copy_addr(msg, namecap, writer);
	if ((size_t)n < reclen)
		msg->msg_flags |= KS_MSG_TRUNC;
	return (flags & KS_MSG_TRUNC) ? (long)reclen : n;
}

/*
 * See unix.h: recvmsg for datagram and seqpacket sockets. A pending error
 * comes before queued data. A short buffer gets the start of the datagram
 * and MSG_TRUNC; the MSG_TRUNC flag makes it return the real length.
 */
long
ks__unix_dgram_recvmsg(struct ks_sock *so, struct ks_msghdr *msg,
		       struct ks_iter *it, int flags)
{
	struct unix_sock *u = unix_sk(so);
	struct ks__waiter w;
	struct ks_mbuf *m;
	struct unix_rcv_creds creds;
	struct unix_rcv_extra x;
	struct unix_fpl *fpl;
	uint32_t namecap = msg->msg_namelen;
	size_t size = it->count, skip, n, ctlcap = msg->msg_controllen;
	bool peek = (flags & KS_MSG_PEEK) != 0, passcred;
	int64_t deadline;
	long err;

	msg->msg_namelen = 0;
	msg->msg_controllen = 0;
	if (flags & KS_MSG_OOB)
		return -KS_EOPNOTSUPP;
	ks__waiter_init(&w, UNIX_POLL_IN);
	unix_lock(u);
	deadline = ks__deadline(so->rcvtimeo, flags & KS_MSG_DONTWAIT);
	for (;;) {
		err = ks__sock_error_locked(so);
		if (err < 0)
			goto unlock;
		m = first_to_read_locked(u, peek, &skip);
		if (m != NULL)
			break;
		if (so->type == KS_SOCK_SEQPACKET && !peek && size != 0 &&
		    reads_plain_locked(so)) {
			err = take_record_locked(u, msg, namecap, it, size,
						 flags);
			if (err != 0)
				goto unlock_taken;
		}
		if (so->shutdown & KS_RCV_SHUTDOWN) {
			/* EOF, except that a non-blocking datagram read
			 * still says "nothing yet". */
			err = deadline == 0 && so->type == KS_SOCK_DGRAM ?
			      -KS_EAGAIN : 0;
			goto unlock;
		}
		err = ks__wait_expired(ks__wait_locked(so, &w, deadline),
				       &deadline);
		if (err < 0)
			goto unlock;
	}
	passcred = ks__has_opt(so, KS_OPT_PASSCRED);
	x.pidfd = ks__has_opt(so, KS_OPT_PASSPIDFD);
	x.ts_type = timestamp_type_locked(so);
	x.ts_ns = 0;
	if (x.ts_type != 0) {
		/* Not stamped at the send (its reader did not want stamps
		 * then): the first read that wants one stamps it, a peek
		 * included, and later reads report that time (Linux's
		 * __sock_recv_timestamp() stamps the skb). */
		if (m->tstamp == 0)
			m->tstamp = ks__port->realtime();
		x.ts_ns = m->tstamp;
	}
	x.inq = false;
	ks__unix_rcv_creds(&creds, m);
	fpl = peek ? ks__unix_scm_peek(m) : ks__unix_scm_detach(m);
	if (peek && m->len == 0)
		m->peeked = 1;
	if (!peek) {
		ks__mq_pop(&u->rcvq);
		if (so->peek_off >= 0)
			so->peek_off = so->peek_off > (int)m->len ?
				       so->peek_off - (int)m->len : 0;
		/* Senders waiting for room in our queue. */
		if (ks__has_waiters(so))
			ks__wake_locked(so, UNIX_POLL_OUT);
		unix_unlock(u);
	}
	ks__unix_copy_addr(msg, namecap, m->owner);
	n = m->len - skip;
	if (size < n) {
		msg->msg_flags |= KS_MSG_TRUNC;
		n = size;
	}
	err = ks__iter_copy_to(it, m->data + skip, n);
	if (err == 0)
		err = (flags & KS_MSG_TRUNC) ? (long)(m->len - skip) : (long)n;
	if (peek) {
		if (err >= 0 && so->peek_off >= 0)
			so->peek_off += (int)n;
		unix_unlock(u);
	} else {
		ks__mbuf_free(m);
	}
	/* A datagram that could not be copied out is lost with its
	 * descriptors, as on Linux. */
	if (err < 0)
		ks__unix_scm_drop(fpl);
	else
		ks__unix_scm_recv(msg, ctlcap, passcred, &creds, fpl, peek,
				  flags, &x);
	return err;

unlock:
	unix_unlock(u);
	return err;

unlock_taken:
	unix_unlock(u);
	/* No control data: an offered record carries none we deliver. */
	if (err > 0)
		ks__unix_scm_recv(msg, ctlcap, false, NULL, NULL, false, flags,
				  NULL);
	return err;
}

/*
 * See unix.h: poll for datagram and seqpacket sockets (Linux's
 * unix_dgram_poll()). Not writable while a peer that is not connected
 * back to us has a full queue; @pe then also waits on that peer.
 */
unsigned
ks__unix_dgram_poll(struct ks_sock *so, struct ks_poll_entry *pe)
{
	struct unix_sock *u = unix_sk(so), *other = NULL;
	unsigned mask = 0;
	bool writable;

	unix_lock(u);
	if (so->err)
		mask |= KS_POLLERR;
	if (so->shutdown & KS_RCV_SHUTDOWN)
		mask |= KS_POLLRDHUP | UNIX_POLL_IN;
	if (so->shutdown == KS_SHUTDOWN_MASK)
		mask |= KS_POLLHUP;
	if (u->rcvq.head != NULL)
		mask |= UNIX_POLL_IN;
	if (so->type == KS_SOCK_SEQPACKET && so->state == KS_SS_UNCONNECTED)
		mask |= KS_POLLHUP;
	if (u->acc_head != NULL)
		mask |= UNIX_POLL_IN;
	writable = so->state != KS_SS_LISTENING && ks__sock_writable(so);
	if (writable && u->peer != NULL && u->peer != u) {
		other = u->peer;
		unix_hold(other);
	}
	if (pe != NULL)
		ks__poll_link_add_locked(so, pe, &pe->link[0]);
	unix_unlock(u);

	if (other != NULL) {
		unix_lock(other);
		if (other->peer != u && unix_recvq_is_full_locked(other)) {
			writable = false;
			if (pe != NULL)
				ks__poll_link_add_locked(&other->base, pe,
							 &pe->link[1]);
		}
		unix_unlock(other);
		unix_put(other);
	}
	if (writable)
		mask |= UNIX_POLL_OUT;
	return mask;
}

const struct ks_proto_ops ks__unix_dgram_ops = {
	.bind		= ks__unix_bind,
	.listen		= ks__no_listen,
	.connect	= unix_dgram_connect,
	.accept		= ks__no_accept,
	.sendmsg	= ks__unix_dgram_sendmsg,
	.recvmsg	= ks__unix_dgram_recvmsg,
	.shutdown	= ks__unix_shutdown,
	.getname	= ks__unix_getname,
	.poll		= ks__unix_dgram_poll,
	.ioctl		= ks__unix_ioctl,
	.setsockopt	= ks__no_setsockopt,
	.getsockopt	= ks__no_getsockopt,
	.release	= ks__unix_sock_release,
	.destroy	= ks__unix_destroy,
	.diag		= ks__unix_diag,
	.has_peek_off	= true,
};

/*
 * AF_UNIX connections (SOCK_STREAM and SOCK_SEQPACKET): listen, connect,
 * accept, and the stream poll.
 *
 * connect completes at once, as on Linux: it creates the server's end
 * (an "embryo" socket), wires the two ends together and queues the embryo
 * on the listener, so the client may send before accept; accept only
 * dequeues it. The listener's queue is full when it holds more than the
 * backlog, so backlog + 1 connections can wait. A listener that closes
 * releases its embryos, and their clients see ECONNRESET.
 *
 * Credentials are recorded when the connection is made: the client gets
 * the listener's (from listen()), the embryo the client's (at connect).
 *
 * Locks: connect holds the client and the listener together, through
 * ks__unix_lock_pair(), and takes the embryo's lock last while it wires
 * it up (introspection can see it from its creation). A connect
 * that waits for room in the backlog parks on the listener's queue and
 * starts over (the listener may be gone) when woken.
 */
#include "unix/unix.h"

/* See unix.h: listen(2). Needs a bound, unconnected socket. */
int
ks__unix_listen(struct ks_sock *so, int backlog)
{
	struct unix_sock *u = unix_sk(so);
	struct ks_groups *groups;
	struct ks_ucred cred;
	int err;

	if (unix_name_of(u) == NULL)
		return -KS_EINVAL;
	ks__cred_self(&cred);
	err = ks__groups_self(&groups);
	if (err < 0)
		return err;
	unix_lock(u);
	if (so->state != KS_SS_UNCONNECTED && so->state != KS_SS_LISTENING) {
		ks__groups_put(groups);
		err = -KS_EINVAL;
		goto unlock;
	}
	/* A listener stops polling writable and HUP; a larger backlog may
	 * admit connectors that wait for room. */
	ks__wake_locked(so, ~0u);
	u->backlog = backlog;
	so->state = KS_SS_LISTENING;
	/* What connecting clients will see as SO_PEERCRED. */
	ks__set_peercred_locked(so, &cred, groups);
unlock:
	unix_unlock(u);
	return err;
}

/*
 * Joins client @u to embryo @e and queues @e on @listener. @u and
 * @listener locked. @e is already on the all-sockets list, where an
 * introspection walk may read it under its lock, so it is wired up under
 * its lock too: taken last, which cannot deadlock, since nothing that
 * holds a fresh embryo's lock waits for another.
 */
static void
connect_locked(struct unix_sock *u, struct unix_sock *listener,
	       struct unix_sock *e, const struct ks_ucred *cred,
	       struct ks_groups *groups)
{
	struct unix_name *name = unix_name_of(listener);

	unix_lock(e);
	unix_hold(u);
	e->peer = u;
	e->base.state = KS_SS_CONNECTED;
	e->embryo = true;
	atomic_store(&e->listener, listener);
	ks__set_peercred_locked(&e->base, cred, groups);
	/* The accepted socket reports the listener's address as its own and
	 * inherits SO_PASSCRED as it is now. */
	ks__unix_name_hold(name);
	atomic_store_explicit(&e->name, name, memory_order_release);
	e->base.optflags |= listener->base.optflags & UNIX_OPT_INHERITED;
	unix_unlock(e);

	ks__set_peercred_locked(&u->base, &listener->base.peercred,
				ks__groups_hold(listener->base.peergroups));
	u->base.state = KS_SS_CONNECTED;
	unix_hold(e);
	u->peer = e;

	e->acc_next = NULL;
	if (listener->acc_tail)
		listener->acc_tail->acc_next = e;
	else
		listener->acc_head = e;
	listener->acc_tail = e;
	listener->acc_count++;
	ks__wake_locked(&listener->base, UNIX_POLL_IN);
	/* The client stops polling HUP. */
	ks__wake_locked(&u->base, ~0u);
}

/*
 * See unix.h: connect(2) for stream and seqpacket sockets. Returns 0,
 * -KS_EINVAL (bad address, or we listen), -KS_EISCONN, the lookup's
 * errors, -KS_ECONNREFUSED (not listening, or shut for reading),
 * -KS_EAGAIN (backlog full and non-blocking, or timed out), -KS_EINTR,
 * -KS_ENOMEM.
 */
int
ks__unix_stream_connect(struct ks_sock *so, const void *addr, uint32_t len,
			bool nonblock)
{
	struct unix_sock *u = unix_sk(so), *other, *e;
	struct ks_groups *groups;
	struct ks__waiter w;
	struct ks_ucred cred;
	int64_t deadline;
	bool passcred;
	int err;

	err = ks__unix_validate_addr(addr, len);
	if (err < 0)
		return err;
	unix_lock(u);
	deadline = ks__deadline(so->sndtimeo, nonblock);
	passcred = unix_may_passcred_locked(so);
	unix_unlock(u);
	if (passcred) {
		err = ks__unix_autobind(u);
		if (err < 0)
			return err;
	}
	err = ks__unix_create(so->type, &e);
	if (err < 0)
		return err;
	ks__cred_self(&cred);
	err = ks__groups_self(&groups);
	if (err < 0)
		goto put_embryo;
	ks__waiter_init(&w, UNIX_POLL_OUT);

restart:
	err = ks__unix_find(so, addr, len, &other);
	if (err < 0)
		goto free_embryo;
	ks__unix_lock_pair(u, other);
	if (other->dead) {
		ks__unix_unlock_pair(u, other);
		unix_put(other);
		goto restart;
	}
	if (other->base.state != KS_SS_LISTENING ||
	    (other->base.shutdown & KS_RCV_SHUTDOWN)) {
		err = -KS_ECONNREFUSED;
		goto unlock;
	}
	/* Full when more than the backlog wait: backlog + 1 may. */
	if (other->acc_count > (uint32_t)other->backlog) {
		if (other != u)
			unix_unlock(u);
		err = ks__wait_expired(ks__wait_locked(&other->base, &w,
						       deadline), &deadline);
		unix_unlock(other);
		unix_put(other);
		if (err == -KS_EAGAIN)
			ks__diag_count(KS__CNT_BACKLOG_FULL);
		if (err < 0)
			goto free_embryo;
		goto restart;
	}
	if (so->state != KS_SS_UNCONNECTED) {
		err = so->state == KS_SS_CONNECTED ? -KS_EISCONN : -KS_EINVAL;
		goto unlock;
	}
	connect_locked(u, other, e, &cred, groups);
	ks__unix_unlock_pair(u, other);
	unix_put(other);
	/* The listener's queue holds the embryo now. */
	return 0;

unlock:
	ks__unix_unlock_pair(u, other);
	unix_put(other);
free_embryo:
	ks__groups_put(groups);
put_embryo:
	unix_put(e);
	return err;
}

/*
 * See unix.h: accept4(2). Returns 0 with the new socket (the queue's
 * reference passes to the caller), -KS_EINVAL (not listening, or shut
 * for reading), -KS_EAGAIN, -KS_EINTR, or a pending error.
 */
int
ks__unix_accept(struct ks_sock *so, int flags, bool nonblock,
		struct ks_sock **out)
{
	struct unix_sock *u = unix_sk(so), *e;
	struct ks__waiter w;
	int64_t deadline;
	int err;

	ks__waiter_init(&w, UNIX_POLL_IN);
	unix_lock(u);
	if (so->state != KS_SS_LISTENING) {
		err = -KS_EINVAL;
		goto unlock;
	}
	deadline = ks__deadline(so->rcvtimeo, nonblock);
	for (;;) {
		err = ks__sock_error_locked(so);
		if (err < 0)
			goto unlock;
		if (u->acc_head != NULL)
			break;
		if ((so->shutdown & KS_RCV_SHUTDOWN) ||
		    so->state != KS_SS_LISTENING) {
			err = -KS_EINVAL;
			goto unlock;
		}
		err = ks__wait_expired(ks__wait_locked(so, &w, deadline),
				       &deadline);
		if (err < 0)
			goto unlock;
	}
	e = u->acc_head;
	u->acc_head = e->acc_next;
	if (u->acc_head == NULL)
		u->acc_tail = NULL;
	u->acc_count--;
	e->acc_next = NULL;
	/* A connector may be waiting for room in the backlog. */
	if (ks__has_waiters(so))
		ks__wake_locked(so, UNIX_POLL_OUT);
	unix_unlock(u);

	unix_lock(e);
	e->embryo = false;
	atomic_store(&e->listener, NULL);
	unix_unlock(e);
	*out = &e->base;
	return 0;

unlock:
	unix_unlock(u);
	return err;
}

/* Registers @pe on @so for its events. Socket lock held. */
static void
poll_register_locked(struct ks_sock *so, struct ks_poll_entry *pe)
{
	if (pe != NULL)
		ks__poll_link_add_locked(so, pe, &pe->link[0]);
}

/*
 * See unix.h: the stream poll mask, Linux's unix_poll(). A socket that
 * is not connected (fresh, or closed) reports HUP; a listener is
 * readable while a connection waits and never writable; PRI while an
 * out-of-band byte is pending.
 */
unsigned
ks__unix_conn_poll(struct ks_sock *so, struct ks_poll_entry *pe)
{
	struct unix_sock *u = unix_sk(so);
	unsigned mask = 0;

	unix_lock(u);
	if (so->err)
		mask |= KS_POLLERR;
	if (so->shutdown == KS_SHUTDOWN_MASK)
		mask |= KS_POLLHUP;
	if (so->shutdown & KS_RCV_SHUTDOWN)
		mask |= KS_POLLRDHUP | UNIX_POLL_IN;
	if (u->rcvq.head != NULL || u->acc_head != NULL)
		mask |= UNIX_POLL_IN;
	/* An out-of-band byte is pending (Linux reports no RDBAND). */
	if (u->oob != NULL)
		mask |= KS_POLLPRI;
	if (so->state == KS_SS_UNCONNECTED)
		mask |= KS_POLLHUP;
	if (so->state != KS_SS_LISTENING && ks__sock_writable(so))
		mask |= UNIX_POLL_OUT;
	poll_register_locked(so, pe);
	unix_unlock(u);
	return mask;
}

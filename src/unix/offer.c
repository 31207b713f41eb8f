/*
 * Single copy for large stream and seqpacket transfers.
 *
 * A writer that must wait for room offers what it has left to send (a
 * struct unix_offer on its stack, found through the second link of its
 * waiter on the receiver's wait queue); a reader that has read everything
 * queued copies from the writer's user memory straight into its own
 * through the port's copy_user_cross, so those bytes are copied once
 * instead of twice (into a message, out of it). The offer stands only
 * while the writer is blocked for room, where a Linux writer would be
 * blocked too, and its bytes come after everything queued: queues,
 * SIOCINQ, SIOCOUTQ and poll never count them, as they never count a
 * blocked Linux writer's. A reader takes them as if the writer had queued
 * them just then, which a Linux writer woken by that reader's consumption
 * might have done. A peek never takes them, nor a reader that wants
 * what only a message carries (credentials, timestamps); descriptors ride
 * on a stream send's first message and make a record ineligible, so a
 * writer offers nothing that carries them.
 *
 * A stream offer is a byte range readers take in pieces. A seqpacket
 * offer is one record, taken whole by one read (the part that does not
 * fit the reader's buffer is discarded, MSG_TRUNC, as for a queued one).
 *
 * The writer's memory must stay put while a reader copies from it: the
 * reader marks the offer busy, copies with the receiver's lock dropped,
 * and the writer, to withdraw, waits for busy to clear (it cannot be long,
 * and a signal does not end it). The hook attributes a fault: the
 * reader's own memory (EFAULT: the reader's read fails or ends short and
 * the writer keeps its bytes; a record is lost, as a queued one would
 * be) or the writer's (EACCES: the writer's send fails with EFAULT, the
 * reader sees nothing).
 *
 * Locks: the offer's fields tagged [R] are guarded by the receiver's
 * lock; the writer takes its own lock and the receiver's one after the
 * other, never both.
 */
#include "unix/unix.h"

struct unix_offer {
	struct ks__waiter	 w;		/* the writer's wait; pe.arg is
						 * &offer_tag */
	struct ks_iter		*it;		/* [R] the writer's cursor */
	struct ks_sock		*writer;	/* [I] */
	size_t			 left;		/* [R] bytes still offered */
	size_t			 taken;		/* [R] bytes readers took */
	bool			 record;	/* [I] one record, taken whole */
	bool			 busy;		/* [R] a reader copies from it */
	bool			 fault;		/* [R] the writer's memory was
						 * bad: the send fails */
	bool			 withdrawing;	/* [R] the writer waits for the
						 * copy to end */
};

/* Marks an offer's waiter (pe.arg): no host poll entry points here. */
static const char offer_tag;

/* The offer on @u's queue, or NULL. Lock of @u held. */
static struct unix_offer *
offer_find_locked(struct unix_sock *u)
{
	for (struct ks_poll_link *l = u->base.wq.head; l != NULL; l = l->next) {
		struct ks__waiter *w = ks__link_waiter(l);

		if (w != NULL && w->pe.arg == &offer_tag && l == &w->pe.link[1])
			return ks__container_of(w, struct unix_offer, w);
	}
	return NULL;
}

/* Whether the offer needs no more of the writer's waiting. Lock of the
 * receiver held. */
static bool
offer_done_locked(const struct unix_offer *o)
{
	return o->left == 0 || o->fault;
}

/* See unix.h. */
int
ks__unix_wait_offering(struct ks_sock *so, struct unix_sock *other,
		       struct ks_iter *it, size_t left, bool record,
		       int64_t deadline, size_t *taken)
{
	struct unix_offer o;
	bool waiting = false, offered = false, done = false;
	int err = 0;

	ks__waiter_init(&o.w, UNIX_POLL_OUT);
	o.w.pe.arg = (void *)&offer_tag;
	o.it = it;
	o.writer = so;
	o.left = left;
	o.taken = 0;
	o.record = record;
	o.busy = o.fault = o.withdrawing = false;

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
			ks__wait_add_locked(so, &o.w);
			waiting = true;
			continue;
		}
		ks__unlock(so);
		/* Offer once, after we are on our own queue (so a reader
		 * that frees room wakes us); then see whether readers took
		 * it all, after the rearm (so their wake-up is not lost). */
		unix_lock(other);
		if (!offered && !other->dead &&
		    !(other->base.shutdown & KS_RCV_SHUTDOWN)) {
			ks__wait_add_second_locked(&other->base, &o.w);
			offered = true;
			ks__wake_locked(&other->base, UNIX_POLL_IN);
		}
		done = offered && offer_done_locked(&o);
		unix_unlock(other);
		if (done) {
			ks__lock(so);
			break;
		}
		err = ks__wait_expired(ks__waiter_sleep(&o.w, deadline),
				       &deadline);
		ks__lock(so);
		if (err < 0)
			break;
		ks__waiter_rearm_locked(&o.w);
	}
	if (waiting)
		ks__wait_del_locked(so, &o.w);
	ks__unlock(so);

	/* Withdraw: a reader copying from our memory finishes first. */
	if (offered) {
		unix_lock(other);
		o.withdrawing = true;
		while (o.busy) {
			ks__waiter_rearm_locked(&o.w);
			unix_unlock(other);
			(void)ks__waiter_sleep(&o.w, -1);
			unix_lock(other);
		}
		ks__wait_del_second_locked(&other->base, &o.w);
		done = offer_done_locked(&o);
		unix_unlock(other);
	}
	*taken = o.taken;
	if (o.fault)
		return -KS_EFAULT;
	if (done)
		return 0;
	if (err == -KS_EAGAIN && o.taken == 0)
		ks__diag_count(KS__CNT_NOSPACE);
	return err;
}

/* See unix.h. */
long
ks__unix_take_offer_locked(struct unix_sock *u, struct ks_iter *it,
			   size_t want, bool record, struct ks_sock **writer,
			   size_t *reclen)
{
	struct unix_offer *o;
	size_t moved;
	int err;

	*writer = NULL;
	/* After SHUT_RD a Linux writer could queue nothing more (EPIPE). */
	if (!ks__cross_copy || u->rcvq.head != NULL ||
	    (u->base.shutdown & KS_RCV_SHUTDOWN))
		return 0;
	o = offer_find_locked(u);
	if (o == NULL || o->busy || o->record != record ||
	    offer_done_locked(o))
		return 0;
	if (want > o->left)
		want = o->left;
	*reclen = o->left;
	o->busy = true;
	unix_unlock(u);
	err = ks__iter_move(it, o->it, o->w.thread, want, &moved);
	unix_lock(u);
	o->busy = false;
	if (err == -KS_EACCES) {
		/* The writer's fault: it fails, we saw nothing. */
		o->fault = true;
		err = 0;
		moved = 0;
	} else if (record) {
		/* A record goes whole, even one we could not copy out. */
		o->taken += o->left;
		o->left = 0;
	} else {
		o->left -= moved;
		o->taken += moved;
	}
	if (moved != 0 || err < 0)
		*writer = o->writer;
	if (offer_done_locked(o) || o->withdrawing)
		o->w.pe.wake(&o->w.pe, KS_POLLOUT);
	if (err < 0)
		return err;
	return (long)moved;
}

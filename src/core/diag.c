/*
 * Introspection, the family-agnostic part: walking every socket, the
 * generic fields of a socket's record, and the counters of refused
 * operations (Linux's sock_diag and /proc/net/unix, for ksockstat).
 *
 * The walk never calls out with the all-sockets lock held. It takes the
 * lock, holds a reference to each of a batch of sockets (skipping any
 * whose count already reached zero: those are being freed and wait for
 * the lock to leave the list), drops the lock and visits the batch. The
 * last socket of a batch keeps its reference until the next batch is
 * taken, so it stays on the list as the place to go on from. References
 * are dropped with no lock held, since the last one frees the socket,
 * which takes the all-sockets lock.
 *
 * Locks: ks__all_socks.lock [G] while a batch is gathered, alone; the
 * socket lock while its generic fields are read; the family takes its
 * own in its ops->diag.
 */
#include "core/core.h"
#include "core/families.h"

/* Sockets held at once by a walk: stack space, against lock round
 * trips. */
#define KS_DIAG_BATCH	32

atomic_uint_fast64_t ks__diag_counters[KS__CNT_MAX];

/* See core.h. */
void
ks__diag_reset(void)
{
	for (int i = 0; i < KS__CNT_MAX; i++)
		atomic_store(&ks__diag_counters[i], 0);
}

/* Takes a reference unless the count already reached zero (the socket is
 * being freed). */
static bool
sock_tryhold(struct ks_sock *so)
{
	long r = atomic_load(&so->refs);

	while (r > 0) {
		if (atomic_compare_exchange_weak(&so->refs, &r, r + 1))
			return true;
	}
	return false;
}

/*
 * Holds up to KS_DIAG_BATCH sockets from @so onwards into @batch.
 * All-sockets lock held. Returns how many.
 */
static size_t
gather_locked(struct ks_sock *so, struct ks_sock **batch)
{
	size_t n = 0;

	for (; so != NULL && n < KS_DIAG_BATCH; so = so->all_next)
		if (sock_tryhold(so))
			batch[n++] = so;
	return n;
}

/* See ksock.h. */
int
ks_diag_walk(int (*fn)(struct ks_sock *so, void *arg), void *arg)
{
	struct ks_sock *batch[KS_DIAG_BATCH], *cursor = NULL;
	size_t n, i;
	int ret = 0;

	ks__port->mutex_lock(&ks__all_socks.lock);
	n = gather_locked(ks__all_socks.head, batch);
	ks__port->mutex_unlock(&ks__all_socks.lock);
	while (n > 0) {
		for (i = 0; i < n && ret == 0; i++)
			ret = fn(batch[i], arg);
		if (cursor != NULL)
			ks_sock_release(cursor);
		cursor = NULL;
		/* The last one stays held as the place to go on from. */
		for (i = 0; i + 1 < n; i++)
			ks_sock_release(batch[i]);
		cursor = batch[n - 1];
		if (ret != 0)
			break;
		ks__port->mutex_lock(&ks__all_socks.lock);
		n = gather_locked(cursor->all_next, batch);
		ks__port->mutex_unlock(&ks__all_socks.lock);
	}
	if (cursor != NULL)
		ks_sock_release(cursor);
	return ret;
}

static int
state_of(uint8_t ss)
{
	switch (ss) {
	case KS_SS_LISTENING:	return KS_DIAG_LISTENING;
	case KS_SS_CONNECTED:	return KS_DIAG_CONNECTED;
	default:		return KS_DIAG_UNCONNECTED;
	}
}

/* See ksock.h. The family refines the state (embryo, disconnected). */
int
ks_diag_sock(struct ks_sock *so, struct ks_diag_sock *rec)
{
	uint64_t *pending = rec->pending;
	uint32_t cap = rec->pending_cap;

	ks__memset(rec, 0, sizeof(*rec));
	rec->pending = pending;
	rec->pending_cap = pending != NULL ? cap : 0;
	rec->id = so->id;
	rec->family = so->family;
	rec->type = so->type;
	rec->uid = so->uid;
	rec->gid = so->gid;
	rec->refcount = (uint32_t)atomic_load(&so->refs);
	ks__lock(so);
	rec->state = state_of(so->state);
	rec->shutdown = so->shutdown & KS_SHUTDOWN_MASK;
	rec->rcvbuf = (uint32_t)so->rcvbuf;
	ks__unlock(so);
	rec->sndbuf = (uint32_t)atomic_load(&so->sndbuf);
	rec->wmem_alloc = (uint64_t)atomic_load(&so->wmem);
	rec->wqueue = (uint32_t)rec->wmem_alloc;
	return so->ops->diag(so, rec);
}

/* See ksock.h. */
int
ks_diag_stats(struct ks_diag_stats *out)
{
	ks__memset(out, 0, sizeof(*out));
	ks__port->mutex_lock(&ks__all_socks.lock);
	out->sockets = (uint64_t)ks__all_socks.count;
	ks__port->mutex_unlock(&ks__all_socks.lock);
	out->refused_backlog = atomic_load(&ks__diag_counters[KS__CNT_BACKLOG_FULL]);
	out->refused_nospace = atomic_load(&ks__diag_counters[KS__CNT_NOSPACE]);
	out->refused_toomanyrefs =
		atomic_load(&ks__diag_counters[KS__CNT_TOOMANYREFS]);
	for (size_t i = 0; i < ks__nfamilies; i++)
		if (ks__families[i]->diag_stats != NULL)
			ks__families[i]->diag_stats(out);
	return 0;
}

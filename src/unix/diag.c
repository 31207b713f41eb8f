/*
 * AF_UNIX introspection: the family's part of a socket's record (what
 * Linux's unix_diag adds: name, node, peer, pending connections, queues,
 * descriptors, memory, the embryo and disconnected states) and the
 * family's counters.
 *
 * Locks: the socket's own lock while its queue, peer and accept queue are
 * read; the peer's lock alone afterwards, to see whether it closed. An
 * embryo on a listener's queue keeps its peer until it leaves the queue,
 * so the listener's lock is enough to read the pending clients' ids
 * (Linux's sk_diag_dump_icons() takes each embryo's lock for the same).
 */
#include "unix/unix.h"

/* Descriptors a queued message carries (scm.c); most carry none. */
static uint32_t
anc_nfds(const struct ks_anc *anc)
{
	return anc != NULL ? ks__unix_anc_nfds(anc) : 0;
}

/* References to @u held by messages in flight (gc.c). */
static uint32_t
inflight_of(const struct unix_sock *u)
{
	return (uint32_t)ks__unix_inflight_of((struct unix_sock *)u);
}

static void
gc_stats(uint64_t *runs, uint64_t *collected)
{
	ks__unix_gc_stats(runs, collected);
}

/* The allocation of a name of @len address bytes (names.c's name_size). */
static size_t
name_alloc_size(const struct unix_name *n)
{
	return sizeof(struct unix_name) + n->len + 1;
}

/* Copies @n's sun_path bytes: an abstract name whole, NULs included; a
 * path without the terminator Linux counts in its length. */
static void
copy_name(struct ks_diag_sock *rec, const struct unix_name *n)
{
	uint32_t len = n->len - UNIX_FAMILY_LEN;

	if (n->is_path && len > 0 && n->sun[UNIX_FAMILY_LEN + len - 1] == 0)
		len--;
	if (len > KS_UNIX_PATH_MAX)
		len = KS_UNIX_PATH_MAX;
	ks__memcpy(rec->name, n->sun + UNIX_FAMILY_LEN, len);
	rec->name_len = len;
	if (n->is_path)
		rec->node = n->key;
}

/* Reads the queues and the accept queue. Socket lock held. */
static void
queues_locked(struct unix_sock *u, struct ks_diag_sock *rec)
{
	const struct ks_mbuf *m;
	const struct unix_sock *e;
	uint32_t i = 0;

	for (m = u->rcvq.head; m != NULL; m = m->next) {
		rec->rmem_alloc += m->truesize;
		rec->mem += sizeof(*m) + m->len;
		rec->fds_queued += anc_nfds(m->anc);
	}
	rec->rcv_msgs = u->rcvq.count;
	rec->rcv_bytes = (uint32_t)u->rcvq.bytes;
	if (u->base.state == KS_SS_LISTENING) {
		rec->npending = u->acc_count;
		rec->backlog = (uint32_t)u->backlog;
		/* UNIX_DIAG_RQLEN of a listener: queue length and limit. */
		rec->rqueue = u->acc_count;
		rec->wqueue = (uint32_t)u->backlog;
		for (e = u->acc_head; e != NULL && i < rec->pending_cap;
		     e = e->acc_next)
			rec->pending[i++] = e->peer != NULL ? e->peer->base.id : 0;
		return;
	}
	/* SIOCINQ's answer: a datagram socket's first datagram. */
	if (u->base.type == KS_SOCK_DGRAM)
		rec->rqueue = u->rcvq.head != NULL ? u->rcvq.head->len : 0;
	else
		rec->rqueue = (uint32_t)u->rcvq.bytes;
}

/* ops->diag for every AF_UNIX type. See core.h. */
int
ks__unix_diag(struct ks_sock *so, struct ks_diag_sock *rec)
{
	struct unix_sock *u = unix_sk(so), *peer;
	struct unix_name *name = unix_name_of(u);
	bool embryo, peer_dead = false;

	/* The name is set once and kept until the socket is freed. */
	rec->mem = sizeof(*u);
	if (name != NULL) {
		copy_name(rec, name);
		rec->mem += name_alloc_size(name);
	}
	unix_lock(u);
	if (u->dead) {
		unix_unlock(u);
		return -KS_ENOENT;
	}
	queues_locked(u, rec);
	embryo = u->embryo;
	peer = u->peer;
	if (peer != NULL)
		unix_hold(peer);
	unix_unlock(u);
	rec->inflight = inflight_of(u);

	if (peer != NULL) {
		rec->peer_id = peer->base.id;
		unix_lock(peer);
		peer_dead = peer->dead;
		unix_unlock(peer);
		unix_put(peer);
	}
	if (embryo)
		rec->state = KS_DIAG_EMBRYO;
	else if (rec->state == KS_DIAG_CONNECTED && peer_dead)
		rec->state = KS_DIAG_DISCONNECTED;
	return 0;
}

/* The family's diag_stats: the collector's counters. */
void
ks__unix_diag_stats(struct ks_diag_stats *out)
{
	uint64_t runs = 0, collected = 0;

	gc_stats(&runs, &collected);
	out->gc_runs += runs;
	out->gc_collected += collected;
}

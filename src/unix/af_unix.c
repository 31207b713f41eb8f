/*
 * AF_UNIX: the family, and what every socket type shares — creation,
 * socketpair, close (telling the peer), shutdown (mirrored to a
 * connected peer for stream and seqpacket), the names getsockname and
 * getpeername report, ioctls, and the pair-locking helper.
 *
 * Locks (see unix.h): names before sockets; two sockets only through
 * ks__unix_lock_pair(), lowest address first. A reference is never
 * dropped with a socket lock held (the last one frees the socket and
 * takes the all-sockets lock).
 */
#include "unix/unix.h"

/* See unix.h. */
void
ks__unix_lock_pair(struct unix_sock *a, struct unix_sock *b)
{
	if (a == b || b == NULL) {
		unix_lock(a);
		return;
	}
	if (a == NULL) {
		unix_lock(b);
		return;
	}
	if ((uintptr_t)a < (uintptr_t)b) {
		unix_lock(a);
		unix_lock(b);
	} else {
		unix_lock(b);
		unix_lock(a);
	}
}

/* See unix.h. */
void
ks__unix_unlock_pair(struct unix_sock *a, struct unix_sock *b)
{
	if (a != NULL)
		unix_unlock(a);
	if (b != NULL && b != a)
		unix_unlock(b);
}

/* See unix.h. */
struct unix_sock *
ks__unix_peer_get(struct unix_sock *u)
{
	struct unix_sock *peer;

	unix_lock(u);
	peer = u->peer;
	if (peer != NULL)
		unix_hold(peer);
	unix_unlock(u);
	return peer;
}

static const struct ks_proto_ops *
ops_for_type(int type)
{
	switch (type) {
	case KS_SOCK_STREAM:	return &ks__unix_stream_ops;
	case KS_SOCK_SEQPACKET:	return &ks__unix_seqpacket_ops;
	default:		return &ks__unix_dgram_ops;
	}
}

/* See unix.h. Returns 0 or -KS_ENOMEM. */
int
ks__unix_create(int type, struct unix_sock **out)
{
	struct unix_sock *u;

	u = ks__alloc(sizeof(*u));
	if (u == NULL)
		return -KS_ENOMEM;
	ks__memset(u, 0, sizeof(*u));
	atomic_init(&u->name, NULL);
	atomic_init(&u->listener, NULL);
	atomic_init(&u->inflight, 0);
	u->backlog = UNIX_MAX_DGRAM_QLEN;
	u->netns = ks__port->netns();
	/* Last: it publishes the socket on the all-sockets list, where an
	 * introspection walk may find it at once. */
	ks__sock_init(&u->base, ops_for_type(type), KS_AF_UNIX, type, 0);
	*out = u;
	return 0;
}

/* Linux checks the protocol before the type. SOCK_RAW is a datagram
 * socket (and reports SOCK_DGRAM). */
static int
unix_family_create(int type, int protocol, struct ks_sock **out)
{
	struct unix_sock *u;
	int err;

	if (protocol != 0 && protocol != KS_AF_UNIX)
		return -KS_EPROTONOSUPPORT;
	switch (type) {
	case KS_SOCK_RAW:
		type = KS_SOCK_DGRAM;
		break;
	case KS_SOCK_STREAM:
	case KS_SOCK_DGRAM:
	case KS_SOCK_SEQPACKET:
		break;
	default:
		return -KS_ESOCKTNOSUPPORT;
	}
	err = ks__unix_create(type, &u);
	if (err < 0)
		return err;
	*out = &u->base;
	return 0;
}

/* Both ends connected, unbound, each with its creator as SO_PEERCRED
 * (and SO_PEERGROUPS). Returns 0 or -KS_ENOMEM. */
static int
unix_family_socketpair(struct ks_sock *a, struct ks_sock *b)
{
	struct unix_sock *ua = unix_sk(a), *ub = unix_sk(b);
	struct ks_groups *groups;
	struct ks_ucred cred;
	int err;

	ks__cred_self(&cred);
	err = ks__groups_self(&groups);
	if (err < 0)
		return err;
	unix_hold(ua);
	unix_hold(ub);
	ks__unix_lock_pair(ua, ub);
	ua->peer = ub;
	ub->peer = ua;
	ks__set_peercred_locked(a, &cred, ks__groups_hold(groups));
	ks__set_peercred_locked(b, &cred, groups);
	a->state = KS_SS_CONNECTED;
	b->state = KS_SS_CONNECTED;
	ks__unix_unlock_pair(ua, ub);
	return 0;
}

/* See unix.h. */
void
ks__unix_release(struct unix_sock *u, bool embryo)
{
	struct unix_sock *peer, *acc;
	struct ks_mbuf *queued, *unread;
	bool was_listening;

	ks__unix_unhash(u);
	if (embryo)
		atomic_store(&u->listener, NULL);

	unix_lock(u);
	was_listening = u->base.state == KS_SS_LISTENING;
	u->dead = true;
	u->base.shutdown = KS_SHUTDOWN_MASK;
	u->base.state = KS_SS_UNCONNECTED;
	peer = u->peer;
	u->peer = NULL;
	/* Linux passes over an empty message at the head (a consumed
	 * out-of-band mark, an empty record) when it asks whether data was
	 * left unread. */
	unread = u->rcvq.head;
	if (unread != NULL && unread->len == unread->off)
		unread = unread->next;
	queued = ks__unix_purge_queue_locked(u);
	acc = u->acc_head;
	u->acc_head = u->acc_tail = NULL;
	u->acc_count = 0;
	/* Senders waiting for room in our queue, and connectors waiting on
	 * our backlog, must look again (and find us dead). */
	ks__wake_locked(&u->base, ~0u);
	unix_unlock(u);

	if (peer != NULL) {
		if (unix_is_connection_type(u)) {
			unix_lock(peer);
			peer->base.shutdown = KS_SHUTDOWN_MASK;
			/* Unread data (or a connection never accepted) is
			 * lost: the peer hears of it once. */
			if (unread != NULL || embryo)
				peer->base.err = KS_ECONNRESET;
			ks__wake_locked(&peer->base, ~0u);
			unix_unlock(peer);
		}
		unix_put(peer);
	}
	ks__mbuf_free_chain(queued);
	while (acc != NULL) {
		struct unix_sock *next = acc->acc_next;

		acc->acc_next = NULL;
		ks__unix_release(acc, true);
		unix_put(acc);
		acc = next;
	}
	/* No embryo points at us now; a collection that read such a pointer
	 * before must end before we may be freed. */
	if (was_listening)
		ks__unix_gc_barrier();
}

/* See unix.h. */
struct ks_mbuf *
ks__unix_purge_queue_locked(struct unix_sock *u)
{
	u->oob = NULL;
	return ks__mq_take_all(&u->rcvq);
}

/* ops->release: ks_close(). */
void
ks__unix_sock_release(struct ks_sock *so)
{
	ks__unix_release(unix_sk(so), false);
	ks__unix_gc_released();
}

/* ops->destroy: the last reference is gone; nothing else can see us. */
void
ks__unix_destroy(struct ks_sock *so)
{
	struct unix_sock *u = unix_sk(so);
	struct unix_name *name = unix_name_of(u);

	/* A socket created but never closed (a failed connect's embryo)
	 * still holds what release would have dropped. */
	if (u->peer != NULL)
		unix_put(u->peer);
	ks__mbuf_free_chain(ks__mq_take_all(&u->rcvq));
	if (name != NULL)
		ks__unix_name_put(name);
	ks__sock_fini(so);
	ks__free(u, sizeof(*u));
}

/* See unix.h: SHUT_RD (0) -> RCV_SHUTDOWN, SHUT_WR (1) -> SEND_SHUTDOWN,
 * as Linux maps them by adding one. */
int
ks__unix_shutdown(struct ks_sock *so, int how)
{
	struct unix_sock *u = unix_sk(so), *other;
	unsigned mode = (unsigned)how + 1, peer_mode = 0;

	unix_lock(u);
	so->shutdown |= (uint8_t)mode;
	other = u->peer;
	if (other != NULL)
		unix_hold(other);
	ks__wake_locked(so, ~0u);
	unix_unlock(u);
	if (other == NULL)
		return 0;
	if (unix_is_connection_type(u)) {
		if (mode & KS_RCV_SHUTDOWN)
			peer_mode |= KS_SEND_SHUTDOWN;
		if (mode & KS_SEND_SHUTDOWN)
			peer_mode |= KS_RCV_SHUTDOWN;
		unix_lock(other);
		other->base.shutdown |= (uint8_t)peer_mode;
		ks__wake_locked(&other->base, ~0u);
		unix_unlock(other);
	}
	unix_put(other);
	return 0;
}

/* Copies address bytes, truncated to the caller's room; sets the length. */
static void
put_addr(void *addr, uint32_t *len, const void *src, uint32_t n)
{
	ks__memcpy(addr, src, *len < n ? *len : n);
	*len = n;
}

/* See unix.h. An unbound socket reports just sun_family (length 2). */
int
ks__unix_getname(struct ks_sock *so, void *addr, uint32_t *len, bool peer)
{
	static const uint16_t family_only = KS_AF_UNIX;
	struct unix_sock *u = unix_sk(so), *p = NULL;
	struct unix_name *name;

	if (peer) {
		p = ks__unix_peer_get(u);
		if (p == NULL)
			return -KS_ENOTCONN;
		u = p;
	}
	name = unix_name_of(u);
	if (name != NULL)
		put_addr(addr, len, name->sun, name->len);
	else
		put_addr(addr, len, &family_only, UNIX_FAMILY_LEN);
	if (p != NULL)
		unix_put(p);
	return 0;
}

/* See unix.h. */
void
ks__unix_copy_addr(struct ks_msghdr *msg, uint32_t cap, struct ks_sock *sender)
{
	struct unix_name *name;

	if (msg->msg_name == NULL)
		return;
	name = sender != NULL ? unix_name_of(unix_sk(sender)) : NULL;
	if (name == NULL) {
		msg->msg_namelen = 0;
		return;
	}
	ks__memcpy(msg->msg_name, name->sun, cap < name->len ? cap : name->len);
	msg->msg_namelen = name->len;
}

/*
 * See unix.h. SIOCINQ: unread bytes (stream, seqpacket) or the first
 * datagram's size, EINVAL on a listener; SIOCOUTQ: what our unread
 * messages cost, as Linux's sk_wmem_alloc; SIOCATMARK: whether a read
 * starts at the out-of-band mark (stream only).
 */
int
ks__unix_ioctl(struct ks_sock *so, unsigned long cmd, void *arg)
{
	struct unix_sock *u = unix_sk(so);
	int amount = 0;

	switch (cmd) {
	case KS_SIOCOUTQ:
		amount = (int)atomic_load(&so->wmem);
		break;
	case KS_SIOCINQ:
		unix_lock(u);
		if (so->state == KS_SS_LISTENING) {
			unix_unlock(u);
			return -KS_EINVAL;
		}
		if (so->type == KS_SOCK_DGRAM)
			amount = u->rcvq.head ? (int)u->rcvq.head->len : 0;
		else
			amount = (int)u->rcvq.bytes;
		unix_unlock(u);
		break;
	case KS_SIOCATMARK:
		if (so->type != KS_SOCK_STREAM)
			return -KS_EOPNOTSUPP;
		amount = ks__unix_stream_at_mark(u);
		break;
	default:
		return -KS_ENOTTY;
	}
	if (ks__port->copy_to_user(arg, &amount, sizeof(amount)) < 0)
		return -KS_EFAULT;
	return 0;
}

static int
unix_family_init(void)
{
	int err;

	err = ks__unix_names_init();
	if (err < 0)
		return err;
	err = ks__unix_gc_init();
	if (err < 0)
		goto fini_names;
	return 0;

fini_names:
	ks__unix_names_fini();
	return err;
}

static void
unix_family_fini(void)
{
	ks__unix_gc_fini();
	ks__unix_names_fini();
}

const struct ks_family ks__unix_family = {
	.domain		= KS_AF_UNIX,
	.init		= unix_family_init,
	.fini		= unix_family_fini,
	.create		= unix_family_create,
	.socketpair	= unix_family_socketpair,
	.diag_stats	= ks__unix_diag_stats,
	.file_dropped	= ks__unix_gc_file_dropped,
	.collect	= ks__unix_gc_collect_all,
};

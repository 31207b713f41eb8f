/*
 * Socket objects: start and stop, the family registry, creation and
 * reference counting, and the ks_* entry points that check what is
 * generic and hand the rest to the socket type's operations table.
 *
 * Locks:
 *   ks__all_socks.lock  [G] the list of every live socket (for
 *             introspection, diag.c, and for ks_fini's leak check); taken
 *             at create and free and by the diag walk, never together
 *             with another lock
 * Sockets themselves are guarded by their own lock (see core.h); nothing
 * here takes one on the data path.
 */
#include "core/core.h"
#include "core/families.h"

const struct ks_port *ks__port;
/* See core.h. */
bool ks__cross_copy;

struct ks__sock_list ks__all_socks;

static atomic_uint_fast64_t next_id = 1;

static const struct ks_family *
family_find(int domain)
{
	for (size_t i = 0; i < ks__nfamilies; i++)
		if (ks__families[i]->domain == domain)
			return ks__families[i];
	return NULL;
}

/* Every hook ksock calls is required: a NULL one is a host bug we report
 * at once rather than at the first call that needs it. */
static bool
port_is_complete(const struct ks_port *p)
{
	return p->alloc && p->free && p->mutex_init && p->mutex_destroy &&
	       p->mutex_lock && p->mutex_unlock && p->thread_self &&
	       p->park && p->unpark && p->now && p->cred && p->umask &&
	       p->capable && p->pid_exists && p->inflight_limit &&
	       p->file_get && p->file_hold && p->file_put &&
	       p->file_install && p->file_sock && p->file_count &&
	       p->node_create && p->node_remove && p->node_lookup &&
	       p->signal_pipe && p->signal_urg && p->random &&
	       p->copy_from_user && p->copy_to_user &&
	       p->node_release && p->netns &&
	       p->file_drops_reported && p->realtime && p->groups &&
	       p->pidfd_install && p->netdev_index && p->keep_spinning &&
	       p->park_word && p->unpark_word && p->copy_user_cross;
}

/*
 * Starts ksock on @port. Returns 0, or -KS_EINVAL for a table of another
 * version, too small or with a hook missing, or a family's init error.
 * Calling it again with the same port is a no-op.
 */
int
ks_init(const struct ks_port *port)
{
	size_t i;
	int err;

	if (port == NULL || port->version != KS_PORT_VERSION ||
	    port->size < sizeof(struct ks_port) || !port_is_complete(port))
		return -KS_EINVAL;
	if (ks__port == port)
		return 0;
	if (ks__port != NULL)
		return -KS_EBUSY;
	ks__port = port;
	ks__cross_copy = port->copy_user_cross(NULL, NULL, NULL, 0) == 0;
	port->mutex_init(&ks__all_socks.lock);
	ks__all_socks.head = NULL;
	ks__all_socks.count = 0;
	ks__diag_reset();
	for (i = 0; i < ks__nfamilies; i++) {
		err = ks__families[i]->init();
		if (err < 0)
			goto fini_families;
	}
	return 0;

fini_families:
	while (i-- > 0)
		ks__families[i]->fini();
	port->mutex_destroy(&ks__all_socks.lock);
	ks__port = NULL;
	return err;
}

/*
 * Stops ksock. Returns 0, or -KS_EBUSY while sockets remain (nothing is
 * torn down then). Each family first frees what only it still holds
 * (the AF_UNIX collector's last run).
 */
int
ks_fini(void)
{
	long n;

	if (ks__port == NULL)
		return 0;
	for (size_t i = 0; i < ks__nfamilies; i++)
		if (ks__families[i]->collect != NULL)
			ks__families[i]->collect();
	ks__port->mutex_lock(&ks__all_socks.lock);
	n = ks__all_socks.count;
	ks__port->mutex_unlock(&ks__all_socks.lock);
	if (n != 0)
		return -KS_EBUSY;
	for (size_t i = ks__nfamilies; i-- > 0;)
		ks__families[i]->fini();
	ks__port->mutex_destroy(&ks__all_socks.lock);
	ks__port = NULL;
	return 0;
}

/*
 * See ksock.h. ks_init() rebuilds every global table and initialises
 * every global lock again, which is what makes a lock the parent's other
 * threads held at the fork usable in the child; the abandoned objects are
 * reachable from nothing it rebuilds.
 */
int
ks_fork_child(void)
{
	const struct ks_port *port = ks__port;

	if (port == NULL)
		return 0;
	ks__port = NULL;
	return ks_init(port);
}

/* The port ksock was started with, or NULL. */
const struct ks_port *
ks_port(void)
{
	return ks__port;
}

/*
 * Fills the generic part of a new socket. Linux's defaults: wmem_default
 * and rmem_default buffers, timeouts that never expire, SO_PEEK_OFF off,
 * SO_PEERCRED "nobody" (pid 0, ids -1) until a connection records one.
 * The creator's effective ids are kept as the owner diag reports (Linux's
 * inode owner).
 */
void
ks__sock_init(struct ks_sock *so, const struct ks_proto_ops *ops, int family,
	      int type, int protocol)
{
	struct ks_cred cred;

	so->ops = ops;
	ks__port->mutex_init(&so->lock);
	atomic_init(&so->refs, 1);
	atomic_init(&so->wmem, 0);
	so->id = atomic_fetch_add(&next_id, 1);
	so->wq.head = NULL;
	atomic_init(&so->wq.nwait, 0);
	so->rcvtimeo = KS_TIMEO_FOREVER;
	so->sndtimeo = KS_TIMEO_FOREVER;
	atomic_init(&so->sndbuf, KS_SNDBUF_DEFAULT);
	so->rcvbuf = KS_RCVBUF_DEFAULT;
	so->err = 0;
	so->peek_off = -1;
	so->rcvlowat = 1;
	so->peercred.pid = 0;
	so->peercred.uid = (uint32_t)-1;
	so->peercred.gid = (uint32_t)-1;
	so->peergroups = NULL;
	so->peercred_set = false;
	ks__port->cred(&cred);
	so->uid = cred.euid;
	so->gid = cred.egid;
	atomic_init(&so->owner, 0);
	atomic_init(&so->nonblock, false);
	so->optflags = 0;
	so->xopts = NULL;
	so->family = (uint16_t)family;
	so->type = (uint8_t)type;
	so->protocol = (uint8_t)protocol;
	so->state = KS_SS_UNCONNECTED;
	so->shutdown = 0;

	ks__port->mutex_lock(&ks__all_socks.lock);
	so->all_prev = NULL;
	so->all_next = ks__all_socks.head;
	if (ks__all_socks.head)
		ks__all_socks.head->all_prev = so;
	ks__all_socks.head = so;
	ks__all_socks.count++;
	ks__port->mutex_unlock(&ks__all_socks.lock);
}

/* Takes @so off the all-sockets list, destroys its lock and drops what
 * it recorded. */
void
ks__sock_fini(struct ks_sock *so)
{
	ks__groups_put(so->peergroups);
	so->peergroups = NULL;
	ks__free(so->xopts, sizeof(*so->xopts));
	so->xopts = NULL;
	ks__port->mutex_lock(&ks__all_socks.lock);
	if (so->all_prev)
		so->all_prev->all_next = so->all_next;
	else
		ks__all_socks.head = so->all_next;
	if (so->all_next)
		so->all_next->all_prev = so->all_prev;
	ks__all_socks.count--;
	ks__port->mutex_unlock(&ks__all_socks.lock);
	ks__port->mutex_destroy(&so->lock);
}

/* SO_PEERCRED reports the effective ids, as Linux's cred_to_ucred(). */
void
ks__cred_self(struct ks_ucred *out)
{
	struct ks_cred c;

	ks__port->cred(&c);
	out->pid = c.pid;
	out->uid = c.euid;
	out->gid = c.egid;
}

static size_t
groups_size(uint32_t n)
{
	return sizeof(struct ks_groups) + n * sizeof(uint32_t);
}

/* See core.h. The count may grow between asking and copying: ask again. */
int
ks__groups_self(struct ks_groups **out)
{
	unsigned n = ks__port->groups(NULL, 0), got;
	struct ks_groups *g;

	for (;;) {
		if (n == 0) {
			*out = NULL;
			return 0;
		}
		g = ks__alloc(groups_size(n));
		if (g == NULL)
			return -KS_ENOMEM;
		got = ks__port->groups(g->gid, n);
		if (got <= n)
			break;
		ks__free(g, groups_size(n));
		n = got;
	}
	g->cap = n;
	g->n = got;
	atomic_init(&g->refs, 1);
	*out = g;
	return 0;
}

/* See core.h. */
void
ks__groups_put(struct ks_groups *g)
{
	if (g != NULL && atomic_fetch_sub_explicit(&g->refs, 1,
						   memory_order_acq_rel) == 1)
		ks__free(g, groups_size(g->cap));
}

/* See core.h. */
void
ks__set_peercred_locked(struct ks_sock *so, const struct ks_ucred *cred,
			struct ks_groups *groups)
{
	ks__groups_put(so->peergroups);
	so->peergroups = groups;
	so->peercred = *cred;
	so->peercred_set = true;
}

/* The flags socket() and socketpair() accept in the type argument. */
static int
split_type(int *type, bool *nonblock)
{
	int flags = *type & ~KS_SOCK_TYPE_MASK;

	if (flags & ~(KS_SOCK_NONBLOCK | KS_SOCK_CLOEXEC))
		return -KS_EINVAL;
	*type &= KS_SOCK_TYPE_MASK;
	*nonblock = (flags & KS_SOCK_NONBLOCK) != 0;
	return 0;
}

/* Linux's SOCK_MAX: types at or beyond it are EINVAL for every family. */
#define KS_SOCK_MAX	11

static int
sock_create(int domain, int type, int protocol, bool nonblock,
	    const struct ks_family **famp, struct ks_sock **out)
{
	const struct ks_family *fam;
	int err;

	if (domain < 0 || domain >= KS_AF_MAX)
		return -KS_EAFNOSUPPORT;
	if (type < 0 || type >= KS_SOCK_MAX)
		return -KS_EINVAL;
	fam = family_find(domain);
	if (fam == NULL)
		return -KS_EAFNOSUPPORT;
	err = fam->create(type, protocol, out);
	if (err < 0)
		return err;
	atomic_store(&(*out)->nonblock, nonblock);
	if (famp)
		*famp = fam;
	return 0;
}

/* See ksock.h. */
int
ks_socket(int domain, int type, int protocol, struct ks_sock **out)
{
	bool nonblock;
	int err;

	err = split_type(&type, &nonblock);
	if (err < 0)
		return err;
	return sock_create(domain, type, protocol, nonblock, NULL, out);
}

/* See ksock.h. */
int
ks_socketpair(int domain, int type, int protocol, struct ks_sock *out[2])
{
	const struct ks_family *fam;
	struct ks_sock *a, *b;
	bool nonblock;
	int err;

	err = split_type(&type, &nonblock);
	if (err < 0)
		return err;
	/* Linux has no socketpair for IPv4 and IPv6 whatever the type; a
	 * build without those families answers the same. */
	if ((domain == KS_AF_INET || domain == KS_AF_INET6) &&
	    family_find(domain) == NULL)
		return -KS_EOPNOTSUPP;
	err = sock_create(domain, type, protocol, nonblock, &fam, &a);
	if (err < 0)
		return err;
	err = sock_create(domain, type, protocol, nonblock, NULL, &b);
	if (err < 0)
		goto close_a;
	err = fam->socketpair(a, b);
	if (err < 0)
		goto close_b;
	out[0] = a;
	out[1] = b;
	return 0;

close_b:
	ks_close(b);
close_a:
	ks_close(a);
	return err;
}

/* See ksock.h. */
int
ks_close(struct ks_sock *so)
{
	so->ops->release(so);
	ks_sock_release(so);
	return 0;
}

/* See ksock.h. */
void
ks_sock_hold(struct ks_sock *so)
{
	atomic_fetch_add_explicit(&so->refs, 1, memory_order_relaxed);
}

/* See ksock.h. The last reference frees the socket. */
void
ks_sock_release(struct ks_sock *so)
{
	if (atomic_fetch_sub_explicit(&so->refs, 1, memory_order_acq_rel) == 1)
		so->ops->destroy(so);
}

/* See ksock.h. */
void
ks_sock_file_dropped(struct ks_sock *so, long refs)
{
	const struct ks_family *fam = family_find(so->family);

	if (fam != NULL && fam->file_dropped != NULL)
		fam->file_dropped(so, refs);
}

/* Linux refuses addresses longer than a sockaddr_storage at the syscall. */
static bool
addrlen_is_valid(uint32_t len)
{
	return len <= sizeof(struct ks_sockaddr_storage);
}

/* See ksock.h. */
int
ks_bind(struct ks_sock *so, const void *addr, uint32_t addrlen)
{
	if (!addrlen_is_valid(addrlen))
		return -KS_EINVAL;
	return so->ops->bind(so, addr, addrlen);
}

/* See ksock.h. The backlog is clamped to somaxconn (-1 becomes it too,
 * through the unsigned comparison Linux makes). */
int
ks_listen(struct ks_sock *so, int backlog)
{
	if ((unsigned)backlog > KS_SOMAXCONN)
		backlog = KS_SOMAXCONN;
	return so->ops->listen(so, backlog);
}

/* See ksock.h. */
int
ks_connect(struct ks_sock *so, const void *addr, uint32_t addrlen)
{
	if (!addrlen_is_valid(addrlen))
		return -KS_EINVAL;
	return so->ops->connect(so, addr, addrlen, ks_is_nonblock(so));
}

/* See ksock.h. */
int
ks_accept(struct ks_sock *so, int flags, struct ks_sock **out, void *addr,
	  uint32_t *addrlen)
{
	struct ks_sock *nso;
	int err;

	if (flags & ~(KS_SOCK_NONBLOCK | KS_SOCK_CLOEXEC))
		return -KS_EINVAL;
	err = so->ops->accept(so, flags, ks_is_nonblock(so), &nso);
	if (err < 0)
		return err;
	atomic_store(&nso->nonblock, (flags & KS_SOCK_NONBLOCK) != 0);
	if (addr != NULL && addrlen != NULL) {
		err = nso->ops->getname(nso, addr, addrlen, true);
		if (err < 0) {
			ks_close(nso);
			return -KS_ECONNABORTED;
		}
	}
	*out = nso;
	return 0;
}

/* See ksock.h. */
long
ks_sendmsg(struct ks_sock *so, const struct ks_msghdr *msg, int flags)
{
	struct ks_msghdr m = *msg;
	struct ks_iter it;
	int err;

	if (m.msg_name == NULL)
		m.msg_namelen = 0;
	if (m.msg_namelen > sizeof(struct ks_sockaddr_storage))
		return -KS_EINVAL;
	err = ks__iter_init(&it, &m);
	if (err < 0)
		return err;
	if (ks_is_nonblock(so))
		flags |= KS_MSG_DONTWAIT;
	return so->ops->sendmsg(so, &m, &it, flags);
}

/* See ksock.h. */
long
ks_recvmsg(struct ks_sock *so, struct ks_msghdr *msg, int flags)
{
	struct ks_iter it;
	int err;

	err = ks__iter_init(&it, msg);
	if (err < 0)
		return err;
	if (msg->msg_name == NULL)
		msg->msg_namelen = 0;
	/* Linux starts msg_flags from the call's MSG_CMSG_* flags, so
	 * MSG_CMSG_CLOEXEC comes back in it. */
	msg->msg_flags = flags & KS_MSG_CMSG_CLOEXEC;
	if (ks_is_nonblock(so))
		flags |= KS_MSG_DONTWAIT;
	return so->ops->recvmsg(so, msg, &it, flags);
}

/* See ksock.h. */
int
ks_shutdown(struct ks_sock *so, int how)
{
	if (how < KS_SHUT_RD || how > KS_SHUT_RDWR)
		return -KS_EINVAL;
	return so->ops->shutdown(so, how);
}

/* See ksock.h. */
int
ks_getsockname(struct ks_sock *so, void *addr, uint32_t *addrlen)
{
	return so->ops->getname(so, addr, addrlen, false);
}

/* See ksock.h. */
int
ks_getpeername(struct ks_sock *so, void *addr, uint32_t *addrlen)
{
	return so->ops->getname(so, addr, addrlen, true);
}

/* See ksock.h. */
int
ks_getsockopt(struct ks_sock *so, int level, int name, void *val,
	      uint32_t *len)
{
	if (level == KS_SOL_SOCKET)
		return ks__sock_getopt(so, name, val, len);
	return so->ops->getsockopt(so, level, name, val, len);
}

/* See ksock.h. */
int
ks_setsockopt(struct ks_sock *so, int level, int name, const void *val,
	      uint32_t len)
{
	if (level == KS_SOL_SOCKET)
		return ks__sock_setopt(so, name, val, len);
	return so->ops->setsockopt(so, level, name, val, len);
}

/* See ksock.h. FIONBIO is the file's business, as in Linux's VFS. */
int
ks_ioctl(struct ks_sock *so, unsigned long cmd, void *arg)
{
	int on;

	if (cmd == KS_FIONBIO) {
		if (ks__port->copy_from_user(&on, arg, sizeof(on)) < 0)
			return -KS_EFAULT;
		ks_set_nonblock(so, on != 0);
		return 0;
	}
	return so->ops->ioctl(so, cmd, arg);
}

/* See ksock.h. */
void
ks_set_nonblock(struct ks_sock *so, bool on)
{
	atomic_store(&so->nonblock, on);
}

/* See ksock.h. */
bool
ks_is_nonblock(const struct ks_sock *so)
{
	return atomic_load(&((struct ks_sock *)so)->nonblock);
}

/* See ksock.h. */
void
ks_set_owner(struct ks_sock *so, int32_t owner)
{
	atomic_store(&so->owner, owner);
}

/* See ksock.h. */
int32_t
ks_get_owner(const struct ks_sock *so)
{
	return atomic_load(&((struct ks_sock *)so)->owner);
}

/* See ksock.h. */
int
ks_sock_family(const struct ks_sock *so)
{
	return so->family;
}

/* See ksock.h. */
int
ks_sock_type(const struct ks_sock *so)
{
	return so->type;
}

/* See ksock.h. */
uint64_t
ks_sock_id(const struct ks_sock *so)
{
	return so->id;
}

/* See ksock.h. */
unsigned
ks_poll(struct ks_sock *so, struct ks_poll_entry *pe)
{
	if (pe != NULL)
		ks_poll_remove(pe);
	return so->ops->poll(so, pe);
}

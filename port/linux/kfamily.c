/*
 * Linux kernel port of ksock: the socket family. net/socket.c does the
 * system-call work for every family (descriptors, copying addresses,
 * msghdr and iovecs in, flags such as SOCK_CLOEXEC); this file maps each
 * struct proto_ops call onto one ks_* call.
 *
 * Each socket is a struct kso: the struct sock net/socket.c needs (sk_alloc
 * with our struct proto), the ksock socket, and a poll entry that ksock
 * calls on every readiness change, which wakes the socket's wait queue
 * (poll, select, epoll including edge-triggered, all through the kernel's
 * own machinery).
 *
 * Introspection: /proc/net/ksock_unix lists the sockets in the format of
 * /proc/net/unix (which no longer sees them once ksock owns PF_UNIX).
 *
 * Module parameters: family=N registers on the free family number N
 * (13 by default, free in Linux 6.1); takeover=1 replaces PF_UNIX instead,
 * for an initramfs that loads the module before any program starts. Linux
 * does not export its own family table, so a takeover lasts until reboot.
 *
 * What Linux does outside the family, and how the glue meets it:
 *   - SOL_SOCKET options never reach a family in 6.1 (the generic code
 *     in net/core/sock.c sets and reads struct sock; only MPTCP is let
 *     through): the glue carries what ksock needs from struct sock to
 *     ksock before each call that depends on it (buffer sizes, timeouts,
 *     SO_PASSCRED, SO_OOBINLINE; kso_sync()), takes SO_PEEK_OFF and SO_RCVLOWAT through
 *     the set_peek_off and set_rcvlowat operations, and mirrors into
 *     struct sock what ksock decides: SO_PEERCRED after connect, accept,
 *     listen and socketpair, SO_ACCEPTCONN after listen, SO_PEEK_OFF
 *     after reads, the buffer sizes ksock starts with, SO_PASSCRED
 *     inherited at accept. Options set on a socket matter to its peer's
 *     calls too (SO_PASSCRED of a receiver when a message is sent):
 *     net/core/sock.c takes the socket lock around every option it sets,
 *     and our struct proto's release_cb, which runs at its release,
 *     queues the socket's sync; a send or connect first waits for
 *     queued syncs.
 *   - ksock's -EINTR becomes -ERESTARTSYS when the call's timeout is
 *     infinite, as sock_intr_errno(): SA_RESTART handlers then restart it.
 *   - O_NONBLOCK is the file's: each call hands ksock the file's flag.
 *   - SO_ERROR: ksock sets a socket's pending error when its peer closes
 *     (or a datagram peer disconnects) with data unread, and Linux's
 *     getsockopt reads struct sock's. The glue copies it there as the
 *     peer is released or reconnects (kso_mirror_error())
 *     and keeps the two copies one: whichever side consumes it (ksock in
 *     a send or receive, net/core/sock.c in getsockopt), the glue clears
 *     the other at the socket's next call (kso_reconcile_error()).
 *   - SIGURG goes to the receiving file's F_SETOWN owner, which Linux
 *     keeps in struct file, after each MSG_OOB send (kso_sigurg()).
 *   - The collector: Linux reports no dropped file reference, so the port
 *     answers false to file_drops_reported (port.h) and ksock collects
 *     by itself when a socket is released and after a send that puts
 *     sockets in flight, as Linux's own collector is triggered.
 *   - A bound path socket holds its node (struct path) until release, as
 *     unix_sock.path does, so the node's (dev, ino) key cannot be reused.
 *
 * Locks: kso->poll_lock serialises ks_poll() registrations of the
 * socket's poll entry and guards kso->ks against release (a mutex, taken
 * in process context only, never with a ksock lock held); kso->sync_lock
 * serialises option syncs. The registry locks of kport.c are leaves.
 */
#include <linux/file.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/poll.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/uio.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <net/sock.h>

#include "kport.h"

static int family = 13;
module_param(family, int, 0444);
MODULE_PARM_DESC(family, "family number to register on (default 13, free in 6.1)");
static bool takeover;
module_param(takeover, bool, 0444);
MODULE_PARM_DESC(takeover, "replace PF_UNIX (from an initramfs, before programs start)");

struct kso {
	struct sock		 sk;		/* must be first (sk_alloc) */
	struct ks_sock		*ks;		/* set at create, accept or socketpair;
						 * [poll_lock] cleared at release */
	struct socket		*sock;		/* [I] */
	struct mutex		 poll_lock;
	struct ks_poll_entry	 pe;		/* [poll_lock] */
	bool			 pe_used;	/* [poll_lock] */
	struct path		 bound;		/* [I] once set by bind */
	/* struct sock's options as last given to ksock (kso_sync()). */
	struct mutex		 sync_lock;
	struct work_struct	 sync_work;
	int			 synced_sndbuf, synced_rcvbuf;	/* [sync_lock] */
	long			 synced_sndtimeo, synced_rcvtimeo; /* [sync_lock] */
	bool			 synced_passcred, synced_oobinline; /* [sync_lock] */
	int			 synced_tstamp;	/* [sync_lock] kso_tstamp() */
	bool			 err_mirrored;	/* [poll_lock] sk_err copies
						 * ksock's pending error */
	uint64_t		 id;		/* [I] ks_sock_id() */
};

static void kso_release_cb(struct sock *sk);

static struct proto kso_proto = {
	.name		= "KSOCK",
	.owner		= THIS_MODULE,
	.obj_size	= sizeof(struct kso),
	.release_cb	= kso_release_cb,
};

static const struct proto_ops kso_ops;

/* Every socket by ks_sock_id(), to find a peer (SO_ERROR, SIGURG). */
static DEFINE_XARRAY(kso_by_id);

/* Option syncs queued by release_cb, not yet run. */
static struct workqueue_struct *kso_sync_wq;
static atomic_t kso_syncs_queued = ATOMIC_INIT(0);

static struct kso *
kso_of(struct socket *sock)
{
	return (struct kso *)sock->sk;
}

/* See kport.h. The caller holds a reference to @f. */
struct ks_sock *
kp_file_sock(struct file *f)
{
	struct socket *sock = sock_from_file(f);
	struct kso *k;

	if (sock == NULL || sock->ops != &kso_ops || sock->sk == NULL)
		return NULL;
	k = kso_of(sock);
	return k->ks;
}

/* -- struct sock mirrors of ksock's state (for generic getsockopt) -- */

static void
mirror_peercred(struct kso *k)
{
	struct sock *sk = &k->sk;
	struct ks_ucred uc;
	uint32_t len = sizeof(uc);
	struct cred *cred = NULL;
	struct pid *pid;
	const struct cred *old_cred;
	struct pid *old_pid;

	if (ks_getsockopt(k->ks, KS_SOL_SOCKET, KS_SO_PEERCRED, &uc, &len) < 0)
		return;
	pid = uc.pid > 0 ? find_get_pid(uc.pid) : NULL;
	if (uc.uid != (uint32_t)-1) {
		struct user_namespace *ns = current_user_ns();
		kuid_t uid = make_kuid(ns, uc.uid);
		kgid_t gid = make_kgid(ns, uc.gid);

		/* Usually the peer's ids are the caller's: share its cred. */
		if (uid_eq(uid, current_euid()) && gid_eq(gid, current_egid())) {
			cred = (struct cred *)get_current_cred();
		} else {
			cred = prepare_creds();
			if (cred != NULL) {
				cred->euid = uid;
				cred->egid = gid;
			}
		}
	}
	spin_lock(&sk->sk_peer_lock);
	old_pid = sk->sk_peer_pid;
	old_cred = sk->sk_peer_cred;
	sk->sk_peer_pid = pid;
	sk->sk_peer_cred = cred;
	spin_unlock(&sk->sk_peer_lock);
	put_pid(old_pid);
	if (old_cred != NULL)
		put_cred(old_cred);
}

static void
mirror_int(struct kso *k, int name, int *field)
{
	int v;
	uint32_t len = sizeof(v);

	if (ks_getsockopt(k->ks, KS_SOL_SOCKET, name, &v, &len) == 0)
		WRITE_ONCE(*field, v);
}

/* SO_PEEK_OFF moves as a peek reads; re-read it while it is on. */
static void
mirror_peek_off(struct kso *k)
{
	if (READ_ONCE(k->sk.sk_peek_off) >= 0)
		mirror_int(k, KS_SO_PEEK_OFF, &k->sk.sk_peek_off);
}

static void kso_reconcile_error(struct kso *k);

/* Which receive timestamps struct sock asks for, as the option that
 * turns them on in ksock (0: none, or a ksock without them). */
static int
kso_tstamp(struct sock *sk)
{
	bool nw = sock_flag(sk, SOCK_TSTAMP_NEW);

	if (sock_flag(sk, SOCK_RCVTSTAMPNS))
		return nw ? KS_SO_TIMESTAMPNS_NEW : KS_SO_TIMESTAMPNS_OLD;
	if (sock_flag(sk, SOCK_RCVTSTAMP))
		return nw ? KS_SO_TIMESTAMP_NEW : KS_SO_TIMESTAMP_OLD;
	return 0;
}

static void
set_int(struct kso *k, int name, int v)
{
	ks_setsockopt(k->ks, KS_SOL_SOCKET, name, &v, sizeof(v));
}

static void
set_timeo(struct kso *k, int name, long jif)
{
	struct ks_timeval tv = { 0, 0 };

	if (jif != MAX_SCHEDULE_TIMEOUT) {
		tv.tv_sec = jif / HZ;
		tv.tv_usec = (jif % HZ) * (USEC_PER_SEC / HZ);
	}
	ks_setsockopt(k->ks, KS_SOL_SOCKET, name, &tv, sizeof(tv));
}

/*
 * Gives ksock the SOL_SOCKET options net/core/sock.c has stored in
 * struct sock since the last call. The buffer sizes there are already
 * doubled and clamped; half of one is what setsockopt turns back into it
 * (the guest's wmem_max and rmem_max equal ksock's limits: vm/init).
 */
static void
kso_sync(struct kso *k)
{
	struct sock *sk = &k->sk;
	int sndbuf = READ_ONCE(sk->sk_sndbuf), rcvbuf = READ_ONCE(sk->sk_rcvbuf);
	long sndtimeo = READ_ONCE(sk->sk_sndtimeo);
	long rcvtimeo = READ_ONCE(sk->sk_rcvtimeo);
	bool passcred = test_bit(SOCK_PASSCRED, &k->sock->flags);
	bool oobinline = sock_flag(sk, SOCK_URGINLINE);
	int tstamp = kso_tstamp(sk);

	kso_reconcile_error(k);
	/* The usual case: nothing changed since the last call. */
	if (sndbuf == READ_ONCE(k->synced_sndbuf) &&
	    rcvbuf == READ_ONCE(k->synced_rcvbuf) &&
	    sndtimeo == READ_ONCE(k->synced_sndtimeo) &&
	    rcvtimeo == READ_ONCE(k->synced_rcvtimeo) &&
	    passcred == READ_ONCE(k->synced_passcred) &&
	    oobinline == READ_ONCE(k->synced_oobinline) &&
	    tstamp == READ_ONCE(k->synced_tstamp))
		return;
	mutex_lock(&k->sync_lock);

	if (sndbuf != k->synced_sndbuf) {
		set_int(k, KS_SO_SNDBUF, sndbuf / 2);
		k->synced_sndbuf = sndbuf;
	}
	if (rcvbuf != k->synced_rcvbuf) {
		set_int(k, KS_SO_RCVBUF, rcvbuf / 2);
		k->synced_rcvbuf = rcvbuf;
	}
	if (sndtimeo != k->synced_sndtimeo) {
		set_timeo(k, KS_SO_SNDTIMEO, sndtimeo);
		k->synced_sndtimeo = sndtimeo;
	}
	if (rcvtimeo != k->synced_rcvtimeo) {
		set_timeo(k, KS_SO_RCVTIMEO, rcvtimeo);
		k->synced_rcvtimeo = rcvtimeo;
	}
	if (passcred != k->synced_passcred) {
		set_int(k, KS_SO_PASSCRED, passcred);
		k->synced_passcred = passcred;
	}
	if (oobinline != k->synced_oobinline) {
		set_int(k, KS_SO_OOBINLINE, oobinline);
		k->synced_oobinline = oobinline;
	}
	if (tstamp != k->synced_tstamp) {
		/* Off clears both kinds, as sock_set_timestamp(). */
		set_int(k, tstamp ? tstamp : KS_SO_TIMESTAMP, tstamp != 0);
		k->synced_tstamp = tstamp;
	}
	mutex_unlock(&k->sync_lock);
}

static void
kso_sync_work(struct work_struct *w)
{
	struct kso *k = container_of(w, struct kso, sync_work);

	kso_sync(k);
	atomic_dec(&kso_syncs_queued);
}

/* struct proto's release_cb: net/core/sock.c has just set an option
 * (under the socket's spinlock: no sleeping here). */
static void
kso_release_cb(struct sock *sk)
{
	struct kso *k = (struct kso *)sk;

	if (k->ks == NULL)
		return;
	atomic_inc(&kso_syncs_queued);
	if (!queue_work(kso_sync_wq, &k->sync_work))
		atomic_dec(&kso_syncs_queued);
}

/* Before a call that reads its peer's options: options set before it
 * (in any process) have reached ksock. */
static void
kso_wait_syncs(void)
{
	if (atomic_read(&kso_syncs_queued) > 0)
		flush_workqueue(kso_sync_wq);
}

/* Holds a socket by id, or returns NULL. sock_put() when done. */
static struct kso *
kso_find(uint64_t id)
{
	struct kso *k;

	rcu_read_lock();
	k = xa_load(&kso_by_id, id);
	if (k != NULL && !refcount_inc_not_zero(&k->sk.sk_refcnt))
		k = NULL;
	rcu_read_unlock();
	return k;
}

/* The connected peer's id, or 0. */
static uint64_t
kso_peer_id(struct kso *k)
{
	struct ks_diag_sock rec = { .pending = NULL, .pending_cap = 0 };

	if (ks_diag_sock(k->ks, &rec) < 0)
		return 0;
	return rec.peer_id;
}

/*
 * The sockets whose pending error @k's close may set: its peer, or for
 * a listener the clients of its unaccepted connections. Returns how
 * many ids are in *@out (kfree it), at most what could be allocated.
 */
static size_t
kso_close_victims(struct kso *k, uint64_t **out)
{
	struct ks_diag_sock rec = { .pending = NULL, .pending_cap = 0 };
	uint64_t *ids;

	*out = NULL;
	if (ks_diag_sock(k->ks, &rec) < 0)
		return 0;
	if (rec.npending == 0) {
		if (rec.peer_id == 0)
			return 0;
		ids = kmalloc(sizeof(*ids), GFP_KERNEL);
		if (ids == NULL)
			return 0;
		ids[0] = rec.peer_id;
		*out = ids;
		return 1;
	}
	ids = kmalloc_array(rec.npending, sizeof(*ids), GFP_KERNEL);
	if (ids == NULL)
		return 0;
	rec.pending = ids;
	rec.pending_cap = rec.npending;
	if (ks_diag_sock(k->ks, &rec) < 0) {
		kfree(ids);
		return 0;
	}
	*out = ids;
	return min(rec.npending, rec.pending_cap);
}

/*
 * After a socket's release: ksock may have given @peer_id a pending
 * error; struct sock gets a copy. ksock's pending error can only be
 * ECONNRESET (a peer closed with data unread), and reading it would
 * consume it, so the copy is written without reading it.
 */
static void
kso_mirror_error(uint64_t peer_id)
{
	struct kso *p;

	if (peer_id == 0 || (p = kso_find(peer_id)) == NULL)
		return;
	mutex_lock(&p->poll_lock);
	if (p->ks != NULL && (ks_poll(p->ks, NULL) & KS_POLLERR)) {
		p->err_mirrored = true;
		WRITE_ONCE(p->sk.sk_err, ECONNRESET);
	}
	mutex_unlock(&p->poll_lock);
	sock_put(&p->sk);
}

/*
 * Keeps one pending error: if getsockopt consumed struct sock's copy,
 * ksock's goes too; if ksock consumed its own, the copy goes.
 */
static void
kso_reconcile_error(struct kso *k)
{
	int v;
	uint32_t len = sizeof(v);

	if (!READ_ONCE(k->err_mirrored))
		return;
	mutex_lock(&k->poll_lock);
	if (k->err_mirrored && k->ks != NULL) {
		if (READ_ONCE(k->sk.sk_err) == 0) {
			ks_getsockopt(k->ks, KS_SOL_SOCKET, KS_SO_ERROR, &v, &len);
			k->err_mirrored = false;
		} else if (!(ks_poll(k->ks, NULL) & KS_POLLERR)) {
			WRITE_ONCE(k->sk.sk_err, 0);
			k->err_mirrored = false;
		}
	}
	mutex_unlock(&k->poll_lock);
}

/* As sk_send_sigurg(): SIGURG to the F_SETOWN owner of @k's peer. */
static void
kso_sigurg(struct kso *k)
{
	struct kso *p = kso_find(kso_peer_id(k));
	struct fown_struct *fown;
	struct file *file;

	if (p == NULL)
		return;
	file = p->sock->file;
	if (file != NULL) {
		fown = &file->f_owner;
		read_lock_irq(&fown->lock);
		if (fown->pid != NULL) {
			if (fown->pid_type == PIDTYPE_PGID)
				kill_pgrp(fown->pid, SIGURG, 1);
			else
				kill_pid(fown->pid, SIGURG, 1);
		}
		read_unlock_irq(&fown->lock);
	}
	sock_put(&p->sk);
}

/*
 * O_NONBLOCK is the file's in Linux and the socket's in ksock: each call
 * gives ksock the file's current flag (connect and accept get it from
 * their caller; a send or receive also has MSG_DONTWAIT for it).
 */
static void
kso_nonblock(struct kso *k)
{
	struct file *f = k->sock->file;

	ks_set_nonblock(k->ks, f != NULL && (READ_ONCE(f->f_flags) & O_NONBLOCK));
}

/* -- errors -- */

/* As sock_intr_errno(): a wait without a timeout restarts. */
static long
restart_err(long err, long timeo)
{
	if (err == -EINTR && timeo == MAX_SCHEDULE_TIMEOUT)
		return -ERESTARTSYS;
	return err;
}

/* -- creation and release -- */

/* What ksock calls on every readiness change of the socket (or of a
 * datagram peer it waits to write to). Runs with ksock locks held. */
static void
kso_wake(struct ks_poll_entry *pe, unsigned events)
{
	struct kso *k = pe->arg;
	struct socket_wq *wq = &k->sock->wq;
	__poll_t key = (__force __poll_t)(events &
		(KS_POLLIN | KS_POLLPRI | KS_POLLOUT | KS_POLLERR | KS_POLLHUP |
		 KS_POLLRDNORM | KS_POLLRDBAND | KS_POLLWRNORM |
		 KS_POLLWRBAND | KS_POLLRDHUP));

	if (skwq_has_sleeper(wq))
		wake_up_interruptible_sync_poll(&wq->wait, key);
	if (events & (KS_POLLIN | KS_POLLRDNORM))
		sk_wake_async(&k->sk, SOCK_WAKE_WAITD, POLL_IN);
	if (events & (KS_POLLOUT | KS_POLLWRNORM))
		sk_wake_async(&k->sk, SOCK_WAKE_SPACE, POLL_OUT);
}

/*
 * Registers the socket's poll entry from the start, not at the first
 * poll: readiness changes must reach the wait queue's other users too,
 * such as O_ASYNC's SIGIO (sk_wake_async), whose fcntl the family never
 * hears of.
 */
static void
kso_watch(struct kso *k)
{
	mutex_lock(&k->poll_lock);
	ks_poll(k->ks, &k->pe);
	k->pe_used = true;
	mutex_unlock(&k->poll_lock);
}

/* Gives @sock a struct sock around @ks (which it takes over). */
static int
kso_attach(struct net *net, struct socket *sock, struct ks_sock *ks,
	   int protocol, int kern)
{
	struct sock *sk;
	struct kso *k;

	sk = sk_alloc(net, family, GFP_KERNEL, &kso_proto, kern);
	if (sk == NULL)
		return -ENOMEM;
	sock->type = ks_sock_type(ks);
	sock_init_data(sock, sk);
	/* Linux's AF_UNIX leaves it 0 whatever the caller asked for. */
	sk->sk_protocol = 0;
	sock->ops = &kso_ops;
	k = (struct kso *)sk;
	k->id = ks_sock_id(ks);
	k->ks = ks;
	mutex_init(&k->sync_lock);
	INIT_WORK(&k->sync_work, kso_sync_work);
	k->sock = sock;
	mutex_init(&k->poll_lock);
	k->pe.wake = kso_wake;
	k->pe.arg = k;
	k->pe_used = false;
	k->bound.mnt = NULL;
	k->bound.dentry = NULL;
	mirror_int(k, KS_SO_SNDBUF, &sk->sk_sndbuf);
	mirror_int(k, KS_SO_RCVBUF, &sk->sk_rcvbuf);
	k->synced_sndbuf = sk->sk_sndbuf;
	k->synced_rcvbuf = sk->sk_rcvbuf;
	k->synced_sndtimeo = k->synced_rcvtimeo = MAX_SCHEDULE_TIMEOUT;
	k->synced_passcred = k->synced_oobinline = false;
	k->synced_tstamp = 0;
	if (xa_err(xa_store(&kso_by_id, k->id, k, GFP_KERNEL)) != 0) {
		sock->sk = NULL;
		sk_free(sk);
		return -ENOMEM;
	}
	kso_watch(k);
	return 0;
}

static int
kso_create(struct net *net, struct socket *sock, int protocol, int kern)
{
	struct ks_sock *ks;
	int err;

	err = ks_socket(KS_AF_UNIX, sock->type, protocol, &ks);
	if (err < 0)
		return err;
	err = kso_attach(net, sock, ks, protocol, kern);
	if (err < 0)
		ks_close(ks);
	return err;
}

static int
kso_release(struct socket *sock)
{
	struct kso *k = kso_of(sock);
	struct ks_sock *ks;
	uint64_t *victims;
	size_t nvictims;
	struct sock *sk;

	if (k == NULL)
		return 0;
	sk = &k->sk;
	cancel_work_sync(&k->sync_work);
	nvictims = kso_close_victims(k, &victims);
	xa_erase(&kso_by_id, k->id);
	mutex_lock(&k->poll_lock);
	if (k->pe_used)
		ks_poll_remove(&k->pe);
	k->pe_used = false;
	ks = k->ks;
	k->ks = NULL;
	mutex_unlock(&k->poll_lock);
	ks_close(ks);
	if (k->bound.dentry != NULL)
		path_put(&k->bound);
	sock_orphan(sk);
	sock->sk = NULL;
	sock_put(sk);
	for (size_t i = 0; i < nvictims; i++)
		kso_mirror_error(victims[i]);
	kfree(victims);
	return 0;
}

/* -- names and connections -- */

static int
kso_bind(struct socket *sock, struct sockaddr *addr, int len)
{
	struct kso *k = kso_of(sock);
	struct kp_call c = { 0 };
	int err;

	if (len < 0)
		return -EINVAL;
	kp_call_begin(&c);
	err = ks_bind(k->ks, addr, (uint32_t)len);
	if (err == 0 && c.created.dentry != NULL) {
		k->bound = c.created;
		c.created.dentry = NULL;
		c.created.mnt = NULL;
	}
	kp_call_end(&c);
	return err;
}

static int
kso_connect(struct socket *sock, struct sockaddr *addr, int len, int flags)
{
	struct kso *k = kso_of(sock);
	uint64_t old_peer;
	int err;

	if (len < 0)
		return -EINVAL;
	kso_sync(k);
	kso_wait_syncs();
	/* A datagram socket leaving a peer with its queue unread gives that
	 * peer ECONNRESET, as unix_dgram_disconnected(). */
	old_peer = sock->type == SOCK_DGRAM ? kso_peer_id(k) : 0;
	ks_set_nonblock(k->ks, flags & O_NONBLOCK);
	err = ks_connect(k->ks, addr, (uint32_t)len);
	if (err == 0)
		mirror_peercred(k);
	if (old_peer != 0)
		kso_mirror_error(old_peer);
	return restart_err(err, k->sk.sk_sndtimeo);
}

static int
kso_socketpair(struct socket *a, struct socket *b)
{
	struct kso *ka = kso_of(a), *kb = kso_of(b);
	struct ks_sock *pair[2];
	int err;

	err = ks_socketpair(KS_AF_UNIX, a->type, 0, pair);
	if (err < 0)
		return err;
	/* net/socket.c made two unconnected sockets; ours replace them. */
	xa_erase(&kso_by_id, ka->id);
	xa_erase(&kso_by_id, kb->id);
	ks_poll_remove(&ka->pe);
	ks_poll_remove(&kb->pe);
	ks_close(ka->ks);
	ks_close(kb->ks);
	ka->ks = pair[0];
	kb->ks = pair[1];
	ka->id = ks_sock_id(pair[0]);
	kb->id = ks_sock_id(pair[1]);
	/* On failure the sockets are simply not found by id. */
	xa_store(&kso_by_id, ka->id, ka, GFP_KERNEL);
	xa_store(&kso_by_id, kb->id, kb, GFP_KERNEL);
	kso_watch(ka);
	kso_watch(kb);
	mirror_peercred(ka);
	mirror_peercred(kb);
	return 0;
}

static int
kso_accept(struct socket *sock, struct socket *newsock, int flags, bool kern)
{
	struct kso *k = kso_of(sock);
	struct ks_sock *nks;
	int err;

	kso_sync(k);
	ks_set_nonblock(k->ks, flags & O_NONBLOCK);
	err = ks_accept(k->ks, 0, &nks, NULL, NULL);
	if (err < 0)
		return restart_err(err, k->sk.sk_rcvtimeo);
	err = kso_attach(sock_net(&k->sk), newsock, nks, k->sk.sk_protocol,
			 kern);
	if (err < 0) {
		ks_close(nks);
		return err;
	}
	k = kso_of(newsock);
	mirror_peercred(k);
	/* ksock gave it the listener's SO_PASSCRED, as unix_accept() does. */
	{
		int v = 0;
		uint32_t len = sizeof(v);

		if (ks_getsockopt(nks, KS_SOL_SOCKET, KS_SO_PASSCRED, &v, &len) == 0 && v) {
			set_bit(SOCK_PASSCRED, &newsock->flags);
			k->synced_passcred = true;
		}
	}
	return 0;
}

static int
kso_getname(struct socket *sock, struct sockaddr *addr, int peer)
{
	struct kso *k = kso_of(sock);
	uint32_t len = sizeof(struct sockaddr_storage);
	int err;

	if (peer)
		err = ks_getpeername(k->ks, addr, &len);
	else
		err = ks_getsockname(k->ks, addr, &len);
	return err < 0 ? err : (int)len;
}

static int
kso_listen(struct socket *sock, int backlog)
{
	struct kso *k = kso_of(sock);
	int err;

	err = ks_listen(k->ks, backlog);
	if (err == 0) {
		k->sk.sk_state = TCP_LISTEN;
		mirror_peercred(k);
	}
	return err;
}

static int
kso_shutdown(struct socket *sock, int how)
{
	return ks_shutdown(kso_of(sock)->ks, how);
}

/* -- poll and ioctl -- */

static __poll_t
kso_poll(struct file *file, struct socket *sock, poll_table *wait)
{
	struct kso *k = kso_of(sock);
	unsigned mask;

	sock_poll_wait(file, sock, wait);
	kso_sync(k);
	/* The entry stays registered until release; registering again is
	 * needed only to follow the peer of a datagram or seqpacket socket,
	 * whose full queue can make ours unwritable. */
	if (READ_ONCE(k->pe_used) && sock->type == SOCK_STREAM)
		return (__force __poll_t)ks_poll(k->ks, NULL);
	mutex_lock(&k->poll_lock);
	mask = ks_poll(k->ks, &k->pe);
	k->pe_used = true;
	mutex_unlock(&k->poll_lock);
	return (__force __poll_t)mask;
}

static int
kso_ioctl(struct socket *sock, unsigned int cmd, unsigned long arg)
{
	int err = ks_ioctl(kso_of(sock)->ks, cmd, (void *)arg);

	/* Let sock_do_ioctl() try the generic socket ioctls. */
	return err == -ENOTTY ? -ENOIOCTLCMD : err;
}

/* -- options -- */

/* Options longer than this are cut, as no option reads more. */
#define KSO_OPT_MAX	256

/* Levels other than SOL_SOCKET (net/core/sock.c keeps that one). */
static int
kso_setsockopt(struct socket *sock, int level, int name, sockptr_t optval,
	       unsigned int optlen)
{
	unsigned char buf[KSO_OPT_MAX];
	unsigned int len = min_t(unsigned int, optlen, sizeof(buf));

	if (len > 0 && copy_from_sockptr(buf, optval, len))
		return -EFAULT;
	return ks_setsockopt(kso_of(sock)->ks, level, name, buf, len);
}

static int
kso_getsockopt(struct socket *sock, int level, int name, char __user *optval,
	       int __user *optlen)
{
	unsigned char buf[KSO_OPT_MAX];
	uint32_t len;
	int ulen, err;

	if (get_user(ulen, optlen))
		return -EFAULT;
	if (ulen < 0)
		return -EINVAL;
	len = min_t(uint32_t, ulen, sizeof(buf));
	err = ks_getsockopt(kso_of(sock)->ks, level, name, buf, &len);
	if (err < 0)
		return err;
	if (copy_to_user(optval, buf, min_t(uint32_t, len, ulen)) ||
	    put_user((int)len, optlen))
		return -EFAULT;
	return 0;
}

static int
kso_set_peek_off(struct sock *sk, int val)
{
	int err = ks_setsockopt(((struct kso *)sk)->ks, KS_SOL_SOCKET,
				KS_SO_PEEK_OFF, &val, sizeof(val));

	if (err == 0)
		mirror_int((struct kso *)sk, KS_SO_PEEK_OFF, &sk->sk_peek_off);
	return err;
}

static int
kso_set_rcvlowat(struct sock *sk, int val)
{
	int err = ks_setsockopt(((struct kso *)sk)->ks, KS_SOL_SOCKET,
				KS_SO_RCVLOWAT, &val, sizeof(val));

	if (err == 0)
		mirror_int((struct kso *)sk, KS_SO_RCVLOWAT, &sk->sk_rcvlowat);
	return err;
}

/* -- data -- */

/*
 * Describes @it to ksock: a user iovec array as it is (struct iovec and
 * struct ks_iovec share a layout), anything else as one window that the
 * copy hooks serve through the iterator (kport.h).
 */
static void
msg_iov(struct iov_iter *it, struct kp_call *c, struct ks_iovec *one,
	struct ks_msghdr *km)
{
	size_t count = iov_iter_count(it);

	if (iter_is_ubuf(it)) {
		one->iov_base = (char *)it->ubuf + it->iov_offset;
		one->iov_len = count;
		km->msg_iov = one;
		km->msg_iovlen = 1;
		return;
	}
	if (iter_is_iovec(it) && it->iov_offset == 0) {
		size_t sum = 0;

		for (unsigned long i = 0; i < it->nr_segs; i++)
			sum += it->iov[i].iov_len;
		if (sum == count) {
			km->msg_iov = (struct ks_iovec *)it->iov;
			km->msg_iovlen = it->nr_segs;
			return;
		}
	}
	c->iter = it;
	c->iter_len = count;
	c->iter_pos = 0;
	one->iov_base = (void *)KP_ITER_BASE;
	one->iov_len = count;
	km->msg_iov = one;
	km->msg_iovlen = 1;
}

static int
kso_sendmsg(struct socket *sock, struct msghdr *msg, size_t size)
{
	struct kso *k = kso_of(sock);
	struct kp_call c = { 0 };
	struct ks_iovec one;
	struct ks_msghdr km = {
		.msg_name = msg->msg_name,
		.msg_namelen = msg->msg_name ? msg->msg_namelen : 0,
		.msg_controllen = msg->msg_controllen,
	};
	struct iov_iter saved = msg->msg_iter;
	long n;

	msg_iov(&msg->msg_iter, &c, &one, &km);
	if (msg->msg_controllen == 0) {
		km.msg_control = NULL;
	} else if (msg->msg_control_is_user) {
		km.msg_control = (void *)msg->msg_control_user;
	} else {
		/* net/socket.c copied the control data into the kernel. */
		c.kbuf = msg->msg_control;
		c.kbuf_len = msg->msg_controllen;
		km.msg_control = msg->msg_control;
	}
	kso_sync(k);
	kso_wait_syncs();
	kso_nonblock(k);
	if (c.iter != NULL || c.kbuf != NULL)
		kp_call_begin(&c);
	n = ks_sendmsg(k->ks, &km, msg->msg_flags);
	if (c.iter != NULL || c.kbuf != NULL)
		kp_call_end(&c);
	/* Leave the iterator where the bytes sent end, as callers expect. */
	if (n > 0) {
		if (c.iter == NULL) {
			iov_iter_advance(&msg->msg_iter, n);
		} else {
			msg->msg_iter = saved;
			iov_iter_advance(&msg->msg_iter, n);
		}
	}
	if (n >= 0 && (msg->msg_flags & MSG_OOB) && sock->type == SOCK_STREAM)
		kso_sigurg(k);
	kso_reconcile_error(k);
	return restart_err(n, k->sk.sk_sndtimeo);
}

static int
kso_recvmsg(struct socket *sock, struct msghdr *msg, size_t size, int flags)
{
	struct kso *k = kso_of(sock);
	struct kp_call c = { 0 };
	struct ks_iovec one;
	struct ks_msghdr km = {
		.msg_name = msg->msg_name,
		.msg_namelen = msg->msg_name ? sizeof(struct sockaddr_storage) : 0,
		.msg_controllen = msg->msg_controllen,
	};
	struct iov_iter saved = msg->msg_iter;
	long n;

	msg_iov(&msg->msg_iter, &c, &one, &km);
	if (msg->msg_controllen == 0) {
		km.msg_control = NULL;
	} else if (msg->msg_control_is_user) {
		void __user *u = msg->msg_control_user;

		/* A kernel address from user space must fault, never reach
		 * a window: make it one just past user space. */
		if (!access_ok(u, msg->msg_controllen))
			u = (void __user *)TASK_SIZE_MAX;
		km.msg_control = (void *)u;
	} else {
		c.kbuf = msg->msg_control;
		c.kbuf_len = msg->msg_controllen;
		km.msg_control = msg->msg_control;
	}
	kso_sync(k);
	kso_nonblock(k);
	if (c.iter != NULL || c.kbuf != NULL)
		kp_call_begin(&c);
	n = ks_recvmsg(k->ks, &km, flags);
	if (c.iter != NULL || c.kbuf != NULL)
		kp_call_end(&c);
	kso_reconcile_error(k);
	if (n >= 0) {
		size_t used = km.msg_controllen;

		msg->msg_namelen = msg->msg_name ? km.msg_namelen : 0;
		msg->msg_flags = km.msg_flags;
		/* net/socket.c reads the control length used from how far
		 * the pointer moved, as put_cmsg() moves it. */
		if (msg->msg_control_is_user)
			msg->msg_control_user += used;
		else
			msg->msg_control += used;
		msg->msg_controllen -= used;
		if (c.iter != NULL)
			msg->msg_iter = saved;
		if (n > 0 && n <= (long)iov_iter_count(&msg->msg_iter))
			iov_iter_advance(&msg->msg_iter, n);
		mirror_peek_off(k);
	}
	return restart_err(n, k->sk.sk_rcvtimeo);
}

static const struct proto_ops kso_ops = {
	.family		= PF_UNIX,
	.owner		= THIS_MODULE,
	.release	= kso_release,
	.bind		= kso_bind,
	.connect	= kso_connect,
	.socketpair	= kso_socketpair,
	.accept		= kso_accept,
	.getname	= kso_getname,
	.poll		= kso_poll,
	.ioctl		= kso_ioctl,
	.listen		= kso_listen,
	.shutdown	= kso_shutdown,
	.setsockopt	= kso_setsockopt,
	.getsockopt	= kso_getsockopt,
	.sendmsg	= kso_sendmsg,
	.recvmsg	= kso_recvmsg,
	.mmap		= sock_no_mmap,
	.sendpage	= sock_no_sendpage,
	.set_peek_off	= kso_set_peek_off,
	.set_rcvlowat	= kso_set_rcvlowat,
};

/* -- /proc/net/ksock_unix: the sockets, in /proc/net/unix's format -- */

/* Linux's __SO_ACCEPTCON, and the socket_state values it prints. */
#define KSO_ACCEPTCON		(1 << 16)

static int
kso_proc_sock(struct ks_sock *so, void *arg)
{
	struct seq_file *seq = arg;
	struct ks_diag_sock rec = { .pending = NULL, .pending_cap = 0 };
	unsigned long ino = 0;
	unsigned refs;
	int st;
	struct kso *k;

	if (ks_diag_sock(so, &rec) < 0)
		return 0;	/* closed: Linux has unhashed it */
	refs = rec.refcount;
	k = kso_find(rec.id);
	if (k != NULL) {
		ino = SOCK_INODE(k->sock)->i_ino;
		refs = refcount_read(&k->sk.sk_refcnt) - 1;
		sock_put(&k->sk);
	}
	switch (rec.state) {
	case KS_DIAG_EMBRYO:
		st = SS_CONNECTING;
		break;
	case KS_DIAG_CONNECTED:
	case KS_DIAG_DISCONNECTED:
		st = SS_CONNECTED;
		break;
	default:
		st = SS_UNCONNECTED;
		break;
	}
	seq_printf(seq, "%pK: %08X %08X %08X %04X %02X %5lu", so, refs, 0,
		   rec.state == KS_DIAG_LISTENING ? KSO_ACCEPTCON : 0,
		   rec.type, st, ino);
	if (rec.name_len > 0) {
		seq_putc(seq, ' ');
		for (uint32_t i = 0; i < rec.name_len; i++)
			seq_putc(seq, rec.name[i] ? rec.name[i] : '@');
	}
	seq_putc(seq, '\n');
	return 0;
}

static int
kso_proc_show(struct seq_file *seq, void *v)
{
	seq_puts(seq, "Num       RefCount Protocol Flags    Type St Inode Path\n");
	return ks_diag_walk(kso_proc_sock, seq);
}

static struct net_proto_family kso_family = {
	.create		= kso_create,
	.owner		= THIS_MODULE,
};

/* -- module -- */

static int __init
kso_init(void)
{
	int err;

	kso_sync_wq = alloc_workqueue("ksock_sync", WQ_UNBOUND, 0);
	if (kso_sync_wq == NULL)
		return -ENOMEM;
	err = ks_init(kp_port());
	if (err < 0)
		goto destroy_wq;
	err = proto_register(&kso_proto, 0);
	if (err < 0)
		goto fini;
	if (takeover)
		family = PF_UNIX;
	if (family <= 0 || family >= NPROTO) {
		err = -EINVAL;
		goto unregister_proto;
	}
	kso_family.family = family;
	if (takeover)
		sock_unregister(PF_UNIX);
	err = -ENOMEM;
	if (proc_create_single("ksock_unix", 0444, init_net.proc_net,
			       kso_proc_show) == NULL)
		goto unregister_proto;
	err = sock_register(&kso_family);
	if (err < 0)
		goto remove_proc;
	pr_info("ksock: serving family %d%s\n", family,
		takeover ? " (PF_UNIX taken over)" : "");
	return 0;

remove_proc:
	remove_proc_entry("ksock_unix", init_net.proc_net);
unregister_proto:
	proto_unregister(&kso_proto);
fini:
	ks_fini();
destroy_wq:
	destroy_workqueue(kso_sync_wq);
	return err;
}

static void __exit
kso_exit(void)
{
	sock_unregister(family);
	remove_proc_entry("ksock_unix", init_net.proc_net);
	proto_unregister(&kso_proto);
	if (ks_fini() < 0)
		pr_err("ksock: sockets remain at unload\n");
	else if (kp_allocs_outstanding() != 0)
		pr_err("ksock: %ld allocations remain at unload\n",
		       kp_allocs_outstanding());
	destroy_workqueue(kso_sync_wq);
}

module_init(kso_init);
module_exit(kso_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ksock: a portable AF_UNIX as a Linux socket family");

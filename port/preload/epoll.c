/*
 * Preload port: epoll over ksock sockets and kernel descriptors in one set.
 *
 * An epoll instance is the kernel's: epoll_create gives a real epoll
 * descriptor, mapped (fdmap.c) to a struct kp_epoll that holds the items
 * for ksock sockets; kernel descriptors are added to the real instance
 * as they are. The first socket item adds an eventfd to the real
 * instance (with the data KP_EP_MAGIC, which epoll_wait filters out), so
 * a thread sleeping in the kernel's epoll_wait wakes for sockets too, and
 * a signal interrupts the wait exactly as it would without ksock.
 *
 * As Linux's eventpoll, the cost of a wait follows the items that had
 * something to say, not the items registered:
 *   - items are found through a hash of their descriptor numbers;
 *   - each item stays registered on its socket, and its wake callback
 *     puts it on the instance's ready list (and signals the eventfd);
 *   - epoll_wait looks only at the items on the ready list: one that is
 *     not ready leaves the list; a level-triggered one that is goes back
 *     on it (it is looked at again next time), an edge-triggered one
 *     waits for its next wake-up, an EPOLLONESHOT one is disabled until
 *     EPOLL_CTL_MOD.
 * The eventfd is readable exactly while the ready list is not empty (it
 * is drained when a look leaves the list empty), so the kernel sees the
 * instance readable when, and only when, a socket item may be ready; an
 * epoll that holds this one, or a poll on it, then sees the truth, which
 * those callers refresh first (kp__epoll_refresh) by looking at the items
 * on the ready list.
 *
 * A wake-up that this thread causes on a socket while it reads from that
 * socket (ksock wakes the socket's queue when a reader gives up its
 * turn) is no new event: Linux reports nothing there, and an
 * edge-triggered item must not fire again after a partial read. Reads go
 * through kp__reading_begin(), which notes the socket being read.
 *
 * Before it sleeps in the kernel, epoll_wait spins while the port's spin
 * policy says it can pay (port/hosted/spin.c), watching the ready list:
 * a socket event then costs no system call. Kernel descriptors are
 * looked at before and after the spin, which lasts at most about 20 us.
 *
 * ksockd sockets (ksock-run --ksockd) are kept by remote.c: the server
 * watches them (KSD_WATCH) and rings a socket of the watch's that sits
 * in the real instance with the data KP_EP_REMOTE_MAGIC, so the kernel
 * sleep covers them too; epoll_wait asks the server about them first,
 * and again each time that socket rings.
 *
 * EPOLLEXCLUSIVE is accepted; for sockets it changes nothing (every
 * waiter is woken). An item whose socket was closed (its last descriptor
 * and every message carrying it gone) is dropped when its close wakes
 * it, as Linux drops an item with its file's last reference.
 *
 * Locks, in order: ep->lock (the hash, an item's events and flags, the
 * nested list; held across a whole look), it->lock (ks_poll /
 * ks_poll_remove on the item), ksock's locks, and ep->rdlock, a leaf
 * that guards the ready list and each item's on_ready: the wake callback
 * runs under ksock's locks and takes only rdlock.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>

#include "preload.h"
#include "../hosted/hosted.h"

#define KP_EXPORT	__attribute__((visibility("default")))
/* The eventfd's data in the real epoll set: "ksock-ep". */
#define KP_EP_MAGIC	0x6b736f636b2d6570ULL
/* Linux's EP_MAX_EVENTS. */
#define KP_EP_MAX_EVENTS	(INT_MAX / sizeof(struct epoll_event))
/* The first size of the item hash; it doubles with the items. */
#define KP_EP_HASH_MIN	16

struct kp_epitem {
	struct ks_poll_entry pe;
	pthread_mutex_t	 lock;
	struct kp_epoll	*ep;		/* [I] */
	struct kp_file	*f;		/* [I] memory held */
	struct ks_sock	*so;		/* [I] held */
	int		 fd;		/* [I] the number it was added by */
	uint32_t	 events;	/* [E] */
	uint64_t	 data;		/* [E] */
	bool		 disabled;	/* [E] EPOLLONESHOT fired */
	bool		 registered;	/* [item lock] */
	bool		 on_ready;	/* [R] on a ready list */
	struct kp_epitem *rnext, *rprev; /* [R] ready list */
	struct kp_epitem *hnext;	/* [E] hash chain */
};

/* A list of items through rnext/rprev. */
struct kp_rlist {
	struct kp_epitem *head, *tail;
};

/* An epoll instance held by this one (nested epoll). */
struct kp_epnest {
	struct kp_file	*f;		/* [E] memory held; KP_EPOLL */
	int		 fd;		/* [E] the number it was added by */
	uint64_t	 data;		/* [E] */
	struct kp_epnest *next;		/* [E] */
};

struct kp_epoll {
	pthread_mutex_t	 lock;
	pthread_mutex_t	 rdlock;
	int		 efd;		/* [E] the eventfd, or -1 */
	atomic_bool	 kicked;	/* [A] efd signalled, not yet drained */
	struct kp_epitem **hash;	/* [E] nhash chains */
	unsigned	 nhash;		/* [E] a power of two, or 0 */
	unsigned	 nitems;	/* [E] */
	struct kp_rlist	 ready;		/* [R] items to look at */
	struct kp_epnest *nested;	/* [E] */
	struct kp_repoll *remote;	/* [E] ksockd sockets (remote.c) */
};

/* The socket this thread is reading from (kp__reading_begin), or NULL. */
static _Thread_local struct ks_sock *reading_so;

static long
fail(long err)
{
	errno = (int)-err;
	return -1;
}

/* -- the ready list -- */

static void
rlist_append(struct kp_rlist *l, struct kp_epitem *it)
{
	it->rnext = NULL;
	it->rprev = l->tail;
	if (l->tail != NULL)
		l->tail->rnext = it;
	else
		l->head = it;
	l->tail = it;
}

static void
rlist_unlink(struct kp_rlist *l, struct kp_epitem *it)
{
	if (it->rprev != NULL)
		it->rprev->rnext = it->rnext;
	else
		l->head = it->rnext;
	if (it->rnext != NULL)
		it->rnext->rprev = it->rprev;
	else
		l->tail = it->rprev;
	it->rnext = it->rprev = NULL;
}

/* Appends @b to @a and empties @b. */
static void
rlist_splice(struct kp_rlist *a, struct kp_rlist *b)
{
	if (b->head == NULL)
		return;
	if (a->tail != NULL) {
		a->tail->rnext = b->head;
		b->head->rprev = a->tail;
	} else {
		a->head = b->head;
	}
	a->tail = b->tail;
	b->head = b->tail = NULL;
}

static void
ep_kick(struct kp_epoll *ep)
{
	if (ep->efd >= 0 && !atomic_exchange(&ep->kicked, true)) {
		uint64_t one = 1;

		syscall(SYS_write, ep->efd, &one, sizeof(one));
	}
}

/* Puts @it on the ready list unless it is on one. Takes rdlock. */
static void
ep_ready_add(struct kp_epoll *ep, struct kp_epitem *it)
{
	pthread_mutex_lock(&ep->rdlock);
	if (!it->on_ready) {
		it->on_ready = true;
		rlist_append(&ep->ready, it);
	}
	pthread_mutex_unlock(&ep->rdlock);
}

static bool
ep_ready_empty(struct kp_epoll *ep)
{
	bool empty;

	pthread_mutex_lock(&ep->rdlock);
	empty = ep->ready.head == NULL;
	pthread_mutex_unlock(&ep->rdlock);
	return empty;
}

/* Runs with ksock locks held: only queues the item and kicks. */
static void
ep_wake(struct ks_poll_entry *pe, unsigned events)
{
	struct kp_epitem *it = pe->arg;

	/* The reader handing its turn on, in this very thread: no event. */
	if (it->so == reading_so)
		return;
	ep_ready_add(it->ep, it);
	ep_kick(it->ep);
}

/* See preload.h. */
struct ks_sock *
kp__reading_begin(struct ks_sock *so)
{
	struct ks_sock *outer = reading_so;

	reading_so = so;
	return outer;
}

/* See preload.h. */
void
kp__reading_end(struct ks_sock *outer)
{
	reading_so = outer;
}

/*
 * Makes the eventfd say whether the ready list holds anything: drained
 * when it is empty, signalled when not. ep->lock held.
 */
static void
ep_settle_locked(struct kp_epoll *ep)
{
	uint64_t cnt;

	if (ep->efd < 0)
		return;
	if (!ep_ready_empty(ep)) {
		ep_kick(ep);
		return;
	}
	if (atomic_load(&ep->kicked)) {
		syscall(SYS_read, ep->efd, &cnt, sizeof(cnt));
		atomic_store(&ep->kicked, false);
		/* A wake-up in between found kicked set and wrote nothing. */
		if (!ep_ready_empty(ep))
			ep_kick(ep);
	}
}

/* -- items -- */

/* Takes @it off its socket and the ready list and frees it. ep->lock
 * held, or the instance is being freed. */
static void
item_free(struct kp_epitem *it)
{
	struct kp_epoll *ep = it->ep;

	pthread_mutex_lock(&it->lock);
	if (it->registered)
		ks_poll_remove(&it->pe);
	it->registered = false;
	pthread_mutex_unlock(&it->lock);
	/* No wake-up can come now: take it off the list one may have used. */
	pthread_mutex_lock(&ep->rdlock);
	if (it->on_ready)
		rlist_unlink(&ep->ready, it);
	it->on_ready = false;
	pthread_mutex_unlock(&ep->rdlock);
	pthread_mutex_destroy(&it->lock);
	ks_sock_release(it->so);
	kp__file_mem_put(it->f);
	free(it);
}

static bool
item_is_dead(const struct kp_epitem *it)
{
	return atomic_load(&it->f->refs) == 0;
}

static unsigned
hash_fd(const struct kp_epoll *ep, int fd)
{
	return ((unsigned)fd * 2654435761u) & (ep->nhash - 1);
}

/* Grows the hash to hold one more item. Returns 0 or -ENOMEM. */
static int
ep_hash_grow_locked(struct kp_epoll *ep)
{
	struct kp_epitem **nh, *it, *next;
	unsigned n, old = ep->nhash;

	if (ep->nitems + 1 <= ep->nhash)
		return 0;
	n = old > 0 ? old * 2 : KP_EP_HASH_MIN;
	nh = calloc(n, sizeof(*nh));
	if (nh == NULL)
		return -ENOMEM;
	ep->nhash = n;
	for (unsigned i = 0; i < old; i++) {
		for (it = ep->hash[i]; it != NULL; it = next) {
			unsigned b = hash_fd(ep, it->fd);

			next = it->hnext;
			it->hnext = nh[b];
			nh[b] = it;
		}
	}
	free(ep->hash);
	ep->hash = nh;
	return 0;
}

static struct kp_epitem *
ep_find_locked(struct kp_epoll *ep, int fd, struct kp_file *f)
{
	if (ep->nhash == 0)
		return NULL;
	for (struct kp_epitem *it = ep->hash[hash_fd(ep, fd)]; it != NULL;
	     it = it->hnext)
		if (it->fd == fd && it->f == f && !item_is_dead(it))
			return it;
	return NULL;
}

static void
ep_unhash_locked(struct kp_epoll *ep, struct kp_epitem *it)
{
	struct kp_epitem **pp = &ep->hash[hash_fd(ep, it->fd)];

	while (*pp != it)
		pp = &(*pp)->hnext;
	*pp = it->hnext;
	ep->nitems--;
}

/* Frees @ep and its items (the epoll file's last reference). */
void
kp__epoll_free(struct kp_epoll *ep)
{
	struct kp_epnest *n;

	for (unsigned i = 0; i < ep->nhash; i++) {
		while (ep->hash[i] != NULL) {
			struct kp_epitem *it = ep->hash[i];

			ep->hash[i] = it->hnext;
			item_free(it);
		}
	}
	free(ep->hash);
	while ((n = ep->nested) != NULL) {
		ep->nested = n->next;
		kp__file_mem_put(n->f);
		free(n);
	}
	if (ep->efd >= 0)
		sys_close(ep->efd);
	kp__remote_epoll_free(ep->remote);
	pthread_mutex_destroy(&ep->rdlock);
	pthread_mutex_destroy(&ep->lock);
	free(ep);
}

/* Maps the new real epoll descriptor @epfd. Returns it or -errno. */
static int
epoll_map(int epfd)
{
	struct kp_epoll *ep = calloc(1, sizeof(*ep));
	struct kp_file *f = kp__file_new(KP_EPOLL);

	if (ep == NULL || f == NULL) {
		free(ep);
		free(f);
		sys_close(epfd);
		return -ENOMEM;
	}
	pthread_mutex_init(&ep->lock, NULL);
	pthread_mutex_init(&ep->rdlock, NULL);
	ep->efd = -1;
	f->ep = ep;
	kp__fd_set(epfd, f);
	kp__file_put(f);
	return epfd;
}

KP_EXPORT int
epoll_create1(int flags)
{
	long epfd = syscall(SYS_epoll_create1, flags);

	if (epfd < 0)
		return -1;
	if (epfd >= KP_MAX_FD)
		return (int)epfd;
	epfd = epoll_map((int)epfd);
	return epfd < 0 ? (int)fail(epfd) : (int)epfd;
}

KP_EXPORT int
epoll_create(int size)
{
	if (size <= 0)
		return (int)fail(-EINVAL);
	return epoll_create1(0);
}

/* The eventfd, high in the number space; made with the first item. */
static int
ep_eventfd_locked(struct kp_epoll *ep, int epfd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = KP_EP_MAGIC };
	struct rlimit rl;
	long efd, hfd, min = 0;

	if (ep->efd >= 0)
		return 0;
	efd = syscall(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		return -errno;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 64)
		min = (long)(rl.rlim_cur > KP_MAX_FD ? KP_MAX_FD : rl.rlim_cur) / 2;
	hfd = syscall(SYS_fcntl, efd, F_DUPFD_CLOEXEC, min);
	if (hfd >= 0) {
		sys_close(efd);
		efd = hfd;
	}
	if (syscall(SYS_epoll_ctl, epfd, EPOLL_CTL_ADD, efd, &ev) < 0) {
		int err = -errno;

		sys_close(efd);
		return err;
	}
	ep->efd = (int)efd;
	return 0;
}

/* Polls @it (registering it again) and queues it when it is ready for
 * what it asks. ep->lock held. */
static void
ep_poll_item_locked(struct kp_epoll *ep, struct kp_epitem *it)
{
	unsigned mask;

	pthread_mutex_lock(&it->lock);
	mask = ks_poll(it->so, &it->pe);
	it->registered = true;
	pthread_mutex_unlock(&it->lock);
	if (mask & (it->events | EPOLLERR | EPOLLHUP)) {
		ep_ready_add(ep, it);
		ep_kick(ep);
	}
}

static int
ep_ctl_sock(int epfd, struct kp_epoll *ep, int op, int fd, struct kp_file *f,
	    struct epoll_event *ev)
{
	struct kp_epitem *it;
	int err = 0;

	if (op != EPOLL_CTL_DEL && ev == NULL)
		return -EFAULT;
	pthread_mutex_lock(&ep->lock);
	it = ep_find_locked(ep, fd, f);
	switch (op) {
	case EPOLL_CTL_ADD:
		if (it != NULL) {
			err = -EEXIST;
			break;
		}
		err = ep_eventfd_locked(ep, epfd);
		if (err < 0)
			break;
		err = ep_hash_grow_locked(ep);
		if (err < 0)
			break;
		it = calloc(1, sizeof(*it));
		if (it == NULL) {
			err = -ENOMEM;
			break;
		}
		pthread_mutex_init(&it->lock, NULL);
		it->pe.wake = ep_wake;
		it->pe.arg = it;
		it->ep = ep;
		it->f = f;
		kp__file_mem_hold(f);
		it->so = f->so;
		ks_sock_hold(it->so);
		it->fd = fd;
		it->events = ev->events;
		it->data = ev->data.u64;
		it->hnext = ep->hash[hash_fd(ep, fd)];
		ep->hash[hash_fd(ep, fd)] = it;
		ep->nitems++;
		ep_poll_item_locked(ep, it);
		break;
	case EPOLL_CTL_MOD:
		if (it == NULL) {
			err = -ENOENT;
			break;
		}
		if ((ev->events | it->events) & EPOLLEXCLUSIVE) {
			err = -EINVAL;
			break;
		}
		it->events = ev->events;
		it->data = ev->data.u64;
		it->disabled = false;
		ep_poll_item_locked(ep, it);
		break;
	case EPOLL_CTL_DEL:
		if (it == NULL) {
			err = -ENOENT;
			break;
		}
		ep_unhash_locked(ep, it);
		item_free(it);
		break;
	default:
		err = -EINVAL;
	}
	pthread_mutex_unlock(&ep->lock);
	return err;
}

/*
 * Keeps @ep's list of the epoll instances it holds (the kernel holds
 * them for real) after a successful epoll_ctl of @fd (@inner's file).
 */
static void
ep_ctl_nested(struct kp_epoll *ep, int op, int fd, struct kp_file *inner,
	      const struct epoll_event *ev)
{
	struct kp_epnest **pp, *n;

	pthread_mutex_lock(&ep->lock);
	for (pp = &ep->nested; (n = *pp) != NULL; pp = &n->next)
		if (n->fd == fd && n->f == inner)
			break;
	switch (op) {
	case EPOLL_CTL_ADD:
		n = calloc(1, sizeof(*n));
		if (n == NULL)
			break;	/* the nested one then goes unrefreshed */
		n->f = inner;
		kp__file_mem_hold(inner);
		n->fd = fd;
		n->data = ev->data.u64;
		n->next = ep->nested;
		ep->nested = n;
		break;
	case EPOLL_CTL_MOD:
		if (n != NULL)
			n->data = ev->data.u64;
		break;
	case EPOLL_CTL_DEL:
		if (n != NULL) {
			*pp = n->next;
			kp__file_mem_put(n->f);
			free(n);
		}
		break;
	}
	pthread_mutex_unlock(&ep->lock);
}

KP_EXPORT int
epoll_ctl(int epfd, int op, int fd, struct epoll_event *uev)
{
	struct epoll_event kev, *ev = uev;
	struct kp_file *ef, *f;
	int err;

	if (!kp__fd_is_mapped(fd))
		return (int)syscall(SYS_epoll_ctl, epfd, op, fd, uev);
	/* Linux reads the event first, for the operations that have one; a
	 * bad one goes to the kernel unread, which fails with EFAULT. */
	if ((op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) && uev != NULL) {
		if (ksp__copy_from_user(&kev, uev, sizeof(kev)) < 0)
			return (int)syscall(SYS_epoll_ctl, epfd, op, fd, uev);
		ev = &kev;
	}
	f = kp__fd_get(fd);
	if (f == NULL || f->kind == KP_EPOLL) {
		/* A nested epoll instance is the kernel's business; the
		 * outer one only notes it, to refresh it before it looks. */
		err = (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
		if (err == 0 && f != NULL && kp__fd_is_mapped(epfd)) {
			ef = kp__fd_get(epfd);
			if (ef != NULL && ef != &kp_stale &&
			    ef->kind == KP_EPOLL)
				ep_ctl_nested(ef->ep, op, fd, f, ev);
			kp__file_put(ef);
		}
		kp__file_put(f);
		return err;
	}
	if (f == &kp_stale)
		return (int)fail(-EBADF);
	ef = kp__fd_get(epfd);
	if (f->kind == KP_REMOTE && ef != NULL && ef != &kp_stale &&
	    ef->kind == KP_EPOLL) {
		/* A ksockd socket (ksock-run --ksockd): remote.c keeps it. */
		pthread_mutex_lock(&ef->ep->lock);
		err = kp__remote_epoll_ctl(&ef->ep->remote, op, fd, ev);
		if (err == 0)
			kp__remote_epoll_arm(ef->ep->remote, epfd);
		pthread_mutex_unlock(&ef->ep->lock);
		kp__file_put(ef);
		kp__file_put(f);
		return err < 0 ? (int)fail(err) : 0;
	}
	if (ef == NULL) {
		/* Not an epoll made through this library: ask the kernel
		 * for its error, or EINVAL (it is no epoll instance). */
		err = syscall(SYS_fcntl, epfd, F_GETFD) < 0 ? -EBADF : -EINVAL;
	} else if (ef == &kp_stale) {
		err = -EBADF;
	} else if (ef->kind != KP_EPOLL || epfd == fd) {
		err = -EINVAL;
	} else {
		err = ep_ctl_sock(epfd, ef->ep, op, fd, f, ev);
	}
	kp__file_put(ef);
	kp__file_put(f);
	return err < 0 ? (int)fail(err) : 0;
}

/*
 * Looks at the items on the ready list and fills at most @max events in
 * @out; with @out NULL, reports nothing and only drops the items that
 * are not ready (a refresh). Then settles the eventfd. Takes ep->lock.
 */
static int
ep_scan(struct kp_epoll *ep, struct epoll_event *out, int max)
{
	struct kp_rlist todo, again = { NULL, NULL };
	struct kp_epitem *it, *dead = NULL;
	int count = 0;

	pthread_mutex_lock(&ep->lock);
	/* Take the list; its items stay marked, so wake-ups leave them. */
	pthread_mutex_lock(&ep->rdlock);
	todo = ep->ready;
	ep->ready.head = ep->ready.tail = NULL;
	pthread_mutex_unlock(&ep->rdlock);
	while (out == NULL || count < max) {
		unsigned mask, rev;

		pthread_mutex_lock(&ep->rdlock);
		it = todo.head;
		if (it != NULL) {
			rlist_unlink(&todo, it);
			it->on_ready = false;
		}
		pthread_mutex_unlock(&ep->rdlock);
		if (it == NULL)
			break;
		if (item_is_dead(it)) {
			ep_unhash_locked(ep, it);
			it->hnext = dead;
			dead = it;
			continue;
		}
		if (it->disabled)
			continue;
		/* A wake-up from here on queues it again. */
		pthread_mutex_lock(&it->lock);
		mask = ks_poll(it->so, &it->pe);
		pthread_mutex_unlock(&it->lock);
		rev = mask & (it->events | EPOLLERR | EPOLLHUP);
		if (rev == 0)
			continue;
		if (out != NULL) {
			out[count].events = rev;
			out[count].data.u64 = it->data;
			count++;
			if (it->events & EPOLLONESHOT) {
				it->disabled = true;
				continue;
			}
			if (it->events & EPOLLET)
				continue;
		}
		/* Still ready (level-triggered, or only refreshed): look
		 * again next time. */
		pthread_mutex_lock(&ep->rdlock);
		if (!it->on_ready) {
			it->on_ready = true;
			rlist_append(&again, it);
		}
		pthread_mutex_unlock(&ep->rdlock);
	}
	/* What was not looked at comes first, then new wake-ups, then the
	 * items reported again, so every ready item gets its turn. */
	pthread_mutex_lock(&ep->rdlock);
	rlist_splice(&todo, &ep->ready);
	rlist_splice(&todo, &again);
	ep->ready = todo;
	pthread_mutex_unlock(&ep->rdlock);
	while (dead != NULL) {
		it = dead;
		dead = it->hnext;
		item_free(it);
	}
	ep_settle_locked(ep);
	pthread_mutex_unlock(&ep->lock);
	return count;
}

/* See preload.h: makes @ep's eventfd (so its kernel descriptor's
 * readability) say whether a socket item is ready now. */
void
kp__epoll_refresh(struct kp_epoll *ep)
{
	ep_scan(ep, NULL, 0);
	pthread_mutex_lock(&ep->lock);
	kp__remote_epoll_refresh(ep->remote);
	pthread_mutex_unlock(&ep->lock);
}

static int64_t
now_ns(void)
{
	return ksp__now();
}

static bool
ep_kicked(void *ep)
{
	return atomic_load_explicit(&((struct kp_epoll *)ep)->kicked,
				    memory_order_acquire);
}

/* Spins until a socket item is woken, the spin policy says stop, or
 * @deadline. Returns whether one was woken. */
static bool
ep_spin(struct kp_epoll *ep, int64_t deadline)
{
	if (ep->efd < 0)
		return false;
	return ksp__spin_until(ep_kicked, ep, deadline);
}

/* Takes an open reference to @f unless its last one is gone (an epoll
 * instance is freed with its last open reference, not its memory). */
static bool
file_tryhold(struct kp_file *f)
{
	long refs = atomic_load(&f->refs);

	while (refs > 0)
		if (atomic_compare_exchange_weak(&f->refs, &refs, refs + 1))
			return true;
	return false;
}

/*
 * Refreshes the epoll instances @ep holds, so the kernel's view of them
 * is true before it is asked. Returns how many there are.
 */
static int
ep_refresh_nested(struct kp_epoll *ep)
{
	struct kp_epnest *n;
	int count = 0;

	/* ep->lock is not held across the refreshes: the inner instance's
	 * lock is taken on its own, never nested in the outer's. */
	for (;;) {
		struct kp_epoll *inner = NULL;
		struct kp_file *f = NULL;
		int i = 0;

		pthread_mutex_lock(&ep->lock);
		for (n = ep->nested; n != NULL && i < count; n = n->next)
			i++;
		if (n != NULL && file_tryhold(n->f)) {
			f = n->f;
			inner = f->ep;
		}
		pthread_mutex_unlock(&ep->lock);
		if (n == NULL)
			return count;
		if (inner != NULL && inner != ep)
			kp__epoll_refresh(inner);
		kp__file_put(f);
		count++;
	}
}

/* Whether @ev, reported by the kernel, is a nested epoll instance that is
 * not readable now (its eventfd was stale). */
static bool
ep_nested_is_stale(struct kp_epoll *ep, const struct epoll_event *ev)
{
	struct kp_epnest *n;
	struct pollfd p = { .events = POLLIN };
	struct timespec zero = { 0, 0 };
	struct kp_epoll *inner = NULL;
	struct kp_file *f = NULL;

	pthread_mutex_lock(&ep->lock);
	for (n = ep->nested; n != NULL; n = n->next) {
		if (n->data == ev->data.u64 && file_tryhold(n->f)) {
			f = n->f;
			inner = f->ep;
			p.fd = n->fd;
			break;
		}
	}
	pthread_mutex_unlock(&ep->lock);
	if (f == NULL)
		return false;
	if (inner != ep)
		kp__epoll_refresh(inner);
	kp__file_put(f);
	return syscall(SYS_ppoll, &p, 1, &zero, NULL, 0L) == 0;
}

/* Milliseconds to @deadline (-1: none), rounded up, for the kernel. */
static int
ms_left(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - now_ns();
	if (left <= 0)
		return 0;
	return left / 1000000 >= INT_MAX ? INT_MAX :
	       (int)((left + 999999) / 1000000);
}

/* epoll_wait with a deadline (-1: none) and a signal mask (or NULL),
 * over ksock sockets and kernel descriptors. The ksockd watch's socket
 * (KP_EP_REMOTE_MAGIC) ringing ends a wait that found nothing else, with
 * *@rkick set, for the caller to look at the remote items. */
static int
ep_wait_local(int epfd, struct kp_epoll *ep, struct epoll_event *events,
	      int max, int64_t deadline, const sigset_t *mask, bool *rkick)
{
	bool spun = false;

	atomic_fetch_add_explicit(&kp_stats.polls, 1, memory_order_relaxed);
	for (;;) {
		int n, k, kept, ms = 0, nested;
		bool kicked = false;

		n = ep_scan(ep, events, max);
		nested = ep_refresh_nested(ep);
		if (n == 0 && deadline != 0)
			ms = ms_left(deadline);
		if (n == 0 && ms != 0 && !spun && ep->efd >= 0) {
			/* Spin once per call, after a look at the kernel's
			 * descriptors found nothing. */
			spun = true;
			k = (int)syscall(SYS_epoll_pwait, epfd, events, max, 0,
					 NULL, _NSIG / 8);
			if (k == 0) {
				if (ep_spin(ep, deadline))
					continue;
				ms = ms_left(deadline);
				k = (int)syscall(SYS_epoll_pwait, epfd, events,
						 max, ms, mask, _NSIG / 8);
			}
		} else {
			k = n < max ? (int)syscall(SYS_epoll_pwait, epfd,
						   events + n, max - n, ms,
						   n == 0 ? mask : NULL,
						   _NSIG / 8) : 0;
		}
		if (k < 0)
			return n > 0 ? n : -errno;
		kept = n;
		for (int i = n; i < n + k; i++) {
			if (events[i].data.u64 == KP_EP_MAGIC) {
				kicked = true;
				continue;
			}
			if (events[i].data.u64 == KP_EP_REMOTE_MAGIC) {
				*rkick = true;
				continue;
			}
			if (nested > 0 && ep_nested_is_stale(ep, &events[i]))
				continue;
			events[kept++] = events[i];
		}
		if (kept > n || n > 0 || *rkick)
			return kept;
		if (!kicked && (ms == 0 ||
		    (deadline >= 0 && now_ns() >= deadline)))
			return 0;
	}
}

/* Up to this many events are gathered on the stack; more, in an
 * allocation for the call, of at most KP_EP_BATCH: a call reports at
 * most that many (epoll_wait may report fewer than are ready, and the
 * rest wait for the next call), so a program that passes a huge
 * maxevents does not make every call allocate as much. */
#define KP_EP_FEW	64
#define KP_EP_BATCH	1024

/*
 * ep_wait_local, and with ksockd sockets among the items, the server's
 * answer for them first. With the server's watch armed (remote.c) the
 * kernel's wait covers both: the watch's socket, in the kernel set,
 * rings when a remote item may be ready, and the items are looked at
 * again. Without one (a server that refused it, a forked child's copy
 * of its parent's instance) the local wait lasts at most
 * KP_EP_REMOTE_STEP_NS at a time.
 */
#define KP_EP_REMOTE_STEP_NS	(10 * 1000000LL)
static int
ep_wait(int epfd, struct kp_epoll *ep, struct epoll_event *events, int max,
	int64_t deadline, const sigset_t *mask)
{
	for (;;) {
		int64_t now = now_ns(), until;
		bool watched = false, rkick = false;
		int n, m;

		pthread_mutex_lock(&ep->lock);
		n = ep->remote == NULL ? -1 :
		    kp__remote_epoll_scan(ep->remote, events, max, &watched);
		pthread_mutex_unlock(&ep->lock);
		if (n < 0)
			return ep_wait_local(epfd, ep, events, max, deadline,
					     mask, &rkick);
		if (n == max)
			return n;
		until = n > 0 ? now : watched ? deadline :
			now + KP_EP_REMOTE_STEP_NS;
		if (deadline >= 0 && (until < 0 || deadline < until))
			until = deadline;
		m = ep_wait_local(epfd, ep, events + n, max - n, until, mask,
				  &rkick);
		if (m < 0)
			return n > 0 ? n : m;
		if (n + m > 0 || (deadline >= 0 && now_ns() >= deadline))
			return n + m;
	}
}

/*
 * ep_wait into a buffer of the library's, then the events go to the
 * program's array @uevents through the copy hook: -EFAULT (as Linux) when
 * they cannot be written there. Unlike Linux, the events gathered for
 * such a call are not put back (an edge-triggered or one-shot item's
 * event is lost); a program that passes a bad array has lost track of
 * its events already.
 */
static int
ep_wait_user(int epfd, struct kp_epoll *ep, struct epoll_event *uevents,
	     int max, int64_t deadline, const sigset_t *mask)
{
	struct epoll_event few[KP_EP_FEW], *k = few;
	int n;

	if (max > KP_EP_BATCH)
		max = KP_EP_BATCH;
	if (max > KP_EP_FEW) {
		k = malloc((size_t)max * sizeof(*k));
		if (k == NULL)
			return -ENOMEM;
	}
	n = ep_wait(epfd, ep, k, max, deadline, mask);
	if (n > 0 && ksp__copy_to_user(uevents, k, (size_t)n * sizeof(*k)) < 0)
		n = -EFAULT;
	if (k != few)
		free(k);
	return n;
}

/*
 * Removes from the @n events at @events those of the library's own
 * descriptors (an eventfd's KP_EP_MAGIC, a ksockd watch's
 * KP_EP_REMOTE_MAGIC). Returns how many are left.
 */
static int
ep_strip_magic(struct epoll_event *events, int n)
{
	int kept = 0;

	for (int i = 0; i < n; i++) {
		struct epoll_event ev;

		memcpy(&ev, &events[i], sizeof(ev));
		if (ev.data.u64 == KP_EP_MAGIC ||
		    ev.data.u64 == KP_EP_REMOTE_MAGIC)
			continue;
		if (kept != i)
			memcpy(&events[kept], &ev, sizeof(ev));
		kept++;
	}
	return kept;
}

/*
 * The kernel's epoll_wait on an instance this library does not map: one
 * made outside it, or a forked child's copy of one (fdmap.c unmaps them
 * in the child). The latter's kernel set may still hold its parent's
 * eventfd and watch socket, which the parent empties, not the child:
 * their events are not the program's. When only they came, the wait
 * goes on after 1 ms (they stay readable until the parent looks).
 */
static int
ep_wait_kernel(int epfd, struct epoll_event *events, int max,
	       int64_t deadline, const sigset_t *mask,
	       const struct timespec *ts, int timeout_ms)
{
	const struct timespec ms1 = { 0, 1000000 };
	int r;

	if (ts != NULL || timeout_ms == INT_MIN)
		r = (int)syscall(SYS_epoll_pwait2, epfd, events, max, ts,
				 mask, _NSIG / 8);
	else
		r = (int)syscall(SYS_epoll_pwait, epfd, events, max,
				 timeout_ms, mask, _NSIG / 8);
	for (;;) {
		if (r <= 0)
			return r;
		r = ep_strip_magic(events, r);
		if (r > 0 || deadline == 0 ||
		    (deadline > 0 && now_ns() >= deadline))
			return r;
		nanosleep(&ms1, NULL);
		r = (int)syscall(SYS_epoll_pwait, epfd, events, max,
				 ms_left(deadline), mask, _NSIG / 8);
	}
}

static int
do_epoll_wait(int epfd, struct epoll_event *events, int max, int64_t deadline,
	      const sigset_t *mask, const struct timespec *ts, int timeout_ms)
{
	struct kp_file *ef;
	int r;

	if (!kp__fd_is_mapped(epfd))
		goto kernel;
	ef = kp__fd_get(epfd);
	if (ef == NULL || ef->kind != KP_EPOLL) {
		r = ef == &kp_stale ? -EBADF : -EINVAL;
		kp__file_put(ef);
		if (ef == NULL)
			goto kernel;
		return (int)fail(r);
	}
	if (max <= 0 || (size_t)max > KP_EP_MAX_EVENTS)
		r = -EINVAL;
	else if (events == NULL)
		r = -EFAULT;
	else
		r = ep_wait_user(epfd, ef->ep, events, max, deadline, mask);
	kp__file_put(ef);
	return r < 0 ? (int)fail(r) : r;

kernel:
	return ep_wait_kernel(epfd, events, max, deadline, mask, ts,
			      timeout_ms);
}

static int64_t
deadline_ms(int timeout)
{
	if (timeout < 0)
		return -1;
	if (timeout == 0)
		return 0;
	return now_ns() + (int64_t)timeout * 1000000;
}

KP_EXPORT int
epoll_wait(int epfd, struct epoll_event *events, int max, int timeout)
{
	return do_epoll_wait(epfd, events, max, deadline_ms(timeout), NULL,
			     NULL, timeout);
}

KP_EXPORT int
epoll_pwait(int epfd, struct epoll_event *events, int max, int timeout,
	    const sigset_t *mask)
{
	return do_epoll_wait(epfd, events, max, deadline_ms(timeout), mask,
			     NULL, timeout);
}

/*
 * The deadline of a timeout @ts (monotonic ns): 0 for a zero timeout, -1
 * (none) for NULL or one so long that the clock cannot reach it (about
 * 146 years: a tv_sec of 2^40 or INT64_MAX must not overflow into the
 * past, as Linux's timespec64 arithmetic saturates).
 */
static int64_t
deadline_ts(const struct timespec *ts)
{
	int64_t now;

	if (ts == NULL)
		return -1;
	if (ts->tv_sec == 0 && ts->tv_nsec == 0)
		return 0;
	now = now_ns();
	if (ts->tv_sec >= (INT64_MAX - now) / 1000000000 - 1)
		return -1;
	return now + (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

KP_EXPORT int
epoll_pwait2(int epfd, struct epoll_event *events, int max,
	     const struct timespec *ts, const sigset_t *mask)
{
	struct timespec kts;

	/* Linux reads the time first: a bad one goes to the kernel unread,
	 * which fails with EFAULT. */
	if (ts != NULL && ksp__copy_from_user(&kts, ts, sizeof(kts)) < 0)
		return (int)syscall(SYS_epoll_pwait2, epfd, events, max, ts,
				    mask, _NSIG / 8);
	if (ts != NULL && (kts.tv_sec < 0 || kts.tv_nsec < 0 ||
			   kts.tv_nsec >= 1000000000))
		return (int)fail(-EINVAL);
	/* INT_MIN: not a millisecond timeout; the kernel gets the time
	 * itself. */
	return do_epoll_wait(epfd, events, max,
			     deadline_ts(ts != NULL ? &kts : NULL), mask,
			     ts != NULL ? &kts : NULL, INT_MIN);
}

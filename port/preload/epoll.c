/*
 * Preload port: epoll over ksock sockets and kernel descriptors in one set.
 *
 * An epoll instance is the kernel's: epoll_create gives a real epoll
 * descriptor, mapped (fdmap.c) to a struct kp_epoll that holds the items
 * for ksock sockets; kernel descriptors are added to the real instance
 * as they are. The first socket item adds an eventfd to the real
 * instance (with the data KP_EP_MAGIC, which epoll_wait filters out), and
 * each item's wake callback signals it, so a thread sleeping in the
 * kernel's epoll_wait wakes for sockets too, and a signal interrupts the
 * wait exactly as it would without ksock.
 *
 * epoll_wait first looks at the socket items (level-triggered ones every
 * time, edge-triggered ones only when woken since the last look,
 * EPOLLONESHOT ones until they fire), then asks the kernel for the rest,
 * without sleeping when a socket was ready. EPOLLEXCLUSIVE is accepted;
 * for sockets it changes nothing (every waiter is woken). An item whose
 * socket was closed (its last descriptor and every message carrying it
 * gone) is dropped, as Linux drops an item with its file's last
 * reference.
 *
 * Locks: ep->lock (the item list, an item's events and flags), then
 * it->lock (ks_poll / ks_poll_remove on the item), then ksock's. The wake
 * callback takes neither: it sets atomics and writes the eventfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
	atomic_bool	 pending;	/* [A] woken since the last look */
	struct kp_epitem *next;		/* [E] */
};

struct kp_epoll {
	pthread_mutex_t	 lock;
	int		 efd;		/* [E] the eventfd, or -1 */
	atomic_bool	 kicked;	/* [A] efd signalled, not yet drained */
	struct kp_epitem *items;	/* [E] */
	unsigned	 rotor;		/* [E] where the next look starts */
};

static long
fail(long err)
{
	errno = (int)-err;
	return -1;
}

/* Runs with ksock locks held. */
static void
ep_wake(struct ks_poll_entry *pe, unsigned events)
{
	struct kp_epitem *it = pe->arg;
	struct kp_epoll *ep = it->ep;

	atomic_store(&it->pending, true);
	if (!atomic_exchange(&ep->kicked, true)) {
		uint64_t one = 1;

		syscall(SYS_write, ep->efd, &one, sizeof(one));
	}
}

static void
item_free(struct kp_epitem *it)
{
	pthread_mutex_lock(&it->lock);
	if (it->registered)
		ks_poll_remove(&it->pe);
	it->registered = false;
	pthread_mutex_unlock(&it->lock);
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

/* Frees @ep and its items (the epoll file's last reference). */
void
kp__epoll_free(struct kp_epoll *ep)
{
	struct kp_epitem *it, *next;

	pthread_mutex_lock(&ep->lock);
	it = ep->items;
	ep->items = NULL;
	pthread_mutex_unlock(&ep->lock);
	for (; it != NULL; it = next) {
		next = it->next;
		item_free(it);
	}
	if (ep->efd >= 0)
		sys_close(ep->efd);
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

static struct kp_epitem *
ep_find_locked(struct kp_epoll *ep, int fd, struct kp_file *f)
{
	for (struct kp_epitem *it = ep->items; it != NULL; it = it->next)
		if (it->fd == fd && it->f == f && !item_is_dead(it))
			return it;
	return NULL;
}

static void
ep_kick(struct kp_epoll *ep)
{
	if (!atomic_exchange(&ep->kicked, true)) {
		uint64_t one = 1;

		syscall(SYS_write, ep->efd, &one, sizeof(one));
	}
}

static int
ep_ctl_sock(int epfd, struct kp_epoll *ep, int op, int fd, struct kp_file *f,
	    struct epoll_event *ev)
{
	struct kp_epitem *it, **pp;
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
		atomic_init(&it->pending, true);
		pthread_mutex_lock(&it->lock);
		ks_poll(it->so, &it->pe);
		it->registered = true;
		pthread_mutex_unlock(&it->lock);
		it->next = ep->items;
		ep->items = it;
		ep_kick(ep);
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
		atomic_store(&it->pending, true);
		ep_kick(ep);
		break;
	case EPOLL_CTL_DEL:
		if (it == NULL) {
			err = -ENOENT;
			break;
		}
		for (pp = &ep->items; *pp != it; pp = &(*pp)->next)
			;
		*pp = it->next;
		pthread_mutex_unlock(&ep->lock);
		item_free(it);
		return 0;
	default:
		err = -EINVAL;
	}
	pthread_mutex_unlock(&ep->lock);
	return err;
}

KP_EXPORT int
epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct kp_file *ef, *f;
	int err;

	if (!kp__fd_is_mapped(fd))
		return (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
	f = kp__fd_get(fd);
	if (f == NULL || f->kind == KP_EPOLL) {
		/* A nested epoll instance is the kernel's business. */
		kp__file_put(f);
		return (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
	}
	if (f == &kp_stale)
		return (int)fail(-EBADF);
	ef = kp__fd_get(epfd);
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
 * Looks at the socket items; fills at most @max events. Takes ep->lock.
 */
static int
ep_scan(struct kp_epoll *ep, struct epoll_event *out, int max)
{
	struct kp_epitem *it, **pp, *dead = NULL;
	unsigned n = 0, start, idx = 0;
	int count = 0;

	pthread_mutex_lock(&ep->lock);
	for (pp = &ep->items; (it = *pp) != NULL;) {
		if (item_is_dead(it)) {
			*pp = it->next;
			it->next = dead;
			dead = it;
			continue;
		}
		n++;
		pp = &it->next;
	}
	start = n > 0 ? ep->rotor % n : 0;
	/* Two passes from the rotor, so no item is always looked at last. */
	for (int pass = 0; pass < 2 && count < max; pass++) {
		idx = 0;
		for (it = ep->items; it != NULL && count < max;
		     it = it->next, idx++) {
			unsigned mask, rev;

			if ((pass == 0) != (idx >= start))
				continue;
			if (it->disabled)
				continue;
			if ((it->events & EPOLLET) &&
			    !atomic_exchange(&it->pending, false))
				continue;
			atomic_store(&it->pending, false);
			pthread_mutex_lock(&it->lock);
			mask = ks_poll(it->so, &it->pe);
			pthread_mutex_unlock(&it->lock);
			rev = mask & (it->events | EPOLLERR | EPOLLHUP);
			if (rev == 0)
				continue;
			out[count].events = rev;
			out[count].data.u64 = it->data;
			count++;
			if (it->events & EPOLLONESHOT)
				it->disabled = true;
		}
	}
	ep->rotor++;
	pthread_mutex_unlock(&ep->lock);
	while (dead != NULL) {
		it = dead;
		dead = it->next;
		item_free(it);
	}
	return count;
}

static int64_t
now_ns(void)
{
	return ksp__now();
}

/* epoll_wait with a deadline (-1: none) and a signal mask (or NULL). */
static int
ep_wait(int epfd, struct kp_epoll *ep, struct epoll_event *events, int max,
	int64_t deadline, const sigset_t *mask)
{
	atomic_fetch_add_explicit(&kp_stats.polls, 1, memory_order_relaxed);
	for (;;) {
		int n, k, kept, ms = 0;
		bool kicked = false;

		n = ep_scan(ep, events, max);
		if (n == 0 && deadline != 0) {
			if (deadline < 0) {
				ms = -1;
			} else {
				int64_t left = deadline - now_ns();

				ms = left <= 0 ? 0 :
				     left / 1000000 >= INT_MAX ? INT_MAX :
				     (int)((left + 999999) / 1000000);
			}
		}
		k = n < max ? (int)syscall(SYS_epoll_pwait, epfd, events + n,
					   max - n, ms,
					   n == 0 ? mask : NULL, _NSIG / 8) : 0;
		if (k < 0)
			return n > 0 ? n : -errno;
		kept = n;
		for (int i = n; i < n + k; i++) {
			if (events[i].data.u64 == KP_EP_MAGIC) {
				kicked = true;
				continue;
			}
			events[kept++] = events[i];
		}
		if (kicked) {
			uint64_t cnt;

			/* Drain, then let wakers signal again, then look. */
			syscall(SYS_read, ep->efd, &cnt, sizeof(cnt));
			atomic_store(&ep->kicked, false);
		}
		if (kept > n || n > 0)
			return kept;
		if (!kicked && (ms == 0 ||
		    (deadline >= 0 && now_ns() >= deadline)))
			return 0;
	}
}

static int
do_epoll_wait(int epfd, struct epoll_event *events, int max, int64_t deadline,
	      const sigset_t *mask, int timeout_ms)
{
	struct kp_file *ef;
	int r;

	if (!kp__fd_is_mapped(epfd))
		return (int)syscall(SYS_epoll_pwait, epfd, events, max,
				    timeout_ms, mask, _NSIG / 8);
	ef = kp__fd_get(epfd);
	if (ef == NULL || ef->kind != KP_EPOLL) {
		r = ef == &kp_stale ? -EBADF : -EINVAL;
		kp__file_put(ef);
		if (ef == NULL)
			return (int)syscall(SYS_epoll_pwait, epfd, events, max,
					    timeout_ms, mask, _NSIG / 8);
		return (int)fail(r);
	}
	if (max <= 0 || (size_t)max > KP_EP_MAX_EVENTS)
		r = -EINVAL;
	else if (events == NULL)
		r = -EFAULT;
	else
		r = ep_wait(epfd, ef->ep, events, max, deadline, mask);
	kp__file_put(ef);
	return r < 0 ? (int)fail(r) : r;
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
			     timeout);
}

KP_EXPORT int
epoll_pwait(int epfd, struct epoll_event *events, int max, int timeout,
	    const sigset_t *mask)
{
	return do_epoll_wait(epfd, events, max, deadline_ms(timeout), mask,
			     timeout);
}

KP_EXPORT int
epoll_pwait2(int epfd, struct epoll_event *events, int max,
	     const struct timespec *ts, const sigset_t *mask)
{
	int64_t deadline = -1;
	int ms = -1;

	if (ts != NULL) {
		if (ts->tv_sec < 0 || ts->tv_nsec < 0 ||
		    ts->tv_nsec >= 1000000000)
			return (int)fail(-EINVAL);
		deadline = (ts->tv_sec == 0 && ts->tv_nsec == 0) ? 0 :
			   now_ns() + ts->tv_sec * 1000000000LL + ts->tv_nsec;
		ms = (int)(ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000);
	}
	return do_epoll_wait(epfd, events, max, deadline, mask, ms);
}

/*
 * Preload port: poll, ppoll, select and pselect over ksock sockets and
 * kernel descriptors in one call.
 *
 * A call whose descriptors are all the kernel's goes to the kernel as it
 * is. Otherwise each socket is asked with ks_poll(), which registers a
 * wake callback, and the kernel descriptors are asked with a zero-timeout
 * poll; when nothing is ready the thread sleeps in the kernel's ppoll on
 * the kernel descriptors plus an eventfd that the callbacks signal, so
 * the sleep ends at whichever comes first, and a signal handler ends it
 * with EINTR exactly as the kernel's poll would. With sockets only and no
 * signal mask, the thread spins while the port's spin policy says it can
 * pay (port/hosted/spin.c, as ksock's own waiters), then parks on its
 * futex (no eventfd), with a deadline even when the timeout is infinite,
 * because poll is never restarted after a handler (ERESTARTNOHAND) and a
 * futex wait with a deadline is not either. The waiter's state word goes
 * SPINNING -> SLEEPING when it parks, and a waker moves it to WOKEN and
 * unparks only a sleeper, so a wake-up that finds it spinning costs no
 * system call.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <time.h>

#include "preload.h"
#include "../hosted/hosted.h"

#define KP_EXPORT	__attribute__((visibility("default")))
/* An infinite poll parks with this deadline (about 146 years away). */
#define KP_FOREVER	(INT64_MAX / 2)


enum { KP_SPINNING, KP_SLEEPING, KP_WOKEN };

struct poll_waiter {
	struct ksp_thread *thr;
	int		   efd;		/* [I] eventfd, or -1: unpark thr */
	atomic_int	   state;	/* KP_*: only when efd is -1 */
};

struct poll_slot {
	struct ks_poll_entry pe;
	struct kp_file	    *f;		/* a socket or stale, else NULL */
	struct kp_file	    *epf;	/* an epoll instance (a kernel fd) */
	bool		     registered;
};

static long
fail(long err)
{
	errno = (int)-err;
	return -1;
}

/* Runs with ksock locks held: only wakes the polling thread. */
static void
poll_wake(struct ks_poll_entry *pe, unsigned events)
{
	struct poll_waiter *w = pe->arg;

	if (w->efd >= 0) {
		uint64_t one = 1;

		syscall(SYS_write, w->efd, &one, sizeof(one));
	} else if (atomic_exchange(&w->state, KP_WOKEN) == KP_SLEEPING) {
		ksp__unpark(w->thr);
	}
}

static bool
waiter_is_woken(void *w)
{
	return atomic_load_explicit(&((struct poll_waiter *)w)->state,
				    memory_order_acquire) == KP_WOKEN;
}

/*
 * Waits for a wake-up of @w (sockets only, no eventfd) until @deadline
 * (monotonic ns; -1: none): spins while the spin policy says so, then
 * parks. Returns 0 (woken, or spuriously: the caller looks again),
 * -KS_ETIMEDOUT or -KS_EINTR.
 */
static int
waiter_sleep(struct poll_waiter *w, int64_t deadline)
{
	int expected = KP_SPINNING;

	if (ksp__spin_until(waiter_is_woken, w, deadline))
		return 0;
	if (!atomic_compare_exchange_strong(&w->state, &expected,
					    KP_SLEEPING))
		return 0;
	return ksp__park(deadline >= 0 ? deadline : KP_FOREVER);
}

static int64_t
now_ns(void)
{
	return ksp__now();
}

/* The time left until @deadline (-1: none) as a timespec, in @ts. */
static struct timespec *
time_left(int64_t deadline, struct timespec *ts)
{
	int64_t left;

	if (deadline < 0)
		return NULL;
	left = deadline - now_ns();
	if (left < 0)
		left = 0;
	ts->tv_sec = left / 1000000000;
	ts->tv_nsec = left % 1000000000;
	return ts;
}

/*
 * The eventfd a wait sleeps on. At the lowest free number it may take the
 * number of a descriptor in the set that the program closed, which the
 * kernel would then report as open instead of POLLNVAL (and select would
 * not fail with EBADF): then it moves to a high number. Returns it or
 * -errno.
 */
static int
poll_eventfd(const struct pollfd *fds, nfds_t nfds)
{
	long efd = syscall(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (efd < 0)
		return -errno;
	for (nfds_t i = 0; i < nfds; i++)
		if (fds[i].fd == efd)
			return kp__fd_move_high((int)efd);
	return (int)efd;
}

/* Below this many entries a poll skips the getrlimit() call. */
#define KP_POLL_FEW	64

/* Whether the kernel refuses @fds before it reads it: NULL (EFAULT), or
 * more entries than RLIMIT_NOFILE (EINVAL). Such an array goes to the
 * kernel unread, which gives Linux's error instead of a crash here. */
static bool
kernel_refuses(const void *fds, nfds_t nfds)
{
	struct rlimit rl;

	return fds == NULL ||
	       (nfds > KP_POLL_FEW && getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		nfds > rl.rlim_cur);
}

static bool any_mapped(const struct pollfd *fds, nfds_t nfds);

/*
 * Whether a socket's number is in the program's array at @ufds, read
 * KP_POLL_FEW entries at a time through @few: 1 or 0, or -EFAULT.
 */
static int
any_mapped_user(uintptr_t ufds, nfds_t nfds, struct pollfd *few)
{
	for (nfds_t i = 0; i < nfds; i += KP_POLL_FEW) {
		nfds_t n = nfds - i < KP_POLL_FEW ? nfds - i : KP_POLL_FEW;

		if (ksp__copy_from_user(few, (const void *)(ufds + i * sizeof(*few)),
					n * sizeof(*few)) < 0)
			return -EFAULT;
		if (any_mapped(few, n))
			return 1;
	}
	return 0;
}

/*
 * The program's pollfd array at @ufds (an address: glibc declares poll's
 * array write-only, which it is not), read through the copy hook into
 * @few or an allocation (*@out; free with fds_release). Returns 0 when a
 * socket's number is in it; 1 when none is (nothing is kept: the call is
 * the kernel's, and a large array costs no allocation); -EFAULT (a bad
 * array: the caller hands the call to the kernel unread, which fails it
 * with Linux's errno in Linux's order); or -ENOMEM.
 */
static int
fds_copy_in(uintptr_t ufds, nfds_t nfds, struct pollfd *few,
	    struct pollfd **out)
{
	struct pollfd *k = few;
	int m;

	if (kp__fd_count() == 0)
		return 1;
	if (nfds > KP_POLL_FEW) {
		m = any_mapped_user(ufds, nfds, few);
		if (m <= 0)
			return m < 0 ? m : 1;
		k = malloc(nfds * sizeof(*k));
		if (k == NULL)
			return -ENOMEM;
	}
	if (nfds > 0 && ksp__copy_from_user(k, (const void *)ufds,
					    nfds * sizeof(*k)) < 0) {
		m = -EFAULT;
		goto release;
	}
	if (!any_mapped(k, nfds)) {
		m = 1;
		goto release;
	}
	*out = k;
	return 0;

release:
	if (k != few)
		free(k);
	return m;
}

static void
fds_release(struct pollfd *k, struct pollfd *few)
{
	if (k != few)
		free(k);
}

static bool
any_mapped(const struct pollfd *fds, nfds_t nfds)
{
	for (nfds_t i = 0; i < nfds; i++)
		if (kp__fd_is_mapped(fds[i].fd))
			return true;
	return false;
}

/*
 * poll over both kinds until @deadline (monotonic ns; -1: none) with
 * @mask as ppoll's signal mask (or NULL). Returns the ready count or
 * -errno.
 */
static int
kp_poll(struct pollfd *fds, nfds_t nfds, int64_t deadline,
	const sigset_t *mask)
{
	struct poll_waiter w = { ksp__thread(), -1, KP_SPINNING };
	struct poll_slot *slot;
	struct pollfd *hp;
	size_t nhost = 0;
	bool timed_out = deadline >= 0 && deadline <= now_ns();
	int ready = 0, err = 0;

	/* ksock-run --ksockd: the server polls its sockets (remote.c). */
	if (kp__remote_in(fds, nfds))
		return kp__remote_poll(fds, nfds, deadline, mask);
	slot = calloc(nfds + 1, sizeof(*slot));
	hp = calloc(nfds + 1, sizeof(*hp));
	if (slot == NULL || hp == NULL) {
		err = -ENOMEM;
		goto out;
	}
	for (nfds_t i = 0; i < nfds; i++) {
		struct kp_file *f = fds[i].fd < 0 ? NULL : kp__fd_get(fds[i].fd);

		if (f != NULL && f->kind == KP_EPOLL) {
			slot[i].epf = f;
			f = NULL;
		}
		slot[i].f = f;
		slot[i].pe.wake = poll_wake;
		slot[i].pe.arg = &w;
		if (fds[i].fd >= 0 && f == NULL)
			nhost++;
	}
	atomic_fetch_add_explicit(&kp_stats.polls, 1, memory_order_relaxed);
	if (nhost > 0 || mask != NULL) {
		w.efd = poll_eventfd(fds, nfds);
		if (w.efd < 0) {
			err = w.efd;
			goto out;
		}
	}

	for (;;) {
		struct timespec ts;
		size_t h = 0;

		ready = 0;
		/* A wake-up from here on ends the next wait at once. */
		atomic_store(&w.state, KP_SPINNING);
		for (nfds_t i = 0; i < nfds; i++) {
			struct poll_slot *s = &slot[i];
			unsigned m;

			fds[i].revents = 0;
			if (fds[i].fd < 0)
				continue;
			if (s->f == &kp_stale) {
				fds[i].revents = POLLNVAL;
			} else if (s->f != NULL) {
				m = ks_poll(s->f->so, timed_out ? NULL : &s->pe);
				if (!timed_out)
					s->registered = true;
				fds[i].revents = (short)(m & ((unsigned)fds[i].events |
						 POLLERR | POLLHUP));
			} else {
				/* An epoll instance's kernel fd tells the
				 * truth about its sockets once refreshed. */
				if (s->epf != NULL)
					kp__epoll_refresh(s->epf->ep);
				hp[h].fd = fds[i].fd;
				hp[h].events = fds[i].events;
				hp[h].revents = 0;
				h++;
			}
		}
		if (nhost > 0) {
			ts.tv_sec = 0;
			ts.tv_nsec = 0;
			if (syscall(SYS_ppoll, hp, nhost, &ts, NULL, 0L) < 0) {
				err = -errno;
				goto out;
			}
			h = 0;
			for (nfds_t i = 0; i < nfds; i++)
				if (fds[i].fd >= 0 && slot[i].f == NULL)
					fds[i].revents = hp[h++].revents;
		}
		for (nfds_t i = 0; i < nfds; i++)
			if (fds[i].revents != 0)
				ready++;
		if (ready > 0 || timed_out)
			break;

		if (w.efd >= 0) {
			uint64_t cnt;

			hp[nhost].fd = w.efd;
			hp[nhost].events = POLLIN;
			if (syscall(SYS_ppoll, hp, nhost + 1,
				    time_left(deadline, &ts), mask,
				    mask != NULL ? _NSIG / 8 : 0) < 0) {
				err = -errno;
				goto out;
			}
			syscall(SYS_read, w.efd, &cnt, sizeof(cnt));
			if (deadline >= 0 && now_ns() >= deadline)
				timed_out = true;
		} else {
			err = waiter_sleep(&w, deadline);
			if (err == -KS_ETIMEDOUT) {
				timed_out = deadline >= 0;
				err = 0;
			} else if (err < 0) {
				goto out;
			}
		}
	}

out:
	if (slot != NULL) {
		for (nfds_t i = 0; i < nfds; i++) {
			if (slot[i].registered)
				ks_poll_remove(&slot[i].pe);
			kp__file_put(slot[i].f);
			kp__file_put(slot[i].epf);
		}
	}
	if (w.efd >= 0)
		sys_close(w.efd);
	free(slot);
	free(hp);
	return err < 0 ? err : ready;
}

static int64_t
deadline_ms(int timeout)
{
	if (timeout < 0)
		return -1;
	return now_ns() + (int64_t)timeout * 1000000;
}

static int64_t
deadline_ts(const struct timespec *ts)
{
	if (ts == NULL)
		return -1;
	return now_ns() + (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/*
 * kp_poll on the copy @k of the program's array @ufds, whose answers are
 * written back through the copy hook (-EFAULT when they cannot be, as
 * Linux). Returns the ready count or -errno.
 */
static int
poll_copied(struct pollfd *ufds, struct pollfd *k, nfds_t nfds,
	    int64_t deadline, const sigset_t *mask)
{
	int r = kp_poll(k, nfds, deadline, mask);

	if (r >= 0 && ksp__copy_to_user(ufds, k, nfds * sizeof(*k)) < 0)
		r = -EFAULT;
	return r;
}

KP_EXPORT int
poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	struct pollfd few[KP_POLL_FEW], *k;
	int r;

	if (kernel_refuses(fds, nfds))
		return (int)syscall(SYS_poll, fds, nfds, timeout);
	r = fds_copy_in((uintptr_t)fds, nfds, few, &k);
	if (r == -ENOMEM)
		return (int)fail(r);
	if (r != 0)
		return (int)syscall(SYS_poll, fds, nfds, timeout);
	r = poll_copied(fds, k, nfds, deadline_ms(timeout), NULL);
	fds_release(k, few);
	return r < 0 ? (int)fail(r) : r;
}

KP_EXPORT int
ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *ts,
      const sigset_t *mask)
{
	struct pollfd few[KP_POLL_FEW], *k = NULL;
	sigset_t kmask, *km = NULL;
	int r;

	r = kernel_refuses(fds, nfds) ? -EFAULT :
	    fds_copy_in((uintptr_t)fds, nfds, few, &k);
	if (r == -ENOMEM)
		return (int)fail(r);
	if (r == 0 && mask != NULL) {
		sigemptyset(&kmask);
		km = &kmask;
		if (ksp__copy_from_user(km, mask, _NSIG / 8) < 0) {
			fds_release(k, few);
			r = -EFAULT;
		}
	}
	/* No socket, or a bad array or mask: the kernel's. It checks the
	 * time, then the mask, then the array, and fails as Linux does
	 * without polling anything. */
	if (r != 0) {
		struct timespec copy, *tp = NULL;

		/* glibc's ppoll does not write the time left back. */
		if (ts != NULL) {
			copy = *ts;
			tp = &copy;
		}
		return (int)syscall(SYS_ppoll, fds, nfds, tp, mask, _NSIG / 8);
	}
	if (ts != NULL && (ts->tv_sec < 0 || ts->tv_nsec < 0 ||
			   ts->tv_nsec >= 1000000000)) {
		fds_release(k, few);
		return (int)fail(-EINVAL);
	}
	r = poll_copied(fds, k, nfds, deadline_ts(ts), km);
	fds_release(k, few);
	return r < 0 ? (int)fail(r) : r;
}

extern void __chk_fail(void) __attribute__((noreturn));
int	__poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen);
int	__ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *ts,
		    const sigset_t *mask, size_t fdslen);

KP_EXPORT int
__poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < nfds)
		__chk_fail();
	return poll(fds, nfds, timeout);
}

KP_EXPORT int
__ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *ts,
	    const sigset_t *mask, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < nfds)
		__chk_fail();
	return ppoll(fds, nfds, ts, mask);
}

/* Linux's select sets: which poll bits make a descriptor ready. */
#define SEL_IN	(POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR)
#define SEL_OUT	(POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR)
#define SEL_EX	(POLLPRI)

static bool
sets_have_mapped(int nfds, fd_set *r, fd_set *w, fd_set *e)
{
	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
		if (((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) ||
		     (e && FD_ISSET(fd, e))) && kp__fd_is_mapped(fd))
			return true;
	return false;
}

/* select over both kinds through kp_poll. Returns the count or -errno. */
static int
kp_select(int nfds, fd_set *r, fd_set *w, fd_set *e, int64_t deadline,
	  const sigset_t *mask)
{
	struct pollfd *pfd;
	nfds_t n = 0;
	int ready, count = 0;

	if (nfds > FD_SETSIZE)
		nfds = FD_SETSIZE;
	pfd = calloc((size_t)nfds + 1, sizeof(*pfd));
	if (pfd == NULL)
		return -ENOMEM;
	for (int fd = 0; fd < nfds; fd++) {
		short ev = 0;

		if (r && FD_ISSET(fd, r))
			ev |= POLLIN;
		if (w && FD_ISSET(fd, w))
			ev |= POLLOUT;
		if (e && FD_ISSET(fd, e))
			ev |= POLLPRI;
		if (ev == 0)
			continue;
		pfd[n].fd = fd;
		pfd[n].events = ev;
		n++;
	}
	ready = kp_poll(pfd, n, deadline, mask);
	if (ready < 0)
		goto out;
	for (nfds_t i = 0; i < n; i++) {
		if (pfd[i].revents & POLLNVAL) {
			ready = -EBADF;
			goto out;
		}
	}
	for (nfds_t i = 0; i < n; i++) {
		int fd = pfd[i].fd;
		short rev = pfd[i].revents;

		if (r && FD_ISSET(fd, r)) {
			if (rev & SEL_IN)
				count++;
			else
				FD_CLR(fd, r);
		}
		if (w && FD_ISSET(fd, w)) {
			if (rev & SEL_OUT)
				count++;
			else
				FD_CLR(fd, w);
		}
		if (e && FD_ISSET(fd, e)) {
			if (rev & SEL_EX)
				count++;
			else
				FD_CLR(fd, e);
		}
	}
	ready = count;
out:
	free(pfd);
	return ready;
}

/* The bytes of a set the kernel reads for @nfds descriptors (whole longs),
 * of which this library keeps FD_SETSIZE bits. */
static size_t
set_bytes(int nfds)
{
	size_t n = ((size_t)nfds + 63) / 64 * 8;

	return n < sizeof(fd_set) ? n : sizeof(fd_set);
}

/*
 * Copies of the program's sets (NULL stays NULL), read through the copy
 * hook into @k. Returns 0, or -EFAULT: the caller then hands the call to
 * the kernel unread, which fails it as Linux does.
 */
static int
sets_copy_in(int nfds, fd_set *const u[3], fd_set k[3], fd_set *out[3])
{
	for (int i = 0; i < 3; i++) {
		out[i] = NULL;
		if (u[i] == NULL)
			continue;
		FD_ZERO(&k[i]);
		if (ksp__copy_from_user(&k[i], u[i], set_bytes(nfds)) < 0)
			return -EFAULT;
		out[i] = &k[i];
	}
	return 0;
}

/* Writes the answers back (-EFAULT when it cannot, as Linux). */
static int
sets_copy_out(int nfds, fd_set *const u[3], fd_set *const k[3])
{
	for (int i = 0; i < 3; i++)
		if (u[i] != NULL &&
		    ksp__copy_to_user(u[i], k[i], set_bytes(nfds)) < 0)
			return -EFAULT;
	return 0;
}

KP_EXPORT int
select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	fd_set *const u[3] = { r, w, e };
	fd_set ks[3], *k[3];
	int64_t deadline = -1;
	int ret;

	if (nfds < 0)
		return (int)fail(-EINVAL);
	if (sets_copy_in(nfds, u, ks, k) < 0 ||
	    !sets_have_mapped(nfds, k[0], k[1], k[2]))
		return (int)syscall(SYS_select, nfds, r, w, e, tv);
	if (tv != NULL) {
		if (tv->tv_sec < 0 || tv->tv_usec < 0)
			return (int)fail(-EINVAL);
		deadline = now_ns() + (int64_t)tv->tv_sec * 1000000000 +
			   (int64_t)tv->tv_usec * 1000;
	}
	ret = kp_select(nfds, k[0], k[1], k[2], deadline, NULL);
	if (ret >= 0 && sets_copy_out(nfds, u, k) < 0)
		ret = -EFAULT;
	if (tv != NULL) {
		/* As Linux: the time left is written back. */
		int64_t left = deadline - now_ns();

		if (left < 0)
			left = 0;
		tv->tv_sec = left / 1000000000;
		tv->tv_usec = (left % 1000000000) / 1000;
	}
	return ret < 0 ? (int)fail(ret) : ret;
}

KP_EXPORT int
pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts,
	const sigset_t *mask)
{
	fd_set *const u[3] = { r, w, e };
	fd_set ks[3], *k[3];
	sigset_t kmask, *km = NULL;
	int ret;

	if (nfds < 0)
		return (int)fail(-EINVAL);
	ret = sets_copy_in(nfds, u, ks, k);
	if (ret == 0 && mask != NULL) {
		sigemptyset(&kmask);
		km = &kmask;
		if (ksp__copy_from_user(km, mask, _NSIG / 8) < 0)
			ret = -EFAULT;
	}
	/* Bad sets or a bad mask go to the kernel unread (see ppoll). */
	if (ret < 0 || !sets_have_mapped(nfds, k[0], k[1], k[2])) {
		struct timespec copy, *tp = NULL;
		struct { const sigset_t *ss; size_t len; } data = {
			mask, _NSIG / 8,
		};

		if (ts != NULL) {
			copy = *ts;
			tp = &copy;
		}
		return (int)syscall(SYS_pselect6, nfds, r, w, e, tp, &data);
	}
	if (ts != NULL && (ts->tv_sec < 0 || ts->tv_nsec < 0 ||
			   ts->tv_nsec >= 1000000000))
		return (int)fail(-EINVAL);
	ret = kp_select(nfds, k[0], k[1], k[2], deadline_ts(ts), km);
	if (ret >= 0 && sets_copy_out(nfds, u, k) < 0)
		ret = -EFAULT;
	return ret < 0 ? (int)fail(ret) : ret;
}

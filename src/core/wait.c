/*
 * Wait queues and poll entries.
 *
 * A socket's wait queue holds two kinds of links: threads parked in a
 * blocking ksock call (a struct ks__waiter on their stack, woken through
 * the port's unpark) and the host's poll entries (ks_poll). Both are
 * struct ks_poll_link, guarded by the socket's lock; wq.nwait mirrors the
 * list's length atomically so a waker that does not hold the lock (a
 * reader releasing a sender's buffer space) can tell cheaply that nobody
 * waits. A thread adds itself before its last check of a condition that
 * others change without its lock, so either it sees the change or the
 * changer sees it waiting.
 *
 * Locks: the socket lock of the queue ([S]). Wake callbacks run with it
 * held and may only record the event and unpark a thread.
 */
#include "core/core.h"

static void
link_add_locked(struct ks_sock *so, struct ks_poll_link *l)
{
	l->so = so;
	l->prev = NULL;
	l->next = so->wq.head;
	if (so->wq.head)
		so->wq.head->prev = l;
	so->wq.head = l;
	atomic_fetch_add(&so->wq.nwait, 1);
}

static void
link_del_locked(struct ks_sock *so, struct ks_poll_link *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		so->wq.head = l->next;
	if (l->next)
		l->next->prev = l->prev;
	l->next = l->prev = NULL;
	l->so = NULL;
	atomic_fetch_sub(&so->wq.nwait, 1);
}

static void
waiter_wake(struct ks_poll_entry *pe, unsigned events)
{
	struct ks__waiter *w = (struct ks__waiter *)(void *)pe;

	if ((events & w->mask) &&
	    atomic_exchange(&w->state, KS__W_WOKEN) == KS__W_SLEEPING) {
		if (ks__port->flags & KS_PORT_PARK_WORD)
			ks__port->unpark_word(&w->state);
		else
			ks__port->unpark(w->thread);
	}
}

/* Parks with no lock held, turning the port's answer into ours. A host
 * without per-thread tokens sleeps on the waiter's own state word. */
static int
park_deadline(struct ks__waiter *w, int64_t deadline)
{
	int err;

	if (ks__port->flags & KS_PORT_PARK_WORD)
		err = ks__port->park_word(&w->state, KS__W_SLEEPING, deadline);
	else
		err = ks__port->park(deadline);

	if (err == -KS_ETIMEDOUT)
		return -KS_EAGAIN;
	return err;
}

/*
 * How many relax instructions a waiter runs between two questions to the
 * port (keep_spinning): a few hundred nanoseconds, so a port that yields
 * inside the call gets to run it often, and the clock is read rarely.
 */
#define KS_SPIN_CHECK	16

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static bool
waiter_is_woken(struct ks__waiter *w)
{
	return atomic_load_explicit(&w->state, memory_order_acquire) ==
	       KS__W_WOKEN;
}

/*
 * See core.h. The waiter spins while the port says spinning can pay
 * (port.h: keep_spinning; a wake-up that finds it spinning costs no
 * unpark), never past @deadline, then parks.
 */
int
ks__waiter_sleep(struct ks__waiter *w, int64_t deadline)
{
	int64_t start = ks__port->now(), now = start;
	int expected = KS__W_SPINNING;
	int err;

	for (unsigned i = 0;; i++) {
		if (waiter_is_woken(w))
			return 0;
		if (i % KS_SPIN_CHECK == 0) {
			if (i > 0)
				now = ks__port->now();
			if ((deadline >= 0 && now >= deadline) ||
			    !ks__port->keep_spinning(now - start))
				break;
			if (waiter_is_woken(w))
				return 0;
		}
		cpu_relax();
	}
	if (!atomic_compare_exchange_strong(&w->state, &expected,
					    KS__W_SLEEPING))
		return 0;
	do {
		err = park_deadline(w, deadline);
	} while (err == 0 && !waiter_is_woken(w));
	return err;
}

/* See core.h. */
void
ks__waiter_init(struct ks__waiter *w, unsigned mask)
{
	ks__memset(w, 0, sizeof(*w));
	w->pe.wake = waiter_wake;
	w->thread = ks__port->thread_self();
	/* Errors and hang-ups end every wait. */
	w->mask = mask | KS_POLLERR | KS_POLLHUP | KS_POLLRDHUP;
	if (mask & KS_POLLOUT)
		w->mask |= KS__WAKE_SPACE;
	atomic_init(&w->state, KS__W_SPINNING);
}

/* See core.h. */
void
ks__wait_add_locked(struct ks_sock *so, struct ks__waiter *w)
{
	w->pe.link[0].entry = &w->pe;
	ks__waiter_rearm_locked(w);
	link_add_locked(so, &w->pe.link[0]);
}

/* See core.h. */
void
ks__wait_del_locked(struct ks_sock *so, struct ks__waiter *w)
{
	if (w->pe.link[0].so == so)
		link_del_locked(so, &w->pe.link[0]);
}

/* See core.h. */
void
ks__wait_add_second_locked(struct ks_sock *so, struct ks__waiter *w)
{
	w->pe.link[1].entry = &w->pe;
	link_add_locked(so, &w->pe.link[1]);
}

/* See core.h. */
void
ks__wait_del_second_locked(struct ks_sock *so, struct ks__waiter *w)
{
	if (w->pe.link[1].so == so)
		link_del_locked(so, &w->pe.link[1]);
}

/* See core.h. */
struct ks__waiter *
ks__link_waiter(struct ks_poll_link *l)
{
	if (l->entry->wake != waiter_wake)
		return NULL;
	return (struct ks__waiter *)(void *)l->entry;
}

/* See core.h. */
int
ks__wait_locked(struct ks_sock *so, struct ks__waiter *w, int64_t deadline)
{
	int err;

	if (deadline == 0)
		return -KS_EAGAIN;
	ks__wait_add_locked(so, w);
	ks__unlock(so);
	err = ks__waiter_sleep(w, deadline);
	ks__lock(so);
	ks__wait_del_locked(so, w);
	return err;
}

/* See core.h. A timeout whose deadline the clock cannot reach in
 * nanoseconds (about 292 years from boot) is no deadline at all: Linux
 * waits that long in jiffies, which is for ever too. */
int64_t
ks__deadline(int64_t timeo, bool nonblock)
{
	int64_t now;

	if (nonblock || timeo == 0)
		return 0;
	if (timeo == KS_TIMEO_FOREVER)
		return -1;
	now = ks__port->now();
	if (timeo > (INT64_MAX - now) / KS_NSEC_PER_TICK)
		return -1;
	return now + timeo * KS_NSEC_PER_TICK;
}

/* See core.h. */
void
ks__wake_locked(struct ks_sock *so, unsigned events)
{
	struct ks_poll_link *l, *next;

	/* The host's entries hear only of events poll reports. */
	bool host_too = (events & ~KS__WAKE_SPACE) != 0;

	for (l = so->wq.head; l != NULL; l = next) {
		next = l->next;
		if (host_too || l->entry->wake == waiter_wake)
			l->entry->wake(l->entry, events);
	}
}

/* See core.h. */
void
ks__poll_link_add_locked(struct ks_sock *so, struct ks_poll_entry *pe,
			 struct ks_poll_link *l)
{
	ks_sock_hold(so);
	l->entry = pe;
	link_add_locked(so, l);
}

/* See ksock.h: takes @pe off every socket it is registered on. */
void
ks_poll_remove(struct ks_poll_entry *pe)
{
	for (int i = 0; i < 2; i++) {
		struct ks_poll_link *l = &pe->link[i];
		struct ks_sock *so = l->so;

		if (so == NULL)
			continue;
		ks__lock(so);
		link_del_locked(so, l);
		ks__unlock(so);
		ks_sock_release(so);
	}
}

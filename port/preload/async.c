/*
 * Preload port: O_ASYNC (FIOASYNC, F_SETFL) on ksock sockets — SIGIO, or
 * F_SETSIG's signal with its siginfo, to the F_SETOWN owner when the
 * socket's readiness changes, as Linux's sock_wake_async() sends it
 * (the reasons: port/hosted/sigio.h, shared with ksockd).
 *
 * An open file with O_ASYNC holds a poll entry (struct kp_async) that
 * stays registered on its socket until O_ASYNC is cleared or the file
 * closes. The entry's wake callback runs inside ksock with its locks
 * held, and a signal sent to the own process may be delivered at once to
 * the sending thread, whose handler could then call into ksock and find
 * those locks taken. So the callback only notes the signal in a per-thread
 * queue, and the thread sends it when it leaves ksock: kp__file_put(),
 * which every call ends with and which runs with no lock held, flushes
 * the queue (kp__async_flush()).
 *
 * What a thread's call does to the
 * socket it is made on (connect, listen, shutdown, a reader handing the
 * queue to the next one) is no readiness change, and Linux signals none
 * of it: the shim's lookup notes the call's socket (kp__async_self()) and
 * kp__file_put() ends the call (kp__async_end()).
 *
 * Locks: async_lock (arming and disarming an entry) is taken before
 * ksock's locks; the queue is per thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "preload.h"
#include "../hosted/sigio.h"

struct kp_async {
	struct ks_poll_entry pe;	/* [async_lock] registered while on */
	struct kp_file	*f;		/* [I] the file, alive while we are */
	atomic_int	 fd;		/* [A] the number that turned it on */
};

/* Signals noted by one thread inside ksock, sent when it leaves. */
#define KP_ASYNC_QUEUE	8

struct pending_sig {
	int32_t		owner;
	int		sig;
	int		code;		/* POLL_IN... */
	long		band;
	int		fd;
};

static pthread_mutex_t async_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local struct pending_sig queue[KP_ASYNC_QUEUE];
static _Thread_local unsigned queued;
static _Thread_local struct ks_sock *self_op;

/* Which si_code a wake-up of @events stands for, or 0 for none. */
static int
reason_of(struct kp_file *f, unsigned events)
{
	if (self_op == f->so)
		return 0;
	return ksp_sigio_reason(events, &f->nospace);
}

/* Runs with ksock's locks held: notes the signal, sends nothing. */
static void
async_wake(struct ks_poll_entry *pe, unsigned events)
{
	struct kp_async *a = pe->arg;
	struct kp_file *f = a->f;
	int32_t owner = ks_get_owner(f->so);
	int code = reason_of(f, events), sig = atomic_load(&f->sig);
	struct pending_sig *p;

	if (code == 0 || owner == 0 || owner == INT32_MIN)
		return;
	/* Plain SIGIO is not queued by the kernel either: one will do. */
	for (unsigned i = 0; sig == 0 && i < queued; i++)
		if (queue[i].sig == 0 && queue[i].owner == owner)
			return;
	if (queued == KP_ASYNC_QUEUE) {
		/* As Linux when the real-time queue is full: SIGIO. */
		queue[KP_ASYNC_QUEUE - 1].sig = 0;
		return;
	}
	p = &queue[queued++];
	p->owner = owner;
	p->sig = sig;
	p->code = code;
	p->band = ksp_sigio_band(code);
	p->fd = atomic_load(&a->fd);
}

static void
send_one(const struct pending_sig *p)
{
	siginfo_t si;
	pid_t self = (pid_t)syscall(SYS_getpid);

	if (p->sig == 0 || p->owner != self) {
		/* Another process (or a group) only takes a plain kill. */
		syscall(SYS_kill, (long)p->owner, p->sig != 0 ? p->sig : SIGIO);
		return;
	}
	memset(&si, 0, sizeof(si));
	si.si_signo = p->sig;
	si.si_code = p->code;
	si.si_band = p->band;
	si.si_fd = p->fd;
	if (syscall(SYS_rt_sigqueueinfo, (long)self, (long)p->sig, &si) == 0 ||
	    errno != EPERM)
		return;
	/* Only the main thread may queue a positive si_code to its process
	 * (the kernel compares the caller's thread id): from another, the
	 * signal goes as ksockd sends it, SI_QUEUE with si_band and si_fd. */
	si.si_code = SI_QUEUE;
	syscall(SYS_rt_sigqueueinfo, (long)self, (long)p->sig, &si);
}

/* See preload.h: sends what this thread noted inside ksock. */
void
kp__async_flush(void)
{
	struct pending_sig copy[KP_ASYNC_QUEUE];
	unsigned n = queued;

	if (n == 0)
		return;
	/* A handler may call into ksock and queue more. */
	memcpy(copy, queue, n * sizeof(copy[0]));
	queued = 0;
	for (unsigned i = 0; i < n; i++)
		send_one(&copy[i]);
}

/* See preload.h: this thread is in a call on @so. */
void
kp__async_self(struct ks_sock *so)
{
	self_op = so;
}

/* See preload.h: this thread's call on @so ends. */
void
kp__async_end(struct ks_sock *so)
{
	if (self_op == so)
		self_op = NULL;
}

/*
 * See preload.h: turns O_ASYNC on or off for the file @f, reached as @fd
 * (the si_fd of its signals, as Linux's fasync_helper() keeps it).
 * Returns 0 or -ENOMEM.
 */
int
kp__async_set(int fd, struct kp_file *f, bool on)
{
	struct kp_async *a;

	pthread_mutex_lock(&async_lock);
	a = f->async;
	if (on && a == NULL) {
		a = calloc(1, sizeof(*a));
		if (a == NULL) {
			pthread_mutex_unlock(&async_lock);
			return -ENOMEM;
		}
		a->pe.wake = async_wake;
		a->pe.arg = a;
		a->f = f;
		atomic_init(&a->fd, fd);
		f->async = a;
		ks_poll(f->so, &a->pe);
	} else if (on) {
		atomic_store(&a->fd, fd);
	} else if (a != NULL) {
		f->async = NULL;
		ks_poll_remove(&a->pe);
		free(a);
	}
	if (on)
		atomic_fetch_or(&f->fl, (unsigned)O_ASYNC);
	else
		atomic_fetch_and(&f->fl, ~(unsigned)O_ASYNC);
	pthread_mutex_unlock(&async_lock);
	return 0;
}

/*
 * See preload.h: a send on @f found no room. Linux then signals POLL_OUT
 * when room comes back; the entry is registered again for the socket's
 * state now, which for a datagram socket includes its full peer.
 */
void
kp__async_nospace(struct kp_file *f)
{
	atomic_store_explicit(&f->nospace, true, memory_order_relaxed);
	if (!(atomic_load(&f->fl) & O_ASYNC))
		return;
	pthread_mutex_lock(&async_lock);
	if (f->async != NULL)
		ks_poll(f->so, &f->async->pe);
	pthread_mutex_unlock(&async_lock);
}

/* See preload.h: the file's last reference is going. */
void
kp__async_free(struct kp_file *f)
{
	if (f->async == NULL)
		return;
	kp__async_set(-1, f, false);
}

/*
 * The ksockd client library (ksd.h): each call becomes one request in a
 * slot of the process's shared region, a doorbell on the bootstrap
 * socket, and a futex wait for the reply (docs/ksockd.md).
 *
 * The client's side of a call is a kernel's system-call entry: user
 * arguments are checked and copied here, through the shared boundary
 * (port/hosted/boundary.c: ksp__iov_import, ksp__addr_in, ksp__addr_out
 * and the port's copy hooks), so a bad pointer is EFAULT and a bad
 * length EINVAL in Linux's order, and the server only ever sees the
 * window. The boundary reaches user memory through ks_port(): a process
 * that runs no ksock of its own gets the hosted port's table for that
 * (ks_init() with nothing else started).
 *
 * Signals: a handler that interrupts the wait for a reply makes the
 * library ring the slot's CANCEL doorbell, saying whether the handler
 * had SA_RESTART (the interrupt hook's answer); the server then ends the
 * call as Linux would, or leaves it parked (the restart), and the thread
 * waits for the reply either way (docs/ksockd.md, "Signals").
 *
 * Locks: state.lock guards attaching and detaching; slots are taken
 * with an atomic bitmap, one per thread inside a call; the thread that
 * holds a slot owns its notifier (state.notify[i]); notify_lock keeps
 * one KSD_NOTIFY at a time, so the descriptor that comes on the
 * bootstrap socket is the one asked for; sig_lock guards sig_act.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ksock/posix.h>

#include "../hosted/hosted.h"
#include "ksd.h"

#ifdef KSD_PRIVATE_FD
int	KSD_PRIVATE_FD(int fd);
#endif
#ifdef KSD_KERNEL_FD_NEW
void	KSD_KERNEL_FD_NEW(long fd);
#endif
#include "rights.h"

static struct {
	pthread_mutex_t	 lock;
	int		 sock;		/* bootstrap socket, -1: detached */
	struct ksd_shm	*shm;
	size_t		 size;
	char		 addr[sizeof(((struct sockaddr_un *)0)->sun_path)];
	_Atomic uint32_t free_slots;	/* bit i: slot i is free */
	_Atomic uint64_t seq;
	/* KSD_NOTIFY: the client's end of each slot's notifier, valid
	 * when its bit is set in has_notify [slot owner]. */
	int		 notify[KSD_SLOTS];
	_Atomic uint32_t has_notify;
} state = { PTHREAD_MUTEX_INITIALIZER, -1, NULL, 0, "", 0, 0, { 0 }, 0 };

static pthread_mutex_t notify_lock = PTHREAD_MUTEX_INITIALIZER;
/* Attachments made: a watch (KSD_WATCH) is its connection's. */
static _Atomic unsigned conn_gen;

/* Threads waiting in slot_take() for a free slot. */
static _Atomic uint32_t slot_waiters;
/* Slots whose request went without the caller waiting for its reply
 * (a CLOSE, close_nowait()): busy until the server answers. Whoever
 * clears a bit owns the slot and puts it back in free_slots. */
static _Atomic uint32_t nowait_slots;

/*
 * The descriptors this process's library knows open in the server: set
 * from the replies that made them (socket, socketpair, accept, dup, a
 * received SCM_RIGHTS), cleared by every close. A close of a known one
 * cannot fail (EBADF is all a close of a socket can say), so it goes
 * without waiting for its reply (ksd_close). Whatever the library is not
 * sure of is left out: numbers past KNOWN_FDS, and all of them after an
 * exec or in a forked child for what changed around the fork.
 * close_lock orders a close's test of its bit with its place in the
 * request order (seq), so of two closes of one number the one that
 * took the bit is served first and the other gets EBADF.
 */
#define KNOWN_FDS	4096
static _Atomic uint64_t known_open[KNOWN_FDS / 64];
static pthread_mutex_t close_lock = PTHREAD_MUTEX_INITIALIZER;
/* This thread holds close_lock (a handler's close then goes without it). */
static _Thread_local volatile sig_atomic_t in_close_lock;

/* -- descriptors known open (known_open) -- */

static void
known_set(long fd)
{
	if (fd >= 0 && fd < KNOWN_FDS)
		atomic_fetch_or(&known_open[fd / 64], 1ull << (fd % 64));
}

static bool
known_is_open(int fd)
{
	return fd >= 0 && fd < KNOWN_FDS &&
	       (atomic_load(&known_open[fd / 64]) & (1ull << (fd % 64)));
}

/* Clears @fd's bit. Returns whether it was set. */
static bool
known_take(int fd)
{
	uint64_t bit;

	if (fd < 0 || fd >= KNOWN_FDS)
		return false;
	bit = 1ull << (fd % 64);
	return (atomic_fetch_and(&known_open[fd / 64], ~bit) & bit) != 0;
}

static void
known_forget_all(void)
{
	for (size_t k = 0; k < KNOWN_FDS / 64; k++)
		atomic_store(&known_open[k], 0);
}

/* ksd__rights_each's step: a number other than -1 (a kernel
 * descriptor's place) is one the server installed in our table. */
static int
known_right(unsigned char *at, void *arg)
{
	int v;

	(void)arg;
	memcpy(&v, at, sizeof(v));
	known_set(v);
	return 0;
}

/* The ksockd descriptors of a received control message (@len bytes at
 * @ctl, as the server wrote it). */
static void
known_rights(unsigned char *ctl, size_t len)
{
	if (len > 0)
		(void)ksd__rights_each(ctl, len, known_right, NULL);
}

#define ALL_SLOTS	((uint32_t)((1u << KSD_SLOTS) - 1))

static long
fail(long err)
{
	errno = (int)-err;
	return -1;
}

static int
futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *ts)
{
	return (int)syscall(SYS_futex, w, op, val, ts, NULL, 0);
}

/* -- bootstrap -- */

static int
open_bootstrap(const char *addr)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t len = strlen(addr);
	int fd;

	if (len == 0 || len >= sizeof(sun.sun_path))
		return -EINVAL;
	memcpy(sun.sun_path, addr, len);
	if (addr[0] == '@')
		sun.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* The hello and the welcome with its region. */
static int
handshake(int fd, uint64_t token)
{
	struct ksd_hello h = { .magic = KSD_MAGIC, .version = KSD_VERSION,
			       .token = token };
	struct ksd_welcome w;
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { &w, sizeof(w) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	mode_t mask = umask(0);
	void *shm;
	int memfd;

	umask(mask);
	h.umask = mask;
	if (send(fd, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h))
		return -EPROTO;
	if (recvmsg(fd, &m, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(w) ||
	    w.magic != KSD_MAGIC)
		return -EPROTO;
	if (w.err < 0)
		return w.err;
	cm = CMSG_FIRSTHDR(&m);
	if (cm == NULL || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int)) ||
	    w.shm_size != sizeof(struct ksd_shm))
		return -EPROTO;
	memcpy(&memfd, CMSG_DATA(cm), sizeof(int));
	shm = mmap(NULL, w.shm_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   memfd, 0);
	close(memfd);
	if (shm == MAP_FAILED)
		return -errno;
	state.shm = shm;
	state.size = w.shm_size;
	return 0;
}

/* Attaches with @token (0: a new process). */
static int
attach(const char *addr, uint64_t token)
{
	int fd, err;

	if (ks_port() == NULL) {
		err = ks_init(ksp_port());
		if (err < 0 && err != -KS_EBUSY)
			return err;
	}
	fd = open_bootstrap(addr);
	if (fd < 0)
		return fd;
	err = handshake(fd, token);
	if (err < 0) {
		close(fd);
		return err;
	}
	state.sock = fd;
	/* A child attaching again passes state.addr itself. */
	if (addr != state.addr)
		snprintf(state.addr, sizeof(state.addr), "%s", addr);
	atomic_store(&nowait_slots, 0);
	atomic_store(&state.free_slots, ALL_SLOTS);
	atomic_fetch_add(&conn_gen, 1);
	return 0;
}

int
ksd_attach(const char *addr)
{
	const char *tok = getenv("KSOCKD_TOKEN");
	uint64_t token = 0;
	int err;

	if (tok != NULL) {
		token = strtoull(tok, NULL, 16);
		unsetenv("KSOCKD_TOKEN");
	}
	pthread_mutex_lock(&state.lock);
	err = state.sock >= 0 ? -EISCONN : attach(addr, token);
	pthread_mutex_unlock(&state.lock);
	return err < 0 ? (int)fail(err) : 0;
}

/* Closes the process's notifiers (detach, and a forked child, whose
 * copies lead to the parent's slots). */
static void
notifiers_close(void)
{
	uint32_t has = atomic_exchange(&state.has_notify, 0);

	for (int i = 0; i < KSD_SLOTS; i++)
		if (has & (1u << i))
			close(state.notify[i]);
}

static void
detach_local(void)
{
	notifiers_close();
	if (state.shm != NULL)
		munmap(state.shm, state.size);
	if (state.sock >= 0)
		close(state.sock);
	state.shm = NULL;
	state.sock = -1;
	/* Their replies went with the region. */
	atomic_store(&nowait_slots, 0);
}

/* -- one call -- */

static long wait_reply(int i, struct ksd_rep *rep, bool intr);

/*
 * Puts back the slots of nowait_slots whose reply came; with @wait,
 * when none has, waits for one. Returns whether a slot went back.
 */
static bool
nowait_reap(bool wait)
{
	uint32_t p = atomic_load(&nowait_slots), back = 0;

	for (; p != 0; p &= p - 1) {
		int i = __builtin_ctz(p);
		struct ksd_rep rep;

		if (!wait && atomic_load_explicit(&state.shm->slot[i].state,
						  memory_order_acquire) !=
			     KSD_DONE)
			continue;
		if (!(atomic_fetch_and(&nowait_slots, ~(1u << i)) & (1u << i)))
			continue;	/* another thread took it back */
		/* Never fails in a way the caller could have seen: the
		 * library knew the descriptor open (ksd_close). */
		(void)wait_reply(i, &rep, false);
		back |= 1u << i;
		if (wait)
			break;
	}
	if (back == 0)
		return false;
	atomic_fetch_or(&state.free_slots, back);
	if (atomic_load(&slot_waiters) != 0)
		futex(&state.free_slots, FUTEX_WAKE_PRIVATE, KSD_SLOTS, NULL);
	return true;
}

static int
slot_take(void)
{
	if (atomic_load_explicit(&nowait_slots, memory_order_relaxed) != 0)
		nowait_reap(false);
	for (;;) {
		uint32_t f = atomic_load(&state.free_slots);

		if (f == 0) {
			/* A slot whose call went without waiting comes
			 * back with its reply. */
			if (nowait_reap(true))
				continue;
			atomic_fetch_add(&slot_waiters, 1);
			futex(&state.free_slots, FUTEX_WAIT_PRIVATE, 0, NULL);
			atomic_fetch_sub(&slot_waiters, 1);
			continue;
		}
		int i = __builtin_ctz(f);

		if (atomic_compare_exchange_weak(&state.free_slots, &f,
						 f & ~(1u << i)))
			return i;
	}
}

static void
slot_give(int i)
{
	atomic_fetch_or(&state.free_slots, 1u << i);
	/* A taker counts itself before it looks at free_slots, and the
	 * futex wait looks again: either it is counted here or it sees
	 * the slot (both sequentially consistent). */
	if (atomic_load(&slot_waiters) != 0)
		futex(&state.free_slots, FUTEX_WAKE_PRIVATE, 1, NULL);
}

/* Whether the server has gone (the bootstrap socket hung up). */
static bool
server_gone(void)
{
	struct pollfd p = { state.sock, POLLIN, 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

/* -- signals -- */

/*
 * What the default interrupt hook knows: the handlers that ran on this
 * thread since the current call began, through the trampoline that
 * ksd_sigaction() installs. [thread]
 */
static _Thread_local bool sig_seen, sig_norestart;

/* A call made of several requests (a send longer than a window, a
 * MSG_WAITALL receive past one) has moved bytes in an earlier one: a
 * signal then ends it with its count, as Linux's never restarts a call
 * that moved bytes. [thread] */
static _Thread_local bool call_moved;
/* This thread moved to another network namespace (ksd__netns_changed):
 * its requests name it (KSD_F_THREAD_NS), its tid cached. */
static _Thread_local int32_t own_netns_tid;

/* Handlers the trampoline ran on this thread, ever: a call of several
 * requests compares it between them, since a handler that runs there
 * interrupts no wait. [thread] */
static _Thread_local unsigned sig_ran;

/* The handlers installed through ksd_sigaction(), as the program gave
 * them [sig_lock for writes; the trampoline reads]. */
static struct sigaction sig_act[NSIG];
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * For a handler the trampoline did not see (installed with the C
 * library's sigaction): the process's catching handlers, as the kernel
 * has them. 1 when they all have SA_RESTART, 0 when none has, and 1
 * (the old behaviour) when they differ and the one that ran is unknown.
 */
static int
handlers_restart(void)
{
	bool some = false, all = true;

	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction a;

		if (sigaction(sig, NULL, &a) < 0 ||
		    (!(a.sa_flags & SA_SIGINFO) &&
		     (a.sa_handler == SIG_DFL || a.sa_handler == SIG_IGN)))
			continue;
		if (a.sa_flags & SA_RESTART)
			some = true;
		else
			all = false;
	}
	return some || all;
}

/* See ksd.h. */
int
ksd_intr_restarts(void)
{
	int r = sig_seen ? !sig_norestart : handlers_restart();

	sig_seen = sig_norestart = false;
	return r;
}

static int (*_Atomic intr_hook)(void) = ksd_intr_restarts;

/* The C library's sigaction, or what a preload library that interposes
 * it says is underneath (ksd_set_real_sigaction). */
static int (*_Atomic real_sigaction)(int, const struct sigaction *,
				     struct sigaction *) = sigaction;

/* See ksd.h. */
void
ksd_set_real_sigaction(int (*real)(int, const struct sigaction *,
				   struct sigaction *))
{
	atomic_store(&real_sigaction, real != NULL ? real : sigaction);
}

/* See ksd.h. */
void
ksd_set_intr_hook(int (*hook)(void))
{
	atomic_store(&intr_hook, hook != NULL ? hook : ksd_intr_restarts);
}

/* Every handler installed through ksd_sigaction() runs through here,
 * which notes whether it restarts calls, then runs it. errno is the
 * handler's business, as without the trampoline. */
static void
trampoline(int sig, siginfo_t *si, void *uc)
{
	struct sigaction *a = &sig_act[sig];

	sig_seen = true;
	sig_ran++;
	if (!(a->sa_flags & SA_RESTART))
		sig_norestart = true;
	if (a->sa_flags & SA_SIGINFO)
		a->sa_sigaction(sig, si, uc);
	else
		a->sa_handler(sig);
}

/* See ksd.h. */
int
ksd_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	int (*sys)(int, const struct sigaction *, struct sigaction *) =
		atomic_load(&real_sigaction);
	struct sigaction k, want, now;
	int err;

	if (sig <= 0 || sig >= NSIG)
		return sys(sig, act, old);
	/* Bad pointers are EFAULT, as the system call's. */
	if (act != NULL && ksp__copy_from_user(&want, act, sizeof(want)) < 0)
		return (int)fail(-EFAULT);
	if (old != NULL && !ksp__user_range_ok(old, sizeof(*old)))
		return (int)fail(-EFAULT);
	pthread_mutex_lock(&sig_lock);
	err = sys(sig, NULL, &now);
	/* The trampoline stands for the program's handler; once the
	 * kernel reset it (SA_RESETHAND) the kernel's view is the truth. */
	if (err == 0 && now.sa_sigaction == trampoline)
		now = sig_act[sig];
	if (err == 0 && act != NULL) {
		k = want;
		if (!(want.sa_flags & SA_SIGINFO) &&
		    (want.sa_handler == SIG_DFL || want.sa_handler == SIG_IGN)) {
			err = sys(sig, &k, NULL);
		} else {
			sig_act[sig] = want;
			k.sa_sigaction = trampoline;
			k.sa_flags |= SA_SIGINFO;
			err = sys(sig, &k, NULL);
		}
	}
	pthread_mutex_unlock(&sig_lock);
	if (err == 0 && old != NULL &&
	    ksp__copy_to_user(old, &now, sizeof(now)) < 0)
		return (int)fail(-EFAULT);
	return err;
}

/* -- waiting for a reply -- */

/* Sends a doorbell. A handler without SA_RESTART that interrupts the
 * send (a full queue) does not fail it: the call it rings for decides
 * what a signal does to it. */
static ssize_t
bell_send(const struct msghdr *m)
{
	ssize_t n;

	do
		n = sendmsg(state.sock, m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

/*
 * Posts slot @i in the region's bells (proto.h, struct ksd_bells).
 * Returns whether the server must be woken with a KICK doorbell: it is
 * not watching. The bit is set before @watching is read, and the server
 * clears @watching before it takes the bits for the last time, so one
 * of the two sees the other (both sequentially consistent).
 */
static bool
post_needs_bell(int i)
{
	struct ksd_bells *b = &state.shm->bells;

	atomic_fetch_or(&b->posted, 1u << i);
	return atomic_load(&b->watching) == 0;
}

/* Rings @i's doorbell for the request already in the slot, with the
 * @n kernel descriptors @fds attached (KSD_F_CWD, KSD_F_KFDS). Returns
 * 0, 1 when the request was only posted in memory to a server that
 * watches this client (no doorbell went), -ECONNRESET when there is no
 * server, or sendmsg's error for the descriptors (EBADF,
 * ETOOMANYREFS). */
static long
ring_fds(int i, const int *fds, size_t n)
{
	struct ksd_slot *s = &state.shm->slot[i];
	struct ksd_bell b = { (uint32_t)i };
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(KSD_BELL_FDS * sizeof(int))];
	} u;
	struct iovec iov = { &b, sizeof(b) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (n > 0) {
		memset(&u, 0, sizeof(u));
		m.msg_control = u.buf;
		m.msg_controllen = CMSG_SPACE(n * sizeof(int));
		CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), fds, n * sizeof(int));
	}
	if (own_netns_tid > 0) {
		s->req.flags |= KSD_F_THREAD_NS;
		s->req.tid = own_netns_tid;
	}
	s->req.seq = atomic_fetch_add(&state.seq, 1) + 1;
	/* Handlers that ran before this call do not decide for it. */
	sig_seen = sig_norestart = false;
	atomic_store_explicit(&s->state, KSD_POSTED, memory_order_release);
	/* Descriptors travel only with a socket message; anything else is
	 * posted in memory, and rung for only when the server sleeps. */
	if (n == 0 && !post_needs_bell(i))
		return 1;
	if (n == 0)
		b.slot = KSD_BELL_KICK;
	if (bell_send(&m) != (ssize_t)sizeof(b)) {
		int err = errno;

		atomic_store(&s->state, KSD_IDLE);
		return n > 0 && (err == EBADF || err == ETOOMANYREFS) ?
		       -err : -ECONNRESET;
	}
	return 0;
}

static long
ring(int i)
{
	return ring_fds(i, NULL, 0);
}

/* The CANCEL doorbell of slot @i (proto.h). */
static long
ring_cancel(int i, bool restart)
{
	struct ksd_bell b = { (uint32_t)i | KSD_BELL_CANCEL |
			      (restart ? KSD_BELL_RESTART : 0) };
	struct iovec iov = { &b, sizeof(b) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (bell_send(&m) != (ssize_t)sizeof(b))
		return -ECONNRESET;
	return 0;
}

/* ksp__spin_until's test: the reply is in, or a handler ran (seen by
 * the trampoline), which the spin must not hide from the wait. */
static bool
slot_done(void *arg)
{
	struct ksd_slot *s = arg;

	return atomic_load_explicit(&s->state, memory_order_acquire) ==
	       KSD_DONE || sig_seen;
}

/*
 * Waits for slot @i's reply, copied to @rep. A signal handler that
 * interrupts the wait rings the CANCEL doorbell (when @intr), and the
 * wait goes on: the server answers, with the call's result, -EINTR or
 * the bytes moved, or leaves the call parked (a restart). Returns
 * rep->ret, or -ECONNRESET when the server has gone.
 */
static long
wait_reply(int i, struct ksd_rep *rep, bool intr)
{
	struct ksd_slot *s = &state.shm->slot[i];
	struct timespec tick = { 1, 0 };
	uint32_t st;

	/* A reply that comes while another CPU serves it is seen here,
	 * with no futex wait and no wake-up from the server. A handler
	 * that ran meanwhile interrupted the call as it would have
	 * interrupted the futex wait: the CANCEL doorbell, then the wait. */
	(void)ksp__spin_until(slot_done, s, -1);
	if (sig_seen && intr &&
	    atomic_load_explicit(&s->state, memory_order_acquire) !=
	    KSD_DONE && ring_cancel(i, atomic_load(&intr_hook)() != 0) < 0)
		return -ECONNRESET;
	while ((st = atomic_load_explicit(&s->state, memory_order_acquire)) !=
	       KSD_DONE) {
		/* SLEEPING asks the server for a FUTEX_WAKE; a reply in
		 * between makes the exchange fail, and the loop sees it. */
		if (st == KSD_POSTED &&
		    !atomic_compare_exchange_strong(&s->state, &st,
						    KSD_SLEEPING))
			continue;
		if (futex(&s->state, FUTEX_WAIT, KSD_SLEEPING, &tick) == 0)
			continue;
		/* A dead server ends the wait. */
		if (errno == ETIMEDOUT && server_gone())
			return -ECONNRESET;
		if (errno == EINTR && intr &&
		    ring_cancel(i, atomic_load(&intr_hook)() != 0 &&
				   !call_moved) < 0)
			return -ECONNRESET;
	}
	memcpy(rep, &s->rep, sizeof(*rep));
	atomic_store(&s->state, KSD_IDLE);
	return rep->ret;
}

/*
 * Posts @req (already in slot @i) with @n kernel descriptors and waits
 * for the reply, copied to @rep. Returns rep->ret, or -ECONNRESET when
 * there is no server.
 */
static long
post_fds(int i, struct ksd_rep *rep, const int *fds, size_t n)
{
	long err = ring_fds(i, fds, n);

	return err < 0 ? err : wait_reply(i, rep, true);
}

static long
post(int i, struct ksd_rep *rep)
{
	return post_fds(i, rep, NULL, 0);
}

/* Slot @i's request, zeroed, with @label and @fd. */
static struct ksd_req *
prepare(int i, uint32_t label, int fd)
{
	memset(&state.shm->slot[i].req, 0, sizeof(struct ksd_req));
	state.shm->slot[i].req.label = label;
	state.shm->slot[i].req.fd = fd;
	return &state.shm->slot[i].req;
}

/* A slot for a new request: *@slot, its request zeroed with @label. */
static struct ksd_req *
begin(int *slot, uint32_t label, int fd)
{
	if (state.sock < 0)
		return NULL;
	*slot = slot_take();
	return prepare(*slot, label, fd);
}

/*
 * Slot @i's notifier (KSD_NOTIFY): made by the server on first use, its
 * end received on the bootstrap socket, which only this reads (one at a
 * time: notify_lock). Returns the descriptor, or -errno.
 */
/*
 * The end of a socketpair that the server sent on the bootstrap socket
 * before its reply (KSD_NOTIFY, KSD_WATCH), moved out of the program's
 * way. notify_lock held (only its holder reads the bootstrap socket).
 * Returns the descriptor, or -EPROTO.
 */
static int
end_recv(void)
{
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	char one;
	struct iovec iov = { &one, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	int fd = -1;

	if (recvmsg(state.sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) != 1 ||
	    (cm = CMSG_FIRSTHDR(&m)) == NULL || cm->cmsg_level != SOL_SOCKET ||
	    cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int)))
		return -EPROTO;
	memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
#ifdef KSD_PRIVATE_FD
	/* A front end whose descriptors share one number space with the
	 * program's (ksock-run's library) moves its own out of the way. */
	if (fd >= 0)
		fd = KSD_PRIVATE_FD(fd);
#endif
	return fd;
}

static int
notifier(int i)
{
	struct ksd_rep rep;
	long n;
	int fd = -1;

	if (atomic_load(&state.has_notify) & (1u << i))
		return state.notify[i];
	pthread_mutex_lock(&notify_lock);
	memset(&state.shm->slot[i].req, 0, sizeof(struct ksd_req));
	state.shm->slot[i].req.label = KSD_NOTIFY;
	state.shm->slot[i].req.fd = -1;
	n = post(i, &rep);
	/* The server sent the end before it replied. */
	if (n == 0) {
		fd = end_recv();
		if (fd < 0)
			n = fd;
	}
	pthread_mutex_unlock(&notify_lock);
	if (n < 0)
		return (int)n;
	state.notify[i] = fd;
	atomic_fetch_or(&state.has_notify, 1u << i);
	return fd;
}

/* Empties a notifier of the bytes earlier replies left. */
static void
notifier_drain(int fd)
{
	char b[16];

	while (recv(fd, b, sizeof(b), MSG_DONTWAIT) > 0)
		;
}

/* -- kernel descriptors with a request -- */

/*
 * The working directory for a relative path name (@addr, @len, already
 * checked by the boundary): an O_PATH descriptor of ".", or -1 when the
 * name is not a relative path (or "." cannot be opened: the server then
 * resolves the name in its own directory, as before).
 */
static int
cwd_for(const void *addr, uint32_t len)
{
	const struct sockaddr_un *sun = addr;

	if (len <= offsetof(struct sockaddr_un, sun_path) ||
	    sun->sun_family != AF_UNIX || sun->sun_path[0] == '\0' ||
	    sun->sun_path[0] == '/')
		return -1;
	return open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* See ksd.h. */
int
ksd_fd_is_kernel(int fd)
{
	int saved = errno, r;

	/* One the library knows open in the server is the server's: no
	 * request, no system call. */
	if (known_is_open(fd))
		return 0;
	r = fcntl(fd, F_GETFD) >= 0 &&
	    ksd_fcntl(fd, F_GETFD, 0) < 0 && errno == EBADF;
	errno = saved;
	return r;
}

static int (*_Atomic fd_classifier)(int) = ksd_fd_is_kernel;

/* See ksd.h. */
void
ksd_set_fd_classifier(int (*is_kernel)(int fd))
{
	atomic_store(&fd_classifier, is_kernel != NULL ? is_kernel :
				      ksd_fd_is_kernel);
}

/*
 * A control buffer longer than a window holds (@len bytes at @ctl, the
 * library's copy) without the messages an AF_UNIX send ignores (levels
 * other than SOL_SOCKET), moved to its front. The first header that is
 * not CMSG_OK() stays as one of length 0, so that the server refuses it
 * (EINVAL) at the same turn Linux would, after the messages before it.
 * Returns the new length.
 */
static size_t
ctl_compact(unsigned char *ctl, size_t len)
{
	size_t off = 0, out = 0, end = 0;
	struct cmsghdr h;

	while (off <= len && len - off >= sizeof(h)) {
		memcpy(&h, ctl + off, sizeof(h));
		if (h.cmsg_len < sizeof(h) || h.cmsg_len > len - off) {
			h.cmsg_len = 0;
			memmove(ctl + out, &h, sizeof(h));
			return out + sizeof(h);
		}
		if (h.cmsg_level == SOL_SOCKET) {
			memmove(ctl + out, ctl + off, h.cmsg_len);
			end = out + h.cmsg_len;
			out += CMSG_ALIGN(h.cmsg_len);
		}
		off += CMSG_ALIGN(h.cmsg_len);
	}
	return end;
}

/* kfds_collect's walk: where the kernel descriptors go. */
struct kfd_collect {
	int		(*is_kernel)(int fd);
	int		*kfds;
	size_t		*n;
};

static int
kfd_collect_one(unsigned char *at, void *arg)
{
	struct kfd_collect *kc = arg;
	int fd, none = -1;

	memcpy(&fd, at, sizeof(fd));
	if (fd < 0 || !kc->is_kernel(fd))
		return 0;
	/* More than SCM_MAX_FD numbers: Linux's EINVAL (the doorbell
	 * would be refused with it, and the connection taken as lost). */
	if (*kc->n >= KSD_BELL_FDS)
		return -EINVAL;
	kc->kfds[(*kc->n)++] = fd;
	memcpy(at, &none, sizeof(none));
	return 0;
}

/*
 * The kernel descriptors among the SCM_RIGHTS numbers of the control
 * messages at @ctl (@len bytes, the library's copy): each is moved to
 * @kfds (after the *@n already there, at most KSD_BELL_FDS in all) and
 * its number becomes -1 (KSD_F_KFDS). Returns 0, or -EINVAL.
 */
static int
kfds_collect(unsigned char *ctl, size_t len, int *kfds, size_t *n)
{
	struct kfd_collect kc = { atomic_load(&fd_classifier), kfds, n };

	return ksd__rights_each(ctl, len, kfd_collect_one, &kc);
}

/* kfds_fetch's walk: the received descriptors, in order. */
struct kfd_place {
	const int	*fds;
	int		 got, used;
};

static int
kfd_place_one(unsigned char *at, void *arg)
{
	struct kfd_place *kp = arg;
	int v;

	if (kp->used == kp->got)
		return 1;
	memcpy(&v, at, sizeof(v));
	if (v == -1)
		memcpy(at, &kp->fds[kp->used++], sizeof(int));
	return 0;
}

/*
 * The kernel descriptors a reply announced (val[2]), from slot @i's
 * notifier into @fds (room for KSD_BELL_FDS). Returns how many came, or
 * -EPROTO when none are there.
 */
static int
kfds_recv(int i, int *fds, bool cloexec)
{
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(KSD_BELL_FDS * sizeof(int))];
	} u;
	int got = 0;

	if (!(atomic_load(&state.has_notify) & (1u << i)))
		return -EPROTO;
	/* Bytes of earlier replies (ksd_poll_mixed) may come first. */
	while (got == 0) {
		char tag;
		struct iovec iov = { &tag, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = u.buf,
				    .msg_controllen = sizeof(u.buf) };
		struct cmsghdr *cm;

		if (recvmsg(state.notify[i], &m, MSG_DONTWAIT |
			    (cloexec ? MSG_CMSG_CLOEXEC : 0)) < 0)
			return -EPROTO;
		cm = CMSG_FIRSTHDR(&m);
		if (cm != NULL && cm->cmsg_type == SCM_RIGHTS) {
			got = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(cm), (size_t)got * sizeof(int));
		}
	}
#ifdef KSD_KERNEL_FD_NEW
	/* A front end whose numbers the program shares (ksock-run's
	 * library) learns that the kernel handed these out: what a raw
	 * close left at one of them goes now, while it is still open. */
	for (int j = 0; j < got; j++)
		KSD_KERNEL_FD_NEW(fds[j]);
#endif
	return got;
}

/* A pidfd is close-on-exec whatever the receive's flags (Linux makes
 * every one so): SCM_PIDFD's, once placed at @ctl (@len bytes). */
static void
pidfd_cloexec(unsigned char *ctl, size_t len)
{
	struct msghdr m = { .msg_control = ctl, .msg_controllen = len };
	int fd;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm != NULL;
	     cm = CMSG_NXTHDR(&m, cm)) {
		if (cm->cmsg_len != CMSG_LEN(sizeof(int)) ||
		    cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != KSD_SCM_PIDFD)
			continue;
		memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
		if (fd >= 0)
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
}

/*
 * After a receive whose reply says @n kernel descriptors came (val[2]):
 * they wait on slot @i's notifier; each takes the place of a -1 among
 * the SCM_RIGHTS and SCM_PIDFD numbers at @ctl (@len bytes, the
 * window), in order. Returns 0, or -EPROTO when they are not there.
 */
static int
kfds_fetch(int i, unsigned char *ctl, size_t len, int n, bool cloexec)
{
	int fds[KSD_BELL_FDS], got;
	struct kfd_place kp = { NULL, 0, 0 };

	if (n <= 0 || n > KSD_BELL_FDS)
		return -EPROTO;
	got = kfds_recv(i, fds, cloexec);
	if (got < 0)
		return got;
	kp.fds = fds;
	kp.got = got;
	ksd__recv_fds_each(ctl, len, kfd_place_one, &kp);
	if (!cloexec)
		pidfd_cloexec(ctl, len);
	/* What found no place (a server out of step) is not leaked. */
	for (int j = kp.used; j < got; j++)
		close(fds[j]);
	return got == n ? 0 : -EPROTO;
}

static unsigned char *
win(int i)
{
	return state.shm->window[i];
}

/* A call with no data: the result, or -1/errno. */
static long
simple(uint32_t label, int fd, int a0, int a1, int a2, struct ksd_rep *rep)
{
	struct ksd_rep r;
	struct ksd_req *q;
	int i;
	long n;

	q = begin(&i, label, fd);
	if (q == NULL)
		return fail(-EBADF);
	q->a[0] = a0;
	q->a[1] = a1;
	q->a[2] = a2;
	n = post(i, rep != NULL ? rep : &r);
	slot_give(i);
	return n < 0 ? fail(n) : n;
}

/* -- calls -- */

int
ksd_socket(int domain, int type, int protocol)
{
	long n = simple(KSD_SOCKET, -1, domain, type, protocol, NULL);

	known_set(n);
	return (int)n;
}

int
ksd_socketpair(int domain, int type, int protocol, int sv[2])
{
	struct ksd_rep rep;
	int err;

	/* The flags first, then whether sv can be written, as Linux. */
	err = ksp__sys_socketpair_flags(type);
	if (err < 0)
		return (int)fail(err);
	if (!ksp__user_range_ok(sv, 2 * sizeof(int)))
		return (int)fail(-EFAULT);
	if (simple(KSD_SOCKETPAIR, -1, domain, type, protocol, &rep) < 0)
		return -1;
	err = ksp__sys_socketpair_out(sv, rep.val[0], rep.val[1]);
	if (err < 0) {
		simple(KSD_CLOSE, rep.val[0], 0, 0, 0, NULL);
		simple(KSD_CLOSE, rep.val[1], 0, 0, 0, NULL);
		return (int)fail(err);
	}
	known_set(rep.val[0]);
	known_set(rep.val[1]);
	return 0;
}

/* bind or connect: the address through the boundary, then inline. */
static int
addr_call(uint32_t label, int fd, const struct sockaddr *addr, socklen_t len)
{
	struct ks_sockaddr_storage k;
	struct ksd_rep rep;
	struct ksd_req *q;
	int i, err;
	long n;

	int cwd;

	err = ksp__addr_in(addr, len, &k);
	if (err < 0)
		return (int)fail(err);
	q = begin(&i, label, fd);
	if (q == NULL)
		return (int)fail(-EBADF);
	memcpy(q->inl, &k, len);
	q->addrlen = len;
	cwd = cwd_for(&k, len);
	if (cwd >= 0)
		q->flags |= KSD_F_CWD;
	n = post_fds(i, &rep, &cwd, cwd >= 0 ? 1 : 0);
	if (cwd >= 0)
		close(cwd);
	slot_give(i);
	return n < 0 ? (int)fail(n) : 0;
}

int
ksd_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	return addr_call(KSD_BIND, fd, addr, len);
}

int
ksd_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return addr_call(KSD_CONNECT, fd, addr, len);
}

int
ksd_listen(int fd, int backlog)
{
	return (int)simple(KSD_LISTEN, fd, backlog, 0, 0, NULL);
}

int
ksd_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct ksd_rep rep;
	long n;
	int err;

	err = ksp__sys_accept_flags(flags);
	if (err < 0)
		return (int)fail(err);
	n = simple(KSD_ACCEPT, fd, flags, 0, 0, &rep);
	if (n < 0)
		return -1;
	if (addr != NULL) {
		err = ksp__addr_out(rep.inl, rep.addrlen, addr, len);
		if (err < 0) {
			/* Linux drops the connection when the address
			 * cannot be written. */
			simple(KSD_CLOSE, (int)n, 0, 0, 0, NULL);
			return (int)fail(err);
		}
	}
	known_set(n);
	return (int)n;
}

/* The type of @fd, for sends longer than one window. */
static int
sock_type(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	if (ksd_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -1;
	return type;
}

static atomic_bool direct_off;
static int32_t direct_list(unsigned char *w, const struct ksp_iov *v,
			   size_t pos);

/* A send's part of at least this many bytes is read by the server
 * straight from the program's buffers (KSD_F_DIRECT), as one request.
 * Measured on the hosted port (docs/bench.md): a 64 KiB send read so
 * was slower than through the window (process_vm_readv() costs several
 * memcpys there), a 1 MiB one was not (it also saves requests). */
#define KSD_SEND_DIRECT_MIN	(KSD_DATA_MAX + 1)

/* Whether the part of @v's send from byte @sent on goes direct (whole,
 * as one request). */
static bool
send_goes_direct(const struct ksp_iov *v, size_t sent)
{
	return v->total - sent >= KSD_SEND_DIRECT_MIN &&
	       !atomic_load(&direct_off);
}

/*
 * sendmsg: the msghdr, its name and its iovec through the boundary,
 * the data gathered into the window (or inline), control after it.
 * A send longer than one window is read by the server straight from
 * the caller's buffers (KSD_F_DIRECT), as one request; when the server
 * may not read this process, a stream send goes in window-sized parts.
 */
ssize_t
ksd_sendmsg(int fd, const struct msghdr *umsg, int flags)
{
	struct ks_sockaddr_storage name;
	struct ks_msghdr m;
	struct ksp_iov v;
	uint32_t namelen;
	size_t seg = 0, segoff = 0, sent = 0, nk = 0;
	unsigned char *ctl = NULL;
	int kfds[KSD_BELL_FDS], cwd = -1;
	bool first = true, has_kfds = false;
	unsigned sig0 = sig_ran;
	long err;

	err = ksp__copy_from_user(&m, umsg, sizeof(m));
	if (err < 0)
		return fail(err);
	namelen = m.msg_name != NULL ? m.msg_namelen : 0;
	if (namelen > 0) {
		err = ksp__addr_in(m.msg_name, namelen, &name);
		if (err < 0)
			return fail(err);
	}
	if (m.msg_iovlen > KSP_UIO_MAXIOV)
		return fail(-EMSGSIZE);
	err = ksp__iov_import(&v, (const struct ks_iovec *)m.msg_iov,
			      m.msg_iovlen);
	if (err < 0)
		return fail(err);
	/* Linux's sock_kmalloc() of the control copy. */
	if (m.msg_controllen >= KSD_OPTMEM_MAX) {
		err = -ENOBUFS;
		goto release;
	}
	if (v.total > KSD_DATA_MAX && !send_goes_direct(&v, 0) &&
	    sock_type(fd) != SOCK_STREAM) {
		err = -EMSGSIZE;
		goto release;
	}
	/* A relative path is the caller's; kernel descriptors in the
	 * control messages go with the first doorbell. */
	if (namelen > 0) {
		cwd = cwd_for(&name, namelen);
		if (cwd >= 0)
			kfds[nk++] = cwd;
	}
	if (m.msg_controllen > 0) {
		ctl = malloc(m.msg_controllen);
		err = ctl == NULL ? -ENOMEM :
		      ksp__copy_from_user(ctl, m.msg_control, m.msg_controllen);
		if (err == 0 && m.msg_controllen > KSD_CTL_MAX) {
			m.msg_controllen = ctl_compact(ctl, m.msg_controllen);
			if (m.msg_controllen > KSD_CTL_MAX)
				err = -ENOBUFS;
		}
		if (err == 0) {
			size_t before = nk;

			err = kfds_collect(ctl, m.msg_controllen, kfds, &nk);
			has_kfds = nk > before;
		}
		if (err < 0)
			goto release;
	}
	do {
		struct ksd_rep rep;
		struct ksd_req *q;
		unsigned char *dst;
		size_t chunk = v.total - sent, off = 0;
		bool direct = send_goes_direct(&v, sent);
		int i;

		if (chunk > KSD_DATA_MAX && !direct) {
			/* Refused since the size check: it is made now. */
			if (first && sock_type(fd) != SOCK_STREAM) {
				err = -EMSGSIZE;
				goto release;
			}
			chunk = KSD_DATA_MAX;
		}
		q = begin(&i, KSD_SENDMSG, fd);
		if (q == NULL) {
			err = -EBADF;
			goto release;
		}
		/* A handler that ran between two parts would have ended a
		 * Linux send at its next wait: the rest goes only as far
		 * as it can without one. */
		q->a[0] = !first && sig_ran != sig0 ? flags | MSG_DONTWAIT :
			  flags;
		q->addrlen = namelen;
		memcpy(q->inl, &name, namelen);
		if (cwd >= 0)
			q->flags |= KSD_F_CWD;
		if (direct) {
			q->flags |= KSD_F_DIRECT;
			q->a[1] = direct_list(win(i), &v, sent);
			off = chunk;	/* read by the server */
			dst = NULL;
		} else if (chunk <= KSD_INLINE_DATA) {
			q->flags |= KSD_F_DATA_INLINE;
			dst = q->inl + namelen;
		} else {
			dst = win(i);
		}
		while (off < chunk) {
			size_t n = v.iov[seg].iov_len - segoff;

			if (n > chunk - off)
				n = chunk - off;
			err = ksp__copy_from_user(dst + off,
				(char *)v.iov[seg].iov_base + segoff, n);
			if (err < 0) {
				slot_give(i);
				goto release;
			}
			off += n;
			segoff += n;
			if (segoff == v.iov[seg].iov_len) {
				seg++;
				segoff = 0;
			}
		}
		q->datalen = (uint32_t)chunk;
		if (first && m.msg_controllen > 0) {
			memcpy(win(i) + KSD_DATA_MAX, ctl, m.msg_controllen);
			q->ctllen = (uint32_t)m.msg_controllen;
			if (has_kfds)
				q->flags |= KSD_F_KFDS;
		}
		/* The directory with each part, the kernel descriptors
		 * with the first. */
		rep.val[1] = 0;
		rep.val[3] = 0;
		err = post_fds(i, &rep, kfds, first ? nk : (cwd >= 0));
		slot_give(i);
		if (rep.val[1] != 0)
			raise(SIGPIPE);
		/* A server that cannot read this process: the rest (all of
		 * it when nothing went) through the window. */
		if (direct && rep.val[3] == KSD_DIRECT_REFUSED) {
			atomic_store(&direct_off, true);
			if (err == -EOPNOTSUPP)
				continue;
			if (err > 0 && (size_t)err < chunk) {
				sent += (size_t)err;
				call_moved = true;
				first = false;
				continue;
			}
		}
		if (err < 0)
			break;
		sent += (size_t)err;
		call_moved = sent > 0;
		first = false;
		if ((size_t)err < chunk)
			break;
	} while (sent < v.total);
	call_moved = false;
	ksp__iov_release(&v);
	free(ctl);
	if (cwd >= 0)
		close(cwd);
	if (sent > 0)
		return (ssize_t)sent;
	return err < 0 ? fail(err) : 0;

release:
	call_moved = false;
	ksp__iov_release(&v);
	free(ctl);
	if (cwd >= 0)
		close(cwd);
	return sent > 0 ? (ssize_t)sent : fail(err);
}

/* Copies @n bytes of @src into @v's segments from byte @pos on. */
static int
scatter(struct ksp_iov *v, size_t pos, const unsigned char *src, size_t n)
{
	for (size_t s = 0; s < v->n && n > 0; s++) {
		size_t len = v->iov[s].iov_len, c;
		int err;

		if (pos >= len) {
			pos -= len;
			continue;
		}
		c = len - pos < n ? len - pos : n;
		err = ksp__copy_to_user((char *)v->iov[s].iov_base + pos, src, c);
		if (err < 0)
			return err;
		src += c;
		n -= c;
		pos = 0;
	}
	return 0;
}

/* Whether the @n bytes of @v's segments from byte @pos on could be
 * written now (ksp__user_writable(), no system call): 0 or -EFAULT.
 * Zero-length segments are skipped; bytes past @v's end are not there
 * to check. */
static int
iov_writable(const struct ksp_iov *v, size_t pos, size_t n)
{
	for (size_t s = 0; s < v->n && n > 0; s++) {
		size_t len = v->iov[s].iov_len, c;
		int err;

		if (pos >= len) {
			pos -= len;
			continue;
		}
		c = len - pos < n ? len - pos : n;
		err = ksp__user_writable((char *)v->iov[s].iov_base + pos, c);
		if (err < 0)
			return err;
		n -= c;
		pos = 0;
	}
	return 0;
}

/* Set once the server said it cannot reach this process's memory
 * (KSD_DIRECT_REFUSED): receives go through the window from then on. */
static atomic_bool direct_off;
static int32_t direct_list(unsigned char *w, const struct ksp_iov *v,
			   size_t pos);

/*
 * MSG_WAITALL on a stream past the first window: more windows into @v
 * from byte @got on, until it is full, the peer stops (0), or an error
 * (which, after data, Linux does not report either). A window whose
 * part of @v cannot be written goes instead as one direct receive of
 * the rest of @v (as ksd_recvmsg's), so that the server's copy meets
 * the fault and the stream keeps what it did not copy. Returns the
 * bytes in @v.
 */
static long
recv_more(int fd, int flags, struct ksp_iov *v, size_t got, unsigned sig0)
{
	call_moved = true;
	while (got < v->total) {
		size_t want = v->total - got < KSD_DATA_MAX ?
			      v->total - got : KSD_DATA_MAX;
		bool direct = !atomic_load(&direct_off) &&
			      iov_writable(v, got, want) < 0;
		struct ksd_rep rep;
		struct ksd_req *q;
		long n;
		int i;

		q = begin(&i, KSD_RECVMSG, fd);
		if (q == NULL)
			break;
		/* As in ksd_sendmsg: after a handler ran, no more waits. */
		q->a[0] = sig_ran != sig0 ? flags | MSG_DONTWAIT : flags;
		if (direct) {
			want = v->total - got;
			q->flags |= KSD_F_DIRECT;
			q->a[1] = direct_list(win(i), v, got);
		}
		q->datalen = (uint32_t)want;
		rep.val[3] = 0;
		n = post(i, &rep);
		if (direct && n == -EOPNOTSUPP &&
		    rep.val[3] == KSD_DIRECT_REFUSED) {
			/* Nothing was received: this window again. */
			atomic_store(&direct_off, true);
			slot_give(i);
			continue;
		}
		if (n > 0 && !direct && scatter(v, got, win(i), (size_t)n) < 0)
			n = -EFAULT;
		slot_give(i);
		if (n <= 0)
			break;
		got += (size_t)n;
		if ((size_t)n < want)
			break;
	}
	call_moved = false;
	return (long)got;
}

bool
ksd_copies_direct(void)
{
	return !atomic_load(&direct_off);
}

/* KSD_F_DIRECT: @v's segments (checked by the boundary's import) from
 * byte @pos of them on, listed in the window at @w for the server.
 * Returns how many. */
static int32_t
direct_list(unsigned char *w, const struct ksp_iov *v, size_t pos)
{
	int32_t n = 0;

	for (size_t s = 0; s < v->n; s++) {
		struct ksd_iov seg = {
			.base = (uint64_t)(uintptr_t)v->iov[s].iov_base,
			.len = v->iov[s].iov_len,
		};

		if (pos > 0 && pos >= seg.len) {
			pos -= (size_t)seg.len;
			continue;
		}
		seg.base += pos;
		seg.len -= pos;
		pos = 0;
		memcpy(w + (size_t)n * sizeof(seg), &seg, sizeof(seg));
		n++;
	}
	return n;
}

/* recvmsg: the data scattered from the window into the caller's
 * buffers when the bytes this receive can fill are all writable (checked
 * here, without a system call), else written by the server straight
 * into them (KSD_F_DIRECT), so that the fault is met inside the
 * receive and the stream keeps its data, as Linux's does; through the
 * window too where the server cannot reach them. The name through the
 * boundary's address move, control and flags written back. */
ssize_t
ksd_recvmsg(int fd, struct msghdr *umsg, int flags)
{
	struct ks_msghdr m;
	struct ksd_rep rep;
	struct ksd_req *q;
	struct ksp_iov v;
	size_t want;
	unsigned sig0 = sig_ran;
	bool direct = !atomic_load(&direct_off);
	long n, err;
	int i;

	err = ksp__copy_from_user(&m, umsg, sizeof(m));
	if (err < 0)
		return fail(err);
	if (m.msg_name != NULL && (int)m.msg_namelen < 0)
		return fail(-EINVAL);
	if (m.msg_iovlen > KSP_UIO_MAXIOV)
		return fail(-EMSGSIZE);
	err = ksp__iov_import(&v, (const struct ks_iovec *)m.msg_iov,
			      m.msg_iovlen);
	if (err < 0)
		return fail(err);
	/* The window can take at most KSD_DATA_MAX of this request. */
	want = v.total < KSD_DATA_MAX ? v.total : KSD_DATA_MAX;
	if (direct && iov_writable(&v, 0, want) == 0)
		direct = false;
again:
	want = direct || v.total < KSD_DATA_MAX ? v.total : KSD_DATA_MAX;
	q = begin(&i, KSD_RECVMSG, fd);
	if (q == NULL) {
		ksp__iov_release(&v);
		return fail(-EBADF);
	}
	/* Kernel descriptors received come on the slot's notifier. */
	if (m.msg_controllen > 0) {
		n = notifier(i);
		if (n < 0)
			goto out;
		q = prepare(i, KSD_RECVMSG, fd);
	}
	q->a[0] = flags;
	q->datalen = (uint32_t)want;
	q->addrlen = m.msg_name != NULL ? sizeof(struct ks_sockaddr_storage) : 0;
	q->ctllen = (uint32_t)(m.msg_controllen < KSD_CTL_MAX ?
			       m.msg_controllen : KSD_CTL_MAX);
	if (direct) {
		q->flags |= KSD_F_DIRECT;
		q->a[1] = direct_list(win(i), &v, 0);
	}
	rep.val[3] = 0;
	n = post(i, &rep);
	if (direct && n == -EOPNOTSUPP && rep.val[3] == KSD_DIRECT_REFUSED) {
		/* Nothing was received: again through the window. */
		atomic_store(&direct_off, true);
		direct = false;
		slot_give(i);
		goto again;
	}
	if (n < 0)
		goto out;
	if (rep.ctllen <= KSD_CTL_MAX)
		known_rights(win(i) + KSD_DATA_MAX, rep.ctllen);
	err = direct ? 0 : scatter(&v, 0, win(i), (size_t)n);
	if (err < 0) {
		n = err;
		goto out;
	}
	if (m.msg_name != NULL) {
		err = ksp__addr_out(rep.inl, rep.addrlen, m.msg_name,
				    &umsg->msg_namelen);
		if (err < 0) {
			n = err;
			goto out;
		}
	}
	/* Control that cannot be written is lost quietly, as Linux's
	 * put_cmsg() loses it: no EFAULT, msg_controllen 0, and the kernel
	 * descriptors that came are not installed (closed here). */
	if (rep.ctllen > 0 &&
	    ksp__copy_to_user(m.msg_control, win(i) + KSD_DATA_MAX,
			      rep.ctllen) < 0) {
		int lost[KSD_BELL_FDS], got = 0;

		if (rep.val[2] > 0)
			got = kfds_recv(i, lost, true);
		for (int j = 0; j < got; j++)
			close(lost[j]);
		rep.ctllen = 0;
	} else if (rep.val[2] > 0) {
		if (kfds_fetch(i, win(i) + KSD_DATA_MAX, rep.ctllen,
			       rep.val[2],
			       (flags & MSG_CMSG_CLOEXEC) != 0) < 0)
			rep.val[0] |= MSG_CTRUNC;
		err = ksp__copy_to_user(m.msg_control, win(i) + KSD_DATA_MAX,
					rep.ctllen);
	}
	if (err >= 0)
		err = ksp__copy_to_user(&umsg->msg_flags, &rep.val[0],
					sizeof(int));
	if (err >= 0) {
		size_t cl = rep.ctllen;

		err = ksp__copy_to_user(&umsg->msg_controllen, &cl, sizeof(cl));
	}
	if (err < 0)
		n = err;
out:
	slot_give(i);
	if (n >= 0 && (size_t)n == want && want < v.total &&
	    (flags & MSG_WAITALL) && !(flags & MSG_PEEK) &&
	    sock_type(fd) == SOCK_STREAM)
		n = recv_more(fd, flags, &v, (size_t)n, sig0);
	ksp__iov_release(&v);
	return n < 0 ? fail(n) : n;
}

ssize_t
ksd_send(int fd, const void *buf, size_t len, int flags)
{
	return ksd_sendto(fd, buf, len, flags, NULL, 0);
}

ssize_t
ksd_sendto(int fd, const void *buf, size_t len, int flags,
	   const struct sockaddr *addr, socklen_t alen)
{
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_name = (void *)addr, .msg_namelen = alen,
			    .msg_iov = &iov, .msg_iovlen = 1 };

	return ksd_sendmsg(fd, &m, flags);
}

ssize_t
ksd_recv(int fd, void *buf, size_t len, int flags)
{
	return ksd_recvfrom(fd, buf, len, flags, NULL, NULL);
}

/* __sys_recvfrom(): the address into a buffer of ours, then out with
 * the boundary's move, after the data: a length that cannot be read or
 * an address that cannot be written is EFAULT with the data taken, as
 * on Linux. */
ssize_t
ksd_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
	     socklen_t *alen)
{
	struct ks_sockaddr_storage name;
	struct iovec iov = { buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;
	int err;

	if (addr != NULL) {
		m.msg_name = &name;
		m.msg_namelen = sizeof(name);
	}
	n = ksd_recvmsg(fd, &m, flags);
	if (n < 0 || addr == NULL)
		return n;
	err = ksp__addr_out(&name, m.msg_namelen, addr, alen);
	return err < 0 ? fail(err) : n;
}

ssize_t
ksd_read(int fd, void *buf, size_t len)
{
	int err = ksp__rw_begin(buf, len, false);

	if (err != 0)
		return err < 0 ? fail(err) : 0;
	return ksd_recv(fd, buf, len, 0);
}

ssize_t
ksd_write(int fd, const void *buf, size_t len)
{
	int err = ksp__rw_begin(buf, len, true);

	return err < 0 ? fail(err) : ksd_send(fd, buf, len, 0);
}

/* readv or writev: the boundary's checks, then the call as a message
 * (which imports the segments again: they are the caller's to change). */
static ssize_t
rw_vec(int fd, const struct iovec *iov, int cnt, bool write)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov,
			    .msg_iovlen = (size_t)cnt };
	struct ksp_iov v;
	int err;

	err = ksp__rwv_begin(&v, (const struct ks_iovec *)iov, cnt);
	if (err < 0)
		return fail(err);
	ksp__iov_release(&v);
	if (err > 0)
		return 0;
	return write ? ksd_sendmsg(fd, &m, 0) : ksd_recvmsg(fd, &m, 0);
}

ssize_t
ksd_readv(int fd, const struct iovec *iov, int cnt)
{
	return rw_vec(fd, iov, cnt, false);
}

ssize_t
ksd_writev(int fd, const struct iovec *iov, int cnt)
{
	return rw_vec(fd, iov, cnt, true);
}

int
ksd_shutdown(int fd, int how)
{
	return (int)simple(KSD_SHUTDOWN, fd, how, 0, 0, NULL);
}

int
ksd_getsockopt(int fd, int level, int name, void *val, socklen_t *ulen)
{
	struct ksd_rep rep;
	struct ksd_req *q;
	uint32_t len;
	long n, err;
	int i, got = 0, kfd[KSD_BELL_FDS];

	err = ksp__copy_from_user(&len, ulen, sizeof(len));
	if (err < 0)
		return (int)fail(err);
	if ((int)len < 0)
		return (int)fail(-EINVAL);
	q = begin(&i, KSD_GETSOCKOPT, fd);
	if (q == NULL)
		return (int)fail(-EBADF);
	/* SO_PEERPIDFD's pidfd comes on the slot's notifier. */
	if (level == SOL_SOCKET && name == KS_SO_PEERPIDFD) {
		n = notifier(i);
		if (n < 0)
			goto out;
		q = prepare(i, KSD_GETSOCKOPT, fd);
	}
	q->a[0] = level;
	q->a[1] = name;
	q->datalen = len < KSD_DATA_MAX ? len : KSD_DATA_MAX;
	n = post(i, &rep);
	if (n >= 0 && rep.val[2] == 1 && rep.val[0] == (int32_t)sizeof(int)) {
		got = kfds_recv(i, kfd, true);
		n = got == 1 ? 0 : -EPROTO;
		if (got >= 1)
			memcpy(win(i), &kfd[0], sizeof(int));
	}
	if (n >= 0) {
		len = (uint32_t)rep.val[0];
		err = ksp__copy_to_user(val, win(i), len);
		if (err >= 0)
			err = ksp__copy_to_user(ulen, &len, sizeof(len));
		if (err < 0)
			n = err;
	}
	/* Not delivered (or more than one came): not leaked. */
	for (int j = n < 0 ? 0 : 1; j < got; j++)
		close(kfd[j]);
out:
	slot_give(i);
	return n < 0 ? (int)fail(n) : 0;
}

int
ksd_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct ksd_rep rep;
	struct ksd_req *q;
	long n;
	int i;

	if ((int)len < 0)
		return (int)fail(-EINVAL);
	if (len > KSD_DATA_MAX)
		len = KSD_DATA_MAX;
	q = begin(&i, KSD_SETSOCKOPT, fd);
	if (q == NULL)
		return (int)fail(-EBADF);
	q->a[0] = level;
	q->a[1] = name;
	q->datalen = len;
	n = ksp__copy_from_user(win(i), val, len);
	if (n >= 0)
		n = post(i, &rep);
	slot_give(i);
	return n < 0 ? (int)fail(n) : 0;
}

static int
getname(int fd, struct sockaddr *addr, socklen_t *len, int peer)
{
	struct ksd_rep rep;
	int err;

	if (simple(KSD_GETNAME, fd, peer, 0, 0, &rep) < 0)
		return -1;
	err = ksp__addr_out(rep.inl, rep.addrlen, addr, len);
	return err < 0 ? (int)fail(err) : 0;
}

int
ksd_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	return getname(fd, addr, len, 0);
}

int
ksd_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	return getname(fd, addr, len, 1);
}

int
ksd_ioctl(int fd, unsigned long req, int *arg)
{
	struct ksd_rep rep;
	int v = 0;

	if (ksp__copy_from_user(&v, arg, sizeof(v)) < 0)
		return (int)fail(-EFAULT);
	if (simple(KSD_IOCTL, fd, (int)req, v, 0, &rep) < 0)
		return -1;
	if (ksp__copy_to_user(arg, &rep.val[0], sizeof(int)) < 0)
		return (int)fail(-EFAULT);
	return 0;
}

int
ksd_fcntl(int fd, int cmd, int arg)
{
	struct ksd_rep rep;
	int err = errno;
	long r;

	rep.val[1] = 0;
	r = simple(KSD_FCNTL, fd, cmd, arg, 0, &rep);
	/* F_GETOWN's process group is negative: val[1] tells it from an
	 * error. */
	if (cmd == F_GETOWN && r < 0 && rep.val[1] == 1) {
		errno = err;
		return rep.val[0];
	}
	return (int)r;
}

int
ksd_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	struct ksd_pollfd *w;
	struct ksd_rep rep;
	struct ksd_req *q;
	long r;
	int i;

	if (n > KSD_POLL_MAX)
		return (int)fail(-EINVAL);
	q = begin(&i, KSD_POLL, -1);
	if (q == NULL)
		return (int)fail(-EBADF);
	w = (struct ksd_pollfd *)(void *)win(i);
	for (nfds_t k = 0; k < n; k++) {
		struct pollfd p;

		if (ksp__copy_from_user(&p, &fds[k], sizeof(p)) < 0) {
			slot_give(i);
			return (int)fail(-EFAULT);
		}
		w[k].fd = p.fd;
		w[k].events = p.events;
		w[k].revents = 0;
	}
	q->a[0] = (int32_t)n;
	q->a[1] = timeout;
	r = post(i, &rep);
	for (nfds_t k = 0; r >= 0 && k < n; k++) {
		short re = w[k].revents;

		if (ksp__copy_to_user(&fds[k].revents, &re, sizeof(re)) < 0)
			r = -EFAULT;
	}
	slot_give(i);
	return r < 0 ? (int)fail(r) : (int)r;
}

/* The kernel entries of a mixed poll, and the notifier after them. */
static struct pollfd *
mixed_kernel_set(const struct pollfd *kfds, nfds_t nk, int notify)
{
	struct pollfd *k = calloc(nk + 1, sizeof(*k));

	if (k == NULL)
		return NULL;
	if (nk > 0 && ksp__copy_from_user(k, kfds, nk * sizeof(*k)) < 0) {
		free(k);
		errno = EFAULT;
		return NULL;
	}
	k[nk] = (struct pollfd){ notify, POLLIN, 0 };
	return k;
}

/* Writes the revents of @n entries back; returns how many have any. */
static int
revents_out(struct pollfd *dst, const struct pollfd *src, nfds_t n)
{
	int ready = 0;

	for (nfds_t j = 0; j < n; j++) {
		if (ksp__copy_to_user(&dst[j].revents, &src[j].revents,
				      sizeof(short)) < 0)
			return -EFAULT;
		if (src[j].revents != 0)
			ready++;
	}
	return ready;
}

/*
 * See ksd.h. The ksockd entries go to the server as one POLL request
 * flagged KSD_F_NOTIFY; the kernel waits in ppoll() on the kernel
 * entries and the slot's notifier. Whichever comes first ends the wait:
 * the notifier means the reply is in; anything else (a kernel entry,
 * the timeout, a signal) rings CANCEL and takes the reply that follows,
 * which still counts the ksockd entries that were ready by then.
 */
int
ksd_poll_mixed(struct pollfd *fds, nfds_t n, struct pollfd *kfds, nfds_t nk,
	       const struct timespec *timeout, const sigset_t *sigmask)
{
	struct ksd_slot *s;
	struct ksd_pollfd *w;
	struct pollfd *k, *ks;
	struct timespec ts;
	struct ksd_rep rep;
	long r, err = 0;
	struct rlimit lim;
	int i, nfd, kr = 0, kerr = 0, ready = 0;

	if (n == 0)
		return ppoll(kfds, nk, timeout, sigmask);
	/* Linux's bound on a poll set: RLIMIT_NOFILE entries. */
	if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && n + nk > lim.rlim_cur)
		return (int)fail(-EINVAL);
	if (n > KSD_POLL_MAX)
		return (int)fail(-EINVAL);
	if (timeout != NULL) {
		if (ksp__copy_from_user(&ts, timeout, sizeof(ts)) < 0)
			return (int)fail(-EFAULT);
		if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000)
			return (int)fail(-EINVAL);
	}
	if (state.sock < 0)
		return (int)fail(-EBADF);
	ks = calloc(n, sizeof(*ks));
	if (ks == NULL)
		return (int)fail(-ENOMEM);
	if (ksp__copy_from_user(ks, fds, n * sizeof(*ks)) < 0) {
		free(ks);
		return (int)fail(-EFAULT);
	}
	i = slot_take();
	nfd = notifier(i);
	if (nfd < 0) {
		err = nfd;
		goto give_slot;
	}
	k = mixed_kernel_set(kfds, nk, nfd);
	if (k == NULL) {
		err = -errno;
		goto give_slot;
	}
	s = &state.shm->slot[i];
	memset(&s->req, 0, sizeof(s->req));
	s->req.label = KSD_POLL;
	s->req.flags = KSD_F_NOTIFY;
	s->req.fd = -1;
	s->req.a[0] = (int32_t)n;
	/* The kernel keeps the time; the server's poll waits until it
	 * is answered or cancelled (a zero timeout is one look). */
	s->req.a[1] = timeout != NULL && ts.tv_sec == 0 && ts.tv_nsec == 0 ?
		      0 : -1;
	w = (struct ksd_pollfd *)(void *)win(i);
	for (nfds_t j = 0; j < n; j++)
		w[j] = (struct ksd_pollfd){ ks[j].fd, ks[j].events, 0 };
	notifier_drain(nfd);
	err = ring(i);
	if (err < 0)
		goto free_k;
	kr = ppoll(k, nk + 1, timeout != NULL ? &ts : NULL, sigmask);
	if (kr < 0)
		kerr = errno;
	/* The notifier's byte comes with the reply, just before DONE. */
	if (!(kr > 0 && (k[nk].revents & POLLIN)) &&
	    atomic_load_explicit(&s->state, memory_order_acquire) != KSD_DONE &&
	    ring_cancel(i, false) < 0) {
		err = -ECONNRESET;
		goto free_k;
	}
	r = wait_reply(i, &rep, false);
	if (r == -EINTR)
		r = 0;		/* cancelled: none was ready */
	if (r < 0) {
		err = r;
		goto free_k;
	}
	for (nfds_t j = 0; j < n; j++)
		ks[j].revents = r > 0 ? w[j].revents : 0;
	/* A signal with nothing ready is EINTR, as ppoll's; a kernel
	 * error is the call's. */
	if (kr < 0 && (kerr != EINTR || r == 0)) {
		err = -kerr;
		goto free_k;
	}
	if (kr < 0)
		memset(k, 0, nk * sizeof(*k));
	ready = revents_out(fds, ks, n);
	kr = ready < 0 ? ready : revents_out(kfds, k, nk);
	err = kr < 0 ? kr : 0;
free_k:
	free(k);
give_slot:
	slot_give(i);
	free(ks);
	return err < 0 ? (int)fail(err) : ready + kr;
}

/*
 * CLOSE of @fd. When the library knows @fd open (@known: the caller
 * knows; else its bit in known_open) and the server watches this
 * client and says no kernel descriptor is in flight (close_nowait:
 * then the close has no effect a kernel object shows), the request is
 * only posted: the close cannot fail, and the server runs it before
 * any request posted after it (its own and, as docs/ksockd.md says,
 * another client's), so the caller goes on at once and the slot comes
 * back with the reply (nowait_slots). Else the reply is waited for as
 * for any call. Returns 0 or -errno.
 */
static long
close_call(int fd, bool known)
{
	struct ksd_rep rep;
	long n;
	int i;

	if (begin(&i, KSD_CLOSE, fd) == NULL)
		return -EBADF;
	if (in_close_lock) {
		/* A signal handler's close, which interrupted this thread
		 * inside the lock: with its reply, without the lock. */
		(void)known_take(fd);
		n = ring(i);
		known = false;
	} else {
		/* The bit's test and the request's seq in one order. */
		pthread_mutex_lock(&close_lock);
		in_close_lock = 1;
		known = known_take(fd) || known;
		n = ring(i);
		in_close_lock = 0;
		pthread_mutex_unlock(&close_lock);
	}
	/* Read after @watching: the server sets it first (proto.h). */
	if (n == 1 && known &&
	    atomic_load(&state.shm->bells.close_nowait) == 1) {
		atomic_fetch_or(&nowait_slots, 1u << i);
		return 0;
	}
	if (n >= 0)
		n = wait_reply(i, &rep, true);
	slot_give(i);
	return n;
}

int
ksd_close(int fd)
{
	long n = close_call(fd, false);

	return n < 0 ? (int)fail(n) : 0;
}

/* See ksd.h. */
void
ksd__close_nowait(int fd)
{
	(void)close_call(fd, true);
}

int
ksd_dup(int fd)
{
	long n = simple(KSD_DUP, fd, -1, 0, 0, NULL);

	known_set(n);
	return (int)n;
}

int
ksd_dup3(int fd, int newfd, int flags)
{
	long n;

	if (flags & ~O_CLOEXEC)
		return (int)fail(-EINVAL);
	if (fd == newfd)
		return (int)fail(-EINVAL);
	n = simple(KSD_DUP, fd, newfd, (flags & O_CLOEXEC) != 0, 0, NULL);
	known_set(n);
	return (int)n;
}

int
ksd_status(struct ksd_status *st)
{
	struct ksd_rep rep;

	if (simple(KSD_STATUS, -1, 0, 0, 0, &rep) < 0)
		return -1;
	memcpy(st, rep.inl, sizeof(*st));
	return 0;
}

/* See ksd.h. */
int
ksd__netns_changed(void)
{
	/* The thread that moved may not be the one the server reads the
	 * process's namespace from (its main thread's): from now on its
	 * own calls say which thread they come from. */
	own_netns_tid = (int32_t)syscall(SYS_gettid);
	return simple(KSD_NETNS, -1, 0, 0, 0, NULL) < 0 ? -1 : 0;
}

pid_t
ksd_fork(void)
{
	uint64_t before[KNOWN_FDS / 64];
	struct ksd_rep rep;
	pid_t pid;
	int err;

	/* The child knows open what was known before the hand-over was
	 * made and still was at the fork: another thread's descriptors
	 * made in between are not in the child's table. */
	for (size_t k = 0; k < KNOWN_FDS / 64; k++)
		before[k] = atomic_load(&known_open[k]);
	if (simple(KSD_FORK, -1, 0, 0, 0, &rep) < 0)
		return -1;
	pid = fork();
	if (pid != 0)
		return pid;
	for (size_t k = 0; k < KNOWN_FDS / 64; k++)
		atomic_fetch_and(&known_open[k], before[k]);
	pthread_mutex_init(&close_lock, NULL);
	/* The child: the parent's region and connection are the
	 * parent's; it attaches on its own and claims the copy. */
	pthread_mutex_lock(&state.lock);
	munmap(state.shm, state.size);
	close(state.sock);
	notifiers_close();
	state.shm = NULL;
	state.sock = -1;
	/* Its one thread's namespace is the process's the hello reads. */
	own_netns_tid = 0;
	err = attach(state.addr, rep.token);
	pthread_mutex_unlock(&state.lock);
	if (err < 0)
		_exit(127);
	return 0;
}

int
ksd_execve(const char *path, char *const argv[], char *const envp[])
{
	struct ksd_rep rep;
	char tok[32], **env;
	size_t n = 0;

	/* EXEC closes the close-on-exec descriptors, which the library
	 * does not tell apart: an exec that fails goes on knowing none. */
	known_forget_all();
	if (simple(KSD_EXEC, -1, 0, 0, 0, &rep) < 0)
		return -1;
	while (envp[n] != NULL)
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (env == NULL)
		return (int)fail(-ENOMEM);
	snprintf(tok, sizeof(tok), "KSOCKD_TOKEN=%llx",
		 (unsigned long long)rep.token);
	memcpy(env, envp, n * sizeof(*env));
	env[n] = tok;
	execve(path, argv, env);
	free(env);
	return -1;
}

int
ksd_detach(void)
{
	long n;

	pthread_mutex_lock(&state.lock);
	if (state.sock < 0) {
		pthread_mutex_unlock(&state.lock);
		return (int)fail(-ENOTCONN);
	}
	pthread_mutex_unlock(&state.lock);
	known_forget_all();
	n = simple(KSD_EXIT, -1, 0, 0, 0, NULL);
	pthread_mutex_lock(&state.lock);
	detach_local();
	pthread_mutex_unlock(&state.lock);
	return n < 0 ? -1 : 0;
}

/* See ksd.h. */
ssize_t
ksd_diag(uint64_t from, void *buf, size_t len, uint64_t *next)
{
	struct ksd_rep rep;
	struct ksd_req *q;
	long n;
	int i;

	q = begin(&i, KSD_DIAG, -1);
	if (q == NULL)
		return fail(-EBADF);
	q->a[0] = (int32_t)(uint32_t)from;
	q->a[1] = (int32_t)(uint32_t)(from >> 32);
	q->datalen = (uint32_t)(len < KSD_DATA_MAX ? len : KSD_DATA_MAX);
	n = post(i, &rep);
	if (n > (long)q->datalen)
		n = -EPROTO;	/* more than the room we gave */
	if (n >= 0) {
		memcpy(buf, win(i), (size_t)n);
		*next = rep.token;
	}
	slot_give(i);
	return n < 0 ? fail(n) : n;
}

/* See ksd.h. */
bool
ksd__attached(void)
{
	return state.sock >= 0;
}

/* See ksd.h. */
int
ksd__conn_fd(void)
{
	return state.sock;
}

/* See ksd.h. Each notifier is asked for on its own slot, taken as a
 * call takes it. */
int
ksd__notifiers_open(void)
{
	for (int n = 0; n < KSD_SLOTS; n++) {
		int taken[KSD_SLOTS], i, fd, k = 0;

		/* Slots come lowest free first: take until slot n. */
		do {
			i = slot_take();
			taken[k++] = i;
		} while (i != n && k < KSD_SLOTS);
		fd = i == n ? notifier(i) : 0;
		while (k > 0)
			slot_give(taken[--k]);
		if (fd < 0)
			return fd;
	}
	return 0;
}

/* See ksd.h. */
int
ksd__private_fds(int *out)
{
	uint32_t has = atomic_load(&state.has_notify);
	int n = 0;

	if (state.sock >= 0)
		out[n++] = state.sock;
	for (int i = 0; i < KSD_SLOTS; i++)
		if (has & (1u << i))
			out[n++] = state.notify[i];
	return n;
}

/* See ksd.h. */
bool
ksd__private_fd(int fd)
{
	uint32_t has = atomic_load(&state.has_notify);

	if (fd < 0)
		return false;
	if (fd == state.sock)
		return true;
	for (int i = 0; i < KSD_SLOTS; i++)
		if ((has & (1u << i)) && state.notify[i] == fd)
			return true;
	return false;
}

/* See ksd.h. A new watch's end comes on the bootstrap socket, which
 * notify_lock keeps for one reader. */
int
ksd__watch(int id, bool create, struct ksd_watchfd *ents, unsigned n,
	   int report, int *wfd)
{
	struct ksd_rep rep;
	struct ksd_req *q;
	long r;
	int i;

	if (n > KSD_POLL_MAX || id < 0 || report < 0)
		return -EINVAL;
	q = begin(&i, KSD_WATCH, -1);
	if (q == NULL)
		return -EBADF;
	q->flags = create ? KSD_F_WATCH_NEW : 0;
	q->a[0] = (int32_t)n;
	q->a[1] = id;
	q->a[2] = report;
	memcpy(win(i), ents, n * sizeof(*ents));
	memset(&rep, 0, sizeof(rep));
	if (create)
		pthread_mutex_lock(&notify_lock);
	r = post(i, &rep);
	if (create && rep.val[0] == 1) {
		/* Sent before the reply, even when the watch then failed. */
		int fd = end_recv();

		if (fd < 0 && r >= 0)
			r = fd;
		else if (r < 0 && fd >= 0)
			close(fd);
		else if (fd >= 0)
			*wfd = fd;
	} else if (create && r >= 0) {
		r = -EPROTO;
	}
	if (create)
		pthread_mutex_unlock(&notify_lock);
	if (r >= 0)
		memcpy(ents, win(i), n * sizeof(*ents));
	slot_give(i);
	return (int)r;
}

/* See ksd.h. */
int
ksd__unwatch(int id)
{
	struct ksd_rep rep;

	return (int)ksd__request(KSD_UNWATCH, 0, -1, 0, id, 0, NULL, 0, &rep);
}

/* See ksd.h. */
unsigned
ksd__conn_gen(void)
{
	return atomic_load(&conn_gen);
}

/* See ksd.h. */
long
ksd__request(uint32_t label, uint32_t flags, int fd, int a0, int a1, int a2,
	     const void *inl, size_t inlen, struct ksd_rep *rep)
{
	struct ksd_req *q;
	long n;
	int i;

	if (inlen > KSD_INLINE)
		return -EINVAL;
	if (label == KSD_CLOSE) {
		memset(rep, 0, sizeof(*rep));
		rep->ret = close_call(fd, false);
		return rep->ret;
	}
	q = begin(&i, label, fd);
	if (q == NULL)
		return -EBADF;
	q->flags = flags;
	q->a[0] = a0;
	q->a[1] = a1;
	q->a[2] = a2;
	if (inlen > 0)
		memcpy(q->inl, inl, inlen);
	n = post(i, rep);
	slot_give(i);
	return n;
}

/* See ksd.h. */
int
ksd__fork_token(uint64_t *token)
{
	struct ksd_rep rep;
	long n = ksd__request(KSD_FORK, 0, -1, 0, 0, 0, NULL, 0, &rep);

	if (n < 0)
		return (int)n;
	*token = rep.token;
	return 0;
}

/* See ksd.h. */
int
ksd__reattach(void)
{
	struct ksd_shm *old_shm;
	struct ksd_rep rep;
	uint64_t token;
	uint32_t old_has;
	size_t old_size;
	int err, old_sock;
	long n;

	n = ksd__request(KSD_FORK, 0, -1, 0, 0, 0, NULL, 0, &rep);
	if (n < 0)
		return (int)n;
	token = rep.token;
	pthread_mutex_lock(&state.lock);
	old_shm = state.shm;
	old_size = state.size;
	old_sock = state.sock;
	old_has = atomic_exchange(&state.has_notify, 0);
	err = attach(state.addr, token);
	if (err < 0) {
		/* Refused: the old attachment stays (the hand-over
		 * expires). */
		state.shm = old_shm;
		state.size = old_size;
		state.sock = old_sock;
		atomic_store(&state.has_notify, old_has);
	} else {
		/* The old connection's notifiers go with it. */
		for (int i = 0; i < KSD_SLOTS; i++)
			if (old_has & (1u << i))
				close(state.notify[i]);
		munmap(old_shm, old_size);
		close(old_sock);
	}
	pthread_mutex_unlock(&state.lock);
	return err;
}

/* See ksd.h. The child has one thread: a lock another thread of the
 * parent held at the fork is made anew, and every slot is free in the
 * region it gets. */
int
ksd__fork_child(uint64_t token, bool reattach)
{
	pthread_mutex_init(&state.lock, NULL);
	pthread_mutex_init(&notify_lock, NULL);
	/* Its one thread's namespace is the process's the hello reads. */
	own_netns_tid = 0;
	pthread_mutex_init(&close_lock, NULL);
	/* Made between the hand-over and the fork, perhaps: forgotten. */
	known_forget_all();
	if (state.sock < 0)
		return reattach ? -ENOTCONN : 0;
	/* The notifiers are the parent's connection's. */
	notifiers_close();
	munmap(state.shm, state.size);
	close(state.sock);
	state.shm = NULL;
	state.sock = -1;
	atomic_store(&nowait_slots, 0);
	return reattach ? attach(state.addr, token) : 0;
}

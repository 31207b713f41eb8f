/*
 * User memory for the Linux ports (hosted and preload): copy_from_user
 * and copy_to_user that fail with -EFAULT where the kernel would, and
 * never fault.
 *
 * User memory is the program's own address space, so a copy is a plain
 * memory copy guarded the way a kernel guards its user accesses:
 *
 *   - first the range check Linux's access_ok() makes (the range must end
 *     inside the user address space, without wrapping), which needs no
 *     system call;
 *   - then the copy, with a recovery point for this thread: a SIGSEGV or
 *     SIGBUS raised by the kernel for an address inside the range being
 *     copied jumps back to it and the copy returns -EFAULT. That covers
 *     unmapped pages, read-only pages written to, and file mappings past
 *     the end of the file.
 *
 * The handlers are installed on the first copy (SA_SIGINFO | SA_ONSTACK,
 * so a program's alternate signal stack is used) and chain everything
 * else to what was installed before them: the program's own handler, a
 * sanitizer's, or the default action (which a fault outside a copy then
 * meets again on the faulting instruction, so a crash stays the crash it
 * would have been, with its core dump).
 *
 * The fast path makes no system call: the range check, a sigsetjmp that
 * does not save the signal mask, and the copy. The handler only reads a
 * thread-local pointer (initial-exec TLS, which needs no allocation, so
 * it is async-signal-safe), and the copy hooks themselves may be called
 * from a signal handler: recovery points nest.
 *
 * Sanitizers: ASan and TSan intercept memcpy and check the whole range in
 * their shadow memory first, and a wild address can be one whose shadow
 * is itself unmapped. Under them the copy is a plain loop that is neither
 * instrumented nor turned back into memcpy.
 *
 * A program that installs its own SIGSEGV or SIGBUS handler after the
 * first copy would replace these. The preload shim passes such calls to
 * ksp__fault_sigaction(), which makes the program's handler the one
 * faults outside copies go to instead; a program linked with the hosted
 * personality must install its handlers before its first socket call.
 * Chained handlers run inside ours: SA_RESETHAND is honoured, the
 * handler's sa_mask and SA_NODEFER are not.
 *
 * Locks: none that a handler takes. The install state is one atomic
 * word; the chained actions are swapped by pointer (see struct chain).
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "hosted.h"

/*
 * Where the user address space ends, as Linux's access_ok() sees it: a
 * range must end at or below this address. x86_64 with 4-level page
 * tables: TASK_SIZE_MAX, 2^47 less one page (measured: an iovec ending
 * exactly there passes, one byte more is EFAULT). Elsewhere only a
 * wrapping range is refused here, and the guarded copy catches the rest.
 */
#if defined(__x86_64__)
#define USER_TOP	0x00007ffffffff000UL
#elif defined(__aarch64__)
#define USER_TOP	0x0001000000000000UL
#else
#define USER_TOP	UINTPTR_MAX
#endif

/* A copy in progress on this thread. */
struct recovery {
	sigjmp_buf	 env;
	uintptr_t	 lo, hi;	/* the user range, rounded out to pages */
	uintptr_t	 lo2, hi2;	/* a second one (a copy between two
					 * user ranges), or empty */
	bool		 in2;		/* the fault hit the second range */
};

#define PAGE_MASK_LO	((uintptr_t)4095)

static __thread struct recovery *recovery
	__attribute__((tls_model("initial-exec")));

/* The process whose memory KSP_REMOTE_BIT addresses name, or 0; and
 * whether the kernel refused a copy to or from it. */
static __thread int32_t remote_pid __attribute__((tls_model("initial-exec")));
static __thread bool remote_refused __attribute__((tls_model("initial-exec")));

enum { UNINSTALLED, INSTALLING, INSTALLED };
static atomic_int install_state = UNINSTALLED;

/*
 * What faults outside a copy go to, per signal: the action installed
 * before ours, or one the program installed since through a front end
 * that passes its sigaction calls here (ksp__fault_sigaction). Two slots
 * each, so that a writer fills the one no reader is pointed at and then
 * swaps the pointer (a handler cannot take a lock); writers take turns
 * on a spin flag.
 */
struct chain {
	struct sigaction		 slot[2];
	_Atomic(struct sigaction *)	 cur;
};
static struct chain chain_segv, chain_bus;
static atomic_flag chain_writer = ATOMIC_FLAG_INIT;

/* libc's own sigaction: the preload shim interposes sigaction, and the
 * handlers here must reach the kernel. Sanitizer builds keep their
 * interceptors. */
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__)
int	__sigaction(int sig, const struct sigaction *act,
		    struct sigaction *old);
#define real_sigaction	__sigaction
#else
#define real_sigaction	sigaction
#endif

static struct chain *
chain_of(int sig)
{
	return sig == SIGBUS ? &chain_bus : &chain_segv;
}

/* Makes @act what @c's faults go to. Async-signal-safe. */
static void
chain_set(struct chain *c, const struct sigaction *act)
{
	struct sigaction *next;

	while (atomic_flag_test_and_set_explicit(&chain_writer,
						 memory_order_acquire))
		;
	next = atomic_load(&c->cur) == &c->slot[0] ? &c->slot[1] :
						      &c->slot[0];
	*next = *act;
	atomic_store_explicit(&c->cur, next, memory_order_release);
	atomic_flag_clear_explicit(&chain_writer, memory_order_release);
}

/* What a fault outside a copy gets: the chained action. */
static void
chain(int sig, siginfo_t *si, void *uc)
{
	struct chain *c = chain_of(sig);
	struct sigaction p = *atomic_load_explicit(&c->cur,
						   memory_order_acquire);
	bool sent = si->si_code <= 0;	/* kill(), not a fault */

	if (p.sa_handler != SIG_DFL && p.sa_handler != SIG_IGN &&
	    (p.sa_flags & SA_RESETHAND)) {
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		chain_set(c, &dfl);
	}
	if (p.sa_flags & SA_SIGINFO) {
		p.sa_sigaction(sig, si, uc);
		return;
	}
	if (p.sa_handler == SIG_IGN && sent)
		return;
	if (p.sa_handler == SIG_DFL || p.sa_handler == SIG_IGN) {
		/* A fault cannot be ignored: the kernel kills. Put the
		 * default back; returning re-runs the faulting instruction,
		 * and a sent signal is sent again (it stays pending until
		 * this handler returns). */
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		real_sigaction(sig, &dfl, NULL);
		if (sent)
			raise(sig);
		return;
	}
	p.sa_handler(sig);
}

static void
on_fault(int sig, siginfo_t *si, void *uc)
{
	struct recovery *r = recovery;
	uintptr_t a = (uintptr_t)si->si_addr;

	if (r != NULL && si->si_code > 0 &&
	    ((a >= r->lo && a < r->hi) || (a >= r->lo2 && a < r->hi2))) {
		sigset_t s;

		r->in2 = !(a >= r->lo && a < r->hi);
		/* sigsetjmp saved no mask: unblock the signal the kernel
		 * blocked for this handler, then go back. */
		sigemptyset(&s);
		sigaddset(&s, sig);
		pthread_sigmask(SIG_UNBLOCK, &s, NULL);
		siglongjmp(r->env, 1);
	}
	chain(sig, si, uc);
}

static void
install_handlers(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS };
	struct sigaction sa, old;
	int expected = UNINSTALLED;

	if (!atomic_compare_exchange_strong(&install_state, &expected,
					    INSTALLING)) {
		while (atomic_load(&install_state) != INSTALLED)
			sched_yield();
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < 2; i++) {
		real_sigaction(sigs[i], &sa, &old);
		chain_set(chain_of(sigs[i]), &old);
	}
	atomic_store(&install_state, INSTALLED);
}

/* See hosted.h. */
int
ksp__fault_sigaction(int sig, const struct sigaction *act,
		     struct sigaction *old)
{
	struct sigaction k;
	struct chain *c;
	int err;

	if ((sig != SIGSEGV && sig != SIGBUS) ||
	    atomic_load(&install_state) != INSTALLED)
		return 0;
	c = chain_of(sig);
	if (act != NULL) {
		err = ksp__copy_from_user(&k, act, sizeof(k));
		if (err < 0)
			return err;
	}
	if (old != NULL) {
		err = ksp__copy_to_user(old, atomic_load(&c->cur), sizeof(*old));
		if (err < 0)
			return err;
	}
	if (act != NULL)
		chain_set(c, &k);
	return 1;
}

/* See boundary.h: Linux's access_ok(). */
bool
ksp__user_range_ok(const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;

	return a + len >= a && a + len <= USER_TOP;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* Byte by byte through volatile, so that it stays a loop. */
__attribute__((no_sanitize_address, no_sanitize_thread)) static void
raw_copy(void *dst, const void *src, size_t len)
{
	volatile unsigned char *d = dst;
	const volatile unsigned char *s = src;

	while (len-- > 0)
		*d++ = *s++;
}
#else
static inline void
raw_copy(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
}
#endif

/* Sets *@lo and *@hi to the pages of @len (> 0) bytes from @user. */
static void
page_range(uintptr_t user, size_t len, uintptr_t *lo, uintptr_t *hi)
{
	*lo = user & ~PAGE_MASK_LO;
	*hi = ((user + len - 1) | PAGE_MASK_LO) + 1;
	if (*hi == 0)
		*hi = UINTPTR_MAX;
}

/* Copies @len bytes, of which the user side starts at @user (and, when
 * @user2 is not 0, the other side too at @user2). Returns 0, or -EFAULT
 * when @user's side faulted, -EACCES when @user2's did (part may have
 * been copied). */
static int
guarded_copy(void *dst, const void *src, size_t len, uintptr_t user,
	     uintptr_t user2)
{
	struct recovery r, *outer;

	if (atomic_load_explicit(&install_state, memory_order_acquire) !=
	    INSTALLED)
		install_handlers();
	outer = recovery;
	page_range(user, len, &r.lo, &r.hi);
	r.lo2 = r.hi2 = 0;
	if (user2 != 0)
		page_range(user2, len, &r.lo2, &r.hi2);
	r.in2 = false;
	if (sigsetjmp(r.env, 0) != 0) {
		recovery = outer;
		return *(volatile bool *)&r.in2 ? -EACCES : -EFAULT;
	}
	recovery = &r;
	atomic_signal_fence(memory_order_seq_cst);
	raw_copy(dst, src, len);
	atomic_signal_fence(memory_order_seq_cst);
	recovery = outer;
	return 0;
}

/* Touches the byte at @a for writing without changing it: an atomic
 * OR of 0, so a store another thread makes to that byte at the same time
 * is not undone (a read and a write back could undo it), and the CPU
 * checks the page for writing as a store's check does. Inline assembly
 * on x86_64, which no sanitizer instruments (a wild address's shadow
 * may be unmapped). */
#if defined(__x86_64__)
static inline void
touch_for_write(uintptr_t a)
{
	__asm__ volatile("lock; orb $0, %0"
			 : "+m"(*(unsigned char *)a) : : "memory");
}
#else
__attribute__((no_sanitize_address, no_sanitize_thread)) static void
touch_for_write(uintptr_t a)
{
	__atomic_fetch_or((unsigned char *)a, 0, __ATOMIC_RELAXED);
}
#endif

/* Touches every page of the @len (> 0) bytes at @a for writing: the
 * first byte, then the first byte of each page after it that the range
 * reaches. Out of line, so that nothing of it lives across sigsetjmp. */
static __attribute__((noinline)) void
touch_range(uintptr_t a, size_t len)
{
	uintptr_t end = a + len;

	for (uintptr_t b = a; b < end; b = (b | PAGE_MASK_LO) + 1)
		touch_for_write(b);
}

/* See hosted.h. */
int
ksp__user_writable(void *uptr, size_t len)
{
	struct recovery r, *outer;

	if (len == 0)
		return 0;
	/* Another process's memory cannot be touched from here. */
	if (uptr == NULL || ((uintptr_t)uptr & KSP_REMOTE_BIT) ||
	    !ksp__user_range_ok(uptr, len))
		return -KS_EFAULT;
	if (atomic_load_explicit(&install_state, memory_order_acquire) !=
	    INSTALLED)
		install_handlers();
	outer = recovery;
	page_range((uintptr_t)uptr, len, &r.lo, &r.hi);
	r.lo2 = r.hi2 = 0;
	r.in2 = false;
	if (sigsetjmp(r.env, 0) != 0) {
		recovery = outer;
		return -KS_EFAULT;
	}
	recovery = &r;
	atomic_signal_fence(memory_order_seq_cst);
	touch_range((uintptr_t)uptr, len);
	atomic_signal_fence(memory_order_seq_cst);
	recovery = outer;
	return 0;
}

/* See hosted.h. */
void
ksp__user_remote(int32_t pid)
{
	remote_pid = pid;
	remote_refused = false;
}

/* See hosted.h. */
bool
ksp__user_remote_end(void)
{
	bool refused = remote_refused;

	remote_pid = 0;
	remote_refused = false;
	return refused;
}

/* A copy whose user side is @user, in remote_pid's address space: to it
 * (@to) from @src, or from it to @dst. A copy that stops short met
 * memory that process cannot read or write there: -EFAULT, as a refusal
 * (the process gone, another's) is. */
static int
remote_copy(void *dst, const void *src, size_t len, uintptr_t user, bool to)
{
	struct iovec local, remote;
	ssize_t n;

	user &= ~KSP_REMOTE_BIT;
	if (remote_pid <= 0 || !ksp__user_range_ok((void *)user, len))
		return -KS_EFAULT;
	local.iov_base = to ? (void *)src : dst;
	local.iov_len = len;
	remote.iov_base = (void *)user;
	remote.iov_len = len;
	n = to ? process_vm_writev(remote_pid, &local, 1, &remote, 1, 0) :
		 process_vm_readv(remote_pid, &local, 1, &remote, 1, 0);
	if (n < 0 && (errno == EPERM || errno == ENOSYS))
		remote_refused = true;
	return n == (ssize_t)len ? 0 : -KS_EFAULT;
}

/* A copy whose user side is @user (the source or the destination). */
static int
user_copy(void *dst, const void *src, size_t len, const void *user)
{
	if (len == 0)
		return 0;
	if ((uintptr_t)user & KSP_REMOTE_BIT)
		return remote_copy(dst, src, len, (uintptr_t)user,
				   user == dst);
	if (user == NULL || !ksp__user_range_ok(user, len))
		return -KS_EFAULT;
	return guarded_copy(dst, src, len, (uintptr_t)user, 0);
}

/* See hosted.h. */
int
ksp__copy_from_user(void *dst, const void *usrc, size_t len)
{
	return user_copy(dst, usrc, len, usrc);
}

/* See hosted.h. */
int
ksp__copy_to_user(void *udst, const void *src, size_t len)
{
	return user_copy(udst, src, len, udst);
}

/* See hosted.h. */
int
ksp__copy_user_cross(void *udst, void *owner, const void *usrc, size_t len)
{
	(void)owner;
	if (len == 0)
		return 0;
	/* Another process's memory is never a blocked writer's here. */
	if ((uintptr_t)udst & KSP_REMOTE_BIT)
		return -KS_EFAULT;
	if ((uintptr_t)usrc & KSP_REMOTE_BIT)
		return -KS_EACCES;
	if (udst == NULL || !ksp__user_range_ok(udst, len))
		return -KS_EFAULT;
	if (usrc == NULL || !ksp__user_range_ok(usrc, len))
		return -KS_EACCES;
	return guarded_copy(udst, usrc, len, (uintptr_t)udst,
			    (uintptr_t)usrc);
}

/* -- fstat: the one socket call whose result is a host structure -- */

/* See hosted.h. */
void
ksp__sock_stat(struct ks_sock *so, uid_t uid, gid_t gid, struct stat *k)
{
	memset(k, 0, sizeof(*k));
	k->st_dev = KSP_SOCK_DEV;
	k->st_ino = (ino_t)ks_sock_id(so);
	k->st_mode = S_IFSOCK | 0777;
	k->st_nlink = 1;
	k->st_uid = uid;
	k->st_gid = gid;
	k->st_blksize = 4096;
}

/* See hosted.h. */
int
ksp__sys_fstat(struct ks_sock *so, uid_t uid, gid_t gid, struct stat *ust)
{
	struct stat k;

	ksp__sock_stat(so, uid, gid, &k);
	return ksp__copy_to_user(ust, &k, sizeof(k));
}

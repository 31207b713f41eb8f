/*
 * Hosted port: when a waiter should spin (port.h's keep_spinning), for
 * ksock's own waiters and for the poll loops of the hosted personality
 * and of the preload library.
 *
 * A wake-up that finds its waiter spinning costs no system call, which
 * is what makes ping-pong between two threads on two free CPUs fast. But
 * a spinner whose waker is not running burns a CPU for nothing, and when
 * the waker needs that very CPU (both threads on one CPU, or a machine
 * whose other CPUs are busy) the spin delays the event it waits for.
 * The policy:
 *
 *   - With one CPU allowed to this process (sched_getaffinity), the waker
 *     can only run when the waiter stops running. The waiter does not
 *     spin; it yields the CPU instead, up to SPIN_BUDGET_NS, so a waker
 *     that is runnable gets the CPU at the price of a sched_yield rather
 *     than of a futex wait, a futex wake and two context switches. With
 *     nothing else runnable the yield returns at once and the waiter
 *     parks when its budget is gone.
 *   - With more CPUs the waiter spins, but yields every SPIN_YIELD_NS, so
 *     a thread waiting for this CPU (the waker, or anybody's thread on a
 *     shared machine) gets it within microseconds instead of at the end
 *     of a time slice; the first yield comes after the wake-ups of a
 *     quiet machine have usually arrived.
 *   - Never longer than SPIN_BUDGET_NS in all, about what a park and
 *     unpark pair costs here, so spinning never costs much more than
 *     sleeping would.
 *   - But a yield can hand the CPU to another program for a whole time
 *     slice, and the waiter then sees its wake-up only when the scheduler
 *     gives the CPU back (a waker does not unpark a waiter that has not
 *     parked): with a busy loop on the same CPU, 64 KiB stream writes fell
 *     to 0.05x Linux. So when a yield keeps the thread off the CPU for
 *     more than SPIN_SLOW_YIELD_NS (longer than our own threads' hand-offs
 *     take, shorter than a time slice), the CPU is taken by somebody
 *     else: for the next SPIN_CONTENDED_NS that thread parks at once, and
 *     its wake-up comes through the scheduler's wake-up path, which may
 *     preempt the other program. (Spinning without yielding instead, the
 *     policy before, gave ping-pong at 5x Linux on the loaded machine;
 *     parking for 100 ms after such a yield lost the yield's gain on one
 *     shared CPU, 0.4x -> 1.1x Linux; 5 ms kept it.)
 *
 * The number of CPUs is read at most every SPIN_AFFINITY_NS (a system
 * call of about 0.3 us), so `taskset -p` on a running program is seen.
 *
 * Locks: none. The cache is two atomics; a race between two refreshes
 * stores the same answer twice.
 */
#include <sched.h>
#include <stdatomic.h>

#include "hosted.h"

/* The whole spin: about the cost of a park and unpark pair here. */
#define SPIN_BUDGET_NS		20000
/* How long a spinner on a multi-CPU host runs between two yields. */
#define SPIN_YIELD_NS		2000
/* How long the count of allowed CPUs is trusted. */
#define SPIN_AFFINITY_NS	100000000
/* A yield this long means another program ran (a time slice is 0.75 ms
 * or more; our own hand-offs take microseconds). */
#define SPIN_SLOW_YIELD_NS	200000
/* How long a thread that met such a yield parks at once. */
#define SPIN_CONTENDED_NS	5000000

static atomic_int cpus_cached;		/* [A] 0: not read yet */
static _Atomic int64_t cpus_read_at;	/* [A] when, monotonic ns */
/* Per thread: the spun_ns of the next yield; until when the CPU counts
 * as taken by another program. */
static _Thread_local int64_t next_yield;
static _Thread_local int64_t contended_until;

/* How many CPUs this process may run on (1 when it cannot be told). */
static int
allowed_cpus(int64_t now)
{
	int n = atomic_load_explicit(&cpus_cached, memory_order_relaxed);
	cpu_set_t set;

	if (n > 0 && now - atomic_load_explicit(&cpus_read_at,
						memory_order_relaxed) <
		     SPIN_AFFINITY_NS)
		return n;
	/* More CPUs than a cpu_set_t holds fail with EINVAL: many, then. */
	n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) :
	    CPU_SETSIZE;
	if (n < 1)
		n = 1;
	atomic_store_explicit(&cpus_cached, n, memory_order_relaxed);
	atomic_store_explicit(&cpus_read_at, now, memory_order_relaxed);
	return n;
}

/* Yields the CPU; a yield that lasted a time slice marks it taken. */
static void
yield_now(int64_t now)
{
	int64_t back;

	sched_yield();
	back = ksp__now();
	if (back - now > SPIN_SLOW_YIELD_NS)
		contended_until = back + SPIN_CONTENDED_NS;
}

/* See hosted.h: the keep_spinning hook of both Linux ports. */
bool
ksp__keep_spinning(int64_t spun_ns)
{
	int64_t now = ksp__now();

	if (spun_ns == 0)
		next_yield = SPIN_YIELD_NS;
	if (spun_ns >= SPIN_BUDGET_NS)
		return false;
	if (now < contended_until)
		return false;
	if (allowed_cpus(now) == 1) {
		yield_now(now);
		return true;
	}
	if (spun_ns >= next_yield) {
		yield_now(now);
		next_yield = spun_ns + SPIN_YIELD_NS;
	}
	return true;
}

/* Relax instructions between two questions to the policy: a few hundred
 * nanoseconds, so a yield inside it comes often and the clock is read
 * rarely. */
#define SPIN_CHECK	16

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* See hosted.h. */
bool
ksp__spin_until(bool (*done)(void *arg), void *arg, int64_t deadline)
{
	int64_t start = ksp__now(), now = start;

	for (unsigned i = 0;; i++) {
		if (done(arg))
			return true;
		if (i % SPIN_CHECK == 0) {
			if (i > 0)
				now = ksp__now();
			if ((deadline >= 0 && now >= deadline) ||
			    !ksp__keep_spinning(now - start))
				return done(arg);
		}
		cpu_relax();
	}
}

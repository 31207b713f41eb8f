/*
 * Hosted port: thread records, park and unpark, the monotonic clock, and
 * the other hooks both Linux ports implement alike (mutexes, randomness,
 * user-memory copies).
 *
 * Shared by the hosted port (port.c) and the preload port
 * (port/preload/): both park threads on one futex word per thread.
 * unpark() sets the word to 1 and wakes; park() consumes it or sleeps on
 * it with an absolute monotonic deadline (FUTEX_WAIT_BITSET), and returns
 * -KS_EINTR when a signal handler ran on the thread. The kernel decides
 * that as it would for a blocking call: a wait without a deadline is
 * restarted transparently after a handler installed with SA_RESTART
 * (-ERESTARTSYS), and one with a deadline is not (-ERESTART_RESTARTBLOCK),
 * which is what Linux does for a socket call with and without
 * SO_RCVTIMEO / SO_SNDTIMEO.
 *
 * Locks: the thread pool lock guards the free list of thread records; it
 * is a leaf.
 */
#include <assert.h>
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "hosted.h"

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ksp_thread *pool_free;	/* [pool_lock] */
static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;
static _Thread_local struct ksp_thread *thread_self;

/* Thread exit: the record goes back to the pool, never to free(). */
static void
thread_release(void *p)
{
	struct ksp_thread *t = p;

	thread_self = NULL;
	t->proc = NULL;
	pthread_mutex_lock(&pool_lock);
	t->next_free = pool_free;
	pool_free = t;
	pthread_mutex_unlock(&pool_lock);
}

static void
thread_key_create(void)
{
	if (pthread_key_create(&thread_key, thread_release) != 0)
		abort();
}

/* See hosted.h. Runs in the child's only thread; its own record stays. */
void
ksp__thread_fork_child(void)
{
	pthread_mutex_init(&pool_lock, NULL);
	pool_free = NULL;
}

/*
 * The calling thread's record, created on first use and released when
 * the thread exits. Aborts when out of memory (thread_self cannot fail).
 */
struct ksp_thread *
ksp__thread(void)
{
	struct ksp_thread *t = thread_self;

	if (t != NULL)
		return t;
	pthread_once(&thread_key_once, thread_key_create);
	pthread_mutex_lock(&pool_lock);
	t = pool_free;
	if (t != NULL)
		pool_free = t->next_free;
	pthread_mutex_unlock(&pool_lock);
	if (t == NULL) {
		t = calloc(1, sizeof(*t));
		if (t == NULL)
			abort();
	}
	atomic_store(&t->word, 0);
	atomic_store(&t->interrupted, false);
	atomic_store(&t->poll_efd, -1);
	t->proc = NULL;
	t->next_free = NULL;
	pthread_setspecific(thread_key, t);
	thread_self = t;
	return t;
}

/* Monotonic nanoseconds. */
int64_t
ksp__now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static long
futex_wait(_Atomic uint32_t *word, uint32_t val, const struct timespec *abs)
{
	/* Without FUTEX_CLOCK_REALTIME the absolute time is CLOCK_MONOTONIC. */
	return syscall(SYS_futex, (uint32_t *)word,
		       FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val, abs, NULL,
		       FUTEX_BITSET_MATCH_ANY);
}

/*
 * Sleeps until unparked, @deadline_ns (monotonic, -1: none), a signal
 * handler running on this thread, or ksp_interrupt(). Returns 0,
 * -KS_ETIMEDOUT or -KS_EINTR.
 *
 * Known gap: a handler that runs while the thread is in ksock but not yet
 * in the futex wait goes unseen (the kernel would see the pending signal
 * at its next sleep); the wait then ends at its deadline or wake-up.
 */
int
ksp__park(int64_t deadline_ns)
{
	struct ksp_thread *t = ksp__thread();
	struct timespec ts;

	for (;;) {
		if (atomic_exchange(&t->word, 0) != 0)
			return 0;
		if (atomic_exchange(&t->interrupted, false))
			return -KS_EINTR;
		if (deadline_ns >= 0) {
			if (ksp__now() >= deadline_ns)
				return -KS_ETIMEDOUT;
			ts.tv_sec = deadline_ns / 1000000000;
			ts.tv_nsec = deadline_ns % 1000000000;
		}
		if (futex_wait(&t->word, 0, deadline_ns >= 0 ? &ts : NULL) < 0 &&
		    errno == EINTR)
			return -KS_EINTR;
		/* Woken, timed out or the word changed: look again. */
	}
}

/* Wakes @t from park(), or makes its next park() return at once. */
void
ksp__unpark(struct ksp_thread *t)
{
	if (atomic_exchange(&t->word, 1) == 0)
		syscall(SYS_futex, (uint32_t *)&t->word,
			FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL, NULL, 0);
}


/* -- hooks both ports share -- */

static_assert(sizeof(pthread_mutex_t) <= sizeof(struct ks_mutex),
	      "pthread_mutex_t must fit in struct ks_mutex");
static_assert(_Alignof(pthread_mutex_t) <= _Alignof(struct ks_mutex),
	      "struct ks_mutex must be aligned for pthread_mutex_t");

static pthread_mutex_t *
as_pthread(struct ks_mutex *m)
{
	return (pthread_mutex_t *)(void *)m->opaque;
}

/* See hosted.h: port.h's mutex hooks over pthread mutexes. */
void
ksp__mutex_init(struct ks_mutex *m)
{
	pthread_mutex_init(as_pthread(m), NULL);
}

void
ksp__mutex_destroy(struct ks_mutex *m)
{
	pthread_mutex_destroy(as_pthread(m));
}

void
ksp__mutex_lock(struct ks_mutex *m)
{
	pthread_mutex_lock(as_pthread(m));
}

void
ksp__mutex_unlock(struct ks_mutex *m)
{
	pthread_mutex_unlock(as_pthread(m));
}

/* See hosted.h: port.h's thread_self and unpark. */
void *
ksp__thread_self(void)
{
	return ksp__thread();
}

void
ksp__thread_unpark(void *thread)
{
	ksp__unpark(thread);
}

/*
 * See hosted.h: port.h's park_word and unpark_word on a futex. The
 * hosted and preload ports keep their per-thread tokens (flags 0), so
 * ksock calls these only on a copy of the port that sets
 * KS_PORT_PARK_WORD (the unit tests do, to run the kernel's way of
 * waiting). ksp_interrupt() does not reach a thread sleeping here.
 */
int
ksp__park_word(const void *word, int val, int64_t deadline_ns)
{
	const _Atomic uint32_t *w = word;
	struct timespec ts;

	if (atomic_load(w) != (uint32_t)val)
		return 0;
	if (deadline_ns >= 0) {
		if (ksp__now() >= deadline_ns)
			return -KS_ETIMEDOUT;
		ts.tv_sec = deadline_ns / 1000000000;
		ts.tv_nsec = deadline_ns % 1000000000;
	}
	if (futex_wait((_Atomic uint32_t *)w, (uint32_t)val,
		       deadline_ns >= 0 ? &ts : NULL) < 0) {
		if (errno == EINTR)
			return -KS_EINTR;
		if (errno == ETIMEDOUT)
			return -KS_ETIMEDOUT;
	}
	return 0;
}

void
ksp__unpark_word(const void *word)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG,
		INT32_MAX, NULL, NULL, 0);
}

/* See hosted.h. getrandom() without flags blocks only until the kernel's
 * pool is first seeded, and a short read is simply continued. */
void
ksp__random(void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			abort();
		}
		p += n;
		len -= (size_t)n;
	}
}

/*
 * See hosted.h: user memory is the caller's own address space, so a copy
 * is memcpy. Only NULL is recognised as a bad pointer; any other bad
 * address faults in memcpy, as it would in the program itself.
 */
int
ksp__copy_from_user(void *dst, const void *usrc, size_t len)
{
	if (len == 0)
		return 0;
	if (usrc == NULL)
		return -KS_EFAULT;
	memcpy(dst, usrc, len);
	return 0;
}

int
ksp__copy_to_user(void *udst, const void *src, size_t len)
{
	if (len == 0)
		return 0;
	if (udst == NULL)
		return -KS_EFAULT;
	memcpy(udst, src, len);
	return 0;
}

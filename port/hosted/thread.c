/*
 * Hosted port: thread records, park and unpark, the monotonic clock, and
 * the other hooks both Linux ports implement alike (mutexes, randomness,
 * the real-time clock, groups, network devices; the user-memory copies
 * are in usercopy.c).
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
#include <grp.h>
#include <linux/futex.h>
#include <net/if.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
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

static void pins_fork_child(void);

/* See hosted.h. Runs in the child's only thread; its own record stays. */
void
ksp__thread_fork_child(void)
{
	pthread_mutex_init(&pool_lock, NULL);
	pool_free = NULL;
	pins_fork_child();
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
 * -- pinned socket nodes --
 *
 * Both ports pin a socket node they created (port.h, node_release) by
 * holding an O_PATH descriptor of it: an unlinked inode stays allocated
 * while a descriptor refers to it, so the filesystem cannot hand its
 * number to another node. port.h gives node_release() only the key, so
 * the descriptors are found in a table keyed by (st_dev, st_ino); keys of
 * pinned nodes are unique, which is the point of pinning them.
 *
 * The descriptors sit high in the number space: the preload library
 * shares it with the program, which expects its own numbers to come out
 * lowest-first as if these did not exist. They count against
 * RLIMIT_NOFILE. All calls are raw system calls, which the preload
 * library does not interpose.
 *
 * Locks: pins.lock guards the table; a leaf.
 */

/* Buckets to start with; the table doubles when it holds more entries. */
#define PIN_MIN_BUCKETS	64
/* Pins go this far below the descriptor limit, or above half of it, but
 * no higher than PIN_BASE_MAX: the kernel sizes a process's descriptor
 * table (and fork copies it) by the highest number in use. */
#define PIN_TOP_ROOM	256
#define PIN_BASE_MAX	4096

struct pin {
	struct ks_node_key	 key;
	int			 fd;
	struct pin		*next;
};

static struct {
	pthread_mutex_t	 lock;
	struct pin	**bucket;	/* [pins.lock] */
	size_t		 nbuckets;	/* [pins.lock] a power of two, or 0 */
	size_t		 count;		/* [pins.lock] */
} pins = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t
pin_hash(const struct ks_node_key *key, size_t nbuckets)
{
	uint64_t h = (key->a * 0x9e3779b97f4a7c15u) ^ key->b;

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9u;
	h ^= h >> 32;
	return (size_t)h & (nbuckets - 1);
}

/* Doubles the table (or makes the first one). A failure leaves longer
 * chains, not a failure. Pins lock held. */
static void
pins_grow_locked(void)
{
	size_t n = pins.nbuckets != 0 ? 2 * pins.nbuckets : PIN_MIN_BUCKETS;
	struct pin **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return;
	for (size_t i = 0; i < pins.nbuckets; i++) {
		struct pin *p = pins.bucket[i], *next;

		for (; p != NULL; p = next) {
			size_t h = pin_hash(&p->key, n);

			next = p->next;
			p->next = b[h];
			b[h] = p;
		}
	}
	free(pins.bucket);
	pins.bucket = b;
	pins.nbuckets = n;
}

/* @fd moved to a high number, close-on-exec (and @fd closed); @fd itself
 * when no high number is free. */
static int
pin_fd_high(int fd)
{
	struct rlimit rl;
	long lim, nfd = -1;

	if (syscall(SYS_prlimit64, 0L, (long)RLIMIT_NOFILE, NULL, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (1u << 20))
		lim = (long)rl.rlim_cur;
	else
		lim = 1 << 20;	/* Linux's default fs.nr_open */
	if (lim > 2 * PIN_TOP_ROOM)
		nfd = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC,
			      lim - PIN_TOP_ROOM < PIN_BASE_MAX ?
			      lim - PIN_TOP_ROOM : (long)PIN_BASE_MAX);
	if (nfd < 0)
		nfd = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, lim / 2);
	if (nfd < 0)
		return fd;	/* a low number beats no pin at all */
	syscall(SYS_close, (long)fd);
	return (int)nfd;
}

/* See hosted.h. */
int
ksp__node_pin(int fd, struct ks_node_key *key)
{
	struct stat st;
	struct pin *p;
	int err;

	fd = pin_fd_high(fd);
	if (syscall(SYS_fstat, (long)fd, &st) < 0) {
		err = -errno;
		goto close_fd;
	}
	p = malloc(sizeof(*p));
	if (p == NULL) {
		err = -KS_ENOMEM;
		goto close_fd;
	}
	p->key.a = (uint64_t)st.st_dev;
	p->key.b = (uint64_t)st.st_ino;
	p->fd = fd;
	pthread_mutex_lock(&pins.lock);
	if (pins.count >= pins.nbuckets)
		pins_grow_locked();
	if (pins.nbuckets == 0) {
		pthread_mutex_unlock(&pins.lock);
		free(p);
		err = -KS_ENOMEM;
		goto close_fd;
	}
	size_t h = pin_hash(&p->key, pins.nbuckets);
	p->next = pins.bucket[h];
	pins.bucket[h] = p;
	pins.count++;
	pthread_mutex_unlock(&pins.lock);
	*key = p->key;
	return 0;

close_fd:
	syscall(SYS_close, (long)fd);
	return err;
}

/* See hosted.h: port.h's node_release. */
void
ksp__node_release(const struct ks_node_key *key)
{
	struct pin **pp, *p = NULL;
	struct stat st;

	pthread_mutex_lock(&pins.lock);
	if (pins.nbuckets != 0) {
		pp = &pins.bucket[pin_hash(key, pins.nbuckets)];
		for (; *pp != NULL; pp = &(*pp)->next) {
			if ((*pp)->key.a == key->a && (*pp)->key.b == key->b) {
				p = *pp;
				*pp = p->next;
				pins.count--;
				break;
			}
		}
	}
	pthread_mutex_unlock(&pins.lock);
	if (p == NULL)
		return;
	/* A program can close a number it never opened (closefrom) and
	 * get it back for a file of its own: close only our node. */
	if (syscall(SYS_fstat, (long)p->fd, &st) == 0 &&
	    (uint64_t)st.st_dev == key->a && (uint64_t)st.st_ino == key->b)
		syscall(SYS_close, (long)p->fd);
	free(p);
}

/* In a forked child: the parent's pins are dropped when the table was
 * consistent at the fork; either way the table starts empty. */
static void
pins_fork_child(void)
{
	if (pthread_mutex_trylock(&pins.lock) == 0) {
		for (size_t i = 0; i < pins.nbuckets; i++) {
			struct pin *p = pins.bucket[i], *next;

			for (; p != NULL; p = next) {
				next = p->next;
				syscall(SYS_close, (long)p->fd);
				free(p);
			}
		}
		free(pins.bucket);
	}
	pthread_mutex_init(&pins.lock, NULL);
	pins.bucket = NULL;
	pins.nbuckets = 0;
	pins.count = 0;
}

/*
 * -- network namespaces --
 *
 * port.h's netns key is the namespace's cookie (SO_NETNS_COOKIE of a
 * socket made in it, Linux 5.14 and later), which the kernel never gives
 * to another namespace, so a socket may outlive its namespace without its
 * names ever showing up in a new one. Older kernels give the inode number
 * of /proc/thread-self/ns/net instead, which a later namespace can reuse
 * once the first one is gone.
 *
 * Linux keeps the namespace per thread, and so does the cache: a thread
 * asks the kernel once, and again only after the epoch moved, which
 * ksp__netns_changed() does when the program calls unshare or setns.
 */

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE	71
#endif
#define NETNS_PATH	"/proc/thread-self/ns/net"

static atomic_uint netns_epoch = 1;	/* 0: never cached */
static _Thread_local uint64_t netns_cached;
static _Thread_local unsigned netns_cached_epoch;

/* The calling thread's namespace key, asked of the kernel (raw calls:
 * the preload library must not make a ksock socket here). 0 when the
 * kernel cannot tell: every socket then shares one namespace. */
static uint64_t
netns_query(void)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	struct stat st;
	long fd;

	fd = syscall(SYS_socket, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		long r = syscall(SYS_getsockopt, fd, SOL_SOCKET,
				 SO_NETNS_COOKIE, &cookie, &len);

		syscall(SYS_close, fd);
		if (r == 0 && len == sizeof(cookie))
			return cookie;
	}
	if (syscall(SYS_newfstatat, AT_FDCWD, NETNS_PATH, &st, 0) == 0)
		return (uint64_t)st.st_ino;
	return 0;
}

/* See hosted.h: port.h's netns for both ports. */
uint64_t
ksp__netns(void)
{
	/* A forked one's ids are the real process's: only a ksockd
	 * client's are set. */
	struct ksp_proc *p = ksp__thread()->proc;
	unsigned epoch = atomic_load_explicit(&netns_epoch,
					      memory_order_relaxed);

	if (p != NULL && p->netns != 0)
		return p->netns;
	if (netns_cached_epoch != epoch) {
		netns_cached = netns_query();
		netns_cached_epoch = epoch;
	}
	return netns_cached;
}

/* See hosted.h. */
void
ksp__netns_changed(void)
{
	unsigned e = atomic_fetch_add(&netns_epoch, 1) + 1;

	/* Skip 0, which means "never cached". */
	if (e == 0)
		atomic_fetch_add(&netns_epoch, 1);
}

/* See hosted.h. Both ports' descriptor layers call
 * ks_sock_file_dropped() for every drop that leaves a file open. */
bool
ksp__file_drops_reported(void)
{
	return true;
}

/* See hosted.h. */
int64_t
ksp__realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* See hosted.h. Simulated processes share the real process's groups, as
 * threads share them on Linux; a ksockd client has its own. */
unsigned
ksp__groups(uint32_t *gids, unsigned max)
{
	struct ksp_proc *p = ksp__thread()->proc;
	int n;

	if (p != NULL && p->groups != NULL) {
		/* @max 0 only counts: @gids may be NULL then. */
		if (p->ngroups > 0 && p->ngroups <= max)
			memcpy(gids, p->groups, p->ngroups * sizeof(*gids));
		return p->ngroups;
	}
	n = getgroups(0, NULL);

	if (n <= 0)
		return 0;
	if ((unsigned)n <= max)
		n = getgroups(n, (gid_t *)gids);
	_Static_assert(sizeof(gid_t) == sizeof(uint32_t), "gid_t");
	return n < 0 ? 0 : (unsigned)n;
}

/* See hosted.h. */
int
ksp__netdev_index(const char *name)
{
	unsigned index = if_nametoindex(name);

	return index > 0 && index <= INT32_MAX ? (int)index : -KS_ENODEV;
}

/*
 * Hosted port: open files and descriptor tables.
 *
 * A struct ksp_file is refcounted with an atomic counter; every descriptor
 * slot that points at it holds one reference, and so does every message in
 * flight that carries it (through the port's file_hold). The last
 * reference closes what is behind it: ks_close() for a socket, close(2)
 * for a host descriptor. That happens outside every table lock.
 *
 * A descriptor table is an array of slots under one mutex (fdt->lock).
 * Descriptors are allocated lowest-free-first, as on Linux, and bounded by
 * the RLIMIT_NOFILE soft limit (EMFILE). A slot may be "reserved" between
 * the start and the end of an accept, as Linux reserves the number before
 * it waits. No ksock function is called with a table lock held.
 *
 * Finding the lowest free slot costs the same with ten descriptors open
 * or a million: as Linux's fdtable, a bitmap has a bit per slot that is
 * taken (a file or a reservation), and a second bitmap a bit per word of
 * the first that is all ones, so a search skips 4096 taken slots per
 * word it reads. The table doubles when it grows.
 *
 * The limit is cached (getrlimit is a system call of about 0.4 us here,
 * and was made on every allocation and every poll): a number below the
 * cached limit is allowed at once; one at or above it re-reads the limit
 * first, so a raised limit is seen at once. A limit lowered through
 * ksp_setrlimit() is seen at once too; one lowered behind the
 * personality's back (libc's setrlimit) within FD_LIMIT_TTL_NS.
 *
 * The personality's own structures use malloc directly, not the port's
 * accounted allocator: ksp_alloc_* count ksock's allocations only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ksock/posix.h>

#include "hosted.h"

/* The first table holds this many slots; each growth doubles it. */
#define FDT_MIN		64
/* Bits per bitmap word. */
#define FDT_BITS	64
/* How long a cached RLIMIT_NOFILE is trusted for numbers below it. */
#define FD_LIMIT_TTL_NS	(50 * 1000 * 1000)

static struct ksp_file *
file_new(struct ks_sock *so, int hostfd)
{
	struct ksp_file *f = malloc(sizeof(*f));

	if (f == NULL)
		return NULL;
	atomic_init(&f->refs, 1);
	atomic_init(&f->fl, 0);
	atomic_init(&f->sig, 0);
	f->so = so;
	f->hostfd = hostfd;
	f->drop = NULL;
	f->priv = NULL;
	return f;
}

/* A new file holding the caller's reference to @so; NULL when out of memory. */
struct ksp_file *
ksp__file_new_sock(struct ks_sock *so)
{
	return file_new(so, -1);
}

/* Files made by ksp__file_new_host and not yet closed by
 * ksp__file_put (one freed otherwise stays counted). */
static atomic_long host_files;	/* [A] */

/* A new file owning the real descriptor @hostfd; NULL when out of memory. */
struct ksp_file *
ksp__file_new_host(int hostfd)
{
	struct ksp_file *f = file_new(NULL, hostfd);

	if (f != NULL)
		atomic_fetch_add(&host_files, 1);
	return f;
}

/* See hosted.h. */
long
ksp__host_files(void)
{
	return atomic_load(&host_files);
}

/*
 * A new host file whose descriptor is not in this process yet (hostfd
 * -1): its owner sets hostfd when it fetches it, and the last reference
 * calls @drop(f), which closes hostfd if set and lets go of @priv,
 * instead of close(). NULL when out of memory.
 */
struct ksp_file *
ksp__file_new_parked(void (*drop)(struct ksp_file *f), void *priv)
{
	struct ksp_file *f = file_new(NULL, -1);

	if (f == NULL)
		return NULL;
	f->drop = drop;
	f->priv = priv;
	atomic_fetch_add(&host_files, 1);
	return f;
}

/* Takes one more reference to @f. */
void
ksp__file_hold(struct ksp_file *f)
{
	atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

/*
 * Drops a reference to @f; the last one closes the socket (ks_close) or
 * the host descriptor and frees @f. Call with no lock held.
 */
void
ksp__file_put(struct ksp_file *f)
{
	struct ks_sock *so;
	long left;

	if (f == NULL)
		return;
	so = f->so;
	/* Another thread may drop the last reference and close the socket
	 * as soon as ours is gone: hold the socket across the notice. */
	if (so != NULL)
		ks_sock_hold(so);
	left = atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) - 1;
	if (left > 0) {
		/* The collector frees a cycle in flight when this was the
		 * last reference from outside it. */
		if (so != NULL) {
			ks_sock_file_dropped(so, left);
			ks_sock_release(so);
		}
		return;
	}
	if (so != NULL)
		ks_sock_release(so);
	if (f->so != NULL) {
		ks_close(f->so);
	} else {
		if (f->drop != NULL)
			f->drop(f);
		else
			close(f->hostfd);
		atomic_fetch_sub(&host_files, 1);
	}
	free(f);
}

static atomic_int fd_limit_cached;		/* [A] 0: not read yet */
static _Atomic int64_t fd_limit_read_at;	/* [A] monotonic ns */

/* Reads RLIMIT_NOFILE's soft limit into the cache and returns it. */
static int
fd_limit_read(void)
{
	struct rlimit rl;
	int limit;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > INT32_MAX)
		limit = INT32_MAX;
	else
		limit = (int)rl.rlim_cur;
	atomic_store_explicit(&fd_limit_cached, limit, memory_order_relaxed);
	atomic_store_explicit(&fd_limit_read_at, ksp__now(),
			      memory_order_relaxed);
	return limit;
}

/* The RLIMIT_NOFILE soft limit: descriptors are numbered below it. May be
 * up to FD_LIMIT_TTL_NS old; ksp__fd_below_limit() is exact. */
int
ksp__fd_limit(void)
{
	int limit = atomic_load_explicit(&fd_limit_cached,
					 memory_order_relaxed);

	if (limit == 0 || ksp__now() - atomic_load_explicit(&fd_limit_read_at,
			memory_order_relaxed) >= FD_LIMIT_TTL_NS)
		return fd_limit_read();
	return limit;
}

/* Whether @n is below the limit; a "no" from the cache is re-read. */
bool
ksp__fd_below_limit(long n)
{
	return n < ksp__fd_limit() || n < fd_limit_read();
}

/* See posix.h: setrlimit(2) that also refreshes the cached limit. */
int
ksp_setrlimit(int resource, const struct rlimit *rl)
{
	int r = setrlimit((__rlimit_resource_t)resource, rl);

	if (r == 0 && resource == RLIMIT_NOFILE)
		fd_limit_read();
	return r;
}

/* Looks @fd up and takes a reference to its file. Returns 0 or -EBADF. */
int
ksp__fd_get(struct ksp_fdtable *t, int fd, struct ksp_file **out)
{
	int err = -EBADF;

	pthread_mutex_lock(&t->lock);
	if (fd >= 0 && fd < t->cap && t->ent[fd].file != NULL) {
		*out = t->ent[fd].file;
		ksp__file_hold(*out);
		err = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}

/* Words of a bitmap with a bit for each of @n things. */
static size_t
bitmap_words(size_t n)
{
	return (n + FDT_BITS - 1) / FDT_BITS;
}

static uint64_t
bit(size_t i)
{
	return (uint64_t)1 << (i % FDT_BITS);
}

/* Records that slot @fd holds a file or a reservation. */
static void
slot_take_locked(struct ksp_fdtable *t, int fd)
{
	size_t w = (size_t)fd / FDT_BITS;

	t->used[w] |= bit((size_t)fd);
	if (t->used[w] == ~(uint64_t)0)
		t->full[w / FDT_BITS] |= bit(w);
}

/* Records that slot @fd is free. */
static void
slot_free_locked(struct ksp_fdtable *t, int fd)
{
	size_t w = (size_t)fd / FDT_BITS;

	t->used[w] &= ~bit((size_t)fd);
	t->full[w / FDT_BITS] &= ~bit(w);
}

/*
 * The lowest free slot >= @minfd (>= 0): in the table, or t->cap (or
 * @minfd) when every slot from there on is taken.
 */
static int
fdt_find_free_locked(const struct ksp_fdtable *t, int minfd)
{
	size_t nwords = bitmap_words((size_t)t->cap), w, fw;
	uint64_t free_bits;

	if (minfd >= t->cap)
		return minfd;
	w = (size_t)minfd / FDT_BITS;
	free_bits = ~t->used[w] & (~(uint64_t)0 << (minfd % FDT_BITS));
	if (free_bits != 0)
		return (int)(w * FDT_BITS + (size_t)__builtin_ctzll(free_bits));
	/* The next word that is not full, from the second-level bitmap. */
	for (w++; w < nwords; w = (fw + 1) * FDT_BITS) {
		fw = w / FDT_BITS;
		free_bits = ~t->full[fw] & (~(uint64_t)0 << (w % FDT_BITS));
		if (free_bits == 0)
			continue;
		w = fw * FDT_BITS + (size_t)__builtin_ctzll(free_bits);
		if (w >= nwords)
			break;
		return (int)(w * FDT_BITS +
			     (size_t)__builtin_ctzll(~t->used[w]));
	}
	return t->cap;
}

/* Makes room for slot @fd, doubling the table. Returns 0 or -ENOMEM. */
static int
fdt_grow_locked(struct ksp_fdtable *t, int fd)
{
	size_t cap = t->cap > 0 ? (size_t)t->cap : FDT_MIN;
	size_t ow = bitmap_words((size_t)t->cap), nw;
	size_t ofw = bitmap_words(ow), nfw;
	struct ksp_fdent *ent;
	uint64_t *used, *full;

	if (fd < t->cap)
		return 0;
	while (cap <= (size_t)fd)
		cap *= 2;
	if (cap > (size_t)INT32_MAX)
		cap = (size_t)INT32_MAX;
	nw = bitmap_words(cap);
	nfw = bitmap_words(nw);
	ent = realloc(t->ent, cap * sizeof(*ent));
	if (ent == NULL)
		return -ENOMEM;
	t->ent = ent;
	used = realloc(t->used, nw * sizeof(*used));
	if (used == NULL)
		return -ENOMEM;
	t->used = used;
	full = realloc(t->full, nfw * sizeof(*full));
	if (full == NULL)
		return -ENOMEM;
	t->full = full;
	memset(ent + t->cap, 0, (cap - (size_t)t->cap) * sizeof(*ent));
	memset(used + ow, 0, (nw - ow) * sizeof(*used));
	memset(full + ofw, 0, (nfw - ofw) * sizeof(*full));
	t->cap = (int)cap;
	return 0;
}

/* The lowest free slot >= @minfd, grown into and taken; or -EMFILE /
 * -ENOMEM. */
static int
fdt_alloc_locked(struct ksp_fdtable *t, int minfd)
{
	int fd = fdt_find_free_locked(t, minfd), err;

	if (!ksp__fd_below_limit(fd))
		return -EMFILE;
	err = fdt_grow_locked(t, fd);
	if (err < 0)
		return err;
	slot_take_locked(t, fd);
	return fd;
}

/*
 * Installs @f at the lowest free descriptor >= @minfd, taking a reference
 * of its own. Returns the descriptor, -EMFILE or -ENOMEM.
 */
int
ksp__fd_install(struct ksp_fdtable *t, struct ksp_file *f, bool cloexec,
		int minfd)
{
	int fd;

	pthread_mutex_lock(&t->lock);
	fd = fdt_alloc_locked(t, minfd);
	if (fd >= 0) {
		ksp__file_hold(f);
		t->ent[fd].file = f;
		t->ent[fd].cloexec = cloexec;
		t->count++;
	}
	pthread_mutex_unlock(&t->lock);
	return fd;
}

/* Reserves the lowest free descriptor. Returns it, -EMFILE or -ENOMEM. */
int
ksp__fd_reserve(struct ksp_fdtable *t)
{
	int fd;

	pthread_mutex_lock(&t->lock);
	fd = fdt_alloc_locked(t, 0);
	if (fd >= 0)
		t->ent[fd].reserved = true;
	pthread_mutex_unlock(&t->lock);
	return fd;
}

/* Fills the reserved slot @fd with @f, taking a reference of its own. */
void
ksp__fd_commit(struct ksp_fdtable *t, int fd, struct ksp_file *f, bool cloexec)
{
	pthread_mutex_lock(&t->lock);
	/* The table was emptied meanwhile (process exit): leave it empty. */
	if (fd >= t->cap || !t->ent[fd].reserved) {
		pthread_mutex_unlock(&t->lock);
		return;
	}
	ksp__file_hold(f);
	t->ent[fd].reserved = false;
	t->ent[fd].file = f;
	t->ent[fd].cloexec = cloexec;
	t->count++;
	pthread_mutex_unlock(&t->lock);
}

/* Gives the reserved slot @fd back. */
void
ksp__fd_unreserve(struct ksp_fdtable *t, int fd)
{
	pthread_mutex_lock(&t->lock);
	if (fd < t->cap && t->ent[fd].reserved) {
		t->ent[fd].reserved = false;
		slot_free_locked(t, fd);
	}
	pthread_mutex_unlock(&t->lock);
}

/* Removes @fd and drops its reference. Returns 0 or -EBADF. */
int
ksp__fd_close(struct ksp_fdtable *t, int fd)
{
	struct ksp_file *f = NULL;

	pthread_mutex_lock(&t->lock);
	if (fd >= 0 && fd < t->cap && t->ent[fd].file != NULL) {
		f = t->ent[fd].file;
		t->ent[fd].file = NULL;
		t->ent[fd].cloexec = false;
		slot_free_locked(t, fd);
		t->count--;
	}
	pthread_mutex_unlock(&t->lock);
	if (f == NULL)
		return -EBADF;
	ksp__file_put(f);
	return 0;
}

/*
 * Makes @newfd refer to @oldfd's file (dup2/dup3 after their argument
 * checks), closing what @newfd held. Returns @newfd, -EBADF, -EBUSY (the
 * slot is being filled by an accept) or -ENOMEM.
 */
int
ksp__fd_dup3(struct ksp_fdtable *t, int oldfd, int newfd, bool cloexec)
{
	struct ksp_file *old = NULL, *f;
	int err;

	if (newfd < 0 || !ksp__fd_below_limit(newfd))
		return -EBADF;
	pthread_mutex_lock(&t->lock);
	if (oldfd < 0 || oldfd >= t->cap || t->ent[oldfd].file == NULL) {
		err = -EBADF;
		goto unlock;
	}
	err = fdt_grow_locked(t, newfd);
	if (err < 0)
		goto unlock;
	if (t->ent[newfd].reserved) {
		err = -EBUSY;
		goto unlock;
	}
	f = t->ent[oldfd].file;
	ksp__file_hold(f);
	old = t->ent[newfd].file;
	if (old == NULL) {
		slot_take_locked(t, newfd);
		t->count++;
	}
	t->ent[newfd].file = f;
	t->ent[newfd].cloexec = cloexec;
	err = newfd;
unlock:
	pthread_mutex_unlock(&t->lock);
	ksp__file_put(old);
	return err;
}

/* FD_CLOEXEC of @fd (0 or 1), or -EBADF. */
int
ksp__fd_get_cloexec(struct ksp_fdtable *t, int fd)
{
	int r = -EBADF;

	pthread_mutex_lock(&t->lock);
	if (fd >= 0 && fd < t->cap && t->ent[fd].file != NULL)
		r = t->ent[fd].cloexec ? 1 : 0;
	pthread_mutex_unlock(&t->lock);
	return r;
}

/* Sets FD_CLOEXEC of @fd. Returns 0 or -EBADF. */
int
ksp__fd_set_cloexec(struct ksp_fdtable *t, int fd, bool on)
{
	int r = -EBADF;

	pthread_mutex_lock(&t->lock);
	if (fd >= 0 && fd < t->cap && t->ent[fd].file != NULL) {
		t->ent[fd].cloexec = on;
		r = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

/* An empty table. Returns 0 or -errno. */
int
ksp__fdtable_init(struct ksp_fdtable *t)
{
	int err = pthread_mutex_init(&t->lock, NULL);

	if (err != 0)
		return -err;
	t->ent = NULL;
	t->used = NULL;
	t->full = NULL;
	t->cap = 0;
	t->count = 0;
	return 0;
}

/*
 * Fills the empty table @dst with the descriptors of @src, sharing their
 * files (fork). Returns 0 or -ENOMEM.
 */
int
ksp__fdtable_copy(struct ksp_fdtable *dst, struct ksp_fdtable *src)
{
	int err = 0;

	pthread_mutex_lock(&src->lock);
	if (src->cap > 0) {
		err = fdt_grow_locked(dst, src->cap - 1);
		if (err < 0)
			goto unlock;
	}
	/* Reservations (accepts in progress) stay the parent's. */
	for (int fd = 0; fd < src->cap; fd++) {
		struct ksp_file *f = src->ent[fd].file;

		if (f == NULL)
			continue;
		ksp__file_hold(f);
		dst->ent[fd].file = f;
		dst->ent[fd].cloexec = src->ent[fd].cloexec;
		slot_take_locked(dst, fd);
		dst->count++;
	}
unlock:
	pthread_mutex_unlock(&src->lock);
	return err;
}

/* Closes every descriptor of @t (process exit); the table stays usable. */
void
ksp__fdtable_close_all(struct ksp_fdtable *t)
{
	struct ksp_fdent *ent;
	int cap;

	pthread_mutex_lock(&t->lock);
	ent = t->ent;
	cap = t->cap;
	free(t->used);
	free(t->full);
	t->ent = NULL;
	t->used = NULL;
	t->full = NULL;
	t->cap = 0;
	t->count = 0;
	pthread_mutex_unlock(&t->lock);
	for (int fd = 0; fd < cap; fd++)
		ksp__file_put(ent[fd].file);
	free(ent);
}

/* Frees an empty table. */
void
ksp__fdtable_destroy(struct ksp_fdtable *t)
{
	ksp__fdtable_close_all(t);
	pthread_mutex_destroy(&t->lock);
}

/* How many descriptors @t holds. */
int
ksp__fdtable_count(struct ksp_fdtable *t)
{
	int n;

	pthread_mutex_lock(&t->lock);
	n = t->count;
	pthread_mutex_unlock(&t->lock);
	return n;
}

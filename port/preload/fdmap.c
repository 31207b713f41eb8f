/*
 * Preload port: files and the descriptor map.
 *
 * The map sends a descriptor number to the struct kp_file behind it, for
 * the numbers that are ksock sockets or epoll instances watching sockets;
 * every other number is a plain kernel descriptor and has no entry. The
 * map is two-level: KP_CHUNK entries per chunk, chunks allocated on
 * first use and never freed, so a lookup of an unmapped number is one
 * atomic load without a lock (the fast path of every call on a kernel
 * descriptor). Reading a mapped entry and taking a reference happen under
 * the chunk's lock, so a concurrent close cannot free the file between
 * the two.
 *
 * The kernel reserves the number (a placeholder or the epoll descriptor
 * itself): an entry is set after the kernel handed the number out and
 * cleared before the kernel gets it back, so two files never share one.
 */
#include <stdlib.h>
#include <string.h>

#include "preload.h"

#define KP_CHUNK	1024
#define KP_NCHUNKS	(KP_MAX_FD / KP_CHUNK)

struct kp_chunk {
	pthread_mutex_t		 lock;
	_Atomic(struct kp_file *) ent[KP_CHUNK];	/* [chunk lock] */
};

static _Atomic(struct kp_chunk *) chunks[KP_NCHUNKS];
static pthread_mutex_t chunks_grow_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int mapped_count;

struct kp_file kp_stale = { .refs = 1, .mem = 1, .kind = KP_STALE };

/* A new file of @kind with one open reference, or NULL. */
struct kp_file *
kp__file_new(enum kp_kind kind)
{
	struct kp_file *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	atomic_init(&f->refs, 1);
	atomic_init(&f->mem, 1);
	f->kind = kind;
	f->hostfd = -1;
	return f;
}

void
kp__file_hold(struct kp_file *f)
{
	atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

void
kp__file_mem_hold(struct kp_file *f)
{
	atomic_fetch_add_explicit(&f->mem, 1, memory_order_relaxed);
}

void
kp__file_mem_put(struct kp_file *f)
{
	if (f == &kp_stale)
		return;
	if (atomic_fetch_sub_explicit(&f->mem, 1, memory_order_acq_rel) == 1)
		free(f);
}

/*
 * Drops an open reference; the last one closes the socket (ks_close), the
 * kernel descriptor, or the epoll bookkeeping. No lock may be held: the
 * O_ASYNC signals noted during the call that ends here are sent.
 */
void
kp__file_put(struct kp_file *f)
{
	struct ks_sock *so;
	long left;

	if (f == NULL || f == &kp_stale) {
		kp__async_flush();
		return;
	}
	so = f->kind == KP_SOCK ? f->so : NULL;
	if (so != NULL)
		kp__async_end(so);
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
		/* Every call ends here, outside ksock's locks: the signals
		 * O_ASYNC sockets earned during it go now. */
		kp__async_flush();
		return;
	}
	if (so != NULL)
		ks_sock_release(so);
	switch (f->kind) {
	case KP_SOCK:
		kp__async_free(f);
		ks_close(f->so);
		break;
	case KP_HOST:
		sys_close(f->hostfd);
		break;
	case KP_EPOLL:
		kp__epoll_free(f->ep);
		break;
	case KP_STALE:
		break;
	case KP_REMOTE:
		kp__remote_release(f);
		break;
	}
	kp__file_mem_put(f);
	kp__async_flush();
}

static struct kp_chunk *
chunk_of(int fd, bool create)
{
	struct kp_chunk *c;
	int i = fd / KP_CHUNK;

	c = atomic_load_explicit(&chunks[i], memory_order_acquire);
	if (c != NULL || !create)
		return c;
	pthread_mutex_lock(&chunks_grow_lock);
	c = atomic_load(&chunks[i]);
	if (c == NULL) {
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			abort();
		pthread_mutex_init(&c->lock, NULL);
		atomic_store_explicit(&chunks[i], c, memory_order_release);
	}
	pthread_mutex_unlock(&chunks_grow_lock);
	return c;
}

/* Whether @fd has an entry (a racy hint, for the fast paths). */
bool
kp__fd_is_mapped(int fd)
{
	struct kp_chunk *c;

	if (fd < 0 || fd >= KP_MAX_FD || atomic_load(&mapped_count) == 0)
		return false;
	c = chunk_of(fd, false);
	return c != NULL && atomic_load_explicit(&c->ent[fd % KP_CHUNK],
						 memory_order_relaxed) != NULL;
}

/* The entry of @fd, held, or NULL; no check of the number. */
static struct kp_file *
entry_get(int fd)
{
	struct kp_chunk *c;
	struct kp_file *f;

	if (!kp__fd_is_mapped(fd))
		return NULL;
	c = chunk_of(fd, false);
	pthread_mutex_lock(&c->lock);
	f = atomic_load(&c->ent[fd % KP_CHUNK]);
	if (f != NULL)
		kp__file_hold(f);
	pthread_mutex_unlock(&c->lock);
	return f;
}

/*
 * The file behind @fd with an open reference taken, or NULL when @fd is a
 * plain kernel descriptor (or not open). Returns &kp_stale for a socket
 * inherited over fork; putting it is harmless.
 *
 * The map is trusted: no system call is made here, since this is the
 * lookup of every socket call. A number a program closed with a raw
 * system-call instruction (which no library sees) keeps its entry until
 * the library sees the kernel hand the number out again
 * (kp__fd_kernel_new(): open, socket, accept, dup, pipe, syscall(3)...),
 * which drops it. Until then, calls on that number still reach the
 * socket (docs/ksock-run.md, "raw system calls").
 */
struct kp_file *
kp__fd_get(int fd)
{
	return entry_get(fd);
}

/*
 * Maps @fd, which the kernel just handed out, to @f, taking an open
 * reference of its own. An entry left over (a number the program closed
 * behind the library's back) is dropped.
 */
void
kp__fd_set(int fd, struct kp_file *f)
{
	struct kp_chunk *c = chunk_of(fd, true);
	struct kp_file *old;

	kp__file_hold(f);
	pthread_mutex_lock(&c->lock);
	old = atomic_exchange(&c->ent[fd % KP_CHUNK], f);
	pthread_mutex_unlock(&c->lock);
	if (old == NULL)
		atomic_fetch_add(&mapped_count, 1);
	else
		kp__file_put(old);
}

/*
 * Removes @fd's entry and returns its file (the entry's reference passes
 * to the caller), or NULL when @fd has none.
 */
struct kp_file *
kp__fd_take(int fd)
{
	struct kp_chunk *c;
	struct kp_file *f;

	if (!kp__fd_is_mapped(fd))
		return NULL;
	c = chunk_of(fd, false);
	pthread_mutex_lock(&c->lock);
	f = atomic_exchange(&c->ent[fd % KP_CHUNK], NULL);
	pthread_mutex_unlock(&c->lock);
	if (f != NULL)
		atomic_fetch_sub(&mapped_count, 1);
	return f;
}

/*
 * Removes @fd's entry if it is still @f, dropping the entry's reference;
 * returns whether it did. A close the library learns of after the kernel
 * did it (fclose, a raw close) uses this, so an entry set meanwhile for a
 * new socket on the same number stays.
 */
bool
kp__fd_take_if(int fd, struct kp_file *f)
{
	struct kp_chunk *c;
	struct kp_file *want = f;
	bool taken;

	if (!kp__fd_is_mapped(fd))
		return false;
	c = chunk_of(fd, false);
	pthread_mutex_lock(&c->lock);
	taken = atomic_compare_exchange_strong(&c->ent[fd % KP_CHUNK], &want,
					       NULL);
	pthread_mutex_unlock(&c->lock);
	if (!taken)
		return false;
	atomic_fetch_sub(&mapped_count, 1);
	kp__file_put(f);
	return true;
}

/*
 * The kernel just handed out @fd for a new file of its own, so the number
 * was free: an entry there is what a raw close left behind, and goes now
 * (one load when there is none), releasing its socket. This is where a
 * raw close is noticed: lookups trust the map (kp__fd_get()).
 */
void
kp__fd_kernel_new(long fd)
{
	struct kp_file *f;

	if (fd < 0 || !kp__fd_is_mapped((int)fd))
		return;
	/* A vfork child has a table of its own and the parent's map: what
	 * it opens says nothing of the parent's numbers. */
	if (kp__in_vfork_child())
		return;
	f = entry_get((int)fd);
	if (f != NULL) {
		kp__fd_take_if((int)fd, f);
		kp__file_put(f);
	}
}

/* Removes and puts the entries of [@first, @last] (close_range). */
void
kp__fd_take_range(unsigned first, unsigned last)
{
	if (last >= KP_MAX_FD)
		last = KP_MAX_FD - 1;
	for (unsigned fd = first; fd <= last && first <= last; fd++) {
		if (fd % KP_CHUNK == 0 && chunk_of((int)fd, false) == NULL) {
			fd += KP_CHUNK - 1;
			continue;
		}
		kp__file_put(kp__fd_take((int)fd));
	}
}

/*
 * In a forked child, after ks_fork_child(): every socket and epoll entry
 * becomes the stale marker. Their files are abandoned, not released:
 * releasing would call into the inherited ksock objects, whose locks
 * another thread of the parent may have held at the fork (the child would
 * hang), and ks_fork_child() already gave the child a ksock of its own
 * that knows none of them. Runs with one thread, from the atfork child
 * handler.
 */
void
kp__fd_stale_all(void)
{
	pthread_mutex_init(&chunks_grow_lock, NULL);
	for (int i = 0; i < KP_NCHUNKS; i++) {
		struct kp_chunk *c = atomic_load(&chunks[i]);

		if (c == NULL)
			continue;
		pthread_mutex_init(&c->lock, NULL);
		for (int j = 0; j < KP_CHUNK; j++) {
			struct kp_file *f = atomic_load(&c->ent[j]);

			/* A remote socket is the server's: the child
			 * claims it (remote.c). */
			if (f == NULL || f == &kp_stale ||
			    f->kind == KP_REMOTE)
				continue;
			if (f->kind == KP_EPOLL) {
				/* The epoll descriptor is the kernel's: it
				 * stays usable, without its sockets. */
				atomic_store(&c->ent[j], NULL);
				atomic_fetch_sub(&mapped_count, 1);
			} else {
				atomic_store(&c->ent[j], &kp_stale);
			}
			/* Host files own only a kernel descriptor. */
			if (f->kind == KP_HOST)
				kp__file_put(f);
		}
	}
}

/* How many numbers are mapped. */
int
kp__fd_count(void)
{
	return atomic_load(&mapped_count);
}

/* See preload.h: the child could not claim the server's copy of its
 * table, or is a clone() child with the parent's connection. The files
 * go without closing anything in the server (rkeep). */
void
kp__fd_stale_remote(void)
{
	for (int i = 0; i < KP_NCHUNKS; i++) {
		struct kp_chunk *c = atomic_load(&chunks[i]);

		if (c == NULL)
			continue;
		for (int j = 0; j < KP_CHUNK; j++) {
			struct kp_file *f = atomic_load(&c->ent[j]);

			if (f == NULL || f == &kp_stale ||
			    f->kind != KP_REMOTE)
				continue;
			atomic_store(&c->ent[j], &kp_stale);
			atomic_store(&f->rkeep, true);
			kp__file_put(f);
		}
	}
}

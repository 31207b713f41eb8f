/*
 * The answer cache: (name, type, class IN) -> struct dns_answer.
 *
 * A hash table of chains plus one LRU list, bounded in entries. Answers
 * are immutable and reference-counted, so a hit takes the lock only to
 * find the entry and take a reference: no allocation, no system call
 * (the port's uncontended mutex and monotonic clock need none on Linux).
 * Expired entries are dropped when met; the least recently used entry
 * makes room when the table is full.
 *
 * Only positive answers and RFC 2308 negative answers (NXDOMAIN, NODATA
 * with an SOA) are ever put here; the caller decides that, and a
 * truncated or failed answer never becomes a struct dns_answer at all.
 *
 * Locks: c->lock [C] guards every field of the cache and its entries; it
 * is a leaf lock (the port's alloc and free are called under it, nothing
 * else). Answer reference counts are atomic [A].
 */
#include "dns/dns_impl.h"

#define CACHE_DEFAULT_ENTRIES	1024

struct cache_entry {
	struct cache_entry	*hnext;		/* [C] hash chain */
	struct cache_entry	*prev, *next;	/* [C] LRU list, newest first */
	uint32_t		 hash;		/* [C] */
	uint16_t		 qtype;		/* [C] */
	uint16_t		 namelen;	/* [C] */
	uint8_t			 name[DNS_WIRE_NAME_MAX];	/* [C] lower-cased */
	struct dns_answer	*answer;	/* [C] one reference */
};

struct dns_cache {
	const struct ks_port	*port;		/* [I] */
	struct ks_mutex		 lock;
	unsigned		 max;		/* [I] entries */
	unsigned		 nbuckets;	/* [I] power of two */
	unsigned		 count;		/* [C] */
	struct cache_entry	 lru;		/* [C] list head */
	struct cache_entry	**buckets;	/* [C] */
};

static uint32_t
key_hash(const uint8_t *name, size_t len, uint16_t qtype)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ dns_lower(name[i])) * 16777619u;
	return (h ^ qtype) * 16777619u;
}

static size_t
wire_len(const uint8_t *name)
{
	size_t n = 0;

	while (name[n])
		n += 1 + (size_t)name[n];
	return n + 1;
}

/* Creates a cache of @entries entries (0: the default). */
int
ks__dns_cache_create(const struct ks_port *port, unsigned entries,
		     struct dns_cache **out)
{
	struct dns_cache *c;
	unsigned nb = 16;

	if (entries == 0)
		entries = CACHE_DEFAULT_ENTRIES;
	while (nb < entries && nb < (1u << 20))
		nb <<= 1;
	c = port->alloc(sizeof *c);
	if (!c)
		return -KS_ENOMEM;
	dns_memset(c, 0, sizeof *c);
	c->buckets = port->alloc(nb * sizeof *c->buckets);
	if (!c->buckets)
		goto free_cache;
	dns_memset(c->buckets, 0, nb * sizeof *c->buckets);
	c->port = port;
	c->max = entries;
	c->nbuckets = nb;
	c->lru.prev = c->lru.next = &c->lru;
	port->mutex_init(&c->lock);
	*out = c;
	return 0;

free_cache:
	port->free(c, sizeof *c);
	return -KS_ENOMEM;
}

/*
 * Allocates an answer with room for @nrr records, @datalen bytes of their
 * data and @aliaslen bytes of alias names, zeroed, with one reference.
 * Returns NULL when memory runs out.
 */
struct dns_answer *
ks__dns_answer_alloc(const struct ks_port *port, size_t nrr, size_t datalen,
		     size_t aliaslen)
{
	size_t size = sizeof(struct dns_answer) +
		      nrr * sizeof(struct dns_rr_ref) + datalen + aliaslen;
	struct dns_answer *a = port->alloc(size);

	if (!a)
		return NULL;
	dns_memset(a, 0, size);
	atomic_init(&a->refs, 1);
	a->size = size;
	a->rr = (struct dns_rr_ref *)a->mem;
	a->data = a->mem + nrr * sizeof(struct dns_rr_ref);
	a->aliases = (char *)a->data + datalen;
	return a;
}

/* Drops a reference to @a; the last one frees it. */
void
ks__dns_answer_put(const struct ks_port *port, struct dns_answer *a)
{
	if (a && atomic_fetch_sub(&a->refs, 1) == 1)
		port->free(a, a->size);
}

static void
lru_unlink(struct cache_entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void
lru_push_front(struct dns_cache *c, struct cache_entry *e)
{
	e->next = c->lru.next;
	e->prev = &c->lru;
	c->lru.next->prev = e;
	c->lru.next = e;
}

/* Removes @e from both lists and frees it; answers are freed outside. */
static struct dns_answer *
remove_locked(struct dns_cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
	struct dns_answer *a = e->answer;

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(e);
	c->count--;
	c->port->free(e, sizeof *e);
	return a;
}

static struct cache_entry *
find_locked(struct dns_cache *c, const uint8_t *qname, size_t len,
	    uint16_t qtype, uint32_t h)
{
	struct cache_entry *e = c->buckets[h & (c->nbuckets - 1)];

	for (; e; e = e->hnext)
		if (e->hash == h && e->qtype == qtype && e->namelen == len &&
		    ks__dns_name_equal(e->name, qname))
			return e;
	return NULL;
}

/*
 * Returns a new reference to the live answer for (@qname, @qtype), or
 * NULL. An expired entry found on the way is dropped.
 */
struct dns_answer *
ks__dns_cache_get(struct dns_cache *c, const uint8_t *qname, uint16_t qtype,
		  int64_t now)
{
	size_t len = wire_len(qname);
	uint32_t h = key_hash(qname, len, qtype);
	struct dns_answer *a = NULL, *stale = NULL;
	struct cache_entry *e;

	c->port->mutex_lock(&c->lock);
	e = find_locked(c, qname, len, qtype, h);
	if (e && e->answer->expires <= now) {
		stale = remove_locked(c, e);
	} else if (e) {
		a = e->answer;
		atomic_fetch_add(&a->refs, 1);
		if (c->lru.next != e) {
			lru_unlink(e);
			lru_push_front(c, e);
		}
	}
	c->port->mutex_unlock(&c->lock);
	ks__dns_answer_put(c->port, stale);
	return a;
}

/*
 * Stores @a for (@qname, @qtype), taking a reference of its own and
 * replacing an older answer. Returns 0 or -KS_ENOMEM (nothing cached).
 */
int
ks__dns_cache_put(struct dns_cache *c, const uint8_t *qname, uint16_t qtype,
		  struct dns_answer *a)
{
	size_t len = wire_len(qname);
	uint32_t h = key_hash(qname, len, qtype);
	struct dns_answer *old = NULL, *evicted = NULL;
	struct cache_entry *e;

	c->port->mutex_lock(&c->lock);
	atomic_fetch_add(&a->refs, 1);
	e = find_locked(c, qname, len, qtype, h);
	if (e) {
		old = e->answer;
		e->answer = a;
		goto unlock;
	}
	if (c->count >= c->max)
		evicted = remove_locked(c, c->lru.prev);
	e = c->port->alloc(sizeof *e);
	if (!e) {
		atomic_fetch_sub(&a->refs, 1);	/* the caller still holds one */
		c->port->mutex_unlock(&c->lock);
		ks__dns_answer_put(c->port, evicted);
		return -KS_ENOMEM;
	}
	e->hash = h;
	e->qtype = qtype;
	e->namelen = (uint16_t)len;
	for (size_t i = 0; i < len; i++)
		e->name[i] = dns_lower(qname[i]);
	/* Label lengths (<= 63) are unaffected by lower-casing. */
	e->answer = a;
	e->hnext = c->buckets[h & (c->nbuckets - 1)];
	c->buckets[h & (c->nbuckets - 1)] = e;
	lru_push_front(c, e);
	c->count++;
unlock:
	c->port->mutex_unlock(&c->lock);
	ks__dns_answer_put(c->port, old);
	ks__dns_answer_put(c->port, evicted);
	return 0;
}

/* Empties the cache. Answers held by readers stay valid. */
void
ks__dns_cache_flush(struct dns_cache *c)
{
	for (;;) {
		struct dns_answer *a;

		c->port->mutex_lock(&c->lock);
		if (c->count == 0) {
			c->port->mutex_unlock(&c->lock);
			return;
		}
		a = remove_locked(c, c->lru.next);
		c->port->mutex_unlock(&c->lock);
		ks__dns_answer_put(c->port, a);
	}
}

void
ks__dns_cache_destroy(struct dns_cache *c)
{
	if (!c)
		return;
	ks__dns_cache_flush(c);
	c->port->mutex_destroy(&c->lock);
	c->port->free(c->buckets, c->nbuckets * sizeof *c->buckets);
	c->port->free(c, sizeof *c);
}

/* Seconds record @i of @a stays valid at @now. */
uint32_t
ks__dns_answer_ttl(const struct dns_answer *a, unsigned i, int64_t now)
{
	int64_t age = (now - a->born) / 1000000000;
	uint32_t ttl = a->rr[i].ttl;

	if (age < 0)
		age = 0;
	return (int64_t)ttl > age ? ttl - (uint32_t)age : 0;
}

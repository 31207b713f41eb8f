/*
 * AF_UNIX names: filesystem paths, abstract names and automatic
 * (autobind) names, and the table connect and sendto look them up in.
 *
 * Path names live on the host's filesystem: bind creates a socket node
 * through the port (which fails with EADDRINUSE if anything is there),
 * and the table keys the bound socket by the node's key, so rename and
 * hard links keep working and an unlinked path finds nothing. The node
 * outlives the socket; ksock never removes it except to undo a failed
 * bind.
 *
 * A key is unique only while its node exists, so the bound socket keeps
 * its node pinned through the port until it leaves the table, as Linux
 * holds the path. A lookup cannot pin what it resolves without a cost on
 * every connect; instead each path name records the table's bind
 * generation, and a lookup ignores names that entered the table after it
 * began. A node freed and its key reused during the lookup can only have
 * been bound after that point, and a connect that overlaps the bind of
 * its target may find nothing on Linux too.
 *
 * Abstract names are exactly addrlen - 2 bytes (NULs included) and are
 * per socket type: a stream and a datagram socket may hold the same one.
 * They are per network namespace too, as on Linux: a socket's abstract
 * names, bound or looked up, are those of the namespace it was created
 * in (the port's netns key). Autobind picks "\0" + five hex digits from
 * a random start.
 *
 * A name is refcounted: a listener's accepted sockets share it to report
 * as their own address. Only the bound socket is in the table.
 *
 * Locks: unix_names.lock [N] guards the table and each socket's hashed
 * flag, and is taken before a socket lock (a socket's name is set with
 * both held, once).
 */
#include "unix/unix.h"

/*
 * The table starts with UNIX_HASH_MIN buckets held in place and doubles,
 * up to UNIX_HASH_MAX, whenever it holds more than UNIX_HASH_LOAD names
 * per bucket, so a lookup costs the same with ten names or a million.
 * A doubling that cannot allocate leaves longer chains, not an error.
 * The table goes back to the buckets in place when it empties. Powers
 * of two.
 */
#define UNIX_HASH_MIN	256
#define UNIX_HASH_MAX	(1u << 20)
#define UNIX_HASH_LOAD	2

static struct {
	struct ks_mutex		 lock;
	struct unix_sock	**bucket;	/* [N] in_place or allocated */
	uint32_t		 nbuckets;	/* [N] */
	uint32_t		 count;		/* [N] sockets in the table */
	struct unix_sock	*in_place[UNIX_HASH_MIN];	/* [N] */
	/* [N] for writes, [A] for reads: path binds so far. */
	_Atomic uint64_t	 gen;
} unix_names;

static void
table_reset_locked(void)
{
	ks__memset(unix_names.in_place, 0, sizeof(unix_names.in_place));
	unix_names.bucket = unix_names.in_place;
	unix_names.nbuckets = UNIX_HASH_MIN;
}

/* See unix.h. */
int
ks__unix_names_init(void)
{
	ks__port->mutex_init(&unix_names.lock);
	table_reset_locked();
	unix_names.count = 0;
	atomic_init(&unix_names.gen, 0);
	return 0;
}

static void
table_free_locked(void)
{
	if (unix_names.bucket != unix_names.in_place)
		ks__free(unix_names.bucket,
			 unix_names.nbuckets * sizeof(*unix_names.bucket));
	table_reset_locked();
}

/* See unix.h. */
void
ks__unix_names_fini(void)
{
	table_free_locked();
	ks__port->mutex_destroy(&unix_names.lock);
}

static void
names_lock(void)
{
	ks__port->mutex_lock(&unix_names.lock);
}

static void
names_unlock(void)
{
	ks__port->mutex_unlock(&unix_names.lock);
}

/* The chain a name of full hash @hash sits in. Names lock held. */
static struct unix_sock **
bucket_locked(uint32_t hash)
{
	return &unix_names.bucket[hash & (unix_names.nbuckets - 1)];
}

/* FNV-1a: names are short and the table is small. */
static uint32_t
hash_bytes(const void *p, size_t n, uint32_t h)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static uint32_t
hash_abstract(const unsigned char *sun, uint32_t len, int type, uint64_t netns)
{
	uint32_t h = hash_bytes(&netns, sizeof(netns), 2166136261u);

	return hash_bytes(sun, len, h ^ (uint32_t)type);
}

static uint32_t
hash_path(const struct ks_node_key *key)
{
	return hash_bytes(key, sizeof(*key), 2166136261u);
}

static size_t
name_size(uint32_t len)
{
	return sizeof(struct unix_name) + len + 1;
}

/* A name of @len address bytes copied from @sun. */
static int
name_alloc(const void *sun, uint32_t len, struct unix_name **out)
{
	struct unix_name *n = ks__alloc(name_size(len));

	if (n == NULL)
		return -KS_ENOMEM;
	atomic_init(&n->refs, 1);
	n->len = len;
	n->hash = 0;
	n->is_path = false;
	n->key.a = n->key.b = 0;
	n->gen = 0;
	ks__memcpy(n->sun, sun, len);
	n->sun[len] = 0;
	*out = n;
	return 0;
}

/* See unix.h. */
void
ks__unix_name_hold(struct unix_name *n)
{
	atomic_fetch_add_explicit(&n->refs, 1, memory_order_relaxed);
}

/* See unix.h. */
void
ks__unix_name_put(struct unix_name *n)
{
	if (atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) == 1)
		ks__free(n, name_size(n->len));
}

static bool
name_is_abstract_match(const struct unix_name *n, const unsigned char *sun,
		       uint32_t len)
{
	return !n->is_path && n->len == len && ks__memcmp(n->sun, sun, len) == 0;
}

static bool
name_is_node(const struct unix_name *n, const struct ks_node_key *key)
{
	return n->is_path && n->key.a == key->a && n->key.b == key->b;
}

/* The socket of @type in namespace @netns holding abstract name @sun, or
 * NULL. Names lock held. */
static struct unix_sock *
find_abstract_locked(const unsigned char *sun, uint32_t len, int type,
		     uint64_t netns)
{
	struct unix_sock *u =
		*bucket_locked(hash_abstract(sun, len, type, netns));

	for (; u != NULL; u = u->name_next)
		if (u->base.type == type && u->netns == netns &&
		    name_is_abstract_match(unix_name_of(u), sun, len))
			return u;
	return NULL;
}

/* The socket bound at node @key by generation @gen or earlier, or NULL.
 * Bound nodes are pinned, so at most one socket in the table has @key.
 * Names lock held. */
static struct unix_sock *
find_path_locked(const struct ks_node_key *key, uint64_t gen)
{
	struct unix_sock *u = *bucket_locked(hash_path(key));

	for (; u != NULL; u = u->name_next) {
		struct unix_name *n = unix_name_of(u);

		if (name_is_node(n, key))
			return n->gen <= gen ? u : NULL;
	}
	return NULL;
}

/* Doubles the table, if it may grow and memory allows. Names lock held
 * (and one socket lock: the allocation takes no ksock lock). */
static void
table_grow_locked(void)
{
	uint32_t n = unix_names.nbuckets * 2;
	struct unix_sock **b, **old = unix_names.bucket;
	uint32_t oldn = unix_names.nbuckets;

	if (n > UNIX_HASH_MAX)
		return;
	b = ks__alloc(n * sizeof(*b));
	if (b == NULL)
		return;
	ks__memset(b, 0, n * sizeof(*b));
	/* Order within a chain does not matter: a key or an abstract name
	 * (per type and namespace) is in the table at most once. */
	for (uint32_t i = 0; i < oldn; i++) {
		struct unix_sock *u = old[i], *next;

		for (; u != NULL; u = next) {
			struct unix_sock **head =
				&b[unix_name_of(u)->hash & (n - 1)];

			next = u->name_next;
			u->name_next = *head;
			*head = u;
		}
	}
	if (old != unix_names.in_place)
		ks__free(old, oldn * sizeof(*old));
	unix_names.bucket = b;
	unix_names.nbuckets = n;
}

/* Publishes @n as @u's name and puts @u in the table. Names lock and
 * @u's lock held; @u is unbound. */
static void
hash_locked(struct unix_sock *u, struct unix_name *n)
{
	struct unix_sock **head;

	atomic_store_explicit(&u->name, n, memory_order_release);
	head = bucket_locked(n->hash);
	u->name_next = *head;
	*head = u;
	u->hashed = true;
	if (++unix_names.count > UNIX_HASH_LOAD * unix_names.nbuckets)
		table_grow_locked();
}

/* See unix.h. A path name's node is released once it is out of the
 * table: no lookup can find the socket by a key the host may reuse. */
void
ks__unix_unhash(struct unix_sock *u)
{
	struct unix_name *n;
	struct unix_sock **pp;

	/* Only the socket's own calls bind it, and none runs concurrently
	 * with its close, so the flag can be read without the lock. */
	if (!u->hashed)
		return;
	n = unix_name_of(u);
	names_lock();
	pp = bucket_locked(n->hash);
	while (*pp != NULL && *pp != u)
		pp = &(*pp)->name_next;
	if (*pp == u) {
		*pp = u->name_next;
		if (--unix_names.count == 0)
			table_free_locked();
	}
	u->name_next = NULL;
	u->hashed = false;
	names_unlock();
	if (n->is_path)
		ks__port->node_release(&n->key);
}

static void
hex5(char *out, uint32_t v)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 4; i >= 0; i--) {
		out[i] = digits[v & 0xf];
		v >>= 4;
	}
}

/* See unix.h. A no-op on a bound socket. */
int
ks__unix_autobind(struct unix_sock *u)
{
	unsigned char sun[UNIX_FAMILY_LEN + 6];
	struct unix_name *n;
	uint32_t start, num;
	uint16_t family = KS_AF_UNIX;
	int err;

	if (unix_name_of(u) != NULL)
		return 0;
	ks__memcpy(sun, &family, sizeof(family));
	sun[UNIX_FAMILY_LEN] = 0;
	err = name_alloc(sun, sizeof(sun), &n);
	if (err < 0)
		return err;
	ks__port->random(&start, sizeof(start));
	start &= UNIX_AUTOBIND_NAMES - 1;
	num = start;

	names_lock();
	unix_lock(u);
	if (unix_name_of(u) != NULL) {
		err = 0;
		goto free_name;
	}
	for (;;) {
		num = (num + 1) & (UNIX_AUTOBIND_NAMES - 1);
		hex5((char *)n->sun + UNIX_FAMILY_LEN + 1, num);
		if (find_abstract_locked(n->sun, n->len, u->base.type,
					 u->netns) == NULL)
			break;
		if (num == start) {
			err = -KS_ENOSPC;
			goto free_name;
		}
	}
	n->hash = hash_abstract(n->sun, n->len, u->base.type, u->netns);
	hash_locked(u, n);
	unix_unlock(u);
	names_unlock();
	return 0;

free_name:
	unix_unlock(u);
	names_unlock();
	ks__unix_name_put(n);
	return err;
}

/* Whether @sun/@len is a well-formed AF_UNIX address with a name. */
static bool
addr_is_valid(const void *addr, uint32_t len)
{
	const struct ks_sockaddr_un *sun = addr;

	return len > UNIX_FAMILY_LEN && len <= sizeof(*sun) &&
	       sun->sun_family == KS_AF_UNIX;
}

/* See unix.h. */
int
ks__unix_validate_addr(const void *addr, uint32_t len)
{
	return addr_is_valid(addr, len) ? 0 : -KS_EINVAL;
}

static bool
addr_is_path(const void *addr)
{
	return ((const struct ks_sockaddr_un *)addr)->sun_path[0] != 0;
}

/*
 * The C string of a path address: only addrlen - 2 bytes count and the
 * name ends at the first NUL, so a 108-byte path needs no terminator.
 * Returns its length.
 */
static size_t
path_of(const void *addr, uint32_t len, char out[KS_UNIX_PATH_MAX + 1])
{
	const struct ks_sockaddr_un *sun = addr;
	size_t n = 0, max = len - UNIX_FAMILY_LEN;

	while (n < max && sun->sun_path[n] != 0) {
		out[n] = sun->sun_path[n];
		n++;
	}
	out[n] = 0;
	return n;
}

static int
bind_path(struct unix_sock *u, const void *addr, uint32_t len)
{
	char path[KS_UNIX_PATH_MAX + 1];
	unsigned char sun[sizeof(struct ks_sockaddr_un) + 1];
	struct ks_node_key key;
	struct unix_name *n;
	size_t plen;
	int err;

	plen = path_of(addr, len, path);
	ks__memcpy(sun, addr, UNIX_FAMILY_LEN);
	ks__memcpy(sun + UNIX_FAMILY_LEN, path, plen + 1);
	/* Linux reports the path with its terminating NUL counted. */
	err = name_alloc(sun, (uint32_t)(UNIX_FAMILY_LEN + plen + 1), &n);
	if (err < 0)
		return err;
	err = ks__port->node_create(path, 0777 & ~ks__port->umask(), &key);
	if (err < 0)
		goto free_name;
	n->is_path = true;
	n->key = key;
	n->hash = hash_path(&key);

	names_lock();
	unix_lock(u);
	if (unix_name_of(u) != NULL) {
		err = -KS_EINVAL;
		goto remove_node;
	}
	n->gen = atomic_load_explicit(&unix_names.gen,
				      memory_order_relaxed) + 1;
	atomic_store_explicit(&unix_names.gen, n->gen, memory_order_release);
	hash_locked(u, n);
	unix_unlock(u);
	names_unlock();
	return 0;

remove_node:
	unix_unlock(u);
	names_unlock();
	ks__port->node_remove(path, &key);
	ks__port->node_release(&key);
free_name:
	ks__unix_name_put(n);
	return err;
}

static int
bind_abstract(struct unix_sock *u, const void *addr, uint32_t len)
{
	struct unix_name *n;
	int err;

	err = name_alloc(addr, len, &n);
	if (err < 0)
		return err;
	n->hash = hash_abstract(n->sun, len, u->base.type, u->netns);

	names_lock();
	unix_lock(u);
	if (unix_name_of(u) != NULL)
		err = -KS_EINVAL;
	else if (find_abstract_locked(n->sun, len, u->base.type,
				      u->netns) != NULL)
		err = -KS_EADDRINUSE;
	else
		hash_locked(u, n);
	unix_unlock(u);
	names_unlock();
	if (err < 0)
		ks__unix_name_put(n);
	return err;
}

/*
 * See unix.h. Returns 0, -KS_EINVAL (bad address, or already bound),
 * -KS_EADDRINUSE, the port's path errors (-KS_ENOENT, -KS_EACCES...),
 * -KS_ENOSPC (autobind), -KS_ENOMEM.
 */
int
ks__unix_bind(struct ks_sock *so, const void *addr, uint32_t len)
{
	struct unix_sock *u = unix_sk(so);

	if (len == UNIX_FAMILY_LEN &&
	    ((const struct ks_sockaddr_un *)addr)->sun_family == KS_AF_UNIX)
		return ks__unix_autobind(u);
	if (!addr_is_valid(addr, len))
		return -KS_EINVAL;
	if (addr_is_path(addr))
		return bind_path(u, addr, len);
	return bind_abstract(u, addr, len);
}

/* See unix.h. */
int
ks__unix_find(struct ks_sock *so, const void *addr, uint32_t len,
	      struct unix_sock **out)
{
	int type = so->type;
	char path[KS_UNIX_PATH_MAX + 1];
	struct ks_node_key key;
	struct unix_sock *u;
	uint64_t gen;
	int err;

	if (addr_is_path(addr)) {
		path_of(addr, len, path);
		/* Before the lookup: see the top of the file. */
		gen = atomic_load_explicit(&unix_names.gen,
					   memory_order_acquire);
		err = ks__port->node_lookup(path, &key);
		if (err < 0)
			return err;
		names_lock();
		u = find_path_locked(&key, gen);
	} else {
		names_lock();
		u = find_abstract_locked(addr, len, type, unix_sk(so)->netns);
	}
	if (u != NULL)
		unix_hold(u);
	names_unlock();
	if (u == NULL)
		return -KS_ECONNREFUSED;
	if (u->base.type != type) {
		unix_put(u);
		return -KS_EPROTOTYPE;
	}
	*out = u;
	return 0;
}

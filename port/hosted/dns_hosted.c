/*
 * Hosted glue for the resolver: a port table with the hooks the resolver
 * uses (malloc, pthread mutexes, CLOCK_MONOTONIC, getrandom), reading
 * /etc/resolv.conf and /etc/hosts, and the process-wide resolver.
 *
 * The process-wide resolver is created once, by the first caller, under
 * reload_lock. Every later call is an acquire load and a look at the
 * clock; at most once a second one caller stats the files (resolv.conf,
 * hosts, services, nsswitch.conf) and, when one changed, reads them again
 * and swaps the configuration in, as glibc notices a changed resolv.conf.
 * KSOCK_RESOLV_CONF, KSOCK_HOSTS, KSOCK_SERVICES and KSOCK_NSSWITCH name
 * other files, for tests and benchmarks; LOCALDOMAIN and RES_OPTIONS
 * apply as in glibc.
 *
 * The port table here is the resolver's own: the socket core's hosted
 * port (port/hosted) carries the full table with simulated processes; the
 * resolver needs only memory, mutexes, time and randomness, so its other
 * hooks are stubs that are never called.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ksock/dns.h>

_Static_assert(sizeof(pthread_mutex_t) <= sizeof(struct ks_mutex),
	       "pthread_mutex_t must fit struct ks_mutex");

static void *
h_alloc(size_t size)
{
	return malloc(size);
}

static void
h_free(void *p, size_t size)
{
	(void)size;
	free(p);
}

static void
h_mutex_init(struct ks_mutex *m)
{
	pthread_mutex_init((pthread_mutex_t *)m->opaque, NULL);
}

static void
h_mutex_destroy(struct ks_mutex *m)
{
	pthread_mutex_destroy((pthread_mutex_t *)m->opaque);
}

static void
h_mutex_lock(struct ks_mutex *m)
{
	pthread_mutex_lock((pthread_mutex_t *)m->opaque);
}

static void
h_mutex_unlock(struct ks_mutex *m)
{
	pthread_mutex_unlock((pthread_mutex_t *)m->opaque);
}

static int64_t
h_now(void)
{
	struct timespec ts;

	/* vDSO: no system call, which keeps a cache hit syscall-free. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Random bytes from a per-thread pool that getrandom() refills 256 bytes
 * at a time, so a query id costs no system call most of the time. A
 * forked child must not reuse its parent's pool (both would send the
 * same ids): an atfork handler empties it in the child.
 */
static _Thread_local unsigned char pool[256];
static _Thread_local size_t pool_avail;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void
pool_forget(void)
{
	memset(pool, 0, sizeof pool);
	pool_avail = 0;
}

static void
pool_register(void)
{
	pthread_atfork(NULL, NULL, pool_forget);
}

static void
h_random(void *buf, size_t len)
{
	unsigned char *out = buf;

	pthread_once(&pool_once, pool_register);
	while (len > 0) {
		if (pool_avail == 0) {
			size_t got = 0;
			while (got < sizeof pool) {
				ssize_t n = getrandom(pool + got,
						      sizeof pool - got, 0);
				if (n < 0) {
					if (errno == EINTR)
						continue;
					abort();	/* no entropy: never guess */
				}
				got += (size_t)n;
			}
			pool_avail = sizeof pool;
		}
		size_t n = len < pool_avail ? len : pool_avail;
		/* Hand out each pool byte once, then wipe it. */
		memcpy(out, pool + sizeof pool - pool_avail, n);
		memset(pool + sizeof pool - pool_avail, 0, n);
		pool_avail -= n;
		out += n;
		len -= n;
	}
}

/* Hooks the resolver never calls. */
static void *stub_self(void) { return NULL; }
static int stub_park(int64_t d) { (void)d; return -KS_ENOSYS; }
static void stub_unpark(void *t) { (void)t; }
static void stub_cred(struct ks_cred *c) { memset(c, 0, sizeof *c); }
static unsigned stub_umask(void) { return 022; }
static bool stub_capable(enum ks_cap c) { (void)c; return false; }
static bool stub_pid_exists(int32_t p) { (void)p; return false; }
static unsigned stub_inflight(uint32_t u) { (void)u; return 0; }
static int stub_file_get(int fd, struct ks_file **f) { (void)fd; (void)f; return -KS_EBADF; }
static void stub_file_hold(struct ks_file *f) { (void)f; }
static void stub_file_put(struct ks_file *f) { (void)f; }
static int stub_file_install(struct ks_file *f, int fl) { (void)f; (void)fl; return -KS_EMFILE; }
static struct ks_sock *stub_file_sock(struct ks_file *f) { (void)f; return NULL; }
static long stub_file_count(struct ks_file *f) { (void)f; return 0; }
static int stub_node_create(const char *p, unsigned m, struct ks_node_key *k) { (void)p; (void)m; (void)k; return -KS_ENOSYS; }
static void stub_node_remove(const char *p, const struct ks_node_key *k) { (void)p; (void)k; }
static int stub_node_lookup(const char *p, struct ks_node_key *k) { (void)p; (void)k; return -KS_ENOSYS; }
static void stub_node_release(const struct ks_node_key *k) { (void)k; }
static uint64_t stub_netns(void) { return 0; }
static void stub_signal_pipe(void) { }
static void stub_signal_urg(int32_t o) { (void)o; }
static int stub_copy(void *d, const void *s, size_t n) { memcpy(d, s, n); return 0; }
static bool stub_drops_reported(void) { return true; }
static int64_t stub_realtime(void) { return 0; }
static unsigned stub_groups(uint32_t *g, unsigned m) { (void)g; (void)m; return 0; }
static int stub_pidfd_install(int32_t p) { (void)p; return -KS_ENOSYS; }
static int stub_netdev_index(const char *n) { (void)n; return -KS_ENODEV; }
/* The resolver never waits for another thread: no spinning. */
static bool stub_keep_spinning(int64_t spun) { (void)spun; return false; }

static int stub_park_word(const void *w, int v, int64_t d) { (void)w; (void)v; (void)d; return -KS_ENOSYS; }
static void stub_unpark_word(const void *w) { (void)w; }
static int stub_copy_user_cross(void *d, void *o, const void *s, size_t n)
{ (void)d; (void)o; (void)s; (void)n; return -KS_EOPNOTSUPP; }

static const struct ks_port dns_port = {
	.version = KS_PORT_VERSION,
	.size = sizeof(struct ks_port),
	.alloc = h_alloc,
	.free = h_free,
	.mutex_init = h_mutex_init,
	.mutex_destroy = h_mutex_destroy,
	.mutex_lock = h_mutex_lock,
	.mutex_unlock = h_mutex_unlock,
	.thread_self = stub_self,
	.park = stub_park,
	.unpark = stub_unpark,
	.now = h_now,
	.cred = stub_cred,
	.umask = stub_umask,
	.capable = stub_capable,
	.pid_exists = stub_pid_exists,
	.inflight_limit = stub_inflight,
	.file_get = stub_file_get,
	.file_hold = stub_file_hold,
	.file_put = stub_file_put,
	.file_install = stub_file_install,
	.file_sock = stub_file_sock,
	.file_count = stub_file_count,
	.node_create = stub_node_create,
	.node_remove = stub_node_remove,
	.node_lookup = stub_node_lookup,
	.signal_pipe = stub_signal_pipe,
	.signal_urg = stub_signal_urg,
	.random = h_random,
	.copy_from_user = stub_copy,
	.copy_to_user = stub_copy,
	.node_release = stub_node_release,
	.netns = stub_netns,
	.file_drops_reported = stub_drops_reported,
	.realtime = stub_realtime,
	.groups = stub_groups,
	.pidfd_install = stub_pidfd_install,
	.netdev_index = stub_netdev_index,
	.keep_spinning = stub_keep_spinning,
	.flags = 0,
	.park_word = stub_park_word,
	.unpark_word = stub_unpark_word,
	.copy_user_cross = stub_copy_user_cross,
};

const struct ks_port *
ks_dns_hosted_port(void)
{
	return &dns_port;
}

/* Reads a whole small file into a malloc'd buffer. */
static int
read_file(const char *path, char **out, size_t *outlen)
{
	size_t cap = 4096, len = 0;
	char *buf;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf) {
		err = -KS_ENOMEM;
		goto close_fd;
	}
	for (;;) {
		if (len == cap) {
			/* resolv.conf and hosts are small; 1 MiB is a bug. */
			if (cap >= (1u << 20)) {
				err = -KS_EINVAL;
				goto free_buf;
			}
			char *bigger = realloc(buf, cap * 2);
			if (!bigger) {
				err = -KS_ENOMEM;
				goto free_buf;
			}
			buf = bigger;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto free_buf;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	*out = buf;
	*outlen = len;
	return 0;

free_buf:
	free(buf);
close_fd:
	close(fd);
	return err;
}

/* Parses "@word @value\n" into @c (LOCALDOMAIN, RES_OPTIONS). */
static void
parse_env_line(struct ks_dns_config *c, const char *word, const char *value)
{
	size_t len = strlen(word) + strlen(value) + 3;
	char *line = malloc(len);

	if (!line)
		return;
	snprintf(line, len, "%s %s\n", word, value);
	(void)ks_dns_config_parse(c, line, strlen(line));
	free(line);
}

int
ks_dns_hosted_load_config(const char *path, struct ks_dns_config *c)
{
	const char *env;
	char *text;
	size_t len;
	int err;

	ks_dns_config_init(c);
	err = read_file(path, &text, &len);
	if (err < 0 && err != -KS_ENOENT)
		return err;
	if (err == 0) {
		(void)ks_dns_config_parse(c, text, len);
		free(text);
	}
	/* As glibc's res_init: LOCALDOMAIN replaces the search list and
	 * RES_OPTIONS adds options, over the file's. */
	env = getenv("LOCALDOMAIN");
	if (env)
		parse_env_line(c, "search", env);
	env = getenv("RES_OPTIONS");
	if (env)
		parse_env_line(c, "options", env);
	/* gai.conf's policy table for the order of addresses. */
	env = secure_getenv("KSOCK_GAI_CONF");
	if (read_file(env ? env : "/etc/gai.conf", &text, &len) == 0) {
		(void)ks_dns_gaiconf_parse(c, text, len);
		free(text);
	}
	/* nsswitch.conf's order of files and dns for host names. */
	env = secure_getenv("KSOCK_NSSWITCH");
	if (read_file(env ? env : "/etc/nsswitch.conf", &text, &len) == 0) {
		(void)ks_dns_nsswitch_parse(c, text, len);
		free(text);
	}
	return 0;
}

/*
 * The files behind the process-wide resolver, and what they were when
 * last read: a change in device, inode, size or modification time means
 * read them again (glibc checks resolv.conf the same way).
 */
struct file_id {
	dev_t		dev;
	ino_t		ino;
	off_t		size;
	struct timespec	mtime;
	bool		present;
};

enum { F_CONF, F_HOSTS, F_SERVICES, F_NSSWITCH, F_GAI, F_COUNT };

static const char *const file_env[F_COUNT] = {
	"KSOCK_RESOLV_CONF", "KSOCK_HOSTS", "KSOCK_SERVICES", "KSOCK_NSSWITCH",
	"KSOCK_GAI_CONF",
};
static const char *const file_default[F_COUNT] = {
	"/etc/resolv.conf", "/etc/hosts", "/etc/services",
	"/etc/nsswitch.conf", "/etc/gai.conf",
};

static const char *
file_path(int f)
{
	const char *p = secure_getenv(file_env[f]);

	return p ? p : file_default[f];
}

static struct file_id
file_id_of(int f)
{
	struct file_id id = { .present = false };
	struct stat st;

	if (stat(file_path(f), &st) == 0) {
		id.dev = st.st_dev;
		id.ino = st.st_ino;
		id.size = st.st_size;
		id.mtime = st.st_mtim;
		id.present = true;
	}
	return id;
}

static bool
file_id_equal(const struct file_id *a, const struct file_id *b)
{
	return a->present == b->present && a->dev == b->dev &&
	       a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* How often the files are looked at, at most: a stat per lookup would
 * cost the cache hit its freedom from system calls. */
#define RELOAD_CHECK_NS	1000000000LL

static _Atomic(struct ks_dns *) hosted_resolver;
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;
static struct file_id seen[F_COUNT];	/* under reload_lock */
static _Atomic int64_t next_check;

/* The configuration and hosts text from the files. */
static void
load_files(struct ks_dns_config *c, char **hosts, size_t *hosts_len)
{
	if (ks_dns_hosted_load_config(file_path(F_CONF), c) < 0)
		ks_dns_config_init(c);
	/* glibc's fallback when resolv.conf names no server. */
	if (c->nservers == 0) {
		c->servers[0].family = KS_AF_INET;
		c->servers[0].addr[0] = 127;
		c->servers[0].addr[3] = 1;
		c->servers[0].port = 53;
		c->nservers = 1;
	}
	*hosts = NULL;
	*hosts_len = 0;
	if (read_file(file_path(F_HOSTS), hosts, hosts_len) < 0) {
		*hosts = NULL;
		*hosts_len = 0;
	}
}

/* Services as glibc knows them; the built-in table without the file. */
static void
load_services(struct ks_dns *r)
{
	char *text;
	size_t len;

	if (read_file(file_path(F_SERVICES), &text, &len) == 0) {
		(void)ks_dns_set_services(r, text, len);
		free(text);
	} else {
		(void)ks_dns_set_services(r, NULL, 0);
	}
}

static void
remember_files(void)
{
	for (int f = 0; f < F_COUNT; f++)
		seen[f] = file_id_of(f);
}

/*
 * At most once a second, and by one thread at a time: when a file
 * changed, read them all again and swap the configuration in. A file
 * that went away leaves the configuration as it was.
 */
static void
maybe_reload(struct ks_dns *r)
{
	struct timespec ts;
	int64_t now, due;
	bool changed = false;

	clock_gettime(CLOCK_MONOTONIC, &ts);	/* vDSO: no system call */
	now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	due = atomic_load_explicit(&next_check, memory_order_relaxed);
	if (now < due || !atomic_compare_exchange_strong(&next_check, &due,
					now + RELOAD_CHECK_NS))
		return;
	if (pthread_mutex_trylock(&reload_lock) != 0)
		return;
	for (int f = 0; f < F_COUNT; f++) {
		struct file_id id = file_id_of(f);
		if (id.present && !file_id_equal(&id, &seen[f]))
			changed = true;
	}
	if (changed) {
		struct ks_dns_config c;
		char *hosts;
		size_t hosts_len;

		load_files(&c, &hosts, &hosts_len);
		if (ks_dns_set_config(r, &c, hosts ? hosts : "",
				      hosts_len) == 0) {
			load_services(r);
			remember_files();
		}
		free(hosts);
	}
	pthread_mutex_unlock(&reload_lock);
}

struct ks_dns *
ks_dns_hosted(void)
{
	struct ks_dns *r = atomic_load_explicit(&hosted_resolver,
						memory_order_acquire);
	struct ks_dns_transport tp;
	struct ks_dns_config c;
	char *hosts;
	size_t hosts_len;

	if (r) {
		maybe_reload(r);
		return r;
	}
	pthread_mutex_lock(&reload_lock);
	r = atomic_load_explicit(&hosted_resolver, memory_order_acquire);
	if (r) {
		pthread_mutex_unlock(&reload_lock);
		return r;
	}
	remember_files();
	load_files(&c, &hosts, &hosts_len);
	ks_dns_hosted_transport(&tp);
	int err = ks_dns_create(&r, &dns_port, &tp, &c, hosts, hosts_len);
	free(hosts);
	if (err == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		load_services(r);
		atomic_store_explicit(&next_check, (int64_t)ts.tv_sec *
				      1000000000 + ts.tv_nsec + RELOAD_CHECK_NS,
				      memory_order_relaxed);
		atomic_store_explicit(&hosted_resolver, r,
				      memory_order_release);
	} else {
		r = NULL;
	}
	pthread_mutex_unlock(&reload_lock);
	return r;
}

/*
 * The two sides of the benchmark: libc's socket calls on the Linux kernel
 * and ksock's hosted POSIX personality, as two struct bench_ops tables,
 * with their threads and their memory probes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ksock/posix.h>

#include "bench.h"

/* -- Linux -- */

/*
 * glibc declares bind, connect and accept with a transparent union for
 * the address under _GNU_SOURCE, so their addresses do not convert to the
 * table's types; these wrappers restore the plain POSIX signatures.
 */
static int
linux_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	return bind(fd, addr, len);
}

static int
linux_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return connect(fd, addr, len);
}

static int
linux_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return accept(fd, addr, len);
}

static int
linux_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	return getsockname(fd, addr, len);
}

struct linux_thread {
	pthread_t	 tid;
	int		(*fn)(void *);
	void		*arg;
	int		 ret;
};

static void *
linux_thread_main(void *p)
{
	struct linux_thread *lt = p;

	lt->ret = lt->fn(lt->arg);
	return NULL;
}

static int
linux_thread_start(struct bench_thread *t, int (*fn)(void *), void *arg)
{
	struct linux_thread *lt;
	int err;

	lt = calloc(1, sizeof(*lt));
	if (lt == NULL)
		return -1;
	lt->fn = fn;
	lt->arg = arg;
	err = pthread_create(&lt->tid, NULL, linux_thread_main, lt);
	if (err != 0) {
		free(lt);
		errno = err;
		return -1;
	}
	t->handle = lt;
	return 0;
}

static int
linux_thread_join(struct bench_thread *t)
{
	struct linux_thread *lt = t->handle;
	int ret;

	pthread_join(lt->tid, NULL);
	ret = lt->ret;
	free(lt);
	t->handle = NULL;
	return ret;
}

/* The value of the /proc/meminfo line @key, in bytes, or -1. */
static long long
meminfo_field(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':')
			return strtoll(p + klen + 1, NULL, 10) * 1024;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return -1;
}

/*
 * Free pages held in the per-CPU lists (the "count:" lines of
 * /proc/zoneinfo), in bytes. MemFree leaves them out, and they run to a
 * hundred megabytes on a large machine: a run that allocates from them
 * would not show in MemFree at all.
 */
static long long
linux_pcp_free(void)
{
	char line[256];
	long long pages = 0, v;
	FILE *f;

	f = fopen("/proc/zoneinfo", "r");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, " count: %lld", &v) == 1)
			pages += v;
	fclose(f);
	return pages * sysconf(_SC_PAGESIZE);
}

/*
 * Kernel pages outside the slab: what /proc/meminfo leaves when free
 * pages (the per-CPU lists too), page cache, every process's anonymous memory, page tables,
 * kernel stacks and the slab are taken away. Queued socket data beyond
 * the skb head lives there, in page fragments. The kernel folds its
 * per-CPU counters lazily; writing stat_refresh (root only) folds them
 * now. Other programs still move this figure by megabytes, so it is only
 * counted for objects that hold data.
 */
static long long
linux_nonslab_pages(void)
{
	static const char *const not_ours[] = {
		"MemFree", "Buffers", "Cached", "SwapCached", "AnonPages",
		"PageTables", "SecPageTables", "KernelStack", "Slab",
	};
	char text[8192];
	long long total, v;
	size_t i;
	ssize_t len;
	int fd;

	fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1\n", 2) < 0) {
			/* Not allowed: exact to a few pages only. */
		}
		close(fd);
	}
	fd = open("/proc/meminfo", O_RDONLY);
	if (fd < 0)
		return -1;
	len = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (len <= 0)
		return -1;
	text[len] = '\0';
	total = meminfo_field(text, "MemTotal");
	if (total < 0)
		return -1;
	total -= linux_pcp_free();
	for (i = 0; i < sizeof(not_ours) / sizeof(not_ours[0]); i++) {
		v = meminfo_field(text, not_ours[i]);
		if (v > 0)
			total -= v;
	}
	return total;
}

/*
 * Reads /proc/slabinfo: per cache, the objects in use and the bytes of
 * its slabs (num_slabs x pages per slab). Leaves m->ncaches 0 when the
 * file cannot be read (it needs root).
 */
static void
linux_read_slabinfo(struct bench_mem *m)
{
	struct bench_slab *c;
	char line[512];
	long long active, num, objsize, perslab, pages, slabs;
	FILE *f;

	m->ncaches = 0;
	f = fopen("/proc/slabinfo", "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL &&
	       m->ncaches < BENCH_SLAB_CACHES) {
		c = &m->cache[m->ncaches];
		if (sscanf(line, "%39s %lld %lld %lld %lld %lld : tunables "
			   "%*d %*d %*d : slabdata %lld", c->name, &active,
			   &num, &objsize, &perslab, &pages, &slabs) != 7)
			continue;	/* the two header lines */
		c->active = active;
		c->bytes = slabs * pages * sysconf(_SC_PAGESIZE);
		m->ncaches++;
	}
	fclose(f);
}

static void
linux_mem_read(struct bench_mem *m)
{
	m->allocs = -1;
	linux_read_slabinfo(m);
	m->bytes = linux_nonslab_pages();
}

/*
 * The slab caches that gained at least @n/2 objects are the ones the
 * sockets use (whatever names slab merging gave them); other programs
 * rarely move a cache that much in a fraction of a second, so they are
 * left out. Their growth in slab pages, plus for objects holding data
 * the kernel pages outside the slab, divided by @n.
 */
static double
linux_mem_growth(const struct bench_mem *a, const struct bench_mem *b,
		 long n, bool data, char *detail, size_t dlen)
{
	double total = 0, per;
	size_t used = 0;
	int i, j;

	detail[0] = '\0';
	if (a->ncaches == 0 || b->ncaches == 0 || n <= 0)
		return NAN;
	for (i = 0; i < b->ncaches; i++) {
		const struct bench_slab *cb = &b->cache[i];

		for (j = 0; j < a->ncaches; j++)
			if (strcmp(a->cache[j].name, cb->name) == 0)
				break;
		if (j == a->ncaches || cb->active - a->cache[j].active < n / 2)
			continue;
		per = (double)(cb->bytes - a->cache[j].bytes) / (double)n;
		total += per;
		if (used < dlen)
			used += (size_t)snprintf(detail + used, dlen - used,
						 "%s%s %.0f", used ? ", " : "",
						 cb->name, per);
	}
	if (data) {
		if (a->bytes < 0 || b->bytes < 0)
			return NAN;
		per = (double)(b->bytes - a->bytes) / (double)n;
		total += per;
		if (used < dlen)
			snprintf(detail + used, dlen - used,
				 "%spages %.0f", used ? ", " : "", per);
	}
	return total;
}

static long
linux_mem_allocs(void)
{
	return -1;
}

static int
linux_fd_count(void)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;		/* the directory's own descriptor */
}

const struct bench_ops bench_linux_ops = {
	.name		= "linux",
	.socket		= socket,
	.socketpair	= socketpair,
	.bind		= linux_bind,
	.listen		= listen,
	.accept		= linux_accept,
	.connect	= linux_connect,
	.send		= send,
	.recv		= recv,
	.sendmsg	= sendmsg,
	.recvmsg	= recvmsg,
	.poll		= poll,
	.shutdown	= shutdown,
	.close		= close,
	.thread_start	= linux_thread_start,
	.thread_join	= linux_thread_join,
	.mem_read	= linux_mem_read,
	.mem_growth	= linux_mem_growth,
	.mem_allocs	= linux_mem_allocs,
	.fd_count	= linux_fd_count,
	.getsockname	= linux_getsockname,
	.setsockopt	= setsockopt,
};

/* -- ksock -- */

static int
ksock_thread_start(struct bench_thread *t, int (*fn)(void *), void *arg)
{
	struct ksp_proc *p;

	p = ksp_fork(fn, arg);
	if (p == NULL)
		return -1;
	t->handle = p;
	return 0;
}

static int
ksock_thread_join(struct bench_thread *t)
{
	int ret;

	ret = ksp_wait(t->handle);
	t->handle = NULL;
	return ret;
}

/*
 * What malloc has handed out, in bytes (chunk sizes, so malloc's own
 * per-chunk overhead is counted, as slab rounding is on Linux): ksock's
 * allocations and the personality's descriptor tables and file records.
 * ksp_alloc_outstanding() counts ksock's allocations but not their bytes.
 */
static void
ksock_mem_read(struct bench_mem *m)
{
	struct mallinfo2 mi = mallinfo2();

	m->bytes = (long long)(mi.uordblks + mi.hblkhd);
	m->allocs = ksp_alloc_outstanding();
	m->ncaches = 0;
}

static double
ksock_mem_growth(const struct bench_mem *a, const struct bench_mem *b,
		 long n, bool data, char *detail, size_t dlen)
{
	if (n <= 0)
		return NAN;
	snprintf(detail, dlen, "%.2f ksock allocations",
		 (double)(b->allocs - a->allocs) / (double)n);
	return (double)(b->bytes - a->bytes) / (double)n;
}

static long
ksock_mem_allocs(void)
{
	return ksp_alloc_outstanding();
}

const struct bench_ops bench_ksock_ops = {
	.name		= "ksock",
	.socket		= ksp_socket,
	.socketpair	= ksp_socketpair,
	.bind		= ksp_bind,
	.listen		= ksp_listen,
	.accept		= ksp_accept,
	.connect	= ksp_connect,
	.send		= ksp_send,
	.recv		= ksp_recv,
	.sendmsg	= ksp_sendmsg,
	.recvmsg	= ksp_recvmsg,
	.poll		= ksp_poll,
	.shutdown	= ksp_shutdown,
	.close		= ksp_close,
	.thread_start	= ksock_thread_start,
	.thread_join	= ksock_thread_join,
	.mem_read	= ksock_mem_read,
	.mem_growth	= ksock_mem_growth,
	.mem_allocs	= ksock_mem_allocs,
	.fd_count	= ksp_fd_count,
	.getsockname	= ksp_getsockname,
	.setsockopt	= ksp_setsockopt,
};

int
bench_ksock_init(void)
{
	return ksp_init();
}

int
bench_ksock_fini(void)
{
	return ksp_fini();
}

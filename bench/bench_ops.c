/*
 * The two sides of the benchmark: libc's socket calls on the Linux kernel
 * and ksock's hosted POSIX personality, as two struct bench_ops tables,
 * with their threads and their memory probes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
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
 * Kernel memory in use: the slab plus the pages that no other line of
 * /proc/meminfo accounts for (the page fragments of queued socket data
 * end up there). Page cache and every process's anonymous memory are
 * left out, so other programs running at the same time disturb it less.
 * The kernel folds its per-CPU counters lazily; writing stat_refresh
 * (root only) folds them now, so the figure is exact to the page.
 */
static long long
linux_mem_bytes(void)
{
	static const char *const not_kernel[] = {
		"MemFree", "Buffers", "Cached", "SwapCached", "AnonPages",
		"PageTables", "SecPageTables", "KernelStack",
	};
	char text[8192];
	long long total, v;
	size_t i;
	ssize_t len;
	int fd;

	fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1\n", 2) < 0) {
			/* Not allowed: the figure is exact to a few pages. */
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
	for (i = 0; i < sizeof(not_kernel) / sizeof(not_kernel[0]); i++) {
		v = meminfo_field(text, not_kernel[i]);
		if (v > 0)
			total -= v;
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
	.mem_bytes	= linux_mem_bytes,
	.mem_allocs	= linux_mem_allocs,
	.fd_count	= linux_fd_count,
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
 * per-chunk overhead is counted, as the slab's rounding is on Linux).
 * The hosted port allocates with malloc; ksp_alloc_outstanding() counts
 * allocations but not bytes.
 */
static long long
ksock_mem_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (long long)(mi.uordblks + mi.hblkhd);
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
	.mem_bytes	= ksock_mem_bytes,
	.mem_allocs	= ksock_mem_allocs,
	.fd_count	= ksp_fd_count,
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

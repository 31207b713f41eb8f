/*
 * Kernel-to-kernel benchmark: the same system calls against Linux's own
 * AF_UNIX and against ksock registered on a free family number, in one
 * boot of the guest (tools/vm-bench). Each scenario runs on both and
 * prints one line:
 *
 *   @@bench NAME UNIT LINUX KSOCK
 *
 * With QEMU's -icount shift=0 the guest's clock counts instructions, so
 * the figures repeat from boot to boot to within 1%: they rank code
 * paths, not hardware (caches and memory cost nothing there).
 *
 * Usage: bench_kk KSOCK_FAMILY
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int fam;		/* the family under test */

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void
die(const char *what)
{
	fprintf(stderr, "bench_kk: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void
pair(int type, int sv[2])
{
	if (socketpair(fam, type, 0, sv) < 0)
		die("socketpair");
}

static void
xread(int fd, void *b, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, b, n);

		if (r <= 0)
			die("read");
		b = (char *)b + r;
		n -= (size_t)r;
	}
}

static void
xwrite(int fd, const void *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w <= 0)
			die("write");
		b = (const char *)b + w;
		n -= (size_t)w;
	}
}

/* Microseconds per round trip of one byte between two processes. */
static double
pingpong(int iters, int use_poll)
{
	int sv[2];
	char c = 0;
	double t0, t1;
	pid_t pid;

	pair(SOCK_STREAM, sv);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		for (int i = 0; i < iters; i++) {
			xread(sv[1], &c, 1);
			xwrite(sv[1], &c, 1);
		}
		_exit(0);
	}
	close(sv[1]);
	t0 = now_us();
	for (int i = 0; i < iters; i++) {
		xwrite(sv[0], &c, 1);
		if (use_poll) {
			struct pollfd p = { sv[0], POLLIN, 0 };

			if (poll(&p, 1, -1) != 1)
				die("poll");
		}
		xread(sv[0], &c, 1);
	}
	t1 = now_us();
	waitpid(pid, NULL, 0);
	close(sv[0]);
	return (t1 - t0) / iters;
}

/* MiB/s of a stream of @total bytes written @size at a time. */
static double
stream(size_t size, size_t total)
{
	static char buf[65536];
	int sv[2];
	double t0, t1;
	pid_t pid;
	size_t got = 0;

	pair(SOCK_STREAM, sv);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		for (size_t sent = 0; sent < total; sent += size)
			xwrite(sv[1], buf, size);
		_exit(0);
	}
	close(sv[1]);
	t0 = now_us();
	while (got < total) {
		ssize_t r = read(sv[0], buf, sizeof(buf));

		if (r <= 0)
			die("read");
		got += (size_t)r;
	}
	t1 = now_us();
	waitpid(pid, NULL, 0);
	close(sv[0]);
	return total / (t1 - t0) * 1e6 / (1 << 20);
}

/* Microseconds per connect + accept + close of both ends. */
static double
connect_accept(int iters, int abstract)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;
	int l;
	double t0, t1;

	if (abstract) {
		memcpy(sun.sun_path, "\0bench-kk", 9);
		len = offsetof(struct sockaddr_un, sun_path) + 9;
	} else {
		strcpy(sun.sun_path, "/tmp/bench-kk");
		unlink(sun.sun_path);
		len = sizeof(sun);
	}
	l = socket(fam, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sun, len) < 0 || listen(l, 16) < 0)
		die("listener");
	t0 = now_us();
	for (int i = 0; i < iters; i++) {
		int c = socket(fam, SOCK_STREAM, 0), a;

		if (c < 0 || connect(c, (struct sockaddr *)&sun, len) < 0)
			die("connect");
		a = accept(l, NULL, NULL);
		if (a < 0)
			die("accept");
		close(a);
		close(c);
	}
	t1 = now_us();
	close(l);
	if (!abstract)
		unlink(sun.sun_path);
	return (t1 - t0) / iters;
}

/* Microseconds per descriptor sent and received (a pipe's end). */
static double
fdpass(int iters)
{
	int sv[2], p[2];
	double t0, t1;

	pair(SOCK_DGRAM, sv);
	if (pipe(p) < 0)
		die("pipe");
	t0 = now_us();
	for (int i = 0; i < iters; i++) {
		char cbuf[CMSG_SPACE(sizeof(int))] = { 0 }, b = 'x';
		struct iovec iov = { &b, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		int fd;

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &p[0], sizeof(int));
		if (sendmsg(sv[0], &m, 0) != 1)
			die("sendmsg");
		m.msg_controllen = sizeof(cbuf);
		if (recvmsg(sv[1], &m, 0) != 1)
			die("recvmsg");
		memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
		close(fd);
	}
	t1 = now_us();
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	return (t1 - t0) / iters;
}

/* Microseconds per 64-byte datagram sent and received. */
static double
dgram(int iters)
{
	int sv[2];
	char b[64] = { 0 };
	double t0, t1;

	pair(SOCK_DGRAM, sv);
	t0 = now_us();
	for (int i = 0; i < iters; i++) {
		if (send(sv[0], b, sizeof(b), 0) != sizeof(b) ||
		    recv(sv[1], b, sizeof(b), 0) != sizeof(b))
			die("dgram");
	}
	t1 = now_us();
	close(sv[0]);
	close(sv[1]);
	return (t1 - t0) / iters;
}

/* Kernel memory per idle connected socket: MemFree before and after
 * @pairs socketpairs (files and inodes included, which both families
 * pay alike). */
static long
mem_free_kib(void)
{
	char line[128];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (f == NULL)
		die("/proc/meminfo");
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "MemFree: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

static double
idle_memory(int pairs)
{
	static int fds[2 * 400];
	long before, after;

	if (pairs > 400)
		pairs = 400;
	before = mem_free_kib();
	for (int i = 0; i < pairs; i++)
		pair(SOCK_STREAM, &fds[2 * i]);
	after = mem_free_kib();
	for (int i = 0; i < 2 * pairs; i++)
		close(fds[i]);
	return (before - after) * 1024.0 / (2 * pairs);
}

struct scenario {
	const char	*name;
	const char	*unit;
	double		(*run)(void);
};

static double s_pp(void) { return pingpong(2000, 0); }
static double s_pp_poll(void) { return pingpong(2000, 1); }
static double s_st64(void) { return stream(64, 1 << 20); }
static double s_st4k(void) { return stream(4096, 8 << 20); }
static double s_st64k(void) { return stream(65536, 16 << 20); }
static double s_ca_abs(void) { return connect_accept(500, 1); }
static double s_ca_path(void) { return connect_accept(500, 0); }
static double s_fd(void) { return fdpass(1000); }
static double s_dg(void) { return dgram(2000); }
static double s_mem(void) { return idle_memory(400); }

static const struct scenario scenarios[] = {
	{ "pingpong", "us_per_round_trip", s_pp },
	{ "pingpong_poll", "us_per_round_trip", s_pp_poll },
	{ "stream_64", "MiB_per_s", s_st64 },
	{ "stream_4096", "MiB_per_s", s_st4k },
	{ "stream_65536", "MiB_per_s", s_st64k },
	{ "connect_accept_abstract", "us_per_connection", s_ca_abs },
	{ "connect_accept_path", "us_per_connection", s_ca_path },
	{ "fd_pass", "us_per_descriptor", s_fd },
	{ "dgram_64", "us_per_datagram", s_dg },
	{ "idle_socket_memory", "bytes_per_socket", s_mem },
};

int
main(int argc, char **argv)
{
	int ksock = argc > 1 ? atoi(argv[1]) : 13;

	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		double lin, ks;

		fam = AF_UNIX;
		lin = scenarios[i].run();
		fam = ksock;
		ks = scenarios[i].run();
		printf("@@bench %s %s %.3f %.3f\n", scenarios[i].name,
		       scenarios[i].unit, lin, ks);
		fflush(stdout);
	}
	return 0;
}

/*
 * bench_ksockd: ksockd against the Linux kernel's AF_UNIX, with the two
 * ends of every scenario in two processes.
 *
 *   bench_ksockd KSOCKD [--reps N] [--ms MS] [--only ID,...] [--no-pin]
 *   bench_ksockd KSOCKD --smoke
 *
 * The program starts the server KSOCKD on an abstract name of its own
 * and attaches to it. Every scenario is written once against a table of
 * calls (struct side): libc's (the kernel; the second process comes
 * from fork()) or the ksockd client library's (ksd_*; the second
 * process from ksd_fork(), which gives it the parent's descriptors in
 * the server). The sockets are made before the fork; the child is the
 * echo, the writer or the connector, the parent measures.
 *
 * As in bench.c: each side finds the count that makes one run last
 * about MS milliseconds (150), then the sides run N times (3),
 * alternating which goes first; the table shows medians and the ratio
 * ksockd/Linux. Every scenario runs with the processes (and the
 * server) free to use every CPU, then all of them on one CPU
 * (sched_setaffinity, which taskset uses; the rows marked "[1 CPU]").
 * Every receiver checks what it gets: ping-pong's echo returns each
 * byte plus one, a throughput reader checks a stamp in every read,
 * descriptor passing checks each message brings a descriptor.
 *
 * --smoke runs every scenario once with small counts on both sides and
 * checks the contents and that the server is back to its STATUS
 * baseline after each; it prints "N passed, N failed, N skipped".
 *
 * Locks: none. Each process of a run has one thread; they share only
 * their sockets.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../port/ksockd/ksd.h"
#include "bench.h"

#define MAX_REPS		9
/* A calibration run shorter than this is too noisy to scale from. */
#define CALIBRATE_MIN_S		0.02
/* The largest write of the throughput rows. */
#define MAX_WRITE		(1024 * 1024)

/* The calls of one side. */
struct side {
	const char *name;
	int	(*socket)(int, int, int);
	int	(*socketpair)(int, int, int, int[2]);
	int	(*bind)(int, const struct sockaddr *, socklen_t);
	int	(*listen)(int, int);
	int	(*accept)(int, struct sockaddr *, socklen_t *);
	int	(*connect)(int, const struct sockaddr *, socklen_t);
	ssize_t	(*send)(int, const void *, size_t, int);
	ssize_t	(*recv)(int, void *, size_t, int);
	ssize_t	(*sendmsg)(int, const struct msghdr *, int);
	ssize_t	(*recvmsg)(int, struct msghdr *, int);
	int	(*poll)(struct pollfd *, nfds_t, int);
	int	(*close)(int);
	pid_t	(*fork)(void);
	/* How a child ends: @status, its descriptors closed. */
	void	(*child_exit)(int status);
};

static int
linux_accept(int fd, struct sockaddr *a, socklen_t *l)
{
	return accept(fd, a, l);
}

static void
linux_child_exit(int status)
{
	_exit(status);
}

static int
ksd_accept(int fd, struct sockaddr *a, socklen_t *l)
{
	return ksd_accept4(fd, a, l, 0);
}

static void
ksd_child_exit(int status)
{
	ksd_detach();
	_exit(status);
}

static const struct side linux_side = {
	"linux", socket, socketpair, bind, listen, linux_accept, connect,
	send, recv, sendmsg, recvmsg, poll, close, fork, linux_child_exit,
};

static const struct side ksockd_side = {
	"ksockd", ksd_socket, ksd_socketpair, ksd_bind, ksd_listen,
	ksd_accept, ksd_connect, ksd_send, ksd_recv, ksd_sendmsg,
	ksd_recvmsg, ksd_poll, ksd_close, ksd_fork, ksd_child_exit,
};

static const struct side *const sides[2] = { &linux_side, &ksockd_side };

struct result {
	double	 value;		/* the row's unit */
	double	 value2;	/* latency: the 99th percentile */
	double	 seconds;	/* the measured part */
	char	 err[120];
};

struct scn;
typedef int (*scn_fn)(const struct side *, const struct scn *, long,
		      struct result *);

enum unit { MIBPS, RATE, LATENCY };

struct scn {
	const char	*name;
	const char	*id;
	scn_fn		 run;
	size_t		 size;		/* write size */
	bool		 use_poll;
	enum unit	 unit;
	long		 start_n;
	long		 smoke_n;
};

static int
fail(struct result *r, const char *what, int err)
{
	snprintf(r->err, sizeof(r->err), "%s: %s", what, strerror(err));
	return -1;
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int
send_all(const struct side *o, int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t k = o->send(fd, p, len, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? errno : EPIPE;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

static int
recv_byte(const struct side *o, int fd, bool use_poll, char *c)
{
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t k;

		if (use_poll && o->poll(&pfd, 1, -1) != 1)
			return errno != 0 ? errno : EIO;
		k = o->recv(fd, c, 1, 0);
		if (k == 1)
			return 0;
		if (k == 0)
			return EPIPE;
		if (errno != EINTR)
			return errno;
	}
}

/* Reaps @pid; its exit status, or -1. */
static int
reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* -- ping-pong -- */

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* @n one-byte round trips over a stream socketpair, the echo in the
 * child (each byte comes back plus one), every round trip timed. */
static int
run_pingpong(const struct side *o, const struct scn *s, long n,
	     struct result *r)
{
	int64_t *rtt = malloc((size_t)n * sizeof(*rtt)), t0;
	int sv[2], err = 0;
	pid_t pid;
	long i;

	if (rtt == NULL)
		return fail(r, "malloc", ENOMEM);
	if (o->socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		free(rtt);
		return fail(r, "socketpair", errno);
	}
	pid = o->fork();
	if (pid == 0) {
		char c;

		o->close(sv[0]);
		for (i = 0; i < n && err == 0; i++) {
			err = recv_byte(o, sv[1], s->use_poll, &c);
			c++;
			if (err == 0)
				err = send_all(o, sv[1], &c, 1);
		}
		o->close(sv[1]);
		o->child_exit(err != 0);
	}
	if (pid < 0)
		err = errno;
	t0 = now_ns();
	for (i = 0; i < n && pid > 0; i++) {
		char out = (char)(i * 7), in = 0;
		int64_t t1 = now_ns();

		err = send_all(o, sv[0], &out, 1);
		if (err == 0)
			err = recv_byte(o, sv[0], s->use_poll, &in);
		if (err == 0 && in != (char)(out + 1))
			err = EBADMSG;
		if (err != 0)
			break;
		rtt[i] = now_ns() - t1;
	}
	r->seconds = (double)(now_ns() - t0) / 1e9;
	/* Our ends closed, a failed echo ends at EOF. */
	o->close(sv[0]);
	o->close(sv[1]);
	if (pid > 0 && reap(pid) != 0 && err == 0)
		err = EIO;
	if (err == 0) {
		qsort(rtt, (size_t)n, sizeof(*rtt), cmp_i64);
		r->value = (double)rtt[n / 2] / 1000;
		r->value2 = (double)rtt[(n * 99) / 100] / 1000;
	}
	free(rtt);
	return err != 0 ? fail(r, "ping-pong", err) : 0;
}

/* -- stream throughput -- */

/*
 * The word at @off of the stream a writer of @size-byte writes makes:
 * the first and last word of write w hold w, every other word its
 * place in the write. @off is a multiple of 8, and so is @size.
 */
static uint64_t
word_at(uint64_t off, size_t size)
{
	uint64_t w = off / size, pos = (off % size) / 8;

	return pos == 0 || pos == size / 8 - 1 ? w : pos;
}

/* Checks the first and the last whole word of a read of @len bytes at
 * stream offset @off. */
static bool
read_ok(const unsigned char *buf, uint64_t off, size_t len, size_t size)
{
	uint64_t first = (off + 7) & ~(uint64_t)7, v;

	if (first + 8 > off + len)
		return true;	/* no whole word in it */
	memcpy(&v, buf + (first - off), 8);
	if (v != word_at(first, size))
		return false;
	first = (off + len - 8) & ~(uint64_t)7;
	memcpy(&v, buf + (first - off), 8);
	return v == word_at(first, size);
}

/* The child writes @n writes of s->size bytes; the parent reads with a
 * buffer of that size and checks every read. MiB/s from the end of
 * the first read (the child has started) to the last. */
static int
run_stream(const struct side *o, const struct scn *s, long n,
	   struct result *r)
{
	size_t size = s->size;
	uint64_t total = (uint64_t)n * size, got = 0, timed = 0;
	unsigned char *buf = malloc(size);
	int sv[2], err = 0;
	int64_t t0 = 0;
	pid_t pid;

	if (buf == NULL)
		return fail(r, "malloc", ENOMEM);
	if (o->socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		free(buf);
		return fail(r, "socketpair", errno);
	}
	pid = o->fork();
	if (pid == 0) {
		uint64_t *wb = (uint64_t *)(void *)buf;

		o->close(sv[0]);
		for (size_t k = 0; k < size / 8; k++)
			wb[k] = k;
		for (long w = 0; w < n && err == 0; w++) {
			wb[0] = wb[size / 8 - 1] = (uint64_t)w;
			err = send_all(o, sv[1], buf, size);
		}
		o->close(sv[1]);
		o->child_exit(err != 0);
	}
	if (pid < 0)
		err = errno;
	while (pid > 0 && got < total) {
		ssize_t k = o->recv(sv[0], buf, size, 0);

		if (k <= 0) {
			err = k < 0 ? errno : EPIPE;
			if (err == EINTR)
				continue;
			break;
		}
		if (!read_ok(buf, got, (size_t)k, size)) {
			err = EBADMSG;
			break;
		}
		if (got == 0)
			t0 = now_ns();
		else
			timed += (uint64_t)k;
		got += (uint64_t)k;
	}
	r->seconds = (double)(now_ns() - t0) / 1e9;
	o->close(sv[0]);
	o->close(sv[1]);
	if (pid > 0 && reap(pid) != 0 && err == 0)
		err = EIO;
	free(buf);
	if (err != 0)
		return fail(r, "stream", err);
	r->value = (double)timed / (1024.0 * 1024.0) / r->seconds;
	return 0;
}

/* -- connect + accept + close -- */

static socklen_t
bench_name(struct sockaddr_un *sun)
{
	static unsigned seq;
	int len;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	len = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1,
		       "ksockd-bench-%d-%u", (int)getpid(), seq++);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
}

/* The child connects and closes @n times; the parent accepts and closes
 * each. Connections per second, from the first accept on. */
static int
run_connect(const struct side *o, const struct scn *s, long n,
	    struct result *r)
{
	struct sockaddr_un sun;
	socklen_t len = bench_name(&sun);
	int lfd, err = 0;
	int64_t t0 = 0;
	pid_t pid;
	long i;

	(void)s;
	lfd = o->socket(AF_UNIX, SOCK_STREAM, 0);
	if (lfd < 0)
		return fail(r, "socket", errno);
	if (o->bind(lfd, (struct sockaddr *)&sun, len) < 0 ||
	    o->listen(lfd, 128) < 0) {
		err = errno;
		o->close(lfd);
		return fail(r, "listen", err);
	}
	pid = o->fork();
	if (pid == 0) {
		o->close(lfd);
		for (i = 0; i < n && err == 0; i++) {
			int fd = o->socket(AF_UNIX, SOCK_STREAM, 0);

			if (fd < 0 || o->connect(fd, (struct sockaddr *)&sun,
						 len) < 0)
				err = errno;
			if (fd >= 0)
				o->close(fd);
		}
		o->child_exit(err != 0);
	}
	if (pid < 0)
		err = errno;
	for (i = 0; i < n && pid > 0; i++) {
		int fd = o->accept(lfd, NULL, NULL);

		if (fd < 0) {
			err = errno;
			break;
		}
		o->close(fd);
		if (i == 0)
			t0 = now_ns();
	}
	r->seconds = (double)(now_ns() - t0) / 1e9;
	o->close(lfd);
	if (pid > 0 && reap(pid) != 0 && err == 0)
		err = EIO;
	if (err != 0)
		return fail(r, "connect/accept", err);
	r->value = (double)(n - 1) / r->seconds;
	return 0;
}

/* -- descriptor passing -- */

/* The child sends @n one-byte messages, each with one descriptor (an
 * AF_UNIX datagram socket) in SCM_RIGHTS; the parent receives them,
 * checks each byte and that each brought one descriptor, and closes
 * it. Messages per second, from the first on. */
static int
run_fdpass(const struct side *o, const struct scn *s, long n,
	   struct result *r)
{
	union {
		struct cmsghdr	h;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	int sv[2], pass, err = 0;
	int64_t t0 = 0;
	pid_t pid;
	long i;

	(void)s;
	if (o->socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return fail(r, "socketpair", errno);
	pass = o->socket(AF_UNIX, SOCK_DGRAM, 0);
	if (pass < 0) {
		err = errno;
		goto close_pair;
	}
	pid = o->fork();
	if (pid == 0) {
		o->close(sv[0]);
		for (i = 0; i < n && err == 0; i++) {
			char c = (char)i;
			struct iovec iov = { &c, 1 };
			struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
					    .msg_control = u.buf,
					    .msg_controllen = sizeof(u.buf) };
			struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

			memset(&u, 0, sizeof(u));
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &pass, sizeof(int));
			if (o->sendmsg(sv[1], &m, 0) != 1)
				err = errno;
		}
		o->close(sv[1]);
		o->close(pass);
		o->child_exit(err != 0);
	}
	if (pid < 0)
		err = errno;
	for (i = 0; i < n && pid > 0; i++) {
		char c;
		struct iovec iov = { &c, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = u.buf,
				    .msg_controllen = sizeof(u.buf) };
		struct cmsghdr *cm;
		int fd;

		if (o->recvmsg(sv[0], &m, 0) != 1) {
			err = errno != 0 ? errno : EPIPE;
			break;
		}
		cm = CMSG_FIRSTHDR(&m);
		if (c != (char)i || cm == NULL || cm->cmsg_type != SCM_RIGHTS ||
		    cm->cmsg_len != CMSG_LEN(sizeof(int))) {
			err = EBADMSG;
			break;
		}
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
		o->close(fd);
		if (i == 0)
			t0 = now_ns();
	}
	r->seconds = (double)(now_ns() - t0) / 1e9;
	o->close(pass);
	o->close(sv[0]);
	o->close(sv[1]);
	if (pid > 0 && reap(pid) != 0 && err == 0)
		err = EIO;
	if (err != 0)
		return fail(r, "descriptor passing", err);
	r->value = (double)(n - 1) / r->seconds;
	return 0;

close_pair:
	o->close(sv[0]);
	o->close(sv[1]);
	return fail(r, "socket", err);
}

static const struct scn scns[] = {
	{ "ping-pong, blocking", "pingpong", run_pingpong, 1, false,
	  LATENCY, 1000, 50 },
	{ "ping-pong, poll", "pingpong_poll", run_pingpong, 1, true,
	  LATENCY, 1000, 50 },
	{ "stream, 64 B writes", "stream_64", run_stream, 64, false,
	  MIBPS, 4000, 100 },
	{ "stream, 4 KiB writes", "stream_4k", run_stream, 4096, false,
	  MIBPS, 1000, 50 },
	{ "stream, 64 KiB writes", "stream_64k", run_stream, 65536, false,
	  MIBPS, 100, 20 },
	{ "stream, 1 MiB writes", "stream_1m", run_stream, MAX_WRITE, false,
	  MIBPS, 10, 4 },
	{ "connect+accept+close", "connect", run_connect, 0, false,
	  RATE, 500, 20 },
	{ "descriptor passing", "fdpass", run_fdpass, 0, false,
	  RATE, 1000, 20 },
};
#define NSCNS	(sizeof(scns) / sizeof(scns[0]))

/* -- the driver -- */

static struct {
	int		 reps;
	double		 seconds;
	bool		 smoke;
	bool		 no_pin;
	const char	*only;
} opt = { .reps = 3, .seconds = 0.15 };

static int
run_once(const struct side *o, const struct scn *s, long n,
	 struct result *r)
{
	static char what[128];
	int ret;

	memset(r, 0, sizeof(*r));
	snprintf(what, sizeof(what), "%s on %s, n=%ld", s->id, o->name, n);
	bench_watch(what);
	ret = s->run(o, s, n, r);
	bench_watch(NULL);
	return ret;
}

struct side_stats {
	double	 v[MAX_REPS], v2[MAX_REPS];
	int	 nv;
	long	 n;
	char	 err[120];
	double	 med, med2;
};

/* The n that makes a run last about opt.seconds, or 0 (st->err). */
static long
calibrate(const struct side *o, const struct scn *s, struct side_stats *st)
{
	struct result r;
	long n = s->start_n;

	for (;;) {
		if (run_once(o, s, n, &r) != 0) {
			memcpy(st->err, r.err, sizeof(st->err));
			return 0;
		}
		if (r.seconds >= CALIBRATE_MIN_S)
			break;
		n *= 8;
	}
	n = (long)((double)n * opt.seconds / r.seconds);
	return n < 2 ? 2 : n;
}

static void
run_row(const struct scn *s, struct side_stats st[2])
{
	struct result r;

	memset(st, 0, 2 * sizeof(*st));
	for (int i = 0; i < 2; i++)
		st[i].n = calibrate(sides[i], s, &st[i]);
	for (int rep = 0; rep < opt.reps; rep++)
		for (int k = 0; k < 2; k++) {
			int i = rep % 2 ? 1 - k : k;	/* alternate */

			if (st[i].n == 0)
				continue;
			if (run_once(sides[i], s, st[i].n, &r) != 0) {
				memcpy(st[i].err, r.err, sizeof(st[i].err));
				st[i].n = 0;
				continue;
			}
			st[i].v[st[i].nv] = r.value;
			st[i].v2[st[i].nv] = r.value2;
			st[i].nv++;
		}
	for (int i = 0; i < 2; i++) {
		st[i].med = bench_median(st[i].v, st[i].nv);
		st[i].med2 = bench_median(st[i].v2, st[i].nv);
	}
}

static void
print_row(const char *name, const char *unit, double l, double k)
{
	char lb[32], kb[32], rb[16];

	snprintf(lb, sizeof(lb), isnan(l) ? "error" : "%.2f", l);
	snprintf(kb, sizeof(kb), isnan(k) ? "error" : "%.2f", k);
	snprintf(rb, sizeof(rb), isnan(l) || isnan(k) ? "-" : "%.2fx", k / l);
	printf("%-36s %-6s %11s %11s %8s\n", name, unit, lb, kb, rb);
}

static const char *
unit_name(enum unit u)
{
	return u == MIBPS ? "MiB/s" : u == RATE ? "ops/s" : "us";
}

static void
print_table(const struct scn *const *which, const bool *pinned,
	    struct side_stats (*st)[2], int nrows)
{
	char name[80];

	printf("\n%-36s %-6s %11s %11s %8s\n", "scenario (two processes)",
	       "unit", "linux", "ksockd", "k/linux");
	for (int i = 0; i < nrows; i++) {
		const struct scn *s = which[i];
		const char *cpu = pinned[i] ? " [1 CPU]" : "";

		if (s->unit == LATENCY) {
			snprintf(name, sizeof(name), "%s p50%s", s->name, cpu);
			print_row(name, "us", st[i][0].med, st[i][1].med);
			snprintf(name, sizeof(name), "%s p99%s", s->name, cpu);
			print_row(name, "us", st[i][0].med2, st[i][1].med2);
		} else {
			snprintf(name, sizeof(name), "%s%s", s->name, cpu);
			print_row(name, unit_name(s->unit), st[i][0].med,
				  st[i][1].med);
		}
	}
	printf("(k/linux: ksockd's figure over Linux's; above 1 is better "
	       "for MiB/s and ops/s, below 1 for latency)\n");
	for (int i = 0; i < nrows; i++)
		for (int k = 0; k < 2; k++)
			if (st[i][k].err[0] != '\0')
				printf("%s%s on %s: %s\n", which[i]->id,
				       pinned[i] ? " [1 CPU]" : "",
				       sides[k]->name, st[i][k].err);
}

/* -- the server -- */

static pid_t server = -1;
static struct ksd_status baseline;

static int
server_start(const char *bin)
{
	static char addr[64];

	snprintf(addr, sizeof(addr), "@ksockd-bench-server-%d", (int)getpid());
	server = fork();
	if (server < 0)
		return -1;
	if (server == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(bin, bin, addr, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		struct timespec ts = { 0, 10 * 1000000L };

		if (ksd_attach(addr) == 0)
			return ksd_status(&baseline);
		nanosleep(&ts, NULL);
	}
	return -1;
}

/* The server stops clean: exit status 0 means nothing left allocated. */
static int
server_stop(void)
{
	ksd_detach();
	kill(server, SIGTERM);
	return reap(server);
}

static bool
at_baseline(void)
{
	struct ksd_status st;

	/* A child's hang-up reaches the server after its exit. */
	for (int i = 0; i < 500; i++) {
		struct timespec ts = { 0, 10 * 1000000L };

		if (ksd_status(&st) < 0)
			return false;
		if (st.ksock_allocs == baseline.ksock_allocs &&
		    st.sockets == baseline.sockets &&
		    st.objects == baseline.objects &&
		    st.clients == baseline.clients && st.parked == 0 &&
		    st.descriptors == baseline.descriptors)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

/* The server's scheduler state (/proc/PID/stat's third field: 'S'
 * asleep, 'R' running or runnable), or '?'. */
static char
server_sched_state(void)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)server);
	f = fopen(path, "r");
	if (f == NULL)
		return '?';
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* the name may hold spaces */
	return p != NULL && p[1] == ' ' ? p[2] : '?';
}

/*
 * After the runs, with no call in flight: the server stops spinning
 * over its clients' bells and sleeps (docs/ksockd.md). A server that
 * kept spinning would be running or runnable ('R') at every look;
 * asleep means ten looks in a row, 10 ms apart, within a generous 30 s
 * (nothing is timed: a loaded machine only makes it take longer).
 */
static bool
server_sleeps_when_idle(void)
{
	int asleep = 0;

	for (int i = 0; i < 3000 && asleep < 10; i++) {
		struct timespec ts = { 0, 10 * 1000000L };

		asleep = server_sched_state() == 'S' ? asleep + 1 : 0;
		nanosleep(&ts, NULL);
	}
	return asleep == 10;
}

/* Descriptors open in this process (the Linux side's leak check). */
static int
fd_count(void)
{
	char path[64];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}

static int
smoke(void)
{
	int passed = 0, failed = 0;

	for (size_t j = 0; j < NSCNS; j++)
		for (int i = 0; i < 2; i++) {
			struct result r;
			/* A first run lets the library make what it keeps
			 * for the process (a slot's notifier, once a
			 * receive has room for control messages); the
			 * second must leave the count as it found it. */
			int ret = run_once(sides[i], &scns[j], scns[j].smoke_n,
					   &r);
			int fds = fd_count();

			if (ret == 0)
				ret = run_once(sides[i], &scns[j],
					       scns[j].smoke_n, &r);

			/* The client library keeps a slot's notifier (a
			 * kernel socket) once a call needed it: a second
			 * run must then open nothing more. */
			if (ret == 0 && i == 1 && fd_count() != fds) {
				fds = fd_count();
				ret = run_once(sides[i], &scns[j],
					       scns[j].smoke_n, &r);
			}
			if (ret == 0 && fd_count() != fds) {
				ret = -1;
				snprintf(r.err, sizeof(r.err),
					 "descriptors left open");
			}
			if (ret == 0 && i == 1 && !at_baseline()) {
				ret = -1;
				snprintf(r.err, sizeof(r.err), "the server "
					 "is not back to its baseline");
			}
			printf("%s %-14s %s%s%s\n", ret == 0 ? "ok  " : "FAIL",
			       scns[j].id, sides[i]->name, ret ? ": " : "",
			       ret ? r.err : "");
			fflush(stdout);
			if (ret == 0)
				passed++;
			else
				failed++;
		}
	if (server_sleeps_when_idle()) {
		printf("ok   server_sleeps_when_idle\n");
		passed++;
	} else {
		printf("FAIL server_sleeps_when_idle\n");
		failed++;
	}
	if (server_stop() == 0) {
		printf("ok   server_stops_clean\n");
		passed++;
	} else {
		printf("FAIL server_stops_clean\n");
		failed++;
	}
	printf("bench-ksockd-smoke: %d passed, %d failed, 0 skipped\n", passed,
	       failed);
	return failed ? 1 : 0;
}

/* Every process of the run, the server too, on @set. */
static bool
place(const cpu_set_t *set)
{
	struct timespec settle = { 0, 200 * 1000000L };

	if (sched_setaffinity(0, sizeof(*set), set) != 0 ||
	    sched_setaffinity(server, sizeof(*set), set) != 0)
		return false;
	nanosleep(&settle, NULL);
	return true;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_ksockd KSOCKD [--reps N] [--ms MS] "
		"[--only ID,...] [--no-pin]\n"
		"       bench_ksockd KSOCKD --smoke\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct scn *which[2 * NSCNS];
	static struct side_stats st[2 * NSCNS][2];
	static bool pinned[2 * NSCNS];
	cpu_set_t all, one;
	int nrows = 0, status = 0;

	if (argc < 2)
		usage();
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--smoke") == 0)
			opt.smoke = true;
		else if (strcmp(argv[i], "--no-pin") == 0)
			opt.no_pin = true;
		else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
			opt.reps = atoi(argv[++i]);
		else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc)
			opt.seconds = atof(argv[++i]) / 1000;
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			opt.only = argv[++i];
		else
			usage();
	}
	if (opt.reps < 1 || opt.reps > MAX_REPS || opt.seconds <= 0)
		usage();
	signal(SIGPIPE, SIG_IGN);
	bench_watchdog_install("bench_ksockd");
	if (server_start(argv[1]) < 0) {
		fprintf(stderr, "bench_ksockd: cannot start %s\n", argv[1]);
		return 1;
	}
	if (opt.smoke)
		return smoke();

	if (sched_getaffinity(0, sizeof(all), &all) != 0)
		opt.no_pin = true;
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &all)) {
			CPU_SET(c, &one);
			break;
		}
	printf("bench_ksockd: %d repetitions of ~%.0f ms per side, "
	       "alternating; %ld CPUs\n", opt.reps, opt.seconds * 1000,
	       sysconf(_SC_NPROCESSORS_ONLN));
	for (int p = 0; p < 2; p++) {
		if (p == 1 && (opt.no_pin || !place(&one)))
			break;
		for (size_t j = 0; j < NSCNS; j++) {
			if (!bench_selected(opt.only, scns[j].id))
				continue;
			printf("  %s%s...\n", scns[j].name, p ? " [1 CPU]" : "");
			fflush(stdout);
			which[nrows] = &scns[j];
			pinned[nrows] = p == 1;
			run_row(&scns[j], st[nrows]);
			if (st[nrows][0].nv == 0)
				status = 1;	/* Linux must work */
			nrows++;
		}
		if (p == 1)
			place(&all);
	}
	print_table(which, pinned, st, nrows);
	if (server_stop() != 0) {
		fprintf(stderr, "bench_ksockd: the server did not stop clean\n");
		status = 1;
	}
	return status;
}

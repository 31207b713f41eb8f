/*
 * The scenarios, each written once against struct bench_ops, and the
 * table that lists them.
 *
 * A run gets @n (messages, round trips, connections, objects or
 * iterations), does the work, and reports how much it moved against how
 * much it should have: a run that moved the wrong number of bytes fails,
 * whatever its speed. Descriptors are created before threads start and
 * closed by the thread that created them (see bench.h); a thread that is
 * left blocked by a failure is released with shutdown(), which acts on
 * the socket and so reaches every copy of a descriptor.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define KIB	1024
#define MIB	(1024 * 1024)

/* Queued per pair by the memory scenario "pair + 64 KiB queued". */
#define QUEUED_BYTES	(64 * KIB)
/* Listen backlog of the connection scenario: Linux's default somaxconn. */
#define CONNECT_BACKLOG	4096

int64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int
bench_fail(struct bench_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * A page-aligned buffer of @len bytes with its pages touched, so faults
 * are not timed. Page alignment because copies between buffers whose
 * addresses differ by 8 or 16 modulo 64 run more than ten times slower on
 * some CPUs (AMD EPYC with FSRM, in our runs), and the user buffers
 * should not decide the figures.
 */
static char *
alloc_buf(size_t len)
{
	char *p = aligned_alloc(4096, (len + 4095) & ~(size_t)4095);

	if (p != NULL)
		memset(p, 'k', len);
	return p;
}

/* Sends all @len bytes (a stream may take them in parts). 0 or errno. */
static int
send_all(const struct bench_ops *ops, int fd, const char *buf, size_t len)
{
	ssize_t k;

	while (len > 0) {
		k = ops->send(fd, buf, len, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		buf += k;
		len -= (size_t)k;
	}
	return 0;
}

/* Fills @sun with an abstract name unique to this process, side and call. */
static socklen_t
unique_name(struct sockaddr_un *sun, const struct bench_ops *ops)
{
	static atomic_uint counter;
	int len;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	len = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1,
		       "ksock-bench-%d-%s-%u", (int)getpid(), ops->name,
		       atomic_fetch_add(&counter, 1));
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
}

/* -- throughput: one writer thread, the caller reads -- */

struct writer {
	const struct bench_ops *ops;
	int		 fd;
	const char	*buf;
	size_t		 size;
	long		 n;
};

static int
writer_main(void *p)
{
	struct writer *w = p;
	long i;
	int err;

	for (i = 0; i < w->n; i++) {
		err = send_all(w->ops, w->fd, w->buf, w->size);
		if (err != 0)
			return err;
	}
	return 0;
}

/*
 * @n writes of s->size bytes from one thread to another over a
 * socketpair of s->type. A stream reader reads s->size at a time and
 * takes what comes; a message reader must get every message whole.
 */
static int
run_throughput(const struct bench_ops *ops, const struct bench_scn *s,
	       long n, struct bench_result *r)
{
	struct bench_thread t;
	struct writer w;
	char *wbuf, *rbuf;
	long long got = 0, msgs = 0;
	int64_t t0;
	ssize_t k;
	int sv[2], ret = -1, werr;

	r->want = (long long)n * (long long)s->size;
	wbuf = alloc_buf(s->size);
	rbuf = alloc_buf(s->size);
	if (wbuf == NULL || rbuf == NULL) {
		bench_fail(r, "out of memory");
		goto free_bufs;
	}
	if (ops->socketpair(AF_UNIX, s->type, 0, sv) < 0) {
		bench_fail(r, "socketpair: %s", strerror(errno));
		goto free_bufs;
	}
	w = (struct writer){ ops, sv[0], wbuf, s->size, n };
	t0 = bench_now_ns();
	if (ops->thread_start(&t, writer_main, &w) < 0) {
		bench_fail(r, "thread: %s", strerror(errno));
		goto close_pair;
	}
	while (got < r->want) {
		k = ops->recv(sv[1], rbuf, s->size, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			bench_fail(r, "recv after %lld bytes: %s", got,
				   k == 0 ? "EOF" : strerror(errno));
			break;
		}
		if (s->type != SOCK_STREAM && (size_t)k != s->size) {
			bench_fail(r, "message %lld: %zd bytes, want %zu",
				   msgs, k, s->size);
			break;
		}
		got += k;
		msgs++;
	}
	r->seconds = (double)(bench_now_ns() - t0) / 1e9;
	if (got < r->want)
		ops->shutdown(sv[1], SHUT_RDWR);
	werr = ops->thread_join(&t);
	r->moved = got;
	if (got == r->want) {
		if (werr != 0)
			bench_fail(r, "writer: %s", strerror(werr));
		else
			ret = 0;
	}
	r->value = (double)got / MIB / r->seconds;
close_pair:
	ops->close(sv[0]);
	ops->close(sv[1]);
free_bufs:
	free(wbuf);
	free(rbuf);
	return ret;
}

/* -- latency: 1-byte ping-pong -- */

struct echo {
	const struct bench_ops *ops;
	int		fd;
	long		n;
	bool		use_poll;
};

/* Waits until @fd is readable when @use_poll; 0 or errno. */
static int
wait_readable(const struct bench_ops *ops, int fd, bool use_poll)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int k;

	if (!use_poll)
		return 0;
	do
		k = ops->poll(&pfd, 1, -1);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return errno;
	if (!(pfd.revents & POLLIN))
		return EIO;
	return 0;
}

/* Receives exactly one byte; 0 or errno (EPIPE at EOF). */
static int
recv_byte(const struct bench_ops *ops, int fd, bool use_poll)
{
	char c;
	ssize_t k;
	int err;

	for (;;) {
		err = wait_readable(ops, fd, use_poll);
		if (err != 0)
			return err;
		k = ops->recv(fd, &c, 1, 0);
		if (k == 1)
			return 0;
		if (k == 0)
			return EPIPE;
		if (errno != EINTR)
			return errno;
	}
}

static int
echo_main(void *p)
{
	struct echo *e = p;
	long i;
	int err;

	for (i = 0; i < e->n; i++) {
		err = recv_byte(e->ops, e->fd, e->use_poll);
		if (err == 0)
			err = send_all(e->ops, e->fd, "p", 1);
		if (err != 0)
			return err;
	}
	return 0;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * @n round trips of one byte between this thread and an echo thread over
 * a stream socketpair, each timed; with s->use_poll both threads poll
 * for POLLIN before every recv.
 */
static int
run_pingpong(const struct bench_ops *ops, const struct bench_scn *s, long n,
	     struct bench_result *r)
{
	struct bench_thread t;
	struct echo e;
	int64_t *rtt, t0, t1;
	long i;
	int sv[2], ret = -1, err = 0, eerr;

	r->want = n;
	rtt = malloc((size_t)n * sizeof(*rtt));
	if (rtt == NULL)
		return bench_fail(r, "out of memory");
	if (ops->socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		bench_fail(r, "socketpair: %s", strerror(errno));
		goto free_rtt;
	}
	e = (struct echo){ ops, sv[1], n, s->use_poll };
	if (ops->thread_start(&t, echo_main, &e) < 0) {
		bench_fail(r, "thread: %s", strerror(errno));
		goto close_pair;
	}
	t0 = bench_now_ns();
	for (i = 0; i < n; i++) {
		t1 = bench_now_ns();
		err = send_all(ops, sv[0], "p", 1);
		if (err == 0)
			err = recv_byte(ops, sv[0], s->use_poll);
		if (err != 0)
			break;
		rtt[i] = bench_now_ns() - t1;
	}
	r->seconds = (double)(bench_now_ns() - t0) / 1e9;
	if (err != 0) {
		bench_fail(r, "round trip %ld: %s", i, strerror(err));
		ops->shutdown(sv[0], SHUT_RDWR);
	}
	eerr = ops->thread_join(&t);
	r->moved = i;
	if (err == 0 && eerr != 0)
		bench_fail(r, "echo thread: %s", strerror(eerr));
	else if (err == 0 && n > 0) {
		qsort(rtt, (size_t)n, sizeof(*rtt), cmp_i64);
		r->value = (double)rtt[n / 2] / 1e3;
		r->value2 = (double)rtt[(n * 99) / 100] / 1e3;
		ret = 0;
	}
close_pair:
	ops->close(sv[0]);
	ops->close(sv[1]);
free_rtt:
	free(rtt);
	return ret;
}

/* -- descriptors held open during a run -- */

/*
 * Opens @n idle sockets, so the run happens in a descriptor table that
 * holds that many: their numbers are below the ones the run allocates.
 * Returns the array (close_fill frees it), or NULL with r->err set.
 */
static int *
open_fill(const struct bench_ops *ops, int n, struct bench_result *r)
{
	int *fds = calloc((size_t)n + 1, sizeof(int));

	if (fds == NULL) {
		bench_fail(r, "out of memory");
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		fds[i] = ops->socket(AF_UNIX, SOCK_STREAM, 0);
		if (fds[i] < 0) {
			bench_fail(r, "filler socket %d: %s", i,
				   strerror(errno));
			while (i-- > 0)
				ops->close(fds[i]);
			free(fds);
			return NULL;
		}
	}
	return fds;
}

static void
close_fill(const struct bench_ops *ops, int *fds, int n)
{
	if (fds == NULL)
		return;
	for (int i = 0; i < n; i++)
		ops->close(fds[i]);
	free(fds);
}

/* -- connection rate -- */

struct acceptor {
	const struct bench_ops *ops;
	int		fd;
	long		n;
	long		accepted;
};

static int
acceptor_main(void *p)
{
	struct acceptor *a = p;
	int fd;

	while (a->accepted < a->n) {
		fd = a->ops->accept(a->fd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		a->ops->close(fd);
		a->accepted++;
	}
	return 0;
}

/* Fills @sun with a path name in /tmp unique to this process, side and
 * call, and removes anything there. */
static socklen_t
unique_path(struct sockaddr_un *sun, const struct bench_ops *ops)
{
	static atomic_uint counter;
	int len;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	len = snprintf(sun->sun_path, sizeof(sun->sun_path),
		       "/tmp/ksock-bench-%d-%s-%u", (int)getpid(), ops->name,
		       atomic_fetch_add(&counter, 1));
	unlink(sun->sun_path);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

/*
 * @n times: socket, connect to a listener, close; a second thread
 * accepts and closes each connection. The listener has an abstract name
 * (no filesystem), or with s->use_path a path in /tmp (each connect then
 * resolves it: on ksock, real system calls on the path). With s->fill,
 * that many descriptors stay open in both threads' tables meanwhile.
 */
static int
run_connect(const struct bench_ops *ops, const struct bench_scn *s, long n,
	    struct bench_result *r)
{
	struct bench_thread t;
	struct acceptor a;
	struct sockaddr_un sun;
	socklen_t len;
	int64_t t0;
	long i;
	int lfd, fd, ret = -1, aerr, *fill = NULL;

	r->want = n;
	len = s->use_path ? unique_path(&sun, ops) : unique_name(&sun, ops);
	if (s->fill > 0 && (fill = open_fill(ops, s->fill, r)) == NULL)
		return -1;
	lfd = ops->socket(AF_UNIX, SOCK_STREAM, 0);
	if (lfd < 0) {
		bench_fail(r, "socket: %s", strerror(errno));
		goto close_fill;
	}
	if (ops->bind(lfd, (struct sockaddr *)&sun, len) < 0 ||
	    ops->listen(lfd, CONNECT_BACKLOG) < 0) {
		bench_fail(r, "bind/listen: %s", strerror(errno));
		goto close_listener;
	}
	a = (struct acceptor){ ops, lfd, n, 0 };
	t0 = bench_now_ns();
	if (ops->thread_start(&t, acceptor_main, &a) < 0) {
		bench_fail(r, "thread: %s", strerror(errno));
		goto close_listener;
	}
	for (i = 0; i < n; i++) {
		fd = ops->socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0) {
			bench_fail(r, "socket %ld: %s", i, strerror(errno));
			break;
		}
		if (ops->connect(fd, (struct sockaddr *)&sun, len) < 0) {
			bench_fail(r, "connect %ld: %s", i, strerror(errno));
			ops->close(fd);
			break;
		}
		ops->close(fd);
	}
	if (i < n)
		ops->shutdown(lfd, SHUT_RDWR);
	aerr = ops->thread_join(&t);
	r->seconds = (double)(bench_now_ns() - t0) / 1e9;
	r->moved = a.accepted;
	if (i == n) {
		if (aerr != 0)
			bench_fail(r, "accept %ld: %s", a.accepted,
				   strerror(aerr));
		else if (a.accepted == n)
			ret = 0;
	}
	r->value = (double)a.accepted / r->seconds;
close_listener:
	ops->close(lfd);
	if (s->use_path)
		unlink(sun.sun_path);
close_fill:
	close_fill(ops, fill, s->fill);
	return ret;
}

/* -- descriptor passing -- */

union cmsg_buf {
	char		buf[CMSG_SPACE(sizeof(int))];
	struct cmsghdr	align;
};

/* Sends one byte carrying @pass in SCM_RIGHTS. 0 or errno. */
static int
send_fd(const struct bench_ops *ops, int fd, int pass)
{
	union cmsg_buf cb;
	struct iovec iov = { .iov_base = "f", .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cb.buf, .msg_controllen = sizeof(cb.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	memset(&cb, 0, sizeof(cb));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &pass, sizeof(int));
	for (;;) {
		if (ops->sendmsg(fd, &msg, MSG_NOSIGNAL) == 1)
			return 0;
		if (errno != EINTR)
			return errno;
	}
}

/* Receives one byte and the descriptor it carries, into *@out. */
static int
recv_fd(const struct bench_ops *ops, int fd, int *out)
{
	union cmsg_buf cb;
	char c;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cb.buf, .msg_controllen = sizeof(cb.buf),
	};
	struct cmsghdr *cm;
	ssize_t k;

	do
		k = ops->recvmsg(fd, &msg, 0);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return errno;
	if (k != 1)
		return EPIPE;
	cm = CMSG_FIRSTHDR(&msg);
	if (cm == NULL || cm->cmsg_level != SOL_SOCKET ||
	    cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int)))
		return ENOMSG;
	memcpy(out, CMSG_DATA(cm), sizeof(int));
	return 0;
}

struct fd_receiver {
	const struct bench_ops *ops;
	int		fd;
	long		n;
	long		got;
};

static int
fd_receiver_main(void *p)
{
	struct fd_receiver *fr = p;
	int err, fd;

	while (fr->got < fr->n) {
		err = recv_fd(fr->ops, fr->fd, &fd);
		if (err != 0)
			return err;
		fr->ops->close(fd);
		fr->got++;
	}
	return 0;
}

/*
 * @n messages of one byte, each carrying one descriptor (an AF_UNIX
 * datagram socket) in SCM_RIGHTS, over a stream socketpair; the receiving
 * thread closes every descriptor it gets. A side whose first sendmsg with
 * SCM_RIGHTS fails (or delivers no descriptor) does not support it.
 */
static int
run_fdpass(const struct bench_ops *ops, const struct bench_scn *s, long n,
	   struct bench_result *r)
{
	struct bench_thread t;
	struct fd_receiver fr;
	int64_t t0;
	long i;
	int sv[2], pass, got, err, ret = -1, rerr;

	r->want = n;
	if (ops->socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return bench_fail(r, "socketpair: %s", strerror(errno));
	pass = ops->socket(AF_UNIX, SOCK_DGRAM, 0);
	if (pass < 0) {
		bench_fail(r, "socket: %s", strerror(errno));
		goto close_pair;
	}
	err = send_fd(ops, sv[0], pass);
	if (err == 0) {
		err = recv_fd(ops, sv[1], &got);
		if (err == 0)
			ops->close(got);
	}
	if (err != 0) {
		if (err == ENOMSG)
			bench_fail(r, "sendmsg took SCM_RIGHTS, but the "
				   "message came without a descriptor");
		else
			bench_fail(r, "first SCM_RIGHTS message: %s",
				   strerror(err));
		ret = BENCH_UNSUPPORTED;
		goto close_pass;
	}
	fr = (struct fd_receiver){ ops, sv[1], n, 0 };
	t0 = bench_now_ns();
	if (ops->thread_start(&t, fd_receiver_main, &fr) < 0) {
		bench_fail(r, "thread: %s", strerror(errno));
		goto close_pass;
	}
	for (i = 0; i < n; i++) {
		err = send_fd(ops, sv[0], pass);
		if (err != 0) {
			bench_fail(r, "sendmsg %ld: %s", i, strerror(err));
			ops->shutdown(sv[0], SHUT_RDWR);
			break;
		}
	}
	rerr = ops->thread_join(&t);
	r->seconds = (double)(bench_now_ns() - t0) / 1e9;
	r->moved = fr.got;
	if (i == n) {
		if (rerr != 0)
			bench_fail(r, "recvmsg %ld: %s", fr.got, strerror(rerr));
		else
			ret = 0;
	}
	r->value = (double)fr.got / r->seconds;
close_pass:
	ops->close(pass);
close_pair:
	ops->close(sv[0]);
	ops->close(sv[1]);
	return ret;
}

/* -- memory -- */

/*
 * Creates @n idle sockets (s->type 0), or @n connected stream pairs,
 * optionally with s->queued bytes queued on each, and reports the growth
 * of the side's memory divided by @n. Everything the measurement needs is
 * allocated before the first reading.
 */
static int
run_memory(const struct bench_ops *ops, const struct bench_scn *s, long n,
	   struct bench_result *r)
{
	static struct bench_mem before, after;	/* too big for the stack */
	int *fds;
	char *buf = NULL;
	long made = 0, i;
	int64_t t0;
	int per = s->pairs > 0 ? 2 : 1, ret = -1;
	ssize_t k;
	size_t left;

	r->want = s->queued > 0 ? (long long)n * s->queued : n;
	fds = calloc((size_t)n * 2, sizeof(int));
	if (s->queued > 0)
		buf = alloc_buf((size_t)s->queued);
	if (fds == NULL || (s->queued > 0 && buf == NULL)) {
		bench_fail(r, "out of memory");
		goto free_bufs;
	}
	t0 = bench_now_ns();
	ops->mem_read(&before);
	for (made = 0; made < n; made++) {
		int *fd = &fds[made * per];

		if (per == 1)
			fd[0] = ops->socket(AF_UNIX, SOCK_STREAM, 0);
		else if (ops->socketpair(AF_UNIX, SOCK_STREAM, 0, fd) < 0)
			fd[0] = -1;
		if (fd[0] < 0) {
			bench_fail(r, "socket %ld: %s", made, strerror(errno));
			break;
		}
		for (left = (size_t)s->queued; left > 0; left -= (size_t)k) {
			k = ops->send(fd[0], buf, left,
				      MSG_DONTWAIT | MSG_NOSIGNAL);
			if (k <= 0)
				break;
			r->moved += k;
		}
		if (s->queued == 0)
			r->moved++;
	}
	ops->mem_read(&after);
	r->seconds = (double)(bench_now_ns() - t0) / 1e9;
	r->value = ops->mem_growth(&before, &after, n, s->queued > 0,
				   r->detail, sizeof(r->detail));
	if (made == n) {
		if (r->moved != r->want)
			bench_fail(r, "queued %lld bytes, want %lld",
				   r->moved, r->want);
		else if (isnan(r->value))
			bench_fail(r, "no memory figure on this side");
		else
			ret = 0;
	}
	for (i = 0; i < made * per; i++)
		ops->close(fds[i]);
free_bufs:
	free(buf);
	free(fds);
	return ret;
}

/* -- scaling: independent pairs, each driven by one thread -- */

struct driver {
	const struct bench_ops *ops;
	const int	*fds;		/* pairs: fds[2i] -> fds[2i + 1] */
	int		 npairs;
	size_t		 size;
	long		 n;
	char		*wbuf, *rbuf;
	atomic_int	*go;
	long long	 moved;
};

/*
 * Moves @size bytes through one pair from the same thread: sends what
 * fits without blocking, then reads it all back. 0 or errno.
 */
static int
pump(struct driver *d, int wfd, int rfd)
{
	const struct bench_ops *ops = d->ops;
	size_t done = 0, left;
	ssize_t k;

	while (done < d->size) {
		k = ops->send(wfd, d->wbuf + done, d->size - done,
			      MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k <= 0)
			return k == 0 ? EIO : errno;
		done += (size_t)k;
		for (left = (size_t)k; left > 0; left -= (size_t)k) {
			k = ops->recv(rfd, d->rbuf, left, 0);
			if (k <= 0)
				return k == 0 ? EPIPE : errno;
			d->moved += k;
		}
	}
	return 0;
}

static int
driver_main(void *p)
{
	struct driver *d = p;
	long i;
	int j, err;

	while (atomic_load(d->go) == 0)
		;
	for (i = 0; i < d->n; i++)
		for (j = 0; j < d->npairs; j++) {
			err = pump(d, d->fds[2 * j], d->fds[2 * j + 1]);
			if (err != 0)
				return err;
		}
	return 0;
}

/*
 * s->pairs stream pairs shared out among s->threads threads; each thread
 * moves s->size bytes through each of its pairs @n times, writing and
 * reading itself, so the threads share nothing but the socket layer.
 */
static int
run_scaling(const struct bench_ops *ops, const struct bench_scn *s, long n,
	    struct bench_result *r)
{
	struct bench_thread t[2];
	struct driver d[2];
	atomic_int go = 0;
	int fds[4], npairs = 0, started = 0, i, err, ret = -1;
	char *bufs[4] = { 0 };
	int64_t t0;

	r->want = (long long)n * (long long)s->size * s->pairs;
	for (i = 0; i < 4; i++)
		if ((bufs[i] = alloc_buf(s->size)) == NULL) {
			bench_fail(r, "out of memory");
			goto free_bufs;
		}
	for (npairs = 0; npairs < s->pairs; npairs++)
		if (ops->socketpair(AF_UNIX, SOCK_STREAM, 0,
				    &fds[2 * npairs]) < 0) {
			bench_fail(r, "socketpair: %s", strerror(errno));
			goto close_pairs;
		}
	for (i = 0; i < s->threads; i++) {
		int per = s->pairs / s->threads;

		d[i] = (struct driver){ ops, &fds[2 * per * i], per, s->size,
					n, bufs[2 * i], bufs[2 * i + 1], &go,
					0 };
		if (ops->thread_start(&t[i], driver_main, &d[i]) < 0) {
			bench_fail(r, "thread: %s", strerror(errno));
			break;
		}
		started++;
	}
	t0 = bench_now_ns();
	atomic_store(&go, 1);
	for (i = 0; i < started; i++) {
		err = ops->thread_join(&t[i]);
		r->moved += d[i].moved;
		if (err != 0 && r->err[0] == '\0')
			bench_fail(r, "thread %d: %s", i, strerror(err));
	}
	r->seconds = (double)(bench_now_ns() - t0) / 1e9;
	r->value = (double)r->moved / MIB / r->seconds;
	if (started == s->threads && r->err[0] == '\0') {
		if (r->moved != r->want)
			bench_fail(r, "moved %lld bytes, want %lld",
				   r->moved, r->want);
		else
			ret = 0;
	}
close_pairs:
	for (i = 0; i < 2 * npairs; i++)
		ops->close(fds[i]);
free_bufs:
	for (i = 0; i < 4; i++)
		free(bufs[i]);
	return ret;
}

/* -- the table -- */

#define TP(nm, id_, ty, sz, start, tgt, g, g2) {			\
	.name = nm, .id = id_, .run = run_throughput, .type = ty,	\
	.size = sz, .unit = BENCH_MIBPS, .start_n = start,		\
	.smoke_n = 16, .target = tgt, .goal = g, .goal2 = g2 }
#define MEM(nm, id_, np, q, tgt, g) {					\
	.name = nm, .id = id_, .run = run_memory, .pairs = np,		\
	.queued = q, .unit = BENCH_BYTES, .fixed_n = 10000,		\
	.smoke_n = 16, .target = tgt, .goal = g }
#define SCALE(nm, id_, np, nt, tgt, g) {				\
	.name = nm, .id = id_, .run = run_scaling, .size = 64 * KIB,	\
	.pairs = np, .threads = nt, .unit = BENCH_MIBPS,		\
	.start_n = 64, .smoke_n = 4, .target = tgt, .goal = g,		\
	.base = "scale_1p1t" }

const struct bench_scn bench_scns[] = {
	TP("stream 64 B writes", "stream_64", SOCK_STREAM, 64,
	   4096, BENCH_NO_TARGET, 0, 0),
	TP("stream 4 KiB writes", "stream_4k", SOCK_STREAM, 4 * KIB,
	   1024, BENCH_NO_TARGET, 0, 0),
	TP("stream 64 KiB writes", "stream_64k", SOCK_STREAM, 64 * KIB,
	   64, BENCH_RATIO_GE_MEMCPY, 2.0, 0.5),
	TP("stream 1 MiB writes", "stream_1m", SOCK_STREAM, MIB,
	   4, BENCH_NO_TARGET, 0, 0),
	TP("seqpacket 64 B", "seqpacket_64", SOCK_SEQPACKET, 64,
	   4096, BENCH_NO_TARGET, 0, 0),
	TP("seqpacket 4 KiB", "seqpacket_4k", SOCK_SEQPACKET, 4 * KIB,
	   1024, BENCH_NO_TARGET, 0, 0),
	TP("dgram 64 B", "dgram_64", SOCK_DGRAM, 64,
	   4096, BENCH_NO_TARGET, 0, 0),
	TP("dgram 4 KiB", "dgram_4k", SOCK_DGRAM, 4 * KIB,
	   1024, BENCH_NO_TARGET, 0, 0),
	{ .name = "ping-pong, blocking", .id = "pingpong", .run = run_pingpong,
	  .unit = BENCH_LATENCY, .start_n = 1024, .smoke_n = 16,
	  .target = BENCH_RATIO_LE, .goal = 0.5 },
	{ .name = "ping-pong, poll", .id = "pingpong_poll",
	  .run = run_pingpong, .use_poll = true, .unit = BENCH_LATENCY,
	  .start_n = 1024, .smoke_n = 16,
	  .target = BENCH_RATIO_LE, .goal = 0.5 },
	{ .name = "connect+accept+close, abstract", .id = "connect",
	  .run = run_connect, .unit = BENCH_RATE, .start_n = 256,
	  .smoke_n = 16, .target = BENCH_RATIO_GE, .goal = 3.0 },
	{ .name = "connect+accept+close, path", .id = "connect_path",
	  .run = run_connect, .use_path = true, .unit = BENCH_RATE,
	  .start_n = 256, .smoke_n = 16, .target = BENCH_RATIO_GE,
	  .goal = 3.0 },
	{ .name = "connect, 10,000 fds open", .id = "connect_10k",
	  .run = run_connect, .fill = 10000, .unit = BENCH_RATE,
	  .start_n = 256, .smoke_n = 16, .target = BENCH_RATIO_GE,
	  .goal = 3.0 },
	{ .name = "descriptor passing", .id = "fdpass", .run = run_fdpass,
	  .unit = BENCH_RATE, .start_n = 1024, .smoke_n = 16 },
	MEM("memory: idle socket", "mem_idle", 0, 0, BENCH_ABS_LE, 512),
	MEM("memory: connected pair", "mem_pair", 1, 0, BENCH_NO_TARGET, 0),
	MEM("memory: pair + 64 KiB queued", "mem_queued", 1, QUEUED_BYTES,
	    BENCH_NO_TARGET, 0),
	SCALE("scaling: 1 pair, 1 thread", "scale_1p1t", 1, 1,
	      BENCH_NO_TARGET, 0),
	SCALE("scaling: 2 pairs, 1 thread", "scale_2p1t", 2, 1,
	      BENCH_NO_TARGET, 0),
	SCALE("scaling: 2 pairs, 2 threads", "scale_2p2t", 2, 2,
	      BENCH_SCALE_GE, 1.8),
};

const size_t bench_nscns = sizeof(bench_scns) / sizeof(bench_scns[0]);

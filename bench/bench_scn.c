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
#include <limits.h>
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

/*
 * The content of a throughput run, which the reader checks: every 8-byte
 * word of a write holds a pseudo-random function of its place in the
 * write, except the first and the last, which hold the write's number
 * (twice, differently mixed). A lost, repeated, reordered or stale write
 * then fails the check at the next stamp the reader looks at, and a
 * corrupted one at any word it samples. The writer stamps its buffer
 * before each send (16 bytes); the reader looks at every stamp and one
 * body word per read, so the check costs next to nothing.
 */
#define STAMP_HEAD	0x6b736f636b2d6821ULL
#define STAMP_TAIL	0x7461696c2d6b7321ULL

static uint64_t
body_word(size_t word)
{
	uint64_t x = (uint64_t)word * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;

	return x ^ (x >> 29);
}

/* Fills @buf (@len bytes, a multiple of 8 and at least 16) with the body
 * pattern; stamp_write() then numbers it. */
static void
pattern_fill(char *buf, size_t len)
{
	for (size_t w = 0; w < len / 8; w++) {
		uint64_t v = body_word(w);

		memcpy(buf + w * 8, &v, 8);
	}
}

static void
stamp_write(char *buf, size_t len, long i)
{
	uint64_t head = (uint64_t)i ^ STAMP_HEAD, tail = (uint64_t)i ^ STAMP_TAIL;

	memcpy(buf, &head, 8);
	memcpy(buf + len - 8, &tail, 8);
}

/* The word at offset @pos of the stream of writes of @size bytes. */
static uint64_t
expected_word(unsigned long long pos, size_t size)
{
	unsigned long long i = pos / size;
	size_t in = (size_t)(pos % size);

	if (in == 0)
		return (uint64_t)i ^ STAMP_HEAD;
	if (in == size - 8)
		return (uint64_t)i ^ STAMP_TAIL;
	return body_word(in / 8);
}

/*
 * Checks @k bytes read at stream offset @off (writes of @size bytes):
 * every stamp in them and one body word. Returns -1 when all is well,
 * else the offset of the first bad word.
 */
static long long
check_read(const char *buf, size_t k, unsigned long long off, size_t size)
{
	unsigned long long end = off + k, pos, w;
	uint64_t v;

	/* The stamps: head and tail of every write that overlaps. */
	for (w = off / size; w * size < end; w++) {
		unsigned long long at[2] = { w * size, w * size + size - 8 };

		for (int j = 0; j < 2; j++) {
			if (at[j] < off || at[j] + 8 > end)
				continue;
			memcpy(&v, buf + (at[j] - off), 8);
			if (v != expected_word(at[j], size))
				return (long long)at[j];
		}
	}
	/* One body word: the middle one of the read. */
	pos = ((off + end) / 2) & ~7ULL;
	if (pos >= off && pos + 8 <= end) {
		memcpy(&v, buf + (pos - off), 8);
		if (v != expected_word(pos, size))
			return (long long)pos;
	}
	return -1;
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

/*
 * A connected pair of s->type: a socketpair, or with s->family a TCP or
 * UDP pair on the side's loopback (bench_inet.c). 0, or -1 with r->err.
 */
static int
make_pair(const struct bench_ops *ops, const struct bench_scn *s, int type,
	  bool nodelay, int sv[2], struct bench_result *r)
{
	if (s->family != 0)
		return bench_inet_pair(ops, s, nodelay, sv, r);
	if (ops->socketpair(AF_UNIX, type, 0, sv) < 0)
		return bench_fail(r, "socketpair: %s", strerror(errno));
	return 0;
}

/* -- throughput: one writer thread, the caller reads -- */

struct writer {
	const struct bench_ops *ops;
	int		 fd;
	char		*buf;
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
		stamp_write((char *)w->buf, w->size, i);
		err = send_all(w->ops, w->fd, w->buf, w->size);
		if (err != 0)
			return err;
	}
	return 0;
}

/*
 * @n writes of s->size bytes from one thread to another over a
 * socketpair of s->type. A stream reader reads s->size at a time and
 * takes what comes; a message reader must get every message whole. The
 * reader checks what it got (check_read).
 */
static int
run_throughput(const struct bench_ops *ops, const struct bench_scn *s,
	       long n, struct bench_result *r)
{
	struct bench_thread t;
	struct writer w;
	char *wbuf, *rbuf;
	long long got = 0, msgs = 0, bad;
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
	if (make_pair(ops, s, s->type, false, sv, r) < 0)
		goto free_bufs;
	pattern_fill(wbuf, s->size);
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
		if ((bad = check_read(rbuf, (size_t)k, (unsigned long long)got,
				      s->size)) >= 0) {
			bench_fail(r, "wrong bytes at offset %lld", bad);
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

/* Receives exactly one byte into *@c; 0 or errno (EPIPE at EOF). */
static int
recv_byte(const struct bench_ops *ops, int fd, bool use_poll, char *c)
{
	ssize_t k;
	int err;

	for (;;) {
		err = wait_readable(ops, fd, use_poll);
		if (err != 0)
			return err;
		k = ops->recv(fd, c, 1, 0);
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

	char c;

	/* Each byte comes back plus one: the pinger checks it. */
	for (i = 0; i < e->n; i++) {
		err = recv_byte(e->ops, e->fd, e->use_poll, &c);
		c++;
		if (err == 0)
			err = send_all(e->ops, e->fd, &c, 1);
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
	if (make_pair(ops, s, SOCK_STREAM, true, sv, r) < 0)
		goto free_rtt;
	e = (struct echo){ ops, sv[1], n, s->use_poll };
	if (ops->thread_start(&t, echo_main, &e) < 0) {
		bench_fail(r, "thread: %s", strerror(errno));
		goto close_pair;
	}
	t0 = bench_now_ns();
	for (i = 0; i < n; i++) {
		char out = (char)(i * 7), in = 0;

		t1 = bench_now_ns();
		err = send_all(ops, sv[0], &out, 1);
		if (err == 0)
			err = recv_byte(ops, sv[0], s->use_poll, &in);
		if (err == 0 && in != (char)(out + 1))
			err = EBADMSG;
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
 * The listener of the connection scenario, with its address in @ss: an
 * abstract name, a path (s->use_path), or with s->family a TCP port on
 * the side's loopback. The descriptor, or -1 with r->err set.
 */
static int
connect_listener(const struct bench_ops *ops, const struct bench_scn *s,
		 struct sockaddr_storage *ss, socklen_t *len,
		 struct bench_result *r)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)ss;
	int lfd;

	if (s->family != 0)
		return bench_inet_listener(ops, s, CONNECT_BACKLOG, ss, len,
					   r);
	*len = s->use_path ? unique_path(sun, ops) : unique_name(sun, ops);
	lfd = ops->socket(AF_UNIX, SOCK_STREAM, 0);
	if (lfd < 0) {
		bench_fail(r, "socket: %s", strerror(errno));
		return -1;
	}
	if (ops->bind(lfd, (struct sockaddr *)sun, *len) < 0 ||
	    ops->listen(lfd, CONNECT_BACKLOG) < 0) {
		bench_fail(r, "bind/listen: %s", strerror(errno));
		ops->close(lfd);
		if (s->use_path)
			unlink(sun->sun_path);
		return -1;
	}
	return lfd;
}

/*
 * @n times: socket, connect to a listener, close; a second thread
 * accepts and closes each connection. The listener has an abstract name
 * (no filesystem), or with s->use_path a path in /tmp (each connect then
 * resolves it: on ksock, real system calls on the path), or with
 * s->family a TCP port on the loopback. With s->fill, that many
 * descriptors stay open in both threads' tables meanwhile.
 */
static int
run_connect(const struct bench_ops *ops, const struct bench_scn *s, long n,
	    struct bench_result *r)
{
	struct bench_thread t;
	struct acceptor a;
	struct sockaddr_storage ss;
	socklen_t len;
	int64_t t0;
	long i;
	int lfd, fd, ret = -1, aerr, *fill = NULL;
	int family = s->family != 0 ? s->family : AF_UNIX;

	r->want = n;
	if (s->fill > 0 && (fill = open_fill(ops, s->fill, r)) == NULL)
		return -1;
	lfd = connect_listener(ops, s, &ss, &len, r);
	if (lfd < 0)
		goto close_fill;
	a = (struct acceptor){ ops, lfd, n, 0 };
	t0 = bench_now_ns();
	if (ops->thread_start(&t, acceptor_main, &a) < 0) {
		bench_fail(r, "thread: %s", strerror(errno));
		goto close_listener;
	}
	for (i = 0; i < n; i++) {
		fd = ops->socket(family, SOCK_STREAM, 0);
		if (fd < 0) {
			bench_fail(r, "socket %ld: %s", i, strerror(errno));
			break;
		}
		if (ops->connect(fd, (struct sockaddr *)&ss, len) < 0) {
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
		unlink(((struct sockaddr_un *)&ss)->sun_path);
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

/* -- fan-in: many datagram senders, one receiver -- */

#define FANIN_MAX	16

struct fanin_sender {
	const struct bench_ops *ops;
	int		 fd;		/* connected to the receiver */
	uint32_t	 id;
	size_t		 size;
	long		 n;
};

static int
fanin_sender_main(void *p)
{
	struct fanin_sender *fs = p;
	char buf[4096];

	memset(buf, 'f', fs->size);
	memcpy(buf, &fs->id, 4);
	for (long i = 0; i < fs->n; i++) {
		uint32_t seq = (uint32_t)i;

		memcpy(buf + 4, &seq, 4);
		for (;;) {
			if (fs->ops->send(fs->fd, buf, fs->size,
					  MSG_NOSIGNAL) == (ssize_t)fs->size)
				break;
			if (errno != EINTR)
				return errno;
		}
	}
	return 0;
}

/*
 * s->threads sender threads, each with its own datagram socket connected
 * to one receiver bound to an abstract name, send @n messages of s->size
 * bytes in all; this thread receives them. Each message names its sender
 * and its number, and the receiver checks that every sender's messages
 * come whole and in order. Messages per second.
 */
static int
run_fanin(const struct bench_ops *ops, const struct bench_scn *s, long n,
	  struct bench_result *r)
{
	struct bench_thread t[FANIN_MAX];
	struct fanin_sender fs[FANIN_MAX];
	uint32_t next[FANIN_MAX] = { 0 };
	struct sockaddr_un sun;
	socklen_t len;
	char buf[4096];
	int rfd, nsend = s->threads, made = 0, started = 0, i, ret = -1, err;
	long per = n / nsend, got = 0;
	int64_t t0;

	r->want = per * nsend;
	len = unique_name(&sun, ops);
	rfd = ops->socket(AF_UNIX, SOCK_DGRAM, 0);
	if (rfd < 0)
		return bench_fail(r, "socket: %s", strerror(errno));
	if (ops->bind(rfd, (struct sockaddr *)&sun, len) < 0) {
		bench_fail(r, "bind: %s", strerror(errno));
		goto close_all;
	}
	for (made = 0; made < nsend; made++) {
		fs[made] = (struct fanin_sender){ ops, -1, (uint32_t)made,
						  s->size, per };
		fs[made].fd = ops->socket(AF_UNIX, SOCK_DGRAM, 0);
		if (fs[made].fd < 0 ||
		    ops->connect(fs[made].fd, (struct sockaddr *)&sun,
				 len) < 0) {
			bench_fail(r, "sender %d: %s", made, strerror(errno));
			if (fs[made].fd >= 0)
				ops->close(fs[made].fd);
			goto close_all;
		}
	}
	t0 = bench_now_ns();
	for (started = 0; started < nsend; started++)
		if (ops->thread_start(&t[started], fanin_sender_main,
				      &fs[started]) < 0) {
			bench_fail(r, "thread: %s", strerror(errno));
			break;
		}
	while (started == nsend && got < r->want) {
		ssize_t k = ops->recv(rfd, buf, sizeof(buf), 0);
		uint32_t id, seq;

		if (k < 0 && errno == EINTR)
			continue;
		if (k != (ssize_t)s->size) {
			bench_fail(r, "message %ld: %zd bytes: %s", got, k,
				   k < 0 ? strerror(errno) : "wrong size");
			break;
		}
		memcpy(&id, buf, 4);
		memcpy(&seq, buf + 4, 4);
		if (id >= (uint32_t)nsend || seq != next[id] ||
		    buf[k - 1] != 'f') {
			bench_fail(r, "message %ld: sender %u number %u, "
				   "out of order or damaged", got, id, seq);
			break;
		}
		next[id]++;
		got++;
	}
	r->seconds = (double)(bench_now_ns() - t0) / 1e9;
	r->moved = got;
	if (got < r->want)
		ops->shutdown(rfd, SHUT_RDWR);
	for (i = 0; i < started; i++) {
		err = ops->thread_join(&t[i]);
		if (err != 0 && got == r->want && r->err[0] == '\0')
			bench_fail(r, "sender %d: %s", i, strerror(err));
	}
	if (started == nsend && got == r->want && r->err[0] == '\0')
		ret = 0;
	r->value = (double)got / r->seconds;
close_all:
	for (i = 0; i < made; i++)
		ops->close(fs[i].fd);
	ops->close(rfd);
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
 * Moves @size bytes (write number @i of the pair) through one pair from
 * the same thread: sends what fits without blocking, then reads it all
 * back, checking it (check_read). 0 or errno.
 */
static int
pump(struct driver *d, int wfd, int rfd, long i)
{
	const struct bench_ops *ops = d->ops;
	unsigned long long base = (unsigned long long)i * d->size;
	size_t done = 0, got = 0, left;
	ssize_t k;

	stamp_write(d->wbuf, d->size, i);
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
			if (check_read(d->rbuf, (size_t)k, base + got,
				       d->size) >= 0)
				return EBADMSG;
			got += (size_t)k;
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
			err = pump(d, d->fds[2 * j], d->fds[2 * j + 1], i);
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
	for (i = 0; i < 4; i++) {
		if ((bufs[i] = alloc_buf(s->size)) == NULL) {
			bench_fail(r, "out of memory");
			goto free_bufs;
		}
		pattern_fill(bufs[i], s->size);
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

/* -- unmodified programs: natively and under ksock-run -- */

/*
 * The directory of this executable (build/bench), for its neighbours:
 * run_bench beside it, ksock-run one up, the Python program in the
 * source tree's bench/. Empty when it cannot be told.
 */
static const char *
exe_dir(void)
{
	static char dir[PATH_MAX];
	ssize_t k;

	if (dir[0] != '\0')
		return dir;
	k = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (k <= 0) {
		dir[0] = '\0';
		return dir;
	}
	dir[k] = '\0';
	if (strrchr(dir, '/') != NULL)
		*strrchr(dir, '/') = '\0';
	return dir;
}

/*
 * Runs an unmodified program for @n iterations: natively for the Linux
 * side, under build/ksock-run --in-process for the ksock side (every
 * AF_UNIX socket of the program is then its own ksock's). s->prog names it: "epoll" and
 * "pingpong" are modes of build/bench/run_bench (C), "python" is
 * bench/py_pingpong.py. The program times its own loop and prints
 * "ok N SECONDS"; it checks every byte itself. Operations per second.
 */
static int
run_program(const struct bench_ops *ops, const struct bench_scn *s, long n,
	    struct bench_result *r)
{
	char cmd[3 * PATH_MAX + 128], line[256], prog[PATH_MAX + 64];
	bool under = strcmp(ops->name, "ksock") == 0;
	const char *dir = exe_dir();
	long done = 0;
	double sec = 0;
	FILE *p;
	int st;

	r->want = n;
	if (dir[0] == '\0')
		return bench_fail(r, "cannot find the benchmark's directory");
	if (strcmp(s->prog, "python") == 0)
		snprintf(prog, sizeof(prog), "python3 %s/../../bench/py_pingpong.py",
			 dir);
	else if (strcmp(s->prog, "epoll") == 0)
		snprintf(prog, sizeof(prog), "%s/run_bench epoll %d", dir,
			 s->fill);
	else
		snprintf(prog, sizeof(prog), "%s/run_bench %s", dir, s->prog);
	snprintf(cmd, sizeof(cmd), "%s%s%s %ld", under ? dir : "",
		 under ? "/../ksock-run --in-process " : "", prog, n);
	fflush(stdout);
	p = popen(cmd, "r");
	if (p == NULL)
		return bench_fail(r, "popen: %s", strerror(errno));
	line[0] = '\0';
	while (fgets(line, sizeof(line), p) != NULL)
		if (strncmp(line, "ok ", 3) == 0 || strncmp(line, "FAIL", 4) == 0)
			break;
	if (sscanf(line, "ok %ld %lf", &done, &sec) != 2) {
		line[strcspn(line, "\n")] = '\0';
		bench_fail(r, "%s: %s", s->prog,
			   line[0] != '\0' ? line : "no result");
	}
	while (fgets(line + 128, 128, p) != NULL)
		;
	st = pclose(p);
	if (r->err[0] != '\0')
		return -1;
	if (st != 0)
		return bench_fail(r, "%s exited with status %d", s->prog, st);
	r->moved = done;
	r->seconds = sec;
	r->value = sec > 0 ? (double)done / sec : 0;
	return done == n ? 0 : bench_fail(r, "%ld of %ld iterations", done, n);
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
/*
 * TCP or UDP on each side's loopback (bench_inet.c): throughput by write
 * size, 1-byte ping-pong (TCP_NODELAY), connection rate, datagram rate.
 * AT(fn) runs a scenario there; ACROSS(fn) across a link
 * (bench_inet_link.c: ksock over TAP to Linux, against Linux over veth).
 */
#define AT(fn)		.run = fn
#define ACROSS(fn)	.run = bench_run_link, .inner = fn, .link = true
#define TCP_TP(nm, id_, fam, sz, start, where) {			\
	.name = nm, .id = id_, where, .family = fam,			\
	.type = SOCK_STREAM, .size = sz, .unit = BENCH_MIBPS,		\
	.start_n = start, .smoke_n = 16, .target = BENCH_RATIO_GE,	\
	.goal = 1.0 }
#define TCP_PP(nm, id_, where) {					\
	.name = nm, .id = id_, where, .family = AF_INET,		\
	.type = SOCK_STREAM, .unit = BENCH_LATENCY, .start_n = 1024,	\
	.smoke_n = 16, .target = BENCH_RATIO_LE, .goal = 1.0 }
#define TCP_CONNECT(nm, id_, where) {					\
	.name = nm, .id = id_, where, .family = AF_INET,		\
	.unit = BENCH_RATE, .start_n = 256, .smoke_n = 16,		\
	.target = BENCH_RATIO_GE, .goal = 1.0 }
#define UDP_RATE(nm, id_, fam, sz, where) {				\
	.name = nm, .id = id_, where, .family = fam,			\
	.type = SOCK_DGRAM, .size = sz, .window = 32, .unit = BENCH_RATE,\
	.start_n = 1024, .smoke_n = 40, .target = BENCH_RATIO_GE,	\
	.goal = 1.0 }
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
	{ .name = "dgram, 8 senders to 1", .id = "dgram_fanin",
	  .run = run_fanin, .size = 256, .threads = 8, .unit = BENCH_RATE,
	  .start_n = 1024, .smoke_n = 64 },
	{ .name = "epoll, 10,000 sockets (run)", .id = "run_epoll",
	  .run = run_program, .prog = "epoll", .fill = 10000,
	  .unit = BENCH_RATE, .start_n = 1024, .smoke_n = 16,
	  .target = BENCH_RATIO_GE, .goal = 0.67 },
	{ .name = "C ping-pong (run)", .id = "run_c",
	  .run = run_program, .prog = "pingpong", .unit = BENCH_RATE,
	  .start_n = 1024, .smoke_n = 16 },
	{ .name = "Python ping-pong (run)", .id = "run_python",
	  .run = run_program, .prog = "python", .unit = BENCH_RATE,
	  .start_n = 1024, .smoke_n = 16 },
	SCALE("scaling: 1 pair, 1 thread", "scale_1p1t", 1, 1,
	      BENCH_NO_TARGET, 0),
	SCALE("scaling: 2 pairs, 1 thread", "scale_2p1t", 2, 1,
	      BENCH_NO_TARGET, 0),
	SCALE("scaling: 2 pairs, 2 threads", "scale_2p2t", 2, 2,
	      BENCH_SCALE_GE, 1.8),
	TCP_TP("TCP 64 B writes", "tcp_64", AF_INET, 64, 4096,
	       AT(run_throughput)),
	TCP_TP("TCP 1 KiB writes", "tcp_1k", AF_INET, KIB, 1024,
	       AT(run_throughput)),
	TCP_TP("TCP 16 KiB writes", "tcp_16k", AF_INET, 16 * KIB, 256,
	       AT(run_throughput)),
	TCP_TP("TCP 64 KiB writes", "tcp_64k", AF_INET, 64 * KIB, 64,
	       AT(run_throughput)),
	TCP_TP("TCP/IPv6 16 KiB writes", "tcp6_16k", AF_INET6, 16 * KIB, 256,
	       AT(run_throughput)),
	TCP_PP("TCP ping-pong", "tcp_pingpong", AT(run_pingpong)),
	TCP_CONNECT("TCP connect+accept+close", "tcp_connect",
		    AT(run_connect)),
	UDP_RATE("UDP 64 B datagrams", "udp_64", AF_INET, 64,
		 AT(bench_run_udp_rate)),
	UDP_RATE("UDP 1 KiB datagrams", "udp_1k", AF_INET, KIB,
		 AT(bench_run_udp_rate)),
	TCP_TP("link: TCP 1 KiB writes", "link_tcp_1k", AF_INET, KIB, 1024,
	       ACROSS(run_throughput)),
	TCP_TP("link: TCP 64 KiB writes", "link_tcp_64k", AF_INET, 64 * KIB,
	       64, ACROSS(run_throughput)),
	TCP_PP("link: TCP ping-pong", "link_tcp_pingpong",
	       ACROSS(run_pingpong)),
	TCP_CONNECT("link: TCP connect+accept+close", "link_tcp_connect",
		    ACROSS(run_connect)),
	UDP_RATE("link: UDP 64 B datagrams", "link_udp_64", AF_INET, 64,
		 ACROSS(bench_run_udp_rate)),
	UDP_RATE("link: UDP 1 KiB datagrams", "link_udp_1k", AF_INET, KIB,
		 ACROSS(bench_run_udp_rate)),
};

const size_t bench_nscns = sizeof(bench_scns) / sizeof(bench_scns[0]);

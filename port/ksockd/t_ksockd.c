/*
 * ksockd's tests: real processes meeting through a real server.
 *
 *   t_ksockd KSOCKD          the runner: starts KSOCKD on a fresh path,
 *                            runs the cases, stops it (SIGTERM) and
 *                            checks that it exited clean (status 0:
 *                            nothing left allocated; under ASan, no
 *                            leak either)
 *   t_ksockd --role NAME ... one process of a case, started by the
 *                            runner with fork+exec of this file
 *
 * After every case the server must be back to the runner's baseline
 * (ksock allocations, sockets, ksockd's objects, clients, parked calls,
 * descriptors, hand-overs), read with the STATUS request: a case passes
 * only when it leaves nothing behind in the server.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef KSD_ON_LINUX
/*
 * The same processes on the Linux kernel's sockets, to show that what the
 * cases expect is what Linux does: the ksd_* calls are the kernel's, and
 * the cases that need a server (its STATUS, its clients) skip.
 */
#include <poll.h>
#include "proto.h"
#define ksd_accept4	accept4
#define ksd_bind	bind
#define ksd_close	close
#define ksd_connect	connect
#define ksd_execve	execve
#define ksd_fcntl	fcntl
#define ksd_fork	fork
#define ksd_getsockname	getsockname
#define ksd_getsockopt	getsockopt
#define ksd_listen	listen
#define ksd_poll	poll
#define ksd_recv	recv
#define ksd_recvfrom	recvfrom
#define ksd_recvmsg	recvmsg
#define ksd_send	send
#define ksd_sendto	sendto
#define ksd_sendmsg	sendmsg
#define ksd_setsockopt	setsockopt
#define ksd_shutdown	shutdown
#define ksd_socket	socket
#define ksd_socketpair	socketpair
#define ksd_sigaction	sigaction
#define ON_LINUX	1
/* Linux's ppoll over the two arrays laid end to end. */
static int
ksd_poll_mixed(struct pollfd *f, nfds_t n, struct pollfd *k, nfds_t nk,
	       const struct timespec *t, const sigset_t *m)
{
	struct pollfd all[16];
	int r;

	if (n + nk > 16) {
		errno = EINVAL;
		return -1;
	}
	memcpy(all, f, n * sizeof(*f));
	memcpy(all + n, k, nk * sizeof(*k));
	r = ppoll(all, n + nk, t, m);
	memcpy(f, all, n * sizeof(*f));
	memcpy(k, all + n, nk * sizeof(*k));
	return r;
}
static int ksd_attach(const char *a) { (void)a; return 0; }
static int ksd_detach(void) { return 0; }
static int ksd_status(struct ksd_status *st) { (void)st; errno = ENOSYS; return -1; }
static int ksd__watch(int id, bool create, struct ksd_watchfd *e, unsigned n,
		      int report, int *wfd)
{ (void)id; (void)create; (void)e; (void)n; (void)report; (void)wfd; return -ENOSYS; }
static int ksd__unwatch(int id) { (void)id; return -ENOSYS; }
static bool ksd_copies_direct(void) { return true; }
#else
#include "ksd.h"
#define ON_LINUX	0
#endif

extern char **environ;
static const char *server_addr;
static char dir[64];

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%d: %s:%d: check failed: %s (errno %d)\n", \
			(int)getpid(), __FILE__, __LINE__, #cond, errno); \
		return 1; \
	} \
} while (0)

/* -- helpers -- */

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A socket address for NAME: a path in the test directory, or an
 * abstract name when NAME starts with '@'. */
static socklen_t
make_addr(const char *name, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (name[0] == '@') {
		size_t len = strlen(name);

		memcpy(sun->sun_path, name, len);
		sun->sun_path[0] = '\0';
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	}
	snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/%s", dir, name);
	return sizeof(*sun);
}

/* Bytes of message @seed: a pattern no shifted copy matches. */
static unsigned char
pat(size_t seed, size_t i)
{
	return (unsigned char)((i * 31 + seed * 7 + (i >> 8)) & 0xff);
}

static void
fill(unsigned char *b, size_t n, size_t seed, unsigned char x)
{
	for (size_t i = 0; i < n; i++)
		b[i] = pat(seed, i) ^ x;
}

static bool
same(const unsigned char *b, size_t n, size_t seed, unsigned char x)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != (pat(seed, i) ^ x))
			return false;
	return true;
}

/* Sends all of @n bytes (a stream) or one message. */
static int
send_all(int fd, const void *buf, size_t n)
{
	ssize_t r = ksd_send(fd, buf, n, 0);

	return r == (ssize_t)n ? 0 : -1;
}

/* Receives exactly @n bytes: MSG_WAITALL on a stream, one message of
 * exactly @n bytes (no truncation) otherwise. */
static int
recv_exact(int fd, int type, void *buf, size_t n)
{
	ssize_t r;

	if (type == SOCK_STREAM) {
		size_t got = 0;

		while (got < n) {
			r = ksd_recv(fd, (char *)buf + got, n - got, MSG_WAITALL);
			if (r <= 0)
				return -1;
			got += (size_t)r;
		}
		return 0;
	}
	r = ksd_recv(fd, buf, n + 1, 0);
	return r == (ssize_t)n ? 0 : -1;
}

static const size_t stream_sizes[] = { 1, 100, 129, 5000, 65536, 300000,
				       1000000 };
static const size_t packet_sizes[] = { 1, 100, 129, 5000, 65536, 150000 };

static const size_t *
sizes_of(int type, size_t *n)
{
	if (type == SOCK_STREAM) {
		*n = sizeof(stream_sizes) / sizeof(stream_sizes[0]);
		return stream_sizes;
	}
	*n = sizeof(packet_sizes) / sizeof(packet_sizes[0]);
	return packet_sizes;
}

/* Connects, retrying while the other process has not bound yet. */
static int
connect_retry(int fd, const struct sockaddr_un *sun, socklen_t len)
{
	for (int i = 0; i < 500; i++) {
		if (ksd_connect(fd, (const struct sockaddr *)sun, len) == 0)
			return 0;
		if (errno != ENOENT && errno != ECONNREFUSED)
			return -1;
		sleep_ms(10);
	}
	return -1;
}

/* -- roles: one process each -- */

/*
 * echo TYPE NAME: binds NAME, takes one peer, checks its SO_PEERCRED
 * against the pid it announces, answers with its own pid, then echoes
 * every message of the size table XORed with 0x5a.
 */
static int
role_echo(int type, const char *name)
{
	struct sockaddr_un sun, from;
	socklen_t len = make_addr(name, &sun), flen = sizeof(from);
	size_t nsizes;
	const size_t *sizes = sizes_of(type, &nsizes);
	unsigned char *buf = malloc(1000001);
	int fd, conn;
	int32_t pid, me = (int32_t)getpid();

	CHECK(buf != NULL);
	fd = ksd_socket(AF_UNIX, type, 0);
	CHECK(fd >= 0);
	CHECK(ksd_bind(fd, (struct sockaddr *)&sun, len) == 0);
	if (type == SOCK_DGRAM) {
		conn = fd;
		CHECK(ksd_recvfrom(fd, &pid, sizeof(pid), 0,
				   (struct sockaddr *)&from, &flen) == 4);
		CHECK(ksd_connect(fd, (struct sockaddr *)&from, flen) == 0);
	} else {
		struct ucred cr;
		socklen_t crlen = sizeof(cr);

		CHECK(ksd_listen(fd, 4) == 0);
		conn = ksd_accept4(fd, NULL, NULL, 0);
		CHECK(conn >= 0);
		CHECK(recv_exact(conn, type, &pid, sizeof(pid)) == 0);
		CHECK(ksd_getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr,
				     &crlen) == 0);
		CHECK(crlen == sizeof(cr));
		CHECK(cr.pid == pid && cr.uid == getuid() && cr.gid == getgid());
	}
	CHECK(send_all(conn, &me, sizeof(me)) == 0);
	for (size_t i = 0; i < nsizes; i++) {
		CHECK(recv_exact(conn, type, buf, sizes[i]) == 0);
		CHECK(same(buf, sizes[i], sizes[i], 0));
		fill(buf, sizes[i], sizes[i], 0x5a);
		CHECK(send_all(conn, buf, sizes[i]) == 0);
	}
	if (conn != fd)
		CHECK(ksd_close(conn) == 0);
	CHECK(ksd_close(fd) == 0);
	if (name[0] != '@')
		unlink(sun.sun_path);
	free(buf);
	return 0;
}

/* The other end of echo: @server is the echo process's real pid, which
 * SO_PEERCRED must report. */
static int
role_talk(int type, const char *name, pid_t server)
{
	struct sockaddr_un sun, self = { .sun_family = AF_UNIX };
	socklen_t len = make_addr(name, &sun);
	size_t nsizes;
	const size_t *sizes = sizes_of(type, &nsizes);
	unsigned char *buf = malloc(1000001);
	int32_t pid = (int32_t)getpid(), spid = 0;
	int fd;

	CHECK(buf != NULL);
	fd = ksd_socket(AF_UNIX, type, 0);
	CHECK(fd >= 0);
	if (type == SOCK_DGRAM)		/* an autobound name to answer to */
		CHECK(ksd_bind(fd, (struct sockaddr *)&self,
			       sizeof(sa_family_t)) == 0);
	CHECK(connect_retry(fd, &sun, len) == 0);
	if (type != SOCK_DGRAM) {
		struct ucred cr;
		socklen_t crlen = sizeof(cr);

		CHECK(ksd_getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr,
				     &crlen) == 0);
		CHECK(cr.pid == server);
	}
	CHECK(send_all(fd, &pid, sizeof(pid)) == 0);
	CHECK(recv_exact(fd, type, &spid, sizeof(spid)) == 0);
	CHECK(spid == server);
	for (size_t i = 0; i < nsizes; i++) {
		fill(buf, sizes[i], sizes[i], 0);
		CHECK(send_all(fd, buf, sizes[i]) == 0);
		memset(buf, 0, sizes[i]);
		CHECK(recv_exact(fd, type, buf, sizes[i]) == 0);
		CHECK(same(buf, sizes[i], sizes[i], 0x5a));
	}
	if (type != SOCK_DGRAM)		/* the peer closed: end of file */
		CHECK(ksd_recv(fd, buf, 1, 0) == 0);
	CHECK(ksd_close(fd) == 0);
	free(buf);
	return 0;
}

/* A socketpair, then ksd_fork(): the child writes through its inherited
 * descriptor; the parent reads it, then end of file once the child is
 * gone (its copy closed at its exit). */
static int
role_fork(void)
{
	char want[64], got[64];
	int sv[2], st;
	pid_t pid;

	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	pid = ksd_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int n = snprintf(want, sizeof(want), "child %d", (int)getpid());

		if (ksd_close(sv[0]) < 0 || send_all(sv[1], want, (size_t)n) < 0)
			_exit(1);
		_exit(0);
	}
	CHECK(ksd_close(sv[1]) == 0);
	snprintf(want, sizeof(want), "child %d", (int)pid);
	CHECK(recv_exact(sv[0], SOCK_STREAM, got, strlen(want)) == 0);
	CHECK(memcmp(got, want, strlen(want)) == 0);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	      WEXITSTATUS(st) == 0);
	CHECK(ksd_recv(sv[0], got, 1, 0) == 0);
	CHECK(ksd_close(sv[0]) == 0);
	return 0;
}

static const char passed_text[] = "through a passed ksock socket";

/* pass NAME: sends one end of a new socketpair over an accepted
 * connection with SCM_RIGHTS, then talks through the other end. */
static int
role_pass(const char *name)
{
	struct sockaddr_un sun;
	socklen_t len = make_addr(name, &sun);
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	char one = 'x', ack[4];
	struct iovec iov = { &one, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	int fd, conn, p[2];

	fd = ksd_socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	CHECK(ksd_bind(fd, (struct sockaddr *)&sun, len) == 0);
	CHECK(ksd_listen(fd, 1) == 0);
	conn = ksd_accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	CHECK(conn >= 0);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_SEQPACKET, 0, p) == 0);
	memset(&u, 0, sizeof(u));
	CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
	CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
	CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), &p[1], sizeof(int));
	CHECK(ksd_sendmsg(conn, &m, 0) == 1);
	CHECK(ksd_close(p[1]) == 0);
	CHECK(send_all(p[0], passed_text, sizeof(passed_text)) == 0);
	CHECK(recv_exact(p[0], SOCK_SEQPACKET, ack, 3) == 0);
	CHECK(memcmp(ack, "ack", 3) == 0);
	CHECK(ksd_close(p[0]) == 0);
	CHECK(ksd_close(conn) == 0);
	CHECK(ksd_close(fd) == 0);
	unlink(sun.sun_path);
	return 0;
}

static int
role_take(const char *name)
{
	struct sockaddr_un sun;
	socklen_t len = make_addr(name, &sun);
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	char one, got[sizeof(passed_text)];
	struct iovec iov = { &one, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	int fd, passed, type = 0;
	socklen_t tlen = sizeof(type);

	fd = ksd_socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	CHECK(connect_retry(fd, &sun, len) == 0);
	CHECK(ksd_recvmsg(fd, &m, 0) == 1 && one == 'x');
	CHECK(!(m.msg_flags & MSG_CTRUNC));
	cm = CMSG_FIRSTHDR(&m);
	CHECK(cm != NULL && cm->cmsg_level == SOL_SOCKET &&
	      cm->cmsg_type == SCM_RIGHTS &&
	      cm->cmsg_len == CMSG_LEN(sizeof(int)));
	memcpy(&passed, CMSG_DATA(cm), sizeof(int));
	CHECK(passed >= 0 && passed != fd);
	CHECK(ksd_getsockopt(passed, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0);
	CHECK(type == SOCK_SEQPACKET);
	CHECK(recv_exact(passed, SOCK_SEQPACKET, got, sizeof(got)) == 0);
	CHECK(memcmp(got, passed_text, sizeof(got)) == 0);
	CHECK(send_all(passed, "ack", 3) == 0);
	CHECK(ksd_close(passed) == 0);
	CHECK(ksd_close(fd) == 0);
	return 0;
}

/* Calls that block until the process is killed. */
static int
role_block_accept(const char *name)
{
	struct sockaddr_un sun;
	socklen_t len = make_addr(name, &sun);
	int fd = ksd_socket(AF_UNIX, SOCK_STREAM, 0);

	CHECK(fd >= 0);
	CHECK(ksd_bind(fd, (struct sockaddr *)&sun, len) == 0);
	CHECK(ksd_listen(fd, 1) == 0);
	ksd_accept4(fd, NULL, NULL, 0);
	return 1;
}

static int
role_block_recv(void)
{
	char b[16];
	int sv[2];

	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	/* Something in flight too, so its cleanup is seen. */
	CHECK(send_all(sv[0], "abc", 3) == 0);
	ksd_recv(sv[0], b, sizeof(b), 0);
	return 1;
}

/* Two threads parked in recv on one stream socket, then one byte each:
 * neither may keep the server busy (a failed read hands the reader's
 * turn on with a wake-up, which must not become a retry loop). */
static void *
reader(void *arg)
{
	int fd = *(int *)arg;
	static char got[2];
	static int n;
	char b;

	if (ksd_recv(fd, &b, 1, 0) != 1)
		return NULL;
	got[__atomic_fetch_add(&n, 1, __ATOMIC_SEQ_CST)] = b;
	return got;
}

static int
role_two_readers(void)
{
	struct ksd_status st0, st;
	pthread_t t[2];
	void *r[2];
	char *got;
	int sv[2], i;

	alarm(20);
	CHECK(ksd_status(&st0) == 0);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	for (i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, reader, &sv[0]) == 0);
	for (i = 0; i < 1000; i++) {
		CHECK(ksd_status(&st) == 0);
		if (st.parked == st0.parked + 2)
			break;
		sleep_ms(5);
	}
	CHECK(st.parked == st0.parked + 2);
	CHECK(send_all(sv[1], "a", 1) == 0);
	CHECK(send_all(sv[1], "b", 1) == 0);
	for (i = 0; i < 2; i++)
		CHECK(pthread_join(t[i], &r[i]) == 0 && r[i] != NULL);
	got = r[0];
	CHECK((got[0] == 'a' && got[1] == 'b') || (got[0] == 'b' && got[1] == 'a'));
	CHECK(ksd_close(sv[0]) == 0 && ksd_close(sv[1]) == 0);
	return 0;
}

/* -- watches (KSD_WATCH) -- */

/* Whether @fd is readable within @ms. */
static int
readable_in(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms);
}

static void
drain(int fd)
{
	char b[64];

	while (recv(fd, b, sizeof(b), MSG_DONTWAIT) > 0)
		;
}

/*
 * A watch rings its socket when a watched socket is woken, or at once
 * when an entry stays ready after a report; an edge-triggered entry
 * rings for new bytes only; a closed socket is no longer held (its peer
 * sees the end) and shows as POLLNVAL; ids are the client's, and a
 * client has at most KSD_WATCH_MAX. The last watch is left for the
 * exit to end (the runner checks the server's STATUS and descriptors).
 */
static int
role_watch(void)
{
	struct ksd_watchfd e[2] = { { .fd = -1 }, { .fd = -1 } };
	struct ksd_status st0, st;
	int sv[2], wfd = -1, w2 = -1, more[KSD_WATCH_MAX], nmore = 0;
	char b[8];

	alarm(20);
	CHECK(ksd_status(&st0) == 0);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	e[0].fd = sv[0];
	e[0].events = POLLIN;
	CHECK(ksd__watch(1, true, e, 2, 0, &wfd) == 0 && wfd >= 0);
	CHECK(ksd_status(&st) == 0 && st.watches == st0.watches + 1);
	CHECK(ksd__watch(1, true, e, 2, 0, &w2) == -EEXIST);
	CHECK(ksd__watch(99, false, e, 2, 0, NULL) == -ENOENT);
	/* Armed: nothing until the socket is woken. */
	CHECK(readable_in(wfd, 0) == 0);
	CHECK(ksd_send(sv[1], "x", 1, 0) == 1);
	CHECK(readable_in(wfd, 5000) == 1);
	drain(wfd);
	/* Level-triggered: reported, and it rings again at once. */
	CHECK(ksd__watch(1, false, e, 2, 1, NULL) == 1);
	CHECK(e[0].revents == POLLIN && e[1].revents == 0);
	CHECK(readable_in(wfd, 0) == 1);
	CHECK(ksd_recv(sv[0], b, sizeof(b), 0) == 1);
	drain(wfd);
	CHECK(ksd__watch(1, false, e, 2, 1, NULL) == 0);
	CHECK(readable_in(wfd, 0) == 0);
	/* Edge-triggered: one report per edge; new bytes are an edge. */
	e[0].events = POLLIN | KSD_WATCH_EDGE;
	CHECK(ksd_send(sv[1], "y", 1, 0) == 1);
	drain(wfd);
	CHECK(ksd__watch(1, false, e, 2, 1, NULL) == 1);
	CHECK(e[0].revents == POLLIN && e[0].last == POLLIN && e[0].inq == 1);
	CHECK(readable_in(wfd, 0) == 0);
	CHECK(ksd__watch(1, false, e, 2, 1, NULL) == 0);
	/* A look (no report) moves nothing on. */
	CHECK(ksd_send(sv[1], "z", 1, 0) == 1);
	CHECK(readable_in(wfd, 5000) == 1);
	drain(wfd);
	CHECK(ksd__watch(1, false, e, 2, 0, NULL) == 1);
	CHECK(e[0].last == POLLIN && e[0].inq == 1);
	CHECK(readable_in(wfd, 0) == 1);
	drain(wfd);
	CHECK(ksd__watch(1, false, e, 2, 1, NULL) == 1);
	CHECK(e[0].inq == 2);
	CHECK(readable_in(wfd, 0) == 0);
	/* The limit, then the extra ones ended. */
	for (int id = 2; nmore < KSD_WATCH_MAX; id++) {
		int r = ksd__watch(id, true, e, 0, 0, &more[nmore]);

		if (r < 0) {
			CHECK(r == -EMFILE && nmore == KSD_WATCH_MAX - 1);
			break;
		}
		nmore++;
	}
	CHECK(nmore == KSD_WATCH_MAX - 1);
	for (int i = 0; i < nmore; i++) {
		CHECK(ksd__unwatch(i + 2) == 0);
		CHECK(close(more[i]) == 0);
	}
	CHECK(ksd__unwatch(2) == -ENOENT);
	CHECK(ksd_status(&st) == 0 && st.watches == st0.watches + 1);
	/* A watched socket closed: the watch holds it not, so it rings
	 * with its close and its peer reads the end. */
	CHECK(ksd_recv(sv[0], b, sizeof(b), 0) == 2);
	drain(wfd);
	CHECK(ksd__watch(1, false, e, 2, 1, NULL) == 0);
	CHECK(readable_in(wfd, 0) == 0);
	CHECK(ksd_close(sv[0]) == 0);
	CHECK(readable_in(wfd, 5000) == 1);
	drain(wfd);
	CHECK(ksd_recv(sv[1], b, sizeof(b), 0) == 0);
	CHECK(ksd__watch(1, false, e, 2, 1, NULL) == 0);
	CHECK(e[0].revents == POLLNVAL);
	CHECK(ksd_close(sv[1]) == 0);
	CHECK(close(wfd) == 0);
	return 0;
}

/* -- closes without a reply (docs/ksockd.md) -- */

struct close_race {
	pthread_barrier_t	*go;
	int			 fd;
	int			 err;	/* 0, or close's errno */
};

static void *
close_racer(void *arg)
{
	struct close_race *r = arg;

	pthread_barrier_wait(r->go);
	r->err = ksd_close(r->fd) == 0 ? 0 : errno;
	return NULL;
}

/*
 * A close the library posts without waiting keeps Linux's answers and
 * order: the number is the lowest free again for the next call, a
 * second close is EBADF, of two threads closing one number at once
 * exactly one gets EBADF, and another process that hears of the close
 * through the kernel (a pipe) sees its effect: the listener's name
 * refuses, the peer reads end of file.
 */
static int
role_close_order(void)
{
	struct sockaddr_un sun;
	socklen_t len = make_addr("@ksockd-t-close-order", &sun);
	pthread_barrier_t go;
	int i, fd, fd2, st;

	alarm(60);
	for (i = 0; i < 200; i++) {
		fd = ksd_socket(AF_UNIX, SOCK_STREAM, 0);
		CHECK(fd >= 0);
		CHECK(ksd_close(fd) == 0);
		fd2 = ksd_socket(AF_UNIX, SOCK_DGRAM, 0);
		CHECK(fd2 == fd);
		CHECK(ksd_close(fd2) == 0);
		errno = 0;
		CHECK(ksd_close(fd2) == -1 && errno == EBADF);
	}
	CHECK(pthread_barrier_init(&go, NULL, 2) == 0);
	for (i = 0; i < 200; i++) {
		struct close_race r[2] = { { &go, 0, 0 }, { &go, 0, 0 } };
		pthread_t t[2];

		fd = ksd_socket(AF_UNIX, SOCK_STREAM, 0);
		CHECK(fd >= 0);
		r[0].fd = r[1].fd = fd;
		for (int j = 0; j < 2; j++)
			CHECK(pthread_create(&t[j], NULL, close_racer,
					     &r[j]) == 0);
		for (int j = 0; j < 2; j++)
			CHECK(pthread_join(t[j], NULL) == 0);
		CHECK((r[0].err == 0 && r[1].err == EBADF) ||
		      (r[0].err == EBADF && r[1].err == 0));
	}
	pthread_barrier_destroy(&go);
	for (i = 0; i < 50; i++) {
		int lfd, sv[2], ready[2], done[2];
		pid_t pid;
		char c;

		CHECK(pipe(ready) == 0 && pipe(done) == 0);
		lfd = ksd_socket(AF_UNIX, SOCK_STREAM, 0);
		CHECK(lfd >= 0);
		CHECK(ksd_bind(lfd, (struct sockaddr *)&sun, len) == 0);
		CHECK(ksd_listen(lfd, 8) == 0);
		CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
		pid = ksd_fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			int s;

			if (ksd_close(lfd) < 0 || ksd_close(sv[0]) < 0 ||
			    write(ready[1], "r", 1) != 1 ||
			    read(done[0], &c, 1) != 1)
				_exit(1);
			s = ksd_socket(AF_UNIX, SOCK_STREAM, 0);
			errno = 0;
			if (s < 0 || ksd_connect(s, (struct sockaddr *)&sun,
						 len) != -1 ||
			    errno != ECONNREFUSED)
				_exit(2);
			if (ksd_recv(sv[1], &c, 1, MSG_DONTWAIT) != 0)
				_exit(3);
			_exit(ksd_close(s) == 0 && ksd_close(sv[1]) == 0 ?
			      0 : 4);
		}
		CHECK(ksd_close(sv[1]) == 0);
		CHECK(read(ready[0], &c, 1) == 1);
		CHECK(ksd_close(lfd) == 0 && ksd_close(sv[0]) == 0);
		CHECK(write(done[1], "d", 1) == 1);
		CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
		if (WEXITSTATUS(st) != 0)
			fprintf(stderr, "round %d: child status %d\n", i,
				WEXITSTATUS(st));
		CHECK(WEXITSTATUS(st) == 0);
		close(ready[0]);
		close(ready[1]);
		close(done[0]);
		close(done[1]);
	}
	return 0;
}

/* A client that keeps the server busy (a call after a call) until its
 * @stop pipe has a byte: the server's scan of the watched clients then
 * runs in the same turns as the other roles' requests. */
static void
busy_until(int stop)
{
	int s = ksd_socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un a;
	socklen_t alen;
	char c;

	if (s < 0)
		_exit(1);
	for (;;) {
		alen = sizeof(a);
		if (ksd_getsockname(s, (struct sockaddr *)&a, &alen) < 0)
			_exit(2);
		if (read(stop, &c, 1) == 1)
			break;
	}
	_exit(ksd_close(s) == 0 ? 0 : 3);
}

/* One side of role_close_bind: with the turn (a byte on @in) it binds
 * @sun, closes, and hands the turn on (@out); @first starts. Returns 0,
 * or which step failed. */
static int
bind_turns(const struct sockaddr_un *sun, socklen_t len, int in, int out,
	   bool first, int rounds)
{
	unsigned seed = (unsigned)getpid();
	char c;

	for (int i = 0; i < rounds; i++) {
		int s = ksd_socket(AF_UNIX, SOCK_STREAM, 0);

		if (s < 0)
			return 2;
		/* Quiet for about as long as the server watches a client
		 * that posts nothing: the bind may be posted just as the
		 * server stops watching, or go by doorbell. */
		usleep(100 + rand_r(&seed) % 250);
		if ((i > 0 || !first) && read(in, &c, 1) != 1)
			return 1;
		if (ksd_bind(s, (const struct sockaddr *)sun, len) < 0) {
			fprintf(stderr, "round %d: bind: %s\n", i,
				strerror(errno));
			return 3;
		}
		if (ksd_close(s) < 0)
			return 4;
		if (write(out, "t", 1) != 1)
			return 5;
	}
	return 0;
}

/*
 * Two processes take turns binding one abstract name, each closing its
 * socket before it tells the other (a pipe): every bind succeeds, as on
 * Linux, though the close may go without its reply (the server runs it
 * before any request taken after it was posted), also while a third
 * client keeps the server busy.
 */
static int
role_close_bind(void)
{
	struct sockaddr_un sun;
	socklen_t len = make_addr("@ksockd-t-close-bind", &sun);
	int ab[2], ba[2], stop[2], st, err;
	pid_t busy, b;
	char c;

	alarm(120);
	CHECK(pipe2(stop, O_NONBLOCK) == 0);
	busy = ksd_fork();
	CHECK(busy >= 0);
	if (busy == 0)
		busy_until(stop[0]);
	close(stop[0]);
	CHECK(pipe(ab) == 0 && pipe(ba) == 0);
	b = ksd_fork();
	CHECK(b >= 0);
	if (b == 0) {
		/* Each side holds only its own ends: one that fails ends
		 * the other's read. */
		close(ab[1]);
		close(ba[0]);
		_exit(bind_turns(&sun, len, ab[0], ba[1], false, 2000));
	}
	close(ab[0]);
	close(ba[1]);
	err = bind_turns(&sun, len, ba[0], ab[1], true, 2000);
	/* The second binder's last turn handed back (so its last bind
	 * ran while the busy client still called). */
	if (err == 0 && read(ba[0], &c, 1) != 1)
		err = 6;
	close(ab[1]);
	close(ba[0]);
	CHECK(write(stop[1], "s", 1) == 1);
	close(stop[1]);
	CHECK(waitpid(busy, &st, 0) == busy && WIFEXITED(st) &&
	      WEXITSTATUS(st) == 0);
	CHECK(waitpid(b, &st, 0) == b && WIFEXITED(st));
	if (WEXITSTATUS(st) != 0)
		fprintf(stderr, "second binder: status %d\n", WEXITSTATUS(st));
	CHECK(err == 0);
	CHECK(WEXITSTATUS(st) == 0);
	return 0;
}

/* -- a client that does not follow the protocol -- */

static int
raw_connect_at(const char *addr)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return -1;
	return fd;
}

/* Whether the server closed @fd (end of file within @ms). */
static bool
closed_within(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char b[64];

	return poll(&p, 1, ms) == 1 && recv(fd, b, sizeof(b), 0) == 0;
}

static bool
closed_by_server(int fd)
{
	return closed_within(fd, 2000);
}

static int
raw_connect(void)
{
	return raw_connect_at(server_addr);
}

/* The hello and the welcome's err (or 1 when none came); a region that
 * came is unmapped and closed at once. */
static int
raw_hello_err(int fd)
{
	struct ksd_hello h = { .magic = KSD_MAGIC, .version = KSD_VERSION };
	struct ksd_welcome w;
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { &w, sizeof(w) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	int memfd;

	if (send(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    recvmsg(fd, &m, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(w))
		return 1;
	if (CMSG_FIRSTHDR(&m) != NULL) {
		memcpy(&memfd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
		close(memfd);
	}
	return w.err;
}

/* The hello, the welcome and its region, by hand. */
static struct ksd_shm *
raw_hello(int fd, int *memfd)
{
	struct ksd_hello h = { .magic = KSD_MAGIC, .version = KSD_VERSION };
	struct ksd_welcome w;
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { &w, sizeof(w) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	void *p;

	if (send(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    recvmsg(fd, &m, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(w) ||
	    w.err != 0 || CMSG_FIRSTHDR(&m) == NULL)
		return NULL;
	memcpy(memfd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
	p = mmap(NULL, w.shm_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 *memfd, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Posts @q in slot 0 and returns the reply's result (or 1 when no reply
 * came within 2 s). */
/* Slot 0's reply's result, once it is DONE (or 1 after 2 s). */
static int64_t
raw_reply(struct ksd_shm *shm)
{
	for (int i = 0; i < 2000; i++) {
		if (atomic_load(&shm->slot[0].state) == KSD_DONE) {
			atomic_store(&shm->slot[0].state, KSD_IDLE);
			return shm->slot[0].rep.ret;
		}
		sleep_ms(1);
	}
	return 1;
}

static int64_t
raw_call(int fd, struct ksd_shm *shm, const struct ksd_req *q)
{
	struct ksd_bell b = { 0 };

	memcpy(&shm->slot[0].req, q, sizeof(*q));
	atomic_store(&shm->slot[0].state, KSD_POSTED);
	if (send(fd, &b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return 1;
	return raw_reply(shm);
}

/* Posts @q in slot 0 in memory (protocol 2: the slot's bit in
 * posted), with a KICK doorbell when @kick. Returns 0, or -1. */
static int
raw_post_mem(int fd, struct ksd_shm *shm, const struct ksd_req *q, bool kick)
{
	struct ksd_bell b = { KSD_BELL_KICK };

	memcpy(&shm->slot[0].req, q, sizeof(*q));
	atomic_store(&shm->slot[0].state, KSD_POSTED);
	atomic_fetch_or(&shm->bells.posted, 1u);
	if (kick && send(fd, &b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -1;
	return 0;
}

/*
 * Doorbells in memory (protocol 2) on a raw connection: a request
 * posted with a KICK is served; a CANCEL doorbell finds the call posted
 * before it (never rung for) and ends it; a posted bit for a slot whose
 * call is parked ends the connection, as a doorbell for it does.
 */
static int
hostile_posted_bits(void)
{
	struct ksd_req pair = { .label = KSD_SOCKETPAIR,
				.a = { AF_UNIX, SOCK_STREAM } };
	struct ksd_req rd = { .label = KSD_RECVMSG, .fd = 0, .datalen = 16 };
	struct ksd_bell cancel = { KSD_BELL_CANCEL };
	struct ksd_shm *shm;
	int fd, memfd;

	fd = raw_connect();
	CHECK(fd >= 0);
	shm = raw_hello(fd, &memfd);
	CHECK(shm != NULL);
	CHECK(raw_post_mem(fd, shm, &pair, true) == 0);
	CHECK(raw_reply(shm) == 0);
	/* Posted while the server does not watch, not rung for: the
	 * CANCEL doorbell makes the server run it first, then end it. */
	for (int i = 0; i < 2000 && atomic_load(&shm->bells.watching); i++)
		sleep_ms(1);
	CHECK(atomic_load(&shm->bells.watching) == 0);
	CHECK(raw_post_mem(fd, shm, &rd, false) == 0);
	CHECK(send(fd, &cancel, sizeof(cancel), 0) == sizeof(cancel));
	CHECK(raw_reply(shm) == -EINTR);
	/* Parked, then posted again: a protocol violation. */
	CHECK(raw_post_mem(fd, shm, &rd, true) == 0);
	sleep_ms(50);
	CHECK(atomic_load(&shm->slot[0].state) != KSD_DONE);
	CHECK(raw_post_mem(fd, shm, &rd, true) == 0);
	CHECK(closed_by_server(fd));
	munmap(shm, sizeof(*shm));
	close(memfd);
	close(fd);
	/* The same with a CLOSE posted over the parked call: the server
	 * runs closes before anything else it took (docs/ksockd.md,
	 * "Closes without a reply"), and this one ends the connection
	 * there, in its spin or before the KICK's event (the client is
	 * then dropped once the turn's events have been looked at). */
	fd = raw_connect();
	CHECK(fd >= 0);
	shm = raw_hello(fd, &memfd);
	CHECK(shm != NULL);
	CHECK(raw_post_mem(fd, shm, &pair, true) == 0);
	CHECK(raw_reply(shm) == 0);
	CHECK(raw_post_mem(fd, shm, &rd, true) == 0);
	sleep_ms(50);
	CHECK(atomic_load(&shm->slot[0].state) != KSD_DONE);
	{
		struct ksd_req cl = { .label = KSD_CLOSE, .fd = 1 };

		CHECK(raw_post_mem(fd, shm, &cl, true) == 0);
	}
	CHECK(closed_by_server(fd));
	munmap(shm, sizeof(*shm));
	close(memfd);
	close(fd);
	return 0;
}

/* A direct receive of 4 bytes from descriptor 0 into one segment. */
static const struct ksd_req direct_rd = {
	.label = KSD_RECVMSG, .fd = 0, .flags = KSD_F_DIRECT, .a = { 0, 1 },
	.datalen = 4
};

/* A stream pair at 0 and 1 on the raw connection @fd, "abcd" queued
 * for 0. Returns 0, or -1. */
static int
direct_pair(int fd, struct ksd_shm *shm)
{
	struct ksd_req pair = { .label = KSD_SOCKETPAIR,
				.a = { AF_UNIX, SOCK_STREAM } };
	struct ksd_req snd = { .label = KSD_SENDMSG, .fd = 1,
			       .flags = KSD_F_DATA_INLINE, .datalen = 4 };

	memcpy(snd.inl, "abcd", 4);
	return raw_call(fd, shm, &pair) == 0 &&
	       raw_call(fd, shm, &snd) == 4 ? 0 : -1;
}

/*
 * Direct receives on a raw connection (KSD_F_DIRECT): more segments than
 * KSD_DIRECT_SEGS are EINVAL; a segment past the user address space, or
 * on a page this process has unmapped, is EFAULT with the stream's data
 * kept; a good one gets the data written into this process's memory.
 */
static int
hostile_direct(void)
{
	static char buf[16];
	struct ksd_req rd = direct_rd;
	char *hole = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	const uint64_t bases[] = { 0xffff800000000000ull,
				   (uint64_t)(uintptr_t)hole,
				   (uint64_t)(uintptr_t)buf };
	struct ksd_shm *shm;
	int fd, memfd;

	CHECK(hole != MAP_FAILED);
	fd = raw_connect();
	CHECK(fd >= 0);
	shm = raw_hello(fd, &memfd);
	CHECK(shm != NULL);
	CHECK(direct_pair(fd, shm) == 0);
	rd.a[1] = KSD_DIRECT_SEGS + 1;
	CHECK(raw_call(fd, shm, &rd) == -EINVAL);
	rd.a[1] = 1;
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		struct ksd_iov seg = { bases[i], 4 };

		memcpy(shm->window[0], &seg, sizeof(seg));
		CHECK(raw_call(fd, shm, &rd) == (i < 2 ? -EFAULT : 4));
	}
	CHECK(memcmp(buf, "abcd", 4) == 0);
	munmap(shm, sizeof(*shm));
	munmap(hole, 4096);
	close(memfd);
	close(fd);
	return 0;
}

/*
 * A bootstrap connection whose process exited while another holds it
 * (here: a forked child connects, hands the connection and its region
 * over with SCM_RIGHTS, and is reaped): its pid may be another
 * process's by now, so a direct receive is ESRCH and writes nothing,
 * the stream's data kept for a receive through the window.
 */
static int
hostile_direct_after_exit(void)
{
	static char buf[8];
	struct ksd_req rd = direct_rd;
	struct ksd_iov seg = { (uint64_t)(uintptr_t)buf, 4 };
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(2 * sizeof(int))];
	} u;
	char one = 'c';
	struct iovec iov = { &one, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct ksd_shm *shm;
	int sv[2], fds[2], st;
	pid_t pid;

	memset(&u, 0, sizeof(u));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		fds[0] = raw_connect();
		if (fds[0] < 0 || raw_hello(fds[0], &fds[1]) == NULL)
			_exit(1);
		CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN(sizeof(fds));
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), fds, sizeof(fds));
		_exit(sendmsg(sv[1], &m, 0) == 1 ? 0 : 1);
	}
	close(sv[1]);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	      WEXITSTATUS(st) == 0);
	CHECK(recvmsg(sv[0], &m, MSG_CMSG_CLOEXEC) == 1);
	close(sv[0]);
	CHECK(CMSG_FIRSTHDR(&m) != NULL &&
	      CMSG_FIRSTHDR(&m)->cmsg_len == CMSG_LEN(sizeof(fds)));
	memcpy(fds, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(fds));
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED,
		   fds[1], 0);
	CHECK(shm != MAP_FAILED);
	CHECK(direct_pair(fds[0], shm) == 0);
	memcpy(shm->window[0], &seg, sizeof(seg));
	CHECK(raw_call(fds[0], shm, &rd) == -ESRCH);
	CHECK(memcmp(buf, "\0\0\0\0", 4) == 0);
	rd.flags = 0;
	CHECK(raw_call(fds[0], shm, &rd) == 4);
	CHECK(memcmp(shm->window[0], "abcd", 4) == 0);
	munmap(shm, sizeof(*shm));
	close(fds[1]);
	close(fds[0]);
	return 0;
}

static int
role_hostile(void)
{
	static const struct {
		struct ksd_req	q;
		int64_t		ret;
	} cases[] = {
		{ { .label = 0 }, -ENOSYS },
		{ { .label = KSD_LABEL_END }, -ENOSYS },
		{ { .label = 0xffffffff }, -ENOSYS },
		{ { .label = KSD_SOCKET, .flags = 0x80 }, -EINVAL },
		{ { .label = KSD_RECVMSG, .datalen = KSD_DATA_MAX + 1 }, -EINVAL },
		{ { .label = KSD_RECVMSG, .ctllen = KSD_CTL_MAX + 1 }, -EINVAL },
		{ { .label = KSD_SENDMSG, .flags = KSD_F_DATA_INLINE,
		    .datalen = KSD_INLINE_DATA + 1 }, -EINVAL },
		{ { .label = KSD_SENDMSG, .addrlen = KSD_INLINE }, -EINVAL },
		{ { .label = KSD_BIND, .addrlen = KSD_INLINE + 1 }, -EINVAL },
		{ { .label = KSD_CLOSE, .datalen = 1 }, -EINVAL },
		{ { .label = KSD_POLL, .a = { KSD_POLL_MAX + 1 } }, -EINVAL },
		{ { .label = KSD_POLL, .a = { -1 } }, -EINVAL },
		/* Descriptors a request says its doorbell brings, and it
		 * brought none; a flag the label does not take. */
		{ { .label = KSD_SENDMSG, .flags = KSD_F_KFDS }, -EINVAL },
		{ { .label = KSD_BIND, .flags = KSD_F_CWD }, -EINVAL },
		{ { .label = KSD_SOCKET, .flags = KSD_F_CWD }, -EINVAL },
		/* A thread that is not the client's (1 is init's). */
		{ { .label = KSD_SOCKET, .flags = KSD_F_THREAD_NS, .tid = 1,
		    .a = { AF_UNIX, SOCK_STREAM } }, -ESRCH },
		{ { .label = KSD_CLOSE, .flags = KSD_F_THREAD_NS, .tid = -5 },
		  -ESRCH },
		{ { .label = KSD_CLOSE, .fd = -1 }, -EBADF },
		{ { .label = KSD_LISTEN, .fd = 1 << 30 }, -EBADF },
		/* Descriptor 0 is the library client's, in another table. */
		{ { .label = KSD_CLOSE, .fd = 0 }, -EBADF },
		{ { .label = KSD_SENDMSG, .fd = 0 }, -EBADF },
		/* Now descriptor 0 of this table: a bind with an address
		 * longer than a sockaddr_storage. */
		{ { .label = KSD_SOCKET, .a = { AF_UNIX, SOCK_STREAM } }, 0 },
		{ { .label = KSD_BIND, .addrlen = 129 }, -EINVAL },
		{ { .label = KSD_CLOSE, .fd = 0 }, 0 },
	};
	struct ksd_shm *shm;
	struct ksd_bell bad = { 99 };
	int fd, memfd, mine;

	/* The library's own process has descriptor 0. */
	mine = ksd_socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(mine == 0);
	/* A truncated hello, and a hello of another version. */
	fd = raw_connect();
	CHECK(fd >= 0 && send(fd, "ks", 2, 0) == 2 && closed_by_server(fd));
	close(fd);
	fd = raw_connect();
	{
		struct ksd_hello h = { .magic = KSD_MAGIC, .version = 77 };
		struct ksd_welcome w;

		CHECK(fd >= 0 && send(fd, &h, sizeof(h), 0) == sizeof(h));
		CHECK(recv(fd, &w, sizeof(w), 0) == sizeof(w) &&
		      w.err == -EPROTONOSUPPORT);
		CHECK(closed_by_server(fd));
	}
	close(fd);
	/* A connection that never says hello is closed after 2 s. */
	fd = raw_connect();
	CHECK(fd >= 0 && closed_within(fd, 5000));
	close(fd);
	/* A region the client cannot shrink under the server. */
	fd = raw_connect();
	CHECK(fd >= 0);
	shm = raw_hello(fd, &memfd);
	CHECK(shm != NULL);
	CHECK(ftruncate(memfd, 0) < 0 && errno == EPERM);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t r = raw_call(fd, shm, &cases[i].q);

		if (r != cases[i].ret)
			fprintf(stderr, "case %zu: %lld, not %lld\n", i,
				(long long)r, (long long)cases[i].ret);
		CHECK(r == cases[i].ret);
	}
	/* A CANCEL for a slot with nothing parked changes nothing. */
	{
		struct ksd_bell c0 = { KSD_BELL_CANCEL };
		struct ksd_req st = { .label = KSD_STATUS };

		CHECK(send(fd, &c0, sizeof(c0), 0) == sizeof(c0));
		CHECK(raw_call(fd, shm, &st) == 0);
	}
	/* A doorbell for a slot that does not exist ends the connection;
	 * the other client of this process goes on. */
	CHECK(send(fd, &bad, sizeof(bad), 0) == sizeof(bad));
	CHECK(closed_by_server(fd));
	/* So does a doorbell of the wrong size. */
	close(fd);
	munmap(shm, sizeof(*shm));
	close(memfd);
	fd = raw_connect();
	CHECK(fd >= 0);
	shm = raw_hello(fd, &memfd);
	CHECK(shm != NULL);
	CHECK(send(fd, "bell!", 5, 0) == 5 && closed_by_server(fd));
	munmap(shm, sizeof(*shm));
	close(memfd);
	close(fd);
	/* And a doorbell for a slot whose call is still parked (a receive
	 * on an empty socketpair): the parked call goes with the client. */
	fd = raw_connect();
	CHECK(fd >= 0);
	shm = raw_hello(fd, &memfd);
	CHECK(shm != NULL);
	{
		struct ksd_req pair = { .label = KSD_SOCKETPAIR,
					.a = { AF_UNIX, SOCK_STREAM } };
		struct ksd_req rd = { .label = KSD_RECVMSG, .fd = 0,
				      .datalen = 16 };
		struct ksd_bell b0 = { 0 };

		struct ksd_bell restart = { KSD_BELL_CANCEL | KSD_BELL_RESTART };
		struct ksd_bell cancel = { KSD_BELL_CANCEL };

		CHECK(raw_call(fd, shm, &pair) == 0);
		/* A parked receive: a CANCEL with SA_RESTART leaves it
		 * parked, a plain one ends it with EINTR. */
		memcpy(&shm->slot[0].req, &rd, sizeof(rd));
		atomic_store(&shm->slot[0].state, KSD_POSTED);
		CHECK(send(fd, &b0, sizeof(b0), 0) == sizeof(b0));
		CHECK(send(fd, &restart, sizeof(restart), 0) == sizeof(restart));
		sleep_ms(50);
		CHECK(atomic_load(&shm->slot[0].state) != KSD_DONE);
		CHECK(send(fd, &cancel, sizeof(cancel), 0) == sizeof(cancel));
		for (int i = 0; i < 2000 &&
		     atomic_load(&shm->slot[0].state) != KSD_DONE; i++)
			sleep_ms(1);
		CHECK(atomic_load(&shm->slot[0].state) == KSD_DONE &&
		      shm->slot[0].rep.ret == -EINTR);
		atomic_store(&shm->slot[0].state, KSD_IDLE);
		memcpy(&shm->slot[0].req, &rd, sizeof(rd));
		CHECK(send(fd, &b0, sizeof(b0), 0) == sizeof(b0));
		sleep_ms(50);
		CHECK(atomic_load(&shm->slot[0].state) != KSD_DONE);
		CHECK(send(fd, &b0, sizeof(b0), 0) == sizeof(b0));
		CHECK(closed_by_server(fd));
	}
	munmap(shm, sizeof(*shm));
	close(memfd);
	close(fd);
	CHECK(hostile_posted_bits() == 0);
	CHECK(hostile_direct() == 0);
	CHECK(hostile_direct_after_exit() == 0);
	CHECK(ksd_close(mine) == 0);
	return 0;
}

/* exec: a ksd_fork() child runs this program again with ksd_execve();
 * the new image has the descriptor without FD_CLOEXEC, not the other. */
static int
role_exec(void)
{
	char a0[16], a1[16], b[8];
	int sv[2], st;
	pid_t pid;

	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(ksd_fcntl(sv[0], F_SETFD, FD_CLOEXEC) == 0);
	CHECK(ksd_fcntl(sv[0], F_GETFD, 0) == FD_CLOEXEC);
	pid = ksd_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char *args[] = { "t_ksockd", "--role", "exec-image",
				 (char *)server_addr, dir, a0, a1, NULL };

		snprintf(a0, sizeof(a0), "%d", sv[0]);
		snprintf(a1, sizeof(a1), "%d", sv[1]);
		ksd_execve("/proc/self/exe", args, environ);
		_exit(127);
	}
	CHECK(ksd_close(sv[1]) == 0);
	CHECK(recv_exact(sv[0], SOCK_STREAM, b, 6) == 0);
	CHECK(memcmp(b, "exec'd", 6) == 0);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	      WEXITSTATUS(st) == 0);
	CHECK(ksd_recv(sv[0], b, 1, 0) == 0);
	CHECK(ksd_close(sv[0]) == 0);
	return 0;
}

static int
role_exec_image(int gone, int kept)
{
	errno = 0;
	CHECK(ksd_fcntl(gone, F_GETFD, 0) == -1 && errno == EBADF);
	CHECK(ksd_fcntl(kept, F_GETFD, 0) == 0);
	CHECK(send_all(kept, "exec'd", 6) == 0);
	CHECK(ksd_close(kept) == 0);
	return 0;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* SO_RCVTIMEO and SO_SNDTIMEO bound a parked call as on Linux: recv and
 * accept fail with EAGAIN once it runs out, a stream send returns what
 * went. */
static int
role_timeouts(void)
{
	struct timeval tv = { 0, 150000 };
	struct sockaddr_un sun;
	socklen_t len = make_addr("@ksockd-t-timeout", &sun);
	static char big[1000000];
	char b[8];
	double t0, dt;
	ssize_t n;
	int sv[2], l;

	alarm(20);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(ksd_setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv,
			     sizeof(tv)) == 0);
	t0 = now_s();
	errno = 0;
	CHECK(ksd_recv(sv[0], b, sizeof(b), 0) == -1 && errno == EAGAIN);
	dt = now_s() - t0;
	CHECK(dt >= 0.14 && dt < 2.0);
	tv.tv_usec = 100000;
	CHECK(ksd_setsockopt(sv[1], SOL_SOCKET, SO_SNDTIMEO, &tv,
			     sizeof(tv)) == 0);
	n = ksd_send(sv[1], big, sizeof(big), 0);
	CHECK(n > 0 && n < (ssize_t)sizeof(big));
	l = ksd_socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(l >= 0);
	CHECK(ksd_bind(l, (struct sockaddr *)&sun, len) == 0);
	CHECK(ksd_listen(l, 1) == 0);
	CHECK(ksd_setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
	errno = 0;
	CHECK(ksd_accept4(l, NULL, NULL, 0) == -1 && errno == EAGAIN);
	CHECK(ksd_close(l) == 0 && ksd_close(sv[0]) == 0 &&
	      ksd_close(sv[1]) == 0);
	return 0;
}

/* A poll parked on both ends of a socketpair whose descriptors are then
 * closed, so the parked call holds the last references, and the process
 * exits: dropping the call closes one end, whose wake-up reaches the
 * call's entry on the other end; the call must not be queued again while
 * it is being freed. */
static void *
poller(void *arg)
{
	struct pollfd *p = arg;

	ksd_poll(p, 2, -1);
	return NULL;
}

static int
role_poll_exit(void)
{
	static struct pollfd p[2];
	struct ksd_status st0, st;
	pthread_t t;
	int sv[2], i;

	CHECK(ksd_status(&st0) == 0);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	p[0] = (struct pollfd){ sv[0], POLLIN, 0 };
	p[1] = (struct pollfd){ sv[1], POLLIN, 0 };
	CHECK(pthread_create(&t, NULL, poller, p) == 0);
	for (i = 0; i < 1000; i++) {
		CHECK(ksd_status(&st) == 0);
		if (st.parked == st0.parked + 1)
			break;
		sleep_ms(5);
	}
	CHECK(st.parked == st0.parked + 1);
	CHECK(ksd_close(sv[0]) == 0 && ksd_close(sv[1]) == 0);
	_exit(0);
}

/* SCM_CREDENTIALS from a forked child carries the child's real pid. */
static int
role_creds(void)
{
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(sizeof(struct ucred))];
	} u;
	char one;
	struct iovec iov = { &one, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	struct ucred cr;
	int sv[2], on = 1, st;
	pid_t pid;

	CHECK(ksd_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
	CHECK(ksd_setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on,
			     sizeof(on)) == 0);
	pid = ksd_fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(ksd_send(sv[1], "c", 1, 0) == 1 ? 0 : 1);
	CHECK(ksd_recvmsg(sv[0], &m, 0) == 1 && one == 'c');
	cm = CMSG_FIRSTHDR(&m);
	CHECK(cm != NULL && cm->cmsg_level == SOL_SOCKET &&
	      cm->cmsg_type == SCM_CREDENTIALS);
	memcpy(&cr, CMSG_DATA(cm), sizeof(cr));
	CHECK(cr.pid == pid && cr.uid == getuid() && cr.gid == getgid());
	{
		/* SO_PEERPIDFD: the socketpair's peer is this process, and
		 * the pidfd (a kernel descriptor here, close-on-exec) names
		 * it as one of our own pidfd_open's does. */
		struct stat ref, got;
		int fd = -1, own;
		socklen_t len = sizeof(fd);

		CHECK(ksd_getsockopt(sv[0], SOL_SOCKET, 77 /* SO_PEERPIDFD */,
				     &fd, &len) == 0 && len == sizeof(fd));
		own = (int)syscall(SYS_pidfd_open, getpid(), 0);
		CHECK(own >= 0 && fstat(own, &ref) == 0 &&
		      fstat(fd, &got) == 0);
		CHECK(got.st_ino == ref.st_ino && got.st_dev == ref.st_dev);
		CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC);
		CHECK(close(own) == 0 && close(fd) == 0);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	      WEXITSTATUS(st) == 0);
	CHECK(ksd_close(sv[0]) == 0 && ksd_close(sv[1]) == 0);
	return 0;
}

/* SO_PEERGROUPS on a socketpair: the supplementary groups this process
 * had when it attached (the runner set them before the exec), which are
 * not the server's. */
static int
role_groups(void)
{
	uint32_t got[8];
	gid_t want[8];
	socklen_t len = sizeof(got);
	int sv[2], n = getgroups(8, want);

	CHECK(n == 3);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(ksd_getsockopt(sv[0], SOL_SOCKET, SO_PEERGROUPS, got,
			     &len) == 0);
	CHECK(len == 3 * sizeof(uint32_t));
	for (int i = 0; i < n; i++)
		CHECK(got[i] == want[i]);
	len = sizeof(uint32_t);
	errno = 0;
	CHECK(ksd_getsockopt(sv[1], SOL_SOCKET, SO_PEERGROUPS, got,
			     &len) == -1 && errno == ERANGE);
	CHECK(ksd_close(sv[0]) == 0 && ksd_close(sv[1]) == 0);
	return 0;
}

static volatile sig_atomic_t sigpipes;

static void
on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

/* A send to a closed peer: EPIPE and one SIGPIPE to the sender, none
 * with MSG_NOSIGNAL. */
static int
role_sigpipe(void)
{
	int sv[2];

	signal(SIGPIPE, on_sigpipe);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(ksd_close(sv[1]) == 0);
	errno = 0;
	CHECK(ksd_send(sv[0], "x", 1, 0) == -1 && errno == EPIPE);
	CHECK(sigpipes == 1);
	errno = 0;
	CHECK(ksd_send(sv[0], "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE);
	CHECK(sigpipes == 1);
	CHECK(ksd_close(sv[0]) == 0);
	return 0;
}

/* What a thread does to a socket after a pause, while the main thread
 * waits in a call on it. */
struct later {
	int		fd;
	int		how;		/* shutdown's, or -1: close */
	const char	*data;		/* NULL: shutdown or close */
};

static void *
later_main(void *arg)
{
	struct later *l = arg;

	sleep_ms(100);
	if (l->data != NULL)
		(void)ksd_send(l->fd, l->data, strlen(l->data), 0);
	else if (l->how >= 0)
		(void)ksd_shutdown(l->fd, l->how);
	else
		(void)ksd_close(l->fd);
	return NULL;
}

/* Sends without waiting until @fd's peer is full. */
static void
fill_peer(int fd)
{
	static char chunk[4096];

	while (ksd_send(fd, chunk, sizeof(chunk), MSG_DONTWAIT) > 0)
		;
}

/*
 * A stream send parked on a full peer is woken by the peer's SHUT_RD
 * (EPIPE) or its close with our data unread (ECONNRESET, the pending
 * error, consumed), without SIGPIPE: the send saw the shutdown after it
 * waited. The next send gets EPIPE and SIGPIPE.
 */
static int
role_woken_sender(void)
{
	static char buf[4096];
	static const int hows[] = { SHUT_RD, -1 };
	int so_err = -1;
	socklen_t len;

	alarm(20);
	signal(SIGPIPE, on_sigpipe);
	for (size_t i = 0; i < sizeof(hows) / sizeof(hows[0]); i++) {
		int how = hows[i];
		struct later l = { -1, how, NULL };
		int sv[2];
		pthread_t t;

		sigpipes = 0;
		CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
		fill_peer(sv[0]);
		l.fd = sv[1];
		CHECK(pthread_create(&t, NULL, later_main, &l) == 0);
		errno = 0;
		CHECK(ksd_send(sv[0], buf, sizeof(buf), 0) == -1 &&
		      errno == (how < 0 ? ECONNRESET : EPIPE));
		CHECK(sigpipes == 0);
		errno = 0;
		CHECK(ksd_send(sv[0], buf, sizeof(buf), 0) == -1 &&
		      errno == EPIPE);
		CHECK(sigpipes == 1);
		len = sizeof(so_err);
		CHECK(ksd_getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &so_err,
				     &len) == 0 && so_err == 0);
		CHECK(pthread_join(t, NULL) == 0);
		CHECK(ksd_close(sv[0]) == 0);
		if (how >= 0)
			CHECK(ksd_close(sv[1]) == 0);
	}
	return 0;
}

/* Timeouts too long for the clock in nanoseconds (but not "forever" on
 * Linux, which reads them back) wait for the data, as no timeout. */
static int
role_huge_timeout(void)
{
	static const struct timeval huge[] = {
		{ 9223372036L, 0 }, { 9223372037L, 999999 },
		{ 36893488147419101L, 0 },
	};
	char b[8];
	int sv[2];

	alarm(20);
	for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		struct later l = { -1, -1, "late" };
		pthread_t t;

		CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
		CHECK(ksd_setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &huge[i],
				     sizeof(huge[i])) == 0);
		l.fd = sv[1];
		CHECK(pthread_create(&t, NULL, later_main, &l) == 0);
		CHECK(ksd_recv(sv[0], b, sizeof(b), 0) == 4 &&
		      memcmp(b, "late", 4) == 0);
		CHECK(pthread_join(t, NULL) == 0);
		CHECK(ksd_close(sv[0]) == 0 && ksd_close(sv[1]) == 0);
	}
	return 0;
}

static void *
dgram_sender(void *arg)
{
	int *fd_err = arg;

	fd_err[1] = ksd_send(fd_err[0], "x", 1, 0) < 0 ? errno : 0;
	return NULL;
}

/* Two datagram senders parked on a connected peer's full queue, which
 * then closes: the first to look again gets ECONNREFUSED and drops the
 * peer, the other ECONNRESET (Linux's sender never looks the peer up
 * again); later sends get ENOTCONN. */
static int
role_dgram_two_senders(void)
{
	struct sockaddr_un sun;
	socklen_t len = make_addr("@ksockd-t-2senders", &sun);
	int r, fd, st[2][2], refused = 0, reset = 0;
	pthread_t t[2];

	alarm(20);
	r = ksd_socket(AF_UNIX, SOCK_DGRAM, 0);
	fd = ksd_socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK(r >= 0 && fd >= 0);
	CHECK(ksd_bind(r, (struct sockaddr *)&sun, len) == 0);
	CHECK(ksd_connect(fd, (struct sockaddr *)&sun, len) == 0);
	while (ksd_send(fd, "d", 1, MSG_DONTWAIT) == 1)
		;
	for (int i = 0; i < 2; i++) {
		st[i][0] = fd;
		st[i][1] = -1;
		CHECK(pthread_create(&t[i], NULL, dgram_sender, st[i]) == 0);
	}
	sleep_ms(100);
	CHECK(ksd_close(r) == 0);
	for (int i = 0; i < 2; i++) {
		CHECK(pthread_join(t[i], NULL) == 0);
		refused += st[i][1] == ECONNREFUSED;
		reset += st[i][1] == ECONNRESET;
	}
	CHECK(refused == 1 && reset == 1);
	errno = 0;
	CHECK(ksd_send(fd, "x", 1, 0) == -1 && errno == ENOTCONN);
	CHECK(ksd_close(fd) == 0);
	return 0;
}

/* A blocking connect to a listener whose backlog is full waits until an
 * accept makes room; a non-blocking one fails with EAGAIN. */
static struct sockaddr_un cw_addr;
static socklen_t cw_len;
static atomic_int cw_done;

static void *
connector(void *arg)
{
	int fd = *(int *)arg;

	atomic_store(&cw_done, ksd_connect(fd, (struct sockaddr *)&cw_addr,
					   cw_len) == 0 ? 1 : -1);
	return NULL;
}

static int
role_connect_wait(void)
{
	int l, fds[8], n = 0, waiter, a;
	pthread_t t;

	alarm(20);
	cw_len = make_addr("@ksockd-t-backlog", &cw_addr);
	l = ksd_socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(l >= 0);
	CHECK(ksd_bind(l, (struct sockaddr *)&cw_addr, cw_len) == 0);
	CHECK(ksd_listen(l, 1) == 0);
	for (;;) {
		CHECK(n < 8);
		fds[n] = ksd_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		CHECK(fds[n] >= 0);
		if (ksd_connect(fds[n], (struct sockaddr *)&cw_addr,
				cw_len) < 0)
			break;
		n++;
	}
	CHECK(errno == EAGAIN && n >= 1);
	CHECK(ksd_close(fds[n]) == 0);
	waiter = ksd_socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(waiter >= 0);
	CHECK(pthread_create(&t, NULL, connector, &waiter) == 0);
	sleep_ms(200);
	CHECK(atomic_load(&cw_done) == 0);
	a = ksd_accept4(l, NULL, NULL, 0);
	CHECK(a >= 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(atomic_load(&cw_done) == 1);
	CHECK(ksd_close(a) == 0 && ksd_close(waiter) == 0 &&
	      ksd_close(l) == 0);
	while (n-- > 0)
		CHECK(ksd_close(fds[n]) == 0);
	return 0;
}

/* A call in progress when the server dies fails with ECONNRESET, in
 * about a second, instead of waiting for ever. */
static int
role_server_dies(void)
{
	char b[4];
	int sv[2];

	char mark[128];
	int fd;

	alarm(20);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	/* Attached: the runner may kill the server from now on (a call
	 * posted after that fails the same way). */
	snprintf(mark, sizeof(mark), "%s/attached", dir);
	fd = open(mark, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0 && close(fd) == 0);
	errno = 0;
	CHECK(ksd_recv(sv[0], b, sizeof(b), 0) == -1 && errno == ECONNRESET);
	return 0;
}

/* One MSG_WAITALL read of 1 MB (more than four windows) from a forked
 * writer that sends in pieces: all of it, byte-exact. */
static int
role_waitall(void)
{
	static unsigned char buf[1000000];
	int sv[2], st;
	pid_t pid;

	alarm(20);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	pid = ksd_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(20);
		if (ksd_close(sv[0]) < 0)
			_exit(1);
		fill(buf, sizeof(buf), 3, 0);
		for (size_t off = 0; off < sizeof(buf); off += 100000) {
			if (send_all(sv[1], buf + off, 100000) < 0)
				_exit(1);
			sleep_ms(5);
		}
		_exit(0);
	}
	CHECK(ksd_close(sv[1]) == 0);
	CHECK(ksd_recv(sv[0], buf, sizeof(buf), MSG_WAITALL) ==
	      (ssize_t)sizeof(buf));
	CHECK(same(buf, sizeof(buf), 3, 0));
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	      WEXITSTATUS(st) == 0);
	CHECK(ksd_close(sv[0]) == 0);
	return 0;
}

/*
 * A client whose memory the server may not reach (not dumpable, and a
 * server without CAP_SYS_PTRACE): a receive into good buffers goes
 * through the window in every mode (the library checked them); one into
 * a bad buffer asks for a direct receive, which is refused and goes
 * through the window (EFAULT there, the data lost), and so does every
 * later one, byte-exact, MSG_WAITALL past one window too. @mode 0: not
 * dumpable from the start; 2: only after a first receive into a bad
 * buffer, which was direct (the next one meets the refusal inside its
 * copy); 1: dumpable, and a bad buffer's receive stays direct (EFAULT,
 * the data kept).
 */
/* Takes CAP_SYS_PTRACE out of this process's capabilities (a root
 * process's are otherwise more than a server's without it, which is then
 * refused whether or not the process is dumpable). 0, or -1. */
static int
drop_ptrace_cap(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	d[0].effective &= ~(1u << CAP_SYS_PTRACE);
	d[0].permitted &= ~(1u << CAP_SYS_PTRACE);
	d[0].inheritable &= ~(1u << CAP_SYS_PTRACE);
	return (int)syscall(SYS_capset, &h, d);
}

/*
 * window-send: a client whose memory the server may not read (as
 * role_window's mode 0) sends more than a window, which asks for a
 * direct send: refused, it goes through the window (a non-blocking
 * send: a part, byte-exact), and so does every later copy.
 */
static int
role_window_send(void)
{
	static unsigned char buf[300000], got[300000];
	ssize_t n, r;
	size_t have = 0;
	int sv[2];

	alarm(20);
	CHECK(drop_ptrace_cap() == 0);
	CHECK(prctl(PR_SET_DUMPABLE, 0) == 0);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(ksd_copies_direct());
	fill(buf, sizeof(buf), 7, 0);
	n = ksd_send(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
	CHECK(n > 0 && n < (ssize_t)sizeof(buf));
	CHECK(!ksd_copies_direct());
	while (n > 0 && have < (size_t)n &&
	       (r = ksd_recv(sv[0], got + have, (size_t)n - have,
			     MSG_DONTWAIT)) > 0)
		have += (size_t)r;
	CHECK(n > 0 && have == (size_t)n && same(got, have, 7, 0));
	CHECK(ksd_recv(sv[0], got, 1, MSG_DONTWAIT) == -1 && errno == EAGAIN);
	CHECK(ksd_close(sv[0]) == 0 && ksd_close(sv[1]) == 0);
	return 0;
}

static int
role_window(int mode)
{
	static unsigned char buf[600000];
	bool direct = mode == 1;
	char *hole = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	int sv[2], st;
	pid_t pid;

	alarm(20);
	CHECK(hole != MAP_FAILED);
	if (mode != 1)
		CHECK(drop_ptrace_cap() == 0);
	if (mode == 0)
		CHECK(prctl(PR_SET_DUMPABLE, 0) == 0);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	if (mode == 2) {
		/* A direct receive (the buffer is bad), which the server
		 * may make: EFAULT, the data kept. */
		CHECK(ksd_send(sv[1], "wxyz", 4, 0) == 4);
		CHECK(ksd_recv(sv[0], hole, 4, 0) == -1 && errno == EFAULT);
		CHECK(ksd_recv(sv[0], buf, 4, 0) == 4);
		CHECK(memcmp(buf, "wxyz", 4) == 0 && ksd_copies_direct());
		CHECK(prctl(PR_SET_DUMPABLE, 0) == 0);
	}
	/* A good buffer goes through the window: the server is not asked
	 * for the client's memory. */
	CHECK(ksd_send(sv[1], "abcd", 4, 0) == 4);
	CHECK(ksd_copies_direct());
	CHECK(ksd_recv(sv[0], buf, 4, 0) == 4);
	CHECK(memcmp(buf, "abcd", 4) == 0);
	CHECK(ksd_copies_direct());
	/* A bad one asks for a direct receive: EFAULT either way, the data
	 * kept when the server could write the buffer, lost in the window
	 * when it was refused. */
	CHECK(ksd_send(sv[1], "efgh", 4, 0) == 4);
	CHECK(ksd_recv(sv[0], hole, 4, 0) == -1 && errno == EFAULT);
	CHECK(ksd_copies_direct() == direct);
	if (direct)
		CHECK(ksd_recv(sv[0], buf, 4, MSG_DONTWAIT) == 4 &&
		      memcmp(buf, "efgh", 4) == 0);
	else
		CHECK(ksd_recv(sv[0], buf, 4, MSG_DONTWAIT) == -1 &&
		      errno == EAGAIN);
	CHECK(munmap(hole, 4096) == 0);
	pid = ksd_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (ksd_close(sv[0]) < 0)
			_exit(1);
		fill(buf, sizeof(buf), 5, 0);
		_exit(send_all(sv[1], buf, sizeof(buf)) < 0);
	}
	CHECK(ksd_close(sv[1]) == 0);
	memset(buf, 0, sizeof(buf));
	CHECK(ksd_recv(sv[0], buf, sizeof(buf), MSG_WAITALL) ==
	      (ssize_t)sizeof(buf));
	CHECK(same(buf, sizeof(buf), 5, 0));
	CHECK(ksd_copies_direct() == direct);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	      WEXITSTATUS(st) == 0);
	CHECK(ksd_close(sv[0]) == 0);
	return 0;
}

/* -- signals and mixed waits -- */

static atomic_int sigusr1s;

static void
on_sigusr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&sigusr1s, 1);
}

/* SIGUSR1's handler, with @flags (SA_RESTART or 0). */
static int
on_signal(int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr1;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	return ksd_sigaction(SIGUSR1, &sa, NULL);
}

/*
 * A thread that interrupts another one: it waits until its target
 * sleeps in the kernel (its state in /proc is S), then sends it SIGUSR1,
 * every 20 ms, until told to stop or, when @nsig is set, @nsig times,
 * and then runs @act(@fd) (a write that ends the target's wait). The
 * call under test starts sleeping at some point, and the signals go on
 * until it returns, so no timing decides the outcome.
 */
struct interrupter {
	pthread_t	 target, th;
	pid_t		 tid;
	int		 nsig, fd;
	int		 (*act)(int fd);
	atomic_int	 stop, sent;
};

static bool
sleeping(pid_t tid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' && p[2] == 'S';
}

static void *
interrupt_loop(void *arg)
{
	struct interrupter *ir = arg;

	/* @nsig < 0: no signal, only @act once the target sleeps. */
	for (int k = 0; k < 1000 && ir->nsig >= 0 &&
	     !atomic_load(&ir->stop); k++) {
		for (int w = 0; w < 5000 && !atomic_load(&ir->stop) &&
		     !sleeping(ir->tid); w++)
			sleep_ms(1);
		if (atomic_load(&ir->stop))
			break;
		pthread_kill(ir->target, SIGUSR1);
		if (atomic_fetch_add(&ir->sent, 1) + 1 == ir->nsig)
			break;
		sleep_ms(20);
	}
	if (ir->act != NULL) {
		for (int w = 0; w < 5000 && !sleeping(ir->tid); w++)
			sleep_ms(1);
		ir->act(ir->fd);
	}
	return NULL;
}

static int
interrupt_start(struct interrupter *ir, int nsig, int (*act)(int), int fd)
{
	memset(ir, 0, sizeof(*ir));
	ir->target = pthread_self();
	ir->tid = (pid_t)syscall(SYS_gettid);
	ir->nsig = nsig;
	ir->act = act;
	ir->fd = fd;
	return pthread_create(&ir->th, NULL, interrupt_loop, ir);
}

static int
interrupt_stop(struct interrupter *ir)
{
	atomic_store(&ir->stop, 1);
	return pthread_join(ir->th, NULL);
}

static int
send_r(int fd)
{
	return (int)ksd_send(fd, "r", 1, 0);
}

static int
write_k(int fd)
{
	return (int)write(fd, "k", 1);
}

static int
accept_close(int fd)
{
	int a = ksd_accept4(fd, NULL, NULL, 0);

	return a < 0 ? -1 : ksd_close(a);
}

/*
 * A blocked call and a signal, as on Linux: without SA_RESTART, EINTR
 * (recv, accept, poll) or the bytes already moved (a MSG_WAITALL recv,
 * a stream send); with SA_RESTART the call goes on and ends with its
 * data, except poll and a socket with SO_RCVTIMEO, which Linux never
 * restarts.
 */
static int
role_eintr(void)
{
	static char big[1 << 20];
	struct timeval tv = { 30, 0 };
	struct sockaddr_un sun;
	socklen_t len = make_addr("@ksockd-t-eintr", &sun);
	struct interrupter ir;
	struct pollfd p;
	char b[100];
	ssize_t n;
	int sv[2], l, k, full[8];

	alarm(60);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);

	CHECK(on_signal(0) == 0);
	CHECK(interrupt_start(&ir, 0, NULL, -1) == 0);
	errno = 0;
	n = ksd_recv(sv[0], b, sizeof(b), 0);
	CHECK(interrupt_stop(&ir) == 0);
	CHECK(n == -1 && errno == EINTR);

	/* The same with the C library's sigaction, which the library's
	 * trampoline does not see. */
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_sigusr1;
		sigemptyset(&sa.sa_mask);
		CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	}
	CHECK(interrupt_start(&ir, 0, NULL, -1) == 0);
	errno = 0;
	n = ksd_recv(sv[0], b, sizeof(b), 0);
	CHECK(interrupt_stop(&ir) == 0);
	CHECK(n == -1 && errno == EINTR);

	CHECK(on_signal(SA_RESTART) == 0);
	CHECK(interrupt_start(&ir, 3, send_r, sv[1]) == 0);
	n = ksd_recv(sv[0], b, sizeof(b), 0);
	CHECK(interrupt_stop(&ir) == 0);
	CHECK(n == 1 && b[0] == 'r' && atomic_load(&ir.sent) == 3);

	CHECK(ksd_setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv,
			     sizeof(tv)) == 0);
	CHECK(interrupt_start(&ir, 0, NULL, -1) == 0);
	errno = 0;
	n = ksd_recv(sv[0], b, sizeof(b), 0);
	CHECK(interrupt_stop(&ir) == 0);
	CHECK(n == -1 && errno == EINTR);
	tv.tv_sec = 0;
	CHECK(ksd_setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv,
			     sizeof(tv)) == 0);

	p = (struct pollfd){ sv[0], POLLIN, 0 };
	CHECK(interrupt_start(&ir, 0, NULL, -1) == 0);
	errno = 0;
	n = ksd_poll(&p, 1, -1);
	CHECK(interrupt_stop(&ir) == 0);
	CHECK(n == -1 && errno == EINTR);

	CHECK(on_signal(0) == 0);
	l = ksd_socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(l >= 0);
	CHECK(ksd_bind(l, (struct sockaddr *)&sun, len) == 0);
	CHECK(ksd_listen(l, 1) == 0);
	CHECK(interrupt_start(&ir, 0, NULL, -1) == 0);
	errno = 0;
	n = ksd_accept4(l, NULL, NULL, 0);
	CHECK(interrupt_stop(&ir) == 0);
	CHECK(n == -1 && errno == EINTR);

	/* A connect waiting for room in the backlog. */
	for (k = 0; k < 8; k++) {
		full[k] = ksd_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		CHECK(full[k] >= 0);
		if (ksd_connect(full[k], (struct sockaddr *)&sun, len) < 0)
			break;
	}
	CHECK(k < 8 && errno == EAGAIN);
	CHECK(ksd_close(full[k]) == 0);
	full[k] = ksd_socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(full[k] >= 0);
	CHECK(interrupt_start(&ir, 0, NULL, -1) == 0);
	errno = 0;
	n = ksd_connect(full[k], (struct sockaddr *)&sun, len);
	CHECK(interrupt_stop(&ir) == 0);
	CHECK(n == -1 && errno == EINTR);
	for (int j = 0; j <= k; j++)
		CHECK(ksd_close(full[j]) == 0);
	CHECK(ksd_close(l) == 0);

	CHECK(ksd_send(sv[1], "0123456789", 10, 0) == 10);
	CHECK(interrupt_start(&ir, 0, NULL, -1) == 0);
	n = ksd_recv(sv[0], b, sizeof(b), MSG_WAITALL);
	CHECK(interrupt_stop(&ir) == 0);
	CHECK(n == 10 && memcmp(b, "0123456789", 10) == 0);

	CHECK(interrupt_start(&ir, 0, NULL, -1) == 0);
	n = ksd_send(sv[0], big, sizeof(big), 0);
	CHECK(interrupt_stop(&ir) == 0);
	CHECK(n > 0 && n < (ssize_t)sizeof(big));

	/* With SA_RESTART too: bytes moved are the result, not a restart. */
	CHECK(on_signal(SA_RESTART) == 0);
	CHECK(ksd_close(sv[0]) == 0 && ksd_close(sv[1]) == 0);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(interrupt_start(&ir, 0, NULL, -1) == 0);
	n = ksd_send(sv[0], big, sizeof(big), 0);
	CHECK(interrupt_stop(&ir) == 0);
	CHECK(n > 0 && n < (ssize_t)sizeof(big));

	CHECK(ksd_close(sv[0]) == 0 && ksd_close(sv[1]) == 0);
	return 0;
}

/* Sets the two entries of a mixed poll, revents poisoned. */
static void
mixed_set(struct pollfd *s, int sfd, struct pollfd *k, int kfd)
{
	*s = (struct pollfd){ sfd, POLLIN, -1 };
	*k = (struct pollfd){ kfd, POLLIN, -1 };
}

/*
 * A mixed poll that another thread ends with @act(@fd) once this one
 * sleeps in it, after one signal (SA_RESTART: a poll still fails with
 * EINTR, and is then asked again, since the signal may come before the
 * wait or end it). Returns the poll's result.
 */
static int
mixed_wake(struct pollfd *s, int sfd, struct pollfd *k, int kfd,
	   int (*act)(int), int fd)
{
	struct interrupter ir;
	int n;

	if (interrupt_start(&ir, 1, act, fd) != 0)
		return -2;
	mixed_set(s, sfd, k, kfd);
	n = ksd_poll_mixed(s, 1, k, 1, NULL, NULL);
	if (n < 0 && errno == EINTR) {
		mixed_set(s, sfd, k, kfd);
		n = ksd_poll_mixed(s, 1, k, 1, NULL, NULL);
	}
	if (interrupt_stop(&ir) != 0)
		return -2;
	return n;
}

/*
 * One wait on a ksockd socket and a kernel pipe: nothing ready (the
 * timeout), the pipe, both, the socket; each of them becoming ready
 * while the caller waits; and a signal let in by the sigmask (EINTR,
 * whatever SA_RESTART says, as poll's).
 */
static int
role_mixed(void)
{
	const struct timespec tmo = { 0, 50 * 1000000L }, zero = { 0, 0 };
	struct interrupter ir;
	struct pollfd s, k;
	sigset_t usr1, none;
	char b[4];
	int sv[2], pp[2], n;

	alarm(60);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(pipe2(pp, O_CLOEXEC) == 0);

	mixed_set(&s, sv[0], &k, pp[0]);
	CHECK(ksd_poll_mixed(&s, 1, &k, 1, &tmo, NULL) == 0);
	CHECK(s.revents == 0 && k.revents == 0);

	CHECK(write(pp[1], "k", 1) == 1);
	mixed_set(&s, sv[0], &k, pp[0]);
	CHECK(ksd_poll_mixed(&s, 1, &k, 1, NULL, NULL) == 1);
	CHECK(s.revents == 0 && k.revents == POLLIN);

	CHECK(ksd_send(sv[1], "s", 1, 0) == 1);
	mixed_set(&s, sv[0], &k, pp[0]);
	CHECK(ksd_poll_mixed(&s, 1, &k, 1, NULL, NULL) == 2);
	CHECK(s.revents == POLLIN && k.revents == POLLIN);

	CHECK(read(pp[0], b, sizeof(b)) == 1);
	mixed_set(&s, sv[0], &k, pp[0]);
	CHECK(ksd_poll_mixed(&s, 1, &k, 1, &tmo, NULL) == 1);
	CHECK(s.revents == POLLIN && k.revents == 0);
	/* A zero timeout is one look, on both sides. */
	mixed_set(&s, sv[0], &k, pp[0]);
	CHECK(ksd_poll_mixed(&s, 1, &k, 1, &zero, NULL) == 1);
	CHECK(s.revents == POLLIN && k.revents == 0);
	CHECK(ksd_recv(sv[0], b, sizeof(b), 0) == 1);
	mixed_set(&s, sv[0], &k, pp[0]);
	CHECK(ksd_poll_mixed(&s, 1, &k, 1, &zero, NULL) == 0);
	CHECK(s.revents == 0 && k.revents == 0);

	CHECK(on_signal(SA_RESTART) == 0);
	CHECK(mixed_wake(&s, sv[0], &k, pp[0], write_k, pp[1]) == 1);
	CHECK(s.revents == 0 && k.revents == POLLIN);
	CHECK(read(pp[0], b, sizeof(b)) == 1);

	CHECK(mixed_wake(&s, sv[0], &k, pp[0], send_r, sv[1]) == 1);
	CHECK(s.revents == POLLIN && k.revents == 0);
	CHECK(ksd_recv(sv[0], b, sizeof(b), 0) == 1);

	/* SIGUSR1 blocked outside the wait and let in by the sigmask:
	 * it can only arrive inside the wait. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigemptyset(&none);
	CHECK(pthread_sigmask(SIG_BLOCK, &usr1, NULL) == 0);
	atomic_store(&sigusr1s, 0);
	CHECK(interrupt_start(&ir, 1, NULL, -1) == 0);
	mixed_set(&s, sv[0], &k, pp[0]);
	errno = 0;
	n = ksd_poll_mixed(&s, 1, &k, 1, NULL, &none);
	CHECK(interrupt_stop(&ir) == 0);
	CHECK(n == -1 && errno == EINTR && atomic_load(&sigusr1s) == 1);
	CHECK(pthread_sigmask(SIG_UNBLOCK, &usr1, NULL) == 0);

	CHECK(close(pp[0]) == 0 && close(pp[1]) == 0);
	CHECK(ksd_close(sv[0]) == 0 && ksd_close(sv[1]) == 0);
	return 0;
}

/* -- kernel descriptors in SCM_RIGHTS, relative path names -- */

/* Sends @n descriptors @fds with one byte over @sock. */
static int
send_fds(int sock, const int *fds, int n)
{
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(4 * sizeof(int))];
	} u;
	char one = 'f';
	struct iovec iov = { &one, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = CMSG_SPACE((size_t)n * sizeof(int)) };

	memset(&u, 0, sizeof(u));
	CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
	CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
	CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
	memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), fds, (size_t)n * sizeof(int));
	return ksd_sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

/* Receives one byte and up to @room descriptors into @fds; returns how
 * many came (-1 on error), *@flags the message's flags. */
static int
recv_fds(int sock, int *fds, int room, int *flags)
{
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(4 * sizeof(int))];
	} u;
	char one;
	struct iovec iov = { &one, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = CMSG_LEN((size_t)room * sizeof(int)) };
	struct cmsghdr *cm;
	int n;

	memset(&u, 0, sizeof(u));
	if (ksd_recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1 || one != 'f')
		return -1;
	*flags = m.msg_flags;
	cm = CMSG_FIRSTHDR(&m);
	if (cm == NULL)
		return 0;
	if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	n = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
	memcpy(fds, CMSG_DATA(cm), (size_t)n * sizeof(int));
	return n;
}

static bool
is_fifo(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

/*
 * A pipe's read end, a socket and an open file, passed in one message to
 * a forked process: the pipe arrives as a kernel descriptor of the
 * receiver (a FIFO to fstat, close-on-exec as MSG_CMSG_CLOEXEC asked)
 * that reads what the sender writes after its own copy is closed; the
 * socket works; the file reads what was written to it.
 */
static int
take_pipe(int sv[2], int two[2])
{
	int fds[4], flags = -1;
	char b[8];

	alarm(30);
	CHECK(ksd_close(sv[0]) == 0 && ksd_close(two[0]) == 0);
	CHECK(recv_fds(sv[1], fds, 4, &flags) == 3 && !(flags & MSG_CTRUNC));
	CHECK(is_fifo(fds[0]) && fcntl(fds[0], F_GETFD) == FD_CLOEXEC);
	CHECK(read(fds[0], b, sizeof(b)) == 5 && memcmp(b, "hello", 5) == 0);
	CHECK(ksd_send(fds[1], "sock", 4, 0) == 4);
	CHECK(pread(fds[2], b, sizeof(b), 0) == 4 && memcmp(b, "file", 4) == 0);
	CHECK(close(fds[0]) == 0 && ksd_close(fds[1]) == 0);
	CHECK(close(fds[2]) == 0);
	CHECK(ksd_close(two[1]) == 0 && ksd_close(sv[1]) == 0);
	return 0;
}

static int
role_kernel_pass(void)
{
	int sv[2], pp[2], two[2], fds[4], st, file;
	char b[8], path[128];
	pid_t pid;

	alarm(30);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_DGRAM, 0, two) == 0);
	pid = ksd_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(30);
		_exit(take_pipe(sv, two));
	}
	CHECK(ksd_close(sv[1]) == 0);
	CHECK(pipe2(pp, O_CLOEXEC) == 0);
	snprintf(path, sizeof(path), "%s/passed-file", dir);
	file = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(file >= 0 && unlink(path) == 0 && write(file, "file", 4) == 4);
	fds[0] = pp[0];
	fds[1] = two[1];
	fds[2] = file;
	CHECK(send_fds(sv[0], fds, 3) == 0);
	CHECK(close(pp[0]) == 0 && ksd_close(two[1]) == 0);
	CHECK(close(file) == 0);
	CHECK(write(pp[1], "hello", 5) == 5);
	CHECK(ksd_recv(two[0], b, sizeof(b), 0) == 4 && memcmp(b, "sock", 4) == 0);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	      WEXITSTATUS(st) == 0);
	CHECK(close(pp[1]) == 0);
	CHECK(ksd_close(sv[0]) == 0 && ksd_close(two[0]) == 0);
	return 0;
}

/*
 * Pipe read ends that no process receives are closed, as Linux closes
 * them: one in flight when its socket is closed, one cut off by a
 * receive with room for a single descriptor (MSG_CTRUNC). A write to a
 * pipe whose every read end is closed fails with EPIPE, so the writes
 * show that nothing kept them open.
 */
static int
role_kernel_drop(void)
{
	int sv[2], pp[2], fds[4], flags;

	alarm(30);
	signal(SIGPIPE, SIG_IGN);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
	CHECK(pipe2(pp, O_CLOEXEC) == 0);
	CHECK(send_fds(sv[0], &pp[0], 1) == 0);
	CHECK(close(pp[0]) == 0);
	CHECK(write(pp[1], "x", 1) == 1);
	CHECK(ksd_close(sv[0]) == 0 && ksd_close(sv[1]) == 0);
	errno = 0;
	CHECK(write(pp[1], "x", 1) == -1 && errno == EPIPE);
	CHECK(close(pp[1]) == 0);

	CHECK(ksd_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
	CHECK(pipe2(pp, O_CLOEXEC) == 0);
	fds[0] = pp[0];
	fds[1] = pp[0];
	CHECK(send_fds(sv[0], fds, 2) == 0);
	CHECK(close(pp[0]) == 0);
	CHECK(recv_fds(sv[1], fds, 1, &flags) == 1 && (flags & MSG_CTRUNC));
	CHECK(is_fifo(fds[0]));
	CHECK(write(pp[1], "x", 1) == 1);
	CHECK(close(fds[0]) == 0);
	errno = 0;
	CHECK(write(pp[1], "x", 1) == -1 && errno == EPIPE);
	CHECK(close(pp[1]) == 0);
	CHECK(ksd_close(sv[0]) == 0 && ksd_close(sv[1]) == 0);
	return 0;
}

/*
 * Relative path names are the caller's: bound in its working directory
 * (the node is there, not in the server's), getsockname gives the name
 * as it was given, and connect and sendto find it from another
 * directory by another relative name.
 */
static int
role_relative_path(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX }, got;
	socklen_t len = sizeof(got);
	char sub[128], node[160], b[4];
	struct stat st;
	struct interrupter ir;
	int s, c, d, a, u, n, full[8];

	alarm(30);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(node, sizeof(node), "%s/sub/rel.sock", dir);
	CHECK(mkdir(sub, 0700) == 0);
	CHECK(chdir(sub) == 0);
	strcpy(sun.sun_path, "rel.sock");
	s = ksd_socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(s >= 0);
	CHECK(ksd_bind(s, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	CHECK(stat(node, &st) == 0 && S_ISSOCK(st.st_mode));
	CHECK(ksd_getsockname(s, (struct sockaddr *)&got, &len) == 0);
	CHECK(len == offsetof(struct sockaddr_un, sun_path) + 9 &&
	      strcmp(got.sun_path, "rel.sock") == 0);
	CHECK(ksd_listen(s, 1) == 0);
	d = ksd_socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK(d >= 0);
	strcpy(sun.sun_path, "rel.dgram");
	CHECK(ksd_bind(d, (struct sockaddr *)&sun, sizeof(sun)) == 0);

	CHECK(chdir(dir) == 0);
	strcpy(sun.sun_path, "sub/rel.sock");
	c = ksd_socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(c >= 0);
	CHECK(ksd_connect(c, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	a = ksd_accept4(s, NULL, NULL, 0);
	CHECK(a >= 0);
	CHECK(ksd_send(c, "abc", 3, 0) == 3);
	CHECK(ksd_recv(a, b, sizeof(b), 0) == 3 && memcmp(b, "abc", 3) == 0);
	strcpy(sun.sun_path, "sub/rel.dgram");
	u = ksd_socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK(u >= 0);
	CHECK(ksd_sendto(u, "d", 1, 0, (struct sockaddr *)&sun,
			 sizeof(sun)) == 1);
	CHECK(ksd_recv(d, b, sizeof(b), 0) == 1 && b[0] == 'd');
	CHECK(ksd_close(a) == 0 && ksd_close(c) == 0);

	/* A connect that waits for room in the backlog looks the name up
	 * again each time it tries: in the caller's directory still. */
	strcpy(sun.sun_path, "sub/rel.sock");
	for (n = 0; n < 8; n++) {
		full[n] = ksd_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		CHECK(full[n] >= 0);
		if (ksd_connect(full[n], (struct sockaddr *)&sun,
				sizeof(sun)) < 0)
			break;
	}
	CHECK(n < 8 && errno == EAGAIN);
	c = ksd_socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(c >= 0);
	CHECK(interrupt_start(&ir, -1, accept_close, s) == 0);
	errno = 0;
	a = ksd_connect(c, (struct sockaddr *)&sun, sizeof(sun));
	CHECK(interrupt_stop(&ir) == 0);
	CHECK(a == 0);
	CHECK(ksd_close(c) == 0);
	for (int j = 0; j <= n; j++)
		CHECK(ksd_close(full[j]) == 0);
	CHECK(ksd_close(s) == 0);
	CHECK(ksd_close(d) == 0 && ksd_close(u) == 0);
	CHECK(unlink(node) == 0);
	CHECK(unlink("sub/rel.dgram") == 0);
	CHECK(rmdir(sub) == 0);
	return 0;
}

static atomic_int sigurgs;

static void
on_sigurg(int sig)
{
	(void)sig;
	atomic_fetch_add(&sigurgs, 1);
}

/* Waits (up to 10 s) until @n SIGURGs came. */
static bool
sigurgs_reach(int n)
{
	for (int i = 0; i < 1000 && atomic_load(&sigurgs) < n; i++)
		sleep_ms(10);
	return atomic_load(&sigurgs) == n;
}

/*
 * F_SETOWN and SIGURG: the owner of the socket that out-of-band data
 * reaches gets SIGURG (the sender's socket, without an owner, raises
 * none); F_GETOWN reads the owner back; a process that does not exist
 * cannot be the owner (ESRCH).
 */
static int
role_sigurg(void)
{
	struct sigaction sa;
	int sv[2], st;
	char b;
	pid_t gone;

	alarm(30);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigurg;
	sigemptyset(&sa.sa_mask);
	CHECK(ksd_sigaction(SIGURG, &sa, NULL) == 0);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(ksd_fcntl(sv[0], F_GETOWN, 0) == 0);
	CHECK(ksd_fcntl(sv[0], F_SETOWN, getpid()) == 0);
	CHECK(ksd_fcntl(sv[0], F_GETOWN, 0) == getpid());
	CHECK(ksd_send(sv[1], "u", 1, MSG_OOB) == 1);
	CHECK(sigurgs_reach(1));
	CHECK(ksd_recv(sv[0], &b, 1, MSG_OOB) == 1 && b == 'u');
	CHECK(ksd_send(sv[0], "v", 1, MSG_OOB) == 1);
	CHECK(ksd_send(sv[1], "w", 1, MSG_OOB) == 1);
	CHECK(sigurgs_reach(2));
	gone = fork();
	CHECK(gone >= 0);
	if (gone == 0)
		_exit(0);
	CHECK(waitpid(gone, &st, 0) == gone);
	errno = 0;
	CHECK(ksd_fcntl(sv[1], F_SETOWN, gone) == -1 && errno == ESRCH);
	CHECK(ksd_fcntl(sv[1], F_GETOWN, 0) == 0);
	CHECK(ksd_close(sv[0]) == 0 && ksd_close(sv[1]) == 0);
	return 0;
}
/* Waits up to @ms for one of the blocked signals @set. */
static int
wait_sig(const sigset_t *set, siginfo_t *si, int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	return sigtimedwait(set, si, &ts);
}

/*
 * O_ASYNC: the owner gets F_SETSIG's signal with si_fd and si_band as
 * Linux gives them (si_code: Linux's POLL_IN; the server's SI_QUEUE,
 * which is all another process may queue: docs/ksockd.md) when data
 * comes, nothing for the owner's own receive, nothing while O_ASYNC is
 * off, POLL_HUP's band when the peer closes. F_GETSIG, F_GETFL and a
 * process group owner in F_GETOWN read back.
 */
static int
role_sigio(void)
{
	int sig = SIGRTMIN + 3, sv[2];
	sigset_t set;
	siginfo_t si;
	char b;

	alarm(30);
	sigemptyset(&set);
	sigaddset(&set, sig);
	CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(ksd_fcntl(sv[0], F_SETOWN, getpid()) == 0);
	CHECK(ksd_fcntl(sv[0], F_SETSIG, sig) == 0);
	CHECK(ksd_fcntl(sv[0], F_GETSIG, 0) == sig);
	errno = 0;
	CHECK(ksd_fcntl(sv[0], F_SETSIG, 65) == -1 && errno == EINVAL);
	CHECK(ksd_fcntl(sv[0], F_SETFL, O_ASYNC) == 0);
	CHECK((ksd_fcntl(sv[0], F_GETFL, 0) & O_ASYNC) == O_ASYNC);
	CHECK(ksd_send(sv[1], "a", 1, 0) == 1);
	CHECK(wait_sig(&set, &si, 5000) == sig);
	CHECK(si.si_code == (ON_LINUX ? POLL_IN : SI_QUEUE));
	CHECK(si.si_fd == sv[0]);
	CHECK(si.si_band == (POLLIN | POLLRDNORM));
	CHECK(ksd_recv(sv[0], &b, 1, 0) == 1 && b == 'a');
	CHECK(wait_sig(&set, &si, 200) == -1 && errno == EAGAIN);
	CHECK(ksd_fcntl(sv[0], F_SETFL, 0) == 0);
	CHECK((ksd_fcntl(sv[0], F_GETFL, 0) & O_ASYNC) == 0);
	CHECK(ksd_send(sv[1], "b", 1, 0) == 1);
	CHECK(wait_sig(&set, &si, 200) == -1 && errno == EAGAIN);
	CHECK(ksd_recv(sv[0], &b, 1, 0) == 1 && b == 'b');
	CHECK(ksd_fcntl(sv[0], F_SETFL, O_ASYNC) == 0);
	CHECK(ksd_fcntl(sv[0], F_SETOWN, -getpgrp()) == 0);
	CHECK(ksd_fcntl(sv[0], F_GETOWN, 0) == -getpgrp());
	CHECK(ksd_fcntl(sv[0], F_SETOWN, getpid()) == 0);
	CHECK(ksd_close(sv[1]) == 0);
	CHECK(wait_sig(&set, &si, 5000) == sig);
	CHECK(si.si_fd == sv[0]);
	CHECK(si.si_band == (POLLHUP | POLLERR));
	CHECK(ksd_close(sv[0]) == 0);
	return 0;
}

/* The SIGKILL block's roles (defined with its cases, below). */
static int run_kill_role(const char *role, char **argv);

static int role_kernel_parked(const char *server);
static int role_owner_fds(const char *server);

static int
run_role(int argc, char **argv)
{
	const char *role = argv[2];

	server_addr = argv[3];
	snprintf(dir, sizeof(dir), "%s", argv[4]);
	if (ksd_attach(server_addr) < 0) {
		perror("ksd_attach");
		return 1;
	}
	if (strcmp(role, "echo") == 0)
		return role_echo(atoi(argv[5]), argv[6]);
	if (strcmp(role, "talk") == 0)
		return role_talk(atoi(argv[5]), argv[6], atoi(argv[7]));
	if (strcmp(role, "fork") == 0)
		return role_fork();
	if (strcmp(role, "pass") == 0)
		return role_pass(argv[5]);
	if (strcmp(role, "take") == 0)
		return role_take(argv[5]);
	if (strcmp(role, "block-accept") == 0)
		return role_block_accept(argv[5]);
	if (strcmp(role, "block-recv") == 0)
		return role_block_recv();
	if (strcmp(role, "exec") == 0)
		return role_exec();
	if (strcmp(role, "exec-image") == 0)
		return role_exec_image(atoi(argv[5]), atoi(argv[6]));
	if (strcmp(role, "timeouts") == 0)
		return role_timeouts();
	if (strcmp(role, "poll-exit") == 0)
		return role_poll_exit();
	if (strcmp(role, "creds") == 0)
		return role_creds();
	if (strcmp(role, "groups") == 0)
		return role_groups();
	if (strcmp(role, "sigpipe") == 0)
		return role_sigpipe();
	if (strcmp(role, "woken-sender") == 0)
		return role_woken_sender();
	if (strcmp(role, "huge-timeout") == 0)
		return role_huge_timeout();
	if (strcmp(role, "dgram-two-senders") == 0)
		return role_dgram_two_senders();
	if (strcmp(role, "connect-wait") == 0)
		return role_connect_wait();
	if (strcmp(role, "server-dies") == 0)
		return role_server_dies();
	if (strcmp(role, "waitall") == 0)
		return role_waitall();
	if (strcmp(role, "window-send") == 0)
		return role_window_send();
	if (strcmp(role, "window") == 0)
		return role_window(atoi(argv[5]));
	if (strcmp(role, "two-readers") == 0)
		return role_two_readers();
	if (strcmp(role, "watch") == 0)
		return role_watch();
	if (strcmp(role, "hostile") == 0)
		return role_hostile();
	if (strcmp(role, "close-order") == 0)
		return role_close_order();
	if (strcmp(role, "close-bind") == 0)
		return role_close_bind();
	if (strcmp(role, "eintr") == 0)
		return role_eintr();
	if (strcmp(role, "mixed") == 0)
		return role_mixed();
	if (strcmp(role, "kernel-pass") == 0)
		return role_kernel_pass();
	if (strcmp(role, "kernel-drop") == 0)
		return role_kernel_drop();
	if (strcmp(role, "relative-path") == 0)
		return role_relative_path();
	if (strcmp(role, "sigurg") == 0)
		return role_sigurg();
	if (strcmp(role, "kernel-parked") == 0)
		return role_kernel_parked(argv[5]);
	if (strcmp(role, "owner-fds") == 0)
		return role_owner_fds(argv[5]);
	if (strcmp(role, "sigio") == 0)
		return role_sigio();
	if (strncmp(role, "kill-", 5) == 0)
		return run_kill_role(role, argv);
	fprintf(stderr, "unknown role %s\n", role);
	return 2;
}

/* -- the runner -- */

/* Starts this program as @role with up to three more arguments. */
static pid_t
spawn_at(const char *server, const char *role, const char *a, const char *b,
	 const char *c)
{
	pid_t pid = fork();

	if (pid == 0) {
		execl("/proc/self/exe", "t_ksockd", "--role", role,
		      server, dir, a, b, c, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static pid_t
spawn(const char *role, const char *a, const char *b, const char *c)
{
	return spawn_at(server_addr, role, a, b, c);
}

static int
reap(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static struct ksd_status baseline;
static pid_t server_pid = -1;
static long baseline_fds;

/* The server's own kernel descriptors (kernel descriptors in flight,
 * notifiers, directories are held there): -1 when unknown. */
static long
server_fds(void)
{
	char path[64];
	struct dirent *e;
	long n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)server_pid);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The RLIMIT_NOFILE that leaves the server exactly @room descriptor
 * numbers free (the kernel gives the lowest free below the limit), or
 * -1. */
static long
server_limit_for(int room)
{
	static bool open_fd[4096];
	char path[64];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)server_pid);
	d = opendir(path);
	if (d == NULL)
		return -1;
	memset(open_fd, 0, sizeof(open_fd));
	while ((e = readdir(d)) != NULL) {
		long n = atol(e->d_name);

		if (e->d_name[0] != '.' && n >= 0 && n < 4096)
			open_fd[n] = true;
	}
	closedir(d);
	for (long n = 0; n < 4096; n++)
		if (!open_fd[n] && room-- == 0)
			return n;
	return -1;
}

#define PARK_MSGS	24	/* messages in flight at once */
#define PARK_FDS	250	/* kernel descriptors in each */

/* Sends @n copies of the kernel descriptor @fd with one byte over
 * @sock. Returns 0, or -1 with errno set. */
static int
send_copies(int sock, int fd, int n)
{
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(PARK_FDS * sizeof(int))];
	} u;
	char one = 'f';
	struct iovec iov = { &one, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = CMSG_SPACE((size_t)n * sizeof(int)) };

	memset(&u, 0, sizeof(u));
	CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
	CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
	CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
	for (int i = 0; i < n; i++)
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)) + i * sizeof(int), &fd,
		       sizeof(fd));
	return ksd_sendmsg(sock, &m, MSG_DONTWAIT) == 1 ? 0 : -1;
}

/* Receives one message of send_copies(): every descriptor it brought is
 * checked to be a pipe and closed. Returns how many, or -1; *@flags
 * the message's flags. */
static int
recv_copies(int sock, int *flags)
{
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(PARK_FDS * sizeof(int))];
	} u;
	char one;
	struct iovec iov = { &one, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	int n, bad = 0;

	if (ksd_recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) != 1)
		return -1;
	*flags = m.msg_flags;
	cm = CMSG_FIRSTHDR(&m);
	if (cm == NULL)
		return 0;
	if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	n = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
	for (int i = 0; i < n; i++) {
		int fd;

		memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
		bad += !is_fifo(fd) || close(fd) != 0;
	}
	return bad == 0 ? n : -1;
}

/*
 * Kernel descriptors in flight cost the server one descriptor per
 * message, not one per descriptor: PARK_MSGS messages of PARK_FDS
 * copies of a pipe's read end leave the server's count within
 * PARK_MSGS of what it was (it held all 6000 before). A receive gets
 * them all, real pipes; closing the receiving socket lets go of the
 * rest (the pipe has no reader left: EPIPE) and the server's count
 * is back. With the server's RLIMIT_NOFILE lowered to what it has
 * open, and raised one at a time, a send fails with ETOOMANYREFS,
 * leaving no descriptor behind, until there is room for all it needs;
 * with room for two of four at the receive, two come and MSG_CTRUNC.
 * Run as a client of its own, @server the server's pid.
 */
static int
role_kernel_parked(const char *server)
{
	struct rlimit old, lim;
	long before, during;
	int sv[2], pp[2], flags, r, extra;

	alarm(60);
	signal(SIGPIPE, SIG_IGN);
	server_pid = atoi(server);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
	CHECK(pipe2(pp, O_CLOEXEC) == 0);
	/* Once, so that what a first receive sets up (the slot's
	 * notifier) is in the count before. */
	CHECK(send_copies(sv[0], pp[0], 1) == 0);
	CHECK(recv_copies(sv[1], &flags) == 1);
	before = server_fds();
	CHECK(before > 0);
	for (int i = 0; i < PARK_MSGS; i++)
		CHECK(send_copies(sv[0], pp[0], PARK_FDS) == 0);
	during = server_fds();
	CHECK(during >= before && during - before <= PARK_MSGS);
	CHECK(recv_copies(sv[1], &flags) == PARK_FDS && !(flags & MSG_CTRUNC));
	CHECK(server_fds() < during);
	CHECK(close(pp[0]) == 0);
	CHECK(write(pp[1], "x", 1) == 1);	/* read ends in flight */
	CHECK(ksd_close(sv[1]) == 0);
	CHECK(server_fds() == before);
	errno = 0;
	CHECK(write(pp[1], "x", 1) == -1 && errno == EPIPE);
	CHECK(close(pp[1]) == 0 && ksd_close(sv[0]) == 0);

	CHECK(ksd_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
	CHECK(pipe2(pp, O_CLOEXEC) == 0);
	CHECK(prlimit(server_pid, RLIMIT_NOFILE, NULL, &old) == 0);
	before = server_fds();
	CHECK(before > 0);
	for (extra = 0; extra < 32; extra++) {
		long at = server_limit_for(extra);

		CHECK(at > 0);
		lim.rlim_cur = (rlim_t)at;
		lim.rlim_max = old.rlim_max;
		CHECK(prlimit(server_pid, RLIMIT_NOFILE, &lim, NULL) == 0);
		errno = 0;
		r = send_copies(sv[0], pp[0], 4);
		CHECK(prlimit(server_pid, RLIMIT_NOFILE, &old, NULL) == 0);
		if (r == 0)
			break;
		CHECK(errno == ETOOMANYREFS);
		CHECK(server_fds() == before);
	}
	/* Not before the four and the queue's two ends fitted at once. */
	if (extra < 6 || extra >= 32)
		fprintf(stderr, "a send went with %d numbers free\n", extra);
	CHECK(extra >= 6 && extra < 32);
	CHECK(recv_copies(sv[1], &flags) == 4 && !(flags & MSG_CTRUNC));
	CHECK(server_fds() == before);
	/* A server with room for two of four when it takes them out of
	 * their queue at the receive: those two come, the other two are
	 * closed and MSG_CTRUNC says so, as Linux does when the receiver
	 * has no room. */
	CHECK(send_copies(sv[0], pp[0], 4) == 0);
	lim.rlim_cur = (rlim_t)server_limit_for(2);
	CHECK(lim.rlim_cur > 0);
	CHECK(prlimit(server_pid, RLIMIT_NOFILE, &lim, NULL) == 0);
	r = recv_copies(sv[1], &flags);
	CHECK(prlimit(server_pid, RLIMIT_NOFILE, &old, NULL) == 0);
	CHECK(r == 2 && (flags & MSG_CTRUNC));
	CHECK(server_fds() == before);
	CHECK(close(pp[0]) == 0 && close(pp[1]) == 0);
	CHECK(ksd_close(sv[0]) == 0 && ksd_close(sv[1]) == 0);
	return 0;
}

static bool
status_same(const struct ksd_status *a, const struct ksd_status *b)
{
	return a->ksock_allocs == b->ksock_allocs && a->sockets == b->sockets &&
	       a->objects == b->objects && a->clients == b->clients &&
	       a->parked == b->parked && a->descriptors == b->descriptors &&
	       a->handovers == b->handovers && a->watches == b->watches;
}

static void
status_print(const char *what, const struct ksd_status *s)
{
	fprintf(stderr, "%s: ksock allocs %lld sockets %lld objects %lld "
		"clients %lld parked %lld descriptors %lld handovers %lld "
		"watches %lld\n",
		what, (long long)s->ksock_allocs, (long long)s->sockets,
		(long long)s->objects, (long long)s->clients,
		(long long)s->parked, (long long)s->descriptors,
		(long long)s->handovers, (long long)s->watches);
}

/* Waits (up to 5 s) until the server is back to the baseline. */
static int
back_to_baseline(void)
{
	struct ksd_status st;

	long fds = -1;

	for (int i = 0; i < 500; i++) {
		if (ksd_status(&st) < 0)
			return -1;
		fds = server_fds();
		if (status_same(&st, &baseline) && fds == baseline_fds)
			return 0;
		sleep_ms(10);
	}
	status_print("baseline", &baseline);
	status_print("now", &st);
	fprintf(stderr, "server descriptors: baseline %ld, now %ld\n",
		baseline_fds, fds);
	return -1;
}

/* Waits until @n more calls are parked in the server than at baseline. */
static int
wait_parked(long n)
{
	struct ksd_status st;

	for (int i = 0; i < 500; i++) {
		if (ksd_status(&st) < 0)
			return -1;
		if (st.parked == baseline.parked + n)
			return 0;
		sleep_ms(10);
	}
	return -1;
}

/* Two processes: echo and talk, over @name. */
static int
pair(int type, const char *name)
{
	char t[16], p[16];
	pid_t e, c;
	int se, sc;

	snprintf(t, sizeof(t), "%d", type);
	e = spawn("echo", t, name, NULL);
	CHECK(e > 0);
	snprintf(p, sizeof(p), "%d", (int)e);
	c = spawn("talk", t, name, p);
	CHECK(c > 0);
	sc = reap(c);
	se = reap(e);
	CHECK(se == 0 && sc == 0);
	return 0;
}

static int t_stream_path(void) { return pair(SOCK_STREAM, "stream.sock"); }
static int t_stream_abstract(void) { return pair(SOCK_STREAM, "@ksockd-t-stream"); }
static int t_seqpacket_path(void) { return pair(SOCK_SEQPACKET, "seq.sock"); }
static int t_seqpacket_abstract(void) { return pair(SOCK_SEQPACKET, "@ksockd-t-seq"); }
static int t_dgram_path(void) { return pair(SOCK_DGRAM, "dgram.sock"); }
static int t_dgram_abstract(void) { return pair(SOCK_DGRAM, "@ksockd-t-dgram"); }

static int
t_fork_inherits(void)
{
	pid_t pid = spawn("fork", NULL, NULL, NULL);

	CHECK(pid > 0 && reap(pid) == 0);
	return 0;
}

static int
t_scm_rights_between_processes(void)
{
	pid_t a = spawn("pass", "pass.sock", NULL, NULL);
	pid_t b = spawn("take", "pass.sock", NULL, NULL);

	CHECK(a > 0 && b > 0);
	CHECK(reap(b) == 0);
	CHECK(reap(a) == 0);
	return 0;
}

/* A client killed while its call is parked leaves nothing behind. */
static int
killed_mid_call(const char *role, const char *arg)
{
	pid_t pid = spawn(role, arg, NULL, NULL);

	CHECK(pid > 0);
	CHECK(wait_parked(1) == 0);
	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(reap(pid) == 128 + SIGKILL);
	if (arg != NULL) {	/* the node the killed process bound */
		char path[128];

		snprintf(path, sizeof(path), "%s/%s", dir, arg);
		CHECK(unlink(path) == 0);
	}
	return 0;
}

static int t_sigkill_mid_accept(void) { return killed_mid_call("block-accept", "blk.sock"); }
static int t_sigkill_mid_recv(void) { return killed_mid_call("block-recv", NULL); }

static int
t_role(const char *role)
{
	pid_t pid = spawn(role, NULL, NULL, NULL);

	CHECK(pid > 0 && reap(pid) == 0);
	return 0;
}

static int t_exec_keeps_descriptors(void) { return t_role("exec"); }
static int t_socket_timeouts(void) { return t_role("timeouts"); }
static int t_exit_with_parked_poll(void) { return t_role("poll-exit"); }
static int t_scm_credentials_real_pid(void) { return t_role("creds"); }
static int t_sigpipe_to_sender(void) { return t_role("sigpipe"); }
static int t_parked_sender_woken(void) { return t_role("woken-sender"); }
static int t_huge_timeout_blocks(void) { return t_role("huge-timeout"); }
static int t_dgram_peer_died_two_senders(void) { return t_role("dgram-two-senders"); }
static int t_connect_waits_for_backlog(void) { return t_role("connect-wait"); }
static int t_signal_interrupts_calls(void) { return t_role("eintr"); }
static int t_poll_mixed(void) { return t_role("mixed"); }
static int t_scm_rights_kernel_pipe(void) { return t_role("kernel-pass"); }
static int t_scm_rights_kernel_dropped(void) { return t_role("kernel-drop"); }
static int t_relative_path_names(void) { return t_role("relative-path"); }
static int t_sigurg_to_owner(void) { return t_role("sigurg"); }

/* See role_kernel_parked(). */
static int
t_kernel_fds_in_flight_server_fds(void)
{
	char pid[16];
	pid_t c;

	snprintf(pid, sizeof(pid), "%d", (int)server_pid);
	c = spawn("kernel-parked", pid, NULL, NULL);
	CHECK(c > 0 && reap(c) == 0);
	return 0;
}

/*
 * F_SETOWN of one process on many sockets: the server's pidfd of the
 * owner (a server descriptor) is one for them all, not one per socket,
 * which a client could spend the server's RLIMIT_NOFILE with; it goes
 * with the last record.
 */
#define OWNER_SOCKS	64
static int
role_owner_fds(const char *server)
{
	int fds[OWNER_SOCKS];
	struct ksd_status st;
	long before;

	alarm(30);
	server_pid = atoi(server);
	for (int i = 0; i < OWNER_SOCKS; i++)
		CHECK((fds[i] = ksd_socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	before = server_fds();
	CHECK(before > 0);
	CHECK(ksd_fcntl(fds[0], F_SETOWN, getpid()) == 0);
	CHECK(server_fds() == before + 1);
	for (int i = 1; i < OWNER_SOCKS; i++)
		CHECK(ksd_fcntl(fds[i], F_SETOWN, getpid()) == 0);
	CHECK(server_fds() == before + 1);
	CHECK(ksd_fcntl(fds[OWNER_SOCKS - 1], F_GETOWN, 0) == getpid());
	for (int i = 0; i < OWNER_SOCKS; i++)
		CHECK(ksd_close(fds[i]) == 0);
	/* After the closes, which may go without their replies. */
	CHECK(ksd_status(&st) == 0);
	CHECK(server_fds() == before);
	return 0;
}

static int
t_owner_pidfd_shared(void)
{
	char pid[16];
	pid_t c;

	snprintf(pid, sizeof(pid), "%d", (int)server_pid);
	c = spawn("owner-fds", pid, NULL, NULL);
	CHECK(c > 0 && reap(c) == 0);
	return 0;
}
static int t_sigio_to_owner(void) { return t_role("sigio"); }
static const char *server_bin = "ksockd";

/* A client whose groups (5, 7, 9 set before its exec: root only, else
 * the case has nothing to show) are not the server's. */
static int
t_peer_groups_of_client(void)
{
	static const gid_t set[] = { 5, 7, 9 };
	pid_t pid;

	if (geteuid() != 0)
		return 0;
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (setgroups(3, set) < 0)
			_exit(126);
		execl("/proc/self/exe", "t_ksockd", "--role", "groups",
		      server_addr, dir, (char *)NULL);
		_exit(127);
	}
	CHECK(reap(pid) == 0);
	return 0;
}

/* A second server of its own, killed while a client's call waits in it. */
static int
t_server_death_ends_calls(void)
{
	char addr2[128], mark[160];
	struct stat st;
	pid_t srv, cl;

	snprintf(addr2, sizeof(addr2), "%s/ksockd2", dir);
	srv = fork();
	CHECK(srv >= 0);
	if (srv == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(server_bin, server_bin, addr2, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && stat(addr2, &st) < 0; i++)
		sleep_ms(10);
	cl = spawn_at(addr2, "server-dies", NULL, NULL, NULL);
	CHECK(cl > 0);
	snprintf(mark, sizeof(mark), "%s/attached", dir);
	for (int i = 0; i < 1000 && stat(mark, &st) < 0; i++)
		sleep_ms(10);
	CHECK(unlink(mark) == 0);
	sleep_ms(100);
	CHECK(kill(srv, SIGKILL) == 0);
	CHECK(reap(srv) == 128 + SIGKILL);
	CHECK(reap(cl) == 0);
	CHECK(unlink(addr2) == 0);
	return 0;
}

static int t_waitall_past_one_window(void) { return t_role("waitall"); }
/* A server of its own that takes two clients per user: the third hello
 * is refused with EUSERS, and one more is welcome once one has gone. */
static int
t_clients_per_user_limit(void)
{
	char addr3[128];
	struct stat st;
	int fd[4], ok = -1;
	pid_t srv;

	snprintf(addr3, sizeof(addr3), "%s/ksockd3", dir);
	srv = fork();
	CHECK(srv >= 0);
	if (srv == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(server_bin, server_bin, "--max-clients-per-user", "2",
		      addr3, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && stat(addr3, &st) < 0; i++)
		sleep_ms(10);
	for (int i = 0; i < 3; i++) {
		fd[i] = raw_connect_at(addr3);
		CHECK(fd[i] >= 0);
	}
	CHECK(raw_hello_err(fd[0]) == 0 && raw_hello_err(fd[1]) == 0);
	CHECK(raw_hello_err(fd[2]) == -EUSERS && closed_by_server(fd[2]));
	close(fd[2]);
	close(fd[0]);
	for (int i = 0; i < 200 && ok != 0; i++) {
		fd[3] = raw_connect_at(addr3);
		CHECK(fd[3] >= 0);
		ok = raw_hello_err(fd[3]);
		if (ok != 0) {
			close(fd[3]);
			sleep_ms(10);
		}
	}
	CHECK(ok == 0);
	close(fd[1]);
	close(fd[3]);
	CHECK(kill(srv, SIGTERM) == 0 && reap(srv) == 0);
	return 0;
}

/*
 * A server of its own without CAP_SYS_PTRACE (dropped from its bounding
 * set where this runs as root; a user has none) and a client that is not
 * dumpable: the kernel refuses the server the client's memory, and the
 * client's receives go through the window. Against the runner's server,
 * the same client stays direct.
 */
static int
t_window_when_memory_refused(void)
{
	char addr4[128];
	struct stat st;
	pid_t srv, cl;

	cl = spawn("window", "1", NULL, NULL);
	CHECK(cl > 0 && reap(cl) == 0);
	snprintf(addr4, sizeof(addr4), "%s/ksockd4", dir);
	srv = fork();
	CHECK(srv >= 0);
	if (srv == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (prctl(PR_CAPBSET_DROP, CAP_SYS_PTRACE) < 0 &&
		    errno != EPERM)
			_exit(126);
		execl(server_bin, server_bin, addr4, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && stat(addr4, &st) < 0; i++)
		sleep_ms(10);
	cl = spawn_at(addr4, "window", "0", NULL, NULL);
	CHECK(cl > 0 && reap(cl) == 0);
	cl = spawn_at(addr4, "window", "2", NULL, NULL);
	CHECK(cl > 0 && reap(cl) == 0);
	cl = spawn_at(addr4, "window-send", NULL, NULL, NULL);
	CHECK(cl > 0 && reap(cl) == 0);
	CHECK(kill(srv, SIGTERM) == 0 && reap(srv) == 0);
	return 0;
}

static int t_two_readers_one_socket(void) { return t_role("two-readers"); }
static int t_watch_rings_and_ends(void) { return t_role("watch"); }
static int t_hostile_client(void) { return t_role("hostile"); }
static int t_close_without_reply_order(void) { return t_role("close-order"); }
static int t_close_then_bind_elsewhere(void) { return t_role("close-bind"); }

/*
 * -- a client killed with SIGKILL in the middle of a call --
 *
 * What the peer sees must be what Linux shows it, so these cases run in
 * ksockd-linux-check too: they are named t_killed_*, which needs_server()
 * lets through. The runner is the peer (a ksockd client itself), and a
 * case on ksockd passes only when the server is back to its baseline
 * afterwards: nothing of the dead process is left. The t_sigkill_* case
 * of this block has no peer to ask (only the server's STATUS shows that
 * the collector ran), so it stays a server-only case.
 */

#define KILL_SEND_LEN	(4u << 20)	/* far beyond any queue's room */
#define KILL_SEND_SEED	11

/* Connects a stream socket to @name, which the runner listens on. */
static int
kill_connect(const char *name)
{
	struct sockaddr_un sun;
	socklen_t len = make_addr(name, &sun);
	int fd = ksd_socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd >= 0 && connect_retry(fd, &sun, len) < 0) {
		ksd_close(fd);
		return -1;
	}
	return fd;
}

/* One message of a byte and a descriptor; returns what sendmsg did. */
static ssize_t
send_one_fd(int fd, char byte, int passed)
{
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };

	memset(&u, 0, sizeof(u));
	CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
	CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
	CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), &passed, sizeof(int));
	return ksd_sendmsg(fd, &m, 0);
}

/* kill-sender NAME: one send of KILL_SEND_LEN bytes, which cannot end
 * while nobody reads; the process dies inside it. */
static int
role_kill_sender(const char *name)
{
	unsigned char *buf = malloc(KILL_SEND_LEN);
	int fd = kill_connect(name);

	CHECK(buf != NULL && fd >= 0);
	fill(buf, KILL_SEND_LEN, KILL_SEND_SEED, 0);
	ksd_send(fd, buf, KILL_SEND_LEN, 0);
	return 1;
}

/* kill-acceptor NAME: takes one connection without reading it, says 'r'
 * on it, and dies in the next accept. */
static int
role_kill_acceptor(const char *name)
{
	struct sockaddr_un sun;
	socklen_t len = make_addr(name, &sun);
	int fd = ksd_socket(AF_UNIX, SOCK_STREAM, 0), conn;

	CHECK(fd >= 0);
	CHECK(ksd_bind(fd, (struct sockaddr *)&sun, len) == 0);
	CHECK(ksd_listen(fd, 4) == 0);
	conn = ksd_accept4(fd, NULL, NULL, 0);
	CHECK(conn >= 0);
	CHECK(send_all(conn, "r", 1) == 0);
	ksd_accept4(fd, NULL, NULL, 0);
	return 1;
}

/* kill-rights-sender NAME: passes one end of a new socketpair to the
 * runner and dies waiting on the other end. */
static int
role_kill_rights_sender(const char *name)
{
	int fd = kill_connect(name), p[2];
	char b;

	CHECK(fd >= 0);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, p) == 0);
	CHECK(send_one_fd(fd, 'f', p[1]) == 1);
	CHECK(ksd_close(p[1]) == 0);
	ksd_recv(p[0], &b, 1, 0);
	return 1;
}

/* kill-rights-receiver NAME: says 'r' to the runner, which then queues a
 * descriptor to it, and dies in a recvmsg (with room for descriptors)
 * on another socket of its own. */
static int
role_kill_rights_receiver(const char *name)
{
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	char b;
	struct iovec iov = { &b, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	int fd = kill_connect(name), w[2];

	CHECK(fd >= 0);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, w) == 0);
	CHECK(send_all(fd, "r", 1) == 0);
	ksd_recvmsg(w[0], &m, 0);
	return 1;
}

/* kill-cycle: two sockets each in flight in the other's queue (the
 * collector's case), then dies waiting on a third. */
static int
role_kill_cycle(const char *unused)
{
	int sv[2], p[2];
	char b;

	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(ksd_socketpair(AF_UNIX, SOCK_DGRAM, 0, p) == 0);
	CHECK(send_one_fd(sv[0], 'a', sv[0]) == 1);
	CHECK(send_one_fd(sv[1], 'b', sv[1]) == 1);
	CHECK(send_one_fd(p[0], 'c', p[1]) == 1);
	ksd_recv(p[0], &b, 1, 0);
	return 1;
}

/* The block's roles, each given the runner's socket name (or none). */
static const struct {
	const char	*name;
	int		(*fn)(const char *arg);
} kill_roles[] = {
	{ "kill-sender", role_kill_sender },
	{ "kill-acceptor", role_kill_acceptor },
	{ "kill-rights-sender", role_kill_rights_sender },
	{ "kill-rights-receiver", role_kill_rights_receiver },
	{ "kill-cycle", role_kill_cycle },
};

static int
run_kill_role(const char *role, char **argv)
{
	for (size_t i = 0; i < sizeof(kill_roles) / sizeof(kill_roles[0]); i++)
		if (strcmp(role, kill_roles[i].name) == 0)
			return kill_roles[i].fn(argv[5]);
	fprintf(stderr, "unknown role %s\n", role);
	return 2;
}

/*
 * Waits (up to 10 s) until @pid sleeps in its blocking call. On ksockd
 * that call is parked in the server; on Linux the process sleeps in the
 * kernel ('S' in /proc/PID/stat). Each role has exactly one call that can
 * sleep after the point the runner has already seen it pass.
 */
static int
wait_blocked(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	if (!ON_LINUX)
		return wait_parked(1);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (int i = 0; i < 1000; i++) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return -1;
		buf[n] = '\0';
		p = strrchr(buf, ')');	/* the name may hold anything */
		if (p != NULL && p[1] == ' ' && p[2] == 'S')
			return 0;
		sleep_ms(10);
	}
	return -1;
}

/* Kills @pid and reaps it: it must have died of the signal. */
static int
kill_and_reap(pid_t pid)
{
	CHECK(wait_blocked(pid) == 0);
	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(reap(pid) == 128 + SIGKILL);
	return 0;
}

/* Waits (up to 10 s) until @fd is readable (data, end or error). */
static int
wait_readable(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return ksd_poll(&p, 1, 10000) == 1 ? 0 : -1;
}

/*
 * The runner listens on @name, starts one process of @role (given
 * @name), and accepts its connection: returns its pid, with the listener
 * in *lfd and the connection in *conn, or -1.
 */
static pid_t
kill_spawn_accepted(const char *role, const char *name, int *lfd, int *conn)
{
	struct sockaddr_un sun;
	socklen_t len = make_addr(name, &sun);
	pid_t pid;

	*lfd = ksd_socket(AF_UNIX, SOCK_STREAM, 0);
	if (*lfd < 0)
		return -1;
	if (ksd_bind(*lfd, (struct sockaddr *)&sun, len) < 0 ||
	    ksd_listen(*lfd, 4) < 0)
		goto out_close;
	pid = spawn(role, name, NULL, NULL);
	if (pid < 0)
		goto out_unlink;
	*conn = ksd_accept4(*lfd, NULL, NULL, 0);
	if (*conn >= 0)
		return pid;
	kill(pid, SIGKILL);
	reap(pid);
out_unlink:
	unlink(sun.sun_path);
out_close:
	ksd_close(*lfd);
	return -1;
}

/* The end of a case of kill_spawn_accepted(): closes both sockets and
 * removes the listener's node. */
static int
kill_close(const char *name, int lfd, int conn)
{
	struct sockaddr_un sun;

	make_addr(name, &sun);
	CHECK(ksd_close(conn) == 0 && ksd_close(lfd) == 0);
	CHECK(unlink(sun.sun_path) == 0);
	return 0;
}

/*
 * A sender killed in the middle of a send of 4 MB that waits for room:
 * the peer reads a prefix of what was sent, byte-exact, then end of file;
 * or, when the dead process left data of the peer's unread (@unread),
 * ECONNRESET once in place of the end, then end of file.
 */
static int
killed_mid_send(bool unread)
{
	static unsigned char buf[KILL_SEND_LEN];
	size_t got = 0;
	ssize_t r;
	int lfd, conn;
	pid_t pid = kill_spawn_accepted("kill-sender", "ksend.sock", &lfd, &conn);

	CHECK(pid > 0);
	if (unread)
		CHECK(send_all(conn, "unread", 6) == 0);
	CHECK(wait_readable(conn) == 0);	/* the send has begun */
	CHECK(kill_and_reap(pid) == 0);
	while ((r = ksd_recv(conn, buf + got, sizeof(buf) - got, 0)) > 0)
		got += (size_t)r;
	CHECK(got > 0 && got < sizeof(buf));
	CHECK(same(buf, got, KILL_SEND_SEED, 0));
	if (unread) {
		CHECK(r == -1 && errno == ECONNRESET);
		r = ksd_recv(conn, buf, 1, 0);
	}
	CHECK(r == 0);
	CHECK(ksd_recv(conn, buf, 1, 0) == 0);
	return kill_close("ksend.sock", lfd, conn);
}

static int t_killed_mid_send(void) { return killed_mid_send(false); }
static int t_killed_mid_send_data_unread(void) { return killed_mid_send(true); }

/*
 * An acceptor killed in accept while it holds a connection it took but
 * did not read: that connection's peer gets ECONNRESET, then end of
 * file, and EPIPE on a send; a new connect to the name is refused (the
 * node stays, nobody listens).
 */
static int
t_killed_mid_accept_peer(void)
{
	struct sockaddr_un sun;
	socklen_t len = make_addr("kacc.sock", &sun);
	char b;
	int c1, c2;
	pid_t pid = spawn("kill-acceptor", "kacc.sock", NULL, NULL);

	CHECK(pid > 0);
	c1 = ksd_socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(c1 >= 0);
	CHECK(connect_retry(c1, &sun, len) == 0);
	CHECK(send_all(c1, "x", 1) == 0);
	CHECK(ksd_recv(c1, &b, 1, 0) == 1 && b == 'r');
	CHECK(kill_and_reap(pid) == 0);
	CHECK(ksd_recv(c1, &b, 1, 0) == -1 && errno == ECONNRESET);
	CHECK(ksd_recv(c1, &b, 1, 0) == 0);
	CHECK(ksd_send(c1, "y", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE);
	c2 = ksd_socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(c2 >= 0);
	CHECK(ksd_connect(c2, (struct sockaddr *)&sun, len) == -1 &&
	      errno == ECONNREFUSED);
	CHECK(ksd_close(c2) == 0 && ksd_close(c1) == 0);
	CHECK(unlink(sun.sun_path) == 0);
	return 0;
}

/* Receives one byte and one descriptor; returns the descriptor. */
static int
recv_one_fd(int fd, char want)
{
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	char b = 0;
	struct iovec iov = { &b, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	int passed;

	if (ksd_recvmsg(fd, &m, 0) != 1 || b != want ||
	    (m.msg_flags & MSG_CTRUNC))
		return -1;
	cm = CMSG_FIRSTHDR(&m);
	if (cm == NULL || cm->cmsg_level != SOL_SOCKET ||
	    cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	memcpy(&passed, CMSG_DATA(cm), sizeof(int));
	return passed;
}

/* Receives the socket the dead process passed on @conn: its other end
 * (the dead process's) reads as end of file. */
static int
take_passed(int conn)
{
	char b;
	int passed = recv_one_fd(conn, 'f');

	CHECK(passed >= 0);
	CHECK(ksd_recv(passed, &b, 1, 0) == 0);
	CHECK(ksd_close(passed) == 0);
	return 0;
}

/*
 * The sender of a descriptor killed while its message is in flight: the
 * message outlives it, the peer receives the socket, and that socket's
 * other end (the dead process's) reads as end of file. The receive runs
 * in a ksd_fork() child: what a receive of descriptors sets up for its
 * process in the server (a notifier for kernel descriptors) goes with
 * that child, and the runner's own footprint stays its baseline's.
 */
static int
t_killed_with_rights_in_flight(void)
{
	char b;
	int lfd, conn;
	pid_t pid = kill_spawn_accepted("kill-rights-sender", "krights.sock",
					&lfd, &conn), taker;

	CHECK(pid > 0);
	CHECK(wait_readable(conn) == 0);
	CHECK(kill_and_reap(pid) == 0);
	taker = ksd_fork();
	CHECK(taker >= 0);
	if (taker == 0)
		_exit(take_passed(conn));
	CHECK(reap(taker) == 0);
	CHECK(ksd_recv(conn, &b, 1, 0) == 0);
	return kill_close("krights.sock", lfd, conn);
}

/*
 * A process killed in recvmsg while a descriptor sent to it waits unread
 * in another of its sockets: the queued socket is released with the dead
 * process's socket (its peer reads end of file), and the sender gets
 * ECONNRESET (data left unread), then end of file.
 */
static int
t_killed_in_recvmsg_rights_queued(void)
{
	char b;
	int lfd, conn, q[2];
	pid_t pid = kill_spawn_accepted("kill-rights-receiver", "krecv.sock",
					&lfd, &conn);

	CHECK(pid > 0);
	CHECK(ksd_recv(conn, &b, 1, 0) == 1 && b == 'r');
	CHECK(ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, q) == 0);
	CHECK(send_one_fd(conn, 'f', q[1]) == 1);
	CHECK(ksd_close(q[1]) == 0);
	CHECK(kill_and_reap(pid) == 0);
	CHECK(ksd_recv(conn, &b, 1, 0) == -1 && errno == ECONNRESET);
	CHECK(ksd_recv(conn, &b, 1, 0) == 0);
	CHECK(wait_readable(q[0]) == 0);
	CHECK(ksd_recv(q[0], &b, 1, 0) == 0);
	CHECK(ksd_close(q[0]) == 0);
	return kill_close("krecv.sock", lfd, conn);
}

/* A process killed with a cycle of sockets in flight: the collector
 * frees them (the baseline check after the case). */
static int
t_sigkill_rights_cycle(void)
{
	pid_t pid = spawn("kill-cycle", NULL, NULL, NULL);

	CHECK(pid > 0);
	return kill_and_reap(pid);
}

#define KILL_TESTS(X) \
	X(t_killed_mid_send) X(t_killed_mid_send_data_unread) \
	X(t_killed_mid_accept_peer) X(t_killed_with_rights_in_flight) \
	X(t_killed_in_recvmsg_rights_queued) X(t_sigkill_rights_cycle)

#define TESTS(X) \
	X(t_stream_path) X(t_stream_abstract) X(t_seqpacket_path) \
	X(t_seqpacket_abstract) X(t_dgram_path) X(t_dgram_abstract) \
	X(t_fork_inherits) X(t_exec_keeps_descriptors) \
	X(t_scm_rights_between_processes) \
	X(t_sigkill_mid_accept) X(t_sigkill_mid_recv) \
	X(t_scm_credentials_real_pid) X(t_sigpipe_to_sender) \
	X(t_socket_timeouts) X(t_connect_waits_for_backlog) \
	X(t_waitall_past_one_window) X(t_window_when_memory_refused) \
	X(t_exit_with_parked_poll) \
	X(t_two_readers_one_socket) X(t_watch_rings_and_ends) \
	X(t_hostile_client) X(t_close_without_reply_order) \
	X(t_close_then_bind_elsewhere) \
	X(t_server_death_ends_calls) X(t_clients_per_user_limit) \
	X(t_signal_interrupts_calls) X(t_poll_mixed) \
	X(t_scm_rights_kernel_pipe) X(t_scm_rights_kernel_dropped) \
	X(t_kernel_fds_in_flight_server_fds) \
	X(t_relative_path_names) X(t_sigurg_to_owner) X(t_sigio_to_owner) \
	X(t_owner_pidfd_shared) \
	X(t_parked_sender_woken) X(t_huge_timeout_blocks) \
	X(t_dgram_peer_died_two_senders) \
	X(t_peer_groups_of_client) \
	KILL_TESTS(X)

struct test {
	const char	*name;
	int		(*fn)(void);
};

#define ENTRY(f) { #f, f },
static const struct test tests[] = { TESTS(ENTRY) };

/* What only a server has: its STATUS, its clients, its hostile input. */
static bool
needs_server(const char *name)
{
	return strstr(name, "sigkill") != NULL || strstr(name, "two_readers") ||
	       strstr(name, "parked_poll") || strstr(name, "hostile") ||
	       strstr(name, "server_death") || strstr(name, "per_user") ||
	       strstr(name, "watch") || strstr(name, "server_fds") ||
	       strstr(name, "memory_refused") || strstr(name, "owner_pidfd");
}

static pid_t
start_server(const char *bin)
{
	pid_t pid = fork();

	if (pid == 0) {
		/* A runner that dies (a timeout) takes its server along. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(bin, bin, server_addr, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; pid > 0 && i < 500; i++) {
		if (ksd_attach(server_addr) == 0)
			return pid;
		sleep_ms(10);
	}
	return -1;
}

int
main(int argc, char **argv)
{
	static char addr[128];
	int passed = 0, failed = 0, skipped = 0;
	pid_t server = -1;
	int st;

	if (argc >= 5 && strcmp(argv[1], "--role") == 0)
		return run_role(argc, argv);
	if (argc != (ON_LINUX ? 1 : 2)) {
		fprintf(stderr, "usage: t_ksockd KSOCKD (t_ksockd-linux: none)\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "/tmp/ksockd-t.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(addr, sizeof(addr), "%s/ksockd", dir);
	server_addr = addr;
	if (!ON_LINUX) {
		server_bin = argv[1];
		server = start_server(argv[1]);
		server_pid = server;
		if (server < 0 || ksd_status(&baseline) < 0 ||
		    (baseline_fds = server_fds()) < 0) {
			fprintf(stderr, "t_ksockd: no server\n");
			rmdir(dir);
			return 1;
		}
	}
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		int r;

		if (ON_LINUX && needs_server(tests[i].name)) {
			printf("skip %s (needs ksockd)\n", tests[i].name);
			skipped++;
			continue;
		}
		r = tests[i].fn();
		if (!ON_LINUX && r == 0 && back_to_baseline() < 0) {
			fprintf(stderr, "%s: the server kept something\n",
				tests[i].name);
			r = 1;
		}
		printf("%s %s\n", r == 0 ? "ok  " : "FAIL", tests[i].name);
		fflush(stdout);
		if (r == 0)
			passed++;
		else
			failed++;
	}
	if (!ON_LINUX) {
		/* The server stops clean: nothing left allocated (and,
		 * under ASan, nothing leaked). */
		ksd_detach();
		kill(server, SIGTERM);
		st = reap(server);
		printf("%s server_stops_clean (status %d)\n",
		       st == 0 ? "ok  " : "FAIL", st);
		if (st == 0)
			passed++;
		else
			failed++;
	}
	unlink(addr);
	/* Every case removed what it made: the directory is empty. */
	if (rmdir(dir) < 0) {
		fprintf(stderr, "t_ksockd: %s not empty\n", dir);
		failed++;
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed == 0 ? 0 : 1;
}

/*
 * Unit tests: the collector of unreachable in-flight cycles (src/unix/gc.c).
 *
 * Descriptors are passed through the hosted POSIX personality (ksp_*), in
 * the test's simulated process. Unlike Linux, ksock collects a cycle the
 * moment its last outside reference goes, so every test checks right
 * after the last close, without waiting: a pipe the cycle carried reads
 * EOF at once, a socket it held is gone, and the collector's counters
 * (ks_diag_stats) moved. Reachable sockets in flight survive and work
 * when received. The harness checks after each test (and after each
 * injected allocation failure) that no allocation is left; each test also
 * checks that it left no descriptor behind.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "unit.h"

/* -1/errno from the personality, as a ksock-style result. */
static long
px(long r)
{
	return r < 0 ? -(long)errno : r;
}
#define P(expr)		px((long)(expr))

static const int all_types[] = {
	KS_SOCK_STREAM, KS_SOCK_DGRAM, KS_SOCK_SEQPACKET,
};
#define NTYPES	(sizeof(all_types) / sizeof(all_types[0]))

/* Sends one byte and @n descriptors in one SCM_RIGHTS header, with
 * @flags. */
static long
send_fds_flags(int s, const int *fds, int n, int flags)
{
	union {
		char		buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr	align;
	} u;
	struct iovec iov = { "g", 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	memset(&u, 0, sizeof(u));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
	return P(ksp_sendmsg(s, &msg, flags));
}

/* The same, never blocking. */
static long
send_fds(int s, const int *fds, int n)
{
	return send_fds_flags(s, fds, n, MSG_DONTWAIT);
}

static long
send_fd(int s, int fd)
{
	return send_fds(s, &fd, 1);
}

/* Receives one byte and up to 8 descriptors into @fds (-1 past those);
 * returns how many came, or a negative error. */
static long
recv_fds(int s, int *fds, int flags)
{
	union {
		char		buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr	align;
	} u;
	char b;
	struct iovec iov = { &b, 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c;
	long r;
	int n = 0;

	for (int i = 0; i < 8; i++)
		fds[i] = -1;
	r = P(ksp_recvmsg(s, &msg, MSG_DONTWAIT | flags));
	if (r < 0)
		return r;
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0;
			     i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) &&
			     n < 8; i++)
				memcpy(&fds[n++], CMSG_DATA(c) + i * sizeof(int),
				       sizeof(int));
	return n;
}

/* Closes the descriptors of @fds that are open (>= 0): cleanup, never
 * skipped. */
static void
close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (fds[i] >= 0)
			ksp_close(fds[i]);
		fds[i] = -1;
	}
}

/* A non-blocking pipe read end: 0 once every writer (in flight or not)
 * is closed, -KS_EAGAIN while one lives. */
static long
pipe_read(int rd)
{
	char c;

	return P(ksp_read(rd, &c, 1));
}

static uint64_t
collected(void)
{
	struct ks_diag_stats st;

	ks_diag_stats(&st);
	return st.gc_collected;
}

/* Host descriptors open in this (real) process. */
static int
host_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (d == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* A socketpair whose ends were sent over each other, carrying a pipe,
 * is collected when the last end is closed, on every type. */
static void
t_pair_over_itself(void)
{
	for (size_t t = 0; t < NTYPES && ut_live(); t++) {
		int fd[4] = { -1, -1, -1, -1 }, *sv = fd, *p = fd + 2, cargo[2];
		int base = ksp_fd_count();
		uint64_t before = collected();

		OK(P(ksp_socketpair(AF_UNIX, all_types[t], 0, sv)));
		OK(P(ksp_pipe2(p, O_NONBLOCK)));
		cargo[0] = sv[1];
		cargo[1] = p[1];
		EQ(send_fds(sv[0], cargo, 2), 1);	/* into sv[1]'s queue */
		EQ(send_fd(sv[1], sv[0]), 1);		/* into sv[0]'s queue */
		close_all(&p[1], 1);
		close_all(&sv[0], 1);
		EQ(pipe_read(p[0]), -KS_EAGAIN);
		close_all(&sv[1], 1);
		EQ(pipe_read(p[0]), 0);
		CHECK_EQ(collected() - before, 2);
		close_all(fd, 4);
		CHECK_EQ(ksp_fd_count(), base);
	}
}

/* A socket whose only reference sits in its own queue is collected at
 * once, and its peer reads EOF. */
static void
t_socket_in_own_queue(void)
{
	int sv[2] = { -1, -1 };
	char c;

	OK(P(ksp_socketpair(AF_UNIX, SOCK_STREAM, 0, sv)));
	EQ(send_fd(sv[0], sv[1]), 1);
	close_all(&sv[1], 1);
	EQ(P(ksp_recv(sv[0], &c, 1, MSG_DONTWAIT)), 0);
	close_all(sv, 2);
}

/* Rings of N sockets, each holding the next, nobody else holding any,
 * are collected when the last one is let go. */
static void
ring(int n, int type)
{
	int (*pr)[2] = calloc((size_t)n, sizeof(*pr));
	int p[2] = { -1, -1 };
	uint64_t before = collected();

	if (pr == NULL)
		return;
	for (int i = 0; i < n; i++)
		pr[i][0] = pr[i][1] = -1;
	OK(P(ksp_pipe2(p, O_NONBLOCK)));
	for (int i = 0; i < n; i++)
		OK(P(ksp_socketpair(AF_UNIX, type, 0, pr[i])));
	for (int i = 0; i < n; i++)
		EQ(send_fd(pr[i][0], pr[(i + 1) % n][1]), 1);
	EQ(send_fd(pr[n / 2][0], p[1]), 1);
	close_all(&p[1], 1);
	for (int i = 0; i < n; i++)
		close_all(&pr[i][0], 1);
	for (int i = 0; i < n - 1; i++)
		close_all(&pr[i][1], 1);
	EQ(pipe_read(p[0]), -KS_EAGAIN);
	CHECK_EQ(collected(), before);
	close_all(&pr[n - 1][1], 1);
	EQ(pipe_read(p[0]), 0);
	CHECK_EQ(collected() - before, (uint64_t)n);
	for (int i = 0; i < n; i++)
		close_all(pr[i], 2);
	close_all(p, 2);
	free(pr);
}

static void
t_ring_of_three(void)
{
	ring(3, SOCK_DGRAM);
}

static void
t_ring_of_hundred(void)
{
	ring(100, SOCK_STREAM);
}

/* A listener sent to its own unaccepted connection is collected when its
 * descriptor is closed, with what that connection carries; the client
 * reads ECONNRESET. */
static void
t_listener_in_own_embryo(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };

	for (size_t t = 0; t < 2 && ut_live(); t++) {
		struct ks_sockaddr_un sun;
		uint32_t len = ut_path(&sun, "l");
		int fd[4] = { -1, -1, -1, -1 }, *p = fd + 2, cargo[2];
		char c;

		fd[0] = (int)OK(P(ksp_socket(AF_UNIX, types[t], 0)));
		OK(P(ksp_bind(fd[0], (struct sockaddr *)&sun, len)));
		OK(P(ksp_listen(fd[0], 4)));
		fd[1] = (int)OK(P(ksp_socket(AF_UNIX, types[t], 0)));
		OK(P(ksp_connect(fd[1], (struct sockaddr *)&sun, len)));
		OK(P(ksp_pipe2(p, O_NONBLOCK)));
		cargo[0] = fd[0];
		cargo[1] = p[1];
		EQ(send_fds(fd[1], cargo, 2), 1);
		close_all(&p[1], 1);
		EQ(pipe_read(p[0]), -KS_EAGAIN);
		close_all(&fd[0], 1);
		EQ(pipe_read(p[0]), 0);
		EQ(P(ksp_recv(fd[1], &c, 1, MSG_DONTWAIT)), -KS_ECONNRESET);
		EQ(P(ksp_recv(fd[1], &c, 1, MSG_DONTWAIT)), 0);
		close_all(fd, 4);
		unlink("l");
	}
}

/* A cycle carrying a regular file and another socket closes both: the
 * host descriptor goes, the other socket's peer reads EOF. */
static void
t_cycle_carries_file_and_socket(void)
{
	int fd[5] = { -1, -1, -1, -1, -1 }, *sv = fd, *q = fd + 2, cargo[3];
	int host = host_fd_count();
	char c;

	OK(P(ksp_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv)));
	OK(P(ksp_socketpair(AF_UNIX, SOCK_STREAM, 0, q)));
	fd[4] = (int)OK(P(ksp_open("cargo", O_RDWR | O_CREAT, 0600)));
	cargo[0] = sv[0];
	cargo[1] = q[0];
	cargo[2] = fd[4];
	EQ(send_fds(sv[0], cargo, 3), 1);
	EQ(send_fd(sv[1], sv[1]), 1);
	close_all(&q[0], 1);
	close_all(&fd[4], 1);
	CHECK_EQ(host_fd_count(), host + 1);
	close_all(sv, 2);
	CHECK_EQ(host_fd_count(), host);
	EQ(P(ksp_recv(q[1], &c, 1, MSG_DONTWAIT)), 0);
	close_all(fd, 5);
	unlink("cargo");
}

/* A socket in flight whose receiver is open survives, and works once
 * received; peeking installs working copies too. */
static void
t_reachable_survives(void)
{
	for (size_t t = 0; t < NTYPES && ut_live(); t++) {
		int fd[4] = { -1, -1, -1, -1 }, got[8], peeked[8];
		char buf[4];

		OK(P(ksp_socketpair(AF_UNIX, all_types[t], 0, fd)));
		OK(P(ksp_pipe2(fd + 2, O_NONBLOCK)));
		int cargo[2] = { fd[0], fd[3] };

		EQ(send_fds(fd[0], cargo, 2), 1);	/* into fd[1]'s queue */
		close_all(&fd[0], 1);
		close_all(&fd[3], 1);
		EQ(pipe_read(fd[2]), -KS_EAGAIN);
		EQ(recv_fds(fd[1], peeked, MSG_PEEK), 2);
		close_all(peeked, 8);
		EQ(pipe_read(fd[2]), -KS_EAGAIN);
		EQ(recv_fds(fd[1], got, 0), 2);
		if (ut_live()) {
			EQ(P(ksp_send(got[0], "ok", 2, 0)), 2);
			EQ(P(ksp_recv(fd[1], buf, sizeof(buf), 0)), 2);
			CHECK_MEM(buf, "ok", 2);
		}
		close_all(got, 8);
		EQ(pipe_read(fd[2]), 0);
		close_all(fd, 4);
	}
}

/* A cycle another open socket's queue points into is kept; once that
 * queue lets go of it (its socket closes), the cycle goes at once. */
static void
t_cycle_reachable_from_outside(void)
{
	int fd[6] = { -1, -1, -1, -1, -1, -1 }, *sv = fd, *xy = fd + 2;
	int *p = fd + 4, cargo[2];
	uint64_t before = collected();

	OK(P(ksp_socketpair(AF_UNIX, SOCK_STREAM, 0, sv)));
	OK(P(ksp_socketpair(AF_UNIX, SOCK_DGRAM, 0, xy)));
	OK(P(ksp_pipe2(p, O_NONBLOCK)));
	cargo[0] = sv[0];
	cargo[1] = p[1];
	EQ(send_fds(sv[0], cargo, 2), 1);
	EQ(send_fd(sv[1], sv[1]), 1);
	EQ(send_fd(xy[0], sv[1]), 1);
	close_all(&p[1], 1);
	close_all(sv, 2);
	EQ(pipe_read(p[0]), -KS_EAGAIN);
	CHECK_EQ(collected(), before);
	close_all(&xy[1], 1);
	EQ(pipe_read(p[0]), 0);
	CHECK_EQ(collected() - before, 2);
	close_all(fd, 6);
}

/*
 * 10,000 sockets in flight in one ring: b[i] sits in b[i+1]'s queue, the
 * last in the first's. Built keeping only a few descriptors open, so the
 * descriptor limit does not matter; collected (iteratively, without deep
 * recursion) when the last descriptor closes. Not injected: it makes tens
 * of thousands of allocations, and ring_of_hundred covers the same paths.
 */
#define BIG_RING	10000

static void
t_ring_of_ten_thousand(void)
{
	int a0 = -1, b0 = -1, prev = -1, pair[2] = { -1, -1 }, p[2] = { -1, -1 };
	uint64_t before = collected();
	long long t0 = ut_now_ms();

	OK(P(ksp_pipe2(p, O_NONBLOCK)));
	OK(P(ksp_socketpair(AF_UNIX, SOCK_DGRAM, 0, pair)));
	a0 = pair[0];
	b0 = prev = pair[1];
	EQ(send_fd(a0, p[1]), 1);	/* the ring carries the pipe */
	close_all(&p[1], 1);
	for (int i = 1; i < BIG_RING && ut_live(); i++) {
		OK(P(ksp_socketpair(AF_UNIX, SOCK_DGRAM, 0, pair)));
		EQ(send_fd(pair[0], prev), 1);	/* prev into the new b's queue */
		close_all(&pair[0], 1);
		if (prev != b0)
			close_all(&prev, 1);
		prev = pair[1];
	}
	EQ(send_fd(a0, prev), 1);		/* the last into b0's queue */
	close_all(&a0, 1);
	if (prev != b0)
		close_all(&prev, 1);
	EQ(pipe_read(p[0]), -KS_EAGAIN);
	CHECK_EQ(collected(), before);
	close_all(&b0, 1);
	EQ(pipe_read(p[0]), 0);
	CHECK_EQ(collected() - before, BIG_RING);
	printf("  ring of %d collected; whole test %lld ms\n", BIG_RING,
	       ut_now_ms() - t0);
	close_all(p, 2);
	close_all(pair, 2);
}

static bool drops_unreported(void);

/* Shared by the concurrent workers. */
struct churn {
	int		x[2];	/* a shared dgram pair: sockets pass through it */
	int		rounds;
	atomic_bool	done;	/* the workers have finished */
};

/* Forms cycles and rings and breaks them; hands sockets to the shared
 * queue, where the drainer takes them (making them reachable again) or
 * leaves them. */
static int
churn_worker(void *arg)
{
	struct churn *ch = arg;
	int bad = 0;

	for (int r = 0; r < ch->rounds; r++) {
		int sv[2], q[2];

		if (ksp_socketpair(AF_UNIX, r % 3 == 0 ? SOCK_STREAM :
				   SOCK_DGRAM, 0, sv) < 0)
			return 1;
		if (ksp_socketpair(AF_UNIX, SOCK_DGRAM, 0, q) < 0)
			return 1;
		/* A two-socket cycle, a ring through q, and a copy of one
		 * member handed to whoever drains the shared queue. */
		bad |= send_fd(sv[0], sv[1]) != 1;
		bad |= send_fd(sv[1], q[0]) != 1;
		bad |= send_fd(q[1], sv[0]) != 1;
		/* The shared queue may be full: then it is not handed. */
		if (r % 2 == 0)
			(void)send_fd(ch->x[0], sv[1]);
		ksp_close(sv[0]);
		ksp_close(q[1]);
		ksp_close(sv[1]);
		ksp_close(q[0]);
	}
	return bad;
}

/* Takes what the workers hand over and closes it. */
static int
churn_drainer(void *arg)
{
	struct churn *ch = arg;
	int fds[8];

	for (;;) {
		bool done = atomic_load(&ch->done);
		long n = recv_fds(ch->x[1], fds, 0);

		if (n == -KS_EAGAIN) {
			if (done)
				break;
			ut_sleep_ms(1);
			continue;
		}
		if (n < 0)
			break;
		close_all(fds, 8);
	}
	return 0;
}

/*
 * Cycles formed and broken from several simulated processes at once,
 * some of their members passing through a queue another process drains.
 * When everything is closed nothing is left: every cycle was collected.
 * Not injected: which allocation a thread makes first is up to the
 * scheduler.
 */
#define CHURN_WORKERS	4

static void
concurrent_cycles(bool reported);

static void
t_concurrent_cycles(void)
{
	concurrent_cycles(true);
}

/* The same on a host that does not report drops: runs over the whole
 * graph race with sends, receives and closes; the last release leaves
 * nothing. */
static void
t_unreported_concurrent_cycles(void)
{
	concurrent_cycles(false);
}

static void
concurrent_cycles(bool reported)
{
	struct churn ch = { { -1, -1 }, 1000, false };
	struct ksp_proc *w[CHURN_WORKERS], *d;
	struct ks_diag_stats st;
	int base = ksp_fd_count();
	uint64_t sockets;

	if (!reported)
		ut_port_edit()->file_drops_reported = drops_unreported;
	ks_diag_stats(&st);
	sockets = st.sockets;
	OK(P(ksp_socketpair(AF_UNIX, SOCK_DGRAM, 0, ch.x)));
	d = ut_spawn(churn_drainer, &ch);
	for (int i = 0; i < CHURN_WORKERS; i++)
		w[i] = ut_spawn(churn_worker, &ch);
	for (int i = 0; i < CHURN_WORKERS; i++)
		CHECK_EQ(ut_join(w[i]), 0);
	atomic_store(&ch.done, true);
	CHECK_EQ(ut_join(d), 0);
	close_all(ch.x, 2);
	CHECK_EQ(ksp_fd_count(), base);
	/* Every socket made here is gone: every cycle was collected. */
	ks_diag_stats(&st);
	CHECK_EQ(st.sockets, sockets);
}

/* One cycle whose two members two processes let go of at once. */
struct race {
	int		sv[2];
	int		which;		/* the member this process closes */
	atomic_int	*ready;
};

static int
race_closer(void *arg)
{
	struct race *r = arg;

	/* Both hold both members (forked tables); drop the other first. */
	ksp_close(r->sv[!r->which]);
	atomic_fetch_add(r->ready, 1);
	while (atomic_load(r->ready) < 2)
		;
	ksp_close(r->sv[r->which]);
	return 0;
}

/*
 * The last references to a cycle's members dropped from two processes at
 * the same moment: whichever collects it, it is collected exactly once
 * and nothing is left. Not injected: timing decides which call allocates.
 */
static void
t_cycle_released_from_two_processes(void)
{
	uint64_t before = collected();
	int rounds = 200;

	for (int i = 0; i < rounds && ut_live(); i++) {
		atomic_int ready = 0;
		struct race r[2];
		struct ksp_proc *p[2];
		int sv[2] = { -1, -1 };

		OK(P(ksp_socketpair(AF_UNIX, i & 1 ? SOCK_DGRAM : SOCK_STREAM,
				    0, sv)));
		EQ(send_fd(sv[0], sv[0]), 1);	/* into sv[1]'s queue */
		EQ(send_fd(sv[1], sv[1]), 1);	/* into sv[0]'s queue */
		for (int k = 0; k < 2; k++) {
			r[k].sv[0] = sv[0];
			r[k].sv[1] = sv[1];
			r[k].which = k;
			r[k].ready = &ready;
		}
		p[0] = ut_spawn(race_closer, &r[0]);
		p[1] = ut_spawn(race_closer, &r[1]);
		close_all(sv, 2);
		ut_join(p[0]);
		ut_join(p[1]);
	}
	CHECK_EQ(collected() - before, 2 * (uint64_t)rounds);
}


/* -- cycles completed by a send -- */

static bool
drops_unreported(void)
{
	return false;
}

/* Makes ksock run on a host that does not report dropped file references
 * (port.h: file_drops_reported), as a kernel port may be: the collector
 * then works as Linux's does. Before the test's first socket. */
static void
use_unreporting_host(void)
{
	ut_port_edit()->file_drops_reported = drops_unreported;
}

/* Closes a fresh socket: an AF_UNIX release, Linux's trigger. */
static void
close_unrelated_socket(void)
{
	int fd = (int)OK(P(ksp_socket(AF_UNIX, SOCK_DGRAM, 0)));

	close_all(&fd, 1);
}

/* Cleanup of a test on an unreporting host, never skipped: a test that
 * stopped early (an injected failure) may have left a cycle that only a
 * release collects there. */
static void
unreported_cleanup(void)
{
	int fd = ksp_socket(AF_UNIX, SOCK_DGRAM, 0);

	if (fd >= 0)
		ksp_close(fd);
}

static uint64_t
live_sockets(void)
{
	struct ks_diag_stats st;

	ks_diag_stats(&st);
	return st.sockets;
}

/* A thread of the test's own process (it shares the descriptor table)
 * whose blocking send carries descriptors. */
struct blocked_send {
	int		s;
	int		cargo[2];
	long		ret;
	atomic_bool	done;
};

/* Set when a thread parks: the only one that can is the sender. */
static atomic_bool someone_parked;

static int
noting_park(int64_t deadline_ns)
{
	atomic_store(&someone_parked, true);
	return ksp_port()->park(deadline_ns);
}

static void *
blocked_sender(void *arg)
{
	struct blocked_send *b = arg;

	b->ret = send_fds_flags(b->s, b->cargo, 2, 0);
	atomic_store(&b->done, true);
	return NULL;
}

/*
 * Issue 9, item 1. A send carrying X (and a pipe) over S blocks for room
 * while it holds X. Meanwhile every other descriptor is closed: the peer
 * R lives only in X's queue, and no close drops a file's last outside
 * reference while anything is in flight that makes a cycle. When the
 * send resumes, it puts X into R's queue: X and R are now an unreachable
 * cycle, completed by the send itself, which must collect it (no close
 * will ever come to). Everything is freed (the harness then checks that
 * ks_fini succeeds and no allocation is left), the pipe reads EOF, the
 * collector counts X and R. Not injected: it waits for a thread to block.
 */
static void
cycle_completed_by_blocked_send(bool reported)
{
	int fd[6] = { -1, -1, -1, -1, -1, -1 }, *sr = fd, *xy = fd + 2;
	int *p = fd + 4, big = 1 << 20;
	struct blocked_send b = { .ret = 0, .done = false };
	uint64_t before = collected(), socks = live_sockets();
	pthread_t th;
	char fill[4096];

	if (!reported)
		use_unreporting_host();
	ut_port_edit()->park = noting_park;
	memset(fill, 'f', sizeof(fill));
	OK(P(ksp_socketpair(AF_UNIX, SOCK_STREAM, 0, sr)));
	OK(P(ksp_socketpair(AF_UNIX, SOCK_DGRAM, 0, xy)));
	OK(P(ksp_pipe2(p, O_NONBLOCK)));
	/* S's buffer full: the next send waits. */
	while (ut_live() && P(ksp_send(sr[0], fill, sizeof(fill),
				      MSG_DONTWAIT)) > 0)
		;
	EQ(send_fd(xy[1], sr[1]), 1);		/* R into X's queue */
	if (!ut_live())
		goto close;
	b.s = sr[0];
	b.cargo[0] = xy[0];			/* X ... */
	b.cargo[1] = p[1];			/* ... and a pipe, into R */
	if (pthread_create(&th, NULL, blocked_sender, &b) != 0) {
		ut_fail(__FILE__, __LINE__, "pthread_create");
		goto close;
	}
	/* Until the send has taken X and sleeps for room. */
	for (int i = 0; i < 5000 && !atomic_load(&someone_parked); i++)
		ut_sleep_ms(1);
	CHECK(atomic_load(&someone_parked));
	CHECK(!atomic_load(&b.done));
	close_all(&sr[1], 1);			/* R */
	close_all(&xy[0], 1);			/* X: the send still holds it */
	close_all(&xy[1], 1);
	close_all(&p[1], 1);
	EQ(pipe_read(p[0]), -KS_EAGAIN);
	/* Room appears: the send goes on and completes the cycle. */
	OK(P(ksp_setsockopt(sr[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big))));
	pthread_join(th, NULL);
	CHECK_EQ(b.ret, 1);
	EQ(pipe_read(p[0]), 0);
	CHECK_EQ(collected() - before, 2);
	close_all(&sr[0], 1);			/* S: its data went with R */
	CHECK_EQ(live_sockets(), socks);
close:
	close_all(fd, 6);
	if (!reported)
		unreported_cleanup();
}

static void
t_cycle_completed_by_blocked_send(void)
{
	cycle_completed_by_blocked_send(true);
}

static void
t_unreported_cycle_completed_by_blocked_send(void)
{
	cycle_completed_by_blocked_send(false);
}

/*
 * On a host that does not report dropped references, a cycle whose last
 * descriptors were closed waits, as on Linux, for the next AF_UNIX
 * release or the next send of sockets; each collects it (with what it
 * carries) and nothing is left.
 */
static void
t_unreported_cycle_waits_for_trigger(void)
{
	for (int trigger = 0; trigger < 2 && ut_live(); trigger++) {
		int fd[6] = { -1, -1, -1, -1, -1, -1 }, *sv = fd, *p = fd + 2;
		int *q = fd + 4, cargo[2];
		uint64_t before;

		if (trigger == 0)
			use_unreporting_host();
		before = collected();
		OK(P(ksp_socketpair(AF_UNIX, SOCK_STREAM, 0, sv)));
		OK(P(ksp_pipe2(p, O_NONBLOCK)));
		OK(P(ksp_socketpair(AF_UNIX, SOCK_DGRAM, 0, q)));
		cargo[0] = sv[1];
		cargo[1] = p[1];
		EQ(send_fds(sv[0], cargo, 2), 1);
		EQ(send_fd(sv[1], sv[0]), 1);
		close_all(&p[1], 1);
		close_all(sv, 2);
		EQ(pipe_read(p[0]), -KS_EAGAIN);
		CHECK_EQ(collected(), before);
		if (trigger == 0) {
			close_unrelated_socket();
		} else {
			/* A socket put in flight elsewhere, then received. */
			int got[8];

			EQ(send_fd(q[0], q[0]), 1);
			EQ(recv_fds(q[1], got, 0), 1);
			close_all(got, 8);
		}
		EQ(pipe_read(p[0]), 0);
		CHECK_EQ(collected() - before, 2);
		close_all(fd, 6);
		unreported_cleanup();
	}
}

/*
 * A cycle {z0, z1} (carrying a pipe) whose z0 also sits in the queue of
 * a dead cycle {a0, a1} is not dead until that queue lets z0 go: the
 * collection that frees {a0, a1} must come back for {z0, z1}. On a host
 * that reports drops, z0's dropped reference does it; on one that does
 * not, the collector runs again after freeing something. Either way one
 * event frees all four.
 */
static void
chain_behind_cycle(bool reported)
{
	int fd[6] = { -1, -1, -1, -1, -1, -1 }, *a = fd, *z = fd + 2;
	int *p = fd + 4, cargo[2];
	uint64_t before, socks;

	if (!reported)
		use_unreporting_host();
	before = collected();
	socks = live_sockets();
	OK(P(ksp_socketpair(AF_UNIX, SOCK_DGRAM, 0, a)));
	OK(P(ksp_socketpair(AF_UNIX, SOCK_STREAM, 0, z)));
	OK(P(ksp_pipe2(p, O_NONBLOCK)));
	EQ(send_fd(a[0], a[0]), 1);		/* a0 into a1's queue */
	cargo[0] = a[1];
	cargo[1] = z[0];
	EQ(send_fds(a[1], cargo, 2), 1);	/* a1 and z0 into a0's */
	cargo[0] = z[0];
	cargo[1] = p[1];
	EQ(send_fds(z[0], cargo, 2), 1);	/* z0, pipe into z1's */
	EQ(send_fd(z[1], z[1]), 1);		/* z1 into z0's */
	close_all(&p[1], 1);
	close_all(z, 2);
	EQ(pipe_read(p[0]), -KS_EAGAIN);
	close_all(&a[0], 1);
	close_all(&a[1], 1);
	if (!reported) {
		EQ(pipe_read(p[0]), -KS_EAGAIN);
		close_unrelated_socket();
	}
	EQ(pipe_read(p[0]), 0);
	CHECK_EQ(collected() - before, 4);
	CHECK_EQ(live_sockets(), socks);
	close_all(fd, 6);
	if (!reported)
		unreported_cleanup();
}

static void
t_chain_behind_cycle(void)
{
	chain_behind_cycle(true);
}

static void
t_unreported_chain_behind_cycle(void)
{
	chain_behind_cycle(false);
}

/* A ring of a hundred on a host that does not report drops: one release
 * collects it whole, and the sockets it frees do not each start a run
 * over the graph (the runs are counted). */
static void
t_unreported_ring_of_hundred(void)
{
	enum { N = 100 };
	int pr[N][2], p[2] = { -1, -1 };
	struct ks_diag_stats st0, st;
	uint64_t before;

	use_unreporting_host();
	before = collected();
	for (int i = 0; i < N; i++)
		pr[i][0] = pr[i][1] = -1;
	OK(P(ksp_pipe2(p, O_NONBLOCK)));
	for (int i = 0; i < N; i++)
		OK(P(ksp_socketpair(AF_UNIX, SOCK_STREAM, 0, pr[i])));
	for (int i = 0; i < N; i++)
		EQ(send_fd(pr[i][0], pr[(i + 1) % N][1]), 1);
	EQ(send_fd(pr[0][0], p[1]), 1);
	close_all(&p[1], 1);
	for (int i = 0; i < N; i++)
		close_all(&pr[i][1], 1);
	EQ(pipe_read(p[0]), -KS_EAGAIN);
	ks_diag_stats(&st0);
	for (int i = 0; i < N; i++)
		close_all(&pr[i][0], 1);
	ks_diag_stats(&st);
	EQ(pipe_read(p[0]), 0);
	CHECK_EQ(collected() - before, N);
	/* The first close's run frees the ring; the hundred sockets that
	 * closes ask for one more run, which finds the graph empty; the
	 * later closes find nothing in flight and run nothing. */
	CHECK_EQ(st.gc_runs - st0.gc_runs, 2);
	for (int i = 0; i < N; i++)
		close_all(pr[i], 2);
	close_all(p, 2);
	unreported_cleanup();
}

static const struct ut_test tests[] = {
	{ "pair_over_itself",		t_pair_over_itself, 0 },
	{ "socket_in_own_queue",	t_socket_in_own_queue, 0 },
	{ "ring_of_three",		t_ring_of_three, 0 },
	{ "ring_of_hundred",		t_ring_of_hundred, 0 },
	{ "listener_in_own_embryo",	t_listener_in_own_embryo, 0 },
	{ "cycle_carries_file_and_socket", t_cycle_carries_file_and_socket, 0 },
	{ "reachable_survives",		t_reachable_survives, 0 },
	{ "cycle_reachable_from_outside", t_cycle_reachable_from_outside, 0 },
	{ "ring_of_ten_thousand",	t_ring_of_ten_thousand, UT_NO_INJECT },
	{ "concurrent_cycles",		t_concurrent_cycles, UT_NO_INJECT },
	{ "unreported_concurrent_cycles", t_unreported_concurrent_cycles,
	  UT_NO_INJECT },
	{ "cycle_released_from_two_processes",
	  t_cycle_released_from_two_processes, UT_NO_INJECT },
	{ "cycle_completed_by_blocked_send",
	  t_cycle_completed_by_blocked_send, UT_NO_INJECT },
	{ "unreported_cycle_completed_by_blocked_send",
	  t_unreported_cycle_completed_by_blocked_send, UT_NO_INJECT },
	{ "unreported_cycle_waits_for_trigger",
	  t_unreported_cycle_waits_for_trigger, 0 },
	{ "chain_behind_cycle",		t_chain_behind_cycle, 0 },
	{ "unreported_chain_behind_cycle", t_unreported_chain_behind_cycle, 0 },
	{ "unreported_ring_of_hundred",	t_unreported_ring_of_hundred, 0 },
};

UT_MAIN(tests)

/*
 * Collection of in-flight socket cycles, seen from outside: sockets that
 * sit in each other's receive queues and that no process can reach any
 * more are freed together with what they carry, and sockets that can
 * still be reached keep working.
 *
 * What a cycle carries is observed through a pipe or a socketpair whose
 * other end the test keeps: once the cycle is collected the pipe's read
 * end sees EOF (or its write end EPIPE) and the socket's peer sees EOF.
 * Linux collects asynchronously, when some AF_UNIX socket is released
 * while descriptors are in flight; wait_for() triggers that by closing a
 * fresh socket between polls, for a bounded time. ksock may collect
 * sooner; both pass.
 */
#include "harness.h"

#define WAIT_MS		5000	/* how long a collection may take */
#define SURVIVE_MS	300	/* how long a reachable socket is watched */

/* Sends one byte with @n descriptors in one SCM_RIGHTS header. */
static ssize_t
send_fds(int s, const int *fds, int n)
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
	return sendmsg(s, &msg, 0);
}

static ssize_t
send_fd(int s, int fd)
{
	return send_fds(s, &fd, 1);
}

/* Receives one byte and up to 8 descriptors; returns how many came. */
static int
recv_fds(int s, int *fds)
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
	int n = 0;

	CHECK_EQ(recvmsg(s, &msg, MSG_DONTWAIT), 1);
	CHECK_EQ(msg.msg_flags, 0);
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0;
			     i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
				memcpy(&fds[n++],
				       CMSG_DATA(c) + i * sizeof(int),
				       sizeof(int));
	return n;
}

/* Releases an unrelated AF_UNIX socket: on Linux that runs the collector
 * when anything is in flight. */
static void
kick_collector(void)
{
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);

	if (s >= 0)
		close(s);
}

/* One of the observations below. */
enum seen { READ_EOF, WRITE_EPIPE, PEER_EOF, PEER_RESET };

/* The observation on @fd holds right now. */
static bool
holds(enum seen what, int fd)
{
	char c;

	switch (what) {
	case READ_EOF:		/* non-blocking pipe read end */
		return read(fd, &c, 1) == 0;
	case WRITE_EPIPE:	/* pipe write end */
		return write(fd, "w", 1) == -1 && errno == EPIPE;
	case PEER_EOF:		/* socket whose peer went away */
		return recv(fd, &c, 1, MSG_DONTWAIT) == 0;
	case PEER_RESET:	/* socket whose peer went away unaccepted */
		return recv(fd, &c, 1, MSG_DONTWAIT) == -1 &&
		       errno == ECONNRESET;
	}
	return false;
}

/* Waits, kicking the collector, until @what holds on @fd; false if it
 * does not within WAIT_MS. */
static bool
wait_for(enum seen what, int fd)
{
	long long end = th_now_ms() + WAIT_MS;

	do {
		kick_collector();
		if (holds(what, fd))
			return true;
		th_sleep_ms(5);
	} while (th_now_ms() < end);
	return false;
}

/* Kicks the collector for SURVIVE_MS; true if the pipe behind the
 * non-blocking read end @rd still has a writer afterwards. */
static bool
still_alive(int rd)
{
	long long end = th_now_ms() + SURVIVE_MS;
	char c;

	do {
		kick_collector();
		th_sleep_ms(10);
	} while (th_now_ms() < end);
	errno = 0;
	return read(rd, &c, 1) == -1 && errno == EAGAIN;
}

static void
close_pair(int sv[2])
{
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

static const int all_types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
#define NTYPES	(sizeof(all_types) / sizeof(all_types[0]))

/* A socketpair whose ends were sent over each other and then closed is
 * collected, with the pipe and the file it carries, on every type. */
static void
gc_pair_sent_over_itself(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		int sv[2], p[2], f, cargo[3];

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		CHECK_OK(pipe2(p, O_NONBLOCK));
		f = CHECK_OK(open("cargo", O_RDWR | O_CREAT, 0600));
		cargo[0] = sv[1];
		cargo[1] = p[1];
		cargo[2] = f;
		CHECK_EQ(send_fds(sv[0], cargo, 3), 1);	/* into sv[1]'s queue */
		CHECK_EQ(send_fd(sv[1], sv[0]), 1);	/* into sv[0]'s queue */
		CHECK_OK(close(p[1]));
		CHECK_OK(close(f));
		CHECK_OK(unlink("cargo"));
		close_pair(sv);
		CHECK(wait_for(READ_EOF, p[0]));
		CHECK_OK(close(p[0]));
	}
}

/* A socket whose only reference sits in its own receive queue is
 * collected, and its peer then sees it gone. */
static void
gc_socket_in_own_queue(void)
{
	int sv[2], p[2], cargo[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe2(p, O_NONBLOCK));
	cargo[0] = sv[1];
	cargo[1] = p[1];
	CHECK_EQ(send_fds(sv[0], cargo, 2), 1);
	CHECK_OK(close(p[1]));
	CHECK_OK(close(sv[1]));
	CHECK(wait_for(READ_EOF, p[0]));
	CHECK(wait_for(PEER_EOF, sv[0]));
	CHECK_ERR(send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(p[0]));
}

/* Three sockets each holding the next in its queue, in a ring nobody can
 * reach, are collected. */
static void
gc_ring_of_three(void)
{
	int pr[3][2], p[2];

	CHECK_OK(pipe2(p, O_NONBLOCK));
	for (int i = 0; i < 3; i++)
		CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, pr[i]));
	for (int i = 0; i < 3; i++)
		CHECK_EQ(send_fd(pr[i][0], pr[(i + 1) % 3][1]), 1);
	CHECK_EQ(send_fd(pr[1][0], p[1]), 1);
	CHECK_OK(close(p[1]));
	for (int i = 0; i < 3; i++)
		close_pair(pr[i]);
	CHECK(wait_for(READ_EOF, p[0]));
	CHECK_OK(close(p[0]));
}

/* A ring with one member still open survives; closing that member makes
 * the ring collectable. */
static void
gc_ring_kept_by_one_member(void)
{
	int pr[3][2], p[2];

	CHECK_OK(pipe2(p, O_NONBLOCK));
	for (int i = 0; i < 3; i++)
		CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, pr[i]));
	for (int i = 0; i < 3; i++)
		CHECK_EQ(send_fd(pr[i][0], pr[(i + 1) % 3][1]), 1);
	CHECK_EQ(send_fd(pr[2][0], p[1]), 1);
	CHECK_OK(close(p[1]));
	for (int i = 0; i < 3; i++)
		CHECK_OK(close(pr[i][0]));
	CHECK_OK(close(pr[1][1]));
	CHECK_OK(close(pr[2][1]));
	CHECK(still_alive(p[0]));
	CHECK_OK(close(pr[0][1]));
	CHECK(wait_for(READ_EOF, p[0]));
	CHECK_OK(close(p[0]));
}

/*
 * A listener sent to its own unaccepted connection and then closed is
 * collected with that connection and what it carries, even while the
 * client is open: the client can only add to a queue nobody can read.
 * The client then reads ECONNRESET once, then EOF.
 */
static void
gc_listener_in_own_embryo(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };

	for (size_t t = 0; t < 2; t++) {
		struct sockaddr_un sun;
		socklen_t len = th_addr_path(&sun, "l");
		int l, c, p[2], cargo[2];

		CHECK_OK(pipe2(p, O_NONBLOCK));
		l = CHECK_OK(socket(AF_UNIX, types[t], 0));
		CHECK_OK(bind(l, (struct sockaddr *)&sun, len));
		CHECK_OK(listen(l, 4));
		c = CHECK_OK(socket(AF_UNIX, types[t], 0));
		CHECK_OK(connect(c, (struct sockaddr *)&sun, len));
		cargo[0] = l;
		cargo[1] = p[1];
		CHECK_EQ(send_fds(c, cargo, 2), 1);
		CHECK_OK(close(p[1]));
		CHECK_OK(close(l));
		CHECK(wait_for(READ_EOF, p[0]));
		CHECK_OK(close(p[0]));
		CHECK(wait_for(PEER_RESET, c));
		CHECK(holds(PEER_EOF, c));
		CHECK_ERR(send(c, "x", 1, MSG_NOSIGNAL), EPIPE);
		CHECK_OK(close(c));
		CHECK_OK(unlink("l"));
	}
}

/* A cycle carrying a pipe's read end is collected: the write end then
 * gets EPIPE. */
static void
gc_cycle_carries_pipe_read_end(void)
{
	int sv[2], p[2], cargo[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	CHECK_OK(pipe(p));
	cargo[0] = sv[0];
	cargo[1] = p[0];
	CHECK_EQ(send_fds(sv[1], cargo, 2), 1);
	CHECK_EQ(send_fd(sv[0], sv[1]), 1);
	CHECK_OK(close(p[0]));
	close_pair(sv);
	CHECK(wait_for(WRITE_EPIPE, p[1]));
	CHECK_OK(close(p[1]));
}

/* A cycle carrying one end of another socketpair is collected: the other
 * end then reads EOF. */
static void
gc_cycle_carries_socket(void)
{
	int sv[2], q[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, q));
	CHECK_EQ(send_fd(sv[0], sv[1]), 1);
	CHECK_EQ(send_fd(sv[1], sv[0]), 1);
	CHECK_EQ(send_fd(sv[1], q[0]), 1);
	CHECK_OK(close(q[0]));
	close_pair(sv);
	CHECK(wait_for(PEER_EOF, q[1]));
	CHECK_OK(close(q[1]));
}

/* A socket in flight whose receiver is still open survives the collector
 * and works once received. */
static void
gc_reachable_survives(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		int sv[2], p[2], cargo[2], got[8], n;
		char buf[8];

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		CHECK_OK(pipe2(p, O_NONBLOCK));
		cargo[0] = sv[0];
		cargo[1] = p[1];
		CHECK_EQ(send_fds(sv[0], cargo, 2), 1);	/* into sv[1] */
		CHECK_OK(close(p[1]));
		CHECK_OK(close(sv[0]));
		CHECK(still_alive(p[0]));
		n = recv_fds(sv[1], got);
		CHECK_EQ(n, 2);
		if (n >= 1) {
			CHECK_EQ(send(got[0], "ok", 2, 0), 2);
			CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 2);
			CHECK_MEM(buf, "ok", 2);
		}
		for (int i = 0; i < n; i++)
			CHECK_OK(close(got[i]));
		CHECK_OK(close(sv[1]));
		CHECK(wait_for(READ_EOF, p[0]));
		CHECK_OK(close(p[0]));
	}
}

/* A cycle that another open socket's queue still points into is not
 * garbage: it survives, and its sockets work once received. */
static void
gc_cycle_reachable_from_outside(void)
{
	int sv[2], xy[2], p[2], cargo[2], a[8], b[8], na, nb;
	char buf[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, xy));
	CHECK_OK(pipe2(p, O_NONBLOCK));
	cargo[0] = sv[0];
	cargo[1] = p[1];
	CHECK_EQ(send_fds(sv[0], cargo, 2), 1);	/* sv[0] into sv[1]'s queue */
	CHECK_EQ(send_fd(sv[1], sv[1]), 1);	/* sv[1] into sv[0]'s queue */
	CHECK_EQ(send_fd(xy[0], sv[1]), 1);	/* and into xy[1]'s queue */
	CHECK_OK(close(p[1]));
	close_pair(sv);
	CHECK(still_alive(p[0]));
	nb = recv_fds(xy[1], b);		/* sv[1] again */
	CHECK_EQ(nb, 1);
	if (nb == 1) {
		na = recv_fds(b[0], a);		/* sv[0] and the pipe */
		CHECK_EQ(na, 2);
		if (na >= 1) {
			CHECK_EQ(send(a[0], "hi", 2, 0), 2);
			CHECK_EQ(recv(b[0], buf, sizeof(buf), 0), 2);
			CHECK_MEM(buf, "hi", 2);
		}
		for (int i = 0; i < na; i++)
			CHECK_OK(close(a[i]));
		CHECK_OK(close(b[0]));
	}
	CHECK(wait_for(READ_EOF, p[0]));
	CHECK_OK(close(p[0]));
	close_pair(xy);
}

/* Two independent cycles are both collected. */
static void
gc_two_cycles(void)
{
	int sv[2][2], p[2][2];

	for (int i = 0; i < 2; i++) {
		CHECK_OK(socketpair(AF_UNIX, i ? SOCK_DGRAM : SOCK_STREAM, 0,
				    sv[i]));
		CHECK_OK(pipe2(p[i], O_NONBLOCK));
		CHECK_EQ(send_fd(sv[i][0], sv[i][1]), 1);
		CHECK_EQ(send_fd(sv[i][1], sv[i][0]), 1);
		CHECK_EQ(send_fd(sv[i][1], p[i][1]), 1);
		CHECK_OK(close(p[i][1]));
	}
	for (int i = 0; i < 2; i++)
		close_pair(sv[i]);
	for (int i = 0; i < 2; i++) {
		CHECK(wait_for(READ_EOF, p[i][0]));
		CHECK_OK(close(p[i][0]));
	}
}

/* A cycle whose member sockets also carry each other many times over is
 * collected all the same. */
static void
gc_cycle_many_references(void)
{
	int sv[2], p[2], cargo[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_OK(pipe2(p, O_NONBLOCK));
	for (int i = 0; i < 8; i++)
		cargo[i] = sv[i & 1];
	for (int round = 0; round < 4; round++) {
		CHECK_EQ(send_fds(sv[0], cargo, 8), 1);
		CHECK_EQ(send_fds(sv[1], cargo, 8), 1);
	}
	CHECK_EQ(send_fd(sv[0], p[1]), 1);
	CHECK_OK(close(p[1]));
	close_pair(sv);
	CHECK(wait_for(READ_EOF, p[0]));
	CHECK_OK(close(p[0]));
}

static const struct th_test tests[] = {
	{ "gc_pair_sent_over_itself", gc_pair_sent_over_itself },
	{ "gc_socket_in_own_queue", gc_socket_in_own_queue },
	{ "gc_ring_of_three", gc_ring_of_three },
	{ "gc_ring_kept_by_one_member", gc_ring_kept_by_one_member },
	{ "gc_listener_in_own_embryo", gc_listener_in_own_embryo },
	{ "gc_cycle_carries_pipe_read_end", gc_cycle_carries_pipe_read_end },
	{ "gc_cycle_carries_socket", gc_cycle_carries_socket },
	{ "gc_reachable_survives", gc_reachable_survives },
	{ "gc_cycle_reachable_from_outside", gc_cycle_reachable_from_outside },
	{ "gc_two_cycles", gc_two_cycles },
	{ "gc_cycle_many_references", gc_cycle_many_references },
};

TH_MAIN(tests)

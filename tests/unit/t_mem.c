/*
 * Unit tests: what sockets cost in memory, counted in the bytes ksock
 * asks its port for (the allocation accounting every unit test runs on),
 * as the benchmark's "memory per idle socket" counts them on the ksock
 * side before the personality's own records.
 *
 * The budget is issue 12's: at most 320 bytes per idle socket through
 * ks_*. The collector's per-socket state exists only while a list of
 * descriptors carries the socket, so an idle or connected socket does
 * not pay for it, and a socket that was in flight pays nothing once it
 * has been received.
 */
#include <stdatomic.h>

#include "unit.h"

/* The most an idle AF_UNIX socket may cost through ks_*. */
#define IDLE_SOCKET_BUDGET	320

static const int all_types[] = {
	KS_SOCK_STREAM, KS_SOCK_DGRAM, KS_SOCK_SEQPACKET,
};
#define NTYPES	(sizeof(all_types) / sizeof(all_types[0]))

/* Bytes the port has handed out since count_bytes(), less those freed. */
static atomic_long live_bytes;
static void *(*port_alloc)(size_t size);
static void (*port_free)(void *p, size_t size);

static void *
counting_alloc(size_t size)
{
	void *p = port_alloc(size);

	if (p != NULL)
		atomic_fetch_add(&live_bytes, (long)size);
	return p;
}

static void
counting_free(void *p, size_t size)
{
	if (p != NULL)
		atomic_fetch_sub(&live_bytes, (long)size);
	port_free(p, size);
}

/* Routes the port's allocations through the counters (the harness's own
 * hooks still run underneath, so injected failures are seen). */
static void
count_bytes(void)
{
	struct ks_port *port = ut_port_edit();

	port_alloc = port->alloc;
	port_free = port->free;
	port->alloc = counting_alloc;
	port->free = counting_free;
}

/* An idle socket of each type costs at most the budget. */
static void
t_idle_socket_within_budget(void)
{
	count_bytes();
	for (size_t i = 0; i < NTYPES && ut_live(); i++) {
		long before = atomic_load(&live_bytes);
		struct ks_sock *so = ut_socket(all_types[i]);
		long cost = atomic_load(&live_bytes) - before;

		if (so == NULL)
			break;
		CHECK(cost > 0);
		if (cost > IDLE_SOCKET_BUDGET)
			ut_fail(__FILE__, __LINE__, "type %d: %ld bytes",
				all_types[i], cost);
		ut_close(&so);
	}
}

/* A socketpair of each type costs at most the budget per socket, and
 * sending and reading data leaves it at that cost. */
static void
t_idle_pair_within_budget(void)
{
	count_bytes();
	for (size_t i = 0; i < NTYPES && ut_live(); i++) {
		long before = atomic_load(&live_bytes), cost;
		struct ks_sock *s[2];
		char b[4];

		ut_pair(all_types[i], s);
		if (s[0] == NULL)
			break;
		cost = atomic_load(&live_bytes) - before;
		if (cost > 2 * IDLE_SOCKET_BUDGET)
			ut_fail(__FILE__, __LINE__, "type %d: %ld bytes a pair",
				all_types[i], cost);
		EQ(ut_send(s[0], "abc", 3, 0), 3);
		EQ(ut_recv(s[1], b, sizeof(b), 0), 3);
		CHECK_EQ(atomic_load(&live_bytes) - before, cost);
		ut_close(&s[0]);
		ut_close(&s[1]);
	}
}

/* Sends socket @fd over @s in one SCM_RIGHTS header (never blocking). */
static long
send_fd(int s, int fd)
{
	union {
		char		buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr	align;
	} u;
	struct iovec iov = { "g", 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	memset(&u, 0, sizeof(u));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return ksp_sendmsg(s, &msg, MSG_DONTWAIT) < 0 ? -(long)errno : 1;
}

/* Receives one byte and one descriptor into *@fd (-1 if none came). */
static long
recv_fd(int s, int *fd)
{
	union {
		char		buf[CMSG_SPACE(sizeof(int))];
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

	*fd = -1;
	r = ksp_recvmsg(s, &msg, MSG_DONTWAIT);
	if (r < 0)
		return -(long)errno;
	c = CMSG_FIRSTHDR(&msg);
	if (c != NULL && c->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(c), sizeof(int));
	return r;
}

/*
 * A socket in flight costs its collector state while a message carries
 * it, and nothing more once the message is read: received, it is back to
 * the cost of the same socket never sent.
 */
static void
t_vertex_only_while_carried(void)
{
	int sv[2] = { -1, -1 }, x[2] = { -1, -1 }, got = -1;
	long idle, carried;

	count_bytes();
	EQ(ksp_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ? -errno : 0, 0);
	EQ(ksp_socketpair(AF_UNIX, SOCK_DGRAM, 0, x) < 0 ? -errno : 0, 0);
	if (!ut_live())
		goto close;
	idle = atomic_load(&live_bytes);
	EQ(send_fd(sv[0], x[0]), 1);
	carried = atomic_load(&live_bytes);
	EQ(recv_fd(sv[1], &got), 1);
	CHECK(got >= 0);
	/* The message, its list of files and the vertex were freed. */
	CHECK(carried > idle);
	CHECK_EQ(atomic_load(&live_bytes), idle);
	/* Sent again, it gets a vertex again, and loses it again. */
	EQ(send_fd(sv[0], got), 1);
	CHECK_EQ(atomic_load(&live_bytes), carried);
	if (got >= 0)
		ksp_close(got);
	EQ(recv_fd(sv[1], &got), 1);
	CHECK_EQ(atomic_load(&live_bytes), idle);
close:
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			ksp_close(sv[i]);
		if (x[i] >= 0)
			ksp_close(x[i]);
	}
	if (got >= 0)
		ksp_close(got);
}

/*
 * The rare SOL_SOCKET options cost nothing until one is set to something
 * other than its default, and read back what was set either way.
 */
static void
t_rare_options_cost_when_set(void)
{
	struct ks_sock *so;
	long before;
	int v = -1;

	count_bytes();
	so = ut_socket(KS_SOCK_STREAM);
	before = atomic_load(&live_bytes);
	EQ(ut_setint(so, KS_SO_PRIORITY, 0), 0);
	EQ(ut_setint(so, KS_SO_TIMESTAMPING_OLD, 0), 0);
	CHECK_EQ(atomic_load(&live_bytes), before);
	EQ(ut_getint(so, KS_SO_PRIORITY, &v), 0);
	CHECK_EQ(v, 0);
	EQ(ut_setint(so, KS_SO_PRIORITY, 5), 0);
	CHECK(atomic_load(&live_bytes) > before);
	EQ(ut_getint(so, KS_SO_PRIORITY, &v), 0);
	CHECK_EQ(v, 5);
	EQ(ut_setint(so, KS_SO_PRIORITY, 0), 0);
	EQ(ut_getint(so, KS_SO_PRIORITY, &v), 0);
	CHECK_EQ(v, 0);
	EQ(ut_getint(so, KS_SO_TIMESTAMPING_OLD, &v), 0);
	CHECK_EQ(v, 0);
	ut_close(&so);
}

static const struct ut_test tests[] = {
	{ "rare_options_cost_when_set",	t_rare_options_cost_when_set, 0 },
	{ "idle_socket_within_budget",	t_idle_socket_within_budget, 0 },
	{ "idle_pair_within_budget",	t_idle_pair_within_budget, 0 },
	{ "vertex_only_while_carried",	t_vertex_only_while_carried, 0 },
};

UT_MAIN(tests)

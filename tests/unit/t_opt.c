/*
 * Unit tests: socket options through ks_getsockopt/ks_setsockopt. The
 * read-only identity options, buffer sizes (doubled, with minimums),
 * timeouts, stored-only options, SO_ERROR, SO_PASSCRED, lengths, and
 * levels other than SOL_SOCKET.
 */
#include "unit.h"

/* SO_TYPE, SO_DOMAIN and SO_PROTOCOL read back; they cannot be set. */
static void
t_identity_options(void)
{
	static const int types[] = {
		KS_SOCK_STREAM, KS_SOCK_DGRAM, KS_SOCK_SEQPACKET,
	};

	for (size_t i = 0; i < 3; i++) {
		struct ks_sock *so = ut_socket(types[i]);
		int v = -1;

		EQ(ut_getint(so, KS_SO_TYPE, &v), 0);
		CHECK_EQ(v, types[i]);
		EQ(ut_getint(so, KS_SO_DOMAIN, &v), 0);
		CHECK_EQ(v, KS_AF_UNIX);
		EQ(ut_getint(so, KS_SO_PROTOCOL, &v), 0);
		CHECK_EQ(v, 0);
		EQ(ut_getint(so, KS_SO_ACCEPTCONN, &v), 0);
		CHECK_EQ(v, 0);
		ERR(ut_setint(so, KS_SO_TYPE, 1), -KS_ENOPROTOOPT);
		ut_close(&so);
	}
}

/* SO_SNDBUF and SO_RCVBUF store twice the value, at least 4608 and 2304,
 * and start at 212992. */
static void
t_buffer_sizes(void)
{
	static const struct { int name, set, want; } cases[] = {
		{ KS_SO_SNDBUF, 10000, 20000 },
		{ KS_SO_SNDBUF, 1, 4608 },
		{ KS_SO_RCVBUF, 10000, 20000 },
		{ KS_SO_RCVBUF, 1, 2304 },
	};
	struct ks_sock *so = ut_socket(KS_SOCK_STREAM);
	int v = -1;

	EQ(ut_getint(so, KS_SO_SNDBUF, &v), 0);
	CHECK_EQ(v, 212992);
	EQ(ut_getint(so, KS_SO_RCVBUF, &v), 0);
	CHECK_EQ(v, 212992);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EQ(ut_setint(so, cases[i].name, cases[i].set), 0);
		EQ(ut_getint(so, cases[i].name, &v), 0);
		CHECK_EQ(v, cases[i].want);
	}
}

/* SO_RCVTIMEO and SO_SNDTIMEO start at 0 and read back what was set;
 * tv_usec out of range is EDOM, a short value EINVAL. */
static void
t_timeouts(void)
{
	struct ks_sock *so = ut_socket(KS_SOCK_DGRAM);
	struct ks_timeval tv = { 1, 500000 }, got = { -1, -1 };
	uint32_t len = sizeof(got);

	EQ(ks_getsockopt(so, KS_SOL_SOCKET, KS_SO_RCVTIMEO, &got, &len), 0);
	CHECK_EQ(len, sizeof(got));
	CHECK_EQ(got.tv_sec, 0);
	CHECK_EQ(got.tv_usec, 0);
	EQ(ks_setsockopt(so, KS_SOL_SOCKET, KS_SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	EQ(ks_setsockopt(so, KS_SOL_SOCKET, KS_SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	len = sizeof(got);
	EQ(ks_getsockopt(so, KS_SOL_SOCKET, KS_SO_RCVTIMEO, &got, &len), 0);
	CHECK_EQ(got.tv_sec, 1);
	CHECK_EQ(got.tv_usec, 500000);
	len = sizeof(got);
	EQ(ks_getsockopt(so, KS_SOL_SOCKET, KS_SO_SNDTIMEO, &got, &len), 0);
	CHECK_EQ(got.tv_sec, 1);
	CHECK_EQ(got.tv_usec, 500000);
	tv.tv_usec = 1000000;
	ERR(ks_setsockopt(so, KS_SOL_SOCKET, KS_SO_RCVTIMEO, &tv, sizeof(tv)),
	    -KS_EDOM);
	ERR(ks_setsockopt(so, KS_SOL_SOCKET, KS_SO_RCVTIMEO, &tv, 4),
	    -KS_EINVAL);
}

/* SO_REUSEADDR, SO_KEEPALIVE and SO_LINGER are stored and read back. */
static void
t_stored_options(void)
{
	struct ks_sock *so = ut_socket(KS_SOCK_STREAM);
	struct ks_linger lg = { 1, 7 }, got = { 0, 0 };
	uint32_t len = sizeof(got);
	int v = -1;

	EQ(ut_getint(so, KS_SO_REUSEADDR, &v), 0);
	CHECK_EQ(v, 0);
	EQ(ut_setint(so, KS_SO_REUSEADDR, 5), 0);
	EQ(ut_getint(so, KS_SO_REUSEADDR, &v), 0);
	CHECK_EQ(v, 1);
	EQ(ut_setint(so, KS_SO_KEEPALIVE, 1), 0);
	EQ(ut_getint(so, KS_SO_KEEPALIVE, &v), 0);
	CHECK_EQ(v, 1);
	EQ(ks_setsockopt(so, KS_SOL_SOCKET, KS_SO_LINGER, &lg, sizeof(lg)), 0);
	EQ(ks_getsockopt(so, KS_SOL_SOCKET, KS_SO_LINGER, &got, &len), 0);
	CHECK_EQ(len, sizeof(got));
	CHECK_EQ(got.l_onoff, 1);
	CHECK_EQ(got.l_linger, 7);
	EQ(ut_setint(so, KS_SO_PASSCRED, 1), 0);
	EQ(ut_getint(so, KS_SO_PASSCRED, &v), 0);
	CHECK_EQ(v, 1);
}

/* SO_ERROR reads a pending error (ECONNRESET after the peer closed with
 * unread data) and clears it. */
static void
t_so_error(void)
{
	struct ks_sock *s[2];
	int v = -1;

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_getint(s[0], KS_SO_ERROR, &v), 0);
	CHECK_EQ(v, 0);
	EQ(ut_send(s[0], "x", 1, 0), 1);
	ut_close(&s[1]);
	EQ(ut_getint(s[0], KS_SO_ERROR, &v), 0);
	CHECK_EQ(v, KS_ECONNRESET);
	EQ(ut_getint(s[0], KS_SO_ERROR, &v), 0);
	CHECK_EQ(v, 0);
	if (ut_live())
		CHECK_EQ(ks_poll(s[0], NULL) & KS_POLLERR, 0);
}

/* Another level is EOPNOTSUPP; an unknown SOL_SOCKET option is
 * ENOPROTOOPT; a short length for an int option is EINVAL on set. */
static void
t_option_errors(void)
{
	struct ks_sock *so = ut_socket(KS_SOCK_STREAM);
	int v = 1;
	uint32_t len = sizeof(v);
	char c = 1;

	ERR(ks_setsockopt(so, 6 /* SOL_TCP */, 1, &v, sizeof(v)),
	    -KS_EOPNOTSUPP);
	ERR(ks_getsockopt(so, 6, 1, &v, &len), -KS_EOPNOTSUPP);
	ERR(ut_setint(so, 9999, 1), -KS_ENOPROTOOPT);
	ERR(ks_setsockopt(so, KS_SOL_SOCKET, KS_SO_KEEPALIVE, &c, 1),
	    -KS_EINVAL);
}

/* The groups the port reports for the calling process, for
 * SO_PEERGROUPS. */
static uint32_t fake_gids[3] = { 5, 7, 9 };
static unsigned fake_ngroups;

static unsigned
fake_groups(uint32_t *gids, unsigned max)
{
	for (unsigned i = 0; i < fake_ngroups && i < max; i++)
		gids[i] = fake_gids[i];
	return fake_ngroups;
}

/*
 * SO_PEERGROUPS: ENODATA before credentials are recorded; the groups of
 * the socketpair's creator, of the listener (at listen time) for the
 * client, of the client (at connect time) for the accepted socket;
 * ERANGE with the length needed when the buffer is short; empty with no
 * groups. Every allocation it makes may fail cleanly.
 */
static void
t_peergroups(void)
{
	struct ks_sockaddr_un a;
	uint32_t alen = ut_abstract(&a, "pg");
	struct ks_sock *s[2], *l, *c, *acc, *lone;
	uint32_t gids[8], len;

	ut_port_edit()->groups = fake_groups;
	fake_ngroups = 3;
	lone = ut_socket(KS_SOCK_STREAM);
	len = sizeof(gids);
	ERR(ks_getsockopt(lone, KS_SOL_SOCKET, KS_SO_PEERGROUPS, gids, &len),
	    -KS_ENODATA);
	ut_pair(KS_SOCK_DGRAM, s);
	len = sizeof(gids);
	EQ(ks_getsockopt(s[0], KS_SOL_SOCKET, KS_SO_PEERGROUPS, gids, &len), 0);
	CHECK_EQ(len, 12);
	CHECK_MEM(gids, fake_gids, 12);
	len = 4;
	ERR(ks_getsockopt(s[1], KS_SOL_SOCKET, KS_SO_PEERGROUPS, gids, &len),
	    -KS_ERANGE);
	CHECK_EQ(len, 12);
	len = 0;
	ERR(ks_getsockopt(s[1], KS_SOL_SOCKET, KS_SO_PEERGROUPS, gids, &len),
	    -KS_ERANGE);
	CHECK_EQ(len, 12);

	l = ut_socket(KS_SOCK_STREAM);
	OK(ks_bind(l, &a, alen));
	OK(ks_listen(l, 1));
	fake_gids[0] = 6;			/* the client's differ */
	fake_ngroups = 2;
	c = ut_socket(KS_SOCK_STREAM);
	OK(ks_connect(c, &a, alen));
	acc = ut_accept(l);
	len = sizeof(gids);
	EQ(ks_getsockopt(c, KS_SOL_SOCKET, KS_SO_PEERGROUPS, gids, &len), 0);
	CHECK_EQ(len, 12);
	CHECK_EQ(gids[0], 5);
	len = sizeof(gids);
	EQ(ks_getsockopt(acc, KS_SOL_SOCKET, KS_SO_PEERGROUPS, gids, &len), 0);
	CHECK_EQ(len, 8);
	CHECK_EQ(gids[0], 6);
	CHECK_EQ(gids[1], 7);

	fake_ngroups = 0;
	ut_close(&s[0]);
	ut_close(&s[1]);
	ut_pair(KS_SOCK_STREAM, s);
	len = sizeof(gids);
	EQ(ks_getsockopt(s[0], KS_SOL_SOCKET, KS_SO_PEERGROUPS, gids, &len), 0);
	CHECK_EQ(len, 0);
	fake_gids[0] = 5;
}

/* A process whose only privilege is @granted_cap (-1: none). */
static int granted_cap = -1;

static bool
one_cap_capable(enum ks_cap cap)
{
	return (int)cap == granted_cap;
}

/*
 * SO_MARK needs CAP_NET_ADMIN or CAP_NET_RAW (Linux since 5.17; measured
 * here with capsh dropping one, then both): either alone lets a process
 * set it, neither is EPERM and leaves the mark as it was.
 */
static void
t_mark_privilege(void)
{
	static const struct {
		int	cap;
		int	want;
	} cases[] = {
		{ KS_CAP_NET_ADMIN,	0 },
		{ KS_CAP_NET_RAW,	0 },
		{ KS_CAP_SYS_ADMIN,	-KS_EPERM },
		{ -1,			-KS_EPERM },
	};
	struct ks_sock *so;
	int v;

	ut_port_edit()->capable = one_cap_capable;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		granted_cap = cases[i].cap;
		so = ut_socket(KS_SOCK_DGRAM);
		EQ(ut_setint(so, KS_SO_MARK, 7), cases[i].want);
		EQ(ut_getint(so, KS_SO_MARK, &v), 0);
		CHECK_EQ(v, cases[i].want == 0 ? 7 : 0);
		ut_close(&so);
	}
}

static const struct ut_test tests[] = {
	{ "identity_options",	t_identity_options, 0 },
	{ "buffer_sizes",	t_buffer_sizes, 0 },
	{ "timeouts",		t_timeouts, 0 },
	{ "stored_options",	t_stored_options, 0 },
	{ "so_error",		t_so_error, 0 },
	{ "option_errors",	t_option_errors, 0 },
	{ "peergroups",		t_peergroups, 0 },
	{ "mark_privilege",	t_mark_privilege, 0 },
};

UT_MAIN(tests)

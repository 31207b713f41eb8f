/*
 * Unit tests: socket lifecycle through the object API. Creating and
 * closing every type, argument errors, socketpair, the non-blocking flag,
 * references (ks_sock_hold), socket ids, closing with unread data or
 * unaccepted connections, and ks_fini() refusing while sockets live.
 */
#include "unit.h"

static const int all_types[] = {
	KS_SOCK_STREAM, KS_SOCK_DGRAM, KS_SOCK_SEQPACKET,
};
#define NTYPES	(sizeof(all_types) / sizeof(all_types[0]))

/* Every type can be created and closed; family and type read back (RAW
 * is DGRAM, and the flags are not part of the type). */
static void
t_create_close_every_type(void)
{
	static const struct { int type, want; } cases[] = {
		{ KS_SOCK_STREAM, KS_SOCK_STREAM },
		{ KS_SOCK_DGRAM, KS_SOCK_DGRAM },
		{ KS_SOCK_SEQPACKET, KS_SOCK_SEQPACKET },
		{ KS_SOCK_RAW, KS_SOCK_DGRAM },
		{ KS_SOCK_STREAM | KS_SOCK_NONBLOCK, KS_SOCK_STREAM },
		{ KS_SOCK_DGRAM | KS_SOCK_CLOEXEC, KS_SOCK_DGRAM },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ks_sock *so = ut_socket(cases[i].type);
		int v = -1;

		if (so == NULL)
			break;
		CHECK_EQ(ks_sock_family(so), KS_AF_UNIX);
		CHECK_EQ(ks_sock_type(so), cases[i].want);
		EQ(ut_getint(so, KS_SO_TYPE, &v), 0);
		CHECK_EQ(v, cases[i].want);
		ut_close(&so);
	}
}

/* Bad domain, type, flags and protocol fail as Linux fails them, and
 * protocol 1 (PF_UNIX) is accepted. */
static void
t_create_errors(void)
{
	static const struct { int domain, type, proto, err; } cases[] = {
		{ 99, KS_SOCK_STREAM, 0, -KS_EAFNOSUPPORT },
		{ -1, KS_SOCK_STREAM, 0, -KS_EAFNOSUPPORT },
		{ KS_AF_MAX, KS_SOCK_STREAM, 0, -KS_EAFNOSUPPORT },
		{ KS_AF_UNIX, 0, 0, -KS_ESOCKTNOSUPPORT },
		{ KS_AF_UNIX, 4, 0, -KS_ESOCKTNOSUPPORT },
		{ KS_AF_UNIX, 10, 0, -KS_ESOCKTNOSUPPORT },
		{ KS_AF_UNIX, KS_SOCK_STREAM | 0x100, 0, -KS_EINVAL },
		{ KS_AF_UNIX, KS_SOCK_STREAM, 2, -KS_EPROTONOSUPPORT },
		{ KS_AF_UNIX, KS_SOCK_DGRAM, 1, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ks_sock *so = NULL;

		EQ(ks_socket(cases[i].domain, cases[i].type, cases[i].proto,
			     &so), cases[i].err);
		if (cases[i].err == 0)
			ut_track(so);
		else
			CHECK(so == NULL);
		ut_close(&so);
	}
	ERR(ks_socketpair(KS_AF_UNIX, 4, 0, (struct ks_sock *[2]){0}),
	    -KS_ESOCKTNOSUPPORT);
}

/* A socketpair of each type is connected both ways, unbound, and its
 * ends report their creator as peer. */
static void
t_socketpair_every_type(void)
{
	for (size_t i = 0; i < NTYPES; i++) {
		struct ks_sock *s[2];
		struct ks_sockaddr_un a;
		struct ks_ucred cred;
		uint32_t alen, clen;
		char buf[8];

		ut_pair(all_types[i], s);
		for (int end = 0; end < 2 && ut_live(); end++) {
			EQ(ut_send(s[end], "ping", 4, 0), 4);
			EQ(ut_recv(s[!end], buf, sizeof(buf), KS_MSG_DONTWAIT), 4);
			CHECK_MEM(buf, "ping", 4);
			alen = sizeof(a);
			EQ(ks_getsockname(s[end], &a, &alen), 0);
			CHECK_EQ(alen, 2);
			alen = sizeof(a);
			EQ(ks_getpeername(s[end], &a, &alen), 0);
			CHECK_EQ(alen, 2);
			clen = sizeof(cred);
			EQ(ks_getsockopt(s[end], KS_SOL_SOCKET, KS_SO_PEERCRED,
					 &cred, &clen), 0);
			CHECK_EQ(clen, sizeof(cred));
			CHECK_EQ(cred.pid, ksp_getpid());
			CHECK_EQ(cred.uid, ksp_getuid());
			CHECK_EQ(cred.gid, ksp_getgid());
		}
		ut_close(&s[0]);
		ut_close(&s[1]);
	}
}

/* SOCK_NONBLOCK sets the flag on both ends of a pair and on a socket;
 * ks_set_nonblock toggles it; a non-blocking empty recv is EAGAIN. */
static void
t_nonblock_flag(void)
{
	struct ks_sock *s[2], *so;
	char c;

	ut_pair(KS_SOCK_STREAM | KS_SOCK_NONBLOCK, s);
	so = ut_socket(KS_SOCK_DGRAM);
	if (!ut_live())
		return;
	CHECK(ks_is_nonblock(s[0]));
	CHECK(ks_is_nonblock(s[1]));
	CHECK(!ks_is_nonblock(so));
	ERR(ut_recv(s[0], &c, 1, 0), -KS_EAGAIN);
	ks_set_nonblock(s[0], false);
	CHECK(!ks_is_nonblock(s[0]));
	ks_set_nonblock(so, true);
	CHECK(ks_is_nonblock(so));
	ERR(ut_recv(so, &c, 1, 0), -KS_EAGAIN);
	/* FIONBIO is the same flag. */
	int on = 0;
	EQ(ks_ioctl(so, KS_FIONBIO, &on), 0);
	CHECK(!ks_is_nonblock(so));
}

/* F_SETOWN's owner is stored and read back. */
static void
t_owner(void)
{
	struct ks_sock *so = ut_socket(KS_SOCK_STREAM);

	if (so == NULL)
		return;
	CHECK_EQ(ks_get_owner(so), 0);
	ks_set_owner(so, 1234);
	CHECK_EQ(ks_get_owner(so), 1234);
	ks_set_owner(so, -77);
	CHECK_EQ(ks_get_owner(so), -77);
}

/* ks_sock_id is non-zero and unique among live sockets, and a new socket
 * does not reuse the id of one just closed. */
static void
t_sock_id_unique(void)
{
	enum { N = 8 };
	struct ks_sock *so[N] = { 0 };
	uint64_t ids[N + N / 2];
	int nids = 0;

	for (int i = 0; i < N; i++) {
		so[i] = ut_socket(all_types[i % NTYPES]);
		if (so[i] != NULL)
			ids[nids++] = ks_sock_id(so[i]);
	}
	for (int i = 0; i < N; i += 2)
		ut_close(&so[i]);
	for (int i = 0; i < N; i += 2) {
		so[i] = ut_socket(KS_SOCK_STREAM);
		if (so[i] != NULL)
			ids[nids++] = ks_sock_id(so[i]);
	}
	for (int i = 0; i < nids; i++) {
		CHECK(ids[i] != 0);
		for (int j = 0; j < i; j++)
			CHECK(ids[i] != ids[j]);
	}
	CHECK_EQ(nids, N + N / 2);
}

/* ks_fini() refuses with EBUSY while a socket is open, and ksock goes on
 * working (the harness then stops it for real). */
static void
t_fini_busy_while_open(void)
{
	struct ks_sock *s[2];
	char c;

	ut_pair(KS_SOCK_DGRAM, s);
	ERR(ks_fini(), -KS_EBUSY);
	EQ(ut_send(s[0], "x", 1, 0), 1);
	EQ(ut_recv(s[1], &c, 1, 0), 1);
	ut_close(&s[0]);
	ERR(ks_fini(), -KS_EBUSY);
}

/* A held socket stays allocated after ks_close() until released; the
 * id stays readable meanwhile. */
static void
t_hold_outlives_close(void)
{
	struct ks_sock *so = ut_socket(KS_SOCK_SEQPACKET);
	struct ks_sock *held = so;
	uint64_t id;

	if (so == NULL)
		return;
	id = ks_sock_id(so);
	ks_sock_hold(held);
	ut_close(&so);
	CHECK_EQ(ks_sock_id(held), id);
	CHECK_EQ(ks_sock_type(held), KS_SOCK_SEQPACKET);
	ks_sock_release(held);
}

/* A stream or seqpacket peer closing with unread data gives ECONNRESET
 * once, then EOF; a dgram peer's close gives ECONNREFUSED then
 * ENOTCONN to the sender. */
static void
t_close_with_unread_data(void)
{
	static const int types[] = { KS_SOCK_STREAM, KS_SOCK_SEQPACKET };
	struct ks_sock *s[2];
	char buf[8];

	for (size_t i = 0; i < 2; i++) {
		ut_pair(types[i], s);
		EQ(ut_send(s[0], "ab", 2, 0), 2);
		ut_close(&s[1]);
		ERR(ut_recv(s[0], buf, sizeof(buf), 0), -KS_ECONNRESET);
		EQ(ut_recv(s[0], buf, sizeof(buf), 0), 0);
		ERR(ut_send(s[0], "c", 1, KS_MSG_NOSIGNAL), -KS_EPIPE);
		ut_close(&s[0]);
	}
	ut_pair(KS_SOCK_DGRAM, s);
	ut_close(&s[1]);
	ERR(ut_send(s[0], "a", 1, 0), -KS_ECONNREFUSED);
	ERR(ut_send(s[0], "a", 1, 0), -KS_ENOTCONN);
}

/* Unread data queued to a socket is freed when it closes, for every
 * type, in both directions. */
static void
t_close_frees_queued_data(void)
{
	static char big[3000];

	for (size_t i = 0; i < NTYPES; i++) {
		struct ks_sock *s[2];

		ut_pair(all_types[i], s);
		for (int k = 0; k < 4; k++) {
			EQ(ut_send(s[0], big, sizeof(big), KS_MSG_DONTWAIT),
			   (long)sizeof(big));
			EQ(ut_send(s[1], big, 10 + k, KS_MSG_DONTWAIT), 10 + k);
		}
		ut_close(&s[1]);
		ut_close(&s[0]);
	}
}

/* Closing a listener with unaccepted connections (one carrying data)
 * frees them; each client reads ECONNRESET, then EOF, and polls ERR|HUP. */
static void
t_close_listener_with_pending(void)
{
	struct ks_sockaddr_un a;
	uint32_t alen = ut_abstract(&a, "pending");
	struct ks_sock *l = ut_socket(KS_SOCK_STREAM);
	struct ks_sock *c[3] = { 0 };
	char buf[8];

	OK(ks_bind(l, &a, alen));
	OK(ks_listen(l, 8));
	for (int i = 0; i < 3; i++) {
		c[i] = ut_socket(KS_SOCK_STREAM);
		OK(ks_connect(c[i], &a, alen));
	}
	EQ(ut_send(c[0], "zz", 2, 0), 2);
	ut_close(&l);
	for (int i = 0; i < 3 && ut_live(); i++) {
		unsigned ev = ks_poll(c[i], NULL);

		CHECK((ev & (KS_POLLERR | KS_POLLHUP)) ==
		      (KS_POLLERR | KS_POLLHUP));
		ERR(ut_recv(c[i], buf, sizeof(buf), 0), -KS_ECONNRESET);
		EQ(ut_recv(c[i], buf, sizeof(buf), 0), 0);
	}
}

/* Closing both ends and listeners in every order leaves nothing behind
 * (the harness checks the allocation count). */
static void
t_close_orders(void)
{
	struct ks_sockaddr_un a;
	uint32_t alen = ut_abstract(&a, "orders");
	struct ks_sock *l, *c, *srv;

	l = ut_socket(KS_SOCK_SEQPACKET);
	OK(ks_bind(l, &a, alen));
	OK(ks_listen(l, 4));
	for (int order = 0; order < 3; order++) {
		c = ut_socket(KS_SOCK_SEQPACKET);
		OK(ks_connect(c, &a, alen));
		srv = ut_accept(l);
		EQ(ut_send(c, "x", 1, 0), 1);
		EQ(ut_send(srv, "yy", 2, 0), 2);
		if (order == 0) {
			ut_close(&c);
			ut_close(&srv);
		} else if (order == 1) {
			ut_close(&srv);
			ut_close(&c);
		} else {
			ut_close(&l);
			ut_close(&c);
			ut_close(&srv);
		}
	}
}

static const struct ut_test tests[] = {
	{ "create_close_every_type",	t_create_close_every_type, 0 },
	{ "create_errors",		t_create_errors, 0 },
	{ "socketpair_every_type",	t_socketpair_every_type, 0 },
	{ "nonblock_flag",		t_nonblock_flag, 0 },
	{ "owner",			t_owner, 0 },
	{ "sock_id_unique",		t_sock_id_unique, 0 },
	{ "fini_busy_while_open",	t_fini_busy_while_open, 0 },
	{ "hold_outlives_close",	t_hold_outlives_close, 0 },
	{ "close_with_unread_data",	t_close_with_unread_data, 0 },
	{ "close_frees_queued_data",	t_close_frees_queued_data, 0 },
	{ "close_listener_with_pending", t_close_listener_with_pending, 0 },
	{ "close_orders",		t_close_orders, 0 },
};

UT_MAIN(tests)

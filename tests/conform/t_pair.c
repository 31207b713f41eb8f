/*
 * socketpair: every type, flags, the names of the two ends (unbound, and
 * after one end binds), data both ways, errors in the order Linux checks
 * them, and what connection calls do on a pair.
 */
#include "harness.h"

#define NCASES(a)	(sizeof(a) / sizeof((a)[0]))
#define SUN_HDR		offsetof(struct sockaddr_un, sun_path)	/* 2 */

union addr {
	struct sockaddr		sa;
	struct sockaddr_un	sun;
	struct sockaddr_storage	ss;
};

static const int all_types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };

static socklen_t
local_name(int fd, union addr *a)
{
	socklen_t len = sizeof(*a);

	memset(a, 0xee, sizeof(*a));
	CHECK_OK(getsockname(fd, &a->sa, &len));
	return len;
}

static socklen_t
peer_name(int fd, union addr *a)
{
	socklen_t len = sizeof(*a);

	memset(a, 0xee, sizeof(*a));
	CHECK_OK(getpeername(fd, &a->sa, &len));
	return len;
}

static void
close_pair(int sv[2])
{
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* socketpair works for every type (SOCK_RAW as SOCK_DGRAM), giving two
 * distinct descriptors of that type. */
static void
socketpair_all_types(void)
{
	static const struct { int type, want; } cases[] = {
		{ SOCK_STREAM, SOCK_STREAM },
		{ SOCK_DGRAM, SOCK_DGRAM },
		{ SOCK_SEQPACKET, SOCK_SEQPACKET },
		{ SOCK_RAW, SOCK_DGRAM },
	};

	for (size_t i = 0; i < NCASES(cases); i++) {
		int sv[2] = { -1, -1 };

		CHECK_EQ(socketpair(AF_UNIX, cases[i].type, 0, sv), 0);
		CHECK(sv[0] >= 0 && sv[1] >= 0 && sv[0] != sv[1]);
		for (int e = 0; e < 2; e++) {
			int type = -1;
			socklen_t len = sizeof(type);

			CHECK_OK(getsockopt(sv[e], SOL_SOCKET, SO_TYPE, &type,
					    &len));
			CHECK_EQ(type, cases[i].want);
		}
		close_pair(sv);
	}
}

/* socketpair takes the two lowest free descriptors, in order. */
static void
socketpair_lowest_descriptors(void)
{
	int a[2], b[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, a));
	CHECK_EQ(a[1], a[0] + 1);
	close_pair(a);
	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, b));
	CHECK_EQ(b[0], a[0]);
	CHECK_EQ(b[1], a[1]);
	close_pair(b);
}

/* Both ends are unbound: getsockname and getpeername report just the
 * family, length 2. */
static void
socketpair_ends_unbound(void)
{
	for (size_t i = 0; i < NCASES(all_types); i++) {
		int sv[2];
		union addr a;

		CHECK_OK(socketpair(AF_UNIX, all_types[i], 0, sv));
		for (int e = 0; e < 2; e++) {
			CHECK_EQ(local_name(sv[e], &a), SUN_HDR);
			CHECK_EQ(a.sun.sun_family, AF_UNIX);
			CHECK_EQ(((unsigned char *)&a)[SUN_HDR], 0xee);
			CHECK_EQ(peer_name(sv[e], &a), SUN_HDR);
			CHECK_EQ(a.sun.sun_family, AF_UNIX);
			CHECK_EQ(((unsigned char *)&a)[SUN_HDR], 0xee);
		}
		close_pair(sv);
	}
}

/* An end of a pair may still bind; its peer's getpeername then reports
 * that name, and the other end cannot bind the same path. */
static void
socketpair_bind_one_end(void)
{
	for (size_t i = 0; i < NCASES(all_types); i++) {
		int sv[2];
		struct sockaddr_un sun;
		socklen_t len = th_addr_path(&sun, "end");
		union addr a;

		CHECK_OK(socketpair(AF_UNIX, all_types[i], 0, sv));
		CHECK_OK(bind(sv[0], (struct sockaddr *)&sun, len));
		CHECK_EQ(local_name(sv[0], &a), SUN_HDR + 4);
		CHECK_MEM(a.sun.sun_path, "end", 4);
		CHECK_EQ(peer_name(sv[1], &a), SUN_HDR + 4);
		CHECK_MEM(a.sun.sun_path, "end", 4);
		CHECK_EQ(peer_name(sv[0], &a), SUN_HDR);
		close_pair(sv);
		CHECK_OK(unlink("end"));

		/* A second bind: the other end may not take the name. */
		CHECK_OK(socketpair(AF_UNIX, all_types[i], 0, sv));
		CHECK_OK(bind(sv[0], (struct sockaddr *)&sun, len));
		CHECK_ERR(bind(sv[1], (struct sockaddr *)&sun, len), EADDRINUSE);
		CHECK_EQ(local_name(sv[1], &a), SUN_HDR);
		close_pair(sv);
		CHECK_OK(unlink("end"));
	}
}

/* Datagrams from a bound end of a datagram pair carry its name; from an
 * unbound end, no name at all (length 0). */
static void
socketpair_dgram_source_address(void)
{
	const char *u = th_unique();
	struct sockaddr_un sun;
	socklen_t len = th_addr_abstract(&sun, u, strlen(u));
	int sv[2];
	union addr a;
	socklen_t alen;
	char b[4];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_EQ(send(sv[1], "u", 1, 0), 1);
	alen = sizeof(a);
	CHECK_EQ(recvfrom(sv[0], b, sizeof(b), 0, &a.sa, &alen), 1);
	CHECK_EQ(alen, 0);
	CHECK_OK(bind(sv[1], (struct sockaddr *)&sun, len));
	CHECK_EQ(send(sv[1], "b", 1, 0), 1);
	alen = sizeof(a);
	CHECK_EQ(recvfrom(sv[0], b, sizeof(b), 0, &a.sa, &alen), 1);
	CHECK_EQ(alen, len);
	CHECK_MEM(&a, &sun, len);
	close_pair(sv);
}

/* With SO_PASSCRED, sending on an unbound datagram or seqpacket pair end
 * autobinds it, and the peer sees that name; a stream end stays
 * unbound. */
static void
socketpair_passcred_send_autobind(void)
{
	static const struct { int type; bool binds; } cases[] = {
		{ SOCK_STREAM, false },
		{ SOCK_DGRAM, true },
		{ SOCK_SEQPACKET, true },
	};

	for (size_t i = 0; i < NCASES(cases); i++) {
		int sv[2], one = 1;
		union addr a, mine;
		socklen_t mlen, alen;
		char b[4];

		CHECK_OK(socketpair(AF_UNIX, cases[i].type, 0, sv));
		CHECK_OK(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one,
				    sizeof(one)));
		CHECK_EQ(local_name(sv[1], &a), SUN_HDR);
		CHECK_EQ(send(sv[1], "p", 1, 0), 1);
		mlen = local_name(sv[1], &mine);
		alen = sizeof(a);
		CHECK_EQ(recvfrom(sv[0], b, sizeof(b), 0, &a.sa, &alen), 1);
		if (cases[i].binds) {
			CHECK_EQ(mlen, SUN_HDR + 6);
			CHECK_EQ(mine.sun.sun_path[0], '\0');
			CHECK_EQ(alen, mlen);
			CHECK_MEM(&a, &mine, mlen);
			CHECK_EQ(peer_name(sv[0], &a), mlen);
			CHECK_MEM(&a, &mine, mlen);
		} else {
			CHECK_EQ(mlen, SUN_HDR);
			CHECK_EQ(alen, 0);
			CHECK_EQ(peer_name(sv[0], &a), SUN_HDR);
		}
		close_pair(sv);
	}
}

/* Data goes both ways on every type: streams as bytes, the others as
 * records of the sizes sent. */
static void
socketpair_data_both_ways(void)
{
	for (size_t i = 0; i < NCASES(all_types); i++) {
		int sv[2];
		char buf[32];

		CHECK_OK(socketpair(AF_UNIX, all_types[i], 0, sv));
		for (int e = 0; e < 2; e++) {
			int from = sv[e], to = sv[1 - e];

			CHECK_EQ(send(from, "hello", 5, 0), 5);
			CHECK_EQ(write(from, "world!", 6), 6);
			memset(buf, 0, sizeof(buf));
			if (all_types[i] == SOCK_STREAM) {
				CHECK_EQ(recv(to, buf, 11, MSG_WAITALL), 11);
				CHECK_MEM(buf, "helloworld!", 11);
				continue;
			}
			CHECK_EQ(recv(to, buf, sizeof(buf), 0), 5);
			CHECK_MEM(buf, "hello", 5);
			CHECK_EQ(read(to, buf, sizeof(buf)), 6);
			CHECK_MEM(buf, "world!", 6);
		}
		/* Nothing is left over in either direction. */
		CHECK_ERR(recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
		CHECK_ERR(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
		close_pair(sv);
	}
}

/* Several pairs are independent: data sent on one appears only on its
 * own peer. */
static void
socketpair_pairs_independent(void)
{
	int p[4][2];
	char b;

	for (int i = 0; i < 4; i++) {
		CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, p[i]));
		b = (char)('a' + i);
		CHECK_EQ(send(p[i][0], &b, 1, 0), 1);
	}
	for (int i = 3; i >= 0; i--) {
		CHECK_EQ(recv(p[i][1], &b, 1, MSG_DONTWAIT), 1);
		CHECK_EQ(b, 'a' + i);
		CHECK_ERR(recv(p[i][1], &b, 1, MSG_DONTWAIT), EAGAIN);
		CHECK_ERR(recv(p[i][0], &b, 1, MSG_DONTWAIT), EAGAIN);
		close_pair(p[i]);
	}
}

/* SOCK_NONBLOCK and SOCK_CLOEXEC apply to both ends. */
static void
socketpair_flags(void)
{
	static const struct { int flags, fl, fd; } cases[] = {
		{ 0, O_RDWR, 0 },
		{ SOCK_NONBLOCK, O_RDWR | O_NONBLOCK, 0 },
		{ SOCK_CLOEXEC, O_RDWR, FD_CLOEXEC },
		{ SOCK_NONBLOCK | SOCK_CLOEXEC, O_RDWR | O_NONBLOCK, FD_CLOEXEC },
	};

	for (size_t t = 0; t < NCASES(all_types); t++) {
		for (size_t i = 0; i < NCASES(cases); i++) {
			int sv[2];
			char b;

			CHECK_OK(socketpair(AF_UNIX,
					    all_types[t] | cases[i].flags, 0,
					    sv));
			for (int e = 0; e < 2; e++) {
				CHECK_EQ(fcntl(sv[e], F_GETFL), cases[i].fl);
				CHECK_EQ(fcntl(sv[e], F_GETFD), cases[i].fd);
				if (cases[i].fl & O_NONBLOCK)
					CHECK_ERR(recv(sv[e], &b, 1, 0), EAGAIN);
			}
			close_pair(sv);
		}
	}
}

/* Errors come in the order Linux checks: unknown flag bits (EINVAL),
 * family (EAFNOSUPPORT), type out of range (EINVAL), protocol other than
 * 0 or 1 (EPROTONOSUPPORT), unsupported type (ESOCKTNOSUPPORT). No
 * descriptor is left open. */
static void
socketpair_errors(void)
{
	static const struct { int family, type, proto, err; } cases[] = {
		{ AF_UNIX, 0, 0, ESOCKTNOSUPPORT },
		{ AF_UNIX, 4 /* SOCK_RDM */, 0, ESOCKTNOSUPPORT },
		{ AF_UNIX, 6 /* SOCK_DCCP */, 0, ESOCKTNOSUPPORT },
		{ AF_UNIX, 10 /* SOCK_PACKET */, 0, ESOCKTNOSUPPORT },
		{ AF_UNIX, 11, 0, EINVAL },
		{ AF_UNIX, 15, 0, EINVAL },
		{ AF_UNIX, -1, 0, EINVAL },
		{ AF_UNIX, SOCK_STREAM | 0x100000, 0, EINVAL },
		{ AF_UNIX, SOCK_STREAM, 2, EPROTONOSUPPORT },
		{ AF_UNIX, SOCK_DGRAM, -1, EPROTONOSUPPORT },
		{ AF_UNIX, SOCK_SEQPACKET, 17, EPROTONOSUPPORT },
		{ AF_UNIX, 4, 2, EPROTONOSUPPORT },
		{ AF_UNIX, 15, 2, EINVAL },
		{ AF_UNIX, SOCK_STREAM | 0x100000, 2, EINVAL },
		{ AF_UNSPEC, SOCK_STREAM, 0, EAFNOSUPPORT },
		{ 255, SOCK_STREAM, 0, EAFNOSUPPORT },
		{ -1, SOCK_STREAM, 0, EAFNOSUPPORT },
		{ 1234, 15, 2, EAFNOSUPPORT },
		{ 1234, SOCK_STREAM | 0x100000, 2, EINVAL },
	};

	for (size_t i = 0; i < NCASES(cases); i++) {
		int sv[2];

		CHECK_ERR(socketpair(cases[i].family, cases[i].type,
				     cases[i].proto, sv), cases[i].err);
	}
	/* Protocol 1 (PF_UNIX) is as good as 0. */
	int sv[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 1, sv));
	close_pair(sv);
}

/* Families that exist but have no socketpair (IPv4, IPv6) give
 * EOPNOTSUPP. */
static void
socketpair_inet_eopnotsupp(void)
{
	static const int families[] = { AF_INET, AF_INET6 };

	for (size_t i = 0; i < NCASES(families); i++) {
		int sv[2];

		CHECK_ERR(socketpair(families[i], SOCK_STREAM, 0, sv),
			  EOPNOTSUPP);
		CHECK_ERR(socketpair(families[i], SOCK_DGRAM, 0, sv),
			  EOPNOTSUPP);
	}
}

/* The ends of a stream or seqpacket pair are connected: connect gives
 * EISCONN, listen and accept EINVAL. A datagram pair has no accept. */
static void
socketpair_connection_calls(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };
	int l = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	struct sockaddr_un sun;
	socklen_t len = th_addr_path(&sun, "srv");

	CHECK_OK(bind(l, (struct sockaddr *)&sun, len));
	CHECK_OK(listen(l, 1));
	for (size_t i = 0; i < NCASES(types); i++) {
		int sv[2];

		CHECK_OK(socketpair(AF_UNIX, types[i], 0, sv));
		if (types[i] == SOCK_STREAM)
			CHECK_ERR(connect(sv[0], (struct sockaddr *)&sun, len),
				  EISCONN);
		else	/* the lookup, and its type check, come first */
			CHECK_ERR(connect(sv[0], (struct sockaddr *)&sun, len),
				  EPROTOTYPE);
		CHECK_ERR(listen(sv[1], 1), EINVAL);
		CHECK_ERR(accept(sv[1], NULL, NULL), EINVAL);
		close_pair(sv);
	}
	int sv[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_ERR(accept(sv[0], NULL, NULL), EOPNOTSUPP);
	CHECK_ERR(listen(sv[0], 1), EOPNOTSUPP);
	close_pair(sv);
	CHECK_OK(close(l));
	CHECK_OK(unlink("srv"));
}

/* Closing one end of a stream or seqpacket pair gives the other end
 * end of file after any queued data. */
static void
socketpair_close_one_end(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };

	for (size_t i = 0; i < NCASES(types); i++) {
		int sv[2];
		char buf[8];

		CHECK_OK(socketpair(AF_UNIX, types[i], 0, sv));
		CHECK_EQ(send(sv[0], "bye", 3, 0), 3);
		CHECK_OK(close(sv[0]));
		CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 3);
		CHECK_MEM(buf, "bye", 3);
		CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 0);
		CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 0);
		/* The peer is gone, but getpeername still answers. */
		union addr a;
		CHECK_EQ(peer_name(sv[1], &a), SUN_HDR);
		CHECK_OK(close(sv[1]));
	}
}

/* A pair end and its dup are one socket: data sent through the dup is
 * read on the peer, and the pair stays connected until both are closed. */
static void
socketpair_dup_is_same_socket(void)
{
	int sv[2];
	char buf[4];

	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	int d = CHECK_OK(dup(sv[0]));
	CHECK_OK(close(sv[0]));
	CHECK_EQ(send(d, "dup", 3, 0), 3);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 3);
	CHECK_MEM(buf, "dup", 3);
	CHECK_EQ(send(sv[1], "r", 1, 0), 1);
	CHECK_EQ(recv(d, buf, sizeof(buf), 0), 1);
	CHECK_OK(close(d));
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 0);
	CHECK_OK(close(sv[1]));
}

static const struct th_test tests[] = {
	{ "socketpair_all_types", socketpair_all_types },
	{ "socketpair_lowest_descriptors", socketpair_lowest_descriptors },
	{ "socketpair_ends_unbound", socketpair_ends_unbound },
	{ "socketpair_bind_one_end", socketpair_bind_one_end },
	{ "socketpair_dgram_source_address", socketpair_dgram_source_address },
	{ "socketpair_passcred_send_autobind", socketpair_passcred_send_autobind },
	{ "socketpair_data_both_ways", socketpair_data_both_ways },
	{ "socketpair_pairs_independent", socketpair_pairs_independent },
	{ "socketpair_flags", socketpair_flags },
	{ "socketpair_errors", socketpair_errors },
	{ "socketpair_inet_eopnotsupp", socketpair_inet_eopnotsupp },
	{ "socketpair_connection_calls", socketpair_connection_calls },
	{ "socketpair_close_one_end", socketpair_close_one_end },
	{ "socketpair_dup_is_same_socket", socketpair_dup_is_same_socket },
};

TH_MAIN(tests)

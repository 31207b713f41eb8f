/*
 * The SOL_SOCKET options Linux accepts on AF_UNIX beyond the classic
 * ones: their defaults, read-back values, length rules and errors
 * (tables, every type), and their behaviour where AF_UNIX has one:
 * SO_PASSRIGHTS (SCM_RIGHTS to a socket that refuses them is EPERM),
 * SO_INQ (SCM_INQ on stream reads), SO_TIMESTAMP and SO_TIMESTAMPNS
 * (SCM_TIMESTAMP* on datagram and seqpacket reads, none on streams),
 * SO_COOKIE, SO_RCVTIMEO_NEW / SO_SNDTIMEO_NEW, SO_MARK's privilege.
 *
 * Expectations were measured on this machine's kernel (Linux 6.18,
 * without an LSM: SO_PEERSEC is ENOPROTOOPT). This libc's headers may
 * predate some names, so the numbers are spelled out below.
 */
#include <grp.h>
#include <limits.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

#include "harness.h"

#define NCASES(a)	(sizeof(a) / sizeof((a)[0]))

#define O_NO_CHECK		11
#define O_BSDCOMPAT		14
#define O_BINDTODEVICE		25
#define O_TIMESTAMP_OLD		29
#define O_PEERSEC		31
#define O_PASSSEC		34
#define O_TIMESTAMPNS_OLD	35
#define O_MARK			36
#define O_TIMESTAMPING_OLD	37
#define O_COOKIE		57
#define O_TIMESTAMP_NEW		63
#define O_TIMESTAMPNS_NEW	64
#define O_TIMESTAMPING_NEW	65
#define O_RCVTIMEO_NEW		66
#define O_SNDTIMEO_NEW		67
#define O_PEERGROUPS		59
#define O_PASSPIDFD		76
#define O_PEERPIDFD		77
#define O_SCM_PIDFD		4
#define O_PASSRIGHTS		83
#define O_INQ			84
#define O_SCM_INQ		O_INQ

/* SOF_TIMESTAMPING_* */
#define TS_RX_SOFTWARE		(1 << 3)
#define TS_SOFTWARE		(1 << 4)
#define TS_OPT_ID		(1 << 7)
#define TS_OPT_TSONLY		(1 << 11)
#define TS_OPT_STATS		(1 << 12)
#define TS_BIND_PHC		(1 << 15)
#define TS_OPT_ID_TCP		(1 << 16)
#define TS_TX_COMPLETION	(1 << 18)

#define OTHER_UID	4321
#define OTHER_GID	8765

static const int all_types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };

static int
get_int(int fd, int opt)
{
	int v = 0x5a5a5a5a;
	socklen_t len = sizeof(v);

	CHECK_OK(getsockopt(fd, SOL_SOCKET, opt, &v, &len));
	CHECK_EQ(len, sizeof(int));
	return v;
}

/* setsockopt with an int: 0 or -errno. */
static int
set_int(int fd, int opt, int v)
{
	return setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v)) < 0 ? -errno : 0;
}

/* -- tables -- */

/*
 * Each case sets @set on a fresh socket of every type (after checking
 * the default @dflt) and expects @ret (0 or -errno), then reads @want
 * back; a step with @opt 0 ends the list.
 */
struct step {
	int	opt;
	int	set;
	int	ret;
	int	want;
};

static const struct {
	const char	*name;
	int		 opt;
	int		 dflt;
	struct step	 steps[6];
} int_cases[] = {
	{ "SO_NO_CHECK", O_NO_CHECK, 0,
	  { { O_NO_CHECK, 5, 0, 1 }, { O_NO_CHECK, 0, 0, 0 } } },
	{ "SO_PASSSEC", O_PASSSEC, 0,
	  { { O_PASSSEC, -1, 0, 1 }, { O_PASSSEC, 0, 0, 0 } } },
	{ "SO_PASSPIDFD", O_PASSPIDFD, 0,
	  { { O_PASSPIDFD, 7, 0, 1 }, { O_PASSPIDFD, 0, 0, 0 } } },
	{ "SO_BSDCOMPAT", O_BSDCOMPAT, 0,
	  { { O_BSDCOMPAT, 1, 0, 0 } } },
	{ "SO_PASSRIGHTS", O_PASSRIGHTS, 1,
	  { { O_PASSRIGHTS, 0, 0, 0 }, { O_PASSRIGHTS, 7, 0, 1 } } },
	/* Which name reads back true follows the last one set. */
	{ "SO_TIMESTAMP", O_TIMESTAMP_OLD, 0,
	  { { O_TIMESTAMP_OLD, 1, 0, 1 }, { O_TIMESTAMPNS_OLD, 1, 0, 0 },
	    { O_TIMESTAMP_OLD, 1, 0, 1 }, { O_TIMESTAMP_OLD, 0, 0, 0 } } },
	{ "SO_TIMESTAMPNS", O_TIMESTAMPNS_OLD, 0,
	  { { O_TIMESTAMPNS_OLD, 1, 0, 1 }, { O_TIMESTAMP_NEW, 1, 0, 0 },
	    { O_TIMESTAMPNS_NEW, 1, 0, 0 }, { O_TIMESTAMPNS_OLD, 0, 0, 0 } } },
	{ "SO_TIMESTAMP_NEW", O_TIMESTAMP_NEW, 0,
	  { { O_TIMESTAMP_NEW, 2, 0, 1 }, { O_TIMESTAMP_NEW, 0, 0, 0 } } },
	{ "SO_TIMESTAMPNS_NEW", O_TIMESTAMPNS_NEW, 0,
	  { { O_TIMESTAMPNS_NEW, 1, 0, 1 } } },
};

/* Every (option, read-back) pair the timestamp names show at once. */
static const int ts_names[] = {
	O_TIMESTAMP_OLD, O_TIMESTAMPNS_OLD, O_TIMESTAMP_NEW, O_TIMESTAMPNS_NEW,
};

static const struct {
	int	set;		/* the name set to 1 */
	int	want[4];	/* what ts_names[] read then */
} ts_matrix[] = {
	{ O_TIMESTAMP_OLD,	{ 1, 0, 0, 0 } },
	{ O_TIMESTAMPNS_OLD,	{ 0, 1, 0, 0 } },
	{ O_TIMESTAMP_NEW,	{ 0, 0, 1, 0 } },
	{ O_TIMESTAMPNS_NEW,	{ 0, 0, 1, 1 } },
};

static void
int_options(void)
{
	for (size_t t = 0; t < NCASES(all_types); t++) {
		for (size_t i = 0; i < NCASES(int_cases); i++) {
			int fd = CHECK_OK(socket(AF_UNIX, all_types[t], 0));

			if (get_int(fd, int_cases[i].opt) != int_cases[i].dflt)
				th_fail(__FILE__, __LINE__, "%s: default",
					int_cases[i].name);
			for (size_t s = 0; s < 6 && int_cases[i].steps[s].opt;
			     s++) {
				const struct step *st = &int_cases[i].steps[s];
				int r = set_int(fd, st->opt, st->set);

				if (r != st->ret ||
				    get_int(fd, int_cases[i].opt) != st->want)
					th_fail(__FILE__, __LINE__,
						"%s, type %d, step %zu: %d",
						int_cases[i].name,
						all_types[t], s, r);
			}
			/* Less than an int is EINVAL, for every one. */
			CHECK_ERR(setsockopt(fd, SOL_SOCKET, int_cases[i].opt,
					     "", 0), EINVAL);
			CHECK_ERR(setsockopt(fd, SOL_SOCKET, int_cases[i].opt,
					     "\1\0\0", 3), EINVAL);
			CHECK_OK(close(fd));
		}
		for (size_t i = 0; i < NCASES(ts_matrix); i++) {
			int fd = CHECK_OK(socket(AF_UNIX, all_types[t], 0));

			CHECK_EQ(set_int(fd, ts_matrix[i].set, 1), 0);
			for (size_t n = 0; n < NCASES(ts_names); n++)
				if (get_int(fd, ts_names[n]) !=
				    ts_matrix[i].want[n])
					th_fail(__FILE__, __LINE__,
						"set %d: name %d reads %d",
						ts_matrix[i].set, ts_names[n],
						get_int(fd, ts_names[n]));
			CHECK_OK(close(fd));
		}
	}
}

/* SO_PEERSEC without an LSM: ENOPROTOOPT, after the length check a set
 * makes. */
static void
peersec_enoprotoopt(void)
{
	for (size_t t = 0; t < NCASES(all_types); t++) {
		int fd = CHECK_OK(socket(AF_UNIX, all_types[t], 0));
		char buf[64];
		socklen_t len = sizeof(buf);

		CHECK_ERR(getsockopt(fd, SOL_SOCKET, O_PEERSEC, buf, &len),
			  ENOPROTOOPT);
		len = 0;
		CHECK_ERR(getsockopt(fd, SOL_SOCKET, O_PEERSEC, buf, &len),
			  ENOPROTOOPT);
		CHECK_EQ(set_int(fd, O_PEERSEC, 1), -ENOPROTOOPT);
		CHECK_ERR(setsockopt(fd, SOL_SOCKET, O_PEERSEC, buf, 0), EINVAL);
		CHECK_OK(close(fd));
	}
}

/* SO_MARK: stored as set (negative too) by a privileged process; EPERM
 * for another. */
static int
mark_unprivileged(void *arg)
{
	int fd;

	(void)arg;
	if (th_setcred(OTHER_UID, OTHER_GID) < 0) {
		CHECK(!"th_setcred");
		return th_failures();
	}
	fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_EQ(set_int(fd, O_MARK, 1), -EPERM);
	CHECK_EQ(get_int(fd, O_MARK), 0);
	CHECK_OK(close(fd));
	return th_failures();
}

static void
mark_needs_privilege(void)
{
	int fd;

	th_require_root();
	for (size_t t = 0; t < NCASES(all_types); t++) {
		fd = CHECK_OK(socket(AF_UNIX, all_types[t], 0));
		CHECK_EQ(get_int(fd, O_MARK), 0);
		CHECK_EQ(set_int(fd, O_MARK, -5), 0);
		CHECK_EQ(get_int(fd, O_MARK), -5);
		CHECK_ERR(setsockopt(fd, SOL_SOCKET, O_MARK, "", 0), EINVAL);
		CHECK_OK(close(fd));
	}
	CHECK_EQ(th_join(th_fork(mark_unprivileged, NULL)), 0);
}

/* SO_COOKIE: read-only, 8 bytes (a shorter buffer is EINVAL), never 0,
 * the same on every read, different for another socket. */
static void
cookie(void)
{
	int a = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	int b = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	uint64_t c1 = 0, c2 = 0, c3 = 0;
	unsigned char big[16];
	socklen_t len = sizeof(c1);

	CHECK_OK(getsockopt(a, SOL_SOCKET, O_COOKIE, &c1, &len));
	CHECK_EQ(len, 8);
	CHECK(c1 != 0);
	len = sizeof(big);
	memset(big, 0xaa, sizeof(big));
	CHECK_OK(getsockopt(a, SOL_SOCKET, O_COOKIE, big, &len));
	CHECK_EQ(len, 8);
	memcpy(&c2, big, 8);
	CHECK_EQ(c2, c1);
	CHECK_EQ(big[8], 0xaa);
	len = sizeof(c3);
	CHECK_OK(getsockopt(b, SOL_SOCKET, O_COOKIE, &c3, &len));
	CHECK(c3 != 0 && c3 != c1);
	len = 4;
	CHECK_ERR(getsockopt(a, SOL_SOCKET, O_COOKIE, &c2, &len), EINVAL);
	len = 0;
	CHECK_ERR(getsockopt(a, SOL_SOCKET, O_COOKIE, &c2, &len), EINVAL);
	CHECK_EQ(set_int(a, O_COOKIE, 1), -ENOPROTOOPT);
	CHECK_ERR(setsockopt(a, SOL_SOCKET, O_COOKIE, &c1, 8), ENOPROTOOPT);
	CHECK_OK(close(a));
	CHECK_OK(close(b));
}

/* SO_RCVTIMEO_NEW / SO_SNDTIMEO_NEW: a 16-byte struct (64-bit fields),
 * the same timeout the old names read. */
struct sock_tv {
	int64_t	sec, usec;
};

static void
timeouts_new(void)
{
	static const int pairs[2][2] = {
		{ O_RCVTIMEO_NEW, SO_RCVTIMEO }, { O_SNDTIMEO_NEW, SO_SNDTIMEO },
	};

	for (size_t p = 0; p < 2; p++) {
		int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
		struct sock_tv tv = { 1, 500000 }, out;
		struct timeval old;
		socklen_t len = sizeof(out);

		memset(&out, 0x5a, sizeof(out));
		CHECK_OK(getsockopt(fd, SOL_SOCKET, pairs[p][0], &out, &len));
		CHECK_EQ(len, sizeof(out));
		CHECK_EQ(out.sec, 0);
		CHECK_EQ(out.usec, 0);
		CHECK_OK(setsockopt(fd, SOL_SOCKET, pairs[p][0], &tv,
				    sizeof(tv)));
		len = sizeof(out);
		CHECK_OK(getsockopt(fd, SOL_SOCKET, pairs[p][0], &out, &len));
		CHECK_EQ(len, sizeof(out));
		CHECK_EQ(out.sec, 1);
		CHECK_EQ(out.usec, 500000);
		len = sizeof(old);
		CHECK_OK(getsockopt(fd, SOL_SOCKET, pairs[p][1], &old, &len));
		CHECK_EQ(old.tv_sec, 1);
		CHECK_EQ(old.tv_usec, 500000);
		len = 8;
		memset(&out, 0x5a, sizeof(out));
		CHECK_OK(getsockopt(fd, SOL_SOCKET, pairs[p][0], &out, &len));
		CHECK_EQ(len, 8);
		CHECK_EQ(out.sec, 1);
		CHECK_ERR(setsockopt(fd, SOL_SOCKET, pairs[p][0], &tv, 8),
			  EINVAL);
		CHECK_ERR(setsockopt(fd, SOL_SOCKET, pairs[p][0], &tv, 4),
			  EINVAL);
		tv.usec = 1000000;
		CHECK_ERR(setsockopt(fd, SOL_SOCKET, pairs[p][0], &tv,
				     sizeof(tv)), EDOM);
		tv.sec = 0;
		tv.usec = 0;
		CHECK_OK(setsockopt(fd, SOL_SOCKET, pairs[p][0], &tv,
				    sizeof(tv)));
		len = sizeof(out);
		CHECK_OK(getsockopt(fd, SOL_SOCKET, pairs[p][0], &out, &len));
		CHECK_EQ(out.sec, 0);
		CHECK_EQ(out.usec, 0);
		CHECK_OK(close(fd));
	}
}

/* SO_TIMESTAMPING: flags checked and read back with bind_phc 0, as an
 * int or a struct so_timestamping. */
static const struct {
	int	flags;
	int	len;		/* 4: an int; 8: the struct */
	int	ret;
	int	want;		/* flags read back */
} tsing_cases[] = {
	{ TS_RX_SOFTWARE | TS_SOFTWARE,	4, 0,		TS_RX_SOFTWARE | TS_SOFTWARE },
	{ TS_TX_COMPLETION,		4, 0,		TS_TX_COMPLETION },
	{ 1 << 19,			4, -EINVAL,	TS_TX_COMPLETION },
	{ TS_OPT_STATS,			4, -EINVAL,	TS_TX_COMPLETION },
	{ TS_OPT_STATS | TS_OPT_TSONLY,	4, 0,		TS_OPT_STATS | TS_OPT_TSONLY },
	{ TS_OPT_ID_TCP,		4, -EINVAL,	TS_OPT_STATS | TS_OPT_TSONLY },
	{ TS_OPT_ID | TS_OPT_ID_TCP,	4, 0,		TS_OPT_ID | TS_OPT_ID_TCP },
	{ TS_SOFTWARE,			8, 0,		TS_SOFTWARE },
	{ TS_BIND_PHC,			8, -EOPNOTSUPP,	TS_SOFTWARE },
	{ 0,				4, 0,		0 },
};

static void
timestamping_flags(void)
{
	static const int names[] = { O_TIMESTAMPING_OLD, O_TIMESTAMPING_NEW };

	for (size_t n = 0; n < 2; n++) {
		int fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));

		for (size_t i = 0; i < NCASES(tsing_cases); i++) {
			int v[2] = { tsing_cases[i].flags, 3 }, out[2];
			socklen_t len = sizeof(out);
			int r = setsockopt(fd, SOL_SOCKET, names[n], v,
					   (socklen_t)tsing_cases[i].len);

			if ((r < 0 ? -errno : 0) != tsing_cases[i].ret)
				th_fail(__FILE__, __LINE__, "case %zu: %d", i,
					r < 0 ? -errno : 0);
			out[0] = out[1] = -1;
			CHECK_OK(getsockopt(fd, SOL_SOCKET, names[n], out, &len));
			CHECK_EQ(len, 8);
			if (out[0] != tsing_cases[i].want || out[1] != 0)
				th_fail(__FILE__, __LINE__,
					"case %zu: reads %#x, %d", i, out[0],
					out[1]);
		}
		CHECK_ERR(setsockopt(fd, SOL_SOCKET, names[n], "", 0), EINVAL);
		CHECK_OK(close(fd));
	}
}

/* SO_BINDTODEVICE by a process without CAP_NET_RAW: binding an unbound
 * socket is allowed, changing or removing the binding is EPERM. */
static int
bindtodevice_unprivileged(void *arg)
{
	char buf[32];
	socklen_t len = sizeof(buf);
	int fd;

	(void)arg;
	if (th_setcred(OTHER_UID, OTHER_GID) < 0) {
		CHECK(!"th_setcred");
		return th_failures();
	}
	fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(setsockopt(fd, SOL_SOCKET, O_BINDTODEVICE, "lo", 3));
	CHECK_ERR(setsockopt(fd, SOL_SOCKET, O_BINDTODEVICE, "lo", 3), EPERM);
	CHECK_ERR(setsockopt(fd, SOL_SOCKET, O_BINDTODEVICE, "", 0), EPERM);
	CHECK_OK(getsockopt(fd, SOL_SOCKET, O_BINDTODEVICE, buf, &len));
	CHECK_EQ(len, 3);
	CHECK_OK(close(fd));
	return th_failures();
}

/* SO_BINDTODEVICE to the loopback device: stored and read back (into at
 * least IFNAMSIZ bytes, with its NUL); rebinding and unbinding need
 * privilege. */
static void
bindtodevice_loopback(void)
{
	char buf[32];
	socklen_t len;
	int fd;

	th_require_root();
	fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(setsockopt(fd, SOL_SOCKET, O_BINDTODEVICE, "lo", 2));
	len = sizeof(buf);
	memset(buf, 'z', sizeof(buf));
	CHECK_OK(getsockopt(fd, SOL_SOCKET, O_BINDTODEVICE, buf, &len));
	CHECK_EQ(len, 3);
	CHECK_MEM(buf, "lo", 3);
	len = 16;
	CHECK_OK(getsockopt(fd, SOL_SOCKET, O_BINDTODEVICE, buf, &len));
	CHECK_EQ(len, 3);
	len = 15;
	CHECK_ERR(getsockopt(fd, SOL_SOCKET, O_BINDTODEVICE, buf, &len),
		  EINVAL);
	CHECK_ERR(setsockopt(fd, SOL_SOCKET, O_BINDTODEVICE, "ksock-nodev0",
			     13), ENODEV);
	len = sizeof(buf);
	CHECK_OK(getsockopt(fd, SOL_SOCKET, O_BINDTODEVICE, buf, &len));
	CHECK_EQ(len, 3);
	CHECK_OK(setsockopt(fd, SOL_SOCKET, O_BINDTODEVICE, "", 1));
	len = sizeof(buf);
	CHECK_OK(getsockopt(fd, SOL_SOCKET, O_BINDTODEVICE, buf, &len));
	CHECK_EQ(len, 0);
	CHECK_OK(close(fd));
	CHECK_EQ(th_join(th_fork(bindtodevice_unprivileged, NULL)), 0);
}

/* SO_BINDTODEVICE: unbound, it reads back empty; an empty name (or
 * none) unbinds, an unknown device is ENODEV. */
static void
bindtodevice(void)
{
	for (size_t t = 0; t < NCASES(all_types); t++) {
		int fd = CHECK_OK(socket(AF_UNIX, all_types[t], 0));
		char buf[32];
		socklen_t len = sizeof(buf);
		int one = 1;

		CHECK_OK(getsockopt(fd, SOL_SOCKET, O_BINDTODEVICE, buf, &len));
		CHECK_EQ(len, 0);
		len = 0;
		CHECK_OK(getsockopt(fd, SOL_SOCKET, O_BINDTODEVICE, buf, &len));
		CHECK_EQ(len, 0);
		CHECK_OK(setsockopt(fd, SOL_SOCKET, O_BINDTODEVICE, "", 0));
		CHECK_OK(setsockopt(fd, SOL_SOCKET, O_BINDTODEVICE, "", 1));
		CHECK_ERR(setsockopt(fd, SOL_SOCKET, O_BINDTODEVICE,
				     "ksock-nodev0", 13), ENODEV);
		CHECK_ERR(setsockopt(fd, SOL_SOCKET, O_BINDTODEVICE, &one,
				     sizeof(one)), ENODEV);
		CHECK_OK(close(fd));
	}
}

/* SO_INQ: a stream option (exactly an int, 0 or 1) that getsockopt does
 * not know; other types do not know it at all. */
static void
inq_values(void)
{
	int sv[2], fd;
	long eight = 1;
	socklen_t len = sizeof(int);
	int v;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(set_int(sv[0], O_INQ, 1), 0);
	CHECK_EQ(set_int(sv[0], O_INQ, 0), 0);
	CHECK_EQ(set_int(sv[0], O_INQ, 2), -EINVAL);
	CHECK_EQ(set_int(sv[0], O_INQ, -1), -EINVAL);
	CHECK_ERR(setsockopt(sv[0], SOL_SOCKET, O_INQ, &eight, sizeof(eight)),
		  EINVAL);
	CHECK_ERR(setsockopt(sv[0], SOL_SOCKET, O_INQ, &v, 0), EINVAL);
	CHECK_ERR(getsockopt(sv[0], SOL_SOCKET, O_INQ, &v, &len), ENOPROTOOPT);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
	for (size_t t = 1; t < NCASES(all_types); t++) {
		fd = CHECK_OK(socket(AF_UNIX, all_types[t], 0));
		CHECK_EQ(set_int(fd, O_INQ, 1), -ENOPROTOOPT);
		CHECK_ERR(setsockopt(fd, SOL_SOCKET, O_INQ, &v, 0), EINVAL);
		len = sizeof(int);
		CHECK_ERR(getsockopt(fd, SOL_SOCKET, O_INQ, &v, &len),
			  ENOPROTOOPT);
		CHECK_OK(close(fd));
	}
}

/* SO_PEERGROUPS in a process whose supplementary groups are 5, 7, 9:
 * the socketpair's peer reports them (ERANGE when the buffer is short),
 * a socket with no peer credentials recorded ENODATA. */
static int
peergroups_child(void *arg)
{
	static const gid_t set[] = { 5, 7, 9 };
	uint32_t got[8];
	socklen_t len;
	int sv[2], lone;

	(void)arg;
	if (setgroups(3, set) < 0) {
		CHECK(!"setgroups");
		return th_failures();
	}
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	len = sizeof(got);
	CHECK_OK(getsockopt(sv[0], SOL_SOCKET, O_PEERGROUPS, got, &len));
	CHECK_EQ(len, 12);
	CHECK_EQ(got[0], 5);
	CHECK_EQ(got[1], 7);
	CHECK_EQ(got[2], 9);
	len = 13;
	CHECK_OK(getsockopt(sv[1], SOL_SOCKET, O_PEERGROUPS, got, &len));
	CHECK_EQ(len, 12);
	len = 4;
	CHECK_ERR(getsockopt(sv[1], SOL_SOCKET, O_PEERGROUPS, got, &len),
		  ERANGE);
	len = 0;
	CHECK_ERR(getsockopt(sv[1], SOL_SOCKET, O_PEERGROUPS, got, &len),
		  ERANGE);
	CHECK_EQ(set_int(sv[0], O_PEERGROUPS, 1), -ENOPROTOOPT);
	lone = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	len = sizeof(got);
	CHECK_ERR(getsockopt(lone, SOL_SOCKET, O_PEERGROUPS, got, &len),
		  ENODATA);
	CHECK_OK(close(lone));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
	/* No groups: an empty answer. */
	if (setgroups(0, NULL) < 0) {
		CHECK(!"setgroups");
		return th_failures();
	}
	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	len = sizeof(got);
	CHECK_OK(getsockopt(sv[0], SOL_SOCKET, O_PEERGROUPS, got, &len));
	CHECK_EQ(len, 0);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
	return th_failures();
}

static void
peergroups(void)
{
	th_require_root();
	CHECK_EQ(th_join(th_fork(peergroups_child, NULL)), 0);
}

/* -- pidfds -- */

/* A real pidfd for this process and its inode, and the test's (mapped)
 * fstat of @fd: both name the same process when they match. */
static bool
is_our_pidfd(int fd)
{
	struct stat ref, st;
	int r = (int)syscall(SYS_pidfd_open, (pid_t)syscall(SYS_getpid), 0);
	bool same;

	if (r < 0 || syscall(SYS_fstat, r, &ref) < 0) {
		th_fail(__FILE__, __LINE__, "pidfd_open: %s", strerror(errno));
		return false;
	}
	syscall(SYS_close, r);
	if (fstat(fd, &st) < 0)
		return false;
	same = st.st_dev == ref.st_dev && st.st_ino == ref.st_ino;
	return same && (fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

/* SO_PEERPIDFD: ENODATA before credentials are recorded; a new
 * close-on-exec pidfd of the peer's process on every read; read-only. */
static void
peerpidfd(void)
{
	int lone = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	int sv[2], fd = -1, fd2 = -1;
	socklen_t len = sizeof(fd);

	CHECK_ERR(getsockopt(lone, SOL_SOCKET, O_PEERPIDFD, &fd, &len),
		  ENODATA);
	CHECK_OK(close(lone));
	for (size_t t = 0; t < NCASES(all_types); t++) {
		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		len = 16;
		CHECK_OK(getsockopt(sv[0], SOL_SOCKET, O_PEERPIDFD, &fd, &len));
		CHECK_EQ(len, sizeof(int));
		CHECK(is_our_pidfd(fd));
		len = sizeof(fd2);
		CHECK_OK(getsockopt(sv[1], SOL_SOCKET, O_PEERPIDFD, &fd2, &len));
		CHECK(fd2 >= 0 && fd2 != fd);
		CHECK_EQ(set_int(sv[0], O_PEERPIDFD, 1), -ENOPROTOOPT);
		CHECK_OK(close(fd));
		CHECK_OK(close(fd2));
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
}

/*
 * SO_PASSPIDFD: each read gets SCM_PIDFD, a close-on-exec pidfd of the
 * sender, after SCM_CREDENTIALS; MSG_CTRUNC when its header and int do
 * not fit (none installed); nothing for a message queued before the
 * option was on.
 */
static void
pidfd_delivered(void)
{
	for (size_t t = 0; t < NCASES(all_types); t++) {
		union {
			char		buf[128];
			struct cmsghdr	align;
		} u;
		char b[8];
		struct iovec iov = { b, sizeof(b) };
		struct msghdr m;
		struct cmsghdr *c;
		int sv[2], fd = -1, types[4], n = 0;

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		CHECK_EQ(send(sv[0], "q", 1, 0), 1);	/* before: no pid */
		CHECK_EQ(set_int(sv[1], O_PASSPIDFD, 1), 0);
		memset(&m, 0, sizeof(m));
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		m.msg_control = u.buf;
		m.msg_controllen = sizeof(u.buf);
		CHECK_EQ(recvmsg(sv[1], &m, 0), 1);
		CHECK_EQ(m.msg_controllen, 0);
		CHECK_EQ(m.msg_flags, 0);

		CHECK_EQ(send(sv[0], "x", 1, 0), 1);
		m.msg_controllen = sizeof(u.buf);
		CHECK_EQ(recvmsg(sv[1], &m, 0), 1);
		c = CMSG_FIRSTHDR(&m);
		CHECK(c != NULL);
		if (c != NULL) {
			CHECK_EQ(c->cmsg_level, SOL_SOCKET);
			CHECK_EQ(c->cmsg_type, O_SCM_PIDFD);
			CHECK_EQ(c->cmsg_len, CMSG_LEN(sizeof(int)));
			memcpy(&fd, CMSG_DATA(c), sizeof(fd));
			CHECK(is_our_pidfd(fd));
			CHECK_OK(close(fd));
			CHECK(CMSG_NXTHDR(&m, c) == NULL);
		}

		CHECK_EQ(send(sv[0], "x", 1, 0), 1);
		m.msg_controllen = CMSG_LEN(sizeof(int)) - 1;
		CHECK_EQ(recvmsg(sv[1], &m, 0), 1);
		CHECK_EQ(m.msg_controllen, 0);
		CHECK_EQ(m.msg_flags & MSG_CTRUNC, MSG_CTRUNC);
		CHECK_EQ(send(sv[0], "x", 1, 0), 1);
		m.msg_control = NULL;
		m.msg_controllen = 0;
		CHECK_EQ(recvmsg(sv[1], &m, 0), 1);
		CHECK_EQ(m.msg_flags & MSG_CTRUNC, MSG_CTRUNC);

		CHECK_EQ(set_int(sv[1], SO_PASSCRED, 1), 0);
		CHECK_EQ(send(sv[0], "x", 1, 0), 1);
		m.msg_control = u.buf;
		m.msg_controllen = sizeof(u.buf);
		CHECK_EQ(recvmsg(sv[1], &m, 0), 1);
		for (c = CMSG_FIRSTHDR(&m); c != NULL && n < 4;
		     c = CMSG_NXTHDR(&m, c)) {
			types[n++] = c->cmsg_type;
			if (c->cmsg_type == O_SCM_PIDFD) {
				memcpy(&fd, CMSG_DATA(c), sizeof(fd));
				CHECK_OK(close(fd));
			}
		}
		CHECK_EQ(n, 2);
		CHECK_EQ(types[0], SCM_CREDENTIALS);
		CHECK_EQ(types[1], O_SCM_PIDFD);
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
}

/* -- behaviour -- */

/* Sends one byte carrying descriptor @fd; 0 or -errno. */
static int
send_fd(int s, int fd)
{
	union {
		char		buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr	align;
	} u;
	struct iovec iov = { "x", 1 };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	memset(&u, 0, sizeof(u));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	return sendmsg(s, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/*
 * SO_PASSRIGHTS 0 on the receiver makes an SCM_RIGHTS send to it EPERM
 * (plain data still goes); the sender's own setting plays no part; a
 * receiver shut for reading says EPIPE first.
 */
static void
passrights_refuses(void)
{
	for (size_t t = 0; t < NCASES(all_types); t++) {
		int sv[2];
		char c;

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		CHECK_EQ(set_int(sv[0], O_PASSRIGHTS, 0), 0);
		CHECK_EQ(send_fd(sv[0], sv[0]), 0);
		CHECK_EQ(set_int(sv[1], O_PASSRIGHTS, 0), 0);
		CHECK_EQ(send_fd(sv[0], sv[0]), -EPERM);
		CHECK_EQ(send(sv[0], "y", 1, MSG_DONTWAIT), 1);
		CHECK_EQ(recv(sv[1], &c, 1, MSG_DONTWAIT), 1);	/* the first */
		CHECK_EQ(recv(sv[1], &c, 1, MSG_DONTWAIT), 1);
		CHECK_EQ(c, 'y');
		CHECK_ERR(recv(sv[1], &c, 1, MSG_DONTWAIT), EAGAIN);
		CHECK_OK(shutdown(sv[1], SHUT_RD));
		CHECK_EQ(send_fd(sv[0], sv[0]), -EPIPE);
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
}

/* A listener's SO_PASSRIGHTS 0, as it is when a client connects, goes to
 * the connection: refused before and after accept. */
static void
passrights_inherited(void)
{
	struct sockaddr_un sun;
	char name[64];
	socklen_t len;
	int l, c, a;

	snprintf(name, sizeof(name), "%s-pr", th_unique());
	len = th_addr_abstract(&sun, name, strlen(name));
	l = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(l, (struct sockaddr *)&sun, len));
	CHECK_OK(listen(l, 2));
	CHECK_EQ(set_int(l, O_PASSRIGHTS, 0), 0);
	c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&sun, len));
	CHECK_EQ(send_fd(c, c), -EPERM);
	a = CHECK_OK(accept(l, NULL, NULL));
	CHECK_EQ(get_int(a, O_PASSRIGHTS), 0);
	CHECK_EQ(send_fd(c, c), -EPERM);
	CHECK_OK(close(a));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* Reads with a control buffer; returns the count and copies the first
 * control message of @type (if any) to @data, setting *@found to its
 * payload length (-1: none) and *@ncmsg to how many came. */
static ssize_t
recv_cmsg(int s, char *buf, size_t len, int flags, int type, void *data,
	  int *found, int *ncmsg, int *mflags)
{
	union {
		char		buf[256];
		struct cmsghdr	align;
	} u;
	struct iovec iov = { buf, len };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	ssize_t r = recvmsg(s, &m, flags | MSG_DONTWAIT);

	*found = -1;
	*ncmsg = 0;
	*mflags = m.msg_flags;
	if (r < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL;
	     c = CMSG_NXTHDR(&m, c)) {
		(*ncmsg)++;
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == type &&
		    *found < 0) {
			*found = (int)(c->cmsg_len - CMSG_LEN(0));
			memcpy(data, CMSG_DATA(c), (size_t)*found);
		}
	}
	return r;
}

/* SO_INQ on a stream: each read's SCM_INQ says how much is left (a peek
 * counts what is queued); off again, nothing comes. */
static void
inq_delivered(void)
{
	int sv[2], inq = -1, found, n, fl;
	char buf[16];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(set_int(sv[1], O_INQ, 1), 0);
	CHECK_EQ(send(sv[0], "abcdef", 6, 0), 6);
	CHECK_EQ(send(sv[0], "gh", 2, 0), 2);
	CHECK_EQ(recv_cmsg(sv[1], buf, 2, 0, O_SCM_INQ, &inq, &found, &n,
			   &fl), 2);
	CHECK_EQ(found, sizeof(int));
	CHECK_EQ(n, 1);
	CHECK_EQ(inq, 6);
	CHECK_EQ(recv_cmsg(sv[1], buf, 2, MSG_PEEK, O_SCM_INQ, &inq, &found,
			   &n, &fl), 2);
	CHECK_EQ(inq, 6);
	CHECK_EQ(recv_cmsg(sv[1], buf, sizeof(buf), 0, O_SCM_INQ, &inq,
			   &found, &n, &fl), 6);
	CHECK_EQ(found, sizeof(int));
	CHECK_EQ(inq, 0);
	CHECK_EQ(set_int(sv[1], O_INQ, 0), 0);
	CHECK_EQ(send(sv[0], "ij", 2, 0), 2);
	CHECK_EQ(recv_cmsg(sv[1], buf, 1, 0, O_SCM_INQ, &inq, &found, &n,
			   &fl), 1);
	CHECK_EQ(n, 0);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

static long long
realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Datagram and seqpacket readers get the timestamp they asked for, as
 * the one control message of its name's type (16 bytes: seconds and
 * micro- or nanoseconds), within the send and the read; a stream reader
 * gets none, nor does SO_TIMESTAMPING's software receive stamp. Without
 * a control buffer the read says MSG_CTRUNC.
 */
static void
timestamps_delivered(void)
{
	static const int types[] = { SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM };

	for (size_t t = 0; t < NCASES(types); t++) {
		for (size_t n = 0; n < NCASES(ts_names); n++) {
			int sv[2], found, nc, fl;
			int64_t v[2] = { -1, -1 };
			long long t0, t1, at;
			bool ns = ts_names[n] == O_TIMESTAMPNS_OLD ||
				  ts_names[n] == O_TIMESTAMPNS_NEW;
			char buf[8];

			CHECK_OK(socketpair(AF_UNIX, types[t], 0, sv));
			CHECK_EQ(set_int(sv[1], ts_names[n], 1), 0);
			t0 = realtime_us();
			CHECK_EQ(send(sv[0], "ab", 2, 0), 2);
			CHECK_EQ(recv_cmsg(sv[1], buf, sizeof(buf), 0,
					   ts_names[n], v, &found, &nc, &fl), 2);
			t1 = realtime_us();
			if (types[t] == SOCK_STREAM) {
				CHECK_EQ(nc, 0);
			} else {
				CHECK_EQ(nc, 1);
				CHECK_EQ(found, 16);
				at = v[0] * 1000000 + (ns ? v[1] / 1000 : v[1]);
				if (at < t0 - 1 || at > t1 + 1)
					th_fail(__FILE__, __LINE__,
						"stamp %lld not in [%lld, %lld]",
						at, t0, t1);
				CHECK(v[1] >= 0 &&
				      v[1] < (ns ? 1000000000 : 1000000));
				CHECK_EQ(send(sv[0], "c", 1, 0), 1);
				CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 1);
			}
			CHECK_OK(close(sv[0]));
			CHECK_OK(close(sv[1]));
		}
		{
			int sv[2], found, nc, fl, v = TS_RX_SOFTWARE | TS_SOFTWARE;
			int64_t d[2];
			char buf[8];
			struct msghdr m;
			struct iovec iov = { buf, sizeof(buf) };

			CHECK_OK(socketpair(AF_UNIX, types[t], 0, sv));
			CHECK_OK(setsockopt(sv[1], SOL_SOCKET, O_TIMESTAMPING_OLD,
					    &v, sizeof(v)));
			CHECK_EQ(send(sv[0], "ab", 2, 0), 2);
			CHECK_EQ(recv_cmsg(sv[1], buf, sizeof(buf), 0,
					   O_TIMESTAMPING_OLD, d, &found, &nc,
					   &fl), 2);
			CHECK_EQ(nc, 0);
			/* No control buffer at all. */
			CHECK_EQ(set_int(sv[1], O_TIMESTAMP_OLD, 1), 0);
			CHECK_EQ(send(sv[0], "ab", 2, 0), 2);
			memset(&m, 0, sizeof(m));
			m.msg_iov = &iov;
			m.msg_iovlen = 1;
			CHECK_EQ(recvmsg(sv[1], &m, 0), 2);
			CHECK_EQ(m.msg_flags & MSG_CTRUNC,
				 types[t] == SOCK_STREAM ? 0 : MSG_CTRUNC);
			CHECK_OK(close(sv[0]));
			CHECK_OK(close(sv[1]));
		}
	}
}

/*
 * A datagram queued before its reader asked for timestamps is stamped by
 * the first read that wants one, a peek included, and keeps that stamp:
 * the read after a peek reports the same time.
 */
static void
timestamp_kept_after_peek(void)
{
	static const int types[] = { SOCK_DGRAM, SOCK_SEQPACKET };
	const struct timespec pause = { 0, 20 * 1000 * 1000 };

	for (size_t t = 0; t < NCASES(types); t++) {
		int sv[2], found, nc, fl;
		int64_t a[2] = { -1, -1 }, b[2] = { -2, -2 };
		char buf[8];

		CHECK_OK(socketpair(AF_UNIX, types[t], 0, sv));
		CHECK_EQ(send(sv[0], "ab", 2, 0), 2);
		CHECK_EQ(set_int(sv[1], O_TIMESTAMPNS_OLD, 1), 0);
		CHECK_EQ(recv_cmsg(sv[1], buf, sizeof(buf), MSG_PEEK,
				   O_TIMESTAMPNS_OLD, a, &found, &nc, &fl), 2);
		CHECK_EQ(found, 16);
		nanosleep(&pause, NULL);
		CHECK_EQ(recv_cmsg(sv[1], buf, sizeof(buf), 0,
				   O_TIMESTAMPNS_OLD, b, &found, &nc, &fl), 2);
		CHECK_EQ(found, 16);
		CHECK_EQ(b[0], a[0]);
		CHECK_EQ(b[1], a[1]);
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
}

static const struct th_test tests[] = {
	{ "int_options", int_options },
	{ "peersec_enoprotoopt", peersec_enoprotoopt },
	{ "mark_needs_privilege", mark_needs_privilege },
	{ "cookie", cookie },
	{ "timeouts_new", timeouts_new },
	{ "timestamping_flags", timestamping_flags },
	{ "bindtodevice", bindtodevice },
	{ "bindtodevice_loopback", bindtodevice_loopback },
	{ "inq_values", inq_values },
	{ "peergroups", peergroups },
	{ "peerpidfd", peerpidfd },
	{ "pidfd_delivered", pidfd_delivered },
	{ "passrights_refuses", passrights_refuses },
	{ "passrights_inherited", passrights_inherited },
	{ "inq_delivered", inq_delivered },
	{ "timestamps_delivered", timestamps_delivered },
	{ "timestamp_kept_after_peek", timestamp_kept_after_peek },
};

TH_MAIN(tests)

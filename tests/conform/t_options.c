/*
 * Socket options and descriptor flags: the read-only identity options,
 * SO_ACCEPTCONN, SO_ERROR, buffer sizes, timeouts, the stored-only
 * options, SO_PASSCRED, SO_PEERCRED (recorded at socketpair, listen and
 * connect time), optlen handling, other levels, FIONREAD on a listener,
 * O_NONBLOCK through fcntl and FIONBIO.
 *
 * Values that depend on this kind of machine are named constants below;
 * timeouts used are whole numbers of jiffies for any HZ of 100, 250, 300
 * or 1000, so they read back exactly.
 */
#include "harness.h"

#define NCASES(a)	(sizeof(a) / sizeof((a)[0]))

#define DEFAULT_BUF	212992		/* net.core.[wr]mem_default */
#define MAX_BUF_SET	4194304		/* net.core.[wr]mem_max */
#define MIN_SNDBUF	4608		/* SOCK_MIN_SNDBUF on x86_64 */
#define MIN_RCVBUF	2304		/* SOCK_MIN_RCVBUF on x86_64 */

/* Credentials an unprivileged child switches to; any ids will do. */
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

static void
set_int(int fd, int opt, int v)
{
	CHECK_OK(setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v)));
}

static struct ucred
peercred(int fd)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	memset(&uc, 0x5a, sizeof(uc));
	CHECK_OK(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len));
	CHECK_EQ(len, sizeof(uc));
	return uc;
}

#define CHECK_CRED(uc, p, u, g) do {					\
	struct ucred th_uc_ = (uc);					\
	CHECK_EQ(th_uc_.pid, (p));					\
	CHECK_EQ(th_uc_.uid, (u));					\
	CHECK_EQ(th_uc_.gid, (g));					\
} while (0)

/* A listener on a fresh abstract name; fills @sun/@len for connecting. */
static int
abstract_listener(int type, const char *tag, struct sockaddr_un *sun,
		  socklen_t *len)
{
	char name[96];
	int fd = CHECK_OK(socket(AF_UNIX, type, 0));

	snprintf(name, sizeof(name), "%s-%s", th_unique(), tag);
	*len = th_addr_abstract(sun, name, strlen(name));
	CHECK_OK(bind(fd, (struct sockaddr *)sun, *len));
	CHECK_OK(listen(fd, 8));
	return fd;
}

/* -- identity -- */

/* SO_TYPE, SO_DOMAIN and SO_PROTOCOL read the type, AF_UNIX and 0 on every
 * kind of socket, SOCK_RAW reading as SOCK_DGRAM and protocol 1 as 0. */
static void
identity_options(void)
{
	static const struct { int type, proto, want; } cases[] = {
		{ SOCK_STREAM, 0, SOCK_STREAM },
		{ SOCK_DGRAM, 0, SOCK_DGRAM },
		{ SOCK_SEQPACKET, 0, SOCK_SEQPACKET },
		{ SOCK_RAW, 0, SOCK_DGRAM },
		{ SOCK_STREAM, 1, SOCK_STREAM },
		{ SOCK_DGRAM, 1, SOCK_DGRAM },
	};

	for (size_t i = 0; i < NCASES(cases); i++) {
		int fd = CHECK_OK(socket(AF_UNIX, cases[i].type,
					 cases[i].proto));
		int sv[2];

		CHECK_EQ(get_int(fd, SO_TYPE), cases[i].want);
		CHECK_EQ(get_int(fd, SO_DOMAIN), AF_UNIX);
		CHECK_EQ(get_int(fd, SO_PROTOCOL), 0);
		CHECK_OK(close(fd));
		CHECK_OK(socketpair(AF_UNIX, cases[i].type, cases[i].proto,
				    sv));
		for (int e = 0; e < 2; e++) {
			CHECK_EQ(get_int(sv[e], SO_TYPE), cases[i].want);
			CHECK_EQ(get_int(sv[e], SO_DOMAIN), AF_UNIX);
			CHECK_EQ(get_int(sv[e], SO_PROTOCOL), 0);
			CHECK_OK(close(sv[e]));
		}
	}
}

/* An accepted socket has its listener's type, domain and protocol. */
static void
identity_of_accepted(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };

	for (size_t i = 0; i < NCASES(types); i++) {
		struct sockaddr_un sun;
		socklen_t len;
		int l = abstract_listener(types[i], "id", &sun, &len);
		int c = CHECK_OK(socket(AF_UNIX, types[i], 0));

		CHECK_OK(connect(c, (struct sockaddr *)&sun, len));
		int s = CHECK_OK(accept(l, NULL, NULL));
		CHECK_EQ(get_int(s, SO_TYPE), types[i]);
		CHECK_EQ(get_int(s, SO_DOMAIN), AF_UNIX);
		CHECK_EQ(get_int(s, SO_PROTOCOL), 0);
		CHECK_OK(close(s));
		CHECK_OK(close(c));
		CHECK_OK(close(l));
	}
}

/* Read-only options cannot be set: ENOPROTOOPT. */
static void
readonly_options_enoprotoopt(void)
{
	static const int opts[] = {
		SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ACCEPTCONN, SO_ERROR,
		SO_PEERCRED,
	};
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	int v = 1;

	for (size_t i = 0; i < NCASES(opts); i++)
		CHECK_ERR(setsockopt(fd, SOL_SOCKET, opts[i], &v, sizeof(v)),
			  ENOPROTOOPT);
	CHECK_EQ(get_int(fd, SO_TYPE), SOCK_STREAM);
	CHECK_OK(close(fd));
}

/* SO_ACCEPTCONN is 1 only while listening: not for a fresh, bound,
 * connected or accepted socket, nor any datagram socket. */
static void
acceptconn(void)
{
	struct sockaddr_un sun;
	socklen_t len;
	int l = CHECK_OK(socket(AF_UNIX, SOCK_SEQPACKET, 0));
	int d = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	char name[96];

	CHECK_EQ(get_int(l, SO_ACCEPTCONN), 0);
	CHECK_EQ(get_int(d, SO_ACCEPTCONN), 0);
	snprintf(name, sizeof(name), "%s-ac", th_unique());
	len = th_addr_abstract(&sun, name, strlen(name));
	CHECK_OK(bind(l, (struct sockaddr *)&sun, len));
	CHECK_EQ(get_int(l, SO_ACCEPTCONN), 0);
	CHECK_OK(listen(l, 2));
	CHECK_EQ(get_int(l, SO_ACCEPTCONN), 1);
	CHECK_OK(listen(l, 3));
	CHECK_EQ(get_int(l, SO_ACCEPTCONN), 1);
	int c = CHECK_OK(socket(AF_UNIX, SOCK_SEQPACKET, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&sun, len));
	int s = CHECK_OK(accept(l, NULL, NULL));
	CHECK_EQ(get_int(c, SO_ACCEPTCONN), 0);
	CHECK_EQ(get_int(s, SO_ACCEPTCONN), 0);
	CHECK_OK(close(s));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
	CHECK_OK(close(d));
}

/* SO_ERROR reads a pending error once and clears it: a client whose
 * listener closed before accept reads ECONNRESET, then 0, and its next
 * recv sees plain end of file. */
static void
so_error_read_and_clear(void)
{
	struct sockaddr_un sun;
	socklen_t len;
	int l = abstract_listener(SOCK_STREAM, "err", &sun, &len);
	int c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	char b;

	CHECK_EQ(get_int(c, SO_ERROR), 0);
	CHECK_OK(connect(c, (struct sockaddr *)&sun, len));
	CHECK_EQ(get_int(c, SO_ERROR), 0);
	CHECK_OK(close(l));
	CHECK_EQ(get_int(c, SO_ERROR), ECONNRESET);
	CHECK_EQ(get_int(c, SO_ERROR), 0);
	CHECK_EQ(recv(c, &b, 1, 0), 0);
	CHECK_OK(close(c));
}

/* -- buffer sizes -- */

/* Every socket starts with SO_SNDBUF and SO_RCVBUF of 212992, socketpair
 * and accepted sockets included. */
static void
buffer_defaults(void)
{
	struct sockaddr_un sun;
	socklen_t len;

	for (size_t i = 0; i < NCASES(all_types); i++) {
		int fd = CHECK_OK(socket(AF_UNIX, all_types[i], 0));
		int sv[2];

		CHECK_EQ(get_int(fd, SO_SNDBUF), DEFAULT_BUF);
		CHECK_EQ(get_int(fd, SO_RCVBUF), DEFAULT_BUF);
		CHECK_OK(close(fd));
		CHECK_OK(socketpair(AF_UNIX, all_types[i], 0, sv));
		CHECK_EQ(get_int(sv[0], SO_SNDBUF), DEFAULT_BUF);
		CHECK_EQ(get_int(sv[1], SO_RCVBUF), DEFAULT_BUF);
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
	/* An accepted socket does not take its listener's sizes. */
	int l = abstract_listener(SOCK_STREAM, "buf", &sun, &len);
	set_int(l, SO_SNDBUF, 10000);
	set_int(l, SO_RCVBUF, 10000);
	int c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&sun, len));
	int s = CHECK_OK(accept(l, NULL, NULL));
	CHECK_EQ(get_int(s, SO_SNDBUF), DEFAULT_BUF);
	CHECK_EQ(get_int(s, SO_RCVBUF), DEFAULT_BUF);
	CHECK_OK(close(s));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* SO_SNDBUF and SO_RCVBUF store twice the value asked for, capped at
 * twice the maximum (negative values count as huge) and raised to a
 * minimum of 4608 and 2304. */
static void
buffer_doubling(void)
{
	static const struct { int set, snd, rcv; } cases[] = {
		{ 0, MIN_SNDBUF, MIN_RCVBUF },
		{ 1, MIN_SNDBUF, MIN_RCVBUF },
		{ 1000, MIN_SNDBUF, MIN_RCVBUF },
		{ 2303, MIN_SNDBUF, 4606 },
		{ 2304, MIN_SNDBUF, 4608 },
		{ 2305, 4610, 4610 },
		{ 4608, 9216, 9216 },
		{ 10000, 20000, 20000 },
		{ DEFAULT_BUF, 2 * DEFAULT_BUF, 2 * DEFAULT_BUF },
		{ MAX_BUF_SET, 2 * MAX_BUF_SET, 2 * MAX_BUF_SET },
		{ MAX_BUF_SET + 1, 2 * MAX_BUF_SET, 2 * MAX_BUF_SET },
		{ INT_MAX, 2 * MAX_BUF_SET, 2 * MAX_BUF_SET },
		{ -1, 2 * MAX_BUF_SET, 2 * MAX_BUF_SET },
		{ INT_MIN, 2 * MAX_BUF_SET, 2 * MAX_BUF_SET },
	};

	for (size_t t = 0; t < NCASES(all_types); t++) {
		int fd = CHECK_OK(socket(AF_UNIX, all_types[t], 0));

		for (size_t i = 0; i < NCASES(cases); i++) {
			set_int(fd, SO_SNDBUF, cases[i].set);
			set_int(fd, SO_RCVBUF, cases[i].set);
			CHECK_EQ(get_int(fd, SO_SNDBUF), cases[i].snd);
			CHECK_EQ(get_int(fd, SO_RCVBUF), cases[i].rcv);
		}
		CHECK_OK(close(fd));
	}
}

/* -- timeouts -- */

static struct timeval
get_tv(int fd, int opt)
{
	struct timeval tv;
	socklen_t len = sizeof(tv);

	memset(&tv, 0x5a, sizeof(tv));
	CHECK_OK(getsockopt(fd, SOL_SOCKET, opt, &tv, &len));
	CHECK_EQ(len, sizeof(tv));
	return tv;
}

/* SO_RCVTIMEO and SO_SNDTIMEO start at 0 and read back what was set; a
 * negative time stores 0, a time too long to represent stores "forever",
 * which also reads 0. */
static void
timeouts_round_trip(void)
{
	static const struct { long sec, usec, want_sec, want_usec; } cases[] = {
		{ 0, 100000, 0, 100000 },
		{ 0, 20000, 0, 20000 },
		{ 1, 500000, 1, 500000 },
		{ 3600, 0, 3600, 0 },
		{ 0, 0, 0, 0 },
		{ -5, 0, 0, 0 },
		{ -1, 500000, 0, 0 },
		{ LONG_MAX, 0, 0, 0 },
	};
	static const int opts[] = { SO_RCVTIMEO, SO_SNDTIMEO };

	for (size_t t = 0; t < NCASES(all_types); t++) {
		int fd = CHECK_OK(socket(AF_UNIX, all_types[t], 0));

		for (size_t o = 0; o < NCASES(opts); o++) {
			struct timeval tv = get_tv(fd, opts[o]);

			CHECK_EQ(tv.tv_sec, 0);
			CHECK_EQ(tv.tv_usec, 0);
			for (size_t i = 0; i < NCASES(cases); i++) {
				tv.tv_sec = cases[i].sec;
				tv.tv_usec = cases[i].usec;
				CHECK_OK(setsockopt(fd, SOL_SOCKET, opts[o],
						    &tv, sizeof(tv)));
				tv = get_tv(fd, opts[o]);
				CHECK_EQ(tv.tv_sec, cases[i].want_sec);
				CHECK_EQ(tv.tv_usec, cases[i].want_usec);
			}
		}
		/* The two are separate. */
		struct timeval a = { 2, 0 }, b = { 0, 40000 };
		CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &a, sizeof(a)));
		CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &b, sizeof(b)));
		CHECK_EQ(get_tv(fd, SO_RCVTIMEO).tv_sec, 2);
		CHECK_EQ(get_tv(fd, SO_SNDTIMEO).tv_usec, 40000);
		CHECK_OK(close(fd));
	}
}

/* tv_usec outside [0, 1000000) gives EDOM, a short optlen EINVAL; either
 * way the old timeout stays. */
static void
timeouts_bad_values(void)
{
	static const struct { long sec, usec; socklen_t len; int err; } cases[] = {
		{ 0, 1000000, sizeof(struct timeval), EDOM },
		{ 1, -1, sizeof(struct timeval), EDOM },
		{ 0, LONG_MAX, sizeof(struct timeval), EDOM },
		{ 1, 0, sizeof(struct timeval) - 1, EINVAL },
		{ 1, 0, sizeof(long), EINVAL },
		{ 1, 0, 0, EINVAL },
	};
	static const int opts[] = { SO_RCVTIMEO, SO_SNDTIMEO };
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));

	for (size_t o = 0; o < NCASES(opts); o++) {
		struct timeval tv = { 0, 100000 };

		CHECK_OK(setsockopt(fd, SOL_SOCKET, opts[o], &tv, sizeof(tv)));
		for (size_t i = 0; i < NCASES(cases); i++) {
			tv.tv_sec = cases[i].sec;
			tv.tv_usec = cases[i].usec;
			CHECK_ERR(setsockopt(fd, SOL_SOCKET, opts[o], &tv,
					     cases[i].len), cases[i].err);
			tv = get_tv(fd, opts[o]);
			CHECK_EQ(tv.tv_sec, 0);
			CHECK_EQ(tv.tv_usec, 100000);
		}
	}
	CHECK_OK(close(fd));
}

/* -- stored options -- */

/* SO_REUSEADDR, SO_KEEPALIVE and SO_PASSCRED start at 0, read back 1 for
 * any non-zero value and 0 after being cleared. */
static void
boolean_options_stored(void)
{
	static const int opts[] = { SO_REUSEADDR, SO_KEEPALIVE, SO_PASSCRED };
	static const int values[] = { 1, 0, 5, -1, 0, INT_MIN };

	for (size_t t = 0; t < NCASES(all_types); t++) {
		int fd = CHECK_OK(socket(AF_UNIX, all_types[t], 0));

		for (size_t o = 0; o < NCASES(opts); o++) {
			CHECK_EQ(get_int(fd, opts[o]), 0);
			for (size_t i = 0; i < NCASES(values); i++) {
				set_int(fd, opts[o], values[i]);
				CHECK_EQ(get_int(fd, opts[o]), values[i] != 0);
			}
		}
		CHECK_OK(close(fd));
	}
}

/* SO_RCVLOWAT starts at 1; 0 reads back 1 and a negative value INT_MAX
 * (Linux's sk_setsockopt), on every type. */
static void
rcvlowat_values(void)
{
	static const struct { int set, want; } cases[] = {
		{ 5, 5 }, { 0, 1 }, { -1, INT_MAX }, { INT_MAX, INT_MAX },
		{ 1, 1 }, { INT_MIN, INT_MAX }, { 0, 1 },
	};

	for (size_t t = 0; t < NCASES(all_types); t++) {
		int fd = CHECK_OK(socket(AF_UNIX, all_types[t], 0));

		CHECK_EQ(get_int(fd, SO_RCVLOWAT), 1);
		for (size_t i = 0; i < NCASES(cases); i++) {
			set_int(fd, SO_RCVLOWAT, cases[i].set);
			CHECK_EQ(get_int(fd, SO_RCVLOWAT), cases[i].want);
		}
		CHECK_OK(close(fd));
	}
}

/* SO_LINGER starts off, reads l_onoff back as 0 or 1 with l_linger as
 * set, and turning it off keeps the old l_linger. */
static void
linger_stored(void)
{
	static const struct { int onoff, linger, want_onoff, want_linger; }
	cases[] = {
		{ 1, 7, 1, 7 },
		{ 5, 30, 1, 30 },
		{ 0, 9, 0, 30 },
		{ 1, 0, 1, 0 },
		{ 0, 0, 0, 0 },
	};
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	struct linger lg;
	socklen_t len = sizeof(lg);

	memset(&lg, 0x5a, sizeof(lg));
	CHECK_OK(getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &len));
	CHECK_EQ(len, sizeof(lg));
	CHECK_EQ(lg.l_onoff, 0);
	CHECK_EQ(lg.l_linger, 0);
	for (size_t i = 0; i < NCASES(cases); i++) {
		lg.l_onoff = cases[i].onoff;
		lg.l_linger = cases[i].linger;
		CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg,
				    sizeof(lg)));
		len = sizeof(lg);
		memset(&lg, 0x5a, sizeof(lg));
		CHECK_OK(getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &len));
		CHECK_EQ(lg.l_onoff, cases[i].want_onoff);
		CHECK_EQ(lg.l_linger, cases[i].want_linger);
	}
	lg.l_onoff = 1;
	lg.l_linger = 3;
	CHECK_ERR(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(int)),
		  EINVAL);
	CHECK_OK(close(fd));
}

/* An accepted socket has SO_PASSCRED as its listener had it when the
 * client connected, not when accept was called. */
static void
passcred_inherited_at_connect(void)
{
	struct sockaddr_un sun;
	socklen_t len;
	int l = abstract_listener(SOCK_STREAM, "pc", &sun, &len);
	int c1 = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	int c2 = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));

	set_int(l, SO_PASSCRED, 1);
	CHECK_OK(connect(c1, (struct sockaddr *)&sun, len));
	set_int(l, SO_PASSCRED, 0);
	CHECK_OK(connect(c2, (struct sockaddr *)&sun, len));
	set_int(l, SO_PASSCRED, 1);
	int s1 = CHECK_OK(accept(l, NULL, NULL));
	set_int(l, SO_PASSCRED, 0);
	int s2 = CHECK_OK(accept(l, NULL, NULL));
	CHECK_EQ(get_int(s1, SO_PASSCRED), 1);
	CHECK_EQ(get_int(s2, SO_PASSCRED), 0);
	/* The client's own option is untouched. */
	CHECK_EQ(get_int(c1, SO_PASSCRED), 0);
	CHECK_OK(close(s1));
	CHECK_OK(close(s2));
	CHECK_OK(close(c1));
	CHECK_OK(close(c2));
	CHECK_OK(close(l));
}

/* -- SO_PEERCRED -- */

/* Both ends of a socketpair report the creating process. */
static void
peercred_socketpair(void)
{
	for (size_t t = 0; t < NCASES(all_types); t++) {
		int sv[2];

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		CHECK_CRED(peercred(sv[0]), getpid(), getuid(), getgid());
		CHECK_CRED(peercred(sv[1]), getpid(), getuid(), getgid());
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
}

static int
pair_in_child(void *arg)
{
	int sv[2];

	if (th_setcred(OTHER_UID, OTHER_GID) < 0) {
		CHECK(!"th_setcred");
		return th_failures();
	}
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_CRED(peercred(sv[0]), getpid(), OTHER_UID, OTHER_GID);
	CHECK_CRED(peercred(sv[1]), getpid(), OTHER_UID, OTHER_GID);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
	return th_failures();
}

/* A socketpair made by another process with other ids reports that
 * process and its ids. */
static void
peercred_socketpair_other_process(void)
{
	th_require_root();
	CHECK_EQ(th_join(th_fork(pair_in_child, NULL)), 0);
}

/* A socket with no peer reports pid 0 and uid/gid -1: fresh, bound,
 * connected datagram sockets included. */
static void
peercred_unconnected(void)
{
	for (size_t t = 0; t < NCASES(all_types); t++) {
		int fd = CHECK_OK(socket(AF_UNIX, all_types[t], 0));

		CHECK_CRED(peercred(fd), 0, (uid_t)-1, (gid_t)-1);
		CHECK_OK(close(fd));
	}
	struct sockaddr_un sun;
	char name[96];
	snprintf(name, sizeof(name), "%s-d", th_unique());
	socklen_t len = th_addr_abstract(&sun, name, strlen(name));
	int d = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	int e = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(bind(d, (struct sockaddr *)&sun, len));
	CHECK_OK(connect(e, (struct sockaddr *)&sun, len));
	CHECK_CRED(peercred(d), 0, (uid_t)-1, (gid_t)-1);
	CHECK_CRED(peercred(e), 0, (uid_t)-1, (gid_t)-1);
	CHECK_OK(close(e));
	CHECK_OK(close(d));
}

struct listen_job {
	int	listen_fd;	/* inherited, bound, not listening */
	int	ctl;		/* socketpair end: pid out, "go" in */
};

static int
listen_in_child(void *arg)
{
	const struct listen_job *job = arg;
	pid_t pid = getpid();
	char b;

	if (th_setcred(OTHER_UID, OTHER_GID) < 0) {
		CHECK(!"th_setcred");
		return th_failures();
	}
	CHECK_OK(listen(job->listen_fd, 8));
	CHECK_EQ(send(job->ctl, &pid, sizeof(pid), 0), sizeof(pid));
	/* Stay alive until the parent has looked at the credentials. */
	CHECK_EQ(recv(job->ctl, &b, 1, 0), 1);
	return th_failures();
}

/* A client reports its listener's credentials as they were at listen(),
 * taken from the process that called listen, not the one that created or
 * bound the socket; the listener reports the same for itself. */
static void
peercred_client_gets_listen_time_creds(void)
{
	struct sockaddr_un sun;
	char name[96];
	struct listen_job job;
	int ctl[2];
	pid_t child;

	th_require_root();
	snprintf(name, sizeof(name), "%s-l", th_unique());
	socklen_t len = th_addr_abstract(&sun, name, strlen(name));
	job.listen_fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(job.listen_fd, (struct sockaddr *)&sun, len));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, ctl));
	job.ctl = ctl[1];
	struct th_child *c = th_fork(listen_in_child, &job);
	CHECK_EQ(recv(ctl[0], &child, sizeof(child), MSG_WAITALL),
		 sizeof(child));
	CHECK(child != getpid());

	int cl = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(connect(cl, (struct sockaddr *)&sun, len));
	CHECK_CRED(peercred(cl), child, OTHER_UID, OTHER_GID);
	CHECK_CRED(peercred(job.listen_fd), child, OTHER_UID, OTHER_GID);
	int s = CHECK_OK(accept(job.listen_fd, NULL, NULL));
	CHECK_CRED(peercred(s), getpid(), getuid(), getgid());
	CHECK_EQ(send(ctl[0], "g", 1, 0), 1);
	CHECK_EQ(th_join(c), 0);
	/* Recorded values stay after the process is gone. */
	CHECK_EQ(peercred(cl).uid, OTHER_UID);
	CHECK_OK(close(s));
	CHECK_OK(close(cl));
	CHECK_OK(close(job.listen_fd));
	CHECK_OK(close(ctl[0]));
	CHECK_OK(close(ctl[1]));
}

struct connect_job {
	struct sockaddr_un	sun;
	socklen_t		len;
	int			ctl;	/* socketpair end */
	pid_t			parent;
};

static int
connect_in_child(void *arg)
{
	const struct connect_job *job = arg;
	pid_t pid = getpid();
	int a = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	int b = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	char x;

	/* a connects as root; b was made as root but connects later. */
	CHECK_OK(connect(a, (const struct sockaddr *)&job->sun, job->len));
	if (th_setcred(OTHER_UID, OTHER_GID) < 0) {
		CHECK(!"th_setcred");
		return th_failures();
	}
	CHECK_OK(connect(b, (const struct sockaddr *)&job->sun, job->len));
	/* Both see the listener's (the parent's) credentials. */
	CHECK_CRED(peercred(a), job->parent, 0, 0);
	CHECK_CRED(peercred(b), job->parent, 0, 0);
	CHECK_EQ(send(job->ctl, &pid, sizeof(pid), 0), sizeof(pid));
	CHECK_EQ(recv(job->ctl, &x, 1, 0), 1);
	CHECK_OK(close(a));
	CHECK_OK(close(b));
	return th_failures();
}

/* An accepted socket reports the client's credentials as they were at
 * connect(), not at socket() and not later. */
static void
peercred_accepted_gets_connect_time_creds(void)
{
	struct connect_job job;
	int ctl[2];
	pid_t child;

	th_require_root();
	int l = abstract_listener(SOCK_STREAM, "c", &job.sun, &job.len);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, ctl));
	job.ctl = ctl[1];
	job.parent = getpid();
	struct th_child *c = th_fork(connect_in_child, &job);
	CHECK_EQ(recv(ctl[0], &child, sizeof(child), MSG_WAITALL),
		 sizeof(child));
	int s1 = CHECK_OK(accept(l, NULL, NULL));
	int s2 = CHECK_OK(accept(l, NULL, NULL));
	CHECK_CRED(peercred(s1), child, 0, 0);
	CHECK_CRED(peercred(s2), child, OTHER_UID, OTHER_GID);
	CHECK_EQ(send(ctl[0], "g", 1, 0), 1);
	CHECK_EQ(th_join(c), 0);
	CHECK_OK(close(s1));
	CHECK_OK(close(s2));
	CHECK_OK(close(l));
	CHECK_OK(close(ctl[0]));
	CHECK_OK(close(ctl[1]));
}

/* SO_PEERCRED with a short buffer copies what fits and says so. */
static void
peercred_short_optlen(void)
{
	int sv[2];
	struct ucred uc;
	socklen_t len = sizeof(pid_t);

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	memset(&uc, 0x5a, sizeof(uc));
	CHECK_OK(getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &uc, &len));
	CHECK_EQ(len, sizeof(pid_t));
	CHECK_EQ(uc.pid, getpid());
	CHECK_EQ(uc.uid, 0x5a5a5a5a);
	len = sizeof(uc) + 8;
	CHECK_OK(getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &uc, &len));
	CHECK_EQ(len, sizeof(uc));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* -- optlen, levels, unknown options -- */

/* getsockopt copies at most optlen bytes and reports how many: fewer than
 * an int gives a truncated value, more is cut to the option's size, 0
 * copies nothing, and a negative length gives EINVAL. */
static void
getsockopt_optlen(void)
{
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	unsigned char buf[16];
	socklen_t len;
	struct timeval tv = { 3, 100000 };

	len = 2;
	memset(buf, 0x5a, sizeof(buf));
	CHECK_OK(getsockopt(fd, SOL_SOCKET, SO_TYPE, buf, &len));
	CHECK_EQ(len, 2);
	int want = SOCK_DGRAM;
	CHECK_MEM(buf, &want, 2);
	CHECK_EQ(buf[2], 0x5a);

	len = 0;
	memset(buf, 0x5a, sizeof(buf));
	CHECK_OK(getsockopt(fd, SOL_SOCKET, SO_TYPE, buf, &len));
	CHECK_EQ(len, 0);
	CHECK_EQ(buf[0], 0x5a);

	len = sizeof(buf);
	CHECK_OK(getsockopt(fd, SOL_SOCKET, SO_SNDBUF, buf, &len));
	CHECK_EQ(len, sizeof(int));

	len = (socklen_t)-1;
	CHECK_ERR(getsockopt(fd, SOL_SOCKET, SO_TYPE, buf, &len), EINVAL);

	/* A timeval cut to its first 8 bytes: just tv_sec. */
	CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	len = sizeof(long);
	memset(buf, 0x5a, sizeof(buf));
	CHECK_OK(getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, buf, &len));
	CHECK_EQ(len, sizeof(long));
	long sec;
	memcpy(&sec, buf, sizeof(sec));
	CHECK_EQ(sec, 3);
	CHECK_EQ(buf[sizeof(long)], 0x5a);
	CHECK_OK(close(fd));
}

/* setsockopt of an int option needs at least 4 bytes (EINVAL below) and
 * reads only the first int of a longer buffer. */
static void
setsockopt_optlen(void)
{
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	int v[2] = { 1, 1 };
	static const socklen_t shorts[] = { 0, 1, 3 };
	static const int opts[] = {
		SO_SNDBUF, SO_RCVBUF, SO_REUSEADDR, SO_KEEPALIVE, SO_PASSCRED,
	};

	for (size_t o = 0; o < NCASES(opts); o++)
		for (size_t i = 0; i < NCASES(shorts); i++)
			CHECK_ERR(setsockopt(fd, SOL_SOCKET, opts[o], v,
					     shorts[i]), EINVAL);
	CHECK_EQ(get_int(fd, SO_KEEPALIVE), 0);
	CHECK_EQ(get_int(fd, SO_SNDBUF), DEFAULT_BUF);
	v[0] = 0;
	CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, v, sizeof(v)));
	CHECK_EQ(get_int(fd, SO_KEEPALIVE), 0);
	v[0] = 1;
	v[1] = 0;
	CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, v, sizeof(v)));
	CHECK_EQ(get_int(fd, SO_KEEPALIVE), 1);
	CHECK_OK(close(fd));
}

/* Any level other than SOL_SOCKET gives EOPNOTSUPP, for set and get. */
static void
other_level_eopnotsupp(void)
{
	static const int levels[] = { 0 /* SOL_IP */, 6 /* SOL_TCP */,
				      17 /* SOL_UDP */, 41, 1234, -1 };

	for (size_t t = 0; t < NCASES(all_types); t++) {
		int fd = CHECK_OK(socket(AF_UNIX, all_types[t], 0));

		for (size_t i = 0; i < NCASES(levels); i++) {
			int v = 1;
			socklen_t len = sizeof(v);

			CHECK_ERR(setsockopt(fd, levels[i], 1, &v, sizeof(v)),
				  EOPNOTSUPP);
			CHECK_ERR(getsockopt(fd, levels[i], 1, &v, &len),
				  EOPNOTSUPP);
		}
		CHECK_OK(close(fd));
	}
}

/* An unknown SOL_SOCKET option gives ENOPROTOOPT, for set and get. */
static void
unknown_option_enoprotoopt(void)
{
	static const int opts[] = { 9999, 12345, -1 };
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));

	for (size_t i = 0; i < NCASES(opts); i++) {
		int v = 1;
		socklen_t len = sizeof(v);

		CHECK_ERR(setsockopt(fd, SOL_SOCKET, opts[i], &v, sizeof(v)),
			  ENOPROTOOPT);
		CHECK_ERR(getsockopt(fd, SOL_SOCKET, opts[i], &v, &len),
			  ENOPROTOOPT);
	}
	CHECK_OK(close(fd));
}

/* -- ioctl and descriptor flags -- */

/* FIONREAD on a listener gives EINVAL; on a fresh socket it reads 0. */
static void
fionread_listener_einval(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };

	for (size_t t = 0; t < NCASES(types); t++) {
		struct sockaddr_un sun;
		socklen_t len;
		int fresh = CHECK_OK(socket(AF_UNIX, types[t], 0));
		int n = -1;

		CHECK_OK(ioctl(fresh, FIONREAD, &n));
		CHECK_EQ(n, 0);
		int l = abstract_listener(types[t], "fr", &sun, &len);
		CHECK_ERR(ioctl(l, FIONREAD, &n), EINVAL);
		CHECK_ERR(ioctl(l, SIOCINQ, &n), EINVAL);
		CHECK_OK(close(l));
		CHECK_OK(close(fresh));
	}
}

/* F_GETFL reads O_RDWR, plus O_NONBLOCK when set by SOCK_NONBLOCK or
 * F_SETFL; F_SETFL cannot change the access mode. */
static void
fcntl_nonblock(void)
{
	int sv[2];
	char b;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(fcntl(sv[0], F_GETFL), O_RDWR);
	CHECK_OK(fcntl(sv[0], F_SETFL, O_NONBLOCK));
	CHECK_EQ(fcntl(sv[0], F_GETFL), O_RDWR | O_NONBLOCK);
	CHECK_ERR(recv(sv[0], &b, 1, 0), EAGAIN);
	CHECK_EQ(fcntl(sv[1], F_GETFL), O_RDWR);
	CHECK_OK(fcntl(sv[0], F_SETFL, 0));
	CHECK_EQ(fcntl(sv[0], F_GETFL), O_RDWR);
	CHECK_OK(fcntl(sv[0], F_SETFL, O_RDONLY));
	CHECK_EQ(fcntl(sv[0], F_GETFL), O_RDWR);
	CHECK_OK(fcntl(sv[0], F_SETFL, O_WRONLY | O_NONBLOCK));
	CHECK_EQ(fcntl(sv[0], F_GETFL), O_RDWR | O_NONBLOCK);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));

	int fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0));
	CHECK_EQ(fcntl(fd, F_GETFL), O_RDWR | O_NONBLOCK);
	CHECK_ERR(recv(fd, &b, 1, 0), EAGAIN);
	CHECK_OK(close(fd));
}

/* O_NONBLOCK belongs to the open file, so a dup shares it; FD_CLOEXEC
 * belongs to the descriptor, so it does not. */
static void
nonblock_shared_by_dup(void)
{
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	int d = CHECK_OK(dup(fd));

	CHECK_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
	CHECK_EQ(fcntl(d, F_GETFD), 0);
	CHECK_OK(fcntl(d, F_SETFL, O_NONBLOCK));
	CHECK_EQ(fcntl(fd, F_GETFL), O_RDWR | O_NONBLOCK);
	CHECK_OK(fcntl(fd, F_SETFL, 0));
	CHECK_EQ(fcntl(d, F_GETFL), O_RDWR);
	CHECK_OK(close(d));
	CHECK_OK(close(fd));
}

/* SO_REUSEPORT is for inet sockets: turning it on elsewhere is
 * EOPNOTSUPP, turning it off succeeds, and it reads back 0. */
static void
reuseport_not_for_unix(void)
{
	int on = 1, off = 0;

	for (size_t t = 0; t < NCASES(all_types); t++) {
		int fd = CHECK_OK(socket(AF_UNIX, all_types[t], 0));

		CHECK_ERR(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on,
				     sizeof(on)), EOPNOTSUPP);
		CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &off,
				    sizeof(off)));
		CHECK_EQ(get_int(fd, SO_REUSEPORT), 0);
		CHECK_OK(close(fd));
	}
}

/* SO_SNDBUFFORCE and SO_RCVBUFFORCE take a negative value as 0, so the
 * buffer drops to its minimum (SO_SNDBUF takes it as unsigned: the max). */
static void
bufforce_negative_is_minimum(void)
{
	int vals[] = { -1, -100000, INT_MIN };
	int sv[2];

	th_require_root();
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	for (size_t i = 0; i < NCASES(vals); i++) {
		CHECK_OK(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &vals[i],
				    sizeof(vals[i])));
		CHECK_EQ(get_int(sv[0], SO_SNDBUF), 4608);
		CHECK_OK(setsockopt(sv[0], SOL_SOCKET, SO_RCVBUFFORCE, &vals[i],
				    sizeof(vals[i])));
		CHECK_EQ(get_int(sv[0], SO_RCVBUF), 2304);
	}
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* FIONBIO sets and clears O_NONBLOCK, which then governs recv and
 * accept. */
static void
fionbio(void)
{
	struct sockaddr_un sun;
	socklen_t len;
	int sv[2], on = 1, off = 0;
	char b;

	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	CHECK_OK(ioctl(sv[0], FIONBIO, &on));
	CHECK_EQ(fcntl(sv[0], F_GETFL), O_RDWR | O_NONBLOCK);
	CHECK_ERR(recv(sv[0], &b, 1, 0), EAGAIN);
	CHECK_OK(ioctl(sv[0], FIONBIO, &off));
	CHECK_EQ(fcntl(sv[0], F_GETFL), O_RDWR);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));

	int l = abstract_listener(SOCK_STREAM, "nb", &sun, &len);
	on = 42;
	CHECK_OK(ioctl(l, FIONBIO, &on));
	CHECK_ERR(accept(l, NULL, NULL), EAGAIN);
	CHECK_OK(close(l));
}

static const struct th_test tests[] = {
	{ "identity_options", identity_options },
	{ "identity_of_accepted", identity_of_accepted },
	{ "readonly_options_enoprotoopt", readonly_options_enoprotoopt },
	{ "acceptconn", acceptconn },
	{ "so_error_read_and_clear", so_error_read_and_clear },
	{ "buffer_defaults", buffer_defaults },
	{ "buffer_doubling", buffer_doubling },
	{ "timeouts_round_trip", timeouts_round_trip },
	{ "timeouts_bad_values", timeouts_bad_values },
	{ "boolean_options_stored", boolean_options_stored },
	{ "rcvlowat_values", rcvlowat_values },
	{ "linger_stored", linger_stored },
	{ "passcred_inherited_at_connect", passcred_inherited_at_connect },
	{ "peercred_socketpair", peercred_socketpair },
	{ "peercred_socketpair_other_process", peercred_socketpair_other_process },
	{ "peercred_unconnected", peercred_unconnected },
	{ "peercred_client_gets_listen_time_creds", peercred_client_gets_listen_time_creds },
	{ "peercred_accepted_gets_connect_time_creds", peercred_accepted_gets_connect_time_creds },
	{ "peercred_short_optlen", peercred_short_optlen },
	{ "getsockopt_optlen", getsockopt_optlen },
	{ "setsockopt_optlen", setsockopt_optlen },
	{ "other_level_eopnotsupp", other_level_eopnotsupp },
	{ "unknown_option_enoprotoopt", unknown_option_enoprotoopt },
	{ "fionread_listener_einval", fionread_listener_einval },
	{ "fcntl_nonblock", fcntl_nonblock },
	{ "nonblock_shared_by_dup", nonblock_shared_by_dup },
	{ "fionbio", fionbio },
	{ "bufforce_negative_is_minimum", bufforce_negative_is_minimum },
	{ "reuseport_not_for_unix", reuseport_not_for_unix },
};

TH_MAIN(tests)

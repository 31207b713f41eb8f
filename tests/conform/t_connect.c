/*
 * Connections: listen and the backlog, connect and each of its errors,
 * accept and accept4, blocking connects on a full backlog, how the
 * listener's path is found (by inode: rename, link, symlink, unlink),
 * getpeername, and a listener closed with connections not yet accepted.
 *
 * Each test runs in a fresh empty directory that is its working
 * directory; children started with th_fork talk to the test only through
 * sockets, pipes and their exit status.
 */
#include "harness.h"

#define NCASES(a)	(sizeof(a) / sizeof((a)[0]))
#define SUN_HDR		offsetof(struct sockaddr_un, sun_path)	/* 2 */
#define SOMAXCONN_LINUX	4096	/* net.core.somaxconn */

union addr {
	struct sockaddr		sa;
	struct sockaddr_un	sun;
	struct sockaddr_storage	ss;
};

/* The connection-oriented types, which listen and accept. */
static const int conn_types[] = { SOCK_STREAM, SOCK_SEQPACKET };

static int
bound_socket(int type, const char *path)
{
	struct sockaddr_un sun;
	socklen_t len = th_addr_path(&sun, path);
	int fd = CHECK_OK(socket(AF_UNIX, type, 0));

	CHECK_OK(bind(fd, (struct sockaddr *)&sun, len));
	return fd;
}

static int
listener(int type, const char *path, int backlog)
{
	int fd = bound_socket(type, path);

	CHECK_OK(listen(fd, backlog));
	return fd;
}

/* connect(@fd) to @path; returns connect's result with errno. */
static int
connect_path(int fd, const char *path)
{
	struct sockaddr_un sun;
	socklen_t len = th_addr_path(&sun, path);

	return connect(fd, (struct sockaddr *)&sun, len);
}

/* A new socket of @type connected to @path. */
static int
client(int type, const char *path)
{
	int fd = CHECK_OK(socket(AF_UNIX, type, 0));

	CHECK_OK(connect_path(fd, path));
	return fd;
}

static void
set_timeout(int fd, int opt, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	CHECK_OK(setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv)));
}

/* -- listen and the backlog -- */

/* listen on a datagram socket, bound or not, gives EOPNOTSUPP. */
static void
listen_dgram_eopnotsupp(void)
{
	static const int types[] = { SOCK_DGRAM, SOCK_RAW };

	for (size_t i = 0; i < NCASES(types); i++) {
		int fd = CHECK_OK(socket(AF_UNIX, types[i], 0));

		CHECK_ERR(listen(fd, 5), EOPNOTSUPP);
		CHECK_OK(close(fd));
		fd = bound_socket(types[i], "d");
		CHECK_ERR(listen(fd, 5), EOPNOTSUPP);
		CHECK_OK(close(fd));
		CHECK_OK(unlink("d"));
	}
}

/* listen on a connected socket gives EINVAL: a client, an accepted
 * socket, a socketpair end, even when bound. */
static void
listen_connected_einval(void)
{
	for (size_t i = 0; i < NCASES(conn_types); i++) {
		int type = conn_types[i];
		int l = listener(type, "srv", 4);
		int c = bound_socket(type, "cli");
		int sv[2];

		CHECK_OK(connect_path(c, "srv"));
		int s = CHECK_OK(accept(l, NULL, NULL));
		CHECK_ERR(listen(c, 4), EINVAL);
		CHECK_ERR(listen(s, 4), EINVAL);
		CHECK_OK(socketpair(AF_UNIX, type, 0, sv));
		CHECK_ERR(listen(sv[0], 4), EINVAL);
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
		CHECK_OK(close(s));
		CHECK_OK(close(c));
		CHECK_OK(close(l));
		CHECK_OK(unlink("srv"));
		CHECK_OK(unlink("cli"));
	}
}

/* Connects non-blocking clients to @path until one fails; returns how
 * many succeeded (up to @max) with the last errno in @err. Each client is
 * closed at once: its embryo stays queued on the listener. */
static int
fill_backlog(int type, const char *path, int max, int *err)
{
	int n;

	*err = 0;
	for (n = 0; n < max; n++) {
		int fd = CHECK_OK(socket(AF_UNIX, type | SOCK_NONBLOCK, 0));
		int r = connect_path(fd, path);

		*err = errno;
		CHECK_OK(close(fd));
		if (r < 0)
			break;
	}
	return n;
}

/* A listener queues backlog + 1 connections; the next non-blocking
 * connect gets EAGAIN. */
static void
backlog_plus_one_pending(void)
{
	static const int backlogs[] = { 0, 1, 2, 5 };

	for (size_t t = 0; t < NCASES(conn_types); t++) {
		for (size_t i = 0; i < NCASES(backlogs); i++) {
			int l = listener(conn_types[t], "srv", backlogs[i]);
			int err;

			CHECK_EQ(fill_backlog(conn_types[t], "srv", 100, &err),
				 backlogs[i] + 1);
			CHECK_EQ(err, EAGAIN);
			/* Accepting one makes room for exactly one. */
			int s = CHECK_OK(accept(l, NULL, NULL));
			CHECK_EQ(fill_backlog(conn_types[t], "srv", 100, &err),
				 1);
			CHECK_EQ(err, EAGAIN);
			CHECK_OK(close(s));
			CHECK_OK(close(l));
			CHECK_OK(unlink("srv"));
		}
	}
}

/* listen again on a listener changes its backlog, both ways, keeping the
 * connections already queued. */
static void
backlog_relisten(void)
{
	int l = listener(SOCK_STREAM, "srv", 1);
	int err;

	CHECK_EQ(fill_backlog(SOCK_STREAM, "srv", 100, &err), 2);
	CHECK_OK(listen(l, 3));
	CHECK_EQ(fill_backlog(SOCK_STREAM, "srv", 100, &err), 2);
	CHECK_EQ(err, EAGAIN);
	/* A smaller backlog refuses new ones but keeps the 4 queued. */
	CHECK_OK(listen(l, 0));
	CHECK_EQ(fill_backlog(SOCK_STREAM, "srv", 100, &err), 0);
	CHECK_EQ(err, EAGAIN);
	for (int i = 0; i < 4; i++) {
		int s = CHECK_OK(accept4(l, NULL, NULL, SOCK_NONBLOCK));

		CHECK_OK(close(s));
	}
	CHECK_OK(fcntl(l, F_SETFL, O_NONBLOCK));
	CHECK_ERR(accept(l, NULL, NULL), EAGAIN);
	CHECK_EQ(fill_backlog(SOCK_STREAM, "srv", 100, &err), 1);
	CHECK_OK(close(l));
	CHECK_OK(unlink("srv"));
}

/* A negative or huge backlog is clamped to somaxconn (4096): 4097
 * connections queue, the next gets EAGAIN. */
static void
backlog_clamped_to_somaxconn(void)
{
	static const int backlogs[] = { -1, INT_MAX, SOMAXCONN_LINUX + 1 };

	for (size_t i = 0; i < NCASES(backlogs); i++) {
		int l = listener(SOCK_STREAM, "srv", backlogs[i]);
		int err;

		CHECK_EQ(fill_backlog(SOCK_STREAM, "srv", 10000, &err),
			 SOMAXCONN_LINUX + 1);
		CHECK_EQ(err, EAGAIN);
		CHECK_OK(close(l));
		CHECK_OK(unlink("srv"));
	}
}

struct blocked_connect {
	const char	*path;
	int		 type;
	int		 done_fd;	/* pipe write end: one byte when done */
	int		 want_err;	/* 0: connect must succeed */
};

static int
blocked_connect_child(void *arg)
{
	const struct blocked_connect *bc = arg;
	int fd = CHECK_OK(socket(AF_UNIX, bc->type, 0));
	int r = connect_path(fd, bc->path);

	if (bc->want_err == 0)
		CHECK_EQ(r, 0);
	else
		CHECK_ERR(r, bc->want_err);
	if (r == 0)
		CHECK_EQ(send(fd, "c", 1, 0), 1);
	CHECK_EQ(write(bc->done_fd, "d", 1), 1);
	CHECK_OK(close(fd));
	return th_failures();
}

/* True if @fd has data to read within @ms milliseconds. */
static bool
readable_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/* Starts a child whose blocking connect to "srv" must wait, and checks
 * that it is still waiting after 100 ms. */
static struct th_child *
start_blocked_connect(struct blocked_connect *bc, int type, int pipefd[2])
{
	struct th_child *c;

	CHECK_OK(pipe(pipefd));
	bc->path = "srv";
	bc->type = type;
	bc->done_fd = pipefd[1];
	bc->want_err = 0;
	c = th_fork(blocked_connect_child, bc);
	CHECK(!readable_within(pipefd[0], 100));
	return c;
}

static void
finish_blocked_connect(struct th_child *c, int pipefd[2])
{
	char b;

	CHECK(readable_within(pipefd[0], 5000));
	CHECK_EQ(read(pipefd[0], &b, 1), 1);
	CHECK_EQ(th_join(c), 0);
	CHECK_OK(close(pipefd[0]));
	CHECK_OK(close(pipefd[1]));
}

/* A blocking connect on a full backlog waits, and completes when the
 * server accepts a connection. */
static void
blocking_connect_waits_for_accept(void)
{
	for (size_t t = 0; t < NCASES(conn_types); t++) {
		int l = listener(conn_types[t], "srv", 0);
		int first = client(conn_types[t], "srv");
		struct blocked_connect bc;
		int pipefd[2];
		char b;

		struct th_child *c = start_blocked_connect(&bc, conn_types[t],
							   pipefd);
		int s1 = CHECK_OK(accept(l, NULL, NULL));
		finish_blocked_connect(c, pipefd);
		int s2 = CHECK_OK(accept(l, NULL, NULL));
		CHECK_EQ(recv(s2, &b, 1, 0), 1);
		CHECK_EQ(b, 'c');
		CHECK_OK(close(s1));
		CHECK_OK(close(s2));
		CHECK_OK(close(first));
		CHECK_OK(close(l));
		CHECK_OK(unlink("srv"));
	}
}

/* A blocking connect on a full backlog completes when listen is called
 * again with a larger backlog. */
static void
blocking_connect_woken_by_relisten(void)
{
	int l = listener(SOCK_STREAM, "srv", 0);
	int first = client(SOCK_STREAM, "srv");
	struct blocked_connect bc;
	int pipefd[2];
	int err;

	struct th_child *c = start_blocked_connect(&bc, SOCK_STREAM, pipefd);
	CHECK_OK(listen(l, 2));
	finish_blocked_connect(c, pipefd);
	/* backlog 2: the two queued plus one more. */
	CHECK_EQ(fill_backlog(SOCK_STREAM, "srv", 100, &err), 1);
	CHECK_EQ(err, EAGAIN);
	CHECK_OK(close(first));
	CHECK_OK(close(l));
	CHECK_OK(unlink("srv"));
}

/* A blocking connect on a full backlog gives up after SO_SNDTIMEO with
 * EAGAIN, and leaves the socket unconnected and reusable. */
static void
blocking_connect_sndtimeo_eagain(void)
{
	for (size_t t = 0; t < NCASES(conn_types); t++) {
		int l = listener(conn_types[t], "srv", 0);
		int first = client(conn_types[t], "srv");
		int fd = CHECK_OK(socket(AF_UNIX, conn_types[t], 0));
		long long t0, dt;
		union addr a;
		socklen_t len = sizeof(a);

		set_timeout(fd, SO_SNDTIMEO, 150);
		t0 = th_now_ms();
		CHECK_ERR(connect_path(fd, "srv"), EAGAIN);
		dt = th_now_ms() - t0;
		CHECK(dt >= 140 && dt < 2000);
		CHECK_ERR(getpeername(fd, &a.sa, &len), ENOTCONN);
		int s = CHECK_OK(accept(l, NULL, NULL));
		CHECK_OK(connect_path(fd, "srv"));
		CHECK_OK(close(s));
		CHECK_OK(close(fd));
		CHECK_OK(close(first));
		CHECK_OK(close(l));
		CHECK_OK(unlink("srv"));
	}
}

/* -- connect errors -- */

/* connect to a path that does not exist gives ENOENT, a path through a
 * regular file ENOTDIR. */
static void
connect_enoent(void)
{
	static const struct { const char *path; int err; } cases[] = {
		{ "nothing", ENOENT },
		{ "nodir/sock", ENOENT },
		{ "file/sock", ENOTDIR },
	};
	int fd = CHECK_OK(open("file", O_CREAT | O_WRONLY, 0644));

	CHECK_OK(close(fd));
	for (size_t i = 0; i < NCASES(cases); i++) {
		static const int types[] = {
			SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM
		};
		for (size_t t = 0; t < NCASES(types); t++) {
			fd = CHECK_OK(socket(AF_UNIX, types[t], 0));
			CHECK_ERR(connect_path(fd, cases[i].path),
				  cases[i].err);
			CHECK_OK(close(fd));
		}
	}
	CHECK_OK(unlink("file"));
}

/* connect gets ECONNREFUSED from a regular file, a stale socket node, a
 * socket that is bound but not listening, a listener that did SHUT_RD,
 * an abstract name nobody holds, and an abstract name held only by a
 * socket of another type. */
static void
connect_econnrefused(void)
{
	const char *u = th_unique();
	char other[80];
	struct sockaddr_un sun;
	socklen_t len;

	snprintf(other, sizeof(other), "%s-dgram", u);
	for (size_t t = 0; t < NCASES(conn_types); t++) {
		int type = conn_types[t];
		int fd = CHECK_OK(open("file", O_CREAT | O_WRONLY, 0644));
		CHECK_OK(close(fd));
		int stale = bound_socket(type, "stale");
		CHECK_OK(close(stale));
		int idle = bound_socket(type, "idle");
		int shut = listener(type, "shut", 4);
		CHECK_OK(shutdown(shut, SHUT_RD));
		int abs_other = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
		len = th_addr_abstract(&sun, other, strlen(other));
		CHECK_OK(bind(abs_other, (struct sockaddr *)&sun, len));

		static const char *const paths[] = {
			"file", "stale", "idle", "shut"
		};
		for (size_t i = 0; i < NCASES(paths); i++) {
			fd = CHECK_OK(socket(AF_UNIX, type, 0));
			CHECK_ERR(connect_path(fd, paths[i]), ECONNREFUSED);
			CHECK_OK(close(fd));
		}
		fd = CHECK_OK(socket(AF_UNIX, type, 0));
		len = th_addr_abstract(&sun, u, strlen(u));
		CHECK_ERR(connect(fd, (struct sockaddr *)&sun, len),
			  ECONNREFUSED);
		len = th_addr_abstract(&sun, other, strlen(other));
		CHECK_ERR(connect(fd, (struct sockaddr *)&sun, len),
			  ECONNREFUSED);
		CHECK_OK(close(fd));

		CHECK_OK(close(abs_other));
		CHECK_OK(close(shut));
		CHECK_OK(close(idle));
		CHECK_OK(unlink("file"));
		CHECK_OK(unlink("stale"));
		CHECK_OK(unlink("idle"));
		CHECK_OK(unlink("shut"));
	}
}

/* A datagram socket connecting to a regular file, a stale node, or an
 * unheld abstract name also gets ECONNREFUSED. */
static void
dgram_connect_econnrefused(void)
{
	const char *u = th_unique();
	struct sockaddr_un sun;
	socklen_t len = th_addr_abstract(&sun, u, strlen(u));
	int fd = CHECK_OK(open("file", O_CREAT | O_WRONLY, 0644));
	int stale = bound_socket(SOCK_DGRAM, "stale");

	CHECK_OK(close(fd));
	CHECK_OK(close(stale));
	fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_ERR(connect_path(fd, "file"), ECONNREFUSED);
	CHECK_ERR(connect_path(fd, "stale"), ECONNREFUSED);
	CHECK_ERR(connect(fd, (struct sockaddr *)&sun, len), ECONNREFUSED);
	CHECK_OK(close(fd));
	CHECK_OK(unlink("file"));
	CHECK_OK(unlink("stale"));
}

/* connect to a path held by a socket of another type gives EPROTOTYPE. */
static void
connect_eprototype(void)
{
	static const struct { int server, client; } cases[] = {
		{ SOCK_STREAM, SOCK_SEQPACKET },
		{ SOCK_STREAM, SOCK_DGRAM },
		{ SOCK_SEQPACKET, SOCK_STREAM },
		{ SOCK_SEQPACKET, SOCK_DGRAM },
		{ SOCK_DGRAM, SOCK_STREAM },
		{ SOCK_DGRAM, SOCK_SEQPACKET },
	};

	for (size_t i = 0; i < NCASES(cases); i++) {
		int l = bound_socket(cases[i].server, "srv");
		int fd = CHECK_OK(socket(AF_UNIX, cases[i].client, 0));

		if (cases[i].server != SOCK_DGRAM)
			CHECK_OK(listen(l, 4));
		CHECK_ERR(connect_path(fd, "srv"), EPROTOTYPE);
		CHECK_OK(close(fd));
		CHECK_OK(close(l));
		CHECK_OK(unlink("srv"));
	}
}

static int
connect_eacces_child(void *arg)
{
	static const struct { const char *path; int err; } cases[] = {
		{ "ro", EACCES },	/* node 0755 */
		{ "dir/rw", EACCES },	/* directory 0666: no search */
		{ "rw", 0 },		/* node 0777 */
	};

	if (th_setcred(65534, 65534) < 0) {
		CHECK(!"th_setcred");
		return th_failures();
	}
	for (size_t i = 0; i < NCASES(cases); i++) {
		static const int types[] = { SOCK_STREAM, SOCK_DGRAM };

		for (size_t t = 0; t < NCASES(types); t++) {
			int fd = CHECK_OK(socket(AF_UNIX, types[t], 0));
			char path[32];
			struct sockaddr_un sun;
			socklen_t len;

			snprintf(path, sizeof(path), "%s-%d", cases[i].path,
				 types[t]);
			if (cases[i].err == 0)
				CHECK_OK(connect_path(fd, path));
			else
				CHECK_ERR(connect_path(fd, path), cases[i].err);
			CHECK_OK(close(fd));
			if (types[t] != SOCK_DGRAM)
				continue;
			/* sendto checks the same permission. */
			fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
			len = th_addr_path(&sun, path);
			if (cases[i].err == 0)
				CHECK_EQ(sendto(fd, "x", 1, 0,
						(struct sockaddr *)&sun, len), 1);
			else
				CHECK_ERR(sendto(fd, "x", 1, 0,
						 (struct sockaddr *)&sun, len),
					  cases[i].err);
			CHECK_OK(close(fd));
		}
	}
	return th_failures();
}

/* connect and sendto need write permission on the node and search
 * permission on its directory; an unprivileged process gets EACCES. */
static void
connect_eacces(void)
{
	static const struct { const char *path; mode_t mode; } nodes[] = {
		{ "ro", 0755 }, { "dir/rw", 0777 }, { "rw", 0777 },
	};
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM };
	int fds[NCASES(nodes)][NCASES(types)];
	char path[32];

	th_require_root();
	CHECK_OK(mkdir("dir", 0777));
	for (size_t i = 0; i < NCASES(nodes); i++) {
		for (size_t t = 0; t < NCASES(types); t++) {
			snprintf(path, sizeof(path), "%s-%d", nodes[i].path,
				 types[t]);
			fds[i][t] = bound_socket(types[t], path);
			if (types[t] != SOCK_DGRAM)
				CHECK_OK(listen(fds[i][t], 8));
			CHECK_OK(chmod(path, nodes[i].mode));
		}
	}
	CHECK_OK(chmod("dir", 0666));
	CHECK_EQ(th_join(th_fork(connect_eacces_child, NULL)), 0);
	CHECK_OK(chmod("dir", 0755));
	for (size_t i = 0; i < NCASES(nodes); i++) {
		for (size_t t = 0; t < NCASES(types); t++) {
			snprintf(path, sizeof(path), "%s-%d", nodes[i].path,
				 types[t]);
			CHECK_OK(close(fds[i][t]));
			CHECK_OK(unlink(path));
		}
	}
	CHECK_OK(rmdir("dir"));
}

/* connect on a connected socket gives EISCONN, whether the target is the
 * same listener, another one, or the socket is a socketpair end. */
static void
connect_eisconn(void)
{
	for (size_t t = 0; t < NCASES(conn_types); t++) {
		int type = conn_types[t];
		int l = listener(type, "srv", 4);
		int l2 = listener(type, "srv2", 4);
		int c = client(type, "srv");
		int s = CHECK_OK(accept(l, NULL, NULL));
		int sv[2];

		CHECK_ERR(connect_path(c, "srv"), EISCONN);
		CHECK_ERR(connect_path(c, "srv2"), EISCONN);
		CHECK_ERR(connect_path(s, "srv2"), EISCONN);
		CHECK_OK(socketpair(AF_UNIX, type, 0, sv));
		CHECK_ERR(connect_path(sv[0], "srv"), EISCONN);
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
		CHECK_OK(close(s));
		CHECK_OK(close(c));
		CHECK_OK(close(l2));
		CHECK_OK(close(l));
		CHECK_OK(unlink("srv"));
		CHECK_OK(unlink("srv2"));
	}
}

/* connect on a listening socket gives EINVAL, even to itself. */
static void
connect_listening_einval(void)
{
	for (size_t t = 0; t < NCASES(conn_types); t++) {
		int l = listener(conn_types[t], "srv", 4);
		int l2 = listener(conn_types[t], "srv2", 4);

		CHECK_ERR(connect_path(l, "srv2"), EINVAL);
		CHECK_ERR(connect_path(l, "srv"), EINVAL);
		CHECK_OK(close(l2));
		CHECK_OK(close(l));
		CHECK_OK(unlink("srv"));
		CHECK_OK(unlink("srv2"));
	}
}

/* connect looks the target up, and checks that it listens and has room,
 * before it looks at the connecting socket's own state: a connected or
 * listening socket gets the target's error rather than EISCONN/EINVAL. */
static void
connect_target_checked_first(void)
{
	int l = listener(SOCK_STREAM, "srv", 0);
	int full = listener(SOCK_STREAM, "full", 0);
	int idle = bound_socket(SOCK_STREAM, "idle");
	int dg = bound_socket(SOCK_DGRAM, "dg");
	int c = client(SOCK_STREAM, "srv");
	int filler = client(SOCK_STREAM, "full");
	static const struct { const char *path; int err; } cases[] = {
		{ "missing", ENOENT },
		{ "dg", EPROTOTYPE },
		{ "idle", ECONNREFUSED },
		{ "full", EAGAIN },
	};

	CHECK_OK(fcntl(c, F_SETFL, O_NONBLOCK));
	CHECK_OK(fcntl(l, F_SETFL, O_NONBLOCK));
	for (size_t i = 0; i < NCASES(cases); i++) {
		CHECK_ERR(connect_path(c, cases[i].path), cases[i].err);
		CHECK_ERR(connect_path(l, cases[i].path), cases[i].err);
	}
	CHECK_OK(close(filler));
	CHECK_OK(close(c));
	CHECK_OK(close(dg));
	CHECK_OK(close(idle));
	CHECK_OK(close(full));
	CHECK_OK(close(l));
	CHECK_OK(unlink("srv"));
	CHECK_OK(unlink("full"));
	CHECK_OK(unlink("idle"));
	CHECK_OK(unlink("dg"));
}

/* A malformed address (length below 2 or above 110, another family)
 * gives EINVAL from connect. */
static void
connect_bad_address_einval(void)
{
	static const struct { sa_family_t family; socklen_t len; } cases[] = {
		{ AF_UNIX, 0 },
		{ AF_UNIX, 1 },
		{ AF_UNIX, sizeof(struct sockaddr_un) + 1 },
		{ AF_INET, SUN_HDR + 4 },
		{ AF_UNSPEC, SUN_HDR + 4 },
	};
	int l = listener(SOCK_STREAM, "srv", 4);

	for (size_t i = 0; i < NCASES(cases); i++) {
		union addr a;
		int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));

		memset(&a, 0, sizeof(a));
		a.sun.sun_family = cases[i].family;
		memcpy(a.sun.sun_path, "srv", 4);
		CHECK_ERR(connect(fd, &a.sa, cases[i].len), EINVAL);
		CHECK_OK(close(fd));
	}
	CHECK_OK(close(l));
	CHECK_OK(unlink("srv"));
}

/* A non-blocking connect to a listener with room completes at once: 0,
 * never EINPROGRESS. */
static void
connect_nonblocking_completes(void)
{
	for (size_t t = 0; t < NCASES(conn_types); t++) {
		int l = listener(conn_types[t], "srv", 4);
		int fd = CHECK_OK(socket(AF_UNIX, conn_types[t] | SOCK_NONBLOCK,
					 0));
		union addr a;
		socklen_t len = sizeof(a);

		CHECK_EQ(connect_path(fd, "srv"), 0);
		CHECK_OK(getpeername(fd, &a.sa, &len));
		CHECK_EQ(len, SUN_HDR + 4);
		CHECK_OK(close(fd));
		CHECK_OK(close(l));
		CHECK_OK(unlink("srv"));
	}
}

/* -- accept -- */

/* accept returns the client's name with its exact length: a path, an
 * abstract name, or just the family (length 2) for an unbound client. */
static void
accept_returns_client_address(void)
{
	const char *u = th_unique();
	struct sockaddr_un abs;
	socklen_t alen = th_addr_abstract(&abs, u, strlen(u));

	for (size_t t = 0; t < NCASES(conn_types); t++) {
		int type = conn_types[t];
		int l = listener(type, "srv", 4);
		int c1 = bound_socket(type, "client");
		int c2 = CHECK_OK(socket(AF_UNIX, type, 0));
		int c3 = CHECK_OK(socket(AF_UNIX, type, 0));
		union addr a;
		socklen_t len;

		CHECK_OK(bind(c2, (struct sockaddr *)&abs, alen));
		CHECK_OK(connect_path(c1, "srv"));
		CHECK_OK(connect_path(c2, "srv"));
		CHECK_OK(connect_path(c3, "srv"));

		len = sizeof(a);
		memset(&a, 0xee, sizeof(a));
		int s1 = CHECK_OK(accept(l, &a.sa, &len));
		CHECK_EQ(len, SUN_HDR + 7);
		CHECK_EQ(a.sun.sun_family, AF_UNIX);
		CHECK_MEM(a.sun.sun_path, "client", 7);

		len = sizeof(a);
		int s2 = CHECK_OK(accept(l, &a.sa, &len));
		CHECK_EQ(len, alen);
		CHECK_MEM(&a, &abs, alen);

		len = sizeof(a);
		memset(&a, 0xee, sizeof(a));
		int s3 = CHECK_OK(accept(l, &a.sa, &len));
		CHECK_EQ(len, SUN_HDR);
		CHECK_EQ(a.sun.sun_family, AF_UNIX);
		CHECK_EQ(((unsigned char *)&a)[SUN_HDR], 0xee);

		CHECK_OK(close(s1));
		CHECK_OK(close(s2));
		CHECK_OK(close(s3));
		CHECK_OK(close(c1));
		CHECK_OK(close(c2));
		CHECK_OK(close(c3));
		CHECK_OK(close(l));
		CHECK_OK(unlink("srv"));
		CHECK_OK(unlink("client"));
	}
}

/* accept with a short address buffer copies what fits and reports the
 * full length; NULL address and length are allowed. */
static void
accept_short_address_buffer(void)
{
	int l = listener(SOCK_STREAM, "srv", 4);
	int c1 = bound_socket(SOCK_STREAM, "client");
	union addr a;
	socklen_t len = 5;

	CHECK_OK(connect_path(c1, "srv"));
	int c2 = client(SOCK_STREAM, "srv");
	memset(&a, 0xee, sizeof(a));
	int s1 = CHECK_OK(accept(l, &a.sa, &len));
	CHECK_EQ(len, SUN_HDR + 7);
	CHECK_MEM(a.sun.sun_path, "cli", 3);
	CHECK_EQ(((unsigned char *)&a)[5], 0xee);
	int s2 = CHECK_OK(accept(l, NULL, NULL));
	CHECK_OK(close(s1));
	CHECK_OK(close(s2));
	CHECK_OK(close(c1));
	CHECK_OK(close(c2));
	CHECK_OK(close(l));
	CHECK_OK(unlink("srv"));
	CHECK_OK(unlink("client"));
}

/* Names seen from each end: the accepted socket's own name is the
 * listener's, its peer is the client; the client's peer is the
 * listener's name. */
static void
accept_socket_names(void)
{
	int l = listener(SOCK_SEQPACKET, "srv", 4);
	int c = bound_socket(SOCK_SEQPACKET, "cli");
	union addr a;
	socklen_t len;

	CHECK_OK(connect_path(c, "srv"));
	int s = CHECK_OK(accept(l, NULL, NULL));
	len = sizeof(a);
	CHECK_OK(getsockname(s, &a.sa, &len));
	CHECK_EQ(len, SUN_HDR + 4);
	CHECK_MEM(a.sun.sun_path, "srv", 4);
	len = sizeof(a);
	CHECK_OK(getpeername(s, &a.sa, &len));
	CHECK_EQ(len, SUN_HDR + 4);
	CHECK_MEM(a.sun.sun_path, "cli", 4);
	len = sizeof(a);
	CHECK_OK(getpeername(c, &a.sa, &len));
	CHECK_EQ(len, SUN_HDR + 4);
	CHECK_MEM(a.sun.sun_path, "srv", 4);
	CHECK_OK(close(s));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
	CHECK_OK(unlink("srv"));
	CHECK_OK(unlink("cli"));
}

/* Connections are accepted in the order they were made. */
static void
accept_fifo_order(void)
{
	int l = listener(SOCK_STREAM, "srv", 8);
	int c[4];

	for (int i = 0; i < 4; i++) {
		char b = (char)('0' + i);

		c[i] = client(SOCK_STREAM, "srv");
		CHECK_EQ(send(c[i], &b, 1, 0), 1);
	}
	for (int i = 0; i < 4; i++) {
		int s = CHECK_OK(accept(l, NULL, NULL));
		char b = 0;

		CHECK_EQ(recv(s, &b, 1, 0), 1);
		CHECK_EQ(b, '0' + i);
		CHECK_OK(close(s));
	}
	for (int i = 0; i < 4; i++)
		CHECK_OK(close(c[i]));
	CHECK_OK(close(l));
	CHECK_OK(unlink("srv"));
}

/* An accepted socket does not inherit O_NONBLOCK from its listener. */
static void
accept_no_inherit_nonblock(void)
{
	int l = CHECK_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
	struct sockaddr_un sun;
	socklen_t len = th_addr_path(&sun, "srv");

	CHECK_OK(bind(l, (struct sockaddr *)&sun, len));
	CHECK_OK(listen(l, 4));
	int c = client(SOCK_STREAM, "srv");
	int s = CHECK_OK(accept(l, NULL, NULL));
	CHECK_EQ(fcntl(s, F_GETFL) & O_NONBLOCK, 0);
	CHECK(fcntl(l, F_GETFL) & O_NONBLOCK);
	CHECK_EQ(fcntl(s, F_GETFD), 0);
	CHECK_OK(close(s));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
	CHECK_OK(unlink("srv"));
}

/* accept4 sets O_NONBLOCK and FD_CLOEXEC on the new socket as asked. */
static void
accept4_flags(void)
{
	static const struct { int flags, nonblock, cloexec; } cases[] = {
		{ 0, 0, 0 },
		{ SOCK_NONBLOCK, O_NONBLOCK, 0 },
		{ SOCK_CLOEXEC, 0, FD_CLOEXEC },
		{ SOCK_NONBLOCK | SOCK_CLOEXEC, O_NONBLOCK, FD_CLOEXEC },
	};
	int l = listener(SOCK_STREAM, "srv", 8);

	for (size_t i = 0; i < NCASES(cases); i++) {
		int c = client(SOCK_STREAM, "srv");
		int s = CHECK_OK(accept4(l, NULL, NULL, cases[i].flags));

		CHECK_EQ(fcntl(s, F_GETFL) & O_NONBLOCK, cases[i].nonblock);
		CHECK_EQ(fcntl(s, F_GETFD), cases[i].cloexec);
		if (cases[i].nonblock) {
			char b;

			CHECK_ERR(recv(s, &b, 1, 0), EAGAIN);
		}
		CHECK_OK(close(s));
		CHECK_OK(close(c));
	}
	CHECK_OK(close(l));
	CHECK_OK(unlink("srv"));
}

/* accept4 with any other flag gives EINVAL and leaves the connection
 * queued. */
static void
accept4_bad_flags_einval(void)
{
	static const int bad[] = {
		1, O_RDWR, MSG_DONTWAIT, O_APPEND, SOCK_NONBLOCK | 1, -1,
	};
	int l = listener(SOCK_STREAM, "srv", 8);
	int c = client(SOCK_STREAM, "srv");

	for (size_t i = 0; i < NCASES(bad); i++)
		CHECK_ERR(accept4(l, NULL, NULL, bad[i]), EINVAL);
	int s = CHECK_OK(accept4(l, NULL, NULL, SOCK_NONBLOCK));
	CHECK_OK(close(s));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
	CHECK_OK(unlink("srv"));
}

/* accept on a datagram socket gives EOPNOTSUPP. */
static void
accept_dgram_eopnotsupp(void)
{
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	int b = bound_socket(SOCK_DGRAM, "d");

	CHECK_ERR(accept(fd, NULL, NULL), EOPNOTSUPP);
	CHECK_ERR(accept(b, NULL, NULL), EOPNOTSUPP);
	CHECK_ERR(accept4(b, NULL, NULL, SOCK_CLOEXEC), EOPNOTSUPP);
	CHECK_OK(close(fd));
	CHECK_OK(close(b));
	CHECK_OK(unlink("d"));
}

/* accept on a socket that is not listening gives EINVAL: unbound, bound,
 * connected. */
static void
accept_not_listening_einval(void)
{
	for (size_t t = 0; t < NCASES(conn_types); t++) {
		int type = conn_types[t];
		int fresh = CHECK_OK(socket(AF_UNIX, type, 0));
		int bound = bound_socket(type, "b");
		int l = listener(type, "srv", 4);
		int c = client(type, "srv");
		int s = CHECK_OK(accept(l, NULL, NULL));

		CHECK_ERR(accept(fresh, NULL, NULL), EINVAL);
		CHECK_ERR(accept(bound, NULL, NULL), EINVAL);
		CHECK_ERR(accept(c, NULL, NULL), EINVAL);
		CHECK_ERR(accept(s, NULL, NULL), EINVAL);
		CHECK_OK(close(s));
		CHECK_OK(close(c));
		CHECK_OK(close(l));
		CHECK_OK(close(bound));
		CHECK_OK(close(fresh));
		CHECK_OK(unlink("b"));
		CHECK_OK(unlink("srv"));
	}
}

/* A non-blocking accept with nothing pending gives EAGAIN, through
 * O_NONBLOCK on the listener. */
static void
accept_nonblocking_eagain(void)
{
	for (size_t t = 0; t < NCASES(conn_types); t++) {
		int l = listener(conn_types[t], "srv", 4);

		CHECK_OK(fcntl(l, F_SETFL, O_NONBLOCK));
		CHECK_ERR(accept(l, NULL, NULL), EAGAIN);
		CHECK_ERR(accept4(l, NULL, NULL, SOCK_CLOEXEC), EAGAIN);
		int c = client(conn_types[t], "srv");
		int s = CHECK_OK(accept(l, NULL, NULL));
		CHECK_ERR(accept(l, NULL, NULL), EAGAIN);
		CHECK_OK(close(s));
		CHECK_OK(close(c));
		CHECK_OK(close(l));
		CHECK_OK(unlink("srv"));
	}
}

/* A blocking accept gives up after SO_RCVTIMEO with EAGAIN. */
static void
accept_rcvtimeo_eagain(void)
{
	int l = listener(SOCK_STREAM, "srv", 4);
	long long t0, dt;

	set_timeout(l, SO_RCVTIMEO, 120);
	t0 = th_now_ms();
	CHECK_ERR(accept(l, NULL, NULL), EAGAIN);
	dt = th_now_ms() - t0;
	CHECK(dt >= 110 && dt < 2000);
	CHECK_OK(close(l));
	CHECK_OK(unlink("srv"));
}

static int
late_connect_child(void *arg)
{
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));

	th_sleep_ms(100);
	CHECK_OK(connect_path(fd, "srv"));
	CHECK_EQ(send(fd, "L", 1, 0), 1);
	CHECK_OK(close(fd));
	return th_failures();
}

/* A blocking accept waits for a connection made later by another
 * process. */
static void
accept_blocks_until_connect(void)
{
	int l = listener(SOCK_STREAM, "srv", 4);
	struct th_child *c = th_fork(late_connect_child, NULL);
	long long t0 = th_now_ms();
	int s = CHECK_OK(accept(l, NULL, NULL));
	char b[2];

	CHECK(th_now_ms() - t0 >= 50);
	CHECK_EQ(recv(s, b, sizeof(b), 0), 1);
	CHECK_EQ(b[0], 'L');
	CHECK_EQ(th_join(c), 0);
	CHECK_EQ(recv(s, b, sizeof(b), 0), 0);
	CHECK_OK(close(s));
	CHECK_OK(close(l));
	CHECK_OK(unlink("srv"));
}

/* The client may send as soon as connect returns, before accept; the data
 * waits on the accepted socket, also after the client has closed. */
static void
send_before_accept(void)
{
	for (size_t t = 0; t < NCASES(conn_types); t++) {
		int l = listener(conn_types[t], "srv", 4);
		int c = client(conn_types[t], "srv");
		char buf[16];

		CHECK_EQ(send(c, "early", 5, 0), 5);
		CHECK_EQ(send(c, "bird", 4, 0), 4);
		CHECK_OK(close(c));
		int s = CHECK_OK(accept(l, NULL, NULL));
		if (conn_types[t] == SOCK_STREAM) {
			CHECK_EQ(recv(s, buf, sizeof(buf), MSG_WAITALL), 9);
			CHECK_MEM(buf, "earlybird", 9);
		} else {
			CHECK_EQ(recv(s, buf, sizeof(buf), 0), 5);
			CHECK_MEM(buf, "early", 5);
			CHECK_EQ(recv(s, buf, sizeof(buf), 0), 4);
			CHECK_MEM(buf, "bird", 4);
		}
		CHECK_EQ(recv(s, buf, sizeof(buf), 0), 0);
		CHECK_OK(close(s));
		CHECK_OK(close(l));
		CHECK_OK(unlink("srv"));
	}
}

/* -- how the listener is found -- */

/* The listener is found by its node: after rename and through a hard
 * link connects still reach it, and the old name gives ENOENT. */
static void
listener_found_by_inode(void)
{
	int l = listener(SOCK_STREAM, "srv", 8);
	int fd;
	union addr a;
	socklen_t len;

	CHECK_OK(rename("srv", "moved"));
	fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_ERR(connect_path(fd, "srv"), ENOENT);
	CHECK_OK(connect_path(fd, "moved"));
	/* The client sees the name the listener was bound to. */
	len = sizeof(a);
	CHECK_OK(getpeername(fd, &a.sa, &len));
	CHECK_EQ(len, SUN_HDR + 4);
	CHECK_MEM(a.sun.sun_path, "srv", 4);
	CHECK_OK(close(fd));

	CHECK_OK(link("moved", "linked"));
	fd = client(SOCK_STREAM, "linked");
	CHECK_OK(close(fd));
	CHECK_OK(mkdir("sub", 0755));
	CHECK_OK(rename("moved", "sub/again"));
	fd = client(SOCK_STREAM, "sub/again");
	CHECK_OK(close(fd));

	for (int i = 0; i < 3; i++) {
		int s = CHECK_OK(accept(l, NULL, NULL));

		len = sizeof(a);
		CHECK_OK(getsockname(s, &a.sa, &len));
		CHECK_EQ(len, SUN_HDR + 4);
		CHECK_MEM(a.sun.sun_path, "srv", 4);
		CHECK_OK(close(s));
	}
	CHECK_OK(close(l));
	CHECK_OK(unlink("linked"));
	CHECK_OK(unlink("sub/again"));
	CHECK_OK(rmdir("sub"));
}

/* A symlink to the node is followed by connect and sendto. */
static void
symlink_followed(void)
{
	int l = listener(SOCK_STREAM, "srv", 4);
	int d = bound_socket(SOCK_DGRAM, "dsrv");
	struct sockaddr_un sun;
	socklen_t len = th_addr_path(&sun, "dlink");
	char b;

	CHECK_OK(symlink("srv", "link"));
	CHECK_OK(symlink("dsrv", "dlink"));
	int c = client(SOCK_STREAM, "link");
	int s = CHECK_OK(accept(l, NULL, NULL));
	CHECK_EQ(send(c, "y", 1, 0), 1);
	CHECK_EQ(recv(s, &b, 1, 0), 1);
	int u = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_EQ(sendto(u, "z", 1, 0, (struct sockaddr *)&sun, len), 1);
	CHECK_EQ(recv(d, &b, 1, 0), 1);
	CHECK_EQ(b, 'z');
	CHECK_OK(close(u));
	CHECK_OK(close(s));
	CHECK_OK(close(c));
	CHECK_OK(close(d));
	CHECK_OK(close(l));
	CHECK_OK(unlink("link"));
	CHECK_OK(unlink("dlink"));
	CHECK_OK(unlink("srv"));
	CHECK_OK(unlink("dsrv"));
}

/* After unlink, new connects get ENOENT; connections made before keep
 * working, queued ones can still be accepted, and a new socket may bind
 * the path and receive connects there. */
static void
unlink_listener_path(void)
{
	int l = listener(SOCK_STREAM, "srv", 4);
	int c1 = client(SOCK_STREAM, "srv");
	int s1 = CHECK_OK(accept(l, NULL, NULL));
	int c2 = client(SOCK_STREAM, "srv");
	int fd;
	char buf[4];

	CHECK_OK(unlink("srv"));
	fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_ERR(connect_path(fd, "srv"), ENOENT);
	CHECK_EQ(send(c1, "abc", 3, 0), 3);
	CHECK_EQ(recv(s1, buf, sizeof(buf), 0), 3);
	CHECK_EQ(send(s1, "de", 2, 0), 2);
	CHECK_EQ(recv(c1, buf, sizeof(buf), 0), 2);
	CHECK_MEM(buf, "de", 2);
	int s2 = CHECK_OK(accept(l, NULL, NULL));

	int l2 = listener(SOCK_STREAM, "srv", 4);
	CHECK_OK(connect_path(fd, "srv"));
	int s3 = CHECK_OK(accept(l2, NULL, NULL));
	CHECK_OK(fcntl(l, F_SETFL, O_NONBLOCK));
	CHECK_ERR(accept(l, NULL, NULL), EAGAIN);
	CHECK_OK(close(s3));
	CHECK_OK(close(s2));
	CHECK_OK(close(s1));
	CHECK_OK(close(fd));
	CHECK_OK(close(c2));
	CHECK_OK(close(c1));
	CHECK_OK(close(l2));
	CHECK_OK(close(l));
	CHECK_OK(unlink("srv"));
}

/* -- getpeername -- */

/* getpeername on a socket with no peer gives ENOTCONN: fresh, bound,
 * listening, and an unconnected datagram socket. */
static void
getpeername_unconnected_enotconn(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM };
	union addr a;
	socklen_t len;

	for (size_t t = 0; t < NCASES(types); t++) {
		int fresh = CHECK_OK(socket(AF_UNIX, types[t], 0));
		int bound = bound_socket(types[t], "b");

		len = sizeof(a);
		CHECK_ERR(getpeername(fresh, &a.sa, &len), ENOTCONN);
		len = sizeof(a);
		CHECK_ERR(getpeername(bound, &a.sa, &len), ENOTCONN);
		if (types[t] != SOCK_DGRAM) {
			CHECK_OK(listen(bound, 1));
			len = sizeof(a);
			CHECK_ERR(getpeername(bound, &a.sa, &len), ENOTCONN);
		}
		CHECK_OK(close(fresh));
		CHECK_OK(close(bound));
		CHECK_OK(unlink("b"));
	}
}

/* A client's getpeername keeps returning the listener's name after the
 * node is unlinked and after the listener and accepted socket close. */
static void
getpeername_after_unlink(void)
{
	int l = listener(SOCK_STREAM, "srv", 4);
	int c = client(SOCK_STREAM, "srv");
	int s = CHECK_OK(accept(l, NULL, NULL));
	union addr a;
	socklen_t len;

	CHECK_OK(unlink("srv"));
	len = sizeof(a);
	CHECK_OK(getpeername(c, &a.sa, &len));
	CHECK_EQ(len, SUN_HDR + 4);
	CHECK_MEM(a.sun.sun_path, "srv", 4);
	CHECK_OK(close(l));
	len = sizeof(a);
	CHECK_OK(getpeername(c, &a.sa, &len));
	CHECK_EQ(len, SUN_HDR + 4);
	CHECK_MEM(a.sun.sun_path, "srv", 4);
	CHECK_OK(close(s));
	len = sizeof(a);
	CHECK_OK(getpeername(c, &a.sa, &len));
	CHECK_EQ(len, SUN_HDR + 4);
	CHECK_MEM(a.sun.sun_path, "srv", 4);
	CHECK_OK(close(c));
}

/* -- listener closed before accept -- */

/* When a listener closes with connections not yet accepted, each client
 * reads ECONNRESET once and then end of file. */
static void
listener_closed_with_pending(void)
{
	for (size_t t = 0; t < NCASES(conn_types); t++) {
		int l = listener(conn_types[t], "srv", 4);
		int c1 = client(conn_types[t], "srv");
		int c2 = client(conn_types[t], "srv");
		char b;

		CHECK_EQ(send(c2, "unread", 6, 0), 6);
		CHECK_OK(close(l));
		CHECK_ERR(recv(c1, &b, 1, 0), ECONNRESET);
		CHECK_EQ(recv(c1, &b, 1, 0), 0);
		CHECK_EQ(recv(c1, &b, 1, MSG_DONTWAIT), 0);
		CHECK_ERR(recv(c2, &b, 1, 0), ECONNRESET);
		CHECK_EQ(recv(c2, &b, 1, 0), 0);
		CHECK_OK(close(c1));
		CHECK_OK(close(c2));
		CHECK_OK(unlink("srv"));
	}
}

/* After its listener closed before accept, a client's send gets EPIPE. */
static void
listener_closed_send_epipe(void)
{
	for (size_t t = 0; t < NCASES(conn_types); t++) {
		int l = listener(conn_types[t], "srv", 4);
		int c = client(conn_types[t], "srv");
		char b;

		CHECK_OK(close(l));
		CHECK_ERR(recv(c, &b, 1, 0), ECONNRESET);
		CHECK_ERR(send(c, "x", 1, MSG_NOSIGNAL), EPIPE);
		CHECK_OK(close(c));
		CHECK_OK(unlink("srv"));
	}
}

static const struct th_test tests[] = {
	{ "listen_dgram_eopnotsupp", listen_dgram_eopnotsupp },
	{ "listen_connected_einval", listen_connected_einval },
	{ "backlog_plus_one_pending", backlog_plus_one_pending },
	{ "backlog_relisten", backlog_relisten },
	{ "backlog_clamped_to_somaxconn", backlog_clamped_to_somaxconn },
	{ "blocking_connect_waits_for_accept", blocking_connect_waits_for_accept },
	{ "blocking_connect_woken_by_relisten", blocking_connect_woken_by_relisten },
	{ "blocking_connect_sndtimeo_eagain", blocking_connect_sndtimeo_eagain },
	{ "connect_enoent", connect_enoent },
	{ "connect_econnrefused", connect_econnrefused },
	{ "dgram_connect_econnrefused", dgram_connect_econnrefused },
	{ "connect_eprototype", connect_eprototype },
	{ "connect_eacces", connect_eacces },
	{ "connect_eisconn", connect_eisconn },
	{ "connect_listening_einval", connect_listening_einval },
	{ "connect_target_checked_first", connect_target_checked_first },
	{ "connect_bad_address_einval", connect_bad_address_einval },
	{ "connect_nonblocking_completes", connect_nonblocking_completes },
	{ "accept_returns_client_address", accept_returns_client_address },
	{ "accept_short_address_buffer", accept_short_address_buffer },
	{ "accept_socket_names", accept_socket_names },
	{ "accept_fifo_order", accept_fifo_order },
	{ "accept_no_inherit_nonblock", accept_no_inherit_nonblock },
	{ "accept4_flags", accept4_flags },
	{ "accept4_bad_flags_einval", accept4_bad_flags_einval },
	{ "accept_dgram_eopnotsupp", accept_dgram_eopnotsupp },
	{ "accept_not_listening_einval", accept_not_listening_einval },
	{ "accept_nonblocking_eagain", accept_nonblocking_eagain },
	{ "accept_rcvtimeo_eagain", accept_rcvtimeo_eagain },
	{ "accept_blocks_until_connect", accept_blocks_until_connect },
	{ "send_before_accept", send_before_accept },
	{ "listener_found_by_inode", listener_found_by_inode },
	{ "symlink_followed", symlink_followed },
	{ "unlink_listener_path", unlink_listener_path },
	{ "getpeername_unconnected_enotconn", getpeername_unconnected_enotconn },
	{ "getpeername_after_unlink", getpeername_after_unlink },
	{ "listener_closed_with_pending", listener_closed_with_pending },
	{ "listener_closed_send_epipe", listener_closed_send_epipe },
};

TH_MAIN(tests)

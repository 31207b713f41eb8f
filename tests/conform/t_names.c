/*
 * Names: path names (the node bind creates, EADDRINUSE, permissions,
 * address lengths and the 108-byte unterminated path), abstract names
 * (exact length, per socket type, released at close) and autobind
 * (explicit, and the implicit cases Linux really has).
 *
 * Every test runs in a fresh empty directory that is its working
 * directory, so paths are relative and the harness checks that each test
 * removes what it created.
 */
#include <sched.h>

#include "harness.h"

#define NCASES(a)	(sizeof(a) / sizeof((a)[0]))
#define SUN_HDR		offsetof(struct sockaddr_un, sun_path)	/* 2 */

/* A buffer big enough for any name the kernel reports (up to 111 bytes). */
union addr {
	struct sockaddr		sa;
	struct sockaddr_un	sun;
	struct sockaddr_storage	ss;
};

static const int all_types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };

/* getsockname into a buffer of @cap bytes pre-filled with 0xee. */
static socklen_t
local_name_cap(int fd, union addr *a, socklen_t cap)
{
	socklen_t len = cap;

	memset(a, 0xee, sizeof(*a));
	CHECK_OK(getsockname(fd, &a->sa, &len));
	return len;
}

static socklen_t
local_name(int fd, union addr *a)
{
	return local_name_cap(fd, a, sizeof(*a));
}

/* An autobound name is a NUL and five lowercase hex digits: length 8. */
static bool
is_autobind_name(const union addr *a, socklen_t len)
{
	if (len != SUN_HDR + 6 || a->sun.sun_family != AF_UNIX ||
	    a->sun.sun_path[0] != '\0')
		return false;
	for (int i = 1; i < 6; i++) {
		char c = a->sun.sun_path[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

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
abstract_socket(int type, const char *name, size_t n)
{
	struct sockaddr_un sun;
	socklen_t len = th_addr_abstract(&sun, name, n);
	int fd = CHECK_OK(socket(AF_UNIX, type, 0));

	CHECK_OK(bind(fd, (struct sockaddr *)&sun, len));
	return fd;
}

static void
make_file(const char *path)
{
	int fd = CHECK_OK(open(path, O_CREAT | O_WRONLY | O_EXCL, 0644));

	CHECK_OK(close(fd));
}

/* -- path names -- */

/* bind creates an S_IFSOCK node whose mode is 0777 & ~umask. */
static void
bind_path_node_mode_from_umask(void)
{
	static const mode_t masks[] = { 022, 077, 0, 0257 };
	mode_t old = umask(0);

	for (size_t i = 0; i < NCASES(masks); i++) {
		struct stat st;
		int fd;

		umask(masks[i]);
		fd = bound_socket(SOCK_STREAM, "sock");
		CHECK_OK(lstat("sock", &st));
		CHECK(S_ISSOCK(st.st_mode));
		CHECK_EQ(st.st_mode & 07777, 0777 & ~masks[i]);
		CHECK_EQ(st.st_uid, geteuid());
		CHECK_OK(close(fd));
		CHECK_OK(unlink("sock"));
	}
	umask(old);
}

/* Every socket type creates the same kind of node. */
static void
bind_path_all_types(void)
{
	for (size_t i = 0; i < NCASES(all_types); i++) {
		struct stat st;
		int fd = bound_socket(all_types[i], "sock");

		CHECK_OK(lstat("sock", &st));
		CHECK(S_ISSOCK(st.st_mode));
		CHECK_OK(close(fd));
		CHECK_OK(unlink("sock"));
	}
}

/* The node outlives the socket: closing never unlinks it. */
static void
bind_path_node_outlives_socket(void)
{
	struct stat st;
	int fd = bound_socket(SOCK_DGRAM, "sock");
	int fd2 = CHECK_OK(dup(fd));

	CHECK_OK(close(fd));
	CHECK_OK(close(fd2));
	CHECK_OK(lstat("sock", &st));
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_OK(unlink("sock"));
}

/* Any existing file at the path gives EADDRINUSE: a regular file, a stale
 * socket node, a live socket, a directory, a dangling symlink. */
static void
bind_path_exists_eaddrinuse(void)
{
	struct sockaddr_un sun;
	socklen_t len;
	int live, stale, fd;

	make_file("file");
	stale = bound_socket(SOCK_STREAM, "stale");
	CHECK_OK(close(stale));
	live = bound_socket(SOCK_STREAM, "live");
	CHECK_OK(mkdir("dir", 0755));
	CHECK_OK(symlink("nowhere", "link"));

	static const char *const paths[] = {
		"file", "stale", "live", "dir", "link",
	};
	for (size_t i = 0; i < NCASES(paths); i++) {
		for (size_t t = 0; t < NCASES(all_types); t++) {
			fd = CHECK_OK(socket(AF_UNIX, all_types[t], 0));
			len = th_addr_path(&sun, paths[i]);
			CHECK_ERR(bind(fd, (struct sockaddr *)&sun, len),
				  EADDRINUSE);
			/* The failed bind left the socket unbound. */
			union addr a;
			CHECK_EQ(local_name(fd, &a), SUN_HDR);
			CHECK_OK(close(fd));
		}
	}
	/* The dangling symlink was not followed to create "nowhere". */
	struct stat st;
	CHECK_ERR(lstat("nowhere", &st), ENOENT);
	CHECK_OK(close(live));
	CHECK_OK(unlink("file"));
	CHECK_OK(unlink("stale"));
	CHECK_OK(unlink("live"));
	CHECK_OK(rmdir("dir"));
	CHECK_OK(unlink("link"));
}

/* SO_REUSEADDR does not let bind reuse a stale socket node. */
static void
bind_path_reuseaddr_no_help(void)
{
	struct sockaddr_un sun;
	socklen_t len = th_addr_path(&sun, "sock");
	int one = 1;
	int fd = bound_socket(SOCK_STREAM, "sock");

	CHECK_OK(close(fd));
	fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
	CHECK_ERR(bind(fd, (struct sockaddr *)&sun, len), EADDRINUSE);
	CHECK_OK(close(fd));
	CHECK_OK(unlink("sock"));
}

/* Binding a socket that already has a name gives EINVAL, whatever the
 * kinds of the old and new names, and creates no file. */
static void
bind_twice_einval(void)
{
	struct sockaddr_un sun, abs;
	socklen_t len = th_addr_path(&sun, "second");
	socklen_t alen = th_addr_abstract(&abs, th_unique(), strlen(th_unique()));
	struct stat st;
	int fd;

	fd = bound_socket(SOCK_STREAM, "first");
	CHECK_ERR(bind(fd, (struct sockaddr *)&sun, len), EINVAL);
	CHECK_ERR(bind(fd, (struct sockaddr *)&abs, alen), EINVAL);
	CHECK_OK(close(fd));

	fd = abstract_socket(SOCK_DGRAM, th_unique(), strlen(th_unique()));
	CHECK_ERR(bind(fd, (struct sockaddr *)&sun, len), EINVAL);
	CHECK_ERR(bind(fd, (struct sockaddr *)&abs, alen), EINVAL);
	CHECK_OK(close(fd));

	fd = CHECK_OK(socket(AF_UNIX, SOCK_SEQPACKET, 0));
	abs.sun_family = AF_UNIX;
	CHECK_OK(bind(fd, (struct sockaddr *)&abs, SUN_HDR));	/* autobind */
	CHECK_ERR(bind(fd, (struct sockaddr *)&sun, len), EINVAL);
	CHECK_OK(close(fd));

	CHECK_ERR(lstat("second", &st), ENOENT);
	CHECK_OK(unlink("first"));
}

/* On a bound socket, a path bind fails on the existing file before the
 * socket's own state is looked at (EADDRINUSE, even for its own path),
 * while an abstract bind checks the socket first (EINVAL, even for a
 * name held by another socket). */
static void
bind_twice_error_order(void)
{
	const char *u = th_unique();
	struct sockaddr_un sun, abs;
	socklen_t len = th_addr_path(&sun, "mine");
	socklen_t alen = th_addr_abstract(&abs, u, strlen(u));
	int holder = abstract_socket(SOCK_STREAM, u, strlen(u));
	int fd = bound_socket(SOCK_STREAM, "mine");
	int other = bound_socket(SOCK_STREAM, "other");
	struct sockaddr_un osun;
	socklen_t olen = th_addr_path(&osun, "other");

	CHECK_ERR(bind(fd, (struct sockaddr *)&sun, len), EADDRINUSE);
	CHECK_ERR(bind(fd, (struct sockaddr *)&osun, olen), EADDRINUSE);
	CHECK_ERR(bind(fd, (struct sockaddr *)&abs, alen), EINVAL);
	CHECK_ERR(bind(holder, (struct sockaddr *)&abs, alen), EINVAL);
	CHECK_OK(close(other));
	CHECK_OK(close(fd));
	CHECK_OK(close(holder));
	CHECK_OK(unlink("mine"));
	CHECK_OK(unlink("other"));
}

/* A missing directory gives ENOENT, a file used as a directory ENOTDIR. */
static void
bind_path_missing_dir(void)
{
	static const struct { const char *path; int err; } cases[] = {
		{ "nodir/sock", ENOENT },
		{ "nodir/deeper/sock", ENOENT },
		{ "file/sock", ENOTDIR },
	};
	struct sockaddr_un sun;

	make_file("file");
	for (size_t i = 0; i < NCASES(cases); i++) {
		int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
		socklen_t len = th_addr_path(&sun, cases[i].path);

		CHECK_ERR(bind(fd, (struct sockaddr *)&sun, len), cases[i].err);
		CHECK_OK(close(fd));
	}
	CHECK_OK(unlink("file"));
}

static int
bind_unwritable_child(void *arg)
{
	static const char *const paths[] = { "ro/sock", "nox/sock" };
	struct sockaddr_un sun;

	if (th_setcred(65534, 65534) < 0) {
		CHECK(!"th_setcred");
		return th_failures();
	}
	for (size_t i = 0; i < NCASES(paths); i++) {
		int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
		socklen_t len = th_addr_path(&sun, paths[i]);

		CHECK_ERR(bind(fd, (struct sockaddr *)&sun, len), EACCES);
		CHECK_OK(close(fd));
	}
	/* Its own writable directory works. */
	int fd = bound_socket(SOCK_DGRAM, "rw/sock");
	CHECK_OK(close(fd));
	return th_failures();
}

/* An unprivileged process gets EACCES binding in a directory it cannot
 * write or cannot search. */
static void
bind_path_unwritable_dir_eacces(void)
{
	struct stat st;

	th_require_root();
	CHECK_OK(mkdir("ro", 0755));
	CHECK_OK(mkdir("nox", 0777));
	CHECK_OK(chmod("nox", 0666));
	CHECK_OK(mkdir("rw", 0777));
	CHECK_OK(chmod("rw", 0777));
	CHECK_EQ(th_join(th_fork(bind_unwritable_child, NULL)), 0);
	CHECK_ERR(lstat("ro/sock", &st), ENOENT);
	CHECK_OK(lstat("rw/sock", &st));
	CHECK_EQ(st.st_uid, 65534);
	CHECK_EQ(st.st_gid, 65534);
	CHECK_OK(unlink("rw/sock"));
	CHECK_OK(rmdir("ro"));
	CHECK_OK(rmdir("nox"));
	CHECK_OK(rmdir("rw"));
}

static int
setgid_dir_child(void *arg)
{
	struct stat st;
	int fd;

	(void)arg;
	if (th_setcred(12345, 12345) < 0) {
		CHECK(!"th_setcred");
		return th_failures();
	}
	fd = bound_socket(SOCK_STREAM, "sg/child");
	CHECK_OK(lstat("sg/child", &st));
	CHECK_EQ(st.st_uid, 12345);
	CHECK_EQ(st.st_gid, 65534);
	CHECK_OK(close(fd));
	return th_failures();
}

/* A node made in a set-group-ID directory takes the directory's group,
 * for root and for another user alike; elsewhere it gets the caller's
 * own ids. */
static void
bind_path_setgid_dir_group(void)
{
	struct stat st;
	int fd;

	th_require_root();
	CHECK_OK(mkdir("sg", 0777));
	CHECK_OK(chown("sg", (uid_t)-1, 65534));
	CHECK_OK(chmod("sg", 02777));
	fd = bound_socket(SOCK_DGRAM, "sg/root");
	CHECK_OK(lstat("sg/root", &st));
	CHECK_EQ(st.st_uid, 0);
	CHECK_EQ(st.st_gid, 65534);
	CHECK_OK(close(fd));
	fd = bound_socket(SOCK_DGRAM, "plain");
	CHECK_OK(lstat("plain", &st));
	CHECK_EQ(st.st_uid, geteuid());
	CHECK_EQ(st.st_gid, getegid());
	CHECK_OK(close(fd));
	CHECK_EQ(th_join(th_fork(setgid_dir_child, NULL)), 0);
	CHECK_OK(unlink("sg/root"));
	CHECK_OK(unlink("sg/child"));
	CHECK_OK(unlink("plain"));
	CHECK_OK(rmdir("sg"));
}

/* addrlen below 2 or above sizeof(struct sockaddr_un), or a family other
 * than AF_UNIX, gives EINVAL and leaves the socket unbound. */
static void
bind_bad_address_einval(void)
{
	static const struct { sa_family_t family; socklen_t len; } cases[] = {
		{ AF_UNIX, 0 },
		{ AF_UNIX, 1 },
		{ AF_UNIX, sizeof(struct sockaddr_un) + 1 },
		{ AF_UNIX, sizeof(struct sockaddr_storage) },
		{ AF_UNIX, sizeof(struct sockaddr_storage) + 1 },
		{ AF_UNSPEC, SUN_HDR },
		{ AF_UNSPEC, SUN_HDR + 5 },
		{ AF_INET, SUN_HDR + 5 },
		{ AF_INET6, sizeof(struct sockaddr_un) },
	};
	union addr a, got;
	struct stat st;

	for (size_t i = 0; i < NCASES(cases); i++) {
		int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));

		memset(&a, 0, sizeof(a));
		a.sun.sun_family = cases[i].family;
		memcpy(a.sun.sun_path, "name", 4);
		CHECK_ERR(bind(fd, &a.sa, cases[i].len), EINVAL);
		CHECK_EQ(local_name(fd, &got), SUN_HDR);
		CHECK_OK(close(fd));
	}
	CHECK_ERR(lstat("name", &st), ENOENT);
}

/* A 108-byte path with no NUL is valid; getsockname reports 111 bytes
 * (the path plus a NUL), more than sizeof(struct sockaddr_un), and with a
 * 110-byte buffer copies only 110 of them. */
static void
bind_path_108_unterminated(void)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	struct sockaddr_un sun;
	union addr a;
	socklen_t len;
	struct stat st;
	int fd, c;

	memset(path, 'p', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	len = th_addr_path(&sun, path);
	CHECK_EQ(len, sizeof(struct sockaddr_un));
	CHECK_EQ(strnlen(sun.sun_path, sizeof(sun.sun_path)), 108);

	fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(fd, (struct sockaddr *)&sun, len));
	CHECK_OK(lstat(path, &st));
	CHECK(S_ISSOCK(st.st_mode));

	CHECK_EQ(local_name(fd, &a), SUN_HDR + 109);
	CHECK_EQ(a.sun.sun_family, AF_UNIX);
	CHECK_MEM(a.sun.sun_path, path, 108);
	CHECK_EQ(((char *)&a)[SUN_HDR + 108], '\0');
	CHECK_EQ(((unsigned char *)&a)[SUN_HDR + 109], 0xee);

	CHECK_EQ(local_name_cap(fd, &a, sizeof(struct sockaddr_un)),
		 SUN_HDR + 109);
	CHECK_MEM(a.sun.sun_path, path, 108);
	CHECK_EQ(((unsigned char *)&a)[sizeof(struct sockaddr_un)], 0xee);

	/* The same unterminated address reaches it. */
	CHECK_OK(listen(fd, 1));
	c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&sun, len));
	len = sizeof(a);
	CHECK_OK(getpeername(c, &a.sa, &len));
	CHECK_EQ(len, SUN_HDR + 109);
	CHECK_MEM(a.sun.sun_path, path, 108);
	CHECK_OK(close(c));
	CHECK_OK(close(fd));
	CHECK_OK(unlink(path));
}

/* Only addrlen - 2 bytes are used and the name ends at the first NUL, and
 * getsockname reports 2 + strlen + 1 whatever addrlen was. */
static void
bind_path_reported_lengths(void)
{
	static const struct {
		const char	*bytes;		/* sun_path contents */
		size_t		 blen;		/* how many of them */
		size_t		 n;		/* bytes passed: addrlen - 2 */
		const char	*file;		/* the node created */
	} cases[] = {
		{ "a", 1, 1, "a" },			/* no NUL */
		{ "a", 1, 2, "a" },			/* with NUL */
		{ "abc", 3, 3, "abc" },
		{ "abc", 3, 4, "abc" },
		{ "abc", 3, 108, "abc" },		/* full, zero padded */
		{ "abcdef", 6, 3, "abc" },		/* cut by addrlen */
		{ "ab\0cd", 5, 5, "ab" },		/* ends at first NUL */
		{ "d/x", 3, 3, "d/x" },
		{ "./d/../y", 8, 9, "./d/../y" },	/* reported as given */
	};
	CHECK_OK(mkdir("d", 0755));
	for (size_t i = 0; i < NCASES(cases); i++) {
		union addr in, out;
		struct stat st;
		size_t flen = strlen(cases[i].file);
		int fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));

		memset(&in, 0, sizeof(in));
		in.sun.sun_family = AF_UNIX;
		memcpy(in.sun.sun_path, cases[i].bytes, cases[i].blen);
		CHECK_OK(bind(fd, &in.sa, SUN_HDR + cases[i].n));
		CHECK_EQ(local_name(fd, &out), SUN_HDR + flen + 1);
		CHECK_MEM(out.sun.sun_path, cases[i].file, flen + 1);
		CHECK_OK(lstat(cases[i].file, &st));
		CHECK(S_ISSOCK(st.st_mode));
		CHECK_OK(close(fd));
		CHECK_OK(unlink(cases[i].file));
	}
	CHECK_OK(rmdir("d"));
}

/* An unbound socket of any type reports just the family: length 2. */
static void
getsockname_unbound_length_2(void)
{
	for (size_t i = 0; i < NCASES(all_types); i++) {
		union addr a;
		int fd = CHECK_OK(socket(AF_UNIX, all_types[i], 0));

		CHECK_EQ(local_name(fd, &a), SUN_HDR);
		CHECK_EQ(a.sun.sun_family, AF_UNIX);
		CHECK_EQ(((unsigned char *)&a)[SUN_HDR], 0xee);
		CHECK_OK(close(fd));
	}
}

/* getsockname with a short buffer copies what fits and reports the full
 * length; a zero length copies nothing. */
static void
getsockname_short_buffer(void)
{
	static const socklen_t caps[] = { 0, 1, 2, 4, 8 };
	int fd = bound_socket(SOCK_STREAM, "abcdefgh");

	for (size_t i = 0; i < NCASES(caps); i++) {
		union addr a;

		CHECK_EQ(local_name_cap(fd, &a, caps[i]), SUN_HDR + 9);
		union addr full;
		memset(&full, 0xee, sizeof(full));
		full.sun.sun_family = AF_UNIX;
		memcpy(full.sun.sun_path, "abcdefgh", 9);
		CHECK_MEM(&a, &full, caps[i]);
		CHECK_EQ(((unsigned char *)&a)[caps[i]], 0xee);
	}
	CHECK_OK(close(fd));
	CHECK_OK(unlink("abcdefgh"));
}

/* A bound socket keeps its node: after the path is unlinked, a socket
 * bound there anew gets another node, and once that one is closed a
 * connect or sendto to the path is refused instead of reaching the first
 * socket (ext4 hands a freed inode number to the next node at once). */
static void
bind_path_unlinked_node_not_reused(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM };
	struct sockaddr_un sun;
	socklen_t len = th_addr_path(&sun, "x");

	for (size_t i = 0; i < NCASES(types); i++) {
		struct stat st_a, st_b;
		int a = bound_socket(types[i], "x");
		int b, c;

		if (types[i] == SOCK_STREAM)
			CHECK_OK(listen(a, 4));
		CHECK_OK(lstat("x", &st_a));
		CHECK_OK(unlink("x"));
		b = bound_socket(types[i], "x");
		CHECK_OK(lstat("x", &st_b));
		CHECK(st_b.st_ino != st_a.st_ino);
		CHECK_OK(close(b));

		c = CHECK_OK(socket(AF_UNIX, types[i], 0));
		if (types[i] == SOCK_STREAM)
			CHECK_ERR(connect(c, (struct sockaddr *)&sun, len),
				  ECONNREFUSED);
		else
			CHECK_ERR(sendto(c, "x", 1, 0,
					 (struct sockaddr *)&sun, len),
				  ECONNREFUSED);
		CHECK_OK(close(c));
		CHECK_OK(close(a));
		CHECK_OK(unlink("x"));
	}
}

/* How many socket nodes the other user makes looking for the freed
 * inode: ext4 gives the first one the number at once. */
#define NODES_TRIED	8

static int
unlinked_private_child(void *arg)
{
	struct sockaddr_un sun;
	char path[32];

	(void)arg;
	if (th_setcred(65534, 65534) < 0) {
		CHECK(!"th_setcred");
		return th_failures();
	}
	for (int i = 0; i < NODES_TRIED; i++) {
		snprintf(path, sizeof(path), "pub/n%d", i);
		CHECK_OK(mknod(path, S_IFSOCK | 0666, 0));
	}
	for (int i = 0; i < NODES_TRIED; i++) {
		socklen_t len;
		int c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));

		snprintf(path, sizeof(path), "pub/n%d", i);
		len = th_addr_path(&sun, path);
		CHECK_ERR(connect(c, (struct sockaddr *)&sun, len),
			  ECONNREFUSED);
		CHECK_OK(close(c));
		CHECK_OK(unlink(path));
	}
	return th_failures();
}

/* A listener bound behind a 0700 directory and then unlinked stays out
 * of another user's reach: the socket nodes that user makes elsewhere
 * are not taken for it. */
static void
bind_path_unlinked_private_unreachable(void)
{
	int l;

	th_require_root();
	CHECK_OK(mkdir("priv", 0700));
	CHECK_OK(mkdir("pub", 0777));
	CHECK_OK(chmod("pub", 0777));
	l = bound_socket(SOCK_STREAM, "priv/s");
	CHECK_OK(listen(l, 4));
	CHECK_OK(unlink("priv/s"));
	CHECK_EQ(th_join(th_fork(unlinked_private_child, NULL)), 0);
	CHECK_OK(close(l));
	CHECK_OK(rmdir("priv"));
	CHECK_OK(rmdir("pub"));
}

/* Where connect's path lookup ends for an unprivileged user: each path
 * as given, and the error (0: the listener behind "open/srv"). */
static const struct {
	const char	*path;
	int		 err;
} lookup_cases[] = {
	{ "open/srv", 0 },
	{ "./open//srv", 0 },
	{ "open/../open/srv", 0 },
	{ "l-open", 0 },		/* symlink to the node */
	{ "l-dir/srv", 0 },		/* symlink to its directory */
	{ "@/open/srv", 0 },		/* absolute ("@" is the test dir) */
	{ "shut/srv", EACCES },		/* directory without search */
	{ "shut/missing", EACCES },	/* search checked before the name */
	{ "l-shut", EACCES },		/* through a symlink */
	{ "ro", EACCES },		/* node without write permission */
	{ "ro-file", EACCES },		/* write permission before the type */
	{ "file", ECONNREFUSED },	/* not a socket */
	{ "open", EACCES },		/* a directory it cannot write */
	{ "missing", ENOENT },
	{ "open/missing", ENOENT },
	{ "l-none", ENOENT },		/* dangling symlink */
	{ "file/x", ENOTDIR },
	{ "open/srv/", ENOTDIR },	/* trailing slash on a socket */
	{ "loop1", ELOOP },
	{ "loop1/x", ELOOP },
};

static int
lookup_unprivileged_child(void *arg)
{
	const char *top = arg;

	if (th_setcred(65534, 65534) < 0) {
		CHECK(!"th_setcred");
		return th_failures();
	}
	for (size_t i = 0; i < NCASES(lookup_cases); i++) {
		struct sockaddr_un sun;
		char path[sizeof(sun.sun_path)];
		socklen_t len;
		int fd;

		if (lookup_cases[i].path[0] == '@')
			snprintf(path, sizeof(path), "%s%s", top,
				 lookup_cases[i].path + 1);
		else
			snprintf(path, sizeof(path), "%s",
				 lookup_cases[i].path);
		len = th_addr_path(&sun, path);
		fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
		errno = 0;
		int r = connect(fd, (struct sockaddr *)&sun, len);
		int e = r < 0 ? errno : 0;
		if (e != lookup_cases[i].err)
			th_fail(__FILE__, __LINE__, "connect(\"%s\"): %s, want %s",
				path, strerror(e), strerror(lookup_cases[i].err));
		CHECK_OK(close(fd));
	}
	return th_failures();
}

/* connect resolves a path as Linux does for an unprivileged user:
 * symlinks, dot-dot, repeated slashes, search and write permission, and
 * the walk's errors, in Linux's order. */
static void
connect_path_lookup_unprivileged(void)
{
	char top[PATH_MAX];
	int l;

	th_require_root();
	CHECK(getcwd(top, sizeof(top)) != NULL);
	CHECK_OK(mkdir("open", 0755));
	CHECK_OK(mkdir("shut", 0755));
	l = bound_socket(SOCK_STREAM, "open/srv");
	CHECK_OK(listen(l, 64));
	CHECK_OK(chmod("open/srv", 0777));
	int shut = bound_socket(SOCK_STREAM, "shut/srv");
	CHECK_OK(chmod("shut/srv", 0777));
	CHECK_OK(chmod("shut", 0700));
	int ro = bound_socket(SOCK_STREAM, "ro");
	CHECK_OK(chmod("ro", 0755));
	make_file("file");
	CHECK_OK(chmod("file", 0666));
	make_file("ro-file");
	CHECK_OK(chmod("ro-file", 0644));
	CHECK_OK(symlink("open/srv", "l-open"));
	CHECK_OK(symlink("open", "l-dir"));
	CHECK_OK(symlink("shut/srv", "l-shut"));
	CHECK_OK(symlink("none", "l-none"));
	CHECK_OK(symlink("loop2", "loop1"));
	CHECK_OK(symlink("loop1", "loop2"));

	CHECK_EQ(th_join(th_fork(lookup_unprivileged_child, top)), 0);
	/* Every successful connect is queued on the listener. */
	CHECK_OK(fcntl(l, F_SETFL, O_NONBLOCK));
	for (size_t i = 0; i < NCASES(lookup_cases); i++) {
		if (lookup_cases[i].err != 0)
			continue;
		int s = CHECK_OK(accept(l, NULL, NULL));
		CHECK_OK(close(s));
	}
	CHECK_ERR(accept(l, NULL, NULL), EAGAIN);

	CHECK_OK(close(l));
	CHECK_OK(close(shut));
	CHECK_OK(close(ro));
	static const char *const files[] = {
		"open/srv", "shut/srv", "ro", "file", "ro-file", "l-open",
		"l-dir", "l-shut", "l-none", "loop1", "loop2",
	};
	for (size_t i = 0; i < NCASES(files); i++)
		CHECK_OK(unlink(files[i]));
	CHECK_OK(rmdir("open"));
	CHECK_OK(rmdir("shut"));
}

/* -- abstract names -- */

/* An abstract name is exactly addrlen - 2 bytes, NULs included, and
 * getsockname gives it back byte for byte; no file is created. */
static void
abstract_exact_length(void)
{
	char name[64];
	size_t n = (size_t)snprintf(name, sizeof(name), "%s", th_unique());
	static const struct { const char *tail; size_t n; } tails[] = {
		{ "", 0 },
		{ "\0", 1 },
		{ "\0\0", 2 },
		{ "x", 1 },
		{ "\0x", 2 },
		{ "x\0y\0", 4 },
	};
	int fds[NCASES(tails)];

	/* All of these are different names, so all can be bound at once. */
	for (size_t i = 0; i < NCASES(tails); i++) {
		char buf[128];
		union addr a;
		socklen_t len;

		memcpy(buf, name, n);
		memcpy(buf + n, tails[i].tail, tails[i].n);
		fds[i] = abstract_socket(SOCK_STREAM, buf, n + tails[i].n);
		len = local_name(fds[i], &a);
		CHECK_EQ(len, SUN_HDR + 1 + n + tails[i].n);
		CHECK_EQ(a.sun.sun_path[0], '\0');
		CHECK_MEM(a.sun.sun_path + 1, buf, n + tails[i].n);
		CHECK_EQ(((unsigned char *)&a)[len], 0xee);
	}
	for (size_t i = 0; i < NCASES(tails); i++)
		CHECK_OK(close(fds[i]));
}

/* The full 108 bytes can form an abstract name, and so can a single NUL
 * byte (addrlen 3). */
static void
abstract_extreme_lengths(void)
{
	union addr a, got;
	int fd1, fd2;

	memset(&a, 0, sizeof(a));
	a.sun.sun_family = AF_UNIX;
	fd1 = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	fd2 = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(bind(fd1, &a.sa, SUN_HDR + 1));
	CHECK_EQ(local_name(fd1, &got), SUN_HDR + 1);
	CHECK_EQ(got.sun.sun_path[0], '\0');

	snprintf(a.sun.sun_path + 1, 107, "%s", th_unique());
	memset(a.sun.sun_path + 100, 'z', 8);
	CHECK_OK(bind(fd2, &a.sa, sizeof(struct sockaddr_un)));
	CHECK_EQ(local_name(fd2, &got), sizeof(struct sockaddr_un));
	CHECK_MEM(got.sun.sun_path, a.sun.sun_path, 108);

	/* They reach each other. */
	CHECK_OK(connect(fd1, &a.sa, sizeof(struct sockaddr_un)));
	CHECK_EQ(send(fd1, "hi", 2, 0), 2);
	char buf[4];
	socklen_t flen = sizeof(got);
	CHECK_EQ(recvfrom(fd2, buf, sizeof(buf), 0, &got.sa, &flen), 2);
	CHECK_EQ(flen, SUN_HDR + 1);
	CHECK_OK(close(fd1));
	CHECK_OK(close(fd2));
}

/* Connecting needs the exact length: one byte more or less is another,
 * unbound, name. */
static void
abstract_connect_exact_length(void)
{
	const char *u = th_unique();
	size_t n = strlen(u);
	struct sockaddr_un sun;
	socklen_t len;
	int l = abstract_socket(SOCK_STREAM, u, n);
	int c;

	CHECK_OK(listen(l, 4));
	len = th_addr_abstract(&sun, u, n);
	c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_ERR(connect(c, (struct sockaddr *)&sun, len + 1), ECONNREFUSED);
	CHECK_ERR(connect(c, (struct sockaddr *)&sun, len - 1), ECONNREFUSED);
	CHECK_OK(connect(c, (struct sockaddr *)&sun, len));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* Sockets of different types can hold one abstract name at once. */
static void
abstract_types_coexist(void)
{
	const char *u = th_unique();
	int fds[NCASES(all_types)];

	for (size_t i = 0; i < NCASES(all_types); i++)
		fds[i] = abstract_socket(all_types[i], u, strlen(u));
	/* SOCK_RAW is a datagram socket, so it collides with SOCK_DGRAM. */
	struct sockaddr_un sun;
	socklen_t len = th_addr_abstract(&sun, u, strlen(u));
	int raw = CHECK_OK(socket(AF_UNIX, SOCK_RAW, 0));
	CHECK_ERR(bind(raw, (struct sockaddr *)&sun, len), EADDRINUSE);
	CHECK_OK(close(raw));
	for (size_t i = 0; i < NCASES(all_types); i++)
		CHECK_OK(close(fds[i]));
}

/* A second socket of the same type gets EADDRINUSE for a held name. */
static void
abstract_same_type_eaddrinuse(void)
{
	const char *u = th_unique();
	struct sockaddr_un sun;
	socklen_t len = th_addr_abstract(&sun, u, strlen(u));

	for (size_t i = 0; i < NCASES(all_types); i++) {
		int a = abstract_socket(all_types[i], u, strlen(u));
		int b = CHECK_OK(socket(AF_UNIX, all_types[i], 0));

		CHECK_ERR(bind(b, (struct sockaddr *)&sun, len), EADDRINUSE);
		CHECK_OK(close(b));
		CHECK_OK(close(a));
	}
}

/* An abstract name is released when the last descriptor closes, and can
 * be bound again at once. */
static void
abstract_released_at_last_close(void)
{
	const char *u = th_unique();
	struct sockaddr_un sun;
	socklen_t len = th_addr_abstract(&sun, u, strlen(u));
	int a = abstract_socket(SOCK_DGRAM, u, strlen(u));
	int dupfd = CHECK_OK(dup(a));
	int b = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));

	CHECK_OK(close(a));
	CHECK_ERR(bind(b, (struct sockaddr *)&sun, len), EADDRINUSE);
	CHECK_OK(close(dupfd));
	CHECK_OK(bind(b, (struct sockaddr *)&sun, len));
	CHECK_OK(close(b));

	/* A listener's name too, even with a connection still open. */
	int l = abstract_socket(SOCK_STREAM, u, strlen(u));
	CHECK_OK(listen(l, 1));
	int c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&sun, len));
	int s = CHECK_OK(accept(l, NULL, NULL));
	CHECK_OK(close(l));
	/* The accepted socket shares the name but does not hold it. */
	b = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(b, (struct sockaddr *)&sun, len));
	CHECK_OK(close(b));
	CHECK_OK(close(s));
	CHECK_OK(close(c));
}

/* Binding an abstract name creates nothing in the filesystem, even for a
 * name that looks like a path. */
static void
abstract_creates_no_file(void)
{
	struct sockaddr_un sun;
	socklen_t len = th_addr_abstract(&sun, "file", 4);
	struct stat st;
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	int fd2 = bound_socket(SOCK_STREAM, "file");

	/* A path node of the same spelling is a different name. */
	CHECK_OK(bind(fd, (struct sockaddr *)&sun, len));
	CHECK_OK(close(fd2));
	CHECK_OK(unlink("file"));
	CHECK_ERR(lstat("file", &st), ENOENT);
	CHECK_OK(close(fd));
	CHECK_ERR(lstat("file", &st), ENOENT);
}

/* Whether this process may make a network namespace: the probe child
 * returns 0 or the errno of unshare. */
static int
netns_probe_child(void *arg)
{
	(void)arg;
	return unshare(CLONE_NEWNET) < 0 ? errno : 0;
}

static int
netns_child(void *arg)
{
	const char *u = arg;
	struct sockaddr_un sun;
	socklen_t len = th_addr_abstract(&sun, u, strlen(u));
	union addr a;
	char c;
	int fd, l, d, s, home, stay;

	/* The namespace to come back to. */
	home = CHECK_OK(open("/proc/thread-self/ns/net", O_RDONLY));
	if (unshare(CLONE_NEWNET) < 0) {
		CHECK(!"unshare(CLONE_NEWNET)");
		CHECK_OK(close(home));
		return th_failures();
	}
	/* The parent's names are not here... */
	fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_ERR(connect(fd, (struct sockaddr *)&sun, len), ECONNREFUSED);
	CHECK_OK(close(fd));
	fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_ERR(sendto(fd, "x", 1, 0, (struct sockaddr *)&sun, len),
		  ECONNREFUSED);
	CHECK_OK(close(fd));
	/* ...and this namespace can hold the same ones. */
	l = abstract_socket(SOCK_STREAM, u, strlen(u));
	d = abstract_socket(SOCK_DGRAM, u, strlen(u));
	CHECK_OK(listen(l, 1));
	fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(connect(fd, (struct sockaddr *)&sun, len));
	s = CHECK_OK(accept(l, NULL, NULL));
	CHECK_EQ(send(fd, "n", 1, 0), 1);
	CHECK_EQ(recv(s, &c, 1, 0), 1);
	CHECK_EQ(c, 'n');
	CHECK_OK(close(s));
	CHECK_OK(close(fd));
	/* An automatic name is one of this namespace's too. */
	fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	memset(&a, 0, sizeof(a));
	a.sun.sun_family = AF_UNIX;
	CHECK_OK(bind(fd, &a.sa, SUN_HDR));
	len = local_name(fd, &a);
	CHECK(is_autobind_name(&a, len));
	CHECK_EQ(sendto(d, "a", 1, 0, &a.sa, len), 1);
	CHECK_EQ(recv(fd, &c, 1, 0), 1);
	CHECK_OK(close(fd));

	/* Back home, a new socket finds the parent's names again, while one
	 * made here keeps looking in the namespace it was made in. */
	stay = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(setns(home, CLONE_NEWNET));
	len = th_addr_abstract(&sun, u, strlen(u));
	fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_EQ(sendto(fd, "h", 1, 0, (struct sockaddr *)&sun, len), 1);
	CHECK_EQ(sendto(stay, "s", 1, 0, (struct sockaddr *)&sun, len), 1);
	CHECK_EQ(recv(d, &c, 1, MSG_DONTWAIT), 1);
	CHECK_EQ(c, 's');
	CHECK_ERR(recv(d, &c, 1, MSG_DONTWAIT), EAGAIN);
	CHECK_OK(close(stay));
	CHECK_OK(close(fd));
	CHECK_OK(close(home));
	CHECK_OK(close(d));
	CHECK_OK(close(l));
	return th_failures();
}

/* Each network namespace has its own abstract names: a process in a new
 * one gets ECONNREFUSED for a name bound in its parent's and may bind
 * that name itself, while the parent keeps its own. A socket belongs to
 * the namespace it was made in: after a setns back, new sockets reach
 * the parent's names and older ones still those of the namespace left. */
static void
abstract_per_network_namespace(void)
{
	static char why[96];
	const char *u = th_unique();
	struct sockaddr_un sun;
	socklen_t len = th_addr_abstract(&sun, u, strlen(u));
	int probe, l, d, fd, s;

	th_require_root();
	probe = th_join(th_fork(netns_probe_child, NULL));
	if (probe != 0) {
		snprintf(why, sizeof(why), "unshare(CLONE_NEWNET): %s",
			 strerror(probe));
		th_skip(why);
	}
	l = abstract_socket(SOCK_STREAM, u, strlen(u));
	d = abstract_socket(SOCK_DGRAM, u, strlen(u));
	CHECK_OK(listen(l, 1));
	CHECK_EQ(th_join(th_fork(netns_child, (void *)u)), 0);

	/* The child's socket made after its setns home reached ours. */
	char c;
	CHECK_EQ(recv(d, &c, 1, MSG_DONTWAIT), 1);
	CHECK_EQ(c, 'h');
	CHECK_ERR(recv(d, &c, 1, MSG_DONTWAIT), EAGAIN);
	/* The child's binds took nothing from the parent's namespace. */
	fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(connect(fd, (struct sockaddr *)&sun, len));
	s = CHECK_OK(accept(l, NULL, NULL));
	CHECK_OK(close(s));
	CHECK_OK(close(fd));
	fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_ERR(bind(fd, (struct sockaddr *)&sun, len), EADDRINUSE);
	CHECK_OK(close(fd));
	CHECK_OK(close(d));
	CHECK_OK(close(l));
}

/* -- autobind -- */

/* bind with addrlen 2 picks a name: NUL and five lowercase hex digits,
 * length 8, different for each socket, usable by others. */
static void
autobind_explicit(void)
{
	union addr a, n1, n2;
	socklen_t l1, l2;
	int fd1 = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	int fd2 = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	char buf[8];

	memset(&a, 0, sizeof(a));
	a.sun.sun_family = AF_UNIX;
	CHECK_OK(bind(fd1, &a.sa, SUN_HDR));
	CHECK_OK(bind(fd2, &a.sa, SUN_HDR));
	l1 = local_name(fd1, &n1);
	l2 = local_name(fd2, &n2);
	CHECK(is_autobind_name(&n1, l1));
	CHECK(is_autobind_name(&n2, l2));
	CHECK(memcmp(n1.sun.sun_path, n2.sun.sun_path, 6) != 0);

	CHECK_EQ(sendto(fd2, "x", 1, 0, &n1.sa, l1), 1);
	socklen_t flen = sizeof(a);
	CHECK_EQ(recvfrom(fd1, buf, sizeof(buf), 0, &a.sa, &flen), 1);
	CHECK_EQ(flen, l2);
	CHECK_MEM(&a, &n2, l2);
	CHECK_OK(close(fd1));
	CHECK_OK(close(fd2));
}

/* Autobind works for every type, and ignores anything after the family. */
static void
autobind_all_types(void)
{
	for (size_t i = 0; i < NCASES(all_types); i++) {
		union addr a;
		int fd = CHECK_OK(socket(AF_UNIX, all_types[i], 0));

		memset(&a, 'x', sizeof(a));
		a.sun.sun_family = AF_UNIX;
		CHECK_OK(bind(fd, &a.sa, SUN_HDR));
		CHECK(is_autobind_name(&a, local_name(fd, &a)));
		CHECK_OK(close(fd));
	}
}

/* bind with addrlen 2 on a bound socket succeeds and changes nothing. */
static void
autobind_noop_when_bound(void)
{
	union addr a, before, after;
	socklen_t lb, la;
	int fd;

	memset(&a, 0, sizeof(a));
	a.sun.sun_family = AF_UNIX;

	fd = bound_socket(SOCK_STREAM, "sock");
	lb = local_name(fd, &before);
	CHECK_OK(bind(fd, &a.sa, SUN_HDR));
	la = local_name(fd, &after);
	CHECK_EQ(la, lb);
	CHECK_MEM(&after, &before, la);
	CHECK_OK(close(fd));
	CHECK_OK(unlink("sock"));

	fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(bind(fd, &a.sa, SUN_HDR));
	lb = local_name(fd, &before);
	CHECK_OK(bind(fd, &a.sa, SUN_HDR));
	la = local_name(fd, &after);
	CHECK_EQ(la, lb);
	CHECK_MEM(&after, &before, la);
	CHECK_OK(close(fd));
}

/* Without SO_PASSCRED, connect binds nothing: the client stays unbound
 * (length 2) for every type, and accept reports length 2. */
static void
connect_does_not_autobind(void)
{
	for (size_t i = 0; i < NCASES(all_types); i++) {
		int type = all_types[i];
		int l = bound_socket(type, "srv");
		int c = CHECK_OK(socket(AF_UNIX, type, 0));
		struct sockaddr_un sun;
		socklen_t len = th_addr_path(&sun, "srv");
		union addr a;

		if (type != SOCK_DGRAM)
			CHECK_OK(listen(l, 1));
		CHECK_OK(connect(c, (struct sockaddr *)&sun, len));
		CHECK_EQ(local_name(c, &a), SUN_HDR);
		if (type != SOCK_DGRAM) {
			socklen_t alen = sizeof(a);
			int s = CHECK_OK(accept(l, &a.sa, &alen));

			CHECK_EQ(alen, SUN_HDR);
			CHECK_EQ(a.sun.sun_family, AF_UNIX);
			alen = sizeof(a);
			CHECK_OK(getpeername(s, &a.sa, &alen));
			CHECK_EQ(alen, SUN_HDR);
			CHECK_OK(close(s));
		}
		CHECK_OK(close(c));
		CHECK_OK(close(l));
		CHECK_OK(unlink("srv"));
	}
}

/* Without SO_PASSCRED, a datagram sent from an unbound socket leaves it
 * unbound, and the receiver sees a zero-length source address. */
static void
dgram_send_does_not_autobind(void)
{
	int r = bound_socket(SOCK_DGRAM, "r");
	int s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	struct sockaddr_un sun;
	socklen_t len = th_addr_path(&sun, "r");
	union addr a;
	char buf[8];

	CHECK_EQ(sendto(s, "abc", 3, 0, (struct sockaddr *)&sun, len), 3);
	CHECK_EQ(local_name(s, &a), SUN_HDR);
	socklen_t flen = sizeof(a);
	memset(&a, 0xee, sizeof(a));
	CHECK_EQ(recvfrom(r, buf, sizeof(buf), 0, &a.sa, &flen), 3);
	CHECK_EQ(flen, 0);
	CHECK_MEM(buf, "abc", 3);
	CHECK_OK(close(s));
	CHECK_OK(close(r));
	CHECK_OK(unlink("r"));
}

/* With SO_PASSCRED set, connect autobinds the client for every type, and
 * the server sees that name. */
static void
passcred_autobind_at_connect(void)
{
	for (size_t i = 0; i < NCASES(all_types); i++) {
		int type = all_types[i];
		int l = bound_socket(type, "srv");
		int c = CHECK_OK(socket(AF_UNIX, type, 0));
		int one = 1;
		struct sockaddr_un sun;
		socklen_t len = th_addr_path(&sun, "srv");
		union addr a, mine;
		socklen_t mlen;

		if (type != SOCK_DGRAM)
			CHECK_OK(listen(l, 1));
		CHECK_OK(setsockopt(c, SOL_SOCKET, SO_PASSCRED, &one,
				    sizeof(one)));
		/* Setting the option alone binds nothing. */
		CHECK_EQ(local_name(c, &a), SUN_HDR);
		CHECK_OK(connect(c, (struct sockaddr *)&sun, len));
		mlen = local_name(c, &mine);
		CHECK(is_autobind_name(&mine, mlen));
		if (type != SOCK_DGRAM) {
			socklen_t alen = sizeof(a);
			int s = CHECK_OK(accept(l, &a.sa, &alen));

			CHECK_EQ(alen, mlen);
			CHECK_MEM(&a, &mine, mlen);
			CHECK_OK(close(s));
		} else {
			char buf[4];
			socklen_t alen = sizeof(a);

			CHECK_EQ(send(c, "d", 1, 0), 1);
			CHECK_EQ(recvfrom(l, buf, sizeof(buf), 0, &a.sa,
					  &alen), 1);
			CHECK_EQ(alen, mlen);
			CHECK_MEM(&a, &mine, mlen);
		}
		CHECK_OK(close(c));
		CHECK_OK(close(l));
		CHECK_OK(unlink("srv"));
	}
}

/* With SO_PASSCRED set, an unbound datagram socket is autobound by sendto,
 * and the receiver gets that name as the source. */
static void
passcred_autobind_at_dgram_send(void)
{
	int r = bound_socket(SOCK_DGRAM, "r");
	int s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	int one = 1;
	struct sockaddr_un sun;
	socklen_t len = th_addr_path(&sun, "r");
	union addr a, mine;
	socklen_t mlen, flen;
	char buf[8];

	CHECK_OK(setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)));
	CHECK_EQ(sendto(s, "abc", 3, 0, (struct sockaddr *)&sun, len), 3);
	mlen = local_name(s, &mine);
	CHECK(is_autobind_name(&mine, mlen));
	flen = sizeof(a);
	CHECK_EQ(recvfrom(r, buf, sizeof(buf), 0, &a.sa, &flen), 3);
	CHECK_EQ(flen, mlen);
	CHECK_MEM(&a, &mine, mlen);

	/* A bound sender keeps its name. */
	CHECK_EQ(sendto(s, "d", 1, 0, (struct sockaddr *)&sun, len), 1);
	CHECK_EQ(local_name(s, &a), mlen);
	CHECK_MEM(&a, &mine, mlen);
	CHECK_EQ(recv(r, buf, sizeof(buf), 0), 1);
	CHECK_OK(close(s));
	CHECK_OK(close(r));
	CHECK_OK(unlink("r"));
}

/* With SO_PASSCRED the autobind happens before the peer is looked up, so
 * a sendto or connect that fails with ENOENT still leaves a name behind. */
static void
passcred_autobind_before_lookup(void)
{
	struct sockaddr_un sun;
	socklen_t len = th_addr_path(&sun, "missing");
	int one = 1;
	union addr a;

	for (size_t i = 0; i < NCASES(all_types); i++) {
		int s = CHECK_OK(socket(AF_UNIX, all_types[i], 0));

		CHECK_OK(setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one,
				    sizeof(one)));
		CHECK_ERR(connect(s, (struct sockaddr *)&sun, len), ENOENT);
		CHECK(is_autobind_name(&a, local_name(s, &a)));
		CHECK_OK(close(s));
	}
	int s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)));
	CHECK_ERR(sendto(s, "x", 1, 0, (struct sockaddr *)&sun, len), ENOENT);
	CHECK(is_autobind_name(&a, local_name(s, &a)));
	CHECK_OK(close(s));
}

/* listen never autobinds: an unbound socket gets EINVAL even with
 * SO_PASSCRED set, and stays unbound. */
static void
listen_unbound_no_autobind(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };
	int one = 1;
	union addr a;

	for (size_t i = 0; i < NCASES(types); i++) {
		int s = CHECK_OK(socket(AF_UNIX, types[i], 0));

		CHECK_ERR(listen(s, 1), EINVAL);
		CHECK_OK(setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one,
				    sizeof(one)));
		CHECK_ERR(listen(s, 1), EINVAL);
		CHECK_EQ(local_name(s, &a), SUN_HDR);
		CHECK_OK(close(s));
	}
}

static const struct th_test tests[] = {
	{ "bind_path_node_mode_from_umask", bind_path_node_mode_from_umask },
	{ "bind_path_all_types", bind_path_all_types },
	{ "bind_path_node_outlives_socket", bind_path_node_outlives_socket },
	{ "bind_path_exists_eaddrinuse", bind_path_exists_eaddrinuse },
	{ "bind_path_reuseaddr_no_help", bind_path_reuseaddr_no_help },
	{ "bind_twice_einval", bind_twice_einval },
	{ "bind_twice_error_order", bind_twice_error_order },
	{ "bind_path_missing_dir", bind_path_missing_dir },
	{ "bind_path_unwritable_dir_eacces", bind_path_unwritable_dir_eacces },
	{ "bind_path_setgid_dir_group", bind_path_setgid_dir_group },
	{ "bind_bad_address_einval", bind_bad_address_einval },
	{ "bind_path_108_unterminated", bind_path_108_unterminated },
	{ "bind_path_reported_lengths", bind_path_reported_lengths },
	{ "bind_path_unlinked_node_not_reused",
	  bind_path_unlinked_node_not_reused },
	{ "bind_path_unlinked_private_unreachable",
	  bind_path_unlinked_private_unreachable },
	{ "connect_path_lookup_unprivileged",
	  connect_path_lookup_unprivileged },
	{ "getsockname_unbound_length_2", getsockname_unbound_length_2 },
	{ "getsockname_short_buffer", getsockname_short_buffer },
	{ "abstract_exact_length", abstract_exact_length },
	{ "abstract_extreme_lengths", abstract_extreme_lengths },
	{ "abstract_connect_exact_length", abstract_connect_exact_length },
	{ "abstract_types_coexist", abstract_types_coexist },
	{ "abstract_same_type_eaddrinuse", abstract_same_type_eaddrinuse },
	{ "abstract_released_at_last_close", abstract_released_at_last_close },
	{ "abstract_creates_no_file", abstract_creates_no_file },
	{ "abstract_per_network_namespace", abstract_per_network_namespace },
	{ "autobind_explicit", autobind_explicit },
	{ "autobind_all_types", autobind_all_types },
	{ "autobind_noop_when_bound", autobind_noop_when_bound },
	{ "connect_does_not_autobind", connect_does_not_autobind },
	{ "dgram_send_does_not_autobind", dgram_send_does_not_autobind },
	{ "passcred_autobind_at_connect", passcred_autobind_at_connect },
	{ "passcred_autobind_at_dgram_send", passcred_autobind_at_dgram_send },
	{ "passcred_autobind_before_lookup", passcred_autobind_before_lookup },
	{ "listen_unbound_no_autobind", listen_unbound_no_autobind },
};

TH_MAIN(tests)

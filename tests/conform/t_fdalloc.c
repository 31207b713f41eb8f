/*
 * Descriptor numbers: every new descriptor gets the lowest free number,
 * however many are open and wherever the holes are; RLIMIT_NOFILE bounds
 * them (EMFILE; EBADF for dup2 and EINVAL for F_DUPFD beyond it); dup2
 * and F_DUPFD place descriptors above holes without filling them.
 *
 * The process may hold descriptors of its own (the harness's, the
 * runner's) anywhere, so each expectation is computed from which numbers
 * are open (fcntl F_GETFD) at that moment.
 */
#include "harness.h"

#include <sys/resource.h>

/* Enough descriptors to cross the second level of a two-level bitmap
 * (64 x 64 slots) and several table growths. */
#define MANY	5000

static int fds[MANY];

static bool
is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* The lowest number >= @from that no descriptor holds. */
static int
lowest_free(int from)
{
	while (is_open(from))
		from++;
	return from;
}

/* Makes @n sockets into fds[]; returns how many it made. */
static int
open_run(int n)
{
	int i;

	for (i = 0; i < n; i++) {
		fds[i] = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fds[i] < 0)
			break;
	}
	return i;
}

static void
close_run(int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			CHECK_OK(close(fds[i]));
}

/* Skips the test unless @n more descriptors fit under the soft limit,
 * raising it toward the hard limit when needed. */
static void
require_room(int n)
{
	struct rlimit rl;

	CHECK_OK(getrlimit(RLIMIT_NOFILE, &rl));
	if (rl.rlim_cur >= (rlim_t)n + 256)
		return;
	if (rl.rlim_max < (rlim_t)n + 256)
		th_skip("RLIMIT_NOFILE too low for this test");
	rl.rlim_cur = (rlim_t)n + 256;
	CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));
}

/* A run of descriptors comes out consecutive, from the lowest free one. */
static void
fdalloc_consecutive(void)
{
	int n;

	require_room(MANY);
	for (n = 0; n < MANY; n++) {
		int want = lowest_free(0);

		fds[n] = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
		if (fds[n] < 0)
			break;
		CHECK_EQ(fds[n], want);
	}
	close_run(n);
}

/* Holes anywhere (in one word, across words, across 4096-slot groups)
 * are filled lowest first, then numbering goes on after the run. */
static void
fdalloc_lowest_hole_first(void)
{
	static const int holes[] = { 4999, 4100, 4095, 4096, 130, 64, 63, 5, 0 };
	int nh = (int)(sizeof(holes) / sizeof(holes[0])), n, base;

	require_room(MANY);
	n = open_run(MANY);
	CHECK_EQ(n, MANY);
	if (n != MANY) {
		close_run(n);
		return;
	}
	/* Hole i is the descriptor that was made i-th. */
	for (int i = 0; i < nh; i++) {
		CHECK_OK(close(fds[holes[i]]));
		base = fds[holes[i]];
		fds[holes[i]] = -1;
	}
	/* holes[] is in decreasing order: refilled from its end, the lowest
	 * first, each number closed comes back. */
	for (int i = nh - 1; i >= 0; i--) {
		int want = lowest_free(0);
		int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));

		CHECK_EQ(fd, want);
		fds[holes[i]] = fd;
	}
	/* The closed numbers were the lowest free ones, in order. */
	CHECK_EQ(fds[holes[nh - 1]], base);
	{
		int want = lowest_free(0);
		int fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));

		CHECK_EQ(fd, want);
		CHECK(fd > fds[MANY - 1]);
		CHECK_OK(close(fd));
	}
	close_run(n);
}

/* dup2 far above the open descriptors leaves the holes below it free:
 * the next descriptor is still the lowest free one, and F_DUPFD finds
 * the lowest free number at or above its argument. */
static void
fdalloc_dup2_above_holes(void)
{
	int a = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	int high = a + 3000, b, c, d, e;

	require_room(high + 16);
	CHECK_EQ(dup2(a, high), high);
	b = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_EQ(b, a + 1);
	/* At or above high: high is taken, so high + 1. */
	c = CHECK_OK(fcntl(a, F_DUPFD, high));
	CHECK_EQ(c, high + 1);
	/* Between: the number asked for is free. */
	d = CHECK_OK(fcntl(a, F_DUPFD_CLOEXEC, a + 100));
	CHECK_EQ(d, a + 100);
	CHECK_EQ(fcntl(d, F_GETFD), FD_CLOEXEC);
	CHECK_OK(close(high));
	/* high is free again, and lower than high + 1. */
	e = CHECK_OK(fcntl(a, F_DUPFD, a + 101));
	CHECK_EQ(e, a + 101);
	CHECK_OK(close(e));
	e = CHECK_OK(fcntl(a, F_DUPFD, high));
	CHECK_EQ(e, high);
	CHECK_OK(close(e));
	CHECK_OK(close(d));
	CHECK_OK(close(c));
	CHECK_OK(close(b));
	CHECK_OK(close(a));
}

/* At the soft limit: a new descriptor fails with EMFILE, dup2 to the
 * limit with EBADF, F_DUPFD at the limit with EINVAL and below it with
 * EMFILE when nothing is free; a close makes room at that number. */
static void
fdalloc_emfile_at_limit(void)
{
	struct rlimit saved, rl;
	int first, limit, n, fd, room = 0;

	CHECK_OK(getrlimit(RLIMIT_NOFILE, &saved));
	first = lowest_free(0);
	/* The limit leaves room for 8 descriptors from first on. */
	for (limit = first; room < 8; limit++)
		if (!is_open(limit))
			room++;
	rl = saved;
	rl.rlim_cur = (rlim_t)limit;
	CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));
	n = open_run(9);
	CHECK_EQ(n, 8);
	CHECK_EQ(fds[n], -1);
	CHECK_EQ(errno, EMFILE);
	CHECK_EQ(fds[0], first);
	CHECK_EQ(fds[n - 1], limit - 1);
	{
		int sv[2];

		CHECK_ERR(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), EMFILE);
	}
	CHECK_ERR(dup(fds[0]), EMFILE);
	CHECK_ERR(dup2(fds[0], limit), EBADF);
	CHECK_ERR(fcntl(fds[0], F_DUPFD, limit), EINVAL);
	CHECK_ERR(fcntl(fds[0], F_DUPFD, first), EMFILE);
	/* A hole in the middle is the one number left. */
	CHECK_OK(close(fds[3]));
	fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_EQ(fd, fds[3]);
	fds[3] = fd;
	CHECK_ERR(socket(AF_UNIX, SOCK_STREAM, 0), EMFILE);
	/* Raised again: numbering goes on. */
	CHECK_OK(setrlimit(RLIMIT_NOFILE, &saved));
	room = lowest_free(limit);
	fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_EQ(fd, room);
	CHECK_OK(close(fd));
	close_run(n);
}

/* accept at the descriptor limit fails with EMFILE before it takes the
 * connection (Linux reserves the number first): a later accept gets it. */
static void
fdalloc_accept_emfile_keeps_connection(void)
{
	struct sockaddr_un sun;
	struct rlimit saved, rl;
	socklen_t len = th_addr_abstract(&sun, th_unique(),
					 strlen(th_unique()));
	int l, c, a;
	char ch;

	l = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(l, (struct sockaddr *)&sun, len));
	CHECK_OK(listen(l, 4));
	c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&sun, len));
	CHECK_OK(getrlimit(RLIMIT_NOFILE, &saved));
	rl = saved;
	rl.rlim_cur = (rlim_t)lowest_free(0);
	CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));
	CHECK_ERR(accept(l, NULL, NULL), EMFILE);
	CHECK_ERR(accept4(l, NULL, NULL, SOCK_CLOEXEC), EMFILE);
	CHECK_OK(setrlimit(RLIMIT_NOFILE, &saved));
	a = CHECK_OK(accept4(l, NULL, NULL, SOCK_NONBLOCK));
	CHECK_EQ(write(c, "x", 1), 1);
	CHECK_EQ(read(a, &ch, 1), 1);
	CHECK_EQ(ch, 'x');
	CHECK_OK(close(a));
	CHECK_OK(close(c));
	CHECK_OK(close(l));
}

/* A lowered limit leaves descriptors above it open and usable, but no
 * new one is numbered at or above it. */
static void
fdalloc_lowered_below_open(void)
{
	struct rlimit saved, rl;
	int a, b, c;

	CHECK_OK(getrlimit(RLIMIT_NOFILE, &saved));
	a = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	b = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(close(a));
	rl = saved;
	rl.rlim_cur = (rlim_t)b;
	CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));
	/* a is below the limit and free; nothing else is. */
	CHECK_EQ(dup(b), a);
	CHECK_ERR(dup(b), EMFILE);
	CHECK_EQ(fcntl(c, F_GETFD), 0);
	CHECK_OK(setrlimit(RLIMIT_NOFILE, &saved));
	CHECK_OK(close(a));
	CHECK_OK(close(b));
	CHECK_OK(close(c));
}

/* Room for the random walk: numbers from its first free one on. */
#define WALK_SPAN	9000
#define WALK_STEPS	3000

/* A fixed pseudo-random sequence, the same on both sides. */
static unsigned
walk_rand(unsigned *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

/* Thousands of random socket, dup, dup2, F_DUPFD and close calls: every
 * number handed out is the lowest free one (from the call's minimum),
 * as computed by looking at which numbers are open. */
static void
fdalloc_random_walk(void)
{
	static bool mine[WALK_SPAN];
	unsigned state = 12345;
	int base, open_count = 0, sock;

	require_room(WALK_SPAN + 64);
	base = lowest_free(0);
	sock = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_EQ(sock, base);
	mine[0] = true;
	open_count = 1;
	for (int step = 0; step < WALK_STEPS; step++) {
		unsigned op = walk_rand(&state) % 8;
		int at = (int)(walk_rand(&state) % WALK_SPAN), want, fd;

		if (op <= 2) {
			/* A new descriptor: socket or dup. */
			want = lowest_free(0);
			fd = op == 0 ? socket(AF_UNIX, SOCK_STREAM, 0) :
					dup(sock);
			CHECK_EQ(fd, want);
		} else if (op == 3) {
			/* F_DUPFD from a minimum inside the span. */
			want = lowest_free(base + at);
			fd = fcntl(sock, F_DUPFD, base + at);
			CHECK_EQ(fd, want);
		} else if (op == 4) {
			/* dup2 anywhere in the span, over one of ours or a
			 * free number (never over the process's own). */
			if (base + at == sock || (!mine[at] && is_open(base + at)))
				continue;
			fd = dup2(sock, base + at);
			CHECK_EQ(fd, base + at);
		} else {
			/* Close one of ours, if that number is ours. */
			if (!mine[at] || base + at == sock)
				continue;
			CHECK_OK(close(base + at));
			mine[at] = false;
			open_count--;
			continue;
		}
		if (fd < base || fd >= base + WALK_SPAN) {
			if (fd >= 0)
				CHECK_OK(close(fd));
			continue;
		}
		if (!mine[fd - base]) {
			mine[fd - base] = true;
			open_count++;
		}
	}
	CHECK(open_count > 100);
	for (int i = WALK_SPAN - 1; i >= 0; i--)
		if (mine[i])
			CHECK_OK(close(base + i));
	memset(mine, 0, sizeof(mine));
}

static const struct th_test tests[] = {
	{ "fdalloc_consecutive", fdalloc_consecutive },
	{ "fdalloc_lowest_hole_first", fdalloc_lowest_hole_first },
	{ "fdalloc_dup2_above_holes", fdalloc_dup2_above_holes },
	{ "fdalloc_emfile_at_limit", fdalloc_emfile_at_limit },
	{ "fdalloc_accept_emfile_keeps_connection",
	  fdalloc_accept_emfile_keeps_connection },
	{ "fdalloc_lowered_below_open", fdalloc_lowered_below_open },
	{ "fdalloc_random_walk", fdalloc_random_walk },
};

TH_MAIN(tests)

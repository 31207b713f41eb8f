/*
 * The socket benchmark: ksock against the Linux kernel, side by side.
 *
 * Every scenario is written once, against a table of function pointers
 * (struct bench_ops) that holds either libc's socket calls (the Linux
 * kernel) or ksock's hosted POSIX personality (ksp_*). Threads come from
 * the table too: a pthread on Linux, a simulated process (ksp_fork) on
 * ksock. A ksock "thread" therefore has a copy of the descriptor table,
 * not the same table, so the scenarios follow two rules that hold on both
 * sides: descriptors are created before a thread is started, and only the
 * thread that created a descriptor closes it. Nothing relies on EOF: every
 * reader knows how many bytes or messages it is owed.
 *
 * Files: bench.c runs the scenarios (calibration, repetitions, medians,
 * the table and the JSON copy, the smoke check); bench_ops.c holds the
 * two tables and the memory probes; bench_scn.c holds the scenarios.
 */
#ifndef KSOCK_BENCH_H
#define KSOCK_BENCH_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct bench_thread;

/* Room for every line of /proc/slabinfo (about 240 on Linux 6.18). */
#define BENCH_SLAB_CACHES	1024

/* A snapshot of one side's memory (see bench_ops.c). */
struct bench_mem {
	long long	bytes;		/* ksock: malloc'd; Linux: kernel pages
					   outside the slab */
	long		allocs;		/* ksock: allocations outstanding */
	int		ncaches;	/* Linux: the slab caches */
	struct bench_slab {
		char		name[40];
		long long	active;	/* objects in use */
		long long	bytes;	/* pages of its slabs, in bytes */
	} cache[BENCH_SLAB_CACHES];
};

/* The calls a scenario may make, bound to one side. */
struct bench_ops {
	const char *name;			/* "linux" or "ksock" */

	int	(*socket)(int domain, int type, int protocol);
	int	(*socketpair)(int domain, int type, int protocol, int sv[2]);
	int	(*bind)(int fd, const struct sockaddr *addr, socklen_t len);
	int	(*listen)(int fd, int backlog);
	int	(*accept)(int fd, struct sockaddr *addr, socklen_t *len);
	int	(*connect)(int fd, const struct sockaddr *addr, socklen_t len);
	ssize_t	(*send)(int fd, const void *buf, size_t len, int flags);
	ssize_t	(*recv)(int fd, void *buf, size_t len, int flags);
	ssize_t	(*sendmsg)(int fd, const struct msghdr *msg, int flags);
	ssize_t	(*recvmsg)(int fd, struct msghdr *msg, int flags);
	int	(*poll)(struct pollfd *fds, nfds_t nfds, int timeout);
	int	(*shutdown)(int fd, int how);
	int	(*close)(int fd);

	/*
	 * Runs @fn(@arg) on a new thread of this side (a simulated process
	 * on ksock). Returns 0 or -1/errno. thread_join waits for it and
	 * returns @fn's return value.
	 */
	int	(*thread_start)(struct bench_thread *t, int (*fn)(void *),
				void *arg);
	int	(*thread_join)(struct bench_thread *t);

	/*
	 * Memory: mem_read takes a snapshot; mem_growth returns the bytes
	 * per object that @n objects made the side's memory grow by between
	 * two snapshots, and describes where in @detail. @data: the objects
	 * hold queued data (Linux keeps it in pages outside the slab).
	 */
	void	(*mem_read)(struct bench_mem *m);
	double	(*mem_growth)(const struct bench_mem *before,
			      const struct bench_mem *after, long n, bool data,
			      char *detail, size_t dlen);
	/* Allocations outstanding (ksock's own count), or -1. */
	long	(*mem_allocs)(void);
	/* Open descriptors of the calling thread's table, or -1 (unknown). */
	int	(*fd_count)(void);
	/* For the AF_INET/AF_INET6 scenarios (bench_inet.c). */
	int	(*getsockname)(int fd, struct sockaddr *addr, socklen_t *len);
	int	(*setsockopt)(int fd, int level, int name, const void *val,
			      socklen_t len);
};

/* Storage for one thread of either side. */
struct bench_thread {
	void	*handle;		/* struct ksp_proc *, or a pthread box */
};

extern const struct bench_ops bench_linux_ops;
extern const struct bench_ops bench_ksock_ops;

/* Starts ksock (the hosted port). Returns 0 or -1/errno. */
int	bench_ksock_init(void);
/* Stops ksock; returns 0, or -1 when sockets are still open. */
int	bench_ksock_fini(void);

/* -- scenarios -- */

enum bench_unit {
	BENCH_MIBPS,		/* throughput, MiB/s (higher is better) */
	BENCH_RATE,		/* operations per second (higher is better) */
	BENCH_LATENCY,		/* round trip: .value median, .value2 p99, us */
	BENCH_BYTES,		/* bytes per object (lower is better) */
};

/* What one run of a scenario reports. */
struct bench_result {
	double		value;		/* in the scenario's unit */
	double		value2;		/* BENCH_LATENCY: the 99th percentile */
	double		seconds;	/* how long the measured part took */
	long long	moved;		/* bytes or operations done... */
	long long	want;		/* ...and how many were owed */
	char		detail[200];	/* BENCH_BYTES: where the bytes went */
	char		err[120];	/* why it failed */
};

/* A run returns 0, -1 (failed: .err says why) or BENCH_UNSUPPORTED. */
#define BENCH_UNSUPPORTED	1

struct bench_scn;
typedef int (*bench_fn)(const struct bench_ops *ops,
			const struct bench_scn *s, long n,
			struct bench_result *r);

/* Goals for ksock, printed in the "target met?" column. */
enum bench_target {
	BENCH_NO_TARGET,
	BENCH_RATIO_GE,		/* ksock/Linux >= goal */
	BENCH_RATIO_LE,		/* ksock/Linux <= goal (latency) */
	BENCH_RATIO_GE_MEMCPY,	/* ksock/Linux >= goal and >= goal2 x memcpy */
	BENCH_ABS_LE,		/* ksock value <= goal */
	BENCH_SCALE_GE,		/* ksock value >= goal x ksock of row .base */
};

struct bench_scn {
	const char	*name;		/* for the table */
	const char	*id;		/* for the JSON copy and --only */
	bench_fn	 run;
	int		 type;		/* SOCK_STREAM, SOCK_SEQPACKET... */
	size_t		 size;		/* write or message size, bytes */
	int		 pairs;		/* scaling: socket pairs... */
	int		 threads;	/* ...driven by this many threads */
	bool		 use_poll;	/* latency: poll before each recv */
	bool		 use_path;	/* connect: a filesystem name, not an
					   abstract one */
	int		 fill;		/* descriptors held open meanwhile
					   (epoll: sockets watched) */
	const char	*prog;		/* an unmodified program, run natively
					   and under ksock-run (run_program) */
	int		 queued;	/* memory: bytes queued per pair */
	enum bench_unit	 unit;
	long		 start_n;	/* first calibration guess (0: fixed n) */
	long		 fixed_n;	/* n when not calibrated */
	long		 smoke_n;	/* n for the smoke check */
	enum bench_target target;
	double		 goal, goal2;
	const char	*base;		/* BENCH_SCALE_GE: id of the base row */
	int		 family;	/* 0: AF_UNIX; AF_INET or AF_INET6: the
					   side's loopback (bench_inet.c) */
	int		 window;	/* UDP rate: datagrams per ack */
	bool		 link;		/* across a link (bench_inet_link.c):
					   Linux over veth, ksock over TAP */
	bench_fn	 inner;		/* link: the scenario run across it */
};

extern const struct bench_scn bench_scns[];
extern const size_t bench_nscns;

/* -- bench_util.c: what bench.c and bench_ksockd.c share -- */

/* Longer than any run can take on a slow machine, short enough for CI. */
#define BENCH_WATCHDOG_SECONDS	60
/* Most samples bench_median() takes. */
#define BENCH_MAX_SAMPLES	32

/* SIGALRM ends the program, naming @prog and the run being watched. */
void	bench_watchdog_install(const char *prog);
/* Watches the run @what for BENCH_WATCHDOG_SECONDS; NULL: stop. */
void	bench_watch(const char *what);
/* The median of @n samples (NAN for none, or more than the most). */
double	bench_median(const double *v, int n);
/* Whether @id is in the comma-separated @list (NULL: every id is). */
bool	bench_selected(const char *list, const char *id);
/* -- AF_INET / AF_INET6 on each side's loopback (bench_inet.c) -- */

/*
 * A connected pair of s->family and s->type on the side's loopback, in
 * @sv (TCP: the connecting end, then the accepted one; UDP: two sockets
 * connected to each other); with @nodelay, TCP_NODELAY on both ends.
 * Returns 0, or -1 with r->err set and nothing left open.
 */
int	bench_inet_pair(const struct bench_ops *ops, const struct bench_scn *s,
			bool nodelay, int sv[2], struct bench_result *r);
/*
 * A TCP listener for s->family's pairs (the loopback, or across the
 * link), bound to port 0, with its address in *@ss, *@len. Returns the
 * descriptor, or -1 with r->err set.
 */
int	bench_inet_listener(const struct bench_ops *ops,
			    const struct bench_scn *s, int backlog,
			    struct sockaddr_storage *ss, socklen_t *len,
			    struct bench_result *r);
/* UDP datagrams per second, in windows of s->window (bench_inet.c). */
int	bench_run_udp_rate(const struct bench_ops *ops,
			   const struct bench_scn *s, long n,
			   struct bench_result *r);

/* -- across a link (bench_inet_link.c) -- */

/*
 * Sets up the link rows' network, in a namespace of the process's own:
 * kstap0 with ksock attached (tests/inet/netns.c; docs/inet.md) for the
 * ksock side, a veth pair into a second namespace for the Linux side.
 * Call before any thread starts. Returns 0, or -1 with the reason in
 * bench_link_why(); the link rows are then skipped.
 */
int	bench_link_setup(void);
void	bench_link_teardown(void);
bool	bench_link_up(void);
const char *bench_link_why(void);
/* The run function of a link row: s->inner with the ops of this side's
 * link (ksock's side: ksock's sockets talking to Linux's). */
int	bench_run_link(const struct bench_ops *ops, const struct bench_scn *s,
		       long n, struct bench_result *r);
/* The ends of a pair across the link, for bench_inet.c. */
void	bench_link_ends(const struct bench_ops *ops,
			const struct bench_ops **srv_ops,
			struct sockaddr_storage *srv,
			struct sockaddr_storage *cli, socklen_t *len,
			int *srv_ns);
/* Moves the calling thread into namespace @ns, and back. 0 or -1/errno. */
int	bench_link_enter(int ns);
int	bench_link_leave(void);

/* Monotonic time in nanoseconds. */
int64_t	bench_now_ns(void);
/* Fills r->err and returns -1. */
int	bench_fail(struct bench_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* KSOCK_BENCH_H */

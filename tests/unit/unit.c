/*
 * Unit-test harness: the runner, the step checks, tracked sockets and
 * processes, and small helpers (see unit.h for how tests are written).
 *
 * The runner (the first process) never starts ksock. Every run of a test
 * is a forked child with its own ksock instance, working directory and
 * time limit; it reports through a shared page how many allocations the
 * run made and whether its injected failure was reached. Several
 * injected runs of one test go on at once (-j).
 *
 * Usage: unit-binary [-n] [-j JOBS] [-v] [FILTER]
 *   -n  normal runs only (no allocation-failure injection)
 *   -j  injected runs in parallel (default: online CPUs)
 *   -v  print every failure of every injected run, not the first few
 *   FILTER  run the tests whose name contains it
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "unit.h"

#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * A run's child ends with _exit(), which skips LeakSanitizer's check at
 * exit: in a sanitizer build the child asks for the check itself, so
 * that memory the port's accounting does not see (the personality's own
 * malloc) is checked too.
 */
#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#include <sanitizer/lsan_interface.h>
#define ut_leaks_found()	(__lsan_do_recoverable_leak_check() != 0)
#else
#define ut_leaks_found()	false
#endif

#define UT_TIME_LIMIT_S		30	/* a normal run; the slowest wait on timeouts */
#define UT_INJECT_LIMIT_S	15	/* an injected run */
#define UT_SKIP_STATUS		77
#define UT_MAX_SOCKS		512	/* tracked sockets open at once */
#define UT_MAX_PROCS		64	/* tracked processes at once */
#define UT_SHOWN_FAILURES	3	/* injected runs whose failures print */

/* What a run reports to the runner. */
struct ut_report {
	long	allocs;		/* allocations the test made */
	int	fired;		/* the injected failure was reached */
	int	stopped;	/* a step stopped the test */
	int	failures;
};

/* The state of the run in this child; shared by its simulated processes. */
static struct {
	const struct ut_test	*test;
	long			 inject_at;	/* 0: normal run */
	long			 alloc_base;	/* ksp_alloc_count() at start */
	bool			 quiet;		/* print no failure */
	atomic_bool		 fired;		/* the injected failure happened */
	atomic_bool		 stopped;
	atomic_int		 failures;
	struct ut_report	*report;

	pthread_mutex_t		 lock;		/* the two lists below */
	struct ks_sock		*socks[UT_MAX_SOCKS];
	int			 nsocks;
	struct ksp_proc		*procs[UT_MAX_PROCS];
	int			 nprocs;
} ut = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* -- steps -- */

bool
ut_live(void)
{
	return !atomic_load(&ut.stopped);
}

bool
ut_fired(void)
{
	return atomic_load(&ut.fired);
}

/*
 * ksock runs on a copy of the hosted port whose alloc hook notes when the
 * allocation ksp_alloc_fail_at() chose has failed, so that the steps know
 * exactly when an -ENOMEM may legitimately appear. (The hosted port does
 * not count a failed allocation, so the count alone cannot tell "about to
 * fail" from "failed".)
 */
static struct ks_port ut_port;

static void *
ut_alloc(size_t size)
{
	void *p = ksp_port()->alloc(size);

	if (p == NULL && ut.inject_at > 0)
		atomic_store(&ut.fired, true);
	return p;
}

/* Restarts ksock (started by ksp_init) on ut_port. */
static int
use_observing_port(void)
{
	int err;

	ut_port = *ksp_port();
	ut_port.alloc = ut_alloc;
	err = ks_fini();
	if (err < 0)
		return err;
	err = ks_init(&ut_port);
	if (err < 0)
		ks_init(ksp_port());
	return err;
}

struct ks_port *
ut_port_edit(void)
{
	return &ut_port;
}

void
ut_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(&ut.failures, 1);
	if (ut.quiet)
		return;
	flockfile(stderr);
	fprintf(stderr, "  %s:%d: [%s", file, line, ut.test->name);
	if (ut.inject_at > 0)
		fprintf(stderr, ", allocation %ld fails", ut.inject_at);
	fprintf(stderr, "] ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

void
ut_stop(const char *file, int line, const char *why)
{
	(void)file;
	(void)line;
	(void)why;
	atomic_store(&ut.stopped, true);
}

void
ut_skip(const char *why)
{
	printf("  skip %s: %s\n", ut.test->name, why);
	fflush(stdout);
	_exit(UT_SKIP_STATUS);
}

static bool
is_alloc_error(long r)
{
	return r == -KS_ENOMEM || r == -KS_ENOBUFS;
}

long
ut_call_(long r, const char *expr, const char *file, int line)
{
	if (is_alloc_error(r) && ut_fired())
		ut_stop(file, line, expr);
	return r;
}

long
ut_ok_(long r, const char *expr, const char *file, int line)
{
	if (r >= 0)
		return r;
	if (is_alloc_error(r) && ut_fired()) {
		ut_stop(file, line, expr);
		return r;
	}
	ut_fail(file, line, "%s failed: %ld", expr, r);
	ut_stop(file, line, expr);
	return r;
}

void
ut_eq_(long r, long want, const char *expr, const char *wexpr,
       const char *file, int line)
{
	if (r == want)
		return;
	if (ut_fired() && (is_alloc_error(r) || (want > 0 && r >= 0 &&
						 r < want))) {
		ut_stop(file, line, expr);
		return;
	}
	ut_fail(file, line, "%s: want %s (%ld), got %ld", expr, wexpr, want, r);
}

void
ut_ge_(long r, long min, const char *expr, const char *file, int line)
{
	if (r >= min)
		return;
	if (ut_fired() && (is_alloc_error(r) || r >= 0)) {
		ut_stop(file, line, expr);
		return;
	}
	ut_fail(file, line, "%s: want >= %ld, got %ld", expr, min, r);
}

/* -- tracked sockets -- */

void
ut_track(struct ks_sock *so)
{
	if (so == NULL)
		return;
	pthread_mutex_lock(&ut.lock);
	if (ut.nsocks == UT_MAX_SOCKS) {
		pthread_mutex_unlock(&ut.lock);
		ut_fail(__FILE__, __LINE__, "more than %d sockets open",
			UT_MAX_SOCKS);
		return;
	}
	ut.socks[ut.nsocks++] = so;
	pthread_mutex_unlock(&ut.lock);
}

static void
untrack(struct ks_sock *so)
{
	pthread_mutex_lock(&ut.lock);
	for (int i = ut.nsocks - 1; i >= 0; i--) {
		if (ut.socks[i] == so) {
			ut.socks[i] = ut.socks[--ut.nsocks];
			break;
		}
	}
	pthread_mutex_unlock(&ut.lock);
}

void
ut_close(struct ks_sock **so)
{
	if (*so == NULL)
		return;
	untrack(*so);
	if (ks_close(*so) != 0)
		ut_fail(__FILE__, __LINE__, "ks_close did not return 0");
	*so = NULL;
}

struct ks_sock *
ut_socket_(int type, const char *file, int line)
{
	struct ks_sock *so = NULL;

	if (!ut_live())
		return NULL;
	if (ut_ok_(ks_socket(KS_AF_UNIX, type, 0, &so), "ks_socket", file,
		   line) < 0)
		return NULL;
	ut_track(so);
	return so;
}

void
ut_pair_(int type, struct ks_sock *s[2], const char *file, int line)
{
	s[0] = s[1] = NULL;
	if (!ut_live())
		return;
	if (ut_ok_(ks_socketpair(KS_AF_UNIX, type, 0, s), "ks_socketpair",
		   file, line) < 0) {
		s[0] = s[1] = NULL;
		return;
	}
	ut_track(s[0]);
	ut_track(s[1]);
}

struct ks_sock *
ut_accept_(struct ks_sock *l, int flags, void *addr, uint32_t *alen,
	   const char *file, int line)
{
	struct ks_sock *so = NULL;

	if (!ut_live())
		return NULL;
	if (ut_ok_(ks_accept(l, flags, &so, addr, alen), "ks_accept", file,
		   line) < 0)
		return NULL;
	ut_track(so);
	return so;
}

/* -- tracked processes -- */

struct ksp_proc *
ut_spawn(int (*fn)(void *), void *arg)
{
	struct ksp_proc *p;

	if (!ut_live())
		return NULL;
	p = ksp_fork(fn, arg);
	if (p == NULL) {
		if (!ut_fired())
			ut_fail(__FILE__, __LINE__, "ksp_fork: %s",
				strerror(errno));
		ut_stop(__FILE__, __LINE__, "ksp_fork");
		return NULL;
	}
	pthread_mutex_lock(&ut.lock);
	if (ut.nprocs < UT_MAX_PROCS)
		ut.procs[ut.nprocs++] = p;
	pthread_mutex_unlock(&ut.lock);
	return p;
}

int
ut_join(struct ksp_proc *p)
{
	if (p == NULL)
		return 0;
	pthread_mutex_lock(&ut.lock);
	for (int i = 0; i < ut.nprocs; i++) {
		if (ut.procs[i] == p) {
			ut.procs[i] = ut.procs[--ut.nprocs];
			break;
		}
	}
	pthread_mutex_unlock(&ut.lock);
	return ksp_wait(p);
}

void
ut_become(uint32_t uid, uint32_t gid)
{
	if (ksp_setresgid(gid, gid, gid) < 0 ||
	    ksp_setresuid(uid, uid, uid) < 0) {
		ut_fail(__FILE__, __LINE__, "cannot become %u:%u: %s", uid,
			gid, strerror(errno));
		ut_stop(__FILE__, __LINE__, "ut_become");
	}
}

/* -- data -- */

long
ut_sendto(struct ks_sock *so, const void *buf, size_t len, int flags,
	  const void *addr, uint32_t alen)
{
	struct ks_iovec iov = { (void *)buf, len };
	struct ks_msghdr msg = {
		.msg_name = (void *)addr, .msg_namelen = alen,
		.msg_iov = &iov, .msg_iovlen = 1,
	};

	return ks_sendmsg(so, &msg, flags);
}

long
ut_send(struct ks_sock *so, const void *buf, size_t len, int flags)
{
	return ut_sendto(so, buf, len, flags, NULL, 0);
}

long
ut_sends(struct ks_sock *so, const char *s)
{
	return ut_send(so, s, strlen(s), KS_MSG_NOSIGNAL);
}

long
ut_recvfrom(struct ks_sock *so, void *buf, size_t len, int flags,
	    void *addr, uint32_t *alen, int *mflags)
{
	struct ks_iovec iov = { buf, len };
	struct ks_msghdr msg = {
		.msg_name = addr, .msg_namelen = alen ? *alen : 0,
		.msg_iov = &iov, .msg_iovlen = 1,
	};
	long r = ks_recvmsg(so, &msg, flags);

	if (r >= 0 && alen != NULL)
		*alen = msg.msg_namelen;
	if (mflags != NULL)
		*mflags = msg.msg_flags;
	return r;
}

long
ut_recv(struct ks_sock *so, void *buf, size_t len, int flags)
{
	return ut_recvfrom(so, buf, len, flags, NULL, NULL, NULL);
}

/* -- addresses -- */

uint32_t
ut_path(struct ks_sockaddr_un *a, const char *path)
{
	size_t len = strlen(path);

	memset(a, 0, sizeof(*a));
	a->sun_family = KS_AF_UNIX;
	memcpy(a->sun_path, path, len);
	return (uint32_t)(offsetof(struct ks_sockaddr_un, sun_path) + len + 1);
}

uint32_t
ut_abstract(struct ks_sockaddr_un *a, const char *name)
{
	size_t len = strlen(name);

	memset(a, 0, sizeof(*a));
	a->sun_family = KS_AF_UNIX;
	memcpy(a->sun_path + 1, name, len);
	return (uint32_t)(offsetof(struct ks_sockaddr_un, sun_path) + 1 + len);
}

/* -- options -- */

int
ut_getint(struct ks_sock *so, int name, int *val)
{
	uint32_t len = sizeof(*val);
	int r = ks_getsockopt(so, KS_SOL_SOCKET, name, val, &len);

	if (r == 0 && len != sizeof(*val))
		ut_fail(__FILE__, __LINE__, "option %d: length %u", name, len);
	return r;
}

int
ut_setint(struct ks_sock *so, int name, int val)
{
	return ks_setsockopt(so, KS_SOL_SOCKET, name, &val, sizeof(val));
}

int
ut_settimeo(struct ks_sock *so, int name, long ms)
{
	struct ks_timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	return ks_setsockopt(so, KS_SOL_SOCKET, name, &tv, sizeof(tv));
}

int
ut_ioctl_int(struct ks_sock *so, unsigned long cmd, int *val)
{
	return ks_ioctl(so, cmd, val);
}

/* -- time -- */

long long
ut_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
ut_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* -- one run, in a child -- */

/* How many real descriptors this process has open, or -1. */
static int
count_host_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own descriptor */
}

static void
cleanup_leftovers(void)
{
	struct ksp_proc *p;
	struct ks_sock *so;

	/* Processes first: they may still use the sockets. */
	for (;;) {
		pthread_mutex_lock(&ut.lock);
		p = ut.nprocs > 0 ? ut.procs[--ut.nprocs] : NULL;
		pthread_mutex_unlock(&ut.lock);
		if (p == NULL)
			break;
		ksp_wait(p);
	}
	for (;;) {
		pthread_mutex_lock(&ut.lock);
		so = ut.nsocks > 0 ? ut.socks[--ut.nsocks] : NULL;
		pthread_mutex_unlock(&ut.lock);
		if (so == NULL)
			break;
		ks_close(so);
	}
}

static int
run_one(const struct ut_test *test, long inject_at, const char *dir,
	bool quiet, struct ut_report *rep)
{
	long outstanding;
	int host_fds;

	ut.test = test;
	ut.inject_at = inject_at;
	ut.quiet = quiet;
	ut.report = rep;
	alarm(inject_at > 0 ? UT_INJECT_LIMIT_S : UT_TIME_LIMIT_S);
	signal(SIGPIPE, SIG_IGN);
	if (chdir(dir) < 0) {
		perror("chdir");
		return 1;
	}
	host_fds = count_host_fds();
	if (ksp_init() < 0) {
		perror("ksp_init");
		return 1;
	}
	if (use_observing_port() < 0) {
		fprintf(stderr, "[%s] cannot restart ksock on a wrapped port\n",
			test->name);
		return 1;
	}
	outstanding = ksp_alloc_outstanding();
	ut.alloc_base = ksp_alloc_count();
	if (inject_at > 0)
		ksp_alloc_fail_at(inject_at);

	test->fn();
	cleanup_leftovers();

	ksp_alloc_fail_at(0);
	rep->allocs = ksp_alloc_count() - ut.alloc_base;
	rep->fired = ut_fired();
	rep->stopped = atomic_load(&ut.stopped);
	/* Checks below must not be skipped by a stop. */
	atomic_store(&ut.stopped, false);
	if (ksp_alloc_outstanding() != outstanding)
		ut_fail(__FILE__, __LINE__,
			"%ld allocations left after closing everything",
			ksp_alloc_outstanding() - outstanding);
	if (ksp_fini() < 0)
		ut_fail(__FILE__, __LINE__, "ksp_fini (ks_fini) failed: %s",
			strerror(errno));
	else if (ksp_alloc_outstanding() != 0)
		ut_fail(__FILE__, __LINE__, "%ld allocations left after ks_fini",
			ksp_alloc_outstanding());
	if (count_host_fds() != host_fds)
		ut_fail(__FILE__, __LINE__, "%d real descriptors left open",
			count_host_fds() - host_fds);
	if (ut_leaks_found())
		ut_fail(__FILE__, __LINE__, "LeakSanitizer found leaks");
	rep->failures = atomic_load(&ut.failures);
	return rep->failures == 0 ? 0 : 1;
}

/* -- the runner -- */

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
remove_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A run in progress. */
struct ut_slot {
	pid_t			 pid;
	long			 inject_at;
	char			 dir[32];
	struct ut_report	*rep;
};

static int
start_run(const struct ut_test *test, long inject_at, bool quiet,
	  struct ut_slot *slot)
{
	strcpy(slot->dir, "/tmp/ksock-unit-XXXXXX");
	if (mkdtemp(slot->dir) == NULL) {
		perror("mkdtemp");
		return -1;
	}
	/* Tests that switch credentials need to reach the directory. */
	chmod(slot->dir, 0777);
	memset(slot->rep, 0, sizeof(*slot->rep));
	slot->inject_at = inject_at;
	fflush(stdout);
	fflush(stderr);
	slot->pid = fork();
	if (slot->pid < 0) {
		perror("fork");
		return -1;
	}
	if (slot->pid == 0)
		_exit(run_one(test, inject_at, slot->dir, quiet, slot->rep));
	return 0;
}

/* Waits for the run in @slot; returns 0 passed, 1 failed, 77 skipped. */
static int
finish_run(const struct ut_test *test, struct ut_slot *slot, int ws,
	   bool quiet)
{
	int status;

	if (WIFEXITED(ws))
		status = WEXITSTATUS(ws);
	else {
		if (!quiet || WTERMSIG(ws) != 0)
			fprintf(stderr, "  [%s%s] killed by signal %d%s\n",
				test->name, slot->inject_at ?
				", injected run" : "", WTERMSIG(ws),
				WTERMSIG(ws) == SIGALRM ? " (time limit)" : "");
		status = 1;
	}
	if (status != 0 && status != UT_SKIP_STATUS && slot->inject_at > 0)
		fprintf(stderr, "  [%s] failed with allocation %ld failing\n",
			test->name, slot->inject_at);
	remove_tree(slot->dir);
	slot->pid = 0;
	return status == UT_SKIP_STATUS ? UT_SKIP_STATUS : status != 0;
}

/* Runs allocation-failure injection 1..@count; returns failed runs. */
static long
inject_all(const struct ut_test *test, long count, int jobs, bool verbose,
	   struct ut_slot *slots, long *unreached, long *stopped)
{
	long next = 1, failed = 0;
	int running = 0;

	while (next <= count || running > 0) {
		while (next <= count && running < jobs) {
			int i = 0;

			while (slots[i].pid != 0)
				i++;
			if (start_run(test, next, !verbose &&
				      failed >= UT_SHOWN_FAILURES,
				      &slots[i]) < 0)
				return failed + 1;
			next++;
			running++;
		}
		int ws;
		pid_t pid = wait(&ws);

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			perror("wait");
			return failed + 1;
		}
		for (int i = 0; i < jobs; i++) {
			if (slots[i].pid != pid)
				continue;
			if (finish_run(test, &slots[i], ws, false) != 0)
				failed++;
			else if (!slots[i].rep->fired)
				(*unreached)++;
			else if (slots[i].rep->stopped)
				(*stopped)++;
			running--;
		}
	}
	return failed;
}

int
ut_main(const struct ut_test *tests, size_t n, int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0, opt, jobs;
	long injected_runs = 0, injected_failed = 0, unreached = 0;
	long stopped = 0;
	bool inject = true, verbose = false;
	const char *filter;
	struct ut_report *reps;
	struct ut_slot *slots;

	jobs = (int)sysconf(_SC_NPROCESSORS_ONLN);
	while ((opt = getopt(argc, argv, "nj:v")) != -1) {
		switch (opt) {
		case 'n': inject = false; break;
		case 'j': jobs = atoi(optarg); break;
		case 'v': verbose = true; break;
		default:
			fprintf(stderr, "usage: %s [-n] [-j JOBS] [-v] [FILTER]\n",
				argv[0]);
			return 2;
		}
	}
	if (jobs < 1)
		jobs = 1;
	filter = optind < argc ? argv[optind] : NULL;
	setvbuf(stdout, NULL, _IOLBF, 0);

	reps = mmap(NULL, (size_t)jobs * sizeof(*reps), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	slots = calloc((size_t)jobs, sizeof(*slots));
	if (reps == MAP_FAILED || slots == NULL) {
		perror("setting up");
		return 2;
	}
	for (int i = 0; i < jobs; i++)
		slots[i].rep = &reps[i];

	for (size_t i = 0; i < n; i++) {
		const struct ut_test *t = &tests[i];
		long long t0 = ut_now_ms();
		int ws, status;
		long allocs, bad = 0, unr = 0;

		if (filter != NULL && strstr(t->name, filter) == NULL)
			continue;
		if (start_run(t, 0, false, &slots[0]) < 0)
			return 2;
		while (waitpid(slots[0].pid, &ws, 0) < 0 && errno == EINTR)
			;
		allocs = slots[0].rep->allocs;
		status = finish_run(t, &slots[0], ws, false);
		if (status == UT_SKIP_STATUS) {
			skipped++;
			continue;
		}
		if (status == 0 && inject && !(t->flags & UT_NO_INJECT)) {
			bad = inject_all(t, allocs, jobs, verbose, slots, &unr,
					 &stopped);
			injected_runs += allocs;
			injected_failed += bad;
			unreached += unr;
		}
		if (status == 0 && bad == 0) {
			passed++;
			printf("ok   %-40s %4ld allocs%s (%lld ms)\n", t->name,
			       allocs, !inject ? "" :
			       (t->flags & UT_NO_INJECT) ? ", not injected" :
			       ", all injected", ut_now_ms() - t0);
		} else {
			failed++;
			if (bad > 0)
				printf("FAIL %s (%ld of %ld injected runs failed)\n",
				       t->name, bad, allocs);
			else
				printf("FAIL %s\n", t->name);
		}
	}
	if (inject && injected_runs == 0)
		printf("fault injection: none (these tests are UT_NO_INJECT)\n");
	else if (inject)
		printf("fault injection: %ld runs, %ld failed; %ld stopped at a "
		       "clean ENOMEM/ENOBUFS, %ld went on past it, "
		       "%ld did not reach their allocation\n", injected_runs,
		       injected_failed, stopped,
		       injected_runs - injected_failed - stopped - unreached,
		       unreached);
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	free(slots);
	munmap(reps, (size_t)jobs * sizeof(*reps));
	return failed == 0 ? 0 : 1;
}

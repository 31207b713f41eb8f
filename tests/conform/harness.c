/*
 * Conformance harness: runner, checks, processes, signals, addresses.
 *
 * The runner forks one child per test (on both builds, so a crash or a
 * hang in one test cannot take the others with it). In the ksock build
 * the child starts ksock itself, so every test begins with a fresh ksock
 * instance and ends by proving it left nothing behind.
 */
#include "harness.h"

#include <dirent.h>
#include <stdarg.h>
#include <grp.h>
#include <sys/wait.h>

/* The harness itself needs the real calls, whichever build this is. */
#undef close
#undef getpid
#undef read
#undef write
#undef pipe
#undef open
#undef fcntl
#undef fstat

/*
 * A test's child ends with _exit(), which skips LeakSanitizer's check at
 * exit: in a sanitizer build the child asks for the check itself, so
 * that memory ksock's accounting does not see (the personality's own
 * malloc) is checked too.
 */
#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#include <sanitizer/lsan_interface.h>
#define th_leaks_found()	(__lsan_do_recoverable_leak_check() != 0)
#else
#define th_leaks_found()	false
#endif

#define TH_TIME_LIMIT_S	30	/* per test; the slowest waits for timeouts */
#define TH_SKIP_STATUS	77

static _Thread_local int th_fail_count;
static const char *th_current;

void
th_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	th_fail_count++;
	fprintf(stderr, "  %s:%d: [%s] ", file, line,
		th_current ? th_current : "?");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
th_failures(void)
{
	return th_fail_count;
}

void
th_skip(const char *why)
{
	printf("  skip %s: %s\n", th_current, why);
	fflush(stdout);
	_exit(TH_SKIP_STATUS);
}

void
th_require_root(void)
{
	if (geteuid() != 0)
		th_skip("needs root to switch credentials");
}

/* -- processes -- */

struct th_child {
#ifdef TH_KSOCK
	struct ksp_proc	*proc;
#else
	pid_t		 pid;
#endif
};

#ifdef TH_KSOCK
struct th_start {
	int	(*fn)(void *);
	void	 *arg;
};

static int
th_child_main(void *p)
{
	struct th_start *start = p;
	int (*fn)(void *) = start->fn;
	void *arg = start->arg;
	int status;

	free(start);
	th_fail_count = 0;
	status = fn(arg);
	return status;
}
#endif

struct th_child *
th_fork(int (*fn)(void *), void *arg)
{
	struct th_child *c = calloc(1, sizeof(*c));

	if (c == NULL)
		abort();
#ifdef TH_KSOCK
	struct th_start *start = malloc(sizeof(*start));

	if (start == NULL)
		abort();
	start->fn = fn;
	start->arg = arg;
	c->proc = ksp_fork(th_child_main, start);
	if (c->proc == NULL) {
		perror("ksp_fork");
		abort();
	}
#else
	/* Under build/ksock-run --in-process the sockets are ksock's,
	 * inside each process: a forked child cannot use them. In the
	 * default mode they are a server's, shared by every process
	 * (KSOCK_RUN_KSOCKD says so). */
	if (getenv("KSOCK_RUN") != NULL && getenv("KSOCK_RUN_KSOCKD") == NULL)
		th_skip("forks a process: ksock-run --in-process does not "
			"share sockets across processes (its default mode "
			"does)");
	fflush(stdout);
	fflush(stderr);
	c->pid = fork();
	if (c->pid < 0) {
		perror("fork");
		abort();
	}
	if (c->pid == 0) {
		th_fail_count = 0;
		_exit(fn(arg));
	}
#endif
	return c;
}

int
th_join(struct th_child *c)
{
	int status;

#ifdef TH_KSOCK
	status = ksp_wait(c->proc);
#else
	int ws;

	while (waitpid(c->pid, &ws, 0) < 0 && errno == EINTR)
		;
	status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
#endif
	free(c);
	return status;
}

int
th_setcred(uid_t uid, gid_t gid)
{
#ifdef TH_KSOCK
	if (ksp_setresgid(gid, gid, gid) < 0)
		return -1;
	return ksp_setresuid(uid, uid, uid);
#else
	/* Supplementary groups would give root's group access back. */
	if (setgroups(0, NULL) < 0)
		return -1;
	if (setresgid(gid, gid, gid) < 0)
		return -1;
	return setresuid(uid, uid, uid);
#endif
}

/* -- threads and signals -- */

static volatile sig_atomic_t th_sig_counts[65];

static void
th_count_handler(int sig)
{
	th_sig_counts[sig]++;
}

void
th_catch(int sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = th_count_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: blocking calls get EINTR */
	sigaction(sig, &sa, NULL);
}

int
th_signal_count(int sig)
{
	return th_sig_counts[sig];
}

struct th_sigjob {
	pthread_t	target;
	int		sig;
	int		ms;
};

static void *
th_signal_thread(void *p)
{
	struct th_sigjob job = *(struct th_sigjob *)p;

	free(p);
	th_sleep_ms(job.ms);
	pthread_kill(job.target, job.sig);
	return NULL;
}

void
th_signal_after(pthread_t thread, int sig, int ms)
{
	struct th_sigjob *job = malloc(sizeof(*job));
	pthread_t t;

	if (job == NULL)
		abort();
	job->target = thread;
	job->sig = sig;
	job->ms = ms;
	if (pthread_create(&t, NULL, th_signal_thread, job) != 0)
		abort();
	pthread_detach(t);
}

long long
th_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
th_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* -- addresses -- */

socklen_t
th_addr_path(struct sockaddr_un *sun, const char *path)
{
	size_t len = strlen(path);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (len > sizeof(sun->sun_path))
		len = sizeof(sun->sun_path);
	memcpy(sun->sun_path, path, len);
	if (len < sizeof(sun->sun_path))
		len++;
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

socklen_t
th_addr_abstract(struct sockaddr_un *sun, const char *name, size_t len)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (len > sizeof(sun->sun_path) - 1)
		len = sizeof(sun->sun_path) - 1;
	memcpy(sun->sun_path + 1, name, len);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
}

const char *
th_unique(void)
{
	static char buf[64];

	if (buf[0] == '\0')
		snprintf(buf, sizeof(buf), "ksock-th-%d-%lld", (int)getpid(),
			 th_now_ms());
	return buf;
}

/* -- the runner -- */

static int
th_count_real_fds(void)
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

static bool
th_dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool empty = true;

	if (d == NULL)
		return false;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, ".."))
			empty = false;
	closedir(d);
	return empty;
}

/* Runs one test in this (child) process; returns its exit status. */
static int
th_run_one(const struct th_test *t, const char *dir)
{
	int fds_before;

	th_current = t->name;
	if (chdir(dir) < 0) {
		perror("chdir");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
#ifdef TH_KSOCK
	if (ksp_init() < 0) {
		perror("ksp_init");
		return 1;
	}
#endif
	fds_before = th_count_real_fds();
	t->fn();
#ifdef TH_KSOCK
	if (ksp_fd_count() != 0)
		th_fail(__FILE__, __LINE__, "%d ksock descriptors left open",
			ksp_fd_count());
	if (ksp_fini() < 0)
		th_fail(__FILE__, __LINE__, "ksock sockets left open");
	if (ksp_alloc_outstanding() != 0)
		th_fail(__FILE__, __LINE__, "%ld ksock allocations left",
			ksp_alloc_outstanding());
#endif
	if (th_count_real_fds() != fds_before)
		th_fail(__FILE__, __LINE__, "%d descriptors left open",
			th_count_real_fds() - fds_before);
	if (!th_dir_is_empty("."))
		th_fail(__FILE__, __LINE__, "files left in the test directory");
	if (th_leaks_found())
		th_fail(__FILE__, __LINE__, "LeakSanitizer found leaks");
	return th_fail_count == 0 ? 0 : 1;
}

int
th_main(const struct th_test *tests, size_t n, int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;
	const char *filter = argc > 1 ? argv[1] : NULL;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < n; i++) {
		const struct th_test *t = &tests[i];
		char dir[] = "/tmp/ksock-conform-XXXXXX";
		int ws, status;
		pid_t pid;

		if (filter != NULL && strstr(t->name, filter) == NULL)
			continue;
		if (mkdtemp(dir) == NULL) {
			perror("mkdtemp");
			return 2;
		}
		/* Tests that switch credentials need to reach the directory. */
		chmod(dir, 0777);
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		if (pid < 0) {
			perror("fork");
			return 2;
		}
		if (pid == 0) {
			alarm(TH_TIME_LIMIT_S);
			_exit(th_run_one(t, dir));
		}
		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(ws))
			status = WEXITSTATUS(ws);
		else {
			fprintf(stderr, "  [%s] killed by signal %d%s\n",
				t->name, WTERMSIG(ws),
				WTERMSIG(ws) == SIGALRM ? " (time limit)" : "");
			status = 1;
		}
		if (!th_dir_is_empty(dir)) {
			char cmd[128];

			snprintf(cmd, sizeof(cmd), "rm -rf '%s'/*", dir);
			if (system(cmd) != 0)
				fprintf(stderr, "  could not clean %s\n", dir);
		}
		rmdir(dir);
		if (status == 0) {
			passed++;
			printf("ok   %s\n", t->name);
		} else if (status == TH_SKIP_STATUS) {
			skipped++;
		} else {
			failed++;
			printf("FAIL %s\n", t->name);
		}
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed == 0 ? 0 : 1;
}

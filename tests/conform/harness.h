/*
 * Conformance harness: plain POSIX programs, built twice.
 *
 * A conformance test is written against <sys/socket.h> and includes only
 * this header. Built as is, it runs on the Linux kernel; built with
 * -DTH_KSOCK, the POSIX calls below are renamed to ksock's hosted POSIX
 * personality (include/ksock/posix.h) and it runs on ksock. A test that
 * fails on Linux is a wrong test.
 *
 * Each test runs in a forked child process of its own, in a fresh
 * temporary directory that is its working directory, with a time limit.
 * After it the harness checks that no descriptor is left open, that the
 * directory is empty, and on ksock that nothing is left allocated.
 *
 * Inside a test, th_fork() starts a "process" (a real fork on Linux, a
 * simulated process on ksock) and th_join() returns its exit status,
 * which is the number of checks that failed in it.
 */
#ifndef KSOCK_TH_HARNESS_H
#define KSOCK_TH_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#ifdef TH_KSOCK
#include <ksock/posix.h>
#define socket		ksp_socket
#define socketpair	ksp_socketpair
#define bind		ksp_bind
#define listen		ksp_listen
#define accept		ksp_accept
#define accept4		ksp_accept4
#define connect		ksp_connect
#define send		ksp_send
#define sendto		ksp_sendto
#define sendmsg		ksp_sendmsg
#define recv		ksp_recv
#define recvfrom	ksp_recvfrom
#define recvmsg		ksp_recvmsg
#define sendmmsg	ksp_sendmmsg
#define recvmmsg	ksp_recvmmsg
#define read		ksp_read
#define write		ksp_write
#define readv		ksp_readv
#define writev		ksp_writev
#define close		ksp_close
#define shutdown	ksp_shutdown
#define getsockopt	ksp_getsockopt
#define setsockopt	ksp_setsockopt
#define getsockname	ksp_getsockname
#define getpeername	ksp_getpeername
#define fcntl		ksp_fcntl
#define ioctl		ksp_ioctl
#define poll		ksp_poll
#define dup		ksp_dup
#define dup2		ksp_dup2
#define dup3		ksp_dup3
#define pipe		ksp_pipe
#define pipe2		ksp_pipe2
#define open		ksp_open
#define fstat		ksp_fstat
#define getpid		ksp_getpid
#define getuid		ksp_getuid
#define geteuid		ksp_geteuid
#define getgid		ksp_getgid
#define getegid		ksp_getegid
#define umask		ksp_umask
#define unshare		ksp_unshare
#define setns		ksp_setns
#define setrlimit	ksp_setrlimit
#endif

/* -- checks: each failure is printed and counted, the test goes on -- */

void th_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define CHECK(cond) do {						\
	if (!(cond))							\
		th_fail(__FILE__, __LINE__, "CHECK(%s) (errno %d %s)",	\
			#cond, errno, strerror(errno));			\
} while (0)

/* Integer equality, printing both values. */
#define CHECK_EQ(a, b) do {						\
	long long th_a_ = (long long)(a), th_b_ = (long long)(b);	\
	if (th_a_ != th_b_)						\
		th_fail(__FILE__, __LINE__,				\
			"CHECK_EQ(%s, %s): %lld != %lld (errno %d %s)",	\
			#a, #b, th_a_, th_b_, errno, strerror(errno));	\
} while (0)

/* A call that must succeed (return >= 0). Evaluates to its result. */
#define CHECK_OK(expr) ({						\
	errno = 0;							\
	long long th_r_ = (long long)(expr);				\
	if (th_r_ < 0)							\
		th_fail(__FILE__, __LINE__, "%s failed: %s", #expr,	\
			strerror(errno));				\
	th_r_;								\
})

/* A call that must fail with -1 and errno @err. */
#define CHECK_ERR(expr, err) do {					\
	errno = 0;							\
	long long th_r_ = (long long)(expr);				\
	int th_e_ = errno;						\
	if (th_r_ != -1 || th_e_ != (err))				\
		th_fail(__FILE__, __LINE__,				\
			"%s: want -1/%s, got %lld/%s", #expr,		\
			strerror(err), th_r_, th_r_ == -1 ?		\
			strerror(th_e_) : "no error");			\
} while (0)

/* Two byte strings of length @n are equal. */
#define CHECK_MEM(a, b, n) do {						\
	if (memcmp((a), (b), (n)) != 0)					\
		th_fail(__FILE__, __LINE__, "CHECK_MEM(%s, %s, %s)",	\
			#a, #b, #n);					\
} while (0)

/* -- tests -- */

struct th_test {
	const char	*name;
	void		(*fn)(void);
};

#define TH_MAIN(tests)							\
	int main(int argc, char **argv)					\
	{								\
		return th_main(tests, sizeof(tests) / sizeof(tests[0]),	\
			       argc, argv);				\
	}

int th_main(const struct th_test *tests, size_t n, int argc, char **argv);

/* Ends the current test as skipped, printing @why. Not in a th_fork child. */
void th_skip(const char *why) __attribute__((noreturn));

/* Skips the test unless it runs as root (credential tests). */
void th_require_root(void);

/* -- processes -- */

struct th_child;

/* Runs @fn(@arg) in a new process; its return value is the exit status. */
struct th_child *th_fork(int (*fn)(void *), void *arg);
/* Waits for @c, returns its exit status (or 128 + signal). */
int th_join(struct th_child *c);
/* The failures counted so far in the calling process (a child returns it). */
int th_failures(void);
/* Sets all uids to @uid and all gids to @gid (a child process only). */
int th_setcred(uid_t uid, gid_t gid);

/* -- threads and signals -- */

/* Sends @sig to @thread after @ms milliseconds, from a helper thread. */
void th_signal_after(pthread_t thread, int sig, int ms);
/* Installs a counting handler for @sig, without SA_RESTART (so blocking
 * calls return EINTR). th_signal_count() reads the count. */
void th_catch(int sig);
int th_signal_count(int sig);

/* Monotonic milliseconds. */
long long th_now_ms(void);
/* Sleeps @ms milliseconds. */
void th_sleep_ms(int ms);

/* -- addresses -- */

/* Fills @sun with path @path; returns the address length to pass
 * (offsetof(sun_path) + strlen + 1). */
socklen_t th_addr_path(struct sockaddr_un *sun, const char *path);
/* Fills @sun with the abstract name @name of @len bytes (without the
 * leading NUL); returns offsetof(sun_path) + 1 + @len. */
socklen_t th_addr_abstract(struct sockaddr_un *sun, const char *name,
			   size_t len);
/* A per-test unique abstract name prefix (abstract names are global). */
const char *th_unique(void);

#endif /* KSOCK_TH_HARNESS_H */

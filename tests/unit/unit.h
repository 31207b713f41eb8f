/*
 * Unit-test harness: white-box tests of the ks_* object API.
 *
 * A unit test file holds one static array of struct ut_test and ends with
 * UT_MAIN(tests). Each test is a function without arguments that drives
 * ksock.h directly (struct ks_sock objects, struct ks_msghdr with
 * ks_iovec) on the hosted port, playing other users through simulated
 * processes (ut_spawn() + ksp_setresuid/gid).
 *
 * The runner forks one child per run of a test, with a time limit, in a
 * fresh temporary directory that is its working directory; the child
 * starts ksock (ksp_init), runs the test, closes whatever the test left
 * open, and then proves that ksock came back to where it started: no
 * allocation outstanding, ksp_fini() (so ks_fini()) succeeds, and no
 * real descriptor (a pipe, a file, the diag server's) is left open.
 *
 * Allocation-failure injection. A test first runs normally, counting the
 * allocations it makes (C). Then, unless it is marked UT_NO_INJECT, it
 * runs C more times, run N making allocation number N fail. Every ksock
 * call in a test goes through the step macros below, which know whether
 * the injected failure has happened yet:
 *
 *   - before it, a step must give exactly the normal result;
 *   - the first step that deviates after it must deviate cleanly: with
 *     -KS_ENOMEM or -KS_ENOBUFS, or (for a byte count) with a short count.
 *     That step "stops" the test: every later step is skipped (it does not
 *     run and asserts nothing), and the test falls through to its cleanup;
 *   - a step that still succeeds after it (the allocation was optional,
 *     or an earlier call absorbed the failure) goes on being checked as
 *     usual;
 *   - any other deviation is a failure, as is a crash, a leak, a hang or
 *     a failing ks_fini().
 *
 * So tests are written as straight lines of steps, and never need to test
 * for an injected error themselves. (A test that wants to look at the
 * state a failed call left behind calls ksock directly and uses
 * ut_fired(); see t_conn.c's failed_*_leaves_nothing.) Sockets are made by the ut_socket() /
 * ut_pair() / ut_accept() helpers, which register them; ut_close() closes
 * one early, and the harness closes every registered socket still open at
 * the end of the test (so a stopped test still releases everything).
 * Simulated processes started by ut_spawn() are joined by the harness too.
 *
 * In the normal run no step may stop: a step that fails there is a test
 * failure, and OK() (a call that must succeed) also stops the test so that
 * later steps do not run on missing sockets.
 */
#ifndef KSOCK_UNIT_H
#define KSOCK_UNIT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ksock/ksock.h>
#include <ksock/posix.h>

/* -- tests -- */

/*
 * Flags of a test. UT_NO_INJECT: run it normally only; the test says why
 * in a comment (typically: it waits for real time, or one simulated
 * process waits for another that an injected failure may have stopped).
 */
#define UT_NO_INJECT	0x1

struct ut_test {
	const char	*name;
	void		(*fn)(void);
	unsigned	 flags;
};

#define UT_MAIN(tests)							\
	int main(int argc, char **argv)					\
	{								\
		return ut_main(tests, sizeof(tests) / sizeof(tests[0]),	\
			       argc, argv);				\
	}

int	ut_main(const struct ut_test *tests, size_t n, int argc, char **argv);

/* -- steps -- */

/* What a skipped step evaluates to: no ksock call returns it. */
#define UT_SKIPPED	(-100000L)

/* Whether steps still run (the test has not been stopped). */
bool	ut_live(void);
/* Whether this is an injected run whose failing allocation has happened. */
bool	ut_fired(void);
/* Stops the test here: later steps are skipped. */
void	ut_stop(const char *file, int line, const char *why);
/* Records a failure (and prints it once per run). */
void	ut_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Ends the current test as skipped (normal run only). */
void	ut_skip(const char *why) __attribute__((noreturn));

long	ut_call_(long r, const char *expr, const char *file, int line);
long	ut_ok_(long r, const char *expr, const char *file, int line);
void	ut_eq_(long r, long want, const char *expr, const char *wexpr,
	       const char *file, int line);
void	ut_ge_(long r, long min, const char *expr, const char *file, int line);

/*
 * CALL(expr): runs a ksock call whose result the test examines itself.
 * Skipped when stopped; an injected ENOMEM/ENOBUFS stops the test.
 * Evaluates to the result (UT_SKIPPED when skipped).
 */
#define CALL(expr)							\
	(ut_live() ? ut_call_((long)(expr), #expr, __FILE__, __LINE__)	\
		   : UT_SKIPPED)

/* OK(expr): a call that must return >= 0. Evaluates to the result. */
#define OK(expr)							\
	(ut_live() ? ut_ok_((long)(expr), #expr, __FILE__, __LINE__)	\
		   : UT_SKIPPED)

/* EQ(expr, want): a call (or value) that must equal @want, e.g. a byte
 * count or -KS_EINVAL. ERR is the same, named for error results. */
#define EQ(expr, want) do {						\
	if (ut_live())							\
		ut_eq_((long)(expr), (long)(want), #expr, #want,	\
		       __FILE__, __LINE__);				\
} while (0)
#define ERR(expr, err)	EQ(expr, err)

/* GE(expr, min): a call that must return at least @min. */
#define GE(expr, min) do {						\
	if (ut_live())							\
		ut_ge_((long)(expr), (long)(min), #expr, __FILE__, __LINE__); \
} while (0)

/* CHECK(cond): a plain assertion on values the test already has. */
#define CHECK(cond) do {						\
	if (ut_live() && !(cond))					\
		ut_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);	\
} while (0)

/* CHECK_EQ(a, b): plain integer equality, printing both. */
#define CHECK_EQ(a, b) do {						\
	if (ut_live()) {						\
		long long ut_a_ = (long long)(a), ut_b_ = (long long)(b); \
		if (ut_a_ != ut_b_)					\
			ut_fail(__FILE__, __LINE__,			\
				"CHECK_EQ(%s, %s): %lld != %lld",	\
				#a, #b, ut_a_, ut_b_);			\
	}								\
} while (0)

/* CHECK_MEM(a, b, n): @n bytes are equal. */
#define CHECK_MEM(a, b, n) do {						\
	if (ut_live() && memcmp((a), (b), (n)) != 0)			\
		ut_fail(__FILE__, __LINE__, "CHECK_MEM(%s, %s, %s)",	\
			#a, #b, #n);					\
} while (0)

/* -- sockets the harness tracks -- */

/* AF_UNIX socket of @type (flags allowed); NULL when skipped or failed. */
#define ut_socket(type)		ut_socket_((type), __FILE__, __LINE__)
/* Connected pair into s[0], s[1] (both NULL when skipped or failed). */
#define ut_pair(type, s)	ut_pair_((type), (s), __FILE__, __LINE__)
/* Accepts from @l (must succeed); NULL when skipped or failed. */
#define ut_accept(l)		ut_accept_((l), 0, NULL, NULL, __FILE__, __LINE__)

struct ks_sock *ut_socket_(int type, const char *file, int line);
void	ut_pair_(int type, struct ks_sock *s[2], const char *file, int line);
struct ks_sock *ut_accept_(struct ks_sock *l, int flags, void *addr,
			   uint32_t *alen, const char *file, int line);
/* Registers a socket the test got some other way. */
void	ut_track(struct ks_sock *so);
/* Closes @*so if not NULL (never skipped: it is cleanup) and clears it. */
void	ut_close(struct ks_sock **so);

/* -- simulated processes the harness tracks -- */

/* Runs @fn(@arg) as a new simulated process (NULL when skipped). */
struct ksp_proc *ut_spawn(int (*fn)(void *), void *arg);
/* Waits for @p (NULL: nothing); returns its exit status. */
int	ut_join(struct ksp_proc *p);
/* In a spawned process: take other credentials (all three ids each). */
void	ut_become(uint32_t uid, uint32_t gid);

/* -- data -- */

long	ut_send(struct ks_sock *so, const void *buf, size_t len, int flags);
long	ut_recv(struct ks_sock *so, void *buf, size_t len, int flags);
long	ut_sendto(struct ks_sock *so, const void *buf, size_t len, int flags,
		  const void *addr, uint32_t alen);
/* recvmsg with one buffer; *@alen in/out; *@mflags gets msg_flags. */
long	ut_recvfrom(struct ks_sock *so, void *buf, size_t len, int flags,
		    void *addr, uint32_t *alen, int *mflags);
/* Sends the string @s (without its NUL). */
long	ut_sends(struct ks_sock *so, const char *s);

/* -- addresses -- */

/* A path address; returns its length (2 + strlen + 1). */
uint32_t ut_path(struct ks_sockaddr_un *a, const char *path);
/* An abstract address "\0" @name (strlen bytes); returns 2 + 1 + strlen. */
uint32_t ut_abstract(struct ks_sockaddr_un *a, const char *name);

/* -- options -- */

int	ut_getint(struct ks_sock *so, int name, int *val);
int	ut_setint(struct ks_sock *so, int name, int val);
/* SO_RCVTIMEO / SO_SNDTIMEO in milliseconds. */
int	ut_settimeo(struct ks_sock *so, int name, long ms);
/* ioctl with an int result (FIONREAD, SIOCOUTQ). */
int	ut_ioctl_int(struct ks_sock *so, unsigned long cmd, int *val);

/* -- the port -- */

/*
 * The port ksock runs on in this run (a copy of the hosted port), for a
 * test to replace hooks: a failing copy_to_user around one call, or a
 * host that does not report dropped file references (set before the
 * test makes its first socket). Each run is a process of its own, so
 * nothing needs restoring for the next test.
 */
struct ks_port *ut_port_edit(void);

/* -- time -- */

long long ut_now_ms(void);
void	ut_sleep_ms(int ms);

#endif /* KSOCK_UNIT_H */

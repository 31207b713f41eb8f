/*
 * Unit tests: the system-call boundary (port/hosted/boundary.h) driven
 * the way the kernel glue and ksockd will drive it, on struct ks_sock
 * objects with no descriptor table: iovec import and its allocation,
 * option values through kernel buffers, and the copy hooks, which fail
 * with -EFAULT and chain every fault outside a copy to what was there
 * before (the program's handler, or the default action).
 */
#include "unit.h"

#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../port/hosted/hosted.h"

#define PAGE	4096
#define NSEG	16	/* more than KSP_UIO_FASTIOV: the array is allocated */

/* A writable page followed by one that cannot be touched. */
static char *
page_then_hole(void)
{
	char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + PAGE, PAGE, PROT_NONE) < 0) {
		munmap(p, 2 * PAGE);
		return NULL;
	}
	return p;
}

/* writev and readv of NSEG segments: the array is allocated through the
 * port (so each allocation failure is injected) and the bytes arrive in
 * order. */
static void
t_many_segments(void)
{
	struct ks_sock *s[2];
	char out[NSEG][4], in[NSEG][4];
	struct ks_iovec wv[NSEG], rv[NSEG];

	for (int i = 0; i < NSEG; i++) {
		memset(out[i], 'a' + i, sizeof(out[i]));
		wv[i] = (struct ks_iovec){ out[i], sizeof(out[i]) };
		rv[i] = (struct ks_iovec){ in[i], sizeof(in[i]) };
	}
	memset(in, 0, sizeof(in));
	ut_pair(KS_SOCK_STREAM, s);
	EQ(ksp__sys_writev(s[0], wv, NSEG), NSEG * 4);
	EQ(ksp__sys_readv(s[1], rv, NSEG), NSEG * 4);
	if (ut_live())
		CHECK_MEM(in, out, sizeof(in));
}

/* import_iovec()'s checks, in Linux's order. */
static void
t_iov_import_checks(void)
{
	struct ks_iovec iov[2] = { { NULL, 1 }, { NULL, (size_t)LONG_MAX + 1 } };
	/* Static: its capped range (2 GiB) stays below the top of the
	 * address space, which a randomised stack may not leave room for. */
	static char base[1];
	struct ksp_iov v;

	EQ(ksp__iov_import(&v, iov, KSP_UIO_MAXIOV + 1), -KS_EINVAL);
	EQ(ksp__iov_import(&v, NULL, 1), -KS_EFAULT);
	/* Every length is checked before any range. */
	EQ(ksp__iov_import(&v, iov, 2), -KS_EINVAL);
	iov[1].iov_len = 1UL << 50;
	EQ(ksp__iov_import(&v, iov, 2), -KS_EFAULT);
	/* One segment is capped first, and the capped range is good. */
	iov[0] = (struct ks_iovec){ base, 1UL << 50 };
	EQ(ksp__iov_import(&v, iov, 1), 0);
	CHECK_EQ(v.total, KSP_RW_MAX);
	ksp__iov_release(&v);
	EQ(ksp__iov_import(&v, iov, 0), 0);
	CHECK_EQ(v.total, 0);
	ksp__iov_release(&v);
}

/* Option values longer than the stack buffer go through an allocation;
 * the length written back is the value's. */
static void
t_long_option_values(void)
{
	struct ks_sock *so = ut_socket(KS_SOCK_STREAM);
	static unsigned char val[4096];
	socklen_t len = sizeof(val);
	int v = 100000;

	EQ(ksp__sys_getsockopt(so, KS_SOL_SOCKET, KS_SO_TYPE, val, &len), 0);
	CHECK_EQ(len, sizeof(int));
	CHECK_EQ(*(int *)(void *)val, KS_SOCK_STREAM);
	memcpy(val, &v, sizeof(v));
	EQ(ksp__sys_setsockopt(so, KS_SOL_SOCKET, KS_SO_RCVBUF, val,
			       sizeof(val)), 0);
	len = sizeof(v);
	EQ(ksp__sys_getsockopt(so, KS_SOL_SOCKET, KS_SO_RCVBUF, &v, &len), 0);
	CHECK_EQ(v, 200000);
	len = (socklen_t)-1;
	EQ(ksp__sys_getsockopt(so, KS_SOL_SOCKET, KS_SO_TYPE, &v, &len),
	   -KS_EINVAL);
}

/* The hooks: bad ranges are -EFAULT (before or during the copy), a copy
 * that crosses into a hole fails, good copies work after a failed one. */
static void
t_copy_hooks(void)
{
	char *p = page_then_hole();
	char buf[64];
	const char *ro = "read-only";

	CHECK(p != NULL);
	if (p == NULL)
		return;
	CHECK_EQ(ksp__copy_from_user(buf, p + PAGE, 1), -KS_EFAULT);
	CHECK_EQ(ksp__copy_from_user(buf, p + PAGE - 8, 16), -KS_EFAULT);
	CHECK_EQ(ksp__copy_to_user(p + PAGE - 8, buf, 16), -KS_EFAULT);
	CHECK_EQ(ksp__copy_to_user((void *)ro, buf, 4), -KS_EFAULT);
	CHECK_EQ(ksp__copy_from_user(buf, (void *)(1UL << 50), 1), -KS_EFAULT);
	CHECK_EQ(ksp__copy_from_user(buf, (void *)-4096L, 8), -KS_EFAULT);
	CHECK_EQ(ksp__copy_from_user(buf, NULL, 1), -KS_EFAULT);
	CHECK_EQ(ksp__copy_from_user(buf, p + PAGE, 0), 0);
	memset(p, 'x', PAGE);
	CHECK_EQ(ksp__copy_from_user(buf, p + PAGE - 8, 8), 0);
	CHECK_MEM(buf, "xxxxxxxx", 8);
	CHECK_EQ(ksp__copy_to_user(p, "yy", 2), 0);
	CHECK_MEM(p, "yy", 2);
	munmap(p, 2 * PAGE);
}

/* ksp__user_writable(): 0 for a range every page of which can be
 * written (its bytes left as they were), -EFAULT for one that reaches a
 * hole or a read-only page, wherever in the range, or fails the range
 * check; the copy hooks still work after a failed check. */
static void
t_user_writable(void)
{
	char *p = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	const char *ro = "read-only";
	char buf[8];

	CHECK(p != MAP_FAILED);
	if (p == MAP_FAILED)
		return;
	CHECK_EQ(mprotect(p + 2 * PAGE, PAGE, PROT_NONE), 0);
	memset(p, 'x', 2 * PAGE);
	CHECK_EQ(ksp__user_writable(p, 2 * PAGE), 0);
	CHECK_EQ(ksp__user_writable(p + 1, 2 * PAGE - 1), 0);
	CHECK_EQ(ksp__user_writable(p + 2 * PAGE - 1, 1), 0);
	for (size_t i = 0; i < 2 * PAGE; i++)
		if (p[i] != 'x') {
			CHECK_EQ(p[i], 'x');
			break;
		}
	/* The hole met by the range's last byte, its first, its middle. */
	CHECK_EQ(ksp__user_writable(p + 1, 2 * PAGE), -KS_EFAULT);
	CHECK_EQ(ksp__user_writable(p + 2 * PAGE, 1), -KS_EFAULT);
	CHECK_EQ(mprotect(p + PAGE, PAGE, PROT_READ), 0);
	CHECK_EQ(ksp__user_writable(p + PAGE - 1, 2), -KS_EFAULT);
	CHECK_EQ(ksp__user_writable(p, PAGE), 0);
	CHECK_EQ(ksp__user_writable((void *)ro, 4), -KS_EFAULT);
	CHECK_EQ(ksp__user_writable(NULL, 1), -KS_EFAULT);
	CHECK_EQ(ksp__user_writable((void *)-4096L, 8), -KS_EFAULT);
	CHECK_EQ(ksp__user_writable((void *)(1UL << 50), 1), -KS_EFAULT);
	CHECK_EQ(ksp__user_writable(
		(void *)((uintptr_t)p | KSP_REMOTE_BIT), 1), -KS_EFAULT);
	CHECK_EQ(ksp__user_writable(p + 2 * PAGE, 0), 0);
	CHECK_EQ(ksp__copy_from_user(buf, p + PAGE, 8), 0);
	CHECK_MEM(buf, "xxxxxxxx", 8);
	CHECK_EQ(ksp__copy_to_user(p, "yy", 2), 0);
	CHECK_MEM(p, "yy", 2);
	munmap(p, 3 * PAGE);
}

static char *handled_page;
static volatile sig_atomic_t handled;

/* The program's own handler: counts, then lets the access go on. */
static void
program_handler(int sig)
{
	handled++;
	mprotect(handled_page, PAGE, PROT_READ | PROT_WRITE);
}

/* In a fresh process: a handler the program installed before the first
 * copy still gets the faults outside copies, and not the copy's. */
static int
chain_child(void)
{
	struct sigaction sa;
	char buf[8];

	handled_page = page_then_hole() + PAGE;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = program_handler;
	sigaction(SIGSEGV, &sa, NULL);
	if (ksp__copy_from_user(buf, handled_page, 8) != -KS_EFAULT)
		return 1;
	if (handled != 0)
		return 2;
	handled_page[0] = 1;	/* faults once; the handler opens it */
	return handled == 1 ? 0 : 3;
}

/* In a fresh process: after a recovered copy, a fault outside any copy
 * still ends the process as it would have without ksock. */
static int
default_child(void)
{
	char buf[8];

	if (ksp__copy_from_user(buf, (void *)16, 8) != -KS_EFAULT)
		return 1;
	*(volatile char *)(uintptr_t)16 = 0;
	return 2;
}

static int
run_child(int (*fn)(void))
{
	int st = 0;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn());
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return st;
}

static void
t_faults_outside_copies_chain(void)
{
	int st = run_child(chain_child);

	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = run_child(default_child);
#if defined(__SANITIZE_ADDRESS__)
	/* ASan's handler was there first: it reports and exits. */
	CHECK(!(WIFEXITED(st) && WEXITSTATUS(st) == 2) && st != 0);
#else
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
#endif
}

static const struct ut_test tests[] = {
	{ "many_segments",		t_many_segments, 0 },
	{ "iov_import_checks",		t_iov_import_checks, 0 },
	{ "long_option_values",		t_long_option_values, 0 },
	{ "copy_hooks",			t_copy_hooks, UT_NO_INJECT },
	{ "user_writable",		t_user_writable, UT_NO_INJECT },
	{ "faults_outside_copies_chain", t_faults_outside_copies_chain,
					UT_NO_INJECT },
};

UT_MAIN(tests)

/*
 * See t_util.h.
 *
 * Locks: none (the runner's one thread).
 */
#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>

#include "t_util.h"

int ksd_t_passed, ksd_t_failed, ksd_t_skipped;

/* See t_util.h. */
int64_t
ksd_t_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* See t_util.h. */
void
ksd_t_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* See t_util.h. */
int
ksd_t_reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) != pid)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* See t_util.h. */
void
ksd_t_result(bool ok, const char *name)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", name);
	fflush(stdout);
	if (ok)
		ksd_t_passed++;
	else
		ksd_t_failed++;
}

/* See t_util.h. */
void
ksd_t_skip(const char *name, const char *why)
{
	printf("skip %s (%s)\n", name, why);
	fflush(stdout);
	ksd_t_skipped++;
}

/* See t_util.h. */
int
ksd_t_summary(void)
{
	printf("%d passed, %d failed, %d skipped\n", ksd_t_passed,
	       ksd_t_failed, ksd_t_skipped);
	return ksd_t_failed == 0 ? 0 : 1;
}

/* See t_util.h. */
bool
ksd_t_status_same(const struct ksd_status *a, const struct ksd_status *b)
{
	return a->ksock_allocs == b->ksock_allocs && a->sockets == b->sockets &&
	       a->objects == b->objects && a->clients == b->clients &&
	       a->parked == b->parked && a->descriptors == b->descriptors &&
	       a->handovers == b->handovers;
}

/* See t_util.h. */
void
ksd_t_status_print(const char *what, const struct ksd_status *s)
{
	fprintf(stderr, "%s: ksock allocs %lld sockets %lld objects %lld "
		"clients %lld parked %lld descriptors %lld handovers %lld\n",
		what, (long long)s->ksock_allocs, (long long)s->sockets,
		(long long)s->objects, (long long)s->clients,
		(long long)s->parked, (long long)s->descriptors,
		(long long)s->handovers);
}

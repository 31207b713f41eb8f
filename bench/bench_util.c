/*
 * What both benchmark programs use (bench.c, bench_ksockd.c): the
 * watchdog that ends a hung run, medians, the --only list.
 *
 * Locks: none. The watched run's name is written by the one thread
 * that runs the scenarios and read by the SIGALRM handler.
 */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static const char *watch_prog = "bench";
static volatile const char *watch_what = "startup";

static void
watchdog(int sig)
{
	static const char msg[] = ": watchdog: a run hung: ";
	const char *prog = watch_prog, *what = (const char *)watch_what;

	(void)sig;
	if (write(2, prog, strlen(prog)) < 0 ||
	    write(2, msg, sizeof(msg) - 1) < 0 ||
	    write(2, what, strlen(what)) < 0 || write(2, "\n", 1) < 0)
		_exit(3);
	_exit(3);
}

/* See bench.h. */
void
bench_watchdog_install(const char *prog)
{
	watch_prog = prog;
	signal(SIGALRM, watchdog);
}

/* See bench.h. */
void
bench_watch(const char *what)
{
	watch_what = what;
	alarm(what != NULL ? BENCH_WATCHDOG_SECONDS : 0);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* See bench.h. */
double
bench_median(const double *v, int n)
{
	double tmp[BENCH_MAX_SAMPLES];

	if (n <= 0 || n > BENCH_MAX_SAMPLES)
		return NAN;
	memcpy(tmp, v, (size_t)n * sizeof(*v));
	qsort(tmp, (size_t)n, sizeof(*tmp), cmp_double);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

/* See bench.h. */
bool
bench_selected(const char *list, const char *id)
{
	const char *p = list;
	size_t len = strlen(id);

	if (p == NULL)
		return true;
	while ((p = strstr(p, id)) != NULL) {
		if ((p == list || p[-1] == ',') &&
		    (p[len] == '\0' || p[len] == ','))
			return true;
		p += len;
	}
	return false;
}

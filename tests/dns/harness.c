/*
 * Test harness (see harness.h). Tests run one after another in this
 * process; the counting port is process-wide and atomic, so tests that
 * start threads may use it too.
 */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

static int failures;
static bool skipped;

void
test_skip(const char *why)
{
	printf("    skip: %s\n", why);
	skipped = true;
}

void
test_fail(const char *file, int line, const char *expr)
{
	printf("    FAIL %s:%d: %s\n", file, line, expr);
	failures++;
}

int
run_tests(const struct dns_test *tests, size_t n, int argc, char **argv)
{
	int passed = 0, failed = 0, skip = 0;

	for (size_t i = 0; i < n; i++) {
		bool wanted = argc < 2;
		for (int a = 1; a < argc; a++)
			wanted |= strstr(tests[i].name, argv[a]) != NULL;
		if (!wanted)
			continue;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		failures = 0;
		skipped = false;
		tests[i].fn();
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double ms = (t1.tv_sec - t0.tv_sec) * 1e3 +
			    (t1.tv_nsec - t0.tv_nsec) / 1e6;
		const char *verdict = failures ? "FAIL" : skipped ? "skip" : "ok";
		printf("%-4s %s (%.0f ms)\n", verdict, tests[i].name, ms);
		fflush(stdout);
		if (failures)
			failed++;
		else if (skipped)
			skip++;
		else
			passed++;
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skip);
	return failed ? 1 : 0;
}

/* -- counting port -- */

static atomic_long outstanding, allocs, fail_at;
static atomic_bool failed_once;
static struct ks_port port;
static const struct ks_port *base;

static void *
count_alloc(size_t size)
{
	long n = atomic_fetch_add(&allocs, 1) + 1;

	if (n == atomic_load(&fail_at)) {
		atomic_store(&failed_once, true);
		return NULL;
	}
	void *p = base->alloc(size);
	if (p)
		atomic_fetch_add(&outstanding, 1);
	return p;
}

static void
count_free(void *p, size_t size)
{
	if (p)
		atomic_fetch_sub(&outstanding, 1);
	base->free(p, size);
}

const struct ks_port *
test_port(void)
{
	if (!base) {
		base = ks_dns_hosted_port();
		port = *base;
		port.alloc = count_alloc;
		port.free = count_free;
	}
	return &port;
}

long test_port_outstanding(void) { return atomic_load(&outstanding); }
long test_port_allocs(void) { return atomic_load(&allocs); }
bool test_port_failed(void) { return atomic_load(&failed_once); }

void
test_port_fail_at(long n)
{
	atomic_store(&allocs, 0);
	atomic_store(&failed_once, false);
	atomic_store(&fail_at, n);
}

void
test_port_reset(void)
{
	test_port_fail_at(0);
}

/* -- helpers shared by the suites that ask servers -- */

struct ks_dns_stats
stats(struct ks_dns *r)
{
	struct ks_dns_stats s;

	ks_dns_get_stats(r, &s);
	return s;
}

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
lookup_text(struct ks_dns *r, const char *name, int family, char *out,
	    size_t cap, uint32_t *min_ttl)
{
	struct ks_dns_addr a[64];
	char strs[64][48];
	size_t n;
	int err = ks_dns_resolve(r, name, family, a, 64, &n);

	out[0] = 0;
	if (err)
		return err;
	if (min_ttl)
		*min_ttl = UINT32_MAX;
	for (size_t i = 0; i < n; i++) {
		inet_ntop(a[i].family == KS_AF_INET ? AF_INET : AF_INET6,
			  a[i].addr, strs[i], sizeof strs[i]);
		if (min_ttl && a[i].ttl < *min_ttl)
			*min_ttl = a[i].ttl;
	}
	qsort(strs, n, sizeof strs[0], (int (*)(const void *, const void *))strcmp);
	for (size_t i = 0; i < n; i++) {
		strncat(out, strs[i], cap - strlen(out) - 2);
		if (i + 1 < n)
			strcat(out, " ");
	}
	return 0;
}

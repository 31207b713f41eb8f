/*
 * A small test harness for the resolver's tests: a table of tests, CHECK
 * macros that record a failure and go on, a runner that prints the one
 * line tools/summarize reads, and a port table whose allocator counts
 * outstanding blocks and can be told to fail allocation number N.
 */
#ifndef KSOCK_TESTS_DNS_HARNESS_H
#define KSOCK_TESTS_DNS_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <ksock/dns.h>

struct dns_test {
	const char	*name;		/* says what is expected */
	void		(*fn)(void);
};

/* Set by a test to skip itself (with the reason printed). */
void	test_skip(const char *why);
void	test_fail(const char *file, int line, const char *expr);

#define CHECK(e) do { if (!(e)) test_fail(__FILE__, __LINE__, #e); } while (0)
#define CHECK_EQ(a, b) do {						\
	long long a_ = (long long)(a), b_ = (long long)(b);		\
	if (a_ != b_) {							\
		char m_[256];						\
		snprintf(m_, sizeof m_, "%s == %s (%lld != %lld)",	\
			 #a, #b, a_, b_);				\
		test_fail(__FILE__, __LINE__, m_);			\
	}								\
} while (0)
#define CHECK_STR(a, b) do {						\
	const char *a_ = (a), *b_ = (b);				\
	if (!a_ || !b_ || strcmp(a_, b_) != 0) {			\
		char m_[600];						\
		snprintf(m_, sizeof m_, "%.60s == %.60s (\"%.200s\" != \"%.200s\")",	\
			 #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
		test_fail(__FILE__, __LINE__, m_);			\
	}								\
} while (0)

/* Runs the tests named on the command line, or all; returns the exit
 * status. Prints "N passed, N failed, N skipped" last. */
int	run_tests(const struct dns_test *tests, size_t n, int argc, char **argv);

/* For the suites that ask servers (test_servers.c, test_ksock.c): the
 * resolver's counters; the monotonic clock in ms; the addresses of
 * @name for @family as sorted text joined by spaces, and (when @min_ttl
 * is not NULL) the smallest TTL among them. */
struct ks_dns_stats stats(struct ks_dns *r);
int64_t	now_ms(void);
int	lookup_text(struct ks_dns *r, const char *name, int family, char *out,
		    size_t cap, uint32_t *min_ttl);

/* The counting, failure-injecting port (over the hosted one). */
const struct ks_port *test_port(void);
long	test_port_outstanding(void);	/* blocks allocated, not freed */
long	test_port_allocs(void);		/* allocations since the last reset */
void	test_port_fail_at(long n);	/* fail allocation n (1-based); 0: never */
bool	test_port_failed(void);		/* did the injected failure happen */
void	test_port_reset(void);

#endif

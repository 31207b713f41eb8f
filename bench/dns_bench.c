/*
 * DNS lookup benchmark: ksock's resolver, glibc's getaddrinfo and c-ares
 * side by side in one run, against the same local nsd, for the same name
 * (www.ks.test, A and AAAA). Run pinned to one CPU (mk/dns.mk uses
 * taskset; nsd inherits the affinity), since waking another CPU would
 * dominate every figure.
 *
 *   misses: every lookup goes to the server (ksock with its cache off)
 *   hits:   ksock answering from its cache; c-ares only when the
 *           installed version has a query cache (1.23 and later)
 *
 * Each measurement runs for a fixed time and reports lookups per second
 * and the median latency; ratios follow. Total time stays under 20 s.
 *
 * Usage: dns-bench DATADIR
 */
#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <resolv.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ksock/dns.h>
#include "servers.h"

#define NAME		"www.ks.test"
#define RUN_NS		(2LL * 1000000000)	/* per measurement */
#define MAX_SAMPLES	2000000

static double *samples;

struct result {
	const char	*what;
	double		 per_sec, median_us;
	long		 n, errors;
	bool		 ran;
};

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Runs @op repeatedly for RUN_NS and fills @res. */
static void
measure(struct result *res, int (*op)(void *), void *arg)
{
	int64_t start = now_ns(), end = start + RUN_NS, t = start;
	long n = 0, errors = 0;

	/* Warm up: a few calls outside the measurement. */
	for (int i = 0; i < 50; i++)
		(void)op(arg);
	start = t = now_ns();
	end = start + RUN_NS;
	while (t < end && n < MAX_SAMPLES) {
		int err = op(arg);
		int64_t t2 = now_ns();
		samples[n++] = (double)(t2 - t) / 1000.0;
		errors += err != 0;
		t = t2;
	}
	qsort(samples, (size_t)n, sizeof *samples, cmp_double);
	res->n = n;
	res->errors = errors;
	res->per_sec = (double)n / ((double)(t - start) / 1e9);
	res->median_us = samples[n / 2];
	res->ran = true;
}

/* -- ksock -- */

static int
ks_op(void *arg)
{
	struct ks_dns *r = arg;
	struct ks_addrinfo h = { .ai_socktype = KS_SOCK_STREAM }, *res;
	int err = ks_dns_getaddrinfo(r, NAME, NULL, &h, &res);

	if (!err)
		ks_dns_freeaddrinfo(res);
	return err;
}

static struct ks_dns *
ks_resolver(uint16_t port, bool cache)
{
	struct ks_dns_config c;
	struct ks_dns_transport tp;
	struct ks_dns *r;

	ks_dns_config_init(&c);
	c.servers[0].family = KS_AF_INET;
	c.servers[0].addr[0] = 127;
	c.servers[0].addr[3] = 1;
	c.servers[0].port = port;
	c.nservers = 1;
	c.no_cache = !cache;
	ks_dns_hosted_transport(&tp);
	if (ks_dns_create(&r, ks_dns_hosted_port(), &tp, &c, NULL, 0) < 0)
		return NULL;
	return r;
}

/* -- glibc -- */

static int
glibc_op(void *arg)
{
	struct addrinfo h = { .ai_socktype = SOCK_STREAM }, *res;
	int err = getaddrinfo(NAME, NULL, &h, &res);

	(void)arg;
	if (!err)
		freeaddrinfo(res);
	return err;
}

/* Points this thread's resolver state at the local server: glibc's
 * resolv.conf has no port syntax, but _res is per thread and used as set. */
static void
glibc_use_server(uint16_t port)
{
	res_init();
	_res.nscount = 1;
	_res.nsaddr_list[0].sin_family = AF_INET;
	_res.nsaddr_list[0].sin_port = htons(port);
	_res.nsaddr_list[0].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	_res.retrans = 1;
	_res.retry = 1;
}

/* -- c-ares -- */

struct cares_call {
	bool	done;
	int	status;
};

static void
cares_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct cares_call *c = arg;

	(void)timeouts;
	c->done = true;
	c->status = status;
	if (res)
		ares_freeaddrinfo(res);
}

static int
cares_op(void *arg)
{
	ares_channel ch = arg;
	struct ares_addrinfo_hints h = { .ai_family = AF_UNSPEC,
					 .ai_socktype = SOCK_STREAM };
	struct cares_call call = { false, 0 };

	ares_getaddrinfo(ch, NAME, NULL, &h, cares_cb, &call);
	while (!call.done) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd p[ARES_GETSOCK_MAXNUM];
		int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM), n = 0;

		for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			if (!ARES_GETSOCK_READABLE(bits, i) &&
			    !ARES_GETSOCK_WRITABLE(bits, i))
				continue;
			p[n].fd = socks[i];
			p[n].events = (short)((ARES_GETSOCK_READABLE(bits, i) ? POLLIN : 0) |
				      (ARES_GETSOCK_WRITABLE(bits, i) ? POLLOUT : 0));
			p[n].revents = 0;
			n++;
		}
		if (n == 0)
			break;
		poll(p, (nfds_t)n, 1000);
		for (int i = 0; i < n; i++)
			ares_process_fd(ch,
				(p[i].revents & (POLLIN | POLLERR | POLLHUP)) ? p[i].fd : ARES_SOCKET_BAD,
				(p[i].revents & POLLOUT) ? p[i].fd : ARES_SOCKET_BAD);
		if (n && !call.done) {
			/* Timeouts are processed by a call with no sockets. */
			ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
		}
	}
	return call.status == ARES_SUCCESS ? 0 : -1;
}

static int
cares_channel(uint16_t port, ares_channel *out)
{
	struct ares_options o;
	char csv[64];

	memset(&o, 0, sizeof o);
	o.lookups = (char *)"b";	/* DNS only: no hosts file per call */
	o.timeout = 1000;
	o.tries = 1;
	if (ares_init_options(out, &o, ARES_OPT_LOOKUPS | ARES_OPT_TIMEOUTMS |
			      ARES_OPT_TRIES) != ARES_SUCCESS)
		return -1;
	snprintf(csv, sizeof csv, "127.0.0.1:%u", port);
	return ares_set_servers_ports_csv(*out, csv) == ARES_SUCCESS ? 0 : -1;
}

static void
print_result(const struct result *r)
{
	if (!r->ran) {
		printf("  %-34s %12s %12s\n", r->what, "-", "-");
		return;
	}
	printf("  %-34s %12.0f %12.1f   (%ld lookups, %ld errors)\n", r->what,
	       r->per_sec, r->median_us, r->n, r->errors);
}

static void
print_ratio(const char *what, const struct result *a, const struct result *b)
{
	if (!a->ran || !b->ran || !b->per_sec || !a->median_us)
		return;
	printf("  %-44s %6.2fx throughput, %6.2fx median latency\n", what,
	       a->per_sec / b->per_sec, b->median_us / a->median_us);
}

static struct test_server nsd;

/* Interrupted: stop nsd and remove its directory on the way out. */
static void
on_terminate(int sig)
{
	(void)sig;
	server_stop(&nsd);
	_exit(1);
}

int
main(int argc, char **argv)
{
	struct result ks_miss = { .what = "ksock miss (cache off)" },
		      glibc_miss = { .what = "glibc getaddrinfo (no cache)" },
		      cares_miss = { .what = "c-ares " ARES_VERSION_STR " getaddrinfo" },
		      ks_hit = { .what = "ksock cache hit" },
		      cares_hit = { .what = "c-ares cache hit" };
	ares_channel ch;
	cpu_set_t cpus;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DATADIR\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_terminate);
	signal(SIGINT, on_terminate);
	samples = malloc(MAX_SAMPLES * sizeof *samples);
	if (!samples || server_start_nsd(&nsd, argv[1]) < 0) {
		fprintf(stderr, "dns-bench: cannot start nsd\n");
		return 1;
	}
	sched_getaffinity(0, sizeof cpus, &cpus);
	printf("dns-bench: %s A+AAAA against nsd on 127.0.0.1:%u, %s, %.0f s each\n",
	       NAME, nsd.port, CPU_COUNT(&cpus) == 1 ? "pinned to one CPU" :
	       "NOT pinned (run under taskset -c 0)", RUN_NS / 1e9);

	struct ks_dns *r = ks_resolver(nsd.port, false);
	if (r) {
		measure(&ks_miss, ks_op, r);
		ks_dns_destroy(r);
	}
	glibc_use_server(nsd.port);
	measure(&glibc_miss, glibc_op, NULL);
	ares_library_init(ARES_LIB_INIT_ALL);
	if (cares_channel(nsd.port, &ch) == 0) {
		measure(&cares_miss, cares_op, ch);
		ares_destroy(ch);
	}
	r = ks_resolver(nsd.port, true);
	if (r) {
		measure(&ks_hit, ks_op, r);
		ks_dns_destroy(r);
	}
	/* c-ares got a query cache in 1.23; Debian 12 ships 1.18. */
	ares_library_cleanup();
	server_stop(&nsd);

	printf("\n  %-34s %12s %12s\n", "client", "lookups/s", "median µs");
	print_result(&ks_miss);
	print_result(&glibc_miss);
	print_result(&cares_miss);
	print_result(&ks_hit);
	print_result(&cares_hit);
	printf("\nratios (ksock over the other; >1 means ksock is faster):\n");
	print_ratio("miss: ksock / glibc", &ks_miss, &glibc_miss);
	print_ratio("miss: ksock / c-ares", &ks_miss, &cares_miss);
	print_ratio("hit:  ksock hit / c-ares (no cache: a miss)", &ks_hit, &cares_miss);
	print_ratio("hit:  ksock hit / glibc (no cache: a miss)", &ks_hit, &glibc_miss);
	print_ratio("hit:  ksock hit / c-ares hit", &ks_hit, &cares_hit);
	if (!cares_hit.ran)
		printf("  (c-ares %s has no query cache, so there is no c-ares hit to compare)\n",
		       ARES_VERSION_STR);
	free(samples);
	return 0;
}

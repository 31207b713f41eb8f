/*
 * run_bench: a plain C program for the benchmark's "ksock-run against
 * native" rows. It uses libc's socket calls only, so the same binary runs
 * on the Linux kernel as it is and on ksock under build/ksock-run.
 *
 *   run_bench epoll SOCKETS N     N times: one byte written into one of
 *                                 SOCKETS/2 socketpairs (both ends watched
 *                                 by one epoll, level-triggered), then
 *                                 epoll_wait, which must report exactly
 *                                 that socket, then the byte read back
 *   run_bench pingpong N          N one-byte round trips between two
 *                                 threads over a stream socketpair
 *
 * It prints "ok N SECONDS" (the time of the N iterations alone, set-up
 * left out) or "FAIL why", and exits 0 or 1. Every byte is checked: the
 * epoll loop writes a byte that names the iteration and must read it
 * back from the socket epoll reported; the ping-pong echo returns each
 * byte plus one.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int __attribute__((format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("FAIL ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	return 1;
}

static int
run_epoll(long sockets, long n)
{
	long npairs = sockets / 2, i;
	int (*sv)[2], ep, ret = 1;
	double t0, t1;

	sv = calloc((size_t)npairs, sizeof(*sv));
	if (sv == NULL || npairs < 1)
		return fail("%ld sockets: out of memory", sockets);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return fail("epoll_create1: errno %d", errno);
	for (i = 0; i < npairs; i++) {
		struct epoll_event ev = { .events = EPOLLIN };

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) < 0) {
			fail("socketpair %ld: errno %d", i, errno);
			npairs = i;
			goto close_all;
		}
		/* data: pair index * 2 + which end. */
		for (int e = 0; e < 2; e++) {
			ev.data.u64 = (uint64_t)i * 2 + (uint64_t)e;
			if (epoll_ctl(ep, EPOLL_CTL_ADD, sv[i][e], &ev) < 0) {
				fail("epoll_ctl %ld: errno %d", i, errno);
				npairs = i + 1;
				goto close_all;
			}
		}
	}
	t0 = now_s();
	for (i = 0; i < n; i++) {
		/* A pair far from the last one, each end in turn. */
		long p = (i * 7919) % npairs;
		int e = (int)(i & 1);
		unsigned char out = (unsigned char)(i * 31 + 7), in = 0;
		struct epoll_event got[4];
		int k;

		if (write(sv[p][1 - e], &out, 1) != 1) {
			fail("write %ld: errno %d", i, errno);
			goto close_all;
		}
		k = epoll_wait(ep, got, 4, 1000);
		if (k != 1 || got[0].data.u64 != (uint64_t)p * 2 + (uint64_t)e ||
		    !(got[0].events & EPOLLIN)) {
			fail("epoll_wait %ld: %d events, or the wrong one", i,
			     k);
			goto close_all;
		}
		if (read(sv[p][e], &in, 1) != 1 || in != out) {
			fail("read %ld: byte %d, not the one written", i, in);
			goto close_all;
		}
	}
	t1 = now_s();
	printf("ok %ld %.9f\n", n, t1 - t0);
	ret = 0;
close_all:
	for (i = 0; i < npairs; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
	close(ep);
	free(sv);
	return ret;
}

struct echo {
	int	fd;
	long	n;
	int	err;
};

static void *
echo_main(void *arg)
{
	struct echo *e = arg;
	unsigned char c;

	for (long i = 0; i < e->n; i++) {
		if (read(e->fd, &c, 1) != 1) {
			e->err = 1;
			break;
		}
		c++;
		if (write(e->fd, &c, 1) != 1) {
			e->err = 2;
			break;
		}
	}
	return NULL;
}

static int
run_pingpong(long n)
{
	struct echo e;
	pthread_t t;
	int sv[2], ret = 1;
	double t0, t1;
	long i;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return fail("socketpair: errno %d", errno);
	e = (struct echo){ sv[1], n, 0 };
	if (pthread_create(&t, NULL, echo_main, &e) != 0) {
		fail("pthread_create");
		goto close_pair;
	}
	t0 = now_s();
	for (i = 0; i < n; i++) {
		unsigned char out = (unsigned char)i, in;

		if (write(sv[0], &out, 1) != 1 || read(sv[0], &in, 1) != 1 ||
		    in != (unsigned char)(out + 1))
			break;
	}
	t1 = now_s();
	if (i < n)
		shutdown(sv[0], SHUT_RDWR);
	pthread_join(t, NULL);
	if (i < n || e.err != 0) {
		fail("round trip %ld (echo error %d)", i, e.err);
		goto close_pair;
	}
	printf("ok %ld %.9f\n", n, t1 - t0);
	ret = 0;
close_pair:
	close(sv[0]);
	close(sv[1]);
	return ret;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && strcmp(argv[1], "epoll") == 0)
		return run_epoll(atol(argv[2]), atol(argv[3]));
	if (argc == 3 && strcmp(argv[1], "pingpong") == 0)
		return run_pingpong(atol(argv[2]));
	fprintf(stderr, "usage: run_bench epoll SOCKETS N | pingpong N\n");
	return 2;
}

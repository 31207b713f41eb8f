/*
 * What the two IP fuzzers share (inet_fuzz.c: packets on the loopback;
 * inet_link_fuzz.c: frames on the link): a TCP listener and a UDP socket
 * per family waiting for the input, bound to given addresses, and
 * draining them after each input so that ksock can be checked to be
 * back where it started. Static functions: each fuzzer is one program.
 */
#ifndef KSOCK_FUZZ_INET_FUZZ_H
#define KSOCK_FUZZ_INET_FUZZ_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ksock/posix.h>

#define FZ_PORT_TCP	7
#define FZ_PORT_UDP	9

/* Index 0 is AF_INET, 1 AF_INET6. */
static int fz_listeners[2], fz_udps[2];

static void
fz_die(const char *what)
{
	fprintf(stderr, "%s: %s\n", program_invocation_short_name, what);
	abort();
}

/* A non-blocking socket of @family and @type bound to @addr (4 or 16
 * bytes) and @port. */
static int
fz_bound(int family, int type, const void *addr, uint16_t port)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
				   .sin6_port = htons(port) };
	int fd = ksp_socket(family, type | SOCK_NONBLOCK, 0);

	if (family == AF_INET)
		memcpy(&a4.sin_addr, addr, 4);
	else
		memcpy(&a6.sin6_addr, addr, 16);
	if (fd < 0)
		fz_die("socket");
	if (family == AF_INET ? ksp_bind(fd, (struct sockaddr *)&a4, sizeof(a4))
			      : ksp_bind(fd, (struct sockaddr *)&a6, sizeof(a6)))
		fz_die("bind");
	return fd;
}

/* The listeners and UDP sockets, on @addr4 and @addr6. */
static void
fz_open_sockets(const void *addr4, const void *addr6)
{
	static const int families[2] = { AF_INET, AF_INET6 };

	for (int f = 0; f < 2; f++) {
		const void *addr = f == 0 ? addr4 : addr6;

		fz_listeners[f] = fz_bound(families[f], SOCK_STREAM, addr,
					   FZ_PORT_TCP);
		if (ksp_listen(fz_listeners[f], 16) < 0)
			fz_die("listen");
		fz_udps[f] = fz_bound(families[f], SOCK_DGRAM, addr,
				      FZ_PORT_UDP);
	}
}

/* Accepts and closes what the listeners queued, reads what the UDP
 * sockets and @extra (NULL, or @n more connected sockets) hold. */
static void
fz_drain(const int *extra, int n)
{
	static char buf[65536];
	int fd;

	for (int f = 0; f < 2; f++) {
		while ((fd = ksp_accept4(fz_listeners[f], NULL, NULL,
					 SOCK_NONBLOCK)) >= 0) {
			while (ksp_recv(fd, buf, sizeof(buf), 0) > 0)
				;
			ksp_close(fd);
		}
		while (ksp_recv(fz_udps[f], buf, sizeof(buf), MSG_DONTWAIT) >= 0)
			;
	}
	for (int i = 0; i < n; i++)
		while (ksp_recv(extra[i], buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
}

#endif /* KSOCK_FUZZ_INET_FUZZ_H */

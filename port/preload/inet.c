/*
 * Preload port: which AF_INET and AF_INET6 sockets ksock serves.
 *
 * KSOCK_RUN_INET, which `ksock-run --inet=MODE` sets, is read once when
 * the library starts:
 *   off       every AF_INET/AF_INET6 socket is the kernel's (the default,
 *             and what an unset or empty variable means);
 *   loopback  TCP and UDP sockets are ksock's (src/inet over lwIP), and
 *             reach ksock's own 127.0.0.1 and ::1 only;
 *   tap       as loopback, and ksock's TCP/IP also has an Ethernet
 *             interface on the TAP link KSOCK_RUN_TAP names (TAPAPI.md).
 * A served socket is a ksock socket like an AF_UNIX one: same descriptor
 * map, same boundary, same poll/select/epoll. Sockets ksock's TCP/IP does
 * not have (SOCK_RAW, ICMP and SCTP sockets, a protocol that does not
 * fit the type, every other family but AF_UNIX) stay the kernel's, as do
 * libc's own sockets (its resolver calls no interposed name).
 *
 * The mode is written once, by the library's start (or the fork child
 * handler, with one thread) before any socket call can read it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "preload.h"

enum kp_inet_mode {
	KP_INET_OFF,
	KP_INET_LOOPBACK,
	KP_INET_TAP,
};

static const char *const mode_names[] = {
	[KP_INET_OFF] = "off",
	[KP_INET_LOOPBACK] = "loopback",
	[KP_INET_TAP] = "tap",
};

static enum kp_inet_mode mode;

/* See preload.h. */
int
kp__inet_init(void)
{
	const char *env = getenv("KSOCK_RUN_INET");
	size_t i;

	if (env == NULL || env[0] == '\0') {
		mode = KP_INET_OFF;
		return 0;
	}
	for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (strcmp(env, mode_names[i]) == 0) {
			mode = (enum kp_inet_mode)i;
			return 0;
		}
	}
	fprintf(stderr, "ksock-run: KSOCK_RUN_INET=%s: not off, loopback "
		"or tap\n", env);
	return -EINVAL;
}

/* See preload.h. */
bool
kp__inet_on(void)
{
	return mode != KP_INET_OFF;
}

/* Whether ksock's TCP/IP has a socket of @type (flags removed) and
 * @protocol: TCP or UDP, with the protocol 0 or the type's own. */
static bool
is_tcp_or_udp(int type, int protocol)
{
	switch (type) {
	case SOCK_STREAM:
		return protocol == 0 || protocol == IPPROTO_TCP;
	case SOCK_DGRAM:
		return protocol == 0 || protocol == IPPROTO_UDP;
	default:
		return false;
	}
}

/* See preload.h. */
bool
kp__inet_serves(int domain, int type, int protocol)
{
	if (mode == KP_INET_OFF)
		return false;
	if (domain != AF_INET && domain != AF_INET6)
		return false;
	return is_tcp_or_udp(type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), protocol);
}

/* See preload.h. */
bool
kp__is_inet_sock(struct ks_sock *so)
{
	int family = ks_sock_family(so);

	return family == AF_INET || family == AF_INET6;
}

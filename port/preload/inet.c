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
 *             interface on the TAP link KSOCK_RUN_TAP names (docs/inet.md).
 * A served socket is a ksock socket like an AF_UNIX one: same descriptor
 * map, same boundary, same poll/select/epoll. Sockets ksock's TCP/IP does
 * not have (SOCK_RAW, ICMP and SCTP sockets, a protocol that does not
 * fit the type, every other family but AF_UNIX) stay the kernel's, as do
 * libc's own sockets (its resolver calls no interposed name).
 *
 * tap: the link is attached (port/hosted/tap.c, the same code as the
 * hosted personality's ksp_inet_tap_attach) when the process creates its
 * first served socket, not at start: a program that never makes one
 * (a shell that runs the real client) leaves the TAP device free for
 * the one that does, as only one process can hold it. The attach runs
 * once; its result stands for every later socket() (an error is said on
 * stderr once, and each served socket() fails with it). It stays
 * attached until the process ends, which first waits (bounded) until
 * its connections across the link have no unacknowledged data. A child
 * forked after the attach
 * cannot use it (kp__inet_fork_child).
 *
 * The mode is written once, by the library's start, before any socket
 * call can read it; the link's result once, under link_once.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "preload.h"
#include <ksock/posix.h>

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

/* The test network's link (docs/inet.md), ksock's side: the device and its two addresses. */
#define KP_TAP_DEFAULT	"kstap0 10.77.0.2/24 fd77::2/64"
/* Room for KSOCK_RUN_TAP: a device name and two addresses with their
 * prefixes fit many times over. */
#define KP_TAP_SPEC_MAX	256

static pthread_once_t link_once = PTHREAD_ONCE_INIT;
static int link_err;			/* [link_once] the attach's result */
static bool link_held;			/* [link_once] this process attached */
/* Set while this thread attaches: the sockets the attach makes for
 * itself (an ioctl on the device) must be the kernel's. */
static _Thread_local bool attaching;

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

/*
 * The hosted personality's start, which tap.c calls before attaching: in
 * this library ksock is started by the constructor with the library's
 * own port (shim.c), so there is nothing to do but make sure of that.
 * Hidden: the library exports libc's names only.
 */
__attribute__((visibility("hidden"))) int
ksp_init(void)
{
	kp__ensure_init();
	return 0;
}

/*
 * Splits KSOCK_RUN_TAP ("IFNAME [V4CIDR [V6CIDR]]", blanks between; "-"
 * for no address of that family) in @buf into @f[3], NULL where absent.
 * Returns 0, or -EINVAL (too long, no name, more than three words).
 */
static int
tap_spec(const char *spec, char *buf, char *f[3])
{
	char *save = NULL, *w;
	int n = 0;

	if (strlen(spec) >= KP_TAP_SPEC_MAX)
		return -EINVAL;
	strcpy(buf, spec);
	f[0] = f[1] = f[2] = NULL;
	for (w = strtok_r(buf, " \t", &save); w != NULL;
	     w = strtok_r(NULL, " \t", &save)) {
		if (n == 3)
			return -EINVAL;
		f[n++] = strcmp(w, "-") == 0 ? NULL : w;
	}
	return f[0] != NULL ? 0 : -EINVAL;
}

/* How long a process that ends waits for its connections across the
 * link to be acknowledged (ksp_inet_tap_drain). Linux's kernel would go
 * on for minutes; a program's exit must not, yet a peer that is there
 * acknowledges within a few round trips, or a retransmission or two. */
#define KP_DRAIN_MS	10000

/* At exit: what the stack still has to send across the link goes out
 * before the process, and ksock's TCP/IP with it, ends. */
static void
drain_at_exit(void)
{
	(void)ksp_inet_tap_drain(KP_DRAIN_MS);
}

static void
link_attach_once(void)
{
	const char *spec = getenv("KSOCK_RUN_TAP");
	char buf[KP_TAP_SPEC_MAX], *f[3];

	if (spec == NULL || spec[0] == '\0')
		spec = KP_TAP_DEFAULT;
	link_err = tap_spec(spec, buf, f);
	if (link_err == 0) {
		attaching = true;
		if (ksp_inet_tap_attach(f[0], f[1], f[2]) < 0)
			link_err = -errno;
		attaching = false;
		link_held = link_err == 0;
		if (link_held)
			atexit(drain_at_exit);
	}
	if (link_err < 0)
		fprintf(stderr, "ksock-run: --inet=tap: cannot attach to the "
			"TAP link \"%s\": %s\n", spec, strerror(-link_err));
}

/* See preload.h. */
int
kp__inet_link(void)
{
	if (mode != KP_INET_TAP)
		return 0;
	pthread_once(&link_once, link_attach_once);
	return link_err;
}

/*
 * See preload.h. The link's reader thread and its place in lwIP stay
 * with the parent, while the child's ksock starts afresh: the child's
 * Internet sockets could neither reach the link nor be told so by lwIP
 * (its connects would time out), so they are refused, visibly.
 */
void
kp__inet_fork_child(void)
{
	if (link_held)
		link_err = -ENETDOWN;
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
	if (mode == KP_INET_OFF || attaching)
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

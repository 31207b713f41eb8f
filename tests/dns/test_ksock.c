/*
 * The resolver over ksock's own TCP/IP (ks_dns_ksock_transport): every
 * query leaves through a ksock UDP or TCP socket, and a real DNS server
 * (nsd, with the zones of tests/dns/data) answers.
 *
 * Two paths from ksock to nsd, each with the same tests:
 *
 *  - "tap": ksock's TCP/IP on the TAP link (the test network of docs/inet.md): the test enters a
 *    network namespace of its own, creates kstap0 with Linux's side at
 *    10.77.0.1 and fd77::1, attaches ksock at 10.77.0.2 and fd77::2, and
 *    nsd listens on Linux's side of the link (tests/inet/netns.c). Needs
 *    root and /dev/net/tun; else skipped, saying why.
 *  - "loopback": ksock's own loopback. nsd cannot listen there (it is
 *    inside ksock), so a bridge thread of this test listens with ksock
 *    sockets on 127.0.0.1:53 and [::1]:53 (UDP and TCP) and relays each
 *    query, unchanged, to nsd on Linux's loopback over Linux sockets, and
 *    the answer back: the resolver's side of every exchange is ksock's
 *    UDP and TCP.
 *
 * Each test looks up names whose answers the zone file fixes, checks the
 * resolver's counters (UDP, TCP, timeouts) and the path's (queries the
 * bridge relayed), and ends with nothing allocated: the resolver's port
 * (harness) and ksock's (ksp_alloc_outstanding) both back where they
 * started. "server stopped" stops nsd for real and starts it again.
 *
 * Usage: test-ksock DATADIR [TEST-NAME-SUBSTRING...]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ksock/ksock.h>
#include <ksock/posix.h>

#include "harness.h"
#include "netns.h"
#include "servers.h"

/* Per try, per server; two rounds. Loopback answers in microseconds, but
 * the machine is shared: a generous try keeps a slow answer from
 * becoming a timeout, and only the "server stopped" tests wait it out. */
#define TEST_TIMEOUT_MS		1000
#define TEST_ATTEMPTS		2
/* How long the bridge waits for nsd before dropping a query. */
#define RELAY_WAIT_MS		3000
/* A freed socket's allocations may lag the lookup's end by a context
 * switch on the bridge thread: wait this long at most for them. */
#define SETTLE_MS		5000
/* How long Linux may take to call kstap0 up once ksock has attached. */
#define LINK_UP_MS		5000
/* The port the bridge serves on ksock's loopback. */
#define BRIDGE_PORT		53

static const char *datadir;
static struct test_server nsd;
static bool have_nsd;
static char nsd_data[64];		/* TAP: a datadir whose nsd.conf.in
					   listens on the link too */

/* -- where the server is -- */

struct path {
	const char	*name;
	bool		 up;
	char		 why[120];	/* when not up */
	int		 v4_family;
	uint8_t		 v4[16], v6[16];	/* the server as ksock sees it */
	bool		 via_bridge;	/* port: BRIDGE_PORT, else nsd's */
};

static struct path lo = {
	.name = "loopback", .via_bridge = true,
	.v4 = { 127, 0, 0, 1 },
	.v6 = { [15] = 1 },
};
static struct path tap = { .name = "tap" };	/* TN_LINUX_V4, _V6 */

static uint16_t
server_port(const struct path *p)
{
	return p->via_bridge ? BRIDGE_PORT : nsd.port;
}

/* -- the bridge: ksock's loopback <-> nsd on Linux's -- */

static struct {
	pthread_t	 thread;
	bool		 running;
	atomic_bool	 stop;
	int		 udp[2], tcp[2];	/* ksp descriptors: v4, v6 */
	atomic_int	 udp_relayed[2], tcp_relayed[2];
	atomic_int	 upstream;		/* nsd's port */
} br = { .udp = { -1, -1 }, .tcp = { -1, -1 } };

/* A Linux socket connected to nsd (UDP or TCP), or -1. */
static int
nsd_socket(int type)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)atomic_load(&br.upstream)),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	struct timeval tv = { .tv_sec = RELAY_WAIT_MS / 1000 };
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One datagram from ksock's side to nsd and nsd's answer back, if any. */
static void
relay_udp(int i)
{
	static uint8_t buf[65536];	/* the bridge thread's alone */
	struct sockaddr_storage from;
	socklen_t flen = sizeof from;
	ssize_t k;
	int fd;

	k = ksp_recvfrom(br.udp[i], buf, sizeof buf, MSG_DONTWAIT,
			 (struct sockaddr *)&from, &flen);
	if (k <= 0)
		return;
	fd = nsd_socket(SOCK_DGRAM);
	if (fd < 0)
		return;
	if (send(fd, buf, (size_t)k, 0) == k) {
		k = recv(fd, buf, sizeof buf, 0);
		/* nsd stopped: no answer, as from a dead server. Counted
		 * before it goes back: the lookup may end at once. */
		if (k > 0) {
			atomic_fetch_add(&br.udp_relayed[i], 1);
			ksp_sendto(br.udp[i], buf, (size_t)k, 0,
				   (struct sockaddr *)&from, flen);
		}
	}
	close(fd);
}

/* Reads exactly @len bytes from a ksock (@ks) or Linux stream; false at
 * end of stream, an error or a timeout. */
static bool
read_full(int fd, bool ks, uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t k = ks ? ksp_recv(fd, buf, len, 0) :
				 recv(fd, buf, len, 0);

		if (k <= 0)
			return false;
		buf += k;
		len -= (size_t)k;
	}
	return true;
}

static bool
write_full(int fd, bool ks, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t k = ks ? ksp_send(fd, buf, len, MSG_NOSIGNAL) :
				 send(fd, buf, len, MSG_NOSIGNAL);

		if (k <= 0)
			return false;
		buf += k;
		len -= (size_t)k;
	}
	return true;
}

/* Moves one length-prefixed DNS message from @in to @out, counting it
 * in *@count (when not NULL) before it goes out; false when there is
 * none or it cannot be moved. */
static bool
move_message(int in, bool in_ks, int out, bool out_ks, atomic_int *count)
{
	static uint8_t buf[2 + 65535];	/* the bridge thread's alone */
	size_t len;

	if (!read_full(in, in_ks, buf, 2))
		return false;
	len = (size_t)buf[0] << 8 | buf[1];
	if (!read_full(in, in_ks, buf + 2, len))
		return false;
	if (count != NULL)
		atomic_fetch_add(count, 1);
	return write_full(out, out_ks, buf, 2 + len);
}

/* One TCP connection from ksock's side: its queries to nsd over a TCP
 * connection of Linux's, the answers back, until the client closes. */
static void
relay_tcp(int i)
{
	struct timeval tv = { .tv_sec = RELAY_WAIT_MS / 1000 };
	int c, up;

	c = ksp_accept4(br.tcp[i], NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	ksp_setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	up = nsd_socket(SOCK_STREAM);
	if (up >= 0) {
		while (move_message(c, true, up, false, NULL) &&
		       move_message(up, false, c, true, &br.tcp_relayed[i]))
			;
		close(up);
	}
	ksp_close(c);
}

static void *
bridge_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&br.stop)) {
		struct pollfd p[4] = {
			{ .fd = br.udp[0], .events = POLLIN },
			{ .fd = br.udp[1], .events = POLLIN },
			{ .fd = br.tcp[0], .events = POLLIN },
			{ .fd = br.tcp[1], .events = POLLIN },
		};

		/* The timeout only bounds how late the stop flag is seen. */
		if (ksp_poll(p, 4, 100) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			if (p[i].revents & POLLIN)
				relay_udp(i);
			if (p[2 + i].revents & POLLIN)
				relay_tcp(i);
		}
	}
	return NULL;
}

/* A ksock socket of @type bound to the loopback's @family address. */
static int
bridge_socket(int family, int type)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET, .sin_port = htons(BRIDGE_PORT),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	struct sockaddr_in6 sin6 = {
		.sin6_family = AF_INET6, .sin6_port = htons(BRIDGE_PORT),
		.sin6_addr = IN6ADDR_LOOPBACK_INIT,
	};
	int fd = ksp_socket(family, type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if ((family == AF_INET ?
	     ksp_bind(fd, (struct sockaddr *)&sin, sizeof sin) :
	     ksp_bind(fd, (struct sockaddr *)&sin6, sizeof sin6)) < 0 ||
	    (type == SOCK_STREAM && ksp_listen(fd, 16) < 0)) {
		ksp_close(fd);
		return -1;
	}
	return fd;
}

static void
bridge_stop(void)
{
	if (br.running) {
		atomic_store(&br.stop, true);
		pthread_join(br.thread, NULL);
		br.running = false;
	}
	for (int i = 0; i < 2; i++) {
		if (br.udp[i] >= 0)
			ksp_close(br.udp[i]);
		if (br.tcp[i] >= 0)
			ksp_close(br.tcp[i]);
		br.udp[i] = br.tcp[i] = -1;
	}
}

static int
bridge_start(uint16_t upstream)
{
	static const int fam[2] = { AF_INET, AF_INET6 };

	atomic_store(&br.upstream, upstream);
	atomic_store(&br.stop, false);
	for (int i = 0; i < 2; i++) {
		br.udp[i] = bridge_socket(fam[i], SOCK_DGRAM);
		br.tcp[i] = bridge_socket(fam[i], SOCK_STREAM);
		if (br.udp[i] < 0 || br.tcp[i] < 0) {
			snprintf(lo.why, sizeof lo.why, "bridge socket: %s",
				 strerror(errno));
			bridge_stop();
			return -1;
		}
	}
	if (pthread_create(&br.thread, NULL, bridge_main, NULL) != 0) {
		snprintf(lo.why, sizeof lo.why, "bridge thread");
		bridge_stop();
		return -1;
	}
	br.running = true;
	return 0;
}

/* -- the TAP link -- */

/*
 * A copy of DATADIR whose nsd.conf.in also listens on Linux's side of
 * the link (the zones are links to the originals). The path, or NULL.
 */
static const char *
tap_datadir(void)
{
	static const char *const zones[] = {
		"ks.test.zone", "2.0.192.in-addr.arpa.zone", "ip6.zone",
	};
	char path[600], src[600], line[256];
	FILE *in, *out;

	snprintf(nsd_data, sizeof nsd_data, "/tmp/ksock-dns-tap-XXXXXX");
	if (mkdtemp(nsd_data) == NULL) {
		nsd_data[0] = '\0';
		return NULL;
	}
	for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", nsd_data, zones[i]);
		if (realpath(datadir, src) == NULL)
			return NULL;
		strncat(src, "/", sizeof src - strlen(src) - 1);
		strncat(src, zones[i], sizeof src - strlen(src) - 1);
		if (symlink(src, path) != 0)
			return NULL;
	}
	snprintf(src, sizeof src, "%s/nsd.conf.in", datadir);
	snprintf(path, sizeof path, "%s/nsd.conf.in", nsd_data);
	in = fopen(src, "r");
	out = fopen(path, "w");
	while (in && out && fgets(line, sizeof line, in)) {
		if (strstr(line, "do-ip6:"))
			fputs("\tdo-ip6: yes\n", out);
		else
			fputs(line, out);
		if (strstr(line, "ip-address:"))
			fputs("\tip-address: " TN_LINUX_V4 "@@PORT@\n"
			      "\tip-address: " TN_LINUX_V6 "@@PORT@\n", out);
	}
	if (in)
		fclose(in);
	if (out == NULL || fclose(out) != 0 || in == NULL)
		return NULL;
	return nsd_data;
}

static void
tap_datadir_remove(void)
{
	static const char *const files[] = {
		"ks.test.zone", "2.0.192.in-addr.arpa.zone", "ip6.zone",
		"nsd.conf.in",
	};
	char path[600];

	if (nsd_data[0] == '\0')
		return;
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", nsd_data, files[i]);
		unlink(path);
	}
	rmdir(nsd_data);
	nsd_data[0] = '\0';
}

/*
 * Enters a network namespace of the test's own with kstap0 (tn_enter,
 * docs/inet.md) before nsd starts, so nsd lives in it too, and prepares
 * nsd's configuration for the link. Fills tap.why when it cannot.
 */
static int
tap_enter(void)
{
	if (tn_enter() != 0) {
		snprintf(tap.why, sizeof tap.why, "%s", tn_reason());
		return -1;
	}
	if (tap_datadir() == NULL) {
		snprintf(tap.why, sizeof tap.why, "cannot copy %s", datadir);
		tap_datadir_remove();
		return -1;
	}
	return 0;
}

static int
tap_attach(void)
{
	if (ksp_inet_tap_attach(TN_IFNAME, TN_KSOCK_V4, TN_KSOCK_V6) != 0) {
		snprintf(tap.why, sizeof tap.why, "ksp_inet_tap_attach: %s",
			 strerror(errno));
		return -1;
	}
	/* Linux drops what it sends before then: a lost first answer. */
	if (tn_wait_up(LINK_UP_MS) != 0) {
		snprintf(tap.why, sizeof tap.why, "%s", tn_reason());
		ksp_inet_tap_detach();
		return -1;
	}
	return 0;
}

/* -- resolvers -- */

/* A resolver over ksock's transport asking the server of @p (IPv4 or
 * IPv6 address), with no cache so every lookup asks. */
static struct ks_dns *
resolver(const struct path *p, bool v6)
{
	struct ks_dns_transport tp;
	struct ks_dns_config c;
	struct ks_dns *r = NULL;

	ks_dns_config_init(&c);
	c.servers[0].family = v6 ? KS_AF_INET6 : KS_AF_INET;
	memcpy(c.servers[0].addr, v6 ? p->v6 : p->v4, 16);
	c.servers[0].port = server_port(p);
	c.nservers = 1;
	c.timeout_ms = TEST_TIMEOUT_MS;
	c.attempts = TEST_ATTEMPTS;
	c.no_cache = true;
	ks_dns_ksock_transport(&tp);
	CHECK_EQ(ks_dns_create(&r, test_port(), &tp, &c, NULL, 0), 0);
	return r;
}

/* -- each test's frame: the path is up, and nothing is left behind -- */

static long ksock_allocs0;

static bool
begin(const struct path *p)
{
	if (!have_nsd) {
		test_skip("nsd did not start");
		return false;
	}
	if (!p->up) {
		test_skip(p->why);
		return false;
	}
	ksock_allocs0 = ksp_alloc_outstanding();
	for (int i = 0; i < 2; i++) {
		atomic_store(&br.udp_relayed[i], 0);
		atomic_store(&br.tcp_relayed[i], 0);
	}
	return true;
}

static void
end(struct ks_dns *r)
{
	int64_t until = now_ms() + SETTLE_MS;

	ks_dns_destroy(r);
	CHECK_EQ(test_port_outstanding(), 0);
	while (ksp_alloc_outstanding() != ksock_allocs0 && now_ms() < until)
		usleep(10000);
	CHECK_EQ(ksp_alloc_outstanding(), ksock_allocs0);
}

/* -- the tests, each run on both paths -- */

/* A of a name over ksock's UDP to an IPv4 server: one datagram each. */
static void
a_over_udp(const struct path *p)
{
	struct ks_in_addr a;
	struct ks_dns *r;
	char text[256];

	if (!begin(p))
		return;
	r = resolver(p, false);
	CHECK_EQ(ks_dns_resolve4(r, "www.ks.test", &a), 0);
	CHECK_EQ(memcmp(&a, (uint8_t[]){ 192, 0, 2, 1 }, 4), 0);
	CHECK_EQ(lookup_text(r, "multi.ks.test", KS_AF_INET, text,
			     sizeof text, NULL), 0);
	CHECK_STR(text, "192.0.2.10 192.0.2.11 192.0.2.12 192.0.2.13");
	CHECK_EQ(stats(r).tcp_queries, 0);
	CHECK_EQ(stats(r).timeouts, 0);
	CHECK(stats(r).udp_queries >= 2);
	if (p->via_bridge)
		CHECK_EQ(atomic_load(&br.udp_relayed[0]), stats(r).udp_queries);
	end(r);
}

/* AAAA (and A with it) over ksock's UDP/IPv6 to the server's IPv6
 * address; NXDOMAIN and NODATA come back as such. */
static void
aaaa_over_udp6(const struct path *p)
{
	struct ks_dns_addr a[4];
	struct ks_dns *r;
	char text[256];
	size_t n;

	if (!begin(p))
		return;
	r = resolver(p, true);
	CHECK_EQ(lookup_text(r, "www.ks.test", KS_AF_INET6, text,
			     sizeof text, NULL), 0);
	CHECK_STR(text, "2001:db8::1");
	CHECK_EQ(lookup_text(r, "multi.ks.test", KS_AF_UNSPEC, text,
			     sizeof text, NULL), 0);
	CHECK_STR(text, "192.0.2.10 192.0.2.11 192.0.2.12 192.0.2.13 "
		  "2001:db8::10 2001:db8::11");
	CHECK_EQ(ks_dns_resolve(r, "nosuch.ks.test", KS_AF_INET6, a, 4, &n),
		 KS_EAI_NONAME);
	CHECK_EQ(ks_dns_resolve(r, "v4only.ks.test", KS_AF_INET6, a, 4, &n),
		 KS_EAI_NODATA);
	CHECK_EQ(stats(r).tcp_queries, 0);
	CHECK_EQ(stats(r).timeouts, 0);
	if (p->via_bridge) {
		CHECK_EQ(atomic_load(&br.udp_relayed[1]), stats(r).udp_queries);
		CHECK_EQ(atomic_load(&br.udp_relayed[0]), 0);
	}
	end(r);
}

/* getaddrinfo over ksock, with ksock's routes deciding the order. */
static void
getaddrinfo_both(const struct path *p)
{
	struct ks_addrinfo hints = { .ai_socktype = KS_SOCK_STREAM }, *res, *ai;
	int n4 = 0, n6 = 0;
	struct ks_dns *r;

	if (!begin(p))
		return;
	r = resolver(p, false);
	CHECK_EQ(ks_dns_getaddrinfo(r, "www.ks.test", "80", &hints, &res), 0);
	if (res != NULL) {
		for (ai = res; ai; ai = ai->ai_next) {
			const struct ks_sockaddr_in *sin = (const void *)ai->ai_addr;

			n4 += ai->ai_family == KS_AF_INET;
			n6 += ai->ai_family == KS_AF_INET6;
			CHECK_EQ(ntohs(sin->sin_port), 80);
		}
		ks_dns_freeaddrinfo(res);
	}
	CHECK_EQ(n4, 1);
	CHECK_EQ(n6, 1);
	end(r);
}

/* A 100-record answer does not fit a datagram: nsd truncates it, and the
 * resolver asks again over ksock's TCP and gets all of it. */
static void
truncated_to_tcp(const struct path *p, bool v6)
{
	struct ks_dns_addr a[128];
	struct ks_dns *r;
	size_t n = 0;
	bool seen[101] = { false };

	if (!begin(p))
		return;
	r = resolver(p, v6);
	CHECK_EQ(ks_dns_resolve(r, "big.ks.test", KS_AF_INET, a, 128, &n), 0);
	CHECK_EQ(n, 100);
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ(memcmp(a[i].addr, (uint8_t[]){ 198, 51, 100 }, 3), 0);
		CHECK(a[i].addr[3] >= 1 && a[i].addr[3] <= 100);
		CHECK(!seen[a[i].addr[3] % 101]);
		seen[a[i].addr[3] % 101] = true;
	}
	CHECK_EQ(stats(r).tcp_queries, 1);
	CHECK_EQ(stats(r).timeouts, 0);
	if (p->via_bridge)
		CHECK_EQ(atomic_load(&br.tcp_relayed[v6]), 1);
	end(r);
}

static void
truncated_to_tcp4(const struct path *p)
{
	truncated_to_tcp(p, false);
}

static void
truncated_to_tcp6(const struct path *p)
{
	truncated_to_tcp(p, true);
}

/*
 * nsd stopped: the lookup fails with EAI_AGAIN. Through the bridge
 * nothing answers, every try times out, after about attempts x timeout
 * (and not much sooner). Across the link Linux answers each query with
 * an ICMP port unreachable, which ksock's connected UDP socket reports
 * as ECONNREFUSED, as Linux's would: the server is given up without a
 * timeout. nsd starts again afterwards, on a new port.
 */
static void
server_stopped(const struct path *p)
{
	struct ks_in_addr a;
	struct ks_dns *r;
	int64_t t0, ms;

	if (!begin(p))
		return;
	server_stop(&nsd);
	r = resolver(p, false);
	t0 = now_ms();
	CHECK_EQ(ks_dns_resolve4(r, "www.ks.test", &a), KS_EAI_AGAIN);
	ms = now_ms() - t0;
	if (p->via_bridge) {
		CHECK(ms >= TEST_TIMEOUT_MS * TEST_ATTEMPTS - 100);
		CHECK_EQ(stats(r).timeouts, TEST_ATTEMPTS);
		CHECK_EQ(stats(r).udp_queries, TEST_ATTEMPTS);
	} else {
		CHECK_EQ(stats(r).timeouts, 0);
		CHECK(stats(r).udp_queries >= 1);
	}
	end(r);
	have_nsd = server_start_nsd(&nsd, nsd_data[0] ? nsd_data : datadir) == 0;
	CHECK(have_nsd);
	atomic_store(&br.upstream, nsd.port);
}

/*
 * Every allocation of ksock's that a lookup makes fails in turn (its
 * endpoints, their sockets; with the bridge, an accepted connection may
 * take the failure instead), for a lookup over UDP and one that goes on
 * to TCP: each fails cleanly or gets through on a later try, and
 * nothing stays allocated.
 */
static void
alloc_failures(const struct path *p)
{
	static const struct {
		const char	*name;
		uint8_t		 addr[4];
	} names[] = {
		{ "www.ks.test", { 192, 0, 2, 1 } },
		{ "big.ks.test", { 198, 51, 100 } },
	};
	struct ks_in_addr a;
	struct ks_dns *r;
	long n, clean;
	int err;

	if (!begin(p))
		return;
	r = resolver(p, false);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		/* A lookup without failures: how many allocations it makes
		 * (ksp_alloc_count counts those that succeed). Up to the
		 * injected failure, each run makes the same ones. */
		clean = ksp_alloc_count();
		CHECK_EQ(ks_dns_resolve4(r, names[i].name, &a), 0);
		clean = ksp_alloc_count() - clean;
		for (n = 1; n <= clean; n++) {
			ksp_alloc_fail_at(n);
			err = ks_dns_resolve4(r, names[i].name, &a);
			ksp_alloc_fail_at(0);
			CHECK(err == 0 || err == KS_EAI_AGAIN ||
			      err == KS_EAI_MEMORY);
			if (err == 0)
				CHECK_EQ(memcmp(&a, names[i].addr, 3), 0);
		}
		printf("    %s: %ld allocations, each failed in turn\n",
		       names[i].name, clean);
		CHECK(clean >= 2);
	}
	end(r);
}

/*
 * A kernel's port parks threads on words (KS_PORT_PARK_WORD), never by
 * handle: the transport must wait that way too. ksock restarts on such
 * a copy of the hosted port (everything closed first: the bridge, and
 * the TAP link, which this test leaves detached), a UDP and a TCP lookup
 * go through, and park()/unpark() are never called. ksock then returns
 * to the hosted port with the bridge listening again.
 */
static const struct ks_port *word_base;
static struct ks_port word_port;
static atomic_int word_parks, token_calls;

static int
count_park_word(const void *word, int val, int64_t deadline)
{
	atomic_fetch_add(&word_parks, 1);
	return word_base->park_word(word, val, deadline);
}

static int
count_park(int64_t deadline)
{
	atomic_fetch_add(&token_calls, 1);
	return word_base->park(deadline);
}

static void
count_unpark(void *thread)
{
	atomic_fetch_add(&token_calls, 1);
	word_base->unpark(thread);
}

/* Stops everything on ksock, restarts it on @port, restarts the bridge. */
static bool
restart_on(const struct ks_port *port)
{
	bridge_stop();
	lo.up = false;
	if (tap.up) {
		CHECK_EQ(ksp_inet_tap_detach(), 0);
		tap.up = false;
		snprintf(tap.why, sizeof tap.why, "detached by the word test");
	}
	CHECK_EQ(ks_fini(), 0);
	CHECK_EQ(ks_init(port), 0);
	lo.up = bridge_start(nsd.port) == 0;
	CHECK(lo.up);
	return lo.up;
}

static void
word_parking(void)
{
	struct ks_in_addr a;
	struct ks_dns *r;

	if (!begin(&lo))
		return;
	word_base = ks_port();
	word_port = *word_base;
	word_port.flags |= KS_PORT_PARK_WORD;
	word_port.park_word = count_park_word;
	word_port.park = count_park;
	word_port.unpark = count_unpark;
	if (restart_on(&word_port)) {
		ksock_allocs0 = ksp_alloc_outstanding();
		r = resolver(&lo, false);
		CHECK_EQ(ks_dns_resolve4(r, "www.ks.test", &a), 0);
		CHECK_EQ(memcmp(&a, (uint8_t[]){ 192, 0, 2, 1 }, 4), 0);
		CHECK_EQ(ks_dns_resolve4(r, "big.ks.test", &a), 0);
		CHECK_EQ(stats(r).tcp_queries, 1);
		end(r);
		CHECK(atomic_load(&word_parks) > 0);
		CHECK_EQ(atomic_load(&token_calls), 0);
	}
	restart_on(word_base);
}

#define ON_BOTH(fn)							\
	static void fn##_lo(void) { fn(&lo); }				\
	static void fn##_tap(void) { fn(&tap); }
ON_BOTH(a_over_udp)
ON_BOTH(aaaa_over_udp6)
ON_BOTH(getaddrinfo_both)
ON_BOTH(truncated_to_tcp4)
ON_BOTH(truncated_to_tcp6)
ON_BOTH(alloc_failures)
ON_BOTH(server_stopped)

#define BOTH(text, fn)							\
	{ "loopback: " text, fn##_lo },					\
	{ "tap: " text, fn##_tap }
static const struct dns_test tests[] = {
	BOTH("A over ksock's UDP to an IPv4 server", a_over_udp),
	BOTH("AAAA, A+AAAA, NXDOMAIN, NODATA over ksock's UDP/IPv6",
	     aaaa_over_udp6),
	BOTH("getaddrinfo: one A and one AAAA, port 80", getaddrinfo_both),
	BOTH("truncated answer: 100 addresses over ksock's TCP",
	     truncated_to_tcp4),
	BOTH("truncated answer: over ksock's TCP/IPv6", truncated_to_tcp6),
	BOTH("allocation failures in ksock: clean failure, nothing leaked",
	     alloc_failures),
	BOTH("server stopped: EAI_AGAIN after every try timed out",
	     server_stopped),
	{ "loopback: on a port that parks on words (a kernel's), never by "
	  "handle", word_parking },
};

static void
on_terminate(int sig)
{
	(void)sig;
	server_stop(&nsd);
	tap_datadir_remove();
	_exit(124);
}

int
main(int argc, char **argv)
{
	int status;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DATADIR [TEST...]\n", argv[0]);
		return 2;
	}
	datadir = argv[1];
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_terminate);
	signal(SIGINT, on_terminate);
	inet_pton(AF_INET, TN_LINUX_V4, tap.v4);
	inet_pton(AF_INET6, TN_LINUX_V6, tap.v6);
	/* The namespace first: nsd, started next, joins it. */
	tap_enter();
	have_nsd = server_start_nsd(&nsd, nsd_data[0] ? nsd_data : datadir) == 0;
	if (ksp_init() != 0) {
		printf("ksp_init: %s\n", strerror(errno));
		return 1;
	}
	lo.up = have_nsd && bridge_start(nsd.port) == 0;
	tap.up = have_nsd && nsd_data[0] != '\0' && tap_attach() == 0;
	printf("nsd %s; loopback bridge %s; tap %s%s\n", have_nsd ? "up" : "DOWN",
	       lo.up ? "up" : lo.why, tap.up ? "up" : "skipped: ",
	       tap.up ? "" : tap.why);
	status = run_tests(tests, sizeof tests / sizeof tests[0], argc - 1,
			   argv + 1);
	if (tap.up && ksp_inet_tap_detach() != 0) {
		printf("ksp_inet_tap_detach: %s\n", strerror(errno));
		status = 1;
	}
	bridge_stop();
	server_stop(&nsd);
	tap_datadir_remove();
	if (test_port_outstanding() != 0) {
		printf("leak: %ld blocks of the resolver's port outstanding\n",
		       test_port_outstanding());
		status = 1;
	}
	if (ksp_fini() != 0) {
		printf("leak: ksock sockets still open at the end\n");
		status = 1;
	}
	return status;
}

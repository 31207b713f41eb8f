/*
 * Unit tests: the link (include/ksock/link.h) without a TAP device or
 * root. Frames are built here and handed to ks_link_input(); what the
 * stack transmits is captured and decoded. Each test runs again with an
 * allocation failing at every allocation it makes (attaching takes the
 * stack's heap, sockets their memory): attach and the socket calls fail
 * with ENOMEM, and nothing is left allocated once the link is detached.
 *
 * The addresses are the test network's (docs/inet.md): the link is 10.77.0.2/24 and
 * fd77::2/64, the peer ("Linux") 10.77.0.1 and fd77::1.
 */
#include <arpa/inet.h>

#include <ksock/link.h>

#include "unit.h"

#define ETH_HLEN	14
#define MAX_SENT	8

static const uint8_t our_mac[6] = { 0x02, 0x6b, 0x73, 0, 0, 2 };
static const uint8_t peer_mac[6] = { 0x02, 0x6b, 0x73, 0, 0, 1 };
static const uint8_t our_v4[4] = { 10, 77, 0, 2 };
static const uint8_t peer_v4[4] = { 10, 77, 0, 1 };
static const uint8_t our_v6[16] = { 0xfd, 0x77, [15] = 2 };
static const uint8_t peer_v6[16] = { 0xfd, 0x77, [15] = 1 };

/* What the stack transmitted since the last reset. */
static uint8_t sent[MAX_SENT][KS_LINK_FRAME_MAX];
static size_t sent_len[MAX_SENT];
static int nsent;
static bool attached;

static int
capture(void *ctx, const void *frame, size_t len)
{
	(void)ctx;
	if (nsent < MAX_SENT) {
		memcpy(sent[nsent], frame, len);
		sent_len[nsent] = len;
	}
	nsent++;
	return 0;
}

static const struct ks_link_ops ops = { .transmit = capture };

static struct ks_link_config
config(void)
{
	struct ks_link_config c = {
		.mtu = 1500, .has_v4 = true, .v4_prefix = 24,
		.has_v6 = true, .v6_prefix = 64,
	};

	memcpy(c.mac, our_mac, 6);
	memcpy(c.v4, our_v4, 4);
	memcpy(c.v6, our_v6, 16);
	return c;
}

/* Attaches the link; false when the step failed or was skipped. */
static bool
attach(void)
{
	struct ks_link_config c = config();

	nsent = 0;
	attached = OK(ks_link_attach(&ops, NULL, &c)) == 0;
	return attached;
}

/* The test's cleanup: never skipped. */
static void
detach(void)
{
	if (attached && ks_link_detach() != 0)
		ut_fail(__FILE__, __LINE__, "ks_link_detach failed");
	attached = false;
}

/* -- building frames -- */

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The Internet checksum of @n bytes, starting from @sum. */
static uint16_t
csum(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += get16(p + i);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static size_t
eth(uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, peer_mac, 6);
	put16(f + 12, type);
	return ETH_HLEN;
}

/* An ARP packet from the peer; @tha may be NULL (zeros). */
static size_t
arp(uint8_t *f, const uint8_t *dst, uint16_t op, const uint8_t *tha,
    const uint8_t *tpa)
{
	uint8_t *a = f + eth(f, dst, 0x0806);

	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, peer_mac, 6);
	memcpy(a + 14, peer_v4, 4);
	memset(a + 18, 0, 6);
	if (tha != NULL)
		memcpy(a + 18, tha, 6);
	memcpy(a + 24, tpa, 4);
	return ETH_HLEN + 28;
}

/* An IPv4 packet from the peer to us carrying @n bytes of @proto. */
static size_t
ip4(uint8_t *f, uint8_t proto, const void *payload, size_t n)
{
	uint8_t *h = f + eth(f, our_mac, 0x0800);

	memset(h, 0, 20);
	h[0] = 0x45;
	put16(h + 2, (uint16_t)(20 + n));
	put16(h + 4, 1);
	h[8] = 64;
	h[9] = proto;
	memcpy(h + 12, peer_v4, 4);
	memcpy(h + 16, our_v4, 4);
	put16(h + 10, csum(h, 20, 0));
	memcpy(h + 20, payload, n);
	return ETH_HLEN + 20 + n;
}

/* An ICMPv6 message of @n bytes from the peer to @dst (hop limit 255, as
 * neighbour discovery requires), its checksum filled in. */
static size_t
icmp6(uint8_t *f, const uint8_t *dmac, const uint8_t *dst, uint8_t *msg,
      size_t n)
{
	uint8_t *h = f + eth(f, dmac, 0x86dd);
	uint32_t sum = 0;

	memset(h, 0, 40);
	h[0] = 0x60;
	put16(h + 4, (uint16_t)n);
	h[6] = 58;
	h[7] = 255;
	memcpy(h + 8, peer_v6, 16);
	memcpy(h + 24, dst, 16);
	/* The pseudo-header: addresses, length, next header. */
	for (int i = 0; i < 32; i += 2)
		sum += get16(h + 8 + i);
	sum += (uint32_t)n + 58;
	put16(msg + 2, 0);
	put16(msg + 2, csum(msg, n, sum));
	memcpy(h + 40, msg, n);
	return ETH_HLEN + 40 + n;
}

static void
input(const uint8_t *f, size_t n)
{
	nsent = 0;
	EQ(ks_link_input(f, n), 0);
}

/* -- tests -- */

/* Nothing attached: the calls say so; bad configurations are refused. */
static void
link_refusals(void)
{
	static const uint8_t frame[60];
	struct ks_link_config c;

	ERR(ks_link_detach(), -KS_ENODEV);
	ERR(ks_link_input(frame, sizeof(frame)), -KS_ENODEV);
	ERR(ks_link_timers(), -KS_ENODEV);
	ERR(ks_link_input(frame, ETH_HLEN - 1), -KS_EINVAL);
	ERR(ks_link_input(frame, KS_LINK_FRAME_MAX + 1), -KS_EINVAL);
	c = config();
	ERR(ks_link_attach(NULL, NULL, &c), -KS_EINVAL);
	ERR(ks_link_attach(&ops, NULL, NULL), -KS_EINVAL);
	EQ(ks_link_in_flight(), 0);
	c.mac[0] |= 1;			/* multicast */
	ERR(ks_link_attach(&ops, NULL, &c), -KS_EINVAL);
	c = config();
	c.mtu = 9000;
	ERR(ks_link_attach(&ops, NULL, &c), -KS_EINVAL);
	c = config();
	c.has_v4 = c.has_v6 = false;
	ERR(ks_link_attach(&ops, NULL, &c), -KS_EINVAL);
	c = config();
	c.v4_prefix = 0;
	ERR(ks_link_attach(&ops, NULL, &c), -KS_EINVAL);
	c = config();
	c.v6_prefix = 48;
	ERR(ks_link_attach(&ops, NULL, &c), -KS_EINVAL);
	if (attach()) {
		c = config();
		ERR(ks_link_attach(&ops, NULL, &c), -KS_EBUSY);
		GE(ks_link_timers(), 0);
	}
	detach();
	ERR(ks_link_detach(), -KS_ENODEV);
}

/* Going up announces the address (a gratuitous ARP); a request for it
 * is answered from our MAC, one for another address is not. */
static void
link_arp(void)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t other[4] = { 10, 77, 0, 9 };
	uint8_t f[64];
	const uint8_t *a;

	if (attach()) {
		CHECK(nsent >= 1);
		a = sent[0] + ETH_HLEN;
		CHECK_MEM(sent[0], bcast, 6);
		CHECK_EQ(get16(sent[0] + 12), 0x0806);
		CHECK_MEM(a + 14, our_v4, 4);
		CHECK_MEM(a + 24, our_v4, 4);
	}
	input(f, arp(f, bcast, 1, NULL, our_v4));
	CHECK_EQ(nsent, 1);
	a = sent[0] + ETH_HLEN;
	CHECK_MEM(sent[0], peer_mac, 6);
	CHECK_MEM(sent[0] + 6, our_mac, 6);
	CHECK_EQ(get16(a + 6), 2);		/* reply */
	CHECK_MEM(a + 8, our_mac, 6);
	CHECK_MEM(a + 14, our_v4, 4);
	CHECK_MEM(a + 18, peer_mac, 6);
	CHECK_MEM(a + 24, peer_v4, 4);
	input(f, arp(f, bcast, 1, NULL, other));
	CHECK_EQ(nsent, 0);
	detach();
}

/* An echo request is answered once the peer's MAC is known: first an
 * ARP request for it, then, given the answer, the echo reply. */
static void
link_icmp_echo(void)
{
	uint8_t echo[12] = { 8, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g' };
	uint8_t f[128];
	const uint8_t *ip, *icmp;

	put16(echo + 2, csum(echo, sizeof(echo), 0));
	attach();
	input(f, ip4(f, 1, echo, sizeof(echo)));
	CHECK_EQ(nsent, 1);
	CHECK_EQ(get16(sent[0] + 12), 0x0806);
	CHECK_EQ(get16(sent[0] + ETH_HLEN + 6), 1);	/* request */
	CHECK_MEM(sent[0] + ETH_HLEN + 24, peer_v4, 4);
	input(f, arp(f, our_mac, 2, our_mac, our_v4));
	CHECK_EQ(nsent, 1);
	ip = sent[0] + ETH_HLEN;
	icmp = ip + 20;
	CHECK_MEM(sent[0], peer_mac, 6);
	CHECK_EQ(get16(sent[0] + 12), 0x0800);
	CHECK_EQ(sent_len[0], ETH_HLEN + 20 + sizeof(echo));
	CHECK_MEM(ip + 12, our_v4, 4);
	CHECK_MEM(ip + 16, peer_v4, 4);
	CHECK_EQ(icmp[0], 0);				/* echo reply */
	CHECK_MEM(icmp + 4, echo + 4, sizeof(echo) - 4);
	CHECK_EQ(csum(icmp, sizeof(echo), 0), 0);
	detach();
}

/* A neighbour solicitation for our address is answered with a
 * solicited advertisement carrying our MAC. */
static void
link_nd(void)
{
	static const uint8_t snm_mac[6] = { 0x33, 0x33, 0xff, 0, 0, 2 };
	static const uint8_t snm[16] = { 0xff, 0x02, [11] = 1, 0xff, 0, 0, 2 };
	uint8_t ns[32] = { 135 };
	uint8_t f[128];
	const uint8_t *na;

	memcpy(ns + 8, our_v6, 16);
	ns[24] = 1;					/* source link-layer */
	ns[25] = 1;
	memcpy(ns + 26, peer_mac, 6);
	attach();
	input(f, icmp6(f, snm_mac, snm, ns, sizeof(ns)));
	CHECK_EQ(nsent, 1);
	na = sent[0] + ETH_HLEN + 40;
	CHECK_MEM(sent[0], peer_mac, 6);
	CHECK_EQ(get16(sent[0] + 12), 0x86dd);
	CHECK_EQ(sent[0][ETH_HLEN + 6], 58);
	CHECK_EQ(na[0], 136);
	CHECK(na[4] & 0x40);				/* solicited */
	CHECK_MEM(na + 8, our_v6, 16);
	CHECK_EQ(na[24], 2);				/* target link-layer */
	CHECK_MEM(na + 26, our_mac, 6);
	detach();
}

/* A datagram from the peer reaches the socket bound to the link's
 * address with the peer as sender, and the answer goes out to it; the
 * link's address is local only while the link is there, and off the
 * link there is no route. */
static void
link_udp(void)
{
	uint8_t udp[12] = { 0x13, 0x88, 0, 9, 0, 12, 0, 0, 'p', 'i', 'n', 'g' };
	struct ks_sockaddr_in a, from;
	struct ks_sock *so = NULL, *late = NULL;
	uint32_t alen = sizeof(from);
	uint8_t f[128], buf[16];
	const uint8_t *out;
	int mflags;

	memset(&a, 0, sizeof(a));
	a.sin_family = KS_AF_INET;
	a.sin_port = htons(9);
	memcpy(&a.sin_addr, our_v4, 4);
	attach();
	input(f, arp(f, our_mac, 2, our_mac, our_v4));
	if (OK(ks_socket(KS_AF_INET, KS_SOCK_DGRAM, 0, &so)) == 0)
		ut_track(so);
	EQ(ks_bind(so, &a, sizeof(a)), 0);
	input(f, ip4(f, 17, udp, sizeof(udp)));
	EQ(ut_recvfrom(so, buf, sizeof(buf), KS_MSG_DONTWAIT, &from, &alen,
		       &mflags), 4);
	CHECK_MEM(buf, "ping", 4);
	CHECK_EQ(alen, sizeof(from));
	CHECK_MEM(&from.sin_addr, peer_v4, 4);
	CHECK_EQ(ntohs(from.sin_port), 5000);
	nsent = 0;
	EQ(ut_sendto(so, "pong", 4, 0, &from, alen), 4);
	CHECK_EQ(nsent, 1);
	out = sent[0] + ETH_HLEN;
	CHECK_MEM(sent[0], peer_mac, 6);
	CHECK_MEM(out + 16, peer_v4, 4);
	CHECK_EQ(get16(out + 20), 9);
	CHECK_EQ(get16(out + 22), 5000);
	CHECK_MEM(out + 28, "pong", 4);
	a.sin_addr.s_addr = htonl(0x0a4e0001);		/* 10.78.0.1 */
	ERR(ut_sendto(so, "x", 1, 0, &a, sizeof(a)), -101 /* ENETUNREACH */);
	detach();
	memcpy(&a.sin_addr, our_v4, 4);
	a.sin_port = 0;
	if (OK(ks_socket(KS_AF_INET, KS_SOCK_DGRAM, 0, &late)) == 0)
		ut_track(late);
	ERR(ks_bind(late, &a, sizeof(a)), -KS_EADDRNOTAVAIL);
}

static const struct ut_test tests[] = {
	{ "link_refusals", link_refusals, 0 },
	{ "link_arp", link_arp, 0 },
	{ "link_icmp_echo", link_icmp_echo, 0 },
	{ "link_nd", link_nd, 0 },
	{ "link_udp", link_udp, 0 },
};

UT_MAIN(tests)

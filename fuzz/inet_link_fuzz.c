/*
 * libFuzzer target: arbitrary Ethernet frames arriving on ksock's link
 * (src/inet/link.c, include/ksock/link.h), through lwIP's Ethernet, ARP,
 * neighbour discovery, IPv4 and IPv6 input, with a TCP listener and a
 * UDP socket of each family bound to the link's addresses.
 *
 * The link is attached with a transmit function that only reads what
 * the stack sends (so AddressSanitizer sees every byte of every answer:
 * ARP replies, neighbour advertisements, resets, ICMP). Each input is
 * one frame; unless told otherwise, its destination addresses and its
 * length fields are made to agree with the link (checksum checks are
 * compiled out of this build, as for inet_fuzz). After the frame, the
 * listeners' queues and the UDP sockets are drained and ksock must be
 * back where it started: the same number of allocations outstanding.
 *
 * Input: byte 0 says what the rest is.
 *   bits 0-1  0: ARP, 1: IPv4, 2: IPv6 (after a header made here),
 *             3: a whole frame, header included, taken as it is;
 *   bit 2     the destination MAC is broadcast (else the link's);
 *   bit 3     keep the packet's own destination address (multicast,
 *             link-local, someone else's) instead of the link's.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ksock/link.h>
#include <ksock/posix.h>

#define PORT_TCP	7
#define PORT_UDP	9
#define ETH_HLEN	14

static const uint8_t our_mac[6] = { 0x02, 0x6b, 0x73, 0x00, 0x00, 0x02 };
static const uint8_t peer_mac[6] = { 0x02, 0x6b, 0x73, 0x00, 0x00, 0x01 };
static const uint8_t our_v4[4] = { 10, 77, 0, 2 };
static const uint8_t our_v6[16] = { 0xfd, 0x77, [15] = 2 };

static int listeners[2], udps[2];
static long base_allocs;
static volatile uint8_t sink;

static void
die(const char *what)
{
	fprintf(stderr, "inet_link_fuzz: %s\n", what);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads every byte the stack sends, so that a bad length shows. */
static int
transmit(void *ctx, const void *frame, size_t len)
{
	const uint8_t *b = frame;
	uint8_t x = 0;

	(void)ctx;
	if (len < ETH_HLEN || len > KS_LINK_FRAME_MAX)
		die("frame of a bad length sent");
	for (size_t i = 0; i < len; i++)
		x ^= b[i];
	sink = x;
	return 0;
}

static const struct ks_link_ops ops = { .transmit = transmit };

static int
bound(int family, int type, uint16_t port)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
				   .sin6_port = htons(port) };
	int fd = ksp_socket(family, type | SOCK_NONBLOCK, 0);

	memcpy(&a4.sin_addr, our_v4, 4);
	memcpy(&a6.sin6_addr, our_v6, 16);
	if (fd < 0)
		die("socket");
	if (family == AF_INET ? ksp_bind(fd, (struct sockaddr *)&a4, sizeof(a4))
			      : ksp_bind(fd, (struct sockaddr *)&a6, sizeof(a6)))
		die("bind");
	return fd;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const int families[2] = { AF_INET, AF_INET6 };
	struct ks_link_config cfg = {
		.mtu = 1500, .has_v4 = true, .v4_prefix = 24,
		.has_v6 = true, .v6_prefix = 64,
	};

	memcpy(cfg.mac, our_mac, 6);
	memcpy(cfg.v4, our_v4, 4);
	memcpy(cfg.v6, our_v6, 16);
	if (ksp_init() < 0)
		die("ksp_init");
	if (ks_link_attach(&ops, NULL, &cfg) < 0)
		die("ks_link_attach");
	for (int f = 0; f < 2; f++) {
		listeners[f] = bound(families[f], SOCK_STREAM, PORT_TCP);
		if (ksp_listen(listeners[f], 16) < 0)
			die("listen");
		udps[f] = bound(families[f], SOCK_DGRAM, PORT_UDP);
	}
	base_allocs = ksp_alloc_outstanding();
	return 0;
}

/* Builds the frame for @kind from @body (@n bytes) into @frame; returns
 * its length, or 0 when the body is too short for the kind. */
static size_t
make_frame(uint8_t *frame, uint8_t how, const uint8_t *body, size_t n)
{
	static const uint16_t types[3] = { 0x0806, 0x0800, 0x86dd };
	unsigned kind = how & 3;
	bool keep_dst = (how & 8) != 0;
	uint8_t *pkt = frame + ETH_HLEN;

	if (kind == 3) {
		memcpy(frame, body, n);
		return n;
	}
	if (how & 4)
		memset(frame, 0xff, 6);
	else
		memcpy(frame, our_mac, 6);
	memcpy(frame + 6, peer_mac, 6);
	frame[12] = (uint8_t)(types[kind] >> 8);
	frame[13] = (uint8_t)types[kind];
	memcpy(pkt, body, n);
	switch (kind) {
	case 0:		/* ARP: the target protocol address is ours */
		if (n >= 28 && !keep_dst)
			memcpy(pkt + 24, our_v4, 4);
		break;
	case 1:
		if (n < 20)
			return 0;
		pkt[0] = (uint8_t)(0x40 | (pkt[0] & 0x0f));
		pkt[2] = (uint8_t)(n >> 8);
		pkt[3] = (uint8_t)n;
		if (!keep_dst)
			memcpy(pkt + 16, our_v4, 4);
		break;
	case 2:
		if (n < 40)
			return 0;
		pkt[0] = (uint8_t)(0x60 | (pkt[0] & 0x0f));
		pkt[4] = (uint8_t)((n - 40) >> 8);
		pkt[5] = (uint8_t)(n - 40);
		if (!keep_dst)
			memcpy(pkt + 24, our_v6, 16);
		break;
	}
	return ETH_HLEN + n;
}

static void
drain(void)
{
	static char buf[65536];
	int fd;

	for (int f = 0; f < 2; f++) {
		while ((fd = ksp_accept4(listeners[f], NULL, NULL,
					 SOCK_NONBLOCK)) >= 0) {
			while (ksp_recv(fd, buf, sizeof(buf), 0) > 0)
				;
			ksp_close(fd);
		}
		while (ksp_recv(udps[f], buf, sizeof(buf), MSG_DONTWAIT) >= 0)
			;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *frame;
	size_t len;

	if (size < 2 || size - 1 > KS_LINK_FRAME_MAX - ETH_HLEN)
		return 0;
	frame = malloc(ETH_HLEN + size - 1);
	if (frame == NULL)
		die("malloc");
	len = make_frame(frame, data[0], data + 1, size - 1);
	if (len > 0)
		(void)ks_link_input(frame, len);
	free(frame);
	(void)ks_link_timers();
	drain();
	if (ksp_alloc_outstanding() != base_allocs)
		die("allocations left behind");
	return 0;
}

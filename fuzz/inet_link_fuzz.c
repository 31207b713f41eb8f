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

#include "inet_fuzz.h"

#define ETH_HLEN	14

static const uint8_t our_mac[6] = { 0x02, 0x6b, 0x73, 0x00, 0x00, 0x02 };
static const uint8_t peer_mac[6] = { 0x02, 0x6b, 0x73, 0x00, 0x00, 0x01 };
static const uint8_t our_v4[4] = { 10, 77, 0, 2 };
static const uint8_t our_v6[16] = { 0xfd, 0x77, [15] = 2 };

static long base_allocs;
static volatile uint8_t sink;

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
		fz_die("frame of a bad length sent");
	for (size_t i = 0; i < len; i++)
		x ^= b[i];
	sink = x;
	return 0;
}

static const struct ks_link_ops ops = { .transmit = transmit };

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ks_link_config cfg = {
		.mtu = 1500, .has_v4 = true, .v4_prefix = 24,
		.has_v6 = true, .v6_prefix = 64,
	};

	memcpy(cfg.mac, our_mac, 6);
	memcpy(cfg.v4, our_v4, 4);
	memcpy(cfg.v6, our_v6, 16);
	if (ksp_init() < 0)
		fz_die("ksp_init");
	if (ks_link_attach(&ops, NULL, &cfg) < 0)
		fz_die("ks_link_attach");
	fz_open_sockets(our_v4, our_v6);
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *frame;
	size_t len;

	if (size < 2 || size - 1 > KS_LINK_FRAME_MAX - ETH_HLEN)
		return 0;
	frame = malloc(ETH_HLEN + size - 1);
	if (frame == NULL)
		fz_die("malloc");
	len = make_frame(frame, data[0], data + 1, size - 1);
	if (len > 0)
		(void)ks_link_input(frame, len);
	free(frame);
	(void)ks_link_timers();
	fz_drain(NULL, 0);
	if (ksp_alloc_outstanding() != base_allocs)
		fz_die("allocations left behind");
	return 0;
}

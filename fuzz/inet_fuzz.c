/*
 * libFuzzer target: arbitrary IPv4 and IPv6 packets arriving on ksock's
 * loopback (the input path a TAP link will use), with a TCP listener, a
 * connected TCP pair and a UDP socket on each family waiting for them.
 *
 * Each input is one packet. Its addresses are pointed at this host and
 * its length fields made to agree with its size, so that it gets past the
 * IP layer; lwIP's checksum checks are compiled out of this build (the
 * fuzzer cannot guess checksums). After the packet, the listeners'
 * queues and the UDP sockets are drained (accepted sockets closed), and
 * ksock must be back where it started: the same number of allocations
 * outstanding. Anything else aborts, and AddressSanitizer watches lwIP
 * and ksock alike (both are compiled into this target with it).
 *
 * Input: byte 0 bit 0 picks IPv4 (0) or IPv6 (1); the rest is the packet.
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

#include <ksock/ksock.h>
#include <ksock/posix.h>

#include "inet_fuzz.h"

/* src/inet's way in (inet.h), declared here to keep lwIP's headers out
 * of the fuzzer. */
int	ks__inet_loop_input(const void *packet, size_t len);

static int pair[2];
static long base_allocs;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const uint8_t lo4[4] = { 127, 0, 0, 1 };
	static const struct in6_addr lo6 = IN6ADDR_LOOPBACK_INIT;
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(FZ_PORT_TCP),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s;

	if (ksp_init() < 0)
		fz_die("ksp_init");
	fz_open_sockets(lo4, &lo6);
	/* One established connection for packets that hit it. */
	pair[0] = ksp_socket(AF_INET, SOCK_STREAM, 0);
	if (pair[0] < 0 ||
	    ksp_connect(pair[0], (struct sockaddr *)&to, sizeof(to)) < 0)
		fz_die("connect");
	s = ksp_accept(fz_listeners[0], NULL, NULL);
	if (s < 0)
		fz_die("accept");
	pair[1] = s;
	ksp_fcntl(pair[0], F_SETFL, O_NONBLOCK);
	ksp_fcntl(pair[1], F_SETFL, O_NONBLOCK);
	base_allocs = ksp_alloc_outstanding();
	return 0;
}

/* Points the packet at this host and makes its lengths agree with it. */
static size_t
fix_up(uint8_t *pkt, size_t len, bool v6)
{
	static const uint8_t lo6[16] = { [15] = 1 };
	static const uint8_t lo4[4] = { 127, 0, 0, 1 };

	if (!v6) {
		if (len < 20)
			return 0;
		pkt[0] = (uint8_t)(0x40 | (pkt[0] & 0x0f));
		pkt[2] = (uint8_t)(len >> 8);
		pkt[3] = (uint8_t)len;
		memcpy(pkt + 16, lo4, 4);
	} else {
		if (len < 40)
			return 0;
		pkt[0] = (uint8_t)(0x60 | (pkt[0] & 0x0f));
		pkt[4] = (uint8_t)((len - 40) >> 8);
		pkt[5] = (uint8_t)(len - 40);
		memcpy(pkt + 24, lo6, 16);
	}
	return len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *pkt;
	size_t len;

	if (size < 2 || size > 65536)
		return 0;
	len = size - 1;
	pkt = malloc(len);
	if (pkt == NULL)
		fz_die("malloc");
	memcpy(pkt, data + 1, len);
	len = fix_up(pkt, len, data[0] & 1);
	if (len > 0)
		(void)ks__inet_loop_input(pkt, len);
	free(pkt);
	fz_drain(pair, 2);
	if (ksp_alloc_outstanding() != base_allocs)
		fz_die("allocations left behind");
	return 0;
}

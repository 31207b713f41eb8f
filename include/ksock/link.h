/*
 * A link for ksock's TCP/IP (AF_INET, AF_INET6): an Ethernet interface
 * that a port gives the stack, besides the loopback every ksock has.
 *
 * The port owns the medium (a TAP device on the hosted port, a network
 * driver in a kernel). It supplies one function that transmits a frame,
 * and hands every frame it receives to ks_link_input(). It also calls
 * ks_link_timers() at least as often as that function asks, so that
 * what depends on the clock alone (retransmission, ARP and neighbour
 * discovery, reassembly, keepalive, TIME_WAIT) happens even when no
 * thread is inside a socket call. Typically one port thread does both:
 * it waits for a frame with the timeout ks_link_timers() returned.
 *
 * One link per ksock instance. The link's addresses become local
 * addresses (bind accepts them), and its subnets are the only
 * destinations besides the loopback: anything else is ENETUNREACH (no
 * default route).
 *
 * Freestanding: only ksock's headers and <stddef.h>/<stdint.h>/<stdbool.h>.
 */
#ifndef KSOCK_LINK_H
#define KSOCK_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "port.h"

/* The largest frame ksock sends or accepts: a 1500-byte MTU plus the
 * Ethernet header (no frame check sequence, no VLAN tag). */
#define KS_LINK_FRAME_MAX	1514

struct ks_link_ops {
	/*
	 * Transmits one Ethernet frame of @len bytes (destination, source,
	 * type, payload). Called with ksock's stack lock held, on whichever
	 * thread made the stack send: it must not call into ksock and should
	 * not block for long. A frame it cannot send is dropped, as a busy
	 * medium would; TCP retransmits. Returns 0 or a negative -KS_E*
	 * (ignored: a lost frame).
	 */
	int	(*transmit)(void *ctx, const void *frame, size_t len);
};

struct ks_link_config {
	uint8_t		mac[6];		/* a unicast address */
	unsigned	mtu;		/* 576..1500 */
	bool		has_v4;
	uint8_t		v4[4];		/* the link's IPv4 address */
	unsigned	v4_prefix;	/* 1..30 */
	bool		has_v6;
	uint8_t		v6[16];		/* a global or unique-local address */
	unsigned	v6_prefix;	/* 64 only (lwIP's on-link rule) */
};

/*
 * Attaches the link: an Ethernet interface with @cfg's addresses (and an
 * IPv6 link-local address from the MAC when has_v6), up at once, whose
 * frames go to @ops->transmit(@ctx, ...). @ops and @ctx must stay valid
 * until ks_link_detach() returns. The stack keeps running while the link
 * is attached, even with no socket open. Returns 0, -KS_EINVAL (a bad
 * or NULL configuration), -KS_EBUSY (a link is attached), -KS_ENOMEM. Takes the
 * stack lock.
 */
int	ks_link_attach(const struct ks_link_ops *ops, void *ctx,
		       const struct ks_link_config *cfg);

/*
 * Removes the link: its addresses are no longer local and its subnets
 * no longer reachable; connections on them stay, as Linux keeps those
 * of an interface that went away (what they send is lost, and they time
 * out like any connection whose peer went silent); frames waiting for a
 * neighbour are dropped. Once no AF_INET socket is left the stack stops
 * and gives its memory back. The port must not
 * call ks_link_input() or ks_link_timers() any more (stop its thread
 * first). Returns 0, or -KS_ENODEV when no link is attached. Takes the
 * stack lock.
 */
int	ks_link_detach(void);

/*
 * One frame received from the medium (@len bytes from the destination
 * address on, no frame check sequence). The frame is copied; ARP, IPv6
 * neighbour discovery, IPv4 and IPv6 go to the stack, anything else is
 * dropped. Returns 0 (taken, whatever the stack made of it),
 * -KS_EINVAL (shorter than a header or longer than KS_LINK_FRAME_MAX),
 * -KS_ENODEV (no link), -KS_ENOBUFS (the stack's memory is exhausted:
 * the frame is dropped, as a full receive ring would). Takes the stack
 * lock; may run socket callbacks (wake-ups) on the calling thread.
 */
int	ks_link_input(const void *frame, size_t len);

/*
 * Runs the stack's timers that are due. Returns the number of
 * nanoseconds until the next one, at most one timer period (250 ms);
 * the port calls again within that time. Returns -KS_ENODEV when no link
 * is attached. Takes the stack lock.
 */
int64_t	ks_link_timers(void);

/*
 * The number of TCP connections with a peer on the link that still hold
 * data or a FIN the peer has not acknowledged, closed ones included:
 * what Linux's kernel would go on sending after the program exited. A
 * port that ends with its process waits (bounded) until this is 0 while
 * its thread keeps the link running. Returns 0 when no link is
 * attached. Takes the stack lock.
 */
int	ks_link_in_flight(void);

#endif /* KSOCK_LINK_H */

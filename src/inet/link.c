/*
 * The link: an Ethernet interface a port gives ksock's TCP/IP
 * (include/ksock/link.h states the contract with the port).
 *
 * An lwIP netif of ours, with lwIP's Ethernet, ARP and IPv6 neighbour
 * discovery above it. Frames the port receives enter through
 * ks_link_input(); frames lwIP sends leave through the port's transmit
 * function, from a buffer here (lwIP may hand over a chain of pbufs; the
 * port gets one contiguous frame).
 *
 * Life. Attaching counts as one user of the stack (stack.c), so the
 * stack runs while the link exists even with no socket open, and
 * answers ARP and neighbour solicitations. Detaching removes the netif
 * (connections on its addresses stay, as on Linux, and time out; what
 * waits for a neighbour is dropped), empties reassembly, and drops
 * that use: the last user stops the stack. A
 * forked child's ksock starts without the link (its port's thread did
 * not survive the fork): ks__inet_link_forget().
 *
 * Timers. lwIP runs without its timer thread (LWIP_TIMERS 0). The stack
 * lock runs tcp_tmr() (stack.c); the port calls ks_link_timers() at
 * least every TCP timer period, and that runs ARP's, neighbour
 * discovery's and reassembly's one-second timers besides.
 *
 * Locks: everything here is under the stack lock [L]; `ops`, `ctx` and
 * the configuration are set at attach and read only under it.
 */
#include "inet/inet.h"

#include <ksock/link.h>

#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/ip4_frag.h"
#include "lwip/ip6_frag.h"
#include "lwip/nd6.h"
#include "lwip/netif.h"
#include "lwip/priv/tcp_priv.h"
#include "netif/ethernet.h"

/* ARP's, ND's and reassembly's timers share a one-second period. */
#define LINK_SLOW_TMR_NS	((int64_t)1000 * 1000000)
#define LINK_FAST_TMR_NS	((int64_t)TCP_TMR_INTERVAL * 1000000)
#define LINK_MTU_MIN		576
#define LINK_MTU_MAX		1500
#define ETH_HDR_LEN		14

static struct {
	bool			 attached;	/* [L] */
	const struct ks_link_ops *ops;		/* [L] */
	void			*ctx;		/* [L] */
	struct ks_link_config	 cfg;		/* [L] */
	int64_t			 next_slow;	/* [L] next one-second timer */
	struct netif		 netif;		/* [L] */
	/* The frame being transmitted, made contiguous. */
	unsigned char		 frame[KS_LINK_FRAME_MAX]; /* [L] */
} eth;

static err_t
link_transmit(struct netif *netif, struct pbuf *p)
{
	(void)netif;
	/* Detaching: the medium is gone, nothing reaches the wire. */
	if (!eth.attached)
		return ERR_OK;
	if (p->tot_len > sizeof(eth.frame))
		return ERR_BUF;
	pbuf_copy_partial(p, eth.frame, p->tot_len, 0);
	/* A refused frame is a lost frame, not an error lwIP should see:
	 * TCP retransmits, as after a loss on the wire. */
	(void)eth.ops->transmit(eth.ctx, eth.frame, p->tot_len);
	return ERR_OK;
}

/* A function of our own rather than ethernet_input's address (see
 * stack.c's loop_input: no GOT reference in a kernel link). */
static err_t
link_netif_input(struct pbuf *p, struct netif *netif)
{
	ks__inet_input_seen_locked();
	return ethernet_input(p, netif);
}

static err_t
link_etharp_output(struct netif *netif, struct pbuf *p, const ip4_addr_t *dst)
{
	return etharp_output(netif, p, dst);
}

static err_t
link_ethip6_output(struct netif *netif, struct pbuf *p, const ip6_addr_t *dst)
{
	return ethip6_output(netif, p, dst);
}

static err_t
link_netif_init(struct netif *netif)
{
	netif->name[0] = 'e';
	netif->name[1] = 'n';
	netif->output = link_etharp_output;
	netif->output_ip6 = link_ethip6_output;
	netif->linkoutput = link_transmit;
	netif->mtu = (u16_t)eth.cfg.mtu;
	netif->hwaddr_len = ETH_HWADDR_LEN;
	ks__memcpy(netif->hwaddr, eth.cfg.mac, ETH_HWADDR_LEN);
	netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP |
		       NETIF_FLAG_ETHERNET;
	return ERR_OK;
}

static bool
config_is_valid(const struct ks_link_config *cfg)
{
	if (cfg->mac[0] & 1)		/* multicast bit */
		return false;
	if (cfg->mtu < LINK_MTU_MIN || cfg->mtu > LINK_MTU_MAX)
		return false;
	if (!cfg->has_v4 && !cfg->has_v6)
		return false;
	if (cfg->has_v4 && (cfg->v4_prefix < 1 || cfg->v4_prefix > 30))
		return false;
	/* lwIP treats every IPv6 address as a /64 when it decides what is
	 * on the link (nd6_is_prefix_in_netif, ip6_route). */
	if (cfg->has_v6 && cfg->v6_prefix != 64)
		return false;
	return true;
}

static void
v4_from_config(ip4_addr_t *addr, ip4_addr_t *mask)
{
	const uint8_t *a = eth.cfg.v4;
	uint32_t m = 0xffffffffu << (32 - eth.cfg.v4_prefix);

	IP4_ADDR(addr, a[0], a[1], a[2], a[3]);
	IP4_ADDR(mask, (m >> 24) & 0xff, (m >> 16) & 0xff, (m >> 8) & 0xff,
		 m & 0xff);
}

static void
v6_from_config(ip6_addr_t *addr)
{
	uint32_t w[4];

	for (int i = 0; i < 4; i++) {
		const uint8_t *b = &eth.cfg.v6[4 * i];

		w[i] = PP_HTONL(((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) |
				((uint32_t)b[2] << 8) | b[3]);
	}
	IP6_ADDR(addr, w[0], w[1], w[2], w[3]);
	ip6_addr_clear_zone(addr);
}

/* Gives the netif its IPv6 addresses, usable at once: the configuration
 * says the address is unique (Linux's nodad), and duplicate detection of
 * the link-local one would only delay the first packets. */
static int
add_v6_locked(void)
{
	ip6_addr_t addr;
	s8_t idx;

	netif_create_ip6_linklocal_address(&eth.netif, 1);
	netif_ip6_addr_set_state(&eth.netif, 0, IP6_ADDR_PREFERRED);
	v6_from_config(&addr);
	if (netif_add_ip6_address(&eth.netif, &addr, &idx) != ERR_OK)
		return -KS_ENOMEM;
	netif_ip6_addr_set_state(&eth.netif, idx, IP6_ADDR_PREFERRED);
	return 0;
}

/* Forgets every fragment waiting for the rest of its datagram: they live
 * in lwIP's heap, which goes when the stack stops, while the lists that
 * hold them are lwIP's statics. Each reassembly timer ages every entry
 * by one tick; enough ticks drop them all. */
static void
reass_flush_locked(void)
{
	for (int i = 0; i <= IP_REASS_MAXAGE; i++)
		ip_reass_tmr();
	for (int i = 0; i <= IPV6_REASS_MAXAGE; i++)
		ip6_reass_tmr();
}

/* See link.h. */
int
ks_link_attach(const struct ks_link_ops *ops, void *ctx,
	       const struct ks_link_config *cfg)
{
	ip4_addr_t addr, mask, gw;
	int err;

	if (ops == NULL || ops->transmit == NULL || cfg == NULL ||
	    !config_is_valid(cfg))
		return -KS_EINVAL;
	ks__inet_lock();
	err = -KS_EBUSY;
	if (eth.attached)
		goto unlock;
	err = ks__inet_stack_get_locked();
	if (err < 0)
		goto unlock;
	eth.ops = ops;
	eth.ctx = ctx;
	eth.cfg = *cfg;
	ks__memset(&eth.netif, 0, sizeof(eth.netif));
	ip4_addr_set_zero(&addr);
	ip4_addr_set_zero(&mask);
	ip4_addr_set_zero(&gw);
	if (cfg->has_v4)
		v4_from_config(&addr, &mask);
	/* link_netif_init cannot fail, so neither can netif_add. */
	netif_add(&eth.netif, &addr, &mask, &gw, NULL, link_netif_init,
		  link_netif_input);
	if (cfg->has_v6) {
		err = add_v6_locked();
		if (err < 0)
			goto remove_netif;
	}
	/* Attached before it is up, so that what going up sends (a
	 * gratuitous ARP) reaches the wire. */
	eth.attached = true;
	netif_set_link_up(&eth.netif);
	netif_set_up(&eth.netif);
	/* Nobody here configures from router advertisements. */
	eth.netif.rs_count = 0;
	eth.next_slow = ks__port->now() + LINK_SLOW_TMR_NS;
	ks__inet_unlock();
	return 0;

remove_netif:
	netif_remove(&eth.netif);
	ks__inet_stack_put_locked();
unlock:
	ks__inet_unlock();
	return err;
}

/* See link.h. */
int
ks_link_detach(void)
{
	ks__inet_lock();
	if (!eth.attached) {
		ks__inet_unlock();
		return -KS_ENODEV;
	}
	/* Linux keeps the connections of an interface that went away:
	 * they time out, or go on if the address comes back. lwIP's
	 * netif_remove() would abort every connection bound to the
	 * netif's addresses, so the addresses are cleared first, without
	 * the notification that aborts them. What is sent meanwhile finds
	 * no route and is lost, as on a pulled cable. */
	eth.attached = false;
	ip_addr_set_zero_ip4(&eth.netif.ip_addr);
	for (int i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++)
		eth.netif.ip6_addr_state[i] = IP6_ADDR_INVALID;
	netif_set_down(&eth.netif);
	netif_remove(&eth.netif);
	reass_flush_locked();
	eth.ops = NULL;
	eth.ctx = NULL;
	ks__inet_stack_put_locked();
	ks__inet_unlock();
	return 0;
}

/* See link.h. */
int
ks_link_input(const void *frame, size_t len)
{
	int err = -KS_ENODEV;

	if (len < ETH_HDR_LEN || len > KS_LINK_FRAME_MAX)
		return -KS_EINVAL;
	ks__inet_lock();
	if (eth.attached)
		err = ks__inet_input_locked(&eth.netif, frame, len);
	ks__inet_unlock();
	return err;
}

/* See link.h. The stack lock itself runs tcp_tmr() when it is due. */
int64_t
ks_link_timers(void)
{
	int64_t now, wait;

	ks__inet_lock();
	if (!eth.attached) {
		ks__inet_unlock();
		return -KS_ENODEV;
	}
	now = ks__port->now();
	if (now >= eth.next_slow) {
		eth.next_slow = now + LINK_SLOW_TMR_NS;
		etharp_tmr();
		nd6_tmr();
		ip_reass_tmr();
		ip6_reass_tmr();
	}
	wait = eth.next_slow - now;
	ks__inet_unlock();
	return wait < LINK_FAST_TMR_NS ? wait : LINK_FAST_TMR_NS;
}

/* Whether @pcb still has something for its peer to acknowledge: bytes
 * queued or sent, or a FIN (sent, or waiting to be: TF_CLOSEPEND). */
static bool
pcb_in_flight(const struct tcp_pcb *pcb)
{
	if (pcb->state < ESTABLISHED || pcb->state == TIME_WAIT)
		return false;
	return pcb->unsent != NULL || pcb->unacked != NULL ||
	       (pcb->flags & TF_CLOSEPEND) || pcb->state == FIN_WAIT_1 ||
	       pcb->state == CLOSING || pcb->state == LAST_ACK;
}

/* See link.h. */
int
ks_link_in_flight(void)
{
	const struct tcp_pcb *pcb;
	int n = 0;

	ks__inet_lock();
	if (eth.attached)
		for (pcb = tcp_active_pcbs; pcb != NULL; pcb = pcb->next)
			if (pcb_in_flight(pcb) &&
			    ks__inet_link_reaches(&pcb->remote_ip))
				n++;
	ks__inet_unlock();
	return n;
}

/* See inet.h. */
bool
ks__inet_link_has_addr(const ip_addr_t *addr)
{
	if (!eth.attached)
		return false;
	if (IP_IS_V4(addr))
		return eth.cfg.has_v4 &&
		       ip4_addr_cmp(ip_2_ip4(addr), netif_ip4_addr(&eth.netif));
	/* The link-local address needs a scope id, which sockets do not
	 * carry yet: it is not one a socket may name. */
	return eth.cfg.has_v6 && !ip6_addr_islinklocal(ip_2_ip6(addr)) &&
	       netif_get_ip6_addr_match(&eth.netif, ip_2_ip6(addr)) >= 0;
}

/* See inet.h. */
bool
ks__inet_link_reaches(const ip_addr_t *addr)
{
	if (!eth.attached)
		return false;
	if (IP_IS_V4(addr))
		return eth.cfg.has_v4 &&
		       ip4_addr_netcmp(ip_2_ip4(addr),
				       netif_ip4_addr(&eth.netif),
				       netif_ip4_netmask(&eth.netif));
	if (!eth.cfg.has_v6)
		return false;
	for (int i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++)
		if (ip6_addr_isvalid(netif_ip6_addr_state(&eth.netif, i)) &&
		    !ip6_addr_islinklocal(netif_ip6_addr(&eth.netif, i)) &&
		    ip6_addr_netcmp(ip_2_ip6(addr), netif_ip6_addr(&eth.netif, i)))
			return true;
	return false;
}

/* See inet.h. */
void
ks__inet_link_stop_locked(void)
{
	reass_flush_locked();
}

/* See inet.h. */
void
ks__inet_link_forget(void)
{
	eth.attached = false;
	eth.ops = NULL;
	eth.ctx = NULL;
}

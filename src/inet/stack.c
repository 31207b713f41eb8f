/*
 * The lwIP instance behind AF_INET and AF_INET6: one per ksock, guarded
 * by the stack lock (inet.h states the locking model).
 *
 * Life. The stack starts when the first AF_INET/AF_INET6 socket is
 * created and stops when the last one is closed, so a ksock that never
 * uses IP pays nothing, and a test that closed its sockets leaves no
 * memory behind. Starting takes lwIP's whole heap from the port in one
 * allocation (lwipopts.h: every lwIP allocation, pools included, comes
 * from it); stopping aborts whatever lwIP still keeps (connections in
 * TIME_WAIT or still closing: with only a loopback, nobody is left to
 * talk to them) and gives the heap back.
 *
 * The loopback. A struct netif of ksock's own carries 127.0.0.1/8 and
 * ::1; lwIP queues what is sent to it (netif_loop_output), and the queue
 * is delivered by ks__inet_unlock() before the lock is dropped, on the
 * thread that sent it. So a send returns after the receiver's callbacks
 * ran, and no lwIP input ever runs inside another lwIP call.
 *
 * Timers. There is no timer thread: lwIP's timers run from the stack
 * lock. ks__inet_lock() runs tcp_tmr() when its 250 ms period has passed,
 * a thread blocked in an AF_INET call sleeps at most until the next
 * period (ks__inet_wait_locked), and an unlock after any input (the
 * loopback's queue or a link's frame) runs lwIP's fast timer, so delayed
 * acknowledgements go out
 * at once (as Linux's quick-ack mode does on loopback) instead of waiting
 * for someone to call in. What still needs the clock alone (retransmits
 * after an allocation failure, keepalives, TIME_WAIT expiry) runs
 * whenever any thread next enters the stack; docs/inet.md lists that.
 * With a link attached, the port's thread enters it at least every
 * timer period (link.c).
 *
 * Locks: the stack lock [L] for everything here.
 */
#include "inet/inet.h"

#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"

/* lwIP's heap (heap.c manages it): set while the stack runs. */
static unsigned char *inet_heap;

/* What heap.c needs beyond MEM_SIZE: its end marker and alignment. */
#define INET_HEAP_SLACK		64
#define INET_HEAP_SIZE		(MEM_SIZE + INET_HEAP_SLACK)
#define INET_TMR_NS		((int64_t)TCP_TMR_INTERVAL * 1000000)
/* The loopback's MTU: the largest IP packet (lwipopts.h's TCP_MSS is it
 * less the IPv4 and TCP headers). */
#define INET_LOOP_MTU		0xffff

/* lwIP's own TCP sanity checks are off (lwipopts.h); those that still
 * hold with window scaling, stated here. */
_Static_assert(TCP_MSS == INET_LOOP_MTU - IP_HLEN - TCP_HLEN,
	       "TCP_MSS is the loopback's");
_Static_assert(TCP_SND_BUF >= 2 * TCP_MSS, "two segments in a send buffer");
_Static_assert(TCP_SND_QUEUELEN >= 2 * (TCP_SND_BUF / TCP_MSS),
	       "a send buffer fits the send queue");
_Static_assert(TCP_SNDLOWAT < TCP_SND_BUF, "a send buffer has a low mark");
_Static_assert(TCP_SNDQUEUELOWAT < TCP_SND_QUEUELEN, "queue's low mark");
_Static_assert(TCP_WND >= TCP_MSS, "a window holds a segment");
_Static_assert(TCP_SND_BUF <= 0x7fffffff && TCP_WND <= (0xffffu << TCP_RCV_SCALE),
	       "windows fit lwIP's 32-bit counters and the scale");

static struct {
	struct ks_mutex	 lock;
	bool		 running;	/* [L] */
	long		 users;		/* [L] sockets counted on the stack */
	int64_t		 next_tmr;	/* [L] when tcp_tmr() is next due */
	struct netif	 loop;		/* [L] */
	/* TIME_WAIT bookkeeping (tw_trim_locked): */
	struct tcp_pcb	*tw_seen;	/* [L] list head at the last count;
					 * compared, never followed */
	long		 tw_count;	/* [L] about how many are listed */
	bool		 input_seen;	/* [L] tcp_fasttmr() is due */
} stack;

/*
 * At most this many connections stay in TIME_WAIT; beyond it the oldest
 * are dropped, as Linux stops keeping them beyond tcp_max_tw_buckets.
 * lwIP finds a connection, and picks an ephemeral port, by walking its
 * lists, TIME_WAIT's included: at thousands of connections a second,
 * 60 s of them would make every connect walk thousands of pcbs. What is
 * lost is TIME_WAIT's guard against late duplicates of an old
 * connection, which a loopback cannot deliver and a link rarely does.
 */
#define INET_TW_MAX		256

/* lwIP's assertions are programmer errors: stop at once. */
void
ks__lwip_assert(const char *msg, const char *file, int line)
{
	(void)msg;
	(void)file;
	(void)line;
	__builtin_trap();
}

/* LWIP_RAND(): initial sequence numbers and the first ephemeral ports. */
unsigned
ks__lwip_rand(void)
{
	unsigned v;

	ks__port->random(&v, sizeof(v));
	return v;
}

static bool
timers_needed(void)
{
	return tcp_active_pcbs != NULL || tcp_tw_pcbs != NULL;
}

static void
run_timers_locked(void)
{
	int64_t now;

	if (!stack.running)
		return;
	now = ks__port->now();
	if (!timers_needed()) {
		/* The first period starts when a connection appears. */
		stack.next_tmr = now + INET_TMR_NS;
		return;
	}
	if (now < stack.next_tmr)
		return;
	stack.next_tmr = now + INET_TMR_NS;
	tcp_tmr();
	/* Expiry removed some: count again from scratch. */
	stack.tw_seen = NULL;
	stack.tw_count = 0;
}

/*
 * Keeps the TIME_WAIT list short (INET_TW_MAX). lwIP puts each new
 * TIME_WAIT pcb at the list's head, so counting what came since the last
 * look is a walk to the head seen then; removals by lwIP make the count
 * high, never low, until the timer recounts (run_timers_locked). Only
 * when it passes twice the limit is the list walked whole, and what is
 * past the limit (the oldest) is dropped: constant time per connection.
 */
static void
tw_trim_locked(void)
{
	struct tcp_pcb *pcb;
	long n = 0;

	for (pcb = tcp_tw_pcbs; pcb != NULL && pcb != stack.tw_seen;
	     pcb = pcb->next)
		n++;
	stack.tw_seen = tcp_tw_pcbs;
	stack.tw_count += n;
	if (stack.tw_count <= 2 * INET_TW_MAX)
		return;
	n = 0;
	for (pcb = tcp_tw_pcbs; pcb != NULL; pcb = pcb->next)
		if (++n == INET_TW_MAX)
			break;
	/* A TIME_WAIT pcb goes without a reset or a callback; tcp.c lets
	 * go of a pcb before TIME_WAIT, and one still named by a socket
	 * would be kept. */
	while (pcb != NULL && pcb->next != NULL) {
		if (pcb->next->callback_arg != NULL)
			pcb = pcb->next;
		else
			tcp_abort(pcb->next);
	}
	stack.tw_count = n;
}

/* Whether an interface has packets to itself queued (the loopback's,
 * or a link's sent to its own address). */
static bool
loop_queued_locked(void)
{
	struct netif *n;

	NETIF_FOREACH(n)
		if (n->loop_first != NULL)
			return true;
	return false;
}

/* Delivers the loopback queues (and what delivering them sends back). */
static void
drain_locked(void)
{
	if (!stack.running)
		return;
	/* The fast timer walks every connection: only after input, the
	 * one thing that delays an acknowledgement (refused data, its other
	 * work, never happens: tcp.c's receive callback takes everything). */
	while (stack.input_seen || loop_queued_locked()) {
		netif_poll_all();
		stack.input_seen = false;
		tcp_fasttmr();
	}
	tw_trim_locked();
}

/* See inet.h. */
void
ks__inet_lock(void)
{
	ks__port->mutex_lock(&stack.lock);
	run_timers_locked();
	drain_locked();
}

/* See inet.h. */
void
ks__inet_input_seen_locked(void)
{
	stack.input_seen = true;
}

/* See inet.h. */
void
ks__inet_unlock(void)
{
	drain_locked();
	ks__port->mutex_unlock(&stack.lock);
}

static err_t
loop_output4(struct netif *netif, struct pbuf *p, const ip4_addr_t *dst)
{
	(void)dst;
	return netif_loop_output(netif, p);
}

static err_t
loop_output6(struct netif *netif, struct pbuf *p, const ip6_addr_t *dst)
{
	(void)dst;
	return netif_loop_output(netif, p);
}

/* What the loopback delivers goes to IPv4 or IPv6 input. A function of
 * our own rather than ip_input's address: that would be a GOT reference
 * in position-independent code, which a kernel link may not have. */
static err_t
loop_input(struct pbuf *p, struct netif *netif)
{
	stack.input_seen = true;
	return ip_input(p, netif);
}

static err_t
loop_init(struct netif *netif)
{
	netif->name[0] = 'l';
	netif->name[1] = 'o';
	netif->output = loop_output4;
	netif->output_ip6 = loop_output6;
	/* The largest packet there is: nothing on the loopback is ever
	 * fragmented, and TCP's segments are as large as they can be. */
	netif->mtu = INET_LOOP_MTU;
	/* Packets never leave memory: no checksum to make or to verify
	 * (lwipopts.h; the link keeps them). */
	NETIF_SET_CHECKSUM_CTRL(netif, NETIF_CHECKSUM_DISABLE_ALL);
	/* 127.255.255.255 is its broadcast address, as on Linux's lo
	 * (udp.c lets SO_BROADCAST sockets send there). */
	netif->flags |= NETIF_FLAG_BROADCAST;
	return ERR_OK;
}

/*
 * Forgets every list lwIP keeps in its globals: they pointed into a heap
 * that is gone (after a stop, or in a forked child's ks_init).
 */
static void
lwip_globals_reset(void)
{
	tcp_active_pcbs = NULL;
	tcp_bound_pcbs = NULL;
	tcp_tw_pcbs = NULL;
	tcp_listen_pcbs.listen_pcbs = NULL;
	udp_pcbs = NULL;
	netif_list = NULL;
	netif_default = NULL;
	stack.tw_seen = NULL;
	stack.tw_count = 0;
}

static int
stack_start_locked(void)
{
	ip4_addr_t addr, mask, gw;
	ip6_addr_t addr6;

	inet_heap = ks__alloc(INET_HEAP_SIZE);
	if (inet_heap == NULL)
		return -KS_ENOMEM;
	ks__inet_heap_init(inet_heap, INET_HEAP_SIZE);
	lwip_globals_reset();
	lwip_init();
	ks__memset(&stack.loop, 0, sizeof(stack.loop));
	IP4_ADDR(&addr, 127, 0, 0, 1);
	IP4_ADDR(&mask, 255, 0, 0, 0);
	ip4_addr_set_zero(&gw);
	/* loop_init cannot fail, so neither can netif_add. */
	netif_add(&stack.loop, &addr, &mask, &gw, NULL, loop_init, loop_input);
	ip6_addr_set_loopback(&addr6);
	netif_ip6_addr_set(&stack.loop, 0, &addr6);
	netif_ip6_addr_set_state(&stack.loop, 0, IP6_ADDR_VALID);
	netif_set_default(&stack.loop);
	netif_set_link_up(&stack.loop);
	netif_set_up(&stack.loop);
	stack.next_tmr = ks__port->now() + INET_TMR_NS;
	stack.running = true;
	return 0;
}

/* Aborts every pcb lwIP still has; returns whether it found any. */
static bool
abort_all_locked(void)
{
	bool found = false;

	while (tcp_active_pcbs != NULL) {
		tcp_abort(tcp_active_pcbs);
		found = true;
	}
	while (tcp_tw_pcbs != NULL) {
		tcp_abort(tcp_tw_pcbs);
		found = true;
	}
	while (tcp_bound_pcbs != NULL) {
		tcp_abort(tcp_bound_pcbs);
		found = true;
	}
	while (tcp_listen_pcbs.listen_pcbs != NULL) {
		tcp_close((struct tcp_pcb *)tcp_listen_pcbs.listen_pcbs);
		found = true;
	}
	while (udp_pcbs != NULL) {
		udp_remove(udp_pcbs);
		found = true;
	}
	return found;
}

static void
stack_stop_locked(void)
{
	/* Aborting sends resets through the loopback; delivering them can
	 * answer with more, until nothing is left. */
	do {
		drain_locked();
	} while (abort_all_locked() || loop_queued_locked());
	ks__inet_link_stop_locked();
	netif_remove(&stack.loop);
	stack.running = false;
	lwip_globals_reset();
	ks__free(inet_heap, INET_HEAP_SIZE);
	inet_heap = NULL;
}

/* See inet.h. */
int
ks__inet_stack_get_locked(void)
{
	int err;

	if (stack.users == 0) {
		err = stack_start_locked();
		if (err < 0)
			return err;
	}
	stack.users++;
	return 0;
}

/* See inet.h. */
void
ks__inet_stack_put_locked(void)
{
	if (--stack.users == 0)
		stack_stop_locked();
}

/* See inet.h. */
int
ks__inet_wait_locked(struct ks_sock *so, unsigned mask, int64_t deadline)
{
	struct ks__waiter w;
	int64_t until = deadline;
	bool for_timer = false;
	int err;

	if (deadline == 0)
		return -KS_EAGAIN;
	if (timers_needed() && (until < 0 || until > stack.next_tmr)) {
		until = stack.next_tmr;
		for_timer = true;
	}
	ks__waiter_init(&w, mask);
	ks__lock(so);
	ks__wait_add_locked(so, &w);
	ks__unlock(so);
	ks__inet_unlock();
	err = ks__waiter_sleep(&w, until);
	ks__inet_lock();
	ks__lock(so);
	ks__wait_del_locked(so, &w);
	ks__unlock(so);
	/* Woken for the timer, not for the caller's deadline. */
	if (err == -KS_EAGAIN && for_timer)
		return 0;
	return err;
}

/* See inet.h. */
void
ks__inet_wake(struct ks_sock *so, unsigned events)
{
	ks__lock(so);
	ks__wake_locked(so, events);
	ks__unlock(so);
}

/* See inet.h. */
void
ks__inet_set_error(struct ks_sock *so, int err)
{
	ks__lock(so);
	so->err = err;
	ks__wake_locked(so, KS_POLLERR | KS_POLLIN | KS_POLLOUT | KS_POLLHUP |
			    KS__WAKE_SPACE);
	ks__unlock(so);
}

/* See inet.h. */
int
ks__inet_input_locked(struct netif *netif, const void *data, size_t len)
{
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);

	if (p == NULL)
		return -KS_ENOBUFS;
	ks__memcpy(p->payload, data, len);
	/* The interface's input owns the packet whatever it does with it. */
	netif->input(p, netif);
	return 0;
}

/* See inet.h. */
int
ks__inet_loop_input(const void *packet, size_t len)
{
	int err = -KS_ENETDOWN;

	if (len == 0 || len > 0xffff)
		return -KS_EINVAL;
	ks__inet_lock();
	if (stack.running)
		err = ks__inet_input_locked(&stack.loop, packet, len);
	ks__inet_unlock();
	return err;
}

/* See inet.h. Only the loopback's own addresses reach a socket: lwIP
 * accepts a packet for 127.0.0.1 but not for the rest of 127.0.0.0/8. */
bool
ks__inet_addr_is_local(const ip_addr_t *addr)
{
	if (ks__inet_link_has_addr(addr))
		return true;
	if (IP_IS_V4(addr))
		return ip4_addr_get_u32(ip_2_ip4(addr)) ==
		       PP_HTONL(IPADDR_LOOPBACK);
	return ip6_addr_isloopback(ip_2_ip6(addr));
}

/* See inet.h. */
bool
ks__inet_addr_is_routable(const ip_addr_t *addr)
{
	return ks__inet_addr_is_local(addr) || ks__inet_link_reaches(addr);
}

/* The family's init: called by ks_init(), also in a forked child whose
 * parent's stack may have been running (its heap is abandoned there). */
int
ks__inet_stack_init(void)
{
	ks__port->mutex_init(&stack.lock);
	stack.running = false;
	stack.users = 0;
	inet_heap = NULL;
	lwip_globals_reset();
	ks__inet_link_forget();
	return 0;
}

/* The family's fini: ks_fini() runs it only when no socket is left, so
 * the stack has stopped. */
void
ks__inet_stack_fini(void)
{
	ks__port->mutex_destroy(&stack.lock);
}

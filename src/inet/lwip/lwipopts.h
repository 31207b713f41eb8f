/*
 * ksock's configuration of lwIP (the options lwIP's opt.h reads first).
 *
 * lwIP runs as ksock's TCP/IP engine with no OS layer: NO_SYS, one
 * ksock-wide lock held by every caller (src/inet/stack.c), no timer
 * thread (ksock calls tcp_tmr() itself, LWIP_TIMERS 0) and no libc
 * allocator: every lwIP allocation comes from one heap that ksock takes
 * from the port when the first AF_INET/AF_INET6 socket is created and
 * gives back when the last one is gone (MEMP_MEM_MALLOC puts lwIP's pools
 * on that heap too, so a pool running dry is the heap running dry).
 * On: IPv4, IPv6, TCP, UDP, ICMP, and for a link (src/inet/link.c)
 * Ethernet, ARP, IPv6 neighbour discovery, fragmentation and reassembly.
 */
#ifndef KSOCK_LWIPOPTS_H
#define KSOCK_LWIPOPTS_H

/* -- system -- */
#define NO_SYS				1
#define LWIP_TIMERS			0
#define SYS_LIGHTWEIGHT_PROT		0
#define LWIP_NETCONN			0
#define LWIP_SOCKET			0
#define LWIP_STATS			0

/* -- memory: one heap from the port (see above) --
 * lwIP's mem_malloc, mem_calloc and mem_free are ksock's allocator
 * (src/inet/heap.c: size classes, constant time), not lwIP's first-fit
 * heap (MEM_LIBC_MALLOC with mem_clib_* pointing there: no libc is
 * involved); MEMP_MEM_MALLOC puts lwIP's pools on it too. */
#define MEM_LIBC_MALLOC			1
#define MEMP_MEM_MALLOC			1
#define MEM_ALIGNMENT			8
/* 8 MiB: each busy connection holds at most a window of received data,
 * a send buffer and the loopback copy of what is in flight (about 3 *
 * 256 KiB), so this serves ten busy connections at full speed and many
 * idle ones. The heap is reserved lazily by the host (malloc of this
 * size is an mmap on Linux), so an idle ksock pays nothing. */
#define MEM_SIZE			(8 * 1024 * 1024)
#include <stddef.h>
/* Makes the @len bytes at @base the heap, all free. */
void	 ks__inet_heap_init(void *base, size_t len);
/* A block of @n bytes aligned to MEM_ALIGNMENT, or NULL if none is free. */
void	*ks__inet_heap_alloc(size_t n);
/* ks__inet_heap_alloc of @count * @size zeroed bytes (NULL on overflow). */
void	*ks__inet_heap_calloc(size_t count, size_t size);
/* Gives back a block from the two above; traps on anything else. */
void	 ks__inet_heap_free(void *p);
#define mem_clib_malloc(n)		ks__inet_heap_alloc(n)
#define mem_clib_calloc(c, n)		ks__inet_heap_calloc((c), (n))
#define mem_clib_free(p)		ks__inet_heap_free(p)

/* -- protocols -- */
#define LWIP_IPV4			1
#define LWIP_IPV6			1
#define LWIP_TCP			1
#define LWIP_UDP			1
#define LWIP_RAW			0
#define LWIP_ICMP			1
/* A link (src/inet/link.c) is Ethernet: ARP and ND resolve neighbours. */
#define LWIP_ARP			1
#define LWIP_ETHERNET			1
#define LWIP_DHCP			0
#define LWIP_AUTOIP			0
#define LWIP_IGMP			0
#define LWIP_DNS			0
#define LWIP_IPV6_MLD			0
#define LWIP_IPV6_AUTOCONFIG		0
#define LWIP_IPV6_DHCP6			0
/* The link's addresses are configured, never autoconfigured: no router
 * is asked for (the state behind it is compiled in only because nd6.c
 * otherwise warns that it is unused), and no address waits for duplicate
 * detection (link.c makes them preferred at once, as Linux's nodad). */
#define LWIP_IPV6_SEND_ROUTER_SOLICIT	1
#define LWIP_ND6_ALLOW_RA_UPDATES	0
/* Packets sent while a neighbour is being resolved wait for it, as on
 * Linux (unres_qlen), instead of all but the last being dropped: a burst
 * of datagrams to a fresh neighbour arrives whole. ARP keeps 64 per
 * neighbour; ND's queue has no limit of its own (its pool is the heap). */
#define ARP_QUEUEING			1
#define ARP_QUEUE_LEN			64
#define LWIP_ND6_QUEUEING		1
/* The loopback never fragments (its MTU, 65535, is the largest packet); the
 * link's 1500-byte MTU does, both ways, so a UDP datagram of any size
 * crosses it as on Linux. A reassembled datagram may take up to 45
 * fragments (65535 / 1480); IPv4 keeps at most 192 fragments waiting. */
#define IP_REASSEMBLY			1
#define IP_FRAG				1
#define LWIP_IPV6_FRAG			1
#define LWIP_IPV6_REASS			1
#define IP_REASS_MAX_PBUFS		192
/* IPv6 reassembly keeps its bookkeeping in the fragment header unless
 * told to copy it aside; with 64-bit pointers it does not fit there. */
#define IPV6_FRAG_COPYHEADER		1

/* -- interfaces: ksock's own loopback netif, drained under the lock -- */
#define LWIP_NETIF_LOOPBACK		1
#define LWIP_HAVE_LOOPIF		0
#define LWIP_LOOPBACK_MAX_PBUFS		0
#define LWIP_NETIF_LOOPBACK_MULTITHREADING 0
#define LWIP_SINGLE_NETIF		0
/* Checksums per interface: the link (link.c) generates and checks every
 * IP, TCP, UDP and ICMP checksum, the loopback (stack.c) none, as Linux
 * treats loopback packets (CHECKSUM_UNNECESSARY): nothing on the way can
 * corrupt them, and summing each byte cost a third of a bulk transfer. */
#define LWIP_CHECKSUM_CTRL_PER_NETIF	1

/* -- TCP -- */
#define LWIP_CALLBACK_API		1
#define SO_REUSE			1
#define LWIP_TCP_KEEPALIVE		1
/* tcp.c opens and closes a listener's gate to SYNs through its backlog
 * field: a full accept queue drops SYNs, as on Linux. */
#define TCP_LISTEN_BACKLOG		1
/*
 * Segments and windows. TCP_MSS is the largest segment lwIP ever uses;
 * each connection's is the route's MTU less the headers (lwIP's
 * TCP_CALCULATE_EFF_SEND_MSS): the loopback's MTU is 65535 (stack.c), so
 * 65495 there (65475 over IPv6), as Linux's 65536-byte loopback gives
 * 65483 with timestamps; the link's 1500 gives 1460 (1440). Window
 * scaling lets a connection have 256 KiB in flight each way, four 64 KiB
 * writes, where 16 bits stop at one; Linux's loopback starts with 128 KiB
 * of receive buffer and grows it. lwIP's sanity checks assume 16-bit
 * send buffers (TCP_SNDLOWAT below 0xffff - 4 * TCP_MSS): with window
 * scaling they are 32-bit, so stack.c states the checks that still apply
 * and lwIP's are off.
 */
#define TCP_MSS				65495
#define LWIP_WND_SCALE			1
#define TCP_RCV_SCALE			3
#define TCP_WND				(256 * 1024)
#define TCP_SND_BUF			(256 * 1024)
#define LWIP_DISABLE_TCP_SANITY_CHECKS	1
/* Send queue entries: on a link (MSS 1460, or 1440 for IPv6) a full
 * send buffer is about 180 segments; every write of a few bytes takes
 * one entry too. */
#define TCP_SND_QUEUELEN		256
#define MEMP_NUM_TCP_SEG		256
/* lwIP sizes its pool pbufs by TCP_MSS unless told, which no longer
 * fits their 16-bit size; only a multicast copy uses them (a chain of
 * link-sized pieces). */
#define PBUF_POOL_BUFSIZE		1536
#define TCP_OVERSIZE			0
#define TCP_SNDLOWAT			(TCP_SND_BUF / 2)
/* Ephemeral ports from Linux's default net.ipv4.ip_local_port_range,
 * 32768-60999. lwIP's tcp_new_port() wraps on reaching its END, so TCP
 * names the first port past the range; udp_new_port() wraps after it. */
#define INET_EPHEMERAL_FIRST		32768
#define INET_EPHEMERAL_COUNT		(60999 - 32768 + 1)
#define TCP_LOCAL_PORT_RANGE_START	INET_EPHEMERAL_FIRST
#define TCP_LOCAL_PORT_RANGE_END \
	(INET_EPHEMERAL_FIRST + INET_EPHEMERAL_COUNT)
#define TCP_ENSURE_LOCAL_PORT_RANGE(port) \
	((u16_t)(INET_EPHEMERAL_FIRST + (port) % INET_EPHEMERAL_COUNT))
#define UDP_LOCAL_PORT_RANGE_START	INET_EPHEMERAL_FIRST
#define UDP_LOCAL_PORT_RANGE_END \
	(INET_EPHEMERAL_FIRST + INET_EPHEMERAL_COUNT - 1)
#define UDP_ENSURE_LOCAL_PORT_RANGE(port) TCP_ENSURE_LOCAL_PORT_RANGE(port)

/* -- host services (src/inet/stack.c) -- */
unsigned ks__lwip_rand(void);
#define LWIP_RAND()			ks__lwip_rand()

/* Every IP packet, from any link, passes ksock before lwIP's input:
 * udp.c reads the ICMP errors lwIP ignores (Linux reports a port
 * unreachable to a connected UDP socket), and af_inet.c hands a packet
 * for another address of 127.0.0.0/8 to that address's own netif (which
 * then eats it, returning nonzero). */
struct pbuf;
struct netif;
void ks__inet_udp_icmp_peek(const struct pbuf *p);
int ks__inet_ip4_input_hook(struct pbuf *p, struct netif *inp);
#define LWIP_HOOK_IP4_INPUT(p, inp)	ks__inet_ip4_input_hook(p, inp)
#define LWIP_HOOK_IP6_INPUT(p, inp)	(ks__inet_udp_icmp_peek(p), 0)

#endif /* KSOCK_LWIPOPTS_H */

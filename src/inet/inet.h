/*
 * AF_INET and AF_INET6 over lwIP: what the files of src/inet share.
 *
 *   stack.c    the one lwIP instance: its lock, start and stop, the
 *              loopback interface, timers, waiting, lwIP's host hooks
 *   af_inet.c  the family: create, addresses, names, options, ioctl
 *   tcp.c      SOCK_STREAM on lwIP's raw TCP API
 *   udp.c      SOCK_DGRAM on lwIP's raw UDP API
 *
 * Locking model. lwIP's core is single-threaded; ksock serialises it
 * with one lock, the stack lock (inet_stack.lock, [L]). Every call into
 * lwIP, every lwIP callback (they run inside those calls, on the thread
 * that made them) and every field of struct inet_sock tagged [L] is under
 * it. The generic socket lock (so->lock, [S]) still guards what the core
 * owns: the wait queue, so->err, so->state, so->shutdown and the options.
 * src/inet writes so->state and so->shutdown with both locks held, so it
 * reads them under either; so->err, which the core's SO_ERROR clears
 * under [S] alone, only under [S].
 *
 *   Order: stack lock, then a socket lock. A socket lock is never held
 *   while calling lwIP (a callback may take any socket's lock to wake it),
 *   and nothing that holds a socket lock takes the stack lock.
 *   The all-sockets list lock [G] is taken under the stack lock when a
 *   socket is created (accept() included); nothing holding [G] takes
 *   another lock, so that order is safe too.
 *
 * A thread blocks by putting a waiter on its socket's queue (under [S],
 * with [L] held so no callback can run in between), dropping both locks
 * and parking; callbacks wake the queue under [S]. Timers are driven by
 * whoever holds the stack lock (stack.c explains).
 *
 * Tags: [I] immutable after creation, [L] stack lock, [S] socket lock.
 */
#ifndef KSOCK_INET_H
#define KSOCK_INET_H

#include "core/core.h"

#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"

struct netif;
struct tcp_pcb;
struct udp_pcb;

/* Linux's ENETUNREACH: abi.h does not name it yet. */
#define KS__ENETUNREACH		101

/* TCP states as ksock tracks them (lwIP's pcb state says the rest). */
enum inet_tcp_state {
	INET_TCP_CLOSED = 0,	/* fresh, or the connection is gone */
	INET_TCP_LISTEN,
	INET_TCP_CONNECTING,	/* SYN sent */
	INET_TCP_CONNECTED,	/* established (maybe half-closed) */
};

/* One received datagram (UDP), in lwIP's heap. */
struct inet_dgram {
	struct inet_dgram	*next;
	struct pbuf		*p;
	ip_addr_t		 from;
	uint16_t		 port;
};

struct inet_sock {
	struct ks_sock		 base;		/* [I] must be first */
	union {
		struct tcp_pcb	*tcp;
		struct udp_pcb	*udp;
	} pcb;					/* [L] NULL once gone */
	int			 tstate;	/* [L] INET_TCP_* */
	bool			 bound;		/* [L] bind or autobind done */
	bool			 v6only;	/* [L] IPV6_V6ONLY (default off) */
	bool			 peer_fin;	/* [L] TCP: the peer sent FIN */
	bool			 released;	/* [L] ks_close() ran */
	/* [L] A connection on a listener's queue, not accepted yet: this
	 * struct lives in lwIP's heap and its base is not initialised
	 * beyond family, err, state and shutdown (nobody can wait on it).
	 * accept() moves it into a socket of ksock's, so that a failed
	 * allocation there is accept's ENOMEM and the connection stays. */
	bool			 pending;
	bool			 was_connected;	/* [L] TCP: ever established */
	/* [L] TCP: a non-blocking connect said EINPROGRESS and no connect
	 * has reported the outcome yet (Linux's SS_CONNECTING). */
	bool			 nb_connect;
	/* TCP: the local address, kept for getsockname once lwIP's pcb is
	 * gone (a reset, or a connection that ended both ways). */
	ip_addr_t		 laddr;		/* [L] */
	uint16_t		 lport;		/* [L] */
	/* TCP: received bytes not yet read, as one pbuf chain, and how
	 * many of them (lwIP's tot_len is 16 bits). Linked by hand at its
	 * last pbuf (valid while rcv is not NULL), not by pbuf_cat(), which
	 * walks the whole chain for each packet: only next and len count. */
	struct pbuf		*rcv;		/* [L] */
	struct pbuf		*rcv_last;	/* [L] */
	size_t			 rcv_bytes;	/* [L] */
	/* UDP: received datagrams. */
	struct inet_dgram	*dq_head, *dq_tail; /* [L] */
	size_t			 dq_bytes;	/* [L] */
	/* A listener's connections not yet accepted, oldest first. */
	struct inet_sock	*acc_head, *acc_tail; /* [L] */
	struct inet_sock	*acc_next;	/* [L] link on that queue */
	int			 acc_count;	/* [L] */
	int			 backlog;	/* [L] */
	/* Options kept here and applied to each pcb the socket gets. */
	uint8_t			 ttl;		/* [L] IP_TTL */
	uint8_t			 hops;		/* [L] IPV6_UNICAST_HOPS */
	uint8_t			 tos;		/* [L] IP_TOS */
	int			 keepidle;	/* [L] TCP_KEEPIDLE, seconds */
	int			 keepintvl;	/* [L] TCP_KEEPINTVL, seconds */
	int			 keepcnt;	/* [L] TCP_KEEPCNT */
	int			 user_mss;	/* [L] TCP_MAXSEG, 0: none */
	int			 syncnt;	/* [L] TCP_SYNCNT */
	bool			 nodelay;	/* [L] TCP_NODELAY */
	/* [L] TCP: when a connection attempt gives up (ETIMEDOUT), as
	 * Linux's SYN retransmissions would (ns on the port's clock). */
	int64_t			 syn_deadline;
};

static inline struct inet_sock *
inet_sk(struct ks_sock *so)
{
	return (struct inet_sock *)(void *)so;
}

/* -- stack.c -- */

/* Takes the stack lock, first running lwIP's timers if one is due. */
void	ks__inet_lock(void);
/* Delivers what the loopback queued, then drops the stack lock. */
void	ks__inet_unlock(void);
/* Notes that a packet went into lwIP's input, so the unlock runs lwIP's
 * fast timer (delayed acknowledgements). Stack lock held. */
void	ks__inet_input_seen_locked(void);
/*
 * Counts one more socket on the stack, starting it (lwIP's heap from the
 * port, lwIP, the loopback) for the first. Returns 0 or -KS_ENOMEM.
 * Stack lock held.
 */
int	ks__inet_stack_get_locked(void);
/* Undoes ks__inet_stack_get_locked(); the last socket stops the stack
 * (every connection lwIP still keeps is aborted). Stack lock held. */
void	ks__inet_stack_put_locked(void);
/*
 * Waits on @so's queue for @mask until woken, @deadline (ns, -1 none) or a
 * signal, dropping the stack lock meanwhile. Returns 0 (re-check),
 * -KS_EAGAIN at the deadline or -KS_EINTR. Stack lock held (not the
 * socket lock) on entry and return.
 */
int	ks__inet_wait_locked(struct ks_sock *so, unsigned mask,
			     int64_t deadline);
/* Wakes @so's waiters for @events (takes the socket lock). Stack lock
 * held. */
void	ks__inet_wake(struct ks_sock *so, unsigned events);
/* Records @err (positive errno) as @so's SO_ERROR and wakes everyone. */
void	ks__inet_set_error(struct ks_sock *so, int err);
/* The family's init and fini (ks_init, ks_fini): the lock, no stack. */
int	ks__inet_stack_init(void);
void	ks__inet_stack_fini(void);
/*
 * Delivers @len bytes as an IP packet arriving on the loopback, as if a
 * link had received it (the fuzzer's way in, and a TAP link's later).
 * Returns 0 (lwIP took it, whatever it made of it), -KS_EINVAL (empty or
 * longer than 65535), -KS_ENETDOWN (no AF_INET socket, so no stack),
 * -KS_ENOBUFS. Takes the stack lock.
 */
int	ks__inet_loop_input(const void *packet, size_t len);
/* Copies @len bytes (at most 65535) into a packet buffer and hands it to
 * @netif's input. Returns 0 (taken) or -KS_ENOBUFS. Stack lock held. */
int	ks__inet_input_locked(struct netif *netif, const void *data,
			      size_t len);
/* Whether @addr reaches a socket here (127.0.0.1, ::1, the link's). */
bool	ks__inet_addr_is_local(const ip_addr_t *addr);
/* Whether there is a route to @addr: local, or on the link's subnets
 * (there is no default route). Stack lock held. */
bool	ks__inet_addr_is_routable(const ip_addr_t *addr);

/* -- link.c (include/ksock/link.h is the port's side) -- */

/* Whether @addr is one of the link's addresses. Stack lock held. */
bool	ks__inet_link_has_addr(const ip_addr_t *addr);
/* Whether @addr is on one of the link's subnets. Stack lock held. */
bool	ks__inet_link_reaches(const ip_addr_t *addr);
/* The stack is stopping: drops the link layer's state that lives in
 * lwIP's heap (fragments being reassembled). Stack lock held. */
void	ks__inet_link_stop_locked(void);
/* ksock starts afresh (ks_init, or a forked child whose parent had a
 * link): no link is attached. */
void	ks__inet_link_forget(void);

/* -- af_inet.c -- */

/*
 * Parses a sockaddr of @so's family into @ip and @port. Returns 0,
 * -KS_EINVAL (too short), -KS_EAFNOSUPPORT (another family),
 * -KS__ENETUNREACH (an IPv4-mapped address on an IPV6_V6ONLY socket,
 * which bind reports as EINVAL).
 * @unspec_ok: AF_UNSPEC is accepted and returns 1 (connect's "disconnect").
 */
int	ks__inet_parse_addr(struct ks_sock *so, const void *addr, uint32_t len,
			    ip_addr_t *ip, uint16_t *port, bool unspec_ok);
/* Writes @ip, @port as a sockaddr of @so's family (at most *len bytes)
 * and sets *len to its full size. */
void	ks__inet_put_addr(struct ks_sock *so, const ip_addr_t *ip,
			  uint16_t port, void *addr, uint32_t *len);
/* The wildcard address of @so's family (any-type on a dual-stack
 * AF_INET6 socket). */
void	ks__inet_any(struct ks_sock *so, ip_addr_t *ip);
/* The wildcard as a destination means this host, as on Linux: turns
 * it into the loopback address of its type. */
void	ks__inet_any_to_loopback(ip_addr_t *ip);
/* Whether @ip is a destination on this host: 0 (127.0.0.0/8, ::1),
 * -KS__ENETUNREACH (no route: the loopback is the only interface) or
 * -KS_ENOBUFS (no room to take another address of 127.0.0.0/8). Stack
 * lock held. */
int	ks__inet_local_dest(const ip_addr_t *ip);
/* The lwIP pcb type for @is: V4, V6 (IPV6_V6ONLY) or ANY (dual-stack). */
uint8_t	ks__inet_pcb_type(struct inet_sock *is);
/* Maps an lwIP error to -KS_E*. */
int	ks__inet_err(int8_t lwip_err);
/* Allocates and initialises a socket (memory from the port) and counts it
 * on the stack. Returns 0, -KS_ENOMEM. Stack lock held. */
int	ks__inet_sock_new_locked(const struct ks_proto_ops *ops, int family,
				 int type, int protocol,
				 struct inet_sock **out);
/* Frees a socket's memory (the ops' destroy). */
void	ks__inet_destroy(struct ks_sock *so);
/* Linux's defaults for the options above (net.ipv4.ip_default_ttl,
 * net.ipv6.conf.*.hop_limit, tcp_keepalive_time/intvl/probes). */
#define INET_TTL_DEFAULT	64
#define INET_KEEPIDLE_DEFAULT	7200
#define INET_KEEPINTVL_DEFAULT	75
#define INET_KEEPCNT_DEFAULT	9
#define INET_SYNCNT_DEFAULT	6	/* net.ipv4.tcp_syn_retries */
/* A TCP socket's first SO_SNDBUF and SO_RCVBUF (net.ipv4.tcp_wmem[1],
 * tcp_rmem[1]); UDP keeps the core's net.core defaults. */
#define INET_TCP_SNDBUF_DEFAULT	16384
#define INET_TCP_RCVBUF_DEFAULT	131072
/* Copies @is's TTL (or hop limit) and TOS into its pcb, if it has one.
 * Stack lock held. */
void	ks__inet_apply_ip_opts(struct inet_sock *is);
/* The IPPROTO_IP / IPPROTO_IPV6 options both types share. */
int	ks__inet_setsockopt_ip(struct ks_sock *so, int level, int name,
			       const void *val, uint32_t len);
int	ks__inet_getsockopt_ip(struct ks_sock *so, int level, int name,
			       void *val, uint32_t *len);
/* bind(2)'s address, for TCP and UDP alike: parses the @len bytes at
 * @addr into *@ip, *@port and checks that they may be bound: 0, the
 * parser's errors (a family mismatch, a short address; a mapped address
 * on an IPV6_V6ONLY socket is -KS_EINVAL, as Linux's inet6_bind()),
 * -KS_EADDRNOTAVAIL (not an address here), -KS_EACCES (a port below
 * 1024 without the port's KS_CAP_NET_BIND_SERVICE) or -KS_ENOBUFS (no
 * room for another address of 127.0.0.0/8). Stack lock held. */
int	ks__inet_bind_addr(struct ks_sock *so, const void *addr, uint32_t len,
			   ip_addr_t *ip, uint16_t *port);

/* Bits of lwIP's so_options that lwIP leaves alone and ksock uses: the
 * pcb's socket set SO_REUSEPORT (kept on lwIP's pcb so that a TIME_WAIT
 * connection still says so), and SOF_REUSEADDR lent to it for the length
 * of one bind call (ks__inet_lend_reuse below). */
#define INET_SOF_REUSEPORT	0x80u
#define INET_SOF_LENT		0x40u

/* What a bind asks of the sockets already on its port. */
struct inet_bind_req {
	bool		 reuse;		/* SO_REUSEADDR */
	bool		 reuseport;	/* SO_REUSEPORT */
	uint32_t	 uid;		/* the binding socket's owner */
};

/* Takes @so's pending error (SO_ERROR): -KS_E*, or 0. Takes the socket
 * lock. */
int	ks__inet_take_error(struct ks_sock *so);
/*
 * Reads @so's SO_REUSEADDR, SO_REUSEPORT and owner into @req and marks
 * its pcb's options @opts with them. Returns whether a bind to @port
 * needs ksock's conflict check (an option is on and the port is given).
 * Takes the socket lock.
 */
bool	ks__inet_bind_prepare(struct ks_sock *so, uint8_t *opts, uint16_t port,
			      struct inet_bind_req *req);
/*
 * Linux's rule for one other socket bound to the port and an overlapping
 * address (inet_bind_conflict, udp_lib_lport_inuse): the bind may share
 * the port when both set SO_REUSEADDR and the other does not listen
 * (@other_listens), or both set SO_REUSEPORT and the same user owns
 * them (@owner; NULL for a connection no socket holds any more, such as
 * one in TIME_WAIT, which any SO_REUSEPORT bind may share with).
 * @other_opts is the other pcb's so_options. Stack lock held.
 */
bool	ks__inet_may_share(const struct inet_bind_req *req, uint8_t other_opts,
			   bool other_listens, const struct inet_sock *owner);
/* Whether two local addresses of pcbs overlap: one a wildcard of a
 * family the other has, or both the same. */
bool	ks__inet_addr_overlaps(const ip_addr_t *a, const ip_addr_t *b);
/* Lends SOF_REUSEADDR to the pcb options @opts (marking it lent), or
 * takes a lent one back: lwIP then leaves a port ksock has already
 * judged shareable to ksock. */
void	ks__inet_lend_reuse(uint8_t *opts, bool lend);

/* -- tcp.c, udp.c -- */

extern const struct ks_proto_ops ks__inet_tcp_ops;
extern const struct ks_proto_ops ks__inet_udp_ops;
/* Creates the type's lwIP pcb for @is. Returns 0 or -KS_ENOMEM. Stack
 * lock held. */
int	ks__inet_tcp_attach_locked(struct inet_sock *is);
int	ks__inet_udp_attach_locked(struct inet_sock *is);
/*
 * ks__inet_udp_icmp_peek(p), declared in lwipopts.h as lwIP's IPv4 and
 * IPv6 input hook, looks at each packet about to enter lwIP (which
 * ignores ICMP errors) and, when it is an ICMP or ICMPv6 port
 * unreachable for a datagram a connected UDP socket sent, records
 * ECONNREFUSED on that socket, as Linux's __udp4_lib_err does. It reads
 * @p only. Stack lock held (lwIP input runs under it).
 */

#endif /* KSOCK_INET_H */

/*
 * SOCK_STREAM for AF_INET and AF_INET6 on lwIP's raw TCP API.
 *
 * lwIP owns the connection (its pcb); the socket owns what the program
 * has not read yet (the pbufs lwIP handed to the recv callback, as one
 * chain) and the queue of connections a listener has not accepted. The
 * receive window is what the socket still has room for: the socket
 * tells lwIP (tcp_recved) only when the program has read, so a reader
 * that stops reading stops its peer, as on Linux.
 *
 * Linux's rules followed here (net/ipv4/tcp.c, af_inet.c): a send on a
 * socket that is not connected is EPIPE (and SIGPIPE); a blocking send
 * sends everything; a non-blocking connect says EINPROGRESS even when the
 * loopback could answer at once, and the outcome is read with SO_ERROR;
 * closing with unread data resets the connection instead of closing it;
 * poll's mask is tcp_poll()'s.
 *
 * Locks: the stack lock for everything (inet.h); lwIP's callbacks run
 * with it held, inside the calls into lwIP made here and in stack.c.
 */
#include "inet/inet.h"

#include "lwip/mem.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

/* Linux's IPPROTO_TCP options (abi.h has no TCP options yet). */
#define INET_TCP_NODELAY	1
#define INET_TCP_KEEPIDLE	4
#define INET_TCP_KEEPINTVL	5
#define INET_TCP_KEEPCNT	6
#define INET_TCP_MAXSEG		2
#define INET_TCP_SYNCNT		7
#define INET_TCP_INFO		11
/* Linux's MAX_TCP_SYNCNT. */
#define INET_SYNCNT_MAX		127
/* Linux's SYN timing: the first retransmission after TCP_TIMEOUT_INIT,
 * each next one twice as late, none later than TCP_RTO_MAX after the
 * one before (tcp_model_timeout()). */
#define INET_SYN_RTO_INIT_S	1
#define INET_SYN_RTO_MAX_S	120
#define INET_NS_PER_S		1000000000LL
/* TCP_MAXSEG: Linux's TCP_MIN_MSS and MAX_TCP_WINDOW bound what may be
 * set (0 clears it); TCP_MSS_DEFAULT is what an unconnected socket
 * without one reads. */
#define INET_MSS_MIN		88
#define INET_MSS_MAX		32767
#define INET_MSS_DEFAULT	536
/* Linux's MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT. */
#define INET_KEEP_TIME_MAX	32767
#define INET_KEEPCNT_MAX	127

/* lwIP's own limit on half-open connections while the gate is open. */
#define INET_SYN_GATE_OPEN	255

/* The largest piece handed to tcp_write() at once (its length is 16 bits). */
#define INET_TCP_CHUNK		16384

static err_t tcp_recv_cb(void *arg, struct tcp_pcb *pcb, struct pbuf *p,
			 err_t err);
static err_t tcp_sent_cb(void *arg, struct tcp_pcb *pcb, u16_t len);
static void tcp_err_cb(void *arg, err_t err);

static void
set_state(struct inet_sock *is, int tstate, uint8_t ss)
{
	is->tstate = tstate;
	if (is->pending) {
		is->base.state = ss;
		return;
	}
	ks__lock(&is->base);
	is->base.state = ss;
	ks__unlock(&is->base);
}

/* Wakes @is's waiters; a pending connection has none (and no lock). */
static void
wake(struct inet_sock *is, unsigned events)
{
	if (!is->pending)
		ks__inet_wake(&is->base, events);
}

/* The keepalive timing lwIP uses if SO_KEEPALIVE is on (milliseconds). */
static void
apply_keepalive(struct inet_sock *is)
{
	struct tcp_pcb *pcb = is->pcb.tcp;

	if (pcb == NULL || is->tstate == INET_TCP_LISTEN)
		return;
	pcb->keep_idle = (u32_t)is->keepidle * 1000;
	pcb->keep_intvl = (u32_t)is->keepintvl * 1000;
	pcb->keep_cnt = (u32_t)is->keepcnt;
}

/*
 * SO_KEEPALIVE lives in the core's option flags, which setsockopt changes
 * without telling the family: each call on the socket (poll included)
 * brings lwIP's pcb in line before it does anything else, so the probes
 * run whenever the program waits on the socket. Stack and socket locks
 * held.
 */
static void
sync_keepalive_locked(struct inet_sock *is)
{
	struct tcp_pcb *pcb = is->pcb.tcp;

	if (pcb == NULL || is->pending || is->tstate == INET_TCP_LISTEN)
		return;
	if (ks__has_opt(&is->base, KS_OPT_KEEPALIVE))
		ip_set_option(pcb, SOF_KEEPALIVE);
	else
		ip_reset_option(pcb, SOF_KEEPALIVE);
}

/* sync_keepalive_locked() for a caller without the socket lock. */
static void
sync_keepalive(struct inet_sock *is)
{
	ks__lock(&is->base);
	sync_keepalive_locked(is);
	ks__unlock(&is->base);
}

/* A TCP_MAXSEG the program set caps the segments a connection sends, as
 * Linux's user_mss does (lwIP still announces its own MSS). */
static void
apply_user_mss(struct inet_sock *is)
{
	struct tcp_pcb *pcb = is->pcb.tcp;

	if (pcb != NULL && is->user_mss != 0 && pcb->mss > is->user_mss)
		pcb->mss = (u16_t)is->user_mss;
}

/* How long Linux tries to connect with @syncnt retransmissions of the
 * SYN before ETIMEDOUT, in nanoseconds (tcp_model_timeout()). */
static int64_t
syn_timeout_ns(int syncnt)
{
	int64_t total = 0, rto = INET_SYN_RTO_INIT_S;

	for (int i = 0; i <= syncnt; i++) {
		total += rto;
		rto = rto * 2 > INET_SYN_RTO_MAX_S ? INET_SYN_RTO_MAX_S :
		      rto * 2;
	}
	return total * INET_NS_PER_S;
}

/*
 * Ends a connection attempt that has run past Linux's SYN timeout: lwIP
 * retransmits on its own schedule (3 s first, six times), so the socket
 * keeps Linux's deadline itself. The abort reaches tcp_err_cb, which
 * records ETIMEDOUT. Checked by the calls that wait for the outcome
 * (connect, send) and by poll. Stack lock held, not the socket lock.
 */
static void
check_syn_deadline(struct inet_sock *is)
{
	struct tcp_pcb *pcb = is->pcb.tcp;

	if (is->tstate != INET_TCP_CONNECTING || pcb == NULL ||
	    ks__port->now() < is->syn_deadline)
		return;
	tcp_abort(pcb);
}

/* What to wait for a connection until: the caller's @deadline (0 for
 * none at all, -1 for ever), or the SYN deadline when that is sooner. */
static int64_t
connect_wait_until(struct inet_sock *is, int64_t deadline)
{
	if (deadline != 0 && (deadline < 0 || deadline > is->syn_deadline))
		return is->syn_deadline;
	return deadline;
}

static void
hook_pcb(struct inet_sock *is, struct tcp_pcb *pcb)
{
	is->pcb.tcp = pcb;
	tcp_arg(pcb, is);
	tcp_recv(pcb, tcp_recv_cb);
	tcp_sent(pcb, tcp_sent_cb);
	tcp_err(pcb, tcp_err_cb);
	ks__inet_apply_ip_opts(is);
	apply_keepalive(is);
	if (is->nodelay)
		tcp_nagle_disable(pcb);
}

/* Remembers the pcb's local address (its port is only known after
 * bind, listen, connect or accept). */
static void
save_local(struct inet_sock *is)
{
	if (is->pcb.tcp == NULL)
		return;
	ip_addr_copy(is->laddr, is->pcb.tcp->local_ip);
	is->lport = is->pcb.tcp->local_port;
}

/* Leaves @pcb to lwIP: no callback will name this socket again. */
static void
unhook_pcb(struct inet_sock *is)
{
	struct tcp_pcb *pcb = is->pcb.tcp;

	if (pcb == NULL)
		return;
	save_local(is);
	tcp_arg(pcb, NULL);
	if (pcb->state != LISTEN) {
		tcp_recv(pcb, NULL);
		tcp_sent(pcb, NULL);
		tcp_err(pcb, NULL);
	}
	is->pcb.tcp = NULL;
}

/* See inet.h. */
int
ks__inet_tcp_attach_locked(struct inet_sock *is)
{
	struct tcp_pcb *pcb;

	pcb = tcp_new_ip_type(ks__inet_pcb_type(is));
	if (pcb == NULL)
		return -KS_ENOMEM;
	hook_pcb(is, pcb);
	return 0;
}

/* -- callbacks (stack lock held, inside lwIP) -- */

static err_t
tcp_recv_cb(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct inet_sock *is = arg;

	if (p == NULL) {
		/* The peer's FIN: reads return 0 once the queue is empty
		 * (Linux sets RCV_SHUTDOWN). When ours went first, the
		 * connection is over for the socket (Linux's tcp_done at
		 * TIME_WAIT): lwIP finishes it alone and may free the pcb
		 * later without a callback (TIME_WAIT expiry, CLOSING), so
		 * the socket lets go of it now. */
		is->peer_fin = true;
		if (pcb->state != CLOSE_WAIT) {
			unhook_pcb(is);
			is->tstate = INET_TCP_CLOSED;
		}
		if (is->pending) {
			is->base.shutdown |= KS_RCV_SHUTDOWN;
			return ERR_OK;
		}
		ks__lock(&is->base);
		is->base.shutdown |= KS_RCV_SHUTDOWN;
		ks__wake_locked(&is->base, KS_POLLIN | KS_POLLRDHUP);
		ks__unlock(&is->base);
		return ERR_OK;
	}
	if (is->rcv == NULL)
		is->rcv = p;
	else
		is->rcv_last->next = p;
	is->rcv_bytes += p->tot_len;
	for (is->rcv_last = p; is->rcv_last->next != NULL;)
		is->rcv_last = is->rcv_last->next;
	wake(is, KS_POLLIN);
	return ERR_OK;
}

static err_t
tcp_sent_cb(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct inet_sock *is = arg;

	wake(is, KS_POLLOUT | KS__WAKE_SPACE);
	return ERR_OK;
}

/* lwIP freed the pcb: a reset, a timeout or an abort. */
static void
tcp_err_cb(void *arg, err_t err)
{
	struct inet_sock *is = arg;
	int e;

	if (is == NULL)
		return;
	is->pcb.tcp = NULL;
	if (err == ERR_CLSD) {
		/* Our FIN was acknowledged after the peer's (LAST_ACK): an
		 * orderly end, no error. */
		is->tstate = INET_TCP_CLOSED;
		if (!is->pending) {
			ks__lock(&is->base);
			is->base.state = KS_SS_UNCONNECTED;
			is->base.shutdown = KS_SHUTDOWN_MASK;
			ks__wake_locked(&is->base, KS_POLLIN | KS_POLLOUT |
					KS_POLLHUP);
			ks__unlock(&is->base);
		}
		return;
	}
	/* Besides a reset, lwIP ends a connection with ERR_ABRT when its
	 * timers give up (retransmissions, keepalive probes, the SYN
	 * deadline): Linux's ETIMEDOUT. ksock's own aborts unhook first. */
	if (is->tstate == INET_TCP_CONNECTING)
		e = err == ERR_RST ? KS_ECONNREFUSED : KS_ETIMEDOUT;
	else
		e = err == ERR_RST ? KS_ECONNRESET : KS_ETIMEDOUT;
	is->tstate = INET_TCP_CLOSED;
	/* Linux's tcp_done(): the socket is shut both ways, and closed. */
	if (is->pending) {
		is->base.state = KS_SS_UNCONNECTED;
		is->base.shutdown = KS_SHUTDOWN_MASK;
		is->base.err = e;
		return;
	}
	ks__lock(&is->base);
	is->base.state = KS_SS_UNCONNECTED;
	is->base.shutdown = KS_SHUTDOWN_MASK;
	ks__unlock(&is->base);
	ks__inet_set_error(&is->base, e);
}

static err_t
tcp_connected_cb(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct inet_sock *is = arg;

	set_state(is, INET_TCP_CONNECTED, KS_SS_CONNECTED);
	is->was_connected = true;
	apply_user_mss(is);
	ks__inet_wake(&is->base, KS_POLLOUT);
	return ERR_OK;
}

/*
 * Opens or closes @ls's gate to new SYNs: Linux drops a SYN while more
 * than backlog connections wait to be accepted (sk_acceptq_is_full), and
 * the client retries it later. lwIP drops a SYN when its listener's
 * backlog field is not above its count of half-open connections, so 0
 * closes the gate (tcp_backlog_set() would make 0 into 1).
 */
static void
update_syn_gate(struct inet_sock *ls)
{
	struct tcp_pcb_listen *lpcb = (struct tcp_pcb_listen *)ls->pcb.tcp;

	if (lpcb == NULL || ls->tstate != INET_TCP_LISTEN)
		return;
	lpcb->backlog = ls->acc_count > ls->backlog ? 0 : INET_SYN_GATE_OPEN;
}

static err_t
tcp_accept_cb(void *arg, struct tcp_pcb *newpcb, err_t err)
{
	struct inet_sock *ls = arg, *cs;

	if (err != ERR_OK || newpcb == NULL || ls == NULL)
		return ERR_VAL;
	/* The gate let the SYN in while there was room; should the queue
	 * have filled during the handshake, or lwIP's heap run dry, the
	 * connection is reset. */
	if (ls->acc_count > ls->backlog)
		goto abort;
	cs = mem_malloc(sizeof(*cs));
	if (cs == NULL)
		goto abort;
	ks__memset(cs, 0, sizeof(*cs));
	cs->pending = true;
	cs->base.family = ls->base.family;
	cs->base.type = KS_SOCK_STREAM;
	/* Options a connection inherits from its listener, as on Linux. */
	cs->v6only = ls->v6only;
	cs->ttl = ls->ttl;
	cs->hops = ls->hops;
	cs->tos = ls->tos;
	cs->keepidle = ls->keepidle;
	cs->keepintvl = ls->keepintvl;
	cs->keepcnt = ls->keepcnt;
	cs->syncnt = ls->syncnt;
	cs->user_mss = ls->user_mss;
	cs->nodelay = ls->nodelay;
	/* The owner and SO_REUSEPORT, for bind conflicts with the port
	 * (Linux's accepted socket has its listener's). */
	cs->base.uid = ls->base.uid;
	if (ls->pcb.tcp != NULL &&
	    ip_get_option(ls->pcb.tcp, INET_SOF_REUSEPORT))
		ip_set_option(newpcb, INET_SOF_REUSEPORT);
	hook_pcb(cs, newpcb);
	apply_user_mss(cs);
	save_local(cs);
	cs->bound = true;
	cs->was_connected = true;
	cs->tstate = INET_TCP_CONNECTED;
	cs->base.state = KS_SS_CONNECTED;
	if (ls->acc_tail != NULL)
		ls->acc_tail->acc_next = cs;
	else
		ls->acc_head = cs;
	ls->acc_tail = cs;
	ls->acc_count++;
	update_syn_gate(ls);
	ks__inet_wake(&ls->base, KS_POLLIN);
	return ERR_OK;

abort:
	tcp_abort(newpcb);
	return ERR_ABRT;
}

/* Frees a pending connection (a listener's close): reset, as Linux
 * resets connections nobody accepted. Stack lock held. */
static void
pending_free(struct inet_sock *cs)
{
	struct tcp_pcb *pcb = cs->pcb.tcp;

	if (pcb != NULL) {
		tcp_arg(pcb, NULL);
		tcp_recv(pcb, NULL);
		tcp_sent(pcb, NULL);
		tcp_err(pcb, NULL);
		tcp_abort(pcb);
	}
	if (cs->rcv != NULL)
		pbuf_free(cs->rcv);
	mem_free(cs);
}

/* The SOL_SOCKET options an accepted socket takes from its listener
 * (Linux clones the listener's sock: flags, buffers, timeouts, low-water
 * mark, and the rare ones such as SO_LINGER's time). */
struct inherited_opts {
	uint32_t		 optflags;
	int			 sndbuf, rcvbuf, rcvlowat;
	int64_t			 rcvtimeo, sndtimeo;
	struct ks_sock_xopts	*xopts;		/* a copy, or NULL */
};

/* Reads @ls's options into @o. Returns 0 or -KS_ENOMEM (no copy of the
 * rare ones). Takes @ls's socket lock. */
static int
inherit_opts(struct ks_sock *ls, struct inherited_opts *o)
{
	int err = 0;

	ks__lock(ls);
	o->optflags = ls->optflags;
	o->sndbuf = atomic_load(&ls->sndbuf);
	o->rcvbuf = ls->rcvbuf;
	o->rcvlowat = ls->rcvlowat;
	o->rcvtimeo = ls->rcvtimeo;
	o->sndtimeo = ls->sndtimeo;
	o->xopts = NULL;
	if (ls->xopts != NULL) {
		o->xopts = ks__alloc(sizeof(*o->xopts));
		if (o->xopts == NULL)
			err = -KS_ENOMEM;
		else
			ks__memcpy(o->xopts, ls->xopts, sizeof(*o->xopts));
	}
	ks__unlock(ls);
	return err;
}

/* Resets the connections @ls's queue holds (nobody accepted them), as
 * Linux does when a listener closes or stops. Stack lock held. */
static void
drop_pending(struct inet_sock *ls)
{
	struct inet_sock *cs;

	while ((cs = ls->acc_head) != NULL) {
		ls->acc_head = cs->acc_next;
		pending_free(cs);
	}
	ls->acc_tail = NULL;
	ls->acc_count = 0;
}

/*
 * Moves pending connection @pend of listener @ls into a socket of
 * ksock's, with @ls's socket options. Returns 0 with *@out, or
 * -KS_ENOMEM (@pend is untouched). Stack lock held.
 */
static int
pending_adopt(struct inet_sock *ls, struct inet_sock *pend,
	      struct inet_sock **out)
{
	struct inherited_opts o;
	struct inet_sock *cs;
	uint8_t state = pend->base.state, shut = pend->base.shutdown;
	int err = pend->base.err;

	cs = ks__alloc(sizeof(*cs));
	if (cs == NULL)
		return -KS_ENOMEM;
	if (inherit_opts(&ls->base, &o) < 0) {
		ks__free(cs, sizeof(*cs));
		return -KS_ENOMEM;
	}
	/* The listener holds the stack, so this cannot fail. */
	(void)ks__inet_stack_get_locked();
	ks__memcpy(cs, pend, sizeof(*cs));
	ks__sock_init(&cs->base, &ks__inet_tcp_ops, pend->base.family,
		      KS_SOCK_STREAM, KS_IPPROTO_TCP);
	cs->base.state = state;
	cs->base.shutdown = shut;
	cs->base.err = err;
	cs->base.optflags = o.optflags;
	atomic_store(&cs->base.sndbuf, o.sndbuf);
	cs->base.rcvbuf = o.rcvbuf;
	cs->base.rcvlowat = o.rcvlowat;
	cs->base.rcvtimeo = o.rcvtimeo;
	cs->base.sndtimeo = o.sndtimeo;
	cs->base.xopts = o.xopts;
	cs->pending = false;
	cs->acc_next = NULL;
	if (cs->pcb.tcp != NULL)
		tcp_arg(cs->pcb.tcp, cs);
	sync_keepalive(cs);
	mem_free(pend);
	*out = cs;
	return 0;
}

/* -- operations -- */

static int64_t
sock_deadline(struct ks_sock *so, bool rcv, bool nonblock)
{
	int64_t t;

	ks__lock(so);
	t = rcv ? so->rcvtimeo : so->sndtimeo;
	ks__unlock(so);
	return ks__deadline(t, nonblock);
}

/*
 * Linux's bind conflict check for a bind with SO_REUSEADDR or
 * SO_REUSEPORT (without either, lwIP's own check is Linux's: any pcb on
 * the port with an overlapping address refuses it), over every pcb lwIP
 * has: bound, listening, connected and in TIME_WAIT. Returns 0 or
 * -KS_EADDRINUSE. Stack lock held.
 */
static int
bind_conflict_check(struct inet_sock *is, const struct inet_bind_req *req,
		    const ip_addr_t *ip, uint16_t port)
{
	struct tcp_pcb *pcb;

	if (port == 0)
		return 0;
	for (int i = 0; i < NUM_TCP_PCB_LISTS; i++) {
		bool tw = tcp_pcb_lists[i] == &tcp_tw_pcbs;

		for (pcb = *tcp_pcb_lists[i]; pcb != NULL; pcb = pcb->next) {
			if (pcb == is->pcb.tcp || pcb->local_port != port ||
			    !ks__inet_addr_overlaps(&pcb->local_ip, ip))
				continue;
			if (!ks__inet_may_share(req, pcb->so_options,
						pcb->state == LISTEN,
						tw ? NULL : pcb->callback_arg))
				return -KS_EADDRINUSE;
		}
	}
	return 0;
}

/* Lends SOF_REUSEADDR to every pcb on @port, or takes it back, around a
 * tcp_bind() that bind_conflict_check() allowed. Stack lock held. */
static void
lend_reuse_on_port(uint16_t port, bool lend)
{
	struct tcp_pcb *pcb;

	for (int i = 0; i < NUM_TCP_PCB_LISTS; i++)
		for (pcb = *tcp_pcb_lists[i]; pcb != NULL; pcb = pcb->next)
			if (pcb->local_port == port)
				ks__inet_lend_reuse(&pcb->so_options, lend);
}

/*
 * A listen on a port other SO_REUSEPORT listeners have: allowed when each
 * overlapping listener has the option too and the same owner (lwIP
 * would refuse any second listener with SOF_REUSEADDR). Returns 0 or
 * -KS_EADDRINUSE. Stack lock held.
 */
static int
listen_reuseport_check(struct inet_sock *is)
{
	struct inet_bind_req req = { .reuseport = true, .uid = is->base.uid };
	struct tcp_pcb *pcb = is->pcb.tcp;
	struct tcp_pcb_listen *lpcb;

	for (lpcb = tcp_listen_pcbs.listen_pcbs; lpcb != NULL;
	     lpcb = lpcb->next)
		if (lpcb->local_port == pcb->local_port &&
		    ks__inet_addr_overlaps(&lpcb->local_ip, &pcb->local_ip) &&
		    !ks__inet_may_share(&req, lpcb->so_options, true,
					lpcb->callback_arg))
			return -KS_EADDRINUSE;
	return 0;
}

/* Whether an error is pending (left in place). */
static bool
has_error(struct ks_sock *so)
{
	bool pending;

	ks__lock(so);
	pending = so->err != 0;
	ks__unlock(so);
	return pending;
}

static int
tcp_bind_op(struct ks_sock *so, const void *addr, uint32_t len)
{
	struct inet_sock *is = inet_sk(so);
	struct inet_bind_req req;
	struct tcp_pcb *pcb;
	ip_addr_t ip;
	uint16_t port;
	bool shared;
	int err;

	ks__inet_lock();
	err = ks__inet_bind_addr(so, addr, len, &ip, &port);
	if (err < 0)
		goto unlock;
	err = -KS_EINVAL;
	if (is->bound || is->pcb.tcp == NULL || is->tstate != INET_TCP_CLOSED)
		goto unlock;
	pcb = is->pcb.tcp;
	shared = ks__inet_bind_prepare(so, &pcb->so_options, port, &req);
	if (shared) {
		err = bind_conflict_check(is, &req, &ip, port);
		if (err < 0)
			goto unlock;
		lend_reuse_on_port(port, true);
		ks__inet_lend_reuse(&pcb->so_options, true);
	}
	err = ks__inet_err(tcp_bind(pcb, &ip, port));
	if (shared) {
		lend_reuse_on_port(port, false);
		ks__inet_lend_reuse(&pcb->so_options, false);
	}
	if (err == 0) {
		is->bound = true;
		save_local(is);
	}
unlock:
	ks__inet_unlock();
	return err;
}

static int
tcp_listen_op(struct ks_sock *so, int backlog)
{
	struct inet_sock *is = inet_sk(so);
	struct tcp_pcb *lpcb;
	ip_addr_t any;
	err_t lerr;
	bool reuse;
	int err = 0;

	/* Linux clamps to somaxconn, a negative backlog (as unsigned)
	 * included. */
	if ((unsigned)backlog > KS_SOMAXCONN)
		backlog = KS_SOMAXCONN;
	ks__inet_lock();
	if (is->tstate == INET_TCP_LISTEN) {
		is->backlog = backlog;
		update_syn_gate(is);
		goto unlock;
	}
	err = -KS_EINVAL;
	if (is->tstate != INET_TCP_CLOSED || is->was_connected)
		goto unlock;
	if (is->pcb.tcp == NULL) {
		err = ks__inet_tcp_attach_locked(is);
		if (err < 0)
			goto unlock;
	}
	if (is->bound && is->pcb.tcp->local_port == 0) {
		/* A listener that connect(AF_UNSPEC) stopped: again on the
		 * address it kept, with its sharing options. */
		struct inet_bind_req req;

		(void)ks__inet_bind_prepare(so, &is->pcb.tcp->so_options, 0,
					    &req);
		err = ks__inet_err(tcp_bind(is->pcb.tcp, &is->laddr,
					    is->lport));
		if (err < 0)
			goto unlock;
	}
	if (!is->bound) {
		ks__inet_any(so, &any);
		err = ks__inet_err(tcp_bind(is->pcb.tcp, &any, 0));
		if (err < 0)
			goto unlock;
		is->bound = true;
	}
	/* SO_REUSEPORT listeners share the port by ksock's check; lwIP
	 * must not see SOF_REUSEADDR, or it refuses every second one. */
	reuse = ip_get_option(is->pcb.tcp, SOF_REUSEADDR) != 0;
	if (ip_get_option(is->pcb.tcp, INET_SOF_REUSEPORT)) {
		err = listen_reuseport_check(is);
		if (err < 0)
			goto unlock;
		ip_reset_option(is->pcb.tcp, SOF_REUSEADDR);
	}
	lpcb = tcp_listen_with_backlog_and_err(is->pcb.tcp, INET_SYN_GATE_OPEN,
					       &lerr);
	if (reuse)
		ip_set_option(lpcb != NULL ? lpcb : is->pcb.tcp,
			      SOF_REUSEADDR);
	if (lpcb == NULL) {
		err = ks__inet_err(lerr);
		goto unlock;
	}
	/* lwIP freed the old pcb and made a smaller listening one. */
	is->pcb.tcp = lpcb;
	tcp_arg(lpcb, is);
	tcp_accept(lpcb, tcp_accept_cb);
	save_local(is);
	is->backlog = backlog;
	set_state(is, INET_TCP_LISTEN, KS_SS_LISTENING);
	update_syn_gate(is);
	err = 0;
unlock:
	ks__inet_unlock();
	return err;
}

/* Closes one connection the program no longer holds: a reset when data
 * it never read is lost (or SO_LINGER with 0 asks for it), else a FIN.
 * Stack lock held. */
static void
tcp_close_pcb(struct inet_sock *is, bool reset)
{
	struct tcp_pcb *pcb = is->pcb.tcp;
	bool listening = is->tstate == INET_TCP_LISTEN;

	if (pcb == NULL)
		return;
	unhook_pcb(is);
	if (listening)
		tcp_close(pcb);
	else if (reset || tcp_close(pcb) != ERR_OK)
		tcp_abort(pcb);
}

/*
 * connect() with AF_UNSPEC: Linux's tcp_disconnect() resets a connection
 * (or abandons an attempt) and leaves a socket that may connect again;
 * a listener stops listening (its queued connections are reset) and
 * keeps its name, and may listen again there. Returns 0 or -KS_ENOMEM.
 * Stack lock held.
 */
static int
tcp_disconnect_locked(struct inet_sock *is)
{
	struct ks_sock *so = &is->base;
	struct tcp_pcb *pcb = is->pcb.tcp;

	if (is->tstate == INET_TCP_LISTEN) {
		tcp_close_pcb(is, false);
		drop_pending(is);
		set_state(is, INET_TCP_CLOSED, KS_SS_UNCONNECTED);
		/* A thread blocked in accept() learns that it stopped
		 * (EINVAL), as Linux's sk_error_report() tells it. */
		ks__inet_wake(&is->base, KS_POLLIN | KS_POLLOUT | KS_POLLHUP);
		return 0;
	}
	if (is->tstate == INET_TCP_CLOSED && !is->was_connected)
		return 0;
	if (pcb != NULL) {
		unhook_pcb(is);
		tcp_abort(pcb);
	}
	if (is->rcv != NULL)
		pbuf_free(is->rcv);
	is->rcv = NULL;
	is->rcv_bytes = 0;
	is->tstate = INET_TCP_CLOSED;
	is->was_connected = false;
	is->nb_connect = false;
	is->peer_fin = false;
	is->bound = false;
	ks__lock(so);
	so->state = KS_SS_UNCONNECTED;
	so->shutdown = 0;
	ks__unlock(so);
	return ks__inet_tcp_attach_locked(is);
}

static int
tcp_connect_op(struct ks_sock *so, const void *addr, uint32_t len,
	       bool nonblock)
{
	struct inet_sock *is = inet_sk(so);
	int64_t deadline;
	ip_addr_t ip;
	uint16_t port;
	int err;

	ks__inet_lock();
	sync_keepalive(is);
	err = ks__inet_parse_addr(so, addr, len, &ip, &port, true);
	if (err < 0)
		goto unlock;
	if (err == 1) {
		err = tcp_disconnect_locked(is);
		goto unlock;
	}
	switch (is->tstate) {
	case INET_TCP_CONNECTED:
		/* The first connect after a non-blocking one completed
		 * reports the success, as Linux's does. */
		err = is->nb_connect ? 0 : -KS_EISCONN;
		is->nb_connect = false;
		goto unlock;
	case INET_TCP_LISTEN:
		err = -KS_EISCONN;
		goto unlock;
	case INET_TCP_CONNECTING:
		err = -KS_EALREADY;
		if (nonblock)
			goto unlock;
		goto wait;
	default:
		break;
	}
	/* A failed attempt left an error for this call (Linux's
	 * sock_error() after the state went back to CLOSE). */
	err = ks__inet_take_error(so);
	if (err < 0 && is->pcb.tcp == NULL && !is->was_connected)
		goto unlock;
	err = -KS_EISCONN;
	if (is->was_connected)
		goto unlock;
	if (is->pcb.tcp == NULL) {
		err = ks__inet_tcp_attach_locked(is);
		if (err < 0)
			goto unlock;
		is->bound = false;
	}
	ks__inet_any_to_loopback(&ip);
	/* Routes: the link's subnets, and the loopback's addresses; nothing
	 * else (Linux on a host without a default route says the same). */
	err = ks__inet_link_reaches(&ip) ? 0 : ks__inet_local_dest(&ip);
	if (err < 0)
		goto unlock;
	err = ks__inet_err(tcp_connect(is->pcb.tcp, &ip, port,
				       tcp_connected_cb));
	if (err == -KS_EADDRINUSE)
		err = -KS_EADDRNOTAVAIL;
	if (err < 0)
		goto unlock;
	is->bound = true;
	save_local(is);
	is->tstate = INET_TCP_CONNECTING;
	is->syn_deadline = ks__port->now() + syn_timeout_ns(is->syncnt);
	err = -KS_EINPROGRESS;
	is->nb_connect = nonblock;
	if (nonblock)
		goto unlock;
wait:
	deadline = sock_deadline(so, false, false);
	for (;;) {
		int64_t until;

		check_syn_deadline(is);
		if (is->tstate != INET_TCP_CONNECTING)
			break;
		until = connect_wait_until(is, deadline);
		err = ks__inet_wait_locked(so, KS_POLLOUT, until);
		if (err == -KS_EAGAIN && until != deadline)
			continue;
		if (err == -KS_EAGAIN)
			err = -KS_EINPROGRESS;
		if (err < 0)
			goto unlock;
	}
	err = is->tstate == INET_TCP_CONNECTED ? 0 :
	      ks__inet_take_error(so);
	if (err == 0 && is->tstate != INET_TCP_CONNECTED)
		err = -KS_ECONNABORTED;
	/* This call reported the outcome: the next connect is EISCONN. */
	if (err == 0)
		is->nb_connect = false;
unlock:
	ks__inet_unlock();
	return err;
}

static int
tcp_accept_op(struct ks_sock *so, int flags, bool nonblock,
	      struct ks_sock **out)
{
	struct inet_sock *is = inet_sk(so), *cs, *pend, *next;
	int64_t deadline = -2;
	int err = 0;

	ks__inet_lock();
	for (;;) {
		if (is->tstate != INET_TCP_LISTEN) {
			err = -KS_EINVAL;
			goto unlock;
		}
		if (is->acc_head != NULL)
			break;
		if (deadline == -2)
			deadline = sock_deadline(so, true, nonblock);
		err = ks__inet_wait_locked(so, KS_POLLIN, deadline);
		if (err < 0)
			goto unlock;
	}
	pend = is->acc_head;
	next = pend->acc_next;
	err = pending_adopt(is, pend, &cs);
	if (err < 0)
		goto unlock;
	is->acc_head = next;
	if (is->acc_head == NULL)
		is->acc_tail = NULL;
	is->acc_count--;
	update_syn_gate(is);
	*out = &cs->base;
unlock:
	ks__inet_unlock();
	return err;
}

/* Whether lwIP would take more bytes now. */
static bool
tcp_has_space(struct tcp_pcb *pcb)
{
	return tcp_sndbuf(pcb) > 0 && tcp_sndqueuelen(pcb) + 1 < TCP_SND_QUEUELEN;
}

/* How many bytes one tcp_write() may take without running out of send
 * queue entries: one for what joins the last queued segment, then one per
 * new segment of at most an MSS (on a link the MSS is small enough for
 * the queue, not the buffer, to be the limit). */
static size_t
tcp_queue_room(struct tcp_pcb *pcb)
{
	return (size_t)(TCP_SND_QUEUELEN - tcp_sndqueuelen(pcb) - 1) *
	       tcp_mss(pcb);
}

static long
tcp_sendmsg_op(struct ks_sock *so, const struct ks_msghdr *msg,
	       struct ks_iter *it, int flags)
{
	struct inet_sock *is = inet_sk(so);
	bool nonblock = (flags & KS_MSG_DONTWAIT) != 0;
	int64_t deadline = -2;
	long sent = 0;
	int err = 0;

	/* lwIP has no urgent data to send: refused, where Linux would send
	 * it (docs/inet.md lists the difference). */
	if (flags & KS_MSG_OOB)
		return -KS_EOPNOTSUPP;
	ks__inet_lock();
	sync_keepalive(is);
	for (;;) {
		int64_t until;

		check_syn_deadline(is);
		if (is->tstate != INET_TCP_CONNECTING)
			break;
		if (deadline == -2)
			deadline = sock_deadline(so, false, nonblock);
		until = connect_wait_until(is, deadline);
		err = ks__inet_wait_locked(so, KS_POLLOUT, until);
		if (err == -KS_EAGAIN && until != deadline)
			continue;
		if (err < 0)
			goto out;
	}
	while (it->count > 0 || sent == 0) {
		struct ks_iter saved;
		struct pbuf *bounce;
		size_t n;
		err_t werr;

		/* An error after some bytes went stays pending for the next
		 * call, as Linux leaves sk_err after a short send. */
		if (sent > 0 && has_error(so))
			break;
		err = ks__inet_take_error(so);
		if (err < 0)
			break;
		if (is->tstate != INET_TCP_CONNECTED || is->pcb.tcp == NULL ||
		    (so->shutdown & KS_SEND_SHUTDOWN)) {
			err = -KS_EPIPE;
			break;
		}
		if (it->count == 0)
			break;
		if (!tcp_has_space(is->pcb.tcp)) {
			tcp_output(is->pcb.tcp);
			if (deadline == -2)
				deadline = sock_deadline(so, false, nonblock);
			err = ks__inet_wait_locked(so, KS_POLLOUT, deadline);
			if (err < 0)
				break;
			continue;
		}
		n = tcp_sndbuf(is->pcb.tcp);
		if (n > tcp_queue_room(is->pcb.tcp))
			n = tcp_queue_room(is->pcb.tcp);
		if (n > it->count)
			n = it->count;
		if (n > INET_TCP_CHUNK)
			n = INET_TCP_CHUNK;
		bounce = pbuf_alloc(PBUF_RAW, (u16_t)n, PBUF_RAM);
		if (bounce == NULL) {
			err = -KS_ENOBUFS;
			break;
		}
		saved = *it;
		err = ks__iter_copy_from(it, bounce->payload, n);
		if (err == 0) {
			werr = tcp_write(is->pcb.tcp, bounce->payload, (u16_t)n,
					 TCP_WRITE_FLAG_COPY |
					 (it->count > 0 ? TCP_WRITE_FLAG_MORE : 0));
			err = ks__inet_err(werr);
		}
		pbuf_free(bounce);
		if (err < 0) {
			*it = saved;
			break;
		}
		sent += (long)n;
	}
	if (is->pcb.tcp != NULL && is->tstate == INET_TCP_CONNECTED)
		tcp_output(is->pcb.tcp);
out:
	ks__inet_unlock();
	if (sent > 0)
		return sent;
	if (err == -KS_EPIPE && !(flags & KS_MSG_NOSIGNAL))
		ks__port->signal_pipe();
	return err;
}

/* Copies up to @n queued bytes to @it (consuming them unless @peek).
 * Returns the count or -KS_EFAULT. */
static long
rcv_copy(struct inet_sock *is, struct ks_iter *it, size_t n, bool peek)
{
	struct pbuf *q;
	size_t done = 0;
	int err;

	for (q = is->rcv; q != NULL && done < n; q = q->next) {
		size_t k = q->len;

		if (k > n - done)
			k = n - done;
		err = ks__iter_copy_to(it, q->payload, k);
		if (err < 0)
			return done > 0 ? (long)done : err;
		done += k;
	}
	if (peek)
		return (long)done;
	for (size_t left = done; left > 0;) {
		u16_t k = left > 0xffff ? 0xffff : (u16_t)left;

		is->rcv = pbuf_free_header(is->rcv, k);
		if (is->pcb.tcp != NULL)
			tcp_recved(is->pcb.tcp, k);
		left -= k;
	}
	is->rcv_bytes -= done;
	return (long)done;
}

static long
tcp_recvmsg_op(struct ks_sock *so, struct ks_msghdr *msg, struct ks_iter *it,
	       int flags)
{
	struct inet_sock *is = inet_sk(so);
	bool nonblock = (flags & KS_MSG_DONTWAIT) != 0;
	bool peek = (flags & KS_MSG_PEEK) != 0;
	size_t want = it->count, target;
	int64_t deadline = -2;
	long copied = 0, r;
	int err = 0;

	/* There is never urgent data to read (Linux: EINVAL), nor anything
	 * on the error queue (no IP_RECVERR yet: EAGAIN, as when empty). */
	if (flags & KS_MSG_OOB)
		return -KS_EINVAL;
	if (flags & KS_MSG_ERRQUEUE)
		return -KS_EAGAIN;
	msg->msg_namelen = 0;
	msg->msg_controllen = 0;
	ks__inet_lock();
	if (is->tstate == INET_TCP_LISTEN) {
		err = -KS_ENOTCONN;
		goto unlock;
	}
	/* Linux's sock_rcvlowat(): wait for SO_RCVLOWAT bytes, or the whole
	 * buffer with MSG_WAITALL, but never more than asked for. */
	ks__lock(so);
	sync_keepalive_locked(is);
	target = (size_t)so->rcvlowat;
	ks__unlock(so);
	if ((flags & KS_MSG_WAITALL) || target > want)
		target = want;
	for (;;) {
		if (is->rcv_bytes > 0 && it->count > 0) {
			size_t n = it->count < is->rcv_bytes ? it->count :
				   is->rcv_bytes;

			r = rcv_copy(is, it, n, peek);
			if (r < 0) {
				err = (int)r;
				break;
			}
			copied += r;
			if (peek || (size_t)copied >= target)
				break;
			continue;
		}
		if (want == 0)
			break;
		/* After some bytes, an error is left for the next call
		 * (Linux's tcp_recvmsg stops and keeps sk_err). */
		if (copied > 0 && has_error(so))
			break;
		err = ks__inet_take_error(so);
		if (err < 0)
			break;
		if (so->shutdown & KS_RCV_SHUTDOWN)
			break;
		if (is->tstate == INET_TCP_CLOSED) {
			/* Never connected: Linux says ENOTCONN. */
			if (!is->was_connected)
				err = -KS_ENOTCONN;
			break;
		}
		if (deadline == -2)
			deadline = sock_deadline(so, true, nonblock);
		err = ks__inet_wait_locked(so, KS_POLLIN, deadline);
		if (err < 0)
			break;
	}
	if (!peek && copied > 0 && is->pcb.tcp != NULL)
		tcp_output(is->pcb.tcp);
unlock:
	ks__inet_unlock();
	return copied > 0 ? copied : err;
}

static int
tcp_shutdown_op(struct ks_sock *so, int how)
{
	struct inet_sock *is = inet_sk(so);
	unsigned bits = (unsigned)how + 1;
	int err = 0;

	ks__inet_lock();
	/* Linux's inet_shutdown(): a listener shut for reading stops, as
	 * after connect(AF_UNSPEC), which is how a program wakes a thread
	 * blocked in accept() (EINVAL); shut for writing only, it goes on. */
	if (is->tstate == INET_TCP_LISTEN) {
		if (bits & KS_RCV_SHUTDOWN)
			err = tcp_disconnect_locked(is);
		goto unlock;
	}
	/* A socket with no connection is ENOTCONN, yet takes the bits all
	 * the same (poll and recv then see them), as on Linux. */
	if (is->tstate == INET_TCP_CLOSED) {
		err = -KS_ENOTCONN;
		goto mark;
	}
	if ((bits & KS_SEND_SHUTDOWN) && !(so->shutdown & KS_SEND_SHUTDOWN) &&
	    is->pcb.tcp != NULL)
		err = ks__inet_err(tcp_shutdown(is->pcb.tcp, 0, 1));
	if (err < 0)
		goto unlock;
mark:
	ks__lock(so);
	so->shutdown |= bits;
	ks__wake_locked(so, KS_POLLIN | KS_POLLOUT | KS_POLLHUP |
			    KS_POLLRDHUP);
	ks__unlock(so);
unlock:
	ks__inet_unlock();
	return err;
}

static int
tcp_getname_op(struct ks_sock *so, void *addr, uint32_t *len, bool peer)
{
	struct inet_sock *is = inet_sk(so);
	struct tcp_pcb *pcb;
	int err = 0;

	ks__inet_lock();
	pcb = is->pcb.tcp;
	if (peer) {
		if (is->tstate != INET_TCP_CONNECTED || pcb == NULL)
			err = -KS_ENOTCONN;
		else
			ks__inet_put_addr(so, &pcb->remote_ip,
					  pcb->remote_port, addr, len);
	} else if (pcb != NULL && is->bound) {
		ks__inet_put_addr(so, &pcb->local_ip, pcb->local_port, addr,
				  len);
	} else if (is->bound) {
		ks__inet_put_addr(so, &is->laddr, is->lport, addr, len);
	} else {
		ks__inet_put_addr(so, NULL, 0, addr, len);
	}
	ks__inet_unlock();
	return err;
}

/* Linux's sk_stream_is_writeable(): free space at least half of what is
 * queued. The field itself: tcp_sndbuf() stops at 16 bits, and with
 * window scaling the buffer is larger (lwipopts.h). */
static bool
tcp_writable(struct tcp_pcb *pcb)
{
	size_t space = pcb->snd_buf;

	return tcp_has_space(pcb) && space * 2 >= TCP_SND_BUF - space;
}

static unsigned
tcp_poll_op(struct ks_sock *so, struct ks_poll_entry *pe)
{
	struct inet_sock *is = inet_sk(so);
	unsigned mask = 0;

	ks__inet_lock();
	check_syn_deadline(is);
	ks__lock(so);
	if (pe != NULL)
		ks__poll_link_add_locked(so, pe, &pe->link[0]);
	sync_keepalive_locked(is);
	if (is->tstate == INET_TCP_LISTEN) {
		if (is->acc_head != NULL)
			mask = KS_POLLIN | KS_POLLRDNORM;
		goto unlock;
	}
	if (so->shutdown == KS_SHUTDOWN_MASK || is->tstate == INET_TCP_CLOSED)
		mask |= KS_POLLHUP;
	if (so->shutdown & KS_RCV_SHUTDOWN)
		mask |= KS_POLLIN | KS_POLLRDNORM | KS_POLLRDHUP;
	if (is->tstate != INET_TCP_CONNECTING) {
		/* Readable from SO_RCVLOWAT bytes on (tcp_epollin_ready). */
		if (is->rcv_bytes > 0 &&
		    is->rcv_bytes >= (size_t)so->rcvlowat)
			mask |= KS_POLLIN | KS_POLLRDNORM;
		if (so->shutdown & KS_SEND_SHUTDOWN)
			mask |= KS_POLLOUT | KS_POLLWRNORM;
		else if (is->pcb.tcp == NULL || tcp_writable(is->pcb.tcp))
			mask |= KS_POLLOUT | KS_POLLWRNORM;
	}
	if (so->err)
		mask |= KS_POLLERR;
unlock:
	ks__unlock(so);
	ks__inet_unlock();
	return mask;
}

static int
tcp_ioctl_op(struct ks_sock *so, unsigned long cmd, void *arg)
{
	struct inet_sock *is = inet_sk(so);
	int v, err = 0;

	ks__inet_lock();
	switch (cmd) {
	case KS_FIONREAD:
		if (is->tstate == INET_TCP_LISTEN)
			err = -KS_EINVAL;
		v = (int)is->rcv_bytes;
		break;
	case KS_SIOCOUTQ:
		if (is->tstate == INET_TCP_LISTEN)
			err = -KS_EINVAL;
		/* Sent but not acknowledged, and not sent yet. */
		v = is->pcb.tcp == NULL || is->tstate == INET_TCP_LISTEN ? 0 :
		    (int)(is->pcb.tcp->snd_lbb - is->pcb.tcp->lastack);
		break;
	default:
		err = -KS_ENOTTY;
		break;
	}
	ks__inet_unlock();
	if (err < 0)
		return err;
	return ks__port->copy_to_user(arg, &v, sizeof(v));
}

/* Where the int IPPROTO_TCP option @name that is kept as set (keepalive
 * timing, TCP_SYNCNT) lives in @is, or NULL. */
static int *
keep_field(struct inet_sock *is, int name)
{
	switch (name) {
	case INET_TCP_KEEPIDLE:		return &is->keepidle;
	case INET_TCP_KEEPINTVL:	return &is->keepintvl;
	case INET_TCP_KEEPCNT:		return &is->keepcnt;
	case INET_TCP_SYNCNT:		return &is->syncnt;
	default:			return NULL;
	}
}

/* TCP_MAXSEG as Linux's do_tcp_setsockopt() takes it: 0 clears it, else
 * TCP_MIN_MSS to MAX_TCP_WINDOW. It applies to connections made after
 * (and accepted ones inherit it). Stack lock held. */
static int
set_maxseg_locked(struct inet_sock *is, int v)
{
	if (v != 0 && (v < INET_MSS_MIN || v > INET_MSS_MAX))
		return -KS_EINVAL;
	is->user_mss = v;
	return 0;
}

/* TCP_MAXSEG as Linux's do_tcp_getsockopt() reads it: a connection's
 * segment size, else what the program set, else TCP_MSS_DEFAULT. Stack
 * lock held. */
static int
get_maxseg_locked(struct inet_sock *is)
{
	bool live = is->tstate == INET_TCP_CONNECTED ||
		    is->tstate == INET_TCP_CONNECTING;

	if (live && is->pcb.tcp != NULL)
		return is->pcb.tcp->mss;
	return is->user_mss != 0 ? is->user_mss : INET_MSS_DEFAULT;
}

static int
tcp_setsockopt_op(struct ks_sock *so, int level, int name, const void *val,
		  uint32_t len)
{
	struct inet_sock *is = inet_sk(so);
	int v, *field, max, err = 0;

	if (level != KS_IPPROTO_TCP)
		return ks__inet_setsockopt_ip(so, level, name, val, len);
	field = keep_field(is, name);
	if (name != INET_TCP_NODELAY && name != INET_TCP_MAXSEG &&
	    field == NULL)
		return -KS_ENOPROTOOPT;
	if (len < sizeof(int))
		return -KS_EINVAL;
	ks__memcpy(&v, val, sizeof(v));
	if (field != NULL) {
		max = name == INET_TCP_KEEPCNT ? INET_KEEPCNT_MAX :
		      name == INET_TCP_SYNCNT ? INET_SYNCNT_MAX :
		      INET_KEEP_TIME_MAX;
		if (v < 1 || v > max)
			return -KS_EINVAL;
	}
	ks__inet_lock();
	sync_keepalive(is);
	if (field != NULL) {
		*field = v;
		apply_keepalive(is);
	} else if (name == INET_TCP_MAXSEG) {
		err = set_maxseg_locked(is, v);
	} else {
		/* Kept on the socket: a listener has no pcb to hold it (its
		 * connections inherit it, as on Linux), and a connection
		 * keeps it after its pcb is gone. */
		is->nodelay = v != 0;
		if (is->pcb.tcp != NULL && is->tstate != INET_TCP_LISTEN) {
			if (v)
				tcp_nagle_disable(is->pcb.tcp);
			else
				tcp_nagle_enable(is->pcb.tcp);
		}
	}
	ks__inet_unlock();
	return err;
}

/*
 * Linux's struct tcp_info as far as glibc's <netinet/tcp.h> describes it
 * (up to tcpi_total_retrans); Linux copies at most as much as the caller
 * asked for, and so does ksock, from this part. Times in microseconds.
 */
struct inet_tcp_info {
	uint8_t		state, ca_state, retransmits, probes;
	uint8_t		backoff, options, wscale, app_limited;
	uint32_t	rto, ato, snd_mss, rcv_mss;
	uint32_t	unacked, sacked, lost, retrans, fackets;
	uint32_t	last_data_sent, last_ack_sent, last_data_recv;
	uint32_t	last_ack_recv, pmtu, rcv_ssthresh, rtt, rttvar;
	uint32_t	snd_ssthresh, snd_cwnd, advmss, reordering;
	uint32_t	rcv_rtt, rcv_space, total_retrans;
};

/* Linux's TCP states (include/net/tcp_states.h), by lwIP's state. */
static const uint8_t linux_tcp_state[] = {
	[CLOSED] = 7, [LISTEN] = 10, [SYN_SENT] = 2, [SYN_RCVD] = 3,
	[ESTABLISHED] = 1, [FIN_WAIT_1] = 4, [FIN_WAIT_2] = 5,
	[CLOSE_WAIT] = 8, [CLOSING] = 11, [LAST_ACK] = 9, [TIME_WAIT] = 6,
};
#define INET_TCP_CLOSE		7	/* a socket lwIP has let go of */
#define INET_TCP_LISTEN_STATE	10
/* Linux's loopback MTU, which TCP_INFO reports as the path's. */
#define INET_LOOP_MTU		65536
#define INET_US_PER_TICK	(TCP_SLOW_INTERVAL * 1000)

/*
 * TCP_INFO, minimal: the state as Linux numbers it, and what lwIP knows
 * of the connection (segment size, retransmission timeout and round
 * trip in its 500 ms ticks, congestion window in segments, segments not
 * acknowledged); the rest reads 0. Stack lock held.
 */
static void
get_info_locked(struct inet_sock *is, struct inet_tcp_info *ti)
{
	struct tcp_pcb *pcb = is->pcb.tcp;
	struct tcp_seg *seg;

	ks__memset(ti, 0, sizeof(*ti));
	if (is->tstate == INET_TCP_LISTEN) {
		ti->state = INET_TCP_LISTEN_STATE;
		return;
	}
	if (pcb == NULL) {
		ti->state = INET_TCP_CLOSE;
		return;
	}
	ti->state = linux_tcp_state[pcb->state];
	ti->retransmits = pcb->nrtx;
	ti->rto = (uint32_t)pcb->rto * INET_US_PER_TICK;
	ti->snd_mss = pcb->mss;
	ti->rcv_mss = pcb->mss;
	for (seg = pcb->unacked; seg != NULL; seg = seg->next)
		ti->unacked++;
	ti->pmtu = INET_LOOP_MTU;
	ti->rtt = (uint32_t)(pcb->sa >> 3) * INET_US_PER_TICK;
	ti->rttvar = (uint32_t)(pcb->sv >> 2) * INET_US_PER_TICK;
	ti->snd_ssthresh = pcb->mss != 0 ? pcb->ssthresh / pcb->mss : 0;
	ti->snd_cwnd = pcb->mss != 0 ? pcb->cwnd / pcb->mss : 0;
	ti->advmss = TCP_MSS;
	ti->rcv_space = pcb->rcv_wnd;
}

static int
tcp_getsockopt_op(struct ks_sock *so, int level, int name, void *val,
		  uint32_t *len)
{
	struct inet_sock *is = inet_sk(so);
	int v = 0, *field;

	if (level != KS_IPPROTO_TCP)
		return ks__inet_getsockopt_ip(so, level, name, val, len);
	if (name == INET_TCP_INFO) {
		struct inet_tcp_info ti;

		ks__inet_lock();
		get_info_locked(is, &ti);
		ks__inet_unlock();
		if (*len > sizeof(ti))
			*len = sizeof(ti);
		ks__memcpy(val, &ti, *len);
		return 0;
	}
	field = keep_field(is, name);
	if (name != INET_TCP_NODELAY && name != INET_TCP_MAXSEG &&
	    field == NULL)
		return -KS_ENOPROTOOPT;
	ks__inet_lock();
	sync_keepalive(is);
	if (field != NULL)
		v = *field;
	else if (name == INET_TCP_MAXSEG)
		v = get_maxseg_locked(is);
	else
		v = is->nodelay;
	ks__inet_unlock();
	if (*len > sizeof(v))
		*len = sizeof(v);
	ks__memcpy(val, &v, *len);
	return 0;
}

static void
tcp_release_locked(struct inet_sock *is)
{
	struct ks_sock *so = &is->base;
	bool reset;

	ks__lock(so);
	reset = is->rcv_bytes > 0 ||
		(ks__has_opt(so, KS_OPT_LINGER) &&
		 (so->xopts == NULL || so->xopts->linger == 0));
	ks__unlock(so);
	tcp_close_pcb(is, reset);
	drop_pending(is);
	if (is->rcv != NULL)
		pbuf_free(is->rcv);
	is->rcv = NULL;
	is->rcv_bytes = 0;
	is->tstate = INET_TCP_CLOSED;
	is->released = true;
	ks__lock(so);
	so->shutdown = KS_SHUTDOWN_MASK;
	so->state = KS_SS_UNCONNECTED;
	ks__wake_locked(so, KS_POLLIN | KS_POLLOUT | KS_POLLHUP | KS_POLLERR);
	ks__unlock(so);
	ks__inet_stack_put_locked();
}

static void
tcp_release_op(struct ks_sock *so)
{
	ks__inet_lock();
	tcp_release_locked(inet_sk(so));
	ks__inet_unlock();
}

const struct ks_proto_ops ks__inet_tcp_ops = {
	.bind		= tcp_bind_op,
	.listen		= tcp_listen_op,
	.connect	= tcp_connect_op,
	.accept		= tcp_accept_op,
	.sendmsg	= tcp_sendmsg_op,
	.recvmsg	= tcp_recvmsg_op,
	.shutdown	= tcp_shutdown_op,
	.getname	= tcp_getname_op,
	.poll		= tcp_poll_op,
	.ioctl		= tcp_ioctl_op,
	.setsockopt	= tcp_setsockopt_op,
	.getsockopt	= tcp_getsockopt_op,
	.release	= tcp_release_op,
	.destroy	= ks__inet_destroy,
	.diag		= ks__no_diag,
};

/*
 * The AF_INET and AF_INET6 families: socket creation, addresses in
 * Linux's sockaddr layouts, the options both types share, and lwIP's
 * errors in errno terms. SOCK_STREAM is tcp.c, SOCK_DGRAM udp.c.
 *
 * An AF_INET6 socket is dual-stack unless IPV6_V6ONLY is set, as on
 * Linux (net.ipv6.bindv6only = 0): its lwIP pcb is of type ANY, an
 * IPv4-mapped address (::ffff:a.b.c.d) in a sockaddr_in6 is taken as the
 * IPv4 address, the wildcard :: as lwIP's any-type wildcard, and IPv4
 * peers are reported mapped.
 *
 * Locks: the stack lock (inet.h); socket locks only as inet.h orders.
 */
#include "inet/inet.h"

#include "lwip/ip.h"
#include "lwip/mem.h"
#include "lwip/netif.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"

/* Linux's SIN6_LEN_RFC2133: a sockaddr_in6 without sin6_scope_id. */
#define INET6_ADDRLEN_MIN	24

/* Linux's IP-level option numbers (abi.h does not name them yet). */
#define INET_IP_TOS		1
#define INET_IP_TTL		2
#define INET_IPPROTO_IPV6	41
#define INET_IPV6_UNICAST_HOPS	16
#define INET_IPV6_V6ONLY	26
/* The ECN bits of IP_TOS, which Linux keeps from the stack on a TCP
 * socket whatever the program sets. */
#define INET_ECN_MASK		3

static const uint8_t v4mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
};
static const uint8_t in6_any[16];

/* See inet.h. */
int
ks__inet_err(int8_t lwip_err)
{
	switch (lwip_err) {
	case ERR_OK:		return 0;
	case ERR_MEM:		return -KS_ENOBUFS;
	case ERR_BUF:		return -KS_ENOBUFS;
	case ERR_TIMEOUT:	return -KS_ETIMEDOUT;
	case ERR_RTE:		return -KS__ENETUNREACH;
	case ERR_INPROGRESS:	return -KS_EINPROGRESS;
	case ERR_USE:		return -KS_EADDRINUSE;
	case ERR_ALREADY:	return -KS_EALREADY;
	case ERR_ISCONN:	return -KS_EISCONN;
	case ERR_CONN:		return -KS_ENOTCONN;
	case ERR_IF:		return -KS_ENETDOWN;
	case ERR_ABRT:		return -KS_ECONNABORTED;
	case ERR_RST:		return -KS_ECONNRESET;
	case ERR_CLSD:		return -KS_ENOTCONN;
	default:		return -KS_EINVAL;
	}
}

/* See inet.h. */
int
ks__inet_parse_addr(struct ks_sock *so, const void *addr, uint32_t len,
		    ip_addr_t *ip, uint16_t *port, bool unspec_ok)
{
	uint16_t family;

	if (addr == NULL || len < sizeof(family))
		return -KS_EINVAL;
	ks__memcpy(&family, addr, sizeof(family));
	if (family == 0 /* AF_UNSPEC */ && unspec_ok)
		return 1;
	if (so->family == KS_AF_INET) {
		struct ks_sockaddr_in sin;

		if (len < sizeof(sin))
			return -KS_EINVAL;
		ks__memcpy(&sin, addr, sizeof(sin));
		/* Linux's inet_bind takes AF_UNSPEC with INADDR_ANY, for
		 * programs of old. */
		if (sin.sin_family != KS_AF_INET &&
		    (sin.sin_family != 0 || sin.sin_addr.s_addr != 0))
			return -KS_EAFNOSUPPORT;
		ip_addr_set_ip4_u32_val(*ip, sin.sin_addr.s_addr);
		*port = lwip_ntohs(sin.sin_port);
		return 0;
	} else {
		struct ks_sockaddr_in6 sin6;

		if (len < INET6_ADDRLEN_MIN)
			return -KS_EINVAL;
		ks__memset(&sin6, 0, sizeof(sin6));
		ks__memcpy(&sin6, addr, len < sizeof(sin6) ? len : sizeof(sin6));
		if (sin6.sin6_family != KS_AF_INET6)
			return -KS_EAFNOSUPPORT;
		*port = lwip_ntohs(sin6.sin6_port);
		if (!inet_sk(so)->v6only &&
		    ks__memcmp(sin6.sin6_addr.s6_bytes, v4mapped_prefix, 12) == 0) {
			uint32_t a4;

			ks__memcpy(&a4, sin6.sin6_addr.s6_bytes + 12, 4);
			ip_addr_set_ip4_u32_val(*ip, a4);
			return 0;
		}
		/* Linux: a mapped address on an IPv6-only socket has no
		 * route (connect, sendto); bind makes that EINVAL. */
		if (ks__memcmp(sin6.sin6_addr.s6_bytes, v4mapped_prefix, 12) == 0)
			return -KS__ENETUNREACH;
		if (!inet_sk(so)->v6only &&
		    ks__memcmp(sin6.sin6_addr.s6_bytes, in6_any, 16) == 0) {
			ip_addr_copy(*ip, *IP_ANY_TYPE);
			return 0;
		}
		ks__memset(ip, 0, sizeof(*ip));
		ks__memcpy(ip_2_ip6(ip)->addr, sin6.sin6_addr.s6_bytes, 16);
		IP_SET_TYPE_VAL(*ip, IPADDR_TYPE_V6);
		return 0;
	}
}

/* See inet.h. */
void
ks__inet_put_addr(struct ks_sock *so, const ip_addr_t *ip, uint16_t port,
		  void *addr, uint32_t *len)
{
	uint32_t want;

	if (so->family == KS_AF_INET) {
		struct ks_sockaddr_in sin;

		ks__memset(&sin, 0, sizeof(sin));
		sin.sin_family = KS_AF_INET;
		sin.sin_port = lwip_htons(port);
		if (ip != NULL && IP_IS_V4(ip))
			sin.sin_addr.s_addr = ip4_addr_get_u32(ip_2_ip4(ip));
		want = sizeof(sin);
		ks__memcpy(addr, &sin, *len < want ? *len : want);
	} else {
		struct ks_sockaddr_in6 sin6;

		ks__memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = KS_AF_INET6;
		sin6.sin6_port = lwip_htons(port);
		if (ip != NULL && IP_IS_V6(ip)) {
			ks__memcpy(sin6.sin6_addr.s6_bytes, ip_2_ip6(ip)->addr,
				   16);
		} else if (ip != NULL && IP_IS_V4(ip)) {
			uint32_t a4 = ip4_addr_get_u32(ip_2_ip4(ip));

			ks__memcpy(sin6.sin6_addr.s6_bytes, v4mapped_prefix, 12);
			ks__memcpy(sin6.sin6_addr.s6_bytes + 12, &a4, 4);
		}
		want = sizeof(sin6);
		ks__memcpy(addr, &sin6, *len < want ? *len : want);
	}
	*len = want;
}

/* See inet.h. */
void
ks__inet_any(struct ks_sock *so, ip_addr_t *ip)
{
	if (so->family == KS_AF_INET)
		ip_addr_set_ip4_u32_val(*ip, 0);
	else if (!inet_sk(so)->v6only)
		ip_addr_copy(*ip, *IP_ANY_TYPE);
	else {
		ks__memset(ip, 0, sizeof(*ip));
		IP_SET_TYPE_VAL(*ip, IPADDR_TYPE_V6);
	}
}

/* See inet.h. */
void
ks__inet_any_to_loopback(ip_addr_t *ip)
{
	if (!ip_addr_isany(ip))
		return;
	if (IP_IS_V6(ip))
		ip6_addr_set_loopback(ip_2_ip6(ip));
	else
		ip_addr_set_ip4_u32_val(*ip, PP_HTONL(IPADDR_LOOPBACK));
}

/* See inet.h. */
uint8_t
ks__inet_pcb_type(struct inet_sock *is)
{
	if (is->base.family == KS_AF_INET)
		return IPADDR_TYPE_V4;
	return is->v6only ? IPADDR_TYPE_V6 : IPADDR_TYPE_ANY;
}

/* Ports below this need CAP_NET_BIND_SERVICE (Linux's PROT_SOCK, the
 * default of net.ipv4.ip_unprivileged_port_start). */
#define INET_PROT_SOCK		1024

static int
check_bind_port(uint16_t port)
{
	if (port != 0 && port < INET_PROT_SOCK &&
	    !ks__port->capable(KS_CAP_NET_BIND_SERVICE))
		return -KS_EACCES;
	return 0;
}

/*
 * The rest of 127.0.0.0/8. lwIP takes a packet only for its interface's
 * own address, so each other address of the block a socket binds or
 * sends to gets an alias: a netif of its own with that address, up but
 * with its link down, so that lwIP's input accepts packets for it (it
 * tries every netif) while its routing never picks it (every packet
 * still leaves through the loopback, with 127.0.0.1 as the source of an
 * unbound socket, as Linux's route for the block says). Aliases live in
 * lwIP's heap and go with it when the stack stops.
 */

/* At most this many aliases: lwIP numbers netifs in eight bits. */
#define INET_ALIAS_MAX		128
#define INET_LOOPNET		0x7f000000u	/* 127.0.0.0/8 */
#define INET_LOOPNET_MASK	0xff000000u
/* Where an IPv4 header keeps its destination address. */
#define IP4_DEST_OFF		16

/* An address of 127.0.0.0/8 other than its broadcast address. */
static bool
is_loopnet4(const ip_addr_t *ip)
{
	uint32_t a;

	if (!IP_IS_V4(ip))
		return false;
	a = lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(ip)));
	return (a & INET_LOOPNET_MASK) == INET_LOOPNET &&
	       a != (INET_LOOPNET | ~INET_LOOPNET_MASK);
}

static err_t
alias_output(struct netif *netif, struct pbuf *p, const ip4_addr_t *dst)
{
	(void)netif;
	(void)p;
	(void)dst;
	/* Never chosen as a route (its link is down). */
	return ERR_RTE;
}

static err_t
alias_init(struct netif *netif)
{
	netif->name[0] = 'l';
	netif->name[1] = 'a';
	netif->output = alias_output;
	/* Its packets come from the loopback, which makes no checksums
	 * (stack.c): none to verify here either. */
	NETIF_SET_CHECKSUM_CTRL(netif, NETIF_CHECKSUM_DISABLE_ALL);
	return ERR_OK;
}

static err_t
alias_input(struct pbuf *p, struct netif *netif)
{
	return ip_input(p, netif);
}

static bool
is_alias(const struct netif *n)
{
	return n->output == alias_output;
}

/*
 * lwIP's IPv4 input hook (lwipopts.h). A packet for an alias's address
 * arriving on another netif is delivered as if it had arrived on the
 * alias: lwIP would accept it there anyway (it tries every netif), but
 * UDP and TCP judge "for us" by the input netif's address, so only then
 * does a datagram nobody receives draw a port unreachable, as on Linux.
 * Returns 1 when the packet was delivered so (lwIP owns it), else 0.
 * Stack lock held.
 */
int
ks__inet_ip4_input_hook(struct pbuf *p, struct netif *inp)
{
	uint8_t hdr[IP4_DEST_OFF + 4];
	ip4_addr_t dest;
	struct netif *n;

	ks__inet_udp_icmp_peek(p);
	if (is_alias(inp) ||
	    pbuf_copy_partial(p, hdr, sizeof(hdr), 0) != sizeof(hdr))
		return 0;
	ks__memcpy(&dest, hdr + IP4_DEST_OFF, 4);
	NETIF_FOREACH(n) {
		if (is_alias(n) && ip4_addr_cmp(netif_ip4_addr(n), &dest)) {
			ip4_input(p, n);
			return 1;
		}
	}
	return 0;
}

/* Makes @ip (in 127.0.0.0/8) an address lwIP takes packets for. Returns
 * 0 or -KS_ENOBUFS (lwIP's heap, or the alias limit). Stack lock held. */
static int
alias_ensure(const ip_addr_t *ip)
{
	ip4_addr_t mask, gw;
	struct netif *n;
	int count = 0;

	NETIF_FOREACH(n) {
		if (ip4_addr_cmp(netif_ip4_addr(n), ip_2_ip4(ip)))
			return 0;
		count += is_alias(n);
	}
	if (count >= INET_ALIAS_MAX)
		return -KS_ENOBUFS;
	n = mem_malloc(sizeof(*n));
	if (n == NULL)
		return -KS_ENOBUFS;
	ks__memset(n, 0, sizeof(*n));
	ip4_addr_set_u32(&mask, 0xffffffffu);
	ip4_addr_set_zero(&gw);
	/* alias_init cannot fail, so neither can netif_add. */
	netif_add(n, ip_2_ip4(ip), &mask, &gw, NULL, alias_init, alias_input);
	netif_set_up(n);
	return 0;
}

/* See inet.h. */
int
ks__inet_local_dest(const ip_addr_t *ip)
{
	if (ks__inet_addr_is_local(ip))
		return 0;
	if (is_loopnet4(ip))
		return alias_ensure(ip);
	return -KS__ENETUNREACH;
}

static int check_bind_addr(struct ks_sock *so, const ip_addr_t *ip,
			   uint16_t port);

/* See inet.h. The wildcard, or an address of the loopback (the whole
 * 127.0.0.0/8, as on Linux); a privileged port needs the capability.
 * Linux's inet_bind checks the address first, inet6_bind the port. */
int
ks__inet_bind_addr(struct ks_sock *so, const void *addr, uint32_t len,
		   ip_addr_t *ip, uint16_t *port)
{
	int err = ks__inet_parse_addr(so, addr, len, ip, port, false);

	if (err == -KS__ENETUNREACH)
		return -KS_EINVAL;	/* Linux's inet6_bind() */
	if (err < 0)
		return err;
	return check_bind_addr(so, ip, *port);
}

static int
check_bind_addr(struct ks_sock *so, const ip_addr_t *ip, uint16_t port)
{
	int err = 0;

	if (so->family == KS_AF_INET6)
		err = check_bind_port(port);
	if (err == 0 && !ip_addr_isany(ip) && ks__inet_local_dest(ip) < 0)
		err = is_loopnet4(ip) ? -KS_ENOBUFS : -KS_EADDRNOTAVAIL;
	if (err == 0 && so->family == KS_AF_INET)
		err = check_bind_port(port);
	return err;
}

/* See inet.h. */
int
ks__inet_take_error(struct ks_sock *so)
{
	int err;

	ks__lock(so);
	err = ks__sock_error_locked(so);
	ks__unlock(so);
	return err;
}

/* See inet.h. */
bool
ks__inet_bind_prepare(struct ks_sock *so, uint8_t *opts, uint16_t port,
		      struct inet_bind_req *req)
{
	ks__lock(so);
	req->reuse = ks__has_opt(so, KS_OPT_REUSEADDR);
	req->reuseport = ks__has_opt(so, KS_OPT_REUSEPORT);
	req->uid = so->uid;
	ks__unlock(so);
	if (req->reuse)
		*opts |= SOF_REUSEADDR;
	if (req->reuseport)
		*opts |= INET_SOF_REUSEPORT;
	return (req->reuse || req->reuseport) && port != 0;
}

/* See inet.h. */
bool
ks__inet_may_share(const struct inet_bind_req *req, uint8_t other_opts,
		   bool other_listens, const struct inet_sock *owner)
{
	if (req->reuse && (other_opts & SOF_REUSEADDR) && !other_listens)
		return true;
	return req->reuseport && (other_opts & INET_SOF_REUSEPORT) &&
	       (owner == NULL || owner->base.uid == req->uid);
}

/* See inet.h. A dual-stack wildcard overlaps both families; two
 * addresses of different families never do. */
bool
ks__inet_addr_overlaps(const ip_addr_t *a, const ip_addr_t *b)
{
	if (IP_GET_TYPE(a) != IPADDR_TYPE_ANY &&
	    IP_GET_TYPE(b) != IPADDR_TYPE_ANY &&
	    IP_GET_TYPE(a) != IP_GET_TYPE(b))
		return false;
	return ip_addr_isany(a) || ip_addr_isany(b) || ip_addr_cmp(a, b);
}

/* See inet.h. */
void
ks__inet_lend_reuse(uint8_t *opts, bool lend)
{
	if (lend && !(*opts & SOF_REUSEADDR))
		*opts |= SOF_REUSEADDR | INET_SOF_LENT;
	else if (!lend && (*opts & INET_SOF_LENT))
		*opts &= (uint8_t)~(SOF_REUSEADDR | INET_SOF_LENT);
}

/* See inet.h. */
int
ks__inet_sock_new_locked(const struct ks_proto_ops *ops, int family,
			 int type, int protocol, struct inet_sock **out)
{
	struct inet_sock *is;
	int err;

	is = ks__alloc(sizeof(*is));
	if (is == NULL)
		return -KS_ENOMEM;
	ks__memset(is, 0, sizeof(*is));
	err = ks__inet_stack_get_locked();
	if (err < 0)
		goto free_sock;
	ks__sock_init(&is->base, ops, family, type, protocol);
	is->ttl = INET_TTL_DEFAULT;
	is->hops = INET_TTL_DEFAULT;
	is->keepidle = INET_KEEPIDLE_DEFAULT;
	is->keepintvl = INET_KEEPINTVL_DEFAULT;
	is->keepcnt = INET_KEEPCNT_DEFAULT;
	is->syncnt = INET_SYNCNT_DEFAULT;
	*out = is;
	return 0;

free_sock:
	ks__free(is, sizeof(*is));
	return err;
}

/* See inet.h. */
void
ks__inet_destroy(struct ks_sock *so)
{
	ks__sock_fini(so);
	ks__free(so, sizeof(struct inet_sock));
}

/* The local address of @is's pcb, whichever type it is (both kinds of
 * pcb start with lwIP's common fields). */
static ip_addr_t *
pcb_local_ip(struct inet_sock *is)
{
	if (is->base.type == KS_SOCK_STREAM)
		return is->pcb.tcp != NULL ? &is->pcb.tcp->local_ip : NULL;
	return is->pcb.udp != NULL ? &is->pcb.udp->local_ip : NULL;
}

/* See inet.h. */
void
ks__inet_apply_ip_opts(struct inet_sock *is)
{
	uint8_t ttl = is->base.family == KS_AF_INET6 ? is->hops : is->ttl;

	if (is->base.type == KS_SOCK_STREAM && is->pcb.tcp != NULL) {
		is->pcb.tcp->ttl = ttl;
		is->pcb.tcp->tos = is->tos;
	} else if (is->base.type == KS_SOCK_DGRAM && is->pcb.udp != NULL) {
		is->pcb.udp->ttl = ttl;
		is->pcb.udp->tos = is->tos;
	}
}

/* A TTL or hop limit: -1 means the default, else 0 (hop limit only) or
 * 1 to 255 (Linux's do_ip_setsockopt / do_ipv6_setsockopt). */
static int
parse_ttl(int v, int min, uint8_t *out)
{
	if (v == -1)
		v = INET_TTL_DEFAULT;
	if (v < min || v > 255)
		return -KS_EINVAL;
	*out = (uint8_t)v;
	return 0;
}

static int
set_v6only_locked(struct inet_sock *is, int v)
{
	ip_addr_t *local;

	/* Linux: only before the socket has a port. */
	if (is->bound)
		return -KS_EINVAL;
	is->v6only = v != 0;
	local = pcb_local_ip(is);
	if (local != NULL)
		IP_SET_TYPE_VAL(*local, ks__inet_pcb_type(is));
	return 0;
}

/*
 * Reads an option's value into *@v as Linux's do_ip_setsockopt() does
 * for IP_TTL and IP_TOS: an int, or a single byte when @len is shorter,
 * or 0 when it is 0 (IP_TTL then refuses it, IP_TOS takes it). The
 * IPv6 level wants a whole int. Returns 0 or -KS_EINVAL.
 */
static int
read_opt_int(int level, const void *val, uint32_t len, int *v)
{
	uint8_t byte;

	*v = 0;
	if (len >= sizeof(int)) {
		ks__memcpy(v, val, sizeof(*v));
		return 0;
	}
	if (level != KS_IPPROTO_IP)
		return -KS_EINVAL;
	if (len >= 1) {
		ks__memcpy(&byte, val, 1);
		*v = byte;
	}
	return 0;
}

/* See inet.h: IP_TTL and IP_TOS at IPPROTO_IP, IPV6_V6ONLY and
 * IPV6_UNICAST_HOPS at IPPROTO_IPV6 (an AF_INET6 socket takes both
 * levels, as on Linux); the rest is ENOPROTOOPT, Linux's answer for an
 * option a level does not know. */
int
ks__inet_setsockopt_ip(struct ks_sock *so, int level, int name,
		       const void *val, uint32_t len)
{
	struct inet_sock *is = inet_sk(so);
	int v, err = -KS_ENOPROTOOPT;

	if (level != KS_IPPROTO_IP &&
	    (so->family != KS_AF_INET6 || level != INET_IPPROTO_IPV6))
		return -KS_ENOPROTOOPT;
	err = read_opt_int(level, val, len, &v);
	if (err < 0)
		return err;
	err = -KS_ENOPROTOOPT;
	ks__inet_lock();
	if (level == KS_IPPROTO_IP) {
		switch (name) {
		case INET_IP_TTL:
			err = len < 1 ? -KS_EINVAL : parse_ttl(v, 1, &is->ttl);
			break;
		case INET_IP_TOS:
			if (so->type == KS_SOCK_STREAM)
				is->tos = (uint8_t)((v & ~INET_ECN_MASK) |
						    (is->tos & INET_ECN_MASK));
			else
				is->tos = (uint8_t)v;
			err = 0;
			break;
		}
	} else {
		switch (name) {
		case INET_IPV6_V6ONLY:
			err = set_v6only_locked(is, v);
			break;
		case INET_IPV6_UNICAST_HOPS:
			err = parse_ttl(v, 0, &is->hops);
			break;
		}
	}
	if (err == 0)
		ks__inet_apply_ip_opts(is);
	ks__inet_unlock();
	return err;
}

/* See inet.h. */
int
ks__inet_getsockopt_ip(struct ks_sock *so, int level, int name, void *val,
		       uint32_t *len)
{
	struct inet_sock *is = inet_sk(so);
	int v = 0, err = 0;

	/* Linux's do_ip_getsockopt() answers a level it does not own with
	 * EOPNOTSUPP (its setsockopt says ENOPROTOOPT). */
	if (so->family == KS_AF_INET && level != KS_IPPROTO_IP)
		return -KS_EOPNOTSUPP;
	if (level != KS_IPPROTO_IP && level != INET_IPPROTO_IPV6)
		return -KS_ENOPROTOOPT;
	ks__inet_lock();
	if (level == KS_IPPROTO_IP && name == INET_IP_TTL)
		v = is->ttl;
	else if (level == KS_IPPROTO_IP && name == INET_IP_TOS)
		v = is->tos;
	else if (level == INET_IPPROTO_IPV6 && name == INET_IPV6_V6ONLY)
		v = is->v6only;
	else if (level == INET_IPPROTO_IPV6 && name == INET_IPV6_UNICAST_HOPS)
		v = is->hops;
	else
		err = -KS_ENOPROTOOPT;
	ks__inet_unlock();
	if (err < 0)
		return err;
	if (*len > sizeof(v))
		*len = sizeof(v);
	ks__memcpy(val, &v, *len);
	return 0;
}

static int
inet_create(int domain, int type, int protocol, struct ks_sock **out)
{
	const struct ks_proto_ops *ops;
	struct inet_sock *is;
	int err;

	switch (type) {
	case KS_SOCK_STREAM:
		if (protocol != 0 && protocol != KS_IPPROTO_TCP)
			return -KS_EPROTONOSUPPORT;
		ops = &ks__inet_tcp_ops;
		protocol = KS_IPPROTO_TCP;
		break;
	case KS_SOCK_DGRAM:
		if (protocol != 0 && protocol != KS_IPPROTO_UDP)
			return -KS_EPROTONOSUPPORT;
		ops = &ks__inet_udp_ops;
		protocol = KS_IPPROTO_UDP;
		break;
	default:
		return -KS_ESOCKTNOSUPPORT;
	}
	ks__inet_lock();
	err = ks__inet_sock_new_locked(ops, domain, type, protocol, &is);
	if (err < 0)
		goto unlock;
	if (type == KS_SOCK_STREAM) {
		atomic_store(&is->base.sndbuf, INET_TCP_SNDBUF_DEFAULT);
		is->base.rcvbuf = INET_TCP_RCVBUF_DEFAULT;
		err = ks__inet_tcp_attach_locked(is);
	}
	else {
		err = ks__inet_udp_attach_locked(is);
	}
	if (err < 0)
		goto drop_sock;
	ks__inet_unlock();
	*out = &is->base;
	return 0;

drop_sock:
	ks__inet_stack_put_locked();
	ks__inet_unlock();
	ks__inet_destroy(&is->base);
	return err;
unlock:
	ks__inet_unlock();
	return err;
}

static int
inet4_create(int type, int protocol, struct ks_sock **out)
{
	return inet_create(KS_AF_INET, type, protocol, out);
}

static int
inet6_create(int type, int protocol, struct ks_sock **out)
{
	return inet_create(KS_AF_INET6, type, protocol, out);
}

static int
inet_socketpair(struct ks_sock *a, struct ks_sock *b)
{
	return -KS_EOPNOTSUPP;
}

static int
inet_init(void)
{
	return ks__inet_stack_init();
}

static void
inet_fini(void)
{
	ks__inet_stack_fini();
}

/* The stack is shared by both families: only AF_INET's entry starts and
 * stops it. */
static int
inet6_init(void)
{
	return 0;
}

static void
inet6_fini(void)
{
}

const struct ks_family ks__inet_family = {
	.domain		= KS_AF_INET,
	.init		= inet_init,
	.fini		= inet_fini,
	.create		= inet4_create,
	.socketpair	= inet_socketpair,
};

const struct ks_family ks__inet6_family = {
	.domain		= KS_AF_INET6,
	.init		= inet6_init,
	.fini		= inet6_fini,
	.create		= inet6_create,
	.socketpair	= inet_socketpair,
};

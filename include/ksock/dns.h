/*
 * ksock DNS stub resolver: public API.
 *
 * A resolver (struct ks_dns) is created over a port table (memory, locks,
 * time, randomness) and a transport (struct ks_dns_transport: UDP and TCP
 * to a server address). Everything it needs beyond those comes as text or
 * structures from the caller, so the same core runs freestanding inside a
 * kernel and hosted on Linux, where port/hosted/dns_*.c supplies a
 * transport over the host's sockets and reads /etc/resolv.conf and
 * /etc/hosts once (ks_dns_hosted()).
 *
 * Error codes: lookups return 0 or a KS_EAI_* code (negative, equal to
 * glibc's EAI_* values); setup calls return 0 or a negative -KS_E* errno.
 *
 * Thread safety: every call may be made from any thread at any time on
 * one resolver, except ks_dns_destroy(), which needs all other calls to
 * have returned. The configuration is an immutable snapshot read through
 * an atomic pointer, so lookups take no lock for it.
 */
#ifndef KSOCK_DNS_H
#define KSOCK_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ksock/abi.h>
#include <ksock/port.h>

/* getaddrinfo error codes: glibc's values. */
#define KS_EAI_BADFLAGS		-1
#define KS_EAI_NONAME		-2
#define KS_EAI_AGAIN		-3
#define KS_EAI_FAIL		-4
#define KS_EAI_NODATA		-5
#define KS_EAI_FAMILY		-6
#define KS_EAI_SOCKTYPE		-7
#define KS_EAI_SERVICE		-8
#define KS_EAI_ADDRFAMILY	-9
#define KS_EAI_MEMORY		-10
#define KS_EAI_SYSTEM		-11
#define KS_EAI_OVERFLOW		-12
#define KS_EAI_IDN_ENCODE	-105	/* AI_IDN: the name is not UTF-8 */

/* getaddrinfo flags: glibc's values. */
#define KS_AI_PASSIVE		0x0001
#define KS_AI_CANONNAME		0x0002
#define KS_AI_NUMERICHOST	0x0004
#define KS_AI_V4MAPPED		0x0008
#define KS_AI_ALL		0x0010
#define KS_AI_ADDRCONFIG	0x0020
#define KS_AI_IDN		0x0040	/* UTF-8 names to their xn-- form */
#define KS_AI_CANONIDN		0x0080	/* ai_canonname back to UTF-8 */
#define KS_AI_NUMERICSERV	0x0400

/* getnameinfo flags: glibc's values. */
#define KS_NI_NUMERICHOST	1
#define KS_NI_NUMERICSERV	2
#define KS_NI_NOFQDN		4
#define KS_NI_NAMEREQD		8
#define KS_NI_DGRAM		16
#define KS_NI_IDN		32	/* host name back to UTF-8 */
#define KS_NI_MAXHOST		1025
#define KS_NI_MAXSERV		32

/* h_errno values for ks_dns_gethostbyname(). */
#define KS_NETDB_INTERNAL	-1
#define KS_HOST_NOT_FOUND	1
#define KS_TRY_AGAIN		2
#define KS_NO_RECOVERY		3
#define KS_NO_DATA		4

/* struct addrinfo, Linux layout. */
struct ks_addrinfo {
	int			 ai_flags;
	int			 ai_family;
	int			 ai_socktype;
	int			 ai_protocol;
	uint32_t		 ai_addrlen;
	struct ks_sockaddr	*ai_addr;
	char			*ai_canonname;
	struct ks_addrinfo	*ai_next;
};

/* struct hostent, Linux layout. */
struct ks_hostent {
	char	 *h_name;
	char	**h_aliases;
	int	  h_addrtype;
	int	  h_length;
	char	**h_addr_list;
};

/* One address from ks_dns_resolve(), with the seconds it may be kept. */
struct ks_dns_addr {
	int		family;		/* KS_AF_INET or KS_AF_INET6 */
	uint8_t		addr[16];	/* 4 or 16 bytes, network order */
	uint32_t	ttl;
};

/* A name server: an IPv4 or IPv6 address and a port. */
struct ks_dns_server {
	int		family;		/* KS_AF_INET or KS_AF_INET6 */
	uint8_t		addr[16];
	uint16_t	port;		/* host byte order */
};

/*
 * Limits. Servers follow glibc's MAXNS (3) with one to spare. glibc has
 * had no limit on search domains since 2.26 (before: MAXDNSRCH, 6, and
 * 256 characters in all); a fixed configuration needs one, and 32 domains
 * of any length is more than any real resolv.conf holds (each one costs
 * a full query round on a miss). Domains past it are ignored.
 */
#define KS_DNS_MAX_SERVERS	4
#define KS_DNS_MAX_SEARCH	32
#define KS_DNS_NAME_MAX		253	/* text form, without the final dot */
#define KS_DNS_LABEL_MAX	63

/* One line of a gai.conf policy table: an IPv6 prefix (IPv4 as
 * ::ffff:a.b.c.d) and its label or precedence. */
struct ks_dns_policy {
	uint8_t		prefix[16];
	uint8_t		len;		/* prefix length in bits */
	int		value;
};

/* Lines per gai.conf table kept (glibc's defaults have 8 and 5). */
#define KS_DNS_MAX_POLICY	32

/*
 * Resolver configuration. ks_dns_config_init() sets glibc's defaults
 * (ndots 1, timeout 5 s, attempts 2, no servers); the resolv.conf parser
 * or the caller fills the rest.
 */
struct ks_dns_config {
	struct ks_dns_server	servers[KS_DNS_MAX_SERVERS];
	unsigned		nservers;
	char			search[KS_DNS_MAX_SEARCH][KS_DNS_NAME_MAX + 1];
	unsigned		nsearch;
	unsigned		ndots;		/* at most 15, as glibc */
	unsigned		timeout_ms;	/* per try, per server */
	unsigned		attempts;	/* rounds over all servers */
	unsigned		deadline_ms;	/* whole lookup; 0: none */
	bool			rotate;		/* start at a different server each lookup */
	bool			no_edns;	/* never send EDNS0 */
	bool			no_cache;	/* neither read nor fill the cache */
	/* Sources for names and addresses, in order: 'f' the hosts table,
	 * 'd' DNS (nsswitch.conf's "hosts: files dns"); "" means "fd". */
	char			hosts_order[3];
	/* RFC 6724 policy from gai.conf: label and precedence lines; a
	 * table with no lines is glibc's default one. */
	struct ks_dns_policy	label[KS_DNS_MAX_POLICY];
	struct ks_dns_policy	precedence[KS_DNS_MAX_POLICY];
	unsigned		nlabel, nprecedence;
	uint32_t		max_ttl;	/* cap on cached TTLs, s; 0: 3600 */
	uint32_t		max_neg_ttl;	/* cap on negative caching, s; 0: 900 */
	unsigned		cache_entries;	/* cache size (0: 1024); read by
						 * ks_dns_create() only */
};

/* The transport protocols a resolver asks for. */
#define KS_DNS_UDP	0
#define KS_DNS_TCP	1

/*
 * How the resolver reaches name servers. Each endpoint carries one query
 * (a new UDP endpoint gets a new source port). Deadlines are on the port's
 * monotonic clock (ks_port.now).
 */
struct ks_dns_transport {
	void	*ctx;
	/* Opens a UDP or TCP endpoint connected to @srv. Returns 0 with
	 * *@ep, or a negative -KS_E* (TCP: -KS_ECONNREFUSED, -KS_ETIMEDOUT
	 * when @deadline_ns passes). */
	int	(*open)(void *ctx, int proto, const struct ks_dns_server *srv,
			int64_t deadline_ns, void **ep);
	/* Sends @len bytes (TCP: all of them). Returns 0 or -KS_E*. */
	int	(*send)(void *ep, const void *buf, size_t len);
	/* Receives one datagram (UDP) or up to @cap stream bytes (TCP, 0 at
	 * end of stream) and says who sent it. Returns the length,
	 * -KS_ETIMEDOUT at @deadline_ns, -KS_EMSGSIZE for a datagram longer
	 * than @cap (its first @cap bytes and @from filled in), or another
	 * -KS_E*. */
	int	(*recv)(void *ep, void *buf, size_t cap,
			struct ks_dns_server *from, int64_t deadline_ns);
	void	(*close)(void *ep);
	/* Optional (may be NULL): whether the host has a configured
	 * non-loopback IPv4 / IPv6 address, for AI_ADDRCONFIG. */
	void	(*addrconfig)(void *ctx, bool *v4, bool *v6);
	/* Optional (may be NULL): waits until one of the @n endpoints in
	 * @eps has something to receive (or an error to report), or
	 * @deadline_ns passes. Returns the index of one such endpoint,
	 * -KS_ETIMEDOUT, or another -KS_E*. The resolver keeps every query
	 * of a lookup open until it ends, so that a late answer to a first
	 * try still counts after a retry; without this hook it blocks on
	 * the newest endpoint and only looks at the older ones when that
	 * one wakes it. recv() is called with a deadline already past to
	 * look without blocking. */
	int	(*wait)(void *ctx, void *const *eps, size_t n,
			int64_t deadline_ns);
	/* Optional (may be NULL): the index of the network interface named
	 * by the @len bytes at @name, for IPv6 scope ids ("fe80::1%eth0").
	 * Returns 0 with *@index, or -KS_ENOENT. Without it only numeric
	 * scopes ("%2") are understood. */
	int	(*if_index)(void *ctx, const char *name, size_t len,
			    uint32_t *index);
	/* Optional (may be NULL): the source address the host would use to
	 * reach @addr (@family, 4 or 16 bytes, @scope for IPv6), into @src
	 * (same size), for RFC 6724 ordering. Returns 0, or -KS_E* when the
	 * destination is unreachable. Without it getaddrinfo orders by the
	 * policy table alone, as if every destination were reachable from
	 * a source of its own kind. */
	int	(*source)(void *ctx, int family, const uint8_t *addr,
			  uint32_t scope, uint8_t *src);
};

/* Counters a test or an operator can read; all monotonic. */
struct ks_dns_stats {
	uint64_t	udp_queries;	/* datagrams sent */
	uint64_t	tcp_queries;	/* queries retried over TCP */
	uint64_t	cache_hits;
	uint64_t	cache_misses;
	uint64_t	timeouts;	/* tries that got no valid answer in time */
	uint64_t	rejected;	/* answers dropped: wrong source, id, flags or question */
	uint64_t	edns_fallbacks;	/* FORMERR to EDNS0 made us drop it */
	uint64_t	per_server[KS_DNS_MAX_SERVERS];	/* queries sent to each */
};

struct ks_dns;

/* -- setup -- */

/* Sets @c to the defaults. */
void	ks_dns_config_init(struct ks_dns_config *c);

/*
 * Parses resolv.conf text (nameserver, search, domain, options ndots:N
 * timeout:N attempts:N rotate edns0, and ksock's "port:N" extension;
 * "nameserver ADDR#PORT" is accepted too) into @c, which should hold the
 * defaults. Unknown lines, and nameserver lines without a usable address,
 * are skipped, as glibc does. Returns 0.
 */
int	ks_dns_config_parse(struct ks_dns_config *c, const char *text,
			    size_t len);

/*
 * Takes the order of "files" and "dns" from the "hosts:" line of
 * nsswitch.conf text into c->hosts_order (other sources are skipped).
 * Returns 0.
 */
int	ks_dns_nsswitch_parse(struct ks_dns_config *c, const char *text,
			      size_t len);

/*
 * Takes the "label" and "precedence" lines of gai.conf text into @c
 * (other lines are skipped). Each table, once it has a line, replaces
 * glibc's default for it, as in glibc. Returns 0.
 */
int	ks_dns_gaiconf_parse(struct ks_dns_config *c, const char *text,
			     size_t len);

/*
 * Creates a resolver in *@out. @port must provide alloc, free, the mutex
 * hooks, now and random; @tp is copied; @conf is copied (NULL: defaults);
 * @hosts is the text of a hosts file (NULL: none). Returns 0, -KS_EINVAL
 * or -KS_ENOMEM.
 */
int	ks_dns_create(struct ks_dns **out, const struct ks_port *port,
		      const struct ks_dns_transport *tp,
		      const struct ks_dns_config *conf,
		      const char *hosts, size_t hosts_len);

/*
 * Replaces the configuration (and, when @hosts is not NULL, the hosts
 * table). Lookups in progress finish with the snapshot they started with.
 * Returns 0, -KS_EINVAL or -KS_ENOMEM (the old configuration stays).
 */
int	ks_dns_set_config(struct ks_dns *r, const struct ks_dns_config *conf,
			  const char *hosts, size_t hosts_len);

/*
 * Replaces the services table with services(5) text (NULL: back to the
 * built-in table of common services, which is also the start). While a
 * table is loaded, service names and getnameinfo's service names come
 * from it alone, as glibc's come from /etc/services. Returns 0 or
 * -KS_ENOMEM (the old table stays).
 */
int	ks_dns_set_services(struct ks_dns *r, const char *text, size_t len);

/* Frees @r and everything it holds. No other call on @r may be running. */
void	ks_dns_destroy(struct ks_dns *r);

/* Empties the cache; lookups running concurrently are not disturbed. */
void	ks_dns_cache_flush(struct ks_dns *r);

/* Copies the counters. */
void	ks_dns_get_stats(struct ks_dns *r, struct ks_dns_stats *out);

/* -- lookups; all return 0 or a KS_EAI_* code -- */

/* The first IPv4 address of @name (network order into *@out). */
int	ks_dns_resolve4(struct ks_dns *r, const char *name,
			struct ks_in_addr *out);

/*
 * Up to @max addresses of @name for @family (KS_AF_INET, KS_AF_INET6 or
 * KS_AF_UNSPEC for both, queried in parallel), IPv4 first, each with the
 * seconds it stays valid. *@count gets the number stored.
 */
int	ks_dns_resolve(struct ks_dns *r, const char *name, int family,
		       struct ks_dns_addr *out, size_t max, size_t *count);

/*
 * getaddrinfo(3). The list in *@res is one allocation from @r's port and
 * is freed with ks_dns_freeaddrinfo(), which needs no resolver.
 */
int	ks_dns_getaddrinfo(struct ks_dns *r, const char *node,
			   const char *service,
			   const struct ks_addrinfo *hints,
			   struct ks_addrinfo **res);
void	ks_dns_freeaddrinfo(struct ks_addrinfo *res);
const char *ks_dns_gai_strerror(int code);

/*
 * gethostbyname_r(3)-style lookup of @name for @af (KS_AF_INET or
 * KS_AF_INET6) into @he, whose strings and arrays live in @buf: h_name is
 * the canonical name, h_aliases the other names of the CNAME chain.
 * Returns 0 or a KS_EAI_* code, with *@h_errnop (when not NULL) set to
 * the matching KS_HOST_NOT_FOUND... value; or -KS_ERANGE when @buf is too
 * small, with *@h_errnop KS_NETDB_INTERNAL, as glibc's gethostbyname_r,
 * so that the caller grows the buffer and asks again.
 */
int	ks_dns_gethostbyname(struct ks_dns *r, const char *name, int af,
			     struct ks_hostent *he, char *buf, size_t buflen,
			     int *h_errnop);

/*
 * Reverse lookup (PTR) of a 4- or 16-byte address into @host. *@ttl, when
 * not NULL, gets the seconds the answer stays valid.
 */
int	ks_dns_reverse(struct ks_dns *r, int family, const void *addr,
		       char *host, size_t hostlen, uint32_t *ttl);

/* getnameinfo(3) over ks_dns_reverse() and /etc/hosts. */
int	ks_dns_getnameinfo(struct ks_dns *r, const struct ks_sockaddr *sa,
			   uint32_t salen, char *host, size_t hostlen,
			   char *serv, size_t servlen, int flags);

/* -- hosted port (port/hosted/dns_*.c) -- */

/*
 * The process-wide resolver of the hosted port: created on first use from
 * /etc/resolv.conf (with LOCALDOMAIN and RES_OPTIONS), /etc/hosts,
 * /etc/services and nsswitch.conf's "hosts:" order, over Linux sockets.
 * Later calls are an atomic load; at most once a second one of them
 * stats the files and reloads them when one changed. Returns NULL only
 * when memory ran out.
 */
struct ks_dns *ks_dns_hosted(void);

/* The hosted transport (Linux UDP and TCP sockets) and port table. */
void	ks_dns_hosted_transport(struct ks_dns_transport *tp);
const struct ks_port *ks_dns_hosted_port(void);

/*
 * The transport over ksock's own AF_INET/AF_INET6 UDP and TCP sockets
 * (port/hosted/dns_ksock.c): queries go through ksock's TCP/IP (its
 * loopback, or a link such as the hosted TAP interface), not the host's.
 * ksock must be running while a resolver made with it looks anything
 * up; it has wait and source hooks, no addrconfig or if_index.
 */
void	ks_dns_ksock_transport(struct ks_dns_transport *tp);

/* Reads and parses a resolv.conf file into @c (defaults first), then
 * LOCALDOMAIN and RES_OPTIONS as glibc, then the "hosts:" order of
 * nsswitch.conf (KSOCK_NSSWITCH, or /etc/nsswitch.conf). Returns 0 or
 * -KS_E*; a missing file leaves the defaults. */
int	ks_dns_hosted_load_config(const char *path, struct ks_dns_config *c);

#endif /* KSOCK_DNS_H */

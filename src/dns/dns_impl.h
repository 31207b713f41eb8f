/*
 * Resolver internals shared by the files of src/dns. Freestanding: no libc,
 * so the few string and memory helpers it needs live here.
 *
 * Files:
 *   dns_wire.c    message codec: names, queries, strict answer parsing
 *   dns_text.c    text: name validation, addresses, resolv.conf, hosts
 *   dns_cache.c   answers keyed by (name, type), TTLs, negative entries
 *   dns_query.c   sending questions: servers, retries, TCP, EDNS, checks
 *   dns_lookup.c  the resolver object, search list, CNAMEs, the API
 *   dns_sort.c    RFC 6724 order of getaddrinfo's addresses
 *   dns_idn.c     UTF-8 names to xn-- (Punycode) and back
 *
 * Tags on struct ks_dns: [I] immutable after creation, [A] atomic,
 * [R] under src_lock.
 */
#ifndef KSOCK_DNS_IMPL_H
#define KSOCK_DNS_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ksock/dns.h>

/* Wire constants (RFC 1035, 3596, 6891). */
#define DNS_HDR_LEN	12
#define DNS_WIRE_NAME_MAX 255	/* RFC 1035 2.3.4, wire form with root label */
#define DNS_UDP_MAX	512	/* without EDNS0 */
/*
 * EDNS0 payload we advertise: 1232 bytes is the DNS flag day 2020 value,
 * which fits the IPv6 minimum MTU and so avoids fragmentation.
 */
#define DNS_EDNS_PAYLOAD 1232
#define DNS_TCP_MAX	65535

#define DNS_T_A		1
#define DNS_T_NS	2
#define DNS_T_CNAME	5
#define DNS_T_SOA	6
#define DNS_T_PTR	12
#define DNS_T_AAAA	28
#define DNS_T_OPT	41
#define DNS_C_IN	1

#define DNS_R_NOERROR	0
#define DNS_R_FORMERR	1
#define DNS_R_SERVFAIL	2
#define DNS_R_NXDOMAIN	3
#define DNS_R_NOTIMP	4
#define DNS_R_REFUSED	5

/* Header flag bits (second 16-bit word). */
#define DNS_F_QR	0x8000
#define DNS_F_OPCODE	0x7800
#define DNS_F_TC	0x0200
#define DNS_F_RD	0x0100
#define DNS_F_RCODE	0x000f

/* -- freestanding helpers -- */

static inline void
dns_memcpy(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
}

static inline void
dns_memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;

	while (n--)
		*d++ = (unsigned char)c;
}

static inline bool
dns_memeq(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	while (n--)
		if (*x++ != *y++)
			return false;
	return true;
}

static inline size_t
dns_strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static inline size_t
dns_strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

static inline unsigned char
dns_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static inline bool
dns_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline uint16_t
dns_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
dns_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

static inline void
dns_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* -- dns_wire.c -- */

/* A parsed, fully validated message: offsets of each section. */
struct dns_msg {
	const uint8_t	*buf;
	size_t		 len;
	uint16_t	 id, flags;
	uint16_t	 qdcount, ancount, nscount, arcount;
	size_t		 an_off;	/* first answer RR */
	size_t		 ns_off;	/* first authority RR */
	size_t		 ar_off;	/* first additional RR */
};

/* One resource record as found in a message. */
struct dns_rr {
	size_t		name_off;	/* owner name, possibly compressed */
	uint16_t	type, class;
	uint32_t	ttl;
	uint16_t	rdlen;
	size_t		rdata_off;
	size_t		next_off;	/* the following RR */
};

int	ks__dns_name_expand(const uint8_t *msg, size_t len, size_t off,
			    uint8_t out[DNS_WIRE_NAME_MAX], size_t *outlen,
			    size_t *next);
bool	ks__dns_name_equal(const uint8_t *a, const uint8_t *b);
int	ks__dns_build_query(uint8_t *buf, size_t cap, uint16_t id,
			    const uint8_t *qname, size_t qnamelen,
			    uint16_t qtype, bool edns, size_t *len);
int	ks__dns_parse(const uint8_t *buf, size_t len, struct dns_msg *m);
int	ks__dns_rr_at(const struct dns_msg *m, size_t off, struct dns_rr *rr);
bool	ks__dns_question_matches(const struct dns_msg *m, const uint8_t *qname,
				 uint16_t qtype);

/* -- dns_text.c -- */

int	ks__dns_name_to_wire(const char *name, uint8_t out[DNS_WIRE_NAME_MAX],
			     size_t *outlen, bool *absolute);
int	ks__dns_wire_to_text(const uint8_t *wire, char *out, size_t cap);
bool	ks__dns_wire_is_hostname(const uint8_t *wire);
int	ks__dns_wire_join(const uint8_t *a, size_t alen, const uint8_t *b,
			  size_t blen, uint8_t out[DNS_WIRE_NAME_MAX],
			  size_t *outlen);
unsigned ks__dns_count_dots(const char *name);
bool	ks__dns_parse_ipv4(const char *s, size_t len, uint8_t out[4]);
bool	ks__dns_parse_ipv4_aton(const char *s, size_t len, uint8_t out[4]);
bool	ks__dns_parse_ipv6(const char *s, size_t len, uint8_t out[16]);
size_t	ks__dns_format_addr(int family, const uint8_t *addr, char *out,
			    size_t cap);
int	ks__dns_reverse_name(int family, const uint8_t *addr,
			     uint8_t out[DNS_WIRE_NAME_MAX], size_t *outlen);

/* The hosts table: one block of entries; names point into the text copy. */
struct dns_host {
	int		 family;
	uint8_t		 addr[16];
	const char	*name;		/* canonical name (first one) */
	uint16_t	 namelen;
	const char	*aliases;	/* the rest of the line */
	uint16_t	 aliaslen;
	const char	*scope;		/* IPv6 "%scope" text, or NULL */
	uint16_t	 scopelen;
};

struct dns_hosts {
	size_t		  size;		/* bytes in this allocation */
	size_t		  n;
	struct dns_host	 *h;
	char		 *text;
};

int	ks__dns_hosts_parse(const struct ks_port *port, const char *text,
			    size_t len, struct dns_hosts **out);
void	ks__dns_hosts_free(const struct ks_port *port, struct dns_hosts *hosts);
bool	ks__dns_host_has_name(const struct dns_host *h, const char *name,
			      size_t namelen);

/* A services table (/etc/services text): names point into the copy. */
#define DNS_SVC_TCP	1
#define DNS_SVC_UDP	2

struct dns_service {
	const char	*name;
	const char	*aliases;	/* the rest of the line */
	uint16_t	 namelen, aliaslen;
	uint16_t	 port;
	uint8_t		 proto;		/* DNS_SVC_TCP or DNS_SVC_UDP */
};

struct dns_services {
	size_t			 size;	/* bytes in this allocation */
	size_t			 n;
	struct dns_service	*s;
	char			*text;
	struct dns_services	*retired;	/* older tables, freed at destroy */
};

int	ks__dns_services_parse(const struct ks_port *port, const char *text,
			       size_t len, struct dns_services **out);
bool	ks__dns_service_has_name(const struct dns_service *sv,
				 const char *name);

/* -- dns_cache.c -- */

/* Status of an answer. */
#define DNS_ANS_OK		0	/* records of the type asked for */
#define DNS_ANS_NXDOMAIN	1
#define DNS_ANS_NODATA		2

/* One record of an answer: where its data lies, and its TTL. */
struct dns_rr_ref {
	uint32_t	ttl;
	uint32_t	off;		/* into data */
	uint32_t	len;
};

/*
 * An answer to one (name, type): immutable once built, shared by the
 * cache and readers through @refs. One allocation holds the header, the
 * record table, the record data and the alias names (ks__dns_answer_alloc).
 */
struct dns_answer {
	atomic_uint	refs;		/* [A] */
	size_t		size;		/* bytes in this allocation */
	int		status;		/* DNS_ANS_* */
	int64_t		born;		/* monotonic ns when received */
	int64_t		expires;	/* monotonic ns; after it, stale */
	uint16_t	qtype;
	uint32_t	nrr;
	char		canon[KS_DNS_NAME_MAX + 2];	/* last good name of the chain */
	/* The other good names of the CNAME chain (for h_aliases): @naliases
	 * NUL-terminated names one after another. */
	uint32_t	naliases;
	char		*aliases;
	struct dns_rr_ref *rr;		/* nrr entries */
	uint8_t		*data;
	_Alignas(8) uint8_t mem[];
};

/*
 * At most this many records per answer: more than a 64 KB message can
 * hold (an A record takes at least 16 bytes), so no real answer is ever
 * cut; the memory an answer takes is bounded by the message it came in.
 * PTR answers keep at most DNS_ANS_MAX_PTR names (each can expand a
 * 2-byte pointer into 255 bytes, and only the first is used).
 */
#define DNS_ANS_MAX_RR	4096
#define DNS_ANS_MAX_PTR	32

struct dns_answer *ks__dns_answer_alloc(const struct ks_port *port,
					size_t nrr, size_t datalen,
					size_t aliaslen);

struct dns_cache;

int	ks__dns_cache_create(const struct ks_port *port, unsigned entries,
			     struct dns_cache **out);
void	ks__dns_cache_destroy(struct dns_cache *c);
struct dns_answer *ks__dns_cache_get(struct dns_cache *c, const uint8_t *qname,
				     uint16_t qtype, int64_t now);
int	ks__dns_cache_put(struct dns_cache *c, const uint8_t *qname,
			  uint16_t qtype, struct dns_answer *a);
void	ks__dns_cache_flush(struct dns_cache *c);
void	ks__dns_answer_put(const struct ks_port *port, struct dns_answer *a);
uint32_t ks__dns_answer_ttl(const struct dns_answer *a, unsigned i,
			    int64_t now);

/* -- dns_idn.c -- */

int	ks__dns_idn_to_ascii(const char *in, char *out, size_t cap);
int	ks__dns_idn_to_unicode(const char *in, char *out, size_t cap);

/* -- dns_sort.c -- */

struct dns_conf;
int	ks__dns_sort_addrs(struct ks_dns *r, const struct dns_conf *conf,
			   void *addrs, size_t n, size_t stride, size_t fam_off,
			   size_t addr_off, size_t scope_off);

/* -- dns_query.c -- */

/* Process-wide configuration snapshot: immutable once published. */
struct dns_conf {
	struct ks_dns_config	 c;
	struct dns_hosts	*hosts;
	uint8_t			 search_wire[KS_DNS_MAX_SEARCH][DNS_WIRE_NAME_MAX];
	size_t			 search_len[KS_DNS_MAX_SEARCH];
	struct dns_conf		*retired;	/* older snapshots, freed at destroy */
};

/* A destination's source address, as the transport found it. */
#define DNS_SRC_CACHE	16

struct dns_src_entry {
	int64_t		expires;
	int		family;
	uint32_t	scope;
	bool		ok;
	uint8_t		dst[16], src[16];
};

struct ks_dns {
	const struct ks_port	*port;		/* [I] */
	struct ks_dns_transport	 tp;		/* [I] */
	_Atomic(struct dns_conf *) conf;	/* [A] current snapshot */
	struct ks_mutex		 conf_lock;	/* serialises writers of conf
						 * and services */
	struct dns_cache	*cache;		/* [I] has its own lock */
	_Atomic(struct dns_services *) services;	/* [A] NULL: built-in table */
	struct ks_mutex		 src_lock;	/* leaf: guards src_cache */
	struct dns_src_entry	 src_cache[DNS_SRC_CACHE];	/* [R] */
	atomic_uint		 next_server;	/* [A] where lookups start */
	atomic_uint		 no_edns;	/* [A] bit per server: FORMERR seen */
	struct {
		atomic_ullong	udp, tcp, hits, misses, timeouts,
				rejected, edns;
		atomic_ullong	per_server[KS_DNS_MAX_SERVERS];
	}			 stats;		/* [A] */
};

/* Outcome of asking one question of the configured servers. */
#define DNS_Q_ANSWER	0	/* an answer (positive or negative) */
#define DNS_Q_TEMPFAIL	1	/* SERVFAIL, REFUSED, timeouts: try later */
#define DNS_Q_PERMFAIL	2	/* FORMERR everywhere, malformed answers */
#define DNS_Q_NOMEM	3
#define DNS_Q_TIMEOUT	4	/* no server said anything at all */

/* Rounds over the servers at most (glibc's RES_MAXRETRY). */
#define DNS_MAX_ATTEMPTS 5

struct dns_question {
	const uint8_t		*qname;		/* wire form */
	size_t			 qnamelen;
	uint16_t		 qtype;
	int			 outcome;	/* DNS_Q_* */
	struct dns_answer	*answer;	/* when DNS_Q_ANSWER; owned */
	uint8_t			 follow[DNS_WIRE_NAME_MAX];	/* CNAME target left to ask */
	size_t			 followlen;	/* 0: chain complete */
};

void	ks__dns_ask(struct ks_dns *r, const struct dns_conf *conf,
		    struct dns_question *qs, size_t n, int64_t deadline);
int	ks__dns_extract(const struct ks_port *port, const struct dns_msg *m,
			const uint8_t *qname, uint16_t qtype, int64_t now,
			const struct ks_dns_config *c, struct dns_question *q);

#endif /* KSOCK_DNS_IMPL_H */

/*
 * Destination address ordering for getaddrinfo: RFC 6724 section 6 (the
 * rules of RFC 3484, which glibc follows), over a policy table of labels
 * and precedences: glibc's default one, or the lines of gai.conf.
 *
 * For each destination the host's source address comes from the
 * transport's source hook (hosted: a connected UDP socket, as glibc),
 * kept a few seconds in a small per-resolver cache so that repeated
 * lookups make no system call for it. Rules used: 1 avoid unusable
 * destinations, 2 prefer matching scope, 5 prefer matching label, 6
 * prefer higher precedence, 8 prefer smaller scope, 9 longest matching
 * prefix (IPv6, up to the /64 of the source), 10 keep the order. Rules
 * 3, 4 and 7 need address flags no port reports; glibc's 3 and 4 read
 * them from netlink.
 *
 * Locks: r->src_lock [R] guards the source cache only; it is a leaf.
 */
#include "dns/dns_impl.h"

/* How long a source address is trusted: routes change rarely, and
 * glibc's own interface cache lives about as long. */
#define SRC_CACHE_NS	(2LL * 1000000000)

#define P(...) { __VA_ARGS__ }
/* glibc 2.36's default tables (RFC 3484's, with ULA and Teredo labels). */
static const struct ks_dns_policy default_label[] = {
	{ P(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), 128, 0 },
	{ P(0x20, 0x02), 16, 2 },
	{ P(0), 96, 3 },
	{ P(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff), 96, 4 },
	{ P(0xfe, 0xc0), 10, 5 },
	{ P(0xfc, 0x00), 7, 6 },
	{ P(0x20, 0x01, 0, 0), 32, 7 },
	{ P(0), 0, 1 },
};
static const struct ks_dns_policy default_precedence[] = {
	{ P(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), 128, 50 },
	{ P(0x20, 0x02), 16, 30 },
	{ P(0), 96, 20 },
	{ P(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff), 96, 10 },
	{ P(0), 0, 40 },
};
#undef P

static bool
prefix_matches(const uint8_t *a, const uint8_t *prefix, unsigned bits)
{
	unsigned i = 0;

	for (; bits >= 8; bits -= 8, i++)
		if (a[i] != prefix[i])
			return false;
	if (bits == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - bits));
	return (a[i] & mask) == (prefix[i] & mask);
}

/* The value of the longest prefix of @tab matching @a; @none without. */
static int
policy_value(const struct ks_dns_policy *tab, size_t n, const uint8_t *a,
	     int none)
{
	int best = -1, value = none;

	for (size_t i = 0; i < n; i++) {
		if ((int)tab[i].len > best &&
		    prefix_matches(a, tab[i].prefix, tab[i].len)) {
			best = tab[i].len;
			value = tab[i].value;
		}
	}
	return value;
}

/* RFC 6724 3.1 scopes, with IPv4 as glibc's default scopev4 table:
 * 127/8 and 169.254/16 link-local (2), the rest global (14). */
static int
scope_of(const uint8_t *a6)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					    0xff, 0xff };

	if (dns_memeq(a6, mapped, 12)) {
		const uint8_t *a = a6 + 12;
		if (a[0] == 127 || (a[0] == 169 && a[1] == 254))
			return 2;
		return 14;
	}
	if (a6[0] == 0xff)
		return a6[1] & 0x0f;
	if (a6[0] == 0xfe && (a6[1] & 0xc0) == 0x80)
		return 2;
	static const uint8_t loopback[16] = { 0, 0, 0, 0, 0, 0, 0, 0,
					      0, 0, 0, 0, 0, 0, 0, 1 };
	if (dns_memeq(a6, loopback, 16))
		return 2;
	if (a6[0] == 0xfe && (a6[1] & 0xc0) == 0xc0)
		return 5;
	return 14;
}

static bool
is_mapped(const uint8_t *a6)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					    0xff, 0xff };

	return dns_memeq(a6, mapped, 12);
}

static void
as_v6(int family, const uint8_t *a, uint8_t out[16])
{
	if (family == KS_AF_INET) {
		dns_memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		dns_memcpy(out + 12, a, 4);
	} else {
		dns_memcpy(out, a, 16);
	}
}

static unsigned
common_prefix(const uint8_t *a, const uint8_t *b, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < 16 && n < max; i++) {
		uint8_t x = a[i] ^ b[i];
		if (x == 0) {
			n += 8;
			continue;
		}
		while (!(x & 0x80)) {
			x = (uint8_t)(x << 1);
			n++;
		}
		break;
	}
	return n < max ? n : max;
}

/* The source for (@family, @addr, @scope), from the cache or the hook. */
static bool
source_of(struct ks_dns *r, int family, const uint8_t *addr, uint32_t scope,
	  uint8_t src[16])
{
	size_t alen = family == KS_AF_INET ? 4 : 16;
	int64_t now = r->port->now();
	struct dns_src_entry *e, *oldest = &r->src_cache[0];

	r->port->mutex_lock(&r->src_lock);
	for (size_t i = 0; i < DNS_SRC_CACHE; i++) {
		e = &r->src_cache[i];
		if (e->expires > now && e->family == family &&
		    e->scope == scope && dns_memeq(e->dst, addr, alen)) {
			bool ok = e->ok;
			dns_memcpy(src, e->src, alen);
			r->port->mutex_unlock(&r->src_lock);
			return ok;
		}
		if (e->expires < oldest->expires)
			oldest = e;
	}
	r->port->mutex_unlock(&r->src_lock);

	bool ok = r->tp.source(r->tp.ctx, family, addr, scope, src) == 0;
	r->port->mutex_lock(&r->src_lock);
	e = oldest;
	e->expires = now + SRC_CACHE_NS;
	e->family = family;
	e->scope = scope;
	e->ok = ok;
	dns_memcpy(e->dst, addr, alen);
	dns_memcpy(e->src, src, alen);
	r->port->mutex_unlock(&r->src_lock);
	return ok;
}

/* Keys sorted without an allocation: answers are mostly this short. */
#define SORT_STACK_KEYS	16

struct sort_key {
	bool		usable;
	bool		v6;
	int		scope, src_scope, label, src_label, prec;
	unsigned	prefix;
};

/* Whether destination @a goes before @b (RFC 6724 6; false on a tie). */
static bool
goes_before(const struct sort_key *a, const struct sort_key *b)
{
	if (a->usable != b->usable)
		return a->usable;					/* 1 */
	bool sa = a->scope == a->src_scope, sb = b->scope == b->src_scope;
	if (sa != sb)
		return sa;						/* 2 */
	bool la = a->label == a->src_label, lb = b->label == b->src_label;
	if (la != lb)
		return la;						/* 5 */
	if (a->prec != b->prec)
		return a->prec > b->prec;				/* 6 */
	if (a->scope != b->scope)
		return a->scope < b->scope;				/* 8 */
	if (a->v6 && b->v6 && a->prefix != b->prefix)
		return a->prefix > b->prefix;				/* 9 */
	return false;							/* 10 */
}

/*
 * Sorts the @n addresses of @addrs (each @stride bytes apart, family at
 * @fam_off, 16 address bytes at @addr_off, scope at @scope_off) in place.
 * Returns 0 or -KS_ENOMEM.
 */
int
ks__dns_sort_addrs(struct ks_dns *r, const struct dns_conf *conf,
		   void *addrs, size_t n, size_t stride, size_t fam_off,
		   size_t addr_off, size_t scope_off)
{
	const struct ks_dns_config *c = &conf->c;
	const struct ks_dns_policy *lab = c->nlabel ? c->label : default_label;
	const struct ks_dns_policy *pre = c->nprecedence ? c->precedence :
							   default_precedence;
	size_t nlab = c->nlabel ? c->nlabel :
			sizeof default_label / sizeof default_label[0];
	size_t npre = c->nprecedence ? c->nprecedence :
			sizeof default_precedence / sizeof default_precedence[0];
	uint8_t *base = addrs, tmp[64];
	struct sort_key stack_keys[SORT_STACK_KEYS], *keys = stack_keys;

	if (n < 2 || stride > sizeof tmp)
		return 0;
	if (n > SORT_STACK_KEYS) {
		keys = r->port->alloc(n * sizeof *keys);
		if (!keys)
			return -KS_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = base + i * stride, d6[16], s6[16], src[16];
		int family;
		uint32_t scope;

		dns_memcpy(&family, e + fam_off, sizeof family);
		dns_memcpy(&scope, e + scope_off, sizeof scope);
		as_v6(family, e + addr_off, d6);
		struct sort_key *k = &keys[i];
		k->usable = true;
		if (r->tp.source)
			k->usable = source_of(r, family, e + addr_off, scope, src);
		if (!r->tp.source || !k->usable)
			dns_memcpy(src, e + addr_off, 16);
		as_v6(family, src, s6);
		/* IPv4-mapped destinations are IPv4 ones for rule 9. */
		k->v6 = family == KS_AF_INET6 && scope_of(d6) != 14 ? true :
			family == KS_AF_INET6 && !is_mapped(d6);
		k->scope = scope_of(d6);
		k->src_scope = scope_of(s6);
		k->label = policy_value(lab, nlab, d6, -1);
		k->src_label = policy_value(lab, nlab, s6, -2);
		k->prec = policy_value(pre, npre, d6, 0);
		k->prefix = common_prefix(d6, s6, 64);
	}
	/* Insertion sort: stable (rule 10), and answers are short. */
	for (size_t i = 1; i < n; i++) {
		struct sort_key k = keys[i];
		size_t j = i;

		dns_memcpy(tmp, base + i * stride, stride);
		while (j > 0 && goes_before(&k, &keys[j - 1])) {
			keys[j] = keys[j - 1];
			dns_memcpy(base + j * stride, base + (j - 1) * stride,
				   stride);
			j--;
		}
		keys[j] = k;
		dns_memcpy(base + j * stride, tmp, stride);
	}
	if (keys != stack_keys)
		r->port->free(keys, n * sizeof *keys);
	return 0;
}

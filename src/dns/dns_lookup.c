/*
 * The resolver object and its lookups: configuration snapshots, the hosts
 * table, numeric names, the search list with ndots, CNAME chains that end
 * outside an answer, the cache, and the getaddrinfo-style API on top.
 *
 * Configuration: r->conf points to an immutable struct dns_conf. Lookups
 * load it once with acquire ordering and use it to the end, so they never
 * lock for it. ks_dns_set_config() publishes a new snapshot under
 * r->conf_lock (writers only) and keeps the old ones on a retired list,
 * freed by ks_dns_destroy(): a lookup may still be reading one, and a
 * small leak per reconfiguration is cheaper than reference counting the
 * fast path.
 *
 * The services table (r->services) is published and retired the same
 * way by ks_dns_set_services().
 *
 * Locks, in the order taken: r->conf_lock (writers of r->conf and
 * r->services), then the cache lock inside dns_cache.c; r->src_lock
 * (dns_sort.c's source cache) is a leaf taken alone. Tags: [I] immutable
 * after creation, [A] atomic.
 */
#include "dns/dns_impl.h"

#define DEFAULT_TIMEOUT_MS	5000	/* glibc RES_TIMEOUT */
#define DEFAULT_ATTEMPTS	2	/* glibc RES_DFLRETRY */
/* TTL caps: c-ares caps positive answers at 3600 s; a negative answer is
 * capped lower so a name that appears is seen within 15 minutes. */
#define DEFAULT_MAX_TTL		3600
#define DEFAULT_MAX_NEG_TTL	900
/* Chains that need follow-up queries: at most this many extra queries. */
#define MAX_FOLLOWS		8

/* -- configuration -- */

void
ks_dns_config_init(struct ks_dns_config *c)
{
	dns_memset(c, 0, sizeof *c);
	c->ndots = 1;
	c->timeout_ms = DEFAULT_TIMEOUT_MS;
	c->attempts = DEFAULT_ATTEMPTS;
	c->max_ttl = DEFAULT_MAX_TTL;
	c->max_neg_ttl = DEFAULT_MAX_NEG_TTL;
}

static void
conf_free(const struct ks_port *port, struct dns_conf *conf)
{
	while (conf) {
		struct dns_conf *older = conf->retired;
		ks__dns_hosts_free(port, conf->hosts);
		port->free(conf, sizeof *conf);
		conf = older;
	}
}

/* Builds a snapshot from @c (NULL: defaults) and hosts text. */
static int
conf_build(const struct ks_port *port, const struct ks_dns_config *c,
	   const char *hosts, size_t hosts_len, struct dns_conf **out)
{
	struct dns_conf *conf;
	int err;

	conf = port->alloc(sizeof *conf);
	if (!conf)
		return -KS_ENOMEM;
	dns_memset(conf, 0, sizeof *conf);
	if (c)
		conf->c = *c;
	else
		ks_dns_config_init(&conf->c);
	struct ks_dns_config *k = &conf->c;
	err = -KS_EINVAL;
	if (k->nservers > KS_DNS_MAX_SERVERS || k->nsearch > KS_DNS_MAX_SEARCH ||
	    k->nlabel > KS_DNS_MAX_POLICY || k->nprecedence > KS_DNS_MAX_POLICY)
		goto free_conf;
	for (size_t i = 0; i < sizeof k->hosts_order; i++) {
		char o = k->hosts_order[i];
		if (o == 0)
			break;
		if ((o != 'f' && o != 'd') || i == sizeof k->hosts_order - 1)
			goto free_conf;
	}
	for (unsigned i = 0; i < k->nlabel; i++)
		if (k->label[i].len > 128)
			goto free_conf;
	for (unsigned i = 0; i < k->nprecedence; i++)
		if (k->precedence[i].len > 128)
			goto free_conf;
	for (unsigned i = 0; i < k->nservers; i++)
		if (k->servers[i].family != KS_AF_INET &&
		    k->servers[i].family != KS_AF_INET6)
			goto free_conf;
	if (k->timeout_ms == 0)
		k->timeout_ms = DEFAULT_TIMEOUT_MS;
	if (k->attempts == 0)
		k->attempts = 1;
	if (k->ndots > 15)
		k->ndots = 15;
	if (k->max_ttl == 0)
		k->max_ttl = DEFAULT_MAX_TTL;
	if (k->max_neg_ttl == 0)
		k->max_neg_ttl = DEFAULT_MAX_NEG_TTL;
	for (unsigned i = 0; i < k->nsearch; i++) {
		bool abs;
		k->search[i][KS_DNS_NAME_MAX] = 0;
		if (ks__dns_name_to_wire(k->search[i], conf->search_wire[i],
					 &conf->search_len[i], &abs) < 0)
			goto free_conf;
	}
	if (hosts) {
		err = ks__dns_hosts_parse(port, hosts, hosts_len, &conf->hosts);
		if (err < 0)
			goto free_conf;
	}
	*out = conf;
	return 0;

free_conf:
	port->free(conf, sizeof *conf);
	return err;
}

static bool
port_is_usable(const struct ks_port *port)
{
	return port && port->size >= offsetof(struct ks_port, random) +
				    sizeof port->random &&
	       port->alloc && port->free && port->mutex_init &&
	       port->mutex_destroy && port->mutex_lock && port->mutex_unlock &&
	       port->now && port->random;
}

int
ks_dns_create(struct ks_dns **out, const struct ks_port *port,
	      const struct ks_dns_transport *tp,
	      const struct ks_dns_config *c, const char *hosts,
	      size_t hosts_len)
{
	struct dns_conf *conf;
	struct ks_dns *r;
	int err;

	if (!port_is_usable(port) || !tp || !tp->open || !tp->send ||
	    !tp->recv || !tp->close)
		return -KS_EINVAL;
	r = port->alloc(sizeof *r);
	if (!r)
		return -KS_ENOMEM;
	dns_memset(r, 0, sizeof *r);
	r->port = port;
	r->tp = *tp;
	err = conf_build(port, c, hosts, hosts_len, &conf);
	if (err < 0)
		goto free_r;
	err = ks__dns_cache_create(port, conf->c.cache_entries, &r->cache);
	if (err < 0)
		goto free_conf;
	port->mutex_init(&r->conf_lock);
	port->mutex_init(&r->src_lock);
	atomic_store_explicit(&r->conf, conf, memory_order_release);
	*out = r;
	return 0;

free_conf:
	conf_free(port, conf);
free_r:
	port->free(r, sizeof *r);
	return err;
}

int
ks_dns_set_config(struct ks_dns *r, const struct ks_dns_config *c,
		  const char *hosts, size_t hosts_len)
{
	struct dns_conf *conf, *old;
	int err;

	err = conf_build(r->port, c, hosts, hosts_len, &conf);
	if (err < 0)
		return err;
	r->port->mutex_lock(&r->conf_lock);
	old = atomic_load_explicit(&r->conf, memory_order_relaxed);
	if (!hosts && old->hosts) {
		/* Keep the old hosts table: share it by moving ownership. */
		conf->hosts = old->hosts;
		old->hosts = NULL;
	}
	conf->retired = old;
	atomic_store_explicit(&r->conf, conf, memory_order_release);
	/* Server indexes may mean other servers now. */
	atomic_store(&r->no_edns, 0);
	atomic_store(&r->next_server, 0);
	r->port->mutex_unlock(&r->conf_lock);
	return 0;
}

void
ks_dns_destroy(struct ks_dns *r)
{
	if (!r)
		return;
	conf_free(r->port, atomic_load(&r->conf));
	for (struct dns_services *sv = atomic_load(&r->services), *older; sv;
	     sv = older) {
		older = sv->retired;
		r->port->free(sv, sv->size);
	}
	ks__dns_cache_destroy(r->cache);
	r->port->mutex_destroy(&r->conf_lock);
	r->port->mutex_destroy(&r->src_lock);
	r->port->free(r, sizeof *r);
}

void
ks_dns_cache_flush(struct ks_dns *r)
{
	ks__dns_cache_flush(r->cache);
}

void
ks_dns_get_stats(struct ks_dns *r, struct ks_dns_stats *out)
{
	out->udp_queries = atomic_load(&r->stats.udp);
	out->tcp_queries = atomic_load(&r->stats.tcp);
	out->cache_hits = atomic_load(&r->stats.hits);
	out->cache_misses = atomic_load(&r->stats.misses);
	out->timeouts = atomic_load(&r->stats.timeouts);
	out->rejected = atomic_load(&r->stats.rejected);
	out->edns_fallbacks = atomic_load(&r->stats.edns);
	for (int i = 0; i < KS_DNS_MAX_SERVERS; i++)
		out->per_server[i] = atomic_load(&r->stats.per_server[i]);
}

static const struct dns_conf *
conf_get(struct ks_dns *r)
{
	return atomic_load_explicit(&r->conf, memory_order_acquire);
}

/* -- answers that did not come from DNS -- */

static int parse_scope(struct ks_dns *r, const uint8_t *addr, const char *s,
		       size_t len, uint32_t *scope);

/* A one-off answer with @n addresses of @len bytes each (hosts, numeric
 * names). TTL 0: never cached. */
static struct dns_answer *
synth_answer(const struct ks_port *port, uint16_t qtype, const char *canon,
	     size_t canonlen, int64_t now, unsigned n, size_t len)
{
	struct dns_answer *a = ks__dns_answer_alloc(port, n, n * len, 0);

	if (!a)
		return NULL;
	a->status = DNS_ANS_OK;
	a->born = a->expires = now;
	a->qtype = qtype;
	if (canonlen > KS_DNS_NAME_MAX + 1)
		canonlen = KS_DNS_NAME_MAX + 1;
	if (canonlen > 0 && canon[canonlen - 1] == '.')
		canonlen--;
	dns_memcpy(a->canon, canon, canonlen);
	a->canon[canonlen] = 0;
	return a;
}

/*
 * Copies the address of record @i of @a (4 or 16 bytes) into @out and
 * returns its IPv6 scope id: a hosts line "fe80::1%eth0 name" keeps its
 * scope as 4 more bytes after the address (record length 20).
 */
static uint32_t
record_addr(const struct dns_answer *a, unsigned i, uint8_t *out)
{
	const uint8_t *p = a->data + a->rr[i].off;
	uint32_t scope = 0;

	if (a->rr[i].len == 20) {
		dns_memcpy(&scope, p + 16, 4);
		dns_memcpy(out, p, 16);
		return scope;
	}
	dns_memcpy(out, p, a->rr[i].len);
	return 0;
}

static uint16_t
family_type(int family)
{
	return family == KS_AF_INET ? DNS_T_A : DNS_T_AAAA;
}

static size_t
family_len(int family)
{
	return family == KS_AF_INET ? 4 : 16;
}

/*
 * Looks @name up in the hosts table for each type of @types. Returns 1
 * when the name is there (ans[] set where it has addresses of that type),
 * 0 when not, or -KS_ENOMEM.
 */
static int
hosts_lookup(struct ks_dns *r, const struct dns_hosts *hs,
	     const char *name, const uint16_t *types, size_t ntypes,
	     struct dns_answer **ans, int64_t now)
{
	const struct ks_port *port = r->port;
	size_t namelen = dns_strlen(name);
	bool found = false;

	if (!hs)
		return 0;
	for (size_t t = 0; t < ntypes; t++) {
		int family = types[t] == DNS_T_A ? KS_AF_INET : KS_AF_INET6;
		unsigned n = 0;
		const struct dns_host *first = NULL;

		for (size_t i = 0; i < hs->n; i++) {
			if (ks__dns_host_has_name(&hs->h[i], name, namelen)) {
				found = true;
				if (hs->h[i].family == family && n < DNS_ANS_MAX_RR) {
					n++;
					if (!first)
						first = &hs->h[i];
				}
			}
		}
		if (n == 0)
			continue;
		/* IPv6 slots have room for a scope id (see record_addr). */
		size_t slot = family_len(family) + (family == KS_AF_INET6 ? 4 : 0);
		struct dns_answer *a = synth_answer(port, types[t], first->name,
					first->namelen, now, n, slot);
		if (!a) {
			for (size_t u = 0; u < t; u++) {
				ks__dns_answer_put(port, ans[u]);
				ans[u] = NULL;
			}
			return -KS_ENOMEM;
		}
		for (size_t i = 0; i < hs->n && a->nrr < n; i++) {
			if (hs->h[i].family != family ||
			    !ks__dns_host_has_name(&hs->h[i], name, namelen))
				continue;
			size_t o = a->nrr * slot;
			uint32_t scope = 0;
			dns_memcpy(a->data + o, hs->h[i].addr, family_len(family));
			a->rr[a->nrr].off = (uint32_t)o;
			a->rr[a->nrr].len = (uint32_t)family_len(family);
			if (hs->h[i].scope &&
			    parse_scope(r, hs->h[i].addr, hs->h[i].scope,
					hs->h[i].scopelen, &scope) == 0 && scope) {
				dns_memcpy(a->data + o + 16, &scope, 4);
				a->rr[a->nrr].len = 20;
			}
			a->nrr++;
		}
		ans[t] = a;
	}
	return found ? 1 : 0;
}

/* -- DNS lookups -- */

/* Per-type results of one candidate name. */
#define CAND_OK		0
#define CAND_NXDOMAIN	1
#define CAND_NODATA	2
#define CAND_TEMP	3
#define CAND_PERM	4
#define CAND_NOMEM	5
#define CAND_TIMEOUT	6	/* no server said anything */

static int
answer_cand(const struct dns_answer *a)
{
	if (a->status == DNS_ANS_OK)
		return CAND_OK;
	return a->status == DNS_ANS_NXDOMAIN ? CAND_NXDOMAIN : CAND_NODATA;
}

static void
cache_answer(struct ks_dns *r, const struct dns_conf *conf,
	     const uint8_t *qname, uint16_t qtype, struct dns_answer *a)
{
	/* A zero TTL (or a negative answer without an SOA) is not kept. */
	if (conf->c.no_cache || a->expires <= a->born)
		return;
	(void)ks__dns_cache_put(r->cache, qname, qtype, a);	/* best effort */
}

/*
 * Chases a chain left incomplete by the server: asks for its end, again,
 * up to MAX_FOLLOWS times. Returns a CAND_* and sets q->answer.
 */
static int
chase(struct ks_dns *r, const struct dns_conf *conf, struct dns_question *q,
      int64_t deadline)
{
	uint8_t name[DNS_WIRE_NAME_MAX];

	for (int i = 0; i < MAX_FOLLOWS && q->followlen; i++) {
		struct dns_answer *hit = NULL;

		dns_memcpy(name, q->follow, q->followlen);
		q->qname = name;
		q->qnamelen = q->followlen;
		q->followlen = 0;
		if (!conf->c.no_cache)
			hit = ks__dns_cache_get(r->cache, name, q->qtype,
						r->port->now());
		if (hit) {
			q->answer = hit;
			return answer_cand(hit);
		}
		ks__dns_ask(r, conf, q, 1, deadline);
		if (q->outcome == DNS_Q_NOMEM)
			return CAND_NOMEM;
		if (q->outcome != DNS_Q_ANSWER)
			return q->outcome == DNS_Q_PERMFAIL ? CAND_PERM : CAND_TEMP;
		if (q->answer) {
			cache_answer(r, conf, name, q->qtype, q->answer);
			return answer_cand(q->answer);
		}
	}
	/* Still incomplete after MAX_FOLLOWS: a loop across servers or
	 * zones. */
	return CAND_PERM;
}

/*
 * Resolves the wire name @qname for each of @types (in parallel), from
 * the cache or the servers. Fills res[] with CAND_* and ans[] with
 * answers (references the caller drops).
 */
static void
resolve_candidate(struct ks_dns *r, const struct dns_conf *conf,
		  const uint8_t *qname, size_t qnamelen, const uint16_t *types,
		  size_t ntypes, int *res, struct dns_answer **ans,
		  int64_t deadline)
{
	struct dns_question qs[2];
	size_t map[2], nq = 0;
	int64_t now = r->port->now();

	for (size_t t = 0; t < ntypes; t++) {
		ans[t] = NULL;
		if (!conf->c.no_cache)
			ans[t] = ks__dns_cache_get(r->cache, qname, types[t], now);
		if (ans[t]) {
			atomic_fetch_add_explicit(&r->stats.hits, 1,
						  memory_order_relaxed);
			res[t] = answer_cand(ans[t]);
			continue;
		}
		atomic_fetch_add_explicit(&r->stats.misses, 1,
					  memory_order_relaxed);
		qs[nq].qname = qname;
		qs[nq].qnamelen = qnamelen;
		qs[nq].qtype = types[t];
		map[nq++] = t;
	}
	if (nq == 0)
		return;
	ks__dns_ask(r, conf, qs, nq, deadline);
	for (size_t i = 0; i < nq; i++) {
		size_t t = map[i];
		struct dns_question *q = &qs[i];

		switch (q->outcome) {
		case DNS_Q_NOMEM:
			res[t] = CAND_NOMEM;
			continue;
		case DNS_Q_TEMPFAIL:
			res[t] = CAND_TEMP;
			continue;
		case DNS_Q_TIMEOUT:
			res[t] = CAND_TIMEOUT;
			continue;
		case DNS_Q_PERMFAIL:
			res[t] = CAND_PERM;
			continue;
		}
		if (q->answer) {
			cache_answer(r, conf, qname, types[t], q->answer);
			res[t] = answer_cand(q->answer);
		} else {
			res[t] = chase(r, conf, q, deadline);
			if (q->answer)
				cache_answer(r, conf, qname, types[t], q->answer);
		}
		ans[t] = q->answer;
	}
}

/* Whether a name is literally "localhost" (RFC 6761 6.3 would let us
 * answer it ourselves; we leave that to the hosts table, as glibc). */

/*
 * One candidate's failure from its per-type results, as glibc combines
 * the A and AAAA answers: NXDOMAIN for either type means the name does
 * not exist (a dangling CNAME from dnsmasq gives NXDOMAIN for A and NODATA
 * for AAAA); else NODATA for either means it exists without addresses,
 * even when the other type failed; else a server's failure, then
 * silence, then a permanent failure.
 */
static int
candidate_result(const int *res, size_t ntypes)
{
	static const int order[] = { CAND_NXDOMAIN, CAND_NODATA, CAND_TEMP,
				     CAND_TIMEOUT };

	for (size_t o = 0; o < sizeof order / sizeof order[0]; o++)
		for (size_t t = 0; t < ntypes; t++)
			if (res[t] == order[o])
				return order[o];
	return CAND_PERM;
}

static int
cand_error(int cand)
{
	switch (cand) {
	case CAND_NXDOMAIN:	return KS_EAI_NONAME;
	case CAND_NODATA:	return KS_EAI_NODATA;
	case CAND_TEMP:
	case CAND_TIMEOUT:	return KS_EAI_AGAIN;
	default:		return KS_EAI_FAIL;
	}
}

/*
 * Resolves text @name for up to two @types through DNS and the search
 * list. On 0, ans[t] holds an OK answer or NULL for each type (at least
 * one is set). Returns 0 or a KS_EAI_* code.
 */
static int
search_dns(struct ks_dns *r, const struct dns_conf *conf, const char *name,
	   const uint16_t *types, size_t ntypes, struct dns_answer **ans)
{
	uint8_t wire[DNS_WIRE_NAME_MAX], cand[DNS_WIRE_NAME_MAX];
	size_t wirelen, candlen;
	bool absolute, servfail = false, nodata = false;
	int64_t deadline = -1;
	int first = -1, last = CAND_NXDOMAIN;

	for (size_t t = 0; t < ntypes; t++)
		ans[t] = NULL;
	if (ks__dns_name_to_wire(name, wire, &wirelen, &absolute) < 0)
		return KS_EAI_NONAME;
	if (conf->c.deadline_ms)
		deadline = r->port->now() + (int64_t)conf->c.deadline_ms * 1000000;

	/*
	 * Candidates: the name as given first when it has ndots dots or
	 * more, otherwise last; an absolute name is tried alone.
	 */
	unsigned nsearch = absolute ? 0 : conf->c.nsearch;
	bool as_is_first = absolute ||
			   ks__dns_count_dots(name) >= conf->c.ndots;
	for (unsigned k = 0; k <= nsearch; k++) {
		int res[2];
		unsigned si;
		bool as_is = as_is_first ? k == 0 : k == nsearch;

		if (as_is) {
			dns_memcpy(cand, wire, wirelen);
			candlen = wirelen;
		} else {
			si = as_is_first ? k - 1 : k;
			if (ks__dns_wire_join(wire, wirelen, conf->search_wire[si],
					      conf->search_len[si], cand,
					      &candlen) < 0)
				continue;
		}
		resolve_candidate(r, conf, cand, candlen, types, ntypes, res,
				  ans, deadline);
		bool ok = false, nomem = false, silent = true;
		for (size_t t = 0; t < ntypes; t++) {
			ok |= res[t] == CAND_OK;
			nomem |= res[t] == CAND_NOMEM;
			silent &= res[t] == CAND_TIMEOUT;
		}
		if (ok && !nomem) {
			/* Keep only positive answers. */
			for (size_t t = 0; t < ntypes; t++) {
				if (ans[t] && res[t] != CAND_OK) {
					ks__dns_answer_put(r->port, ans[t]);
					ans[t] = NULL;
				}
			}
			return 0;
		}
		for (size_t t = 0; t < ntypes; t++) {
			ks__dns_answer_put(r->port, ans[t]);
			ans[t] = NULL;
		}
		if (nomem)
			return KS_EAI_MEMORY;
		/* What this candidate says, and what the whole search will
		 * say, in glibc's order (res_search and getaddrinfo). */
		int cr = candidate_result(res, ntypes);
		if (as_is && as_is_first)
			first = cr;
		nodata |= cr == CAND_NODATA;
		servfail |= cr == CAND_TEMP;
		last = cr;
		/* Unlike musl, a SERVFAIL does not end the search: the next
		 * candidate may still resolve. A search domain that no
		 * server answered at all does end the walk through the
		 * domains, as in glibc: the servers are most likely gone,
		 * and every other domain would cost the full timeouts
		 * again. The name as given is still tried if it has not
		 * been. */
		if (silent && !as_is) {
			if (as_is_first)
				break;
			k = nsearch - 1;
		}
		/* The lookup's own deadline ends the search. */
		if (deadline >= 0 && r->port->now() >= deadline)
			break;
	}
	/* The name as given, when it was tried first, speaks for the whole
	 * search; else NODATA anywhere (the name exists somewhere), else a
	 * server failure anywhere, else the last candidate's answer. */
	if (first >= 0)
		return cand_error(first);
	if (nodata)
		return KS_EAI_NODATA;
	if (servfail)
		return KS_EAI_AGAIN;
	return cand_error(last);
}

static bool
has_8bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* The sources to ask, in nsswitch.conf's order. */
static const char *
hosts_order(const struct dns_conf *conf)
{
	return conf->c.hosts_order[0] ? conf->c.hosts_order : "fd";
}

/*
 * Resolves text @name for up to two @types from the sources in order:
 * the hosts table ('f') and DNS with the search list ('d'). A source that
 * does not have it hands over to the next, as nsswitch's default actions
 * do. On 0, ans[t] holds an OK answer or NULL for each type (at least one
 * is set). Returns 0 or a KS_EAI_* code (DNS's, when DNS was asked).
 */
static int
lookup_name(struct ks_dns *r, const struct dns_conf *conf, const char *name,
	    const uint16_t *types, size_t ntypes, struct dns_answer **ans)
{
	uint8_t wire[DNS_WIRE_NAME_MAX];
	size_t wirelen;
	bool absolute, asked_dns = false;
	int err, dns_err = KS_EAI_NONAME;

	for (size_t t = 0; t < ntypes; t++)
		ans[t] = NULL;
	/* Raw 8-bit names are refused, as glibc does without AI_IDN. */
	if (has_8bit(name) ||
	    ks__dns_name_to_wire(name, wire, &wirelen, &absolute) < 0)
		return KS_EAI_NONAME;
	for (const char *src = hosts_order(conf); *src; src++) {
		if (*src == 'f') {
			err = hosts_lookup(r, conf->hosts, name, types, ntypes,
					   ans, r->port->now());
			if (err < 0)
				return KS_EAI_MEMORY;
			for (size_t t = 0; t < ntypes; t++)
				if (ans[t])
					return 0;
			/* Not there, or not with this family: glibc's files
			 * backend says "not found" and the next one is
			 * asked. */
			continue;
		}
		err = search_dns(r, conf, name, types, ntypes, ans);
		if (err == 0 || err == KS_EAI_MEMORY)
			return err;
		asked_dns = true;
		dns_err = err;
	}
	return asked_dns ? dns_err : KS_EAI_NONAME;
}

/*
 * Parses the scope of "ADDR%SCOPE" for IPv6 address @addr: an interface
 * name (link-local and node/link-local multicast addresses only, through
 * the transport's if_index hook) or a decimal number, as glibc's
 * __inet6_scopeid_pton. Returns 0 or -KS_EINVAL.
 */
static int
parse_scope(struct ks_dns *r, const uint8_t *addr, const char *s, size_t len,
	    uint32_t *scope)
{
	bool link = (addr[0] == 0xfe && (addr[1] & 0xc0) == 0x80) ||
		    (addr[0] == 0xff && ((addr[1] & 0x0f) == 1 ||
					 (addr[1] & 0x0f) == 2));
	uint64_t v = 0;
	size_t i;

	if (len == 0)
		return -KS_EINVAL;
	if (link && r && r->tp.if_index &&
	    r->tp.if_index(r->tp.ctx, s, len, scope) == 0 && *scope)
		return 0;
	for (i = 0; i < len && dns_is_digit(s[i]); i++) {
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > 0xffffffffu)
			return -KS_EINVAL;
	}
	if (i == 0 || i != len)
		return -KS_EINVAL;
	*scope = (uint32_t)v;
	return 0;
}

/*
 * Parses @name as a numeric address of @family (KS_AF_UNSPEC: either),
 * in the forms glibc's getaddrinfo accepts: inet_aton's for IPv4
 * ("127.1"), inet_pton's for IPv6 with an optional "%scope". Returns 1
 * (*@scope set, 0 without one), 0 when @name is not numeric, or -1 for
 * an IPv6 address with a scope that names nothing (EAI_NONAME).
 */
static int
numeric_host(struct ks_dns *r, const char *name, int family, int *out_family,
	     uint8_t addr[16], uint32_t *scope)
{
	size_t len = dns_strlen(name), alen = len;

	*scope = 0;
	if (family != KS_AF_INET6 && ks__dns_parse_ipv4_aton(name, len, addr)) {
		*out_family = KS_AF_INET;
		return 1;
	}
	if (family == KS_AF_INET)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '%') {
			alen = i;
			break;
		}
	}
	if (!ks__dns_parse_ipv6(name, alen, addr))
		return 0;
	*out_family = KS_AF_INET6;
	if (alen < len && parse_scope(r, addr, name + alen + 1,
				      len - alen - 1, scope) < 0)
		return -1;
	return 1;
}

/* -- simple lookups -- */

int
ks_dns_resolve(struct ks_dns *r, const char *name, int family,
	       struct ks_dns_addr *out, size_t max, size_t *count)
{
	const struct dns_conf *conf = conf_get(r);
	struct dns_answer *ans[2];
	uint16_t types[2];
	size_t ntypes = 0, n = 0;
	uint8_t addr[16];
	int fam, err;

	*count = 0;
	if (family != KS_AF_UNSPEC && family != KS_AF_INET &&
	    family != KS_AF_INET6)
		return KS_EAI_FAMILY;
	if (!name)
		return KS_EAI_NONAME;
	uint32_t scope;
	int num = numeric_host(r, name, family, &fam, addr, &scope);
	if (num < 0)
		return KS_EAI_NONAME;
	if (num > 0) {
		if (max > 0) {
			out[0].family = fam;
			dns_memcpy(out[0].addr, addr, family_len(fam));
			out[0].ttl = 0;
			*count = 1;
		}
		return 0;
	}
	if (family != KS_AF_INET6)
		types[ntypes++] = DNS_T_A;
	if (family != KS_AF_INET)
		types[ntypes++] = DNS_T_AAAA;
	err = lookup_name(r, conf, name, types, ntypes, ans);
	if (err)
		return err;
	int64_t now = r->port->now();
	for (size_t t = 0; t < ntypes; t++) {
		struct dns_answer *a = ans[t];
		for (unsigned i = 0; a && i < a->nrr && n < max; i++, n++) {
			out[n].family = types[t] == DNS_T_A ? KS_AF_INET :
							      KS_AF_INET6;
			dns_memset(out[n].addr, 0, 16);
			(void)record_addr(a, i, out[n].addr);
			out[n].ttl = ks__dns_answer_ttl(a, i, now);
		}
		ks__dns_answer_put(r->port, a);
	}
	*count = n;
	return 0;
}

int
ks_dns_resolve4(struct ks_dns *r, const char *name, struct ks_in_addr *out)
{
	struct ks_dns_addr a;
	size_t n;
	int err;

	err = ks_dns_resolve(r, name, KS_AF_INET, &a, 1, &n);
	if (err)
		return err;
	if (n == 0)
		return KS_EAI_NODATA;
	dns_memcpy(&out->s_addr, a.addr, 4);
	return 0;
}

/* -- services -- */

#define SVC_TCP	1
#define SVC_UDP	2
#define SVC_NUMERIC 4	/* parse_service: a number, not a name */

/*
 * A few well-known services: a freestanding resolver has no
 * /etc/services. Protocols as in Debian's netbase.
 */
static const struct {
	const char	*name;
	uint16_t	 port;
	uint8_t		 protos;
} services[] = {
	{ "echo", 7, SVC_TCP | SVC_UDP },
	{ "discard", 9, SVC_TCP | SVC_UDP },
	{ "daytime", 13, SVC_TCP | SVC_UDP },
	{ "ftp", 21, SVC_TCP },
	{ "ssh", 22, SVC_TCP },
	{ "telnet", 23, SVC_TCP },
	{ "smtp", 25, SVC_TCP },
	{ "time", 37, SVC_TCP },
	{ "domain", 53, SVC_TCP | SVC_UDP },
	{ "http", 80, SVC_TCP },
	{ "pop3", 110, SVC_TCP },
	{ "ntp", 123, SVC_UDP },
	{ "imap2", 143, SVC_TCP },
	{ "snmp", 161, SVC_TCP | SVC_UDP },
	{ "https", 443, SVC_TCP | SVC_UDP },
	{ "syslog", 514, SVC_UDP },
	{ "submission", 587, SVC_TCP },
	{ "imaps", 993, SVC_TCP },
	{ "pop3s", 995, SVC_TCP },
};

static bool
str_eq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

int
ks_dns_set_services(struct ks_dns *r, const char *text, size_t len)
{
	struct dns_services *sv = NULL, *old;
	int err;

	if (text) {
		err = ks__dns_services_parse(r->port, text, len, &sv);
		if (err < 0)
			return err;
	}
	r->port->mutex_lock(&r->conf_lock);
	old = atomic_load_explicit(&r->services, memory_order_relaxed);
	if (sv)
		sv->retired = old;
	else if (old) {
		/* Back to the built-in table: keep the old one for readers
		 * still in it, on a list freed at destroy. */
		err = ks__dns_services_parse(r->port, "", 0, &sv);
		if (err < 0) {
			r->port->mutex_unlock(&r->conf_lock);
			return err;
		}
		sv->retired = old;
		sv->n = SIZE_MAX;	/* marks "use the built-in table" */
	}
	atomic_store_explicit(&r->services, sv, memory_order_release);
	r->port->mutex_unlock(&r->conf_lock);
	return 0;
}

/* The loaded services table, or NULL for the built-in one. */
static const struct dns_services *
services_get(struct ks_dns *r)
{
	const struct dns_services *sv =
		atomic_load_explicit(&r->services, memory_order_acquire);

	return sv && sv->n != SIZE_MAX ? sv : NULL;
}

static uint8_t
svc_bits(uint8_t proto)
{
	return proto == DNS_SVC_TCP ? SVC_TCP : SVC_UDP;
}

/* Service to port and protocols, from the loaded services table when
 * there is one (as glibc, which knows no other), else from the built-in
 * table. Returns 0, KS_EAI_SERVICE or KS_EAI_NONAME (a name with
 * AI_NUMERICSERV, as glibc). */
static int
parse_service(struct ks_dns *r, const char *service, int flags,
	      uint16_t *port, uint8_t *protos)
{
	const struct dns_services *sv;
	unsigned v = 0;
	size_t i;

	*protos = SVC_TCP | SVC_UDP;
	*port = 0;
	if (!service)
		return 0;
	for (i = 0; service[i] && dns_is_digit(service[i]) && v <= 65535; i++)
		v = v * 10 + (unsigned)(service[i] - '0');
	if (i > 0 && service[i] == 0) {
		if (v > 65535)
			return KS_EAI_SERVICE;
		*port = (uint16_t)v;
		*protos |= SVC_NUMERIC;
		return 0;
	}
	if (flags & KS_AI_NUMERICSERV)
		return KS_EAI_NONAME;
	sv = services_get(r);
	if (sv) {
		bool found = false;
		for (i = 0; i < sv->n; i++) {
			const struct dns_service *e = &sv->s[i];
			if (!ks__dns_service_has_name(e, service))
				continue;
			if (!found) {
				*port = e->port;
				*protos = 0;
				found = true;
			}
			if (e->port == *port)
				*protos |= svc_bits(e->proto);
		}
		return found ? 0 : KS_EAI_SERVICE;
	}
	for (i = 0; i < sizeof services / sizeof services[0]; i++) {
		if (str_eq(services[i].name, service)) {
			*port = services[i].port;
			*protos = services[i].protos;
			return 0;
		}
	}
	return KS_EAI_SERVICE;
}

/* -- getaddrinfo -- */

/* The socket types getaddrinfo returns for socktype 0, as glibc. */
static const struct {
	int	socktype, protocol;
	uint8_t	proto;		/* SVC_* it needs, 0 for raw */
} socktypes[] = {
	{ KS_SOCK_STREAM, KS_IPPROTO_TCP, SVC_TCP },
	{ KS_SOCK_DGRAM, KS_IPPROTO_UDP, SVC_UDP },
	{ KS_SOCK_RAW, KS_IPPROTO_IP, 0 },
};

/* One allocation holds the whole list; freeaddrinfo finds it here. */
struct ai_block {
	const struct ks_port	*port;
	size_t			 size;
	struct ks_addrinfo	 ai[];
};

struct ai_addr {
	int		family;
	uint8_t		addr[16];
	uint32_t	scope;		/* IPv6 scope id, 0: none */
};

/* Addresses a list holds without an allocation of their own. */
#define AI_STACK_ADDRS	8

union ai_sockaddr {
	struct ks_sockaddr_in	v4;
	struct ks_sockaddr_in6	v6;
};

static uint16_t
to_net16(uint16_t v)
{
	uint8_t b[2];
	uint16_t out;

	dns_put16(b, v);
	dns_memcpy(&out, b, 2);
	return out;
}

/*
 * Whether the hints' socket type and protocol go together at all, service
 * aside: when they do and still nothing fits, the service does not exist
 * for that type (ntp over SOCK_STREAM), which POSIX and glibc call
 * EAI_SERVICE; otherwise it is EAI_SOCKTYPE.
 */
static bool
socktype_fits(const struct ks_addrinfo *h)
{
	for (size_t k = 0; k < 3; k++) {
		if (h->ai_socktype && h->ai_socktype != socktypes[k].socktype)
			continue;
		if (h->ai_protocol && socktypes[k].proto &&
		    h->ai_protocol != socktypes[k].protocol)
			continue;
		return true;
	}
	return false;
}

/* Builds the list for @addrs x the socket types that fit the hints. */
static int
build_list(const struct ks_port *port, const struct ai_addr *addrs,
	   size_t naddrs, const struct ks_addrinfo *h, uint16_t svcport,
	   uint8_t protos, bool have_service, bool named_service,
	   const char *canon, struct ks_addrinfo **res)
{
	int kinds[3];
	size_t nkinds = 0, canonlen = canon ? dns_strlen(canon) + 1 : 0;

	/* Raw sockets have no ports: glibc refuses a service with an
	 * explicit SOCK_RAW, and lists raw for socktype 0 only without a
	 * named service and without a protocol. */
	if (h->ai_socktype == KS_SOCK_RAW && have_service)
		return KS_EAI_SERVICE;
	for (size_t k = 0; k < 3; k++) {
		if (h->ai_socktype && h->ai_socktype != socktypes[k].socktype)
			continue;
		if (!socktypes[k].proto) {
			if (named_service ||
			    (h->ai_protocol && !h->ai_socktype))
				continue;
		} else {
			if (h->ai_protocol &&
			    h->ai_protocol != socktypes[k].protocol)
				continue;
			if (!(protos & socktypes[k].proto))
				continue;
		}
		kinds[nkinds++] = (int)k;
	}
	if (nkinds == 0)
		return socktype_fits(h) ? KS_EAI_SERVICE : KS_EAI_SOCKTYPE;
	size_t n = naddrs * nkinds;
	size_t size = sizeof(struct ai_block) +
		      n * (sizeof(struct ks_addrinfo) + sizeof(union ai_sockaddr)) +
		      canonlen;
	struct ai_block *b = port->alloc(size);
	if (!b)
		return KS_EAI_MEMORY;
	dns_memset(b, 0, size);
	b->port = port;
	b->size = size;
	union ai_sockaddr *sa = (union ai_sockaddr *)(b->ai + n);
	char *cn = (char *)(sa + n);
	if (canon)
		dns_memcpy(cn, canon, canonlen);
	size_t i = 0;
	for (size_t a = 0; a < naddrs; a++) {
		for (size_t k = 0; k < nkinds; k++, i++) {
			struct ks_addrinfo *ai = &b->ai[i];
			ai->ai_family = addrs[a].family;
			ai->ai_socktype = socktypes[kinds[k]].socktype;
			ai->ai_protocol = socktypes[kinds[k]].protocol;
			if (h->ai_protocol && !socktypes[kinds[k]].proto)
				ai->ai_protocol = h->ai_protocol;
			ai->ai_addr = (struct ks_sockaddr *)&sa[i];
			if (addrs[a].family == KS_AF_INET) {
				sa[i].v4.sin_family = KS_AF_INET;
				sa[i].v4.sin_port = to_net16(svcport);
				dns_memcpy(&sa[i].v4.sin_addr, addrs[a].addr, 4);
				ai->ai_addrlen = sizeof sa[i].v4;
			} else {
				sa[i].v6.sin6_family = KS_AF_INET6;
				sa[i].v6.sin6_port = to_net16(svcport);
				dns_memcpy(&sa[i].v6.sin6_addr, addrs[a].addr, 16);
				sa[i].v6.sin6_scope_id = addrs[a].scope;
				ai->ai_addrlen = sizeof sa[i].v6;
			}
			ai->ai_next = i + 1 < n ? &b->ai[i + 1] : NULL;
		}
	}
	if (canon)
		b->ai[0].ai_canonname = cn;
	*res = b->ai;
	return 0;
}

/* Appends the addresses of @a (mapping IPv4 into IPv6 when asked). */
static void
add_answer(struct ai_addr *addrs, size_t *n, const struct dns_answer *a,
	   bool map4)
{
	for (unsigned i = 0; a && i < a->nrr; i++) {
		struct ai_addr *x = &addrs[(*n)++];
		dns_memset(x, 0, sizeof *x);
		if (a->qtype == DNS_T_A && map4) {
			x->family = KS_AF_INET6;
			x->addr[10] = x->addr[11] = 0xff;
			dns_memcpy(x->addr + 12, a->data + a->rr[i].off, 4);
		} else {
			x->family = a->qtype == DNS_T_A ? KS_AF_INET : KS_AF_INET6;
			x->scope = record_addr(a, i, x->addr);
		}
	}
}

#define AI_KNOWN_FLAGS	(KS_AI_PASSIVE | KS_AI_CANONNAME | \
			 KS_AI_NUMERICHOST | KS_AI_V4MAPPED | KS_AI_ALL | \
			 KS_AI_ADDRCONFIG | KS_AI_NUMERICSERV | KS_AI_IDN | \
			 KS_AI_CANONIDN)

/* UTF-8 of a host name at most: four bytes per character. */
#define IDN_TEXT_MAX	(4 * KS_DNS_NAME_MAX + 2)

int
ks_dns_getaddrinfo(struct ks_dns *r, const char *node, const char *service,
		   const struct ks_addrinfo *hints, struct ks_addrinfo **res)
{
	static const struct ks_addrinfo no_hints;
	const struct ks_addrinfo *h = hints ? hints : &no_hints;
	const struct dns_conf *conf;
	struct ai_addr stack_addrs[AI_STACK_ADDRS], *addrs = stack_addrs;
	size_t addrs_cap = AI_STACK_ADDRS;
	struct dns_answer *ans[2] = { NULL, NULL };
	size_t naddrs = 0;
	uint16_t svcport;
	uint8_t protos;
	int family = h->ai_family, flags = h->ai_flags, err;
	char idn[KS_DNS_NAME_MAX + 2], ucanon[IDN_TEXT_MAX];

	*res = NULL;
	if (flags & ~AI_KNOWN_FLAGS)
		return KS_EAI_BADFLAGS;
	/* A name with 8-bit bytes is looked up only in its ASCII form, made
	 * with AI_IDN; without it glibc refuses it, and so do we. */
	if (node && has_8bit(node)) {
		if (!(flags & KS_AI_IDN))
			return KS_EAI_NONAME;
		if (ks__dns_idn_to_ascii(node, idn, sizeof idn) < 0)
			return KS_EAI_IDN_ENCODE;
		node = idn;
	}
	if ((flags & KS_AI_CANONNAME) && !node)
		return KS_EAI_BADFLAGS;
	if (family != KS_AF_UNSPEC && family != KS_AF_INET &&
	    family != KS_AF_INET6)
		return KS_EAI_FAMILY;
	if (h->ai_socktype != 0 && h->ai_socktype != KS_SOCK_STREAM &&
	    h->ai_socktype != KS_SOCK_DGRAM && h->ai_socktype != KS_SOCK_RAW)
		return KS_EAI_SOCKTYPE;
	if (!node && !service)
		return KS_EAI_NONAME;
	err = parse_service(r, service, flags, &svcport, &protos);
	if (err)
		return err;
	bool named = service && protos != (SVC_TCP | SVC_UDP | SVC_NUMERIC);
	protos &= SVC_TCP | SVC_UDP;

	if (!node) {
		/* The wildcard or the loopback address, as glibc. */
		bool passive = flags & KS_AI_PASSIVE;
		if (family != KS_AF_INET6) {
			dns_memset(&addrs[naddrs], 0, sizeof addrs[naddrs]);
			addrs[naddrs].family = KS_AF_INET;
			if (!passive) {
				addrs[naddrs].addr[0] = 127;
				addrs[naddrs].addr[3] = 1;
			}
			naddrs++;
		}
		if (family != KS_AF_INET) {
			dns_memset(&addrs[naddrs], 0, sizeof addrs[naddrs]);
			addrs[naddrs].family = KS_AF_INET6;
			if (!passive)
				addrs[naddrs].addr[15] = 1;
			naddrs++;
		}
		return build_list(r->port, addrs, naddrs, h, svcport, protos,
				  service != NULL, named, NULL, res);
	}

	int nfam, num;
	uint32_t scope;
	num = numeric_host(r, node, KS_AF_UNSPEC, &nfam, addrs[0].addr, &scope);
	if (num < 0)
		return KS_EAI_NONAME;
	if (num > 0) {
		addrs[0].scope = scope;
		if (family == KS_AF_INET6 && nfam == KS_AF_INET &&
		    (flags & KS_AI_V4MAPPED)) {
			uint8_t v4[4];
			dns_memcpy(v4, addrs[0].addr, 4);
			dns_memset(addrs[0].addr, 0, 16);
			addrs[0].addr[10] = addrs[0].addr[11] = 0xff;
			dns_memcpy(addrs[0].addr + 12, v4, 4);
			nfam = KS_AF_INET6;
		}
		if (family != KS_AF_UNSPEC && family != nfam)
			return KS_EAI_ADDRFAMILY;
		addrs[0].family = nfam;
		return build_list(r->port, addrs, 1, h, svcport, protos,
				  service != NULL, named,
				  (flags & KS_AI_CANONNAME) ? node : NULL, res);
	}
	if (flags & KS_AI_NUMERICHOST)
		return KS_EAI_NONAME;

	bool want4 = family != KS_AF_INET6, want6 = family != KS_AF_INET;
	bool map4 = family == KS_AF_INET6 && (flags & KS_AI_V4MAPPED);
	if ((flags & KS_AI_ADDRCONFIG) && r->tp.addrconfig) {
		bool v4 = false, v6 = false;
		r->tp.addrconfig(r->tp.ctx, &v4, &v6);
		/* With no address at all (a loopback-only host) filter
		 * nothing, or nothing could ever be looked up. */
		if (v4 || v6) {
			want4 &= v4;
			want6 &= v6;
			if (!want4 && !want6)
				return KS_EAI_NONAME;
		}
	}
	/* AI_V4MAPPED: IPv4 answers stand in for missing IPv6 ones, or join
	 * them with AI_ALL; ask for both at once either way. */
	if (map4)
		want4 = true;

	uint16_t types[2];
	size_t ntypes = 0;
	if (want4)
		types[ntypes++] = DNS_T_A;
	if (want6)
		types[ntypes++] = DNS_T_AAAA;
	conf = conf_get(r);
	err = lookup_name(r, conf, node, types, ntypes, ans);
	if (err)
		return err;
	struct dns_answer *a4 = want4 ? ans[0] : NULL;
	struct dns_answer *a6 = want6 ? ans[ntypes - 1] : NULL;
	size_t total = (a4 ? a4->nrr : 0) + (a6 ? a6->nrr : 0);
	if (total > addrs_cap) {
		addrs = r->port->alloc(total * sizeof *addrs);
		if (!addrs) {
			err = KS_EAI_MEMORY;
			goto put;
		}
		addrs_cap = total;
	}
	if (map4) {
		add_answer(addrs, &naddrs, a6, false);
		if (naddrs == 0 || (flags & KS_AI_ALL))
			add_answer(addrs, &naddrs, a4, true);
	} else {
		add_answer(addrs, &naddrs, a4, false);
		add_answer(addrs, &naddrs, a6, false);
	}
	const char *canon = NULL;
	if (flags & KS_AI_CANONNAME) {
		const struct dns_answer *c = a4 ? a4 : a6;
		canon = c && c->canon[0] ? c->canon : node;
		if ((flags & KS_AI_CANONIDN) &&
		    ks__dns_idn_to_unicode(canon, ucanon, sizeof ucanon) == 0)
			canon = ucanon;
	}
	/* RFC 6724 order, as glibc sorts what getaddrinfo returns. */
	if (naddrs == 0)
		err = KS_EAI_NODATA;
	else if (ks__dns_sort_addrs(r, conf, addrs, naddrs, sizeof *addrs,
				    offsetof(struct ai_addr, family),
				    offsetof(struct ai_addr, addr),
				    offsetof(struct ai_addr, scope)) < 0)
		err = KS_EAI_MEMORY;
	else
		err = build_list(r->port, addrs, naddrs, h, svcport, protos,
				 service != NULL, named, canon, res);
	if (addrs != stack_addrs)
		r->port->free(addrs, addrs_cap * sizeof *addrs);
put:
	for (size_t t = 0; t < ntypes; t++)
		ks__dns_answer_put(r->port, ans[t]);
	return err;
}

void
ks_dns_freeaddrinfo(struct ks_addrinfo *res)
{
	struct ai_block *b;

	if (!res)
		return;
	b = (struct ai_block *)((char *)res - offsetof(struct ai_block, ai));
	b->port->free(b, b->size);
}

const char *
ks_dns_gai_strerror(int code)
{
	switch (code) {
	case 0:			return "Success";
	case KS_EAI_BADFLAGS:	return "Bad value for ai_flags";
	case KS_EAI_NONAME:	return "Name or service not known";
	case KS_EAI_AGAIN:	return "Temporary failure in name resolution";
	case KS_EAI_FAIL:	return "Non-recoverable failure in name resolution";
	case KS_EAI_NODATA:	return "No address associated with hostname";
	case KS_EAI_FAMILY:	return "ai_family not supported";
	case KS_EAI_SOCKTYPE:	return "ai_socktype not supported";
	case KS_EAI_SERVICE:	return "Servname not supported for ai_socktype";
	case KS_EAI_ADDRFAMILY: return "Address family for hostname not supported";
	case KS_EAI_MEMORY:	return "Memory allocation failure";
	case KS_EAI_SYSTEM:	return "System error";
	case KS_EAI_OVERFLOW:	return "Argument buffer overflow";
	case KS_EAI_IDN_ENCODE:	return "Parameter string not correctly encoded";
	default:		return "Unknown error";
	}
}

/* -- gethostbyname -- */

static int
h_errno_of(int eai)
{
	switch (eai) {
	case KS_EAI_AGAIN:	return KS_TRY_AGAIN;
	case KS_EAI_NODATA:	return KS_NO_DATA;
	case KS_EAI_NONAME:	return KS_HOST_NOT_FOUND;
	default:		return KS_NO_RECOVERY;
	}
}

int
ks_dns_gethostbyname(struct ks_dns *r, const char *name, int af,
		     struct ks_hostent *he, char *buf, size_t buflen,
		     int *h_errnop)
{
	struct dns_answer *ans[1] = { NULL };
	uint8_t numeric[16];
	size_t n = 0, alen, naliases = 0, aliaslen = 0;
	uint16_t type;
	const char *canon = name, *alias_text = NULL;
	int err;

	if (af != KS_AF_INET && af != KS_AF_INET6) {
		err = KS_EAI_FAMILY;
		goto out;
	}
	type = family_type(af);
	alen = family_len(af);
	int nfam;
	uint32_t scope;
	int num = name ? numeric_host(r, name, af, &nfam, numeric, &scope) : 0;
	if (num < 0) {
		err = KS_EAI_NONAME;
		goto out;
	}
	if (num > 0) {
		n = 1;
	} else if (name) {
		err = lookup_name(r, conf_get(r), name, &type, 1, ans);
		if (err)
			goto out;
		n = ans[0]->nrr;
		if (ans[0]->canon[0])
			canon = ans[0]->canon;
		/* The chain's other names are the aliases, as glibc. */
		alias_text = ans[0]->aliases;
		naliases = ans[0]->naliases;
		for (size_t i = 0, o = 0; i < naliases; i++) {
			size_t l = dns_strlen(alias_text + o) + 1;
			o += l;
			aliaslen += l;
		}
	} else {
		err = KS_EAI_NONAME;
		goto out;
	}

	/* Layout in @buf: pointer arrays (aligned), addresses, names. */
	uintptr_t p = ((uintptr_t)buf + sizeof(char *) - 1) &
		      ~(uintptr_t)(sizeof(char *) - 1);
	size_t pad = p - (uintptr_t)buf, namelen = dns_strlen(canon) + 1;
	size_t need = pad + (n + 1 + naliases + 1) * sizeof(char *) +
		      n * alen + namelen + aliaslen;
	if (need > buflen || p < (uintptr_t)buf) {
		/* As glibc's gethostbyname_r: ERANGE, h_errno NETDB_INTERNAL;
		 * the caller grows the buffer and asks again. */
		ks__dns_answer_put(r->port, ans[0]);
		if (h_errnop)
			*h_errnop = KS_NETDB_INTERNAL;
		return -KS_ERANGE;
	}
	char **list = (char **)p;
	char **aliases = list + n + 1;
	char *data = (char *)(aliases + naliases + 1);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *src = ans[0] ? ans[0]->data + ans[0]->rr[i].off :
					      numeric;
		dns_memcpy(data + i * alen, src, alen);
		list[i] = data + i * alen;
	}
	list[n] = NULL;
	he->h_name = data + n * alen;
	dns_memcpy(he->h_name, canon, namelen);
	char *at = he->h_name + namelen;
	dns_memcpy(at, alias_text, aliaslen);
	for (size_t i = 0; i < naliases; i++) {
		aliases[i] = at;
		at += dns_strlen(at) + 1;
	}
	aliases[naliases] = NULL;
	he->h_aliases = aliases;
	he->h_addrtype = af;
	he->h_length = (int)alen;
	he->h_addr_list = list;
	err = 0;
	ks__dns_answer_put(r->port, ans[0]);
out:
	if (h_errnop)
		*h_errnop = err ? h_errno_of(err) : 0;
	return err;
}

/* -- reverse lookups -- */

static int
copy_name(const char *name, size_t len, char *out, size_t cap)
{
	if (len + 1 > cap)
		return KS_EAI_OVERFLOW;
	dns_memcpy(out, name, len);
	out[len] = 0;
	return 0;
}

static int reverse_dns(struct ks_dns *r, const struct dns_conf *conf,
		       int family, const void *addr, char *host,
		       size_t hostlen, uint32_t *ttl);

int
ks_dns_reverse(struct ks_dns *r, int family, const void *addr, char *host,
	       size_t hostlen, uint32_t *ttl)
{
	const struct dns_conf *conf = conf_get(r);
	int err;

	if (family != KS_AF_INET && family != KS_AF_INET6)
		return KS_EAI_FAMILY;
	const char *order = hosts_order(conf);
	bool files = false, dns = false;
	for (const char *o = order; *o; o++) {
		files |= *o == 'f';
		dns |= *o == 'd';
	}
	/* DNS first ("hosts: dns files"): the hosts table only when DNS
	 * has no name for it. */
	if (dns && order[0] == 'd') {
		err = reverse_dns(r, conf, family, addr, host, hostlen, ttl);
		if (err != KS_EAI_NONAME || !files)
			return err;
	}
	if (files && conf->hosts) {
		for (size_t i = 0; i < conf->hosts->n; i++) {
			const struct dns_host *h = &conf->hosts->h[i];
			if (h->family == family &&
			    dns_memeq(h->addr, addr, family_len(family))) {
				if (ttl)
					*ttl = 0;
				return copy_name(h->name, h->namelen, host,
						 hostlen);
			}
		}
	}
	if (!dns || order[0] == 'd')
		return KS_EAI_NONAME;
	return reverse_dns(r, conf, family, addr, host, hostlen, ttl);
}

/* The PTR lookup of ks_dns_reverse(). */
static int
reverse_dns(struct ks_dns *r, const struct dns_conf *conf, int family,
	    const void *addr, char *host, size_t hostlen, uint32_t *ttl)
{
	uint8_t wire[DNS_WIRE_NAME_MAX];
	size_t wirelen;
	uint16_t type = DNS_T_PTR;
	struct dns_answer *a = NULL;
	int res, err;

	(void)ks__dns_reverse_name(family, addr, wire, &wirelen);
	int64_t deadline = conf->c.deadline_ms ?
		r->port->now() + (int64_t)conf->c.deadline_ms * 1000000 : -1;
	resolve_candidate(r, conf, wire, wirelen, &type, 1, &res, &a,
			  deadline);
	switch (res) {
	case CAND_OK:
		break;
	case CAND_NOMEM:
		err = KS_EAI_MEMORY;
		goto put;
	case CAND_TEMP:
	case CAND_TIMEOUT:
		err = KS_EAI_AGAIN;
		goto put;
	case CAND_PERM:
		err = KS_EAI_FAIL;
		goto put;
	default:
		err = KS_EAI_NONAME;
		goto put;
	}
	if (ttl)
		*ttl = ks__dns_answer_ttl(a, 0, r->port->now());
	err = copy_name((const char *)a->data + a->rr[0].off,
			a->rr[0].len - 1u, host, hostlen);
put:
	ks__dns_answer_put(r->port, a);
	return err;
}

static bool
is_v4mapped(const uint8_t *a)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					    0xff, 0xff };

	return dns_memeq(a, prefix, 12);
}

/* Writes @v in decimal into @out. */
static int
format_port(unsigned v, char *out, size_t cap)
{
	char tmp[8];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (n + 1 > cap)
		return KS_EAI_OVERFLOW;
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = 0;
	return 0;
}

int
ks_dns_getnameinfo(struct ks_dns *r, const struct ks_sockaddr *sa,
		   uint32_t salen, char *host, size_t hostlen, char *serv,
		   size_t servlen, int flags)
{
	const uint8_t *addr;
	uint16_t port;
	int family, err;

	if (!sa || salen < sizeof(uint16_t))
		return KS_EAI_FAMILY;
	family = sa->sa_family;
	if (family == KS_AF_INET && salen >= sizeof(struct ks_sockaddr_in)) {
		const struct ks_sockaddr_in *s = (const void *)sa;
		addr = (const uint8_t *)&s->sin_addr;
		port = s->sin_port;
	} else if (family == KS_AF_INET6 &&
		   salen >= sizeof(struct ks_sockaddr_in6)) {
		const struct ks_sockaddr_in6 *s = (const void *)sa;
		addr = s->sin6_addr.s6_bytes;
		port = s->sin6_port;
	} else {
		return KS_EAI_FAMILY;
	}
	if (flags & ~(KS_NI_NUMERICHOST | KS_NI_NUMERICSERV | KS_NI_NOFQDN |
		      KS_NI_NAMEREQD | KS_NI_DGRAM | KS_NI_IDN))
		return KS_EAI_BADFLAGS;
	if (!host && !serv)
		return KS_EAI_NONAME;

	if (host && hostlen) {
		err = KS_EAI_NONAME;
		/* An IPv4-mapped address is the IPv4 host's: its name is in
		 * in-addr.arpa, as glibc looks it up. */
		bool mapped = family == KS_AF_INET6 && is_v4mapped(addr);
		if (!(flags & KS_NI_NUMERICHOST))
			err = ks_dns_reverse(r, mapped ? KS_AF_INET : family,
					     mapped ? addr + 12 : addr, host,
					     hostlen, NULL);
		/* A temporary failure is reported as such even without
		 * NI_NAMEREQD, as glibc: the caller may try again, while a
		 * number would look like "this address has no name". */
		if (err == KS_EAI_MEMORY || err == KS_EAI_OVERFLOW ||
		    err == KS_EAI_AGAIN)
			return err;
		if (err && (flags & KS_NI_NAMEREQD))
			return KS_EAI_NONAME;
		if (err) {
			if (!ks__dns_format_addr(family, addr, host, hostlen))
				return KS_EAI_OVERFLOW;
		} else if (flags & KS_NI_IDN) {
			/* The name's characters instead of its xn-- form. */
			char u[IDN_TEXT_MAX];
			if (ks__dns_idn_to_unicode(host, u, sizeof u) == 0 &&
			    copy_name(u, dns_strlen(u), host, hostlen) < 0)
				return KS_EAI_OVERFLOW;
		}
		if (!err && (flags & KS_NI_NOFQDN)) {
			/* Drop the domain when it is our own, as glibc. */
			const struct dns_conf *conf = conf_get(r);
			for (size_t i = 0; host[i]; i++) {
				if (host[i] == '.') {
					if (conf->c.nsearch &&
					    str_eq(host + i + 1, conf->c.search[0]))
						host[i] = 0;
					break;
				}
			}
		}
	}
	if (serv && servlen) {
		uint8_t b[2];
		dns_memcpy(b, &port, 2);
		unsigned p = dns_get16(b);
		const struct dns_services *sv = services_get(r);
		if (!(flags & KS_NI_NUMERICSERV) && sv) {
			uint8_t want = (flags & KS_NI_DGRAM) ? DNS_SVC_UDP :
							      DNS_SVC_TCP;
			for (size_t i = 0; i < sv->n; i++)
				if (sv->s[i].port == p && sv->s[i].proto == want)
					return copy_name(sv->s[i].name,
							 sv->s[i].namelen,
							 serv, servlen);
		} else if (!(flags & KS_NI_NUMERICSERV)) {
			uint8_t want = (flags & KS_NI_DGRAM) ? SVC_UDP : SVC_TCP;
			for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
				if (services[i].port == p &&
				    (services[i].protos & want))
					return copy_name(services[i].name,
							 dns_strlen(services[i].name),
							 serv, servlen);
		}
		return format_port(p, serv, servlen);
	}
	return 0;
}

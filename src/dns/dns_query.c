/*
 * Asking questions: one to a few questions (A and AAAA of one name) sent
 * in parallel to the configured servers, with retries, rotation, EDNS0
 * fallback, TCP on truncation and strict checks of every answer; and
 * turning a checked answer into a struct dns_answer.
 *
 * Each try of each question gets a new transport endpoint (a new source
 * port) and a new random id from the port's random hook. An answer counts
 * only when it comes from the server asked, from its address and port, and
 * carries our id, QR set, opcode QUERY and our question; anything else is
 * dropped and the wait goes on until the try's deadline.
 *
 * Locks: none are taken here. Shared resolver state touched here is atomic
 * [A]: the next server to start at, the per-server "no EDNS" bits and the
 * counters.
 */
#include "dns/dns_impl.h"

/* CNAME hops followed inside one answer (glibc and c-ares use 16 too). */
#define DNS_MAX_CNAME_HOPS	16

/* -- answers -- */

/* Finds the SOA in the authority section and returns its negative TTL
 * (RFC 2308 5: the smaller of its TTL and its MINIMUM), or -1. */
static int64_t
negative_ttl(const struct dns_msg *m)
{
	size_t off = m->ns_off;

	for (unsigned i = 0; i < m->nscount; i++) {
		struct dns_rr rr;

		if (ks__dns_rr_at(m, off, &rr) < 0)
			return -1;
		if (rr.type == DNS_T_SOA && rr.class == DNS_C_IN) {
			uint32_t min = dns_get32(m->buf + rr.next_off - 4);
			if (min & 0x80000000u)
				min = 0;
			return rr.ttl < min ? rr.ttl : min;
		}
		off = rr.next_off;
	}
	return -1;
}

/* Whether the owner of @rr is @name. */
static bool
owner_is(const struct dns_msg *m, const struct dns_rr *rr, const uint8_t *name)
{
	uint8_t owner[DNS_WIRE_NAME_MAX];
	size_t len, next;

	return ks__dns_name_expand(m->buf, m->len, rr->name_off, owner, &len,
				   &next) == 0 && ks__dns_name_equal(owner, name);
}

/* The alias names of a chain, as text: counted (@buf NULL) or written. */
struct alias_out {
	char		*buf;
	size_t		 cap, len;
	uint32_t	 n;
	size_t		 last;		/* where the last one starts */
};

static void
alias_add(struct alias_out *al, const uint8_t *wire)
{
	char t[KS_DNS_NAME_MAX + 2];
	int tl;

	if (!ks__dns_wire_is_hostname(wire))
		return;
	tl = ks__dns_wire_to_text(wire, t, sizeof t);
	if (tl <= 0)
		return;
	if (al->buf) {
		if (al->len + (size_t)tl + 1 > al->cap)
			return;
		dns_memcpy(al->buf + al->len, t, (size_t)tl + 1);
	}
	al->last = al->len;
	al->len += (size_t)tl + 1;
	al->n++;
}

/*
 * Follows the CNAME chain from @name through the answer section, leaving
 * its end in @name and the last name of the chain that is a valid host
 * name in @canon (empty when none is); each good name the chain leaves
 * goes to @al. *@min_ttl is lowered to the chain's TTLs. Returns the
 * number of hops, or -KS_ELOOP for a loop or a chain over 16 hops.
 */
static int
follow_cnames(const struct dns_msg *m, uint8_t name[DNS_WIRE_NAME_MAX],
	      size_t *namelen, uint8_t canon[DNS_WIRE_NAME_MAX],
	      uint32_t *min_ttl, struct alias_out *al)
{
	unsigned hops = 0, ncname = 0;
	size_t off = m->an_off;

	for (unsigned i = 0; i < m->ancount; i++) {
		struct dns_rr rr;

		if (ks__dns_rr_at(m, off, &rr) < 0)
			return -KS_EINVAL;
		ncname += rr.type == DNS_T_CNAME;
		off = rr.next_off;
	}
	canon[0] = 0;
	if (ks__dns_wire_is_hostname(name))
		dns_memcpy(canon, name, *namelen);
	for (;;) {
		bool moved = false;

		off = m->an_off;
		for (unsigned i = 0; i < m->ancount && !moved; i++) {
			struct dns_rr rr;
			size_t next;

			if (ks__dns_rr_at(m, off, &rr) < 0)
				return -KS_EINVAL;
			off = rr.next_off;
			if (rr.type != DNS_T_CNAME || rr.class != DNS_C_IN ||
			    !owner_is(m, &rr, name))
				continue;
			/* A chain longer than the CNAMEs present revisits one:
			 * that is a loop. */
			if (++hops > ncname || hops > DNS_MAX_CNAME_HOPS)
				return -KS_ELOOP;
			alias_add(al, name);
			if (ks__dns_name_expand(m->buf, m->len, rr.rdata_off,
						name, namelen, &next) < 0)
				return -KS_EINVAL;
			if (rr.ttl < *min_ttl)
				*min_ttl = rr.ttl;
			/* An alias that is no host name still leads to the
			 * addresses, but is never shown as a name. */
			if (ks__dns_wire_is_hostname(name))
				dns_memcpy(canon, name, *namelen);
			moved = true;
		}
		if (!moved)
			return (int)hops;
	}
}

static bool
text_is(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

static uint32_t
cap_ttl(int64_t ttl, uint32_t cap)
{
	if (ttl < 0)
		return 0;
	return ttl > cap ? cap : (uint32_t)ttl;
}

/*
 * Turns the checked answer @m to (@qname, @qtype) into q->answer, or sets
 * q->follow when the chain ends at a name the server said nothing about
 * (an authoritative server stops at its zone's edge). Returns 0,
 * -KS_ELOOP, -KS_EINVAL (unusable answer) or -KS_ENOMEM.
 */
int
ks__dns_extract(const struct ks_port *port, const struct dns_msg *m,
		const uint8_t *qname, uint16_t qtype, int64_t now,
		const struct ks_dns_config *c, struct dns_question *q)
{
	uint8_t name[DNS_WIRE_NAME_MAX], canon[DNS_WIRE_NAME_MAX];
	size_t namelen = 0, datalen = 0, off;
	uint32_t min_ttl = UINT32_MAX;
	unsigned nrr = 0;
	int rcode = m->flags & DNS_F_RCODE, hops, status;
	int64_t neg;

	while (qname[namelen])
		namelen += 1 + (size_t)qname[namelen];
	namelen++;
	dns_memcpy(name, qname, namelen);
	struct alias_out al = { 0 };
	hops = follow_cnames(m, name, &namelen, canon, &min_ttl, &al);
	if (hops < 0)
		return hops;
	unsigned max_rr = qtype == DNS_T_PTR ? DNS_ANS_MAX_PTR : DNS_ANS_MAX_RR;

	/* Size the records of the type asked for at the end of the chain. */
	off = m->an_off;
	for (unsigned i = 0; i < m->ancount; i++) {
		struct dns_rr rr;
		uint8_t target[DNS_WIRE_NAME_MAX];
		size_t tlen, next;

		if (ks__dns_rr_at(m, off, &rr) < 0)
			return -KS_EINVAL;
		off = rr.next_off;
		if (rr.type != qtype || rr.class != DNS_C_IN ||
		    !owner_is(m, &rr, name) || nrr == max_rr)
			continue;
		if (qtype == DNS_T_PTR) {
			if (ks__dns_name_expand(m->buf, m->len, rr.rdata_off,
						target, &tlen, &next) < 0)
				return -KS_EINVAL;
			/* A PTR target that is no host name is never handed
			 * out (glibc drops it too). */
			if (!ks__dns_wire_is_hostname(target))
				continue;
			datalen += tlen;	/* text is never longer than wire */
		} else {
			datalen += rr.rdlen;
		}
		nrr++;
	}

	if (rcode == DNS_R_NXDOMAIN) {
		status = DNS_ANS_NXDOMAIN;
		nrr = 0;
		datalen = 0;
	} else if (nrr > 0) {
		status = DNS_ANS_OK;
	} else {
		neg = negative_ttl(m);
		if (hops > 0 && neg < 0) {
			/* Incomplete chain without a negative answer: ask for
			 * its end. */
			dns_memcpy(q->follow, name, namelen);
			q->followlen = namelen;
			q->answer = NULL;
			return 0;
		}
		status = DNS_ANS_NODATA;
	}

	struct dns_answer *a = ks__dns_answer_alloc(port, nrr, datalen, al.len);
	if (!a)
		return -KS_ENOMEM;
	a->status = status;
	a->born = now;
	a->qtype = qtype;
	if (!canon[0] || ks__dns_wire_to_text(canon, a->canon,
						sizeof a->canon) < 0)
		a->canon[0] = 0;
	if (al.n) {
		/* Again, writing the names this time. */
		uint32_t ttl = UINT32_MAX;
		size_t nl = 0;
		while (qname[nl])
			nl += 1 + (size_t)qname[nl];
		dns_memcpy(name, qname, nl + 1);
		nl++;
		al = (struct alias_out){ .buf = a->aliases, .cap = al.len };
		(void)follow_cnames(m, name, &nl, canon, &ttl, &al);
		/* The canonical name is no alias of itself. */
		if (al.n && a->canon[0] &&
		    text_is(a->aliases + al.last, a->canon)) {
			al.n--;
			al.len = al.last;
		}
		a->naliases = al.n;
	}

	if (status == DNS_ANS_OK) {
		size_t o = 0;

		off = m->an_off;
		for (unsigned i = 0; i < m->ancount && a->nrr < nrr; i++) {
			struct dns_rr rr;
			uint8_t target[DNS_WIRE_NAME_MAX];
			size_t tlen, next;

			(void)ks__dns_rr_at(m, off, &rr);	/* checked above */
			off = rr.next_off;
			if (rr.type != qtype || rr.class != DNS_C_IN ||
			    !owner_is(m, &rr, name))
				continue;
			if (qtype == DNS_T_PTR) {
				(void)ks__dns_name_expand(m->buf, m->len,
						rr.rdata_off, target, &tlen, &next);
				if (!ks__dns_wire_is_hostname(target))
					continue;
				int tl = ks__dns_wire_to_text(target,
						(char *)a->data + o, datalen - o);
				if (tl < 0)
					continue;
				a->rr[a->nrr].len = (uint32_t)tl + 1;
			} else {
				dns_memcpy(a->data + o, m->buf + rr.rdata_off,
					   rr.rdlen);
				a->rr[a->nrr].len = rr.rdlen;
			}
			a->rr[a->nrr].off = (uint32_t)o;
			a->rr[a->nrr].ttl = cap_ttl(rr.ttl < min_ttl ? rr.ttl : min_ttl,
						    c->max_ttl);
			o += a->rr[a->nrr].len;
			if (a->rr[a->nrr].ttl < min_ttl)
				min_ttl = a->rr[a->nrr].ttl;
			a->nrr++;
		}
		a->expires = now + (int64_t)cap_ttl(min_ttl, c->max_ttl) *
				   1000000000;
	} else {
		neg = negative_ttl(m);
		/* RFC 2308 5: without an SOA a negative answer is not cached. */
		a->expires = now + (neg < 0 ? 0 :
			     (int64_t)cap_ttl(neg, c->max_neg_ttl) * 1000000000);
	}
	q->answer = a;
	q->followlen = 0;
	return 0;
}

/* -- sending -- */

/*
 * One query sent. Its endpoint stays open, and an answer to it counts,
 * until its question is settled or ks__dns_ask() returns: a retry does
 * not make an earlier query's answer worthless (glibc, too, takes an
 * answer to its first try while waiting for the second).
 */
struct try_state {
	void		*ep;
	uint16_t	 id;
	uint8_t		 q;		/* index of its question */
	uint8_t		 s;		/* server asked */
	bool		 edns;
	bool		 live;		/* open, no verdict yet */
};

/* Tries one ks__dns_ask() may hold: two questions, every round. */
#define DNS_MAX_TRIES	(2 * DNS_MAX_ATTEMPTS * KS_DNS_MAX_SERVERS)

static bool
same_server(const struct ks_dns_server *a, const struct ks_dns_server *b)
{
	size_t alen = a->family == KS_AF_INET ? 4 : 16;

	return a->family == b->family && a->port == b->port &&
	       dns_memeq(a->addr, b->addr, alen);
}

static uint16_t
random_id(struct ks_dns *r)
{
	uint16_t id;

	r->port->random(&id, sizeof id);
	return id;
}

static bool
server_uses_edns(struct ks_dns *r, const struct dns_conf *conf, unsigned s)
{
	return !conf->c.no_edns &&
	       !(atomic_load_explicit(&r->no_edns, memory_order_relaxed) &
		 (1u << s));
}

/* Opens a fresh endpoint to server @s and sends question @q on it. */
static int
send_udp(struct ks_dns *r, const struct dns_conf *conf, unsigned s,
	 const struct dns_question *q, struct try_state *t, int64_t deadline)
{
	uint8_t buf[DNS_HDR_LEN + DNS_WIRE_NAME_MAX + 4 + 11];
	size_t len;
	int err;

	t->live = false;
	t->id = random_id(r);
	t->edns = server_uses_edns(r, conf, s);
	err = ks__dns_build_query(buf, sizeof buf, t->id, q->qname,
				  q->qnamelen, q->qtype, t->edns, &len);
	if (err < 0)
		return err;
	if (!t->ep) {
		err = r->tp.open(r->tp.ctx, KS_DNS_UDP, &conf->c.servers[s],
				 deadline, &t->ep);
		if (err < 0) {
			t->ep = NULL;
			return err;
		}
	}
	err = r->tp.send(t->ep, buf, len);
	if (err < 0)
		return err;
	atomic_fetch_add_explicit(&r->stats.udp, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->stats.per_server[s], 1,
				  memory_order_relaxed);
	t->live = true;
	return 0;
}

static void
close_ep(struct ks_dns *r, struct try_state *t)
{
	if (t->ep)
		r->tp.close(t->ep);
	t->ep = NULL;
	t->live = false;
}

/* Whether the header of @buf answers our query (id, QR, opcode 0). */
static bool
header_matches(const uint8_t *buf, size_t len, uint16_t id)
{
	if (len < DNS_HDR_LEN)
		return false;
	uint16_t flags = dns_get16(buf + 2);
	return dns_get16(buf) == id && (flags & DNS_F_QR) &&
	       (flags & DNS_F_OPCODE) == 0;
}

/* Reads exactly @len stream bytes before @deadline. */
static int
tcp_read_full(struct ks_dns *r, void *ep, uint8_t *buf, size_t len,
	      int64_t deadline)
{
	struct ks_dns_server from;
	size_t got = 0;

	while (got < len) {
		int n = r->tp.recv(ep, buf + got, len - got, &from, deadline);
		if (n < 0)
			return n;
		if (n == 0)
			return -KS_ECONNRESET;
		got += (size_t)n;
	}
	return 0;
}

/*
 * Asks @q over TCP at server @s after a truncated UDP answer. On success
 * *@out is a port allocation of *@outlen bytes holding a checked answer
 * (the caller frees it with size DNS_TCP_MAX). Returns 0 or -KS_E*.
 */
static int
ask_tcp(struct ks_dns *r, const struct dns_conf *conf, unsigned s,
	const struct dns_question *q, int64_t deadline, uint8_t **out,
	size_t *outlen)
{
	uint8_t query[2 + DNS_HDR_LEN + DNS_WIRE_NAME_MAX + 4 + 11], lenbuf[2];
	uint8_t *buf;
	void *ep;
	size_t qlen;
	uint16_t id = random_id(r);
	bool edns = server_uses_edns(r, conf, s);
	int err;

	err = ks__dns_build_query(query + 2, sizeof query - 2, id, q->qname,
				  q->qnamelen, q->qtype, edns, &qlen);
	if (err < 0)
		return err;
	dns_put16(query, (uint16_t)qlen);
	buf = r->port->alloc(DNS_TCP_MAX);
	if (!buf)
		return -KS_ENOMEM;
	err = r->tp.open(r->tp.ctx, KS_DNS_TCP, &conf->c.servers[s], deadline,
			 &ep);
	if (err < 0)
		goto free_buf;
	atomic_fetch_add_explicit(&r->stats.tcp, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->stats.per_server[s], 1,
				  memory_order_relaxed);
	err = r->tp.send(ep, query, qlen + 2);
	if (err < 0)
		goto close_ep;
	err = tcp_read_full(r, ep, lenbuf, 2, deadline);
	if (err < 0)
		goto close_ep;
	size_t len = dns_get16(lenbuf);
	err = tcp_read_full(r, ep, buf, len, deadline);
	if (err < 0)
		goto close_ep;
	struct dns_msg m;
	/* Over TCP nobody else can inject into the stream we opened, but
	 * the answer must still be to our question. */
	if (!header_matches(buf, len, id) || ks__dns_parse(buf, len, &m) < 0 ||
	    (m.flags & DNS_F_TC) || !ks__dns_question_matches(&m, q->qname,
							      q->qtype)) {
		err = -KS_EINVAL;
		goto close_ep;
	}
	r->tp.close(ep);
	*out = buf;
	*outlen = len;
	return 0;

close_ep:
	r->tp.close(ep);
free_buf:
	r->port->free(buf, DNS_TCP_MAX);
	return err;
}

/* What one server's reply to one question means for it. */
#define VERDICT_WAIT	0	/* nothing usable yet: keep waiting */
#define VERDICT_DONE	1	/* q->answer or q->follow set */
#define VERDICT_TEMP	2	/* this server failed for now */
#define VERDICT_PERM	3	/* this server cannot answer it */
#define VERDICT_RESEND	4	/* resend without EDNS */
#define VERDICT_NOMEM	5

static int judge(struct ks_dns *r, const struct dns_conf *conf, unsigned s,
		 struct dns_question *q, const struct dns_msg *m,
		 bool sent_edns, int64_t deadline);

/* Never use a partial answer: ask again over TCP and judge that. */
static int
retry_over_tcp(struct ks_dns *r, const struct dns_conf *conf, unsigned s,
	       struct dns_question *q, bool sent_edns, int64_t deadline)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct dns_msg tm;
	int err, v;

	/* A try of its own: the lookup's deadline may be none at all. */
	int64_t tcp_deadline = r->port->now() +
			       (int64_t)conf->c.timeout_ms * 1000000;
	if (deadline >= 0 && deadline < tcp_deadline)
		tcp_deadline = deadline;
	err = ask_tcp(r, conf, s, q, tcp_deadline, &buf, &len);
	if (err == -KS_ENOMEM)
		return VERDICT_NOMEM;
	if (err < 0)
		return err == -KS_EINVAL ? VERDICT_PERM : VERDICT_TEMP;
	(void)ks__dns_parse(buf, len, &tm);	/* checked in ask_tcp */
	v = judge(r, conf, s, q, &tm, sent_edns, deadline);
	r->port->free(buf, DNS_TCP_MAX);
	return v == VERDICT_RESEND ? VERDICT_TEMP : v;
}

/* Judges a checked message @m from server @s to question @q. */
static int
judge(struct ks_dns *r, const struct dns_conf *conf, unsigned s,
      struct dns_question *q, const struct dns_msg *m, bool sent_edns,
      int64_t deadline)
{
	int rcode = m->flags & DNS_F_RCODE, err;

	switch (rcode) {
	case DNS_R_NOERROR:
	case DNS_R_NXDOMAIN:
		break;
	case DNS_R_FORMERR:
		if (sent_edns) {
			/* RFC 6891 7: a server that does not know EDNS answers
			 * FORMERR; remember it for this server. */
			atomic_fetch_or(&r->no_edns, 1u << s);
			atomic_fetch_add_explicit(&r->stats.edns, 1,
						  memory_order_relaxed);
			return VERDICT_RESEND;
		}
		return VERDICT_PERM;
	case DNS_R_SERVFAIL:
	case DNS_R_REFUSED:
	case DNS_R_NOTIMP:
		return VERDICT_TEMP;
	default:
		return VERDICT_PERM;
	}
	if (m->flags & DNS_F_TC)
		return retry_over_tcp(r, conf, s, q, sent_edns, deadline);
	err = ks__dns_extract(r->port, m, q->qname, q->qtype, r->port->now(),
			      &conf->c, q);
	if (err == -KS_ENOMEM)
		return VERDICT_NOMEM;
	return err < 0 ? VERDICT_PERM : VERDICT_DONE;
}

/*
 * Judges what arrived on try @t (@n bytes in @buf from @from, or a
 * negative -KS_E* from the transport). Returns a VERDICT_*; VERDICT_WAIT
 * when nothing usable came and the try goes on listening.
 */
static int
take_reply(struct ks_dns *r, const struct dns_conf *conf,
	   struct dns_question *q, struct try_state *t, uint8_t *buf,
	   size_t cap, int n, const struct ks_dns_server *from,
	   int64_t deadline)
{
	const struct ks_dns_server *srv = &conf->c.servers[t->s];
	struct dns_msg m;
	int v;

	if (n == -KS_ETIMEDOUT || n == -KS_EAGAIN)
		return VERDICT_WAIT;
	if (n == -KS_EMSGSIZE && same_server(from, srv) &&
	    header_matches(buf, cap, t->id)) {
		/* Bigger than we advertised (@buf holds its first @cap
		 * bytes): as good as truncated. */
		t->live = false;
		return retry_over_tcp(r, conf, t->s, q, t->edns, deadline);
	}
	if (n == -KS_EMSGSIZE)
		goto reject;
	if (n < 0)
		return VERDICT_TEMP;	/* refused port, unreachable */
	if (!same_server(from, srv) || !header_matches(buf, (size_t)n, t->id))
		goto reject;
	/* Our id but malformed: no answer, as glibc treats it. Ending the
	 * lookup here would let anyone who guessed an id cut it short. */
	if (ks__dns_parse(buf, (size_t)n, &m) < 0)
		goto reject;
	if (!ks__dns_question_matches(&m, q->qname, q->qtype))
		goto reject;
	v = judge(r, conf, t->s, q, &m, t->edns, deadline);
	if (v == VERDICT_RESEND) {
		if (send_udp(r, conf, t->s, q, t, deadline) < 0)
			return VERDICT_TEMP;
		return VERDICT_WAIT;
	}
	return v;

reject:
	atomic_fetch_add_explicit(&r->stats.rejected, 1, memory_order_relaxed);
	return VERDICT_WAIT;
}

/*
 * Waits until @until for something on any live try of @t and judges it.
 * Returns the index of the try that got a verdict (*@verdict set), or -1
 * when @until passed first.
 *
 * With the transport's wait hook, every live endpoint is watched at once.
 * Without it, the newest live try is waited on and the older ones are
 * only looked at (a deadline already past) each time it wakes.
 */
static int
receive_any(struct ks_dns *r, const struct dns_conf *conf,
	    struct dns_question *qs, struct try_state *t, size_t nt,
	    uint8_t *buf, size_t cap, int64_t until, int64_t deadline,
	    int *verdict)
{
	void *eps[DNS_MAX_TRIES];
	size_t idx[DNS_MAX_TRIES];

	for (;;) {
		size_t m = 0;
		int ready = -1;

		for (size_t i = 0; i < nt; i++) {
			if (t[i].live) {
				eps[m] = t[i].ep;
				idx[m++] = i;
			}
		}
		/* Past @until, one last look at each without blocking. */
		bool expired = r->port->now() >= until;
		if (m == 0)
			return -1;
		if (!expired && r->tp.wait) {
			int w = r->tp.wait(r->tp.ctx, eps, m, until);
			/* Timed out, or the host cannot wait at all: this
			 * round is over either way. */
			if (w < 0)
				return -1;
			if (w >= 0 && (size_t)w < m)
				ready = (int)idx[w];
		}
		for (size_t k = m; k-- > 0;) {
			size_t i = idx[k];
			struct ks_dns_server from;
			int64_t d;
			int n, v;

			if (ready >= 0 && (size_t)ready != i)
				continue;
			/* Without the hook the newest try blocks (it comes
			 * first here), the others are only looked at. */
			d = (!expired && ready < 0 && k == m - 1 &&
			     !r->tp.wait) ? until : 0;
			dns_memset(&from, 0, sizeof from);
			n = r->tp.recv(t[i].ep, buf, cap, &from, d);
			v = take_reply(r, conf, &qs[t[i].q], &t[i], buf, cap, n,
				       &from, deadline);
			if (v != VERDICT_WAIT) {
				*verdict = v;
				return (int)i;
			}
		}
		if (expired)
			return -1;
	}
}

/*
 * Asks the @n questions of @qs (at most 2) of the servers of @conf, in
 * parallel, until each has an outcome or @deadline passes (-1: none).
 * Sets each question's outcome, and answer or follow.
 *
 * Rounds go over the servers @attempts times; each round sends every
 * unsettled question to its server and waits up to the timeout for the
 * replies of that round, while every query sent before stays heard.
 */
void
ks__dns_ask(struct ks_dns *r, const struct dns_conf *conf,
	    struct dns_question *qs, size_t n, int64_t deadline)
{
	const struct ks_dns_config *c = &conf->c;
	struct try_state t[DNS_MAX_TRIES];
	size_t nt = 0;
	int cur[2] = { -1, -1 };	/* the question's try in this round */
	unsigned settled[2] = { 0, 0 };	/* servers that gave a verdict */
	bool tempfail[2] = { false, false }, done[2] = { false, false };
	bool heard[2] = { false, false };	/* any verdict at all */
	unsigned ns = c->nservers, start;
	unsigned attempts = c->attempts < DNS_MAX_ATTEMPTS ? c->attempts :
							    DNS_MAX_ATTEMPTS;
	size_t cap = DNS_EDNS_PAYLOAD;
	uint8_t *buf;

	for (size_t i = 0; i < n; i++) {
		qs[i].outcome = DNS_Q_TEMPFAIL;
		qs[i].answer = NULL;
		qs[i].followlen = 0;
	}
	if (ns == 0) {
		for (size_t i = 0; i < n; i++)
			qs[i].outcome = DNS_Q_PERMFAIL;
		return;
	}
	buf = r->port->alloc(cap);
	if (!buf) {
		for (size_t i = 0; i < n; i++)
			qs[i].outcome = DNS_Q_NOMEM;
		return;
	}
	if (c->rotate)
		start = atomic_fetch_add(&r->next_server, 1);
	else
		start = atomic_load_explicit(&r->next_server,
					     memory_order_relaxed);

	for (unsigned attempt = 0; attempt < attempts; attempt++) {
		for (unsigned k = 0; k < ns; k++) {
			unsigned s = (start + k) % ns;
			int64_t now = r->port->now();
			int64_t until = now + (int64_t)c->timeout_ms * 1000000;
			bool any = false, timed_out = false;

			if (deadline >= 0 && now >= deadline) {
				/* Out of time: what was not heard is silence. */
				for (size_t i = 0; i < n; i++)
					tempfail[i] = true;
				goto out;
			}
			if (deadline >= 0 && until > deadline)
				until = deadline;
			for (size_t i = 0; i < n; i++) {
				cur[i] = -1;
				if (done[i] || (settled[i] & (1u << s)) ||
				    nt == DNS_MAX_TRIES)
					continue;
				struct try_state *x = &t[nt];
				x->ep = NULL;
				x->q = (uint8_t)i;
				x->s = (uint8_t)s;
				if (send_udp(r, conf, s, &qs[i], x, until) < 0) {
					tempfail[i] = true;
					close_ep(r, x);
					continue;
				}
				cur[i] = (int)nt++;
				any = true;
			}
			if (!any)
				continue;
			for (;;) {
				bool waiting = false;
				int v = VERDICT_WAIT, w;

				for (size_t i = 0; i < n; i++)
					waiting |= !done[i] && cur[i] >= 0 &&
						   t[cur[i]].live;
				if (!waiting)
					break;
				w = receive_any(r, conf, qs, t, nt, buf, cap,
						until, deadline, &v);
				if (w < 0)
					break;
				size_t i = t[w].q;
				heard[i] = true;
				switch (v) {
				case VERDICT_DONE:
				case VERDICT_NOMEM:
					done[i] = true;
					qs[i].outcome = v == VERDICT_DONE ?
						DNS_Q_ANSWER : DNS_Q_NOMEM;
					/* Its other tries are moot now. */
					for (size_t x = 0; x < nt; x++)
						if (t[x].q == i)
							close_ep(r, &t[x]);
					break;
				case VERDICT_TEMP:
					tempfail[i] = true;
					/* fall through */
				default:
					settled[i] |= 1u << t[w].s;
					close_ep(r, &t[w]);
					break;
				}
			}
			/* This round's tries still open timed out; they go on
			 * listening until the end. */
			for (size_t i = 0; i < n; i++) {
				if (done[i] || cur[i] < 0 || !t[cur[i]].live)
					continue;
				timed_out = true;
				tempfail[i] = true;
				atomic_fetch_add_explicit(&r->stats.timeouts, 1,
							  memory_order_relaxed);
			}
			/* A server that timed out is skipped by later lookups
			 * until another one times out in turn. */
			if (timed_out && !c->rotate) {
				unsigned cur_s = atomic_load(&r->next_server);
				if (cur_s % ns == s)
					atomic_compare_exchange_strong(
						&r->next_server, &cur_s, s + 1);
			}
			bool all = true;
			for (size_t i = 0; i < n; i++)
				all &= done[i] ||
				       settled[i] == (1u << ns) - 1;
			if (all)
				goto out;
		}
	}
out:
	for (size_t x = 0; x < nt; x++)
		close_ep(r, &t[x]);
	for (size_t i = 0; i < n; i++) {
		if (done[i])
			continue;
		if (!tempfail[i])
			qs[i].outcome = DNS_Q_PERMFAIL;
		else
			qs[i].outcome = heard[i] ? DNS_Q_TEMPFAIL :
						   DNS_Q_TIMEOUT;
	}
	r->port->free(buf, cap);
}

/*
 * DNS message codec: builds queries and parses answers (RFC 1035, 6891).
 *
 * The parser is strict and bounds-checked: ks__dns_parse() walks every
 * record of every section before anyone reads one, so later accessors can
 * rely on a well-formed message. Compression pointers must point strictly
 * backwards, which makes loops impossible without a hop counter, and an
 * expanded name never exceeds 255 bytes. Untrusted input never indexes
 * past @len.
 *
 * No state, no locks: every function works on its arguments only.
 */
#include "dns/dns_impl.h"

/*
 * Expands the possibly compressed name at @off of @msg into uncompressed
 * wire form in @out (lower-cased is NOT applied: comparisons fold case).
 * *@next gets the offset just past the name as stored at @off. Returns 0,
 * or -KS_EINVAL for a malformed name.
 */
int
ks__dns_name_expand(const uint8_t *msg, size_t len, size_t off,
		    uint8_t out[DNS_WIRE_NAME_MAX], size_t *outlen, size_t *next)
{
	size_t pos = off, o = 0, limit = off;
	bool jumped = false;

	for (;;) {
		if (pos >= len)
			return -KS_EINVAL;
		uint8_t l = msg[pos];
		if ((l & 0xc0) == 0xc0) {
			if (pos + 1 >= len)
				return -KS_EINVAL;
			size_t ptr = ((size_t)(l & 0x3f) << 8) | msg[pos + 1];
			/* Strictly backwards from the lowest point reached:
			 * each hop shrinks @limit, so the walk ends. */
			if (ptr >= limit)
				return -KS_EINVAL;
			if (!jumped) {
				*next = pos + 2;
				jumped = true;
			}
			limit = ptr;
			pos = ptr;
			continue;
		}
		if (l & 0xc0)
			return -KS_EINVAL;	/* 0x40, 0x80: obsolete label types */
		if (pos + 1 + l > len)
			return -KS_EINVAL;
		if (o + 1 + l > DNS_WIRE_NAME_MAX)
			return -KS_EINVAL;
		out[o++] = l;
		dns_memcpy(out + o, msg + pos + 1, l);
		o += l;
		pos += 1 + (size_t)l;
		if (l == 0)
			break;
	}
	if (!jumped)
		*next = pos;
	*outlen = o;
	return 0;
}

/* Whether two uncompressed wire names are equal, ignoring ASCII case. */
bool
ks__dns_name_equal(const uint8_t *a, const uint8_t *b)
{
	for (;;) {
		if (*a != *b)
			return false;
		uint8_t l = *a;
		if (l == 0)
			return true;
		for (uint8_t i = 1; i <= l; i++)
			if (dns_lower(a[i]) != dns_lower(b[i]))
				return false;
		a += 1 + l;
		b += 1 + l;
	}
}

/*
 * Builds a recursive query for (@qname, @qtype, IN) with id @id, with an
 * EDNS0 OPT record when @edns. Returns 0 with *@len, or -KS_EMSGSIZE.
 */
int
ks__dns_build_query(uint8_t *buf, size_t cap, uint16_t id,
		    const uint8_t *qname, size_t qnamelen, uint16_t qtype,
		    bool edns, size_t *len)
{
	size_t need = DNS_HDR_LEN + qnamelen + 4 + (edns ? 11 : 0);

	if (need > cap)
		return -KS_EMSGSIZE;
	dns_memset(buf, 0, DNS_HDR_LEN);
	dns_put16(buf, id);
	dns_put16(buf + 2, DNS_F_RD);
	dns_put16(buf + 4, 1);
	dns_put16(buf + 10, edns ? 1 : 0);
	dns_memcpy(buf + DNS_HDR_LEN, qname, qnamelen);
	uint8_t *p = buf + DNS_HDR_LEN + qnamelen;
	dns_put16(p, qtype);
	dns_put16(p + 2, DNS_C_IN);
	if (edns) {
		p += 4;
		p[0] = 0;			/* root owner */
		dns_put16(p + 1, DNS_T_OPT);
		dns_put16(p + 3, DNS_EDNS_PAYLOAD);
		dns_memset(p + 5, 0, 6);	/* rcode, version, flags, rdlen */
	}
	*len = need;
	return 0;
}

/*
 * Reads the record at @off into @rr after checking its bounds. The owner
 * name is validated by expanding it. Returns 0 or -KS_EINVAL.
 */
int
ks__dns_rr_at(const struct dns_msg *m, size_t off, struct dns_rr *rr)
{
	uint8_t name[DNS_WIRE_NAME_MAX];
	size_t nlen, p;
	int err;

	err = ks__dns_name_expand(m->buf, m->len, off, name, &nlen, &p);
	if (err < 0)
		return err;
	if (p + 10 > m->len)
		return -KS_EINVAL;
	rr->name_off = off;
	rr->type = dns_get16(m->buf + p);
	rr->class = dns_get16(m->buf + p + 2);
	rr->ttl = dns_get32(m->buf + p + 4);
	rr->rdlen = dns_get16(m->buf + p + 8);
	rr->rdata_off = p + 10;
	if (rr->rdata_off + rr->rdlen > m->len)
		return -KS_EINVAL;
	rr->next_off = rr->rdata_off + rr->rdlen;
	/* RFC 2181 8: a TTL with the top bit set is treated as zero. */
	if (rr->ttl & 0x80000000u)
		rr->ttl = 0;
	return 0;
}

/* Checks the rdata of the record types we read later. */
static int
check_rdata(const struct dns_msg *m, const struct dns_rr *rr)
{
	uint8_t name[DNS_WIRE_NAME_MAX];
	size_t nlen, next;
	int err;

	switch (rr->type) {
	case DNS_T_A:
		return rr->rdlen == 4 ? 0 : -KS_EINVAL;
	case DNS_T_AAAA:
		return rr->rdlen == 16 ? 0 : -KS_EINVAL;
	case DNS_T_CNAME:
	case DNS_T_PTR:
	case DNS_T_NS:
		err = ks__dns_name_expand(m->buf, m->len, rr->rdata_off, name,
					  &nlen, &next);
		if (err < 0)
			return err;
		return next == rr->next_off ? 0 : -KS_EINVAL;
	case DNS_T_SOA:
		/* mname, rname, then five 32-bit numbers. */
		err = ks__dns_name_expand(m->buf, m->len, rr->rdata_off, name,
					  &nlen, &next);
		if (err < 0)
			return err;
		if (next > rr->next_off)
			return -KS_EINVAL;
		err = ks__dns_name_expand(m->buf, m->len, next, name, &nlen,
					  &next);
		if (err < 0)
			return err;
		return next + 20 == rr->next_off ? 0 : -KS_EINVAL;
	default:
		return 0;
	}
}

/*
 * Validates the whole message in @buf and records where its sections
 * start. Accepts only a single question. Returns 0 or -KS_EINVAL.
 */
int
ks__dns_parse(const uint8_t *buf, size_t len, struct dns_msg *m)
{
	uint8_t name[DNS_WIRE_NAME_MAX];
	size_t nlen, off;
	int err;

	if (len < DNS_HDR_LEN)
		return -KS_EINVAL;
	m->buf = buf;
	m->len = len;
	m->id = dns_get16(buf);
	m->flags = dns_get16(buf + 2);
	m->qdcount = dns_get16(buf + 4);
	m->ancount = dns_get16(buf + 6);
	m->nscount = dns_get16(buf + 8);
	m->arcount = dns_get16(buf + 10);
	if (m->qdcount != 1)
		return -KS_EINVAL;
	err = ks__dns_name_expand(buf, len, DNS_HDR_LEN, name, &nlen, &off);
	if (err < 0)
		return err;
	if (off + 4 > len)
		return -KS_EINVAL;
	off += 4;

	unsigned counts[3] = { m->ancount, m->nscount, m->arcount };
	size_t *starts[3] = { &m->an_off, &m->ns_off, &m->ar_off };
	for (int s = 0; s < 3; s++) {
		*starts[s] = off;
		for (unsigned i = 0; i < counts[s]; i++) {
			struct dns_rr rr;

			err = ks__dns_rr_at(m, off, &rr);
			if (err < 0)
				return err;
			err = check_rdata(m, &rr);
			if (err < 0)
				return err;
			off = rr.next_off;
		}
	}
	/* Trailing bytes after the last record are a malformed message. */
	return off == len ? 0 : -KS_EINVAL;
}

/* Whether the single question of @m is (@qname, @qtype, IN). */
bool
ks__dns_question_matches(const struct dns_msg *m, const uint8_t *qname,
			 uint16_t qtype)
{
	uint8_t name[DNS_WIRE_NAME_MAX];
	size_t nlen, off;

	if (ks__dns_name_expand(m->buf, m->len, DNS_HDR_LEN, name, &nlen,
				&off) < 0)
		return false;
	return ks__dns_name_equal(name, qname) &&
	       dns_get16(m->buf + off) == qtype &&
	       dns_get16(m->buf + off + 2) == DNS_C_IN;
}

/*
 * Text forms: host names to wire form (with the validation done before
 * anything is sent), addresses in and out of text, reverse names, and the
 * parsers for resolv.conf and hosts text handed over by the host.
 *
 * No shared state and no locks; the hosts table, once parsed, is immutable
 * and owned by a configuration snapshot.
 */
#include "dns/dns_impl.h"

/* Bytes a host name may not contain: controls, space, DEL. */
static bool
is_bad_name_byte(unsigned char c)
{
	return c <= 0x20 || c == 0x7f;
}

/*
 * Converts a dotted host name to uncompressed wire form. A final dot makes
 * it absolute (*@absolute). Enforces RFC 1035's limits in text form (253
 * characters without the final dot, 63 per label) and rejects empty labels
 * and control bytes. Returns 0 or -KS_EINVAL.
 */
int
ks__dns_name_to_wire(const char *name, uint8_t out[DNS_WIRE_NAME_MAX],
		     size_t *outlen, bool *absolute)
{
	size_t n = dns_strnlen(name, KS_DNS_NAME_MAX + 2);
	size_t o = 0, label = 0;

	*absolute = false;
	if (n > 0 && name[n - 1] == '.') {
		*absolute = true;
		n--;
	}
	if (n == 0 || n > KS_DNS_NAME_MAX)
		return -KS_EINVAL;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || name[i] == '.') {
			size_t l = i - label;
			if (l == 0 || l > KS_DNS_LABEL_MAX)
				return -KS_EINVAL;
			out[o++] = (uint8_t)l;
			dns_memcpy(out + o, name + label, l);
			o += l;
			label = i + 1;
			continue;
		}
		if (is_bad_name_byte((unsigned char)name[i]))
			return -KS_EINVAL;
	}
	out[o++] = 0;
	*outlen = o;
	return 0;
}

/*
 * Writes the wire name @wire as dotted text without the final dot ("." for
 * the root). Returns the length, or -KS_ENAMETOOLONG when @cap is short.
 */
int
ks__dns_wire_to_text(const uint8_t *wire, char *out, size_t cap)
{
	size_t o = 0;

	if (*wire == 0) {
		if (cap < 2)
			return -KS_ENAMETOOLONG;
		out[0] = '.';
		out[1] = 0;
		return 1;
	}
	while (*wire) {
		uint8_t l = *wire++;
		if (o + l + 2 > cap)
			return -KS_ENAMETOOLONG;
		if (o)
			out[o++] = '.';
		dns_memcpy(out + o, wire, l);
		o += l;
		wire += l;
	}
	out[o] = 0;
	return (int)o;
}

static bool
is_host_byte(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * Whether the uncompressed wire name @wire may be handed to a caller as
 * a host name: every byte of every label a letter, digit, '-' or '_', and
 * the first label not starting with '-' (glibc's res_hnok, which c-ares
 * copied after CVE-2021-3672). A name from an answer that fails this
 * could carry a newline, a NUL, a space or a dot inside a label (which
 * text form cannot tell from a label boundary) into a program that trusts
 * it; the root name is no host name either.
 */
bool
ks__dns_wire_is_hostname(const uint8_t *wire)
{
	if (wire[0] == 0 || wire[1] == '-')
		return false;
	while (*wire) {
		uint8_t l = *wire++;
		for (uint8_t i = 0; i < l; i++)
			if (!is_host_byte(wire[i]))
				return false;
		wire += l;
	}
	return true;
}

/*
 * Appends wire name @b to the labels of @a (whose root label is dropped).
 * Returns 0 or -KS_EINVAL when the result would exceed 255 bytes.
 */
int
ks__dns_wire_join(const uint8_t *a, size_t alen, const uint8_t *b,
		  size_t blen, uint8_t out[DNS_WIRE_NAME_MAX], size_t *outlen)
{
	if (alen - 1 + blen > DNS_WIRE_NAME_MAX)
		return -KS_EINVAL;
	dns_memcpy(out, a, alen - 1);
	dns_memcpy(out + alen - 1, b, blen);
	*outlen = alen - 1 + blen;
	return 0;
}

/* Dots in @name, not counting a final one (ndots compares with this). */
unsigned
ks__dns_count_dots(const char *name)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; name[i]; i++)
		if (name[i] == '.')
			n++;
	if (i > 0 && name[i - 1] == '.')
		n--;
	return n;
}

/* Parses exactly four decimal parts 0-255 ("a.b.c.d"), as inet_pton. */
bool
ks__dns_parse_ipv4(const char *s, size_t len, uint8_t out[4])
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;

		while (i < len && dns_is_digit(s[i])) {
			/* inet_pton refuses leading zeros ("01"). */
			if (digits == 1 && v == 0)
				return false;
			v = v * 10 + (unsigned)(s[i] - '0');
			if (v > 255)
				return false;
			digits++;
			i++;
		}
		if (digits == 0)
			return false;
		out[part] = (uint8_t)v;
		if (part < 3) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == len;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Parses the numeric IPv4 forms inet_aton accepts, exactly as glibc's
 * getaddrinfo does (__inet_aton_exact): one to four parts separated by
 * dots, each decimal, octal (leading 0) or hex (0x), the last one filling
 * the bytes left ("127.1", "0x7f.1", "010.0.0.1" = 8.0.0.1, "2130706433");
 * nothing may follow.
 */
bool
ks__dns_parse_ipv4_aton(const char *s, size_t len, uint8_t out[4])
{
	static const uint32_t max[4] = { 0xffffffffu, 0xffffff, 0xffff, 0xff };
	uint8_t parts[4];
	size_t i = 0, np = 0;
	uint64_t v;

	for (;;) {
		unsigned base = 10;

		if (i >= len || !dns_is_digit(s[i]))
			return false;
		if (s[i] == '0') {
			base = 8;
			/* "0x" counts as hex only with a digit after it:
			 * strtoul reads "0x" alone as 0, leaving the 'x'. */
			if (i + 2 < len && (s[i + 1] == 'x' || s[i + 1] == 'X') &&
			    hex_value(s[i + 2]) >= 0) {
				base = 16;
				i += 2;
			}
		}
		v = 0;
		while (i < len) {
			int d = hex_value(s[i]);
			if (d < 0 || (unsigned)d >= base)
				break;
			v = v * base + (unsigned)d;
			if (v > 0xffffffffu)
				return false;
			i++;
		}
		if (i < len && s[i] == '.') {
			if (np > 2 || v > 0xff)
				return false;
			parts[np++] = (uint8_t)v;
			i++;
			continue;
		}
		break;
	}
	if (i != len || v > max[np])
		return false;
	uint32_t word = (uint32_t)v;
	for (size_t k = 0; k < np; k++)
		word |= (uint32_t)parts[k] << (24 - 8 * k);
	out[0] = (uint8_t)(word >> 24);
	out[1] = (uint8_t)(word >> 16);
	out[2] = (uint8_t)(word >> 8);
	out[3] = (uint8_t)word;
	return true;
}

/* Parses an IPv6 address in RFC 4291 text form, as inet_pton. */
bool
ks__dns_parse_ipv6(const char *s, size_t len, uint8_t out[16])
{
	uint8_t a[16];
	size_t i = 0, n = 0;
	int gap = -1;

	if (len >= 2 && s[0] == ':' && s[1] == ':') {
		gap = 0;
		i = 2;
		if (i == len)
			goto expand;
	} else if (len > 0 && s[0] == ':') {
		return false;
	}
	for (;;) {
		size_t start = i;
		unsigned v = 0;

		while (i < len && i - start < 4 && hex_value(s[i]) >= 0)
			v = v * 16 + (unsigned)hex_value(s[i++]);
		if (i == start)
			return false;
		if (i < len && s[i] == '.') {
			/* Trailing dotted IPv4 part. */
			if (n > 12 || !ks__dns_parse_ipv4(s + start, len - start,
							  a + n))
				return false;
			n += 4;
			break;
		}
		if (n + 2 > 16)
			return false;
		a[n++] = (uint8_t)(v >> 8);
		a[n++] = (uint8_t)v;
		if (i == len)
			break;
		if (s[i] != ':')
			return false;
		i++;
		if (i < len && s[i] == ':') {
			if (gap >= 0)
				return false;
			gap = (int)n;
			i++;
			if (i == len)
				break;
		} else if (i == len) {
			return false;
		}
	}
expand:
	if (gap < 0) {
		if (n != 16)
			return false;
		dns_memcpy(out, a, 16);
		return true;
	}
	if (n >= 16)
		return false;
	size_t tail = n - (size_t)gap;
	dns_memset(out, 0, 16);
	dns_memcpy(out, a, (size_t)gap);
	dns_memcpy(out + 16 - tail, a + gap, tail);
	return true;
}

static size_t
put_dec(char *out, unsigned v)
{
	char tmp[12];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

/*
 * Formats an address as inet_ntop does (IPv6: longest run of zero groups,
 * at least two, as "::"). Returns the length, or 0 when @cap is short.
 */
size_t
ks__dns_format_addr(int family, const uint8_t *addr, char *out, size_t cap)
{
	char buf[48];
	size_t o = 0;

	if (family == KS_AF_INET) {
		for (int i = 0; i < 4; i++) {
			if (i)
				buf[o++] = '.';
			o += put_dec(buf + o, addr[i]);
		}
	} else {
		static const char hex[] = "0123456789abcdef";
		int best = -1, bestlen = 0;

		for (int i = 0; i < 8;) {
			int j = i;
			while (j < 8 && addr[2 * j] == 0 && addr[2 * j + 1] == 0)
				j++;
			if (j - i > bestlen && j - i >= 2) {
				best = i;
				bestlen = j - i;
			}
			i = j > i ? j : i + 1;
		}
		/* Embedded IPv4 for mapped (::ffff:a.b.c.d) and the old
		 * compatible form (::a.b.c.d), as inet_ntop. */
		bool mapped = best == 0 && (bestlen == 6 ||
			      (bestlen == 5 && addr[10] == 0xff &&
			       addr[11] == 0xff));
		for (int i = 0; i < 8; i++) {
			if (i == best) {
				buf[o++] = ':';
				if (i == 0)
					buf[o++] = ':';
				i += bestlen - 1;
				continue;
			}
			if (mapped && i == 6) {
				o += ks__dns_format_addr(KS_AF_INET, addr + 12,
							 buf + o, sizeof buf - o);
				break;
			}
			unsigned v = (unsigned)(addr[2 * i] << 8) | addr[2 * i + 1];
			bool lead = false;
			for (int sh = 12; sh >= 0; sh -= 4) {
				unsigned d = (v >> sh) & 15;
				if (d || lead || sh == 0) {
					buf[o++] = hex[d];
					lead = true;
				}
			}
			if (i < 7)
				buf[o++] = ':';
		}
	}
	if (o + 1 > cap)
		return 0;
	dns_memcpy(out, buf, o);
	out[o] = 0;
	return o;
}

/* The in-addr.arpa or ip6.arpa name of an address, in wire form. */
int
ks__dns_reverse_name(int family, const uint8_t *addr,
		     uint8_t out[DNS_WIRE_NAME_MAX], size_t *outlen)
{
	static const char hex[] = "0123456789abcdef";
	static const uint8_t v4sfx[] = "\7in-addr\4arpa";
	static const uint8_t v6sfx[] = "\3ip6\4arpa";
	size_t o = 0;

	if (family == KS_AF_INET) {
		for (int i = 3; i >= 0; i--) {
			char d[4];
			size_t n = put_dec(d, addr[i]);
			out[o++] = (uint8_t)n;
			dns_memcpy(out + o, d, n);
			o += n;
		}
		dns_memcpy(out + o, v4sfx, sizeof v4sfx);
		o += sizeof v4sfx;
	} else if (family == KS_AF_INET6) {
		for (int i = 15; i >= 0; i--) {
			out[o++] = 1;
			out[o++] = (uint8_t)hex[addr[i] & 15];
			out[o++] = 1;
			out[o++] = (uint8_t)hex[addr[i] >> 4];
		}
		dns_memcpy(out + o, v6sfx, sizeof v6sfx);
		o += sizeof v6sfx;
	} else {
		return -KS_EAFNOSUPPORT;
	}
	*outlen = o;
	return 0;
}

/* -- resolv.conf -- */

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* The next whitespace-separated word of a line; false at its end. */
static bool
next_word(const char **p, const char *end, const char **w, size_t *wlen)
{
	const char *s = *p;

	while (s < end && is_space(*s))
		s++;
	if (s == end || *s == '#' || *s == ';')
		return false;
	*w = s;
	while (s < end && !is_space(*s))
		s++;
	*wlen = (size_t)(s - *w);
	*p = s;
	return true;
}

static bool
word_is(const char *w, size_t wlen, const char *lit)
{
	size_t n = dns_strlen(lit);

	return wlen == n && dns_memeq(w, lit, n);
}

/* Parses decimal @w (at most @max; larger values clamp, as glibc). */
static bool
parse_uint(const char *w, size_t wlen, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (wlen == 0)
		return false;
	for (size_t i = 0; i < wlen; i++) {
		if (!dns_is_digit(w[i]))
			return false;
		if (v < 100000)
			v = v * 10 + (unsigned)(w[i] - '0');
	}
	*out = v > max ? max : v;
	return true;
}

/* "ADDR", "ADDR%scope" or ksock's "ADDR#PORT" into a server. */
static bool
parse_server(const char *w, size_t wlen, struct ks_dns_server *srv)
{
	size_t alen = wlen;
	unsigned port = 53;

	for (size_t i = 0; i < wlen; i++) {
		if (w[i] == '#') {
			if (!parse_uint(w + i + 1, wlen - i - 1, 65536, &port) ||
			    port == 0 || port > 65535)
				return false;
			alen = i;
			break;
		}
	}
	for (size_t i = 0; i < alen; i++)
		if (w[i] == '%')
			alen = i;	/* scope ids are not supported: dropped */
	dns_memset(srv, 0, sizeof *srv);
	srv->port = (uint16_t)port;
	if (ks__dns_parse_ipv4(w, alen, srv->addr)) {
		srv->family = KS_AF_INET;
		return true;
	}
	if (ks__dns_parse_ipv6(w, alen, srv->addr)) {
		srv->family = KS_AF_INET6;
		return true;
	}
	return false;
}

/* Replaces the search list with the words after "search"/"domain". */
static void
parse_search(struct ks_dns_config *c, const char *p, const char *end)
{
	const char *w;
	size_t wlen;

	c->nsearch = 0;
	while (next_word(&p, end, &w, &wlen) && c->nsearch < KS_DNS_MAX_SEARCH) {
		if (wlen > 0 && w[wlen - 1] == '.')
			wlen--;
		if (wlen == 0 || wlen > KS_DNS_NAME_MAX)
			continue;
		dns_memcpy(c->search[c->nsearch], w, wlen);
		c->search[c->nsearch][wlen] = 0;
		c->nsearch++;
	}
}

static void
parse_options(struct ks_dns_config *c, const char *p, const char *end,
	      unsigned *default_port)
{
	const char *w;
	size_t wlen;
	unsigned v;

	while (next_word(&p, end, &w, &wlen)) {
		/* glibc's clamps: ndots 15, timeout 30 s, attempts 5. */
		if (wlen > 6 && dns_memeq(w, "ndots:", 6) &&
		    parse_uint(w + 6, wlen - 6, 15, &v))
			c->ndots = v;
		else if (wlen > 8 && dns_memeq(w, "timeout:", 8) &&
			 parse_uint(w + 8, wlen - 8, 30, &v))
			c->timeout_ms = (v ? v : 1) * 1000;
		else if (wlen > 11 && dns_memeq(w, "timeout-ms:", 11) &&
			 parse_uint(w + 11, wlen - 11, 30000, &v))
			c->timeout_ms = v ? v : 1;
		else if (wlen > 9 && dns_memeq(w, "deadline:", 9) &&
			 parse_uint(w + 9, wlen - 9, 3600, &v))
			c->deadline_ms = v * 1000;
		else if (wlen > 12 && dns_memeq(w, "deadline-ms:", 12) &&
			 parse_uint(w + 12, wlen - 12, 3600000, &v))
			c->deadline_ms = v;
		else if (wlen > 9 && dns_memeq(w, "attempts:", 9) &&
			 parse_uint(w + 9, wlen - 9, 5, &v))
			c->attempts = v ? v : 1;
		else if (wlen > 5 && dns_memeq(w, "port:", 5) &&
			 parse_uint(w + 5, wlen - 5, 65535, &v) && v)
			*default_port = v;
		else if (word_is(w, wlen, "rotate"))
			c->rotate = true;
		else if (word_is(w, wlen, "edns0"))
			c->no_edns = false;
		else if (word_is(w, wlen, "no-edns0"))
			c->no_edns = true;
	}
}

/*
 * Parses resolv.conf text into @c (see dns.h). A server written without
 * "#PORT" gets the "options port:N" value, or 53.
 */
int
ks_dns_config_parse(struct ks_dns_config *c, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	unsigned default_port = 53, first = c->nservers;
	bool explicit_port[KS_DNS_MAX_SERVERS] = { false };

	while (p < end) {
		const char *eol = p, *w;
		size_t wlen;

		while (eol < end && *eol != '\n')
			eol++;
		const char *q = p;
		if (next_word(&q, eol, &w, &wlen)) {
			if (word_is(w, wlen, "nameserver")) {
				struct ks_dns_server srv;
				/* A line that names no usable address is
				 * skipped, as glibc does; the rest of the file
				 * still counts. */
				if (next_word(&q, eol, &w, &wlen) &&
				    parse_server(w, wlen, &srv)) {
					if (c->nservers < KS_DNS_MAX_SERVERS) {
						bool hash = false;
						for (size_t i = 0; i < wlen; i++)
							hash |= w[i] == '#';
						explicit_port[c->nservers] = hash;
						c->servers[c->nservers++] = srv;
					}
				}
			} else if (word_is(w, wlen, "search") ||
				   word_is(w, wlen, "domain")) {
				parse_search(c, q, eol);
			} else if (word_is(w, wlen, "options")) {
				parse_options(c, q, eol, &default_port);
			}
		}
		p = eol < end ? eol + 1 : end;
	}
	/* Only the servers of this text: a second text (RES_OPTIONS, say)
	 * leaves the ones before alone. */
	for (unsigned i = first; i < c->nservers; i++)
		if (!explicit_port[i])
			c->servers[i].port = (uint16_t)default_port;
	return 0;
}

/* -- hosts -- */

/* Counts lines, an upper bound on entries. */
static size_t
count_lines(const char *text, size_t len)
{
	size_t n = 1;

	for (size_t i = 0; i < len; i++)
		if (text[i] == '\n')
			n++;
	return n;
}

/*
 * Parses hosts text ("ADDR NAME [ALIAS...]" lines, '#' comments) into one
 * allocation holding the entries and a copy of the text they point into.
 * Returns 0 or -KS_ENOMEM.
 */
int
ks__dns_hosts_parse(const struct ks_port *port, const char *text, size_t len,
		    struct dns_hosts **out)
{
	size_t lines = count_lines(text, len);
	size_t size = sizeof(struct dns_hosts) +
		      lines * sizeof(struct dns_host) + len + 1;
	struct dns_hosts *hs = port->alloc(size);

	if (!hs)
		return -KS_ENOMEM;
	hs->size = size;
	hs->n = 0;
	hs->h = (struct dns_host *)(hs + 1);
	hs->text = (char *)(hs->h + lines);
	dns_memcpy(hs->text, text, len);
	hs->text[len] = 0;

	const char *p = hs->text, *end = hs->text + len;
	while (p < end) {
		const char *eol = p, *w, *q;
		size_t wlen;

		while (eol < end && *eol != '\n')
			eol++;
		q = p;
		p = eol < end ? eol + 1 : end;
		if (!next_word(&q, eol, &w, &wlen))
			continue;
		struct dns_host *h = &hs->h[hs->n];
		dns_memset(h, 0, sizeof *h);
		size_t alen = wlen;
		for (size_t i = 0; i < wlen; i++) {
			if (w[i] == '%') {
				/* A scope id stays with the address; the lookup
				 * resolves it (it may name an interface). */
				alen = i;
				h->scope = w + i + 1;
				h->scopelen = (uint16_t)(wlen - i - 1);
				break;
			}
		}
		if (ks__dns_parse_ipv4(w, alen, h->addr))
			h->family = KS_AF_INET;
		else if (ks__dns_parse_ipv6(w, alen, h->addr))
			h->family = KS_AF_INET6;
		else
			continue;
		if (!next_word(&q, eol, &w, &wlen) || wlen > KS_DNS_NAME_MAX)
			continue;
		h->name = w;
		h->namelen = (uint16_t)wlen;
		/* Aliases: the rest of the line up to a comment. */
		const char *a = q, *aend = q;
		while (aend < eol && *aend != '#')
			aend++;
		h->aliases = a;
		h->aliaslen = (uint16_t)(aend - a);
		hs->n++;
	}
	*out = hs;
	return 0;
}

void
ks__dns_hosts_free(const struct ks_port *port, struct dns_hosts *hosts)
{
	if (hosts)
		port->free(hosts, hosts->size);
}

static bool
text_equal_nocase(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen > 0 && a[alen - 1] == '.')
		alen--;
	if (blen > 0 && b[blen - 1] == '.')
		blen--;
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (dns_lower((unsigned char)a[i]) != dns_lower((unsigned char)b[i]))
			return false;
	return true;
}

/* Whether @h's name or one of its aliases is @name (case folded). */
bool
ks__dns_host_has_name(const struct dns_host *h, const char *name,
		      size_t namelen)
{
	const char *p = h->aliases, *end = h->aliases + h->aliaslen, *w;
	size_t wlen;

	if (text_equal_nocase(h->name, h->namelen, name, namelen))
		return true;
	while (next_word(&p, end, &w, &wlen))
		if (text_equal_nocase(w, wlen, name, namelen))
			return true;
	return false;
}

/* -- services -- */

/*
 * Parses services text ("NAME PORT/PROTO [ALIAS...]" lines, '#'
 * comments; protocols other than tcp and udp are skipped) into one
 * allocation holding the entries and a copy of the text they point into.
 * Returns 0 or -KS_ENOMEM.
 */
int
ks__dns_services_parse(const struct ks_port *port, const char *text,
		       size_t len, struct dns_services **out)
{
	size_t lines = count_lines(text, len);
	size_t size = sizeof(struct dns_services) +
		      lines * sizeof(struct dns_service) + len + 1;
	struct dns_services *sv = port->alloc(size);

	if (!sv)
		return -KS_ENOMEM;
	dns_memset(sv, 0, sizeof *sv);
	sv->size = size;
	sv->s = (struct dns_service *)(sv + 1);
	sv->text = (char *)(sv->s + lines);
	dns_memcpy(sv->text, text, len);
	sv->text[len] = 0;

	const char *p = sv->text, *end = sv->text + len;
	while (p < end) {
		const char *eol = p, *w, *q, *name;
		size_t wlen, namelen;
		unsigned v;

		while (eol < end && *eol != '\n')
			eol++;
		q = p;
		p = eol < end ? eol + 1 : end;
		if (!next_word(&q, eol, &name, &namelen) || namelen > 0xffff ||
		    !next_word(&q, eol, &w, &wlen))
			continue;
		size_t slash = 0;
		while (slash < wlen && w[slash] != '/')
			slash++;
		if (slash == wlen || !parse_uint(w, slash, 65536, &v) ||
		    v > 65535)
			continue;
		struct dns_service *e = &sv->s[sv->n];
		if (word_is(w + slash + 1, wlen - slash - 1, "tcp"))
			e->proto = DNS_SVC_TCP;
		else if (word_is(w + slash + 1, wlen - slash - 1, "udp"))
			e->proto = DNS_SVC_UDP;
		else
			continue;
		e->name = name;
		e->namelen = (uint16_t)namelen;
		e->port = (uint16_t)v;
		const char *aend = q;
		while (aend < eol && *aend != '#')
			aend++;
		e->aliases = q;
		e->aliaslen = (uint16_t)(aend - q > 0xffff ? 0xffff : aend - q);
		sv->n++;
	}
	*out = sv;
	return 0;
}

/* Whether @sv is called @name (its name or an alias; case matters, as
 * glibc's getservbyname). */
bool
ks__dns_service_has_name(const struct dns_service *sv, const char *name)
{
	size_t n = dns_strlen(name);
	const char *p = sv->aliases, *end = sv->aliases + sv->aliaslen, *w;
	size_t wlen;

	if (sv->namelen == n && dns_memeq(sv->name, name, n))
		return true;
	while (next_word(&p, end, &w, &wlen))
		if (wlen == n && dns_memeq(w, name, n))
			return true;
	return false;
}

/* -- nsswitch.conf -- */

/*
 * Takes the order of the "files" and "dns" sources from the "hosts:" line
 * of nsswitch.conf text into c->hosts_order ('f' and 'd', in order).
 * Other sources (myhostname, resolve, mdns...) and [STATUS=action]
 * items are skipped. Without a hosts line @c is left as it is. Returns 0.
 */
int
ks_dns_nsswitch_parse(struct ks_dns_config *c, const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *eol = p, *q = p, *w;
		size_t wlen, n = 0;
		char order[sizeof c->hosts_order];

		while (eol < end && *eol != '\n')
			eol++;
		p = eol < end ? eol + 1 : end;
		if (!next_word(&q, eol, &w, &wlen) || !word_is(w, wlen, "hosts:"))
			continue;
		dns_memset(order, 0, sizeof order);
		while (next_word(&q, eol, &w, &wlen)) {
			char src = word_is(w, wlen, "files") ? 'f' :
				   word_is(w, wlen, "dns") ? 'd' : 0;
			bool dup = false;
			for (size_t i = 0; i < n; i++)
				dup |= order[i] == src;
			if (src && !dup && n < sizeof order - 1)
				order[n++] = src;
		}
		dns_memcpy(c->hosts_order, order, sizeof order);
	}
	return 0;
}

/* -- gai.conf -- */

/* "PREFIX/LEN" (IPv6 text) into @pol. */
static bool
parse_policy_prefix(const char *w, size_t wlen, struct ks_dns_policy *pol)
{
	size_t slash = 0;
	unsigned bits;

	while (slash < wlen && w[slash] != '/')
		slash++;
	if (slash == wlen || !ks__dns_parse_ipv6(w, slash, pol->prefix) ||
	    !parse_uint(w + slash + 1, wlen - slash - 1, 129, &bits) ||
	    bits > 128)
		return false;
	pol->len = (uint8_t)bits;
	return true;
}

int
ks_dns_gaiconf_parse(struct ks_dns_config *c, const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *eol = p, *q = p, *w;
		size_t wlen;
		struct ks_dns_policy pol;
		unsigned v;

		while (eol < end && *eol != '\n')
			eol++;
		p = eol < end ? eol + 1 : end;
		if (!next_word(&q, eol, &w, &wlen))
			continue;
		bool label = word_is(w, wlen, "label");
		if (!label && !word_is(w, wlen, "precedence"))
			continue;
		dns_memset(&pol, 0, sizeof pol);
		if (!next_word(&q, eol, &w, &wlen) ||
		    !parse_policy_prefix(w, wlen, &pol) ||
		    !next_word(&q, eol, &w, &wlen) ||
		    !parse_uint(w, wlen, 1000000, &v))
			continue;
		pol.value = (int)v;
		if (label && c->nlabel < KS_DNS_MAX_POLICY)
			c->label[c->nlabel++] = pol;
		else if (!label && c->nprecedence < KS_DNS_MAX_POLICY)
			c->precedence[c->nprecedence++] = pol;
	}
	return 0;
}

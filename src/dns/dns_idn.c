/*
 * Internationalised names (AI_IDN, AI_CANONIDN, NI_IDN): UTF-8 labels to
 * their ASCII form "xn--" + Punycode (RFC 3492, RFC 5891) and back.
 * Written here because the core is freestanding (glibc calls libidn2).
 *
 * The input is UTF-8, as glibc's is under a UTF-8 locale. Labels are
 * lower-cased first (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic:
 * the simple case mappings of those blocks) and must already be in NFC,
 * the form keyboards and most text produce; no other IDNA2008 mapping or
 * check (bidi, contextual rules) is made, which is narrower than libidn2.
 *
 * No state, no locks.
 */
#include "dns/dns_impl.h"

/* RFC 3492 5: Punycode's parameters. */
#define PC_BASE		36
#define PC_TMIN		1
#define PC_TMAX		26
#define PC_SKEW		38
#define PC_DAMP		700
#define PC_BIAS		72
#define PC_N		128

/* Code points in one label at most: 63 bytes of output allow no more. */
#define IDN_LABEL_MAX	63

static unsigned
adapt(unsigned delta, unsigned npoints, bool first)
{
	unsigned k = 0;

	delta = first ? delta / PC_DAMP : delta / 2;
	delta += delta / npoints;
	while (delta > ((PC_BASE - PC_TMIN) * PC_TMAX) / 2) {
		delta /= PC_BASE - PC_TMIN;
		k += PC_BASE;
	}
	return k + (PC_BASE - PC_TMIN + 1) * delta / (delta + PC_SKEW);
}

static char
digit_char(unsigned d)
{
	return (char)(d < 26 ? 'a' + d : '0' + d - 26);
}

static int
char_digit(char c)
{
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= '0' && c <= '9')
		return c - '0' + 26;
	return -1;
}

/* Simple lower-case mapping of the blocks named at the top. */
static uint32_t
to_lower(uint32_t c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 0xc0 && c <= 0xde && c != 0xd7))
		return c + 0x20;
	if (c >= 0x100 && c <= 0x137 && !(c & 1))
		return c + 1;
	if (c >= 0x139 && c <= 0x148 && (c & 1))
		return c + 1;
	if (c >= 0x14a && c <= 0x177 && !(c & 1))
		return c + 1;
	if (c == 0x178)
		return 0xff;
	if (c >= 0x179 && c <= 0x17e && (c & 1))
		return c + 1;
	if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2)
		return c + 0x20;
	if (c >= 0x410 && c <= 0x42f)
		return c + 0x20;
	if (c >= 0x400 && c <= 0x40f)
		return c + 0x50;
	return c;
}

/* Decodes one UTF-8 sequence at @s (@len bytes left) into *@cp. Returns
 * its length, or 0 for a malformed, overlong or surrogate sequence. */
static size_t
utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t n;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		c = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static size_t
utf8_encode(uint32_t c, char *out)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* Punycode of @n code points into @out (at most @cap bytes). Returns the
 * length, or -KS_ENAMETOOLONG. RFC 3492 6.3. */
static int
punycode_encode(const uint32_t *cp, size_t n, char *out, size_t cap)
{
	size_t o = 0, basic = 0;
	uint32_t next = PC_N, delta = 0, bias = PC_BIAS;

	for (size_t i = 0; i < n; i++) {
		if (cp[i] < 0x80) {
			if (o >= cap)
				return -KS_ENAMETOOLONG;
			out[o++] = (char)cp[i];
			basic++;
		}
	}
	if (basic > 0) {
		if (o >= cap)
			return -KS_ENAMETOOLONG;
		out[o++] = '-';
	}
	for (size_t h = basic; h < n;) {
		uint32_t m = UINT32_MAX;
		for (size_t i = 0; i < n; i++)
			if (cp[i] >= next && cp[i] < m)
				m = cp[i];
		/* Labels are short: no overflow (63 * 0x10ffff < 2^32). */
		delta += (m - next) * (uint32_t)(h + 1);
		next = m;
		for (size_t i = 0; i < n; i++) {
			if (cp[i] < next) {
				delta++;
				continue;
			}
			if (cp[i] != next)
				continue;
			uint32_t q = delta;
			for (uint32_t k = PC_BASE;; k += PC_BASE) {
				uint32_t t = k <= bias ? PC_TMIN :
					     k >= bias + PC_TMAX ? PC_TMAX :
					     k - bias;
				if (q < t)
					break;
				if (o >= cap)
					return -KS_ENAMETOOLONG;
				out[o++] = digit_char(t + (q - t) % (PC_BASE - t));
				q = (q - t) / (PC_BASE - t);
			}
			if (o >= cap)
				return -KS_ENAMETOOLONG;
			out[o++] = digit_char(q);
			bias = adapt(delta, (unsigned)h + 1, h == basic);
			delta = 0;
			h++;
		}
		delta++;
		next++;
	}
	return (int)o;
}

/* Decodes Punycode @in (@len bytes) into code points. Returns their
 * number, or -KS_EINVAL. RFC 3492 6.2; and, as libidn2, a label with no
 * non-ASCII character is no IDN ("xn--www-" must not read as "www"). */
static int
punycode_decode(const char *in, size_t len, uint32_t *cp, size_t max)
{
	size_t n = 0, b = 0, p;
	uint32_t next = PC_N, i = 0, bias = PC_BIAS;

	for (size_t j = 0; j < len; j++)
		if (in[j] == '-')
			b = j;
	for (size_t j = 0; j < b; j++) {
		if ((unsigned char)in[j] >= 0x80 || n >= max)
			return -KS_EINVAL;
		cp[n++] = (unsigned char)in[j];
	}
	for (p = b > 0 ? b + 1 : 0; p < len;) {
		uint32_t old = i, w = 1;
		for (uint32_t k = PC_BASE;; k += PC_BASE) {
			if (p >= len)
				return -KS_EINVAL;
			int d = char_digit(in[p++]);
			if (d < 0 || (uint32_t)d > (UINT32_MAX - i) / w)
				return -KS_EINVAL;
			i += (uint32_t)d * w;
			uint32_t t = k <= bias ? PC_TMIN :
				     k >= bias + PC_TMAX ? PC_TMAX : k - bias;
			if ((uint32_t)d < t)
				break;
			if (w > UINT32_MAX / (PC_BASE - t))
				return -KS_EINVAL;
			w *= PC_BASE - t;
		}
		bias = adapt(i - old, (unsigned)n + 1, old == 0);
		if (i / (n + 1) > 0x10ffff - next)
			return -KS_EINVAL;
		next += i / (uint32_t)(n + 1);
		i %= (uint32_t)(n + 1);
		if (n >= max || next < 0x80 ||
		    (next >= 0xd800 && next <= 0xdfff))
			return -KS_EINVAL;
		for (size_t j = n; j > i; j--)
			cp[j] = cp[j - 1];
		cp[i++] = next;
		n++;
	}
	if (n == b)
		return -KS_EINVAL;
	return (int)n;
}

/*
 * Converts the UTF-8 host name @in to its ASCII form in @out (@cap
 * bytes): each label with a non-ASCII character, lower-cased, becomes
 * "xn--" and its Punycode. Returns 0, -KS_EINVAL for text that is not
 * UTF-8 (or holds control characters), or -KS_ENAMETOOLONG.
 */
int
ks__dns_idn_to_ascii(const char *in, char *out, size_t cap)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t len = dns_strlen(in), o = 0, i = 0;

	while (i <= len) {
		uint32_t cp[IDN_LABEL_MAX + 1];
		size_t n = 0, start = i;
		bool ascii = true;

		while (i < len && s[i] != '.') {
			uint32_t c;
			size_t k = utf8_decode(s + i, len - i, &c);
			if (k == 0 || c < 0x20 || (c >= 0x7f && c < 0xa0))
				return -KS_EINVAL;
			if (n > IDN_LABEL_MAX)
				return -KS_ENAMETOOLONG;
			ascii &= c < 0x80;
			cp[n++] = c < 0x80 ? c : to_lower(c);
			i += k;
		}
		if (ascii) {
			if (o + (i - start) + 1 > cap)
				return -KS_ENAMETOOLONG;
			dns_memcpy(out + o, in + start, i - start);
			o += i - start;
		} else {
			for (size_t k = 0; k < n; k++)
				cp[k] = to_lower(cp[k]);
			if (o + 4 > cap)
				return -KS_ENAMETOOLONG;
			dns_memcpy(out + o, "xn--", 4);
			o += 4;
			int l = punycode_encode(cp, n, out + o, cap - o);
			if (l < 0 || l + 4 > KS_DNS_LABEL_MAX)
				return -KS_ENAMETOOLONG;
			o += (size_t)l;
		}
		if (i == len)
			break;
		if (o + 1 >= cap)
			return -KS_ENAMETOOLONG;
		out[o++] = '.';
		i++;
	}
	if (o >= cap)
		return -KS_ENAMETOOLONG;
	out[o] = 0;
	return 0;
}

/*
 * Converts the ASCII host name @in to UTF-8 in @out (@cap bytes): each
 * "xn--" label whose Punycode decodes becomes its characters; any other
 * label is copied. Returns 0 or -KS_ENAMETOOLONG.
 */
int
ks__dns_idn_to_unicode(const char *in, char *out, size_t cap)
{
	size_t len = dns_strlen(in), o = 0, i = 0;

	while (i <= len) {
		size_t start = i;
		uint32_t cp[IDN_LABEL_MAX];
		int n = -1;

		while (i < len && in[i] != '.')
			i++;
		if (i - start > 4 && (in[start] | 0x20) == 'x' &&
		    (in[start + 1] | 0x20) == 'n' && in[start + 2] == '-' &&
		    in[start + 3] == '-')
			n = punycode_decode(in + start + 4, i - start - 4, cp,
					    IDN_LABEL_MAX);
		if (n > 0) {
			for (int k = 0; k < n; k++) {
				char u[4];
				size_t ul = utf8_encode(cp[k], u);
				if (o + ul >= cap)
					return -KS_ENAMETOOLONG;
				dns_memcpy(out + o, u, ul);
				o += ul;
			}
		} else {
			if (o + (i - start) >= cap)
				return -KS_ENAMETOOLONG;
			dns_memcpy(out + o, in + start, i - start);
			o += i - start;
		}
		if (i == len)
			break;
		if (o + 1 >= cap)
			return -KS_ENAMETOOLONG;
		out[o++] = '.';
		i++;
	}
	if (o >= cap)
		return -KS_ENAMETOOLONG;
	out[o] = 0;
	return 0;
}

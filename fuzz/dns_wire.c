/*
 * libFuzzer target for the resolver's parsers: DNS messages (parse, then
 * extract answers of each type the resolver asks for, as it would), and
 * the text parsers (resolv.conf, hosts, names, addresses).
 *
 * The first byte picks the parser; the rest is the input. Built with
 * -fsanitize=fuzzer,address,undefined by mk/dns.mk.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void *f_alloc(size_t n) { return malloc(n); }
static void f_free(void *p, size_t n) { (void)n; free(p); }

static struct ks_port port = { .alloc = f_alloc, .free = f_free };

/* What a caller may see of a name: host-name bytes and single dots. */
static void
check_clean(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	if (n == max)
		abort();	/* not terminated inside its slot */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' ||
			  (c == '.' && i > 0 && s[i + 1] && s[i + 1] != '.');
		if (!ok)
			abort();	/* a hostile name got through */
	}
}

static void
fuzz_message(const uint8_t *buf, size_t len)
{
	static const uint16_t types[] = { DNS_T_A, DNS_T_AAAA, DNS_T_PTR };
	uint8_t qname[DNS_WIRE_NAME_MAX];
	struct ks_dns_config c;
	struct dns_msg m;
	size_t qlen, next;

	if (ks__dns_parse(buf, len, &m) < 0)
		return;
	if (ks__dns_name_expand(buf, len, DNS_HDR_LEN, qname, &qlen, &next) < 0)
		abort();	/* parse accepted a question it cannot read */
	ks_dns_config_init(&c);
	for (size_t i = 0; i < 3; i++) {
		struct dns_question q = { 0 };

		(void)ks__dns_question_matches(&m, qname, types[i]);
		if (ks__dns_extract(&port, &m, qname, types[i], 0, &c, &q) < 0)
			continue;
		if (q.answer) {
			struct dns_answer *a = q.answer;
			if (a->nrr > DNS_ANS_MAX_RR)
				abort();
			for (unsigned k = 0; k < a->nrr; k++) {
				if ((size_t)a->rr[k].off + a->rr[k].len >
				    a->size - (size_t)(a->data - (uint8_t *)a))
					abort();
				if (a->qtype == DNS_T_PTR)
					check_clean((const char *)a->data +
						    a->rr[k].off, a->rr[k].len + 1);
			}
			check_clean(a->canon, sizeof a->canon);
			for (size_t k = 0, o = 0; k < a->naliases; k++) {
				size_t room = a->size -
					(size_t)(a->aliases - (char *)a) - o;
				check_clean(a->aliases + o, room);
				o += strlen(a->aliases + o) + 1;
			}
			ks__dns_answer_put(&port, a);
		}
	}
}

static void
fuzz_text(const uint8_t *data, size_t len, int which)
{
	char *s = malloc(len + 1);

	memcpy(s, data, len);
	s[len] = 0;
	if (which == 0) {
		struct ks_dns_config c;
		ks_dns_config_init(&c);
		(void)ks_dns_config_parse(&c, s, len);
		if (c.nservers > KS_DNS_MAX_SERVERS || c.nsearch > KS_DNS_MAX_SEARCH)
			abort();
	} else if (which == 1) {
		struct dns_hosts *h;
		if (ks__dns_hosts_parse(&port, s, len, &h) == 0) {
			for (size_t i = 0; i < h->n; i++)
				(void)ks__dns_host_has_name(&h->h[i], "localhost", 9);
			ks__dns_hosts_free(&port, h);
		}
	} else {
		uint8_t wire[DNS_WIRE_NAME_MAX], addr[16];
		char text[KS_DNS_NAME_MAX + 2], out[64];
		size_t wlen;
		bool abs;
		if (ks__dns_name_to_wire(s, wire, &wlen, &abs) == 0) {
			if (ks__dns_wire_to_text(wire, text, sizeof text) < 0)
				abort();	/* what we accept we can print */
		}
		if (ks__dns_parse_ipv6(s, len, addr))
			(void)ks__dns_format_addr(KS_AF_INET6, addr, out, sizeof out);
		if (ks__dns_parse_ipv4(s, len, addr))
			(void)ks__dns_format_addr(KS_AF_INET, addr, out, sizeof out);
		/* IDN both ways: what becomes ASCII comes back, and the
		 * ASCII form is a name the resolver takes. */
		char ace[KS_DNS_NAME_MAX + 2], uni[4 * KS_DNS_NAME_MAX + 2];
		if (ks__dns_idn_to_ascii(s, ace, sizeof ace) == 0) {
			for (size_t i = 0; ace[i]; i++)
				if ((unsigned char)ace[i] >= 0x80)
					abort();
			if (ks__dns_idn_to_unicode(ace, uni, sizeof uni) < 0)
				abort();
		}
		(void)ks__dns_idn_to_unicode(s, uni, sizeof uni);
		/* What inet_pton accepts, inet_aton accepts the same. */
		uint8_t aton[4];
		if (ks__dns_parse_ipv4(s, len, addr) &&
		    (!ks__dns_parse_ipv4_aton(s, len, aton) ||
		     memcmp(aton, addr, 4) != 0))
			abort();
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] & 3) {
	case 0:
	case 1:
		fuzz_message(data + 1, size - 1);
		break;
	default:
		fuzz_text(data + 1, size - 1, data[0] >> 2 & 3 ? (data[0] >> 2 & 3) - 1 : 2);
		break;
	}
	return 0;
}

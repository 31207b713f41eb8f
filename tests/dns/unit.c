/*
 * Resolver unit tests that need no server: the wire codec, text parsers,
 * the cache, and the parts of the API that never touch the network
 * (numeric hosts, hints, services, hosts table), compared with glibc
 * where glibc is the reference.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <idn2.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns/dns_impl.h"
#include "harness.h"

/* A transport that must never be used: the tests here stay offline. */
static int
no_open(void *ctx, int proto, const struct ks_dns_server *srv, int64_t d,
	void **ep)
{
	test_fail(__FILE__, __LINE__, "transport used by an offline test");
	return -KS_ENETDOWN;
}
static int no_send(void *ep, const void *b, size_t l) { return -KS_EIO; }
static int no_recv(void *ep, void *b, size_t c, struct ks_dns_server *f,
		   int64_t d) { return -KS_EIO; }
static void no_close(void *ep) { }

static const struct ks_dns_transport offline = {
	.open = no_open, .send = no_send, .recv = no_recv, .close = no_close,
};

static const char hosts_text[] =
	"# comment line\n"
	"127.0.0.1\tlocalhost\n"
	"::1 localhost ip6-localhost\n"
	"10.1.2.3  myhost.example myhost  # trailing comment\n"
	"10.1.2.4  MyHost.example\n"
	"fd00::5   v6host\n"
	"fe80::9%3 scoped\n"
	"garbage line here\n";

static struct ks_dns *
offline_resolver(void)
{
	struct ks_dns *r = NULL;
	struct ks_dns_config c;

	struct ks_dns_transport tp, hosted;

	ks_dns_config_init(&c);
	/* Interface names for scope ids come from the host, offline too. */
	ks_dns_hosted_transport(&hosted);
	tp = offline;
	tp.if_index = hosted.if_index;
	CHECK_EQ(ks_dns_create(&r, test_port(), &tp, &c, hosts_text,
			       sizeof hosts_text - 1), 0);
	return r;
}

/* -- wire codec -- */

static void
test_query_roundtrip(void)
{
	uint8_t name[DNS_WIRE_NAME_MAX], buf[600];
	size_t nlen, len;
	bool abs;
	struct dns_msg m;

	CHECK_EQ(ks__dns_name_to_wire("www.Example.org.", name, &nlen, &abs), 0);
	CHECK(abs);
	CHECK_EQ(nlen, 17);
	CHECK_EQ(ks__dns_build_query(buf, sizeof buf, 0xbeef, name, nlen,
				     DNS_T_AAAA, true, &len), 0);
	CHECK_EQ(len, 12 + 17 + 4 + 11);
	/* A query parses as a message with one question and one OPT RR. */
	CHECK_EQ(ks__dns_parse(buf, len, &m), 0);
	CHECK_EQ(m.id, 0xbeef);
	CHECK_EQ(m.arcount, 1);
	CHECK(ks__dns_question_matches(&m, (const uint8_t *)"\3WWW\7example\3ORG", DNS_T_AAAA));
	CHECK(!ks__dns_question_matches(&m, name, DNS_T_A));
	CHECK_EQ(ks__dns_build_query(buf, 20, 1, name, nlen, DNS_T_A, false,
				     &len), -KS_EMSGSIZE);
}

/* Builds: header, question "a.b", then RRs appended by the caller. */
static size_t
msg_start(uint8_t *b, uint16_t flags, uint16_t an, uint16_t ns)
{
	static const uint8_t q[] = "\1a\1b";	/* with NUL: root label */
	memset(b, 0, 12);
	b[0] = 0x12; b[1] = 0x34;
	b[2] = (uint8_t)(flags >> 8); b[3] = (uint8_t)flags;
	b[5] = 1;
	b[7] = (uint8_t)an;
	b[9] = (uint8_t)ns;
	memcpy(b + 12, q, sizeof q);
	b[12 + sizeof q] = 0; b[13 + sizeof q] = 1;	/* type A */
	b[14 + sizeof q] = 0; b[15 + sizeof q] = 1;	/* class IN */
	return 12 + sizeof q + 4;
}

static size_t
put_rr(uint8_t *b, size_t o, const uint8_t *owner, size_t olen, uint16_t type,
       uint32_t ttl, const void *rdata, uint16_t rdlen)
{
	memcpy(b + o, owner, olen);
	o += olen;
	b[o++] = (uint8_t)(type >> 8); b[o++] = (uint8_t)type;
	b[o++] = 0; b[o++] = 1;
	b[o++] = (uint8_t)(ttl >> 24); b[o++] = (uint8_t)(ttl >> 16);
	b[o++] = (uint8_t)(ttl >> 8); b[o++] = (uint8_t)ttl;
	b[o++] = (uint8_t)(rdlen >> 8); b[o++] = (uint8_t)rdlen;
	memcpy(b + o, rdata, rdlen);
	return o + rdlen;
}

static const uint8_t ptr_q[] = { 0xc0, 12 };	/* pointer to the question name */

static void
test_parse_rejects_malformed(void)
{
	uint8_t b[512];
	struct dns_msg m;
	size_t o;

	/* A good answer first, so each case below changes one thing. */
	o = msg_start(b, 0x8180, 1, 0);
	o = put_rr(b, o, ptr_q, 2, DNS_T_A, 60, "\xc0\x00\x02\x01", 4);
	CHECK_EQ(ks__dns_parse(b, o, &m), 0);
	/* Every truncation of it is rejected. */
	for (size_t cut = 0; cut < o; cut++)
		CHECK_EQ(ks__dns_parse(b, cut, &m), -KS_EINVAL);
	/* Trailing garbage. */
	CHECK_EQ(ks__dns_parse(b, o + 1, &m), -KS_EINVAL);
	/* A record with a 5-byte address. */
	o = msg_start(b, 0x8180, 1, 0);
	o = put_rr(b, o, ptr_q, 2, DNS_T_A, 60, "\1\2\3\4\5", 5);
	CHECK_EQ(ks__dns_parse(b, o, &m), -KS_EINVAL);
	/* A pointer to itself, and a forward pointer. */
	o = msg_start(b, 0x8180, 1, 0);
	size_t self = o;
	uint8_t loop[2] = { 0xc0, (uint8_t)self };
	o = put_rr(b, o, loop, 2, DNS_T_A, 60, "\1\2\3\4", 4);
	CHECK_EQ(ks__dns_parse(b, o, &m), -KS_EINVAL);
	o = msg_start(b, 0x8180, 1, 0);
	uint8_t fwd[2] = { 0xc0, (uint8_t)(o + 20) };
	o = put_rr(b, o, fwd, 2, DNS_T_A, 60, "\1\2\3\4", 4);
	CHECK_EQ(ks__dns_parse(b, o, &m), -KS_EINVAL);
	/* Two questions. */
	o = msg_start(b, 0x8180, 0, 0);
	b[5] = 2;
	CHECK_EQ(ks__dns_parse(b, o, &m), -KS_EINVAL);
	/* Label type 0x40. */
	o = msg_start(b, 0x8180, 1, 0);
	o = put_rr(b, o, (const uint8_t *)"\x41", 1, DNS_T_A, 60, "\1\2\3\4", 4);
	CHECK_EQ(ks__dns_parse(b, o, &m), -KS_EINVAL);
	/* A name longer than 255 bytes built from a chain of pointers. */
	uint8_t big[1024];
	memset(big, 0, sizeof big);
	big[5] = 1;
	size_t p = 12;
	big[p] = 63; memset(big + p + 1, 'x', 63); big[p + 64] = 0;
	size_t prev = p;
	p += 65;
	for (int i = 0; i < 4; i++) {	/* each adds 64 bytes */
		size_t here = p;
		big[p] = 63; memset(big + p + 1, 'y', 63);
		big[p + 64] = (uint8_t)(0xc0 | (prev >> 8));
		big[p + 65] = (uint8_t)prev;
		p += 66;
		prev = here;
	}
	/* Question: pointer to the 5-label chain (65+4*64 > 255). */
	size_t qpos = p;
	big[p++] = (uint8_t)(0xc0 | (prev >> 8));
	big[p++] = (uint8_t)prev;
	big[p++] = 0; big[p++] = 1; big[p++] = 0; big[p++] = 1;
	uint8_t name[DNS_WIRE_NAME_MAX];
	size_t nlen, next;
	CHECK_EQ(ks__dns_name_expand(big, p, qpos, name, &nlen, &next), -KS_EINVAL);
}

/* -- extracting answers -- */

static struct ks_dns_config
default_config(void)
{
	struct ks_dns_config c;
	ks_dns_config_init(&c);
	return c;
}

static void
test_extract_cname_chain_and_ttl(void)
{
	struct ks_dns_config c = default_config();
	uint8_t b[512];
	struct dns_msg m;
	struct dns_question q = { 0 };
	size_t o = msg_start(b, 0x8180, 3, 0);

	/* a.b CNAME x.b (ttl 50); x.b A 192.0.2.7 (ttl 7200) x2 */
	size_t cname_at = o;
	o = put_rr(b, o, ptr_q, 2, DNS_T_CNAME, 50, "\1x\xc0\x0e", 4);
	uint8_t x[2] = { 0xc0, (uint8_t)(cname_at + 12) };
	o = put_rr(b, o, x, 2, DNS_T_A, 7200, "\xc0\x00\x02\x07", 4);
	o = put_rr(b, o, x, 2, DNS_T_A, 10, "\xc0\x00\x02\x08", 4);
	CHECK_EQ(ks__dns_parse(b, o, &m), 0);
	CHECK_EQ(ks__dns_extract(test_port(), &m, (const uint8_t *)"\1a\1b",
				 DNS_T_A, 0, &c, &q), 0);
	CHECK(q.answer != NULL);
	if (!q.answer)
		return;
	CHECK_EQ(q.answer->status, DNS_ANS_OK);
	CHECK_EQ(q.answer->nrr, 2);
	CHECK_STR(q.answer->canon, "x.b");
	/* The chain's TTL bounds the addresses behind it. */
	CHECK_EQ(q.answer->rr[0].ttl, 50);
	CHECK_EQ(q.answer->rr[1].ttl, 10);
	CHECK_EQ(q.answer->expires, 10LL * 1000000000);
	ks__dns_answer_put(test_port(), q.answer);
}

static void
test_extract_cname_loop_is_detected(void)
{
	struct ks_dns_config c = default_config();
	uint8_t b[512];
	struct dns_msg m;
	struct dns_question q = { 0 };
	size_t o = msg_start(b, 0x8180, 2, 0);

	/* a.b CNAME x.b; x.b CNAME a.b */
	size_t first = o;
	o = put_rr(b, o, ptr_q, 2, DNS_T_CNAME, 50, "\1x\xc0\x0e", 4);
	uint8_t x[2] = { 0xc0, (uint8_t)(first + 12) };
	o = put_rr(b, o, x, 2, DNS_T_CNAME, 50, "\xc0\x0c", 2);
	CHECK_EQ(ks__dns_parse(b, o, &m), 0);
	CHECK_EQ(ks__dns_extract(test_port(), &m, (const uint8_t *)"\1a\1b",
				 DNS_T_A, 0, &c, &q), -KS_ELOOP);
	CHECK(q.answer == NULL);
}

static void
test_extract_negative_ttl_from_soa(void)
{
	struct ks_dns_config c = default_config();
	uint8_t b[512], soa[64];
	struct dns_msg m;
	size_t o, s = 0;

	/* SOA rdata: mname ".", rname ".", serial..minimum (minimum 30). */
	soa[s++] = 0; soa[s++] = 0;
	for (int i = 0; i < 4; i++) {
		memset(soa + s, 0, 4);
		soa[s + 3] = 100;
		s += 4;
	}
	memset(soa + s, 0, 4); soa[s + 3] = 30; s += 4;
	static const struct { uint16_t flags; uint32_t soattl; int status;
			      int64_t expect; } cases[] = {
		{ 0x8183, 300, DNS_ANS_NXDOMAIN, 30 },	/* MINIMUM smaller */
		{ 0x8183, 20, DNS_ANS_NXDOMAIN, 20 },	/* SOA TTL smaller */
		{ 0x8180, 300, DNS_ANS_NODATA, 30 },	/* NODATA cached too */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct dns_question q = { 0 };
		o = msg_start(b, cases[i].flags, 0, 1);
		o = put_rr(b, o, (const uint8_t *)"\1b", 3, DNS_T_SOA,
			   cases[i].soattl, soa, (uint16_t)s);
		CHECK_EQ(ks__dns_parse(b, o, &m), 0);
		CHECK_EQ(ks__dns_extract(test_port(), &m,
					 (const uint8_t *)"\1a\1b", DNS_T_A, 0,
					 &c, &q), 0);
		CHECK(q.answer && q.answer->status == cases[i].status);
		CHECK(q.answer && q.answer->expires == cases[i].expect * 1000000000);
		ks__dns_answer_put(test_port(), q.answer);
	}
	/* Without an SOA a negative answer expires at once (not cached). */
	struct dns_question q = { 0 };
	o = msg_start(b, 0x8183, 0, 0);
	CHECK_EQ(ks__dns_parse(b, o, &m), 0);
	CHECK_EQ(ks__dns_extract(test_port(), &m, (const uint8_t *)"\1a\1b",
				 DNS_T_A, 5, &c, &q), 0);
	CHECK(q.answer && q.answer->expires == 5);
	ks__dns_answer_put(test_port(), q.answer);
}

static void
test_extract_ttl_is_capped(void)
{
	struct ks_dns_config c = default_config();
	uint8_t b[512];
	struct dns_msg m;
	struct dns_question q = { 0 };

	c.max_ttl = 100;
	size_t o = msg_start(b, 0x8180, 1, 0);
	o = put_rr(b, o, ptr_q, 2, DNS_T_A, 0x7fffffff, "\1\2\3\4", 4);
	CHECK_EQ(ks__dns_parse(b, o, &m), 0);
	CHECK_EQ(ks__dns_extract(test_port(), &m, (const uint8_t *)"\1a\1b",
				 DNS_T_A, 0, &c, &q), 0);
	CHECK(q.answer && q.answer->rr[0].ttl == 100);
	ks__dns_answer_put(test_port(), q.answer);
}

/* -- text -- */

static void
test_name_limits_are_enforced(void)
{
	char name[300];
	uint8_t wire[DNS_WIRE_NAME_MAX];
	size_t len;
	bool abs;

	/* 253 characters: 63+1+63+1+63+1+61. */
	memset(name, 'a', 253);
	name[63] = name[127] = name[191] = '.';
	name[253] = 0;
	CHECK_EQ(ks__dns_name_to_wire(name, wire, &len, &abs), 0);
	CHECK_EQ(len, 255);
	name[253] = '.'; name[254] = 0;
	CHECK_EQ(ks__dns_name_to_wire(name, wire, &len, &abs), 0);
	name[253] = 'a';
	CHECK_EQ(ks__dns_name_to_wire(name, wire, &len, &abs), -KS_EINVAL);
	/* A 64-character label. */
	memset(name, 'b', 64);
	strcpy(name + 64, ".com");
	CHECK_EQ(ks__dns_name_to_wire(name, wire, &len, &abs), -KS_EINVAL);
	name[1] = '.';	/* now labels of 1 and 62 */
	CHECK_EQ(ks__dns_name_to_wire(name, wire, &len, &abs), 0);
	static const char *bad[] = { "", ".", "a..b", ".a", "a b", "a\tb",
				     "a\nb" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_EQ(ks__dns_name_to_wire(bad[i], wire, &len, &abs), -KS_EINVAL);

	/* The API says EAI_NONAME before sending anything. */
	struct ks_dns *r = offline_resolver();
	struct ks_addrinfo *res;
	memset(name, 'c', 254);
	name[254] = 0;
	CHECK_EQ(ks_dns_getaddrinfo(r, name, NULL, NULL, &res), KS_EAI_NONAME);
	CHECK_EQ(ks_dns_getaddrinfo(r, "a..b", NULL, NULL, &res), KS_EAI_NONAME);
	ks_dns_destroy(r);
}

static void
test_addresses_parse_and_format_as_libc(void)
{
	static const char *cases[] = {
		"0.0.0.0", "192.0.2.1", "255.255.255.255", "256.1.1.1",
		"1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.4 ", "", "1..2.3",
		"::", "::1", "1::", "2001:db8::1", "2001:db8:0:0:1:0:0:1",
		"2001:0db8:0000:0000:0000:ff00:0042:8329", "::ffff:192.0.2.1",
		"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1::2::3", ":1::",
		"1:2:3:4:5:6:1.2.3.4", "::1.2.3.4", "12345::", "fe80::1:",
		"0:0:0:0:0:0:0:0", "1:0:0:2:0:0:0:3", "g::1", "::ffff:1.2.3",
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *s = cases[i];
		uint8_t ours[16], libc[16];
		char a[64], b[64];
		bool ok4 = ks__dns_parse_ipv4(s, strlen(s), ours);
		bool want4 = inet_pton(AF_INET, s, libc) == 1;
		if (ok4 != want4)
			printf("    ipv4 \"%s\": ours %d libc %d\n", s, ok4, want4);
		CHECK_EQ(ok4, want4);
		if (ok4 && want4) {
			CHECK(memcmp(ours, libc, 4) == 0);
			ks__dns_format_addr(KS_AF_INET, ours, a, sizeof a);
			inet_ntop(AF_INET, libc, b, sizeof b);
			CHECK_STR(a, b);
		}
		bool ok6 = ks__dns_parse_ipv6(s, strlen(s), ours);
		bool want6 = inet_pton(AF_INET6, s, libc) == 1;
		if (ok6 != want6)
			printf("    ipv6 \"%s\": ours %d libc %d\n", s, ok6, want6);
		CHECK_EQ(ok6, want6);
		if (ok6 && want6) {
			CHECK(memcmp(ours, libc, 16) == 0);
			ks__dns_format_addr(KS_AF_INET6, ours, a, sizeof a);
			inet_ntop(AF_INET6, libc, b, sizeof b);
			CHECK_STR(a, b);
		}
	}
}

static void
test_reverse_names(void)
{
	uint8_t wire[DNS_WIRE_NAME_MAX], a6[16];
	char text[300];
	size_t len;

	CHECK_EQ(ks__dns_reverse_name(KS_AF_INET, (const uint8_t *)"\xc0\x00\x02\x01",
				      wire, &len), 0);
	ks__dns_wire_to_text(wire, text, sizeof text);
	CHECK_STR(text, "1.2.0.192.in-addr.arpa");
	inet_pton(AF_INET6, "2001:db8::1", a6);
	CHECK_EQ(ks__dns_reverse_name(KS_AF_INET6, a6, wire, &len), 0);
	ks__dns_wire_to_text(wire, text, sizeof text);
	CHECK_STR(text, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
}

static void
test_resolv_conf_parsing(void)
{
	struct ks_dns_config c;
	static const char text[] =
		"# a comment\n"
		"; another\n"
		"nameserver 192.0.2.53\n"
		"nameserver 2001:db8::53#5353\n"
		"nameserver fe80::1%eth0\n"
		"nameserver not-an-address\n"
		"domain ignored.example\n"
		"search a.example b.example. c.example\n"
		"options ndots:3 timeout:2 attempts:9 rotate port:1053 bogus\n"
		"unknown directive\n"
		"nameserver 192.0.2.54\n"
		"nameserver 192.0.2.55\n";

	ks_dns_config_init(&c);
	CHECK_EQ(ks_dns_config_parse(&c, text, sizeof text - 1), 0);
	CHECK_EQ(c.nservers, 4);
	CHECK_EQ(c.servers[0].family, KS_AF_INET);
	CHECK(memcmp(c.servers[0].addr, "\xc0\x00\x02\x35", 4) == 0);
	CHECK_EQ(c.servers[0].port, 1053);	/* options port: */
	CHECK_EQ(c.servers[1].family, KS_AF_INET6);
	CHECK_EQ(c.servers[1].port, 5353);	/* explicit #port wins */
	CHECK_EQ(c.servers[2].family, KS_AF_INET6);
	CHECK_EQ(c.servers[3].addr[3], 54);	/* fifth server dropped */
	CHECK_EQ(c.nsearch, 3);
	CHECK_STR(c.search[1], "b.example");
	CHECK_EQ(c.ndots, 3);
	CHECK_EQ(c.timeout_ms, 2000);
	CHECK_EQ(c.attempts, 5);		/* glibc's clamp */
	CHECK(c.rotate);

	/* An unparsable nameserver line is skipped, as glibc does: the rest
	 * of the file (search, options, other servers) still counts. */
	static const char bad[] = "nameserver bad\nsearch x.example\n"
				  "options ndots:3\nnameserver 192.0.2.9\n";
	ks_dns_config_init(&c);
	CHECK_EQ(ks_dns_config_parse(&c, bad, sizeof bad - 1), 0);
	CHECK_EQ(c.nservers, 1);
	CHECK_EQ(c.nsearch, 1);
	CHECK_STR(c.search[0], "x.example");
	CHECK_EQ(c.ndots, 3);
	ks_dns_config_init(&c);
	CHECK_EQ(ks_dns_config_parse(&c, bad, 31), 0);	/* no server at all */
	CHECK_EQ(c.nservers, 0);
	CHECK_EQ(c.nsearch, 1);
	/* And the hosted loader keeps it all too. */
	char path[] = "/tmp/ksock-dns-resolv-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, bad, 48) == 48);	/* no server line */
	close(fd);
	CHECK_EQ(ks_dns_hosted_load_config(path, &c), 0);
	unlink(path);
	CHECK_EQ(c.nservers, 0);
	CHECK_EQ(c.nsearch, 1);
	CHECK_EQ(c.ndots, 3);
	ks_dns_config_init(&c);
	CHECK_EQ(ks_dns_config_parse(&c, "", 0), 0);
	CHECK_EQ(c.nservers, 0);
	CHECK_EQ(c.ndots, 1);
	CHECK_EQ(c.timeout_ms, 5000);
	CHECK_EQ(c.attempts, 2);
}

/*
 * LOCALDOMAIN replaces the search list and RES_OPTIONS adds options over
 * the file's, with the same result as glibc's res_init under the same
 * environment.
 */
static void
test_environment_overrides_as_glibc(void)
{
	char path[] = "/tmp/ksock-dns-resolv-XXXXXX";
	static const char text[] = "search file.example\noptions ndots:2\n";
	struct ks_dns_config c;
	int fd = mkstemp(path);

	CHECK(fd >= 0 && write(fd, text, sizeof text - 1) == sizeof text - 1);
	close(fd);
	setenv("LOCALDOMAIN", "a.example b.example", 1);
	setenv("RES_OPTIONS", "ndots:3 attempts:4 timeout:2", 1);
	CHECK_EQ(ks_dns_hosted_load_config(path, &c), 0);
	unlink(path);
	CHECK_EQ(res_init(), 0);
	CHECK_EQ(c.ndots, _res.ndots);
	CHECK_EQ(c.attempts, (unsigned)_res.retry);
	CHECK_EQ(c.timeout_ms, (unsigned)_res.retrans * 1000);
	CHECK_EQ(c.nsearch, 2);
	CHECK_STR(c.search[0], _res.dnsrch[0]);
	CHECK_STR(c.search[1], _res.dnsrch[1]);
	CHECK(_res.dnsrch[2] == NULL);
	unsetenv("LOCALDOMAIN");
	unsetenv("RES_OPTIONS");
	res_init();
}

/* nsswitch.conf: the order of files and dns on the hosts line. */
static void
test_nsswitch_hosts_order(void)
{
	static const struct { const char *text, *want; } cases[] = {
		{ "passwd: files\nhosts: files mdns4_minimal [NOTFOUND=return] dns myhostname\n", "fd" },
		{ "hosts:   dns files\n", "df" },
		{ "hosts: dns\n", "d" },
		{ "hosts: files\n", "f" },
		{ "hosts: resolve [!UNAVAIL=return] files myhostname dns\n", "fd" },
		{ "# hosts: dns\npasswd: files\n", "" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ks_dns_config c;
		ks_dns_config_init(&c);
		CHECK_EQ(ks_dns_nsswitch_parse(&c, cases[i].text,
					       strlen(cases[i].text)), 0);
		CHECK_STR(c.hosts_order, cases[i].want);
	}
	/* A configuration with another source, or no terminator, is
	 * refused. */
	static const char bad[][3] = { "x", "fx", { 'f', 'd', 'f' } };
	for (size_t i = 0; i < 3; i++) {
		struct ks_dns_config c;
		struct ks_dns *r = NULL;
		ks_dns_config_init(&c);
		memcpy(c.hosts_order, bad[i], 3);
		CHECK_EQ(ks_dns_create(&r, test_port(), &offline, &c, NULL, 0),
			 -KS_EINVAL);
	}
}

/*
 * UTF-8 names to their ASCII form and back: RFC 3492's examples, and the
 * same ASCII as libidn2 (glibc's converter) for a table of names.
 */
static void
test_idn_matches_libidn2(void)
{
	static const char *names[] = {
		"b\xc3\xbc" "cher.example", "B\xc3\x9c" "CHER.example",
		"m\xc3\xbc" "nchen.de", "\xe4\xbb\x96\xe4\xbb\xac\xe4\xb8\xba"
		"\xe4\xbb\x80\xe4\xb9\x88\xe4\xb8\x8d\xe8\xaf\xb4\xe4\xb8"
		"\xad\xe6\x96\x87", "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0"
		"\xb5\xd1\x80.\xd1\x80\xd1\x84", "caf\xc3\xa9.ks.test",
		"\xce\x95\xce\xbb\xce\xbb\xce\xac\xce\xb4\xce\xb1.gr",
		"plain.example", "a\xe2\x82\xac" "b.example",
	};
	char ours[300], back[1024];

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char *ref = NULL;
		int rc = idn2_lookup_u8((const uint8_t *)names[i],
					(uint8_t **)&ref,
					IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
		int e = ks__dns_idn_to_ascii(names[i], ours, sizeof ours);
		if (rc != IDN2_OK) {
			printf("    libidn2 refuses %s: %s\n", names[i],
			       idn2_strerror(rc));
			idn2_free(ref);
			continue;
		}
		CHECK_EQ(e, 0);
		if (e == 0 && strcmp(ours, ref) != 0)
			printf("    %s: ours %s libidn2 %s\n", names[i], ours, ref);
		CHECK_STR(ours, ref);
		/* And back (lower-cased). */
		char ref_back[1024];
		char *u = NULL;
		if (idn2_to_unicode_8z8z(ref, &u, 0) == IDN2_OK) {
			snprintf(ref_back, sizeof ref_back, "%s", u);
			CHECK_EQ(ks__dns_idn_to_unicode(ours, back, sizeof back), 0);
			CHECK_STR(back, ref_back);
		}
		idn2_free(u);
		idn2_free(ref);
	}
	/* Not UTF-8, control characters: refused. */
	CHECK_EQ(ks__dns_idn_to_ascii("a\xff.example", ours, sizeof ours),
		 -KS_EINVAL);
	CHECK_EQ(ks__dns_idn_to_ascii("a\xc0\x80.example", ours, sizeof ours),
		 -KS_EINVAL);
	/* A bad xn-- label stays as it is. */
	CHECK_EQ(ks__dns_idn_to_unicode("xn--!!.example", back, sizeof back), 0);
	CHECK_STR(back, "xn--!!.example");
	/*
	 * Names from answers (PTR, CNAME) back to UTF-8, hostile ones
	 * included: what libidn2 decodes comes out the same, and a label it
	 * refuses stays in its xn-- form. A label of basic characters only
	 * ("xn--www-") is not an IDN: shown as "www" it would pass for
	 * another name.
	 */
	static const char *labels[] = {
		"xn--www-.xn--bank-.example", "xn--a-", "xn--aaaa-.example",
		"xn---", "xn--0", "xn--a-zzzzzzzzzz", "xn--99999999999",
		"xn--zzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "xn--9ca", "XN--9CA",
		"xn--ab-gw9a", "xn--bcher--kva", "xn--ls8h.example",
	};
	for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
		char *u = NULL;
		int rc = idn2_to_unicode_8z8z(labels[i], &u, 0);
		CHECK_EQ(ks__dns_idn_to_unicode(labels[i], back, sizeof back),
			 0);
		if (rc == IDN2_OK)
			CHECK_STR(back, u);
		else
			CHECK_STR(back, labels[i]);
		idn2_free(u);
	}
	/* getaddrinfo: 8-bit names need AI_IDN, bad UTF-8 is EAI_IDN_ENCODE. */
	struct ks_dns *r = offline_resolver();
	struct ks_addrinfo h = { 0 }, *res;
	CHECK_EQ(ks_dns_getaddrinfo(r, "b\xc3\xbc" "cher", NULL, &h, &res),
		 KS_EAI_NONAME);
	h.ai_flags = KS_AI_IDN;
	CHECK_EQ(ks_dns_getaddrinfo(r, "a\xff.example", NULL, &h, &res),
		 KS_EAI_IDN_ENCODE);
	struct ks_in_addr in;
	CHECK_EQ(ks_dns_resolve4(r, "b\xc3\xbc" "cher", &in), KS_EAI_NONAME);
	ks_dns_destroy(r);
}

/* -- the API offline -- */

struct ai_flat {
	int family, socktype, protocol;
	char addr[64];
	unsigned port, scope;
};

static size_t
flatten_ks(const struct ks_addrinfo *ai, struct ai_flat *out, size_t max)
{
	size_t n = 0;

	for (; ai && n < max; ai = ai->ai_next, n++) {
		memset(&out[n], 0, sizeof out[n]);
		out[n].family = ai->ai_family;
		out[n].socktype = ai->ai_socktype;
		out[n].protocol = ai->ai_protocol;
		if (ai->ai_family == KS_AF_INET) {
			const struct ks_sockaddr_in *s = (const void *)ai->ai_addr;
			inet_ntop(AF_INET, &s->sin_addr, out[n].addr, 64);
			out[n].port = ntohs(s->sin_port);
			CHECK_EQ(ai->ai_addrlen, sizeof(struct sockaddr_in));
		} else {
			const struct ks_sockaddr_in6 *s = (const void *)ai->ai_addr;
			inet_ntop(AF_INET6, &s->sin6_addr, out[n].addr, 64);
			out[n].port = ntohs(s->sin6_port);
			out[n].scope = s->sin6_scope_id;
			CHECK_EQ(ai->ai_addrlen, sizeof(struct sockaddr_in6));
		}
	}
	return n;
}

static size_t
flatten_libc(const struct addrinfo *ai, struct ai_flat *out, size_t max)
{
	size_t n = 0;

	for (; ai && n < max; ai = ai->ai_next, n++) {
		memset(&out[n], 0, sizeof out[n]);
		out[n].family = ai->ai_family;
		out[n].socktype = ai->ai_socktype;
		out[n].protocol = ai->ai_protocol;
		if (ai->ai_family == AF_INET) {
			const struct sockaddr_in *s = (const void *)ai->ai_addr;
			inet_ntop(AF_INET, &s->sin_addr, out[n].addr, 64);
			out[n].port = ntohs(s->sin_port);
		} else {
			const struct sockaddr_in6 *s = (const void *)ai->ai_addr;
			inet_ntop(AF_INET6, &s->sin6_addr, out[n].addr, 64);
			out[n].port = ntohs(s->sin6_port);
			out[n].scope = s->sin6_scope_id;
		}
	}
	return n;
}

static int
flat_cmp(const void *a, const void *b)
{
	const struct ai_flat *x = a, *y = b;
	if (x->family != y->family)
		return x->family - y->family;
	if (x->socktype != y->socktype)
		return x->socktype - y->socktype;
	if (x->protocol != y->protocol)
		return x->protocol - y->protocol;
	if (x->port != y->port)
		return (int)x->port - (int)y->port;
	if (x->scope != y->scope)
		return (int)x->scope - (int)y->scope;
	return strcmp(x->addr, y->addr);
}

/*
 * For numeric hosts and services, our getaddrinfo returns the same set
 * of (family, socktype, protocol, address, port) as glibc, and the same
 * error code, for a table of hints. (Order may differ: glibc sorts by
 * RFC 6724; see docs/dns.md.)
 */
static void
test_getaddrinfo_matches_glibc_offline(void)
{
	static const struct {
		const char *node, *service;
		int flags, family, socktype, protocol;
	} cases[] = {
		{ "192.0.2.1", NULL, 0, 0, 0, 0 },
		{ "192.0.2.1", "80", 0, 0, 0, 0 },
		{ "192.0.2.1", "http", 0, 0, 0, 0 },
		{ "192.0.2.1", "domain", 0, 0, SOCK_DGRAM, 0 },
		{ "192.0.2.1", "http", AI_NUMERICSERV, 0, 0, 0 },
		{ "192.0.2.1", "no-such-service", 0, 0, 0, 0 },
		/* A service that exists, but not for the socket type. */
		{ "192.0.2.1", "ntp", 0, 0, SOCK_STREAM, 0 },
		{ "192.0.2.1", "ssh", 0, 0, SOCK_DGRAM, 0 },
		{ "192.0.2.1", "ntp", 0, 0, 0, IPPROTO_TCP },
		{ "192.0.2.1", "ntp", 0, 0, SOCK_STREAM, IPPROTO_UDP },
		{ "192.0.2.1", "80", 0, AF_INET6, 0, 0 },
		{ "192.0.2.1", "80", AI_V4MAPPED, AF_INET6, 0, 0 },
		{ "2001:db8::1", "443", 0, 0, SOCK_STREAM, 0 },
		{ "2001:db8::1", "443", 0, AF_INET, 0, 0 },
		{ "2001:db8::1", NULL, 0, 0, SOCK_RAW, 0 },
		{ "2001:db8::1", "22", 0, 0, SOCK_RAW, 0 },
		{ "192.0.2.1", "22", 0, 0, SOCK_STREAM, IPPROTO_UDP },
		{ "192.0.2.1", "22", 0, 0, 0, IPPROTO_UDP },
		{ "192.0.2.1", NULL, 0, 0, 0, IPPROTO_TCP },
		{ NULL, "8080", AI_PASSIVE, AF_INET, 0, 0 },
		{ NULL, "8080", AI_PASSIVE, AF_INET6, SOCK_STREAM, 0 },
		{ NULL, "8080", 0, AF_INET, SOCK_DGRAM, 0 },
		{ NULL, "8080", 0, AF_INET6, 0, 0 },
		{ NULL, NULL, 0, 0, 0, 0 },
		{ "192.0.2.1", NULL, 0x4000, 0, 0, 0 },
		{ "192.0.2.1", NULL, 0, AF_UNIX, 0, 0 },
		{ "192.0.2.1", NULL, 0, 0, 99, 0 },
		{ NULL, "80", AI_CANONNAME, 0, 0, 0 },
		{ "not-numeric.invalid", NULL, AI_NUMERICHOST, 0, 0, 0 },
		/* inet_aton's shorthand, answered without a query. */
		{ "127.1", NULL, 0, 0, SOCK_STREAM, 0 },
		{ "0x7f.1", NULL, 0, 0, SOCK_STREAM, 0 },
		{ "010.0.0.1", NULL, 0, 0, SOCK_STREAM, 0 },
		{ "1", NULL, 0, AF_INET, SOCK_STREAM, 0 },
		{ "0x7f000001", NULL, 0, 0, SOCK_STREAM, 0 },
		{ "4294967295", NULL, 0, 0, SOCK_STREAM, 0 },
		{ "1.16777215", NULL, 0, 0, SOCK_STREAM, 0 },
		{ "1.2.65535", NULL, AI_NUMERICHOST, 0, SOCK_STREAM, 0 },
		{ "4294967296", NULL, AI_NUMERICHOST, 0, SOCK_STREAM, 0 },
		{ "1.16777216", NULL, AI_NUMERICHOST, 0, SOCK_STREAM, 0 },
		{ "08.1", NULL, AI_NUMERICHOST, 0, SOCK_STREAM, 0 },
		{ "0x.1", NULL, AI_NUMERICHOST, 0, SOCK_STREAM, 0 },
		{ "0x1g", NULL, AI_NUMERICHOST, 0, SOCK_STREAM, 0 },
		{ "1.2.3.4.", NULL, AI_NUMERICHOST, 0, SOCK_STREAM, 0 },
		{ "1.2.3.4 ", NULL, AI_NUMERICHOST, 0, SOCK_STREAM, 0 },
		{ "256.1", NULL, AI_NUMERICHOST, 0, SOCK_STREAM, 0 },
		{ "127.1", NULL, AI_CANONNAME, AF_INET6, SOCK_STREAM, 0 },
		/* IPv6 scope ids: names and numbers. */
		{ "fe80::1%lo", NULL, 0, 0, SOCK_STREAM, 0 },
		{ "fe80::1%1", "80", 0, 0, SOCK_STREAM, 0 },
		{ "2001:db8::1%7", NULL, 0, 0, SOCK_STREAM, 0 },
		{ "ff02::1%lo", NULL, 0, 0, SOCK_DGRAM, 0 },
		{ "fe80::1%4294967295", NULL, AI_NUMERICHOST, 0, SOCK_STREAM, 0 },
		{ "fe80::1%4294967296", NULL, AI_NUMERICHOST, 0, SOCK_STREAM, 0 },
		{ "fe80::1%no-such-if", NULL, AI_NUMERICHOST, 0, SOCK_STREAM, 0 },
		{ "2001:db8::1%lo", NULL, AI_NUMERICHOST, 0, SOCK_STREAM, 0 },
		{ "fe80::1%", NULL, AI_NUMERICHOST, 0, SOCK_STREAM, 0 },
	};
	struct ks_dns *r = offline_resolver();

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct addrinfo lh = { 0 }, *lres = NULL;
		struct ks_addrinfo kh = { 0 }, *kres = NULL;
		struct ai_flat a[16], b[16];

		lh.ai_flags = kh.ai_flags = cases[i].flags;
		lh.ai_family = kh.ai_family = cases[i].family;
		lh.ai_socktype = kh.ai_socktype = cases[i].socktype;
		lh.ai_protocol = kh.ai_protocol = cases[i].protocol;
		int le = getaddrinfo(cases[i].node, cases[i].service, &lh, &lres);
		int ke = ks_dns_getaddrinfo(r, cases[i].node, cases[i].service,
					    &kh, &kres);
		if (le != ke)
			printf("    case %zu (%s, %s): glibc %d ours %d\n", i,
			       cases[i].node, cases[i].service, le, ke);
		CHECK_EQ(ke, le);
		size_t na = flatten_ks(kres, a, 16), nb = flatten_libc(lres, b, 16);
		CHECK_EQ(na, nb);
		if (na == nb) {
			qsort(a, na, sizeof a[0], flat_cmp);
			qsort(b, nb, sizeof b[0], flat_cmp);
			for (size_t k = 0; k < na; k++) {
				if (flat_cmp(&a[k], &b[k]) != 0)
					printf("    case %zu: ours %s%%%u glibc %s%%%u\n",
					       i, a[k].addr, a[k].scope,
					       b[k].addr, b[k].scope);
				CHECK(flat_cmp(&a[k], &b[k]) == 0);
			}
		}
		if (lres)
			freeaddrinfo(lres);
		ks_dns_freeaddrinfo(kres);
	}
	ks_dns_destroy(r);
}

static bool addrconf_v4, addrconf_v6;

static void
fake_addrconfig(void *ctx, bool *v4, bool *v6)
{
	*v4 = addrconf_v4;
	*v6 = addrconf_v6;
}

/* AI_ADDRCONFIG keeps the families the host has addresses of; a host
 * with none at all (loopback only) keeps both. */
static void
test_addrconfig_filters_families(void)
{
	static const struct { bool v4, v6; int flags; int n4, n6; } cases[] = {
		{ true, false, KS_AI_ADDRCONFIG, 1, 0 },
		{ false, true, KS_AI_ADDRCONFIG, 0, 1 },
		{ true, true, KS_AI_ADDRCONFIG, 1, 1 },
		{ false, false, KS_AI_ADDRCONFIG, 1, 1 },
		{ true, false, 0, 1, 1 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ks_dns_transport tp = offline;
		struct ks_dns *r = NULL;
		struct ks_addrinfo h = { .ai_flags = cases[i].flags,
					 .ai_socktype = KS_SOCK_STREAM }, *res, *ai;
		int n4 = 0, n6 = 0;

		tp.addrconfig = fake_addrconfig;
		addrconf_v4 = cases[i].v4;
		addrconf_v6 = cases[i].v6;
		CHECK_EQ(ks_dns_create(&r, test_port(), &tp, NULL, hosts_text,
				       sizeof hosts_text - 1), 0);
		CHECK_EQ(ks_dns_getaddrinfo(r, "localhost", NULL, &h, &res), 0);
		for (ai = res; ai; ai = ai->ai_next) {
			n4 += ai->ai_family == KS_AF_INET;
			n6 += ai->ai_family == KS_AF_INET6;
		}
		CHECK_EQ(n4, cases[i].n4);
		CHECK_EQ(n6, cases[i].n6);
		ks_dns_freeaddrinfo(res);
		ks_dns_destroy(r);
	}
}

static bool fake_v6_unreachable;

/* Every destination is reached from itself, or IPv6 from nowhere. */
static int
fake_source(void *ctx, int family, const uint8_t *addr, uint32_t scope,
	    uint8_t *src)
{
	if (family == KS_AF_INET6 && fake_v6_unreachable &&
	    !(addr[10] == 0xff && addr[11] == 0xff))
		return -KS_ENETDOWN;
	memcpy(src, addr, family == KS_AF_INET ? 4 : 16);
	return 0;
}

/* The first address getaddrinfo gives for "dual" (one IPv4, one IPv6). */
static int
first_family(const char *gai_conf)
{
	static const char hosts[] = "192.0.2.1 dual\n2001:db8::1 dual\n";
	struct ks_dns_transport tp = offline;
	struct ks_dns_config c;
	struct ks_dns *r = NULL;
	struct ks_addrinfo h = { .ai_socktype = KS_SOCK_STREAM }, *res;
	int fam = -1;

	tp.source = fake_source;
	ks_dns_config_init(&c);
	if (gai_conf)
		CHECK_EQ(ks_dns_gaiconf_parse(&c, gai_conf, strlen(gai_conf)), 0);
	CHECK_EQ(ks_dns_create(&r, test_port(), &tp, &c, hosts,
			       sizeof hosts - 1), 0);
	if (ks_dns_getaddrinfo(r, "dual", NULL, &h, &res) == 0) {
		fam = res->ai_family;
		CHECK(res->ai_next && res->ai_next->ai_family != fam);
		ks_dns_freeaddrinfo(res);
	}
	ks_dns_destroy(r);
	return fam;
}

/*
 * RFC 6724 with glibc's default policy: IPv6 (precedence 40) before IPv4
 * (10) when both are reachable from sources of their own kind; IPv4 first
 * when IPv6 is unreachable (rule 1); gai.conf's precedence and label
 * lines replace the defaults, as in glibc.
 */
static void
test_rfc6724_policy_and_gai_conf(void)
{
	fake_v6_unreachable = false;
	CHECK_EQ(first_family(NULL), KS_AF_INET6);
	CHECK_EQ(first_family("# prefer IPv4, as gai.conf's example\n"
			      "precedence ::ffff:0:0/96  100\n"), KS_AF_INET);
	CHECK_EQ(first_family("precedence ::/0 40\nprecedence ::ffff:0:0/96 10\n"),
		 KS_AF_INET6);
	/* A label table where IPv4 and the source's labels differ. */
	CHECK_EQ(first_family("label ::/0 1\nlabel ::ffff:0:0/96 4\n"
			      "label 192.0.2.0/120 9\n"), KS_AF_INET6);
	fake_v6_unreachable = true;
	CHECK_EQ(first_family(NULL), KS_AF_INET);
	fake_v6_unreachable = false;

	struct ks_dns_config c;
	ks_dns_config_init(&c);
	static const char text[] = "label ::1/128 0\nprecedence ::1/128 50\n"
				   "label bogus 3\nscopev4 ::ffff:169.254.0.0/112 2\n"
				   "label ::/0\n";
	CHECK_EQ(ks_dns_gaiconf_parse(&c, text, sizeof text - 1), 0);
	CHECK_EQ(c.nlabel, 1);
	CHECK_EQ(c.nprecedence, 1);
	CHECK_EQ(c.precedence[0].len, 128);
	CHECK_EQ(c.precedence[0].value, 50);
}

static void
test_canonname_numeric_and_hosts(void)
{
	struct ks_dns *r = offline_resolver();
	struct ks_addrinfo h = { .ai_flags = KS_AI_CANONNAME,
				 .ai_socktype = KS_SOCK_STREAM }, *res;

	CHECK_EQ(ks_dns_getaddrinfo(r, "192.0.2.9", NULL, &h, &res), 0);
	CHECK_STR(res ? res->ai_canonname : NULL, "192.0.2.9");
	ks_dns_freeaddrinfo(res);
	/* An alias in hosts: the canonical name is the line's first name. */
	CHECK_EQ(ks_dns_getaddrinfo(r, "MYHOST", NULL, &h, &res), 0);
	CHECK_STR(res ? res->ai_canonname : NULL, "myhost.example");
	ks_dns_freeaddrinfo(res);
	ks_dns_destroy(r);
}

static void
test_hosts_table_answers_first(void)
{
	struct ks_dns *r = offline_resolver();
	struct ks_dns_addr a[8];
	struct ks_in_addr in;
	size_t n;
	char text[64];

	/* Two lines name myhost.example (case folded): both addresses. */
	CHECK_EQ(ks_dns_resolve(r, "myhost.example", KS_AF_UNSPEC, a, 8, &n), 0);
	CHECK_EQ(n, 2);
	CHECK(n >= 1 && memcmp(a[0].addr, "\x0a\x01\x02\x03", 4) == 0);
	CHECK(n >= 2 && memcmp(a[1].addr, "\x0a\x01\x02\x04", 4) == 0);
	CHECK_EQ(ks_dns_resolve4(r, "localhost", &in), 0);
	CHECK_EQ(in.s_addr, htonl(INADDR_LOOPBACK));
	CHECK_EQ(ks_dns_resolve(r, "ip6-localhost", KS_AF_INET6, a, 8, &n), 0);
	CHECK(n == 1 && a[0].addr[15] == 1);
	CHECK_EQ(ks_dns_resolve(r, "v6host.", KS_AF_UNSPEC, a, 8, &n), 0);
	CHECK(n == 1 && a[0].family == KS_AF_INET6);
	/* A hosts line with a scope id keeps it. */
	struct ks_addrinfo h6 = { .ai_socktype = KS_SOCK_STREAM }, *res6;
	CHECK_EQ(ks_dns_getaddrinfo(r, "scoped", NULL, &h6, &res6), 0);
	if (res6) {
		const struct ks_sockaddr_in6 *s6 = (const void *)res6->ai_addr;
		CHECK_EQ(res6->ai_family, KS_AF_INET6);
		CHECK_EQ(s6->sin6_scope_id, 3);
		CHECK_EQ(s6->sin6_addr.s6_bytes[15], 9);
	}
	ks_dns_freeaddrinfo(res6);
	CHECK_EQ(ks_dns_resolve(r, "scoped", KS_AF_UNSPEC, a, 8, &n), 0);
	CHECK(n == 1 && a[0].addr[0] == 0xfe && a[0].addr[15] == 9);
	/* Reverse: from the hosts table first. */
	CHECK_EQ(ks_dns_reverse(r, KS_AF_INET, "\x0a\x01\x02\x03", text,
				sizeof text, NULL), 0);
	CHECK_STR(text, "myhost.example");
	CHECK_EQ(ks_dns_reverse(r, KS_AF_INET, "\x0a\x01\x02\x03", text, 5,
				NULL), KS_EAI_OVERFLOW);
	/* No server configured and not in hosts: a permanent failure. */
	CHECK_EQ(ks_dns_resolve(r, "elsewhere.example", KS_AF_UNSPEC, a, 8, &n),
		 KS_EAI_FAIL);
	ks_dns_destroy(r);
}

static void
test_getnameinfo_numeric_matches_glibc(void)
{
	struct ks_dns *r = offline_resolver();
	static const char *addrs[] = { "192.0.2.1", "10.1.2.3", "2001:db8::7",
				       "::ffff:192.0.2.1" };
	static const unsigned ports[] = { 80, 53, 12345, 0 };
	static const int flags[] = { NI_NUMERICHOST | NI_NUMERICSERV,
				     NI_NUMERICHOST,
				     NI_NUMERICHOST | NI_DGRAM };

	for (size_t i = 0; i < 4; i++) {
		for (size_t f = 0; f < 3; f++) {
			struct sockaddr_storage ss = { 0 };
			socklen_t len;
			if (strchr(addrs[i], ':')) {
				struct sockaddr_in6 *s = (void *)&ss;
				s->sin6_family = AF_INET6;
				s->sin6_port = htons(ports[i]);
				inet_pton(AF_INET6, addrs[i], &s->sin6_addr);
				len = sizeof *s;
			} else {
				struct sockaddr_in *s = (void *)&ss;
				s->sin_family = AF_INET;
				s->sin_port = htons(ports[i]);
				inet_pton(AF_INET, addrs[i], &s->sin_addr);
				len = sizeof *s;
			}
			char h1[NI_MAXHOST], s1[NI_MAXSERV], h2[NI_MAXHOST], s2[NI_MAXSERV];
			int e1 = getnameinfo((void *)&ss, len, h1, sizeof h1, s1,
					     sizeof s1, flags[f]);
			int e2 = ks_dns_getnameinfo(r, (void *)&ss, len, h2,
						    sizeof h2, s2, sizeof s2,
						    flags[f]);
			CHECK_EQ(e2, e1);
			CHECK_STR(h2, h1);
			CHECK_STR(s2, s1);
		}
	}
	struct sockaddr_in s = { .sin_family = AF_INET };
	char h[4];
	CHECK_EQ(ks_dns_getnameinfo(r, (void *)&s, sizeof s, h, sizeof h, NULL,
				    0, NI_NUMERICHOST),
		 getnameinfo((void *)&s, sizeof s, h, sizeof h, NULL, 0,
			     NI_NUMERICHOST));
	CHECK_EQ(ks_dns_getnameinfo(r, (void *)&s, 4, h, sizeof h, NULL, 0, 0),
		 KS_EAI_FAMILY);
	ks_dns_destroy(r);
}

/*
 * With /etc/services loaded, service names resolve as glibc's do
 * (mysql, mdns, aliases such as www, protocol-specific entries), and
 * getnameinfo prints the names glibc prints (3306, 5353...). Without a
 * table the built-in one answers the common names.
 */
static void
test_services_file_matches_glibc(void)
{
	FILE *f = fopen("/etc/services", "r");
	static char text[1 << 20];
	size_t len;

	if (!f) {
		test_skip("no /etc/services on this host");
		return;
	}
	len = fread(text, 1, sizeof text, f);
	fclose(f);
	struct ks_dns *r = offline_resolver();
	struct ks_addrinfo kh = { .ai_socktype = 0 }, *kres;
	CHECK_EQ(ks_dns_getaddrinfo(r, "192.0.2.1", "http", &kh, &kres), 0);
	ks_dns_freeaddrinfo(kres);
	CHECK_EQ(ks_dns_getaddrinfo(r, "192.0.2.1", "mysql", &kh, &kres),
		 KS_EAI_SERVICE);	/* not in the built-in table */
	CHECK_EQ(ks_dns_set_services(r, text, len), 0);

	static const struct { const char *svc; int socktype; } cases[] = {
		{ "mysql", 0 }, { "mdns", 0 }, { "mdns", SOCK_STREAM },
		{ "www", SOCK_STREAM }, { "kerberos", 0 }, { "krb5", SOCK_DGRAM },
		{ "https", 0 }, { "ntp", SOCK_STREAM }, { "domain", 0 },
		{ "no-such-service", 0 }, { "MYSQL", 0 }, { "xmpp-client", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct addrinfo lh = { .ai_socktype = cases[i].socktype,
				       .ai_family = AF_INET }, *lres = NULL;
		struct ai_flat a[8], b[8];

		kh = (struct ks_addrinfo){ .ai_socktype = cases[i].socktype,
					   .ai_family = KS_AF_INET };
		kres = NULL;
		int le = getaddrinfo("192.0.2.1", cases[i].svc, &lh, &lres);
		int ke = ks_dns_getaddrinfo(r, "192.0.2.1", cases[i].svc, &kh,
					    &kres);
		if (le != ke)
			printf("    %s: glibc %d ours %d\n", cases[i].svc, le, ke);
		CHECK_EQ(ke, le);
		size_t na = flatten_ks(kres, a, 8), nb = flatten_libc(lres, b, 8);
		CHECK_EQ(na, nb);
		if (na == nb) {
			qsort(a, na, sizeof a[0], flat_cmp);
			qsort(b, nb, sizeof b[0], flat_cmp);
			for (size_t k = 0; k < na; k++)
				CHECK(flat_cmp(&a[k], &b[k]) == 0);
		}
		if (lres)
			freeaddrinfo(lres);
		ks_dns_freeaddrinfo(kres);
	}
	static const struct { unsigned port; int flags; } ports[] = {
		{ 3306, 0 }, { 5353, NI_DGRAM }, { 5353, 0 }, { 80, 0 },
		{ 123, NI_DGRAM }, { 123, 0 }, { 65000, 0 }, { 22, 0 },
	};
	for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) {
		struct sockaddr_in sin = { .sin_family = AF_INET,
					   .sin_port = htons(ports[i].port) };
		char s1[NI_MAXSERV], s2[NI_MAXSERV], h[NI_MAXHOST];
		int fl = ports[i].flags | NI_NUMERICHOST;

		sin.sin_addr.s_addr = htonl(0xc0000201);
		CHECK_EQ(ks_dns_getnameinfo(r, (void *)&sin, sizeof sin, h,
					    sizeof h, s2, sizeof s2, fl),
			 getnameinfo((void *)&sin, sizeof sin, h, sizeof h, s1,
				     sizeof s1, fl));
		CHECK_STR(s2, s1);
	}
	/* Back to the built-in table. */
	CHECK_EQ(ks_dns_set_services(r, NULL, 0), 0);
	kh = (struct ks_addrinfo){ 0 };
	CHECK_EQ(ks_dns_getaddrinfo(r, "192.0.2.1", "mysql", &kh, &kres),
		 KS_EAI_SERVICE);
	ks_dns_destroy(r);
}

static void
test_gai_strerror_matches_glibc(void)
{
	static const int codes[] = { KS_EAI_BADFLAGS, KS_EAI_NONAME,
		KS_EAI_AGAIN, KS_EAI_FAIL, KS_EAI_FAMILY, KS_EAI_SOCKTYPE,
		KS_EAI_SERVICE, KS_EAI_MEMORY, KS_EAI_SYSTEM,
		KS_EAI_NODATA, KS_EAI_ADDRFAMILY, KS_EAI_IDN_ENCODE };

	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		CHECK_STR(ks_dns_gai_strerror(codes[i]), gai_strerror(codes[i]));
	/* And the codes are glibc's. */
	CHECK_EQ(KS_EAI_NONAME, EAI_NONAME);
	CHECK_EQ(KS_EAI_AGAIN, EAI_AGAIN);
	CHECK_EQ(KS_EAI_NODATA, EAI_NODATA);
	CHECK_EQ(KS_EAI_MEMORY, EAI_MEMORY);
	CHECK_EQ(KS_AI_NUMERICSERV, AI_NUMERICSERV);
	CHECK_EQ(KS_AI_ADDRCONFIG, AI_ADDRCONFIG);
	CHECK_EQ(KS_AI_V4MAPPED, AI_V4MAPPED);
	CHECK_EQ(KS_AI_IDN, AI_IDN);
	CHECK_EQ(KS_AI_CANONIDN, AI_CANONIDN);
	CHECK_EQ(KS_NI_IDN, NI_IDN);
	CHECK_EQ(KS_EAI_IDN_ENCODE, EAI_IDN_ENCODE);
	CHECK_EQ(sizeof(struct ks_addrinfo), sizeof(struct addrinfo));
	CHECK_EQ(offsetof(struct ks_addrinfo, ai_next), offsetof(struct addrinfo, ai_next));
	CHECK_EQ(sizeof(struct ks_sockaddr_in6), sizeof(struct sockaddr_in6));
	CHECK_EQ(sizeof(struct ks_hostent), sizeof(struct hostent));
}

static void
test_gethostbyname_fills_buffer(void)
{
	struct ks_dns *r = offline_resolver();
	struct ks_hostent he;
	char buf[256];
	int herr;

	CHECK_EQ(ks_dns_gethostbyname(r, "myhost", KS_AF_INET, &he, buf,
				      sizeof buf, &herr), 0);
	CHECK_EQ(herr, 0);
	CHECK_STR(he.h_name, "myhost.example");
	CHECK_EQ(he.h_length, 4);
	CHECK(he.h_addr_list[0] && memcmp(he.h_addr_list[0], "\x0a\x01\x02\x03", 4) == 0);
	CHECK(he.h_addr_list[1] == NULL);
	CHECK(he.h_aliases[0] == NULL);
	/* A small buffer: ERANGE and NETDB_INTERNAL, as glibc's
	 * gethostbyname_r says for the same buffer. */
	CHECK_EQ(ks_dns_gethostbyname(r, "myhost", KS_AF_INET, &he, buf, 20,
				      &herr), -KS_ERANGE);
	CHECK_EQ(herr, KS_NETDB_INTERNAL);
	struct hostent lhe, *lres = NULL;
	int lerr = 0;
	CHECK_EQ(gethostbyname_r("localhost", &lhe, buf, 20, &lres, &lerr),
		 ERANGE);
	CHECK_EQ(lerr, NETDB_INTERNAL);
	CHECK_EQ(KS_NETDB_INTERNAL, NETDB_INTERNAL);
	CHECK_EQ(ks_dns_gethostbyname(r, "x", 99, &he, buf, sizeof buf, &herr),
		 KS_EAI_FAMILY);
	CHECK_EQ(herr, KS_NO_RECOVERY);
	ks_dns_destroy(r);
}

/* -- cache -- */

static void
test_cache_lru_and_expiry(void)
{
	struct dns_cache *c;
	const struct ks_port *p = test_port();
	long base = test_port_outstanding();
	uint8_t names[5][9];

	CHECK_EQ(ks__dns_cache_create(p, 4, &c), 0);
	for (int i = 0; i < 5; i++) {
		memcpy(names[i], "\3abc\3com", 9);
		names[i][1] = (uint8_t)('a' + i);
		struct dns_answer *a = p->alloc(sizeof *a);
		memset(a, 0, sizeof *a);
		atomic_init(&a->refs, 1);
		a->size = sizeof *a;
		a->expires = 100 + i;
		CHECK_EQ(ks__dns_cache_put(c, names[i], DNS_T_A, a), 0);
		ks__dns_answer_put(p, a);
	}
	/* Four fit: the oldest was evicted. */
	CHECK(ks__dns_cache_get(c, names[0], DNS_T_A, 0) == NULL);
	struct dns_answer *a = ks__dns_cache_get(c, names[1], DNS_T_A, 0);
	CHECK(a != NULL);
	ks__dns_answer_put(p, a);
	/* Keys fold case and include the type. */
	uint8_t upper[9];
	memcpy(upper, names[2], 9);
	upper[1] = 'C'; upper[2] = 'B';
	a = ks__dns_cache_get(c, upper, DNS_T_A, 0);
	CHECK(a != NULL);
	ks__dns_answer_put(p, a);
	CHECK(ks__dns_cache_get(c, names[2], DNS_T_AAAA, 0) == NULL);
	/* Expired at its deadline. */
	CHECK(ks__dns_cache_get(c, names[3], DNS_T_A, 103) == NULL);
	a = ks__dns_cache_get(c, names[4], DNS_T_A, 103);
	CHECK(a != NULL);
	/* A reader's reference survives a flush. */
	ks__dns_cache_flush(c);
	CHECK(ks__dns_cache_get(c, names[4], DNS_T_A, 0) == NULL);
	CHECK_EQ(a->expires, 104);
	ks__dns_answer_put(p, a);
	ks__dns_cache_destroy(c);
	CHECK_EQ(test_port_outstanding(), base);
}

/* -- allocation failures -- */

/*
 * Every allocation of create, set_config, hosts lookups and building a
 * list fails in turn: each call fails cleanly and leaks nothing.
 */
static void
test_allocation_failures_offline(void)
{
	long base = test_port_outstanding();
	int reached = 0;

	for (long n = 1; n < 100; n++) {
		struct ks_dns *r = NULL;
		struct ks_dns_config c;
		struct ks_addrinfo *res = NULL;
		struct ks_addrinfo h = { .ai_flags = KS_AI_CANONNAME };
		int err;

		ks_dns_config_init(&c);
		test_port_fail_at(n);
		err = ks_dns_create(&r, test_port(), &offline, &c, hosts_text,
				    sizeof hosts_text - 1);
		if (err == 0)
			err = ks_dns_set_config(r, &c, hosts_text,
						sizeof hosts_text - 1) == 0 ? 0 :
				KS_EAI_MEMORY;
		if (err == 0)
			err = ks_dns_set_services(r, "web 8080/tcp\n", 13) == 0 ?
				0 : KS_EAI_MEMORY;
		if (err == 0)
			err = ks_dns_set_services(r, NULL, 0) == 0 ? 0 :
				KS_EAI_MEMORY;
		if (err == 0)
			err = ks_dns_getaddrinfo(r, "myhost", "80", &h, &res);
		if (err == 0) {
			ks_dns_freeaddrinfo(res);
			err = ks_dns_getaddrinfo(r, "192.0.2.1", NULL, NULL, &res);
		}
		if (err == 0)
			ks_dns_freeaddrinfo(res);
		bool failed = test_port_failed();
		test_port_reset();
		if (r)
			ks_dns_destroy(r);
		CHECK_EQ(test_port_outstanding(), base);
		if (!failed) {
			CHECK_EQ(err, 0);
			reached = (int)n;
			break;
		}
		CHECK(err == -KS_ENOMEM || err == KS_EAI_MEMORY);
	}
	CHECK(reached > 4);
}


/* -- a scripted transport: the core over something that is not a socket -- */

enum step { STEP_GOOD, STEP_OTHER_PORT, STEP_OTHER_ADDR, STEP_WRONG_ID,
	    STEP_TIMEOUT };

struct script {
	struct ks_dns_server	server;
	uint8_t			query[512];
	size_t			qlen;
	const enum step		*steps;
	size_t			nsteps, next;
	int			opens, sends;
};

static int
sc_open(void *ctx, int proto, const struct ks_dns_server *srv, int64_t d,
	void **ep)
{
	struct script *sc = ctx;

	sc->server = *srv;
	sc->opens++;
	*ep = sc;
	return proto == KS_DNS_UDP ? 0 : -KS_ECONNREFUSED;
}

static int
sc_send(void *ep, const void *b, size_t l)
{
	struct script *sc = ep;

	memcpy(sc->query, b, l);
	sc->qlen = l;
	sc->sends++;
	return 0;
}

/* Answers the stored query: 192.0.2.1 (or 6.6.6.6 when forged) for A,
 * no records for other types. */
static int
sc_recv(void *ep, void *buf, size_t cap, struct ks_dns_server *from,
	int64_t d)
{
	struct script *sc = ep;
	uint8_t *b = buf;
	enum step st = sc->next < sc->nsteps ? sc->steps[sc->next++] :
					       STEP_TIMEOUT;
	size_t o = 12;

	if (st == STEP_TIMEOUT)
		return -KS_ETIMEDOUT;
	while (sc->query[o])
		o += 1 + (size_t)sc->query[o];
	o += 5;
	memcpy(b, sc->query, o);
	b[2] = 0x81; b[3] = 0x80;
	b[10] = b[11] = 0;		/* no OPT echoed */
	bool a = dns_get16(sc->query + o - 4) == DNS_T_A;
	b[7] = a;
	if (a)
		o = put_rr(b, o, ptr_q, 2, DNS_T_A, 60,
			   st == STEP_GOOD ? "\xc0\x00\x02\x01" : "\x06\x06\x06\x06", 4);
	*from = sc->server;
	if (st == STEP_OTHER_PORT)
		from->port++;
	if (st == STEP_OTHER_ADDR)
		from->addr[3]++;
	if (st == STEP_WRONG_ID)
		b[1] ^= 1;
	return (int)o;
}

static void sc_close(void *ep) { }

/*
 * The core checks the source of each datagram itself: answers from
 * another port or address, or with another id, are dropped even when the
 * transport delivers them (a kernel's transport may not filter).
 */
static void
test_core_checks_answer_source(void)
{
	static const enum step forged[][3] = {
		{ STEP_OTHER_PORT, STEP_GOOD },
		{ STEP_OTHER_ADDR, STEP_GOOD },
		{ STEP_WRONG_ID, STEP_GOOD },
		{ STEP_OTHER_PORT, STEP_OTHER_ADDR, STEP_GOOD },
	};
	static const size_t nsteps[] = { 2, 2, 2, 3 };

	for (size_t i = 0; i < 4; i++) {
		struct script sc = { .steps = forged[i], .nsteps = nsteps[i] };
		struct ks_dns_transport tp = { .ctx = &sc, .open = sc_open,
			.send = sc_send, .recv = sc_recv, .close = sc_close };
		struct ks_dns_config c;
		struct ks_dns *r;
		struct ks_in_addr in;
		struct ks_dns_stats st;

		ks_dns_config_init(&c);
		c.nservers = 1;
		c.servers[0].family = KS_AF_INET;
		memcpy(c.servers[0].addr, "\xc0\x00\x02\x35", 4);
		c.servers[0].port = 53;
		CHECK_EQ(ks_dns_create(&r, test_port(), &tp, &c, NULL, 0), 0);
		CHECK_EQ(ks_dns_resolve4(r, "x.example", &in), 0);
		CHECK_EQ(in.s_addr, htonl(0xc0000201));
		ks_dns_get_stats(r, &st);
		CHECK_EQ(st.rejected, nsteps[i] - 1);
		CHECK_EQ(sc.opens, 1);
		/* Cached: the second lookup touches no transport at all. */
		CHECK_EQ(ks_dns_resolve4(r, "x.example", &in), 0);
		CHECK_EQ(sc.opens, 1);
		CHECK_EQ(sc.sends, 1);
		ks_dns_destroy(r);
	}
}

static const struct dns_test tests[] = {
	{ "wire: a query round-trips through the parser", test_query_roundtrip },
	{ "wire: truncated, looping, oversized and odd messages are rejected", test_parse_rejects_malformed },
	{ "answer: CNAME chain followed, TTL bounded by the chain", test_extract_cname_chain_and_ttl },
	{ "answer: a CNAME loop is detected", test_extract_cname_loop_is_detected },
	{ "answer: negative TTL is min(SOA TTL, MINIMUM); no SOA, no caching", test_extract_negative_ttl_from_soa },
	{ "answer: TTLs are capped", test_extract_ttl_is_capped },
	{ "text: 253/63 limits, empty labels and control bytes", test_name_limits_are_enforced },
	{ "text: addresses parse and format exactly as inet_pton/ntop", test_addresses_parse_and_format_as_libc },
	{ "text: reverse names for IPv4 and IPv6", test_reverse_names },
	{ "text: resolv.conf options, ports, clamps and defaults", test_resolv_conf_parsing },
	{ "text: LOCALDOMAIN and RES_OPTIONS as glibc's res_init", test_environment_overrides_as_glibc },
	{ "text: nsswitch.conf's hosts order of files and dns", test_nsswitch_hosts_order },
	{ "text: IDN to ASCII and back as libidn2", test_idn_matches_libidn2 },
	{ "api: getaddrinfo equals glibc for numeric hosts and hints", test_getaddrinfo_matches_glibc_offline },
	{ "api: AI_ADDRCONFIG keeps the host's families", test_addrconfig_filters_families },
	{ "api: RFC 6724 order with glibc's policy and gai.conf overrides", test_rfc6724_policy_and_gai_conf },
	{ "api: AI_CANONNAME for numeric hosts and hosts aliases", test_canonname_numeric_and_hosts },
	{ "api: the hosts table answers first, forward and reverse", test_hosts_table_answers_first },
	{ "api: numeric getnameinfo equals glibc", test_getnameinfo_numeric_matches_glibc },
	{ "api: services from /etc/services as glibc's, built-in table without", test_services_file_matches_glibc },
	{ "api: gai_strerror texts, codes and layouts equal glibc's", test_gai_strerror_matches_glibc },
	{ "api: gethostbyname fills the caller's buffer or overflows", test_gethostbyname_fills_buffer },
	{ "cache: LRU bound, case-folded keys, expiry, flush", test_cache_lru_and_expiry },
	{ "memory: every allocation failure offline is clean", test_allocation_failures_offline },
	{ "core: answers from another port or address, or with another id, are dropped", test_core_checks_answer_source },
};

int
main(int argc, char **argv)
{
	int status = run_tests(tests, sizeof tests / sizeof tests[0], argc, argv);

	if (test_port_outstanding() != 0) {
		printf("leak: %ld blocks outstanding\n", test_port_outstanding());
		status = 1;
	}
	return status;
}

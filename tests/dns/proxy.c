/*
 * The fault proxy (see proxy.h). One thread serves UDP and TCP in turn;
 * each query is forwarded to the upstream server over the same protocol
 * with a blocking socket, then the reply is bent as the mode says.
 * Counters are atomic; the query log is written by the proxy thread only
 * and read by the test after the lookups that fill it have returned.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "dns/dns_impl.h"
#include "proxy.h"
#include "servers.h"

static struct sockaddr_in
loopback(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static void
set_timeout(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int
read_full(int fd, uint8_t *b, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(fd, b + got, n - got, 0);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* Forwards @q over UDP or TCP to the upstream; returns the answer size. */
static ssize_t
forward(struct proxy *p, bool tcp, const uint8_t *q, size_t qlen, uint8_t *a,
	size_t cap)
{
	struct sockaddr_in up = loopback(p->upstream);
	int fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	ssize_t n = -1;

	set_timeout(fd, 2000);
	if (connect(fd, (struct sockaddr *)&up, sizeof up) < 0)
		goto out;
	if (tcp) {
		uint8_t lb[2] = { (uint8_t)(qlen >> 8), (uint8_t)qlen };
		if (send(fd, lb, 2, 0) != 2 || send(fd, q, qlen, 0) != (ssize_t)qlen)
			goto out;
		if (read_full(fd, lb, 2) < 0)
			goto out;
		size_t len = (size_t)(lb[0] << 8 | lb[1]);
		if (len > cap || read_full(fd, a, len) < 0)
			goto out;
		n = (ssize_t)len;
	} else {
		if (send(fd, q, qlen, 0) != (ssize_t)qlen)
			goto out;
		n = recv(fd, a, cap, 0);
	}
out:
	close(fd);
	return n;
}

/* Whether query @q carries an OPT record (EDNS0). */
static bool
has_edns(const uint8_t *q, size_t len)
{
	return len >= 12 && (q[10] || q[11]);
}

static uint16_t
qtype_of(const uint8_t *q, size_t len)
{
	size_t o = 12;

	while (o < len && q[o])
		o += 1 + (size_t)q[o];
	return o + 3 <= len ? dns_get16(q + o + 1) : 0;
}

/* An error answer: the query echoed with QR and @rcode, no records. */
static size_t
error_answer(const uint8_t *q, size_t qlen, uint8_t *a, int rcode)
{
	size_t o = 12;

	while (o < qlen && q[o])
		o += 1 + (size_t)q[o];
	o += 5;			/* root label, type, class */
	if (o > qlen)
		o = qlen;
	memcpy(a, q, o);
	a[2] = (uint8_t)(0x80 | (q[2] & 0x79));	/* QR, opcode, RD */
	a[3] = (uint8_t)(0x80 | rcode);		/* RA */
	memset(a + 6, 0, 6);
	return o;
}

/* Replaces every A address in answer @a with 6.6.6.6. */
static void
forge(uint8_t *a, size_t len)
{
	struct dns_msg m;
	size_t off;

	if (ks__dns_parse(a, len, &m) < 0)
		return;
	off = m.an_off;
	for (unsigned i = 0; i < m.ancount; i++) {
		struct dns_rr rr;
		if (ks__dns_rr_at(&m, off, &rr) < 0)
			return;
		if (rr.type == DNS_T_A)
			memset(a + rr.rdata_off, 6, 4);
		off = rr.next_off;
	}
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Holds an answer back until @ms from now (dropped when the queue is
 * full or it is too big, which no test does). */
static void
hold(struct proxy *p, const uint8_t *a, size_t len,
     const struct sockaddr_in *to, int ms)
{
	if (p->npending == PROXY_PENDING || len > sizeof p->pending[0].buf)
		return;
	struct proxy_pending *d = &p->pending[p->npending++];
	d->due_ms = mono_ms() + ms;
	d->to = *to;
	d->len = len;
	memcpy(d->buf, a, len);
}

/* Sends the held answers that are due; returns ms to the next, or -1. */
static int
send_due(struct proxy *p)
{
	int64_t now = mono_ms(), next = -1;

	for (size_t i = 0; i < p->npending;) {
		struct proxy_pending *d = &p->pending[i];
		if (d->due_ms <= now) {
			sendto(p->udp, d->buf, d->len, 0,
			       (struct sockaddr *)&d->to, sizeof d->to);
			p->pending[i] = p->pending[--p->npending];
			continue;
		}
		if (next < 0 || d->due_ms - now < next)
			next = d->due_ms - now;
		i++;
	}
	return (int)next;
}

/* The question's name as dotted text, lower-cased. */
static void
qname_text(const uint8_t *q, size_t len, char *out, size_t cap)
{
	size_t o = 12, n = 0;

	while (o < len && q[o] && n + q[o] + 2 < cap) {
		size_t l = q[o++];
		if (n)
			out[n++] = '.';
		for (size_t i = 0; i < l && o < len; i++, o++)
			out[n++] = (char)dns_lower(q[o]);
	}
	out[n] = 0;
}

static void
log_query(struct proxy *p, const uint8_t *q, const struct sockaddr_in *from)
{
	int i = atomic_load(&p->nlog);

	if (i < PROXY_LOG) {
		p->log_id[i] = dns_get16(q);
		p->log_port[i] = ntohs(from->sin_port);
		atomic_store(&p->nlog, i + 1);
	}
}

static void
serve_udp(struct proxy *p)
{
	uint8_t q[1500], a[65536], b[65536];
	struct sockaddr_in from;
	socklen_t flen = sizeof from;
	ssize_t qlen = recvfrom(p->udp, q, sizeof q, 0, (struct sockaddr *)&from,
				&flen);
	ssize_t n;
	int mode = atomic_load(&p->mode);

	if (qlen < 12)
		return;
	atomic_fetch_add(&p->udp_queries, 1);
	if (has_edns(q, (size_t)qlen))
		atomic_fetch_add(&p->edns_queries, 1);
	log_query(p, q, &from);
	uint16_t qtype = qtype_of(q, (size_t)qlen);
#define REPLY(buf, len) sendto(p->udp, buf, len, 0, (struct sockaddr *)&from, flen)

	switch (mode) {
	case PROXY_DROP:
		return;
	case PROXY_DROP_AAAA:
		if (qtype == DNS_T_AAAA)
			return;
		break;
	case PROXY_REFUSED_AAAA:
		if (qtype == DNS_T_AAAA) {
			REPLY(a, error_answer(q, (size_t)qlen, a, DNS_R_REFUSED));
			return;
		}
		break;
	case PROXY_SERVFAIL:
		REPLY(a, error_answer(q, (size_t)qlen, a, DNS_R_SERVFAIL));
		return;
	case PROXY_FORMERR:
		REPLY(a, error_answer(q, (size_t)qlen, a, DNS_R_FORMERR));
		return;
	case PROXY_FORMERR_EDNS:
		if (has_edns(q, (size_t)qlen)) {
			REPLY(a, error_answer(q, (size_t)qlen, a, DNS_R_FORMERR));
			return;
		}
		break;
	case PROXY_MALFORMED:
	case PROXY_MALFORMED_FIRST:
		n = (ssize_t)error_answer(q, (size_t)qlen, a, 0);
		a[7] = 3;	/* claims three answers it does not carry */
		memcpy(a + n, "\xc0\x0c\x00", 3);
		REPLY(a, (size_t)n + 3);
		if (mode == PROXY_MALFORMED)
			return;
		break;
	case PROXY_RULE: {
		char name[256];
		int qt = atomic_load(&p->rule_qtype);
		qname_text(q, (size_t)qlen, name, sizeof name);
		if (strstr(name, p->rule_name) && (!qt || qt == qtype)) {
			int rcode = atomic_load(&p->rule_rcode);
			if (rcode >= 0)
				REPLY(a, error_answer(q, (size_t)qlen, a, rcode));
			return;
		}
		break;
	}
	}
	n = forward(p, false, q, (size_t)qlen, a, sizeof a);
	if (n < 12)
		return;
	switch (mode) {
	case PROXY_WRONG_ID:
		memcpy(b, a, (size_t)n);
		b[0] ^= 0x55;
		REPLY(b, (size_t)n);
		break;
	case PROXY_WRONG_QUESTION:
		memcpy(b, a, (size_t)n);
		b[13] ^= 0x01;	/* first letter of the first label */
		REPLY(b, (size_t)n);
		break;
	case PROXY_WRONG_FLAGS:
		memcpy(b, a, (size_t)n);
		b[2] &= 0x7f;	/* QR clear: a query, not an answer */
		REPLY(b, (size_t)n);
		break;
	case PROXY_FORGED: {
		/* From another port of ours: same id and question, other
		 * addresses. */
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		memcpy(b, a, (size_t)n);
		forge(b, (size_t)n);
		sendto(fd, b, (size_t)n, 0, (struct sockaddr *)&from, flen);
		close(fd);
		usleep(20000);	/* let the forgery arrive first */
		break;
	}
	case PROXY_DELAY: {
		int qt = atomic_load(&p->delay_qtype);
		if (!qt || qt == qtype) {
			hold(p, a, (size_t)n, &from, atomic_load(&p->delay_ms));
			return;
		}
		break;
	}
	case PROXY_TRUNCATE:
		n = (ssize_t)error_answer(q, (size_t)qlen, a, 0);
		a[2] |= 0x02;	/* TC */
		break;
	case PROXY_OVERSIZE:
		/* More than the client advertised; the tail is padding. */
		memset(a + n, 0, 1500);
		n += 1500;
		break;
	case PROXY_TRUNCATE_PARTIAL: {
		struct dns_msg m;
		struct dns_rr rr;
		if (ks__dns_parse(a, (size_t)n, &m) == 0 && m.ancount > 1 &&
		    ks__dns_rr_at(&m, m.an_off, &rr) == 0) {
			n = (ssize_t)rr.next_off;
			a[6] = 0; a[7] = 1;
			memset(a + 8, 0, 4);
		}
		a[2] |= 0x02;
		break;
	}
	}
	REPLY(a, (size_t)n);
#undef REPLY
}

static void
serve_tcp(struct proxy *p)
{
	uint8_t q[65536], a[65536], lb[2];
	int fd = accept(p->tcp, NULL, NULL);
	int mode = atomic_load(&p->mode);

	if (fd < 0)
		return;
	set_timeout(fd, 2000);
	while (read_full(fd, lb, 2) == 0) {
		size_t qlen = (size_t)(lb[0] << 8 | lb[1]);
		ssize_t n;
		if (read_full(fd, q, qlen) < 0 || qlen < 12)
			break;
		atomic_fetch_add(&p->tcp_queries, 1);
		if (mode == PROXY_DROP)
			continue;
		if (mode == PROXY_SERVFAIL)
			n = (ssize_t)error_answer(q, qlen, a, DNS_R_SERVFAIL);
		else
			n = forward(p, true, q, qlen, a, sizeof a);
		if (n < 12)
			break;
		lb[0] = (uint8_t)(n >> 8);
		lb[1] = (uint8_t)n;
		if (send(fd, lb, 2, MSG_NOSIGNAL) != 2 ||
		    send(fd, a, (size_t)n, MSG_NOSIGNAL) != n)
			break;
	}
	close(fd);
}

static void *
proxy_main(void *arg)
{
	struct proxy *p = arg;

	for (;;) {
		struct pollfd fds[3] = {
			{ .fd = p->udp, .events = POLLIN },
			{ .fd = p->tcp, .events = POLLIN },
			{ .fd = p->wake[0], .events = POLLIN },
		};
		if (poll(fds, 3, send_due(p)) < 0 && errno != EINTR)
			break;
		send_due(p);
		if (fds[2].revents)
			break;
		if (fds[0].revents)
			serve_udp(p);
		if (fds[1].revents)
			serve_tcp(p);
	}
	return NULL;
}

int
proxy_start(struct proxy *p, uint16_t upstream)
{
	memset(p, 0, sizeof *p);
	p->upstream = upstream;
	for (int tries = 0; tries < 20; tries++) {
		struct sockaddr_in a = loopback(free_port());
		p->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		p->tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (bind(p->udp, (struct sockaddr *)&a, sizeof a) == 0 &&
		    bind(p->tcp, (struct sockaddr *)&a, sizeof a) == 0 &&
		    listen(p->tcp, 16) == 0) {
			p->port = ntohs(a.sin_port);
			break;
		}
		close(p->udp);
		close(p->tcp);
	}
	if (!p->port || pipe(p->wake) < 0)
		return -1;
	return pthread_create(&p->thread, NULL, proxy_main, p) == 0 ? 0 : -1;
}

void
proxy_set(struct proxy *p, enum proxy_mode mode)
{
	atomic_store(&p->mode, mode);
	atomic_store(&p->udp_queries, 0);
	atomic_store(&p->tcp_queries, 0);
	atomic_store(&p->edns_queries, 0);
	atomic_store(&p->nlog, 0);
}

void
proxy_delay(struct proxy *p, int ms, uint16_t qtype)
{
	atomic_store(&p->delay_ms, ms);
	atomic_store(&p->delay_qtype, qtype);
	proxy_set(p, PROXY_DELAY);
}

void
proxy_rule(struct proxy *p, const char *name, uint16_t qtype, int rcode)
{
	/* The proxy thread reads the rule only in PROXY_RULE mode, which
	 * the atomic store below publishes after the name is written. */
	atomic_store(&p->mode, PROXY_PASS);
	snprintf(p->rule_name, sizeof p->rule_name, "%s", name);
	atomic_store(&p->rule_qtype, qtype);
	atomic_store(&p->rule_rcode, rcode);
	proxy_set(p, PROXY_RULE);
}

void
proxy_stop(struct proxy *p)
{
	if (!p->port)
		return;
	if (write(p->wake[1], "x", 1) == 1)
		pthread_join(p->thread, NULL);
	close(p->wake[0]);
	close(p->wake[1]);
	close(p->udp);
	close(p->tcp);
	p->port = 0;
}

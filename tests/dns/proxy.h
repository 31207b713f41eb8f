/*
 * A fault-injecting DNS proxy for the tests: a thread listening on
 * 127.0.0.1 (UDP and TCP, one free port) that forwards to a real server
 * and misbehaves as told.
 */
#ifndef KSOCK_TESTS_DNS_PROXY_H
#define KSOCK_TESTS_DNS_PROXY_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum proxy_mode {
	PROXY_PASS,		/* forward faithfully */
	PROXY_DROP,		/* never answer (timeouts) */
	PROXY_DROP_AAAA,	/* answer A, never AAAA */
	PROXY_REFUSED_AAAA,	/* answer A, REFUSED for AAAA */
	PROXY_WRONG_ID,		/* first an answer with another id, then the real one */
	PROXY_WRONG_QUESTION,	/* first an answer to another name, then the real one */
	PROXY_WRONG_FLAGS,	/* first an answer without QR, then the real one */
	PROXY_FORGED,		/* first a forged answer from another port, then the real one */
	PROXY_TRUNCATE,		/* UDP: TC set, no records; TCP: forward */
	PROXY_TRUNCATE_PARTIAL,	/* UDP: TC set with the first record only */
	PROXY_OVERSIZE,		/* UDP: the answer padded past 1232 bytes */
	PROXY_SERVFAIL,		/* SERVFAIL to everything */
	PROXY_FORMERR_EDNS,	/* FORMERR to queries with EDNS0, forward the rest */
	PROXY_FORMERR,		/* FORMERR to everything */
	PROXY_MALFORMED,	/* our id and flags, then garbage */
	PROXY_MALFORMED_FIRST,	/* first garbage with our id, then the real answer */
	PROXY_DELAY,		/* answers held back (proxy_delay) */
	PROXY_RULE,		/* matching queries bent (proxy_rule), the rest forwarded */
};

#define PROXY_LOG	64
#define PROXY_PENDING	64	/* delayed answers held at once */

struct proxy_pending {
	int64_t			due_ms;		/* CLOCK_MONOTONIC */
	struct sockaddr_in	to;
	size_t			len;
	uint8_t			buf[1500];
};

struct proxy {
	uint16_t		port;		/* where clients send */
	uint16_t		upstream;	/* the real server */
	_Atomic int		mode;		/* enum proxy_mode */
	atomic_int		udp_queries, tcp_queries, edns_queries;
	/* The last PROXY_LOG queries: id and client source port. */
	atomic_int		nlog;
	uint16_t		log_id[PROXY_LOG], log_port[PROXY_LOG];
	int			udp, tcp, wake[2];
	pthread_t		thread;
	/* PROXY_DELAY: answers to @delay_qtype (0: all) sent @delay_ms late. */
	atomic_int		delay_ms, delay_qtype;
	/* PROXY_RULE: queries whose name contains @rule_name (and of
	 * @rule_qtype, 0: any) get rcode @rule_rcode, or nothing when it is
	 * -1. Set before the mode; read by the proxy thread. */
	char			rule_name[64];
	atomic_int		rule_qtype, rule_rcode;
	/* Written by the proxy thread only. */
	struct proxy_pending	pending[PROXY_PENDING];
	size_t			npending;
};

int	proxy_start(struct proxy *p, uint16_t upstream);
void	proxy_stop(struct proxy *p);
void	proxy_set(struct proxy *p, enum proxy_mode mode);	/* also zeroes counters */
void	proxy_delay(struct proxy *p, int ms, uint16_t qtype);	/* PROXY_DELAY */
void	proxy_rule(struct proxy *p, const char *name, uint16_t qtype,
		   int rcode);					/* PROXY_RULE */

#endif

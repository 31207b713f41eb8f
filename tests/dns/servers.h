/*
 * Real DNS servers for the tests and the bench: nsd (authoritative for
 * the zones in tests/dns/data) and unbound (recursive, in front of nsd),
 * each started as a child on 127.0.0.1 at a free port, in a temporary
 * directory that server_stop() removes. Children die with the test
 * (PR_SET_PDEATHSIG) even when it crashes.
 */
#ifndef KSOCK_TESTS_DNS_SERVERS_H
#define KSOCK_TESTS_DNS_SERVERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct test_server {
	const char	*name;
	pid_t		 pid;
	uint16_t	 port;
	char		 dir[64];
};

/* A port free for both UDP and TCP on 127.0.0.1 right now. */
uint16_t free_port(void);

/* Start nsd / unbound (unbound forwards ks.test to @nsd_port). Return 0,
 * or -1 with a reason printed (the program is not installed...). */
int	server_start_nsd(struct test_server *s, const char *datadir);
int	server_start_unbound(struct test_server *s, const char *datadir,
			     uint16_t nsd_port);
void	server_stop(struct test_server *s);

/* Whether a UDP query for (@name, @qtype) to 127.0.0.1:@port is answered
 * within @ms milliseconds. */
bool	server_answers(uint16_t port, const char *name, uint16_t qtype, int ms);

#endif

/*
 * A plain libc program for ksock-run (tests/install/cli.sh and tree.sh):
 * makes an AF_UNIX socketpair, sends a message across and prints
 * "pair ok" and what KSOCK_RUN holds. Built dynamically, statically and
 * as setuid and setgid copies, to see which of them ksock-run serves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int
main(void)
{
	static const char msg[] = "ping";
	char buf[16];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 ||
	    write(sv[0], msg, sizeof(msg)) != (ssize_t)sizeof(msg) ||
	    read(sv[1], buf, sizeof(buf)) != (ssize_t)sizeof(msg) ||
	    memcmp(buf, msg, sizeof(msg)) != 0) {
		perror("pair");
		return 1;
	}
	close(sv[0]);
	close(sv[1]);
	printf("pair ok (KSOCK_RUN=%s)\n",
	       getenv("KSOCK_RUN") != NULL ? getenv("KSOCK_RUN") : "unset");
	return 0;
}

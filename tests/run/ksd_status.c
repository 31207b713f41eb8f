/*
 * ksd-status ADDRESS: prints what the ksockd server at ADDRESS holds (its
 * STATUS reply) on one line, for tests/run/run-ksockd.sh:
 *
 *   clients N sockets N parked N descriptors N allocs N objects N handovers N
 *
 * The query is a client of its own: "clients" counts it, and the other
 * fields count nothing of it (it opens no socket). Exits 1 when the
 * server does not answer.
 */
#include <stdio.h>

#include "ksd.h"

int
main(int argc, char **argv)
{
	struct ksd_status st;

	if (argc != 2) {
		fprintf(stderr, "usage: ksd-status ADDRESS\n");
		return 2;
	}
	if (ksd_attach(argv[1]) < 0 || ksd_status(&st) < 0) {
		perror("ksd-status");
		return 1;
	}
	printf("clients %lld sockets %lld parked %lld descriptors %lld "
	       "allocs %lld objects %lld handovers %lld\n",
	       (long long)st.clients, (long long)st.sockets,
	       (long long)st.parked, (long long)st.descriptors,
	       (long long)st.ksock_allocs, (long long)st.objects,
	       (long long)st.handovers);
	ksd_detach();
	return 0;
}

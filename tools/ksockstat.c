/*
 * ksockstat: list the sockets of a ksock instance, like ss -x.
 *
 *   ksockstat [-p PID] [-e | -r | -j | -S] [-t TYPE]... [-s STATE]...
 *             [-n NAME]
 *   ksockstat -l
 *
 * A hosted program serves its instance when started with KSOCK_DIAG=1
 * (or after calling ksp_diag_serve()): a thread answers on the Linux
 * abstract socket "\0ksock-diag-<pid>" (port/hosted/diag.c). Without -p,
 * ksockstat looks for such sockets in /proc/net/unix and reads the only
 * one; -l lists them all.
 *
 * Formats: ss -x like (default), -r /proc/net/unix (Num RefCount
 * Protocol Flags Type St Inode Path, the id standing in for Num), -j
 * JSON, -S the counters (refused operations, the collector). Filters:
 * -t stream|dgram|seqpacket, -s unconnected|listening|connected|embryo|
 * disconnected (or ss's UNCONN, LISTEN, ESTAB, SYN-RECV, CLOSE-WAIT),
 * -n a substring of the name as /proc/net/unix prints it ('@' for NULs).
 * -t and -s may be repeated.
 *
 * Exit status: 0, 1 when no instance could be read, 2 for bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <ksock/ksock.h>
#include <ksock/posix.h>

/* Most instances -l lists. */
#define MAX_INSTANCES	256

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: ksockstat [-p PID] [-e | -r | -j | -S] [-t TYPE]... "
		"[-s STATE]... [-n NAME]\n"
		"       ksockstat -l\n"
		"  -p PID   the program's (real) pid; default: the only one "
		"serving\n"
		"  -r       /proc/net/unix format   -j  JSON   -S  counters\n"
		"  -t TYPE  stream, dgram, seqpacket\n"
		"  -s STATE unconnected, listening, connected, embryo, "
		"disconnected\n"
		"  -n NAME  names containing NAME ('@' for NULs)\n"
		"  -l       list the programs serving their instance\n"
		"A program serves its instance when run with KSOCK_DIAG=1.\n");
}

/* Pids whose diag server is in /proc/net/unix. Returns how many. */
static int
find_instances(pid_t *pids, int max)
{
	static const char tag[] = " @ksock-diag-";
	char line[512];
	FILE *f = fopen("/proc/net/unix", "r");
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL && n < max) {
		char *p = strstr(line, tag), *end;
		long pid;

		/* Listeners only: accepted sockets share the name. */
		if (p == NULL || strstr(line, " 00010000 ") == NULL)
			continue;
		pid = strtol(p + sizeof(tag) - 1, &end, 10);
		if (end != p + sizeof(tag) - 1 && (*end == '\n' || *end == '\0'))
			pids[n++] = (pid_t)pid;
	}
	fclose(f);
	return n;
}

int
main(int argc, char **argv)
{
	struct ksp_diag_filter flt = { 0, 0, NULL };
	struct ksp_diag_snapshot *s;
	pid_t pid = 0, pids[MAX_INSTANCES];
	int format = KSP_DIAG_SS, opt, v, n;
	bool list = false;

	while ((opt = getopt(argc, argv, "p:erjSt:s:n:lh")) != -1) {
		switch (opt) {
		case 'p':	pid = (pid_t)atoi(optarg); break;
		case 'e':	format = KSP_DIAG_SS; break;
		case 'r':	format = KSP_DIAG_PROC; break;
		case 'j':	format = KSP_DIAG_JSON; break;
		case 'S':	format = KSP_DIAG_STATS; break;
		case 'l':	list = true; break;
		case 'n':	flt.name = optarg; break;
		case 't':
			v = ksp_diag_parse_type(optarg);
			if (v < 0) {
				fprintf(stderr, "ksockstat: unknown type %s\n",
					optarg);
				return 2;
			}
			flt.types |= 1u << v;
			break;
		case 's':
			v = ksp_diag_parse_state(optarg);
			if (v < 0) {
				fprintf(stderr, "ksockstat: unknown state %s\n",
					optarg);
				return 2;
			}
			flt.states |= 1u << v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (list || pid == 0) {
		n = find_instances(pids, MAX_INSTANCES);
		if (list) {
			for (int i = 0; i < n; i++)
				printf("%d\n", (int)pids[i]);
			return 0;
		}
		if (n != 1) {
			fprintf(stderr, n == 0 ?
				"ksockstat: no ksock instance serves (run the "
				"program with KSOCK_DIAG=1)\n" :
				"ksockstat: several instances serve: pick one "
				"with -p (see -l)\n");
			return 1;
		}
		pid = pids[0];
	}
	if (ksp_diag_fetch(pid, &s) < 0) {
		fprintf(stderr, "ksockstat: cannot read pid %d's instance: %s\n",
			(int)pid, strerror(errno));
		return 1;
	}
	if (ksp_diag_print(stdout, s, format, &flt) < 0) {
		ksp_diag_snapshot_free(s);
		return 1;
	}
	ksp_diag_snapshot_free(s);
	return 0;
}

/*
 * ksockstat: list the sockets of a ksock instance, like ss -x.
 *
 *   ksockstat [-p PID] [-e | -r | -j | -S] [-t TYPE]... [-s STATE]...
 *             [-n NAME]
 *   ksockstat -l
 *   ksockstat --ksockd ADDRESS [-e | -r | -j | -S] [filters]
 *
 * A hosted program serves its instance when started with KSOCK_DIAG=1
 * (or after calling ksp_diag_serve()): a thread answers on the Linux
 * abstract socket "\0ksock-diag-<pid>" (port/hosted/diag.c). Without -p,
 * ksockstat looks for such sockets in /proc/net/unix and reads the only
 * one; -l lists them all.
 *
 * --ksockd ADDRESS reads the sockets of the ksockd server at ADDRESS
 * (a path, or @NAME) instead: ksockstat attaches as a client and asks
 * with the KSD_DIAG label, page by page; each socket comes with the
 * pids of the client processes holding it (ss format "pids:", JSON
 * "pids"; another user's processes only for root).
 *
 * Formats: ss -x like (default), -r /proc/net/unix (Num RefCount
 * Protocol Flags Type St Inode Path, the id standing in for Num), -j
 * JSON, -S the counters (refused operations, the collector). Filters:
 * -t stream|dgram|seqpacket, -s unconnected|listening|connected|embryo|
 * disconnected (or ss's UNCONN, LISTEN, ESTAB, SYN-RECV, CLOSE-WAIT),
 * -n a substring of the name as /proc/net/unix prints it ('@' for NULs).
 * -t and -s may be repeated.
 *
 * Exit status: 0, 1 when no instance could be read, 2 for bad usage
 * (ksockstat --help, ksockstat(8)).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <ksock/ksock.h>
#include <ksock/posix.h>
#include <ksock/version.h>

#include "../port/ksockd/ksd.h"

/* Most instances -l lists. */
#define MAX_INSTANCES	256

static void
help(void)
{
	printf("Usage: ksockstat [-p PID] [-e | -r | -j | -S] [-t TYPE]... "
	       "[-s STATE]...\n"
	       "                 [-n NAME]\n"
	       "       ksockstat -l\n"
	       "List the sockets of a running program's ksock instance, like "
	       "ss -x.\n"
	       "\n"
	       "Options:\n"
	       "  -p PID      the program's (real) pid; default: the only "
	       "one serving\n"
	       "  -e          ss -x format (the default)\n"
	       "  -r          /proc/net/unix format\n"
	       "  -j          JSON\n"
	       "  -S          the counters: refused operations, the "
	       "collector\n"
	       "  -t TYPE     only sockets of TYPE: stream, dgram, seqpacket "
	       "(repeatable)\n"
	       "  -s STATE    only sockets in STATE: unconnected, listening, "
	       "connected,\n"
	       "              embryo, disconnected, or ss's UNCONN, LISTEN, "
	       "ESTAB, SYN-RECV,\n"
	       "              CLOSE-WAIT (repeatable)\n"
	       "  -n NAME     only names containing NAME ('@' for NULs)\n"
	       "  -l          list the pids of the programs serving their "
	       "instance\n"
	       "  --ksockd ADDRESS\n"
	       "              the sockets of the ksockd server at ADDRESS (a "
	       "path or @NAME),\n"
	       "              with the pids of the processes holding each\n"
	       "  -h, --help  show this help and exit\n"
	       "  --version   show the version and exit\n"
	       "\n"
	       "Environment:\n"
	       "  ksockstat reads none. A program serves its instance when "
	       "started with\n"
	       "  KSOCK_DIAG=1 (under ksock-run too), or after calling "
	       "ksp_diag_serve().\n"
	       "\n"
	       "Exit status:\n"
	       "  0  success\n"
	       "  1  no instance could be read\n"
	       "  2  bad usage\n"
	       "\n"
	       "See ksockstat(8).\n");
}

static int
usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "ksockstat: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'ksockstat --help' for more information.\n");
	return 2;
}

/*
 * The listing of the ksockd server at @addr: its pages (each a snapshot
 * in the diag wire format, the sockets from some id on) joined into
 * one snapshot, the first page's header and counters kept. Returns 0,
 * or -1/errno.
 */
static int
fetch_ksockd(const char *addr, struct ksp_diag_snapshot **out)
{
	char *page = malloc(KSD_DATA_MAX), *text = NULL;
	size_t textlen = 0;
	uint64_t from = 0, next;
	FILE *all, *in;
	int r = -1, err;

	if (page == NULL)
		return -1;
	if (ksd_attach(addr) < 0)
		goto free_page;
	all = open_memstream(&text, &textlen);
	if (all == NULL)
		goto detach;
	do {
		ssize_t n = ksd_diag(from, page, KSD_DATA_MAX, &next);
		const char *body = page;
		size_t end = sizeof("end\n") - 1;

		if (n < 0)
			goto close_all;
		/* Pages after the first: their records alone. */
		for (int line = 0; from != 0 && line < 2; line++) {
			body = memchr(body, '\n', (size_t)(page + n - body));
			if (body == NULL)
				break;
			body++;
		}
		if (body == NULL || (size_t)(page + n - body) < end ||
		    memcmp(page + n - end, "end\n", end) != 0) {
			errno = EPROTO;
			goto close_all;
		}
		fwrite(body, 1, (size_t)(page + n - body) - end, all);
		from = next;
	} while (from != 0);
	fputs("end\n", all);
	if (fclose(all) != 0)
		goto free_text;
	in = fmemopen(text, textlen, "r");
	if (in == NULL)
		goto free_text;
	r = ksp_diag_snapshot_read(in, out);
	err = errno;
	fclose(in);
	errno = err;
	goto free_text;

close_all:
	err = errno;
	fclose(all);
	errno = err;
free_text:
	free(text);
detach:
	err = errno;
	ksd_detach();
	errno = err;
free_page:
	free(page);
	return r;
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
	const char *ksockd = NULL;
	int format = KSP_DIAG_SS, opt, v, n;
	bool list = false;

	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL,	'h' },
		{ "version",	no_argument,	NULL,	'V' },
		{ "ksockd",	required_argument, NULL, 'K' },
		{ NULL,		0,		NULL,	0 },
	};
	char *end;
	long lpid;

	/* getopt's own messages name the bad option; we add the hint. */
	while ((opt = getopt_long(argc, argv, "p:erjSt:s:n:lh", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'p':
			errno = 0;
			lpid = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    lpid <= 0 || lpid > INT_MAX)
				return usage_error("bad pid '%s'", optarg);
			pid = (pid_t)lpid;
			break;
		case 'e':	format = KSP_DIAG_SS; break;
		case 'r':	format = KSP_DIAG_PROC; break;
		case 'j':	format = KSP_DIAG_JSON; break;
		case 'S':	format = KSP_DIAG_STATS; break;
		case 'l':	list = true; break;
		case 'K':	ksockd = optarg; break;
		case 'n':	flt.name = optarg; break;
		case 't':
			v = ksp_diag_parse_type(optarg);
			if (v < 0) {
				return usage_error("unknown type '%s' (stream, "
						   "dgram, seqpacket)", optarg);
			}
			flt.types |= 1u << v;
			break;
		case 's':
			v = ksp_diag_parse_state(optarg);
			if (v < 0) {
				return usage_error("unknown state '%s'", optarg);
			}
			flt.states |= 1u << v;
			break;
		case 'h':
			help();
			return 0;
		case 'V':
			printf("ksockstat (ksock) " KS_VERSION_STRING "\n");
			return 0;
		default:
			fprintf(stderr, "Try 'ksockstat --help' for more "
				"information.\n");
			return 2;
		}
	}
	if (optind != argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (ksockd != NULL && (list || pid != 0))
		return usage_error("%s", "--ksockd goes without -p and -l");
	if (ksockd != NULL) {
		if (fetch_ksockd(ksockd, &s) < 0) {
			fprintf(stderr, "ksockstat: cannot read ksockd at %s: "
				"%s\n", ksockd, strerror(errno));
			return 1;
		}
		goto print;
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
print:
	if (ksp_diag_print(stdout, s, format, &flt) < 0) {
		ksp_diag_snapshot_free(s);
		return 1;
	}
	ksp_diag_snapshot_free(s);
	return 0;
}

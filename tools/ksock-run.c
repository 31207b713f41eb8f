/*
 * ksock-run PROGRAM [ARGS...]: runs PROGRAM with its AF_UNIX sockets
 * served by ksock (docs/ksock-run.md).
 *
 * Puts libksock-preload.so (found next to this executable, or named by
 * KSOCK_PRELOAD) first in LD_PRELOAD, sets KSOCK_RUN=1 so a program or a
 * test harness can tell, and executes PROGRAM.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	char lib[PATH_MAX], *preload, *slash;
	const char *old;
	ssize_t n;
	size_t len;

	if (argc < 2) {
		fprintf(stderr, "usage: ksock-run PROGRAM [ARGS...]\n"
			"  KSOCK_RUN_STATS=1|FILE  print a summary line at exit\n"
			"  KSOCK_RUN_FALLBACK=0    no kernel socket for peers "
			"outside ksock\n");
		return 2;
	}
	if (getenv("KSOCK_PRELOAD") != NULL) {
		snprintf(lib, sizeof(lib), "%s", getenv("KSOCK_PRELOAD"));
	} else {
		n = readlink("/proc/self/exe", lib, sizeof(lib) - 32);
		if (n < 0) {
			perror("ksock-run: /proc/self/exe");
			return 127;
		}
		lib[n] = '\0';
		slash = strrchr(lib, '/');
		strcpy(slash != NULL ? slash + 1 : lib, "libksock-preload.so");
	}
	if (access(lib, R_OK) != 0) {
		fprintf(stderr, "ksock-run: cannot read %s\n", lib);
		return 127;
	}
	old = getenv("LD_PRELOAD");
	len = strlen(lib) + (old != NULL ? strlen(old) + 1 : 0) + 1;
	preload = malloc(len);
	if (preload == NULL)
		return 127;
	snprintf(preload, len, "%s%s%s", lib, old != NULL ? " " : "",
		 old != NULL ? old : "");
	setenv("LD_PRELOAD", preload, 1);
	setenv("KSOCK_RUN", "1", 1);
	execvp(argv[1], argv + 1);
	fprintf(stderr, "ksock-run: %s: ", argv[1]);
	perror(NULL);
	return 127;
}

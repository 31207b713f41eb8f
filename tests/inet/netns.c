/*
 * The test's network namespace and TAP link (netns.h).
 *
 * The device is made persistent with TUNSETPERSIST and its creating
 * descriptor closed at once: ksock opens it again when it attaches, and
 * a persistent device is destroyed with its namespace, so nothing
 * outlives the test process. Addresses are set with iproute2's `ip`
 * (mk/inet.deps), as the shell scripts of docs/inet.md
 * ("The test network") do.
 */
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

static char reason[256];

/* See netns.h. */
const char *
tn_reason(void)
{
	return reason;
}

/* See netns.h. */
int
tn_ip(const char *args)
{
	char cmd[512];
	int status;

	snprintf(cmd, sizeof(cmd), "ip %s >/dev/null 2>&1", args);
	status = system(cmd);
	if (status != 0) {
		snprintf(reason, sizeof(reason), "`ip %s` failed (status %d)",
			 args, status);
		return -1;
	}
	return 0;
}

/* Creates the persistent TAP device. */
static int
create_tap(void)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		snprintf(reason, sizeof(reason), "cannot open /dev/net/tun: %s",
			 strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, TN_IFNAME);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0) {
		snprintf(reason, sizeof(reason), "cannot create %s: %s",
			 TN_IFNAME, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* See netns.h. */
int
tn_enter(void)
{
	if (geteuid() != 0) {
		snprintf(reason, sizeof(reason),
			 "needs root (a network namespace and a TAP device)");
		return -1;
	}
	if (access("/dev/net/tun", R_OK | W_OK) != 0) {
		snprintf(reason, sizeof(reason), "no /dev/net/tun: %s",
			 strerror(errno));
		return -1;
	}
	if (system("ip -V >/dev/null 2>&1") != 0) {
		snprintf(reason, sizeof(reason), "no `ip` (iproute2)");
		return -1;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		snprintf(reason, sizeof(reason), "unshare(CLONE_NEWNET): %s",
			 strerror(errno));
		return -1;
	}
	if (create_tap() < 0)
		return -1;
	if (tn_ip("link set lo up") < 0 ||
	    tn_ip("link set " TN_IFNAME " up") < 0 ||
	    tn_ip("addr add " TN_LINUX_V4 "/24 dev " TN_IFNAME) < 0 ||
	    tn_ip("-6 addr add " TN_LINUX_V6 "/64 dev " TN_IFNAME " nodad") < 0)
		return -1;
	return 0;
}

/* Whether `ip` says the link is operationally up (state UP). */
static int
link_state_up(void)
{
	char line[512];
	int up = 0;
	FILE *p = popen("ip -o link show dev " TN_IFNAME " 2>/dev/null", "r");

	if (p == NULL)
		return 0;
	while (fgets(line, sizeof(line), p) != NULL)
		if (strstr(line, " state UP ") != NULL)
			up = 1;
	pclose(p);
	return up;
}

int
tn_wait_up(int timeout_ms)
{
	for (int waited = 0; !link_state_up(); waited += 5) {
		if (waited >= timeout_ms) {
			snprintf(reason, sizeof(reason), "%s not up after %d ms",
				 TN_IFNAME, timeout_ms);
			return -1;
		}
		usleep(5000);
	}
	return 0;
}

/*
 * A network namespace of the test's own with a TAP link in it, for the
 * tests that run ksock's TCP/IP against the Linux kernel's (docs/inet.md, "The test
 * network").
 *
 * tn_enter() moves the calling thread into a new network namespace
 * (threads it creates afterwards are in it too; call it before starting
 * any), brings `lo` up, creates the TAP device kstap0 (persistent, so it
 * outlives tn_enter's descriptor and goes with the namespace), gives
 * Linux's side 10.77.0.1/24 and fd77::1/64 (nodad) and brings it up.
 * ksock then attaches with ksp_inet_tap_attach(TN_IFNAME, TN_KSOCK_V4,
 * TN_KSOCK_V6). The namespace ends with the process.
 */
#ifndef KSOCK_TESTS_INET_NETNS_H
#define KSOCK_TESTS_INET_NETNS_H

#define TN_IFNAME	"kstap0"
#define TN_LINUX_V4	"10.77.0.1"
#define TN_LINUX_V6	"fd77::1"
#define TN_KSOCK_V4	"10.77.0.2/24"
#define TN_KSOCK_V6	"fd77::2/64"
#define TN_KSOCK_V4_ADDR "10.77.0.2"
#define TN_KSOCK_V6_ADDR "fd77::2"
/* On the link, used by nobody: connecting there finds no neighbour. */
#define TN_UNUSED_V4	"10.77.0.3"
#define TN_UNUSED_V6	"fd77::3"
/* Off the link: ksock has no route there. */
#define TN_OFFLINK_V4	"10.78.0.1"
#define TN_OFFLINK_V6	"fd78::1"

/*
 * Enters the namespace and sets the link up. Returns 0, or -1 when the
 * test cannot run here (not root, no /dev/net/tun, no `ip`, unshare
 * refused): tn_reason() then says why, for the skip message.
 */
int tn_enter(void);

/* Why the last tn_enter() failed (static storage). */
const char *tn_reason(void);

/*
 * Runs `ip @args` in the namespace (e.g. "addr del 10.77.0.1/24 dev
 * kstap0"). Returns 0 or -1 (the command failed; tn_reason() says so).
 */
int tn_ip(const char *args);

/*
 * Waits until Linux reports kstap0 operationally up (`ip link`: state
 * UP), at most @timeout_ms. Call after ksp_inet_tap_attach(): until the
 * kernel has activated the device's queue (a few milliseconds after the
 * TAP is opened), what Linux sends on it is dropped, so a first answer
 * or SYN-ACK would be lost. Returns 0, or -1 when it did not come up.
 */
int tn_wait_up(int timeout_ms);

#endif /* KSOCK_TESTS_INET_NETNS_H */

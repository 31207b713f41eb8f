/*
 * Hosted port: ksock's TCP/IP on a TAP device (ksp_inet_tap_attach,
 * include/ksock/posix.h; the link itself is src/inet/link.c).
 *
 * The TAP device is created by someone else (a test, in a network
 * namespace of its own, or `ip tuntap add`); attaching opens
 * /dev/net/tun, binds that descriptor to the device, gives ksock's stack
 * an Ethernet interface whose frames are written to it, and starts one
 * thread, the reader. The reader waits for a frame or for the stack's
 * next timer, whichever comes first, and feeds frames and timer ticks to
 * the stack (ks_link_input, ks_link_timers). Frames the stack sends are
 * written by whichever thread sends them, under the stack lock: a TAP
 * write never blocks (the kernel drops a frame it cannot queue).
 *
 * Detaching wakes the reader through an eventfd, joins it, removes the
 * interface and closes both descriptors. A forked child forgets the
 * link (forget_in_child). Nothing here is allocated: the
 * state is one static structure, the reader's buffer is on its stack.
 *
 * Locks: `tap_lock` serialises attach and detach and guards the fields
 * tagged [T]; the reader only reads [I] fields (set before it starts,
 * cleared after it is joined). The stack lock (inside ksock) is taken by
 * the reader and by senders; transmit() runs under it and takes nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ksock/ksock.h>
#include <ksock/link.h>
#include <ksock/posix.h>

/* What one read(2) from the TAP may return: a frame the size of the
 * largest MTU the kernel allows on it, so a frame too long for ksock is
 * read whole and then refused, not split. */
#define TAP_READ_MAX	65536

static pthread_mutex_t tap_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	bool		 attached;	/* [T] */
	int		 fd;		/* [I] the TAP descriptor */
	int		 stop_fd;	/* [I] eventfd: the reader should end */
	pthread_t	 reader;	/* [T] */
} tap = { .fd = -1, .stop_fd = -1 };

static int
tap_transmit(void *ctx, const void *frame, size_t len)
{
	int fd = *(const int *)ctx;

	if (write(fd, frame, len) < 0)
		return -errno;
	return 0;
}

static const struct ks_link_ops tap_ops = { .transmit = tap_transmit };

/* Milliseconds for poll(2) from the stack's nanoseconds, rounded up so
 * that the reader does not wake just before a timer is due. */
static int
wait_ms(int64_t ns)
{
	if (ns <= 0)
		return 0;
	if (ns >= (int64_t)INT_MAX * 1000000)
		return INT_MAX;
	return (int)((ns + 999999) / 1000000);
}

/* Reads every frame waiting on the TAP (its descriptor is non-blocking).
 * Returns false when the device is gone (deleted with its namespace, or
 * taken down for good): nothing more will come. */
static bool
read_frames(unsigned char *buf)
{
	ssize_t n;

	while ((n = read(tap.fd, buf, TAP_READ_MAX)) > 0)
		(void)ks_link_input(buf, (size_t)n);
	return n == 0 || errno == EAGAIN || errno == EINTR;
}

static void *
reader_main(void *arg)
{
	unsigned char buf[TAP_READ_MAX];
	struct pollfd pfd[2] = {
		{ .fd = tap.fd, .events = POLLIN },
		{ .fd = tap.stop_fd, .events = POLLIN },
	};

	(void)arg;
	for (;;) {
		int64_t next = ks_link_timers();

		if (next < 0)
			break;
		if (poll(pfd, 2, wait_ms(next)) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents != 0)
			break;
		/* A device that went away would wake poll at once forever:
		 * stop watching it, and keep the timers running (the stack
		 * times out what it had in flight) until detach. */
		if ((pfd[0].revents & POLLIN) && !read_frames(buf))
			pfd[0].fd = -1;
		else if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL))
			pfd[0].fd = -1;
	}
	return NULL;
}

/* Parses "A/N" (@family's address, prefix length N <= @max) into @addr
 * and @prefix. Returns 0 or -EINVAL. */
static int
parse_cidr(const char *s, int family, void *addr, unsigned max,
	   unsigned *prefix)
{
	char text[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	char *end;
	unsigned long n;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(text))
		return -EINVAL;
	memcpy(text, s, (size_t)(slash - s));
	text[slash - s] = '\0';
	if (inet_pton(family, text, addr) != 1)
		return -EINVAL;
	errno = 0;
	n = strtoul(slash + 1, &end, 10);
	if (errno != 0 || end == slash + 1 || *end != '\0' || n > max)
		return -EINVAL;
	*prefix = (unsigned)n;
	return 0;
}

/* The device's MTU as Linux has it (ksock's link takes at most 1500). */
static unsigned
device_mtu(const char *ifname)
{
	struct ifreq ifr;
	unsigned mtu = 1500;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return mtu;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
	if (ioctl(s, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0 &&
	    ifr.ifr_mtu < 1500)
		mtu = (unsigned)ifr.ifr_mtu;
	close(s);
	return mtu;
}

static int
make_config(const char *ifname, const char *v4cidr, const char *v6cidr,
	    struct ks_link_config *cfg)
{
	int err;

	memset(cfg, 0, sizeof(*cfg));
	if (v4cidr != NULL) {
		err = parse_cidr(v4cidr, AF_INET, cfg->v4, 32, &cfg->v4_prefix);
		if (err < 0)
			return err;
		cfg->has_v4 = true;
	}
	if (v6cidr != NULL) {
		err = parse_cidr(v6cidr, AF_INET6, cfg->v6, 128,
				 &cfg->v6_prefix);
		if (err < 0)
			return err;
		cfg->has_v6 = true;
	}
	/* A random locally administered unicast address: two ksock
	 * instances on one segment must not collide. */
	if (getrandom(cfg->mac, sizeof(cfg->mac), 0) != sizeof(cfg->mac))
		return -errno;
	cfg->mac[0] = (uint8_t)((cfg->mac[0] & 0xfc) | 0x02);
	cfg->mtu = device_mtu(ifname);
	return 0;
}

/* Opens /dev/net/tun bound to the existing TAP device @ifname. Returns
 * the descriptor or -errno. */
static int
open_tap(const char *ifname)
{
	struct ifreq ifr;
	int fd, err;

	if (strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	/* TUNSETIFF would create a missing device: attach only. */
	if (if_nametoindex(ifname) == 0)
		return -ENODEV;
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Starts the reader with every signal blocked: a signal meant for a
 * simulated process must not land on it. Returns 0 or -errno. */
static int
start_reader(void)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&tap.reader, NULL, reader_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -err;
}

static void
stop_reader(void)
{
	uint64_t one = 1;

	while (write(tap.stop_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(tap.reader, NULL);
}

/*
 * A child forked while the link was attached has no reader (threads do
 * not survive fork) and starts ksock afresh without the link (src/inet
 * forgets it): it closes its copies of the descriptors, so the device is
 * the parent's alone, and is free to attach again.
 */
static void
forget_in_child(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	tap_lock = fresh;
	if (tap.attached) {
		close(tap.fd);
		close(tap.stop_fd);
	}
	tap.attached = false;
	tap.fd = tap.stop_fd = -1;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
register_atfork(void)
{
	pthread_atfork(NULL, NULL, forget_in_child);
}

/*
 * The hosted personality starts ksock on first use (ksp_init); the
 * preload library, which may link this file too, starts it itself and
 * has no ksp_init. Returns 0, or -1 with errno.
 */
extern int ksp_init(void) __attribute__((weak));

static int
start_ksock(void)
{
	if (ksp_init != NULL)
		return ksp_init();
	if (ks_port() == NULL) {
		errno = ENXIO;
		return -1;
	}
	return 0;
}

/*
 * See posix.h. Returns 0 or -1 with errno: EINVAL (a bad address, no
 * address at all, a name too long), ENODEV (no such device), EBUSY
 * (attached already), ENOMEM, or what opening the device gives (EPERM,
 * ENOENT without /dev/net/tun, EBUSY when another process has it).
 */
int
ksp_inet_tap_attach(const char *ifname, const char *v4cidr,
		    const char *v6cidr)
{
	struct ks_link_config cfg;
	int err;

	if (start_ksock() < 0)
		return -1;
	pthread_once(&atfork_once, register_atfork);
	if (ifname == NULL) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&tap_lock);
	err = -EBUSY;
	if (tap.attached)
		goto unlock;
	err = make_config(ifname, v4cidr, v6cidr, &cfg);
	if (err < 0)
		goto unlock;
	err = open_tap(ifname);
	if (err < 0)
		goto unlock;
	tap.fd = err;
	tap.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (tap.stop_fd < 0) {
		err = -errno;
		goto close_tap;
	}
	err = ks_link_attach(&tap_ops, &tap.fd, &cfg);
	if (err < 0)
		goto close_stop;
	err = start_reader();
	if (err < 0)
		goto detach_link;
	tap.attached = true;
	pthread_mutex_unlock(&tap_lock);
	return 0;

detach_link:
	ks_link_detach();
close_stop:
	close(tap.stop_fd);
	tap.stop_fd = -1;
close_tap:
	close(tap.fd);
	tap.fd = -1;
unlock:
	pthread_mutex_unlock(&tap_lock);
	errno = -err;
	return -1;
}

/* How often a drain looks again: acknowledgements come within a round
 * trip, a millisecond or less on a TAP link. */
#define TAP_DRAIN_POLL_MS	5

/* See posix.h. Holds tap_lock, so that no detach runs meanwhile. */
int
ksp_inet_tap_drain(int timeout_ms)
{
	struct timespec step = { 0, TAP_DRAIN_POLL_MS * 1000000L };
	int waited = 0, err = 0;

	if (timeout_ms < 0) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&tap_lock);
	if (!tap.attached)
		err = ENODEV;
	while (err == 0 && ks_link_in_flight() > 0) {
		if (waited >= timeout_ms) {
			err = ETIMEDOUT;
			break;
		}
		nanosleep(&step, NULL);
		waited += TAP_DRAIN_POLL_MS;
	}
	pthread_mutex_unlock(&tap_lock);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

/* See posix.h. Returns 0, or -1/ENODEV when nothing is attached. */
int
ksp_inet_tap_detach(void)
{
	pthread_mutex_lock(&tap_lock);
	if (!tap.attached) {
		pthread_mutex_unlock(&tap_lock);
		errno = ENODEV;
		return -1;
	}
	stop_reader();
	ks_link_detach();
	close(tap.stop_fd);
	tap.stop_fd = -1;
	close(tap.fd);
	tap.fd = -1;
	tap.attached = false;
	pthread_mutex_unlock(&tap_lock);
	return 0;
}

/*
 * The benchmark across a real link: ksock's TCP/IP talking to the Linux
 * kernel's over a TAP device, against the Linux kernel talking to itself
 * over a veth pair.
 *
 * bench_link_setup() moves the process into a network namespace of its
 * own (tn_enter of tests/inet/netns.c: kstap0, Linux at 10.77.0.1), where
 * ksock attaches at 10.77.0.2; it also makes a second namespace, "far",
 * and a veth pair between the two (near 10.79.0.1, far 10.79.0.2). A link
 * row then runs its scenario (s->inner) on each side:
 *
 *  - Linux: both ends are the kernel's; the server end (listener, UDP
 *    receiver) is made in the far namespace, so every byte crosses the
 *    veth pair and both namespaces' stacks.
 *  - ksock: the client end (writer, pinger, connecting socket, UDP
 *    sender) is ksock's; the server end is the kernel's, on Linux's side
 *    of kstap0. Every byte crosses ksock's stack, the TAP device (ksock's
 *    reader thread, write(2) of each frame) and the kernel's stack.
 *
 * ksock is attached to kstap0 for each run of a link row only, and
 * detached after it: with a link attached ksock's stack never stops, so
 * the thousands of connections the connection rows leave in TIME_WAIT
 * would stay in lwIP's heap for two minutes and slow every row after
 * them (lwIP's first-fit allocator walks past them), loopback rows too.
 *
 * The ksock side's scenario holds descriptors of both kinds, so it gets
 * a table of its own (link_ops) that sends each call to ksock or to the
 * kernel by the descriptor: the kernel's are handed to the scenario with
 * LINK_FD_TAG added, far above any ksock descriptor.
 *
 * A socket belongs to the namespace it was made in, whatever thread uses
 * it later: the far end is made by switching the calling thread into the
 * far namespace for the socket() call alone (bench_link_enter/leave).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ksock/posix.h>

#include "bench.h"
#include "netns.h"

/* The veth pair between the near namespace (the process's) and the far
 * one: a subnet of its own, away from the TAP link's 10.77.0.0/24. */
#define VETH_NEAR	"ksv0"
#define VETH_FAR	"ksv1"
#define VETH_NEAR_V4	"10.79.0.1"
#define VETH_FAR_V4	"10.79.0.2"

/* How long Linux may take to call kstap0 up once ksock has attached. */
#define LINK_UP_MS	5000

/* Kernel descriptors as the ksock side's scenario sees them. */
#define LINK_FD_TAG	(1 << 20)

static struct {
	bool	 up;
	char	 why[200];
	int	 near_ns, far_ns;	/* /proc/.../ns/net descriptors */
} lnk = { .near_ns = -1, .far_ns = -1 };

bool
bench_link_up(void)
{
	return lnk.up;
}

const char *
bench_link_why(void)
{
	return lnk.why;
}

int
bench_link_enter(int ns)
{
	return setns(ns, CLONE_NEWNET);
}

int
bench_link_leave(void)
{
	return setns(lnk.near_ns, CLONE_NEWNET);
}

/* -- the ksock side's table: ksock's calls, or the kernel's by tag -- */

static bool
is_kernel(int fd)
{
	return fd >= LINK_FD_TAG;
}

static int
untag(int fd)
{
	return fd - LINK_FD_TAG;
}

/* A kernel descriptor as the scenario sees it, or -1 as it was. */
static int
tag(int fd)
{
	return fd < 0 ? fd : fd + LINK_FD_TAG;
}

static int
link_socket(int domain, int type, int protocol)
{
	return ksp_socket(domain, type, protocol);
}

static int
link_kernel_socket(int domain, int type, int protocol)
{
	return tag(socket(domain, type | SOCK_CLOEXEC, protocol));
}

static int
link_socketpair(int domain, int type, int protocol, int sv[2])
{
	(void)domain, (void)type, (void)protocol, (void)sv;
	errno = EOPNOTSUPP;
	return -1;
}

static int
link_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	return is_kernel(fd) ? bind(untag(fd), addr, len) :
			       ksp_bind(fd, addr, len);
}

static int
link_listen(int fd, int backlog)
{
	return is_kernel(fd) ? listen(untag(fd), backlog) :
			       ksp_listen(fd, backlog);
}

static int
link_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return is_kernel(fd) ? tag(accept4(untag(fd), addr, len, SOCK_CLOEXEC)) :
			       ksp_accept(fd, addr, len);
}

static int
link_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return is_kernel(fd) ? connect(untag(fd), addr, len) :
			       ksp_connect(fd, addr, len);
}

static ssize_t
link_send(int fd, const void *buf, size_t len, int flags)
{
	return is_kernel(fd) ? send(untag(fd), buf, len, flags) :
			       ksp_send(fd, buf, len, flags);
}

static ssize_t
link_recv(int fd, void *buf, size_t len, int flags)
{
	return is_kernel(fd) ? recv(untag(fd), buf, len, flags) :
			       ksp_recv(fd, buf, len, flags);
}

static ssize_t
link_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	return is_kernel(fd) ? sendmsg(untag(fd), msg, flags) :
			       ksp_sendmsg(fd, msg, flags);
}

static ssize_t
link_recvmsg(int fd, struct msghdr *msg, int flags)
{
	return is_kernel(fd) ? recvmsg(untag(fd), msg, flags) :
			       ksp_recvmsg(fd, msg, flags);
}

/* One descriptor at a time: the link rows poll nothing else. */
static int
link_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	struct pollfd p;
	int k;

	if (nfds != 1) {
		errno = EINVAL;
		return -1;
	}
	if (!is_kernel(fds[0].fd))
		return ksp_poll(fds, 1, timeout);
	p = fds[0];
	p.fd = untag(p.fd);
	k = poll(&p, 1, timeout);
	fds[0].revents = p.revents;
	return k;
}

static int
link_shutdown(int fd, int how)
{
	return is_kernel(fd) ? shutdown(untag(fd), how) :
			       ksp_shutdown(fd, how);
}

static int
link_close(int fd)
{
	return is_kernel(fd) ? close(untag(fd)) : ksp_close(fd);
}

static int
link_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	return is_kernel(fd) ? getsockname(untag(fd), addr, len) :
			       ksp_getsockname(fd, addr, len);
}

static int
link_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	return is_kernel(fd) ? setsockopt(untag(fd), level, name, val, len) :
			       ksp_setsockopt(fd, level, name, val, len);
}

/* Both kinds: a descriptor of either left open is a leak. */
static int
link_fd_count(void)
{
	int k = bench_linux_ops.fd_count(), s = ksp_fd_count();

	return k < 0 || s < 0 ? -1 : k + s;
}

#define LINK_OPS(nm, sock) {						\
	.name = nm, .socket = sock, .socketpair = link_socketpair,	\
	.bind = link_bind, .listen = link_listen,			\
	.accept = link_accept, .connect = link_connect,			\
	.send = link_send, .recv = link_recv,				\
	.sendmsg = link_sendmsg, .recvmsg = link_recvmsg,		\
	.poll = link_poll, .shutdown = link_shutdown,			\
	.close = link_close, .getsockname = link_getsockname,		\
	.setsockopt = link_setsockopt, .fd_count = link_fd_count }

/* The ksock side: socket() makes ksock's sockets (the client ends). */
static struct bench_ops link_ops = LINK_OPS("ksock", link_socket);
/* The same, but socket() makes the kernel's (the server ends). */
static struct bench_ops link_kernel_ops = LINK_OPS("ksock", link_kernel_socket);

static void
fill_addr(struct sockaddr_storage *ss, const char *v4)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, v4, &sin->sin_addr);
}

void
bench_link_ends(const struct bench_ops *ops, const struct bench_ops **srv_ops,
		struct sockaddr_storage *srv, struct sockaddr_storage *cli,
		socklen_t *len, int *srv_ns)
{
	*len = sizeof(struct sockaddr_in);
	if (ops == &bench_linux_ops) {
		*srv_ops = ops;
		fill_addr(srv, VETH_FAR_V4);
		fill_addr(cli, VETH_NEAR_V4);
		*srv_ns = lnk.far_ns;
		return;
	}
	*srv_ops = &link_kernel_ops;
	fill_addr(srv, TN_LINUX_V4);
	fill_addr(cli, TN_KSOCK_V4_ADDR);
	*srv_ns = -1;
}

/*
 * On the ksock side the scenario holds kernel descriptors too, which the
 * smoke check's count of ksock's would not see: counted here, both kinds.
 */
int
bench_run_link(const struct bench_ops *ops, const struct bench_scn *s,
	       long n, struct bench_result *r)
{
	int fds0, ret;

	if (!lnk.up) {
		bench_fail(r, "%s", lnk.why);
		return BENCH_UNSUPPORTED;
	}
	if (ops == &bench_linux_ops)
		return s->inner(ops, s, n, r);
	if (ksp_inet_tap_attach(TN_IFNAME, TN_KSOCK_V4, NULL) != 0)
		return bench_fail(r, "ksp_inet_tap_attach: %s",
				  strerror(errno));
	/* Linux drops what it sends until then (a SYN-ACK, an ack). */
	if (tn_wait_up(LINK_UP_MS) != 0) {
		ksp_inet_tap_detach();
		return bench_fail(r, "%s", tn_reason());
	}
	fds0 = link_fd_count();
	ret = s->inner(&link_ops, s, n, r);
	if (ret == 0 && link_fd_count() != fds0)
		ret = bench_fail(r, "%d descriptors left open",
				 link_fd_count() - fds0);
	if (ksp_inet_tap_detach() != 0 && ret == 0)
		ret = bench_fail(r, "ksp_inet_tap_detach: %s", strerror(errno));
	return ret;
}

/* -- setting the network up -- */

static int
fail_setup(const char *fmt, const char *arg)
{
	snprintf(lnk.why, sizeof(lnk.why), fmt, arg);
	return -1;
}

/*
 * The far namespace: a child unshares one and waits while we open it
 * and move the veth pair's far end into it by the child's pid; the open
 * descriptor keeps the namespace once the child is gone.
 */
static int
make_far(void)
{
	char path[64], cmd[128];
	int p[2], ret = -1;
	pid_t pid;
	char c;

	if (pipe(p) != 0)
		return fail_setup("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return fail_setup("fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(p[0]);
		c = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1 || c != 'y') {
		fail_setup("%s", "the far namespace could not be made");
		goto reap;
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	lnk.far_ns = open(path, O_RDONLY | O_CLOEXEC);
	if (lnk.far_ns < 0) {
		fail_setup("%s", strerror(errno));
		goto reap;
	}
	snprintf(cmd, sizeof(cmd), "link add " VETH_NEAR " type veth peer "
		 "name " VETH_FAR " netns %d", (int)pid);
	if (tn_ip(cmd) < 0) {
		fail_setup("%s", tn_reason());
		goto reap;
	}
	ret = 0;
reap:
	close(p[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return ret;
}

/* Addresses on both ends of the veth pair, both up. */
static int
configure_veth(void)
{
	int err;

	if (tn_ip("addr add " VETH_NEAR_V4 "/24 dev " VETH_NEAR) < 0 ||
	    tn_ip("link set " VETH_NEAR " up") < 0)
		return fail_setup("%s", tn_reason());
	if (bench_link_enter(lnk.far_ns) < 0)
		return fail_setup("setns: %s", strerror(errno));
	err = tn_ip("link set lo up") < 0 ||
	      tn_ip("addr add " VETH_FAR_V4 "/24 dev " VETH_FAR) < 0 ||
	      tn_ip("link set " VETH_FAR " up") < 0;
	if (bench_link_leave() < 0)
		return fail_setup("setns back: %s", strerror(errno));
	if (err)
		return fail_setup("%s", tn_reason());
	return 0;
}

int
bench_link_setup(void)
{
	/* ksock's threads and memory probes serve the ksock side. */
	for (int i = 0; i < 2; i++) {
		struct bench_ops *o = i ? &link_kernel_ops : &link_ops;

		o->thread_start = bench_ksock_ops.thread_start;
		o->thread_join = bench_ksock_ops.thread_join;
		o->mem_read = bench_ksock_ops.mem_read;
		o->mem_growth = bench_ksock_ops.mem_growth;
		o->mem_allocs = bench_ksock_ops.mem_allocs;
	}
	if (tn_enter() < 0)
		return fail_setup("%s", tn_reason());
	lnk.near_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (lnk.near_ns < 0)
		return fail_setup("%s", strerror(errno));
	if (make_far() < 0 || configure_veth() < 0)
		return -1;
	/* Once, to skip the rows with the reason if it cannot be done. */
	if (ksp_inet_tap_attach(TN_IFNAME, TN_KSOCK_V4, NULL) != 0 ||
	    ksp_inet_tap_detach() != 0)
		return fail_setup("ksp_inet_tap_attach: %s", strerror(errno));
	lnk.up = true;
	return 0;
}

void
bench_link_teardown(void)
{
	lnk.up = false;
	if (lnk.far_ns >= 0)
		close(lnk.far_ns);
	if (lnk.near_ns >= 0)
		close(lnk.near_ns);
	lnk.far_ns = lnk.near_ns = -1;
}

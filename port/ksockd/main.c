/*
 * ksockd: the socket server. One ksock instance on the hosted port,
 * serving any number of client processes over the protocol of
 * docs/ksockd.md.
 *
 *   ksockd [--max-clients-per-user N] [--idle-exit MS] ADDRESS
 *
 * ADDRESS is a path, or @NAME for an abstract name.
 *
 * The bootstrap socket is a kernel AF_UNIX SOCK_SEQPACKET socket. A
 * client connects and sends struct ksd_hello; the server takes its pid,
 * uid and gid from SO_PEERCRED (never from the hello), makes the
 * client's shared region (a memfd sealed against shrinking and growing,
 * so no access of the server's can fault), and answers struct
 * ksd_welcome with the region's descriptor. After that the connection
 * carries only doorbells (struct ksd_bell), and its hang-up is the
 * client's exit, whatever the cause: the server then drops the client's
 * parked calls and closes its descriptors.
 *
 * One thread, one epoll set: the listening socket, a signalfd for
 * SIGTERM and SIGINT (a clean stop: every client dropped, ksock stopped,
 * exit status 0 only when nothing was left allocated), and every
 * client's connection. A protocol violation on a connection closes it,
 * and so does a hello that has not come KSD_HELLO_NS after the connect.
 * One uid may have at most max_per_uid clients at once (its further
 * hellos are refused with -EUSERS); together with RLIMIT_NOFILE per
 * process, that bounds what one user can hold.
 *
 * With --idle-exit MS the server stops by itself (the clean stop of
 * SIGTERM) once it has had no connection and no hand-over for MS
 * milliseconds: ksock-run starts it that way, so that no server is left
 * behind its programs. A client that connects as it stops is refused
 * and starts another one (docs/ksock-run.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ksock/posix.h>

#include "ksockd.h"

/* How long a new connection may take to say hello. */
#define KSD_HELLO_NS	(2 * 1000000000LL)
/* Clients of one uid at once, unless --max-clients-per-user says. */
#define KSD_CLIENTS_PER_UID	1024

static long max_per_uid = KSD_CLIENTS_PER_UID;

/* epoll tags that are not clients. */
static char tag_listen, tag_signal;

static int epfd = -1;

static void
client_drop(struct ksd_client *c)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->sock, NULL);
	close(c->sock);
	if (c->shm != NULL)
		munmap(c->shm, c->shm_size);
	ksd__client_free(c);
}

/* The client's region: a sealed memfd, mapped here. Returns the
 * descriptor to send, or -1. */
static int
region_new(struct ksd_client *c)
{
	size_t size = sizeof(struct ksd_shm);
	int fd;

	fd = memfd_create("ksockd", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto close_fd;
	c->shm = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (c->shm == MAP_FAILED) {
		c->shm = NULL;
		goto close_fd;
	}
	c->shm_size = size;
	c->shm->magic = KSD_MAGIC;
	c->shm->version = KSD_VERSION;
	c->shm->nslots = KSD_SLOTS;
	c->shm->data_max = KSD_DATA_MAX;
	c->shm->ctl_max = KSD_CTL_MAX;
	return fd;

close_fd:
	close(fd);
	return -1;
}

static int
send_welcome(int sock, int err, int memfd, uint64_t size)
{
	struct ksd_welcome w = {
		.magic = KSD_MAGIC, .version = KSD_VERSION, .err = err,
		.shm_size = size,
	};
	union {
		struct cmsghdr	h;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { &w, sizeof(w) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (memfd >= 0) {
		memset(&u, 0, sizeof(u));
		m.msg_control = u.buf;
		m.msg_controllen = sizeof(u.buf);
		CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), &memfd, sizeof(int));
	}
	return sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT) ==
	       (ssize_t)sizeof(w) ? 0 : -1;
}

/* Welcomed clients of @uid. */
static long
clients_of(uint32_t uid)
{
	long n = 0;

	for (struct ksd_client *c = ksd__first_client(); c != NULL; c = c->next)
		if (c->welcomed && c->proc.uid == uid)
			n++;
	return n;
}

/* Drops the connections whose hello is late; returns the next moment
 * one will be, or -1. */
static int64_t
drop_late(int64_t now)
{
	struct ksd_client *c = ksd__first_client(), *next;
	int64_t first = -1;

	for (; c != NULL; c = next) {
		next = c->next;
		if (c->welcomed)
			continue;
		if (c->hello_by <= now)
			client_drop(c);
		else if (first < 0 || c->hello_by < first)
			first = c->hello_by;
	}
	return first;
}

/*
 * The hello of a new connection: identity from the kernel, the region,
 * a claimed hand-over. Returns 0, or -1 to drop the connection.
 */
static int
handshake(struct ksd_client *c)
{
	struct ksd_hello h;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	ssize_t n;
	int memfd, err = 0;

	n = recv(c->sock, &h, sizeof(h), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n != (ssize_t)sizeof(h) || h.magic != KSD_MAGIC)
		return -1;
	if (h.version != KSD_VERSION) {
		send_welcome(c->sock, -KS_EPROTONOSUPPORT, -1, 0);
		return -1;
	}
	if (getsockopt(c->sock, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) < 0)
		return -1;
	if (clients_of(cr.uid) >= max_per_uid) {
		send_welcome(c->sock, -EUSERS, -1, 0);
		return -1;
	}
	c->proc.pid = cr.pid;
	c->proc.uid = c->proc.euid = c->proc.suid = cr.uid;
	c->proc.gid = c->proc.egid = c->proc.sgid = cr.gid;
	c->proc.umask = h.umask & 0777;
	if (h.token != 0)
		err = ksd__claim(c, h.token, cr.uid);
	if (err < 0) {
		send_welcome(c->sock, err, -1, 0);
		return -1;
	}
	memfd = region_new(c);
	if (memfd < 0) {
		send_welcome(c->sock, -KS_ENOMEM, -1, 0);
		return -1;
	}
	err = send_welcome(c->sock, 0, memfd, c->shm_size);
	close(memfd);
	if (err < 0)
		return -1;
	c->welcomed = true;
	return 0;
}

/* Doorbells waiting on @c's connection. Returns 0, or -1 to drop. */
static int
client_input(struct ksd_client *c)
{
	for (;;) {
		struct ksd_bell b;
		ssize_t n = recv(c->sock, &b, sizeof(b), MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (n != (ssize_t)sizeof(b))
			return -1;	/* a hang-up (0) or a bad message */
		if (ksd__bell(c, b.slot) < 0)
			return -1;
		ksd__run_ready();
	}
}

static void
accept_clients(int lfd)
{
	for (;;) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		struct ksd_client *c;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		c = ksd__client_new(0, (uint32_t)-1, (uint32_t)-1, 022);
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->sock = fd;
		c->hello_by = ksp__now() + KSD_HELLO_NS;
		ev.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			ksd__client_free(c);
		}
	}
}

static int
listen_on(const char *name)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t len = strlen(name);
	socklen_t alen;
	int fd;

	if (len == 0 || len >= sizeof(sun.sun_path)) {
		fprintf(stderr, "ksockd: bad address\n");
		return -1;
	}
	memcpy(sun.sun_path, name, len);
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, alen) < 0 ||
	    listen(fd, 128) < 0) {
		perror("ksockd");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/*
 * --idle-exit: whether the server has been idle (no connection, not
 * even one still saying hello, and no hand-over waiting for a child)
 * for @idle_ns by @now (@hello_pending: a connection says hello); @since keeps when that began (-1: busy).
 */
static bool
idle_for(int64_t idle_ns, int64_t now, bool hello_pending, int64_t *since)
{
	struct ksd_status st;

	if (idle_ns < 0)
		return false;
	ksd__status(&st);
	if (hello_pending || ksd__first_client() != NULL || st.handovers != 0) {
		*since = -1;
		return false;
	}
	if (*since < 0)
		*since = now;
	return now - *since >= idle_ns;
}

int
main(int argc, char **argv)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct ksd_status st;
	sigset_t mask;
	int lfd, sfd, status = 0;
	bool running = true;
	int64_t idle_ns = -1, idle_since = -1;

	while (argc >= 4 && argv[1][0] == '-' && argv[1][1] == '-') {
		if (strcmp(argv[1], "--max-clients-per-user") == 0)
			max_per_uid = strtol(argv[2], NULL, 10);
		else if (strcmp(argv[1], "--idle-exit") == 0)
			idle_ns = strtoll(argv[2], NULL, 10) * 1000000LL;
		else
			break;
		argv += 2;
		argc -= 2;
	}
	if (argc != 2 || max_per_uid <= 0 || (idle_ns < 0 && idle_ns != -1)) {
		fprintf(stderr, "usage: ksockd [--max-clients-per-user N] "
			"[--idle-exit MS] PATH|@NAME\n");
		return 2;
	}
	/* SIGPIPE is blocked, not ignored: ksock's sends signal this
	 * thread when Linux would, and the request takes the pending
	 * signal to the client (serve.c: sigpipe_taken). */
	sigemptyset(&mask);
	sigaddset(&mask, SIGPIPE);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if (ksp_init() < 0) {
		perror("ksockd: ksp_init");
		return 1;
	}
	lfd = listen_on(argv[1]);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (lfd < 0 || sfd < 0 || epfd < 0)
		return 1;
	ev.data.ptr = &tag_listen;
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
	ev.data.ptr = &tag_signal;
	epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);

	while (running) {
		struct epoll_event evs[64];
		int64_t next = ksd__next_deadline(), now = ksp__now();
		int64_t late = drop_late(now);
		int timeout = -1, n;

		if (late >= 0 && (next < 0 || late < next))
			next = late;
		if (idle_for(idle_ns, now, late >= 0, &idle_since))
			break;
		if (idle_since >= 0 && (next < 0 || idle_since + idle_ns < next))
			next = idle_since + idle_ns;

		if (next >= 0)
			timeout = next <= now ? 0 :
				  (int)((next - now + 999999) / 1000000);
		n = epoll_wait(epfd, evs, 64, timeout);
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			struct ksd_client *c = tag;
			int drop;

			if (tag == &tag_listen) {
				accept_clients(lfd);
				continue;
			}
			if (tag == &tag_signal) {
				running = false;
				continue;
			}
			drop = c->welcomed ? client_input(c) : handshake(c);
			/* A hang-up with bells still queued: those are read
			 * first, then the client goes. */
			if (drop == 0 && (evs[i].events & (EPOLLHUP | EPOLLERR |
							   EPOLLRDHUP))) {
				if (c->welcomed)
					client_input(c);
				drop = -1;
			}
			if (drop < 0)
				client_drop(c);
		}
		ksd__run_ready();
		ksd__expire(ksp__now());
	}

	/* A clean stop: every client goes, then ksock. */
	while (ksd__first_client() != NULL)
		client_drop(ksd__first_client());
	ksd__handovers_free();
	ksd__status(&st);
	close(lfd);
	if (argv[1][0] != '@')
		unlink(argv[1]);
	if (ksp_fini() < 0 || st.objects != 0 || ksp_alloc_outstanding() != 0) {
		fprintf(stderr, "ksockd: left allocated at exit: %ld ksock, "
			"%lld own\n", ksp_alloc_outstanding(),
			(long long)st.objects);
		status = 1;
	}
	close(sfd);
	close(epfd);
	return status;
}

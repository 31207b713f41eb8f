/*
 * Checks that only a real kernel can run: the paths through which Linux
 * itself, not a program's system calls, reaches a socket family. Built
 * against libc and run in the VM (tools/vm-run), on Linux's AF_UNIX
 * (ksock.mode=linux, the oracle) and on ksock owning PF_UNIX.
 *
 *   - splice and sendfile move data through kernel vectors and pipe
 *     iterators, never user iovecs (port/linux's iterator windows);
 *   - recvmmsg and sendmmsg hand the family one kernel msghdr each;
 *   - a blocked receive interrupted by a handler with SA_RESTART restarts,
 *     and with a receive timeout set fails with EINTR instead;
 *   - epoll in edge-triggered mode reports each new arrival once, and a
 *     datagram sender's room as its peer drains; select() works;
 *   - any file passes in SCM_RIGHTS (an eventfd here);
 *   - a path name unlinked and bound again reaches the new socket only.
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/sendfile.h>

#include "harness.h"

/* splice from a pipe into a stream socket, and from the socket into a
 * pipe, keeps every byte in order. */
static void
splice_through_socket(void)
{
	static char out[65536], in[65536];
	int sv[2], p1[2], p2[2];
	size_t got = 0;

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (char)(i * 7 + 3);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe(p1));
	CHECK_OK(pipe(p2));
	CHECK_OK(fcntl(p1[1], F_SETPIPE_SZ, 65536));
	CHECK_OK(fcntl(p2[1], F_SETPIPE_SZ, 65536));
	CHECK_EQ(write(p1[1], out, 4096), 4096);
	CHECK_EQ(splice(p1[0], NULL, sv[0], NULL, 4096, 0), 4096);
	CHECK_EQ(splice(sv[1], NULL, p2[1], NULL, 4096, 0), 4096);
	CHECK_EQ(read(p2[0], in, sizeof(in)), 4096);
	CHECK_MEM(in, out, 4096);

	/* A larger transfer, in as many pieces as the kernel likes. */
	CHECK_EQ(write(p1[1], out, sizeof(out)), (long)sizeof(out));
	while (got < sizeof(out)) {
		ssize_t n = splice(p1[0], NULL, sv[0], NULL, sizeof(out), 0);

		if (n <= 0)
			break;
		for (ssize_t left = n; left > 0;) {
			ssize_t m = splice(sv[1], NULL, p2[1], NULL, left, 0);

			if (m <= 0)
				break;
			CHECK_EQ(read(p2[0], in + got, m), m);
			got += m;
			left -= m;
		}
	}
	CHECK_EQ(got, sizeof(out));
	CHECK_MEM(in, out, sizeof(out));
	close(p1[0]); close(p1[1]); close(p2[0]); close(p2[1]);
	close(sv[0]); close(sv[1]);
}

/* sendfile from a regular file into a socket sends the file's bytes. */
static void
sendfile_to_socket(void)
{
	static char out[20000], in[20000];
	int sv[2], fd;
	off_t off = 0;
	size_t got = 0;

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (char)(i * 13 + 1);
	fd = CHECK_OK(open("f", O_RDWR | O_CREAT | O_TRUNC, 0600));
	CHECK_EQ(write(fd, out, sizeof(out)), (long)sizeof(out));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(sendfile(sv[0], fd, &off, sizeof(out)), (long)sizeof(out));
	CHECK_EQ(off, (long)sizeof(out));
	while (got < sizeof(out)) {
		ssize_t n = read(sv[1], in + got, sizeof(in) - got);

		if (n <= 0)
			break;
		got += n;
	}
	CHECK_EQ(got, sizeof(out));
	CHECK_MEM(in, out, sizeof(out));
	close(fd);
	close(sv[0]);
	close(sv[1]);
	CHECK_OK(unlink("f"));
}

/* sendmmsg of three datagrams and recvmmsg of them keep their bounds. */
static void
mmsg_datagrams(void)
{
	struct mmsghdr m[3];
	struct iovec iov[3];
	char buf[3][8];
	static const char *words[] = { "a", "bc", "def" };
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	memset(m, 0, sizeof(m));
	for (int i = 0; i < 3; i++) {
		iov[i].iov_base = (void *)words[i];
		iov[i].iov_len = strlen(words[i]);
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	CHECK_EQ(sendmmsg(sv[0], m, 3, 0), 3);
	memset(m, 0, sizeof(m));
	for (int i = 0; i < 3; i++) {
		iov[i].iov_base = buf[i];
		iov[i].iov_len = sizeof(buf[i]);
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	CHECK_EQ(recvmmsg(sv[1], m, 3, MSG_DONTWAIT, NULL), 3);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(m[i].msg_len, strlen(words[i]));
		CHECK_MEM(buf[i], words[i], strlen(words[i]));
	}
	close(sv[0]);
	close(sv[1]);
}

static volatile sig_atomic_t usr1_seen;

static void
on_usr1(int sig)
{
	usr1_seen++;
}

struct later_send {
	int	fd;
	int	ms;
};

static void *
send_later(void *p)
{
	struct later_send *l = p;

	th_sleep_ms(l->ms);
	if (send(l->fd, "r", 1, 0) != 1)
		th_fail(__FILE__, __LINE__, "send_later: %s", strerror(errno));
	return NULL;
}

/* A blocked recv interrupted by a handler installed with SA_RESTART goes
 * on waiting and returns the data sent later; with SO_RCVTIMEO set, the
 * same interruption fails with EINTR (Linux restarts only waits without
 * a timeout). */
static void
sa_restart(void)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	struct timeval tv = { 5, 0 };
	struct later_send l;
	pthread_t t;
	int sv[2];
	char c = 0;

	sigemptyset(&sa.sa_mask);
	CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	l.fd = sv[0];
	l.ms = 300;
	usr1_seen = 0;
	th_signal_after(pthread_self(), SIGUSR1, 100);
	CHECK_OK(pthread_create(&t, NULL, send_later, &l));
	CHECK_EQ(recv(sv[1], &c, 1, 0), 1);
	CHECK_EQ(c, 'r');
	CHECK_EQ(usr1_seen, 1);
	pthread_join(t, NULL);

	CHECK_OK(setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	th_signal_after(pthread_self(), SIGUSR1, 100);
	CHECK_ERR(recv(sv[1], &c, 1, 0), EINTR);
	CHECK_EQ(usr1_seen, 2);
	signal(SIGUSR1, SIG_DFL);
	close(sv[0]);
	close(sv[1]);
}

/* Edge-triggered epoll reports EPOLLIN once per arrival, not while the
 * data merely stays unread. */
static void
epoll_edge_triggered(void)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET }, out[2];
	int sv[2], ep;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ep = CHECK_OK(epoll_create1(0));
	ev.data.fd = sv[1];
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev));
	CHECK_EQ(epoll_wait(ep, out, 2, 0), 0);
	CHECK_EQ(send(sv[0], "a", 1, 0), 1);
	CHECK_EQ(epoll_wait(ep, out, 2, 1000), 1);
	CHECK(out[0].events & EPOLLIN);
	CHECK_EQ(epoll_wait(ep, out, 2, 50), 0);
	CHECK_EQ(send(sv[0], "b", 1, 0), 1);
	CHECK_EQ(epoll_wait(ep, out, 2, 1000), 1);
	CHECK_EQ(epoll_wait(ep, out, 2, 50), 0);
	close(ep);
	close(sv[0]);
	close(sv[1]);
}

/* A datagram sender connected to a receiver whose queue is full (and
 * which is not connected back) is not writable; edge-triggered epoll
 * reports EPOLLOUT once the receiver reads one. */
static void
epoll_dgram_peer_drains(void)
{
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLET }, out[2];
	struct sockaddr_un sun;
	socklen_t len = th_addr_abstract(&sun, th_unique(), strlen(th_unique()));
	int sv[2], ep, sent = 0;
	char b[16] = { 0 };

	sv[1] = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(bind(sv[1], (struct sockaddr *)&sun, len));
	sv[0] = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(connect(sv[0], (struct sockaddr *)&sun, len));
	while (send(sv[0], b, sizeof(b), MSG_DONTWAIT) == sizeof(b) &&
	       sent < 100000)
		sent++;
	CHECK_EQ(errno, EAGAIN);
	ep = CHECK_OK(epoll_create1(0));
	ev.data.fd = sv[0];
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev));
	CHECK_EQ(epoll_wait(ep, out, 2, 0), 0);
	CHECK_EQ(recv(sv[1], b, sizeof(b), 0), (long)sizeof(b));
	CHECK_EQ(epoll_wait(ep, out, 2, 1000), 1);
	CHECK(out[0].events & EPOLLOUT);
	close(ep);
	close(sv[0]);
	close(sv[1]);
}

/* select() sees a socket become readable, and its peer's close. */
static void
select_readable_and_hup(void)
{
	struct timeval tv = { 1, 0 };
	fd_set r;
	int sv[2];
	char c;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	FD_ZERO(&r);
	FD_SET(sv[1], &r);
	tv.tv_sec = 0;
	tv.tv_usec = 20000;
	CHECK_EQ(select(sv[1] + 1, &r, NULL, NULL, &tv), 0);
	CHECK_EQ(send(sv[0], "s", 1, 0), 1);
	FD_ZERO(&r);
	FD_SET(sv[1], &r);
	tv.tv_sec = 1;
	tv.tv_usec = 0;
	CHECK_EQ(select(sv[1] + 1, &r, NULL, NULL, &tv), 1);
	CHECK_EQ(recv(sv[1], &c, 1, 0), 1);
	close(sv[0]);
	FD_ZERO(&r);
	FD_SET(sv[1], &r);
	CHECK_EQ(select(sv[1] + 1, &r, NULL, NULL, &tv), 1);
	CHECK_EQ(recv(sv[1], &c, 1, 0), 0);
	close(sv[1]);
}

/* An eventfd passed in SCM_RIGHTS is the same file on arrival. */
static void
rights_eventfd(void)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr m = { 0 };
	struct iovec iov = { "e", 1 };
	struct cmsghdr *c;
	uint64_t v = 0;
	int sv[2], efd, got = -1;
	char b;

	efd = CHECK_OK(eventfd(0, 0));
	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	memset(cbuf, 0, sizeof(cbuf));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = sizeof(cbuf);
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &efd, sizeof(int));
	CHECK_EQ(sendmsg(sv[0], &m, 0), 1);
	iov.iov_base = &b;
	memset(cbuf, 0, sizeof(cbuf));
	m.msg_controllen = sizeof(cbuf);
	CHECK_EQ(recvmsg(sv[1], &m, 0), 1);
	c = CMSG_FIRSTHDR(&m);
	CHECK(c != NULL && c->cmsg_type == SCM_RIGHTS);
	if (c != NULL)
		memcpy(&got, CMSG_DATA(c), sizeof(int));
	CHECK(got >= 0 && got != efd);
	v = 5;
	CHECK_EQ(write(got, &v, sizeof(v)), 8);
	v = 0;
	CHECK_EQ(read(efd, &v, sizeof(v)), 8);
	CHECK_EQ(v, 5);
	if (got >= 0)
		close(got);
	close(efd);
	close(sv[0]);
	close(sv[1]);
}

/* After unlink, binding the same path again gives a new node: connects
 * to the name reach the new socket, never the old one, which lives on. */
static void
rebound_path_reaches_new_socket(void)
{
	struct sockaddr_un sun;
	socklen_t len = th_addr_path(&sun, "p");
	struct stat st1, st2;
	int a, b, c, x;

	a = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(a, (struct sockaddr *)&sun, len));
	CHECK_OK(listen(a, 4));
	CHECK_OK(stat("p", &st1));
	CHECK_OK(unlink("p"));
	b = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(b, (struct sockaddr *)&sun, len));
	CHECK_OK(listen(b, 4));
	CHECK_OK(stat("p", &st2));
	CHECK(st1.st_ino != st2.st_ino || st1.st_dev != st2.st_dev);
	c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&sun, len));
	CHECK_OK(fcntl(a, F_SETFL, O_NONBLOCK));
	CHECK_ERR(accept(a, NULL, NULL), EAGAIN);
	x = CHECK_OK(accept(b, NULL, NULL));
	close(x);
	close(c);
	close(b);
	close(a);
	CHECK_OK(unlink("p"));
}

/* O_NONBLOCK belongs to the file: after a non-blocking connect and
 * accept, clearing it makes both ends' receives wait again. */
static void
nonblock_follows_the_file(void)
{
	struct sockaddr_un sun;
	socklen_t len = th_addr_abstract(&sun, th_unique(), strlen(th_unique()));
	struct later_send l;
	pthread_t t;
	int lst, c, a;
	char b = 0;

	lst = CHECK_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
	CHECK_OK(bind(lst, (struct sockaddr *)&sun, len));
	CHECK_OK(listen(lst, 1));
	c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&sun, len));
	a = CHECK_OK(accept4(lst, NULL, NULL, SOCK_NONBLOCK));
	CHECK_ERR(recv(c, &b, 1, 0), EAGAIN);
	CHECK_OK(fcntl(c, F_SETFL, 0));
	CHECK_OK(fcntl(a, F_SETFL, 0));
	l.fd = a;
	l.ms = 100;
	CHECK_OK(pthread_create(&t, NULL, send_later, &l));
	CHECK_EQ(recv(c, &b, 1, 0), 1);
	CHECK_EQ(b, 'r');
	pthread_join(t, NULL);
	l.fd = c;
	CHECK_OK(pthread_create(&t, NULL, send_later, &l));
	CHECK_EQ(recv(a, &b, 1, 0), 1);
	pthread_join(t, NULL);
	close(a);
	close(c);
	close(lst);
}

/* A kernel address where the family itself copies (an ioctl's argument,
 * recvmsg's control buffer: the credentials do not fit, so the message
 * comes with MSG_CTRUNC) is treated as any bad pointer. */
static void
kernel_pointers_fault(void)
{
	void *kaddr = (void *)0xffff888000000000UL;
	char cbuf[CMSG_SPACE(sizeof(int))], b = 0;
	struct iovec iov = { &b, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = kaddr, .msg_controllen = sizeof(cbuf) };
	int sv[2], one = 1;

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_ERR(ioctl(sv[1], FIONREAD, kaddr), EFAULT);
	CHECK_ERR(send(sv[0], kaddr, 4, 0), EFAULT);
	/* With credentials to deliver, the control copy must happen. */
	CHECK_OK(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)));
	memset(cbuf, 0, sizeof(cbuf));
	CHECK_EQ(send(sv[0], "k", 1, 0), 1);
	errno = 0;
	CHECK_EQ(recvmsg(sv[1], &m, 0), 1);
	CHECK_EQ(b, 'k');
	CHECK(m.msg_flags & MSG_CTRUNC);
	close(sv[0]);
	close(sv[1]);
}

/* A datagram socket that disconnects with messages unread gives its
 * peer ECONNRESET, which SO_ERROR reads once. */
static void
dgram_disconnect_so_error(void)
{
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	socklen_t len = sizeof(int);
	int sv[2], err = -1;

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_EQ(send(sv[1], "u", 1, 0), 1);
	CHECK_OK(connect(sv[0], &unspec, sizeof(unspec)));
	CHECK_OK(getsockopt(sv[1], SOL_SOCKET, SO_ERROR, &err, &len));
	CHECK_EQ(err, ECONNRESET);
	CHECK_OK(getsockopt(sv[1], SOL_SOCKET, SO_ERROR, &err, &len));
	CHECK_EQ(err, 0);
	close(sv[0]);
	close(sv[1]);
}

/* O_ASYNC with an owner: data arriving raises SIGIO. */
static void
sigio_on_arrival(void)
{
	int sv[2];
	char c;

	th_catch(SIGIO);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(fcntl(sv[1], F_SETOWN, getpid()));
	CHECK_OK(fcntl(sv[1], F_SETFL, O_ASYNC));
	CHECK_EQ(th_signal_count(SIGIO), 0);
	CHECK_EQ(send(sv[0], "a", 1, 0), 1);
	for (int i = 0; i < 100 && th_signal_count(SIGIO) == 0; i++)
		th_sleep_ms(10);
	CHECK(th_signal_count(SIGIO) >= 1);
	CHECK_EQ(recv(sv[1], &c, 1, 0), 1);
	close(sv[0]);
	close(sv[1]);
}

static const struct th_test tests[] = {
	{ "sigio_on_arrival", sigio_on_arrival },
	{ "dgram_disconnect_so_error", dgram_disconnect_so_error },
	{ "kernel_pointers_fault", kernel_pointers_fault },
	{ "nonblock_follows_the_file", nonblock_follows_the_file },
	{ "splice_through_socket", splice_through_socket },
	{ "sendfile_to_socket", sendfile_to_socket },
	{ "mmsg_datagrams", mmsg_datagrams },
	{ "sa_restart", sa_restart },
	{ "epoll_edge_triggered", epoll_edge_triggered },
	{ "epoll_dgram_peer_drains", epoll_dgram_peer_drains },
	{ "select_readable_and_hup", select_readable_and_hup },
	{ "rights_eventfd", rights_eventfd },
	{ "rebound_path_reaches_new_socket", rebound_path_reaches_new_socket },
};

TH_MAIN(tests)

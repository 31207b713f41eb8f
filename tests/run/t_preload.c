/*
 * What ksock-run adds to a program, checked against Linux: one number
 * space for both kinds of descriptor, the descriptor calls, poll, select
 * and epoll over both kinds at once, signals, threads and fork.
 *
 * Built once against libc with the conformance harness; make check runs
 * it natively and under ksock-run, and both runs must pass. The one test
 * whose expectation differs (a forked child's view of its parent's
 * sockets) says so.
 */
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "../conform/harness.h"

static bool
under_ksock(void)
{
	return getenv("KSOCK_RUN") != NULL;
}

/* Under ksock-run --ksockd (KSOCK_RUN_KSOCKD): the sockets are a
 * server's, shared by processes as the kernel's are. */
static bool
under_ksockd(void)
{
	return under_ksock() && getenv("KSOCK_RUN_KSOCKD") != NULL;
}

/* --in-process: each process has a ksock of its own. */
static bool
in_process_ksock(void)
{
	return under_ksock() && !under_ksockd();
}

/* Sockets, pipes and files take numbers from one space. */
static void
numbers_one_space(void)
{
	int sv[2], p[2], fd, n;
	struct stat st;
	char c;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe(p));
	fd = CHECK_OK(open("/dev/null", O_RDONLY));
	CHECK(sv[0] != sv[1] && p[0] != sv[0] && p[0] != sv[1] &&
	      fd != sv[0] && fd != sv[1] && fd != p[1]);
	/* The lowest free number, whatever held it. */
	n = sv[0];
	CHECK_OK(close(sv[0]));
	CHECK_EQ(CHECK_OK(open("/dev/null", O_RDONLY)), n);
	CHECK_OK(close(n));
	/* dup2 of a pipe onto a socket's number makes it the pipe. */
	CHECK_EQ(dup2(p[0], sv[1]), sv[1]);
	CHECK_OK(fstat(sv[1], &st));
	CHECK(S_ISFIFO(st.st_mode));
	CHECK_EQ(write(p[1], "x", 1), 1);
	CHECK_EQ(read(sv[1], &c, 1), 1);
	/* and of a socket onto a file's number makes it a socket. */
	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_EQ(dup2(sv[0], fd), fd);
	CHECK_OK(fstat(fd, &st));
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_EQ(send(fd, "y", 1, 0), 1);
	CHECK_EQ(recv(sv[1], &c, 1, 0), 1);
	CHECK_EQ(c, 'y');
	CHECK_EQ(dup3(sv[0], fd, O_CLOEXEC), fd);
	CHECK_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
	CHECK_ERR(dup3(fd, fd, 0), EINVAL);
	CHECK_EQ(dup2(fd, fd), fd);
	CHECK_OK(close(fd));
	CHECK_ERR(send(fd, "y", 1, 0), EBADF);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
	CHECK_OK(close(p[0]));
	CHECK_OK(close(p[1]));
	/* The one made by the first dup2. */
	CHECK_OK(close(n + 1 == p[0] ? n + 1 : n + 1));
}

/* fcntl, ioctl, fstat and the positioned calls on a socket. */
static void
descriptor_calls(void)
{
	int sv[2], v, fd;
	struct stat st;
	char buf[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
	CHECK_OK(fcntl(sv[0], F_SETFL, O_NONBLOCK));
	CHECK_EQ(fcntl(sv[0], F_GETFL) & (O_NONBLOCK | O_ACCMODE),
		 O_NONBLOCK | O_RDWR);
	CHECK_ERR(recv(sv[0], buf, 1, 0), EAGAIN);
	v = 0;
	CHECK_OK(ioctl(sv[0], FIONBIO, &v));
	CHECK_EQ(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
	CHECK_EQ(fcntl(sv[0], F_GETFD), 0);
	CHECK_OK(fcntl(sv[0], F_SETFD, FD_CLOEXEC));
	CHECK_EQ(fcntl(sv[0], F_GETFD), FD_CLOEXEC);
	fd = CHECK_OK(fcntl(sv[0], F_DUPFD_CLOEXEC, 40));
	CHECK(fd >= 40);
	CHECK_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
	CHECK_OK(fcntl(sv[0], F_SETOWN, getpid()));
	CHECK_EQ(fcntl(fd, F_GETOWN), getpid());
	CHECK_EQ(send(fd, "abc", 3, 0), 3);
	CHECK_OK(ioctl(sv[1], FIONREAD, &v));
	CHECK_EQ(v, 3);
	CHECK_OK(ioctl(sv[1], SIOCINQ, &v));
	CHECK_EQ(v, 3);
	/* Linux counts the buffer the bytes sit in, not only the bytes. */
	CHECK_OK(ioctl(sv[0], SIOCOUTQ, &v));
	CHECK(v >= 3);
	CHECK_OK(ioctl(sv[1], SIOCATMARK, &v));
	CHECK_EQ(v, 0);
	CHECK_OK(fstat(sv[0], &st));
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_ERR(pread(sv[1], buf, 1, 0), ESPIPE);
	CHECK_ERR(pwrite(sv[1], buf, 1, 0), ESPIPE);
	CHECK_ERR(lseek(sv[1], 0, SEEK_CUR), ESPIPE);
	CHECK_EQ(read(sv[1], buf, sizeof(buf)), 3);
	CHECK_OK(close(fd));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

struct delayed {
	int	fd;
	int	ms;
};

static void *
write_later(void *arg)
{
	struct delayed *d = arg;

	th_sleep_ms(d->ms);
	if (write(d->fd, "w", 1) != 1)
		abort();
	return NULL;
}

static pthread_t
write_after(struct delayed *d, int fd, int ms)
{
	pthread_t t;

	d->fd = fd;
	d->ms = ms;
	pthread_create(&t, NULL, write_later, d);
	return t;
}

/* poll and select wait on a socket and a pipe at once. */
static void
poll_select_mixed(void)
{
	int sv[2], p[2];
	struct pollfd pfd[2];
	struct delayed d;
	struct timeval tv;
	fd_set rs;
	pthread_t t;
	char c;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe(p));
	for (int round = 0; round < 2; round++) {
		int wake = round == 0 ? sv[1] : p[1];

		pfd[0] = (struct pollfd){ .fd = sv[0], .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = p[0], .events = POLLIN };
		t = write_after(&d, wake, 100);
		CHECK_EQ(poll(pfd, 2, 5000), 1);
		CHECK_EQ(pfd[round].revents, POLLIN);
		CHECK_EQ(pfd[1 - round].revents, 0);
		pthread_join(t, NULL);
		CHECK_EQ(read(pfd[round].fd, &c, 1), 1);

		t = write_after(&d, wake, 100);
		FD_ZERO(&rs);
		FD_SET(sv[0], &rs);
		FD_SET(p[0], &rs);
		tv = (struct timeval){ 5, 0 };
		CHECK_EQ(select((sv[0] > p[0] ? sv[0] : p[0]) + 1, &rs, NULL,
				NULL, &tv), 1);
		CHECK(FD_ISSET(round == 0 ? sv[0] : p[0], &rs));
		CHECK(!FD_ISSET(round == 0 ? p[0] : sv[0], &rs));
		CHECK(tv.tv_sec < 5);
		pthread_join(t, NULL);
		CHECK_EQ(read(round == 0 ? sv[0] : p[0], &c, 1), 1);
	}
	CHECK_EQ(poll(pfd, 2, 50), 0);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
	CHECK_OK(close(p[0]));
	CHECK_OK(close(p[1]));
}

/* One epoll set with both kinds: level, edge, one-shot, RDHUP. */
static void
epoll_mixed(void)
{
	struct epoll_event ev, out[4];
	struct delayed d;
	int sv[2], p[2], ep;
	pthread_t t;
	char c;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe(p));
	ep = CHECK_OK(epoll_create1(EPOLL_CLOEXEC));
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 1 };
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev));
	CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev), EEXIST);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 2 };
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 0);

	/* A socket wakes a sleeping epoll_wait; so does the pipe. */
	t = write_after(&d, sv[1], 100);
	CHECK_EQ(epoll_wait(ep, out, 4, 5000), 1);
	CHECK_EQ(out[0].data.u64, 1);
	CHECK_EQ(out[0].events, EPOLLIN);
	pthread_join(t, NULL);
	/* Level-triggered: still there. */
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 1);
	CHECK_EQ(read(sv[0], &c, 1), 1);
	t = write_after(&d, p[1], 100);
	CHECK_EQ(epoll_wait(ep, out, 4, 5000), 1);
	CHECK_EQ(out[0].data.u64, 2);
	pthread_join(t, NULL);
	/* Both kinds ready in one call. */
	CHECK_EQ(send(sv[1], "s", 1, 0), 1);
	CHECK_EQ(epoll_wait(ep, out, 4, 1000), 2);
	CHECK_EQ(read(sv[0], &c, 1), 1);
	CHECK_EQ(read(p[0], &c, 1), 1);

	/* Edge-triggered: once per arrival. */
	ev = (struct epoll_event){ .events = EPOLLIN | EPOLLET | EPOLLRDHUP,
				   .data.u64 = 3 };
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_MOD, sv[0], &ev));
	CHECK_EQ(send(sv[1], "a", 1, 0), 1);
	CHECK_EQ(epoll_wait(ep, out, 4, 1000), 1);
	CHECK_EQ(out[0].data.u64, 3);
	CHECK_EQ(epoll_wait(ep, out, 4, 50), 0);
	CHECK_EQ(send(sv[1], "b", 1, 0), 1);
	CHECK_EQ(epoll_wait(ep, out, 4, 1000), 1);
	CHECK_OK(shutdown(sv[1], SHUT_WR));
	CHECK_EQ(epoll_wait(ep, out, 4, 1000), 1);
	CHECK(out[0].events & EPOLLRDHUP);

	/* One-shot: once, until re-armed. */
	ev = (struct epoll_event){ .events = EPOLLIN | EPOLLONESHOT,
				   .data.u64 = 4 };
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_MOD, sv[0], &ev));
	CHECK_EQ(epoll_wait(ep, out, 4, 1000), 1);
	CHECK_EQ(epoll_wait(ep, out, 4, 50), 0);
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_MOD, sv[0], &ev));
	CHECK_EQ(epoll_wait(ep, out, 4, 1000), 1);
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], NULL));
	CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], NULL), ENOENT);
	ev = (struct epoll_event){ .events = EPOLLIN | EPOLLEXCLUSIVE };
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev));
	CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_MOD, sv[0], &ev), EINVAL);
	/* Closing the socket takes it out of the set. */
	CHECK_OK(close(sv[0]));
	CHECK_EQ(epoll_wait(ep, out, 4, 50), 0);
	CHECK_OK(close(ep));
	CHECK_OK(close(sv[1]));
	CHECK_OK(close(p[0]));
	CHECK_OK(close(p[1]));
}

static void
on_signal(int sig)
{
}

static void
handle(int sig, int flags)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = flags };

	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/* SIGPIPE as the kernel sends it; MSG_NOSIGNAL keeps it away. */
static void
signal_sigpipe(void)
{
	int sv[2];

	th_catch(SIGPIPE);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(close(sv[1]));
	CHECK_ERR(send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
	CHECK_EQ(th_signal_count(SIGPIPE), 0);
	CHECK_ERR(write(sv[0], "x", 1), EPIPE);
	CHECK_EQ(th_signal_count(SIGPIPE), 1);
	CHECK_OK(close(sv[0]));
}

/* Without SA_RESTART a blocked recv returns EINTR. */
static void
signal_eintr(void)
{
	int sv[2];
	char c;

	handle(SIGUSR1, 0);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	th_signal_after(pthread_self(), SIGUSR1, 100);
	CHECK_ERR(recv(sv[0], &c, 1, 0), EINTR);
	th_signal_after(pthread_self(), SIGUSR1, 100);
	CHECK_ERR(accept(sv[0], NULL, NULL), EINVAL);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* With SA_RESTART it goes on waiting, unless SO_RCVTIMEO is set. */
static void
signal_restart(void)
{
	struct timeval tv = { 5, 0 };
	struct delayed d;
	pthread_t t;
	int sv[2];
	char c;

	handle(SIGUSR1, SA_RESTART);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	th_signal_after(pthread_self(), SIGUSR1, 100);
	t = write_after(&d, sv[1], 400);
	CHECK_EQ(recv(sv[0], &c, 1, 0), 1);
	pthread_join(t, NULL);
	CHECK_OK(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	th_signal_after(pthread_self(), SIGUSR1, 100);
	CHECK_ERR(recv(sv[0], &c, 1, 0), EINTR);
	/* poll is never restarted. */
	struct pollfd pfd = { .fd = sv[0], .events = POLLIN };
	th_signal_after(pthread_self(), SIGUSR1, 100);
	CHECK_ERR(poll(&pfd, 1, -1), EINTR);
	th_sleep_ms(50);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

#define PINGS		500
#define NTHREADS	8

static void *
ping_pong(void *arg)
{
	int sv[2], fails = 0;
	char c = 'p';

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
		return (void *)1L;
	for (int i = 0; i < PINGS; i++) {
		if (send(sv[0], &c, 1, 0) != 1 || recv(sv[1], &c, 1, 0) != 1 ||
		    send(sv[1], &c, 1, 0) != 1 || recv(sv[0], &c, 1, 0) != 1)
			fails++;
	}
	close(sv[0]);
	close(sv[1]);
	return (void *)(long)fails;
}

/* Many threads with sockets of their own at once. */
static void
threads_at_once(void)
{
	pthread_t t[NTHREADS];
	void *r;

	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, ping_pong, NULL);
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], &r);
		CHECK_EQ((long)r, 0);
	}
}

/* sendmmsg and recvmmsg move several datagrams per call. */
static void
mmsg_calls(void)
{
	char out[3][4] = { "one", "two", "six" }, in[3][4];
	struct iovec oiov[3], iiov[3];
	struct mmsghdr om[3], im[3];
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	memset(om, 0, sizeof(om));
	memset(im, 0, sizeof(im));
	for (int i = 0; i < 3; i++) {
		oiov[i] = (struct iovec){ out[i], 4 };
		iiov[i] = (struct iovec){ in[i], 4 };
		om[i].msg_hdr.msg_iov = &oiov[i];
		om[i].msg_hdr.msg_iovlen = 1;
		im[i].msg_hdr.msg_iov = &iiov[i];
		im[i].msg_hdr.msg_iovlen = 1;
	}
	CHECK_EQ(sendmmsg(sv[0], om, 3, 0), 3);
	CHECK_EQ(recvmmsg(sv[1], im, 3, MSG_WAITFORONE, NULL), 3);
	CHECK_EQ(im[2].msg_len, 4);
	CHECK_MEM(in[2], "six", 4);
	CHECK_ERR(recvmmsg(sv[1], im, 3, MSG_DONTWAIT, NULL), EAGAIN);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* close_range closes sockets with the rest. */
static void
close_range_sockets(void)
{
	int sv[2], lo;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	lo = sv[0] < sv[1] ? sv[0] : sv[1];
	CHECK_OK(close_range((unsigned)lo, (unsigned)lo + 1, 0));
	CHECK_ERR(send(sv[0], "x", 1, 0), EBADF);
	CHECK_ERR(fcntl(sv[1], F_GETFD), EBADF);
}

/*
 * A forked child: on Linux (and under ksock-run --ksockd) it shares the
 * parent's sockets; under ksock-run they are unusable there (EBADF)
 * while it can make its own, and the parent's keep working.
 */
static void
fork_child(void)
{
	int sv[2], ws;
	pid_t pid;
	char c;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(send(sv[1], "a", 1, 0), 1);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int cv[2], bad = 0;

		if (in_process_ksock()) {
			bad += recv(sv[0], &c, 1, 0) != -1 || errno != EBADF;
			bad += close(sv[0]) != 0;
		} else {
			bad += recv(sv[0], &c, 1, 0) != 1;
		}
		bad += socketpair(AF_UNIX, SOCK_DGRAM, 0, cv) != 0;
		bad += send(cv[0], "k", 1, 0) != 1 || recv(cv[1], &c, 1, 0) != 1;
		_exit(bad);
	}
	CHECK(pid > 0);
	CHECK_EQ(waitpid(pid, &ws, 0), pid);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	if (in_process_ksock())
		CHECK_EQ(recv(sv[0], &c, 1, 0), 1);
	CHECK_EQ(send(sv[0], "b", 1, 0), 1);
	CHECK_EQ(recv(sv[1], &c, 1, 0), 1);
	CHECK_EQ(c, 'b');
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* Another thread of the parent sends and receives without pause. */
static int busy_sv[2];
static atomic_int busy_stop;

static void *
busy_pair(void *arg)
{
	char c = 'x';

	while (!atomic_load(&busy_stop))
		if (send(busy_sv[0], &c, 1, 0) != 1 ||
		    recv(busy_sv[1], &c, 1, 0) != 1)
			return (void *)1;
	return NULL;
}

/*
 * Forks while another thread is inside socket calls, 200 times: every
 * child runs to its end (under ksock-run none may hang on a lock the busy
 * thread held at the fork) and the parent's pair keeps working.
 */
static void
fork_while_busy(void)
{
	void *thread_result;
	pthread_t t;
	int ws;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, busy_sv));
	atomic_store(&busy_stop, 0);
	CHECK_EQ(pthread_create(&t, NULL, busy_pair, NULL), 0);
	for (int i = 0; i < 200; i++) {
		pid_t pid;

		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			int s = socket(AF_UNIX, SOCK_DGRAM, 0);

			_exit(s < 0 || close(s) != 0);
		}
		CHECK(pid > 0);
		/* A child can hang inside fork() itself, before it could set
		 * an alarm: the parent gives it 5 s, then kills it. */
		for (int ms = 0; waitpid(pid, &ws, WNOHANG) == 0; ms++) {
			if (ms == 5000) {
				kill(pid, SIGKILL);
				CHECK_EQ(waitpid(pid, &ws, 0), pid);
				break;
			}
			th_sleep_ms(1);
		}
		if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
			CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
			break;
		}
	}
	atomic_store(&busy_stop, 1);
	CHECK_EQ(pthread_join(t, &thread_result), 0);
	CHECK(thread_result == NULL);
	CHECK_OK(close(busy_sv[0]));
	CHECK_OK(close(busy_sv[1]));
}

/* A poll array the kernel refuses gives its error, with a socket open. */
static void
poll_bad_array(void)
{
	struct pollfd p[2] = { { .fd = -1 }, { .fd = -1 } };
	struct pollfd *volatile none = NULL;	/* hidden from -Wnonnull */
	struct rlimit rl;
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	p[0] = (struct pollfd){ .fd = sv[0], .events = POLLOUT };
	CHECK_ERR(poll(none, 1, 0), EFAULT);
	CHECK_ERR(ppoll(none, 2, NULL, NULL), EFAULT);
	CHECK_OK(getrlimit(RLIMIT_NOFILE, &rl));
	CHECK_ERR(poll(p, (nfds_t)rl.rlim_cur + 1, 0), EINVAL);
	CHECK_EQ(poll(p, 1, 0), 1);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/*
 * A kernel socket bound at a new path, after the path of a listener
 * served by ksock was unlinked, is the one a connect to that path
 * reaches: the new node cannot take the listener's inode number, which
 * the listener still holds. The kernel socket is made with raw system
 * calls, which ksock-run leaves alone.
 */
static void
connect_kernel_socket_after_unlink(void)
{
	struct sockaddr_un sx, sy;
	socklen_t lx = th_addr_path(&sx, "x"), ly = th_addr_path(&sy, "y");
	struct stat st_x, st_y;
	int a, k, c, s;

	a = CHECK_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
	CHECK_OK(bind(a, (struct sockaddr *)&sx, lx));
	CHECK_OK(listen(a, 4));
	CHECK_OK(lstat("x", &st_x));
	CHECK_OK(unlink("x"));
	k = (int)CHECK_OK(syscall(SYS_socket, AF_UNIX,
				  SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	CHECK_OK(syscall(SYS_bind, k, &sy, ly));
	CHECK_OK(syscall(SYS_listen, k, 4));
	CHECK_OK(lstat("y", &st_y));
	CHECK(st_y.st_ino != st_x.st_ino);

	c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&sy, ly));
	s = (int)CHECK_OK(syscall(SYS_accept4, k, NULL, NULL, SOCK_CLOEXEC));
	CHECK_ERR(accept(a, NULL, NULL), EAGAIN);
	CHECK_OK(close(s));
	CHECK_OK(close(c));
	CHECK_OK(close(k));
	CHECK_OK(close(a));
	CHECK_OK(unlink("y"));
}

/* What a thread that moved to a new network namespace sees of an
 * abstract name: 0 when it was refused there and could bind it, and
 * reached it again after moving back; else the errno of the step that
 * failed (-1 for an unexpected success). */
static void *
netns_thread(void *arg)
{
	const char *u = arg;
	struct sockaddr_un sun;
	socklen_t len = th_addr_abstract(&sun, u, strlen(u));
	intptr_t r = 0;
	int c, l, home;

	home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home < 0)
		return (void *)(intptr_t)errno;
	if (unshare(CLONE_NEWNET) < 0) {
		r = errno;
		close(home);
		return (void *)r;
	}
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(c, (struct sockaddr *)&sun, len) == 0)
		r = -1;
	else if (errno != ECONNREFUSED)
		r = errno;
	close(c);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	if (r == 0 && bind(l, (struct sockaddr *)&sun, len) < 0)
		r = errno;
	close(l);
	/* Back home, a new socket reaches the first namespace's name. */
	if (r == 0 && setns(home, CLONE_NEWNET) < 0)
		r = errno;
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (r == 0 && connect(c, (struct sockaddr *)&sun, len) < 0)
		r = errno;
	close(c);
	close(home);
	return (void *)r;
}

/* A thread that unshares its network namespace has abstract names of its
 * own: the ones bound in the process's first namespace are refused, and
 * it may bind them again; after a setns back, a new socket reaches them.
 * ksock-run learns of each move through unshare and setns. */
static void
abstract_names_follow_thread_netns(void)
{
	const char *u = th_unique();
	struct sockaddr_un sun;
	socklen_t len = th_addr_abstract(&sun, u, strlen(u));
	pthread_t t;
	void *r;
	int l;

	th_require_root();
	l = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(l, (struct sockaddr *)&sun, len));
	CHECK_OK(listen(l, 1));
	CHECK_EQ(pthread_create(&t, NULL, netns_thread, (void *)u), 0);
	CHECK_EQ(pthread_join(t, &r), 0);
	if ((intptr_t)r == EPERM) {
		CHECK_OK(close(l));
		th_skip("unshare(CLONE_NEWNET): EPERM");
	}
	CHECK_EQ((intptr_t)r, 0);
	/* Only the connect made after the setns home came here. */
	CHECK_OK(fcntl(l, F_SETFL, O_NONBLOCK));
	int s = CHECK_OK(accept(l, NULL, NULL));
	CHECK_OK(close(s));
	CHECK_ERR(accept(l, NULL, NULL), EAGAIN);
	CHECK_OK(close(l));
}

static char *segv_page;
static volatile sig_atomic_t segv_count;

/* The program's own handler: counts, then lets the access go on. */
static void
segv_handler(int sig)
{
	segv_count++;
	mprotect(segv_page, 4096, PROT_READ | PROT_WRITE);
}

/* A SIGSEGV handler a program installs after it has used its sockets
 * gets the program's own faults, and a bad buffer handed to recv is
 * still EFAULT (under ksock-run too, where the copy into the buffer is
 * ksock's), with the data kept. With sigaction, then with signal(). */
static void
own_segv_handler_after_sockets(void)
{
	struct sigaction sa, old;
	char buf[4];
	int sv[2];

	segv_page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	CHECK(segv_page != MAP_FAILED);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(send(sv[0], "ab", 2, 0), 2);
	CHECK_EQ(recv(sv[1], buf, 2, 0), 2);
	for (int round = 0; round < 2; round++) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = segv_handler;
		if (round == 0)
			CHECK_OK(sigaction(SIGSEGV, &sa, &old));
		else
			CHECK(signal(SIGSEGV, segv_handler) != SIG_ERR);
		CHECK_EQ(send(sv[0], "cd", 2, 0), 2);
		CHECK_ERR(recv(sv[1], segv_page, 2, 0), EFAULT);
		CHECK_EQ(segv_count, round);
		segv_page[0] = 1;	/* the handler's own fault */
		CHECK_EQ(segv_count, round + 1);
		CHECK_EQ(recv(sv[1], buf, 2, 0), 2);
		CHECK_MEM(buf, "cd", 2);
		/* The handler reads back, and the default comes back. */
		CHECK_OK(sigaction(SIGSEGV, NULL, &sa));
		CHECK(sa.sa_handler == segv_handler);
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		CHECK_OK(sigaction(SIGSEGV, &sa, NULL));
		CHECK_OK(mprotect(segv_page, 4096, PROT_NONE));
	}
	CHECK_OK(munmap(segv_page, 4096));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* -- epoll: edge-triggered, nested, huge timeouts (issue 9: 17, 19, 24) -- */

/* Writes one byte to @fd after @ms milliseconds, from a helper thread. */
struct late_write {
	pthread_t	t;
	int		fd;
	int		ms;
};

static void *
late_write_main(void *arg)
{
	struct late_write *lw = arg;

	th_sleep_ms(lw->ms);
	return send(lw->fd, "L", 1, 0) == 1 ? NULL : (void *)1;
}

static void
late_write_start(struct late_write *lw, int fd, int ms)
{
	lw->fd = fd;
	lw->ms = ms;
	CHECK_EQ(pthread_create(&lw->t, NULL, late_write_main, lw), 0);
}

static void
late_write_join(struct late_write *lw)
{
	void *r;

	CHECK_EQ(pthread_join(lw->t, &r), 0);
	CHECK(r == NULL);
}

/*
 * One byte to @fd after @ms milliseconds, from another process (under
 * ksock-run's in-process mode, whose sockets a child does not share,
 * from a helper thread). Joined with late_send_join().
 */
struct late_send {
	struct late_write lw;
	pid_t		 pid;
};

static void
late_send_start(struct late_send *ls, int fd, int ms)
{
	ls->pid = -1;
	if (in_process_ksock()) {
		late_write_start(&ls->lw, fd, ms);
		return;
	}
	ls->pid = CHECK_OK(fork());
	if (ls->pid == 0) {
		th_sleep_ms(ms);
		_exit(send(fd, "P", 1, 0) == 1 ? 0 : 1);
	}
}

static void
late_send_join(struct late_send *ls)
{
	int st;

	if (ls->pid < 0) {
		late_write_join(&ls->lw);
		return;
	}
	CHECK_EQ(waitpid(ls->pid, &st, 0), ls->pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* The voluntary context switches of the calling thread so far. */
static long
thread_sleeps(void)
{
	struct rusage ru;

	CHECK_OK(getrusage(RUSAGE_THREAD, &ru));
	return ru.ru_nvcsw;
}

/*
 * epoll_wait with no timeout over a socket and a pipe sleeps until the
 * socket, written by another process, is readable, and wakes for it:
 * the event is the socket's while the pipe stays silent. It sleeps
 * rather than looks in steps: a wait of 200 ms that looked every 10 ms
 * would block and wake some 20 times (issue 14: ksock-run --ksockd
 * did); one that sleeps blocks a few times at most.
 */
static void
epoll_sleeps_until_remote_event(void)
{
	struct epoll_event ev = { .events = EPOLLIN }, out[4];
	struct pollfd pp;
	struct late_send ls;
	int sv[2], p[2], ep;
	long before, slept;
	char c;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe(p));
	ep = CHECK_OK(epoll_create1(EPOLL_CLOEXEC));
	ev.data.u64 = 1;
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev));
	ev.data.u64 = 2;
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 0);
	late_send_start(&ls, sv[0], 200);
	before = thread_sleeps();
	CHECK_EQ(epoll_wait(ep, out, 4, -1), 1);
	slept = thread_sleeps() - before;
	late_send_join(&ls);
	CHECK_EQ(out[0].data.u64, 1);
	CHECK_EQ(out[0].events, EPOLLIN);
	CHECK(slept < 8);
	pp = (struct pollfd){ .fd = p[0], .events = POLLIN };
	CHECK_EQ(poll(&pp, 1, 0), 0);
	CHECK_EQ(recv(sv[1], &c, 1, 0), 1);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 0);
	CHECK_OK(close(ep));
	CHECK_OK(close(p[0]));
	CHECK_OK(close(p[1]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/*
 * The epoll descriptor itself, to poll and select: readable exactly
 * while an item is ready, and a poll or select that sleeps on it wakes
 * when another process makes a socket item readable. Edge-triggered,
 * an item is reported once per edge, and new bytes from the other
 * process are a new one.
 */
static void
epoll_fd_readable_to_poll(void)
{
	struct epoll_event ev = { .events = EPOLLIN }, out[4];
	struct late_send ls;
	struct pollfd pe;
	struct timeval tv;
	fd_set rd;
	int sv[2], ep;
	char buf[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ep = CHECK_OK(epoll_create1(EPOLL_CLOEXEC));
	ev.data.u64 = 5;
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev));
	pe = (struct pollfd){ .fd = ep, .events = POLLIN };
	CHECK_EQ(poll(&pe, 1, 0), 0);
	late_send_start(&ls, sv[0], 50);
	CHECK_EQ(poll(&pe, 1, 10000), 1);
	late_send_join(&ls);
	CHECK_EQ(pe.revents, POLLIN);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 1);
	CHECK_EQ(out[0].data.u64, 5);
	/* Level-triggered: still readable until read. */
	CHECK_EQ(poll(&pe, 1, 0), 1);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 1);
	CHECK_EQ(poll(&pe, 1, 0), 0);
	/* select, the same. */
	FD_ZERO(&rd);
	FD_SET(ep, &rd);
	tv = (struct timeval){ 0, 0 };
	CHECK_EQ(select(ep + 1, &rd, NULL, NULL, &tv), 0);
	late_send_start(&ls, sv[0], 50);
	FD_SET(ep, &rd);
	tv = (struct timeval){ 10, 0 };
	CHECK_EQ(select(ep + 1, &rd, NULL, NULL, &tv), 1);
	late_send_join(&ls);
	CHECK(FD_ISSET(ep, &rd));
	/* Edge-triggered: the unread byte is reported once after MOD. */
	ev.events = EPOLLIN | EPOLLET;
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_MOD, sv[1], &ev));
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 1);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 0);
	CHECK_EQ(poll(&pe, 1, 0), 0);
	late_send_start(&ls, sv[0], 50);
	CHECK_EQ(epoll_wait(ep, out, 4, -1), 1);
	late_send_join(&ls);
	CHECK_EQ(out[0].data.u64, 5);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 0);
	/* One-shot: reported once, then the instance is not readable for
	 * it, though its bytes are unread, until MOD arms it again. */
	ev.events = EPOLLIN | EPOLLONESHOT;
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_MOD, sv[1], &ev));
	CHECK_EQ(poll(&pe, 1, 0), 1);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 1);
	CHECK_EQ(poll(&pe, 1, 0), 0);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 0);
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_MOD, sv[1], &ev));
	CHECK_EQ(poll(&pe, 1, 0), 1);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 2);
	/* With a socket in the same poll, the same. */
	{
		struct pollfd two[2] = { { .fd = ep, .events = POLLIN },
					 { .fd = sv[0], .events = POLLIN } };

		ev.events = EPOLLIN;
		CHECK_OK(epoll_ctl(ep, EPOLL_CTL_MOD, sv[1], &ev));
		CHECK_EQ(poll(two, 2, 0), 0);
		late_send_start(&ls, sv[0], 50);
		CHECK_EQ(poll(two, 2, 10000), 1);
		late_send_join(&ls);
		CHECK_EQ(two[0].revents, POLLIN);
		CHECK_EQ(two[1].revents, 0);
		CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 1);
		CHECK_EQ(poll(two, 2, 0), 0);
	}
	CHECK_OK(close(ep));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/*
 * A forked child waits on the epoll instance it shares with its parent
 * while the parent's socket item is ready: whatever it is told is about
 * the program's items (on Linux the socket's, 6, and the pipe's, 7;
 * under ksock-run the child's copy has no socket items, docs/ksock-run.md
 * "One process" and "epoll"), never the library's own descriptors; and
 * the parent's instance still works afterwards.
 */
static void
epoll_shared_with_child(void)
{
	struct epoll_event ev = { .events = EPOLLIN }, out[4];
	struct late_send ls;
	int sv[2], p[2], ep, ws;
	pid_t pid;
	char c;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe(p));
	ep = CHECK_OK(epoll_create1(EPOLL_CLOEXEC));
	ev.data.u64 = 6;
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev));
	ev.data.u64 = 7;
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 0);
	CHECK_EQ(send(sv[0], "c", 1, 0), 1);
	fflush(stdout);
	pid = CHECK_OK(fork());
	if (pid == 0) {
		int bad = 0, k, seven = 0;

		k = epoll_wait(ep, out, 4, 50);
		bad += k < 0;
		for (int i = 0; i < k; i++)
			bad += out[i].data.u64 != 6;
		bad += write(p[1], "x", 1) != 1;
		k = epoll_wait(ep, out, 4, 5000);
		bad += k < 1;
		for (int i = 0; i < k; i++) {
			bad += out[i].data.u64 != 6 && out[i].data.u64 != 7;
			seven += out[i].data.u64 == 7;
		}
		bad += seven != 1;
		_exit(bad);
	}
	CHECK_EQ(waitpid(pid, &ws, 0), pid);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 2);
	CHECK(out[0].data.u64 + out[1].data.u64 == 13);
	CHECK_EQ(recv(sv[1], &c, 1, 0), 1);
	CHECK_EQ(read(p[0], &c, 1), 1);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 0);
	late_send_start(&ls, sv[0], 50);
	CHECK_EQ(epoll_wait(ep, out, 4, -1), 1);
	late_send_join(&ls);
	CHECK_EQ(out[0].data.u64, 6);
	CHECK_EQ(recv(sv[1], &c, 1, 0), 1);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 0);
	CHECK_OK(close(ep));
	CHECK_OK(close(p[0]));
	CHECK_OK(close(p[1]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/*
 * A socket closed while it is an item: the instance does not hold it
 * open (its peer reads the end at once), reports nothing for it, and
 * is not readable for it.
 */
static void
epoll_item_closed(void)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP }, out[4];
	struct pollfd pe;
	int sv[2], ep;
	char c;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ep = CHECK_OK(epoll_create1(EPOLL_CLOEXEC));
	ev.data.u64 = 9;
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev));
	CHECK_EQ(send(sv[0], "q", 1, 0), 1);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 1);
	CHECK_EQ(recv(sv[1], &c, 1, 0), 1);
	CHECK_OK(close(sv[1]));
	CHECK_EQ(recv(sv[0], &c, 1, 0), 0);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 0);
	pe = (struct pollfd){ .fd = ep, .events = POLLIN };
	CHECK_EQ(poll(&pe, 1, 0), 0);
	CHECK_EQ(epoll_wait(ep, out, 4, 20), 0);
	CHECK_OK(close(ep));
	CHECK_OK(close(sv[0]));
}

/* Edge-triggered: a partial read is no new edge; only new data is, and
 * a blocking wait sleeps through the partial read's leftovers. */
static void
epoll_et_partial_read(void)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET }, out[4];
	struct late_write lw;
	int sv[2], ep;
	char buf[16];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ep = CHECK_OK(epoll_create1(EPOLL_CLOEXEC));
	ev.data.u64 = 7;
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev));
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 0);
	CHECK_EQ(send(sv[0], "0123456789", 10, 0), 10);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 1);
	CHECK_EQ(out[0].events, EPOLLIN);
	CHECK_EQ(out[0].data.u64, 7);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 0);
	CHECK_EQ(recv(sv[1], buf, 3, 0), 3);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 0);
	CHECK_EQ(recv(sv[1], buf, 3, 0), 3);
	CHECK_EQ(epoll_wait(ep, out, 4, 30), 0);
	/* New data is a new edge, also for a sleeping waiter. */
	late_write_start(&lw, sv[0], 10);
	CHECK_EQ(epoll_wait(ep, out, 4, 5000), 1);
	late_write_join(&lw);
	CHECK_EQ(out[0].data.u64, 7);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 0);
	/* Level-triggered again after MOD: still readable, so reported. */
	ev.events = EPOLLIN;
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_MOD, sv[1], &ev));
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 1);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 1);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 5);
	CHECK_EQ(epoll_wait(ep, out, 4, 0), 0);
	CHECK_OK(close(ep));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* An epoll inside an epoll: the outer reports the inner only while
 * something in the inner is ready, and a level-triggered socket inside
 * stays ready for the outer after the inner reported it. */
static void
epoll_nested(void)
{
	struct epoll_event ev = { .events = EPOLLIN }, out[4];
	struct late_write lw;
	int sv[2], inner, outer;
	char buf[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	inner = CHECK_OK(epoll_create1(EPOLL_CLOEXEC));
	outer = CHECK_OK(epoll_create1(EPOLL_CLOEXEC));
	ev.data.u64 = 1;
	CHECK_OK(epoll_ctl(inner, EPOLL_CTL_ADD, sv[1], &ev));
	ev.data.u64 = 2;
	CHECK_OK(epoll_ctl(outer, EPOLL_CTL_ADD, inner, &ev));
	/* Nothing is ready. */
	CHECK_EQ(epoll_wait(outer, out, 4, 0), 0);
	CHECK_EQ(epoll_wait(inner, out, 4, 0), 0);
	CHECK_EQ(epoll_wait(outer, out, 4, 20), 0);
	/* Data: the inner is ready, and stays so while the data is unread. */
	CHECK_EQ(send(sv[0], "ab", 2, 0), 2);
	CHECK_EQ(epoll_wait(outer, out, 4, 0), 1);
	CHECK_EQ(out[0].data.u64, 2);
	CHECK_EQ(epoll_wait(inner, out, 4, 0), 1);
	CHECK_EQ(out[0].data.u64, 1);
	CHECK_EQ(epoll_wait(outer, out, 4, 0), 1);
	CHECK_EQ(epoll_wait(inner, out, 4, 0), 1);
	CHECK_EQ(epoll_wait(outer, out, 4, 0), 1);
	/* Read: nothing is ready any more, for either. */
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 2);
	CHECK_EQ(epoll_wait(outer, out, 4, 0), 0);
	CHECK_EQ(epoll_wait(inner, out, 4, 0), 0);
	CHECK_EQ(epoll_wait(outer, out, 4, 0), 0);
	/* A sleeping outer wakes for a socket of the inner. */
	late_write_start(&lw, sv[0], 10);
	CHECK_EQ(epoll_wait(outer, out, 4, 5000), 1);
	late_write_join(&lw);
	CHECK_EQ(out[0].data.u64, 2);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 1);
	CHECK_EQ(epoll_wait(outer, out, 4, 0), 0);
	/* poll on the inner says the same. */
	{
		struct pollfd p = { .fd = inner, .events = POLLIN };

		CHECK_EQ(poll(&p, 1, 0), 0);
		CHECK_EQ(send(sv[0], "c", 1, 0), 1);
		CHECK_EQ(poll(&p, 1, 0), 1);
		CHECK_EQ(p.revents, POLLIN);
		CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 1);
		CHECK_EQ(poll(&p, 1, 0), 0);
	}
	/* An inner instance closed while held: gone from the outer. */
	{
		int gone = CHECK_OK(epoll_create1(0));

		ev.data.u64 = 3;
		CHECK_OK(epoll_ctl(gone, EPOLL_CTL_ADD, sv[0], &ev));
		CHECK_OK(epoll_ctl(outer, EPOLL_CTL_ADD, gone, &ev));
		CHECK_EQ(send(sv[1], "d", 1, 0), 1);
		CHECK_EQ(epoll_wait(outer, out, 4, 0), 1);
		CHECK_EQ(out[0].data.u64, 3);
		CHECK_OK(close(gone));
		CHECK_EQ(epoll_wait(outer, out, 4, 0), 0);
		CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 1);
	}
	CHECK_OK(close(outer));
	CHECK_OK(close(inner));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* epoll_pwait2 with a timeout of thousands of years waits (no overflow
 * into "at once" or "never"); an invalid one is EINVAL. */
static void
epoll_pwait2_huge_timeout(void)
{
	struct epoll_event ev = { .events = EPOLLIN }, out[2];
	struct timespec huge = { .tv_sec = (time_t)1 << 40, .tv_nsec = 999999999 };
	struct timespec bad = { .tv_sec = 1, .tv_nsec = 1000000000 };
	struct late_write lw;
	long long t0;
	int sv[2], ep;
	char c;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ep = CHECK_OK(epoll_create1(0));
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev));
	CHECK_ERR(epoll_pwait2(ep, out, 2, &bad, NULL), EINVAL);
	t0 = th_now_ms();
	late_write_start(&lw, sv[0], 30);
	CHECK_EQ(epoll_pwait2(ep, out, 2, &huge, NULL), 1);
	late_write_join(&lw);
	CHECK(th_now_ms() - t0 >= 25);
	CHECK_EQ(recv(sv[1], &c, 1, 0), 1);
	huge.tv_sec = INT64_MAX;
	t0 = th_now_ms();
	late_write_start(&lw, sv[0], 30);
	CHECK_EQ(epoll_pwait2(ep, out, 2, &huge, NULL), 1);
	late_write_join(&lw);
	CHECK(th_now_ms() - t0 >= 25);
	CHECK_EQ(recv(sv[1], &c, 1, 0), 1);
	CHECK_OK(close(ep));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

#define MANY_EP	100

/* Many ready items, fewer events per call: level-triggered items come
 * round in turn, so a few calls report every one; a closed socket leaves
 * the set. */
static void
epoll_many_ready_rotate(void)
{
	static int sv[MANY_EP][2];
	struct epoll_event ev = { .events = EPOLLIN }, out[16];
	bool seen[MANY_EP] = { false };
	int ep, k, nseen = 0;
	char c;

	ep = CHECK_OK(epoll_create1(0));
	for (int i = 0; i < MANY_EP; i++) {
		CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]));
		ev.data.u64 = (uint64_t)i;
		CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[i][1], &ev));
	}
	CHECK_EQ(epoll_wait(ep, out, 16, 0), 0);
	for (int i = 0; i < MANY_EP; i++)
		CHECK_EQ(send(sv[i][0], "m", 1, 0), 1);
	for (int call = 0; call < (MANY_EP + 15) / 16; call++) {
		k = epoll_wait(ep, out, 16, 0);
		CHECK_EQ(k, 16);
		for (int j = 0; j < k; j++) {
			uint64_t d = out[j].data.u64;

			CHECK(d < MANY_EP);
			if (d < MANY_EP && !seen[d]) {
				seen[d] = true;
				nseen++;
			}
		}
	}
	CHECK_EQ(nseen, MANY_EP);
	/* Half read, half closed: nothing is ready. */
	for (int i = 0; i < MANY_EP; i++) {
		if (i % 2)
			CHECK_OK(close(sv[i][1]));
		else
			CHECK_EQ(recv(sv[i][1], &c, 1, 0), 1);
	}
	CHECK_EQ(epoll_wait(ep, out, 16, 0), 0);
	/* The open ones still report. */
	CHECK_EQ(send(sv[10][0], "n", 1, 0), 1);
	CHECK_EQ(epoll_wait(ep, out, 16, 1000), 1);
	CHECK_EQ(out[0].data.u64, 10);
	CHECK_EQ(recv(sv[10][1], &c, 1, 0), 1);
	for (int i = 0; i < MANY_EP; i++) {
		CHECK_OK(close(sv[i][0]));
		if (i % 2 == 0)
			CHECK_OK(close(sv[i][1]));
	}
	CHECK_OK(close(ep));
}

/* A file in the test's directory holding @text; returns its descriptor
 * after unlinking it. */
static int
file_with(const char *text)
{
	int fd = CHECK_OK(open("f", O_RDWR | O_CREAT | O_TRUNC, 0600));

	CHECK_EQ(write(fd, text, strlen(text)), (long)strlen(text));
	CHECK_OK(lseek(fd, 0, SEEK_SET));
	CHECK_OK(unlink("f"));
	return fd;
}

/* close(2) as a raw system call instruction, which no library sees. */
static long
raw_close(int fd)
{
#if defined(__x86_64__)
	long r;

	__asm__ volatile("syscall" : "=a"(r) : "a"((long)SYS_close), "D"((long)fd)
			 : "rcx", "r11", "memory");
	return r;
#else
	return close(fd);
#endif
}

/*
 * A socket closed through syscall(SYS_close) (libuv, Node.js) or a raw
 * system call is released: the peer reads the end, and a file that gets
 * the number is that file, not the dead socket.
 */
static void
close_behind_back(void)
{
	int sv[2], fd;
	char buf[8];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	/* The data calls through syscall(3) reach the socket too. */
	CHECK_EQ(syscall(SYS_write, sv[0], "ab", 2L), 2);
	CHECK_EQ(syscall(SYS_read, sv[1], buf, sizeof(buf)), 2);
	CHECK_EQ(syscall(SYS_sendto, sv[1], "c", 1L, 0L, NULL, 0L), 1);
	CHECK_EQ(syscall(SYS_recvfrom, sv[0], buf, sizeof(buf), 0L, NULL, NULL), 1);
	CHECK_EQ(syscall(SYS_fcntl, sv[0], F_GETFL), O_RDWR);
	CHECK_OK(syscall(SYS_close, sv[0]));
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 0);
	fd = file_with("file");
	CHECK_EQ(fd, sv[0]);
	CHECK_EQ(read(fd, buf, sizeof(buf)), 4);
	CHECK_MEM(buf, "file", 4);
	CHECK_OK(close(fd));
	CHECK_OK(close(sv[1]));

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(raw_close(sv[0]), 0);
	fd = file_with("raw!");
	CHECK_EQ(fd, sv[0]);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 0);
	CHECK_EQ(read(fd, buf, sizeof(buf)), 4);
	CHECK_MEM(buf, "raw!", 4);
	CHECK_EQ(write(fd, "x", 1), 1);
	CHECK_OK(close(fd));
	CHECK_OK(close(sv[1]));

	/* Reused by a file before any lookup: the file, not the socket. */
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(raw_close(sv[0]), 0);
	fd = (int)CHECK_OK(syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY));
	CHECK_EQ(fd, sv[0]);
	CHECK_EQ(read(fd, buf, sizeof(buf)), 0);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 0);
	CHECK_OK(close(fd));
	CHECK_OK(close(sv[1]));
}

/* A page that is not mapped: every call that reads or writes through it
 * fails with EFAULT, as on Linux, and nothing crashes. */
static void *
unmapped_page(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, (size_t)pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	CHECK(p != MAP_FAILED);
	CHECK_OK(munmap(p, (size_t)pg));
	return p;
}

/* poll, ppoll, select and epoll on a socket with a bad array, mask,
 * time or event pointer, and sendfile to one with a bad offset, fail
 * with EFAULT (the socket's number in the set, or not, makes no
 * difference), and a read-only pollfd array too, when the answer cannot
 * be written back. */
static void
bad_pointers_efault(void)
{
	struct timespec ts0 = { 0, 0 };
	struct timeval tv0 = { 0, 0 };
	struct epoll_event ev = { .events = EPOLLOUT };
	struct pollfd p = { .events = POLLOUT }, *ro;
	void *bad = unmapped_page();
	long pg = sysconf(_SC_PAGESIZE);
	int sv[2], ep, kfd;
	char c;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	p.fd = sv[0];
	CHECK_ERR(poll(bad, 1, 0), EFAULT);
	CHECK_ERR(ppoll(bad, 1, &ts0, NULL), EFAULT);
	CHECK_ERR(ppoll(&p, 1, &ts0, bad), EFAULT);
	CHECK_ERR(select(sv[1] + 1, bad, NULL, NULL, &tv0), EFAULT);
	tv0.tv_usec = 0;
	CHECK_ERR(select(sv[1] + 1, NULL, bad, NULL, &tv0), EFAULT);
	ro = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ro != MAP_FAILED);
	*ro = p;
	CHECK_OK(mprotect(ro, (size_t)pg, PROT_READ));
	CHECK_ERR(poll(ro, 1, 0), EFAULT);
	CHECK_OK(munmap(ro, (size_t)pg));
	/* A long array that runs into a hole, sockets in its readable part. */
	ro = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ro != MAP_FAILED);
	CHECK_OK(munmap((char *)ro + pg, (size_t)pg));
	{
		struct pollfd *arr = (struct pollfd *)((char *)ro + pg) - 50;

		for (int i = 0; i < 50; i++)
			arr[i] = p;
		CHECK_ERR(poll(arr, 100, 0), EFAULT);
		CHECK_ERR(ppoll(arr, 100, &ts0, NULL), EFAULT);
		CHECK_EQ(poll(arr, 50, 0), 50);
	}
	CHECK_OK(munmap(ro, (size_t)pg));
	/* The calls still work. */
	CHECK_EQ(poll(&p, 1, 0), 1);
	CHECK_EQ(p.revents, POLLOUT);

	ep = CHECK_OK(epoll_create1(EPOLL_CLOEXEC));
	CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], bad), EFAULT);
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev));
	CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_MOD, sv[0], bad), EFAULT);
	CHECK_ERR(epoll_wait(ep, bad, 1, 0), EFAULT);
	CHECK_ERR(epoll_pwait(ep, bad, 1, 0, NULL), EFAULT);
	CHECK_ERR(epoll_pwait2(ep, &ev, 1, bad, NULL), EFAULT);
	CHECK_EQ(epoll_wait(ep, &ev, 1, 0), 1);
	CHECK_EQ(ev.events, (unsigned)EPOLLOUT);
	CHECK_OK(close(ep));
	/* sendfile to a socket: a bad offset is EFAULT, and nothing is
	 * sent. */
	kfd = CHECK_OK(open("/proc/self/exe", O_RDONLY));
	CHECK_ERR(sendfile(sv[0], kfd, bad, 1), EFAULT);
	CHECK_ERR(recv(sv[1], &c, 1, MSG_DONTWAIT), EAGAIN);
	CHECK_OK(close(kfd));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* Ways the kernel hands out a new number without open or socket; each
 * returns it (a pipe's other end is closed). kfd[0] is a kernel file,
 * kfd[1] and kfd[2] a connected pair. */
static int
new_by_pipe(const int *kfd)
{
	int p[2];

	CHECK_OK(pipe(p));
	CHECK_OK(close(p[1]));
	return p[0];
}

static int
new_by_pipe2_syscall(const int *kfd)
{
	int p[2];

	CHECK_OK(syscall(SYS_pipe2, p, O_CLOEXEC));
	CHECK_OK(close(p[1]));
	return p[0];
}

static int
new_by_dup(const int *kfd)
{
	return dup(kfd[0]);
}

static int
new_by_fcntl_dupfd(const int *kfd)
{
	return fcntl(kfd[0], F_DUPFD_CLOEXEC, 0);
}

static int
new_by_eventfd_syscall(const int *kfd)
{
	return (int)syscall(SYS_eventfd2, 0, 0);
}

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD	77
#endif

/* A pidfd ksock asks the kernel for (SO_PEERPIDFD on kfd[1]). */
static int
new_by_peerpidfd(const int *kfd)
{
	int pfd = -1;
	socklen_t len = sizeof(pfd);

	CHECK_OK(getsockopt(kfd[1], SOL_SOCKET, SO_PEERPIDFD, &pfd, &len));
	return pfd;
}

/* A kernel file received over the socket pair kfd[1] (SCM_RIGHTS). */
static int
new_by_scm_rights(const int *kfd)
{
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { .iov_base = "r", .iov_len = 1 };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	char byte;
	int fd;

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &kfd[0], sizeof(int));
	CHECK_EQ(sendmsg(kfd[2], &m, 0), 1);
	iov.iov_base = &byte;
	m.msg_controllen = sizeof(u.buf);
	CHECK_EQ(recvmsg(kfd[1], &m, 0), 1);
	c = CMSG_FIRSTHDR(&m);
	CHECK(c != NULL && c->cmsg_type == SCM_RIGHTS);
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* A socket's number closed by a raw system call and handed out again by
 * the kernel through any call the library sees: the socket is released
 * at once (its peer reads the end) and the number is the new file's. */
static void
raw_close_reclaimed(void)
{
	static int (*const make[])(const int *) = {
		new_by_pipe, new_by_pipe2_syscall, new_by_dup,
		new_by_fcntl_dupfd, new_by_eventfd_syscall, new_by_peerpidfd,
		new_by_scm_rights,
	};
	int kfd[3], cp[2];
	char c;

	kfd[0] = CHECK_OK(open("/dev/null", O_RDONLY));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, cp));
	kfd[1] = cp[0];
	kfd[2] = cp[1];

	for (size_t i = 0; i < sizeof(make) / sizeof(make[0]); i++) {
		int sv[2], fd;
		struct stat st;

		CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
		CHECK_EQ(raw_close(sv[0]), 0);
		fd = CHECK_OK(make[i](kfd));
		CHECK_EQ(fd, sv[0]);
		CHECK_EQ(recv(sv[1], &c, 1, MSG_DONTWAIT), 0);
		CHECK_OK(fstat(fd, &st));
		CHECK(!S_ISSOCK(st.st_mode));
		CHECK_ERR(send(fd, "x", 1, 0), ENOTSOCK);
		CHECK_OK(close(fd));
		CHECK_OK(close(sv[1]));
	}
	CHECK_OK(close(kfd[0]));
	CHECK_OK(close(cp[0]));
	CHECK_OK(close(cp[1]));
}

/* splice between a socket and a pipe checks its arguments in Linux's
 * order: a zero length first (0, whatever else is wrong), then the
 * flags, then an offset on the pipe's side (ESPIPE), then reading an
 * offset (EFAULT), then whether the socket can use one (EINVAL); and
 * nothing moves. */
static void
splice_checks_as_linux(void)
{
	void *bad = unmapped_page();
	loff_t off = 0;
	int sv[2], p[2];
	char c;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe(p));
	CHECK_EQ(send(sv[1], "s", 1, 0), 1);
	CHECK_EQ(write(p[1], "p", 1), 1);
	CHECK_EQ(splice(sv[0], bad, p[1], bad, 0, 0x100), 0);
	CHECK_ERR(splice(sv[0], NULL, p[1], NULL, 1, 0x100), EINVAL);
	CHECK_ERR(splice(sv[0], bad, p[1], &off, 1, 0), ESPIPE);
	CHECK_ERR(splice(sv[0], bad, p[1], NULL, 1, 0), EFAULT);
	CHECK_ERR(splice(p[0], NULL, sv[0], bad, 1, 0), EFAULT);
	CHECK_ERR(splice(sv[0], bad, sv[1], NULL, 1, 0), EFAULT);
	CHECK_ERR(splice(sv[0], &off, p[1], NULL, 1, 0), EINVAL);
	CHECK_ERR(splice(p[0], NULL, sv[0], &off, 1, 0), EINVAL);
	CHECK_ERR(splice(sv[0], NULL, sv[1], NULL, 1, 0), EINVAL);
	CHECK_EQ(recv(sv[0], &c, 1, MSG_DONTWAIT), 1);
	CHECK_EQ(c, 's');
	CHECK_EQ(read(p[0], &c, 1), 1);
	CHECK_EQ(c, 'p');
	CHECK_ERR(recv(sv[1], &c, 1, MSG_DONTWAIT), EAGAIN);
	CHECK_OK(close(p[0]));
	CHECK_OK(close(p[1]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* closefrom and close_range (without and with CLOSE_RANGE_UNSHARE)
 * release sockets; CLOSE_RANGE_CLOEXEC keeps them and sets the flag. */
static void
closefrom_close_range(void)
{
	int sv[2], n;
	char c;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(dup2(sv[0], 300), 300);
	CHECK_OK(close(sv[0]));
	closefrom(300);
	CHECK_ERR(fcntl(300, F_GETFD), EBADF);
	CHECK_EQ(recv(sv[1], &c, 1, 0), 0);
	CHECK_OK(close(sv[1]));

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(close_range((unsigned)sv[0], (unsigned)sv[0],
			     CLOSE_RANGE_CLOEXEC));
	CHECK_EQ(fcntl(sv[0], F_GETFD), FD_CLOEXEC);
	CHECK_EQ(send(sv[0], "a", 1, 0), 1);
	CHECK_ERR(close_range((unsigned)sv[0], (unsigned)sv[0], 0x100), EINVAL);
	CHECK_ERR(close_range((unsigned)sv[0] + 1, (unsigned)sv[0], 0), EINVAL);
	CHECK_EQ(send(sv[0], "b", 1, 0), 1);
	CHECK_OK(close_range((unsigned)sv[0], (unsigned)sv[0],
			     CLOSE_RANGE_UNSHARE));
	CHECK_ERR(send(sv[0], "c", 1, 0), EBADF);
	CHECK_EQ(recv(sv[1], &c, 1, 0), 1);
	CHECK_EQ(recv(sv[1], &c, 1, 0), 1);
	CHECK_EQ(recv(sv[1], &c, 1, 0), 0);
	n = CHECK_OK(open("/dev/null", O_RDONLY));
	CHECK_EQ(n, sv[0]);
	CHECK_EQ(read(n, &c, 1), 0);
	CHECK_OK(close(n));
	CHECK_OK(close(sv[1]));
}

/* stdio on an fdopen()ed socket, and fclose() closes it. */
static void
fdopen_stdio(void)
{
	char buf[32] = { 0 };
	int sv[2];
	FILE *fp;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	fp = fdopen(sv[0], "r+");
	CHECK(fp != NULL);
	if (fp == NULL)
		return;
	CHECK_EQ(fileno(fp), sv[0]);
	CHECK(fprintf(fp, "hello %d\n", 42) == 9);
	CHECK_OK(fflush(fp));
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 9);
	CHECK_MEM(buf, "hello 42\n", 9);
	CHECK_EQ(send(sv[1], "line two\nrest", 13, 0), 13);
	CHECK(fgets(buf, sizeof(buf), fp) != NULL);
	CHECK(strcmp(buf, "line two\n") == 0);
	CHECK_EQ(fgetc(fp), 'r');
	CHECK_ERR(ftell(fp), ESPIPE);
	CHECK_OK(fclose(fp));
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 0);
	CHECK_ERR(fcntl(sv[0], F_GETFD), EBADF);
	CHECK_OK(close(sv[1]));
	CHECK(fdopen(sv[1], "r") == NULL);
	CHECK_EQ(errno, EBADF);
}

/* Waits up to @ms for the blocked signal @sig. Returns it, or -1. */
static int
wait_signal(int sig, siginfo_t *si, int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, sig);
	return sigtimedwait(&set, si, &ts);
}

static void
drain_signals(int sig)
{
	siginfo_t si;

	while (wait_signal(sig, &si, 0) == sig)
		;
}

/*
 * The si_code of an O_ASYNC signal for the reason @code: Linux's
 * POLL_IN..., but SI_QUEUE from a ksockd server, which the kernel does
 * not let queue a positive si_code to another process (docs/ksockd.md);
 * si_band says the reason there too.
 */
static int
sigio_code(int code)
{
	return under_ksockd() ? SI_QUEUE : code;
}

/*
 * O_ASYNC: SIGIO to the owner when data arrives; with F_SETSIG the
 * signal carries si_fd, si_code and si_band: POLL_IN for data and for a
 * connection, POLL_OUT when room comes back after a send found none,
 * POLL_HUP when the peer closes. Nothing without O_ASYNC.
 */
static void
sigio_readiness(void)
{
	int sig = SIGRTMIN + 1, sv[2], dv[2], lfd, cfd, on = 1;
	struct sockaddr_un sun = { .sun_family = AF_UNIX, .sun_path = "s" };
	sigset_t set, old;
	char buf[4096];
	siginfo_t si;
	long n;

	sigemptyset(&set);
	sigaddset(&set, SIGIO);
	sigaddset(&set, sig);
	CHECK_OK(pthread_sigmask(SIG_BLOCK, &set, &old));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(fcntl(sv[0], F_SETOWN, getpid()));
	CHECK_EQ(send(sv[1], "a", 1, 0), 1);
	CHECK_EQ(wait_signal(SIGIO, &si, 50), -1);
	CHECK_EQ(recv(sv[0], buf, 1, 0), 1);

	CHECK_OK(ioctl(sv[0], FIOASYNC, &on));
	CHECK_EQ(send(sv[1], "b", 1, 0), 1);
	CHECK_EQ(wait_signal(SIGIO, &si, 2000), SIGIO);
	CHECK_EQ(recv(sv[0], buf, 1, 0), 1);
	drain_signals(SIGIO);

	CHECK_OK(fcntl(sv[0], F_SETSIG, sig));
	CHECK_EQ(send(sv[1], "c", 1, 0), 1);
	CHECK_EQ(wait_signal(sig, &si, 2000), sig);
	CHECK_EQ(si.si_fd, sv[0]);
	CHECK_EQ(si.si_code, sigio_code(POLL_IN));
	CHECK_EQ(si.si_band, POLLIN | POLLRDNORM);
	CHECK_EQ(recv(sv[0], buf, 1, 0), 1);
	drain_signals(sig);

	/* Room again, after a send that found none. */
	CHECK_OK(fcntl(sv[0], F_SETFL, O_NONBLOCK | O_ASYNC));
	while (send(sv[0], buf, sizeof(buf), 0) > 0)
		;
	CHECK_EQ(errno, EAGAIN);
	drain_signals(sig);
	while ((n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		;
	CHECK_EQ(wait_signal(sig, &si, 2000), sig);
	CHECK_EQ(si.si_code, sigio_code(POLL_OUT));
	CHECK_EQ(si.si_band, POLLOUT | POLLWRNORM | POLLWRBAND);
	drain_signals(sig);

	/* The same for a datagram socket whose peer's queue was full. */
	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, dv));
	CHECK_OK(fcntl(dv[0], F_SETOWN, getpid()));
	CHECK_OK(fcntl(dv[0], F_SETSIG, sig));
	CHECK_OK(fcntl(dv[0], F_SETFL, O_NONBLOCK | O_ASYNC));
	while (send(dv[0], buf, 64, 0) > 0)
		;
	CHECK_EQ(errno, EAGAIN);
	drain_signals(sig);
	while (recv(dv[1], buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	CHECK_EQ(wait_signal(sig, &si, 2000), sig);
	CHECK_EQ(si.si_code, sigio_code(POLL_OUT));
	CHECK_EQ(si.si_fd, dv[0]);
	drain_signals(sig);
	/* A closed socket signals nothing, not even its own hang-up, nor
	 * its peer's close after it. */
	CHECK_OK(close(dv[0]));
	CHECK_OK(close(dv[1]));
	CHECK_EQ(wait_signal(sig, &si, 200), -1);

	CHECK_OK(close(sv[1]));
	CHECK_EQ(wait_signal(sig, &si, 2000), sig);
	CHECK_EQ(si.si_code, sigio_code(POLL_HUP));
	CHECK_EQ(si.si_band, POLLHUP | POLLERR);
	CHECK_EQ(si.si_fd, sv[0]);
	drain_signals(sig);
	CHECK_OK(close(sv[0]));

	/* A connection arriving at a listener. */
	lfd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)));
	CHECK_OK(listen(lfd, 4));
	CHECK_OK(fcntl(lfd, F_SETOWN, getpid()));
	CHECK_OK(fcntl(lfd, F_SETSIG, sig));
	CHECK_OK(fcntl(lfd, F_SETFL, O_ASYNC));
	CHECK_EQ(fcntl(lfd, F_GETFL) & O_ASYNC, O_ASYNC);
	cfd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(connect(cfd, (struct sockaddr *)&sun, sizeof(sun)));
	CHECK_EQ(wait_signal(sig, &si, 2000), sig);
	CHECK_EQ(si.si_fd, lfd);
	CHECK_EQ(si.si_code, sigio_code(POLL_IN));
	drain_signals(sig);
	/* Off again: nothing. */
	CHECK_OK(fcntl(lfd, F_SETFL, 0));
	sv[0] = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(connect(sv[0], (struct sockaddr *)&sun, sizeof(sun)));
	CHECK_EQ(wait_signal(sig, &si, 50), -1);
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(cfd));
	CHECK_OK(close(lfd));
	CHECK_OK(unlink("s"));
	drain_signals(sig);
	drain_signals(SIGIO);
	CHECK_OK(pthread_sigmask(SIG_SETMASK, &old, NULL));
}

/*
 * O_ASYNC's signal reaches an owner in another process: a process
 * (F_SETOWN pid), with F_SETSIG's si_fd and si_band as Linux gives them
 * (not in the in-process mode, which can only kill() another process),
 * then a process group (F_SETOWN -pgrp) with SIGIO.
 */
static void
sigio_other_process(void)
{
	int sig = SIGRTMIN + 2, sv[2], go[2], ws;
	sigset_t set, old;
	char c;
	pid_t pid;

	sigemptyset(&set);
	sigaddset(&set, SIGIO);
	sigaddset(&set, sig);
	CHECK_OK(pthread_sigmask(SIG_BLOCK, &set, &old));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe(go));
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		siginfo_t si;
		int bad = 0;

		/* A group of its own, then the parent may go on. */
		if (setpgid(0, 0) != 0 || write(go[1], "r", 1) != 1)
			_exit(1);
		if (wait_signal(sig, &si, 5000) != sig)
			_exit(2);
		if (!in_process_ksock())
			bad |= (si.si_fd != sv[0]) << 2 |
			       (si.si_band != (POLLIN | POLLRDNORM)) << 3;
		if (wait_signal(SIGIO, &si, 5000) != SIGIO)
			bad |= 1 << 4;
		_exit(bad);
	}
	CHECK(pid > 0);
	CHECK_EQ(read(go[0], &c, 1), 1);
	CHECK_OK(fcntl(sv[0], F_SETOWN, pid));
	CHECK_EQ(fcntl(sv[0], F_GETOWN), pid);
	CHECK_OK(fcntl(sv[0], F_SETSIG, sig));
	CHECK_OK(fcntl(sv[0], F_SETFL, O_ASYNC));
	CHECK_EQ(send(sv[1], "a", 1, 0), 1);
	CHECK_EQ(recv(sv[0], &c, 1, 0), 1);
	CHECK_OK(fcntl(sv[0], F_SETSIG, 0));
	CHECK_OK(fcntl(sv[0], F_SETOWN, -pid));
	CHECK_EQ(fcntl(sv[0], F_GETOWN), -pid);
	CHECK_EQ(send(sv[1], "b", 1, 0), 1);
	CHECK_EQ(waitpid(pid, &ws, 0), pid);
	CHECK(WIFEXITED(ws));
	CHECK_EQ(WEXITSTATUS(ws), 0);
	CHECK_OK(close(go[0]));
	CHECK_OK(close(go[1]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
	drain_signals(SIGIO);
	drain_signals(sig);
	CHECK_OK(pthread_sigmask(SIG_SETMASK, &old, NULL));
}

static int thread_sv[2];

static void *
send_one_byte(void *arg)
{
	return (void *)(long)send(thread_sv[1], "t", 1, 0);
}

/*
 * A send from another thread than the main one signals the owner too,
 * with si_fd and si_band (the kernel lets only the main thread queue a
 * positive si_code to its process: the in-process mode's signal from
 * another thread then says SI_QUEUE, as the server's).
 */
static void
sigio_from_other_thread(void)
{
	int sig = SIGRTMIN + 4;
	sigset_t set, old;
	pthread_t th;
	siginfo_t si;
	void *r;
	char c;

	sigemptyset(&set);
	sigaddset(&set, sig);
	CHECK_OK(pthread_sigmask(SIG_BLOCK, &set, &old));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, thread_sv));
	CHECK_OK(fcntl(thread_sv[0], F_SETOWN, getpid()));
	CHECK_OK(fcntl(thread_sv[0], F_SETSIG, sig));
	CHECK_OK(fcntl(thread_sv[0], F_SETFL, O_ASYNC));
	CHECK_OK(pthread_create(&th, NULL, send_one_byte, NULL));
	CHECK_OK(pthread_join(th, &r));
	CHECK_EQ((long)r, 1);
	CHECK_EQ(wait_signal(sig, &si, 2000), sig);
	CHECK(si.si_code == POLL_IN || (under_ksock() && si.si_code == SI_QUEUE));
	CHECK_EQ(si.si_fd, thread_sv[0]);
	CHECK_EQ(si.si_band, POLLIN | POLLRDNORM);
	CHECK_EQ(recv(thread_sv[0], &c, 1, 0), 1);
	CHECK_OK(close(thread_sv[0]));
	CHECK_OK(close(thread_sv[1]));
	drain_signals(sig);
	CHECK_OK(pthread_sigmask(SIG_SETMASK, &old, NULL));
}

/*
 * For the tests of the owner's setter: skips without root (processes of
 * other uids) and in the in-process mode (a forked child has no ksock
 * socket there); blocks @sig (the old mask in @old) and makes the pipe
 * @go the waiters say they are ready on.
 */
static void
setter_test_begin(int sig, sigset_t *old, int go[2])
{
	sigset_t set;

	th_require_root();
	if (in_process_ksock())
		th_skip("a forked child has no ksock socket in the in-process mode");
	sigemptyset(&set);
	sigaddset(&set, sig);
	CHECK_OK(pthread_sigmask(SIG_BLOCK, &set, old));
	CHECK_OK(pipe(go));
	fflush(stdout);
}

/* Undoes setter_test_begin(), and closes the test's socketpair @sv. */
static void
setter_test_end(int sig, const sigset_t *old, const int sv[2],
		const int go[2])
{
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
	CHECK_OK(close(go[0]));
	CHECK_OK(close(go[1]));
	drain_signals(sig);
	CHECK_OK(pthread_sigmask(SIG_SETMASK, old, NULL));
}

/*
 * Forks a process of uid @u that waits up to @ms for the blocked signal
 * @sig and exits 10 when it came, 20 when not (1: no uid); returns when
 * it runs as @u (it says so on @go).
 */
static pid_t
fork_waiter(uid_t u, int sig, int ms, const int go[2])
{
	pid_t pid = fork();
	char c;

	if (pid == 0) {
		siginfo_t si;

		if (setresuid(u, u, u) != 0 || write(go[1], "r", 1) != 1)
			_exit(1);
		_exit(wait_signal(sig, &si, ms) == sig ? 10 : 20);
	}
	CHECK(pid > 0);
	if (pid > 0)
		CHECK_EQ(read(go[0], &c, 1), 1);
	return pid;
}

/* The exit status of the child @pid, or -1. */
static int
child_status(pid_t pid)
{
	int ws;

	if (waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws))
		return -1;
	return WEXITSTATUS(ws);
}

/*
 * The owner's setter must be allowed to signal it (Linux's
 * sigio_perm(), checked with the uids of whoever did F_SETOWN): a
 * process of uid 65533 that makes another of uid 65534 the owner sends
 * it nothing, and one of the same uid gets SIGIO. Needs root.
 */
static void
sigio_owner_uid_checked(void)
{
	int sv[2], go[2];
	pid_t target[2], setter;
	sigset_t old;
	char c;

	setter_test_begin(SIGIO, &old, go);
	target[0] = fork_waiter(65534, SIGIO, 1000, go);
	target[1] = fork_waiter(65533, SIGIO, 5000, go);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	setter = fork();
	if (setter == 0) {
		int bad = 0;

		if (setresuid(65533, 65533, 65533) != 0)
			_exit(1);
		for (int i = 0; i < 2; i++) {
			bad |= fcntl(sv[0], F_SETOWN, target[i]) != 0;
			bad |= fcntl(sv[0], F_SETFL, O_ASYNC) != 0;
			bad |= send(sv[1], "x", 1, 0) != 1;
			bad |= recv(sv[0], &c, 1, 0) != 1;
			bad |= fcntl(sv[0], F_SETFL, 0) != 0;
		}
		_exit(bad);
	}
	CHECK(setter > 0);
	CHECK_EQ(child_status(setter), 0);
	CHECK_EQ(child_status(target[0]), 20);
	CHECK_EQ(child_status(target[1]), 10);
	setter_test_end(SIGIO, &old, sv, go);
}

/*
 * SIGURG too goes only where the owner's setter may signal, judged by
 * the setter's uids even after it is gone and only a root process holds
 * the socket: a setter of uid 65533 makes an owner of uid 65534 (no
 * SIGURG) and then one of uid 65533 (SIGURG) and exits; root sends the
 * out-of-band byte. Needs root.
 */
static void
sigurg_setter_uid_checked(void)
{
	int sv[2], go[2];
	sigset_t old;
	char c;

	setter_test_begin(SIGURG, &old, go);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	for (int i = 0; i < 2; i++) {
		pid_t target = fork_waiter(i == 0 ? 65534 : 65533, SIGURG,
					   i == 0 ? 1000 : 5000, go);
		pid_t setter = fork();

		if (setter == 0)
			_exit(setresuid(65533, 65533, 65533) != 0 ||
			      fcntl(sv[0], F_SETOWN, target) != 0);
		CHECK(setter > 0);
		CHECK_EQ(child_status(setter), 0);
		CHECK_EQ(fcntl(sv[0], F_GETOWN), target);
		CHECK_EQ(send(sv[1], "u", 1, MSG_OOB), 1);
		CHECK_EQ(child_status(target), i == 0 ? 20 : 10);
		CHECK_EQ(recv(sv[0], &c, 1, MSG_OOB), 1);
	}
	setter_test_end(SIGURG, &old, sv, go);
}

/* Opening a socket through /proc/self/fd or /dev/fd is ENXIO, except
 * with O_PATH. */
static void
proc_fd_open(void)
{
	char path[64];
	int sv[2], fd;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", sv[0]);
	CHECK_ERR(open(path, O_RDONLY), ENXIO);
	CHECK_ERR(open(path, O_RDWR), ENXIO);
	CHECK_ERR(open(path, O_WRONLY), ENXIO);
	CHECK_ERR(openat(AT_FDCWD, path, O_RDONLY), ENXIO);
	errno = 0;
	CHECK(fopen(path, "r") == NULL);
	CHECK_EQ(errno, ENXIO);
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)getpid(), sv[1]);
	CHECK_ERR(open(path, O_RDONLY), ENXIO);
	snprintf(path, sizeof(path), "/dev/fd/%d", sv[1]);
	CHECK_ERR(open(path, O_RDONLY), ENXIO);
	fd = CHECK_OK(open(path, O_PATH));
	CHECK_OK(close(fd));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/*
 * splice from a pipe into a socket and back, and sendfile from a file
 * into a socket: counts, offsets, SPLICE_F_NONBLOCK, and the errors.
 */
static void
splice_sendfile(void)
{
	int sv[2], p[2], fd;
	char buf[64];
	loff_t lo = 0;
	off_t off = 2;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe(p));
	CHECK_EQ(write(p[1], "hello", 5), 5);
	CHECK_EQ(splice(p[0], NULL, sv[0], NULL, 64, 0), 5);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 5);
	CHECK_MEM(buf, "hello", 5);
	CHECK_ERR(splice(p[0], NULL, sv[0], NULL, 5, SPLICE_F_NONBLOCK), EAGAIN);
	CHECK_ERR(splice(p[0], &lo, sv[0], NULL, 5, 0), ESPIPE);
	CHECK_ERR(splice(p[0], NULL, sv[0], &lo, 5, 0), EINVAL);
	CHECK_EQ(splice(p[0], NULL, sv[0], NULL, 0, 0), 0);
	CHECK_ERR(splice(sv[0], NULL, sv[1], NULL, 4, 0), EINVAL);
	CHECK_EQ(write(p[1], "abcdef", 6), 6);
	CHECK_EQ(splice(p[0], NULL, sv[0], NULL, 4, 0), 4);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 4);
	CHECK_MEM(buf, "abcd", 4);
	CHECK_EQ(read(p[0], buf, sizeof(buf)), 2);
	/* Out of a socket into a pipe: only what is asked for. */
	CHECK_EQ(send(sv[1], "xyz", 3, 0), 3);
	CHECK_EQ(splice(sv[0], NULL, p[1], NULL, 2, 0), 2);
	CHECK_EQ(read(p[0], buf, sizeof(buf)), 2);
	CHECK_MEM(buf, "xy", 2);
	CHECK_EQ(recv(sv[0], buf, sizeof(buf), 0), 1);
	CHECK_EQ(buf[0], 'z');
	CHECK_ERR(splice(sv[0], NULL, p[1], NULL, 2, SPLICE_F_NONBLOCK), EAGAIN);

	fd = file_with("0123456789");
	CHECK_EQ(sendfile(sv[0], fd, &off, 5), 5);
	CHECK_EQ(off, 7);
	CHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 5);
	CHECK_MEM(buf, "23456", 5);
	CHECK_EQ(sendfile(sv[0], fd, NULL, 3), 3);
	CHECK_EQ(lseek(fd, 0, SEEK_CUR), 3);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 3);
	CHECK_MEM(buf, "012", 3);
	CHECK_ERR(sendfile(sv[0], p[0], NULL, 3), EINVAL);
	/* A full non-blocking socket: EAGAIN, the file where it was. */
	CHECK_OK(fcntl(sv[0], F_SETFL, O_NONBLOCK));
	while (send(sv[0], buf, sizeof(buf), 0) > 0)
		;
	CHECK_ERR(sendfile(sv[0], fd, NULL, 3), EAGAIN);
	CHECK_EQ(lseek(fd, 0, SEEK_CUR), 3);
	CHECK_EQ(write(p[1], "q", 1), 1);
	CHECK_ERR(splice(p[0], NULL, sv[0], NULL, 1, 0), EAGAIN);
	CHECK_EQ(read(p[0], buf, 1), 1);
	CHECK_OK(close(fd));
	CHECK_OK(close(p[0]));
	CHECK_OK(close(p[1]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/*
 * sendfile from a file into a socket whose other end another process
 * reads with splice into a pipe: every byte crosses, in order, in more
 * than one step of the emulation; the file's position stays where it
 * was (sendfile had an offset).
 */
static void
sendfile_to_other_process(void)
{
	static char data[100000];
	int sv[2], fd, ws;
	off_t off = 0;
	pid_t pid;

	if (in_process_ksock())
		th_skip("a forked child has no ksock socket in the in-process mode");
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('a' + i % 23);
	fd = CHECK_OK(open("f", O_RDWR | O_CREAT | O_TRUNC, 0600));
	CHECK_EQ(write(fd, data, sizeof(data)), (long)sizeof(data));
	CHECK_OK(lseek(fd, 0, SEEK_SET));
	CHECK_OK(unlink("f"));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		static char got[sizeof(data)];
		size_t n = 0;
		int p[2];

		close(sv[0]);
		if (pipe(p) != 0)
			_exit(2);
		while (n < sizeof(got)) {
			long r = splice(sv[1], NULL, p[1], NULL,
					sizeof(got) - n, 0);

			if (r <= 0 || read(p[0], got + n, (size_t)r) != r)
				_exit(3);
			n += (size_t)r;
		}
		_exit(memcmp(got, data, sizeof(data)) != 0 ||
		      recv(sv[1], got, 1, 0) != 0);
	}
	CHECK(pid > 0);
	CHECK_OK(close(sv[1]));
	while (off < (off_t)sizeof(data)) {
		long r = sendfile(sv[0], fd, &off, sizeof(data) - (size_t)off);

		CHECK(r > 0);
		if (r <= 0)
			break;
	}
	CHECK_EQ(off, (off_t)sizeof(data));
	CHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);
	CHECK_OK(close(sv[0]));
	CHECK_EQ(waitpid(pid, &ws, 0), pid);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	CHECK_OK(close(fd));
}

/*
 * tee and vmsplice take pipes only: tee with a socket on either side is
 * EINVAL (0 for a zero length; EBADF when the other end cannot be read
 * or written as it must), vmsplice on a socket EBADF, as Linux says;
 * nothing moves.
 */
static void
tee_vmsplice_socket(void)
{
	struct iovec iov = { "v", 1 };
	int sv[2], p[2];
	char c;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe(p));
	CHECK_EQ(send(sv[1], "s", 1, 0), 1);
	CHECK_EQ(write(p[1], "p", 1), 1);
	CHECK_EQ(tee(sv[0], p[1], 0, 0), 0);
	CHECK_ERR(tee(sv[0], p[1], 1, 0), EINVAL);
	CHECK_ERR(tee(p[0], sv[0], 1, 0), EINVAL);
	CHECK_ERR(tee(p[0], sv[0], 1, 0x100), EINVAL);
	CHECK_ERR(tee(sv[0], -1, 1, 0), EBADF);
	CHECK_ERR(tee(sv[0], p[0], 1, 0), EBADF);
	CHECK_ERR(tee(p[1], sv[0], 1, 0), EBADF);
	CHECK_ERR(vmsplice(sv[0], &iov, 1, 0), EBADF);
	CHECK_EQ(recv(sv[0], &c, 1, MSG_DONTWAIT), 1);
	CHECK_EQ(c, 's');
	CHECK_EQ(read(p[0], &c, 1), 1);
	CHECK_EQ(c, 'p');
	CHECK_OK(close(p[0]));
	CHECK_OK(close(p[1]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

static int clone_sv[2];

static int
clone_main(void *arg)
{
	int cv[2], bad = 0;
	char c;

	if (under_ksock()) {
		bad += recv(clone_sv[0], &c, 1, 0) != -1 || errno != EBADF;
		bad += close(clone_sv[0]) != 0;
	} else {
		bad += recv(clone_sv[0], &c, 1, 0) != 1;
	}
	bad += socketpair(AF_UNIX, SOCK_DGRAM, 0, cv) != 0;
	bad += send(cv[0], "k", 1, 0) != 1 || recv(cv[1], &c, 1, 0) != 1;
	return bad;
}

/* A child made by clone() without CLONE_VM, or by a raw clone system
 * call that forks, is a forked child: see fork_child. */
static void
clone_child(void)
{
	size_t size = 256 * 1024;
	char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	int ws;
	pid_t pid;
	char c;

	CHECK(stack != MAP_FAILED);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, clone_sv));
	CHECK_EQ(send(clone_sv[1], "a", 1, 0), 1);
	fflush(stdout);
	pid = clone(clone_main, stack + size, SIGCHLD, NULL);
	CHECK(pid > 0);
	CHECK_EQ(waitpid(pid, &ws, 0), pid);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	if (under_ksock())
		CHECK_EQ(recv(clone_sv[0], &c, 1, 0), 1);
	CHECK_EQ(send(clone_sv[0], "b", 1, 0), 1);
	CHECK_EQ(recv(clone_sv[1], &c, 1, 0), 1);
	/* A raw clone system call that forks (no CLONE_VM, no stack). */
	CHECK_EQ(send(clone_sv[1], "a", 1, 0), 1);
	fflush(stdout);
	pid = (pid_t)syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
	if (pid == 0)
		_exit(clone_main(NULL));
	CHECK(pid > 0);
	CHECK_EQ(waitpid(pid, &ws, 0), pid);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	if (under_ksock())
		CHECK_EQ(recv(clone_sv[0], &c, 1, 0), 1);
	CHECK_OK(close(clone_sv[0]));
	CHECK_OK(close(clone_sv[1]));
	munmap(stack, size);
}

/* select and poll with a closed descriptor beside a ready socket: EBADF
 * and POLLNVAL. */
static void
select_closed(void)
{
	struct timeval tv = { 0, 0 };
	struct pollfd pfd[2];
	fd_set r, w;
	int sv[2], p[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK(pipe(p));
	CHECK_OK(close(p[1]));
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(sv[0], &w);
	FD_SET(p[1], &r);
	CHECK_ERR(select(p[1] + 1, &r, &w, NULL, &tv), EBADF);
	FD_ZERO(&w);
	FD_SET(sv[0], &w);
	FD_SET(p[1], &w);
	CHECK_ERR(pselect(p[1] + 1, NULL, &w, NULL, NULL, NULL), EBADF);
	pfd[0] = (struct pollfd){ .fd = sv[0], .events = POLLOUT };
	pfd[1] = (struct pollfd){ .fd = p[1], .events = POLLIN };
	CHECK_EQ(poll(pfd, 2, 0), 2);
	CHECK_EQ(pfd[1].revents, POLLNVAL);
	CHECK_OK(close(p[0]));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* SCM_CREDENTIALS naming pid 0 or -1 is ESRCH, even for a sender that may
 * claim other pids. */
static void
creds_bad_pid(void)
{
	int sv[2], on = 1;
	static const pid_t pids[] = { 0, -1 };

	if (geteuid() != 0)
		th_skip("needs privilege to claim another pid");
	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_OK(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)));
	for (size_t i = 0; i < 2; i++) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(struct ucred))];
		} u;
		struct ucred uc = { pids[i], getuid(), getgid() };
		struct iovec iov = { "x", 1 };
		struct msghdr m = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = u.b, .msg_controllen = sizeof(u.b),
		};

		memset(&u, 0, sizeof(u));
		u.h.cmsg_level = SOL_SOCKET;
		u.h.cmsg_type = SCM_CREDENTIALS;
		u.h.cmsg_len = CMSG_LEN(sizeof(uc));
		memcpy(CMSG_DATA(&u.h), &uc, sizeof(uc));
		CHECK_ERR(sendmsg(sv[0], &m, 0), ESRCH);
	}
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* A kernel socket bound at @path, made with raw system calls, which stay
 * the kernel's under ksock-run too: a peer outside ksock. */
static int
kernel_dgram_at(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = (int)CHECK_OK(syscall(SYS_socket, AF_UNIX, SOCK_DGRAM, 0));

	strcpy(sun.sun_path, path);
	CHECK_OK(syscall(SYS_bind, fd, &sun, sizeof(sun)));
	return fd;
}

/*
 * sendto, sendmsg and sendmmsg to a name bound outside ksock, from an
 * unnamed and from a named socket, and connect then send: the datagrams
 * arrive, with the sender's name.
 */
static void
send_to_outside(void)
{
	struct sockaddr_un to = { .sun_family = AF_UNIX, .sun_path = "k" };
	struct sockaddr_un me = { .sun_family = AF_UNIX, .sun_path = "me" };
	struct sockaddr_un from;
	socklen_t flen;
	struct iovec iov[2] = { { "ab", 2 }, { "cd", 2 } };
	struct msghdr m = { .msg_name = &to, .msg_namelen = sizeof(to),
			    .msg_iov = iov, .msg_iovlen = 2 };
	struct mmsghdr mm[2] = { { .msg_hdr = m }, { .msg_hdr = m } };
	int kfd = kernel_dgram_at("k"), fd;
	char buf[16];

	fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_EQ(sendto(fd, "one", 3, 0, (struct sockaddr *)&to, sizeof(to)), 3);
	CHECK_EQ(recv(kfd, buf, sizeof(buf), 0), 3);
	CHECK_MEM(buf, "one", 3);
	CHECK_EQ(sendmsg(fd, &m, 0), 4);
	CHECK_EQ(recv(kfd, buf, sizeof(buf), 0), 4);
	CHECK_MEM(buf, "abcd", 4);
	CHECK_EQ(sendmmsg(fd, mm, 2, 0), 2);
	CHECK_EQ(mm[1].msg_len, 4);
	CHECK_EQ(recv(kfd, buf, sizeof(buf), 0), 4);
	CHECK_EQ(recv(kfd, buf, sizeof(buf), 0), 4);
	CHECK_OK(close(fd));

	fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_EQ(sendmmsg(fd, mm, 2, 0), 2);
	CHECK_EQ(recv(kfd, buf, sizeof(buf), 0), 4);
	CHECK_EQ(recv(kfd, buf, sizeof(buf), 0), 4);
	CHECK_OK(close(fd));

	fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(bind(fd, (struct sockaddr *)&me, sizeof(me)));
	CHECK_EQ(sendto(fd, "two", 3, 0, (struct sockaddr *)&to, sizeof(to)), 3);
	flen = sizeof(from);
	CHECK_EQ(recvfrom(kfd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			  &flen), 3);
	CHECK(strcmp(from.sun_path, "me") == 0);
	CHECK_OK(close(fd));
	CHECK_OK(unlink("me"));

	fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(bind(fd, (struct sockaddr *)&me, sizeof(me)));
	CHECK_OK(connect(fd, (struct sockaddr *)&to, sizeof(to)));
	CHECK_EQ(send(fd, "three", 5, 0), 5);
	flen = sizeof(from);
	CHECK_EQ(recvfrom(kfd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			  &flen), 5);
	CHECK(strcmp(from.sun_path, "me") == 0);
	CHECK_OK(close(fd));
	CHECK_OK(unlink("me"));
	CHECK_OK(close(kfd));
	CHECK_OK(unlink("k"));
}

/*
 * A socket that moves to the kernel (a peer outside ksock, here at
 * abstract names) keeps what was set on it: O_NONBLOCK and FD_CLOEXEC on
 * a stream socket, whose connection is then usable both ways, and a
 * datagram socket's own abstract name, which its datagram carries.
 */
static void
outside_keeps_flags(void)
{
	char ln[64], kn[64], mn[64], buf[8];
	struct sockaddr_un la, ka, ma, from;
	socklen_t ll, kl, ml, flen = sizeof(from);
	int l, s, c, kfd, fd;

	snprintf(ln, sizeof(ln), "%s.l", th_unique());
	snprintf(kn, sizeof(kn), "%s.k", th_unique());
	snprintf(mn, sizeof(mn), "%s.m", th_unique());
	ll = th_addr_abstract(&la, ln, strlen(ln));
	kl = th_addr_abstract(&ka, kn, strlen(kn));
	ml = th_addr_abstract(&ma, mn, strlen(mn));
	l = (int)CHECK_OK(syscall(SYS_socket, AF_UNIX,
				  SOCK_STREAM | SOCK_CLOEXEC, 0));
	CHECK_OK(syscall(SYS_bind, l, &la, ll));
	CHECK_OK(syscall(SYS_listen, l, 4));
	c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
			    SOCK_CLOEXEC, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&la, ll));
	CHECK(fcntl(c, F_GETFL) & O_NONBLOCK);
	CHECK_EQ(fcntl(c, F_GETFD), FD_CLOEXEC);
	CHECK_ERR(recv(c, buf, sizeof(buf), 0), EAGAIN);
	s = (int)CHECK_OK(syscall(SYS_accept4, l, NULL, NULL, SOCK_CLOEXEC));
	CHECK_EQ(send(c, "up", 2, 0), 2);
	CHECK_EQ(syscall(SYS_recvfrom, s, buf, sizeof(buf), 0, NULL, NULL), 2);
	CHECK_MEM(buf, "up", 2);
	CHECK_EQ(syscall(SYS_sendto, s, "down", 4, 0, NULL, 0), 4);
	CHECK_EQ(recv(c, buf, sizeof(buf), 0), 4);
	CHECK_MEM(buf, "down", 4);
	CHECK_OK(close(c));
	CHECK_OK(close(s));
	CHECK_OK(close(l));

	kfd = (int)CHECK_OK(syscall(SYS_socket, AF_UNIX,
				    SOCK_DGRAM | SOCK_CLOEXEC, 0));
	CHECK_OK(syscall(SYS_bind, kfd, &ka, kl));
	fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(bind(fd, (struct sockaddr *)&ma, ml));
	CHECK_EQ(sendto(fd, "dg", 2, 0, (struct sockaddr *)&ka, kl), 2);
	CHECK_EQ(syscall(SYS_recvfrom, kfd, buf, sizeof(buf), 0, &from,
			 &flen), 2);
	CHECK_EQ(flen, ml);
	CHECK_MEM(&from, &ma, ml);
	CHECK_EQ(fcntl(fd, F_GETFD), 0);
	CHECK_OK(close(fd));
	CHECK_OK(close(kfd));
}

static int sigio_fd;
static volatile sig_atomic_t sigio_got;

/* Reads the socket from inside the handler, as async programs do. */
static void
sigio_reader(int sig)
{
	char c;

	if (recv(sigio_fd, &c, 1, MSG_DONTWAIT) == 1)
		sigio_got = c;
}

/* A SIGIO handler may call the socket functions: the signal comes when
 * the sending call is done, not while it holds the socket. */
static void
sigio_handler_calls_socket(void)
{
	struct sigaction sa = { .sa_handler = sigio_reader }, old;
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	sigio_fd = sv[0];
	sigio_got = 0;
	CHECK_OK(sigaction(SIGIO, &sa, &old));
	CHECK_OK(fcntl(sv[0], F_SETOWN, getpid()));
	CHECK_OK(fcntl(sv[0], F_SETFL, O_ASYNC | O_NONBLOCK));
	CHECK_EQ(send(sv[1], "z", 1, 0), 1);
	for (int i = 0; i < 200 && sigio_got == 0; i++)
		th_sleep_ms(10);
	CHECK_EQ(sigio_got, 'z');
	CHECK_OK(fcntl(sv[0], F_SETFL, 0));
	CHECK_OK(sigaction(SIGIO, &old, NULL));
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* -- posix_spawn, vfork and exec: a new program inherits sockets -- */

extern char **environ;

/* The shell a child runs: reads a line from its stdin and answers on
 * its stdout. */
static char *const echo_argv[] = {
	"sh", "-c", "read x; echo \"got $x\"", NULL
};

/* Skips in the in-process mode, where a new program has a ksock of its
 * own and no socket of its parent's. */
static void
exec_test_begin(void)
{
	if (in_process_ksock())
		th_skip("an exec'd child has no ksock socket in the in-process mode");
	fflush(stdout);
}

/* Reads from @fd until end of file (10 s at most) into @buf (@len);
 * the bytes read, -1 at a time-out. */
static ssize_t
read_to_eof(int fd, char *buf, size_t len)
{
	size_t got = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 10000) != 1)
			return -1;
		n = read(fd, buf + got, len - got);
		if (n <= 0)
			return n < 0 ? -1 : (ssize_t)got;
		got += (size_t)n;
		if (got == len)
			return (ssize_t)got;
	}
}

/* Writes a line to the child at @in, closes the parent's ends @cin and
 * @cout and reads the child's answer at @out to its end; waits for
 * @pid. */
static void
talk_to_echo_child(pid_t pid, int in, int out, int cin, int cout)
{
	char buf[64];
	int ws;

	CHECK_OK(close(cin));
	CHECK_OK(close(cout));
	CHECK_EQ(send(in, "hello\n", 6, 0), 6);
	/* End of file: the child's stdout was its only other holder. */
	CHECK_EQ(read_to_eof(out, buf, sizeof(buf)), 10);
	CHECK(memcmp(buf, "got hello\n", 10) == 0);
	CHECK_EQ(waitpid(pid, &ws, 0), pid);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	CHECK_OK(close(in));
	CHECK_OK(close(out));
}

/*
 * posix_spawn with one socketpair's end dup2'ed onto the child's stdin
 * and another's onto its stdout (the originals closed by file actions,
 * and close-on-exec: the child has 0 and 1 only): it reads the line and
 * answers; once it exits, the answer ends in end of file.
 */
static void
spawn_stdio_sockets(void)
{
	posix_spawn_file_actions_t fa;
	int a[2], b[2];
	pid_t pid;

	exec_test_begin();
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, b));
	CHECK_EQ(posix_spawn_file_actions_init(&fa), 0);
	CHECK_EQ(posix_spawn_file_actions_adddup2(&fa, a[1], 0), 0);
	CHECK_EQ(posix_spawn_file_actions_adddup2(&fa, b[1], 1), 0);
	CHECK_EQ(posix_spawn_file_actions_addclose(&fa, b[1]), 0);
	CHECK_EQ(posix_spawn_file_actions_addclose(&fa, b[0]), 0);
	CHECK_EQ(posix_spawn(&pid, "/bin/sh", &fa, NULL, echo_argv, environ),
		 0);
	CHECK_EQ(posix_spawn_file_actions_destroy(&fa), 0);
	talk_to_echo_child(pid, a[0], b[0], a[1], b[1]);
}

/*
 * posix_spawnp with addclose of a socket: the child does not have it,
 * so when the parent closes its copy too the peer sees end of file
 * while the child still runs. The child's stdin and stdout are a socket
 * dup2'ed onto both, and x[1] and y[1] moved to 4 and 3 (x[1]
 * through 40) and everything from 5 closed: each number its own.
 */
static void
spawnp_addclose(void)
{
	posix_spawn_file_actions_t fa;
	int s[2], c[2], x[2], y[2];
	char buf[64];
	pid_t pid;
	int ws;

	exec_test_begin();
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, s));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, c));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, x));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, y));
	CHECK_EQ(posix_spawn_file_actions_init(&fa), 0);
	CHECK_EQ(posix_spawn_file_actions_addclose(&fa, s[1]), 0);
	CHECK_EQ(posix_spawn_file_actions_adddup2(&fa, c[1], 0), 0);
	CHECK_EQ(posix_spawn_file_actions_adddup2(&fa, c[1], 1), 0);
	/* The child's 3 is y[1], its 4 x[1], whatever held them. */
	CHECK_EQ(posix_spawn_file_actions_adddup2(&fa, x[1], 40), 0);
	CHECK_EQ(posix_spawn_file_actions_adddup2(&fa, y[1], 3), 0);
	CHECK_EQ(posix_spawn_file_actions_adddup2(&fa, 40, 4), 0);
	CHECK_EQ(posix_spawn_file_actions_addclosefrom_np(&fa, 5), 0);
	{
		char *const argv[] = {
			"sh", "-c",
			"read x; echo \"got $x\" >&3; echo \"got $x\" >&4; "
			"echo done", NULL
		};

		CHECK_EQ(posix_spawnp(&pid, "sh", &fa, NULL, argv, environ),
			 0);
	}
	CHECK_EQ(posix_spawn_file_actions_destroy(&fa), 0);
	CHECK_OK(close(s[1]));
	CHECK_OK(close(c[1]));
	CHECK_OK(close(x[1]));
	CHECK_OK(close(y[1]));
	/* The child still runs (it waits for its line), yet s[0] ends. */
	CHECK_EQ(read_to_eof(s[0], buf, sizeof(buf)), 0);
	CHECK_EQ(send(c[0], "hi\n", 3, 0), 3);
	CHECK_EQ(read_to_eof(c[0], buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, "done\n", 5) == 0);
	CHECK_EQ(read_to_eof(y[0], buf, sizeof(buf)), 7);
	CHECK(memcmp(buf, "got hi\n", 7) == 0);
	CHECK_EQ(read_to_eof(x[0], buf, sizeof(buf)), 7);
	CHECK(memcmp(buf, "got hi\n", 7) == 0);
	CHECK_EQ(waitpid(pid, &ws, 0), pid);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	CHECK_OK(close(s[0]));
	CHECK_OK(close(c[0]));
	CHECK_OK(close(x[0]));
	CHECK_OK(close(y[0]));
}

/*
 * vfork, then dup2 onto stdin and stdout, close everything from 3 and
 * execve in the child (as Python's subprocess does): the new program
 * has both sockets.
 */
static void
vfork_exec_sockets(void)
{
	int a[2], b[2];
	pid_t pid;

	exec_test_begin();
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b));
	pid = vfork();
	if (pid == 0) {
		if (dup2(a[1], 0) == 0 && dup2(b[1], 1) == 1 &&
		    close_range(3, ~0u, 0) == 0)
			execve("/bin/sh", echo_argv, environ);
		_exit(127);
	}
	CHECK(pid > 0);
	talk_to_echo_child(pid, a[0], b[0], a[1], b[1]);
}

/* fork, dup2 onto stdin and stdout, execve: the same. */
static void
fork_dup2_exec_sockets(void)
{
	int a[2], b[2];
	pid_t pid;

	exec_test_begin();
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b));
	pid = fork();
	if (pid == 0) {
		if (dup2(a[1], 0) == 0 && dup2(b[1], 1) == 1)
			execve("/bin/sh", echo_argv, environ);
		_exit(127);
	}
	CHECK(pid > 0);
	talk_to_echo_child(pid, a[0], b[0], a[1], b[1]);
}

static const struct th_test tests[] = {
	{ "numbers_one_space", numbers_one_space },
	{ "descriptor_calls", descriptor_calls },
	{ "poll_select_mixed", poll_select_mixed },
	{ "epoll_mixed", epoll_mixed },
	{ "signal_sigpipe", signal_sigpipe },
	{ "signal_eintr", signal_eintr },
	{ "signal_restart", signal_restart },
	{ "threads_at_once", threads_at_once },
	{ "mmsg_calls", mmsg_calls },
	{ "close_range_sockets", close_range_sockets },
	{ "fork_child", fork_child },
	{ "fork_while_busy", fork_while_busy },
	{ "spawn_stdio_sockets", spawn_stdio_sockets },
	{ "spawnp_addclose", spawnp_addclose },
	{ "vfork_exec_sockets", vfork_exec_sockets },
	{ "fork_dup2_exec_sockets", fork_dup2_exec_sockets },
	{ "poll_bad_array", poll_bad_array },
	{ "connect_kernel_socket_after_unlink",
	  connect_kernel_socket_after_unlink },
	{ "abstract_names_follow_thread_netns",
	  abstract_names_follow_thread_netns },
	{ "own_segv_handler_after_sockets", own_segv_handler_after_sockets },
	{ "epoll_et_partial_read", epoll_et_partial_read },
	{ "epoll_nested", epoll_nested },
	{ "epoll_sleeps_until_remote_event", epoll_sleeps_until_remote_event },
	{ "epoll_fd_readable_to_poll", epoll_fd_readable_to_poll },
	{ "epoll_item_closed", epoll_item_closed },
	{ "epoll_shared_with_child", epoll_shared_with_child },
	{ "epoll_pwait2_huge_timeout", epoll_pwait2_huge_timeout },
	{ "epoll_many_ready_rotate", epoll_many_ready_rotate },
	{ "close_behind_back", close_behind_back },
	{ "closefrom_close_range", closefrom_close_range },
	{ "fdopen_stdio", fdopen_stdio },
	{ "sigio_readiness", sigio_readiness },
	{ "sigio_handler_calls_socket", sigio_handler_calls_socket },
	{ "sigio_other_process", sigio_other_process },
	{ "sigio_from_other_thread", sigio_from_other_thread },
	{ "sigio_owner_uid_checked", sigio_owner_uid_checked },
	{ "sigurg_setter_uid_checked", sigurg_setter_uid_checked },
	{ "proc_fd_open", proc_fd_open },
	{ "splice_sendfile", splice_sendfile },
	{ "sendfile_to_other_process", sendfile_to_other_process },
	{ "tee_vmsplice_socket", tee_vmsplice_socket },
	{ "clone_child", clone_child },
	{ "select_closed", select_closed },
	{ "creds_bad_pid", creds_bad_pid },
	{ "send_to_outside", send_to_outside },
	{ "outside_keeps_flags", outside_keeps_flags },
	{ "bad_pointers_efault", bad_pointers_efault },
	{ "raw_close_reclaimed", raw_close_reclaimed },
	{ "splice_checks_as_linux", splice_checks_as_linux },
};

TH_MAIN(tests)

/*
 * Preload port: sockets served by a ksockd server (ksock-run --ksockd).
 *
 * With KSOCK_RUN_KSOCKD=ADDRESS in the environment, every AF_UNIX socket
 * the program makes lives in the ksockd server at ADDRESS (a path, or
 * @NAME), shared by every process attached to it, instead of in the
 * program's own ksock. The library is then a ksockd client: the client
 * library (port/ksockd/client.c) is built into it, and a socket is a
 * struct kp_file of kind KP_REMOTE that holds the server's number.
 *
 * Invariant: a remote socket's number in the server's table is the
 * number of its placeholder in the kernel, which is the program's. A new
 * descriptor is asked for at its placeholder's number (KSD_F_PLACE);
 * one the server had to put elsewhere (the number was held by a
 * descriptor an SCM_RIGHTS message brought, which the server puts at its
 * lowest free number until its receiver moves it) is moved by a DUP that
 * does not replace (adopt()). So fork and exec need no renaming, and
 * dup, dup2, dup3, F_DUPFD, close and close_range mirror one to one.
 *
 * Processes:
 *   fork      pthread_atfork: FORK before (the server copies the table
 *             under a token), the child attaches with the token. A
 *             clone() child that runs no fork handlers cannot claim: its
 *             remote sockets go stale (EBADF), as in-process ones do.
 *   exec      the execve family: FORK's hand-over as well (so a failed
 *             exec loses nothing: the hand-over expires after 30 s), the
 *             token and a list in the new program's environment
 *             (KSOCKD_TOKEN, KSOCK_RUN_KSOCKD_FDS): the parent's remote
 *             numbers, and at which number the new program has which of
 *             them (struct handover). The new program claims it, moves
 *             each socket to its number and closes the rest.
 *   posix_spawn, posix_spawnp: the same hand-over in the parent; the
 *             list follows the file actions, read from glibc's record
 *             (spawn_edit()).
 *   vfork     the child's exec makes the hand-over on the parent's
 *             connection, with nothing but system calls and the
 *             client's request; kcmp tells which socket each placeholder
 *             it kept is (vfork_env()).
 *   system, popen: glibc spawns with its internal __posix_spawn, which
 *             cannot be interposed: the new program starts with no
 *             remote socket, and an inherited placeholder fails with
 *             EBADF.
 *
 * The server: when none answers at ADDRESS and KSOCK_RUN_KSOCKD_START
 * names a ksockd binary, the library starts one with --idle-exit,
 * detached (a session of its own, no descriptor of the program's, its
 * output to /dev/null) and attaches once it answers. Processes racing
 * to start one: a second server's bind fails and it exits; all attach
 * to the first. A server that stops for idleness just as a process
 * connects refuses it, and the process starts another.
 *
 * Locks: attach_lock guards attaching (a leaf; the client library has
 * its own locks). Remote files are reached through the descriptor map
 * (fdmap.c), which holds their references.
 */
#include <alloca.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <linux/sockios.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "preload.h"
#include "../hosted/hosted.h"
#include "../ksockd/ksd.h"

#define KP_EXPORT	__attribute__((visibility("default")))

/* Placeholders adopt() takes while numbers are held by descriptors
 * other threads are still moving; each retry needs another thread's
 * SCM_RIGHTS receive in the same moment, so a few are plenty. */
#define ADOPT_TRIES	16
/* How long a process waits for the server it started to answer: the
 * machine may be loaded (2 CPUs shared by many programs). */
#define START_WAIT_MS	20000
/* A server the library starts stops after this long without a client. */
#define IDLE_EXIT_MS	"2000"

static bool remote_on;				/* [I] */
static char remote_addr[PATH_MAX];		/* [I] */
static char server_bin[PATH_MAX];		/* [I] "": start none */
static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t fork_token;			/* [atfork] */

extern char **environ;

/* -- the kernel socket of the client library -- */

/*
 * socket(2) for the client library built into this one (mk/preload.mk
 * renames its calls to this): always the kernel's, moved high so that
 * the program's numbers stay its own.
 */
int
kp__kernel_socket(int domain, int type, int protocol)
{
	long fd = syscall(SYS_socket, domain, type | SOCK_CLOEXEC, protocol);

	if (fd < 0)
		return -1;
	kp__fd_kernel_new(fd);
	fd = kp__fd_move_high((int)fd);
	return (int)fd;
}

/* close(2) for the client library: the kernel's, also of the
 * connection that the shim's close() keeps from the program. */
int
kp__kernel_close(int fd)
{
	return (int)sys_close(fd);
}

/* umask(2) for the client library: the kernel's. */
mode_t
kp__kernel_umask(mode_t mask)
{
	return (mode_t)syscall(SYS_umask, (long)mask);
}

/* -- attaching, and starting a server -- */

/* Whether @name=... is @e. */
static bool
env_is(const char *e, const char *name)
{
	size_t n = strlen(name);

	return strncmp(e, name, n) == 0 && e[n] == '=';
}

/* Sleeps @ms milliseconds. */
static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (syscall(SYS_nanosleep, &ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Starts server_bin --idle-exit at remote_addr, detached: a raw clone
 * without a signal at exit (the program's SIGCHLD handler and wait(-1)
 * see nothing), whose child makes a session and a grandchild that
 * execs. Between the clone and the exec only system calls run. Returns
 * 0 or -errno (the environment could not be built).
 */
static int
start_server(void)
{
	static const char *const drop[] = { "LD_PRELOAD", "KSOCK_RUN",
		"KSOCK_RUN_KSOCKD", "KSOCK_RUN_KSOCKD_START", "KSOCKD_TOKEN",
		"KSOCK_RUN_KSOCKD_FDS", "KSOCK_RUN_STATS", "KSOCK_DIAG" };
	char *argv[] = { server_bin, "--idle-exit", IDLE_EXIT_MS, remote_addr,
			 NULL };
	char **env;
	size_t n = 0, k = 0;
	long pid;

	while (environ != NULL && environ[n] != NULL)
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (env == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		bool keep = true;

		for (size_t d = 0; d < sizeof(drop) / sizeof(drop[0]); d++)
			keep = keep && !env_is(environ[i], drop[d]);
		if (keep)
			env[k++] = environ[i];
	}
	pid = syscall(SYS_clone, 0L, 0L, 0L, 0L, 0L);
	if (pid == 0) {
		long null;

		syscall(SYS_setsid);
		/* The server's parent is gone at once: whoever adopts it
		 * (init, a subreaper) is told of its exit as usual. */
		if (syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L) != 0)
			syscall(SYS_exit, 0L);
		null = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR);
		for (long fd = 0; fd < 3 && null >= 0; fd++)
			syscall(SYS_dup2, null, fd);
		syscall(SYS_close_range, 3L, ~0UL, 0L);
		syscall(SYS_execve, server_bin, argv, env);
		syscall(SYS_exit, 127L);
	}
	if (pid > 0)
		while (syscall(SYS_wait4, pid, NULL, __WALL, NULL) < 0 &&
		       errno == EINTR)
			;
	free(env);
	return pid < 0 ? -errno : 0;
}

/* Attaches (once); the first failure to find a server starts one. */
static int
attach_locked(void)
{
	bool started = false;
	long waited = 0, step = 2, started_at = 0;

	while (!ksd__attached()) {
		int err;

		if (ksd_attach(remote_addr) == 0) {
			/* The library's own descriptors exist before the
			 * program counts its own. */
			(void)ksd__notifiers_open();
			break;
		}
		err = -errno;
		/* Nobody there, or a server stopping for idleness. */
		if (server_bin[0] == '\0' ||
		    (err != -ECONNREFUSED && err != -ENOENT &&
		     err != -EPROTO && err != -ECONNRESET))
			return err;
		if (!started) {
			err = start_server();
			if (err < 0)
				return err;
			started = true;
			started_at = waited;
		}
		if (waited >= START_WAIT_MS)
			return -ECONNREFUSED;
		nap_ms(step);
		waited += step;
		if (step < 100)
			step *= 2;
		/* A server that came up and stopped again before this
		 * process reached it: start one more. */
		if (waited - started_at >= 5000)
			started = false;
	}
	return 0;
}

/* 0 once the process is attached, or -errno. */
static int
attached(void)
{
	int err;

	if (ksd__attached())
		return 0;
	pthread_mutex_lock(&attach_lock);
	err = attach_locked();
	pthread_mutex_unlock(&attach_lock);
	return err;
}

/* -- remote files and their numbers -- */

/* The client library's classifier of the numbers in a sent SCM_RIGHTS
 * message: a remote socket's placeholder is the server's descriptor,
 * every other number the kernel's. */
static int
fd_is_kernel(int fd)
{
	struct kp_file *f = kp__fd_get(fd);
	bool remote = f != NULL && f->kind == KP_REMOTE;

	kp__file_put(f);
	return !remote;
}

/* See preload.h. */
bool
kp__remote_on(void)
{
	return remote_on;
}

/* Closes the server's descriptor @n, which our table holds: without
 * waiting for the reply (ksd__close_nowait: the server still runs it
 * before a request that may reuse the number). */
static void
close_remote(int n)
{
	ksd__close_nowait(n);
}

/* See preload.h: the last reference to a remote file is gone. */
void
kp__remote_release(struct kp_file *f)
{
	if (!atomic_load(&f->rkeep))
		close_remote(f->rfd);
	if (f->rd != NULL && atomic_fetch_sub(&f->rd->refs, 1) == 1)
		free(f->rd);
}

/*
 * Maps the placeholder @fd to the server's descriptor of the same
 * number, with the open file state @rd (a dup's; NULL: a new one).
 * Returns @fd, or -ENOMEM with both closed.
 */
static int
map_remote(int fd, struct kp_rdesc *rd)
{
	struct kp_file *f = kp__file_new(KP_REMOTE);

	if (f != NULL && rd == NULL)
		rd = calloc(1, sizeof(*rd));
	if (f == NULL || rd == NULL) {
		free(f);
		close_remote(fd);
		sys_close(fd);
		return -ENOMEM;
	}
	atomic_fetch_add(&rd->refs, 1);
	f->rd = rd;
	f->rfd = fd;
	kp__fd_set(fd, f);
	kp__file_put(f);
	return fd;
}

/* A request whose new descriptors should go at @p0 (and @p1). */
static long
request_at(uint32_t label, int fd, int a0, int a1, int a2, int p0, int p1,
	   struct ksd_rep *rep)
{
	struct ksd_place pl = { { p0, p1 } };

	return ksd__request(label, KSD_F_PLACE, fd, a0, a1, a2, &pl,
			    sizeof(pl), rep);
}

/*
 * The server's new descriptor @n goes to the placeholder @ph (held by
 * the caller, which passes it on), and the number is mapped. Returns the
 * program's number, or -errno with @n and @ph closed.
 */
static int
adopt(int n, int ph, bool cloexec)
{
	int spare[ADOPT_TRIES], nspare = 0;
	long err = 0;

	while (n != ph) {
		struct ksd_rep rep;

		err = ksd__request(KSD_DUP, KSD_F_PLACE, n, ph, cloexec, 0,
				   NULL, 0, &rep);
		if (err >= 0) {
			close_remote(n);
			err = 0;
			break;
		}
		if (err != -EBUSY || nspare == ADOPT_TRIES)
			break;
		/* @ph holds a descriptor another thread received: try
		 * the next number, and give @ph back afterwards. */
		spare[nspare++] = ph;
		ph = kp__placeholder(cloexec);
		if (ph < 0) {
			err = ph;
			break;
		}
	}
	while (nspare > 0)
		sys_close(spare[--nspare]);
	if (err < 0) {
		close_remote(n);
		if (ph >= 0)
			sys_close(ph);
		return (int)err;
	}
	return map_remote(ph, NULL);
}

/* See preload.h. */
int
kp__remote_socket(int domain, int type, int protocol)
{
	bool cloexec = (type & SOCK_CLOEXEC) != 0;
	struct ksd_rep rep;
	long n;
	int ph;

	n = attached();
	if (n < 0)
		return (int)n;
	ph = kp__placeholder(cloexec);
	if (ph < 0)
		return ph;
	n = request_at(KSD_SOCKET, -1, domain, type, protocol, ph, -1, &rep);
	if (n < 0) {
		sys_close(ph);
		return (int)n;
	}
	return adopt((int)n, ph, cloexec);
}

/* Closes the program's remote number @fd (its map entry and placeholder). */
static void
unmap_close(int fd)
{
	kp__file_put(kp__fd_take(fd));
	sys_close(fd);
}

/* See preload.h. */
int
kp__remote_socketpair(int domain, int type, int protocol, int sv[2])
{
	bool cloexec = (type & SOCK_CLOEXEC) != 0;
	struct ksd_rep rep;
	int ph0, ph1, fd0, fd1;
	long err;

	/* The flags first, then whether sv can be written, as Linux. */
	err = ksp__sys_socketpair_flags(type);
	if (err < 0)
		return (int)err;
	if (!ksp__user_range_ok(sv, 2 * sizeof(int)))
		return -EFAULT;
	err = attached();
	if (err < 0)
		return (int)err;
	ph0 = kp__placeholder(cloexec);
	if (ph0 < 0)
		return ph0;
	ph1 = kp__placeholder(cloexec);
	if (ph1 < 0) {
		sys_close(ph0);
		return ph1;
	}
	err = request_at(KSD_SOCKETPAIR, -1, domain, type, protocol, ph0, ph1,
			 &rep);
	if (err < 0) {
		sys_close(ph1);
		sys_close(ph0);
		return (int)err;
	}
	fd0 = adopt(rep.val[0], ph0, cloexec);
	if (fd0 < 0) {
		close_remote(rep.val[1]);
		sys_close(ph1);
		return fd0;
	}
	fd1 = adopt(rep.val[1], ph1, cloexec);
	if (fd1 < 0) {
		unmap_close(fd0);
		return fd1;
	}
	err = ksp__sys_socketpair_out(sv, fd0, fd1);
	if (err < 0) {
		unmap_close(fd1);
		unmap_close(fd0);
		return (int)err;
	}
	return 0;
}

/* See preload.h. */
int
kp__remote_accept(struct kp_file *f, struct sockaddr *addr, socklen_t *len,
		  int flags)
{
	bool cloexec = (flags & SOCK_CLOEXEC) != 0;
	struct ksd_rep rep;
	long n;
	int ph, err;

	err = ksp__sys_accept_flags(flags);
	if (err < 0)
		return err;
	/* Linux takes the number before it dequeues: EMFILE leaves the
	 * connection queued. */
	ph = kp__placeholder(cloexec);
	if (ph < 0)
		return ph;
	n = request_at(KSD_ACCEPT, f->rfd, flags, 0, 0, ph, -1, &rep);
	if (n < 0) {
		sys_close(ph);
		return (int)n;
	}
	if (addr != NULL) {
		err = ksp__addr_out(rep.inl, rep.addrlen, addr, len);
		if (err < 0) {
			/* Linux drops the connection then. */
			close_remote((int)n);
			sys_close(ph);
			return err;
		}
	}
	return adopt((int)n, ph, cloexec);
}

/* See preload.h. */
void
kp__remote_dup(struct kp_file *f, int nfd, bool cloexec)
{
	struct kp_file *old = kp__fd_get(nfd);
	struct ksd_rep rep;
	long r;

	/* The server's dup3 replaces what @nfd held there: the old file's
	 * release must not close the new one. */
	if (old != NULL && old->kind == KP_REMOTE)
		atomic_store(&old->rkeep, true);
	kp__file_put(old);
	r = ksd__request(KSD_DUP, 0, f->rfd, nfd, cloexec, 0, NULL, 0, &rep);
	if (r < 0) {
		/* The kernel made @nfd; the server could not follow: the
		 * number is a placeholder that fails with EBADF. */
		kp__file_put(kp__fd_take(nfd));
		kp__fd_set(nfd, &kp_stale);
		return;
	}
	map_remote(nfd, f->rd);
}

/* See preload.h. */
void
kp__remote_cloexec(struct kp_file *f, bool on)
{
	struct ksd_rep rep;

	ksd__request(KSD_FCNTL, 0, f->rfd, F_SETFD, on ? FD_CLOEXEC : 0, 0,
		     NULL, 0, &rep);
}

/* -- calls on a remote socket -- */

/* A client-library result (-1/errno) as -errno. */
static long
neg(long r)
{
	return r < 0 ? -errno : r;
}

/*
 * After a receive into @umsg with @flags: the descriptors SCM_RIGHTS
 * brought are the server's numbers; each moves to a placeholder of its
 * own, and the message says the program's numbers. Returns 0 or -errno.
 */
static int
rights_adopt(struct msghdr *umsg, int flags)
{
	unsigned char ctl[KSD_CTL_MAX];
	struct msghdr m, k;
	struct cmsghdr *c;

	if (ksp__copy_from_user(&m, umsg, sizeof(m)) < 0)
		return -EFAULT;
	if (m.msg_control == NULL || m.msg_controllen == 0)
		return 0;
	if (m.msg_controllen > sizeof(ctl))
		m.msg_controllen = sizeof(ctl);
	if (ksp__copy_from_user(ctl, m.msg_control, m.msg_controllen) < 0)
		return -EFAULT;
	k = (struct msghdr){ .msg_control = ctl,
			     .msg_controllen = m.msg_controllen };
	for (c = CMSG_FIRSTHDR(&k); c != NULL; c = CMSG_NXTHDR(&k, c)) {
		size_t nfd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			bool cloexec = (flags & MSG_CMSG_CLOEXEC) != 0;
			int n, ph;

			memcpy(&n, CMSG_DATA(c) + i * sizeof(int), sizeof(n));
			/* A kernel descriptor that came along is the
			 * program's already. */
			if (ksd_fd_is_kernel(n)) {
				kp__fd_kernel_new(n);
				continue;
			}
			ph = kp__placeholder(cloexec);
			n = ph < 0 ? (close_remote(n), ph) : adopt(n, ph, cloexec);
			memcpy(CMSG_DATA(c) + i * sizeof(int), &n, sizeof(n));
			atomic_fetch_add(&kp_stats.passed, 1);
		}
	}
	return ksp__copy_to_user(m.msg_control, ctl, m.msg_controllen);
}

static long
remote_recvmsg(int fd, struct msghdr *umsg, int flags)
{
	long n = neg(ksd_recvmsg(fd, umsg, flags));
	int err;

	if (n < 0)
		return n;
	err = rights_adopt(umsg, flags);
	return err < 0 ? err : n;
}

/* sendmmsg and recvmmsg, one message at a time: the count, or the first
 * message's error. */
static long
remote_mmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags, bool send)
{
	unsigned i;
	long n = 0;

	if (vlen > KSP_UIO_MAXIOV)
		vlen = KSP_UIO_MAXIOV;
	for (i = 0; i < vlen; i++) {
		unsigned len;

		n = send ? neg(ksd_sendmsg(fd, &vec[i].msg_hdr, flags)) :
			   remote_recvmsg(fd, &vec[i].msg_hdr,
					  flags & ~MSG_WAITFORONE);
		if (n < 0)
			break;
		len = (unsigned)n;
		if (ksp__copy_to_user(&vec[i].msg_len, &len, sizeof(len)) < 0) {
			n = -EFAULT;
			break;
		}
		if (!send && (flags & MSG_WAITFORONE))
			flags |= MSG_DONTWAIT;
	}
	if (i > 0)
		return i;
	return n;
}

/* See preload.h. */
long
kp__remote_call(struct kp_file *f, int call, const long a[5])
{
	int fd = f->rfd;

	switch (call) {
	case KSP_SYS_BIND:
		return neg(ksd_bind(fd, (const void *)a[0], (socklen_t)a[1]));
	case KSP_SYS_CONNECT:
		return neg(ksd_connect(fd, (const void *)a[0], (socklen_t)a[1]));
	case KSP_SYS_LISTEN:
		return neg(ksd_listen(fd, (int)a[0]));
	case KSP_SYS_SHUTDOWN:
		return neg(ksd_shutdown(fd, (int)a[0]));
	case KSP_SYS_GETSOCKNAME:
		return neg(ksd_getsockname(fd, (void *)a[0], (socklen_t *)a[1]));
	case KSP_SYS_GETPEERNAME:
		return neg(ksd_getpeername(fd, (void *)a[0], (socklen_t *)a[1]));
	case KSP_SYS_GETSOCKOPT:
		return neg(ksd_getsockopt(fd, (int)a[0], (int)a[1], (void *)a[2],
					  (socklen_t *)a[3]));
	case KSP_SYS_SETSOCKOPT:
		return neg(ksd_setsockopt(fd, (int)a[0], (int)a[1],
					  (const void *)a[2], (socklen_t)a[3]));
	case KSP_SYS_SENDMSG:
		return neg(ksd_sendmsg(fd, (const void *)a[0], (int)a[1]));
	case KSP_SYS_RECVMSG:
		return remote_recvmsg(fd, (void *)a[0], (int)a[1]);
	case KSP_SYS_SENDTO:
		return neg(ksd_sendto(fd, (const void *)a[0], (size_t)a[1],
				      (int)a[2], (const void *)a[3],
				      (socklen_t)a[4]));
	case KSP_SYS_RECVFROM:
		return neg(ksd_recvfrom(fd, (void *)a[0], (size_t)a[1],
					(int)a[2], (void *)a[3],
					(socklen_t *)a[4]));
	case KSP_SYS_SENDMMSG:
		return remote_mmsg(fd, (void *)a[0], (unsigned)a[1], (int)a[2],
				   true);
	case KSP_SYS_RECVMMSG:
		return remote_mmsg(fd, (void *)a[0], (unsigned)a[1], (int)a[2],
				   false);
	case KSP_SYS_READ:
		return neg(ksd_read(fd, (void *)a[0], (size_t)a[1]));
	case KSP_SYS_WRITE:
		return neg(ksd_write(fd, (const void *)a[0], (size_t)a[1]));
	case KSP_SYS_READV:
		return neg(ksd_readv(fd, (const void *)a[0], (int)a[1]));
	case KSP_SYS_WRITEV:
		return neg(ksd_writev(fd, (const void *)a[0], (int)a[1]));
	}
	return -ENOSYS;
}

/* See preload.h: five questions to the server, asked only when a
 * connect or send was refused, which is rare. */
int
kp__remote_movable(struct kp_file *f, struct kp_movable *m)
{
	struct sockaddr_storage peer;
	socklen_t nlen = sizeof(m->name), plen = sizeof(peer);
	socklen_t tlen = sizeof(m->type);
	int fl;

	if (ksd_getsockname(f->rfd, (struct sockaddr *)&m->name, &nlen) < 0 ||
	    ksd_getsockopt(f->rfd, SOL_SOCKET, SO_TYPE, &m->type, &tlen) < 0 ||
	    ksd_ioctl(f->rfd, SIOCINQ, &m->inq) < 0)
		return -errno;
	fl = ksd_fcntl(f->rfd, F_GETFL, 0);
	if (fl < 0)
		return -errno;
	m->family = m->name.ss_family;
	m->nlen = nlen;
	m->peer = ksd_getpeername(f->rfd, (struct sockaddr *)&peer, &plen) == 0;
	m->nonblock = (fl & O_NONBLOCK) != 0;
	return 0;
}

/* Linux's F_OWNER_* and struct f_owner_ex. */
#define KP_F_OWNER_TID		0
#define KP_F_OWNER_PID		1
#define KP_F_OWNER_PGRP		2
struct kp_owner_ex {
	int	type;
	int	pid;
};

/* F_SETOWN on @f: a process, or a group as its negative, that exists;
 * the server has it too, and sends SIGURG and O_ASYNC's signals. */
static int
owner_set(struct kp_file *f, int who)
{
	if (who == INT_MIN)
		return -EINVAL;
	if (who != 0 && !ks_port()->pid_exists(who < 0 ? -who : who))
		return -ESRCH;
	(void)ksd_fcntl(f->rfd, F_SETOWN, who);
	return 0;
}

/* F_GETOWN on @f: the server's, which every process holding the open
 * file shares (as Linux keeps it in the file). INT_MIN with errno set
 * when the server cannot say. */
static int
owner_get(struct kp_file *f)
{
	int r;

	errno = 0;
	r = ksd_fcntl(f->rfd, F_GETOWN, 0);
	if (r == -1 && errno != 0)
		return INT_MIN;
	return r;
}

/* F_SETOWN_EX and F_GETOWN_EX on @f, through @uox. */
static int
owner_ex(struct kp_file *f, bool set, void *uox)
{
	struct kp_owner_ex ox;
	int owner;

	if (!set) {
		owner = owner_get(f);
		if (owner == INT_MIN)
			return -errno;
		ox.type = owner < 0 ? KP_F_OWNER_PGRP : KP_F_OWNER_PID;
		ox.pid = owner < 0 ? -owner : owner;
		return ksp__copy_to_user(uox, &ox, sizeof(ox));
	}
	if (ksp__copy_from_user(&ox, uox, sizeof(ox)) < 0)
		return -EFAULT;
	if (ox.type != KP_F_OWNER_TID && ox.type != KP_F_OWNER_PID &&
	    ox.type != KP_F_OWNER_PGRP)
		return -EINVAL;
	/* A negative number names no process (find_vpid). */
	if (ox.pid < 0)
		return -ESRCH;
	return owner_set(f, ox.type == KP_F_OWNER_PGRP ? -ox.pid : ox.pid);
}

/* See preload.h. */
long
kp__remote_fcntl(struct kp_file *f, int cmd, long arg)
{
	struct kp_rdesc *d = f->rd;
	long r;

	switch (cmd) {
	case F_GETFL:
		r = neg(ksd_fcntl(f->rfd, F_GETFL, 0));
		/* O_ASYNC is in the server's answer. */
		return r < 0 ? r : (r & ~(long)O_ACCMODE) | O_RDWR |
				   (long)atomic_load(&d->fl);
	case F_SETFL:
		if (arg & O_DIRECT)
			return -EINVAL;	/* a socket has no direct I/O */
		/* O_ASYNC too: the server sends its signals. */
		r = neg(ksd_fcntl(f->rfd, F_SETFL,
				  (int)(arg & (O_NONBLOCK | O_ASYNC))));
		if (r == 0)
			atomic_store(&d->fl, (unsigned)arg &
				     (O_APPEND | O_NOATIME));
		return r;
	case F_GETSIG:
		return neg(ksd_fcntl(f->rfd, F_GETSIG, 0));
	case F_SETSIG:
		if ((unsigned long)arg > KSP_NSIG)
			return -EINVAL;
		return neg(ksd_fcntl(f->rfd, F_SETSIG, (int)arg));
	case F_SETOWN:
		return owner_set(f, (int)arg);
	case F_GETOWN:
		r = owner_get(f);
		return r == INT_MIN ? -errno : r;
	case F_SETOWN_EX:
	case F_GETOWN_EX:
		return owner_ex(f, cmd == F_SETOWN_EX, (void *)arg);
	case F_GETPIPE_SZ:
	case F_SETPIPE_SZ:
		return -EBADF;
	default:
		return ksp__sock_fcntl_file(cmd, arg);
	}
}

/* See preload.h. */
int
kp__remote_ioctl(struct kp_file *f, unsigned long req, void *arg)
{
	int v;

	switch (req) {
	case FIONREAD:
	case SIOCOUTQ:
	case SIOCATMARK:
	case FIONBIO:
		return (int)neg(ksd_ioctl(f->rfd, req, arg));
	case FIOASYNC:
		if (ksp__copy_from_user(&v, arg, sizeof(v)) < 0)
			return -EFAULT;
		if (ksd_ioctl(f->rfd, FIOASYNC, &v) < 0)
			return -errno;
		return 0;
	case FIOSETOWN:
	case SIOCSPGRP:
		if (ksp__copy_from_user(&v, arg, sizeof(v)) < 0)
			return -EFAULT;
		return owner_set(f, v);
	case FIOGETOWN:
	case SIOCGPGRP:
		v = owner_get(f);
		if (v == INT_MIN)
			return -errno;
		return ksp__copy_to_user(arg, &v, sizeof(v));
	}
	return ksp__sock_ioctl_netdev(req, arg);
}

/* See preload.h. */
int
kp__remote_fstat(struct kp_file *f, struct stat *ust)
{
	uint64_t cookie = 0;
	socklen_t clen = sizeof(cookie);
	struct stat k;

	memset(&k, 0, sizeof(k));
	k.st_mode = S_IFSOCK | 0777;
	k.st_nlink = 1;
	k.st_uid = geteuid();
	k.st_gid = getegid();
	k.st_blksize = 4096;
	k.st_dev = KSP_SOCK_DEV;
	/* The socket's cookie, as the in-process mode reports its id. */
	if (ksd_getsockopt(f->rfd, SOL_SOCKET, SO_COOKIE, &cookie, &clen) < 0)
		return -errno;
	k.st_ino = (ino_t)cookie;
	return ksp__copy_to_user(ust, &k, sizeof(k));
}

/* -- poll over remote and kernel descriptors -- */

/* See preload.h. */
bool
kp__remote_in(const struct pollfd *fds, nfds_t nfds)
{
	if (!remote_on)
		return false;
	for (nfds_t i = 0; i < nfds; i++) {
		struct kp_file *f = fds[i].fd < 0 ? NULL : kp__fd_get(fds[i].fd);
		bool remote = f != NULL && f->kind == KP_REMOTE;

		kp__file_put(f);
		if (remote)
			return true;
	}
	return false;
}


/*
 * See preload.h. Remote entries wait in the server and kernel ones in
 * the kernel, in one ksd_poll_mixed() (the numbers are the server's).
 */
int
kp__remote_poll(struct pollfd *fds, nfds_t nfds, int64_t deadline,
		const sigset_t *mask)
{
	struct timespec ts, *tp = NULL;
	struct pollfd *r, *h;
	nfds_t nr = 0, nh = 0;
	bool *remote;
	int ready = 0, n;

	r = calloc(nfds + 1, sizeof(*r));
	h = calloc(nfds + 1, sizeof(*h));
	remote = calloc(nfds + 1, sizeof(*remote));
	if (r == NULL || h == NULL || remote == NULL) {
		n = -ENOMEM;
		goto free_all;
	}
	for (nfds_t i = 0; i < nfds; i++) {
		struct kp_file *f = fds[i].fd < 0 ? NULL : kp__fd_get(fds[i].fd);

		fds[i].revents = 0;
		remote[i] = f != NULL && f->kind == KP_REMOTE;
		if (f == &kp_stale)
			fds[i].revents = POLLNVAL;
		else if (remote[i])
			r[nr++] = fds[i];
		else if (fds[i].fd >= 0)
			h[nh++] = fds[i];
		/* An epoll instance's kernel fd tells the truth about its
		 * sockets once refreshed. */
		if (f != NULL && f != &kp_stale && f->kind == KP_EPOLL)
			kp__epoll_refresh(f->ep);
		kp__file_put(f);
		if (fds[i].revents != 0)
			ready++;
	}
	atomic_fetch_add_explicit(&kp_stats.polls, 1, memory_order_relaxed);
	if (deadline >= 0 || ready > 0) {
		int64_t left = ready > 0 ? 0 : deadline - ksp__now();

		if (left < 0)
			left = 0;
		ts.tv_sec = (time_t)(left / 1000000000);
		ts.tv_nsec = (long)(left % 1000000000);
		tp = &ts;
	}
	n = ksd_poll_mixed(r, nr, h, nh, tp, mask);
	if (n < 0) {
		n = -errno;
		goto free_all;
	}
	ready = 0;
	for (nfds_t i = 0, ir = 0, ih = 0; i < nfds; i++) {
		if (fds[i].revents & POLLNVAL)
			;
		else if (remote[i])
			fds[i].revents = r[ir++].revents;
		else if (fds[i].fd >= 0)
			fds[i].revents = h[ih++].revents;
		if (fds[i].revents != 0)
			ready++;
	}
	n = ready;
free_all:
	free(remote);
	free(h);
	free(r);
	return n;
}

/* -- epoll over remote sockets -- */

/* One remote socket in an epoll instance. */
struct kp_repitem {
	int		 fd;
	uint32_t	 events;	/* EPOLL* as given */
	uint64_t	 data;
	bool		 disabled;	/* EPOLLONESHOT fired */
	short		 last;		/* EPOLLET: the readiness reported */
	int		 last_inq;	/* EPOLLET: bytes queued then */
};

/* An instance's remote items (guarded by the instance's lock). */
struct kp_repoll {
	struct kp_repitem *it;
	unsigned	 n, cap;
	unsigned	 next;		/* where the next scan starts: ready
					 * items take turns, as Linux's list
					 * rotates */
	/* The server's watch of the items (KSD_WATCH), whose kernel
	 * socket sits in the instance's kernel set; -1: none. */
	int		 wfd;
	int		 wid;
	unsigned	 wgen;		/* ksd__conn_gen() when made */
	pid_t		 wpid;		/* the process that made it */
	bool		 nowatch;	/* refused: waits poll in steps */
};

/* Watch ids, one per instance of the process. */
static atomic_int watch_ids;
/* The watches' kernel sockets (plus one; 0: a free place), which a
 * program's close, close_range or closefrom leaves open as it leaves
 * the notifiers. Lock-free: a forked child may look at them whatever
 * another thread of its parent was doing. */
static atomic_int wfds[KSD_WATCH_MAX];

static void
wfd_note(int fd, bool add)
{
	for (int i = 0; i < KSD_WATCH_MAX; i++) {
		int want = add ? 0 : fd + 1;

		if (atomic_compare_exchange_strong(&wfds[i], &want,
						   add ? fd + 1 : 0))
			return;
	}
}

static bool
wfd_is(int fd)
{
	for (int i = 0; i < KSD_WATCH_MAX; i++)
		if (atomic_load(&wfds[i]) == fd + 1)
			return true;
	return false;
}

/* The watches' sockets into @out (room for KSD_WATCH_MAX); their count. */
static int
wfds_copy(int *out)
{
	int n = 0;

	for (int i = 0; i < KSD_WATCH_MAX; i++) {
		int v = atomic_load(&wfds[i]);

		if (v > 0)
			out[n++] = v - 1;
	}
	return n;
}

/* The poll(2) events an epoll item asks for: the bits are alike. */
#define EP_POLL_BITS	(EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP | \
			 EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM | EPOLLWRBAND)

/* See preload.h. */
int
kp__remote_epoll_ctl(struct kp_repoll **rp, int op, int fd,
		     const struct epoll_event *ev)
{
	struct kp_repoll *r = *rp;
	unsigned i = 0;

	if (op != EPOLL_CTL_DEL && ev == NULL)
		return -EFAULT;
	while (r != NULL && i < r->n && r->it[i].fd != fd)
		i++;
	switch (op) {
	case EPOLL_CTL_ADD:
		if (r != NULL && i < r->n)
			return -EEXIST;
		if (r == NULL) {
			r = calloc(1, sizeof(*r));
			if (r == NULL)
				return -ENOMEM;
			r->wfd = -1;
			*rp = r;
		}
		if (r->n == r->cap) {
			unsigned cap = r->cap > 0 ? r->cap * 2 : 8;
			struct kp_repitem *it = realloc(r->it,
							cap * sizeof(*it));

			if (it == NULL)
				return -ENOMEM;
			r->it = it;
			r->cap = cap;
		}
		i = r->n++;
		r->it[i].fd = fd;
		/* fallthrough */
	case EPOLL_CTL_MOD:
		if (r == NULL || i >= r->n)
			return -ENOENT;
		if (op == EPOLL_CTL_MOD &&
		    ((ev->events | r->it[i].events) & EPOLLEXCLUSIVE))
			return -EINVAL;
		r->it[i].events = ev->events;
		r->it[i].data = ev->data.u64;
		r->it[i].disabled = false;
		r->it[i].last = 0;
		r->it[i].last_inq = 0;
		return 0;
	case EPOLL_CTL_DEL:
		if (r == NULL || i >= r->n)
			return -ENOENT;
		r->it[i] = r->it[--r->n];
		return 0;
	}
	return -EINVAL;
}

/*
 * Whether an edge-triggered item has news: its readiness changed, or
 * (readable) more bytes are queued than at the last look, which is how
 * new data shows when the socket was readable already (a partial read
 * leaves fewer, and is no news, as on Linux).
 */
static bool
edge(struct kp_repitem *it, short rev)
{
	int inq = 0;
	bool grew;

	if ((rev & POLLIN) && ksd_ioctl(it->fd, SIOCINQ, &inq) < 0)
		inq = 0;
	grew = inq > it->last_inq;
	it->last_inq = inq;
	return rev != it->last || grew;
}

/* Whether @r's watch is this process's, on its current connection (a
 * forked child's copy is its parent's; see docs/ksock-run.md). */
static bool
watch_usable(const struct kp_repoll *r)
{
	return r->wfd >= 0 && !r->nowatch && r->wpid == getpid() &&
	       r->wgen == ksd__conn_gen();
}

/*
 * A watch of another connection (the process attached again, or this
 * is a forked child whose copy is its parent's) is dropped: its socket
 * closed (this process's reference: a parent's watch stays the
 * parent's), and the instance waits in steps from then on.
 */
static void
watch_drop_stale(struct kp_repoll *r)
{
	if (r->wfd < 0 || watch_usable(r))
		return;
	wfd_note(r->wfd, false);
	sys_close(r->wfd);
	r->wfd = -1;
	r->nowatch = true;
}

/* Empties the watch's socket of the rings the server sent. */
static void
watch_drain(int wfd)
{
	char b[64];

	while (recv(wfd, b, sizeof(b), MSG_DONTWAIT) > 0)
		;
}

/* The items as watch entries, from @start on (ready items take turns). */
static struct ksd_watchfd *
watch_entries(const struct kp_repoll *r, unsigned start)
{
	struct ksd_watchfd *e = calloc(r->n + 1, sizeof(*e));

	if (e == NULL)
		return NULL;
	for (unsigned k = 0; k < r->n; k++) {
		const struct kp_repitem *it = &r->it[(start + k) % r->n];

		e[k].fd = it->disabled ? -1 : it->fd;
		e[k].events = it->events & (EP_POLL_BITS | EPOLLET |
					    EPOLLONESHOT);
		e[k].last = it->last;
		e[k].inq = it->last_inq;
	}
	return e;
}

/*
 * Drains the watch's socket and has the server look at the items and
 * arm the watch again: report 0, only a look (the socket then rings at
 * once when an item is ready); otherwise up to @report items reported
 * into @out, their edge and one-shot state moved on. Returns the count,
 * or -errno.
 */
static int
watch_look(struct kp_repoll *r, struct epoll_event *out, int report)
{
	struct ksd_watchfd *e;
	unsigned start = r->n > 0 ? r->next % r->n : 0;
	int n, count = 0;

	e = watch_entries(r, start);
	if (e == NULL)
		return -ENOMEM;
	watch_drain(r->wfd);
	n = ksd__watch(r->wid, false, e, r->n, report, NULL);
	if (n < 0 || report == 0) {
		free(e);
		return n < 0 ? n : 0;
	}
	for (unsigned k = 0; k < r->n; k++) {
		unsigned i = (start + k) % r->n;
		struct kp_repitem *it = &r->it[i];

		if (e[k].revents & POLLNVAL)
			continue;
		it->last = e[k].last;
		it->last_inq = e[k].inq;
		if (e[k].revents == 0 || count == report)
			continue;
		out[count].events = (uint32_t)(unsigned short)e[k].revents;
		out[count].data.u64 = it->data;
		count++;
		r->next = i + 1;
		if (it->events & EPOLLONESHOT)
			it->disabled = true;
	}
	/* A socket closed under the instance goes, as Linux drops the
	 * item with its file. */
	for (unsigned k = r->n; k-- > 0;) {
		unsigned i = (start + k) % r->n;

		if (e[k].revents & POLLNVAL)
			r->it[i].fd = -1;
	}
	for (unsigned i = 0; i < r->n; i++)
		if (r->it[i].fd < 0)
			r->it[i--] = r->it[--r->n];
	free(e);
	return count;
}

/* See preload.h. */
void
kp__remote_epoll_arm(struct kp_repoll *r, int epfd)
{
	struct epoll_event ev = { .events = EPOLLIN,
				  .data.u64 = KP_EP_REMOTE_MAGIC };
	struct ksd_watchfd *e;
	int wfd = -1, id, n;

	if (r == NULL)
		return;
	watch_drop_stale(r);
	if (r->nowatch)
		return;
	if (r->wfd >= 0) {
		if (watch_usable(r))
			(void)watch_look(r, NULL, 0);
		return;
	}
	e = watch_entries(r, 0);
	if (e == NULL)
		return;		/* no watch yet: the next ctl tries again */
	id = atomic_fetch_add(&watch_ids, 1) & INT_MAX;
	n = ksd__watch(id, true, e, r->n, 0, &wfd);
	free(e);
	if (n < 0) {
		/* EMFILE (the server's limit) and the like: this instance
		 * waits in steps, as before watches. */
		r->nowatch = true;
		return;
	}
	if (syscall(SYS_epoll_ctl, epfd, EPOLL_CTL_ADD, wfd, &ev) < 0) {
		(void)ksd__unwatch(id);
		sys_close(wfd);
		r->nowatch = true;
		return;
	}
	wfd_note(wfd, true);
	r->wfd = wfd;
	r->wid = id;
	r->wgen = ksd__conn_gen();
	r->wpid = getpid();
}

/* See preload.h. */
void
kp__remote_epoll_refresh(struct kp_repoll *r)
{
	if (r != NULL && watch_usable(r))
		(void)watch_look(r, NULL, 0);
}

/* The items looked at with one KSD_POLL (an instance with no watch). */
static int
steps_scan(struct kp_repoll *r, struct epoll_event *out, int max)
{
	struct pollfd *p;
	int n = 0;

	p = calloc(r->n, sizeof(*p));
	if (p == NULL)
		return 0;
	for (unsigned i = 0; i < r->n; i++) {
		p[i].fd = r->it[i].disabled ? -1 : r->it[i].fd;
		p[i].events = (short)(r->it[i].events & EP_POLL_BITS);
	}
	if (ksd_poll(p, r->n, 0) <= 0) {
		free(p);
		return 0;
	}
	/* A socket closed under the instance goes, as Linux drops the
	 * item with its file. */
	for (unsigned i = 0; i < r->n; i++) {
		if (p[i].revents & POLLNVAL) {
			r->it[i] = r->it[--r->n];
			p[i] = p[r->n];
			i--;
		}
	}
	for (unsigned k = 0, start = r->next; k < r->n && n < max; k++) {
		unsigned i = (start + k) % r->n;
		struct kp_repitem *it = &r->it[i];
		short rev = p[i].revents;

		if ((it->events & EPOLLET) && !edge(it, rev))
			continue;
		it->last = rev;
		if (rev == 0)
			continue;
		out[n].events = (uint32_t)(unsigned short)rev;
		out[n].data.u64 = it->data;
		n++;
		r->next = i + 1;
		if (it->events & EPOLLONESHOT)
			it->disabled = true;
	}
	free(p);
	return n;
}

/* See preload.h. */
int
kp__remote_epoll_scan(struct kp_repoll *r, struct epoll_event *out, int max,
		      bool *watched)
{
	int n;

	*watched = false;
	if (r == NULL)
		return -1;
	watch_drop_stale(r);
	if (r->n == 0 && r->wfd < 0)
		return -1;
	if (watch_usable(r)) {
		n = watch_look(r, out, max);
		if (n >= 0) {
			*watched = true;
			return n;
		}
		/* The server refused the look (a lost connection, no
		 * memory): steps from now. */
		(void)ksd__unwatch(r->wid);
		wfd_note(r->wfd, false);
		sys_close(r->wfd);
		r->wfd = -1;
		r->nowatch = true;
	}
	return r->n == 0 ? 0 : steps_scan(r, out, max);
}

/* See preload.h. */
void
kp__remote_epoll_free(struct kp_repoll *r)
{
	if (r == NULL)
		return;
	if (r->wfd >= 0) {
		/* A forked child's copy is its parent's watch. */
		if (watch_usable(r))
			(void)ksd__unwatch(r->wid);
		wfd_note(r->wfd, false);
		sys_close(r->wfd);
	}
	free(r->it);
	free(r);
}

/* -- the connection, and ranges of descriptors -- */

/* See preload.h. A vfork child spares them too: its exec hands the
 * sockets over on the connection (vfork_env()), and every one of them is
 * close-on-exec, so the new program does not get them. */
bool
kp__remote_private(int fd)
{
	return remote_on && (ksd__private_fd(fd) || wfd_is(fd));
}

/* See preload.h. */
long
kp__remote_close_range(unsigned first, unsigned last, unsigned flags)
{
	int keep[KSD_SLOTS + 1 + KSD_WATCH_MAX], n = 0;
	unsigned from = first;

	if (remote_on && !(flags & CLOSE_RANGE_CLOEXEC)) {
		n = ksd__private_fds(keep);
		n += wfds_copy(keep + n);
	}
	/* The kernel's close_range between the library's descriptors, in
	 * increasing order. */
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (keep[j] < keep[i]) {
				int t = keep[i];

				keep[i] = keep[j];
				keep[j] = t;
			}
	for (int i = 0; i < n; i++) {
		unsigned k = (unsigned)keep[i];

		if (k < from || k > last)
			continue;
		if (k > from &&
		    syscall(SYS_close_range, from, k - 1, flags) < 0)
			return -1;
		if (k == last)
			return 0;
		from = k + 1;
	}
	return syscall(SYS_close_range, from, last, flags);
}

/* See preload.h. */
void
kp__remote_cloexec_range(unsigned first, unsigned last)
{
	if (!remote_on)
		return;
	if (last >= KP_MAX_FD)
		last = KP_MAX_FD - 1;
	for (unsigned fd = first; fd <= last && first <= last; fd++) {
		struct kp_file *f;

		if (!kp__fd_is_mapped((int)fd))
			continue;
		f = kp__fd_get((int)fd);
		if (f != NULL && f->kind == KP_REMOTE)
			kp__remote_cloexec(f, true);
		kp__file_put(f);
	}
}

/* -- fork and exec -- */

static void
atfork_prepare(void)
{
	fork_token = 0;
	if (ksd__attached() && kp__fd_count() > 0 &&
	    ksd__fork_token(&fork_token) < 0)
		fork_token = 0;
}

static void
atfork_child(void)
{
	/* Without a token the child attaches afresh: its inherited remote
	 * sockets (if the FORK failed) are stale. It attaches at once, as
	 * the parent did, so that its descriptors do not change under the
	 * program later. */
	if (fork_token == 0)
		kp__fd_stale_remote();
	if (ksd__fork_child(fork_token, true) < 0)
		kp__fd_stale_remote();
	else
		(void)ksd__notifiers_open();
}

/* See preload.h: a clone() child that ran no fork handler. */
void
kp__remote_clone_child(void)
{
	if (!remote_on)
		return;
	kp__fd_stale_remote();
	ksd__fork_child(0, false);
}

/*
 * The hand-over's list (KSOCK_RUN_KSOCKD_FDS): every remote number of
 * the parent as "P,", which the new program closes in its copy of the
 * table, and each remote socket it gets as "C=P,": at its number C, the
 * parent's P. A socket the exec or a spawn's file action moved (dup2
 * onto 0, say) goes to its new number; one it closed is not there.
 */
struct handover {
	int c;		/* the new program's number */
	int p;		/* the parent's */
};

/* Each entry takes at most 16 characters ("1048575=1048575,"). */
#define LIST_ENTRY	16

/* Whether the kernel's @fd is close-on-exec. */
static bool
kernel_cloexec(int fd)
{
	long r = syscall(SYS_fcntl, fd, F_GETFD);

	return r > 0 && (r & FD_CLOEXEC) != 0;
}

/* The remote numbers of this process, at most @max, in @out; how many.
 * Only reads the map (a vfork child may call it). */
static size_t
remote_numbers(int *out, size_t max)
{
	size_t n = 0;

	for (int fd = 0; fd < KP_MAX_FD && n < max; fd++) {
		struct kp_file *f;

		if (!kp__fd_is_mapped(fd))
			continue;
		f = kp__fd_get(fd);
		if (f != NULL && f->kind == KP_REMOTE)
			out[n++] = fd;
		kp__file_put(f);
	}
	return n;
}

/* The bytes env_fill() needs for @envp, @np parent numbers and @nh
 * sockets; *@nenv is @envp's length. */
static size_t
env_room(char *const envp[], size_t np, size_t nh, size_t *nenv)
{
	size_t n = 0;

	while (envp != NULL && envp[n] != NULL)
		n++;
	*nenv = n;
	return (n + 3) * sizeof(char *) + 128 + (np + nh) * LIST_ENTRY;
}

/*
 * The new program's environment in @mem (env_room() bytes): @envp
 * without KSOCKD_TOKEN and KSOCK_RUN_KSOCKD_FDS, then @token and the
 * list of the parent's @par[@np] and the sockets @h[@nh]. Calls no
 * allocator (a vfork child's memory is its parent's).
 */
static char **
env_fill(void *mem, size_t room, char *const envp[], size_t nenv,
	 uint64_t token, const int *par, size_t np, const struct handover *h,
	 size_t nh)
{
	char **env = mem, *p, *end;
	size_t k = 0;

	for (size_t i = 0; i < nenv; i++)
		if (!env_is(envp[i], "KSOCKD_TOKEN") &&
		    !env_is(envp[i], "KSOCK_RUN_KSOCKD_FDS"))
			env[k++] = envp[i];
	p = (char *)(env + nenv + 3);
	end = (char *)mem + room;
	env[k++] = p;
	p += snprintf(p, (size_t)(end - p), "KSOCKD_TOKEN=%llx",
		      (unsigned long long)token) + 1;
	env[k++] = p;
	p += snprintf(p, (size_t)(end - p), "KSOCK_RUN_KSOCKD_FDS=");
	for (size_t i = 0; i < np; i++)
		p += snprintf(p, (size_t)(end - p), "%d,", par[i]);
	for (size_t i = 0; i < nh; i++)
		p += snprintf(p, (size_t)(end - p), "%d=%d,", h[i].c, h[i].p);
	env[k] = NULL;
	return env;
}

/* A hand-over's token (KSD_FORK: the server copies the table), or 0. */
static uint64_t
handover_token(void)
{
	struct ksd_rep rep;

	if (ksd__request(KSD_FORK, 0, -1, 0, 0, 0, NULL, 0, &rep) < 0)
		return 0;
	return rep.token;
}

/* An action on the numbers an exec or a spawn is about to make: the
 * sockets it keeps, from the parent's, in place (spawn.c's file
 * actions), or -1 when the list cannot be known (no hand-over). */
typedef int (*handover_edit)(struct handover *h, size_t n, const void *arg);

/*
 * The new program's environment for an exec or a spawn in this process
 * (not a vfork child): @envp with the hand-over's variables, allocated
 * (free(result) frees all). The sockets it gets are the parent's that
 * are not close-on-exec, at their numbers, after @edit(@arg) when not
 * NULL, which may add @more. NULL when there is nothing to hand over
 * (@envp as it is), or with *@err -ENOMEM.
 */
static char **
handover_env(char *const envp[], handover_edit edit, const void *arg,
	     size_t more, int *err)
{
	size_t max, np, nh = 0, nenv, room;
	struct handover *h;
	char **env = NULL;
	uint64_t token;
	int *par;

	*err = 0;
	if (!remote_on || !ksd__attached() || kp__fd_count() == 0)
		return NULL;
	max = (size_t)kp__fd_count();
	par = malloc(max * sizeof(*par));
	h = malloc((max + more) * sizeof(*h) + sizeof(*h));
	if (par == NULL || h == NULL) {
		*err = -ENOMEM;
		goto out_free;
	}
	np = remote_numbers(par, max);
	for (size_t i = 0; i < np; i++)
		if (edit != NULL || !kernel_cloexec(par[i]))
			h[nh++] = (struct handover){ par[i], par[i] };
	if (edit != NULL) {
		int r = edit(h, nh, arg);

		if (r < 0)
			goto out_free;
		nh = (size_t)r;
	}
	if (nh == 0 || (token = handover_token()) == 0)
		goto out_free;
	room = env_room(envp, np, nh, &nenv);
	env = malloc(room);
	if (env == NULL)
		*err = -ENOMEM;
	else
		env_fill(env, room, envp, nenv, token, par, np, h, nh);
out_free:
	free(h);
	free(par);
	return env;
}

/* Whether @fd is one of this library's placeholders. */
static bool
is_placeholder(int fd, const struct stat *lib)
{
	struct stat st;

	return syscall(SYS_fstat, fd, &st) == 0 && st.st_dev == lib->st_dev &&
	       st.st_ino == lib->st_ino;
}

/* Whether @fd, a number the list gives a new program, holds a
 * placeholder (the exec closed it when it was close-on-exec). */
static bool
kept_placeholder(int fd, const struct stat *lib)
{
	return fd >= 0 && fd < KP_MAX_FD && is_placeholder(fd, lib);
}

/*
 * After an exec, with the hand-over claimed: the list @list (see struct
 * handover) made the table. The copy holds the parent's numbers; each
 * socket moves to its number here (through a number above all, so that
 * a move onto a number another move takes from works), the rest close.
 */
static void
claim_list(char *list, const struct stat *lib)
{
	size_t n = 0, np = 0, nh = 0;
	struct handover *h;
	int *par, top = 0;
	char *save = NULL;

	for (const char *c = list; *c != '\0'; c++)
		n += *c == ',';
	par = malloc((n + 1) * sizeof(*par));
	h = malloc((n + 1) * sizeof(*h));
	if (par == NULL || h == NULL)
		goto out_free;
	for (char *t = strtok_r(list, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		char *eq;
		long c = strtol(t, &eq, 10), pn;

		if (c < 0 || c >= KP_MAX_FD)
			continue;
		if (*eq != '=') {
			par[np++] = (int)c;
			top = c > top ? (int)c : top;
			continue;
		}
		pn = strtol(eq + 1, NULL, 10);
		if (pn < 0 || pn >= KP_MAX_FD ||
		    !kept_placeholder((int)c, lib))
			continue;
		h[nh++] = (struct handover){ (int)c, (int)pn };
		top = c > top ? (int)c : top;
	}
	/* The moved sockets to numbers above every other first. */
	for (size_t i = 0; i < nh; i++) {
		struct ksd_rep rep;

		if (h[i].c == h[i].p)
			continue;
		if (ksd__request(KSD_DUP, 0, h[i].p, top + 1 + (int)i, 0, 0,
				 NULL, 0, &rep) < 0)
			h[i].c = -1 - h[i].c;	/* lost: not mapped */
	}
	/* Then every number of the parent's that is not kept as it is. */
	for (size_t i = 0; i < np; i++) {
		bool kept = false;

		for (size_t j = 0; j < nh && !kept; j++)
			kept = h[j].c == par[i] && h[j].p == par[i];
		if (!kept)
			close_remote(par[i]);
	}
	for (size_t i = 0; i < nh; i++) {
		struct ksd_rep rep;
		int tmp = top + 1 + (int)i;

		if (h[i].c < 0) {
			continue;
		} else if (h[i].c != h[i].p) {
			if (ksd__request(KSD_DUP, 0, tmp, h[i].c, 0, 0, NULL,
					 0, &rep) < 0)
				h[i].c = -1 - h[i].c;
			close_remote(tmp);
		}
		if (h[i].c >= 0)
			map_remote(h[i].c, NULL);
	}
out_free:
	free(h);
	free(par);
}

/* After an exec: claim the hand-over and make the table its list says. */
static void
claim_after_exec(void)
{
	const char *list = getenv("KSOCK_RUN_KSOCKD_FDS");
	char *copy = list != NULL ? strdup(list) : NULL;
	struct stat lib;

	unsetenv("KSOCK_RUN_KSOCKD_FDS");
	pthread_mutex_lock(&attach_lock);
	/* ksd_attach() takes KSOCKD_TOKEN from the environment. */
	if (attach_locked() < 0 || copy == NULL ||
	    syscall(SYS_stat, kp__placeholder_path(), &lib) < 0) {
		pthread_mutex_unlock(&attach_lock);
		free(copy);
		return;
	}
	pthread_mutex_unlock(&attach_lock);
	claim_list(copy, &lib);
	free(copy);
}

/* At most this many remote numbers go to a vfork child's exec: its
 * list is on the stack it shares with its parent's thread. */
#define VFORK_MAX	1024

/*
 * A vfork child's sockets (Python's subprocess): the numbers of this
 * process whose open file is that of one of the parent's remote numbers
 * @par[@np] (kcmp: the child's file actions, dup2 onto 0 say, moved or
 * closed the placeholders, and every placeholder is an open of the same
 * file), in @h (room for @max); how many, or -1 when the kernel cannot
 * tell (kcmp refused). Only system calls and reads of the map: the
 * parent's thread is suspended, its other threads run.
 */
static int
vfork_sockets(const int *par, size_t np, struct handover *h, size_t max)
{
	pid_t self = (pid_t)syscall(SYS_getpid),
	      parent = (pid_t)syscall(SYS_getppid);
	char buf[4096];
	struct stat lib;
	size_t nh = 0;
	long dir, got;

	if (syscall(SYS_stat, kp__placeholder_path(), &lib) < 0)
		return -1;
	dir = syscall(SYS_openat, AT_FDCWD, "/proc/self/fd",
		      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -1;
	while ((got = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < got;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			long c = strtol(d->d_name, NULL, 10);

			off += d->d_reclen;
			if (d->d_name[0] < '0' || d->d_name[0] > '9' ||
			    c == dir || !is_placeholder((int)c, &lib) ||
			    kernel_cloexec((int)c))
				continue;
			for (size_t i = 0; i < np && nh < max; i++) {
				long k = syscall(SYS_kcmp, self, parent,
						 KCMP_FILE, c, par[i]);

				if (k < 0) {
					sys_close(dir);
					return -1;
				}
				if (k == 0) {
					h[nh++] = (struct handover){ (int)c,
								     par[i] };
					break;
				}
			}
		}
	}
	sys_close(dir);
	return got < 0 ? -1 : (int)nh;
}

/*
 * The environment a vfork child's exec passes, in @mem (@room bytes,
 * on its stack): @envp with the hand-over's variables, or @envp when
 * there is nothing to hand over or it cannot be done. The hand-over's
 * request is made on the parent's connection, as the suspended thread
 * would make it.
 */
static char *const *
vfork_env(char *const envp[], void *mem, size_t room)
{
	int *par = mem;
	struct handover *h = (struct handover *)(par + VFORK_MAX);
	size_t np, nenv, need;
	uint64_t token;
	int nh;

	np = remote_numbers(par, VFORK_MAX);
	if (np == 0 || np == VFORK_MAX)
		return envp;
	nh = vfork_sockets(par, np, h, VFORK_MAX);
	if (nh <= 0)
		return envp;
	need = env_room(envp, np, (size_t)nh, &nenv);
	mem = h + nh;
	room -= (size_t)((char *)mem - (char *)par);
	if (need > room || (token = handover_token()) == 0)
		return envp;
	return env_fill(mem, room, envp, nenv, token, par, np, h,
			(size_t)nh);
}

/* The stack a vfork child's exec takes for vfork_env(): the lists, and
 * an environment of a few thousand variables. */
#define VFORK_ROOM	(VFORK_MAX * (sizeof(int) + sizeof(struct handover)) + \
			 (size_t)256 * 1024)

/*
 * The environment an exec passes: @envp, or with remote sockets to hand
 * over a copy with the hand-over's variables (handover_env()), which
 * *@owned holds until exec_done(). NULL with errno when it cannot be
 * made. A vfork child's goes on @vmem (VFORK_ROOM bytes of its stack).
 */
static char *const *
exec_envp(char *const envp[], char ***owned, void *vmem)
{
	int err;

	*owned = NULL;
	if (kp__in_vfork_child())
		return remote_on && ksd__attached() ? vfork_env(envp, vmem,
								VFORK_ROOM)
						    : envp;
	*owned = handover_env(envp, NULL, NULL, 0, &err);
	if (err < 0) {
		errno = -err;
		return NULL;
	}
	return *owned != NULL ? *owned : envp;
}

/* After an exec that failed with @r: frees what exec_envp() made,
 * keeping the exec's errno. */
static int
exec_done(int r, char **owned)
{
	int err = errno;

	free(owned);
	errno = err;
	return r;
}

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);

/* libc's exec calls, found at start: a vfork child (posix_spawn,
 * Python's subprocess) must not call into the dynamic loader, whose
 * lock a thread of its parent may hold. */
static execve_fn libc_execve, libc_execvpe;	/* [I] */
static fexecve_fn libc_fexecve;			/* [I] */
typedef int (*spawn_fn)(pid_t *, const char *,
			const posix_spawn_file_actions_t *,
			const posix_spawnattr_t *, char *const[],
			char *const[]);
static spawn_fn libc_posix_spawn, libc_posix_spawnp;	/* [I] */

static void
exec_syms_init(void)
{
	libc_execve = (execve_fn)kp__libc_sym("execve");
	libc_execvpe = (execve_fn)kp__libc_sym("execvpe");
	libc_fexecve = (fexecve_fn)kp__libc_sym("fexecve");
	libc_posix_spawn = (spawn_fn)kp__libc_sym("posix_spawn");
	libc_posix_spawnp = (spawn_fn)kp__libc_sym("posix_spawnp");
}

/* execve(2) and the calls of the family that take a path or a name. */
static int
exec_with(execve_fn real, const char *path, char *const argv[],
	  char *const envp[])
{
	void *vmem = kp__in_vfork_child() ? alloca(VFORK_ROOM) : NULL;
	char *const *env;
	char **owned;

	/* A vfork child (Python's subprocess) tries each directory of PATH
	 * with execve: one that cannot be run makes no hand-over, which
	 * would hold the sockets for 30 s. */
	if (vmem != NULL && real == libc_execve &&
	    syscall(SYS_faccessat, AT_FDCWD, path, X_OK) != 0)
		return real(path, argv, envp);
	env = exec_envp(envp, &owned, vmem);
	if (env == NULL)
		return -1;
	return exec_done(real(path, argv, env), owned);
}

KP_EXPORT int
execve(const char *path, char *const argv[], char *const envp[])
{
	return exec_with(libc_execve, path, argv, envp);
}

KP_EXPORT int
execvpe(const char *file, char *const argv[], char *const envp[])
{
	return exec_with(libc_execvpe, file, argv, envp);
}

KP_EXPORT int
execv(const char *path, char *const argv[])
{
	return exec_with(libc_execve, path, argv, environ);
}

KP_EXPORT int
execvp(const char *file, char *const argv[])
{
	return exec_with(libc_execvpe, file, argv, environ);
}

KP_EXPORT int
fexecve(int fd, char *const argv[], char *const envp[])
{
	void *vmem = kp__in_vfork_child() ? alloca(VFORK_ROOM) : NULL;
	char *const *env;
	char **owned;

	env = exec_envp(envp, &owned, vmem);
	if (env == NULL)
		return -1;
	return exec_done(libc_fexecve(fd, argv, env), owned);
}

/* execl, execlp, execle: their arguments as an array. */
#define EXECL_ARGS(argv, arg0, ap)					\
	do {								\
		size_t n_ = 1;						\
		va_list c_;						\
		va_copy(c_, ap);					\
		while (va_arg(c_, char *) != NULL)			\
			n_++;						\
		va_end(c_);						\
		argv = alloca((n_ + 1) * sizeof(char *));		\
		argv[0] = (char *)(arg0);				\
		for (size_t i_ = 1; i_ <= n_; i_++)			\
			argv[i_] = va_arg(ap, char *);			\
	} while (0)

KP_EXPORT int
execl(const char *path, const char *arg, ...)
{
	char **argv;
	va_list ap;

	va_start(ap, arg);
	EXECL_ARGS(argv, arg, ap);
	va_end(ap);
	return execv(path, argv);
}

KP_EXPORT int
execlp(const char *file, const char *arg, ...)
{
	char **argv;
	va_list ap;

	va_start(ap, arg);
	EXECL_ARGS(argv, arg, ap);
	va_end(ap);
	return execvp(file, argv);
}

KP_EXPORT int
execle(const char *path, const char *arg, ...)
{
	char **argv, **envp;
	va_list ap;

	va_start(ap, arg);
	EXECL_ARGS(argv, arg, ap);
	envp = va_arg(ap, char **);
	va_end(ap);
	return execve(path, argv, envp);
}

/* -- posix_spawn -- */

/*
 * glibc runs a spawn's file actions in the child with its internal
 * calls, which the library cannot see: the hand-over's list is made in
 * the parent by reading them. Their record is glibc's own (struct
 * __spawn_action, behind posix_spawn_file_actions_t's __actions and
 * __used), whose kinds glibc only ever appends to; spawn_layout_ok()
 * checks the layout once, and without it a spawn hands nothing over.
 */
enum {
	GA_CLOSE, GA_DUP2, GA_OPEN, GA_CHDIR, GA_FCHDIR, GA_CLOSEFROM,
	GA_TCSETPGRP
};

struct glibc_action {
	int tag;
	union {
		struct { int fd; } close;
		struct { int fd, newfd; } dup2;
		struct { int fd; char *path; int oflag; mode_t mode; } open;
		struct { char *path; } chdir;
		struct { int fd; } fchdir;
		struct { int from; } closefrom;
	} u;
};

static pthread_once_t spawn_layout_once = PTHREAD_ONCE_INIT;
static bool spawn_layout;			/* [spawn_layout_once] */

/* Whether the file actions read back as glibc recorded them. */
static void
spawn_layout_check(void)
{
	posix_spawn_file_actions_t fa;
	const struct glibc_action *a;

	if (posix_spawn_file_actions_init(&fa) != 0)
		return;
	if (posix_spawn_file_actions_adddup2(&fa, 5, 6) == 0 &&
	    posix_spawn_file_actions_addclose(&fa, 7) == 0 &&
	    posix_spawn_file_actions_addopen(&fa, 8, "/", O_RDONLY, 0) == 0 &&
	    posix_spawn_file_actions_addclosefrom_np(&fa, 9) == 0 &&
	    fa.__used == 4) {
		a = (const struct glibc_action *)fa.__actions;
		spawn_layout = a[0].tag == GA_DUP2 && a[0].u.dup2.fd == 5 &&
			       a[0].u.dup2.newfd == 6 &&
			       a[1].tag == GA_CLOSE && a[1].u.close.fd == 7 &&
			       a[2].tag == GA_OPEN && a[2].u.open.fd == 8 &&
			       a[3].tag == GA_CLOSEFROM &&
			       a[3].u.closefrom.from == 9;
	}
	posix_spawn_file_actions_destroy(&fa);
}

/* A socket of the list in @h[*@n] that is at @c: its index, or -1. */
static long
handover_at(const struct handover *h, size_t n, int c)
{
	for (size_t i = 0; i < n; i++)
		if (h[i].c == c)
			return (long)i;
	return -1;
}

/*
 * A handover_edit: @h[@n] (the parent's sockets at their numbers) after
 * the file actions @arg, then without what is close-on-exec. Runs them
 * as glibc's child does; -1 for an action it does not know. @h has room
 * for one more entry per action (each dup2 adds at most one).
 */
static int
spawn_edit(struct handover *h, size_t n, const void *arg)
{
	const posix_spawn_file_actions_t *fa = arg;
	const struct glibc_action *a;
	size_t cap = n + (fa != NULL && fa->__used > 0 ? (size_t)fa->__used
							: 0);
	/* Close-on-exec, per entry of @h; a dup2 makes entries without. */
	bool *cx = calloc(cap + 1, sizeof(*cx));
	long i;

	if (cx == NULL)
		return -1;
	for (size_t k = 0; k < n; k++)
		cx[k] = kernel_cloexec(h[k].c);
	pthread_once(&spawn_layout_once, spawn_layout_check);
	if (fa != NULL && fa->__used > 0 && !spawn_layout)
		goto out_unknown;
	a = fa != NULL ? (const struct glibc_action *)fa->__actions : NULL;
	for (int k = 0; fa != NULL && k < fa->__used; k++) {
		switch (a[k].tag) {
		case GA_CLOSE:
		case GA_OPEN:
			/* open: a file of the kernel's at the number. */
			i = handover_at(h, n, a[k].tag == GA_CLOSE ?
					a[k].u.close.fd : a[k].u.open.fd);
			if (i >= 0) {
				h[i] = h[--n];
				cx[i] = cx[n];
			}
			break;
		case GA_DUP2: {
			int from = a[k].u.dup2.fd, to = a[k].u.dup2.newfd;

			i = handover_at(h, n, from);
			if (from == to) {
				/* glibc clears close-on-exec then. */
				if (i >= 0)
					cx[i] = false;
				break;
			}
			if (i >= 0) {
				long j = handover_at(h, n, to);

				if (j < 0 && n == cap)
					goto out_unknown;
				if (j < 0)
					j = (long)n++;
				h[j] = (struct handover){ to, h[i].p };
				cx[j] = false;
			} else if ((i = handover_at(h, n, to)) >= 0) {
				h[i] = h[--n];
				cx[i] = cx[n];
			}
			break;
		}
		case GA_CLOSEFROM:
			for (size_t m = 0; m < n;)
				if (h[m].c >= a[k].u.closefrom.from) {
					h[m] = h[--n];
					cx[m] = cx[n];
				} else {
					m++;
				}
			break;
		case GA_CHDIR:
		case GA_FCHDIR:
		case GA_TCSETPGRP:
			break;
		default:
			goto out_unknown;
		}
	}
	for (size_t m = 0; m < n;)
		if (cx[m]) {
			h[m] = h[--n];
			cx[m] = cx[n];
		} else {
			m++;
		}
	free(cx);
	return (int)n;
out_unknown:
	free(cx);
	return -1;
}

/* posix_spawn and posix_spawnp: the hand-over made here, the child's
 * list from the file actions (spawn_edit()). */
static int
spawn_with(spawn_fn real, pid_t *pid, const char *path,
	   const posix_spawn_file_actions_t *fa,
	   const posix_spawnattr_t *attr, char *const argv[],
	   char *const envp[])
{
	char **owned = NULL;
	int r, err = 0;

	if (!kp__in_vfork_child())
		owned = handover_env(envp, spawn_edit, fa,
				     fa != NULL && fa->__used > 0 ?
				     (size_t)fa->__used : 0, &err);
	if (err < 0)
		return -err;
	r = real(pid, path, fa, attr, argv, owned != NULL ? owned : envp);
	free(owned);
	return r;
}

KP_EXPORT int
posix_spawn(pid_t *pid, const char *path,
	    const posix_spawn_file_actions_t *fa,
	    const posix_spawnattr_t *attr, char *const argv[],
	    char *const envp[])
{
	return spawn_with(libc_posix_spawn, pid, path, fa, attr, argv, envp);
}

KP_EXPORT int
posix_spawnp(pid_t *pid, const char *file,
	     const posix_spawn_file_actions_t *fa,
	     const posix_spawnattr_t *attr, char *const argv[],
	     char *const envp[])
{
	return spawn_with(libc_posix_spawnp, pid, file, fa, attr, argv,
			  envp);
}

/* -- identity and umask -- */

/*
 * The server takes a process's identity (SO_PEERCRED) and umask when it
 * attaches: after a change the process attaches again with its
 * descriptors (ksd__reattach()), as a kernel sees the new credentials
 * at the next call. A process that changes them while another of its
 * threads is inside a socket call is not supported.
 */
static void
identity_changed(void)
{
	if (remote_on && ksd__attached() && !kp__in_vfork_child() &&
	    ksd__reattach() == 0)
		(void)ksd__notifiers_open();
}

KP_EXPORT mode_t
umask(mode_t mask)
{
	mode_t old = kp__kernel_umask(mask);

	if (old != (mask & 0777))
		identity_changed();
	return old;
}

/* See preload.h: the server keys a client's abstract names by the
 * namespace it read at the hello, and again when told (the server's
 * address is an abstract name of the namespace left, so attaching again
 * cannot work). */
void
kp__remote_netns_changed(void)
{
	if (remote_on && ksd__attached() && !kp__in_vfork_child())
		(void)ksd__netns_changed();
}

/* The set*id calls: libc's, then the server is told when they worked.
 * A vfork child has one thread and must not enter the dynamic loader:
 * the system call does there what libc would. */
#define SETID(name, nr, params, args)					\
KP_EXPORT int								\
name params								\
{									\
	int (*real) params;						\
	int r;								\
									\
	if (kp__in_vfork_child())					\
		return (int)syscall(nr SETID_ARGS args);		\
	real = (int (*) params)kp__libc_sym(#name);			\
	r = real args;							\
	if (r == 0)							\
		identity_changed();					\
	return r;							\
}
/* (a, b) as ", (long)a, (long)b" after the call number. */
#define SETID_ARGS(...)	SETID_ARGS_(__VA_ARGS__, 0, 0, 0)
#define SETID_ARGS_(a, b, c, ...)	, (long)(a), (long)(b), (long)(c)
SETID(setuid, SYS_setuid, (uid_t u), (u))
SETID(setgid, SYS_setgid, (gid_t g), (g))
SETID(setreuid, SYS_setreuid, (uid_t r_, uid_t e), (r_, e))
SETID(setregid, SYS_setregid, (gid_t r_, gid_t e), (r_, e))
SETID(setresuid, SYS_setresuid, (uid_t r_, uid_t e, uid_t s_), (r_, e, s_))
SETID(setresgid, SYS_setresgid, (gid_t r_, gid_t e, gid_t s_), (r_, e, s_))
/* The server reads the supplementary groups (SO_PEERGROUPS) then too. */
SETID(setgroups, SYS_setgroups, (size_t n, const gid_t *l), (n, l))

/* seteuid and setegid: libc's (setresuid/setresgid with -1), which
 * has no system call of its own. */
KP_EXPORT int
seteuid(uid_t u)
{
	return setresuid((uid_t)-1, u, (uid_t)-1);
}

KP_EXPORT int
setegid(gid_t g)
{
	return setresgid((gid_t)-1, g, (gid_t)-1);
}

/* -- start -- */

/* See preload.h. */
void
kp__remote_init(void)
{
	const char *addr = getenv("KSOCK_RUN_KSOCKD");
	const char *bin = getenv("KSOCK_RUN_KSOCKD_START");

	exec_syms_init();
	if (addr == NULL || addr[0] == '\0' ||
	    strlen(addr) >= sizeof(remote_addr))
		return;
	snprintf(remote_addr, sizeof(remote_addr), "%s", addr);
	if (bin != NULL && strlen(bin) < sizeof(server_bin))
		snprintf(server_bin, sizeof(server_bin), "%s", bin);
	remote_on = true;
	ksd_set_fd_classifier(fd_is_kernel);
	pthread_atfork(atfork_prepare, NULL, atfork_child);
	/* Attached from the start (a process that makes no socket costs
	 * the server one client): the bootstrap connection's descriptor is
	 * there before the program looks at its descriptors. */
	if (getenv("KSOCKD_TOKEN") != NULL)
		claim_after_exec();
	else
		attached();
}

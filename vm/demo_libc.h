/*
 * The POSIX personality's calls as examples/demo.c uses them, mapped onto
 * the real system calls, so that the same demo.c runs in the test VM
 * (mk/vm.mk force-includes this header with -include and links
 * statically against libc): there PF_UNIX is the guest kernel's, served
 * by ksock.ko or, in the oracle boot, by Linux's own AF_UNIX.
 *
 * Each mapping keeps the contract of include/ksock/posix.h and
 * port/hosted/proc.c, with the real thing in place of the simulated one:
 * - a simulated process is a real one: ksp_fork() is fork(), the child
 *   runs fn(arg) and exits with its return value (its descriptors close
 *   on exit, as the hosted process's table does), ksp_wait() is
 *   waitpid(); credentials and umask are the kernel's, so
 *   ksp_setresuid/gid and ksp_umask are the system calls;
 * - the descriptor table is the process's own, less what it held before
 *   ksp_init() (the hosted table starts empty; stdio is not in it);
 * - ksp_fini() ends that table and fails with EBUSY while the kernel
 *   still lists a PF_UNIX socket: the instance ksock stops is here the
 *   kernel's whole PF_UNIX, which only the demo uses while it runs;
 * - ksp_alloc_outstanding() fails with ENOSYS: ksock's allocations are
 *   the kernel's and no process can count them; ksock.ko counts them at
 *   unload (vm/init's leaks and kernel-log checks).
 * Every other call is the system call of the same name.
 */
#ifndef KSOCK_VM_DEMO_LIBC_H
#define KSOCK_VM_DEMO_LIBC_H

/* The hosted personality's declarations stay out: these replace them. */
#define KSOCK_POSIX_H

/* What posix.h brings in, which a program of the personality may rely on. */
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Descriptors open before ksp_init(): not part of the demo's table. */
#define DEMO_LIBC_FDS 64
static int demo_libc_before[DEMO_LIBC_FDS];
static int demo_libc_nbefore;

static inline bool
demo_libc_was_open(int fd)
{
	for (int i = 0; i < demo_libc_nbefore; i++)
		if (demo_libc_before[i] == fd)
			return true;
	return false;
}

/*
 * Calls @fn(@fd, @arg) for each of the process's open descriptors that
 * ksp_init() did not find open. Returns the number visited, or -1/errno.
 */
static inline int
demo_libc_each_fd(void (*fn)(int, void *), void *arg)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (e->d_name[0] == '.' || *end != '\0' || fd == dirfd(d) ||
		    demo_libc_was_open((int)fd))
			continue;
		if (fn != NULL)
			fn((int)fd, arg);
		n++;
	}
	closedir(d);
	return n;
}

static inline void
demo_libc_note(int fd, void *arg)
{
	(void)arg;
	if (demo_libc_nbefore < DEMO_LIBC_FDS)
		demo_libc_before[demo_libc_nbefore++] = fd;
}

/* The process as it is now is the first "process"; its descriptors so
 * far are not the demo's. 0, or -1/errno (EMFILE: too many to note). */
static inline int
ksp_init(void)
{
	int n;

	demo_libc_nbefore = 0;
	n = demo_libc_each_fd(NULL, NULL);
	if (n < 0)
		return -1;
	if (n > DEMO_LIBC_FDS) {
		errno = EMFILE;
		return -1;
	}
	demo_libc_each_fd(demo_libc_note, NULL);
	return 0;
}

static inline int
ksp_fd_count(void)
{
	int n = demo_libc_each_fd(NULL, NULL);

	return n < 0 ? 0 : n;
}

static inline void
demo_libc_close(int fd, void *arg)
{
	(void)arg;
	close(fd);
}

/* The number of PF_UNIX sockets the kernel lists, or -1/errno. */
static inline int
demo_libc_unix_sockets(void)
{
	/* With ksock owning PF_UNIX, Linux's own list stays empty. */
	FILE *f = fopen("/proc/net/ksock_unix", "r");
	char line[512];
	int n = -1;	/* the header line */

	if (f == NULL && errno == ENOENT)
		f = fopen("/proc/net/unix", "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strchr(line, '\n') != NULL)
			n++;
	fclose(f);
	return n < 0 ? 0 : n;
}

static inline int
ksp_fini(void)
{
	int n;

	demo_libc_each_fd(demo_libc_close, NULL);
	n = demo_libc_unix_sockets();
	if (n < 0)
		return -1;
	if (n > 0) {
		errno = EBUSY;
		return -1;
	}
	return 0;
}

static inline long
ksp_alloc_outstanding(void)
{
	errno = ENOSYS;
	return -1;
}

/* -- processes -- */

struct ksp_proc {
	pid_t	pid;
};

static inline struct ksp_proc *
ksp_fork(int (*fn)(void *), void *arg)
{
	struct ksp_proc *p = malloc(sizeof(*p));

	if (p == NULL)
		return NULL;
	/* What the parent printed so far must not come out twice. */
	fflush(NULL);
	p->pid = fork();
	if (p->pid < 0) {
		int err = errno;

		free(p);
		errno = err;
		return NULL;
	}
	if (p->pid == 0)
		_exit(fn(arg) & 0xff);
	return p;
}

/* The exit status; a child killed by a signal gives 128 + the signal, as
 * a shell reports it. -1/errno when waitpid fails. */
static inline int
ksp_wait(struct ksp_proc *p)
{
	int status;
	pid_t r;

	do
		r = waitpid(p->pid, &status, 0);
	while (r < 0 && errno == EINTR);
	free(p);
	if (r < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status)
				 : 128 + WTERMSIG(status);
}

static inline int
ksp_setresuid(uid_t r, uid_t e, uid_t s)
{
	return setresuid(r, e, s);
}

static inline int
ksp_setresgid(gid_t r, gid_t e, gid_t s)
{
	return setresgid(r, e, s);
}

static inline mode_t
ksp_umask(mode_t mask)
{
	return umask(mask);
}

/* -- the socket calls: the system calls themselves -- */

#define ksp_socket	socket
#define ksp_socketpair	socketpair
#define ksp_bind	bind
#define ksp_listen	listen
#define ksp_accept	accept
#define ksp_connect	connect
#define ksp_send	send
#define ksp_sendto	sendto
#define ksp_recv	recv
#define ksp_recvfrom	recvfrom
#define ksp_read	read
#define ksp_write	write
#define ksp_close	close
#define ksp_shutdown	shutdown
#define ksp_getsockopt	getsockopt
#define ksp_setsockopt	setsockopt
#define ksp_poll	poll

#endif /* KSOCK_VM_DEMO_LIBC_H */

/*
 * Preload port: the introspection server, so `ksockstat -p PID` reads a
 * program run under ksock-run, as it reads a hosted program
 * (docs/introspection.md).
 *
 * With KSOCK_DIAG=1 in the environment the library starts one thread
 * when ksock starts (and again in a forked child, which has a ksock of
 * its own): it listens on the real abstract socket "\0ksock-diag-<pid>"
 * and answers each connection with one snapshot in the wire format of
 * port/hosted/diag.c (ksp_diag_snapshot(), ksp_diag_snapshot_write()),
 * then closes it. Only the program's real uid, or root, is answered
 * (SO_PEERCRED: abstract sockets carry no permissions). The server's
 * sockets are the kernel's, made with raw system calls, and its
 * listening descriptor sits at a high number, out of the program's way;
 * the thread blocks every signal, so the program's signals go to its own
 * threads.
 *
 * Locks: none; diag_fd is written by the thread that starts the server
 * (ksock's start, or the atfork child handler, where only one thread
 * runs).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <ksock/posix.h>

#include "preload.h"
#include "../hosted/hosted.h"

/* Connections waiting for the server thread. */
#define KP_DIAG_BACKLOG	8

static int diag_fd = -1;	/* listening, or -1 */

static void *
serve_main(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		long fd = syscall(SYS_accept4, lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		ksp__diag_answer((int)fd);
	}
	return NULL;
}

/* See preload.h: starts the server when KSOCK_DIAG=1 asks for it. A
 * failure leaves the program running without one. */
void
kp__diag_start(void)
{
	const char *want = getenv("KSOCK_DIAG");
	struct sockaddr_un sun;
	socklen_t len;
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t t;
	long fd;

	if (want == NULL || strcmp(want, "1") != 0)
		return;
	if (diag_fd >= 0) {
		/* Inherited over fork: the parent's; ours comes next. */
		sys_close(diag_fd);
		diag_fd = -1;
	}
	len = ksp_diag_addr((pid_t)syscall(SYS_getpid), &sun);
	fd = syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	fd = kp__fd_move_high((int)fd);
	if (fd < 0)
		return;
	if (syscall(SYS_bind, fd, &sun, len) < 0 ||
	    syscall(SYS_listen, fd, KP_DIAG_BACKLOG) < 0)
		goto close_fd;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, serve_main, (void *)(intptr_t)fd) != 0) {
		pthread_attr_destroy(&attr);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		goto close_fd;
	}
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	diag_fd = (int)fd;
	return;

close_fd:
	sys_close(fd);
}

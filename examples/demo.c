/*
 * ksock demo: one run through the system, end to end, saying what happens.
 *
 * Runs on ksock's hosted port: a server process binds a path name and
 * listens; client processes with other credentials connect, and the server
 * sees who they are through SO_PEERCRED; a seqpacket pair keeps record
 * boundaries; a datagram socket with an abstract name gets messages from
 * an autobound sender, and poll shows a sender waiting for room. Every
 * step checks its result and the demo exits non-zero if anything differs
 * from what Linux would do.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ksock/posix.h>

static int failures;

#define EXPECT(cond, ...) do {						\
	if (!(cond)) {							\
		failures++;						\
		printf("  !! unexpected: %s (errno %s)\n", #cond,	\
		       strerror(errno));				\
	} else {							\
		printf("  " __VA_ARGS__);				\
		printf("\n");						\
	}								\
} while (0)

static socklen_t
path_addr(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	strncpy(sun->sun_path, path, sizeof(sun->sun_path) - 1);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
			   strlen(path) + 1);
}

static char sock_path[64];

struct client_job {
	uid_t	uid;
	gid_t	gid;
	char	greeting[32];
};

/* A client process: become another user, connect, say hello, read back. */
static int
client_main(void *p)
{
	struct client_job *job = p;
	struct sockaddr_un sun;
	socklen_t len = path_addr(&sun, sock_path);
	char reply[64];
	ssize_t n;
	int fd;

	if (ksp_setresgid(job->gid, job->gid, job->gid) < 0 ||
	    ksp_setresuid(job->uid, job->uid, job->uid) < 0)
		return 1;
	fd = ksp_socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || ksp_connect(fd, (struct sockaddr *)&sun, len) < 0)
		return 2;
	if (ksp_write(fd, job->greeting, strlen(job->greeting)) < 0)
		return 3;
	ksp_shutdown(fd, SHUT_WR);
	n = ksp_read(fd, reply, sizeof(reply) - 1);
	ksp_close(fd);
	if (n <= 0)
		return 4;
	reply[n] = '\0';
	return strncmp(reply, "welcome ", 8) == 0 ? 0 : 5;
}

static void
stream_server(void)
{
	static struct client_job jobs[] = {
		{ 1000, 1000, "hello from 1000" },
		{ 2000, 3000, "hello from 2000" },
	};
	struct ksp_proc *procs[2];
	struct sockaddr_un sun;
	struct stat st;
	int lfd;

	printf("1. A stream server on a path name, clients as other users\n");
	snprintf(sock_path, sizeof(sock_path), "/tmp/ksock-demo-%d.sock",
		 (int)getpid());
	unlink(sock_path);
	ksp_umask(022);
	lfd = ksp_socket(AF_UNIX, SOCK_STREAM, 0);
	EXPECT(lfd >= 0, "socket() -> descriptor %d", lfd);
	EXPECT(ksp_bind(lfd, (struct sockaddr *)&sun,
			path_addr(&sun, sock_path)) == 0,
	       "bind(%s) created a socket node on the real filesystem",
	       sock_path);
	EXPECT(stat(sock_path, &st) == 0 && S_ISSOCK(st.st_mode),
	       "stat: S_IFSOCK, mode %04o (0777 & ~umask 022)",
	       st.st_mode & 07777);
	/* Clients of other users need write permission on the node. */
	chmod(sock_path, 0777);
	EXPECT(ksp_listen(lfd, 8) == 0, "listen(backlog 8)");

	for (int i = 0; i < 2; i++)
		procs[i] = ksp_fork(client_main, &jobs[i]);
	for (int i = 0; i < 2; i++) {
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		char buf[64], reply[80];
		ssize_t n;
		int cfd = ksp_accept(lfd, NULL, NULL);

		EXPECT(cfd >= 0, "accept() -> descriptor %d", cfd);
		EXPECT(ksp_getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred,
				      &clen) == 0,
		       "SO_PEERCRED: pid %d uid %u gid %u", cred.pid,
		       cred.uid, cred.gid);
		n = ksp_read(cfd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		EXPECT(n > 0, "read %zd bytes: \"%s\"", n, buf);
		snprintf(reply, sizeof(reply), "welcome uid %u", cred.uid);
		EXPECT(ksp_write(cfd, reply, strlen(reply)) ==
		       (ssize_t)strlen(reply), "replied \"%s\"", reply);
		ksp_close(cfd);
	}
	for (int i = 0; i < 2; i++) {
		int status = ksp_wait(procs[i]);

		EXPECT(status == 0, "client %d exited with status %d", i,
		       status);
	}
	ksp_close(lfd);
	EXPECT(access(sock_path, F_OK) == 0,
	       "after close the node is still there, as on Linux");
	unlink(sock_path);
}

static void
seqpacket_records(void)
{
	char buf[8];
	int sv[2];
	ssize_t n;

	printf("2. A seqpacket pair keeps record boundaries\n");
	EXPECT(ksp_socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0,
	       "socketpair(SOCK_SEQPACKET)");
	ksp_send(sv[0], "first record", 12, 0);
	ksp_send(sv[0], "", 0, 0);
	ksp_send(sv[0], "third", 5, 0);
	n = ksp_recv(sv[1], buf, sizeof(buf), MSG_TRUNC);
	EXPECT(n == 12, "recv(8-byte buffer, MSG_TRUNC) -> %zd: the real "
	       "length; the rest of the record is discarded", n);
	n = ksp_recv(sv[1], buf, sizeof(buf), 0);
	EXPECT(n == 0, "recv -> %zd: a zero-length record", n);
	n = ksp_recv(sv[1], buf, sizeof(buf), 0);
	EXPECT(n == 5 && memcmp(buf, "third", 5) == 0,
	       "recv -> %zd: \"third\"", n);
	ksp_close(sv[0]);
	n = ksp_recv(sv[1], buf, sizeof(buf), 0);
	EXPECT(n == 0, "peer closed: recv -> 0 (end of file)");
	ksp_close(sv[1]);
}

static void
datagrams_and_poll(void)
{
	struct sockaddr_un sun, from;
	socklen_t alen, flen;
	struct pollfd pfd;
	char name[32], buf[64];
	int rfd, s1, s2, sent = 0;
	ssize_t n;

	printf("3. Datagrams to an abstract name, and flow control\n");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(name, sizeof(name), "ksock-demo-%d", (int)getpid());
	memcpy(sun.sun_path + 1, name, strlen(name));
	alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			   strlen(name));
	rfd = ksp_socket(AF_UNIX, SOCK_DGRAM, 0);
	EXPECT(ksp_bind(rfd, (struct sockaddr *)&sun, alen) == 0,
	       "bind(\"\\0%s\"): an abstract name, no file", name);
	s1 = ksp_socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	s2 = ksp_socket(AF_UNIX, SOCK_DGRAM, 0);
	ksp_setsockopt(s2, SOL_SOCKET, SO_PASSCRED, &(int){ 1 },
		       sizeof(int));
	EXPECT(ksp_sendto(s2, "ping", 4, 0, (struct sockaddr *)&sun,
			  alen) == 4, "sendto from a socket with SO_PASSCRED");
	flen = sizeof(from);
	n = ksp_recvfrom(rfd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			 &flen);
	EXPECT(n == 4 && flen == 8 && from.sun_path[0] == '\0',
	       "recvfrom: 4 bytes from autobound name \"\\0%.5s\" (length %u)",
	       from.sun_path + 1, (unsigned)flen);

	/* poll looks at the receiver's queue only for a connected peer. */
	EXPECT(ksp_connect(s1, (struct sockaddr *)&sun, alen) == 0,
	       "a non-blocking sender connects to the receiver");
	while (ksp_send(s1, "x", 1, 0) == 1)
		sent++;
	EXPECT(errno == EAGAIN, "a receiver that does not read takes %d "
	       "datagrams, then EAGAIN", sent);
	pfd = (struct pollfd){ .fd = s1, .events = POLLOUT };
	EXPECT(ksp_poll(&pfd, 1, 0) == 0, "poll: sender not writable");
	ksp_recv(rfd, buf, sizeof(buf), 0);
	EXPECT(ksp_poll(&pfd, 1, 1000) == 1 && (pfd.revents & POLLOUT),
	       "the receiver read one: poll says POLLOUT again");
	ksp_close(s1);
	ksp_close(s2);
	ksp_close(rfd);
}

int
main(void)
{
	if (ksp_init() < 0) {
		perror("ksp_init");
		return 1;
	}
	printf("ksock demo: AF_UNIX served by ksock in user space\n\n");
	stream_server();
	seqpacket_records();
	datagrams_and_poll();
	printf("\n4. Clean up\n");
	EXPECT(ksp_fd_count() == 0, "no descriptor left open");
	EXPECT(ksp_fini() == 0, "ksock stopped with no socket left");
	/* Built for a kernel's PF_UNIX (vm/demo_libc.h), the count is the
	 * kernel's to keep: -1/ENOSYS, and ksock.ko checks it at unload. */
	if (ksp_alloc_outstanding() < 0)
		printf("  -- skipped: no allocation left (%s: counted by the "
		       "kernel, at unload)\n", strerror(errno));
	else
		EXPECT(ksp_alloc_outstanding() == 0, "no allocation left");
	printf("\n%s: %d unexpected results\n", failures ? "FAILED" : "OK",
	       failures);
	return failures ? 1 : 0;
}

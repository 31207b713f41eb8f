/*
 * t_scale: 10,000 blocked clients cost ksockd memory, not threads.
 *
 *   t_scale KSOCKD
 *
 * The runner starts KSOCKD (--max-clients-per-user above the count),
 * then WORKERS processes each open CONNS_PER_WORKER clients of their
 * own over the raw protocol (docs/ksockd.md: connect, hello, the
 * region mapped; one process may hold many clients this way, where the
 * library holds one). Each client makes a socketpair and posts a
 * receive on its first end, which has nothing to read, or (one in
 * ACCEPT_EVERY) makes a listener and posts an accept, which has no
 * connection to take: the server must park it. With every call parked,
 * the runner checks that
 *
 *   - the server still has exactly one thread (/proc/PID/status);
 *   - another client is still served: the runner (a library client)
 *     plays ping-pong with a forked library client through the server;
 *   - each parked receive completes with its own bytes when its peer
 *     writes, each parked accept with a new descriptor when another
 *     socket connects (three workers), or the calls are released when
 *     their process exits with them still parked (the fourth);
 *   - STATUS is back to the baseline afterwards, and the server stops
 *     clean (exit status 0: nothing left allocated).
 *
 * It prints the server's resident memory per parked call (the RSS
 * difference over the count; each one is a client connection with its
 * region, a socketpair and a parked call), its anonymous and shared
 * parts, the page tables the kernel keeps for the server's mappings of
 * the regions (not in the RSS), and how long the steps took. The figures are reported, not
 * asserted (the machine is shared): docs/ksockd.md quotes them.
 *
 * Locks: none. Every process here has one thread; the workers and the
 * runner share only pipes and the server.
 */
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ksd.h"
#include "t_util.h"

/* 10,000 clients, from four processes: few enough processes that the
 * test's own cost stays small, enough that the server sees clients
 * arrive from several at once. */
#define WORKERS			4
#ifndef CONNS_PER_WORKER
#define CONNS_PER_WORKER	2500
#endif
#define NCONNS			(WORKERS * CONNS_PER_WORKER)
/* Descriptors beyond the clients' that the server and a worker need. */
#define FD_MARGIN		64
/* One client in this many parks an accept on a listener of its own,
 * the others a receive. */
#define ACCEPT_EVERY		8
/* Rounds of the ping-pong played while everything is parked. */
#define PINGPONG_ROUNDS		200
/* Generous bounds for a loaded 2-CPU machine: they only keep a broken
 * server from hanging the test, nothing is timed against them. */
#define WAIT_S			60

static const char *server_addr;

struct conn {
	int		 sock;		/* the bootstrap connection */
	struct ksd_shm	*shm;
	bool		 accepts;	/* an accept parked, not a receive */
	int		 sv[2];		/* the socketpair in the server, or
					 * the listener and the connector */
};

/* -- the raw protocol -- */

static int
conn_open(struct conn *c)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct ksd_hello h = { .magic = KSD_MAGIC, .version = KSD_VERSION,
			       .umask = 022 };
	struct ksd_welcome w;
	union {
		struct cmsghdr	h;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { &w, sizeof(w) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	socklen_t alen;
	int memfd;

	/* An abstract name: "@NAME". */
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", server_addr);
	sun.sun_path[0] = '\0';
	alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
			   strlen(server_addr));
	c->shm = NULL;
	c->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->sock < 0) {
		perror("t_scale: socket");
		return -1;
	}
	if (connect(c->sock, (struct sockaddr *)&sun, alen) < 0 ||
	    send(c->sock, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h) ||
	    recvmsg(c->sock, &m, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(w)) {
		perror("t_scale: bootstrap");
		goto close_sock;
	}
	cm = CMSG_FIRSTHDR(&m);
	if (w.err != 0 || cm == NULL || cm->cmsg_type != SCM_RIGHTS ||
	    w.shm_size != sizeof(struct ksd_shm)) {
		fprintf(stderr, "t_scale: refused (%d)\n", (int)w.err);
		goto close_sock;
	}
	memcpy(&memfd, CMSG_DATA(cm), sizeof(int));
	c->shm = mmap(NULL, w.shm_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      memfd, 0);
	close(memfd);
	if (c->shm == MAP_FAILED) {
		perror("t_scale: mmap");
		c->shm = NULL;
		goto close_sock;
	}
	return 0;

close_sock:
	close(c->sock);
	c->sock = -1;
	return -1;
}

static void
conn_close(struct conn *c)
{
	if (c->shm != NULL)
		munmap(c->shm, sizeof(*c->shm));
	if (c->sock >= 0)
		close(c->sock);
	c->shm = NULL;
	c->sock = -1;
}

/* A request in @slot of @c, zeroed but for @label and @fd. */
static struct ksd_req *
req_begin(struct conn *c, int slot, uint32_t label, int fd)
{
	struct ksd_req *q = &c->shm->slot[slot].req;

	memset(q, 0, sizeof(*q));
	q->label = label;
	q->fd = fd;
	q->seq = (uint64_t)slot + 1;
	return q;
}

static int
post(struct conn *c, int slot)
{
	struct ksd_bell b = { (uint32_t)slot };

	/* Posted, and asleep on the futex at once: the server wakes
	 * only a client that says it sleeps. */
	atomic_store_explicit(&c->shm->slot[slot].state, KSD_SLEEPING,
			      memory_order_release);
	return send(c->sock, &b, sizeof(b), MSG_NOSIGNAL) ==
	       (ssize_t)sizeof(b) ? 0 : -1;
}

/* Waits for @slot's reply; returns its ret, or -ETIMEDOUT. */
static long
wait_reply(struct conn *c, int slot)
{
	struct ksd_slot *s = &c->shm->slot[slot];
	struct timespec tick = { 1, 0 };
	int64_t give_up = ksd_t_now_ns() + WAIT_S * 1000000000LL;

	while (atomic_load_explicit(&s->state, memory_order_acquire) !=
	       KSD_DONE) {
		if (ksd_t_now_ns() > give_up)
			return -ETIMEDOUT;
		syscall(SYS_futex, &s->state, FUTEX_WAIT, KSD_SLEEPING, &tick,
			NULL, 0);
	}
	atomic_store(&s->state, KSD_IDLE);
	return s->rep.ret;
}

/* Posts @slot's request and waits for its reply. */
static long
call(struct conn *c, int slot)
{
	return post(c, slot) < 0 ? -EPIPE : wait_reply(c, slot);
}

/* The request in @slot carries the abstract name of client @i of
 * @worker's listener. */
static void
put_name(struct conn *c, int slot, int worker, int i)
{
	struct ksd_req *q = &c->shm->slot[slot].req;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int n = snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
			 "ksockd-scale-%d-%d-%d", (int)getppid(), worker, i);

	q->addrlen = (uint32_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				(size_t)n);
	memcpy(q->inl, &sun, q->addrlen);
}

/* A new AF_UNIX stream socket, made through @slot: its descriptor or
 * -errno. */
static int
new_socket(struct conn *c, int slot)
{
	struct ksd_req *q = req_begin(c, slot, KSD_SOCKET, -1);

	q->a[0] = AF_UNIX;
	q->a[1] = SOCK_STREAM;
	return (int)call(c, slot);
}

/* A listener of its own, then an accept parked on it (not waited for:
 * slot 0 stays in the call). */
static int
park_accept(struct conn *c, int worker, int i)
{
	struct ksd_req *q;
	long r;

	c->sv[0] = new_socket(c, 0);
	q = req_begin(c, 0, KSD_BIND, c->sv[0]);
	put_name(c, 0, worker, i);
	r = c->sv[0] < 0 ? -1 : call(c, 0);
	if (r == 0) {
		q = req_begin(c, 0, KSD_LISTEN, c->sv[0]);
		q->a[0] = 1;
		r = call(c, 0);
	}
	if (r < 0) {
		fprintf(stderr, "t_scale: listener failed (%ld)\n", r);
		return -1;
	}
	req_begin(c, 0, KSD_ACCEPT, c->sv[0]);
	return post(c, 0);
}

/* A socketpair, then a receive parked on its first end (not waited
 * for: slot 0 stays in the call). */
static int
park_recv(struct conn *c)
{
	struct ksd_req *q = req_begin(c, 0, KSD_SOCKETPAIR, -1);

	q->a[0] = AF_UNIX;
	q->a[1] = SOCK_STREAM;
	if (call(c, 0) < 0) {
		fprintf(stderr, "t_scale: socketpair failed\n");
		return -1;
	}
	c->sv[0] = c->shm->slot[0].rep.val[0];
	c->sv[1] = c->shm->slot[0].rep.val[1];
	q = req_begin(c, 0, KSD_RECVMSG, c->sv[0]);
	q->datalen = 64;
	return post(c, 0);
}

static int
conn_park(struct conn *c, int worker, int i)
{
	c->accepts = i % ACCEPT_EVERY == 0;
	return c->accepts ? park_accept(c, worker, i) : park_recv(c);
}

/* Another socket connects (slot 1); the parked accept must end with a
 * new descriptor. */
static int
release_accept(struct conn *c, int worker, int i)
{
	long r;

	c->sv[1] = new_socket(c, 1);
	req_begin(c, 1, KSD_CONNECT, c->sv[1]);
	put_name(c, 1, worker, i);
	if (c->sv[1] < 0 || call(c, 1) != 0) {
		fprintf(stderr, "t_scale: connect %d/%d failed\n", worker, i);
		return -1;
	}
	r = wait_reply(c, 0);
	if (r < 0 || r == c->sv[0] || r == c->sv[1]) {
		fprintf(stderr, "t_scale: parked accept %d/%d ended with %ld\n",
			worker, i, r);
		return -1;
	}
	return 0;
}

static void
conn_text(int worker, int i, char *buf, size_t size)
{
	snprintf(buf, size, "client %d of worker %d", i, worker);
}

/* The peer writes (slot 1); the parked receive must end with exactly
 * those bytes. */
static int
release_recv(struct conn *c, int worker, int i)
{
	char text[64];
	size_t len;
	struct ksd_req *q;
	long r;

	conn_text(worker, i, text, sizeof(text));
	len = strlen(text);
	q = req_begin(c, 1, KSD_SENDMSG, c->sv[1]);
	q->flags = KSD_F_DATA_INLINE;
	q->datalen = (uint32_t)len;
	memcpy(q->inl, text, len);
	if (post(c, 1) < 0 || (r = wait_reply(c, 1)) != (long)len) {
		fprintf(stderr, "t_scale: send %d/%d failed\n", worker, i);
		return -1;
	}
	r = wait_reply(c, 0);
	if (r != (long)len || memcmp(c->shm->window[0], text, len) != 0) {
		fprintf(stderr, "t_scale: parked receive %d/%d ended with %ld\n",
			worker, i, r);
		return -1;
	}
	return 0;
}

static int
conn_release(struct conn *c, int worker, int i)
{
	return c->accepts ? release_accept(c, worker, i) :
			    release_recv(c, worker, i);
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * One worker: CONNS_PER_WORKER clients, each with a receive parked.
 * Writes 'p' on @up when all are parked, then reads its order on
 * @down: 'w' (the peers write, every receive must end with its bytes)
 * or 'x' (exit with the calls parked). Exit status 0 when all went as
 * expected.
 */
static int
worker(int id, int up, int down)
{
	static struct conn conns[CONNS_PER_WORKER];
	char order = 0;
	int failed = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	raise_nofile();
	for (int i = 0; i < CONNS_PER_WORKER; i++) {
		if (conn_open(&conns[i]) < 0 ||
		    conn_park(&conns[i], id, i) < 0) {
			fprintf(stderr, "t_scale: worker %d: client %d\n", id, i);
			return 1;
		}
	}
	if (write(up, "p", 1) != 1 || read(down, &order, 1) != 1)
		return 1;
	if (order == 'x')
		_exit(0);	/* the server must release every call */
	for (int i = 0; i < CONNS_PER_WORKER; i++) {
		if (conn_release(&conns[i], id, i) < 0)
			failed = 1;
		conn_close(&conns[i]);
	}
	return failed;
}

/* -- the runner -- */

/* A line "Name:  value" of /proc/PID/status, or -1. */
static long
proc_status(pid_t pid, const char *name)
{
	char path[64], line[256];
	size_t n = strlen(name);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Polls STATUS until @want says yes (WAIT_S at most). */
static int
wait_status(bool (*want)(const struct ksd_status *, const void *),
	    const void *arg, struct ksd_status *st)
{
	for (int i = 0; i < WAIT_S * 100; i++) {
		if (ksd_status(st) < 0)
			return -1;
		if (want(st, arg))
			return 0;
		ksd_t_sleep_ms(10);
	}
	return -1;
}

static bool
is_baseline(const struct ksd_status *st, const void *base)
{
	return ksd_t_status_same(st, base);
}

static bool
all_parked(const struct ksd_status *st, const void *base)
{
	return st->parked == ((const struct ksd_status *)base)->parked + NCONNS;
}

/* A forked library client echoes PINGPONG_ROUNDS messages; the runner's
 * receives block in the server (parked and woken like the others). */
static int
pingpong(void)
{
	char out[32], in[32];
	int sv[2], st;
	pid_t pid;

	if (ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	pid = ksd_fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int ok = 1;

		ksd_close(sv[0]);
		for (int i = 0; i < PINGPONG_ROUNDS && ok; i++) {
			ssize_t n = ksd_recv(sv[1], in, sizeof(in), 0);

			ok = n > 0 && ksd_send(sv[1], in, (size_t)n, 0) == n;
		}
		ksd_detach();
		_exit(ok ? 0 : 1);
	}
	ksd_close(sv[1]);
	for (int i = 0; i < PINGPONG_ROUNDS; i++) {
		int len = snprintf(out, sizeof(out), "ping %d", i);

		if (ksd_send(sv[0], out, (size_t)len, 0) != len ||
		    ksd_recv(sv[0], in, (size_t)len, MSG_WAITALL) != len ||
		    memcmp(in, out, (size_t)len) != 0) {
			fprintf(stderr, "t_scale: ping-pong round %d\n", i);
			ksd_close(sv[0]);
			waitpid(pid, &st, 0);
			return -1;
		}
	}
	ksd_close(sv[0]);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		return -1;
	return 0;
}

static pid_t
start_server(const char *bin)
{
	char max[32];
	pid_t pid;

	snprintf(max, sizeof(max), "%d", NCONNS + FD_MARGIN);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(bin, bin, "--max-clients-per-user", max, server_addr,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; pid > 0 && i < 500; i++) {
		if (ksd_attach(server_addr) == 0)
			return pid;
		ksd_t_sleep_ms(10);
	}
	return -1;
}

int
main(int argc, char **argv)
{
	static char addr[64];
	struct ksd_status base, st;
	pid_t server, workers[WORKERS];
	int up[2], down[WORKERS][2];
	long rss0, anon0, shm0, pte0, rss1, anon1, shm1, pte1, threads;
	struct rlimit rl;
	int64_t t0, t1, t2;
	bool ok;

	if (argc != 2) {
		fprintf(stderr, "usage: t_scale KSOCKD\n");
		return 2;
	}
	/* The server holds a descriptor per client, and raises its limit
	 * to the hard one: below the count the test cannot be run. */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 ||
	    (rl.rlim_max != RLIM_INFINITY &&
	     rl.rlim_max < (rlim_t)(NCONNS + FD_MARGIN))) {
		fprintf(stderr, "t_scale: RLIMIT_NOFILE's hard limit (%ld) is "
			"below %d\n", (long)rl.rlim_max, NCONNS + FD_MARGIN);
		return 1;
	}
	/* Abstract: a run that is killed leaves no file behind. */
	snprintf(addr, sizeof(addr), "@ksockd-scale-%d", (int)getpid());
	server_addr = addr;
	server = start_server(argv[1]);
	if (server < 0 || ksd_status(&base) < 0) {
		fprintf(stderr, "t_scale: no server\n");
		return 1;
	}
	rss0 = proc_status(server, "VmRSS");
	anon0 = proc_status(server, "RssAnon");
	shm0 = proc_status(server, "RssShmem");
	pte0 = proc_status(server, "VmPTE");

	t0 = ksd_t_now_ns();
	if (pipe(up) < 0)
		return 1;
	for (int w = 0; w < WORKERS; w++) {
		if (pipe(down[w]) < 0)
			return 1;
		workers[w] = fork();
		if (workers[w] == 0) {
			close(up[0]);
			close(down[w][1]);
			_exit(worker(w, up[1], down[w][0]));
		}
		close(down[w][0]);
	}
	close(up[1]);
	ok = true;
	for (int w = 0; w < WORKERS; w++) {
		char c;

		if (read(up[0], &c, 1) != 1 || c != 'p')
			ok = false;
	}
	ok = ok && wait_status(all_parked, &base, &st) == 0;
	t1 = ksd_t_now_ns();
	ksd_t_result(ok, "t_10000_calls_parked");
	if (!ok)
		ksd_t_status_print("now", &st);

	threads = proc_status(server, "Threads");
	ksd_t_result(threads == 1, "t_server_has_one_thread");
	if (threads != 1)
		fprintf(stderr, "t_scale: the server has %ld threads\n", threads);
	rss1 = proc_status(server, "VmRSS");
	anon1 = proc_status(server, "RssAnon");
	shm1 = proc_status(server, "RssShmem");
	pte1 = proc_status(server, "VmPTE");

	ksd_t_result(pingpong() == 0, "t_pingpong_while_parked");

	/* Workers 0..2: the peers write; the last: exits parked. */
	for (int w = 0; w < WORKERS; w++) {
		char order = w < WORKERS - 1 ? 'w' : 'x';

		if (write(down[w][1], &order, 1) != 1)
			ok = false;
		close(down[w][1]);
	}
	ok = true;
	for (int w = 0; w < WORKERS; w++) {
		int s = ksd_t_reap(workers[w]);

		if (s != 0) {
			fprintf(stderr, "t_scale: worker %d: status %d\n", w, s);
			ok = false;
		}
	}
	close(up[0]);
	ksd_t_result(ok, "t_parked_calls_complete_or_released");
	t2 = ksd_t_now_ns();

	ok = wait_status(is_baseline, &base, &st) == 0;
	ksd_t_result(ok, "t_status_back_to_baseline");
	if (!ok) {
		ksd_t_status_print("baseline", &base);
		ksd_t_status_print("now", &st);
	}
	threads = proc_status(server, "Threads");
	ksd_t_result(threads == 1, "t_still_one_thread");

	printf("scale: %d parked calls (a client and its region each, with "
	       "a socketpair and a receive, or one in %d a listener and an "
	       "accept), server threads %ld\n", NCONNS, ACCEPT_EVERY, threads);
	printf("scale: server RSS %ld KiB before, %ld KiB with all parked: "
	       "%ld bytes per parked call (anonymous %ld, shared region %ld)\n",
	       rss0, rss1, (rss1 - rss0) * 1024 / NCONNS,
	       (anon1 - anon0) * 1024 / NCONNS, (shm1 - shm0) * 1024 / NCONNS);
	/* Not in the RSS: the kernel's page tables for the regions the
	 * server maps (one table page per region it touched). */
	printf("scale: and %ld bytes per parked call of the server's page "
	       "tables (VmPTE %ld KiB before, %ld KiB after)\n",
	       (pte1 - pte0) * 1024 / NCONNS, pte0, pte1);
	printf("scale: %.2f s to connect and park all, %.2f s to ping-pong, "
	       "release and reap\n", (double)(t1 - t0) / 1e9,
	       (double)(t2 - t1) / 1e9);

	ksd_detach();
	kill(server, SIGTERM);
	ksd_t_result(ksd_t_reap(server) == 0, "server_stops_clean");
	return ksd_t_summary();
}

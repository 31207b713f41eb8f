/*
 * t_diag: `ksockstat --ksockd ADDRESS` lists ksockd's sockets with the
 * pids of the processes holding them (the KSD_DIAG label).
 *
 *   t_diag KSOCKD KSOCKSTAT
 *
 * The runner starts KSOCKD, then two client processes (each attached
 * on its own, with the library):
 *
 *   A  listens on an abstract name, accepts one connection, and makes a
 *      socketpair that it shares with a ksd_fork() child C;
 *   B  connects to A, then makes PAIRS socketpairs (so the listing is
 *      longer than one window and comes in several pages).
 *
 * With both waiting, the runner reads KSOCKSTAT's ss-like output and
 * checks it against what it knows: the listener is A's; of B's sockets
 * exactly one is connected to a socket of A's (the accepted one); the
 * shared pair is held by A and C, and its ends are each other's peers;
 * B holds 2 x PAIRS + 1 sockets; every socket is listed once and the
 * count is what the server reports (-S). `-t seqpacket` lists the
 * listener alone. Run as another user (when the test runs as root), the
 * same sockets are listed without a pid. After the clients exit, the
 * listing is empty and the server stops clean.
 *
 * Locks: none. Every process here has one thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ksd.h"
#include "t_util.h"

/* B's socketpairs: 5,000 sockets, about 450 KB of listing, two or
 * three windows' worth (checked: the first page does not hold it). */
#define PAIRS		2500
/* Sockets a listing may hold here. */
#define MAX_SOCKS	(2 * PAIRS + 64)

static char server_addr[64], listen_name[64];

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
		return -1;						\
	}								\
} while (0)

static int
attach(void)
{
	for (int i = 0; i < 500; i++) {
		if (ksd_attach(server_addr) == 0)
			return 0;
		ksd_t_sleep_ms(10);
	}
	return -1;
}

static socklen_t
listen_addr(struct sockaddr_un *sun)
{
	size_t len = strlen(listen_name);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path + 1, listen_name, len);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
}

/* What a client writes on the runner's pipe when ready (one write,
 * below PIPE_BUF: the three clients' do not mix). */
struct ready {
	char		who;		/* 'A', 'B', 'C' */
	int32_t		pid;
};

/* Tells the runner we are ready (@up), then waits for it to close
 * @down. */
static void
ready_then_wait(int up, int down, char who)
{
	struct ready r = { who, (int32_t)getpid() };
	char c;

	if (write(up, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(1);
	while (read(down, &c, 1) > 0)
		;
}

static int
client_a(int up, int down)
{
	struct sockaddr_un sun;
	socklen_t len = listen_addr(&sun);
	int l, c, sv[2];
	pid_t child;

	if (attach() < 0)
		return 1;
	l = ksd_socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (l < 0 || ksd_bind(l, (struct sockaddr *)&sun, len) < 0 ||
	    ksd_listen(l, 4) < 0 ||
	    ksd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 1;
	child = ksd_fork();
	if (child < 0)
		return 1;
	if (child == 0) {	/* C: holds the pair until told */
		if (ksd_close(l) < 0)
			_exit(1);
		ready_then_wait(up, down, 'C');
		ksd_detach();
		_exit(0);
	}
	/* The listener and the accepted socket are A's alone: C was forked
	 * before the accept, and gives up its copy of the listener. */
	c = ksd_accept4(l, NULL, NULL, 0);
	if (c < 0)
		return 1;
	ready_then_wait(up, down, 'A');
	waitpid(child, NULL, 0);
	ksd_detach();
	return 0;
}

static int
client_b(int up, int down)
{
	struct sockaddr_un sun;
	socklen_t len = listen_addr(&sun);
	int fd, sv[2];

	if (attach() < 0)
		return 1;
	fd = ksd_socket(AF_UNIX, SOCK_SEQPACKET, 0);
	for (int i = 0; fd >= 0 && i < 500; i++) {
		if (ksd_connect(fd, (struct sockaddr *)&sun, len) == 0)
			break;
		if (errno != ECONNREFUSED)
			return 1;
		ksd_t_sleep_ms(10);	/* A not listening yet */
	}
	for (int i = 0; i < PAIRS; i++)
		if (ksd_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0)
			return 1;
	ready_then_wait(up, down, 'B');
	ksd_detach();
	return 0;
}

/* -- reading ksockstat -- */

struct sock {
	char		 netid[8], state[16], name[112];
	uint64_t	 id, peer;
	char		 pids[64];
};

/* Runs "@as @stat --ksockd ADDR @args" and parses its ss lines into
 * @out. Returns how many, or -1. */
static int
listing_as(const char *as, const char *stat, const char *args,
	   struct sock *out, int max)
{
	char cmd[512], line[1024];
	int n = 0, lineno = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s %s --ksockd %s %s", as, stat,
		 server_addr, args);
	p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	while (fgets(line, sizeof(line), p) != NULL) {
		struct sock *s = &out[n];
		char *pids;

		if (lineno++ == 0)
			continue;	/* the header */
		if (n == max ||
		    sscanf(line, "%7s %15s %*u %*u %111s %" SCNu64 " * %"
			   SCNu64, s->netid, s->state, s->name, &s->id,
			   &s->peer) != 5 ||
		    (pids = strstr(line, " pids:")) == NULL) {
			fprintf(stderr, "t_diag: bad line: %s", line);
			n = -1;
			break;
		}
		sscanf(pids + 6, "%63s", s->pids);
		n++;
	}
	if (pclose(p) != 0)
		return -1;
	return n;
}

static int
listing(const char *stat, const char *args, struct sock *out, int max)
{
	return listing_as("", stat, args, out, max);
}

/* Another user sees the same sockets, and no pid of ours: as nobody,
 * from a copy of ksockstat in a directory anyone may enter. */
static int
check_other_user(const char *stat, int want)
{
	static struct sock s[MAX_SOCKS];
	char dir[] = "/tmp/ksockd-t-diag.XXXXXX", copy[64], cmd[256];
	int n;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(copy, sizeof(copy), "%s/ksockstat", dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s && chmod 755 %s %s", stat, copy,
		 dir, copy);
	n = system(cmd) == 0 ?
	    listing_as("setpriv --reuid=65534 --regid=65534 --clear-groups",
		       copy, "", s, MAX_SOCKS) : -1;
	unlink(copy);
	rmdir(dir);
	if (n != want)
		fprintf(stderr, "t_diag: %d sockets listed to nobody, %d to us\n", n, want);
	CHECK(n == want);
	for (int i = 0; i < n; i++)
		CHECK(strcmp(s[i].pids, "-") == 0);
	return 0;
}

static const struct sock *
find(const struct sock *s, int n, uint64_t id)
{
	for (int i = 0; i < n; i++)
		if (s[i].id == id)
			return &s[i];
	return NULL;
}

/* The sockets counter of `ksockstat -S`. */
static long
sockets_counted(const char *stat)
{
	char cmd[512];
	long n = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s --ksockd %s -S", stat, server_addr);
	p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	if (fscanf(p, "sockets %ld", &n) != 1)
		n = -1;
	while (fgetc(p) != EOF)
		;
	pclose(p);
	return n;
}

/* The listing needs more than one page (so the check above went
 * through the paging), and a page too small for one socket is refused. */
static int
check_pages(void)
{
	char *page = malloc(KSD_DATA_MAX), small[16];
	uint64_t next = 0;
	ssize_t n;

	CHECK(page != NULL);
	CHECK(attach() == 0);
	n = ksd_diag(0, page, KSD_DATA_MAX, &next);
	free(page);
	CHECK(n > 0 && next != 0);
	CHECK(ksd_diag(0, small, sizeof(small), &next) == -1 &&
	      errno == EMSGSIZE);
	CHECK(ksd_detach() == 0);
	return 0;
}

static int
check_listing(const char *stat, pid_t a, pid_t b, pid_t c)
{
	static struct sock s[MAX_SOCKS];
	char pa[16], pb[16], pac[40], name[80];
	int n = listing(stat, "", s, MAX_SOCKS), of_b = 0, of_ac = 0;
	const struct sock *lst = NULL, *conn_b = NULL;

	CHECK(n > 0);
	snprintf(pa, sizeof(pa), "%d", (int)a);
	snprintf(pb, sizeof(pb), "%d", (int)b);
	/* Ascending, as ksockstat prints them. */
	snprintf(pac, sizeof(pac), "%d,%d", (int)(a < c ? a : c),
		 (int)(a < c ? c : a));
	snprintf(name, sizeof(name), "@%s", listen_name);
	for (int i = 0; i < n; i++) {
		CHECK(find(s, i, s[i].id) == NULL);	/* listed once */
		/* The accepted socket shows the name too, as on Linux. */
		if (strcmp(s[i].name, name) == 0 &&
		    strcmp(s[i].state, "LISTEN") == 0) {
			CHECK(lst == NULL);
			lst = &s[i];
		}
		if (strcmp(s[i].pids, pb) == 0) {
			of_b++;
			if (strcmp(s[i].netid, "u_seq") == 0)
				conn_b = &s[i];
		}
		if (strcmp(s[i].pids, pac) == 0) {
			const struct sock *peer = find(s, n, s[i].peer);

			of_ac++;
			CHECK(strcmp(s[i].netid, "u_str") == 0);
			CHECK(peer != NULL && peer->peer == s[i].id);
			CHECK(strcmp(peer->pids, pac) == 0);
		}
	}
	CHECK(sockets_counted(stat) == n);
	if (geteuid() != 0)
		ksd_t_skip("t_other_user_sees_no_pids", "not root");
	else if (system("setpriv --reuid=65534 --regid=65534 --clear-groups "
			"true") != 0)
		ksd_t_skip("t_other_user_sees_no_pids",
			   "cannot become uid 65534 here");
	else
		ksd_t_result(check_other_user(stat, n) == 0,
			     "t_other_user_sees_no_pids");
	CHECK(lst != NULL && strcmp(lst->state, "LISTEN") == 0);
	CHECK(strcmp(lst->pids, pa) == 0);
	CHECK(of_b == 2 * PAIRS + 1);
	CHECK(of_ac == 2);
	/* B's connection leads to the socket A accepted. */
	CHECK(conn_b != NULL && strcmp(conn_b->state, "ESTAB") == 0);
	CHECK(find(s, n, conn_b->peer) != NULL);
	CHECK(strcmp(find(s, n, conn_b->peer)->pids, pa) == 0);
	/* A filter applies to the server's listing too. */
	n = listing(stat, "-t seqpacket -s listening", s, MAX_SOCKS);
	CHECK(n == 1 && strcmp(s[0].name, name) == 0);
	return 0;
}

int
main(int argc, char **argv)
{
	static struct sock s[MAX_SOCKS];
	int up[2], down[2], n;
	pid_t server, a, b, cpid = -1;
	struct ready r;
	bool ok;

	if (argc != 3) {
		fprintf(stderr, "usage: t_diag KSOCKD KSOCKSTAT\n");
		return 2;
	}
	snprintf(server_addr, sizeof(server_addr), "@ksockd-t-diag-%d",
		 (int)getpid());
	snprintf(listen_name, sizeof(listen_name), "t-diag-listener-%d",
		 (int)getpid());
	server = fork();
	if (server == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(argv[1], argv[1], server_addr, (char *)NULL);
		_exit(127);
	}
	if (server < 0 || pipe(up) < 0 || pipe(down) < 0)
		return 1;
	a = fork();
	if (a == 0) {
		close(up[0]);
		close(down[1]);
		_exit(client_a(up[1], down[0]));
	}
	b = fork();
	if (b == 0) {
		close(up[0]);
		close(down[1]);
		_exit(client_b(up[1], down[0]));
	}
	close(up[1]);
	close(down[0]);
	/* A, its child C and B say they are ready, with their pids. */
	ok = true;
	for (int i = 0; i < 3; i++) {
		if (read(up[0], &r, sizeof(r)) != (ssize_t)sizeof(r))
			ok = false;
		else if (r.who == 'C')
			cpid = r.pid;
	}
	ksd_t_result(ok && cpid > 0, "t_clients_ready");
	if (ok && cpid > 0)
		ksd_t_result(check_listing(argv[2], a, b, cpid) == 0,
		       "t_ksockstat_lists_holders");
	ksd_t_result(check_pages() == 0, "t_listing_in_pages");
	close(down[1]);
	ksd_t_result(ksd_t_reap(a) == 0 && ksd_t_reap(b) == 0, "t_clients_exit");
	close(up[0]);
	/* Their hang-ups reach the server after their exit. */
	for (int i = 0; i < 500; i++) {
		n = listing(argv[2], "", s, MAX_SOCKS);
		if (n == 0)
			break;
		ksd_t_sleep_ms(10);
	}
	ksd_t_result(n == 0, "t_listing_empty_after_exit");
	kill(server, SIGTERM);
	ksd_t_result(ksd_t_reap(server) == 0, "server_stops_clean");
	return ksd_t_summary();
}

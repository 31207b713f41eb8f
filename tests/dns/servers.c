/*
 * Starting and stopping real DNS servers for the tests (see servers.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dns/dns_impl.h"
#include "servers.h"

uint16_t
free_port(void)
{
	for (int tries = 0; tries < 50; tries++) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		socklen_t len = sizeof a;
		int t = socket(AF_INET, SOCK_STREAM, 0);
		int u = socket(AF_INET, SOCK_DGRAM, 0);
		uint16_t port = 0;

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(t, (struct sockaddr *)&a, sizeof a) == 0 &&
		    getsockname(t, (struct sockaddr *)&a, &len) == 0 &&
		    bind(u, (struct sockaddr *)&a, sizeof a) == 0)
			port = ntohs(a.sin_port);
		close(t);
		close(u);
		if (port)
			return port;
	}
	return 0;
}

/* Copies template @in to @out replacing @KEY@ markers. */
static int
fill_template(const char *in, const char *out, const char *const *kv)
{
	char buf[16384], res[32768];
	FILE *f = fopen(in, "r");
	size_t n, o = 0;

	if (!f)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	for (size_t i = 0; i < n && o < sizeof res - 256;) {
		bool replaced = false;
		for (size_t k = 0; kv[k]; k += 2) {
			size_t kl = strlen(kv[k]);
			if (strncmp(buf + i, kv[k], kl) == 0) {
				o += (size_t)snprintf(res + o, sizeof res - o,
						      "%s", kv[k + 1]);
				i += kl;
				replaced = true;
				break;
			}
		}
		if (!replaced)
			res[o++] = buf[i++];
	}
	f = fopen(out, "w");
	if (!f)
		return -1;
	fwrite(res, 1, o, f);
	fclose(f);
	return 0;
}

bool
server_answers(uint16_t port, const char *name, uint16_t qtype, int ms)
{
	uint8_t wire[DNS_WIRE_NAME_MAX], q[300], a[1500];
	size_t wlen, qlen;
	bool abs;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	bool ok = false;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ks__dns_name_to_wire(name, wire, &wlen, &abs);
	ks__dns_build_query(q, sizeof q, 0x4242, wire, wlen, qtype, false, &qlen);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	    send(fd, q, qlen, 0) == (ssize_t)qlen) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, ms) == 1) {
			ssize_t n = recv(fd, a, sizeof a, 0);
			ok = n >= 12 && a[0] == 0x42 && a[1] == 0x42 &&
			     (a[3] & 15) == 0;
		}
	}
	close(fd);
	return ok;
}

static int
spawn(struct test_server *s, char *const argv[])
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		/* Quiet: the server's own log goes to its directory. */
		freopen("/dev/null", "r", stdin);
		char log[128];
		snprintf(log, sizeof log, "%s/stderr.log", s->dir);
		freopen(log, "w", stdout);
		freopen(log, "a", stderr);
		execvp(argv[0], argv);
		_exit(127);
	}
	s->pid = pid;
	return 0;
}

/* Waits until @s answers a query for @probe, or gives up after 10 s. */
static int
await_ready(struct test_server *s, const char *probe)
{
	for (int i = 0; i < 200; i++) {
		int status;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			char log[128], line[256];
			printf("    %s exited early (status %d); its log:\n",
			       s->name, status);
			snprintf(log, sizeof log, "%s/stderr.log", s->dir);
			FILE *f = fopen(log, "r");
			while (f && fgets(line, sizeof line, f))
				printf("      %s", line);
			if (f)
				fclose(f);
			s->pid = 0;
			return -1;
		}
		if (server_answers(s->port, probe, DNS_T_SOA, 50))
			return 0;
		usleep(50000);	/* a refused port fails at once */
	}
	printf("    %s did not answer in time\n", s->name);
	return -1;
}

static int
make_dir(struct test_server *s)
{
	snprintf(s->dir, sizeof s->dir, "/tmp/ksock-dns-XXXXXX");
	return mkdtemp(s->dir) ? 0 : -1;
}

static bool
have_program(const char *path)
{
	return access(path, X_OK) == 0;
}

int
server_start_nsd(struct test_server *s, const char *datadir)
{
	char conf[128], tmpl[512], port[16], data[512];

	memset(s, 0, sizeof *s);
	s->name = "nsd";
	if (!have_program("/usr/sbin/nsd")) {
		printf("    nsd is not installed (Debian package nsd)\n");
		return -1;
	}
	if (make_dir(s) < 0 || !realpath(datadir, data))
		return -1;
	s->port = free_port();
	snprintf(port, sizeof port, "%u", s->port);
	snprintf(conf, sizeof conf, "%s/nsd.conf", s->dir);
	snprintf(tmpl, sizeof tmpl, "%s/nsd.conf.in", datadir);
	const char *const kv[] = { "@PORT@", port, "@DIR@", s->dir,
				   "@DATA@", data, NULL };
	if (fill_template(tmpl, conf, kv) < 0)
		return -1;
	char *const argv[] = { "/usr/sbin/nsd", "-d", "-c", conf, NULL };
	if (spawn(s, argv) < 0)
		return -1;
	return await_ready(s, "ks.test");
}

int
server_start_unbound(struct test_server *s, const char *datadir,
		     uint16_t nsd_port)
{
	char conf[128], tmpl[512], port[16], nport[16];

	memset(s, 0, sizeof *s);
	s->name = "unbound";
	if (!have_program("/usr/sbin/unbound")) {
		printf("    unbound is not installed (Debian package unbound)\n");
		return -1;
	}
	if (make_dir(s) < 0)
		return -1;
	s->port = free_port();
	snprintf(port, sizeof port, "%u", s->port);
	snprintf(nport, sizeof nport, "%u", nsd_port);
	snprintf(conf, sizeof conf, "%s/unbound.conf", s->dir);
	snprintf(tmpl, sizeof tmpl, "%s/unbound.conf.in", datadir);
	const char *const kv[] = { "@PORT@", port, "@DIR@", s->dir,
				   "@NSDPORT@", nport, NULL };
	if (fill_template(tmpl, conf, kv) < 0)
		return -1;
	char *const argv[] = { "/usr/sbin/unbound", "-d", "-c", conf, NULL };
	if (spawn(s, argv) < 0)
		return -1;
	return await_ready(s, "ks.test");
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	return remove(path);
}

void
server_stop(struct test_server *s)
{
	if (s->pid > 0) {
		int status;
		kill(s->pid, SIGTERM);
		for (int i = 0; i < 100; i++) {
			if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
				s->pid = 0;
				break;
			}
			usleep(20000);
		}
		if (s->pid > 0) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			s->pid = 0;
		}
	}
	if (s->dir[0]) {
		nftw(s->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
		s->dir[0] = 0;
	}
}

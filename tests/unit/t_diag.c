/*
 * Unit tests: introspection (ks_diag_*) and ksockstat. Every state a
 * socket can be in, names with embedded NULs, a listener with pending
 * connections, queues and memory, owners, the counters of refused
 * operations, the walk against concurrent creation and close; the
 * /proc/net/unix format compared field by field with the real
 * /proc/net/unix for the same set of real Linux sockets, JSON parsed back
 * by Python's json module, and build/ksockstat reading this process's
 * instance through the diag server.
 */
#include "unit.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* The record of @so (no pending ids). */
static void
diag(struct ks_sock *so, struct ks_diag_sock *r)
{
	memset(r, 0, sizeof(*r));
	EQ(ks_diag_sock(so, r), 0);
}

struct find {
	int		 state;		/* wanted, or 0 */
	int		 type;		/* wanted, or 0 */
	int		 count;		/* open sockets in that state */
	int		 closed;	/* visited but closed */
	struct ks_diag_sock rec;	/* the last match */
};

static int
find_one(struct ks_sock *so, void *arg)
{
	struct find *f = arg;
	struct ks_diag_sock r = { 0 };

	if (ks_diag_sock(so, &r) < 0) {
		f->closed++;
		return 0;
	}
	if ((f->state == 0 || r.state == f->state) &&
	    (f->type == 0 || r.type == f->type)) {
		f->count++;
		f->rec = r;
	}
	return 0;
}

/* Walks every socket; counts those in @state (0: all). */
static struct find
walk_state(int state)
{
	struct find f = { .state = state };

	EQ(ks_diag_walk(find_one, &f), 0);
	return f;
}

/* Every state: fresh, bound, listening, embryo, connected (both ends),
 * disconnected (peer closed), datagram with and without a peer. */
static void
t_every_state(void)
{
	struct ks_sockaddr_un a, b;
	struct ks_sock *fresh, *bound, *l, *c, *s, *d[2], *u;
	struct ks_diag_sock r;
	struct find f;
	uint32_t alen = ut_abstract(&a, "states"), blen;

	fresh = ut_socket(KS_SOCK_STREAM);
	diag(fresh, &r);
	CHECK_EQ(r.state, KS_DIAG_UNCONNECTED);
	CHECK_EQ(r.type, KS_SOCK_STREAM);
	CHECK_EQ(r.family, KS_AF_UNIX);
	CHECK_EQ(r.id, ks_sock_id(fresh));
	CHECK_EQ(r.name_len, 0);
	CHECK_EQ(r.peer_id, 0);

	bound = ut_socket(KS_SOCK_SEQPACKET);
	blen = ut_path(&b, "bound.sock");
	OK(ks_bind(bound, &b, blen));
	diag(bound, &r);
	CHECK_EQ(r.state, KS_DIAG_UNCONNECTED);
	CHECK_EQ(r.name_len, strlen("bound.sock"));
	CHECK_MEM(r.name, "bound.sock", r.name_len);
	CHECK(r.node.b != 0);
	if (ut_live()) {
		struct stat st;

		CHECK_EQ(stat("bound.sock", &st), 0);
		CHECK_EQ(r.node.a, st.st_dev);
		CHECK_EQ(r.node.b, st.st_ino);
	}

	l = ut_socket(KS_SOCK_STREAM);
	OK(ks_bind(l, &a, alen));
	OK(ks_listen(l, 5));
	diag(l, &r);
	CHECK_EQ(r.state, KS_DIAG_LISTENING);
	CHECK_EQ(r.backlog, 5);

	c = ut_socket(KS_SOCK_STREAM);
	OK(ks_connect(c, &a, alen));
	f = walk_state(KS_DIAG_EMBRYO);
	CHECK_EQ(f.count, 1);
	CHECK_EQ(f.rec.peer_id, ks_sock_id(c));
	CHECK_EQ(f.rec.name_len, alen - 2);
	diag(c, &r);
	CHECK_EQ(r.state, KS_DIAG_CONNECTED);
	CHECK_EQ(r.peer_id, f.rec.id);

	s = ut_accept(l);
	diag(s, &r);
	CHECK_EQ(r.state, KS_DIAG_CONNECTED);
	CHECK_EQ(r.peer_id, ks_sock_id(c));
	CHECK_EQ(r.id, f.rec.id);
	CHECK_EQ(walk_state(KS_DIAG_EMBRYO).count, 0);

	ut_close(&s);
	diag(c, &r);
	CHECK_EQ(r.state, KS_DIAG_DISCONNECTED);
	CHECK_EQ(r.shutdown, KS_DIAG_SHUT_RD | KS_DIAG_SHUT_WR);

	ut_pair(KS_SOCK_DGRAM, d);
	diag(d[0], &r);
	CHECK_EQ(r.state, KS_DIAG_CONNECTED);
	CHECK_EQ(r.peer_id, ks_sock_id(d[1]));
	u = ut_socket(KS_SOCK_DGRAM);
	diag(u, &r);
	CHECK_EQ(r.state, KS_DIAG_UNCONNECTED);
	CHECK_EQ(r.type, KS_SOCK_DGRAM);
}

/* An abstract name keeps every byte, embedded NULs included; the
 * /proc/net/unix format prints each NUL as '@'. */
static void
t_abstract_nul_names(void)
{
	static const char name[] = "\0ab\0\0c\0";
	struct ks_sockaddr_un a = { .sun_family = KS_AF_UNIX };
	struct ks_sock *so;
	struct ks_diag_sock r;
	struct ksp_diag_filter flt = { 0, 0, "@ab@@c@" };
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;

	memcpy(a.sun_path, name, sizeof(name) - 1);
	so = ut_socket(KS_SOCK_DGRAM);
	OK(ks_bind(so, &a, 2 + sizeof(name) - 1));
	diag(so, &r);
	CHECK_EQ(r.name_len, sizeof(name) - 1);
	CHECK_MEM(r.name, name, sizeof(name) - 1);
	CHECK_EQ(r.node.a, 0);
	CHECK_EQ(r.node.b, 0);
	if (!ut_live())
		return;
	f = open_memstream(&out, &outlen);
	CHECK_EQ(ksp_diag_dump(f, KSP_DIAG_PROC, &flt), 0);
	fclose(f);
	CHECK(strstr(out, " @ab@@c@\n") != NULL);
	CHECK(strchr(out, '\n') != strrchr(out, '\n'));	/* header + 1 */
	free(out);
}

/* A listener reports its pending connections (the connecting clients'
 * ids, in order), their count and the backlog, as rqueue and wqueue. */
static void
t_listener_pending(void)
{
	struct ks_sockaddr_un a;
	struct ks_sock *l, *c[3];
	struct ks_diag_sock r;
	uint64_t ids[8];
	uint32_t alen = ut_abstract(&a, "pending");

	l = ut_socket(KS_SOCK_SEQPACKET);
	OK(ks_bind(l, &a, alen));
	OK(ks_listen(l, 3));
	for (int i = 0; i < 3; i++) {
		c[i] = ut_socket(KS_SOCK_SEQPACKET);
		OK(ks_connect(c[i], &a, alen));
	}
	memset(&r, 0, sizeof(r));
	r.pending = ids;
	r.pending_cap = 8;
	EQ(ks_diag_sock(l, &r), 0);
	CHECK_EQ(r.state, KS_DIAG_LISTENING);
	CHECK_EQ(r.npending, 3);
	CHECK_EQ(r.backlog, 3);
	CHECK_EQ(r.rqueue, 3);
	CHECK_EQ(r.wqueue, 3);
	CHECK(r.pending == ids);
	for (int i = 0; i < 3 && ut_live(); i++)
		CHECK_EQ(ids[i], ks_sock_id(c[i]));
	/* A short array gets the first ones. */
	memset(ids, 0, sizeof(ids));
	r.pending = ids;
	r.pending_cap = 1;
	EQ(ks_diag_sock(l, &r), 0);
	CHECK_EQ(r.npending, 3);
	CHECK_EQ(ids[0], ks_sock_id(c[0]));
	CHECK_EQ(ids[1], 0);
	CHECK_EQ(walk_state(KS_DIAG_EMBRYO).count, 3);
}

/* Queues: unread bytes (a datagram socket: the first datagram), what the
 * sender's messages cost (SIOCOUTQ), message counts and memory. */
static void
t_queues_and_memory(void)
{
	struct ks_sock *s[2], *d[2];
	struct ks_diag_sock r, w;
	int outq = -1;

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_send(s[0], "0123456789", 10, 0), 10);
	EQ(ut_send(s[0], "abcde", 5, 0), 5);
	diag(s[1], &r);
	diag(s[0], &w);
	EQ(ut_ioctl_int(s[0], KS_SIOCOUTQ, &outq), 0);
	CHECK_EQ(r.rqueue, 15);
	CHECK_EQ(r.rcv_bytes, 15);
	CHECK_EQ(r.rcv_msgs, 2);
	CHECK_EQ(w.wqueue, outq);
	CHECK_EQ(w.wmem_alloc, outq);
	CHECK_EQ(r.rmem_alloc, outq);
	CHECK(r.mem > w.mem);
	CHECK_EQ(r.sndbuf, 212992);
	CHECK_EQ(r.rcvbuf, 212992);

	ut_pair(KS_SOCK_DGRAM, d);
	EQ(ut_send(d[0], "xyz", 3, 0), 3);
	EQ(ut_send(d[0], "1234567", 7, 0), 7);
	diag(d[1], &r);
	CHECK_EQ(r.rqueue, 3);
	CHECK_EQ(r.rcv_bytes, 10);
	CHECK_EQ(r.rcv_msgs, 2);
	CHECK_EQ(r.fds_queued, 0);
	CHECK_EQ(r.inflight, 0);
}

static int
make_as_other_user(void *arg)
{
	struct ks_sock **out = arg;

	ut_become(1234, 5678);
	OK(ks_socket(KS_AF_UNIX, KS_SOCK_STREAM, 0, out));
	return 0;
}

/* Shutdown bits as set; the owner is whoever created the socket. */
static void
t_shutdown_and_owner(void)
{
	struct ks_sock *s[2], *other = NULL;
	struct ks_diag_sock r;

	ut_pair(KS_SOCK_STREAM, s);
	OK(ks_shutdown(s[0], KS_SHUT_WR));
	diag(s[0], &r);
	CHECK_EQ(r.shutdown, KS_DIAG_SHUT_WR);
	CHECK_EQ(r.uid, geteuid());
	CHECK_EQ(r.gid, getegid());
	diag(s[1], &r);
	CHECK_EQ(r.shutdown, KS_DIAG_SHUT_RD);
	ut_join(ut_spawn(make_as_other_user, &other));
	ut_track(other);
	if (other != NULL) {
		diag(other, &r);
		CHECK_EQ(r.uid, 1234);
		CHECK_EQ(r.gid, 5678);
	}
}

/* A connect refused because the backlog is full counts once. */
static void
t_counter_backlog_full(void)
{
	struct ks_sockaddr_un a;
	struct ks_sock *l, *c1, *c2, *c3;
	struct ks_diag_stats st0, st;
	uint32_t alen = ut_abstract(&a, "full");

	ks_diag_stats(&st0);
	l = ut_socket(KS_SOCK_STREAM);
	OK(ks_bind(l, &a, alen));
	OK(ks_listen(l, 0));
	/* backlog + 1 may wait. */
	c1 = ut_socket(KS_SOCK_STREAM | KS_SOCK_NONBLOCK);
	OK(ks_connect(c1, &a, alen));
	c2 = ut_socket(KS_SOCK_STREAM | KS_SOCK_NONBLOCK);
	ERR(ks_connect(c2, &a, alen), -KS_EAGAIN);
	c3 = ut_socket(KS_SOCK_STREAM | KS_SOCK_NONBLOCK);
	ERR(ks_connect(c3, &a, alen), -KS_EAGAIN);
	ks_diag_stats(&st);
	CHECK_EQ(st.refused_backlog - st0.refused_backlog, 2);
	CHECK_EQ(st.refused_nospace, st0.refused_nospace);
	CHECK_EQ(st.sockets, 5);
}

/* A send refused for want of buffer space counts: a stream writer past
 * SO_SNDBUF, a datagram sender facing a full receive queue. (One-byte
 * writes: a longer one could be cut short first, which counts too.) */
static void
t_counter_buffers_full(void)
{
	struct ks_sockaddr_un a;
	struct ks_sock *s[2], *rx, *tx;
	struct ks_diag_stats st0, st;
	uint32_t alen = ut_abstract(&a, "dgfull");
	long r;
	int i;

	ks_diag_stats(&st0);
	ut_pair(KS_SOCK_STREAM | KS_SOCK_NONBLOCK, s);
	OK(ut_setint(s[0], KS_SO_SNDBUF, 4096));
	for (i = 0; i < 100 && ut_live(); i++) {
		r = CALL(ut_send(s[0], "x", 1, 0));
		if (r == -KS_EAGAIN)
			break;
		EQ(r, 1);
	}
	CHECK(i < 100);
	ks_diag_stats(&st);
	CHECK_EQ(st.refused_nospace - st0.refused_nospace, 1);

	rx = ut_socket(KS_SOCK_DGRAM);
	OK(ks_bind(rx, &a, alen));
	tx = ut_socket(KS_SOCK_DGRAM | KS_SOCK_NONBLOCK);
	/* max_dgram_qlen + 1 fit. */
	for (i = 0; i < 11; i++)
		EQ(ut_sendto(tx, "x", 1, 0, &a, alen), 1);
	ERR(ut_sendto(tx, "x", 1, 0, &a, alen), -KS_EAGAIN);
	ks_diag_stats(&st);
	CHECK_EQ(st.refused_nospace - st0.refused_nospace, 2);
	CHECK_EQ(st.refused_backlog, st0.refused_backlog);
	/* Nothing collects yet, and no SCM_RIGHTS was refused. */
	CHECK_EQ(st.refused_toomanyrefs, 0);
}

/* The walk visits every socket; a closed one that a message still holds
 * is visited and reported closed (-ENOENT), and a listing skips it. */
static void
t_walk_skips_closed(void)
{
	struct ks_sockaddr_un a;
	struct ks_sock *rx, *tx, *s[2];
	struct find f;
	uint32_t alen = ut_abstract(&a, "closed");

	rx = ut_socket(KS_SOCK_DGRAM);
	OK(ks_bind(rx, &a, alen));
	tx = ut_socket(KS_SOCK_DGRAM);
	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_sendto(tx, "x", 1, 0, &a, alen), 1);
	f = walk_state(0);
	CHECK_EQ(f.count, 4);
	CHECK_EQ(f.closed, 0);
	/* The queued datagram keeps tx's object alive. */
	ut_close(&tx);
	f = walk_state(0);
	CHECK_EQ(f.count, 3);
	CHECK_EQ(f.closed, 1);
}

static int
stop_at_second(struct ks_sock *so, void *arg)
{
	int *n = arg;

	return ++*n == 2 ? 42 : 0;
}

/* A callback's non-zero answer ends the walk and is returned. */
static void
t_walk_stops(void)
{
	struct ks_sock *s[2], *t[2];
	int n = 0;

	ut_pair(KS_SOCK_STREAM, s);
	ut_pair(KS_SOCK_DGRAM, t);
	EQ(ks_diag_walk(stop_at_second, &n), 42);
	CHECK_EQ(n, 2);
}

struct churn {
	atomic_bool	stop;
	atomic_long	made;
};

static void *
churn_main(void *arg)
{
	struct churn *c = arg;

	while (!atomic_load(&c->stop)) {
		struct ks_sock *p[2];

		if (ks_socketpair(KS_AF_UNIX, KS_SOCK_STREAM, 0, p) < 0)
			continue;
		ks_close(p[0]);
		ks_close(p[1]);
		atomic_fetch_add(&c->made, 1);
	}
	return NULL;
}

/* Walks stay safe while another thread creates and closes sockets as
 * fast as it can; the sockets that stay open are always all seen.
 * (Not injected: a failed allocation in the churning thread is not a
 * step.) */
static void
t_walk_concurrent(void)
{
	struct ks_sock *keep[40];
	struct churn c;
	pthread_t th;
	struct find f;

	/* Seqpacket: the other thread makes stream pairs, which are briefly
	 * unconnected while they are made. */
	for (int i = 0; i < 40; i++)
		keep[i] = ut_socket(KS_SOCK_SEQPACKET);
	atomic_init(&c.stop, false);
	atomic_init(&c.made, 0);
	pthread_create(&th, NULL, churn_main, &c);
	/* Until the other thread made enough pairs, or two seconds. */
	for (long long end = ut_now_ms() + 2000; ut_now_ms() < end;) {
		f.state = KS_DIAG_UNCONNECTED;
		f.type = KS_SOCK_SEQPACKET;
		f.count = 0;
		EQ(ks_diag_walk(find_one, &f), 0);
		if (f.count != 40) {
			CHECK_EQ(f.count, 40);
			break;
		}
		if (atomic_load(&c.made) > 5000)
			break;
	}
	atomic_store(&c.stop, true);
	pthread_join(th, NULL);
	CHECK(atomic_load(&c.made) > 0);
	(void)keep;
}

struct find_id {
	uint64_t		 id;
	bool			 found;
	struct ks_diag_sock	 rec;
};

static int
find_id_one(struct ks_sock *so, void *arg)
{
	struct find_id *f = arg;

	if (ks_sock_id(so) != f->id)
		return 0;
	memset(&f->rec, 0, sizeof(f->rec));
	f->found = ks_diag_sock(so, &f->rec) == 0;
	return 1;
}

/* The record of the socket behind descriptor @fd (its st_ino is the
 * id). */
static bool
diag_fd(int fd, struct ks_diag_sock *r)
{
	struct find_id f = { 0 };
	struct stat st;

	if (ksp_fstat(fd, &st) < 0)
		return false;
	f.id = (uint64_t)st.st_ino;
	ks_diag_walk(find_id_one, &f);
	*r = f.rec;
	return f.found;
}

/* Sends @fd over @via with SCM_RIGHTS. */
static long
send_fd(int via, int fd)
{
	union {
		struct cmsghdr	h;
		char		buf[CMSG_SPACE(sizeof(int))];
	} c;
	struct iovec iov = { "x", 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = c.buf,
			    .msg_controllen = sizeof(c.buf) };

	memset(&c, 0, sizeof(c));
	c.h.cmsg_level = SOL_SOCKET;
	c.h.cmsg_type = SCM_RIGHTS;
	c.h.cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(&c.h), &fd, sizeof(fd));
	return ksp_sendmsg(via, &m, 0) < 0 ? -errno : 1;
}

/* Descriptors in flight: the receiver counts the descriptors queued for
 * it, the passed socket how often it is in flight; a cycle closed while
 * in flight is collected, and the collector's counters say so. (Not
 * injected: the POSIX personality's calls are not steps.) */
static void
t_inflight_and_collector(void)
{
	struct ks_diag_stats st0, st;
	struct ks_diag_sock r;
	int p[2] = { -1, -1 }, x = -1;

	ks_diag_stats(&st0);
	CHECK_EQ(ksp_socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
	x = ksp_socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK(x >= 0);
	EQ(send_fd(p[0], x), 1);
	EQ(send_fd(p[0], x), 1);
	CHECK(diag_fd(p[1], &r));
	CHECK_EQ(r.fds_queued, 2);
	CHECK_EQ(r.inflight, 0);
	CHECK(diag_fd(x, &r));
	CHECK_EQ(r.inflight, 2);
	CHECK_EQ(r.fds_queued, 0);
	/* Now a cycle: p[1] in flight in its own queue, then every
	 * descriptor closed. */
	EQ(send_fd(p[0], p[1]), 1);
	CHECK(diag_fd(p[1], &r));
	CHECK_EQ(r.inflight, 1);
	CHECK_EQ(r.fds_queued, 3);
	ksp_close(x);
	ksp_close(p[0]);
	ksp_close(p[1]);
	ks_diag_stats(&st);
	CHECK(st.gc_runs > st0.gc_runs);
	CHECK(st.gc_collected >= st0.gc_collected + 1);
	CHECK_EQ(st.sockets, 0);
}

/* -- formats against the real kernel -- */

/* One line of /proc/net/unix. */
struct proc_line {
	unsigned	flags, type, st;
	unsigned long	inode;
	char		path[256];
};

static bool
parse_proc_line(const char *line, struct proc_line *p)
{
	unsigned refs, proto;
	int n = 0;

	if (sscanf(line, "%*[0-9a-f]: %x %x %x %x %x %lu%n", &refs, &proto,
		   &p->flags, &p->type, &p->st, &p->inode, &n) != 6)
		return false;
	p->path[0] = '\0';
	if (line[n] == ' ')
		snprintf(p->path, sizeof(p->path), "%s", line + n + 1);
	p->path[strcspn(p->path, "\n")] = '\0';
	return proto == 0;
}

/* The line of the real socket with @inode; for an embryo (inode 0), the
 * one with inode 0 and @path. */
static bool
real_line(unsigned long inode, const char *path, struct proc_line *out)
{
	char line[512];
	FILE *f = fopen("/proc/net/unix", "r");
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		if (parse_proc_line(line, out) && out->inode == inode &&
		    (inode != 0 || strcmp(out->path, path) == 0))
			found = true;
	fclose(f);
	return found;
}

static bool
ksock_line(const char *text, uint64_t id, const char *path,
	   struct proc_line *out)
{
	const char *line = strchr(text, '\n');

	for (; line != NULL && line[1] != '\0'; line = strchr(line + 1, '\n'))
		if (parse_proc_line(line + 1, out) && out->inode == id &&
		    (id != 0 || strcmp(out->path, path) == 0))
			return true;
	return false;
}

static unsigned long
ino_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? (unsigned long)st.st_ino : 0;
}

/* The same roles on both sides: a socket of each and how to find it. */
enum { R_FRESH, R_PATH, R_LISTEN, R_CLIENT, R_EMBRYO, R_SEQ_A, R_SEQ_B,
       R_DGRAM, R_DGRAM_NAMED, R_DGRAM_CONN, R_PEER_GONE, R_NROLES };

static const char *const role_names[R_NROLES] = {
	"fresh", "path", "listener", "client", "embryo", "seqpacket a",
	"seqpacket b", "dgram", "dgram named", "dgram connected",
	"peer gone",
};

static socklen_t
abstract_nul(struct sockaddr_un *a, const char *tag)
{
	int n;

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	n = snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "kdiag-%d-%s",
		     (int)getpid(), tag);
	/* An embedded NUL and a trailing one belong to the name. */
	a->sun_path[1 + n] = '\0';
	a->sun_path[1 + n + 1] = 'z';
	a->sun_path[1 + n + 2] = '\0';
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 4);
}

/*
 * The /proc/net/unix format, field by field, against the real file for
 * the same sockets made on the real kernel: flags, type, state, whether
 * the inode is 0, and the path, for every role. (Not injected: the real
 * sockets are not steps.)
 */
static void
t_proc_format_matches_linux(void)
{
	struct sockaddr_un la, lp, ld, ks_la, ks_ld;
	socklen_t lalen, ldlen, ks_lalen, ks_ldlen;
	int fd[R_NROLES], pairfd[2], accepted = -1;
	struct ks_sock *so[R_NROLES] = { 0 }, *kpair[2], *kextra;
	struct ks_sockaddr_un kp;
	char *text = NULL;
	size_t textlen = 0;
	FILE *f;

	for (int i = 0; i < R_NROLES; i++)
		fd[i] = -1;
	lalen = abstract_nul(&la, "listen");
	ldlen = abstract_nul(&ld, "dgram");
	ks_lalen = abstract_nul(&ks_la, "listen");
	ks_ldlen = abstract_nul(&ks_ld, "dgram");
	memset(&lp, 0, sizeof(lp));
	lp.sun_family = AF_UNIX;
	strcpy(lp.sun_path, "real.sock");

	/* The real kernel. */
	fd[R_FRESH] = socket(AF_UNIX, SOCK_STREAM, 0);
	fd[R_PATH] = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_EQ(bind(fd[R_PATH], (struct sockaddr *)&lp, sizeof(lp)), 0);
	fd[R_LISTEN] = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_EQ(bind(fd[R_LISTEN], (struct sockaddr *)&la, lalen), 0);
	CHECK_EQ(listen(fd[R_LISTEN], 4), 0);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pairfd), 0);
	fd[R_SEQ_A] = pairfd[0];
	fd[R_SEQ_B] = pairfd[1];
	fd[R_DGRAM] = socket(AF_UNIX, SOCK_DGRAM, 0);
	fd[R_DGRAM_NAMED] = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK_EQ(bind(fd[R_DGRAM_NAMED], (struct sockaddr *)&ld, ldlen), 0);
	fd[R_DGRAM_CONN] = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK_EQ(connect(fd[R_DGRAM_CONN], (struct sockaddr *)&ld, ldlen), 0);
	/* A connection whose accepted end closed... */
	fd[R_PEER_GONE] = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_EQ(connect(fd[R_PEER_GONE], (struct sockaddr *)&la, lalen), 0);
	accepted = accept(fd[R_LISTEN], NULL, NULL);
	CHECK(accepted >= 0);
	if (accepted >= 0)
		close(accepted);
	/* ...and one whose server end waits in the queue (the embryo). */
	fd[R_CLIENT] = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_EQ(connect(fd[R_CLIENT], (struct sockaddr *)&la, lalen), 0);

	/* ksock, the same way. */
	so[R_FRESH] = ut_socket(KS_SOCK_STREAM);
	so[R_PATH] = ut_socket(KS_SOCK_STREAM);
	OK(ks_bind(so[R_PATH], &kp, ut_path(&kp, "ksock.sock")));
	so[R_LISTEN] = ut_socket(KS_SOCK_STREAM);
	OK(ks_bind(so[R_LISTEN], &ks_la, ks_lalen));
	OK(ks_listen(so[R_LISTEN], 4));
	ut_pair(KS_SOCK_SEQPACKET, kpair);
	so[R_SEQ_A] = kpair[0];
	so[R_SEQ_B] = kpair[1];
	so[R_DGRAM] = ut_socket(KS_SOCK_DGRAM);
	so[R_DGRAM_NAMED] = ut_socket(KS_SOCK_DGRAM);
	OK(ks_bind(so[R_DGRAM_NAMED], &ks_ld, ks_ldlen));
	so[R_DGRAM_CONN] = ut_socket(KS_SOCK_DGRAM);
	OK(ks_connect(so[R_DGRAM_CONN], &ks_ld, ks_ldlen));
	so[R_PEER_GONE] = ut_socket(KS_SOCK_STREAM);
	OK(ks_connect(so[R_PEER_GONE], &ks_la, ks_lalen));
	kextra = ut_accept(so[R_LISTEN]);
	ut_close(&kextra);
	so[R_CLIENT] = ut_socket(KS_SOCK_STREAM);
	OK(ks_connect(so[R_CLIENT], &ks_la, ks_lalen));

	if (ut_live()) {
		f = open_memstream(&text, &textlen);
		CHECK_EQ(ksp_diag_dump(f, KSP_DIAG_PROC, NULL), 0);
		fclose(f);
		CHECK(strncmp(text, "Num       RefCount Protocol Flags    Type St "
			      "Inode Path\n", 50) == 0);
	}
	for (int i = 0; i < R_NROLES && ut_live(); i++) {
		struct proc_line real, ours;
		char want_path[256];
		unsigned long ino = i == R_EMBRYO ? 0 : ino_of(fd[i]);
		uint64_t id = i == R_EMBRYO ? 0 : ks_sock_id(so[i]);
		char embryo_path[256];

		/* The embryo is found by the listener's printed name. */
		snprintf(embryo_path, sizeof(embryo_path), "@kdiag-%d-listen@z@",
			 (int)getpid());
		if (!real_line(ino, embryo_path, &real)) {
			ut_fail(__FILE__, __LINE__, "%s: not in /proc/net/unix",
				role_names[i]);
			continue;
		}
		if (!ksock_line(text, id, embryo_path, &ours)) {
			ut_fail(__FILE__, __LINE__, "%s: not in ksock's listing",
				role_names[i]);
			continue;
		}
		CHECK_EQ(ours.flags, real.flags);
		CHECK_EQ(ours.type, real.type);
		if (ours.st != real.st)
			ut_fail(__FILE__, __LINE__, "%s: St %02x, Linux %02x",
				role_names[i], ours.st, real.st);
		CHECK_EQ(ours.inode == 0, real.inode == 0);
		/* Same names but for the path's file name. */
		snprintf(want_path, sizeof(want_path), "%s", real.path);
		if (strcmp(want_path, "real.sock") == 0)
			strcpy(want_path, "ksock.sock");
		if (strcmp(ours.path, want_path) != 0)
			ut_fail(__FILE__, __LINE__, "%s: path '%s', Linux '%s'",
				role_names[i], ours.path, real.path);
	}
	free(text);
	for (int i = 0; i < R_NROLES; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	unlink("real.sock");
}

/* -- JSON and ksockstat -- */

/* Runs @cmd with /bin/sh, feeding it @in; returns its output (malloc'd)
 * or NULL. */
static char *
run_filter(const char *cmd, const char *in)
{
	char tmp[] = "diag-in-XXXXXX", *full, *out = NULL;
	size_t cap = 0, len = 0;
	FILE *p;
	int fd = mkstemp(tmp);

	if (fd < 0)
		return NULL;
	if (write(fd, in, strlen(in)) != (ssize_t)strlen(in)) {
		close(fd);
		unlink(tmp);
		return NULL;
	}
	close(fd);
	if (asprintf(&full, "(%s) < %s", cmd, tmp) < 0) {
		unlink(tmp);
		return NULL;
	}
	p = popen(full, "r");
	free(full);
	if (p != NULL) {
		char buf[4096];
		size_t n;

		while ((n = fread(buf, 1, sizeof(buf), p)) > 0) {
			char *o = realloc(out, cap = len + n + 1);

			if (o == NULL)
				break;
			out = o;
			memcpy(out + len, buf, n);
			len += n;
			out[len] = '\0';
		}
		if (pclose(p) != 0) {
			free(out);
			out = NULL;
		}
	}
	unlink(tmp);
	return out;
}

/* Prints, per socket, the fields a test compares, from JSON on stdin. */
static const char json_reader[] =
	"python3 -c 'import json,sys\n"
	"d=json.load(sys.stdin)\n"
	"s=d[\"stats\"]\n"
	"print(\"stats\", s[\"sockets\"], s[\"refused_backlog\"])\n"
	"for x in d[\"sockets\"]:\n"
	"  print(x[\"id\"], x[\"type\"], x[\"state\"], x[\"name_hex\"] or \"-\","
	" x[\"peer\"], x.get(\"npending\", \"-\"),"
	" \",\".join(map(str, x.get(\"pending\", []))) or \"-\")\n'";

/* The JSON format parses, and says what the API says. (Not injected:
 * it runs python3.) */
static void
t_json_parses_back(void)
{
	struct ks_sockaddr_un a;
	struct ks_sock *l, *c, *d[2];
	struct ks_diag_sock rl, rc, re;
	char *json = NULL, *got, want[2048];
	size_t jlen = 0;
	struct find f;
	FILE *fp;
	static const char name[] = "js\0n\"\\";
	int n;

	memset(&a, 0, sizeof(a));
	a.sun_family = KS_AF_UNIX;
	memcpy(a.sun_path + 1, name, sizeof(name) - 1);
	l = ut_socket(KS_SOCK_STREAM);
	OK(ks_bind(l, &a, 2 + 1 + sizeof(name) - 1));
	OK(ks_listen(l, 2));
	c = ut_socket(KS_SOCK_STREAM);
	OK(ks_connect(c, &a, 2 + 1 + sizeof(name) - 1));
	ut_pair(KS_SOCK_DGRAM, d);
	if (!ut_live())
		return;
	diag(l, &rl);
	diag(c, &rc);
	f = walk_state(KS_DIAG_EMBRYO);
	re = f.rec;
	fp = open_memstream(&json, &jlen);
	CHECK_EQ(ksp_diag_dump(fp, KSP_DIAG_JSON, NULL), 0);
	fclose(fp);
	got = run_filter(json_reader, json);
	if (got == NULL) {
		ut_fail(__FILE__, __LINE__, "python3 could not parse:\n%s", json);
		free(json);
		return;
	}
	/* ids in creation order: listener, client, embryo, pair. */
	n = snprintf(want, sizeof(want),
		     "stats 5 0\n"
		     "%llu stream listening 006a73006e225c 0 1 %llu\n"
		     "%llu stream connected - %llu - -\n"
		     "%llu stream embryo 006a73006e225c %llu - -\n"
		     "%llu dgram connected - %llu - -\n"
		     "%llu dgram connected - %llu - -\n",
		     (unsigned long long)rl.id, (unsigned long long)rc.id,
		     (unsigned long long)rc.id, (unsigned long long)re.id,
		     (unsigned long long)re.id, (unsigned long long)rc.id,
		     (unsigned long long)ks_sock_id(d[0]),
		     (unsigned long long)ks_sock_id(d[1]),
		     (unsigned long long)ks_sock_id(d[1]),
		     (unsigned long long)ks_sock_id(d[0]));
	CHECK(n > 0 && (size_t)n < sizeof(want));
	if (strcmp(got, want) != 0)
		ut_fail(__FILE__, __LINE__, "JSON read back:\n%swant:\n%s", got,
			want);
	free(got);
	free(json);
}

/* Where build/ksockstat is: beside this binary's directory. */
static bool
ksockstat_path(char *out, size_t cap)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n < 0)
		return false;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash == NULL)
		return false;
	*slash = '\0';
	slash = strrchr(self, '/');
	if (slash == NULL)
		return false;
	*slash = '\0';
	if (strlen(self) + sizeof("/ksockstat") > cap)
		return false;
	strcpy(out, self);
	strcat(out, "/ksockstat");
	return access(out, X_OK) == 0;
}

static char *
dump_in_process(int format, const struct ksp_diag_filter *flt)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	if (ksp_diag_dump(f, format, flt) < 0) {
		fclose(f);
		free(text);
		return NULL;
	}
	fclose(f);
	return text;
}

/* Runs "ksockstat -p <our pid> @args" and compares its output with the
 * in-process formatter's for @format and @flt. */
static void
compare_ksockstat(const char *tool, const char *args, int format,
		  const struct ksp_diag_filter *flt)
{
	char *cmd, *got, *want;

	if (asprintf(&cmd, "%s -p %d %s", tool, (int)getpid(), args) < 0)
		return;
	got = run_filter(cmd, "");
	want = dump_in_process(format, flt);
	if (got == NULL || want == NULL)
		ut_fail(__FILE__, __LINE__, "%s: no output", cmd);
	else if (strcmp(got, want) != 0)
		ut_fail(__FILE__, __LINE__, "%s:\n%swant:\n%s", cmd, got, want);
	free(cmd);
	free(got);
	free(want);
}

/* build/ksockstat reads this running instance through the diag server:
 * the same text as the in-process formatter in every format and with
 * each filter, -l finds us, and the JSON it prints parses. (Not
 * injected: it runs programs.) */
static void
t_ksockstat_reads_running_instance(void)
{
	struct ks_sockaddr_un a, p;
	struct ks_sock *l, *c, *d, *s[2];
	struct ksp_diag_filter by_state = { 0, 1u << KS_DIAG_LISTENING, NULL };
	struct ksp_diag_filter by_type = { 1u << KS_SOCK_DGRAM, 0, NULL };
	struct ksp_diag_filter by_name = { 0, 0, "stat@" };
	struct ksp_diag_filter embryo = { 0, 1u << KS_DIAG_EMBRYO, NULL };
	char tool[PATH_MAX], *cmd, *got;
	uint32_t alen = ut_abstract(&a, "stat");

	if (!ksockstat_path(tool, sizeof(tool)))
		ut_skip("build/ksockstat is not built");
	a.sun_path[1 + 4] = '\0';	/* "\0stat\0" */
	alen++;
	l = ut_socket(KS_SOCK_SEQPACKET);
	OK(ks_bind(l, &a, alen));
	OK(ks_listen(l, 7));
	c = ut_socket(KS_SOCK_SEQPACKET);
	OK(ks_connect(c, &a, alen));
	d = ut_socket(KS_SOCK_DGRAM);
	OK(ks_bind(d, &p, ut_path(&p, "stat.sock")));
	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_send(s[0], "hello", 5, 0), 5);
	if (!ut_live())
		return;
	if (ksp_diag_serve() < 0) {
		ut_fail(__FILE__, __LINE__, "ksp_diag_serve: %s", strerror(errno));
		return;
	}
	compare_ksockstat(tool, "", KSP_DIAG_SS, NULL);
	compare_ksockstat(tool, "-r", KSP_DIAG_PROC, NULL);
	compare_ksockstat(tool, "-j", KSP_DIAG_JSON, NULL);
	compare_ksockstat(tool, "-S", KSP_DIAG_STATS, NULL);
	compare_ksockstat(tool, "-r -s listening", KSP_DIAG_PROC, &by_state);
	compare_ksockstat(tool, "-s LISTEN", KSP_DIAG_SS, &by_state);
	compare_ksockstat(tool, "-r -t dgram", KSP_DIAG_PROC, &by_type);
	compare_ksockstat(tool, "-r -n stat@", KSP_DIAG_PROC, &by_name);
	compare_ksockstat(tool, "-j -s embryo", KSP_DIAG_JSON, &embryo);

	/* -l lists this process among the instances serving. */
	if (asprintf(&cmd, "%s -l | grep -qx %d && echo found", tool,
		     (int)getpid()) >= 0) {
		got = run_filter(cmd, "");
		CHECK(got != NULL && strcmp(got, "found\n") == 0);
		free(got);
		free(cmd);
	}
	/* Its JSON parses. */
	if (asprintf(&cmd, "%s -p %d -j | python3 -c 'import json,sys; "
		     "print(len(json.load(sys.stdin)[\"sockets\"]))'", tool,
		     (int)getpid()) >= 0) {
		got = run_filter(cmd, "");
		CHECK(got != NULL && strcmp(got, "6\n") == 0);
		free(got);
		free(cmd);
	}
	ksp_diag_stop();
	/* No server any more: ksockstat says so and fails. */
	if (asprintf(&cmd, "%s -p %d -r 2>/dev/null", tool, (int)getpid()) >= 0) {
		got = run_filter(cmd, "");
		CHECK(got == NULL);
		free(got);
		free(cmd);
	}
	unlink("stat.sock");
}

/* An instance with no sockets: the snapshot is empty and the dump prints
 * only its headers (no NULL array handed to qsort, which UBSan rejects). */
static void
t_empty_instance(void)
{
	struct ksp_diag_snapshot *s = NULL;
	FILE *f;

	CHECK_EQ(ksp_diag_snapshot(&s), 0);
	CHECK(s != NULL);
	ksp_diag_snapshot_free(s);
	f = fopen("/dev/null", "w");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK_EQ(ksp_diag_dump(f, KSP_DIAG_PROC, NULL), 0);
	fclose(f);
}

static const struct ut_test tests[] = {
	{ "empty_instance",			t_empty_instance, UT_NO_INJECT },
	{ "every_state",			t_every_state, 0 },
	{ "abstract_nul_names",			t_abstract_nul_names, 0 },
	{ "listener_pending",			t_listener_pending, 0 },
	{ "queues_and_memory",			t_queues_and_memory, 0 },
	{ "shutdown_and_owner",			t_shutdown_and_owner, 0 },
	{ "counter_backlog_full",		t_counter_backlog_full, 0 },
	{ "counter_buffers_full",		t_counter_buffers_full, 0 },
	{ "walk_skips_closed",			t_walk_skips_closed, 0 },
	{ "walk_stops",				t_walk_stops, 0 },
	{ "walk_concurrent",			t_walk_concurrent, UT_NO_INJECT },
	{ "inflight_and_collector",		t_inflight_and_collector,
						UT_NO_INJECT },
	{ "proc_format_matches_linux",		t_proc_format_matches_linux,
						UT_NO_INJECT },
	{ "json_parses_back",			t_json_parses_back, UT_NO_INJECT },
	{ "ksockstat_reads_running_instance",	t_ksockstat_reads_running_instance,
						UT_NO_INJECT },
};

UT_MAIN(tests)

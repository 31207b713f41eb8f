/*
 * Unit tests: names and connections through the object API. Path,
 * abstract and automatic names; bind, listen, connect and accept with
 * their errors; the backlog; path permissions and peer credentials seen
 * from simulated processes of other users; datagram association.
 */
#include "unit.h"

#include <sys/stat.h>
#include <unistd.h>

static const int conn_types[] = { KS_SOCK_STREAM, KS_SOCK_SEQPACKET };

/* Binds @so to @path and listens; returns the address length. */
static uint32_t
listen_path(struct ks_sock *so, struct ks_sockaddr_un *a, const char *path,
	    int backlog)
{
	uint32_t alen = ut_path(a, path);

	OK(ks_bind(so, a, alen));
	OK(ks_listen(so, backlog));
	return alen;
}

/* Path listener: connect and accept; the accepted socket names the
 * listener's path and sees an unbound client (length 2); the client's
 * peer is the path; SO_ACCEPTCONN is 1 only on the listener. */
static void
t_path_connect_accept(void)
{
	for (size_t i = 0; i < 2; i++) {
		struct ks_sockaddr_un a, got;
		struct ks_sock *l, *c, *s;
		uint32_t alen, glen;
		int v = -1;
		char buf[4];

		l = ut_socket(conn_types[i]);
		alen = listen_path(l, &a, i ? "seq" : "str", 4);
		c = ut_socket(conn_types[i]);
		OK(ks_connect(c, &a, alen));
		glen = sizeof(got);
		s = ut_accept_(l, 0, &got, &glen, __FILE__, __LINE__);
		CHECK_EQ(glen, 2);
		glen = sizeof(got);
		EQ(ks_getsockname(s, &got, &glen), 0);
		CHECK_EQ(glen, alen);
		CHECK_MEM(&got, &a, alen);
		glen = sizeof(got);
		EQ(ks_getpeername(c, &got, &glen), 0);
		CHECK_EQ(glen, alen);
		CHECK_MEM(&got, &a, alen);
		EQ(ut_getint(l, KS_SO_ACCEPTCONN, &v), 0);
		CHECK_EQ(v, 1);
		EQ(ut_getint(s, KS_SO_ACCEPTCONN, &v), 0);
		CHECK_EQ(v, 0);
		EQ(ut_getint(c, KS_SO_ACCEPTCONN, &v), 0);
		CHECK_EQ(v, 0);
		EQ(ut_send(c, "hi", 2, 0), 2);
		EQ(ut_recv(s, buf, sizeof(buf), 0), 2);
		CHECK_MEM(buf, "hi", 2);
		ut_close(&c);
		ut_close(&s);
		ut_close(&l);
		unlink(i ? "seq" : "str");
	}
}

/* A client may send before it is accepted; the data is there at
 * accept. */
static void
t_send_before_accept(void)
{
	struct ks_sockaddr_un a;
	struct ks_sock *l, *c, *s;
	uint32_t alen = ut_abstract(&a, "early");
	char buf[16];

	l = ut_socket(KS_SOCK_STREAM);
	OK(ks_bind(l, &a, alen));
	OK(ks_listen(l, 1));
	c = ut_socket(KS_SOCK_STREAM);
	OK(ks_connect(c, &a, alen));
	EQ(ut_send(c, "early", 5, 0), 5);
	EQ(ut_send(c, "bird", 4, 0), 4);
	s = ut_accept(l);
	EQ(ut_recv(s, buf, sizeof(buf), 0), 9);
	CHECK_MEM(buf, "earlybird", 9);
}

/* bind errors: a name in use (any file, a stale socket too), a second
 * bind, a missing directory, bad lengths and a bad family. */
static void
t_bind_errors(void)
{
	struct ks_sockaddr_un a;
	struct ks_sock *s1, *s2;
	uint32_t alen;
	FILE *f;

	s1 = ut_socket(KS_SOCK_STREAM);
	s2 = ut_socket(KS_SOCK_STREAM);
	alen = ut_path(&a, "name");
	OK(ks_bind(s1, &a, alen));
	ERR(ks_bind(s2, &a, alen), -KS_EADDRINUSE);
	ERR(ks_bind(s1, &a, ut_path(&a, "other")), -KS_EINVAL);
	ERR(ks_bind(s2, &a, ut_path(&a, "nodir/x")), -KS_ENOENT);
	ut_close(&s1);
	/* The stale node still holds the name. */
	ERR(ks_bind(s2, &a, ut_path(&a, "name")), -KS_EADDRINUSE);
	f = fopen("plain", "w");
	if (f != NULL)
		fclose(f);
	ERR(ks_bind(s2, &a, ut_path(&a, "plain")), -KS_EADDRINUSE);
	alen = ut_path(&a, "fresh");
	ERR(ks_bind(s2, &a, 1), -KS_EINVAL);
	ERR(ks_bind(s2, &a, sizeof(a) + 1), -KS_EINVAL);
	a.sun_family = 2;
	ERR(ks_bind(s2, &a, alen), -KS_EINVAL);
	a.sun_family = KS_AF_UNIX;
	/* None of the failures bound it. */
	OK(ks_bind(s2, &a, alen));
	unlink("name");
	unlink("plain");
	unlink("fresh");
}

/* The bound node's mode is 0777 & ~umask, and the file outlives the
 * socket. */
static void
t_bind_mode_from_umask(void)
{
	struct ks_sockaddr_un a;
	struct ks_sock *so = ut_socket(KS_SOCK_DGRAM);
	mode_t old = ksp_umask(027);
	struct stat st;

	OK(ks_bind(so, &a, ut_path(&a, "moded")));
	ksp_umask(old);
	ut_close(&so);
	if (!ut_live())
		return;
	CHECK(stat("moded", &st) == 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_EQ(st.st_mode & 0777, 0750);
	unlink("moded");
}

/* A 108-byte path without a NUL is valid, and getsockname reports 111. */
static void
t_bind_full_length_path(void)
{
	struct ks_sockaddr_un a, got;
	struct ks_sock *so = ut_socket(KS_SOCK_STREAM);
	uint32_t glen = sizeof(got) + 8;
	char gotbuf[sizeof(got) + 8];

	memset(&a, 0, sizeof(a));
	a.sun_family = KS_AF_UNIX;
	memset(a.sun_path, 'p', sizeof(a.sun_path));
	OK(ks_bind(so, &a, sizeof(a)));
	EQ(ks_getsockname(so, gotbuf, &glen), 0);
	CHECK_EQ(glen, sizeof(a) + 1);
	memcpy(&got, gotbuf, sizeof(got));
	CHECK_MEM(got.sun_path, a.sun_path, sizeof(a.sun_path));
	unlink((char[109]){ [0 ... 107] = 'p', [108] = 0 });
}

/* Abstract names are exact-length byte strings (a longer or shorter
 * name is another name), kept per socket type, and released at close. */
static void
t_abstract_names(void)
{
	struct ks_sockaddr_un a, b;
	struct ks_sock *st, *dg, *st2, *c;
	uint32_t alen = ut_abstract(&a, "abs");
	uint32_t blen = ut_abstract(&b, "abs");

	st = ut_socket(KS_SOCK_STREAM);
	dg = ut_socket(KS_SOCK_DGRAM);
	st2 = ut_socket(KS_SOCK_STREAM);
	OK(ks_bind(st, &a, alen));
	OK(ks_bind(dg, &a, alen));		/* another type: allowed */
	ERR(ks_bind(st2, &a, alen), -KS_EADDRINUSE);
	OK(ks_bind(st2, &b, blen + 1));		/* "abs\0": another name */
	OK(ks_listen(st, 2));
	c = ut_socket(KS_SOCK_SEQPACKET);
	ERR(ks_connect(c, &a, alen), -KS_ECONNREFUSED);	/* type mismatch */
	ut_close(&c);
	c = ut_socket(KS_SOCK_STREAM);
	ERR(ks_connect(c, &a, alen - 1), -KS_ECONNREFUSED);	/* "ab" */
	OK(ks_connect(c, &a, alen));
	ut_close(&c);
	ut_close(&st);
	st = ut_socket(KS_SOCK_STREAM);
	OK(ks_bind(st, &a, alen));		/* released at close */
}

/* Autobind: bind with only the family gives "\0" + 5 hex digits
 * (length 8); binding again then fails; two sockets get two names;
 * SO_PASSCRED on an unbound socket autobinds it at connect and send. */
static void
t_autobind(void)
{
	struct ks_sockaddr_un a, n1, n2, r;
	struct ks_sock *s1, *s2, *rcv, *snd;
	uint32_t l1 = sizeof(n1), l2 = sizeof(n2), rlen, alen;
	char buf[4];

	s1 = ut_socket(KS_SOCK_STREAM);
	s2 = ut_socket(KS_SOCK_DGRAM);
	memset(&a, 0, sizeof(a));
	a.sun_family = KS_AF_UNIX;
	OK(ks_bind(s1, &a, 2));
	OK(ks_bind(s2, &a, 2));
	EQ(ks_getsockname(s1, &n1, &l1), 0);
	EQ(ks_getsockname(s2, &n2, &l2), 0);
	CHECK_EQ(l1, 8);
	CHECK_EQ(l2, 8);
	if (ut_live()) {
		CHECK_EQ(n1.sun_path[0], 0);
		for (int i = 1; i < 6; i++)
			CHECK(strchr("0123456789abcdef", n1.sun_path[i]) !=
			      NULL && n1.sun_path[i] != 0);
	}
	ERR(ks_bind(s1, &a, ut_path(&r, "late")), -KS_EINVAL);

	/* Implicit, through SO_PASSCRED: the receiver sees the name. */
	rcv = ut_socket(KS_SOCK_DGRAM);
	alen = ut_abstract(&a, "autorcv");
	OK(ks_bind(rcv, &a, alen));
	snd = ut_socket(KS_SOCK_DGRAM);
	EQ(ut_setint(snd, KS_SO_PASSCRED, 1), 0);
	EQ(ut_sendto(snd, "x", 1, 0, &a, alen), 1);
	rlen = sizeof(r);
	EQ(ut_recvfrom(rcv, buf, sizeof(buf), 0, &r, &rlen, NULL), 1);
	CHECK_EQ(rlen, 8);
	/* Without it, a sender stays unbound: the address is empty. */
	ut_close(&snd);
	snd = ut_socket(KS_SOCK_DGRAM);
	EQ(ut_sendto(snd, "y", 1, 0, &a, alen), 1);
	rlen = sizeof(r);
	EQ(ut_recvfrom(rcv, buf, sizeof(buf), 0, &r, &rlen, NULL), 1);
	CHECK_EQ(rlen, 0);
}

/* connect's errors: ENOENT, ECONNREFUSED (not a socket, stale, not
 * listening, unbound abstract), EPROTOTYPE, EISCONN, EINVAL on a
 * listener; listen and accept errors. */
static void
t_connect_errors(void)
{
	struct ks_sockaddr_un a;
	struct ks_sock *l, *d, *c, *b, *o = NULL;
	uint32_t alen;
	FILE *f;

	c = ut_socket(KS_SOCK_STREAM);
	ERR(ks_connect(c, &a, ut_path(&a, "missing")), -KS_ENOENT);
	f = fopen("plain", "w");
	if (f != NULL)
		fclose(f);
	ERR(ks_connect(c, &a, ut_path(&a, "plain")), -KS_ECONNREFUSED);
	ERR(ks_connect(c, &a, ut_abstract(&a, "nobody")), -KS_ECONNREFUSED);

	b = ut_socket(KS_SOCK_STREAM);		/* bound, not listening */
	alen = ut_path(&a, "bound");
	OK(ks_bind(b, &a, alen));
	ERR(ks_connect(c, &a, alen), -KS_ECONNREFUSED);
	ut_close(&b);				/* now stale */
	ERR(ks_connect(c, &a, alen), -KS_ECONNREFUSED);

	d = ut_socket(KS_SOCK_DGRAM);
	alen = ut_path(&a, "dgram");
	OK(ks_bind(d, &a, alen));
	ERR(ks_connect(c, &a, alen), -KS_EPROTOTYPE);
	ERR(ks_listen(d, 1), -KS_EOPNOTSUPP);
	ERR(ks_accept(d, 0, &o, NULL, NULL), -KS_EOPNOTSUPP);

	l = ut_socket(KS_SOCK_STREAM);
	ERR(ks_listen(l, 1), -KS_EINVAL);	/* unbound */
	ERR(ks_accept(l, 0, &o, NULL, NULL), -KS_EINVAL);
	alen = ut_path(&a, "listener");
	OK(ks_bind(l, &a, alen));
	OK(ks_listen(l, 1));
	ERR(ks_connect(l, &a, alen), -KS_EINVAL);
	ERR(ks_accept(l, 7, &o, NULL, NULL), -KS_EINVAL);	/* bad flags */
	OK(ks_connect(c, &a, alen));
	ERR(ks_connect(c, &a, alen), -KS_EISCONN);
	ERR(ks_listen(c, 1), -KS_EINVAL);	/* connected */
	CHECK(o == NULL);
	unlink("plain");
	unlink("bound");
	unlink("dgram");
	unlink("listener");
}

/* The backlog: backlog + 1 connections may be pending; the next gets
 * EAGAIN without blocking; an accept or a new listen() makes room. A
 * listener that did SHUT_RD refuses. */
static void
t_backlog(void)
{
	struct ks_sockaddr_un a;
	uint32_t alen = ut_abstract(&a, "backlog");
	struct ks_sock *l, *c[5] = { 0 }, *s;

	l = ut_socket(KS_SOCK_STREAM);
	OK(ks_bind(l, &a, alen));
	OK(ks_listen(l, 1));
	for (int i = 0; i < 5; i++)
		c[i] = ut_socket(KS_SOCK_STREAM | KS_SOCK_NONBLOCK);
	OK(ks_connect(c[0], &a, alen));
	OK(ks_connect(c[1], &a, alen));
	ERR(ks_connect(c[2], &a, alen), -KS_EAGAIN);
	CHECK((ks_poll(l, NULL) & KS_POLLIN) != 0);
	s = ut_accept(l);
	OK(ks_connect(c[2], &a, alen));
	ERR(ks_connect(c[3], &a, alen), -KS_EAGAIN);
	OK(ks_listen(l, 3));
	OK(ks_connect(c[3], &a, alen));
	EQ(ks_shutdown(l, KS_SHUT_RD), 0);
	ERR(ks_connect(c[4], &a, alen), -KS_ECONNREFUSED);
	ut_close(&s);
}

/* The listener is found by its node: a renamed path still leads to it;
 * after unlink, connect gets ENOENT, the open connection is unaffected,
 * and a new socket can bind the old path. */
static void
t_rename_unlink(void)
{
	struct ks_sockaddr_un a, b;
	struct ks_sock *l, *c1, *c2, *s1, *n;
	uint32_t alen, blen;
	char buf[4];

	l = ut_socket(KS_SOCK_STREAM);
	alen = listen_path(l, &a, "orig", 4);
	blen = ut_path(&b, "moved");
	if (ut_live())
		CHECK(rename("orig", "moved") == 0);
	c1 = ut_socket(KS_SOCK_STREAM);
	ERR(ks_connect(c1, &a, alen), -KS_ENOENT);
	OK(ks_connect(c1, &b, blen));
	s1 = ut_accept(l);
	if (ut_live())
		CHECK(unlink("moved") == 0);
	c2 = ut_socket(KS_SOCK_STREAM);
	ERR(ks_connect(c2, &b, blen), -KS_ENOENT);
	EQ(ut_send(c1, "ok", 2, 0), 2);
	EQ(ut_recv(s1, buf, sizeof(buf), 0), 2);
	n = ut_socket(KS_SOCK_STREAM);
	OK(ks_bind(n, &b, blen));
	unlink("orig");
	unlink("moved");
}

/* -- other users -- */

struct other {
	uint32_t	 uid, gid;
	struct ks_sockaddr_un a;
	uint32_t	 alen;
	struct ks_sock	*so;		/* out: the socket it made */
	int32_t		 pid;		/* out: its pid */
	long		 result;	/* out: what connect returned */
	bool		 listen;	/* listen on a instead of connecting */
};

/* A simulated process of another user connects (or listens). */
static int
other_user(void *p)
{
	struct other *o = p;

	/* Keep a saved uid of 0, to change ids again below. */
	if (ksp_setresgid(o->gid, o->gid, o->gid) < 0 ||
	    ksp_setresuid(o->uid, o->uid, 0) < 0)
		ut_fail(__FILE__, __LINE__, "cannot become %u", o->uid);
	o->pid = ksp_getpid();
	o->so = ut_socket(KS_SOCK_STREAM);
	if (o->so == NULL)
		return 0;
	if (o->listen) {
		OK(ks_bind(o->so, &o->a, o->alen));
		OK(ks_listen(o->so, 4));
	} else {
		o->result = CALL(ks_connect(o->so, &o->a, o->alen));
	}
	/* Ids taken later must not change what was recorded. */
	if (ksp_setresuid((uid_t)-1, 0, (uid_t)-1) < 0)
		ut_fail(__FILE__, __LINE__, "cannot regain root");
	ut_become(o->uid + 1, o->gid + 1);
	return 0;
}

/* Connecting to a path needs write permission on the node, for the
 * connecting process's credentials: 0700 refuses another user (EACCES),
 * 0777 lets it in; creating a node in a directory it cannot write is
 * EACCES too. */
static void
t_path_permissions(void)
{
	struct other o = { .uid = 1000, .gid = 1000 };
	struct ks_sock *l1, *l2;
	mode_t old;

	l1 = ut_socket(KS_SOCK_STREAM);
	l2 = ut_socket(KS_SOCK_STREAM);
	old = ksp_umask(077);
	listen_path(l1, &o.a, "private", 4);
	ksp_umask(0);
	listen_path(l2, &o.a, "public", 4);
	ksp_umask(old);

	o.alen = ut_path(&o.a, "private");
	ut_join(ut_spawn(other_user, &o));
	CHECK_EQ(o.result, -KS_EACCES);
	ut_close(&o.so);

	o.alen = ut_path(&o.a, "public");
	o.result = UT_SKIPPED;
	ut_join(ut_spawn(other_user, &o));
	CHECK_EQ(o.result, 0);
	ut_close(&o.so);

	unlink("private");
	unlink("public");
}

/* Creating a node where another user may not write fails with EACCES. */
static int
other_binds(void *p)
{
	struct other *o = p;

	ut_become(o->uid, o->gid);
	o->so = ut_socket(KS_SOCK_DGRAM);
	o->result = CALL(ks_bind(o->so, &o->a, o->alen));
	return 0;
}

static void
t_bind_permission(void)
{
	struct other o = { .uid = 1000, .gid = 1000 };

	if (ut_live())
		CHECK(mkdir("rootonly", 0755) == 0);
	o.alen = ut_path(&o.a, "rootonly/sock");
	o.result = UT_SKIPPED;
	ut_join(ut_spawn(other_binds, &o));
	CHECK_EQ(o.result, -KS_EACCES);
	ut_close(&o.so);
	rmdir("rootonly");
}

/* SO_PEERCRED is recorded when the connection is made: the accepted
 * socket holds the client's pid/uid/gid at connect(), the client holds
 * the listener's at listen(), and neither follows later id changes. */
static void
t_peercred_recorded(void)
{
	struct other o = { .uid = 1001, .gid = 1002 };
	struct ks_sock *l, *s, *c;
	struct ks_ucred cr;
	uint32_t clen;

	/* Client of another user, root listener. */
	l = ut_socket(KS_SOCK_STREAM);
	o.alen = ut_abstract(&o.a, "creds");
	OK(ks_bind(l, &o.a, o.alen));
	OK(ks_listen(l, 4));
	o.result = UT_SKIPPED;
	ut_join(ut_spawn(other_user, &o));
	EQ(o.result, 0);
	s = ut_accept(l);
	clen = sizeof(cr);
	EQ(ks_getsockopt(s, KS_SOL_SOCKET, KS_SO_PEERCRED, &cr, &clen), 0);
	CHECK_EQ(cr.pid, o.pid);
	CHECK_EQ(cr.uid, 1001);
	CHECK_EQ(cr.gid, 1002);
	clen = sizeof(cr);
	EQ(ks_getsockopt(o.so, KS_SOL_SOCKET, KS_SO_PEERCRED, &cr, &clen), 0);
	CHECK_EQ(cr.pid, ksp_getpid());
	CHECK_EQ(cr.uid, 0);
	CHECK_EQ(cr.gid, 0);
	/* A listener reports its own credentials. */
	clen = sizeof(cr);
	EQ(ks_getsockopt(l, KS_SOL_SOCKET, KS_SO_PEERCRED, &cr, &clen), 0);
	CHECK_EQ(cr.pid, ksp_getpid());
	CHECK_EQ(cr.uid, 0);
	ut_close(&o.so);
	ut_close(&s);

	/* Listener of another user, root client. */
	o.listen = true;
	o.uid = 2000;
	o.gid = 2001;
	o.alen = ut_abstract(&o.a, "creds2");
	ut_join(ut_spawn(other_user, &o));
	c = ut_socket(KS_SOCK_STREAM);
	OK(ks_connect(c, &o.a, o.alen));
	clen = sizeof(cr);
	EQ(ks_getsockopt(c, KS_SOL_SOCKET, KS_SO_PEERCRED, &cr, &clen), 0);
	CHECK_EQ(cr.pid, o.pid);
	CHECK_EQ(cr.uid, 2000);
	CHECK_EQ(cr.gid, 2001);
	s = ut_accept(o.so);
	clen = sizeof(cr);
	EQ(ks_getsockopt(s, KS_SOL_SOCKET, KS_SO_PEERCRED, &cr, &clen), 0);
	CHECK_EQ(cr.pid, ksp_getpid());
	CHECK_EQ(cr.uid, 0);

	/* Unconnected: pid 0, ids -1. */
	ut_close(&c);
	c = ut_socket(KS_SOCK_DGRAM);
	clen = sizeof(cr);
	EQ(ks_getsockopt(c, KS_SOL_SOCKET, KS_SO_PEERCRED, &cr, &clen), 0);
	CHECK_EQ(cr.pid, 0);
	CHECK_EQ(cr.uid, (uint32_t)-1);
	CHECK_EQ(cr.gid, (uint32_t)-1);
}

/* -- datagram association -- */

/* A dgram connect sets the default peer; sendto overrides it; AF_UNSPEC
 * disconnects (then send is ENOTCONN); sending to a socket connected to
 * a third party is EPERM; the peer's close gives ECONNREFUSED, then
 * ENOTCONN. */
static void
t_dgram_association(void)
{
	struct ks_sockaddr_un ra, qa, un;
	struct ks_sock *r, *q, *s, *third;
	uint32_t rlen = ut_abstract(&ra, "dg-r");
	uint32_t qlen = ut_abstract(&qa, "dg-q");
	char buf[8];

	r = ut_socket(KS_SOCK_DGRAM);
	q = ut_socket(KS_SOCK_DGRAM);
	s = ut_socket(KS_SOCK_DGRAM);
	third = ut_socket(KS_SOCK_DGRAM);
	OK(ks_bind(r, &ra, rlen));
	OK(ks_bind(q, &qa, qlen));
	ERR(ut_send(s, "x", 1, 0), -KS_ENOTCONN);
	OK(ks_connect(s, &ra, rlen));
	EQ(ut_send(s, "to-r", 4, 0), 4);
	EQ(ut_sendto(s, "to-q", 4, 0, &qa, qlen), 4);
	EQ(ut_recv(r, buf, sizeof(buf), KS_MSG_DONTWAIT), 4);
	CHECK_MEM(buf, "to-r", 4);
	EQ(ut_recv(q, buf, sizeof(buf), KS_MSG_DONTWAIT), 4);
	CHECK_MEM(buf, "to-q", 4);

	memset(&un, 0, sizeof(un));
	un.sun_family = KS_AF_UNSPEC;
	OK(ks_connect(s, &un, sizeof(un)));
	ERR(ut_send(s, "x", 1, 0), -KS_ENOTCONN);

	/* q is connected to r: only r may send to it. */
	OK(ks_connect(q, &ra, rlen));
	ERR(ut_sendto(third, "x", 1, 0, &qa, qlen), -KS_EPERM);
	EQ(ut_sendto(r, "ok", 2, 0, &qa, qlen), 2);

	OK(ks_connect(s, &ra, rlen));
	ut_close(&r);
	ERR(ut_send(s, "x", 1, 0), -KS_ECONNREFUSED);
	ERR(ut_send(s, "x", 1, 0), -KS_ENOTCONN);
	ERR(ut_sendto(s, "x", 1, 0, &ra, rlen), -KS_ECONNREFUSED);
}

/* Connecting a dgram socket to a new peer purges what it had received
 * from others. */
static void
t_dgram_reconnect_purges(void)
{
	struct ks_sockaddr_un aa, ba;
	struct ks_sock *a, *b, *c;
	uint32_t alen = ut_abstract(&aa, "rp-a");
	uint32_t blen = ut_abstract(&ba, "rp-b");
	int n = -1;

	a = ut_socket(KS_SOCK_DGRAM);
	b = ut_socket(KS_SOCK_DGRAM);
	c = ut_socket(KS_SOCK_DGRAM);
	OK(ks_bind(a, &aa, alen));
	OK(ks_bind(b, &ba, blen));
	EQ(ut_sendto(c, "from-c", 6, 0, &aa, alen), 6);
	OK(ks_connect(a, &ba, blen));		/* first peer: kept */
	EQ(ut_ioctl_int(a, KS_FIONREAD, &n), 0);
	CHECK_EQ(n, 6);
	OK(ks_connect(a, &ba, blen));		/* same peer: kept */
	EQ(ut_ioctl_int(a, KS_FIONREAD, &n), 0);
	CHECK_EQ(n, 6);
	ut_close(&b);
	b = ut_socket(KS_SOCK_DGRAM);
	blen = ut_abstract(&ba, "rp-b2");
	OK(ks_bind(b, &ba, blen));
	OK(ks_connect(a, &ba, blen));		/* another peer: purged */
	EQ(ut_ioctl_int(a, KS_FIONREAD, &n), 0);
	CHECK_EQ(n, 0);
}

/* An accepted socket takes KS_SOCK_NONBLOCK from accept's flags, not
 * from its listener, and SO_PASSCRED from the listener as it was when
 * the client connected. */
static void
t_accept_inherits(void)
{
	struct ks_sockaddr_un a;
	uint32_t alen = ut_abstract(&a, "inherit");
	struct ks_sock *l, *c1, *c2, *s1, *s2;
	int v = -1;

	l = ut_socket(KS_SOCK_STREAM | KS_SOCK_NONBLOCK);
	OK(ks_bind(l, &a, alen));
	OK(ks_listen(l, 4));
	EQ(ut_setint(l, KS_SO_PASSCRED, 1), 0);
	c1 = ut_socket(KS_SOCK_STREAM);
	OK(ks_connect(c1, &a, alen));
	EQ(ut_setint(l, KS_SO_PASSCRED, 0), 0);
	c2 = ut_socket(KS_SOCK_STREAM);
	OK(ks_connect(c2, &a, alen));
	s1 = ut_accept(l);
	s2 = ut_accept_(l, KS_SOCK_NONBLOCK | KS_SOCK_CLOEXEC, NULL, NULL,
			__FILE__, __LINE__);
	if (!ut_live())
		return;
	CHECK(!ks_is_nonblock(s1));
	CHECK(ks_is_nonblock(s2));
	EQ(ut_getint(s1, KS_SO_PASSCRED, &v), 0);
	CHECK_EQ(v, 1);
	EQ(ut_getint(s2, KS_SO_PASSCRED, &v), 0);
	CHECK_EQ(v, 0);
	ERR(ks_accept(l, 0, &s1, NULL, NULL), -KS_EAGAIN);
}

/* Abstract names may hold NULs: "a\0b" and "a\0c" are two names, and
 * getsockname returns the exact bytes. */
static void
t_abstract_with_nuls(void)
{
	struct ks_sockaddr_un a, b, got;
	struct ks_sock *s1, *s2;
	uint32_t alen = ut_abstract(&a, "a_b"), glen = sizeof(got);

	a.sun_path[2] = 0;
	memcpy(&b, &a, sizeof(a));
	b.sun_path[3] = 'c';
	s1 = ut_socket(KS_SOCK_DGRAM);
	s2 = ut_socket(KS_SOCK_DGRAM);
	OK(ks_bind(s1, &a, alen));
	OK(ks_bind(s2, &b, alen));
	EQ(ks_getsockname(s1, &got, &glen), 0);
	CHECK_EQ(glen, alen);
	CHECK_MEM(&got, &a, alen);
	EQ(ut_sendto(s2, "n", 1, 0, &a, alen), 1);
	EQ(ut_recv(s1, &got, 1, KS_MSG_DONTWAIT), 1);
}

/*
 * A bind that fails leaves nothing behind: no node on the filesystem, no
 * abstract name taken, and the socket still unbound, so binding again
 * succeeds. In injected runs this checks each allocation failure inside
 * bind (hence the direct calls: the retry must run after the failure).
 */
static void
t_failed_bind_leaves_nothing(void)
{
	struct ks_sockaddr_un pa, aa;
	uint32_t plen = ut_path(&pa, "node"), alen = ut_abstract(&aa, "node");
	struct ks_sock *so[2];
	struct stat st;

	so[0] = ut_socket(KS_SOCK_STREAM);
	so[1] = ut_socket(KS_SOCK_DGRAM);
	if (!ut_live())
		return;
	for (int i = 0; i < 2; i++) {
		const void *addr = i == 0 ? (void *)&pa : (void *)&aa;
		uint32_t len = i == 0 ? plen : alen;
		long r = ks_bind(so[i], addr, len);

		if (r == 0)
			continue;
		if (!(r == -KS_ENOMEM || r == -KS_ENOBUFS) || !ut_fired()) {
			ut_fail(__FILE__, __LINE__, "bind: %ld", r);
			continue;
		}
		if (i == 0 && stat("node", &st) == 0)
			ut_fail(__FILE__, __LINE__,
				"a failed bind left its node behind");
		r = ks_bind(so[i], addr, len);
		if (r != 0)
			ut_fail(__FILE__, __LINE__,
				"bind after a failed bind: %ld", r);
	}
	if (stat("node", &st) != 0 || !S_ISSOCK(st.st_mode))
		ut_fail(__FILE__, __LINE__, "no socket node after bind");
	unlink("node");
}

/*
 * A connect that fails leaves nothing behind: the listener has no pending
 * connection (it does not poll IN), the client stays unconnected, and
 * connecting again succeeds. Checked for each allocation connect makes
 * in injected runs (hence the direct calls).
 */
static void
t_failed_connect_leaves_nothing(void)
{
	static const int types[] = { KS_SOCK_STREAM, KS_SOCK_SEQPACKET };

	for (size_t i = 0; i < 2 && ut_live(); i++) {
		struct ks_sockaddr_un a;
		uint32_t alen = ut_abstract(&a, i ? "fc-seq" : "fc-str");
		struct ks_sock *l, *c;
		long r;

		l = ut_socket(types[i]);
		c = ut_socket(types[i]);
		OK(ks_bind(l, &a, alen));
		OK(ks_listen(l, 4));
		if (!ut_live())
			break;
		r = ks_connect(c, &a, alen);
		if (r == 0)
			continue;
		if (!(r == -KS_ENOMEM || r == -KS_ENOBUFS) || !ut_fired()) {
			ut_fail(__FILE__, __LINE__, "connect: %ld", r);
			continue;
		}
		if (ks_poll(l, NULL) & KS_POLLIN)
			ut_fail(__FILE__, __LINE__,
				"a failed connect left a pending connection");
		r = ks_connect(c, &a, alen);
		if (r != 0)
			ut_fail(__FILE__, __LINE__,
				"connect after a failed connect: %ld", r);
	}
}

static const struct ut_test tests[] = {
	{ "path_connect_accept",	t_path_connect_accept, 0 },
	{ "send_before_accept",		t_send_before_accept, 0 },
	{ "bind_errors",		t_bind_errors, 0 },
	{ "bind_mode_from_umask",	t_bind_mode_from_umask, 0 },
	{ "bind_full_length_path",	t_bind_full_length_path, 0 },
	{ "abstract_names",		t_abstract_names, 0 },
	{ "autobind",			t_autobind, 0 },
	{ "connect_errors",		t_connect_errors, 0 },
	{ "backlog",			t_backlog, 0 },
	{ "rename_unlink",		t_rename_unlink, 0 },
	{ "path_permissions",		t_path_permissions, 0 },
	{ "bind_permission",		t_bind_permission, 0 },
	{ "peercred_recorded",		t_peercred_recorded, 0 },
	{ "dgram_association",		t_dgram_association, 0 },
	{ "dgram_reconnect_purges",	t_dgram_reconnect_purges, 0 },
	{ "accept_inherits",		t_accept_inherits, 0 },
	{ "abstract_with_nuls",		t_abstract_with_nuls, 0 },
	{ "failed_bind_leaves_nothing",	t_failed_bind_leaves_nothing, 0 },
	{ "failed_connect_leaves_nothing", t_failed_connect_leaves_nothing, 0 },
};

UT_MAIN(tests)

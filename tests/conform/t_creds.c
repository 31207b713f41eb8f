/*
 * SCM_CREDENTIALS and SO_PASSCRED: who may claim which credentials, when
 * credentials are attached and delivered, how they keep stream reads
 * apart, and where they sit in the received control buffer.
 */
#include "harness.h"

#define CTL_SIZE	512
#define OVERFLOW_ID	65534	/* what an unset uid or gid reads as */
#define NOBODY		65534

/* What one recvmsg returned. */
struct received {
	ssize_t		ret;
	int		flags;		/* msg_flags */
	size_t		controllen;	/* msg_controllen after the call */
	int		ncmsg;
	int		cred_at;	/* index of SCM_CREDENTIALS, or -1 */
	int		rights_at;	/* index of SCM_RIGHTS, or -1 */
	size_t		cred_len;	/* its cmsg_len */
	struct ucred	cred;
	int		nfds;
	int		fds[8];
};

/*
 * Sends @len bytes; with @cred an SCM_CREDENTIALS header of cmsg_len
 * @cred_len (CMSG_LEN(sizeof(struct ucred)) when 0); with @fd >= 0 an
 * SCM_RIGHTS header too, placed before the credentials.
 */
static ssize_t
send_ctl(int s, const void *data, size_t len, const struct ucred *cred,
	 size_t cred_len, int fd)
{
	union {
		char		buf[CTL_SIZE];
		struct cmsghdr	align;
	} u;
	struct iovec iov = { (void *)data, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	memset(&u, 0, sizeof(u));
	msg.msg_control = u.buf;
	msg.msg_controllen = (fd >= 0 ? CMSG_SPACE(sizeof(int)) : 0) +
			     (cred ? CMSG_SPACE(sizeof(*cred)) : 0);
	if (msg.msg_controllen == 0)
		msg.msg_control = NULL;
	c = CMSG_FIRSTHDR(&msg);
	if (fd >= 0) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
		c = CMSG_NXTHDR(&msg, c);
	}
	if (cred != NULL) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = cred_len ? cred_len : CMSG_LEN(sizeof(*cred));
		memcpy(CMSG_DATA(c), cred, sizeof(*cred));
	}
	return sendmsg(s, &msg, 0);
}

static ssize_t
send_cred(int s, const void *data, size_t len, pid_t pid, uid_t uid,
	  gid_t gid)
{
	struct ucred cred = { pid, uid, gid };

	return send_ctl(s, data, len, &cred, 0, -1);
}

static void
recv_ctl(int s, void *buf, size_t len, size_t ctl_len, int flags,
	 struct received *r)
{
	union {
		char		buf[CTL_SIZE];
		struct cmsghdr	align;
	} u;
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	memset(&u, 0, sizeof(u));
	memset(r, 0, sizeof(*r));
	r->cred_at = r->rights_at = -1;
	msg.msg_control = ctl_len ? u.buf : NULL;
	msg.msg_controllen = ctl_len;
	r->ret = recvmsg(s, &msg, flags);
	if (r->ret < 0)
		return;
	r->flags = msg.msg_flags;
	r->controllen = msg.msg_controllen;
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_CREDENTIALS) {
			r->cred_at = r->ncmsg;
			r->cred_len = c->cmsg_len;
			memcpy(&r->cred, CMSG_DATA(c),
			       c->cmsg_len >= CMSG_LEN(sizeof(r->cred)) ?
			       sizeof(r->cred) : c->cmsg_len - CMSG_LEN(0));
		}
		if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_RIGHTS) {
			int n = (int)((c->cmsg_len - CMSG_LEN(0)) /
				      sizeof(int));

			r->rights_at = r->ncmsg;
			for (int i = 0; i < n && r->nfds < 8; i++)
				memcpy(&r->fds[r->nfds++],
				       CMSG_DATA(c) + sizeof(int) * (size_t)i,
				       sizeof(int));
		}
		r->ncmsg++;
	}
}

static void
close_received(struct received *r)
{
	for (int i = 0; i < r->nfds; i++)
		CHECK_OK(close(r->fds[i]));
	r->nfds = 0;
}

static void
set_passcred(int s, int on)
{
	CHECK_OK(setsockopt(s, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)));
}

/* @r carries exactly one SCM_CREDENTIALS header with these values. */
static void
check_cred(const struct received *r, pid_t pid, uid_t uid, gid_t gid)
{
	CHECK(r->cred_at >= 0);
	CHECK_EQ(r->cred_len, CMSG_LEN(sizeof(struct ucred)));
	CHECK_EQ(r->cred.pid, pid);
	CHECK_EQ(r->cred.uid, uid);
	CHECK_EQ(r->cred.gid, gid);
}

static void
close_pair(int sv[2])
{
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

static const int all_types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
#define NTYPES	(sizeof(all_types) / sizeof(all_types[0]))

/* SO_PASSCRED reads 0 by default and reads back what was set. */
static void
creds_passcred_option(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		int s = CHECK_OK(socket(AF_UNIX, all_types[t], 0));
		int v = -1;
		socklen_t len = sizeof(v);

		CHECK_OK(getsockopt(s, SOL_SOCKET, SO_PASSCRED, &v, &len));
		CHECK_EQ(v, 0);
		CHECK_EQ(len, sizeof(int));
		set_passcred(s, 5);
		CHECK_OK(getsockopt(s, SOL_SOCKET, SO_PASSCRED, &v, &len));
		CHECK_EQ(v, 1);
		set_passcred(s, 0);
		CHECK_OK(getsockopt(s, SOL_SOCKET, SO_PASSCRED, &v, &len));
		CHECK_EQ(v, 0);
		CHECK_OK(close(s));
	}
}

/* Child: sends its pid as the payload on the socket given. */
static int
send_pid_child(void *arg)
{
	int s = *(int *)arg;
	pid_t pid = getpid();

	CHECK_EQ(send(s, &pid, sizeof(pid), 0), sizeof(pid));
	return th_failures();
}

/* A receiver with SO_PASSCRED gets one SCM_CREDENTIALS header of
 * CMSG_LEN(12) with the sending process's pid, uid and gid. */
static void
creds_receiver_passcred_gets_sender(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		int sv[2];
		pid_t pid = 0;
		struct received r;

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		set_passcred(sv[1], 1);
		CHECK_EQ(th_join(th_fork(send_pid_child, &sv[0])), 0);
		recv_ctl(sv[1], &pid, sizeof(pid), CTL_SIZE, 0, &r);
		CHECK_EQ(r.ret, sizeof(pid));
		CHECK(pid > 0 && pid != getpid());
		CHECK_EQ(r.flags, 0);
		CHECK_EQ(r.ncmsg, 1);
		CHECK_EQ(r.controllen, CMSG_SPACE(sizeof(struct ucred)));
		check_cred(&r, pid, getuid(), getgid());
		close_pair(sv);
	}
}

/* Without SO_PASSCRED on the receiver no credentials are delivered, even
 * explicit ones. */
static void
creds_not_delivered_without_passcred(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		int sv[2];
		char buf[8];
		struct received r;

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		CHECK_EQ(send(sv[0], "a", 1, 0), 1);
		recv_ctl(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
		CHECK_EQ(r.ret, 1);
		CHECK_EQ(r.ncmsg, 0);
		CHECK_EQ(r.controllen, 0);
		CHECK_EQ(send_cred(sv[0], "b", 1, getpid(), getuid(),
				   getgid()), 1);
		recv_ctl(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
		CHECK_EQ(r.ret, 1);
		CHECK_EQ(r.ncmsg, 0);
		CHECK_EQ(r.flags, 0);
		close_pair(sv);
	}
}

/* Explicit credentials equal to one's own are accepted and delivered. */
static void
creds_explicit_own_accepted(void)
{
	int sv[2];
	char buf[8];
	struct received r;

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	set_passcred(sv[1], 1);
	CHECK_EQ(send_cred(sv[0], "a", 1, getpid(), getuid(), getgid()), 1);
	recv_ctl(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 1);
	CHECK_EQ(r.ncmsg, 1);
	check_cred(&r, getpid(), getuid(), getgid());
	close_pair(sv);
}

/* Arguments of the unprivileged sender child. */
struct unpriv_job {
	int	s;
	pid_t	other_pid;
};

/* Child: becomes nobody, then tries credentials it does not hold. */
static int
unpriv_sender_child(void *arg)
{
	struct unpriv_job *job = arg;
	int s = job->s;

	if (th_setcred(NOBODY, NOBODY) < 0) {
		CHECK(!"th_setcred");
		return th_failures();
	}
	CHECK_ERR(send_cred(s, "x", 1, job->other_pid, NOBODY, NOBODY),
		  EPERM);
	/* The permission check comes before the pid lookup. */
	CHECK_ERR(send_cred(s, "x", 1, INT_MAX, NOBODY, NOBODY), EPERM);
	CHECK_ERR(send_cred(s, "x", 1, getpid(), 0, NOBODY), EPERM);
	CHECK_ERR(send_cred(s, "x", 1, getpid(), NOBODY, 0), EPERM);
	CHECK_ERR(send_cred(s, "x", 1, getpid(), (uid_t)-1, NOBODY), EINVAL);
	CHECK_ERR(send_cred(s, "x", 1, getpid(), NOBODY, (gid_t)-1), EINVAL);
	CHECK_EQ(send_cred(s, "ok", 2, getpid(), NOBODY, NOBODY), 2);
	return th_failures();
}

/* An unprivileged process may claim only its own pid and ids: another pid,
 * uid or gid gives EPERM, uid or gid -1 gives EINVAL. */
static void
creds_unprivileged_claims(void)
{
	int sv[2];
	struct unpriv_job job;
	struct received r;
	char buf[8];

	th_require_root();
	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	set_passcred(sv[1], 1);
	job.s = sv[0];
	job.other_pid = getpid();
	int status = th_join(th_fork(unpriv_sender_child, &job));

	CHECK_EQ(status, 0);
	recv_ctl(sv[1], buf, sizeof(buf), CTL_SIZE, MSG_DONTWAIT, &r);
	CHECK_EQ(r.ret, 2);
	CHECK(r.cred.pid > 0 && r.cred.pid != getpid());
	check_cred(&r, r.cred.pid, NOBODY, NOBODY);
	CHECK_ERR(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	close_pair(sv);
}

/* Child: reports its pid on ctl[1], then waits until ctl[0] is closed. */
static int
pid_then_wait_child(void *arg)
{
	int *ctl = arg, s = ctl[1];
	pid_t pid = getpid();
	char c;

	CHECK_OK(close(ctl[0]));
	CHECK_EQ(send(s, &pid, sizeof(pid), 0), sizeof(pid));
	CHECK_EQ(recv(s, &c, 1, 0), 0);
	CHECK_OK(close(s));
	return th_failures();
}

/* A privileged process may claim another live process's pid and any
 * uid and gid, and the receiver sees exactly those. */
static void
creds_root_claims_other(void)
{
	int sv[2], ctl[2];
	pid_t other = 0;
	struct th_child *c;
	struct received r;
	char buf[8];

	th_require_root();
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ctl));
	c = th_fork(pid_then_wait_child, ctl);
	CHECK_OK(close(ctl[1]));
	CHECK_EQ(recv(ctl[0], &other, sizeof(other), 0), sizeof(other));
	CHECK(other > 0 && other != getpid());

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	set_passcred(sv[1], 1);
	CHECK_EQ(send_cred(sv[0], "f", 1, other, 1234, 5678), 1);
	recv_ctl(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 1);
	check_cred(&r, other, 1234, 5678);
	close_pair(sv);
	CHECK_OK(close(ctl[0]));
	CHECK_EQ(th_join(c), 0);
}

/* Even a privileged process gets ESRCH for a pid that does not exist, and
 * EINVAL for uid or gid -1. */
static void
creds_root_bad_values(void)
{
	int sv[2];

	th_require_root();
	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	CHECK_ERR(send_cred(sv[0], "x", 1, INT_MAX, 0, 0), ESRCH);
	CHECK_ERR(send_cred(sv[0], "x", 1, getpid(), (uid_t)-1, 0), EINVAL);
	CHECK_ERR(send_cred(sv[0], "x", 1, getpid(), 0, (gid_t)-1), EINVAL);
	CHECK_ERR(recv(sv[1], &sv[0], 1, MSG_DONTWAIT), EAGAIN);
	close_pair(sv);
}

/* Own credentials with uid or gid -1 give EINVAL for anyone. */
static void
creds_minus_one_einval(void)
{
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_ERR(send_cred(sv[0], "x", 1, getpid(), (uid_t)-1, getgid()),
		  EINVAL);
	CHECK_ERR(send_cred(sv[0], "x", 1, getpid(), getuid(), (gid_t)-1),
		  EINVAL);
	close_pair(sv);
}

/* An SCM_CREDENTIALS header whose cmsg_len is not exactly CMSG_LEN(12)
 * gives EINVAL. */
static void
creds_wrong_cmsg_len_einval(void)
{
	static const size_t lens[] = {
		CMSG_LEN(0), CMSG_LEN(8), CMSG_LEN(11), CMSG_LEN(13),
		CMSG_LEN(16),
	};
	int sv[2];
	struct ucred cred = { getpid(), getuid(), getgid() };

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		CHECK_ERR(send_ctl(sv[0], "x", 1, &cred, lens[i], -1), EINVAL);
	CHECK_ERR(recv(sv[1], &cred, 1, MSG_DONTWAIT), EAGAIN);
	close_pair(sv);
}

/* With SO_PASSCRED on the sender, real credentials are attached, so a
 * receiver that turns SO_PASSCRED on later still sees them. */
static void
creds_sender_passcred_attaches(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		int sv[2];
		char buf[8];
		struct received r;

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		set_passcred(sv[0], 1);
		CHECK_EQ(send(sv[0], "a", 1, 0), 1);
		set_passcred(sv[1], 1);
		recv_ctl(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
		CHECK_EQ(r.ret, 1);
		check_cred(&r, getpid(), getuid(), getgid());
		close_pair(sv);
	}
}

/* Data queued while neither side had SO_PASSCRED reads, once the
 * receiver turns it on, with pid 0 and the overflow uid and gid. */
static void
creds_late_passcred_overflow_ids(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		int sv[2];
		char buf[8];
		struct received r;

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		CHECK_EQ(send(sv[0], "a", 1, 0), 1);
		set_passcred(sv[1], 1);
		CHECK_EQ(send(sv[0], "b", 1, 0), 1);
		recv_ctl(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
		CHECK_EQ(r.ret, 1);
		CHECK_EQ(buf[0], 'a');
		CHECK_EQ(r.ncmsg, 1);
		check_cred(&r, 0, OVERFLOW_ID, OVERFLOW_ID);
		recv_ctl(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
		CHECK_EQ(r.ret, 1);
		CHECK_EQ(buf[0], 'b');
		check_cred(&r, getpid(), getuid(), getgid());
		close_pair(sv);
	}
}

/* Data sent to a connection not yet accepted carries real credentials;
 * data sent after accept, with SO_PASSCRED off on both sides, does not. */
static void
creds_embryo_gets_creds(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };

	for (size_t t = 0; t < 2; t++) {
		struct sockaddr_un sun;
		socklen_t len = th_addr_path(&sun, "l");
		int l, c, a;
		char buf[8];
		struct received r;

		l = CHECK_OK(socket(AF_UNIX, types[t], 0));
		CHECK_OK(bind(l, (struct sockaddr *)&sun, len));
		CHECK_OK(listen(l, 4));
		c = CHECK_OK(socket(AF_UNIX, types[t], 0));
		CHECK_OK(connect(c, (struct sockaddr *)&sun, len));
		CHECK_EQ(send(c, "a", 1, 0), 1);
		a = CHECK_OK(accept(l, NULL, NULL));
		CHECK_EQ(send(c, "b", 1, 0), 1);
		set_passcred(a, 1);
		recv_ctl(a, buf, sizeof(buf), CTL_SIZE, 0, &r);
		CHECK_EQ(r.ret, 1);
		CHECK_EQ(buf[0], 'a');
		check_cred(&r, getpid(), getuid(), getgid());
		recv_ctl(a, buf, sizeof(buf), CTL_SIZE, 0, &r);
		CHECK_EQ(r.ret, 1);
		CHECK_EQ(buf[0], 'b');
		check_cred(&r, 0, OVERFLOW_ID, OVERFLOW_ID);
		CHECK_OK(close(a));
		CHECK_OK(close(c));
		CHECK_OK(close(l));
		CHECK_OK(unlink("l"));
	}
}

/* Child: writes "bb" on the stream it inherited. */
static int
write_bb_child(void *arg)
{
	int s = *(int *)arg;

	CHECK_EQ(send(s, "bb", 2, 0), 2);
	return th_failures();
}

/* With SO_PASSCRED on, a stream read never joins data written by different
 * processes; each part comes with its writer's pid. */
static void
creds_stream_no_join_other_pid(void)
{
	int sv[2];
	char buf[16];
	struct received r;
	pid_t child;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	set_passcred(sv[1], 1);
	CHECK_EQ(send(sv[0], "aa", 2, 0), 2);
	CHECK_EQ(th_join(th_fork(write_bb_child, &sv[0])), 0);
	CHECK_EQ(send(sv[0], "cc", 2, 0), 2);
	recv_ctl(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 2);
	CHECK_MEM(buf, "aa", 2);
	check_cred(&r, getpid(), getuid(), getgid());
	recv_ctl(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 2);
	CHECK_MEM(buf, "bb", 2);
	child = r.cred.pid;
	CHECK(child > 0 && child != getpid());
	check_cred(&r, child, getuid(), getgid());
	recv_ctl(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 2);
	CHECK_MEM(buf, "cc", 2);
	check_cred(&r, getpid(), getuid(), getgid());
	close_pair(sv);
}

/* Child: writes "aa", switches to nobody, writes "bb". */
static int
switch_between_writes_child(void *arg)
{
	int s = *(int *)arg;

	CHECK_EQ(send(s, "aa", 2, 0), 2);
	CHECK_OK(th_setcred(NOBODY, NOBODY));
	CHECK_EQ(send(s, "bb", 2, 0), 2);
	pid_t pid = getpid();

	CHECK_EQ(send(s, &pid, sizeof(pid), 0), sizeof(pid));
	return th_failures();
}

/* With SO_PASSCRED on, one process's writes made under different uids are
 * not joined either. */
static void
creds_stream_no_join_other_uid(void)
{
	int sv[2];
	char buf[16];
	struct received r;
	pid_t child = 0;

	th_require_root();
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	set_passcred(sv[1], 1);
	CHECK_EQ(th_join(th_fork(switch_between_writes_child, &sv[0])), 0);
	recv_ctl(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 2);
	CHECK_MEM(buf, "aa", 2);
	child = r.cred.pid;
	check_cred(&r, child, getuid(), getgid());
	recv_ctl(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 2 + (ssize_t)sizeof(pid_t));
	CHECK_MEM(buf, "bb", 2);
	check_cred(&r, child, NOBODY, NOBODY);
	pid_t said;

	memcpy(&said, buf + 2, sizeof(said));
	CHECK_EQ(said, child);
	close_pair(sv);
}

/* With SO_PASSCRED on, writes from the same process are joined. */
static void
creds_stream_joins_same_writer(void)
{
	int sv[2];
	char buf[16];
	struct received r;

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	set_passcred(sv[1], 1);
	CHECK_EQ(send(sv[0], "aa", 2, 0), 2);
	CHECK_EQ(send(sv[0], "bb", 2, 0), 2);
	recv_ctl(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
	CHECK_EQ(r.ret, 4);
	CHECK_MEM(buf, "aabb", 4);
	CHECK_EQ(r.ncmsg, 1);
	check_cred(&r, getpid(), getuid(), getgid());
	close_pair(sv);
}

/* Without SO_PASSCRED, a stream read joins data from different processes. */
static void
creds_stream_joins_without_passcred(void)
{
	int sv[2];
	char buf[16];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(send(sv[0], "aa", 2, 0), 2);
	CHECK_EQ(th_join(th_fork(write_bb_child, &sv[0])), 0);
	CHECK_EQ(send(sv[0], "cc", 2, 0), 2);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), 0), 6);
	CHECK_MEM(buf, "aabbcc", 6);
	close_pair(sv);
}

/* Credentials come before rights in the received control buffer, whatever
 * order the sender used. */
static void
creds_before_rights(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		int sv[2], p[2];
		char buf[8];
		struct received r;
		struct ucred cred = { getpid(), getuid(), getgid() };

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		CHECK_OK(pipe(p));
		set_passcred(sv[1], 1);
		CHECK_EQ(send_ctl(sv[0], "x", 1, &cred, 0, p[1]), 1);
		recv_ctl(sv[1], buf, sizeof(buf), CTL_SIZE, 0, &r);
		CHECK_EQ(r.ret, 1);
		CHECK_EQ(r.flags, 0);
		CHECK_EQ(r.ncmsg, 2);
		CHECK_EQ(r.cred_at, 0);
		CHECK_EQ(r.rights_at, 1);
		CHECK_EQ(r.nfds, 1);
		CHECK_EQ(r.controllen, CMSG_SPACE(sizeof(struct ucred)) +
			 CMSG_SPACE(sizeof(int)));
		check_cred(&r, getpid(), getuid(), getgid());
		close_received(&r);
		CHECK_OK(close(p[0]));
		CHECK_OK(close(p[1]));
		close_pair(sv);
	}
}

/* A control buffer too short for the credentials gets a truncated header
 * (cmsg_len the buffer size) and MSG_CTRUNC. */
static void
creds_short_buffer_ctrunc(void)
{
	int sv[2];
	char buf[8];
	struct received r;

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	set_passcred(sv[1], 1);
	CHECK_EQ(send(sv[0], "a", 1, 0), 1);
	recv_ctl(sv[1], buf, sizeof(buf), CMSG_LEN(sizeof(pid_t)), 0, &r);
	CHECK_EQ(r.ret, 1);
	CHECK_EQ(r.flags, MSG_CTRUNC);
	CHECK_EQ(r.controllen, CMSG_LEN(sizeof(pid_t)));
	CHECK_EQ(r.cred_len, CMSG_LEN(sizeof(pid_t)));
	CHECK_EQ(r.cred.pid, getpid());
	CHECK_EQ(send(sv[0], "b", 1, 0), 1);
	recv_ctl(sv[1], buf, sizeof(buf), sizeof(struct cmsghdr) - 1, 0, &r);
	CHECK_EQ(r.ret, 1);
	CHECK_EQ(r.flags, MSG_CTRUNC);
	CHECK_EQ(r.controllen, 0);
	close_pair(sv);
}

static const struct th_test tests[] = {
	{ "creds_passcred_option", creds_passcred_option },
	{ "creds_receiver_passcred_gets_sender",
	  creds_receiver_passcred_gets_sender },
	{ "creds_not_delivered_without_passcred",
	  creds_not_delivered_without_passcred },
	{ "creds_explicit_own_accepted", creds_explicit_own_accepted },
	{ "creds_unprivileged_claims", creds_unprivileged_claims },
	{ "creds_root_claims_other", creds_root_claims_other },
	{ "creds_root_bad_values", creds_root_bad_values },
	{ "creds_minus_one_einval", creds_minus_one_einval },
	{ "creds_wrong_cmsg_len_einval", creds_wrong_cmsg_len_einval },
	{ "creds_sender_passcred_attaches", creds_sender_passcred_attaches },
	{ "creds_late_passcred_overflow_ids",
	  creds_late_passcred_overflow_ids },
	{ "creds_embryo_gets_creds", creds_embryo_gets_creds },
	{ "creds_stream_no_join_other_pid", creds_stream_no_join_other_pid },
	{ "creds_stream_no_join_other_uid", creds_stream_no_join_other_uid },
	{ "creds_stream_joins_same_writer", creds_stream_joins_same_writer },
	{ "creds_stream_joins_without_passcred",
	  creds_stream_joins_without_passcred },
	{ "creds_before_rights", creds_before_rights },
	{ "creds_short_buffer_ctrunc", creds_short_buffer_ctrunc },
};

TH_MAIN(tests)

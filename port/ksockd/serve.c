/*
 * ksockd: requests. The decoder, the calls, parked calls and fork/exec
 * hand-overs (see ksockd.h for the threading rule that makes this file
 * lock-free, and docs/ksockd.md for the protocol).
 *
 * A request is copied out of the client's slot into server memory
 * before anything is decided on it, and every length is checked against
 * the slot's fixed sizes by ksd__decode() before it is used, so a client
 * can only ever point the server at its own window. Descriptors are
 * looked up in the client's own table (ksock's port hooks find the table
 * through the thread's current process, which is set to the client for
 * the length of each call). Socket addresses and option values go
 * through port/hosted/boundary.c, as in every other front end; the
 * window is the "user memory" of the call.
 *
 * Invariants: a slot is busy from its doorbell until its reply; a busy
 * slot has at most one parked call; a parked call holds a reference to
 * every file it waits on and a poll entry on each; a client being freed
 * drops its parked calls first, then closes its table. A watch
 * (KSD_WATCH) holds poll entries on its client's sockets but no file,
 * and ends with UNWATCH or its client.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <ksock/posix.h>

#include "ksockd.h"
#include "rights.h"
#include "../hosted/sigio.h"

/* A call that could not finish yet. */
#define KSD_AGAIN	(-10000)
/* How often a blocked connect looks again: a full listener's backlog
 * has no wake-up a connecting socket can register for. */
#define CONNECT_RETRY_NS	(5 * 1000000LL)

struct ksd_park {
	struct ksd_client *c;			/* [I] */
	uint32_t	 slot;			/* [I] */
	struct ksd_call	 call;			/* [I] the decoded request */
	struct ksp_file	*file;			/* the socket waited on */
	struct ks_poll_entry pe;		/* on file->so */
	/* KSD_POLL: one file and entry per request entry. */
	struct ksp_file	**pfile;
	struct ks_poll_entry *ppe;
	uint32_t	 npoll;
	int64_t		 deadline;		/* -1: none */
	int64_t		 timeout_at;		/* SO_RCVTIMEO/SO_SNDTIMEO
						 * runs out; -1: never */
	size_t		 done;			/* bytes moved so far */
	struct ksd_rep	 rep;			/* the reply being built */
	int		 cwd;			/* KSD_F_CWD: the client's
						 * working directory, or -1 */
	int		*tmpfd;			/* KSD_F_KFDS: descriptors of
						 * the client's table that
						 * hold its kernel ones */
	uint32_t	 ntmp;
	bool		 ready;			/* on the ready list */
	struct ksd_park	*next_ready;
	struct ksd_park	*next, *prev;		/* all parked calls */
	/* On the timed list: a deadline or a timeout is set. */
	bool		 timed;
	struct ksd_park	*timed_next, *timed_prev;
	/* KSD_F_THREAD_NS: the calling thread's network namespace, which
	 * the call runs in; 0: the process's. */
	uint64_t	 netns;
};

/* A FORK or EXEC hand-over: a copy of a descriptor table waiting for
 * the process that will claim it. */
struct ksd_handover {
	uint64_t	 token;
	uint32_t	 uid;
	int64_t		 deadline;
	struct ksp_fdtable fdt;
	struct ksd_handover *next;
};

static struct ksd_park *parked;		/* [S] */
static struct ksd_park *ready_head;	/* [S] */
/* The parked calls with a deadline or a timeout, the only ones the
 * loop's timer looks at: calls that wait for their socket alone cost
 * nothing per turn of the loop, however many there are. */
static struct ksd_park *timed_head;	/* [S] */
static struct ksd_handover *handovers;	/* [S] */
static unsigned nhandovers;		/* [S] */
static struct ksd_client *clients;	/* [S] */
static long objects;			/* [S] */
static long nclients;			/* [S] */
static long nparked;			/* [S] */

static long obj_fail_at;		/* [S] countdown; 0: off */

/* See ksockd.h. */
void
ksd__obj_fail_at(long n)
{
	obj_fail_at = n > 0 ? n : 0;
}

static void *
obj_alloc(size_t size)
{
	void *p;

	if (obj_fail_at > 0 && --obj_fail_at == 0)
		return NULL;
	p = calloc(1, size);

	if (p != NULL)
		objects++;
	return p;
}

static void
obj_free(void *p)
{
	if (p == NULL)
		return;
	objects--;
	free(p);
}

/* See ksockd.h. */
long
ksd__objects(void)
{
	return objects;
}

/* -- the decoder -- */

/* See ksockd.h. */
int
ksd__decode(const struct ksd_req *req, struct ksd_call *out)
{
	uint32_t data_max = KSD_DATA_MAX, ctl_max = 0, addr_max = 0;
	/* Any call may ask for its reply on the notifier too. */
	uint32_t flags_ok = KSD_F_NOTIFY;

	memset(out, 0, sizeof(*out));
	if (req->label == 0 || req->label >= KSD_LABEL_END)
		return -KS_ENOSYS;
	switch (req->label) {
	case KSD_BIND:
	case KSD_CONNECT:
		addr_max = KSD_INLINE;
		data_max = 0;
		flags_ok |= KSD_F_CWD;
		break;
	case KSD_SENDMSG:
		addr_max = KSD_INLINE - KSD_INLINE_DATA;
		ctl_max = KSD_CTL_MAX;
		flags_ok |= KSD_F_DATA_INLINE | KSD_F_CWD | KSD_F_KFDS;
		if (req->flags & KSD_F_DATA_INLINE)
			data_max = KSD_INLINE_DATA;
		/* KSD_F_DIRECT: read from the client's own buffers. */
		if ((req->flags & KSD_F_DIRECT) &&
		    !(req->flags & KSD_F_DATA_INLINE)) {
			if (req->a[1] < 0 || req->a[1] > KSD_DIRECT_SEGS)
				return -KS_EINVAL;
			flags_ok |= KSD_F_DIRECT;
			data_max = KSP_RW_MAX;
		}
		break;
	case KSD_RECVMSG:
		/* addrlen: the room the caller has for the address. */
		addr_max = UINT32_MAX;
		ctl_max = KSD_CTL_MAX;
		flags_ok |= KSD_F_DIRECT;
		if (req->flags & KSD_F_DIRECT) {
			if (req->a[1] < 0 || req->a[1] > KSD_DIRECT_SEGS)
				return -KS_EINVAL;
			data_max = KSP_RW_MAX;
		}
		break;
	case KSD_GETSOCKOPT:
	case KSD_SETSOCKOPT:
	case KSD_DIAG:		/* datalen: room for the listing */
		break;
	case KSD_POLL:
		if (req->a[0] < 0 || req->a[0] > KSD_POLL_MAX)
			return -KS_EINVAL;
		break;
	case KSD_WATCH:
		if (req->a[0] < 0 || req->a[0] > KSD_POLL_MAX ||
		    req->a[1] < 0 || req->a[2] < 0)
			return -KS_EINVAL;
		flags_ok |= KSD_F_WATCH_NEW;
		data_max = 0;
		break;
	case KSD_SOCKET:
	case KSD_SOCKETPAIR:
	case KSD_ACCEPT:
	case KSD_DUP:
		flags_ok = KSD_F_PLACE;
		data_max = 0;
		break;
	default:
		data_max = 0;
		break;
	}
	/* Any call may come from a thread in a namespace of its own. */
	flags_ok |= KSD_F_THREAD_NS;
	if ((req->flags & ~flags_ok) != 0 || req->addrlen > addr_max ||
	    req->datalen > data_max || req->ctllen > ctl_max)
		return -KS_EINVAL;
	out->label = req->label;
	out->flags = req->flags;
	out->fd = req->fd;
	memcpy(out->a, req->a, sizeof(out->a));
	out->addrlen = req->addrlen;
	out->datalen = req->datalen;
	out->ctllen = req->ctllen;
	out->seq = req->seq;
	memcpy(out->inl, req->inl, sizeof(out->inl));
	out->tid = req->tid;
	return 0;
}

/* -- replies -- */

/*
 * One byte on @slot's notifier, with its reply. Never waits:
 * a client that does not read its end only fills its own queue, and then
 * the byte already waiting says the same.
 */
static void
notify(struct ksd_client *c, uint32_t slot)
{
	static const char one = 1;

	c->notify_want[slot] = false;
	if (c->notify[slot] >= 0)
		(void)send(c->notify[slot], &one, 1,
			   MSG_DONTWAIT | MSG_NOSIGNAL);
}

/*
 * KSD_NOTIFY: a new notifier for @slot, made here so that the server
 * only ever writes to a socket of its own (a descriptor a client chose
 * could lead anywhere, or block). The client's end goes on the
 * bootstrap connection before the reply, so it is there when the client
 * reads the reply; a slot's earlier notifier is closed.
 */
/*
 * A kernel socketpair whose one end goes to @c on the bootstrap
 * connection (a notifier's, a watch's). Returns the server's end, or
 * -errno.
 */
static int
pair_to_client(struct ksd_client *c)
{
	union {
		struct cmsghdr	h;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	char one = 1;
	struct iovec iov = { &one, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	int sv[2];
	long err = 0;

	if (c->sock < 0)
		return -KS_ENOTCONN;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
		       sv) < 0)
		return -errno;
	memset(&u, 0, sizeof(u));
	CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
	CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
	CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), &sv[1], sizeof(int));
	if (sendmsg(c->sock, &m, MSG_DONTWAIT | MSG_NOSIGNAL) != 1)
		err = -errno;
	close(sv[1]);
	if (err < 0) {
		close(sv[0]);
		return (int)err;
	}
	return sv[0];
}

static long
do_notify(struct ksd_client *c, uint32_t slot)
{
	int fd = pair_to_client(c);

	if (fd < 0)
		return fd;
	if (c->notify[slot] >= 0)
		close(c->notify[slot]);
	c->notify[slot] = fd;
	return 0;
}

/* Ends the call in @slot of @c: the reply goes out and the client's
 * thread, when it sleeps (KSD_SLEEPING), is woken through the slot's
 * futex. */
static void
reply(struct ksd_client *c, uint32_t slot, struct ksd_rep *rep)
{
	struct ksd_slot *s = &c->shm->slot[slot];

	memcpy(&s->rep, rep, sizeof(*rep));
	/* The notifier's byte before DONE: a client that sees DONE then
	 * finds the byte queued, and empties it before its next call. */
	if (c->notify_want[slot])
		notify(c, slot);
	/* A client still spinning on its slot needs no wake-up. */
	if (atomic_exchange_explicit(&s->state, KSD_DONE,
				     memory_order_acq_rel) == KSD_SLEEPING)
		syscall(SYS_futex, &s->state, FUTEX_WAKE, 1, NULL, NULL, 0);
	c->busy[slot] = false;
}

/* -- descriptors of the calling client -- */

static struct ksp_fdtable *
table(struct ksd_client *c)
{
	return &c->proc.fdt;
}

/* The socket file behind @fd of @c, held: 0, -EBADF or -ENOTSOCK. */
static int
get_sock(struct ksd_client *c, int fd, struct ksp_file **out)
{
	int err = ksp__fd_get(table(c), fd, out);

	if (err < 0)
		return err;
	if ((*out)->so == NULL) {
		ksp__file_put(*out);
		return -KS_ENOTSOCK;
	}
	return 0;
}

/* Installs @so as a new descriptor of @c; drops the creation reference
 * (closing @so on failure). */
static int
install_sock(struct ksd_client *c, struct ks_sock *so, bool cloexec)
{
	struct ksp_file *f = ksp__file_new_sock(so);
	int fd;

	if (f == NULL) {
		ks_close(so);
		return -KS_ENOMEM;
	}
	fd = ksp__fd_install(table(c), f, cloexec, 0);
	ksp__file_put(f);
	return fd;
}

/*
 * KSD_F_PLACE: moves @c's new descriptor @fd to @want when that number
 * is free (the client holds it in the kernel for this descriptor). A
 * number taken meanwhile (by a descriptor SCM_RIGHTS brought, which goes
 * to the lowest free one) leaves @fd where it is: the client sees the
 * number it got and moves it itself. Returns the descriptor's number.
 */
static int
place_fd(struct ksd_client *c, const struct ksd_call *k, int fd, int want,
	 bool cloexec)
{
	struct ksp_file *f;

	if (!(k->flags & KSD_F_PLACE) || fd < 0 || want < 0 || fd == want)
		return fd;
	if (ksp__fd_get(table(c), want, &f) == 0) {
		ksp__file_put(f);
		return fd;
	}
	if (ksp__fd_dup3(table(c), fd, want, cloexec) < 0)
		return fd;
	ksp__fd_close(table(c), fd);
	return want;
}

/* The number KSD_F_PLACE asks for the @i-th new descriptor of @k. */
static int
place_want(const struct ksd_call *k, int i)
{
	struct ksd_place pl;

	memcpy(&pl, k->inl, sizeof(pl));
	return pl.fd[i];
}

/* The window of @slot: data first, control after it. */
static unsigned char *
window(struct ksd_client *c, uint32_t slot)
{
	return c->shm->window[slot];
}

static unsigned char *
ctl_area(struct ksd_client *c, uint32_t slot)
{
	return c->shm->window[slot] + KSD_DATA_MAX;
}

/* Whether a call on @so with @flags may wait. */
static bool
may_block(struct ks_sock *so, int flags)
{
	return !(flags & KS_MSG_DONTWAIT) && !ks_is_nonblock(so);
}

/* -- descriptors that came with a doorbell -- */

/* The server's own working directory while a call runs in a client's
 * (cwd_enter, cwd_leave), or -1. */
static int server_cwd = -1;		/* [S] */

/*
 * -- kernel descriptors in flight, parked --
 *
 * The kernel descriptors of a message in flight (KSD_F_KFDS) wait in a
 * kernel socket's queue, not in the server's table: a socketpair, all
 * of them sent in one SCM_RIGHTS on one end, that end closed, the other
 * kept. The server holds one descriptor per message however many it
 * carries, so its own RLIMIT_NOFILE is not what limits a user's
 * descriptors in flight (ksock's count against the user's limit is, as
 * on Linux). Each descriptor is a parked file (ksp__file_new_parked) of
 * the message; the first one a receive delivers takes them all out of
 * the queue (kfd_park_fetch), the ones dropped before stay in it, and
 * the last file dropped closes the queue, and with it whatever is still
 * in it.
 */
struct kfd_park {
	int		 fd;		/* [S] the queue, or -1 once emptied */
	uint32_t	 refs;		/* [S] its files, + 1 while made */
	uint32_t	 n;		/* [I] descriptors parked */
	struct ksp_file	*file[];	/* [S] each's file, in order;
					 * NULL before made, after dropped */
};

/* Drops a reference to @pk; the last closes the queue and frees it. */
static void
kfd_park_put(struct kfd_park *pk)
{
	if (--pk->refs > 0)
		return;
	if (pk->fd >= 0)
		close(pk->fd);
	obj_free(pk);
}

/* A parked file's last reference (its drop): its descriptor closed if
 * fetched, its place in the queue given up. */
static void
kfd_park_drop(struct ksp_file *f)
{
	struct kfd_park *pk = f->priv;

	if (f->hostfd >= 0)
		close(f->hostfd);
	for (uint32_t i = 0; i < pk->n; i++)
		if (pk->file[i] == f)
			pk->file[i] = NULL;
	kfd_park_put(pk);
}

/*
 * Parks the @n (1 to KSD_BELL_FDS) kernel descriptors @fds in a new
 * queue, holding one reference for the caller; @fds stay the caller's
 * to close. Returns 0, -KS_ENOMEM, or -KS_ETOOMANYREFS when the server
 * has no descriptor for the queue (EMFILE, ENFILE) or the kernel's
 * in-flight limit refuses the server's send.
 */
static int
kfd_park_new(const int *fds, uint32_t n, struct kfd_park **out)
{
	union {
		struct cmsghdr	h;
		char		buf[CMSG_SPACE(KSD_BELL_FDS * sizeof(int))];
	} u;
	char tag = 'P';
	struct iovec iov = { &tag, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = CMSG_SPACE(n * sizeof(int)) };
	struct kfd_park *pk;
	int sv[2], err;

	pk = obj_alloc(sizeof(*pk) + n * sizeof(pk->file[0]));
	if (pk == NULL)
		return -KS_ENOMEM;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0) {
		err = errno;
		goto free_park;
	}
	memset(&u, 0, sizeof(u));
	CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
	CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
	CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), fds, n * sizeof(int));
	if (sendmsg(sv[0], &m, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) {
		err = errno;
		goto close_pair;
	}
	/* The queue is the receiving end's: what was sent stays in it. */
	close(sv[0]);
	pk->fd = sv[1];
	pk->refs = 1;
	pk->n = n;
	*out = pk;
	return 0;

close_pair:
	close(sv[0]);
	close(sv[1]);
free_park:
	obj_free(pk);
	return err == EMFILE || err == ENFILE || err == ETOOMANYREFS ?
	       -KS_ETOOMANYREFS : -KS_ENOMEM;
}

/*
 * Gives @f its descriptor if it is a parked file still without one: the
 * first call for a queue takes everything out of it (close-on-exec),
 * hands each live file its descriptor, closes those of files already
 * dropped, and closes the queue. A descriptor the server could not
 * take (its RLIMIT_NOFILE) is lost: its file keeps hostfd -1.
 */
static void
kfd_park_fetch(struct ksp_file *f)
{
	union {
		struct cmsghdr	h;
		char		buf[CMSG_SPACE(KSD_BELL_FDS * sizeof(int))];
	} u;
	char tag;
	struct iovec iov = { &tag, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct kfd_park *pk;
	size_t got = 0;

	if (f->so != NULL || f->drop != kfd_park_drop || f->hostfd >= 0)
		return;
	pk = f->priv;
	if (pk->fd < 0)
		return;
	if (recvmsg(pk->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) == 1 &&
	    CMSG_FIRSTHDR(&m) != NULL &&
	    CMSG_FIRSTHDR(&m)->cmsg_level == SOL_SOCKET &&
	    CMSG_FIRSTHDR(&m)->cmsg_type == SCM_RIGHTS)
		got = (CMSG_FIRSTHDR(&m)->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	for (size_t i = 0; i < got; i++) {
		int fd;

		memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)) + i * sizeof(int),
		       sizeof(fd));
		if (i < pk->n && pk->file[i] != NULL)
			pk->file[i]->hostfd = fd;
		else
			close(fd);
	}
	close(pk->fd);
	pk->fd = -1;
}

/* Undoes bell_fds_take(): the directory closed, the kernel descriptors'
 * places in the client's table closed (a message in flight keeps its
 * own references to their files). */
static void
bell_fds_drop(struct ksd_park *p)
{
	if (p->cwd >= 0)
		close(p->cwd);
	p->cwd = -1;
	for (uint32_t i = 0; i < p->ntmp; i++)
		ksp__fd_close(table(p->c), p->tmpfd[i]);
	obj_free(p->tmpfd);
	p->tmpfd = NULL;
	p->ntmp = 0;
}

/* KSD_F_KFDS: the next kernel descriptor's place for a -1 number. */
struct kfd_fill {
	struct ksd_park	*p;
	uint32_t	 next;
};

static int
kfd_fill_one(unsigned char *num, void *arg)
{
	struct kfd_fill *kf = arg;
	int32_t v;

	memcpy(&v, num, sizeof(v));
	if (v != -1)
		return 0;
	if (kf->next >= kf->p->ntmp)
		return -KS_EINVAL;
	v = kf->p->tmpfd[kf->next++];
	memcpy(num, &v, sizeof(v));
	return 0;
}

/*
 * The descriptors of @p's doorbell: the working directory (KSD_F_CWD)
 * kept for the call, and the kernel descriptors (KSD_F_KFDS) made files
 * of the client's table, their numbers written over the -1 numbers of
 * the control messages, so that ksock's SCM_RIGHTS carries them as it
 * carries sockets (the collector and the in-flight limit see them). A
 * bell whose descriptors did not all reach the server is
 * -KS_ETOOMANYREFS; numbers and descriptors that do not pair up,
 * -KS_EINVAL.
 */
static int
bell_fds_take(struct ksd_park *p)
{
	struct ksd_client *c = p->c;
	struct kfd_fill kf = { p, 0 };
	struct kfd_park *pk;
	int next = 0, err;

	if (c->bell_trunc)
		return -KS_ETOOMANYREFS;
	if (p->call.flags & KSD_F_CWD) {
		if (c->nbell_fd < 1)
			return -KS_EINVAL;
		p->cwd = c->bell_fd[next];
		c->bell_fd[next++] = -1;	/* the call's now */
	}
	if (!(p->call.flags & KSD_F_KFDS))
		return 0;
	if (c->nbell_fd - next < 1)
		return -KS_EINVAL;
	p->tmpfd = obj_alloc((size_t)(c->nbell_fd - next) * sizeof(int));
	if (p->tmpfd == NULL)
		return -KS_ENOMEM;
	err = kfd_park_new(&c->bell_fd[next], (uint32_t)(c->nbell_fd - next),
			   &pk);
	if (err < 0)
		return err;
	/* The queue holds them now. */
	ksd__bell_fds_close(c);
	for (uint32_t i = 0; i < pk->n; i++) {
		struct ksp_file *f = ksp__file_new_parked(kfd_park_drop, pk);
		int fd;

		if (f == NULL) {
			err = -KS_ENOMEM;
			break;
		}
		pk->file[i] = f;
		pk->refs++;
		fd = ksp__fd_install(table(c), f, true, 0);
		ksp__file_put(f);
		if (fd < 0) {
			err = fd;
			break;
		}
		p->tmpfd[p->ntmp++] = fd;
	}
	kfd_park_put(pk);
	if (err < 0)
		return err;
	err = ksd__rights_each(ctl_area(c, p->slot), p->call.ctllen,
			       kfd_fill_one, &kf);
	if (err == 0 && kf.next != p->ntmp)
		err = -KS_EINVAL;
	return err;
}

/* Before and after a call made in the client's working directory.
 * Returns 0, or -errno (the call then fails with it). */
static int
cwd_enter(struct ksd_park *p)
{
	if (p->cwd < 0)
		return 0;
	server_cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (server_cwd < 0)
		return -errno;
	if (fchdir(p->cwd) < 0) {
		int err = -errno;

		close(server_cwd);
		server_cwd = -1;
		return err;
	}
	return 0;
}

static void
cwd_leave(struct ksd_park *p)
{
	if (server_cwd < 0)
		return;
	(void)fchdir(server_cwd);
	close(server_cwd);
	server_cwd = -1;
}

/* -- the calls -- */

/* accept or connect without waiting: O_NONBLOCK set for this one call
 * (no other thread can see it: ksockd.h). */
static int
accept_now(struct ks_sock *so, int flags, struct ks_sock **nso,
	   struct ks_sockaddr_storage *addr, uint32_t *len)
{
	bool nb = ks_is_nonblock(so);
	int err;

	ks_set_nonblock(so, true);
	err = ks_accept(so, flags, nso, addr, len);
	ks_set_nonblock(so, nb);
	return err;
}

static int
connect_now(struct ks_sock *so, const void *addr, uint32_t len)
{
	bool nb = ks_is_nonblock(so);
	int err;

	ks_set_nonblock(so, true);
	err = ksp__sys_connect(so, addr, len);
	ks_set_nonblock(so, nb);
	return err;
}

static long
do_accept(struct ksd_park *p, struct ks_sock *so, struct ksd_rep *rep)
{
	struct ksd_client *c = p->c;
	struct ks_sockaddr_storage addr;
	uint32_t len = sizeof(addr);
	struct ks_sock *nso;
	int err, fd;

	err = ksp__sys_accept_flags(p->call.a[0]);
	if (err < 0)
		return err;
	err = accept_now(so, p->call.a[0], &nso, &addr, &len);
	if (err == -KS_EAGAIN && !ks_is_nonblock(so))
		return KSD_AGAIN;
	if (err < 0)
		return err;
	fd = install_sock(c, nso, (p->call.a[0] & KS_SOCK_CLOEXEC) != 0);
	if (fd < 0)
		return fd;
	fd = place_fd(c, &p->call, fd, place_want(&p->call, 0),
		      (p->call.a[0] & KS_SOCK_CLOEXEC) != 0);
	rep->addrlen = len;
	memcpy(rep->inl, &addr, len < sizeof(addr) ? len : sizeof(addr));
	return fd;
}

/* -- SIGURG -- */

/* The socket whose id is @id in some client's table, held, or NULL. */
static struct ksp_file *
file_of_id(uint64_t id, struct ksd_client **holder)
{
	for (struct ksd_client *c = clients; c != NULL; c = c->next) {
		int cap;

		pthread_mutex_lock(&table(c)->lock);
		cap = table(c)->cap;
		pthread_mutex_unlock(&table(c)->lock);
		for (int fd = 0; fd < cap; fd++) {
			struct ksp_file *f;

			if (ksp__fd_get(table(c), fd, &f) < 0)
				continue;
			if (f->so != NULL && ks_sock_id(f->so) == id) {
				*holder = c;
				return f;
			}
			ksp__file_put(f);
		}
	}
	return NULL;
}

/* The real, effective and saved uids of process @pid (from /proc), or
 * -1 when it is gone. */
static int
proc_uids(int32_t pid, uint32_t uid[3])
{
	char path[64], buf[1024], *at;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	at = strstr(buf, "\nUid:");
	if (at == NULL || sscanf(at + 5, "%u %u %u", &uid[0], &uid[1],
				 &uid[2]) != 3)
		return -1;
	return 0;
}

/*
 * Linux's sigio_perm(): the owner's setter, of real uid @uid and
 * effective uid @euid, may signal @pid when its effective uid is root,
 * or its real or effective uid is the target's real or saved uid.
 */
static bool
setter_may_signal(uint32_t uid, uint32_t euid, int32_t pid)
{
	uint32_t u[3];

	if (proc_uids(pid, u) < 0)
		return false;
	return euid == 0 || euid == u[0] || euid == u[2] || uid == u[0] ||
	       uid == u[2];
}

/* -- O_ASYNC and the owner -- */

/*
 * F_SETOWN and O_ASYNC on the clients' sockets. An open file (struct
 * ksp_file: dup, fork and SCM_RIGHTS share it, as Linux's struct file)
 * whose owner was set or which has O_ASYNC gets a record: who set the
 * owner (its uids decide whom it may signal, as Linux's sigio_perm()
 * does with the setter's credentials), a pidfd of an owner process (a
 * pid reused after the owner exited is never signalled) and, while
 * O_ASYNC is on, a poll entry on the socket. The entry's wake callback
 * runs with ksock's locks held: it only notes the signal; the notes are
 * sent after the call that caused them ran, before its reply
 * (async_flush()), and a wake-up caused by a call on the socket itself
 * is no readiness change to signal (call_sock, as the in-process mode's
 * kp__async_self()).
 *
 * What goes: plain SIGIO with kill semantics (SI_USER, as Linux's
 * SI_KERNEL carries nothing either); F_SETSIG's signal queued with the
 * si_band and si_fd Linux gives, but si_code SI_QUEUE instead of
 * POLL_IN...: the kernel lets no process queue a positive si_code to
 * another, and the server is another process. A process group owner
 * gets kill(-pgrp) (SI_USER), after the check against its leader.
 *
 * A record holds a reference to the file's socket, not to the file
 * (which would count as a reference from outside for ksock's collector
 * of sockets in flight), and goes once the socket is closed: its file's
 * last reference is gone (async_flush() looks). The file is never
 * reached through a record, which keeps what it needs of it (F_SETSIG's
 * signal).
 */
#define KSD_O_ASYNC		020000
_Static_assert(KSD_O_ASYNC == O_ASYNC, "the protocol's O_ASYNC is Linux's");
#define KSD_SIGIO_QUEUE		64

struct ksd_async {
	struct ks_poll_entry pe;	/* [S] registered while armed */
	struct ks_sock	*so;		/* [S] held: the file's socket */
	bool		 armed;		/* [S] O_ASYNC on */
	int		 sig;		/* [S] F_SETSIG's, as in the file */
	atomic_bool	 nospace;	/* [S] a send found no room */
	int		 fd;		/* [S] si_fd: the number that set it */
	int32_t		 owner;		/* [S] F_SETOWN's pid, -pgrp or 0 */
	struct ksd_owner_fd *ownfd;	/* [S] an owner process's, or NULL */
	bool		 may_signal;	/* [S] set by a connected client */
	uint32_t	 uid, euid;	/* [S] the setter's */
	struct ksd_async *next;		/* [S] */
};

struct sigio_note {
	struct ksd_async *a;
	int		 code;		/* POLL_IN... */
	bool		 plain;		/* SIGIO whatever F_SETSIG says */
};

/* A pidfd of an owner process, shared by every record whose owner it
 * is: a program that owns all its sockets costs the server one
 * descriptor, not one per socket (which a client could spend the
 * server's RLIMIT_NOFILE with). */
struct ksd_owner_fd {
	int32_t		 pid;		/* [S] */
	int		 pidfd;		/* [S] */
	unsigned	 refs;		/* [S] records holding it */
	struct ksd_owner_fd *next;	/* [S] */
};

static struct ksd_async *asyncs;			/* [S] */
static struct ksd_owner_fd *owner_fds;			/* [S] */
static struct sigio_note sigio_queue[KSD_SIGIO_QUEUE];	/* [S] */
static unsigned sigio_queued;				/* [S] */
static struct ks_sock *call_sock;	/* [S] the socket of the call running */

/* The record of @f, or NULL. */
static struct ksd_async *
async_find(const struct ksp_file *f)
{
	struct ksd_async *a;

	for (a = asyncs; a != NULL && a->so != f->so; a = a->next)
		;
	return a;
}

/* Runs with ksock's locks held: notes the signal, sends nothing. */
static void
async_wake(struct ks_poll_entry *pe, unsigned events)
{
	struct ksd_async *a = pe->arg;
	bool plain = a->sig == 0;
	struct sigio_note *n;
	int code;

	if (a->so == call_sock)
		return;
	code = ksp_sigio_reason(events, &a->nospace);
	if (code == 0 || a->owner == 0)
		return;
	/* Plain SIGIO is not queued by the kernel either: one will do. */
	for (unsigned i = 0; plain && i < sigio_queued; i++)
		if (sigio_queue[i].a == a)
			return;
	if (sigio_queued == KSD_SIGIO_QUEUE) {
		/* As Linux when the real-time queue is full: SIGIO. */
		sigio_queue[KSD_SIGIO_QUEUE - 1].plain = true;
		return;
	}
	n = &sigio_queue[sigio_queued++];
	n->a = a;
	n->code = code;
	n->plain = plain;
}

/* A pidfd of process @pid, shared with the records that have one of the
 * same process (not of an earlier one that had its pid: a pidfd of an
 * exited process is readable). Returns it, or NULL (no such process, no
 * memory or descriptor: the record then signals by pid). */
static struct ksd_owner_fd *
owner_fd_get(int32_t pid)
{
	struct ksd_owner_fd *o;
	int fd;

	for (o = owner_fds; o != NULL; o = o->next) {
		struct pollfd pfd = { .fd = o->pidfd, .events = POLLIN };

		if (o->pid == pid && poll(&pfd, 1, 0) == 0) {
			o->refs++;
			return o;
		}
	}
	fd = (int)syscall(SYS_pidfd_open, (long)pid, 0L);
	if (fd < 0)
		return NULL;
	o = obj_alloc(sizeof(*o));
	if (o == NULL) {
		close(fd);
		return NULL;
	}
	o->pid = pid;
	o->pidfd = fd;
	o->refs = 1;
	o->next = owner_fds;
	owner_fds = o;
	return o;
}

/* A record lets go of @o (NULL: none); the last closes it. */
static void
owner_fd_put(struct ksd_owner_fd *o)
{
	struct ksd_owner_fd **op = &owner_fds;

	if (o == NULL || --o->refs > 0)
		return;
	while (*op != o)
		op = &(*op)->next;
	*op = o->next;
	close(o->pidfd);
	obj_free(o);
}

/* Sends one noted signal, when the setter may signal the owner. */
static void
sigio_send(const struct sigio_note *n)
{
	const struct ksd_async *a = n->a;
	int32_t pid = a->owner < 0 ? -a->owner : a->owner;
	int sig = n->plain ? SIGIO : a->sig;
	siginfo_t si;

	if (!a->may_signal || pid == (int32_t)getpid() ||
	    !setter_may_signal(a->uid, a->euid, pid))
		return;
	if (a->owner < 0) {
		kill(-pid, sig);
		return;
	}
	memset(&si, 0, sizeof(si));
	si.si_signo = sig;
	si.si_code = SI_QUEUE;
	si.si_band = ksp_sigio_band(n->code);
	si.si_fd = a->fd;
	if (a->ownfd != NULL)
		syscall(SYS_pidfd_send_signal, a->ownfd->pidfd, sig,
			n->plain ? NULL : &si, 0);
	else if (n->plain)
		kill(pid, sig);
	else
		syscall(SYS_rt_sigqueueinfo, (long)pid, (long)sig, &si);
}

/* Drops @a (its socket closed): no note of it stays queued. */
static void
async_free(struct ksd_async *a)
{
	unsigned k = 0;

	for (unsigned i = 0; i < sigio_queued; i++)
		if (sigio_queue[i].a != a)
			sigio_queue[k++] = sigio_queue[i];
	sigio_queued = k;
	if (a->armed)
		ks_poll_remove(&a->pe);
	owner_fd_put(a->ownfd);
	ks_sock_release(a->so);
	obj_free(a);
}

/*
 * Drops the records whose socket is closed, with whatever they had
 * noted (Linux takes a file off its fasync list when it is closed,
 * before the socket's release wakes anyone: a closed socket signals
 * nothing, not even the hang-up its own close caused), then sends the
 * noted signals; again while a drop let go of something.
 */
static void
async_flush(void)
{
	bool again = true;

	while (again) {
		struct ksd_async **ap, *a;

		again = false;
		for (ap = &asyncs; (a = *ap) != NULL;) {
			struct ks_diag_sock rec;

			memset(&rec, 0, sizeof(rec));
			if (ks_diag_sock(a->so, &rec) != -KS_ENOENT) {
				ap = &a->next;
				continue;
			}
			*ap = a->next;
			async_free(a);
			again = true;
		}
		while (sigio_queued > 0) {
			struct sigio_note n[KSD_SIGIO_QUEUE];
			unsigned count = sigio_queued;

			memcpy(n, sigio_queue, count * sizeof(n[0]));
			sigio_queued = 0;
			for (unsigned i = 0; i < count; i++)
				sigio_send(&n[i]);
		}
	}
}

/* The record of @f, made when there is none. Returns it, or NULL (no
 * memory). */
static struct ksd_async *
async_get(struct ksp_file *f)
{
	struct ksd_async *a = async_find(f);

	if (a != NULL)
		return a;
	a = obj_alloc(sizeof(*a));
	if (a == NULL)
		return NULL;
	memset(a, 0, sizeof(*a));
	a->pe.wake = async_wake;
	a->pe.arg = a;
	a->so = f->so;
	ks_sock_hold(a->so);
	a->sig = atomic_load(&f->sig);
	atomic_init(&a->nospace, false);
	a->next = asyncs;
	asyncs = a;
	return a;
}

/* F_SETOWN by @c on @f: @who, a pid or -pgrp, that exists (ESRCH). */
static long
async_setown(struct ksd_client *c, struct ksp_file *f, long who)
{
	struct ksd_async *a = async_get(f);
	long r;

	if (a == NULL)
		return -KS_ENOMEM;
	r = ksp__sys_setown(f->so, who);
	if (r < 0)
		return r;
	owner_fd_put(a->ownfd);
	a->ownfd = NULL;
	a->owner = (int32_t)who;
	a->uid = c->proc.uid;
	a->euid = c->proc.euid;
	/* A client with no connection is the fuzz target's, whose made-up
	 * processes must not signal real ones. */
	a->may_signal = c->sock >= 0;
	if (a->may_signal && who > 0)
		a->ownfd = owner_fd_get((int32_t)who);
	return 0;
}

/* O_ASYNC on or off for @f, turned on through the number @fd (si_fd,
 * as Linux's fasync_helper() keeps it). Returns 0 or -KS_ENOMEM. */
static long
async_set(struct ksp_file *f, int fd, bool on)
{
	struct ksd_async *a = on ? async_get(f) : async_find(f);

	if (on && a == NULL)
		return -KS_ENOMEM;
	if (on) {
		a->fd = fd;
		if (!a->armed)
			(void)ks_poll(f->so, &a->pe);
		a->armed = true;
		atomic_fetch_or(&f->fl, (unsigned)KSD_O_ASYNC);
	} else {
		if (a != NULL && a->armed)
			ks_poll_remove(&a->pe);
		if (a != NULL)
			a->armed = false;
		atomic_fetch_and(&f->fl, ~(unsigned)KSD_O_ASYNC);
	}
	return 0;
}

/* F_SETSIG on @f: 0 (SIGIO) to the kernel's _NSIG. */
static long
async_setsig(struct ksp_file *f, int sig)
{
	struct ksd_async *a = async_find(f);

	if (sig < 0 || sig > KSP_NSIG)
		return -KS_EINVAL;
	atomic_store(&f->sig, sig);
	if (a != NULL)
		a->sig = sig;
	return 0;
}

/*
 * A send on @f found no room: Linux then signals POLL_OUT when room
 * comes back. The entry is registered again for the socket's state now,
 * which for a datagram socket includes its full peer.
 */
static void
async_nospace(struct ksp_file *f)
{
	struct ksd_async *a = async_find(f);

	if (a == NULL || !a->armed)
		return;
	atomic_store(&a->nospace, true);
	(void)ks_poll(f->so, &a->pe);
}

/*
 * Out-of-band data went from @so: its peer's owner (F_SETOWN) gets
 * SIGURG, as Linux's sk_send_sigurg(). ksock asks the port to signal
 * the owner, but the server's port knows only its own process; the
 * owners here are the clients' real processes, signalled with kill()
 * (a pidfd for a process) after the permission check with the uids of
 * the owner's setter. A process group owner is checked against its
 * leader.
 */
static void
urg_signal(struct ks_sock *so)
{
	struct ks_diag_sock rec;
	struct ksd_client *holder = NULL;
	struct ksd_async *a;
	struct ksp_file *f;
	int32_t pid;

	memset(&rec, 0, sizeof(rec));
	if (ks_diag_sock(so, &rec) < 0 || rec.peer_id == 0)
		return;
	f = file_of_id(rec.peer_id, &holder);
	if (f == NULL)
		return;
	a = async_find(f);
	ksp__file_put(f);
	/* F_SETOWN made the record; the owner is ksock's, which only it
	 * sets. */
	if (a == NULL || a->owner == 0 || a->owner == INT32_MIN)
		return;
	pid = a->owner < 0 ? -a->owner : a->owner;
	if (!a->may_signal || pid == (int32_t)getpid() ||
	    !setter_may_signal(a->uid, a->euid, pid))
		return;
	if (a->owner > 0 && a->ownfd != NULL)
		syscall(SYS_pidfd_send_signal, a->ownfd->pidfd, SIGURG, NULL,
			0);
	else
		kill(a->owner, SIGURG);
}

/*
 * Whether ksock sent SIGPIPE for the send that just failed, taking it:
 * ksock decides as Linux does (not for every EPIPE: a seqpacket whose
 * peer closed gets none), and signals the calling thread, the server's,
 * where SIGPIPE is blocked (main.c) and so waits to be taken here. The
 * client raises it in its own thread.
 */
static bool
sigpipe_taken(void)
{
	struct timespec zero = { 0, 0 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	return sigtimedwait(&set, NULL, &zero) == SIGPIPE;
}

/* Whether @so's sending side is shut (our SHUT_WR, or the peer's
 * SHUT_RD or close): poll reports no such thing, yet a send waiting for
 * room must hear of it. */
static bool
send_shut(struct ks_sock *so)
{
	struct ks_diag_sock d = { 0 };

	return ks_diag_sock(so, &d) == 0 && (d.shutdown & KS_DIAG_SHUT_WR);
}

/*
 * A stream send that was parked looks again as Linux's waiting sender
 * does after its wake-up (sock_alloc_send_pskb's loop), not as a new
 * call: the pending error first (consumed; ECONNRESET when the peer
 * closed with our data unread), where a new call would report the
 * shutdown (EPIPE). Returns the error, or 0 to run the send.
 */
static long
send_resumed_error(struct ks_sock *so)
{
	int err = 0;
	uint32_t len = sizeof(err);

	if (ks_sock_type(so) != KS_SOCK_STREAM)
		return 0;
	if (ks_getsockopt(so, KS_SOL_SOCKET, KS_SO_ERROR, &err, &len) < 0)
		return 0;
	return -(long)err;
}

static long direct_iov(const struct ksd_park *p, struct ks_iovec *iov,
		       uint64_t *probe);
static bool direct_allowed(struct ksd_client *c, uint64_t probe);
static int direct_alive(const struct ksd_client *c);

/* send_direct(): the client may not be read (rep->val[3] says so). */
#define KSD_SEND_REFUSED	(-0x7ffe)

/*
 * KSD_F_DIRECT sendmsg: @m's data read straight from the client's own
 * buffers that the window lists (from byte p->done of them on), with
 * process_vm_readv() as a kernel's copy_from_user(), so a large send
 * costs one copy, as a kernel's, and a bad buffer fails inside ksock's
 * send as in Linux's (a stream keeps what went before the fault). The
 * same guards as a direct receive: asked once whether the client may be
 * read, its connection still open before each call (its pid its own).
 * A datagram or record that long is EMSGSIZE, as the library says for
 * one past a window: a receive through the window could not take it.
 * Returns ks_sendmsg()'s result; -KS_EMSGSIZE; -KS_EFAULT for a bad
 * list, or a refusal after parts went (val[3] KSD_DIRECT_REFUSED);
 * -KS_ESRCH when the client has gone; or KSD_SEND_REFUSED with val[3]
 * KSD_DIRECT_REFUSED when nothing went and the client cannot be read
 * (it then sends through the window).
 */
static long
send_direct(struct ksd_park *p, struct ks_sock *so, struct ks_msghdr *m,
	    int flags, struct ksd_rep *rep)
{
	struct ks_iovec iov[KSD_DIRECT_SEGS];
	uint64_t probe;
	long n;
	int err;

	if (ks_sock_type(so) != KS_SOCK_STREAM &&
	    p->call.datalen > KSD_DATA_MAX)
		return -KS_EMSGSIZE;
	n = direct_iov(p, iov, &probe);
	if (n < 0)
		return n;
	/* Gone first, as for a receive: the probe of a pid that is not
	 * the client's could allow what the client may not. */
	err = direct_alive(p->c);
	if (err == -KS_EOPNOTSUPP)
		p->c->direct = -1;
	else if (err < 0)
		return err;
	if (!direct_allowed(p->c, probe)) {
		rep->val[3] = KSD_DIRECT_REFUSED;
		return p->done > 0 ? -KS_EFAULT : KSD_SEND_REFUSED;
	}
	m->msg_iov = iov;
	m->msg_iovlen = (size_t)n;
	ksp__user_remote(p->c->proc.pid);
	n = ks_sendmsg(so, m, flags | KS_MSG_DONTWAIT);
	/* A client that became unreachable since it was asked: whatever
	 * went before stays sent, the rest goes through the window. */
	if (ksp__user_remote_end()) {
		p->c->direct = -1;
		rep->val[3] = KSD_DIRECT_REFUSED;
		if (n == -KS_EFAULT && p->done == 0)
			return KSD_SEND_REFUSED;
	}
	return n;
}

/*
 * sendmsg: the data from the window (or the request's inline bytes, or
 * with KSD_F_DIRECT the client's own buffers: send_direct()), the
 * control messages from the window. A blocking send waits until
 * all of it went, as Linux's stream send does; control goes with the
 * first part only. @first: not parked yet (see send_resumed_error()).
 */
static long
do_sendmsg(struct ksd_park *p, struct ks_sock *so, struct ksd_rep *rep,
	   bool first)
{
	struct ksd_call *k = &p->call;
	struct ks_sockaddr_storage name;
	unsigned char *data;
	struct ks_iovec iov;
	struct ks_msghdr m = { 0 };
	uint32_t alen = k->addrlen;
	long n;
	int flags = k->a[0];

	data = (k->flags & KSD_F_DATA_INLINE) ? k->inl + alen :
	       window(p->c, p->slot);
	if (alen > 0) {
		int err = ksp__addr_in(k->inl, alen, &name);

		if (err < 0)
			return err;
		m.msg_name = &name;
		m.msg_namelen = alen;
	}
	/* KSD_F_DIRECT: send_direct() lists the client's buffers. */
	if (!(k->flags & KSD_F_DIRECT)) {
		iov.iov_base = data + p->done;
		iov.iov_len = k->datalen - p->done;
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
	}
	if (p->done == 0 && k->ctllen > 0) {
		m.msg_control = ctl_area(p->c, p->slot);
		m.msg_controllen = k->ctllen;
	}
	n = first ? 0 : send_resumed_error(so);
	if (n < 0)
		return p->done > 0 ? (long)p->done : n;
	if (k->flags & KSD_F_DIRECT)
		n = send_direct(p, so, &m, flags, rep);
	else
		n = ks_sendmsg(so, &m, flags | KS_MSG_DONTWAIT);
	if (n == KSD_SEND_REFUSED)
		return -KS_EOPNOTSUPP;
	if (n > 0 && (flags & KS_MSG_OOB))
		urg_signal(so);
	if (n == -KS_EAGAIN && may_block(so, flags))
		return p->done > 0 ? (long)p->done : KSD_AGAIN;
	if (n < 0) {
		/* Taken in any case: it must not stay pending. A send
		 * that moved bytes raises none on Linux, nor a unix send
		 * that waited and finds the pipe broken; TCP's does. */
		if (n == -KS_EPIPE && sigpipe_taken() && p->done == 0 &&
		    (first || ks_sock_family(so) != KS_AF_UNIX))
			rep->val[1] = 1;	/* the client raises SIGPIPE */
		/* A connected datagram send whose dead peer another
		 * sender dropped first: Linux's waiting sender keeps the
		 * peer it waited on, never looks it up again, and says
		 * ECONNRESET where a new call finds no peer. */
		if (n == -KS_ENOTCONN && !first && alen == 0 &&
		    ks_sock_type(so) == KS_SOCK_DGRAM)
			n = -KS_ECONNRESET;
		return p->done > 0 ? (long)p->done : n;
	}
	p->done += (size_t)n;
	if (p->done < k->datalen && may_block(so, flags) &&
	    ks_sock_type(so) == KS_SOCK_STREAM)
		return KSD_AGAIN;
	return (long)p->done;
}

/* KSD_F_KFDS: a delivered kernel descriptor's number becomes -1. */
static int
kfd_mark_one(unsigned char *num, void *arg)
{
	int32_t v, want = *(const int32_t *)arg, none = -1;

	memcpy(&v, num, sizeof(v));
	if (v == want)
		memcpy(num, &none, sizeof(none));
	return 0;
}

/* A received message's kernel descriptors, on their way to the client. */
struct kfd_out {
	struct ksd_client *c;
	int		 host[KSD_BELL_FDS];	/* their kernel descriptors */
	int32_t		 num[KSD_BELL_FDS];	/* their places in the table */
	uint32_t	 n;
};

static int
kfd_find_one(unsigned char *num, void *arg)
{
	struct kfd_out *ko = arg;
	struct ksp_file *f;
	int32_t v;

	memcpy(&v, num, sizeof(v));
	if (ksp__fd_get(table(ko->c), v, &f) < 0)
		return 0;
	if (f->so == NULL && ko->n < KSD_BELL_FDS) {
		kfd_park_fetch(f);
		ko->host[ko->n] = f->hostfd;	/* -1: lost (kfds_deliver) */
		ko->num[ko->n++] = v;
	}
	ksp__file_put(f);
	return 0;
}

/* Drops the numbers of the kernel descriptors from the SCM_RIGHTS
 * message (the last of the control messages, as Linux writes them) when
 * they could not be delivered, as Linux leaves out what it could not
 * install. Returns the new control length. */
static uint32_t
kfd_strip(unsigned char *ctl, uint32_t len, const struct kfd_out *ko)
{
	struct msghdr m = { .msg_control = ctl, .msg_controllen = len };
	struct cmsghdr *cm, *last = NULL;
	size_t n, kept = 0;

	for (cm = CMSG_FIRSTHDR(&m); cm != NULL; cm = CMSG_NXTHDR(&m, cm)) {
		if (cm->cmsg_len < CMSG_LEN(0) ||
		    cm->cmsg_len > len - (size_t)((unsigned char *)cm - ctl))
			break;
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			last = cm;
	}
	if (last == NULL)
		return len;
	n = (last->cmsg_len - CMSG_LEN(0)) / sizeof(int32_t);
	for (size_t i = 0; i < n; i++) {
		int32_t v;
		bool kernel = false;

		memcpy(&v, CMSG_DATA(last) + i * sizeof(v), sizeof(v));
		for (uint32_t j = 0; j < ko->n; j++)
			kernel |= ko->num[j] == v;
		if (!kernel)
			memcpy(CMSG_DATA(last) + kept++ * sizeof(v), &v,
			       sizeof(v));
	}
	if (kept == 0)
		return (uint32_t)((unsigned char *)last - ctl);
	last->cmsg_len = CMSG_LEN(kept * sizeof(int32_t));
	len = (uint32_t)((unsigned char *)last - ctl + CMSG_SPACE(kept *
							       sizeof(int32_t)));
	return len < m.msg_controllen ? len : (uint32_t)m.msg_controllen;
}

/*
 * After a receive: the kernel descriptors among the SCM_RIGHTS numbers
 * go to the client in one message on the slot's notifier (before the
 * reply, so they are there when it reads the reply), leave the table,
 * and their numbers become -1 for the library to fill in order;
 * rep->val[2] says how many. When they cannot go (no notifier, a full
 * queue) they are closed, left out of the message, and MSG_CTRUNC is
 * set.
 */
/* Sends @n kernel descriptors @fds (at most KSD_BELL_FDS) to @c on
 * @slot's notifier, in one message. Returns whether they went. */
static bool
notify_fds(struct ksd_client *c, uint32_t slot, const int *fds, uint32_t n)
{
	union {
		struct cmsghdr	h;
		char		buf[CMSG_SPACE(KSD_BELL_FDS * sizeof(int))];
	} u;
	char tag = 'F';
	struct iovec iov = { &tag, 1 };
	struct msghdr out = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = u.buf };

	if (c->notify[slot] < 0)
		return false;
	memset(&u, 0, sizeof(u));
	out.msg_controllen = CMSG_SPACE(n * sizeof(int));
	CMSG_FIRSTHDR(&out)->cmsg_level = SOL_SOCKET;
	CMSG_FIRSTHDR(&out)->cmsg_type = SCM_RIGHTS;
	CMSG_FIRSTHDR(&out)->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(CMSG_FIRSTHDR(&out)), fds, n * sizeof(int));
	return sendmsg(c->notify[slot], &out, MSG_DONTWAIT | MSG_NOSIGNAL) == 1;
}

static void
kfds_deliver(struct ksd_park *p, struct ks_msghdr *m, struct ksd_rep *rep)
{
	static struct kfd_out ko;	/* [S] */
	static int host[KSD_BELL_FDS];	/* [S] the ones that go */
	unsigned char *ctl = ctl_area(p->c, p->slot);
	uint32_t len = (uint32_t)m->msg_controllen;
	uint32_t nhost = 0;

	ko.c = p->c;
	ko.n = 0;
	ksd__recv_fds_each(ctl, len, kfd_find_one, &ko);
	if (ko.n == 0)
		return;
	for (uint32_t i = 0; i < ko.n; i++)
		if (ko.host[i] >= 0)
			host[nhost++] = ko.host[i];
	if (nhost > 0 && notify_fds(p->c, p->slot, host, nhost)) {
		for (uint32_t i = 0; i < ko.n; i++)
			if (ko.host[i] >= 0)
				ksd__recv_fds_each(ctl, len, kfd_mark_one,
						   &ko.num[i]);
		rep->val[2] = (int32_t)nhost;
		/* A parked descriptor the server could not take out of
		 * its queue is left out, as Linux leaves out what it
		 * cannot install (the delivered ones' numbers are -1
		 * now: only the lost ones match). */
		if (nhost < ko.n) {
			m->msg_controllen = kfd_strip(ctl, len, &ko);
			m->msg_flags |= KS_MSG_CTRUNC;
		}
	} else {
		m->msg_controllen = kfd_strip(ctl, len, &ko);
		m->msg_flags |= KS_MSG_CTRUNC;
	}
	for (uint32_t i = 0; i < ko.n; i++)
		ksp__fd_close(table(p->c), ko.num[i]);
}

/*
 * SO_PEERPIDFD: the pidfd the port made (a kernel descriptor of ours,
 * in the client's table at the number in the window) goes to the client
 * on the slot's notifier and leaves the table; rep->val[2] = 1 tells the
 * library to put it in the number's place. Returns 0, or -KS_EMFILE
 * when it cannot go (as Linux fails when it cannot install one).
 */
static long
pidfd_deliver(struct ksd_park *p, struct ksd_rep *rep)
{
	unsigned char *win = window(p->c, p->slot);
	struct ksp_file *f;
	int32_t v, none = -1;
	bool sent = false;

	memcpy(&v, win, sizeof(v));
	if (ksp__fd_get(table(p->c), v, &f) < 0)
		return -KS_EMFILE;
	if (f->so == NULL)
		sent = notify_fds(p->c, p->slot, &f->hostfd, 1);
	ksp__file_put(f);
	ksp__fd_close(table(p->c), v);
	if (!sent)
		return -KS_EMFILE;
	memcpy(win, &none, sizeof(none));
	rep->val[2] = 1;
	return 0;
}

_Static_assert(KSD_DIRECT_SEGS * sizeof(struct ksd_iov) <= KSD_DATA_MAX,
	       "a direct receive's list fits the window");

/*
 * KSD_F_DIRECT: whether the server may write @c's memory. Asked once
 * per client, at its first direct receive with a buffer (@probe, an
 * address of the client's; 0: none, nothing to copy): a one-byte read at
 * @probe, which the kernel refuses (EPERM: another uid, a client that is
 * not dumpable, a server without CAP_SYS_PTRACE then; ENOSYS) before it
 * looks at the address, and fails with EFAULT only once it has allowed
 * the access. A client that is this process (the decoder fuzzer's) or
 * has no connection is refused.
 */
static bool
direct_allowed(struct ksd_client *c, uint64_t probe)
{
	struct iovec l, r;
	char b;

	if (c->direct != 0 || probe == 0)
		return c->direct >= 0;
	c->direct = -1;
	if (c->sock < 0 || c->proc.pid == getpid())
		return false;
	l = (struct iovec){ &b, 1 };
	r = (struct iovec){ (void *)(uintptr_t)probe, 1 };
	if (process_vm_readv(c->proc.pid, &l, 1, &r, 1, 0) == 1 ||
	    errno == EFAULT)
		c->direct = 1;
	return c->direct > 0;
}

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD	77
#endif

/*
 * Whether @c's pid is still its own: the process that connected has not
 * exited (the pidfd the kernel gives for the connection, pinned at
 * connect, is not readable), and its end of the bootstrap connection is
 * open. The connection alone would not do: a process may hand it to
 * another (SCM_RIGHTS, a fork without the library) and exit, and its
 * pid be reused while the other holds it. Asked at each direct copy
 * (one descriptor for a moment, not one per client held): microseconds
 * on this thread. Returns 0, -KS_ESRCH (gone), -KS_EOPNOTSUPP (a kernel
 * without SO_PEERPIDFD: never direct) or -KS_ENOMEM (no descriptor).
 */
static int
direct_alive(const struct ksd_client *c)
{
	struct pollfd pfd[2] = {
		{ .fd = c->sock, .events = POLLRDHUP },
		{ .fd = -1, .events = POLLIN },
	};
	socklen_t len = sizeof(pfd[1].fd);
	int n;

	if (c->sock < 0)
		return 0;	/* the fuzz target's: direct_allowed() says */
	if (getsockopt(c->sock, SOL_SOCKET, SO_PEERPIDFD, &pfd[1].fd,
		       &len) < 0)
		return errno == ESRCH ? -KS_ESRCH :
		       errno == ENOPROTOOPT || errno == EINVAL ?
		       -KS_EOPNOTSUPP : -KS_ENOMEM;
	n = poll(pfd, 2, 0);
	close(pfd[1].fd);
	return n == 0 ? 0 : -KS_ESRCH;
}

/*
 * KSD_F_DIRECT: the client's buffers that @p's window lists, from byte
 * p->done of them on, as KSP_REMOTE_BIT addresses into @iov (room for
 * KSD_DIRECT_SEGS), at most datalen bytes in all. Each range is checked
 * as import_iovec() checks it (the library did, but the list is the
 * client's to rewrite). Returns how many, or -KS_EFAULT.
 */
static long
direct_iov(const struct ksd_park *p, struct ks_iovec *iov, uint64_t *probe)
{
	const struct ksd_call *k = &p->call;
	const unsigned char *w = window(p->c, p->slot);
	size_t skip = p->done, room = k->datalen - p->done;
	long n = 0;

	*probe = 0;
	for (int32_t i = 0; i < k->a[1] && room > 0; i++) {
		struct ksd_iov seg;

		memcpy(&seg, w + (size_t)i * sizeof(seg), sizeof(seg));
		if (seg.len > KSP_RW_MAX ||
		    !ksp__user_range_ok((void *)(uintptr_t)seg.base,
					(size_t)seg.len))
			return -KS_EFAULT;
		if (skip >= seg.len) {
			skip -= (size_t)seg.len;
			continue;
		}
		seg.base += skip;
		seg.len -= skip;
		skip = 0;
		if (seg.len > room)
			seg.len = room;
		if (*probe == 0)
			*probe = seg.base;
		iov[n].iov_base = (void *)((uintptr_t)seg.base | KSP_REMOTE_BIT);
		iov[n].iov_len = (size_t)seg.len;
		room -= (size_t)seg.len;
		n++;
	}
	return n;
}

/* recvmsg into the window, or (KSD_F_DIRECT) straight into the client's
 * buffers; the address inline, control in the window. */
static long
do_recvmsg(struct ksd_park *p, struct ks_sock *so, struct ksd_rep *rep)
{
	struct ksd_call *k = &p->call;
	struct ks_sockaddr_storage name;
	struct ks_iovec iov[KSD_DIRECT_SEGS];
	struct ks_msghdr m = { 0 };
	bool direct = (k->flags & KSD_F_DIRECT) != 0;
	int flags = k->a[0], err;
	uint64_t probe;
	long n;

	if (direct) {
		n = direct_iov(p, iov, &probe);
		if (n < 0)
			return p->done > 0 ? (long)p->done : n;
		/* Gone first: the probe of a pid that is not the client's
		 * could allow what the client may not. */
		err = direct_alive(p->c);
		if (err == -KS_EOPNOTSUPP)
			p->c->direct = -1;
		else if (err < 0)
			return err;
		if (!direct_allowed(p->c, probe)) {
			rep->val[3] = KSD_DIRECT_REFUSED;
			return -KS_EOPNOTSUPP;
		}
		m.msg_iovlen = (size_t)n;
	} else {
		iov[0].iov_base = window(p->c, p->slot) + p->done;
		iov[0].iov_len = k->datalen - p->done;
		m.msg_iovlen = 1;
	}
	m.msg_iov = iov;
	if (k->addrlen > 0) {
		m.msg_name = &name;
		m.msg_namelen = sizeof(name);
	}
	if (k->ctllen > 0 && p->done == 0) {
		m.msg_control = ctl_area(p->c, p->slot);
		m.msg_controllen = k->ctllen;
	}
	ksp__user_remote(direct ? p->c->proc.pid : 0);
	n = ks_recvmsg(so, &m, (flags & ~KS_MSG_WAITALL) | KS_MSG_DONTWAIT);
	/* A client that became unreachable since it was asked (it made
	 * itself not dumpable): the stream's data stayed queued, and the
	 * library takes it through the window. */
	if (ksp__user_remote_end() && n == -KS_EFAULT) {
		p->c->direct = -1;
		if (p->done > 0)
			return (long)p->done;
		rep->val[3] = KSD_DIRECT_REFUSED;
		return -KS_EOPNOTSUPP;
	}
	/* A blocking receive on a socket shut for reading ends with 0,
	 * where a non-blocking one says EAGAIN (Linux's datagram receive
	 * looks at the shutdown only before it would sleep). */
	if (n == -KS_EAGAIN && may_block(so, flags) &&
	    (ks_poll(so, NULL) & KS_POLLRDHUP))
		n = 0;
	if (n == -KS_EAGAIN && may_block(so, flags))
		return p->done > 0 && !(flags & KS_MSG_WAITALL) ?
		       (long)p->done : KSD_AGAIN;
	if (n < 0)
		return p->done > 0 ? (long)p->done : n;
	if (p->done == 0) {
		if (m.msg_controllen > 0)
			kfds_deliver(p, &m, rep);
		rep->val[0] = m.msg_flags;
		rep->ctllen = (uint32_t)m.msg_controllen;
		if (k->addrlen > 0) {
			rep->addrlen = m.msg_namelen;
			memcpy(rep->inl, &name, m.msg_namelen < sizeof(name) ?
			       m.msg_namelen : sizeof(name));
		}
	}
	p->done += (size_t)n;
	/* MSG_WAITALL on a stream: on until the buffer is full, the peer
	 * is gone (0), or a message with control data ends the read. */
	if ((flags & KS_MSG_WAITALL) && n > 0 && p->done < k->datalen &&
	    may_block(so, flags) && ks_sock_type(so) == KS_SOCK_STREAM &&
	    !(flags & KS_MSG_PEEK))
		return KSD_AGAIN;
	return (long)p->done;
}

/* fcntl's file flags and descriptor flags. */
#define KSD_O_RDWR	2
#define KSD_O_NONBLOCK	04000

static long
do_fcntl(struct ksd_client *c, struct ksp_file *f, const struct ksd_call *k,
	 struct ksd_rep *rep)
{
	struct ks_sock *so = f->so;

	switch (k->a[0]) {
	case F_GETFL:
		return KSD_O_RDWR | (ks_is_nonblock(so) ? KSD_O_NONBLOCK : 0) |
		       (atomic_load(&f->fl) & KSD_O_ASYNC);
	case F_SETFL:
		ks_set_nonblock(so, (k->a[1] & KSD_O_NONBLOCK) != 0);
		return async_set(f, k->fd, (k->a[1] & KSD_O_ASYNC) != 0);
	case F_GETSIG:
		return atomic_load(&f->sig);
	case F_SETSIG:
		return async_setsig(f, k->a[1]);
	case F_GETFD:
		return ksp__fd_get_cloexec(table(c), k->fd);
	case F_SETFD:
		return ksp__fd_set_cloexec(table(c), k->fd,
					   (k->a[1] & FD_CLOEXEC) != 0);
	case F_SETOWN:
		return async_setown(c, f, k->a[1]);
	case F_GETOWN:
		/* A process group owner is negative, and no error: val[0]
		 * has it too, val[1] 1 says so. */
		rep->val[0] = ks_get_owner(so);
		rep->val[1] = 1;
		return ks_get_owner(so);
	}
	return -KS_EINVAL;
}

static long
do_ioctl(struct ks_sock *so, const struct ksd_call *k, struct ksd_rep *rep)
{
	int v = k->a[1];
	int err;

	err = ks_ioctl(so, (unsigned long)(uint32_t)k->a[0], &v);
	rep->val[0] = v;
	return err;
}

/* -- poll -- */

static void park_wake(struct ks_poll_entry *pe, unsigned events);

/* Polls every entry of a KSD_POLL call, registering the poll entries
 * on the first pass. Returns how many entries have events. */
static long
poll_scan(struct ksd_park *p)
{
	struct ksd_pollfd *pfd = (struct ksd_pollfd *)(void *)
				 window(p->c, p->slot);
	long ready = 0;

	for (uint32_t i = 0; i < p->npoll; i++) {
		struct ksd_pollfd e;
		unsigned ev;

		memcpy(&e, &pfd[i], sizeof(e));
		if (e.fd < 0) {
			ev = 0;
		} else if (p->pfile[i] == NULL) {
			ev = KS_POLLNVAL;
		} else {
			ev = ks_poll(p->pfile[i]->so, &p->ppe[i]);
			ev &= (unsigned)(uint16_t)e.events | KS_POLLERR |
			      KS_POLLHUP | KS_POLLNVAL;
		}
		e.revents = (int16_t)ev;
		memcpy(&pfd[i], &e, sizeof(e));
		if (ev != 0)
			ready++;
	}
	return ready;
}

/* Sets up a KSD_POLL call: the descriptors looked up once, as Linux's
 * poll takes each file for the length of the call. */
static long
poll_start(struct ksd_park *p)
{
	struct ksd_pollfd *pfd = (struct ksd_pollfd *)(void *)
				 window(p->c, p->slot);
	uint32_t n = (uint32_t)p->call.a[0];

	if (n == 0)
		return 0;
	p->pfile = obj_alloc(n * sizeof(*p->pfile));
	p->ppe = obj_alloc(n * sizeof(*p->ppe));
	if (p->pfile == NULL || p->ppe == NULL)
		return -KS_ENOMEM;
	p->npoll = n;
	for (uint32_t i = 0; i < n; i++) {
		int32_t fd;

		memcpy(&fd, &pfd[i].fd, sizeof(fd));
		p->ppe[i].wake = park_wake;
		p->ppe[i].arg = p;
		if (fd >= 0 && get_sock(p->c, fd, &p->pfile[i]) < 0)
			p->pfile[i] = NULL;
	}
	return 0;
}

static long
do_poll(struct ksd_park *p, bool first)
{
	long n;

	if (first) {
		n = poll_start(p);
		if (n < 0)
			return n;
		if (p->call.a[1] > 0)
			p->deadline = ksp__now() +
				      (int64_t)p->call.a[1] * 1000000;
	}
	n = poll_scan(p);
	if (n > 0 || p->call.a[1] == 0)
		return n;
	if (p->deadline >= 0 && ksp__now() >= p->deadline)
		return 0;
	return KSD_AGAIN;
}

/* -- watches (KSD_WATCH) -- */

/* One entry of a watch: its poll entry on a socket. The entry holds no
 * file, so a socket its client closes closes (and its close wakes the
 * watch, whose client then finds the number gone). */
struct ksd_watchent {
	struct ks_poll_entry pe;
	struct ksd_watch *w;			/* [S] */
	bool		 registered;		/* [S] pe is on a socket */
};

/* A persistent poll of some of a client's sockets, for one epoll
 * instance of the client's (proto.h, KSD_WATCH). */
struct ksd_watch {
	struct ksd_client *c;			/* [I] */
	int32_t		 id;			/* [I] */
	int		 sock;			/* [I] the server's end */
	bool		 armed;			/* [S] a wake-up rings */
	struct ksd_watchent *ent;		/* [S] cap entries */
	uint32_t	 cap;			/* [S] */
	struct ksd_watch *next;			/* [S] the client's */
};

static long nwatches;			/* [S] of all clients */

/* One byte on @w's socket, the client's cue to look. Never waits: a
 * client that does not read its end only fills its own queue, and the
 * bytes already there say the same. */
static void
watch_ring(struct ksd_watch *w)
{
	static const char one = 1;

	w->armed = false;
	(void)send(w->sock, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* A watched socket's wake callback: runs under ksock's locks, so it
 * touches nothing of ksock's; the kernel socket is the server's own. */
static void
watch_wake(struct ks_poll_entry *pe, unsigned events)
{
	struct ksd_watchent *e = pe->arg;

	if (e->w->armed)
		watch_ring(e->w);
}

/* Takes @w's entries off their sockets. */
static void
watch_unregister(struct ksd_watch *w)
{
	for (uint32_t i = 0; i < w->cap; i++) {
		if (w->ent[i].registered)
			ks_poll_remove(&w->ent[i].pe);
		w->ent[i].registered = false;
	}
	w->armed = false;
}

/* Ends @w: off its client's list, its entries and socket gone. */
static void
watch_free(struct ksd_watch *w)
{
	struct ksd_watch **pp = &w->c->watches;

	while (*pp != w)
		pp = &(*pp)->next;
	*pp = w->next;
	w->c->nwatches--;
	nwatches--;
	watch_unregister(w);
	close(w->sock);
	obj_free(w->ent);
	obj_free(w);
}

static struct ksd_watch *
watch_find(struct ksd_client *c, int32_t id)
{
	struct ksd_watch *w;

	for (w = c->watches; w != NULL && w->id != id; w = w->next)
		;
	return w;
}

/* A new watch @id of @c, its socket's end sent to the client. Returns 0
 * or -errno: EEXIST, EMFILE (KSD_WATCH_MAX), ENOMEM, ENOTCONN. */
static long
watch_new(struct ksd_client *c, int32_t id, struct ksd_watch **out)
{
	struct ksd_watch *w;
	int fd;

	if (watch_find(c, id) != NULL)
		return -KS_EEXIST;
	if (c->nwatches >= KSD_WATCH_MAX)
		return -KS_EMFILE;
	w = obj_alloc(sizeof(*w));
	if (w == NULL)
		return -KS_ENOMEM;
	fd = pair_to_client(c);
	if (fd < 0) {
		obj_free(w);
		return fd;
	}
	w->c = c;
	w->id = id;
	w->sock = fd;
	w->next = c->watches;
	c->watches = w;
	c->nwatches++;
	nwatches++;
	*out = w;
	return 0;
}

/* Room for @n entries in @w (unregistered). Returns 0 or -KS_ENOMEM. */
static long
watch_room(struct ksd_watch *w, uint32_t n)
{
	struct ksd_watchent *ent;

	if (n <= w->cap)
		return 0;
	ent = obj_alloc(n * sizeof(*ent));
	if (ent == NULL)
		return -KS_ENOMEM;
	obj_free(w->ent);
	w->ent = ent;
	w->cap = n;
	return 0;
}

/* What a watch's request asks for, and what it found. */
struct watch_look {
	uint32_t	report;		/* ready entries to report; 0: none */
	uint32_t	reported;
	bool		remain;		/* one stays ready, unreported */
};

/*
 * Looks at entry @e (the window's copy) of @w and registers @we on its
 * socket: e->revents says what is reported, and a report moves an
 * edge-triggered entry's last and inq on (as Linux's ep_send_events
 * takes an edge item off the ready list). An entry left ready after the
 * report (level-triggered, or past the count asked for) sets remain.
 */
static void
watch_look_one(struct ksd_watch *w, struct ksd_watchent *we,
	       struct ksd_watchfd *e, struct watch_look *lk)
{
	struct ksp_file *f;
	unsigned mask;
	int32_t inq = 0;
	bool ready;

	e->revents = 0;
	if (e->fd < 0)
		return;
	if (get_sock(w->c, e->fd, &f) < 0) {
		e->revents = KS_POLLNVAL;
		return;
	}
	we->w = w;
	we->pe.wake = watch_wake;
	we->pe.arg = we;
	mask = ks_poll(f->so, &we->pe);
	we->registered = true;
	mask &= (e->events & 0xffffu) | KS_POLLERR | KS_POLLHUP;
	if (e->events & KSD_WATCH_EDGE) {
		int v = 0;

		if ((mask & KS_POLLIN) && ks_ioctl(f->so, KS_SIOCINQ, &v) == 0)
			inq = v;
		/* News: the readiness changed, or more bytes are queued
		 * (new data on a socket that was readable already). */
		ready = mask != 0 && ((int16_t)mask != e->last || inq > e->inq);
	} else {
		ready = mask != 0;
	}
	ksp__file_put(f);
	if (lk->report == 0) {
		/* A look: nothing moves on. */
		if (ready) {
			e->revents = (int16_t)mask;
			lk->remain = true;
		}
		return;
	}
	if (ready && lk->reported >= lk->report) {
		lk->remain = true;
		return;
	}
	if (e->events & KSD_WATCH_EDGE) {
		e->last = (int16_t)mask;
		e->inq = inq;
	} else if (ready && !(e->events & KSD_WATCH_ONESHOT)) {
		lk->remain = true;
	}
	if (ready) {
		e->revents = (int16_t)mask;
		lk->reported++;
	}
}

/*
 * KSD_WATCH: the watch's entries become the window's, each looked at
 * and registered; then the watch rings at once when one stays ready,
 * or is armed: its next wake-up rings. Returns the entries reported
 * (with a0 report 0, the ready ones), or -errno.
 */
static long
do_watch(struct ksd_park *p, struct ksd_rep *rep)
{
	struct ksd_watchfd *win = (struct ksd_watchfd *)(void *)
				  window(p->c, p->slot);
	const struct ksd_call *k = &p->call;
	struct watch_look lk = { (uint32_t)k->a[2], 0, false };
	uint32_t n = (uint32_t)k->a[0];
	struct ksd_watch *w;
	long err;
	long ready = 0;

	if (k->flags & KSD_F_WATCH_NEW) {
		err = watch_new(p->c, k->a[1], &w);
		if (err < 0)
			return err;
		rep->val[0] = 1;
	} else {
		w = watch_find(p->c, k->a[1]);
		if (w == NULL)
			return -KS_ENOENT;
	}
	watch_unregister(w);
	err = watch_room(w, n);
	if (err < 0) {
		/* A new one goes again (its end, sent, is the client's to
		 * close); an old one stays, unarmed, for the next look. */
		if (k->flags & KSD_F_WATCH_NEW)
			watch_free(w);
		return err;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct ksd_watchfd e;

		memcpy(&e, &win[i], sizeof(e));
		watch_look_one(w, &w->ent[i], &e, &lk);
		memcpy(&win[i], &e, sizeof(e));
		if (e.revents != 0 && e.revents != KS_POLLNVAL)
			ready++;
	}
	if (lk.remain)
		watch_ring(w);
	else
		w->armed = true;
	return ready;
}

/* KSD_UNWATCH. */
static long
do_unwatch(struct ksd_client *c, const struct ksd_call *k)
{
	struct ksd_watch *w = watch_find(c, k->a[1]);

	if (w == NULL)
		return -KS_ENOENT;
	watch_free(w);
	return 0;
}

/* -- fork, exec, exit -- */

static uint64_t
new_token(void)
{
	uint64_t t;

	do
		ksp__random(&t, sizeof(t));
	while (t == 0);
	return t;
}

/* A hand-over of @c's table, or -KS_EAGAIN when too many wait. */
static long
handover(struct ksd_client *c, struct ksd_rep *rep)
{
	struct ksd_handover *h;
	int err;

	if (nhandovers >= KSD_HANDOVER_MAX)
		return -KS_EAGAIN;
	h = obj_alloc(sizeof(*h));
	if (h == NULL)
		return -KS_ENOMEM;
	err = ksp__fdtable_init(&h->fdt);
	if (err < 0)
		goto free_h;
	err = ksp__fdtable_copy(&h->fdt, table(c));
	if (err < 0)
		goto destroy;
	h->token = new_token();
	h->uid = c->proc.uid;
	h->deadline = ksp__now() + KSD_HANDOVER_NS;
	h->next = handovers;
	handovers = h;
	nhandovers++;
	rep->token = h->token;
	return 0;

destroy:
	ksp__fdtable_destroy(&h->fdt);
free_h:
	obj_free(h);
	return err;
}

static void
handover_free(struct ksd_handover *h)
{
	ksp__fdtable_close_all(&h->fdt);
	ksp__fdtable_destroy(&h->fdt);
	nhandovers--;
	obj_free(h);
	async_flush();	/* the records of files only it held */
}

/*
 * Whether a process of @uid may claim @h: one of the same uid, or any
 * when root is on either side (a process that changes its identity with
 * setuid(2) and the like keeps its descriptors: it attaches again under
 * the new one, and only root can make such a change between two uids).
 */
static bool
may_claim(const struct ksd_handover *h, uint32_t uid)
{
	return h->uid == uid || h->uid == 0 || uid == 0;
}

/* See ksockd.h. */
int
ksd__claim(struct ksd_client *c, uint64_t token, uint32_t uid)
{
	struct ksd_handover **hp, *h;
	int err;

	for (hp = &handovers; (h = *hp) != NULL; hp = &h->next) {
		if (h->token != token || !may_claim(h, uid))
			continue;
		err = ksp__fdtable_copy(table(c), &h->fdt);
		if (err < 0)
			return err;
		*hp = h->next;
		handover_free(h);
		return 0;
	}
	return -KS_ESRCH;
}

/* See ksockd.h. */
struct ksd_client *
ksd__first_client(void)
{
	return clients;
}

/* See ksockd.h. */
void
ksd__handovers_free(void)
{
	while (handovers != NULL) {
		struct ksd_handover *h = handovers;

		handovers = h->next;
		handover_free(h);
	}
}

/* exec: the close-on-exec descriptors go, as Linux closes them. */
static void
close_on_exec(struct ksd_client *c)
{
	int cap;

	pthread_mutex_lock(&table(c)->lock);
	cap = table(c)->cap;
	pthread_mutex_unlock(&table(c)->lock);
	for (int fd = 0; fd < cap; fd++)
		if (ksp__fd_get_cloexec(table(c), fd) == 1)
			ksp__fd_close(table(c), fd);
}

/* See ksockd.h. */
void
ksd__status(struct ksd_status *st)
{
	struct ks_diag_stats ds;
	long fds = 0;

	ks_diag_stats(&ds);
	for (struct ksd_client *c = clients; c != NULL; c = c->next)
		fds += ksp__fdtable_count(table(c));
	for (struct ksd_handover *h = handovers; h != NULL; h = h->next)
		fds += ksp__fdtable_count(&h->fdt);
	memset(st, 0, sizeof(*st));
	st->ksock_allocs = ksp_alloc_outstanding();
	st->sockets = (int64_t)ds.sockets;
	st->objects = objects;
	st->clients = nclients;
	st->parked = nparked;
	st->watches = nwatches;
	st->descriptors = fds;
	st->handovers = nhandovers;
}

/* The numbers of a status line's value @q: how many, written to @out
 * unless it is NULL. */
static unsigned
parse_ids(const char *q, uint32_t *out)
{
	unsigned n = 0;
	char *end;

	for (;; q = end) {
		unsigned long v = strtoul(q, &end, 10);

		if (end == q)
			return n;
		if (out != NULL)
			out[n] = (uint32_t)v;
		n++;
	}
}

/* The supplementary groups on @c's process's "Groups:" status line,
 * into @c (an array even when empty: NULL means the server's). Returns
 * 0, -KS_ENOMEM, or -KS_ESRCH (the process is gone). */
static int
client_groups(struct ksd_client *c)
{
	char path[48], *line = NULL;
	size_t cap = 0;
	unsigned n;
	FILE *fp;
	int err = -KS_ESRCH;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)c->proc.pid);
	fp = fopen(path, "re");
	/* Hidden from the server (hidepid): the server's groups, as
	 * before it read them. */
	if (fp == NULL)
		return errno == EACCES || errno == EPERM ? 0 : -KS_ESRCH;
	while (getline(&line, &cap, fp) > 0) {
		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		n = parse_ids(line + 7, NULL);
		c->proc.groups = obj_alloc((n > 0 ? n : 1) *
					   sizeof(*c->proc.groups));
		if (c->proc.groups == NULL) {
			err = -KS_ENOMEM;
			break;
		}
		c->proc.ngroups = parse_ids(line + 7, c->proc.groups);
		err = 0;
		break;
	}
	free(line);
	fclose(fp);
	return err;
}

/*
 * The network namespace of @c's process, as the key of the names its new
 * sockets bind and look up: the namespace's inode number, the key of
 * every client's (the server makes no socket of its own), unique while
 * the namespace lives. A server that may not look (another user's
 * process, without CAP_SYS_PTRACE) takes its own namespace, as it did
 * for everyone before. Returns 0, -KS_ENOMEM or -KS_ESRCH.
 */
static int
client_netns(struct ksd_client *c)
{
	char path[48];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)c->proc.pid);
	if (stat(path, &st) < 0 &&
	    ((errno != EACCES && errno != EPERM) ||
	     stat("/proc/self/ns/net", &st) < 0))
		return errno == ENOMEM ? -KS_ENOMEM : -KS_ESRCH;
	c->proc.netns = (uint64_t)st.st_ino;
	return 0;
}

/*
 * KSD_F_THREAD_NS: the network namespace of thread @tid of @c's process
 * into *@out, the key client_netns() makes of a process's. A tid that
 * is not one of the process's threads is -KS_ESRCH; a server that may
 * not look leaves *@out 0 (the process's namespace, as client_netns()
 * falls back to its own). Returns 0, -KS_ENOMEM or -KS_ESRCH.
 */
static int
thread_netns(struct ksd_client *c, int32_t tid, uint64_t *out)
{
	char path[64];
	struct stat st;

	*out = 0;
	if (tid <= 0)
		return -KS_ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/ns/net",
		 (int)c->proc.pid, (int)tid);
	if (stat(path, &st) == 0) {
		*out = (uint64_t)st.st_ino;
		return 0;
	}
	if (errno == EACCES || errno == EPERM)
		return 0;
	return errno == ENOMEM ? -KS_ENOMEM : -KS_ESRCH;
}

/* -- running one call -- */

/*
 * Runs @p's call (again, when it was parked). Returns the result, or
 * KSD_AGAIN when it must wait (@p->file then holds the socket, for the
 * poll entry).
 */
static long
run(struct ksd_park *p, struct ksd_rep *rep, bool first)
{
	struct ksd_call *k = &p->call;
	struct ksd_client *c = p->c;
	struct ks_sockaddr_storage addr;
	struct ks_sock *pair[2];
	struct ksp_file *f = p->file;
	uint32_t len;
	long r;

	switch (k->label) {
	case KSD_SOCKET:
		r = ks_socket(k->a[0], k->a[1], k->a[2], &pair[0]);
		if (r < 0)
			return r;
		r = install_sock(c, pair[0], (k->a[1] & KS_SOCK_CLOEXEC) != 0);
		return place_fd(c, k, (int)r, place_want(k, 0),
				(k->a[1] & KS_SOCK_CLOEXEC) != 0);
	case KSD_SOCKETPAIR:
		r = ksp__sys_socketpair_flags(k->a[1]);
		if (r < 0)
			return r;
		r = ks_socketpair(k->a[0], k->a[1], k->a[2], pair);
		if (r < 0)
			return r;
		r = install_sock(c, pair[0], (k->a[1] & KS_SOCK_CLOEXEC) != 0);
		if (r < 0) {
			ks_close(pair[1]);
			return r;
		}
		rep->val[0] = (int32_t)r;
		r = install_sock(c, pair[1], (k->a[1] & KS_SOCK_CLOEXEC) != 0);
		if (r < 0) {
			ksp__fd_close(table(c), rep->val[0]);
			return r;
		}
		rep->val[1] = (int32_t)r;
		rep->val[0] = place_fd(c, k, rep->val[0], place_want(k, 0),
				       (k->a[1] & KS_SOCK_CLOEXEC) != 0);
		rep->val[1] = place_fd(c, k, rep->val[1], place_want(k, 1),
				       (k->a[1] & KS_SOCK_CLOEXEC) != 0);
		return 0;
	case KSD_POLL:
		return do_poll(p, first);
	case KSD_CLOSE:
		return ksp__fd_close(table(c), k->fd);
	case KSD_DUP:
		if (k->a[0] < 0) {
			r = ksp__fd_get(table(c), k->fd, &f);
			if (r < 0)
				return r;
			r = ksp__fd_install(table(c), f, k->a[1] != 0, 0);
			ksp__file_put(f);
			return r;
		}
		if ((k->flags & KSD_F_PLACE) &&
		    ksp__fd_get(table(c), k->a[0], &f) == 0) {
			ksp__file_put(f);
			return -KS_EBUSY;
		}
		return ksp__fd_dup3(table(c), k->fd, k->a[0], k->a[1] != 0);
	case KSD_FORK:
		return handover(c, rep);
	case KSD_EXEC:
		close_on_exec(c);
		return handover(c, rep);
	case KSD_EXIT:
		ksp__fdtable_close_all(table(c));
		return 0;
	case KSD_STATUS: {
		struct ksd_status st;

		ksd__status(&st);
		memcpy(rep->inl, &st, sizeof(st));
		return 0;
	}
	case KSD_NOTIFY:
		return do_notify(c, p->slot);
	case KSD_NETNS:
		return client_netns(c);
	case KSD_DIAG:
		return ksd__diag(c, k, window(c, p->slot), rep);
	case KSD_WATCH:
		return do_watch(p, rep);
	case KSD_UNWATCH:
		return do_unwatch(c, k);
	}

	/* The calls on one socket. */
	if (f == NULL) {
		r = get_sock(c, k->fd, &f);
		if (r < 0)
			return r;
		p->file = f;
	}
	call_sock = f->so;	/* O_ASYNC: no signal for its own doings */
	switch (k->label) {
	case KSD_BIND:
		return ksp__sys_bind(f->so, k->inl, k->addrlen);
	case KSD_LISTEN:
		return ks_listen(f->so, k->a[0]);
	case KSD_ACCEPT:
		return do_accept(p, f->so, rep);
	case KSD_CONNECT:
		r = connect_now(f->so, k->inl, k->addrlen);
		if (r == -KS_EAGAIN && !ks_is_nonblock(f->so) &&
		    ks_sock_type(f->so) != KS_SOCK_DGRAM) {
			p->deadline = ksp__now() + CONNECT_RETRY_NS;
			return KSD_AGAIN;
		}
		return r;
	case KSD_SENDMSG:
		return do_sendmsg(p, f->so, rep, first);
	case KSD_RECVMSG:
		return do_recvmsg(p, f->so, rep);
	case KSD_SHUTDOWN:
		return ks_shutdown(f->so, k->a[0]);
	case KSD_GETSOCKOPT:
		len = k->datalen;
		r = ksp__sys_getsockopt(f->so, k->a[0], k->a[1],
					window(c, p->slot), &len);
		rep->val[0] = (int32_t)len;
		if (r == 0 && k->a[0] == KS_SOL_SOCKET &&
		    k->a[1] == KS_SO_PEERPIDFD && len == sizeof(int32_t))
			r = pidfd_deliver(p, rep);
		return r;
	case KSD_SETSOCKOPT:
		return ksp__sys_setsockopt(f->so, k->a[0], k->a[1],
					   window(c, p->slot), k->datalen);
	case KSD_GETNAME:
		len = sizeof(addr);
		r = ksp__sys_getname(f->so, &addr, &len, k->a[0] != 0);
		if (r < 0)
			return r;
		rep->addrlen = len;
		memcpy(rep->inl, &addr, len < sizeof(addr) ? len : sizeof(addr));
		return 0;
	case KSD_IOCTL:
		if ((uint32_t)k->a[0] == FIOASYNC)
			return async_set(f, k->fd, k->a[1] != 0);
		return do_ioctl(f->so, k, rep);
	case KSD_FCNTL:
		return do_fcntl(c, f, k, rep);
	}
	return -KS_ENOSYS;
}

/* -- parking -- */

/* A parked call's wake callback: ksock locks are held, so it only
 * queues the call (ks_poll's contract). */
static void
park_wake(struct ks_poll_entry *pe, unsigned events)
{
	struct ksd_park *p = pe->arg;

	if (p->ready)
		return;
	p->ready = true;
	p->next_ready = ready_head;
	ready_head = p;
}

/* Takes @p off the ready list. */
static void
unqueue(struct ksd_park *p)
{
	struct ksd_park **pp;

	if (!p->ready)
		return;
	for (pp = &ready_head; *pp != NULL; pp = &(*pp)->next_ready) {
		if (*pp == p) {
			*pp = p->next_ready;
			break;
		}
	}
	p->ready = false;
}

static void
park_unlink(struct ksd_park *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else if (parked == p)
		parked = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	p->next = p->prev = NULL;
}

static void
timed_del(struct ksd_park *p)
{
	if (!p->timed)
		return;
	if (p->timed_prev != NULL)
		p->timed_prev->timed_next = p->timed_next;
	else
		timed_head = p->timed_next;
	if (p->timed_next != NULL)
		p->timed_next->timed_prev = p->timed_prev;
	p->timed_next = p->timed_prev = NULL;
	p->timed = false;
}

/* Puts @p on the timed list when it has a deadline or a timeout, takes
 * it off when it has neither. */
static void
timed_update(struct ksd_park *p)
{
	bool want = p->deadline >= 0 || p->timeout_at >= 0;

	if (want == p->timed)
		return;
	if (!want) {
		timed_del(p);
		return;
	}
	p->timed = true;
	p->timed_prev = NULL;
	p->timed_next = timed_head;
	if (timed_head != NULL)
		timed_head->timed_prev = p;
	timed_head = p;
}

/*
 * Drops @p: off every list, its entries removed, its files put. The
 * entries go first and the ready list after them: putting a file may
 * close a socket, whose wake-ups must not find @p queued again.
 */
static void
park_free(struct ksd_park *p)
{
	if (p->c->park[p->slot] == p) {
		p->c->park[p->slot] = NULL;
		park_unlink(p);
		nparked--;
	}
	timed_del(p);
	for (uint32_t i = 0; i < p->npoll; i++)
		if (p->pfile[i] != NULL)
			ks_poll_remove(&p->ppe[i]);
	if (p->file != NULL)
		ks_poll_remove(&p->pe);
	unqueue(p);
	for (uint32_t i = 0; i < p->npoll; i++)
		if (p->pfile[i] != NULL)
			ksp__file_put(p->pfile[i]);
	if (p->file != NULL)
		ksp__file_put(p->file);
	obj_free(p->pfile);
	obj_free(p->ppe);
	bell_fds_drop(p);
	obj_free(p);
}

/* The socket timeout that bounds @p's wait (SO_RCVTIMEO for what
 * reads, SO_SNDTIMEO for what writes), as a deadline, or -1. */
static int64_t
timeout_of(struct ksd_park *p)
{
	struct ks_timeval tv;
	uint32_t len = sizeof(tv);
	int64_t now;
	int name;

	if (p->file == NULL)
		return -1;
	switch (p->call.label) {
	case KSD_RECVMSG:
	case KSD_ACCEPT:
		name = KS_SO_RCVTIMEO_NEW;
		break;
	case KSD_SENDMSG:
	case KSD_CONNECT:
		name = KS_SO_SNDTIMEO_NEW;
		break;
	default:
		return -1;
	}
	if (ks_getsockopt(p->file->so, KS_SOL_SOCKET, name, &tv, &len) < 0 ||
	    (tv.tv_sec == 0 && tv.tv_usec == 0))
		return -1;
	/* A timeout the clock cannot reach in nanoseconds is none at all,
	 * as ksock's own waits take it (Linux's jiffies never reach it
	 * either): the product would overflow into the past. */
	now = ksp__now();
	if (tv.tv_sec >= (INT64_MAX - now) / 1000000000LL - 1)
		return -1;
	return now + tv.tv_sec * 1000000000LL + tv.tv_usec * 1000;
}

static bool
timed_out(const struct ksd_park *p, int64_t now)
{
	return p->timeout_at >= 0 && now >= p->timeout_at;
}

static unsigned wanted(const struct ksd_park *p);

/*
 * Runs @p on its client's behalf and replies, or parks it: a poll entry
 * on the socket (registered before the next attempt can miss a wake-up:
 * everything runs on this thread) and, for a connect, a retry deadline.
 */
static void
attempt(struct ksd_park *p, bool first)
{
	struct ksd_client *c = p->c;
	struct ksp_thread *t = ksp__thread();
	struct ksp_proc *saved = t->proc;
	size_t before = p->done;
	/* NETNS sets the process's namespace: not one to put back. */
	bool own_ns = p->netns != 0 && p->call.label != KSD_NETNS;
	uint64_t proc_ns = c->proc.netns;
	long r;

	/* What a CANCEL's park_free() closed is seen before the call. */
	async_flush();
	t->proc = &c->proc;
	if (own_ns)
		c->proc.netns = p->netns;
	r = cwd_enter(p);
	if (r == 0) {
		r = run(p, &p->rep, first);
		call_sock = NULL;
		cwd_leave(p);
	}
	if (own_ns)
		c->proc.netns = proc_ns;
	if ((r == -KS_EAGAIN || r == KSD_AGAIN) &&
	    p->call.label == KSD_SENDMSG && p->file != NULL)
		async_nospace(p->file);
	/* Everything runs on this thread, so no wake-up can fall between
	 * the attempt and the registration. A connect has nothing to
	 * register on: it looks again at its deadline. */
	if (r == KSD_AGAIN && c->park[p->slot] != p)
		p->timeout_at = timeout_of(p);
	/* A wait that ran out ends as Linux ends it: what moved, or
	 * EAGAIN. */
	if (r == KSD_AGAIN && timed_out(p, ksp__now()))
		r = p->done > 0 ? (long)p->done : -KS_EAGAIN;
	if (r == KSD_AGAIN && p->file != NULL && p->call.label != KSD_CONNECT)
		(void)ks_poll(p->file->so, &p->pe);
	t->proc = saved;
	if (r == KSD_AGAIN) {
		/* A wake-up that came from inside this attempt is ksock's
		 * own hint (a stream read hands its turn on with one):
		 * nothing changed that the attempt did not see. */
		unqueue(p);
		/* But a read that moved data and waits for more (MSG_WAITALL)
		 * on a socket that is still readable (its peer's end of
		 * file came with the data) gets no further wake-up: it runs
		 * again at once. */
		if (p->done != before && p->file != NULL &&
		    (ks_poll(p->file->so, NULL) & wanted(p)))
			park_wake(&p->pe, 0);
		if (c->park[p->slot] != p) {
			c->park[p->slot] = p;
			p->next = parked;
			if (parked != NULL)
				parked->prev = p;
			parked = p;
			nparked++;
		}
		timed_update(p);
		async_flush();
		return;
	}
	p->rep.ret = r;
	p->rep.seq = p->call.seq;
	/* The signals the call caused are sent before it returns, as the
	 * kernel queues them during the system call. */
	async_flush();
	reply(c, p->slot, &p->rep);
	park_free(p);
	async_flush();
}

/*
 * A CANCEL doorbell for @slot (proto.h): the parked call ends as a
 * signal ends it on Linux. Bytes already moved are the result, whatever
 * the handler's flags (Linux returns a partial count rather than
 * restarting). Otherwise a handler with SA_RESTART (@restart) leaves
 * the call parked, which is the restart, except where Linux never
 * restarts: poll, and a wait bounded by SO_RCVTIMEO/SO_SNDTIMEO
 * (sock_intr_errno()). Returns 0, or -1 for a slot out of range.
 */
static int
cancel(struct ksd_client *c, uint32_t slot, bool restart)
{
	struct ksd_park *p;

	if (slot >= KSD_SLOTS)
		return -1;
	p = c->park[slot];
	/* Answered already (every call runs before the next bell is
	 * read, so a busy slot has its call parked). */
	if (!c->busy[slot] || p == NULL)
		return 0;
	if (p->done > 0)
		p->rep.ret = (long)p->done;
	else if (restart && p->call.label != KSD_POLL && p->timeout_at < 0)
		return 0;
	else
		p->rep.ret = -KS_EINTR;
	p->rep.seq = p->call.seq;
	reply(c, slot, &p->rep);
	park_free(p);
	return 0;
}

/* See ksockd.h. */
void
ksd__bell_fds_close(struct ksd_client *c)
{
	while (c->nbell_fd > 0) {
		int fd = c->bell_fd[--c->nbell_fd];

		if (fd >= 0)
			close(fd);
	}
}

/* See ksockd.h. */
int
ksd__bell(struct ksd_client *c, uint32_t slot)
{
	struct ksd_req req;
	struct ksd_park *p;
	struct ksd_rep rep;
	int err;

	if (slot & KSD_BELL_CANCEL)
		return cancel(c, slot & ~(KSD_BELL_CANCEL | KSD_BELL_RESTART),
			      (slot & KSD_BELL_RESTART) != 0);
	if (slot >= KSD_SLOTS || c->busy[slot])
		return -1;
	c->busy[slot] = true;
	/* The request leaves shared memory before it is looked at. */
	memcpy(&req, &c->shm->slot[slot].req, sizeof(req));
	/* Before anything can reply: a client waiting on the notifier
	 * must hear of an error reply too. */
	c->notify_want[slot] = (req.flags & KSD_F_NOTIFY) != 0;
	memset(&rep, 0, sizeof(rep));
	rep.seq = req.seq;
	p = obj_alloc(sizeof(*p));
	if (p == NULL) {
		rep.ret = -KS_ENOMEM;
		reply(c, slot, &rep);
		return 0;
	}
	err = ksd__decode(&req, &p->call);
	if (err < 0) {
		obj_free(p);
		rep.ret = err;
		reply(c, slot, &rep);
		return 0;
	}
	p->c = c;
	p->slot = slot;
	p->deadline = -1;
	p->timeout_at = -1;
	p->cwd = -1;
	/* Files closed here may be the process's (a node release). */
	err = (p->call.flags & KSD_F_THREAD_NS) ?
	      thread_netns(c, p->call.tid, &p->netns) : 0;
	if (err == 0)
		err = bell_fds_take(p);
	if (err < 0) {
		struct ksp_thread *t = ksp__thread();
		struct ksp_proc *saved = t->proc;

		t->proc = &c->proc;
		bell_fds_drop(p);
		t->proc = saved;
		/* The doorbell's descriptors before the reply: a client
		 * told of the failure finds the server as it was. */
		ksd__bell_fds_close(c);
		obj_free(p);
		rep.ret = err;
		reply(c, slot, &rep);
		return 0;
	}
	p->pe.wake = park_wake;
	p->pe.arg = p;
	attempt(p, true);
	return 0;
}

/* The readiness a parked call on one socket waits for, or 0 when it
 * has no socket to ask (poll, connect). */
static unsigned
wanted(const struct ksd_park *p)
{
	const unsigned bad = KS_POLLERR | KS_POLLHUP;

	if (p->file == NULL)
		return 0;
	switch (p->call.label) {
	case KSD_RECVMSG:
		return KS_POLLIN | KS_POLLPRI | KS_POLLRDHUP | bad;
	case KSD_ACCEPT:
		return KS_POLLIN | bad;
	case KSD_SENDMSG:
		return KS_POLLOUT | bad;
	}
	return 0;
}

/*
 * See ksockd.h. A wake-up is a hint (ks_poll's contract): a call whose
 * socket does not report what it waits for stays parked, untouched. Two
 * reads parked on one stream socket would otherwise wake each other for
 * ever, each failed attempt handing the reader's turn to the other.
 */
void
ksd__run_ready(void)
{
	while (ready_head != NULL) {
		struct ksd_park *p = ready_head;
		unsigned want = wanted(p);

		ready_head = p->next_ready;
		p->ready = false;
		if (want != 0 && !(ks_poll(p->file->so, NULL) & want) &&
		    !timed_out(p, ksp__now()) &&
		    !(p->call.label == KSD_SENDMSG && send_shut(p->file->so)))
			continue;
		attempt(p, false);
	}
}

/* See ksockd.h. */
int64_t
ksd__next_deadline(void)
{
	int64_t next = -1;

	for (struct ksd_park *p = timed_head; p != NULL; p = p->timed_next) {
		if (p->deadline >= 0 && (next < 0 || p->deadline < next))
			next = p->deadline;
		if (p->timeout_at >= 0 && (next < 0 || p->timeout_at < next))
			next = p->timeout_at;
	}
	for (struct ksd_handover *h = handovers; h != NULL; h = h->next)
		if (next < 0 || h->deadline < next)
			next = h->deadline;
	return next;
}

/* See ksockd.h. */
void
ksd__expire(int64_t now)
{
	struct ksd_handover **hp = &handovers, *h;

	for (struct ksd_park *p = timed_head; p != NULL; p = p->timed_next) {
		if ((p->deadline < 0 || p->deadline > now) &&
		    !timed_out(p, now))
			continue;
		if (p->ready)
			continue;
		p->ready = true;
		p->next_ready = ready_head;
		ready_head = p;
	}
	ksd__run_ready();
	while ((h = *hp) != NULL) {
		if (h->deadline <= now) {
			*hp = h->next;
			handover_free(h);
		} else {
			hp = &h->next;
		}
	}
}

/* See ksockd.h. */
struct ksd_client *
ksd__client_new(int32_t pid, uint32_t uid, uint32_t gid, unsigned mask)
{
	struct ksd_client *c = obj_alloc(sizeof(*c));

	if (c == NULL)
		return NULL;
	if (pthread_mutex_init(&c->proc.lock, NULL) != 0)
		goto free_c;
	if (ksp__fdtable_init(&c->proc.fdt) < 0)
		goto destroy_lock;
	c->proc.pid = pid;
	c->proc.uid = c->proc.euid = c->proc.suid = uid;
	c->proc.gid = c->proc.egid = c->proc.sgid = gid;
	c->proc.umask = mask & 0777;
	c->sock = -1;
	for (int i = 0; i < KSD_SLOTS; i++)
		c->notify[i] = -1;
	c->next = clients;
	if (clients != NULL)
		clients->prev = c;
	clients = c;
	nclients++;
	return c;

destroy_lock:
	pthread_mutex_destroy(&c->proc.lock);
free_c:
	obj_free(c);
	return NULL;
}

/* See ksockd.h. */
int
ksd__client_ids(struct ksd_client *c)
{
	int err = client_netns(c);

	return err < 0 ? err : client_groups(c);
}

/* See ksockd.h. */
void
ksd__client_free(struct ksd_client *c)
{
	struct ksp_thread *t = ksp__thread();
	struct ksp_proc *saved = t->proc;

	while (c->watches != NULL)
		watch_free(c->watches);
	for (uint32_t i = 0; i < KSD_SLOTS; i++) {
		if (c->park[i] != NULL)
			park_free(c->park[i]);
		if (c->notify[i] >= 0)
			close(c->notify[i]);
	}
	/* Closing may call the port as this process (a node release). */
	t->proc = &c->proc;
	ksp__fdtable_close_all(&c->proc.fdt);
	t->proc = saved;
	ksp__fdtable_destroy(&c->proc.fdt);
	pthread_mutex_destroy(&c->proc.lock);
	obj_free(c->proc.groups);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	nclients--;
	obj_free(c);
	async_flush();	/* what its closes signalled, records it held */
}

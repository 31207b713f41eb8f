/*
 * The ksockd client library (ksd.h): each call becomes one request in a
 * slot of the process's shared region, a doorbell on the bootstrap
 * socket, and a futex wait for the reply (docs/ksockd.md).
 *
 * The client's side of a call is a kernel's system-call entry: user
 * arguments are checked and copied here, through the shared boundary
 * (port/hosted/boundary.c: ksp__iov_import, ksp__addr_in, ksp__addr_out
 * and the port's copy hooks), so a bad pointer is EFAULT and a bad
 * length EINVAL in Linux's order, and the server only ever sees the
 * window. The boundary reaches user memory through ks_port(): a process
 * that runs no ksock of its own gets the hosted port's table for that
 * (ks_init() with nothing else started).
 *
 * Locks: state.lock guards attaching and detaching; slots are taken
 * with an atomic bitmap, one per thread inside a call.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ksock/posix.h>

#include "../hosted/hosted.h"
#include "ksd.h"

static struct {
	pthread_mutex_t	 lock;
	int		 sock;		/* bootstrap socket, -1: detached */
	struct ksd_shm	*shm;
	size_t		 size;
	char		 addr[sizeof(((struct sockaddr_un *)0)->sun_path)];
	_Atomic uint32_t free_slots;	/* bit i: slot i is free */
	_Atomic uint64_t seq;
} state = { PTHREAD_MUTEX_INITIALIZER, -1, NULL, 0, "", 0, 0 };

#define ALL_SLOTS	((uint32_t)((1u << KSD_SLOTS) - 1))

static long
fail(long err)
{
	errno = (int)-err;
	return -1;
}

static int
futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *ts)
{
	return (int)syscall(SYS_futex, w, op, val, ts, NULL, 0);
}

/* -- bootstrap -- */

static int
open_bootstrap(const char *addr)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t len = strlen(addr);
	int fd;

	if (len == 0 || len >= sizeof(sun.sun_path))
		return -EINVAL;
	memcpy(sun.sun_path, addr, len);
	if (addr[0] == '@')
		sun.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* The hello and the welcome with its region. */
static int
handshake(int fd, uint64_t token)
{
	struct ksd_hello h = { .magic = KSD_MAGIC, .version = KSD_VERSION,
			       .token = token };
	struct ksd_welcome w;
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { &w, sizeof(w) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	mode_t mask = umask(0);
	void *shm;
	int memfd;

	umask(mask);
	h.umask = mask;
	if (send(fd, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h))
		return -EPROTO;
	if (recvmsg(fd, &m, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(w) ||
	    w.magic != KSD_MAGIC)
		return -EPROTO;
	if (w.err < 0)
		return w.err;
	cm = CMSG_FIRSTHDR(&m);
	if (cm == NULL || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int)) ||
	    w.shm_size != sizeof(struct ksd_shm))
		return -EPROTO;
	memcpy(&memfd, CMSG_DATA(cm), sizeof(int));
	shm = mmap(NULL, w.shm_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   memfd, 0);
	close(memfd);
	if (shm == MAP_FAILED)
		return -errno;
	state.shm = shm;
	state.size = w.shm_size;
	return 0;
}

/* Attaches with @token (0: a new process). */
static int
attach(const char *addr, uint64_t token)
{
	int fd, err;

	if (ks_port() == NULL) {
		err = ks_init(ksp_port());
		if (err < 0 && err != -KS_EBUSY)
			return err;
	}
	fd = open_bootstrap(addr);
	if (fd < 0)
		return fd;
	err = handshake(fd, token);
	if (err < 0) {
		close(fd);
		return err;
	}
	state.sock = fd;
	/* A child attaching again passes state.addr itself. */
	if (addr != state.addr)
		snprintf(state.addr, sizeof(state.addr), "%s", addr);
	atomic_store(&state.free_slots, ALL_SLOTS);
	return 0;
}

int
ksd_attach(const char *addr)
{
	const char *tok = getenv("KSOCKD_TOKEN");
	uint64_t token = 0;
	int err;

	if (tok != NULL) {
		token = strtoull(tok, NULL, 16);
		unsetenv("KSOCKD_TOKEN");
	}
	pthread_mutex_lock(&state.lock);
	err = state.sock >= 0 ? -EISCONN : attach(addr, token);
	pthread_mutex_unlock(&state.lock);
	return err < 0 ? (int)fail(err) : 0;
}

static void
detach_local(void)
{
	if (state.shm != NULL)
		munmap(state.shm, state.size);
	if (state.sock >= 0)
		close(state.sock);
	state.shm = NULL;
	state.sock = -1;
}

/* -- one call -- */

static int
slot_take(void)
{
	for (;;) {
		uint32_t f = atomic_load(&state.free_slots);

		if (f == 0) {
			futex(&state.free_slots, FUTEX_WAIT_PRIVATE, 0, NULL);
			continue;
		}
		int i = __builtin_ctz(f);

		if (atomic_compare_exchange_weak(&state.free_slots, &f,
						 f & ~(1u << i)))
			return i;
	}
}

static void
slot_give(int i)
{
	atomic_fetch_or(&state.free_slots, 1u << i);
	futex(&state.free_slots, FUTEX_WAKE_PRIVATE, 1, NULL);
}

/* Whether the server has gone (the bootstrap socket hung up). */
static bool
server_gone(void)
{
	struct pollfd p = { state.sock, POLLIN, 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

/*
 * Posts @req (already in slot @i) and waits for the reply, copied to
 * @rep. Returns rep->ret, or -ENOTCONN / -ECONNRESET when there is no
 * server.
 */
static long
post(int i, struct ksd_rep *rep)
{
	struct ksd_slot *s = &state.shm->slot[i];
	struct ksd_bell b = { (uint32_t)i };
	struct timespec tick = { 1, 0 };

	s->req.seq = atomic_fetch_add(&state.seq, 1) + 1;
	atomic_store_explicit(&s->state, KSD_POSTED, memory_order_release);
	if (send(state.sock, &b, sizeof(b), MSG_NOSIGNAL) != (ssize_t)sizeof(b))
		return -ECONNRESET;
	while (atomic_load_explicit(&s->state, memory_order_acquire) !=
	       KSD_DONE) {
		/* Signals restart the wait; a dead server ends it. */
		if (futex(&s->state, FUTEX_WAIT, KSD_POSTED, &tick) < 0 &&
		    errno == ETIMEDOUT && server_gone())
			return -ECONNRESET;
	}
	memcpy(rep, &s->rep, sizeof(*rep));
	atomic_store(&s->state, KSD_IDLE);
	return rep->ret;
}

/* A slot for a new request: *@slot, its request zeroed with @label. */
static struct ksd_req *
begin(int *slot, uint32_t label, int fd)
{
	int i;

	if (state.sock < 0)
		return NULL;
	i = slot_take();
	*slot = i;
	memset(&state.shm->slot[i].req, 0, sizeof(struct ksd_req));
	state.shm->slot[i].req.label = label;
	state.shm->slot[i].req.fd = fd;
	return &state.shm->slot[i].req;
}

static unsigned char *
win(int i)
{
	return state.shm->window[i];
}

/* A call with no data: the result, or -1/errno. */
static long
simple(uint32_t label, int fd, int a0, int a1, int a2, struct ksd_rep *rep)
{
	struct ksd_rep r;
	struct ksd_req *q;
	int i;
	long n;

	q = begin(&i, label, fd);
	if (q == NULL)
		return fail(-EBADF);
	q->a[0] = a0;
	q->a[1] = a1;
	q->a[2] = a2;
	n = post(i, rep != NULL ? rep : &r);
	slot_give(i);
	return n < 0 ? fail(n) : n;
}

/* -- calls -- */

int
ksd_socket(int domain, int type, int protocol)
{
	return (int)simple(KSD_SOCKET, -1, domain, type, protocol, NULL);
}

int
ksd_socketpair(int domain, int type, int protocol, int sv[2])
{
	struct ksd_rep rep;
	int err;

	/* The flags first, then whether sv can be written, as Linux. */
	err = ksp__sys_socketpair_flags(type);
	if (err < 0)
		return (int)fail(err);
	if (!ksp__user_range_ok(sv, 2 * sizeof(int)))
		return (int)fail(-EFAULT);
	if (simple(KSD_SOCKETPAIR, -1, domain, type, protocol, &rep) < 0)
		return -1;
	err = ksp__sys_socketpair_out(sv, rep.val[0], rep.val[1]);
	if (err < 0) {
		simple(KSD_CLOSE, rep.val[0], 0, 0, 0, NULL);
		simple(KSD_CLOSE, rep.val[1], 0, 0, 0, NULL);
		return (int)fail(err);
	}
	return 0;
}

/* bind or connect: the address through the boundary, then inline. */
static int
addr_call(uint32_t label, int fd, const struct sockaddr *addr, socklen_t len)
{
	struct ks_sockaddr_storage k;
	struct ksd_rep rep;
	struct ksd_req *q;
	int i, err;
	long n;

	err = ksp__addr_in(addr, len, &k);
	if (err < 0)
		return (int)fail(err);
	q = begin(&i, label, fd);
	if (q == NULL)
		return (int)fail(-EBADF);
	memcpy(q->inl, &k, len);
	q->addrlen = len;
	n = post(i, &rep);
	slot_give(i);
	return n < 0 ? (int)fail(n) : 0;
}

int
ksd_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	return addr_call(KSD_BIND, fd, addr, len);
}

int
ksd_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return addr_call(KSD_CONNECT, fd, addr, len);
}

int
ksd_listen(int fd, int backlog)
{
	return (int)simple(KSD_LISTEN, fd, backlog, 0, 0, NULL);
}

int
ksd_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct ksd_rep rep;
	long n;
	int err;

	err = ksp__sys_accept_flags(flags);
	if (err < 0)
		return (int)fail(err);
	n = simple(KSD_ACCEPT, fd, flags, 0, 0, &rep);
	if (n < 0)
		return -1;
	if (addr != NULL) {
		err = ksp__addr_out(rep.inl, rep.addrlen, addr, len);
		if (err < 0) {
			/* Linux drops the connection when the address
			 * cannot be written. */
			simple(KSD_CLOSE, (int)n, 0, 0, 0, NULL);
			return (int)fail(err);
		}
	}
	return (int)n;
}

/* The type of @fd, for sends longer than one window. */
static int
sock_type(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	if (ksd_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -1;
	return type;
}

/*
 * sendmsg: the msghdr, its name and its iovec through the boundary,
 * the data gathered into the window (or inline), control after it.
 * A stream send longer than one window goes in window-sized parts.
 */
ssize_t
ksd_sendmsg(int fd, const struct msghdr *umsg, int flags)
{
	struct ks_sockaddr_storage name;
	struct ks_msghdr m;
	struct ksp_iov v;
	uint32_t namelen;
	size_t seg = 0, segoff = 0, sent = 0;
	long err;
	bool first = true;

	err = ksp__copy_from_user(&m, umsg, sizeof(m));
	if (err < 0)
		return fail(err);
	namelen = m.msg_name != NULL ? m.msg_namelen : 0;
	if (namelen > 0) {
		err = ksp__addr_in(m.msg_name, namelen, &name);
		if (err < 0)
			return fail(err);
	}
	if (m.msg_iovlen > KSP_UIO_MAXIOV)
		return fail(-EMSGSIZE);
	err = ksp__iov_import(&v, (const struct ks_iovec *)m.msg_iov,
			      m.msg_iovlen);
	if (err < 0)
		return fail(err);
	if (m.msg_controllen > KSD_CTL_MAX) {
		err = -ENOBUFS;
		goto release;
	}
	if (v.total > KSD_DATA_MAX && sock_type(fd) != SOCK_STREAM) {
		err = -EMSGSIZE;
		goto release;
	}
	do {
		struct ksd_rep rep;
		struct ksd_req *q;
		unsigned char *dst;
		size_t chunk = v.total - sent, off = 0;
		int i;

		if (chunk > KSD_DATA_MAX)
			chunk = KSD_DATA_MAX;
		q = begin(&i, KSD_SENDMSG, fd);
		if (q == NULL) {
			err = -EBADF;
			goto release;
		}
		q->a[0] = flags;
		q->addrlen = namelen;
		memcpy(q->inl, &name, namelen);
		if (chunk <= KSD_INLINE_DATA) {
			q->flags = KSD_F_DATA_INLINE;
			dst = q->inl + namelen;
		} else {
			dst = win(i);
		}
		while (off < chunk) {
			size_t n = v.iov[seg].iov_len - segoff;

			if (n > chunk - off)
				n = chunk - off;
			err = ksp__copy_from_user(dst + off,
				(char *)v.iov[seg].iov_base + segoff, n);
			if (err < 0) {
				slot_give(i);
				goto release;
			}
			off += n;
			segoff += n;
			if (segoff == v.iov[seg].iov_len) {
				seg++;
				segoff = 0;
			}
		}
		q->datalen = (uint32_t)chunk;
		if (first && m.msg_controllen > 0) {
			err = ksp__copy_from_user(win(i) + KSD_DATA_MAX,
						  m.msg_control,
						  m.msg_controllen);
			if (err < 0) {
				slot_give(i);
				goto release;
			}
			q->ctllen = (uint32_t)m.msg_controllen;
		}
		err = post(i, &rep);
		slot_give(i);
		if (rep.val[1] != 0)
			raise(SIGPIPE);
		if (err < 0)
			break;
		sent += (size_t)err;
		first = false;
		if ((size_t)err < chunk)
			break;
	} while (sent < v.total);
	ksp__iov_release(&v);
	if (sent > 0)
		return (ssize_t)sent;
	return err < 0 ? fail(err) : 0;

release:
	ksp__iov_release(&v);
	return sent > 0 ? (ssize_t)sent : fail(err);
}

/* Copies @n bytes of @src into @v's segments from byte @pos on. */
static int
scatter(struct ksp_iov *v, size_t pos, const unsigned char *src, size_t n)
{
	for (size_t s = 0; s < v->n && n > 0; s++) {
		size_t len = v->iov[s].iov_len, c;
		int err;

		if (pos >= len) {
			pos -= len;
			continue;
		}
		c = len - pos < n ? len - pos : n;
		err = ksp__copy_to_user((char *)v->iov[s].iov_base + pos, src, c);
		if (err < 0)
			return err;
		src += c;
		n -= c;
		pos = 0;
	}
	return 0;
}

/*
 * MSG_WAITALL on a stream past the first window: more windows into @v
 * from byte @got on, until it is full, the peer stops (0), or an error
 * (which, after data, Linux does not report either). Returns the bytes
 * in @v.
 */
static long
recv_more(int fd, int flags, struct ksp_iov *v, size_t got)
{
	while (got < v->total) {
		size_t want = v->total - got < KSD_DATA_MAX ?
			      v->total - got : KSD_DATA_MAX;
		struct ksd_rep rep;
		struct ksd_req *q;
		long n;
		int i;

		q = begin(&i, KSD_RECVMSG, fd);
		if (q == NULL)
			break;
		q->a[0] = flags;
		q->datalen = (uint32_t)want;
		n = post(i, &rep);
		if (n > 0 && scatter(v, got, win(i), (size_t)n) < 0)
			n = -EFAULT;
		slot_give(i);
		if (n <= 0)
			break;
		got += (size_t)n;
		if ((size_t)n < want)
			break;
	}
	return (long)got;
}

/* recvmsg: the data scattered from the window, the name through the
 * boundary's address move, control and flags written back. */
ssize_t
ksd_recvmsg(int fd, struct msghdr *umsg, int flags)
{
	struct ks_msghdr m;
	struct ksd_rep rep;
	struct ksd_req *q;
	struct ksp_iov v;
	size_t want;
	long n, err;
	int i;

	err = ksp__copy_from_user(&m, umsg, sizeof(m));
	if (err < 0)
		return fail(err);
	if (m.msg_name != NULL && (int)m.msg_namelen < 0)
		return fail(-EINVAL);
	if (m.msg_iovlen > KSP_UIO_MAXIOV)
		return fail(-EMSGSIZE);
	err = ksp__iov_import(&v, (const struct ks_iovec *)m.msg_iov,
			      m.msg_iovlen);
	if (err < 0)
		return fail(err);
	want = v.total < KSD_DATA_MAX ? v.total : KSD_DATA_MAX;
	q = begin(&i, KSD_RECVMSG, fd);
	if (q == NULL) {
		ksp__iov_release(&v);
		return fail(-EBADF);
	}
	q->a[0] = flags;
	q->datalen = (uint32_t)want;
	q->addrlen = m.msg_name != NULL ? sizeof(struct ks_sockaddr_storage) : 0;
	q->ctllen = (uint32_t)(m.msg_controllen < KSD_CTL_MAX ?
			       m.msg_controllen : KSD_CTL_MAX);
	n = post(i, &rep);
	if (n < 0)
		goto out;
	err = scatter(&v, 0, win(i), (size_t)n);
	if (err < 0) {
		n = err;
		goto out;
	}
	if (m.msg_name != NULL) {
		err = ksp__addr_out(rep.inl, rep.addrlen, m.msg_name,
				    &umsg->msg_namelen);
		if (err < 0) {
			n = err;
			goto out;
		}
	}
	if (rep.ctllen > 0)
		err = ksp__copy_to_user(m.msg_control, win(i) + KSD_DATA_MAX,
					rep.ctllen);
	if (err >= 0)
		err = ksp__copy_to_user(&umsg->msg_flags, &rep.val[0],
					sizeof(int));
	if (err >= 0) {
		size_t cl = rep.ctllen;

		err = ksp__copy_to_user(&umsg->msg_controllen, &cl, sizeof(cl));
	}
	if (err < 0)
		n = err;
out:
	slot_give(i);
	if (n >= 0 && (size_t)n == want && want < v.total &&
	    (flags & MSG_WAITALL) && !(flags & MSG_PEEK) &&
	    sock_type(fd) == SOCK_STREAM)
		n = recv_more(fd, flags, &v, (size_t)n);
	ksp__iov_release(&v);
	return n < 0 ? fail(n) : n;
}

ssize_t
ksd_send(int fd, const void *buf, size_t len, int flags)
{
	return ksd_sendto(fd, buf, len, flags, NULL, 0);
}

ssize_t
ksd_sendto(int fd, const void *buf, size_t len, int flags,
	   const struct sockaddr *addr, socklen_t alen)
{
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_name = (void *)addr, .msg_namelen = alen,
			    .msg_iov = &iov, .msg_iovlen = 1 };

	return ksd_sendmsg(fd, &m, flags);
}

ssize_t
ksd_recv(int fd, void *buf, size_t len, int flags)
{
	return ksd_recvfrom(fd, buf, len, flags, NULL, NULL);
}

ssize_t
ksd_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
	     socklen_t *alen)
{
	struct iovec iov = { buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (addr != NULL) {
		if (ksp__copy_from_user(&m.msg_namelen, alen, sizeof(*alen)) < 0)
			return fail(-EFAULT);
		m.msg_name = addr;
	}
	n = ksd_recvmsg(fd, &m, flags);
	if (n >= 0 && addr != NULL &&
	    ksp__copy_to_user(alen, &m.msg_namelen, sizeof(*alen)) < 0)
		return fail(-EFAULT);
	return n;
}

int
ksd_shutdown(int fd, int how)
{
	return (int)simple(KSD_SHUTDOWN, fd, how, 0, 0, NULL);
}

int
ksd_getsockopt(int fd, int level, int name, void *val, socklen_t *ulen)
{
	struct ksd_rep rep;
	struct ksd_req *q;
	uint32_t len;
	long n, err;
	int i;

	err = ksp__copy_from_user(&len, ulen, sizeof(len));
	if (err < 0)
		return (int)fail(err);
	if ((int)len < 0)
		return (int)fail(-EINVAL);
	q = begin(&i, KSD_GETSOCKOPT, fd);
	if (q == NULL)
		return (int)fail(-EBADF);
	q->a[0] = level;
	q->a[1] = name;
	q->datalen = len < KSD_DATA_MAX ? len : KSD_DATA_MAX;
	n = post(i, &rep);
	if (n >= 0) {
		len = (uint32_t)rep.val[0];
		err = ksp__copy_to_user(val, win(i), len);
		if (err >= 0)
			err = ksp__copy_to_user(ulen, &len, sizeof(len));
		if (err < 0)
			n = err;
	}
	slot_give(i);
	return n < 0 ? (int)fail(n) : 0;
}

int
ksd_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct ksd_rep rep;
	struct ksd_req *q;
	long n;
	int i;

	if ((int)len < 0)
		return (int)fail(-EINVAL);
	if (len > KSD_DATA_MAX)
		len = KSD_DATA_MAX;
	q = begin(&i, KSD_SETSOCKOPT, fd);
	if (q == NULL)
		return (int)fail(-EBADF);
	q->a[0] = level;
	q->a[1] = name;
	q->datalen = len;
	n = ksp__copy_from_user(win(i), val, len);
	if (n >= 0)
		n = post(i, &rep);
	slot_give(i);
	return n < 0 ? (int)fail(n) : 0;
}

static int
getname(int fd, struct sockaddr *addr, socklen_t *len, int peer)
{
	struct ksd_rep rep;
	int err;

	if (simple(KSD_GETNAME, fd, peer, 0, 0, &rep) < 0)
		return -1;
	err = ksp__addr_out(rep.inl, rep.addrlen, addr, len);
	return err < 0 ? (int)fail(err) : 0;
}

int
ksd_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	return getname(fd, addr, len, 0);
}

int
ksd_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	return getname(fd, addr, len, 1);
}

int
ksd_ioctl(int fd, unsigned long req, int *arg)
{
	struct ksd_rep rep;
	int v = 0;

	if (ksp__copy_from_user(&v, arg, sizeof(v)) < 0)
		return (int)fail(-EFAULT);
	if (simple(KSD_IOCTL, fd, (int)req, v, 0, &rep) < 0)
		return -1;
	if (ksp__copy_to_user(arg, &rep.val[0], sizeof(int)) < 0)
		return (int)fail(-EFAULT);
	return 0;
}

int
ksd_fcntl(int fd, int cmd, int arg)
{
	return (int)simple(KSD_FCNTL, fd, cmd, arg, 0, NULL);
}

int
ksd_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	struct ksd_pollfd *w;
	struct ksd_rep rep;
	struct ksd_req *q;
	long r;
	int i;

	if (n > KSD_POLL_MAX)
		return (int)fail(-EINVAL);
	q = begin(&i, KSD_POLL, -1);
	if (q == NULL)
		return (int)fail(-EBADF);
	w = (struct ksd_pollfd *)(void *)win(i);
	for (nfds_t k = 0; k < n; k++) {
		struct pollfd p;

		if (ksp__copy_from_user(&p, &fds[k], sizeof(p)) < 0) {
			slot_give(i);
			return (int)fail(-EFAULT);
		}
		w[k].fd = p.fd;
		w[k].events = p.events;
		w[k].revents = 0;
	}
	q->a[0] = (int32_t)n;
	q->a[1] = timeout;
	r = post(i, &rep);
	for (nfds_t k = 0; r >= 0 && k < n; k++) {
		short re = w[k].revents;

		if (ksp__copy_to_user(&fds[k].revents, &re, sizeof(re)) < 0)
			r = -EFAULT;
	}
	slot_give(i);
	return r < 0 ? (int)fail(r) : (int)r;
}

int
ksd_close(int fd)
{
	return (int)simple(KSD_CLOSE, fd, 0, 0, 0, NULL);
}

int
ksd_dup(int fd)
{
	return (int)simple(KSD_DUP, fd, -1, 0, 0, NULL);
}

int
ksd_dup3(int fd, int newfd, int flags)
{
	if (flags & ~O_CLOEXEC)
		return (int)fail(-EINVAL);
	if (fd == newfd)
		return (int)fail(-EINVAL);
	return (int)simple(KSD_DUP, fd, newfd, (flags & O_CLOEXEC) != 0, 0,
			   NULL);
}

int
ksd_status(struct ksd_status *st)
{
	struct ksd_rep rep;

	if (simple(KSD_STATUS, -1, 0, 0, 0, &rep) < 0)
		return -1;
	memcpy(st, rep.inl, sizeof(*st));
	return 0;
}

pid_t
ksd_fork(void)
{
	struct ksd_rep rep;
	pid_t pid;
	int err;

	if (simple(KSD_FORK, -1, 0, 0, 0, &rep) < 0)
		return -1;
	pid = fork();
	if (pid != 0)
		return pid;
	/* The child: the parent's region and connection are the
	 * parent's; it attaches on its own and claims the copy. */
	pthread_mutex_lock(&state.lock);
	munmap(state.shm, state.size);
	close(state.sock);
	state.shm = NULL;
	state.sock = -1;
	err = attach(state.addr, rep.token);
	pthread_mutex_unlock(&state.lock);
	if (err < 0)
		_exit(127);
	return 0;
}

int
ksd_execve(const char *path, char *const argv[], char *const envp[])
{
	struct ksd_rep rep;
	char tok[32], **env;
	size_t n = 0;

	if (simple(KSD_EXEC, -1, 0, 0, 0, &rep) < 0)
		return -1;
	while (envp[n] != NULL)
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (env == NULL)
		return (int)fail(-ENOMEM);
	snprintf(tok, sizeof(tok), "KSOCKD_TOKEN=%llx",
		 (unsigned long long)rep.token);
	memcpy(env, envp, n * sizeof(*env));
	env[n] = tok;
	execve(path, argv, env);
	free(env);
	return -1;
}

int
ksd_detach(void)
{
	long n;

	pthread_mutex_lock(&state.lock);
	if (state.sock < 0) {
		pthread_mutex_unlock(&state.lock);
		return (int)fail(-ENOTCONN);
	}
	pthread_mutex_unlock(&state.lock);
	n = simple(KSD_EXIT, -1, 0, 0, 0, NULL);
	pthread_mutex_lock(&state.lock);
	detach_local();
	pthread_mutex_unlock(&state.lock);
	return n < 0 ? -1 : 0;
}

/* See ksd.h. */
bool
ksd__attached(void)
{
	return state.sock >= 0;
}

/* See ksd.h. */
int
ksd__conn_fd(void)
{
	return state.sock;
}

/* See ksd.h. */
long
ksd__request(uint32_t label, uint32_t flags, int fd, int a0, int a1, int a2,
	     const void *inl, size_t inlen, struct ksd_rep *rep)
{
	struct ksd_req *q;
	long n;
	int i;

	if (inlen > KSD_INLINE)
		return -EINVAL;
	q = begin(&i, label, fd);
	if (q == NULL)
		return -EBADF;
	q->flags = flags;
	q->a[0] = a0;
	q->a[1] = a1;
	q->a[2] = a2;
	if (inlen > 0)
		memcpy(q->inl, inl, inlen);
	n = post(i, rep);
	slot_give(i);
	return n;
}

/* See ksd.h. */
int
ksd__fork_token(uint64_t *token)
{
	struct ksd_rep rep;
	long n = ksd__request(KSD_FORK, 0, -1, 0, 0, 0, NULL, 0, &rep);

	if (n < 0)
		return (int)n;
	*token = rep.token;
	return 0;
}

/* See ksd.h. */
int
ksd__reattach(void)
{
	struct ksd_shm *old_shm;
	struct ksd_rep rep;
	uint64_t token;
	size_t old_size;
	int err, old_sock;
	long n;

	n = ksd__request(KSD_FORK, 0, -1, 0, 0, 0, NULL, 0, &rep);
	if (n < 0)
		return (int)n;
	token = rep.token;
	pthread_mutex_lock(&state.lock);
	old_shm = state.shm;
	old_size = state.size;
	old_sock = state.sock;
	err = attach(state.addr, token);
	if (err < 0) {
		/* Refused: the old attachment stays (the hand-over
		 * expires). */
		state.shm = old_shm;
		state.size = old_size;
		state.sock = old_sock;
	} else {
		munmap(old_shm, old_size);
		close(old_sock);
	}
	pthread_mutex_unlock(&state.lock);
	return err;
}

/* See ksd.h. The child has one thread: a lock another thread of the
 * parent held at the fork is made anew, and every slot is free in the
 * region it gets. */
int
ksd__fork_child(uint64_t token, bool reattach)
{
	pthread_mutex_init(&state.lock, NULL);
	if (state.sock < 0)
		return reattach ? -ENOTCONN : 0;
	munmap(state.shm, state.size);
	close(state.sock);
	state.shm = NULL;
	state.sock = -1;
	return reattach ? attach(state.addr, token) : 0;
}

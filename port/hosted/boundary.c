/*
 * The system-call boundary every front end shares (see boundary.h for
 * what lives here and what stays in a front end).
 *
 * Each function follows the Linux function named beside it, in the same
 * order of checks, because programs and test suites see that order: a
 * call with two bad arguments fails for the one Linux looks at first.
 * Kernel memory here is the stack or ks_port()->alloc; user memory is
 * reached only through the port's copy hooks. Freestanding, as src/core.
 *
 * No locks of its own.
 */
#include <limits.h>

#include "boundary.h"

/* The port's copy hooks: 0 or -KS_EFAULT. */
static int
from_user(void *dst, const void *usrc, size_t len)
{
	return ks_port()->copy_from_user(dst, usrc, len);
}

static int
to_user(void *udst, const void *src, size_t len)
{
	return ks_port()->copy_to_user(udst, src, len);
}

/*
 * Option values move through a kernel buffer: this much on the stack,
 * more allocated. KSP_OPTVAL_MAX bounds both: the largest value Linux
 * hands back on a socket is SO_PEERGROUPS with NGROUPS_MAX (65536) gids,
 * and no value Linux reads is longer (SO_BINDTODEVICE stops at IFNAMSIZ).
 */
#define OPTVAL_STACK	128
#define KSP_OPTVAL_MAX	(65536 * 4)

/* -- pieces -- */

/* See boundary.h. Linux's __import_iovec() and copy_iovec_from_user(). */
int
ksp__iov_import(struct ksp_iov *v, const struct ks_iovec *uiov, size_t n)
{
	size_t total = 0;
	int err;

	v->iov = v->fast;
	v->n = 0;
	v->total = 0;
	if (n > KSP_UIO_MAXIOV)
		return -KS_EINVAL;
	if (n == 0)
		return 0;
	if (n > KSP_UIO_FASTIOV) {
		v->iov = ks_port()->alloc(n * sizeof(*v->iov));
		if (v->iov == NULL) {
			v->iov = v->fast;
			return -KS_ENOMEM;
		}
	}
	v->n = n;
	err = from_user(v->iov, uiov, n * sizeof(*v->iov));
	if (err < 0)
		goto release;
	/* Every length is looked at before any range. */
	for (size_t i = 0; i < n; i++) {
		if (v->iov[i].iov_len > LONG_MAX) {
			err = -KS_EINVAL;
			goto release;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct ks_iovec *s = &v->iov[i];

		/* import_ubuf() caps one segment first and checks the
		 * capped range; __import_iovec() checks each whole one. */
		if (n == 1 && s->iov_len > KSP_RW_MAX)
			s->iov_len = KSP_RW_MAX;
		if (!ksp__user_range_ok(s->iov_base, s->iov_len)) {
			err = -KS_EFAULT;
			goto release;
		}
		if (s->iov_len > KSP_RW_MAX - total)
			s->iov_len = KSP_RW_MAX - total;
		total += s->iov_len;
	}
	v->total = total;
	return 0;

release:
	ksp__iov_release(v);
	return err;
}

/* See boundary.h. */
void
ksp__iov_release(struct ksp_iov *v)
{
	if (v->iov != v->fast)
		ks_port()->free(v->iov, v->n * sizeof(*v->iov));
	v->iov = v->fast;
	v->n = 0;
}

/* See boundary.h. move_addr_to_kernel(). */
int
ksp__addr_in(const void *uaddr, uint32_t len,
	     struct ks_sockaddr_storage *k)
{
	if ((int)len < 0 || len > sizeof(*k))
		return -KS_EINVAL;
	if (len == 0)
		return 0;
	return from_user(k, uaddr, len);
}

/* See boundary.h. move_addr_to_user(). */
int
ksp__addr_out(const void *k, uint32_t klen, void *uaddr,
	      uint32_t *ulen)
{
	uint32_t out = klen;
	int len, err;

	err = from_user(&len, ulen, sizeof(len));
	if (err < 0)
		return err;
	if (len > (int)klen)
		len = (int)klen;
	if (len < 0)
		return -KS_EINVAL;
	if (len > 0) {
		err = to_user(uaddr, k, (size_t)len);
		if (err < 0)
			return err;
	}
	return to_user(ulen, &out, sizeof(out));
}

/* -- sockets and names -- */

/* See boundary.h. __sys_socketpair(). */
int
ksp__sys_socketpair_flags(int type)
{
	if ((type & ~KS_SOCK_TYPE_MASK) & ~(KS_SOCK_CLOEXEC | KS_SOCK_NONBLOCK))
		return -KS_EINVAL;
	return 0;
}

/* See boundary.h. */
int
ksp__sys_socketpair_out(int *usv, int fd0, int fd1)
{
	int fd[2] = { fd0, fd1 };

	return to_user(usv, fd, sizeof(fd));
}

/* bind, or connect, to an address moved in from user memory. */
static int
addr_call(struct ks_sock *so, const void *uaddr, uint32_t len, bool connect)
{
	struct ks_sockaddr_storage k;
	int err;

	err = ksp__addr_in(uaddr, len, &k);
	if (err < 0)
		return err;
	return connect ? ks_connect(so, &k, len) : ks_bind(so, &k, len);
}

/* See boundary.h. __sys_bind(). */
int
ksp__sys_bind(struct ks_sock *so, const void *uaddr,
	      uint32_t len)
{
	return addr_call(so, uaddr, len, false);
}

/* See boundary.h. __sys_connect(). */
int
ksp__sys_connect(struct ks_sock *so, const void *uaddr,
		 uint32_t len)
{
	return addr_call(so, uaddr, len, true);
}

/* See boundary.h. __sys_accept4(). */
int
ksp__sys_accept_flags(int flags)
{
	return flags & ~(KS_SOCK_CLOEXEC | KS_SOCK_NONBLOCK) ? -KS_EINVAL : 0;
}

/* See boundary.h. do_accept(). */
int
ksp__sys_accept(struct ks_sock *so, int flags, struct ks_sock **out,
		void *uaddr, uint32_t *ulen)
{
	struct ks_sockaddr_storage k;
	uint32_t klen = sizeof(k);
	struct ks_sock *nso;
	int err;

	err = ksp__sys_accept_flags(flags);
	if (err < 0)
		return err;
	err = ks_accept(so, flags, &nso, uaddr != NULL ? &k : NULL,
			uaddr != NULL ? &klen : NULL);
	if (err < 0)
		return err;
	if (uaddr != NULL) {
		err = ksp__addr_out(&k, klen, uaddr, ulen);
		if (err < 0) {
			ks_close(nso);
			return err;
		}
	}
	*out = nso;
	return 0;
}

/* See boundary.h. __sys_getsockname() and __sys_getpeername(). */
int
ksp__sys_getname(struct ks_sock *so, void *uaddr, uint32_t *ulen,
		 bool peer)
{
	struct ks_sockaddr_storage k;
	uint32_t klen = sizeof(k);
	int err;

	err = peer ? ks_getpeername(so, &k, &klen) :
		     ks_getsockname(so, &k, &klen);
	if (err < 0)
		return err;
	return ksp__addr_out(&k, klen, uaddr, ulen);
}

/* A kernel buffer of @len bytes for an option value: @stack or an
 * allocation. Returns NULL when out of memory. */
static void *
optbuf(size_t len, unsigned char *stack)
{
	return len <= OPTVAL_STACK ? stack : ks_port()->alloc(len);
}

static void
optbuf_free(void *buf, size_t len, unsigned char *stack)
{
	if (buf != stack)
		ks_port()->free(buf, len);
}

/* See boundary.h. sk_getsockopt(): the length is read first, and
 * written back last. */
int
ksp__sys_getsockopt(struct ks_sock *so, int level, int name, void *uval,
		    uint32_t *ulen)
{
	unsigned char stack[OPTVAL_STACK];
	uint32_t len;
	uint32_t cap, klen;
	void *buf;
	int err;

	err = from_user(&len, ulen, sizeof(len));
	if (err < 0)
		return err;
	if ((int)len < 0)
		return -KS_EINVAL;
	cap = len > KSP_OPTVAL_MAX ? KSP_OPTVAL_MAX : len;
	buf = optbuf(cap, stack);
	if (buf == NULL)
		return -KS_ENOMEM;
	klen = cap;
	err = ks_getsockopt(so, level, name, buf, &klen);
	if (err >= 0)
		err = to_user(uval, buf, klen);
	if (err >= 0) {
		len = klen;
		err = to_user(ulen, &len, sizeof(len));
	}
	optbuf_free(buf, cap, stack);
	return err;
}

/* See boundary.h. __sys_setsockopt(). */
int
ksp__sys_setsockopt(struct ks_sock *so, int level, int name,
		    const void *uval, uint32_t len)
{
	unsigned char stack[OPTVAL_STACK];
	uint32_t klen;
	void *buf;
	int err;

	if ((int)len < 0)
		return -KS_EINVAL;
	klen = len > KSP_OPTVAL_MAX ? KSP_OPTVAL_MAX : len;
	buf = optbuf(klen, stack);
	if (buf == NULL)
		return -KS_ENOMEM;
	err = from_user(buf, uval, klen);
	if (err >= 0)
		err = ks_setsockopt(so, level, name, buf, klen);
	optbuf_free(buf, klen, stack);
	return err;
}

/* -- data -- */

/* A send of @v's segments; @name, @namelen, @control as the msghdr. */
static long
send_iov(struct ks_sock *so, struct ksp_iov *v, void *name, uint32_t namelen,
	 void *control, size_t controllen, int flags)
{
	struct ks_msghdr k = {
		.msg_name = name, .msg_namelen = namelen,
		.msg_iov = v->iov, .msg_iovlen = v->n,
		.msg_control = control, .msg_controllen = controllen,
	};

	return ks_sendmsg(so, &k, flags);
}

/*
 * __copy_msghdr() and import_iovec(): the msghdr at @umsg into @m, then
 * for a send (@name not NULL) its name into @name (*@namelen bytes),
 * then its iovec into @v, with Linux's checks in Linux's order.
 */
static int
msghdr_in(const struct ks_msghdr *umsg, struct ks_msghdr *m,
	  struct ks_sockaddr_storage *name, uint32_t *namelen,
	  struct ksp_iov *v)
{
	int err;

	err = from_user(m, umsg, sizeof(*m));
	if (err < 0)
		return err;
	*namelen = m->msg_name != NULL ? m->msg_namelen : 0;
	if ((int)*namelen < 0)
		return -KS_EINVAL;
	if (*namelen > sizeof(*name))
		*namelen = sizeof(*name);
	if (name != NULL && *namelen > 0) {
		err = from_user(name, m->msg_name, *namelen);
		if (err < 0)
			return err;
	}
	if (m->msg_iovlen > KSP_UIO_MAXIOV)
		return -KS_EMSGSIZE;
	return ksp__iov_import(v, m->msg_iov, m->msg_iovlen);
}

/*
 * ___sys_sendmsg(): the msghdr in, and the send. Flags in the msghdr's
 * msg_flags that @allowed names are added (sendmmsg takes MSG_EOR from
 * there). *@total: the bytes the iovec asked for.
 */
static long
send_msghdr(struct ks_sock *so, const struct ks_msghdr *umsg, int flags,
	    int allowed, size_t *total)
{
	struct ks_sockaddr_storage name;
	struct ksp_iov v;
	struct ks_msghdr m;
	uint32_t namelen;
	long n;
	int err;

	err = msghdr_in(umsg, &m, &name, &namelen, &v);
	if (err < 0)
		return err;
	*total = v.total;
	n = send_iov(so, &v, namelen > 0 ? &name : NULL, namelen,
		     m.msg_control, m.msg_controllen,
		     flags | (m.msg_flags & allowed));
	ksp__iov_release(&v);
	return n;
}

/*
 * ___sys_recvmsg(): the msghdr in, the receive, then the address,
 * msg_flags and msg_controllen out (a failure there loses the data that
 * was received, as on Linux).
 */
static long
recv_msghdr(struct ks_sock *so, struct ks_msghdr *umsg, int flags)
{
	struct ks_sockaddr_storage name;
	struct ks_msghdr k, m;
	struct ksp_iov v;
	size_t controllen;
	uint32_t namelen;
	long n;
	int err;

	err = msghdr_in(umsg, &m, NULL, &namelen, &v);
	if (err < 0)
		return err;
	k = (struct ks_msghdr){
		.msg_name = m.msg_name != NULL ? &name : NULL,
		.msg_namelen = m.msg_name != NULL ? sizeof(name) : 0,
		.msg_iov = v.iov, .msg_iovlen = v.n,
		.msg_control = m.msg_control,
		.msg_controllen = m.msg_controllen,
	};
	n = ks_recvmsg(so, &k, flags);
	ksp__iov_release(&v);
	if (n < 0)
		return n;
	if (m.msg_name != NULL) {
		err = ksp__addr_out(&name, k.msg_namelen, m.msg_name,
				    &umsg->msg_namelen);
		if (err < 0)
			return err;
	}
	err = to_user(&umsg->msg_flags, &k.msg_flags, sizeof(k.msg_flags));
	if (err < 0)
		return err;
	controllen = k.msg_controllen;
	err = to_user(&umsg->msg_controllen, &controllen, sizeof(controllen));
	return err < 0 ? err : n;
}

/* See boundary.h. */
long
ksp__sys_sendmsg(struct ks_sock *so, const struct ks_msghdr *umsg, int flags)
{
	size_t total;

	return send_msghdr(so, umsg, flags, 0, &total);
}

/* See boundary.h. */
long
ksp__sys_recvmsg(struct ks_sock *so, struct ks_msghdr *umsg, int flags)
{
	return recv_msghdr(so, umsg, flags);
}

/* One user buffer as an imported iovec: import_ubuf() (capped, then the
 * range checked). */
static int
ubuf_import(struct ksp_iov *v, void *ubuf, size_t len)
{
	if (len > KSP_RW_MAX)
		len = KSP_RW_MAX;
	if (!ksp__user_range_ok(ubuf, len))
		return -KS_EFAULT;
	v->fast[0] = (struct ks_iovec){ ubuf, len };
	v->iov = v->fast;
	v->n = 1;
	v->total = len;
	return 0;
}

/* See boundary.h. __sys_sendto(). */
long
ksp__sys_sendto(struct ks_sock *so, const void *ubuf, size_t len, int flags,
		const void *uaddr, uint32_t alen)
{
	struct ks_sockaddr_storage name;
	struct ksp_iov v;
	int err;

	err = ubuf_import(&v, (void *)ubuf, len);
	if (err < 0)
		return err;
	if (uaddr == NULL)
		return send_iov(so, &v, NULL, 0, NULL, 0, flags);
	err = ksp__addr_in(uaddr, alen, &name);
	if (err < 0)
		return err;
	return send_iov(so, &v, &name, alen, NULL, 0, flags);
}

/* See boundary.h. __sys_recvfrom(): the data is received before the
 * address goes out, and stays received if that fails. */
long
ksp__sys_recvfrom(struct ks_sock *so, void *ubuf, size_t len, int flags,
		  void *uaddr, uint32_t *ualen)
{
	struct ks_sockaddr_storage name;
	struct ks_msghdr k = { 0 };
	struct ksp_iov v;
	long n;
	int err;

	err = ubuf_import(&v, ubuf, len);
	if (err < 0)
		return err;
	k.msg_iov = v.iov;
	k.msg_iovlen = v.n;
	if (uaddr != NULL) {
		k.msg_name = &name;
		k.msg_namelen = sizeof(name);
	}
	n = ks_recvmsg(so, &k, flags);
	if (n < 0 || uaddr == NULL)
		return n;
	err = ksp__addr_out(&name, k.msg_namelen, uaddr, ualen);
	return err < 0 ? err : n;
}

/* See boundary.h. __sys_sendmmsg(): stops at the first error, or after
 * a message that went only in part; the error only when nothing went. */
int
ksp__sys_sendmmsg(struct ks_sock *so, struct ksp_mmsghdr *uvec,
		  unsigned int vlen, int flags)
{
	unsigned int i;
	long n = 0;

	if (vlen > KSP_UIO_MAXIOV)
		vlen = KSP_UIO_MAXIOV;
	for (i = 0; i < vlen; i++) {
		unsigned int sent;
		size_t total = 0;

		n = send_msghdr(so, &uvec[i].msg_hdr, flags, KS_MSG_EOR, &total);
		if (n < 0)
			break;
		sent = (unsigned int)n;
		n = to_user(&uvec[i].msg_len, &sent, sizeof(sent));
		if (n < 0)
			break;
		if ((size_t)sent < total) {
			i++;
			break;
		}
	}
	return i > 0 ? (int)i : (int)n;
}

/* See boundary.h. do_recvmmsg(): the timeout is looked at after each
 * message, and what is left of it written back. */
int
ksp__sys_recvmmsg(struct ks_sock *so, struct ksp_mmsghdr *uvec,
		  unsigned int vlen, int flags, struct ksp_timespec *utimeout)
{
	struct ksp_timespec ts;
	int64_t deadline = -1, left, now;
	unsigned int i;
	long n = 0;
	int err;

	if (utimeout != NULL) {
		err = from_user(&ts, utimeout, sizeof(ts));
		if (err < 0)
			return err;
		if (ts.tv_sec < 0 || ts.tv_nsec < 0 ||
		    ts.tv_nsec >= 1000000000)
			return -KS_EINVAL;
		now = ks_port()->now();
		/* A timeout past the clock's range never ends. */
		if (ts.tv_sec >= (INT64_MAX - now) / 1000000000)
			deadline = INT64_MAX;
		else
			deadline = now + ts.tv_sec * 1000000000LL + ts.tv_nsec;
	}
	if (vlen > KSP_UIO_MAXIOV)
		vlen = KSP_UIO_MAXIOV;
	for (i = 0; i < vlen; i++) {
		unsigned int got;

		n = recv_msghdr(so, &uvec[i].msg_hdr,
				flags & ~KSP_MSG_WAITFORONE);
		if (n < 0)
			break;
		got = (unsigned int)n;
		n = to_user(&uvec[i].msg_len, &got, sizeof(got));
		if (n < 0)
			break;
		if (flags & KSP_MSG_WAITFORONE)
			flags |= KS_MSG_DONTWAIT;
		if (deadline >= 0 && ks_port()->now() >= deadline) {
			i++;
			break;
		}
	}
	if (i == 0 && n < 0)
		return (int)n;
	if (utimeout != NULL) {
		left = deadline == INT64_MAX ? deadline :
		       deadline - ks_port()->now();
		if (left < 0)
			left = 0;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		if (to_user(utimeout, &ts, sizeof(ts)) < 0)
			return -KS_EFAULT;
	}
	return (int)i;
}

/* See boundary.h. vfs_read(), vfs_write() and sock_read_iter(): the
 * uncapped range is checked, and reading nothing returns at once (writing
 * nothing still sends: an empty datagram or record). */
int
ksp__rw_begin(const void *ubuf, size_t len, bool write)
{
	if (!ksp__user_range_ok(ubuf, len))
		return -KS_EFAULT;
	return !write && len == 0 ? 1 : 0;
}

/* See boundary.h. */
long
ksp__sys_read(struct ks_sock *so, void *ubuf, size_t len)
{
	struct ksp_iov v;
	struct ks_msghdr k = { 0 };
	int err;

	err = ksp__rw_begin(ubuf, len, false);
	if (err != 0)
		return err < 0 ? err : 0;
	ubuf_import(&v, ubuf, len);
	k.msg_iov = v.iov;
	k.msg_iovlen = v.n;
	return ks_recvmsg(so, &k, 0);
}

/* A write to @so: sock_write_iter() marks a seqpacket write as a record. */
static long
write_iov(struct ks_sock *so, struct ksp_iov *v)
{
	return send_iov(so, v, NULL, 0, NULL, 0,
			ks_sock_type(so) == KS_SOCK_SEQPACKET ? KS_MSG_EOR : 0);
}

/* See boundary.h. vfs_write(). */
long
ksp__sys_write(struct ks_sock *so, const void *ubuf, size_t len)
{
	struct ksp_iov v;
	int err;

	err = ksp__rw_begin(ubuf, len, true);
	if (err < 0)
		return err;
	ubuf_import(&v, (void *)ubuf, len);
	return write_iov(so, &v);
}

/* See boundary.h. vfs_readv() and vfs_writev(): an iovec of nothing
 * moves nothing, and returns 0 at once (unlike write(), which sends an
 * empty message). */
int
ksp__rwv_begin(struct ksp_iov *v, const struct ks_iovec *uiov, int iovcnt)
{
	int err;

	if (iovcnt < 0)
		return -KS_EINVAL;
	err = ksp__iov_import(v, uiov, (size_t)iovcnt);
	if (err < 0)
		return err;
	return v->total == 0 ? 1 : 0;
}

/* readv or writev on @so. */
static long
rw_iov(struct ks_sock *so, const struct ks_iovec *uiov, int iovcnt, bool write)
{
	struct ks_msghdr k = { 0 };
	struct ksp_iov v;
	long n;
	int err;

	err = ksp__rwv_begin(&v, uiov, iovcnt);
	if (err < 0)
		return err;
	k.msg_iov = v.iov;
	k.msg_iovlen = v.n;
	if (err > 0)
		n = 0;
	else if (write)
		n = write_iov(so, &v);
	else
		n = ks_recvmsg(so, &k, 0);
	ksp__iov_release(&v);
	return n;
}

/* See boundary.h. */
long
ksp__sys_readv(struct ks_sock *so, const struct ks_iovec *uiov, int iovcnt)
{
	return rw_iov(so, uiov, iovcnt, false);
}

/* See boundary.h. */
long
ksp__sys_writev(struct ks_sock *so, const struct ks_iovec *uiov, int iovcnt)
{
	return rw_iov(so, uiov, iovcnt, true);
}

/* -- the socket's owner: fcntl and ioctl on its file -- */

/* Linux's F_OWNER_* (struct f_owner_ex's type). */
#define KSP_F_OWNER_TID		0
#define KSP_F_OWNER_PID		1
#define KSP_F_OWNER_PGRP	2

/* Layout of struct f_owner_ex. */
struct ksp_owner_ex {
	int	type;
	int	pid;
};

/* See boundary.h: f_setown(), which reads F_SETOWN's argument as an
 * int. */
int
ksp__sys_setown(struct ks_sock *so, long arg)
{
	int who = (int)arg;

	if (who == INT_MIN)
		return -KS_EINVAL;
	if (who != 0 && !ks_port()->pid_exists(who < 0 ? -who : who))
		return -KS_ESRCH;
	ks_set_owner(so, who);
	return 0;
}

/*
 * See boundary.h: f_setown_ex() and f_getown_ex(). A thread owner is
 * kept as its process, which is where ksock sends SIGURG (so F_GETOWN_EX
 * says F_OWNER_PID for it).
 */
int
ksp__sys_owner_ex(struct ks_sock *so, bool set, void *uox)
{
	struct ksp_owner_ex ox;
	int32_t owner;

	if (!set) {
		owner = ks_get_owner(so);
		ox.type = owner < 0 ? KSP_F_OWNER_PGRP : KSP_F_OWNER_PID;
		ox.pid = owner < 0 ? -owner : owner;
		return to_user(uox, &ox, sizeof(ox));
	}
	if (from_user(&ox, uox, sizeof(ox)) < 0)
		return -KS_EFAULT;
	if (ox.type != KSP_F_OWNER_TID && ox.type != KSP_F_OWNER_PID &&
	    ox.type != KSP_F_OWNER_PGRP)
		return -KS_EINVAL;
	/* find_vpid(): a negative number names no process. */
	if (ox.pid != 0 && (ox.pid < 0 || !ks_port()->pid_exists(ox.pid)))
		return -KS_ESRCH;
	ks_set_owner(so, ox.type == KSP_F_OWNER_PGRP ? -ox.pid : ox.pid);
	return 0;
}

/* Linux's FIOSETOWN, SIOCSPGRP, FIOGETOWN, SIOCGPGRP. */
#define KSP_FIOSETOWN	0x8901
#define KSP_SIOCSPGRP	0x8902
#define KSP_FIOGETOWN	0x8903
#define KSP_SIOCGPGRP	0x8904

/* See boundary.h: sock_ioctl()'s owner commands. */
int
ksp__sys_owner_ioctl(struct ks_sock *so, unsigned long req, void *uarg)
{
	int v;

	switch (req) {
	case KSP_FIOSETOWN:
	case KSP_SIOCSPGRP:
		if (from_user(&v, uarg, sizeof(v)) < 0)
			return -KS_EFAULT;
		return ksp__sys_setown(so, v);
	case KSP_FIOGETOWN:
	case KSP_SIOCGPGRP:
		v = ks_get_owner(so);
		return to_user(uarg, &v, sizeof(v));
	}
	return -KS_ENOTTY;
}

/* See boundary.h. */
long
ksp__sys_call(struct ks_sock *so, enum ksp_sys call, const long a[5])
{
	void *p1 = (void *)a[0], *p3 = (void *)a[2], *p4 = (void *)a[3];

	switch (call) {
	case KSP_SYS_BIND:
		return ksp__sys_bind(so, p1, (uint32_t)a[1]);
	case KSP_SYS_CONNECT:
		return ksp__sys_connect(so, p1, (uint32_t)a[1]);
	case KSP_SYS_LISTEN:
		return ks_listen(so, (int)a[0]);
	case KSP_SYS_SHUTDOWN:
		return ks_shutdown(so, (int)a[0]);
	case KSP_SYS_GETSOCKNAME:
	case KSP_SYS_GETPEERNAME:
		return ksp__sys_getname(so, p1, (uint32_t *)(void *)a[1],
					call == KSP_SYS_GETPEERNAME);
	case KSP_SYS_GETSOCKOPT:
		return ksp__sys_getsockopt(so, (int)a[0], (int)a[1], p3, p4);
	case KSP_SYS_SETSOCKOPT:
		return ksp__sys_setsockopt(so, (int)a[0], (int)a[1], p3,
					   (uint32_t)a[3]);
	case KSP_SYS_SENDMSG:
		return ksp__sys_sendmsg(so, p1, (int)a[1]);
	case KSP_SYS_RECVMSG:
		return ksp__sys_recvmsg(so, p1, (int)a[1]);
	case KSP_SYS_SENDTO:
		return ksp__sys_sendto(so, p1, (size_t)a[1], (int)a[2], p4,
				       (uint32_t)a[4]);
	case KSP_SYS_RECVFROM:
		return ksp__sys_recvfrom(so, p1, (size_t)a[1], (int)a[2], p4,
					 (uint32_t *)(void *)a[4]);
	case KSP_SYS_SENDMMSG:
		return ksp__sys_sendmmsg(so, p1, (unsigned int)a[1], (int)a[2]);
	case KSP_SYS_RECVMMSG:
		return ksp__sys_recvmmsg(so, p1, (unsigned int)a[1], (int)a[2],
					 p4);
	case KSP_SYS_READ:
		return ksp__sys_read(so, p1, (size_t)a[1]);
	case KSP_SYS_WRITE:
		return ksp__sys_write(so, p1, (size_t)a[1]);
	case KSP_SYS_READV:
		return ksp__sys_readv(so, p1, (int)a[1]);
	case KSP_SYS_WRITEV:
		return ksp__sys_writev(so, p1, (int)a[1]);
	}
	return -KS_ENOSYS;
}

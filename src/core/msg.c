/*
 * Data movement: iovec cursors over user memory (through the port's copy
 * hooks) and message buffers charged to their sender.
 *
 * A message is one allocation, header and payload together, made by the
 * sender and freed by whoever consumes it, with no lock held (freeing
 * uncharges the sender and may take the sender's lock to wake it).
 *
 * Locks: none held here, except that ks__sock_write_space() takes the
 * sender's lock, and only when someone waits on it.
 */
#include "core/core.h"

/* See core.h. */
int
ks__iter_init(struct ks_iter *it, const struct ks_msghdr *msg)
{
	size_t total = 0;

	if (msg->msg_iovlen > KS_IOV_MAX)
		return -KS_EMSGSIZE;
	for (size_t i = 0; i < msg->msg_iovlen; i++) {
		size_t len = msg->msg_iov[i].iov_len;

		if (len > (size_t)LONG_MAX)
			return -KS_EINVAL;
		/* Linux caps the transfer rather than failing. */
		if (len > KS_RW_MAX - total)
			len = KS_RW_MAX - total;
		total += len;
	}
	it->iov = msg->msg_iov;
	it->nr = msg->msg_iovlen;
	it->off = 0;
	it->count = total;
	return 0;
}

/* Skips exhausted segments so it->iov points at bytes to move. */
static void
iter_settle(struct ks_iter *it)
{
	while (it->nr > 0 && it->off >= it->iov->iov_len) {
		it->iov++;
		it->nr--;
		it->off = 0;
	}
}

/* See core.h. */
int
ks__iter_copy_from(struct ks_iter *it, void *dst, size_t n)
{
	unsigned char *d = dst;

	/* Past it->count there is no segment left to settle on. */
	if (n > it->count)
		n = it->count;

	while (n > 0) {
		size_t chunk;

		iter_settle(it);
		chunk = it->iov->iov_len - it->off;
		if (chunk > n)
			chunk = n;
		if (ks__port->copy_from_user(d, (const char *)it->iov->iov_base +
					     it->off, chunk) < 0)
			return -KS_EFAULT;
		it->off += chunk;
		it->count -= chunk;
		d += chunk;
		n -= chunk;
	}
	return 0;
}

/* See core.h. */
int
ks__iter_copy_to(struct ks_iter *it, const void *src, size_t n)
{
	const unsigned char *s = src;

	/* Past it->count there is no segment left to settle on. */
	if (n > it->count)
		n = it->count;

	while (n > 0) {
		size_t chunk;

		iter_settle(it);
		chunk = it->iov->iov_len - it->off;
		if (chunk > n)
			chunk = n;
		if (ks__port->copy_to_user((char *)it->iov->iov_base + it->off,
					   s, chunk) < 0)
			return -KS_EFAULT;
		it->off += chunk;
		it->count -= chunk;
		s += chunk;
		n -= chunk;
	}
	return 0;
}

/* See core.h. */
int
ks__iter_move(struct ks_iter *dst, struct ks_iter *src, void *owner,
	      size_t n, size_t *moved)
{
	*moved = 0;
	if (n > dst->count)
		n = dst->count;
	if (n > src->count)
		n = src->count;
	while (n > 0) {
		size_t chunk;
		int err;

		iter_settle(dst);
		iter_settle(src);
		chunk = dst->iov->iov_len - dst->off;
		if (chunk > src->iov->iov_len - src->off)
			chunk = src->iov->iov_len - src->off;
		if (chunk > n)
			chunk = n;
		err = ks__port->copy_user_cross(
			(char *)dst->iov->iov_base + dst->off, owner,
			(const char *)src->iov->iov_base + src->off, chunk);
		if (err < 0)
			return err == -KS_EACCES ? -KS_EACCES : -KS_EFAULT;
		dst->off += chunk;
		dst->count -= chunk;
		src->off += chunk;
		src->count -= chunk;
		*moved += chunk;
		n -= chunk;
	}
	return 0;
}

/*
 * Where large payloads start. glibc's memcpy on the AMD EPYC we measure
 * on runs at 3 GB/s instead of 45 when the destination is 8 to 24 bytes
 * past the source modulo 4 KiB (its loads wait on the stores just made).
 * A payload of KS_MBUF_ALIGN_MIN bytes or more starts at the sender's
 * source offset modulo 64 (to 8 bytes, which the header needs), so the
 * copy in never falls into that window and runs between mutually aligned
 * buffers; copies out to buffers aligned as the sender's are safe too.
 * Smaller messages keep the header right at the allocation.
 */
#define KS_MBUF_ALIGN		64
#define KS_MBUF_ALIGN_MIN	512
#define KS_MBUF_HDR		offsetof(struct ks_mbuf, data)

/* What a message of @len bytes allocates beyond header and payload. */
static size_t
mbuf_slack(size_t len)
{
	return len >= KS_MBUF_ALIGN_MIN ?
	       KS_MBUF_ALIGN - _Alignof(struct ks_mbuf) : 0;
}

/* See core.h. */
int
ks__mbuf_alloc(size_t len, uint32_t truesize, struct ks_mbuf **out)
{
	return ks__mbuf_alloc_like(len, truesize, NULL, out);
}

/* See core.h. */
int
ks__mbuf_alloc_like(size_t len, uint32_t truesize, const void *like,
		    struct ks_mbuf **out)
{
	size_t slack = mbuf_slack(len);
	struct ks_mbuf *m;
	uintptr_t raw, data, want;

	if (len > UINT32_MAX - KS_MBUF_HDR - slack)
		return -KS_ENOBUFS;
	raw = (uintptr_t)ks__alloc(KS_MBUF_HDR + len + slack);
	if (raw == 0)
		return -KS_ENOBUFS;
	data = raw + KS_MBUF_HDR;
	if (slack != 0) {
		/* The first address at or past @data with @want's offset:
		 * at most slack bytes on, as both are multiples of the
		 * header's alignment. */
		want = (uintptr_t)like & (KS_MBUF_ALIGN - 1) &
		       ~(uintptr_t)(_Alignof(struct ks_mbuf) - 1);
		data += (want - data) & (KS_MBUF_ALIGN - 1);
	}
	m = (struct ks_mbuf *)(data - KS_MBUF_HDR);
	m->headroom = (uint32_t)(data - KS_MBUF_HDR - raw);
	m->peeked = 0;
	m->tstamp = 0;
	m->next = NULL;
	m->owner = NULL;
	m->anc = NULL;
	m->pid = 0;
	m->uid = m->gid = 0;
	m->len = (uint32_t)len;
	m->off = 0;
	m->truesize = truesize;
	*out = m;
	return 0;
}

/* See core.h. */
void
ks__mbuf_charge(struct ks_mbuf *m, struct ks_sock *so)
{
	ks_sock_hold(so);
	m->owner = so;
	atomic_fetch_add(&so->wmem, (long)m->truesize);
}

/* See core.h. */
void
ks__sock_write_space(struct ks_sock *so)
{
	unsigned events;

	if (!ks__has_waiters(so))
		return;
	/* Blocked senders may go on as soon as they are under SO_SNDBUF,
	 * which keeps the pipe full; poll hears of it at a quarter, as on
	 * Linux. */
	if (ks__sock_writable(so))
		events = KS_POLLOUT | KS_POLLWRNORM | KS_POLLWRBAND |
			 KS__WAKE_SPACE;
	else if (atomic_load(&so->wmem) < atomic_load(&so->sndbuf))
		events = KS__WAKE_SPACE;
	else
		return;
	ks__lock(so);
	ks__wake_locked(so, events);
	ks__unlock(so);
}

/* See core.h. */
void
ks__mbuf_free(struct ks_mbuf *m)
{
	struct ks_sock *owner = m->owner;

	if (m->anc != NULL)
		m->anc->ops->release(m->anc);
	if (owner != NULL) {
		atomic_fetch_sub(&owner->wmem, (long)m->truesize);
		ks__sock_write_space(owner);
		ks_sock_release(owner);
	}
	ks__free((char *)m - m->headroom,
		 KS_MBUF_HDR + m->len + mbuf_slack(m->len));
}

/* See core.h. */
void
ks__mbuf_free_chain(struct ks_mbuf *m)
{
	while (m != NULL) {
		struct ks_mbuf *next = m->next;

		ks__mbuf_free(m);
		m = next;
	}
}

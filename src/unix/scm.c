/*
 * AF_UNIX ancillary data: SCM_RIGHTS and SCM_CREDENTIALS, on the way in
 * (parsing a send's control buffer, attaching descriptors and credentials
 * to a message) and on the way out (filling a read's control buffer).
 *
 * Sending. The control buffer is user memory: it is read header by header
 * through the port's copy hook, never as a whole and never past
 * msg_controllen, with Linux's rules: a header must fit, cmsg_len must
 * cover the header and stay within the buffer (at every level), other
 * levels are skipped, and 16 or more bytes left after the last header
 * are read as a header of length 0 (EINVAL). Descriptors are looked up
 * and held at once (EBADF in order), into a parse list of at most
 * KS_SCM_MAX_FD summed over headers. Attaching moves them into a list of
 * exactly their size with the message, charged to the sender's user;
 * queueing enters the sockets among them in the in-flight graph (gc.c)
 * and adds the sender's credentials where Linux's maybe_add_creds()
 * would.
 *
 * Receiving. Credentials come first, then the descriptors, installed as
 * new descriptors of the caller in order until the buffer is full; the
 * rest are closed and MSG_CTRUNC says so (put_cmsg() and
 * scm_detach_fds()). A peek installs duplicates and leaves the message
 * its own; it takes a reference to the list, so the list outlives a
 * reader consuming the message meanwhile, and passes the collector's
 * barrier between taking its file references and installing them.
 *
 * Locks: none of the port's file hooks run with a lock held. Queueing
 * runs under the receiver's lock and takes the gc lock inside it.
 */
#include "unix/unix.h"

/* Descriptors parsed from one control buffer, each file held. */
struct unix_fplist {
	uint16_t	 count;
	uint16_t	 count_unix;
	struct ks_file	*fp[KS_SCM_MAX_FD];
};

#define CMSG_HDR	sizeof(struct ks_cmsghdr)

static bool
file_is_unix_socket(struct ks_file *f)
{
	struct ks_sock *so = ks__port->file_sock(f);

	return so != NULL && ks_sock_family(so) == KS_AF_UNIX;
}

static void
fplist_free(struct unix_fplist *l)
{
	for (unsigned i = 0; i < l->count; i++)
		ks__port->file_put(l->fp[i]);
	ks__free(l, sizeof(*l));
}

/* SCM_RIGHTS: Linux's scm_fp_copy(). @data is the header's payload. */
static int
parse_rights(struct unix_scm *scm, const unsigned char *data, size_t cmsg_len)
{
	size_t num = (cmsg_len - CMSG_HDR) / sizeof(int);
	struct unix_fplist *l = scm->files;

	if (num == 0)
		return 0;
	if (num > KS_SCM_MAX_FD)
		return -KS_EINVAL;
	if (l == NULL) {
		l = ks__alloc(sizeof(*l));
		if (l == NULL)
			return -KS_ENOMEM;
		l->count = 0;
		l->count_unix = 0;
		scm->files = l;
	}
	if (l->count + num > KS_SCM_MAX_FD)
		return -KS_EINVAL;
	for (size_t i = 0; i < num; i++) {
		struct ks_file *f;
		int fd;

		if (ks__port->copy_from_user(&fd, data + i * sizeof(int),
					     sizeof(fd)) < 0)
			return -KS_EFAULT;
		if (fd < 0 || ks__port->file_get(fd, &f) < 0)
			return -KS_EBADF;
		if (file_is_unix_socket(f))
			l->count_unix++;
		l->fp[l->count++] = f;
	}
	return 0;
}

static bool
is_one_of(uint32_t id, uint32_t a, uint32_t b, uint32_t c)
{
	return id == a || id == b || id == c;
}

/* SCM_CREDENTIALS: Linux's scm_check_creds() and the pid lookup, in its
 * order: invalid ids, then permission, then whether the pid exists. */
static int
parse_creds(struct unix_scm *scm, const unsigned char *data, size_t cmsg_len)
{
	struct ks_ucred uc;
	struct ks_cred self;
	bool pid_ok, uid_ok, gid_ok;

	if (cmsg_len != KS_CMSG_LEN(sizeof(uc)))
		return -KS_EINVAL;
	if (ks__port->copy_from_user(&uc, data, sizeof(uc)) < 0)
		return -KS_EFAULT;
	if (uc.uid == UINT32_MAX || uc.gid == UINT32_MAX)
		return -KS_EINVAL;
	ks__port->cred(&self);
	pid_ok = uc.pid == self.pid || ks__port->capable(KS_CAP_SYS_ADMIN);
	uid_ok = is_one_of(uc.uid, self.uid, self.euid, self.suid) ||
		 ks__port->capable(KS_CAP_SETUID);
	gid_ok = is_one_of(uc.gid, self.gid, self.egid, self.sgid) ||
		 ks__port->capable(KS_CAP_SETGID);
	if (!pid_ok || !uid_ok || !gid_ok)
		return -KS_EPERM;
	if (uc.pid != self.pid && !ks__port->pid_exists(uc.pid))
		return -KS_ESRCH;
	scm->has_creds = true;
	scm->creds = uc;
	return 0;
}

/* See scm.h. */
int
ks__unix_scm_send(const struct ks_msghdr *msg, struct unix_scm *scm)
{
	const unsigned char *ctl = msg->msg_control;
	size_t len = msg->msg_controllen, off = 0;
	int err = 0;

	scm->files = NULL;
	scm->has_creds = false;
	if (len == 0)
		return 0;
	if (len >= UNIX_OPTMEM_MAX)
		return -KS_ENOBUFS;
	if (ctl == NULL)
		return -KS_EFAULT;
	/* CMSG_FIRSTHDR / CMSG_NXTHDR: a header is there while it fits. */
	while (off <= len && len - off >= CMSG_HDR) {
		struct ks_cmsghdr h;

		if (ks__port->copy_from_user(&h, ctl + off, sizeof(h)) < 0) {
			err = -KS_EFAULT;
			goto destroy;
		}
		/* CMSG_OK(), checked before the level. */
		if (h.cmsg_len < CMSG_HDR || h.cmsg_len > len - off) {
			err = -KS_EINVAL;
			goto destroy;
		}
		if (h.cmsg_level == KS_SOL_SOCKET) {
			switch (h.cmsg_type) {
			case KS_SCM_RIGHTS:
				err = parse_rights(scm, ctl + off + CMSG_HDR,
						   h.cmsg_len);
				break;
			case KS_SCM_CREDENTIALS:
				err = parse_creds(scm, ctl + off + CMSG_HDR,
						  h.cmsg_len);
				break;
			default:
				err = -KS_EINVAL;
				break;
			}
			if (err < 0)
				goto destroy;
		}
		off += KS_CMSG_ALIGN(h.cmsg_len);
	}
	return 0;

destroy:
	ks__unix_scm_destroy(scm);
	return err;
}

/* See scm.h. */
void
ks__unix_scm_destroy(struct unix_scm *scm)
{
	if (scm->files != NULL)
		fplist_free(scm->files);
	scm->files = NULL;
}

/* See scm.h. */
void
ks__unix_scm_set_creds(const struct unix_scm *scm, struct ks_mbuf *m)
{
	if (scm->has_creds) {
		m->pid = scm->creds.pid;
		m->uid = scm->creds.uid;
		m->gid = scm->creds.gid;
	} else {
		m->pid = UNIX_CRED_NONE_PID;
		m->uid = UNIX_CRED_NONE_ID;
		m->gid = UNIX_CRED_NONE_ID;
	}
}

static size_t
fpl_size(unsigned count, unsigned count_unix)
{
	return sizeof(struct unix_fpl) + count * sizeof(struct ks_file *) +
	       count_unix * sizeof(struct unix_edge);
}

/* ks_anc release: the message is freed (or was never queued). */
static void
fpl_release(struct ks_anc *anc)
{
	struct unix_fpl *fpl = (struct unix_fpl *)(void *)anc;

	if (atomic_fetch_sub(&fpl->refs, 1) != 1)
		return;
	ks__unix_gc_del_edges(fpl);
	ks__unix_user_uncharge(fpl->user, fpl->count);
	ks__unix_fpl_put_files(fpl);
}

static const struct ks_anc_ops fpl_ops = {
	.release = fpl_release,
};

/* Drops the caller's reference to @fpl. No lock held. */
static void
fpl_put(struct unix_fpl *fpl)
{
	fpl_release(&fpl->anc);
}

/* See scm.h. */
int
ks__unix_scm_attach_fds(struct unix_scm *scm, struct ks_mbuf *m,
			const struct ks_cred *cred)
{
	struct unix_fplist *l = scm->files;
	struct unix_fpl *fpl;
	unsigned e = 0;
	int err;

	if (l == NULL)
		return 0;
	fpl = ks__alloc(fpl_size(l->count, l->count_unix));
	if (fpl == NULL)
		return -KS_ENOMEM;
	err = ks__unix_user_charge(cred->uid, l->count, &fpl->user);
	if (err < 0)
		goto free_fpl;
	fpl->anc.ops = &fpl_ops;
	atomic_init(&fpl->refs, 1);
	fpl->receiver = NULL;
	fpl->drain_next = NULL;
	fpl->count = l->count;
	fpl->count_unix = l->count_unix;
	fpl->edges = (struct unix_edge *)(void *)&fpl->fp[l->count];
	for (unsigned i = 0; i < l->count; i++) {
		struct ks_file *f = l->fp[i];

		fpl->fp[i] = f;
		if (file_is_unix_socket(f)) {
			struct unix_edge *edge = &fpl->edges[e++];

			edge->pred = unix_sk(ks__port->file_sock(f));
			edge->fpl = fpl;
			edge->file = f;
			edge->next = edge->prev = NULL;
		}
	}
	err = ks__unix_gc_prepare(fpl);
	if (err < 0)
		goto uncharge;
	/* The references moved with the files. */
	ks__free(l, sizeof(*l));
	scm->files = NULL;
	m->anc = &fpl->anc;
	return 0;

uncharge:
	ks__unix_user_uncharge(fpl->user, l->count);
free_fpl:
	ks__free(fpl, fpl_size(l->count, l->count_unix));
	return err;
}

/* Whether Linux's unix_passcred_enabled() holds. Lock of @other held. */
static bool
passcred_enabled_locked(struct unix_sock *other, bool sender_passcred)
{
	return sender_passcred || other->embryo ||
	       unix_may_passcred_locked(&other->base);
}

/* See scm.h. */
void
ks__unix_scm_queue_locked(struct ks_mbuf *m, struct unix_sock *other,
			  bool sender_passcred, const struct ks_cred *cred,
			  struct unix_gc_todo *todo)
{
	todo->kill = NULL;
	todo->full = false;
	if (m->pid == UNIX_CRED_NONE_PID && m->uid == UNIX_CRED_NONE_ID &&
	    passcred_enabled_locked(other, sender_passcred)) {
		m->pid = cred->pid;
		m->uid = cred->uid;
		m->gid = cred->gid;
	}
	if (m->anc != NULL)
		ks__unix_gc_add_edges((struct unix_fpl *)(void *)m->anc, other,
				      todo);
}

/* See scm.h. */
uint32_t
ks__unix_anc_nfds(const struct ks_anc *anc)
{
	return ((const struct unix_fpl *)(const void *)anc)->count;
}

/* See scm.h. */
struct unix_fpl *
ks__unix_scm_detach(struct ks_mbuf *m)
{
	struct unix_fpl *fpl = (struct unix_fpl *)(void *)m->anc;

	m->anc = NULL;
	return fpl;
}

/* See scm.h. */
struct unix_fpl *
ks__unix_scm_peek(struct ks_mbuf *m)
{
	struct unix_fpl *fpl = (struct unix_fpl *)(void *)m->anc;

	if (fpl != NULL)
		atomic_fetch_add(&fpl->refs, 1);
	return fpl;
}

/* See scm.h. */
void
ks__unix_scm_drop(struct unix_fpl *fpl)
{
	if (fpl != NULL)
		fpl_put(fpl);
}

/* Where a read's control data goes: Linux's msg_control cursor. */
struct ctl_out {
	unsigned char	*ptr;	/* user memory */
	size_t		 left;
	bool		 trunc;
};

/* put_cmsg(): a header and @len bytes, truncated to what is left.
 * Returns 0, or -KS_EFAULT when the buffer faults (the cursor stays). */
static int
put_cmsg(struct ctl_out *c, int type, const void *data, size_t len)
{
	struct ks_cmsghdr h;
	size_t cmlen = KS_CMSG_LEN(len), adv;

	if (c->ptr == NULL || c->left < CMSG_HDR) {
		c->trunc = true;
		return 0;
	}
	if (c->left < cmlen) {
		c->trunc = true;
		cmlen = c->left;
	}
	ks__memset(&h, 0, sizeof(h));
	h.cmsg_len = cmlen;
	h.cmsg_level = KS_SOL_SOCKET;
	h.cmsg_type = type;
	if (ks__port->copy_to_user(c->ptr, &h, sizeof(h)) < 0 ||
	    ks__port->copy_to_user(c->ptr + CMSG_HDR, data,
				   cmlen - CMSG_HDR) < 0)
		return -KS_EFAULT;
	adv = KS_CMSG_SPACE(len) < c->left ? KS_CMSG_SPACE(len) : c->left;
	c->ptr += adv;
	c->left -= adv;
	return 0;
}

/* scm_detach_fds(): installs what fits; the list keeps its references
 * (the caller drops them). */
static void
put_rights(struct ctl_out *c, struct unix_fpl *fpl, int flags)
{
	int oflags = (flags & KS_MSG_CMSG_CLOEXEC) ? KS_O_CLOEXEC : 0;
	size_t fdmax = 0;
	unsigned i;

	if (c->ptr == NULL) {
		c->trunc = true;
		return;
	}
	if (c->left > CMSG_HDR)
		fdmax = (c->left - CMSG_HDR) / sizeof(int);
	if (fdmax > fpl->count)
		fdmax = fpl->count;
	for (i = 0; i < fdmax; i++) {
		unsigned char *slot = c->ptr + CMSG_HDR + i * sizeof(int);
		int fd = -1;

		/* Linux (5.10 and later) installs a descriptor only once its
		 * number is written; the port installs at once, so the slot
		 * is tried first, and a buffer that faults gets none. (One
		 * unmapped between the two writes keeps the descriptor,
		 * unknown to the program.) */
		if (ks__port->copy_to_user(slot, &fd, sizeof(fd)) < 0)
			break;
		fd = ks__port->file_install(fpl->fp[i], oflags);
		if (fd < 0)
			break;
		if (ks__port->copy_to_user(slot, &fd, sizeof(fd)) < 0)
			break;
	}
	if (i > 0) {
		struct ks_cmsghdr h;
		size_t adv = KS_CMSG_SPACE(i * sizeof(int));

		ks__memset(&h, 0, sizeof(h));
		h.cmsg_len = KS_CMSG_LEN(i * sizeof(int));
		h.cmsg_level = KS_SOL_SOCKET;
		h.cmsg_type = KS_SCM_RIGHTS;
		if (ks__port->copy_to_user(c->ptr, &h, sizeof(h)) == 0) {
			if (adv > c->left)
				adv = c->left;
			c->ptr += adv;
			c->left -= adv;
		}
	}
	if (i < fpl->count)
		c->trunc = true;
}

/* A peek's own references to @fpl's files, taken before the barrier so
 * that a collection starting after it sees them (Linux's
 * unix_peek_fds()). */
static void
peek_hold_files(struct unix_fpl *fpl)
{
	if (fpl->count_unix == 0)
		return;
	for (unsigned i = 0; i < fpl->count; i++)
		ks__port->file_hold(fpl->fp[i]);
	ks__unix_gc_barrier();
}

static void
peek_put_files(struct unix_fpl *fpl)
{
	if (fpl->count_unix == 0)
		return;
	for (unsigned i = 0; i < fpl->count; i++)
		ks__port->file_put(fpl->fp[i]);
}

/*
 * SO_PASSPIDFD: SCM_PIDFD, a new pidfd for the sender (Linux's
 * scm_pidfd_recv()): MSG_CTRUNC if its header and int do not fit;
 * nothing for a message that carried no credentials; a pidfd the host
 * could not make goes as its negative errno, as on Linux. No lock held.
 */
static void
put_pidfd(struct ctl_out *c, const struct unix_rcv_creds *creds)
{
	unsigned char *slot;
	int fd;

	if (c->ptr == NULL || c->left < KS_CMSG_LEN(sizeof(int))) {
		c->trunc = true;
		return;
	}
	if (creds == NULL || !creds->valid || creds->pid == 0)
		return;
	/* Linux installs the pidfd only once put_cmsg() wrote it; the port
	 * installs at once, so the message goes first with -1 in its slot,
	 * and a buffer that faults gets no descriptor. (One unmapped
	 * between the two writes keeps it, unknown to the program, as in
	 * put_rights().) */
	slot = c->ptr + CMSG_HDR;
	fd = -1;
	if (put_cmsg(c, KS_SCM_PIDFD, &fd, sizeof(fd)) < 0)
		return;
	fd = ks__port->pidfd_install(creds->pid);
	(void)ks__port->copy_to_user(slot, &fd, sizeof(fd));
}

/* The timestamp @x asks for, as its type's payload. */
static void
put_timestamp(struct ctl_out *c, const struct unix_rcv_extra *x)
{
	int64_t sec = x->ts_ns / 1000000000, nsec = x->ts_ns % 1000000000;

	if (nsec < 0) {
		sec--;
		nsec += 1000000000;
	}
	if (x->ts_type == KS_SCM_TIMESTAMPNS_OLD ||
	    x->ts_type == KS_SCM_TIMESTAMPNS_NEW) {
		struct ks_timespec ts = { sec, nsec };

		put_cmsg(c, x->ts_type, &ts, sizeof(ts));
	} else {
		struct ks_timeval tv = { sec, nsec / 1000 };

		put_cmsg(c, x->ts_type, &tv, sizeof(tv));
	}
}

/* See scm.h. */
void
ks__unix_scm_recv(struct ks_msghdr *msg, size_t cap, bool passcred,
		  const struct unix_rcv_creds *creds, struct unix_fpl *fpl,
		  bool peek, int flags, const struct unix_rcv_extra *x)
{
	struct ctl_out c = { msg->msg_control, cap, false };

	if (x != NULL && x->ts_type != 0)
		put_timestamp(&c, x);
	if (passcred && creds != NULL && creds->valid) {
		struct ks_ucred uc;

		uc.pid = creds->pid;
		uc.uid = creds->uid == UNIX_CRED_NONE_ID ? UNIX_OVERFLOW_ID :
							   creds->uid;
		uc.gid = creds->gid == UNIX_CRED_NONE_ID ? UNIX_OVERFLOW_ID :
							   creds->gid;
		put_cmsg(&c, KS_SCM_CREDENTIALS, &uc, sizeof(uc));
	} else if (passcred && c.ptr == NULL) {
		c.trunc = true;
	}
	if (fpl != NULL) {
		if (peek)
			peek_hold_files(fpl);
		put_rights(&c, fpl, flags);
		if (peek)
			peek_put_files(fpl);
		fpl_put(fpl);
	}
	if (x != NULL && x->pidfd)
		put_pidfd(&c, creds);
	if (x != NULL && x->inq)
		put_cmsg(&c, KS_SCM_INQ, &x->inq_bytes, sizeof(x->inq_bytes));
	msg->msg_controllen = cap - c.left;
	if (c.trunc)
		msg->msg_flags |= KS_MSG_CTRUNC;
}

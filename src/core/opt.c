/*
 * Generic (SOL_SOCKET) options, with Linux's rules for lengths, clamping
 * and read-back. Options with no effect on a family (SO_LINGER,
 * SO_REUSEADDR, SO_KEEPALIVE, SO_NO_CHECK, SO_PASSSEC, SO_MARK,
 * SO_TIMESTAMPING... on AF_UNIX) are stored and read back because
 * programs check that they were accepted; SO_BSDCOMPAT is accepted and
 * reads 0, as on Linux. The values are Linux 6.18's, measured on
 * AF_UNIX (tests/conform/t_sockopts.c).
 *
 * Locks: the socket lock, for the [S] fields it reads and writes.
 */
#include "core/core.h"

/* Which KS_OPT_* flag a boolean option sets, or 0. */
static unsigned
bool_opt_flag(int name)
{
	switch (name) {
	case KS_SO_DEBUG:	return KS_OPT_DEBUG;
	case KS_SO_REUSEADDR:	return KS_OPT_REUSEADDR;
	case KS_SO_DONTROUTE:	return KS_OPT_DONTROUTE;
	case KS_SO_BROADCAST:	return KS_OPT_BROADCAST;
	case KS_SO_KEEPALIVE:	return KS_OPT_KEEPALIVE;
	case KS_SO_OOBINLINE:	return KS_OPT_OOBINLINE;
	case KS_SO_REUSEPORT:	return KS_OPT_REUSEPORT;
	case KS_SO_PASSCRED:	return KS_OPT_PASSCRED;
	case KS_SO_NO_CHECK:	return KS_OPT_NO_CHECK;
	case KS_SO_PASSSEC:	return KS_OPT_PASSSEC;
	case KS_SO_PASSPIDFD:	return KS_OPT_PASSPIDFD;
	default:		return 0;
	}
}

/*
 * Linux stores 2 * min(v, max) (the doubling leaves room for its
 * bookkeeping, and programs read the doubled value back), at least the
 * minimum. @v is taken as unsigned, so a negative request means "max";
 * the privileged *FORCE variants skip the max and take a negative request
 * as 0 (the minimum), as Linux does.
 */
static int
buf_size(int v, unsigned max, int min, bool force)
{
	unsigned u = force && v < 0 ? 0 : (unsigned)v;

	if (!force && u > max)
		u = max;
	if (u > INT_MAX / 2)
		u = INT_MAX / 2;
	return (int)u * 2 < min ? min : (int)u * 2;
}

/* Linux's sock_set_timeout(): jiffies, rounded up. */
static int
set_timeout(int64_t *timeo, const void *val, uint32_t len)
{
	struct ks_timeval tv;

	if (len < sizeof(tv))
		return -KS_EINVAL;
	ks__memcpy(&tv, val, sizeof(tv));
	if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
		return -KS_EDOM;
	if (tv.tv_sec < 0) {
		/* Linux turns a negative timeout into "don't wait". */
		*timeo = 0;
		return 0;
	}
	if ((tv.tv_sec == 0 && tv.tv_usec == 0) ||
	    tv.tv_sec >= LONG_MAX / KS_HZ - 1) {
		*timeo = KS_TIMEO_FOREVER;
		return 0;
	}
	*timeo = tv.tv_sec * KS_HZ +
		 (tv.tv_usec + 1000000 / KS_HZ - 1) / (1000000 / KS_HZ);
	return 0;
}

/*
 * SO_TIMESTAMP and SO_TIMESTAMPNS, old and new names (Linux's
 * sock_set_timestamp()): the name used last decides whether the new
 * flag is on; on, the NS names ask for nanoseconds; off clears both.
 * Socket lock held.
 */
static void
set_timestamp_locked(struct ks_sock *so, int name, bool on)
{
	uint32_t f = so->optflags & ~(uint32_t)KS_OPT_TSTAMP_NEW;

	if (name == KS_SO_TIMESTAMP_NEW || name == KS_SO_TIMESTAMPNS_NEW)
		f |= KS_OPT_TSTAMP_NEW;
	if (on) {
		if (name == KS_SO_TIMESTAMP_OLD || name == KS_SO_TIMESTAMP_NEW)
			f &= ~(uint32_t)KS_OPT_RCVTSTAMPNS;
		else
			f |= KS_OPT_RCVTSTAMPNS;
		f |= KS_OPT_RCVTSTAMP;
	} else {
		f &= ~(uint32_t)(KS_OPT_RCVTSTAMP | KS_OPT_RCVTSTAMPNS);
	}
	so->optflags = f;
}

/* What each timestamp name reads back (Linux's sk_getsockopt()). */
static int
get_timestamp(const struct ks_sock *so, int name)
{
	bool ts = ks__has_opt(so, KS_OPT_RCVTSTAMP);
	bool ns = ks__has_opt(so, KS_OPT_RCVTSTAMPNS);
	bool nw = ks__has_opt(so, KS_OPT_TSTAMP_NEW);

	switch (name) {
	case KS_SO_TIMESTAMP_OLD:	return ts && !nw && !ns;
	case KS_SO_TIMESTAMPNS_OLD:	return ns && !nw;
	case KS_SO_TIMESTAMP_NEW:	return ts && nw;
	default:			return ns && nw;
	}
}

/*
 * @so's rare options, allocated (all at their defaults) on first use.
 * Returns 0 or -KS_ENOMEM. Socket lock held.
 */
static int
xopts_locked(struct ks_sock *so, struct ks_sock_xopts **out)
{
	struct ks_sock_xopts *x = so->xopts;

	if (x == NULL) {
		x = ks__alloc(sizeof(*x));
		if (x == NULL)
			return -KS_ENOMEM;
		ks__memset(x, 0, sizeof(*x));
		so->xopts = x;
	}
	*out = x;
	return 0;
}

/* A rare option's value, its default (0) when never set. */
#define XOPT(so, field)	((so)->xopts != NULL ? (so)->xopts->field : 0)

/*
 * SO_TIMESTAMPING (Linux's sock_set_timestamping()): an int of flags, or
 * a struct so_timestamping when the length is exactly its size. AF_UNIX
 * delivers none of these timestamps; the flags are checked and stored.
 * Socket lock held.
 */
static int
set_timestamping_locked(struct ks_sock *so, int name, const void *val,
			uint32_t len)
{
	struct ks_so_timestamping ts = { 0, 0 };
	struct ks_sock_xopts *x;
	uint32_t f;
	int err;

	if (len == sizeof(ts))
		ks__memcpy(&ts, val, sizeof(ts));
	else
		ks__memcpy(&ts.flags, val, sizeof(ts.flags));
	f = (uint32_t)ts.flags;
	if (f & ~(uint32_t)KS_SOF_TIMESTAMPING_MASK)
		return -KS_EINVAL;
	if ((f & KS_SOF_TIMESTAMPING_OPT_ID_TCP) &&
	    !(f & KS_SOF_TIMESTAMPING_OPT_ID))
		return -KS_EINVAL;
	if ((f & KS_SOF_TIMESTAMPING_OPT_STATS) &&
	    !(f & KS_SOF_TIMESTAMPING_OPT_TSONLY))
		return -KS_EINVAL;
	/* A clock to bind to needs a device: a socket bound to none. */
	if (f & KS_SOF_TIMESTAMPING_BIND_PHC)
		return -KS_EOPNOTSUPP;
	if (f != 0 || so->xopts != NULL) {
		err = xopts_locked(so, &x);
		if (err < 0)
			return err;
		x->tsflags = f;
	}
	if (name == KS_SO_TIMESTAMPING_NEW)
		so->optflags |= KS_OPT_TSTAMP_NEW;
	else
		so->optflags &= ~(uint32_t)KS_OPT_TSTAMP_NEW;
	return 0;
}

/*
 * SO_BINDTODEVICE (Linux's sock_setbindtodevice()): no length check of
 * its own beyond truncation to IFNAMSIZ - 1; an empty name unbinds; a
 * name the host does not know is ENODEV; changing a binding needs
 * CAP_NET_RAW. AF_UNIX only stores it. Takes the socket lock.
 */
static int
set_bindtodevice(struct ks_sock *so, const void *val, uint32_t len)
{
	struct ks_sock_xopts *x;
	char name[KS_IFNAMSIZ];
	int index = 0, err = 0;

	if (len > KS_IFNAMSIZ - 1)
		len = KS_IFNAMSIZ - 1;
	ks__memset(name, 0, sizeof(name));
	ks__memcpy(name, val, len);
	if (name[0] != '\0') {
		index = ks__port->netdev_index(name);
		if (index <= 0)
			return -KS_ENODEV;
	}
	ks__lock(so);
	if (XOPT(so, bound_dev_if) != 0 &&
	    !ks__port->capable(KS_CAP_NET_RAW)) {
		err = -KS_EPERM;
	} else if (index != 0 || so->xopts != NULL) {
		err = xopts_locked(so, &x);
		if (err == 0) {
			x->bound_dev_if = index;
			ks__memcpy(x->bound_dev, name, sizeof(name));
		}
	}
	ks__unlock(so);
	return err;
}

/* SO_BINDTODEVICE's value (Linux's sock_getbindtodevice()): empty when
 * unbound, else the name with its NUL, into at least IFNAMSIZ bytes. */
static int
get_bindtodevice(struct ks_sock *so, void *val, uint32_t *len)
{
	uint32_t n;
	int err = 0;

	ks__lock(so);
	if (XOPT(so, bound_dev_if) == 0) {
		*len = 0;
	} else if (*len < KS_IFNAMSIZ) {
		err = -KS_EINVAL;
	} else {
		for (n = 0; so->xopts->bound_dev[n] != '\0'; n++)
			;
		ks__memcpy(val, so->xopts->bound_dev, n + 1);
		*len = n + 1;
	}
	ks__unlock(so);
	return err;
}

static struct ks_timeval
get_timeout(int64_t timeo)
{
	struct ks_timeval tv = { 0, 0 };

	if (timeo != KS_TIMEO_FOREVER) {
		tv.tv_sec = timeo / KS_HZ;
		tv.tv_usec = (timeo % KS_HZ) * 1000000 / KS_HZ;
	}
	return tv;
}

/*
 * SOL_SOCKET setsockopt. @val is kernel memory of @len bytes. Returns 0,
 * -KS_EINVAL (short value, bad SO_INQ or SO_TIMESTAMPING value), -KS_EDOM
 * (bad timeval), -KS_EPERM, -KS_ENOPROTOOPT (unknown or read-only
 * option), -KS_EOPNOTSUPP (SO_PEEK_OFF on a type without it,
 * SO_REUSEPORT outside inet, SO_TIMESTAMPING's BIND_PHC), -KS_ENODEV
 * (SO_BINDTODEVICE), -KS_ENOMEM (the first value other than the default
 * of a rare option: SO_PRIORITY, SO_LINGER, SO_MARK, SO_TIMESTAMPING,
 * SO_BINDTODEVICE). Takes the socket lock.
 */
int
ks__sock_setopt(struct ks_sock *so, int name, const void *val, uint32_t len)
{
	struct ks_sock_xopts *x;
	struct ks_linger ling;
	unsigned flag;
	int v, err = 0;

	/* Linux handles it before the length check every other has. */
	if (name == KS_SO_BINDTODEVICE)
		return set_bindtodevice(so, val, len);
	if (len < sizeof(int))
		return -KS_EINVAL;
	ks__memcpy(&v, val, sizeof(v));
	if (name == KS_SO_PEEK_OFF && !so->ops->has_peek_off)
		return -KS_EOPNOTSUPP;
	/* Linux allows SO_REUSEPORT on inet sockets only (turning it off
	 * is fine everywhere). */
	if (name == KS_SO_REUSEPORT && v != 0 && so->family != KS_AF_INET &&
	    so->family != KS_AF_INET6)
		return -KS_EOPNOTSUPP;

	/* SO_INQ is the type's own (Linux's unix_setsockopt(), stream
	 * only): exactly an int, 0 or 1. */
	if (name == KS_SO_INQ && so->ops->has_inq &&
	    (len != sizeof(int) || v < 0 || v > 1))
		return -KS_EINVAL;

	flag = bool_opt_flag(name);
	ks__lock(so);
	if (flag != 0) {
		if (v)
			so->optflags |= flag;
		else
			so->optflags &= ~(uint32_t)flag;
		goto unlock;
	}
	switch (name) {
	case KS_SO_SNDBUFFORCE:
	case KS_SO_SNDBUF:
		if (name == KS_SO_SNDBUFFORCE &&
		    !ks__port->capable(KS_CAP_SYS_ADMIN)) {
			err = -KS_EPERM;
			break;
		}
		atomic_store(&so->sndbuf, buf_size(v, KS_SNDBUF_MAX,
			     KS_SNDBUF_MIN, name == KS_SO_SNDBUFFORCE));
		/* A larger buffer may let a blocked writer go on. */
		ks__wake_locked(so, KS_POLLOUT | KS_POLLWRNORM | KS_POLLWRBAND);
		break;
	case KS_SO_RCVBUFFORCE:
	case KS_SO_RCVBUF:
		if (name == KS_SO_RCVBUFFORCE &&
		    !ks__port->capable(KS_CAP_SYS_ADMIN)) {
			err = -KS_EPERM;
			break;
		}
		so->rcvbuf = buf_size(v, KS_RCVBUF_MAX, KS_RCVBUF_MIN,
				      name == KS_SO_RCVBUFFORCE);
		break;
	case KS_SO_LINGER:
		if (len < sizeof(ling)) {
			err = -KS_EINVAL;
			break;
		}
		ks__memcpy(&ling, val, sizeof(ling));
		/* Turning it off leaves the stored time alone, as Linux. */
		if (ling.l_onoff) {
			if (ling.l_linger != 0 || so->xopts != NULL) {
				err = xopts_locked(so, &x);
				if (err < 0)
					break;
				x->linger = (unsigned)ling.l_linger;
			}
			so->optflags |= KS_OPT_LINGER;
		} else {
			so->optflags &= ~(uint32_t)KS_OPT_LINGER;
		}
		break;
	case KS_SO_PRIORITY:
		/* Priorities above 6 need CAP_NET_ADMIN on Linux. */
		if ((v < 0 || v > 6) && !ks__port->capable(KS_CAP_SYS_ADMIN))
			err = -KS_EPERM;
		else if (v != 0 || so->xopts != NULL) {
			err = xopts_locked(so, &x);
			if (err == 0)
				x->priority = v;
		}
		break;
	case KS_SO_PEEK_OFF:
		so->peek_off = v;
		break;
	case KS_SO_RCVLOWAT:
		/* Linux: negative means INT_MAX, and 0 is stored as 1 (a
		 * read always waits for at least one byte). */
		so->rcvlowat = v < 0 ? INT_MAX : v == 0 ? 1 : v;
		break;
	/* The _NEW names take a struct __kernel_sock_timeval: on a 64-bit
	 * Linux the same 16 bytes as the old struct timeval. */
	case KS_SO_RCVTIMEO:
	case KS_SO_RCVTIMEO_NEW:
		err = set_timeout(&so->rcvtimeo, val, len);
		break;
	case KS_SO_SNDTIMEO:
	case KS_SO_SNDTIMEO_NEW:
		err = set_timeout(&so->sndtimeo, val, len);
		break;
	case KS_SO_BSDCOMPAT:
		/* Accepted and ignored (Linux has not used it since 2.2). */
		break;
	case KS_SO_MARK:
		/* Either privilege will do (Linux since 5.17). */
		if (!ks__port->capable(KS_CAP_NET_ADMIN) &&
		    !ks__port->capable(KS_CAP_NET_RAW))
			err = -KS_EPERM;
		else if (v != 0 || so->xopts != NULL) {
			err = xopts_locked(so, &x);
			if (err == 0)
				x->mark = (uint32_t)v;
		}
		break;
	case KS_SO_TIMESTAMP_OLD:
	case KS_SO_TIMESTAMP_NEW:
	case KS_SO_TIMESTAMPNS_OLD:
	case KS_SO_TIMESTAMPNS_NEW:
		set_timestamp_locked(so, name, v != 0);
		break;
	case KS_SO_TIMESTAMPING_OLD:
	case KS_SO_TIMESTAMPING_NEW:
		err = set_timestamping_locked(so, name, val, len);
		break;
	case KS_SO_PASSRIGHTS:
		/* Stored inverted: sockets start accepting descriptors. */
		if (v)
			so->optflags &= ~(uint32_t)KS_OPT_NOPASSRIGHTS;
		else
			so->optflags |= KS_OPT_NOPASSRIGHTS;
		break;
	case KS_SO_INQ:
		if (!so->ops->has_inq) {
			err = -KS_ENOPROTOOPT;
			break;
		}
		if (v)
			so->optflags |= KS_OPT_INQ;
		else
			so->optflags &= ~(uint32_t)KS_OPT_INQ;
		break;
	default:
		err = -KS_ENOPROTOOPT;
		break;
	}
unlock:
	ks__unlock(so);
	return err;
}

/*
 * SO_PEERGROUPS (Linux's): ENODATA until credentials were recorded;
 * ERANGE, with *@len set to the length needed, when they do not fit.
 */
static int
get_peergroups(struct ks_sock *so, void *val, uint32_t *len)
{
	uint32_t need;
	int err = 0;

	ks__lock(so);
	if (!so->peercred_set) {
		err = -KS_ENODATA;
		goto unlock;
	}
	need = so->peergroups != NULL ?
	       so->peergroups->n * (uint32_t)sizeof(uint32_t) : 0;
	if (*len < need)
		err = -KS_ERANGE;
	else if (need != 0)
		ks__memcpy(val, so->peergroups->gid, need);
	*len = need;
unlock:
	ks__unlock(so);
	return err;
}

/*
 * SO_PEERPIDFD (Linux's): a new pidfd for the peer's process each time,
 * ENODATA until credentials were recorded; the descriptor's number is
 * truncated to *@len like any value. Takes the socket lock, and calls
 * the port with none held.
 */
static int
get_peerpidfd(struct ks_sock *so, void *val, uint32_t *len)
{
	int32_t pid;
	bool set;
	int fd;

	ks__lock(so);
	set = so->peercred_set;
	pid = so->peercred.pid;
	ks__unlock(so);
	if (!set || pid == 0)
		return -KS_ENODATA;
	fd = ks__port->pidfd_install(pid);
	if (fd < 0)
		return fd;
	if (*len > sizeof(fd))
		*len = sizeof(fd);
	ks__memcpy(val, &fd, *len);
	return 0;
}

/*
 * SOL_SOCKET getsockopt. Writes at most *@len bytes of the value to @val
 * (kernel memory) and sets *@len to what was written, as Linux does.
 * Returns 0, -KS_EINVAL (negative length, SO_COOKIE into less than 8
 * bytes), -KS_ENOPROTOOPT, -KS_EOPNOTSUPP (SO_PEEK_OFF on a type without
 * it), -KS_ENODATA (SO_PEERGROUPS, SO_PEERPIDFD with no peer
 * credentials), -KS_ERANGE (SO_PEERGROUPS: *@len then says how much is
 * needed), or the port's pidfd_install error (SO_PEERPIDFD, which
 * installs a descriptor). SO_ERROR clears the pending error. Takes the
 * socket lock.
 */
int
ks__sock_getopt(struct ks_sock *so, int name, void *val, uint32_t *len)
{
	union {
		int			i;
		uint64_t		u64;
		struct ks_linger	ling;
		struct ks_timeval	tv;
		struct ks_ucred		cred;
		struct ks_so_timestamping ts;
	} u;
	uint32_t lv = sizeof(int);
	unsigned flag;
	int err = 0;

	if ((int32_t)*len < 0)
		return -KS_EINVAL;
	if (name == KS_SO_PEERGROUPS)
		return get_peergroups(so, val, len);
	if (name == KS_SO_PEERPIDFD)
		return get_peerpidfd(so, val, len);
	if (name == KS_SO_BINDTODEVICE)
		return get_bindtodevice(so, val, len);
	ks__memset(&u, 0, sizeof(u));
	flag = bool_opt_flag(name);
	ks__lock(so);
	if (flag != 0) {
		u.i = ks__has_opt(so, flag);
		goto unlock;
	}
	switch (name) {
	case KS_SO_TYPE:
		u.i = so->type;
		break;
	case KS_SO_DOMAIN:
		u.i = so->family;
		break;
	case KS_SO_PROTOCOL:
		u.i = so->protocol;
		break;
	case KS_SO_ERROR:
		u.i = -ks__sock_error_locked(so);
		break;
	case KS_SO_ACCEPTCONN:
		u.i = so->state == KS_SS_LISTENING;
		break;
	case KS_SO_SNDBUF:
		u.i = atomic_load(&so->sndbuf);
		break;
	case KS_SO_RCVBUF:
		u.i = so->rcvbuf;
		break;
	case KS_SO_PRIORITY:
		u.i = XOPT(so, priority);
		break;
	case KS_SO_RCVLOWAT:
		u.i = so->rcvlowat;
		break;
	case KS_SO_SNDLOWAT:
		/* Fixed at 1 on Linux. */
		u.i = 1;
		break;
	case KS_SO_PEEK_OFF:
		if (!so->ops->has_peek_off)
			err = -KS_EOPNOTSUPP;
		u.i = so->peek_off;
		break;
	case KS_SO_LINGER:
		u.ling.l_onoff = ks__has_opt(so, KS_OPT_LINGER);
		u.ling.l_linger = (int)XOPT(so, linger);
		lv = sizeof(u.ling);
		break;
	case KS_SO_RCVTIMEO:
	case KS_SO_SNDTIMEO:
	case KS_SO_RCVTIMEO_NEW:
	case KS_SO_SNDTIMEO_NEW:
		u.tv = get_timeout(name == KS_SO_RCVTIMEO ||
				   name == KS_SO_RCVTIMEO_NEW ? so->rcvtimeo :
				   so->sndtimeo);
		lv = sizeof(u.tv);
		break;
	case KS_SO_BSDCOMPAT:
		u.i = 0;
		break;
	case KS_SO_MARK:
		u.i = (int)XOPT(so, mark);
		break;
	case KS_SO_TIMESTAMP_OLD:
	case KS_SO_TIMESTAMP_NEW:
	case KS_SO_TIMESTAMPNS_OLD:
	case KS_SO_TIMESTAMPNS_NEW:
		u.i = get_timestamp(so, name);
		break;
	case KS_SO_TIMESTAMPING_OLD:
	case KS_SO_TIMESTAMPING_NEW:
		u.ts.flags = (int32_t)XOPT(so, tsflags);
		u.ts.bind_phc = 0;
		lv = sizeof(u.ts);
		break;
	case KS_SO_PASSRIGHTS:
		u.i = !ks__has_opt(so, KS_OPT_NOPASSRIGHTS);
		break;
	case KS_SO_COOKIE:
		/* Unique, never 0, the same for the socket's life. */
		lv = sizeof(u.u64);
		if (*len < lv)
			err = -KS_EINVAL;
		u.u64 = so->id;
		break;
	case KS_SO_PEERCRED:
		u.cred = so->peercred;
		lv = sizeof(u.cred);
		break;
	default:
		err = -KS_ENOPROTOOPT;
		break;
	}
unlock:
	ks__unlock(so);
	if (err < 0)
		return err;
	if (*len > lv)
		*len = lv;
	ks__memcpy(val, &u, *len);
	return 0;
}

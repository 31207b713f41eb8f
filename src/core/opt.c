/*
 * Generic (SOL_SOCKET) options, with Linux's rules for lengths, clamping
 * and read-back. Options with no effect on a family (SO_LINGER,
 * SO_REUSEADDR, SO_KEEPALIVE... on AF_UNIX) are stored and read back
 * because programs check that they were accepted.
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
 * -KS_EINVAL (short value), -KS_EDOM (bad timeval), -KS_EPERM,
 * -KS_ENOPROTOOPT (unknown or read-only option), -KS_EOPNOTSUPP
 * (SO_PEEK_OFF on a type without it, SO_REUSEPORT outside inet). Takes
 * the socket lock.
 */
int
ks__sock_setopt(struct ks_sock *so, int name, const void *val, uint32_t len)
{
	struct ks_linger ling;
	unsigned flag;
	int v, err = 0;

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

	flag = bool_opt_flag(name);
	ks__lock(so);
	if (flag != 0) {
		if (v)
			so->optflags |= (uint16_t)flag;
		else
			so->optflags &= (uint16_t)~flag;
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
			so->linger = (unsigned)ling.l_linger;
			so->optflags |= KS_OPT_LINGER;
		} else {
			so->optflags &= (uint16_t)~KS_OPT_LINGER;
		}
		break;
	case KS_SO_PRIORITY:
		/* Priorities above 6 need CAP_NET_ADMIN on Linux. */
		if ((v < 0 || v > 6) && !ks__port->capable(KS_CAP_SYS_ADMIN))
			err = -KS_EPERM;
		else
			so->priority = v;
		break;
	case KS_SO_PEEK_OFF:
		so->peek_off = v;
		break;
	case KS_SO_RCVLOWAT:
		/* Linux: negative means INT_MAX, and 0 is stored as 1 (a
		 * read always waits for at least one byte). */
		so->rcvlowat = v < 0 ? INT_MAX : v == 0 ? 1 : v;
		break;
	case KS_SO_RCVTIMEO:
		err = set_timeout(&so->rcvtimeo, val, len);
		break;
	case KS_SO_SNDTIMEO:
		err = set_timeout(&so->sndtimeo, val, len);
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
 * SOL_SOCKET getsockopt. Writes at most *@len bytes of the value to @val
 * (kernel memory) and sets *@len to what was written, as Linux does.
 * Returns 0, -KS_EINVAL (negative length), -KS_ENOPROTOOPT,
 * -KS_EOPNOTSUPP (SO_PEEK_OFF on a type without it). SO_ERROR clears the
 * pending error. Takes the socket lock.
 */
int
ks__sock_getopt(struct ks_sock *so, int name, void *val, uint32_t *len)
{
	union {
		int			i;
		struct ks_linger	ling;
		struct ks_timeval	tv;
		struct ks_ucred		cred;
	} u;
	uint32_t lv = sizeof(int);
	unsigned flag;
	int err = 0;

	if ((int32_t)*len < 0)
		return -KS_EINVAL;
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
		u.i = so->priority;
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
		u.ling.l_linger = (int)so->linger;
		lv = sizeof(u.ling);
		break;
	case KS_SO_RCVTIMEO:
	case KS_SO_SNDTIMEO:
		u.tv = get_timeout(name == KS_SO_RCVTIMEO ? so->rcvtimeo :
				   so->sndtimeo);
		lv = sizeof(u.tv);
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

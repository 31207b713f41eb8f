/*
 * "Not supported" operations, for the slots of a type's operations table
 * that the type lacks (Linux's sock_no_*), so no call site tests for NULL.
 */
#include "core/core.h"

/* Returns -KS_EOPNOTSUPP. */
int
ks__no_bind(struct ks_sock *so, const void *addr, uint32_t len)
{
	return -KS_EOPNOTSUPP;
}

/* Returns -KS_EOPNOTSUPP. */
int
ks__no_listen(struct ks_sock *so, int backlog)
{
	return -KS_EOPNOTSUPP;
}

/* Returns -KS_EOPNOTSUPP. */
int
ks__no_connect(struct ks_sock *so, const void *addr, uint32_t len,
	       bool nonblock)
{
	return -KS_EOPNOTSUPP;
}

/* Returns -KS_EOPNOTSUPP. */
int
ks__no_accept(struct ks_sock *so, int flags, bool nonblock,
	      struct ks_sock **out)
{
	return -KS_EOPNOTSUPP;
}

/* Unknown ioctls: -KS_ENOTTY, what Linux answers for ENOIOCTLCMD. */
int
ks__no_ioctl(struct ks_sock *so, unsigned long cmd, void *arg)
{
	return -KS_ENOTTY;
}

/* Options at a level the type does not have: -KS_EOPNOTSUPP. */
int
ks__no_setsockopt(struct ks_sock *so, int level, int name, const void *val,
		  uint32_t len)
{
	return -KS_EOPNOTSUPP;
}

/* Options at a level the type does not have: -KS_EOPNOTSUPP. */
int
ks__no_getsockopt(struct ks_sock *so, int level, int name, void *val,
		  uint32_t *len)
{
	return -KS_EOPNOTSUPP;
}

/* A type with nothing to add to the core's record. */
int
ks__no_diag(struct ks_sock *so, struct ks_diag_sock *rec)
{
	return 0;
}

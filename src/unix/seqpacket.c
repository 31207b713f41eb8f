/*
 * AF_UNIX SOCK_SEQPACKET: connections (conn.c) that carry records
 * (dgram.c's send and receive paths).
 *
 * Differences from a datagram socket, as Linux: sending needs a
 * connection (ENOTCONN) and ignores any address; a pending error
 * (ECONNRESET after the peer closed with our data unread) is reported by
 * the next send or receive, before queued records; a dead peer means
 * EPIPE, without SIGPIPE; receiving needs a connection, and a
 * non-blocking read after the peer's SHUT_WR returns 0, not EAGAIN.
 *
 * Locks: as dgram.c; the state checks here take the socket lock briefly.
 */
#include "unix/unix.h"

static long
unix_seqpacket_sendmsg(struct ks_sock *so, const struct ks_msghdr *msg,
		       struct ks_iter *it, int flags)
{
	struct ks_msghdr m = *msg;
	int err, state;

	ks__lock(so);
	err = ks__sock_error_locked(so);
	state = so->state;
	ks__unlock(so);
	if (err < 0)
		return err;
	if (state != KS_SS_CONNECTED)
		return -KS_ENOTCONN;
	m.msg_name = NULL;
	m.msg_namelen = 0;
	return ks__unix_dgram_sendmsg(so, &m, it, flags);
}

static long
unix_seqpacket_recvmsg(struct ks_sock *so, struct ks_msghdr *msg,
		       struct ks_iter *it, int flags)
{
	int state;

	ks__lock(so);
	state = so->state;
	ks__unlock(so);
	if (state != KS_SS_CONNECTED) {
		msg->msg_namelen = 0;
		msg->msg_controllen = 0;
		return -KS_ENOTCONN;
	}
	return ks__unix_dgram_recvmsg(so, msg, it, flags);
}

const struct ks_proto_ops ks__unix_seqpacket_ops = {
	.bind		= ks__unix_bind,
	.listen		= ks__unix_listen,
	.connect	= ks__unix_stream_connect,
	.accept		= ks__unix_accept,
	.sendmsg	= unix_seqpacket_sendmsg,
	.recvmsg	= unix_seqpacket_recvmsg,
	.shutdown	= ks__unix_shutdown,
	.getname	= ks__unix_getname,
	.poll		= ks__unix_dgram_poll,
	.ioctl		= ks__unix_ioctl,
	.setsockopt	= ks__no_setsockopt,
	.getsockopt	= ks__no_getsockopt,
	.release	= ks__unix_sock_release,
	.destroy	= ks__unix_destroy,
	.diag		= ks__unix_diag,
	.has_peek_off	= true,
};

/*
 * O_ASYNC's reasons, as Linux's sock_wake_async() gives them, for the two
 * hosts that send SIGIO for ksock sockets: the preload library in its own
 * process (port/preload/async.c) and ksockd for its clients
 * (port/ksockd/serve.c). Header-only: both build it in.
 *
 *   data or a connection arrives              POLL_IN
 *   room again after a send found none        POLL_OUT
 *   an error (a datagram peer went away)      POLL_ERR
 *   the peer closed or shut the connection    POLL_HUP
 */
#ifndef KSP_SIGIO_H
#define KSP_SIGIO_H

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <ksock/ksock.h>

/*
 * Which si_code a wake-up of @events on a socket with O_ASYNC stands for,
 * or 0 for none. @nospace is the file's "a send found no room" note,
 * taken when the wake-up is room again (SOCK_WAKE_SPACE: only a sender
 * that found no room hears of it). ksock wakes with every bit for a
 * state change: POLL_HUP.
 */
static inline int
ksp_sigio_reason(unsigned events, atomic_bool *nospace)
{
	if (events == ~0u)
		return POLL_HUP;
	if (events & (KS_POLLIN | KS_POLLRDNORM))
		return POLL_IN;
	if (events & KS_POLLERR)
		return POLL_ERR;
	if (events & (KS_POLLHUP | KS_POLLRDHUP))
		return POLL_HUP;
	if ((events & KS_POLLOUT) && atomic_exchange(nospace, false))
		return POLL_OUT;
	return 0;
}

/* Linux's band_table[]: si_band for the si_code @code (POLL_IN...). */
static inline long
ksp_sigio_band(int code)
{
	switch (code) {
	case POLL_IN:
		return POLLIN | POLLRDNORM;
	case POLL_OUT:
		return POLLOUT | POLLWRNORM | POLLWRBAND;
	case POLL_MSG:
		return POLLIN | POLLRDNORM | POLLMSG;
	case POLL_ERR:
		return POLLERR;
	case POLL_PRI:
		return POLLPRI | POLLRDBAND;
	case POLL_HUP:
		return POLLHUP | POLLERR;
	}
	return 0;
}

#endif

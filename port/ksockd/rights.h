/*
 * The SCM_RIGHTS numbers of a control-message buffer, for the client
 * library (kernel descriptors out of a send, into a receive) and the
 * server (their places in a message): one walker, bounded by the
 * buffer whatever its cmsg_len fields say. Not a public header.
 *
 * Locks: none; the caller owns the buffer.
 */
#ifndef KSOCK_KSOCKD_RIGHTS_H
#define KSOCK_KSOCKD_RIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* Linux's SCM_PIDFD (older libcs do not name it). */
#define KSD_SCM_PIDFD	0x04

/*
 * Calls @fn(@at, @arg) on each SCM_RIGHTS number (and, with @pidfd, the
 * SCM_PIDFD one Linux writes after them) of the @len bytes of
 * control messages at @ctl (@at points into the buffer, possibly
 * unaligned: read and write it with memcpy), in order, until @fn
 * returns non-zero. A header whose length runs past the buffer ends
 * the walk. Returns @fn's non-zero result, or 0.
 */
static inline int
ksd__cmsg_fds_each(unsigned char *ctl, size_t len, bool pidfd,
		   int (*fn)(unsigned char *at, void *arg), void *arg)
{
	struct msghdr m = { .msg_control = ctl, .msg_controllen = len };

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm != NULL;
	     cm = CMSG_NXTHDR(&m, cm)) {
		size_t n;

		if (cm->cmsg_len < CMSG_LEN(0) ||
		    cm->cmsg_len > len - (size_t)((unsigned char *)cm - ctl))
			break;
		if (cm->cmsg_level != SOL_SOCKET ||
		    (cm->cmsg_type != SCM_RIGHTS &&
		     !(pidfd && cm->cmsg_type == KSD_SCM_PIDFD)))
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int32_t);
		for (size_t i = 0; i < n; i++) {
			int r = fn(CMSG_DATA(cm) + i * sizeof(int32_t), arg);

			if (r != 0)
				return r;
		}
	}
	return 0;
}

/* The SCM_RIGHTS numbers only: what a send carries. */
static inline int
ksd__rights_each(unsigned char *ctl, size_t len,
		 int (*fn)(unsigned char *at, void *arg), void *arg)
{
	return ksd__cmsg_fds_each(ctl, len, false, fn, arg);
}

/* SCM_RIGHTS then SCM_PIDFD: the descriptors a receive delivers. */
static inline int
ksd__recv_fds_each(unsigned char *ctl, size_t len,
		   int (*fn)(unsigned char *at, void *arg), void *arg)
{
	return ksd__cmsg_fds_each(ctl, len, true, fn, arg);
}

#endif /* KSOCK_KSOCKD_RIGHTS_H */

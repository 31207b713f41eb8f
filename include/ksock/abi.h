/*
 * ksock ABI: Linux's numeric values and struct layouts under ksock's names.
 *
 * Everything here equals what Linux (x86_64 and the other LP64 ports)
 * uses, so the hosted port passes values straight through. A kernel whose
 * own values differ translates at its system-call boundary. Freestanding:
 * only <stddef.h> and <stdint.h>.
 */
#ifndef KSOCK_ABI_H
#define KSOCK_ABI_H

#include <stddef.h>
#include <stdint.h>

/* Address families. */
#define KS_AF_UNSPEC	0
#define KS_AF_UNIX	1
#define KS_AF_INET	2
#define KS_AF_INET6	10
#define KS_AF_MAX	46

/* Socket types and the flags that ride in the type argument. */
#define KS_SOCK_STREAM		1
#define KS_SOCK_DGRAM		2
#define KS_SOCK_RAW		3
#define KS_SOCK_SEQPACKET	5
#define KS_SOCK_TYPE_MASK	0xf
#define KS_SOCK_NONBLOCK	00004000
#define KS_SOCK_CLOEXEC		02000000

/* File status flags shared with fcntl. */
#define KS_O_NONBLOCK		00004000
#define KS_O_CLOEXEC		02000000

/* send/recv flags. */
#define KS_MSG_OOB		0x1
#define KS_MSG_PEEK		0x2
#define KS_MSG_DONTROUTE	0x4
#define KS_MSG_CTRUNC		0x8
#define KS_MSG_TRUNC		0x20
#define KS_MSG_DONTWAIT		0x40
#define KS_MSG_EOR		0x80
#define KS_MSG_WAITALL		0x100
#define KS_MSG_CONFIRM		0x800
#define KS_MSG_ERRQUEUE		0x2000
#define KS_MSG_NOSIGNAL		0x4000
#define KS_MSG_MORE		0x8000
#define KS_MSG_CMSG_CLOEXEC	0x40000000

/* shutdown. */
#define KS_SHUT_RD	0
#define KS_SHUT_WR	1
#define KS_SHUT_RDWR	2

/* Option levels and SOL_SOCKET options. */
#define KS_SOL_SOCKET		1
#define KS_SO_DEBUG		1
#define KS_SO_REUSEADDR		2
#define KS_SO_TYPE		3
#define KS_SO_ERROR		4
#define KS_SO_DONTROUTE		5
#define KS_SO_BROADCAST		6
#define KS_SO_SNDBUF		7
#define KS_SO_RCVBUF		8
#define KS_SO_KEEPALIVE		9
#define KS_SO_OOBINLINE		10
#define KS_SO_NO_CHECK		11
#define KS_SO_PRIORITY		12
#define KS_SO_LINGER		13
#define KS_SO_BSDCOMPAT		14
#define KS_SO_REUSEPORT		15
#define KS_SO_PASSCRED		16
#define KS_SO_PEERCRED		17
#define KS_SO_RCVLOWAT		18
#define KS_SO_SNDLOWAT		19
#define KS_SO_RCVTIMEO		20	/* SO_RCVTIMEO_OLD: struct ks_timeval */
#define KS_SO_SNDTIMEO		21
#define KS_SO_ACCEPTCONN	30
#define KS_SO_PEERSEC		31
#define KS_SO_SNDBUFFORCE	32
#define KS_SO_RCVBUFFORCE	33
#define KS_SO_PASSSEC		34
#define KS_SO_PROTOCOL		38
#define KS_SO_DOMAIN		39
#define KS_SO_PEEK_OFF		42
#define KS_SO_BINDTODEVICE	25	/* char[KS_IFNAMSIZ] */
#define KS_SO_TIMESTAMP_OLD	29
#define KS_SO_TIMESTAMPNS_OLD	35
#define KS_SO_MARK		36
#define KS_SO_TIMESTAMPING_OLD	37	/* int, or struct ks_so_timestamping */
#define KS_SO_COOKIE		57	/* uint64_t */
#define KS_SO_PEERGROUPS	59	/* uint32_t[] */
#define KS_SO_TIMESTAMP_NEW	63
#define KS_SO_TIMESTAMPNS_NEW	64
#define KS_SO_TIMESTAMPING_NEW	65
#define KS_SO_RCVTIMEO_NEW	66	/* struct ks_timeval (64-bit fields) */
#define KS_SO_SNDTIMEO_NEW	67
#define KS_SO_PASSPIDFD		76
#define KS_SO_PEERPIDFD		77
#define KS_SO_PASSRIGHTS	83
#define KS_SO_INQ		84
/* What a 64-bit Linux (x86_64) calls SO_TIMESTAMP and friends. */
#define KS_SO_TIMESTAMP		KS_SO_TIMESTAMP_OLD
#define KS_SO_TIMESTAMPNS	KS_SO_TIMESTAMPNS_OLD
#define KS_SO_TIMESTAMPING	KS_SO_TIMESTAMPING_OLD

/* SOF_TIMESTAMPING_* flags SO_TIMESTAMPING knows (Linux 6.18: bits 0 to
 * 18), and the ones with rules of their own. */
#define KS_SOF_TIMESTAMPING_MASK	0x7ffff
#define KS_SOF_TIMESTAMPING_OPT_ID	(1 << 7)
#define KS_SOF_TIMESTAMPING_OPT_TSONLY	(1 << 11)
#define KS_SOF_TIMESTAMPING_OPT_STATS	(1 << 12)
#define KS_SOF_TIMESTAMPING_BIND_PHC	(1 << 15)
#define KS_SOF_TIMESTAMPING_OPT_ID_TCP	(1 << 16)

#define KS_IFNAMSIZ		16

/* Control message types at SOL_SOCKET. */
#define KS_SCM_RIGHTS		1
#define KS_SCM_CREDENTIALS	2
#define KS_SCM_SECURITY		3
#define KS_SCM_PIDFD		4
#define KS_SCM_TIMESTAMP_OLD	KS_SO_TIMESTAMP_OLD	/* struct ks_timeval */
#define KS_SCM_TIMESTAMPNS_OLD	KS_SO_TIMESTAMPNS_OLD	/* struct ks_timespec */
#define KS_SCM_TIMESTAMP_NEW	KS_SO_TIMESTAMP_NEW	/* struct ks_timeval */
#define KS_SCM_TIMESTAMPNS_NEW	KS_SO_TIMESTAMPNS_NEW	/* struct ks_timespec */
#define KS_SCM_INQ		KS_SO_INQ		/* int */

/* ioctls. */
#define KS_FIONREAD	0x541B
#define KS_SIOCINQ	KS_FIONREAD
#define KS_SIOCOUTQ	0x5411
#define KS_FIONBIO	0x5421
#define KS_SIOCATMARK	0x8905

/* poll events. */
#define KS_POLLIN	0x001
#define KS_POLLPRI	0x002
#define KS_POLLOUT	0x004
#define KS_POLLERR	0x008
#define KS_POLLHUP	0x010
#define KS_POLLNVAL	0x020
#define KS_POLLRDNORM	0x040
#define KS_POLLRDBAND	0x080
#define KS_POLLWRNORM	0x100
#define KS_POLLWRBAND	0x200
#define KS_POLLRDHUP	0x2000

/* Error numbers: ks_* calls return their negation. */
#define KS_EPERM		1
#define KS_ENOENT		2
#define KS_ESRCH		3
#define KS_EINTR		4
#define KS_EIO			5
#define KS_EBADF		9
#define KS_EAGAIN		11
#define KS_ENOMEM		12
#define KS_EACCES		13
#define KS_EFAULT		14
#define KS_EBUSY		16
#define KS_EEXIST		17
#define KS_ENOTDIR		20
#define KS_EISDIR		21
#define KS_EINVAL		22
#define KS_ENFILE		23
#define KS_EMFILE		24
#define KS_ENOTTY		25
#define KS_ESPIPE		29
#define KS_EROFS		30
#define KS_EPIPE		32
#define KS_EDOM			33
#define KS_ERANGE		34
#define KS_ENAMETOOLONG		36
#define KS_ENOSYS		38
#define KS_ELOOP		40
#define KS_ENOTSOCK		88
#define KS_EDESTADDRREQ		89
#define KS_EMSGSIZE		90
#define KS_ENODEV		19
#define KS_ENODATA		61
#define KS_EPROTOTYPE		91
#define KS_ENOPROTOOPT		92
#define KS_EPROTONOSUPPORT	93
#define KS_ESOCKTNOSUPPORT	94
#define KS_EOPNOTSUPP		95
#define KS_EPFNOSUPPORT		96
#define KS_EAFNOSUPPORT		97
#define KS_EADDRINUSE		98
#define KS_EADDRNOTAVAIL	99
#define KS_ENETDOWN		100
#define KS_ECONNABORTED		103
#define KS_ECONNRESET		104
#define KS_ENOBUFS		105
#define KS_EISCONN		106
#define KS_ENOTCONN		107
#define KS_ETOOMANYREFS		109
#define KS_ETIMEDOUT		110
#define KS_ECONNREFUSED		111
#define KS_EALREADY		114
#define KS_EINPROGRESS		115
#define KS_ENOSPC		28

/* Limits that are part of the ABI. */
#define KS_UNIX_PATH_MAX	108	/* sizeof(sun_path) */
#define KS_SCM_MAX_FD		253	/* descriptors per SCM_RIGHTS message */

/* Generic address, large enough for any family (sockaddr_storage). */
struct ks_sockaddr {
	uint16_t	sa_family;
	char		sa_data[14];
};

struct ks_sockaddr_storage {
	uint16_t	ss_family;
	char		ss_data[126];
};

/* AF_UNIX address: 110 bytes, sun_path need not be NUL-terminated. */
struct ks_sockaddr_un {
	uint16_t	sun_family;
	char		sun_path[KS_UNIX_PATH_MAX];
};

/* Internet addresses (AF_INET, AF_INET6), Linux layouts. */
struct ks_in_addr {
	uint32_t	s_addr;			/* network byte order */
};

struct ks_in6_addr {
	uint8_t		s6_bytes[16];	/* not s6_addr: libc makes that a macro */
};

struct ks_sockaddr_in {
	uint16_t		sin_family;	/* KS_AF_INET */
	uint16_t		sin_port;	/* network byte order */
	struct ks_in_addr	sin_addr;
	uint8_t			sin_zero[8];
};

struct ks_sockaddr_in6 {
	uint16_t		sin6_family;	/* KS_AF_INET6 */
	uint16_t		sin6_port;	/* network byte order */
	uint32_t		sin6_flowinfo;
	struct ks_in6_addr	sin6_addr;
	uint32_t		sin6_scope_id;
};

#define KS_IPPROTO_IP	0
#define KS_IPPROTO_TCP	6
#define KS_IPPROTO_UDP	17

/* Layout of struct iovec. */
struct ks_iovec {
	void		*iov_base;
	size_t		 iov_len;
};

/* Layout of struct msghdr (LP64). */
struct ks_msghdr {
	void		*msg_name;
	uint32_t	 msg_namelen;
	struct ks_iovec	*msg_iov;
	size_t		 msg_iovlen;
	void		*msg_control;
	size_t		 msg_controllen;
	int		 msg_flags;
};

/* Layout of struct cmsghdr (LP64): 16-byte header, data aligned to 8. */
struct ks_cmsghdr {
	size_t		cmsg_len;
	int		cmsg_level;
	int		cmsg_type;
};

#define KS_CMSG_ALIGN(len) \
	(((len) + sizeof(size_t) - 1) & ~(sizeof(size_t) - 1))
#define KS_CMSG_SPACE(len) \
	(KS_CMSG_ALIGN(sizeof(struct ks_cmsghdr)) + KS_CMSG_ALIGN(len))
#define KS_CMSG_LEN(len) \
	(KS_CMSG_ALIGN(sizeof(struct ks_cmsghdr)) + (len))

/* SCM_CREDENTIALS payload and SO_PEERCRED value (struct ucred). */
struct ks_ucred {
	int32_t		pid;
	uint32_t	uid;
	uint32_t	gid;
};

/* SO_RCVTIMEO / SO_SNDTIMEO value (struct timeval, 64-bit). */
struct ks_timeval {
	int64_t		tv_sec;
	int64_t		tv_usec;
};

/* SCM_TIMESTAMPNS payload (struct timespec, 64-bit). */
struct ks_timespec {
	int64_t		tv_sec;
	int64_t		tv_nsec;
};

/* SO_TIMESTAMPING value (struct so_timestamping). */
struct ks_so_timestamping {
	int32_t		flags;
	int32_t		bind_phc;
};

/* SO_LINGER value (struct linger). */
struct ks_linger {
	int		l_onoff;
	int		l_linger;
};

#endif /* KSOCK_ABI_H */

/*
 * The ksockd client library: the socket calls of one process, served
 * by a ksockd server. Each function mirrors its POSIX namesake and
 * returns -1 with errno on failure. Descriptors are ksockd's numbers
 * (the process's table in the server), not kernel descriptors.
 *
 * Threads: any number may call at once, up to KSD_SLOTS inside a call
 * (the others wait for a slot). A call that blocks in the server holds
 * no server thread. A signal during a call does not end it (the wait
 * is restarted, as with SA_RESTART).
 */
#ifndef KSOCK_KSD_H
#define KSOCK_KSD_H

#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "proto.h"

/* Attaches the process to the server at @addr (a path, or @NAME for an
 * abstract name). A process started by ksd_execve() claims the
 * descriptors it kept (KSOCKD_TOKEN in the environment). */
int	ksd_attach(const char *addr);
/* Closes every descriptor and detaches (the EXIT label). */
int	ksd_detach(void);

int	ksd_socket(int domain, int type, int protocol);
int	ksd_socketpair(int domain, int type, int protocol, int sv[2]);
int	ksd_bind(int fd, const struct sockaddr *addr, socklen_t len);
int	ksd_listen(int fd, int backlog);
int	ksd_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int	ksd_connect(int fd, const struct sockaddr *addr, socklen_t len);
ssize_t	ksd_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t	ksd_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t	ksd_send(int fd, const void *buf, size_t len, int flags);
ssize_t	ksd_recv(int fd, void *buf, size_t len, int flags);
ssize_t	ksd_sendto(int fd, const void *buf, size_t len, int flags,
		   const struct sockaddr *addr, socklen_t alen);
ssize_t	ksd_recvfrom(int fd, void *buf, size_t len, int flags,
		     struct sockaddr *addr, socklen_t *alen);
int	ksd_shutdown(int fd, int how);
int	ksd_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int	ksd_setsockopt(int fd, int level, int name, const void *val,
		       socklen_t len);
int	ksd_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int	ksd_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
/* FIONREAD/SIOCINQ, SIOCOUTQ, SIOCATMARK, FIONBIO on an int. */
int	ksd_ioctl(int fd, unsigned long req, int *arg);
/* F_GETFL, F_SETFL (O_NONBLOCK), F_GETFD, F_SETFD. */
int	ksd_fcntl(int fd, int cmd, int arg);
int	ksd_poll(struct pollfd *fds, nfds_t n, int timeout);
int	ksd_close(int fd);
int	ksd_dup(int fd);
int	ksd_dup3(int fd, int newfd, int flags);
/* fork(2): the child inherits the process's ksockd descriptors. */
pid_t	ksd_fork(void);
/* execve(2): descriptors without FD_CLOEXEC survive into the new
 * program, which claims them with ksd_attach(). */
int	ksd_execve(const char *path, char *const argv[], char *const envp[]);
/* What the server holds (for tests). */
int	ksd_status(struct ksd_status *st);

/*
 * For a front end that keeps a descriptor map of its own (ksock-run's
 * library, port/preload/remote.c). These return -errno, not -1/errno.
 */
/* Whether the process is attached. */
bool	ksd__attached(void);
/* The kernel descriptor of the connection to the server, or -1. */
int	ksd__conn_fd(void);
/* One request of @label with @flags (KSD_F_*), @fd, @a0..@a2 and @inlen
 * bytes of @inl (at most KSD_INLINE); the reply goes to @rep. Returns
 * rep->ret: >= 0, or -errno (-EBADF when not attached). */
long	ksd__request(uint32_t label, uint32_t flags, int fd, int a0, int a1,
		     int a2, const void *inl, size_t inlen, struct ksd_rep *rep);
/* fork(2) in the two halves pthread_atfork() runs: before, the FORK
 * request's token; in the child, its own attachment (the parent's
 * connection and region are left to the parent), claiming @token (0: a
 * fresh table), or with !@reattach none: the child is only detached. */
int	ksd__fork_token(uint64_t *token);
/* Attaches again with the process's descriptors (a FORK hand-over it
 * claims itself), so that the server takes its identity and umask anew
 * (after setuid(2), umask(2)). No other thread may be inside a call. */
int	ksd__reattach(void);
int	ksd__fork_child(uint64_t token, bool reattach);

#endif /* KSOCK_KSD_H */

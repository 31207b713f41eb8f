/*
 * Internals shared by the files of the hosted port (port.c, proc.c,
 * file.c, posix.c, thread.c, usercopy.c, boundary.c). Not a public
 * header.
 *
 * Objects:
 *   struct ksp_thread  one per OS thread that touched the port: the park
 *                      word and the interrupt flag. Records are recycled
 *                      through a free list, never freed, so a late
 *                      unpark() of a thread that has exited is at worst a
 *                      spurious wake-up of the record's next owner.
 *   struct ksp_proc    a simulated process: ids, umask, descriptor table.
 *   struct ksp_file    an open file: a ksock socket or a host descriptor,
 *                      refcounted; descriptor table slots point at it.
 *
 * Locks, in the order they are taken (all of them are leaves with respect
 * to ksock: ksock may call the port with its locks held, and the port never
 * calls into ksock while holding one of these):
 *   procs  (ksp_procs_lock)   the process list, proc->thr, proc->alive
 *   proc   (proc->lock)       ids and umask of one process         [P]
 *   table  (fdt->lock)        the slots of one descriptor table    [T]
 * Tags: [I] immutable after creation, [A] atomic, [L] procs lock,
 *       [O] touched only by the owning thread.
 */
#ifndef KSOCK_PORT_HOSTED_H
#define KSOCK_PORT_HOSTED_H

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <ksock/ksock.h>

#include "boundary.h"

/* The boundary's user layouts are the host's: msghdr, iovec, mmsghdr,
 * timespec, sockaddr_storage and the flags, as on Linux LP64. */
#define KSP_SAME_LAYOUT(host, ks)	static_assert(sizeof(struct host) == \
	sizeof(struct ks), #host)
#define KSP_SAME_FIELD(host, ks, f)	static_assert(offsetof(struct host, \
	f) == offsetof(struct ks, f), #f)
KSP_SAME_LAYOUT(msghdr, ks_msghdr);
KSP_SAME_FIELD(msghdr, ks_msghdr, msg_name);
KSP_SAME_FIELD(msghdr, ks_msghdr, msg_namelen);
KSP_SAME_FIELD(msghdr, ks_msghdr, msg_iov);
KSP_SAME_FIELD(msghdr, ks_msghdr, msg_iovlen);
KSP_SAME_FIELD(msghdr, ks_msghdr, msg_control);
KSP_SAME_FIELD(msghdr, ks_msghdr, msg_controllen);
KSP_SAME_FIELD(msghdr, ks_msghdr, msg_flags);
KSP_SAME_LAYOUT(iovec, ks_iovec);
KSP_SAME_FIELD(iovec, ks_iovec, iov_base);
KSP_SAME_FIELD(iovec, ks_iovec, iov_len);
KSP_SAME_LAYOUT(mmsghdr, ksp_mmsghdr);
KSP_SAME_FIELD(mmsghdr, ksp_mmsghdr, msg_len);
KSP_SAME_LAYOUT(timespec, ksp_timespec);
KSP_SAME_FIELD(timespec, ksp_timespec, tv_nsec);
KSP_SAME_LAYOUT(sockaddr_storage, ks_sockaddr_storage);
static_assert(sizeof(socklen_t) == sizeof(uint32_t), "socklen_t");
static_assert(SOCK_CLOEXEC == KS_SOCK_CLOEXEC &&
	      SOCK_NONBLOCK == KS_SOCK_NONBLOCK, "SOCK_*");
static_assert(MSG_EOR == KS_MSG_EOR && MSG_DONTWAIT == KS_MSG_DONTWAIT &&
	      MSG_WAITFORONE == KSP_MSG_WAITFORONE, "MSG_*");

struct ksp_proc;

/* Simulated processes' ids start above the kernel's (PID_MAX_LIMIT);
 * an id below is a real process (the first one, a ksockd client). */
#define KSP_SIM_PID_BASE	(4 * 1024 * 1024)

struct ksp_thread {
	_Atomic uint32_t	 word;		/* [A] 1: an unpark is pending */
	atomic_bool		 interrupted;	/* [A] ksp_interrupt() pending */
	atomic_int		 poll_efd;	/* [A] eventfd of a poll in progress, or -1 */
	struct ksp_proc		*proc;		/* [O] NULL: the first process */
	struct ksp_thread	*next_free;	/* free list (pool lock) */
};

/* One descriptor slot. */
struct ksp_fdent {
	struct ksp_file	*file;		/* NULL: free or reserved */
	bool		 cloexec;
	bool		 reserved;	/* taken by an accept in progress */
};

/* See file.c: slots, and two bitmaps to find the lowest free one. */
struct ksp_fdtable {
	pthread_mutex_t	 lock;
	struct ksp_fdent *ent;		/* [T] cap slots */
	uint64_t	*used;		/* [T] a bit per slot: file or reserved */
	uint64_t	*full;		/* [T] a bit per word of used: all ones */
	int		 cap;		/* [T] slots allocated (0, or 2^k >= 64) */
	int		 count;		/* [T] slots holding a file */
};

struct ksp_proc {
	int32_t		 pid;			/* [I] */
	pthread_mutex_t	 lock;
	uint32_t	 uid, euid, suid;	/* [P] */
	uint32_t	 gid, egid, sgid;	/* [P] */
	mode_t		 umask;			/* [P] */
	struct ksp_fdtable fdt;
	/* What the port would ask the kernel, when the process is another
	 * one (a ksockd client): set before its first call, then fixed. */
	uint64_t	 netns;			/* [I] 0: the thread's */
	uint32_t	*groups;		/* [I] NULL: the real process's */
	unsigned	 ngroups;		/* [I] entries in groups */

	/* Forked processes only. */
	pthread_t	 thread;		/* [I] */
	struct ksp_thread *thr;			/* [L] while fn runs, else NULL */
	int		(*fn)(void *);		/* [I] */
	void		*arg;			/* [I] */
	int		 status;		/* written before the thread ends */
	struct ksp_proc	*next;			/* [L] process list */
};

/* An open file. */
struct ksp_file {
	atomic_long	 refs;		/* [A] */
	struct ks_sock	*so;		/* [I] the socket, or NULL */
	int		 hostfd;	/* [I] the real descriptor when so is NULL
					 * (a parked file's: set once, by
					 * drop's owner) */
	/* A socket's file state, as Linux keeps it in struct file. */
	atomic_uint	 fl;		/* [A] O_APPEND, O_ASYNC, O_NOATIME */
	atomic_int	 sig;		/* [A] F_SETSIG's signal */
	/* A parked host file (ksp__file_new_parked): its descriptor waits
	 * outside the process (ksockd parks a message's kernel descriptors
	 * in a kernel socket's queue) and hostfd is -1 until drop's owner
	 * fetches it; the last reference calls drop instead of close().
	 * NULL for every other file. */
	void		(*drop)(struct ksp_file *f);	/* [I] */
	void		*priv;				/* [I] drop's */
};

/* Internal to the library: kept out of libksock.so's dynamic symbols. */
#pragma GCC visibility push(hidden)

/* sockfile.c: fcntl and ioctl answers of Linux's file layer */
/* The kernel's _NSIG: F_SETSIG takes 0 to this (glibc's _NSIG is one more). */
#define KSP_NSIG	64
/* The F_SETFL flags a socket keeps (O_DIRECT is refused: EINVAL). */
#define KSP_SOCK_SETFL	(O_APPEND | O_ASYNC | O_NOATIME | O_NONBLOCK)
/*
 * fcntl @cmd on a socket for the commands its file answers: record locks
 * (a test finds nothing, a lock is granted), leases, F_NOTIFY. Returns
 * the result, or -EINVAL (also for a command it does not know), -EFAULT,
 * -ENOTDIR. No locks.
 */
int	ksp__sock_fcntl_file(int cmd, long arg);
/*
 * A netdevice ioctl (type 0x89) on a socket, answered by a kernel AF_UNIX
 * socket as Linux answers it on any socket. Returns the result, -ENOTTY
 * for another type, or the kernel's -errno. No locks.
 */
int	ksp__sock_ioctl_netdev(unsigned long req, void *arg);

/* port.c */
struct ksp_thread *ksp__thread(void);
int	ksp__park(int64_t deadline_ns);
void	ksp__unpark(struct ksp_thread *t);
int64_t	ksp__now(void);
/* port.h hooks that the hosted and preload ports share. */
void	ksp__mutex_init(struct ks_mutex *m);
void	ksp__mutex_destroy(struct ks_mutex *m);
void	ksp__mutex_lock(struct ks_mutex *m);
void	ksp__mutex_unlock(struct ks_mutex *m);
void	*ksp__thread_self(void);
void	ksp__thread_unpark(void *thread);
int	ksp__park_word(const void *word, int val, int64_t deadline_ns);
void	ksp__unpark_word(const void *word);
void	ksp__random(void *buf, size_t len);
/* port.h's file_drops_reported (true: both descriptor layers report),
 * realtime (CLOCK_REALTIME), groups (getgroups) and netdev_index
 * (if_nametoindex), alike in both Linux ports. */
bool	ksp__file_drops_reported(void);
int64_t	ksp__realtime(void);
unsigned ksp__groups(uint32_t *gids, unsigned max);
int	ksp__netdev_index(const char *name);
/* diag.c: answers one connection to a diag server with a snapshot, if
 * its peer is the real uid or root, and closes it (raw system calls, so
 * the preload library's server uses it too). */
void	ksp__diag_answer(int fd);
/*
 * usercopy.c: port.h's copy hooks for a Linux process (0, or -EFAULT for
 * memory that cannot be read or written, never a fault; async-signal-
 * safe), and boundary.h's ksp__user_range_ok().
 */
int	ksp__copy_from_user(void *dst, const void *usrc, size_t len);
int	ksp__copy_to_user(void *udst, const void *src, size_t len);
/*
 * port.h copy_user_cross: both threads share this address space, so a
 * copy between two user ranges with both guarded: -KS_EFAULT when @udst
 * faults, -KS_EACCES when @usrc does (part may have been copied).
 * @owner is not needed here.
 */
int	ksp__copy_user_cross(void *udst, void *owner, const void *usrc,
			     size_t len);
/*
 * Whether every byte of [@uptr, @uptr + @len) could be written now: 0,
 * or -KS_EFAULT for a range that fails ksp__user_range_ok(), NULL, a
 * KSP_REMOTE_BIT address, or one with a page that faults when written
 * (unmapped, read-only, a file mapping past its end). Each page is
 * touched for writing once, without changing its bytes (so pages not yet
 * there are made present, as a copy into them would make them); nothing
 * is copied and no system call made. Another thread may unmap or protect
 * the range right after: the answer is about the moment of the check.
 * Async-signal-safe. @len 0 is 0.
 */
int	ksp__user_writable(void *uptr, size_t len);
/*
 * Another process's memory (a ksockd client's, whose calls the server
 * runs): an address with KSP_REMOTE_BIT set names the address without
 * it in the process ksp__user_remote() last named on this thread, and
 * the copy hooks reach it with process_vm_readv/process_vm_writev
 * instead of touching it. Such an address is never the caller's own
 * (the bit is above every user address), and with no process named, or
 * one the kernel refuses, the copy is -EFAULT. @pid 0 names none.
 */
#define KSP_REMOTE_BIT	((uintptr_t)1 << 62)
void	ksp__user_remote(int32_t pid);
/* Ends what ksp__user_remote() began (no process named from then on),
 * and says whether a copy since then failed because the kernel refused
 * the process's memory (EPERM, ENOSYS) rather than for a bad address. */
bool	ksp__user_remote_end(void);
/*
 * For a front end that sees the program's own sigaction calls (the
 * preload shim): once the copy hooks' SIGSEGV/SIGBUS handlers are in
 * place, a program's action for those signals becomes the one faults
 * outside copies go to, and *@old reports the program's previous one,
 * so the program sees what it would have seen. Returns 1 (done), 0 (not
 * such a call: pass it on), or -EFAULT.
 */
int	ksp__fault_sigaction(int sig, const struct sigaction *act,
			     struct sigaction *old);
/* st_dev reported for sockets, as Linux reports sockfs's device. */
#define KSP_SOCK_DEV	0x6b73
/* What fstat(2) reports for a socket owned by @uid/@gid, into @k. */
void	ksp__sock_stat(struct ks_sock *so, uid_t uid, gid_t gid,
		       struct stat *k);
/* fstat(2) on a socket: the same, copied out to @ust. 0 or -EFAULT. */
int	ksp__sys_fstat(struct ks_sock *so, uid_t uid, gid_t gid,
		       struct stat *ust);

/* Sets errno from the negative @err and returns -1: the Linux front
 * ends' one conversion of the boundary's results. */
static inline long
ksp__fail(long err)
{
	errno = (int)-err;
	return -1;
}
/* In a forked child: the pool lock another thread may have held is
 * usable again (the other threads' records are abandoned), and the
 * parent's node pins are dropped. */
void	ksp__thread_fork_child(void);
/*
 * Pins the socket node open as the O_PATH descriptor @fd (which it takes
 * over, and closes on failure) and fills @key with its (st_dev, st_ino).
 * Returns 0, -errno of fstat, or -KS_ENOMEM. ksp__node_release() is
 * port.h's node_release for both ports.
 */
int	ksp__node_pin(int fd, struct ks_node_key *key);
void	ksp__node_release(const struct ks_node_key *key);
/* port.h's netns for both ports: the calling thread's network namespace,
 * cached per thread. ksp__netns_changed() makes every thread ask again;
 * call it after a successful unshare or setns that may have moved the
 * caller to another network namespace. */
uint64_t ksp__netns(void);
void	ksp__netns_changed(void);

/* spin.c: port.h's keep_spinning for both Linux ports, and the policy
 * of the poll loops. */
bool	ksp__keep_spinning(int64_t spun_ns);
/* The spin of the ports' own poll and epoll waits, under the same policy
 * as ksock's waiters: spins until @done(@arg), while keep_spinning says
 * it pays and never past @deadline (monotonic ns, -1: none). Returns
 * whether @done became true; if not, the caller parks. */
bool	ksp__spin_until(bool (*done)(void *arg), void *arg, int64_t deadline);

/* proc.c */
extern pthread_mutex_t ksp_procs_lock;
struct ksp_proc *ksp__proc(void);
bool	ksp__pid_exists(int32_t pid);
void	ksp__signal_pid(int32_t pid, int sig);

/* file.c */
struct ksp_file *ksp__file_new_sock(struct ks_sock *so);
struct ksp_file *ksp__file_new_host(int hostfd);
struct ksp_file *ksp__file_new_parked(void (*drop)(struct ksp_file *f),
				      void *priv);
/* How many files owning a host descriptor exist (ksockd: kernel
 * descriptors in flight or being installed, parked ones too). Errs only
 * high. */
long	ksp__host_files(void);
void	ksp__file_hold(struct ksp_file *f);
void	ksp__file_put(struct ksp_file *f);
int	ksp__fd_limit(void);
bool	ksp__fd_below_limit(long n);
int	ksp__fd_get(struct ksp_fdtable *t, int fd, struct ksp_file **out);
int	ksp__fd_install(struct ksp_fdtable *t, struct ksp_file *f, bool cloexec,
			int minfd);
int	ksp__fd_reserve(struct ksp_fdtable *t);
void	ksp__fd_commit(struct ksp_fdtable *t, int fd, struct ksp_file *f,
		       bool cloexec);
void	ksp__fd_unreserve(struct ksp_fdtable *t, int fd);
int	ksp__fd_close(struct ksp_fdtable *t, int fd);
int	ksp__fd_dup3(struct ksp_fdtable *t, int oldfd, int newfd, bool cloexec);
int	ksp__fd_get_cloexec(struct ksp_fdtable *t, int fd);
int	ksp__fd_set_cloexec(struct ksp_fdtable *t, int fd, bool on);
int	ksp__fdtable_init(struct ksp_fdtable *t);
int	ksp__fdtable_copy(struct ksp_fdtable *dst, struct ksp_fdtable *src);
void	ksp__fdtable_close_all(struct ksp_fdtable *t);
void	ksp__fdtable_destroy(struct ksp_fdtable *t);
int	ksp__fdtable_count(struct ksp_fdtable *t);

#pragma GCC visibility pop

#endif /* KSOCK_PORT_HOSTED_H */

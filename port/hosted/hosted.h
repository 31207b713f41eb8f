/*
 * Internals shared by the files of the hosted port (port.c, proc.c,
 * file.c, posix.c). Not a public header.
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

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <ksock/ksock.h>

struct ksp_proc;

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

struct ksp_fdtable {
	pthread_mutex_t	 lock;
	struct ksp_fdent *ent;		/* [T] */
	int		 cap;		/* [T] slots allocated */
	int		 count;		/* [T] slots holding a file */
};

struct ksp_proc {
	int32_t		 pid;			/* [I] */
	pthread_mutex_t	 lock;
	uint32_t	 uid, euid, suid;	/* [P] */
	uint32_t	 gid, egid, sgid;	/* [P] */
	mode_t		 umask;			/* [P] */
	struct ksp_fdtable fdt;

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
	int		 hostfd;	/* [I] the real descriptor when so is NULL */
};

/* Internal to the library: kept out of libksock.so's dynamic symbols. */
#pragma GCC visibility push(hidden)

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
int	ksp__copy_from_user(void *dst, const void *usrc, size_t len);
int	ksp__copy_to_user(void *udst, const void *src, size_t len);

/* boundary.c: socket addresses across the system-call boundary, as
 * Linux's move_addr_to_kernel() and move_addr_to_user(). */
int	ksp__addr_in(const struct sockaddr *addr, socklen_t len,
		     struct ks_sockaddr_storage *k);
int	ksp__addr_out(const void *k, uint32_t klen, struct sockaddr *uaddr,
		      socklen_t *ulen);
/* In a forked child: the pool lock another thread may have held is
 * usable again (the other threads' records are abandoned). */
void	ksp__thread_fork_child(void);

/* proc.c */
extern pthread_mutex_t ksp_procs_lock;
struct ksp_proc *ksp__proc(void);
bool	ksp__pid_exists(int32_t pid);
void	ksp__signal_pid(int32_t pid, int sig);

/* file.c */
struct ksp_file *ksp__file_new_sock(struct ks_sock *so);
struct ksp_file *ksp__file_new_host(int hostfd);
void	ksp__file_hold(struct ksp_file *f);
void	ksp__file_put(struct ksp_file *f);
int	ksp__fd_limit(void);
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

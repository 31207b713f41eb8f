/*
 * Linux kernel port of ksock: what the two glue files share.
 *
 * kport.c fills struct ks_port on kernel primitives; kfamily.c registers
 * the socket family and maps every proto_ops call onto ks_*.
 *
 * Per-call context. Some memory reaches ksock as "user memory" although
 * it is not in the caller's address space: sendmsg's control buffer,
 * which net/socket.c has already copied into the kernel, and data
 * described by an iov_iter that is not a user iovec (kernel vectors from
 * splice, sendfile or in-kernel callers). The glue describes such memory
 * as a window of kernel addresses and registers, for the duration of the
 * call, a struct kp_call for the calling task; the copy hooks look a
 * kernel address up among the calling task's windows and fail with
 * -EFAULT when it is in none of them. A user pointer (below
 * TASK_SIZE_MAX) never needs the lookup. The registry is a hash table
 * keyed by the task, so no per-task field is borrowed.
 *
 * Locks: each registry bucket has a spinlock, a leaf, held only to link,
 * unlink or search.
 */
#ifndef KSOCK_KPORT_H
#define KSOCK_KPORT_H

#include <linux/list.h>
#include <linux/path.h>
#include <linux/sched.h>
#include <linux/uio.h>

#include <ksock/ksock.h>

/*
 * Where iov_iter windows live: the first address of the kernel half,
 * which is never mapped (a non-canonical hole precedes it and the
 * direct map starts far above). Window addresses are only keys: the
 * copy hooks translate them into positions in the iterator.
 */
#define KP_ITER_BASE	0xffff800000000000UL

struct kp_call {
	struct hlist_node	 node;		/* [bucket] */
	struct task_struct	*task;		/* [I] */
	/* A kernel buffer ksock may read and write as if it were user
	 * memory, or NULL. */
	void			*kbuf;		/* [I] */
	size_t			 kbuf_len;	/* [I] */
	/* An iterator behind the window [KP_ITER_BASE, + iter_len), or
	 * NULL; iter_pos is how far into the window it stands. */
	struct iov_iter		*iter;		/* [task] */
	size_t			 iter_len;	/* [I] */
	size_t			 iter_pos;	/* [task] */
	/* node_create() leaves here the path of the node it made, so that
	 * bind can pin it (kfamily.c); path.dentry is NULL otherwise. */
	struct path		 created;	/* [task] */
};

/* Registers @c (zeroed by the caller, with its windows filled) for the
 * calling task; kp_call_end() must follow before @c goes away. */
void	kp_call_begin(struct kp_call *c);
void	kp_call_end(struct kp_call *c);

/* The port table. */
const struct ks_port *kp_port(void);

/* How many of ksock's allocations are not freed yet. */
long	kp_allocs_outstanding(void);

/* Whether @f is a socket of this module, and its ksock socket. */
struct ks_sock *kp_file_sock(struct file *f);

#endif /* KSOCK_KPORT_H */

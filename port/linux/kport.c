/*
 * Linux kernel port of ksock: struct ks_port on kernel primitives.
 *
 * What each hook maps to:
 *   memory       kvmalloc / kvfree (messages may be large)
 *   mutexes      struct mutex, stored in struct ks_mutex
 *   waiting      KS_PORT_PARK_WORD: park_word() sleeps on the kernel's
 *                hashed variable wait queues (__var_waitqueue, as
 *                wait_var_event does) keyed by ksock's own waiter word,
 *                unpark_word() is wake_up_var(). No per-task token is
 *                needed, and a wake-up for a waiter that has already
 *                left touches only the hash bucket. The token pair
 *                park()/unpark() is never called (see port.h).
 *   time         ktime_get_ns (CLOCK_MONOTONIC, as schedule_hrtimeout)
 *   identity     the current task's credentials, in its own namespaces
 *   descriptors  fget_raw / get_file / fput / receive_fd; file_sock
 *                recognises this module's sockets (kfamily.c)
 *   nodes        kern_path_create + vfs_mknod, vfs_unlink, kern_path +
 *                path_permission, as net/unix/af_unix.c does
 *   signals      send_sig, kill_pid / kill_pgrp
 *   user memory  copy_{from,to}_user for user addresses; the calling
 *                task's registered windows (kport.h) for kernel ones
 *
 * Locks: the registry's bucket spinlocks (leaves). Nothing else here
 * keeps state.
 */
#include <linux/cred.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hash.h>
#include <linux/hrtimer.h>
#include <linux/mount.h>
#include <linux/mutex.h>
#include <linux/netdevice.h>
#include <linux/nsproxy.h>
#include <net/net_namespace.h>
#include <linux/namei.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/random.h>
#include <linux/sched/signal.h>
#include <linux/security.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/wait_bit.h>

#include "kport.h"

/* -- the per-call registry -- */

#define KP_CALL_BITS	6

static struct {
	spinlock_t		lock;
	struct hlist_head	head;
} kp_calls[1 << KP_CALL_BITS];

static void
kp_calls_init(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(kp_calls); i++) {
		spin_lock_init(&kp_calls[i].lock);
		INIT_HLIST_HEAD(&kp_calls[i].head);
	}
}

static unsigned
kp_bucket(struct task_struct *t)
{
	return hash_ptr(t, KP_CALL_BITS);
}

/* See kport.h. */
void
kp_call_begin(struct kp_call *c)
{
	unsigned b;

	c->task = current;
	b = kp_bucket(c->task);
	spin_lock(&kp_calls[b].lock);
	hlist_add_head(&c->node, &kp_calls[b].head);
	spin_unlock(&kp_calls[b].lock);
}

/* See kport.h. */
void
kp_call_end(struct kp_call *c)
{
	unsigned b = kp_bucket(c->task);

	spin_lock(&kp_calls[b].lock);
	hlist_del(&c->node);
	spin_unlock(&kp_calls[b].lock);
	if (c->created.dentry != NULL)
		path_put(&c->created);
}

/*
 * The calling task's innermost registered call, or NULL. Only the task
 * itself links and unlinks its calls, so the entry stays valid after
 * the bucket lock is dropped.
 */
static struct kp_call *
kp_call_current(void)
{
	unsigned b = kp_bucket(current);
	struct kp_call *c, *found = NULL;

	spin_lock(&kp_calls[b].lock);
	hlist_for_each_entry(c, &kp_calls[b].head, node) {
		if (c->task == current) {
			found = c;
			break;
		}
	}
	spin_unlock(&kp_calls[b].lock);
	return found;
}

/* -- memory -- */

/* Allocations outstanding, for the leak check at unload. */
static atomic_long_t kp_allocs = ATOMIC_LONG_INIT(0);

static void *
kp_alloc(size_t size)
{
	void *p = kvmalloc(size ? size : 1, GFP_KERNEL | __GFP_NOWARN);

	if (p != NULL)
		atomic_long_inc(&kp_allocs);
	return p;
}

static void
kp_free(void *p, size_t size)
{
	if (p == NULL)
		return;
	atomic_long_dec(&kp_allocs);
	kvfree(p);
}

/* See kport.h. */
long
kp_allocs_outstanding(void)
{
	return atomic_long_read(&kp_allocs);
}

/* -- mutexes -- */

static struct mutex *
as_mutex(struct ks_mutex *m)
{
	BUILD_BUG_ON(sizeof(struct mutex) > sizeof(struct ks_mutex));
	BUILD_BUG_ON(__alignof__(struct mutex) > __alignof__(struct ks_mutex));
	return (struct mutex *)m->opaque;
}

static void
kp_mutex_init(struct ks_mutex *m)
{
	mutex_init(as_mutex(m));
}

static void
kp_mutex_destroy(struct ks_mutex *m)
{
	mutex_destroy(as_mutex(m));
}

static void
kp_mutex_lock(struct ks_mutex *m)
{
	mutex_lock(as_mutex(m));
}

static void
kp_mutex_unlock(struct ks_mutex *m)
{
	mutex_unlock(as_mutex(m));
}

/* -- waiting -- */

/* Identity only (the collector tells its draining threads apart). */
static void *
kp_thread_self(void)
{
	return current;
}

/* Never called: the port sets KS_PORT_PARK_WORD. A spurious return is
 * within the contract, so that is what a stray call gets. */
static int
kp_park(int64_t deadline_ns)
{
	return 0;
}

static void
kp_unpark(void *thread)
{
}

/*
 * See port.h. The classic kernel sleep: queue, set the task state,
 * re-read the word, then sleep; wake_up_var() on the same address finds
 * the entry through the same hash bucket. Returns 0 after any wake-up
 * (ksock re-checks), so a timer or a signal is reported on the next call.
 */
static int
kp_park_word(const void *word, int val, int64_t deadline_ns)
{
	void *var = (void *)word;
	struct wait_queue_head *wq = __var_waitqueue(var);
	struct wait_bit_queue_entry wbq;
	int err = 0;

	init_wait_var_entry(&wbq, var, 0);
	prepare_to_wait_event(wq, &wbq.wq_entry, TASK_INTERRUPTIBLE);
	if (READ_ONCE(*(const int *)word) != val)
		goto finish;
	if (signal_pending(current)) {
		err = -EINTR;
		goto finish;
	}
	if (deadline_ns >= 0) {
		ktime_t t = ns_to_ktime(deadline_ns);

		if (ktime_get_ns() >= deadline_ns) {
			err = -ETIMEDOUT;
			goto finish;
		}
		schedule_hrtimeout(&t, HRTIMER_MODE_ABS);
	} else {
		schedule();
	}
finish:
	finish_wait(wq, &wbq.wq_entry);
	return err;
}

static void
kp_unpark_word(const void *word)
{
	wake_up_var((void *)word);
}

/* -- time, identity, privilege -- */

static int64_t
kp_now(void)
{
	return ktime_get_ns();
}

static void
kp_cred(struct ks_cred *out)
{
	const struct cred *c = current_cred();
	struct user_namespace *ns = current_user_ns();

	out->pid = task_tgid_vnr(current);
	out->uid = from_kuid_munged(ns, c->uid);
	out->euid = from_kuid_munged(ns, c->euid);
	out->suid = from_kuid_munged(ns, c->suid);
	out->gid = from_kgid_munged(ns, c->gid);
	out->egid = from_kgid_munged(ns, c->egid);
	out->sgid = from_kgid_munged(ns, c->sgid);
}

static unsigned
kp_umask(void)
{
	return current_umask();
}

/* As net/core/scm.c's scm_check_creds() and af_unix's too_many_unix_fds(). */
static bool
kp_capable(enum ks_cap cap)
{
	switch (cap) {
	case KS_CAP_SYS_ADMIN:
		return ns_capable(task_active_pid_ns(current)->user_ns,
				  CAP_SYS_ADMIN);
	case KS_CAP_SETUID:
		return ns_capable(current_user_ns(), CAP_SETUID);
	case KS_CAP_SETGID:
		return ns_capable(current_user_ns(), CAP_SETGID);
	case KS_CAP_SYS_RESOURCE:
		return capable(CAP_SYS_RESOURCE);
	case KS_CAP_NET_ADMIN:
		return ns_capable(current->nsproxy->net_ns->user_ns, CAP_NET_ADMIN);
	case KS_CAP_NET_RAW:
		return ns_capable(current->nsproxy->net_ns->user_ns, CAP_NET_RAW);
	case KS_CAP_NET_BIND_SERVICE:
		return ns_capable(current->nsproxy->net_ns->user_ns,
				  CAP_NET_BIND_SERVICE);
	}
	return false;
}

static bool
kp_pid_exists(int32_t pid)
{
	struct pid *p = find_get_pid(pid);

	put_pid(p);
	return p != NULL;
}

static unsigned
kp_inflight_limit(uint32_t uid)
{
	unsigned long lim = rlimit(RLIMIT_NOFILE);

	return lim > UINT_MAX ? UINT_MAX : (unsigned)lim;
}

/* -- descriptors -- */

/* fget_raw, as scm_fp_copy(): an O_PATH descriptor can be passed too. */
static int
kp_file_get(int fd, struct ks_file **out)
{
	struct file *f = fget_raw(fd);

	if (f == NULL)
		return -EBADF;
	*out = (struct ks_file *)f;
	return 0;
}

static void
kp_file_hold(struct ks_file *f)
{
	get_file((struct file *)f);
}

static void
kp_file_put(struct ks_file *f)
{
	fput((struct file *)f);
}

/* receive_fd() takes its own reference and runs the LSM's file_receive
 * check and the socket cgroup update, as scm_detach_fds() does. */
static int
kp_file_install(struct ks_file *f, int flags)
{
	return receive_fd((struct file *)f,
			  (flags & KS_O_CLOEXEC) ? O_CLOEXEC : 0);
}

static struct ks_sock *
kp_file_sock_hook(struct ks_file *f)
{
	return kp_file_sock((struct file *)f);
}

static long
kp_file_count(struct ks_file *f)
{
	return file_count((struct file *)f);
}

/* -- socket nodes -- */

/*
 * A node's key is its inode's address (and device): node_create pins the
 * inode with a reference that node_release drops, so the address cannot
 * name another node while a socket is bound to it (port.h).
 */
static void
node_key(struct inode *inode, struct ks_node_key *key)
{
	key->a = (uintptr_t)inode;
	key->b = inode->i_sb->s_dev;
}

static void
kp_node_release(const struct ks_node_key *key)
{
	iput((struct inode *)(uintptr_t)key->a);
}

/*
 * As unix_bind_bsd(): mknod of an S_IFSOCK node. The calling bind's
 * kp_call keeps the new node's path so that the socket can hold it
 * (kfamily.c), as Linux's unix_sock.path does.
 */
static int
kp_node_create(const char *path, unsigned mode, struct ks_node_key *key)
{
	struct kp_call *c = kp_call_current();
	struct path parent;
	struct dentry *dentry;
	umode_t m = S_IFSOCK | (mode & ~current_umask() & 07777);
	int err;

	dentry = kern_path_create(AT_FDCWD, path, &parent, 0);
	if (IS_ERR(dentry))
		return PTR_ERR(dentry) == -EEXIST ? -EADDRINUSE : PTR_ERR(dentry);
	err = security_path_mknod(&parent, dentry, m, 0);
	if (err == 0)
		err = vfs_mknod(mnt_user_ns(parent.mnt), d_inode(parent.dentry),
				dentry, m, 0);
	if (err == 0) {
		ihold(d_inode(dentry));
		node_key(d_inode(dentry), key);
		if (c != NULL && c->created.dentry == NULL) {
			c->created.mnt = mntget(parent.mnt);
			c->created.dentry = dget(dentry);
		}
	}
	done_path_create(&parent, dentry);
	return err == -EEXIST ? -EADDRINUSE : err;
}

/* Unlinks the node this call created, if it is still where it was. */
static void
kp_node_remove(const char *path, const struct ks_node_key *key)
{
	struct kp_call *c = kp_call_current();
	struct dentry *dentry, *dir;

	if (c == NULL || c->created.dentry == NULL)
		return;
	dentry = c->created.dentry;
	dir = dget_parent(dentry);
	if (mnt_want_write(c->created.mnt) == 0) {
		inode_lock_nested(d_inode(dir), I_MUTEX_PARENT);
		if (dentry->d_parent == dir && d_inode(dentry) != NULL)
			vfs_unlink(mnt_user_ns(c->created.mnt), d_inode(dir),
				   dentry, NULL);
		inode_unlock(d_inode(dir));
		mnt_drop_write(c->created.mnt);
	}
	dput(dir);
	path_put(&c->created);
	c->created.dentry = NULL;
	c->created.mnt = NULL;
}

/* As unix_find_bsd(): the permission check comes before the type check. */
static int
kp_node_lookup(const char *path, struct ks_node_key *key)
{
	struct path p;
	struct inode *inode;
	int err;

	err = kern_path(path, LOOKUP_FOLLOW, &p);
	if (err)
		return err;
	err = path_permission(&p, MAY_WRITE);
	if (err)
		goto put;
	inode = d_backing_inode(p.dentry);
	if (!S_ISSOCK(inode->i_mode)) {
		err = -ECONNREFUSED;
		goto put;
	}
	node_key(inode, key);
put:
	path_put(&p);
	return err;
}

/* -- signals, randomness -- */

static void
kp_signal_pipe(void)
{
	send_sig(SIGPIPE, current, 0);
}

static void
kp_signal_urg(int32_t owner)
{
	struct pid *pid;

	if (owner == 0 || owner == INT_MIN)
		return;
	rcu_read_lock();
	pid = find_vpid(owner > 0 ? owner : -owner);
	if (pid != NULL) {
		if (owner > 0)
			kill_pid(pid, SIGURG, 1);
		else
			kill_pgrp(pid, SIGURG, 1);
	}
	rcu_read_unlock();
}

static void
kp_random(void *buf, size_t len)
{
	get_random_bytes(buf, len);
}

/* -- namespaces, clocks, groups, pidfds, devices -- */

static uint64_t
kp_netns(void)
{
	return current->nsproxy->net_ns->net_cookie;
}

/* Linux tells a family of nothing but a file's last close: ksock then
 * collects as Linux does (at closes and sends with descriptors). */
static bool
kp_file_drops_reported(void)
{
	return false;
}

static int64_t
kp_realtime(void)
{
	return ktime_get_real_ns();
}

static unsigned
kp_groups(uint32_t *gids, unsigned max)
{
	const struct group_info *gi = current_cred()->group_info;
	struct user_namespace *ns = current_user_ns();

	for (int i = 0; i < gi->ngroups && (unsigned)i < max; i++)
		gids[i] = from_kgid_munged(ns, gi->gid[i]);
	return gi->ngroups;
}

/* Linux 6.1 exports no way to make a pidfd, and its generic socket code
 * knows neither SO_PEERPIDFD nor SCM_PIDFD, so no program can ask. */
static int
kp_pidfd_install(int32_t pid)
{
	return -ENOSYS;
}

static int
kp_netdev_index(const char *name)
{
	struct net_device *dev;
	int idx = -ENODEV;

	rcu_read_lock();
	dev = dev_get_by_name_rcu(current->nsproxy->net_ns, name);
	if (dev != NULL)
		idx = dev->ifindex;
	rcu_read_unlock();
	return idx;
}

/* -- single copy -- */

/*
 * A reader here runs in its own process's address space: a blocked
 * writer's user memory cannot be reached from it, so ksock keeps the
 * two-copy path (port.h: copy_user_cross).
 */
static int
kp_copy_user_cross(void *udst, void *owner, const void *usrc, size_t len)
{
	return -EOPNOTSUPP;
}

/* -- spinning -- */

/* The whole spin: about what a sleep and a wake-up cost in a guest. */
#define KP_SPIN_BUDGET_NS	20000

/*
 * Spinning before a sleep helps only when the thread that ends the wait
 * runs on another CPU meanwhile: on one online CPU it only delays that
 * thread (a prototype spent 82 us per ping-pong round trip instead of
 * 30), so a waiter there sleeps at once; elsewhere it spins for at most
 * the budget, and gives the CPU up if the scheduler wants it.
 */
static bool
kp_keep_spinning(int64_t spun_ns)
{
	if (num_online_cpus() <= 1 || spun_ns >= KP_SPIN_BUDGET_NS)
		return false;
	return !need_resched();
}

/* -- user memory -- */

enum kp_dir { KP_FROM, KP_TO };

/*
 * Moves @len bytes between @kaddr and the window address @p of the
 * calling task. Returns 0, or -EFAULT when @p is in no window of the
 * current call or the iterator comes up short.
 */
static int
kp_window_copy(enum kp_dir dir, void *kaddr, unsigned long p, size_t len)
{
	struct kp_call *c = kp_call_current();
	unsigned long b;

	if (c == NULL)
		return -EFAULT;
	b = (unsigned long)c->kbuf;
	if (c->kbuf != NULL && p >= b && len <= c->kbuf_len &&
	    p - b <= c->kbuf_len - len) {
		if (dir == KP_FROM)
			memcpy(kaddr, (void *)p, len);
		else
			memcpy((void *)p, kaddr, len);
		return 0;
	}
	if (c->iter != NULL && p >= KP_ITER_BASE && len <= c->iter_len &&
	    p - KP_ITER_BASE <= c->iter_len - len) {
		size_t off = p - KP_ITER_BASE, n;

		/* ksock moves forward through a message; a step back (a
		 * send that gives up and starts a buffer again) is a revert. */
		if (off > c->iter_pos)
			iov_iter_advance(c->iter, off - c->iter_pos);
		else if (off < c->iter_pos)
			iov_iter_revert(c->iter, c->iter_pos - off);
		c->iter_pos = off;
		if (dir == KP_FROM)
			n = copy_from_iter(kaddr, len, c->iter);
		else
			n = copy_to_iter(kaddr, len, c->iter);
		c->iter_pos += n;
		return n == len ? 0 : -EFAULT;
	}
	return -EFAULT;
}

static int
kp_copy_from_user(void *dst, const void *usrc, size_t len)
{
	unsigned long p = (unsigned long)usrc;

	if (len == 0)
		return 0;
	if (p >= TASK_SIZE_MAX)
		return kp_window_copy(KP_FROM, dst, p, len);
	return copy_from_user(dst, (const void __user *)usrc, len) ? -EFAULT : 0;
}

static int
kp_copy_to_user(void *udst, const void *src, size_t len)
{
	unsigned long p = (unsigned long)udst;

	if (len == 0)
		return 0;
	if (p >= TASK_SIZE_MAX)
		return kp_window_copy(KP_TO, (void *)src, p, len);
	return copy_to_user((void __user *)udst, src, len) ? -EFAULT : 0;
}

#define KP_PORT_HOOKS							\
	.version	= KS_PORT_VERSION,				\
	.size		= sizeof(struct ks_port),			\
	.alloc		= kp_alloc,					\
	.free		= kp_free,					\
	.mutex_init	= kp_mutex_init,				\
	.mutex_destroy	= kp_mutex_destroy,				\
	.mutex_lock	= kp_mutex_lock,				\
	.mutex_unlock	= kp_mutex_unlock,				\
	.thread_self	= kp_thread_self,				\
	.park		= kp_park,					\
	.unpark		= kp_unpark,					\
	.now		= kp_now,					\
	.cred		= kp_cred,					\
	.umask		= kp_umask,					\
	.capable	= kp_capable,					\
	.pid_exists	= kp_pid_exists,				\
	.inflight_limit	= kp_inflight_limit,				\
	.file_get	= kp_file_get,					\
	.file_hold	= kp_file_hold,					\
	.file_put	= kp_file_put,					\
	.file_install	= kp_file_install,				\
	.file_sock	= kp_file_sock_hook,				\
	.file_count	= kp_file_count,				\
	.node_create	= kp_node_create,				\
	.node_remove	= kp_node_remove,				\
	.node_lookup	= kp_node_lookup,				\
	.signal_pipe	= kp_signal_pipe,				\
	.signal_urg	= kp_signal_urg,				\
	.random		= kp_random,					\
	.copy_from_user	= kp_copy_from_user,				\
	.copy_to_user	= kp_copy_to_user,				\
	.node_release	= kp_node_release,				\
	.netns		= kp_netns,					\
	.file_drops_reported = kp_file_drops_reported,			\
	.realtime	= kp_realtime,					\
	.groups		= kp_groups,					\
	.pidfd_install	= kp_pidfd_install,				\
	.netdev_index	= kp_netdev_index,				\
	.keep_spinning	= kp_keep_spinning,				\
	.flags		= KS_PORT_PARK_WORD,				\
	.park_word	= kp_park_word,					\
	.unpark_word	= kp_unpark_word,				\
	.copy_user_cross = kp_copy_user_cross

static const struct ks_port kp_port_table = {
	KP_PORT_HOOKS,
};

/* See kport.h. */
const struct ks_port *
kp_port(void)
{
	kp_calls_init();
	return &kp_port_table;
}

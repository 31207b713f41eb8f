/*
 * Preload port: struct ks_port for a real Linux process.
 *
 * Identity is the real process's: its pid, uids, gids and umask, and
 * capable() reads its effective capability set. Descriptors are the real
 * descriptor space (fdmap.c): file_get() finds a ksock socket through the
 * map, or wraps a duplicate of a kernel descriptor (a pipe, a file, a
 * kernel socket) so SCM_RIGHTS can carry both kinds; file_install() gives
 * a socket a placeholder number and a kernel file a duplicate at the
 * lowest free number. Socket nodes live on the real filesystem and the
 * kernel checks permissions itself, with the process's own credentials:
 * mknod(2) creates the node (honouring the umask) and an O_PATH
 * descriptor, placed high, pins it while the socket lives; stat(2) and
 * faccessat(2) look it up. Threads park on the futex word of
 * port/hosted/thread.c, which also keeps the pins and the per-thread
 * network namespace key.
 *
 * Memory is malloc with a counter of outstanding allocations (the exit
 * summary prints it).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "preload.h"
#include "../hosted/hosted.h"

/* -- memory -- */

static atomic_long alloc_outstanding;

long
kp__alloc_outstanding(void)
{
	return atomic_load(&alloc_outstanding);
}

static void *
port_alloc(size_t size)
{
	void *p = malloc(size != 0 ? size : 1);

	if (p != NULL)
		atomic_fetch_add_explicit(&alloc_outstanding, 1,
					  memory_order_relaxed);
	return p;
}

static void
port_free(void *p, size_t size)
{
	if (p == NULL)
		return;
	atomic_fetch_sub_explicit(&alloc_outstanding, 1, memory_order_relaxed);
	free(p);
}

/* -- identity: the real process -- */

static void
port_cred(struct ks_cred *out)
{
	out->pid = (int32_t)getpid();
	getresuid(&out->uid, &out->euid, &out->suid);
	getresgid(&out->gid, &out->egid, &out->sgid);
}

/*
 * The umask without changing it: /proc/self/status has it (Linux 4.7 and
 * later); otherwise set and restore it, which another thread creating a
 * file at that instant could notice.
 */
static unsigned
port_umask(void)
{
	char line[128];
	unsigned mask;
	FILE *fp = fopen("/proc/self/status", "re");

	if (fp != NULL) {
		while (fgets(line, sizeof(line), fp) != NULL) {
			if (sscanf(line, "Umask: %o", &mask) == 1) {
				fclose(fp);
				return mask;
			}
		}
		fclose(fp);
	}
	mask = umask(022);
	umask(mask);
	return mask;
}

/* Whether the effective capability set holds @cap (capget(2)). */
static bool
port_capable(enum ks_cap cap)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0,
	};
	struct __user_cap_data_struct data[2];
	int bit;

	switch (cap) {
	case KS_CAP_SYS_ADMIN:		bit = CAP_SYS_ADMIN; break;
	case KS_CAP_SETUID:		bit = CAP_SETUID; break;
	case KS_CAP_SETGID:		bit = CAP_SETGID; break;
	case KS_CAP_SYS_RESOURCE:	bit = CAP_SYS_RESOURCE; break;
	case KS_CAP_NET_ADMIN:		bit = CAP_NET_ADMIN; break;
	case KS_CAP_NET_RAW:		bit = CAP_NET_RAW; break;
	case KS_CAP_NET_BIND_SERVICE:	bit = CAP_NET_BIND_SERVICE; break;
	default:			return false;
	}
	if (syscall(SYS_capget, &hdr, data) < 0)
		return geteuid() == 0;
	/* SO_MARK takes either capability, as on Linux. */
	if (cap == KS_CAP_NET_ADMIN &&
	    ((data[CAP_NET_RAW / 32].effective >> (CAP_NET_RAW % 32)) & 1))
		return true;
	return (data[bit / 32].effective >> (bit % 32)) & 1;
}

/* As Linux's find_vpid(): a pid names one process, so 0 and negative
 * numbers (which kill(2) reads as process groups) name none. */
static bool
port_pid_exists(int32_t pid)
{
	if (pid <= 0)
		return false;
	return kill(pid, 0) == 0 || errno == EPERM;
}

static unsigned
port_inflight_limit(uint32_t uid)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > INT32_MAX)
		return INT32_MAX;
	return (unsigned)rl.rlim_cur;
}

/* -- descriptors -- */

static char placeholder_path[PATH_MAX];	/* [once] */
static pthread_once_t placeholder_once = PTHREAD_ONCE_INIT;

static void
placeholder_path_init(void)
{
	Dl_info info;

	if (dladdr((void *)kp__placeholder, &info) != 0 &&
	    info.dli_fname != NULL && info.dli_fname[0] == '/' &&
	    strlen(info.dli_fname) < sizeof(placeholder_path))
		strcpy(placeholder_path, info.dli_fname);
	else
		strcpy(placeholder_path, "/dev/null");
}

/* The file placeholders are opened on (its path, as the kernel names it). */
const char *
kp__placeholder_path(void)
{
	pthread_once(&placeholder_once, placeholder_path_init);
	return placeholder_path;
}

/*
 * A new placeholder descriptor at the lowest free number: O_PATH of this
 * library's own file, so /proc/PID/fd names the library, and read(2) or
 * write(2) on it (by a program exec'd with an inherited number, say)
 * fails with EBADF instead of doing something else quietly. Returns the
 * number or -errno.
 */
int
kp__placeholder(bool cloexec)
{
	int flags = O_PATH | (cloexec ? O_CLOEXEC : 0);
	long fd;

	pthread_once(&placeholder_once, placeholder_path_init);
	fd = syscall(SYS_openat, AT_FDCWD, placeholder_path, flags);
	if (fd < 0)
		fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", flags);
	if (fd < 0)
		return -errno;
	if (fd >= KP_MAX_FD) {
		sys_close(fd);
		return -EMFILE;
	}
	return (int)fd;
}

/* In-flight duplicates of kernel descriptors go high, out of the way of
 * the numbers the program sees. */
static int
high_dup(int fd)
{
	struct rlimit rl;
	long min = 0, nfd;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 64)
		min = (long)(rl.rlim_cur > KP_MAX_FD ? KP_MAX_FD : rl.rlim_cur) / 2;
	nfd = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, min);
	if (nfd < 0 && errno == EMFILE)
		nfd = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 0L);
	return nfd < 0 ? -errno : (int)nfd;
}

/* See preload.h: @fd moved out of the program's way, or -errno. */
int
kp__fd_move_high(int fd)
{
	int nfd = high_dup(fd);

	sys_close(fd);
	return nfd;
}

static struct kp_file *
to_file(struct ks_file *f)
{
	return (struct kp_file *)(void *)f;
}

static int
port_file_get(int fd, struct ks_file **out)
{
	struct kp_file *f = kp__fd_get(fd);
	int hfd;

	if (f != NULL && f->kind == KP_SOCK) {
		*out = (struct ks_file *)(void *)f;
		return 0;
	}
	if (f == &kp_stale)
		return -KS_EBADF;
	kp__file_put(f);
	/* A kernel descriptor (an epoll instance too): carry a duplicate. */
	hfd = high_dup(fd);
	if (hfd < 0)
		return hfd == -EMFILE ? -KS_EMFILE : -KS_EBADF;
	f = kp__file_new(KP_HOST);
	if (f == NULL) {
		sys_close(hfd);
		return -KS_ENOMEM;
	}
	f->hostfd = hfd;
	*out = (struct ks_file *)(void *)f;
	return 0;
}

static void
port_file_hold(struct ks_file *f)
{
	kp__file_hold(to_file(f));
}

static void
port_file_put(struct ks_file *f)
{
	kp__file_put(to_file(f));
}

static int
port_file_install(struct ks_file *kf, int flags)
{
	struct kp_file *f = to_file(kf);
	bool cloexec = (flags & KS_O_CLOEXEC) != 0;
	long fd;

	atomic_fetch_add(&kp_stats.passed, 1);
	if (f->kind == KP_SOCK) {
		fd = kp__placeholder(cloexec);
		if (fd < 0)
			return -KS_EMFILE;
		kp__fd_set((int)fd, f);
		return (int)fd;
	}
	fd = syscall(SYS_fcntl, f->hostfd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD,
		     0L);
	if (fd < 0)
		return -KS_EMFILE;
	/* A raw close may have left an entry at the new number. */
	kp__fd_kernel_new(fd);
	return (int)fd;
}

static struct ks_sock *
port_file_sock(struct ks_file *f)
{
	return to_file(f)->kind == KP_SOCK ? to_file(f)->so : NULL;
}

static long
port_file_count(struct ks_file *f)
{
	return atomic_load(&to_file(f)->refs);
}

/* -- socket nodes: the kernel walks the path with the real credentials -- */

static void
node_key(const struct stat *st, struct ks_node_key *key)
{
	key->a = (uint64_t)st->st_dev;
	key->b = (uint64_t)st->st_ino;
}

/* The node is pinned while the socket lives (port.h, node_release) by an
 * O_PATH descriptor placed high, away from the program's numbers. */
static int
port_node_create(const char *path, unsigned mode, struct ks_node_key *key)
{
	long fd;
	int err;

	/* mknod applies the umask, which ksock's mode already left out. */
	if (syscall(SYS_mknodat, AT_FDCWD, path, S_IFSOCK | (mode & 07777),
		    0L) < 0)
		return errno == EEXIST ? -KS_EADDRINUSE : -errno;
	fd = syscall(SYS_openat, AT_FDCWD, path,
		     O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err = errno == EMFILE || errno == ENFILE ? -KS_ENFILE : -errno;
		goto unlink_node;
	}
	err = ksp__node_pin((int)fd, key);
	if (err < 0)
		goto unlink_node;
	return 0;

unlink_node:
	syscall(SYS_unlinkat, AT_FDCWD, path, 0L);
	return err;
}

static void
port_node_remove(const char *path, const struct ks_node_key *key)
{
	struct ks_node_key k;
	struct stat st;

	if (syscall(SYS_newfstatat, AT_FDCWD, path, &st,
		    AT_SYMLINK_NOFOLLOW) < 0)
		return;
	node_key(&st, &k);
	if (k.a == key->a && k.b == key->b)
		unlink(path);
}

static int
port_node_lookup(const char *path, struct ks_node_key *key)
{
	struct stat st;

	if (syscall(SYS_newfstatat, AT_FDCWD, path, &st, 0) < 0)
		return -errno;
	/* As Linux's unix_find_bsd(): write permission, then the type. A
	 * read-only filesystem does not stop writes to a socket. */
	if (syscall(SYS_faccessat2, AT_FDCWD, path, W_OK, AT_EACCESS) < 0) {
		if (errno == ENOSYS) {
			if (access(path, W_OK) < 0 && errno != EROFS)
				return -errno;
		} else if (errno != EROFS) {
			return -errno;
		}
	}
	if (!S_ISSOCK(st.st_mode))
		return -KS_ECONNREFUSED;
	node_key(&st, key);
	return 0;
}

/* -- signals -- */

static void
port_signal_pipe(void)
{
	pthread_kill(pthread_self(), SIGPIPE);
}

static void
port_signal_urg(int32_t owner)
{
	if (owner == 0 || owner == INT32_MIN)
		return;
	kill(owner, SIGURG);	/* a negative owner is a process group */
}

/*
 * -- network namespaces --
 *
 * The netns hook caches the key per thread (port/hosted/thread.c); the
 * calls that move a thread to another network namespace refresh it. A
 * child made by clone() with CLONE_NEWNET is not noticed: its thread
 * keeps the key cached in the parent's.
 */

#define KP_EXPORT	__attribute__((visibility("default")))

KP_EXPORT int
unshare(int flags)
{
	if (syscall(SYS_unshare, (long)flags) < 0)
		return -1;
	if (flags & CLONE_NEWNET) {
		ksp__netns_changed();
		kp__remote_netns_changed();
	}
	return 0;
}

/* A pidfd with several CLONE_NEW* flags may move the network namespace
 * too; any other namespace type leaves it alone. */
KP_EXPORT int
setns(int fd, int nstype)
{
	if (syscall(SYS_setns, (long)fd, (long)nstype) < 0)
		return -1;
	if (nstype == 0 || (nstype & CLONE_NEWNET)) {
		ksp__netns_changed();
		kp__remote_netns_changed();
	}
	return 0;
}

/* A real pidfd (pidfd_open: always close-on-exec) for @pid. */
static int
port_pidfd_install(int32_t pid)
{
	long fd = syscall(SYS_pidfd_open, (pid_t)pid, 0);

	if (fd >= 0) {
		/* A raw close may have left an entry at the new number. */
		kp__fd_kernel_new(fd);
		return (int)fd;
	}
	if (errno == ESRCH || errno == EINVAL)
		return -KS_ESRCH;
	return errno == EMFILE || errno == ENFILE ? -KS_EMFILE : -KS_ENOMEM;
}

static const struct ks_port preload_port = {
	.version	= KS_PORT_VERSION,
	.size		= sizeof(struct ks_port),
	.alloc		= port_alloc,
	.free		= port_free,
	.mutex_init	= ksp__mutex_init,
	.mutex_destroy	= ksp__mutex_destroy,
	.mutex_lock	= ksp__mutex_lock,
	.mutex_unlock	= ksp__mutex_unlock,
	.thread_self	= ksp__thread_self,
	.park		= ksp__park,
	.unpark		= ksp__thread_unpark,
	.now		= ksp__now,
	.cred		= port_cred,
	.umask		= port_umask,
	.capable	= port_capable,
	.pid_exists	= port_pid_exists,
	.inflight_limit	= port_inflight_limit,
	.file_get	= port_file_get,
	.file_hold	= port_file_hold,
	.file_put	= port_file_put,
	.file_install	= port_file_install,
	.file_sock	= port_file_sock,
	.file_count	= port_file_count,
	.node_create	= port_node_create,
	.node_remove	= port_node_remove,
	.node_lookup	= port_node_lookup,
	.signal_pipe	= port_signal_pipe,
	.signal_urg	= port_signal_urg,
	.random		= ksp__random,
	.copy_from_user	= ksp__copy_from_user,
	.copy_to_user	= ksp__copy_to_user,
	.node_release	= ksp__node_release,
	.netns		= ksp__netns,
	.file_drops_reported = ksp__file_drops_reported,
	.realtime	= ksp__realtime,
	.groups		= ksp__groups,
	.pidfd_install	= port_pidfd_install,
	.netdev_index	= ksp__netdev_index,
	.keep_spinning	= ksp__keep_spinning,
	.flags		= 0,
	.park_word	= ksp__park_word,
	.unpark_word	= ksp__unpark_word,
	.copy_user_cross = ksp__copy_user_cross,
};

const struct ks_port *
kp__port(void)
{
	return &preload_port;
}

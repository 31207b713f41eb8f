/*
 * Hosted port: struct ks_port for Linux user space.
 *
 * Memory is malloc with accounting (atomic counters of outstanding
 * allocations and bytes, and of allocations made) and failure injection
 * (ksp_alloc_fail_at). Mutexes are pthread mutexes stored in struct
 * ks_mutex. Waiting (thread.c) uses one futex word per thread: unpark() sets it to 1
 * and wakes; park() consumes it or sleeps on it with an absolute
 * monotonic deadline (FUTEX_WAIT_BITSET), and returns -KS_EINTR when a
 * signal handler ran on the thread (the futex wait fails with EINTR, as a
 * blocking system call would) or ksp_interrupt() targeted its process.
 *
 * Identity comes from the calling thread's simulated process (proc.c),
 * descriptors from its table (file.c). Socket nodes live on the real
 * filesystem; since the real process is usually root, the path walk checks
 * permissions itself, with the simulated process's effective ids, the way
 * Linux's generic_permission() would for that user. A lookup stats each
 * prefix of the path (one stat in all for a root caller) and falls back
 * to a walk by directory descriptors only for symlinks. A bound node is
 * pinned by an O_PATH descriptor until the socket closes (thread.c).
 *
 * Locks: the thread pool lock guards the free list of thread records; it
 * is a leaf. Everything else is in proc.c and file.c (see hosted.h).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <ksock/posix.h>

#include "hosted.h"

/* Linux's MAXSYMLINKS: a walk that follows more links fails with ELOOP. */
#define WALK_MAX_LINKS	40
/* Room for a path being walked: sun_path plus the symlinks spliced in. */
#define WALK_BUF	(2 * PATH_MAX)

/* -- memory -- */

static atomic_long alloc_outstanding;
static atomic_long alloc_bytes;
static atomic_long alloc_total;
static atomic_long alloc_fail_at;	/* countdown; 0: off */

long
ksp_alloc_outstanding(void)
{
	return atomic_load(&alloc_outstanding);
}

long
ksp_alloc_count(void)
{
	return atomic_load(&alloc_total);
}

void
ksp_alloc_fail_at(long n)
{
	atomic_store(&alloc_fail_at, n > 0 ? n : 0);
}

/* Whether this allocation is the one ksp_alloc_fail_at() chose. */
static bool
alloc_should_fail(void)
{
	long n = atomic_load(&alloc_fail_at);

	while (n > 0) {
		if (atomic_compare_exchange_weak(&alloc_fail_at, &n, n - 1))
			return n == 1;
	}
	return false;
}

static void *
port_alloc(size_t size)
{
	void *p;

	if (alloc_should_fail())
		return NULL;
	p = malloc(size != 0 ? size : 1);
	if (p == NULL)
		return NULL;
	atomic_fetch_add(&alloc_outstanding, 1);
	atomic_fetch_add(&alloc_bytes, (long)size);
	atomic_fetch_add(&alloc_total, 1);
	return p;
}

static void
port_free(void *p, size_t size)
{
	if (p == NULL)
		return;
	atomic_fetch_sub(&alloc_outstanding, 1);
	atomic_fetch_sub(&alloc_bytes, (long)size);
	free(p);
}

/* -- identity -- */

static void
port_cred(struct ks_cred *out)
{
	struct ksp_proc *p = ksp__proc();

	if (p == NULL) {
		out->pid = (int32_t)getpid();
		getresuid(&out->uid, &out->euid, &out->suid);
		getresgid(&out->gid, &out->egid, &out->sgid);
		return;
	}
	pthread_mutex_lock(&p->lock);
	out->pid = p->pid;
	out->uid = p->uid;
	out->euid = p->euid;
	out->suid = p->suid;
	out->gid = p->gid;
	out->egid = p->egid;
	out->sgid = p->sgid;
	pthread_mutex_unlock(&p->lock);
}

static unsigned
port_umask(void)
{
	struct ksp_proc *p = ksp__proc();
	unsigned mask;

	if (p == NULL)
		return 022;
	pthread_mutex_lock(&p->lock);
	mask = p->umask;
	pthread_mutex_unlock(&p->lock);
	return mask;
}

/* A process whose euid is 0 holds every capability, as root does. */
static bool
port_capable(enum ks_cap cap)
{
	struct ks_cred c;

	port_cred(&c);
	return c.euid == 0;
}

static bool
port_pid_exists(int32_t pid)
{
	return ksp__pid_exists(pid);
}

static unsigned
port_inflight_limit(uint32_t uid)
{
	return (unsigned)ksp__fd_limit();
}

/* -- descriptors -- */

static struct ksp_file *
to_file(struct ks_file *f)
{
	return (struct ksp_file *)(void *)f;
}

static int
port_file_get(int fd, struct ks_file **out)
{
	struct ksp_proc *p = ksp__proc();
	struct ksp_file *f;

	if (p == NULL || ksp__fd_get(&p->fdt, fd, &f) < 0)
		return -KS_EBADF;
	*out = (struct ks_file *)(void *)f;
	return 0;
}

static void
port_file_hold(struct ks_file *f)
{
	ksp__file_hold(to_file(f));
}

static void
port_file_put(struct ks_file *f)
{
	ksp__file_put(to_file(f));
}

static int
port_file_install(struct ks_file *f, int flags)
{
	struct ksp_proc *p = ksp__proc();
	int fd;

	if (p == NULL)
		return -KS_EMFILE;
	fd = ksp__fd_install(&p->fdt, to_file(f), (flags & KS_O_CLOEXEC) != 0,
			     0);
	return fd >= 0 ? fd : -KS_EMFILE;
}

static struct ks_sock *
port_file_sock(struct ks_file *f)
{
	return to_file(f)->so;
}

static long
port_file_count(struct ks_file *f)
{
	return atomic_load(&to_file(f)->refs);
}

/* -- socket nodes: a path walk with the simulated credentials -- */

#define MAY_EXEC	1
#define MAY_WRITE	2
#define MAY_READ	4

struct walk_cred {
	uint32_t	uid;	/* effective (fsuid) */
	uint32_t	gid;	/* effective (fsgid) */
};

static void
walk_cred(struct walk_cred *wc)
{
	struct ks_cred c;

	port_cred(&c);
	wc->uid = c.euid;
	wc->gid = c.egid;
}

/* Linux's generic_permission() for a process without supplementary groups. */
static bool
may_access(const struct stat *st, int mask, const struct walk_cred *wc)
{
	unsigned bits;

	if (wc->uid == 0) {
		/* CAP_DAC_OVERRIDE, except exec of a file no one may exec. */
		if ((mask & MAY_EXEC) && !S_ISDIR(st->st_mode) &&
		    (st->st_mode & 0111) == 0)
			return false;
		return true;
	}
	if (st->st_uid == wc->uid)
		bits = (st->st_mode >> 6) & 7;
	else if (st->st_gid == wc->gid)
		bits = (st->st_mode >> 3) & 7;
	else
		bits = st->st_mode & 7;
	return (bits & (unsigned)mask) == (unsigned)mask;
}

static int
may_dirfd(int dfd, int mask, const struct walk_cred *wc)
{
	struct stat st;

	if (fstat(dfd, &st) < 0)
		return -errno;
	return may_access(&st, mask, wc) ? 0 : -KS_EACCES;
}

struct walk {
	int	 dfd;		/* O_PATH descriptor of the last directory */
	char	 last[NAME_MAX + 1];	/* the final component */
	bool	 must_be_dir;	/* the path ended with a slash */
};

/*
 * Walks @path from the working directory with @wc's search permission on
 * every directory looked in, following symlinks in every component but
 * the last, and in the last too when @follow. Returns 0 with @w->dfd (the
 * caller closes it) and @w->last naming the final component (which may
 * not exist), or -errno (ENOENT, ENOTDIR, ELOOP, EACCES, ENAMETOOLONG).
 */
static int
walk_path(const char *path, bool follow, const struct walk_cred *wc,
	  struct walk *w)
{
	char *buf, *rest, *tmp;
	int links = 0, err;

	if (path[0] == '\0')
		return -KS_ENOENT;
	buf = malloc(WALK_BUF);
	tmp = malloc(WALK_BUF);
	if (buf == NULL || tmp == NULL) {
		err = -KS_ENOMEM;
		goto free_bufs;
	}
	if (strlen(path) >= WALK_BUF) {
		err = -KS_ENAMETOOLONG;
		goto free_bufs;
	}
	strcpy(buf, path);
	rest = buf;
	w->dfd = open(rest[0] == '/' ? "/" : ".",
		      O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (w->dfd < 0) {
		err = -errno;
		goto free_bufs;
	}
	for (;;) {
		struct stat st;
		size_t len;
		bool is_last;
		int nfd;

		while (*rest == '/')
			rest++;
		len = strcspn(rest, "/");
		if (len > NAME_MAX) {
			err = -KS_ENAMETOOLONG;
			goto close_dir;
		}
		if (len == 0) {
			/* "/" or a path ending in slashes: the directory. */
			strcpy(w->last, ".");
			w->must_be_dir = true;
			is_last = true;
		} else {
			memcpy(w->last, rest, len);
			w->last[len] = '\0';
			rest += len;
			w->must_be_dir = *rest == '/';
			while (*rest == '/')
				rest++;
			is_last = *rest == '\0';
		}
		/* Looking a name up in a directory needs search permission. */
		err = may_dirfd(w->dfd, MAY_EXEC, wc);
		if (err < 0)
			goto close_dir;
		if (is_last && !follow && !w->must_be_dir)
			break;
		if (fstatat(w->dfd, w->last, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			err = -errno;
			if (is_last && err == -KS_ENOENT)
				break;	/* the caller decides */
			goto close_dir;
		}
		if (S_ISLNK(st.st_mode)) {
			ssize_t n;

			if (++links > WALK_MAX_LINKS) {
				err = -KS_ELOOP;
				goto close_dir;
			}
			n = readlinkat(w->dfd, w->last, tmp, WALK_BUF - 1);
			if (n < 0) {
				err = -errno;
				goto close_dir;
			}
			if (n == 0) {
				err = -KS_ENOENT;
				goto close_dir;
			}
			if ((size_t)n + 1 + strlen(rest) + 1 > WALK_BUF) {
				err = -KS_ENAMETOOLONG;
				goto close_dir;
			}
			tmp[n] = '/';
			strcpy(tmp + n + 1, rest);
			if (!w->must_be_dir && *rest == '\0')
				tmp[n] = '\0';
			strcpy(buf, tmp);
			rest = buf;
			if (rest[0] == '/') {
				nfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
				if (nfd < 0) {
					err = -errno;
					goto close_dir;
				}
				close(w->dfd);
				w->dfd = nfd;
			}
			continue;
		}
		if (is_last && !w->must_be_dir)
			break;
		if (!S_ISDIR(st.st_mode)) {
			err = -KS_ENOTDIR;
			goto close_dir;
		}
		if (is_last)
			break;
		nfd = openat(w->dfd, w->last,
			     O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			err = -errno;
			goto close_dir;
		}
		close(w->dfd);
		w->dfd = nfd;
	}
	free(buf);
	free(tmp);
	return 0;

close_dir:
	close(w->dfd);
free_bufs:
	free(buf);
	free(tmp);
	return err;
}

static void
node_key(const struct stat *st, struct ks_node_key *key)
{
	key->a = (uint64_t)st->st_dev;
	key->b = (uint64_t)st->st_ino;
}

static bool
is_dot_or_dotdot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

/*
 * Whether @wc is root and so is the real process, with the same group:
 * the kernel then lets it through every check a simulated root passes,
 * and makes its nodes with the owner and group the simulated one would
 * give them. The real ids are asked once: tests change only the
 * simulated ones.
 */
static bool
is_real_root(const struct walk_cred *wc)
{
	static atomic_llong cached = -1;	/* real egid, or -2: not root */
	long long v = atomic_load_explicit(&cached, memory_order_relaxed);

	if (v == -1) {
		v = geteuid() == 0 ? (long long)getegid() : -2;
		atomic_store_explicit(&cached, v, memory_order_relaxed);
	}
	return wc->uid == 0 && v >= 0 && (uint32_t)v == wc->gid;
}

/* The node pinned and keyed, or -errno; on failure @path is unlinked.
 * @dfd and @name as for openat. */
static int
pin_new_node(int dfd, const char *name, struct ks_node_key *key)
{
	int pin, err;

	pin = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pin < 0) {
		err = errno == EMFILE || errno == ENFILE ? -KS_ENFILE : -errno;
		goto unlink_node;
	}
	err = ksp__node_pin(pin, key);
	if (err < 0)
		goto unlink_node;
	return 0;

unlink_node:
	unlinkat(dfd, name, 0);
	return err;
}

static int
port_node_create(const char *path, unsigned mode, struct ks_node_key *key)
{
	struct walk_cred wc;
	struct walk w;
	struct stat st, dir;
	uint32_t gid;
	int err;

	walk_cred(&wc);
	/* A root caller needs no check of ours: mknod(2) fails as Linux's
	 * bind does (an existing name first, EEXIST, then the rest). */
	if (is_real_root(&wc)) {
		if (mknodat(AT_FDCWD, path,
			    S_IFSOCK | (mode & ~port_umask() & 07777), 0) < 0)
			return errno == EEXIST ? -KS_EADDRINUSE : -errno;
		return pin_new_node(AT_FDCWD, path, key);
	}
	err = walk_path(path, false, &wc, &w);
	if (err < 0)
		return err;
	/* As Linux's filename_create(): an existing name first, then the
	 * trailing slash, then write permission on the directory. */
	if (is_dot_or_dotdot(w.last) ||
	    fstatat(w.dfd, w.last, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		err = -KS_EADDRINUSE;
		goto close_dir;
	}
	if (errno != ENOENT) {
		err = -errno;
		goto close_dir;
	}
	if (w.must_be_dir) {
		err = -KS_ENOENT;
		goto close_dir;
	}
	err = may_dirfd(w.dfd, MAY_WRITE | MAY_EXEC, &wc);
	if (err < 0)
		goto close_dir;
	if (mknodat(w.dfd, w.last, S_IFSOCK | (mode & ~port_umask() & 07777),
		    0) < 0) {
		err = errno == EEXIST ? -KS_EADDRINUSE : -errno;
		goto close_dir;
	}
	if (fstat(w.dfd, &dir) < 0) {
		err = -errno;
		goto unlink_node;
	}
	/* The node belongs to the simulated user; a set-group-ID directory
	 * passes its group on. */
	gid = (dir.st_mode & S_ISGID) ? (uint32_t)dir.st_gid : wc.gid;
	if (geteuid() == 0 &&
	    fchownat(w.dfd, w.last, wc.uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
		err = -errno;
		goto unlink_node;
	}
	/* Pinned while the socket lives (port.h, node_release). */
	err = pin_new_node(w.dfd, w.last, key);
	close(w.dfd);
	return err;

unlink_node:
	unlinkat(w.dfd, w.last, 0);
close_dir:
	close(w.dfd);
	return err;
}

static void
port_node_remove(const char *path, const struct ks_node_key *key)
{
	struct ks_node_key k;
	struct stat st;

	if (lstat(path, &st) < 0)
		return;
	node_key(&st, &k);
	if (k.a == key->a && k.b == key->b)
		unlink(path);
}

/*
 * The node @path names, for a lookup with @wc, in as few system calls as
 * the checks allow: one stat when the caller is root (the kernel's walk
 * as the real root passes wherever a simulated root would), otherwise
 * one lstat per component plus one of the starting directory, each
 * prefix resolved by the kernel and its permissions checked here.
 * Returns 0 with @st, -errno, or -KS_EAGAIN when the path needs the full
 * walk (a symlink on the way, a trailing slash).
 */
static int
lookup_fast(const char *path, const struct walk_cred *wc, struct stat *st)
{
	char prefix[KS_UNIX_PATH_MAX + 1];
	size_t end = 0, n = strlen(path);

	if (is_real_root(wc))
		return stat(path, st) < 0 ? -errno : 0;
	if (n == 0 || n >= sizeof(prefix))
		return -KS_EAGAIN;
	if (path[n - 1] == '/')
		return -KS_EAGAIN;
	if (stat(path[0] == '/' ? "/" : ".", st) < 0)
		return -errno;
	for (;;) {
		/* Looking a name up in a directory needs search permission. */
		if (!may_access(st, MAY_EXEC, wc))
			return -KS_EACCES;
		while (path[end] == '/')
			end++;
		end += strcspn(path + end, "/");
		memcpy(prefix, path, end);
		prefix[end] = '\0';
		if (lstat(prefix, st) < 0)
			return -errno;
		if (S_ISLNK(st->st_mode))
			return -KS_EAGAIN;
		if (path[end] == '\0')
			return 0;
		if (!S_ISDIR(st->st_mode))
			return -KS_ENOTDIR;
	}
}

/* The node @path names, by the full walk (symlinks followed). Returns 0
 * with @st, or -errno. */
static int
lookup_walk(const char *path, const struct walk_cred *wc, struct stat *st)
{
	struct walk w;
	int err;

	err = walk_path(path, true, wc, &w);
	if (err < 0)
		return err;
	err = fstatat(w.dfd, w.last, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	close(w.dfd);
	return err;
}

static int
port_node_lookup(const char *path, struct ks_node_key *key)
{
	struct walk_cred wc;
	struct stat st;
	int err;

	walk_cred(&wc);
	err = lookup_fast(path, &wc, &st);
	if (err == -KS_EAGAIN)
		err = lookup_walk(path, &wc, &st);
	if (err < 0)
		return err;
	/* As Linux's unix_find_bsd(): write permission, then the type. */
	if (!may_access(&st, MAY_WRITE, &wc))
		return -KS_EACCES;
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
	ksp__signal_pid(owner < 0 ? -owner : owner, SIGURG);
}

/* -- network namespaces: the calls that move a thread -- */

/* See posix.h. A setns to a descriptor of another kind of namespace
 * leaves the network namespace alone, but asking again is cheap. */
int
ksp_unshare(int flags)
{
	if (unshare(flags) < 0)
		return -1;
	if (flags & CLONE_NEWNET)
		ksp__netns_changed();
	return 0;
}

/* @fd is the simulated process's descriptor of a namespace file it
 * opened with ksp_open (a socket is no namespace: EINVAL, as Linux). */
int
ksp_setns(int fd, int nstype)
{
	struct ksp_proc *p = ksp__proc();
	struct ksp_file *f;
	int r;

	if (p == NULL || ksp__fd_get(&p->fdt, fd, &f) < 0) {
		errno = EBADF;
		return -1;
	}
	if (f->so != NULL) {
		ksp__file_put(f);
		errno = EINVAL;
		return -1;
	}
	r = setns(f->hostfd, nstype);
	ksp__file_put(f);
	if (r < 0)
		return -1;
	if (nstype == 0 || (nstype & CLONE_NEWNET))
		ksp__netns_changed();
	return 0;
}

/*
 * A pidfd for @pid: simulated processes all live in this one, so it is
 * this process's (pidfd_open); a real process's (a ksockd client) is its
 * own. Installed in the caller's table.
 */
static int
port_pidfd_install(int32_t pid)
{
	struct ksp_proc *p = ksp__proc();
	struct ksp_file *f;
	int hostfd, fd;

	if (p == NULL)
		return -KS_EMFILE;
	if (!ksp__pid_exists(pid))
		return -KS_ESRCH;
	/* A simulated process is a thread of ours: our pidfd. */
	hostfd = (int)syscall(SYS_pidfd_open,
			      pid < KSP_SIM_PID_BASE ? pid : getpid(), 0);
	if (hostfd < 0)
		return errno == EMFILE || errno == ENFILE ? -KS_EMFILE :
		       -KS_ENOMEM;
	f = ksp__file_new_host(hostfd);
	if (f == NULL) {
		close(hostfd);
		return -KS_ENOMEM;
	}
	fd = ksp__fd_install(&p->fdt, f, true, 0);
	ksp__file_put(f);
	return fd >= 0 ? fd : -KS_EMFILE;
}

static const struct ks_port hosted_port = {
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
ksp_port(void)
{
	return &hosted_port;
}

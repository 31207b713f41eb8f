/*
 * Hosted port: simulated processes.
 *
 * The thread that calls ksp_init() becomes the first process, with the
 * real pid and ids. Every thread that ksp_fork() did not create (a test's
 * own pthreads too) runs as the first process. ksp_fork() copies the
 * caller's process under a new pid and runs a function in it on a new
 * thread; its descriptors are closed when the function returns, and the
 * process stays in the list (its pid exists, like a zombie's) until
 * ksp_wait() joins and frees it.
 *
 * Simulated pids start above PID_MAX_LIMIT (2^22), so they never collide
 * with a real process: pid_exists() answers for simulated and real pids.
 *
 * Locks: ksp_procs_lock guards the list of forked processes, each
 * process's thr pointer, and writes of the first process pointer (an
 * atomic, read without the lock on every call); proc->lock guards
 * a process's ids and umask. ksp_procs_lock is taken before proc->lock.
 * See hosted.h.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ksock/posix.h>

#include "hosted.h"

/* Linux's PID_MAX_LIMIT on 64-bit: no real pid reaches it. */
#define SIM_PID_BASE	KSP_SIM_PID_BASE

pthread_mutex_t ksp_procs_lock = PTHREAD_MUTEX_INITIALIZER;
/* Written under the procs lock, read without it on every call. */
static _Atomic(struct ksp_proc *) first_proc;
static struct ksp_proc *proc_list;	/* [L] forked processes */
static int32_t next_pid = SIM_PID_BASE;	/* [L] */
static bool ksp_started;		/* [L] */

/*
 * The calling thread's process: the one it was forked as, else the first
 * process. NULL before ksp_init().
 */
struct ksp_proc *
ksp__proc(void)
{
	struct ksp_thread *t = ksp__thread();

	if (t->proc != NULL)
		return t->proc;
	return atomic_load_explicit(&first_proc, memory_order_acquire);
}

static struct ksp_proc *
proc_alloc(void)
{
	struct ksp_proc *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	if (pthread_mutex_init(&p->lock, NULL) != 0)
		goto free_proc;
	if (ksp__fdtable_init(&p->fdt) < 0)
		goto destroy_lock;
	return p;

destroy_lock:
	pthread_mutex_destroy(&p->lock);
free_proc:
	free(p);
	return NULL;
}

static void
proc_free(struct ksp_proc *p)
{
	ksp__fdtable_destroy(&p->fdt);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* Whether a simulated process or a real one has @pid. */
bool
ksp__pid_exists(int32_t pid)
{
	struct ksp_proc *first;
	bool found = false;

	if (pid <= 0)
		return false;
	pthread_mutex_lock(&ksp_procs_lock);
	first = atomic_load(&first_proc);
	if (first != NULL && first->pid == pid)
		found = true;
	for (struct ksp_proc *p = proc_list; p != NULL && !found; p = p->next)
		if (p->pid == pid)
			found = true;
	pthread_mutex_unlock(&ksp_procs_lock);
	if (found)
		return true;
	if (pid >= SIM_PID_BASE)
		return false;
	return kill(pid, 0) == 0 || errno == EPERM;
}

/*
 * Sends @sig to the process @pid: the thread of a simulated process that
 * is still running, or the real process when @pid is the real pid.
 */
void
ksp__signal_pid(int32_t pid, int sig)
{
	if (pid == (int32_t)getpid()) {
		kill(getpid(), sig);
		return;
	}
	pthread_mutex_lock(&ksp_procs_lock);
	for (struct ksp_proc *p = proc_list; p != NULL; p = p->next)
		if (p->pid == pid && p->thr != NULL)
			pthread_kill(p->thread, sig);
	pthread_mutex_unlock(&ksp_procs_lock);
}

/*
 * Keeps glibc from handing freed message memory back to the kernel. A
 * message is allocated by the sending thread and freed by the reading
 * one into the sender's arena, whose top glibc trims once it passes
 * 128 KiB, so with the defaults every few 64 KiB messages come from
 * freshly faulted pages (docs/bench.md: 49,000 page faults in half a
 * second of 64 KiB writes). A fixed trim threshold of 64 MiB and an mmap
 * threshold of 4 MiB (above every stream message and usual datagram)
 * keep the pages mapped; memory a program freed stays reusable by it.
 * A program that tunes malloc itself (GLIBC_TUNABLES, or KSOCK_MALLOC=
 * default in the environment) keeps its own settings.
 */
#define KSP_TRIM_THRESHOLD	(64 << 20)
#define KSP_MMAP_THRESHOLD	(4 << 20)

static void
malloc_tune(void)
{
	const char *own = getenv("KSOCK_MALLOC");
	const char *tun = getenv("GLIBC_TUNABLES");

	if ((own != NULL && strcmp(own, "default") == 0) ||
	    (tun != NULL && strstr(tun, "glibc.malloc.") != NULL))
		return;
	mallopt(M_TRIM_THRESHOLD, KSP_TRIM_THRESHOLD);
	mallopt(M_MMAP_THRESHOLD, KSP_MMAP_THRESHOLD);
}

int
ksp_init(void)
{
	struct ksp_proc *p;
	mode_t mask;
	int err;

	pthread_mutex_lock(&ksp_procs_lock);
	if (ksp_started) {
		pthread_mutex_unlock(&ksp_procs_lock);
		return 0;
	}
	p = proc_alloc();
	if (p == NULL) {
		pthread_mutex_unlock(&ksp_procs_lock);
		errno = ENOMEM;
		return -1;
	}
	p->pid = (int32_t)getpid();
	getresuid(&p->uid, &p->euid, &p->suid);
	getresgid(&p->gid, &p->egid, &p->sgid);
	/* The simulated umask rules the modes of new nodes and files. */
	mask = umask(0);
	p->umask = mask;
	atomic_store_explicit(&first_proc, p, memory_order_release);
	ksp_started = true;
	pthread_mutex_unlock(&ksp_procs_lock);

	err = ks_init(ksp_port());
	if (err < 0) {
		pthread_mutex_lock(&ksp_procs_lock);
		atomic_store(&first_proc, NULL);
		ksp_started = false;
		pthread_mutex_unlock(&ksp_procs_lock);
		umask(mask);
		proc_free(p);
		errno = -err;
		return -1;
	}
	malloc_tune();
	/* ksockstat -p reads this instance (port/hosted/diag.c); a failure
	 * to serve leaves ksock itself running. */
	if (getenv("KSOCK_DIAG") != NULL && strcmp(getenv("KSOCK_DIAG"), "1") == 0)
		ksp_diag_serve();
	return 0;
}

int
ksp_fini(void)
{
	struct ksp_proc *p = ksp__proc();
	struct ksp_proc *first;
	int err;

	if (p == NULL)
		return 0;
	ksp__fdtable_close_all(&p->fdt);
	ksp_diag_stop();
	err = ks_fini();
	if (err < 0) {
		errno = -err;
		return -1;
	}
	pthread_mutex_lock(&ksp_procs_lock);
	first = atomic_exchange(&first_proc, NULL);
	ksp_started = false;
	pthread_mutex_unlock(&ksp_procs_lock);
	if (first != NULL) {
		umask(first->umask);
		proc_free(first);
	}
	return 0;
}

static void *
proc_main(void *arg)
{
	struct ksp_proc *p = arg;
	struct ksp_thread *t = ksp__thread();
	int status;

	t->proc = p;
	pthread_mutex_lock(&ksp_procs_lock);
	p->thr = t;
	pthread_mutex_unlock(&ksp_procs_lock);

	status = p->fn(p->arg);
	ksp__fdtable_close_all(&p->fdt);

	pthread_mutex_lock(&ksp_procs_lock);
	p->thr = NULL;
	p->status = status;
	pthread_mutex_unlock(&ksp_procs_lock);
	t->proc = NULL;
	return NULL;
}

struct ksp_proc *
ksp_fork(int (*fn)(void *), void *arg)
{
	struct ksp_proc *parent = ksp__proc();
	struct ksp_proc *p;
	int err;

	if (parent == NULL) {
		errno = EINVAL;
		return NULL;
	}
	p = proc_alloc();
	if (p == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&parent->lock);
	p->uid = parent->uid;
	p->euid = parent->euid;
	p->suid = parent->suid;
	p->gid = parent->gid;
	p->egid = parent->egid;
	p->sgid = parent->sgid;
	p->umask = parent->umask;
	pthread_mutex_unlock(&parent->lock);
	err = ksp__fdtable_copy(&p->fdt, &parent->fdt);
	if (err < 0)
		goto free_proc;
	p->fn = fn;
	p->arg = arg;

	pthread_mutex_lock(&ksp_procs_lock);
	if (++next_pid <= SIM_PID_BASE)
		next_pid = SIM_PID_BASE + 1;
	p->pid = next_pid;
	p->next = proc_list;
	proc_list = p;
	err = -pthread_create(&p->thread, NULL, proc_main, p);
	if (err < 0)
		proc_list = p->next;
	pthread_mutex_unlock(&ksp_procs_lock);
	if (err < 0)
		goto free_proc;
	return p;

free_proc:
	proc_free(p);
	errno = -err;
	return NULL;
}

int
ksp_wait(struct ksp_proc *p)
{
	struct ksp_proc **pp;
	int status;

	pthread_join(p->thread, NULL);
	pthread_mutex_lock(&ksp_procs_lock);
	for (pp = &proc_list; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	status = p->status;
	pthread_mutex_unlock(&ksp_procs_lock);
	proc_free(p);
	return status;
}

void
ksp_interrupt(struct ksp_proc *p)
{
	pthread_mutex_lock(&ksp_procs_lock);
	if (p->thr != NULL) {
		int efd;

		atomic_store(&p->thr->interrupted, true);
		ksp__unpark(p->thr);
		efd = atomic_load(&p->thr->poll_efd);
		if (efd >= 0) {
			uint64_t one = 1;
			ssize_t n = write(efd, &one, sizeof(one));

			(void)n;
		}
	}
	pthread_mutex_unlock(&ksp_procs_lock);
}

/* Whether @id is -1 (keep) or one of @r, @e, @s. */
static bool
id_allowed(uint32_t id, uint32_t r, uint32_t e, uint32_t s)
{
	return id == (uint32_t)-1 || id == r || id == e || id == s;
}

static int
set_ids(uint32_t r, uint32_t e, uint32_t s, bool gids)
{
	struct ksp_proc *p = ksp__proc();
	uint32_t *rp, *ep, *sp;
	int err = 0;

	if (p == NULL) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&p->lock);
	rp = gids ? &p->gid : &p->uid;
	ep = gids ? &p->egid : &p->euid;
	sp = gids ? &p->sgid : &p->suid;
	/* Root (CAP_SETUID / CAP_SETGID) may pick any ids; others may only
	 * shuffle the ones they hold. */
	if (p->euid != 0 &&
	    (!id_allowed(r, *rp, *ep, *sp) || !id_allowed(e, *rp, *ep, *sp) ||
	     !id_allowed(s, *rp, *ep, *sp))) {
		err = EPERM;
	} else {
		if (r != (uint32_t)-1)
			*rp = r;
		if (e != (uint32_t)-1)
			*ep = e;
		if (s != (uint32_t)-1)
			*sp = s;
	}
	pthread_mutex_unlock(&p->lock);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

int
ksp_setresuid(uid_t r, uid_t e, uid_t s)
{
	return set_ids(r, e, s, false);
}

int
ksp_setresgid(gid_t r, gid_t e, gid_t s)
{
	return set_ids(r, e, s, true);
}

int
ksp_fd_count(void)
{
	struct ksp_proc *p = ksp__proc();

	return p != NULL ? ksp__fdtable_count(&p->fdt) : 0;
}

/* One id field of the calling process, or the real one before ksp_init. */
static uint32_t
proc_id(size_t offset, uint32_t real)
{
	struct ksp_proc *p = ksp__proc();
	uint32_t v;

	if (p == NULL)
		return real;
	pthread_mutex_lock(&p->lock);
	memcpy(&v, (char *)p + offset, sizeof(v));
	pthread_mutex_unlock(&p->lock);
	return v;
}

pid_t
ksp_getpid(void)
{
	struct ksp_proc *p = ksp__proc();

	return p != NULL ? p->pid : getpid();
}

uid_t
ksp_getuid(void)
{
	return proc_id(offsetof(struct ksp_proc, uid), getuid());
}

uid_t
ksp_geteuid(void)
{
	return proc_id(offsetof(struct ksp_proc, euid), geteuid());
}

gid_t
ksp_getgid(void)
{
	return proc_id(offsetof(struct ksp_proc, gid), getgid());
}

gid_t
ksp_getegid(void)
{
	return proc_id(offsetof(struct ksp_proc, egid), getegid());
}

mode_t
ksp_umask(mode_t mask)
{
	struct ksp_proc *p = ksp__proc();
	mode_t old;

	if (p == NULL)
		return umask(mask);
	pthread_mutex_lock(&p->lock);
	old = p->umask;
	p->umask = mask & 0777;
	pthread_mutex_unlock(&p->lock);
	return old;
}

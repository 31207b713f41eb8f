/*
 * ksock port interface: everything ksock needs from its host.
 *
 * A host fills one struct ks_port and hands it to ks_init(). The table is
 * versioned and only ever grows at the end: a host built against an older
 * version sets a smaller .size, and ksock refuses to start when a hook it
 * needs lies beyond it. Every hook must be set; none may be NULL.
 *
 * Memory passed to ksock's API splits in two. Socket addresses, option
 * values, struct ks_msghdr itself and its iovec array are kernel memory
 * (the system-call layer copied them in). The bytes behind iov_base and
 * msg_control, and ioctl arguments, are user memory: ksock touches them
 * only through copy_from_user / copy_to_user.
 *
 * Hooks may be called with ksock locks held unless their contract says
 * otherwise, so none of them may call back into ksock.
 */
#ifndef KSOCK_PORT_H
#define KSOCK_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KS_PORT_VERSION	1

/*
 * Opaque storage for a host mutex. Large enough for a glibc
 * pthread_mutex_t (40 bytes on LP64) with room to spare; a host whose
 * mutex is bigger stores a pointer here instead.
 */
#define KS_MUTEX_WORDS	6
struct ks_mutex {
	uint64_t	opaque[KS_MUTEX_WORDS];
};

/*
 * A filesystem node that holds a bound socket, as the host identifies it
 * (the hosted port uses st_dev and st_ino). ksock only compares and
 * hashes it.
 */
struct ks_node_key {
	uint64_t	a;
	uint64_t	b;
};

/* The credentials of the calling process. */
struct ks_cred {
	int32_t		pid;
	uint32_t	uid, euid, suid;
	uint32_t	gid, egid, sgid;
};

/* Privileges a host may grant the caller (capable()). */
enum ks_cap {
	KS_CAP_SYS_ADMIN,	/* claim another pid in SCM_CREDENTIALS */
	KS_CAP_SETUID,		/* claim another uid */
	KS_CAP_SETGID,		/* claim another gid */
	KS_CAP_SYS_RESOURCE,	/* exceed the in-flight descriptor limit */
	KS_CAP_NET_ADMIN,	/* set SO_MARK (CAP_NET_ADMIN or CAP_NET_RAW) */
	KS_CAP_NET_RAW,		/* change a SO_BINDTODEVICE binding; set SO_MARK */
	KS_CAP_NET_BIND_SERVICE, /* bind an AF_INET/AF_INET6 port below 1024 */
};

/* A host file behind a descriptor; ksock only passes it around. */
struct ks_file;
struct ks_sock;

struct ks_port {
	uint32_t	version;	/* KS_PORT_VERSION the host was built for */
	uint32_t	size;		/* sizeof(struct ks_port) as the host knows it */

	/* -- memory -- */

	/* Returns @size bytes aligned for any object, or NULL. Never blocks
	 * for long; ksock turns NULL into -KS_ENOMEM (or -KS_ENOBUFS). */
	void	*(*alloc)(size_t size);
	/* Frees @p, which alloc returned for @size bytes. @p may be NULL. */
	void	 (*free)(void *p, size_t size);

	/* -- locking and waiting -- */

	/* A non-recursive sleeping mutex in caller-provided storage. init
	 * cannot fail; destroy is called on an unlocked mutex. */
	void	 (*mutex_init)(struct ks_mutex *m);
	void	 (*mutex_destroy)(struct ks_mutex *m);
	void	 (*mutex_lock)(struct ks_mutex *m);
	void	 (*mutex_unlock)(struct ks_mutex *m);

	/* The calling thread, as a handle unpark() accepts. Stable for the
	 * thread's life. */
	void	*(*thread_self)(void);
	/*
	 * Sleeps the calling thread until unpark() is called for it, the
	 * monotonic clock reaches @deadline_ns (-1: no deadline), or a signal
	 * interrupts it. Returns 0 when unparked (possibly spuriously: ksock
	 * re-checks its condition), -KS_ETIMEDOUT at the deadline, -KS_EINTR
	 * when interrupted. An unpark() that comes before park() is not lost:
	 * the next park() returns 0 at once. Called with no ksock lock held.
	 */
	int	 (*park)(int64_t deadline_ns);
	/* Wakes @thread from park(), or makes its next park() return at
	 * once. Safe to call with any ksock lock held. */
	void	 (*unpark)(void *thread);

	/* -- time -- */

	/* Monotonic clock in nanoseconds. */
	int64_t	 (*now)(void);

	/* -- identity and privilege -- */

	/* The calling process's credentials. */
	void	 (*cred)(struct ks_cred *out);
	/* The calling process's umask, for the mode of new socket nodes. */
	unsigned (*umask)(void);
	/* Whether the calling process holds @cap. */
	bool	 (*capable)(enum ks_cap cap);
	/* Whether a process with @pid exists (SCM_CREDENTIALS: ESRCH). */
	bool	 (*pid_exists)(int32_t pid);
	/* How many descriptors the user @uid may have in flight (RLIMIT_NOFILE
	 * in the hosted port). */
	unsigned (*inflight_limit)(uint32_t uid);

	/*
	 * -- descriptors --
	 *
	 * What the collector of in-flight cycles relies on: a socket has
	 * one file (dup and fork share it); the host holds a reference to
	 * a socket's file for the whole of every call on that socket; and
	 * either the host calls ks_sock_file_dropped() (ksock.h), with no
	 * ksock lock held, whenever a reference to a socket's file is
	 * dropped and the file stays open, or it says it does not (see
	 * file_drops_reported at the end of the table).
	 */

	/* Looks up @fd in the caller's table and takes a reference to its
	 * file. Returns 0, or -KS_EBADF. */
	int	 (*file_get)(int fd, struct ks_file **out);
	/* Takes one more reference to @f. */
	void	 (*file_hold)(struct ks_file *f);
	/* Drops a reference; the last one closes the file (for a socket, the
	 * host then calls ks_close()). Must not be called with ksock locks
	 * held. */
	void	 (*file_put)(struct ks_file *f);
	/* Installs @f as a new descriptor of the caller, taking a reference
	 * of its own. @flags may hold KS_O_CLOEXEC. Returns the descriptor,
	 * or -KS_EMFILE. Not called with ksock locks held. */
	int	 (*file_install)(struct ks_file *f, int flags);
	/* The ksock socket behind @f, or NULL when @f is another kind of
	 * file. */
	struct ks_sock *(*file_sock)(struct ks_file *f);
	/* How many references @f has (the collector compares it with the
	 * references held by messages in flight). */
	long	 (*file_count)(struct ks_file *f);

	/* -- socket nodes on the filesystem -- */

	/*
	 * Creates a socket node at @path (NUL-terminated, at most 108 bytes)
	 * with mode @mode & ~umask, pins it (see node_release) and fills
	 * @key. Returns 0, -KS_EADDRINUSE when anything exists at @path, the
	 * errno of the path walk (-KS_ENOENT, -KS_EACCES, -KS_ENOTDIR,
	 * -KS_ELOOP, -KS_EROFS...), or -KS_ENFILE when the host has no room
	 * for the pin (a descriptor, in the hosted ports); on failure
	 * nothing is left at @path and nothing is pinned.
	 */
	int	 (*node_create)(const char *path, unsigned mode,
			   struct ks_node_key *key);
	/* Undoes node_create() of @path when the bind fails after it: unlinks
	 * @path if it still names the node of @key. The pin stays until
	 * node_release(). */
	void	 (*node_remove)(const char *path, const struct ks_node_key *key);
	/*
	 * Resolves @path (following symlinks) and checks that the caller may
	 * write to it. Returns 0 with @key for a socket node, -KS_ECONNREFUSED
	 * for another kind of file, or the errno of the walk or the check
	 * (-KS_ENOENT, -KS_EACCES, -KS_ENOTDIR...). Pins nothing.
	 */
	int	 (*node_lookup)(const char *path, struct ks_node_key *key);

	/* -- signals -- */

	/* Sends SIGPIPE to the calling thread. */
	void	 (*signal_pipe)(void);
	/* Sends SIGURG to @owner (a pid, or a process group if negative). */
	void	 (*signal_urg)(int32_t owner);

	/* -- randomness -- */

	/* Fills @buf with unpredictable bytes (autobind names, DNS ids and
	 * ports). */
	void	 (*random)(void *buf, size_t len);

	/* -- user memory -- */

	/* Copy between user and kernel memory. Return 0, or -KS_EFAULT. */
	int	 (*copy_from_user)(void *dst, const void *usrc, size_t len);
	int	 (*copy_to_user)(void *udst, const void *src, size_t len);

	/* -- socket nodes: pinning -- */

	/*
	 * Ends the pin that a successful node_create() of @key took.
	 *
	 * A key names one node only while the node exists: a host may give
	 * a freed node's key (an ext4 inode number, a kernel's inode
	 * address) to the next node it makes, and ksock would then route a
	 * connect for the new node to the old socket. So node_create() pins
	 * the node it made, as Linux's bind holds the path it created: while
	 * pinned, the node stays allocated even after it is unlinked, and no
	 * other node of the host gets an equal key. ksock calls node_release
	 * exactly once for each key node_create() returned: after
	 * node_remove() when the bind fails later, otherwise when the bound
	 * socket is closed, after its name has left the table (so no lookup
	 * can still find the socket by @key). Never called with a ksock lock
	 * held; it cannot fail.
	 *
	 * node_lookup() pins nothing: ksock ignores a socket bound after the
	 * lookup began, which covers a key freed and reused during the call.
	 * A kernel may make the key the pin itself (the inode's address,
	 * with a reference taken in node_create and dropped here); the
	 * hosted ports hold an O_PATH descriptor of the node.
	 */
	void	 (*node_release)(const struct ks_node_key *key);

	/* -- network namespaces -- */

	/*
	 * The network namespace of the calling thread, as an opaque key that
	 * ksock only compares. Linux keeps one abstract namespace per network
	 * namespace: ksock records the key in each new AF_UNIX socket, and an
	 * abstract or automatic name binds and is found only among sockets
	 * with an equal key. Path names are not affected. A host without
	 * namespaces returns 0.
	 *
	 * Called at every socket creation, with no ksock lock held: it must
	 * be cheap (the hosted ports cache the key per thread and refresh it
	 * when the program calls unshare or setns). A key should never be
	 * given to another namespace while a socket created in the first
	 * lives: Linux's sockets hold their namespace, ksock's do not, so
	 * a key that is never reused is best (the hosted ports use the
	 * kernel's namespace cookie; a kernel can too, or hold a reference
	 * on the namespace per socket).
	 */
	uint64_t (*netns)(void);

	/* -- appended hooks -- */

	/*
	 * Whether the host calls ks_sock_file_dropped() for every dropped
	 * reference to a socket's file that leaves the file open (a kernel
	 * whose files only tell their last close answers false). The answer
	 * must not change while any socket exists. Called with or without
	 * ksock locks held.
	 *
	 * true: a cycle of sockets in flight is collected the moment nothing
	 * outside it can reach it, whether a dropped reference or a send
	 * that puts a socket in flight made it so; each collection looks
	 * only at the part of the in-flight graph that changed.
	 * false: ksock ignores ks_sock_file_dropped() and collects as Linux
	 * does, over the whole in-flight graph: whenever an AF_UNIX socket
	 * is closed (ks_close) while sockets are in flight, whenever a send
	 * puts sockets in flight, again after each collection that freed
	 * something, and in ks_fini(). A cycle whose last outside reference
	 * went unnoticed waits for the next of those, as on Linux.
	 */
	bool	 (*file_drops_reported)(void);

	/* The real-time clock: nanoseconds since 1970-01-01 UTC (Linux's
	 * CLOCK_REALTIME), for the SCM_TIMESTAMP / SCM_TIMESTAMPNS a
	 * datagram reader with SO_TIMESTAMP(NS) receives. May go backwards
	 * when the host's clock is set. Called with ksock locks held. */
	int64_t	 (*realtime)(void);

	/* The calling process's supplementary group ids (Linux's
	 * getgroups()), recorded with its credentials for SO_PEERGROUPS:
	 * writes at most @max of them to @gids and returns how many it has,
	 * which may exceed @max (@max 0 just counts). */
	unsigned (*groups)(uint32_t *gids, unsigned max);

	/*
	 * Installs a new close-on-exec descriptor of the caller referring to
	 * process @pid (Linux's pidfd), for SO_PEERPIDFD and SCM_PIDFD.
	 * Returns the descriptor, or -KS_ESRCH (no such process),
	 * -KS_EMFILE, -KS_ENOMEM. Not called with ksock locks held.
	 */
	int	 (*pidfd_install)(int32_t pid);

	/* The index (> 0) of the host's network device called @name
	 * (NUL-terminated, shorter than KS_IFNAMSIZ), for SO_BINDTODEVICE,
	 * or -KS_ENODEV; a host without network devices always answers
	 * -KS_ENODEV. Called with no ksock lock held (setsockopt looks the
	 * name up before it takes the socket lock). */
	int	 (*netdev_index)(const char *name);

	/* -- spinning -- */

	/*
	 * Whether a thread that waits for another one (for data, for room,
	 * for a poll event) should keep spinning rather than park. ksock
	 * calls it when a wait begins, with @spun_ns 0, and then every few
	 * hundred nanoseconds of spinning, with the time spun so far (time
	 * spent inside this hook included); false makes the waiter park at
	 * once, and no further call comes for that wait. Spinning pays
	 * only while the thread that will wake the waiter runs on another
	 * CPU and only for about what a park and unpark pair would cost; a
	 * host that cannot tell should
	 * answer from what it knows (one CPU for the caller: never spin; a
	 * time budget), and may yield the CPU inside the call, so a spinner
	 * never keeps a runnable thread of the same CPU off it. Called with
	 * no ksock lock held; must be cheap and must not block for long.
	 */
	bool	 (*keep_spinning)(int64_t spun_ns);

	/* -- what the host cannot do (appended for the Linux kernel port) -- */

	/* KS_PORT_* bits below; 0 for a host that does all of it. */
	uint32_t flags;
	/*
	 * For a host with KS_PORT_PARK_WORD, which has no per-thread token
	 * to make park()'s promise and cannot keep a thread handle valid
	 * after the thread has left ksock (a kernel, whose threads may exit
	 * any time after a wait ends). park_word() sleeps the calling thread
	 * while the 32-bit int at @word (ksock's own, naturally aligned;
	 * read it atomically) equals @val, until unpark_word(@word), the
	 * monotonic clock reaches @deadline_ns (-1: none), or a signal.
	 * Returns 0 (possibly spuriously), -KS_ETIMEDOUT or -KS_EINTR; like
	 * a futex, it re-reads the word after queueing the thread, so a
	 * change and unpark_word() that come first are not lost.
	 * unpark_word() wakes every thread sleeping on @word; @word may be
	 * gone by then (the sleeper saw the change on its own and left), so
	 * the host may use the address only as a key, never dereference it.
	 * Safe to call with any ksock lock held. Called with no ksock lock
	 * held: park_word. A host without the flag fills both with
	 * something harmless; ksock never calls them.
	 */
	int	 (*park_word)(const void *word, int val, int64_t deadline_ns);
	void	 (*unpark_word)(const void *word);

	/*
	 * Single copy for large stream transfers: copies @len bytes from
	 * @usrc, user memory of thread @owner (a thread_self() value of a
	 * thread that stays blocked in a ksock send until the copy has
	 * returned), to @udst, user memory of the calling thread: a reader
	 * taking bytes straight from a blocked writer's buffer. Returns 0,
	 * -KS_EFAULT when @udst is bad (the caller's fault) or -KS_EACCES
	 * when @usrc is (the owner's); after a failure ksock counts none of
	 * the @len bytes as moved, though part may have been written. A host
	 * that cannot reach another thread's user memory from the caller's
	 * context (a kernel whose processes have address spaces of their
	 * own) returns -KS_EOPNOTSUPP, for every call: ks_init() asks once,
	 * with @len 0 and NULL pointers, and if the answer is not 0 ksock
	 * copies every transfer twice (in and out of its buffers) and never
	 * calls it again. Called with no lock held.
	 */
	int	 (*copy_user_cross)(void *udst, void *owner, const void *usrc,
				    size_t len);
};

/* Waiters sleep with park_word()/unpark_word(), never park()/unpark().
 * (Whether a waiter spins first is keep_spinning()'s answer: a host on
 * one CPU answers false at once.) */
#define KS_PORT_PARK_WORD	0x1

#endif /* KSOCK_PORT_H */

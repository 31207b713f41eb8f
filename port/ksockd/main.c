/*
 * ksockd: the socket server. One ksock instance on the hosted port,
 * serving any number of client processes over the protocol of
 * docs/ksockd.md.
 *
 *   ksockd [--max-clients-per-user N] [--idle-exit MS] ADDRESS
 *
 * ADDRESS is a path, or @NAME for an abstract name.
 *
 * The bootstrap socket is a kernel AF_UNIX SOCK_SEQPACKET socket. A
 * client connects and sends struct ksd_hello; the server takes its pid,
 * uid and gid from SO_PEERCRED (never from the hello), makes the
 * client's shared region (a memfd sealed against shrinking and growing,
 * so no access of the server's can fault), and answers struct
 * ksd_welcome with the region's descriptor. After that the connection
 * carries only doorbells (struct ksd_bell), and its hang-up is the
 * client's exit, whatever the cause: the server then drops the client's
 * parked calls and closes its descriptors.
 *
 * One thread, one epoll set: the listening socket, a signalfd for
 * SIGTERM and SIGINT (a clean stop: every client dropped, ksock stopped,
 * exit status 0 only when nothing was left allocated), and every
 * client's connection. A protocol violation on a connection closes it,
 * and so does a hello that has not come KSD_HELLO_NS after the connect.
 * One uid may have at most max_per_uid clients at once (its further
 * hellos are refused with -EUSERS); together with RLIMIT_NOFILE per
 * process, that bounds what one user can hold.
 *
 * With --idle-exit MS the server stops by itself (the clean stop of
 * SIGTERM) once it has had no connection and no hand-over for MS
 * milliseconds: ksock-run starts it that way, so that no server is left
 * behind its programs. A client that connects as it stops is refused
 * and starts another one (docs/ksock-run.md).
 *
 * Nothing in the loop walks every client: a wait costs a parked call's
 * memory, and an event costs the same with ten or ten thousand clients
 * connected (t_scale). Connections awaiting their hello are queued
 * oldest first, so the late ones are at the head; clients are counted
 * per uid as they come and go. The server raises its descriptor limit
 * to the hard limit at start: it holds one descriptor per client.
 *
 * Locks: none. One thread runs the loop and every call it serves.
 * Tags: [S] the server thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ksock/posix.h>

#include "ksockd.h"

/* How long a new connection may take to say hello. */
#define KSD_HELLO_NS	(2 * 1000000000LL)
/* Connections waiting to be accepted: bursts of clients starting at
 * once wait in it rather than being refused. */
#define KSD_BOOTSTRAP_BACKLOG	128
/* Clients of one uid at once, unless --max-clients-per-user says. */
#define KSD_CLIENTS_PER_UID	1024

static long max_per_uid = KSD_CLIENTS_PER_UID;

/* epoll tags that are not clients. */
static char tag_listen, tag_signal;

static int epfd = -1;			/* [S] */
static int lfd = -1;			/* [S] the bootstrap socket */
/* Out of descriptors: the bootstrap socket is not watched until a
 * client leaves, or the level-triggered loop would wake at once, again
 * and again, for a connection it cannot accept. */
static bool listen_paused;		/* [S] */

/* Connections awaiting their hello, oldest first: all wait the same
 * KSD_HELLO_NS, so the head is the first to be late. */
static struct ksd_client *hello_head, *hello_tail;	/* [S] */

/* Welcomed clients of one uid. The list is as long as the number of
 * distinct uids with clients, not of clients. */
struct uid_count {
	uint32_t	 uid;		/* [S] */
	long		 n;		/* [S] */
	struct uid_count *next;		/* [S] */
};
static struct uid_count *uid_counts;	/* [S] */

static void
hello_queue_add(struct ksd_client *c)
{
	c->hello_next = NULL;
	c->hello_prev = hello_tail;
	if (hello_tail != NULL)
		hello_tail->hello_next = c;
	else
		hello_head = c;
	hello_tail = c;
	c->on_hello_queue = true;
}

static void
hello_queue_del(struct ksd_client *c)
{
	if (!c->on_hello_queue)
		return;
	if (c->hello_prev != NULL)
		c->hello_prev->hello_next = c->hello_next;
	else
		hello_head = c->hello_next;
	if (c->hello_next != NULL)
		c->hello_next->hello_prev = c->hello_prev;
	else
		hello_tail = c->hello_prev;
	c->hello_next = c->hello_prev = NULL;
	c->on_hello_queue = false;
}

static struct uid_count **
uid_count_find(uint32_t uid)
{
	struct uid_count **pp = &uid_counts;

	while (*pp != NULL && (*pp)->uid != uid)
		pp = &(*pp)->next;
	return pp;
}

/* Welcomed clients of @uid. */
static long
clients_of(uint32_t uid)
{
	struct uid_count *u = *uid_count_find(uid);

	return u != NULL ? u->n : 0;
}

/* Counts one more client of @uid. Returns 0, or -1 (no memory). */
static int
uid_count_add(uint32_t uid)
{
	struct uid_count **pp = uid_count_find(uid);

	if (*pp == NULL) {
		*pp = calloc(1, sizeof(**pp));
		if (*pp == NULL)
			return -1;
		(*pp)->uid = uid;
	}
	(*pp)->n++;
	return 0;
}

static void
uid_count_sub(uint32_t uid)
{
	struct uid_count **pp = uid_count_find(uid), *u = *pp;

	if (u == NULL)
		return;
	if (--u->n == 0) {
		*pp = u->next;
		free(u);
	}
}

/* -- bells in memory (proto.h, struct ksd_bells) -- */

static void client_drop(struct ksd_client *c);

/* How long a watched client may post nothing before the server stops
 * watching it between turns (it then rings a KICK again): longer than a
 * call's round trip, so a client that calls in a loop stays watched,
 * short enough that the watch list holds only the clients calling now,
 * however many are connected. */
#define KSD_WATCH_NS	200000

/* Clients whose posted bits the loop takes between its turns. */
static struct ksd_client *watch_head;	/* [S] */

/*
 * Whether a kernel descriptor may be in flight (a doorbell brought some
 * since the hosted port last counted none). While it may, no CLOSE goes
 * without its reply: closing a socket may close a kernel descriptor
 * queued in it, which the caller (or a process it tells) would then see
 * still open. The watched clients' close_nowait says the opposite of
 * this; an unwatched client's is not read (proto.h).
 */
static bool kfds_maybe;		/* [S] */

static void
close_nowait_set(bool on)
{
	for (struct ksd_client *c = watch_head; c != NULL; c = c->watch_next)
		atomic_store(&c->shm->bells.close_nowait, on ? 1 : 0);
}

/* A doorbell brought kernel descriptors: every watched client's closes
 * wait for their replies from now on, before the request can make a
 * file of them (and so before its reply). */
static void
kfds_coming(void)
{
	if (!kfds_maybe)
		close_nowait_set(false);
	kfds_maybe = true;
}

/* Between turns: once no kernel descriptor is held, closes may go
 * without their replies again. */
static void
kfds_check(void)
{
	if (kfds_maybe && ksp__host_files() == 0) {
		kfds_maybe = false;
		close_nowait_set(true);
	}
}

static void
watch_add(struct ksd_client *c, int64_t now)
{
	c->posted_at = now;
	if (c->watched)
		return;
	/* Before @watching: a client that sees it set reads this after. */
	atomic_store(&c->shm->bells.close_nowait, kfds_maybe ? 0 : 1);
	atomic_store(&c->shm->bells.watching, 1);
	c->watch_prev = NULL;
	c->watch_next = watch_head;
	if (watch_head != NULL)
		watch_head->watch_prev = c;
	watch_head = c;
	c->watched = true;
}

/* Takes @c off the list; the caller has cleared its @watching. */
static void
watch_del(struct ksd_client *c)
{
	if (!c->watched)
		return;
	if (c->watch_prev != NULL)
		c->watch_prev->watch_next = c->watch_next;
	else
		watch_head = c->watch_next;
	if (c->watch_next != NULL)
		c->watch_next->watch_prev = c->watch_prev;
	c->watch_next = c->watch_prev = NULL;
	c->watched = false;
}

/*
 * Takes @c's posted bits out of the region into c->bells_held. Returns
 * the bits that were not held already (a bit posted again for a held
 * slot is the same request).
 */
static uint32_t
bells_grab(struct ksd_client *c)
{
	uint32_t bits, fresh;

	/* A look before the exchange: most looks find nothing, and a
	 * load leaves the client's cache line shared. */
	if (atomic_load(&c->shm->bells.posted) == 0)
		return 0;
	bits = atomic_exchange(&c->shm->bells.posted, 0);
	fresh = bits & ~c->bells_held;

	c->bells_held |= bits;
	return fresh;
}

/*
 * The order of @c's held requests: every CLOSE first, then the rest,
 * each in the client's request order (seq). A CLOSE may go without its
 * caller waiting for the reply (docs/ksockd.md, "Closes without a
 * reply"): it comes before whatever was posted after it, and a request
 * still waiting for its reply is concurrent with any CLOSE, so running
 * the closes first is always an order the calls could have had. The
 * label and seq are read from the region only to order: a client that
 * rewrites them reorders only its own calls. Returns how many of
 * @slots are filled (only CLOSEs with @closes_only).
 */
static int
bells_order(struct ksd_client *c, bool closes_only, uint32_t *slots)
{
	uint64_t key[KSD_SLOTS];
	uint32_t bits = c->bells_held;
	int n = 0;

	for (; bits != 0; bits &= bits - 1) {
		uint32_t s = (uint32_t)__builtin_ctz(bits);
		volatile struct ksd_req *q = &c->shm->slot[s].req;
		bool close = q->label == KSD_CLOSE;
		uint64_t k = (q->seq & ~(1ull << 63)) |
			     (close ? 0 : 1ull << 63);
		int j = n++;

		if (closes_only && !close) {
			n--;
			continue;
		}
		for (; j > 0 && key[j - 1] > k; j--) {
			key[j] = key[j - 1];
			slots[j] = slots[j - 1];
		}
		key[j] = k;
		slots[j] = s;
	}
	return n;
}

static int closes_before_request(void);

/*
 * Runs @c's held requests (only its CLOSEs with @closes_only), in
 * bells_order's order: each as a doorbell without descriptors (the
 * kernel descriptors of a doorbell being served, if any, are put aside
 * meanwhile: they are not these requests'). Returns how many ran, or
 * -1 when one broke the protocol (drop the client).
 */
static int
bells_run(struct ksd_client *c, bool closes_only)
{
	uint32_t slots[KSD_SLOTS];
	int nfd = c->nbell_fd, n, ran = 0;
	bool trunc = c->bell_trunc;

	n = bells_order(c, closes_only, slots);
	if (n == 0)
		return 0;
	c->nbell_fd = 0;
	c->bell_trunc = false;
	for (; ran < n; ran++) {
		/* Closes posted since the order was made run first; one
		 * of them may be a slot of @slots (a rewritten label). */
		if (!closes_only) {
			(void)closes_before_request();
			if (c->drop_pending) {
				ran = -1;
				break;
			}
		}
		if ((c->bells_held & (1u << slots[ran])) == 0)
			continue;
		c->bells_held &= ~(1u << slots[ran]);
		if (ksd__bell(c, slots[ran]) < 0) {
			ran = -1;
			break;
		}
	}
	c->nbell_fd = nfd;
	c->bell_trunc = trunc;
	return ran;
}

/*
 * Runs the requests @c posted in memory (and any held). Returns how
 * many ran, or -1 when one broke the protocol (drop the client).
 */
static int
bells_take(struct ksd_client *c)
{
	(void)bells_grab(c);
	return bells_run(c, false);
}

/*
 * Takes every watched client's posted bits, again until a look finds
 * nothing new (so a request posted before one that was taken is taken
 * too, whatever the list's order), then runs every CLOSE among them.
 * What else was taken stays held for this turn's watch_scan or the
 * client's doorbell. A client that broke the protocol is dropped, or
 * with @defer marked drop_pending (epoll's events may name it).
 * Returns the CLOSEs run.
 */
static int
watch_closes_first(bool defer)
{
	struct ksd_client *c, *next;
	uint32_t fresh;
	int ran = 0;

	do {
		fresh = 0;
		for (c = watch_head; c != NULL; c = c->watch_next)
			fresh |= bells_grab(c);
	} while (fresh != 0);
	for (c = watch_head; c != NULL; c = next) {
		int n = bells_run(c, true);

		next = c->watch_next;
		if (n < 0 && defer)
			c->drop_pending = true;
		else if (n < 0)
			client_drop(c);
		else if (n > 0)
			c->posted_at = ksp__now();
		ran += n > 0 ? n : 0;
	}
	return ran;
}

/*
 * Right before a request is served: a watched client that posted since
 * the last look may have posted a CLOSE, which must run first (a
 * process told of that close may be the one asking now; docs/ksockd.md,
 * "Closes without a reply"). Most looks find no posted word set, one
 * load a client. The caller may be serving a client, so one that broke
 * the protocol is only marked drop_pending. Returns the CLOSEs run.
 */
static int
closes_before_request(void)
{
	struct ksd_client *c;

	for (c = watch_head; c != NULL; c = c->watch_next)
		if (atomic_load_explicit(&c->shm->bells.posted,
					 memory_order_acquire) != 0)
			return watch_closes_first(true);
	return 0;
}

/*
 * Stops watching @c: @watching cleared, then the bits taken once more,
 * so a request posted meanwhile is run here or was rung for. Returns
 * bells_take's count (a client with work stays watched), or -1.
 */
static int
watch_end(struct ksd_client *c, int64_t now)
{
	int n;

	atomic_store(&c->shm->bells.watching, 0);
	n = bells_take(c);
	if (n > 0) {
		atomic_store(&c->shm->bells.watching, 1);
		c->posted_at = now;
	} else {
		watch_del(c);
	}
	return n;
}

/* Drops the clients watch_closes_first(true) marked (all are watched:
 * only a drop takes a client off the list during a turn's events). */
static void
drops_pending(void)
{
	struct ksd_client *c, *next;

	for (c = watch_head; c != NULL; c = next) {
		next = c->watch_next;
		if (c->drop_pending)
			client_drop(c);
	}
}

/*
 * One look at every watched client's posted bits; a client quiet for
 * KSD_WATCH_NS (or @all: the server is about to sleep) is no longer
 * watched. Returns the requests run.
 */
static int
watch_scan(bool all)
{
	int64_t now = ksp__now();
	struct ksd_client *c, *next;
	int ran = 0;

	ran = watch_closes_first(false);
	for (c = watch_head; c != NULL; c = next) {
		int n;

		/* Marked by a look before another's request (its own
		 * closes broke the protocol): dropped below. */
		next = c->watch_next;
		if (c->drop_pending)
			continue;
		n = bells_run(c, false);
		next = c->watch_next;
		if (n == 0 && (all || now - c->posted_at > KSD_WATCH_NS))
			n = watch_end(c, now);
		else if (n > 0)
			c->posted_at = now;
		if (n < 0)
			client_drop(c);
		else
			ran += n;
	}
	drops_pending();
	if (ran > 0)
		ksd__run_ready();
	return ran;
}

/* ksp__spin_until's test: a watched client posted. */
static bool
watch_posted(void *arg)
{
	for (struct ksd_client *c = watch_head; c != NULL; c = c->watch_next)
		if (atomic_load_explicit(&c->shm->bells.posted,
					 memory_order_relaxed) != 0)
			return true;
	return false;
}

/*
 * Between two turns with nothing to do: the watched clients' bits are
 * looked at for as long as the port's spin policy allows (not at all
 * when this is the only CPU: it yields instead), and when nothing came
 * every client is unwatched, so the server may sleep. Returns whether
 * there is work (the loop then looks for events without sleeping).
 */
static bool
watch_idle(void)
{
	if (watch_head == NULL)
		return false;
	if (ksp__spin_until(watch_posted, NULL, -1))
		return true;
	return watch_scan(true) > 0 || watch_head != NULL;
}

static void
client_drop(struct ksd_client *c)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->sock, NULL);
	close(c->sock);
	hello_queue_del(c);
	watch_del(c);
	if (c->welcomed)
		uid_count_sub(c->proc.uid);
	if (listen_paused) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.ptr = &tag_listen };

		if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) == 0)
			listen_paused = false;
	}
	if (c->shm != NULL)
		munmap(c->shm, c->shm_size);
	ksd__client_free(c);
}

/* The client's region: a sealed memfd, mapped here. Returns the
 * descriptor to send, or -1. */
static int
region_new(struct ksd_client *c)
{
	size_t size = sizeof(struct ksd_shm);
	int fd;

	fd = memfd_create("ksockd", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto close_fd;
	c->shm = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (c->shm == MAP_FAILED) {
		c->shm = NULL;
		goto close_fd;
	}
	c->shm_size = size;
	c->shm->magic = KSD_MAGIC;
	c->shm->version = KSD_VERSION;
	c->shm->nslots = KSD_SLOTS;
	c->shm->data_max = KSD_DATA_MAX;
	c->shm->ctl_max = KSD_CTL_MAX;
	return fd;

close_fd:
	close(fd);
	return -1;
}

static int
send_welcome(int sock, int err, int memfd, uint64_t size)
{
	struct ksd_welcome w = {
		.magic = KSD_MAGIC, .version = KSD_VERSION, .err = err,
		.shm_size = size,
	};
	union {
		struct cmsghdr	h;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { &w, sizeof(w) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (memfd >= 0) {
		memset(&u, 0, sizeof(u));
		m.msg_control = u.buf;
		m.msg_controllen = sizeof(u.buf);
		CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), &memfd, sizeof(int));
	}
	return sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT) ==
	       (ssize_t)sizeof(w) ? 0 : -1;
}

/* Drops the connections whose hello is late; returns the next moment
 * one will be, or -1. */
static int64_t
drop_late(int64_t now)
{
	while (hello_head != NULL && hello_head->hello_by <= now)
		client_drop(hello_head);
	return hello_head != NULL ? hello_head->hello_by : -1;
}

/*
 * The hello of a new connection: identity from the kernel, the region,
 * a claimed hand-over. Returns 0, or -1 to drop the connection.
 */
static int
handshake(struct ksd_client *c)
{
	struct ksd_hello h;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	ssize_t n;
	int memfd, err = 0;

	n = recv(c->sock, &h, sizeof(h), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n != (ssize_t)sizeof(h) || h.magic != KSD_MAGIC)
		return -1;
	if (h.version != KSD_VERSION) {
		send_welcome(c->sock, -KS_EPROTONOSUPPORT, -1, 0);
		return -1;
	}
	if (getsockopt(c->sock, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) < 0)
		return -1;
	if (clients_of(cr.uid) >= max_per_uid) {
		send_welcome(c->sock, -EUSERS, -1, 0);
		return -1;
	}
	c->proc.pid = cr.pid;
	c->proc.uid = c->proc.euid = c->proc.suid = cr.uid;
	c->proc.gid = c->proc.egid = c->proc.sgid = cr.gid;
	c->proc.umask = h.umask & 0777;
	err = ksd__client_ids(c);
	if (err == 0 && h.token != 0)
		err = ksd__claim(c, h.token, cr.uid);
	if (err < 0) {
		send_welcome(c->sock, err, -1, 0);
		return -1;
	}
	memfd = region_new(c);
	if (memfd < 0 || uid_count_add(cr.uid) < 0) {
		if (memfd >= 0)
			close(memfd);
		send_welcome(c->sock, -KS_ENOMEM, -1, 0);
		return -1;
	}
	/* Counted from here: client_drop() uncounts a welcomed client. */
	c->welcomed = true;
	hello_queue_del(c);
	err = send_welcome(c->sock, 0, memfd, c->shm_size);
	close(memfd);
	return err < 0 ? -1 : 0;
}

/*
 * One doorbell from @c's connection into @b, with the kernel descriptors
 * it carries (KSD_F_CWD, KSD_F_KFDS) in c->bell_fd. Returns recvmsg's
 * count.
 */
static ssize_t
bell_recv(struct ksd_client *c, struct ksd_bell *b)
{
	union {
		struct cmsghdr	h;
		char		buf[CMSG_SPACE(KSD_BELL_FDS * sizeof(int))];
	} u;
	struct iovec iov = { b, sizeof(*b) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	ssize_t n;

	c->nbell_fd = 0;
	n = recvmsg(c->sock, &m, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return n;
	c->bell_trunc = (m.msg_flags & MSG_CTRUNC) != 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm != NULL;
	     cm = CMSG_NXTHDR(&m, cm)) {
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t j = 0; j < k; j++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + j * sizeof(int), sizeof(fd));
			if (c->nbell_fd < KSD_BELL_FDS)
				c->bell_fd[c->nbell_fd++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

/*
 * One doorbell of @c: the requests posted in memory first (a CANCEL
 * must not overtake the call it cancels, posted before it was rung),
 * then the bell's own slot, if it names one. The client is watched from
 * now on. Returns 0, or -1 to drop.
 */
static int
bell_serve(struct ksd_client *c, uint32_t slot)
{
	if (bells_take(c) < 0)
		return -1;
	watch_add(c, ksp__now());
	if (slot == KSD_BELL_KICK)
		return 0;
	if (c->nbell_fd > 0)
		kfds_coming();
	(void)closes_before_request();
	if (c->drop_pending)
		return -1;
	return ksd__bell(c, slot);
}

/* Doorbells waiting on @c's connection. Returns 0, or -1 to drop. */
static int
client_input(struct ksd_client *c)
{
	for (;;) {
		struct ksd_bell b;
		ssize_t n = bell_recv(c, &b);
		int err = 0;

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (n != (ssize_t)sizeof(b))
			err = -1;	/* a hang-up (0) or a bad message */
		else
			err = bell_serve(c, b.slot);
		ksd__bell_fds_close(c);
		if (err < 0)
			return -1;
		ksd__run_ready();
	}
}

static void
accept_clients(void)
{
	for (;;) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		struct ksd_client *c;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if ((errno == EMFILE || errno == ENFILE) &&
			    epoll_ctl(epfd, EPOLL_CTL_DEL, lfd, NULL) == 0)
				listen_paused = true;
			return;
		}
		c = ksd__client_new(0, (uint32_t)-1, (uint32_t)-1, 022);
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->sock = fd;
		c->hello_by = ksp__now() + KSD_HELLO_NS;
		ev.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			ksd__client_free(c);
			continue;
		}
		hello_queue_add(c);
	}
}

/* One descriptor per client: take all the kernel allows us. A limit
 * that cannot be raised leaves the soft one (fewer clients, refused at
 * accept, which then fails with EMFILE). */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * A path name appears only once its socket listens: the socket is bound
 * to a temporary name beside it ("PATH.PID"), listens, and is then
 * linked under PATH, which fails as bind would when PATH is taken. A
 * client that waits for the path to exist can connect at once, never
 * in between a bind and a listen (ECONNREFUSED). A path too long for
 * the temporary name is bound directly.
 */
static int
bind_listen(int fd, const struct sockaddr_un *sun, socklen_t alen)
{
	return bind(fd, (const struct sockaddr *)sun, alen) < 0 ||
	       listen(fd, KSD_BOOTSTRAP_BACKLOG) < 0 ? -1 : 0;
}

static int
bind_and_listen(int fd, const char *name, size_t len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int n, err;

	memcpy(sun.sun_path, name, len);
	if (name[0] == '@') {
		sun.sun_path[0] = '\0';
		return bind_listen(fd, &sun, (socklen_t)(offsetof(struct
				   sockaddr_un, sun_path) + len));
	}
	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s.%d", name,
		     (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", name);
		return bind_listen(fd, &sun, sizeof(sun));
	}
	if (bind_listen(fd, &sun, sizeof(sun)) < 0) {
		err = errno;
		unlink(sun.sun_path);	/* bound, but not listening */
		errno = err;
		return -1;
	}
	err = link(sun.sun_path, name) < 0 ? errno : 0;
	unlink(sun.sun_path);
	/* A name taken is what bind would have said. */
	errno = err == EEXIST ? EADDRINUSE : err;
	return err != 0 ? -1 : 0;
}

static int
listen_on(const char *name)
{
	size_t len = strlen(name);
	int fd;

	if (len == 0 || len >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		fprintf(stderr, "ksockd: bad address\n");
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind_and_listen(fd, name, len) < 0) {
		perror("ksockd");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/*
 * --idle-exit: whether the server has been idle (no connection, not
 * even one still saying hello, and no hand-over waiting for a child)
 * for @idle_ns by @now (@hello_pending: a connection says hello); @since keeps when that began (-1: busy).
 */
static bool
idle_for(int64_t idle_ns, int64_t now, bool hello_pending, int64_t *since)
{
	struct ksd_status st;

	if (idle_ns < 0)
		return false;
	ksd__status(&st);
	if (hello_pending || ksd__first_client() != NULL || st.handovers != 0) {
		*since = -1;
		return false;
	}
	if (*since < 0)
		*since = now;
	return now - *since >= idle_ns;
}

int
main(int argc, char **argv)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct ksd_status st;
	sigset_t mask;
	int sfd, status = 0;
	bool running = true, work = false;
	int64_t idle_ns = -1, idle_since = -1;

	while (argc >= 4 && argv[1][0] == '-' && argv[1][1] == '-') {
		if (strcmp(argv[1], "--max-clients-per-user") == 0)
			max_per_uid = strtol(argv[2], NULL, 10);
		else if (strcmp(argv[1], "--idle-exit") == 0)
			idle_ns = strtoll(argv[2], NULL, 10) * 1000000LL;
		else
			break;
		argv += 2;
		argc -= 2;
	}
	if (argc != 2 || max_per_uid <= 0 || (idle_ns < 0 && idle_ns != -1)) {
		fprintf(stderr, "usage: ksockd [--max-clients-per-user N] "
			"[--idle-exit MS] PATH|@NAME\n");
		return 2;
	}
	/* SIGPIPE is blocked, not ignored: ksock's sends signal this
	 * thread when Linux would, and the request takes the pending
	 * signal to the client (serve.c: sigpipe_taken). */
	sigemptyset(&mask);
	sigaddset(&mask, SIGPIPE);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	raise_nofile();
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if (ksp_init() < 0) {
		perror("ksockd: ksp_init");
		return 1;
	}
	lfd = listen_on(argv[1]);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (lfd < 0 || sfd < 0 || epfd < 0)
		return 1;
	ev.data.ptr = &tag_listen;
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
	ev.data.ptr = &tag_signal;
	epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);

	while (running) {
		struct epoll_event evs[64];
		int64_t next = ksd__next_deadline(), now = ksp__now();
		int64_t late = drop_late(now);
		int timeout = -1, n;

		if (late >= 0 && (next < 0 || late < next))
			next = late;
		if (idle_for(idle_ns, now, late >= 0, &idle_since))
			break;
		if (idle_since >= 0 && (next < 0 || idle_since + idle_ns < next))
			next = idle_since + idle_ns;

		if (next >= 0)
			timeout = next <= now ? 0 :
				  (int)((next - now + 999999) / 1000000);
		if (work)
			timeout = 0;
		n = epoll_wait(epfd, evs, 64, timeout);
		/* A watched client's CLOSE posted before a doorbell read
		 * here was rung is run before the doorbell's request. */
		if (n > 0 && watch_closes_first(true) > 0)
			ksd__run_ready();
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			struct ksd_client *c = tag;
			int drop;

			if (tag == &tag_listen) {
				accept_clients();
				continue;
			}
			if (tag == &tag_signal) {
				running = false;
				continue;
			}
			if (c->drop_pending)
				continue;
			drop = c->welcomed ? client_input(c) : handshake(c);
			/* A hang-up with bells still queued: those are read
			 * first, then the client goes. */
			if (drop == 0 && (evs[i].events & (EPOLLHUP | EPOLLERR |
							   EPOLLRDHUP))) {
				if (c->welcomed)
					client_input(c);
				drop = -1;
			}
			if (drop < 0)
				client_drop(c);
		}
		drops_pending();
		ksd__run_ready();
		ksd__expire(ksp__now());
		kfds_check();
		/* Requests posted in memory; with none, and no event, a
		 * spin over them before the loop may sleep. */
		work = watch_scan(false) > 0 || n > 0 || watch_idle();
	}

	/* A clean stop: every client goes, then ksock. */
	while (ksd__first_client() != NULL)
		client_drop(ksd__first_client());
	ksd__handovers_free();
	ksd__status(&st);
	close(lfd);
	if (argv[1][0] != '@')
		unlink(argv[1]);
	if (ksp_fini() < 0 || st.objects != 0 || ksp_alloc_outstanding() != 0) {
		fprintf(stderr, "ksockd: left allocated at exit: %ld ksock, "
			"%lld own\n", ksp_alloc_outstanding(),
			(long long)st.objects);
		status = 1;
	}
	close(sfd);
	close(epfd);
	return status;
}

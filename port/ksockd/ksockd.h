/*
 * ksockd's internals shared by the server's files (serve.c: requests,
 * parked calls, hand-overs; main.c: the bootstrap socket and the event
 * loop) and the fuzz target (fuzz/ksockd_decode.c). Not a public header.
 *
 * The server is one thread. Every ksock call is made from it, never
 * blocking (sockets are asked with MSG_DONTWAIT, or their O_NONBLOCK is
 * set for the length of one call, which no other thread can observe),
 * so a call that would block is parked instead: a struct ksd_park holds
 * the decoded request and a poll entry on the socket, and the entry's
 * wake callback puts it on the ready list, which the loop runs.
 *
 * Locks: none. One thread touches everything here; the wake callbacks
 * run on that thread too, inside a ksock call it made.
 * Tags: [I] immutable after creation, [S] the server thread.
 */
#ifndef KSOCK_KSOCKD_H
#define KSOCK_KSOCKD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../hosted/hosted.h"
#include "proto.h"

struct ksd_park;
struct ksd_watch;

/* One client process: a ksock process with its own descriptor table. */
struct ksd_client {
	struct ksp_proc	 proc;		/* pid, ids, umask, table [S] */
	int		 sock;		/* [I] bootstrap socket, or -1 */
	bool		 welcomed;	/* [S] the handshake is done */
	int64_t		 hello_by;	/* [I] drop it unwelcomed then */
	struct ksd_shm	*shm;		/* [I] the shared region */
	size_t		 shm_size;	/* [I] */
	bool		 busy[KSD_SLOTS];	/* [S] a request in progress */
	struct ksd_park	*park[KSD_SLOTS];	/* [S] its parked call */
	struct ksd_client *next, *prev;	/* [S] all clients */
	/* KSD_NOTIFY: the server's end of each slot's notifier (a kernel
	 * socket), or -1; whether the call in the slot asked for it. */
	int		 notify[KSD_SLOTS];	/* [S] */
	bool		 notify_want[KSD_SLOTS];	/* [S] */
	/* The kernel descriptors that came with the doorbell being served
	 * (KSD_F_CWD, KSD_F_KFDS): ksd__bell() takes what the request
	 * names; the caller closes the rest. bell_trunc: some did not fit
	 * (the server's RLIMIT_NOFILE). */
	int		 bell_fd[KSD_BELL_FDS];	/* [S] */
	int		 nbell_fd;		/* [S] */
	bool		 bell_trunc;		/* [S] */
	/* main.c's queue of connections whose hello is awaited, oldest
	 * first (so the late ones are found without a walk of all). */
	struct ksd_client *hello_next, *hello_prev;	/* [S] */
	bool		 on_hello_queue;	/* [S] */
	/* main.c's list of the clients whose bells it watches in memory
	 * (proto.h, struct ksd_bells), and when each last posted. */
	struct ksd_client *watch_next, *watch_prev;	/* [S] */
	bool		 watched;		/* [S] */
	int64_t		 posted_at;		/* [S] */
	/* KSD_WATCH: the client's watches (serve.c). */
	struct ksd_watch *watches;		/* [S] */
	unsigned	 nwatches;		/* [S] */
	/* KSD_F_DIRECT (serve.c): whether the client's memory can be
	 * reached (0: not asked yet, 1: yes, -1: no). */
	int		 direct;		/* [S] */
	/* Posted bits main.c took from the region and has not run yet
	 * (bells_grab, then bells_run). */
	uint32_t	 bells_held;		/* [S] */
	/* Broke the protocol while the events of a turn were pending:
	 * dropped once they have been looked at (main.c). */
	bool		 drop_pending;		/* [S] */
};

/* A request after the decoder: every field checked against its bounds. */
struct ksd_call {
	uint32_t	label;
	uint32_t	flags;
	int32_t		fd;
	int32_t		a[3];
	uint32_t	addrlen;
	uint32_t	datalen;
	uint32_t	ctllen;
	uint64_t	seq;
	unsigned char	inl[KSD_INLINE];
	int32_t		tid;		/* KSD_F_THREAD_NS */
};

/*
 * Checks a request copied out of shared memory. Returns 0 with @out
 * filled, or -KS_ENOSYS (unknown label), -KS_EINVAL (a flag, a count or
 * a length out of range). Pure: touches nothing but its arguments.
 */
int	ksd__decode(const struct ksd_req *req, struct ksd_call *out);

/* A new client for the process @pid with ids @uid, @gid (from the
 * kernel), umask @mask and the region @shm of @size bytes (NULL in the
 * fuzz target's clients, whose region is their own memory). */
struct ksd_client *ksd__client_new(int32_t pid, uint32_t uid, uint32_t gid,
				   unsigned mask);
/* Reads the network namespace and supplementary groups of @c's process
 * (c->proc.pid, alive) from /proc, for the netns and groups the hosted
 * port reports for it. Returns 0, -KS_ENOMEM or -KS_ESRCH (the process
 * is gone); freed with the client. */
int	ksd__client_ids(struct ksd_client *c);
/* Ends a client: its parked calls are dropped and its descriptors
 * closed. Does not close c->sock or unmap c->shm (the caller's). */
void	ksd__client_free(struct ksd_client *c);
/*
 * A doorbell for @slot of @c: decodes and runs the posted request, and
 * replies, now or once the call can finish. Returns 0, or -1 when the
 * bell breaks the protocol (a slot out of range or already busy): the
 * caller then drops the client.
 */
int	ksd__bell(struct ksd_client *c, uint32_t slot);
/* Closes the descriptors of c->bell_fd that the last doorbell's request
 * did not take (those it took are -1 there). */
void	ksd__bell_fds_close(struct ksd_client *c);
/* Runs the parked calls that a wake-up or a deadline made ready. */
void	ksd__run_ready(void);
/* Monotonic time of the next deadline (a parked call's, a hand-over's),
 * or -1. */
int64_t	ksd__next_deadline(void);
/* Finishes parked calls and drops hand-overs whose deadline passed. */
void	ksd__expire(int64_t now);
/* Gives @c the descriptors of the FORK or EXEC hand-over @token made
 * for the uid @uid. Returns 0, or -KS_ESRCH (no such hand-over). */
int	ksd__claim(struct ksd_client *c, uint64_t token, uint32_t uid);
/* A connected client, or NULL when none is (for the stop). */
struct ksd_client *ksd__first_client(void);
/* Frees every hand-over (at shutdown). */
void	ksd__handovers_free(void);
/* What the server holds. */
void	ksd__status(struct ksd_status *st);
/*
 * KSD_DIAG (diag.c): a page of the server's socket listing, with the
 * pids of the processes holding each socket, written to @win (k->datalen
 * bytes of room). Returns the bytes written, or -KS_ENOMEM,
 * -KS_EMSGSIZE (not even one socket fits); rep->token: the id to go
 * on from, 0 at the end.
 */
long	ksd__diag(struct ksd_client *caller, const struct ksd_call *k,
		  unsigned char *win, struct ksd_rep *rep);
/* Objects ksockd allocated and has not freed. */
long	ksd__objects(void);
/* Makes the @n-th allocation of a ksockd object from now fail (0: off),
 * for the fuzz target. */
void	ksd__obj_fail_at(long n);

#endif /* KSOCK_KSOCKD_H */

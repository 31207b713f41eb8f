/*
 * Concurrency stress: many simulated processes (each on its own thread)
 * using ksock at once, with exact accounting of what went through.
 *
 *   listener   connectors connect to one shared listener that two
 *              acceptors serve; each connection carries a known number
 *              of bytes (three-segment iovecs) and gets the count back;
 *   pairs      two processes ping-pong numbered records over seqpacket;
 *   dgram      three senders to one receiver, checked per sender in order;
 *   poller     a reader driven only by poll-entry wake-ups (a lost
 *              wake-up shows as a stall);
 *   closer     sockets closed while their peer is sending or blocked
 *              in send: the sender must see ECONNRESET then EPIPE, or
 *              EPIPE, and nothing may leak;
 *   bulk       large stream sends (a writer blocked for room offers its
 *              rest, and the reader copies from it: stream.c's single
 *              copy) read with buffers of every size, peeks among them,
 *              every byte checked; a reader that closes while a
 *              large send is offered to it; and seqpacket records
 *              offered whole, read with short buffers too;
 *   diag       an introspection walk (ks_diag_walk + ks_diag_sock) over
 *              every socket, again and again, while the others run: it
 *              meets embryos being wired up by connect, sockets being
 *              created and closed;
 *   hostpoll   ksp_poll() over a socket and a pipe while another process
 *              sends on the socket at varying moments: the waker reads
 *              the poller's eventfd while the poller sets it up (a data
 *              race TSan reports unless the descriptor is atomic).
 *
 * Each part is one test, and "all_at_once" runs every part together.
 * Counts are fixed (so results are exact); every blocking call has a
 * timeout so a lost wake-up fails instead of hanging. Meant to be run
 * under ThreadSanitizer too (make unit-tsan-stress), which is why the
 * counts are modest.
 *
 * UT_NO_INJECT throughout: allocation numbers depend on the thread
 * interleaving, and a part stopped by an injected failure would leave
 * its counterpart waiting out its timeouts.
 */
#include "unit.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define TIMEOUT_MS	10000	/* any single blocking call */
#define STRESS_MS	2500	/* all_at_once starts no round after this */
#define MAX_ROUNDS	40

/* -- listener: connect / accept / send / recv / close -- */

enum {
	CONNECTORS = 3, ACCEPTORS = 2, CONNS_EACH = 60,
	CONN_BYTES = 3000,	/* per connection, in sends of 3 segments */
};

struct listener_part {
	struct ks_sockaddr_un	 a;
	uint32_t		 alen;
	struct ks_sock		*l;
	atomic_int		 claimed;	/* accept slots taken */
	atomic_long		 sent, received, echoed;
};

static int
connector(void *arg)
{
	struct listener_part *lp = arg;
	static const char pattern[64] = "0123456789abcdefghijklmnopqrstuvwxyz";

	for (int i = 0; i < CONNS_EACH && ut_live(); i++) {
		struct ks_sock *c = ut_socket(KS_SOCK_STREAM);
		long left = CONN_BYTES;
		uint64_t count = 0;

		if (c == NULL)
			break;
		EQ(ut_settimeo(c, KS_SO_SNDTIMEO, TIMEOUT_MS), 0);
		EQ(ut_settimeo(c, KS_SO_RCVTIMEO, TIMEOUT_MS), 0);
		OK(ks_connect(c, &lp->a, lp->alen));
		while (left > 0 && ut_live()) {
			struct ks_iovec iov[3] = {
				{ (void *)pattern, 10 }, { (void *)pattern, 1 },
				{ (void *)pattern, 36 },
			};
			struct ks_msghdr msg = { .msg_iov = iov, .msg_iovlen = 3 };
			long n = left < 47 ? left : 47;

			if (n < 47) {
				iov[0].iov_len = (size_t)n;
				msg.msg_iovlen = 1;
			}
			EQ(ks_sendmsg(c, &msg, KS_MSG_NOSIGNAL), n);
			left -= n;
			atomic_fetch_add(&lp->sent, n);
		}
		EQ(ks_shutdown(c, KS_SHUT_WR), 0);
		EQ(ut_recv(c, &count, sizeof(count), KS_MSG_WAITALL),
		   (long)sizeof(count));
		CHECK_EQ(count, CONN_BYTES);
		atomic_fetch_add(&lp->echoed, (long)count);
		ut_close(&c);
	}
	return 0;
}

static int
acceptor(void *arg)
{
	struct listener_part *lp = arg;
	static _Thread_local char buf[1024];

	while (atomic_fetch_add(&lp->claimed, 1) < CONNECTORS * CONNS_EACH &&
	       ut_live()) {
		struct ks_sock *s = ut_accept(lp->l);
		uint64_t count = 0;
		long r;

		if (s == NULL)
			break;
		EQ(ut_settimeo(s, KS_SO_RCVTIMEO, TIMEOUT_MS), 0);
		while (ut_live() &&
		       (r = CALL(ut_recv(s, buf, sizeof(buf), 0))) > 0)
			count += (uint64_t)r;
		CHECK_EQ(count, CONN_BYTES);
		atomic_fetch_add(&lp->received, (long)count);
		EQ(ut_send(s, &count, sizeof(count), KS_MSG_NOSIGNAL),
		   (long)sizeof(count));
		ut_close(&s);
	}
	return 0;
}

static void
listener_start(struct listener_part *lp, struct ksp_proc **procs, int *np)
{
	memset(lp, 0, sizeof(*lp));
	lp->alen = ut_abstract(&lp->a, "stress-listener");
	lp->l = ut_socket(KS_SOCK_STREAM);
	OK(ks_bind(lp->l, &lp->a, lp->alen));
	OK(ks_listen(lp->l, 16));
	EQ(ut_settimeo(lp->l, KS_SO_RCVTIMEO, TIMEOUT_MS), 0);
	for (int i = 0; i < ACCEPTORS; i++)
		procs[(*np)++] = ut_spawn(acceptor, lp);
	for (int i = 0; i < CONNECTORS; i++)
		procs[(*np)++] = ut_spawn(connector, lp);
}

static void
listener_check(struct listener_part *lp)
{
	long want = (long)CONNECTORS * CONNS_EACH * CONN_BYTES;

	CHECK_EQ(atomic_load(&lp->sent), want);
	CHECK_EQ(atomic_load(&lp->received), want);
	CHECK_EQ(atomic_load(&lp->echoed), want);
	ut_close(&lp->l);
}

/* -- pairs: seqpacket ping-pong -- */

enum { PAIRS = 2, ROUNDS = 1500 };

struct pair_side {
	struct ks_sock	*so;
	bool		 starts;
	long		 done;
};

static int
ping_pong(void *arg)
{
	struct pair_side *ps = arg;
	uint32_t seq = 0, got;

	for (int i = 0; i < ROUNDS && ut_live(); i++) {
		if (ps->starts) {
			EQ(ut_send(ps->so, &seq, sizeof(seq), 0), 4);
			EQ(ut_recv(ps->so, &got, sizeof(got), 0), 4);
			CHECK_EQ(got, seq + 1);
			seq += 2;
		} else {
			EQ(ut_recv(ps->so, &got, sizeof(got), 0), 4);
			CHECK_EQ(got, seq);
			got++;
			EQ(ut_send(ps->so, &got, sizeof(got), 0), 4);
			seq += 2;
		}
		ps->done++;
	}
	return 0;
}

struct pairs_part {
	struct ks_sock		*s[PAIRS][2];
	struct pair_side	 side[PAIRS][2];
};

static void
pairs_start(struct pairs_part *pp, struct ksp_proc **procs, int *np)
{
	memset(pp, 0, sizeof(*pp));
	for (int i = 0; i < PAIRS; i++) {
		ut_pair(KS_SOCK_SEQPACKET, pp->s[i]);
		for (int e = 0; e < 2; e++) {
			EQ(ut_settimeo(pp->s[i][e], KS_SO_RCVTIMEO, TIMEOUT_MS), 0);
			pp->side[i][e].so = pp->s[i][e];
			pp->side[i][e].starts = e == 0;
			procs[(*np)++] = ut_spawn(ping_pong, &pp->side[i][e]);
		}
	}
}

static void
pairs_check(struct pairs_part *pp)
{
	for (int i = 0; i < PAIRS; i++)
		for (int e = 0; e < 2; e++) {
			CHECK_EQ(pp->side[i][e].done, ROUNDS);
			ut_close(&pp->s[i][e]);
		}
}

/* -- dgram: many senders, one receiver -- */

enum { DSENDERS = 3, DGRAMS = 1500 };

struct dgram_part {
	struct ks_sockaddr_un	 a;
	uint32_t		 alen;
	struct ks_sock		*r;
	struct ks_sock		*snd[DSENDERS];
	long			 got[DSENDERS];
	long			 sent[DSENDERS];
};

struct dgram_msg {
	uint32_t	sender, seq;
	char		pad[40];
};

struct dgram_sender {
	struct dgram_part	*dp;
	uint32_t		 id;
};

static struct dgram_sender dsenders[DSENDERS];

static int
dgram_sender(void *arg)
{
	struct dgram_sender *ds = arg;
	struct dgram_part *dp = ds->dp;
	struct dgram_msg m = { .sender = ds->id };

	for (uint32_t i = 0; i < DGRAMS && ut_live(); i++) {
		m.seq = i;
		EQ(ut_sendto(dp->snd[ds->id], &m, sizeof(m), 0, &dp->a,
			     dp->alen), (long)sizeof(m));
		dp->sent[ds->id]++;
	}
	return 0;
}

static int
dgram_receiver(void *arg)
{
	struct dgram_part *dp = arg;
	struct dgram_msg m;

	for (int i = 0; i < DSENDERS * DGRAMS && ut_live(); i++) {
		EQ(ut_recv(dp->r, &m, sizeof(m), 0), (long)sizeof(m));
		if (!ut_live())
			break;
		CHECK(m.sender < DSENDERS);
		if (m.sender >= DSENDERS)
			break;
		CHECK_EQ(m.seq, dp->got[m.sender]);
		dp->got[m.sender]++;
	}
	return 0;
}

static void
dgram_start(struct dgram_part *dp, struct ksp_proc **procs, int *np)
{
	memset(dp, 0, sizeof(*dp));
	dp->alen = ut_abstract(&dp->a, "stress-dgram");
	dp->r = ut_socket(KS_SOCK_DGRAM);
	OK(ks_bind(dp->r, &dp->a, dp->alen));
	EQ(ut_settimeo(dp->r, KS_SO_RCVTIMEO, TIMEOUT_MS), 0);
	for (uint32_t i = 0; i < DSENDERS; i++) {
		dp->snd[i] = ut_socket(KS_SOCK_DGRAM);
		EQ(ut_settimeo(dp->snd[i], KS_SO_SNDTIMEO, TIMEOUT_MS), 0);
		dsenders[i].dp = dp;
		dsenders[i].id = i;
	}
	procs[(*np)++] = ut_spawn(dgram_receiver, dp);
	for (int i = 0; i < DSENDERS; i++)
		procs[(*np)++] = ut_spawn(dgram_sender, &dsenders[i]);
}

static void
dgram_check(struct dgram_part *dp)
{
	for (int i = 0; i < DSENDERS; i++) {
		CHECK_EQ(dp->sent[i], DGRAMS);
		CHECK_EQ(dp->got[i], DGRAMS);
		ut_close(&dp->snd[i]);
	}
	ut_close(&dp->r);
}

/* -- poller: a reader driven by wake callbacks -- */

enum { POLL_BYTES = 200000, POLL_CHUNK = 1000 };

struct poll_part {
	struct ks_sock		*s[2];
	struct ks_poll_entry	 pe;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	bool			 woken;
	long			 got, stalls;
};

/* Runs with ksock locks held: only records the wake-up. */
static void
poll_wake(struct ks_poll_entry *pe, unsigned events)
{
	struct poll_part *pp = pe->arg;

	(void)events;
	pthread_mutex_lock(&pp->lock);
	pp->woken = true;
	pthread_cond_signal(&pp->cond);
	pthread_mutex_unlock(&pp->lock);
}

static int
poll_writer(void *arg)
{
	struct poll_part *pp = arg;
	static char chunk[POLL_CHUNK];

	for (long sent = 0; sent < POLL_BYTES && ut_live(); sent += POLL_CHUNK)
		EQ(ut_send(pp->s[0], chunk, POLL_CHUNK, KS_MSG_NOSIGNAL),
		   POLL_CHUNK);
	EQ(ks_shutdown(pp->s[0], KS_SHUT_WR), 0);
	return 0;
}

static int
poll_reader(void *arg)
{
	struct poll_part *pp = arg;
	static char buf[4096];

	for (;;) {
		unsigned ev;
		long r;

		pthread_mutex_lock(&pp->lock);
		pp->woken = false;
		pthread_mutex_unlock(&pp->lock);
		/* Register, then look: a wake-up between the two is kept. */
		ev = ks_poll(pp->s[1], &pp->pe);
		if (ev & (KS_POLLIN | KS_POLLHUP | KS_POLLRDHUP)) {
			r = CALL(ut_recv(pp->s[1], buf, sizeof(buf),
					 KS_MSG_DONTWAIT));
			if (r == 0 || !ut_live())
				break;
			if (r > 0) {
				pp->got += r;
				continue;
			}
			if (r != -KS_EAGAIN) {
				ut_fail(__FILE__, __LINE__, "recv: %ld", r);
				break;
			}
		}
		pthread_mutex_lock(&pp->lock);
		if (!pp->woken) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += TIMEOUT_MS / 1000;
			pthread_cond_timedwait(&pp->cond, &pp->lock, &ts);
			if (!pp->woken)
				pp->stalls++;
		}
		pthread_mutex_unlock(&pp->lock);
		if (pp->stalls > 0)
			break;
	}
	ks_poll_remove(&pp->pe);
	return 0;
}

static void
poll_start(struct poll_part *pp, struct ksp_proc **procs, int *np)
{
	memset(pp, 0, sizeof(*pp));
	pthread_mutex_init(&pp->lock, NULL);
	pthread_cond_init(&pp->cond, NULL);
	pp->pe.wake = poll_wake;
	pp->pe.arg = pp;
	ut_pair(KS_SOCK_STREAM, pp->s);
	EQ(ut_setint(pp->s[0], KS_SO_SNDBUF, 8192), 0);
	EQ(ut_settimeo(pp->s[0], KS_SO_SNDTIMEO, TIMEOUT_MS), 0);
	procs[(*np)++] = ut_spawn(poll_reader, pp);
	procs[(*np)++] = ut_spawn(poll_writer, pp);
}

static void
poll_check(struct poll_part *pp)
{
	CHECK_EQ(pp->stalls, 0);
	CHECK_EQ(pp->got, POLL_BYTES);
	ut_close(&pp->s[0]);
	ut_close(&pp->s[1]);
	pthread_mutex_destroy(&pp->lock);
	pthread_cond_destroy(&pp->cond);
}

/* -- closer: close while the peer sends -- */

enum { CLOSE_ROUNDS = 40 };

struct closer_part {
	atomic_long	epipes, read_bytes, sent_bytes;
};

struct close_round {
	struct closer_part	*cp;
	struct ks_sock		*so;
	int			 read_first;	/* bytes to read before closing */
};

static int
close_sender(void *arg)
{
	struct close_round *cr = arg;
	static _Thread_local char chunk[3000];
	long r;

	for (;;) {
		r = CALL(ut_send(cr->so, chunk, sizeof(chunk), KS_MSG_NOSIGNAL));
		if (r <= 0 || !ut_live())
			break;
		atomic_fetch_add(&cr->cp->sent_bytes, r);
	}
	/*
	 * EPIPE; or, as on Linux, ECONNRESET once when the call was blocked
	 * (or the peer closed with our data unread) and then EPIPE.
	 */
	if (r == -KS_ECONNRESET)
		r = CALL(ut_send(cr->so, chunk, 1, KS_MSG_NOSIGNAL));
	CHECK_EQ(r, -KS_EPIPE);
	if (r == -KS_EPIPE)
		atomic_fetch_add(&cr->cp->epipes, 1);
	ut_close(&cr->so);
	return 0;
}

static int
close_receiver(void *arg)
{
	struct close_round *cr = arg;
	static _Thread_local char buf[4096];
	long got = 0, r;

	while (got < cr->read_first && ut_live()) {
		r = CALL(ut_recv(cr->so, buf, sizeof(buf), 0));
		if (r <= 0)
			break;
		got += r;
	}
	atomic_fetch_add(&cr->cp->read_bytes, got);
	ut_close(&cr->so);
	return 0;
}

static int
closer_driver(void *arg)
{
	struct closer_part *cp = arg;

	for (int i = 0; i < CLOSE_ROUNDS && ut_live(); i++) {
		struct ks_sock *s[2];
		struct close_round snd = { cp, NULL, 0 }, rcv = { cp, NULL, 0 };
		struct ksp_proc *ps, *pr;

		ut_pair(KS_SOCK_STREAM, s);
		EQ(ut_setint(s[0], KS_SO_SNDBUF, 8192), 0);
		EQ(ut_settimeo(s[0], KS_SO_SNDTIMEO, TIMEOUT_MS), 0);
		EQ(ut_settimeo(s[1], KS_SO_RCVTIMEO, TIMEOUT_MS), 0);
		snd.so = s[0];
		rcv.so = s[1];
		rcv.read_first = (i * 997) % 20000;
		if (!ut_live()) {
			ut_close(&s[0]);
			ut_close(&s[1]);
			break;
		}
		pr = ut_spawn(close_receiver, &rcv);
		ps = ut_spawn(close_sender, &snd);
		ut_join(pr);
		ut_join(ps);
		/* Each side closed its own socket. */
		ut_close(&snd.so);
		ut_close(&rcv.so);
	}
	return 0;
}

static void
closer_start(struct closer_part *cp, struct ksp_proc **procs, int *np)
{
	memset(cp, 0, sizeof(*cp));
	procs[(*np)++] = ut_spawn(closer_driver, cp);
}

static void
closer_check(struct closer_part *cp)
{
	CHECK_EQ(atomic_load(&cp->epipes), CLOSE_ROUNDS);
	CHECK(atomic_load(&cp->read_bytes) <= atomic_load(&cp->sent_bytes));
}

/* -- hostpoll: a poll of a socket and a host descriptor, woken -- */

enum { HOSTPOLL_ROUNDS = 300 };

struct hostpoll_part {
	int		sv[2];		/* ksp descriptors: poller reads sv[1] */
	int		pipefd[2];	/* never readable: makes the poll mixed */
	atomic_int	round;		/* the poller's round, for the sender */
	long		got;		/* bytes the poller received */
	long		polled;		/* polls that reported the socket */
};

static int
hostpoll_poller(void *arg)
{
	struct hostpoll_part *hp = arg;
	char c;

	for (int i = 0; i < HOSTPOLL_ROUNDS && ut_live(); i++) {
		struct pollfd pfd[2] = {
			{ .fd = hp->sv[1], .events = POLLIN },
			{ .fd = hp->pipefd[0], .events = POLLIN },
		};

		atomic_store(&hp->round, i + 1);
		EQ(ksp_poll(pfd, 2, TIMEOUT_MS), 1);
		if (pfd[0].revents == POLLIN && pfd[1].revents == 0)
			hp->polled++;
		if (ksp_recv(hp->sv[1], &c, 1, 0) == 1)
			hp->got++;
	}
	return 0;
}

static int
hostpoll_sender(void *arg)
{
	struct hostpoll_part *hp = arg;
	long long t0;

	for (int i = 0; i < HOSTPOLL_ROUNDS && ut_live(); i++) {
		t0 = ut_now_ms();
		while (atomic_load(&hp->round) <= i &&
		       ut_now_ms() - t0 < TIMEOUT_MS)
			;
		/* 0 to 30 us after the poller began: around its setup. */
		for (volatile int k = 0; k < (i % 31) * 100; k++)
			;
		EQ(ksp_send(hp->sv[0], "h", 1, MSG_NOSIGNAL), 1);
	}
	return 0;
}

static void
hostpoll_start(struct hostpoll_part *hp, struct ksp_proc **procs, int *np)
{
	memset(hp, 0, sizeof(*hp));
	EQ(ksp_socketpair(AF_UNIX, SOCK_STREAM, 0, hp->sv), 0);
	EQ(ksp_pipe(hp->pipefd), 0);
	procs[(*np)++] = ut_spawn(hostpoll_poller, hp);
	procs[(*np)++] = ut_spawn(hostpoll_sender, hp);
}

static void
hostpoll_check(struct hostpoll_part *hp)
{
	CHECK_EQ(hp->got, HOSTPOLL_ROUNDS);
	CHECK_EQ(hp->polled, HOSTPOLL_ROUNDS);
	for (int i = 0; i < 2; i++) {
		ksp_close(hp->sv[i]);
		ksp_close(hp->pipefd[i]);
	}
}

/* -- bulk: large sends, read straight from the writer's buffer -- */

enum {
	BULK_SENDS = 24,		/* sends per round */
	BULK_MAX = 300000,		/* the largest send */
	BULK_CLOSE_AFTER = 400000,	/* the closing reader reads this */
};

struct bulk_part {
	struct ks_sock	*s[2];		/* full transfer */
	struct ks_sock	*c[2];		/* the reader closes */
	long		 total;		/* bytes the writer sends */
	atomic_long	 sent, got, bad;
	atomic_long	 csent, cgot;
	struct ks_sock	*q[2];		/* seqpacket records */
	atomic_int	 qsent, qgot;
};

static unsigned char
bulk_byte(long i)
{
	return (unsigned char)(i * 131 + (i >> 12) + 7);
}

static long
bulk_rec_size(int i)
{
	return 9000 + (long)(((unsigned)i * 2246822519u) % 150000);
}

static int
bulk_rec_writer(void *arg)
{
	struct bulk_part *bp = arg;
	unsigned char *buf = malloc(160000);

	for (int i = 0; i < BULK_SENDS && buf != NULL && ut_live(); i++) {
		long n = bulk_rec_size(i), r;

		for (long j = 0; j < n; j++)
			buf[j] = bulk_byte((long)i * 1000003 + j);
		r = CALL(ut_send(bp->q[0], buf, (size_t)n, 0));
		CHECK_EQ(r, n);
		if (r != n)
			break;
		atomic_fetch_add(&bp->qsent, 1);
	}
	free(buf);
	return 0;
}

static int
bulk_rec_reader(void *arg)
{
	struct bulk_part *bp = arg;
	unsigned char *buf = malloc(160000);

	for (int i = 0; i < BULK_SENDS && buf != NULL && ut_live(); i++) {
		long n = bulk_rec_size(i), want = 1 + (i * 40503) % 160000, r;
		int mflags = 0;

		r = CALL(ut_recvfrom(bp->q[1], buf, (size_t)want, 0, NULL,
				     NULL, &mflags));
		CHECK_EQ(r, want < n ? want : n);
		CHECK_EQ((mflags & KS_MSG_TRUNC) != 0, want < n);
		if (r <= 0)
			break;
		for (long j = 0; j < r; j++)
			if (buf[j] != bulk_byte((long)i * 1000003 + j)) {
				atomic_fetch_add(&bp->bad, 1);
				break;
			}
		atomic_fetch_add(&bp->qgot, 1);
	}
	free(buf);
	return 0;
}

static long
bulk_size(int i)
{
	return 9000 + (long)(((unsigned)i * 2654435761u) % BULK_MAX);
}

static int
bulk_writer(void *arg)
{
	struct bulk_part *bp = arg;
	unsigned char *buf = malloc(BULK_MAX + 9000);
	long off = 0;

	for (int i = 0; i < BULK_SENDS && buf != NULL && ut_live(); i++) {
		long n = bulk_size(i), r;

		for (long j = 0; j < n; j++)
			buf[j] = bulk_byte(off + j);
		r = CALL(ut_send(bp->s[0], buf, (size_t)n, 0));
		CHECK_EQ(r, n);
		if (r != n)
			break;
		off += n;
	}
	atomic_store(&bp->sent, off);
	free(buf);
	return 0;
}

static int
bulk_reader(void *arg)
{
	struct bulk_part *bp = arg;
	unsigned char *buf = malloc(BULK_MAX + 9000);
	long got = 0;

	for (unsigned i = 0; got < bp->total && buf != NULL && ut_live(); i++) {
		size_t want = 1 + (i * 40503u) % (BULK_MAX + 9000);
		int flags = i % 7 == 3 ? KS_MSG_PEEK :
			    i % 5 == 1 ? KS_MSG_WAITALL : 0;
		long r;

		if ((long)want > bp->total - got && flags == KS_MSG_WAITALL)
			want = (size_t)(bp->total - got);
		r = CALL(ut_recv(bp->s[1], buf, want, flags));
		if (r <= 0) {
			CHECK(r > 0);
			break;
		}
		for (long j = 0; j < r; j++)
			if (buf[j] != bulk_byte(got + j)) {
				atomic_fetch_add(&bp->bad, 1);
				break;
			}
		if (!(flags & KS_MSG_PEEK))
			got += r;
	}
	atomic_store(&bp->got, got);
	free(buf);
	return 0;
}

static int
bulk_close_writer(void *arg)
{
	struct bulk_part *bp = arg;
	unsigned char *buf = calloc(1, BULK_MAX);
	long sent = 0, r = 0;

	while (buf != NULL && ut_live()) {
		r = CALL(ut_send(bp->c[0], buf, BULK_MAX, KS_MSG_NOSIGNAL));
		if (r <= 0)
			break;
		sent += r;
	}
	CHECK(r == -KS_EPIPE || r == -KS_ECONNRESET);
	atomic_store(&bp->csent, sent);
	free(buf);
	return 0;
}

static int
bulk_close_reader(void *arg)
{
	struct bulk_part *bp = arg;
	unsigned char *buf = malloc(BULK_MAX);
	long got = 0, r;

	while (buf != NULL && got < BULK_CLOSE_AFTER && ut_live()) {
		r = CALL(ut_recv(bp->c[1], buf, BULK_MAX, 0));
		if (r <= 0)
			break;
		got += r;
	}
	atomic_store(&bp->cgot, got);
	ut_close(&bp->c[1]);
	free(buf);
	return 0;
}

static void
bulk_start(struct bulk_part *bp, struct ksp_proc **procs, int *np)
{
	memset(bp, 0, sizeof(*bp));
	for (int i = 0; i < BULK_SENDS; i++)
		bp->total += bulk_size(i);
	ut_pair(KS_SOCK_STREAM, bp->s);
	ut_pair(KS_SOCK_STREAM, bp->c);
	ut_pair(KS_SOCK_SEQPACKET, bp->q);
	EQ(ut_settimeo(bp->q[0], KS_SO_SNDTIMEO, TIMEOUT_MS), 0);
	EQ(ut_settimeo(bp->q[1], KS_SO_RCVTIMEO, TIMEOUT_MS), 0);
	EQ(ut_settimeo(bp->s[0], KS_SO_SNDTIMEO, TIMEOUT_MS), 0);
	EQ(ut_settimeo(bp->s[1], KS_SO_RCVTIMEO, TIMEOUT_MS), 0);
	EQ(ut_settimeo(bp->c[0], KS_SO_SNDTIMEO, TIMEOUT_MS), 0);
	procs[(*np)++] = ut_spawn(bulk_writer, bp);
	procs[(*np)++] = ut_spawn(bulk_reader, bp);
	procs[(*np)++] = ut_spawn(bulk_close_writer, bp);
	procs[(*np)++] = ut_spawn(bulk_close_reader, bp);
	procs[(*np)++] = ut_spawn(bulk_rec_writer, bp);
	procs[(*np)++] = ut_spawn(bulk_rec_reader, bp);
}

static void
bulk_check(struct bulk_part *bp)
{
	CHECK_EQ(atomic_load(&bp->sent), bp->total);
	CHECK_EQ(atomic_load(&bp->got), bp->total);
	CHECK_EQ(atomic_load(&bp->bad), 0);
	CHECK(atomic_load(&bp->cgot) >= BULK_CLOSE_AFTER);
	CHECK(atomic_load(&bp->csent) >= atomic_load(&bp->cgot));
	ut_close(&bp->s[0]);
	ut_close(&bp->s[1]);
	ut_close(&bp->c[0]);
	CHECK_EQ(atomic_load(&bp->qsent), BULK_SENDS);
	CHECK_EQ(atomic_load(&bp->qgot), BULK_SENDS);
	ut_close(&bp->q[0]);
	ut_close(&bp->q[1]);
}

/* -- tests -- */

#define MAX_PROCS	32

/* -- diag: introspection walks while everything else runs -- */

struct diag_part {
	atomic_bool	stop;
	atomic_long	walks, seen;
};

static int
diag_visit(struct ks_sock *so, void *arg)
{
	struct diag_part *dp = arg;
	uint64_t pending[8];
	struct ks_diag_sock rec;
	int r;

	rec.pending = pending;
	rec.pending_cap = 8;
	r = ks_diag_sock(so, &rec);
	/* A closed socket still referenced answers ENOENT. */
	if (r == 0)
		atomic_fetch_add(&dp->seen, 1);
	else
		CHECK_EQ(r, -KS_ENOENT);
	return 0;
}

static int
diag_walker(void *arg)
{
	struct diag_part *dp = arg;

	while (!atomic_load(&dp->stop) && ut_live()) {
		EQ(ks_diag_walk(diag_visit, dp), 0);
		atomic_fetch_add(&dp->walks, 1);
	}
	return 0;
}

static struct ksp_proc *
diag_start(struct diag_part *dp)
{
	atomic_store(&dp->stop, false);
	atomic_store(&dp->walks, 0);
	atomic_store(&dp->seen, 0);
	return ut_spawn(diag_walker, dp);
}

/* Stops the walker once the others are done; it must have walked. */
static void
diag_stop(struct diag_part *dp, struct ksp_proc *walker)
{
	atomic_store(&dp->stop, true);
	ut_join(walker);
	CHECK(atomic_load(&dp->walks) > 0);
	CHECK(atomic_load(&dp->seen) > 0);
}

static void
join_all(struct ksp_proc **procs, int n)
{
	for (int i = 0; i < n; i++)
		ut_join(procs[i]);
}

static struct listener_part lpart;
static struct pairs_part ppart;
static struct dgram_part dpart;
static struct poll_part opart;
static struct closer_part cpart;
static struct bulk_part bpart;
static struct diag_part gpart;
static struct hostpoll_part hpart;

/* Connectors and acceptors share one listener; every byte is counted. */
static void
t_listener(void)
{
	struct ksp_proc *procs[MAX_PROCS];
	int n = 0;

	listener_start(&lpart, procs, &n);
	join_all(procs, n);
	listener_check(&lpart);
}

/* Seqpacket pairs ping-pong numbered records in order. */
static void
t_pairs(void)
{
	struct ksp_proc *procs[MAX_PROCS];
	int n = 0;

	pairs_start(&ppart, procs, &n);
	join_all(procs, n);
	pairs_check(&ppart);
}

/* Dgram senders reach one receiver; each sender's order is kept. */
static void
t_dgram(void)
{
	struct ksp_proc *procs[MAX_PROCS];
	int n = 0;

	dgram_start(&dpart, procs, &n);
	join_all(procs, n);
	dgram_check(&dpart);
}

/* A reader driven only by wake callbacks never stalls. */
static void
t_poller(void)
{
	struct ksp_proc *procs[MAX_PROCS];
	int n = 0;

	poll_start(&opart, procs, &n);
	join_all(procs, n);
	poll_check(&opart);
}

/* Closing a socket while its peer sends gives the sender EPIPE. */
static void
t_closer(void)
{
	struct ksp_proc *procs[MAX_PROCS];
	int n = 0;

	closer_start(&cpart, procs, &n);
	join_all(procs, n);
	closer_check(&cpart);
}

/* Large sends come through whole and in order, whatever the reads,
 * and a reader closing mid-transfer ends its writer's send. */
static void
t_bulk(void)
{
	struct ksp_proc *procs[MAX_PROCS];
	int n = 0;

	bulk_start(&bpart, procs, &n);
	join_all(procs, n);
	bulk_check(&bpart);
}

/* Introspection walks meet connections being made (embryos wired up
 * under their locks) and closed. */
static void
t_diag(void)
{
	struct ksp_proc *procs[MAX_PROCS], *walker;
	int n = 0;

	walker = diag_start(&gpart);
	listener_start(&lpart, procs, &n);
	join_all(procs, n);
	diag_stop(&gpart, walker);
	listener_check(&lpart);
}

/* A mixed poll woken by a socket sees the socket ready, every round. */
static void
t_hostpoll(void)
{
	struct ksp_proc *procs[MAX_PROCS];
	int n = 0;

	hostpoll_start(&hpart, procs, &n);
	join_all(procs, n);
	hostpoll_check(&hpart);
}

/* Everything above at once, in rounds until STRESS_MS have passed (each
 * round's accounting is exact; rounds bound the time, not the counts). */
static void
t_all_at_once(void)
{
	long long t0 = ut_now_ms();
	int rounds = 0, n = 0;

	while (rounds < MAX_ROUNDS && ut_now_ms() - t0 < STRESS_MS &&
	       ut_live()) {
		struct ksp_proc *procs[MAX_PROCS], *walker;

		n = 0;
		walker = diag_start(&gpart);
		listener_start(&lpart, procs, &n);
		pairs_start(&ppart, procs, &n);
		dgram_start(&dpart, procs, &n);
		poll_start(&opart, procs, &n);
		closer_start(&cpart, procs, &n);
		hostpoll_start(&hpart, procs, &n);
		bulk_start(&bpart, procs, &n);
		join_all(procs, n);
		diag_stop(&gpart, walker);
		listener_check(&lpart);
		pairs_check(&ppart);
		dgram_check(&dpart);
		poll_check(&opart);
		closer_check(&cpart);
		hostpoll_check(&hpart);
		bulk_check(&bpart);
		rounds++;
	}
	CHECK(rounds >= 1);
	printf("  all_at_once: %d rounds of %d processes, %lld ms\n", rounds, n,
	       ut_now_ms() - t0);
}

static const struct ut_test tests[] = {
	{ "listener",		t_listener, UT_NO_INJECT },
	{ "pairs",		t_pairs, UT_NO_INJECT },
	{ "dgram",		t_dgram, UT_NO_INJECT },
	{ "poller",		t_poller, UT_NO_INJECT },
	{ "closer",		t_closer, UT_NO_INJECT },
	{ "bulk",		t_bulk, UT_NO_INJECT },
	{ "diag",		t_diag, UT_NO_INJECT },
	{ "hostpoll",		t_hostpoll, UT_NO_INJECT },
	{ "all_at_once",	t_all_at_once, UT_NO_INJECT },
};

UT_MAIN(tests)

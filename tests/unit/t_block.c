/*
 * Unit tests: blocking calls with deadlines and wake-ups. Timeouts
 * (SO_RCVTIMEO / SO_SNDTIMEO) on recv, send, accept and connect; calls
 * woken by another simulated process sending, draining, accepting or
 * closing; and interruption (ksp_interrupt) returning EINTR.
 *
 * Every test here is UT_NO_INJECT: each one waits for real time, and in
 * most of them one process waits for another; an injected failure that
 * stops one side would leave the other side waiting out its timeout, so
 * injected runs would cost seconds each and prove nothing the other
 * files' injected runs do not (they reach the same allocations without
 * blocking).
 */
#include <stdatomic.h>

#include "unit.h"

#define SLOP_MS		5	/* clocks and timer rounding */

/* A blocking recv on an empty socket returns EAGAIN at its SO_RCVTIMEO,
 * not before; so does accept on a listener without connections. */
static void
t_recv_accept_timeout(void)
{
	struct ks_sockaddr_un a;
	uint32_t alen = ut_abstract(&a, "to");
	struct ks_sock *s[2], *l, *o = NULL;
	long long t0;
	char c;

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_settimeo(s[0], KS_SO_RCVTIMEO, 100), 0);
	t0 = ut_now_ms();
	ERR(ut_recv(s[0], &c, 1, 0), -KS_EAGAIN);
	CHECK(ut_now_ms() - t0 >= 100 - SLOP_MS);
	CHECK(ut_now_ms() - t0 < 2000);

	l = ut_socket(KS_SOCK_SEQPACKET);
	OK(ks_bind(l, &a, alen));
	OK(ks_listen(l, 1));
	EQ(ut_settimeo(l, KS_SO_RCVTIMEO, 80), 0);
	t0 = ut_now_ms();
	ERR(ks_accept(l, 0, &o, NULL, NULL), -KS_EAGAIN);
	CHECK(ut_now_ms() - t0 >= 80 - SLOP_MS);
	CHECK(o == NULL);
}

/* A blocking stream send into a full buffer returns what it queued (or
 * EAGAIN when nothing) at its SO_SNDTIMEO. */
static void
t_send_timeout(void)
{
	static char big[65536];
	struct ks_sock *s[2];
	long long t0;
	long r;

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_setint(s[0], KS_SO_SNDBUF, 8192), 0);
	EQ(ut_settimeo(s[0], KS_SO_SNDTIMEO, 100), 0);
	t0 = ut_now_ms();
	r = CALL(ut_send(s[0], big, sizeof(big), 0));
	CHECK(r > 0 && r < (long)sizeof(big));
	CHECK(ut_now_ms() - t0 >= 100 - SLOP_MS);
	t0 = ut_now_ms();
	ERR(ut_send(s[0], big, sizeof(big), 0), -KS_EAGAIN);
	CHECK(ut_now_ms() - t0 >= 100 - SLOP_MS);
}


/*
 * The kernel's way of waiting on one CPU (port.h's KS_PORT_PARK_WORD,
 * and a keep_spinning that never lets a waiter spin): on such a copy of
 * the port, blocked receives and sends still wake, every sleep goes
 * through park_word and unpark_word, and park()/unpark() are never
 * called.
 */
static const struct ks_port *word_base;
static struct ks_port word_port;
static atomic_int word_parks, word_unparks, token_calls;

static int
count_park_word(const void *word, int val, int64_t deadline)
{
	atomic_fetch_add(&word_parks, 1);
	return word_base->park_word(word, val, deadline);
}

static void
count_unpark_word(const void *word)
{
	atomic_fetch_add(&word_unparks, 1);
	word_base->unpark_word(word);
}

static int
count_park(int64_t deadline)
{
	atomic_fetch_add(&token_calls, 1);
	return word_base->park(deadline);
}

static void
count_unpark(void *thread)
{
	atomic_fetch_add(&token_calls, 1);
	word_base->unpark(thread);
}

static bool
never_spin(int64_t spun_ns)
{
	return false;
}

static void t_recv_woken_by_send(void);
static void t_send_woken_by_drain(void);

static void
t_word_waits(void)
{
	word_base = ks_port();
	word_port = *word_base;
	word_port.flags = KS_PORT_PARK_WORD;
	word_port.park_word = count_park_word;
	word_port.unpark_word = count_unpark_word;
	word_port.park = count_park;
	word_port.unpark = count_unpark;
	word_port.keep_spinning = never_spin;
	OK(ks_fini());
	OK(ks_init(&word_port));
	t_recv_woken_by_send();
	t_send_woken_by_drain();
	CHECK(atomic_load(&word_parks) > 0);
	CHECK(atomic_load(&word_unparks) > 0);
	CHECK_EQ(atomic_load(&token_calls), 0);
	/* ksock stays on word_port (static): the harness's cleanup closes
	 * what the steps left open and stops ksock. */
}

struct later {
	struct ks_sock	*so;
	int		 delay_ms;
	long		 want;		/* drain_later: bytes to read */
	long		 result;
	struct ksp_proc	*target;	/* for interrupt */
};

static int
send_later(void *p)
{
	struct later *l = p;

	ut_sleep_ms(l->delay_ms);
	l->result = CALL(ut_send(l->so, "wake", 4, 0));
	return 0;
}

/* Reads @want bytes in blocking receives (bounded by the socket's
 * SO_RCVTIMEO), after a delay. */
static int
drain_later(void *p)
{
	struct later *l = p;
	static char buf[4096];

	ut_sleep_ms(l->delay_ms);
	l->result = 0;
	while (l->result < l->want) {
		long r = CALL(ut_recv(l->so, buf, sizeof(buf), 0));

		if (r <= 0)
			break;
		l->result += r;
	}
	return 0;
}

static int
close_later(void *p)
{
	struct later *l = p;

	ut_sleep_ms(l->delay_ms);
	ut_close(&l->so);
	return 0;
}

static int
accept_later(void *p)
{
	struct later *l = p;

	ut_sleep_ms(l->delay_ms);
	l->so = ut_accept(l->so);
	return 0;
}

/* A blocked recv wakes when another process sends, for each type. */
static void
t_recv_woken_by_send(void)
{
	static const int types[] = {
		KS_SOCK_STREAM, KS_SOCK_SEQPACKET, KS_SOCK_DGRAM,
	};

	for (size_t i = 0; i < 3; i++) {
		struct ks_sock *s[2];
		struct later l = { .delay_ms = 50 };
		struct ksp_proc *p;
		char buf[8];
		long long t0;

		ut_pair(types[i], s);
		EQ(ut_settimeo(s[1], KS_SO_RCVTIMEO, 5000), 0);
		l.so = s[0];
		t0 = ut_now_ms();
		p = ut_spawn(send_later, &l);
		EQ(ut_recv(s[1], buf, sizeof(buf), 0), 4);
		CHECK(ut_now_ms() - t0 >= 50 - SLOP_MS);
		CHECK(ut_now_ms() - t0 < 4000);
		ut_join(p);
		CHECK_EQ(l.result, 4);
		ut_close(&s[0]);
		ut_close(&s[1]);
	}
}

/* A stream sender blocked on a full buffer completes its whole send as
 * another process drains the receiver. */
static void
t_send_woken_by_drain(void)
{
	static char big[100000];
	struct ks_sock *s[2];
	struct later l = { .delay_ms = 30, .want = sizeof(big) };
	struct ksp_proc *p;

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_setint(s[0], KS_SO_SNDBUF, 8192), 0);
	EQ(ut_settimeo(s[0], KS_SO_SNDTIMEO, 5000), 0);
	EQ(ut_settimeo(s[1], KS_SO_RCVTIMEO, 5000), 0);
	l.so = s[1];
	p = ut_spawn(drain_later, &l);
	EQ(ut_send(s[0], big, sizeof(big), 0), (long)sizeof(big));
	ut_join(p);
	CHECK_EQ(l.result, (long)sizeof(big));
}

/* A blocked recv returns 0 when the peer closes; a blocked dgram sender
 * on a full receiver wakes when the receiver reads. */
static void
t_woken_by_close_and_read(void)
{
	struct ks_sockaddr_un a;
	uint32_t alen = ut_abstract(&a, "wr");
	struct ks_sock *s[2], *r, *snd;
	struct later l = { .delay_ms = 50 };
	struct ksp_proc *p;
	char buf[4];
	int i;

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_settimeo(s[1], KS_SO_RCVTIMEO, 5000), 0);
	l.so = s[0];
	s[0] = NULL;		/* close_later closes it */
	p = ut_spawn(close_later, &l);
	if (p == NULL)
		ut_close(&l.so);
	EQ(ut_recv(s[1], buf, sizeof(buf), 0), 0);
	ut_join(p);

	r = ut_socket(KS_SOCK_DGRAM);
	snd = ut_socket(KS_SOCK_DGRAM);
	OK(ks_bind(r, &a, alen));
	OK(ks_connect(snd, &a, alen));
	for (i = 0; i < 100 && ut_live(); i++)
		if (CALL(ut_send(snd, "x", 1, KS_MSG_DONTWAIT)) < 0)
			break;
	CHECK(i >= 10 && i <= 12);
	EQ(ut_settimeo(snd, KS_SO_SNDTIMEO, 5000), 0);
	struct later d = { .delay_ms = 50, .so = r, .want = 1 };
	p = ut_spawn(drain_later, &d);
	EQ(ut_send(snd, "y", 1, 0), 1);
	ut_join(p);
}

/* A blocking connect to a full backlog waits until the listener
 * accepts, and times out with EAGAIN at SO_SNDTIMEO otherwise. */
static void
t_connect_blocks_on_backlog(void)
{
	struct ks_sockaddr_un a;
	uint32_t alen = ut_abstract(&a, "bl");
	struct ks_sock *l, *c[4] = { 0 };
	struct later acc = { .delay_ms = 50 };
	struct ksp_proc *p;
	long long t0;

	l = ut_socket(KS_SOCK_STREAM);
	OK(ks_bind(l, &a, alen));
	OK(ks_listen(l, 0));
	for (int i = 0; i < 3; i++)
		c[i] = ut_socket(KS_SOCK_STREAM);
	OK(ks_connect(c[0], &a, alen));		/* backlog + 1 = 1 pending */
	EQ(ut_settimeo(c[1], KS_SO_SNDTIMEO, 100), 0);
	t0 = ut_now_ms();
	ERR(ks_connect(c[1], &a, alen), -KS_EAGAIN);
	CHECK(ut_now_ms() - t0 >= 100 - SLOP_MS);

	EQ(ut_settimeo(c[2], KS_SO_SNDTIMEO, 5000), 0);
	acc.so = l;
	p = ut_spawn(accept_later, &acc);
	t0 = ut_now_ms();
	OK(ks_connect(c[2], &a, alen));
	CHECK(ut_now_ms() - t0 >= 50 - SLOP_MS);
	ut_join(p);
}

static int
interrupt_later(void *p)
{
	struct later *l = p;

	ut_sleep_ms(l->delay_ms);
	ksp_interrupt(l->target);
	return 0;
}

static int
recv_blocked(void *p)
{
	struct later *l = p;
	char c;

	l->result = CALL(ut_recv(l->so, &c, 1, 0));
	return 0;
}

/* ksp_interrupt() makes a blocked recv return EINTR, well before its
 * timeout. */
static void
t_interrupt(void)
{
	struct ks_sock *s[2];
	struct later rl = { 0 }, il = { .delay_ms = 50 };
	struct ksp_proc *pr, *pi;
	long long t0;

	ut_pair(KS_SOCK_SEQPACKET, s);
	EQ(ut_settimeo(s[0], KS_SO_RCVTIMEO, 3000), 0);
	rl.so = s[0];
	t0 = ut_now_ms();
	pr = ut_spawn(recv_blocked, &rl);
	il.target = pr;
	pi = ut_spawn(interrupt_later, &il);
	ut_join(pi);
	ut_join(pr);
	CHECK_EQ(rl.result, -KS_EINTR);
	CHECK(ut_now_ms() - t0 < 2500);
}

/* -- what comes at the deadline -- */

/*
 * The port's park, wrapped: the first park that ends at its deadline
 * first runs @at_deadline (with no ksock lock held, on the waiting
 * thread), so something arrives exactly when the wait gives up. Linux
 * looks at the socket once more after its wait ends, so a call whose
 * condition came true at the deadline succeeds.
 */
static struct {
	void		(*fn)(void);
	struct ks_sock	*so;
	struct ks_sock	*target;
	struct ks_sockaddr_un a;
	uint32_t	 alen;
} at_deadline;

static int
deadline_park(int64_t deadline_ns)
{
	int r = ksp_port()->park(deadline_ns);
	void (*fn)(void) = at_deadline.fn;

	if (r == -KS_ETIMEDOUT && fn != NULL) {
		at_deadline.fn = NULL;
		fn();
	}
	return r;
}

static void
deadline_send(void)
{
	EQ(ut_send(at_deadline.so, "x", 1, 0), 1);
}

static void
deadline_drain(void)
{
	char buf[4096];

	while (ut_recv(at_deadline.so, buf, sizeof(buf), KS_MSG_DONTWAIT) > 0)
		;
}

static void
deadline_recv_one(void)
{
	char c;

	EQ(ut_recv(at_deadline.so, &c, 1, KS_MSG_DONTWAIT), 1);
}

static void
deadline_connect(void)
{
	OK(ks_connect(at_deadline.so, &at_deadline.a, at_deadline.alen));
}

static void
deadline_accept(void)
{
	struct ks_sock *n = NULL;

	OK(ks_accept(at_deadline.so, 0, &n, NULL, NULL));
	ut_track(n);
}

static void
arm_deadline(void (*fn)(void), struct ks_sock *so)
{
	ut_port_edit()->park = deadline_park;
	at_deadline.so = so;
	at_deadline.fn = fn;
}

/* A recv of each type, and accept, whose data or connection comes at
 * the deadline return it. */
static void
t_recv_checks_at_deadline(void)
{
	static const int types[] = {
		KS_SOCK_STREAM, KS_SOCK_SEQPACKET, KS_SOCK_DGRAM,
	};
	struct ks_sock *s[2], *l, *c, *n = NULL;
	char buf[4];

	for (size_t i = 0; i < 3 && ut_live(); i++) {
		ut_pair(types[i], s);
		EQ(ut_settimeo(s[1], KS_SO_RCVTIMEO, 20), 0);
		arm_deadline(deadline_send, s[0]);
		EQ(ut_recv(s[1], buf, sizeof(buf), 0), 1);
		CHECK(at_deadline.fn == NULL);
		ut_close(&s[0]);
		ut_close(&s[1]);
	}
	at_deadline.alen = ut_abstract(&at_deadline.a, "deadline-acc");
	l = ut_socket(KS_SOCK_STREAM);
	c = ut_socket(KS_SOCK_STREAM);
	OK(ks_bind(l, &at_deadline.a, at_deadline.alen));
	OK(ks_listen(l, 1));
	EQ(ut_settimeo(l, KS_SO_RCVTIMEO, 20), 0);
	arm_deadline(deadline_connect, c);
	OK(ks_accept(l, 0, &n, NULL, NULL));
	ut_track(n);
	CHECK(at_deadline.fn == NULL);
}

/* Sends that wait for room (a full stream, a full datagram receiver)
 * and a connect that waits for the backlog go on when room comes at the
 * deadline. */
static void
t_send_checks_at_deadline(void)
{
	static char fill[4096];
	struct ks_sock *s[2], *r, *d, *l, *c[2];
	struct ks_sockaddr_un ra;
	uint32_t ralen = ut_abstract(&ra, "deadline-r");

	ut_pair(KS_SOCK_STREAM, s);
	while (ut_live() && ut_send(s[0], fill, sizeof(fill),
				    KS_MSG_DONTWAIT) > 0)
		;
	EQ(ut_settimeo(s[0], KS_SO_SNDTIMEO, 20), 0);
	arm_deadline(deadline_drain, s[1]);
	EQ(ut_send(s[0], "x", 1, 0), 1);
	CHECK(at_deadline.fn == NULL);

	r = ut_socket(KS_SOCK_DGRAM);
	d = ut_socket(KS_SOCK_DGRAM);
	OK(ks_bind(r, &ra, ralen));
	OK(ks_connect(d, &ra, ralen));
	while (ut_live() && ut_send(d, "d", 1, KS_MSG_DONTWAIT) == 1)
		;
	EQ(ut_settimeo(d, KS_SO_SNDTIMEO, 20), 0);
	arm_deadline(deadline_recv_one, r);
	EQ(ut_send(d, "x", 1, 0), 1);
	CHECK(at_deadline.fn == NULL);

	at_deadline.alen = ut_abstract(&at_deadline.a, "deadline-l");
	l = ut_socket(KS_SOCK_STREAM);
	c[0] = ut_socket(KS_SOCK_STREAM);
	c[1] = ut_socket(KS_SOCK_STREAM);
	OK(ks_bind(l, &at_deadline.a, at_deadline.alen));
	OK(ks_listen(l, 0));
	OK(ks_connect(c[0], &at_deadline.a, at_deadline.alen));
	EQ(ut_settimeo(c[1], KS_SO_SNDTIMEO, 20), 0);
	arm_deadline(deadline_accept, l);
	OK(ks_connect(c[1], &at_deadline.a, at_deadline.alen));
	CHECK(at_deadline.fn == NULL);
}

/* -- waiting behind another stream reader -- */

/* Copies into slow_buf take this long, so a reader holds the socket's
 * reading token that long. */
#define SLOW_COPY_MS	300
static char slow_buf[4096];
static atomic_bool slow_copying;	/* a reader is in the slow copy */

static int
slow_copy_to_user(void *udst, const void *src, size_t len)
{
	if ((char *)udst >= slow_buf &&
	    (char *)udst < slow_buf + sizeof(slow_buf)) {
		atomic_store(&slow_copying, true);
		ut_sleep_ms(SLOW_COPY_MS);
	}
	return ksp_port()->copy_to_user(udst, src, len);
}

struct reader {
	struct ks_sock	*so;
	void		*buf;
	size_t		 len;
	long		 result;
};

static int
reader_main(void *p)
{
	struct reader *r = p;

	r->result = CALL(ut_recv(r->so, r->buf, r->len, 0));
	return 0;
}

/*
 * A reader that waits while another copies out (Linux: on the socket's
 * iolock, an uninterruptible mutex) is not ended by a signal: it reads
 * what is left once the other is done. With nothing left, the signal
 * ends its wait for data instead: EINTR.
 */
static void
t_signal_behind_reader(void)
{
	static char big[4096];
	struct ks_sock *s[2];

	ut_port_edit()->copy_to_user = slow_copy_to_user;
	for (int left = 1; left >= 0 && ut_live(); left--) {
		char small[200];
		struct reader a = { 0 }, b = { 0 };
		struct later il = { .delay_ms = 100 };
		struct ksp_proc *pa, *pb, *pi;

		ut_pair(KS_SOCK_STREAM, s);
		EQ(ut_settimeo(s[1], KS_SO_RCVTIMEO, 3000), 0);
		EQ(ut_send(s[0], big, sizeof(big), 0), (long)sizeof(big));
		if (left)
			EQ(ut_send(s[0], big, 100, 0), 100);
		a.so = b.so = s[1];
		a.buf = slow_buf;
		a.len = sizeof(slow_buf);
		b.buf = small;
		b.len = sizeof(small);
		atomic_store(&slow_copying, false);
		pa = ut_spawn(reader_main, &a);
		/* B must come while A holds the token. */
		for (int i = 0; i < 2000 && !atomic_load(&slow_copying); i++)
			ut_sleep_ms(1);
		CHECK(atomic_load(&slow_copying));
		pb = ut_spawn(reader_main, &b);
		il.target = pb;
		pi = ut_spawn(interrupt_later, &il);
		ut_join(pi);
		ut_join(pb);
		ut_join(pa);
		CHECK_EQ(a.result, (long)sizeof(slow_buf));
		CHECK_EQ(b.result, left ? 100 : -KS_EINTR);
		ut_close(&s[0]);
		ut_close(&s[1]);
	}
}

static const struct ut_test tests[] = {
	{ "recv_accept_timeout",	t_recv_accept_timeout, UT_NO_INJECT },
	{ "send_timeout",		t_send_timeout, UT_NO_INJECT },
	{ "recv_woken_by_send",		t_recv_woken_by_send, UT_NO_INJECT },
	{ "send_woken_by_drain",	t_send_woken_by_drain, UT_NO_INJECT },
	{ "woken_by_close_and_read",	t_woken_by_close_and_read, UT_NO_INJECT },
	{ "connect_blocks_on_backlog",	t_connect_blocks_on_backlog, UT_NO_INJECT },
	{ "interrupt",			t_interrupt, UT_NO_INJECT },
	{ "recv_checks_at_deadline",	t_recv_checks_at_deadline, UT_NO_INJECT },
	{ "send_checks_at_deadline",	t_send_checks_at_deadline, UT_NO_INJECT },
	{ "signal_behind_reader",	t_signal_behind_reader, UT_NO_INJECT },
	{ "word_waits",			t_word_waits, UT_NO_INJECT },
};

UT_MAIN(tests)

/*
 * Unit tests: poll readiness and wake-up callbacks. The mask ks_poll()
 * reports in each state of each socket type (as Linux's poll reports
 * it), and struct ks_poll_entry callbacks: registered, fired on data,
 * close, shutdown, connection and drained send queues, re-registered,
 * removed cleanly, and keeping a closed socket allocated until removed.
 */
#include "unit.h"

#include <stdatomic.h>

#define IN	KS_POLLIN
#define OUT	KS_POLLOUT
#define HUP	KS_POLLHUP
#define RDHUP	KS_POLLRDHUP
#define ERRM	KS_POLLERR

/* The events a poll(2) caller asking for everything would see. */
static unsigned
mask(struct ks_sock *so)
{
	return ks_poll(so, NULL) & (IN | OUT | HUP | RDHUP | ERRM | KS_POLLPRI);
}

/* A wake callback that counts and collects events. */
struct waker {
	struct ks_poll_entry	pe;
	atomic_int		wakes;
	atomic_uint		events;
};

static void
waker_wake(struct ks_poll_entry *pe, unsigned events)
{
	struct waker *w = pe->arg;

	atomic_fetch_add(&w->wakes, 1);
	atomic_fetch_or(&w->events, events);
}

static void
waker_init(struct waker *w)
{
	memset(w, 0, sizeof(*w));
	w->pe.wake = waker_wake;
	w->pe.arg = w;
}

static void
waker_reset(struct waker *w)
{
	atomic_store(&w->wakes, 0);
	atomic_store(&w->events, 0);
}

/* Fresh sockets: stream and seqpacket OUT|HUP, dgram OUT; a listener
 * nothing until a connection is pending, then IN. */
static void
t_masks_fresh_and_listener(void)
{
	struct ks_sockaddr_un a;
	uint32_t alen = ut_abstract(&a, "pl");
	struct ks_sock *st, *dg, *sq, *l, *c;

	st = ut_socket(KS_SOCK_STREAM);
	dg = ut_socket(KS_SOCK_DGRAM);
	sq = ut_socket(KS_SOCK_SEQPACKET);
	l = ut_socket(KS_SOCK_STREAM);
	c = ut_socket(KS_SOCK_STREAM);
	if (!ut_live())
		return;
	CHECK_EQ(mask(st), OUT | HUP);
	CHECK_EQ(mask(dg), OUT);
	CHECK_EQ(mask(sq), OUT | HUP);
	OK(ks_bind(l, &a, alen));
	OK(ks_listen(l, 2));
	if (ut_live())
		CHECK_EQ(mask(l), 0);
	OK(ks_connect(c, &a, alen));
	if (ut_live()) {
		CHECK_EQ(mask(l), IN);
		CHECK_EQ(mask(c), OUT);
	}
}

/* A connected stream pair through its states: OUT; IN|OUT with data;
 * IN|OUT|RDHUP after the peer's SHUT_WR; then HUP when both directions
 * are shut; IN|OUT|HUP|RDHUP after the peer closes, plus ERR when it
 * closed with data unread. */
static void
t_masks_stream_states(void)
{
	struct ks_sock *s[2], *t[2];

	ut_pair(KS_SOCK_STREAM, s);
	ut_pair(KS_SOCK_STREAM, t);
	if (!ut_live())
		return;
	CHECK_EQ(mask(s[0]), OUT);
	EQ(ut_send(s[0], "x", 1, 0), 1);
	if (ut_live())
		CHECK_EQ(mask(s[1]), IN | OUT);
	EQ(ks_shutdown(s[0], KS_SHUT_WR), 0);
	if (ut_live()) {
		CHECK_EQ(mask(s[1]), IN | OUT | RDHUP);
		CHECK_EQ(mask(s[0]), OUT);
	}
	EQ(ks_shutdown(s[1], KS_SHUT_WR), 0);
	if (ut_live()) {
		CHECK_EQ(mask(s[1]), IN | OUT | HUP | RDHUP);
		CHECK_EQ(mask(s[0]), IN | OUT | HUP | RDHUP);
	}
	ut_close(&s[1]);
	if (ut_live())
		CHECK_EQ(mask(s[0]), IN | OUT | HUP | RDHUP | ERRM);

	EQ(ut_send(t[0], "y", 1, 0), 1);
	EQ(ks_shutdown(t[0], KS_SHUT_RD), 0);	/* unread data stays */
	if (ut_live()) {
		CHECK_EQ(mask(t[0]), IN | OUT | RDHUP);
		CHECK_EQ(mask(t[1]), IN | OUT);		/* "y" */
	}
	ut_close(&t[0]);
	if (ut_live())
		CHECK_EQ(mask(t[1]), IN | OUT | HUP | RDHUP);
}

/* dgram: a fresh pair is OUT; data adds IN; a peer's close leaves OUT
 * (the next send reports ECONNREFUSED). */
static void
t_masks_dgram(void)
{
	struct ks_sock *d[2];

	ut_pair(KS_SOCK_DGRAM, d);
	if (!ut_live())
		return;
	CHECK_EQ(mask(d[0]), OUT);
	EQ(ut_send(d[0], "x", 1, 0), 1);
	if (ut_live())
		CHECK_EQ(mask(d[1]), IN | OUT);
	ut_close(&d[1]);
	if (ut_live())
		CHECK_EQ(mask(d[0]), OUT);
}

/* An entry registered on a socket fires when data arrives (with IN in
 * its events); once removed it never fires again. */
static void
t_wake_on_data(void)
{
	struct ks_sock *s[2];
	struct waker w;
	unsigned ev;
	char buf[4];

	waker_init(&w);
	ut_pair(KS_SOCK_STREAM, s);
	if (!ut_live())
		return;
	ev = ks_poll(s[1], &w.pe);
	CHECK_EQ(ev & IN, 0);
	CHECK_EQ(atomic_load(&w.wakes), 0);
	EQ(ut_send(s[0], "ab", 2, 0), 2);
	CHECK(atomic_load(&w.wakes) >= 1);
	CHECK((atomic_load(&w.events) & IN) != 0);
	CHECK((ks_poll(s[1], NULL) & IN) != 0);
	ks_poll_remove(&w.pe);
	waker_reset(&w);
	EQ(ut_send(s[0], "cd", 2, 0), 2);
	EQ(ut_recv(s[1], buf, sizeof(buf), 0), 4);
	ut_close(&s[0]);
	CHECK_EQ(atomic_load(&w.wakes), 0);
}

/* Entries fire on the peer's close (HUP), the peer's shutdown (RDHUP)
 * and a new connection on a listener (IN). */
static void
t_wake_on_close_shutdown_connect(void)
{
	struct ks_sockaddr_un a;
	uint32_t alen = ut_abstract(&a, "wl");
	struct ks_sock *s[2], *t[2], *l, *c;
	struct waker w1, w2, w3;

	waker_init(&w1);
	waker_init(&w2);
	waker_init(&w3);
	ut_pair(KS_SOCK_SEQPACKET, s);
	ut_pair(KS_SOCK_STREAM, t);
	l = ut_socket(KS_SOCK_STREAM);
	c = ut_socket(KS_SOCK_STREAM);
	OK(ks_bind(l, &a, alen));
	OK(ks_listen(l, 1));
	if (!ut_live())
		return;

	ks_poll(s[0], &w1.pe);
	ks_poll(t[0], &w2.pe);
	ks_poll(l, &w3.pe);
	ut_close(&s[1]);
	CHECK(atomic_load(&w1.wakes) >= 1);
	CHECK((atomic_load(&w1.events) & (HUP | IN)) != 0);
	EQ(ks_shutdown(t[1], KS_SHUT_WR), 0);
	CHECK(atomic_load(&w2.wakes) >= 1);
	CHECK((atomic_load(&w2.events) & (RDHUP | IN)) != 0);
	CHECK_EQ(atomic_load(&w3.wakes), 0);
	OK(ks_connect(c, &a, alen));
	CHECK(atomic_load(&w3.wakes) >= 1);
	CHECK((atomic_load(&w3.events) & IN) != 0);
	ks_poll_remove(&w1.pe);
	ks_poll_remove(&w2.pe);
	ks_poll_remove(&w3.pe);
}

/* Shutting down one's own socket wakes its own entry too. */
static void
t_wake_on_own_shutdown(void)
{
	struct ks_sock *s[2];
	struct waker w;

	waker_init(&w);
	ut_pair(KS_SOCK_STREAM, s);
	if (!ut_live())
		return;
	ks_poll(s[0], &w.pe);
	EQ(ks_shutdown(s[0], KS_SHUT_RDWR), 0);
	CHECK(atomic_load(&w.wakes) >= 1);
	ks_poll_remove(&w.pe);
}

/* ks_poll() with a registered entry re-registers it; registering it on
 * another socket moves it; removing twice is harmless. */
static void
t_reregister_and_move(void)
{
	struct ks_sock *s[2], *t[2];
	struct waker w;

	waker_init(&w);
	ut_pair(KS_SOCK_DGRAM, s);
	ut_pair(KS_SOCK_DGRAM, t);
	if (!ut_live())
		return;
	ks_poll(s[1], &w.pe);
	ks_poll(s[1], &w.pe);
	EQ(ut_send(s[0], "x", 1, 0), 1);
	CHECK(atomic_load(&w.wakes) >= 1);
	ks_poll_remove(&w.pe);
	ks_poll(t[1], &w.pe);
	waker_reset(&w);
	EQ(ut_send(s[0], "x", 1, 0), 1);
	CHECK_EQ(atomic_load(&w.wakes), 0);
	EQ(ut_send(t[0], "x", 1, 0), 1);
	CHECK(atomic_load(&w.wakes) >= 1);
	ks_poll_remove(&w.pe);
	ks_poll_remove(&w.pe);
}

/* A registered entry holds its socket: after ks_close() the socket stays
 * allocated (and the entry may fire) until ks_poll_remove(), which then
 * frees it (the harness checks that nothing is left). */
static void
t_entry_keeps_socket(void)
{
	struct ks_sock *s[2];
	struct waker w, wp;

	waker_init(&w);
	waker_init(&wp);
	ut_pair(KS_SOCK_STREAM, s);
	if (!ut_live())
		return;
	ks_poll(s[0], &w.pe);
	ks_poll(s[1], &wp.pe);
	ut_close(&s[0]);
	CHECK(atomic_load(&wp.wakes) >= 1);	/* the peer saw it close */
	ks_poll_remove(&w.pe);
	ut_close(&s[1]);
	ks_poll_remove(&wp.pe);
}

/* A stream sender whose buffer is full polls without OUT; its entry
 * fires when the receiver drains, and then it polls OUT. */
static void
t_wake_when_drained(void)
{
	static char chunk[4096];
	struct ks_sock *s[2];
	struct waker w;
	unsigned ev;
	long r = 0;

	waker_init(&w);
	ut_pair(KS_SOCK_STREAM | KS_SOCK_NONBLOCK, s);
	EQ(ut_setint(s[0], KS_SO_SNDBUF, 8192), 0);
	for (int i = 0; i < 100 && ut_live(); i++) {
		r = CALL(ut_send(s[0], chunk, sizeof(chunk), 0));
		if (r < 0)
			break;
	}
	if (!ut_live())
		return;
	CHECK_EQ(r, -KS_EAGAIN);
	ev = ks_poll(s[0], &w.pe);
	CHECK_EQ(ev & OUT, 0);
	for (int i = 0; i < 100 && ut_live(); i++) {
		r = CALL(ut_recv(s[1], chunk, sizeof(chunk), 0));
		if (r < 0)
			break;
	}
	CHECK(atomic_load(&w.wakes) >= 1);
	CHECK((atomic_load(&w.events) & OUT) != 0);
	CHECK((ks_poll(s[0], NULL) & OUT) != 0);
	ks_poll_remove(&w.pe);
}

/* A dgram sender to a full receiver that is not connected back: sends
 * stop with EAGAIN after the receiver's queue limit (10 + 1), the sender
 * polls without OUT, and its entry (registered on the full peer too)
 * fires when the receiver reads; then it polls OUT and can send. When
 * the full receiver closes instead, the entry fires as well and the
 * sender is writable (its send then reports ECONNREFUSED). */
static void
t_dgram_full_peer_wakes_sender(void)
{
	struct ks_sockaddr_un a;
	uint32_t alen = ut_abstract(&a, "full");
	struct ks_sock *r, *s;
	struct waker w;
	unsigned ev;
	long res = 0;
	int sent = 0;
	char c;

	waker_init(&w);
	r = ut_socket(KS_SOCK_DGRAM);
	s = ut_socket(KS_SOCK_DGRAM | KS_SOCK_NONBLOCK);
	OK(ks_bind(r, &a, alen));
	OK(ks_connect(s, &a, alen));
	for (; sent < 100 && ut_live(); sent++) {
		res = CALL(ut_send(s, "d", 1, 0));
		if (res < 0)
			break;
	}
	if (!ut_live())
		return;
	CHECK_EQ(res, -KS_EAGAIN);
	CHECK(sent >= 10 && sent <= 12);
	ev = ks_poll(s, &w.pe);
	CHECK_EQ(ev & OUT, 0);
	CHECK_EQ(atomic_load(&w.wakes), 0);
	EQ(ut_recv(r, &c, 1, 0), 1);
	CHECK(atomic_load(&w.wakes) >= 1);
	CHECK((ks_poll(s, NULL) & OUT) != 0);
	EQ(ut_send(s, "d", 1, 0), 1);
	ks_poll_remove(&w.pe);

	/* Full again; this time the receiver goes away. */
	waker_reset(&w);
	res = CALL(ut_send(s, "d", 1, 0));
	CHECK_EQ(res, -KS_EAGAIN);
	ev = ks_poll(s, &w.pe);
	CHECK_EQ(ev & OUT, 0);
	ut_close(&r);
	CHECK(atomic_load(&w.wakes) >= 1);
	CHECK((ks_poll(s, NULL) & OUT) != 0);
	ERR(ut_send(s, "d", 1, 0), -KS_ECONNREFUSED);
	ks_poll_remove(&w.pe);
}

/* Mutually connected dgram sockets are limited by the sender's buffer,
 * not the receiver's queue length. */
static void
t_dgram_mutual_not_qlen_limited(void)
{
	struct ks_sock *d[2];
	int sent = 0;
	long res = 0;

	ut_pair(KS_SOCK_DGRAM | KS_SOCK_NONBLOCK, d);
	for (; sent < 50 && ut_live(); sent++) {
		res = CALL(ut_send(d[0], "m", 1, 0));
		if (res < 0)
			break;
	}
	CHECK_EQ(sent, 50);
	CHECK((ks_poll(d[0], NULL) & OUT) != 0);
}

static const struct ut_test tests[] = {
	{ "masks_fresh_and_listener",	t_masks_fresh_and_listener, 0 },
	{ "masks_stream_states",	t_masks_stream_states, 0 },
	{ "masks_dgram",		t_masks_dgram, 0 },
	{ "wake_on_data",		t_wake_on_data, 0 },
	{ "wake_on_close_shutdown_connect", t_wake_on_close_shutdown_connect, 0 },
	{ "wake_on_own_shutdown",	t_wake_on_own_shutdown, 0 },
	{ "reregister_and_move",	t_reregister_and_move, 0 },
	{ "entry_keeps_socket",		t_entry_keeps_socket, 0 },
	{ "wake_when_drained",		t_wake_when_drained, 0 },
	{ "dgram_full_peer_wakes_sender", t_dgram_full_peer_wakes_sender, 0 },
	{ "dgram_mutual_not_qlen_limited", t_dgram_mutual_not_qlen_limited, 0 },
};

UT_MAIN(tests)

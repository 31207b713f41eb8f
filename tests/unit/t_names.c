/*
 * Unit tests: what names ask of the port. Each test runs ksock on a copy
 * of the port it was started with (so failure injection still works)
 * whose node and namespace hooks are watched or played by the test:
 * every node pinned by node_create() is released exactly once, by the
 * socket that bound it, and abstract names are kept apart by the netns
 * key of the socket, not of the caller.
 */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "unit.h"

/* Path sockets t_many_paths_pinned_and_released binds at once: more
 * than the port's first pin table holds (port/hosted/thread.c). */
#define MANY_PATHS	130
/* Most nodes a test has pinned at once. */
#define MAX_PINS	(MANY_PATHS + 2)

static struct ks_port watch_port;
static const struct ks_port *base_port;

static struct {
	struct ks_node_key	key[MAX_PINS];
	int			n;		/* pinned now */
	int			created;	/* node_create() successes */
	int			released;	/* node_release() calls */
	int			strays;		/* releases of nothing pinned */
} pins;

/* The netns key the watched port reports (port.h netns). */
static uint64_t fake_netns;

static int
watch_node_create(const char *path, unsigned mode, struct ks_node_key *key)
{
	int err = base_port->node_create(path, mode, key);

	if (err == 0 && pins.n < MAX_PINS) {
		pins.key[pins.n++] = *key;
		pins.created++;
	}
	return err;
}

static void
watch_node_release(const struct ks_node_key *key)
{
	pins.released++;
	for (int i = 0; i < pins.n; i++) {
		if (pins.key[i].a == key->a && pins.key[i].b == key->b) {
			pins.key[i] = pins.key[--pins.n];
			base_port->node_release(key);
			return;
		}
	}
	pins.strays++;
}

static uint64_t
watch_netns(void)
{
	return fake_netns;
}

/* Restarts ksock on the watched copy of its port. */
static void
use_watch_port(void)
{
	memset(&pins, 0, sizeof(pins));
	fake_netns = 1;
	base_port = ks_port();
	watch_port = *base_port;
	watch_port.node_create = watch_node_create;
	watch_port.node_release = watch_node_release;
	watch_port.netns = watch_netns;
	if (ks_fini() < 0 || ks_init(&watch_port) < 0)
		ut_fail(__FILE__, __LINE__, "cannot restart ksock");
}

/* Checked in every run, stopped or not: the sockets are closed, so every
 * pin must be gone, each released once. */
static void
check_pins_released(void)
{
	if (pins.n != 0 || pins.strays != 0 || pins.created != pins.released)
		ut_fail(__FILE__, __LINE__,
			"pins: %d still held, %d created, %d released, "
			"%d strays", pins.n, pins.created, pins.released,
			pins.strays);
}

/*
 * A bound socket holds its node until it is closed: not its accepted
 * sockets, which share the name, nor a failed bind, which releases the
 * node it made at once; and a socket that never bound releases nothing.
 */
static void
t_node_released_once_by_binder(void)
{
	struct ks_sockaddr_un a, b, d;
	uint32_t la = ut_path(&a, "a"), lb = ut_path(&b, "b");
	uint32_t ld = ut_path(&d, "d");
	struct ks_sock *l, *c, *s = NULL, *dg, *other;

	use_watch_port();
	l = ut_socket(KS_SOCK_STREAM);
	c = ut_socket(KS_SOCK_STREAM);
	dg = ut_socket(KS_SOCK_DGRAM);
	other = ut_socket(KS_SOCK_STREAM);
	OK(ks_bind(l, &a, la));
	CHECK_EQ(pins.n, 1);
	/* Taken: nothing is created, so nothing is pinned. */
	ERR(ks_bind(other, &a, la), -KS_EADDRINUSE);
	/* Already bound: the new node is removed and released at once. */
	ERR(ks_bind(l, &b, lb), -KS_EINVAL);
	CHECK_EQ(pins.n, 1);
	CHECK_EQ(pins.released, 1);
	OK(ks_listen(l, 4));
	OK(ks_connect(c, &a, la));
	s = ut_accept(l);
	OK(ks_bind(dg, &d, ld));
	CHECK_EQ(pins.n, 2);
	ut_close(&l);
	CHECK_EQ(pins.n, 1);
	ut_close(&s);
	ut_close(&c);
	CHECK_EQ(pins.n, 1);
	ut_close(&dg);
	ut_close(&other);
	check_pins_released();
	unlink("a");
	unlink("b");
	unlink("d");
}

/* A connect that resolves a path to a node bound after it began is
 * refused: here the listener binds between the two, through a port
 * whose lookup binds it (a node freed and reused during a lookup looks
 * the same to ksock). */
static struct ks_sock *late_binder;
static const struct ks_sockaddr_un *late_addr;
static uint32_t late_len;

static int
late_node_lookup(const char *path, struct ks_node_key *key)
{
	if (late_binder != NULL) {
		struct ks_sock *so = late_binder;
		int err;

		late_binder = NULL;
		err = ks_bind(so, late_addr, late_len);
		if (err == 0)
			err = ks_listen(so, 4);
		if (err < 0)
			return err;	/* an injected -KS_ENOMEM */
	}
	return base_port->node_lookup(path, key);
}

static void
t_connect_ignores_name_bound_during_lookup(void)
{
	struct ks_sockaddr_un a;
	uint32_t la = ut_path(&a, "late");
	struct ks_sock *l, *c;

	use_watch_port();
	watch_port.node_lookup = late_node_lookup;
	l = ut_socket(KS_SOCK_STREAM);
	c = ut_socket(KS_SOCK_STREAM);
	late_binder = l;
	late_addr = &a;
	late_len = la;
	ERR(ks_connect(c, &a, la), -KS_ECONNREFUSED);
	/* The next connect began after the bind, and reaches it. */
	OK(ks_connect(c, &a, la));
	late_binder = NULL;
	ut_close(&c);
	ut_close(&l);
	check_pins_released();
	unlink("late");
}

/* Abstract names, automatic ones too, live in the netns of the socket
 * that binds or looks them up, whichever namespace its caller is in now. */
static void
t_abstract_names_per_netns(void)
{
	struct ks_sockaddr_un x, auto_name;
	uint32_t lx = ut_abstract(&x, "ut-netns"), alen = sizeof(auto_name);
	struct ks_sock *l1, *l2, *c1, *c2, *d1, *d2, *s;
	char buf[2];

	use_watch_port();
	l1 = ut_socket(KS_SOCK_STREAM);
	c1 = ut_socket(KS_SOCK_STREAM);
	d1 = ut_socket(KS_SOCK_DGRAM);
	OK(ks_bind(l1, &x, lx));
	OK(ks_listen(l1, 4));
	fake_netns = 2;
	l2 = ut_socket(KS_SOCK_STREAM);
	c2 = ut_socket(KS_SOCK_STREAM);
	d2 = ut_socket(KS_SOCK_DGRAM);
	/* Namespace 2 has no "ut-netns" yet, then its own. */
	ERR(ks_connect(c2, &x, lx), -KS_ECONNREFUSED);
	OK(ks_bind(l2, &x, lx));
	OK(ks_listen(l2, 4));
	OK(ks_connect(c2, &x, lx));
	s = ut_accept(l2);
	ut_close(&s);
	/* c1 was made in namespace 1: that is where it looks. */
	OK(ks_connect(c1, &x, lx));
	s = ut_accept(l1);
	ut_close(&s);
	/* An automatic name of namespace 1 is not one of namespace 2. */
	OK(ks_bind(d1, &x, 2));
	OK(ks_getsockname(d1, &auto_name, &alen));
	ERR(ut_sendto(d2, "a", 1, 0, &auto_name, alen), -KS_ECONNREFUSED);
	fake_netns = 1;
	struct ks_sock *d3 = ut_socket(KS_SOCK_DGRAM);
	EQ(ut_sendto(d3, "b", 1, 0, &auto_name, alen), 1);
	EQ(ut_recv(d1, buf, sizeof(buf), 0), 1);
	ut_close(&d3);
	ut_close(&d2);
	ut_close(&d1);
	ut_close(&c2);
	ut_close(&c1);
	ut_close(&l2);
	ut_close(&l1);
}

/* More names than the table's first buckets hold at its load: each is
 * still found after the table grew, and closing them all gives its
 * memory back (the harness checks that no allocation is left). The
 * sockets are more than the harness tracks, so the test closes them. */
#define MANY_NAMES	(2 * 256 + 8)

static void
t_many_names_all_found(void)
{
	static struct ks_sock *so[MANY_NAMES];
	struct ks_sockaddr_un a;
	struct ks_sock *c = ut_socket(KS_SOCK_DGRAM);
	char name[32], buf[4];
	uint32_t len;

	for (int i = 0; i < MANY_NAMES; i++) {
		so[i] = NULL;
		snprintf(name, sizeof(name), "ut-many-%d", i);
		len = ut_abstract(&a, name);
		OK(ks_socket(KS_AF_UNIX, KS_SOCK_DGRAM, 0, &so[i]));
		OK(ks_bind(so[i], &a, len));
	}
	for (int i = 0; i < MANY_NAMES; i++) {
		snprintf(name, sizeof(name), "ut-many-%d", i);
		len = ut_abstract(&a, name);
		EQ(ut_sendto(c, "m", 1, 0, &a, len), 1);
		EQ(ut_recv(so[i], buf, sizeof(buf), 0), 1);
	}
	for (int i = 0; i < MANY_NAMES; i++)
		if (so[i] != NULL)
			ks_close(so[i]);
	/* An emptied table takes names again. */
	struct ks_sock *again = ut_socket(KS_SOCK_DGRAM);
	len = ut_abstract(&a, "ut-many-0");
	OK(ks_bind(again, &a, len));
	EQ(ut_sendto(c, "m", 1, 0, &a, len), 1);
	ut_close(&again);
	ut_close(&c);
}

/* More path sockets than the port's first pin table holds: each is
 * reached through its path and each pin is released at close (the
 * harness checks that no real descriptor is left open). */

static void
t_many_paths_pinned_and_released(void)
{
	static struct ks_sock *so[MANY_PATHS];
	struct ks_sockaddr_un a;
	struct ks_sock *c;
	char path[32], buf[4];
	uint32_t len;

	use_watch_port();
	c = ut_socket(KS_SOCK_DGRAM);
	for (int i = 0; i < MANY_PATHS; i++) {
		so[i] = NULL;
		snprintf(path, sizeof(path), "p%d", i);
		len = ut_path(&a, path);
		OK(ks_socket(KS_AF_UNIX, KS_SOCK_DGRAM, 0, &so[i]));
		OK(ks_bind(so[i], &a, len));
	}
	for (int i = 0; i < MANY_PATHS; i++) {
		snprintf(path, sizeof(path), "p%d", i);
		len = ut_path(&a, path);
		EQ(ut_sendto(c, "p", 1, 0, &a, len), 1);
		EQ(ut_recv(so[i], buf, sizeof(buf), 0), 1);
	}
	for (int i = 0; i < MANY_PATHS; i++) {
		if (so[i] != NULL)
			ks_close(so[i]);
		snprintf(path, sizeof(path), "p%d", i);
		unlink(path);
	}
	ut_close(&c);
	check_pins_released();
}

/* Threads that bind, look up and close names at once, so the table
 * grows and empties, and pins come and go, while others search it. */
#define CONC_THREADS	4
#define CONC_NAMES	150	/* per thread: 4 x 150 passes the first load */
#define CONC_ROUNDS	3

static void *
conc_thread(void *arg)
{
	int id = (int)(intptr_t)arg;
	struct ks_sock *so[CONC_NAMES], *c = NULL;
	struct ks_sockaddr_un a;
	char name[32];
	long bad = 0;

	if (ks_socket(KS_AF_UNIX, KS_SOCK_DGRAM, 0, &c) < 0)
		return (void *)1;
	for (int round = 0; round < CONC_ROUNDS; round++) {
		for (int i = 0; i < CONC_NAMES; i++) {
			bool path = i % 8 == 0;
			uint32_t len;

			snprintf(name, sizeof(name), "c%d-%d", id, i);
			len = path ? ut_path(&a, name) : ut_abstract(&a, name);
			so[i] = NULL;
			if (ks_socket(KS_AF_UNIX, KS_SOCK_DGRAM, 0, &so[i]) < 0 ||
			    ks_bind(so[i], &a, len) < 0)
				bad++;
		}
		for (int i = 0; i < CONC_NAMES; i++) {
			/* Another thread's name: there or not, never wrong. */
			long r;
			uint32_t len;

			snprintf(name, sizeof(name), "c%d-%d",
				 (id + 1) % CONC_THREADS, i);
			len = i % 8 == 0 ? ut_path(&a, name)
					 : ut_abstract(&a, name);
			r = ut_sendto(c, "x", 1, KS_MSG_DONTWAIT, &a, len);
			if (r != 1 && r != -KS_ECONNREFUSED &&
			    r != -KS_ENOENT && r != -KS_EAGAIN)
				bad++;
		}
		for (int i = 0; i < CONC_NAMES; i++) {
			if (so[i] != NULL)
				ks_close(so[i]);
			if (i % 8 == 0) {
				snprintf(name, sizeof(name), "c%d-%d", id, i);
				unlink(name);
			}
		}
	}
	ks_close(c);
	return (void *)bad;
}

static void
t_concurrent_names(void)
{
	pthread_t t[CONC_THREADS];
	void *r;

	use_watch_port();
	/* The watched port's pin list is not for threads. */
	watch_port.node_create = base_port->node_create;
	watch_port.node_release = base_port->node_release;
	for (int i = 0; i < CONC_THREADS; i++)
		pthread_create(&t[i], NULL, conc_thread, (void *)(intptr_t)i);
	for (int i = 0; i < CONC_THREADS; i++) {
		pthread_join(t[i], &r);
		CHECK_EQ((intptr_t)r, 0);
	}
}

static const struct ut_test tests[] = {
	{ "node_released_once_by_binder", t_node_released_once_by_binder, 0 },
	{ "connect_ignores_name_bound_during_lookup",
	  t_connect_ignores_name_bound_during_lookup, 0 },
	{ "abstract_names_per_netns", t_abstract_names_per_netns, 0 },
	{ "many_names_all_found", t_many_names_all_found, 0 },
	{ "many_paths_pinned_and_released", t_many_paths_pinned_and_released,
	  0 },
	/* Threads race on purpose: an injected failure would stop one at a
	 * point the others cannot see. */
	{ "concurrent_names", t_concurrent_names, UT_NO_INJECT },
};

UT_MAIN(tests)

/*
 * Waiting through the port's spin policy (port.h: keep_spinning).
 *
 * A blocked call asks the port before it spins at all, and parks as soon
 * as the port says spinning cannot pay; a port that allows a budget sees
 * the time spun grow until it says no. The tests run ksock on a copy of
 * the hosted port whose keep_spinning hook records its calls, and put the
 * hosted port back at the end. They also check the hosted policy's
 * bounds.
 *
 * The hosted policy's answer to another program on the waiter's CPU is
 * checked with a busy thread pinned beside the test's own.
 *
 * UT_NO_INJECT throughout: the tests wait for real time (timeouts), and
 * swapping the port restarts ksock, which injected failures would cut.
 */
#include "unit.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

/* The hosted policy's whole budget (port/hosted/spin.c). */
#define HOSTED_SPIN_BUDGET_NS	20000

static struct ks_port spy_port;
static atomic_long spy_calls;
static atomic_llong spy_first, spy_last;
static int64_t spy_budget;	/* keep spinning while spun < this */

static bool
spy_keep_spinning(int64_t spun_ns)
{
	if (atomic_fetch_add(&spy_calls, 1) == 0)
		atomic_store(&spy_first, spun_ns);
	atomic_store(&spy_last, spun_ns);
	return spun_ns < spy_budget;
}

/* Restarts ksock on the spying port with @budget_ns. */
static void
spy_start(int64_t budget_ns)
{
	spy_port = *ksp_port();
	spy_port.keep_spinning = spy_keep_spinning;
	spy_budget = budget_ns;
	atomic_store(&spy_calls, 0);
	atomic_store(&spy_first, -1);
	atomic_store(&spy_last, -1);
	EQ(ks_fini(), 0);
	EQ(ks_init(&spy_port), 0);
}

static void
spy_stop(void)
{
	EQ(ks_fini(), 0);
	EQ(ks_init(ksp_port()), 0);
}

/* A recv that must block until its timeout: -EAGAIN after about @ms. */
static void
recv_times_out(int ms)
{
	struct ks_sock *s[2] = { NULL, NULL };
	long long t0;
	char c;

	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_settimeo(s[1], KS_SO_RCVTIMEO, ms), 0);
	t0 = ut_now_ms();
	ERR(ut_recv(s[1], &c, 1, 0), -KS_EAGAIN);
	GE(ut_now_ms() - t0, ms - 1);
	ut_close(&s[0]);
	ut_close(&s[1]);
}

/* A port that says "do not spin" is asked once, with nothing spun yet,
 * and the waiter parks until its deadline. */
static void
asks_port_before_spinning(void)
{
	spy_start(0);
	recv_times_out(30);
	spy_stop();
	CHECK_EQ(atomic_load(&spy_calls), 1);
	CHECK_EQ(atomic_load(&spy_first), 0);
}

/* A port that allows 2 ms sees the time spun grow past 2 ms and no
 * further call after it said no. */
static void
spins_until_port_says_no(void)
{
	spy_start(2000000);
	recv_times_out(50);
	spy_stop();
	CHECK(atomic_load(&spy_calls) > 2);
	CHECK_EQ(atomic_load(&spy_first), 0);
	CHECK(atomic_load(&spy_last) >= 2000000);
	CHECK(atomic_load(&spy_last) < 40000000);
}

struct late_sender {
	struct ks_sock	*so;
	int		 delay_ms;
};

static int
late_send(void *arg)
{
	struct late_sender *ls = arg;
	long long t0 = ut_now_ms();

	/* From when the receiver is waiting (it asks the port). */
	while (atomic_load(&spy_calls) == 0 && ut_now_ms() - t0 < 5000)
		;
	ut_sleep_ms(ls->delay_ms);
	EQ(ut_send(ls->so, "x", 1, 0), 1);
	return 0;
}

/* A waiter still spinning when the data comes returns it without
 * parking: the port is asked, and said yes, until then. */
static void
spinning_waiter_gets_data(void)
{
	struct ks_sock *s[2] = { NULL, NULL };
	struct late_sender ls;
	struct ksp_proc *p;
	char c = 0;

	spy_start(5000000000LL);	/* 5 s: spin through the whole wait */
	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_settimeo(s[1], KS_SO_RCVTIMEO, 5000), 0);
	ls = (struct late_sender){ s[0], 10 };
	p = ut_spawn(late_send, &ls);
	EQ(ut_recv(s[1], &c, 1, 0), 1);
	CHECK_EQ(c, 'x');
	ut_join(p);
	ut_close(&s[0]);
	ut_close(&s[1]);
	spy_stop();
	CHECK(atomic_load(&spy_calls) > 2);
	/* Far past any usual budget: it spun until the data came. */
	CHECK(atomic_load(&spy_last) >= 2000000);
	CHECK(atomic_load(&spy_last) < 5000000000LL);
}

/* The hosted policy: a wait may begin spinning (or yielding), and never
 * spins past its budget. */
static void
hosted_policy_is_bounded(void)
{
	bool (*keep)(int64_t) = ksp_port()->keep_spinning;

	CHECK(keep(0));
	CHECK(!keep(HOSTED_SPIN_BUDGET_NS));
	CHECK(!keep(INT64_MAX));
}

static atomic_bool hog_stop;

static void *
hog_main(void *arg)
{
	cpu_set_t *one = arg;

	pthread_setaffinity_np(pthread_self(), sizeof(*one), one);
	while (!atomic_load_explicit(&hog_stop, memory_order_relaxed))
		;
	return NULL;
}

/* A waiter whose yield lets another program run a whole time slice
 * parks at once for a while (a wake-up then comes through the
 * scheduler), and spins again once that while is over. */
static void
hosted_policy_parks_when_cpu_taken(void)
{
	bool (*keep)(int64_t) = ksp_port()->keep_spinning;
	cpu_set_t all, one;
	pthread_t hog;
	int tries, cpu = -1;

	CHECK_EQ(sched_getaffinity(0, sizeof(all), &all), 0);
	for (int c = 0; c < CPU_SETSIZE && cpu < 0; c++)
		if (CPU_ISSET(c, &all))
			cpu = c;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	CHECK_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
	/* The policy re-reads the CPU count every 100 ms. */
	ut_sleep_ms(120);
	atomic_store(&hog_stop, false);
	CHECK_EQ(pthread_create(&hog, NULL, hog_main, &one), 0);
	/* Each question on one CPU yields, to the busy thread sooner or
	 * later; after that the next question is answered "park". */
	for (tries = 0; tries < 1000; tries++) {
		if (!keep(0) || !keep(1))
			break;
	}
	atomic_store(&hog_stop, true);
	pthread_join(hog, NULL);
	CHECK(tries < 1000);
	/* Parking lasts a few milliseconds, then yielding resumes. On a
	 * machine loaded by other programs a yield may lose its time slice
	 * again and park again (the policy working), so the question is
	 * only whether spinning comes back at some point. */
	for (tries = 0; tries < 50; tries++) {
		ut_sleep_ms(20);
		if (keep(0) && keep(1))
			break;
	}
	CHECK(tries < 50);
	CHECK_EQ(sched_setaffinity(0, sizeof(all), &all), 0);
}

static const struct ut_test tests[] = {
	{ "asks_port_before_spinning", asks_port_before_spinning, UT_NO_INJECT },
	{ "spins_until_port_says_no", spins_until_port_says_no, UT_NO_INJECT },
	{ "spinning_waiter_gets_data", spinning_waiter_gets_data, UT_NO_INJECT },
	{ "hosted_policy_is_bounded", hosted_policy_is_bounded, UT_NO_INJECT },
	{ "hosted_policy_parks_when_cpu_taken",
	  hosted_policy_parks_when_cpu_taken, UT_NO_INJECT },
};

UT_MAIN(tests)

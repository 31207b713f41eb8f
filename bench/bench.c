/*
 * bench: ksock's AF_UNIX against the Linux kernel's, side by side.
 *
 *   bench [--reps N] [--ms MS] [--only ID,...]
 *         [--linux-only | --ksock-only] [--no-pin] [--json FILE]
 *   bench --smoke [--linux-only]
 *
 * For every scenario of bench_scn.c, each side first finds the n that
 * makes one run last about MS milliseconds (150 by default), then the two
 * sides run N times (5 by default), alternating which goes first. Every
 * scenario runs twice: with the threads free to use every CPU the process
 * may use, then (unless --no-pin; the memory figures excepted) with every
 * thread of both sides on one CPU, the rows marked "[1 CPU]". The table
 * shows the medians, the ratio ksock/Linux, each throughput as a fraction
 * of memcpy's bandwidth measured just before and just after that row (in
 * the same conditions), and whether ksock meets its target; the JSON copy
 * holds every sample.
 *
 * --smoke runs every scenario once on each side with tiny sizes and
 * checks that it moved the bytes it should and left no descriptor (and
 * on ksock no allocation) behind; it prints the runner line
 * "N passed, N failed, N skipped" that tools/summarize reads. Speed is
 * never checked.
 *
 * A watchdog ends the program if one run takes more than WATCHDOG_SECONDS,
 * naming the run, so a hang in either side fails instead of stalling.
 */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"

#define MAX_REPS		15
/* A calibration run shorter than this is too noisy to scale from. */
#define CALIBRATE_MIN_S		0.02
/* 10,000 socket pairs in the memory scenarios, with room for the rest. */
#define WANT_NOFILE		65536
/* Descriptors kept free for everything but the memory scenarios' objects. */
#define FD_HEADROOM		64
/* memcpy is measured on blocks of the size of the headline writes. */
#define MEMCPY_BLOCK		(64 * 1024)

struct side_stats {
	double		 v[MAX_REPS], v2[MAX_REPS];
	int		 nv;
	long		 n;
	char		 detail[MAX_REPS][200];	/* of each run */
	int		 imed;		/* the run closest to the median */
	int		 status;	/* 0, -1 (failed), BENCH_UNSUPPORTED */
	char		 err[120];
	double		 med, med2;
};

struct row {
	const struct bench_scn *s;
	bool		 one_cpu;	/* both sides' threads on one CPU */
	double		 mcpy;		/* memcpy MiB/s next to this row */
	struct side_stats side[2];	/* [0] Linux, [1] ksock */
};

static struct {
	int	 reps;
	double	 seconds;
	bool	 smoke;
	bool	 linux_only;
	bool	 ksock_only;		/* for profiling ksock alone */
	bool	 no_pin;		/* skip the rows on one CPU */
	const char *only;
	const char *json;
} opt = { .reps = 5, .seconds = 0.15 };

static const struct bench_ops *const sides[2] = {
	&bench_linux_ops, &bench_ksock_ops,
};

/* Runs one scenario once on one side, under the watchdog. */
static int
run_once(const struct bench_ops *ops, const struct bench_scn *s, long n,
	 struct bench_result *r)
{
	static char what[160];
	int ret;

	memset(r, 0, sizeof(*r));
	snprintf(what, sizeof(what), "%s on %s, n=%ld", s->id, ops->name, n);
	bench_watch(what);
	ret = s->run(ops, s, n, r);
	bench_watch(NULL);
	return ret;
}

static double
median(const double *v, int n)
{
	return bench_median(v, n);
}

/* -- the limit: memcpy bandwidth -- */

static double
memcpy_once(char *dst, const char *src, long n)
{
	int64_t t0 = bench_now_ns();
	long i;

	for (i = 0; i < n; i++) {
		memcpy(dst, src, MEMCPY_BLOCK);
		/* The copy must happen: dst escapes to an opaque barrier. */
		__asm__ volatile("" : : "r"(dst) : "memory");
	}
	return (double)(bench_now_ns() - t0) / 1e9;
}

struct copier {
	pthread_t	 tid;
	char		*src, *dst;
	long		 n;
	double		 sec;
};

static void *
copier_main(void *p)
{
	struct copier *c = p;

	c->sec = memcpy_once(c->dst, c->src, c->n);
	return NULL;
}

/*
 * Median aggregate MiB/s of memcpy between page-aligned 64 KiB blocks in
 * cache, on @threads threads at once (1 or 2), or NAN: the best case,
 * and, with two threads, how far the machine itself scales.
 */
static double
measure_memcpy_for(int threads, double seconds, int reps, double *samples,
		   int *nsamples)
{
	struct copier c[2];
	double sec;
	long n = 1024;
	int i, t;

	*nsamples = 0;
	for (t = 0; t < threads; t++) {
		c[t].src = aligned_alloc(4096, MEMCPY_BLOCK);
		c[t].dst = aligned_alloc(4096, MEMCPY_BLOCK);
		if (c[t].src == NULL || c[t].dst == NULL)
			return NAN;
		memset(c[t].src, 'm', MEMCPY_BLOCK);
		memset(c[t].dst, 0, MEMCPY_BLOCK);
	}
	while ((sec = memcpy_once(c[0].dst, c[0].src, n)) < CALIBRATE_MIN_S)
		n *= 4;
	n = (long)((double)n * seconds / sec) + 1;
	for (i = 0; i < reps; i++) {
		sec = 0;
		for (t = 0; t < threads; t++) {
			c[t].n = n;
			pthread_create(&c[t].tid, NULL, copier_main, &c[t]);
		}
		for (t = 0; t < threads; t++) {
			pthread_join(c[t].tid, NULL);
			sec = c[t].sec > sec ? c[t].sec : sec;
		}
		samples[i] = (double)threads * (double)n * MEMCPY_BLOCK /
			     (1024.0 * 1024) / sec;
	}
	*nsamples = reps;
	for (t = 0; t < threads; t++) {
		free(c[t].src);
		free(c[t].dst);
	}
	return median(samples, reps);
}

static double
measure_memcpy(int threads, double *samples, int *nsamples)
{
	return measure_memcpy_for(threads, opt.seconds, opt.reps, samples,
				  nsamples);
}

/* memcpy next to one throughput row: a few short runs. */
#define ROW_MEMCPY_REPS		3
#define ROW_MEMCPY_SECONDS	0.04

static double
row_memcpy(double *samples, int *nsamples)
{
	int n;

	measure_memcpy_for(1, ROW_MEMCPY_SECONDS, ROW_MEMCPY_REPS,
			   samples + *nsamples, &n);
	*nsamples += n;
	return median(samples, *nsamples);
}

/* -- where the threads run -- */

/*
 * The spin policy of the hosted port reads the process's CPUs at most
 * every 100 ms (port/hosted/spin.c): after a change, wait that long so
 * the next row runs under the policy it is meant to show.
 */
#define AFFINITY_SETTLE_US	120000

static cpu_set_t all_cpus;

/* Confines this thread, and every thread it starts from now on, to the
 * first CPU it may use; false when that cannot be done. */
static bool
pin_one_cpu(void)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (CPU_ISSET(c, &all_cpus)) {
			CPU_SET(c, &one);
			break;
		}
	}
	if (sched_setaffinity(0, sizeof(one), &one) != 0)
		return false;
	usleep(AFFINITY_SETTLE_US);
	return true;
}

static void
unpin(void)
{
	sched_setaffinity(0, sizeof(all_cpus), &all_cpus);
	usleep(AFFINITY_SETTLE_US);
}

/* -- one scenario, both sides -- */

/*
 * The n of a scenario that is not calibrated (the memory figures): its
 * count of objects, fewer when the descriptor limit (which we could not
 * raise, without CAP_SYS_RESOURCE) would not hold them all.
 */
static long
fixed_n(const struct bench_scn *s)
{
	struct rlimit rl;
	long per = s->pairs > 0 ? 2 : 1, room;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return s->fixed_n;
	room = ((long)rl.rlim_cur - FD_HEADROOM) / per;
	return room < s->fixed_n ? room : s->fixed_n;
}

/* Finds the n that makes a run last about opt.seconds. */
static long
calibrate(const struct bench_ops *ops, const struct bench_scn *s,
	  struct side_stats *st)
{
	struct bench_result r;
	long n = s->start_n;
	int ret;

	if (s->start_n == 0)
		return fixed_n(s);
	for (;;) {
		ret = run_once(ops, s, n, &r);
		if (ret != 0) {
			st->status = ret;
			memcpy(st->err, r.err, sizeof(st->err));
			return 0;
		}
		if (r.seconds >= CALIBRATE_MIN_S)
			break;
		n *= 8;
	}
	n = (long)((double)n * opt.seconds / r.seconds);
	return n < 1 ? 1 : n;
}

static void
run_row(struct row *row)
{
	const struct bench_scn *s = row->s;
	struct bench_result r;
	double msamples[2 * ROW_MEMCPY_REPS];
	int rep, k, i, ret, nm = 0;

	if (s->unit == BENCH_MIBPS)
		row->mcpy = row_memcpy(msamples, &nm);

	for (i = 0; i < 2; i++) {
		if ((i == 1 && opt.linux_only) || (i == 0 && opt.ksock_only)) {
			row->side[i].status = -1;
			snprintf(row->side[i].err, sizeof(row->side[i].err),
				 "not run (--%s-only)", sides[1 - i]->name);
			continue;
		}
		row->side[i].n = calibrate(sides[i], s, &row->side[i]);
	}
	for (rep = 0; rep < opt.reps; rep++)
		for (k = 0; k < 2; k++) {
			struct side_stats *st;

			i = rep % 2 ? 1 - k : k;	/* alternate the order */
			st = &row->side[i];
			if (st->status != 0)
				continue;
			ret = run_once(sides[i], s, st->n, &r);
			if (ret != 0) {
				st->status = ret;
				memcpy(st->err, r.err, sizeof(st->err));
				continue;
			}
			st->v[st->nv] = r.value;
			st->v2[st->nv] = r.value2;
			snprintf(st->detail[st->nv], sizeof(st->detail[0]),
				 "%s", r.detail);
			st->nv++;
		}
	if (s->unit == BENCH_MIBPS)
		row->mcpy = row_memcpy(msamples, &nm);
	for (i = 0; i < 2; i++) {
		struct side_stats *st = &row->side[i];

		st->med = median(st->v, st->nv);
		st->med2 = median(st->v2, st->nv);
		for (k = 1; k < st->nv; k++)
			if (fabs(st->v[k] - st->med) <
			    fabs(st->v[st->imed] - st->med))
				st->imed = k;
	}
}

/* -- the table -- */

static const char *
unit_name(enum bench_unit u)
{
	switch (u) {
	case BENCH_MIBPS:	return "MiB/s";
	case BENCH_RATE:	return "ops/s";
	case BENCH_LATENCY:	return "us";
	case BENCH_BYTES:	return "bytes";
	}
	return "?";
}

static void
fmt_value(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else if (fabs(v) >= 1000)
		snprintf(buf, len, "%.0f", v);
	else if (fabs(v) >= 10)
		snprintf(buf, len, "%.1f", v);
	else
		snprintf(buf, len, "%.2f", v);
}

static bool
side_ok(const struct side_stats *st)
{
	return st->status == 0 && st->nv > 0;
}

/* The text of the target column and whether ksock meets it (-1: unknown). */
static int
target_met(const struct row *rows, size_t nrows, const struct row *row,
	   char *what, size_t wlen, char *got, size_t glen)
{
	double memcpy_mibps = row->mcpy;
	const struct bench_scn *s = row->s;
	const struct side_stats *l = &row->side[0], *k = &row->side[1];
	double ratio = l->med != 0 ? k->med / l->med : NAN, base = NAN;
	size_t i;

	what[0] = got[0] = '\0';
	switch (s->target) {
	case BENCH_NO_TARGET:
		return -1;
	case BENCH_RATIO_GE:
		snprintf(what, wlen, ">= %gx Linux", s->goal);
		if (!side_ok(k) || !side_ok(l))
			return -1;
		snprintf(got, glen, "%.2fx", ratio);
		return ratio >= s->goal;
	case BENCH_RATIO_LE:
		snprintf(what, wlen, "<= %gx Linux", s->goal);
		if (!side_ok(k) || !side_ok(l))
			return -1;
		snprintf(got, glen, "%.2fx", ratio);
		return ratio <= s->goal;
	case BENCH_RATIO_GE_MEMCPY:
		snprintf(what, wlen, ">= %gx Linux, >= %g memcpy", s->goal,
			 s->goal2);
		if (!side_ok(k) || !side_ok(l))
			return -1;
		snprintf(got, glen, "%.2fx, %.2f", ratio, k->med / memcpy_mibps);
		return ratio >= s->goal && k->med / memcpy_mibps >= s->goal2;
	case BENCH_ABS_LE:
		snprintf(what, wlen, "<= %g %s", s->goal, unit_name(s->unit));
		if (!side_ok(k))
			return -1;
		snprintf(got, glen, "%.0f", k->med);
		return k->med <= s->goal;
	case BENCH_SCALE_GE:
		for (i = 0; i < nrows; i++)
			if (strcmp(rows[i].s->id, s->base) == 0 &&
			    rows[i].one_cpu == row->one_cpu &&
			    side_ok(&rows[i].side[1]))
				base = rows[i].side[1].med;
		snprintf(what, wlen, ">= %gx %s", s->goal, s->base);
		if (!side_ok(k) || isnan(base))
			return -1;
		snprintf(got, glen, "%.2fx", k->med / base);
		return k->med / base >= s->goal;
	}
	return -1;
}

static void
side_cell(char *buf, size_t len, const struct side_stats *st, bool second)
{
	if (st->status == BENCH_UNSUPPORTED)
		snprintf(buf, len, "n/a (not supported yet)");
	else if (!side_ok(st))
		snprintf(buf, len, "error");
	else
		fmt_value(buf, len, second ? st->med2 : st->med);
}

static void
print_line(const char *name, const char *unit, const char *lv, const char *kv,
	   double ratio, double mc, double lf, double kf, const char *target,
	   const char *met)
{
	char rb[16], lfb[16], kfb[16], mcb[16];

	if (isnan(mc))
		snprintf(mcb, sizeof(mcb), "%s", "");
	else
		snprintf(mcb, sizeof(mcb), "%.0f", mc);
	if (isnan(ratio))
		snprintf(rb, sizeof(rb), "-");
	else
		snprintf(rb, sizeof(rb), "%.2fx", ratio);
	if (isnan(lf))
		snprintf(lfb, sizeof(lfb), "%s", "");
	else
		snprintf(lfb, sizeof(lfb), "%.3f", lf);
	if (isnan(kf))
		snprintf(kfb, sizeof(kfb), "%s", "");
	else
		snprintf(kfb, sizeof(kfb), "%.3f", kf);
	printf("%-38s %-6s %11s %11s %8s %7s %7s %7s  %-30s %s\n", name, unit,
	       lv, kv, rb, mcb, lfb, kfb, target, met);
}

static void
print_table(const struct row *rows, size_t nrows, double memcpy_mibps,
	    double memcpy2_mibps)
{
	char lv[32], kv[32], what[64], got[32], met[48], name[64];
	const struct row *row;
	size_t i;
	int m, second;

	printf("\n%-38s %-6s %11s %11s %8s %7s %7s %7s  %-30s %s\n",
	       "scenario", "unit", "linux", "ksock", "k/linux", "memcpy",
	       "l/mcpy", "k/mcpy", "target for ksock", "met?");
	snprintf(lv, sizeof(lv), "%.0f", memcpy_mibps);
	print_line("memcpy 64 KiB blocks, at start", "MiB/s", lv, "", NAN,
		   NAN, 1, NAN, "", "");
	snprintf(lv, sizeof(lv), "%.0f", memcpy2_mibps);
	print_line("memcpy, 2 threads at once", "MiB/s", lv, "", NAN, NAN,
		   memcpy2_mibps / memcpy_mibps, NAN, "", "");
	for (i = 0; i < nrows; i++) {
		row = &rows[i];
		m = target_met(rows, nrows, row, what, sizeof(what), got,
			       sizeof(got));
		if (m < 0)
			snprintf(met, sizeof(met), "%s", what[0] ? "-" : "");
		else
			snprintf(met, sizeof(met), "%s (%s)", m ? "yes" : "NO",
				 got);
		for (second = 0; second < (row->s->unit == BENCH_LATENCY ?
					   2 : 1); second++) {
			const struct side_stats *l = &row->side[0];
			const struct side_stats *k = &row->side[1];
			double lm = second ? l->med2 : l->med;
			double km = second ? k->med2 : k->med;
			bool tp = row->s->unit == BENCH_MIBPS;

			snprintf(name, sizeof(name), "%s%s%s", row->s->name,
				 row->s->unit != BENCH_LATENCY ? "" :
				 second ? " p99" : " p50",
				 row->one_cpu ? " [1 CPU]" : "");
			side_cell(lv, sizeof(lv), l, second);
			side_cell(kv, sizeof(kv), k, second);
			print_line(name, unit_name(row->s->unit), lv, kv,
				   side_ok(l) && side_ok(k) ? km / lm : NAN,
				   tp ? row->mcpy : NAN,
				   tp && side_ok(l) ? lm / row->mcpy : NAN,
				   tp && side_ok(k) ? km / row->mcpy : NAN,
				   second ? "" : what, second ? "" : met);
		}
	}
	for (i = 0; i < nrows; i++) {
		row = &rows[i];
		if (row->s->unit == BENCH_BYTES && row->side[0].n > 0)
			printf("%s: %ld objects per run\n", row->s->name,
			       row->side[0].n);
		for (m = 0; m < 2; m++)
			if (row->s->unit == BENCH_BYTES &&
			    side_ok(&row->side[m]))
				printf("  %s: %s\n", sides[m]->name,
				       row->side[m].detail[row->side[m].imed]);
	}
	for (i = 0; i < nrows; i++)
		for (m = 0; m < 2; m++)
			if (rows[i].side[m].status != 0)
				printf("%s%s on %s: %s\n", rows[i].s->id,
				       rows[i].one_cpu ? " [1 CPU]" : "",
				       sides[m]->name, rows[i].side[m].err);
}

/* -- the JSON copy -- */

static void
json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void
json_number(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fprintf(f, "null");
	else
		fprintf(f, "%.6g", v);
}

static void
json_side(FILE *f, const struct row *row, int i)
{
	const struct side_stats *st = &row->side[i];
	int j;

	fprintf(f, "{\"n\": %ld, \"status\": ", st->n);
	json_string(f, st->status == 0 ? "ok" :
		    st->status == BENCH_UNSUPPORTED ? "unsupported" : "error");
	fprintf(f, ", \"error\": ");
	if (st->status == 0)
		fprintf(f, "null");
	else
		json_string(f, st->err);
	fprintf(f, ", \"median\": ");
	json_number(f, side_ok(st) ? st->med : NAN);
	if (row->s->unit == BENCH_LATENCY) {
		fprintf(f, ", \"p99_median\": ");
		json_number(f, side_ok(st) ? st->med2 : NAN);
	}
	if (row->s->unit == BENCH_BYTES) {
		fprintf(f, ", \"detail\": ");
		json_string(f, side_ok(st) ? st->detail[st->imed] : "");
	}
	fprintf(f, ", \"samples\": [");
	for (j = 0; j < st->nv; j++) {
		fprintf(f, j ? ", " : "");
		json_number(f, st->v[j]);
	}
	fprintf(f, "]");
	if (row->s->unit == BENCH_LATENCY) {
		fprintf(f, ", \"p99_samples\": [");
		for (j = 0; j < st->nv; j++) {
			fprintf(f, j ? ", " : "");
			json_number(f, st->v2[j]);
		}
		fprintf(f, "]");
	}
	fprintf(f, "}");
}

static int
write_json(const char *path, const struct row *rows, size_t nrows,
	   double memcpy_mibps, const double *mc, int nmc, double memcpy2_mibps)
{
	char what[64], got[32];
	struct utsname u;
	const struct row *row;
	size_t i;
	FILE *f;
	int j, m;

	f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	uname(&u);
	fprintf(f, "{\n  \"kernel\": ");
	json_string(f, u.release);
	fprintf(f, ",\n  \"cpus\": %ld,\n  \"repetitions\": %d,\n"
		"  \"seconds_per_run\": %g,\n  \"memcpy_mibps\": ",
		sysconf(_SC_NPROCESSORS_ONLN), opt.reps, opt.seconds);
	json_number(f, memcpy_mibps);
	fprintf(f, ",\n  \"memcpy_samples\": [");
	for (j = 0; j < nmc; j++) {
		fprintf(f, j ? ", " : "");
		json_number(f, mc[j]);
	}
	fprintf(f, "],\n  \"memcpy_2_threads_mibps\": ");
	json_number(f, memcpy2_mibps);
	fprintf(f, ",\n  \"scenarios\": [\n");
	for (i = 0; i < nrows; i++) {
		row = &rows[i];
		m = target_met(rows, nrows, row, what, sizeof(what), got,
			       sizeof(got));
		fprintf(f, "    {\"id\": ");
		json_string(f, row->s->id);
		fprintf(f, ", \"one_cpu\": %s", row->one_cpu ? "true" : "false");
		fprintf(f, ", \"name\": ");
		json_string(f, row->s->name);
		fprintf(f, ", \"unit\": ");
		json_string(f, unit_name(row->s->unit));
		fprintf(f, ",\n     \"linux\": ");
		json_side(f, row, 0);
		fprintf(f, ",\n     \"ksock\": ");
		json_side(f, row, 1);
		fprintf(f, ",\n     \"ratio\": ");
		json_number(f, side_ok(&row->side[0]) &&
			    side_ok(&row->side[1]) ?
			    row->side[1].med / row->side[0].med : NAN);
		if (row->s->unit == BENCH_MIBPS) {
			fprintf(f, ", \"memcpy_mibps\": ");
			json_number(f, row->mcpy);
			fprintf(f, ", \"linux_memcpy_fraction\": ");
			json_number(f, side_ok(&row->side[0]) ?
				    row->side[0].med / row->mcpy : NAN);
			fprintf(f, ", \"ksock_memcpy_fraction\": ");
			json_number(f, side_ok(&row->side[1]) ?
				    row->side[1].med / row->mcpy : NAN);
		}
		fprintf(f, ", \"target\": ");
		if (what[0])
			json_string(f, what);
		else
			fprintf(f, "null");
		fprintf(f, ", \"met\": %s}%s\n",
			m < 0 ? "null" : m ? "true" : "false",
			i + 1 < nrows ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	return fclose(f) == 0 ? 0 : -1;
}

/* -- the smoke check -- */

static int
smoke(void)
{
	struct bench_result r;
	int passed = 0, failed = 0, skipped = 0, i, ret, fds0;
	long allocs0;
	size_t j;

	for (j = 0; j < bench_nscns; j++) {
		const struct bench_scn *s = &bench_scns[j];

		for (i = 0; i < 2; i++) {
			const struct bench_ops *ops = sides[i];

			if (s->link && !bench_link_up()) {
				printf("skip %-14s %s: %s\n", s->id, ops->name,
				       bench_link_why());
				skipped++;
				continue;
			}
			if (i == 1 && opt.linux_only) {
				printf("skip %-14s %s (--linux-only)\n",
				       s->id, ops->name);
				skipped++;
				continue;
			}
			fds0 = ops->fd_count();
			allocs0 = ops->mem_allocs();
			ret = run_once(ops, s, s->smoke_n, &r);
			if (ret == 0 && ops->fd_count() != fds0) {
				ret = -1;
				snprintf(r.err, sizeof(r.err),
					 "%d descriptors left open",
					 ops->fd_count() - fds0);
			}
			if (ret == 0 && ops->mem_allocs() != allocs0) {
				ret = -1;
				snprintf(r.err, sizeof(r.err),
					 "%ld allocations left behind",
					 ops->mem_allocs() - allocs0);
			}
			if (ret == BENCH_UNSUPPORTED && i == 1) {
				printf("skip %-14s %s: not supported yet (%s)\n",
				       s->id, ops->name, r.err);
				skipped++;
			} else if (ret == 0) {
				printf("ok   %-14s %s: moved %lld of %lld\n",
				       s->id, ops->name, r.moved, r.want);
				passed++;
			} else {
				printf("FAIL %-14s %s: %s (moved %lld of %lld)\n",
				       s->id, ops->name, r.err, r.moved,
				       r.want);
				failed++;
			}
			fflush(stdout);
		}
	}
	printf("bench-smoke: %d passed, %d failed, %d skipped\n", passed,
	       failed, skipped);
	return failed ? 1 : 0;
}

/* -- main -- */

static void
usage(void)
{
	fprintf(stderr, "usage: bench [--reps N] [--ms MS] [--only ID,...] "
		"[--linux-only | --ksock-only] [--no-pin] [--json FILE]\n"
		"       bench --smoke [--linux-only]\n");
	exit(2);
}

static bool
selected(const char *id)
{
	return bench_selected(opt.only, id);
}

/* Whether a row across the link is to run (bench_inet_link.c). */
static bool
links_selected(void)
{
	for (size_t j = 0; j < bench_nscns; j++)
		if (bench_scns[j].link && selected(bench_scns[j].id))
			return true;
	return false;
}

/* Room for 10,000 pairs: raise the descriptor limit as far as allowed. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_max < WANT_NOFILE) {
		struct rlimit up = { WANT_NOFILE, WANT_NOFILE };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return;
	}
	rl.rlim_cur = rl.rlim_max < WANT_NOFILE ? rl.rlim_max : WANT_NOFILE;
	setrlimit(RLIMIT_NOFILE, &rl);
}

int
main(int argc, char **argv)
{
	static struct row rows[128];
	double mc[MAX_REPS], mc2[MAX_REPS], memcpy_mibps, memcpy2_mibps;
	size_t nrows = 0, j;
	int i, nmc, nmc2, status = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--smoke") == 0)
			opt.smoke = true;
		else if (strcmp(argv[i], "--linux-only") == 0)
			opt.linux_only = true;
		else if (strcmp(argv[i], "--ksock-only") == 0)
			opt.ksock_only = true;
		else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
			opt.reps = atoi(argv[++i]);
		else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc)
			opt.seconds = atof(argv[++i]) / 1000;
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			opt.only = argv[++i];
		else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
			opt.json = argv[++i];
		else if (strcmp(argv[i], "--no-pin") == 0)
			opt.no_pin = true;
		else
			usage();
	}
	if (opt.reps < 1 || opt.reps > MAX_REPS || opt.seconds <= 0 ||
	    (opt.linux_only && opt.ksock_only) || (opt.smoke && opt.ksock_only))
		usage();
	signal(SIGPIPE, SIG_IGN);
	bench_watchdog_install("bench");
	if (sched_getaffinity(0, sizeof(all_cpus), &all_cpus) != 0)
		opt.no_pin = true;
	raise_nofile();
	/* Before any thread: the link rows' network namespace. */
	if (links_selected() && bench_link_setup() != 0)
		fprintf(stderr, "bench: the link rows are skipped: %s\n",
			bench_link_why());
	if (!opt.linux_only && bench_ksock_init() != 0) {
		fprintf(stderr, "bench: ksp_init: %s\n", strerror(errno));
		return 1;
	}
	if (opt.smoke) {
		status = smoke();
		goto fini;
	}

	memcpy_mibps = measure_memcpy(1, mc, &nmc);
	memcpy2_mibps = measure_memcpy(2, mc2, &nmc2);
	printf("bench: %d repetitions of ~%.0f ms per side, alternating; "
	       "memcpy %.0f MiB/s\n", opt.reps, opt.seconds * 1000,
	       memcpy_mibps);
	/* Every scenario on every CPU the process may use, then (but for
	 * the memory figures, which one thread takes) with all threads of
	 * both sides on one CPU. */
	for (int pinned = 0; pinned < 2; pinned++) {
		if (pinned && (opt.no_pin || !pin_one_cpu()))
			break;
		for (j = 0; j < bench_nscns &&
		     nrows < sizeof(rows) / sizeof(rows[0]); j++) {
			if (!selected(bench_scns[j].id) ||
			    (pinned && bench_scns[j].unit == BENCH_BYTES))
				continue;
			if (bench_scns[j].link && !bench_link_up()) {
				if (!pinned)
					printf("  %s: skipped: %s\n",
					       bench_scns[j].name,
					       bench_link_why());
				continue;
			}
			rows[nrows].s = &bench_scns[j];
			rows[nrows].one_cpu = pinned;
			printf("  %s%s...\n", bench_scns[j].name,
			       pinned ? " [1 CPU]" : "");
			fflush(stdout);
			run_row(&rows[nrows]);
			nrows++;
		}
		if (pinned)
			unpin();
	}
	print_table(rows, nrows, memcpy_mibps, memcpy2_mibps);
	if (opt.json != NULL &&
	    write_json(opt.json, rows, nrows, memcpy_mibps, mc, nmc,
		       memcpy2_mibps) != 0)
		status = 1;
	for (j = 0; j < nrows && !opt.ksock_only; j++)
		if (rows[j].side[0].status != 0)
			status = 1;	/* Linux is the reference: it must work */
fini:
	bench_link_teardown();
	if (!opt.linux_only && bench_ksock_fini() != 0) {
		fprintf(stderr, "bench: ksp_fini: sockets left open\n");
		status = 1;
	}
	return status;
}

/*
 * What ksockd's test programs t_scale and t_diag share (t_util.c): the
 * runner's bookkeeping and waiting. Not a public header.
 */
#ifndef KSOCK_KSOCKD_T_UTIL_H
#define KSOCK_KSOCKD_T_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

/* Cases that passed, failed and were skipped so far. */
extern int ksd_t_passed, ksd_t_failed, ksd_t_skipped;

int64_t	ksd_t_now_ns(void);
void	ksd_t_sleep_ms(int ms);
/* Waits for @pid: its exit status, 128 + the signal that ended it, or
 * -1. */
int	ksd_t_reap(pid_t pid);
/* Prints "ok   NAME" or "FAIL NAME" and counts it. */
void	ksd_t_result(bool ok, const char *name);
/* Prints "skip NAME (WHY)" and counts it. */
void	ksd_t_skip(const char *name, const char *why);
/* Prints the runner line "N passed, N failed, N skipped"; returns the
 * exit status (0: none failed). */
int	ksd_t_summary(void);
/* Whether two STATUS replies say the server holds the same. */
bool	ksd_t_status_same(const struct ksd_status *a,
			  const struct ksd_status *b);
void	ksd_t_status_print(const char *what, const struct ksd_status *s);

#endif /* KSOCK_KSOCKD_T_UTIL_H */

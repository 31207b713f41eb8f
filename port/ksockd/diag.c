/*
 * ksockd's KSD_DIAG: the server's sockets, as ksockstat lists them, with
 * the pids of the client processes that hold each one.
 *
 * The listing is ksock's own introspection (ksp_diag_snapshot(), which
 * walks every socket with ks_diag_walk()), in the diag server's wire
 * format (port/hosted/diag.c), plus a "pids" line after each socket
 * some process holds: the pids come from the descriptor tables of the
 * connected clients. A socket only in flight (SCM_RIGHTS) or only in a
 * fork/exec hand-over is listed without pids. A window holds about a
 * thousand sockets, so a longer listing comes in pages, each a whole
 * snapshot in the wire format listing the sockets from a given id on
 * (ids only grow, so a socket made between two pages is listed once or
 * not at all, as /proc/net/unix read in pieces does).
 *
 * Whom a caller sees: every socket, as /proc/net/unix shows every
 * socket; but the pids of another user's processes only to euid 0, as
 * ss -p shows only the processes one may look into.
 *
 * Locks: none (ksockd's one thread); a table's lock is taken to read
 * it, as everywhere in the server.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ksock/posix.h>

#include "ksockd.h"

static bool
may_see_pids(const struct ksd_client *caller, const struct ksd_client *c)
{
	return caller->proc.euid == 0 || caller->proc.uid == c->proc.uid;
}

/* Records @c's pid on every socket of its table. */
static int
add_holder(struct ksp_diag_snapshot *s, struct ksd_client *c)
{
	struct ksp_fdtable *t = &c->proc.fdt;
	int err = 0;

	pthread_mutex_lock(&t->lock);
	for (int fd = 0; fd < t->cap && err == 0; fd++) {
		struct ksp_file *f = t->ent[fd].file;

		if (f == NULL || f->so == NULL)
			continue;
		/* ENOENT: closed meanwhile, not listed; cannot happen on
		 * this one thread, and harmless if it did. */
		if (ksp_diag_add_pid(s, ks_sock_id(f->so), c->proc.pid) < 0 &&
		    errno != ENOENT)
			err = -KS_ENOMEM;
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}

/* See ksockd.h. */
long
ksd__diag(struct ksd_client *caller, const struct ksd_call *k,
	  unsigned char *win, struct ksd_rep *rep)
{
	uint64_t from = (uint64_t)(uint32_t)k->a[0] |
			(uint64_t)(uint32_t)k->a[1] << 32, next;
	struct ksp_diag_snapshot *s;
	char *buf = NULL;
	size_t len = 0;
	long n, err = 0;
	FILE *f;

	if (ksp_diag_snapshot(&s) < 0)
		return -KS_ENOMEM;
	/* A pids column even when the caller may see no pid. */
	if (ksp_diag_with_pids(s) < 0)
		err = -KS_ENOMEM;
	for (struct ksd_client *c = ksd__first_client(); c != NULL && err == 0;
	     c = c->next)
		if (c->welcomed && may_see_pids(caller, c))
			err = add_holder(s, c);
	if (err < 0)
		goto free_snapshot;
	f = open_memstream(&buf, &len);
	if (f == NULL) {
		err = -KS_ENOMEM;
		goto free_snapshot;
	}
	n = ksp_diag_snapshot_write_page(f, s, from, k->datalen, &next);
	if (n < 0)
		err = errno == EMSGSIZE ? -KS_EMSGSIZE : -KS_ENOMEM;
	if (fclose(f) != 0 && err == 0)
		err = -KS_ENOMEM;
	if (err == 0) {
		/* The page is at most k->datalen bytes: the window's. */
		memcpy(win, buf, len);
		rep->token = next;
		err = (long)len;
	}
	free(buf);
free_snapshot:
	ksp_diag_snapshot_free(s);
	return err;
}

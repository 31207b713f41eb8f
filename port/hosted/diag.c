/*
 * Hosted port: introspection for tools — snapshots of every socket of
 * this ksock instance, their formats (ss-like, /proc/net/unix, JSON), and
 * a server that hands snapshots to ksockstat in another process.
 *
 * Mechanism. ksp_diag_serve() (called by ksp_init() when the environment
 * has KSOCK_DIAG=1) starts one thread that listens on a real Linux
 * abstract socket "\0ksock-diag-<pid>" (pid: the real process's). Each
 * connection gets one snapshot in the wire format below and is closed;
 * ksockstat -p PID connects there. Only a client with the same real uid,
 * or root, is answered (SO_PEERCRED), since abstract sockets carry no
 * permissions. Instances can be found in /proc/net/unix by that name.
 *
 * Wire format, text, one record per line, fields separated by spaces:
 *   ksock-diag 1 <pid>
 *   stats <sockets> <backlog> <nospace> <toomanyrefs> <gc_runs> <gc_collected>
 *   sock <id> <family> <type> <state> <refcount> <shutdown> <uid> <gid>
 *        <peer> <name as hex, or -> <node.a> <node.b> <rqueue> <wqueue>
 *        <rcv_msgs> <rcv_bytes> <npending> <backlog> <fds_queued>
 *        <inflight> <rmem> <rcvbuf> <wmem> <sndbuf> <mem>
 *        <pending ids, comma-separated, or ->
 *   pids <id> <pids, comma-separated, or ->  (ksockd: the processes
 *                                         holding the socket just listed)
 *   end
 *
 * ksockd (port/ksockd/diag.c) sends a long listing in pages of whole
 * records (ksp_diag_snapshot_write_page()), each one a snapshot in
 * this format that lists the sockets from a given id on.
 *
 * Locks: none of ksock's are held while formatting; a snapshot is taken
 * through ks_diag_walk(). The server's state (serve_lock) guards starting
 * and stopping the thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <ksock/posix.h>

#include "hosted.h"

/* Pending ids read per listener before asking for room for all. */
#define DIAG_PENDING_FIRST	64
/* A wire line: 25 numbers, a 216-digit name and the pending ids are
 * read by a growing buffer; this is its first size. */
#define DIAG_LINE_FIRST		1024

/* The processes that hold one socket (ksockd's listings). */
struct diag_holders {
	int32_t		*pid;		/* malloc'd, ascending, or NULL */
	uint32_t	 n, cap;
};

struct ksp_diag_snapshot {
	int32_t			 pid;
	struct ks_diag_stats	 stats;
	struct ks_diag_sock	*socks;		/* .pending: malloc'd, or NULL */
	size_t			 n, cap;
	/* socks[i]'s holders, cap entries; NULL until one is recorded,
	 * and then the listing prints a pids column. */
	struct diag_holders	*holders;
};

static void
snapshot_free_socks(struct ksp_diag_snapshot *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->socks[i].pending);
	free(s->socks);
	if (s->holders != NULL)
		for (size_t i = 0; i < s->n; i++)
			free(s->holders[i].pid);
	free(s->holders);
}

/* Frees @s (NULL is fine). */
void
ksp_diag_snapshot_free(struct ksp_diag_snapshot *s)
{
	if (s == NULL)
		return;
	snapshot_free_socks(s);
	free(s);
}

static int
snapshot_add(struct ksp_diag_snapshot *s, struct ks_diag_sock **out)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct ks_diag_sock *p = realloc(s->socks, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		s->socks = p;
		if (s->holders != NULL) {
			struct diag_holders *h = realloc(s->holders,
							 cap * sizeof(*h));

			if (h == NULL)
				return -ENOMEM;	/* socks grew: harmless */
			memset(h + s->cap, 0, (cap - s->cap) * sizeof(*h));
			s->holders = h;
		}
		s->cap = cap;
	}
	*out = &s->socks[s->n++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

/* Keeps only the ids written: pending_cap becomes their count. */
static int
keep_pending(struct ks_diag_sock *rec, const uint64_t *ids)
{
	uint32_t n = rec->npending < rec->pending_cap ? rec->npending :
		     rec->pending_cap;

	rec->pending = NULL;
	rec->pending_cap = 0;
	if (n == 0)
		return 0;
	rec->pending = malloc(n * sizeof(*ids));
	if (rec->pending == NULL)
		return -ENOMEM;
	memcpy(rec->pending, ids, n * sizeof(*ids));
	rec->pending_cap = n;
	return 0;
}

/* ks_diag_walk's callback: one record per open socket. */
static int
snapshot_one(struct ks_sock *so, void *arg)
{
	struct ksp_diag_snapshot *s = arg;
	uint64_t first[DIAG_PENDING_FIRST], *ids = first;
	struct ks_diag_sock rec;
	struct ks_diag_sock *slot;
	int err;

	rec.pending = first;
	rec.pending_cap = DIAG_PENDING_FIRST;
	if (ks_diag_sock(so, &rec) < 0)
		return 0;	/* closed: not listed */
	if (rec.npending > DIAG_PENDING_FIRST) {
		/* Room for all of them, and some that arrive meanwhile. */
		ids = malloc((rec.npending + 16) * sizeof(*ids));
		if (ids == NULL)
			return -ENOMEM;
		rec.pending = ids;
		rec.pending_cap = rec.npending + 16;
		if (ks_diag_sock(so, &rec) < 0) {
			free(ids);
			return 0;
		}
	}
	/* The walk's own reference is not the socket's. */
	rec.refcount--;
	err = keep_pending(&rec, ids);
	if (ids != first)
		free(ids);
	if (err < 0)
		return err;
	err = snapshot_add(s, &slot);
	if (err < 0) {
		free(rec.pending);
		return err;
	}
	*slot = rec;
	return 0;
}

static int
by_id(const void *a, const void *b)
{
	const struct ks_diag_sock *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Takes a snapshot of this process's ksock instance (ksock must be
 * started). Returns 0 with *@out (free with ksp_diag_snapshot_free), or
 * -1/ENOMEM, or -1/ESRCH when ksock is not running.
 */
int
ksp_diag_snapshot(struct ksp_diag_snapshot **out)
{
	struct ksp_diag_snapshot *s = calloc(1, sizeof(*s));
	int err;

	if (ks_port() == NULL) {
		free(s);
		errno = ESRCH;
		return -1;
	}
	if (s == NULL) {
		errno = ENOMEM;
		return -1;
	}
	s->pid = (int32_t)getpid();
	err = ks_diag_walk(snapshot_one, s);
	if (err < 0) {
		ksp_diag_snapshot_free(s);
		errno = -err;
		return -1;
	}
	ks_diag_stats(&s->stats);
	/* No socket, no array: qsort's array must not be NULL even then. */
	if (s->n > 0)
		qsort(s->socks, s->n, sizeof(*s->socks), by_id);
	*out = s;
	return 0;
}

/* The index of the socket @id in @s (sorted by id), or -1. */
static long
sock_index(const struct ksp_diag_snapshot *s, uint64_t id)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->socks[mid].id == id)
			return (long)mid;
		if (s->socks[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Gives @s its holders (none yet for any socket): from now on it lists
 * a pids column. */
static int
holders_start(struct ksp_diag_snapshot *s)
{
	if (s->holders == NULL) {
		/* One at least: a snapshot of no socket has cap 0. */
		s->holders = calloc(s->cap > 0 ? s->cap : 1,
				    sizeof(*s->holders));
		if (s->holders == NULL)
			return -ENOMEM;
	}
	return 0;
}

/* See posix.h. */
int
ksp_diag_with_pids(struct ksp_diag_snapshot *s)
{
	if (holders_start(s) < 0) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Adds @pid to socket @i's holders, kept ascending and without
 * repeats (a process may hold a socket through several descriptors). */
static int
holder_add(struct ksp_diag_snapshot *s, size_t i, int32_t pid)
{
	struct diag_holders *h;
	uint32_t at;

	if (holders_start(s) < 0)
		return -ENOMEM;
	h = &s->holders[i];
	for (at = 0; at < h->n && h->pid[at] < pid; at++)
		;
	if (at < h->n && h->pid[at] == pid)
		return 0;
	if (h->n == h->cap) {
		uint32_t cap = h->cap ? 2 * h->cap : 4;
		int32_t *p = realloc(h->pid, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		h->pid = p;
		h->cap = cap;
	}
	memmove(h->pid + at + 1, h->pid + at, (h->n - at) * sizeof(*h->pid));
	h->pid[at] = pid;
	h->n++;
	return 0;
}

/* See posix.h. */
int
ksp_diag_add_pid(struct ksp_diag_snapshot *s, uint64_t id, int32_t pid)
{
	long i = sock_index(s, id);
	int err;

	if (i < 0) {
		errno = ENOENT;
		return -1;
	}
	err = holder_add(s, (size_t)i, pid);
	if (err < 0) {
		errno = -err;
		return -1;
	}
	return 0;
}

/* -- the wire format -- */

static void
put_hex(FILE *f, const unsigned char *p, size_t n)
{
	if (n == 0) {
		fputc('-', f);
		return;
	}
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
}

static void
write_head(FILE *f, const struct ksp_diag_snapshot *s)
{
	const struct ks_diag_stats *st = &s->stats;

	fprintf(f, "ksock-diag 1 %" PRId32 "\n", s->pid);
	fprintf(f, "stats %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
		" %" PRIu64 " %" PRIu64 "\n", st->sockets, st->refused_backlog,
		st->refused_nospace, st->refused_toomanyrefs, st->gc_runs,
		st->gc_collected);
}

/* Socket @i's record: its sock line, and its pids line if it has
 * holders. */
static void
write_record(FILE *f, const struct ksp_diag_snapshot *s, size_t i)
{
	const struct ks_diag_sock *r = &s->socks[i];
	const struct diag_holders *h = s->holders ? &s->holders[i] : NULL;

	fprintf(f, "sock %" PRIu64 " %d %d %d %u %u %u %u %" PRIu64 " ",
		r->id, r->family, r->type, r->state, r->refcount,
		r->shutdown, r->uid, r->gid, r->peer_id);
	put_hex(f, r->name, r->name_len);
	fprintf(f, " %" PRIu64 " %" PRIu64 " %u %u %u %u %u %u %u %u"
		" %" PRIu64 " %u %" PRIu64 " %u %" PRIu64 " ",
		r->node.a, r->node.b, r->rqueue, r->wqueue, r->rcv_msgs,
		r->rcv_bytes, r->npending, r->backlog, r->fds_queued,
		r->inflight, r->rmem_alloc, r->rcvbuf, r->wmem_alloc,
		r->sndbuf, r->mem);
	if (r->pending_cap == 0)
		fputc('-', f);
	for (uint32_t j = 0; j < r->pending_cap; j++)
		fprintf(f, "%s%" PRIu64, j ? "," : "", r->pending[j]);
	fputc('\n', f);
	if (h != NULL) {
		fprintf(f, "pids %" PRIu64 " ", r->id);
		if (h->n == 0)
			fputc('-', f);
		for (uint32_t j = 0; j < h->n; j++)
			fprintf(f, "%s%" PRId32, j ? "," : "", h->pid[j]);
		fputc('\n', f);
	}
}

/* Writes @s in the wire format to @f. Returns 0 or -1/errno. */
int
ksp_diag_snapshot_write(FILE *f, const struct ksp_diag_snapshot *s)
{
	write_head(f, s);
	for (size_t i = 0; i < s->n; i++)
		write_record(f, s, i);
	fprintf(f, "end\n");
	fflush(f);
	return ferror(f) ? -1 : 0;
}

/*
 * See posix.h. Each record is formatted in a scratch stream first, so
 * a page ends before the first record that would not fit.
 */
long
ksp_diag_snapshot_write_page(FILE *f, const struct ksp_diag_snapshot *s,
			     uint64_t from, size_t max, uint64_t *next)
{
	static const char end[] = "end\n";
	char *rec = NULL;
	size_t reclen = 0, used;
	long first = 0;
	FILE *scratch;
	int err = 0;

	*next = 0;
	scratch = open_memstream(&rec, &reclen);
	if (scratch == NULL)
		return -1;
	write_head(scratch, s);
	fflush(scratch);
	used = reclen;
	if (used + sizeof(end) - 1 > max) {
		err = EMSGSIZE;
		goto close_scratch;
	}
	fwrite(rec, 1, reclen, f);
	while ((size_t)first < s->n && s->socks[first].id < from)
		first++;
	for (size_t i = (size_t)first; i < s->n; i++) {
		rewind(scratch);
		write_record(scratch, s, i);
		fflush(scratch);
		reclen = (size_t)ftell(scratch);
		if (ferror(scratch)) {
			err = ENOMEM;
			goto close_scratch;
		}
		if (used + reclen + sizeof(end) - 1 > max) {
			if (i == (size_t)first) {
				err = EMSGSIZE;	/* one record alone */
				goto close_scratch;
			}
			*next = s->socks[i].id;
			break;
		}
		fwrite(rec, 1, reclen, f);
		used += reclen;
	}
	fputs(end, f);
	used += sizeof(end) - 1;
	fflush(f);
	if (ferror(f))
		err = EIO;
close_scratch:
	fclose(scratch);
	free(rec);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return (long)used;
}

static int
hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Parses a "sock" line's fields after the keyword. Returns 0 or -EPROTO. */
static int
parse_sock(char *line, struct ks_diag_sock *r)
{
	char name[2 * KS_UNIX_PATH_MAX + 2], *ids;
	int used = 0;

	if (sscanf(line, "%" SCNu64 " %d %d %d %u %u %u %u %" SCNu64
		   " %217s %" SCNu64 " %" SCNu64 " %u %u %u %u %u %u %u %u"
		   " %" SCNu64 " %u %" SCNu64 " %u %" SCNu64 " %n",
		   &r->id, &r->family, &r->type, &r->state, &r->refcount,
		   &r->shutdown, &r->uid, &r->gid, &r->peer_id, name,
		   &r->node.a, &r->node.b, &r->rqueue, &r->wqueue, &r->rcv_msgs,
		   &r->rcv_bytes, &r->npending, &r->backlog, &r->fds_queued,
		   &r->inflight, &r->rmem_alloc, &r->rcvbuf, &r->wmem_alloc,
		   &r->sndbuf, &r->mem, &used) != 25 || used == 0)
		return -EPROTO;
	if (strcmp(name, "-") != 0) {
		size_t n = strlen(name);

		if (n % 2 != 0 || n / 2 > KS_UNIX_PATH_MAX)
			return -EPROTO;
		for (size_t i = 0; i < n / 2; i++) {
			int hi = hex_digit(name[2 * i]), lo = hex_digit(name[2 * i + 1]);

			if (hi < 0 || lo < 0)
				return -EPROTO;
			r->name[i] = (unsigned char)(hi << 4 | lo);
		}
		r->name_len = (uint32_t)(n / 2);
	}
	ids = line + used;
	ids[strcspn(ids, "\n")] = '\0';
	if (strcmp(ids, "-") == 0 || *ids == '\0')
		return 0;
	for (char *p = ids; *p != '\0'; p++)
		if (*p == ',')
			r->pending_cap++;
	r->pending_cap++;
	r->pending = calloc(r->pending_cap, sizeof(*r->pending));
	if (r->pending == NULL)
		return -ENOMEM;
	for (uint32_t j = 0; j < r->pending_cap; j++) {
		char *end;

		r->pending[j] = strtoull(ids, &end, 10);
		if (end == ids || (*end != ',' && *end != '\0'))
			return -EPROTO;
		ids = end + (*end == ',');
	}
	return 0;
}

/* A pids line: it follows the sock line of the socket it names. */
static int
parse_pids(struct ksp_diag_snapshot *s, char *line)
{
	uint64_t id;
	char *p, *end;
	int used = 0;

	if (sscanf(line, "%" SCNu64 " %n", &id, &used) != 1 || used == 0 ||
	    s->n == 0 || s->socks[s->n - 1].id != id)
		return -EPROTO;
	p = line + used;
	if (strcmp(p, "-\n") == 0 || strcmp(p, "-") == 0)
		return holders_start(s);	/* held by no process */
	for (;;) {
		long pid = strtol(p, &end, 10);
		int err;

		if (end == p || pid <= 0 || pid > INT32_MAX)
			return -EPROTO;
		err = holder_add(s, s->n - 1, (int32_t)pid);
		if (err < 0)
			return err;
		if (*end != ',')
			break;
		p = end + 1;
	}
	return *end == '\n' || *end == '\0' ? 0 : -EPROTO;
}

/*
 * Reads a snapshot in the wire format from @f. Returns 0 with *@out, or
 * -1/errno (EPROTO for a malformed one, ENOMEM).
 */
int
ksp_diag_snapshot_read(FILE *f, struct ksp_diag_snapshot **out)
{
	struct ksp_diag_snapshot *s = calloc(1, sizeof(*s));
	struct ks_diag_stats *st;
	char *line = NULL;
	size_t cap = 0;
	bool ended = false;
	int version, err = -EPROTO;

	if (s == NULL) {
		errno = ENOMEM;
		return -1;
	}
	st = &s->stats;
	if (getline(&line, &cap, f) < 0 ||
	    sscanf(line, "ksock-diag %d %" SCNd32, &version, &s->pid) != 2 ||
	    version != 1)
		goto fail;
	while (getline(&line, &cap, f) >= 0) {
		struct ks_diag_sock *r;

		if (strncmp(line, "stats ", 6) == 0) {
			if (sscanf(line + 6, "%" SCNu64 " %" SCNu64 " %" SCNu64
				   " %" SCNu64 " %" SCNu64 " %" SCNu64,
				   &st->sockets, &st->refused_backlog,
				   &st->refused_nospace,
				   &st->refused_toomanyrefs, &st->gc_runs,
				   &st->gc_collected) != 6)
				goto fail;
		} else if (strncmp(line, "sock ", 5) == 0) {
			err = snapshot_add(s, &r);
			if (err < 0)
				goto fail;
			err = parse_sock(line + 5, r);
			if (err < 0)
				goto fail;
			err = -EPROTO;
		} else if (strncmp(line, "pids ", 5) == 0) {
			err = parse_pids(s, line + 5);
			if (err < 0)
				goto fail;
			err = -EPROTO;
		} else if (strcmp(line, "end\n") == 0) {
			ended = true;
			break;
		} else {
			goto fail;
		}
	}
	if (!ended)
		goto fail;
	free(line);
	*out = s;
	return 0;

fail:
	free(line);
	ksp_diag_snapshot_free(s);
	errno = -err;
	return -1;
}

/* -- formats -- */

static const char *
state_name(int state)
{
	switch (state) {
	case KS_DIAG_UNCONNECTED:	return "unconnected";
	case KS_DIAG_LISTENING:		return "listening";
	case KS_DIAG_CONNECTED:		return "connected";
	case KS_DIAG_EMBRYO:		return "embryo";
	case KS_DIAG_DISCONNECTED:	return "disconnected";
	default:			return "unknown";
	}
}

/* The names ss prints: an embryo is the server side of a connection not
 * yet accepted (SYN-RECV), a disconnected socket's peer has closed
 * (CLOSE-WAIT). */
static const char *
ss_state_name(int state)
{
	switch (state) {
	case KS_DIAG_UNCONNECTED:	return "UNCONN";
	case KS_DIAG_LISTENING:		return "LISTEN";
	case KS_DIAG_CONNECTED:		return "ESTAB";
	case KS_DIAG_EMBRYO:		return "SYN-RECV";
	case KS_DIAG_DISCONNECTED:	return "CLOSE-WAIT";
	default:			return "UNKNOWN";
	}
}

static const char *
type_name(int type)
{
	switch (type) {
	case KS_SOCK_STREAM:	return "stream";
	case KS_SOCK_DGRAM:	return "dgram";
	case KS_SOCK_SEQPACKET:	return "seqpacket";
	default:		return "unknown";
	}
}

static const char *
ss_netid(int type)
{
	switch (type) {
	case KS_SOCK_STREAM:	return "u_str";
	case KS_SOCK_DGRAM:	return "u_dgr";
	case KS_SOCK_SEQPACKET:	return "u_seq";
	default:		return "u_???";
	}
}

/* See posix.h. */
int
ksp_diag_parse_state(const char *name)
{
	static const char *const names[][3] = {
		[KS_DIAG_UNCONNECTED]	= { "unconnected", "UNCONN", "unconn" },
		[KS_DIAG_LISTENING]	= { "listening", "LISTEN", "listen" },
		[KS_DIAG_CONNECTED]	= { "connected", "ESTAB", "estab" },
		[KS_DIAG_EMBRYO]	= { "embryo", "SYN-RECV", "syn-recv" },
		[KS_DIAG_DISCONNECTED]	= { "disconnected", "CLOSE-WAIT",
					    "close-wait" },
	};

	for (int s = KS_DIAG_UNCONNECTED; s <= KS_DIAG_DISCONNECTED; s++)
		for (int i = 0; i < 3; i++)
			if (strcmp(name, names[s][i]) == 0)
				return s;
	return -1;
}

/* See posix.h. */
int
ksp_diag_parse_type(const char *name)
{
	if (strcmp(name, "stream") == 0 || strcmp(name, "u_str") == 0)
		return KS_SOCK_STREAM;
	if (strcmp(name, "dgram") == 0 || strcmp(name, "u_dgr") == 0)
		return KS_SOCK_DGRAM;
	if (strcmp(name, "seqpacket") == 0 || strcmp(name, "u_seq") == 0)
		return KS_SOCK_SEQPACKET;
	return -1;
}

/*
 * The name as /proc/net/unix prints it (Linux's unix_seq_show()): a path
 * as it is, an abstract name with '@' for its leading NUL, every other
 * NUL as '@' too. @out holds KS_UNIX_PATH_MAX + 1 bytes; "" unbound.
 */
static void
printed_name(const struct ks_diag_sock *r, char *out)
{
	for (uint32_t i = 0; i < r->name_len; i++)
		out[i] = r->name[i] != 0 ? (char)r->name[i] : '@';
	out[r->name_len] = '\0';
}

static bool
passes(const struct ks_diag_sock *r, const struct ksp_diag_filter *flt)
{
	char name[KS_UNIX_PATH_MAX + 1];

	if (flt == NULL)
		return true;
	if (flt->types != 0 && !(flt->types & (1u << r->type)))
		return false;
	if (flt->states != 0 && !(flt->states & (1u << r->state)))
		return false;
	if (flt->name != NULL) {
		printed_name(r, name);
		if (strstr(name, flt->name) == NULL)
			return false;
	}
	return true;
}

/* /proc/net/unix: Linux prints the socket's kernel address where we
 * print the id, and an embryo (which has no inode yet) with inode 0 and
 * state 02, SS_CONNECTING. */
static void
print_proc(FILE *f, const struct ksp_diag_snapshot *s,
	   const struct ksp_diag_filter *flt)
{
	char name[KS_UNIX_PATH_MAX + 1];

	fprintf(f, "Num       RefCount Protocol Flags    Type St Inode Path\n");
	for (size_t i = 0; i < s->n; i++) {
		const struct ks_diag_sock *r = &s->socks[i];
		unsigned st;

		if (!passes(r, flt))
			continue;
		switch (r->state) {
		case KS_DIAG_CONNECTED:
		case KS_DIAG_DISCONNECTED:	st = 3; break;
		case KS_DIAG_EMBRYO:		st = 2; break;
		default:			st = 1; break;
		}
		fprintf(f, "%016" PRIx64 ": %08X %08X %08X %04X %02X %5" PRIu64,
			r->id, r->refcount, 0u,
			r->state == KS_DIAG_LISTENING ? 0x10000u : 0u,
			(unsigned)r->type, st,
			r->state == KS_DIAG_EMBRYO ? (uint64_t)0 : r->id);
		if (r->name_len > 0) {
			printed_name(r, name);
			fprintf(f, " %s", name);
		}
		fputc('\n', f);
	}
}

/* The holders of socket @i as "12,34" ("-": none), after @prefix;
 * nothing when @s has no holders recorded (not a ksockd listing). */
static void
print_pids(FILE *f, const struct ksp_diag_snapshot *s, size_t i,
	   const char *prefix, const char *none)
{
	const struct diag_holders *h;

	if (s->holders == NULL)
		return;
	h = &s->holders[i];
	fputs(prefix, f);
	if (h->n == 0)
		fputs(none, f);
	for (uint32_t j = 0; j < h->n; j++)
		fprintf(f, "%s%" PRId32, j ? "," : "", h->pid[j]);
}

/* ss -x: Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port,
 * the local address being "name id" and the peer "* peer-id"; then
 * pending connections, the owner, and for ksockd the holders' pids (as
 * ss -p prints users). */
static void
print_ss(FILE *f, const struct ksp_diag_snapshot *s,
	 const struct ksp_diag_filter *flt)
{
	char name[KS_UNIX_PATH_MAX + 1], local[KS_UNIX_PATH_MAX + 32];
	char peer[32];

	fprintf(f, "%-5s %-10s %-6s %-6s %-32s %s\n", "Netid", "State",
		"Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port");
	for (size_t i = 0; i < s->n; i++) {
		const struct ks_diag_sock *r = &s->socks[i];

		if (!passes(r, flt))
			continue;
		printed_name(r, name);
		snprintf(local, sizeof(local), "%s %" PRIu64,
			 r->name_len ? name : "*", r->id);
		snprintf(peer, sizeof(peer), "* %" PRIu64, r->peer_id);
		fprintf(f, "%-5s %-10s %-6u %-6u %-32s %s", ss_netid(r->type),
			ss_state_name(r->state), r->rqueue, r->wqueue, local,
			peer);
		if (r->state == KS_DIAG_LISTENING && r->pending_cap > 0) {
			fprintf(f, " pending:");
			for (uint32_t j = 0; j < r->pending_cap; j++)
				fprintf(f, "%s%" PRIu64, j ? "," : "",
					r->pending[j]);
		}
		fprintf(f, " uid:%u", r->uid);
		print_pids(f, s, i, " pids:", "-");
		fputc('\n', f);
	}
}

/* A JSON string of @n bytes: quotes, backslashes and control bytes
 * escaped, bytes above 0x7f as \u00XX (names need not be UTF-8; the exact
 * bytes are in "name_hex"). */
static void
json_string(FILE *f, const char *p, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void
print_json(FILE *f, const struct ksp_diag_snapshot *s,
	   const struct ksp_diag_filter *flt)
{
	const struct ks_diag_stats *st = &s->stats;
	char name[KS_UNIX_PATH_MAX + 1];
	bool first = true;

	fprintf(f, "{\"pid\": %" PRId32 ", \"stats\": {\"sockets\": %" PRIu64
		", \"refused_backlog\": %" PRIu64 ", \"refused_nospace\": %"
		PRIu64 ", \"refused_toomanyrefs\": %" PRIu64 ", \"gc_runs\": %"
		PRIu64 ", \"gc_collected\": %" PRIu64 "},\n \"sockets\": [",
		s->pid, st->sockets, st->refused_backlog, st->refused_nospace,
		st->refused_toomanyrefs, st->gc_runs, st->gc_collected);
	for (size_t i = 0; i < s->n; i++) {
		const struct ks_diag_sock *r = &s->socks[i];

		if (!passes(r, flt))
			continue;
		fprintf(f, "%s\n  {\"id\": %" PRIu64 ", \"type\": \"%s\", "
			"\"state\": \"%s\", \"refcount\": %u, ", first ? "" : ",",
			r->id, type_name(r->type), state_name(r->state),
			r->refcount);
		first = false;
		printed_name(r, name);
		fprintf(f, "\"name\": ");
		if (r->name_len == 0)
			fprintf(f, "null");
		else
			json_string(f, name, r->name_len);
		fprintf(f, ", \"abstract\": %s, \"name_hex\": \"",
			r->name_len > 0 && r->name[0] == 0 ? "true" : "false");
		for (uint32_t j = 0; j < r->name_len; j++)
			fprintf(f, "%02x", r->name[j]);
		fprintf(f, "\", \"node\": [%" PRIu64 ", %" PRIu64 "], "
			"\"peer\": %" PRIu64 ", \"shutdown\": %u, \"uid\": %u, "
			"\"gid\": %u, \"rqueue\": %u, \"wqueue\": %u, "
			"\"rcv_msgs\": %u, \"rcv_bytes\": %u, ",
			r->node.a, r->node.b, r->peer_id, r->shutdown, r->uid,
			r->gid, r->rqueue, r->wqueue, r->rcv_msgs, r->rcv_bytes);
		if (r->state == KS_DIAG_LISTENING) {
			fprintf(f, "\"backlog\": %u, \"npending\": %u, "
				"\"pending\": [", r->backlog, r->npending);
			for (uint32_t j = 0; j < r->pending_cap; j++)
				fprintf(f, "%s%" PRIu64, j ? ", " : "",
					r->pending[j]);
			fprintf(f, "], ");
		}
		if (s->holders != NULL) {
			print_pids(f, s, i, "\"pids\": [", "");
			fprintf(f, "], ");
		}
		fprintf(f, "\"fds_queued\": %u, \"inflight\": %u, "
			"\"mem\": {\"rmem_alloc\": %" PRIu64 ", \"rcvbuf\": %u, "
			"\"wmem_alloc\": %" PRIu64 ", \"sndbuf\": %u, "
			"\"total\": %" PRIu64 "}}", r->fds_queued, r->inflight,
			r->rmem_alloc, r->rcvbuf, r->wmem_alloc, r->sndbuf,
			r->mem);
	}
	fprintf(f, "\n]}\n");
}

static void
print_stats(FILE *f, const struct ksp_diag_snapshot *s)
{
	const struct ks_diag_stats *st = &s->stats;

	fprintf(f, "sockets %" PRIu64 "\nrefused: backlog full %" PRIu64
		", buffers full %" PRIu64 ", too many refs %" PRIu64
		"\ncollector: runs %" PRIu64 ", sockets collected %" PRIu64 "\n",
		st->sockets, st->refused_backlog, st->refused_nospace,
		st->refused_toomanyrefs, st->gc_runs, st->gc_collected);
}

/* See posix.h. */
int
ksp_diag_print(FILE *f, const struct ksp_diag_snapshot *s, int format,
	       const struct ksp_diag_filter *flt)
{
	switch (format) {
	case KSP_DIAG_SS:	print_ss(f, s, flt); break;
	case KSP_DIAG_PROC:	print_proc(f, s, flt); break;
	case KSP_DIAG_JSON:	print_json(f, s, flt); break;
	case KSP_DIAG_STATS:	print_stats(f, s); break;
	default:
		errno = EINVAL;
		return -1;
	}
	fflush(f);
	return ferror(f) ? -1 : 0;
}

/* See posix.h. */
int
ksp_diag_dump(FILE *f, int format, const struct ksp_diag_filter *flt)
{
	struct ksp_diag_snapshot *s;
	int r;

	if (ksp_diag_snapshot(&s) < 0)
		return -1;
	r = ksp_diag_print(f, s, format, flt);
	ksp_diag_snapshot_free(s);
	return r;
}

/* -- the server -- */

static pthread_mutex_t serve_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t serve_thread;		/* [serve_lock] */
static int serve_fd = -1;		/* [serve_lock] listening, or -1 */

/* See posix.h. */
socklen_t
ksp_diag_addr(pid_t pid, struct sockaddr_un *sun)
{
	int n;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1,
		     "ksock-diag-%d", (int)pid);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

/* Only our own user, or root, may look. */
/* Raw system calls: the preload library, which interposes the libc
 * names, answers with this too. */
static bool
client_is_allowed(int fd)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_PEERCRED, &uc,
		    &len) < 0)
		return false;
	return uc.uid == 0 || uc.uid == getuid();
}

/* See hosted.h. */
void
ksp__diag_answer(int fd)
{
	struct ksp_diag_snapshot *s;
	FILE *f;

	if (!client_is_allowed(fd)) {
		syscall(SYS_close, fd);
		return;
	}
	f = fdopen(fd, "w");
	if (f == NULL) {
		syscall(SYS_close, fd);
		return;
	}
	if (ksp_diag_snapshot(&s) == 0) {
		ksp_diag_snapshot_write(f, s);
		ksp_diag_snapshot_free(s);
	}
	fclose(f);
}

/* Answers until ksp_diag_stop() shuts the listening socket down, which
 * makes accept fail. */
static void *
serve_main(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		ksp__diag_answer(fd);
	}
	return NULL;
}

/* See posix.h. */
int
ksp_diag_serve(void)
{
	struct sockaddr_un sun;
	socklen_t len = ksp_diag_addr(getpid(), &sun);
	int fd, err;

	pthread_mutex_lock(&serve_lock);
	if (serve_fd >= 0) {
		pthread_mutex_unlock(&serve_lock);
		return 0;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sun, len) < 0 || listen(fd, 8) < 0)
		goto close_fd;
	err = pthread_create(&serve_thread, NULL, serve_main,
			     (void *)(intptr_t)fd);
	if (err != 0) {
		errno = err;
		goto close_fd;
	}
	serve_fd = fd;
	pthread_mutex_unlock(&serve_lock);
	return 0;

close_fd:
	err = errno;
	close(fd);
	errno = err;
fail:
	pthread_mutex_unlock(&serve_lock);
	return -1;
}

/* See posix.h. */
void
ksp_diag_stop(void)
{
	pthread_mutex_lock(&serve_lock);
	if (serve_fd < 0) {
		pthread_mutex_unlock(&serve_lock);
		return;
	}
	shutdown(serve_fd, SHUT_RDWR);
	pthread_join(serve_thread, NULL);
	close(serve_fd);
	serve_fd = -1;
	pthread_mutex_unlock(&serve_lock);
}

/* See posix.h. */
int
ksp_diag_fetch(pid_t pid, struct ksp_diag_snapshot **out)
{
	struct sockaddr_un sun;
	socklen_t len = ksp_diag_addr(pid, &sun);
	FILE *f;
	int fd, r, err;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, len) < 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	f = fdopen(fd, "r");
	if (f == NULL) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	r = ksp_diag_snapshot_read(f, out);
	err = errno;
	fclose(f);
	errno = err;
	return r;
}

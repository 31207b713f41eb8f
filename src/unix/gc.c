/*
 * Collection of unreachable in-flight AF_UNIX sockets, and the per-user
 * in-flight accounting.
 *
 * The graph. A socket whose file sits in a queued message is "in
 * flight", a vertex; each such reference is an edge from it to the
 * socket whose queue holds the message (for a connection not yet
 * accepted, to its listener: only the listener's accept can reach that
 * queue). A vertex whose file's references all come from queued messages
 * (file_count == inflight) can only be reached through its edges. A
 * strongly connected component is garbage when each of its vertices is
 * like that and all its edges stay inside it: nothing outside can ever
 * receive one of its sockets again. That is Linux's rule (6.10 and
 * later, unix_vertex_dead()); a component with an edge leaving it is
 * kept, and if what it points at dies, the files that death puts bring
 * the collector back to it.
 *
 * When it runs, and what it costs. A component dies in one of two ways:
 * a reference to one of its files is dropped from outside, or a send
 * puts a socket whose descriptor is already closed (the sender closed it
 * while the send waited for room) into a queue that closes the cycle.
 * On a host that reports every dropped reference (port.h:
 * file_drops_reported; ks_sock_file_dropped()), ksock collects at the
 * moment either happens. For a socket not in flight, or whose file still
 * has more references than its queued messages hold, that costs one
 * atomic load, or the gc lock and a comparison. Otherwise the collector
 * runs Tarjan's algorithm (iterative, state kept in the sockets'
 * vertices, so no allocation and no recursion) from that socket only: it
 * visits the part of the in-flight graph reachable from it, in time
 * linear in those vertices and edges, and frees every dead component it finds (only the
 * socket's own can have just died: no other component's test depended
 * on that file or edge). Dropping the last reference to a socket closes
 * it (ks_close), which empties its queue, so its files are put and the
 * collector runs again where that matters; nothing waits for an
 * unrelated event.
 *
 * A host that cannot report every drop (a kernel whose files only tell
 * their last close) gets Linux's triggers instead: a run over the whole
 * graph (every vertex is on a list) when an AF_UNIX socket is closed
 * while any is in flight, when a send puts sockets in flight, and again
 * after a run that freed something, once the files it put are gone
 * (they may have been the last way into another component). Runs caused
 * from inside a run's purge are folded into one by drain(), so freeing a
 * ring of n sockets costs a constant number of runs, not n.
 *
 * Freeing a dead component: under the gc lock each socket is held; then,
 * with the gc lock dropped, each socket's queue (a listener's: its
 * embryos' queues) is taken and freed. Those messages hold the last
 * references to the component's files, so the sockets close, and what
 * they carry (pipes, files, other sockets) is put as well. Putting files
 * can close sockets whose queues hold more files: ks__unix_fpl_put_files()
 * lets only the outermost call in a thread put them, in a loop, so a
 * chain of 10,000 sockets closes without 10,000 nested calls.
 *
 * Vertices. The collector's state for a socket (struct unix_vertex) is
 * allocated when a send first attaches the socket to a message
 * (ks__unix_gc_prepare(), which may fail with ENOMEM, failing the send
 * before anything is queued), held by every list of descriptors that
 * carries it, and freed with the last such list: queueing a message never
 * allocates, and sockets that are never sent carry only a pointer.
 *
 * Concurrency. Edges change under the gc lock only (queueing a message
 * with sockets, freeing or receiving one). File counts change without it,
 * but a count can only grow through a reference someone holds: a
 * descriptor, or a queue being read, whose socket the reader holds for
 * the whole call (the host holds the file during every call on it), so
 * that socket is alive while the new reference appears, and with it
 * everything whose edges lead there. A peek installs copies without
 * touching edges, so it takes its references before passing
 * ks__unix_gc_barrier() (a run in progress finishes first; a later run
 * sees them), as Linux's unix_peek_fds() does. A component found dead is
 * marked, and a run in another thread that finds it again before the
 * purge has emptied it leaves it to that purge.
 *
 * Locks, in the order they are taken:
 *   socket (unix.h)   a message is queued, and its edges added (and a
 *                     search run from its sockets), under the receiver's
 *                     lock; the purge comes after the sender drops it;
 *                     purging takes a dead listener's lock and then its
 *                     embryos' one at a time
 *   gc     (gc.lock)  [G] the graph (edges, vertices and their list,
 *                     Tarjan's state), the per-user counts, the drainers;
 *                     never held while a socket lock is taken or a port
 *                     file hook that may close or install a file
 *                     (file_put, file_install) is called; file_count,
 *                     which only reads, is called under it
 * Tags: [G] gc lock.
 */
#include "unix/unix.h"

/* Per-user in-flight descriptors: a small chained hash table; an entry
 * lives while its user has descriptors attached to messages. */
#define UNIX_USER_BUCKETS	64

struct unix_user {
	uint32_t		 uid;		/* [G] */
	unsigned long		 inflight;	/* [G] */
	struct unix_user	*next;		/* [G] */
};

/* A thread putting lists of files, and running the whole-graph
 * collection (see drain()). */
struct unix_drainer {
	void			*thread;
	struct unix_fpl		*head, *tail;	/* [G] lists still to put */
	bool			 want_full;	/* [G] a whole-graph run is due
						 * once the lists are put */
	struct unix_drainer	*next;		/* [G] */
};

static struct {
	struct ks_mutex		 lock;
	uint64_t		 epoch;		/* [G] Tarjan runs */
	uint64_t		 index;		/* [G] the run's next DFS index */
	uint64_t		 runs;		/* [G] */
	uint64_t		 collected;	/* [G] sockets freed */
	struct unix_user	*users[UNIX_USER_BUCKETS];	/* [G] */
	struct unix_drainer	*drainers;	/* [G] */
	struct unix_sock	*vertices;	/* [G] every vertex */
	atomic_long		 nvertices;	/* [G] written, [A] read */
} gc;

static void
gc_lock(void)
{
	ks__port->mutex_lock(&gc.lock);
}

static void
gc_unlock(void)
{
	ks__port->mutex_unlock(&gc.lock);
}

/* See scm.h. */
int
ks__unix_gc_init(void)
{
	ks__port->mutex_init(&gc.lock);
	gc.epoch = gc.index = gc.runs = gc.collected = 0;
	for (size_t i = 0; i < UNIX_USER_BUCKETS; i++)
		gc.users[i] = NULL;
	gc.drainers = NULL;
	gc.vertices = NULL;
	atomic_store(&gc.nvertices, 0);
	return 0;
}

/* See scm.h. Every socket is gone, so every user's count is zero. */
void
ks__unix_gc_fini(void)
{
	ks__port->mutex_destroy(&gc.lock);
}

/* See scm.h. */
void
ks__unix_gc_stats(uint64_t *runs, uint64_t *collected)
{
	gc_lock();
	*runs = gc.runs;
	*collected = gc.collected;
	gc_unlock();
}

/* See scm.h. */
long
ks__unix_inflight_of(struct unix_sock *u)
{
	return atomic_load_explicit(&u->inflight, memory_order_relaxed);
}

/* -- per-user accounting -- */

static struct unix_user **
user_slot_locked(uint32_t uid)
{
	struct unix_user **pp = &gc.users[uid % UNIX_USER_BUCKETS];

	while (*pp != NULL && (*pp)->uid != uid)
		pp = &(*pp)->next;
	return pp;
}

/* See scm.h: Linux's too_many_unix_fds() before the addition. */
int
ks__unix_user_charge(uint32_t uid, unsigned n, struct unix_user **out)
{
	struct unix_user **pp, *user;
	unsigned limit;
	int err = 0;

	gc_lock();
	pp = user_slot_locked(uid);
	user = *pp;
	if (user == NULL) {
		user = ks__alloc(sizeof(*user));
		if (user == NULL) {
			err = -KS_ENOMEM;
			goto unlock;
		}
		user->uid = uid;
		user->inflight = 0;
		user->next = NULL;
		*pp = user;
	}
	limit = ks__port->inflight_limit(uid);
	if (user->inflight > limit &&
	    !ks__port->capable(KS_CAP_SYS_RESOURCE) &&
	    !ks__port->capable(KS_CAP_SYS_ADMIN)) {
		ks__diag_count(KS__CNT_TOOMANYREFS);
		err = -KS_ETOOMANYREFS;
		goto unlock;
	}
	user->inflight += n;
	*out = user;
unlock:
	gc_unlock();
	return err;
}

/* See scm.h. The entry goes when its count does. */
void
ks__unix_user_uncharge(struct unix_user *user, unsigned n)
{
	struct unix_user **pp;

	gc_lock();
	user->inflight -= n;
	if (user->inflight == 0) {
		pp = user_slot_locked(user->uid);
		*pp = user->next;
		ks__free(user, sizeof(*user));
	}
	gc_unlock();
}

/* -- the graph -- */

/* Whether the host reports every dropped file reference (port.h). */
static bool
drops_reported(void)
{
	return ks__port->file_drops_reported();
}

static bool
is_vertex(struct unix_sock *u)
{
	return atomic_load_explicit(&u->inflight, memory_order_relaxed) > 0;
}

/* Adds @n to @u's count of queued references. gc lock held. */
static void
inflight_add_locked(struct unix_sock *u, int n)
{
	atomic_store_explicit(&u->inflight,
			      atomic_load_explicit(&u->inflight,
						   memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/*
 * Frees @u's vertex once nothing needs it: no list of descriptors holds
 * it and no purge walks its kill list through it. A socket in flight
 * always keeps its vertex (each queued edge's list holds it), so an idle
 * socket costs a pointer, not a vertex. gc lock held.
 */
static void
vertex_free_unused_locked(struct unix_sock *u)
{
	struct unix_vertex *v = u->gc;

	if (v->holds != 0 || v->listed)
		return;
	u->gc = NULL;
	ks__free(v, sizeof(*v));
}

/* Drops one list's hold on @u's vertex. gc lock held. */
static void
vertex_put_locked(struct unix_sock *u)
{
	u->gc->holds--;
	vertex_free_unused_locked(u);
}

/* See scm.h. */
int
ks__unix_gc_prepare(struct unix_fpl *fpl)
{
	unsigned i;

	if (fpl->count_unix == 0)
		return 0;
	gc_lock();
	for (i = 0; i < fpl->count_unix; i++) {
		struct unix_sock *u = fpl->edges[i].pred;

		if (u->gc == NULL) {
			struct unix_vertex *v = ks__alloc(sizeof(*v));

			if (v == NULL)
				goto put_vertices;
			ks__memset(v, 0, sizeof(*v));
			u->gc = v;
		}
		u->gc->holds++;
	}
	gc_unlock();
	return 0;

put_vertices:
	while (i-- > 0)
		vertex_put_locked(fpl->edges[i].pred);
	gc_unlock();
	return -KS_ENOMEM;
}

static void
vertex_add_locked(struct unix_sock *u)
{
	u->gc->vprev = NULL;
	u->gc->vnext = gc.vertices;
	if (gc.vertices != NULL)
		gc.vertices->gc->vprev = u;
	gc.vertices = u;
	atomic_store(&gc.nvertices, atomic_load(&gc.nvertices) + 1);
}

static void
vertex_del_locked(struct unix_sock *u)
{
	if (u->gc->vprev != NULL)
		u->gc->vprev->gc->vnext = u->gc->vnext;
	else
		gc.vertices = u->gc->vnext;
	if (u->gc->vnext != NULL)
		u->gc->vnext->gc->vprev = u->gc->vprev;
	u->gc->vnext = u->gc->vprev = NULL;
	atomic_store(&gc.nvertices, atomic_load(&gc.nvertices) - 1);
}

static bool only_in_flight_locked(struct unix_sock *u);
static void run_begin_locked(void);
static void tarjan_locked(struct unix_sock *start, struct unix_sock **kill);

/* See scm.h. */
void
ks__unix_gc_add_edges(struct unix_fpl *fpl, struct unix_sock *receiver,
		      struct unix_gc_todo *todo)
{
	bool reported = drops_reported(), begun = false;

	if (fpl->count_unix == 0)
		return;
	gc_lock();
	fpl->receiver = receiver;
	for (unsigned i = 0; i < fpl->count_unix; i++) {
		struct unix_edge *e = &fpl->edges[i];
		struct unix_vertex *v = e->pred->gc;

		if (!is_vertex(e->pred)) {
			v->file = e->file;
			vertex_add_locked(e->pred);
		}
		inflight_add_locked(e->pred, 1);
		e->prev = NULL;
		e->next = v->edges;
		if (v->edges != NULL)
			v->edges->prev = e;
		v->edges = e;
	}
	if (!reported) {
		/* Linux's trigger: descriptors were sent. */
		todo->full = true;
		goto unlock;
	}
	/*
	 * A socket whose only references are now in queues (its sender
	 * closed its descriptor while the send was under way) may have just
	 * closed a cycle: no dropped reference will tell us, so look from
	 * it now. Only the components of the sockets sent can have died:
	 * the new edges leave from them.
	 */
	for (unsigned i = 0; i < fpl->count_unix; i++) {
		struct unix_sock *pred = fpl->edges[i].pred;

		if (pred->gc->collecting || !only_in_flight_locked(pred))
			continue;
		if (!begun) {
			run_begin_locked();
			begun = true;
		} else if (pred->gc->epoch == gc.epoch) {
			continue;
		}
		tarjan_locked(pred, &todo->kill);
	}
unlock:
	gc_unlock();
}

/* See scm.h. A list that never reached a queue has no edges, only its
 * holds on the vertices. */
void
ks__unix_gc_del_edges(struct unix_fpl *fpl)
{
	if (fpl->count_unix == 0)
		return;
	gc_lock();
	for (unsigned i = 0; fpl->receiver != NULL && i < fpl->count_unix;
	     i++) {
		struct unix_edge *e = &fpl->edges[i];
		struct unix_vertex *v = e->pred->gc;

		if (e->prev != NULL)
			e->prev->next = e->next;
		else
			v->edges = e->next;
		if (e->next != NULL)
			e->next->prev = e->prev;
		e->next = e->prev = NULL;
		inflight_add_locked(e->pred, -1);
		if (!is_vertex(e->pred)) {
			v->file = NULL;
			vertex_del_locked(e->pred);
		}
	}
	fpl->receiver = NULL;
	for (unsigned i = 0; i < fpl->count_unix; i++)
		vertex_put_locked(fpl->edges[i].pred);
	gc_unlock();
}

/* See scm.h. */
void
ks__unix_gc_barrier(void)
{
	gc_lock();
	gc_unlock();
}

/* Where edge @e leads: the receiver, or the listener of an embryo. */
static struct unix_sock *
edge_successor(struct unix_edge *e)
{
	struct unix_sock *r = e->fpl->receiver;
	struct unix_sock *l = atomic_load(&r->listener);

	return l != NULL ? l : r;
}

/* All of @v's references come from queued messages. gc lock held. */
static bool
only_in_flight_locked(struct unix_sock *u)
{
	return ks__port->file_count(u->gc->file) ==
	       atomic_load(&u->inflight);
}

/* The component @scc (its members linked through scc_next) is garbage
 * that no purge owns yet. gc lock held. */
static bool
scc_is_dead_locked(struct unix_sock *scc)
{
	for (struct unix_sock *w = scc; w != NULL; w = w->gc->scc_next) {
		if (w->gc->collecting || !only_in_flight_locked(w))
			return false;
		for (struct unix_edge *e = w->gc->edges; e != NULL; e = e->next) {
			struct unix_sock *s = edge_successor(e);

			if (!is_vertex(s) || s->gc->epoch != gc.epoch ||
			    s->gc->scc != scc->gc->scc)
				return false;
		}
	}
	return true;
}

/* Starts a run: a new epoch, in which several searches may follow each
 * other (their indices, and so their components' ids, never repeat).
 * gc lock held. */
static void
run_begin_locked(void)
{
	gc.runs++;
	gc.epoch++;
	gc.index = 0;
}

static void
visit_locked(struct unix_sock *u, struct unix_sock *parent,
	     struct unix_sock **stack)
{
	u->gc->epoch = gc.epoch;
	u->gc->index = u->gc->low = gc.index++;
	u->gc->scc = UINT64_MAX;
	u->gc->next_edge = u->gc->edges;
	u->gc->parent = parent;
	u->gc->on_stack = true;
	u->gc->stack_next = *stack;
	*stack = u;
}

/*
 * Tarjan's algorithm from @start (not yet visited in this run) over the
 * vertices it reaches that this run has not visited; every dead component
 * found is held and put on *@kill. gc lock held.
 */
static void
tarjan_locked(struct unix_sock *start, struct unix_sock **kill)
{
	struct unix_sock *stack = NULL, *v;

	visit_locked(start, NULL, &stack);
	v = start;
	while (v != NULL) {
		struct unix_edge *e = v->gc->next_edge;
		struct unix_sock *p;

		if (e != NULL) {
			struct unix_sock *s = edge_successor(e);

			v->gc->next_edge = e->next;
			if (!is_vertex(s))
				continue;
			if (s->gc->epoch != gc.epoch) {
				visit_locked(s, v, &stack);
				v = s;
			} else if (s->gc->on_stack && s->gc->index < v->gc->low) {
				v->gc->low = s->gc->index;
			}
			continue;
		}
		if (v->gc->low == v->gc->index) {
			struct unix_sock *scc = NULL, *w;

			do {
				w = stack;
				stack = w->gc->stack_next;
				w->gc->on_stack = false;
				w->gc->scc = v->gc->index;
				w->gc->scc_next = scc;
				scc = w;
			} while (w != v);
			if (scc_is_dead_locked(scc)) {
				for (w = scc; w != NULL; w = w->gc->scc_next) {
					w->gc->collecting = true;
					w->gc->listed = true;
					unix_hold(w);
					w->gc->kill_next = *kill;
					*kill = w;
					gc.collected++;
				}
			}
		}
		p = v->gc->parent;
		if (p != NULL && v->gc->low < p->gc->low)
			p->gc->low = v->gc->low;
		v = p;
	}
}

/* Takes @u's queue, and a listener's embryos' queues, onto *@tail. */
static void
take_queues(struct unix_sock *u, struct ks_mbuf ***tail)
{
	unix_lock(u);
	**tail = ks__unix_purge_queue_locked(u);
	while (**tail != NULL)
		*tail = &(**tail)->next;
	for (struct unix_sock *e = u->acc_head; e != NULL; e = e->acc_next) {
		unix_lock(e);
		**tail = ks__unix_purge_queue_locked(e);
		unix_unlock(e);
		while (**tail != NULL)
			*tail = &(**tail)->next;
	}
	unix_unlock(u);
}

/*
 * Frees the dead sockets on @kill: empties their queues, which puts the
 * last references to their files (so they close) and what they carry.
 * No lock held.
 */
static void
purge(struct unix_sock *kill)
{
	struct ks_mbuf *chain = NULL, **tail = &chain;
	struct unix_sock *u, *next;

	for (u = kill; u != NULL; u = u->gc->kill_next)
		take_queues(u, &tail);
	ks__mbuf_free_chain(chain);
	for (u = kill; u != NULL; u = next) {
		/* Its vertex stayed for this walk; it may go now. */
		gc_lock();
		next = u->gc->kill_next;
		u->gc->listed = false;
		vertex_free_unused_locked(u);
		gc_unlock();
		unix_put(u);
	}
}

/*
 * A run over the whole graph: a search from every vertex not yet visited
 * whose references all come from queues (only those can belong to a dead
 * component, and a search finds the whole component of where it
 * starts). gc lock held.
 */
static void
collect_all_locked(struct unix_sock **kill)
{
	run_begin_locked();
	for (struct unix_sock *u = gc.vertices; u != NULL; u = u->gc->vnext)
		if (u->gc->epoch != gc.epoch && !u->gc->collecting &&
		    only_in_flight_locked(u))
			tarjan_locked(u, kill);
}

/* See scm.h. */
void
ks__unix_gc_file_dropped(struct ks_sock *so, long refs)
{
	struct unix_sock *u = unix_sk(so), *kill = NULL;
	long n = ks__unix_inflight_of(u);

	/* Not in flight, or still held from outside its queues. */
	if (n == 0 || refs > n || !drops_reported())
		return;
	gc_lock();
	if (!is_vertex(u) || !only_in_flight_locked(u)) {
		gc_unlock();
		return;
	}
	run_begin_locked();
	tarjan_locked(u, &kill);
	gc_unlock();
	if (kill != NULL)
		purge(kill);
}

static void drain(struct unix_fpl *fpl, bool want_full);

/* See scm.h. */
void
ks__unix_gc_do(struct unix_gc_todo *todo)
{
	if (todo->kill != NULL)
		purge(todo->kill);
	todo->kill = NULL;
	if (todo->full)
		drain(NULL, true);
	todo->full = false;
}

/* See scm.h. */
void
ks__unix_gc_released(void)
{
	if (drops_reported() || atomic_load(&gc.nvertices) == 0)
		return;
	drain(NULL, true);
}

/* See scm.h. */
void
ks__unix_gc_collect_all(void)
{
	drain(NULL, true);
}

/* -- putting files -- */

static void
put_files(struct unix_fpl *fpl)
{
	size_t size = sizeof(*fpl) + fpl->count * sizeof(struct ks_file *) +
		      fpl->count_unix * sizeof(struct unix_edge);

	for (unsigned i = 0; i < fpl->count; i++)
		ks__port->file_put(fpl->fp[i]);
	ks__free(fpl, size);
}

/*
 * Puts @fpl's files (NULL: none) and, when @want_full, runs the
 * collector over the whole graph, in a loop that keeps the stack flat: a
 * file put may close a socket, whose queue holds more lists, and a
 * collection purges queues. The outermost call in a thread does the
 * work; calls nested in it (from a close it caused) hand theirs over and
 * return. After a run that freed something the loop runs again once
 * the files it put are gone, since their puts may have left another
 * component with no way in (Linux's collector runs again when the
 * sockets it freed are released). No lock held.
 */
static void
drain(struct unix_fpl *fpl, bool want_full)
{
	struct unix_drainer self, *d;
	struct unix_sock *kill;

	self.thread = ks__port->thread_self();
	gc_lock();
	for (d = gc.drainers; d != NULL; d = d->next)
		if (d->thread == self.thread)
			break;
	if (d != NULL) {
		/* An outer call in this thread does it when we return. */
		if (fpl != NULL) {
			fpl->drain_next = NULL;
			if (d->tail != NULL)
				d->tail->drain_next = fpl;
			else
				d->head = fpl;
			d->tail = fpl;
		}
		d->want_full |= want_full;
		gc_unlock();
		return;
	}
	self.head = self.tail = NULL;
	self.want_full = want_full;
	self.next = gc.drainers;
	gc.drainers = &self;
	for (;;) {
		if (fpl == NULL) {
			fpl = self.head;
			if (fpl != NULL) {
				self.head = fpl->drain_next;
				if (self.head == NULL)
					self.tail = NULL;
			}
		}
		if (fpl != NULL) {
			gc_unlock();
			put_files(fpl);
			fpl = NULL;
			gc_lock();
			continue;
		}
		if (!self.want_full)
			break;
		self.want_full = false;
		kill = NULL;
		collect_all_locked(&kill);
		if (kill == NULL)
			break;
		self.want_full = true;
		gc_unlock();
		purge(kill);
		gc_lock();
	}
	for (struct unix_drainer **pp = &gc.drainers; *pp; pp = &(*pp)->next) {
		if (*pp == &self) {
			*pp = self.next;
			break;
		}
	}
	gc_unlock();
}

/* See scm.h. */
void
ks__unix_fpl_put_files(struct unix_fpl *fpl)
{
	/* Closing pipes and files does not come back here. */
	if (fpl->count_unix == 0) {
		put_files(fpl);
		return;
	}
	drain(fpl, false);
}

/*
 * lwIP's heap: the allocator behind every lwIP allocation (lwipopts.h
 * routes mem_malloc, mem_calloc, mem_free and, through MEMP_MEM_MALLOC,
 * every pool here), over the one region stack.c takes from the port.
 *
 * Why not lwIP's own mem.c: it is first fit from the lowest free block,
 * so every allocation walks past whatever lives long at low addresses.
 * With connections in TIME_WAIT (a pcb each, two minutes) or a receive
 * queue of small packets, that walk was more than half of the CPU time
 * of a connect and a third of a small write.
 *
 * Segregated free lists with boundary tags: each block starts with a
 * header holding its size and its lower neighbour's, so a freed block
 * merges with free neighbours on both sides in constant time. Free
 * blocks sit on one list per size class: an exact class for every size
 * below INET_HEAP_EXACT (16-byte steps), then one class per power of two.
 * A request takes the head of its exact class, or the first block that
 * fits in its power class, or else the head of the next non-empty class
 * (a bitmap finds it), split when the rest makes a block of its own.
 * Running dry is a NULL, as from lwIP's heap: lwIP turns it into ERR_MEM
 * and ksock into ENOBUFS or ENOMEM.
 *
 * Locks: the stack lock [L] for everything here (lwIP only allocates
 * under it).
 */
#include "inet/inet.h"

/* Block sizes, header included, are multiples of this. */
#define INET_HEAP_ALIGN		16
/* A block's header: its size and its lower neighbour's. */
#define INET_HEAP_HDR		16
/* The smallest block: a header and the two list links of a free one. */
#define INET_HEAP_MIN		32
/* Sizes below this have a class each; above, one per power of two. */
#define INET_HEAP_EXACT		1024
#define INET_HEAP_EXACT_SHIFT	10
#define INET_HEAP_NEXACT	(INET_HEAP_EXACT / INET_HEAP_ALIGN)
/* Power classes from 2^10 to 2^(10 + 53): far beyond any heap. */
#define INET_HEAP_NCLASS	128
#define INET_HEAP_USED		((size_t)1)

struct inet_blk {
	size_t		 prev_size;	/* [L] lower neighbour's size, 0: first */
	size_t		 size;		/* [L] this block's, | INET_HEAP_USED */
	/* Only in a free block (the payload of a used one): */
	struct inet_blk	*next;		/* [L] its size class's list */
	struct inet_blk	*prev;		/* [L] */
};

_Static_assert(sizeof(struct inet_blk) == INET_HEAP_MIN, "block layout");
_Static_assert(INET_HEAP_HDR % MEM_ALIGNMENT == 0, "payloads aligned");

static struct {
	struct inet_blk	*list[INET_HEAP_NCLASS];	/* [L] */
	uint64_t	 nonempty[INET_HEAP_NCLASS / 64];	/* [L] */
	unsigned char	*start;		/* [L] first block */
	unsigned char	*end;		/* [L] the end marker (a used block) */
} heap;

static size_t
blk_size(const struct inet_blk *b)
{
	return b->size & ~INET_HEAP_USED;
}

static bool
blk_is_used(const struct inet_blk *b)
{
	return (b->size & INET_HEAP_USED) != 0;
}

static struct inet_blk *
blk_next(struct inet_blk *b)
{
	return (struct inet_blk *)((unsigned char *)b + blk_size(b));
}

static unsigned
size_class(size_t size)
{
	unsigned c = INET_HEAP_NEXACT;

	if (size < INET_HEAP_EXACT)
		return (unsigned)(size / INET_HEAP_ALIGN);
	for (size >>= INET_HEAP_EXACT_SHIFT; size > 1; size >>= 1)
		c++;
	return c;
}

static void
list_insert(struct inet_blk *b)
{
	unsigned c = size_class(blk_size(b));

	b->prev = NULL;
	b->next = heap.list[c];
	if (b->next != NULL)
		b->next->prev = b;
	heap.list[c] = b;
	heap.nonempty[c / 64] |= (uint64_t)1 << (c % 64);
}

static void
list_remove(struct inet_blk *b)
{
	unsigned c = size_class(blk_size(b));

	if (b->prev != NULL)
		b->prev->next = b->next;
	else
		heap.list[c] = b->next;
	if (b->next != NULL)
		b->next->prev = b->prev;
	if (heap.list[c] == NULL)
		heap.nonempty[c / 64] &= ~((uint64_t)1 << (c % 64));
}

/* The first non-empty class above @c, or INET_HEAP_NCLASS. */
static unsigned
class_above(unsigned c)
{
	for (unsigned w = (c + 1) / 64; w < INET_HEAP_NCLASS / 64; w++) {
		uint64_t bits = heap.nonempty[w];

		if (w == (c + 1) / 64)
			bits &= ~(uint64_t)0 << ((c + 1) % 64);
		if (bits != 0)
			return w * 64 + (unsigned)__builtin_ctzll(bits);
	}
	return INET_HEAP_NCLASS;
}

/* A free block of at least @need bytes, off its list, or NULL. */
static struct inet_blk *
find_free(size_t need)
{
	unsigned c = size_class(need);
	struct inet_blk *b;

	for (b = heap.list[c]; b != NULL; b = b->next)
		if (blk_size(b) >= need)
			break;
	if (b == NULL) {
		c = class_above(c);
		if (c == INET_HEAP_NCLASS)
			return NULL;
		b = heap.list[c];
	}
	list_remove(b);
	return b;
}

/* Sets @b's size (flags included) and tells the block above it. */
static void
blk_set(struct inet_blk *b, size_t size)
{
	b->size = size;
	blk_next(b)->prev_size = size & ~INET_HEAP_USED;
}

/* See lwipopts.h. */
void
ks__inet_heap_init(void *base, size_t len)
{
	uintptr_t a = ((uintptr_t)base + INET_HEAP_ALIGN - 1) &
		      ~(uintptr_t)(INET_HEAP_ALIGN - 1);
	size_t span = (len - (size_t)(a - (uintptr_t)base)) &
		      ~(size_t)(INET_HEAP_ALIGN - 1);
	struct inet_blk *first = (struct inet_blk *)a, *end;

	ks__memset(&heap, 0, sizeof(heap));
	heap.start = (unsigned char *)first;
	heap.end = heap.start + span - INET_HEAP_HDR;
	end = (struct inet_blk *)heap.end;
	end->size = INET_HEAP_USED;	/* size 0: nothing above it */
	first->prev_size = 0;
	blk_set(first, span - INET_HEAP_HDR);
	list_insert(first);
}

/* See lwipopts.h. */
void *
ks__inet_heap_alloc(size_t n)
{
	struct inet_blk *b;
	size_t need, have;

	if (n > (size_t)(heap.end - heap.start))
		return NULL;
	need = (n + INET_HEAP_HDR + INET_HEAP_ALIGN - 1) &
	       ~(size_t)(INET_HEAP_ALIGN - 1);
	if (need < INET_HEAP_MIN)
		need = INET_HEAP_MIN;
	b = find_free(need);
	if (b == NULL)
		return NULL;
	have = blk_size(b);
	if (have - need >= INET_HEAP_MIN) {
		struct inet_blk *rest = (struct inet_blk *)
					((unsigned char *)b + need);

		rest->prev_size = need;
		blk_set(rest, have - need);
		list_insert(rest);
		have = need;
	}
	blk_set(b, have | INET_HEAP_USED);
	return (unsigned char *)b + INET_HEAP_HDR;
}

/* See lwipopts.h. */
void *
ks__inet_heap_calloc(size_t count, size_t size)
{
	void *p;

	if (size != 0 && count > (size_t)-1 / size)
		return NULL;
	p = ks__inet_heap_alloc(count * size);
	if (p != NULL)
		ks__memset(p, 0, count * size);
	return p;
}

/* See lwipopts.h. */
void
ks__inet_heap_free(void *p)
{
	struct inet_blk *b = (struct inet_blk *)((unsigned char *)p -
						 INET_HEAP_HDR);
	struct inet_blk *up;
	size_t size;

	/* Not a block in use: a double free or a stray pointer. */
	if ((unsigned char *)b < heap.start || (unsigned char *)b >= heap.end ||
	    !blk_is_used(b))
		__builtin_trap();
	size = blk_size(b);
	up = blk_next(b);
	if (!blk_is_used(up)) {
		list_remove(up);
		size += blk_size(up);
	}
	if (b->prev_size != 0) {
		struct inet_blk *down = (struct inet_blk *)
					((unsigned char *)b - b->prev_size);

		if (!blk_is_used(down)) {
			list_remove(down);
			size += blk_size(down);
			b = down;
		}
	}
	blk_set(b, size);
	list_insert(b);
}

/*
 * Unit tests: src/inet/heap.c, the allocator behind lwIP's heap, driven
 * directly over a region of the test's own (no socket, so no stack is
 * running to share it with). Blocks must be aligned, inside the region
 * and disjoint; running dry is NULL; whatever is freed, in any order,
 * merges back so that one block as large as the region fits again.
 */
#include <stdint.h>

#include "unit.h"

/* src/inet's own (lwipopts.h declares them for lwIP). */
void	 ks__inet_heap_init(void *base, size_t len);
void	*ks__inet_heap_alloc(size_t n);
void	*ks__inet_heap_calloc(size_t count, size_t size);
void	 ks__inet_heap_free(void *p);

#define REGION		(1 << 20)
#define MAX_BLOCKS	8192

static unsigned char region[REGION + 64];
static struct {
	unsigned char	*p;
	size_t		 n;
} blk[MAX_BLOCKS];

/* Sizes from 1 byte to 64 KiB, small ones far more often, as lwIP's. */
static size_t
size_at(unsigned i)
{
	static const size_t sizes[] = { 1, 7, 16, 20, 33, 100, 180, 250, 600,
					1000, 1500, 4000, 9000, 65535 };

	return sizes[(i * 7u + i / 3u) % (sizeof(sizes) / sizeof(sizes[0]))];
}

/* Fills the heap until it runs dry, frees in a scrambled order, twice;
 * each block keeps its own pattern until freed. */
static void
t_fill_free_merge(void)
{
	for (int round = 0; round < 2; round++) {
		unsigned n = 0;
		unsigned char *big;

		ks__inet_heap_init(region + round, REGION);
		while (n < MAX_BLOCKS) {
			size_t len = size_at(n + (unsigned)round);
			unsigned char *p = ks__inet_heap_alloc(len);

			if (p == NULL)
				break;
			CHECK(((uintptr_t)p & 7) == 0);
			CHECK(p >= region && p + len <= region + sizeof(region));
			memset(p, (int)(n & 0xff), len);
			blk[n].p = p;
			blk[n].n = len;
			n++;
		}
		/* Ran dry well before the table's end, and used most of it. */
		CHECK(n > 100 && n < MAX_BLOCKS);
		for (unsigned i = 0; i < n; i++)
			for (size_t k = 0; k < blk[i].n; k++)
				if (blk[i].p[k] != (unsigned char)(i & 0xff)) {
					CHECK(!"a block was overwritten");
					return;
				}
		/* Every other block first (nothing can merge), then the rest. */
		for (unsigned i = 0; i < n; i += 2)
			ks__inet_heap_free(blk[i].p);
		CHECK(ks__inet_heap_alloc(REGION / 2) == NULL);
		for (unsigned i = 1; i < n; i += 2)
			ks__inet_heap_free(blk[i].p);
		big = ks__inet_heap_alloc(REGION - 256);
		CHECK(big != NULL);
		if (big != NULL)
			ks__inet_heap_free(big);
	}
}

/* Too large is NULL, at once and after a split; calloc zeroes, and
 * refuses a product that overflows. */
static void
t_limits_calloc(void)
{
	unsigned char *a, *b;

	ks__inet_heap_init(region, REGION);
	CHECK(ks__inet_heap_alloc(REGION) == NULL);
	CHECK(ks__inet_heap_alloc(SIZE_MAX) == NULL);
	a = ks__inet_heap_alloc(1000);
	CHECK(a != NULL);
	memset(a, 0xaa, 1000);
	ks__inet_heap_free(a);
	b = ks__inet_heap_calloc(10, 100);
	CHECK(b != NULL);
	for (int i = 0; b != NULL && i < 1000; i++)
		CHECK_EQ(b[i], 0);
	CHECK(ks__inet_heap_calloc(SIZE_MAX / 2, 3) == NULL);
	a = ks__inet_heap_alloc(REGION - 256 - 1024);
	CHECK(a == NULL || a != b);
	if (a != NULL)
		ks__inet_heap_free(a);
	ks__inet_heap_free(b);
	a = ks__inet_heap_alloc(REGION - 256);
	CHECK(a != NULL);
	if (a != NULL)
		ks__inet_heap_free(a);
}

static const struct ut_test tests[] = {
	{ "fill_free_merge", t_fill_free_merge, UT_NO_INJECT },
	{ "limits_calloc", t_limits_calloc, UT_NO_INJECT },
};

UT_MAIN(tests)

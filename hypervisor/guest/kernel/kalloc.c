// Physical page allocator: a free list of 4 KiB pages from the end of the
// kernel image up to PHYSTOP. Pages come back zeroed.

#include "types.h"
#include "riscv.h"
#include "memlayout.h"
#include "defs.h"

extern char end[];   // first page after the kernel, from kernel.ld

struct freepage {
	struct freepage *next;
};

static struct freepage *freelist;
static uint64 nfree;

NOINLINE void
kinit(void)
{
	for (uint64 pa = PGROUNDUP(end); pa + PGSIZE <= PHYSTOP; pa += PGSIZE)
		kfree((void *)pa);
}

void
kfree(void *pa)
{
	uint64 a = (uint64)pa;

	if (a % PGSIZE != 0 || a < (uint64)end || a >= PHYSTOP)
		panic("kfree: bad page");
	struct freepage *f = pa; FIXTURE_KFREE_FILL(pa)
	f->next = freelist;
	freelist = f;
	nfree++;
}

void *
kalloc(void)
{
	struct freepage *f = freelist;

	if (f == NULL)
		return NULL;
	freelist = f->next;
	nfree--;
	memset(f, 0, PGSIZE);
	return f;
}

uint64
kfreepages(void)
{
	return nfree;
}

// The stress fixture build (guest.mk: guest-stress.elf; ../../README.md,
// "Fixture builds"): a heap that grows lazily, so that the shell's `stress`
// command takes real page faults. guest.elf does not link this file; its
// hooks (defs.h) are empty there.
//
// sbrk(n) moves the process's break by n bytes. Growing maps nothing: the
// first touch of each new page is a load or store page fault from U-mode,
// which fixture_user_fault() answers with a zeroed page. Shrinking unmaps
// and frees the pages, so the next growth faults again. Everything in the
// heap lives in the user gigabyte, so uvmfree() frees it with the rest when
// the process ends.

#include "types.h"
#include "param.h"
#include "riscv.h"
#include "memlayout.h"
#include "proc.h"
#include "syscall.h"
#include "defs.h"

#define SCAUSE_LOAD_PAGE_FAULT   13
#define SCAUSE_STORE_PAGE_FAULT  15

#define HEAPBASE   0x60000000UL          // inside the user gigabyte, far above any program
#define HEAPLIMIT  (HEAPBASE + (4UL << 20))

// The break of each process slot, and the pid it belongs to: a slot reused
// by a new process starts again at HEAPBASE.
static struct {
	int pid;
	uint64 brk;
} heaps[NPROC];

extern struct proc procs[NPROC];

static uint64 *
brk_of(struct proc *p)
{
	int i = p - procs;

	if (heaps[i].pid != p->pid) {
		heaps[i].pid = p->pid;
		heaps[i].brk = HEAPBASE;
	}
	return &heaps[i].brk;
}

// sbrk(n) -> the old break, or -1 if the new one would leave the heap.
static uint64
sys_sbrk(struct proc *p, long n)
{
	uint64 *brk = brk_of(p);
	uint64 old = *brk, new = old + n;

	if (new < HEAPBASE || new > HEAPLIMIT)
		return -1;
	// Shrinking: free every whole page above the new break.
	for (uint64 va = PGROUNDUP(new); va < PGROUNDUP(old); va += PGSIZE) {
		pte_t *pte = walk(p->pagetable, va, 0);
		if (pte && (*pte & PTE_V)) {
			kfree((void *)PTE2PA(*pte));
			*pte = 0;
		}
	}
	if (new < old)
		sfence_vma();
	*brk = new;
	return old;
}

int
fixture_syscall(struct proc *p, uint64 num)
{
	if (num != SYS_sbrk)
		return 0;
	p->tf.a0 = sys_sbrk(p, (long)p->tf.a0);
	return 1;
}

// A page fault on the heap below the break: map a zeroed page and let the
// instruction run again. Anything else is not ours (0).
int
fixture_user_fault(struct proc *p, uint64 scause, uint64 va)
{
	if (scause != SCAUSE_LOAD_PAGE_FAULT && scause != SCAUSE_STORE_PAGE_FAULT)
		return 0;
	if (va < HEAPBASE || va >= *brk_of(p))
		return 0;
	pte_t *pte = walk(p->pagetable, va, 1);
	if (pte == NULL || (*pte & PTE_V))
		return 0;
	char *page = kalloc();
	if (page == NULL)
		return 0;
	memset(page, 0, PGSIZE);
	*pte = PA2PTE(page) | PTE_U | PTE_R | PTE_W | PTE_V;
	return 1;
}

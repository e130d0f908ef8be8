// Sv39 page tables: the kernel's, and one per process that shares it.

#include "types.h"
#include "riscv.h"
#include "memlayout.h"
#include "defs.h"

extern char etext[];   // kernel.ld: end of text, page aligned

pagetable_t kernel_pagetable;

// The user gigabyte must not share a root entry with the kernel's.
_Static_assert(PX(2, USERBASE) == PX(2, USTACKTOP - 1), "user space spans one root entry");
_Static_assert(PX(2, USERBASE) != PX(2, UART0), "user space overlaps the UART gigabyte");
_Static_assert(PX(2, USERBASE) != PX(2, KERNBASE), "user space overlaps the kernel gigabyte");
_Static_assert(PX(2, KERNBASE) == PX(2, PHYSTOP - 1), "kernel RAM spans one root entry");

// The address of the leaf PTE for va, creating the intermediate tables if
// alloc is set. Returns 0 if a table is missing (or cannot be allocated).
pte_t *
walk(pagetable_t pt, uint64 va, int alloc)
{
	if (va >= MAXVA)
		panic("walk: va out of range");
	for (int level = 2; level > 0; level--) {
		pte_t *pte = &pt[PX(level, va)];
		if (*pte & PTE_V) {
			if (PTE_LEAF(*pte))
				panic("walk: unexpected superpage");
			pt = (pagetable_t)PTE2PA(*pte);
		} else {
			if (!alloc || (pt = kalloc()) == NULL)
				return NULL;
			*pte = PA2PTE(pt) | PTE_V;
		}
	}
	return &pt[PX(0, va)];
}

// Map [va, va+size) to [pa, pa+size) with perm (R/W/X/U). va, pa and size
// are page aligned. Returns -1 if a page table could not be allocated.
int
mappages(pagetable_t pt, uint64 va, uint64 size, uint64 pa, uint64 perm)
{
	if (va % PGSIZE || pa % PGSIZE || size % PGSIZE || size == 0)
		panic("mappages: unaligned");
	for (uint64 off = 0; off < size; off += PGSIZE) {
		pte_t *pte = walk(pt, va + off, 1);
		if (pte == NULL)
			return -1;
		if (*pte & PTE_V)
			panic("mappages: remap");
		*pte = PA2PTE(pa + off) | perm | PTE_V;
	}
	return 0;
}

static void
kvmmap(uint64 va, uint64 size, uint64 perm)
{
	if (mappages(kernel_pagetable, va, size, va, perm) < 0)
		panic("kvmmap: out of memory");
}

// The kernel page table: identity maps of the UART, of the text (R/X) and of
// everything after it up to PHYSTOP (R/W).
NOINLINE void
kvminit(void)
{
	kernel_pagetable = kalloc();
	if (kernel_pagetable == NULL)
		panic("kvminit: out of memory");

	// These PTEs have V and R/W/X but A and D CLEAR, on purpose and exactly
	// as xv6 builds them: the kernel relies on the hardware setting A/D on
	// first access. In VS-mode that needs henvcfg.ADUE, which QEMU >= 9.0
	// resets to 0; a hypervisor that does not set it makes the first fetch
	// after kvminithart's satp write take an instruction page fault
	// (scause 0xc) while stvec is still 0. That hazard is what this firmware
	// reproduces: do not "fix" it by setting A/D here.
	kvmmap(UART0, PGSIZE, PTE_R | PTE_W);
	kvmmap(KERNBASE, (uint64)etext - KERNBASE, PTE_R | PTE_X);
	kvmmap((uint64)etext, PHYSTOP - (uint64)etext, PTE_R | PTE_W);
}

// Turn paging on. A real function, so that the instruction after the satp
// write (the second sfence.vma) is inside kvminithart: that is where the
// ADUE fault is reported (stval, sepc).
NOINLINE void
kvminithart(void)
{
	sfence_vma();                       // page-table writes before their use
	w_satp(MAKE_SATP(kernel_pagetable));
	sfence_vma();                       // no stale translations
}

// Run on another page table (a process's, or back to the kernel's). Not
// kvminithart: that one runs once, at boot, so a breakpoint on it means boot.
void
switchpagetable(pagetable_t pt)
{
	sfence_vma();
	w_satp(MAKE_SATP(pt));
	sfence_vma();
}

// A new process page table: empty user gigabyte, and the kernel's subtrees
// for the UART and RAM gigabytes shared, not copied.
pagetable_t
uvmcreate(void)
{
	pagetable_t pt = kalloc();

	if (pt == NULL)
		return NULL;
	pt[PX(2, UART0)] = kernel_pagetable[PX(2, UART0)];
	pt[PX(2, KERNBASE)] = kernel_pagetable[PX(2, KERNBASE)];
	return pt;
}

// Free a table at level (and, at level 0, the pages it maps).
static void
freetree(pagetable_t t, int level)
{
	for (int i = 0; i < 512; i++) {
		if (!(t[i] & PTE_V))
			continue;
		if (level > 0)
			freetree((pagetable_t)PTE2PA(t[i]), level - 1);
		else
			kfree((void *)PTE2PA(t[i]));
	}
	kfree(t);
}

// Free a process page table: its user gigabyte, then the root. The shared
// kernel entries are left alone.
void
uvmfree(pagetable_t pt)
{
	pte_t user = pt[PX(2, USERBASE)];

	if (user & PTE_V)
		freetree((pagetable_t)PTE2PA(user), 1);
	kfree(pt);
}

// The kernel address of the user byte at va, or 0 if va is not a user
// address with all of need (PTE_R or PTE_W) set.
static char *
uaddr(pagetable_t pt, uint64 va, uint64 need)
{
	if (va >= MAXVA)
		return NULL;
	pte_t *pte = walk(pt, va, 0);
	if (pte == NULL)
		return NULL;
	uint64 want = PTE_V | PTE_U | need;
	if ((*pte & want) != want)
		return NULL;
	return (char *)(PTE2PA(*pte) + (va % PGSIZE));
}

// User memory is reached by walking the process page table in software and
// using the kernel's identity map of RAM; no sstatus.SUM needed.
int
copyout(pagetable_t pt, uint64 dstva, const void *src, uint64 len)
{
	const char *s = src;

	while (len > 0) {
		char *d = uaddr(pt, dstva, PTE_W);
		if (d == NULL)
			return -1;
		uint64 n = PGSIZE - dstva % PGSIZE;
		if (n > len)
			n = len;
		memmove(d, s, n);
		s += n;
		dstva += n;
		len -= n;
	}
	return 0;
}

int
copyin(pagetable_t pt, void *dst, uint64 srcva, uint64 len)
{
	char *d = dst;

	while (len > 0) {
		const char *s = uaddr(pt, srcva, PTE_R);
		if (s == NULL)
			return -1;
		uint64 n = PGSIZE - srcva % PGSIZE;
		if (n > len)
			n = len;
		memmove(d, s, n);
		d += n;
		srcva += n;
		len -= n;
	}
	return 0;
}

// Copy a NUL-terminated string of at most max bytes (with the NUL).
int
copyinstr(pagetable_t pt, char *dst, uint64 srcva, uint64 max)
{
	for (uint64 i = 0; i < max; i++) {
		const char *s = uaddr(pt, srcva + i, PTE_R);
		if (s == NULL)
			return -1;
		dst[i] = *s;
		if (*s == '\0')
			return 0;
	}
	return -1;
}

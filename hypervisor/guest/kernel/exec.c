// Loading an embedded user program (a static RISC-V ELF, see progs.S) into a
// fresh page table for a new process.

#include "types.h"
#include "param.h"
#include "riscv.h"
#include "memlayout.h"
#include "elf.h"
#include "proc.h"
#include "defs.h"

extern const char prog_init_start[], prog_init_end[];
extern const char prog_sh_start[], prog_sh_end[];

static const struct program {
	const char *name;
	const char *start, *end;
} programs[] = {
	{ "init", prog_init_start, prog_init_end },
	{ "sh",   prog_sh_start,   prog_sh_end },
};

static const struct program *
findprog(const char *name)
{
	for (uint64 i = 0; i < sizeof(programs) / sizeof(programs[0]); i++)
		if (strncmp(programs[i].name, name, NAMELEN) == 0)
			return &programs[i];
	return NULL;
}

// The kernel address of user page va, mapping a new zeroed page with perm
// if there is none yet. Segments that share a page get the union of their
// permissions.
static char *
userpage(pagetable_t pt, uint64 va, uint64 perm)
{
	pte_t *pte = walk(pt, va, 1);

	if (pte == NULL)
		return NULL;
	if (*pte & PTE_V) {
		*pte |= perm;
		return (char *)PTE2PA(*pte);
	}
	char *page = kalloc();
	if (page == NULL)
		return NULL;
	*pte = PA2PTE(page) | perm | PTE_V;
	return page;
}

static int
loadseg(pagetable_t pt, const struct proghdr *ph, const char *image)
{
	uint64 perm = PTE_U;

	if (ph->flags & PF_R) perm |= PTE_R;
	if (ph->flags & PF_W) perm |= PTE_W;
	if (ph->flags & PF_X) perm |= PTE_X;

	for (uint64 va = PGROUNDDOWN(ph->vaddr); va < ph->vaddr + ph->memsz; va += PGSIZE) {
		char *page = userpage(pt, va, perm);
		if (page == NULL)
			return -1;
		// the part of [vaddr, vaddr+filesz) inside this page; the rest
		// (bss) stays as kalloc left it: zero
		uint64 lo = va < ph->vaddr ? ph->vaddr : va;
		uint64 hi = va + PGSIZE;
		if (hi > ph->vaddr + ph->filesz)
			hi = ph->vaddr + ph->filesz;
		if (lo < hi)
			memmove(page + (lo - va), image + ph->off + (lo - ph->vaddr), hi - lo);
	}
	return 0;
}

// Give p a page table holding program name and a user stack, and point its
// trapframe at the entry point. On failure p->pagetable is either 0 or
// partly built; freeproc() copes with both.
int
loadprog(struct proc *p, const char *name)
{
	const struct program *prog = findprog(name);
	if (prog == NULL)
		return -1;

	const char *image = prog->start;
	uint64 size = prog->end - prog->start;
	const struct elfhdr *eh = (const struct elfhdr *)image;

	if (size < sizeof(*eh) || eh->magic != ELF_MAGIC || eh->class != ELFCLASS64 ||
	    eh->machine != EM_RISCV || eh->phentsize != sizeof(struct proghdr) ||
	    eh->phoff + (uint64)eh->phnum * sizeof(struct proghdr) > size) {
		printf("loadprog: %s: not a RISC-V ELF64 executable\n", name);
		return -1;
	}

	if ((p->pagetable = uvmcreate()) == NULL)
		return -1;

	const struct proghdr *ph = (const struct proghdr *)(image + eh->phoff);
	for (int i = 0; i < eh->phnum; i++, ph++) {
		if (ph->type != PT_LOAD || ph->memsz == 0)
			continue;
		if (ph->filesz > ph->memsz || ph->off + ph->filesz > size ||
		    ph->vaddr < USERBASE || ph->memsz > USERLIMIT - ph->vaddr ||
		    ph->vaddr >= USERLIMIT) {
			printf("loadprog: %s: bad segment %d\n", name, i);
			return -1;
		}
		if (loadseg(p->pagetable, ph, image) < 0)
			return -1;
	}

	if (eh->entry < USERBASE || eh->entry >= USERLIMIT)
		return -1;
	for (uint64 va = USTACKTOP - USTACKSIZE; va < USTACKTOP; va += PGSIZE)
		if (userpage(p->pagetable, va, PTE_U | PTE_R | PTE_W) == NULL)
			return -1;

	p->tf.epc = eh->entry;
	p->tf.sp = USTACKTOP;
	return 0;
}

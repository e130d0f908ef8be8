#ifndef PROC_H
#define PROC_H

// Trapframe offsets, for trapvec.S. Register xN is saved at (N-1)*8.
#define TF_EPC   248
#define TF_KSP   256

#ifndef __ASSEMBLER__

#include "types.h"
#include "param.h"

// Callee-saved registers for swtch(); caller-saved ones are on the stack.
struct context {
	uint64 ra, sp;
	uint64 s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11;
};

// User registers, saved by uservec on every trap from user mode and reloaded
// by userret. The layout is fixed by trapvec.S: x1..x31 in register order.
struct trapframe {
	uint64 ra, sp, gp, tp, t0, t1, t2, s0, s1;
	uint64 a0, a1, a2, a3, a4, a5, a6, a7;
	uint64 s2, s3, s4, s5, s6, s7, s8, s9, s10, s11;
	uint64 t3, t4, t5, t6;
	uint64 epc;        // user pc
	uint64 kernel_sp;  // top of this process's kernel stack
};

enum procstate { UNUSED, RUNNABLE, RUNNING, SLEEPING, ZOMBIE };

struct proc {
	struct trapframe tf;      // in the kernel's bss, so mapped everywhere
	struct context ctx;       // swtch() here to run the process's kernel side
	enum procstate state;
	int pid;
	int xstate;               // exit status, for the parent's wait()
	struct proc *parent;
	void *chan;               // sleeping on chan, if non-zero
	pagetable_t pagetable;    // user page table (shares the kernel mappings)
	char *kstack;             // bottom of the kernel stack
	char name[NAMELEN];
};

#endif
#endif

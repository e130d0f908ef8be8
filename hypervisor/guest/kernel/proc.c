// Processes and the round-robin scheduler.
//
// One hart, and in the kernel interrupts are on only while the scheduler
// idles in wfi, so nothing here needs a lock: a sequence of statements is
// never interrupted by another process or by the timer handler.

#include "types.h"
#include "param.h"
#include "riscv.h"
#include "proc.h"
#include "defs.h"

struct proc procs[NPROC];
static char kstacks[NPROC][KSTACKSIZE] __attribute__((aligned(16)));

static struct proc *current;       // running process, or 0 in the scheduler
static struct context schedctx;    // the scheduler's registers
static struct proc *initproc;
static int nextpid = 1;

struct proc *
myproc(void)
{
	return current;
}

// A process's first swtch() lands here, on its kernel stack.
static void
forkret(void)
{
	usertrapret();
}

static struct proc *
allocproc(void)
{
	for (int i = 0; i < NPROC; i++) {
		struct proc *p = &procs[i];
		if (p->state != UNUSED)
			continue;
		memset(p, 0, sizeof(*p));
		p->pid = nextpid++;
		p->kstack = kstacks[i];
		p->ctx.ra = (uint64)forkret;
		p->ctx.sp = (uint64)p->kstack + KSTACKSIZE;
		return p;
	}
	return NULL;
}

static void
freeproc(struct proc *p)
{
	if (p->pagetable)
		uvmfree(p->pagetable);
	p->pagetable = NULL;
	p->state = UNUSED;
}

// A runnable process running the embedded program name.
static struct proc *
newproc(const char *name, struct proc *parent)
{
	struct proc *p = allocproc();

	if (p == NULL)
		return NULL;
	if (loadprog(p, name) < 0) {
		freeproc(p);
		return NULL;
	}
	safestrcpy(p->name, name, sizeof(p->name));
	p->parent = parent;
	p->state = RUNNABLE;
	return p;
}

NOINLINE void
userinit(void)
{
	initproc = newproc("init", NULL);
	if (initproc == NULL)
		panic("userinit: cannot start init");
}

int
spawn(const char *name)
{
	struct proc *p = newproc(name, myproc());

	return p ? p->pid : -1;
}

// Give the CPU back to the scheduler.
static void
sched(void)
{
	struct proc *p = myproc();

	if (p->state == RUNNING)
		panic("sched: still running");
	swtch(&p->ctx, &schedctx);
}

void
yield(void)
{
	myproc()->state = RUNNABLE;
	sched();
}

void
sleep(void *chan)
{
	struct proc *p = myproc();

	p->chan = chan;
	p->state = SLEEPING;
	sched();
	p->chan = NULL;
}

void
wakeup(void *chan)
{
	for (struct proc *p = procs; p < &procs[NPROC]; p++)
		if (p->state == SLEEPING && p->chan == chan)
			p->state = RUNNABLE;
}

// The memory of a zombie is freed by its parent's wait(), which runs on the
// parent's page table, never on the one being freed.
void
exit(int status)
{
	struct proc *p = myproc();

	if (p == initproc)
		panic("init exited");
	for (struct proc *c = procs; c < &procs[NPROC]; c++) {
		if (c->state != UNUSED && c->parent == p) {
			c->parent = initproc;
			wakeup(initproc);
		}
	}
	p->xstate = status;
	p->state = ZOMBIE;
	wakeup(p->parent);
	sched();
	panic("exit: zombie ran");
}

int
wait(uint64 status_addr)
{
	struct proc *p = myproc();

	for (;;) {
		int havekids = 0;
		for (struct proc *c = procs; c < &procs[NPROC]; c++) {
			if (c->state == UNUSED || c->parent != p)
				continue;
			havekids = 1;
			if (c->state != ZOMBIE)
				continue;
			int pid = c->pid;
			if (status_addr != 0 &&
			    copyout(p->pagetable, status_addr, &c->xstate, sizeof(c->xstate)) < 0)
				return -1;
			freeproc(c);
			return pid;
		}
		if (!havekids)
			return -1;
		sleep(p);
	}
}

// Round robin over the process table, forever. A process runs until its
// time slice ends (timer trap in usertrap), it sleeps, or it exits. With
// nothing runnable, wait for an interrupt with interrupts enabled: the timer
// tick polls the console and wakes sleepers.
NOINLINE void
scheduler(void)
{
	for (;;) {
		int ran = 0;
		for (struct proc *p = procs; p < &procs[NPROC]; p++) {
			if (p->state != RUNNABLE)
				continue;
			p->state = RUNNING;
			current = p;
			switchpagetable(p->pagetable);
			swtch(&schedctx, &p->ctx);
			// A process's page table is live only while it runs.
			switchpagetable(kernel_pagetable);
			current = NULL;
			ran = 1;
		}
		if (!ran) {
			intr_on();
			wfi();
			intr_off();
		}
	}
}

// Traps: system calls and faults from user mode, the supervisor timer.

#include "types.h"
#include "param.h"
#include "riscv.h"
#include "proc.h"
#include "defs.h"

_Static_assert(__builtin_offsetof(struct trapframe, a0) == (10 - 1) * 8, "trapframe layout");
_Static_assert(__builtin_offsetof(struct trapframe, t6) == (31 - 1) * 8, "trapframe layout");
_Static_assert(__builtin_offsetof(struct trapframe, epc) == TF_EPC, "trapframe layout");
_Static_assert(__builtin_offsetof(struct trapframe, kernel_sp) == TF_KSP, "trapframe layout");

volatile uint64 ticks;          // timer interrupts since boot
static uint64 tick_interval;    // in time-CSR units

void usertrap(void) __attribute__((noreturn));
void kerneltrap(void);

NOINLINE void
trapinit(void)
{
	ticks = 0;
	tick_interval = TIMEBASE_HZ / HZ;
}

static void
timer_arm(void)
{
	sbi_set_timer(r_time() + tick_interval);   // also clears the pending STIP
}

// Install the kernel trap vector and start the tick. Called only after
// paging is on (see main.c). Interrupts stay globally off (sstatus.SIE)
// until the scheduler idles or we return to user mode.
NOINLINE void
trapinithart(void)
{
	w_stvec((uint64)kernelvec); FIXTURE_STVEC()
	w_sie(r_sie() | SIE_STIE);   // the only interrupt we ever enable
	TIMER_ARM()
}

// A timer tick: re-arm, poll the console (input is not interrupt driven),
// and wake sleep(ticks) callers.
static void
clockintr(void)
{
	ticks++;
	timer_arm();
	consolepoll();
	wakeup((void *)&ticks);
}

// From uservec, on the process's kernel stack, interrupts off.
void
usertrap(void)
{
	struct proc *p = myproc();
	uint64 scause = r_scause();

	w_stvec((uint64)kernelvec);   // we are in the kernel now
	if (r_sstatus() & SSTATUS_SPP)
		panic("usertrap: not from user mode");
	p->tf.epc = r_sepc(); FIXTURE_USER_FAULT(p, scause)

	if (scause == SCAUSE_ECALL_U) {
		p->tf.epc += 4;   // return past the ecall
		syscall();
	} else if (scause == SCAUSE_S_TIMER) {
		clockintr();
		yield();          // preemption: the time slice is over
	} else {
		printf("usertrap: pid %d (%s): scause 0x%lx sepc 0x%lx stval 0x%lx, killed\n",
		       p->pid, p->name, scause, r_sepc(), r_stval());
		exit(-1);
	}
	usertrapret();
}

// Return to user mode for the current process.
void
usertrapret(void)
{
	struct proc *p = myproc();

	intr_off();   // until sret: a trap now would go to uservec
	w_stvec((uint64)uservec);
	w_sscratch((uint64)&p->tf);
	p->tf.kernel_sp = (uint64)p->kstack + KSTACKSIZE;

	uint64 s = r_sstatus();
	s &= ~SSTATUS_SPP;   // sret to U-mode
	s |= SSTATUS_SPIE;   // with interrupts on
	w_sstatus(s);
	w_sepc(p->tf.epc);
	userret(&p->tf);
}

// From kernelvec. In the kernel, interrupts are on only while the scheduler
// waits in wfi, so a timer tick here never preempts anything.
void
kerneltrap(void)
{
	uint64 sepc = r_sepc();
	uint64 sstatus = r_sstatus();
	uint64 scause = r_scause();

	if (!(sstatus & SSTATUS_SPP))
		panic("kerneltrap: not from supervisor mode");
	if (scause != SCAUSE_S_TIMER) {
		printf("kerneltrap: scause 0x%lx sepc 0x%lx stval 0x%lx\n",
		       scause, sepc, r_stval());
		panic("kerneltrap");
	}
	clockintr();
	// kernelvec's sret needs them as they were
	w_sepc(sepc);
	w_sstatus(sstatus);
}

// System call dispatch. Number in a7, arguments in a0..a2, result in a0.

#include "types.h"
#include "param.h"
#include "riscv.h"
#include "proc.h"
#include "syscall.h"
#include "defs.h"

static uint64
sys_write(struct trapframe *tf)
{
	if (tf->a0 != 1 && tf->a0 != 2)
		return -1;
	return consolewrite(tf->a1, (int)tf->a2);
}

static uint64
sys_read(struct trapframe *tf)
{
	if (tf->a0 != 0)
		return -1;
	return consoleread(tf->a1, (int)tf->a2);
}

static uint64
sys_spawn(struct trapframe *tf)
{
	char name[NAMELEN];

	if (copyinstr(myproc()->pagetable, name, tf->a0, sizeof(name)) < 0)
		return -1;
	return spawn(name);
}

static uint64
sys_exit(struct trapframe *tf)
{
	exit((int)tf->a0);
}

static uint64
sys_wait(struct trapframe *tf)
{
	return wait(tf->a0);
}

static uint64
sys_yield(struct trapframe *tf)
{
	(void)tf;
	yield();
	return 0;
}

static uint64
sys_sleep(struct trapframe *tf)
{
	uint64 until = ticks + tf->a0;

	while (ticks < until)
		sleep((void *)&ticks);
	return 0;
}

static uint64
sys_uptime(struct trapframe *tf)
{
	(void)tf;
	return ticks;
}

static uint64
sys_getpid(struct trapframe *tf)
{
	(void)tf;
	return myproc()->pid;
}

// Power off through SBI SRST: QEMU (or our hypervisor, for this VM) exits.
static uint64
sys_halt(struct trapframe *tf)
{
	(void)tf;
	long err = sbi_shutdown();
	printf("halt: SBI system reset failed (error %ld)\n", err);
	return -1;
}

static uint64 (*const syscalls[])(struct trapframe *) = {
	[SYS_write]  = sys_write,
	[SYS_read]   = sys_read,
	[SYS_spawn]  = sys_spawn,
	[SYS_exit]   = sys_exit,
	[SYS_wait]   = sys_wait,
	[SYS_yield]  = sys_yield,
	[SYS_sleep]  = sys_sleep,
	[SYS_uptime] = sys_uptime,
	[SYS_getpid] = sys_getpid,
	[SYS_halt]   = sys_halt,
};

void
syscall(void)
{
	struct proc *p = myproc();
	uint64 num = p->tf.a7; FIXTURE_SYSCALL(p, num)

	if (num < sizeof(syscalls) / sizeof(syscalls[0]) && syscalls[num]) {
		p->tf.a0 = syscalls[num](&p->tf);
	} else {
		printf("pid %d (%s): unknown system call %ld\n", p->pid, p->name, num);
		p->tf.a0 = -1;
	}
}

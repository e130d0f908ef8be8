#ifndef DEFS_H
#define DEFS_H

#include "types.h"

struct proc;
struct trapframe;
struct context;

// Boot stages and other functions a debugger should be able to break on are
// real symbols, never inlined into their callers.
#define NOINLINE __attribute__((noinline))

// console.c
void consoleinit(void);
void consolepoll(void);
int  consoleread(uint64 dst, int n);
int  consolewrite(uint64 src, int n);

// exec.c
int  loadprog(struct proc *p, const char *name);

// kalloc.c
void kinit(void);
void *kalloc(void);
void kfree(void *pa);
uint64 kfreepages(void);

// printf.c
void printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void panic(const char *msg) __attribute__((noreturn));

// proc.c
struct proc *myproc(void);
void userinit(void);
void scheduler(void) __attribute__((noreturn));
int  spawn(const char *name);
void exit(int status) __attribute__((noreturn));
int  wait(uint64 status_addr);
void yield(void);
void sleep(void *chan);
void wakeup(void *chan);

// sbi.c
void sbi_set_timer(uint64 stime);
long sbi_shutdown(void);

// string.c
void *memset(void *dst, int c, uint64 n);
void *memcpy(void *dst, const void *src, uint64 n);
void *memmove(void *dst, const void *src, uint64 n);
int  memcmp(const void *a, const void *b, uint64 n);
uint64 strlen(const char *s);
int  strncmp(const char *a, const char *b, uint64 n);
void safestrcpy(char *dst, const char *src, uint64 size);

// swtch.S
void swtch(struct context *old, struct context *new);

// syscall.c
void syscall(void);

// trap.c
extern volatile uint64 ticks;
void trapinit(void);
void trapinithart(void);
void usertrapret(void) __attribute__((noreturn));

// trapvec.S
void kernelvec(void);
void uservec(void);
void userret(struct trapframe *tf) __attribute__((noreturn));

// uart.c
void uartinit(void);
void uartputc(int c);
int  uartgetc(void);

// vm.c
extern pagetable_t kernel_pagetable;
void kvminit(void);
void kvminithart(void);
void switchpagetable(pagetable_t pt);
pte_t *walk(pagetable_t pt, uint64 va, int alloc);
int  mappages(pagetable_t pt, uint64 va, uint64 size, uint64 pa, uint64 perm);
pagetable_t uvmcreate(void);
void uvmfree(pagetable_t pt);
int  copyout(pagetable_t pt, uint64 dstva, const void *src, uint64 len);
int  copyin(pagetable_t pt, void *dst, uint64 srcva, uint64 len);
int  copyinstr(pagetable_t pt, char *dst, uint64 srcva, uint64 max);

// Fault injection (../../README.md, "Fault builds"). A guest-*.elf fault
// build is compiled with exactly one GUEST_FAULT_* flag and links fault.c;
// in guest.elf the hook is empty and compiles to nothing. It brings its own
// semicolon and is written without one, after kvminithart() on the same line:
// even an empty statement would leave a mark in the debug line table, and
// guest.elf must stay byte for byte the same.
#if defined(GUEST_FAULT_NOSTVEC) + defined(GUEST_FAULT_ILLEGAL) + defined(GUEST_FAULT_NOTIMER) > 1
#error "one fault per build: define at most one GUEST_FAULT_* flag"
#endif
#if defined(GUEST_FAULT_NOSTVEC)
void fault_unmapped_load(void);
#define FAULT_BEFORE_STVEC() fault_unmapped_load();
#elif defined(GUEST_FAULT_ILLEGAL)
void fault_illegal_insn(void);
#define FAULT_BEFORE_STVEC() fault_illegal_insn();
#else
#define FAULT_BEFORE_STVEC()
#endif
// GUEST_FAULT_NOTIMER: trapinithart() enables the timer interrupt but never
// arms the timer (no SBI set_timer): the kernel waits for a tick for ever.
// The hook stands for the arming statement itself, on its line.
#if defined(GUEST_FAULT_NOTIMER)
#define TIMER_ARM()
#else
#define TIMER_ARM() timer_arm();
#endif

// Fixture builds (../../README.md, "Fixture builds"): guests that boot and
// work, with something extra that firmware written elsewhere does. Compiled
// with one GUEST_FIXTURE_* flag, linking fixture.c; in guest.elf the hooks
// are empty. Like the fault hooks, each is written at the end of an existing
// line, so that guest.elf's line table stays byte for byte the same.
//   FIXTURE_SYSCALL(p, num)        syscall(): the fixture's own system calls
//   FIXTURE_USER_FAULT(p, scause)  usertrap(): a fault the fixture resolves
#ifdef GUEST_FIXTURE_STRESS
int fixture_syscall(struct proc *p, uint64 num);
int fixture_user_fault(struct proc *p, uint64 scause, uint64 va);
#define FIXTURE_SYSCALL(p, num)       if (fixture_syscall(p, num)) return;
#define FIXTURE_USER_FAULT(p, scause) if (fixture_user_fault(p, scause, r_stval())) usertrapret();
#else
#define FIXTURE_SYSCALL(p, num)
#define FIXTURE_USER_FAULT(p, scause)
#endif
// FIXTURE_BEFORE_KINIT()  main(): the hotpage build's RAM scrub (hotpage.c)
#ifdef GUEST_FIXTURE_HOTPAGE
void fixture_scrub_ram(void);
#define FIXTURE_BEFORE_KINIT() fixture_scrub_ram();
#else
#define FIXTURE_BEFORE_KINIT()
#endif
// FIXTURE_STVEC()  trapinithart(): the spintrap build's vector (spintrap.S)
#ifdef GUEST_FIXTURE_SPINTRAP
extern char spinvec[];
#define FIXTURE_STVEC() w_stvec((uint64)spinvec);
#else
#define FIXTURE_STVEC()
#endif

// FIXTURE_KFREE_FILL(pa)  kfree(): the xv6-layout build fills each freed page
//                         with junk, as xv6-riscv's kfree does (its hot loop)
#ifdef GUEST_FIXTURE_XV6LAYOUT
#define FIXTURE_KFREE_FILL(pa) memset((pa), 1, PGSIZE);
#else
#define FIXTURE_KFREE_FILL(pa)
#endif

#endif

// The high-linked fixture build (README.md, "Fixture builds"; hv.mk builds
// hypervisor-highboot.elf from hypervisor.elf's sources with entry-high.S in
// place of entry.S, this file in place of fixture.c, hv-high.ld and the flag
// HV_FIXTURE_HIGHBOOT). It hangs on purpose, shaped like hypervisors written
// elsewhere:
// - linked high (0xffffffc080200000) and loaded low (0x80200000); every hart
//   turns its MMU on through a deliberate instruction page fault (cause 12,
//   HS to HS, never returned from with sret: entry-high.S);
// - VM0 only, on hart 0; the G-stage leaf of its entry page lacks X, so the
//   guest's first instruction is a guest instruction page fault (cause 20)
//   into HS, reported as "ERROR: unknown synchronous exception (20)" through
//   SBI legacy putchar (OpenSBI prints it) before hart 0 parks;
// - the other harts are started, set up, and wait in idle() (a wfi loop) for
//   the guest to start their vCPUs through SBI HSM, which it never does.

#include "memlayout.h"
#include "riscv.h"
#include "defs.h"

#define SBI_LEGACY_PUTCHAR 1            // legacy console: one character in a0

// Set by the guest's SBI HSM hart_start for that hart's vCPU: never, as
// vsbi.c offers no HSM (and the guest does not get that far).
static int vcpu_start_requested[MAXHART];

static int idle_started;                // idle harts hart_start accepted
static int idle_ready;                  // idle harts done with hart_init

void fixture_announce(void)
{
	printf("hypervisor: fixture build: linked high, MMU on through a fetch fault; "
	       "VM0 only, its entry page not executable; other harts idle\n");
}

int fixture_vms(int n)
{
	(void)n;
	return 1;
}

void fixture_boot_claimed(uint64 hartid)
{
	(void)hartid;
}

// The harts without a VM boot too (each through its own MMU fault) and
// wait in idle().
void fixture_before_hart_start(void)
{
	extern char _secondary[];
	for (int i = nvm; i < MAXHART; i++)
		if (sbi_hart_exists(i) && sbi_hart_start(i, (uint64)_secondary, 0) == 0)
			idle_started++;
	__sync_synchronize();
}

// The leaf over the guest's entry page loses X (a 2 MiB leaf: the whole
// guest image). vm_start fences the G-stage before first use.
void fixture_gstage(struct vm *vm)
{
	int level = -1;
	pte_t *pte = gstage_leaf(vm, GUEST_ENTRY, &level);
	if (pte == 0)
		panic("fixture build: the guest's entry page is not mapped");
	*pte &= ~PTE_X;
}

static void sbi_puts(const char *s)
{
	for (; *s; s++)
		sbi_call(SBI_LEGACY_PUTCHAR, 0, *s, 0, 0);
}

// A guest trap vm_trap has no case for: what a hypervisor without a handler
// for it says, through the SBI console, before it stops the hart.
int fixture_trap(struct vcpu *v)
{
	(void)v;
	uint64 scause = csr_read(CSR_SCAUSE);
	char num[3] = { 0 };
	int n = 0;
	if (scause >= 10)
		num[n++] = '0' + (char)(scause / 10 % 10);
	num[n] = '0' + (char)(scause % 10);
	sbi_puts("ERROR: unknown synchronous exception (");
	sbi_puts(num);
	sbi_puts(")\n");
	park();
}

// The idle routine of a hart without a running vCPU: the per-hart set-up
// every hart gets, then wfi until its vCPU is started. The guest's timer
// (vstimecmp) is set up when a vCPU starts, so it keeps its reset value here.
static void __attribute__((noinline, noreturn)) idle(void)
{
	uint64 hartid = r_tp();
	hart_init();
	csr_write(CSR_VSTIMECMP, 0);
	while (!__atomic_load_n(&vcpu_start_requested[hartid], __ATOMIC_ACQUIRE))
		wfi();
	panic("idle: a vCPU start was requested; not implemented");
}

// park(): a hart without a VM of its own goes idle instead.
void fixture_park(void)
{
	if (r_tp() >= (uint64)nvm)
		idle();
}

// The end of hart_init(). VM0 starts only once every idle hart has printed
// its set-up line: the guest's error goes out through OpenSBI, whose
// console lock is not our printf's, and must not be cut by those lines.
void fixture_hart_ready(void)
{
	if (r_tp() >= (uint64)nvm) {
		__atomic_fetch_add(&idle_ready, 1, __ATOMIC_RELEASE);
		return;
	}
	while (__atomic_load_n(&idle_ready, __ATOMIC_ACQUIRE) <
	       __atomic_load_n(&idle_started, __ATOMIC_ACQUIRE))
		;
}

void fixture_hideleg(void)
{
}

// hcounteren stays as hart_init() writes it.
void fixture_counteren(void)
{
}

// Our timer needs nothing more here.
void fixture_tick(void)
{
}

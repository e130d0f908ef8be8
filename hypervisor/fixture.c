// Fixture builds (README.md, "Fixture builds"; hv.mk builds them): hypervisors
// that boot fine, but do what hypervisors written elsewhere do and ours
// normally does not. Exactly one flag per build; the normal builds do not
// link this file and their hooks (defs.h) are empty.
//
//   HV_FIXTURE_SLOWSTART  the boot hart does several seconds of silent
//                         set-up work (zeroing and copying memory) before it
//                         starts the other hart with SBI HSM hart_start;
//                         until then that hart waits in OpenSBI (M-mode, no
//                         traps, no output).
//   HV_FIXTURE_MMIO_POLL  each VM's console page is left out of its G-stage:
//                         every guest UART access is a guest-page fault that
//                         we emulate (do the access on the real UART, step
//                         sepc over the instruction). The first MMIO_BUSY
//                         reads of the line status register say "transmitter
//                         busy", so the guest's first uartputc() polls it in
//                         a tight loop, trapping each time.
//   HV_FIXTURE_REENTRY    before its set-up, the boot hart starts the other
//                         harts at _start, the boot entry, and waits until
//                         SBI HSM says they run: what a firmware does that
//                         hands a hart the kernel's entry address (seen once
//                         under load). Those harts must find the boot path
//                         taken and run as secondaries, and the later
//                         hart_start(_secondary) answers "already available".

#include "memlayout.h"
#include "riscv.h"
#include "defs.h"

#if defined(HV_FIXTURE_SLOWSTART)
// The amount of work, in passes; not a time. Each pass zeroes SCRATCH_SIZE
// bytes a byte at a time and copies the guest image into the scratch area.
// Measured here (2 cores, loaded): the shells start about 5 s after power-on
// on QEMU 10.0.2 and 12 s on 7.2.22, against 0.5 s for hypervisor.elf.
#define SLOW_PASSES   160
#define SCRATCH       0x86000000UL      // free RAM above the VMs, below the device tree
#define SCRATCH_SIZE  (8UL << 20)
#endif

#if defined(HV_FIXTURE_MMIO_POLL)
#define MMIO_BUSY     10000             // LSR reads that say "busy", per VM
#define UART_LSR      5
#define LSR_THRE_TEMT 0x60              // transmitter holding register / shift register empty

static int lsr_reads[NVM];
#endif

#if defined(HV_FIXTURE_REENTRY)
#define SBI_EXT_HSM      0x48534D
#define HSM_STARTED      0              // hart_get_status: running
#endif

void fixture_announce(void)
{
#if defined(HV_FIXTURE_SLOWSTART)
	printf("hypervisor: fixture build: %d passes of silent set-up before the other harts start\n",
	       SLOW_PASSES);
#elif defined(HV_FIXTURE_MMIO_POLL)
	printf("hypervisor: fixture build: consoles trap-and-emulate, the first %d LSR reads say busy\n",
	       MMIO_BUSY);
#elif defined(HV_FIXTURE_REENTRY)
	printf("hypervisor: fixture build: the other harts are started at the boot entry first\n");
#endif
}

void fixture_boot_claimed(uint64 hartid)
{
#if defined(HV_FIXTURE_REENTRY)
	extern char _start[];
	for (uint64 i = 0; i < NVM; i++) {
		if (i == hartid || !sbi_hart_exists(i))
			continue;
		if (sbi_hart_start(i, (uint64)_start, 0) != 0)
			continue;       // running already (it came in at _start too)
		// Until it runs, a hart_start(_secondary) could still succeed:
		// wait, so that the boot path's own call meets a running hart.
		while (sbi_call(SBI_EXT_HSM, 2, i, 0, 0).value != HSM_STARTED)
			;
	}
#else
	(void)hartid;
#endif
}

void fixture_before_hart_start(void)
{
#if defined(HV_FIXTURE_SLOWSTART)
	// Guest-visible work, so its length is counted in instructions, not in
	// the host's seconds: a slower host makes it take longer.
	uint64 len = guest_image_end - guest_image;
	for (int pass = 0; pass < SLOW_PASSES; pass++) {
		memset((void *)SCRATCH, pass, SCRATCH_SIZE);
		memcpy((void *)SCRATCH, guest_image, len);
	}
	__sync_synchronize();
#endif
}

#if defined(HV_FIXTURE_MMIO_POLL)
// The level-0 PTE of a 4 KiB G-stage mapping of gpa, or 0.
static pte_t *gstage_pte4k(pte_t *root, uint64 gpa)
{
	pte_t *pte = &root[(gpa >> 30) & 2047];
	for (int l = 2; l > 0; l--) {
		if (!(*pte & PTE_V) || (*pte & (PTE_R | PTE_W | PTE_X)))
			return 0;
		pte_t *table = (pte_t *)PTE2PA(*pte);
		pte = &table[(gpa >> (12 + 9 * (l - 1))) & 511];
	}
	return pte;
}

// hlvx.hu: a halfword of guest code at guest-virtual va, read through the
// guest's own translation (vsatp, then the G-stage) as an instruction fetch.
static uint64 hlvx_hu(uint64 va)
{
	uint64 x;
	asm volatile(".insn r 0x73, 0x4, 0x32, %0, %1, x3" : "=r"(x) : "r"(va) : "memory");
	return x;
}

// The faulting load or store and its length (2 or 4); 0 when it cannot be
// had. QEMU >= 8.0 gives it in htinst, transformed (bit 1 clear for a
// compressed original); QEMU 7.2 leaves htinst 0, so read it from the
// guest's memory at sepc. Compressed instructions read that way are not
// decoded: the guest's UART code uses byte loads and stores, which RVC lacks.
static int fetch_insn(uint32 *insn)
{
	uint64 htinst = csr_read(CSR_HTINST);
	if (htinst & 1) {
		*insn = htinst | 2;
		return (htinst & 2) ? 4 : 2;
	}
	uint64 pc = csr_read(CSR_SEPC);
	uint64 lo = hlvx_hu(pc);
	if ((lo & 3) != 3)
		return 0;
	*insn = lo | (hlvx_hu(pc + 2) << 16);
	return 4;
}

// A byte access to the emulated register at offset off of vm's console.
static uint64 console_read(struct vm *vm, uint64 off)
{
	uint64 val = REG8(vm->console + off);
	if (off == UART_LSR && lsr_reads[vm->id] < MMIO_BUSY) {
		lsr_reads[vm->id]++;
		val &= ~LSR_THRE_TEMT;
	}
	return val;
}
#endif

void fixture_gstage(struct vm *vm)
{
#if defined(HV_FIXTURE_MMIO_POLL)
	pte_t *pte = gstage_pte4k(vm->gstage, GUEST_UART);
	if (pte == 0)
		panic("fixture build: the console page is not a 4 KiB mapping");
	*pte = 0;                   // vm_start fences the G-stage before first use
#else
	(void)vm;
#endif
}

// A guest trap the fixture handles: 1 when done (sepc already advanced),
// 0 to leave it to vm_trap's report.
int fixture_trap(struct vcpu *v)
{
#if defined(HV_FIXTURE_MMIO_POLL)
	uint64 scause = csr_read(CSR_SCAUSE);
	if (scause != EXC_LOAD_GUEST_PF && scause != EXC_STORE_GUEST_PF)
		return 0;
	uint64 gpa = (csr_read(CSR_HTVAL) << 2) | (csr_read(CSR_STVAL) & 3);
	if (gpa < GUEST_UART || gpa >= GUEST_UART + 4096)
		return 0;
	uint32 insn;
	int len = fetch_insn(&insn);
	if (len == 0)
		return 0;
	uint32 opcode = insn & 0x7f, funct3 = (insn >> 12) & 7;
	uint32 rd = (insn >> 7) & 31, rs2 = (insn >> 20) & 31;
	uint64 off = gpa - GUEST_UART;
	if (scause == EXC_LOAD_GUEST_PF && opcode == 0x03 && (funct3 == 0 || funct3 == 4)) {
		uint64 val = console_read(v->vm, off);
		if (funct3 == 0)                        // lb: sign-extend
			val = (uint64)(long)(signed char)val;
		if (rd != 0)
			v->regs[rd] = val;
	} else if (scause == EXC_STORE_GUEST_PF && opcode == 0x23 && funct3 == 0) {
		REG8(v->vm->console + off) = v->regs[rs2];   // regs[0] is always 0
	} else {
		return 0;
	}
	csr_write(CSR_SEPC, csr_read(CSR_SEPC) + len);
	return 1;
#else
	(void)v;
	return 0;
#endif
}

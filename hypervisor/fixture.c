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
//   HV_FIXTURE_SBI_PANIC  hangs on purpose, shaped like a static-partitioning
//                         hypervisor written elsewhere: VM0 only, its RAM
//                         mapped without X in the G-stage, so its first
//                         instruction is a guest instruction page fault
//                         (cause 20) into HS. The error goes out through SBI
//                         console calls (legacy putchar, one ecall a
//                         character) as "[ERROR]" and "[PANIC]" lines before
//                         the hart parks. The other harts are started too and
//                         sit idle in a wfi loop, each holding a stale boot
//                         trap in scause: an ebreak, handled (a small vector
//                         steps over it and returns with sret), taken before
//                         VM0 starts.
//   HV_FIXTURE_NO_VSTI    hangs on purpose: hideleg leaves out the VS timer
//                         interrupt (and hie does not enable it), so the
//                         hvip.VSTIP we raise for a guest's set_timer stays
//                         pending, delivered to nobody: each guest waits for
//                         its first tick for ever.
//   HV_FIXTURE_EMUL_HTINST  VM0's console page is left out of its G-stage and
//                         its UART is emulated, like HV_FIXTURE_MMIO_POLL's,
//                         but the trapped load or store is decoded from
//                         htinst alone. QEMU 8.0 and later fill htinst and
//                         VM0 boots; QEMU 7.2 leaves it 0, so the first
//                         access (a store in uartinit) cannot be emulated:
//                         a "PANIC ... no opcode" line on the console, and
//                         the hart parks. VM1 is untouched and boots.
//   HV_FIXTURE_NOCOUNTERS hangs on purpose: hcounteren is 0, which hides the
//                         counters (cycle, time, instret, hpmcounterN) from
//                         the guests, so a guest's first rdtime is a
//                         virtual-instruction exception (cause 22) to HS. We
//                         do not emulate it: we inject an illegal-instruction
//                         exception into the guest (vscause 2, vstval the
//                         instruction, vsepc its pc, on to vstvec), as a
//                         hypervisor that forwards what it does not handle
//                         does. The guest's handler then panics or spins.
//                         Our own timer keeps ticking (HEARTBEAT, a scheduler
//                         tick), so the hart keeps trapping to HS while the
//                         guest is stuck; the guests' own set_timer is not
//                         honoured (theirs never get that far).
//   HV_FIXTURE_LOGGED_UART  vm0's console page is trap-and-emulate (decoded
//                         as HV_FIXTURE_MMIO_POLL does, so on every QEMU),
//                         and the hypervisor logs on that same UART: once, in
//                         the middle of the guest's "guest kernel is booting"
//                         (after its "guest ker"), a whole line of its own
//                         goes out. A hypervisor that logs on the UART it
//                         forwards a guest's console to, without a lock the
//                         guest shares, cuts the guest's lines this way; a
//                         guest with the UART passed through gets the same
//                         at random. VM1 is untouched. Both VMs boot.

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

#if defined(HV_FIXTURE_MMIO_POLL) || defined(HV_FIXTURE_EMUL_HTINST) || defined(HV_FIXTURE_LOGGED_UART)
#define EMULATES_CONSOLE                // the console page is trap-and-emulate
#endif

#if defined(HV_FIXTURE_LOGGED_UART)
#define CUT_AFTER "guest ker"           // the guest's line so far when our line goes out

static char line_so_far[16];            // vm0's current output line, its start
static int line_len;
static int logged;
#endif

#if defined(HV_FIXTURE_REENTRY)
#define SBI_EXT_HSM      0x48534D
#define HSM_STARTED      0              // hart_get_status: running
#endif

#if defined(HV_FIXTURE_NOCOUNTERS)
#define CSR_TIME      0xc01
#define HEARTBEAT     100000            // time-CSR units: 10 ms at virt's 10 MHz
#endif

#if defined(HV_FIXTURE_SBI_PANIC)
#define SBI_LEGACY_PUTCHAR 1            // legacy console: one character in a0

static int idle_started;                // idle harts hart_start accepted
static int idle_probed;                 // idle harts past their boot trap

// The boot trap's handler: step over the 4-byte ebreak and return. Only t0
// is used, saved in sscratch (0 again afterwards: "in HS", see trapvec.S).
asm(".pushsection .text\n"
    ".balign 4\n"
    "probe_vec:\n"
    "	csrw	sscratch, t0\n"
    "	csrr	t0, sepc\n"
    "	addi	t0, t0, 4\n"
    "	csrw	sepc, t0\n"
    "	csrrw	t0, sscratch, zero\n"
    "	sret\n"
    ".popsection");
extern char probe_vec[];
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
#elif defined(HV_FIXTURE_SBI_PANIC)
	printf("hypervisor: fixture build: VM0 only, its RAM not executable; errors through SBI; other harts idle\n");
#elif defined(HV_FIXTURE_NO_VSTI)
	printf("hypervisor: fixture build: the VS timer interrupt is not delegated (hideleg)\n");
#elif defined(HV_FIXTURE_EMUL_HTINST)
	printf("hypervisor: fixture build: vm0's console trap-and-emulate, decoded from htinst alone\n");
#elif defined(HV_FIXTURE_NOCOUNTERS)
	printf("hypervisor: fixture build: hcounteren 0, virtual-instruction traps forwarded as illegal instructions\n");
#elif defined(HV_FIXTURE_LOGGED_UART)
	printf("hypervisor: fixture build: vm0's console trap-and-emulate, the hypervisor's log on the same UART\n");
#endif
}

void fixture_hideleg(void)
{
#if defined(HV_FIXTURE_NO_VSTI)
	csr_clear(CSR_HIDELEG, 1UL << IRQ_VS_TIMER);
#endif
}

void fixture_counteren(void)
{
#if defined(HV_FIXTURE_NOCOUNTERS)
	csr_write(CSR_HCOUNTEREN, 0);
#endif
}

// Our timer interrupt went off: in the nocounters build it is our own
// heartbeat, not a guest's deadline. Re-arm it; the guest gets no tick.
void fixture_tick(void)
{
#if defined(HV_FIXTURE_NOCOUNTERS)
	csr_clear(CSR_HVIP, HVIP_VSTIP);
	sbi_set_timer(csr_read(CSR_TIME) + HEARTBEAT);
#endif
}

int fixture_vms(int n)
{
#if defined(HV_FIXTURE_SBI_PANIC)
	(void)n;
	return 1;
#else
	return n;
#endif
}

// An idle hart (no VM of its own) parks; before that, its boot trap.
void fixture_park(void)
{
#if defined(HV_FIXTURE_SBI_PANIC)
	extern void trapvec(void);
	static int probed[MAXHART];
	uint64 hartid = r_tp();
	if (hartid < (uint64)nvm || hartid >= MAXHART || probed[hartid])
		return;
	probed[hartid] = 1;
	csr_write(CSR_STVEC, (uint64)probe_vec);
	asm volatile(".option push\n.option norvc\nebreak\n.option pop" ::: "memory");
	csr_write(CSR_STVEC, (uint64)trapvec);
	__atomic_fetch_add(&idle_probed, 1, __ATOMIC_RELEASE);
#endif
}

// VM0 starts once every idle hart has taken its boot trap.
void fixture_hart_ready(void)
{
#if defined(HV_FIXTURE_NOCOUNTERS)
	sbi_set_timer(csr_read(CSR_TIME) + HEARTBEAT);
#endif
#if defined(HV_FIXTURE_SBI_PANIC)
	while (__atomic_load_n(&idle_probed, __ATOMIC_ACQUIRE) <
	       __atomic_load_n(&idle_started, __ATOMIC_ACQUIRE))
		;
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
#if defined(HV_FIXTURE_SBI_PANIC)
	extern char _secondary[];
	for (int i = nvm; i < MAXHART; i++)
		if (sbi_hart_exists(i) && sbi_hart_start(i, (uint64)_secondary, 0) == 0)
			idle_started++;
	__sync_synchronize();
#endif
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

#if defined(HV_FIXTURE_SBI_PANIC)
static void sbi_puts(const char *s)
{
	for (; *s; s++)
		sbi_call(SBI_LEGACY_PUTCHAR, 0, *s, 0, 0);
}

static void sbi_puthex(uint64 x)
{
	char buf[19] = "0x";
	for (int i = 0; i < 16; i++)
		buf[2 + i] = "0123456789abcdef"[(x >> (60 - 4 * i)) & 15];
	buf[18] = 0;
	sbi_puts(buf);
}

// The fatal guest trap, reported the way many hypervisors do: through the
// SBI console, then the hart parks.
static void __attribute__((noreturn)) sbi_report(struct vcpu *v)
{
	char hart[2] = { '0' + (char)v->hartid, 0 };
	sbi_puts("[ERROR] hart ");
	sbi_puts(hart);
	sbi_puts(": fatal guest trap, scause ");
	sbi_puthex(csr_read(CSR_SCAUSE));
	sbi_puts(" sepc ");
	sbi_puthex(csr_read(CSR_SEPC));
	sbi_puts(" htval ");
	sbi_puthex(csr_read(CSR_HTVAL));
	sbi_puts("\n[PANIC] hart ");
	sbi_puts(hart);
	sbi_puts(" parked\n");
	park();
}
#endif

#if defined(HV_FIXTURE_MMIO_POLL) || defined(HV_FIXTURE_NOCOUNTERS) || defined(HV_FIXTURE_LOGGED_UART)
// hlvx.hu: a halfword of guest code at guest-virtual va, read through the
// guest's own translation (vsatp, then the G-stage) as an instruction fetch.
static uint64 hlvx_hu(uint64 va)
{
	uint64 x;
	asm volatile(".insn r 0x73, 0x4, 0x32, %0, %1, x3" : "=r"(x) : "r"(va) : "memory");
	return x;
}
#endif

#if defined(HV_FIXTURE_NOCOUNTERS)
// Forward the trap to the guest as an illegal-instruction exception, the
// way the privileged spec has a hart take one into VS-mode: vsepc, vscause
// and vstval; vsstatus.SPP the guest's privilege (hstatus.SPVP), SPIE the
// old SIE, SIE off; on at vstvec's base (exceptions ignore vectored mode)
// in VS-mode. QEMU >= 8.0 gives the instruction bits in stval; 7.2 gives
// 0, so they are read at sepc as the guest's own fetch would.
static int forward_illegal(void)
{
	if (csr_read(CSR_SCAUSE) != EXC_VIRTUAL_INST)
		return 0;
	uint64 pc = csr_read(CSR_SEPC);
	uint64 insn = csr_read(CSR_STVAL);
	if (insn == 0) {
		insn = hlvx_hu(pc);
		if ((insn & 3) == 3)
			insn |= hlvx_hu(pc + 2) << 16;
	}
	uint64 vs = csr_read(CSR_VSSTATUS);
	uint64 spp = (csr_read(CSR_HSTATUS) & HSTATUS_SPVP) ? SSTATUS_SPP : 0;
	uint64 spie = (vs & SSTATUS_SIE) ? SSTATUS_SPIE : 0;
	vs = (vs & ~(SSTATUS_SPP | SSTATUS_SPIE | SSTATUS_SIE)) | spp | spie;
	csr_write(CSR_VSSTATUS, vs);
	csr_write(CSR_VSEPC, pc);
	csr_write(CSR_VSCAUSE, EXC_ILLEGAL_INST);
	csr_write(CSR_VSTVAL, insn);
	csr_write(CSR_SEPC, csr_read(CSR_VSTVEC) & ~3UL);
	csr_set(CSR_SSTATUS, SSTATUS_SPP);      // sret to VS (hstatus.SPV is still 1)
	return 1;
}
#endif

#if defined(EMULATES_CONSOLE)

#if defined(HV_FIXTURE_MMIO_POLL) || defined(HV_FIXTURE_LOGGED_UART)

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

#else
// The faulting load or store from htinst alone, as a hypervisor written
// for QEMU >= 8.0 does it; 0 when htinst holds none (QEMU 7.2).
static int fetch_insn(uint32 *insn)
{
	uint64 htinst = csr_read(CSR_HTINST);
	if (!(htinst & 1))
		return 0;
	*insn = htinst | 2;
	return (htinst & 2) ? 4 : 2;
}
#endif

// A byte access to the emulated register at offset off of vm's console.
static uint64 console_read(struct vm *vm, uint64 off)
{
	uint64 val = REG8(vm->console + off);
#if defined(HV_FIXTURE_MMIO_POLL)
	if (off == UART_LSR && lsr_reads[vm->id] < MMIO_BUSY) {
		lsr_reads[vm->id]++;
		val &= ~LSR_THRE_TEMT;
	}
#endif
	return val;
}

#if defined(HV_FIXTURE_LOGGED_UART)
// The guest wrote c to its transmit register: once its line so far reads
// CUT_AFTER, a line of ours goes out on the same UART, inside the guest's.
static void log_inside_line(uint64 c)
{
	if (c == '\n' || c == '\r') {
		line_len = 0;
		return;
	}
	if (line_len < (int)sizeof(line_so_far))
		line_so_far[line_len] = (char)c;
	line_len++;
	if (logged || line_len != (int)sizeof(CUT_AFTER) - 1)
		return;
	for (int i = 0; i < line_len; i++)
		if (line_so_far[i] != CUT_AFTER[i])
			return;
	logged = 1;
	printf("hypervisor: vm0: %d console stores emulated so far\n", line_len);
}
#endif

// Emulate v's trapped access to its console page: 1 when done (sepc
// advanced), 0 when it is no console access or cannot be decoded.
static int emulate_console(struct vcpu *v)
{
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
#if defined(HV_FIXTURE_LOGGED_UART)
		if (off == 0)
			log_inside_line(v->regs[rs2]);
#endif
	} else {
		return 0;
	}
	csr_write(CSR_SEPC, csr_read(CSR_SEPC) + len);
	return 1;
}
#endif

void fixture_gstage(struct vm *vm)
{
#if defined(EMULATES_CONSOLE)
#if defined(HV_FIXTURE_EMUL_HTINST) || defined(HV_FIXTURE_LOGGED_UART)
	if (vm->id != 0)
		return;                 // VM1 keeps its console mapped
#endif
	int level = -1;
	pte_t *pte = gstage_leaf(vm, GUEST_UART, &level);
	if (pte == 0 || level != 0)
		panic("fixture build: the console page is not a 4 KiB mapping");
	*pte = 0;                   // vm_start fences the G-stage before first use
#elif defined(HV_FIXTURE_SBI_PANIC)
	// Every leaf over the guest's RAM loses X (vm_start fences the G-stage).
	for (uint64 gpa = GUEST_RAM; gpa < GUEST_RAM + VM_RAM_SIZE; gpa += 4096) {
		int level = -1;
		pte_t *pte = gstage_leaf(vm, gpa, &level);
		if (pte)
			*pte &= ~PTE_X;
	}
#else
	(void)vm;
#endif
}

// A guest trap the fixture handles: 1 when done (sepc already advanced),
// 0 to leave it to vm_trap's report.
int fixture_trap(struct vcpu *v)
{
#if defined(HV_FIXTURE_MMIO_POLL) || defined(HV_FIXTURE_LOGGED_UART)
	return emulate_console(v);
#elif defined(HV_FIXTURE_EMUL_HTINST)
	if (emulate_console(v))
		return 1;
	uint64 scause = csr_read(CSR_SCAUSE);
	uint64 gpa = (csr_read(CSR_HTVAL) << 2) | (csr_read(CSR_STVAL) & 3);
	if ((scause != EXC_LOAD_GUEST_PF && scause != EXC_STORE_GUEST_PF) ||
	    gpa < GUEST_UART || gpa >= GUEST_UART + 4096)
		return 0;               // not ours to emulate: vm_trap reports it
	printf("[PANIC hart %d] vuart: cannot emulate the %s at sepc %p: htinst %p holds no opcode\n",
	       (int)v->hartid, scause == EXC_STORE_GUEST_PF ? "store" : "load",
	       csr_read(CSR_SEPC), csr_read(CSR_HTINST));
	park();
	return 0;
#elif defined(HV_FIXTURE_SBI_PANIC)
	sbi_report(v);
#elif defined(HV_FIXTURE_NOCOUNTERS)
	(void)v;
	return forward_illegal();
#else
	(void)v;
	return 0;
#endif
}

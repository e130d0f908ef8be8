// Shared structures and the functions each file offers.

struct vm {
	int id;                 // VM i runs on hart i
	uint64 ram;             // host-physical base of its 16 MiB
	uint64 console;         // host-physical page its guest sees at GUEST_UART
	pte_t *gstage;          // root of its Sv39x4 G-stage table (16 KiB)
	int halted;
};

// Per-hart guest context. trapvec.S knows this layout: keep regs first.
struct vcpu {
	uint64 regs[32];        // guest x0..x31 (x0 unused)
	uint64 hv_sp;           // top of this hart's hypervisor stack
	uint64 hartid;
	struct vm *vm;
};
#define VCPU_HV_SP  (32 * 8)
#define VCPU_HARTID (33 * 8)

// Guest register names, as indices into vcpu.regs.
enum { REG_RA = 1, REG_SP = 2, REG_A0 = 10, REG_A1, REG_A2, REG_A3, REG_A4, REG_A5,
       REG_A6, REG_A7 };

// main.c
extern int nvm;
extern struct vm vms[NVM];

// hart.c
void hart_init(void);

// vm.c
void vm_create(struct vm *vm, int id, uint64 console);
void vm_start(struct vm *vm) __attribute__((noreturn));
void vm_halt(struct vm *vm) __attribute__((noreturn));

// pci.c
uint64 pci_serial_init(void);

// trap.c
void vm_trap(struct vcpu *v) __attribute__((noreturn));
void hs_trap(void) __attribute__((noreturn));
void park(void) __attribute__((noreturn));

// trapvec.S
void trapvec(void);
void vm_run(struct vcpu *v) __attribute__((noreturn));

// vsbi.c
void vsbi_call(struct vcpu *v);

// sbi.c
struct sbiret { long error; long value; };
#define SBI_ERR_ALREADY_AVAILABLE (-6)  // hart_start: the hart runs already
struct sbiret sbi_call(uint64 eid, uint64 fid, uint64 a0, uint64 a1, uint64 a2);
void sbi_set_timer(uint64 when);
long sbi_hart_start(uint64 hartid, uint64 start, uint64 opaque);
int sbi_hart_exists(uint64 hartid);
void sbi_shutdown(void) __attribute__((noreturn));

// uart.c
void uart_putc(int c);

// printf.c
void printf(const char *fmt, ...);
void panic(const char *msg) __attribute__((noreturn));

// string.c
void *memset(void *dst, int c, uint64 n);
void *memcpy(void *dst, const void *src, uint64 n);

// guest_image.S: guest.bin, embedded.
extern char guest_image[], guest_image_end[];

// Fault injection (README.md, "Fault builds"). A fault build is compiled with
// exactly one HV_FAULT_* flag and links fault.c; in hypervisor.elf and
// hypervisor-noadue.elf every hook below is empty and compiles to nothing.
// A hook brings its own semicolon and is written without one, on the line of
// the statement it follows: even an empty statement would leave a mark in the
// debug line table, and the normal builds must stay byte for byte the same.
#if defined(HV_FAULT_NODELEG) + defined(HV_FAULT_GSTAGE_HOLE) + defined(HV_FAULT_MMIO_HOLE) > 1
#error "one fault per build: define at most one HV_FAULT_* flag"
#endif
#if defined(HV_FAULT_NODELEG) || defined(HV_FAULT_GSTAGE_HOLE) || defined(HV_FAULT_MMIO_HOLE)
void fault_announce(void);                      // main(): say which fault is built in
void fault_hedeleg(void);                       // hart_init(): after hedeleg is written
void fault_gstage(struct vm *vm);               // vm_create(): after the G-stage is built
#define FAULT_ANNOUNCE()     fault_announce();
#define FAULT_HEDELEG()      fault_hedeleg();
#define FAULT_GSTAGE(vm)     fault_gstage(vm);
#else
#define FAULT_ANNOUNCE()
#define FAULT_HEDELEG()
#define FAULT_GSTAGE(vm)
#endif

// Fixture builds (README.md, "Fixture builds"): hypervisors that boot, but do
// something hypervisors written elsewhere do. Compiled with exactly one
// HV_FIXTURE_* flag, linking fixture.c; in every other build the hooks are
// empty, written at the end of existing lines like the fault hooks above.
#if defined(HV_FIXTURE_SLOWSTART) + defined(HV_FIXTURE_MMIO_POLL) + defined(HV_FIXTURE_REENTRY) + \
    defined(HV_FIXTURE_SBI_PANIC) + defined(HV_FIXTURE_NO_VSTI) + defined(HV_FIXTURE_EMUL_HTINST) + defined(HV_FIXTURE_HIGHBOOT) + \
    defined(HV_FIXTURE_NOCOUNTERS) + defined(HV_FIXTURE_LOGGED_UART) > 1
#error "one fixture per build: define at most one HV_FIXTURE_* flag"
#endif
#if defined(HV_FIXTURE_SLOWSTART) || defined(HV_FIXTURE_MMIO_POLL) || defined(HV_FIXTURE_REENTRY) || \
    defined(HV_FIXTURE_SBI_PANIC) || defined(HV_FIXTURE_NO_VSTI) || defined(HV_FIXTURE_EMUL_HTINST) || defined(HV_FIXTURE_HIGHBOOT) || \
    defined(HV_FIXTURE_NOCOUNTERS) || defined(HV_FIXTURE_LOGGED_UART)
void fixture_announce(void);                    // main(): say which fixture is built in
void fixture_boot_claimed(uint64 hartid);       // main(): the boot hart, before its set-up
void fixture_before_hart_start(void);           // main(): before the other harts start
void fixture_gstage(struct vm *vm);             // vm_create(): after the G-stage is built
int fixture_trap(struct vcpu *v);               // vm_trap(): 1 if the fixture handled it
int fixture_vms(int nvm);                       // main(): how many VMs to set up
void fixture_park(void);                        // park(): before the hart stops
void fixture_hart_ready(void);                  // hart_init(): at its end
void fixture_hideleg(void);                     // hart_init(): after hideleg is written
void fixture_counteren(void);                   // hart_init(): after hcounteren is written
void fixture_tick(void);                        // vm_trap(): after our timer interrupt
#define FIXTURE_ANNOUNCE()           fixture_announce();
#define FIXTURE_BOOT_CLAIMED(h)      fixture_boot_claimed(h);
#define FIXTURE_BEFORE_HART_START()  fixture_before_hart_start();
#define FIXTURE_GSTAGE(vm)           fixture_gstage(vm);
#define FIXTURE_TRAP(v)              } else if (fixture_trap(v)) {
#define FIXTURE_VMS()                nvm = fixture_vms(nvm);
#define FIXTURE_PARK()               fixture_park();
#define FIXTURE_HART_READY()         fixture_hart_ready();
#define FIXTURE_HIDELEG()            fixture_hideleg();
#define FIXTURE_COUNTEREN()          fixture_counteren();
#define FIXTURE_TICK()               fixture_tick();
#else
#define FIXTURE_ANNOUNCE()
#define FIXTURE_BOOT_CLAIMED(h)
#define FIXTURE_BEFORE_HART_START()
#define FIXTURE_GSTAGE(vm)
#define FIXTURE_TRAP(v)
#define FIXTURE_VMS()
#define FIXTURE_PARK()
#define FIXTURE_HART_READY()
#define FIXTURE_HIDELEG()
#define FIXTURE_COUNTEREN()
#define FIXTURE_TICK()
#endif

// The builds that change a finished G-stage table find its leaves through
// vm.c's walker (gstage_leaf, compiled only for them).
#if defined(HV_FAULT_GSTAGE_HOLE) || defined(HV_FAULT_MMIO_HOLE) || defined(HV_FIXTURE_MMIO_POLL) || \
    defined(HV_FIXTURE_SBI_PANIC) || defined(HV_FIXTURE_EMUL_HTINST) || defined(HV_FIXTURE_HIGHBOOT) || \
    defined(HV_FIXTURE_LOGGED_UART)
#define HV_GSTAGE_LOOKUP
pte_t *gstage_leaf(struct vm *vm, uint64 gpa, int *level);
#endif

// hypervisor-nohenvcfg.elf (HV_NO_HENVCFG): a hypervisor that never writes
// henvcfg at all. The hook ends an existing line of hart_init (no line of
// the normal builds moves) and turns the henvcfg write after it into dead
// code; every other build expands it to nothing.
#if defined(HV_NO_HENVCFG)
#define HENVCFG_WRITE_SKIPPED()      if (0)
#else
#define HENVCFG_WRITE_SKIPPED()
#endif

// hypervisor-henvcfg-again.elf (HV_HENVCFG_AGAIN): hart 0 sets henvcfg.STCE
// three more times near the end of hart_init, from one instruction in a
// loop: a writer that runs more than once on a hart, for the CSR trace's
// count of the hits beyond the ones it records. STCE is set already, so
// nothing changes. The hook ends an existing line of hart_init; every other
// build expands it to nothing.
#if defined(HV_HENVCFG_AGAIN)
#define HENVCFG_WRITTEN_AGAIN() \
	if (r_tp() == 0) for (volatile int again = 0; again < 3; again++) csr_set(CSR_HENVCFG, HENVCFG_STCE);
#else
#define HENVCFG_WRITTEN_AGAIN()
#endif

// The high-linked fixture build (HV_FIXTURE_HIGHBOOT, hv-high.ld): statics
// have high virtual addresses, and what the hardware or OpenSBI reads must be
// physical (G-stage table pointers, hgatp, hart_start's address). Every other
// build has neither hook; their PA2PTE is riscv.h's.
#if defined(HV_FIXTURE_HIGHBOOT)
// A high virtual address of the image to its physical address (others stay).
#define HV_PHYS(a)  ((uint64)(a) >= HV_HIGH_OFFSET ? (uint64)(a) - HV_HIGH_OFFSET : (uint64)(a))
#undef PA2PTE
#define PA2PTE(pa)  ((HV_PHYS(pa) >> 12) << 10)
#define FIXTURE_HGATP(vm)        csr_write(CSR_HGATP, (csr_read(CSR_HGATP) >> 44 << 44) | HV_PHYS((vm)->gstage) >> 12);
#define FIXTURE_HART_START(a)    a = HV_PHYS(a);
#else
#define FIXTURE_HGATP(vm)
#define FIXTURE_HART_START(a)
#endif

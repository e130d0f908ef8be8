// Types, CSR numbers and bits, and tiny accessors.
//
// Why CSR numbers and not names: Debian's GCC 12 refuses the H extension in
// -march, and the `.attribute arch` GCC writes into every object would override
// an assembler-only -Wa,-march=..._h anyway. Numeric CSR addresses and `.insn`
// need no H support from the toolchain at all, so all of the hypervisor is plain
// rv64imac C plus two small .S files without H instructions.

typedef unsigned char uint8;
typedef unsigned short uint16;
typedef unsigned int uint32;
typedef unsigned long uint64;
typedef uint64 pte_t;

// Supervisor CSRs (HS-mode views when V=0).
#define CSR_SSTATUS    0x100
#define CSR_SIE        0x104
#define CSR_STVEC      0x105
#define CSR_SSCRATCH   0x140
#define CSR_SEPC       0x141
#define CSR_SCAUSE     0x142
#define CSR_STVAL      0x143
#define CSR_SIP        0x144
#define CSR_SATP       0x180

// Hypervisor CSRs.
#define CSR_HSTATUS    0x600
#define CSR_HEDELEG    0x602
#define CSR_HIDELEG    0x603
#define CSR_HIE        0x604
#define CSR_HCOUNTEREN 0x606
#define CSR_HGEIE      0x607
#define CSR_HENVCFG    0x60A
#define CSR_HTVAL      0x643
#define CSR_HIP        0x644
#define CSR_HVIP       0x645
#define CSR_HTINST     0x64A
#define CSR_HGATP      0x680
#define CSR_HTIMEDELTA 0x605

// Virtual-supervisor CSRs (the guest's s-mode registers, seen from HS).
#define CSR_VSSTATUS   0x200
#define CSR_VSIE       0x204
#define CSR_VSTVEC     0x205
#define CSR_VSSCRATCH  0x240
#define CSR_VSEPC      0x241
#define CSR_VSCAUSE    0x242
#define CSR_VSTVAL     0x243
#define CSR_VSIP       0x244
#define CSR_VSATP      0x280
#define CSR_VSTIMECMP  0x24D         // Sstc

// sstatus
#define SSTATUS_SIE    (1UL << 1)
#define SSTATUS_SPIE   (1UL << 5)
#define SSTATUS_SPP    (1UL << 8)    // previous privilege was S: sret goes to (V)S
#define SSTATUS_FS     (3UL << 13)
#define SSTATUS_UXL    (3UL << 32)

// hstatus
#define HSTATUS_GVA    (1UL << 6)
#define HSTATUS_SPV    (1UL << 7)    // sret goes to V=1
#define HSTATUS_SPVP   (1UL << 8)    // hlv/hsv and the guest ran at VS, not VU
#define HSTATUS_VTVM   (1UL << 20)
#define HSTATUS_VTW    (1UL << 21)
#define HSTATUS_VTSR   (1UL << 22)

// henvcfg. The privileged spec names bit 63 STCE and bit 62 PBMTE; the write-up
// this project reproduces sets bit 63 and calls it PBMTE. We set exactly the
// write-up's bits, under their spec names.
#define HENVCFG_STCE   (1UL << 63)
#define HENVCFG_PBMTE  (1UL << 62)
#define HENVCFG_ADUE   (1UL << 61)   // hardware updates VS-stage PTE A/D bits (was HADE)

// hgatp
#define HGATP_MODE_SV39X4 (8UL << 60)
#define HGATP_VMID_SHIFT  44

// Interrupt bits (sip/sie/hvip/hideleg).
#define IRQ_S_TIMER    5
#define IRQ_VS_SOFT    2
#define IRQ_VS_TIMER   6
#define IRQ_VS_EXT     10
#define SIE_STIE       (1UL << IRQ_S_TIMER)
#define HVIP_VSTIP     (1UL << IRQ_VS_TIMER)

// scause exception codes.
#define EXC_INST_MISALIGNED   0
#define EXC_INST_ACCESS       1
#define EXC_ILLEGAL_INST      2
#define EXC_BREAKPOINT        3
#define EXC_LOAD_MISALIGNED   4
#define EXC_LOAD_ACCESS       5
#define EXC_STORE_MISALIGNED  6
#define EXC_STORE_ACCESS      7
#define EXC_ECALL_U           8      // from U or VU
#define EXC_ECALL_HS          9
#define EXC_ECALL_VS          10
#define EXC_INST_PAGE_FAULT   12
#define EXC_LOAD_PAGE_FAULT   13
#define EXC_STORE_PAGE_FAULT  15
#define EXC_INST_GUEST_PF     20
#define EXC_LOAD_GUEST_PF     21
#define EXC_VIRTUAL_INST      22
#define EXC_STORE_GUEST_PF    23
#define SCAUSE_INTR    (1UL << 63)

// Page-table entry bits, shared by the G-stage and the guest's own tables.
#define PTE_V (1UL << 0)
#define PTE_R (1UL << 1)
#define PTE_W (1UL << 2)
#define PTE_X (1UL << 3)
#define PTE_U (1UL << 4)             // G-stage leaves must have U: guest accesses count as U
#define PTE_A (1UL << 6)
#define PTE_D (1UL << 7)
#define PA2PTE(pa) (((uint64)(pa) >> 12) << 10)
#define PTE2PA(pte) (((pte) >> 10) << 12)

// CSR accessors; the extra macro level expands CSR_X to its number first.
#define __str(x) #x
#define __csr_read(csr) ({ uint64 __v; \
	asm volatile("csrr %0, " __str(csr) : "=r"(__v) :: "memory"); __v; })
#define __csr_write(csr, val) ({ \
	asm volatile("csrw " __str(csr) ", %0" :: "r"((uint64)(val)) : "memory"); })
#define __csr_set(csr, val) ({ \
	asm volatile("csrs " __str(csr) ", %0" :: "r"((uint64)(val)) : "memory"); })
#define __csr_clear(csr, val) ({ \
	asm volatile("csrc " __str(csr) ", %0" :: "r"((uint64)(val)) : "memory"); })
#define csr_read(csr)        __csr_read(csr)
#define csr_write(csr, val)  __csr_write(csr, val)
#define csr_set(csr, val)    __csr_set(csr, val)
#define csr_clear(csr, val)  __csr_clear(csr, val)

// hfence.gvma zero, zero: forget all G-stage translations on this hart.
static inline void hfence_gvma_all(void)
{
	asm volatile(".insn r 0x73, 0, 0x31, x0, x0, x0" ::: "memory");
}

static inline void fence_i(void)
{
	asm volatile("fence.i" ::: "memory");
}

static inline uint64 r_tp(void)
{
	uint64 x;
	asm volatile("mv %0, tp" : "=r"(x));
	return x;
}

static inline void wfi(void)
{
	asm volatile("wfi");
}

// Memory-mapped I/O.
#define REG8(a)  (*(volatile uint8 *)(a))
#define REG16(a) (*(volatile uint16 *)(a))
#define REG32(a) (*(volatile uint32 *)(a))

// Physical memory map of QEMU's virt machine, as the hypervisor uses it.
// See README.md for the picture.

// Devices.
#define UART0          0x10000000UL  // virt 16550: hypervisor messages and VM0's console
#define PCIE_ECAM      0x30000000UL  // PCIe config space (ECAM), bus 0 first
#define PCIE_PIO       0x03000000UL  // CPU address of PCI I/O port 0
#define PCI_SERIAL_IO  0x1000UL      // I/O port given to the pci-serial's BAR0: page aligned,
                                     // so VM1's console is one mappable 4 KiB page

// The hypervisor: OpenSBI owns 0x80000000..0x80200000 and enters us here.
#define HV_BASE        0x80200000UL

// Host RAM behind each VM: VM i owns [VM_RAM_HOST + i*VM_RAM_SIZE, +VM_RAM_SIZE).
// 0x84000000 leaves 62 MiB for the hypervisor and stays clear of the device tree
// QEMU puts near the top of the 128 MiB; 2 MiB alignment lets megapages map it.
#define VM_RAM_HOST    0x84000000UL
#define VM_RAM_SIZE    (16UL << 20)

// What every guest sees (guest-physical).
#define GUEST_RAM      0x80000000UL  // 16 MiB of RAM
#define GUEST_ENTRY    0x80200000UL  // guest.bin is loaded and entered here
#define GUEST_UART     0x10000000UL  // one 16550 page: its VM's own console

#define NVM            2             // at most two VMs: VM i runs on hart i
#define MAXHART        8             // harts we have stacks for
#define STACKSIZE      16384         // per-hart hypervisor stack

// The high-linked fixture build (hypervisor-highboot.elf, hv-high.ld): the
// image is linked at HV_BASE + HV_HIGH_OFFSET and loaded at HV_BASE.
#define HV_HIGH_OFFSET 0xffffffc000000000

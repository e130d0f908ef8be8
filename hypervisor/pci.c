// Find QEMU's pci-serial on the virt machine's PCIe bus 0 and give its
// 8-byte I/O BAR a page-aligned port, so VM1 can have that page as its UART.

#include "memlayout.h"
#include "riscv.h"
#include "defs.h"

#define PCI_VENDOR_REDHAT   0x1b36
#define PCI_DEVICE_SERIAL   0x0002

#define PCI_ID              0x00      // device id << 16 | vendor id
#define PCI_COMMAND         0x04
#define PCI_BAR0            0x10
#define PCI_COMMAND_IO      (1 << 0)  // decode I/O-space accesses

// ECAM: 4 KiB of config space per function, bus << 20 | dev << 15 | fn << 12.
static uint64 pci_cfg(int dev, int off)
{
	return PCIE_ECAM + ((uint64)dev << 15) + off;
}

// Returns the host-physical address of the serial port's registers, or 0.
uint64 pci_serial_init(void)
{
	for (int dev = 0; dev < 32; dev++) {
		uint32 id = REG32(pci_cfg(dev, PCI_ID));
		if (id != ((PCI_DEVICE_SERIAL << 16) | PCI_VENDOR_REDHAT))
			continue;

		// BAR0 is an I/O BAR (bit 0 reads 1). The virt machine maps PCI
		// I/O port p at CPU address PCIE_PIO + p.
		uint32 bar = REG32(pci_cfg(dev, PCI_BAR0));
		if (!(bar & 1)) {
			printf("hypervisor: pci-serial at 00:%d.0: BAR0 is not I/O\n", dev);
			return 0;
		}
		REG16(pci_cfg(dev, PCI_COMMAND)) &= ~PCI_COMMAND_IO;
		REG32(pci_cfg(dev, PCI_BAR0)) = PCI_SERIAL_IO;
		REG16(pci_cfg(dev, PCI_COMMAND)) |= PCI_COMMAND_IO;

		uint64 regs = PCIE_PIO + PCI_SERIAL_IO;
		printf("hypervisor: pci-serial at 00:%d.0, I/O port %p at %p\n",
		       dev, (uint64)PCI_SERIAL_IO, regs);
		return regs;
	}
	return 0;
}

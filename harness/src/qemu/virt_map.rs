//! QEMU virt's physical memory map (hw/riscv/virt.c): where RAM starts and
//! which device window holds an address. The walk reads only RAM; the
//! rules name the device a guest-page fault hit.

use std::ops::Range;

/// QEMU virt's RAM window: DRAM starts at 0x80000000 (the end is the
/// machine's `-m`; this window stops at the top of the physical address space).
pub(crate) const VIRT_DRAM: Range<u64> = 0x8000_0000..(1 << 56);

/// QEMU virt's device windows (hw/riscv/virt.c), for naming an MMIO address.
const VIRT_DEVICES: &[(u64, u64, &str)] = &[
    (0x0010_0000, 0x1000, "the test/finisher device"),
    (0x0010_1000, 0x1000, "the Goldfish RTC"),
    (0x0200_0000, 0x1_0000, "the CLINT"),
    (0x02f0_0000, 0x4000, "the ACLINT SSWI"),
    (0x0300_0000, 0x1_0000, "the PCIe I/O port window"),
    (0x0400_0000, 0x200_0000, "the platform bus"),
    (0x0c00_0000, 0x400_0000, "the PLIC (or APLIC)"),
    (0x1000_0000, 0x100, "UART0, a 16550"),
    (0x1000_1000, 0x8000, "the virtio-mmio devices"),
    (0x1010_0000, 0x18, "fw_cfg"),
    (0x2000_0000, 0x400_0000, "the flash"),
    (0x2400_0000, 0x800_0000, "the IMSICs"),
    (0x3000_0000, 0x1000_0000, "the PCIe ECAM"),
    (0x4000_0000, 0x4000_0000, "the PCIe MMIO window"),
];

/// The device window of QEMU virt that holds `address`, named.
pub(crate) fn virt_device(gpa: u64) -> Option<&'static str> {
    VIRT_DEVICES
        .iter()
        .find(|(base, size, _)| gpa >= *base && gpa < base + size)
        .map(|(_, _, name)| *name)
}

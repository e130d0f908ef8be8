//! QEMU builds (registry) and QEMU processes.

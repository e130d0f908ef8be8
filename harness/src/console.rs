//! Guest consoles: QEMU chardev sockets the harness reads and writes.

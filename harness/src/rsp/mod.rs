//! GDB Remote Serial Protocol client (no gdb binary needed).

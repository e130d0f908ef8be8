//! Recognising QEMU's "the gdbstub port is taken" start-up failure.
//!
//! The harness picks a free port and hands it to QEMU; another process can
//! bind it in between. QEMU then exits at start-up, and the launch retries on
//! another port. What QEMU prints differs by version (measured by binding the
//! port first and starting each build on it with `-gdb tcp:127.0.0.1:PORT`):
//!
//! - 7.2.22, 8.0.2: `-gdb tcp:127.0.0.1:P: Failed to find an available port: Address already in use`
//! - 9.2.0: the same line, then `could not start gdbserver`
//! - 10.0.2: the same line, then `-gdb tcp:127.0.0.1:P: gdbstub: couldn't create chardev`
//!
//! The common part is the first line: our `-gdb` argument and "Address already
//! in use" on one line. Only 10.0.2 says "gdbstub".

/// Whether QEMU's start-up output says the gdbstub could not bind `port`.
pub(crate) fn gdb_port_taken(output: &str, port: u16) -> bool {
    let arg = format!("-gdb tcp:127.0.0.1:{port}:");
    output
        .lines()
        .any(|l| l.contains(&arg) && l.contains("Address already in use"))
}

#[cfg(test)]
mod tests {
    use super::gdb_port_taken;

    // QEMU's stderr, verbatim, with port 43577 taken.
    const V7_2_22: &str = "qemu-system-riscv64: -gdb tcp:127.0.0.1:43577: Failed to find an available port: Address already in use\n";
    const V8_0_2: &str = V7_2_22;
    const V9_2_0: &str = "qemu-system-riscv64: -gdb tcp:127.0.0.1:43577: Failed to find an available port: Address already in use\nqemu-system-riscv64: could not start gdbserver\n";
    const V10_0_2: &str = "qemu-system-riscv64: -gdb tcp:127.0.0.1:43577: Failed to find an available port: Address already in use\nqemu-system-riscv64: -gdb tcp:127.0.0.1:43577: gdbstub: couldn't create chardev\n";

    #[test]
    fn every_version_is_recognised() {
        for (v, text) in [
            ("7.2.22", V7_2_22),
            ("8.0.2", V8_0_2),
            ("9.2.0", V9_2_0),
            ("10.0.2", V10_0_2),
        ] {
            assert!(gdb_port_taken(text, 43577), "{v}");
            // Inside the launch error, as connect_qmp words it.
            let wrapped = format!(
                "QEMU exited during start-up (exit status: 1): {}",
                text.trim()
            );
            assert!(gdb_port_taken(&wrapped, 43577), "{v} wrapped");
        }
    }

    #[test]
    fn other_failures_and_ports_are_not() {
        assert!(!gdb_port_taken(V10_0_2, 4357));
        assert!(!gdb_port_taken(
            "qemu-system-riscv64: -machine no-such-machine: unsupported machine type",
            1234
        ));
        // A console socket in use is not a port race.
        assert!(!gdb_port_taken(
            "qemu-system-riscv64: -chardev socket,id=c0: Address already in use",
            43577
        ));
    }
}

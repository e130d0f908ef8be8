//! Which machine an ELF file is for: the harness runs RISC-V 64 only, and a
//! file for another machine is named as what it is (`x86-64`, `AArch64`).

use std::io::Read;
use std::path::Path;

/// `e_machine` of RISC-V.
const EM_RISCV: u16 = 243;

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// An ELF file for RISC-V with 64-bit class.
    Riscv64Elf,
    /// An ELF file for another machine or class: the message says which.
    OtherElf(String),
    /// Not ELF, and all printable text (a kernel that is a text file).
    Text,
    /// Not ELF (a raw image, which QEMU loads as it is).
    Other,
}

/// Reads the start of `path` and says what it is.
pub(crate) fn file_kind(path: &Path) -> std::io::Result<FileKind> {
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path)?
        .take(4096)
        .read_to_end(&mut head)?;
    Ok(kind(&head))
}

/// What `head` (a file's first bytes) says the file is.
pub(crate) fn kind(head: &[u8]) -> FileKind {
    if !head.starts_with(b"\x7fELF") {
        let text = !head.is_empty()
            && head
                .iter()
                .all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace());
        return if text {
            FileKind::Text
        } else {
            FileKind::Other
        };
    }
    let (Some(&class), Some(&data)) = (head.get(4), head.get(5)) else {
        return FileKind::OtherElf("a truncated ELF header".into());
    };
    let machine = match (data, head.get(18..20)) {
        (1, Some(b)) => u16::from_le_bytes([b[0], b[1]]),
        (2, Some(b)) => u16::from_be_bytes([b[0], b[1]]),
        _ => return FileKind::OtherElf("a truncated ELF header".into()),
    };
    let bits = match class {
        1 => "32-bit",
        2 => "64-bit",
        _ => "unknown-class",
    };
    match (machine, class) {
        (EM_RISCV, 2) => FileKind::Riscv64Elf,
        (m, _) => FileKind::OtherElf(format!("a {bits} ELF file for {}", machine_name(m))),
    }
}

/// `Err` names the machine a non-RISC-V-64 ELF is for; non-ELF data passes
/// (the ELF parser says what it is).
pub(crate) fn check_riscv64(head: &[u8]) -> Result<(), String> {
    match kind(head) {
        FileKind::OtherElf(what) => Err(format!(
            "it is {what}, not RISC-V 64 (hvharness runs riscv64 only)"
        )),
        _ => Ok(()),
    }
}

/// The usual name of an ELF `e_machine`.
fn machine_name(m: u16) -> String {
    match m {
        2 => "SPARC".into(),
        3 => "x86 (i386)".into(),
        8 => "MIPS".into(),
        20 => "PowerPC".into(),
        21 => "PowerPC 64".into(),
        22 => "S/390".into(),
        40 => "ARM".into(),
        43 => "SPARC V9".into(),
        62 => "x86-64".into(),
        183 => "AArch64".into(),
        243 => "RISC-V".into(),
        258 => "LoongArch".into(),
        other => format!("machine {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(class: u8, data: u8, machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = class;
        h[5] = data;
        let m = if data == 1 {
            machine.to_le_bytes()
        } else {
            machine.to_be_bytes()
        };
        h[18..20].copy_from_slice(&m);
        h
    }

    #[test]
    fn machines_are_named() {
        assert_eq!(kind(&header(2, 1, 243)), FileKind::Riscv64Elf);
        assert_eq!(
            kind(&header(2, 1, 62)),
            FileKind::OtherElf("a 64-bit ELF file for x86-64".into())
        );
        assert_eq!(
            kind(&header(1, 1, 243)),
            FileKind::OtherElf("a 32-bit ELF file for RISC-V".into())
        );
        assert_eq!(
            kind(&header(2, 2, 21)),
            FileKind::OtherElf("a 64-bit ELF file for PowerPC 64".into())
        );
        assert!(check_riscv64(&header(2, 1, 183))
            .unwrap_err()
            .contains("AArch64"));
        assert_eq!(
            kind(b"\x7fELF"),
            FileKind::OtherElf("a truncated ELF header".into())
        );
    }

    #[test]
    fn text_and_raw_images() {
        assert_eq!(kind(b"hello\n"), FileKind::Text);
        assert_eq!(kind(&[0x13, 0, 0, 0]), FileKind::Other);
        assert_eq!(kind(b""), FileKind::Other);
    }
}

//! The crate's `elf` on the reference firmware: the guest kernel's
//! kvminithart (the ADUE story's breakpoint), the hypervisor's H-extension
//! code, and the disassembler checked instruction by instruction against
//! the cross toolchain's objdump.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use hvharness::internals::elf::{
    disassemble_all, ElfError, ElfImage, ElfSet, Instruction, SymbolType,
};

fn image(path: &Path, name: &str) -> ElfImage {
    ElfImage::load(path, Some(name), 0).unwrap_or_else(|e| panic!("{e}"))
}

/// Every function of `image` disassembled, keyed by address.
fn disassemble_functions(image: &ElfImage) -> Vec<Instruction> {
    let mut out = Vec::new();
    for sym in image.symbols().symbols() {
        if sym.kind != SymbolType::Function || sym.size == 0 {
            continue;
        }
        let code = image
            .bytes_at(sym.address, sym.size as usize)
            .unwrap_or_else(|| panic!("{} has no bytes in the file", sym.name));
        out.extend(disassemble_all(sym.address, code));
    }
    out
}

/// The line of `file` (under the guest kernel's sources) containing `needle`
/// after the line containing `after`.
fn source_line(file: &Path, after: &str, needle: &str) -> Option<u32> {
    let text = std::fs::read_to_string(file).ok()?;
    let start = text.lines().position(|l| l.contains(after))?;
    let offset = text.lines().skip(start).position(|l| l.contains(needle))?;
    Some((start + offset + 1) as u32)
}

#[test]
fn guest_kvminithart_symbol_and_line() {
    let fw = common::firmware();
    let guest = image(&fw.guest, "guest");
    let kvm = guest.symbol_address("kvminithart").unwrap();
    let hit = guest.symbolize(kvm + 2).unwrap();
    assert_eq!(hit.name, "kvminithart");
    assert!(hit.exact);
    let line = guest.line_for(kvm).expect("the guest is built with -g");
    assert!(line.file.ends_with("vm.c"), "{line}");

    let err = guest.symbol_address("kvminithar").unwrap_err();
    let ElfError::NoSymbol {
        ref suggestions, ..
    } = err
    else {
        panic!("{err}")
    };
    assert_eq!(
        suggestions.first().map(String::as_str),
        Some("kvminithart"),
        "{err}"
    );
    assert!(err
        .to_string()
        .starts_with("no symbol \"kvminithar\" in guest; did you mean: kvminithart"));

    // The satp write's source line lands inside kvminithart.
    let vm_c = common::root().join("hypervisor/guest/kernel/vm.c");
    let Some(n) = source_line(&vm_c, "kvminithart(void)", "w_satp(") else {
        common::skipped(
            "guest_kvminithart_symbol_and_line: no w_satp( after kvminithart(void) in vm.c",
        );
        return;
    };
    let size = guest.symbols().named("kvminithart")[0].size;
    let r = guest.resolve_str(&format!("vm.c:{n}")).unwrap();
    assert!(
        r.address >= kvm && r.address < kvm + size,
        "vm.c:{n} -> {:#x}",
        r.address
    );
    assert_eq!(r.line, Some(n));
}

#[test]
fn guest_stop_after_the_satp_write() {
    // Under the ADUE hang the first fault's stval is the instruction after
    // `csrw satp`, inside kvminithart: describe that stop as a report would.
    let fw = common::firmware();
    let mut set = ElfSet::new();
    set.load(&fw.hypervisor, Some("hypervisor"), 0).unwrap();
    set.load(&fw.guest, Some("guest"), 0).unwrap();
    let r = set.resolve_str("kvminithart", None).unwrap();
    assert_eq!(
        r.space.as_deref(),
        Some("guest"),
        "only the guest has kvminithart"
    );

    let guest = set.space("guest").unwrap();
    let size = guest.symbols().named("kvminithart")[0].size as usize;
    let code = disassemble_all(r.address, guest.bytes_at(r.address, size).unwrap());
    let at = code
        .iter()
        .position(|i| i.text.starts_with("csrw satp, "))
        .expect("kvminithart writes satp");
    let next = &code[at + 1];
    let stop = set
        .describe_stop(next.address, Some("guest"), None)
        .unwrap();
    let text = stop.to_string();
    let want = format!(
        "{:#x} in kvminithart+{:#x} at ",
        next.address,
        next.address - r.address
    );
    assert!(text.starts_with(&want), "{text}");
    assert!(text.contains(&format!(": {}", next.text)), "{text}");
    assert!(stop.line.is_some(), "{text}");
}

#[test]
fn hypervisor_code_names_h_extension_csrs() {
    let fw = common::firmware();
    for (path, name) in [
        (&fw.hypervisor, "hypervisor"),
        (&fw.hypervisor_noadue, "hypervisor-noadue"),
    ] {
        let hv = image(path, name);
        let texts: Vec<String> = disassemble_functions(&hv)
            .into_iter()
            .map(|i| i.text)
            .collect();
        let has = |needle: &str| texts.iter().any(|t| t.contains(needle));
        assert!(has("henvcfg"), "{name}: no instruction names henvcfg");
        assert!(has("csrw hgatp, "), "{name}: no hgatp write");
        assert!(
            texts.iter().any(|t| t.starts_with("hfence.gvma")),
            "{name}: no hfence.gvma"
        );
    }
}

/// objdump of binutils 2.40 spells some instructions differently from
/// disc-v, and does not decode H instructions when the ELF's ISA attribute
/// lacks H (it prints `.4byte`); both are accepted here, nothing else.
fn same_instruction(ours: &str, objdump: &str) -> bool {
    if ours == objdump {
        return true;
    }
    let (om, oa) = ours.split_once(' ').unwrap_or((ours, ""));
    let (dm, da) = objdump.split_once(' ').unwrap_or((objdump, ""));
    // binutils 2.40 prints `add a5,a5,1` for addi and the like.
    let immediate_forms = [
        "addi", "addiw", "andi", "ori", "xori", "slli", "slliw", "srli", "srliw", "srai", "sraiw",
    ];
    if immediate_forms.contains(&om) && dm == om.replacen('i', "", 1) && oa == da {
        return true;
    }
    if ours == "fence iorw,iorw" && objdump == "fence" {
        return true;
    }
    dm == ".4byte"
        && (om.starts_with("hfence.")
            || om.starts_with("hlv")
            || om.starts_with("hsv")
            || om.starts_with("hinval."))
}

fn objdump_program() -> Option<String> {
    [
        "riscv64-unknown-elf-objdump",
        "riscv64-linux-gnu-objdump",
        "riscv64-elf-objdump",
    ]
    .into_iter()
    .find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
    .map(str::to_string)
}

/// objdump's `-d` listing: address -> `mnemonic operands`, with branch
/// targets written as 0x-prefixed addresses and comments dropped.
fn objdump_listing(objdump: &str, path: &Path) -> HashMap<u64, String> {
    let out = Command::new(objdump)
        .args(["-d", "--no-show-raw-insn"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let target = regex::Regex::new(r"\b([0-9a-f]{6,}) <[^>]*>").unwrap();
    let mut map = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((addr, rest)) = line.trim_start().split_once(":\t") else {
            continue;
        };
        let Ok(addr) = u64::from_str_radix(addr, 16) else {
            continue;
        };
        let rest = rest.split(" #").next().unwrap_or(rest);
        let text = rest
            .split('\t')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let text = target.replace_all(&text, "0x$1").trim().to_string();
        map.insert(addr, text);
    }
    map
}

#[test]
fn disassembly_matches_objdump() {
    let Some(objdump) = objdump_program() else {
        common::skipped("disassembly_matches_objdump: no RISC-V objdump on PATH");
        return;
    };
    let fw = common::firmware();
    for path in [&fw.guest, &fw.hypervisor, &fw.hypervisor_noadue] {
        let ours = disassemble_functions(&image(path, "x"));
        let theirs = objdump_listing(&objdump, path);
        assert!(
            ours.len() > 500,
            "{}: only {} instructions",
            path.display(),
            ours.len()
        );
        let mismatches: Vec<String> = ours
            .iter()
            .filter_map(|i| {
                let mine = i.text.replace(", ", ",");
                match theirs.get(&i.address) {
                    Some(t) if same_instruction(&mine, t) => None,
                    Some(t) => Some(format!("{:#x}: ours `{mine}`, objdump `{t}`", i.address)),
                    None => Some(format!(
                        "{:#x}: ours `{mine}`, not in objdump's listing",
                        i.address
                    )),
                }
            })
            .collect();
        assert!(
            mismatches.is_empty(),
            "{}: {} of {} instructions differ:\n{}",
            path.display(),
            mismatches.len(),
            ours.len(),
            mismatches
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

//! mstatus, sstatus/vsstatus and hstatus (RV64 layouts, privileged
//! specification 1.13, with Zicfilp's SPELP/MPELP and Ssdbltrp's SDT/MDT).

use super::fields::{enumerated, flag, DecodedCsr, Field, Shape};

/// Which status register layout to decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// mstatus: every field.
    Machine,
    /// sstatus, or vsstatus (same layout, the guest's copy).
    Supervisor,
}

fn context_state(name: &str, msb: u32, lsb: u32, v: u64) -> Field {
    enumerated(name, msb, lsb, v, |x| match x {
        0 => ("Off", "unit off: its instructions trap"),
        1 => ("Initial", "unit on, initial state"),
        2 => ("Clean", "unit on, state saved"),
        _ => ("Dirty", "unit on, state modified since saved"),
    })
}

fn xlen(name: &str, msb: u32, lsb: u32, v: u64) -> Field {
    enumerated(name, msb, lsb, v, |x| match x {
        1 => ("32", "XLEN 32"),
        2 => ("64", "XLEN 64"),
        3 => ("128", "XLEN 128"),
        _ => ("reserved", "reserved encoding"),
    })
}

fn shared_fields(v: u64) -> Vec<Field> {
    vec![
        flag(
            "SIE",
            1,
            v,
            "S-mode interrupts enabled",
            "S-mode interrupts disabled",
        ),
        flag(
            "SPIE",
            5,
            v,
            "SIE was 1 before the trap",
            "SIE was 0 before the trap",
        ),
        flag(
            "UBE",
            6,
            v,
            "U-mode data accesses big-endian",
            "U-mode little-endian",
        ),
        enumerated("SPP", 8, 8, v, |x| match x {
            0 => ("U", "trapped into S from U"),
            _ => ("S", "trapped into S from S"),
        }),
        context_state("VS", 10, 9, v),
        context_state("FS", 14, 13, v),
        enumerated("XS", 16, 15, v, |x| match x {
            0 => ("AllOff", "no extension state"),
            1 => ("SomeOn", "none dirty or clean, some on"),
            2 => ("SomeClean", "none dirty, some clean"),
            _ => ("SomeDirty", "some extension state dirty"),
        }),
        flag(
            "SUM",
            18,
            v,
            "S-mode may access U pages",
            "S-mode access to U pages faults",
        ),
        flag(
            "MXR",
            19,
            v,
            "loads from executable pages allowed",
            "loads need R",
        ),
        flag(
            "SPELP",
            23,
            v,
            "landing pad expected on return",
            "no landing pad expected",
        ),
        flag(
            "SDT",
            24,
            v,
            "S-mode double trap armed",
            "no S-mode trap in progress",
        ),
        xlen("UXL", 33, 32, v),
        flag("SD", 63, v, "some FS/VS/XS state dirty", "no dirty state"),
    ]
}

/// Decodes mstatus, or sstatus/vsstatus when `which` is
/// [`Status::Supervisor`] (`name` picks the register name shown).
pub(crate) fn decode_status(name: &str, which: Status, v: u64) -> DecodedCsr {
    let mut fields = shared_fields(v);
    if which == Status::Machine {
        fields.extend([
            flag(
                "MIE",
                3,
                v,
                "M-mode interrupts enabled",
                "M-mode interrupts disabled",
            ),
            flag(
                "MPIE",
                7,
                v,
                "MIE was 1 before the trap",
                "MIE was 0 before the trap",
            ),
            enumerated("MPP", 12, 11, v, |x| match x {
                0 => ("U", "trapped into M from U (VU if MPV)"),
                1 => ("S", "trapped into M from S (VS if MPV)"),
                2 => ("reserved", "reserved encoding"),
                _ => ("M", "trapped into M from M"),
            }),
            flag(
                "MPRV",
                17,
                v,
                "loads/stores use MPP's translation",
                "normal translation",
            ),
            flag(
                "TVM",
                20,
                v,
                "satp and sfence.vma trap in S",
                "satp accessible in S",
            ),
            flag("TW", 21, v, "wfi traps below M", "wfi allowed"),
            flag("TSR", 22, v, "sret traps in S", "sret allowed"),
            xlen("SXL", 35, 34, v),
            flag("SBE", 36, v, "S-mode big-endian", "S-mode little-endian"),
            flag("MBE", 37, v, "M-mode big-endian", "M-mode little-endian"),
            flag(
                "GVA",
                38,
                v,
                "mtval holds a guest virtual address",
                "mtval not a GVA",
            ),
            flag(
                "MPV",
                39,
                v,
                "trapped into M from V=1",
                "trapped into M from V=0",
            ),
            flag(
                "MPELP",
                41,
                v,
                "landing pad expected on mret",
                "no landing pad expected",
            ),
            flag(
                "MDT",
                42,
                v,
                "M-mode double trap armed",
                "no M-mode trap in progress",
            ),
        ]);
    }
    DecodedCsr::new(name, v, Shape::Fields, fields)
}

/// Decodes hstatus.
pub(crate) fn decode_hstatus(v: u64) -> DecodedCsr {
    let fields = vec![
        flag("VSBE", 5, v, "VS-mode big-endian", "VS-mode little-endian"),
        flag(
            "GVA",
            6,
            v,
            "stval holds a guest virtual address",
            "stval not a GVA",
        ),
        flag(
            "SPV",
            7,
            v,
            "trapped into HS from V=1 (sret returns to V=1)",
            "trapped from V=0",
        ),
        enumerated("SPVP", 8, 8, v, |x| match x {
            0 => ("U", "hlv/hsv act as VU; trapped from VU"),
            _ => ("S", "hlv/hsv act as VS; trapped from VS"),
        }),
        flag("HU", 9, v, "U-mode may use hlv/hsv", "hlv/hsv trap in U"),
        Field::extract("VGEIN", 17, 12, v)
            .with_meaning("guest external interrupt number for VSEIP"),
        flag(
            "VTVM",
            20,
            v,
            "VS satp/sfence.vma raise virtual instruction",
            "VS may use satp",
        ),
        flag(
            "VTW",
            21,
            v,
            "VS wfi raises virtual instruction",
            "VS wfi allowed",
        ),
        flag(
            "VTSR",
            22,
            v,
            "VS sret raises virtual instruction",
            "VS sret allowed",
        ),
        xlen("VSXL", 33, 32, v),
        enumerated("HUPMM", 49, 48, v, |x| match x {
            0 => ("off", "pointer masking off for hlv/hsv in U"),
            1 => ("reserved", "reserved encoding"),
            2 => ("PMLEN=7", "pointer masking, 7 bits"),
            _ => ("PMLEN=16", "pointer masking, 16 bits"),
        }),
    ];
    DecodedCsr::new("hstatus", v, Shape::Fields, fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mstatus_after_trap_from_vs() {
        // MPP=S, MPV=1, MPIE=1, FS=Initial, UXL=SXL=64.
        let v = (1 << 39) | (1 << 11) | (1 << 7) | (1 << 13) | (2 << 32) | (2 << 34);
        let d = decode_status("mstatus", Status::Machine, v);
        assert_eq!(d.get("MPP"), Some(1));
        assert_eq!(d.field("MPP").unwrap().symbol.as_deref(), Some("S"));
        assert_eq!(d.get("MPV"), Some(1));
        assert_eq!(d.get("MPIE"), Some(1));
        assert_eq!(d.field("FS").unwrap().symbol.as_deref(), Some("Initial"));
        assert_eq!(d.field("SXL").unwrap().symbol.as_deref(), Some("64"));
        assert_eq!(d.other_bits, 0);
    }

    #[test]
    fn mstatus_positions() {
        let d = decode_status("mstatus", Status::Machine, 0);
        let pos = |n: &str| d.field(n).map(|f| f.range()).unwrap();
        for (n, p) in [
            ("SIE", "1"),
            ("MIE", "3"),
            ("SPIE", "5"),
            ("MPIE", "7"),
            ("SPP", "8"),
            ("VS", "10:9"),
            ("MPP", "12:11"),
            ("FS", "14:13"),
            ("XS", "16:15"),
            ("MPRV", "17"),
            ("SUM", "18"),
            ("MXR", "19"),
            ("TVM", "20"),
            ("TW", "21"),
            ("TSR", "22"),
            ("UXL", "33:32"),
            ("SXL", "35:34"),
            ("GVA", "38"),
            ("MPV", "39"),
            ("SD", "63"),
        ] {
            assert_eq!(pos(n), p, "{n}");
        }
    }

    #[test]
    fn sstatus_hides_machine_fields() {
        let d = decode_status(
            "sstatus",
            Status::Supervisor,
            (1 << 8) | (1 << 18) | (1 << 1),
        );
        assert_eq!(d.get("SPP"), Some(1));
        assert_eq!(d.get("SUM"), Some(1));
        assert_eq!(d.get("SIE"), Some(1));
        assert_eq!(d.get("MPP"), None);
        assert_eq!(d.get("TVM"), None);
        // An M-only bit set in an sstatus value is reported, not dropped.
        let d = decode_status("sstatus", Status::Supervisor, 1 << 3);
        assert_eq!(d.other_bits, 1 << 3);
    }

    #[test]
    fn hstatus_fields() {
        // SPV=1, SPVP=1, GVA=1, VGEIN=3, VSXL=64.
        let v = (1 << 7) | (1 << 8) | (1 << 6) | (3 << 12) | (2 << 32);
        let d = decode_hstatus(v);
        assert_eq!(d.get("SPV"), Some(1));
        assert_eq!(d.field("SPVP").unwrap().symbol.as_deref(), Some("S"));
        assert_eq!(d.get("GVA"), Some(1));
        assert_eq!(d.get("VGEIN"), Some(3));
        assert_eq!(d.field("VSXL").unwrap().symbol.as_deref(), Some("64"));
        assert_eq!(d.get("VTVM"), Some(0));
        assert_eq!(d.field("VTSR").unwrap().range(), "22");
        assert_eq!(d.field("HU").unwrap().range(), "9");
        assert_eq!(d.field("VSBE").unwrap().range(), "5");
        assert_eq!(d.other_bits, 0);
    }
}

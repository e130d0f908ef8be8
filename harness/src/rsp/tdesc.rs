//! Target descriptions: the register map, built from the stub's XML.
//!
//! GDB manual, "Target Descriptions" / "Target Description Format": the stub
//! serves `target.xml` through `qXfer:features:read`; it may pull in more files
//! with `<xi:include href="..."/>`, which behave as if pasted in place. Registers
//! sit in `<feature name="...">` elements as `<reg name= bitsize= [regnum=]
//! [group=] [type=]/>`. A register's number is its `regnum`, or else one more
//! than the register before it, in this file or an earlier included one; the
//! first register is 0 ("Registers"). These numbers are what `p`/`P` use.
//!
//! QEMU (7.2 and 10.0, riscv64) splits its description into
//! `riscv-64bit-cpu.xml` (x0..x31 and pc = 0..32), `riscv-64bit-fpu.xml`
//! (33..64), `riscv-vector.xml` when the CPU has V, `riscv-64bit-virtual.xml`
//! (`priv`) and `riscv-csr.xml`, where every CSR carries `regnum = base +
//! csrno`. The base moves with the CPU options, so names are the only stable key.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use super::xml::{tokenize, XmlError, XmlEvent};

/// Largest number of registers accepted from one description.
const MAX_REGISTERS: usize = 1 << 16;
/// Deepest `xi:include` nesting accepted.
pub(crate) const MAX_INCLUDE_DEPTH: usize = 16;

/// Why a target description could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TdescError {
    /// A file is not well-formed XML (for this reader).
    Xml {
        /// The file.
        file: String,
        /// Where and what.
        error: XmlError,
    },
    /// An `xi:include` names a file that was not (or could not be) fetched.
    MissingFile {
        /// The file named by `href`.
        file: String,
    },
    /// An include loop or nesting deeper than [`MAX_INCLUDE_DEPTH`].
    IncludeLoop {
        /// The chain of files.
        chain: Vec<String>,
    },
    /// A `<reg>` without a usable name or bitsize, a bad regnum, or too many registers.
    BadRegister {
        /// The file.
        file: String,
        /// What was wrong.
        detail: String,
    },
    /// Start and end tags that do not match.
    Structure {
        /// The file.
        file: String,
        /// What was wrong.
        detail: String,
    },
    /// The stub's answers to `qXfer:features:read` were unusable.
    Transfer {
        /// The file.
        file: String,
        /// What was wrong.
        detail: String,
    },
}

impl fmt::Display for TdescError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TdescError::Xml { file, error } => write!(f, "{file}: malformed XML {error}"),
            TdescError::MissingFile { file } => write!(f, "included file {file} is not available"),
            TdescError::IncludeLoop { chain } => write!(
                f,
                "include loop or nesting too deep: {}",
                chain.join(" -> ")
            ),
            TdescError::BadRegister { file, detail } => write!(f, "{file}: bad <reg>: {detail}"),
            TdescError::Structure { file, detail } => write!(f, "{file}: {detail}"),
            TdescError::Transfer { file, detail } => write!(f, "fetching {file}: {detail}"),
        }
    }
}

impl std::error::Error for TdescError {}

/// One register of the target description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterInfo {
    /// Name as written in the XML (`pc`, `mstatus`, `priv`).
    pub name: String,
    /// Wire number for `p`/`P`.
    pub regnum: u64,
    /// Width in bits.
    pub(crate) bitsize: u32,
    /// Name of the enclosing `<feature>` (`org.gnu.gdb.riscv.csr`).
    pub(crate) feature: Option<String>,
    /// `group=` attribute (`vector`, `float` ...).
    pub(crate) group: Option<String>,
    /// `type=` attribute (`int`, `code_ptr`, `riscv_double` ...).
    pub(crate) reg_type: Option<String>,
    /// The file that declared it.
    pub(crate) file: String,
}

impl RegisterInfo {
    /// Width in bytes, rounded up.
    pub(crate) fn byte_len(&self) -> usize {
        (self.bitsize as usize).div_ceil(8)
    }
}

/// The parsed description: architecture, registers, and the raw files.
#[derive(Debug, Clone)]
pub struct TargetDescription {
    architecture: Option<String>,
    registers: Vec<RegisterInfo>,
    by_name: HashMap<String, usize>,
    by_number: BTreeMap<u64, usize>,
    files: BTreeMap<String, String>,
}

/// The `href`s of the `xi:include` elements of one file (to know what to fetch).
pub(crate) fn includes_of(file: &str, text: &str) -> Result<Vec<String>, TdescError> {
    let events = tokenize(text).map_err(|error| TdescError::Xml {
        file: file.to_string(),
        error,
    })?;
    Ok(events
        .iter()
        .filter(|e| matches!(e, XmlEvent::Start { name, .. } if is_include(name)))
        .filter_map(|e| e.attr("href").map(str::to_string))
        .collect())
}

fn is_include(name: &str) -> bool {
    name == "xi:include" || name.ends_with(":include") || name == "include"
}

struct Builder {
    architecture: Option<String>,
    registers: Vec<RegisterInfo>,
    next_regnum: u64,
}

impl TargetDescription {
    /// Builds the description from `root` (normally `target.xml`) and every file
    /// it includes, all already present in `files` (name -> text).
    pub(crate) fn from_files(
        root: &str,
        files: BTreeMap<String, String>,
    ) -> Result<TargetDescription, TdescError> {
        let mut b = Builder {
            architecture: None,
            registers: Vec::new(),
            next_regnum: 0,
        };
        let mut chain = Vec::new();
        walk(root, &files, &mut chain, &mut b)?;
        let mut by_name = HashMap::new();
        let mut by_number = BTreeMap::new();
        for (i, r) in b.registers.iter().enumerate() {
            // The first declaration of a name or number wins.
            by_name.entry(r.name.clone()).or_insert(i);
            by_number.entry(r.regnum).or_insert(i);
        }
        Ok(TargetDescription {
            architecture: b.architecture,
            registers: b.registers,
            by_name,
            by_number,
            files,
        })
    }

    /// Builds the description from one self-contained document.
    #[cfg(test)]
    pub(crate) fn from_xml(xml: &str) -> Result<TargetDescription, TdescError> {
        let mut files = BTreeMap::new();
        files.insert("target.xml".to_string(), xml.to_string());
        TargetDescription::from_files("target.xml", files)
    }

    /// `<architecture>` text (`riscv:rv64`).
    pub fn architecture(&self) -> Option<&str> {
        self.architecture.as_deref()
    }

    /// Every register, in declaration order.
    pub fn registers(&self) -> &[RegisterInfo] {
        &self.registers
    }

    /// The raw XML files by name (for snapshots and debugging).
    pub fn files(&self) -> &BTreeMap<String, String> {
        &self.files
    }

    /// Looks a register up by name: exact, then ASCII case-insensitive.
    pub fn register(&self, name: &str) -> Option<&RegisterInfo> {
        if let Some(&i) = self.by_name.get(name) {
            return Some(&self.registers[i]);
        }
        self.registers
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
    }

    /// Looks a register up by wire number.
    pub fn register_by_number(&self, regnum: u64) -> Option<&RegisterInfo> {
        self.by_number.get(&regnum).map(|&i| &self.registers[i])
    }

    /// Registers of one feature (`org.gnu.gdb.riscv.csr`).
    pub fn feature<'a>(&'a self, feature: &'a str) -> impl Iterator<Item = &'a RegisterInfo> + 'a {
        self.registers
            .iter()
            .filter(move |r| r.feature.as_deref() == Some(feature))
    }

    /// Up to five registers whose names look like `name` (for error messages).
    pub fn near_names(&self, name: &str) -> Vec<String> {
        let wanted = name.to_ascii_lowercase();
        let mut scored: Vec<(usize, &str)> = self
            .registers
            .iter()
            .map(|r| {
                let cand = r.name.to_ascii_lowercase();
                let mut d = crate::elf::suggest::distance(&wanted, &cand);
                if cand.contains(&wanted) || wanted.contains(&cand) {
                    d = d.min(1);
                }
                (d, r.name.as_str())
            })
            .filter(|(d, _)| *d <= 2.max(wanted.len() / 3))
            .collect();
        scored.sort();
        scored.dedup_by(|a, b| a.1 == b.1);
        scored
            .into_iter()
            .take(5)
            .map(|(_, n)| n.to_string())
            .collect()
    }
}

fn walk(
    file: &str,
    files: &BTreeMap<String, String>,
    chain: &mut Vec<String>,
    b: &mut Builder,
) -> Result<(), TdescError> {
    if chain.iter().any(|f| f == file) || chain.len() >= MAX_INCLUDE_DEPTH {
        let mut c = chain.clone();
        c.push(file.to_string());
        return Err(TdescError::IncludeLoop { chain: c });
    }
    let text = files.get(file).ok_or_else(|| TdescError::MissingFile {
        file: file.to_string(),
    })?;
    let events = tokenize(text).map_err(|error| TdescError::Xml {
        file: file.to_string(),
        error,
    })?;
    chain.push(file.to_string());
    let structure = |detail: String| TdescError::Structure {
        file: file.to_string(),
        detail,
    };
    let mut open: Vec<String> = Vec::new();
    let mut feature: Vec<Option<String>> = Vec::new();
    let mut architecture_text: Option<String> = None;
    for ev in &events {
        match ev {
            XmlEvent::Start {
                name, self_closing, ..
            } => {
                if is_include(name) {
                    let href = ev
                        .attr("href")
                        .ok_or_else(|| structure(format!("<{name}> without href")))?;
                    walk(href, files, chain, b)?;
                } else if name == "reg" {
                    add_register(file, ev, feature.last().cloned().flatten(), b)?;
                } else if name == "feature" {
                    if !self_closing {
                        feature.push(ev.attr("name").map(str::to_string));
                    }
                } else if name == "architecture" && !self_closing {
                    architecture_text = Some(String::new());
                }
                if !self_closing {
                    open.push(name.clone());
                }
            }
            XmlEvent::End { name } => {
                match open.pop() {
                    Some(o) if &o == name => {}
                    Some(o) => return Err(structure(format!("</{name}> closes <{o}>"))),
                    None => return Err(structure(format!("</{name}> without a start tag"))),
                }
                if name == "feature" {
                    feature.pop();
                } else if name == "architecture" {
                    if let Some(t) = architecture_text.take() {
                        b.architecture = Some(t.trim().to_string());
                    }
                }
            }
            XmlEvent::Text(t) => {
                if let Some(a) = architecture_text.as_mut() {
                    a.push_str(t);
                }
            }
        }
    }
    if let Some(o) = open.pop() {
        return Err(structure(format!("<{o}> is never closed")));
    }
    chain.pop();
    Ok(())
}

fn add_register(
    file: &str,
    ev: &XmlEvent,
    feature: Option<String>,
    b: &mut Builder,
) -> Result<(), TdescError> {
    let bad = |detail: String| TdescError::BadRegister {
        file: file.to_string(),
        detail,
    };
    if b.registers.len() >= MAX_REGISTERS {
        return Err(bad(format!("more than {MAX_REGISTERS} registers")));
    }
    let name = ev
        .attr("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("missing name".into()))?;
    let bitsize: u32 = ev
        .attr("bitsize")
        .ok_or_else(|| bad(format!("{name}: missing bitsize")))?
        .trim()
        .parse()
        .ok()
        .filter(|&n| n > 0 && n <= 8192)
        .ok_or_else(|| bad(format!("{name}: bitsize is not a number in 1..=8192")))?;
    let regnum = match ev.attr("regnum") {
        Some(n) => n
            .trim()
            .parse::<u64>()
            .map_err(|_| bad(format!("{name}: regnum {n:?} is not a number")))?,
        None => b.next_regnum,
    };
    b.next_regnum = regnum
        .checked_add(1)
        .ok_or_else(|| bad(format!("{name}: regnum too large")))?;
    b.registers.push(RegisterInfo {
        name: name.to_string(),
        regnum,
        bitsize,
        feature,
        group: ev.attr("group").map(str::to_string),
        reg_type: ev.attr("type").map(str::to_string),
        file: file.to_string(),
    });
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The XML files captured from a real QEMU (`-cpu rv64,h=true`, and `v=true` for the `-vector` sets).
    pub(crate) fn qemu_files(set: &str) -> BTreeMap<String, String> {
        macro_rules! files {
            ($dir:literal, [$($f:literal),*]) => {{
                let mut m = BTreeMap::new();
                $(m.insert($f.to_string(), include_str!(concat!("testdata/", $dir, "/", $f)).to_string());)*
                m
            }};
            // What QEMU serves for riscv64: the same files on 7.2 and 10.0.
            ($dir:literal) => {
                files!(
                    $dir,
                    [
                        "target.xml",
                        "riscv-64bit-cpu.xml",
                        "riscv-64bit-fpu.xml",
                        "riscv-64bit-virtual.xml",
                        "riscv-csr.xml"
                    ]
                )
            };
            // With v=true, the vector registers' file after the FPU's.
            ($dir:literal, vector) => {
                files!(
                    $dir,
                    [
                        "target.xml",
                        "riscv-64bit-cpu.xml",
                        "riscv-64bit-fpu.xml",
                        "riscv-vector.xml",
                        "riscv-64bit-virtual.xml",
                        "riscv-csr.xml"
                    ]
                )
            };
        }
        match set {
            "7.2.22" => files!("qemu-7.2.22"),
            "10.0.2" => files!("qemu-10.0.2"),
            "7.2.22-vector" => files!("qemu-7.2.22-vector", vector),
            "10.0.2-vector" => files!("qemu-10.0.2-vector", vector),
            other => panic!("no such set {other}"),
        }
    }

    fn csr_base(d: &TargetDescription) -> u64 {
        // sstatus is CSR 0x100.
        d.register("sstatus").unwrap().regnum - 0x100
    }

    #[test]
    fn qemu_multi_file_numbering() {
        for (set, base) in [
            ("7.2.22", 66),
            ("10.0.2", 66),
            ("7.2.22-vector", 105),
            ("10.0.2-vector", 98),
        ] {
            let d = TargetDescription::from_files("target.xml", qemu_files(set)).unwrap();
            assert_eq!(d.architecture(), Some("riscv:rv64"), "{set}");
            assert_eq!(d.register("zero").unwrap().regnum, 0);
            assert_eq!(d.register("fp").unwrap().regnum, 8);
            assert_eq!(d.register("pc").unwrap().regnum, 32);
            assert_eq!(d.register("ft0").unwrap().regnum, 33);
            assert_eq!(d.register("ft11").unwrap().regnum, 64);
            assert_eq!(
                d.register("priv").unwrap().regnum,
                base - 1,
                "{set}: priv follows the last numbered register"
            );
            assert_eq!(
                d.register("priv").unwrap().feature.as_deref(),
                Some("org.gnu.gdb.riscv.virtual")
            );
            assert_eq!(csr_base(&d), base, "{set}");
            for (csr, no) in [
                ("mstatus", 0x300),
                ("misa", 0x301),
                ("menvcfg", 0x30a),
                ("henvcfg", 0x60a),
                ("hgatp", 0x680),
                ("satp", 0x180),
            ] {
                let r = d.register(csr).unwrap_or_else(|| panic!("{set}: {csr}"));
                assert_eq!(r.regnum, base + no, "{set}: {csr}");
                assert_eq!(r.bitsize, 64);
                assert_eq!(r.feature.as_deref(), Some("org.gnu.gdb.riscv.csr"));
                assert_eq!(r.file, "riscv-csr.xml");
                assert_eq!(d.register_by_number(base + no).unwrap().name, csr);
            }
            assert_eq!(d.feature("org.gnu.gdb.riscv.cpu").count(), 33);
            assert!(d.register("MSTATUS").is_some());
        }
    }

    #[test]
    fn qemu_vector_registers() {
        let d = TargetDescription::from_files("target.xml", qemu_files("10.0.2-vector")).unwrap();
        let v0 = d.register("v0").unwrap();
        assert_eq!(
            (v0.regnum, v0.bitsize, v0.group.as_deref()),
            (65, 128, Some("vector"))
        );
        assert_eq!(v0.byte_len(), 16);
    }

    #[test]
    fn near_names_for_typos() {
        let d = TargetDescription::from_files("target.xml", qemu_files("10.0.2")).unwrap();
        let near = d.near_names("henvcgf");
        assert!(near.contains(&"henvcfg".to_string()), "{near:?}");
        assert!(d.register("henvcgf").is_none());
    }

    #[test]
    fn include_errors() {
        let mut files = BTreeMap::new();
        files.insert(
            "target.xml".to_string(),
            r#"<target><xi:include href="a.xml"/></target>"#.to_string(),
        );
        assert_eq!(
            TargetDescription::from_files("target.xml", files.clone()).unwrap_err(),
            TdescError::MissingFile {
                file: "a.xml".into()
            }
        );
        files.insert(
            "a.xml".to_string(),
            r#"<feature name="x"><xi:include href="target.xml"/></feature>"#.to_string(),
        );
        assert!(matches!(
            TargetDescription::from_files("target.xml", files).unwrap_err(),
            TdescError::IncludeLoop { .. }
        ));
    }

    #[test]
    fn regnum_rules_and_bad_registers() {
        let d = TargetDescription::from_xml(
            r#"<target><feature name="a"><reg name="r0" bitsize="32"/><reg name="r1" bitsize="32"/></feature>
               <feature name="b"><reg name="x" bitsize="64" regnum="10"/><reg name="y" bitsize="64"/></feature></target>"#,
        )
        .unwrap();
        let nums: Vec<_> = d
            .registers()
            .iter()
            .map(|r| (r.name.as_str(), r.regnum))
            .collect();
        assert_eq!(nums, vec![("r0", 0), ("r1", 1), ("x", 10), ("y", 11)]);
        assert_eq!(d.register("y").unwrap().feature.as_deref(), Some("b"));
        assert!(TargetDescription::from_xml(r#"<reg bitsize="8"/>"#).is_err());
        assert!(TargetDescription::from_xml(r#"<reg name="a"/>"#).is_err());
        assert!(TargetDescription::from_xml(r#"<reg name="a" bitsize="x"/>"#).is_err());
        assert!(TargetDescription::from_xml(r#"<reg name="a" bitsize="8" regnum="-1"/>"#).is_err());
        assert!(TargetDescription::from_xml(r#"<target><feature></target>"#).is_err());
        assert!(TargetDescription::from_xml(r#"<target>"#).is_err());
    }

    #[test]
    fn includes_are_listed_in_order() {
        let files = qemu_files("10.0.2");
        assert_eq!(
            includes_of("target.xml", &files["target.xml"]).unwrap(),
            vec![
                "riscv-64bit-cpu.xml",
                "riscv-64bit-fpu.xml",
                "riscv-64bit-virtual.xml",
                "riscv-csr.xml"
            ]
        );
    }
}

//! Arming points found in the ELF's call graph, for a breakpoint whose
//! scenario gives no hint (no `milestone_symbols`, or none off its page).
//!
//! xv6-riscv's boot calls `kinit` (which frees all of RAM page by page),
//! `kvminit` and `kvminithart` in a row from `main`, and links all of them
//! onto one 4 KiB page: a breakpoint on `kvminithart` inserted at the start
//! makes the freeing loop run one instruction at a time. The boot does,
//! though, call code on other pages between the loop and the breakpoint:
//! `kvminit`'s helpers (`mappages`, `walk`). So the trigger is read from the
//! machine code: in the function that calls the breakpoint's function (its
//! only caller), the calls made before that call, latest first; in each
//! call's tree of callees, the first function that lies on another page,
//! returns, and is not reached by any earlier call of the caller (so that
//! its first stop comes after those calls have returned, whatever of them
//! was hot). Its first stop on any hart arms the breakpoint; when it lies
//! below that call (`mappages` below `kvminit`), at the call's return
//! (`CallTrigger::returns_to`, `arming_points::ReturnWatch`): xv6's
//! `kvminit` zeroes each new page-table page with `memset`, on the
//! breakpoint's page, after `mappages`' first stop.
//!
//! Only direct calls are seen (`jal`, `auipc`+`jalr`, and tail jumps out of
//! a function); the choice refuses a breakpoint reached any other way, or
//! from more than one function, and says why.
//!
//! Other shapes of the same class, in firmware unlike the fixture:
//! - a kernel started by its own M-mode code (`-bios none`, as xv6-riscv
//!   runs) or by OpenSBI: the choice reads only the ELF, so the boot path
//!   does not matter;
//! - the breakpoint's function reached through a pointer (a Linux-style
//!   initcall table) or from several callers (a per-hart path beside the
//!   boot hart's): refused, with the reason in the hot-page warning, so the
//!   user can name an `arm_after`;
//! - a hot loop written inline in the caller, with no call off the page
//!   between it and the breakpoint's call: refused ("calls nothing off its
//!   page before it"), tested in `refused_when_called_from_several_functions_or_never`
//!   and `the_first_cold_callee_after_the_hot_call`.

use std::collections::BTreeSet;
use std::ops::Range;

use crate::elf::ElfImage;
use crate::qemu::page_samples::PAGE_SIZE;

/// How deep the search follows callees, and how many functions it visits
/// per call: a boot's set-up code is shallow, and the bound keeps a large
/// ELF cheap.
const MAX_DEPTH: usize = 6;
const MAX_VISITED: usize = 400;

/// One function of the ELF: its run-time extent and its direct calls.
#[derive(Debug, Clone)]
pub(crate) struct Function {
    pub(crate) name: String,
    pub(crate) range: Range<u64>,
    /// (call site, target), in address order; tail jumps included.
    pub(crate) calls: Vec<(u64, u64)>,
    /// Whether it has a return (or a tail jump): `panic` has none.
    pub(crate) returns: bool,
}

/// The functions of one ELF file, decoded once.
#[derive(Debug, Clone, Default)]
pub(crate) struct CodeMap {
    functions: Vec<Function>,
    /// The call sites that are `auipc`+`jalr` pairs (8 bytes); every other
    /// call is a 4-byte `jal`.
    long_sites: BTreeSet<u64>,
}

/// The trigger chosen for a breakpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallTrigger {
    /// The function whose entry is the trigger.
    pub(crate) name: String,
    pub(crate) address: u64,
    /// The breakpoint's caller and the call sites of the breakpoint in it:
    /// a hart stopped in it before the last of them has not passed it yet.
    pub(crate) caller: Range<u64>,
    pub(crate) sites: Vec<u64>,
    /// Why that one, in words.
    pub(crate) why: String,
    /// When the trigger lies below a call of the caller's (`kvminit` for
    /// `mappages`): that call's name and its return address in the caller.
    /// The call saves it on the stack and reads it back to return, after
    /// all of its work (see `DebugSession::arm_at_return`).
    pub(crate) returns_to: Option<(String, u64)>,
}

fn page(a: u64) -> u64 {
    a & !(PAGE_SIZE - 1)
}

impl CodeMap {
    /// Decodes every sized function symbol of `image`.
    pub(crate) fn of(image: &ElfImage) -> CodeMap {
        let mut long_sites = BTreeSet::new();
        let mut functions: Vec<Function> = image
            .functions()
            .into_iter()
            .filter_map(|(name, range)| {
                let len = usize::try_from(range.end - range.start).ok()?;
                let bytes = image.bytes_at(range.start, len)?;
                let (calls, long, returns) = decode(range.clone(), bytes);
                long_sites.extend(long);
                Some(Function {
                    name,
                    range,
                    calls,
                    returns,
                })
            })
            .collect();
        functions.sort_by_key(|f| f.range.start);
        functions.dedup_by_key(|f| f.range.start);
        CodeMap {
            functions,
            long_sites,
        }
    }

    #[cfg(test)]
    pub(crate) fn from_functions(mut functions: Vec<Function>) -> CodeMap {
        functions.sort_by_key(|f| f.range.start);
        CodeMap {
            functions,
            long_sites: BTreeSet::new(),
        }
    }

    /// The return address of the call at `site`.
    fn return_address(&self, site: u64) -> u64 {
        match self.long_sites.contains(&site) {
            true => site + 8,
            false => site + 4,
        }
    }

    fn at(&self, entry: u64) -> Option<&Function> {
        self.functions
            .binary_search_by_key(&entry, |f| f.range.start)
            .ok()
            .map(|i| &self.functions[i])
    }

    /// The functions `entry` reaches by direct calls, itself first, in
    /// depth-first order of the call sites (bounded).
    fn tree(&self, entry: u64) -> Vec<u64> {
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        self.walk(entry, 0, &mut seen, &mut order);
        order
    }

    fn walk(&self, entry: u64, depth: usize, seen: &mut BTreeSet<u64>, order: &mut Vec<u64>) {
        if depth > MAX_DEPTH || seen.len() >= MAX_VISITED || !seen.insert(entry) {
            return;
        }
        order.push(entry);
        // What a function that never returns calls is its error path
        // (`panic` printing): never a trigger.
        if let Some(f) = self.at(entry).filter(|f| f.returns) {
            for &(_, target) in &f.calls {
                self.walk(target, depth + 1, seen, order);
            }
        }
    }

    /// The first function on `page` that `entry` reaches (itself excepted):
    /// code a trigger at `entry` would run after arming a breakpoint there.
    pub(crate) fn callee_on_page(&self, entry: u64, page_start: u64) -> Option<String> {
        self.tree(entry)
            .into_iter()
            .skip(1)
            .find(|f| page(*f) == page_start)
            .map(|f| self.name(f))
    }

    fn name(&self, entry: u64) -> String {
        self.at(entry)
            .map_or_else(|| format!("{entry:#x}"), |f| f.name.clone())
    }

    /// The trigger for a breakpoint at `target` (a function's entry), or
    /// why there is none.
    pub(crate) fn choose(&self, target: u64) -> Result<CallTrigger, String> {
        let sites: Vec<(u64, &Function)> = self
            .functions
            .iter()
            .flat_map(|f| {
                f.calls
                    .iter()
                    .filter(|(_, t)| *t == target)
                    .map(move |(s, _)| (*s, f))
            })
            .collect();
        let Some(&(_, caller)) = sites.first() else {
            return Err("no direct call to it in its ELF file".to_string());
        };
        if sites.iter().any(|(_, f)| f.range != caller.range) {
            let mut names: Vec<&str> = sites.iter().map(|(_, f)| f.name.as_str()).collect();
            names.dedup();
            return Err(format!(
                "it is called from several functions ({}): no one trigger precedes every call",
                names.join(", ")
            ));
        }
        let site_addresses: Vec<u64> = sites.iter().map(|(s, _)| *s).collect();
        let on_page = page(target);
        let mut passed = Vec::new();
        for &site in &site_addresses {
            let before_calls: Vec<(u64, u64)> = caller
                .calls
                .iter()
                .filter(|(s, t)| *s < site && *t != target && *t != caller.range.start)
                .copied()
                .collect();
            let before: Vec<u64> = before_calls.iter().map(|(_, t)| *t).collect();
            for j in (0..before.len()).rev() {
                let earlier: BTreeSet<u64> =
                    before[..j].iter().flat_map(|c| self.tree(*c)).collect();
                let fits = |f: &u64| {
                    page(*f) != on_page
                        && *f != target
                        && *f != caller.range.start
                        && !earlier.contains(f)
                        && self.at(*f).is_some_and(|x| x.returns)
                };
                if let Some(found) = self.tree(before[j]).into_iter().find(fits) {
                    let via = match found == before[j] {
                        true => String::new(),
                        false => format!(", which {} calls", self.name(before[j])),
                    };
                    let passed = match passed.is_empty() {
                        true => String::new(),
                        false => format!("; passed over {} (on its page)", passed.join(", ")),
                    };
                    let returns_to = (found != before[j])
                        .then(|| (self.name(before[j]), self.return_address(before_calls[j].0)));
                    return Ok(CallTrigger {
                        name: self.name(found),
                        address: found,
                        caller: caller.range.clone(),
                        sites: site_addresses.clone(),
                        returns_to,
                        why: format!(
                            "from the call graph: the latest function off its page {on_page:#x} that {} \
                             reaches before calling it{via}{passed}",
                            caller.name
                        ),
                    });
                }
                let name = self.name(before[j]);
                if !passed.contains(&name) {
                    passed.push(name);
                }
            }
        }
        Err(format!(
            "{} calls nothing off its page {on_page:#x} before it{}",
            caller.name,
            match passed.is_empty() {
                true => String::new(),
                false => format!(
                    " ({}: on it, or reaching only functions that never return)",
                    passed.join(", ")
                ),
            }
        ))
    }
}

/// The direct calls and tail jumps in one function's bytes, the sites of
/// those that are `auipc`+`jalr` pairs, and whether it returns.
fn decode(range: Range<u64>, bytes: &[u8]) -> (Vec<(u64, u64)>, Vec<u64>, bool) {
    let mut calls = Vec::new();
    let mut long = Vec::new();
    let mut returns = false;
    // The last auipc: (its rd, the address it computed).
    let mut upper: Option<(u32, u64)> = None;
    let mut at = 0usize;
    while at + 2 <= bytes.len() {
        let pc = range.start + at as u64;
        let half = u16::from_le_bytes([bytes[at], bytes[at + 1]]) as u32;
        if half & 3 != 3 {
            at += 2;
            if half == 0x8082 {
                returns = true; // c.jr ra
            } else if half & 0xe003 == 0xa001 {
                let target = pc.wrapping_add(c_j_offset(half) as u64);
                if !range.contains(&target) {
                    calls.push((pc, target)); // c.j out: a tail call
                    returns = true;
                }
            }
            upper = None;
            continue;
        }
        let Some(word) = bytes.get(at..at + 4) else {
            break;
        };
        let insn = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        at += 4;
        let (opcode, rd, rs1) = (insn & 0x7f, (insn >> 7) & 31, (insn >> 15) & 31);
        match opcode {
            0x6f => {
                let target = pc.wrapping_add(jal_offset(insn) as u64);
                if rd == 1 || (rd == 0 && !range.contains(&target)) {
                    calls.push((pc, target));
                    returns |= rd == 0;
                }
            }
            0x67 if (insn >> 12) & 7 == 0 => {
                let offset = (insn as i32 >> 20) as i64;
                if rd == 0 && rs1 == 1 && offset == 0 {
                    returns = true;
                } else if let Some((_, base)) = upper.filter(|(r, _)| *r == rs1) {
                    let target = base.wrapping_add(offset as u64);
                    if rd == 1 || (rd == 0 && !range.contains(&target)) {
                        calls.push((pc - 4, target));
                        long.push(pc - 4);
                        returns |= rd == 0;
                    }
                }
            }
            _ => {}
        }
        upper = (opcode == 0x17).then(|| {
            (
                rd,
                pc.wrapping_add((insn & 0xffff_f000) as i32 as i64 as u64),
            )
        });
    }
    (calls, long, returns)
}

/// The signed offset of a JAL.
fn jal_offset(insn: u32) -> i64 {
    let imm = ((insn >> 31) & 1) << 20
        | ((insn >> 12) & 0xff) << 12
        | ((insn >> 20) & 1) << 11
        | ((insn >> 21) & 0x3ff) << 1;
    ((imm << 11) as i32 >> 11) as i64
}

/// The signed offset of a C.J.
fn c_j_offset(half: u32) -> i64 {
    let bit = |from: u32, to: u32| ((half >> from) & 1) << to;
    let imm = bit(12, 11)
        | bit(11, 4)
        | bit(10, 9)
        | bit(9, 8)
        | bit(8, 10)
        | bit(7, 6)
        | bit(6, 7)
        | bit(5, 3)
        | bit(4, 2)
        | bit(3, 1)
        | bit(2, 5);
    ((imm << 20) as i32 >> 20) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jal(rd: u32, offset: i64) -> [u8; 4] {
        let o = offset as u32;
        let insn = ((o >> 20) & 1) << 31
            | ((o >> 1) & 0x3ff) << 21
            | ((o >> 11) & 1) << 20
            | ((o >> 12) & 0xff) << 12
            | rd << 7
            | 0x6f;
        insn.to_le_bytes()
    }

    #[test]
    fn decodes_calls_tail_jumps_and_returns() {
        // xv6layout's main: `jal ra, kvminithart` (0xf4 ahead) and a loop
        // inside the function (not a call); the encodings objdump printed.
        let mut code = Vec::new();
        code.extend(0x0ff0000fu32.to_le_bytes()); // fence, at 0x802001d0
        code.extend(0x0f4000efu32.to_le_bytes()); // jal kvminithart at 0x802001d4
        code.extend(0xbfe5u16.to_le_bytes()); // j 0x802001d0, inside
        code.extend(0x7e1000efu32.to_le_bytes()); // jal start_other_harts (+0xfe0)
        let (calls, long, returns) = decode(0x8020_01d0..0x8020_01de, &code);
        assert!(long.is_empty());
        assert_eq!(
            calls,
            [
                (0x8020_01d4, 0x8020_02c8),
                (0x8020_01da, 0x8020_01da + 0xfe0)
            ]
        );
        assert!(!returns);
        // auipc ra + jalr ra, and a ret.
        let mut far = Vec::new();
        far.extend(0x0000_1097u32.to_le_bytes()); // auipc ra, 0x1
        far.extend(0x010080e7u32.to_le_bytes()); // jalr ra, 16(ra)
        far.extend(0x8082u16.to_le_bytes()); // ret
        let (calls, long, returns) = decode(0x1000..0x100a, &far);
        assert_eq!(calls, [(0x1000, 0x2010)]);
        assert_eq!(long, [0x1000]);
        assert!(returns);
        // A tail jump out of the function is a call that returns for it.
        let (calls, _, returns) = decode(0x1000..0x1004, &jal(0, 0x100));
        assert_eq!((calls, returns), (vec![(0x1000, 0x1100)], true));
        assert_eq!(jal_offset(u32::from_le_bytes(jal(1, -0x1e0))), -0x1e0);
        assert_eq!(c_j_offset(0xbfe5), -8);
    }

    fn f(name: &str, start: u64, calls: &[u64], returns: bool) -> Function {
        Function {
            name: name.to_string(),
            range: start..start + 0x40,
            calls: calls
                .iter()
                .enumerate()
                .map(|(i, t)| (start + 4 * i as u64, *t))
                .collect(),
            returns,
        }
    }

    const KINIT: u64 = 0x8020_0030;
    const KFREE: u64 = 0x8020_00e8;
    const MEMSET: u64 = 0x8020_018a;
    const MAIN: u64 = 0x8020_0200;
    const KVMINIT: u64 = 0x8020_0300;
    const KVMINITHART: u64 = 0x8020_0400;
    const PRINTF: u64 = 0x8020_2000;
    const PANIC: u64 = 0x8020_2100;
    const MAPPAGES: u64 = 0x8020_1300;
    const WALK: u64 = 0x8020_1200;

    /// The xv6-layout fixture: kinit, kfree, memset, main, kvminit and
    /// kvminithart on one page; mappages, walk, printf and panic elsewhere.
    fn xv6(main_calls: &[u64]) -> CodeMap {
        CodeMap::from_functions(vec![
            f("kinit", KINIT, &[KFREE], true),
            f("kfree", KFREE, &[PANIC, MEMSET], true),
            f("memset", MEMSET, &[], true),
            f("main", MAIN, main_calls, false),
            f("kvminit", KVMINIT, &[PANIC, MAPPAGES], true),
            f("kvminithart", KVMINITHART, &[], true),
            f("walk", WALK, &[PANIC], true),
            f("mappages", MAPPAGES, &[WALK, PANIC], true),
            f("printf", PRINTF, &[], true),
            f("panic", PANIC, &[PRINTF], false),
        ])
    }

    #[test]
    fn the_first_cold_callee_after_the_hot_call() {
        // main: (the secondaries' call first), printf, kinit, kvminit, kvminithart.
        let map = xv6(&[KVMINITHART, PRINTF, KINIT, KVMINIT, KVMINITHART]);
        let t = map.choose(KVMINITHART).expect("a trigger");
        assert_eq!((t.name.as_str(), t.address), ("mappages", MAPPAGES));
        assert!(t.why.contains("which kvminit calls"), "{}", t.why);
        assert_eq!(t.sites, [MAIN, MAIN + 16]);
        assert_eq!(t.caller, MAIN..MAIN + 0x40);
        // kvminit's return is later than mappages' first stop: main's call
        // of it (a jal) returns to the instruction after.
        assert_eq!(t.returns_to, Some(("kvminit".to_string(), MAIN + 12 + 4)));
        // An auipc+jalr call returns 8 bytes on.
        let mut far = xv6(&[KVMINITHART, PRINTF, KINIT, KVMINIT, KVMINITHART]);
        far.long_sites.insert(MAIN + 12);
        let t = far.choose(KVMINITHART).expect("a trigger");
        assert_eq!(t.returns_to, Some(("kvminit".to_string(), MAIN + 12 + 8)));
        // Nothing off the page after kinit: the latest earlier call is taken
        // (never worse than the start), and kinit named as passed over.
        let early = xv6(&[PRINTF, KINIT, KVMINITHART]);
        let t = early.choose(KVMINITHART).expect("a trigger");
        assert_eq!(t.name, "printf");
        assert!(
            t.why.contains("passed over kinit (on its page)"),
            "{}",
            t.why
        );
        // printf behind panic (which never returns) is an error path, not a
        // trigger: kinit reaches nothing else off the page.
        let e = xv6(&[KINIT, KVMINITHART]).choose(KVMINITHART).unwrap_err();
        assert!(
            e.contains("main calls nothing off its page 0x80200000 before it (kinit: on it"),
            "{e}"
        );
    }

    #[test]
    fn refused_when_called_from_several_functions_or_never() {
        let mut map = xv6(&[KINIT, KVMINIT, KVMINITHART]);
        map.functions[0].calls.push((KINIT + 0x20, KVMINITHART));
        let e = map.choose(KVMINITHART).unwrap_err();
        assert!(e.contains("several functions (kinit, main)"), "{e}");
        let e = xv6(&[KINIT]).choose(KVMINITHART).unwrap_err();
        assert!(e.contains("no direct call"), "{e}");
    }

    #[test]
    fn what_a_milestone_runs_on_the_page() {
        // A kinit hint would arm before its own loop: it calls kfree there.
        let map = xv6(&[KINIT, KVMINIT, KVMINITHART]);
        assert_eq!(
            map.callee_on_page(KINIT, 0x8020_0000).as_deref(),
            Some("kfree")
        );
        assert_eq!(map.callee_on_page(MEMSET, 0x8020_0000), None);
        assert_eq!(map.callee_on_page(MAPPAGES, 0x8020_0000), None);
    }

    #[test]
    fn a_callee_off_the_page_is_its_own_trigger() {
        let map = xv6(&[KINIT, MAPPAGES, KVMINITHART]);
        let t = map.choose(KVMINITHART).expect("a trigger");
        assert_eq!(t.name, "mappages");
        assert!(!t.why.contains("which"), "{}", t.why);
        // Its own entry: no later return to wait for.
        assert_eq!(t.returns_to, None);
    }
}

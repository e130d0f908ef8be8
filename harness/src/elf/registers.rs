//! Integer register names as the disassembler writes them (ABI names).

/// The ABI names of x0..x31.
const ABI: [&str; 32] = [
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4",
    "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4",
    "t5", "t6",
];

/// The ABI name of x`number` (`a5` for 15).
pub(crate) fn abi_name(number: u8) -> &'static str {
    ABI.get(usize::from(number)).copied().unwrap_or("x?")
}

/// The number of a register written `a5`, `x15` or `fp`.
pub(crate) fn register_number(name: &str) -> Option<u8> {
    if name == "fp" {
        return Some(8);
    }
    if let Some(n) = name.strip_prefix('x').and_then(|n| n.parse::<u8>().ok()) {
        return (n < 32).then_some(n);
    }
    ABI.iter().position(|a| *a == name).map(|n| n as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ways() {
        assert_eq!(abi_name(15), "a5");
        assert_eq!(register_number("a5"), Some(15));
        assert_eq!(register_number("x15"), Some(15));
        assert_eq!(register_number("fp"), Some(8));
        assert_eq!(register_number("s0"), Some(8));
        assert_eq!(register_number("x32"), None);
        assert_eq!(register_number("henvcfg"), None);
    }
}

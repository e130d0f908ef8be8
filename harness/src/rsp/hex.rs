//! Hex helpers: most RSP payloads carry numbers and data as ASCII hex.
//!
//! Addresses and lengths in commands are big-endian hex numbers without
//! leading zeros (`m80000000,800`); register and memory contents are byte
//! strings, two hex digits per byte, in target byte order (little-endian on
//! RISC-V).

/// Lowercase hex of a byte string.
pub(crate) fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// The value of one hex digit (either case).
pub(crate) fn digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes a hex byte string (`"33040500"` -> `[0x33, 4, 5, 0]`).
pub(crate) fn decode(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks_exact(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// Parses a big-endian hex number (at most 16 digits after leading zeros).
pub(crate) fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &b in text {
        let d = digit(b)?;
        value = value.checked_mul(16)?.checked_add(u64::from(d))?;
    }
    Some(value)
}

/// Little-endian bytes (as in a register reply) to a number; `None` past 8 bytes.
pub(crate) fn le_to_u64(bytes: &[u8]) -> Option<u64> {
    if bytes.len() > 8 {
        return None;
    }
    Some(bytes.iter().rev().fold(0u64, |v, &b| v << 8 | u64::from(b)))
}

/// A number as `len` little-endian bytes (truncating).
pub(crate) fn u64_to_le(value: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| if i < 8 { (value >> (8 * i)) as u8 } else { 0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn basics() {
        assert_eq!(encode(&[0x33, 0x04, 0xff]), "3304ff");
        assert_eq!(decode(b"3304FF"), Some(vec![0x33, 4, 0xff]));
        assert_eq!(decode(b"330"), None);
        assert_eq!(decode(b"zz"), None);
        assert_eq!(parse_u64(b"80000000"), Some(0x8000_0000));
        assert_eq!(parse_u64(b"000000000000000000001"), Some(1));
        assert_eq!(parse_u64(b"10000000000000000"), None);
        assert_eq!(parse_u64(b""), None);
        // pc at reset, as QEMU sends it for `p20`.
        assert_eq!(
            le_to_u64(&decode(b"0010000000000000").unwrap()),
            Some(0x1000)
        );
        assert_eq!(u64_to_le(0x1000, 8), decode(b"0010000000000000").unwrap());
    }

    proptest! {
        #[test]
        fn hex_round_trips(data in proptest::collection::vec(any::<u8>(), 0..64), v in any::<u64>()) {
            prop_assert_eq!(decode(encode(&data).as_bytes()), Some(data));
            prop_assert_eq!(parse_u64(format!("{v:x}").as_bytes()), Some(v));
            prop_assert_eq!(le_to_u64(&u64_to_le(v, 8)), Some(v));
        }

        #[test]
        fn never_panics(text in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&text);
            let _ = parse_u64(&text);
            let _ = le_to_u64(&text);
        }
    }
}

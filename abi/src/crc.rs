//! A `const` CRC-32 (IEEE 802.3, the zlib polynomial), so that the layout
//! fingerprint [`crate::LAYOUT_CRC`] is computed by the compiler.
//!
//! Bitwise and slow, which is fine: it only ever runs at compile time or on
//! a few dozen bytes.

/// CRC-32 of `bytes` (same result as zlib's `crc32` / `crc32fast`).
pub const fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    let mut i = 0;
    while i < bytes.len() {
        crc = step(crc, bytes[i]);
        i += 1;
    }
    !crc
}

/// CRC-32 of `words`, each taken as four little-endian bytes.
pub const fn crc32_words(words: &[u32]) -> u32 {
    let mut crc = !0u32;
    let mut i = 0;
    while i < words.len() {
        let b = words[i].to_le_bytes();
        let mut j = 0;
        while j < 4 {
            crc = step(crc, b[j]);
            j += 1;
        }
        i += 1;
    }
    !crc
}

const fn step(mut crc: u32, byte: u8) -> u32 {
    crc ^= byte as u32;
    let mut k = 0;
    while k < 8 {
        let mask = (crc & 1).wrapping_neg();
        crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        k += 1;
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_crc32fast() {
        let data = b"The quick brown fox jumps over the lazy dog";
        assert_eq!(crc32(data), crc32fast::hash(data));
        assert_eq!(crc32(b""), crc32fast::hash(b""));
        let words = [1u32, 0xdead_beef, 42];
        let mut bytes = [0u8; 12];
        for (i, w) in words.iter().enumerate() {
            bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
        }
        assert_eq!(crc32_words(&words), crc32fast::hash(&bytes));
    }
}

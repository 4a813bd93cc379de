//! The layout of one thread's TLS block on x86_64 (TLS variant II), as
//! the Solo5 TLS API hands it out: pure arithmetic, tested on the host.
//!
//! ```text
//! tls                                     (the caller's area, any alignment)
//!   [slack < tp_align]
//! data = tp - block_len                   .tdata copy, then .tbss zeroes,
//!                                         then padding up to tp
//! tp   (aligned to max(p_align, 8))       one word holding tp itself
//! tp + 8 <= tls + size
//! ```
//!
//! The compiler addresses a thread variable at `%fs:-(block_len - off)`,
//! where `off` is its offset in the `PT_TLS` segment and `block_len` is the
//! segment's memory size rounded up to its alignment; the word at `%fs:0`
//! holds the thread pointer itself (the x86_64 psABI's TCB header). Solo5
//! puts the thread pointer right after `.tdata` + `.tbss` of a linker
//! script that aligns them; here the template comes from a plain
//! static-pie link, so the thread pointer is rounded up to the segment's
//! alignment and [`TlsTemplate::size`] includes room for that rounding.

/// The TLS template of the program: its `PT_TLS` program header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsTemplate {
    /// Address of the initial `.tdata` image (0 when there is none).
    pub image: usize,
    /// Bytes of `.tdata` (`p_filesz`).
    pub filesz: usize,
    /// Bytes of `.tdata` + `.tbss` (`p_memsz`).
    pub memsz: usize,
    /// Alignment of the block (`p_align`; 0 and 1 mean none).
    pub align: usize,
}

/// Size of the word at the thread pointer (the TCB header).
const TCB: usize = 8;

impl TlsTemplate {
    /// Distance from the start of the data to the thread pointer.
    pub fn block_len(&self) -> usize {
        self.memsz.next_multiple_of(self.align.max(1))
    }

    /// Alignment of the thread pointer.
    fn tp_align(&self) -> usize {
        self.align.max(TCB)
    }

    /// Bytes a caller must provide for one block (`solo5_tls_size`).
    pub fn size(&self) -> usize {
        self.tp_align() - 1 + self.block_len() + TCB
    }

    /// The thread pointer of the block at `tls` (`solo5_tls_tp_offset`),
    /// or `None` if the block would wrap around the address space.
    pub fn tp(&self, tls: usize) -> Option<usize> {
        tls.checked_add(self.block_len())?.checked_next_multiple_of(self.tp_align())
    }

    /// Start of the data of the block at `tls`.
    pub fn data(&self, tls: usize) -> Option<usize> {
        Some(self.tp(tls)? - self.block_len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_fits_the_callers_area_whatever_its_alignment() {
        let templates = [
            TlsTemplate { image: 0, filesz: 0, memsz: 0, align: 0 },
            TlsTemplate { image: 0, filesz: 8, memsz: 8, align: 8 },
            TlsTemplate { image: 0, filesz: 5, memsz: 13, align: 4 },
            TlsTemplate { image: 0, filesz: 100, memsz: 300, align: 64 },
            TlsTemplate { image: 0, filesz: 0, memsz: 4096, align: 4096 },
        ];
        for t in templates {
            for tls in [0x1000usize, 0x1001, 0x1003, 0x1008, 0x103f, 0x7fff_f000] {
                let tp = t.tp(tls).unwrap();
                let data = t.data(tls).unwrap();
                assert!(data >= tls, "{t:?} at {tls:#x}");
                assert!(tp + TCB <= tls + t.size(), "{t:?} at {tls:#x}");
                assert_eq!(tp % t.align.max(8), 0, "{t:?} at {tls:#x}");
                assert_eq!(tp - data, t.block_len());
                assert!(t.block_len() >= t.memsz);
            }
        }
    }

    #[test]
    fn no_tls_is_just_the_tcb_word() {
        let t = TlsTemplate::default();
        assert_eq!(t.block_len(), 0);
        assert_eq!(t.tp(0x2000), Some(0x2000));
        assert_eq!(t.size(), 15);
    }

    #[test]
    fn wrapping_blocks_are_refused() {
        let t = TlsTemplate { image: 0, filesz: 8, memsz: 64, align: 16 };
        assert_eq!(t.tp(usize::MAX - 8), None);
        assert_eq!(t.data(usize::MAX - 8), None);
    }
}

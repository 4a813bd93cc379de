//! `nabla-cpio OUT ENTRY...`: writes a newc ("070701") cpio archive, the
//! format of a Linux initramfs, gzip-compressed when OUT ends in `.gz`.
//!
//! Each ENTRY is one of
//! - `file:/path/in/archive:HOSTFILE:MODE` (the host file's bytes),
//! - `dir:/path:MODE`,
//! - `char:/path:MODE:MAJOR:MINOR` (a character device node),
//!
//! with MODE in octal (permission bits only, at most 07777) and MAJOR and
//! MINOR in decimal. Entries are written in the order given, so a directory
//! must come before what it holds; that, and unique names, are checked.
//!
//! Design: every entry gets uid/gid 0, mtime 0, sequential inode numbers
//! from 1, nlink 1 (2 for a directory) and its name without the leading
//! slash; the archive ends with the "TRAILER!!!" entry. In newc each header
//! (110 bytes) plus the NUL-terminated name is padded to a multiple of 4
//! bytes, and so is each file's data. Identical inputs give identical
//! bytes. Bad input is reported on one line with exit code 1.
//!
//! Limits: the whole archive is built in memory (an initramfs is small);
//! no hard links, symlinks or block devices; a file must be under 4 GiB
//! (newc's size field is 32 bits). The gzip output holds "stored" deflate
//! blocks (no compression, at most 65535 bytes each) in a valid gzip member
//! with its CRC-32 and length, which is all the kernel's unpacker needs;
//! it saves no space, so use plain cpio when size matters.

use std::collections::HashSet;

const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFCHR: u32 = 0o020_000;
const TRAILER: &str = "TRAILER!!!";

/// One archive member, as parsed from the command line.
#[derive(Debug, PartialEq)]
enum Entry {
    File { name: String, host: String, mode: u32 },
    Dir { name: String, mode: u32 },
    Char { name: String, mode: u32, major: u32, minor: u32 },
}

impl Entry {
    fn name(&self) -> &str {
        match self {
            Entry::File { name, .. } | Entry::Dir { name, .. } | Entry::Char { name, .. } => name,
        }
    }
}

/// The archive path without its leading slashes; refuses empty names,
/// `.`/`..`/empty components and NUL bytes.
fn archive_name(path: &str) -> Result<String, String> {
    let name = path.trim_start_matches('/');
    if name.is_empty() {
        return Err(format!("empty archive path {path:?}"));
    }
    if name.contains('\0') {
        return Err(format!("archive path {path:?} contains a NUL byte"));
    }
    if name.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(format!("archive path {path:?} has an empty, \".\" or \"..\" component"));
    }
    Ok(name.to_string())
}

fn parse_mode(s: &str) -> Result<u32, String> {
    match u32::from_str_radix(s, 8) {
        Ok(m) if m <= 0o7777 && !s.starts_with('+') => Ok(m),
        _ => Err(format!("bad mode {s:?}: want octal permission bits, at most 7777")),
    }
}

fn parse_num(what: &str, s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if !s.starts_with('+') => Ok(n),
        _ => Err(format!("bad {what} {s:?}: want a decimal number")),
    }
}

fn parse_entry(arg: &str) -> Result<Entry, String> {
    let bad = |why: &str| format!("bad entry {arg:?}: {why}");
    let (kind, rest) = arg.split_once(':').ok_or_else(|| bad("want KIND:..."))?;
    match kind {
        "file" => {
            // The host path sits between the archive path and the mode, and
            // may itself contain ':'.
            let (path, rest) = rest.split_once(':').ok_or_else(|| bad("want file:/path:HOSTFILE:MODE"))?;
            let (host, mode) = rest.rsplit_once(':').ok_or_else(|| bad("want file:/path:HOSTFILE:MODE"))?;
            if host.is_empty() {
                return Err(bad("empty HOSTFILE"));
            }
            Ok(Entry::File { name: archive_name(path)?, host: host.to_string(), mode: parse_mode(mode)? })
        }
        "dir" => match rest.split(':').collect::<Vec<_>>()[..] {
            [path, mode] => Ok(Entry::Dir { name: archive_name(path)?, mode: parse_mode(mode)? }),
            _ => Err(bad("want dir:/path:MODE")),
        },
        "char" => match rest.split(':').collect::<Vec<_>>()[..] {
            [path, mode, major, minor] => Ok(Entry::Char {
                name: archive_name(path)?,
                mode: parse_mode(mode)?,
                major: parse_num("major", major)?,
                minor: parse_num("minor", minor)?,
            }),
            _ => Err(bad("want char:/path:MODE:MAJOR:MINOR")),
        },
        _ => Err(bad("KIND must be file, dir or char")),
    }
}

/// Checks that names are unique and that each entry's parent directory
/// (other than the root) came earlier as a `dir` entry.
fn check_tree(entries: &[Entry]) -> Result<(), String> {
    let mut seen = HashSet::new();
    let mut dirs = HashSet::new();
    for e in entries {
        let name = e.name();
        if let Some((parent, _)) = name.rsplit_once('/')
            && !dirs.contains(parent)
        {
            return Err(format!("/{name}: its directory /{parent} is not an earlier dir entry"));
        }
        if !seen.insert(name) {
            return Err(format!("/{name} appears twice"));
        }
        if let Entry::Dir { .. } = e {
            dirs.insert(name);
        }
    }
    Ok(())
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// Appends one newc member: header, NUL-terminated name, data, each padded
/// to 4 bytes (the archive so far is always a multiple of 4 long).
fn push_member(out: &mut Vec<u8>, ino: u32, mode: u32, nlink: u32, rdev: (u32, u32), name: &str, data: &[u8]) {
    let size = u32::try_from(data.len()).expect("file size checked by the caller");
    let namesize = u32::try_from(name.len() + 1).expect("a name fits in 32 bits");
    // magic, then ino mode uid gid nlink mtime filesize devmajor devminor
    // rdevmajor rdevminor namesize check, each as 8 hex digits.
    let fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev.0, rdev.1, namesize, 0];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

/// Builds the archive; `read` returns a host file's contents.
fn build_archive(entries: &[Entry], read: &dyn Fn(&str) -> Result<Vec<u8>, String>) -> Result<Vec<u8>, String> {
    check_tree(entries)?;
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let ino = u32::try_from(i + 1).map_err(|_| "too many entries".to_string())?;
        match e {
            Entry::File { name, host, mode } => {
                let data = read(host)?;
                if u32::try_from(data.len()).is_err() {
                    return Err(format!("{host}: {} bytes is too big for a newc archive (4 GiB max)", data.len()));
                }
                push_member(&mut out, ino, S_IFREG | mode, 1, (0, 0), name, &data);
            }
            Entry::Dir { name, mode } => push_member(&mut out, ino, S_IFDIR | mode, 2, (0, 0), name, &[]),
            Entry::Char { name, mode, major, minor } => {
                push_member(&mut out, ino, S_IFCHR | mode, 1, (*major, *minor), name, &[])
            }
        }
    }
    push_member(&mut out, 0, 0, 1, (0, 0), TRAILER, &[]);
    Ok(out)
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as gzip uses it.
fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut c = !0u32;
    for &b in data {
        c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// A gzip member (RFC 1952) holding `data` in stored deflate blocks (RFC
/// 1951, BTYPE 00). Every block starts on a byte boundary, so its 3 header
/// bits take a whole byte: 1 for the final block, else 0.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    // ID1 ID2, CM=8 (deflate), FLG=0, MTIME=0, XFL=0, OS=3 (Unix).
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    let mut blocks = data.chunks(0xffff).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let len = u16::try_from(block.len()).expect("chunks of at most 0xffff bytes");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    // ISIZE is the input length modulo 2^32.
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn run(args: &[String]) -> Result<(), String> {
    let [out_path, entry_args @ ..] = args else {
        return Err("usage: nabla-cpio OUT ENTRY... (file:/PATH:HOSTFILE:MODE, dir:/PATH:MODE, \
                    char:/PATH:MODE:MAJOR:MINOR)"
            .to_string());
    };
    if entry_args.is_empty() {
        return Err("no entries given".to_string());
    }
    let entries = entry_args.iter().map(|a| parse_entry(a)).collect::<Result<Vec<_>, _>>()?;
    let read = |host: &str| std::fs::read(host).map_err(|e| format!("{host}: {e}"));
    let archive = build_archive(&entries, &read)?;
    let bytes = if out_path.ends_with(".gz") { gzip_stored(&archive) } else { archive };
    std::fs::write(out_path, bytes).map_err(|e| format!("{out_path}: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("nabla-cpio: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "070701" and 13 fields of 8 hex digits.
    const HEADER_LEN: usize = 110;

    fn no_files(host: &str) -> Result<Vec<u8>, String> {
        Err(format!("unexpected read of {host}"))
    }

    fn field(header: &[u8], i: usize) -> u32 {
        let s = std::str::from_utf8(&header[6 + 8 * i..14 + 8 * i]).expect("ascii");
        u32::from_str_radix(s, 16).expect("hex")
    }

    /// Walks a newc archive: (name, mode, nlink, rdevmajor, rdevminor, data), trailer excluded.
    fn parse(mut a: &[u8]) -> Vec<(String, u32, u32, u32, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            assert_eq!(offset % 4, 0);
            assert_eq!(&a[..6], b"070701");
            let namesize = field(a, 11) as usize;
            let size = field(a, 6) as usize;
            let name = std::str::from_utf8(&a[HEADER_LEN..HEADER_LEN + namesize - 1]).expect("utf8").to_string();
            assert_eq!(a[HEADER_LEN + namesize - 1], 0);
            let data_at = (HEADER_LEN + namesize).next_multiple_of(4);
            let next = (data_at + size).next_multiple_of(4);
            assert!(a[HEADER_LEN + namesize..data_at].iter().all(|&b| b == 0), "name padding is zeros");
            assert!(a[data_at + size..next].iter().all(|&b| b == 0), "data padding is zeros");
            if name == TRAILER {
                assert_eq!(next, a.len(), "nothing after the trailer");
                return out;
            }
            out.push((name, field(a, 1), field(a, 4), field(a, 9), field(a, 10), a[data_at..data_at + size].to_vec()));
            a = &a[next..];
            offset += next;
        }
    }

    #[test]
    fn header_layout_is_exact() {
        let mut out = Vec::new();
        push_member(&mut out, 7, S_IFCHR | 0o600, 1, (5, 1), "dev/console", &[]);
        let want = "070701\
                    00000007000021800000000000000000000000010000000000000000\
                    00000000000000000000000500000001\
                    0000000C00000000dev/console\0";
        assert_eq!(std::str::from_utf8(&out[..HEADER_LEN + 12]).expect("ascii"), want);
        // 110 + 12 = 122 bytes, padded to 124.
        assert_eq!(out.len(), 124);
        assert_eq!(&out[122..], &[0, 0]);
    }

    #[test]
    fn name_and_data_padding() {
        // Header plus NUL-terminated name: 110 + len + 1, rounded up to 4.
        for (name, header_and_name) in [("a", 112), ("ab", 116), ("abc", 116), ("abcd", 116), ("abcde", 116)] {
            for (len, padded) in [(0, 0), (1, 4), (3, 4), (4, 4), (5, 8)] {
                let mut out = Vec::new();
                push_member(&mut out, 1, S_IFREG | 0o644, 1, (0, 0), name, &vec![0xaa; len]);
                assert_eq!(out.len(), header_and_name + padded, "name {name:?}, {len} data bytes");
                assert_eq!(&out[header_and_name..header_and_name + len], &vec![0xaa; len][..]);
            }
        }
    }

    #[test]
    fn archive_round_trip() {
        let entries: Vec<Entry> =
            ["dir:/dev:755", "char:/dev/console:600:5:1", "file:/init:HOST:755", "dir:/proc:0755"]
                .iter()
                .map(|a| parse_entry(a).expect("valid entry"))
                .collect();
        let read = |host: &str| if host == "HOST" { Ok(b"hello\x00world".to_vec()) } else { no_files(host) };
        let a = build_archive(&entries, &read).expect("archive");
        let members = parse(&a);
        let want = vec![
            ("dev".to_string(), S_IFDIR | 0o755, 2, 0, 0, vec![]),
            ("dev/console".to_string(), S_IFCHR | 0o600, 1, 5, 1, vec![]),
            ("init".to_string(), S_IFREG | 0o755, 1, 0, 0, b"hello\x00world".to_vec()),
            ("proc".to_string(), S_IFDIR | 0o755, 2, 0, 0, vec![]),
        ];
        assert_eq!(members, want);
        // Sequential inode numbers from 1; uid, gid, mtime are 0.
        let second = (HEADER_LEN + 4).next_multiple_of(4);
        assert_eq!(field(&a, 0), 1);
        assert_eq!(field(&a[second..], 0), 2);
        for i in [2, 3, 5] {
            assert_eq!(field(&a, i), 0);
        }
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in [
            "",
            "file:/init:host",
            "file:/init::755",
            "dir:/x",
            "dir:/x:755:1",
            "dir:/x:999",
            "dir:/x:17777",
            "dir:/x:+7",
            "dir:/:755",
            "dir:/a/../b:755",
            "dir:/a//b:755",
            "char:/c:600:5",
            "char:/c:600:x:1",
            "link:/x:755",
        ] {
            assert!(parse_entry(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_entry("file:/bin/x:/host/a:b:644"),
            Ok(Entry::File { name: "bin/x".into(), host: "/host/a:b".into(), mode: 0o644 })
        );
    }

    #[test]
    fn tree_order_and_duplicates_are_checked() {
        let parse_all = |args: &[&str]| args.iter().map(|a| parse_entry(a).expect("valid")).collect::<Vec<_>>();
        assert!(build_archive(&parse_all(&["char:/dev/console:600:5:1"]), &no_files).is_err());
        assert!(build_archive(&parse_all(&["dir:/a:755", "dir:/a:700"]), &no_files).is_err());
        assert!(build_archive(&parse_all(&["char:/a:600:1:3", "char:/a/b:600:1:3"]), &no_files).is_err());
        assert!(build_archive(&parse_all(&["dir:/a:755", "dir:/a/b:755", "dir:/a/b/c:755"]), &no_files).is_ok());
        assert!(build_archive(&parse_all(&["file:/x:missing:644"]), &no_files).is_err());
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    /// Undoes `gzip_stored`, checking every field on the way.
    fn gunzip_stored(g: &[u8]) -> Vec<u8> {
        assert_eq!(&g[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
        let mut at = 10;
        let mut data = Vec::new();
        loop {
            let last = g[at];
            assert!(last <= 1, "stored block header");
            let len = u16::from_le_bytes([g[at + 1], g[at + 2]]);
            assert_eq!(!len, u16::from_le_bytes([g[at + 3], g[at + 4]]));
            data.extend_from_slice(&g[at + 5..at + 5 + len as usize]);
            at += 5 + len as usize;
            if last == 1 {
                break;
            }
        }
        assert_eq!(g[at..at + 4], crc32(&data).to_le_bytes());
        assert_eq!(g[at + 4..at + 8], (data.len() as u32).to_le_bytes());
        assert_eq!(at + 8, g.len());
        data
    }

    #[test]
    fn gzip_stored_round_trips() {
        for len in [0usize, 1, 0xfffe, 0xffff, 0x10000, 3 * 0xffff + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
            let g = gzip_stored(&data);
            assert_eq!(gunzip_stored(&g), data, "{len} bytes");
            assert_eq!(g.len(), 18 + 5 * len.div_ceil(0xffff).max(1) + len);
        }
    }
}

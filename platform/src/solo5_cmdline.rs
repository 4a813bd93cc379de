//! Solo5's own options at the start of a unikernel's command line:
//! `--solo5:quiet` (no banner) and `--solo5:debug` (the banner and a few
//! lines about the heap and the devices). They are consumed here; the
//! application sees the rest of the line.
//!
//! As in Solo5: blanks before and between the options are skipped, each
//! option must end at a blank or at the end of the line, the last one wins,
//! and the first word that is not one of them (even another `--solo5:`
//! word) starts the application's command line.

/// How much the platform says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// Nothing (`--solo5:quiet`).
    Quiet,
    /// The banner (the default).
    Info,
    /// The banner and debug lines (`--solo5:debug`).
    Debug,
}

const OPTIONS: [(&[u8], LogLevel); 2] = [(b"--solo5:quiet", LogLevel::Quiet), (b"--solo5:debug", LogLevel::Debug)];

fn blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// The log level the leading options ask for, and the offset in `cmdline`
/// where the application's command line starts.
pub fn parse(cmdline: &[u8]) -> (LogLevel, usize) {
    let skip = |mut at: usize| {
        while at < cmdline.len() && blank(cmdline[at]) {
            at += 1;
        }
        at
    };
    let mut level = LogLevel::Info;
    let mut at = skip(0);
    'words: while at < cmdline.len() {
        let rest = &cmdline[at..];
        for (word, l) in OPTIONS {
            if rest.starts_with(word) && rest.get(word.len()).is_none_or(|&b| blank(b)) {
                level = l;
                at = skip(at + word.len());
                continue 'words;
            }
        }
        break;
    }
    (level, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(cmdline: &str) -> (LogLevel, &str) {
        let (level, at) = parse(cmdline.as_bytes());
        (level, &cmdline[at..])
    }

    #[test]
    fn options_are_consumed() {
        assert_eq!(app(""), (LogLevel::Info, ""));
        assert_eq!(app("a b"), (LogLevel::Info, "a b"));
        assert_eq!(app("  a b"), (LogLevel::Info, "a b"));
        assert_eq!(app("--solo5:quiet"), (LogLevel::Quiet, ""));
        assert_eq!(app("--solo5:quiet a b"), (LogLevel::Quiet, "a b"));
        assert_eq!(app(" --solo5:debug\t a"), (LogLevel::Debug, "a"));
        assert_eq!(app("--solo5:debug --solo5:quiet x"), (LogLevel::Quiet, "x"));
        assert_eq!(app("--solo5:quiet --solo5:debug"), (LogLevel::Debug, ""));
    }

    #[test]
    fn other_words_end_the_options() {
        assert_eq!(app("--solo5:quietly"), (LogLevel::Info, "--solo5:quietly"));
        assert_eq!(app("--solo5:other --solo5:quiet"), (LogLevel::Info, "--solo5:other --solo5:quiet"));
        assert_eq!(app("x --solo5:quiet"), (LogLevel::Info, "x --solo5:quiet"));
        assert_eq!(app("--solo5:debug -- --solo5:quiet"), (LogLevel::Debug, "-- --solo5:quiet"));
    }
}

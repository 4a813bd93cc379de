//! `--log FILE` and `--log-format text|json`: where the runtime says what
//! went wrong. containerd's shim reads the last `"level":"error"` line of
//! a JSON log to report why a command failed, so every error goes there
//! (as `{"level","msg","time"}`, one object a line) and to stderr; with
//! `--debug`, progress lines too (`"level":"debug"`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// The log.
pub struct Log {
    file: Option<File>,
    json: bool,
    debug: bool,
}

impl Log {
    /// Open `path` for appending (no log if it cannot be opened).
    pub fn open(path: Option<&Path>, format: Option<&str>, debug: bool) -> Log {
        let file = path.and_then(|p| OpenOptions::new().create(true).append(true).open(p).ok());
        Log { file, json: format == Some("json"), debug }
    }

    fn write(&mut self, level: &str, msg: &str) {
        let Some(f) = &mut self.file else { return };
        let time = crate::state::rfc3339_now();
        let line = if self.json {
            serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
        } else {
            format!("time=\"{time}\" level={level} msg={msg:?}")
        };
        let _ = writeln!(f, "{line}");
    }

    /// An error: in the log and on stderr.
    pub fn error(&mut self, msg: &str) {
        self.write("error", msg);
        eprintln!("nabla-runtime: {msg}");
    }

    /// A warning: in the log only.
    pub fn warn(&mut self, msg: &str) {
        self.write("warning", msg);
    }

    /// A progress line, with `--debug`.
    pub fn debug(&mut self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_have_level_msg_time() {
        let p = std::env::temp_dir().join(format!("nabla-log-{}.json", std::process::id()));
        let mut l = Log::open(Some(&p), Some("json"), false);
        l.debug("hidden");
        l.write("error", "bad \"thing\"");
        let text = std::fs::read_to_string(&p).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "bad \"thing\"");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        std::fs::remove_file(&p).unwrap();
    }
}

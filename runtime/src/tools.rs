//! The host tools the runtime runs (`ip`, `tc`, `mke2fs`, `cp`), found in
//! the usual system directories first, since the runtime inherits the
//! environment of whoever runs it (a shim's `PATH` may lack `/usr/sbin`).

use std::path::PathBuf;
use std::process::Command;

/// Directories searched before `PATH`.
const DIRS: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// A command for tool `name`.
pub fn command(name: &str) -> Command {
    let path = DIRS.iter().map(|d| PathBuf::from(d).join(name)).find(|p| p.is_file()).unwrap_or_else(|| name.into());
    Command::new(path)
}

/// Run tool `name` with `args`; its stdout, or its stderr's first line as
/// the error.
pub fn run(name: &str, args: &[&str]) -> Result<String, String> {
    let out = command(name).args(args).output().map_err(|e| format!("{name}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!("{name} {}: {}", args.join(" "), err.lines().next().unwrap_or("failed")))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_and_reports() {
        assert_eq!(super::run("sh", &["-c", "echo hi"]).unwrap(), "hi\n");
        let e = super::run("sh", &["-c", "echo bad >&2; exit 1"]).unwrap_err();
        assert_eq!(e, "sh -c echo bad >&2; exit 1: bad");
    }
}

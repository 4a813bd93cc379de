//! The command line: runc's, through `liboci-cli`'s clap structs (the
//! subcommands and the global `--root`, `--log`, `--log-format`,
//! `--debug`, `--systemd-cgroup`), plus runc's other global flags,
//! accepted and ignored.

use clap::{Parser, Subcommand};
use liboci_cli::{CommonCmd, GlobalOpts, StandardCmd};
use std::path::PathBuf;

/// Where container state lives without `--root`.
pub const DEFAULT_ROOT: &str = "/run/nabla-runtime";

/// The text after `--help`.
pub const AFTER_HELP: &str = "\
Each container is a Nabla Linux guest: one nabla-tender process (the pid in --pid-file), its root disk an \
ext4 image of the bundle's rootfs. nabla-tender, linux.nabla and nabla-init are taken from this executable's \
directory (or $NABLA_TENDER, $NABLA_KERNEL, $NABLA_INIT).

Exit status: 0 success; 1 the command failed (one line on stderr and, with --log, in the log); 2 bad usage.";

/// `nabla-runtime [GLOBAL] COMMAND`.
#[derive(Parser, Debug)]
#[command(name = "nabla-runtime", version, about = "An OCI runtime (runc's command line) running each container as a Nabla Linux guest", after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    /// Accepted and ignored (runc's rootless mode).
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Accepted and ignored (runc's CRIU path).
    #[arg(long, hide = true)]
    pub criu: Option<String>,
    /// Accepted and ignored (runc's log level).
    #[arg(long, hide = true)]
    pub log_level: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    #[command(flatten)]
    Standard(Box<StandardCmd>),
    #[command(flatten)]
    Common(Box<CommonCmd>),
}

impl Cli {
    /// The state root.
    pub fn root(&self) -> PathBuf {
        self.global.root.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerd_command_lines_parse() {
        let c = Cli::try_parse_from([
            "nabla-runtime",
            "--root",
            "/run/r",
            "--log",
            "/tmp/l.json",
            "--log-format",
            "json",
            "--systemd-cgroup",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/b/pid",
            "--console-socket",
            "/s.sock",
            "id1",
        ])
        .unwrap();
        assert_eq!(c.root(), PathBuf::from("/run/r"));
        assert_eq!(c.global.log_format.as_deref(), Some("json"));
        let Command::Standard(s) = c.command else { panic!() };
        let StandardCmd::Create(cr) = *s else { panic!() };
        assert_eq!(cr.container_id, "id1");
        assert_eq!(cr.pid_file, Some(PathBuf::from("/b/pid")));
        let c = Cli::try_parse_from(["nabla-runtime", "kill", "--all", "id1", "SIGTERM"]).unwrap();
        assert!(matches!(c.command, Command::Standard(_)));
        let c = Cli::try_parse_from(["nabla-runtime", "--rootless", "false", "delete", "--force", "id1"]).unwrap();
        assert_eq!(c.root(), PathBuf::from(DEFAULT_ROOT));
    }
}

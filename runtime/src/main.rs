//! `nabla-runtime`: an OCI runtime with runc's command line, so that
//! containerd's `io.containerd.runc.v2` shim (and anything else that
//! drives runc) runs each container as a Nabla Linux guest: one
//! `nabla-tender` process, sandboxed by seccomp, whose exit status is the
//! container's.
//!
//! Commands (runc's): `create --bundle DIR [--pid-file FILE]
//! [--console-socket SOCK] ID` (`--no-pivot`, `--no-new-keyring` and
//! `--preserve-fds` accepted, ignored), `start ID`, `state ID`, `kill ID
//! [SIGNAL]` (`--all` the same), `delete [--force] ID`, `features`,
//! `--version`. Global flags: `--root DIR` (default
//! `/run/nabla-runtime`), `--log FILE`, `--log-format text|json`,
//! `--debug`; `--systemd-cgroup`, `--rootless`, `--criu` and `--log-level`
//! are accepted and ignored. The other runc commands (`exec`, `pause`,
//! `resume`, `update`, `ps`, `events`, `checkpoint`, `list`, `run`,
//! `spec`) fail with "not supported".
//!
//! Exit status: 0 success; 1 failure, with one line on stderr and (with
//! `--log`) an `error` line in the log; 2 bad usage (clap's message).
//!
//! How a bundle becomes a guest: `spec` (config.json), `entry` (the
//! entrypoint check), `disk` (the root disk and its cache), `net` (the
//! tap in the network namespace), `console` (the pty), `create` (the
//! container's process), `state` (the state directory), `ops` (the other
//! commands).
//!
//! Not supported (ignored unless said): hooks; `process.capabilities`,
//! `noNewPrivileges`, AppArmor, SELinux, seccomp, `oomScoreAdj`,
//! `ioPriority`, `scheduler`, `consoleSize`; cgroups and every
//! `linux.resources` entry but `memory.limit` (cgroup mounts are
//! skipped); namespaces other than network (the guest is its own
//! kernel), uid/gid mappings, `maskedPaths`, `readonlyPaths`, devices;
//! bind mounts other than `/etc/hosts`, `/etc/resolv.conf` and
//! `/etc/hostname` (refused); `exec` into a running container, pause,
//! resume, update, checkpoint; IPv6 in the network namespace.

mod cli;
mod console;
mod create;
mod disk;
mod entry;
mod log;
mod net;
mod ops;
mod spec;
mod state;
mod tools;

use clap::Parser;
use cli::{Cli, Command};
use liboci_cli::{CommonCmd, StandardCmd};

/// Run the command; the message of its failure.
fn run(cli: &Cli, log: &mut log::Log) -> Result<(), String> {
    let root = cli.root();
    let err = |e: &dyn std::fmt::Display| e.to_string();
    match &cli.command {
        Command::Standard(cmd) => match cmd.as_ref() {
            StandardCmd::Create(c) => {
                let args = create::Args {
                    root: &root,
                    id: &c.container_id,
                    bundle: &c.bundle,
                    pid_file: c.pid_file.as_deref(),
                    console_socket: c.console_socket.as_deref(),
                };
                create::create(&args, &mut |m| log.debug(m)).map_err(|e| err(&e))
            }
            StandardCmd::Start(s) => ops::start(&root, &s.container_id).map_err(|e| err(&e)),
            StandardCmd::State(s) => {
                println!("{}", ops::state(&root, &s.container_id).map_err(|e| err(&e))?);
                Ok(())
            }
            StandardCmd::Kill(k) => ops::kill(&root, &k.container_id, &k.signal).map_err(|e| err(&e)),
            StandardCmd::Delete(d) => {
                for w in ops::delete(&root, &d.container_id, d.force).map_err(|e| err(&e))? {
                    log.warn(&format!("delete {}: network namespace not restored: {w}", d.container_id));
                }
                Ok(())
            }
        },
        Command::Common(cmd) => match cmd.as_ref() {
            CommonCmd::Features(_) => {
                println!("{}", ops::features());
                Ok(())
            }
            other => {
                let name = format!("{other:?}");
                let name = name.split(['(', ' ', '{']).next().unwrap_or("this command").to_lowercase();
                Err(format!("{name} is not supported by nabla-runtime"))
            }
        },
    }
}

fn main() {
    let cli = Cli::parse();
    let mut log = log::Log::open(cli.global.log.as_deref(), cli.global.log_format.as_deref(), cli.global.debug);
    log.debug(&format!("{:?}", std::env::args().collect::<Vec<_>>()));
    if let Err(msg) = run(&cli, &mut log) {
        log.error(&msg);
        std::process::exit(1);
    }
}

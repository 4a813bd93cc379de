//! Tender modules. Each owns its command-line arguments (a clap `Args`
//! struct flattened into the CLI), its set-up (its constructor, run before
//! the sandbox) and the seccomp rules its hypercalls need.
//!
//! | module | arguments | host resources |
//! |---|---|---|
//! | `core` | `--mem`, `--quiet` | guest memory, epoll fd, clocks, exit, signals, TLS |
//! | `console` | — | stdout (output), stdin (input device) |

pub mod console;
pub mod core;

use crate::sandbox::Rules;

/// What every tender module provides once set up.
pub trait Module {
    /// Short name, for messages and the README's syscall table.
    fn name(&self) -> &'static str;
    /// Allow exactly the host syscalls this module's hypercalls need, each
    /// pinned to its own file descriptors and argument ranges.
    fn rules(&self, rules: &mut Rules);
}

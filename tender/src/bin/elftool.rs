//! `nabla-elftool`: inspect Nabla guest images.
//!
//! `nabla-elftool query-abi KERNEL` prints the guest's ABI note and whether
//! this build of the tender accepts it (exit 0 if it does, 1 if not).

use clap::{Parser, Subcommand};
use nabla_tender::{elf, exit};
use std::path::PathBuf;

/// Inspect Nabla guest images.
#[derive(Debug, Parser)]
#[command(name = "nabla-elftool", version = nabla_tender::VERSION)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Print the ABI note of KERNEL
    QueryAbi {
        /// The guest image
        kernel: PathBuf,
    },
}

fn main() {
    let cli = Cli::try_parse().unwrap_or_else(|e| {
        let code = if e.use_stderr() { exit::USAGE } else { 0 };
        let _ = e.print();
        std::process::exit(code)
    });
    match cli.cmd {
        Cmd::QueryAbi { kernel } => {
            let name = kernel.display();
            let result = std::fs::read(&kernel)
                .map_err(|e| e.to_string())
                .and_then(|data| elf::abi_note(&data).map_err(|e| e.to_string()));
            match result {
                Ok(abi) => {
                    println!("abi_version: {}", abi.abi_version);
                    println!("layout_crc: {:#010x}", abi.layout_crc);
                    match elf::check_abi(&abi) {
                        Ok(()) => println!("accepted: yes"),
                        Err(e) => {
                            println!("accepted: no ({e})");
                            std::process::exit(exit::LOAD_ERROR)
                        }
                    }
                }
                Err(e) => {
                    eprintln!("nabla-elftool: {name}: {e}");
                    std::process::exit(exit::LOAD_ERROR)
                }
            }
        }
    }
}

//! `nabla-elftool`: inspect Nabla guest images.
//!
//! * `query-abi KERNEL`: the guest's ABI note and whether this tender
//!   accepts it (exit 0 if it does, 1 if not);
//! * `query-manifest KERNEL`: the devices the guest declares, as a Solo5
//!   JSON manifest;
//! * `gen-manifest MANIFEST.json OUT.c`: a C source embedding the manifest
//!   note of a Solo5-format manifest, for C unikernels.

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
    /// Print the device manifest of KERNEL as Solo5 JSON
    QueryManifest {
        /// The guest image
        kernel: PathBuf,
    },
    /// Turn a Solo5 JSON manifest into a C source embedding our note
    GenManifest {
        /// The Solo5 manifest (JSON)
        manifest: PathBuf,
        /// The C file to write
        output: PathBuf,
    },
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("nabla-elftool: {msg}");
    std::process::exit(exit::LOAD_ERROR)
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
                Err(e) => fail(format_args!("{name}: {e}")),
            }
        }
        Cmd::QueryManifest { kernel } => {
            let name = kernel.display();
            let data = std::fs::read(&kernel).unwrap_or_else(|e| fail(format_args!("{name}: {e}")));
            let entries = elf::manifest(&data).unwrap_or_else(|e| fail(format_args!("{name}: {e}")));
            let devices: Vec<String> = entries
                .iter()
                .map(|e| {
                    let kind = if e.kind == nabla_abi::DEVICE_BLOCK { "BLOCK_BASIC" } else { "NET_BASIC" };
                    format!("{{\"name\":\"{}\",\"type\":\"{kind}\"}}", elf::entry_name(e).unwrap_or(""))
                })
                .collect();
            println!("{{\"type\":\"solo5.manifest\",\"version\":1,\"devices\":[{}]}}", devices.join(","));
        }
        Cmd::GenManifest { manifest, output } => {
            let name = manifest.display();
            let json = std::fs::read_to_string(&manifest).unwrap_or_else(|e| fail(format_args!("{name}: {e}")));
            let devices = nabla_tender::manifest::parse(&json).unwrap_or_else(|e| fail(format_args!("{name}: {e}")));
            let c = nabla_tender::manifest::to_c(&name.to_string(), &devices);
            std::fs::write(&output, c).unwrap_or_else(|e| fail(format_args!("{}: {e}", output.display())));
        }
    }
}

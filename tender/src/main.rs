//! `nabla-tender [--mem=MiB] [--quiet] [--initrd FILE] [--kernel-log FILE]
//! [--verbose] [--no-syscall-rewrite] [DEVICES] KERNEL [-- ARGS...]`: the binary users
//! run. Parses the command line, sets up every module, loads the
//! guest, installs the sandbox and jumps. See `exit.rs` for exit codes.

#![no_main]

use clap::Parser;
use nabla_abi::note::{GUEST_FLAG_HOST_SIGNALS, GUEST_FLAG_NET_VNET_HDR, GUEST_FLAG_PREEMPT_TICK};
use nabla_tender::memory::FileBytes;
use nabla_tender::modules::Module;
use nabla_tender::modules::block::BlockArgs;
use nabla_tender::modules::console::{Console, ConsoleArgs};
use nabla_tender::modules::core::{Core, CoreArgs, read_initrd};
use nabla_tender::modules::devices::Devices;
use nabla_tender::modules::net::NetArgs;
use nabla_tender::modules::normalize_args;
use nabla_tender::sled::{self, SledArgs};
use nabla_tender::{elf, exit, launch, loader, runtime, sandbox, signals};
use std::path::PathBuf;

/// Run a Nabla guest (a Linux kernel or a unikernel) as one sandboxed process.
#[derive(Debug, Parser)]
#[command(name = "nabla-tender", version = nabla_tender::VERSION, max_term_width = 100)]
#[command(after_help = "Linux: nabla-tender --mem=128 --block DISK.img build/linux.nabla -- [KERNEL ARGS] \
(root on /dev/vda; --initrd INITRAMFS.cpio instead or as well; power-off exits 0, a kernel panic 255, \
reboot(LINUX_REBOOT_CMD_RESTART2, \"N\") with N in 0..=255 exits N). Its /dev/ttyN0 is stdout (and stdin), \
/dev/ttyN1 stderr, its kernel log stdout or the --kernel-log file. SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, \
SIGUSR2 and SIGWINCH go to its init if init handles them, are dropped if it ignores them, and else end the run \
(128+N; SIGWINCH is dropped).\n\n\
Exit codes: the guest's status; 1 bad input; 2 usage; 70 internal error; \
128+N guest fault with signal N (or SIGHUP, SIGINT, SIGQUIT, SIGTERM sent to the tender, for Linux only when its init \
does not handle it; 139 also a double fault); 159 forbidden host syscall; 255 guest abort.")]
struct Cli {
    #[command(flatten)]
    core: CoreArgs,
    #[command(flatten)]
    console: ConsoleArgs,
    #[command(flatten)]
    block: BlockArgs,
    #[command(flatten)]
    net: NetArgs,
    #[command(flatten)]
    sled: SledArgs,
    /// Print the tender's start-up choices on stderr (which clock the
    /// clock hypercalls use, whether syscall rewriting is on)
    #[arg(long)]
    verbose: bool,
    /// The guest: an x86_64 ELF built against nabla-platform
    #[arg(value_name = "KERNEL")]
    kernel: PathBuf,
    /// Guest command line (joined with spaces)
    #[arg(value_name = "ARGS", trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn fail(code: i32, msg: impl std::fmt::Display) -> ! {
    nabla_tender::terminal::restore();
    eprintln!("nabla-tender: {msg}");
    std::process::exit(code)
}

/// The C entry point. `#![no_main]` skips the Rust runtime's start-up
/// (reading `/proc/self/maps` for a stack guard, its own signal stack and
/// handlers, fd checks), which we do not need and which costs about a
/// quarter of the tender's start-up time. `std::env::args` still works:
/// the Rust runtime captures argv from `.init_array` on glibc.
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    run()
}

/// Make sure fds 0, 1 and 2 are open (on /dev/null if they were closed),
/// so that no file the tender opens later (a disk image!) can land on the
/// console's fd numbers and receive console output.
fn standard_fds() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only queries the fd; open on /dev/null returns
        // the lowest free fd, which is `fd` when it was closed.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) < 0 && libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) != fd {
                libc::_exit(exit::INTERNAL);
            }
        }
    }
}

fn run() -> ! {
    standard_fds();
    // First, so that no crash of this process, at any point, leaves a
    // core file holding guest or tender memory.
    sandbox::forbid_core_dumps()
        .unwrap_or_else(|e| fail(exit::INTERNAL, format_args!("cannot forbid core dumps: {e}")));
    // runnc's `nabla-run` command line, translated (see runnc.rs).
    let cli = Cli::try_parse_from(normalize_args(nabla_tender::runnc::command_line())).unwrap_or_else(|e| {
        let code = if e.use_stderr() { exit::USAGE } else { 0 };
        let _ = e.print();
        std::process::exit(code)
    });
    let name = cli.kernel.display();
    let file = FileBytes::open(&cli.kernel).unwrap_or_else(|e| fail(exit::LOAD_ERROR, format_args!("{name}: {e}")));
    let data = file.bytes();
    let image = elf::parse(data).unwrap_or_else(|e| fail(exit::LOAD_ERROR, format_args!("{name}: {e}")));

    let mut core = Core::setup(&cli.core).unwrap_or_else(|e| fail(exit::LOAD_ERROR, e));
    if cli.verbose {
        eprintln!("nabla-tender: {}", nabla_tender::vdso::describe(&core.clock));
    }
    let console = Console::setup(&cli.console, core.epfd).unwrap_or_else(|e| fail(exit::LOAD_ERROR, e));
    let host_signals = (image.flags & GUEST_FLAG_HOST_SIGNALS != 0).then(|| {
        signals::HostSignals::setup(core.epfd)
            .unwrap_or_else(|e| fail(exit::INTERNAL, format_args!("cannot set up host signals: {e}")))
    });
    let vnet_guest = image.flags & GUEST_FLAG_NET_VNET_HDR != 0;
    let devices = Devices::setup(&image.manifest, &cli.block, &cli.net, vnet_guest, core.epfd)
        .unwrap_or_else(|e| fail(exit::LOAD_ERROR, e));
    let mut flags = if cli.core.quiet { nabla_abi::BOOT_FLAG_QUIET } else { 0 };
    if nabla_tender::terminal::stdin_is_tty() {
        flags |= nabla_abi::BOOT_FLAG_CONSOLE_TTY;
    }
    // Mapped before the image is loaded, so that the boot info can say
    // whether it is; the bias is the one the loader will use.
    let sled = sled::setup(&cli.sled, &image, loader::bias(&image, &core.mem.range()));
    if cli.verbose {
        eprintln!("nabla-tender: {}", sled::describe(&sled));
    }
    if sled.is_ok() {
        flags |= nabla_abi::BOOT_FLAG_SYSCALL_SLED;
    }
    let table = &raw const nabla_tender::hypercalls::TABLE as u64;
    let initrd = cli.core.initrd.as_deref().map(|p| read_initrd(p).unwrap_or_else(|e| fail(exit::LOAD_ERROR, e)));
    let cmdline = cli.args.join(" ");
    let params = loader::BootParams {
        cmdline: &cmdline,
        flags,
        hypercalls: table,
        devices: &devices.info,
        initrd: initrd.as_deref(),
        file_fd: file.fd(),
    };
    let entry = loader::load(&mut core.mem, &image, data, &params)
        .unwrap_or_else(|e| fail(exit::LOAD_ERROR, format_args!("{name}: {e}")));

    let guest = core.mem.range();
    let host_code = nabla_tender::host_code();
    sandbox::check_host_code(guest.end, &host_code).unwrap_or_else(|e| fail(exit::INTERNAL, e));
    runtime::install(runtime::Runtime {
        guest: core.mem.guest_range(),
        image: entry.image,
        host_code,
        epfd: core.epfd,
        console_in: console.input,
        console_pollable: console.pollable,
        kernel_log: console.kernel_log,
        fsgsbase: core.fsgsbase,
        devices: {
            let mut all = [runtime::Device::default(); nabla_abi::MAX_DEVICES];
            for (slot, d) in all.iter_mut().zip(&devices.runtime) {
                *slot = *d;
            }
            all
        },
        ndevices: devices.runtime.len(),
    });
    nabla_tender::pkru::init();
    signals::install(host_signals.is_some())
        .unwrap_or_else(|e| fail(exit::INTERNAL, format_args!("cannot install signal handlers: {e}")));
    if image.flags & GUEST_FLAG_PREEMPT_TICK != 0 {
        signals::arm_tick()
            .unwrap_or_else(|e| fail(exit::INTERNAL, format_args!("cannot arm the preemption tick: {e}")));
    }

    // Last change to the host before the sandbox: the console's raw mode.
    nabla_tender::terminal::enter_raw();
    let mut rules = sandbox::Rules::default();
    let (block, net) = (devices.block(), devices.net());
    let modules: [&dyn Module; 4] = [&core, &console, &block, &net];
    for m in modules {
        m.rules(&mut rules);
    }
    if let Some(h) = &host_signals {
        h.rules(&mut rules);
    }
    let prog = sandbox::build(guest.end, &rules).unwrap_or_else(|e| fail(exit::INTERNAL, e));
    let fsgsbase = core.fsgsbase;
    // Guest memory and the sled must outlive everything: the guest never
    // returns.
    std::mem::forget(core);
    std::mem::forget(sled);
    sandbox::install(&prog).unwrap_or_else(|e| fail(exit::INTERNAL, e));
    // SAFETY: `entry` comes from a successful load into guest memory that
    // is never unmapped (forgotten above); runtime state, handlers and the
    // sandbox are all installed; `fsgsbase` was read from AT_HWCAP2.
    unsafe { launch::enter(entry, fsgsbase) }
}

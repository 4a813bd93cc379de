//! The structs shared by tender and guest, with their compile-time layout
//! checks and the [`LAYOUT`] table that feeds the ABI fingerprint.

use core::mem::{offset_of, size_of};
use static_assertions::const_assert_eq;

/// `BootInfo::magic`: the bytes `NABLABI1`.
pub const BOOT_MAGIC: u64 = u64::from_le_bytes(*b"NABLABI1");

/// `BootInfo::flags` bit: the user asked for `--quiet`; the guest should
/// print no banner or informational output of its own.
pub const BOOT_FLAG_QUIET: u32 = 1;
/// `BootInfo::flags` bit: console input is a terminal (the tender put it
/// in raw mode, so line editing, echo and signal keys are the guest's).
/// Without it, input is a pipe, a file or nothing, and output may go to a
/// file: a guest kernel then neither echoes input nor rewrites newlines.
pub const BOOT_FLAG_CONSOLE_TTY: u32 = 2;

/// `BootInfo::flags` bit: the tender mapped the syscall sled at address 0
/// (a guest with a [`crate::note::FastSyscallNote`], `mmap` at 0 allowed,
/// no `--no-syscall-rewrite`), so the guest may rewrite a `syscall`
/// instruction (`0F 05`) of its programs that trapped into `call *%rax`
/// (`FF D0`). Without it the guest must keep using the trap path.
///
/// The sled's contract:
///
/// * `call *%rax` with `rax` in `0..=512` or `518..=4091` reaches the fast
///   syscall entry with `rax` = the number unchanged, every other register
///   and `rflags` as at the call, and `rsp` = the caller's `rsp` - 8,
///   holding the return address. The fast entry itself pops it (into
///   `rcx`, where `syscall` would have put it) and builds `r11` =
///   `rflags`: the sled does neither. (Unlike `syscall`, the call writes
///   the 8 bytes below the caller's `rsp`.)
/// * Every other number below 0x100000 (the first byte of guest memory)
///   faults at its first instruction, with `rip` = the number, every
///   register as at the call and `rsp` as above: SIGSEGV or SIGILL
///   (513..=517, 4092..=4095, and the reserved pages, mapped with no
///   access), except the trampoline page at 0x7000: 0x7000 reaches the
///   entry as above, 0x7001..=0x7004 run the bytes of its jump
///   displacement (which differ with the entry's address), and the rest
///   of that page is `int3` (SIGTRAP, `rip` = the number + 1). The tender
///   forwards these faults, and preemption ticks that interrupt the sled,
///   to the fault entry like those of any program.
/// * A number from 0x100000 up lands in guest memory; a non-canonical one
///   faults (SIGSEGV; `rip` is reported as the number on some CPUs).
///
/// The sled's pages are never writable once the guest runs. A syscall
/// instruction executed below guest memory (there is none in the sled) is
/// trapped and ends the guest as a forbidden host syscall.
pub const BOOT_FLAG_SYSCALL_SLED: u32 = 4;

/// Hypercall result: success.
pub const RESULT_OK: u32 = 0;
/// Hypercall result: try again later (nothing to read yet).
pub const RESULT_AGAIN: u32 = 1;
/// Hypercall result: the guest passed an invalid argument (bad pointer,
/// out-of-range request); nothing was done.
pub const RESULT_EINVAL: u32 = 2;
/// Hypercall result: an unspecified host error.
pub const RESULT_EUNSPEC: u32 = 3;

/// Bit of console input in the ready set of `yield_until` (bits 0..=62
/// are device handles).
pub const CONSOLE_READY: u64 = 1 << 63;

/// Bit of pending host signals in the ready set of `yield_until`, for a
/// guest with [`crate::note::GUEST_FLAG_HOST_SIGNALS`] (which may then
/// declare at most [`MAX_DEVICES_HOST_SIGNALS`] devices, handles 0..=61):
/// set while [`Hypercalls::host_signals_take`] would return a non-empty
/// set. A guest without the flag never sees it (bit 62 is then device
/// handle 62).
pub const HOST_SIGNAL_READY: u64 = 1 << 62;

/// Most devices a guest with [`crate::note::GUEST_FLAG_HOST_SIGNALS`] may
/// declare: bit 62 of the ready set is [`HOST_SIGNAL_READY`].
pub const MAX_DEVICES_HOST_SIGNALS: usize = 62;

/// The host signals the tender hands to a guest with
/// [`crate::note::GUEST_FLAG_HOST_SIGNALS`], as a set of `1 << signo`
/// bits: SIGHUP (1), SIGINT (2), SIGQUIT (3), SIGUSR1 (10), SIGUSR2 (12),
/// SIGTERM (15) and SIGWINCH (28). For such a guest these signals no
/// longer end (or, for SIGWINCH, pass by) the tender: it records them and
/// the guest takes them with [`Hypercalls::host_signals_take`] and decides
/// (the Linux guest sends each to its init, or ends as the tender would
/// have: 128 + the number). SIGKILL still ends the tender at once.
pub const HOST_SIGNALS: u64 = 1 << 1 | 1 << 2 | 1 << 3 | 1 << 10 | 1 << 12 | 1 << 15 | 1 << 28;

/// [`Hypercalls::stream_write`] stream: the tender's standard output
/// (what [`Hypercalls::console_write`] writes).
pub const STREAM_STDOUT: u32 = 1;
/// [`Hypercalls::stream_write`] stream: the tender's standard error.
pub const STREAM_STDERR: u32 = 2;
/// [`Hypercalls::stream_write`] stream: the kernel log: the file of the
/// tender's `--kernel-log`, or standard output without it.
pub const STREAM_KERNEL_LOG: u32 = 3;

/// Largest command line the tender passes, in bytes, without the final NUL.
pub const CMDLINE_MAX: u64 = 4095;

/// What the tender tells the guest at entry. The tender writes it into
/// guest memory and enters the guest with `rdi` pointing at it.
///
/// All addresses are guest addresses (which, in Nabla, are host virtual
/// addresses inside `[mem_start, mem_end)`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BootInfo {
    /// Always [`BOOT_MAGIC`].
    pub magic: u64,
    /// The tender's [`crate::ABI_VERSION`].
    pub abi_version: u32,
    /// `size_of::<BootInfo>()` as the tender knows it (append-only struct).
    pub size: u32,
    /// First byte of guest memory.
    pub mem_start: u64,
    /// One past the last byte of guest memory.
    pub mem_end: u64,
    /// Lowest address of the loaded image (page aligned).
    pub image_start: u64,
    /// One past the highest byte of the loaded image (page aligned); the
    /// heap may start here.
    pub image_end: u64,
    /// Initial stack pointer region top (16-byte aligned); the stack grows
    /// down from here towards `image_end`.
    pub stack_top: u64,
    /// Address of the NUL-terminated command line.
    pub cmdline: u64,
    /// Length of the command line, without the NUL.
    pub cmdline_len: u64,
    /// Address of the [`Hypercalls`] table (in tender memory, read-only).
    pub hypercalls: u64,
    /// Address of the device table: `device_count` [`DeviceInfo`]s.
    pub devices: u64,
    /// Number of entries in the device table.
    pub device_count: u32,
    /// `BOOT_FLAG_*` bits.
    pub flags: u32,
    /// Address of the initial RAM disk, or 0.
    pub initrd_start: u64,
    /// Length of the initial RAM disk in bytes.
    pub initrd_len: u64,
    /// Reserved for future use; zero.
    pub reserved: [u64; 8],
}

/// Where the guest wants its trapped syscalls and faults delivered
/// (argument of [`Hypercalls::set_trap_vector`]).
///
/// * A `syscall` instruction executed in guest memory is trapped by the
///   sandbox and, if `syscall_entry` is non-zero, resumed at `syscall_entry`
///   exactly as the CPU's `syscall` instruction would enter a kernel:
///   `rcx` = the address after the instruction, `r11` = `rflags`, `rax` = the
///   syscall number, argument registers and `rsp` untouched.
/// * A fault (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP) in guest code is, if
///   `fault_entry` is non-zero, described in the [`FaultFrame`] at
///   `fault_frame` and resumed at `fault_entry` as a call
///   `fault_entry(frame)` on the stack `fault_stack_top`. Guests with
///   `GUEST_FLAG_PREEMPT_TICK` also get the preemption tick (SIGVTALRM)
///   there, when it interrupts guest code outside the image.
/// * The frame holds one fault at a time; see [`FaultFrame`] for when the
///   fault entry must release it. A fault while it is held is a double
///   fault and ends the guest (exit 139); a tick while it is held is
///   dropped.
/// * Both entries are resumed in 64-bit mode, with the 64-bit user code
///   and data segments. Guest code interrupted outside 64-bit mode (after
///   a far jump to the 32-bit code segment) arrives at the fault entry as
///   SIGSEGV with `code` 0x80 (`SI_KERNEL`), address 0 and `rip` where it
///   was interrupted, whatever it did there (fault, tick or syscall): the
///   entries cannot return to that mode. So does a 32-bit syscall, as on
///   an x86_64 Linux without IA32 emulation: `int $0x80`, or `syscall` or
///   `sysenter` in 32-bit mode, with `rip` at the instruction, or 0 where
///   the host does not say where it was (its 32-bit fast syscall path:
///   `syscall` on AMD, `sysenter` on Intel). With no fault entry a 32-bit
///   syscall ends the guest as a forbidden host syscall.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapVector {
    /// Syscall entry point, or 0 for "report and end the guest".
    pub syscall_entry: u64,
    /// Fault entry point, or 0 for "report and end the guest".
    pub fault_entry: u64,
    /// Writable guest memory for one [`FaultFrame`].
    pub fault_frame: u64,
    /// Top of a writable stack for the fault entry (16-byte aligned).
    pub fault_stack_top: u64,
}

/// General-purpose registers of the interrupted guest code.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
#[allow(missing_docs)]
pub struct GuestRegs {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub rsp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rflags: u64,
}

/// A guest fault, as handed to the guest's fault entry.
///
/// The frame is in use while `signo` is non-zero. The tender writes a
/// frame only when `signo` is 0, and writes it with `signo` non-zero; the
/// fault entry must write 0 to `signo` once it has copied out what it
/// needs and from then on may take another fault (or tick). Until then
/// any fault is a double fault, even one at the entry's first
/// instruction: the tender reports it in one line and ends the guest with
/// exit code 139, instead of forwarding it over the frame still in use.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FaultFrame {
    /// Host signal number (SIGSEGV 11, SIGBUS 7, SIGFPE 8, SIGILL 4,
    /// SIGTRAP 5, or SIGVTALRM 26 for the preemption tick); non-zero while
    /// the frame is in use, and the fault entry writes 0 here to release it.
    pub signo: u32,
    /// `si_code` of the host signal.
    pub code: i32,
    /// Faulting data address (SIGSEGV/SIGBUS) or instruction address.
    pub addr: u64,
    /// Registers at the fault; resume by restoring them.
    pub regs: GuestRegs,
}

/// The hypercall table: plain function pointers into the tender.
///
/// The guest calls them as ordinary C functions on its own stack; each
/// needs less than [`HYPERCALL_STACK`] bytes of it. Entries are append-only;
/// `count` says how many function pointers follow the header.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Hypercalls {
    /// [`crate::ABI_VERSION`] of the tender.
    pub version: u32,
    /// Number of function pointers in the table.
    pub count: u32,
    /// Write `len` bytes at `buf` to the console. Returns a `RESULT_*`.
    pub console_write: unsafe extern "C" fn(buf: u64, len: u64) -> u32,
    /// Read up to `len` bytes of console input into `buf` without blocking;
    /// stores the count in `*nread`. `RESULT_AGAIN` when none is pending,
    /// `RESULT_OK` with `*nread == 0` at end of input.
    pub console_read: unsafe extern "C" fn(buf: u64, len: u64, nread: u64) -> u32,
    /// Monotonic time in nanoseconds.
    pub clock_monotonic: unsafe extern "C" fn() -> u64,
    /// Wall-clock time in nanoseconds since the Unix epoch.
    pub clock_wall: unsafe extern "C" fn() -> u64,
    /// Block until the monotonic clock reaches `deadline` or a device is
    /// ready; stores the ready set (a bit per device handle) in
    /// `*ready_set` if `ready_set` is non-zero.
    pub yield_until: unsafe extern "C" fn(deadline: u64, ready_set: u64) -> u32,
    /// End the guest with `status` (the tender's exit code, 0..=255).
    pub exit: unsafe extern "C" fn(status: u32) -> !,
    /// End the guest abnormally (exit code 255), printing `msg` if non-empty.
    pub abort: unsafe extern "C" fn(msg: u64, len: u64) -> !,
    /// Set the `%fs` base of the guest (thread-local storage).
    pub set_tls_base: unsafe extern "C" fn(base: u64) -> u32,
    /// Register where trapped syscalls and faults go (see [`TrapVector`]).
    pub set_trap_vector: unsafe extern "C" fn(vector: u64) -> u32,
    /// Read `len` bytes at byte `offset` of block device `handle` into
    /// `buf`. `offset` and `len` must be multiples of the sector size, `len`
    /// at most the device's `max_io`, and the range inside the device;
    /// otherwise `RESULT_EINVAL` and nothing is read.
    pub block_read: unsafe extern "C" fn(handle: u32, offset: u64, buf: u64, len: u64) -> u32,
    /// Write, with the same rules as `block_read`; `RESULT_EINVAL` on a
    /// read-only device.
    pub block_write: unsafe extern "C" fn(handle: u32, offset: u64, buf: u64, len: u64) -> u32,
    /// Make every completed write of block device `handle` durable.
    pub block_flush: unsafe extern "C" fn(handle: u32) -> u32,
    /// Receive one frame from net device `handle` into `buf` (`len` bytes
    /// of room, at least MTU + 14); stores its size in `*nread`.
    /// `RESULT_AGAIN` when no frame is pending.
    pub net_read: unsafe extern "C" fn(handle: u32, buf: u64, len: u64, nread: u64) -> u32,
    /// Send one frame of `len` bytes (at most MTU + 14) on net device `handle`.
    pub net_write: unsafe extern "C" fn(handle: u32, buf: u64, len: u64) -> u32,
    /// Receive one frame from net device `handle` scattered over the
    /// `iovcnt` (1 to [`NET_IOV_MAX`]) [`IoVec`]s at `iov`, whose lengths
    /// add up to at least the device's `max_io`; stores its size in
    /// `*nread`. `RESULT_AGAIN` when no frame is pending. One host `readv`:
    /// a guest kernel receives a 64 KiB segment straight into its pages.
    pub net_readv: unsafe extern "C" fn(handle: u32, iov: u64, iovcnt: u64, nread: u64) -> u32,
    /// Write `len` bytes at `buf` to host stream `stream`
    /// ([`STREAM_STDOUT`], [`STREAM_STDERR`] or [`STREAM_KERNEL_LOG`]);
    /// `RESULT_EINVAL` for any other stream. All of it is written (a
    /// short host write is continued), or `RESULT_EUNSPEC`.
    pub stream_write: unsafe extern "C" fn(stream: u32, buf: u64, len: u64) -> u32,
    /// The host signals received since the last call, as `1 << signo`
    /// bits (a subset of [`HOST_SIGNALS`]), and clear them. Always 0 for a
    /// guest without [`crate::note::GUEST_FLAG_HOST_SIGNALS`]. A signal
    /// received twice before a take is reported once.
    pub host_signals_take: unsafe extern "C" fn() -> u64,
}

/// One piece of guest memory for [`Hypercalls::net_readv`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct IoVec {
    /// Guest address.
    pub base: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Most pieces one `net_readv` takes: a 64 KiB segment and its headers
/// in 4 KiB pages, and room to spare.
pub const NET_IOV_MAX: u64 = 20;

/// `DeviceInfo::kind` of a block device.
pub const DEVICE_BLOCK: u32 = 1;
/// `DeviceInfo::kind` of a network device.
pub const DEVICE_NET: u32 = 2;
/// `DeviceInfo::flags` bit: the block device is attached read-only.
pub const DEVICE_READ_ONLY: u32 = 1;
/// `DeviceInfo::flags` bit: an optional device (see
/// [`crate::note::MANIFEST_OPTIONAL`]) the user did not attach. Only
/// `name` and `kind` are set; every hypercall on its handle returns
/// `RESULT_EINVAL` and its ready bit is never set.
pub const DEVICE_ABSENT: u32 = 2;
/// `DeviceInfo::flags` bit: every frame of this net device, read or
/// written, starts with a 12-byte virtio-net header
/// ([`VNET_HDR_LEN`]); the guest may send and receive segments up to
/// `max_io` bytes with partial checksums (see
/// [`crate::note::GUEST_FLAG_NET_VNET_HDR`]).
pub const DEVICE_NET_VNET_HDR: u32 = 4;
/// Bytes of the virtio-net header in front of each frame on a device with
/// [`DEVICE_NET_VNET_HDR`] (`struct virtio_net_hdr_v1`).
pub const VNET_HDR_LEN: u32 = 12;
/// Most devices a guest may declare (ready-set bits 0..=62; bit 63 is the
/// console).
pub const MAX_DEVICES: usize = 63;
/// Longest device name, in bytes, as in Solo5 (whose manifest name field
/// is 68 bytes with the NUL).
pub const DEVICE_NAME_MAX: usize = 67;
/// Size of a device name field: [`DEVICE_NAME_MAX`] bytes and a NUL.
pub const DEVICE_NAME_SIZE: usize = DEVICE_NAME_MAX + 1;

/// One attached device, as the tender describes it to the guest. The
/// device table (`BootInfo::devices`) lists the guest's manifest entries in
/// manifest order; a device's handle is its index in that table.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DeviceInfo {
    /// Name from the manifest, NUL-padded (at least one NUL).
    pub name: [u8; DEVICE_NAME_SIZE],
    /// `DEVICE_BLOCK` or `DEVICE_NET`.
    pub kind: u32,
    /// `DEVICE_*` flag bits.
    pub flags: u32,
    /// Padding (aligns `capacity`); zero.
    pub _pad0: u32,
    /// Block: capacity in bytes.
    pub capacity: u64,
    /// Block: sector size in bytes (a power of two, at least 512).
    pub sector_size: u32,
    /// Block: largest request in bytes. Net: largest frame in bytes,
    /// header included (`net_read` needs a buffer this large; `net_write`
    /// takes at most this much).
    pub max_io: u32,
    /// Net: MAC address in the first 6 bytes.
    pub mac: [u8; 8],
    /// Net: MTU of the interface (plain frames carry up to MTU + 14
    /// bytes).
    pub mtu: u32,
    /// Padding; zero.
    pub _pad: u32,
    /// Reserved; zero.
    pub reserved: [u64; 2],
}

impl Default for DeviceInfo {
    fn default() -> DeviceInfo {
        DeviceInfo {
            name: [0; DEVICE_NAME_SIZE],
            kind: 0,
            flags: 0,
            _pad0: 0,
            capacity: 0,
            sector_size: 0,
            max_io: 0,
            mac: [0; 8],
            mtu: 0,
            _pad: 0,
            reserved: [0; 2],
        }
    }
}

/// Number of function pointers in [`Hypercalls`] for this ABI version.
pub const HYPERCALL_COUNT: u32 = 17;

/// Stack a hypercall may use on the guest's stack, at most.
pub const HYPERCALL_STACK: u64 = 8192;

const_assert_eq!(size_of::<BootInfo>(), 176);
const_assert_eq!(offset_of!(BootInfo, abi_version), 8);
const_assert_eq!(offset_of!(BootInfo, mem_start), 16);
const_assert_eq!(offset_of!(BootInfo, cmdline), 56);
const_assert_eq!(offset_of!(BootInfo, hypercalls), 72);
const_assert_eq!(offset_of!(BootInfo, device_count), 88);
const_assert_eq!(offset_of!(BootInfo, flags), 92);
const_assert_eq!(offset_of!(BootInfo, initrd_start), 96);
const_assert_eq!(offset_of!(BootInfo, reserved), 112);
const_assert_eq!(size_of::<TrapVector>(), 32);
const_assert_eq!(size_of::<GuestRegs>(), 144);
const_assert_eq!(offset_of!(GuestRegs, rip), 128);
const_assert_eq!(size_of::<FaultFrame>(), 160);
const_assert_eq!(offset_of!(FaultFrame, regs), 16);
const_assert_eq!(size_of::<Hypercalls>(), 8 + 8 * HYPERCALL_COUNT as usize);
const_assert_eq!(offset_of!(Hypercalls, console_write), 8);
const_assert_eq!(offset_of!(Hypercalls, set_trap_vector), 72);
const_assert_eq!(offset_of!(Hypercalls, net_readv), 120);
const_assert_eq!(offset_of!(Hypercalls, stream_write), 128);
const_assert_eq!(offset_of!(Hypercalls, host_signals_take), 136);
const_assert_eq!(size_of::<IoVec>(), 16);
const_assert_eq!(offset_of!(IoVec, len), 8);

const_assert_eq!(size_of::<DeviceInfo>(), 128);
const_assert_eq!(offset_of!(DeviceInfo, kind), 68);
const_assert_eq!(offset_of!(DeviceInfo, _pad0), 76);
const_assert_eq!(offset_of!(DeviceInfo, capacity), 80);
const_assert_eq!(offset_of!(DeviceInfo, sector_size), 88);
const_assert_eq!(offset_of!(DeviceInfo, mac), 96);
const_assert_eq!(offset_of!(DeviceInfo, mtu), 104);
const_assert_eq!(offset_of!(DeviceInfo, reserved), 112);

/// Sizes and field offsets of every struct above, in declaration order.
/// Its CRC is [`crate::LAYOUT_CRC`]; change a struct and the CRC changes.
pub const LAYOUT: [u32; 65] = [
    size_of::<BootInfo>() as u32,
    offset_of!(BootInfo, magic) as u32,
    offset_of!(BootInfo, abi_version) as u32,
    offset_of!(BootInfo, size) as u32,
    offset_of!(BootInfo, mem_start) as u32,
    offset_of!(BootInfo, mem_end) as u32,
    offset_of!(BootInfo, image_start) as u32,
    offset_of!(BootInfo, image_end) as u32,
    offset_of!(BootInfo, stack_top) as u32,
    offset_of!(BootInfo, cmdline) as u32,
    offset_of!(BootInfo, cmdline_len) as u32,
    offset_of!(BootInfo, hypercalls) as u32,
    offset_of!(BootInfo, devices) as u32,
    offset_of!(BootInfo, device_count) as u32,
    offset_of!(BootInfo, flags) as u32,
    offset_of!(BootInfo, initrd_start) as u32,
    offset_of!(BootInfo, initrd_len) as u32,
    offset_of!(BootInfo, reserved) as u32,
    size_of::<TrapVector>() as u32,
    offset_of!(TrapVector, syscall_entry) as u32,
    offset_of!(TrapVector, fault_entry) as u32,
    offset_of!(TrapVector, fault_frame) as u32,
    offset_of!(TrapVector, fault_stack_top) as u32,
    size_of::<GuestRegs>() as u32,
    size_of::<FaultFrame>() as u32,
    offset_of!(FaultFrame, code) as u32,
    offset_of!(FaultFrame, addr) as u32,
    offset_of!(FaultFrame, regs) as u32,
    size_of::<Hypercalls>() as u32,
    offset_of!(Hypercalls, count) as u32,
    offset_of!(Hypercalls, console_write) as u32,
    offset_of!(Hypercalls, console_read) as u32,
    offset_of!(Hypercalls, clock_monotonic) as u32,
    offset_of!(Hypercalls, clock_wall) as u32,
    offset_of!(Hypercalls, yield_until) as u32,
    offset_of!(Hypercalls, exit) as u32,
    offset_of!(Hypercalls, abort) as u32,
    offset_of!(Hypercalls, set_tls_base) as u32,
    offset_of!(Hypercalls, set_trap_vector) as u32,
    offset_of!(Hypercalls, block_read) as u32,
    offset_of!(Hypercalls, block_write) as u32,
    offset_of!(Hypercalls, block_flush) as u32,
    offset_of!(Hypercalls, net_read) as u32,
    offset_of!(Hypercalls, net_write) as u32,
    offset_of!(Hypercalls, net_readv) as u32,
    offset_of!(Hypercalls, stream_write) as u32,
    offset_of!(Hypercalls, host_signals_take) as u32,
    HYPERCALL_COUNT,
    size_of::<DeviceInfo>() as u32,
    offset_of!(DeviceInfo, kind) as u32,
    offset_of!(DeviceInfo, flags) as u32,
    offset_of!(DeviceInfo, capacity) as u32,
    offset_of!(DeviceInfo, sector_size) as u32,
    offset_of!(DeviceInfo, max_io) as u32,
    offset_of!(DeviceInfo, mac) as u32,
    offset_of!(DeviceInfo, mtu) as u32,
    offset_of!(DeviceInfo, reserved) as u32,
    size_of::<crate::note::ManifestEntry>() as u32,
    core::mem::offset_of!(crate::note::ManifestEntry, kind) as u32,
    core::mem::offset_of!(crate::note::ManifestEntry, flags) as u32,
    size_of::<IoVec>() as u32,
    offset_of!(IoVec, len) as u32,
    size_of::<crate::note::FastSyscallNote>() as u32,
    offset_of!(crate::note::FastSyscallNote, entry_lo) as u32,
    offset_of!(crate::note::FastSyscallNote, entry_hi) as u32,
];

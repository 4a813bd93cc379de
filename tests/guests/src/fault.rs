//! What the test guests that take their own faults share: a fault frame,
//! a stack for the fault entry, and the trap vector that names them.
//! Included by `#[path]` (like `net.rs`); each guest has its own copy.

use nabla_platform::abi::{FaultFrame, TrapVector};

/// Bytes of the fault entry's stack.
const STACK: usize = 16384;

#[repr(C, align(16))]
struct Stack([u8; STACK]);

static mut FAULT_STACK: Stack = Stack([0; STACK]);
// SAFETY: FaultFrame is plain integers, for which all-zero is valid.
static mut FRAME: FaultFrame = unsafe { core::mem::zeroed() };

/// Address of the fault frame the tender writes.
#[allow(dead_code)]
pub fn frame_addr() -> u64 {
    &raw mut FRAME as u64
}

/// A vector with syscall entry `syscall` (0 for none) and fault entry
/// `fault`, on our frame and stack.
pub fn vector(syscall: u64, fault: u64) -> TrapVector {
    TrapVector {
        syscall_entry: syscall,
        fault_entry: fault,
        fault_frame: &raw mut FRAME as u64,
        fault_stack_top: (&raw mut FAULT_STACK as u64) + STACK as u64,
    }
}

/// Register `v`; false (after saying so) when the tender refuses it.
pub fn register(v: &TrapVector) -> bool {
    let ok = nabla_platform::set_trap_vector(v).is_ok();
    if !ok {
        nabla_platform::println!("set_trap_vector refused a valid vector");
    }
    ok
}

//! `clone3(2)` and `clone(2)` for a `CLONE_VM` child on a stack of its own, with flags that only
//! `clone3` has, and with no trust in a return value of 0 that did not come from a new child.
//!
//! Kernel rules:
//! - `clone3` (Linux 5.3) takes a `struct clone_args`; the child starts with the caller's
//!   registers, except the return value (0) and the stack pointer (`stack + stack_size`).
//! - `CLONE_CLEAR_SIGHAND` (5.5) gives the child every handled signal back at its default
//!   action; ignored signals stay ignored. (Not with `CLONE_SIGHAND`, which capspawn never uses.)
//!
//! - A seccomp filter can answer `clone` or `clone3` with 0 (`SECCOMP_RET_ERRNO` with errno 0, a
//!   plausible misconfiguration) without making a child: then the caller's own thread "is" the
//!   child. A real child's stack pointer is the one its parent gave it; that tells them apart.
//!
//! glibc's `clone` wrapper cannot pass clone3's flags and believes any 0, and the raw syscall
//! returns in the child on the new stack with no frame to return to: a few instructions of
//! assembly check the stack, call the entry there and `exit` with what it returns, as glibc's
//! own `clone` does.

use nix::errno::Errno;

/// `CLONE_CLEAR_SIGHAND` (`linux/sched.h`).
pub(crate) const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;

/// `struct clone_args` up to `cgroup` (`CLONE_ARGS_SIZE_VER2`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

extern "C" {
    /// `clone3(args, size)`; in the child, `exit(entry(arg))` on the new stack. Returns the
    /// child's pid, or `-errno`; `-EPERM` for a 0 that came back on this stack (`stack_top` is
    /// where the kernel puts a real child's stack pointer).
    fn capspawn_clone3(
        args: *mut CloneArgs,
        size: usize,
        entry: extern "C" fn(*mut libc::c_void) -> libc::c_int,
        arg: *mut libc::c_void,
        stack_top: *mut libc::c_void,
    ) -> libc::c_long;
    /// `clone(flags, stack_top, parent_tid)` (no TLS, no child tid); otherwise as above.
    fn capspawn_clone(
        flags: libc::c_ulong,
        stack_top: *mut libc::c_void,
        parent_tid: *mut libc::c_int,
        entry: extern "C" fn(*mut libc::c_void) -> libc::c_int,
        arg: *mut libc::c_void,
    ) -> libc::c_long;
}

// x86_64. The syscall clobbers rcx and r11 only: `entry` and `arg` ride through it in r9 and
// r10 (clone3) or r9 and r12 (clone, whose fourth argument is r10). A 0 in rax means the child
// only if the stack pointer is the new one: a seccomp filter that answers "0" without making a
// child would otherwise run the child's code on the supervisor's thread. The kernel leaves the
// new stack 16-byte aligned, so the `call` enters `entry` as the ABI wants.
#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".pushsection .text.capspawn_clone,\"ax\",@progbits",
    ".globl capspawn_clone3",
    ".hidden capspawn_clone3",
    ".type capspawn_clone3,@function",
    "capspawn_clone3:",
    "mov r9, rdx",
    "mov r10, rcx",
    "mov eax, 435", // SYS_clone3
    "syscall",
    "test rax, rax",
    "jnz 2f",
    "cmp rsp, r8",
    "jne 3f",
    "xor ebp, ebp",
    "mov rdi, r10",
    "call r9",
    "mov edi, eax",
    "mov eax, 60", // SYS_exit
    "syscall",
    "ud2",
    "3:",
    "mov rax, -1", // -EPERM
    "2:",
    "ret",
    ".size capspawn_clone3, .-capspawn_clone3",
    "",
    ".globl capspawn_clone",
    ".hidden capspawn_clone",
    ".type capspawn_clone,@function",
    "capspawn_clone:",
    "push r12",
    "mov r9, rcx",
    "mov r12, r8",
    "xor r10d, r10d", // child_tid
    "xor r8d, r8d",   // tls
    "mov eax, 56",    // SYS_clone
    "syscall",
    "test rax, rax",
    "jnz 2f",
    "cmp rsp, rsi",
    "jne 3f",
    "xor ebp, ebp",
    "mov rdi, r12",
    "call r9",
    "mov edi, eax",
    "mov eax, 60", // SYS_exit
    "syscall",
    "ud2",
    "3:",
    "mov rax, -1", // -EPERM
    "2:",
    "pop r12",
    "ret",
    ".size capspawn_clone, .-capspawn_clone",
    ".popsection",
);

// aarch64. `svc` changes no register but x0, so `entry` and `arg` ride through it (x2 and x3
// for clone3; x9 and x10 for clone, whose arguments are flags, stack, parent_tid, tls,
// child_tid). The same check of the stack pointer as on x86_64.
#[cfg(target_arch = "aarch64")]
std::arch::global_asm!(
    ".pushsection .text.capspawn_clone,\"ax\",@progbits",
    ".globl capspawn_clone3",
    ".hidden capspawn_clone3",
    ".type capspawn_clone3,%function",
    "capspawn_clone3:",
    "mov x8, #435", // SYS_clone3
    "svc #0",
    "cbnz x0, 2f",
    "mov x11, sp",
    "cmp x11, x4",
    "b.ne 3f",
    "mov x29, xzr",
    "mov x30, xzr",
    "mov x0, x3",
    "blr x2",
    "mov x8, #93", // SYS_exit
    "svc #0",
    "brk #0",
    "3:",
    "mov x0, #-1", // -EPERM
    "2:",
    "ret",
    ".size capspawn_clone3, .-capspawn_clone3",
    "",
    ".globl capspawn_clone",
    ".hidden capspawn_clone",
    ".type capspawn_clone,%function",
    "capspawn_clone:",
    "mov x9, x3",
    "mov x10, x4",
    "mov x3, xzr",  // tls
    "mov x4, xzr",  // child_tid
    "mov x8, #220", // SYS_clone
    "svc #0",
    "cbnz x0, 2f",
    "mov x11, sp",
    "cmp x11, x1",
    "b.ne 3f",
    "mov x29, xzr",
    "mov x30, xzr",
    "mov x0, x10",
    "blr x9",
    "mov x8, #93", // SYS_exit
    "svc #0",
    "brk #0",
    "3:",
    "mov x0, #-1", // -EPERM
    "2:",
    "ret",
    ".size capspawn_clone, .-capspawn_clone",
    ".popsection",
);

fn pid_or_errno(ret: libc::c_long) -> Result<libc::pid_t, Errno> {
    if ret < 0 {
        return Err(Errno::from_raw(ret.unsigned_abs().min(4095) as i32));
    }
    libc::pid_t::try_from(ret).map_err(|_| Errno::EINVAL)
}

/// `clone3` with `flags`, `SIGCHLD` at the child's exit, its pidfd written to `pidfd` (with
/// `CLONE_PIDFD`), on the stack `[stack, stack + stack_size)`, running `entry(arg)`.
///
/// # Safety
/// As `libc::clone`: `entry` must be async-signal-safe; with `CLONE_VM`, `arg` and the stack
/// must stay valid until the child has exec'd or exited (`CLONE_VFORK` waits for that). The
/// stack's top must be 16-byte aligned.
pub(crate) unsafe fn clone3(
    flags: u64,
    pidfd: *mut libc::c_int,
    stack: *mut libc::c_void,
    stack_size: usize,
    entry: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *mut libc::c_void,
) -> Result<libc::pid_t, Errno> {
    let mut args = CloneArgs {
        flags,
        pidfd: pidfd as u64,
        exit_signal: libc::SIGCHLD as u64,
        stack: stack as u64,
        stack_size: stack_size as u64,
        ..CloneArgs::default()
    };
    let top = stack.cast::<u8>().wrapping_add(stack_size).cast();
    // SAFETY: a live, fully initialised clone_args of the size passed; the caller vouches for
    // `entry`, `arg` and the stack.
    let ret =
        unsafe { capspawn_clone3(&mut args, std::mem::size_of::<CloneArgs>(), entry, arg, top) };
    pid_or_errno(ret)
}

/// `clone(flags, stack_top)` with the pidfd written to `pidfd` (`CLONE_PIDFD`), running
/// `entry(arg)`: glibc's `clone` without its trust in a 0 it did not get from a new child.
///
/// # Safety
/// As [`clone3`]; `flags` carries the exit signal in its low byte.
pub(crate) unsafe fn clone(
    flags: libc::c_int,
    stack_top: *mut libc::c_void,
    pidfd: *mut libc::c_int,
    entry: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *mut libc::c_void,
) -> Result<libc::pid_t, Errno> {
    // SAFETY: the caller vouches for `entry`, `arg`, the stack and the pidfd slot.
    let ret = unsafe { capspawn_clone(flags as libc::c_ulong, stack_top, pidfd, entry, arg) };
    pid_or_errno(ret)
}

//! The seccomp layer: a filter built in the parent, loaded by the child as the last step before
//! `execve`, and read back.
//!
//! Kernel rules (seccomp(2), `include/uapi/linux/seccomp.h`, `Documentation/userspace-api/
//! seccomp_filter.rst`):
//! - A filter is a classic BPF program (`struct sock_filter`, 8 bytes per instruction, at most
//!   `BPF_MAXINSNS` = 4096) run on every system call over `struct seccomp_data { int nr; __u32
//!   arch; __u64 instruction_pointer; __u64 args[6]; }`: `nr` at offset 0, `arch` at 4, `args[i]`
//!   at `16 + 8 * i` (its low 32 bits first: both targets are little-endian).
//! - `nr` is only meaningful together with `arch`: the same process can enter the kernel through
//!   another ABI (on x86_64, `int 0x80` is the i386 table, where 41 is `dup`, not `socket`), so a
//!   filter must check `arch` first. On x86_64 the x32 ABI shares `AUDIT_ARCH_X86_64` and marks
//!   its calls with `__X32_SYSCALL_BIT` (0x40000000) in `nr`: a filter must refuse those too, or
//!   `socket` becomes `0x40000000 | 41` (where the kernel has x32). Both are refused here with
//!   `SECCOMP_RET_KILL_PROCESS`, not an errno: a foreign-ABI program under this filter could not
//!   even `exit` if every call failed, it would spin or crash instead of ending; a kill ends it at
//!   its first such call with `SIGSYS`, which also tells the supervisor why. (On x86_64 the
//!   `socketcall(2)` multiplexer exists only in the i386 table, which this refuses anyway; on
//!   aarch64 there is none.)
//! - `SECCOMP_RET_ERRNO | e` makes the call fail with `e` (at most 4095) without running it;
//!   `SECCOMP_RET_ALLOW` runs it. With several filters the kernel runs all of them and takes the
//!   strictest action (kill before errno before allow); between two errnos, the newest filter's.
//! - Without `CAP_SYS_ADMIN` in its user namespace a task may load a filter only with
//!   `no_new_privs` set, so a spawn with a filter always sets it.
//! - A filter belongs to the task that loads it and to the tasks it creates afterwards, never to
//!   the others: without `SECCOMP_FILTER_FLAG_TSYNC` (not used here) `seccomp()` attaches it to
//!   the calling thread only. The child of a `CLONE_VM` clone is its own task, so a filter it
//!   loads touches none of the supervisor's threads, although they share its memory; the kernel
//!   copies the program at load, so the parent's buffer is not used afterwards either.
//!
//! The filter capspawn writes is a deny list: it checks the architecture, refuses x32, fails the
//! listed system calls and the `socket(2)`/`socketpair(2)` calls of the listed families with
//! one errno (and, whenever anything is listed, io_uring's three calls: a ring runs operations
//! the filter never sees), and allows everything else. A user's own program
//! (`Filter::from_program`) is loaded as given. Everything is built here, in the parent; the
//! child only calls `seccomp()` (see [`apply`]).

use crate::error::SpawnError;
use crate::failure::{Failure, Stage};
use crate::proc_status::Account;
use nix::errno::Errno;

/// `AUDIT_ARCH_X86_64` (`EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`): the value of
/// `seccomp_data.arch` for this target's own system calls.
#[cfg(target_arch = "x86_64")]
pub const AUDIT_ARCH: u32 = 0xc000_003e;
/// `AUDIT_ARCH_AARCH64` (`EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`).
#[cfg(target_arch = "aarch64")]
pub const AUDIT_ARCH: u32 = 0xc000_00b7;

/// `__X32_SYSCALL_BIT`: set in `nr` for the x32 ABI's calls, which share `AUDIT_ARCH_X86_64`.
#[cfg(target_arch = "x86_64")]
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `SECCOMP_RET_KILL_PROCESS` (Linux 4.14): the whole process dies of `SIGSYS`.
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
/// `SECCOMP_RET_ERRNO`: the call fails with the errno in the low 16 bits.
pub const RET_ERRNO: u32 = 0x0005_0000;
/// `SECCOMP_RET_ALLOW`.
pub const RET_ALLOW: u32 = 0x7fff_0000;

/// `BPF_MAXINSNS`: the most instructions one filter may have.
pub const MAX_INSTRUCTIONS: usize = 4096;

/// `BPF_LD | BPF_W | BPF_ABS`: load the 32-bit word at offset `k` of `seccomp_data`.
const LD_ABS: u16 = 0x20;
/// `BPF_JMP | BPF_JEQ | BPF_K`: `A == k`? skip `jt` : skip `jf`.
const JEQ: u16 = 0x15;
/// `BPF_JMP | BPF_JGE | BPF_K`: `A >= k`?
#[cfg(target_arch = "x86_64")]
const JGE: u16 = 0x35;
/// `BPF_RET | BPF_K`: return `k`.
const RET: u16 = 0x06;
/// `BPF_ALU | BPF_AND | BPF_K`: `A &= k`.
const AND: u16 = 0x54;

/// Offsets in `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;
/// The low 32 bits of `args[0]`: `socket()`'s family is an `int`, so the kernel ignores the
/// high ones too.
const ARG0_LOW: u32 = 16;
/// The low 32 bits of `args[1]`: `socketpair()`'s type (an `int`, with `SOCK_NONBLOCK` and
/// `SOCK_CLOEXEC` or'ed in above `SOCK_TYPE_MASK`).
const ARG1_LOW: u32 = 24;
/// `SOCK_TYPE_MASK`.
const SOCK_TYPE_MASK: u32 = 0xf;

/// One `struct sock_filter`.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Instruction {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const _: () =
    assert!(std::mem::size_of::<Instruction>() == std::mem::size_of::<libc::sock_filter>());

fn op(code: u16, jt: u8, jf: u8, k: u32) -> Instruction {
    Instruction { code, jt, jf, k }
}

/// A filter program, ready for `seccomp(SECCOMP_SET_MODE_FILTER)`: 1 to 4096 instructions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter(Vec<Instruction>);

impl Filter {
    /// A user's classic BPF program: `struct sock_filter` after `struct sock_filter`, in this
    /// machine's byte order (what libseccomp's `seccomp_export_bpf` writes). Only its length is
    /// checked here; the kernel checks the rest when the child loads it.
    pub fn from_program(bytes: &[u8]) -> Result<Filter, String> {
        if bytes.is_empty() || bytes.len() % 8 != 0 || bytes.len() / 8 > MAX_INSTRUCTIONS {
            return Err(format!(
                "must be 1 to {MAX_INSTRUCTIONS} instructions of 8 bytes, not {} bytes",
                bytes.len()
            ));
        }
        let instructions = bytes.chunks_exact(8).map(|b| Instruction {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        });
        Ok(Filter(instructions.collect()))
    }

    /// capspawn's deny list: the architecture check, then `syscalls`, then the families of
    /// `socket()` and `socketpair()`, each failing with `errno`; everything else allowed.
    pub fn deny(syscalls: &[u32], families: &[u32], errno: u16) -> Result<Filter, String> {
        Filter::deny_with(syscalls, families, errno, None)
    }

    /// [`Filter::deny`], and, with `unix` (the `filesystem` layer's rule, see
    /// [`crate::landlock::UnixSockets`]), `socket(AF_UNIX)`, `socketpair(AF_UNIX)` of any
    /// type but `SOCK_STREAM` and `SOCK_SEQPACKET`, and io_uring failing with `unix`'s errno.
    /// A connected stream pair reaches nothing outside (`connect()` on it is `EISCONN`); a
    /// datagram one can `sendto` any pathname socket, and `SOCK_RAW` is a datagram socket in
    /// AF_UNIX. The listed families come first, so a listed `AF_UNIX` keeps `errno` for both.
    fn deny_with(
        syscalls: &[u32],
        families: &[u32],
        errno: u16,
        unix: Option<u16>,
    ) -> Result<Filter, String> {
        let deny = op(RET, 0, 0, RET_ERRNO | u32::from(errno));
        let mut program = vec![
            op(LD_ABS, 0, 0, ARCH),
            op(JEQ, 1, 0, AUDIT_ARCH),
            op(RET, 0, 0, RET_KILL_PROCESS),
            op(LD_ABS, 0, 0, NR),
        ];
        // nr == -1 (0xffffffff) is no call: it is what a tracer (`strace -e inject`, a
        // debugger) sets to skip one, and the kernel then runs nothing and returns what is in
        // the return register (ENOSYS, for the workload's own `syscall(-1)`). Allowed, as
        // libseccomp does, since allowing it runs nothing: a kill (the x32 check below, as
        // 0xffffffff >= 0x40000000) would end a traced workload for its tracer's doing, and an
        // errno would replace a return value the tracer set at entry. On aarch64 it falls
        // through the lists to the same allow.
        #[cfg(target_arch = "x86_64")]
        program.extend([
            op(JEQ, 0, 1, u32::MAX),
            op(RET, 0, 0, RET_ALLOW),
            op(JGE, 0, 1, X32_SYSCALL_BIT),
            op(RET, 0, 0, RET_KILL_PROCESS),
        ]);
        for &nr in syscalls {
            program.extend([op(JEQ, 0, 1, nr), deny]);
        }
        if !families.is_empty() {
            // socket or socketpair: on to the family; anything else jumps past it, to allow.
            let past = u8::try_from(1 + 2 * families.len())
                .map_err(|_| "too many socket families".to_string())?;
            program.extend([
                op(JEQ, 1, 0, libc::SYS_socket as u32),
                op(JEQ, 0, past, libc::SYS_socketpair as u32),
                op(LD_ABS, 0, 0, ARG0_LOW),
            ]);
            for &family in families {
                program.extend([op(JEQ, 0, 1, family), deny]);
            }
        }
        if let Some(unix_errno) = unix {
            let deny_unix = op(RET, 0, 0, RET_ERRNO | u32::from(unix_errno));
            program.push(op(LD_ABS, 0, 0, NR));
            for nr in [
                libc::SYS_io_uring_setup,
                libc::SYS_io_uring_enter,
                libc::SYS_io_uring_register,
            ] {
                program.extend([op(JEQ, 0, 1, nr as u32), deny_unix]);
            }
            let af_unix = libc::AF_UNIX as u32;
            // Each jump forward to the final allow counts the instructions left before it.
            program.extend([
                op(JEQ, 0, 3, libc::SYS_socket as u32), // not socket: on to socketpair
                op(LD_ABS, 0, 0, ARG0_LOW),
                op(JEQ, 0, 9, af_unix), // socket of another family: allow
                deny_unix,
                op(JEQ, 0, 7, libc::SYS_socketpair as u32), // neither: allow
                op(LD_ABS, 0, 0, ARG0_LOW),
                op(JEQ, 0, 5, af_unix),
                op(LD_ABS, 0, 0, ARG1_LOW),
                op(AND, 0, 0, SOCK_TYPE_MASK),
                op(JEQ, 2, 0, libc::SOCK_STREAM as u32),
                op(JEQ, 1, 0, libc::SOCK_SEQPACKET as u32),
                deny_unix,
            ]);
        }
        program.push(op(RET, 0, 0, RET_ALLOW));
        if program.len() > MAX_INSTRUCTIONS {
            return Err(format!(
                "the filter would exceed {MAX_INSTRUCTIONS} instructions"
            ));
        }
        Ok(Filter(program))
    }

    pub fn instructions(&self) -> &[Instruction] {
        &self.0
    }
}

/// The `seccomp` option, as given: names (or numbers, as decimal text) to resolve in the parent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seccomp {
    /// `socket()`/`socketpair()` families to fail: `AF_INET`, `inet`, `PF_INET` (any case), or
    /// a number.
    pub deny_socket_families: Vec<String>,
    /// System calls to fail, by the kernel's name (`mkdir`, `unshare`; see [`syscall_number`]).
    pub deny_syscalls: Vec<String>,
    /// The errno they fail with: a name (`EPERM`, the default) or a number from 1 to 4095.
    pub errno: Option<String>,
    /// A classic BPF program of the user's, loaded as given (before capspawn's own filter).
    pub program: Option<Vec<u8>>,
}

/// System calls that run after the filter is loaded ([`apply`]'s read-back, the signal mask,
/// `execve`, the child's exit): denying them would only keep the workload from starting.
pub const NEEDED_AFTER_LOADING: [&str; 7] = [
    "pread64",
    "gettid",
    "rt_sigaction",
    "rt_sigprocmask",
    "execve",
    "exit",
    "exit_group",
];

impl Seccomp {
    /// The filters to load, in order: the user's program, then capspawn's own (so the read-back
    /// after them, which capspawn's filter must let through, is not left to the user's program
    /// alone, and a denied `seccomp` cannot keep capspawn's own from loading).
    pub fn filters(&self) -> Result<Vec<Filter>, SpawnError> {
        self.filters_with(None)
    }

    /// [`Seccomp::filters`], with the `filesystem` layer's Unix-socket rule when `unix` is the
    /// errno it fails with: in capspawn's own filter, which is then always loaded (one filter
    /// more than the user's program, if any).
    pub fn filters_with(&self, unix: Option<i32>) -> Result<Vec<Filter>, SpawnError> {
        let invalid = |what, message| SpawnError::InvalidInput { what, message };
        let mut filters = Vec::new();
        if let Some(program) = &self.program {
            filters.push(Filter::from_program(program).map_err(|m| invalid("seccomp.program", m))?);
        }
        let errno = match &self.errno {
            None => libc::EPERM,
            Some(name) => errno_named(name)
                .ok_or_else(|| invalid("seccomp.errno", format!("unknown errno {name:?}")))?,
        };
        let mut syscalls = Vec::new();
        for name in &self.deny_syscalls {
            if NEEDED_AFTER_LOADING.contains(&name.as_str()) {
                let message = format!(
                    "{name:?} cannot be denied: capspawn calls it after loading the filter, so the \
                     workload could never start"
                );
                return Err(invalid("seccomp.denySyscalls", message));
            }
            match syscall_number(name) {
                Syscall::Here(nr) => syscalls.push(nr as u32),
                Syscall::Elsewhere => {} // another architecture's call: it cannot be made here
                Syscall::Unknown => {
                    let message = format!("unknown system call {name:?}");
                    return Err(invalid("seccomp.denySyscalls", message));
                }
            }
        }
        let mut families = Vec::new();
        for name in &self.deny_socket_families {
            let family = socket_family(name).ok_or_else(|| {
                invalid(
                    "seccomp.denySocketFamilies",
                    format!("unknown socket family {name:?}"),
                )
            })?;
            families.push(family);
        }
        if !self.deny_syscalls.is_empty() || !families.is_empty() {
            // io_uring runs operations without their system calls (IORING_OP_CONNECT for
            // connect(2), IORING_OP_OPENAT, IORING_OP_UNLINKAT, IORING_OP_SOCKET, ...), out of
            // this filter's sight: with anything denied, no ring either. (Counted from the names
            // as given, so a call only another target has still takes the rings: fail closed.)
            syscalls.extend(
                [
                    libc::SYS_io_uring_setup,
                    libc::SYS_io_uring_enter,
                    libc::SYS_io_uring_register,
                ]
                .map(|nr| nr as u32),
            );
        }
        for list in [&mut syscalls, &mut families] {
            list.sort_unstable();
            list.dedup();
        }
        let unix = unix.map(|e| u16::try_from(e).unwrap_or(libc::EACCES as u16));
        if !syscalls.is_empty() || !families.is_empty() || unix.is_some() {
            let errno = u16::try_from(errno).unwrap_or(libc::EPERM as u16);
            let filter = Filter::deny_with(&syscalls, &families, errno, unix)
                .map_err(|m| invalid("seccomp", m))?;
            filters.push(filter);
        }
        Ok(filters)
    }
}

/// An errno by its name (`EPERM`, any case) or number (1 to 4095, what `SECCOMP_RET_ERRNO`
/// passes on).
pub fn errno_named(name: &str) -> Option<i32> {
    if let Ok(number) = name.parse::<i32>() {
        return (1..=4095).contains(&number).then_some(number);
    }
    let upper = name.to_ascii_uppercase();
    let aliases = [
        ("EWOULDBLOCK", libc::EAGAIN),
        ("EDEADLOCK", libc::EDEADLK),
        ("ENOTSUP", libc::EOPNOTSUPP),
    ];
    if let Some(&(_, errno)) = aliases.iter().find(|(alias, _)| *alias == upper) {
        return Some(errno);
    }
    (1..=4095).find(|&n| format!("{:?}", Errno::from_raw(n)) == upper)
}

/// A socket family by name: `AF_INET`, `PF_INET` or `inet`, in any case; or a number from 0 to
/// 65535 (`sa_family_t`), for one this table does not name.
pub fn socket_family(name: &str) -> Option<u32> {
    const FAMILIES: [(&str, libc::c_int); 48] = [
        ("UNSPEC", libc::AF_UNSPEC),
        ("UNIX", libc::AF_UNIX),
        ("LOCAL", libc::AF_LOCAL),
        ("INET", libc::AF_INET),
        ("AX25", libc::AF_AX25),
        ("IPX", libc::AF_IPX),
        ("APPLETALK", libc::AF_APPLETALK),
        ("NETROM", libc::AF_NETROM),
        ("BRIDGE", libc::AF_BRIDGE),
        ("ATMPVC", libc::AF_ATMPVC),
        ("X25", libc::AF_X25),
        ("INET6", libc::AF_INET6),
        ("ROSE", libc::AF_ROSE),
        ("DECNET", libc::AF_DECnet),
        ("NETBEUI", libc::AF_NETBEUI),
        ("SECURITY", libc::AF_SECURITY),
        ("KEY", libc::AF_KEY),
        ("NETLINK", libc::AF_NETLINK),
        ("ROUTE", libc::AF_ROUTE),
        ("PACKET", libc::AF_PACKET),
        ("ASH", libc::AF_ASH),
        ("ECONET", libc::AF_ECONET),
        ("ATMSVC", libc::AF_ATMSVC),
        ("RDS", libc::AF_RDS),
        ("SNA", libc::AF_SNA),
        ("IRDA", libc::AF_IRDA),
        ("PPPOX", libc::AF_PPPOX),
        ("WANPIPE", libc::AF_WANPIPE),
        ("LLC", libc::AF_LLC),
        ("IB", libc::AF_IB),
        ("MPLS", libc::AF_MPLS),
        ("CAN", libc::AF_CAN),
        ("TIPC", libc::AF_TIPC),
        ("BLUETOOTH", libc::AF_BLUETOOTH),
        ("IUCV", libc::AF_IUCV),
        ("RXRPC", libc::AF_RXRPC),
        ("ISDN", libc::AF_ISDN),
        ("PHONET", libc::AF_PHONET),
        ("IEEE802154", libc::AF_IEEE802154),
        ("CAIF", libc::AF_CAIF),
        ("ALG", libc::AF_ALG),
        ("NFC", libc::AF_NFC),
        ("VSOCK", libc::AF_VSOCK),
        ("KCM", 41),     // AF_KCM, not in libc 0.2.169 for every target
        ("QIPCRTR", 42), // AF_QIPCRTR, likewise
        ("SMC", 43),     // AF_SMC, not in libc 0.2.169
        ("XDP", libc::AF_XDP),
        ("MCTP", 45), // AF_MCTP, not in libc 0.2.169
    ];
    if let Ok(number) = name.parse::<u32>() {
        return (number <= 0xffff).then_some(number);
    }
    let upper = name.to_ascii_uppercase();
    let bare = upper
        .strip_prefix("AF_")
        .or_else(|| upper.strip_prefix("PF_"))
        .unwrap_or(&upper);
    FAMILIES
        .iter()
        .find(|(n, _)| *n == bare)
        .map(|&(_, family)| family as u32)
}

macro_rules! syscall_table {
    ($($name:ident,)*) => {
        &[$((stringify!($name), libc::$name),)*]
    };
}

/// The system calls every target has, by the kernel's name (as `strace` and libseccomp print
/// them), with this target's numbers from libc.
#[rustfmt::skip]
const SYSCALLS: &[(&str, libc::c_long)] = syscall_table!(
    SYS_accept, SYS_accept4, SYS_acct, SYS_add_key, SYS_adjtimex, SYS_bind, SYS_bpf, SYS_brk,
    SYS_capget, SYS_capset, SYS_chdir, SYS_chroot, SYS_clock_adjtime, SYS_clock_getres,
    SYS_clock_gettime, SYS_clock_nanosleep, SYS_clock_settime, SYS_clone, SYS_clone3, SYS_close,
    SYS_close_range, SYS_connect, SYS_copy_file_range, SYS_delete_module, SYS_dup, SYS_dup3,
    SYS_epoll_create1, SYS_epoll_ctl, SYS_epoll_pwait, SYS_epoll_pwait2, SYS_eventfd2, SYS_execve,
    SYS_execveat, SYS_exit, SYS_exit_group, SYS_faccessat, SYS_faccessat2, SYS_fallocate,
    SYS_fanotify_init, SYS_fanotify_mark, SYS_fchdir, SYS_fchmod, SYS_fchmodat, SYS_fchown,
    SYS_fchownat, SYS_fcntl, SYS_fdatasync, SYS_fgetxattr, SYS_finit_module, SYS_flistxattr,
    SYS_flock, SYS_fremovexattr, SYS_fsconfig, SYS_fsetxattr, SYS_fsmount, SYS_fsopen, SYS_fspick,
    SYS_fstat, SYS_fstatfs, SYS_fsync, SYS_ftruncate, SYS_futex, SYS_futex_waitv,
    SYS_get_mempolicy, SYS_get_robust_list, SYS_getcpu, SYS_getcwd, SYS_getdents64, SYS_getegid,
    SYS_geteuid, SYS_getgid, SYS_getgroups, SYS_getitimer, SYS_getpeername, SYS_getpgid,
    SYS_getpid, SYS_getppid, SYS_getpriority, SYS_getrandom, SYS_getresgid, SYS_getresuid,
    SYS_getrusage, SYS_getsid, SYS_getsockname, SYS_getsockopt, SYS_gettid, SYS_gettimeofday,
    SYS_getuid, SYS_getxattr, SYS_init_module, SYS_inotify_add_watch, SYS_inotify_init1,
    SYS_inotify_rm_watch, SYS_io_cancel, SYS_io_destroy, SYS_io_getevents, SYS_io_setup,
    SYS_io_submit, SYS_io_uring_enter, SYS_io_uring_register, SYS_io_uring_setup, SYS_ioctl,
    SYS_ioprio_get, SYS_ioprio_set, SYS_kcmp, SYS_kexec_load, SYS_keyctl,
    SYS_kill, SYS_landlock_add_rule, SYS_landlock_create_ruleset, SYS_landlock_restrict_self,
    SYS_lgetxattr, SYS_linkat, SYS_listen, SYS_listxattr, SYS_llistxattr, SYS_lookup_dcookie,
    SYS_lremovexattr, SYS_lseek, SYS_lsetxattr, SYS_madvise, SYS_mbind, SYS_membarrier,
    SYS_memfd_create, SYS_memfd_secret, SYS_migrate_pages, SYS_mincore, SYS_mkdirat, SYS_mknodat,
    SYS_mlock, SYS_mlock2, SYS_mlockall, SYS_mmap, SYS_mount, SYS_mount_setattr, SYS_move_mount,
    SYS_move_pages, SYS_mprotect, SYS_mq_getsetattr, SYS_mq_notify, SYS_mq_open,
    SYS_mq_timedreceive, SYS_mq_timedsend, SYS_mq_unlink, SYS_mremap, SYS_mseal, SYS_msgctl,
    SYS_msgget, SYS_msgrcv, SYS_msgsnd, SYS_msync, SYS_munlock, SYS_munlockall, SYS_munmap,
    SYS_name_to_handle_at, SYS_nanosleep, SYS_newfstatat, SYS_nfsservctl, SYS_open_by_handle_at,
    SYS_open_tree, SYS_openat, SYS_openat2, SYS_perf_event_open, SYS_personality, SYS_pidfd_getfd,
    SYS_pidfd_open, SYS_pidfd_send_signal, SYS_pipe2, SYS_pivot_root, SYS_pkey_alloc,
    SYS_pkey_free, SYS_pkey_mprotect, SYS_ppoll, SYS_prctl, SYS_pread64, SYS_preadv, SYS_preadv2,
    SYS_prlimit64, SYS_process_madvise, SYS_process_mrelease, SYS_process_vm_readv,
    SYS_process_vm_writev, SYS_pselect6, SYS_ptrace, SYS_pwrite64, SYS_pwritev, SYS_pwritev2,
    SYS_quotactl, SYS_quotactl_fd, SYS_read, SYS_readahead, SYS_readlinkat, SYS_readv, SYS_reboot,
    SYS_recvfrom, SYS_recvmmsg, SYS_recvmsg, SYS_remap_file_pages, SYS_removexattr, SYS_renameat2,
    SYS_request_key, SYS_restart_syscall, SYS_rseq, SYS_rt_sigaction, SYS_rt_sigpending,
    SYS_rt_sigprocmask, SYS_rt_sigqueueinfo, SYS_rt_sigreturn, SYS_rt_sigsuspend,
    SYS_rt_sigtimedwait, SYS_rt_tgsigqueueinfo, SYS_sched_get_priority_max,
    SYS_sched_get_priority_min, SYS_sched_getaffinity, SYS_sched_getattr, SYS_sched_getparam,
    SYS_sched_getscheduler, SYS_sched_rr_get_interval, SYS_sched_setaffinity, SYS_sched_setattr,
    SYS_sched_setparam, SYS_sched_setscheduler, SYS_sched_yield, SYS_seccomp, SYS_semctl,
    SYS_semget, SYS_semop, SYS_semtimedop, SYS_sendmmsg, SYS_sendmsg, SYS_sendto,
    SYS_set_mempolicy, SYS_set_mempolicy_home_node, SYS_set_robust_list, SYS_set_tid_address,
    SYS_setdomainname, SYS_setfsgid, SYS_setfsuid, SYS_setgid, SYS_setgroups, SYS_sethostname,
    SYS_setitimer, SYS_setns, SYS_setpgid, SYS_setpriority, SYS_setregid, SYS_setresgid,
    SYS_setresuid, SYS_setreuid, SYS_setsid, SYS_setsockopt, SYS_settimeofday, SYS_setuid,
    SYS_setxattr, SYS_shmat, SYS_shmctl, SYS_shmdt, SYS_shmget, SYS_shutdown, SYS_sigaltstack,
    SYS_signalfd4, SYS_socket, SYS_socketpair, SYS_splice, SYS_statfs, SYS_statx, SYS_swapoff,
    SYS_swapon, SYS_symlinkat, SYS_sync, SYS_syncfs, SYS_sysinfo, SYS_syslog, SYS_tee, SYS_tgkill,
    SYS_timer_create, SYS_timer_delete, SYS_timer_getoverrun, SYS_timer_gettime, SYS_timer_settime,
    SYS_timerfd_create, SYS_timerfd_gettime, SYS_timerfd_settime, SYS_times, SYS_tkill,
    SYS_truncate, SYS_umask, SYS_umount2, SYS_uname, SYS_unlinkat, SYS_unshare, SYS_userfaultfd,
    SYS_utimensat, SYS_vhangup, SYS_vmsplice, SYS_wait4, SYS_waitid, SYS_write, SYS_writev,
);

/// The ones only x86_64 has (aarch64 has only the `*at` and newer forms).
#[rustfmt::skip]
#[cfg(target_arch = "x86_64")]
const THIS_TARGET_ONLY: &[(&str, libc::c_long)] = syscall_table!(
    SYS_kexec_file_load, // on aarch64 too, but libc names it only for glibc there
    SYS__sysctl, SYS_access, SYS_afs_syscall, SYS_alarm, SYS_arch_prctl, SYS_chmod, SYS_chown,
    SYS_creat, SYS_create_module, SYS_dup2, SYS_epoll_create, SYS_epoll_ctl_old, SYS_epoll_wait,
    SYS_epoll_wait_old, SYS_eventfd, SYS_fadvise64, SYS_fchmodat2, SYS_fork, SYS_futimesat,
    SYS_get_kernel_syms, SYS_get_thread_area, SYS_getdents, SYS_getpgrp, SYS_getpmsg,
    SYS_getrlimit, SYS_inotify_init, SYS_ioperm, SYS_iopl, SYS_lchown, SYS_link, SYS_lstat,
    SYS_mkdir, SYS_mknod, SYS_modify_ldt, SYS_open, SYS_pause, SYS_pipe, SYS_poll, SYS_putpmsg,
    SYS_query_module, SYS_readlink, SYS_rename, SYS_renameat, SYS_rmdir, SYS_security, SYS_select,
    SYS_sendfile, SYS_set_thread_area, SYS_setrlimit, SYS_signalfd, SYS_stat, SYS_symlink,
    SYS_sync_file_range, SYS_sysfs, SYS_time, SYS_tuxcall, SYS_unlink, SYS_uselib, SYS_ustat,
    SYS_utime, SYS_utimes, SYS_vfork, SYS_vserver,
);
/// aarch64's calls that libc 0.2.169 does not name for it (or names only for glibc, not musl,
/// which the prebuilt packages are built for too), with the numbers of the kernel's
/// `include/uapi/asm-generic/unistd.h` (arm64 sets `__ARCH_WANT_RENAMEAT` and
/// `__ARCH_WANT_SET_GET_RLIMIT`).
#[cfg(target_arch = "aarch64")]
const THIS_TARGET_ONLY: &[(&str, libc::c_long)] = &[
    ("SYS_renameat", 38),
    ("SYS_sendfile", 71),
    ("SYS_sync_file_range", 84),
    ("SYS_getrlimit", 163),
    ("SYS_setrlimit", 164),
    ("SYS_fadvise64", 223),
    ("SYS_fchmodat2", 452),
    ("SYS_kexec_file_load", 294),
];

/// Names of other targets capspawn supports that this one lacks: they are accepted and deny
/// nothing here, since the call cannot be made.
#[cfg(target_arch = "x86_64")]
const OTHER_TARGETS_ONLY: &[&str] = &[];
#[rustfmt::skip]
#[cfg(target_arch = "aarch64")]
const OTHER_TARGETS_ONLY: &[&str] = &[
    "_sysctl", "access", "afs_syscall", "alarm", "arch_prctl", "chmod", "chown", "creat",
    "create_module", "dup2", "epoll_create", "epoll_ctl_old", "epoll_wait", "epoll_wait_old",
    "eventfd", "fork", "futimesat", "get_kernel_syms", "get_thread_area",
    "getdents", "getpgrp", "getpmsg", "inotify_init", "ioperm", "iopl", "lchown",
    "link", "lstat", "mkdir", "mknod", "modify_ldt", "open", "pause", "pipe", "poll", "putpmsg",
    "query_module", "readlink", "rename", "rmdir", "security", "select", 
    "set_thread_area", "signalfd", "stat", "symlink", "sysfs",
    "time", "tuxcall", "unlink", "uselib", "ustat", "utime", "utimes", "vfork", "vserver",
];

/// A system call by name, as [`syscall_number`] finds it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// Its number on this target.
    Here(libc::c_long),
    /// Only another target capspawn supports has it: nothing to deny here.
    Elsewhere,
    /// No target capspawn supports has a system call of that name.
    Unknown,
}

/// A system call's number on this target, by the kernel's name (`mkdir`, `unshare`).
pub fn syscall_number(name: &str) -> Syscall {
    let found = SYSCALLS
        .iter()
        .chain(THIS_TARGET_ONLY)
        .find(|(n, _)| n.strip_prefix("SYS_") == Some(name));
    match found {
        Some(&(_, nr)) => Syscall::Here(nr),
        None if OTHER_TARGETS_ONLY.contains(&name) => Syscall::Elsewhere,
        None => Syscall::Unknown,
    }
}

/// Loads one filter on the calling thread: `seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog)`, a raw
/// syscall with no flag (not `TSYNC`: the child is single-threaded, and the supervisor's threads
/// must keep running unfiltered). Async-signal-safe.
fn load(filter: &Filter) -> Result<(), Errno> {
    let program = libc::sock_fprog {
        // At most MAX_INSTRUCTIONS (4096): `from_program` and `deny` checked it.
        len: filter.0.len() as libc::c_ushort,
        filter: filter.0.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: a sock_fprog on the stack pointing at the parent's instructions (same layout as
    // sock_filter, checked above), alive for the call; the kernel copies them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &program as *const libc::sock_fprog,
        )
    };
    match ret {
        0 => Ok(()),
        r if r < 0 => Err(Errno::last()),
        _ => Err(Errno::EINVAL), // not an answer the kernel gives
    }
}

/// The child's seccomp step: loads `filters` in order, then reads back what the kernel shows in
/// `/proc/thread-self/status` (`account`, opened in step 1): `Seccomp: 2` and `Seccomp_filters`
/// grown by exactly the number loaded, counted from step 6's read of the same file (`verified`). A supervisor
/// filter or LSM that fakes `seccomp()`'s success leaves the count where it was. On a kernel
/// without `Seccomp_filters` (before 5.9) only the mode tells, so the spawn is refused when the
/// child had a filter already. Async-signal-safe: raw syscalls, no allocation.
pub fn apply(
    filters: &[Filter],
    account: &Account,
    verified: Option<&crate::proc_status::Status>,
) -> Result<(), Failure> {
    if filters.is_empty() {
        return Ok(());
    }
    let refused = Failure::unconfirmed(Stage::Seccomp);
    let ours = |status: &crate::proc_status::Status| {
        !status.malformed && status.pid == Some(crate::raw::gettid() as u64)
    };
    // The count to start from: step 6's read, which nothing since has changed; read again
    // only when step 6 skipped procfs (and then this read refuses).
    let before = match verified {
        Some(status) => *status,
        None => account.reread().map_err(Failure::at(Stage::Procfs))?,
    };
    if !ours(&before) {
        return Err(refused);
    }
    for filter in filters {
        load(filter).map_err(Failure::at(Stage::Seccomp))?;
    }
    // From here on the filters are in force: a read they deny is a seccomp failure.
    let after = account.reread().map_err(Failure::at(Stage::Seccomp))?;
    let expected = before
        .seccomp_filters
        .and_then(|count| count.checked_add(filters.len() as u64));
    let counted = match (expected, after.seccomp_filters) {
        (Some(expected), Some(count)) => count == expected,
        (None, None) => before.seccomp == Some(0),
        _ => false,
    };
    if !ours(&after) || after.seccomp != Some(2) || !counted {
        return Err(refused);
    }
    Ok(())
}

/// What [`probe`] found: whether a spawn's seccomp layer can work here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The calling thread's mode (`PR_GET_SECCOMP`): 0 none, 2 filter (a spawn's filters stack
    /// on the supervisor's); `None` when the kernel has no seccomp (`EINVAL`).
    pub mode: Option<u8>,
    /// The calling thread's `Seccomp_filters` (Linux 5.9), the count a spawn's read-back starts
    /// from; `None` when procfs does not show it.
    pub filters: Option<u64>,
    /// The actions capspawn's filter returns that `SECCOMP_GET_ACTION_AVAIL` says this kernel
    /// lacks (`kill_process` before 4.14), or cannot tell (the whole list, when that fails).
    pub missing_actions: Vec<&'static str>,
    /// A trial in a throwaway child, as a spawn does it: `no_new_privs`, a filter loaded and read
    /// back (a profile that refuses or fakes `seccomp()` shows here).
    pub trial: Result<(), Failure>,
}

/// Checks whether the seccomp layer works here without loading anything in this process: the
/// kernel's answers, then a throwaway forked child that loads a filter and reads it back.
pub fn probe() -> Result<Probe, Errno> {
    // SAFETY: prctl with no pointers.
    let mode = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    let mode = u8::try_from(mode).ok();
    let filters = crate::proc_status::thread_self(None)
        .ok()
        .and_then(|status| status.seccomp_filters);
    let actions = [
        ("kill_process", RET_KILL_PROCESS),
        ("errno", RET_ERRNO),
        ("allow", RET_ALLOW),
    ];
    let missing_actions = actions
        .iter()
        .filter(|(_, action)| {
            // SAFETY: a u32 the kernel only reads, alive for the call.
            let ret = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_GET_ACTION_AVAIL,
                    0,
                    action as *const u32,
                )
            };
            ret != 0
        })
        .map(|&(name, _)| name)
        .collect();
    let filter = Filter::deny(
        &[libc::SYS_io_uring_setup as u32],
        &[libc::AF_PACKET as u32],
        1,
    )
    .map_err(|_| Errno::EINVAL)?;
    Ok(Probe {
        mode,
        filters,
        missing_actions,
        trial: trial(&filter)?,
    })
}

/// Loads `filter` in a forked child (which runs only async-signal-safe code, as the process may
/// have other threads) and returns what [`apply`] said there, through a pipe.
fn trial(filter: &Filter) -> Result<Result<(), Failure>, Errno> {
    use std::io::Read;
    let (read_end, write_end) = nix::unistd::pipe()?;
    // SAFETY: the child calls only prctl, openat/pread64/fstatfs (Account), seccomp, write and
    // _exit: async-signal-safe, no allocation, no lock.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            // SAFETY: prctl with no pointers.
            let nnp = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            let verdict: [i32; 2] = if nnp != 0 {
                [Stage::NoNewPrivs as i32, Errno::last() as i32]
            } else {
                let account = Account::open();
                match apply(std::slice::from_ref(filter), &account, None) {
                    Ok(()) => [-1, 0],
                    Err(failure) => [failure.stage as i32, failure.errno.map_or(0, |e| e as i32)],
                }
            };
            use std::os::fd::AsRawFd;
            // SAFETY: 8 bytes from a live array into our pipe; then _exit, no atexit handlers.
            unsafe {
                libc::write(write_end.as_raw_fd(), verdict.as_ptr().cast(), 8);
                libc::_exit(0)
            }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(write_end);
            let mut bytes = [0u8; 8];
            let read = std::fs::File::from(read_end).read_exact(&mut bytes);
            nix::sys::wait::waitpid(child, None)?;
            read.map_err(|_| Errno::ECHILD)?;
            let stage = i32::from_ne_bytes(bytes[..4].try_into().unwrap_or_default());
            let errno = i32::from_ne_bytes(bytes[4..].try_into().unwrap_or_default());
            let stage = match stage {
                -1 => return Ok(Ok(())),
                s if s == Stage::Procfs as i32 => Stage::Procfs,
                s if s == Stage::NoNewPrivs as i32 => Stage::NoNewPrivs,
                _ => Stage::Seccomp,
            };
            Ok(Err(Failure {
                stage,
                errno: (errno != 0).then(|| Errno::from_raw(errno)),
                remaining: crate::CapMask::EMPTY,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `filter` on one `seccomp_data` as the kernel would, for the instructions `deny`
    /// writes (loads, equality and `>=` jumps, returns).
    fn run(filter: &Filter, nr: u32, arch: u32, arg0: u64) -> u32 {
        run2(filter, nr, arch, arg0, 0)
    }

    fn run2(filter: &Filter, nr: u32, arch: u32, arg0: u64, arg1: u64) -> u32 {
        let data = |offset: u32| match offset {
            NR => nr,
            ARCH => arch,
            ARG0_LOW => arg0 as u32,
            ARG1_LOW => arg1 as u32,
            other => panic!("load at {other}"),
        };
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let i = filter.0[pc];
            pc += 1;
            match i.code {
                LD_ABS => a = data(i.k),
                JEQ => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                0x35 => pc += usize::from(if a >= i.k { i.jt } else { i.jf }),
                AND => a &= i.k,
                RET => return i.k,
                other => panic!("opcode {other:#x}"),
            }
        }
    }

    fn spec(families: &[&str], syscalls: &[&str], errno: Option<&str>) -> Seccomp {
        Seccomp {
            deny_socket_families: families.iter().map(|s| s.to_string()).collect(),
            deny_syscalls: syscalls.iter().map(|s| s.to_string()).collect(),
            errno: errno.map(str::to_string),
            program: None,
        }
    }

    #[test]
    fn the_deny_list_fails_what_it_lists_and_allows_the_rest() {
        let filters = spec(
            &["inet", "AF_INET6", "pf_netlink"],
            &["mkdir", "unshare"],
            Some("EACCES"),
        )
        .filters()
        .unwrap();
        assert_eq!(filters.len(), 1);
        let f = &filters[0];
        let errno = RET_ERRNO | libc::EACCES as u32;
        let socket = libc::SYS_socket as u32;
        let pair = libc::SYS_socketpair as u32;
        for family in [libc::AF_INET, libc::AF_INET6, libc::AF_NETLINK] {
            assert_eq!(run(f, socket, AUDIT_ARCH, family as u64), errno);
            assert_eq!(run(f, pair, AUDIT_ARCH, family as u64), errno);
            // The kernel takes the family as an int: the high half of the register is ignored.
            assert_eq!(run(f, socket, AUDIT_ARCH, (7 << 32) | family as u64), errno);
        }
        assert_eq!(run(f, socket, AUDIT_ARCH, libc::AF_UNIX as u64), RET_ALLOW);
        assert_eq!(run(f, pair, AUDIT_ARCH, libc::AF_UNIX as u64), RET_ALLOW);
        for denied in [libc::SYS_unshare, libc::SYS_io_uring_setup] {
            assert_eq!(run(f, denied as u32, AUDIT_ARCH, 0), errno);
        }
        #[cfg(target_arch = "x86_64")]
        assert_eq!(run(f, libc::SYS_mkdir as u32, AUDIT_ARCH, 0), errno);
        for allowed in [
            libc::SYS_read,
            libc::SYS_execve,
            libc::SYS_connect,
            libc::SYS_mkdirat,
        ] {
            assert_eq!(
                run(f, allowed as u32, AUDIT_ARCH, libc::AF_INET as u64),
                RET_ALLOW
            );
        }
    }

    #[test]
    fn the_filesystem_rule_fails_unix_sockets_but_a_stream_pair() {
        let (socket, pair) = (libc::SYS_socket as u32, libc::SYS_socketpair as u32);
        let unix = libc::AF_UNIX as u64;
        let eacces = RET_ERRNO | libc::EACCES as u32;
        // io_uring: the user's errno when their own families deny it first.
        for (given, uring) in [
            (spec(&[], &[], None), eacces),
            (spec(&["inet"], &["unshare"], Some("EPERM")), RET_ERRNO | 1),
        ] {
            let filters = given.filters_with(Some(libc::EACCES)).unwrap();
            assert_eq!(filters.len(), 1);
            let f = &filters[0];
            let flags = (libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK) as u64;
            assert_eq!(
                run2(f, socket, AUDIT_ARCH, unix, libc::SOCK_STREAM as u64),
                eacces
            );
            assert_eq!(
                run2(f, socket, AUDIT_ARCH, unix, libc::SOCK_DGRAM as u64),
                eacces
            );
            for kind in [libc::SOCK_STREAM, libc::SOCK_SEQPACKET] {
                let kind = kind as u64;
                assert_eq!(run2(f, pair, AUDIT_ARCH, unix, kind), RET_ALLOW);
                assert_eq!(run2(f, pair, AUDIT_ARCH, unix, kind | flags), RET_ALLOW);
            }
            for kind in [libc::SOCK_DGRAM, libc::SOCK_RAW, libc::SOCK_RDM] {
                let kind = kind as u64;
                assert_eq!(run2(f, pair, AUDIT_ARCH, unix, kind | flags), eacces);
            }
            assert_eq!(
                run2(f, socket, AUDIT_ARCH, libc::AF_INET6 as u64, 1),
                RET_ALLOW
            );
            assert_eq!(
                run(f, libc::SYS_io_uring_setup as u32, AUDIT_ARCH, 0),
                uring
            );
            assert_eq!(
                run(f, libc::SYS_connect as u32, AUDIT_ARCH, unix),
                RET_ALLOW
            );
        }
        // The user's own families keep their errno, AF_UNIX included, for both calls.
        let f = &spec(&["inet", "unix"], &[], Some("EPERM"))
            .filters_with(Some(libc::EACCES))
            .unwrap()[0];
        assert_eq!(
            run(f, socket, AUDIT_ARCH, libc::AF_INET as u64),
            RET_ERRNO | 1
        );
        assert_eq!(run2(f, pair, AUDIT_ARCH, unix, 1), RET_ERRNO | 1);
        // With a program of the user's: two filters, the rule in capspawn's own.
        let given = Seccomp {
            program: Some(
                [RET.to_ne_bytes(), [0, 0]]
                    .concat()
                    .into_iter()
                    .chain(RET_ALLOW.to_ne_bytes())
                    .collect(),
            ),
            ..Seccomp::default()
        };
        assert_eq!(given.filters_with(Some(libc::EACCES)).unwrap().len(), 2);
        assert_eq!(given.filters().unwrap().len(), 1);
    }

    #[test]
    fn a_denied_call_takes_io_uring_too() {
        // IORING_OP_CONNECT connects without connect(2): denying connect alone must close rings.
        let f = &spec(&[], &["connect"], Some("EACCES")).filters().unwrap()[0];
        let errno = RET_ERRNO | libc::EACCES as u32;
        for denied in [
            libc::SYS_connect,
            libc::SYS_io_uring_setup,
            libc::SYS_io_uring_enter,
            libc::SYS_io_uring_register,
        ] {
            assert_eq!(run(f, denied as u32, AUDIT_ARCH, 0), errno, "{denied}");
        }
        assert_eq!(run(f, libc::SYS_socket as u32, AUDIT_ARCH, 2), RET_ALLOW);
        // A name only another target has denies nothing here but still takes the rings.
        #[cfg(target_arch = "aarch64")]
        assert_eq!(
            run(
                &spec(&[], &["open"], None).filters().unwrap()[0],
                libc::SYS_io_uring_setup as u32,
                AUDIT_ARCH,
                0
            ),
            RET_ERRNO | 1
        );
    }

    #[test]
    fn foreign_architectures_and_x32_are_killed() {
        let f = &spec(&["inet"], &[], None).filters().unwrap()[0];
        const AUDIT_ARCH_I386: u32 = 0x4000_0003;
        for arch in [AUDIT_ARCH_I386, 0xc000_00b7 ^ 0xc000_003e ^ AUDIT_ARCH, 0] {
            // i386's 20 is getpid, its 41 dup; aarch64's 198 is socket: all the same to it.
            for nr in [20, 41, 198, libc::SYS_read as u32] {
                assert_eq!(run(f, nr, arch, 0), RET_KILL_PROCESS, "{arch:#x} {nr}");
            }
        }
        #[cfg(target_arch = "x86_64")]
        for nr in [X32_SYSCALL_BIT | 41, X32_SYSCALL_BIT | 39, u32::MAX - 1] {
            assert_eq!(
                run(f, nr, AUDIT_ARCH, libc::AF_INET as u64),
                RET_KILL_PROCESS,
                "{nr:#x}"
            );
        }
    }

    #[test]
    fn nr_minus_one_a_tracers_skipped_call_is_let_through() {
        // A tracer skips a call by setting nr to -1; the kernel then runs nothing. Neither a
        // kill (x32 is nr >= 0x40000000) nor the errno, with calls and a family denied.
        let every = spec(&["inet"], &["connect", "unshare"], Some("EACCES"));
        let f = &every.filters().unwrap()[0];
        for arg0 in [0, libc::AF_INET as u64] {
            assert_eq!(run(f, u32::MAX, AUDIT_ARCH, arg0), RET_ALLOW);
        }
        // Only in this architecture's table: an i386 -1 is still a foreign call.
        assert_eq!(run(f, u32::MAX, 0x4000_0003, 0), RET_KILL_PROCESS);
    }

    #[test]
    fn the_errno_defaults_to_eperm_and_names_resolve() {
        let f = &spec(&[], &["unshare"], None).filters().unwrap()[0];
        assert_eq!(
            run(f, libc::SYS_unshare as u32, AUDIT_ARCH, 0),
            RET_ERRNO | 1
        );
        assert_eq!(errno_named("eacces"), Some(libc::EACCES));
        assert_eq!(errno_named("ENOSYS"), Some(libc::ENOSYS));
        assert_eq!(errno_named("EAFNOSUPPORT"), Some(libc::EAFNOSUPPORT));
        assert_eq!(errno_named("ENOTSUP"), Some(libc::EOPNOTSUPP));
        assert_eq!(errno_named("4095"), Some(4095));
        for bad in ["E_NOPE", "0", "4096", "-1", ""] {
            assert_eq!(errno_named(bad), None, "{bad}");
        }
        assert_eq!(socket_family("AF_UNIX"), Some(1));
        assert_eq!(socket_family("Local"), Some(1));
        assert_eq!(socket_family("vsock"), Some(40));
        assert_eq!(socket_family("17"), Some(17));
        for bad in ["AF_NOPE", "inet4", "65536", ""] {
            assert_eq!(socket_family(bad), None, "{bad}");
        }
        assert_eq!(syscall_number("unshare"), Syscall::Here(libc::SYS_unshare));
        assert_eq!(syscall_number("mkdri"), Syscall::Unknown);
        assert_eq!(syscall_number("SYS_mkdir"), Syscall::Unknown);
    }

    #[test]
    fn bad_input_is_an_error_before_anything_runs() {
        let invalid = |s: Seccomp| matches!(s.filters(), Err(SpawnError::InvalidInput { .. }));
        assert!(invalid(spec(&["inet9"], &[], None)));
        assert!(invalid(spec(&[], &["no_such_call"], None)));
        assert!(invalid(spec(&[], &["unshare"], Some("EWHAT"))));
        for needed in NEEDED_AFTER_LOADING {
            assert!(invalid(spec(&[], &[needed], None)), "{needed}");
        }
        for length in [0, 7, 9, 8 * 4097] {
            let program = Seccomp {
                program: Some(vec![0; length]),
                ..Seccomp::default()
            };
            assert!(invalid(program), "{length}");
        }
        // Nothing asked: no filter at all.
        assert_eq!(Seccomp::default().filters().unwrap(), Vec::new());
    }

    #[test]
    fn the_probe_loads_and_reads_back_in_a_throwaway_child() {
        let before = crate::proc_status::thread_self(None).unwrap();
        let probe = probe().unwrap();
        assert_eq!(probe.trial, Ok(()));
        assert_eq!(probe.missing_actions, Vec::<&str>::new());
        assert_eq!(probe.mode.map(u64::from), before.seccomp);
        assert_eq!(probe.filters, before.seccomp_filters);
        // Nothing was loaded here.
        assert_eq!(
            crate::proc_status::thread_self(None).unwrap().seccomp,
            before.seccomp
        );
    }

    #[test]
    fn a_program_is_taken_as_given_and_loaded_before_capspawns_own() {
        let mut bytes = Vec::new();
        bytes.extend(RET.to_ne_bytes());
        bytes.extend([0, 0]);
        bytes.extend(RET_ALLOW.to_ne_bytes());
        let given = Seccomp {
            program: Some(bytes),
            ..spec(&["inet"], &[], None)
        };
        let filters = given.filters().unwrap();
        assert_eq!(filters.len(), 2);
        assert_eq!(filters[0].instructions(), [op(RET, 0, 0, RET_ALLOW)]);
        assert_eq!(filters[1].instructions()[1], op(JEQ, 1, 0, AUDIT_ARCH));
    }

    #[test]
    fn every_family_and_every_call_fit_in_one_filter() {
        let families: Vec<String> = (0..=45).map(|n| n.to_string()).collect();
        let names: Vec<String> = SYSCALLS
            .iter()
            .chain(THIS_TARGET_ONLY)
            .map(|(n, _)| n.trim_start_matches("SYS_").to_string())
            .filter(|n| !NEEDED_AFTER_LOADING.contains(&n.as_str()))
            .collect();
        let all = Seccomp {
            deny_socket_families: families,
            deny_syscalls: names,
            ..Seccomp::default()
        };
        let f = &all.filters().unwrap()[0];
        assert!(f.instructions().len() <= MAX_INSTRUCTIONS);
        assert_eq!(
            run(f, libc::SYS_socket as u32, AUDIT_ARCH, 45),
            RET_ERRNO | 1
        );
        assert_eq!(run(f, libc::SYS_execve as u32, AUDIT_ARCH, 0), RET_ALLOW);
    }
}

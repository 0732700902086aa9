//! Raw syscalls for the child between `clone` and `execve`.
//!
//! Each wrapper is one syscall with no allocation and no lock. The set*id calls go straight to
//! the kernel with `syscall(2)`: glibc's `setresuid`/`setgroups` wrappers broadcast the change to
//! every thread of the process (its setxid machinery), and in a `CLONE_VM` child "every thread"
//! means the supervisor's. glibc's own `posix_spawn` does the same.
//!
//! A failing call sets `errno` of the thread that called `clone`; that thread is suspended until
//! the child execs or exits (`CLONE_VFORK`), so nothing else reads it meanwhile.

use nix::errno::Errno;
use std::ffi::CStr;
use std::os::fd::RawFd;

/// A raw syscall's return value: `Err(errno)` for a negative one.
pub(crate) fn check(ret: libc::c_long) -> Result<libc::c_long, Errno> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// `setgroups(2)`: replace the supplementary groups (needs `CAP_SETGID`).
pub fn setgroups(groups: &[libc::gid_t]) -> Result<(), Errno> {
    // SAFETY: the kernel reads `groups.len()` gids from a live slice.
    check(unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) }).map(drop)
}

/// `setresgid(2)` for this thread only.
pub fn setresgid(gid: libc::gid_t) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }).map(drop)
}

/// `setresuid(2)` for this thread only.
pub fn setresuid(uid: libc::uid_t) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }).map(drop)
}

/// `getresuid(2)`: (real, effective, saved).
pub fn getresuid() -> Result<[libc::uid_t; 3], Errno> {
    let mut ids = [0; 3];
    let [r, e, s] = &mut ids;
    // SAFETY: three valid, distinct out-pointers into `ids`.
    check(unsafe { libc::syscall(libc::SYS_getresuid, r as *mut _, e as *mut _, s as *mut _) })?;
    Ok(ids)
}

/// `getresgid(2)`: (real, effective, saved).
pub fn getresgid() -> Result<[libc::gid_t; 3], Errno> {
    let mut ids = [0; 3];
    let [r, e, s] = &mut ids;
    // SAFETY: three valid, distinct out-pointers into `ids`.
    check(unsafe { libc::syscall(libc::SYS_getresgid, r as *mut _, e as *mut _, s as *mut _) })?;
    Ok(ids)
}

/// `setsid(2)`: a new session and process group, with no controlling terminal.
pub fn setsid() -> Result<(), Errno> {
    // SAFETY: no arguments.
    check(unsafe { libc::syscall(libc::SYS_setsid) }).map(drop)
}

/// `dup3(old, new, 0)`: `new` becomes a copy of `old`, without `FD_CLOEXEC` (`old != new`;
/// `dup3` because not every architecture has a `dup2` syscall).
pub fn dup2(old: RawFd, new: RawFd) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_dup3, old, new, 0) }).map(drop)
}

/// Sets or clears `FD_CLOEXEC` on `fd`.
pub fn set_cloexec(fd: RawFd, on: bool) -> Result<(), Errno> {
    let flags = if on { libc::FD_CLOEXEC } else { 0 };
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_SETFD, flags) }).map(drop)
}

/// Clears `O_NONBLOCK` on `fd` (`fcntl` `F_GETFL`, then `F_SETFL` only if it was set).
pub fn set_blocking(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    let flags = check(unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL) })?;
    let flags = flags as libc::c_int;
    if flags & libc::O_NONBLOCK == 0 {
        return Ok(());
    }
    // SAFETY: integer arguments only.
    check(unsafe {
        libc::syscall(
            libc::SYS_fcntl,
            fd,
            libc::F_SETFL,
            flags & !libc::O_NONBLOCK,
        )
    })
    .map(drop)
}

/// Makes sure no descriptor from `first` up reaches the workload: marks them close-on-exec
/// with `close_range(CLOSE_RANGE_CLOEXEC)` (Linux 5.11); on 5.9 and 5.10, which lack the flag,
/// closes them with `close_range` (this child has its own descriptor table), all but `keep`
/// (close-on-exec already, and it must stay open until `execve`); before 5.9, marks each one
/// `/proc/self/fd` lists. Without a real procfs there, it fails: no bound on the descriptor
/// numbers is certain (one opened before `RLIMIT_NOFILE` was lowered stays above it).
pub fn cloexec_from(first: RawFd, keep: RawFd) -> Result<(), Errno> {
    let close_range = |from: libc::c_uint, to: libc::c_uint, flags: libc::c_uint| {
        if from > to {
            return Ok(());
        }
        // SAFETY: integer arguments only.
        check(unsafe { libc::syscall(libc::SYS_close_range, from, to, flags) }).map(drop)
    };
    let first = first.max(0) as libc::c_uint;
    match close_range(first, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC) {
        Err(Errno::EINVAL) if keep >= 0 && keep as libc::c_uint >= first => {
            let keep = keep as libc::c_uint;
            if keep > first {
                close_range(first, keep - 1, 0)?;
            }
            match keep.checked_add(1) {
                Some(next) => close_range(next, libc::c_uint::MAX, 0),
                None => Ok(()),
            }
        }
        Err(Errno::EINVAL) => close_range(first, libc::c_uint::MAX, 0),
        Err(Errno::ENOSYS) => cloexec_listed(first as RawFd),
        done => done,
    }
}

/// `fcntl(FD_CLOEXEC)` on each descriptor from `first` up that `/proc/self/fd` lists, read
/// with `getdents64` into a buffer on the stack. Fails unless that directory is on procfs and
/// its listing includes the descriptor reading it: anything else could be an incomplete list.
fn cloexec_listed(first: RawFd) -> Result<(), Errno> {
    let path = b"/proc/self/fd\0";
    // SAFETY: a NUL-terminated path; the new descriptor is closed below.
    let dir = check(unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })? as RawFd;
    let mut saw_dir = false;
    let listed = on_procfs(dir).and_then(|()| {
        each_listed_fd(dir, |fd| {
            saw_dir |= fd == dir;
            if fd < first || fd == dir {
                return Ok(());
            }
            match set_cloexec(fd, true) {
                Ok(()) | Err(Errno::EBADF) => Ok(()),
                Err(errno) => Err(errno),
            }
        })
    });
    // SAFETY: closes the descriptor opened above, which nothing else uses.
    unsafe { libc::syscall(libc::SYS_close, dir) };
    match listed {
        Ok(()) if !saw_dir => Err(Errno::EIO),
        other => other,
    }
}

/// `fstat(2)` as the raw syscall (usable between clone and execve): the file `fd` is open on.
pub(crate) fn fstat(fd: RawFd) -> Result<libc::stat, Errno> {
    // SAFETY: stat is plain data, for which all zeroes is a valid value.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes one stat into the live value.
    check(unsafe { libc::syscall(libc::SYS_fstat, fd, &mut stat as *mut libc::stat) })?;
    Ok(stat)
}

/// `ENOTSUP` unless `fd` is on procfs (`fstatfs`): an empty directory or a bind mount over
/// `/proc` would list nothing.
pub(crate) fn on_procfs(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: statfs is plain data, for which all zeroes is a valid value.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes one statfs into the live value.
    check(unsafe { libc::syscall(libc::SYS_fstatfs, fd, &mut stat as *mut libc::statfs) })?;
    if stat.f_type as u64 == libc::PROC_SUPER_MAGIC as u64 {
        Ok(())
    } else {
        Err(Errno::ENOTSUP)
    }
}

/// Calls `each` with every descriptor number in the open `/proc/<pid>/fd` directory `dir`.
/// `EIO` for anything but whole records naming `.`, `..` or a descriptor number.
fn each_listed_fd(
    dir: RawFd,
    mut each: impl FnMut(RawFd) -> Result<(), Errno>,
) -> Result<(), Errno> {
    // struct linux_dirent64: d_ino (8 bytes), d_off (8), d_reclen (2), d_type (1), d_name.
    const RECLEN: usize = 16;
    const NAME: usize = 19;
    #[repr(C, align(8))]
    struct Entries([u8; 4096]);
    let mut entries = Entries([0; 4096]);
    loop {
        // SAFETY: the kernel writes at most `entries.0.len()` bytes into the live buffer.
        let filled = check(unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir,
                entries.0.as_mut_ptr(),
                entries.0.len(),
            )
        })? as usize;
        if filled == 0 {
            return Ok(());
        }
        let records = entries.0.get(..filled).ok_or(Errno::EIO)?;
        let mut at = 0;
        while at < filled {
            let record = records.get(at..).ok_or(Errno::EIO)?;
            let reclen = match record.get(RECLEN..RECLEN + 2) {
                Some(&[low, high]) => u16::from_ne_bytes([low, high]) as usize,
                _ => return Err(Errno::EIO),
            };
            let name = record.get(NAME..reclen).ok_or(Errno::EIO)?;
            match fd_number(name) {
                Some(fd) => each(fd)?,
                None if name.starts_with(b".\0") || name.starts_with(b"..\0") => {}
                None => return Err(Errno::EIO),
            }
            at += reclen;
        }
    }
}

/// The descriptor a `/proc/<pid>/fd` entry names (decimal digits up to the NUL); `None` for
/// `.` and `..`.
fn fd_number(name: &[u8]) -> Option<RawFd> {
    let digits = name.split(|&b| b == 0).next()?;
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0 as RawFd, |fd, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        fd.checked_mul(10)?.checked_add(RawFd::from(b - b'0'))
    })
}

/// `chdir(2)`.
pub fn chdir(dir: &CStr) -> Result<(), Errno> {
    // SAFETY: a NUL-terminated path that outlives the call.
    check(unsafe { libc::syscall(libc::SYS_chdir, dir.as_ptr()) }).map(drop)
}

/// Sets every signal's disposition to the default, as `child_process` children get it (a
/// handler of the supervisor must never run in the child, which shares its memory, and an
/// ignored `SIGPIPE` must not leak into the workload). The raw `rt_sigaction`: musl's wrapper
/// takes a lock for `SIGABRT`, and glibc's refuses its own two internal signals.
pub fn default_all_signals() {
    // The kernel's `struct sigaction` (handler, flags, restorer, mask on x86_64 and aarch64);
    // all zero is SIG_DFL with no flags and an empty mask.
    let default = [0u64; 4];
    for signal in 1..=64 {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        sigaction(signal, Some(&default), None);
    }
}

/// Sets the signals of `mask` back to their default action: bit `n - 1` for signal `n`, as
/// procfs prints `SigIgn`. For a child made with `CLONE_CLEAR_SIGHAND`, which reset every
/// handler but left ignored signals ignored.
/// `EINVAL` when the kernel refused one (every signal but SIGKILL and SIGSTOP can be reset).
pub fn default_signals(mask: u64) -> Result<(), Errno> {
    let default = [0u64; 4];
    for signal in 1..=64 {
        if mask & (1 << (signal - 1)) != 0
            && signal != libc::SIGKILL
            && signal != libc::SIGSTOP
            && !sigaction(signal, Some(&default), None)
        {
            return Err(Errno::EINVAL);
        }
    }
    Ok(())
}

/// The kernel's `struct sigaction` on x86_64 and aarch64: handler, flags, restorer, mask.
type KernelSigaction = [u64; 4];

/// `rt_sigaction(2)`: sets `new` (if given) and reads the old action into `old` (if given);
/// false when the kernel refused.
fn sigaction(
    signal: libc::c_int,
    new: Option<&KernelSigaction>,
    old: Option<&mut KernelSigaction>,
) -> bool {
    let new = new.map_or(std::ptr::null(), |action| action.as_ptr());
    let old = old.map_or(std::ptr::null_mut(), |action| action.as_mut_ptr());
    // SAFETY: each pointer is null or a live 32-byte kernel sigaction for the call; the mask
    // size is the kernel's 8 bytes.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            signal,
            new,
            old,
            std::mem::size_of::<SignalMask>(),
        )
    };
    ret == 0
}

/// Sets back to the default every signal that has a handler (not `SIG_DFL`, not `SIG_IGN`,
/// which stay as they are, as `execve` leaves them): for a forked child, whose memory is a copy,
/// so the query costs nothing the shared memory of a `clone` child would not allow.
pub fn default_caught_signals() {
    let default = [0u64; 4];
    for signal in 1..=64 {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        let mut old = [0u64; 4];
        if sigaction(signal, None, Some(&mut old)) && old[0] > 1 {
            sigaction(signal, Some(&default), None);
        }
    }
}

/// Discards pending `SIGTSTP`, `SIGTTIN` and `SIGTTOU` (blocked, so still pending) by ignoring
/// each for a moment: the kernel drops a pending signal whose action becomes `SIG_IGN`. Each is
/// then back at `SIG_DFL`, which is what the workload inherits. With `only_pending`, only those
/// `rt_sigpending` lists (all three when it fails): one call instead of six, for a caller whose
/// earlier steps left all three at `SIG_DFL` already and that loaded no seccomp filter of the
/// user's (which need not let `rt_sigpending` through). A signal that arrives later is the
/// watchdog's, as before. (`SIGSTOP` cannot be blocked: it stops the child at once, and the
/// watchdog ends it.)
pub fn discard_pending_stop_signals(only_pending: bool) {
    let ignore = [1u64, 0, 0, 0]; // SIG_IGN, no flags, no restorer, empty mask
    let default = [0u64; 4];
    let mut pending: SignalMask = !0;
    if only_pending {
        // SAFETY: an 8-byte kernel sigset, the pointer valid for the call.
        let asked = unsafe { libc::syscall(libc::SYS_rt_sigpending, &mut pending, 8) };
        if check(asked).is_err() {
            pending = !0;
        }
    }
    for signal in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
        if pending & (1 << (signal - 1)) == 0 {
            continue;
        }
        for action in [&ignore, &default] {
            sigaction(signal, Some(action), None);
        }
    }
}

/// The calling thread's signal mask, as the kernel's 64-bit set.
pub type SignalMask = u64;

/// Replaces this thread's signal mask with `mask` and returns the previous one. A raw
/// `rt_sigprocmask`, because glibc's wrapper will not block its internal signals.
pub fn set_signal_mask(mask: SignalMask) -> Result<SignalMask, Errno> {
    let mut old: SignalMask = 0;
    // SAFETY: 8-byte kernel sigsets, both pointers valid for the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &mask,
            &mut old,
            std::mem::size_of::<SignalMask>(),
        )
    })?;
    Ok(old)
}

/// `execve(2)`; returns only on failure.
///
/// # Safety
/// `argv` and `envp` must be NULL-terminated arrays of NUL-terminated strings that stay alive.
pub unsafe fn execve(
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
) -> Errno {
    // SAFETY: the caller guarantees the arrays; on success this never returns.
    unsafe { libc::syscall(libc::SYS_execve, path, argv, envp) };
    Errno::last()
}

/// The calling thread's signal mask, unchanged.
pub fn current_signal_mask() -> Result<SignalMask, Errno> {
    let mut current: SignalMask = 0;
    // SAFETY: a NULL new set only reads the mask into `current`.
    check(unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            std::ptr::null::<SignalMask>(),
            &mut current,
            std::mem::size_of::<SignalMask>(),
        )
    })?;
    Ok(current)
}

/// `umask(2)`; always succeeds.
pub fn umask(mask: libc::mode_t) {
    // SAFETY: integer argument only.
    unsafe { libc::syscall(libc::SYS_umask, mask) };
}

/// A resource limit's number (`libc::RLIMIT_NOFILE`, …), whose type differs between libcs.
#[cfg(target_env = "gnu")]
pub type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
pub type Resource = libc::c_int;

/// `setrlimit(2)`, as `prlimit64` of the caller (not every architecture has `setrlimit`);
/// raising a hard limit needs `CAP_SYS_RESOURCE`.
pub fn setrlimit(resource: Resource, limit: &libc::rlimit) -> Result<(), Errno> {
    let (new, no_old): (*const libc::rlimit, *mut libc::rlimit) = (limit, std::ptr::null_mut());
    // SAFETY: pid 0 is the caller; `new` is valid for the call; the old limit is not read.
    check(unsafe { libc::syscall(libc::SYS_prlimit64, 0, resource, new, no_old) }).map(drop)
}

/// `PR_SET_PDEATHSIG`: `signal` is sent to us when the thread that created us exits.
pub fn set_parent_death_signal(signal: libc::c_int) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    check(unsafe {
        libc::syscall(
            libc::SYS_prctl,
            libc::PR_SET_PDEATHSIG,
            signal as libc::c_ulong,
            0,
            0,
            0,
        )
    })
    .map(drop)
}

/// `gettid(2)`: this thread's id in its own pid namespace (the pid, in a single-threaded child).
pub fn gettid() -> libc::pid_t {
    // SAFETY: no arguments; always succeeds.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::pid_t }
}

/// `getppid(2)`.
pub fn getppid() -> libc::pid_t {
    // SAFETY: no arguments; always succeeds.
    unsafe { libc::syscall(libc::SYS_getppid) as libc::pid_t }
}

/// `getgroups(2)` into `groups`; the number written. The kernel keeps the list sorted.
pub fn getgroups(groups: &mut [libc::gid_t]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most `groups.len()` gids into the live slice.
    check(unsafe { libc::syscall(libc::SYS_getgroups, groups.len(), groups.as_mut_ptr()) })
        .map(|n| n as usize)
}

/// The `fs.suid_dumpable` sysctl (0, 1 or 2), read with raw syscalls into a stack buffer.
pub fn suid_dumpable() -> Result<u8, Errno> {
    let path = b"/proc/sys/fs/suid_dumpable\0";
    // SAFETY: a NUL-terminated path; the new descriptor is closed below.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    })? as RawFd;
    let mut text = [0u8; 8];
    // SAFETY: the kernel writes at most `text.len()` bytes into the live buffer.
    let read = check(unsafe { libc::syscall(libc::SYS_read, fd, text.as_mut_ptr(), text.len()) });
    // SAFETY: closes the descriptor opened above, which nothing else uses.
    unsafe { libc::syscall(libc::SYS_close, fd) };
    match (read?, text) {
        (1.., [digit @ b'0'..=b'2', ..]) => Ok(digit - b'0'),
        _ => Err(Errno::EIO),
    }
}

/// `PR_GET_DUMPABLE`: 1 when the process may be ptraced by its own uid, 0 when only with
/// `CAP_SYS_PTRACE`, 2 when only by root (`fs.suid_dumpable=2`).
pub fn dumpable() -> Result<libc::c_long, Errno> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_prctl, libc::PR_GET_DUMPABLE, 0, 0, 0, 0) })
}

/// `PR_SET_DUMPABLE`: whether the process (here: the memory it shares with the supervisor) may
/// be ptraced by its own uid.
pub fn set_dumpable(dumpable: bool) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    check(unsafe {
        libc::syscall(
            libc::SYS_prctl,
            libc::PR_SET_DUMPABLE,
            dumpable as libc::c_ulong,
            0,
            0,
            0,
        )
    })
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::fd_number;

    #[test]
    fn a_pending_blocked_stop_signal_is_discarded_and_its_action_is_the_default() {
        // In a forked child (the harness has other threads): block SIGTSTP, raise it, discard.
        let bit = |signal: libc::c_int| 1u64 << (signal - 1);
        // SAFETY: the child only makes raw syscalls and _exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let ok = (|| {
                super::set_signal_mask(bit(libc::SIGTSTP)).ok()?;
                // SAFETY: signals this process only.
                unsafe { libc::kill(libc::getpid(), libc::SIGTSTP) };
                let mut pending = 0u64;
                // SAFETY: an 8-byte kernel sigset out-parameter.
                unsafe { libc::syscall(libc::SYS_rt_sigpending, &mut pending, 8) };
                if pending & bit(libc::SIGTSTP) == 0 {
                    return None; // the control: it was pending
                }
                super::discard_pending_stop_signals(true);
                // SAFETY: as above.
                unsafe { libc::syscall(libc::SYS_rt_sigpending, &mut pending, 8) };
                let mut action = [u64::MAX; 4];
                // SAFETY: a query of the action into a 32-byte kernel sigaction.
                unsafe {
                    libc::syscall(
                        libc::SYS_rt_sigaction,
                        libc::SIGTSTP,
                        std::ptr::null::<u64>(),
                        action.as_mut_ptr(),
                        8,
                    )
                };
                (pending & bit(libc::SIGTSTP) == 0 && action[0] == 0).then_some(())
            })();
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(if ok.is_some() { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: our own child, a valid out-pointer.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{status}"
        );
    }

    #[test]
    fn fd_numbers_are_read_from_proc_entry_names() {
        assert_eq!(fd_number(b"0\0"), Some(0));
        assert_eq!(fd_number(b"1047\0\0\0"), Some(1047));
        assert_eq!(fd_number(b"2147483647\0"), Some(i32::MAX));
        for name in [&b".\0"[..], b"..\0", b"\0", b"", b"12a\0", b"2147483648\0"] {
            assert_eq!(fd_number(name), None, "{name:?}");
        }
    }
}

//! The child's descriptor table: a small copy of the supervisor's, however many descriptors the
//! supervisor holds.
//!
//! Kernel rules:
//! - `clone` without `CLONE_FILES` copies the whole table (`dup_fd` takes a reference to every
//!   open file), and `execve` then closes every close-on-exec descriptor one by one: both grow
//!   with the supervisor's descriptors (a supervisor holding 10,000 made a spawn 50% slower).
//! - `close_range(limit, ~0U, CLOSE_RANGE_UNSHARE)` in a task that shares its table
//!   (`CLONE_FILES`) gives it a private copy of only the descriptors below `limit`, and closes
//!   nothing in the table it shared (Linux 5.9).
//!
//! So the child shares the supervisor's table and, before it touches any descriptor, unshares it
//! keeping only what lies below the [`Lease`]'s limit. The descriptors it needs from above (the
//! pipes made for the spawn, the exit watch, a descriptor of the supervisor's it is given) the
//! parent first copies into *slots*: descriptors at low numbers reserved on a placeholder pipe
//! (see [`reserve`]) that get their placeholder back as soon as `clone` returns. A spawn that
//! cannot lease the slots (a kernel without `CLOSE_RANGE_UNSHARE`, a slot the supervisor closed,
//! more descriptors than slots) copies the whole table as before.

use nix::errno::Errno;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

/// A descriptor capspawn keeps for itself (a lock, an epoll, a timer, a pidfd), renumbered to 3
/// or above if it took 0, 1 or 2, which a supervisor that closed its stdio leaves free. The
/// kernel gives the lowest free number, and `Stdio::Inherit` of 0, 1 or 2 passes whatever is
/// open there: it must find the number as the supervisor left it, not one of capspawn's own
/// (the memory gate's lock, say, whose `LOCK_UN` in the workload would release the gate).
/// `fcntl(F_DUPFD_CLOEXEC, 3)` takes the lowest free number from 3, and the low one is closed;
/// on failure (`EMFILE`) `fd` is left as it was.
pub(crate) fn above_stdio(fd: &mut OwnedFd) -> Result<(), Errno> {
    if fd.as_raw_fd() > 2 {
        return Ok(());
    }
    let moved = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::F_DUPFD_CLOEXEC(3))?;
    // SAFETY: fcntl just returned this descriptor; nothing else owns it.
    *fd = unsafe { OwnedFd::from_raw_fd(moved) };
    Ok(())
}

/// Slots to lease: the child's stdio sources (three, one per standard stream, more with extra
/// `stdio` entries), the exit watch and a few more. A spawn that needs more copies the table.
const SLOTS: usize = 8;

/// The reserved descriptors. `None` until [`reserve`], `Some(None)` once found unusable.
static RESERVED: Mutex<Option<Option<Reserved>>> = Mutex::new(None);

struct Reserved {
    /// The read end of a pipe whose write end is closed: each slot is a copy of it while idle.
    placeholder: OwnedFd,
    /// The placeholder's identity, to tell a slot still ours from a number the supervisor
    /// closed and reused.
    identity: (libc::dev_t, libc::ino_t),
    /// The slots, lowest first, every one below `limit`.
    slots: [RawFd; SLOTS],
    /// One more copy, at the lowest number above every slot: the child's table keeps only the
    /// descriptors below it, so the child checks this one is gone there.
    limit: RawFd,
}

/// Reserves the slots now, at the lowest free numbers, so that a supervisor that opens many
/// descriptors later still gives its children small tables. Called when the binding loads;
/// otherwise the first spawn does it. Holds `SLOTS + 2` descriptors for the life of the process.
pub fn reserve() {
    let mut reserved = RESERVED.lock().unwrap_or_else(|p| p.into_inner());
    if reserved.is_none() {
        *reserved = Some(Reserved::new().ok());
    }
}

impl Reserved {
    fn new() -> Result<Reserved, Errno> {
        let (mut read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        drop(write);
        above_stdio(&mut read)?;
        let stat = nix::sys::stat::fstat(read.as_raw_fd())?;
        let mut copies = Vec::with_capacity(SLOTS + 1);
        for _ in 0..=SLOTS {
            let fd = nix::fcntl::fcntl(read.as_raw_fd(), nix::fcntl::F_DUPFD_CLOEXEC(3))?;
            // SAFETY: fcntl just returned this descriptor; nothing else owns it.
            copies.push(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        // The lowest free numbers, in order; the highest becomes the limit.
        let mut numbers: Vec<RawFd> = copies.into_iter().map(into_raw).collect();
        numbers.sort_unstable();
        let limit = numbers.pop().ok_or(Errno::EINVAL)?;
        let mut slots = [-1; SLOTS];
        slots.copy_from_slice(&numbers);
        Ok(Reserved {
            placeholder: read,
            identity: (stat.st_dev, stat.st_ino),
            slots,
            limit,
        })
    }

    /// Whether `fd` is still one of our placeholder copies.
    fn holds_placeholder(&self, fd: RawFd) -> bool {
        nix::sys::stat::fstat(fd).is_ok_and(|stat| (stat.st_dev, stat.st_ino) == self.identity)
    }
}

fn into_raw(fd: OwnedFd) -> RawFd {
    std::os::fd::IntoRawFd::into_raw_fd(fd)
}

/// Whether the kernel has `CLOSE_RANGE_UNSHARE` (5.9). Asked once, of a throwaway child: in the
/// supervisor the flag would give the calling thread a descriptor table of its own.
fn unshare_supported() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    static KNOWN: AtomicU8 = AtomicU8::new(0);
    match KNOWN.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => match crate::clone::probe_close_range_unshare() {
            Ok(supported) => {
                KNOWN.store(if supported { 1 } else { 2 }, Ordering::Relaxed);
                supported
            }
            Err(_) => false,
        },
    }
}

/// The child's half of the probe: on its own private table the flag unshares nothing, and the
/// empty range above every descriptor closes nothing.
pub(crate) fn probe_unshare_in_child() -> bool {
    // SAFETY: integer arguments only.
    let result = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            libc::c_uint::MAX,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_UNSHARE,
        )
    };
    result == 0
}

/// The slots for one spawn. Only one spawn at a time holds it (the memory gate admits one
/// child at a time, and the lease is taken and given back under it); dropping it gives every
/// slot its placeholder back, so the supervisor keeps no reference to the child's descriptors.
pub(crate) struct Lease {
    guard: std::sync::MutexGuard<'static, Option<Option<Reserved>>>,
    used: usize,
    /// What each used slot holds for this spawn, for the child to check after the unshare and
    /// for `drop` to close only what is still ours.
    placed: [Placed; SLOTS],
}

/// A slot and the identity of the file the parent put there.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Placed {
    slot: RawFd,
    identity: (libc::dev_t, libc::ino_t),
}

impl Lease {
    /// The slots, if they are usable: reserved (now, if nobody did), the placeholder and the
    /// limit still ours (each slot is checked when it is used).
    pub(crate) fn take() -> Option<Lease> {
        reserve();
        if !unshare_supported() {
            return None;
        }
        let mut guard = RESERVED.try_lock().ok()?;
        let usable = match guard.as_ref()? {
            Some(reserved) => {
                reserved.holds_placeholder(reserved.limit)
                    && reserved.holds_placeholder(reserved.placeholder.as_raw_fd())
            }
            None => return None,
        };
        if !usable {
            // The supervisor closed (and maybe reused) a number of ours: never touch them again.
            retire(&mut guard);
            return None;
        }
        Some(Lease {
            guard,
            used: 0,
            placed: [Placed::default(); SLOTS],
        })
    }

    fn reserved(&self) -> &Reserved {
        match &*self.guard {
            Some(Some(reserved)) => reserved,
            _ => unreachable!("a lease exists only over reserved slots"),
        }
    }

    /// The child's table keeps the descriptors below this number.
    pub(crate) fn limit(&self) -> RawFd {
        self.reserved().limit
    }

    /// The slots in use and what they hold, for [`unshare_below`].
    pub(crate) fn placed(&self) -> &[Placed] {
        &self.placed[..self.used]
    }

    /// The number by which the child finds `fd` in its table: `fd` itself below the limit,
    /// else a slot now holding a copy of it. `None` when the slots are all taken (or one is no
    /// longer ours): the spawn must then copy the whole table.
    pub(crate) fn place(&mut self, fd: RawFd) -> Option<RawFd> {
        let reserved = self.reserved();
        if fd < reserved.limit {
            return Some(fd);
        }
        let slot = *reserved.slots.get(self.used)?;
        if !reserved.holds_placeholder(slot) {
            return None;
        }
        // The copy names the same file: its identity is taken from `fd` before the slot is
        // touched, so a failure leaves the slot holding its placeholder, not an uncounted copy.
        let placed = Placed {
            slot,
            identity: identity(fd)?,
        };
        dup3_cloexec(fd, slot).ok()?;
        self.placed[self.used] = placed;
        self.used += 1;
        Some(slot)
    }
}

/// A descriptor's file, as `fstat` names it.
fn identity(fd: RawFd) -> Option<(libc::dev_t, libc::ino_t)> {
    nix::sys::stat::fstat(fd)
        .ok()
        .map(|stat| (stat.st_dev, stat.st_ino))
}

impl Drop for Lease {
    fn drop(&mut self) {
        let used = self.used;
        let placed = self.placed;
        let reserved = self.reserved();
        // The placeholder is copied back only from a number that still holds it: the supervisor
        // may have closed and reused it meanwhile.
        let source = reserved.placeholder.as_raw_fd();
        let mut broken = !reserved.holds_placeholder(source);
        for entry in &placed[..used] {
            broken = broken || dup3_cloexec(source, entry.slot).is_err();
        }
        if broken {
            // A slot that keeps a child's descriptor would keep its pipe open: close those that
            // still hold what this spawn put there, and use the slots no more.
            for entry in &placed[..used] {
                if identity(entry.slot) == Some(entry.identity) {
                    // SAFETY: this number holds the copy this spawn made: nothing else owns it.
                    unsafe { libc::close(entry.slot) };
                }
            }
            retire(&mut self.guard);
        }
    }
}

/// Gives up the slots for good: closes those of our numbers that still hold the placeholder, and
/// leaves alone any the supervisor has taken over (even the placeholder's own).
fn retire(reserved: &mut Option<Option<Reserved>>) {
    let Some(Some(old)) = reserved.take() else {
        *reserved = Some(None);
        return;
    };
    *reserved = Some(None);
    let Reserved {
        placeholder,
        slots,
        limit,
        ..
    } = &old;
    for &fd in slots.iter().chain([limit]) {
        if old.holds_placeholder(fd) {
            // SAFETY: this number still holds our placeholder pipe: nothing else owns it.
            unsafe { libc::close(fd) };
        }
    }
    let placeholder_fd = placeholder.as_raw_fd();
    let still_ours = old.holds_placeholder(placeholder_fd);
    let raw = into_raw(old.placeholder);
    if still_ours {
        // SAFETY: as above; `into_raw` gave up the OwnedFd, so it is closed once.
        unsafe { libc::close(raw) };
    }
}

fn dup3_cloexec(fd: RawFd, target: RawFd) -> Result<(), Errno> {
    // SAFETY: dup3 onto a number this module reserved; it owns that number.
    let result = unsafe { libc::dup3(fd, target, libc::O_CLOEXEC) };
    Errno::result(result).map(drop)
}

/// The child's first descriptor step, in the supervisor's table (`CLONE_FILES`): a private table
/// with only the descriptors below `limit`. Trusting no return value, the copy at `limit` must
/// then be gone: a filter that fakes `close_range` would otherwise have the child `dup2` over
/// the supervisor's own stdio. And each slot must still hold what the parent put there: another
/// supervisor thread may have closed one and opened something else at its number meanwhile,
/// which the workload would otherwise get as its stdio.
pub(crate) fn unshare_below(limit: RawFd, placed: &[Placed]) -> Result<(), Option<Errno>> {
    // SAFETY: integer arguments only.
    let result = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            limit as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_UNSHARE,
        )
    };
    Errno::result(result).map_err(Some)?;
    // SAFETY: F_GETFD on a number only reads its flags (a raw syscall: this runs in the child).
    match crate::raw::check(unsafe { libc::syscall(libc::SYS_fcntl, limit, libc::F_GETFD) }) {
        Err(Errno::EBADF) => {}
        Ok(_) => return Err(None),
        Err(errno) => return Err(Some(errno)),
    }
    for entry in placed {
        let stat = crate::raw::fstat(entry.slot).map_err(Some)?;
        if (stat.st_dev, stat.st_ino) != entry.identity {
            return Err(None);
        }
    }
    Ok(())
}

/// In the child, after `setrlimit(RLIMIT_NOFILE)` lowered the soft limit: makes sure one
/// number below it is free. The kernel gives a new descriptor only a number below the soft
/// limit (`EMFILE`); the layers' checks after step 1 each need one (the namespace's
/// `/proc/thread-self/ns/net`, and Landlock's probe, whose open takes a number before it is
/// refused); and until `execve` the child's table still holds the supervisor's descriptors,
/// close-on-exec. `fcntl(probe, F_DUPFD_CLOEXEC, first)` takes the lowest free number from
/// `first` (past the stdio targets) under the same limit, so it tells; the copy of `probe`, one
/// of ours, is closed again, unless the answer cannot be the kernel's (below `first`, or one of
/// `keep`: a filter's lie, which must not make the child close its stdio or its exit watch).
/// When none is free, one descriptor from `first` up to `limit` is closed, as `execve` would
/// close it: preferably one of `placed` (a stdio source, already copied onto its target: a pipe
/// or `/dev/null` of ours, or the caller's own), else the lowest not in `keep`. `EMFILE` when
/// there is none, or still no room: the limit leaves no number past the workload's stdio.
/// Async-signal-safe: raw `fcntl` and `close`.
pub(crate) fn free_one_below(
    probe: RawFd,
    (first, limit): (RawFd, RawFd),
    placed: &[std::cell::Cell<RawFd>],
    keep: &[RawFd],
) -> Result<(), Errno> {
    let close = |fd: RawFd| {
        // SAFETY: closes a close-on-exec descriptor of the child's own table that it does not
        // use (the supervisor's table is not shared any more, see unshare_below); the result
        // does not matter: Linux frees the number even when close reports a flush error.
        unsafe { libc::syscall(libc::SYS_close, fd) };
    };
    let room = || {
        // SAFETY: integer arguments only (a raw syscall: this runs in the child).
        let copy = unsafe { libc::syscall(libc::SYS_fcntl, probe, libc::F_DUPFD_CLOEXEC, first) };
        let copy = RawFd::try_from(copy).unwrap_or(-1);
        let real = copy >= first && !keep.contains(&copy);
        if real {
            close(copy);
        }
        real
    };
    if room() {
        return Ok(());
    }
    let closable = |fd: RawFd| (first..limit).contains(&fd) && !keep.contains(&fd);
    let source = placed
        .iter()
        .map(std::cell::Cell::get)
        .find(|&fd| closable(fd));
    // Every number from `first` below the limit is taken: among the first `keep.len() + 1`,
    // one is not kept.
    let lowest = || (first..limit).take(keep.len() + 1).find(|&fd| closable(fd));
    close(source.or_else(lowest).ok_or(Errno::EMFILE)?);
    if room() {
        Ok(())
    } else {
        Err(Errno::EMFILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Runs `body` in a forked child, whose descriptor table is its own, with 3 to 7 taken
    /// (copies of 0) and `RLIMIT_NOFILE` at 8: its exit code is the test's outcome (0 passes).
    fn in_child_at_limit_8(body: fn() -> i32) {
        // SAFETY: the child runs only raw syscalls and async-signal-safe libc wrappers, then
        // _exit; the parent only waits.
        match unsafe { libc::fork() } {
            0 => {
                for fd in 3..8 {
                    // SAFETY: integer arguments only, in the child's own table.
                    if unsafe { libc::dup2(0, fd) } != fd {
                        // SAFETY: ends only the child.
                        unsafe { libc::_exit(100) };
                    }
                }
                let limit = libc::rlimit {
                    rlim_cur: 8,
                    rlim_max: 8,
                };
                // SAFETY: a valid rlimit; lowers the child's own limit.
                let code = if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
                    101
                } else {
                    body()
                };
                // SAFETY: ends only the child.
                unsafe { libc::_exit(code) }
            }
            pid => {
                let mut status = 0;
                // SAFETY: our own child; a valid out-pointer.
                assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
                assert!(libc::WIFEXITED(status), "status {status}");
                assert_eq!(libc::WEXITSTATUS(status), 0, "the child's failed check");
            }
        }
    }

    fn is_open(fd: RawFd) -> bool {
        // SAFETY: F_GETFD only reads descriptor flags.
        unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
    }

    #[test]
    fn with_no_number_free_below_the_limit_the_lowest_unkept_descriptor_is_closed() {
        in_child_at_limit_8(
            || match free_one_below(3, (3, 8), &[Cell::new(-1)], &[3, 4]) {
                Ok(()) if is_open(3) && is_open(4) && !is_open(5) && is_open(6) => 0,
                _ => 1,
            },
        );
    }

    #[test]
    fn a_stdio_source_past_the_targets_is_closed_first() {
        in_child_at_limit_8(|| {
            match free_one_below(3, (3, 8), &[Cell::new(1), Cell::new(6)], &[3]) {
                Ok(()) if is_open(3) && is_open(4) && !is_open(6) => 0,
                _ => 1,
            }
        });
    }

    #[test]
    fn with_every_number_kept_or_below_the_targets_it_is_emfile_and_nothing_is_closed() {
        in_child_at_limit_8(|| {
            let keep = [3, 4, 5, 6, 7];
            match free_one_below(3, (3, 8), &[Cell::new(-1)], &keep) {
                Err(Errno::EMFILE) if keep.iter().all(|&fd| is_open(fd)) => 0,
                _ => 1,
            }
        });
        // Targets up to the limit (stdio.len() 8): nothing past them to close.
        in_child_at_limit_8(|| match free_one_below(3, (8, 8), &[], &[]) {
            Err(Errno::EMFILE) if (3..8).all(is_open) => 0,
            _ => 1,
        });
    }

    #[test]
    fn a_free_number_below_the_limit_is_enough_and_nothing_is_closed() {
        in_child_at_limit_8(|| {
            // SAFETY: closes a copy of 0 made for the test, in the child's own table.
            unsafe { libc::close(6) };
            match free_one_below(3, (3, 8), &[Cell::new(4)], &[]) {
                Ok(()) if [3, 4, 5, 7].iter().all(|&fd| is_open(fd)) && !is_open(6) => 0,
                _ => 1,
            }
        });
    }
}

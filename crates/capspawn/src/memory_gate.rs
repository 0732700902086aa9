//! The supervisor's memory, which every `CLONE_VM` child shares until `execve` gives it memory
//! of its own: at most one child on it at a time, and the supervisor's dumpable flag.
//!
//! Kernel rules:
//! - `PR_SET_DUMPABLE` is a property of the memory (`mm->flags`), not of a task: a child that
//!   clears it (step 1 of the drop) clears it for the supervisor, and with `fs.suid_dumpable=1`
//!   every credential change of any task on that memory (`commit_creds`) sets it back to 1.
//!   While it is 1, a process of a task's uid whose capabilities include that task's permitted
//!   set may ptrace it, or open `/proc/<task>/mem`, and so write the supervisor's memory.
//! - `CLONE_VFORK` releases the parent in `exec_mm_release`, before `exec_mmap` switches the
//!   child to its new memory; `execve` closes close-on-exec descriptors (`do_close_on_exec`)
//!   only after that switch, and an exiting task releases its memory (`exit_mm`) before its
//!   descriptors (`exit_files`).
//!
//! So a child that has dropped its capabilities must never share the memory with a sibling whose
//! credential change could make it dumpable: the [`Gate`] admits one child at a time, from
//! before `clone` until the child's [`ExitWatch`] (a close-on-exec pipe only the child holds)
//! reads end-of-file. And the supervisor gets its flag back (to 1, only if it was 1) only then.
//! Usually the previous child is long gone when the next spawn comes: the check costs one
//! `poll`. A child whose end-of-file comes later than its spawn is settled by the next spawn,
//! or, when nothing spawns within [`SETTLE_DELAY`], by the watchdog thread, which then restores
//! the flag. Nobody waits or spins for it meanwhile: a back-to-back run of spawns wakes no
//! other thread. Other copies of this library in the process are kept out for as long by a
//! [`ProcessLock`].

use nix::errno::Errno;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

/// How long a spawn waits for the previous child's end-of-file. That child was past `execve`'s
/// point of no return microseconds before: only another process holding a copy of its write
/// end (a `fork` in another supervisor thread at that instant, until its own `execve`) can make
/// it wait. Past this, the previous child counts as gone (its exec cannot take this long), and
/// the supervisor's flag stays cleared for good, since it cannot be proved safe to restore.
const PREVIOUS_CHILD_WAIT: Duration = Duration::from_secs(1);

/// How long after a spawn whose child had not closed its exit watch yet the watchdog settles
/// it, if no other spawn did first. Measured here: half the children have closed it when
/// `clone` returns, the others within microseconds, but they need the CPU to do it: spinning
/// for them (as this once did, 20 µs) cost the spawning thread that time and woke the watchdog
/// on the child's CPU, at its exec, on about half the spawns. Only the supervisor's dumpable
/// flag waits this long, and only when nothing else spawns meanwhile.
pub(crate) const SETTLE_DELAY: Duration = Duration::from_millis(10);

/// A close-on-exec pipe whose write end, once `clone` has returned, only the child holds: its
/// end-of-file means the child has left the supervisor's memory.
pub(crate) struct ExitWatch {
    read: OwnedFd,
    write: OwnedFd,
}

impl ExitWatch {
    /// The pipe, with its write end at `lowest` or above, so that no stdio target the child
    /// `dup2`s onto can close it early.
    pub(crate) fn new(lowest: usize) -> Result<Self, Errno> {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let lowest = lowest as libc::c_int;
        if write.as_raw_fd() >= lowest {
            return Ok(ExitWatch { read, write });
        }
        let moved = nix::fcntl::fcntl(write.as_raw_fd(), nix::fcntl::F_DUPFD_CLOEXEC(lowest))?;
        // SAFETY: fcntl just returned this descriptor; nothing else owns it.
        let write = unsafe { OwnedFd::from_raw_fd(moved) };
        Ok(ExitWatch { read, write })
    }

    /// The write end, for the child (step 1 keeps it open).
    pub(crate) fn write_fd(&self) -> RawFd {
        self.write.as_raw_fd()
    }

    /// The read end, for the watchdog to tell an exec'd child from a held one.
    pub(crate) fn read_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }
}

/// Whether every write end of the pipe `read` is closed, waiting at most `timeout`.
pub(crate) fn hung_up(read: RawFd, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let mut poll = libc::pollfd {
            fd: read,
            events: libc::POLLIN,
            revents: 0,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = left.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd for the call.
        match unsafe { libc::poll(&mut poll, 1, ms) } {
            1 => return poll.revents & libc::POLLHUP != 0,
            0 => return false,
            _ if Errno::last() == Errno::EINTR => continue,
            _ => return false,
        }
    }
}

struct Pending {
    read: OwnedFd,
    /// When the spawn left it pending: past [`PREVIOUS_CHILD_WAIT`] it counts as gone.
    since: Instant,
}

struct State {
    /// The last child, until its exit watch reported.
    pending: Option<Pending>,
    /// The supervisor's flag before the current run of children, `None` between runs.
    owner_dumpable: Option<bool>,
    /// A child's exit could not be confirmed: never set the flag back.
    never_restore: bool,
    /// The gate as other copies of this library in the process see it (see [`ProcessLock`]).
    process: ProcessLock,
}

static STATE: Mutex<State> = Mutex::new(State {
    pending: None,
    owner_dumpable: None,
    never_restore: false,
    process: ProcessLock {
        file: None,
        locked: false,
    },
});

/// The gate across copies of this library in one process (two versions of the package in one
/// supervisor, each with its native addon and so its own [`STATE`]): without it, one copy's
/// restore of the dumpable flag, or its child's credential change, could come while the other
/// copy's child is dropping privileges on the same memory. Kernel rule: an open file
/// description lock (`F_OFD_SETLKW`) conflicts with one taken through any other open of the
/// same inode, in the same process too, and is not tied to a thread, so the watchdog can release
/// it for a pending child. The inode is the supervisor's own `/proc/<pid>/mem`: one per process,
/// and only a process that may ptrace the supervisor (and so own it anyway) can open it to
/// take the lock away. The file is never read or written. Where it cannot be opened (no procfs,
/// an LSM), the gate still holds among this copy's threads.
struct ProcessLock {
    /// The open file and the process it was opened in (a `fork` opens its own).
    file: Option<(u32, OwnedFd)>,
    locked: bool,
}

impl ProcessLock {
    /// Takes the lock (waiting for another copy's spawn to settle) unless this copy holds it.
    fn take(&mut self) {
        let pid = std::process::id();
        if self.file.as_ref().is_some_and(|(owner, _)| *owner != pid) {
            // A fork's inherited copy: closing it leaves the parent's lock alone (an OFD lock
            // goes with the description's last descriptor), and it is never unlocked from here.
            self.file = None;
            self.locked = false;
        }
        if self.locked {
            return;
        }
        if self.file.is_none() {
            let flags = nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC;
            let opened = nix::fcntl::open("/proc/self/mem", flags, nix::sys::stat::Mode::empty());
            // SAFETY: open just returned this descriptor; nothing else owns it.
            self.file = opened
                .ok()
                .map(|fd| (pid, unsafe { OwnedFd::from_raw_fd(fd) }));
        }
        if let Some((_, file)) = &self.file {
            self.locked = lock_ofd(file.as_raw_fd(), libc::F_WRLCK).is_ok();
        }
    }

    /// Lets the other copies in.
    fn release(&mut self) {
        if let (true, Some((_, file))) = (self.locked, &self.file) {
            let _ = lock_ofd(file.as_raw_fd(), libc::F_UNLCK);
        }
        self.locked = false;
    }
}

/// `fcntl(F_OFD_SETLKW)` on the first byte of `fd`: `F_WRLCK` waits for it, `F_UNLCK` lets go.
fn lock_ofd(fd: RawFd, kind: libc::c_int) -> Result<(), Errno> {
    // SAFETY: flock is plain data; all zeroes is valid.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_len = 1;
    loop {
        // SAFETY: a descriptor we own and a valid flock for the call.
        let ret = unsafe { libc::fcntl(fd, libc::F_OFD_SETLKW, &lock) };
        match Errno::result(ret) {
            Err(Errno::EINTR) => continue,
            other => return other.map(drop),
        }
    }
}

impl State {
    /// Waits for the previous child to leave the memory.
    fn settle(&mut self) {
        if let Some(previous) = self.pending.take() {
            if !hung_up(previous.read.as_raw_fd(), PREVIOUS_CHILD_WAIT) {
                self.never_restore = true;
            }
        }
    }

    /// No child is on the memory: the supervisor's flag back, to 1 if it was 1 (other values
    /// stay cleared: `PR_SET_DUMPABLE` cannot set 2, and 0 is what the supervisor had).
    fn restore(&mut self) {
        if self.owner_dumpable.take() == Some(true)
            && !self.never_restore
            && crate::raw::dumpable() != Ok(1)
        {
            let _ = crate::raw::set_dumpable(true);
        }
    }
}

/// Admission to the memory, held from before `clone` until [`Gate::leave`]. Other threads'
/// spawns wait meanwhile (at most until the watchdog ends a held child).
pub(crate) struct Gate {
    state: MutexGuard<'static, State>,
}

impl Gate {
    /// Waits for the gate and for the previous child to be off the memory.
    pub(crate) fn enter() -> Gate {
        let mut state = STATE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.settle();
        // After this copy's own previous child: with a child pending this copy holds it still.
        state.process.take();
        if state.owner_dumpable.is_none() {
            state.owner_dumpable = Some(crate::raw::dumpable() == Ok(1));
        }
        Gate { state }
    }

    /// After `clone` returned: the child is off the memory once `watch` reads end-of-file. If it
    /// already does, the flag comes back now; else the next spawn or the watchdog (after
    /// [`SETTLE_DELAY`]) settles it. `cloned` false: no child was made.
    pub(crate) fn leave(mut self, watch: ExitWatch, cloned: bool) {
        let ExitWatch { read, write } = watch;
        drop(write);
        if !cloned || hung_up(read.as_raw_fd(), Duration::ZERO) {
            self.state.restore();
            self.state.process.release();
            return;
        }
        // Pending: the other copies stay out until it is settled (here or by the watchdog).
        self.state.pending = Some(Pending {
            read,
            since: Instant::now(),
        });
        if crate::watchdog::settle_later(SETTLE_DELAY) {
            return;
        }
        // Nobody would settle it before this copy's next spawn, and the other copies wait for
        // that: settle it now.
        self.state.settle();
        self.state.restore();
        self.state.process.release();
    }
}

/// On the watchdog thread, [`SETTLE_DELAY`] after a spawn left its child pending: the flag back
/// if that child (or a later one still pending) has left the memory; else another look later,
/// until [`PREVIOUS_CHILD_WAIT`] has passed and it counts as gone for good. It must never wait
/// for the gate (a spawner holding it may be waiting for the watchdog to kill its child), so a
/// gate in use means that spawner settles the pending child itself.
pub(crate) fn settle_pending() -> Option<Duration> {
    let mut state = match STATE.try_lock() {
        Ok(state) => state,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => return None,
    };
    let pending = state.pending.as_ref()?;
    if hung_up(pending.read.as_raw_fd(), Duration::ZERO) {
        state.pending = None;
        state.restore();
        state.process.release();
        return None;
    }
    if pending.since.elapsed() >= PREVIOUS_CHILD_WAIT {
        state.pending = None;
        state.never_restore = true;
        state.process.release();
        return None;
    }
    Some(SETTLE_DELAY)
}

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

use crate::descriptor_table::above_stdio;
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
        let (mut read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        // The read end outlives the spawn while the child is still exec'ing (pending).
        above_stdio(&mut read)?;
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
        unavailable_in: 0,
    },
});

/// The gate across copies of this library in one process (two versions of the package in one
/// supervisor, each with its native addon and so its own [`STATE`]): without it, one copy's
/// restore of the dumpable flag, or its child's credential change, could come while the other
/// copy's child is dropping privileges on the same memory, and a copy could take the other's
/// cleared flag for the supervisor's own and never restore it.
///
/// Kernel rules: a `flock` lock belongs to an open file description and conflicts with one
/// taken through any other open of the same inode, in the same process too; it is not tied to a
/// thread (the watchdog releases it for a pending child). The inode is the supervisor's own
/// `/proc/<pid>/auxv`: one per process, opened read-only (`flock` needs no write access), and
/// `proc_mem_open` lets only a process that may read the supervisor's memory by ptrace open it,
/// so nobody else can take the lock away; read, it shows nothing but the auxiliary vector. It is
/// opened once per process and kept: procfs gives a non-dumpable task's files to root, so a
/// supervisor that is not root could not open it again while a child has the flag cleared.
struct ProcessLock {
    /// The open file and the process it was opened in (a `fork` inherits it, and must neither
    /// use nor unlock it).
    file: Option<(u32, OwnedFd)>,
    /// This copy holds the lock.
    locked: bool,
    /// The process in which `/proc/self/auxv` could not be opened (no procfs; an LSM that
    /// refuses): the gate then holds among this copy's threads only, and the open is not tried
    /// again. 0: not known. (A supervisor that is not root, and not dumpable at that moment,
    /// tries again at each spawn, which runs without the lock meanwhile.)
    unavailable_in: u32,
}

/// How long a spawn waits for another copy of this library to let it in: that copy's spawn and
/// the settling of its child, at most [`PREVIOUS_CHILD_WAIT`], with room to spare. Past it the
/// spawn is refused (`EAGAIN`) rather than waiting on without end.
const OTHER_COPY_WAIT: Duration = Duration::from_secs(3);

/// The calls a refused spawn names (`SpawnError::Setup`).
const OPEN: &str = "open(/proc/self/auxv)";
const FLOCK: &str = "flock(/proc/self/auxv)";

impl ProcessLock {
    /// Opens the file if this process has not yet (the binding does it when it loads, before
    /// any child of this copy can have the flag cleared).
    fn open(&mut self) -> Result<(), Errno> {
        let pid = std::process::id();
        if self.file.as_ref().is_some_and(|(owner, _)| *owner != pid) {
            // A fork's inherited copy: closing it leaves the parent's lock alone (the parent's
            // descriptor still holds the description), and it is never unlocked from here.
            self.file = None;
            self.locked = false;
        }
        if self.file.is_some() || self.unavailable_in == pid {
            return Ok(());
        }
        let flags = nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC;
        match nix::fcntl::open("/proc/self/auxv", flags, nix::sys::stat::Mode::empty()) {
            Ok(fd) => {
                // SAFETY: open just returned this descriptor; nothing else owns it.
                let mut file = unsafe { OwnedFd::from_raw_fd(fd) };
                above_stdio(&mut file)?;
                self.file = Some((pid, file));
            }
            Err(Errno::ENOENT | Errno::ENOTDIR) => self.unavailable_in = pid,
            // Refused while dumpable: an LSM, for good. Refused while not: procfs gives the file
            // to root then, and another copy's child may have the flag cleared just now: the next
            // spawn tries again.
            Err(Errno::EACCES | Errno::EPERM) => {
                if crate::raw::dumpable() == Ok(1) {
                    self.unavailable_in = pid;
                }
            }
            Err(errno) => return Err(errno),
        }
        Ok(())
    }

    /// Takes the lock (waiting for another copy's spawn to settle) unless this copy holds it;
    /// on failure, the call that failed.
    fn take(&mut self) -> Result<(), (&'static str, Errno)> {
        self.open().map_err(|e| (OPEN, e))?;
        let Some((_, file)) = self.file.as_ref().filter(|_| !self.locked) else {
            return Ok(());
        };
        let deadline = Instant::now() + OTHER_COPY_WAIT;
        let mut pause = Duration::from_micros(50);
        loop {
            // SAFETY: a descriptor we own; integer flags.
            let ret = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            match Errno::result(ret) {
                Ok(_) => break,
                Err(Errno::EINTR) => continue,
                Err(Errno::EWOULDBLOCK) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(2));
                }
                Err(Errno::EWOULDBLOCK) => return Err((FLOCK, Errno::EAGAIN)),
                Err(errno) => return Err((FLOCK, errno)),
            }
        }
        self.locked = true;
        Ok(())
    }

    /// Lets the other copies in (only from the process that took the lock).
    fn release(&mut self) {
        if let (true, Some((owner, file))) = (self.locked, &self.file) {
            if *owner == std::process::id() {
                // SAFETY: a descriptor we own; integer flags.
                unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
            }
        }
        self.locked = false;
    }
}

/// Opens the file of the gate across copies of this library ([`ProcessLock`]) now, while no
/// child of this copy is on the memory. Called when the Node binding loads; the first spawn
/// does it otherwise.
pub fn prepare() {
    let mut state = STATE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let _ = state.process.open();
}

impl State {
    /// Waits for the previous child to leave the memory.
    fn settle(&mut self) {
        self.settle_within(PREVIOUS_CHILD_WAIT);
    }

    /// Settles the pending child, if any, waiting at most `wait` for its exit watch: it is off
    /// the memory, or it has been pending for [`PREVIOUS_CHILD_WAIT`] since its spawn and counts
    /// as gone for good (the flag is then never set back). False while it is still within that
    /// time.
    fn settle_within(&mut self, wait: Duration) -> bool {
        let Some(pending) = &self.pending else {
            return true;
        };
        let left = PREVIOUS_CHILD_WAIT.saturating_sub(pending.since.elapsed());
        if !hung_up(pending.read.as_raw_fd(), wait.min(left)) {
            if wait < left {
                return false;
            }
            self.never_restore = true;
        }
        self.pending = None;
        true
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

    /// No child of this copy is on the memory: the flag back, and the other copies in.
    fn let_go(&mut self) {
        self.restore();
        self.process.release();
    }
}

/// Admission to the memory, held from before `clone` until [`Gate::leave`]. Other threads'
/// spawns wait meanwhile (at most until the watchdog ends a held child).
pub(crate) struct Gate {
    state: MutexGuard<'static, State>,
    /// [`Gate::leave`] ran: it settled the child and let the other copies in, or left both to
    /// the next spawn or the watchdog.
    left: bool,
}

impl Drop for Gate {
    /// A spawn that never got to `leave` (a panic between `enter` and `clone`) leaves no child
    /// on the memory: the other copies may come in.
    fn drop(&mut self) {
        if !self.left && self.state.pending.is_none() {
            self.state.process.release();
        }
    }
}

impl Gate {
    /// Waits for the gate and for the previous child to be off the memory. `EAGAIN` (from
    /// `flock`) when another copy of this library in the process held it for too long
    /// ([`OTHER_COPY_WAIT`]).
    pub(crate) fn enter() -> Result<Gate, (&'static str, Errno)> {
        let mut state = STATE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.settle();
        // After this copy's own previous child: with a child pending this copy holds it still.
        state.process.take()?;
        if state.owner_dumpable.is_none() {
            state.owner_dumpable = Some(crate::raw::dumpable() == Ok(1));
        }
        Ok(Gate { state, left: false })
    }

    /// After `clone` returned: the child is off the memory once `watch` reads end-of-file. If it
    /// already does, the flag comes back now; else the next spawn or the watchdog (after
    /// [`SETTLE_DELAY`]) settles it. `cloned` false: no child was made.
    pub(crate) fn leave(mut self, watch: ExitWatch, cloned: bool) {
        self.left = true;
        let ExitWatch { read, write } = watch;
        drop(write);
        if !cloned || hung_up(read.as_raw_fd(), Duration::ZERO) {
            self.state.let_go();
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
        self.state.let_go();
    }
}

/// On the watchdog thread, [`SETTLE_DELAY`] after a spawn left its child pending: the flag back
/// if that child (or a later one still pending) has left the memory; else true, for another
/// look after [`SETTLE_DELAY`], until [`PREVIOUS_CHILD_WAIT`] has passed and it counts as gone
/// for good. It must never wait for the gate (a spawner holding it may be waiting for the
/// watchdog to kill its child), so a gate in use means that spawner settles the pending child
/// itself.
pub(crate) fn settle_pending() -> bool {
    let mut state = match STATE.try_lock() {
        Ok(state) => state,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => return false,
    };
    if state.pending.is_none() {
        return false;
    }
    if !state.settle_within(Duration::ZERO) {
        return true;
    }
    state.let_go();
    false
}

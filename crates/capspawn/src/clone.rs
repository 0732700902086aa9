//! Starting the child: `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)` into [`privilege_drop::run`].
//!
//! Sharing the supervisor's memory (`CLONE_VM`) instead of copying its page tables the way
//! `fork` does keeps a spawn's cost flat however large the supervisor's heap is. `CLONE_VFORK`
//! suspends the calling thread until the child has exec'd or exited, so the child can use the
//! parent's memory (the plan, its stack, the failure slot) without any lock, and when `clone`
//! returns we already know whether the workload runs.

use crate::bounding_set::{self, BoundingSetError};
use crate::privilege_drop::{self, Failure, Privileges, ProcessSetup, Stage};
use nix::errno::Errno;
use std::os::fd::{FromRawFd, OwnedFd};

/// Stack for the child: it runs only [`privilege_drop::run`], whose frames are small.
const CHILD_STACK_SIZE: usize = 64 * 1024;
/// The size of the no-access page below the stack, so an overflow faults instead of writing
/// the heap: one page, whatever the page size.
fn guard_size() -> usize {
    // SAFETY: sysconf only reads a system setting.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page).unwrap_or(4096).max(4096)
}

/// Why a spawn did not start the workload.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum StartError {
    /// The supervisor could not create the child (`mmap`, `clone`).
    Clone(Errno),
    /// The child stopped before `execve` succeeded; it has been reaped.
    Child(Failure),
}

/// What the child reads and writes in the parent's memory.
struct Shared<'a> {
    setup: &'a ProcessSetup<'a>,
    privileges: &'a Privileges,
    failure: Option<Failure>,
}

/// Starts the child, which runs [`privilege_drop::run`] and execs the workload. Returns the
/// child's pid and pidfd once `execve` has succeeded; a child that failed is reaped first.
pub fn start(
    setup: &ProcessSetup,
    privileges: &Privileges,
) -> Result<(libc::pid_t, OwnedFd), StartError> {
    pidfds_supported().map_err(StartError::Clone)?;
    let mut shared = Shared {
        setup,
        privileges,
        failure: None,
    };
    let dumpable = SupervisorDumpable::enter();
    // SAFETY: `child_main` runs only async-signal-safe code (privilege_drop) and takes the
    // `Shared` we pass, which lives on this frame until clone_vfork has returned.
    let cloned = unsafe { clone_vfork(child_main, (&mut shared as *mut Shared).cast()) };
    drop(dumpable);
    let (pid, pidfd) = cloned.map_err(StartError::Clone)?;
    let died = Failure {
        stage: Stage::Died,
        errno: None,
        remaining: Default::default(),
    };
    let exec_reached = setup
        .exec_reached
        .load(std::sync::atomic::Ordering::Relaxed);
    match shared.failure.or((!exec_reached).then_some(died)) {
        None => Ok((pid, pidfd)),
        Some(failure) => {
            // The child has already exited (CLONE_VFORK returned); reap it so no zombie is left.
            let _ = crate::child::wait_pidfd(&pidfd, libc::WEXITED);
            Err(StartError::Child(failure))
        }
    }
}

/// The supervisor's `PR_SET_DUMPABLE` flag across spawns.
///
/// The flag belongs to the memory, which a `CLONE_VM` child shares with the supervisor: the
/// child clears it before it drops anything (step 1 of the drop), and the kernel clears it on
/// a uid change, so no process can ptrace that memory through the child. Left so, the
/// supervisor would lose its core dumps and its own uid's access to it (ptrace, most of
/// `/proc/<pid>`). Once the last child in flight has exec'd (into memory of its own) or
/// exited, the flag is set back to 1 if it was 1 before the first of them (never while
/// another child is still before `execve`). Other values stay cleared: `PR_SET_DUMPABLE`
/// cannot set 2 (`fs.suid_dumpable=2`), and 0 is what the supervisor had. A supervisor thread
/// that clears the flag itself while spawns are in flight sees it set back to 1 after them.
struct SupervisorDumpable;

struct InFlight {
    children: usize,
    was_dumpable: bool,
}

static IN_FLIGHT: std::sync::Mutex<InFlight> = std::sync::Mutex::new(InFlight {
    children: 0,
    was_dumpable: false,
});

fn in_flight() -> std::sync::MutexGuard<'static, InFlight> {
    IN_FLIGHT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SupervisorDumpable {
    fn enter() -> Self {
        let mut state = in_flight();
        if state.children == 0 {
            state.was_dumpable = crate::raw::dumpable() == Ok(1);
        }
        state.children += 1;
        SupervisorDumpable
    }
}

impl Drop for SupervisorDumpable {
    fn drop(&mut self) {
        let mut state = in_flight();
        state.children -= 1;
        if state.children == 0 && state.was_dumpable && crate::raw::dumpable() != Ok(1) {
            let _ = crate::raw::set_dumpable(true);
        }
    }
}

extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Shared` that `start` passed; its thread is suspended until we exec
    // or exit, so this is the only access.
    let shared = unsafe { &mut *arg.cast::<Shared>() };
    if let Err(failure) = privilege_drop::run(Some(shared.setup), shared.privileges) {
        shared.failure = Some(failure);
    } else {
        // run() with a setup returns only failures; fail closed if that ever changes.
        shared.failure = Some(Failure {
            stage: Stage::Exec,
            errno: Some(Errno::EINVAL),
            remaining: Default::default(),
        });
    }
    // SAFETY: _exit ends only this child, without atexit handlers or stdio flushing, which
    // belong to the supervisor.
    unsafe { libc::_exit(127) }
}

/// `ENOSYS` on a kernel that ignores `CLONE_PIDFD` (before 5.2). A real spawn would only see
/// that once its workload had exec'd, so the first spawn asks a throwaway child that exits at
/// once. The answer is kept once known; a failure to ask (`EAGAIN`, say) is not.
fn pidfds_supported() -> Result<(), Errno> {
    use std::sync::atomic::{AtomicU8, Ordering};
    const UNKNOWN: u8 = 0;
    const SUPPORTED: u8 = 1;
    const IGNORED: u8 = 2;
    static KNOWN: AtomicU8 = AtomicU8::new(UNKNOWN);
    match KNOWN.load(Ordering::Relaxed) {
        SUPPORTED => return Ok(()),
        IGNORED => return Err(Errno::ENOSYS),
        _ => {}
    }
    // SAFETY: `exit_main` only calls _exit; it uses no argument.
    match unsafe { clone_vfork(exit_main, std::ptr::null_mut()) } {
        Ok((_, pidfd)) => {
            // The pidfd is the answer. Reaping may fail (ECHILD when SIGCHLD is ignored and
            // the kernel reaped the child itself), which changes nothing.
            KNOWN.store(SUPPORTED, Ordering::Relaxed);
            let _ = crate::child::wait_pidfd(&pidfd, libc::WEXITED);
            Ok(())
        }
        Err(Errno::ENOSYS) => {
            KNOWN.store(IGNORED, Ordering::Relaxed);
            Err(Errno::ENOSYS)
        }
        Err(errno) => Err(errno),
    }
}

extern "C" fn exit_main(_: *mut libc::c_void) -> libc::c_int {
    // SAFETY: as in child_main.
    unsafe { libc::_exit(0) }
}

/// Tries the fail-closed bounding-set clear for real, in a throwaway child that clears, reports
/// and exits without exec'ing anything. Unlike reading capability masks, this also sees an LSM
/// or seccomp filter that refuses `PR_CAPBSET_DROP` although `CAP_SETPCAP` is effective.
pub fn probe_bounding_set_clear() -> Result<Result<(), BoundingSetError>, Errno> {
    crate::thread_caps::record_kernel_last_cap();
    let mut verdict: Option<Result<(), BoundingSetError>> = None;
    // SAFETY: `probe_main` runs only bounding_set::clear (async-signal-safe) and writes the
    // verdict we pass, which lives on this frame until clone_vfork has returned.
    let (_, pidfd) = unsafe { clone_vfork(probe_main, (&mut verdict as *mut Option<_>).cast()) }?;
    crate::child::wait_pidfd(&pidfd, libc::WEXITED)?;
    verdict.ok_or(Errno::ECHILD)
}

extern "C" fn probe_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the verdict slot of `probe_bounding_set_clear`, whose thread is suspended
    // until we exit.
    let verdict = unsafe { &mut *arg.cast::<Option<Result<(), BoundingSetError>>>() };
    *verdict = Some(bounding_set::clear());
    // SAFETY: as in child_main.
    unsafe { libc::_exit(0) }
}

/// `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)` into `entry(arg)`; returns once the child has
/// exec'd or exited, with its pid and pidfd. Every signal is blocked around the clone, so the
/// child starts with all of them blocked.
///
/// # Safety
/// `entry` must run only async-signal-safe code that does not return (it must exec or `_exit`),
/// and `arg` must stay valid until this returns.
unsafe fn clone_vfork(
    entry: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *mut libc::c_void,
) -> Result<(libc::pid_t, OwnedFd), Errno> {
    // One stack per calling thread, mapped once: CLONE_VFORK suspends this thread until its
    // child has exec'd or exited, so no two children use it at once.
    thread_local! {
        static STACK: std::cell::OnceCell<ChildStack> = const { std::cell::OnceCell::new() };
    }
    let stack_top = STACK.with(|cell| -> Result<*mut libc::c_void, Errno> {
        if cell.get().is_none() {
            let _ = cell.set(ChildStack::new()?);
        }
        Ok(cell.get().expect("set just above").top())
    })?;
    let mut pidfd: libc::c_int = -1;
    // Block every signal (glibc's internal ones included) so that none is handled in the child
    // before it has reset its handlers; restored right after clone.
    let saved = crate::raw::set_signal_mask(!0)?;
    let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD;
    // SAFETY: the caller vouches for `entry` and `arg`. The stack is this thread's mapping,
    // which lives as long as the thread; with CLONE_VFORK this thread is suspended until the
    // child has exec'd or exited. CLONE_PIDFD writes the pidfd into `pidfd`.
    let pid = unsafe { libc::clone(entry, stack_top, flags, arg, &mut pidfd as *mut libc::c_int) };
    let clone_errno = Errno::last();
    let _ = crate::raw::set_signal_mask(saved);
    if pid == -1 {
        return Err(clone_errno);
    }
    if pidfd < 0 {
        // A kernel older than 5.2 ignores CLONE_PIDFD: the child runs, but we could neither
        // signal it safely nor reap it by pidfd. Stop it (it is still our unreaped child, so the
        // pid is its own) and refuse.
        // SAFETY: kill and waitpid on our own unreaped child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        return Err(Errno::ENOSYS);
    }
    // SAFETY: CLONE_PIDFD gave us this new descriptor; nothing else owns it.
    Ok((pid, unsafe { OwnedFd::from_raw_fd(pidfd) }))
}

/// An anonymous mapping with a guard page, for the child's stack.
struct ChildStack {
    base: *mut libc::c_void,
    guard: usize,
}

impl ChildStack {
    fn new() -> Result<Self, Errno> {
        let guard = guard_size();
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                guard + CHILD_STACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        let stack = ChildStack { base, guard };
        // SAFETY: the first page of our own mapping.
        if unsafe { libc::mprotect(base, guard, libc::PROT_NONE) } == -1 {
            return Err(Errno::last());
        }
        Ok(stack)
    }

    /// The stack grows down from the end of the mapping (16-byte aligned: page aligned).
    fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of the mapping, which is where a downward stack starts.
        unsafe {
            self.base
                .cast::<u8>()
                .add(self.guard + CHILD_STACK_SIZE)
                .cast()
        }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`, which nothing uses any more.
        unsafe { libc::munmap(self.base, self.guard + CHILD_STACK_SIZE) };
    }
}

//! Starting the child: `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)` into [`privilege_drop::run`].
//!
//! Sharing the supervisor's memory (`CLONE_VM`) instead of copying its page tables the way
//! `fork` does keeps a spawn's cost flat however large the supervisor's heap is. `CLONE_VFORK`
//! suspends the calling thread until the child has exec'd or exited, so the child can use the
//! parent's memory (the plan, its stack, the failure slot) without any lock, and when `clone`
//! returns we already know whether the workload runs.

use crate::bounding_set::{self, BoundingSetError};
use crate::descriptor_table;
use crate::memory_gate::{ExitWatch, Gate};
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
    /// The supervisor could not set the child up or create it: which call failed, and how.
    Setup(&'static str, Errno),
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
    pidfds_supported().map_err(|e| StartError::Setup("clone", e))?;
    let mut shared = Shared {
        setup,
        privileges,
        failure: None,
    };
    let watch =
        ExitWatch::new(setup.stdio.len().max(3)).map_err(|e| StartError::Setup("pipe2", e))?;
    setup.exit_watch.set(watch.write_fd());
    // One child on the supervisor's memory at a time, until its exit watch reports (see
    // memory_gate): a sibling's credential change must never make that memory dumpable while
    // a child that has dropped its capabilities is still on it.
    let gate = Gate::enter().map_err(|(call, e)| StartError::Setup(call, e))?;
    // Under the gate, so no other spawn uses the slots: the child starts from a small copy of
    // the descriptor table when everything it needs fits below the slots' limit.
    let lease = small_table(setup);
    // The child checks the slots against this list, which stays where it is (the lease is not
    // moved again before it is dropped, after clone).
    if let Some(placed) = lease.as_ref().map(descriptor_table::Lease::placed) {
        setup.table_slots.set((placed.as_ptr(), placed.len()));
    }
    let arg = (&mut shared as *mut Shared).cast();
    // SAFETY: `child_main` runs only async-signal-safe code (privilege_drop) and takes the
    // `Shared` we pass, which lives on this frame until clone_vfork has returned.
    let cloned = unsafe {
        clone_vfork(
            child_main,
            arg,
            watch.read_fd(),
            lease.is_some(),
            Some(&setup.handlers_cleared),
        )
    };
    // The slots get their placeholders back before the exit watch is awaited: a slot holding
    // the watch's write end would keep it open.
    drop(lease);
    gate.leave(watch, cloned.is_ok());
    let (pid, pidfd, killed) = cloned.map_err(|e| StartError::Setup("clone", e))?;
    let died = Failure::unconfirmed(Stage::Died);
    let held = Failure::unconfirmed(Stage::Held);
    let exec_reached = setup
        .exec_reached
        .load(std::sync::atomic::Ordering::Relaxed);
    let failure = match shared.failure {
        Some(failure) => Some(failure),
        None if killed => Some(held),
        None => (!exec_reached).then_some(died),
    };
    match failure {
        None => {
            // The pidfd stays open while the child runs, so not at 0, 1 or 2 (see
            // above_stdio), where a later spawn's Stdio::Inherit would pass it on. Out of
            // descriptors it stays: another child's pidfd gives a workload nothing that
            // pidfd_open would not (the kernel checks the right to signal or ptrace on use).
            let mut pidfd = pidfd;
            let _ = descriptor_table::above_stdio(&mut pidfd);
            Ok((pid, pidfd))
        }
        Some(failure) => {
            // The child has exited (CLONE_VFORK returned, or it was killed); reap it so no
            // zombie is left.
            let _ = crate::child::wait_pidfd(&pidfd, libc::WEXITED);
            Err(StartError::Child(failure))
        }
    }
}

/// Renumbers what the child needs from the supervisor's table (its stdio sources and the exit
/// watch) into the slots of a [`descriptor_table::Lease`] and sets the child's table limit; or,
/// when they do not fit, leaves the setup as it is, for a child that copies the whole table.
fn small_table(setup: &ProcessSetup) -> Option<descriptor_table::Lease> {
    let mut lease = descriptor_table::Lease::take()?;
    // A slot must not be a stdio target the child dup2s onto (see StdioFds).
    let lowest = setup.stdio.len().max(3) as libc::c_int;
    let mut renumbered = Vec::with_capacity(setup.stdio.len() + 3);
    // The sandbox layers' descriptors (a namespace to join, a Landlock ruleset) go in slots too.
    let layers = setup.layer_fds();
    for fd in setup
        .stdio
        .iter()
        .chain(layers.iter().copied())
        .map(std::cell::Cell::get)
        .chain([setup.exit_watch.get()])
    {
        let placed = match fd {
            -1 => -1,
            _ => match renumbered.iter().find(|&&(from, _)| from == fd) {
                Some(&(_, to)) => to,
                None => lease.place(fd).filter(|&to| to == fd || to >= lowest)?,
            },
        };
        renumbered.push((fd, placed));
    }
    let (watch, placed_all) = renumbered.split_last()?;
    for (cell, &(_, placed)) in setup
        .stdio
        .iter()
        .chain(layers.iter().copied())
        .zip(placed_all)
    {
        cell.set(placed);
    }
    setup.exit_watch.set(watch.1);
    setup.table_limit.set(lease.limit());
    Some(lease)
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
    match unsafe { clone_vfork(exit_main, std::ptr::null_mut(), -1, false, None) } {
        Ok((_, pidfd, _)) => {
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

/// Whether `close_range` knows `CLOSE_RANGE_UNSHARE` here, asked of a throwaway child (see
/// [`descriptor_table`]).
pub(crate) fn probe_close_range_unshare() -> Result<bool, Errno> {
    let mut supported = false;
    // SAFETY: `unshare_probe_main` only makes one raw syscall and writes the flag we pass, which
    // lives on this frame until clone_vfork has returned.
    let (_, pidfd, _) = unsafe {
        clone_vfork(
            unshare_probe_main,
            (&mut supported as *mut bool).cast(),
            -1,
            false,
            None,
        )
    }?;
    crate::child::wait_pidfd(&pidfd, libc::WEXITED)?;
    Ok(supported)
}

extern "C" fn unshare_probe_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the flag of `probe_close_range_unshare`, whose thread is suspended until
    // we exit.
    let supported = unsafe { &mut *arg.cast::<bool>() };
    *supported = descriptor_table::probe_unshare_in_child();
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
    let (_, pidfd, _) = unsafe {
        clone_vfork(
            probe_main,
            (&mut verdict as *mut Option<_>).cast(),
            -1,
            false,
            None,
        )
    }?;
    crate::child::wait_pidfd(&pidfd, libc::WEXITED)?;
    verdict.ok_or(Errno::ECHILD)
}

extern "C" fn probe_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the verdict slot of `probe_bounding_set_clear`, whose thread is suspended
    // until we exit.
    let verdict = unsafe { &mut *arg.cast::<Option<Result<(), BoundingSetError>>>() };
    *verdict = Some(bounding_set::clear().and_then(|()| bounding_set::confirm_cleared()));
    // SAFETY: as in child_main.
    unsafe { libc::_exit(0) }
}

/// `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)` into `entry(arg)`; returns once the child has
/// exec'd or exited, with its pid, its pidfd and whether the watchdog killed it (stopped or held
/// before it got there). Every signal is blocked around the clone, so the child starts with all
/// of them blocked. `exit_watch` is the read end of the child's exit watch, or -1: the watchdog
/// spares a child whose exit watch says it has exec'd.
///
/// # Safety
/// `entry` must run only async-signal-safe code that does not return (it must exec or `_exit`),
/// and `arg` must stay valid until this returns.
unsafe fn clone_vfork(
    entry: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *mut libc::c_void,
    exit_watch: libc::c_int,
    share_files: bool,
    handlers_cleared: Option<&std::cell::Cell<bool>>,
) -> Result<(libc::pid_t, OwnedFd, bool), Errno> {
    // One stack per calling thread, mapped once: CLONE_VFORK suspends this thread until its
    // child has exec'd or exited, so no two children use it at once.
    thread_local! {
        static STACK: std::cell::OnceCell<ChildStack> = const { std::cell::OnceCell::new() };
    }
    // A spawn from a thread-local destructor finds the stack gone: refused, not a panic.
    let (stack_low, stack_top) = STACK
        .try_with(
            |cell| -> Result<(*mut libc::c_void, *mut libc::c_void), Errno> {
                if cell.get().is_none() {
                    let _ = cell.set(ChildStack::new()?);
                }
                cell.get()
                    .map(|stack| (stack.low(), stack.top()))
                    .ok_or(Errno::EAGAIN)
            },
        )
        .map_err(|_| Errno::EAGAIN)??;
    // The watchdog reads the pidfd that CLONE_PIDFD writes before the child runs.
    let watch = crate::watchdog::arm(exit_watch)?;
    let pidfd_out = watch.pidfd_out();
    // Block every signal (glibc's internal ones included) so that none is handled in the child
    // before it has reset its handlers; restored right after clone.
    let saved = crate::raw::set_signal_mask(!0)?;
    let mut flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD;
    if share_files {
        flags |= libc::CLONE_FILES;
    }
    // With clone3's CLONE_CLEAR_SIGHAND the kernel gives the child its default handlers, which
    // spares it one rt_sigaction per signal (the child resets only the ignored ones, later).
    // Where clone3 is missing or refused (before 5.5, a seccomp profile that answers ENOSYS),
    // plain clone, and the child resets every handler itself.
    let mut cloned = Err(Errno::ENOSYS);
    if let Some(cleared) = handlers_cleared.filter(|_| clone3_usable()) {
        cleared.set(true);
        // clone3 takes the exit signal in a field of its own, not in the flags' low byte.
        let flags3 = (flags & !libc::CSIGNAL) as u64 | crate::raw_clone::CLONE_CLEAR_SIGHAND;
        // SAFETY: as for clone below; the stack is [stack_low, stack_low + CHILD_STACK_SIZE).
        cloned = unsafe {
            crate::raw_clone::clone3(flags3, pidfd_out, stack_low, CHILD_STACK_SIZE, entry, arg)
        };
        if matches!(
            cloned,
            Err(Errno::ENOSYS | Errno::EINVAL | Errno::EPERM | Errno::E2BIG)
        ) {
            CLONE3.store(UNUSABLE, std::sync::atomic::Ordering::Relaxed);
            cleared.set(false);
        }
    }
    if matches!(
        cloned,
        Err(Errno::ENOSYS | Errno::EINVAL | Errno::EPERM | Errno::E2BIG)
    ) {
        // SAFETY: the caller vouches for `entry` and `arg`. The stack is this thread's mapping,
        // which lives as long as the thread; with CLONE_VFORK this thread is suspended until
        // the child has exec'd or exited. CLONE_PIDFD writes the pidfd into `pidfd_out`, the
        // watchdog's slot, which stays alive until `watch` is finished.
        cloned = unsafe { crate::raw_clone::clone(flags, stack_top, pidfd_out, entry, arg) };
    }
    // SAFETY: the slot the kernel wrote (or left at -1); the watchdog only reads it.
    let pidfd = unsafe { *pidfd_out };
    let killed = watch.finish();
    let _ = crate::raw::set_signal_mask(saved);
    let pid = cloned?;
    if pidfd < 0 {
        // A kernel older than 5.2 ignores CLONE_PIDFD: the child runs, but we could neither
        // signal it safely nor reap it by pidfd. Stop it (it is still our unreaped child, so the
        // pid is its own) and refuse. Unless it is not our child at all: a filter that fakes
        // clone's success returns a pid of somebody else's, which must not be killed.
        if is_our_child(pid) {
            // SAFETY: kill and waitpid on our own unreaped child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
        return Err(Errno::ENOSYS);
    }
    // SAFETY: CLONE_PIDFD gave us this new descriptor; nothing else owns it.
    Ok((pid, unsafe { OwnedFd::from_raw_fd(pidfd) }, killed))
}

const UNKNOWN: u8 = 0;
const UNUSABLE: u8 = 2;
/// Whether clone3 with CLONE_CLEAR_SIGHAND failed here once (then plain clone, from then on).
static CLONE3: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(UNKNOWN);

fn clone3_usable() -> bool {
    CLONE3.load(std::sync::atomic::Ordering::Relaxed) != UNUSABLE
}

/// Whether `pid` is an unreaped child of this process (`waitid` without reaping).
fn is_our_child(pid: libc::pid_t) -> bool {
    // SAFETY: siginfo_t is plain data; all zeroes is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let options = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: a valid out-pointer; WNOWAIT leaves the child as it is.
    pid > 0 && unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, options) } == 0
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

    /// The lowest usable address, just above the guard page.
    fn low(&self) -> *mut libc::c_void {
        // SAFETY: the guard page is the start of the mapping.
        unsafe { self.base.cast::<u8>().add(self.guard).cast() }
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

//! The child's ordered privilege drop: everything between `clone` and `execve`.
//!
//! [`run`] is the one function that runs there, top to bottom. It is async-signal-safe: raw
//! syscalls only (see [`crate::raw`]), no allocation, no locks; everything it needs was resolved
//! and allocated by the parent beforehand. Any step that fails stops it, and the workload never
//! runs.

use crate::bounding_set;
use crate::capability::CapMask;
use crate::descriptor_table;
pub use crate::failure::{Failure, Stage};
use crate::proc_status;
use crate::raw;
use crate::thread_caps::{self, CapSets};
use nix::errno::Errno;
use std::ffi::CStr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

/// What to do with the capability bounding set.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum BoundingSetPolicy {
    /// Empty it, and refuse to run the workload if that is impossible (the default).
    #[default]
    Clear,
    /// Leave it as the supervisor has it: the workload can regain those capabilities by
    /// executing a setuid-root or file-capability binary (unless `no_new_privs` is set).
    Inherit,
}

/// The identity and capability state the workload gets. Resolved in the parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Privileges {
    /// Supplementary groups to set; `None` keeps the supervisor's.
    pub groups: Option<Vec<libc::gid_t>>,
    /// Real, effective and saved gid to set; `None` keeps the supervisor's.
    pub gid: Option<libc::gid_t>,
    /// Real, effective and saved uid to set; `None` keeps the supervisor's.
    pub uid: Option<libc::uid_t>,
    pub bounding_set: BoundingSetPolicy,
    /// Set `PR_SET_NO_NEW_PRIVS`, so `execve` never grants privileges.
    pub no_new_privs: bool,
    /// Capabilities the workload keeps (bounding, permitted, effective, inheritable and
    /// ambient, so they survive `execve` for a non-root uid); every other one is dropped.
    pub capabilities: CapMask,
    /// Set and lock the securebits of [`locked_securebits`]: not even an exec as uid 0 regains
    /// capabilities.
    pub lock_securebits: bool,
    /// Refuse the spawn when `/proc/thread-self/status` cannot be read for step 6's cross-check
    /// (the default). `false` still cross-checks when procfs is there, and skips it only when
    /// nothing is mounted at `/proc` (`ENOENT`); anything else there that is not procfs refuses.
    pub require_procfs: bool,
    /// Seccomp filters to load last, in order (none: no seccomp step). Needs `no_new_privs`.
    pub seccomp: Vec<crate::seccomp::Filter>,
}

impl Default for Privileges {
    fn default() -> Self {
        Privileges {
            groups: None,
            gid: None,
            uid: None,
            bounding_set: BoundingSetPolicy::Clear,
            no_new_privs: false,
            capabilities: CapMask::EMPTY,
            lock_securebits: false,
            require_procfs: true,
            seccomp: Vec::new(),
        }
    }
}

/// The most supplementary groups a spawn can set: step 6 reads them back into a buffer on the
/// child's stack, which must not allocate.
pub const MAX_GROUPS: usize = 4096;

/// The securebits `lock_securebits` sets: `NOROOT`, `NO_SETUID_FIXUP`, `KEEP_CAPS_LOCKED` and,
/// unless capabilities are kept through the ambient set, `NO_CAP_AMBIENT_RAISE`, each locked.
/// `KEEP_CAPS` itself is set too, for the uid change of step 4 (the kernel clears it on
/// `execve`, so the workload starts with it off and locked).
pub fn locked_securebits(capabilities: CapMask) -> u32 {
    use capctl::prctl::Secbits;
    let mut bits = Secbits::NOROOT
        | Secbits::NOROOT_LOCKED
        | Secbits::NO_SETUID_FIXUP
        | Secbits::NO_SETUID_FIXUP_LOCKED
        | Secbits::KEEP_CAPS
        | Secbits::KEEP_CAPS_LOCKED;
    if capabilities.is_empty() {
        bits |= Secbits::NO_CAP_AMBIENT_RAISE | Secbits::NO_CAP_AMBIENT_RAISE_LOCKED;
    }
    bits.bits() as u32
}

/// The process around the workload: descriptors, directory, session, what to execute. Only for
/// a `clone` child; under `Command::pre_exec` the standard library does this part.
///
/// Only this crate builds one (`non_exhaustive`): [`run`] trusts its raw pointers and writes
/// through `script_argv`, which safe code elsewhere could otherwise fill with anything.
#[non_exhaustive]
pub struct ProcessSetup<'a> {
    /// What each of the child's descriptors 0, 1, 2, … is copied from (`-1`: closed). None is
    /// below `stdio.len()` unless it is its own target (see `StdioFds`). `clone::start` may
    /// renumber them into the slots of a small descriptor table (see `descriptor_table`).
    pub stdio: &'a [std::cell::Cell<RawFd>],
    /// Start a new session (`detached`, or a terminal's).
    pub new_session: bool,
    /// Make descriptor 0, a terminal, the controlling terminal of that new session
    /// ([`crate::Command::terminal`]).
    pub controlling_terminal: bool,
    pub cwd: Option<&'a CStr>,
    /// The signal mask the workload starts with.
    pub signal_mask: raw::SignalMask,
    /// Paths to try in order (a `PATH` search resolved in the parent), NUL-terminated.
    pub programs: &'a [*const libc::c_char],
    /// NULL-terminated `argv` and `envp` arrays.
    pub argv: *const *const libc::c_char,
    /// `["/bin/sh", <slot>, argv[1..], NULL]`: how a file the kernel cannot execute (`ENOEXEC`,
    /// no `#!` line) is run, as glibc's `execvp` (and so `child_process`) runs it. The child
    /// writes the candidate's path into the slot.
    pub script_argv: *mut *const libc::c_char,
    pub envp: *const *const libc::c_char,
    /// The file mode creation mask to set.
    pub umask: Option<libc::mode_t>,
    /// Resource limits to set, while the child may still raise hard limits.
    pub rlimits: &'a [(crate::raw::Resource, libc::rlimit)],
    /// The signal the child gets when the supervisor thread that spawned it exits, and that
    /// supervisor's pid, to check it did not exit before the signal was armed.
    pub parent_death_signal: Option<(libc::c_int, libc::pid_t)>,
    /// Set by the child just before `execve`: a child that exits without it and without a
    /// failure died on the way (a signal, the OOM killer), and the workload never ran.
    pub exec_reached: AtomicBool,
    /// The write end of the pipe whose end-of-file tells the parent that the child has left the
    /// supervisor's memory (`clone::start` sets it; close-on-exec, so `execve` closes it only
    /// after the kernel has switched the child to its new memory). Step 1 must not close it.
    pub(crate) exit_watch: std::cell::Cell<RawFd>,
    /// When the child shares the supervisor's descriptor table (`CLONE_FILES`), the number below
    /// which it keeps a private copy of it (see `descriptor_table`); `-1` when `clone` copied the
    /// whole table. `clone::start` sets it.
    pub(crate) table_limit: std::cell::Cell<RawFd>,
    /// With a `table_limit`, the slots and what the parent put in each (a pointer into the
    /// lease `clone::start` holds, and the count), for the child to check after the unshare.
    pub(crate) table_slots: std::cell::Cell<(*const descriptor_table::Placed, usize)>,
    /// Whether the kernel gave the child default handlers (`CLONE_CLEAR_SIGHAND`; `clone::start`
    /// sets it): then step 1 resets none, and the signals procfs lists as ignored are reset after
    /// step 6 (`default_ignored_signals`).
    pub(crate) handlers_cleared: std::cell::Cell<bool>,
    /// The network namespace to join (`network`), opened and checked by the parent.
    pub(crate) netns: Option<crate::netns::Joining>,
    /// The Landlock ruleset to enforce (`filesystem`), built by the parent.
    pub(crate) landlock: Option<crate::landlock::Restriction>,
}

impl ProcessSetup<'_> {
    /// The sandbox layers' descriptors the child uses: a namespace to join, a Landlock ruleset.
    pub(crate) fn layer_fds(&self) -> Vec<&std::cell::Cell<RawFd>> {
        let netns = self.netns.as_ref().map(|joining| &joining.fd);
        let landlock = self.landlock.as_ref().map(|r| &r.ruleset);
        netns
            .into_iter()
            .chain(landlock)
            .filter(|fd| fd.get() >= 0)
            .collect()
    }
}

/// The child's whole sequence, in order. With a `setup` (a `clone` child) it ends in `execve`
/// and returns only the failure; without one (`Command::pre_exec`) it stops after step 6 and
/// returns `Ok(())` for the caller to exec.
///
/// In a `clone` child every signal is blocked on entry (the parent blocked them around `clone`).
pub fn run(setup: Option<&ProcessSetup>, privileges: &Privileges) -> Result<(), Failure> {
    // 1. The memory non-dumpable before anything is dropped: it is the supervisor's (CLONE_VM)
    //    or a copy of it (fork), and once this child holds fewer capabilities than the
    //    supervisor, a same-uid process with those fewer could ptrace it and write there. The
    //    parent gives the supervisor its flag back after execve.
    raw::set_dumpable(false).map_err(Failure::at(Stage::Dumpable))?;
    //    Then the process around the workload, which needs no privilege about to be dropped
    //    (chdir keeps the supervisor's access rights, setrlimit may still raise a hard limit):
    //    handlers to the default before anything could unblock a signal (a supervisor handler
    //    would run on the supervisor's memory), stdio into place and every other descriptor
    //    close-on-exec; the terminal once it is fd 0, so that a refusal precedes any drop.
    if let Some(setup) = setup {
        signals_and_descriptors(setup)?;
        crate::terminal::attach(setup)?;
    }
    //    The kernel's account of this thread for step 6: after stdio (it takes no stdio
    //    target), before setrlimit may lower RLIMIT_NOFILE below the supervisor's descriptors.
    let account = proc_status::Account::open();
    if let Some(setup) = setup {
        directory_and_limits(setup, &account)?;
    }
    //    The network namespace while CAP_SYS_ADMIN is held (setns needs it in our user
    //    namespace and in the target's), before any credential change; netns checks it at once.
    crate::netns::join(setup.and_then(|s| s.netns.as_ref()))?;
    // 2. Groups before the uid: setgroups and setresgid need CAP_SETGID, which setresuid to a
    //    non-root uid takes away.
    groups(privileges)?;
    // 3. The bounding set and the securebits while CAP_SETPCAP is held (setresuid to a non-root
    //    uid drops it).
    bounding_set_and_securebits(privileges, &account)?;
    // 4. The uid, then the capability sets: dropping CAP_SETUID first would fail setresuid.
    uid_and_capabilities(privileges)?;
    // 5. no_new_privs last among the privilege changes (from here execve grants none), then
    //    the parent-death signal, which every credential change would reset.
    no_new_privs_and_parent_death(setup, privileges)?;
    //    Landlock after no_new_privs, which restrict_self needs (CAP_SYS_ADMIN is gone), and
    //    before step 6, whose reads use descriptors opened in step 1; its own probe, an access
    //    the rules deny, must then fail (EACCES), so a faked restrict_self is caught.
    crate::landlock::restrict(setup.and_then(|s| s.landlock.as_ref()))?;
    // 6. Verify by reading the state back, trusting no return value: a filter or LSM that
    //    fakes success must not get a workload through. Then every signal at its default
    //    before the filter could forbid rt_sigaction, and the seccomp filter as the last
    //    layer, so it cannot break a step before it (only its read-back, the signal mask and
    //    execve are left for it to let through; no_new_privs, which loading it needs, is set).
    let status = verify(privileges, &account)?;
    default_ignored_signals(setup, status.as_ref())?;
    crate::seccomp::apply(&privileges.seccomp, &account, status.as_ref())?;
    // 7. Unblock signals only now, with default handlers, then exec.
    match setup {
        Some(setup) => Err(unblock_and_exec(setup, privileges)),
        None => Ok(()),
    }
}

/// Step 2: supplementary groups, then the gid, so no window runs with the new gid and the
/// supervisor's groups. A gid change makes the memory dumpable again when fs.suid_dumpable is
/// 1; the permitted set is still whole, so no process with fewer capabilities may ptrace it
/// meanwhile, and the flag is cleared again at once.
fn groups(privileges: &Privileges) -> Result<(), Failure> {
    if let Some(groups) = &privileges.groups {
        raw::setgroups(groups).map_err(Failure::at(Stage::Setgroups))?;
    }
    if let Some(gid) = privileges.gid {
        raw::setresgid(gid).map_err(Failure::at(Stage::Setgid))?;
        raw::set_dumpable(false).map_err(Failure::at(Stage::Dumpable))?;
    }
    Ok(())
}

/// Step 3: the bounding set, fail-closed: EPERM is accepted only if nothing outside the kept
/// capabilities is left; a clear the kernel answered with success is confirmed by step 6, from
/// procfs (read back here only when that account could not be opened). Then the securebits,
/// which need CAP_SETPCAP too; KEEP_CAPS (or keepcaps) before setresuid, so the permitted set
/// survives the uid change: with fs.suid_dumpable=1 the kernel makes the memory dumpable at
/// setresuid, and a permitted set that the new uid's other processes do not hold keeps them
/// from ptracing it until step 4 clears the flag.
fn bounding_set_and_securebits(
    privileges: &Privileges,
    account: &proc_status::Account,
) -> Result<(), Failure> {
    let keep = privileges.capabilities;
    if privileges.bounding_set == BoundingSetPolicy::Clear {
        bounding_set::clear_except_with(keep, !account.is_open()).map_err(|e| Failure {
            stage: Stage::BoundingSet,
            errno: e.errno,
            remaining: e.remaining,
        })?;
    }
    if privileges.lock_securebits {
        thread_caps::set_securebits(locked_securebits(keep))
            .map_err(Failure::at(Stage::Securebits))?;
    } else if privileges.uid.is_some() || !keep.is_empty() {
        match thread_caps::set_keepcaps(true) {
            Ok(()) => {}
            // Locked off by the supervisor's own securebits: fine when nothing is kept and the
            // uid change cannot make the memory dumpable anyway.
            Err(Errno::EPERM) if keep.is_empty() && keepcaps_unneeded() => {}
            Err(errno) => return Err(Failure::at(Stage::Securebits)(errno)),
        }
    }
    Ok(())
}

/// Step 4: the uid, then the capability sets. Ambient is emptied before capset (the kernel
/// keeps it a subset of permitted and inheritable) and refilled after it, since raising a
/// capability there needs it in both. The uid change makes the memory dumpable again when the
/// fs.suid_dumpable sysctl is 1: undone at once, before capset empties the permitted set
/// (which, being a shrink, leaves the flag alone) and so before the new uid's processes could
/// ptrace it.
fn uid_and_capabilities(privileges: &Privileges) -> Result<(), Failure> {
    let keep = privileges.capabilities;
    if let Some(uid) = privileges.uid {
        raw::setresuid(uid).map_err(Failure::at(Stage::Setuid))?;
        raw::set_dumpable(false).map_err(Failure::at(Stage::Dumpable))?;
    }
    thread_caps::clear_ambient().map_err(Failure::at(Stage::Ambient))?;
    let kept = CapSets {
        effective: keep,
        permitted: keep,
        inheritable: keep,
    };
    thread_caps::set(kept).map_err(Failure::at(Stage::Capset))?;
    for cap in keep.numbers() {
        thread_caps::raise_ambient(cap).map_err(Failure::at(Stage::Ambient))?;
    }
    Ok(())
}

/// Step 5: `no_new_privs` (it needs no privilege), then the parent-death signal, and a check
/// that the supervisor did not exit before the signal was armed.
fn no_new_privs_and_parent_death(
    setup: Option<&ProcessSetup>,
    privileges: &Privileges,
) -> Result<(), Failure> {
    if privileges.no_new_privs {
        thread_caps::set_no_new_privs().map_err(Failure::at(Stage::NoNewPrivs))?;
    }
    if let Some((signal, parent)) = setup.and_then(|s| s.parent_death_signal) {
        raw::set_parent_death_signal(signal).map_err(Failure::at(Stage::ParentDeathSignal))?;
        if raw::getppid() != parent {
            return Err(Failure::at(Stage::ParentDeathSignal)(Errno::ESRCH));
        }
    }
    Ok(())
}

/// After step 6: CLONE_CLEAR_SIGHAND left ignored signals ignored (SIGPIPE, in Node), so the
/// signals procfs lists as ignored go back to their default (all of them when procfs was
/// skipped): the workload starts with every signal at its default, as child_process's does.
fn default_ignored_signals(
    setup: Option<&ProcessSetup>,
    status: Option<&proc_status::Status>,
) -> Result<(), Failure> {
    if setup.is_some_and(|s| s.handlers_cleared.get()) {
        raw::default_signals(status.and_then(|s| s.ignored_signals).unwrap_or(u64::MAX))
            .map_err(Failure::at(Stage::SignalMask))?;
    }
    Ok(())
}

/// Step 7: stop signals that arrived while they were blocked (SIGTSTP, SIGTTIN, SIGTTOU from a
/// same-uid process) are discarded first, or the child would stop the moment they are
/// unblocked; one that comes after is the watchdog's (clone.rs) to end. Only those
/// rt_sigpending lists, unless a filter was loaded (a user's need not let rt_sigpending
/// through). Then the workload's signal mask, and the exec: a PATH search tries each candidate
/// the parent resolved, as glibc's execvp does ([`exec_candidates`]). Returns only the failure.
fn unblock_and_exec(setup: &ProcessSetup, privileges: &Privileges) -> Failure {
    raw::discard_pending_stop_signals(privileges.seccomp.is_empty());
    if let Err(errno) = raw::set_signal_mask(setup.signal_mask) {
        return Failure::at(Stage::SignalMask)(errno);
    }
    setup.exec_reached.store(true, Ordering::Relaxed);
    Failure::at(Stage::Exec)(exec_candidates(setup))
}

/// Step 1's first half: a descriptor table of the child's own before any descriptor is touched
/// (it may still be the supervisor's), the supervisor's handlers back to the default (blocked
/// signals cannot run them meanwhile), the session, stdio into place and every other descriptor
/// close-on-exec (but the exit watch, kept open), so the workload inherits nothing by accident.
fn signals_and_descriptors(setup: &ProcessSetup) -> Result<(), Failure> {
    if setup.table_limit.get() >= 0 {
        let placed = setup.table_slots.get();
        // SAFETY: clone::start points this at its lease's list, which outlives the child's
        // time on the supervisor's memory; the parent is suspended meanwhile.
        let placed = unsafe { std::slice::from_raw_parts(placed.0, placed.1) };
        descriptor_table::unshare_below(setup.table_limit.get(), placed).map_err(|errno| {
            Failure {
                stage: Stage::Cloexec,
                errno,
                remaining: CapMask::EMPTY,
            }
        })?;
    }
    if !setup.handlers_cleared.get() {
        raw::default_all_signals();
    }
    if setup.new_session {
        raw::setsid().map_err(Failure::at(Stage::Setsid))?;
    }
    place_stdio(setup.stdio).map_err(Failure::at(Stage::Stdio))?;
    let first_unplaced = setup.stdio.len().max(3) as RawFd;
    raw::cloexec_from(first_unplaced, setup.exit_watch.get()).map_err(Failure::at(Stage::Cloexec))
}

/// Step 1's second half: the directory, the umask and the resource limits, while the child may
/// still raise a hard limit.
fn directory_and_limits(
    setup: &ProcessSetup,
    account: &proc_status::Account,
) -> Result<(), Failure> {
    if let Some(cwd) = setup.cwd {
        raw::chdir(cwd).map_err(Failure::at(Stage::Chdir))?;
    }
    if let Some(mask) = setup.umask {
        raw::umask(mask);
    }
    for (resource, limit) in setup.rlimits {
        raw::setrlimit(*resource, limit).map_err(Failure::at(Stage::Rlimit))?;
    }
    // A lowered descriptor limit must leave the layers' checks a number to open; one that
    // cannot (below the workload's stdio) is refused here, as the limit's fault.
    let netns = setup.netns.as_ref().map_or(-1, |joining| joining.fd.get());
    let ruleset = setup.landlock.as_ref().map_or(-1, |r| r.ruleset.get());
    // The last RLIMIT_NOFILE given is the one in force.
    let nofile = setup
        .rlimits
        .iter()
        .rfind(|(r, _)| *r == libc::RLIMIT_NOFILE);
    if let (Some((_, limit)), true) = (nofile, netns >= 0 || ruleset >= 0) {
        let keep = [setup.exit_watch.get(), account.fd(), netns, ruleset];
        let first = setup.stdio.len().max(3) as RawFd;
        let limit = RawFd::try_from(limit.rlim_cur).unwrap_or(RawFd::MAX);
        let probe = setup.exit_watch.get();
        descriptor_table::free_one_below(probe, (first, limit), setup.stdio, &keep)
            .map_err(Failure::at(Stage::Rlimit))?;
    }
    Ok(())
}

/// Step 7's exec: each candidate the parent resolved, in turn, as glibc's `execvp` tries them:
/// `EACCES` is remembered, the errors of a missing or unreachable file move on, any other stops.
/// Returns only the errno to report.
fn exec_candidates(setup: &ProcessSetup) -> Errno {
    let mut errno = Errno::ENOENT;
    for &program in setup.programs {
        // SAFETY: the parent built `program`, `argv` and `envp` as NUL-terminated strings and
        // NULL-terminated arrays, and keeps them alive until the child has exec'd or exited.
        let mut failed = unsafe { raw::execve(program, setup.argv, setup.envp) };
        if failed == Errno::ENOEXEC {
            failed = exec_as_script(setup, program);
        }
        match failed {
            Errno::ENOENT | Errno::ENOTDIR | Errno::ESTALE | Errno::ENODEV | Errno::ETIMEDOUT => {}
            Errno::EACCES => errno = Errno::EACCES,
            other => return other,
        }
    }
    errno
}

/// Whether the uid change of step 4 is safe without keepcaps: with `SECBIT_NO_SETUID_FIXUP` the
/// permitted set survives it anyway, and only `fs.suid_dumpable=1` makes it set the dumpable
/// flag (0 clears it, 2 leaves the memory to root). Read only when keepcaps is locked off.
fn keepcaps_unneeded() -> bool {
    let no_fixup = capctl::prctl::Secbits::NO_SETUID_FIXUP.bits() as u32;
    thread_caps::securebits().is_ok_and(|bits| bits & no_fixup != 0)
        || raw::suid_dumpable().is_ok_and(|value| value != 1)
}

/// The shell that runs a file the kernel cannot execute, NUL-terminated.
pub(crate) const SHELL: &[u8] = b"/bin/sh\0";

/// Runs `program`, which the kernel cannot execute, with `/bin/sh`, as glibc's `execvp` does.
/// Returns only the errno of that `execve`.
fn exec_as_script(setup: &ProcessSetup, program: *const libc::c_char) -> Errno {
    // SAFETY: `script_argv` is the parent's array with room for slot 1, alive until the child
    // has exec'd or exited; the parent's thread is suspended, so nothing else reads or writes
    // it. It then holds NUL-terminated strings and ends in NULL, as `execve` needs.
    unsafe {
        *setup.script_argv.add(1) = program;
        raw::execve(SHELL.as_ptr().cast(), setup.script_argv, setup.envp)
    }
}

/// Puts `sources[i]` at descriptor `i`. The parent made sure no source sits on another's
/// target, so the order does not matter. Descriptors 0, 1 and 2 are made blocking, as libuv
/// makes them in a `child_process` child: the supervisor's own stdio is often `O_NONBLOCK`
/// (libuv sets it on pipes), and a workload that writes to a non-blocking stdout stops at the
/// first `EAGAIN`. The flag belongs to the open file description, so this changes it for every
/// process sharing that description, as `child_process` does.
fn place_stdio(sources: &[std::cell::Cell<RawFd>]) -> Result<(), Errno> {
    for (target, source) in sources.iter().enumerate() {
        let (target, source) = (target as RawFd, source.get());
        match source {
            -1 => match raw::set_cloexec(target, true) {
                Ok(()) | Err(Errno::EBADF) => continue,
                Err(errno) => return Err(errno),
            },
            _ if source == target => raw::set_cloexec(target, false)?,
            _ => raw::dup2(source, target)?,
        }
        if target <= 2 {
            raw::set_blocking(target)?;
        }
    }
    Ok(())
}

/// Step 6: the state read back must be exactly the one asked for.
/// Returns what procfs showed (`None` when it was skipped): the ignored signals for step 7, and
/// the filter count the seccomp layer starts from.
fn verify(
    privileges: &Privileges,
    account: &proc_status::Account,
) -> Result<Option<proc_status::Status>, Failure> {
    let keep = privileges.capabilities;
    let refuse = |remaining: CapMask| Failure {
        stage: Stage::Verify,
        errno: None,
        remaining,
    };
    let wrong = Failure::unconfirmed;
    // The bounding set is read below, from procfs; step 3 read it back itself only when that
    // account could not be opened (and nothing can raise it since).
    // The ambient set is read only for the kept capabilities: the kernel keeps it a subset of
    // permitted and inheritable at all times, so those two, read back here, bound it.
    let sets = thread_caps::get().map_err(Failure::at(Stage::Verify))?;
    let ambient = CapMask(
        keep.numbers()
            .filter(|&cap| thread_caps::ambient_contains(cap))
            .fold(0, |mask, cap| mask | 1 << cap),
    );
    for held in [sets.effective, sets.permitted, sets.inheritable, ambient] {
        if held != keep {
            return Err(refuse(CapMask(held.0 & !keep.0)));
        }
    }
    let no_new_privs = thread_caps::no_new_privs().map_err(Failure::at(Stage::Verify))?;
    if privileges.no_new_privs && !no_new_privs {
        return Err(refuse(CapMask::EMPTY));
    }
    if privileges.lock_securebits {
        let wanted = locked_securebits(keep);
        if thread_caps::securebits().map_err(Failure::at(Stage::Verify))? & wanted != wanted {
            return Err(wrong(Stage::Securebits));
        }
    }
    if let Some(uid) = privileges.uid {
        if raw::getresuid().map_err(Failure::at(Stage::Verify))? != [uid; 3] {
            return Err(wrong(Stage::Setuid));
        }
    }
    if let Some(gid) = privileges.gid {
        if raw::getresgid().map_err(Failure::at(Stage::Verify))? != [gid; 3] {
            return Err(wrong(Stage::Setgid));
        }
    }
    if let Some(wanted) = &privileges.groups {
        let mut buffer = [0; MAX_GROUPS];
        let count = raw::getgroups(&mut buffer).map_err(Failure::at(Stage::Verify))?;
        // A count the buffer cannot hold is a lie (the kernel fails with EINVAL instead).
        let Some(held) = buffer.get(..count) else {
            return Err(wrong(Stage::Setgroups));
        };
        let same = held.len() == wanted.len()
            && wanted.iter().all(|g| held.contains(g))
            && held.iter().all(|g| wanted.contains(g));
        if !same {
            return Err(wrong(Stage::Setgroups));
        }
    }
    if raw::dumpable() != Ok(0) {
        return Err(wrong(Stage::Dumpable));
    }
    // The kernel's own account, as procfs prints it: a filter that fakes prctl, capget,
    // getresuid and getgroups consistently must fake this file's reads too.
    match account.read(privileges.groups.as_deref()) {
        Ok(status) => match status.disagrees(privileges) {
            Some(failure) => Err(failure),
            None => Ok(Some(status)),
        },
        // Only an absent procfs may be skipped, and only when the caller opted out: one that
        // is not procfs, or a read of an open account that fails (step 3 left the bounding set
        // to this read), refuses.
        Err(Errno::ENOENT) if !privileges.require_procfs && !account.is_open() => Ok(None),
        Err(errno) => Err(Failure::at(Stage::Procfs)(errno)),
    }
}

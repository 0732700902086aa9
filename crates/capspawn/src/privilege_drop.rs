//! The child's ordered privilege drop: everything between `clone` and `execve`.
//!
//! [`run`] is the one function that runs there, top to bottom. It is async-signal-safe: raw
//! syscalls only (see [`crate::raw`]), no allocation, no locks; everything it needs was resolved
//! and allocated by the parent beforehand. Any step that fails stops it, and the workload never
//! runs.

use crate::bounding_set;
use crate::capability::CapMask;
use crate::raw;
use crate::thread_caps::{self, CapSets};
use nix::errno::Errno;
use std::ffi::CStr;
use std::os::fd::RawFd;

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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
}

/// The process around the workload: descriptors, directory, session, what to execute. Only for
/// a `clone` child; under `Command::pre_exec` the standard library does this part.
pub struct ProcessSetup<'a> {
    /// The descriptors that become the child's 0, 1 and 2.
    pub stdio: [RawFd; 3],
    /// Start a new session (`detached`).
    pub new_session: bool,
    pub cwd: Option<&'a CStr>,
    /// The signal mask the workload starts with.
    pub signal_mask: raw::SignalMask,
    /// Paths to try in order (a `PATH` search resolved in the parent), NUL-terminated.
    pub programs: &'a [*const libc::c_char],
    /// NULL-terminated `argv` and `envp` arrays.
    pub argv: *const *const libc::c_char,
    pub envp: *const *const libc::c_char,
}

/// The step of the child sequence that failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    Setsid,
    Stdio,
    Cloexec,
    Chdir,
    Setgroups,
    Setgid,
    BoundingSet,
    Setuid,
    Ambient,
    Capset,
    NoNewPrivs,
    Verify,
    SignalMask,
    Exec,
}

impl Stage {
    /// The name reported to users (`error.stage`).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Setsid => "setsid",
            Stage::Stdio => "stdio",
            Stage::Cloexec => "cloexec",
            Stage::Chdir => "chdir",
            Stage::Setgroups => "setgroups",
            Stage::Setgid => "setgid",
            Stage::BoundingSet => "bounding-set",
            Stage::Setuid => "setuid",
            Stage::Ambient => "ambient",
            Stage::Capset => "capset",
            Stage::NoNewPrivs => "no-new-privs",
            Stage::Verify => "verify",
            Stage::SignalMask => "signal-mask",
            Stage::Exec => "exec",
        }
    }

    /// The system call that failed at this stage (`error.syscall`).
    pub fn syscall(self) -> &'static str {
        match self {
            Stage::Setsid => "setsid",
            Stage::Stdio => "dup2",
            Stage::Cloexec => "close_range",
            Stage::Chdir => "chdir",
            Stage::Setgroups => "setgroups",
            Stage::Setgid => "setresgid",
            Stage::BoundingSet => "prctl(PR_CAPBSET_DROP)",
            Stage::Setuid => "setresuid",
            Stage::Ambient => "prctl(PR_CAP_AMBIENT_CLEAR_ALL)",
            Stage::Capset => "capset",
            Stage::NoNewPrivs => "prctl(PR_SET_NO_NEW_PRIVS)",
            Stage::Verify => "capget",
            Stage::SignalMask => "rt_sigprocmask",
            Stage::Exec => "execve",
        }
    }
}

/// Why the child stopped before the workload ran.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub stage: Stage,
    /// The errno of the failed call; `None` when the kernel reported success but the state
    /// read back was not the one asked for.
    pub errno: Option<Errno>,
    /// Capabilities still held (for the bounding set and the verification).
    pub remaining: CapMask,
}

impl Failure {
    fn at(stage: Stage) -> impl Fn(Errno) -> Failure {
        move |errno| Failure {
            stage,
            errno: Some(errno),
            remaining: CapMask::EMPTY,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed", self.stage.syscall())?;
        if let Some(errno) = self.errno {
            write!(f, ": {}", errno.desc())?;
        }
        if !self.remaining.is_empty() {
            write!(f, " (still raised: {})", self.remaining.names().join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

impl From<Failure> for std::io::Error {
    fn from(failure: Failure) -> Self {
        std::io::Error::from_raw_os_error(failure.errno.unwrap_or(Errno::EPERM) as i32)
    }
}

/// The child's whole sequence, in order. With a `setup` (a `clone` child) it ends in `execve`
/// and returns only the failure; without one (`Command::pre_exec`) it stops after step 6 and
/// returns `Ok(())` for the caller to exec.
///
/// Every signal is blocked on entry (the parent blocked them around `clone`).
pub fn run(setup: Option<&ProcessSetup>, privileges: &Privileges) -> Result<(), Failure> {
    // 1. The process around the workload, first: it needs no privilege we are about to drop,
    //    and `chdir` must still have the supervisor's access rights. Handlers go back to the
    //    default before anything can unblock a signal, since a supervisor handler would run on
    //    the supervisor's memory. Descriptors: stdio into place, every other one close-on-exec,
    //    so the workload inherits nothing by accident.
    if let Some(setup) = setup {
        raw::default_all_signals();
        if setup.new_session {
            raw::setsid().map_err(Failure::at(Stage::Setsid))?;
        }
        place_stdio(setup.stdio).map_err(Failure::at(Stage::Stdio))?;
        raw::cloexec_from(3).map_err(Failure::at(Stage::Cloexec))?;
        if let Some(cwd) = setup.cwd {
            raw::chdir(cwd).map_err(Failure::at(Stage::Chdir))?;
        }
    }

    // 2. Groups before the uid: setgroups and setresgid need CAP_SETGID, which setresuid to a
    //    non-root uid takes away. Supplementary groups first, so no window runs with the new
    //    gid and the supervisor's groups.
    if let Some(groups) = &privileges.groups {
        raw::setgroups(groups).map_err(Failure::at(Stage::Setgroups))?;
    }
    if let Some(gid) = privileges.gid {
        raw::setresgid(gid).map_err(Failure::at(Stage::Setgid))?;
    }

    // 3. The bounding set while we may still hold CAP_SETPCAP (setresuid drops it for a
    //    non-root uid), fail-closed: EPERM is accepted only if nothing is left raised.
    if privileges.bounding_set == BoundingSetPolicy::Clear {
        bounding_set::clear().map_err(|e| Failure {
            stage: Stage::BoundingSet,
            errno: e.errno,
            remaining: e.remaining,
        })?;
    }

    // 4. The uid, then empty the ambient, effective, permitted and inheritable sets: after the
    //    uid change, because dropping CAP_SETUID first would make setresuid fail; ambient
    //    before capset, since the kernel keeps ambient a subset of permitted and inheritable.
    if let Some(uid) = privileges.uid {
        raw::setresuid(uid).map_err(Failure::at(Stage::Setuid))?;
    }
    thread_caps::clear_ambient().map_err(Failure::at(Stage::Ambient))?;
    thread_caps::set(CapSets::default()).map_err(Failure::at(Stage::Capset))?;

    // 5. no_new_privs last among the changes: it needs no privilege, and from here on execve
    //    cannot grant any (setuid bits and file capabilities are ignored).
    if privileges.no_new_privs {
        thread_caps::set_no_new_privs().map_err(Failure::at(Stage::NoNewPrivs))?;
    }

    // 6. Verify by reading the state back, trusting no return value: a filter or LSM that fakes
    //    success must not get a workload through.
    verify(privileges)?;

    let Some(setup) = setup else { return Ok(()) };

    // 7. Unblock signals only now, with default handlers, then exec. A PATH search tries each
    //    candidate the parent resolved, like execvp: EACCES is remembered, ENOENT moves on.
    raw::set_signal_mask(setup.signal_mask).map_err(Failure::at(Stage::SignalMask))?;
    let mut errno = Errno::ENOENT;
    for &program in setup.programs {
        // SAFETY: the parent built `program`, `argv` and `envp` as NUL-terminated strings and
        // NULL-terminated arrays, and keeps them alive until the child has exec'd or exited.
        match unsafe { raw::execve(program, setup.argv, setup.envp) } {
            Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP | Errno::ENAMETOOLONG => {}
            Errno::EACCES => errno = Errno::EACCES,
            other => {
                errno = other;
                break;
            }
        }
    }
    Err(Failure::at(Stage::Exec)(errno))
}

/// Puts `stdio[i]` at descriptor `i` for 0, 1 and 2. A source that sits on a lower target is
/// first moved above 2, so one placement never overwrites another's source.
fn place_stdio(mut stdio: [RawFd; 3]) -> Result<(), Errno> {
    for (target, source) in stdio.iter_mut().enumerate() {
        if *source < 3 && *source != target as RawFd {
            *source = raw::dup_above(*source, 3)?;
        }
    }
    for (target, &source) in stdio.iter().enumerate() {
        if source == target as RawFd {
            raw::set_cloexec(source, false)?;
        } else {
            raw::dup2(source, target as RawFd)?;
        }
    }
    Ok(())
}

/// Step 6: the state read back must be exactly the one asked for.
fn verify(privileges: &Privileges) -> Result<(), Failure> {
    let refuse = |remaining: CapMask| Failure {
        stage: Stage::Verify,
        errno: None,
        remaining,
    };
    if privileges.bounding_set == BoundingSetPolicy::Clear {
        let bounding = thread_caps::bounding();
        if !bounding.is_empty() {
            return Err(Failure {
                stage: Stage::BoundingSet,
                errno: None,
                remaining: bounding,
            });
        }
    }
    let sets = thread_caps::get().map_err(Failure::at(Stage::Verify))?;
    let held = CapMask(
        sets.effective.0 | sets.permitted.0 | sets.inheritable.0 | thread_caps::ambient().0,
    );
    if !held.is_empty() {
        return Err(refuse(held));
    }
    if privileges.no_new_privs
        && !thread_caps::no_new_privs().map_err(Failure::at(Stage::Verify))?
    {
        return Err(refuse(CapMask::EMPTY));
    }
    if let Some(uid) = privileges.uid {
        if raw::getresuid().map_err(Failure::at(Stage::Verify))? != [uid; 3] {
            return Err(Failure {
                stage: Stage::Setuid,
                errno: None,
                remaining: CapMask::EMPTY,
            });
        }
    }
    if let Some(gid) = privileges.gid {
        if raw::getresgid().map_err(Failure::at(Stage::Verify))? != [gid; 3] {
            return Err(Failure {
                stage: Stage::Setgid,
                errno: None,
                remaining: CapMask::EMPTY,
            });
        }
    }
    Ok(())
}

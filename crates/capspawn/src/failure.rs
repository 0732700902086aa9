//! How a failed step of the child's sequence is reported: the stage, the errno, and the
//! capabilities still held.

use crate::capability::CapMask;
use nix::errno::Errno;

/// The step of the child sequence that failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    Dumpable,
    Setsid,
    Stdio,
    Cloexec,
    /// The terminal could not be made the controlling terminal (`TIOCSCTTY`).
    Terminal,
    Chdir,
    Umask,
    Rlimit,
    Setgroups,
    Setgid,
    BoundingSet,
    Securebits,
    Setuid,
    Ambient,
    Capset,
    NoNewPrivs,
    ParentDeathSignal,
    Verify,
    /// `/proc/thread-self/status` could not be read for the verification's cross-check.
    Procfs,
    SignalMask,
    /// The seccomp filter could not be loaded, or the kernel does not show it loaded.
    Seccomp,
    Exec,
    /// The child died before it could report (a signal, the OOM killer).
    Died,
    /// The child was stopped (or otherwise held) before `execve`, and the watchdog killed it.
    Held,
    /// The `filesystem` layer: Landlock missing (`ENOSYS`, `EOPNOTSUPP`, found in the parent),
    /// `landlock_restrict_self` failed, or the domain could not be confirmed (no errno).
    Landlock,
    /// The `network` layer: the namespace could not be made or joined, or the thread was not in
    /// it afterwards (no errno).
    Netns,
}

impl Stage {
    /// The name reported to users (`error.stage`).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Dumpable => "dumpable",
            Stage::Setsid => "setsid",
            Stage::Stdio => "stdio",
            Stage::Cloexec => "cloexec",
            Stage::Terminal => "terminal",
            Stage::Chdir => "chdir",
            Stage::Umask => "umask",
            Stage::Rlimit => "rlimit",
            Stage::Setgroups => "setgroups",
            Stage::Setgid => "setgid",
            Stage::BoundingSet => "bounding-set",
            Stage::Securebits => "securebits",
            Stage::Setuid => "setuid",
            Stage::Ambient => "ambient",
            Stage::Capset => "capset",
            Stage::NoNewPrivs => "no-new-privs",
            Stage::ParentDeathSignal => "parent-death-signal",
            Stage::Verify => "verify",
            Stage::Procfs => "procfs",
            Stage::SignalMask => "signal-mask",
            Stage::Seccomp => "seccomp",
            Stage::Exec => "exec",
            Stage::Died => "died",
            Stage::Held => "held",
            Stage::Landlock => "landlock",
            Stage::Netns => "netns",
        }
    }

    /// The system call that failed at this stage (`error.syscall`).
    pub fn syscall(self) -> &'static str {
        match self {
            Stage::Dumpable => "prctl(PR_SET_DUMPABLE)",
            Stage::Setsid => "setsid",
            Stage::Stdio => "dup2",
            Stage::Cloexec => "close_range",
            Stage::Terminal => "ioctl(TIOCSCTTY)",
            Stage::Chdir => "chdir",
            Stage::Umask => "umask",
            Stage::Rlimit => "setrlimit",
            Stage::Setgroups => "setgroups",
            Stage::Setgid => "setresgid",
            Stage::BoundingSet => "prctl(PR_CAPBSET_DROP)",
            Stage::Securebits => "prctl(PR_SET_SECUREBITS)",
            Stage::Setuid => "setresuid",
            Stage::Ambient => "prctl(PR_CAP_AMBIENT)",
            Stage::Capset => "capset",
            Stage::NoNewPrivs => "prctl(PR_SET_NO_NEW_PRIVS)",
            Stage::ParentDeathSignal => "prctl(PR_SET_PDEATHSIG)",
            Stage::Verify => "capget",
            Stage::Procfs => "open(/proc/thread-self/status)",
            Stage::SignalMask => "rt_sigprocmask",
            Stage::Seccomp => "seccomp(SECCOMP_SET_MODE_FILTER)",
            Stage::Exec => "execve",
            Stage::Died => "clone",
            Stage::Held => "clone",
            Stage::Landlock => "landlock_restrict_self",
            Stage::Netns => "setns",
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
    /// The failure of `stage` with no errno: the kernel answered success, but the state read
    /// back was not the one asked for.
    pub(crate) const fn unconfirmed(stage: Stage) -> Failure {
        Failure {
            stage,
            errno: None,
            remaining: CapMask::EMPTY,
        }
    }

    /// The failure of `stage` with the errno the closure is given.
    pub(crate) fn at(stage: Stage) -> impl Fn(Errno) -> Failure {
        move |errno| Failure {
            stage,
            errno: Some(errno),
            remaining: CapMask::EMPTY,
        }
    }
}

impl Failure {
    /// The errno to report: the failed call's, or `EPERM` for a failure that has none (a
    /// verification that read the wrong state back, a child that died), so that callers always
    /// get an error number.
    pub fn os_errno(&self) -> Errno {
        self.errno.unwrap_or(Errno::EPERM)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.stage == Stage::Died {
            return write!(f, "the child died before exec (a signal or the OOM killer)");
        }
        if self.stage == Stage::Held {
            return write!(
                f,
                "the child was stopped or held before exec (a SIGSTOP from a process of the \
                 same uid?) and was killed"
            );
        }
        match (self.stage, self.errno) {
            (Stage::Landlock, None) => {
                return write!(
                    f,
                    "landlock_restrict_self reported success, but an access the rules deny was \
                     still allowed: no Landlock domain is in place"
                )
            }
            (Stage::Landlock, Some(Errno::ENOSYS)) => {
                return write!(
                    f,
                    "the kernel has no Landlock (landlock_create_ruleset: ENOSYS)"
                )
            }
            (Stage::Landlock, Some(Errno::EOPNOTSUPP)) => {
                return write!(
                    f,
                    "the kernel's Landlock is disabled or lacks an access right the rules need \
                     (truncate: ABI 3, ioctl_dev: ABI 5)"
                )
            }
            (Stage::Rlimit, Some(Errno::EMFILE)) => {
                return write!(
                    f,
                    "RLIMIT_NOFILE leaves no descriptor number past the workload's stdio for \
                     the check of a layer (EMFILE)"
                )
            }
            (Stage::Netns, None) => {
                return write!(
                    f,
                    "setns or unshare reported success, but the thread is not in the namespace \
                     asked for"
                )
            }
            _ => {}
        }
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
        std::io::Error::from_raw_os_error(failure.os_errno() as i32)
    }
}

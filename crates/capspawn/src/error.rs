//! Why a spawn did not start the workload.

use crate::clone::StartError;
use crate::privilege_drop::Failure;
use nix::errno::Errno;

/// Why [`crate::Command::spawn`] did not start the workload. Nothing ran in any case: either
/// nothing was cloned, or the child stopped before `execve` and was reaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// An option cannot be passed to the kernel (a NUL byte, an empty command, …).
    InvalidInput { what: &'static str, message: String },
    /// No such user in the passwd database.
    UnknownUser(String),
    /// No such group in the group database.
    UnknownGroup(String),
    /// A capability to keep is not in the supervisor's permitted set, so it cannot be passed on.
    CapabilityNotHeld(crate::CapMask),
    /// A database lookup failed.
    Lookup { what: &'static str, errno: Errno },
    /// The supervisor could not prepare the child (`pipe`, `open`, `mmap`, `clone`).
    Setup { syscall: &'static str, errno: Errno },
    /// The child stopped at one step of its sequence.
    Child(Failure),
}

impl From<StartError> for SpawnError {
    fn from(error: StartError) -> Self {
        match error {
            StartError::Setup(syscall, errno) => SpawnError::Setup { syscall, errno },
            StartError::Child(failure) => SpawnError::Child(failure),
        }
    }
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpawnError::InvalidInput { what, message } => write!(f, "invalid {what}: {message}"),
            SpawnError::UnknownUser(name) => write!(f, "unknown user {name:?}"),
            SpawnError::UnknownGroup(name) => write!(f, "unknown group {name:?}"),
            SpawnError::CapabilityNotHeld(missing) => write!(
                f,
                "the supervisor does not hold {} in its permitted set, so the workload cannot keep it",
                missing.names().join(", ")
            ),
            SpawnError::Lookup { what, errno } => {
                write!(f, "{what} lookup failed: {}", errno.desc())
            }
            SpawnError::Setup { syscall, errno } => write!(f, "{syscall} failed: {}", errno.desc()),
            SpawnError::Child(failure) => write!(f, "{failure}"),
        }
    }
}

impl std::error::Error for SpawnError {}

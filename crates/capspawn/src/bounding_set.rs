//! The fail-closed clear of the capability bounding set.
//!
//! Kernel rule: the bounding set limits what `execve` can add to a thread's permitted set (from
//! a setuid-root binary or file capabilities). A capability can only leave it, through
//! `prctl(PR_CAPBSET_DROP)`, and only with `CAP_SETPCAP` in the effective set; without it the
//! kernel answers `EPERM` even for a capability that is already gone. So `EPERM` is fine only
//! when nothing is left raised, and every other outcome must stop the workload.

use crate::capability::CapMask;
use crate::thread_caps;
use nix::errno::Errno;

/// The bounding set could not be emptied: the workload must not run.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BoundingSetError {
    /// What `PR_CAPBSET_DROP` answered, or `None` when it claimed success but left
    /// capabilities raised.
    pub errno: Option<Errno>,
    /// The capabilities still raised after the attempt.
    pub remaining: CapMask,
}

impl std::fmt::Display for BoundingSetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self.errno {
            Some(Errno::EPERM) => "EPERM: the supervisor lacks CAP_SETPCAP".to_string(),
            Some(errno) => format!("{errno}"),
            None => "the kernel reported success".to_string(),
        };
        write!(
            f,
            "the capability bounding set could not be cleared ({why}); still raised: {}",
            self.remaining.names().join(", ")
        )
    }
}

impl std::error::Error for BoundingSetError {}

/// Decides, from what the kernel answered, whether the bounding set is now empty.
///
/// `cleared` is what capctl's `bounding::clear()` returned, `remaining` the set read back
/// afterwards (every capability the kernel knows), `cleared_unknown` what
/// `bounding::clear_unknown()` returned. A pure function, so every outcome can be tested.
pub fn decide(
    cleared: Result<(), Errno>,
    remaining: CapMask,
    cleared_unknown: Result<(), Errno>,
) -> Result<(), BoundingSetError> {
    match cleared {
        // Dropped everything, and the read-back agrees.
        Ok(()) if remaining.is_empty() => Ok(()),
        // No CAP_SETPCAP, but there was nothing to drop: already empty.
        Err(Errno::EPERM) if remaining.is_empty() => match cleared_unknown {
            Ok(()) => Ok(()),
            Err(errno) => Err(BoundingSetError {
                errno: Some(errno),
                remaining,
            }),
        },
        // Success with capabilities left (a filter that fakes success), EPERM with capabilities
        // raised, EINVAL at capability 0, anything else: refuse.
        Ok(()) => Err(BoundingSetError {
            errno: None,
            remaining,
        }),
        Err(errno) => Err(BoundingSetError {
            errno: Some(errno),
            remaining,
        }),
    }
}

/// Empties the calling thread's bounding set, or says why it could not.
///
/// Async-signal-safe (`prctl` calls only, no allocation, no locks): callable from
/// `CommandExt::pre_exec` and from the child of a `clone` before `execve`.
pub fn clear() -> Result<(), BoundingSetError> {
    decide_clear(capctl::caps::bounding::clear().map_err(|e| Errno::from_raw(e.code())))
}

/// The verdict on capctl's `bounding::clear()` outcome, from the set read back.
fn decide_clear(cleared: Result<(), Errno>) -> Result<(), BoundingSetError> {
    let remaining = thread_caps::bounding();
    // Only the EPERM verdict depends on clear_unknown(); skip its syscalls otherwise.
    let cleared_unknown = match cleared {
        Err(Errno::EPERM) if remaining.is_empty() => {
            capctl::caps::bounding::clear_unknown().map_err(|e| Errno::from_raw(e.code()))
        }
        _ => Ok(()),
    };
    decide(cleared, remaining, cleared_unknown)
}

/// Empties the bounding set except for `keep`, fail-closed like [`clear`]: a capability outside
/// `keep` that stays raised refuses. With an empty `keep` this is [`clear`]. Async-signal-safe.
pub fn clear_except(keep: CapMask) -> Result<(), BoundingSetError> {
    clear_except_with(keep, true)
}

/// [`clear_except`], with the read-back after a drop the kernel answered with success for every
/// capability only when `read_back`: 42 `PR_CAPBSET_READ` calls fewer without it. A filter can
/// fake that success, so `read_back: false` is only for a caller that then confirms the clear
/// from the kernel's own account (`CapBnd` in `/proc/thread-self/status`) before anything runs,
/// as the ordered drop's verification does (`privilege_drop::verify`). A refusal (`EPERM`
/// without `CAP_SETPCAP`, any other errno) is always decided on the read-back.
/// Async-signal-safe.
pub(crate) fn clear_except_with(keep: CapMask, read_back: bool) -> Result<(), BoundingSetError> {
    let dropped = if keep.is_empty() {
        capctl::caps::bounding::clear().map_err(|e| Errno::from_raw(e.code()))
    } else {
        drop_all_except(keep)
    };
    match dropped {
        Ok(()) if !read_back => Ok(()),
        dropped if keep.is_empty() => decide_clear(dropped),
        dropped => decide_except(keep, dropped),
    }
}

/// `PR_CAPBSET_DROP` for every capability the kernel knows but those in `keep`, stopping at the
/// first refusal; `EPERM` for a capability already gone is no refusal.
fn drop_all_except(keep: CapMask) -> Result<(), Errno> {
    for cap in (0..=crate::capability::MAX_CAP_NUMBER).filter(|&cap| !keep.contains(cap)) {
        match thread_caps::drop_bounding(cap) {
            Ok(()) => {}
            // Past the kernel's last capability (capability 0 always exists).
            Err(Errno::EINVAL) if cap > 0 => break,
            // No CAP_SETPCAP, but this one is already gone.
            Err(Errno::EPERM) if thread_caps::bounding_contains(cap) == Some(false) => {}
            Err(errno) => return Err(errno),
        }
    }
    Ok(())
}

/// The verdict on [`drop_all_except`]'s outcome, from the set read back.
fn decide_except(keep: CapMask, dropped: Result<(), Errno>) -> Result<(), BoundingSetError> {
    let remaining = CapMask(thread_caps::bounding().0 & !keep.0);
    decide(dropped, remaining, Ok(()))
}

/// Cross-checks a cleared bounding set against the kernel's own account (`CapBnd` in
/// `/proc/thread-self/status`), so that a filter faking both `PR_CAPBSET_DROP` and
/// `PR_CAPBSET_READ` is still caught. No readable procfs is a refusal too: the clear cannot be
/// confirmed. Async-signal-safe.
pub fn confirm_cleared() -> Result<(), BoundingSetError> {
    let ours = |pid: Option<u64>| pid == Some(crate::raw::gettid() as u64);
    match crate::proc_status::thread_self(None) {
        Ok(status) if !status.malformed && ours(status.pid) && status.bounding == Some(0) => Ok(()),
        Ok(status) => Err(BoundingSetError {
            errno: None,
            remaining: CapMask(status.bounding.unwrap_or(u64::MAX)),
        }),
        Err(errno) => Err(BoundingSetError {
            errno: Some(errno),
            remaining: thread_caps::bounding(),
        }),
    }
}

pub use crate::clone::probe_bounding_set_clear as probe_clear;

#[cfg(test)]
mod tests {
    use super::*;

    const SOME: CapMask = CapMask(1 << 21);

    #[test]
    fn success_with_nothing_left_is_done() {
        assert_eq!(decide(Ok(()), CapMask::EMPTY, Ok(())), Ok(()));
    }

    #[test]
    fn eperm_is_accepted_only_when_the_set_is_already_empty() {
        assert_eq!(decide(Err(Errno::EPERM), CapMask::EMPTY, Ok(())), Ok(()));
        assert_eq!(
            decide(Err(Errno::EPERM), SOME, Ok(())),
            Err(BoundingSetError {
                errno: Some(Errno::EPERM),
                remaining: SOME
            })
        );
        assert_eq!(
            decide(Err(Errno::EPERM), CapMask::EMPTY, Err(Errno::EPERM)),
            Err(BoundingSetError {
                errno: Some(Errno::EPERM),
                remaining: CapMask::EMPTY
            })
        );
    }

    #[test]
    fn success_that_leaves_capabilities_raised_is_refused() {
        assert_eq!(
            decide(Ok(()), SOME, Ok(())),
            Err(BoundingSetError {
                errno: None,
                remaining: SOME
            })
        );
    }

    #[test]
    fn any_other_errno_is_refused_whatever_the_set() {
        for errno in [Errno::EINVAL, Errno::E2BIG, Errno::EACCES, Errno::ENOSYS] {
            for remaining in [CapMask::EMPTY, SOME] {
                assert_eq!(
                    decide(Err(errno), remaining, Ok(())),
                    Err(BoundingSetError {
                        errno: Some(errno),
                        remaining
                    })
                );
            }
        }
    }

    #[test]
    fn the_error_names_what_is_left() {
        let err = BoundingSetError {
            errno: Some(Errno::EPERM),
            remaining: SOME,
        };
        let text = err.to_string();
        assert!(
            text.contains("CAP_SETPCAP") && text.contains("CAP_SYS_ADMIN"),
            "{text}"
        );
    }
}

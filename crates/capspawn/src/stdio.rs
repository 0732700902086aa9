//! The child's descriptors 0, 1, 2 and any beyond, opened in the parent.

use crate::error::SpawnError;
use nix::fcntl::OFlag;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Where one of the child's descriptors comes from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stdio {
    /// The supervisor's own descriptor of the same number (closed if it is closed there).
    Inherit,
    /// `/dev/null` for 0, 1 and 2; closed for a descriptor beyond them.
    Null,
    /// A new pipe for 0, 1 and 2 (the child reads 0, writes 1 and 2); a Unix stream socket pair
    /// beyond them, usable both ways. The supervisor's end is in [`crate::Child`].
    Pipe,
    /// This descriptor of the supervisor's, which must be open (else the spawn fails with
    /// `EBADF`).
    Fd(RawFd),
}

/// The descriptors opened for a spawn. What the child copies from are `sources` (one per
/// target descriptor, `-1` for closed); none of them is below the number of targets unless it
/// is its own target, so putting one in place never overwrites another's source.
pub(crate) struct StdioFds {
    /// Kept open until the child has its copies, then closed with this.
    child_ends: Vec<OwnedFd>,
    pub(crate) parent_ends: Vec<Option<OwnedFd>>,
    pub(crate) sources: Vec<RawFd>,
}

fn setup_error(syscall: &'static str) -> impl Fn(nix::errno::Errno) -> SpawnError {
    move |errno| SpawnError::Setup { syscall, errno }
}

impl StdioFds {
    pub(crate) fn open(plan: &[Stdio]) -> Result<Self, SpawnError> {
        let mut fds = StdioFds {
            child_ends: Vec::new(),
            parent_ends: plan.iter().map(|_| None).collect(),
            sources: Vec::with_capacity(plan.len()),
        };
        // The supervisor's descriptors first, before anything new is opened: a closed one's
        // number would be taken by a pipe made below, and the child would get that instead (its
        // own stdin pipe's write end as stderr, say). `Inherit` of a closed one leaves it closed,
        // as it is in the supervisor; `Fd` of one that is not open is an error.
        for (target, stdio) in plan.iter().enumerate() {
            fds.sources.push(match *stdio {
                Stdio::Inherit if is_open(target as RawFd) => target as RawFd,
                Stdio::Fd(fd) if is_open(fd) => fd,
                Stdio::Fd(_) => return Err(setup_error("fcntl")(nix::errno::Errno::EBADF)),
                Stdio::Inherit | Stdio::Null | Stdio::Pipe => -1,
            });
        }
        // One /dev/null for every standard stream that gets it.
        let mut null = -1;
        for (target, stdio) in plan.iter().enumerate() {
            match (stdio, target) {
                (Stdio::Null, 0..=2) => {
                    if null == -1 {
                        null = fds.keep(open_null()?);
                    }
                    fds.sources[target] = null;
                }
                (Stdio::Pipe, _) => {
                    let (child, mut parent) = if target < 3 {
                        pipe(target)?
                    } else {
                        socket_pair()?
                    };
                    // Ours lives as long as the child: not where a later spawn's `Inherit`
                    // of 0, 1 or 2 would pass it (see above_stdio).
                    crate::descriptor_table::above_stdio(&mut parent)
                        .map_err(setup_error("fcntl"))?;
                    fds.parent_ends[target] = Some(parent);
                    fds.sources[target] = fds.keep(child);
                }
                _ => {}
            }
        }
        let count = plan.len() as RawFd;
        for target in 0..fds.sources.len() {
            let source = fds.sources[target];
            if (0..count).contains(&source) && source != target as RawFd {
                let moved = nix::fcntl::fcntl(source, nix::fcntl::F_DUPFD_CLOEXEC(count))
                    .map_err(setup_error("fcntl"))?;
                // SAFETY: fcntl just returned this descriptor; nothing else owns it.
                fds.sources[target] = fds.keep(unsafe { OwnedFd::from_raw_fd(moved) });
            }
        }
        Ok(fds)
    }

    fn keep(&mut self, fd: OwnedFd) -> RawFd {
        let raw = fd.as_raw_fd();
        self.child_ends.push(fd);
        raw
    }
}

/// Whether `fd` is an open descriptor of this process.
fn is_open(fd: RawFd) -> bool {
    fd >= 0 && nix::fcntl::fcntl(fd, nix::fcntl::F_GETFD).is_ok()
}

fn open_null() -> Result<OwnedFd, SpawnError> {
    let mode = nix::sys::stat::Mode::empty();
    let fd = nix::fcntl::open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, mode)
        .map_err(setup_error("open"))?;
    // SAFETY: `open` just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// (child's end, supervisor's end). Both close-on-exec: the child's end loses the flag when
/// `dup2` puts it in place, and no other child inherits ours.
fn pipe(target: usize) -> Result<(OwnedFd, OwnedFd), SpawnError> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(setup_error("pipe2"))?;
    Ok(if target == 0 {
        (read, write)
    } else {
        (write, read)
    })
}

fn socket_pair() -> Result<(OwnedFd, OwnedFd), SpawnError> {
    let mut pair = [-1; 2];
    let kind = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    // SAFETY: socketpair writes two descriptors into `pair`.
    if unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, pair.as_mut_ptr()) } == -1 {
        return Err(setup_error("socketpair")(nix::errno::Errno::last()));
    }
    // SAFETY: socketpair just returned these descriptors; nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) })
}

//! The network namespace: the `network` layer. `'none'` runs the workload in a new namespace
//! with only a loopback interface (up); a namespace given as a path or a descriptor is joined.
//!
//! Kernel rules (setns(2), network_namespaces(7), ioctl_ns(2)):
//! - `setns(fd, CLONE_NEWNET)` moves the calling thread into the namespace `fd` refers to. It
//!   needs `CAP_SYS_ADMIN` in the caller's user namespace *and* in the user namespace that owns
//!   the target: a rootless supervisor (in a user namespace of its own) cannot join a namespace
//!   the initial user namespace owns (`EPERM`), only one created inside its own. So the child
//!   joins in step 1, before any credential change takes `CAP_SYS_ADMIN` away.
//! - `ioctl(fd, NS_GET_NSTYPE)` (Linux 4.11) answers the `CLONE_NEW*` type of a namespace
//!   descriptor, and fails (`ENOTTY`) on any other file: how a path or descriptor is checked to
//!   be a network namespace, in the parent, before anything is cloned.
//! - A namespace is named by its nsfs inode: `fstat` of any descriptor of it (a bind mount under
//!   `/run/netns`, `/proc/PID/ns/net`, the one `unshare` made) gives the same `st_dev` and
//!   `st_ino`, and `/proc/thread-self/ns/net` is always the calling thread's own. The child
//!   compares the two after `setns`, so a filter that fakes `setns`'s success is caught.
//! - `unshare(CLONE_NEWNET)` makes a new namespace for the calling thread only, owned by its
//!   user namespace, with a loopback interface that is down. It lives as long as a process or a
//!   descriptor refers to it.
//!
//! `'none'` is made in the parent, on a thread of its own (the supervisor's other threads keep
//! their namespace, see `maker`): `unshare`, `lo` brought up (`SIOCSIFFLAGS`, as bubblewrap's
//! `--unshare-net` does), `/proc/thread-self/ns/net` opened, and `setns` back. So the child does
//! the same `setns` and the same check for both forms, and nothing else.

use crate::error::SpawnError;
use crate::failure::{Failure, Stage};
use crate::landlock::c_str;
use nix::errno::Errno;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// `_IO(0xb7, 0x3)`: the namespace type of an nsfs descriptor.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
const THREAD_NET: &CStr = c_str(b"/proc/thread-self/ns/net\0");

/// The `network` option.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NetworkSpec {
    /// The supervisor's namespace (the default): nothing changes.
    #[default]
    Host,
    /// A new namespace with only `lo`, up.
    None,
    /// An existing namespace, by path (`/run/netns/NAME`, `/proc/PID/ns/net`).
    Path(PathBuf),
    /// An existing namespace, by a descriptor of the supervisor's (duplicated, not taken).
    Fd(RawFd),
}

/// A namespace to join, opened in the parent (closed when this drops, after the clone).
#[derive(Debug)]
pub struct Prepared {
    fd: OwnedFd,
    dev: u64,
    ino: u64,
}

/// What the child needs: the descriptor (which `clone::start` may renumber into a slot of the
/// child's small descriptor table) and the inode it must end up in.
#[derive(Clone, Debug)]
pub(crate) struct Joining {
    pub(crate) fd: std::cell::Cell<RawFd>,
    dev: u64,
    ino: u64,
}

impl Prepared {
    pub(crate) fn joining(&self) -> Joining {
        Joining {
            fd: std::cell::Cell::new(self.fd.as_raw_fd()),
            dev: self.dev,
            ino: self.ino,
        }
    }

    /// The namespace's inode number (what `ls -i /proc/PID/ns/net`, `ip netns identify` show).
    pub fn inode(&self) -> u64 {
        self.ino
    }
}

fn invalid(message: String) -> SpawnError {
    SpawnError::InvalidInput {
        what: "network",
        message,
    }
}

use crate::raw::fstat;

/// `fd` as a network namespace to join, or why it is not one.
fn checked(fd: OwnedFd, what: &str) -> Result<Prepared, SpawnError> {
    // SAFETY: an integer request without an argument, on a descriptor we own.
    let kind = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE as _) };
    if kind < 0 {
        return Err(invalid(format!(
            "{what} is not a namespace (NS_GET_NSTYPE: {})",
            Errno::last().desc()
        )));
    }
    if kind != libc::CLONE_NEWNET {
        let name = match kind {
            libc::CLONE_NEWNS => "mount",
            libc::CLONE_NEWUTS => "UTS",
            libc::CLONE_NEWIPC => "IPC",
            libc::CLONE_NEWUSER => "user",
            libc::CLONE_NEWPID => "PID",
            libc::CLONE_NEWCGROUP => "cgroup",
            _ => "another kind of",
        };
        return Err(invalid(format!(
            "{what} is a {name} namespace, not a network namespace"
        )));
    }
    let stat =
        fstat(fd.as_raw_fd()).map_err(|errno| invalid(format!("{what}: {}", errno.desc())))?;
    Ok(Prepared {
        fd,
        dev: stat.st_dev,
        ino: stat.st_ino,
    })
}

/// The failure of a spawn whose namespace cannot be made, found in the parent (nothing was
/// cloned).
fn refused(errno: Errno) -> SpawnError {
    SpawnError::Child(Failure {
        stage: Stage::Netns,
        errno: (errno != NOT_NEW).then_some(errno),
        remaining: Default::default(),
    })
}

/// Resolves `spec` in the parent: `None` for the host's namespace; otherwise the namespace,
/// open and checked to be a network namespace (`InvalidInput` if it is not, or does not exist),
/// or, for `'none'`, made.
pub fn prepare(spec: &NetworkSpec) -> Result<Option<Prepared>, SpawnError> {
    match spec {
        NetworkSpec::Host => Ok(None),
        NetworkSpec::Path(path) => {
            let shown = path.display();
            if !path.is_absolute() {
                return Err(invalid(format!("{shown} is not an absolute path")));
            }
            let c_path = CString::new(path.as_os_str().as_bytes())
                .map_err(|_| invalid(format!("{shown} contains a NUL byte")))?;
            // SAFETY: a NUL-terminated path; the new descriptor is owned below.
            let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
            if fd < 0 {
                return Err(invalid(match Errno::last() {
                    Errno::ENOENT => format!("{shown} does not exist"),
                    errno => format!("{shown} cannot be opened: {}", errno.desc()),
                }));
            }
            // SAFETY: open just returned this descriptor; nothing else owns it.
            checked(unsafe { OwnedFd::from_raw_fd(fd) }, &shown.to_string()).map(Some)
        }
        NetworkSpec::Fd(given) => {
            // Our own copy, close-on-exec: the caller keeps theirs.
            // SAFETY: integer arguments only.
            let fd = unsafe { libc::fcntl(*given, libc::F_DUPFD_CLOEXEC, 3) };
            if fd < 0 {
                return Err(invalid(format!(
                    "descriptor {given} cannot be used: {}",
                    Errno::last().desc()
                )));
            }
            // SAFETY: fcntl just returned this descriptor; nothing else owns it.
            checked(
                unsafe { OwnedFd::from_raw_fd(fd) },
                &format!("descriptor {given}"),
            )
            .map(Some)
        }
        NetworkSpec::None => {
            let made = maker::made().map_err(refused)?;
            checked(made, "the new namespace").map(Some)
        }
    }
}

/// The thread that makes `'none'` namespaces: one per process, started at the first request,
/// blocked on its queue between them. For each it unshares, brings `lo` up, opens the new
/// namespace and goes back to its own (`setns`). A thread that made one and exited instead
/// costs about 1.8 times as much (3.0 against 1.7 ms here, most of it the kernel's teardown of
/// the exiting thread's namespaces), so it is kept. If it cannot go back (a rootless
/// supervisor: its home namespace belongs to the initial user namespace, and setns needs
/// CAP_SYS_ADMIN there), it answers and ends, and the next request starts another.
mod maker {
    use super::{new_namespace, THREAD_NET};
    use nix::errno::Errno;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::sync::mpsc::{channel, Sender};
    use std::sync::Mutex;

    type Reply = Sender<Result<OwnedFd, Errno>>;
    static QUEUE: Mutex<Option<Sender<Reply>>> = Mutex::new(None);

    pub(super) fn made() -> Result<OwnedFd, Errno> {
        let mut queue = QUEUE.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..2 {
            let sender = match queue.as_ref() {
                Some(sender) => sender.clone(),
                None => queue.insert(start()?).clone(),
            };
            let (reply, answer) = channel();
            if sender.send(reply).is_ok() {
                if let Ok(made) = answer.recv() {
                    return made;
                }
            }
            *queue = None; // the thread has ended: start another
        }
        Err(Errno::EIO)
    }

    fn start() -> Result<Sender<Reply>, Errno> {
        let (sender, requests) = channel::<Reply>();
        std::thread::Builder::new()
            .name("capspawn-netns".into())
            .spawn(move || {
                // SAFETY: a NUL-terminated path; the descriptor is owned below.
                let home =
                    unsafe { libc::open(THREAD_NET.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
                if home < 0 {
                    let errno = Errno::last();
                    for reply in requests {
                        let _ = reply.send(Err(errno));
                    }
                    return;
                }
                // SAFETY: open just returned this descriptor; nothing else owns it.
                let mut home = unsafe { OwnedFd::from_raw_fd(home) };
                // Kept for the life of the process: never at 0, 1 or 2, where a spawn's
                // `Inherit` would hand the supervisor's namespace to a workload.
                if crate::descriptor_table::above_stdio(&mut home).is_err() {
                    return;
                }
                let Ok(home_stat) = crate::raw::fstat(home.as_raw_fd()) else {
                    return;
                };
                for reply in requests {
                    let made = new_namespace();
                    // SAFETY: integer arguments only: back to this thread's own namespace.
                    let back = unsafe { libc::setns(home.as_raw_fd(), libc::CLONE_NEWNET) };
                    let _ = reply.send(made);
                    // Back for real (a filter could fake setns), or it must not make the next
                    // one from in there, which would not be new for the next workload: end.
                    let home_again = back == 0 && super::in_namespace(&home_stat);
                    if !home_again {
                        return;
                    }
                }
            })
            .map_err(|error| Errno::from_raw(error.raw_os_error().unwrap_or(libc::EAGAIN)))?;
        Ok(sender)
    }
}

/// On the calling thread (the maker's, or a throwaway one): a new network namespace with `lo`
/// up, as a descriptor. The thread stays in it.
fn new_namespace() -> Result<OwnedFd, Errno> {
    let open_own = || {
        // SAFETY: a NUL-terminated path; the new descriptor is owned below.
        let fd = unsafe { libc::open(THREAD_NET.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(Errno::last());
        }
        // SAFETY: open just returned this descriptor; nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let before = fstat(open_own()?.as_raw_fd())?;
    // SAFETY: unshare affects only this thread's network namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(Errno::last());
    }
    let made = open_own()?;
    let after = fstat(made.as_raw_fd())?;
    if (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino) {
        // unshare "succeeded" and changed nothing (a filter faking it): this is the namespace
        // the thread came from, not a new one. `lo` is not touched there.
        return Err(NOT_NEW);
    }
    loopback_up()?;
    Ok(made)
}

/// Whether this thread is in the namespace `stat` (an nsfs `fstat`) describes.
fn in_namespace(stat: &libc::stat) -> bool {
    // SAFETY: a NUL-terminated path; the descriptor is owned below.
    let fd = unsafe { libc::open(THREAD_NET.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return false;
    }
    // SAFETY: open just returned this descriptor; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    fstat(fd.as_raw_fd()).is_ok_and(|now| (now.st_dev, now.st_ino) == (stat.st_dev, stat.st_ino))
}

/// What [`new_namespace`] answers when `unshare` claimed success and made no namespace; it
/// becomes a [`Stage::Netns`] failure without an errno.
const NOT_NEW: Errno = Errno::UnknownErrno;

/// `ip link set lo up` in this thread's namespace: `SIOCGIFFLAGS`, then `SIOCSIFFLAGS` with
/// `IFF_UP` added, on an `AF_INET` socket.
fn loopback_up() -> Result<(), Errno> {
    // SAFETY: a new socket, owned below.
    let socket = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if socket < 0 {
        return Err(Errno::last());
    }
    // SAFETY: socket just returned this descriptor; nothing else owns it.
    let socket = unsafe { OwnedFd::from_raw_fd(socket) };
    // SAFETY: ifreq is plain data, for which all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, &byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = byte as libc::c_char;
    }
    // SAFETY: a live ifreq naming `lo`, which the kernel reads and fills.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) } != 0 {
        return Err(Errno::last());
    }
    // SAFETY: ifr_flags is the union member SIOCGIFFLAGS just filled.
    unsafe { request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: the same live ifreq, read by the kernel.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// In the child, in step 1: `setns`, then the check that this thread's namespace is now the
/// one the parent opened (same nsfs inode), without allocating: open, `fstat`, close.
pub(crate) fn join(joining: Option<&Joining>) -> Result<(), Failure> {
    let Some(Joining { fd, dev, ino }) = joining else {
        return Ok(());
    };
    let (fd, dev, ino) = (fd.get(), *dev, *ino);
    // SAFETY: integer arguments only.
    if unsafe { libc::syscall(libc::SYS_setns, fd, libc::CLONE_NEWNET) } != 0 {
        return Err(Failure::at(Stage::Netns)(Errno::last()));
    }
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let own = unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            THREAD_NET.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if own < 0 {
        return Err(Failure::at(Stage::Netns)(Errno::last()));
    }
    let stat = fstat(own as RawFd);
    // SAFETY: closes the descriptor opened above, which nothing else uses.
    unsafe { libc::syscall(libc::SYS_close, own) };
    match stat {
        Ok(stat) if stat.st_dev == dev && stat.st_ino == ino => Ok(()),
        Ok(_) => Err(Failure::unconfirmed(Stage::Netns)),
        Err(errno) => Err(Failure::at(Stage::Netns)(errno)),
    }
}

/// Whether this process can make a network namespace: tried for real on a throwaway thread
/// (the namespace goes with it).
pub fn can_create() -> bool {
    std::thread::Builder::new()
        .spawn(|| new_namespace().is_ok())
        .ok()
        .and_then(|thread| thread.join().ok())
        .unwrap_or(false)
}

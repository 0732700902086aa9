//! Pseudo-terminals for interactive workloads: the pair is made in the parent, before `clone`,
//! with syscalls only; the child makes the peer its controlling terminal.
//!
//! Each function wraps one kernel call and says the rule it relies on. The master stays with the
//! supervisor (close-on-exec, so it never reaches a workload); the peer is the workload's 0, 1
//! and 2 (see [`crate::Command::terminal`]).

use crate::descriptor_table::above_stdio;
use nix::errno::Errno;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// A terminal's window size, in character cells.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct WindowSize {
    pub cols: u16,
    pub rows: u16,
}

/// A new pseudo-terminal: the supervisor's `master` and the workload's `peer`, both
/// close-on-exec.
#[derive(Debug)]
pub struct Pty {
    pub master: OwnedFd,
    pub peer: OwnedFd,
}

impl Pty {
    /// Opens a new pseudo-terminal of `size`: [`open_master`], [`unlock`], [`set_window_size`],
    /// then [`open_peer`]. Nothing here looks a path up but `/dev/ptmx` itself (and
    /// `/dev/pts/N` only when the kernel is older than `TIOCGPTPEER`). The peer's node is then
    /// [`close_node`]d, so that no other workload can open it by name.
    pub fn open(size: WindowSize) -> Result<Pty, PtyError> {
        let at = |syscall| move |errno| PtyError { syscall, errno };
        let mut master = open_master().map_err(at("open(/dev/ptmx)"))?;
        // Both live as long as the workload: not where a later spawn's `Inherit` of 0, 1 or 2
        // would pass them (see descriptor_table::above_stdio).
        above_stdio(&mut master).map_err(at("fcntl"))?;
        unlock(master.as_fd()).map_err(at("ioctl(TIOCSPTLCK)"))?;
        set_window_size(master.as_fd(), size).map_err(at("ioctl(TIOCSWINSZ)"))?;
        let mut peer = open_peer(master.as_fd()).map_err(at("ioctl(TIOCGPTPEER)"))?;
        above_stdio(&mut peer).map_err(at("fcntl"))?;
        close_node(peer.as_fd()).map_err(at("fchmod(/dev/pts/N)"))?;
        Ok(Pty { master, peer })
    }
}

/// Why [`Pty::open`] failed: the call (`"ioctl(TIOCGPTPEER)"`, …) and its errno.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PtyError {
    pub syscall: &'static str,
    pub errno: Errno,
}

impl PtyError {
    /// Whether the peer could not be opened through its master on a kernel that has
    /// `TIOCGPTPEER`: a seccomp filter or an LSM refused it, and nothing is opened by name
    /// instead (the terminal stage's refusal, not a resource error).
    pub fn is_refused_peer(&self) -> bool {
        self.syscall == "ioctl(TIOCGPTPEER)"
    }
}

/// `open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)`: each open of the multiplexer makes a new
/// pseudo-terminal pair and returns its master, locked (`TIOCSPTLCK`) until [`unlock`]ed.
/// `O_NOCTTY` so that the supervisor never takes it as its own controlling terminal.
pub fn open_master() -> Result<OwnedFd, Errno> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    let ptmx = crate::landlock::c_str(b"/dev/ptmx\0");
    // SAFETY: a NUL-terminated path literal; `open` returns a new descriptor or -1.
    let fd = Errno::result(unsafe { libc::open(ptmx.as_ptr(), flags) })?;
    // SAFETY: `open` just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `ioctl(master, TIOCSPTLCK, &0)`: a new pair's peer cannot be opened (`EIO`) until its lock
/// is cleared, which is what glibc's `unlockpt` does.
pub fn unlock(master: BorrowedFd) -> Result<(), Errno> {
    let unlocked: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from a live local.
    Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlocked) }).map(drop)
}

/// `fchmod(peer, 0)`: devpts makes `/dev/pts/N` owned by the opener's uid (the supervisor's,
/// often 0) with mode 0620 or 0600, so another workload running as that uid, even without any
/// capability, passes the owner check and could open a different session's terminal by name,
/// to type into it or read from it. Mode 0 leaves only `CAP_DAC_OVERRIDE` to open it. The
/// workload keeps the descriptors it was given (the kernel checks modes at `open` only), and
/// `/dev/tty` reaches its controlling terminal without the node's mode. Not `fchown` to the
/// workload's uid: its owner could `chmod` the node back. Between [`unlock`] and this call
/// the node is briefly openable; a private devpts instance would close that window.
pub fn close_node(peer: BorrowedFd) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    Errno::result(unsafe { libc::fchmod(peer.as_raw_fd(), 0) }).map(drop)
}

/// `ioctl(fd, TIOCSWINSZ, size)` on either side: the kernel stores the size with the terminal
/// and, when it changes, sends `SIGWINCH` to the terminal's foreground process group.
pub fn set_window_size(fd: BorrowedFd, size: WindowSize) -> Result<(), Errno> {
    let winsize = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `struct winsize` from a live local.
    Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &winsize) }).map(drop)
}

/// `ioctl(fd, TIOCGWINSZ)`: the size the terminal has.
pub fn window_size(fd: BorrowedFd) -> Result<WindowSize, Errno> {
    let mut winsize = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` into a live local.
    Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut winsize) })?;
    Ok(WindowSize {
        cols: winsize.ws_col,
        rows: winsize.ws_row,
    })
}

/// The peer of `master`, `O_RDWR | O_NOCTTY | O_CLOEXEC`: by [`open_peer_of`], so no path is
/// looked up; by name ([`open_peer_by_name`]) only when it answers that it has no such ioctl
/// (`EINVAL`, `ENOTTY`) *and* the kernel is older than 4.13, which added it. On a newer kernel
/// that answer can only come from a seccomp filter or an LSM, which would thus force the
/// by-name path (whose check cannot tell devpts instances apart: each numbers from 0), so the
/// error is returned: fail closed. Any other error is returned too.
pub fn open_peer(master: BorrowedFd) -> Result<OwnedFd, Errno> {
    match open_peer_of(master) {
        Err(Errno::EINVAL | Errno::ENOTTY) if !kernel_has_tiocgptpeer() => {
            open_peer_by_name(master)
        }
        other => other,
    }
}

/// Whether the running kernel (`uname`'s release) is Linux 4.13 or later, which has
/// `TIOCGPTPEER`. A release that cannot be read or parsed counts as new: the by-name path is
/// taken only on a kernel known to be old.
pub fn kernel_has_tiocgptpeer() -> bool {
    // SAFETY: `utsname` is plain bytes; all zeroes is a valid value.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uname` fills the live local it is given.
    if unsafe { libc::uname(&mut name) } == -1 {
        return true;
    }
    // SAFETY: the kernel NUL-terminates `release` within its array (which the zeroes end too).
    let release = unsafe { std::ffi::CStr::from_ptr(name.release.as_ptr()) };
    release_has_tiocgptpeer(&release.to_string_lossy())
}

/// [`kernel_has_tiocgptpeer`] for a release string such as `"6.18.0-1-amd64"` or `"4.9.337"`.
pub fn release_has_tiocgptpeer(release: &str) -> bool {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|part| part.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (4, 13),
        _ => true,
    }
}

const PEER_FLAGS: libc::c_int = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;

/// `ioctl(master, TIOCGPTPEER, flags)` (Linux 4.13): opens the peer through the master itself,
/// in the master's devpts instance, whatever the mount namespace has at `/dev/pts`.
pub fn open_peer_of(master: BorrowedFd) -> Result<OwnedFd, Errno> {
    // SAFETY: TIOCGPTPEER takes its flags as an integer argument and returns a new descriptor.
    let fd =
        Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, PEER_FLAGS) })?;
    // SAFETY: the ioctl just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `ioctl(master, TIOCGPTN)`: the number `N` of the peer's `/dev/pts/N`.
pub fn peer_number(master: BorrowedFd) -> Result<u32, Errno> {
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int into a live local.
    Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) })?;
    Ok(number)
}

/// Opens `/dev/pts/N` for `N` = [`peer_number`], and checks that what it opened is that
/// terminal's peer (a character device of the Unix98 pty peer majors, 136 to 143, with minor
/// `N`): a path can be mounted over, `TIOCGPTPEER` cannot. `ENXIO` when it is something else.
pub fn open_peer_by_name(master: BorrowedFd) -> Result<OwnedFd, Errno> {
    let number = peer_number(master)?;
    let path = std::ffi::CString::new(format!("/dev/pts/{number}")).map_err(|_| Errno::EINVAL)?;
    // SAFETY: a NUL-terminated path; `open` returns a new descriptor or -1.
    let fd = Errno::result(unsafe { libc::open(path.as_ptr(), PEER_FLAGS) })?;
    // SAFETY: `open` just returned this descriptor; nothing else owns it.
    let peer = unsafe { OwnedFd::from_raw_fd(fd) };
    let stat = nix::sys::stat::fstat(peer.as_raw_fd())?;
    // SAFETY: major and minor only take the device number apart.
    let (major, minor) = unsafe { (libc::major(stat.st_rdev), libc::minor(stat.st_rdev)) };
    let is_peer = stat.st_mode & libc::S_IFMT == libc::S_IFCHR
        && (136..=143).contains(&major)
        && (major - 136) * 256 + minor == number;
    if !is_peer {
        return Err(Errno::ENXIO);
    }
    Ok(peer)
}

/// `ioctl(master, TIOCGPGRP)`: the terminal's foreground process group (the shell, or the job
/// it runs in the foreground). On a master the kernel answers for the peer's side.
pub fn foreground_process_group(master: BorrowedFd) -> Result<libc::pid_t, Errno> {
    let mut pgrp: libc::pid_t = 0;
    // SAFETY: TIOCGPGRP writes one pid_t into a live local.
    Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPGRP, &mut pgrp) })?;
    Ok(pgrp)
}

/// `fcntl(fd, F_SETFL, flags | O_NONBLOCK)`: reads and writes answer `EAGAIN` instead of
/// waiting, as an event loop needs (libuv leaves a terminal it cannot reopen, such as a master,
/// blocking, and would then wait in `write`). The flag belongs to the open file description,
/// which only the supervisor has for a master.
pub fn set_nonblocking(fd: BorrowedFd) -> Result<(), Errno> {
    let raw = fd.as_raw_fd();
    // SAFETY: integer arguments only.
    let flags = Errno::result(unsafe { libc::fcntl(raw, libc::F_GETFL) })?;
    // SAFETY: integer arguments only.
    Errno::result(unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
}

/// Child side, between `clone` and `execve`: `ioctl(fd, TIOCSCTTY, 0)`. The kernel makes a
/// terminal the controlling terminal of the caller's session when the caller is a session
/// leader with none (`setsid` just made it one, else `EPERM`), opened the terminal for reading,
/// and the terminal is no other session's; then it needs no privilege. Only stealing a
/// terminal from another session (argument 1) needs `CAP_SYS_ADMIN`, and this never asks.
/// One raw syscall, async-signal-safe.
pub(crate) fn make_controlling(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    crate::raw::check(unsafe { libc::syscall(libc::SYS_ioctl, fd, libc::TIOCSCTTY, 0) }).map(drop)
}

/// Step 1's terminal: with `setup.controlling_terminal`, descriptor 0 (the peer, just put in
/// place) becomes the controlling terminal of the session `setsid` made.
pub(crate) fn attach(
    setup: &crate::privilege_drop::ProcessSetup,
) -> Result<(), crate::failure::Failure> {
    use crate::failure::{Failure, Stage};
    if setup.controlling_terminal {
        make_controlling(0).map_err(Failure::at(Stage::Terminal))?;
    }
    Ok(())
}

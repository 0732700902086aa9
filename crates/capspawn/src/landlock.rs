//! Landlock: the `filesystem` layer. The workload reaches only the paths it was given (and what
//! lies beneath them): `read_only` to read, list and execute, `read_write` with every access
//! right the kernel's Landlock ABI handles.
//!
//! Kernel rules (Documentation/userspace-api/landlock.rst):
//! - `landlock_create_ruleset(attr, size, 0)` returns a close-on-exec ruleset descriptor that
//!   *handles* the access rights of `attr.handled_access_fs`: once enforced, every handled right
//!   is denied unless a rule grants it. `landlock_create_ruleset(NULL, 0,
//!   LANDLOCK_CREATE_RULESET_VERSION)` returns the ABI version instead (`ENOSYS`: not built in;
//!   `EOPNOTSUPP`: built in but not enabled at boot).
//! - `landlock_add_rule(ruleset, LANDLOCK_RULE_PATH_BENEATH, attr, 0)` grants `allowed_access`
//!   on the inode of `attr.parent_fd` (an `O_PATH` descriptor is enough) and beneath it; a
//!   non-directory takes only the file rights (`EINVAL` otherwise). Rules follow the inode, not
//!   the path: a bind mount of a listed directory elsewhere is covered too.
//! - `landlock_restrict_self(ruleset, 0)` enforces it on the calling thread, and on every
//!   process it starts from then on: it cannot be undone, and children inherit it (a workload's
//!   own children included). It needs `no_new_privs` or `CAP_SYS_ADMIN`, so it runs after step 5
//!   of the drop. Descriptors opened before it are not checked again.
//!
//! - `struct landlock_ruleset_attr`'s third field, `scoped` (ABI 6), confines the domain's
//!   abstract Unix sockets and signals to itself ([`SCOPES`]). Nothing up to ABI 7 checks
//!   `connect()` to a pathname Unix socket: that is the seccomp rule of [`UnixSockets`].
//! - A rule's path is opened here with `O_PATH`, and the descriptor's own path must be the one
//!   given: a symbolic link in it is refused (see `open_path`).
//!
//! Everything but `landlock_restrict_self` and the probe after it runs in the parent
//! ([`prepare`]): path lookups allocate, and the child may only call the kernel.
//!
//! Written on the three raw syscalls rather than the `landlock` crate: Debian's 0.4.7 needs a
//! newer libc than the one this workspace pins and builds syn for its two proc-macro
//! dependencies (thiserror, enumflags2), and its compatibility logic decides what was enforced
//! in `restrict_self`, on the calling thread, while capspawn must know it in the parent, before
//! the clone, to refuse (`'hard'`) or report it (`'best-effort'`).

use crate::error::SpawnError;
use crate::failure::{Failure, Stage};
use nix::errno::Errno;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// `LANDLOCK_ACCESS_FS_*`, in the kernel's bit order, with the ABI that added each.
pub const ACCESS_FS: [(&str, u64, u32); 16] = [
    ("execute", 1 << 0, 1),
    ("write_file", 1 << 1, 1),
    ("read_file", 1 << 2, 1),
    ("read_dir", 1 << 3, 1),
    ("remove_dir", 1 << 4, 1),
    ("remove_file", 1 << 5, 1),
    ("make_char", 1 << 6, 1),
    ("make_dir", 1 << 7, 1),
    ("make_reg", 1 << 8, 1),
    ("make_sock", 1 << 9, 1),
    ("make_fifo", 1 << 10, 1),
    ("make_block", 1 << 11, 1),
    ("make_sym", 1 << 12, 1),
    ("refer", 1 << 13, 2),
    ("truncate", 1 << 14, 3),
    ("ioctl_dev", 1 << 15, 5),
];

const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
const REFER: u64 = 1 << 13;
const TRUNCATE: u64 = 1 << 14;
const IOCTL_DEV: u64 = 1 << 15;

/// `read_only`: read files, list directories, execute.
pub const READ_ONLY: u64 = EXECUTE | READ_FILE | READ_DIR;
/// The rights a rule on a file (not a directory) may grant.
const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;
/// Every right capspawn knows.
const KNOWN: u64 = (1 << 16) - 1;
/// The rights without which the rules would let the workload do something they do not grant:
/// all but `refer`, whose absence (ABI 1) makes the kernel deny every rename or link across
/// directories instead, which is stricter.
pub const NEEDED: u64 = KNOWN & !REFER;

/// `LANDLOCK_SCOPE_*` (ABI 6, Linux 6.12), set in the ruleset's `scoped` field: the workload
/// may not connect or send to an abstract Unix socket, nor signal a process, outside its own
/// Landlock domain. Without them a workload confined to its paths (root without capabilities,
/// say) could still `kill` the supervisor or another process of its uid, or talk to an abstract
/// socket (`@/tmp/.X11-unix/X0`, D-Bus's, containerd's shim sockets) outside its rules.
pub const SCOPES: [(&str, u64, u32); 2] = [
    ("scope_abstract_unix_socket", 1 << 0, 6),
    ("scope_signal", 1 << 1, 6),
];
/// Every scope of [`SCOPES`].
const SCOPED: u64 = (1 << 0) | (1 << 1);
/// The ABI that added `scoped` to `struct landlock_ruleset_attr`.
const SCOPE_ABI: u32 = 6;

const CREATE_RULESET_VERSION: libc::c_ulong = 1;
const RULE_PATH_BENEATH: libc::c_ulong = 1;

/// What `'hard'` and `'best-effort'` mean.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Compatibility {
    /// Refuse the spawn unless the kernel enforces every right in [`NEEDED`] (the default).
    #[default]
    Hard,
    /// Run with what the kernel enforces, and report the rest ([`Report`]).
    BestEffort,
}

/// Whether a workload under `filesystem` may create Unix sockets. Landlock (up to ABI 7 at
/// least) does not check `connect()` or `sendto()` to a pathname Unix socket, so a workload
/// that can make one reaches every such socket whose file mode lets it (`/run/docker.sock`,
/// systemd's private socket, the supervisor's own), whatever its rules.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum UnixSockets {
    /// The default: capspawn's seccomp filter fails `socket(AF_UNIX)`, `socketpair(AF_UNIX)`
    /// of datagram type (which can `sendto` any path) and io_uring (which makes sockets out of
    /// the filter's sight) with `EACCES`; a connected stream or seqpacket `socketpair`, which
    /// reaches nothing outside, and Unix sockets the workload is given still work.
    #[default]
    Deny,
    /// No such rule: pathname Unix sockets outside the rules are reachable.
    Allow,
}

/// The `filesystem` option: absolute paths that must exist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilesystemSpec {
    pub read_only: Vec<PathBuf>,
    pub read_write: Vec<PathBuf>,
    pub compatibility: Compatibility,
    pub unix_sockets: UnixSockets,
}

/// What a spawn with a `filesystem` got: the kernel's Landlock ABI (0: none), whether a
/// Landlock domain was enforced at all, and the rights of [`NEEDED`] it does not enforce (by
/// name, e.g. `truncate` before ABI 3). `'hard'` runs only with `enforced` and nothing
/// unenforced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub abi: u32,
    pub enforced: bool,
    pub unenforced: Vec<&'static str>,
}

/// How the child confirms the domain is in place: an open that the rules do not allow and
/// that nothing else would refuse, which must now fail with `EACCES`. A filter that fakes
/// `landlock_restrict_self`'s success must fake this `openat` too.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// Nothing to confirm: `/` is read-write, so the domain denies no file access.
    Nothing,
    /// `open(path, O_RDONLY | O_DIRECTORY)`: `/` when no rule is on it.
    ListDirectory(&'static CStr),
    /// `open(path, O_WRONLY)`: `/dev/null` when `/` is read-only and no rule makes it writable.
    WriteFile(&'static CStr),
}

/// What the child needs: the ruleset (-1: best effort without Landlock; `clone::start` may
/// renumber it into a slot of the child's small descriptor table) and the probe.
#[derive(Clone, Debug)]
pub(crate) struct Restriction {
    pub(crate) ruleset: std::cell::Cell<RawFd>,
    probe: Probe,
}

/// A `filesystem` resolved in the parent: the ruleset descriptor (closed when this drops,
/// after the child has exec'd or exited) and the report.
#[derive(Debug)]
pub struct Prepared {
    ruleset: Option<OwnedFd>,
    probe: Probe,
    pub report: Report,
}

impl Prepared {
    pub(crate) fn restriction(&self) -> Restriction {
        Restriction {
            ruleset: std::cell::Cell::new(self.ruleset.as_ref().map_or(-1, AsRawFd::as_raw_fd)),
            probe: self.probe,
        }
    }
}

use crate::raw::check;

/// The kernel's Landlock ABI version: `Err(ENOSYS)` when it has no Landlock, `Err(EOPNOTSUPP)`
/// when Landlock is not enabled at boot (or a filter answers so).
pub fn abi() -> Result<u32, Errno> {
    // SAFETY: a NULL attribute with size 0 and the version flag only asks for the version.
    let version = check(unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    })?;
    Ok(u32::try_from(version).unwrap_or(0))
}

/// The filesystem rights ABI `abi` handles.
pub fn handled(abi: u32) -> u64 {
    ACCESS_FS
        .iter()
        .filter(|&&(_, _, since)| abi >= since)
        .fold(0, |mask, &(_, bit, _)| mask | bit)
}

/// The names of the rights in `mask`, in the kernel's order.
pub fn names(mask: u64) -> Vec<&'static str> {
    ACCESS_FS
        .iter()
        .filter(|&&(_, bit, _)| mask & bit != 0)
        .map(|&(name, _, _)| name)
        .collect()
}

/// What a spawn with `compatibility` would get from a kernel with ABI `abi` (0: none): the
/// filesystem rights of [`NEEDED`] it does not handle, then the [`SCOPES`] it lacks.
pub fn report_for(abi: u32) -> Report {
    let missing = if abi == 0 {
        NEEDED
    } else {
        NEEDED & !handled(abi)
    };
    let mut unenforced = names(missing);
    unenforced.extend(
        SCOPES
            .iter()
            .filter(|&&(_, _, since)| abi < since)
            .map(|&(name, _, _)| name),
    );
    Report {
        abi,
        enforced: abi > 0,
        unenforced,
    }
}

fn invalid(message: String) -> SpawnError {
    SpawnError::InvalidInput {
        what: "filesystem",
        message,
    }
}

/// The failure of a spawn that Landlock refuses, found in the parent (nothing was cloned).
fn refused(errno: Errno) -> SpawnError {
    SpawnError::Child(Failure::at(Stage::Landlock)(errno))
}

/// One listed path, open with `O_PATH`, and what it is.
struct Opened {
    fd: OwnedFd,
    stat: libc::stat,
    writable: bool,
}

fn open_path(path: &std::path::Path, writable: bool) -> Result<Opened, SpawnError> {
    let shown = path.display();
    if !path.is_absolute() {
        return Err(invalid(format!("{shown} is not an absolute path")));
    }
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| invalid(format!("{shown} contains a NUL byte")))?;
    // SAFETY: a NUL-terminated path; the new descriptor is owned below.
    let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        let errno = Errno::last();
        return Err(invalid(match errno {
            Errno::ENOENT => format!("{shown} does not exist"),
            other => format!("{shown} cannot be opened: {}", other.desc()),
        }));
    }
    // SAFETY: open just returned this descriptor; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // What the descriptor itself is, not what the name was when looked at: a symbolic link
    // anywhere in the path (one a same-uid workload put at a path it could write, in place of
    // its workspace) would otherwise choose the rule's inode. A swap after the open changes
    // nothing, the rule follows the descriptor.
    let resolved =
        std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(|e| {
            SpawnError::Setup {
                syscall: "readlink",
                errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            }
        })?;
    if resolved != normalised(path) {
        return Err(invalid(format!(
            "give {} instead of {shown}, which resolves there through a symbolic link: a rule \
             follows what its path opens, so capspawn takes only paths without links in them",
            resolved.display()
        )));
    }
    let stat =
        fstat(fd.as_raw_fd()).map_err(|errno| invalid(format!("{shown}: {}", errno.desc())))?;
    Ok(Opened { fd, stat, writable })
}

/// `path` (absolute) without `.`, `..`, repeated or trailing slashes, taken as text: a `..`
/// after a link resolves elsewhere, and the comparison with the opened path then refuses it.
fn normalised(path: &std::path::Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

use crate::raw::fstat;

fn stat_path(path: &CStr) -> Option<libc::stat> {
    // SAFETY: stat is plain data, for which all zeroes is a valid value.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path; the kernel writes one stat into the live value.
    (unsafe { libc::stat(path.as_ptr(), &mut stat) } == 0).then_some(stat)
}

/// A C string constant (C string literals need Rust 1.77; the crates declare 1.74).
pub(crate) const fn c_str(bytes: &'static [u8]) -> &'static CStr {
    match CStr::from_bytes_with_nul(bytes) {
        Ok(c) => c,
        Err(_) => panic!("not NUL-terminated"),
    }
}

fn same_inode(a: &libc::stat, b: &libc::stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

/// The probe for these rules: an access they deny, that only Landlock would deny (the file
/// mode lets every user do it).
fn choose_probe(opened: &[Opened]) -> Result<Probe, SpawnError> {
    const ROOT: &CStr = c_str(b"/\0");
    const DEV: &CStr = c_str(b"/dev\0");
    const DEV_NULL: &CStr = c_str(b"/dev/null\0");
    let root = stat_path(ROOT).ok_or_else(|| invalid("/ cannot be looked up".into()))?;
    let on = |stat: &libc::stat, writable_only: bool| {
        opened
            .iter()
            .any(|o| same_inode(&o.stat, stat) && (o.writable || !writable_only))
    };
    if !on(&root, false) && root.st_mode & 0o005 == 0o005 {
        return Ok(Probe::ListDirectory(ROOT));
    }
    if on(&root, true) {
        return Ok(Probe::Nothing);
    }
    // `/` is read-only: a write to /dev/null (mode 0666), unless a rule makes it writable.
    let writable_beneath = [DEV_NULL, DEV]
        .iter()
        .filter_map(|path| stat_path(path))
        .any(|stat| on(&stat, true));
    if let Some(null) = stat_path(DEV_NULL) {
        let char_device = null.st_mode & libc::S_IFMT == libc::S_IFCHR;
        if char_device && null.st_mode & 0o002 != 0 && !writable_beneath {
            return Ok(Probe::WriteFile(DEV_NULL));
        }
    }
    Err(invalid(
        "with '/' read-only, capspawn confirms the Landlock domain by a write to /dev/null that \
         must be refused, so /dev/null (a character device, mode 0666) must exist and not be \
         read-write"
            .into(),
    ))
}

/// Resolves `spec` in the parent: opens every path (`O_PATH`), probes the ABI, builds the
/// ruleset and chooses the child's probe. An error before anything is cloned: a path that is
/// not absolute or does not exist (`InvalidInput`); with `'hard'`, a kernel without Landlock
/// (`ENOSYS`, `EOPNOTSUPP`) or without a right of [`NEEDED`] (`EOPNOTSUPP`), as a
/// [`Stage::Landlock`] failure.
pub fn prepare(spec: &FilesystemSpec) -> Result<Prepared, SpawnError> {
    prepare_for(spec, abi)
}

/// [`prepare`] with the ABI asked of `probe` (the kernel's, or a test's).
fn prepare_for(
    spec: &FilesystemSpec,
    probe: impl FnOnce() -> Result<u32, Errno>,
) -> Result<Prepared, SpawnError> {
    let opened = spec
        .read_only
        .iter()
        .map(|path| open_path(path, false))
        .chain(spec.read_write.iter().map(|path| open_path(path, true)))
        .collect::<Result<Vec<_>, _>>()?;
    let abi = match probe() {
        Ok(abi) => abi,
        Err(errno @ (Errno::ENOSYS | Errno::EOPNOTSUPP)) => {
            if spec.compatibility == Compatibility::Hard {
                return Err(refused(errno));
            }
            0
        }
        Err(errno) => {
            return Err(SpawnError::Setup {
                syscall: "landlock_create_ruleset",
                errno,
            })
        }
    };
    let report = report_for(abi);
    if spec.compatibility == Compatibility::Hard && !report.unenforced.is_empty() {
        return Err(refused(Errno::EOPNOTSUPP));
    }
    if abi == 0 {
        return Ok(Prepared {
            ruleset: None,
            probe: Probe::Nothing,
            report,
        });
    }
    let probe = choose_probe(&opened)?;
    let handled_fs = handled(abi);
    // struct landlock_ruleset_attr: handled_access_fs, handled_access_net (none: the network is
    // the `network` and `seccomp` layers'), scoped (ABI 6). Before ABI 6 the kernel takes only
    // the first field (a larger size with a non-zero scoped would be E2BIG), and the report
    // says the scopes are not enforced ('hard' refused above).
    let attr: [u64; 3] = [handled_fs, 0, if abi >= SCOPE_ABI { SCOPED } else { 0 }];
    let size = if abi >= SCOPE_ABI {
        std::mem::size_of_val(&attr)
    } else {
        std::mem::size_of::<u64>()
    };
    // SAFETY: a live 24-byte attribute, of which the kernel reads `size` bytes.
    let ruleset =
        check(unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, attr.as_ptr(), size, 0) })
            .map_err(|errno| SpawnError::Setup {
                syscall: "landlock_create_ruleset",
                errno,
            })?;
    // SAFETY: the kernel just returned this close-on-exec descriptor; nothing else owns it.
    let ruleset = unsafe { OwnedFd::from_raw_fd(ruleset as RawFd) };
    for path in &opened {
        let wanted = if path.writable { handled_fs } else { READ_ONLY };
        let is_dir = path.stat.st_mode & libc::S_IFMT == libc::S_IFDIR;
        let allowed = wanted & handled_fs & if is_dir { KNOWN } else { FILE_RIGHTS };
        add_rule(&ruleset, &path.fd, allowed).map_err(|errno| SpawnError::Setup {
            syscall: "landlock_add_rule",
            errno,
        })?;
    }
    Ok(Prepared {
        ruleset: Some(ruleset),
        probe,
        report,
    })
}

/// `struct landlock_path_beneath_attr`, packed as the kernel declares it.
#[repr(C, packed)]
struct PathBeneath {
    allowed_access: u64,
    parent_fd: i32,
}

fn add_rule(ruleset: &OwnedFd, path: &OwnedFd, allowed: u64) -> Result<(), Errno> {
    let attr = PathBeneath {
        allowed_access: allowed,
        parent_fd: path.as_raw_fd(),
    };
    // SAFETY: a live, packed path_beneath attribute and two open descriptors for the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            RULE_PATH_BENEATH,
            &attr as *const PathBeneath,
            0,
        )
    })
    .map(drop)
}

/// In the child, after `no_new_privs`: `landlock_restrict_self`, then the probe, which must be
/// refused with `EACCES`. Async-signal-safe: two or three raw syscalls.
pub(crate) fn restrict(restriction: Option<&Restriction>) -> Result<(), Failure> {
    let Some(Restriction { ruleset, probe }) = restriction else {
        return Ok(());
    };
    let (ruleset, probe) = (ruleset.get(), *probe);
    if ruleset < 0 {
        return Ok(()); // best effort on a kernel without Landlock, reported by the parent
    }
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0) })
        .map_err(Failure::at(Stage::Landlock))?;
    let (path, flags) = match probe {
        Probe::Nothing => return Ok(()),
        Probe::ListDirectory(path) => (path, libc::O_RDONLY | libc::O_DIRECTORY),
        Probe::WriteFile(path) => (path, libc::O_WRONLY),
    };
    // SAFETY: a NUL-terminated path; a descriptor it returns is closed below.
    let opened = unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags | libc::O_CLOEXEC,
        )
    };
    if opened >= 0 {
        // SAFETY: closes the descriptor just opened, which nothing else uses.
        unsafe { libc::syscall(libc::SYS_close, opened) };
    }
    match check(opened) {
        Err(Errno::EACCES) => Ok(()),
        // Opened: no domain is in place, whatever landlock_restrict_self answered. Any other
        // error: the probe did not confirm it either.
        _ => Err(Failure::unconfirmed(Stage::Landlock)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_abi_handles_the_rights_it_added() {
        assert_eq!(handled(0), 0);
        assert_eq!(handled(1), (1 << 13) - 1);
        assert_eq!(handled(2), (1 << 14) - 1);
        assert_eq!(handled(3), (1 << 15) - 1);
        assert_eq!(handled(4), handled(3));
        assert_eq!(handled(5), KNOWN);
        assert_eq!(handled(7), KNOWN);
    }

    #[test]
    fn the_report_names_what_an_abi_does_not_enforce() {
        const SCOPES: [&str; 2] = ["scope_abstract_unix_socket", "scope_signal"];
        assert_eq!(report_for(7).unenforced, Vec::<&str>::new());
        assert_eq!(report_for(6).unenforced, Vec::<&str>::new());
        assert_eq!(report_for(5).unenforced, SCOPES);
        assert_eq!(
            report_for(3).unenforced,
            [&["ioctl_dev"][..], &SCOPES].concat()
        );
        // ABI 1 lacks refer too, which only denies more: not reported.
        assert_eq!(
            report_for(1).unenforced,
            [&["truncate", "ioctl_dev"][..], &SCOPES].concat()
        );
        let none = report_for(0);
        assert!(!none.enforced);
        assert_eq!(none.unenforced.len(), 17);
    }

    #[test]
    fn hard_refuses_an_abi_without_truncate_or_ioctl_dev_and_best_effort_reports_them() {
        let spec = |compatibility| FilesystemSpec {
            read_only: vec!["/usr".into()],
            read_write: vec!["/tmp".into()],
            compatibility,
            ..Default::default()
        };
        // ABI 5 handles every filesystem right, but has no scopes.
        for abi in [1, 2, 3, 4, 5] {
            let refused = prepare_for(&spec(Compatibility::Hard), || Ok(abi));
            assert!(
                matches!(&refused, Err(SpawnError::Child(f)) if f.stage == Stage::Landlock && f.errno == Some(Errno::EOPNOTSUPP)),
                "{abi}: {refused:?}"
            );
        }
        // This kernel has ABI 7, so a ruleset for ABI 3 can be built for real.
        let prepared = prepare_for(&spec(Compatibility::BestEffort), || Ok(3)).unwrap();
        assert!(prepared.ruleset.is_some());
        assert_eq!(
            prepared.report.unenforced,
            ["ioctl_dev", "scope_abstract_unix_socket", "scope_signal"]
        );
        let absent =
            prepare_for(&spec(Compatibility::BestEffort), || Err(Errno::EOPNOTSUPP)).unwrap();
        assert!(absent.ruleset.is_none() && !absent.report.enforced);
        let hard = prepare_for(&spec(Compatibility::Hard), || Err(Errno::ENOSYS));
        assert!(matches!(hard, Err(SpawnError::Child(f)) if f.errno == Some(Errno::ENOSYS)));
        assert!(prepare_for(&spec(Compatibility::Hard), || Ok(6)).is_ok());
    }

    #[test]
    fn paths_are_normalised_as_text_before_the_comparison_with_the_opened_one() {
        for (given, normal) in [
            ("/usr", "/usr"),
            ("/usr/", "/usr"),
            ("//usr//lib/.", "/usr/lib"),
            ("/usr/lib/../bin", "/usr/bin"),
            ("/..", "/"),
            ("/", "/"),
        ] {
            assert_eq!(normalised(given.as_ref()), PathBuf::from(normal), "{given}");
        }
    }

    #[test]
    fn a_path_through_a_symbolic_link_is_refused_with_the_path_to_give() {
        let dir = std::env::temp_dir().join(format!("capspawn-ll-link-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("real/sub")).unwrap();
        std::os::unix::fs::symlink(dir.join("real"), dir.join("link")).unwrap();
        for (given, resolved) in [("link", "real"), ("link/sub", "real/sub")] {
            let refused = open_path(&dir.join(given), true).err();
            let wanted = format!("give {} instead of", dir.join(resolved).display());
            assert!(
                matches!(&refused, Some(SpawnError::InvalidInput { message, .. }) if message.starts_with(&wanted)),
                "{given}: {refused:?}"
            );
        }
        assert!(open_path(&dir.join("real/sub/"), true).is_ok());
        assert!(open_path(&dir.join("real/sub/../sub"), true).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_path_beneath_attribute_is_the_kernels_twelve_bytes() {
        assert_eq!(std::mem::size_of::<PathBeneath>(), 12);
    }
}

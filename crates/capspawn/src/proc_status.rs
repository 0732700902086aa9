//! The kernel's own account of the calling thread: `/proc/thread-self/status`.
//!
//! Kernel rule: procfs prints this file from the task's live credentials (`CapInh`, `CapPrm`,
//! `CapEff`, `CapBnd`, `CapAmb`, `Uid`, `Gid`, `Groups`, `NoNewPrivs`, `Seccomp`), not from
//! anything the syscalls that changed them answered. Step 6 of the drop reads it to cross-check
//! `capget`, `prctl`, `getresuid` and `getgroups`, so a filter or LSM that fakes those must fake
//! these reads too, consistently. Read with raw syscalls into a buffer on the stack and parsed
//! as it streams in: no allocation, no lock, and no input can make it panic (every number is
//! range-checked, every index bounded), so the child of a `clone` may call it before `execve`.

use crate::capability::CapMask;
use crate::failure::{Failure, Stage};
use crate::privilege_drop::{BoundingSetPolicy, Privileges};
use crate::raw;
use nix::errno::Errno;
use std::os::fd::RawFd;

/// What the status file said. Fields it did not print stay `None`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub inheritable: Option<u64>,
    pub permitted: Option<u64>,
    pub effective: Option<u64>,
    pub bounding: Option<u64>,
    pub ambient: Option<u64>,
    /// Real, effective, saved and filesystem uid.
    pub uids: Option<[u32; 4]>,
    /// Real, effective, saved and filesystem gid.
    pub gids: Option<[u32; 4]>,
    pub no_new_privs: Option<u64>,
    /// `Seccomp`: 0 none, 1 strict, 2 filter.
    pub seccomp: Option<u64>,
    /// `Seccomp_filters` (Linux 5.9): how many filters are attached.
    pub seccomp_filters: Option<u64>,
    /// The last `NSpid` entry: this thread's id in its own pid namespace.
    pub pid: Option<u64>,
    /// `SigIgn`: the signals ignored (bit `n - 1` for signal `n`).
    pub ignored_signals: Option<u64>,
    /// `SigCgt`: the signals with a handler.
    pub caught_signals: Option<u64>,
    /// How many supplementary groups `Groups` listed.
    pub groups: usize,
    /// Whether each listed group was among the expected ones, none twice (the parent removed
    /// duplicates from what it set; the kernel sorts by global id, so in a user namespace the
    /// printed order need not be increasing).
    pub groups_as_expected: bool,
    /// The owner of the open status file: root when the task is not dumpable (procfs gives a
    /// non-dumpable task's files to root), its effective uid otherwise.
    pub owner: Option<u32>,
    /// A line or number that cannot be what procfs prints: a field twice, a value out of
    /// range, too many or too few values. Such a file is not trusted.
    pub malformed: bool,
}

/// The lines read, by name.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Field {
    CapInh,
    CapPrm,
    CapEff,
    CapBnd,
    CapAmb,
    Uid,
    Gid,
    Groups,
    NoNewPrivs,
    Seccomp,
    SeccompFilters,
    NsPid,
    SigIgn,
    SigCgt,
    Other,
}

impl Field {
    fn named(key: &[u8]) -> Field {
        match key {
            b"CapInh" => Field::CapInh,
            b"CapPrm" => Field::CapPrm,
            b"CapEff" => Field::CapEff,
            b"CapBnd" => Field::CapBnd,
            b"CapAmb" => Field::CapAmb,
            b"Uid" => Field::Uid,
            b"Gid" => Field::Gid,
            b"Groups" => Field::Groups,
            b"NoNewPrivs" => Field::NoNewPrivs,
            b"Seccomp" => Field::Seccomp,
            b"Seccomp_filters" => Field::SeccompFilters,
            b"NSpid" => Field::NsPid,
            b"SigIgn" => Field::SigIgn,
            b"SigCgt" => Field::SigCgt,
            _ => Field::Other,
        }
    }

    /// Capability masks are hexadecimal, everything else decimal.
    fn radix(self) -> u64 {
        match self {
            Field::CapInh | Field::CapPrm | Field::CapEff | Field::CapBnd | Field::CapAmb => 16,
            Field::SigIgn | Field::SigCgt => 16,
            _ => 10,
        }
    }

    /// The bit that marks the field as seen (`Other` is never marked).
    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// The fields that every kernel capspawn supports prints (`NoNewPrivs` since 4.10).
const REQUIRED: [Field; 12] = [
    Field::SigIgn,
    Field::SigCgt,
    Field::CapInh,
    Field::CapPrm,
    Field::CapEff,
    Field::CapBnd,
    Field::CapAmb,
    Field::Uid,
    Field::Gid,
    Field::Groups,
    Field::NoNewPrivs,
    Field::NsPid,
];

/// The longest field name kept; longer ones are `Other`.
const KEY_MAX: usize = 24;

/// A streaming parser: fed the file in pieces of any size, it keeps only the line it is in.
struct Parser<'a> {
    expected_groups: Option<&'a [libc::gid_t]>,
    status: Status,
    seen: u32,
    key: [u8; KEY_MAX],
    key_len: usize,
    /// The line's field once its `:` was read; `None` while reading its name.
    field: Option<Field>,
    /// The number being read, `None` before its first digit.
    number: Option<u64>,
    /// How many numbers of this line were read.
    index: usize,
    uids: [u32; 4],
    /// Which of the expected groups were listed (by index in the sorted expected list).
    seen_groups: [u64; MAX_GROUPS / 64],
}

/// As many groups as a spawn may set (`privilege_drop::MAX_GROUPS`).
const MAX_GROUPS: usize = crate::privilege_drop::MAX_GROUPS;

impl<'a> Parser<'a> {
    fn new(expected_groups: Option<&'a [libc::gid_t]>) -> Self {
        Parser {
            expected_groups,
            status: Status {
                groups_as_expected: true,
                ..Status::default()
            },
            seen: 0,
            key: [0; KEY_MAX],
            key_len: 0,
            field: None,
            number: None,
            index: 0,
            uids: [0; 4],
            seen_groups: [0; MAX_GROUPS / 64],
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.byte(byte);
        }
    }

    fn byte(&mut self, byte: u8) {
        let Some(field) = self.field else {
            match byte {
                b':' => self.begin(),
                b'\n' => self.key_len = KEY_MAX + 1, // a line with no name: never a known key
                _ => {
                    if let Some(slot) = self.key.get_mut(self.key_len) {
                        *slot = byte;
                    }
                    self.key_len = self.key_len.saturating_add(1);
                }
            }
            return;
        };
        if field == Field::Other {
            if byte == b'\n' {
                self.end_line();
            }
            return;
        }
        match byte {
            b' ' | b'\t' => self.end_number(field),
            b'\n' => {
                self.end_number(field);
                self.end_line();
            }
            _ => {
                let digit = match (byte as char).to_digit(field.radix() as u32) {
                    Some(digit) => u64::from(digit),
                    None => return self.status.malformed = true,
                };
                let number = self.number.unwrap_or(0);
                match number
                    .checked_mul(field.radix())
                    .and_then(|n| n.checked_add(digit))
                {
                    Some(n) => self.number = Some(n),
                    None => self.status.malformed = true,
                }
            }
        }
    }

    fn begin(&mut self) {
        let field = match self.key.get(..self.key_len) {
            Some(name) => Field::named(name),
            None => Field::Other,
        };
        if field != Field::Other {
            if self.seen & field.bit() != 0 {
                self.status.malformed = true;
            }
            self.seen |= field.bit();
        }
        self.field = Some(field);
        self.number = None;
        self.index = 0;
    }

    fn end_number(&mut self, field: Field) {
        let Some(value) = self.number.take() else {
            return;
        };
        let index = self.index;
        self.index = index.saturating_add(1);
        let id = u32::try_from(value);
        let status = &mut self.status;
        match field {
            Field::CapInh | Field::CapPrm | Field::CapEff | Field::CapBnd | Field::CapAmb => {
                let slot = match field {
                    Field::CapInh => &mut status.inheritable,
                    Field::CapPrm => &mut status.permitted,
                    Field::CapEff => &mut status.effective,
                    Field::CapBnd => &mut status.bounding,
                    _ => &mut status.ambient,
                };
                if index == 0 {
                    *slot = Some(value);
                } else {
                    status.malformed = true;
                }
            }
            Field::Uid | Field::Gid => match (self.uids.get_mut(index), id) {
                (Some(slot), Ok(id)) => *slot = id,
                _ => status.malformed = true,
            },
            Field::Groups => {
                let Ok(gid) = id else {
                    return status.malformed = true;
                };
                status.groups = status.groups.saturating_add(1);
                let Some(expected) = self.expected_groups else {
                    return;
                };
                // `expected` is sorted (the parent sorted it); each may be listed once.
                let index = expected
                    .binary_search(&gid)
                    .ok()
                    .filter(|&i| i < MAX_GROUPS);
                let first = index.and_then(|i| {
                    let (word, bit) = (self.seen_groups.get_mut(i / 64)?, 1u64 << (i % 64));
                    let first = *word & bit == 0;
                    *word |= bit;
                    Some(first)
                });
                if first != Some(true) {
                    status.groups_as_expected = false;
                }
            }
            Field::NoNewPrivs
            | Field::Seccomp
            | Field::SeccompFilters
            | Field::SigIgn
            | Field::SigCgt => {
                let slot = match field {
                    Field::NoNewPrivs => &mut status.no_new_privs,
                    Field::Seccomp => &mut status.seccomp,
                    Field::SigIgn => &mut status.ignored_signals,
                    Field::SigCgt => &mut status.caught_signals,
                    _ => &mut status.seccomp_filters,
                };
                if index == 0 {
                    *slot = Some(value);
                } else {
                    status.malformed = true;
                }
            }
            Field::NsPid => status.pid = Some(value),
            Field::Other => {}
        }
    }

    fn end_line(&mut self) {
        if let Some(field @ (Field::Uid | Field::Gid)) = self.field {
            if self.index == 4 {
                let ids = Some(self.uids);
                match field {
                    Field::Uid => self.status.uids = ids,
                    _ => self.status.gids = ids,
                }
            } else {
                self.status.malformed = true;
            }
        }
        self.field = None;
        self.key_len = 0;
    }

    fn finish(mut self) -> Status {
        if self.field.is_some() || self.key_len != 0 {
            // The file ends in the middle of a line: procfs ends every line with a newline.
            self.status.malformed = true;
        }
        if REQUIRED.iter().any(|field| self.seen & field.bit() == 0) {
            self.status.malformed = true;
        }
        self.status
    }
}

/// Parses a whole status text (for tests, and for the stream below).
pub fn parse(text: &[u8], expected_groups: Option<&[libc::gid_t]>) -> Status {
    let mut parser = Parser::new(expected_groups);
    parser.feed(text);
    parser.finish()
}

const STATUS: &[u8] = b"/proc/thread-self/status\0";

/// `/proc/thread-self/status`, opened (close-on-exec) to be read later: the child opens it
/// before `setrlimit` can lower `RLIMIT_NOFILE` below the descriptors the supervisor has open,
/// and reads it after the last credential change. `Err` when it cannot be opened: no procfs
/// mounted there (`ENOENT`), or something that is not procfs (`ENOTSUP`). Async-signal-safe.
pub struct Account(Result<RawFd, Errno>);

impl Account {
    /// Whether the file is open: then [`Account::read`] reads it, or fails.
    pub fn is_open(&self) -> bool {
        self.0.is_ok()
    }

    /// The descriptor, or -1 when the file is not open.
    pub(crate) fn fd(&self) -> RawFd {
        self.0.unwrap_or(-1)
    }

    pub fn open() -> Account {
        // SAFETY: a NUL-terminated path; the new descriptor is closed on drop (and on exec).
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD,
                STATUS.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Account(Err(Errno::last()));
        }
        let account = Account(Ok(fd as RawFd));
        match raw::on_procfs(fd as RawFd) {
            Ok(()) => account,
            Err(errno) => Account(Err(errno)), // `account` drops: closed
        }
    }

    /// Reads and parses the file, once (the state at this moment). Its owner comes from a
    /// fresh lookup of the path: procfs updates a file's owner (root for a task that is not
    /// dumpable) when the path is looked up, not when an open descriptor is.
    pub fn read(&self, expected_groups: Option<&[libc::gid_t]>) -> Result<Status, Errno> {
        let fd = self.0?;
        // SAFETY: stat is plain data, for which all zeroes is a valid value.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a NUL-terminated path; the kernel writes one stat into the live value.
        let looked_up = unsafe {
            libc::syscall(
                libc::SYS_newfstatat,
                libc::AT_FDCWD,
                STATUS.as_ptr(),
                &mut stat as *mut libc::stat,
                0,
            )
        };
        if looked_up != 0 {
            return Err(Errno::last());
        }
        let mut parser = Parser::new(expected_groups);
        parser.status.owner = Some(stat.st_uid);
        stream(fd, &mut parser, false)?;
        Ok(parser.finish())
    }
}

impl Account {
    /// Reads and parses the file again from its start (`pread` at offset 0: procfs regenerates
    /// a status file for each read from offset 0, so this is the state now, not the state at
    /// `read`'s). No owner lookup. For the seccomp step's read-back. Async-signal-safe.
    pub fn reread(&self) -> Result<Status, Errno> {
        let fd = self.0?;
        let mut parser = Parser::new(None);
        stream(fd, &mut parser, true)?;
        Ok(parser.finish())
    }
}

/// Feeds the status file to `parser`, from the descriptor's offset (`read`) or from its start
/// (`pread`, `positional`), to its end.
fn stream(fd: RawFd, parser: &mut Parser, positional: bool) -> Result<(), Errno> {
    let mut buffer = [0u8; 4096]; // the whole file (about 1.5 KiB) in one read
    let mut offset: libc::off_t = 0;
    loop {
        // SAFETY: the kernel writes at most `buffer.len()` bytes into the live buffer.
        let n = unsafe {
            if positional {
                let (buf, len) = (buffer.as_mut_ptr(), buffer.len());
                libc::syscall(libc::SYS_pread64, fd, buf, len, offset)
            } else {
                libc::syscall(libc::SYS_read, fd, buffer.as_mut_ptr(), buffer.len())
            }
        };
        if n < 0 {
            return Err(Errno::last());
        }
        if n == 0 {
            return Ok(());
        }
        match usize::try_from(n).ok().and_then(|n| buffer.get(..n)) {
            Some(bytes) => parser.feed(bytes),
            // More than was asked for: not the kernel's answer.
            None => return Err(Errno::EIO),
        }
        // procfs makes the whole file at once and a read takes as much of it as fits, so a
        // short read was the rest of it. The end-of-file read that would follow makes the
        // kernel print the whole file again (~30 µs here) to find nothing there; a read cut
        // short any other way leaves fields missing, which `finish` calls malformed.
        if usize::try_from(n).is_ok_and(|n| n < buffer.len()) {
            return Ok(());
        }
        offset = offset.saturating_add(n as libc::off_t);
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        if let Ok(fd) = self.0 {
            // SAFETY: closes the descriptor `open` made, which nothing else uses.
            unsafe { libc::syscall(libc::SYS_close, fd) };
        }
    }
}

/// Opens, reads and parses `/proc/thread-self/status` at once. Async-signal-safe.
pub fn thread_self(expected_groups: Option<&[libc::gid_t]>) -> Result<Status, Errno> {
    Account::open().read(expected_groups)
}

impl Status {
    /// How the state procfs shows differs from what `privileges` asked for, as the failure to
    /// report; `None` when it is exactly that. A malformed file, or one that is not this
    /// thread's (its pid is not ours), is a failure too.
    pub fn disagrees(&self, privileges: &Privileges) -> Option<Failure> {
        let keep = privileges.capabilities;
        let failure = |stage, remaining| {
            Some(Failure {
                stage,
                errno: None,
                remaining,
            })
        };
        let ours = self.pid.is_some_and(|pid| pid == raw::gettid() as u64);
        if self.malformed || !ours {
            return failure(Stage::Verify, CapMask::EMPTY);
        }
        // No supervisor handler left to run in the child (step 1, or CLONE_CLEAR_SIGHAND).
        if self.caught_signals != Some(0) {
            return failure(Stage::Verify, CapMask::EMPTY);
        }
        if privileges.bounding_set == BoundingSetPolicy::Clear {
            let bounding = self.bounding.unwrap_or(u64::MAX);
            if bounding & !keep.0 != 0 {
                return failure(Stage::BoundingSet, CapMask(bounding & !keep.0));
            }
        }
        for held in [
            self.effective,
            self.permitted,
            self.inheritable,
            self.ambient,
        ] {
            let held = held.unwrap_or(u64::MAX);
            if held != keep.0 {
                return failure(Stage::Verify, CapMask(held & !keep.0));
            }
        }
        if privileges.no_new_privs && self.no_new_privs != Some(1) {
            return failure(Stage::Verify, CapMask::EMPTY);
        }
        if let Some(uid) = privileges.uid {
            if self.uids != Some([uid; 4]) {
                return failure(Stage::Setuid, CapMask::EMPTY);
            }
        }
        if let Some(gid) = privileges.gid {
            if self.gids != Some([gid; 4]) {
                return failure(Stage::Setgid, CapMask::EMPTY);
            }
        }
        if let Some(wanted) = &privileges.groups {
            if self.groups != wanted.len() || !self.groups_as_expected {
                return failure(Stage::Setgroups, CapMask::EMPTY);
            }
        }
        // Not dumpable, as procfs itself shows it: for a task whose effective uid is not 0,
        // its files belong to root only then (for uid 0 the owner tells nothing).
        if let Some([_, euid, _, _]) = self.uids {
            if euid != 0 && self.owner != Some(0) {
                return failure(Stage::Dumpable, CapMask::EMPTY);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &[u8] = b"Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t7\nNgid:\t0\n\
Pid:\t7\nPPid:\t1\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nFDSize:\t64\n\
Groups:\t4 27 \nNStgid:\t7\nNSpid:\t90\t7\nNSpgid:\t7\nNSsid:\t1\nSigIgn:\t0000000000001000\n\
SigCgt:\t0000000000000000\nCapInh:\t0000000000000000\n\
CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t000001ffffffffff\n\
CapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n";

    #[test]
    fn a_status_file_is_read_field_by_field_in_pieces_of_any_size() {
        for piece in [1, 2, 3, 7, 64, ROOT.len()] {
            let mut parser = Parser::new(Some(&[4, 27]));
            for chunk in ROOT.chunks(piece) {
                parser.feed(chunk);
            }
            let status = parser.finish();
            assert!(!status.malformed, "{piece}");
            assert_eq!(status.uids, Some([0; 4]));
            assert_eq!(status.bounding, Some(0x1ff_ffff_ffff));
            assert_eq!(status.effective, Some(0));
            assert_eq!(status.no_new_privs, Some(1));
            assert_eq!(status.seccomp, Some(2));
            assert_eq!(status.seccomp_filters, Some(1));
            assert_eq!(status.pid, Some(7));
            assert_eq!((status.groups, status.groups_as_expected), (2, true));
        }
    }

    #[test]
    fn groups_must_be_the_expected_ones_each_once() {
        let with = |line: &[u8]| {
            let text = [&ROOT[..ROOT.len() - 1], b"\n", line].concat();
            parse(&text, Some(&[4, 27]))
        };
        let replaced = |from: &[u8], to: &[u8]| {
            let text = String::from_utf8_lossy(ROOT).replace(
                std::str::from_utf8(from).unwrap(),
                std::str::from_utf8(to).unwrap(),
            );
            parse(text.as_bytes(), Some(&[4, 27]))
        };
        assert!(!replaced(b"Groups:\t4 27 ", b"Groups:\t4 42 ").groups_as_expected);
        // A user namespace can print them out of order: still the same set.
        assert!(replaced(b"Groups:\t4 27 ", b"Groups:\t27 4 ").groups_as_expected);
        assert!(!replaced(b"Groups:\t4 27 ", b"Groups:\t4 4 ").groups_as_expected);
        assert_eq!(replaced(b"Groups:\t4 27 ", b"Groups:\t").groups, 0);
        // A field printed twice is not procfs's output.
        assert!(with(b"CapEff:\t0000000000000000\n").malformed);
    }

    #[test]
    fn no_input_makes_the_parser_panic_and_odd_input_is_malformed() {
        let odd: [&[u8]; 10] = [
            b"",
            b"CapEff:\t00000000000000000000000000\n",
            b"Uid:\t0\t0\t0\n",
            b"Uid:\t0\t0\t0\t0\t0\n",
            b"Uid:\t99999999999999999999\t0\t0\t0\n",
            b"Groups:\t4294967296\n",
            b"CapBnd:\tzz\n",
            b"NSpid:\t1",
            b":::::\n\n\n\t\t",
            &[0xff; 300],
        ];
        for text in odd {
            assert!(parse(text, None).malformed, "{text:?}");
            let appended = [ROOT, text].concat();
            let status = parse(&appended, None);
            assert!(status.malformed || text.is_empty(), "{text:?}");
        }
        // Every byte value, everywhere, in a long line: no panic, no overflow.
        let noise: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let _ = parse(&noise, Some(&[]));
        let long_key: Vec<u8> = std::iter::repeat(b'K').take(5000).chain(*b":1\n").collect();
        assert!(parse(&long_key, None).malformed);
    }

    #[test]
    fn this_threads_own_status_is_read_and_is_ours() {
        let status = thread_self(None).expect("procfs");
        assert!(!status.malformed, "{status:?}");
        assert_eq!(status.pid, Some(raw::gettid() as u64));
        let sets = crate::thread_caps::get().unwrap();
        assert_eq!(status.effective, Some(sets.effective.0));
        assert_eq!(status.bounding, Some(crate::thread_caps::bounding().0));
    }
}

//! File capabilities: the `security.capability` extended attribute (`struct vfs_cap_data`,
//! revisions 1 to 3) that `setcap` writes, read in the supervisor after a failed `execve` to say
//! what the program asked for.
//!
//! A program whose attribute has the effective flag (`cap_net_raw=ep`, as Debian's `ping`) is
//! "capability-dumb": the kernel refuses to exec it (`EPERM`) unless the new process gets every
//! capability the file lists as permitted, which an emptied bounding set never allows. Nothing
//! here runs in the child.

use crate::capability::CapMask;
use crate::resolve;
use nix::errno::Errno;
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The attribute's name.
const XATTR: &[u8] = b"security.capability\0";

/// `VFS_CAP_REVISION_MASK`, and the revisions with their sizes (`XATTR_CAPS_SZ_*`).
const REVISION_MASK: u32 = 0xFF00_0000;
const REVISION_1: u32 = 0x0100_0000;
const REVISION_2: u32 = 0x0200_0000;
const REVISION_3: u32 = 0x0300_0000;
const SIZE_1: usize = 12;
const SIZE_2: usize = 20;
const SIZE_3: usize = 24;
/// `VFS_CAP_FLAGS_EFFECTIVE`.
const FLAG_EFFECTIVE: u32 = 0x0000_0001;

/// A file's capabilities, as `getcap` shows them.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FileCaps {
    /// The `vfs_cap_data` revision: 1, 2 or 3.
    pub revision: u8,
    /// The effective flag (`=ep`): the program expects its permitted set to be effective at
    /// once, and the kernel refuses the exec when it cannot have all of it.
    pub effective: bool,
    pub permitted: CapMask,
    pub inheritable: CapMask,
    /// Revision 3 (a namespaced attribute): the uid, in the file system's user namespace,
    /// of the namespace root the capabilities are for.
    pub root_id: Option<u32>,
}

fn le32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Decodes a `security.capability` value; `None` for a size or revision the kernel would not
/// accept either.
pub fn decode(bytes: &[u8]) -> Option<FileCaps> {
    if bytes.len() < 4 {
        return None;
    }
    let magic = le32(bytes, 0);
    let (revision, size) = match magic & REVISION_MASK {
        REVISION_1 => (1, SIZE_1),
        REVISION_2 => (2, SIZE_2),
        REVISION_3 => (3, SIZE_3),
        _ => return None,
    };
    if bytes.len() != size {
        return None;
    }
    // data[0] holds capabilities 0-31, data[1] (revisions 2 and 3) 32-63.
    let mut permitted = u64::from(le32(bytes, 4));
    let mut inheritable = u64::from(le32(bytes, 8));
    if revision >= 2 {
        permitted |= u64::from(le32(bytes, 12)) << 32;
        inheritable |= u64::from(le32(bytes, 16)) << 32;
    }
    Some(FileCaps {
        revision,
        effective: magic & FLAG_EFFECTIVE != 0,
        permitted: CapMask(permitted),
        inheritable: CapMask(inheritable),
        root_id: (revision == 3).then(|| le32(bytes, 20)),
    })
}

/// The capabilities of the file at `path` (symbolic links followed, as `execve` follows them):
/// `Ok(None)` when it has none (or an attribute no kernel would honour).
pub fn read(path: &Path) -> Result<Option<FileCaps>, Errno> {
    let path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut buffer = [0u8; SIZE_3 + 8];
    // SAFETY: `path` and `XATTR` are NUL-terminated; `buffer` is writable for its length.
    let read = unsafe {
        libc::getxattr(
            path.as_ptr(),
            XATTR.as_ptr().cast(),
            buffer.as_mut_ptr().cast(),
            buffer.len(),
        )
    };
    if read < 0 {
        return match Errno::last() {
            Errno::ENODATA | Errno::ENOTSUP => Ok(None),
            errno => Err(errno),
        };
    }
    Ok(decode(&buffer[..read as usize]))
}

/// After an `execve` of `program` failed with `EPERM`: the file the child's search stopped at
/// (the first candidate of its `PATH` search that is an executable regular file, relative
/// candidates taken from `cwd`), and its capabilities when it has some. `path` is the child's
/// `PATH`, `None` if it has none.
pub fn of_exec_failure(
    program: &OsStr,
    path: Option<&OsStr>,
    cwd: Option<&Path>,
) -> Option<(PathBuf, FileCaps)> {
    let candidates = resolve::program_candidates(program, path).ok()?;
    for candidate in candidates {
        let mut file = PathBuf::from(OsStr::from_bytes(candidate.as_bytes()));
        if file.is_relative() {
            if let Some(cwd) = cwd {
                // components() drops the `.` of `./run` and of an empty PATH entry.
                file = cwd.join(file).components().collect();
            }
        }
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            continue;
        }
        // The search stops at the first file it can try: this is the one that failed.
        return read(&file).ok().flatten().map(|caps| (file, caps));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(magic: u32, words: &[u32]) -> Vec<u8> {
        std::iter::once(magic)
            .chain(words.iter().copied())
            .flat_map(u32::to_le_bytes)
            .collect()
    }

    const NET_RAW: u64 = 1 << 13;

    #[test]
    fn decodes_revision_2_as_setcap_writes_it() {
        // cap_net_raw=ep
        let caps = decode(&value(0x0200_0001, &[NET_RAW as u32, 0, 0, 0])).unwrap();
        assert_eq!(
            caps,
            FileCaps {
                revision: 2,
                effective: true,
                permitted: CapMask(NET_RAW),
                inheritable: CapMask::EMPTY,
                root_id: None
            }
        );
        assert_eq!(caps.permitted.names(), ["CAP_NET_RAW"]);
    }

    #[test]
    fn decodes_the_upper_word_and_inheritable() {
        // cap_bpf (39) permitted, cap_chown (0) and cap_checkpoint_restore (40) inheritable.
        let caps = decode(&value(0x0200_0000, &[0, 1, 1 << 7, 1 << 8])).unwrap();
        assert!(!caps.effective);
        assert_eq!(caps.permitted, CapMask(1 << 39));
        assert_eq!(caps.inheritable, CapMask(1 | (1 << 40)));
    }

    #[test]
    fn decodes_revision_1_with_32_bits_only() {
        let caps = decode(&value(0x0100_0001, &[NET_RAW as u32, 1])).unwrap();
        assert_eq!((caps.revision, caps.effective), (1, true));
        assert_eq!(caps.permitted, CapMask(NET_RAW));
        assert_eq!(caps.inheritable, CapMask(1));
    }

    #[test]
    fn decodes_revision_3_with_its_root_id() {
        let caps = decode(&value(0x0300_0001, &[NET_RAW as u32, 0, 0, 0, 100_000])).unwrap();
        assert_eq!((caps.revision, caps.root_id), (3, Some(100_000)));
        assert_eq!(caps.permitted, CapMask(NET_RAW));
    }

    #[test]
    fn rejects_what_the_kernel_rejects() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[1, 0, 0]), None);
        // A revision with the size of another.
        assert_eq!(decode(&value(0x0200_0001, &[0, 0])), None);
        assert_eq!(decode(&value(0x0100_0001, &[0, 0, 0, 0])), None);
        // Unknown revisions.
        assert_eq!(decode(&value(0x0400_0001, &[0, 0, 0, 0, 0])), None);
        assert_eq!(decode(&value(0x0000_0001, &[0, 0])), None);
    }

    #[test]
    fn a_file_without_the_attribute_has_none() {
        assert_eq!(read(Path::new("/proc/self/exe")).ok().flatten(), None);
        assert!(read(Path::new("/nonexistent/capspawn")).is_err());
    }
}

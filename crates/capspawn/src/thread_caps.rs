//! The calling thread's capability state, read and written with raw syscalls.
//!
//! Capabilities are per thread. Every function here is async-signal-safe (one or a few
//! syscalls, no allocation), so the child of a `clone` may call them between `clone` and
//! `execve`. They read and write full 64-bit masks, so a capability newer than capctl is
//! neither hidden nor skipped.

use crate::capability::{CapMask, MAX_CAP_NUMBER};
use nix::errno::Errno;
use std::sync::atomic::{AtomicU8, Ordering};

/// `_LINUX_CAPABILITY_VERSION_3` (`<linux/capability.h>`): two 32-bit words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Copy, Clone, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The effective, permitted and inheritable sets (`capget(2)`/`capset(2)`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    pub effective: CapMask,
    pub permitted: CapMask,
    pub inheritable: CapMask,
}

fn prctl(
    option: libc::c_int,
    arg2: libc::c_ulong,
    arg3: libc::c_ulong,
) -> Result<libc::c_int, Errno> {
    // SAFETY: prctl with integer arguments only reads and writes the calling thread's own
    // attributes; no pointer is passed.
    Errno::result(unsafe { libc::prctl(option, arg2, arg3, 0, 0) })
}

/// Whether capability `cap` is in the thread's bounding set (`PR_CAPBSET_READ`); `None` when the
/// read fails (`EINVAL`: the kernel does not know `cap`).
pub fn bounding_contains(cap: u8) -> Option<bool> {
    prctl(libc::PR_CAPBSET_READ, cap.into(), 0)
        .ok()
        .map(|raised| raised == 1)
}

/// The kernel's last capability as `/proc/sys/kernel/cap_last_cap` reports it, recorded by
/// [`record_kernel_last_cap`] in the parent (`u8::MAX`: not recorded), so that [`bounding`] in a
/// child can tell a real end of the capabilities from answers that were tampered with.
static KERNEL_LAST_CAP: AtomicU8 = AtomicU8::new(u8::MAX);

/// Reads `/proc/sys/kernel/cap_last_cap` once and records it for [`bounding`]; returns it
/// (`None` if it cannot be read). Not async-signal-safe: call it in the parent, before `clone`
/// or `fork`.
pub fn record_kernel_last_cap() -> Option<u8> {
    let recorded = KERNEL_LAST_CAP.load(Ordering::Relaxed);
    if recorded != u8::MAX {
        return Some(recorded);
    }
    let text = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").ok()?;
    let last = text
        .trim()
        .parse::<u8>()
        .ok()
        .filter(|&n| n <= MAX_CAP_NUMBER)?;
    KERNEL_LAST_CAP.store(last, Ordering::Relaxed);
    Some(last)
}

/// The bounding set: every capability `PR_CAPBSET_READ` says is raised, up to the kernel's last.
///
/// Fail-closed: the read must end with `EINVAL` just past the kernel's last capability (as
/// recorded by [`record_kernel_last_cap`], when it was). Any other error, an `EINVAL` elsewhere,
/// or no end at all means the answers cannot be trusted, and every capability counts as raised.
pub fn bounding() -> CapMask {
    let recorded = KERNEL_LAST_CAP.load(Ordering::Relaxed);
    let mut mask = 0u64;
    for cap in 0..=MAX_CAP_NUMBER {
        match prctl(libc::PR_CAPBSET_READ, cap.into(), 0) {
            Ok(1) => mask |= 1 << cap,
            Ok(0) => {}
            Err(Errno::EINVAL) if cap > 0 && (recorded == u8::MAX || cap == recorded + 1) => {
                return CapMask(mask);
            }
            _ => return CapMask(u64::MAX),
        }
    }
    CapMask(u64::MAX)
}

/// The kernel's highest capability number (`/proc/sys/kernel/cap_last_cap`), found the way the
/// kernel defines it: the last number `PR_CAPBSET_READ` accepts.
pub fn last_cap() -> u8 {
    (0..=MAX_CAP_NUMBER)
        .take_while(|&cap| bounding_contains(cap).is_some())
        .last()
        .unwrap_or(0)
}

/// The ambient set (`PR_CAP_AMBIENT_IS_SET` for every capability the kernel knows).
pub fn ambient() -> CapMask {
    let mut mask = 0u64;
    for cap in 0..=MAX_CAP_NUMBER {
        match prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_IS_SET as _,
            cap.into(),
        ) {
            Ok(1) => mask |= 1 << cap,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    CapMask(mask)
}

/// Whether `cap` is in the ambient set (`PR_CAP_AMBIENT_IS_SET`).
pub fn ambient_contains(cap: u8) -> bool {
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_IS_SET as _,
        cap.into(),
    ) == Ok(1)
}

/// Empties the ambient set (`PR_CAP_AMBIENT_CLEAR_ALL`; needs no privilege).
pub fn clear_ambient() -> Result<(), Errno> {
    prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as _, 0).map(drop)
}

/// The effective, permitted and inheritable sets (`capget(2)`, version 3).
pub fn get() -> Result<CapSets, Errno> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    // Every capability held until the kernel says otherwise: a capget that "succeeds" without
    // writing (a filter faking success) must read as a full set, so the verification refuses.
    let full = CapData {
        effective: u32::MAX,
        permitted: u32::MAX,
        inheritable: u32::MAX,
    };
    let mut data = [full; 2];
    // SAFETY: version 3 capget writes exactly two CapData words into `data`, which outlives the
    // call; both pointers are valid and properly aligned #[repr(C)] values.
    Errno::result(unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) })?;
    let join = |lo: u32, hi: u32| CapMask(u64::from(hi) << 32 | u64::from(lo));
    Ok(CapSets {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

/// Replaces the effective, permitted and inheritable sets (`capset(2)`, version 3). The kernel
/// only lets them shrink, except inheritable within the bounding set with `CAP_SETPCAP`.
pub fn set(sets: CapSets) -> Result<(), Errno> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let split = |m: CapMask| (m.0 as u32, (m.0 >> 32) as u32);
    let (e, p, i) = (
        split(sets.effective),
        split(sets.permitted),
        split(sets.inheritable),
    );
    let data = [
        CapData {
            effective: e.0,
            permitted: p.0,
            inheritable: i.0,
        },
        CapData {
            effective: e.1,
            permitted: p.1,
            inheritable: i.1,
        },
    ];
    // SAFETY: version 3 capset reads exactly two CapData words from `data`, which outlives the
    // call; pid 0 means the calling thread.
    Errno::result(unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) }).map(drop)
}

/// Whether `no_new_privs` is set (`PR_GET_NO_NEW_PRIVS`).
pub fn no_new_privs() -> Result<bool, Errno> {
    prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0).map(|v| v == 1)
}

/// Sets `no_new_privs` (`PR_SET_NO_NEW_PRIVS`): from now on `execve` never grants privileges
/// (setuid bits and file capabilities are ignored). It cannot be unset and is inherited.
pub fn set_no_new_privs() -> Result<(), Errno> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0).map(drop)
}

/// The securebits flags (`PR_GET_SECUREBITS`).
pub fn securebits() -> Result<u32, Errno> {
    prctl(libc::PR_GET_SECUREBITS, 0, 0).map(|v| v as u32)
}

/// Drops `cap` from the bounding set (`PR_CAPBSET_DROP`; needs `CAP_SETPCAP`).
pub fn drop_bounding(cap: u8) -> Result<(), Errno> {
    prctl(libc::PR_CAPBSET_DROP, cap.into(), 0).map(drop)
}

/// Raises `cap` in the ambient set (`PR_CAP_AMBIENT_RAISE`): it must be in both the permitted
/// and the inheritable set, and `SECBIT_NO_CAP_AMBIENT_RAISE` must be off.
pub fn raise_ambient(cap: u8) -> Result<(), Errno> {
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_RAISE as _,
        cap.into(),
    )
    .map(drop)
}

/// `PR_SET_KEEPCAPS`: whether the permitted set survives a change of every uid to non-zero.
/// Needs no privilege; `execve` resets it.
pub fn set_keepcaps(keep: bool) -> Result<(), Errno> {
    prctl(libc::PR_SET_KEEPCAPS, keep.into(), 0).map(drop)
}

/// Sets the securebits flags (`PR_SET_SECUREBITS`; needs `CAP_SETPCAP`, and a locked flag can
/// no longer change).
pub fn set_securebits(bits: u32) -> Result<(), Errno> {
    prctl(libc::PR_SET_SECUREBITS, bits.into(), 0).map(drop)
}

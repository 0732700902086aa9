//! A process's capability state, for reports and for checking a child.

use crate::capability::CapMask;
use crate::thread_caps;
use nix::errno::Errno;

/// Capability number of `CAP_SETPCAP`, which `PR_CAPBSET_DROP` requires.
const CAP_SETPCAP: u8 = capctl::caps::Cap::SETPCAP as u8;

/// The capability state of a thread or process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessCaps {
    pub bounding: CapMask,
    pub effective: CapMask,
    pub permitted: CapMask,
    pub inheritable: CapMask,
    pub ambient: CapMask,
    pub no_new_privs: bool,
    /// The securebits flags; `None` for another process, whose `/proc` status does not show them.
    pub securebits: Option<u32>,
    /// The kernel's highest capability number.
    pub last_cap: u8,
}

impl ProcessCaps {
    /// The calling thread's state, read with syscalls.
    pub fn of_self() -> Result<Self, Errno> {
        let sets = thread_caps::get()?;
        Ok(ProcessCaps {
            bounding: thread_caps::bounding(),
            effective: sets.effective,
            permitted: sets.permitted,
            inheritable: sets.inheritable,
            ambient: thread_caps::ambient(),
            no_new_privs: thread_caps::no_new_privs()?,
            securebits: Some(thread_caps::securebits()?),
            last_cap: thread_caps::last_cap(),
        })
    }

    /// Process `pid`'s state, from `/proc/<pid>/status` (its main thread's sets). `ESRCH` when
    /// there is no such process, `EINVAL` for a pid that cannot be one.
    pub fn of_pid(pid: i32) -> Result<Self, Errno> {
        if pid <= 0 {
            return Err(Errno::EINVAL);
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| match e
            .raw_os_error()
        {
            Some(libc::ENOENT) => Errno::ESRCH,
            code => Errno::from_raw(code.unwrap_or(libc::EIO)),
        })?;
        Self::from_status(&status).ok_or(Errno::EPROTO)
    }

    /// The five capability sets by name: bounding, effective, permitted, inheritable, ambient.
    pub fn sets(&self) -> [(&'static str, CapMask); 5] {
        [
            ("bounding", self.bounding),
            ("effective", self.effective),
            ("permitted", self.permitted),
            ("inheritable", self.inheritable),
            ("ambient", self.ambient),
        ]
    }

    /// Parses the `Cap*` and `NoNewPrivs` lines of a `/proc/<pid>/status` text.
    pub fn from_status(status: &str) -> Option<Self> {
        let field = |key: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key)?.strip_prefix(':').map(str::trim))
        };
        let mask = |key: &str| {
            field(key)
                .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                .map(CapMask)
        };
        Some(ProcessCaps {
            bounding: mask("CapBnd")?,
            effective: mask("CapEff")?,
            permitted: mask("CapPrm")?,
            inheritable: mask("CapInh")?,
            ambient: mask("CapAmb")?,
            no_new_privs: field("NoNewPrivs")? == "1",
            securebits: None,
            last_cap: thread_caps::record_kernel_last_cap().unwrap_or_else(thread_caps::last_cap),
        })
    }

    /// Whether this process could empty its bounding set: it holds `CAP_SETPCAP` in its
    /// effective set, or there is nothing left to drop.
    pub fn can_clear_bounding_set(&self) -> bool {
        self.effective.contains(CAP_SETPCAP) || self.bounding.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tcat\nUid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\n\
        CapPrm:\t000001fffeffffff\nCapEff:\t000001fffeffffff\nCapBnd:\t000001fffeffffff\n\
        CapAmb:\t0000000000000001\nNoNewPrivs:\t1\nSeccomp:\t0\n";

    #[test]
    fn parses_a_status_text() {
        let caps = ProcessCaps::from_status(STATUS).unwrap();
        assert_eq!(caps.bounding, CapMask(0x1ff_feff_ffff));
        assert_eq!(caps.inheritable, CapMask::EMPTY);
        assert_eq!(caps.ambient.names(), ["CAP_CHOWN"]);
        assert!(caps.no_new_privs && caps.securebits.is_none());
        assert!(caps.can_clear_bounding_set());
    }

    #[test]
    fn a_status_without_capability_lines_is_rejected() {
        assert_eq!(ProcessCaps::from_status("Name:\tcat\n"), None);
    }

    #[test]
    fn self_agrees_with_proc_self_status() {
        // Only the main thread's sets are in /proc/self/status; read ours from the thread's own
        // status so the comparison holds in a multi-threaded test harness.
        let tid = nix::unistd::gettid();
        let ours = ProcessCaps::of_self().unwrap();
        let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
        let proc = ProcessCaps::from_status(&status).unwrap();
        assert_eq!(
            ProcessCaps {
                securebits: None,
                ..ours.clone()
            },
            proc
        );
        assert_eq!(Some(ours.last_cap), thread_caps::record_kernel_last_cap());
    }

    #[test]
    fn bad_pids_are_errors() {
        assert_eq!(ProcessCaps::of_pid(0), Err(Errno::EINVAL));
        assert_eq!(ProcessCaps::of_pid(-5), Err(Errno::EINVAL));
        assert_eq!(ProcessCaps::of_pid(i32::MAX), Err(Errno::ESRCH));
    }
}

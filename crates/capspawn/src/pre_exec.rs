//! The same privilege drop for supervisors that keep `std::process::Command` (or tokio's).

use crate::privilege_drop::{self, Privileges};

/// Adds capspawn's privilege drop to a `std::process::Command`.
pub trait CommandExt {
    /// Runs steps 2–6 of [`privilege_drop::run`] (groups, bounding set, uid, capability sets,
    /// `no_new_privs`, verification) in the forked child just before `execve`; the spawn fails
    /// with the step's errno if any of them fails. Note that `pre_exec` makes std fork, whose cost
    /// grows with the supervisor's memory; [`crate::Command`] does not.
    fn drop_privileges(&mut self, privileges: Privileges) -> &mut Self;
}

impl CommandExt for std::process::Command {
    fn drop_privileges(&mut self, privileges: Privileges) -> &mut Self {
        crate::thread_caps::record_kernel_last_cap();
        let hook = move || privilege_drop::run(None, &privileges).map_err(std::io::Error::from);
        // SAFETY: `run` without a process setup is async-signal-safe (raw syscalls, no
        // allocation, no locks), as a pre_exec hook must be; `privileges` was built in the parent.
        unsafe { std::os::unix::process::CommandExt::pre_exec(self, hook) }
    }
}

//! The same privilege drop for supervisors that keep `std::process::Command` (or tokio's).

use crate::privilege_drop::{self, Privileges};

/// Adds capspawn's privilege drop to a `std::process::Command`.
pub trait CommandExt {
    /// Runs steps 2–6 of [`privilege_drop::run`] (groups, bounding set, uid, capability sets,
    /// `no_new_privs`, verification) in the forked child just before `execve`; the spawn fails
    /// with the step's errno if any of them fails. Note that `pre_exec` makes std fork, whose cost
    /// grows with the supervisor's memory; [`crate::Command`] does not.
    ///
    /// Signals are blocked for the drop, and handlers the supervisor installed are set back to
    /// the default first: from the uid change on, a process of the workload's uid may signal
    /// this child, and a supervisor handler would run in it (one that writes to a self-pipe
    /// shared with the supervisor would make the supervisor see a signal it never got). Stop
    /// signals that came meanwhile are discarded. Unlike [`crate::Command`], this path has no
    /// watchdog: a `SIGSTOP` before `execve` holds std's `spawn()` until `SIGCONT`.
    fn drop_privileges(&mut self, privileges: Privileges) -> &mut Self;
}

impl CommandExt for std::process::Command {
    fn drop_privileges(&mut self, privileges: Privileges) -> &mut Self {
        crate::thread_caps::record_kernel_last_cap();
        let hook = move || {
            let saved = crate::raw::set_signal_mask(!0)?;
            crate::raw::default_caught_signals();
            let dropped = privilege_drop::run(None, &privileges);
            // All three: default_caught_signals left an ignored one ignored.
            crate::raw::discard_pending_stop_signals(false);
            crate::raw::set_signal_mask(saved)?;
            dropped.map_err(std::io::Error::from)
        };
        // SAFETY: `run` without a process setup is async-signal-safe (raw syscalls, no
        // allocation, no locks), as a pre_exec hook must be; `privileges` was built in the parent.
        unsafe { std::os::unix::process::CommandExt::pre_exec(self, hook) }
    }
}

//! A started workload, held by its pidfd.
//!
//! A pidfd names one process for as long as the descriptor is open, so signalling through it
//! can never reach a process that later reuses the pid.

use nix::errno::Errno;
use std::os::fd::{AsRawFd, OwnedFd};

/// How a child ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit` with this code.
    Exited(i32),
    /// A signal killed it (`core_dumped` when it left a core).
    Signaled { signal: i32, core_dumped: bool },
}

/// A running workload started by [`crate::Command::spawn`].
#[derive(Debug)]
pub struct Child {
    pub pid: libc::pid_t,
    pub pidfd: OwnedFd,
    /// Our ends of the `Stdio::Pipe` descriptors: write to `stdin`, read `stdout` and `stderr`.
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// Our ends of the `Stdio::Pipe` sockets for descriptors 3 and up (index 0 is fd 3).
    pub extra: Vec<Option<OwnedFd>>,
}

impl Child {
    /// Sends `signal` (`pidfd_send_signal`).
    pub fn signal(&self, signal: i32) -> Result<(), Errno> {
        send_signal(&self.pidfd, signal)
    }

    /// Waits for the child to exit and reaps it.
    pub fn wait(&self) -> Result<ExitStatus, Errno> {
        wait_pidfd(&self.pidfd, libc::WEXITED).map(|status| status.expect("waitid without WNOHANG"))
    }

    /// Reaps the child if it has exited; `None` while it runs.
    pub fn try_wait(&self) -> Result<Option<ExitStatus>, Errno> {
        wait_pidfd(&self.pidfd, libc::WEXITED | libc::WNOHANG)
    }
}

/// `pidfd_send_signal(2)`.
pub fn send_signal(pidfd: &OwnedFd, signal: i32) -> Result<(), Errno> {
    // SAFETY: a pidfd we own; no siginfo; flags 0.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// `waitid(P_PIDFD)`: the exit status, or `None` when `WNOHANG` found it still running.
pub fn wait_pidfd(pidfd: &OwnedFd, options: libc::c_int) -> Result<Option<ExitStatus>, Errno> {
    // SAFETY: a zeroed siginfo_t is a valid out-buffer; si_pid stays 0 if nothing is reaped.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: a pidfd we own and a valid out-pointer.
        let ret = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                options,
            )
        };
        match Errno::result(ret) {
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
            Ok(_) => break,
        }
    }
    // SAFETY: waitid filled the SIGCHLD fields of the union (or left it zeroed).
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    Ok(Some(match info.si_code {
        libc::CLD_EXITED => ExitStatus::Exited(status),
        code => ExitStatus::Signaled {
            signal: status,
            core_dumped: code == libc::CLD_DUMPED,
        },
    }))
}

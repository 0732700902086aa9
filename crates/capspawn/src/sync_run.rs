//! Running a workload to its end on the calling thread: the engine of `spawnSync`,
//! `execFileSync` and `execSync`.
//!
//! The child is started by [`Command::spawn`], so it goes through the same clone, the same
//! ordered privilege drop and the same refusal as every other spawn (and whatever stops a
//! child that hangs before exec applies here too). Then one `poll(2)` loop on this thread
//! writes the input to the child's stdin pipe, reads its output pipes, watches its pidfd and
//! the deadline, the way Node's `SyncProcessRunner` runs its private event loop:
//! - the first thing that goes wrong is kept as the run's error (`ETIMEDOUT` when the timeout
//!   passed, `ENOBUFS` when the output went over `max_buffer`, `EPIPE` when the child closed
//!   its stdin before reading all the input, a read error), later ones are not;
//! - a timeout or an overflow sends the kill signal (`SIGKILL` if that signal cannot be sent
//!   for another reason than the child being gone) and closes the supervisor's ends of the
//!   pipes, keeping what was read; the run then waits for the child's exit only, so a
//!   grandchild that holds a pipe open cannot hold the run up after a kill;
//! - without a kill the run ends when the child has exited and every output pipe has
//!   reached its end (a grandchild holding one open holds the run, as in Node).
//!
//! SIGPIPE: writing to a pipe whose reader is gone raises it. Node and Rust programs ignore
//! it (both set it to `SIG_IGN` at start-up), so the write fails with `EPIPE` instead; a
//! program that leaves it at its default would be killed by it, as with any pipe write.

use crate::child::ExitStatus;
use crate::command::Command;
use crate::error::SpawnError;
use nix::errno::Errno;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// How to run a workload to its end.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Written to the child's stdin pipe, which is then closed. Without it (or when stdin is not
    /// a pipe) the pipe is closed at once, so the child reads an immediate end of file.
    pub input: Option<Vec<u8>>,
    /// After this the child gets `kill_signal` and the run's error is `ETIMEDOUT`.
    pub timeout: Option<Duration>,
    /// The signal sent on a timeout or an overflow.
    pub kill_signal: libc::c_int,
    /// The most bytes read from all output pipes together; more is an `ENOBUFS` error and a
    /// kill. `None`: unlimited.
    pub max_buffer: Option<usize>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            input: None,
            timeout: None,
            kill_signal: libc::SIGTERM,
            max_buffer: None,
        }
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutput {
    pub pid: libc::pid_t,
    pub status: ExitStatus,
    /// One entry per child descriptor: the bytes read from it for an output pipe (stdout,
    /// stderr, and the sockets of `Stdio::Pipe` descriptors beyond 2); `None` for stdin and
    /// for every descriptor that is not a pipe.
    pub output: Vec<Option<Vec<u8>>>,
    /// The first thing that went wrong, if anything did (see the module's documentation).
    pub error: Option<Errno>,
}

/// One output pipe being read.
struct Reading {
    fd: Option<OwnedFd>,
    /// The index in [`RunOutput::output`].
    index: usize,
}

const CHUNK: usize = 64 * 1024;

impl Command {
    /// Starts the workload as [`Command::spawn`] does and runs it to its end on this thread.
    /// A failure before exec is the same `Err` as `spawn`'s; everything after it is in the
    /// returned [`RunOutput`].
    pub fn run(&self, options: &RunOptions) -> Result<RunOutput, SpawnError> {
        let mut child = self.spawn()?;
        let started = Instant::now();
        let deadline = options.timeout.map(|t| started + t);
        let mut run = Run {
            pidfd: &child.pidfd,
            kill_signal: options.kill_signal,
            error: None,
            status: None,
            killed: false,
        };

        let mut output: Vec<Option<Vec<u8>>> = vec![None];
        let mut readings = Vec::new();
        for (index, fd) in [child.stdout.take(), child.stderr.take()]
            .into_iter()
            .chain(std::mem::take(&mut child.extra))
            .enumerate()
            .map(|(i, fd)| (i + 1, fd))
        {
            output.push(fd.as_ref().map(|_| Vec::new()));
            if let Some(fd) = fd {
                if index > 2 {
                    // A socket beyond 2: nothing is written to it, so the child reads its end.
                    // SAFETY: shutdown on a socket we own.
                    unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_WR) };
                }
                run.record(set_nonblocking(&fd).err());
                readings.push(Reading {
                    fd: Some(fd),
                    index,
                });
            }
        }
        let input = options.input.as_deref().unwrap_or_default();
        let mut written = 0;
        let mut stdin = child.stdin.take().filter(|_| !input.is_empty());
        if let Some(fd) = &stdin {
            if let Err(errno) = set_nonblocking(fd) {
                run.record(Some(errno));
                stdin = None;
            }
        }
        let mut buffered = 0usize;
        let mut chunk = vec![0u8; CHUNK];

        loop {
            let open_outputs = readings.iter().any(|r| r.fd.is_some());
            if run.status.is_some() && !open_outputs && stdin.is_none() {
                break;
            }
            if run.status.is_some() && !open_outputs {
                // The child is gone and nothing is read any more: the rest of the input has
                // no reader (a grandchild holding stdin would be fed by nobody, as in Node).
                stdin = None;
                continue;
            }
            let mut fds: Vec<libc::pollfd> = Vec::with_capacity(readings.len() + 2);
            if run.status.is_none() {
                fds.push(poll_fd(run.pidfd.as_raw_fd(), libc::POLLIN));
            }
            if let Some(fd) = &stdin {
                fds.push(poll_fd(fd.as_raw_fd(), libc::POLLOUT));
            }
            for reading in &readings {
                if let Some(fd) = &reading.fd {
                    fds.push(poll_fd(fd.as_raw_fd(), libc::POLLIN));
                }
            }
            let wait_ms = match deadline {
                Some(deadline) if !run.killed => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    // Rounded up, so the loop does not spin through the last millisecond.
                    i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
                }
                _ => -1,
            };
            // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures.
            let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait_ms) };
            if ready < 0 {
                match Errno::last() {
                    Errno::EINTR => continue,
                    errno => {
                        // Nothing can be watched any more: stop the child rather than hang.
                        run.record(Some(errno));
                        run.kill();
                        stdin = None;
                        readings.iter_mut().for_each(|r| r.fd = None);
                        run.reap_blocking();
                        continue;
                    }
                }
            }
            if deadline.is_some_and(|d| !run.killed && Instant::now() >= d) {
                run.record(Some(Errno::ETIMEDOUT));
                run.kill();
            }
            for pfd in fds.iter().filter(|p| p.revents != 0) {
                if pfd.fd == run.pidfd.as_raw_fd() {
                    run.try_reap();
                } else if stdin.as_ref().is_some_and(|s| s.as_raw_fd() == pfd.fd) {
                    match write_some(pfd.fd, &input[written..]) {
                        Ok(n) => written += n,
                        Err(Errno::EAGAIN) => {}
                        Err(errno) => {
                            run.record(Some(errno));
                            stdin = None;
                        }
                    }
                    if written == input.len() {
                        stdin = None; // all written: the child reads its end of file
                    }
                } else if let Some(reading) = readings
                    .iter_mut()
                    .find(|r| r.fd.as_ref().is_some_and(|fd| fd.as_raw_fd() == pfd.fd))
                {
                    match read_some(pfd.fd, &mut chunk) {
                        Ok(0) => reading.fd = None,
                        Ok(n) => {
                            if let Some(buffer) = output[reading.index].as_mut() {
                                buffer.extend_from_slice(&chunk[..n]);
                            }
                            buffered += n;
                            if options.max_buffer.is_some_and(|max| buffered > max) {
                                run.record(Some(Errno::ENOBUFS));
                                run.kill();
                            }
                        }
                        Err(Errno::EAGAIN) => {}
                        Err(errno) => {
                            run.record(Some(errno));
                            reading.fd = None;
                        }
                    }
                }
            }
            if run.killed {
                // As Node: after a kill the pipes are closed (what was read is kept) and only
                // the exit is waited for.
                stdin = None;
                readings.iter_mut().for_each(|r| r.fd = None);
                run.reap_blocking();
            }
        }
        Ok(RunOutput {
            pid: child.pid,
            status: run
                .status
                .expect("the loop ends only once the child is reaped"),
            output,
            error: run.error,
        })
    }
}

/// The state of one run that is not about its pipes.
struct Run<'a> {
    pidfd: &'a OwnedFd,
    kill_signal: libc::c_int,
    error: Option<Errno>,
    status: Option<ExitStatus>,
    killed: bool,
}

impl Run<'_> {
    /// Keeps the first error.
    fn record(&mut self, error: Option<Errno>) {
        if self.error.is_none() {
            self.error = error;
        }
    }

    /// Sends the kill signal once, unless the child has been reaped (its pidfd then names no
    /// process). A signal that cannot be sent for another reason than the child being gone is
    /// the run's error, and SIGKILL follows, as in Node.
    fn kill(&mut self) {
        if self.killed {
            return;
        }
        self.killed = true;
        if self.status.is_some() {
            return;
        }
        match crate::child::send_signal(self.pidfd, self.kill_signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(errno) => {
                self.record(Some(errno));
                let _ = crate::child::send_signal(self.pidfd, libc::SIGKILL);
            }
        }
    }

    fn try_reap(&mut self) {
        if self.status.is_none() {
            self.status = self.wait(libc::WEXITED | libc::WNOHANG);
        }
    }

    fn reap_blocking(&mut self) {
        if self.status.is_none() {
            self.status = self.wait(libc::WEXITED);
        }
    }

    fn wait(&mut self, options: libc::c_int) -> Option<ExitStatus> {
        match crate::child::wait_pidfd(self.pidfd, options) {
            Ok(status) => status,
            Err(errno) => {
                // ECHILD: someone else reaped it (a waitpid(-1) elsewhere); the status is
                // lost, as the reaper reports it.
                self.record(Some(errno));
                Some(ExitStatus::Exited(-1))
            }
        }
    }
}

fn poll_fd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

fn set_nonblocking(fd: &OwnedFd) -> Result<(), Errno> {
    let flags = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::F_GETFL)?;
    let flags = nix::fcntl::OFlag::from_bits_retain(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::F_SETFL(flags)).map(drop)
}

fn read_some(fd: RawFd, buffer: &mut [u8]) -> Result<usize, Errno> {
    loop {
        // SAFETY: `buffer` is valid for writes of its length.
        let n = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
        match Errno::result(n) {
            Err(Errno::EINTR) => continue,
            other => return other.map(|n| n as usize),
        }
    }
}

fn write_some(fd: RawFd, bytes: &[u8]) -> Result<usize, Errno> {
    loop {
        // SAFETY: `bytes` is valid for reads of its length.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        match Errno::result(n) {
            Err(Errno::EINTR) => continue,
            other => return other.map(|n| n as usize),
        }
    }
}

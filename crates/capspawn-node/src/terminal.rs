//! `openTerminal(cols, rows)`, `resizeTerminal(master, cols, rows)`,
//! `terminalForeground(master)`: the core's `terminal` functions on descriptor numbers.
//! JavaScript owns the descriptors `openTerminal` returns.

use crate::napi::{Env, Error, Result, Value};
use capspawn::terminal::{self, Pty, WindowSize};
use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, RawFd};

fn arg(env: Env, args: &[Value], i: usize) -> Result<Value> {
    match args.get(i) {
        Some(value) => Ok(*value),
        None => env.undefined(),
    }
}

fn size(env: Env, args: &[Value], first: usize) -> Result<WindowSize> {
    let dimension = |i| -> Result<u16> {
        u16::try_from(env.to_u32(arg(env, args, i)?)?)
            .map_err(|_| Error::new("ERR_OUT_OF_RANGE", "a terminal size must be <= 65535"))
    };
    Ok(WindowSize {
        cols: dimension(first)?,
        rows: dimension(first + 1)?,
    })
}

fn master(env: Env, args: &[Value]) -> Result<RawFd> {
    env.to_i32(arg(env, args, 0)?)
}

/// `[master, peer]`: a new pseudo-terminal of `cols` x `rows`, both close-on-exec; the master
/// non-blocking, for the event loop to read.
pub fn open_terminal(env: Env, args: &[Value]) -> Result<Value> {
    let size = size(env, args, 0)?;
    let Pty { master, peer } = Pty::open(size).map_err(|e| {
        if e.is_refused_peer() {
            // The terminal stage's refusal: the kernel has TIOCGPTPEER and something refused it.
            Error::new(
                "ERR_CAPSPAWN_TERMINAL",
                format!(
                    "the terminal's peer could not be opened through its master: {} failed: {} \
                     (this kernel has TIOCGPTPEER, so a seccomp filter or an LSM refused it; \
                     capspawn does not fall back to opening /dev/pts/N by name then). Allow \
                     ioctl(TIOCGPTPEER) in the supervisor's seccomp or LSM profile. The workload \
                     was not started",
                    e.syscall,
                    e.errno.desc()
                ),
            )
            .with("stage", "terminal")
            .with("errno", -(e.errno as i32))
            .with("syscall", e.syscall)
        } else {
            crate::errno_error(e.errno, e.syscall)
        }
    })?;
    terminal::set_nonblocking(master.as_fd()).map_err(|e| crate::errno_error(e, "fcntl"))?;
    let fds = [master.into_raw_fd(), peer.into_raw_fd()];
    env.array_from(fds, |fd| env.int32(fd))
}

pub fn resize_terminal(env: Env, args: &[Value]) -> Result<Value> {
    let fd = master(env, args)?;
    let size = size(env, args, 1)?;
    // SAFETY: JavaScript keeps the descriptor open for the length of this call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    terminal::set_window_size(fd, size).map_err(|e| crate::errno_error(e, "ioctl(TIOCSWINSZ)"))?;
    env.undefined()
}

pub fn terminal_foreground(env: Env, args: &[Value]) -> Result<Value> {
    let fd = master(env, args)?;
    // SAFETY: JavaScript keeps the descriptor open for the length of this call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let pgrp = terminal::foreground_process_group(fd)
        .map_err(|e| crate::errno_error(e, "ioctl(TIOCGPGRP)"))?;
    env.int32(pgrp)
}

/// `close(fd)` of a descriptor `openTerminal` returned: natively, since `fs.closeSync` in a
/// worker warns about a descriptor that `fs` did not open there.
pub fn close_terminal(env: Env, args: &[Value]) -> Result<Value> {
    let fd = master(env, args)?;
    // SAFETY: JavaScript owns this descriptor (openTerminal gave it) and gives it up here.
    drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    env.undefined()
}

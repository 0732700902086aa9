//! The raw clone floor of `npm run bench`: what any spawn that clears the bounding set in a
//! `CLONE_VM` child must at least do. `clone(CLONE_VM | CLONE_VFORK | SIGCHLD)`, the child runs
//! capctl's `bounding::clear()` and `clear_unknown()` and `execve`s the program, the parent
//! `waitpid`s. No pidfd, no stdio, no verification, no event loop: a floor, not a spawn to use.
//!
//! With `--vfork`, plain `vfork()` + `execve` + `waitpid` (no clear): the C library's own floor.
//! With `--core`, the capspawn core crate's `Command` (stdio `/dev/null`, an empty environment,
//! the whole ordered drop and its verification) + `Child::wait`: what the core costs without
//! Node, N-API or an event loop, for telling the layers' costs apart.
//!
//! Protocol, so the bench can alternate it with its other variants in one run: each line `N` on
//! stdin runs N spawns of PROGRAM and answers one line of N durations in nanoseconds.

use std::ffi::CString;
use std::io::{BufRead, Write};
use std::time::Instant;

struct Exec {
    path: CString,
    argv: [*const libc::c_char; 2],
    envp: [*const libc::c_char; 1],
}

extern "C" fn child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `Exec`; the parent is suspended (CLONE_VFORK) until we exec
    // or exit.
    let exec = unsafe { &*arg.cast::<Exec>() };
    if capctl::caps::bounding::clear().is_err() || capctl::caps::bounding::clear_unknown().is_err()
    {
        // SAFETY: ends only this child.
        unsafe { libc::_exit(125) };
    }
    // SAFETY: NUL-terminated strings and NULL-terminated arrays that the parent keeps alive.
    unsafe {
        libc::execve(exec.path.as_ptr(), exec.argv.as_ptr(), exec.envp.as_ptr());
        libc::_exit(127)
    }
}

fn spawn_clone(exec: &Exec, stack_top: *mut libc::c_void) -> libc::pid_t {
    let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD;
    let arg = exec as *const Exec as *mut libc::c_void;
    // SAFETY: `child` only clears, execs or exits; the stack is ours and unused meanwhile.
    unsafe { libc::clone(child, stack_top, flags, arg) }
}

fn spawn_vfork(exec: &Exec) -> libc::pid_t {
    // SAFETY: the child only calls execve and _exit, as vfork requires.
    #[allow(deprecated)]
    unsafe {
        let pid = libc::vfork();
        if pid == 0 {
            libc::execve(exec.path.as_ptr(), exec.argv.as_ptr(), exec.envp.as_ptr());
            libc::_exit(127);
        }
        pid
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let vfork = args.iter().any(|a| a == "--vfork");
    let core = args.iter().any(|a| a == "--core");
    let program = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "/bin/true".into());
    let path = CString::new(program).expect("a path without NUL");
    let mut exec = Exec {
        path,
        argv: [std::ptr::null(); 2],
        envp: [std::ptr::null()],
    };
    exec.argv[0] = exec.path.as_ptr();
    let mut stack = vec![0u8; 64 * 1024];
    // One past the end of our buffer, 16-byte aligned down: where a downward stack starts.
    let end = stack.as_mut_ptr() as usize + stack.len();
    let stack_top = (end & !15) as *mut libc::c_void;
    let mut command = capspawn::Command::new(exec.path.to_str().expect("a UTF-8 path"));
    command
        .env_vars(std::iter::empty::<(String, String)>())
        .stdin(capspawn::Stdio::Null)
        .stdout(capspawn::Stdio::Null)
        .stderr(capspawn::Stdio::Null);
    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let count: usize = line.expect("stdin").trim().parse().expect("a count");
        let mut times = Vec::with_capacity(count);
        for _ in 0..count {
            let start = Instant::now();
            if core {
                let child = command.spawn().expect("capspawn spawn");
                let status = child.wait().expect("wait");
                assert_eq!(status, capspawn::ExitStatus::Exited(0), "the core's child");
                times.push(start.elapsed().as_nanos().to_string());
                continue;
            }
            let pid = if vfork {
                spawn_vfork(&exec)
            } else {
                spawn_clone(&exec, stack_top)
            };
            assert!(pid > 0, "clone: {}", std::io::Error::last_os_error());
            let mut status = 0;
            // SAFETY: our own child; a valid out-pointer.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "the floor's child ended with {status}"
            );
            times.push(start.elapsed().as_nanos().to_string());
        }
        let mut out = stdout.lock();
        writeln!(out, "{}", times.join(" ")).expect("stdout");
        out.flush().expect("stdout");
    }
}

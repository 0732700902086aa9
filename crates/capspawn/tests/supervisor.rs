//! What the supervisor keeps: its threads' identities, its children, its privilege.

mod common;

use capspawn::{
    Command, CommandExt, ExitStatus, GroupSpec, Privileges, ProcessCaps, Reaper, UserSpec,
};
use common::{privileged, rerun_under};
use std::sync::mpsc;
use std::time::Duration;

/// Thread `tid`'s `Uid:` line and capabilities, read in one go; `None` once the thread is gone
/// (the test harness runs other tests on threads of its own, which end at any time).
fn thread_state(tid: &str) -> Option<(String, ProcessCaps)> {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).ok()?;
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    Some((uid.to_owned(), ProcessCaps::from_status(&status).unwrap()))
}

#[test]
fn spawning_as_nobody_leaves_every_supervisor_thread_as_it_was() {
    if !privileged("spawning_as_nobody_leaves_every_supervisor_thread_as_it_was") {
        return;
    }
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let stop_rx = std::sync::Arc::new(std::sync::Mutex::new(stop_rx));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let rx = stop_rx.clone();
            std::thread::spawn(move || {
                let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(30));
            })
        })
        .collect();
    let tasks = || -> Vec<String> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .map(|t| t.unwrap().file_name().into_string().unwrap())
            .collect()
    };
    let before: Vec<(String, String, ProcessCaps)> = tasks()
        .into_iter()
        .filter_map(|tid| thread_state(&tid).map(|(uid, caps)| (uid, tid, caps)))
        .collect();
    assert!(before.len() >= 5);

    let child = Command::new("true")
        .user(UserSpec::Name("nobody".into()))
        .spawn()
        .unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));

    for (uid, tid, caps) in &before {
        let Some((uid_now, caps_now)) = thread_state(tid) else {
            continue;
        };
        assert_eq!(&uid_now, uid, "thread {tid} changed uid");
        assert_eq!(&caps_now, caps, "thread {tid} changed capabilities");
        assert!(uid.starts_with("Uid:\t0\t0\t0\t0"), "{uid}");
    }
    drop(stop_tx);
    workers.into_iter().for_each(|w| w.join().unwrap());
}

#[test]
fn the_reaper_reports_each_exit_once_and_kill_after_reaping_is_refused() {
    let reaper = Reaper::global().unwrap();
    let (tx, rx) = mpsc::channel();
    let mut ids = Vec::new();
    for code in 0..8 {
        let child = Command::new("sh")
            .args(["-c", &format!("exit {code}")])
            .spawn()
            .unwrap();
        let tx = tx.clone();
        ids.push(
            reaper
                .watch(
                    child,
                    Box::new(move |_, status| tx.send((code, status)).unwrap()),
                )
                .unwrap(),
        );
    }
    drop(tx);
    let mut seen: Vec<_> = rx.iter().collect();
    seen.sort_by_key(|(code, _)| *code);
    assert_eq!(
        seen,
        (0..8)
            .map(|c| (c, ExitStatus::Exited(c)))
            .collect::<Vec<_>>()
    );
    for id in ids {
        assert_eq!(reaper.signal(id, libc::SIGKILL), Ok(false));
    }

    let sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    let id = reaper
        .watch(sleeper, Box::new(move |_, status| tx.send(status).unwrap()))
        .unwrap();
    assert_eq!(reaper.signal(id, libc::SIGKILL), Ok(true));
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        ExitStatus::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false
        }
    );
}

#[test]
fn the_same_drop_works_in_std_pre_exec() {
    if !privileged("the_same_drop_works_in_std_pre_exec") {
        return;
    }
    let privileges = Command::new("x")
        .user(UserSpec::Name("nobody".into()))
        .privileges()
        .unwrap();
    assert_eq!((privileges.uid, privileges.gid), (Some(65534), Some(65534)));
    let status = common::pre_exec_status(privileges);
    let caps = ProcessCaps::from_status(&status).unwrap();
    assert!(
        caps.bounding.is_empty()
            && caps.effective.is_empty()
            && caps.permitted.is_empty()
            && caps.no_new_privs,
        "{caps:?}"
    );
    assert!(status.contains("Uid:\t65534\t65534\t65534\t65534"));

    // And it refuses: asking for a uid change without CAP_SETUID fails the spawn.
    let refused = std::process::Command::new("true")
        .drop_privileges(Privileges {
            uid: Some(65534),
            ..Default::default()
        })
        .drop_privileges(Privileges {
            uid: Some(1),
            ..Default::default()
        })
        .status();
    assert_eq!(refused.unwrap_err().raw_os_error(), Some(libc::EPERM));
}

/// `PR_GET_DUMPABLE` of this process.
fn dumpable() -> bool {
    // SAFETY: integer arguments only.
    let answer = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
    assert!(
        answer >= 0,
        "PR_GET_DUMPABLE: {}",
        std::io::Error::last_os_error()
    );
    answer == 1
}

/// The flag comes back once the child's exit watch reported, on the watchdog thread when that
/// came after the spawn returned: waits for it, a second at most.
fn eventually_dumpable() -> bool {
    for _ in 0..100 {
        if dumpable() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    dumpable()
}

fn set_dumpable(dumpable: bool) {
    assert_eq!(
        // SAFETY: integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, dumpable as libc::c_ulong, 0, 0, 0) },
        0
    );
}

#[test]
fn a_spawn_as_another_user_leaves_the_supervisor_dumpable_as_it_was() {
    // The child's uid change makes the memory it shares with the supervisor non-dumpable; alone
    // in its own process, so that no other test's spawn is between setresuid and execve.
    const TEST: &str = "a_spawn_as_another_user_leaves_the_supervisor_dumpable_as_it_was";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    let nobody = || UserSpec::Name("nobody".into());
    assert!(dumpable());
    let child = Command::new("true").user(nobody()).spawn().unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
    assert!(
        eventually_dumpable(),
        "non-dumpable after a workload ran as nobody"
    );

    // A gid change alone clears the flag too (the kernel does it for any credential change).
    let child = Command::new("true")
        .group(GroupSpec::Id(65534))
        .spawn()
        .unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
    assert!(
        eventually_dumpable(),
        "non-dumpable after a workload ran with gid 65534"
    );

    // A child refused after its uid change (nothing to exec) leaves it as it was too.
    let missing = Command::new("/nonexistent/capspawn-test")
        .user(nobody())
        .spawn();
    assert!(missing.is_err());
    assert!(
        eventually_dumpable(),
        "non-dumpable after a refused spawn as nobody"
    );

    // A supervisor that made itself non-dumpable stays so.
    set_dumpable(false);
    let child = Command::new("true").user(nobody()).spawn().unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
    assert!(!dumpable());
    set_dumpable(true);
}

#[test]
fn the_shared_memory_is_not_dumpable_while_a_child_drops_privileges() {
    // Without a uid change too: a child with fewer capabilities than the supervisor could
    // otherwise be ptraced by a process with the same uid and those fewer capabilities, and
    // it shares the supervisor's memory. A thread watches the flag while others spawn.
    const TEST: &str = "the_shared_memory_is_not_dumpable_while_a_child_drops_privileges";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    assert!(dumpable());
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut cleared = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                cleared += u64::from(!dumpable());
            }
            cleared
        })
    };
    let spawners: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(|| {
                for _ in 0..100 {
                    let child = Command::new("true").spawn().unwrap();
                    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
                }
            })
        })
        .collect();
    spawners.into_iter().for_each(|s| s.join().unwrap());
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let cleared = watcher.join().unwrap();
    assert!(
        cleared > 0,
        "the flag was never seen cleared during 200 spawns"
    );
    assert!(
        eventually_dumpable(),
        "not given back after the last child exec'd"
    );
}

#[test]
fn a_supervisor_that_ignores_sigchld_can_still_spawn() {
    // With SIGCHLD ignored the kernel reaps children itself: the first spawn's check of the
    // kernel must not take the ECHILD of its throwaway child for a failure.
    const TEST: &str = "a_supervisor_that_ignores_sigchld_can_still_spawn";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    // SAFETY: SIG_IGN for SIGCHLD, in this test's own process, where nothing else waits.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let marker = common::fresh_path("sigchld-ignored");
    let child = Command::new("touch").arg(&marker).spawn();
    assert!(child.is_ok(), "{child:?}");
    for _ in 0..200 {
        if marker.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(marker.exists(), "the workload did not run");
    std::fs::remove_file(&marker).unwrap();
}

/// The self-pipe a supervisor's SIGUSR1 handler writes to (as tokio and signal-hook do).
static SELF_PIPE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_usr1(_: libc::c_int) {
    let fd = SELF_PIPE.load(std::sync::atomic::Ordering::Relaxed);
    // SAFETY: write(2) of one byte from a static buffer, async-signal-safe.
    unsafe { libc::write(fd, b"!".as_ptr().cast(), 1) };
}

#[test]
fn the_pre_exec_drop_runs_no_supervisor_handler_in_the_fork() {
    // From the uid change on, a process of the workload's uid may signal std's forked child;
    // a supervisor handler run there would write into the self-pipe the supervisor shares.
    // The drop defaults such handlers, so a SIGUSR1 after it ends the child instead.
    const TEST: &str = "the_pre_exec_drop_runs_no_supervisor_handler_in_the_fork";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    use std::os::fd::AsRawFd;
    use std::os::unix::process::{CommandExt as _, ExitStatusExt};
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).unwrap();
    SELF_PIPE.store(write_end.as_raw_fd(), std::sync::atomic::Ordering::Relaxed);
    // SAFETY: installs a handler that only calls write(2).
    unsafe { libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t) };
    let privileges = Command::new("x")
        .user(UserSpec::Name("nobody".into()))
        .privileges()
        .unwrap();
    let mut command = std::process::Command::new("true");
    command.drop_privileges(privileges);
    // SAFETY: kill(2) of this (forked) process only, async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::kill(libc::getpid(), libc::SIGUSR1);
            Ok(())
        })
    };
    let status = command.status().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGUSR1), "{status:?}");
    let mut byte = [0u8; 1];
    // SAFETY: a non-blocking read of one byte into a live buffer.
    let got = unsafe { libc::read(read_end.as_raw_fd(), byte.as_mut_ptr().cast(), 1) };
    assert_eq!(got, -1, "the supervisor's handler ran in the forked child");
}

#[test]
fn a_gate_held_elsewhere_in_the_process_refuses_the_spawn_in_bounded_time() {
    // Another copy of capspawn in this process (or a process that may ptrace it) holding the
    // memory gate's lock: the spawn waits for it, but not without end, and runs nothing.
    const TEST: &str = "a_gate_held_elsewhere_in_the_process_refuses_the_spawn_in_bounded_time";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    use std::os::fd::AsRawFd;
    let other = std::fs::File::open("/proc/self/auxv").unwrap();
    // SAFETY: a descriptor we own; integer flags.
    let locked = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(locked, 0, "{}", std::io::Error::last_os_error());
    let marker = common::fresh_path("gate-held");
    let started = std::time::Instant::now();
    let spawned = Command::new("touch").arg(&marker).spawn();
    let waited = started.elapsed();
    assert!(
        matches!(
            spawned,
            Err(capspawn::SpawnError::Setup {
                syscall: "flock(/proc/self/auxv)",
                errno: nix::errno::Errno::EAGAIN,
            })
        ),
        "{spawned:?}"
    );
    assert!(waited >= Duration::from_secs(3), "gave up after {waited:?}");
    assert!(!marker.exists(), "the workload ran");
    // Let go, and the next spawn goes in.
    drop(other);
    let child = Command::new("true").spawn().unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
}

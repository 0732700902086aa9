//! The workload's signal dispositions: every signal at its default, whatever the supervisor
//! ignores or handles, on both ways the child is made (clone3 with `CLONE_CLEAR_SIGHAND`, and
//! plain clone where a seccomp profile answers clone3 with `ENOSYS`, as Docker's does). Each
//! test runs in a fresh process (`rerun_under`): dispositions and filters are per process.

mod common;

use capspawn::{Command, ExitStatus};
use common::{answer, output, rerun_under};

extern "C" fn handler(_: libc::c_int) {}

/// Ignores SIGPIPE (as Node does), SIGUSR2, SIGHUP and a real-time signal, and handles
/// SIGUSR1, SIGTERM and another real-time one, in the supervisor.
fn supervisor_dispositions() {
    for (signal, action) in [
        (libc::SIGPIPE, libc::SIG_IGN),
        (libc::SIGUSR2, libc::SIG_IGN),
        (libc::SIGHUP, libc::SIG_IGN),
        // The stop signals too: a discard that looks at the pending ones only must not be what
        // resets them.
        (libc::SIGTSTP, libc::SIG_IGN),
        (libc::SIGTTIN, libc::SIG_IGN),
        (libc::SIGTTOU, libc::SIG_IGN),
        (libc::SIGRTMIN() + 3, libc::SIG_IGN),
        (libc::SIGUSR1, handler as *const () as libc::sighandler_t),
        (libc::SIGTERM, handler as *const () as libc::sighandler_t),
        (
            libc::SIGRTMIN() + 5,
            handler as *const () as libc::sighandler_t,
        ),
    ] {
        // SAFETY: a plain handler that does nothing, or SIG_IGN.
        assert_ne!(unsafe { libc::signal(signal, action) }, libc::SIG_ERR);
    }
}

/// A signal mask line (`SigIgn:`, `SigCgt:`) of a status file's text.
fn mask(status: &str, name: &str) -> u64 {
    let line = status.lines().find(|l| l.starts_with(name)).expect(name);
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

/// `SigIgn` and `SigCgt` as the workload prints them from its own /proc/self/status.
fn workload_dispositions() -> (u64, u64) {
    // cat installs no handler of its own (grep does, for SIGSEGV).
    let (out, status) = output(Command::new("cat").arg("/proc/self/status"));
    assert_eq!(status, ExitStatus::Exited(0), "{out}");
    (mask(&out, "SigIgn:"), mask(&out, "SigCgt:"))
}

fn check() {
    supervisor_dispositions();
    for _ in 0..3 {
        assert_eq!(
            workload_dispositions(),
            (0, 0),
            "(SigIgn, SigCgt) of the workload"
        );
    }
    // A SIGPIPE the workload provokes kills it, as it would under child_process.
    let (_, status) = output(Command::new("sh").args(["-c", "kill -PIPE $$; echo survived"]));
    assert_eq!(
        status,
        ExitStatus::Signaled {
            signal: libc::SIGPIPE,
            core_dumped: false
        }
    );
}

#[test]
fn the_workload_starts_with_default_dispositions_with_clone3() {
    const TEST: &str = "the_workload_starts_with_default_dispositions_with_clone3";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    check();
}

#[test]
fn the_workload_starts_with_default_dispositions_without_clone3() {
    const TEST: &str = "the_workload_starts_with_default_dispositions_without_clone3";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    answer(libc::SYS_clone3, None, common::ret_errno(libc::ENOSYS));
    check();
}

/// A seccomp profile that answers `clone3` and `clone` with 0 (`SECCOMP_RET_ERRNO` with errno
/// 0) makes no child, but tells the caller it is one. The spawn must fail, not run the child's
/// steps (and then the workload) on the supervisor's own thread.
#[test]
fn a_clone_answered_with_zero_runs_nothing_on_the_supervisors_thread() {
    const TEST: &str = "a_clone_answered_with_zero_runs_nothing_on_the_supervisors_thread";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    // A first spawn starts what later ones need (the watchdog thread, whose creation by glibc
    // would believe the 0 too) and probes the kernel.
    let child = Command::new("true").spawn().unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
    let marker = common::fresh_path(TEST);
    answer(libc::SYS_clone3, None, common::ret_errno(0));
    answer(libc::SYS_clone, None, common::ret_errno(0));
    let before = capspawn::inspect::ProcessCaps::of_self().unwrap();
    let spawned = Command::new("touch")
        .arg(&marker)
        .user(capspawn::UserSpec::Name("nobody".into()))
        .spawn();
    assert!(
        matches!(
            spawned,
            Err(capspawn::SpawnError::Setup {
                syscall: "clone",
                ..
            })
        ),
        "{spawned:?}"
    );
    assert!(!marker.exists(), "the workload ran");
    // Still the supervisor, with its privileges: no step of the drop ran on this thread.
    assert_eq!(capspawn::inspect::ProcessCaps::of_self().unwrap(), before);
    // SAFETY: getuid only reads.
    assert_eq!(unsafe { libc::getuid() }, 0);
}

/// A supervisor filter that refuses `rt_sigaction` for SIGPIPE: the child cannot give the
/// workload its default SIGPIPE, so the spawn is refused rather than run with it ignored.
#[test]
fn a_signal_that_cannot_be_reset_refuses_the_spawn() {
    const TEST: &str = "a_signal_that_cannot_be_reset_refuses_the_spawn";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    supervisor_dispositions();
    let child = Command::new("true").spawn().unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
    common::answer_when(
        libc::SYS_rt_sigaction,
        Some((0, libc::SIGPIPE as u32)),
        common::ret_errno(libc::EPERM),
    );
    let marker = common::fresh_path(TEST);
    let spawned = Command::new("touch").arg(&marker).spawn();
    let Err(capspawn::SpawnError::Child(failure)) = spawned else {
        panic!("the workload ran with SIGPIPE ignored: {spawned:?}");
    };
    assert_eq!(failure.stage, capspawn::Stage::SignalMask, "{failure:?}");
    assert!(!marker.exists(), "a workload ran");
}

/// std's `pre_exec` path keeps the supervisor's ignored signals (as std's own spawn does), but
/// not the stop signals: their discard leaves each at its default, pending or not.
#[test]
fn the_pre_exec_drop_gives_the_stop_signals_their_default() {
    const TEST: &str = "the_pre_exec_drop_gives_the_stop_signals_their_default";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    supervisor_dispositions();
    let status = common::pre_exec_status(Command::new("x").privileges().unwrap());
    let ignored = mask(&status, "SigIgn:");
    for stop in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
        assert_eq!(
            ignored & (1 << (stop - 1)),
            0,
            "signal {stop} ignored: {ignored:x}"
        );
    }
    assert_ne!(
        ignored & (1 << (libc::SIGHUP - 1)),
        0,
        "std keeps SIGHUP ignored: {ignored:x}"
    );
}

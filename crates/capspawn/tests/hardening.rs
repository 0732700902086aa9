//! Capability scoping and the extra hardening options, asserted on the workload itself.

mod common;

use capspawn::{
    CapMask, Command, Errno, ExitStatus, ProcessCaps, SpawnError, Stage, Stdio, UserSpec,
};
use common::{answer, answer_when, output, privileged, rerun_under, ret_errno};
use nix::sys::wait::{waitid, Id, WaitPidFlag};
use std::io::Read;

const NET_BIND_SERVICE: u8 = 10;

#[test]
fn a_kept_capability_is_the_only_one_in_every_set() {
    if !privileged("a_kept_capability_is_the_only_one_in_every_set") {
        return;
    }
    let keep = CapMask(1 << NET_BIND_SERVICE);
    let (status, exit) = output(
        Command::new("cat")
            .arg("/proc/self/status")
            .user(UserSpec::Name("nobody".into()))
            .capabilities(keep),
    );
    assert_eq!(exit, ExitStatus::Exited(0));
    let caps = ProcessCaps::from_status(&status).unwrap();
    for (name, mask) in caps.sets() {
        assert_eq!(mask, keep, "{name}: {:?}", mask.names());
    }
    assert!(caps.no_new_privs);
    assert!(status.contains("Uid:\t65534\t65534\t65534\t65534"));
}

#[test]
fn a_capability_the_supervisor_lacks_cannot_be_kept() {
    const TEST: &str = "a_capability_the_supervisor_lacks_cannot_be_kept";
    if !common::rerun_under(
        &["setpriv", "--inh-caps=-all", "--bounding-set=-net_raw"],
        TEST,
    ) {
        return;
    }
    let marker = common::fresh_path("lacks-marker");
    let error = Command::new("touch")
        .arg(&marker)
        .capabilities(CapMask(1 << 13))
        .spawn()
        .unwrap_err();
    assert_eq!(error, SpawnError::CapabilityNotHeld(CapMask(1 << 13)));
    assert!(!marker.exists());
}

#[test]
fn locked_securebits_leave_root_without_capabilities_and_locked() {
    if !privileged("locked_securebits_leave_root_without_capabilities_and_locked") {
        return;
    }
    let (dump, exit) = output(Command::new("setpriv").arg("--dump").lock_securebits(true));
    assert_eq!(exit, ExitStatus::Exited(0));
    let line = dump
        .lines()
        .find(|l| l.starts_with("Securebits:"))
        .expect(&dump);
    for bit in [
        "noroot",
        "noroot_locked",
        "no_setuid_fixup",
        "no_setuid_fixup_locked",
        "keep_caps_locked",
    ] {
        assert!(
            line.split(&[' ', ','][..]).any(|b| b == bit),
            "{bit} missing: {line}"
        );
    }
    assert!(dump.contains("uid: 0\n"), "{dump}");
    let (status, _) = output(
        Command::new("cat")
            .arg("/proc/self/status")
            .lock_securebits(true)
            .bounding_set(capspawn::BoundingSetPolicy::Inherit),
    );
    let caps = ProcessCaps::from_status(&status).unwrap();
    // Even with the bounding set left raised, NOROOT keeps an exec as uid 0 from regaining any.
    assert!(!caps.bounding.is_empty());
    assert!(
        caps.effective.is_empty() && caps.permitted.is_empty(),
        "{caps:?}"
    );
}

#[test]
fn the_workload_dies_with_the_thread_that_spawned_it() {
    let spawner = std::thread::spawn(|| {
        Command::new("sleep")
            .arg("30")
            .parent_death_signal(libc::SIGKILL)
            .spawn()
            .unwrap()
    });
    let child = spawner.join().unwrap();
    assert_eq!(
        child.wait().unwrap(),
        ExitStatus::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false
        }
    );
}

#[test]
fn umask_and_resource_limits_apply() {
    let (out, exit) = output(
        Command::new("sh")
            .args(["-c", "umask; ulimit -Sn; ulimit -Hn"])
            .umask(0o027)
            .rlimit(libc::RLIMIT_NOFILE, 100, 200),
    );
    assert_eq!(exit, ExitStatus::Exited(0));
    assert_eq!(out, "0027\n100\n200\n");
}

#[test]
fn extra_descriptors_are_passed_and_every_other_one_is_closed() {
    // A descriptor the supervisor leaks (no close-on-exec): the child must not get it.
    // SAFETY: a copy of our own stdout (F_DUPFD leaves close-on-exec off), closed below.
    let leaked = unsafe { libc::fcntl(1, libc::F_DUPFD, 10) };
    assert!(leaked > 5);
    let probe =
        |fd: i32| format!("(true >&{fd}) 2>/dev/null && echo {fd}:open || echo {fd}:closed;");
    let script = format!("echo extra >&3; {}{}{}", probe(4), probe(5), probe(leaked));
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stdout(Stdio::Pipe)
        .fd(3, Stdio::Pipe)
        .fd(5, Stdio::Fd(leaked))
        .spawn()
        .unwrap();
    let mut out = String::new();
    std::fs::File::from(child.stdout.take().unwrap())
        .read_to_string(&mut out)
        .unwrap();
    let mut extra = String::new();
    std::fs::File::from(child.extra[0].take().unwrap())
        .read_to_string(&mut extra)
        .unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
    // SAFETY: the descriptor dup'd above.
    unsafe { libc::close(leaked) };
    assert_eq!(extra, "extra\n");
    assert_eq!(out, format!("4:closed\n5:open\n{leaked}:closed\n"));
}

/// Leaves a descriptor open at each of `fds`, without close-on-exec, and lowers
/// RLIMIT_NOFILE to `soft`/`hard` (below some of them, as a supervisor may after opening them).
fn leak_descriptors(fds: &[i32], soft: u64, hard: u64) {
    for &fd in fds {
        // SAFETY: dup3 of our stdout onto a free number (close-on-exec off); kept open on purpose.
        assert_eq!(unsafe { libc::dup3(1, fd, 0) }, fd);
    }
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: a valid rlimit for this process.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
}

/// Which of `fds` the workload has open, asked of bash (which takes any descriptor number in a
/// redirection, and needs no /proc for it).
fn open_in_workload(fds: &[i32]) -> String {
    let probe: String = fds
        .iter()
        .map(|fd| format!("(true >&{fd}) 2>/dev/null && echo -n '{fd} ';"))
        .collect();
    let (out, exit) = output(Command::new("bash").args(["-c", &format!("{probe} true")]));
    assert_eq!(exit, ExitStatus::Exited(0));
    out
}

/// With `close_range` answered ENOSYS (a kernel before 5.9).
fn without_close_range() {
    answer(libc::SYS_close_range, None, ret_errno(libc::ENOSYS));
}

/// With descriptors left at 20, 300 and 1000 (above both lowered limits) and `filter` installed,
/// the workload has none of them.
fn assert_nothing_leaks_under(filter: fn()) {
    leak_descriptors(&[20, 300, 1000], 64, 512);
    filter();
    // Descriptor 1 is the check that the probe sees an open descriptor.
    assert_eq!(open_in_workload(&[1, 20, 300, 1000]), "1 ");
}

#[test]
fn without_close_range_cloexec_the_descriptors_are_closed_instead() {
    // Linux 5.9 and 5.10 have close_range but not CLOSE_RANGE_CLOEXEC (EINVAL).
    const TEST: &str = "without_close_range_cloexec_the_descriptors_are_closed_instead";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    assert_nothing_leaks_under(|| {
        let cloexec = libc::CLOSE_RANGE_CLOEXEC;
        answer_when(
            libc::SYS_close_range,
            Some((2, cloexec)),
            ret_errno(libc::EINVAL),
        );
    });
}

#[test]
fn before_close_range_no_descriptor_leaks_even_above_the_limits() {
    const TEST: &str = "before_close_range_no_descriptor_leaks_even_above_the_limits";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    assert_nothing_leaks_under(without_close_range);
}

/// Unmounts /proc in this test process's own mount namespace (`rerun_under` an `unshare
/// --mount`).
fn unmount_proc() {
    // SAFETY: a NUL-terminated path; only this test process's own mount namespace changes.
    let unmounted = unsafe { libc::umount2(b"/proc\0".as_ptr().cast(), libc::MNT_DETACH) };
    assert_eq!(unmounted, 0, "{}", std::io::Error::last_os_error());
}

/// Mounts an empty tmpfs at /proc, in this test process's own mount namespace.
fn mount_tmpfs_over_proc() {
    // SAFETY: NUL-terminated strings; a mount in this test process's own namespace.
    let mounted = unsafe {
        libc::mount(
            b"none\0".as_ptr().cast(),
            b"/proc\0".as_ptr().cast(),
            b"tmpfs\0".as_ptr().cast(),
            0,
            std::ptr::null(),
        )
    };
    assert_eq!(mounted, 0, "{}", std::io::Error::last_os_error());
}

/// `common::refused` for a process without /proc: no marker, and no child left (asked of
/// waitid, since /proc/self/task is not there to ask).
fn refused_without_proc(name: &str) -> capspawn::Failure {
    let marker = common::fresh_path(name);
    let error = Command::new("touch").arg(&marker).spawn().unwrap_err();
    let SpawnError::Child(failure) = error else {
        panic!("{error:?}")
    };
    assert!(!marker.exists(), "a workload ran");
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    assert_eq!(waitid(Id::All, flags), Err(Errno::ECHILD));
    failure
}

#[test]
fn before_close_range_and_without_procfs_every_spawn_is_refused() {
    // No bound on the descriptor numbers is certain then, and a directory that is not procfs
    // at /proc/self/fd would list nothing.
    const TEST: &str = "before_close_range_and_without_procfs_every_spawn_is_refused";
    if !rerun_under(&["unshare", "--mount", "--propagation", "private"], TEST) {
        return;
    }
    unmount_proc();
    assert!(std::fs::read_dir("/proc/self/fd").is_err());
    without_close_range();
    let failure = refused_without_proc("no-proc");
    assert_eq!(
        (failure.stage, failure.errno),
        (Stage::Cloexec, Some(Errno::ENOENT))
    );

    // An empty tmpfs with a /proc/self/fd directory in it.
    mount_tmpfs_over_proc();
    std::fs::create_dir_all("/proc/self/fd").unwrap();
    let failure = refused_without_proc("tmpfs-proc");
    assert_eq!(
        (failure.stage, failure.errno),
        (Stage::Cloexec, Some(Errno::ENOTSUP))
    );
}

/// Closes 0 and 2, as a daemon started without them has them, and returns a copy of stderr for
/// [`restore_stderr`]. Rust's runtime opens /dev/null on a closed 0, 1 or 2 at startup, so a
/// test closes them itself, alone in its process (under `rerun_under`).
fn close_stdin_and_stderr() -> i32 {
    // SAFETY: a copy of stderr, then closing 0 and 2, which nothing else in this process uses.
    unsafe {
        let saved = libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 10);
        libc::close(0);
        libc::close(2);
        saved
    }
}

/// Puts the stderr `close_stdin_and_stderr` saved back at 2, for the assertions' messages.
fn restore_stderr(saved: i32) {
    // SAFETY: dup2 of our own saved copy onto 2, which nothing else in this process uses.
    unsafe { libc::dup2(saved, 2) };
}

fn is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads descriptor flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

#[test]
fn a_supervisor_with_closed_stdio_gives_the_child_none_of_its_new_pipes_by_mistake() {
    // A daemon started with 0 and 2 closed: the stdin pipe made for the child takes numbers 0
    // and 2, so an inherited stderr must not pick its write end up.
    const TEST: &str =
        "a_supervisor_with_closed_stdio_gives_the_child_none_of_its_new_pipes_by_mistake";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    let saved_stderr = close_stdin_and_stderr();
    let closed = !is_open(0) && !is_open(2);
    let (out, exit) = output(
        Command::new("readlink")
            .args(["/proc/self/fd/0", "/proc/self/fd/2"])
            .stdin(Stdio::Pipe)
            .stderr(Stdio::Inherit),
    );
    restore_stderr(saved_stderr); // 0 may now be the pipe end just dropped: free
    assert!(closed);
    // Descriptor 0 is the stdin pipe; 2 is closed, as in the supervisor (readlink fails on it).
    assert_eq!(exit, ExitStatus::Exited(1));
    assert!(
        out.starts_with("pipe:[") && out.lines().count() == 1,
        "{out:?}"
    );

    // A descriptor that is not open cannot be passed.
    assert!(!is_open(900));
    for fd in [900, -1] {
        let error = Command::new("true")
            .fd(3, Stdio::Fd(fd))
            .spawn()
            .unwrap_err();
        assert!(
            matches!(
                error,
                SpawnError::Setup {
                    errno: Errno::EBADF,
                    ..
                }
            ),
            "{fd}: {error:?}"
        );
    }
}

#[test]
fn a_supervisor_with_closed_stdio_hands_none_of_capspawns_own_descriptors_to_a_workload() {
    // A Rust supervisor that closed 0 and 2 before it first spawned: every descriptor capspawn
    // opens would take those numbers (the gate's lock, the watchdog's epoll and timers, a
    // reaper's epoll, a running child's pidfd and stdin pipe, a pseudo-terminal, the netns
    // thread's handle on the supervisor's own namespace, a spawn's Landlock ruleset), and
    // `Stdio::Inherit` would hand it to the workload: the lock's open file, say, whose LOCK_UN
    // would release the memory gate another copy of capspawn relies on.
    const TEST: &str =
        "a_supervisor_with_closed_stdio_hands_none_of_capspawns_own_descriptors_to_a_workload";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    let saved_stderr = close_stdin_and_stderr();
    let closed_before = !is_open(0) && !is_open(2);
    capspawn::prepare();
    let reaper = capspawn::Reaper::new().unwrap();
    let quiet = |command: &mut Command| {
        command
            .stdin(Stdio::Null)
            .stdout(Stdio::Null)
            .stderr(Stdio::Null)
            .spawn()
            .unwrap()
    };
    let first_exit = quiet(&mut Command::new("true")).wait().unwrap();
    let mut running = Command::new("sleep");
    let mut running = running.arg("30").stdin(Stdio::Pipe).spawn().unwrap();
    let running_stdin = running.stdin.take();
    let terminal =
        capspawn::terminal::Pty::open(capspawn::terminal::WindowSize { cols: 80, rows: 24 });
    // Hard: without Landlock the spawn is refused rather than run without a ruleset to test.
    let everything = capspawn::FilesystemSpec {
        read_only: vec!["/".into()],
        compatibility: capspawn::Compatibility::Hard,
        ..Default::default()
    };
    let (out, exit) = output(
        Command::new("readlink")
            .args(["/proc/self/fd/0", "/proc/self/fd/2"])
            .filesystem(everything)
            .network(capspawn::NetworkSpec::None)
            .stdin(Stdio::Inherit)
            .stderr(Stdio::Inherit),
    );
    let mut own = String::new();
    for fd in 0..3 {
        if let Ok(target) = std::fs::read_link(format!("/proc/self/fd/{fd}")) {
            own += &format!("{fd} -> {} ", target.display());
        }
    }
    // What std::process::Command gives the same program from the same supervisor.
    let std_run = std::process::Command::new("readlink")
        .args(["/proc/self/fd/0", "/proc/self/fd/2"])
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap();
    restore_stderr(saved_stderr);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(running.pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = running.wait();
    drop((reaper, running_stdin));
    assert!(closed_before);
    assert!(terminal.is_ok(), "{terminal:?}");
    assert_eq!(first_exit, ExitStatus::Exited(0));
    // And in the supervisor, the numbers are still free after all that (the streams of
    // `output` were closed): capspawn holds none of them.
    assert!(
        !own.contains("0 ->") && !own.contains("2 ->"),
        "the supervisor's 0-2: {own}"
    );
    // Both closed in the workload, as in the supervisor and as std::process::Command leaves
    // them: readlink prints nothing and fails, through both.
    assert_eq!(
        (
            String::from_utf8_lossy(&std_run.stdout).into_owned(),
            std_run.status.code()
        ),
        (String::new(), Some(1)),
        "std::process::Command's run"
    );
    assert_eq!(
        (out.as_str(), exit),
        ("", ExitStatus::Exited(1)),
        "the workload got {out:?}; the supervisor's 0-2: {own}"
    );
}

#[test]
fn without_procfs_the_cross_check_refuses_unless_the_caller_opted_out() {
    // Step 6 cross-checks the kernel's own account in /proc/thread-self/status: no procfs, or
    // something else mounted there, refuses, unless `require_procfs(false)`.
    const TEST: &str = "without_procfs_the_cross_check_refuses_unless_the_caller_opted_out";
    if !rerun_under(&["unshare", "--mount", "--propagation", "private"], TEST) {
        return;
    }
    unmount_proc();
    let failure = refused_without_proc("no-procfs");
    assert_eq!(
        (failure.stage, failure.errno),
        (Stage::Procfs, Some(Errno::ENOENT))
    );
    let marker = common::fresh_path("no-procfs-opted-out");
    let child = Command::new("touch")
        .arg(&marker)
        .require_procfs(false)
        .spawn()
        .expect("opted out");
    assert_eq!(child.wait().unwrap(), capspawn::ExitStatus::Exited(0));
    assert!(marker.exists());
    // A tmpfs with a forged status file: not procfs, so not read, and refused.
    mount_tmpfs_over_proc();
    std::fs::create_dir_all("/proc/thread-self").unwrap();
    std::fs::write("/proc/thread-self/status", "CapBnd:\t0000000000000000\n").unwrap();
    let failure = refused_without_proc("tmpfs-procfs");
    assert_eq!(
        (failure.stage, failure.errno),
        (Stage::Procfs, Some(Errno::ENOTSUP))
    );
    // The opt-out is for no procfs at all, not for something else mounted in its place.
    let error = Command::new("true")
        .require_procfs(false)
        .spawn()
        .unwrap_err();
    let SpawnError::Child(failure) = error else {
        panic!("{error:?}")
    };
    assert_eq!(
        (failure.stage, failure.errno),
        (Stage::Procfs, Some(Errno::ENOTSUP))
    );
    assert!(capspawn::bounding_set::probe_clear().unwrap().is_err());
}

#[test]
fn a_supervisor_with_keepcaps_locked_off_still_spawns_as_another_user() {
    // systemd's SecureBits=keep-caps-locked, or a supervisor itself started with capspawn's
    // securebits 'locked': keepcaps cannot be set for the uid change, and with the default
    // fs.suid_dumpable (0) it is not needed, so the spawn must not be refused for it.
    const TEST: &str = "a_supervisor_with_keepcaps_locked_off_still_spawns_as_another_user";
    if !rerun_under(&["setpriv", "--securebits", "+keep_caps_locked"], TEST) {
        return;
    }
    let suid_dumpable = std::fs::read_to_string("/proc/sys/fs/suid_dumpable").unwrap();
    if suid_dumpable.trim() == "1" {
        // Then keepcaps is needed (the uid change makes the memory dumpable): refused.
        let failure = common::refused("keepcaps-locked-dumpable", |command| {
            command.user(capspawn::UserSpec::Name("nobody".into()))
        });
        assert_eq!(failure.stage, Stage::Securebits, "{failure:?}");
        return;
    }
    let (out, status) = common::output(
        Command::new("/bin/cat")
            .arg("/proc/self/status")
            .user(capspawn::UserSpec::Name("nobody".into())),
    );
    assert_eq!(status, capspawn::ExitStatus::Exited(0));
    assert!(out.contains("Uid:\t65534\t65534\t65534\t65534"), "{out}");
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
    // Keeping capabilities needs keepcaps: refused, with the stage that says so.
    let failure = common::refused("keepcaps-locked", |command| {
        command
            .user(capspawn::UserSpec::Name("nobody".into()))
            .capabilities(capspawn::CapMask(1 << 10))
    });
    assert_eq!(
        (failure.stage, failure.errno),
        (Stage::Securebits, Some(Errno::EPERM))
    );
}

#[test]
fn a_descriptor_limit_below_the_supervisors_descriptors_does_not_refuse_the_spawn() {
    // The child opens /proc/thread-self/status for step 6 before setrlimit: with `nofile` 16 and
    // the supervisor holding descriptors above 16, opening it afterwards would fail (EMFILE).
    if !common::privileged(
        "a_descriptor_limit_below_the_supervisors_descriptors_does_not_refuse_the_spawn",
    ) {
        return;
    }
    let held = common::hold_descriptors(32);
    let (limits, status) = common::output(
        Command::new("/bin/cat")
            .arg("/proc/self/limits")
            .rlimit(libc::RLIMIT_NOFILE, 16, 16)
            .user(capspawn::UserSpec::Name("nobody".into())),
    );
    drop(held);
    assert_eq!(status, capspawn::ExitStatus::Exited(0), "{limits}");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>()[3..5],
        ["16", "16"]
    );
}

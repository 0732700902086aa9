//! A supervisor under a seccomp filter that lies, consistently: it fakes a change and fakes the
//! read-back that would reveal it (drop and read of the bounding set, setgroups and getgroups,
//! setresuid and getresuid, capset and capget), or answers the child's reads with values at
//! their extremes. Built on seccomp user notification: a thread of the test answers each call
//! the child makes, and since the child shares the supervisor's memory (CLONE_VM), it writes
//! the forged answers straight through the child's pointers (`common::notify`). The child must still refuse every
//! lie that hides a privilege (the procfs cross-check of step 6), and no answer may make it
//! panic or hang. Each test runs in a fresh process (`rerun_under`), since a filter stays.

mod common;

use capspawn::{
    CapMask, Command, ExitStatus, GroupSpec, SpawnError, Stage, SupplementaryGroups, UserSpec,
};
use common::notify::{lie, write_to_child, Lie};
use common::{children, fresh_path, rerun_under};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// A workload that must not run: `touch <marker>` as nobody, with the groups cleared.
fn refused_as_nobody(name: &str) -> capspawn::Failure {
    let marker = fresh_path(name);
    let spawned = Command::new("touch")
        .arg(&marker)
        .user(UserSpec::Name("nobody".into()))
        .supplementary_groups(SupplementaryGroups::Clear)
        .spawn();
    let Err(SpawnError::Child(failure)) = spawned else {
        panic!("{name}: the lie got a workload through: {spawned:?}");
    };
    assert!(!marker.exists(), "{name}: a workload ran");
    assert_eq!(children(), Vec::<String>::new(), "{name}: a child was left");
    failure
}

fn nobody_uid() -> u32 {
    65534
}

#[test]
fn a_filter_faking_the_drop_and_its_read_back_is_refused() {
    const TEST: &str = "a_filter_faking_the_drop_and_its_read_back_is_refused";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    let last = capspawn::thread_caps::last_cap() as u64;
    let drop = libc::PR_CAPBSET_DROP as u64;
    let read = libc::PR_CAPBSET_READ as u64;
    // Every drop "succeeds", and every capability the kernel knows reads as gone; past the last
    // one the kernel answers EINVAL for real, to both, as it would: only procfs tells.
    lie(
        &[libc::SYS_prctl],
        Box::new(move |call| match call.args {
            [op, cap, ..] if *op == drop && *cap <= last => Some(0),
            [op, cap, ..] if *op == read && *cap <= last => Some(0),
            _ => None,
        }),
    );
    let failure = refused_as_nobody(TEST);
    assert_eq!(failure.stage, Stage::BoundingSet, "{failure:?}");
    assert!(failure.remaining.contains(21), "{failure:?}"); // CAP_SYS_ADMIN, per procfs
    let probed = capspawn::bounding_set::probe_clear().unwrap();
    assert!(probed.is_err(), "the probe believed the lie");
}

/// The drop answered with success, for real only with procfs to confirm it: the child reads the
/// bounding set back itself only when the kernel's account is missing. Here the drop is faked
/// (the read-back tells the truth), and the account is hidden from the child: with `openat` of
/// the status file answered ENOENT (procfs "absent", which `require_procfs(false)` accepts),
/// the read-back must refuse; with the account open and its later read answered ENOENT, the
/// read must refuse. Either way no workload runs with the supervisor's bounding set.
#[test]
fn a_faked_drop_with_the_account_hidden_is_refused() {
    const TEST: &str = "a_faked_drop_with_the_account_hidden_is_refused";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    let last = capspawn::thread_caps::last_cap() as u64;
    let drop = libc::PR_CAPBSET_DROP as u64;
    // An int argument: the register's upper half is not the caller's.
    let at_cwd = libc::AT_FDCWD as u32;
    let hidden = Arc::new(Mutex::new(libc::SYS_openat));
    let hiding = hidden.clone();
    lie(
        &[libc::SYS_prctl, libc::SYS_openat, libc::SYS_newfstatat],
        Box::new(move |call| match (call.nr, call.args) {
            (libc::SYS_prctl, [op, cap, ..]) if *op == drop && *cap <= last => Some(0),
            // Relative to AT_FDCWD and read-only: the child's status file, not the workload's
            // files (touch opens its marker to write) nor ld.so's (an O_RDONLY open of an
            // absolute path would be hidden too, but the workload must not get that far).
            (nr, [dirfd, _, flags, ..])
                if nr == *hiding.lock().unwrap()
                    && *dirfd as u32 == at_cwd
                    && (nr == libc::SYS_newfstatat
                        || *flags == (libc::O_RDONLY | libc::O_CLOEXEC) as u64) =>
            {
                Some(-(libc::ENOENT as i64))
            }
            _ => None,
        }),
    );
    for syscall in [libc::SYS_openat, libc::SYS_newfstatat] {
        *hidden.lock().unwrap() = syscall;
        let marker = fresh_path(TEST);
        let spawned = Command::new("touch")
            .arg(&marker)
            .user(UserSpec::Name("nobody".into()))
            .supplementary_groups(SupplementaryGroups::Clear)
            .require_procfs(false)
            .spawn();
        let Err(SpawnError::Child(failure)) = spawned else {
            panic!("syscall {syscall} hidden: the faked drop got a workload through: {spawned:?}");
        };
        assert!(!marker.exists(), "syscall {syscall} hidden: a workload ran");
        match syscall {
            libc::SYS_openat => {
                assert_eq!(failure.stage, Stage::BoundingSet, "{failure:?}");
                assert!(failure.remaining.contains(21), "{failure:?}"); // CAP_SYS_ADMIN
            }
            _ => assert_eq!(failure.stage, Stage::Procfs, "{failure:?}"),
        }
        assert_eq!(children(), Vec::<String>::new(), "a child was left");
    }
    // The control: nothing hidden, procfs confirms the faked drop did nothing.
    *hidden.lock().unwrap() = -1;
    let failure = refused_as_nobody(TEST);
    assert_eq!(failure.stage, Stage::BoundingSet, "{failure:?}");
}

#[test]
fn a_filter_faking_setgroups_and_getgroups_is_refused() {
    const TEST: &str = "a_filter_faking_setgroups_and_getgroups_is_refused";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    // The supervisor's own groups, which a faked setgroups would leave the workload.
    let groups: [libc::gid_t; 3] = [6, 27, 42];
    // SAFETY: the raw syscall for this thread only, with a live slice.
    let set = unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) };
    assert_eq!(set, 0);
    lie(
        &[libc::SYS_setgroups, libc::SYS_getgroups],
        Box::new(|call| match call.nr {
            libc::SYS_setgroups => Some(0),
            libc::SYS_getgroups => Some(0), // "no groups", as asked
            _ => None,
        }),
    );
    let failure = refused_as_nobody(TEST);
    assert_eq!(failure.stage, Stage::Setgroups, "{failure:?}");
}

#[test]
fn a_filter_faking_setresuid_and_getresuid_is_refused() {
    const TEST: &str = "a_filter_faking_setresuid_and_getresuid_is_refused";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    lie(
        &[libc::SYS_setresuid, libc::SYS_getresuid],
        Box::new(|call| match call.nr {
            libc::SYS_setresuid => Some(0),
            _ => {
                for &out in &call.args[..3] {
                    write_to_child(out, &[nobody_uid()]);
                }
                Some(0)
            }
        }),
    );
    let failure = refused_as_nobody(TEST);
    assert_eq!(failure.stage, Stage::Setuid, "{failure:?}");
}

#[test]
fn a_filter_faking_capset_and_capget_is_refused() {
    const TEST: &str = "a_filter_faking_capset_and_capget_is_refused";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    lie(
        &[libc::SYS_capset, libc::SYS_capget],
        Box::new(|call| match call.nr {
            libc::SYS_capset => Some(0),
            _ => {
                write_to_child(call.args[1], &[0u32; 6]); // two empty CapData words
                Some(0)
            }
        }),
    );
    let failure = refused_as_nobody(TEST);
    assert_eq!(failure.stage, Stage::Verify, "{failure:?}");
    assert!(failure.remaining.contains(21), "{failure:?}");
}

/// Every answer of the kernel that the child reads, driven to its extremes, one at a time: the
/// spawn may succeed (the lie only made a true state look odd) or be refused, but the child
/// never crashes (a panic aborts it: stage `died`), never hangs, and a refused workload never
/// runs. The outer run checks that nothing printed a panic.
#[test]
fn no_kernel_answer_makes_the_child_panic() {
    const TEST: &str = "no_kernel_answer_makes_the_child_panic";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    let reads: &[(libc::c_long, Option<libc::c_int>)] = &[
        (libc::SYS_prctl, Some(libc::PR_CAPBSET_READ)),
        (libc::SYS_prctl, Some(libc::PR_GET_NO_NEW_PRIVS)),
        (libc::SYS_prctl, Some(libc::PR_GET_SECUREBITS)),
        (libc::SYS_prctl, Some(libc::PR_CAP_AMBIENT)),
        (libc::SYS_prctl, Some(libc::PR_GET_DUMPABLE)),
        (libc::SYS_capget, None),
        (libc::SYS_getresuid, None),
        (libc::SYS_getresgid, None),
        (libc::SYS_getgroups, None),
        (libc::SYS_getppid, None),
        (libc::SYS_gettid, None),
        (libc::SYS_openat, None),
        (libc::SYS_read, None),
        (libc::SYS_fstatfs, None),
        (libc::SYS_fcntl, None),
        (libc::SYS_close_range, None),
        (libc::SYS_rt_sigprocmask, None),
        (libc::SYS_rt_sigpending, None),
    ];
    let extremes: [i64; 9] = [
        0,
        1,
        2,
        5000,
        i32::MAX as i64,
        u32::MAX as i64 + 1,
        i64::MAX,
        -4096,
        i64::MIN,
    ];
    let current: Arc<Mutex<Option<Lie>>> = Arc::new(Mutex::new(None));
    let chosen = current.clone();
    let syscalls: Vec<libc::c_long> = reads
        .iter()
        .map(|&(nr, _)| nr)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    lie(
        &syscalls,
        Box::new(move |call| match *chosen.lock().unwrap() {
            Some((nr, op, value))
                if nr == call.nr && op.map_or(true, |op| call.args[0] == op as u64) =>
            {
                Some(value)
            }
            _ => None,
        }),
    );
    for &(nr, op) in reads {
        for value in extremes {
            *current.lock().unwrap() = Some((nr, op, value));
            let marker = fresh_path("extreme");
            let spawned = Command::new("touch")
                .arg(&marker)
                .user(UserSpec::Name("nobody".into()))
                .group(GroupSpec::Id(65534))
                .supplementary_groups(SupplementaryGroups::List(vec![65534, 100]))
                .capabilities(CapMask(1 << 10)) // NET_BIND_SERVICE: the ambient path too
                .parent_death_signal(libc::SIGKILL)
                .spawn();
            *current.lock().unwrap() = None;
            let case = format!("syscall {nr} {op:?} answered {value}");
            match spawned {
                Ok(child) => {
                    // The workload ran with the lie still in place for it: its own result is
                    // not ours to judge, only that the drop itself held (procfs agreed).
                    let _ = child.wait();
                }
                Err(SpawnError::Child(failure)) => {
                    assert_ne!(failure.stage, Stage::Died, "{case}: {failure:?}");
                    assert!(!marker.exists(), "{case}: a refused workload ran");
                }
                Err(other) => panic!("{case}: {other:?}"),
            }
            let _ = std::fs::remove_file(&marker);
            assert_eq!(children(), Vec::<String>::new(), "{case}: a child was left");
        }
    }
    // The whole table ran: the supervisor still spawns normally.
    let child = Command::new("true").spawn().unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
}

#[test]
fn a_filter_faking_the_dumpable_flag_is_refused() {
    // With fs.suid_dumpable=1 the uid change makes the shared memory dumpable; a filter that
    // fakes PR_SET_DUMPABLE (so it stays so) and PR_GET_DUMPABLE (so it reads 0) is caught by
    // procfs, which gives a dumpable task's files to its uid rather than to root.
    const TEST: &str = "a_filter_faking_the_dumpable_flag_is_refused";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    let _sysctl = common::SuidDumpable::set(1);
    let set = libc::PR_SET_DUMPABLE as u64;
    let get = libc::PR_GET_DUMPABLE as u64;
    lie(
        &[libc::SYS_prctl],
        Box::new(move |call| match call.args[0] {
            op if op == set || op == get => Some(0),
            _ => None,
        }),
    );
    let failure = refused_as_nobody(TEST);
    assert_eq!(failure.stage, Stage::Dumpable, "{failure:?}");
}

/// The status read cut short at a line boundary, before the capability lines: the genuine
/// beginning of the file, as the kernel printed it, and then a short count. The child takes a
/// short read as the whole file (procfs makes it at once), so the fields it lacks must refuse
/// the spawn, not count as absent. The same genuine text, whole, is the control: it passes.
#[test]
fn a_status_read_cut_short_is_refused() {
    const TEST: &str = "a_status_read_cut_short_is_refused";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    let cut: Arc<Mutex<bool>> = Arc::new(Mutex::new(true));
    let cutting = cut.clone();
    lie(
        &[libc::SYS_read],
        Box::new(move |call| {
            let [fd, buffer, count, ..] = *call.args;
            let link = std::fs::read_link(format!("/proc/{}/fd/{fd}", call.pid)).ok()?;
            if !link.to_string_lossy().ends_with("/status") {
                return None;
            }
            let text =
                std::fs::read(format!("/proc/{}/task/{}/status", call.pid, call.pid)).ok()?;
            let whole = text.len();
            let answer = if *cutting.lock().unwrap() {
                let at = text.windows(4).position(|w| w == b"CapI")?;
                &text[..at]
            } else {
                &text[..whole]
            };
            assert!(answer.len() < count as usize);
            write_to_child(buffer, answer);
            Some(answer.len() as i64)
        }),
    );
    let failure = refused_as_nobody(TEST);
    assert_eq!(failure.stage, Stage::Verify, "{failure:?}");
    // The control: the same lie, with the whole text, lets the spawn through.
    *cut.lock().unwrap() = false;
    let child = Command::new("true")
        .user(UserSpec::Name("nobody".into()))
        .supplementary_groups(SupplementaryGroups::Clear)
        .spawn()
        .expect("the whole status text, as the kernel printed it");
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
}

#[test]
fn a_filter_faking_the_free_descriptor_check_below_a_low_limit_closes_nothing_the_child_needs() {
    // Below a lowered RLIMIT_NOFILE the child asks fcntl(F_DUPFD_CLOEXEC) whether its layers'
    // checks have a number, and closes the copy it gets. An answer naming stdin (0, what a
    // RET_ERRNO(0) filter answers) or the exit watch itself (the descriptor asked about) must
    // not make it close that: the spawn is refused, and the workload never runs.
    const TEST: &str =
        "a_filter_faking_the_free_descriptor_check_below_a_low_limit_closes_nothing_the_child_needs";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    // Descriptors enough that none from 3 below 8 is free in the child.
    let held = common::hold_descriptors(16);
    let dupfd = libc::F_DUPFD_CLOEXEC as u64;
    let liar = lie(&[libc::SYS_fcntl], Box::new(|_| None));
    let stdin: fn(u64) -> i64 = |_| 0;
    let asked_about: fn(u64) -> i64 = |fd| fd as i64;
    for (name, answer) in [("stdin", stdin), ("the exit watch", asked_about)] {
        *liar.lock().unwrap() =
            Box::new(move |call| (call.args[1] == dupfd).then(|| answer(call.args[0])));
        let marker = fresh_path(TEST);
        let spawned = Command::new("touch")
            .arg(&marker)
            .rlimit(libc::RLIMIT_NOFILE, 8, 8)
            .filesystem(capspawn::FilesystemSpec {
                read_only: vec!["/".into()],
                compatibility: capspawn::Compatibility::Hard,
                ..Default::default()
            })
            .spawn();
        let Err(SpawnError::Child(failure)) = spawned else {
            panic!("{name}: the lie got a workload through: {spawned:?}");
        };
        assert_eq!(
            (failure.stage, failure.errno),
            (Stage::Rlimit, Some(capspawn::Errno::EMFILE)),
            "{name}: {failure:?}"
        );
        assert!(!marker.exists(), "{name}: a workload ran");
        assert_eq!(children(), Vec::<String>::new(), "{name}: a child was left");
    }
    drop(held);
}

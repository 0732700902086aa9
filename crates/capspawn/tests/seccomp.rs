//! A supervisor under a seccomp filter that refuses `prctl(PR_CAPBSET_DROP)` even though
//! CAP_SETPCAP is effective (as an AppArmor or SELinux policy can), or fakes its success: every
//! spawn is refused and no workload runs. The filter is built here, not taken from the host.

mod common;

use capspawn::{CapMask, Command, Stage, UserSpec};
use common::{answer, refused, rerun_under, ret_errno};

/// Capability number of CAP_SYS_ADMIN.
const CAP_SYS_ADMIN: u8 = 21;

fn nobody() -> UserSpec {
    UserSpec::Name("nobody".into())
}

fn assert_refused(test: &str) {
    let setpcap = common::CAP_SETPCAP;
    assert!(capspawn::thread_caps::get()
        .unwrap()
        .effective
        .contains(setpcap));
    for _ in 0..20 {
        let failure = refused(test, |command| command);
        assert_eq!(failure.stage, Stage::BoundingSet, "{failure:?}");
        assert!(failure.remaining.contains(CAP_SYS_ADMIN), "{failure:?}");
    }
    let probed = capspawn::bounding_set::probe_clear().unwrap();
    assert!(probed.is_err(), "the probe disagrees");
}

#[test]
fn a_filter_that_refuses_the_drop_refuses_every_spawn() {
    const TEST: &str = "a_filter_that_refuses_the_drop_refuses_every_spawn";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    let drop = libc::PR_CAPBSET_DROP as u32;
    answer(libc::SYS_prctl, Some(drop), ret_errno(libc::EPERM)); // SECCOMP_RET_ERRNO | EPERM
    assert_refused(TEST);
}

#[test]
fn a_filter_that_fakes_success_refuses_every_spawn() {
    const TEST: &str = "a_filter_that_fakes_success_refuses_every_spawn";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    let drop = libc::PR_CAPBSET_DROP as u32;
    answer(libc::SYS_prctl, Some(drop), ret_errno(0)); // "success", nothing dropped
    assert_refused(TEST);
}

#[test]
fn a_filter_that_fakes_capget_refuses_every_spawn() {
    const TEST: &str = "a_filter_that_fakes_capget_refuses_every_spawn";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    answer(libc::SYS_capget, None, ret_errno(0)); // "success", nothing written
    let failure = refused(TEST, |command| command);
    assert_eq!(failure.stage, Stage::Verify, "{failure:?}");
}

/// A filter that refuses PR_CAPBSET_DROP and answers PR_CAPBSET_READ with `read` (`ret_errno`):
/// every spawn is refused at the bounding set, with or without kept capabilities.
fn assert_refused_when_reads_answer(
    test: &str,
    read: u32,
    configure: fn(&mut Command) -> &mut Command,
) {
    let drop = libc::PR_CAPBSET_DROP as u32;
    answer(libc::SYS_prctl, Some(drop), ret_errno(libc::EPERM));
    answer(libc::SYS_prctl, Some(libc::PR_CAPBSET_READ as u32), read);
    for keep in [CapMask::EMPTY, CapMask(1 << 10)] {
        let failure = refused(test, |command| configure(command).capabilities(keep));
        assert_eq!(failure.stage, Stage::BoundingSet, "{keep:?}: {failure:?}");
    }
}

#[test]
fn a_filter_that_fakes_the_bounding_set_reads_refuses_every_spawn() {
    const TEST: &str = "a_filter_that_fakes_the_bounding_set_reads_refuses_every_spawn";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    // "Not raised", for every capability.
    assert_refused_when_reads_answer(TEST, ret_errno(0), |command| command.user(nobody()));
}

#[test]
fn a_filter_that_breaks_the_bounding_set_reads_refuses_every_spawn() {
    // PR_CAPBSET_READ failing with an errno the kernel never gives it (EACCES): nothing can be
    // known about the set, so the spawn is refused, and in a debug build too (capctl
    // debug-asserts EINVAL there, which must not panic in the child).
    const TEST: &str = "a_filter_that_breaks_the_bounding_set_reads_refuses_every_spawn";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    assert_refused_when_reads_answer(TEST, ret_errno(libc::EACCES), |command| command);
    assert!(capspawn::bounding_set::probe_clear().unwrap().is_err());
}

#[test]
fn a_filter_that_fakes_setgroups_refuses_every_spawn() {
    const TEST: &str = "a_filter_that_fakes_setgroups_refuses_every_spawn";
    if !rerun_under(&["setpriv", "--groups=6,999"], TEST) {
        return;
    }
    answer(libc::SYS_setgroups, None, ret_errno(0)); // "success", groups unchanged
    let failure = refused(TEST, |command| command.user(nobody()));
    assert_eq!(failure.stage, Stage::Setgroups, "{failure:?}");
}

#[test]
fn a_child_killed_before_exec_is_a_failed_spawn() {
    const TEST: &str = "a_child_killed_before_exec_is_a_failed_spawn";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    answer(libc::SYS_setresuid, None, 0x8000_0000); // SECCOMP_RET_KILL_PROCESS
    let failure = refused(TEST, |command| command.user(nobody()));
    assert_eq!(failure.stage, Stage::Died, "{failure:?}");
}

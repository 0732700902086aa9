//! A supervisor under a seccomp filter that refuses `prctl(PR_CAPBSET_DROP)` even though
//! CAP_SETPCAP is effective (as an AppArmor or SELinux policy can), or fakes its success: every
//! spawn is refused and no workload runs. The filter is built here, not taken from the host.

mod common;

use capspawn::{CapMask, Stage, UserSpec};
use common::{answer, refused, rerun_under};

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
    answer(
        libc::SYS_prctl,
        Some(drop),
        0x0005_0000 | libc::EPERM as u32,
    ); // SECCOMP_RET_ERRNO | EPERM
    assert_refused(TEST);
}

#[test]
fn a_filter_that_fakes_success_refuses_every_spawn() {
    const TEST: &str = "a_filter_that_fakes_success_refuses_every_spawn";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    let drop = libc::PR_CAPBSET_DROP as u32;
    answer(libc::SYS_prctl, Some(drop), 0x0005_0000); // SECCOMP_RET_ERRNO | 0: "success", nothing dropped
    assert_refused(TEST);
}

#[test]
fn a_filter_that_fakes_capget_refuses_every_spawn() {
    const TEST: &str = "a_filter_that_fakes_capget_refuses_every_spawn";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    answer(libc::SYS_capget, None, 0x0005_0000); // "success", nothing written
    let failure = refused(TEST, |command| command);
    assert_eq!(failure.stage, Stage::Verify, "{failure:?}");
}

#[test]
fn a_filter_that_fakes_the_bounding_set_reads_refuses_every_spawn() {
    const TEST: &str = "a_filter_that_fakes_the_bounding_set_reads_refuses_every_spawn";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    answer(
        libc::SYS_prctl,
        Some(libc::PR_CAPBSET_DROP as u32),
        0x0005_0000 | libc::EPERM as u32,
    );
    answer(
        libc::SYS_prctl,
        Some(libc::PR_CAPBSET_READ as u32),
        0x0005_0000,
    ); // "not raised"
    for keep in [CapMask::EMPTY, CapMask(1 << 10)] {
        let failure = refused(TEST, |command| command.user(nobody()).capabilities(keep));
        assert_eq!(failure.stage, Stage::BoundingSet, "{keep:?}: {failure:?}");
    }
}

#[test]
fn a_filter_that_breaks_the_bounding_set_reads_refuses_every_spawn() {
    // PR_CAPBSET_DROP refused, and PR_CAPBSET_READ failing with an errno the kernel never gives
    // it (EACCES): nothing can be known about the set, so the spawn is refused, and in a debug
    // build too (capctl debug-asserts EINVAL there, which must not panic in the child).
    const TEST: &str = "a_filter_that_breaks_the_bounding_set_reads_refuses_every_spawn";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    answer(
        libc::SYS_prctl,
        Some(libc::PR_CAPBSET_DROP as u32),
        0x0005_0000 | libc::EPERM as u32,
    );
    answer(
        libc::SYS_prctl,
        Some(libc::PR_CAPBSET_READ as u32),
        0x0005_0000 | libc::EACCES as u32,
    );
    for keep in [CapMask::EMPTY, CapMask(1 << 10)] {
        let failure = refused(TEST, |command| command.capabilities(keep));
        assert_eq!(failure.stage, Stage::BoundingSet, "{keep:?}: {failure:?}");
    }
    assert!(capspawn::bounding_set::probe_clear().unwrap().is_err());
}

#[test]
fn a_filter_that_fakes_setgroups_refuses_every_spawn() {
    const TEST: &str = "a_filter_that_fakes_setgroups_refuses_every_spawn";
    if !rerun_under(&["setpriv", "--groups=6,999"], TEST) {
        return;
    }
    answer(libc::SYS_setgroups, None, 0x0005_0000); // "success", groups unchanged
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

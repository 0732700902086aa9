//! A supervisor under a seccomp filter that refuses `prctl(PR_CAPBSET_DROP)` even though
//! CAP_SETPCAP is effective (as an AppArmor or SELinux policy can), or fakes its success: every
//! spawn is refused and no workload runs. The filter is built here, not taken from the host.

mod common;

use capspawn::{CapMask, Stage, UserSpec};
use common::{refused, rerun_under};

/// Capability number of CAP_SYS_ADMIN.
const CAP_SYS_ADMIN: u8 = 21;

fn nobody() -> UserSpec {
    UserSpec::Name("nobody".into())
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// Installs, on the calling thread (the one that will spawn; a clone child inherits it), a
/// filter that answers syscall `nr` with `ret` (only when its first argument is `arg0`, if
/// given), and allows everything else.
fn answer(nr: libc::c_long, arg0: Option<u32>, ret: u32) {
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    const ALLOW: u32 = 0x7fff_0000;
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    // Each test jumps to the final ALLOW when it does not match.
    let checks: Vec<(u32, u32)> = [(4, AUDIT_ARCH), (0, nr as u32)] // seccomp_data.arch, .nr
        .into_iter()
        .chain(arg0.map(|a| (16, a))) // seccomp_data.args[0], low half
        .collect();
    let mut program = Vec::new();
    for (i, &(offset, value)) in checks.iter().enumerate() {
        let to_allow = (2 * (checks.len() - i) - 1) as u8;
        program.push(op(LD_W_ABS, 0, 0, offset));
        program.push(op(JEQ_K, 0, to_allow, value));
    }
    program.push(op(RET_K, 0, 0, ret));
    program.push(op(RET_K, 0, 0, ALLOW));
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut _,
    };
    // SAFETY: a valid filter program that outlives the call; the kernel copies it.
    let installed = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &fprog as *const _,
        )
    };
    assert_eq!(
        installed,
        0,
        "PR_SET_SECCOMP: {}",
        std::io::Error::last_os_error()
    );
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

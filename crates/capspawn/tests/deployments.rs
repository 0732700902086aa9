//! The spawn under the privileges of real deployments, each in its own process: a Podman
//! supervisor without CAP_SETPCAP, one whose bounding set is already empty, a rootless one.

mod common;

use capspawn::{Command, ExitStatus, ProcessCaps, Stage};
use common::{output, refused, rerun_under};

fn workload_caps() -> ProcessCaps {
    let (status, exit) = output(Command::new("cat").arg("/proc/self/status"));
    assert_eq!(exit, ExitStatus::Exited(0));
    ProcessCaps::from_status(&status).unwrap()
}

fn assert_empty(caps: &ProcessCaps) {
    for mask in [
        caps.bounding,
        caps.effective,
        caps.permitted,
        caps.inheritable,
        caps.ambient,
    ] {
        assert!(mask.is_empty(), "{caps:?}");
    }
    assert!(caps.no_new_privs);
}

#[test]
fn without_setpcap_a_raised_set_refuses_and_the_workload_never_runs() {
    const TEST: &str = "without_setpcap_a_raised_set_refuses_and_the_workload_never_runs";
    if !rerun_under(&["setpriv", "--bounding-set=-setpcap"], TEST) {
        return;
    }
    let probed = capspawn::bounding_set::probe_clear().expect("probe");
    assert_eq!(
        probed.unwrap_err().errno,
        Some(nix::errno::Errno::EPERM),
        "the probe disagrees"
    );
    let failure = refused("podman-marker", |command| command);
    assert_eq!(failure.stage, Stage::BoundingSet);
    assert_eq!(failure.errno, Some(nix::errno::Errno::EPERM));
    let names = failure.remaining.names();
    assert!(names.contains(&"CAP_SYS_ADMIN".into()), "{names:?}");
    assert!(!names.contains(&"CAP_SETPCAP".into()), "{names:?}");
}

#[test]
fn an_already_empty_bounding_set_runs() {
    const TEST: &str = "an_already_empty_bounding_set_runs";
    if !rerun_under(&["setpriv", "--bounding-set=-all"], TEST) {
        return;
    }
    assert!(capspawn::thread_caps::bounding().is_empty());
    assert_eq!(
        capspawn::bounding_set::probe_clear(),
        Ok(Ok(())),
        "the probe disagrees"
    );
    assert_empty(&workload_caps());
}

#[test]
fn a_rootless_supervisor_runs() {
    const TEST: &str = "a_rootless_supervisor_runs";
    if !rerun_under(&["unshare", "-U", "-r"], TEST) {
        return;
    }
    assert_eq!(
        capspawn::bounding_set::probe_clear(),
        Ok(Ok(())),
        "the probe disagrees"
    );
    assert_empty(&workload_caps());
}

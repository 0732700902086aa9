//! The fail-closed bounding-set clear on a real kernel, each case in a forked child.

mod common;

use capspawn::{bounding_set, thread_caps, CapMask};
use common::{in_child, lose_setpcap, privileged};

/// Encodes a clear's outcome as `[accepted, errno (i32), remaining (u64)]` bytes.
fn report(outcome: Result<(), capspawn::BoundingSetError>, write: common::Report) {
    let (ok, errno, remaining) = match outcome {
        Ok(()) => (1u8, 0, thread_caps::bounding().0),
        Err(e) => (0, e.errno.map_or(0, |e| e as i32), e.remaining.0),
    };
    write(&[ok]);
    write(&errno.to_ne_bytes());
    write(&remaining.to_ne_bytes());
}

fn decode(bytes: &[u8]) -> (bool, i32, CapMask) {
    assert_eq!(bytes.len(), 13, "the child did not report");
    let errno = i32::from_ne_bytes(bytes[1..5].try_into().unwrap());
    let remaining = u64::from_ne_bytes(bytes[5..13].try_into().unwrap());
    (bytes[0] == 1, errno, CapMask(remaining))
}

#[test]
fn root_with_setpcap_clears_the_whole_set() {
    if !privileged("root_with_setpcap_clears_the_whole_set") {
        return;
    }
    assert!(
        !thread_caps::bounding().is_empty(),
        "the test needs a raised set to clear"
    );
    let (ok, errno, remaining) = decode(&in_child(|w| report(bounding_set::clear(), w)));
    assert!(
        ok,
        "refused: errno {errno}, remaining {:?}",
        remaining.names()
    );
    assert_eq!(remaining, CapMask::EMPTY);
    // Only the child changed.
    assert!(!thread_caps::bounding().is_empty());
}

#[test]
fn without_setpcap_a_raised_set_is_refused() {
    if !privileged("without_setpcap_a_raised_set_is_refused") {
        return;
    }
    let (ok, errno, remaining) = decode(&in_child(|w| {
        lose_setpcap();
        report(bounding_set::clear(), w)
    }));
    assert!(!ok, "a raised set without CAP_SETPCAP was accepted");
    assert_eq!(errno, libc::EPERM);
    assert!(
        remaining.names().contains(&"CAP_SYS_ADMIN".to_string()),
        "{:?}",
        remaining.names()
    );
}

#[test]
fn without_setpcap_an_empty_set_is_accepted() {
    if !privileged("without_setpcap_an_empty_set_is_accepted") {
        return;
    }
    let (ok, errno, remaining) = decode(&in_child(|w| {
        capctl::caps::bounding::clear().expect("first clear, with CAP_SETPCAP");
        lose_setpcap();
        report(bounding_set::clear(), w)
    }));
    assert!(ok, "an empty set was refused: errno {errno}");
    assert_eq!(remaining, CapMask::EMPTY);
}

#[test]
fn the_probe_clears_in_a_throwaway_child_only() {
    if !privileged("the_probe_clears_in_a_throwaway_child_only") {
        return;
    }
    let before = thread_caps::bounding();
    assert_eq!(bounding_set::probe_clear(), Ok(Ok(())));
    assert_eq!(
        thread_caps::bounding(),
        before,
        "the probe changed the caller"
    );
}

//! The child's descriptor table (`descriptor_table`): a small copy of the supervisor's however
//! many descriptors the supervisor holds, and never at the cost of one of the supervisor's.
//! The slots are per process, so each test runs in a fresh one (`rerun_under`).

mod common;

use capspawn::{Command, ExitStatus, SpawnError, Stage, Stdio};
use common::notify::lie;
use common::{children, fresh_path, hold_descriptors, output, rerun_under};
use std::os::fd::AsRawFd;

/// The capacity of the workload's own descriptor table (`FDSize:` in its /proc/self/status):
/// `execve` does not shrink the table the child had, so this says how much of the supervisor's
/// it was given.
fn workload_fd_size(command: &mut Command) -> u64 {
    let (out, status) = output(command.arg("FDSize").arg("/proc/self/status"));
    assert_eq!(status, ExitStatus::Exited(0));
    out.trim()
        .strip_prefix("FDSize:")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no FDSize in {out:?}"))
}

/// The workload's descriptors, as it lists them itself.
fn workload_descriptors() -> Vec<String> {
    let (out, _) = output(Command::new("ls").arg("/proc/self/fd"));
    out.split_whitespace().map(str::to_owned).collect()
}

/// The numbers of this process's descriptors on one pipe that has at least `copies` of them:
/// the slots and their limit, reserved on one placeholder pipe.
fn reserved_numbers() -> Vec<i32> {
    let mut by_pipe = std::collections::HashMap::<String, Vec<i32>>::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.to_string_lossy().into_owned();
        if target.starts_with("pipe:") {
            let fd = entry.file_name().to_string_lossy().parse().unwrap();
            by_pipe.entry(target).or_default().push(fd);
        }
    }
    let mut numbers = by_pipe
        .into_values()
        .max_by_key(Vec::len)
        .unwrap_or_default();
    numbers.sort_unstable();
    assert!(numbers.len() >= 5, "no reserved slots found: {numbers:?}");
    numbers
}

#[test]
fn a_supervisor_with_10000_descriptors_gives_its_child_a_small_table() {
    const TEST: &str = "a_supervisor_with_10000_descriptors_gives_its_child_a_small_table";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    capspawn::descriptor_table::reserve();
    let _held = hold_descriptors(10_000);
    // Piped stdio (pipes made above the slots' limit) and an extra descriptor of the
    // supervisor's, which the child must get through a slot.
    let extra = std::fs::File::open("/etc/hostname").unwrap();
    let size = workload_fd_size(
        Command::new("grep")
            .stdin(Stdio::Null)
            .stderr(Stdio::Pipe)
            .fd(3, Stdio::Fd(extra.as_raw_fd())),
    );
    assert!(
        size <= 256,
        "the child was given the whole table: FDSize {size}"
    );
    assert_eq!(workload_descriptors(), ["0", "1", "2", "3"]);
    let (out, status) = output(
        Command::new("sh")
            .args(["-c", "read line <&3; echo \"$line\""])
            .fd(3, Stdio::Fd(extra.as_raw_fd())),
    );
    assert_eq!(status, ExitStatus::Exited(0));
    assert_eq!(out, std::fs::read_to_string("/etc/hostname").unwrap());
}

#[test]
fn a_slot_the_supervisor_closed_and_reused_is_left_alone() {
    const TEST: &str = "a_slot_the_supervisor_closed_and_reused_is_left_alone";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    capspawn::descriptor_table::reserve();
    let numbers = reserved_numbers();
    // The supervisor closes two of ours (say, a "close every descriptor above 2" loop) and opens
    // files of its own at those numbers.
    let reused = [numbers[0], *numbers.last().unwrap()];
    let file = std::fs::File::open("/etc/hostname").unwrap();
    for &fd in &reused {
        // SAFETY: dup2 onto numbers this test took over; the library must not use them.
        assert_eq!(unsafe { libc::dup2(file.as_raw_fd(), fd) }, fd);
    }
    let identity = |fd: i32| {
        std::fs::read_link(format!("/proc/self/fd/{fd}"))
            .unwrap_or_else(|e| panic!("{fd} of {numbers:?}: {e}"))
    };
    let before: Vec<_> = reused.iter().map(|&fd| identity(fd)).collect();
    let _held = hold_descriptors(2_000);
    for _ in 0..3 {
        let size = workload_fd_size(Command::new("grep").stdin(Stdio::Null));
        assert!(
            size > 2_000,
            "slots used after the supervisor took them over: FDSize {size}"
        );
    }
    let after: Vec<_> = reused.iter().map(|&fd| identity(fd)).collect();
    assert_eq!(
        before, after,
        "the supervisor's own descriptors were replaced"
    );
}

#[test]
fn a_filter_faking_close_range_never_lets_the_child_touch_the_supervisors_stdio() {
    const TEST: &str =
        "a_filter_faking_close_range_never_lets_the_child_touch_the_supervisors_stdio";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    capspawn::descriptor_table::reserve();
    let unshare = libc::CLOSE_RANGE_UNSHARE as u64;
    let below_max = u64::from(u32::MAX);
    // close_range(limit, ~0U, CLOSE_RANGE_UNSHARE) "succeeds" without doing anything, so the
    // child would go on in the supervisor's own table.
    lie(
        &[libc::SYS_close_range],
        Box::new(move |call| match call.args {
            [from, _, flags, ..] if *flags == unshare && *from < below_max => Some(0),
            _ => None,
        }),
    );
    let stdio = |fd: i32| std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
    let before: Vec<_> = (0..3).map(stdio).collect();
    let marker = fresh_path(TEST);
    let spawned = Command::new("touch")
        .arg(&marker)
        .stdin(Stdio::Pipe)
        .stdout(Stdio::Pipe)
        .stderr(Stdio::Pipe)
        .spawn();
    let Err(SpawnError::Child(failure)) = spawned else {
        panic!("the lie got a workload through: {spawned:?}");
    };
    assert_eq!(failure.stage, Stage::Cloexec, "{failure:?}");
    assert_eq!(failure.errno, None, "{failure:?}");
    assert!(!marker.exists(), "a workload ran");
    assert_eq!(children(), Vec::<String>::new(), "a child was left");
    let after: Vec<_> = (0..3).map(stdio).collect();
    assert_eq!(before, after, "the child replaced the supervisor's stdio");
}

#[test]
fn the_placeholder_closed_and_reused_is_left_alone_and_copied_nowhere() {
    const TEST: &str = "the_placeholder_closed_and_reused_is_left_alone_and_copied_nowhere";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    capspawn::descriptor_table::reserve();
    // The placeholder is the pipe's first descriptor, the lowest of the group.
    let placeholder = reserved_numbers()[0];
    let file = std::fs::File::open("/etc/hostname").unwrap();
    // SAFETY: dup2 onto a number this test took over; the library must not use it.
    let taken = unsafe { libc::dup2(file.as_raw_fd(), placeholder) };
    assert_eq!(taken, placeholder);
    let copies_of_the_file = || {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.ends_with("hostname")))
            .count()
    };
    assert_eq!(copies_of_the_file(), 2);
    for _ in 0..3 {
        let (out, status) = output(Command::new("echo").arg("ran"));
        assert_eq!((out.as_str(), status), ("ran\n", ExitStatus::Exited(0)));
    }
    assert_eq!(
        copies_of_the_file(),
        2,
        "the supervisor's file was copied into slots"
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/self/fd/{placeholder}"))
            .unwrap()
            .to_string_lossy(),
        "/etc/hostname"
    );
}

#[test]
fn a_slot_replaced_before_the_child_unshares_never_reaches_the_workload() {
    const TEST: &str = "a_slot_replaced_before_the_child_unshares_never_reaches_the_workload";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    capspawn::descriptor_table::reserve();
    let _held = hold_descriptors(200); // the spawn's pipes land above the limit, in slots
    let numbers = reserved_numbers();
    let first_slot = numbers[1];
    let secret = std::fs::File::open("/etc/hostname").unwrap();
    let secret_fd = secret.as_raw_fd();
    let unshare = libc::CLOSE_RANGE_UNSHARE as u64;
    // When the child is about to unshare (still on the supervisor's table), another supervisor
    // thread closes the first slot and puts a file of its own there; then the call runs.
    lie(
        &[libc::SYS_close_range],
        Box::new(move |call| {
            if call.args[2] == unshare && call.args[0] < u64::from(u32::MAX) {
                // SAFETY: replaces a number of the shared table, as a racing thread would.
                unsafe { libc::dup2(secret_fd, first_slot) };
            }
            None
        }),
    );
    let marker = fresh_path(TEST);
    let spawned = Command::new("touch")
        .arg(&marker)
        .stdin(Stdio::Pipe)
        .stdout(Stdio::Pipe)
        .spawn();
    let Err(SpawnError::Child(failure)) = spawned else {
        panic!("the workload ran with a replaced slot: {spawned:?}");
    };
    assert_eq!(failure.stage, Stage::Cloexec, "{failure:?}");
    assert!(!marker.exists(), "a workload ran");
    assert_eq!(children(), Vec::<String>::new(), "a child was left");
}

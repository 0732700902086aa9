//! `Command::spawn` on a real kernel: the workload's own /proc/self/status is the evidence.

mod common;

use capspawn::{Command, ExitStatus, ProcessCaps, SpawnError, Stage, UserSpec};
use common::{output, privileged};

fn field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key} in {status}"))
}

fn assert_no_capabilities(status: &str) {
    let caps = ProcessCaps::from_status(status).unwrap();
    for (name, mask) in caps.sets() {
        assert!(mask.is_empty(), "{name} still holds {:?}", mask.names());
    }
    assert!(caps.no_new_privs, "NoNewPrivs is not set");
}

#[test]
fn as_nobody_the_workload_has_no_capabilities_and_the_right_ids() {
    if !privileged("as_nobody_the_workload_has_no_capabilities_and_the_right_ids") {
        return;
    }
    let (status, exit) = output(
        Command::new("/bin/cat")
            .arg("/proc/self/status")
            .user(UserSpec::Name("nobody".into())),
    );
    assert_eq!(exit, ExitStatus::Exited(0));
    assert_no_capabilities(&status);
    assert_eq!(field(&status, "Uid"), "65534\t65534\t65534\t65534");
    assert_eq!(field(&status, "Gid"), "65534\t65534\t65534\t65534");
    assert_eq!(field(&status, "Groups"), "65534");
}

#[test]
fn staying_root_the_workload_still_has_no_capabilities() {
    if !privileged("staying_root_the_workload_still_has_no_capabilities") {
        return;
    }
    let (status, exit) = output(Command::new("cat").arg("/proc/self/status"));
    assert_eq!(exit, ExitStatus::Exited(0));
    assert_no_capabilities(&status);
    assert_eq!(field(&status, "Uid"), "0\t0\t0\t0");
    assert_eq!(field(&status, "Groups"), "");
}

#[test]
fn a_missing_program_is_enoent_and_a_non_executable_one_eacces() {
    let missing = Command::new("capspawn-no-such-program")
        .spawn()
        .unwrap_err();
    assert!(
        matches!(missing, SpawnError::Child(f) if f.stage == Stage::Exec && f.errno == Some(nix::errno::Errno::ENOENT)),
        "{missing:?}"
    );
    let dir = std::env::temp_dir().join(format!("capspawn-noexec-{}", std::process::id()));
    std::fs::write(&dir, "#!/bin/sh\n").unwrap();
    let denied = Command::new(&dir)
        .user(UserSpec::Name("nobody".into()))
        .spawn()
        .unwrap_err();
    std::fs::remove_file(&dir).unwrap();
    assert!(
        matches!(denied, SpawnError::Child(f) if f.stage == Stage::Exec && f.errno == Some(nix::errno::Errno::EACCES)),
        "{denied:?}"
    );
}

#[test]
fn a_script_without_a_shebang_runs_with_bin_sh_as_execvp_does() {
    let script = common::fresh_path("noshebang");
    std::fs::write(&script, "echo ran \"$0\" \"$@\"; id -u\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (out, exit) = common::output(
        Command::new(&script)
            .args(["a b", "c"])
            .user(UserSpec::Name("nobody".into())),
    );
    std::fs::remove_file(&script).unwrap();
    assert_eq!(exit, ExitStatus::Exited(0));
    // The shell runs it with the privileges dropped like any workload: uid 65534.
    assert_eq!(out, format!("ran {} a b c\n65534\n", script.display()));
}

#[test]
fn exit_codes_and_signals_are_reported() {
    let exited = Command::new("sh").args(["-c", "exit 7"]).spawn().unwrap();
    assert_eq!(exited.wait().unwrap(), ExitStatus::Exited(7));
    let killed = Command::new("sleep").arg("30").spawn().unwrap();
    killed.signal(libc::SIGTERM).unwrap();
    assert_eq!(
        killed.wait().unwrap(),
        ExitStatus::Signaled {
            signal: libc::SIGTERM,
            core_dumped: false
        }
    );
}

/// A supervisor's stdout is often a non-blocking pipe (libuv makes it so). The workload's
/// descriptors 0-2 must be blocking, as in a child_process child: a workload writing 1 MB into a
/// full pipe must wait, not stop at EAGAIN after 64 KiB.
#[test]
fn stdio_taken_from_a_non_blocking_pipe_is_blocking_in_the_workload() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let (read_end, write_end) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut child = Command::new("head")
        .args(["-c", "1048576", "/dev/zero"])
        .stdout(capspawn::Stdio::Fd(write_end.as_raw_fd()))
        .spawn()
        .expect("spawn");
    drop(write_end);
    // Let the pipe fill (64 KiB) before reading, so a non-blocking writer would see EAGAIN.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut reader = std::fs::File::from(read_end);
    let mut bytes = Vec::new();
    loop {
        let mut chunk = [0u8; 65536];
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
    assert_eq!(bytes.len(), 1 << 20);
    let _ = child.stdout.take();
}

//! `terminal`: a pseudo-terminal made in the parent, and a workload whose controlling terminal
//! it is, under the same drop as any spawn.

mod common;

use capspawn::terminal::{self, Pty, WindowSize};
use capspawn::{Command, ExitStatus, Stage, UserSpec};
use common::privileged;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

const SIZE: WindowSize = WindowSize {
    cols: 100,
    rows: 30,
};

/// Everything the master reads until the workload's side is all closed (`EIO`).
fn read_to_hangup(master: OwnedFd) -> String {
    let mut file = std::fs::File::from(master);
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) => panic!("read the master: {e}"),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn a_new_terminal_has_its_size_and_a_peer_of_its_own() {
    let pty = Pty::open(SIZE).expect("open a pty");
    assert_eq!(terminal::window_size(pty.peer.as_fd()), Ok(SIZE));
    for fd in [&pty.master, &pty.peer] {
        let flags = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::F_GETFD).unwrap();
        assert_eq!(
            flags & libc::FD_CLOEXEC,
            libc::FD_CLOEXEC,
            "not close-on-exec"
        );
    }
    // The name fallback opens the same terminal's peer: what it writes, the master reads.
    let by_name = terminal::open_peer_by_name(pty.master.as_fd()).expect("open /dev/pts/N");
    let number = terminal::peer_number(pty.master.as_fd()).unwrap();
    let link = std::fs::read_link(format!("/proc/self/fd/{}", by_name.as_raw_fd())).unwrap();
    assert_eq!(link, std::path::PathBuf::from(format!("/dev/pts/{number}")));
    // A line typed into the master is what the peer reads (canonical mode).
    std::fs::File::from(pty.master.try_clone().unwrap())
        .write_all(b"ping\n")
        .unwrap();
    let mut got = [0u8; 5];
    std::fs::File::from(by_name.try_clone().unwrap())
        .read_exact(&mut got)
        .unwrap();
    assert_eq!(&got, b"ping\n");
    // A resize is seen on the peer's side.
    let bigger = WindowSize {
        cols: 132,
        rows: 50,
    };
    terminal::set_window_size(pty.master.as_fd(), bigger).unwrap();
    assert_eq!(terminal::window_size(by_name.as_fd()), Ok(bigger));
}

#[test]
fn the_workload_runs_in_its_own_session_with_the_terminal_as_its_controlling_one() {
    if !privileged("the_workload_runs_in_its_own_session_with_the_terminal_as_its_controlling_one")
    {
        return;
    }
    let Pty { master, peer } = Pty::open(SIZE).unwrap();
    let number = terminal::peer_number(master.as_fd()).unwrap();
    let script =
        "tty; stty size; echo fds; ls -l /proc/self/fd/; echo stat $(cat /proc/self/stat); \
                  echo sid $$; grep -E '^(Cap|NoNewPrivs|Uid)' /proc/self/status";
    let child = Command::new("/bin/sh")
        .args(["-c", script])
        .user(UserSpec::Name("nobody".into()))
        .terminal(peer.as_raw_fd())
        .spawn()
        .expect("spawn");
    drop(peer); // the workload has its own copies; the master reads EIO once they are closed
    let text = read_to_hangup(master);
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(0)), "{text}");
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert_eq!(lines[0], format!("/dev/pts/{number}"), "{text}");
    assert_eq!(lines[1], "30 100", "{text}");
    // Its descriptors: the terminal on 0, 1, 2, and ls's own directory; no master.
    let fds: Vec<&str> = lines
        .iter()
        .skip_while(|l| **l != "fds")
        .take_while(|l| !l.starts_with("stat "))
        .copied()
        .collect();
    assert!(
        !text.contains("ptmx"),
        "the master reached the workload: {text}"
    );
    for fd in 0..3 {
        assert!(
            fds.iter()
                .any(|l| l.contains(&format!(" {fd} -> /dev/pts/{number}"))),
            "fd {fd} is not the terminal: {fds:?}"
        );
    }
    // /proc/<pid>/stat: field 6 the session (the shell's own pid: setsid), 7 the controlling
    // terminal's device number (the peer's: TIOCSCTTY), 8 its foreground group (the shell's).
    let stat = lines.iter().find_map(|l| l.strip_prefix("stat ")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    let sid = lines.iter().find_map(|l| l.strip_prefix("sid ")).unwrap();
    assert_eq!(fields[3], sid, "not a session of its own: {stat}");
    let device = (136 + number / 256) << 8 | (number % 256);
    assert_eq!(
        fields[4],
        device.to_string(),
        "the terminal is not its controlling terminal: {stat}"
    );
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert!(
            lines.contains(&format!("{set}:\t0000000000000000").as_str()),
            "{set}: {text}"
        );
    }
    assert!(lines.contains(&"NoNewPrivs:\t1"), "{text}");
    assert!(
        lines.contains(&"Uid:\t65534\t65534\t65534\t65534"),
        "{text}"
    );
}

/// `touch <marker>` in terminal `peer`, which the child must refuse: the failure, after checking
/// that the workload never ran. (common::refused also counts children, which the other tests of
/// this binary, running at the same time, have.)
fn refused_here(name: &str, peer: std::os::fd::RawFd) -> capspawn::Failure {
    let marker = common::fresh_path(name);
    let error = Command::new("touch")
        .arg(&marker)
        .terminal(peer)
        .spawn()
        .unwrap_err();
    let capspawn::SpawnError::Child(failure) = error else {
        panic!("{error:?}")
    };
    assert!(!marker.exists(), "a workload ran");
    failure
}

#[test]
fn a_terminal_that_cannot_be_taken_refuses_the_workload_with_its_stage() {
    if !privileged("a_terminal_that_cannot_be_taken_refuses_the_workload_with_its_stage") {
        return;
    }
    // Not a terminal at all: TIOCSCTTY fails (ENOTTY), and nothing runs.
    let null = std::fs::File::open("/dev/null").unwrap();
    let failure = refused_here("terminal-null", null.as_raw_fd());
    assert_eq!(failure.stage, Stage::Terminal);
    assert_eq!(failure.errno, Some(nix::errno::Errno::ENOTTY));
    // Another session's controlling terminal: taking it would need stealing (CAP_SYS_ADMIN and
    // argument 1), which the child never asks for: EPERM.
    let Pty { master, peer } = Pty::open(SIZE).unwrap();
    let holder = Command::new("/bin/sleep")
        .arg("30")
        .terminal(peer.as_raw_fd())
        .spawn()
        .unwrap();
    let failure = refused_here("terminal-taken", peer.as_raw_fd());
    assert_eq!(failure.stage, Stage::Terminal);
    assert_eq!(failure.errno, Some(nix::errno::Errno::EPERM));
    holder.signal(libc::SIGKILL).unwrap();
    assert_eq!(
        holder.wait(),
        Ok(ExitStatus::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false
        })
    );
    drop(master);
}

#[test]
fn the_foreground_group_is_the_shell_and_a_resize_reaches_it_as_sigwinch() {
    if !privileged("the_foreground_group_is_the_shell_and_a_resize_reaches_it_as_sigwinch") {
        return;
    }
    let Pty { master, peer } = Pty::open(SIZE).unwrap();
    // The shell says it is ready once its trap is set, then waits for the resize (at most about
    // 10 s, so a failed test leaves no shell behind).
    let script = "trap 'stty size; exit 7' WINCH; echo ready; i=0; \
                  while [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done";
    let child = Command::new("/bin/sh")
        .args(["-c", script])
        .user(UserSpec::Id(65534))
        .group(capspawn::GroupSpec::Id(65534))
        .terminal(peer.as_raw_fd())
        .spawn()
        .unwrap();
    drop(peer);
    let mut reader = std::fs::File::from(master.try_clone().unwrap());
    let mut seen = Vec::new();
    let mut chunk = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("ready") {
        let n = reader.read(&mut chunk).unwrap();
        seen.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(
        terminal::foreground_process_group(master.as_fd()),
        Ok(child.pid)
    );
    terminal::set_window_size(master.as_fd(), WindowSize { cols: 90, rows: 40 }).unwrap();
    let rest = read_to_hangup(master);
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(7)), "{rest}");
    assert!(rest.contains("40 90"), "{rest}");
}

#[test]
fn a_filter_that_answers_tiocgptpeer_as_an_old_kernel_is_refused_on_this_one() {
    if !privileged("a_filter_that_answers_tiocgptpeer_as_an_old_kernel_is_refused_on_this_one") {
        return;
    }
    // This kernel has TIOCGPTPEER (4.13): an EINVAL or ENOTTY for it can only be a filter's, which
    // must not push the supervisor onto the by-name path (whose device-number check cannot tell
    // devpts instances apart). A filter on this thread only answers as a kernel before 4.13 does.
    assert!(
        terminal::kernel_has_tiocgptpeer(),
        "this test needs Linux >= 4.13"
    );
    for errno in [libc::EINVAL, libc::ENOTTY, libc::EACCES] {
        std::thread::spawn(move || {
            common::answer_when(
                libc::SYS_ioctl,
                Some((1, libc::TIOCGPTPEER as u32)),
                common::ret_errno(errno),
            );
            let error = Pty::open(SIZE).expect_err("no fallback by name on this kernel");
            assert_eq!(error.errno, nix::errno::Errno::from_raw(errno));
            assert_eq!(error.syscall, "ioctl(TIOCGPTPEER)");
            assert!(error.is_refused_peer());
        })
        .join()
        .unwrap();
    }
}

#[test]
fn only_a_kernel_older_than_4_13_takes_the_by_name_path() {
    for (release, has) in [
        ("6.18.0-1-amd64", true),
        ("4.13.0", true),
        ("4.14.336", true),
        ("5.0", true),
        ("4.12.14-lp150.12-default", false),
        ("4.9.337", false),
        ("3.10.0-1160.el7.x86_64", false),
        ("", true),
        ("garbage", true),
    ] {
        assert_eq!(terminal::release_has_tiocgptpeer(release), has, "{release}");
    }
}

#[test]
fn a_filter_that_refuses_tiocsctty_refuses_the_workload_at_the_terminal_stage() {
    if !privileged("a_filter_that_refuses_tiocsctty_refuses_the_workload_at_the_terminal_stage") {
        return;
    }
    std::thread::spawn(|| {
        let Pty { master, peer } = Pty::open(SIZE).unwrap();
        common::answer_when(
            libc::SYS_ioctl,
            Some((1, libc::TIOCSCTTY as u32)),
            common::ret_errno(libc::EPERM),
        );
        let failure = refused_here("terminal-filtered", peer.as_raw_fd());
        assert_eq!(failure.stage, Stage::Terminal);
        assert_eq!(failure.errno, Some(nix::errno::Errno::EPERM));
        drop(master);
    })
    .join()
    .unwrap();
}

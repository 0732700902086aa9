//! The `filesystem` (Landlock) and `network` (namespace) layers against a real kernel, and
//! against a supervisor whose filter lies about them: a faked `landlock_restrict_self` or
//! `setns` must be caught by the child's own check, and a kernel without Landlock (a filter
//! answering `ENOSYS`) refuses `'hard'` and runs `'best-effort'` with the report.

mod common;

use capspawn::{
    Command, Compatibility, ExitStatus, FilesystemSpec, NetworkSpec, SpawnError, Stage,
    UnixSockets, UserSpec,
};
use common::notify::lie;
use common::{
    answer, build_fixture, children, fresh_path, output, privileged, refused, rerun_under,
    ret_errno,
};
use std::path::PathBuf;

/// What a dynamically linked `sh` needs to run, read-only (on Debian `/bin`, `/lib`, `/lib64`
/// are symlinks into `/usr`).
fn system() -> Vec<PathBuf> {
    vec!["/usr".into()]
}

fn workspace(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capspawn-layers-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    dir
}

fn rules(read_write: &std::path::Path, compatibility: Compatibility) -> FilesystemSpec {
    FilesystemSpec {
        read_only: system(),
        read_write: vec![read_write.to_path_buf()],
        compatibility,
        ..Default::default()
    }
}

#[test]
fn a_workload_as_nobody_reads_writes_and_is_refused_where_the_rules_say() {
    const TEST: &str = "a_workload_as_nobody_reads_writes_and_is_refused_where_the_rules_say";
    if !privileged(TEST) {
        return;
    }
    let dir = workspace("rules");
    let script = format!(
        "cd {dir}; echo ok > written && echo wrote; \
         cat /etc/passwd >out 2>err && echo read-etc; grep -q 'Permission denied' err && echo etc-denied; \
         ls / >out 2>err && echo listed-root; \
         head -c1 /usr/bin/sh >out && echo read-usr; \
         echo x 2>err > /tmp/capspawn-layers-escape-{pid} && echo escaped; \
         sh -c 'echo y > grandchild' && echo grandchild-wrote; \
         sh -c 'cat /etc/passwd' >out 2>err || echo grandchild-denied; true",
        dir = dir.display(),
        pid = std::process::id()
    );
    let (out, status) = output(
        Command::new("/bin/sh")
            .args(["-c", &script])
            .user(UserSpec::Name("nobody".into()))
            .filesystem(rules(&dir, Compatibility::Hard)),
    );
    assert_eq!(status, ExitStatus::Exited(0), "{out}");
    assert_eq!(
        out,
        "wrote\netc-denied\nread-usr\ngrandchild-wrote\ngrandchild-denied\n"
    );
    assert!(dir.join("grandchild").exists());
    let escape = format!("/tmp/capspawn-layers-escape-{}", std::process::id());
    assert!(!std::path::Path::new(&escape).exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `spawned` was refused as bad input (`what`, or any field with `None`): `InvalidInput` is
/// returned before the clone (the variant says so: nothing was started).
fn assert_invalid_input(
    spawned: &Result<capspawn::Child, SpawnError>,
    what: Option<&str>,
    case: &str,
) {
    let refused = match spawned {
        Err(SpawnError::InvalidInput { what: field, .. }) => what.map_or(true, |w| w == *field),
        _ => false,
    };
    assert!(refused, "{case}: {spawned:?}");
}

#[test]
fn a_missing_or_relative_path_is_refused_before_anything_is_cloned() {
    for path in ["/nonexistent/capspawn", "usr"] {
        let spawned = Command::new("true")
            .filesystem(FilesystemSpec {
                read_only: vec![path.into()],
                ..Default::default()
            })
            .spawn();
        assert_invalid_input(&spawned, Some("filesystem"), path);
    }
    let spawned = Command::new("true")
        .no_new_privs(false)
        .filesystem(rules("/tmp".as_ref(), Compatibility::Hard))
        .spawn();
    assert_invalid_input(&spawned, None, "bad input");
}

#[test]
fn a_filter_faking_landlock_restrict_self_is_refused() {
    const TEST: &str = "a_filter_faking_landlock_restrict_self_is_refused";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    // The child's landlock_restrict_self "succeeds" and does nothing.
    lie(&[libc::SYS_landlock_restrict_self], Box::new(|_| Some(0)));
    let dir = workspace("lying");
    let failure = refused(TEST, |command| {
        command
            .user(UserSpec::Name("nobody".into()))
            .filesystem(rules(&dir, Compatibility::Hard))
    });
    assert_eq!(
        (failure.stage, failure.errno),
        (Stage::Landlock, None),
        "{failure:?}"
    );
    // With '/' read-only, the probe is a write to /dev/null: caught the same way.
    let failure = refused(TEST, |command| {
        command.filesystem(FilesystemSpec {
            read_only: vec!["/".into()],
            read_write: vec![dir.clone()],
            compatibility: Compatibility::Hard,
            ..Default::default()
        })
    });
    assert_eq!(
        (failure.stage, failure.errno),
        (Stage::Landlock, None),
        "{failure:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_supervisor_without_landlock_refuses_hard_and_reports_best_effort() {
    const TEST: &str = "a_supervisor_without_landlock_refuses_hard_and_reports_best_effort";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    answer(
        libc::SYS_landlock_create_ruleset,
        None,
        ret_errno(libc::ENOSYS),
    );
    let dir = workspace("enosys");
    let spawned = Command::new("true")
        .filesystem(rules(&dir, Compatibility::Hard))
        .spawn();
    let Err(SpawnError::Child(failure)) = spawned else {
        panic!("{spawned:?}")
    };
    assert_eq!(failure.stage, Stage::Landlock);
    assert_eq!(failure.errno, Some(capspawn::Errno::ENOSYS));
    assert_eq!(children(), Vec::<String>::new());
    // Best effort: it runs, unrestricted, and says so.
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", "cat /etc/hostname >/dev/null && echo read-etc"])
        .filesystem(rules(&dir, Compatibility::BestEffort));
    let report = command.landlock_report().unwrap();
    assert_eq!((report.abi, report.enforced), (0, false));
    assert!(report.unenforced.contains(&"write_file"), "{report:?}");
    let (out, status) = output(&mut command);
    assert_eq!(
        (out.as_str(), status),
        ("read-etc\n", ExitStatus::Exited(0))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn none_is_a_namespace_with_only_loopback_up() {
    const TEST: &str = "none_is_a_namespace_with_only_loopback_up";
    if !privileged(TEST) {
        return;
    }
    let host = std::fs::metadata("/proc/self/ns/net").unwrap();
    let (out, status) = output(
        Command::new("/bin/sh")
            .args(["-c", "cat /proc/net/dev; stat -L -c %i /proc/self/ns/net; cat /sys/class/net/lo/operstate 2>/dev/null; cat /proc/net/if_inet6 2>/dev/null | wc -l"])
            .user(UserSpec::Name("nobody".into()))
            .network(NetworkSpec::None),
    );
    assert_eq!(status, ExitStatus::Exited(0), "{out}");
    let interfaces: Vec<&str> = out
        .lines()
        .filter_map(|line| line.split_once(':').map(|(name, _)| name.trim()))
        .filter(|name| !name.contains('|'))
        .collect();
    assert_eq!(interfaces, ["lo"], "{out}");
    let inode: u64 = out
        .lines()
        .find(|l| l.chars().all(|c| c.is_ascii_digit()) && !l.is_empty())
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(inode, std::os::unix::fs::MetadataExt::ino(&host));
}

#[test]
fn a_path_that_is_not_a_network_namespace_is_refused_before_anything_is_cloned() {
    for path in [
        "/proc/self/ns/mnt",
        "/etc/passwd",
        "/nonexistent",
        "proc/self/ns/net",
    ] {
        let spawned = Command::new("true")
            .network(NetworkSpec::Path(path.into()))
            .spawn();
        assert_invalid_input(&spawned, Some("network"), path);
    }
    let spawned = Command::new("true")
        .network(NetworkSpec::Fd(987_654))
        .spawn();
    assert_invalid_input(&spawned, None, "bad input");
}

#[test]
fn a_filter_faking_setns_is_refused() {
    const TEST: &str = "a_filter_faking_setns_is_refused";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    lie(&[libc::SYS_setns], Box::new(|_| Some(0)));
    let failure = refused(TEST, |command| {
        command
            .user(UserSpec::Name("nobody".into()))
            .network(NetworkSpec::None)
    });
    assert_eq!(
        (failure.stage, failure.errno),
        (Stage::Netns, None),
        "{failure:?}"
    );
}

#[test]
fn a_rootless_supervisor_runs_none_and_cannot_join_the_hosts_namespace() {
    const TEST: &str = "a_rootless_supervisor_runs_none_and_cannot_join_the_hosts_namespace";
    if !rerun_under(&["unshare", "-U", "-r"], TEST) {
        return;
    }
    let (out, status) = output(
        Command::new("/bin/sh")
            .args(["-c", "cat /proc/net/dev | wc -l"])
            .network(NetworkSpec::None),
    );
    assert_eq!((out.as_str(), status), ("3\n", ExitStatus::Exited(0)));
    // Its own namespace is the host's, which belongs to the initial user namespace: setns needs CAP_SYS_ADMIN
    // there, which a rootless supervisor does not have.
    let failure = refused(TEST, |command| {
        command.network(NetworkSpec::Path("/proc/self/ns/net".into()))
    });
    assert_eq!(failure.stage, Stage::Netns);
    assert_eq!(failure.errno, Some(capspawn::Errno::EPERM));
}

#[test]
fn a_filter_faking_unshare_in_the_supervisor_is_refused() {
    // 'none' is made in the supervisor: an unshare that "succeeds" and does nothing would leave
    // the workload in the host's namespace, and the child's own check (same inode as the one the
    // supervisor opened) would pass. The supervisor checks the namespace is new.
    const TEST: &str = "a_filter_faking_unshare_in_the_supervisor_is_refused";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    answer(libc::SYS_unshare, None, ret_errno(0));
    let spawned = Command::new("true").network(NetworkSpec::None).spawn();
    let Err(SpawnError::Child(failure)) = spawned else {
        panic!("{spawned:?}")
    };
    assert_eq!(
        (failure.stage, failure.errno),
        (Stage::Netns, None),
        "{failure:?}"
    );
    assert_eq!(children(), Vec::<String>::new());
}

#[test]
fn the_pre_exec_path_refuses_the_layers_it_cannot_apply() {
    let mut command = Command::new("true");
    command.network(NetworkSpec::None);
    assert!(matches!(
        command.privileges(),
        Err(SpawnError::InvalidInput { .. })
    ));
    let mut command = Command::new("true");
    command.filesystem(rules("/tmp".as_ref(), Compatibility::Hard));
    assert!(matches!(
        command.privileges(),
        Err(SpawnError::InvalidInput { .. })
    ));
    assert!(Command::new("true").privileges().is_ok());
}

/// Landlock (up to ABI 7) does not check `connect()` to a pathname Unix socket: a workload
/// confined to its paths could reach `/run/docker.sock` or the supervisor's own socket. The
/// supervisor here listens on a mode-0777 stream socket and a datagram socket in a directory
/// outside the rules, and on an abstract socket; the workload (as nobody, and as root without
/// capabilities) reaches none of them, cannot signal the supervisor, and still has a stream
/// `socketpair`. With `UnixSockets::Allow` the pathname socket is reachable again (as
/// documented), and the abstract one and the signal stay out of reach (Landlock's scopes).
#[test]
fn a_confined_workload_reaches_no_unix_socket_and_no_signal_outside_its_domain() {
    const TEST: &str =
        "a_confined_workload_reaches_no_unix_socket_and_no_signal_outside_its_domain";
    if !privileged(TEST) {
        return;
    }
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener};
    let probe = build_fixture("unix-connect");
    let fixtures = probe.parent().unwrap().to_path_buf();
    let outside = workspace("sockets"); // mode 0777, not in the rules
    let (stream, dgram) = (outside.join("control.sock"), outside.join("log.sock"));
    let listener = UnixListener::bind(&stream).unwrap();
    listener.set_nonblocking(true).unwrap();
    let datagrams = UnixDatagram::bind(&dgram).unwrap();
    datagrams.set_nonblocking(true).unwrap();
    for socket in [&stream, &dgram] {
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let name = format!("capspawn-layers-{}", std::process::id());
    let abstract_listener =
        UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    abstract_listener.set_nonblocking(true).unwrap();
    let attempts = [
        format!("path:{}", stream.display()),
        format!("abstract:{name}"),
        format!("dgram-pair:{}", dgram.display()),
        "stream-pair".to_string(),
        "io_uring".to_string(),
        format!("kill:{}", std::process::id()),
    ];
    let pending = |listener: &UnixListener| match listener.accept() {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(e) => panic!("accept: {e}"),
    };
    let received = || datagrams.recv(&mut [0; 8]).is_ok();
    let spec = |unix_sockets| FilesystemSpec {
        read_only: vec!["/usr".into(), fixtures.clone()],
        read_write: vec![],
        compatibility: Compatibility::Hard,
        unix_sockets,
    };
    for user in [Some("nobody"), None] {
        let mut command = Command::new(&probe);
        command.args(&attempts).filesystem(spec(UnixSockets::Deny));
        if let Some(user) = user {
            command.user(UserSpec::Name(user.into()));
        }
        let (out, status) = output(&mut command);
        assert_eq!(status, ExitStatus::Exited(0), "{user:?}: {out}");
        assert_eq!(
            out,
            "path -1 13\nabstract -1 13\ndgram-pair -1 13\nstream-pair 0 0\nio_uring -1 13\nkill -1 1\n",
            "{user:?}"
        );
        assert!(
            !pending(&listener) && !pending(&abstract_listener) && !received(),
            "{user:?}"
        );

        let mut command = Command::new(&probe);
        command.args(&attempts).filesystem(spec(UnixSockets::Allow));
        if let Some(user) = user {
            command.user(UserSpec::Name(user.into()));
        }
        let (out, status) = output(&mut command);
        assert_eq!(status, ExitStatus::Exited(0), "{user:?}: {out}");
        assert_eq!(
            out,
            "path 0 0\nabstract -1 1\ndgram-pair 0 0\nstream-pair 0 0\nio_uring 0 0\nkill -1 1\n",
            "{user:?}"
        );
        assert!(pending(&listener) && received(), "{user:?}");
        assert!(!pending(&abstract_listener), "{user:?}");
    }
    // The same attempts without the layer: the supervisor's sockets are there to be reached.
    let (out, _) = output(Command::new(&probe).args(&attempts));
    assert!(out.starts_with("path 0 0\nabstract 0 0\n"), "{out}");
    std::fs::remove_dir_all(&outside).unwrap();
}

/// A rule path is the opened descriptor's own path: a workspace that an earlier same-uid
/// workload replaced with a link to /etc (or a link in a parent component, as /lib is on
/// merged-/usr) is refused before anything is cloned, and the message names the path to give.
#[test]
fn a_rule_path_through_a_symbolic_link_is_refused_before_anything_is_cloned() {
    let dir = workspace("symlinks");
    std::fs::create_dir(dir.join("real")).unwrap();
    std::os::unix::fs::symlink(dir.join("real"), dir.join("ws")).unwrap();
    let marker = fresh_path("symlink-ran");
    let resolved = dir.join("real");
    for (read_only, read_write) in [
        (vec!["/usr".into()], vec![dir.join("ws")]),
        (vec!["/usr".into()], vec![dir.join("ws/.")]),
        (vec!["/lib".into()], vec![resolved.clone()]),
    ] {
        let shown = format!("{read_only:?} {read_write:?}");
        let spawned = Command::new("/usr/bin/touch")
            .arg(&marker)
            .filesystem(FilesystemSpec {
                read_only,
                read_write,
                ..Default::default()
            })
            .spawn();
        let Err(SpawnError::InvalidInput { what, message }) = spawned else {
            panic!("{shown}: {spawned:?}")
        };
        assert_eq!(what, "filesystem");
        assert!(message.starts_with("give /"), "{shown}: {message}");
        // InvalidInput is returned before the clone (other tests of this binary have children
        // of their own meanwhile, so children() cannot tell here); the marker shows nothing ran.
        assert!(!marker.exists(), "{shown}");
    }
    // The message's path is what to give, and it is taken.
    let spawned = Command::new("/usr/bin/touch")
        .arg(&marker)
        .filesystem(FilesystemSpec {
            read_only: vec!["/usr".into()],
            read_write: vec![dir.join("ws")],
            ..Default::default()
        })
        .spawn();
    let Err(SpawnError::InvalidInput { message, .. }) = spawned else {
        panic!("{spawned:?}")
    };
    assert!(
        message.starts_with(&format!(
            "give {} instead of {}",
            resolved.display(),
            dir.join("ws").display()
        )),
        "{message}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_low_descriptor_limit_leaves_the_layers_checks_a_number_and_the_workload_runs() {
    // The child's table holds the supervisor's descriptors until execve closes them, so with
    // rlimits.nofile below them the namespace check and the Landlock probe would find no number
    // to open (EMFILE) and refuse the spawn, the probe's as a faked restrict_self.
    const TEST: &str =
        "a_low_descriptor_limit_leaves_the_layers_checks_a_number_and_the_workload_runs";
    // Alone in a process of its own: `refused` asserts that no child is left, of any test.
    if !rerun_under(&["env"], TEST) {
        return;
    }
    // Descriptors enough that none below 8 is free in the child.
    let held = common::hold_descriptors(16);
    let all_read_only = || FilesystemSpec {
        read_only: vec!["/".into()],
        compatibility: Compatibility::Hard,
        ..Default::default()
    };
    let (out, status) = output(
        Command::new("/bin/sh")
            .args(["-c", "ulimit -n; echo ran"])
            .rlimit(libc::RLIMIT_NOFILE, 8, 8)
            .filesystem(all_read_only())
            .network(NetworkSpec::None),
    );
    assert_eq!((out.as_str(), status), ("8\nran\n", ExitStatus::Exited(0)));
    // A limit that leaves no number past stdio cannot be checked: refused at the limit, as
    // EMFILE (not as a faked restrict_self).
    let failure = refused(TEST, |command| {
        command
            .rlimit(libc::RLIMIT_NOFILE, 3, 3)
            .filesystem(all_read_only())
    });
    assert_eq!(
        (failure.stage, failure.errno),
        (Stage::Rlimit, Some(capspawn::Errno::EMFILE)),
        "{failure:?}"
    );
    drop(held);
}

//! The `seccomp` layer on a real kernel: a workload (a C probe, `fixtures/seccomp-probe.c`)
//! under capspawn's filter sees the listed socket families and system calls fail with the
//! chosen errno, foreign-ABI calls kill it, a user's program is loaded as given, and
//! `/proc/self/status` shows the filters; the supervisor is untouched; a supervisor filter
//! that fakes `seccomp()` gets no workload through.

mod common;

use capspawn::privilege_drop::Privileges;
use capspawn::seccomp::{Seccomp, AUDIT_ARCH, RET_ALLOW, RET_ERRNO};
use capspawn::{CapMask, Command, CommandExt, ExitStatus, SpawnError, Stage, UserSpec};
use common::notify::lie;
use common::{answer, fresh_path, output, privileged, refused, rerun_under, ret_errno};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The probe, built once with gcc into a directory every uid can read.
fn probe() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| common::build_fixture("seccomp-probe"))
}

fn spec(families: &[&str], syscalls: &[&str], errno: Option<&str>) -> Seccomp {
    Seccomp {
        deny_socket_families: families.iter().map(|s| s.to_string()).collect(),
        deny_syscalls: syscalls.iter().map(|s| s.to_string()).collect(),
        errno: errno.map(str::to_string),
        program: None,
    }
}

/// What the probe printed, call by call: (return value, errno), and the status lines.
struct Seen {
    calls: HashMap<String, (i64, i32)>,
    status: HashMap<String, String>,
    exit: ExitStatus,
}

fn run_probe(configure: impl FnOnce(&mut Command) -> &mut Command, calls: &[&str]) -> Seen {
    let mut command = Command::new(probe());
    command.args(calls);
    let (text, exit) = output(configure(&mut command));
    let mut seen = Seen {
        calls: HashMap::new(),
        status: HashMap::new(),
        exit,
    };
    for line in text.lines() {
        if let Some((key, value)) = line.split_once(":\t") {
            seen.status
                .insert(key.to_string(), value.trim().to_string());
            continue;
        }
        let parts: Vec<&str> = line.split(' ').collect();
        let [call, ret, errno] = parts[..] else {
            panic!("odd line {line:?}")
        };
        seen.calls.insert(
            call.to_string(),
            (ret.parse().unwrap(), errno.parse().unwrap()),
        );
    }
    seen
}

impl Seen {
    fn failed_with(&self, call: &str) -> Option<i32> {
        match self.calls.get(call) {
            Some(&(-1, errno)) => Some(errno),
            Some(_) => None,
            None => panic!("{call} was not tried: {:?}", self.calls),
        }
    }
}

const CALLS: [&str; 8] = [
    "socket:2",
    "socket:10",
    "socket:16",
    "socket:1",
    "socketpair:1",
    "socketpair:2",
    "socketpair:10",
    "status",
];

fn inet_denied() -> Seccomp {
    spec(&["inet", "AF_INET6", "netlink"], &[], Some("EACCES"))
}

/// The socket calls under `inet_denied`, for a workload configured by `configure`.
fn assert_families_denied(configure: impl Fn(&mut Command) -> &mut Command) {
    let seen = run_probe(|c| configure(c.seccomp(inet_denied())), &CALLS);
    assert_eq!(seen.exit, ExitStatus::Exited(0));
    for call in [
        "socket:2",
        "socket:10",
        "socket:16",
        "socketpair:2",
        "socketpair:10",
    ] {
        assert_eq!(seen.failed_with(call), Some(libc::EACCES), "{call}");
    }
    assert_eq!(seen.failed_with("socket:1"), None);
    assert_eq!(seen.failed_with("socketpair:1"), None);
    assert_eq!(seen.status["Seccomp"], "2");
    assert_eq!(seen.status["Seccomp_filters"], "1");
    assert_eq!(seen.status["NoNewPrivs"], "1");
}

#[test]
fn denied_families_fail_with_the_errno_and_unix_sockets_work() {
    if !privileged("denied_families_fail_with_the_errno_and_unix_sockets_work") {
        return;
    }
    // Without the layer, the same probe gets every socket it asks for: the test can fail.
    let free = run_probe(|c| c, &CALLS);
    for call in ["socket:2", "socket:10", "socket:16", "socket:1"] {
        assert_eq!(free.failed_with(call), None, "{call}");
    }
    assert_eq!(free.failed_with("socketpair:2"), Some(libc::EOPNOTSUPP));
    assert_eq!(free.status["Seccomp"], "0");

    // As root without capabilities (the default), as nobody, with a kept capability, and with
    // the bounding set left raised.
    assert_families_denied(|c| c);
    assert_families_denied(|c| c.user(UserSpec::Name("nobody".into())));
    assert_families_denied(|c| {
        c.user(UserSpec::Name("nobody".into()))
            .capabilities(CapMask(1 << 10))
    });
    assert_families_denied(|c| c.bounding_set(capspawn::BoundingSetPolicy::Inherit));
}

#[test]
fn the_supervisor_keeps_its_sockets() {
    if !privileged("the_supervisor_keeps_its_sockets") {
        return;
    }
    let seen = run_probe(|c| c.seccomp(inet_denied()), &["socket:2"]);
    assert_eq!(seen.failed_with("socket:2"), Some(libc::EACCES));
    // The filter was loaded by the CLONE_VM child, on its own task: this thread, and every
    // other thread of the supervisor, has none and opens AF_INET sockets.
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    assert!(status.contains("Seccomp:\t0\n"), "{status}");
    let other = std::thread::spawn(|| std::net::UdpSocket::bind("127.0.0.1:0").map(drop));
    other
        .join()
        .unwrap()
        .expect("another thread's AF_INET socket");
    std::net::UdpSocket::bind("127.0.0.1:0").expect("this thread's AF_INET socket");
    std::net::UdpSocket::bind("[::1]:0").expect("an AF_INET6 socket");
}

#[test]
fn denied_system_calls_and_io_uring_fail() {
    if !privileged("denied_system_calls_and_io_uring_fail") {
        return;
    }
    let calls = ["unshare", "io_uring", "getpid"];
    let free = run_probe(|c| c, &calls);
    assert_eq!(free.failed_with("unshare"), None);
    assert_eq!(free.failed_with("io_uring"), None);
    let seen = run_probe(|c| c.seccomp(spec(&[], &["unshare"], None)), &calls);
    assert_eq!(seen.failed_with("unshare"), Some(libc::EPERM));
    // A denied call takes io_uring too: a ring runs operations its calls never make.
    assert_eq!(seen.failed_with("io_uring"), Some(libc::EPERM));
    assert_eq!(seen.failed_with("getpid"), None);
    // So does a denied family: IORING_OP_SOCKET would make sockets past socket(2).
    let seen = run_probe(|c| c.seccomp(spec(&["inet"], &[], Some("ENOSYS"))), &calls);
    assert_eq!(seen.failed_with("io_uring"), Some(libc::ENOSYS));
    assert_eq!(seen.failed_with("unshare"), None);
}

#[test]
fn a_denied_connect_is_not_bypassed_through_io_uring() {
    if !privileged("a_denied_connect_is_not_bypassed_through_io_uring") {
        return;
    }
    // IORING_OP_CONNECT connects without connect(2), which the filter would see: with connect
    // denied, io_uring_setup (the raw call) must fail with the chosen errno, so no ring exists.
    let calls = ["io_uring", "getpid"];
    let free = run_probe(|c| c, &calls);
    assert_eq!(free.failed_with("io_uring"), None);
    let seen = run_probe(
        |c| c.seccomp(spec(&[], &["connect"], Some("EACCES"))),
        &calls,
    );
    assert_eq!(seen.exit, ExitStatus::Exited(0));
    assert_eq!(seen.failed_with("io_uring"), Some(libc::EACCES));
    assert_eq!(seen.failed_with("getpid"), None);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn x32_and_i386_calls_kill_the_workload() {
    if !privileged("x32_and_i386_calls_kill_the_workload") {
        return;
    }
    // Without the layer: x32 is ENOSYS (this kernel has no x32), i386's getpid works.
    let free = run_probe(|c| c, &["x32", "i386", "nr-1"]);
    assert_eq!(free.failed_with("x32"), Some(libc::ENOSYS));
    assert_eq!(free.failed_with("i386"), None);
    for call in ["x32", "i386"] {
        let seen = run_probe(|c| c.seccomp(inet_denied()), &["getpid", call]);
        assert!(seen.calls.contains_key("getpid"));
        assert!(!seen.calls.contains_key(call), "{call} returned");
        assert!(
            matches!(
                seen.exit,
                ExitStatus::Signaled {
                    signal: libc::SIGSYS,
                    ..
                }
            ),
            "{call}: {:?}",
            seen.exit
        );
    }
    // nr == -1 is above the x32 bit but is no call (a tracer's skipped one): not a kill.
    assert_eq!(free.failed_with("nr-1"), Some(libc::ENOSYS));
    let seen = run_probe(|c| c.seccomp(inet_denied()), &["nr-1", "getpid"]);
    assert_eq!(seen.exit, ExitStatus::Exited(0));
    assert_eq!(seen.failed_with("nr-1"), Some(libc::ENOSYS));
    assert_eq!(seen.failed_with("getpid"), None);
}

/// A program of the user's: `getpid` fails with `EXDEV`; everything else is allowed.
fn getpid_exdev() -> Vec<u8> {
    let ops: [(u16, u8, u8, u32); 6] = [
        (0x20, 0, 0, 4),
        (0x15, 1, 0, AUDIT_ARCH),
        (0x06, 0, 0, RET_ALLOW),
        (0x20, 0, 0, 0),
        (0x15, 0, 1, libc::SYS_getpid as u32),
        (0x06, 0, 0, RET_ERRNO | libc::EXDEV as u32),
    ];
    let mut bytes: Vec<u8> = Vec::new();
    for (code, jt, jf, k) in ops.into_iter().chain([(0x06, 0, 0, RET_ALLOW)]) {
        bytes.extend(code.to_ne_bytes());
        bytes.extend([jt, jf]);
        bytes.extend(k.to_ne_bytes());
    }
    bytes
}

#[test]
fn a_users_program_is_loaded_as_given_and_stacks_with_the_deny_list() {
    if !privileged("a_users_program_is_loaded_as_given_and_stacks_with_the_deny_list") {
        return;
    }
    let program = Seccomp {
        program: Some(getpid_exdev()),
        ..Seccomp::default()
    };
    let seen = run_probe(|c| c.seccomp(program), &["getpid", "socket:2", "status"]);
    assert_eq!(seen.failed_with("getpid"), Some(libc::EXDEV));
    assert_eq!(seen.failed_with("socket:2"), None);
    assert_eq!(seen.status["Seccomp_filters"], "1");
    let both = Seccomp {
        program: Some(getpid_exdev()),
        ..inet_denied()
    };
    let seen = run_probe(
        |c| c.seccomp(both),
        &["getpid", "socket:2", "socket:1", "status"],
    );
    assert_eq!(seen.failed_with("getpid"), Some(libc::EXDEV));
    assert_eq!(seen.failed_with("socket:2"), Some(libc::EACCES));
    assert_eq!(seen.failed_with("socket:1"), None);
    assert_eq!(seen.status["Seccomp"], "2");
    assert_eq!(seen.status["Seccomp_filters"], "2");
}

/// A program that fails `nr` with EPERM.
fn denying(nr: libc::c_long) -> Vec<u8> {
    let mut bytes = getpid_exdev();
    bytes[4 * 8 + 4..4 * 8 + 8].copy_from_slice(&(nr as u32).to_ne_bytes());
    bytes[5 * 8 + 4..5 * 8 + 8].copy_from_slice(&(RET_ERRNO | libc::EPERM as u32).to_ne_bytes());
    bytes
}

#[test]
fn a_program_that_denies_what_the_child_needs_after_it_refuses_the_spawn() {
    // In a process of its own: `refused` checks that no child is left, of any thread.
    const TEST: &str = "a_program_that_denies_what_the_child_needs_after_it_refuses_the_spawn";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    let cases = [
        (libc::SYS_pread64, Stage::Seccomp),
        (libc::SYS_rt_sigprocmask, Stage::SignalMask),
        (libc::SYS_execve, Stage::Exec),
    ];
    for (nr, stage) in cases {
        let program = Seccomp {
            program: Some(denying(nr)),
            ..Seccomp::default()
        };
        let failure = refused("seccomp-needed", |c| c.seccomp(program));
        assert_eq!(failure.stage, stage, "{nr}: {failure:?}");
        assert_eq!(failure.errno, Some(capspawn::Errno::EPERM), "{nr}");
    }
    // A program the kernel refuses (a jump past its end) is the seccomp step's failure.
    let mut bad = getpid_exdev();
    bad[4 * 8 + 3] = 200;
    let program = Seccomp {
        program: Some(bad),
        ..Seccomp::default()
    };
    let failure = refused("seccomp-invalid", |c| c.seccomp(program));
    assert_eq!(
        (failure.stage, failure.errno),
        (Stage::Seccomp, Some(capspawn::Errno::EINVAL))
    );
}

/// A program of the user's may kill on any call the README does not list as needed after
/// loading: the child makes no other call then (`rt_sigpending`, which the drop otherwise uses to
/// find pending stop signals, among them; a stop signal is then discarded without asking).
#[test]
fn a_program_that_kills_on_calls_not_needed_still_starts_the_workload() {
    if !privileged("a_program_that_kills_on_calls_not_needed_still_starts_the_workload") {
        return;
    }
    const RET_KILL_PROCESS: u32 = 0x8000_0000;
    for nr in [libc::SYS_rt_sigpending, libc::SYS_getpid] {
        let mut killing = denying(nr);
        killing[5 * 8 + 4..5 * 8 + 8].copy_from_slice(&RET_KILL_PROCESS.to_ne_bytes());
        let program = Seccomp {
            program: Some(killing),
            ..Seccomp::default()
        };
        let child = Command::new("/bin/true")
            .seccomp(program)
            .spawn()
            .unwrap_or_else(|e| panic!("a program that kills on {nr}: {e:?}"));
        assert_eq!(
            child.wait().unwrap(),
            capspawn::ExitStatus::Exited(0),
            "{nr}"
        );
    }
}

#[test]
fn bad_input_and_no_new_privs_off_are_refused_before_anything_runs() {
    if !privileged("bad_input_and_no_new_privs_off_are_refused_before_anything_runs") {
        return;
    }
    let bad = [
        spec(&["inet9"], &[], None),
        spec(&[], &["mkdri"], None),
        spec(&[], &["execve"], None),
        spec(&["inet"], &[], Some("ENOPE")),
        Seccomp {
            program: Some(vec![0; 12]),
            ..Seccomp::default()
        },
    ];
    for seccomp in bad {
        let marker = fresh_path("seccomp-bad");
        let spawned = Command::new("touch")
            .arg(&marker)
            .seccomp(seccomp.clone())
            .spawn();
        assert!(
            matches!(spawned, Err(SpawnError::InvalidInput { .. })),
            "{seccomp:?}: {spawned:?}"
        );
        assert!(!marker.exists());
    }
    let marker = fresh_path("seccomp-nnp");
    let spawned = Command::new("touch")
        .arg(&marker)
        .no_new_privs(false)
        .seccomp(inet_denied())
        .spawn();
    assert!(matches!(
        spawned,
        Err(SpawnError::InvalidInput {
            what: "seccomp",
            ..
        })
    ));
    assert!(!marker.exists());
}

#[test]
fn the_pre_exec_hook_loads_the_filter_too() {
    if !privileged("the_pre_exec_hook_loads_the_filter_too") {
        return;
    }
    let out = std::process::Command::new(probe())
        .args(["socket:2", "socket:1", "status"])
        .drop_privileges(Privileges {
            no_new_privs: true,
            seccomp: inet_denied().filters().unwrap(),
            ..Default::default()
        })
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("socket:2 -1 13\n"), "{text}");
    assert!(text.contains("socket:1 "), "{text}");
    assert!(!text.contains("socket:1 -1"), "{text}");
    assert!(text.contains("Seccomp_filters:\t1\n"), "{text}");
}

#[test]
fn a_supervisor_filter_on_top_is_counted() {
    const TEST: &str = "a_supervisor_filter_on_top_is_counted";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    // The supervisor thread has a filter of its own (which the child inherits): the count the
    // child reads back starts from it.
    answer(libc::SYS_getppid, None, RET_ALLOW);
    let seen = run_probe(|c| c.seccomp(inet_denied()), &["socket:2", "status"]);
    assert_eq!(seen.failed_with("socket:2"), Some(libc::EACCES));
    assert_eq!(seen.status["Seccomp_filters"], "2");
}

#[test]
fn a_supervisor_filter_that_fakes_seccomp_gets_no_workload_through() {
    const TEST: &str = "a_supervisor_filter_that_fakes_seccomp_gets_no_workload_through";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    // Every seccomp() of the child "succeeds" and loads nothing. The supervisor's own filter
    // (the notifier) makes the mode read 2 anyway: only the count tells.
    lie(&[libc::SYS_seccomp], Box::new(|_| Some(0)));
    for seccomp in [
        inet_denied(),
        Seccomp {
            program: Some(getpid_exdev()),
            ..inet_denied()
        },
    ] {
        let failure = refused(TEST, |c| c.seccomp(seccomp));
        assert_eq!(
            (failure.stage, failure.errno),
            (Stage::Seccomp, None),
            "{failure:?}"
        );
    }
    // The probe (doctor) sees through it as well.
    let trial = capspawn::seccomp::probe().unwrap().trial.unwrap_err();
    assert_eq!((trial.stage, trial.errno), (Stage::Seccomp, None));
}

#[test]
fn a_supervisor_filter_that_refuses_seccomp_refuses_the_spawn() {
    const TEST: &str = "a_supervisor_filter_that_refuses_seccomp_refuses_the_spawn";
    if !rerun_under(&["env"], TEST) {
        return;
    }
    answer(libc::SYS_seccomp, None, ret_errno(libc::EACCES));
    let failure = refused(TEST, |c| c.seccomp(inet_denied()));
    assert_eq!(
        (failure.stage, failure.errno),
        (Stage::Seccomp, Some(capspawn::Errno::EACCES))
    );
    let trial = capspawn::seccomp::probe().unwrap().trial.unwrap_err();
    assert_eq!(trial.errno, Some(capspawn::Errno::EACCES));
    // Without the layer the same supervisor spawns as before.
    let seen = run_probe(|c| c, &["socket:2"]);
    assert_eq!(seen.failed_with("socket:2"), None);
}

#[test]
fn without_procfs_the_filter_cannot_be_verified_and_the_spawn_is_refused() {
    // Even with require_procfs(false), which lets the capability cross-check be skipped: the
    // read-back is the only proof that the filter is there.
    const TEST: &str = "without_procfs_the_filter_cannot_be_verified_and_the_spawn_is_refused";
    if !rerun_under(&["unshare", "--mount", "--propagation", "private"], TEST) {
        return;
    }
    let probe = probe().clone(); // built while /proc is still there
                                 // SAFETY: a NUL-terminated path; only this test process's own mount namespace changes.
    let unmounted = unsafe { libc::umount2(b"/proc\0".as_ptr().cast(), libc::MNT_DETACH) };
    assert_eq!(unmounted, 0, "{}", std::io::Error::last_os_error());
    let marker = fresh_path("seccomp-noproc");
    let spawned = Command::new("/bin/touch")
        .arg(&marker)
        .require_procfs(false)
        .seccomp(inet_denied())
        .spawn();
    let Err(SpawnError::Child(failure)) = spawned else {
        panic!("{spawned:?}")
    };
    assert_eq!(
        (failure.stage, failure.errno),
        (Stage::Procfs, Some(capspawn::Errno::ENOENT))
    );
    assert!(!marker.exists());
    // Without the layer, require_procfs(false) still runs it.
    let ran = Command::new(&probe)
        .arg("getpid")
        .require_procfs(false)
        .spawn();
    assert_eq!(ran.unwrap().wait().unwrap(), ExitStatus::Exited(0));
}

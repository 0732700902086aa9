//! Helpers shared by the tests that need a real kernel and real privileges.
#![allow(dead_code)]

pub mod notify;

use capspawn::{thread_caps, Command, ExitStatus, Failure, SpawnError, Stdio};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe, ForkResult};
use std::io::{Read, Write};

/// Capability number of CAP_SETPCAP.
pub const CAP_SETPCAP: u8 = 8;

/// Whether this process is root with CAP_SETPCAP, as a privileged container's supervisor is.
/// Outside CI a test without it skips (returns false, with a reason); in CI (`CI` set) it fails,
/// because a privileged test that skips there proves nothing.
pub fn privileged(test: &str) -> bool {
    let sets = thread_caps::get().expect("capget");
    if nix::unistd::geteuid().is_root() && sets.effective.contains(CAP_SETPCAP) {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: needs root with CAP_SETPCAP, and CI is set, so this is a failure, not a skip"
    );
    eprintln!("skipping {test}: needs root with CAP_SETPCAP");
    false
}

/// Where a forked child writes its report.
pub type Report<'a> = &'a mut dyn FnMut(&[u8]);

/// Runs `body` in a forked child and returns the bytes it wrote. The child runs only
/// async-signal-safe code (the test harness has other threads); it `_exit`s with status 0.
pub fn in_child(body: fn(Report)) -> Vec<u8> {
    let (read_end, write_end) = pipe().expect("pipe");
    // SAFETY: the child only calls async-signal-safe functions (prctl, capget/capset, write,
    // _exit) before it exits; `body` is a plain fn that follows the same rule.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            drop(read_end);
            let mut out = std::fs::File::from(write_end);
            body(&mut |bytes| {
                let _ = out.write_all(bytes);
            });
            // SAFETY: _exit ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let mut bytes = Vec::new();
            std::fs::File::from(read_end)
                .read_to_end(&mut bytes)
                .expect("read");
            assert_eq!(
                waitpid(child, None).expect("waitpid"),
                WaitStatus::Exited(child, 0)
            );
            bytes
        }
    }
}

/// Removes CAP_SETPCAP from the calling thread's effective and permitted sets, as in a
/// container started without it.
pub fn lose_setpcap() {
    let mut sets = thread_caps::get().expect("capget");
    sets.effective.0 &= !(1 << CAP_SETPCAP);
    sets.permitted.0 &= !(1 << CAP_SETPCAP);
    thread_caps::set(sets).expect("capset");
}

/// Runs one test of this test binary again, in a new process under `wrapper` (`setpriv …`,
/// `unshare …`), which gives it the privileges of a real deployment. Returns true in that inner
/// run, where the caller does the test's work; the outer run (which needs the privileges to set
/// that up, see [`privileged`]) asserts that the inner one ran and passed.
pub fn rerun_under(wrapper: &[&str], test: &str) -> bool {
    const INNER: &str = "CAPSPAWN_TEST_INNER";
    if std::env::var(INNER).as_deref() == Ok(test) {
        return true;
    }
    if !privileged(test) {
        return false;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let output = std::process::Command::new(wrapper[0])
        .args(&wrapper[1..])
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INNER, test)
        .output()
        .expect("run the wrapper");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{wrapper:?} {test} failed:\n{text}"
    );
    assert!(
        text.contains("1 passed"),
        "{wrapper:?} {test} ran no test:\n{text}"
    );
    false
}

/// The pids of this process's children that exist (running or zombie), from every thread.
pub fn children() -> Vec<String> {
    let mut pids = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("tasks") {
        let path = task.expect("task").path().join("children");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        pids.extend(text.split_whitespace().map(str::to_owned));
    }
    pids
}

/// A path under the temporary directory that does not exist yet.
pub fn fresh_path(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("capspawn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Spawns `command` with stdout piped, and returns what it printed and how it ended.
pub fn output(command: &mut Command) -> (String, ExitStatus) {
    let mut child = command.stdout(Stdio::Pipe).spawn().expect("spawn");
    let mut out = String::new();
    std::fs::File::from(child.stdout.take().unwrap())
        .read_to_string(&mut out)
        .unwrap();
    (out, child.wait().unwrap())
}

/// Runs `cat /proc/self/status` through std's `Command` with capspawn's drop in `pre_exec`
/// (`CommandExt`), and returns what it printed; it must succeed.
pub fn pre_exec_status(privileges: capspawn::Privileges) -> String {
    use capspawn::CommandExt;
    let out = std::process::Command::new("cat")
        .arg("/proc/self/status")
        .drop_privileges(privileges)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Spawns `touch <marker>` configured by `configure`, which must be refused by the child: returns
/// the failure, after checking that the workload never ran (no marker) and no child was left.
pub fn refused(marker_name: &str, configure: impl FnOnce(&mut Command) -> &mut Command) -> Failure {
    let marker = fresh_path(marker_name);
    let mut command = Command::new("touch");
    command.arg(&marker);
    let error = configure(&mut command).spawn().unwrap_err();
    let SpawnError::Child(failure) = error else {
        panic!("{error:?}")
    };
    assert!(!marker.exists(), "a workload ran");
    assert_eq!(children(), Vec::<String>::new(), "a child was left behind");
    failure
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// `SECCOMP_RET_ERRNO` with `errno`: the syscall is not run and returns `-errno` (0: "success").
pub const fn ret_errno(errno: i32) -> u32 {
    0x0005_0000 | errno as u32
}

/// Installs, on the calling thread (the one that will spawn; a clone child inherits it), a
/// filter that answers syscall `nr` with `ret` (only when its first argument is `arg0`, if
/// given), and allows everything else.
pub fn answer(nr: libc::c_long, arg0: Option<u32>, ret: u32) {
    answer_when(nr, arg0.map(|value| (0, value)), ret);
}

/// [`answer`], only when argument `index` (its low 32 bits) is `value`, if given.
pub fn answer_when(nr: libc::c_long, arg: Option<(u32, u32)>, ret: u32) {
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    const ALLOW: u32 = 0x7fff_0000;
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    // Each test jumps to the final ALLOW when it does not match.
    let checks: Vec<(u32, u32)> = [(4, AUDIT_ARCH), (0, nr as u32)] // seccomp_data.arch, .nr
        .into_iter()
        .chain(arg.map(|(index, value)| (16 + 8 * index, value))) // seccomp_data.args[i], low half
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

/// The `fs.suid_dumpable` sysctl set for as long as this lives, and restored however the test
/// ends (a panic included; a failure to restore is reported, not a second panic, which would
/// abort the test binary and leave the host's setting changed).
pub struct SuidDumpable(String);

const SUID_DUMPABLE: &str = "/proc/sys/fs/suid_dumpable";

impl SuidDumpable {
    pub fn set(value: u8) -> Self {
        let saved = std::fs::read_to_string(SUID_DUMPABLE).expect("read fs.suid_dumpable");
        std::fs::write(SUID_DUMPABLE, value.to_string()).expect("write fs.suid_dumpable");
        SuidDumpable(saved)
    }
}

impl Drop for SuidDumpable {
    fn drop(&mut self) {
        if let Err(error) = std::fs::write(SUID_DUMPABLE, self.0.trim()) {
            eprintln!(
                "could not restore fs.suid_dumpable to {}: {error}",
                self.0.trim()
            );
        }
    }
}

/// Builds the C fixture `tests/fixtures/<name>.c` with gcc into a directory of this test
/// process's that every uid can read (the workloads run as other users).
#[allow(dead_code)] // not every test binary builds a fixture
pub fn build_fixture(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("capspawn-fixtures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let binary = dir.join(name);
    let source = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/{name}.c"));
    let built = std::process::Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&binary)
        .arg(&source)
        .status()
        .expect("gcc");
    assert!(built.success(), "gcc {source:?}");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    binary
}

/// Opens `count` more descriptors (copies of /dev/null), kept open while the result lives. The
/// soft descriptor limit is raised to the hard one first (a machine's default soft limit, 1024,
/// would not hold 10,000).
pub fn hold_descriptors(count: usize) -> Vec<std::os::fd::OwnedFd> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out-pointer, then the same structure back.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    assert!(
        limit.rlim_cur as usize > count + 100,
        "the hard descriptor limit {} cannot hold {count}",
        limit.rlim_cur
    );
    let null = std::fs::File::open("/dev/null").unwrap();
    (0..count)
        .map(|_| std::os::fd::OwnedFd::from(null.try_clone().unwrap()))
        .collect()
}

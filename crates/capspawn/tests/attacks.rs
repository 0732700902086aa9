//! Attacks on the supervisor from a workload with the same credentials as its next children:
//! opening their `/proc/<pid>/mem` before they leave the supervisor's memory, and stopping them
//! before `execve`. Each test starts the attacker as a capspawn workload with those credentials,
//! as a real one would be. In a test binary of their own: they change a sysctl, spin a CPU and
//! stop every process of a uid, so they run one at a time (`SERIAL`).

mod common;

use capspawn::{Command, ExitStatus, GroupSpec, SpawnError, Stage, Stdio, UserSpec};
use common::privileged;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

use common::SuidDumpable;

/// Builds a C fixture with gcc into a directory every uid can read.
fn build(name: &str) -> PathBuf {
    common::build_fixture(name)
}

/// An attacker process, killed however the test ends (and, by its parent-death signal, if the
/// test process itself dies).
struct Attacker(Option<capspawn::Child>);

impl Attacker {
    fn start(command: &mut Command) -> Attacker {
        let child = command
            .parent_death_signal(libc::SIGKILL)
            .spawn()
            .expect("start the attacker");
        Attacker(Some(child))
    }

    fn child(&mut self) -> &mut capspawn::Child {
        self.0.as_mut().expect("running")
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        if let Some(child) = self.0.take() {
            let _ = child.signal(libc::SIGKILL);
            let _ = child.wait();
        }
    }
}

fn nobody(command: &mut Command) -> &mut Command {
    command.user(UserSpec::Name("nobody".into()))
}

fn group_only(command: &mut Command) -> &mut Command {
    command.group(GroupSpec::Id(65534))
}

fn defaults(command: &mut Command) -> &mut Command {
    command
}

/// Runs `spawns` spawns of `true` configured by `configure` while the memory racer, started
/// with the same configuration, tries to open each child's memory; fails on a breach.
fn race(racer: &PathBuf, configure: fn(&mut Command) -> &mut Command, spawns: usize) {
    // The marker lives on the supervisor's heap; the racer gets its address and content.
    let mut random = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut random)
        .unwrap();
    let marker: &'static [u8] = Box::leak(Box::new(random));
    let hex: String = marker.iter().map(|b| format!("{b:02x}")).collect();
    let address = format!("{:x}", marker.as_ptr() as usize);
    let mut attacker =
        Attacker::start(configure(Command::new(racer).args([&address, &hex])).stdout(Stdio::Pipe));
    let stdout = attacker.child().stdout.take().unwrap();
    let mut out = BufReader::new(std::fs::File::from(stdout));
    let mut ready = String::new();
    out.read_line(&mut ready).unwrap();
    assert_eq!(ready, "ready\n");
    for _ in 0..spawns {
        let child = configure(&mut Command::new("/bin/true"))
            .spawn()
            .expect("spawn");
        assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
    }
    let _ = attacker.child().signal(libc::SIGTERM);
    let mut report = String::new();
    out.read_to_string(&mut report).unwrap();
    let status = attacker.child().wait().unwrap();
    assert!(
        !report.contains("BREACH"),
        "the racer read the supervisor's memory: {report}"
    );
    assert_eq!(status, ExitStatus::Exited(0), "{report}");
    // The control: it did reach the children (their exec'd workloads, which are its to open).
    let opened: u64 = report
        .trim()
        .strip_prefix("opened ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count from the racer: {report}"));
    assert!(
        opened > 0,
        "the racer opened no child's memory at all: it proves nothing"
    );
    // The supervisor gets its flag back (on the watchdog thread, once the last exit watch
    // reported): only the window was closed, not its own dumpability.
    // SAFETY: prctl with integer arguments only reads the flag.
    let dumpable = || unsafe { libc::prctl(libc::PR_GET_DUMPABLE) };
    for _ in 0..100 {
        if dumpable() == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        dumpable(),
        1,
        "the supervisor's dumpable flag did not come back"
    );
}

#[test]
fn a_same_uid_workload_never_opens_the_supervisors_memory_through_a_child() {
    if !privileged("a_same_uid_workload_never_opens_the_supervisors_memory_through_a_child") {
        return;
    }
    let _serial = serial();
    let racer = build("mem-racer");
    for suid_dumpable in [0, 1, 2] {
        let _sysctl = SuidDumpable::set(suid_dumpable);
        for configure in [defaults, group_only, nobody] {
            race(&racer, configure, 1500);
        }
    }
}

/// A uid (and gid) of its own for the stop storms, which no other process here has: `kill(-1)`
/// from it reaches only the supervisor's children of that uid, never another test's processes.
const STORM_ID: u32 = 64_123;

fn storm_uid(command: &mut Command) -> &mut Command {
    command
        .user(UserSpec::Id(STORM_ID))
        .group(GroupSpec::Id(STORM_ID))
}

/// Starts `sh -c 'while :; do kill -SIG -1; done'` as [`STORM_ID`]: every process of that uid
/// (but the loop itself) gets `signal` over and over, the supervisor's next children among them.
/// First, the control: the storm stops a plain `sleep` of that uid, or the test proves nothing
/// (a stop signal to an orphaned process group is dropped by the kernel, for one).
fn storm(signal: &str) -> Attacker {
    let script = format!("while :; do kill -{signal} -1 2>/dev/null; done");
    // The sleep first: started under the storm, it would be held before its exec.
    let mut sleeper = Attacker::start(storm_uid(Command::new("/bin/sleep").arg("30")));
    let storm = Attacker::start(storm_uid(Command::new("/bin/sh").args(["-c", &script])));
    let stat = format!("/proc/{}/stat", sleeper.child().pid);
    let stopped = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(5));
        let text = std::fs::read_to_string(&stat).unwrap_or_default();
        text.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('T'))
    });
    assert!(
        stopped,
        "the {signal} storm did not stop a sleep of its uid"
    );
    drop(sleeper);
    storm
}

/// Spawns `true` as [`STORM_ID`] `count` times under a storm: each spawn must end, either
/// started (the workload is then killed, since the storm stops it too) or refused as held.
/// Returns how many were refused as held.
fn spawns_under_storm(count: usize) -> usize {
    let mut held = 0;
    for _ in 0..count {
        match storm_uid(&mut Command::new("/bin/true")).spawn() {
            Ok(child) => {
                let _ = child.signal(libc::SIGKILL);
                child.wait().unwrap();
            }
            Err(SpawnError::Child(failure)) if failure.stage == Stage::Held => held += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    held
}

#[test]
fn a_child_stopped_before_exec_is_killed_and_the_spawn_refused() {
    if !privileged("a_child_stopped_before_exec_is_killed_and_the_spawn_refused") {
        return;
    }
    let _serial = serial();
    let attacker = storm("STOP");
    let held = spawns_under_storm(60);
    drop(attacker);
    assert!(
        held > 0,
        "the storm never stopped a child before exec: the test proves nothing"
    );
    assert_eq!(
        common::children(),
        Vec::<String>::new(),
        "a child was left behind"
    );
}

/// A same-uid process sends the child SIGTSTP, SIGTTIN or SIGTTOU while it drops (blocked, the
/// signal waits): unless the child discards it before it unblocks its signals, it stops there,
/// and the spawn is refused as held. Deterministic: a seccomp notification holds the child in
/// its verification (`capget`, after the uid change) while the signal is sent, then lets it go
/// on. (A storm of such signals from a loop hits the window or not depending on where the
/// scheduler runs the child; this hits it every time.)
#[test]
fn stop_signals_pending_before_exec_are_discarded() {
    const TEST: &str = "stop_signals_pending_before_exec_are_discarded";
    // One at a time with the others here, the outer run (and its inner process) included.
    let _serial = serial();
    if !common::rerun_under(&["env"], TEST) {
        return;
    }
    // The kernel drops a stop signal to an orphaned process group (as under CI, with no job
    // control) by itself: a process group of its own, whose parent (the outer run) is in another
    // group of the same session, is not orphaned, so the signal stops its members as at a
    // terminal.
    // SAFETY: setpgid of this (inner, single-test) process only.
    assert_eq!(unsafe { libc::setpgid(0, 0) }, 0);
    use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering::SeqCst};
    let signal = std::sync::Arc::new(AtomicI32::new(0));
    let sent = std::sync::Arc::new(AtomicUsize::new(0));
    let (sending, counting) = (signal.clone(), sent.clone());
    common::notify::lie(
        &[libc::SYS_capget],
        Box::new(move |call| {
            let signal = sending.load(SeqCst);
            // SAFETY: a signal to the child that is held in this call.
            if signal != 0 && unsafe { libc::kill(call.pid as libc::pid_t, signal) } == 0 {
                counting.fetch_add(1, SeqCst);
            }
            None // then the real capget
        }),
    );
    for stop in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
        signal.store(stop, SeqCst);
        for _ in 0..3 {
            let before = sent.load(SeqCst);
            let child = storm_uid(&mut Command::new("/bin/true"))
                .spawn()
                .unwrap_or_else(|e| panic!("signal {stop} pending before exec: {e:?}"));
            assert_eq!(child.wait().unwrap(), capspawn::ExitStatus::Exited(0));
            // The verification's capget came, and the signal reached the child there.
            assert!(sent.load(SeqCst) > before, "signal {stop} was never sent");
        }
    }
    assert_eq!(
        common::children(),
        Vec::<String>::new(),
        "a child was left behind"
    );
}

/// Siblings on the supervisor's memory: with fs.suid_dumpable=1 a second child's credential
/// change would make the memory dumpable while a first one, which already dropped its
/// capabilities, is still on it. Child A is held in `execve` (seccomp user notification); a
/// spawn from another thread must not clone its child before A has left the memory.
#[test]
fn no_second_child_shares_the_memory_while_one_is_before_its_exec() {
    const TEST: &str = "no_second_child_shares_the_memory_while_one_is_before_its_exec";
    // One at a time with the others here, the outer run (and its inner process) included.
    let _serial = serial();
    if !common::rerun_under(&["env"], TEST) {
        return;
    }
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Arc;
    let _sysctl = SuidDumpable::set(1);
    let (holding, release) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (held, released) = (holding.clone(), release.clone());
    common::notify::lie(
        &[libc::SYS_execve],
        Box::new(move |_| {
            if !held.swap(true, SeqCst) {
                while !released.load(SeqCst) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
            None // then let it run
        }),
    );
    let first = std::thread::spawn(|| {
        let child = nobody(&mut Command::new("/bin/true")).spawn().expect("A");
        child.wait().unwrap()
    });
    while !holding.load(SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let second = std::thread::spawn(|| {
        let child = group_only(&mut Command::new("/bin/true"))
            .spawn()
            .expect("B");
        child.wait().unwrap()
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let alive = common::children();
    // SAFETY: prctl with integer arguments only reads the flag.
    let dumpable = unsafe { libc::prctl(libc::PR_GET_DUMPABLE) };
    release.store(true, SeqCst);
    assert_eq!(first.join().unwrap(), ExitStatus::Exited(0));
    assert_eq!(second.join().unwrap(), ExitStatus::Exited(0));
    assert_eq!(
        alive.len(),
        1,
        "B was cloned while A was on the memory: {alive:?}"
    );
    assert_eq!(dumpable, 0, "the memory was dumpable while A was on it");
}

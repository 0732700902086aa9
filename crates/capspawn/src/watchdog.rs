//! The watchdog: a child stopped, or otherwise held, before `execve` is killed, so the
//! supervisor thread that `clone(CLONE_VFORK)` suspends is never held with it.
//!
//! Kernel rules: a `CLONE_VFORK` parent sleeps until its child execs or exits, and only a fatal
//! signal to the parent ends that sleep. Any process of the child's uid may signal the child
//! (`kill(2)`'s permission rule), from the instant it exists, and `SIGSTOP` can be neither
//! blocked nor caught; a stopped child then holds the supervisor thread (Node's event loop)
//! until someone sends `SIGCONT`. The parent cannot act while it sleeps, so another thread
//! does: this one. `CLONE_PIDFD` writes the child's pidfd into the parent's memory before the
//! child runs, so the watchdog can reach exactly that child.
//!
//! Each thread that spawns has a timerfd, armed for the length of a spawn. The watchdog thread
//! sleeps in `epoll_wait` on all of them and is woken only when a spawn lasts longer than
//! [`TICK`]; then, every tick, it kills the child through its pidfd if the child is stopped
//! (`waitid(WSTOPPED | WNOWAIT)`), or if it still has not exec'd after [`HOLD_LIMIT`]. A
//! spawn that ends in time costs two `timerfd_settime` calls and wakes nobody.
//!
//! It also settles, for `memory_gate`, a child whose exit watch had not reported when its spawn
//! returned, once nothing else has spawned for a while ([`settle_later`]): one more timerfd,
//! re-armed by each such spawn, so a run of spawns wakes it once, after the last.

use crate::descriptor_table::above_stdio;
use nix::errno::Errno;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often a spawn in flight is looked at, once it has lasted this long. A stopped child is
/// killed at the first look that finds it stopped: within two ticks of its stop.
pub const TICK: Duration = Duration::from_millis(10);

/// How long a child that is not stopped may take to reach `execve` before it is killed anyway
/// (frozen, or blocked in the kernel: a `cwd` on a hung FUSE or NFS mount, say). Long enough
/// that a child on a loaded, CPU-throttled host is not killed by mistake.
pub const HOLD_LIMIT: Duration = Duration::from_secs(1);

/// One spawning thread's view, shared with the watchdog.
struct Slot {
    timer: OwnedFd,
    /// Where `clone(CLONE_PIDFD)` writes the child's pidfd; -1 between spawns.
    pidfd: AtomicI32,
    /// The read end of the child's exit watch (see memory_gate), or -1.
    exit_watch: AtomicI32,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    in_flight: bool,
    started: Option<Instant>,
    killed: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Slot {
    /// The watchdog's look at the spawn in flight, if any.
    fn check(&self) {
        let mut state = lock(&self.state);
        if !state.in_flight || state.killed {
            return;
        }
        let pidfd = self.pidfd.load(Ordering::Acquire);
        if pidfd < 0 {
            return;
        }
        let held = state.started.is_some_and(|t| t.elapsed() >= HOLD_LIMIT);
        // A child whose exit watch hung up has exec'd (or exited): the spawning thread has just
        // not taken note yet. Its workload may be stopped, but it runs: not ours to kill.
        let exit_watch = self.exit_watch.load(Ordering::Acquire);
        let left = exit_watch >= 0 && crate::memory_gate::hung_up(exit_watch, Duration::ZERO);
        // The pidfd and the exit watch are valid: the spawning thread closes them only after
        // `finish`, which waits for this lock.
        if !left && (held || is_stopped(pidfd)) && kill(pidfd).is_ok() {
            state.killed = true;
        }
    }
}

/// Whether the child behind `pidfd` is stopped: `waitid(WSTOPPED | WNOHANG | WNOWAIT)`, which
/// reports the stop without consuming it.
fn is_stopped(pidfd: RawFd) -> bool {
    // SAFETY: a zeroed siginfo_t is a valid out-buffer.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let options = libc::WSTOPPED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: a pidfd the spawning thread keeps open (see `Slot::check`), a valid out-pointer.
    let ret = unsafe { libc::waitid(libc::P_PIDFD, pidfd as libc::id_t, &mut info, options) };
    // SAFETY: waitid filled the SIGCHLD fields of the union (or left it zeroed).
    ret == 0 && unsafe { info.si_pid() } != 0 && info.si_code == libc::CLD_STOPPED
}

fn kill(pidfd: RawFd) -> Result<(), Errno> {
    // SAFETY: a pidfd kept open (see `Slot::check`); no siginfo; flags 0.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// `timerfd_settime`: fire after `every` and then every `every`; zero disarms.
fn set_timer(timer: &OwnedFd, every: Duration) -> Result<(), Errno> {
    set_timer_with(timer, every, every)
}

/// `timerfd_settime`: fire once, after `after` (zero disarms).
fn set_timer_once(timer: &OwnedFd, after: Duration) -> Result<(), Errno> {
    set_timer_with(timer, after, Duration::ZERO)
}

fn set_timer_with(timer: &OwnedFd, after: Duration, every: Duration) -> Result<(), Errno> {
    let spec = |d: Duration| libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    };
    let value = libc::itimerspec {
        it_interval: spec(every),
        it_value: spec(after),
    };
    // SAFETY: a timerfd we own; `value` is valid for the call; the old value is not read.
    let ret = unsafe { libc::timerfd_settime(timer.as_raw_fd(), 0, &value, std::ptr::null_mut()) };
    Errno::result(ret).map(drop)
}

/// Marks the settle timer's epoll entry (the slots' entries are their timerfd's number).
const SETTLE: u64 = 1 << 32;

/// The watchdog thread's side: its epoll, the slots it watches by timerfd, and the timer that
/// settles `memory_gate`'s pending child.
struct Watchdog {
    /// The process it runs in: a `fork` of the supervisor inherits this (and its epoll, shared
    /// with the parent's), but not its thread, so the fork starts a watchdog of its own.
    pid: u32,
    epoll: OwnedFd,
    slots: Mutex<HashMap<RawFd, Arc<Slot>>>,
    /// One-shot: fires when `memory_gate` has had a child pending for a while (see
    /// [`settle_later`]).
    settle: OwnedFd,
}

static WATCHDOG: Mutex<Option<Arc<Watchdog>>> = Mutex::new(None);

/// The watchdog, started on first use. A failure to start it (`EAGAIN`) is returned, and
/// tried again at the next spawn: no spawn runs unwatched.
fn watchdog() -> Result<Arc<Watchdog>, Errno> {
    let mut started = lock(&WATCHDOG);
    match &*started {
        Some(watchdog) if watchdog.pid == std::process::id() => return Ok(watchdog.clone()),
        // A fork's inherited one: never dropped, its epoll is shared with the parent's.
        Some(_) => std::mem::forget(started.take()),
        None => {}
    }
    // SAFETY: epoll_create1 returns a new descriptor or -1.
    let epoll = Errno::result(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    // SAFETY: epoll_create1 just returned this descriptor; nothing else owns it.
    let mut epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
    above_stdio(&mut epoll)?;
    let settle = new_timer()?;
    watch(&epoll, settle.as_raw_fd(), SETTLE)?;
    let watchdog = Arc::new(Watchdog {
        pid: std::process::id(),
        epoll,
        slots: Mutex::new(HashMap::new()),
        settle,
    });
    let running = watchdog.clone();
    std::thread::Builder::new()
        .name("capspawn-watchdog".into())
        .spawn(move || running.run())
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EAGAIN)))?;
    *started = Some(watchdog.clone());
    Ok(watchdog)
}

impl Watchdog {
    fn run(&self) {
        // SAFETY: epoll_event is plain data; all zeroes is valid.
        let mut events: [libc::epoll_event; 8] = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: our epoll and a buffer of `events.len()` entries.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len() as libc::c_int,
                    -1,
                )
            };
            let Ok(n) = usize::try_from(n) else { continue }; // EINTR
            for event in events.iter().take(n) {
                if event.u64 == SETTLE {
                    consume(self.settle.as_raw_fd());
                    if crate::memory_gate::settle_pending() {
                        let _ = set_timer_once(&self.settle, crate::memory_gate::SETTLE_DELAY);
                    }
                    continue;
                }
                let fd = event.u64 as RawFd;
                let slot = lock(&self.slots).get(&fd).cloned();
                if let Some(slot) = slot {
                    consume(fd);
                    slot.check();
                }
            }
        }
    }

    fn register(self: &Arc<Self>) -> Result<Registered, Errno> {
        let timer = new_timer()?;
        let slot = Arc::new(Slot {
            timer,
            pidfd: AtomicI32::new(-1),
            exit_watch: AtomicI32::new(-1),
            state: Mutex::new(State::default()),
        });
        let timer = slot.timer.as_raw_fd();
        lock(&self.slots).insert(timer, slot.clone());
        let added = watch(&self.epoll, timer, timer as u64);
        // Built first, so that a failed add still takes the slot out of the map again.
        let registered = Registered {
            slot,
            watchdog: self.clone(),
        };
        added?;
        Ok(registered)
    }
}

/// A thread's slot, removed from the watchdog when the thread ends.
struct Registered {
    slot: Arc<Slot>,
    watchdog: Arc<Watchdog>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let timer = self.slot.timer.as_raw_fd();
        lock(&self.watchdog.slots).remove(&timer);
        // SAFETY: our epoll and a descriptor still open (the slot owns it).
        unsafe {
            libc::epoll_ctl(
                self.watchdog.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                timer,
                std::ptr::null_mut(),
            )
        };
    }
}

thread_local! {
    static SLOT: std::cell::RefCell<Option<Registered>> = const { std::cell::RefCell::new(None) };
}

/// One spawn under watch, from `arm` until `finish`.
pub(crate) struct Armed {
    slot: Arc<Slot>,
    finished: bool,
}

/// Puts the calling thread's next spawn under watch. Not async-signal-safe: call it in the
/// parent, right before `clone`, whose `CLONE_PIDFD` must write into [`Armed::pidfd_out`].
/// `exit_watch`: the read end of the child's exit watch, open until after `finish`, or -1.
pub(crate) fn arm(exit_watch: RawFd) -> Result<Armed, Errno> {
    // A spawn from a thread-local destructor finds the slot gone: refused, not a panic.
    let slot = SLOT.try_with(|cell| -> Result<Arc<Slot>, Errno> {
        let mut registered = cell.borrow_mut();
        let current = registered
            .as_ref()
            .is_some_and(|r| r.watchdog.pid == std::process::id());
        if !current {
            // A slot inherited through fork is forgotten, not dropped: dropping it would remove
            // the parent's timerfd from the parent's epoll, which the fork shares.
            std::mem::forget(registered.take());
            *registered = Some(watchdog()?.register()?);
        }
        registered
            .as_ref()
            .map(|r| r.slot.clone())
            .ok_or(Errno::EINVAL)
    });
    let slot = slot.map_err(|_| Errno::EAGAIN)??;
    slot.pidfd.store(-1, Ordering::Relaxed);
    slot.exit_watch.store(exit_watch, Ordering::Relaxed);
    *lock(&slot.state) = State {
        in_flight: true,
        started: Some(Instant::now()),
        killed: false,
    };
    let armed = Armed {
        slot,
        finished: false,
    };
    set_timer(&armed.slot.timer, TICK)?;
    Ok(armed)
}

impl Armed {
    /// Where `clone(CLONE_PIDFD)` must write the pidfd, so the watchdog can reach the child.
    pub(crate) fn pidfd_out(&self) -> *mut libc::c_int {
        self.slot.pidfd.as_ptr()
    }

    /// Ends the watch, once `clone` has returned; whether the watchdog killed the child.
    pub(crate) fn finish(mut self) -> bool {
        self.end()
    }

    fn end(&mut self) -> bool {
        self.finished = true;
        let _ = set_timer(&self.slot.timer, Duration::ZERO);
        let mut state = lock(&self.slot.state);
        state.in_flight = false;
        self.slot.pidfd.store(-1, Ordering::Relaxed);
        self.slot.exit_watch.store(-1, Ordering::Relaxed);
        state.killed
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        if !self.finished {
            self.end();
        }
    }
}

/// Has the watchdog call `memory_gate::settle_pending` after `delay`, unless this is called
/// again before (each call pushes it back). False when the watchdog cannot be started or armed.
pub(crate) fn settle_later(delay: Duration) -> bool {
    watchdog().is_ok_and(|watchdog| set_timer_once(&watchdog.settle, delay).is_ok())
}

/// `epoll_ctl(EPOLL_CTL_ADD)`: `fd`'s readability reported to the watchdog as `tag`.
fn watch(epoll: &OwnedFd, fd: RawFd, tag: u64) -> Result<(), Errno> {
    let mut event = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: tag,
    };
    // SAFETY: our epoll, an open descriptor of ours, a valid event.
    let added = unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
    Errno::result(added).map(drop)
}

/// A new non-blocking, close-on-exec timerfd on the monotonic clock.
fn new_timer() -> Result<OwnedFd, Errno> {
    let flags = libc::TFD_CLOEXEC | libc::TFD_NONBLOCK;
    // SAFETY: timerfd_create returns a new descriptor or -1.
    let timer = Errno::result(unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, flags) })?;
    // SAFETY: timerfd_create just returned this descriptor; nothing else owns it.
    let mut timer = unsafe { OwnedFd::from_raw_fd(timer) };
    above_stdio(&mut timer)?;
    Ok(timer)
}

/// Reads (and so clears) the 8-byte expiration count of one of our non-blocking timerfds.
fn consume(timer: RawFd) {
    let mut expirations = [0u8; 8];
    // SAFETY: an open timerfd of ours and an 8-byte buffer.
    unsafe { libc::read(timer, expirations.as_mut_ptr().cast(), 8) };
}

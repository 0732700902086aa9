//! Reaping children by their pidfds and reporting how they ended.
//!
//! A reaper keeps an epoll set of pidfds (a pidfd becomes readable when its process exits) and
//! reaps each with `waitid(P_PIDFD)`: never `waitpid(-1)`, which would steal the children of
//! libuv and everyone else in the process. [`Reaper::global`] has one thread of its own that
//! serves all children; a [`Reaper::new`] has none, and whoever owns it calls
//! [`Reaper::reap_ready`] when its descriptor ([`Reaper::as_fd`], the epoll) is readable, from an
//! event loop for instance, so an exit costs no thread hop.

use crate::child::{self, Child, ExitStatus};
use crate::descriptor_table::above_stdio;
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Called once with the child's id and exit status: on the reaper thread of [`Reaper::global`],
/// or on the thread that calls [`Reaper::reap_ready`].
pub type OnExit = Box<dyn FnOnce(u64, ExitStatus) + Send>;

struct Watched {
    pidfd: OwnedFd,
    on_exit: OnExit,
}

/// The reaper. Children are known by an id that is never reused (a pid can be).
pub struct Reaper {
    epoll: Epoll,
    watched: Mutex<HashMap<u64, Watched>>,
    next_id: AtomicU64,
}

impl Reaper {
    /// The process's reaper, started on first use. A failure to start it is not kept: the
    /// next call tries again (a thread limit may be transient).
    pub fn global() -> Result<&'static Reaper, Errno> {
        static REAPER: OnceLock<Arc<Reaper>> = OnceLock::new();
        static STARTING: Mutex<()> = Mutex::new(());
        if let Some(reaper) = REAPER.get() {
            return Ok(reaper);
        }
        let _one_at_a_time = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(reaper) = REAPER.get() {
            return Ok(reaper);
        }
        let reaper = Arc::new(Reaper::new()?);
        let for_thread = Arc::clone(&reaper);
        // A thread that cannot start drops its clone, and `reaper` drops here: nothing is left.
        std::thread::Builder::new()
            .name("capspawn-reaper".into())
            .spawn(move || for_thread.run())
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EAGAIN)))?;
        Ok(REAPER.get_or_init(|| reaper))
    }

    /// A reaper with no thread: its owner calls [`Reaper::reap_ready`] whenever
    /// [`Reaper::as_fd`] is readable.
    pub fn new() -> Result<Reaper, Errno> {
        let mut epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        above_stdio(&mut epoll.0)?;
        Ok(Reaper {
            epoll,
            watched: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        })
    }

    /// The epoll descriptor: readable (level-triggered) while a watched child has exited and
    /// is not reaped yet.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.0.as_fd()
    }

    /// Reaps every watched child that has exited, without blocking, running each one's
    /// `on_exit` (on the calling thread, with no lock held). Returns how many it reaped.
    pub fn reap_ready(&self) -> usize {
        let mut events = [EpollEvent::empty(); 64];
        let mut reaped = 0;
        loop {
            let ready = match self.epoll.wait(&mut events, EpollTimeout::ZERO) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(_) => return reaped,
            };
            for event in &events[..ready] {
                if let Some((status, on_exit)) = self.reap(event.data()) {
                    on_exit(event.data(), status);
                    reaped += 1;
                }
            }
            if ready < events.len() {
                return reaped;
            }
        }
    }

    /// Moves every child still watched to `other`, which reaps them from then on; their
    /// `on_exit` is dropped without being called (for an owner that goes away, a worker's
    /// event loop say, while its children still run).
    pub fn hand_over(&self, other: &Reaper) {
        let watched = std::mem::take(&mut *self.watched.lock().unwrap_or_else(|e| e.into_inner()));
        for (_, Watched { pidfd, .. }) in watched {
            let _ = self.epoll.delete(&pidfd);
            let child = Child {
                pid: 0,
                pidfd,
                stdin: None,
                stdout: None,
                stderr: None,
                extra: Vec::new(),
            };
            let _ = other.watch(child, Box::new(|_, _| {}));
        }
    }

    /// Takes over `child`'s pidfd: `on_exit` runs once it has exited and been reaped. Returns
    /// the id for [`Reaper::signal`]. Take the child's stdio ends out first: the ones left in it
    /// are closed. If it cannot be watched, the child is killed and reaped before the error is
    /// returned.
    pub fn watch(&self, child: Child, on_exit: OnExit) -> Result<u64, Errno> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        let event = EpollEvent::new(EpollFlags::EPOLLIN, id);
        if let Err(errno) = self.epoll.add(&child.pidfd, event) {
            // Nobody could reap or signal it any more: stop it rather than leave it unsupervised
            // (without holding up other spawns and kills meanwhile).
            drop(watched);
            let _ = child.signal(libc::SIGKILL);
            let _ = child.wait();
            return Err(errno);
        }
        watched.insert(
            id,
            Watched {
                pidfd: child.pidfd,
                on_exit,
            },
        );
        Ok(id)
    }

    /// Sends `signal` to child `id`. `Ok(false)` once it has been reaped: its pidfd is closed
    /// under the same lock, so the signal can never reach another process.
    pub fn signal(&self, id: u64, signal: i32) -> Result<bool, Errno> {
        let watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        match watched.get(&id) {
            Some(w) => child::send_signal(&w.pidfd, signal).map(|()| true),
            None => Ok(false),
        }
    }

    fn run(&self) {
        let mut events = [EpollEvent::empty(); 64];
        loop {
            let ready = match self.epoll.wait(&mut events, EpollTimeout::NONE) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(errno) => panic!("capspawn reaper: epoll_wait failed: {errno}"),
            };
            for event in &events[..ready] {
                if let Some((status, on_exit)) = self.reap(event.data()) {
                    on_exit(event.data(), status);
                }
            }
        }
    }

    /// Reaps child `id` if it has exited, forgetting it and closing its pidfd.
    fn reap(&self, id: u64) -> Option<(ExitStatus, OnExit)> {
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        let status =
            match child::wait_pidfd(&watched.get(&id)?.pidfd, libc::WEXITED | libc::WNOHANG) {
                Ok(Some(status)) => status,
                Ok(None) => return None,
                // ECHILD: someone else reaped it (a waitpid(-1) elsewhere); its status is lost.
                Err(_) => ExitStatus::Exited(-1),
            };
        let Watched { pidfd, on_exit } = watched.remove(&id)?;
        let _ = self.epoll.delete(&pidfd);
        drop(pidfd);
        Some((status, on_exit))
    }
}

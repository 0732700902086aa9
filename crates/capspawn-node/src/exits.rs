//! Exits to JavaScript on the event loop itself, and `kill`.
//!
//! Each JavaScript environment (the main thread, each worker) has a reaper of its own with no
//! thread: its epoll of pidfds is watched by a `uv_poll` on that environment's loop
//! ([`FdWatch`]), so a child's exit wakes the JS thread directly and is reaped and reported
//! there, in one wakeup. When the environment goes (a worker ends) with children still
//! running, they are handed to the core's reaper thread, which reaps them silently.

use crate::napi::{Env, FdWatch, Ref, Result, Value};
use capspawn::{ExitStatus, Reaper};
use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

/// One environment's children: its reaper, the exits it reaped that are not reported yet, the
/// `onExit` callback and the watch on the loop.
struct Exits {
    reaper: Arc<Reaper>,
    sender: Sender<(u64, ExitStatus)>,
    callback: Rc<RefCell<Option<Ref>>>,
    watch: FdWatch,
}

/// Runs `f` on the environment's exits, setting them up on first use.
fn with_exits<R>(env: Env, f: impl FnOnce(&Exits) -> Result<R>) -> Result<R> {
    if env.instance_data::<Exits>()?.is_none() {
        env.set_instance_data(start(env)?)?;
    }
    f(env
        .instance_data::<Exits>()?
        .expect("instance data was just set"))
}

fn start(env: Env) -> Result<Exits> {
    let reaper =
        Arc::new(Reaper::new().map_err(|errno| crate::errno_error(errno, "epoll_create1"))?);
    let (sender, queue) = channel();
    let callback: Rc<RefCell<Option<Ref>>> = Rc::new(RefCell::new(None));
    let (on_loop, for_teardown) = (reaper.clone(), reaper.clone());
    let reported = callback.clone();
    let watch = FdWatch::new(
        env,
        reaper.as_fd().as_raw_fd(),
        "capspawn:exit",
        Box::new(move |env| {
            on_loop.reap_ready();
            report(env, &queue, &reported);
        }),
        Box::new(move || {
            if let Ok(global) = Reaper::global() {
                for_teardown.hand_over(global);
            }
        }),
    )?;
    Ok(Exits {
        reaper,
        sender,
        callback,
        watch,
    })
}

/// Calls `onExit(id, exitCode | null, signal | null)` for each exit reaped; an exception from
/// one is raised as uncaught, and the others are still reported.
fn report(env: Env, queue: &Receiver<(u64, ExitStatus)>, callback: &RefCell<Option<Ref>>) {
    while let Ok((id, status)) = queue.try_recv() {
        let call = || -> Result<()> {
            let Some(callback) = &*callback.borrow() else {
                return Ok(());
            };
            let (code, signal) = match status {
                ExitStatus::Exited(code) => (env.int32(code)?, env.null()?),
                ExitStatus::Signaled { signal, .. } => (env.null()?, env.int32(signal)?),
            };
            let args = [env.double(id as f64)?, code, signal];
            env.call(callback.get(env)?, &args)
        };
        if let Err(e) = call() {
            if !env.exception_pending() {
                env.throw(&e);
            }
        }
        crate::napi::raise_pending(env);
    }
}

/// `onExit(callback)`: every exit becomes `callback(id, exitCode | null, signal | null)`.
pub fn on_exit(env: Env, args: &[Value]) -> Result<Value> {
    let callback = *args.first().unwrap_or(&env.undefined()?);
    env.expect(callback, crate::napi::ValueType::Function)?;
    let kept = Ref::new(env, callback)?;
    with_exits(env, |exits| {
        if let Some(old) = exits.callback.borrow_mut().replace(kept) {
            old.delete(env);
        }
        Ok(())
    })?;
    env.undefined()
}

/// `refExits(keepAlive)`: whether pending exits keep the event loop alive.
pub fn ref_exits(env: Env, args: &[Value]) -> Result<Value> {
    let keep_alive = env.to_bool(*args.first().unwrap_or(&env.undefined()?))?;
    with_exits(env, |exits| {
        exits.watch.set_ref(keep_alive);
        Ok(())
    })?;
    env.undefined()
}

/// What a spawn needs to hand its child over, got before anything is cloned.
pub struct Watcher {
    reaper: Arc<Reaper>,
    sender: Sender<(u64, ExitStatus)>,
}

impl Watcher {
    pub fn new(env: Env) -> Result<Self> {
        with_exits(env, |exits| {
            if exits.callback.borrow().is_none() {
                return Err(crate::napi::Error::new(
                    crate::napi::ERR_INTERNAL,
                    "onExit() must be called before spawn()",
                ));
            }
            Ok(Watcher {
                reaper: exits.reaper.clone(),
                sender: exits.sender.clone(),
            })
        })
    }

    /// Hands `child` to the reaper; its exit will reach the `onExit` callback. Returns its id,
    /// and the reaper that can signal it.
    pub fn watch(self, child: capspawn::Child) -> Result<(u64, Arc<Reaper>)> {
        let sender = self.sender;
        let on_exit = Box::new(move |id, status| {
            let _ = sender.send((id, status));
        });
        let id = self
            .reaper
            .watch(child, on_exit)
            .map_err(|errno| crate::errno_error(errno, "epoll_ctl"))?;
        Ok((id, self.reaper))
    }
}

/// `kill(id, signal)`: true if sent, false once the child has been reaped.
pub fn kill(env: Env, args: &[Value]) -> Result<Value> {
    let id = env.to_i64(*args.first().unwrap_or(&env.undefined()?))?;
    let signal = env.to_i32(*args.get(1).unwrap_or(&env.undefined()?))?;
    let sent = with_exits(env, |exits| {
        exits
            .reaper
            .signal(id as u64, signal)
            .map_err(|errno| crate::errno_error(errno, "kill"))
    })?;
    env.boolean(sent)
}

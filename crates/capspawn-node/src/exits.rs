//! Exits from the core's reaper thread to JavaScript, through one threadsafe function per
//! JavaScript environment; and `kill`.

use crate::napi::{Env, Result, Tsfn, Value};
use capspawn::{ExitStatus, Reaper};
use std::cell::RefCell;
use std::sync::Arc;

/// One child's exit, as the reaper reports it.
pub struct Exit {
    id: u64,
    status: ExitStatus,
}

/// The environment's exit channel, set by `onExit(callback)`.
type Channel = RefCell<Option<Arc<Tsfn<Exit>>>>;

/// Runs `f` on the environment's channel, creating it on first use.
fn with_channel<R>(env: Env, f: impl FnOnce(&Channel) -> Result<R>) -> Result<R> {
    if env.instance_data::<Channel>()?.is_none() {
        env.set_instance_data::<Channel>(RefCell::new(None))?;
    }
    f(env
        .instance_data::<Channel>()?
        .expect("instance data was just set"))
}

/// `onExit(callback)`: every exit becomes `callback(id, exitCode | null, signal | null)`.
pub fn on_exit(env: Env, args: &[Value]) -> Result<Value> {
    let callback = *args.first().unwrap_or(&env.undefined()?);
    let tsfn = Tsfn::new(env, callback, "capspawn:exit", |env: Env, exit: Exit| {
        let (code, signal) = match exit.status {
            ExitStatus::Exited(code) => (env.int32(code)?, env.null()?),
            ExitStatus::Signaled { signal, .. } => (env.null()?, env.int32(signal)?),
        };
        Ok(vec![env.double(exit.id as f64)?, code, signal])
    })?;
    tsfn.unref(env)?;
    with_channel(env, |channel| {
        *channel.borrow_mut() = Some(Arc::new(tsfn));
        Ok(())
    })?;
    env.undefined()
}

/// `refExits(keepAlive)`: whether pending exits keep the event loop alive.
pub fn ref_exits(env: Env, args: &[Value]) -> Result<Value> {
    let keep_alive = env.to_bool(*args.first().unwrap_or(&env.undefined()?))?;
    with_channel(env, |channel| match channel.borrow().as_ref() {
        Some(tsfn) if keep_alive => tsfn.ref_(env),
        Some(tsfn) => tsfn.unref(env),
        None => Ok(()),
    })?;
    env.undefined()
}

/// What a spawn needs to hand its child over, got before anything is cloned.
pub struct Watcher {
    tsfn: Arc<Tsfn<Exit>>,
    reaper: &'static Reaper,
}

impl Watcher {
    pub fn new(env: Env) -> Result<Self> {
        let tsfn = with_channel(env, |channel| Ok(channel.borrow().clone()))?.ok_or_else(|| {
            crate::napi::Error::new(
                crate::napi::ERR_INTERNAL,
                "onExit() must be called before spawn()",
            )
        })?;
        let reaper =
            Reaper::global().map_err(|errno| crate::errno_error(errno, "epoll_create1"))?;
        Ok(Watcher { tsfn, reaper })
    }

    /// Hands `child` to the reaper; its exit will reach the `onExit` callback. Returns its id.
    pub fn watch(self, child: capspawn::Child) -> Result<u64> {
        let tsfn = self.tsfn;
        let on_exit = Box::new(move |id, status| {
            let _ = tsfn.call(Exit { id, status });
        });
        self.reaper
            .watch(child, on_exit)
            .map_err(|errno| crate::errno_error(errno, "epoll_ctl"))
    }
}

/// `kill(id, signal)`: true if sent, false once the child has been reaped.
pub fn kill(env: Env, args: &[Value]) -> Result<Value> {
    let id = env.to_i64(*args.first().unwrap_or(&env.undefined()?))?;
    let signal = env.to_i32(*args.get(1).unwrap_or(&env.undefined()?))?;
    let reaper = Reaper::global().map_err(|errno| crate::errno_error(errno, "epoll_create1"))?;
    let sent = reaper
        .signal(id as u64, signal)
        .map_err(|errno| crate::errno_error(errno, "kill"))?;
    env.boolean(sent)
}

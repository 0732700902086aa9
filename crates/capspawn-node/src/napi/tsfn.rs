//! Calling a JS function from any thread (`napi_threadsafe_function`).

use std::ffi::c_void;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::{Arc, RwLock};

use super::module::panic_error;
use super::{sys, Env, Error, Result, Value, ValueType};

/// A JS function callable from any thread with a `T`, which the `convert`
/// closure turns into the call's arguments on the JS thread.
///
/// Node-API rules wrapped here:
/// - Created with one owning "thread" (`initial_thread_count` 1) and an
///   unlimited queue; `call` queues in nonblocking mode.
/// - The handle is released on `Drop` (or [`Tsfn::release`]); it must not be
///   used after that, which ownership enforces.
/// - When the env is torn down (process exit, worker end) Node finalizes the
///   function even if it was never released, and frees it. A flag set by the
///   finalizer, checked under a lock around every use, turns later `call`s into
///   `Err` instead of use-after-free; queued-but-undelivered items are dropped.
/// - While it exists it keeps the event loop alive, unless [`Tsfn::unref`]ed.
/// - An exception thrown by the JS callback, or an `Err`/panic from `convert`,
///   is raised with `napi_fatal_exception`, i.e. as an ordinary uncaught
///   exception (`process.on('uncaughtException')`, else the process exits).
///   Left pending, Node 20 would swallow it with only a DEP0168 warning (its
///   policy for modules below Node-API version "experimental").
pub struct Tsfn<T: Send + 'static> {
    raw: sys::napi_threadsafe_function,
    /// `true` once Node finalized the function or our handle was given up.
    gone: Arc<RwLock<bool>>,
    _items: PhantomData<fn(T)>,
}

// SAFETY: Node-API documents `napi_call_threadsafe_function` and
// `napi_release_threadsafe_function` as callable from any thread; the only
// Rust state is an `Arc<RwLock<bool>>`; the items sent are `T: Send`.
unsafe impl<T: Send + 'static> Send for Tsfn<T> {}
// SAFETY: as for `Send`; `call` takes `&self` and Node serializes the queue.
unsafe impl<T: Send + 'static> Sync for Tsfn<T> {}

/// What Node keeps as `context`: the converter, plus the shared "gone" flag.
struct Context<F> {
    convert: F,
    gone: Arc<RwLock<bool>>,
}

fn lock_write(flag: &RwLock<bool>) -> std::sync::RwLockWriteGuard<'_, bool> {
    flag.write().unwrap_or_else(|e| e.into_inner())
}

fn lock_read(flag: &RwLock<bool>) -> std::sync::RwLockReadGuard<'_, bool> {
    flag.read().unwrap_or_else(|e| e.into_inner())
}

impl<T: Send + 'static> Tsfn<T> {
    /// `napi_create_threadsafe_function` on `func` (must be a JS function).
    /// `name` labels it in async hooks / diagnostics. `convert` runs only on the
    /// JS thread and is dropped there, so it need not be `Send`.
    pub fn new<F>(env: Env, func: Value, name: &str, convert: F) -> Result<Self>
    where
        F: Fn(Env, T) -> Result<Vec<Value>> + 'static,
    {
        env.expect(func, ValueType::Function)?;
        let name = env.string(name)?;
        let gone = Arc::new(RwLock::new(false));
        let ctx = Box::into_raw(Box::new(Context {
            convert,
            gone: gone.clone(),
        }))
        .cast::<c_void>();
        let mut raw = ptr::null_mut();
        // SAFETY: live env and handles of this env; `ctx` is a leaked box that
        // `finalize::<F>` frees (Node calls it once, on the JS thread);
        // `call_js::<T, F>` matches the `call_js_cb` signature.
        let status = unsafe {
            sys::napi_create_threadsafe_function(
                env.0,
                func.0,
                ptr::null_mut(),
                name.0,
                0,
                1,
                ctx,
                Some(finalize::<F>),
                ctx,
                Some(call_js::<T, F>),
                &mut raw,
            )
        };
        if let Err(e) = env.check(status) {
            // SAFETY: creation failed, so Node did not take `ctx`.
            drop(unsafe { Box::from_raw(ctx.cast::<Context<F>>()) });
            return Err(e);
        }
        Ok(Tsfn {
            raw,
            gone,
            _items: PhantomData,
        })
    }

    /// `napi_call_threadsafe_function` (nonblocking): queues `item` for the JS
    /// thread. Any thread. Fails (dropping `item`) once the env is closing.
    pub fn call(&self, item: T) -> Result<()> {
        let gone = lock_read(&self.gone);
        if *gone {
            return Err(Error::napi("threadsafe function is closed"));
        }
        let data = Box::into_raw(Box::new(item)).cast::<c_void>();
        // SAFETY: not finalized (checked under the lock the finalizer needs)
        // and not released (we own the handle); Node owns `data` on success.
        let status = unsafe {
            sys::napi_call_threadsafe_function(self.raw, data, sys::napi_tsfn_nonblocking)
        };
        if status == sys::napi_ok {
            return Ok(());
        }
        // SAFETY: the call failed, so Node did not take `data`.
        drop(unsafe { Box::from_raw(data.cast::<T>()) });
        drop(gone);
        if status == sys::napi_closing {
            // Node already dropped our thread count: never release it again.
            *lock_write(&self.gone) = true;
        }
        Err(Error::napi(format!(
            "napi_call_threadsafe_function failed (napi_status {status})"
        )))
    }

    /// `napi_ref_threadsafe_function`: keep the event loop alive (the default).
    pub fn ref_(&self, env: Env) -> Result<()> {
        self.on_js_thread(env, sys::napi_ref_threadsafe_function)
    }

    /// `napi_unref_threadsafe_function`: let the process exit while this exists.
    pub fn unref(&self, env: Env) -> Result<()> {
        self.on_js_thread(env, sys::napi_unref_threadsafe_function)
    }

    fn on_js_thread(
        &self,
        env: Env,
        f: unsafe extern "C" fn(sys::napi_env, sys::napi_threadsafe_function) -> sys::napi_status,
    ) -> Result<()> {
        if *lock_read(&self.gone) {
            return Ok(());
        }
        // SAFETY: `env` proves we are on a JS thread (it is not `Send`); the
        // function is neither finalized nor released (checked just above, and
        // finalization also runs on this thread, so it cannot happen meanwhile).
        env.check(unsafe { f(env.0, self.raw) })
    }

    /// Gives up this handle now (same as dropping it).
    pub fn release(self) {}
}

impl<T: Send + 'static> Drop for Tsfn<T> {
    /// `napi_release_threadsafe_function(release)`: once released, queued
    /// items are still delivered, then Node finalizes the function.
    fn drop(&mut self) {
        let gone = lock_read(&self.gone);
        if !*gone {
            // SAFETY: not finalized (checked under the lock) and this is our
            // only release: `Drop` runs once and `call` marks `napi_closing`.
            unsafe { sys::napi_release_threadsafe_function(self.raw, sys::napi_tsfn_release) };
        }
    }
}

unsafe extern "C" fn call_js<T, F>(
    env: sys::napi_env,
    js_cb: sys::napi_value,
    ctx: *mut c_void,
    data: *mut c_void,
) where
    T: Send + 'static,
    F: Fn(Env, T) -> Result<Vec<Value>> + 'static,
{
    // SAFETY: `data` is a `Box<T>` queued by `call`; Node hands each item to
    // this callback exactly once.
    let item = unsafe { Box::from_raw(data.cast::<T>()) };
    if env.is_null() || js_cb.is_null() {
        return; // Teardown: only free the item.
    }
    // SAFETY: Node runs `call_js_cb` on the JS thread with a live env.
    let env = unsafe { Env::from_raw(env) };
    // SAFETY: `ctx` is our `Context<F>`. `finalize` frees it, and after that
    // Node calls `call_js` only with a NULL env (handled above).
    let ctx = unsafe { &*ctx.cast::<Context<F>>() };
    let run = || -> Result<()> {
        let args = (ctx.convert)(env, *item)?;
        let raw_args: Vec<sys::napi_value> = args.iter().map(|v| v.0).collect();
        let (recv, mut out) = (env.undefined()?, ptr::null_mut());
        // SAFETY: live env; `js_cb`, `recv` and `raw_args` are handles of this
        // env in the handle scope Node opened for this call.
        let status = unsafe {
            sys::napi_call_function(
                env.0,
                recv.0,
                js_cb,
                raw_args.len(),
                raw_args.as_ptr(),
                &mut out,
            )
        };
        if status == sys::napi_pending_exception {
            return Ok(()); // The JS callback threw; raised below.
        }
        env.check(status)
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => env.throw(&e),
        Err(panic) => env.throw(&panic_error(panic)),
    }
    if env.exception_pending() {
        let mut err = ptr::null_mut();
        // SAFETY: live env on the JS thread; an exception is pending, and
        // `napi_fatal_exception` takes the handle we just got back.
        unsafe {
            if sys::napi_get_and_clear_last_exception(env.0, &mut err) == sys::napi_ok {
                sys::napi_fatal_exception(env.0, err);
            }
        }
    }
}

unsafe extern "C" fn finalize<F>(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the `Context<F>` leaked in `Tsfn::new`; Node calls the
    // thread finalizer once, on the JS thread, and afterwards calls `call_js`
    // only with a NULL env, which does not touch the context.
    let ctx = unsafe { Box::from_raw(data.cast::<Context<F>>()) };
    // Waits for in-flight `call`/`drop`s; later ones see the flag and back off.
    *lock_write(&ctx.gone) = true;
}

//! Running Rust on the JS thread when a descriptor becomes readable: a libuv `uv_poll` handle on
//! the env's own event loop (`napi_get_uv_event_loop`), so the kernel wakes that thread directly
//! and no other thread, no threadsafe function and no `uv_async` hop is involved.
//!
//! Node-API and libuv rules wrapped here:
//! - A libuv callback runs outside any JS scope: each one opens a handle scope and a callback
//!   scope (`napi_open_callback_scope`, with an async context of its own), so values can be made
//!   and, when the scope closes, `process.nextTick` callbacks and promise jobs run, as after any
//!   I/O callback of Node's own.
//! - An exception thrown by JS the callback calls, or a panic in it, is raised with
//!   `napi_fatal_exception`: an ordinary uncaught exception.
//! - A handle left open when a worker's env goes away keeps its loop from closing, which Node
//!   treats as fatal. An async cleanup hook (`napi_add_async_cleanup_hook`) runs the owner's
//!   teardown, stops and closes the handle, and only when libuv has closed it tells Node that
//!   cleanup is done and frees everything.
//! - Like any libuv handle it keeps the loop alive while active, unless unref'd.

use std::alloc::Layout;
use std::ffi::{c_int, c_void};
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use super::module::panic_error;
use super::{sys, Env, Error, Result, Value};

/// A JS value kept alive across callbacks (`napi_ref` with a count of 1). Only valid in the env
/// that made it; delete it with [`Ref::delete`] (a leaked one lives until the env goes).
pub struct Ref(sys::napi_ref);

impl Ref {
    /// `napi_create_reference(value, 1)`.
    pub fn new(env: Env, value: Value) -> Result<Ref> {
        let mut raw = ptr::null_mut();
        // SAFETY: live env, a value of this env, a valid out-slot.
        env.check(unsafe { sys::napi_create_reference(env.0, value.0, 1, &mut raw) })?;
        Ok(Ref(raw))
    }

    /// `napi_get_reference_value`: the value, in the current handle scope.
    pub fn get(&self, env: Env) -> Result<Value> {
        let mut value = ptr::null_mut();
        // SAFETY: live env, a reference of this env (not deleted: `delete` takes `self`).
        env.check(unsafe { sys::napi_get_reference_value(env.0, self.0, &mut value) })?;
        Ok(Value(value))
    }

    /// `napi_delete_reference`.
    pub fn delete(self, env: Env) {
        // SAFETY: live env, a reference of this env, deleted once (this consumes it).
        unsafe { sys::napi_delete_reference(env.0, self.0) };
    }
}

/// What the handle's `data` points to; freed by [`closed`] once libuv is done with the handle.
struct State {
    env: sys::napi_env,
    handle: *mut c_void,
    layout: Layout,
    resource: Ref,
    context: sys::napi_async_context,
    cleanup: sys::napi_async_cleanup_hook_handle,
    on_readable: Box<dyn FnMut(Env)>,
    on_teardown: Option<Box<dyn FnOnce()>>,
}

/// A started watch. Not `Send`: use it on its env's JS thread only.
pub struct FdWatch {
    handle: *mut c_void,
}

impl FdWatch {
    /// Calls `on_readable` on the JS thread each time `fd` is readable (level-triggered: it
    /// must consume what made it so). At env teardown, `on_teardown` runs and the watch ends.
    /// `fd` must stay open until then. Unref'd to begin with.
    pub fn new(
        env: Env,
        fd: RawFd,
        name: &str,
        on_readable: Box<dyn FnMut(Env)>,
        on_teardown: Box<dyn FnOnce()>,
    ) -> Result<FdWatch> {
        let mut event_loop = ptr::null_mut();
        // SAFETY: live env, valid out-slot.
        env.check(unsafe { sys::napi_get_uv_event_loop(env.0, &mut event_loop) })?;
        // SAFETY: a pure query of libuv's handle sizes.
        let size = unsafe { sys::uv_handle_size(sys::UV_POLL) };
        let layout = Layout::from_size_align(size.max(64), 16)
            .map_err(|_| Error::napi("uv_poll_t layout"))?;
        // SAFETY: a non-zero size; zeroed, as libuv wants fresh handles.
        let handle = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<c_void>();
        if handle.is_null() {
            return Err(Error::napi("out of memory for a uv_poll_t"));
        }
        // SAFETY: the env's loop, a zeroed handle of the right size, an open descriptor.
        let status = unsafe { sys::uv_poll_init(event_loop, handle, fd) };
        if status != 0 {
            // SAFETY: libuv did not take the handle; it is ours to free.
            unsafe { std::alloc::dealloc(handle.cast(), layout) };
            return Err(Error::napi(format!("uv_poll_init failed ({status})")));
        }
        let resource = env.object()?;
        let name_value = env.string(name)?;
        let mut context = ptr::null_mut();
        // SAFETY: live env, values of this env, a valid out-slot.
        let init = unsafe { sys::napi_async_init(env.0, resource.0, name_value.0, &mut context) };
        let state = Box::into_raw(Box::new(State {
            env: env.0,
            handle,
            layout,
            resource: Ref::new(env, resource)?,
            context,
            cleanup: ptr::null_mut(),
            on_readable,
            on_teardown: Some(on_teardown),
        }));
        // SAFETY: a uv handle's first field is `void *data`, ours to set.
        unsafe { *handle.cast::<*mut c_void>() = state.cast() };
        // From here on the handle is initialised, so only `uv_close` may end it.
        let started = env.check(init).and_then(|()| {
            // SAFETY: live env; `teardown` matches the hook signature and gets our state, which
            // stays alive until `closed` removes the hook.
            env.check(unsafe {
                sys::napi_add_async_cleanup_hook(
                    env.0,
                    Some(teardown),
                    state.cast(),
                    &mut (*state).cleanup,
                )
            })?;
            // SAFETY: an initialised poll handle; `readable` matches `uv_poll_cb`.
            match unsafe { sys::uv_poll_start(handle, sys::UV_READABLE, Some(readable)) } {
                0 => Ok(()),
                status => Err(Error::napi(format!("uv_poll_start failed ({status})"))),
            }
        });
        if let Err(e) = started {
            // SAFETY: our state and handle, not yet seen by any callback.
            unsafe { close(state) };
            return Err(e);
        }
        let watch = FdWatch { handle };
        watch.set_ref(false);
        Ok(watch)
    }

    /// `uv_ref` / `uv_unref`: whether the watch keeps the event loop alive.
    pub fn set_ref(&self, keep_alive: bool) {
        // SAFETY: the handle stays valid until the env's teardown, after which no JS call (and
        // so no `set_ref`) can come.
        unsafe {
            if keep_alive {
                sys::uv_ref(self.handle)
            } else {
                sys::uv_unref(self.handle)
            }
        }
    }
}

unsafe extern "C" fn readable(handle: *mut c_void, _status: c_int, _events: c_int) {
    // SAFETY: `data` is the `State` set in `FdWatch::new`; it lives until `closed`, and libuv
    // calls no poll callback after `uv_close`.
    let state = unsafe { &mut *(*handle.cast::<*mut State>()) };
    let raw = state.env;
    // SAFETY: the env is alive while the handle is (its teardown closes the handle first); this
    // is its JS thread, which runs the loop.
    let env = unsafe { Env::from_raw(raw) };
    let mut handles = ptr::null_mut();
    // SAFETY: live env on its JS thread, valid out-slot.
    if unsafe { sys::napi_open_handle_scope(raw, &mut handles) } != sys::napi_ok {
        return;
    }
    let mut scope = ptr::null_mut();
    let opened = state.resource.get(env).is_ok_and(|resource| {
        // SAFETY: live env, our resource object and async context, a valid out-slot.
        let status =
            unsafe { sys::napi_open_callback_scope(raw, resource.0, state.context, &mut scope) };
        status == sys::napi_ok
    });
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| (state.on_readable)(env))) {
        env.throw(&panic_error(panic));
    }
    raise_pending(env);
    if opened {
        // SAFETY: the scope opened above; closing it runs nextTicks and promise jobs.
        unsafe { sys::napi_close_callback_scope(raw, scope) };
        raise_pending(env);
    }
    // SAFETY: the handle scope opened above.
    unsafe { sys::napi_close_handle_scope(raw, handles) };
}

/// A pending exception becomes an uncaught exception, as Node raises one from its own I/O.
pub fn raise_pending(env: Env) {
    if env.exception_pending() {
        let mut error = ptr::null_mut();
        // SAFETY: live env on the JS thread with an exception pending; `napi_fatal_exception`
        // takes the handle just got back.
        unsafe {
            if sys::napi_get_and_clear_last_exception(env.0, &mut error) == sys::napi_ok {
                sys::napi_fatal_exception(env.0, error);
            }
        }
    }
}

unsafe extern "C" fn teardown(_hook: sys::napi_async_cleanup_hook_handle, data: *mut c_void) {
    let state = data.cast::<State>();
    // SAFETY: the state registered with this hook, alive until `closed`.
    if let Some(on_teardown) = unsafe { (*state).on_teardown.take() } {
        let _ = catch_unwind(AssertUnwindSafe(on_teardown));
    }
    // SAFETY: our state; the env is still alive during its cleanup hooks.
    unsafe { close(state) };
}

/// Stops the watch and closes the handle; [`closed`] frees everything once libuv is done.
///
/// # Safety
/// `state` is a live `State` whose handle is initialised and not closing yet.
unsafe fn close(state: *mut State) {
    // SAFETY: the caller's promise; the env is alive (a cleanup hook or `FdWatch::new`).
    unsafe {
        let handle = (*state).handle;
        sys::uv_poll_stop(handle);
        sys::napi_async_destroy((*state).env, (*state).context);
        sys::uv_close(handle, Some(closed));
    }
}

unsafe extern "C" fn closed(handle: *mut c_void) {
    // SAFETY: libuv calls this once, after the handle is closed; `data` is our state.
    let state = unsafe { Box::from_raw(*handle.cast::<*mut State>()) };
    let State {
        env,
        layout,
        resource,
        cleanup,
        ..
    } = *state;
    // SAFETY: the env outlives its cleanup hooks, and this runs before ours is removed.
    resource.delete(unsafe { Env::from_raw(env) });
    if !cleanup.is_null() {
        // SAFETY: the hook registered in `FdWatch::new`, removed once: cleanup is done.
        unsafe { sys::napi_remove_async_cleanup_hook(cleanup) };
    }
    // SAFETY: libuv is done with the handle; it was allocated with this layout.
    unsafe { std::alloc::dealloc(handle.cast(), layout) };
}

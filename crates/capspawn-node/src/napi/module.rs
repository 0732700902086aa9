//! JS functions backed by Rust `fn`s, and the module entry point.

use std::any::Any;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use super::error::{c_name, ERR_INTERNAL};
use super::{sys, Env, Error, Result, Value};

/// A Rust function callable from JS: `(env, args) -> return value or error`.
pub type Callback = fn(Env, &[Value]) -> Result<Value>;

/// At most this many JS arguments reach a [`Callback`]; extra ones are ignored.
pub const MAX_ARGS: usize = 8;

impl Env {
    /// `napi_create_function` for a Rust [`Callback`] (the `fn` pointer travels
    /// as the function's `data`, so nothing needs finalizing). On each call, the
    /// trampoline reads at most [`MAX_ARGS`] arguments with `napi_get_cb_info`;
    /// `Err(e)` is thrown as a JS error, and a panic is caught (unwinding into
    /// Node is undefined behaviour) and thrown as `ERR_CAPSPAWN_INTERNAL`.
    pub fn function(self, name: &str, cb: Callback) -> Result<Value> {
        let cname = c_name(name)?;
        let data = cb as *mut c_void;
        let mut out = ptr::null_mut();
        // SAFETY: live env; `cname` is NUL-terminated and read during the
        // call; `trampoline` matches `napi_callback`; `data` is a plain fn pointer.
        let status = unsafe {
            sys::napi_create_function(
                self.0,
                cname.as_ptr(),
                name.len(),
                Some(trampoline),
                data,
                &mut out,
            )
        };
        self.check(status).map(|()| Value(out))
    }
}

unsafe extern "C" fn trampoline(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: Node calls a `napi_callback` on the JS thread with the live env.
    let env = unsafe { Env::from_raw(env) };
    let run = || -> Result<Value> {
        let mut argc = MAX_ARGS;
        let mut argv = [ptr::null_mut(); MAX_ARGS];
        let mut data = ptr::null_mut();
        // SAFETY: `info` is this call's callback info; `argv` has room for
        // `argc` handles; `this_arg` may be NULL.
        env.check(unsafe {
            sys::napi_get_cb_info(
                env.0,
                info,
                &mut argc,
                argv.as_mut_ptr(),
                ptr::null_mut(),
                &mut data,
            )
        })?;
        // SAFETY: `data` is the `Callback` that `Env::function` stored; fn and
        // data pointers have the same size and representation on our targets.
        let cb: Callback = unsafe { std::mem::transmute::<*mut c_void, Callback>(data) };
        let args = argv.map(Value);
        cb(env, &args[..argc.min(MAX_ARGS)])
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(v)) => v.0,
        Ok(Err(e)) => {
            env.throw(&e);
            ptr::null_mut()
        }
        Err(panic) => {
            env.throw(&panic_error(panic));
            ptr::null_mut()
        }
    }
}

/// The `ERR_CAPSPAWN_INTERNAL` error for a caught panic payload.
pub(crate) fn panic_error(panic: Box<dyn Any + Send>) -> Error {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    Error::new(
        ERR_INTERNAL,
        format!("internal error in capspawn native code: {what}"),
    )
}

/// Body of `napi_register_module_v1`: sets each `(name, fn)` as a function on
/// `exports` (with the `napi-selftest` feature, also `exports.__selftest`).
/// Errors and panics become a JS exception, which makes `require()` throw.
///
/// # Safety
/// `env` and `exports` must be the arguments Node passed to
/// `napi_register_module_v1`, on the JS thread, during that call.
pub unsafe fn init_module(
    env: sys::napi_env,
    exports: sys::napi_value,
    fns: &[(&str, Callback)],
) -> sys::napi_value {
    // SAFETY: forwarded from this function's contract.
    let (env, exports) = unsafe { (Env::from_raw(env), Value::from_raw(exports)) };
    let run = || -> Result<()> {
        for (name, cb) in fns {
            env.set(exports, name, env.function(name, *cb)?)?;
        }
        #[cfg(feature = "napi-selftest")]
        super::selftest::register(env, exports)?;
        Ok(())
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => env.throw(&e),
        Err(panic) => env.throw(&panic_error(panic)),
    }
    exports.0
}

/// Exports `napi_register_module_v1`, the symbol Node looks up (Node-API
/// module version 1) when it `dlopen`s the addon, and registers the given
/// functions on `exports`, after calling `init` once per env. Use once, anywhere in the crate:
///
/// ```ignore
/// napi::register_module! {
///     init: setup;
///     "spawn" => spawn,
///     "probe" => probe,
/// }
/// ```
/// No `node_api_module_get_api_version_v1` is exported, so Node runs the
/// module at Node-API version 8 semantics.
macro_rules! register_module {
    (init: $init:expr; $($name:literal => $cb:expr),* $(,)?) => {
        /// Module entry point called by Node (see `napi::register_module!`).
        ///
        /// # Safety
        /// Only Node calls this, once per env, on the JS thread.
        #[no_mangle]
        pub unsafe extern "C" fn napi_register_module_v1(
            env: $crate::napi::sys::napi_env,
            exports: $crate::napi::sys::napi_value,
        ) -> $crate::napi::sys::napi_value {
            $init();
            // SAFETY: Node passes the live env and exports object on the JS thread.
            unsafe {
                $crate::napi::init_module(env, exports, &[$(($name, $cb as $crate::napi::Callback)),*])
            }
        }
    };
}
pub(crate) use register_module;

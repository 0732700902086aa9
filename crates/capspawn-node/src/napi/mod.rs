//! A thin, self-contained Node-API (N-API 8) layer: just what the binding needs.
//!
//! Rules this layer relies on (from the Node-API docs):
//! - An `napi_env` and every `napi_value` are only valid on the JS thread, and a
//!   `napi_value` only until the native callback that produced it returns (its
//!   handle scope closes). [`Env`] and [`Value`] hold raw pointers, so they are
//!   neither `Send` nor `Sync`; never stash a `Value` beyond the callback, use
//!   a [`Ref`] for that.
//! - Only one JS exception can be pending; helpers return [`Error`] and the JS
//!   boundary ([`Env::function`] callbacks, module init) throws it once.
//! - Other threads reach JS only through a thread-safe function: [`Tsfn`]; a descriptor
//!   becoming readable reaches it on its own loop through [`FdWatch`].
//!
//! Register functions with [`register_module!`] from the crate root; see
//! `module.rs`. The `napi-selftest` cargo feature adds `exports.__selftest`.
// A few helpers (Buffers, `has`, `push`, `Tsfn::release`) serve only the selftest, which
// `npm test` runs (scripts/napi-selftest); the binding itself does not need them.
#![allow(dead_code)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod error;
mod fd_watch;
mod instance_data;
mod module;
#[cfg(feature = "napi-selftest")]
mod selftest;
pub mod sys;
mod tsfn;
mod value;

// With `mod napi;` (not `pub mod`) in lib.rs, unused re-exports would warn.
#[allow(unused_imports)]
pub(crate) use module::register_module;
#[allow(unused_imports)]
pub use {
    error::{Error, PropValue, Result, ERR_INTERNAL, ERR_NAPI},
    fd_watch::{raise_pending, FdWatch, Ref},
    module::{init_module, Callback, MAX_ARGS},
    tsfn::Tsfn,
    value::{Own, ValueType},
};

/// The `napi_env` of the current call: valid on the JS thread while Node is
/// inside a native callback that received it. `Copy`, not `Send`.
#[derive(Clone, Copy, Debug)]
pub struct Env(sys::napi_env);

impl Env {
    /// Wraps a raw env.
    ///
    /// # Safety
    /// `raw` must be the env Node passed to the native callback that is running
    /// now on this thread, and the `Env` must not outlive that callback.
    pub unsafe fn from_raw(raw: sys::napi_env) -> Self {
        Env(raw)
    }
}

/// A JS value handle (`napi_value`), valid until the current callback returns.
#[derive(Clone, Copy, Debug)]
#[repr(transparent)]
pub struct Value(sys::napi_value);

impl Value {
    /// Wraps a raw handle.
    ///
    /// # Safety
    /// `raw` must be a live handle of the env of the running callback.
    pub unsafe fn from_raw(raw: sys::napi_value) -> Self {
        Value(raw)
    }
}

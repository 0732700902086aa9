//! Keeping JS values alive across callbacks (`napi_ref`) and per-env state.

use std::any::Any;
use std::ffi::c_void;
use std::ptr;

use super::{sys, Env, Error, Result, Value};

/// A strong reference (`napi_create_reference` with count 1): keeps a JS
/// value alive beyond the callback that received it. JS-thread only (not
/// `Send`). Must be given back with [`Ref::delete`]; a `Ref` that is just
/// dropped leaks the value until the env is torn down.
#[derive(Debug)]
pub struct Ref(sys::napi_ref);

impl Env {
    /// `napi_create_reference(value, 1)`.
    pub fn reference(self, value: Value) -> Result<Ref> {
        let mut out = ptr::null_mut();
        // SAFETY: live env, handle of this env, valid out-slot.
        self.check(unsafe { sys::napi_create_reference(self.0, value.0, 1, &mut out) })?;
        Ok(Ref(out))
    }

    /// `napi_set_instance_data`: stores per-env state, dropped by Node's
    /// finalizer when the env (main thread or worker) is torn down. Set-once:
    /// Node would overwrite silently without finalizing the old data, which
    /// would also invalidate outstanding [`Env::instance_data`] borrows.
    pub fn set_instance_data<T: 'static>(self, data: T) -> Result<()> {
        if self.raw_instance_data()?.is_some() {
            return Err(Error::napi("instance data is already set"));
        }
        let boxed: Box<Box<dyn Any>> = Box::new(Box::new(data));
        let raw = Box::into_raw(boxed).cast::<c_void>();
        // SAFETY: live env; `raw` is a leaked `Box<Box<dyn Any>>` that only
        // `drop_instance_data` frees, called once by Node at env teardown.
        let status = unsafe {
            sys::napi_set_instance_data(self.0, raw, Some(drop_instance_data), ptr::null_mut())
        };
        if let Err(e) = self.check(status) {
            // SAFETY: Node did not take `raw`; we still own it.
            drop(unsafe { Box::from_raw(raw.cast::<Box<dyn Any>>()) });
            return Err(e);
        }
        Ok(())
    }

    /// `napi_get_instance_data`, downcast to `T` (`None` if unset or another type).
    pub fn instance_data<T: 'static>(&self) -> Result<Option<&T>> {
        // SAFETY: set only by `set_instance_data` (a `Box<Box<dyn Any>>`), never
        // replaced, and freed only at env teardown, after the last callback
        // that could hold this `Env`.
        Ok(self
            .raw_instance_data()?
            .and_then(|p| unsafe { &*p }.downcast_ref::<T>()))
    }

    fn raw_instance_data(self) -> Result<Option<*const Box<dyn Any>>> {
        let mut data = ptr::null_mut();
        // SAFETY: live env, valid out-slot.
        self.check(unsafe { sys::napi_get_instance_data(self.0, &mut data) })?;
        Ok((!data.is_null()).then_some(data.cast_const().cast()))
    }
}

unsafe extern "C" fn drop_instance_data(
    _env: sys::napi_env,
    data: *mut c_void,
    _hint: *mut c_void,
) {
    // SAFETY: `data` is the `Box<Box<dyn Any>>` leaked in `set_instance_data`;
    // Node calls this finalizer exactly once.
    drop(unsafe { Box::from_raw(data.cast::<Box<dyn Any>>()) });
}

impl Ref {
    /// `napi_get_reference_value`: the referenced value as a fresh handle.
    pub fn get(&self, env: Env) -> Result<Value> {
        let mut out = ptr::null_mut();
        // SAFETY: live env; `self.0` is an undeleted reference of this env.
        env.check(unsafe { sys::napi_get_reference_value(env.0, self.0, &mut out) })?;
        Ok(Value(out))
    }

    /// `napi_delete_reference`: lets the value be collected again.
    pub fn delete(self, env: Env) -> Result<()> {
        // SAFETY: live env; consuming `self` makes this the only delete.
        env.check(unsafe { sys::napi_delete_reference(env.0, self.0) })
    }
}

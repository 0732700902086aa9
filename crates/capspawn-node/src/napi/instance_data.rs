//! Per-env state (`napi_set_instance_data`).

use std::any::Any;
use std::ffi::c_void;
use std::ptr;

use super::{sys, Env, Error, Result};

impl Env {
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

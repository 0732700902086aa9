//! Errors that cross into JS as real `Error` objects with a `.code`.

use std::ffi::{CStr, CString};
use std::fmt;
use std::ptr;

use super::sys;
use super::{Env, Value, ValueType};

/// Result of every fallible helper in this layer.
pub type Result<T> = std::result::Result<T, Error>;

/// Code for a failed Node-API call inside this layer (a bug or a dying env).
pub const ERR_NAPI: &str = "ERR_CAPSPAWN_NAPI";
/// Code for a Rust panic caught at the JS boundary.
pub const ERR_INTERNAL: &str = "ERR_CAPSPAWN_INTERNAL";

/// An extra property set on the JS error object next to `code` and `message`.
#[derive(Debug, Clone, PartialEq)]
pub enum PropValue {
    /// A JS string.
    Str(String),
    /// A JS number (`napi_create_int64`: exact up to 2^53 in magnitude).
    Int(i64),
    /// A JS number.
    Num(f64),
    /// A JS boolean.
    Bool(bool),
    /// A JS array of strings, e.g. `remaining: ['CAP_NET_RAW']`.
    StrList(Vec<String>),
}

macro_rules! prop_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl From<$t> for PropValue {
            fn from($v: $t) -> Self {
                $e
            }
        }
    )*};
}
prop_from! {
    &str => |v| PropValue::Str(v.to_owned()),
    String => |v| PropValue::Str(v),
    i32 => |v| PropValue::Int(v.into()),
    u32 => |v| PropValue::Int(v.into()),
    i64 => |v| PropValue::Int(v),
    f64 => |v| PropValue::Num(v),
    bool => |v| PropValue::Bool(v),
    Vec<String> => |v| PropValue::StrList(v),
    &[&str] => |v| PropValue::StrList(v.iter().map(|s| (*s).to_owned()).collect()),
}

/// A JS-bound error: becomes `new Error(message)` with `code` and `props` set.
///
/// Plain data (no JS handles), so it is `Send` and can be built on any thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    /// Node-style code, e.g. `ERR_INVALID_ARG_TYPE` or `ENOENT`.
    pub code: String,
    /// The JS `error.message`.
    pub message: String,
    /// Extra properties such as `errno`, `syscall`, `stage`, `remaining`.
    pub props: Vec<(String, PropValue)>,
}

impl Error {
    /// An error with `code` and `message` and no extra properties.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            code: code.into(),
            message: message.into(),
            props: Vec::new(),
        }
    }

    /// Adds one extra property (builder style).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<PropValue>) -> Self {
        self.props.push((key.into(), value.into()));
        self
    }

    /// Prefixes the message with what was being converted, e.g. `options.cwd`.
    pub fn context(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// `ERR_INVALID_ARG_TYPE`: a JS value had the wrong type.
    pub fn invalid_type(expected: &str, got: ValueType) -> Self {
        Error::new(
            "ERR_INVALID_ARG_TYPE",
            format!("expected {expected}, received {}", got.name()),
        )
    }

    /// `ERR_CAPSPAWN_NAPI` with a message (no env at hand, e.g. off-thread).
    pub fn napi(message: impl Into<String>) -> Self {
        Error::new(ERR_NAPI, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

/// A `CString` for a property or function name (Node-API wants NUL-terminated names).
pub(crate) fn c_name(name: &str) -> Result<CString> {
    CString::new(name).map_err(|_| Error::new("ERR_INVALID_ARG_VALUE", "name contains NUL"))
}

impl Env {
    /// Turns a `napi_status` into `Ok(())` or an `ERR_CAPSPAWN_NAPI` error whose
    /// message comes from `napi_get_last_error_info`, which must be (and here
    /// is) read right after the failing call, before any other Node-API call.
    pub fn check(self, status: sys::napi_status) -> Result<()> {
        if status == sys::napi_ok {
            return Ok(());
        }
        let mut info: *const sys::napi_extended_error_info = ptr::null();
        // SAFETY: `self.0` is a live env on this thread (`Env` invariant) and
        // `info` is a valid out-pointer.
        let got = unsafe { sys::napi_get_last_error_info(self.0, &mut info) };
        // SAFETY: on success Node points `info` at its per-env struct, valid
        // until the next Node-API call; `error_message` is NULL or a static C string.
        let text = unsafe {
            match info.as_ref() {
                Some(i) if got == sys::napi_ok && !i.error_message.is_null() => {
                    CStr::from_ptr(i.error_message)
                        .to_string_lossy()
                        .into_owned()
                }
                _ => "unknown Node-API failure".to_owned(),
            }
        };
        Err(Error::napi(format!("{text} (napi_status {status})")))
    }

    /// Builds the JS `Error` for `err` without throwing it (`napi_create_error`
    /// sets `code`; each extra prop is then set as an own property), e.g. to
    /// pass it as the first argument of a Node-style callback.
    pub fn error_value(self, err: &Error) -> Result<Value> {
        let (code, msg) = (self.string(&err.code)?, self.string(&err.message)?);
        let mut out = ptr::null_mut();
        // SAFETY: live env; `code` and `msg` are string handles of this env.
        self.check(unsafe { sys::napi_create_error(self.0, code.0, msg.0, &mut out) })?;
        let obj = Value(out);
        for (key, prop) in &err.props {
            let v = match prop {
                PropValue::Str(s) => self.string(s)?,
                PropValue::Int(i) => self.int64(*i)?,
                PropValue::Num(n) => self.double(*n)?,
                PropValue::Bool(b) => self.boolean(*b)?,
                PropValue::StrList(list) => {
                    let arr = self.array_with_len(list.len())?;
                    for (i, s) in list.iter().enumerate() {
                        self.set_element(arr, index(i)?, self.string(s)?)?;
                    }
                    arr
                }
            };
            self.set(obj, key, v)?;
        }
        Ok(obj)
    }

    /// Throws `err` as a JS exception (`napi_throw`). If another exception is
    /// already pending (e.g. a getter threw), that one is kept: Node-API allows
    /// only one, and the JS one is the more precise cause. If building the error
    /// object fails, falls back to `napi_throw_error(code, message)`.
    pub fn throw(self, err: &Error) {
        if self.exception_pending() {
            return;
        }
        if let Ok(obj) = self.error_value(err) {
            // SAFETY: live env; `obj` is a handle of this env.
            if unsafe { sys::napi_throw(self.0, obj.0) } == sys::napi_ok {
                return;
            }
        }
        let clean = |s: &str| CString::new(s.replace('\0', "\\0")).unwrap_or_default();
        let (code, msg) = (clean(&err.code), clean(&err.message));
        // SAFETY: live env; both pointers are NUL-terminated and outlive the call.
        unsafe { sys::napi_throw_error(self.0, code.as_ptr(), msg.as_ptr()) };
    }

    /// `napi_is_exception_pending`: whether a JS exception is waiting to propagate.
    pub fn exception_pending(self) -> bool {
        let mut pending = false;
        // SAFETY: live env; `pending` is a valid out-pointer.
        let status = unsafe { sys::napi_is_exception_pending(self.0, &mut pending) };
        status == sys::napi_ok && pending
    }
}

/// A JS array index from a Rust length/index (JS arrays hold < 2^32 items).
pub(crate) fn index(i: usize) -> Result<u32> {
    u32::try_from(i).map_err(|_| Error::new("ERR_OUT_OF_RANGE", "array index exceeds 2^32-1"))
}

//! Creating JS values and reading them back with strict type checks.

use std::ptr;

use super::error::{c_name, index};
use super::{sys, Env, Error, Result, Value};

/// JS type of a value, as `napi_typeof` reports it (arrays are `Object`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    Undefined,
    Null,
    Boolean,
    Number,
    String,
    Symbol,
    Object,
    Function,
    External,
    BigInt,
}

impl ValueType {
    /// The lowercase name used in error messages (`typeof`, plus `null`).
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Undefined => "undefined",
            ValueType::Null => "null",
            ValueType::Boolean => "boolean",
            ValueType::Number => "number",
            ValueType::String => "string",
            ValueType::Symbol => "symbol",
            ValueType::Object => "object",
            ValueType::Function => "function",
            ValueType::External => "external",
            ValueType::BigInt => "bigint",
        }
    }
}

/// Largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Defines `Env` methods wrapping a Node-API call that takes only plain values
/// and yields one `napi_value`.
macro_rules! plain_creators {
    ($($(#[doc = $doc:literal])+ $name:ident($($arg:ident: $ty:ty),*) => $napi:ident;)*) => {
        impl Env {$(
            $(#[doc = $doc])+
            pub fn $name(self, $($arg: $ty),*) -> Result<Value> {
                // SAFETY: `self.0` is the live env of the running callback
                // (`Env` invariant); the other arguments are plain values and
                // `r` is a valid out-slot.
                self.make(|r| unsafe { sys::$napi(self.0, $($arg,)* r) })
            }
        )*}
    };
}

plain_creators! {
    /// `napi_get_undefined`.
    undefined() => napi_get_undefined;
    /// `napi_get_null`.
    null() => napi_get_null;
    /// `napi_get_boolean`.
    boolean(b: bool) => napi_get_boolean;
    /// `napi_create_int32`.
    int32(n: i32) => napi_create_int32;
    /// `napi_create_uint32`.
    uint32(n: u32) => napi_create_uint32;
    /// `napi_create_int64`: a JS number, so exact only up to 2^53 in magnitude.
    int64(n: i64) => napi_create_int64;
    /// `napi_create_double`.
    double(n: f64) => napi_create_double;
    /// `napi_create_object`: `{}`.
    object() => napi_create_object;
    /// `napi_create_array`: `[]`.
    array() => napi_create_array;
    /// `napi_create_array_with_length`: `new Array(len)`, to fill with `set_element`.
    array_with_len(len: usize) => napi_create_array_with_length;
}

impl Env {
    /// Runs one Node-API call that fills an out-parameter (`init` is its
    /// placeholder) and checks its status.
    fn out<T>(self, init: T, call: impl FnOnce(&mut T) -> sys::napi_status) -> Result<T> {
        let mut slot = init;
        self.check(call(&mut slot))?;
        Ok(slot)
    }

    /// Runs a Node-API call that yields a `napi_value`.
    fn make(self, call: impl FnOnce(&mut sys::napi_value) -> sys::napi_status) -> Result<Value> {
        self.out(ptr::null_mut(), call).map(Value)
    }

    /// `napi_create_string_utf8` with an explicit length (no NUL needed; NULs kept).
    pub fn string(self, s: &str) -> Result<Value> {
        // SAFETY: live env, valid out-slot; `s` is valid UTF-8 of exactly `s.len()` bytes.
        self.make(|r| unsafe {
            sys::napi_create_string_utf8(self.0, s.as_ptr().cast(), s.len(), r)
        })
    }

    /// `napi_create_buffer_copy`: a new Node `Buffer` holding a copy of `bytes`.
    pub fn buffer_copy(self, bytes: &[u8]) -> Result<Value> {
        let data = bytes.as_ptr().cast();
        // SAFETY: live env, valid out-slot; Node copies `bytes.len()` bytes
        // from `data` during the call; the optional `result_data` is NULL.
        self.make(|r| unsafe {
            sys::napi_create_buffer_copy(self.0, bytes.len(), data, ptr::null_mut(), r)
        })
    }

    /// `napi_set_named_property`: `obj[name] = value` (may run JS setters).
    pub fn set(self, obj: Value, name: &str, value: Value) -> Result<()> {
        let name = c_name(name)?;
        // SAFETY: live env, handles of this env, NUL-terminated name.
        self.check(unsafe { sys::napi_set_named_property(self.0, obj.0, name.as_ptr(), value.0) })
    }

    /// `napi_get_named_property`: `obj[name]`, `None` when it is `undefined`
    /// (absent or explicitly undefined). Rejects non-objects with
    /// `ERR_INVALID_ARG_TYPE`. May run JS getters.
    pub fn get(self, obj: Value, name: &str) -> Result<Option<Value>> {
        self.expect_object(obj)?;
        let (v, t) = self.named_property(obj, name)?;
        Ok((t != ValueType::Undefined).then_some(v))
    }

    /// `napi_get_named_property` on an object, and the value's type: the name from the stack
    /// when it is short.
    fn named_property(self, obj: Value, name: &str) -> Result<(Value, ValueType)> {
        let mut small = [0u8; SMALL_NAME];
        let owned;
        let name_ptr = if name.len() < SMALL_NAME && !name.bytes().any(|b| b == 0) {
            small[..name.len()].copy_from_slice(name.as_bytes());
            small.as_ptr().cast()
        } else {
            owned = c_name(name)?;
            owned.as_ptr()
        };
        // SAFETY: live env, handle of this env, a NUL-terminated name (`small` is zeroed past
        // `name`; `owned` is a CString), valid out-slot.
        let v =
            self.make(|r| unsafe { sys::napi_get_named_property(self.0, obj.0, name_ptr, r) })?;
        Ok((v, self.value_type(v)?))
    }

    /// `napi_has_own_property` on an object.
    fn has_own(self, obj: Value, name: &str) -> Result<bool> {
        let key = self.string(name)?;
        // SAFETY: live env, handles of this env, valid out-slot.
        self.out(false, |r| unsafe {
            sys::napi_has_own_property(self.0, obj.0, key.0, r)
        })
    }

    /// A reader of `obj`'s own properties (see [`Own`]). Rejects non-objects with
    /// `ERR_INVALID_ARG_TYPE`.
    pub fn own(self, obj: Value) -> Result<Own> {
        self.expect_object(obj)?;
        // SAFETY: live env, an object handle of this env, valid out-slot.
        let proto = self.make(|r| unsafe { sys::napi_get_prototype(self.0, obj.0, r) })?;
        Ok(Own {
            env: self,
            obj,
            bare: self.value_type(proto)? == ValueType::Null,
        })
    }

    /// `napi_has_named_property`: `name in obj`.
    pub fn has(self, obj: Value, name: &str) -> Result<bool> {
        self.expect_object(obj)?;
        let name = c_name(name)?;
        // SAFETY: live env, handle of this env, NUL-terminated name, valid out-slot.
        self.out(false, |r| unsafe {
            sys::napi_has_named_property(self.0, obj.0, name.as_ptr(), r)
        })
    }

    /// `napi_set_element`: `arr[i] = value`.
    pub fn set_element(self, arr: Value, i: u32, value: Value) -> Result<()> {
        // SAFETY: live env and handles of this env.
        self.check(unsafe { sys::napi_set_element(self.0, arr.0, i, value.0) })
    }

    /// `arr.push(value)` via `napi_get_array_length` + `napi_set_element`.
    pub fn push(self, arr: Value, value: Value) -> Result<()> {
        let len = self.array_len(arr)?;
        self.set_element(arr, len, value)
    }

    /// `napi_get_element`: `arr[i]` (`undefined` past the end).
    pub fn element(self, arr: Value, i: u32) -> Result<Value> {
        // SAFETY: live env, handle of this env, valid out-slot.
        self.make(|r| unsafe { sys::napi_get_element(self.0, arr.0, i, r) })
    }

    /// `napi_typeof`.
    pub fn value_type(self, v: Value) -> Result<ValueType> {
        // SAFETY: live env, handle of this env, valid out-slot.
        let t = self.out(sys::napi_undefined, |r| unsafe {
            sys::napi_typeof(self.0, v.0, r)
        })?;
        Ok(match t {
            sys::napi_undefined => ValueType::Undefined,
            sys::napi_null => ValueType::Null,
            sys::napi_boolean => ValueType::Boolean,
            sys::napi_number => ValueType::Number,
            sys::napi_string => ValueType::String,
            sys::napi_symbol => ValueType::Symbol,
            sys::napi_object => ValueType::Object,
            sys::napi_function => ValueType::Function,
            sys::napi_external => ValueType::External,
            sys::napi_bigint => ValueType::BigInt,
            other => return Err(Error::napi(format!("unknown napi_valuetype {other}"))),
        })
    }

    /// Fails with `ERR_INVALID_ARG_TYPE` unless `typeof v` is `want`.
    pub fn expect(self, v: Value, want: ValueType) -> Result<()> {
        match self.value_type(v)? {
            t if t == want => Ok(()),
            t => Err(Error::invalid_type(want.name(), t)),
        }
    }

    fn expect_object(self, v: Value) -> Result<()> {
        match self.value_type(v)? {
            ValueType::Object | ValueType::Function => Ok(()),
            t => Err(Error::invalid_type("object", t)),
        }
    }

    /// `napi_get_value_string_utf8`: once into a stack buffer when the string fits with room to
    /// spare, else twice (length, then copy). Strings only: nothing is coerced. Lone surrogates
    /// come back as U+FFFD; NULs are kept.
    pub fn to_string(self, v: Value) -> Result<String> {
        self.expect(v, ValueType::String)?;
        let mut small = [0u8; SMALL_STRING];
        // SAFETY: live env, a string handle (checked above); `small` is writable for its length
        // (the string, cut to fit, plus a NUL).
        let written = self.out(0, |r| unsafe {
            sys::napi_get_value_string_utf8(self.0, v.0, small.as_mut_ptr().cast(), SMALL_STRING, r)
        })?;
        // Node cuts a string that does not fit before the first character that does not (at
        // most 4 UTF-8 bytes): when 4 or more bytes besides the NUL stayed free, it was whole.
        if written + 4 < SMALL_STRING {
            let bytes = &small[..written];
            return Ok(String::from_utf8(bytes.to_vec())
                .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned()));
        }
        // SAFETY: live env, string handle; a NULL buffer asks for the length only.
        let len = self.out(0, |r| unsafe {
            sys::napi_get_value_string_utf8(self.0, v.0, ptr::null_mut(), 0, r)
        })?;
        let mut buf = vec![0u8; len + 1];
        // SAFETY: `buf` is writable for `len + 1` bytes (string plus NUL).
        let written = self.out(0, |r| unsafe {
            sys::napi_get_value_string_utf8(self.0, v.0, buf.as_mut_ptr().cast(), len + 1, r)
        })?;
        buf.truncate(written);
        Ok(String::from_utf8(buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// `napi_get_value_double` for numbers only (NaN and ±Infinity included).
    pub fn to_f64(self, v: Value) -> Result<f64> {
        self.expect(v, ValueType::Number)?;
        // SAFETY: live env, number handle, valid out-slot.
        self.out(0.0, |r| unsafe {
            sys::napi_get_value_double(self.0, v.0, r)
        })
    }

    /// A number that is an integer within ±(2^53-1), else `ERR_OUT_OF_RANGE`.
    /// (Unlike `napi_get_value_int64`, never truncates, saturates or maps NaN to 0.)
    pub fn to_i64(self, v: Value) -> Result<i64> {
        let n = self.to_f64(v)?;
        if n.fract() != 0.0 || !n.is_finite() || n.abs() > MAX_SAFE_INTEGER {
            return Err(Error::new(
                "ERR_OUT_OF_RANGE",
                format!("expected a safe integer, received {n}"),
            ));
        }
        Ok(n as i64)
    }

    /// An integer in `0..=2^32-1`, else `ERR_OUT_OF_RANGE`.
    /// (Unlike `napi_get_value_uint32`, `-1` is rejected instead of wrapping.)
    pub fn to_u32(self, v: Value) -> Result<u32> {
        self.to_integer(v, "0..=4294967295")
    }

    /// An integer in `i32`'s range (a descriptor, a signal), else `ERR_OUT_OF_RANGE`.
    /// (Unlike `napi_get_value_int32`, never wraps.)
    pub fn to_i32(self, v: Value) -> Result<i32> {
        self.to_integer(v, "-2147483648..=2147483647")
    }

    /// A safe integer that fits `T`, else `ERR_OUT_OF_RANGE` naming `range`.
    fn to_integer<T: TryFrom<i64>>(self, v: Value, range: &str) -> Result<T> {
        let n = self.to_i64(v)?;
        T::try_from(n).map_err(|_| {
            Error::new(
                "ERR_OUT_OF_RANGE",
                format!("expected {range}, received {n}"),
            )
        })
    }

    /// `napi_get_value_bool` for booleans only (no truthiness).
    pub fn to_bool(self, v: Value) -> Result<bool> {
        self.expect(v, ValueType::Boolean)?;
        // SAFETY: live env, boolean handle, valid out-slot.
        self.out(false, |r| unsafe {
            sys::napi_get_value_bool(self.0, v.0, r)
        })
    }

    /// `napi_is_array`: `Array.isArray(v)`.
    pub fn is_array(self, v: Value) -> Result<bool> {
        // SAFETY: live env, handle of this env, valid out-slot.
        self.out(false, |r| unsafe { sys::napi_is_array(self.0, v.0, r) })
    }

    /// `napi_get_array_length`; non-arrays fail with `ERR_INVALID_ARG_TYPE`.
    pub fn array_len(self, v: Value) -> Result<u32> {
        if !self.is_array(v)? {
            return Err(Error::invalid_type("array", self.value_type(v)?));
        }
        // SAFETY: live env, array handle, valid out-slot.
        self.out(0, |r| unsafe { sys::napi_get_array_length(self.0, v.0, r) })
    }

    /// `napi_is_buffer`: a Node `Buffer` (in Node 20, any `ArrayBufferView`).
    pub fn is_buffer(self, v: Value) -> Result<bool> {
        // SAFETY: live env, handle of this env, valid out-slot.
        self.out(false, |r| unsafe { sys::napi_is_buffer(self.0, v.0, r) })
    }

    /// `napi_get_buffer_info`, copied out. A copy, not a borrowed `&[u8]`: the
    /// backing store belongs to JS, and any JS that runs meanwhile (a getter
    /// reached through `get`, say) could write to or detach it under a Rust
    /// shared borrow. Non-buffers fail with `ERR_INVALID_ARG_TYPE`.
    pub fn buffer_bytes(self, v: Value) -> Result<Vec<u8>> {
        if !self.is_buffer(v)? {
            return Err(Error::invalid_type("Buffer", self.value_type(v)?));
        }
        let mut data = ptr::null_mut();
        // SAFETY: live env, buffer handle, valid out-slots.
        let len = self.out(0, |r| unsafe {
            sys::napi_get_buffer_info(self.0, v.0, &mut data, r)
        })?;
        if len == 0 || data.is_null() {
            return Ok(Vec::new());
        }
        // SAFETY: Node reports `len` readable bytes at `data`; no JS runs
        // between that call and this copy, so they are neither freed nor written.
        Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) }.to_vec())
    }

    /// Builds a JS array from Rust items, converting each with `f`.
    pub fn array_from<I: IntoIterator>(
        self,
        items: I,
        mut f: impl FnMut(I::Item) -> Result<Value>,
    ) -> Result<Value> {
        let arr = self.array()?;
        for (i, item) in items.into_iter().enumerate() {
            self.set_element(arr, index(i)?, f(item)?)?;
        }
        Ok(arr)
    }
}

impl Env {
    /// `napi_call_function(undefined, func, args)`. A JS exception stays pending (and this
    /// returns `Ok`): the caller raises it.
    pub fn call(self, func: Value, args: &[Value]) -> Result<()> {
        let recv = self.undefined()?;
        let raw: Vec<sys::napi_value> = args.iter().map(|v| v.0).collect();
        let mut out = ptr::null_mut();
        // SAFETY: live env; `func`, `recv` and `raw` are handles of this env in the current
        // handle scope.
        let status = unsafe {
            sys::napi_call_function(self.0, recv.0, func.0, raw.len(), raw.as_ptr(), &mut out)
        };
        if status == sys::napi_pending_exception {
            return Ok(());
        }
        self.check(status)
    }
}

/// Strings up to this many UTF-8 bytes (less 5) are read with one call, into the stack.
const SMALL_STRING: usize = 256;

/// Property names shorter than this are passed from the stack.
const SMALL_NAME: usize = 64;

/// Reads an object's own properties only (`napi_has_own_property`), so that nothing on a
/// prototype (a polluted `Object.prototype`) is read for a key the object lacks. An object
/// without a prototype (as `src/options.ts` builds the spec) has nothing to inherit: its
/// properties are read with one `napi_get_named_property` each, without asking first.
#[derive(Copy, Clone)]
pub struct Own {
    env: Env,
    obj: Value,
    bare: bool,
}

impl Own {
    /// `obj[name]` if it is an own property and neither `undefined` nor `null` (the spec's
    /// "not set").
    pub fn field(self, name: &str) -> Result<Option<Value>> {
        if !self.bare && !self.env.has_own(self.obj, name)? {
            return Ok(None);
        }
        let (v, t) = self.env.named_property(self.obj, name)?;
        Ok((t != ValueType::Undefined && t != ValueType::Null).then_some(v))
    }
}

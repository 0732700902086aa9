//! `exports.__selftest` (cargo feature `napi-selftest`, off by default):
//! small functions that exercise this layer from JS. Checked by
//! `crates/capspawn-node/selftest.cjs`.

use std::thread;
use std::time::Duration;

use super::{Env, Error, Result, Tsfn, Value, ValueType};

pub(super) fn register(env: Env, exports: Value) -> Result<()> {
    let obj = env.object()?;
    let fns: [(&str, super::Callback); 6] = [
        ("echo", echo),
        ("typed", typed),
        ("throwCoded", throw_coded),
        ("errorValue", error_value),
        ("panic", panic),
        ("makeTsfn", make_tsfn),
    ];
    for (name, cb) in fns {
        env.set(obj, name, env.function(name, cb)?)?;
    }
    env.set(exports, "__selftest", obj)
}

fn arg(env: Env, args: &[Value], i: usize) -> Result<Value> {
    args.get(i).copied().map_or_else(|| env.undefined(), Ok)
}

/// Rebuilds primitives, arrays (recursively) and Buffers as new JS values.
fn echo(env: Env, args: &[Value]) -> Result<Value> {
    echo_value(env, arg(env, args, 0)?)
}

fn echo_value(env: Env, v: Value) -> Result<Value> {
    match env.value_type(v)? {
        ValueType::Undefined => env.undefined(),
        ValueType::Null => env.null(),
        ValueType::Boolean => env.boolean(env.to_bool(v)?),
        ValueType::Number => env.double(env.to_f64(v)?),
        ValueType::String => env.string(&env.to_string(v)?),
        _ if env.is_buffer(v)? => env.buffer_copy(&env.buffer_bytes(v)?),
        _ if env.is_array(v)? => {
            let out = env.array()?;
            for i in 0..env.array_len(v)? {
                env.push(out, echo_value(env, env.element(v, i)?)?)?;
            }
            Ok(out)
        }
        t => Err(Error::invalid_type("primitive, array or Buffer", t)),
    }
}

/// Reads `{s, i, u, b, list, opt?}` with the strict getters; returns them back.
fn typed(env: Env, args: &[Value]) -> Result<Value> {
    let o = arg(env, args, 0)?;
    let field = |name: &str| -> Result<Value> {
        env.get(o, name)?
            .ok_or_else(|| Error::new("ERR_MISSING_ARGS", format!("{name} is required")))
    };
    let s = env.to_string(field("s")?).map_err(|e| e.context("s"))?;
    let i = env.to_i64(field("i")?).map_err(|e| e.context("i"))?;
    let u = env.to_u32(field("u")?).map_err(|e| e.context("u"))?;
    let b = env.to_bool(field("b")?).map_err(|e| e.context("b"))?;
    let list_v = field("list")?;
    let list = (0..env.array_len(list_v)?)
        .map(|k| env.to_string(env.element(list_v, k)?))
        .collect::<Result<Vec<_>>>()?;
    let out = env.object()?;
    env.set(out, "s", env.string(&s)?)?;
    env.set(out, "i", env.int64(i)?)?;
    env.set(out, "u", env.uint32(u)?)?;
    env.set(out, "i32", env.int32(-7)?)?;
    env.set(out, "b", env.boolean(b)?)?;
    env.set(out, "list", env.array_from(&list, |s| env.string(s))?)?;
    env.set(out, "hasOpt", env.boolean(env.has(o, "opt")?)?)?;
    env.set(out, "optIsNone", env.boolean(env.get(o, "opt")?.is_none())?)?;
    Ok(out)
}

fn coded() -> Error {
    Error::new("ENOENT", "spawn /nonexistent: no such file or directory")
        .with("errno", -2)
        .with("syscall", "execve")
        .with("stage", "exec")
        .with("ratio", 0.5)
        .with("fatal", true)
        .with("remaining", &["CAP_NET_RAW", "CAP_SYS_ADMIN"][..])
}

fn throw_coded(_env: Env, _args: &[Value]) -> Result<Value> {
    Err(coded())
}

fn error_value(env: Env, _args: &[Value]) -> Result<Value> {
    env.error_value(&coded())
}

fn panic(_env: Env, _args: &[Value]) -> Result<Value> {
    panic!("selftest panic");
}

/// `makeTsfn(cb, {count = 3, delayMs = 0, unref = false, fail?: 'error' | 'panic'})`:
/// a thread calls `cb(null, i)` for `i` in `0..count` after `delayMs`, then
/// releases. With `fail`, converting the last item fails instead.
fn make_tsfn(env: Env, args: &[Value]) -> Result<Value> {
    let cb = arg(env, args, 0)?;
    let opts = arg(env, args, 1)?;
    let opt = |name: &str| -> Result<Option<Value>> {
        match env.value_type(opts)? {
            ValueType::Undefined => Ok(None),
            _ => env.get(opts, name),
        }
    };
    let count = opt("count")?
        .map(|v| env.to_u32(v))
        .transpose()?
        .unwrap_or(3);
    let delay = opt("delayMs")?
        .map(|v| env.to_u32(v))
        .transpose()?
        .unwrap_or(0);
    let unref = opt("unref")?
        .map(|v| env.to_bool(v))
        .transpose()?
        .unwrap_or(false);
    let fail = opt("fail")?.map(|v| env.to_string(v)).transpose()?;
    let last = count.saturating_sub(1);
    let tsfn = Tsfn::new(env, cb, "capspawn:selftest", move |env: Env, i: u32| {
        match fail.as_deref() {
            Some("error") if i == last => {
                return Err(Error::new("ERR_SELFTEST_CONVERT", "convert failed"))
            }
            Some("panic") if i == last => panic!("selftest convert panic"),
            _ => {}
        }
        Ok(vec![env.null()?, env.uint32(i)?])
    })?;
    if unref {
        tsfn.unref(env)?;
    }
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(delay.into()));
        for i in 0..count {
            if tsfn.call(i).is_err() {
                break;
            }
        }
        tsfn.release();
    });
    env.undefined()
}

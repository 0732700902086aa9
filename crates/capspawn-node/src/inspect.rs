//! `inspectSelf()` and `inspectPid(pid)`: a `ProcessCaps` as a plain object.

use crate::napi::{Env, Result, Value, ValueType};
use capspawn::{CapMask, ProcessCaps};
use std::ffi::OsStr;
use std::path::Path;

pub fn inspect_self(env: Env, _args: &[Value]) -> Result<Value> {
    let caps = ProcessCaps::of_self().map_err(|errno| crate::errno_error(errno, "capget"))?;
    to_js(env, &caps)
}

pub fn inspect_pid(env: Env, args: &[Value]) -> Result<Value> {
    let pid = env.to_i64(*args.first().unwrap_or(&env.undefined()?))?;
    let pid = i32::try_from(pid).unwrap_or(-1);
    let caps = ProcessCaps::of_pid(pid).map_err(|errno| {
        crate::errno_error(errno, "inspectPid")
            .with("pid", pid)
            .context(&format!("pid {pid}"))
    })?;
    to_js(env, &caps)
}

fn names(env: Env, mask: CapMask) -> Result<Value> {
    env.array_from(mask.names(), |name| env.string(&name))
}

fn to_js(env: Env, caps: &ProcessCaps) -> Result<Value> {
    let object = env.object()?;
    for (key, mask) in caps.sets() {
        env.set(object, key, names(env, mask)?)?;
    }
    env.set(object, "noNewPrivs", env.boolean(caps.no_new_privs)?)?;
    let securebits = match caps.securebits {
        Some(bits) => env.uint32(bits)?,
        None => env.null()?,
    };
    env.set(object, "securebits", securebits)?;
    env.set(object, "lastCap", env.uint32(caps.last_cap.into())?)?;
    env.set(
        object,
        "canClearBoundingSet",
        env.boolean(caps.can_clear_bounding_set())?,
    )?;
    Ok(object)
}

/// `probeBoundingSetClear()`: `{ ok, errno, code, remaining }` from a real trial in a throwaway
/// child.
pub fn probe_bounding_set_clear(env: Env, _args: &[Value]) -> Result<Value> {
    let verdict = capspawn::bounding_set::probe_clear()
        .map_err(|errno| crate::errno_error(errno, "clone"))?;
    let object = env.object()?;
    env.set(object, "ok", env.boolean(verdict.is_ok())?)?;
    if let Err(refused) = verdict {
        let (code, errno) = match refused.errno {
            Some(errno) => (
                env.string(&format!("{errno:?}"))?,
                env.int32(-(errno as i32))?,
            ),
            None => (env.null()?, env.null()?),
        };
        env.set(object, "code", code)?;
        env.set(object, "errno", errno)?;
        env.set(object, "remaining", names(env, refused.remaining)?)?;
        env.set(object, "reason", env.string(&refused.to_string())?)?;
    }
    Ok(object)
}

/// `probeSeccomp()`: whether the seccomp layer works here (`capspawn::seccomp::probe`), as
/// `{ ok, mode, filters, missingActions, code, reason }`.
pub fn probe_seccomp(env: Env, _args: &[Value]) -> Result<Value> {
    let probe = capspawn::seccomp::probe().map_err(|errno| crate::errno_error(errno, "fork"))?;
    let object = env.object()?;
    let ok = probe.trial.is_ok() && probe.missing_actions.is_empty();
    env.set(object, "ok", env.boolean(ok)?)?;
    let number = |n: Option<u64>| match n {
        Some(n) => env.double(n as f64),
        None => env.null(),
    };
    env.set(object, "mode", number(probe.mode.map(u64::from))?)?;
    env.set(object, "filters", number(probe.filters)?)?;
    env.set(
        object,
        "missingActions",
        env.array_from(probe.missing_actions, |name| env.string(name))?,
    )?;
    let (code, reason) = match probe.trial {
        Ok(()) => (env.null()?, env.null()?),
        Err(failure) => (
            match failure.errno {
                Some(errno) => env.string(&format!("{errno:?}"))?,
                None => env.null()?,
            },
            env.string(&failure.to_string())?,
        ),
    };
    env.set(object, "code", code)?;
    env.set(object, "reason", reason)?;
    Ok(object)
}

/// `execFileCapabilities(file, path, cwd)`: after an exec of `file` failed with `EPERM`, the
/// file the search stopped at and its `security.capability` attribute, or null when it has none.
/// `path` is the child's `PATH` and `cwd` its working directory (null: none, the supervisor's).
pub fn exec_file_capabilities(env: Env, args: &[Value]) -> Result<Value> {
    let arg = |i: usize| -> Result<Option<String>> {
        match args.get(i) {
            Some(&value)
                if !matches!(
                    env.value_type(value)?,
                    ValueType::Null | ValueType::Undefined
                ) =>
            {
                Ok(Some(env.to_string(value)?))
            }
            _ => Ok(None),
        }
    };
    let file = arg(0)?.unwrap_or_default();
    let (path, cwd) = (arg(1)?, arg(2)?);
    let found = capspawn::file_caps::of_exec_failure(
        OsStr::new(&file),
        path.as_deref().map(OsStr::new),
        cwd.as_deref().map(Path::new),
    );
    let Some((file, caps)) = found else {
        return env.null();
    };
    let object = env.object()?;
    env.set(object, "path", env.string(&file.to_string_lossy())?)?;
    env.set(object, "revision", env.uint32(caps.revision.into())?)?;
    env.set(object, "effective", env.boolean(caps.effective)?)?;
    env.set(object, "permitted", names(env, caps.permitted)?)?;
    env.set(object, "inheritable", names(env, caps.inheritable)?)?;
    let root_id = match caps.root_id {
        Some(id) => env.uint32(id)?,
        None => env.null()?,
    };
    env.set(object, "rootId", root_id)?;
    Ok(object)
}

/// `probeLayers()`: what the sandbox layers can do here, `{ landlock: { abi }, networkNamespaces }`
/// (`abi` 0: no Landlock). The seccomp layer adds its own key.
pub fn probe_layers(env: Env, _args: &[Value]) -> Result<Value> {
    let object = env.object()?;
    let landlock = env.object()?;
    env.set(
        landlock,
        "abi",
        env.uint32(capspawn::landlock::abi().unwrap_or(0))?,
    )?;
    env.set(object, "landlock", landlock)?;
    env.set(
        object,
        "networkNamespaces",
        env.boolean(capspawn::netns::can_create())?,
    )?;
    Ok(object)
}

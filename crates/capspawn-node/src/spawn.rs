//! `spawn(spec)`: a validated spec (see `src/options.ts`) into a `capspawn::Command`, and the
//! outcome back: `{ id, pid, stdio }`, or `{ failure }` when the child stopped before exec.
//! Errors found before anything was cloned are thrown.

use crate::napi::{Env, Error, Own, Result, Value, ValueType};
use capspawn::{
    BoundingSetPolicy, CapMask, Command, Compatibility, FilesystemSpec, GroupSpec, NetworkSpec,
    SpawnError, Stdio, SupplementaryGroups, UserSpec,
};
use std::os::fd::{AsRawFd, IntoRawFd};

/// A field the spec must have (own properties only: TypeScript builds the spec, but a key it
/// leaves out must not be read from a polluted `Object.prototype`; see [`Own`]).
fn required(spec: Own, name: &str) -> Result<Value> {
    spec.field(name)?
        .ok_or_else(|| Error::new("ERR_INVALID_ARG_VALUE", format!("spec.{name} is missing")))
}

fn strings(env: Env, array: Value) -> Result<Vec<String>> {
    (0..env.array_len(array)?)
        .map(|i| env.to_string(env.element(array, i)?))
        .collect()
}

fn id(env: Env, value: Value) -> Result<u32> {
    env.to_u32(value)
}

fn name_or_id<T>(env: Env, value: Value, name: fn(String) -> T, number: fn(u32) -> T) -> Result<T> {
    match env.value_type(value)? {
        ValueType::Number => Ok(number(id(env, value)?)),
        _ => Ok(name(env.to_string(value)?)),
    }
}

fn stdio(env: Env, value: Value) -> Result<Stdio> {
    if env.value_type(value)? == ValueType::Number {
        return Ok(Stdio::Fd(env.to_i32(value)?));
    }
    match env.to_string(value)?.as_str() {
        "pipe" => Ok(Stdio::Pipe),
        "inherit" => Ok(Stdio::Inherit),
        "ignore" => Ok(Stdio::Null),
        other => Err(Error::new(
            "ERR_INVALID_ARG_VALUE",
            format!("unknown stdio kind {other:?}"),
        )),
    }
}

pub(crate) fn command(env: Env, spec: Value) -> Result<Command> {
    let spec = env.own(spec)?;
    let mut command = Command::new(env.to_string(required(spec, "file")?)?);
    let argv = strings(env, required(spec, "argv")?)?;
    if let Some((argv0, args)) = argv.split_first() {
        command.argv0(argv0).args(args);
    }
    if let Some(vars) = spec.field("env")? {
        let env_flat = strings(env, vars)?;
        command.env_vars(env_flat.chunks_exact(2).map(|pair| (&pair[0], &pair[1])));
    }
    if let Some(cwd) = spec.field("cwd")? {
        command.cwd(env.to_string(cwd)?);
    }
    let kinds = required(spec, "stdio")?;
    for target in 0..env.array_len(kinds)? {
        command.fd(target as usize, stdio(env, env.element(kinds, target)?)?);
    }
    if let Some(peer) = spec.field("terminal")? {
        command.terminal(env.to_i32(peer)?);
    }
    command
        .detached(env.to_bool(required(spec, "detached")?)?)
        .no_new_privs(env.to_bool(required(spec, "noNewPrivs")?)?)
        .require_procfs(env.to_bool(required(spec, "requireProcfs")?)?)
        .bounding_set(
            match env.to_string(required(spec, "boundingSet")?)?.as_str() {
                "inherit" => BoundingSetPolicy::Inherit,
                _ => BoundingSetPolicy::Clear,
            },
        );
    if let Some(user) = spec.field("user")? {
        command.user(name_or_id(env, user, UserSpec::Name, UserSpec::Id)?);
    }
    if let Some(group) = spec.field("group")? {
        command.group(name_or_id(env, group, GroupSpec::Name, GroupSpec::Id)?);
    }
    if let Some(groups) = spec.field("supplementaryGroups")? {
        command.supplementary_groups(if env.is_array(groups)? {
            let gids = (0..env.array_len(groups)?).map(|i| id(env, env.element(groups, i)?));
            SupplementaryGroups::List(gids.collect::<Result<_>>()?)
        } else if env.to_string(groups)? == "init" {
            SupplementaryGroups::Init
        } else {
            SupplementaryGroups::Clear
        });
    }
    if let Some(names) = spec.field("capabilities")? {
        let mut keep = CapMask::EMPTY;
        for name in strings(env, names)? {
            let cap = capspawn::capability::parse(&name).ok_or_else(|| {
                Error::new(
                    "ERR_INVALID_ARG_VALUE",
                    format!("unknown capability {name:?}"),
                )
                .with("capability", name)
            })?;
            keep.0 |= 1 << cap;
        }
        command.capabilities(keep);
    }
    command.lock_securebits(env.to_bool(required(spec, "lockSecurebits")?)?);
    if let Some(mask) = spec.field("umask")? {
        command.umask(env.to_u32(mask)?);
    }
    if let Some(signal) = spec.field("parentDeathSignal")? {
        command.parent_death_signal(env.to_i32(signal)?);
    }
    if let Some(filesystem) = spec.field("filesystem")? {
        let filesystem = env.own(filesystem)?;
        let paths = |name| -> Result<Vec<std::path::PathBuf>> {
            Ok(strings(env, required(filesystem, name)?)?
                .into_iter()
                .map(Into::into)
                .collect())
        };
        command.filesystem(FilesystemSpec {
            read_only: paths("readOnly")?,
            read_write: paths("readWrite")?,
            compatibility: if env.to_bool(required(filesystem, "bestEffort")?)? {
                Compatibility::BestEffort
            } else {
                Compatibility::Hard
            },
            unix_sockets: if env.to_bool(required(filesystem, "allowUnixSockets")?)? {
                capspawn::UnixSockets::Allow
            } else {
                capspawn::UnixSockets::Deny
            },
        });
    }
    if let Some(network) = spec.field("network")? {
        command.network(if env.value_type(network)? == ValueType::String {
            NetworkSpec::None // 'none', the only string the spec holds
        } else {
            let network = env.own(network)?;
            match network.field("path")? {
                Some(path) => NetworkSpec::Path(env.to_string(path)?.into()),
                None => NetworkSpec::Fd(env.to_i32(required(network, "fd")?)?),
            }
        });
    }
    if let Some(limits) = spec.field("rlimits")? {
        for i in 0..env.array_len(limits)? {
            let entry = env.element(limits, i)?;
            let name = env.to_string(env.element(entry, 0)?)?;
            let resource = capspawn::resolve::rlimit_resource(&name).ok_or_else(|| {
                Error::new(
                    "ERR_INVALID_ARG_VALUE",
                    format!("unknown resource limit {name:?}"),
                )
            })?;
            let limit = |i| -> Result<u64> {
                let value = env.element(entry, i)?;
                if env.to_f64(value)? == f64::INFINITY {
                    return Ok(libc::RLIM_INFINITY);
                }
                u64::try_from(env.to_i64(value)?)
                    .map_err(|_| Error::new("ERR_OUT_OF_RANGE", "a resource limit must be >= 0"))
            };
            command.rlimit(resource, limit(1)?, limit(2)?);
        }
    }
    if let Some(seccomp) = spec.field("seccomp")? {
        let seccomp = env.own(seccomp)?;
        let names = |name| -> Result<Vec<String>> {
            Ok(match seccomp.field(name)? {
                Some(list) => strings(env, list)?,
                None => Vec::new(),
            })
        };
        command.seccomp(capspawn::seccomp::Seccomp {
            deny_socket_families: names("denySocketFamilies")?,
            deny_syscalls: names("denySyscalls")?,
            errno: seccomp
                .field("errno")?
                .map(|errno| env.to_string(errno))
                .transpose()?,
            program: seccomp
                .field("program")?
                .map(|program| env.buffer_bytes(program))
                .transpose()?,
        });
    }
    Ok(command)
}

/// The error thrown for a problem found before anything was cloned.
pub(crate) fn thrown(error: SpawnError) -> Error {
    let message = error.to_string();
    match error {
        SpawnError::InvalidInput { what, .. } => {
            Error::new("ERR_INVALID_ARG_VALUE", message).with("option", what)
        }
        SpawnError::UnknownUser(name) => {
            Error::new("ERR_CAPSPAWN_UNKNOWN_USER", message).with("user", name)
        }
        SpawnError::CapabilityNotHeld(missing) => {
            Error::new("ERR_CAPSPAWN_CAPABILITY_NOT_HELD", message)
                .with("capabilities", missing.names())
        }
        SpawnError::UnknownGroup(name) => {
            Error::new("ERR_CAPSPAWN_UNKNOWN_GROUP", message).with("group", name)
        }
        SpawnError::Lookup { errno, what } => crate::errno_error(errno, what),
        SpawnError::Setup { errno, syscall } => crate::errno_error(errno, syscall),
        SpawnError::Child(_) => unreachable!("child failures are returned, not thrown"),
    }
}

pub(crate) fn failure(env: Env, failure: capspawn::Failure) -> Result<Value> {
    let object = env.object()?;
    env.set(object, "stage", env.string(failure.stage.name())?)?;
    env.set(object, "syscall", env.string(failure.stage.syscall())?)?;
    let code = match failure.errno {
        Some(errno) => env.string(&format!("{errno:?}"))?,
        None => env.null()?,
    };
    env.set(object, "code", code)?;
    env.set(object, "errno", env.int32(failure.os_errno() as i32)?)?;
    env.set(object, "message", env.string(&failure.to_string())?)?;
    env.set(
        object,
        "remaining",
        env.array_from(failure.remaining.names(), |name| env.string(&name))?,
    )?;
    let result = env.object()?;
    env.set(result, "failure", object)?;
    Ok(result)
}

/// A `landlock::Report` as `{ abi, enforced, unenforced }`.
pub(crate) fn landlock_report(env: Env, report: &capspawn::landlock::Report) -> Result<Value> {
    let object = env.object()?;
    env.set(object, "abi", env.uint32(report.abi)?)?;
    env.set(object, "enforced", env.boolean(report.enforced)?)?;
    let unenforced = env.array_from(report.unenforced.clone(), |name| env.string(name))?;
    env.set(object, "unenforced", unenforced)?;
    Ok(object)
}

pub fn spawn(env: Env, args: &[Value]) -> Result<Value> {
    let spec = *args.first().unwrap_or(&env.undefined()?);
    env.expect(spec, ValueType::Object)?;
    let watcher = crate::exits::Watcher::new(env)?;
    let command = command(env, spec)?;
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(SpawnError::Child(child_failure)) => return failure(env, child_failure),
        Err(error) => return Err(thrown(error)),
    };
    let standard = [child.stdin.take(), child.stdout.take(), child.stderr.take()];
    let ends: Vec<_> = standard
        .into_iter()
        .chain(std::mem::take(&mut child.extra))
        .collect();
    let pid = child.pid;
    let (id, reaper) = watcher.watch(child)?;
    let fds: Vec<_> = ends
        .iter()
        .map(|fd| fd.as_ref().map_or(-1, AsRawFd::as_raw_fd))
        .collect();
    let built = (|| {
        let result = env.object()?;
        env.set(result, "id", env.double(id as f64)?)?;
        env.set(result, "pid", env.int32(pid)?)?;
        env.set(result, "stdio", env.array_from(fds, |fd| env.int32(fd))?)?;
        if let Some(report) = command.landlock_report() {
            env.set(result, "landlock", landlock_report(env, &report)?)?;
        }
        Ok(result)
    })();
    match built {
        Ok(result) => {
            // JavaScript owns the supervisor's ends from here.
            for fd in ends.into_iter().flatten() {
                let _ = fd.into_raw_fd();
            }
            Ok(result)
        }
        Err(error) => {
            // The result could not be built (a setter on a polluted prototype threw): nobody
            // knows this child, so stop it; its ends are closed as they drop.
            let _ = reaper.signal(id, libc::SIGKILL);
            Err(error)
        }
    }
}

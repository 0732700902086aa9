//! `spawnSync(spec, run)`: the spec of `spawn` (see `spawn.rs`) plus how to run it to its end,
//! `{ input: Buffer | null, timeout: ms (0: none), killSignal, maxBuffer: bytes | null }`,
//! into `Command::run`; the outcome back as `{ pid, status, signal, output, error, errno }`, or
//! `{ failure }` when the child stopped before exec. It blocks the calling thread, as Node's
//! `spawnSync` does. Errors found before anything was cloned are thrown.

use crate::napi::{Env, Result, Value, ValueType};
use capspawn::{ExitStatus, RunOptions, SpawnError};
use std::time::Duration;

fn run_options(env: Env, run: Value) -> Result<RunOptions> {
    let run = env.own(run)?;
    let input = run
        .field("input")?
        .map(|value| env.buffer_bytes(value))
        .transpose()?;
    let timeout = match run.field("timeout")? {
        Some(ms) => env.to_i64(ms)?,
        None => 0,
    };
    let max_buffer = run
        .field("maxBuffer")?
        .map(|bytes| env.to_f64(bytes))
        .transpose()?
        // Fractions and sizes past usize round down, as the byte count is compared with `>`.
        .map(|bytes| bytes as usize);
    Ok(RunOptions {
        input,
        timeout: (timeout > 0).then(|| Duration::from_millis(timeout as u64)),
        kill_signal: match run.field("killSignal")? {
            Some(signal) => env.to_i32(signal)?,
            None => libc::SIGTERM,
        },
        max_buffer,
    })
}

pub fn spawn_sync(env: Env, args: &[Value]) -> Result<Value> {
    let undefined = env.undefined()?;
    let spec = *args.first().unwrap_or(&undefined);
    let run = *args.get(1).unwrap_or(&undefined);
    env.expect(spec, ValueType::Object)?;
    env.expect(run, ValueType::Object)?;
    let options = run_options(env, run)?;
    let command = crate::spawn::command(env, spec)?;
    let outcome = match command.run(&options) {
        Ok(outcome) => outcome,
        Err(SpawnError::Child(child_failure)) => return crate::spawn::failure(env, child_failure),
        Err(error) => return Err(crate::spawn::thrown(error)),
    };
    let result = env.object()?;
    env.set(result, "pid", env.int32(outcome.pid)?)?;
    let (status, signal) = match outcome.status {
        ExitStatus::Exited(code) => (env.int32(code)?, env.null()?),
        ExitStatus::Signaled { signal, .. } => (env.null()?, env.int32(signal)?),
    };
    env.set(result, "status", status)?;
    env.set(result, "signal", signal)?;
    let output = env.array_from(outcome.output, |bytes| match bytes {
        Some(bytes) => env.buffer_copy(&bytes),
        None => env.null(),
    })?;
    env.set(result, "output", output)?;
    let (code, errno) = match outcome.error {
        Some(errno) => (env.string(&format!("{errno:?}"))?, env.int32(errno as i32)?),
        None => (env.null()?, env.null()?),
    };
    env.set(result, "error", code)?;
    env.set(result, "errno", errno)?;
    if let Some(report) = command.landlock_report() {
        env.set(
            result,
            "landlock",
            crate::spawn::landlock_report(env, &report)?,
        )?;
    }
    Ok(result)
}

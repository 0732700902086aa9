//! `Command::run`: a workload run to its end on the calling thread, as spawnSync does.

use capspawn::{Command, Errno, ExitStatus, RunOptions, SpawnError, Stage, Stdio};
use std::time::Duration;

fn sh(script: &str) -> Command {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(script)
        .stdin(Stdio::Pipe)
        .stdout(Stdio::Pipe)
        .stderr(Stdio::Pipe);
    command
}

#[test]
fn output_status_and_input_are_those_of_the_child() {
    let run = sh("cat; echo err >&2; exit 3")
        .run(&RunOptions {
            input: Some(b"fed through stdin".to_vec()),
            ..RunOptions::default()
        })
        .unwrap();
    assert_eq!(run.status, ExitStatus::Exited(3));
    assert_eq!(run.error, None);
    assert_eq!(
        run.output,
        vec![
            None,
            Some(b"fed through stdin".to_vec()),
            Some(b"err\n".to_vec())
        ]
    );
    assert!(run.pid > 0);
}

#[test]
fn a_large_input_and_output_cross_without_deadlock() {
    // 4 MiB each way: far over a pipe's buffer, so the loop must write and read in turn.
    let input: Vec<u8> = (0..4 << 20).map(|i| (i % 251) as u8).collect();
    let run = sh("cat").run(&RunOptions {
        input: Some(input.clone()),
        ..RunOptions::default()
    });
    let run = run.unwrap();
    assert_eq!(run.status, ExitStatus::Exited(0));
    assert_eq!(run.output[1].as_deref(), Some(&input[..]));
}

#[test]
fn without_input_the_child_reads_end_of_file() {
    let run = sh("wc -c").run(&RunOptions::default()).unwrap();
    assert_eq!(
        run.output[1].as_deref().map(|o| o.trim_ascii()),
        Some(&b"0"[..])
    );
}

#[test]
fn a_timeout_kills_with_the_kill_signal_and_is_etimedout() {
    let run = sh("exec sleep 60")
        .run(&RunOptions {
            timeout: Some(Duration::from_millis(50)),
            kill_signal: libc::SIGKILL,
            ..RunOptions::default()
        })
        .unwrap();
    assert_eq!(run.error, Some(Errno::ETIMEDOUT));
    assert_eq!(
        run.status,
        ExitStatus::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false
        }
    );
}

#[test]
fn output_over_max_buffer_is_enobufs_and_a_kill_keeping_what_was_read() {
    let run = sh("head -c 1000000 /dev/zero; exec sleep 60")
        .run(&RunOptions {
            max_buffer: Some(10),
            ..RunOptions::default()
        })
        .unwrap();
    assert_eq!(run.error, Some(Errno::ENOBUFS));
    assert_eq!(
        run.status,
        ExitStatus::Signaled {
            signal: libc::SIGTERM,
            core_dumped: false
        }
    );
    let read = run.output[1].as_ref().unwrap().len();
    assert!(read > 10 && read < 1000000, "{read} bytes kept");
}

#[test]
fn exactly_max_buffer_is_not_an_overflow() {
    let run = sh("printf 0123456789")
        .run(&RunOptions {
            max_buffer: Some(10),
            ..RunOptions::default()
        })
        .unwrap();
    assert_eq!((run.error, run.status), (None, ExitStatus::Exited(0)));
}

#[test]
fn a_child_that_closes_stdin_early_is_epipe_and_its_status_is_kept() {
    let run = sh("exec 0<&-; exit 7")
        .run(&RunOptions {
            input: Some(vec![0; 1 << 20]),
            ..RunOptions::default()
        })
        .unwrap();
    assert_eq!(run.error, Some(Errno::EPIPE));
    assert_eq!(run.status, ExitStatus::Exited(7));
}

#[test]
fn descriptors_that_are_not_pipes_have_no_output() {
    let mut command = Command::new("/bin/true");
    command
        .stdout(Stdio::Null)
        .stderr(Stdio::Pipe)
        .fd(3, Stdio::Pipe);
    let run = command.run(&RunOptions::default()).unwrap();
    assert_eq!(run.output, vec![None, None, Some(vec![]), Some(vec![])]);
}

#[test]
fn a_failure_before_exec_is_the_spawn_error_and_nothing_runs() {
    let error = Command::new("capspawn-no-such-program")
        .run(&RunOptions::default())
        .unwrap_err();
    assert!(
        matches!(error, SpawnError::Child(f) if f.stage == Stage::Exec && f.errno == Some(Errno::ENOENT)),
        "{error:?}"
    );
}

#[test]
fn after_a_kill_a_grandchild_holding_the_pipe_does_not_hold_the_run() {
    // The grandchild keeps stdout open for a minute; the timeout kills the shell, closes the
    // pipes and returns once the shell is reaped.
    let run = sh("sleep 60 & wait")
        .run(&RunOptions {
            timeout: Some(Duration::from_millis(50)),
            ..RunOptions::default()
        })
        .unwrap();
    assert_eq!(run.error, Some(Errno::ETIMEDOUT));
}

//! Many concurrent spawns leave no descriptor and no zombie behind. Alone in its own test
//! binary, so no other test opens descriptors meanwhile.

mod common;

use capspawn::{Command, ExitStatus, Stdio};
use std::io::{Read, Write};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The descriptor count once it stops moving: a spawn whose child was still exec'ing when it
/// returned leaves its exit watch's read end (and the watchdog's copy) open until the watchdog
/// sees the pipe close, a few milliseconds later (see memory_gate). Waits for that, at most 2 s,
/// and asserts nothing about the time.
fn settled_fds() -> usize {
    let mut last = open_fds();
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let now = open_fds();
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

#[test]
fn concurrent_spawns_leak_no_descriptor_and_no_zombie() {
    // The first spawn opens what lasts as long as the process: the watchdog's epoll, and this
    // thread's timerfd. The threads below must leave nothing, their own timerfds included.
    assert_eq!(
        Command::new("true").spawn().unwrap().wait().unwrap(),
        ExitStatus::Exited(0)
    );
    let before = settled_fds();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..50 {
                    let text = format!("thread {t} spawn {i}\n");
                    let mut child = Command::new("cat")
                        .stdin(Stdio::Pipe)
                        .stdout(Stdio::Pipe)
                        .stderr(Stdio::Null)
                        .spawn()
                        .unwrap();
                    std::fs::File::from(child.stdin.take().unwrap())
                        .write_all(text.as_bytes())
                        .unwrap();
                    let mut out = String::new();
                    std::fs::File::from(child.stdout.take().unwrap())
                        .read_to_string(&mut out)
                        .unwrap();
                    assert_eq!(out, text);
                    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(settled_fds(), before, "descriptors leaked");
    assert_eq!(common::children(), Vec::<String>::new(), "zombies left");
}

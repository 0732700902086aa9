//! Seccomp user notification for the tests: a thread of the test answers chosen syscalls of
//! the test thread's children (a `clone` child, which shares this process's memory).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
/// `_IOWR('!', 0, struct seccomp_notif)` and `_IOWR('!', 1, struct seccomp_notif_resp)`.
const NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const NOTIF_SEND: libc::c_ulong = 0xc018_2101;
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// One intercepted call of the child's.
pub struct Call<'a> {
    pub nr: libc::c_long,
    pub args: &'a [u64; 6],
    /// The calling task's thread id.
    pub pid: u32,
}

/// One answer forced on the child: this syscall (with this first argument) returns this value.
pub type Lie = (libc::c_long, Option<libc::c_int>, i64);

/// How the liar answers: `None` lets the call run for real.
pub type Liar = dyn Fn(&Call) -> Option<i64> + Send + Sync;

/// Sends the calls `syscalls` of the child processes of this thread to `liar` (never those of
/// this process's own threads, which run for real). Returns a handle to change the liar.
pub fn lie(syscalls: &[libc::c_long], liar: Box<Liar>) -> Arc<Mutex<Box<Liar>>> {
    let liar = Arc::new(Mutex::new(liar));
    // The filter: the architecture, then each syscall to user notification; all else allowed.
    let op = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    let mut program = vec![
        op(0x20, 0, 0, 4),                 // ld arch
        op(0x15, 1, 0, AUDIT_ARCH),        // jeq arch: skip the next
        op(0x06, 0, 0, SECCOMP_RET_ALLOW), // foreign: allow (not ours to judge here)
        op(0x20, 0, 0, 0),                 // ld nr
    ];
    for &nr in syscalls {
        program.push(op(0x15, 0, 1, nr as u32));
        program.push(op(0x06, 0, 0, SECCOMP_RET_USER_NOTIF));
    }
    program.push(op(0x06, 0, 0, SECCOMP_RET_ALLOW));
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // The handler thread exists before the filter, so its own calls are not filtered.
    let (sender, receiver) = std::sync::mpsc::channel::<OwnedFd>();
    let answers = liar.clone();
    std::thread::spawn(move || serve(receiver.recv().unwrap(), &answers));
    // SAFETY: a valid program that outlives the call; the kernel copies it.
    let listener = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &fprog as *const libc::sock_fprog,
        )
    };
    assert!(
        listener >= 0,
        "seccomp: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: seccomp just returned this descriptor; nothing else owns it.
    sender
        .send(unsafe { OwnedFd::from_raw_fd(listener as i32) })
        .unwrap();
    liar
}

fn ours(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/self/task/{pid}")).exists()
}

fn serve(listener: OwnedFd, liar: &Mutex<Box<Liar>>) {
    loop {
        // SAFETY: seccomp_notif is plain data; the kernel wants it zeroed.
        let mut call: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: our listener and a valid out-buffer of the size the ioctl number says.
        if unsafe { libc::ioctl(listener.as_raw_fd(), NOTIF_RECV, &mut call) } != 0 {
            match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) | Some(libc::ENOENT) => continue,
                _ => return,
            }
        }
        let answer = if ours(call.pid) {
            None
        } else {
            let args = call.data.args;
            (liar.lock().unwrap())(&Call {
                nr: call.data.nr as libc::c_long,
                args: &args,
                pid: call.pid,
            })
        };
        let response = libc::seccomp_notif_resp {
            id: call.id,
            val: answer.unwrap_or(0),
            error: 0,
            flags: if answer.is_none() {
                libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32
            } else {
                0
            },
        };
        // SAFETY: our listener and a valid response; a child gone meanwhile gives ENOENT.
        unsafe { libc::ioctl(listener.as_raw_fd(), NOTIF_SEND, &response) };
    }
}

/// Writes `values` where the child's call asked the kernel to write them. Sound only because
/// the child shares this process's memory (CLONE_VM) and is blocked in that very call.
pub fn write_to_child<T: Copy>(address: u64, values: &[T]) {
    // SAFETY: `address` is the child's out-pointer for this call, in memory we share with it,
    // with room for what the real call would write (the callers pass no more); the child is
    // suspended in the syscall until we answer.
    unsafe {
        std::ptr::copy_nonoverlapping(values.as_ptr(), address as *mut T, values.len());
    }
}

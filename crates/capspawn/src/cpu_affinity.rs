//! Where the child runs while it drops: on the CPU of the thread that cloned it.
//!
//! Kernel rule: a new task inherits the CPU affinity of the thread that called `clone`, and the
//! scheduler starts it on the idlest CPU that affinity allows (fork balancing), which on a
//! machine with a CPU to spare is another one than the parent's. With `CLONE_VFORK` the parent
//! then sleeps until the child has exec'd: the child waits for an idle CPU to wake (an
//! inter-processor interrupt; in a VM, a vCPU the host must schedule first) and starts with cold
//! caches, while the parent's CPU, warm with everything the child reads, goes idle. An affinity of
//! the parent's current CPU alone for the `clone` starts the child there; the child gives itself
//! the saved affinity back before anything else (it needs no privilege for its own thread), so
//! the workload inherits the supervisor's affinity unchanged, and the parent takes its own back
//! as soon as `clone` returns.
//!
//! Best effort in the parent (a seccomp profile that refuses `sched_setaffinity`, more CPUs than
//! the mask holds: no pin, the same spawn); in the child a failed restore refuses the spawn,
//! since the workload would otherwise run pinned to one CPU.

use crate::raw::check;
use nix::errno::Errno;

/// A thread's affinity as the kernel's bitmap: 1,024 CPUs, glibc's `cpu_set_t`.
#[derive(Clone, Copy)]
pub(crate) struct Mask {
    bits: [u64; 16],
    /// The bytes the kernel wrote (its `nr_cpu_ids`, rounded up to a word).
    len: usize,
}

/// The calling thread pinned to the CPU it runs on, with the affinity it had before.
pub(crate) struct Pin {
    saved: Mask,
}

impl Pin {
    /// Pins the calling thread to its current CPU; `None` (nothing changed) when the affinity
    /// cannot be read or set, or allows that CPU alone already.
    pub(crate) fn current() -> Option<Pin> {
        let saved = get().ok()?;
        // SAFETY: sched_getcpu reads the CPU number (vDSO or rseq); no arguments.
        let cpu = usize::try_from(unsafe { libc::sched_getcpu() }).ok()?;
        let word = saved.bits.get(cpu / 64)?;
        let allowed = saved.bits.iter().map(|w| w.count_ones()).sum::<u32>();
        if word & (1 << (cpu % 64)) == 0 || allowed <= 1 {
            return None;
        }
        let mut one = Mask {
            bits: [0; 16],
            len: saved.len,
        };
        one.bits[cpu / 64] = 1 << (cpu % 64);
        set(&one).ok()?;
        Some(Pin { saved })
    }

    /// The affinity to give back: the child's first step, and the parent's after `clone`.
    pub(crate) fn saved(&self) -> &Mask {
        &self.saved
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        // Nothing better to do if it fails: the thread keeps one CPU, which is still allowed.
        let _ = set(&self.saved);
    }
}

/// `sched_getaffinity(2)` of the calling thread.
fn get() -> Result<Mask, Errno> {
    let mut mask = Mask {
        bits: [0; 16],
        len: 0,
    };
    let size = std::mem::size_of_val(&mask.bits);
    // SAFETY: the kernel writes at most `size` bytes into the live bitmap.
    let written = check(unsafe {
        libc::syscall(libc::SYS_sched_getaffinity, 0, size, mask.bits.as_mut_ptr())
    })?;
    mask.len = usize::try_from(written).map_err(|_| Errno::EINVAL)?;
    if mask.len == 0 || mask.len > size {
        return Err(Errno::EINVAL);
    }
    Ok(mask)
}

/// `sched_setaffinity(2)` of the calling thread. Async-signal-safe (one raw syscall): the
/// child's first step uses it.
pub(crate) fn set(mask: &Mask) -> Result<(), Errno> {
    // SAFETY: the kernel reads `len` bytes (at most the bitmap's size) of the live bitmap.
    check(unsafe { libc::syscall(libc::SYS_sched_setaffinity, 0, mask.len, mask.bits.as_ptr()) })
        .map(drop)
}

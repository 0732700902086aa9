//! capspawn: start workloads that cannot regain their supervisor's capabilities.
//!
//! The core of the capspawn package (its Node.js binding is `capspawn-node`), usable from Rust
//! supervisors directly:
//! - [`Command`] starts a workload through a `CLONE_VM` child that runs the ordered privilege
//!   drop of [`privilege_drop::run`] and refuses to exec when the bounding set cannot be emptied;
//! - [`CommandExt::drop_privileges`] runs the same drop in `std::process::Command::pre_exec`;
//! - [`Reaper`] reaps children by pidfd on one thread and reports their exits;
//! - [`Command::run`] runs a workload to its end on the calling thread (input, output, timeout).

#![cfg(target_os = "linux")]

pub mod bounding_set;
pub mod capability;
mod child;
mod clone;
mod command;
pub mod descriptor_table;
mod error;
mod failure;
pub mod file_caps;
pub mod inspect;
pub mod landlock;
mod memory_gate;
pub mod netns;
mod pre_exec;
pub mod privilege_drop;
pub mod proc_status;
mod raw;
mod raw_clone;
mod reaper;
pub mod resolve;
pub mod seccomp;
mod stdio;
mod sync_run;
pub mod terminal;
pub mod thread_caps;
mod watchdog;

/// Sets up, while the supervisor is starting, what every spawn uses: the descriptor slots (see
/// [`descriptor_table::reserve`]) and the file of the memory gate across copies of capspawn in
/// one process. The Node binding calls it when it loads; otherwise the first spawn does it.
pub fn prepare() {
    descriptor_table::reserve();
    memory_gate::prepare();
}

pub use bounding_set::BoundingSetError;
pub use capability::CapMask;
pub use child::{Child, ExitStatus};
pub use command::{Command, GroupSpec, SupplementaryGroups, UserSpec};
pub use error::SpawnError;
pub use inspect::ProcessCaps;
pub use landlock::{Compatibility, FilesystemSpec, UnixSockets};
pub use netns::NetworkSpec;
pub use nix::errno::Errno;
pub use pre_exec::CommandExt;
pub use privilege_drop::{BoundingSetPolicy, Failure, Privileges, Stage};
pub use reaper::Reaper;
pub use stdio::Stdio;
pub use sync_run::{RunOptions, RunOutput};

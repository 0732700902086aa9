//! capspawn: start workloads that cannot regain their supervisor's capabilities.
//!
//! The core of the capspawn package (Node.js binding in `capspawn-node`), usable from Rust
//! supervisors directly.

#![cfg(target_os = "linux")]

pub mod bounding_set;
pub mod capability;
pub mod inspect;
pub mod thread_caps;

pub use bounding_set::BoundingSetError;
pub use capability::CapMask;
pub use inspect::ProcessCaps;

//! The Node.js binding of capspawn: it marshals JavaScript values into the core crate's types
//! and back, and holds no logic of its own. Validation happens in TypeScript first
//! (`src/options.ts`); the core crate resolves, spawns and reaps.

#![cfg(target_os = "linux")]

mod exits;
mod inspect;
mod napi;
mod spawn;
mod sync;
mod terminal;

napi::register_module! {
    // While the supervisor's descriptor table is still small (see capspawn::descriptor_table),
    // and before a child of this copy can have the memory's dumpable flag cleared.
    init: capspawn::prepare;
    "inspectSelf" => inspect::inspect_self,
    "inspectPid" => inspect::inspect_pid,
    "probeBoundingSetClear" => inspect::probe_bounding_set_clear,
    "probeSeccomp" => inspect::probe_seccomp,
    "probeLayers" => inspect::probe_layers,
    "execFileCapabilities" => inspect::exec_file_capabilities,
    "spawn" => spawn::spawn,
    "spawnSync" => sync::spawn_sync,
    "kill" => exits::kill,
    "onExit" => exits::on_exit,
    "refExits" => exits::ref_exits,
    "openTerminal" => terminal::open_terminal,
    "resizeTerminal" => terminal::resize_terminal,
    "terminalForeground" => terminal::terminal_foreground,
    "closeTerminal" => terminal::close_terminal,
}

/// A JS error for an errno, with Node's `code`, `errno` (negative) and `syscall`.
pub(crate) fn errno_error(errno: capspawn::Errno, syscall: &str) -> napi::Error {
    napi::Error::new(
        format!("{errno:?}"),
        format!("{syscall} failed: {}", errno.desc()),
    )
    .with("errno", -(errno as i32))
    .with("syscall", syscall)
}

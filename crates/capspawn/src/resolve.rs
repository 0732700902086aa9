//! Everything the child needs, resolved in the parent: users and groups from the databases,
//! the program's candidate paths, and C strings. Nothing of this may happen after `clone`
//! (NSS lookups allocate and lock).

use crate::command::{GroupSpec, SupplementaryGroups, UserSpec};
use crate::error::SpawnError;
use nix::unistd::{Gid, Group, Uid, User};
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// Capability number of `CAP_SETGID`.
const CAP_SETGID: u8 = capctl::caps::Cap::SETGID as u8;

/// A user from the passwd database, or a bare uid it does not list.
pub struct ResolvedUser {
    pub uid: libc::uid_t,
    pub name: Option<String>,
    pub primary_gid: Option<libc::gid_t>,
}

/// `id` itself, unless it is `(uid_t)-1` / `(gid_t)-1`, which `setresuid`/`setresgid` take as
/// "leave unchanged", not as an id.
fn id(what: &'static str, id: u32) -> Result<u32, SpawnError> {
    if id == u32::MAX {
        return Err(SpawnError::InvalidInput {
            what,
            message: format!("{id} ((uid_t)-1) means 'unchanged' to the kernel, not an id"),
        });
    }
    Ok(id)
}

/// Looks a user up by name or uid.
pub fn user(spec: &UserSpec) -> Result<ResolvedUser, SpawnError> {
    let found = match spec {
        UserSpec::Name(name) => User::from_name(name),
        UserSpec::Id(uid) => User::from_uid(Uid::from_raw(id("user", *uid)?)),
    }
    .map_err(|errno| SpawnError::Lookup {
        what: "user",
        errno,
    })?;
    match (found, spec) {
        (Some(user), _) => Ok(ResolvedUser {
            uid: user.uid.as_raw(),
            name: Some(user.name),
            primary_gid: Some(user.gid.as_raw()),
        }),
        (None, UserSpec::Id(uid)) => Ok(ResolvedUser {
            uid: *uid,
            name: None,
            primary_gid: None,
        }),
        (None, UserSpec::Name(name)) => Err(SpawnError::UnknownUser(name.clone())),
    }
}

/// Looks a group up by name; a gid is taken as it is.
pub fn group(spec: &GroupSpec) -> Result<libc::gid_t, SpawnError> {
    match spec {
        GroupSpec::Id(gid) => id("group", *gid),
        GroupSpec::Name(name) => match Group::from_name(name) {
            Ok(Some(group)) => Ok(group.gid.as_raw()),
            Ok(None) => Err(SpawnError::UnknownGroup(name.clone())),
            Err(errno) => Err(SpawnError::Lookup {
                what: "group",
                errno,
            }),
        },
    }
}

/// The supplementary groups to set, or `None` to keep the supervisor's.
///
/// `Init` is `initgroups(3)`: the user's groups from the group database plus `gid`. The default
/// is `Init` with a user and `Clear` without one; a default `Clear` is skipped when the
/// supervisor could not do it anyway (no `CAP_SETGID`, or a user namespace that denies
/// `setgroups`), since keeping its own groups grants the workload nothing new.
pub fn supplementary_groups(
    spec: Option<&SupplementaryGroups>,
    user: Option<&ResolvedUser>,
    gid: Option<libc::gid_t>,
) -> Result<Option<Vec<libc::gid_t>>, SpawnError> {
    let init = || -> Result<Option<Vec<libc::gid_t>>, SpawnError> {
        let gid = gid.expect("a user always resolves a gid");
        let Some(name) = user.and_then(|u| u.name.as_deref()) else {
            return Ok(Some(vec![gid]));
        };
        let name = c_string("user", name.as_bytes())?;
        let groups = nix::unistd::getgrouplist(&name, Gid::from_raw(gid)).map_err(|errno| {
            SpawnError::Lookup {
                what: "group list",
                errno,
            }
        })?;
        Ok(Some(groups.into_iter().map(Gid::as_raw).collect()))
    };
    match spec {
        Some(SupplementaryGroups::Init) if user.is_some() => init(),
        Some(SupplementaryGroups::Init) => Err(SpawnError::InvalidInput {
            what: "supplementaryGroups",
            message: "'init' needs a user to take the groups of".into(),
        }),
        Some(SupplementaryGroups::Clear) => Ok(Some(Vec::new())),
        Some(SupplementaryGroups::List(gids)) => gids
            .iter()
            .map(|&gid| id("supplementaryGroups", gid))
            .collect::<Result<_, _>>()
            .map(Some),
        None if user.is_some() => init(),
        None if can_set_groups() => Ok(Some(Vec::new())),
        None => Ok(None),
    }
}

fn can_set_groups() -> bool {
    // A process's /proc/self/setgroups is fixed once its user namespace's gid_map is written,
    // so it is read once; the capability is checked every time.
    static DENIED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let has_setgid =
        crate::thread_caps::get().is_ok_and(|sets| sets.effective.contains(CAP_SETGID));
    has_setgid
        && !*DENIED.get_or_init(|| {
            std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
        })
}

/// The paths to try for `program`, in order: itself if it has a slash, else each directory of
/// `path` (the child's `PATH`; an empty entry is the working directory), as `execvp` does.
pub fn program_candidates(
    program: &OsStr,
    path: Option<&OsStr>,
) -> Result<Vec<CString>, SpawnError> {
    let bytes = program.as_bytes();
    if bytes.is_empty() {
        return Err(SpawnError::InvalidInput {
            what: "command",
            message: "must not be empty".into(),
        });
    }
    if bytes.contains(&b'/') {
        return Ok(vec![c_string("command", bytes)?]);
    }
    // Without a PATH, glibc's execvp (and so child_process) searches /bin, then /usr/bin.
    let path = path.map(OsStr::as_bytes).unwrap_or(b"/bin:/usr/bin");
    path.split(|&b| b == b':')
        .map(|dir| {
            let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
            let mut full = dir.to_vec();
            if !full.ends_with(b"/") {
                full.push(b'/');
            }
            full.extend_from_slice(bytes);
            c_string("command", &full)
        })
        .collect()
}

/// `bytes` as a C string, or an error naming `what` when it holds a NUL byte.
pub fn c_string(what: &'static str, bytes: &[u8]) -> Result<CString, SpawnError> {
    CString::new(bytes).map_err(|_| SpawnError::InvalidInput {
        what,
        message: "must not contain NUL bytes".into(),
    })
}

/// `KEY=VALUE` strings for `envp`.
pub fn environment(vars: &[(OsString, OsString)]) -> Result<Vec<CString>, SpawnError> {
    vars.iter()
        .map(|(key, value)| {
            if key.is_empty() || key.as_bytes().contains(&b'=') {
                return Err(SpawnError::InvalidInput {
                    what: "env",
                    message: format!("invalid variable name {key:?}"),
                });
            }
            let mut entry = key.clone().into_vec();
            entry.push(b'=');
            entry.extend_from_slice(value.as_bytes());
            c_string("env", &entry)
        })
        .collect()
}

/// A NULL-terminated array of pointers into `strings` (which must outlive it), for `execve`.
pub fn pointer_array(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// A resource limit by its name without the prefix (`nofile` for `RLIMIT_NOFILE`, any case).
pub fn rlimit_resource(name: &str) -> Option<crate::raw::Resource> {
    const RESOURCES: [(&str, crate::raw::Resource); 16] = [
        ("as", libc::RLIMIT_AS),
        ("core", libc::RLIMIT_CORE),
        ("cpu", libc::RLIMIT_CPU),
        ("data", libc::RLIMIT_DATA),
        ("fsize", libc::RLIMIT_FSIZE),
        ("locks", libc::RLIMIT_LOCKS),
        ("memlock", libc::RLIMIT_MEMLOCK),
        ("msgqueue", libc::RLIMIT_MSGQUEUE),
        ("nice", libc::RLIMIT_NICE),
        ("nofile", libc::RLIMIT_NOFILE),
        ("nproc", libc::RLIMIT_NPROC),
        ("rss", libc::RLIMIT_RSS),
        ("rtprio", libc::RLIMIT_RTPRIO),
        ("rttime", libc::RLIMIT_RTTIME),
        ("sigpending", libc::RLIMIT_SIGPENDING),
        ("stack", libc::RLIMIT_STACK),
    ];
    let name = name.strip_prefix("RLIMIT_").unwrap_or(name);
    RESOURCES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_with_a_slash_is_not_searched() {
        let found = program_candidates(OsStr::new("./run"), Some(OsStr::new("/bin"))).unwrap();
        assert_eq!(found, [CString::new("./run").unwrap()]);
    }

    #[test]
    fn a_bare_command_is_searched_in_path_order() {
        let found = program_candidates(OsStr::new("ls"), Some(OsStr::new("/a:/b/::/c"))).unwrap();
        let found: Vec<_> = found.iter().map(|c| c.to_str().unwrap()).collect();
        assert_eq!(found, ["/a/ls", "/b/ls", "./ls", "/c/ls"]);
    }

    #[test]
    fn without_a_path_the_search_is_glibc_execvp_s() {
        let found = program_candidates(OsStr::new("ls"), None).unwrap();
        let found: Vec<_> = found.iter().map(|c| c.to_str().unwrap()).collect();
        assert_eq!(found, ["/bin/ls", "/usr/bin/ls"]);
    }

    #[test]
    fn minus_one_is_not_an_id() {
        let invalid = |r: Result<(), SpawnError>| matches!(r, Err(SpawnError::InvalidInput { .. }));
        assert!(invalid(user(&UserSpec::Id(u32::MAX)).map(drop)));
        assert!(invalid(group(&GroupSpec::Id(u32::MAX)).map(drop)));
        let list = SupplementaryGroups::List(vec![0, u32::MAX]);
        assert!(invalid(
            supplementary_groups(Some(&list), None, None).map(drop)
        ));
        assert_eq!(group(&GroupSpec::Id(u32::MAX - 1)).unwrap(), u32::MAX - 1);
    }

    #[test]
    fn nul_bytes_and_empty_commands_are_rejected() {
        assert!(program_candidates(OsStr::new(""), None).is_err());
        assert!(program_candidates(OsStr::new("a\0b"), None).is_err());
        assert!(environment(&[("A".into(), "x\0y".into())]).is_err());
        assert!(environment(&[("A=B".into(), "x".into())]).is_err());
        assert!(environment(&[("".into(), "x".into())]).is_err());
    }

    #[test]
    fn environment_entries_are_key_equals_value() {
        let env = environment(&[("A".into(), "1=2".into())]).unwrap();
        assert_eq!(env, [CString::new("A=1=2").unwrap()]);
        let ptrs = pointer_array(&env);
        assert_eq!(ptrs.len(), 2);
        assert!(ptrs[1].is_null());
    }

    #[test]
    fn users_and_groups_resolve_from_the_databases() {
        let root = user(&UserSpec::Name("root".into())).unwrap();
        assert_eq!((root.uid, root.primary_gid), (0, Some(0)));
        let bare = user(&UserSpec::Id(4_000_000)).unwrap();
        assert_eq!(
            (bare.uid, bare.name, bare.primary_gid),
            (4_000_000, None, None)
        );
        assert!(matches!(
            user(&UserSpec::Name("no-such-user-x".into())),
            Err(SpawnError::UnknownUser(_))
        ));
        assert_eq!(group(&GroupSpec::Name("root".into())).unwrap(), 0);
        assert!(matches!(
            group(&GroupSpec::Name("no-such-group-x".into())),
            Err(SpawnError::UnknownGroup(_))
        ));
    }
}

//! A command builder that starts its workload through a `CLONE_VM` child and the ordered
//! privilege drop: the Rust face of capspawn's `spawn()`.

use crate::child::Child;
use crate::clone;
use crate::error::SpawnError;
use crate::privilege_drop::{BoundingSetPolicy, Privileges, ProcessSetup};
use crate::CapMask;
use crate::{raw, resolve};
use nix::fcntl::OFlag;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Where one of the child's descriptors 0, 1, 2 comes from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stdio {
    /// The supervisor's own descriptor of the same number.
    Inherit,
    /// `/dev/null`.
    Null,
    /// A new pipe; the supervisor's end is in [`Child`].
    Pipe,
    /// This descriptor of the supervisor's.
    Fd(RawFd),
}

/// The user to run as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserSpec {
    Name(String),
    Id(libc::uid_t),
}

/// The group to run as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupSpec {
    Name(String),
    Id(libc::gid_t),
}

/// The supplementary groups to run with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SupplementaryGroups {
    /// The user's groups from the group database (`initgroups`).
    Init,
    /// None.
    Clear,
    /// Exactly these.
    List(Vec<libc::gid_t>),
}

/// A workload to start. Defaults: the bounding set cleared, `no_new_privs` set, stdio inherited,
/// the supervisor's environment, directory, user and group.
#[derive(Clone, Debug)]
pub struct Command {
    program: OsString,
    args: Vec<OsString>,
    argv0: Option<OsString>,
    env: Option<Vec<(OsString, OsString)>>,
    cwd: Option<PathBuf>,
    stdio: [Stdio; 3],
    detached: bool,
    user: Option<UserSpec>,
    group: Option<GroupSpec>,
    supplementary_groups: Option<SupplementaryGroups>,
    bounding_set: BoundingSetPolicy,
    no_new_privs: bool,
    capabilities: CapMask,
    lock_securebits: bool,
    umask: Option<libc::mode_t>,
    rlimits: Vec<(libc::__rlimit_resource_t, libc::rlimit)>,
    parent_death_signal: Option<libc::c_int>,
}

impl Command {
    /// A command for `program`: a path, or a name looked up in the child's `PATH`.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Command {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            argv0: None,
            env: None,
            cwd: None,
            stdio: [Stdio::Inherit; 3],
            detached: false,
            user: None,
            group: None,
            supplementary_groups: None,
            bounding_set: BoundingSetPolicy::Clear,
            no_new_privs: true,
            capabilities: CapMask::EMPTY,
            lock_securebits: false,
            umask: None,
            rlimits: Vec::new(),
            parent_death_signal: None,
        }
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) -> &mut Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// The child's `argv[0]` (default: the program as given).
    pub fn argv0(&mut self, argv0: impl AsRef<OsStr>) -> &mut Self {
        self.argv0 = Some(argv0.as_ref().to_owned());
        self
    }

    /// The child's whole environment (default: the supervisor's).
    pub fn env_vars<I, K, V>(&mut self, vars: I) -> &mut Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.env = Some(
            vars.into_iter()
                .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
                .collect(),
        );
        self
    }

    pub fn cwd(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.cwd = Some(dir.into());
        self
    }

    pub fn stdin(&mut self, stdio: Stdio) -> &mut Self {
        self.stdio[0] = stdio;
        self
    }

    pub fn stdout(&mut self, stdio: Stdio) -> &mut Self {
        self.stdio[1] = stdio;
        self
    }

    pub fn stderr(&mut self, stdio: Stdio) -> &mut Self {
        self.stdio[2] = stdio;
        self
    }

    /// Start the child in a new session (`setsid`), as `child_process`'s `detached`.
    pub fn detached(&mut self, detached: bool) -> &mut Self {
        self.detached = detached;
        self
    }

    pub fn user(&mut self, user: UserSpec) -> &mut Self {
        self.user = Some(user);
        self
    }

    /// The group (default: the user's primary group, or the supervisor's without a user).
    pub fn group(&mut self, group: GroupSpec) -> &mut Self {
        self.group = Some(group);
        self
    }

    pub fn supplementary_groups(&mut self, groups: SupplementaryGroups) -> &mut Self {
        self.supplementary_groups = Some(groups);
        self
    }

    pub fn bounding_set(&mut self, policy: BoundingSetPolicy) -> &mut Self {
        self.bounding_set = policy;
        self
    }

    pub fn no_new_privs(&mut self, on: bool) -> &mut Self {
        self.no_new_privs = on;
        self
    }

    /// Capabilities the workload keeps (default none); they must be in the supervisor's
    /// permitted set.
    pub fn capabilities(&mut self, keep: CapMask) -> &mut Self {
        self.capabilities = keep;
        self
    }

    /// Set and lock the securebits of [`crate::privilege_drop::locked_securebits`].
    pub fn lock_securebits(&mut self, on: bool) -> &mut Self {
        self.lock_securebits = on;
        self
    }

    pub fn umask(&mut self, mask: libc::mode_t) -> &mut Self {
        self.umask = Some(mask);
        self
    }

    /// Sets a resource limit (`libc::RLIMIT_NOFILE`, …) in the child.
    pub fn rlimit(
        &mut self,
        resource: libc::__rlimit_resource_t,
        soft: u64,
        hard: u64,
    ) -> &mut Self {
        let limit = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        self.rlimits.push((resource, limit));
        self
    }

    /// The signal the child gets when the supervisor thread that spawned it exits.
    pub fn parent_death_signal(&mut self, signal: libc::c_int) -> &mut Self {
        self.parent_death_signal = Some(signal);
        self
    }

    /// The identity and capability state the workload will get, resolved from the databases.
    pub fn privileges(&self) -> Result<Privileges, SpawnError> {
        let user = self.user.as_ref().map(resolve::user).transpose()?;
        let gid = match (&self.group, &user) {
            (Some(group), _) => Some(resolve::group(group)?),
            (None, Some(user)) => {
                Some(user.primary_gid.ok_or_else(|| SpawnError::InvalidInput {
                    what: "group",
                    message: format!(
                        "uid {} is not in the user database, so give its group explicitly",
                        user.uid
                    ),
                })?)
            }
            (None, None) => None,
        };
        let groups =
            resolve::supplementary_groups(self.supplementary_groups.as_ref(), user.as_ref(), gid)?;
        if !self.capabilities.is_empty() {
            let held = crate::thread_caps::get().map_err(|errno| SpawnError::Setup {
                syscall: "capget",
                errno,
            })?;
            let missing = CapMask(self.capabilities.0 & !held.permitted.0);
            if !missing.is_empty() {
                return Err(SpawnError::CapabilityNotHeld(missing));
            }
        }
        Ok(Privileges {
            capabilities: self.capabilities,
            lock_securebits: self.lock_securebits,
            groups,
            gid,
            uid: user.map(|u| u.uid),
            bounding_set: self.bounding_set,
            no_new_privs: self.no_new_privs,
        })
    }

    /// Starts the workload. Returns once it has been exec'd; if any step of the child's
    /// sequence failed, the child has been reaped and the workload never ran.
    pub fn spawn(&self) -> Result<Child, SpawnError> {
        // Everything that allocates or looks something up happens here, before clone.
        let privileges = self.privileges()?;
        let env: Vec<(OsString, OsString)> = match &self.env {
            Some(vars) => vars.clone(),
            None => std::env::vars_os().collect(),
        };
        let path = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_os_str());
        let programs = resolve::program_candidates(&self.program, path)?;
        let argv0 = self.argv0.as_deref().unwrap_or(&self.program);
        let argv = std::iter::once(argv0)
            .chain(self.args.iter().map(OsString::as_os_str))
            .map(|arg| resolve::c_string("args", arg.as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        let envp = resolve::environment(&env)?;
        let cwd = self
            .cwd
            .as_ref()
            .map(|dir| resolve::c_string("cwd", dir.as_os_str().as_bytes()))
            .transpose()?;
        let stdio = StdioFds::open(&self.stdio)?;

        let program_ptrs: Vec<_> = programs.iter().map(|p| p.as_ptr()).collect();
        let argv_ptrs = resolve::pointer_array(&argv);
        let envp_ptrs = resolve::pointer_array(&envp);
        let setup = ProcessSetup {
            stdio: stdio.child_fds(),
            new_session: self.detached,
            cwd: cwd.as_deref(),
            signal_mask: raw::current_signal_mask().map_err(|errno| SpawnError::Setup {
                syscall: "rt_sigprocmask",
                errno,
            })?,
            programs: &program_ptrs,
            argv: argv_ptrs.as_ptr(),
            envp: envp_ptrs.as_ptr(),
            umask: self.umask,
            rlimits: &self.rlimits,
            parent_death_signal: self
                .parent_death_signal
                .map(|signal| (signal, std::process::id() as libc::pid_t)),
        };
        let (pid, pidfd) = clone::start(&setup, &privileges)?;
        let [stdin, stdout, stderr] = stdio.parent_ends;
        Ok(Child {
            pid,
            pidfd,
            stdin,
            stdout,
            stderr,
        })
    }
}

/// The descriptors opened for the child's stdio: the child's ends (closed in the supervisor
/// once the child has them) and the supervisor's ends of pipes.
struct StdioFds {
    child_ends: [Option<OwnedFd>; 3],
    parent_ends: [Option<OwnedFd>; 3],
    plan: [Stdio; 3],
}

impl StdioFds {
    fn open(plan: &[Stdio; 3]) -> Result<Self, SpawnError> {
        let mut fds = StdioFds {
            child_ends: [None, None, None],
            parent_ends: [None, None, None],
            plan: *plan,
        };
        for (i, stdio) in plan.iter().enumerate() {
            match stdio {
                Stdio::Null => {
                    let null = nix::fcntl::open(
                        "/dev/null",
                        OFlag::O_RDWR | OFlag::O_CLOEXEC,
                        nix::sys::stat::Mode::empty(),
                    )
                    .map_err(|errno| SpawnError::Setup {
                        syscall: "open",
                        errno,
                    })?;
                    // SAFETY: `open` just returned this descriptor; nothing else owns it.
                    fds.child_ends[i] =
                        Some(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(null) });
                }
                Stdio::Pipe => {
                    // Both ends close-on-exec: the child's end loses the flag when dup2 puts it
                    // in place, and no other child inherits ours.
                    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|errno| {
                        SpawnError::Setup {
                            syscall: "pipe2",
                            errno,
                        }
                    })?;
                    let (child, parent) = if i == 0 { (read, write) } else { (write, read) };
                    fds.child_ends[i] = Some(child);
                    fds.parent_ends[i] = Some(parent);
                }
                Stdio::Inherit | Stdio::Fd(_) => {}
            }
        }
        Ok(fds)
    }

    /// The descriptor each of the child's 0, 1, 2 is copied from.
    fn child_fds(&self) -> [RawFd; 3] {
        std::array::from_fn(|i| match (&self.child_ends[i], self.plan[i]) {
            (Some(fd), _) => fd.as_raw_fd(),
            (None, Stdio::Fd(fd)) => fd,
            (None, _) => i as RawFd,
        })
    }
}

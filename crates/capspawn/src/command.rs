//! A command builder that starts its workload through a `CLONE_VM` child and the ordered
//! privilege drop: the Rust face of capspawn's `spawn()`.

use crate::child::Child;
use crate::clone;
use crate::error::SpawnError;
use crate::privilege_drop::{BoundingSetPolicy, Privileges, ProcessSetup};
use crate::stdio::{Stdio, StdioFds};
use crate::CapMask;
use crate::{raw, resolve};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

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
    stdio: Vec<Stdio>,
    detached: bool,
    controlling_terminal: bool,
    user: Option<UserSpec>,
    group: Option<GroupSpec>,
    supplementary_groups: Option<SupplementaryGroups>,
    bounding_set: BoundingSetPolicy,
    no_new_privs: bool,
    capabilities: CapMask,
    lock_securebits: bool,
    require_procfs: bool,
    umask: Option<libc::mode_t>,
    rlimits: Vec<(crate::raw::Resource, libc::rlimit)>,
    parent_death_signal: Option<libc::c_int>,
    seccomp: Option<crate::seccomp::Seccomp>,
    filesystem: Option<crate::landlock::FilesystemSpec>,
    network: crate::netns::NetworkSpec,
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
            stdio: vec![Stdio::Inherit; 3],
            detached: false,
            controlling_terminal: false,
            user: None,
            group: None,
            supplementary_groups: None,
            bounding_set: BoundingSetPolicy::Clear,
            no_new_privs: true,
            capabilities: CapMask::EMPTY,
            lock_securebits: false,
            require_procfs: true,
            umask: None,
            rlimits: Vec::new(),
            parent_death_signal: None,
            seccomp: None,
            filesystem: None,
            network: crate::netns::NetworkSpec::Host,
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

    /// Where the child's descriptor `target` comes from, for any number (0, 1, 2 are stdin,
    /// stdout, stderr). Descriptors above 2 that are not given are closed in the child.
    pub fn fd(&mut self, target: usize, stdio: Stdio) -> &mut Self {
        if self.stdio.len() <= target {
            self.stdio.resize(target + 1, Stdio::Null);
        }
        self.stdio[target] = stdio;
        self
    }

    /// Start the child in a new session (`setsid`), as `child_process`'s `detached`.
    pub fn detached(&mut self, detached: bool) -> &mut Self {
        self.detached = detached;
        self
    }

    /// Runs the workload in a terminal: `peer` (a pseudo-terminal's peer, see
    /// [`crate::terminal::Pty`]) becomes its descriptors 0, 1 and 2 and the controlling
    /// terminal of a new session (`setsid`, then `TIOCSCTTY`), before the same drop as any
    /// spawn. The supervisor keeps the master, and closes its own copy of `peer` once the
    /// spawn returned, so that the master reads end-of-file (`EIO`) when the workload's side is
    /// all closed.
    pub fn terminal(&mut self, peer: std::os::fd::RawFd) -> &mut Self {
        for target in 0..3 {
            self.fd(target, Stdio::Fd(peer));
        }
        self.controlling_terminal = true;
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

    /// Whether a spawn is refused when `/proc/thread-self/status` cannot be read for the
    /// verification's cross-check (default `true`); with `false` it is cross-checked only when
    /// procfs is there.
    pub fn require_procfs(&mut self, on: bool) -> &mut Self {
        self.require_procfs = on;
        self
    }

    pub fn umask(&mut self, mask: libc::mode_t) -> &mut Self {
        self.umask = Some(mask);
        self
    }

    /// Sets a resource limit (`libc::RLIMIT_NOFILE`, …) in the child.
    pub fn rlimit(&mut self, resource: crate::raw::Resource, soft: u64, hard: u64) -> &mut Self {
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

    /// A seccomp filter for the workload (see [`crate::seccomp`]), loaded last; it needs
    /// `no_new_privs` (the default).
    pub fn seccomp(&mut self, seccomp: crate::seccomp::Seccomp) -> &mut Self {
        self.seccomp = Some(seccomp);
        self
    }

    /// Landlock rules: the workload reaches only these paths (see [`crate::landlock`]). Needs
    /// `no_new_privs` (the default): a spawn with it off is refused as invalid input.
    pub fn filesystem(&mut self, spec: crate::landlock::FilesystemSpec) -> &mut Self {
        self.filesystem = Some(spec);
        self
    }

    /// The network namespace the workload runs in (see [`crate::netns`]).
    pub fn network(&mut self, spec: crate::netns::NetworkSpec) -> &mut Self {
        self.network = spec;
        self
    }

    /// What a spawn with this `filesystem` gets from this kernel (`None` without one): the
    /// Landlock ABI, and what it does not enforce. The same for every spawn of this process.
    pub fn landlock_report(&self) -> Option<crate::landlock::Report> {
        self.filesystem
            .as_ref()
            .map(|_| crate::landlock::report_for(crate::landlock::abi().unwrap_or(0)))
    }

    /// The identity and capability state the workload will get, resolved from the databases, for
    /// [`crate::CommandExt::drop_privileges`]. That path cannot apply the sandbox layers (it has
    /// no process setup to carry them), so a command with `filesystem` or `network` is refused
    /// here rather than run without them.
    pub fn privileges(&self) -> Result<Privileges, SpawnError> {
        if self.filesystem.is_some() || self.network != crate::netns::NetworkSpec::Host {
            return Err(SpawnError::InvalidInput {
                what: "filesystem",
                message: "the filesystem and network layers need Command::spawn: \
                          CommandExt::drop_privileges cannot apply them"
                    .into(),
            });
        }
        self.resolved_privileges()
    }

    fn resolved_privileges(&self) -> Result<Privileges, SpawnError> {
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
        // A set, as the kernel keeps it (sorted; duplicates would only confuse the read-back).
        let groups =
            resolve::supplementary_groups(self.supplementary_groups.as_ref(), user.as_ref(), gid)?
                .map(|mut groups| {
                    groups.sort_unstable();
                    groups.dedup();
                    groups
                });
        if groups
            .as_ref()
            .is_some_and(|g| g.len() > crate::privilege_drop::MAX_GROUPS)
        {
            return Err(SpawnError::InvalidInput {
                what: "supplementaryGroups",
                message: format!("more than {} groups", crate::privilege_drop::MAX_GROUPS),
            });
        }
        // The child's read-back of the bounding set checks where the kernel's list ends.
        crate::thread_caps::record_kernel_last_cap();
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
        // `filesystem` adds its Unix-socket rule to capspawn's own filter (landlock::UnixSockets).
        let unix = self.filesystem.as_ref().and_then(|f| {
            (f.unix_sockets == crate::landlock::UnixSockets::Deny).then_some(libc::EACCES)
        });
        let seccomp = self
            .seccomp
            .clone()
            .unwrap_or_default()
            .filters_with(unix)?;
        if !seccomp.is_empty() && !self.no_new_privs {
            return Err(SpawnError::InvalidInput {
                what: "seccomp",
                message: "a seccomp filter needs no_new_privs, which was turned off".into(),
            });
        }
        Ok(Privileges {
            seccomp,
            capabilities: self.capabilities,
            lock_securebits: self.lock_securebits,
            require_procfs: self.require_procfs,
            groups,
            gid,
            uid: user.map(|u| u.uid),
            bounding_set: self.bounding_set,
            no_new_privs: self.no_new_privs,
        })
    }

    /// The `filesystem` and `network` layers, resolved: the ruleset and the namespace, open.
    #[allow(clippy::type_complexity)]
    fn layers(
        &self,
        privileges: &Privileges,
    ) -> Result<
        (
            Option<crate::landlock::Prepared>,
            Option<crate::netns::Prepared>,
        ),
        SpawnError,
    > {
        if self.filesystem.is_some() && !privileges.no_new_privs {
            return Err(SpawnError::InvalidInput {
                what: "filesystem",
                message: "Landlock needs no_new_privs: do not turn it off".into(),
            });
        }
        let landlock = self
            .filesystem
            .as_ref()
            .map(crate::landlock::prepare)
            .transpose()?;
        let netns = crate::netns::prepare(&self.network)?;
        Ok((landlock, netns))
    }

    /// Starts the workload. Returns once `execve` has replaced the child's image (the new program
    /// may not have run an instruction yet, and `/proc/<pid>/cmdline` may still be empty); if any
    /// step of the child's sequence failed, the child has been reaped and the workload never ran.
    pub fn spawn(&self) -> Result<Child, SpawnError> {
        // Everything that allocates or looks something up happens here, before clone.
        // Stdio first: which of the supervisor's 0, 1 and 2 `Inherit` passes is decided before
        // anything below (a layer's ruleset or namespace, a user lookup) may take a closed one.
        let mut stdio = StdioFds::open(&self.stdio)?;
        let privileges = self.resolved_privileges()?;
        let (landlock, netns) = self.layers(&privileges)?;
        let inherited: Vec<(OsString, OsString)>;
        let env = match &self.env {
            Some(vars) => vars,
            None => {
                inherited = std::env::vars_os().collect();
                &inherited
            }
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
        let envp = resolve::environment(env)?;
        let cwd = self
            .cwd
            .as_ref()
            .map(|dir| resolve::c_string("cwd", dir.as_os_str().as_bytes()))
            .transpose()?;

        let program_ptrs: Vec<_> = programs.iter().map(|p| p.as_ptr()).collect();
        let argv_ptrs = resolve::pointer_array(&argv);
        let envp_ptrs = resolve::pointer_array(&envp);
        let shell: *const libc::c_char = crate::privilege_drop::SHELL.as_ptr().cast();
        let mut script_ptrs: Vec<_> = [shell, std::ptr::null()]
            .into_iter()
            .chain(argv_ptrs[1..].iter().copied())
            .collect();
        let setup = ProcessSetup {
            stdio: std::cell::Cell::from_mut(&mut stdio.sources[..]).as_slice_of_cells(),
            new_session: self.detached || self.controlling_terminal,
            controlling_terminal: self.controlling_terminal,
            cwd: cwd.as_deref(),
            signal_mask: raw::current_signal_mask().map_err(|errno| SpawnError::Setup {
                syscall: "rt_sigprocmask",
                errno,
            })?,
            programs: &program_ptrs,
            argv: argv_ptrs.as_ptr(),
            script_argv: script_ptrs.as_mut_ptr(),
            envp: envp_ptrs.as_ptr(),
            umask: self.umask,
            rlimits: &self.rlimits,
            parent_death_signal: self
                .parent_death_signal
                .map(|signal| (signal, std::process::id() as libc::pid_t)),
            exec_reached: Default::default(),
            exit_watch: std::cell::Cell::new(-1),
            table_limit: std::cell::Cell::new(-1),
            table_slots: std::cell::Cell::new((std::ptr::null(), 0)),
            handlers_cleared: std::cell::Cell::new(false),
            netns: netns.as_ref().map(crate::netns::Prepared::joining),
            landlock: landlock
                .as_ref()
                .map(crate::landlock::Prepared::restriction),
        };
        let (pid, pidfd) = clone::start(&setup, &privileges)?;
        let mut ends = stdio.parent_ends.into_iter();
        let mut next = || ends.next().flatten();
        let (stdin, stdout, stderr) = (next(), next(), next());
        Ok(Child {
            pid,
            pidfd,
            stdin,
            stdout,
            stderr,
            extra: ends.collect(),
        })
    }
}

//! Process hardening while secrets are in memory: no core dumps, and (on Linux) no
//! ptrace attach or `/proc/PID/mem` reads by other processes of the same user.
//!
//! Called once, first thing, before any passphrase is read. Best effort: a failure is
//! not worth refusing to run for (a sandbox may forbid `prctl`), so it is ignored.
//!
//! Not done: `mlock` of key material. rustix's `mlock` is `unsafe` (it takes a raw
//! pointer) and the library, which holds the keys, forbids unsafe code (the binary allows
//! it only for its memory map, src/cli/mapped.rs); `mlockall` would also lock Argon2id's
//! up to 1 GiB work area, which the default `RLIMIT_MEMLOCK` (8 MiB) refuses and which
//! would make every later allocation fail with `MCL_FUTURE`. Keys are small and zeroized
//! after use; swap is the remaining exposure (see docs/SECURITY.md, "Hardening").

/// Disables core dumps (`RLIMIT_CORE` 0) and, on Linux, marks the process not dumpable.
pub fn harden_process() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::process::{self, DumpableBehavior, Resource, Rlimit};
        let none = Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        let _ = process::setrlimit(Resource::Core, none);
        let _ = process::set_dumpable_behavior(DumpableBehavior::NotDumpable);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn leaves_no_core_limit_and_the_process_not_dumpable() {
        use rustix::process::{self, DumpableBehavior, Resource};
        // Runs in the test process, which ends soon after: the change is harmless there.
        harden_process();
        let core = process::getrlimit(Resource::Core);
        assert_eq!((core.current, core.maximum), (Some(0), Some(0)));
        assert_eq!(
            process::dumpable_behavior().unwrap(),
            DumpableBehavior::NotDumpable
        );
    }
}

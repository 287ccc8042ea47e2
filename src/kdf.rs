//! Argon2id: the passphrase stretching of passphrase slots (FORMAT.md, "Passphrase slots").
//!
//! Parameters are checked against a floor when encrypting and against caps when
//! decrypting, before any memory is allocated: a hostile header must not be able to make
//! a reader allocate gigabytes or spin for minutes.

use std::sync::atomic::{AtomicU64, Ordering};

use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Bytes of Argon2id output (the passphrase key).
pub const OUTPUT_LEN: usize = 32;
/// Bytes of the per-slot Argon2id salt.
pub const SALT_LEN: usize = 16;

/// Default memory, chosen by measurement on the 2-core reference machine (SECURITY.md).
pub const DEFAULT_MEMORY_MIB: u32 = 512;
/// Default passes over memory.
pub const DEFAULT_PASSES: u32 = 2;
/// Default lanes (parallelism); lanes run on separate cores.
pub const DEFAULT_LANES: u32 = 4;

/// OWASP floor for Argon2id memory, refused below when encrypting.
pub const FLOOR_MEMORY_MIB: u32 = 19;
/// OWASP floor for Argon2id passes.
pub const FLOOR_PASSES: u32 = 2;

/// Default cap on memory a reader agrees to spend; raise with `Limits::max_memory_mib`.
pub const DEFAULT_MAX_MEMORY_MIB: u32 = 1024;
/// Absolute memory cap no option can raise: 64 GiB, well past any legitimate file.
pub const HARD_MAX_MEMORY_MIB: u32 = 64 * 1024;
/// Default budget for the Argon2id work one file may ask of a reader, summed over its
/// passphrase slots, in MiB x passes: eight slots at the default parameters, half a
/// slot at the caps (1024 MiB x 16 passes, about 17 s on the reference machine).
pub const DEFAULT_MAX_WORK_MIB_PASSES: u64 = 8 * 1024;
/// Cap on passes a reader accepts.
pub const MAX_PASSES: u32 = 16;
/// Cap on lanes a reader accepts.
pub const MAX_LANES: u32 = 16;

/// Counts Argon2id derivations in this process, so tests and `--json` reports can prove
/// that a batch derived its passphrase key once.
static DERIVATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The same count for the calling thread alone: a derivation runs on the thread that
    /// asks for it, so tests can count their own while other tests derive in parallel.
    static DERIVATIONS_HERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many Argon2id derivations this process has run.
pub fn derivation_count() -> u64 {
    DERIVATIONS.load(Ordering::Relaxed)
}

/// How many Argon2id derivations the calling thread has run.
pub fn derivations_on_this_thread() -> u64 {
    DERIVATIONS_HERE.with(std::cell::Cell::get)
}

/// Argon2id cost parameters as stored in a passphrase slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KdfParams {
    /// Memory in KiB (Argon2 `m`).
    pub memory_kib: u32,
    /// Passes (Argon2 `t`).
    pub passes: u32,
    /// Lanes (Argon2 `p`).
    pub lanes: u32,
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams {
            memory_kib: DEFAULT_MEMORY_MIB * 1024,
            passes: DEFAULT_PASSES,
            lanes: DEFAULT_LANES,
        }
    }
}

/// Caps a reader applies to the parameters it finds in a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest Argon2id memory accepted for one slot, in MiB.
    pub max_memory_mib: u32,
    /// Largest total Argon2id work one file may ask for, in MiB x passes, summed over
    /// the distinct (parameters, salt) of its passphrase slots.
    pub max_work_mib_passes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory_mib: DEFAULT_MAX_MEMORY_MIB,
            max_work_mib_passes: DEFAULT_MAX_WORK_MIB_PASSES,
        }
    }
}

impl KdfParams {
    /// Parameters from MiB, passes and lanes, as the CLI takes them.
    pub fn new(memory_mib: u32, passes: u32, lanes: u32) -> Self {
        KdfParams {
            memory_kib: memory_mib.saturating_mul(1024),
            passes,
            lanes,
        }
    }

    /// Memory in MiB, rounded down.
    pub fn memory_mib(&self) -> u32 {
        self.memory_kib / 1024
    }

    /// The work one derivation costs, in MiB x passes (rounded up): what
    /// [`Limits::max_work_mib_passes`] budgets.
    pub fn work_mib_passes(&self) -> u64 {
        (u64::from(self.memory_kib) * u64::from(self.passes)).div_ceil(1024)
    }

    /// Refuses parameters a reader must not run: over the caps, or ones Argon2 itself
    /// rejects (so that the error names the field instead of "invalid parameters").
    ///
    /// # Errors
    /// [`Error::KdfOverLimit`] naming the parameter and the cap, or
    /// [`Error::InvalidHeader`] for values Argon2 cannot run at all.
    pub fn check_limits(&self, limits: &Limits) -> Result<()> {
        self.check_caps(limits)?;
        self.check_runnable()
    }

    /// Refuses parameters over the reader's caps, naming the first of memory, passes and
    /// lanes that is over.
    ///
    /// # Errors
    /// [`Error::KdfOverLimit`].
    pub fn check_caps(&self, limits: &Limits) -> Result<()> {
        let max_kib = u64::from(limits.max_memory_mib.min(HARD_MAX_MEMORY_MIB)) * 1024;
        if u64::from(self.memory_kib) > max_kib {
            return Err(Error::KdfOverLimit {
                param: "memory",
                value: u64::from(self.memory_kib).div_ceil(1024),
                limit: max_kib / 1024,
                unit: " MiB",
            });
        }
        if self.passes > MAX_PASSES {
            return Err(over("passes", self.passes, MAX_PASSES));
        }
        if self.lanes > MAX_LANES {
            return Err(over("lanes", self.lanes, MAX_LANES));
        }
        Ok(())
    }

    /// Refuses parameters Argon2 cannot run at all.
    ///
    /// # Errors
    /// [`Error::InvalidHeader`].
    pub fn check_runnable(&self) -> Result<()> {
        if self.passes == 0 || self.lanes == 0 || self.memory_kib < 8 * self.lanes {
            return Err(Error::InvalidHeader(
                "Argon2id parameters out of range (passes and lanes must be at least 1, memory at least 8 KiB per lane)",
            ));
        }
        Ok(())
    }

    /// Refuses parameters too weak to write: below the OWASP floor of 19 MiB and 2 passes.
    ///
    /// # Errors
    /// [`Error::KdfBelowFloor`] naming the parameter and the floor, or the errors of
    /// [`KdfParams::check_limits`].
    pub fn check_floor(&self, limits: &Limits) -> Result<()> {
        if self.memory_kib < FLOOR_MEMORY_MIB * 1024 {
            return Err(Error::KdfBelowFloor {
                param: "memory",
                value: u64::from(self.memory_mib()),
                floor: u64::from(FLOOR_MEMORY_MIB),
                unit: " MiB",
            });
        }
        if self.passes < FLOOR_PASSES {
            return Err(Error::KdfBelowFloor {
                param: "passes",
                value: u64::from(self.passes),
                floor: u64::from(FLOOR_PASSES),
                unit: "",
            });
        }
        if self.lanes == 0 {
            return Err(Error::KdfBelowFloor {
                param: "lanes",
                value: 0,
                floor: 1,
                unit: "",
            });
        }
        // Over a cap when writing is the caller's request, not a hostile file.
        self.check_limits(limits).map_err(|err| match err {
            Error::KdfOverLimit {
                param,
                value,
                limit,
                unit,
            } => Error::KdfAboveCap {
                param,
                value,
                limit,
                unit,
            },
            other => other,
        })?;
        // One slot alone over the readers' work budget would be refused by them too.
        if self.work_mib_passes() > limits.max_work_mib_passes {
            return Err(Error::KdfAboveCap {
                param: "work (memory x passes)",
                value: self.work_mib_passes(),
                limit: limits.max_work_mib_passes,
                unit: " MiB x passes",
            });
        }
        Ok(())
    }

    /// Runs Argon2id (version 0x13) over the passphrase and salt, with no secret and no
    /// associated data, giving [`OUTPUT_LEN`] bytes.
    ///
    /// Callers check limits first; this only refuses what Argon2 itself refuses.
    ///
    /// # Errors
    /// [`Error::KdfOutOfMemory`] when the memory cannot be allocated,
    /// [`Error::InvalidHeader`] if Argon2 rejects the parameters.
    pub fn derive(
        &self,
        passphrase: &[u8],
        salt: &[u8; SALT_LEN],
    ) -> Result<Zeroizing<[u8; OUTPUT_LEN]>> {
        let params = Params::new(self.memory_kib, self.passes, self.lanes, Some(OUTPUT_LEN))
            .map_err(|_| Error::InvalidHeader("Argon2id parameters out of range"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; OUTPUT_LEN]);
        argon
            .hash_password_into(passphrase, salt, out.as_mut())
            .map_err(|err| match err {
                argon2::Error::OutOfMemory => Error::KdfOutOfMemory {
                    memory_mib: u64::from(self.memory_kib).div_ceil(1024),
                },
                _ => Error::InvalidHeader("Argon2id rejected its inputs"),
            })?;
        DERIVATIONS.fetch_add(1, Ordering::Relaxed);
        DERIVATIONS_HERE.with(|count| count.set(count.get() + 1));
        Ok(out)
    }
}

fn over(param: &'static str, value: u32, limit: u32) -> Error {
    Error::KdfOverLimit {
        param,
        value: u64::from(value),
        limit: u64::from(limit),
        unit: "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slot whose work is exactly the readers' budget may be written; one pass more
    /// may not.
    #[test]
    fn the_work_budget_is_inclusive() {
        let limits = Limits {
            max_work_mib_passes: 19 * 3,
            ..Limits::default()
        };
        KdfParams::new(19, 3, 1).check_floor(&limits).unwrap();
        assert!(KdfParams::new(19, 4, 1).check_floor(&limits).is_err());
    }

    #[test]
    fn memory_is_shown_in_mib() {
        assert_eq!(KdfParams::new(64, 2, 1).memory_mib(), 64);
        assert_eq!(KdfParams::new(19, 2, 1).memory_kib, 19 * 1024);
    }

    #[test]
    fn check_runnable_refuses_each_unrunnable_parameter_alone() {
        let ok = KdfParams {
            memory_kib: 32,
            passes: 1,
            lanes: 4,
        };
        ok.check_runnable().unwrap();
        for bad in [
            KdfParams { passes: 0, ..ok },
            KdfParams { lanes: 0, ..ok },
            // Argon2 needs 8 KiB per lane: 31 KiB is too little for 4 lanes.
            KdfParams {
                memory_kib: 31,
                ..ok
            },
        ] {
            assert!(
                matches!(bad.check_runnable(), Err(Error::InvalidHeader(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn default_parameters_pass_floor_and_limits() {
        KdfParams::default()
            .check_floor(&Limits::default())
            .unwrap();
    }

    #[test]
    fn floor_names_the_parameter() {
        let err = KdfParams::new(18, 3, 1)
            .check_floor(&Limits::default())
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::KdfBelowFloor {
                    param: "memory",
                    ..
                }
            ),
            "{err}"
        );
        let err = KdfParams::new(64, 1, 1)
            .check_floor(&Limits::default())
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::KdfBelowFloor {
                    param: "passes",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn caps_name_the_parameter_and_memory_cap_can_be_raised() {
        let big = KdfParams::new(2048, 3, 1);
        let err = big.check_limits(&Limits::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Argon2id memory of 2048 MiB exceeds the limit of 1024 MiB"
        );
        big.check_limits(&Limits {
            max_memory_mib: 4096,
            ..Limits::default()
        })
        .unwrap();
        let err = KdfParams::new(64, 17, 1)
            .check_limits(&Limits::default())
            .unwrap_err();
        assert!(matches!(
            err,
            Error::KdfOverLimit {
                param: "passes",
                ..
            }
        ));
        let err = KdfParams::new(64, 2, 17)
            .check_limits(&Limits::default())
            .unwrap_err();
        assert!(matches!(err, Error::KdfOverLimit { param: "lanes", .. }));
    }

    #[test]
    fn derivation_matches_rfc9106_shape_and_counts() {
        let before = derivation_count();
        let pass = b"password";
        let a = KdfParams::new(19, 2, 1)
            .derive(pass, &[1; SALT_LEN])
            .unwrap();
        let b = KdfParams::new(19, 2, 1)
            .derive(pass, &[2; SALT_LEN])
            .unwrap();
        assert_ne!(*a, *b, "salt must change the output");
        assert!(derivation_count() >= before + 2);
    }

    /// Memory the machine cannot give is its own error, naming the MiB, not a bad header
    /// (4 TiB: refused at once by the kernel's overcommit check, or by the allocator).
    #[test]
    fn memory_the_machine_cannot_give_is_out_of_memory() {
        if std::fs::read_to_string("/proc/sys/vm/overcommit_memory").is_ok_and(|m| m.trim() == "1")
        {
            eprintln!("skipped: vm.overcommit_memory = 1 would grant 4 TiB and then fill it");
            return;
        }
        let huge = KdfParams {
            memory_kib: u32::MAX,
            passes: 1,
            lanes: 1,
        };
        let err = huge.derive(b"p", &[0; SALT_LEN]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::KdfOutOfMemory {
                    memory_mib: 4_194_304
                }
            ),
            "{err:?}"
        );
    }
}

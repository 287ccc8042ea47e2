//! `coffer rekey`: change who can open files, in place.
//!
//! A header-only rekey keeps the file key: the new header (same header nonce, kept slots
//! byte for byte, new slots, new MAC) is followed by the payload copied byte for byte.
//! `--rotate` re-encrypts the payload under a new file key instead. Either way the result
//! is written to a temporary file beside the original, synced, and renamed over it; on
//! any failure the original is untouched.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use coffer::{
    AnyRecipient, Decryptor, Encryptor, Identity, Limits, PassphraseKey, PipelineOptions,
    Recipient, Slot, SymmetricKey,
};

use super::args::RekeyArgs;
use super::context::ContextCheck;
use super::credentials::{read_key_file, Identities};
use super::error::{CliError, Kind};
use super::output::{cancel_flag, install_signal_handler, TempOutput};
use super::passphrase::{self, Purpose};
use super::plan::{self, JobState, Mode, PlanOptions};
use super::recipients;
use super::report::{json_sink, FileResult, Outcome, Reporter};
use super::run::{check_kdf_flags, fail};

/// What every file of the run gets: the slots to take out and the recipients to add.
struct Changes {
    remove_passphrase: bool,
    remove_slots: BTreeSet<usize>,
    /// Key files whose slots are removed; they also serve to open the file.
    remove_key_files: Vec<(PathBuf, Arc<SymmetricKey>)>,
    /// `--remove-recipient`: the recipient as given, and the index in
    /// `Identities::public` of the identity (from `-i`) that finds its slots.
    remove_recipients: Vec<(String, usize)>,
    new_key_files: Vec<SymmetricKey>,
    new_public: Vec<AnyRecipient>,
    new_passphrase: Option<PassphraseKey>,
    /// `--add-kms-key`: one KMS Encrypt per key and file.
    new_kms: Vec<coffer::KmsRecipient>,
    rotate: bool,
    /// `--context`/`--require-context`: checked before a file is opened. A rekey keeps
    /// the file's context (the payload is bound to it); it never changes it.
    context: ContextCheck,
    allow_classic_mix: bool,
}

impl Changes {
    fn new_recipients(&self) -> Vec<&dyn Recipient> {
        let mut all: Vec<&dyn Recipient> = Vec::new();
        all.extend(self.new_key_files.iter().map(|k| k as &dyn Recipient));
        all.extend(self.new_public.iter().map(AnyRecipient::as_recipient));
        all.extend(self.new_kms.iter().map(|k| k as &dyn Recipient));
        all.extend(self.new_passphrase.iter().map(|k| k as &dyn Recipient));
        all
    }
}

pub fn rekey(args: &RekeyArgs) -> i32 {
    let started = Instant::now();
    install_signal_handler();
    let batch = &args.batch;
    let limits = Limits {
        max_memory_mib: batch.max_kdf_memory,
        max_work_mib_passes: batch.max_kdf_work,
    };
    let adds_passphrase = args.add_passphrase || args.change_passphrase;
    let changes_anything = adds_passphrase
        || args.remove_passphrase
        || args.rotate
        || !args.add_key_file.is_empty()
        || !args.add_kms_key.is_empty()
        || !args.remove_key_file.is_empty()
        || !args.remove_slot.is_empty()
        || !args.add_recipient.is_empty()
        || !args.add_recipients_file.is_empty()
        || !args.remove_recipient.is_empty();
    if !changes_anything {
        return fail(&CliError::usage("nothing to change").hint(
            "give --add-passphrase, --change-passphrase, --remove-passphrase, --add-key-file, \
             --add-kms-key, --remove-key-file, --add-recipient, --add-recipients-file, \
             --remove-recipient, --remove-slot or --rotate",
        ));
    }
    let new_source = &args.new_passphrase;
    let has_new_source = new_source.new_passphrase_file.is_some()
        || new_source.new_passphrase_fd.is_some()
        || new_source.new_passphrase_env.is_some();
    if has_new_source && !adds_passphrase {
        return fail(&CliError::usage(
            "a --new-passphrase-* source needs --add-passphrase or --change-passphrase",
        ));
    }
    if adds_passphrase {
        if let Err(err) = check_kdf_flags(args.kdf.params(), &limits) {
            return fail(&err);
        }
    }
    let opts = PlanOptions {
        mode: Mode::Verify,
        recursive: batch.recursive,
        follow_symlinks: batch.follow_symlinks,
        output: None,
        stdout: false,
        output_dir: None,
        force: false,
        delete_source: false,
    };
    let jobs = match plan::plan(&args.files, &opts) {
        Ok(plan) => plan.jobs,
        Err(err) => return fail(&err),
    };
    if jobs.iter().any(|job| job.path().is_none()) {
        return fail(&CliError::usage(
            "rekey rewrites files in place: it needs file names, not stdin",
        ));
    }
    let sink = if batch.json || batch.report.is_some() {
        match json_sink(batch.report.as_deref(), false, false) {
            Ok(sink) => Some(sink),
            Err(err) => return fail(&err),
        }
    } else {
        None
    };
    let reporter = Reporter::new("rekey", batch.quiet, sink, started);
    let prepared = prepare(args, limits);
    let (identities, changes) = match prepared {
        Ok(prepared) => prepared,
        Err(err) => return fail(&err),
    };
    let cancel = cancel_flag();
    for (index, job) in jobs.iter().enumerate() {
        let path = job.path().map(Path::to_path_buf);
        let outcome = match &job.state {
            JobState::Skip(reason) => Outcome::Skipped(reason.clone()),
            JobState::Fail(err) => Outcome::Failed(err.clone()),
            JobState::Run => {
                let file = path.as_deref().expect("checked: every job has a path");
                match rekey_file(file, &identities, &changes, batch.threads) {
                    Ok(bytes) => Outcome::Ok {
                        output: Some(file.display().to_string()),
                        bytes,
                    },
                    Err(err) => Outcome::Failed(err.context(job.display())),
                }
            }
        };
        reporter.record(index, FileResult { path, outcome });
        if cancel.load(Ordering::Relaxed) {
            break;
        }
    }
    reporter.finish()
}

/// Reads every credential before touching any file: key files first, then the current
/// passphrase, then the new one (so a typo in a key file never costs a prompt).
fn prepare(args: &RekeyArgs, limits: Limits) -> Result<(Identities, Changes), CliError> {
    let context = ContextCheck::from_args(&args.context)?;
    let remove_key_files = args
        .remove_key_file
        .iter()
        .map(|path| Ok((path.clone(), Arc::new(read_key_file(path)?))))
        .collect::<Result<Vec<_>, CliError>>()?;
    let new_key_files = args
        .add_key_file
        .iter()
        .map(|path| read_key_file(path))
        .collect::<Result<Vec<_>, CliError>>()?;
    let mut new_public = recipients::parse_arguments("--add-recipient", &args.add_recipient)?;
    for path in &args.add_recipients_file {
        new_public.extend(recipients::read_recipients_file(path)?);
    }
    let removed_public = recipients::parse_arguments("--remove-recipient", &args.remove_recipient)?;
    let credentials = &args.batch.credentials;
    let needs_passphrase = args.change_passphrase || args.remove_passphrase;
    // As elsewhere, a passphrase is read when asked for or when no other credential is
    // given; --remove-key-file counts as a key file, since it opens the file too.
    let others = !remove_key_files.is_empty() || !args.identities.identity_files.is_empty();
    let with_passphrase = needs_passphrase || credentials.wants_passphrase(others);
    let new_kms = super::kms::recipients_for(&args.add_kms_key)?;
    let mut identities = Identities::read(credentials, &args.identities, with_passphrase, limits)?;
    let remove_recipients = args
        .remove_recipient
        .iter()
        .zip(&removed_public)
        .map(|(given, recipient)| Ok((given.clone(), identity_of(&identities, recipient, given)?)))
        .collect::<Result<Vec<_>, CliError>>()?;
    identities
        .key_files
        .extend(remove_key_files.iter().map(|(_, key)| Arc::clone(key)));
    let new_passphrase = if args.add_passphrase || args.change_passphrase {
        let pass = passphrase::obtain(&args.new_passphrase.as_source(), Purpose::Rekey)?;
        Some(PassphraseKey::generate(&pass, args.kdf.params(), &limits)?)
    } else {
        None
    };
    Ok((
        identities,
        Changes {
            remove_passphrase: needs_passphrase,
            remove_slots: args.remove_slot.iter().copied().collect(),
            remove_key_files,
            remove_recipients,
            new_key_files,
            new_public,
            new_passphrase,
            new_kms,
            rotate: args.rotate,
            context,
            allow_classic_mix: args.allow_classic_mix,
        },
    ))
}

/// The index of the identity (from `-i`) whose recipient is `recipient`: a header does
/// not name its recipients, so only the identity can find the slot to remove.
fn identity_of(
    identities: &Identities,
    recipient: &AnyRecipient,
    given: &str,
) -> Result<usize, CliError> {
    // Compared as keys: coffer1... and age1... spell the same X25519 key differently.
    identities
        .public
        .iter()
        .position(|identity| identity.recipient() == *recipient)
        .ok_or_else(|| {
            CliError::usage(format!(
                "--remove-recipient {}: no identity given with -i belongs to this recipient",
                recipients::preview(given)
            ))
            .hint(
                "a file's header does not name its recipients, so only the recipient's \
                 identity can find its slot: give it with -i FILE, or remove the slot by \
                 index with --remove-slot N (`coffer inspect` lists the slots)",
            )
        })
}

/// Rekeys one file in place, returning the bytes written.
fn rekey_file(
    path: &Path,
    identities: &Identities,
    changes: &Changes,
    threads: usize,
) -> Result<u64, CliError> {
    let file = File::open(path).map_err(|e| CliError::io(e.to_string()))?;
    let before = file.metadata().map_err(|e| CliError::io(e.to_string()))?;
    if !before.is_file() {
        return Err(CliError::usage("rekey needs a regular file"));
    }
    let decryptor = Decryptor::new(file)?;
    changes.context.check(decryptor.context())?;
    let file_key = identities.unlock(&decryptor)?;
    let slot_count = decryptor.slots().len();

    let mut remove = BTreeSet::new();
    for &index in &changes.remove_slots {
        if index >= slot_count {
            return Err(CliError::usage(format!(
                "there is no slot {index}: the file has {slot_count} (numbered from 0, as `coffer inspect` shows)"
            )));
        }
        remove.insert(index);
    }
    if changes.remove_passphrase {
        let passphrase = identities
            .passphrase
            .as_ref()
            .expect("a passphrase is read for --change/--remove-passphrase");
        let opened = decryptor.slots_opened_by(passphrase)?;
        if opened.is_empty() {
            return Err(CliError::new(
                Kind::WrongKey,
                "the passphrase given opens no slot of this file, so none is replaced or removed",
            ));
        }
        remove.extend(opened);
    }
    for (key_path, key) in &changes.remove_key_files {
        let opened = decryptor.slots_opened_by(&**key)?;
        if opened.is_empty() {
            return Err(CliError::new(
                Kind::WrongKey,
                format!("key file {} opens no slot of this file", key_path.display()),
            ));
        }
        remove.extend(opened);
    }
    for (given, index) in &changes.remove_recipients {
        let identity = identities.public[*index].as_identity();
        let opened = decryptor.slots_opened_by(identity)?;
        if opened.is_empty() {
            return Err(CliError::new(
                Kind::WrongKey,
                format!(
                    "the identity of --remove-recipient {} opens no slot of this file",
                    recipients::preview(given)
                ),
            ));
        }
        remove.extend(opened);
    }
    let keep: Vec<usize> = (0..slot_count).filter(|i| !remove.contains(i)).collect();
    check_mix(decryptor.slots(), &keep, changes)?;
    let added = changes.new_recipients();
    if keep.is_empty() && added.is_empty() {
        return Err(CliError::usage(
            "refusing to remove the last slot: nobody could open the file any more",
        ));
    }

    let temp = TempOutput::create(path)
        .map_err(|e| CliError::io_while("creating a temporary file", &e))?;
    let written = if changes.rotate {
        let carried = carry_over(&decryptor, &keep, identities)?;
        let mut recipients: Vec<&dyn Recipient> =
            carried.iter().map(|r| r.as_recipient()).collect();
        recipients.extend(added);
        // The new file keeps the context: rekey changes who opens a file, not where it
        // belongs.
        let encryptor = Encryptor::with_context(&recipients, decryptor.context().clone())?;
        let reader = decryptor.into_reader(&file_key)?;
        let mut options = PipelineOptions::with_threads(threads);
        options.cancel = Some(cancel_flag());
        encryptor
            .encrypt_to_file(reader, temp.as_file(), &options)
            .map_err(|err| match err {
                // The payload reader's own errors (a tampered chunk) come back through io.
                coffer::Error::Io(e) => CliError::lib(coffer::Error::from_io(e)),
                other => CliError::lib(other),
            })?
    } else {
        let header = decryptor.rekey(&file_key, &keep, &added)?;
        let mut out = temp.as_file();
        out.write_all(header.as_bytes())
            .map_err(|e| write_error(path, &e))?;
        let mut payload = decryptor.into_payload();
        let copied = io::copy(&mut payload, &mut out).map_err(|e| write_error(path, &e))?;
        header.len() as u64 + copied
    };
    let out = temp.as_file();
    out.set_permissions(fs::Permissions::from_mode(before.mode() & 0o777))
        .and_then(|()| out.sync_all())
        .map_err(|e| write_error(path, &e))?;
    unchanged_since(path, &before)?;
    temp.persist(true)
        .map_err(|e| CliError::io_while(format_args!("replacing {}", path.display()), &e))?;
    sync_directory(path);
    Ok(written)
}

/// The mixing rule of encrypt, over the slots kept and the recipients added.
fn check_mix(slots: &[Slot], keep: &[usize], changes: &Changes) -> Result<(), CliError> {
    let kept = keep
        .iter()
        .filter_map(|&i| recipients::slot_is_post_quantum(&slots[i]));
    let added = changes.new_public.iter().map(AnyRecipient::is_post_quantum);
    let (post_quantum, classic) =
        kept.chain(added).fold(
            (0, 0),
            |(pq, c), is_pq| if is_pq { (pq + 1, c) } else { (pq, c + 1) },
        );
    recipients::check_counts(post_quantum, classic, changes.allow_classic_mix)
}

/// A credential that can make a kept slot again under a new file key.
enum Carried {
    Passphrase(Arc<PassphraseKey>),
    KeyFile(Arc<SymmetricKey>),
    Public(AnyRecipient),
    /// A KMS slot the allowed KMS key opened: made again under the slot's key ARN.
    Kms(coffer::KmsRecipient),
}

impl Carried {
    fn as_recipient(&self) -> &dyn Recipient {
        match self {
            Carried::Passphrase(key) => &**key,
            Carried::KeyFile(key) => &**key,
            Carried::Public(recipient) => recipient.as_recipient(),
            Carried::Kms(key) => key,
        }
    }
}

/// For `--rotate`: the credential for every kept slot, or an error naming the first slot
/// nobody here can make again.
fn carry_over(
    decryptor: &Decryptor<File>,
    keep: &[usize],
    identities: &Identities,
) -> Result<Vec<Carried>, CliError> {
    let mut carried = Vec::with_capacity(keep.len());
    for &index in keep {
        let slot = &decryptor.slots()[index];
        let found = match slot {
            Slot::Passphrase(body) => match &identities.passphrase {
                Some(p) if decryptor.slots_opened_by(p)?.contains(&index) => {
                    Some(Carried::Passphrase(p.key_for(body.params(), *body.salt())?))
                }
                _ => None,
            },
            Slot::KeyFile(_) => identities
                .key_files
                .iter()
                .find(|key| {
                    decryptor
                        .slots_opened_by(&***key as &dyn Identity)
                        .is_ok_and(|opened| opened.contains(&index))
                })
                .map(|key| Carried::KeyFile(Arc::clone(key))),
            // A public-key slot is made again for the recipient of the identity that
            // opens it.
            slot if recipients::slot_is_post_quantum(slot).is_some() => identities
                .public
                .iter()
                .find(|identity| {
                    decryptor
                        .slots_opened_by(identity.as_identity())
                        .is_ok_and(|opened| opened.contains(&index))
                })
                .map(|identity| Carried::Public(identity.recipient())),
            Slot::Kms(body) => match &identities.kms {
                Some(kms) if decryptor.slots_opened_by(kms)?.contains(&index) => Some(
                    Carried::Kms(coffer::KmsRecipient::new(kms.client(), body.key_arn())),
                ),
                _ => None,
            },
            _ => None,
        };
        carried.push(found.ok_or_else(|| {
            CliError::usage(format!(
                "--rotate cannot make slot {index} ({}) again without its credential",
                slot.type_name()
            ))
            .hint(format!(
                "give the passphrase, key file, identity (-i) or --kms-key that opens it, or drop it with --remove-slot {index}"
            ))
        })?);
    }
    Ok(carried)
}

fn write_error(path: &Path, err: &io::Error) -> CliError {
    CliError::io_while(format_args!("writing the new {}", path.display()), err)
}

/// Refuses to replace a file that changed (or was replaced) while it was being rekeyed.
fn unchanged_since(path: &Path, before: &fs::Metadata) -> Result<(), CliError> {
    let now = fs::metadata(path).map_err(|e| CliError::io(e.to_string()))?;
    let same = now.dev() == before.dev()
        && now.ino() == before.ino()
        && now.len() == before.len()
        && now.mtime() == before.mtime()
        && now.mtime_nsec() == before.mtime_nsec();
    if same {
        Ok(())
    } else {
        Err(CliError::io(
            "the file changed while it was being rekeyed; it was left as it is",
        ))
    }
}

/// Makes the rename durable. Best effort: a directory that cannot be opened or synced
/// (some network filesystems) still holds the renamed file.
fn sync_directory(path: &Path) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

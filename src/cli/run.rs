//! encrypt, decrypt and verify: the batch runner (a pool of threads pulling files from a
//! queue) and the per-file work on top of the library.

use std::fs::{self, File};
use std::io::{self, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use coffer::{Decryptor, Encryptor, KdfParams, Limits, PipelineOptions};
use zeroize::Zeroizing;

use super::args::{
    BatchArgs, DecryptArgs, EncryptArgs, IdentityArgs, RangeSpec, RecipientArgs, VerifyArgs,
    WriteArgs,
};
use super::context::ContextFlags;
use super::credentials::{Identities, Recipients};
use super::error::{CliError, Kind};
use super::hooks::{self, point};
use super::mapped::MappedFile;
use super::output::{
    cancel_flag, install_signal_handler, stdin_file, Finish, Output, ReadBack, Ready, Target,
};
use super::plan::{self, check_target, Input, Job, JobState, Mode, PlanOptions};
use super::progress::Progress;
use super::recipients::looks_like_recipient;
use super::removal::{Removal, Removals};
use super::report::{json_sink, FileResult, Outcome, Reporter};
use super::source::Source;

/// Files below this size are processed on the calling thread with the streaming
/// adapters: no pipeline batch (1 MiB) to allocate and wipe.
const SMALL_FILE: u64 = 1024 * 1024;

/// A single input smaller than this gets no progress bar.
const PROGRESS_MIN_BYTES: u64 = 16 * 1024 * 1024;

pub fn encrypt(args: &EncryptArgs) -> i32 {
    let params = args.kdf.params();
    let limits = Limits {
        max_memory_mib: args.batch.max_kdf_memory,
        max_work_mib_passes: args.batch.max_kdf_work,
    };
    // Checked before anything else, so a bad flag never costs a prompt.
    if let Err(err) = check_kdf_flags(params, &limits) {
        return fail(&err);
    }
    if let Err(err) = check_no_recipient_operand(&args.files) {
        return fail(&err);
    }
    let context = match ContextFlags::to_store(&args.context) {
        Ok(context) => context,
        Err(err) => return fail(&err),
    };
    run_batch(
        Mode::Encrypt,
        &args.files,
        Some(&args.write),
        &args.batch,
        Keys::Encrypt {
            recipients: &args.recipients,
            params,
        },
        context,
    )
}

/// What a run needs besides the shared credential flags: on encrypt the recipients and
/// the cost of new passphrase slots, otherwise the identity files.
#[derive(Clone, Copy)]
enum Keys<'a> {
    Encrypt {
        recipients: &'a RecipientArgs,
        params: KdfParams,
    },
    Open(&'a IdentityArgs),
}

/// age's `-r RECIPIENT` is `--recursive` here (as in zstd): a recipient string where a
/// file name belongs gets a usage error that says so, not "no such file".
fn check_no_recipient_operand(files: &[PathBuf]) -> Result<(), CliError> {
    for file in files {
        let text = file.to_string_lossy();
        if looks_like_recipient(&text) && fs::symlink_metadata(file).is_err() {
            return Err(CliError::usage(format!(
                "{:?}... is a recipient, not an input file: coffer's -r means --recursive",
                text.get(..12).unwrap_or(&text)
            ))
            .hint("give recipients with --recipient RECIPIENT or -R FILE"));
        }
    }
    Ok(())
}

/// The floor and caps for new passphrase slots, as a usage error naming the flag.
pub fn check_kdf_flags(params: KdfParams, limits: &Limits) -> Result<(), CliError> {
    if let Err(err) = params.check_floor(limits) {
        let flag = match &err {
            coffer::Error::KdfAboveCap { param, .. }
            | coffer::Error::KdfBelowFloor { param, .. }
                if !param.starts_with("work") =>
            {
                format!("--kdf-{param}")
            }
            _ => "--kdf-memory/--kdf-passes/--kdf-lanes".to_string(),
        };
        let memory_over_cap = matches!(
            err,
            coffer::Error::KdfAboveCap {
                param: "memory",
                ..
            }
        );
        let mut err = CliError::lib(err).context(flag);
        if memory_over_cap {
            err = err.hint(
                "readers refuse such files unless given --max-kdf-memory; \
                 pass --max-kdf-memory MIB here too if you really mean it",
            );
        }
        return Err(err);
    }
    Ok(())
}

pub fn decrypt(args: &DecryptArgs) -> i32 {
    let context = match ContextFlags::to_check(&args.context) {
        Ok(context) => context,
        Err(err) => return fail(&err),
    };
    match args.range {
        Some(range) => decrypt_range(args, range, &context),
        None => run_batch(
            Mode::Decrypt,
            &args.files,
            Some(&args.write),
            &args.batch,
            Keys::Open(&args.identities),
            context,
        ),
    }
}

pub fn verify(args: &VerifyArgs) -> i32 {
    match ContextFlags::to_check(&args.context) {
        Ok(context) => run_batch(
            Mode::Verify,
            &args.files,
            None,
            &args.batch,
            Keys::Open(&args.identities),
            context,
        ),
        Err(err) => fail(&err),
    }
}

/// Prints a run-level error and returns its exit code.
pub fn fail(err: &CliError) -> i32 {
    eprintln!("{}", err.render());
    err.kind.exit_code()
}

/// Everything a worker needs to process one file.
struct Ctx<'a> {
    mode: Mode,
    force: bool,
    delete_source: bool,
    mkdir: bool,
    /// Encrypt: the recipients of the run (the passphrase key derived once).
    recipients: Option<Recipients>,
    /// Decrypt and verify, and encrypt with --delete-source (to read outputs back).
    identities: Option<Identities>,
    /// The context stored in (encrypt) or asked of (decrypt, verify) every file.
    context: ContextFlags,
    cancel: Arc<AtomicBool>,
    reporter: &'a Reporter,
    /// Sources waiting for their outputs to be synced (`--delete-source`).
    removals: Removals,
}

fn run_batch(
    mode: Mode,
    files: &[PathBuf],
    write: Option<&WriteArgs>,
    batch: &BatchArgs,
    keys: Keys<'_>,
    context: ContextFlags,
) -> i32 {
    let started = Instant::now();
    install_signal_handler();
    let opts = PlanOptions {
        mode,
        recursive: batch.recursive,
        follow_symlinks: batch.follow_symlinks,
        output: write.and_then(|w| w.output.as_deref()),
        stdout: write.is_some_and(|w| w.stdout),
        output_dir: write.and_then(|w| w.output_dir.as_deref()),
        force: write.is_some_and(|w| w.force),
        delete_source: write.is_some_and(|w| w.delete_source),
    };
    let delete_source = opts.delete_source;
    let (jobs, directories) = match plan::plan(files, &opts) {
        Ok(plan) => (plan.jobs, plan.directories),
        Err(err) => return fail(&err),
    };
    if let Some(report) = batch.report.as_deref() {
        if let Err(err) = plan::check_report_path(report, &jobs) {
            return fail(&err);
        }
    }
    let runnable: Vec<&Job> = jobs
        .iter()
        .filter(|j| matches!(j.state, JobState::Run))
        .collect();
    let to_stdout = runnable.iter().any(|j| j.target == Target::Stdout);
    let reads_stdin = runnable.iter().any(|j| j.input == Input::Stdin);
    if mode == Mode::Encrypt && to_stdout && plan::stdout_is_terminal() {
        return fail(
            &CliError::usage("refusing to write ciphertext to a terminal")
                .hint("redirect stdout to a file or a pipe, or use -o PATH"),
        );
    }
    if reads_stdin && batch.credentials.passphrase.passphrase_fd == Some(0) {
        return fail(&CliError::usage(
            "stdin cannot carry both the passphrase (--passphrase-fd 0) and the data",
        ));
    }
    if reads_stdin && delete_source {
        return fail(&CliError::usage(
            "--delete-source needs input files, not stdin",
        ));
    }
    let sink = if batch.json || batch.report.is_some() {
        match json_sink(batch.report.as_deref(), to_stdout, opts.force) {
            Ok(sink) => Some(sink),
            Err(err) => return fail(&err),
        }
    } else {
        None
    };
    let json_on_stderr = sink.is_some() && batch.report.is_none() && to_stdout;
    let mut reporter = Reporter::new(mode.name(), batch.quiet, sink, started);
    reporter.expect_files(jobs.iter().map(|j| j.path().map(Path::to_path_buf)));

    let limits = Limits {
        max_memory_mib: batch.max_kdf_memory,
        max_work_mib_passes: batch.max_kdf_work,
    };
    let (mut recipients, mut identities) = (None, None);
    if !runnable.is_empty() {
        let credentials = &batch.credentials;
        let obtained = match keys {
            // One derivation for the whole run, whatever the file count.
            Keys::Encrypt {
                recipients: public,
                params,
            } => Recipients::obtain(credentials, public, params, &limits).map(|mut r| {
                if delete_source {
                    identities = Some(r.as_identities(limits));
                }
                recipients = Some(r);
            }),
            Keys::Open(files) => {
                Identities::obtain(credentials, files, limits).map(|i| identities = Some(i))
            }
        };
        if let Err(err) = obtained {
            return fail(&err);
        }
    }
    // The bar starts after the prompt and the derivation, so it never garbles the prompt.
    let total = runnable.iter().map(|j| j.size).sum::<Option<u64>>();
    // Small single inputs finish before a bar would be worth drawing.
    let worth_a_bar = runnable.len() > 1 || total.is_none_or(|t| t >= PROGRESS_MIN_BYTES);
    if !batch.quiet && !json_on_stderr && io::stderr().is_terminal() && worth_a_bar {
        reporter.set_progress(Progress::new(total, runnable.len() as u64));
    }
    let runnable_count = runnable.len();
    drop(runnable);
    let ctx = Ctx {
        mode,
        force: opts.force,
        delete_source,
        mkdir: opts.output_dir.is_some(),
        recipients,
        identities,
        context,
        cancel: cancel_flag(),
        reporter: &reporter,
        removals: Removals::default(),
    };
    hooks::pause(point::PLANNED);
    if let Err(err) = create_directories(&directories) {
        reporter.error(&err);
        return err.kind.exit_code();
    }
    execute(&jobs, &ctx, batch.threads, to_stdout, runnable_count);
    drop(ctx);
    let code = reporter.finish();
    hooks::pause(point::DONE);
    code
}

/// Creates the output directories of a `-r --output-dir` run (mode 0700, as
/// `--output-dir` does), so that empty directories come back too.
fn create_directories(directories: &[PathBuf]) -> Result<(), CliError> {
    use std::os::unix::fs::DirBuilderExt;
    for dir in directories {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                CliError::io_while(format_args!("creating directory {}", dir.display()), &e)
            })?;
    }
    Ok(())
}

/// Runs every job: files in parallel with one worker each when there are more files
/// than threads, else one at a time with every thread.
fn execute(jobs: &[Job], ctx: &Ctx<'_>, threads: usize, to_stdout: bool, runnable: usize) {
    // One file per thread: at most a small multiple of the cores (-T is clamped).
    let pool = PipelineOptions::clamp_threads(threads, None);
    if runnable > pool && pool > 1 && !to_stdout {
        let next = AtomicUsize::new(0);
        thread::scope(|scope| {
            for _ in 0..pool {
                scope.spawn(|| loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(index) else { break };
                    run_job(index, job, ctx, 1);
                });
            }
        });
    } else {
        for (index, job) in jobs.iter().enumerate() {
            run_job(index, job, ctx, threads);
        }
    }
    ctx.removals.finish(ctx.reporter);
}

/// Runs job `index` and records its result, or queues its source for removal (which
/// records it).
fn run_job(index: usize, job: &Job, ctx: &Ctx<'_>, threads: usize) {
    let path = job.path().map(Path::to_path_buf);
    let outcome = match &job.state {
        JobState::Skip(reason) => Outcome::Skipped(reason.clone()),
        JobState::Fail(err) => Outcome::Failed(err.clone()),
        JobState::Run if ctx.cancel.load(Ordering::Relaxed) => {
            Outcome::Failed(CliError::lib(coffer::Error::Interrupted).context(job.display()))
        }
        JobState::Run => {
            let output = match &job.target {
                Target::File(p) => Some(p.display().to_string()),
                Target::Stdout => Some("-".to_string()),
                Target::Stream(fd) => Some(format!("/dev/fd/{fd}")),
                Target::Sink => None,
            };
            match process(job, ctx, threads) {
                Ok(Processed::Done(bytes)) => Outcome::Ok { output, bytes },
                Ok(Processed::RemoveSource(pending)) => {
                    let removal = Removal {
                        index,
                        path,
                        output,
                        bytes: pending.bytes,
                        source: pending.source,
                        consumed: pending.consumed,
                        keep_hard_links: pending.keep_hard_links,
                        ready: pending.ready,
                    };
                    ctx.removals.push(removal, ctx.reporter);
                    return;
                }
                Err(err) => Outcome::Failed(err.context(job.display())),
            }
        }
    };
    ctx.reporter.record(index, FileResult { path, outcome });
}

/// How a file ended in [`process`].
enum Processed {
    /// Plaintext bytes.
    Done(u64),
    /// The output is written and verified; it and the source wait in `removal`.
    RemoveSource(Box<PendingRemoval>),
}

struct PendingRemoval {
    bytes: u64,
    source: Source,
    consumed: Option<u64>,
    keep_hard_links: bool,
    ready: Ready,
}

/// An open input: the file, its size if regular, and (for a path) the [`Source`] that
/// `--delete-source` removes.
struct Opened {
    file: File,
    size: Option<u64>,
    source: Option<Source>,
    meta: Option<fs::Metadata>,
}

fn open_input(job: &Job) -> Result<Opened, CliError> {
    let (file, source) = match (&job.input, &job.anchor) {
        (Input::Stdin, _) => (
            stdin_file().map_err(|e| CliError::io_while("opening stdin", &e))?,
            None,
        ),
        (Input::Path(_), Some(anchor)) => {
            let source = Source::open(anchor)?;
            let file = source
                .file
                .try_clone()
                .map_err(|e| CliError::io(e.to_string()))?;
            (file, Some(source))
        }
        (Input::Path(p), None) => (
            File::open(p).map_err(|e| CliError::io(e.to_string()))?,
            None,
        ),
    };
    let meta = file.metadata().ok().filter(|m| m.is_file());
    let size = meta.as_ref().map(|m| m.len());
    Ok(Opened {
        file,
        size,
        source,
        meta,
    })
}

fn pipeline_options(
    ctx: &Ctx<'_>,
    threads: usize,
) -> (PipelineOptions, Option<Arc<std::sync::atomic::AtomicU64>>) {
    let mut options = PipelineOptions::with_threads(threads);
    options.cancel = Some(Arc::clone(&ctx.cancel));
    let mut counter = None;
    if let Some(progress) = ctx.reporter.progress() {
        let (callback, reported) = progress.callback();
        options.progress = Some(callback);
        counter = Some(reported);
    }
    (options, counter)
}

/// One file, start to finish.
///
/// With `--delete-source` the order is what makes it safe: the output is read back
/// through its descriptor (authenticated, and on decrypt compared with a second
/// decryption of the source) and only then named; the source then waits in `removal`
/// until the output is synced, and is removed only if its name still refers to the
/// unchanged file that was read.
fn process(job: &Job, ctx: &Ctx<'_>, threads: usize) -> Result<Processed, CliError> {
    let opened = open_input(job)?;
    let size = opened.size;
    let threads = PipelineOptions::clamp_threads(threads, size);
    let (options, reported) = pipeline_options(ctx, threads);
    let result = match ctx.mode {
        Mode::Encrypt => encrypt_file(job, ctx, opened.file, size, &options),
        Mode::Decrypt | Mode::Verify => decrypt_file(job, ctx, opened.file, size, &options),
    };
    if let Some(progress) = ctx.reporter.progress() {
        let reported = reported.map_or(0, |r| r.load(Ordering::Relaxed));
        progress.file_done(size, reported);
    }
    let (bytes, output) = result?;
    // A regular file that was cut or extended while it was read would give an output
    // that matches neither version (tar: "file changed as we read it"): keep nothing.
    if let Some(size) = size.filter(|&size| ctx.mode == Mode::Encrypt && size != bytes) {
        return Err(changed_while_read(size, bytes));
    }
    hooks::pause(point::READ);
    let deleting = ctx.delete_source && ctx.mode != Mode::Verify;
    let source = opened.source.filter(|_| deleting);
    let verify = |file: &File| match (ctx.mode, &source) {
        (Mode::Encrypt, _) => verify_ciphertext(file, ctx, threads, bytes),
        (_, Some(source)) => verify_plaintext(file, &source.file, ctx, threads, bytes),
        (_, None) => Ok(()),
    };
    let finish = Finish {
        overwrite: ctx.force,
        like: opened.meta.as_ref(),
        verify: source.is_some().then_some(&verify as &ReadBack<'_>),
    };
    if source.is_none() {
        output.commit(&finish)?;
        return Ok(Processed::Done(bytes));
    }
    let ready = output.prepare(&finish).map_err(CliError::kept)?;
    // Without a ready file (refused when planning: --delete-source needs a regular
    // output) there is nothing to remove the source for.
    let (Some(source), Some(ready)) = (source, ready) else {
        return Ok(Processed::Done(bytes));
    };
    Ok(Processed::RemoveSource(Box::new(PendingRemoval {
        bytes,
        source,
        // Encrypt: every byte of the source is in the output, and no other name keeps
        // the plaintext. Decrypt: the ciphertext was authenticated to its end.
        consumed: (ctx.mode == Mode::Encrypt).then_some(bytes),
        keep_hard_links: ctx.mode == Mode::Encrypt,
        ready,
    })))
}

fn is_small(size: Option<u64>) -> bool {
    size.is_some_and(|s| s < SMALL_FILE)
}

fn changed_while_read(size: u64, read: u64) -> CliError {
    CliError::io(format!(
        "the file changed while it was read ({size} bytes when opened, {read} read); nothing was written"
    ))
}

/// The length of a large regular file read from its start, which several workers can
/// read themselves, each its own batches (encryption seals them where they lie, mapped;
/// decryption copies them with `pread`, and opens the copy), instead of one reading
/// thread copying it all. With one worker, a reading thread beside it is faster
/// (docs/PERFORMANCE.md, "Reading the input").
fn positional(input: &mut File, size: Option<u64>, threads: usize) -> Option<u64> {
    let size = size.filter(|_| !is_small(size) && threads > 1)?;
    (input.stream_position().ok()? == 0).then_some(size)
}

/// After a positional read: the file must still have the length it had when opened
/// (bytes past it were not read; a cut one gave zeros or a short read).
fn check_unchanged(input: &File, size: u64, cut: bool) -> Result<(), CliError> {
    let now = input.metadata().map_or(0, |m| m.len());
    if cut && now == size {
        // A mapped page that failed to load, the file's length as it was: a read error.
        let eio = io::Error::from_raw_os_error(libc::EIO);
        return Err(CliError::io_while("reading", &eio));
    }
    if cut || now != size {
        return Err(CliError::io(format!(
            "the file changed while it was read ({size} bytes when opened, {now} now); nothing was written"
        )));
    }
    Ok(())
}

/// Encrypts the first `size` bytes of a large regular file, which the workers read
/// themselves: mapped, or with `pread` where it cannot be mapped. The outer error is the
/// input's (it changed, or could not be read); the inner one the pipeline's.
fn encrypt_positional(
    encryptor: Encryptor,
    input: &File,
    size: u64,
    output: &mut Output,
    options: &PipelineOptions,
) -> Result<coffer::Result<u64>, CliError> {
    let temp = output.temp_file(Some(encryptor.file_len(size)));
    let Ok(mapped) = MappedFile::new(input, size) else {
        let bytes = match temp {
            Some(file) => encryptor.encrypt_file_to_file(input, size, file, options),
            None => encryptor.encrypt_file(input, size, output.writer(), options),
        };
        check_unchanged(input, size, false)?;
        return Ok(bytes);
    };
    hooks::pause(point::MAPPED);
    let mapped = Arc::new(mapped);
    let mut options = options.clone();
    let map = Arc::clone(&mapped);
    // A batch that read a cut page (zeros) is never written.
    options.release = Some(Arc::new(move |start, len| {
        map.release(start, len);
        match map.was_cut() {
            true => Err(io::Error::other("the file was cut while it was read")),
            false => Ok(()),
        }
    }));
    let bytes = match temp {
        Some(file) => encryptor.encrypt_bytes_to_file(mapped.bytes(), file, &options),
        None => encryptor.encrypt_bytes(mapped.bytes(), output.writer(), &options),
    };
    // A cut file fails the run whatever the pipeline said: it is the input's fault.
    check_unchanged(input, size, mapped.was_cut())?;
    Ok(bytes)
}

fn encrypt_file(
    job: &Job,
    ctx: &Ctx<'_>,
    mut input: File,
    size: Option<u64>,
    options: &PipelineOptions,
) -> Result<(u64, Output), CliError> {
    let recipients = ctx
        .recipients
        .as_ref()
        .expect("encrypt runs hold recipients");
    let mut output = Output::open(&job.target, ctx.mkdir)?;
    let encryptor = Encryptor::with_context(&recipients.list(), ctx.context.store.clone())?;
    let bytes = if let Some(size) = positional(&mut input, size, options.threads) {
        let bytes = encrypt_positional(encryptor, &input, size, &mut output, options)?;
        bytes.map_err(|e| output_error(&job.target, e))?
    } else if is_small(size) {
        let mut writer = encryptor
            .writer(output.writer())
            .map_err(|e| write_error(&job.target, e))?;
        let bytes = copy(&mut input, &mut writer).map_err(|e| match e {
            CopyError::Read(e) => CliError::io_while("reading", &e),
            CopyError::Write(e) => write_error(&job.target, e),
        })?;
        writer.finish().map_err(|e| write_error(&job.target, e))?;
        bytes
    } else if let Some(file) = output.temp_file(size.map(|size| {
        // The ciphertext length, if the input keeps its size while it is read.
        encryptor.file_len(size)
    })) {
        encryptor
            .encrypt_to_file(input, file, options)
            .map_err(|e| output_error(&job.target, e))?
    } else {
        encryptor
            .encrypt(input, output.writer(), options)
            .map_err(|e| output_error(&job.target, e))?
    };
    Ok((bytes, output))
}

fn decrypt_file(
    job: &Job,
    ctx: &Ctx<'_>,
    mut input: File,
    size: Option<u64>,
    options: &PipelineOptions,
) -> Result<(u64, Output), CliError> {
    let identities = ctx
        .identities
        .as_ref()
        .expect("decrypt runs hold identities");
    // A second handle on the input, to see its length after it was read by position.
    let region = positional(&mut input, size, options.threads)
        .and_then(|size| Some((size, input.try_clone().ok()?)));
    let decryptor = Decryptor::new(input)?;
    ctx.context.check.check(decryptor.context())?;
    let file_key = identities.unlock(&decryptor)?;
    let mut output = Output::open(&job.target, ctx.mkdir)?;
    let bytes = if let Some((size, input)) = region {
        let plaintext_len = decryptor.plaintext_len(size).ok();
        match output.temp_file(plaintext_len) {
            Some(file) => decryptor.decrypt_file_to_file(&file_key, size, file, options),
            None => decryptor.decrypt_file(&file_key, size, output.writer(), options),
        }
        .map_err(|e| output_error(&job.target, e))
        .and_then(|bytes| check_unchanged(&input, size, false).map(|()| bytes))?
    } else if is_small(size) {
        let mut reader = decryptor.into_reader(&file_key)?;
        copy(&mut reader, output.writer()).map_err(|e| match e {
            CopyError::Read(e) => output_error(&job.target, coffer::Error::from_io(e)),
            CopyError::Write(e) => write_error(&job.target, e),
        })?
    } else if let Some(file) = output.temp_file(size.and_then(|size| {
        // The plaintext length, if the ciphertext's length is a valid one.
        decryptor.plaintext_len(size).ok()
    })) {
        decryptor
            .decrypt_to_file(&file_key, file, options)
            .map_err(|e| output_error(&job.target, e))?
    } else {
        decryptor
            .decrypt(&file_key, output.writer(), options)
            .map_err(|e| output_error(&job.target, e))?
    };
    Ok((bytes, output))
}

/// Reads a synced encrypt output back through its descriptor and authenticates it with
/// the run's key (no derivation) before `--delete-source` removes the input.
fn verify_ciphertext(
    written: &File,
    ctx: &Ctx<'_>,
    threads: usize,
    expected: u64,
) -> Result<(), CliError> {
    let check = || -> Result<u64, CliError> {
        let decryptor = Decryptor::new(rewound(written)?)?;
        let file_key = decryptor.unlock(&verify_identities(ctx).list())?;
        Ok(decryptor.decrypt(&file_key, &mut io::sink(), &verify_options(ctx, threads))?)
    };
    read_back_result(check(), expected)
}

/// Reads a synced decrypt output back through its descriptor and compares it with a
/// second decryption of the source before `--delete-source` removes the source.
fn verify_plaintext(
    written: &File,
    source: &File,
    ctx: &Ctx<'_>,
    threads: usize,
    expected: u64,
) -> Result<(), CliError> {
    let check = || -> Result<u64, CliError> {
        let decryptor = Decryptor::new(rewound(source)?)?;
        let file_key = decryptor.unlock(&verify_identities(ctx).list())?;
        let mut compare = CompareWriter::new(rewound(written)?);
        let n = decryptor.decrypt(&file_key, &mut compare, &verify_options(ctx, threads))?;
        compare.finish()?;
        Ok(n)
    };
    read_back_result(check(), expected)
}

fn verify_identities<'c>(ctx: &'c Ctx<'_>) -> &'c Identities {
    ctx.identities
        .as_ref()
        .expect("--delete-source runs hold identities")
}

fn verify_options(ctx: &Ctx<'_>, threads: usize) -> PipelineOptions {
    let mut options = PipelineOptions::with_threads(threads);
    options.cancel = Some(Arc::clone(&ctx.cancel));
    options
}

/// A second handle on `file`, at its start.
fn rewound(file: &File) -> Result<File, CliError> {
    let mut file = file
        .try_clone()
        .map_err(|e| CliError::io_while("reading back", &e))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| CliError::io_while("reading back", &e))?;
    Ok(file)
}

fn read_back_result(result: Result<u64, CliError>, expected: u64) -> Result<(), CliError> {
    match result {
        Ok(n) if n == expected => Ok(()),
        Ok(n) => Err(CliError::new(
            Kind::Authentication,
            format!("reading the output back gave {n} bytes instead of {expected}"),
        )),
        Err(err) => Err(CliError::new(
            err.kind,
            format!("reading the output back: {}", err.message()),
        )),
    }
}

/// A writer that compares what it is given with the next bytes of a file.
struct CompareWriter {
    file: File,
    buf: Zeroizing<Vec<u8>>,
}

impl CompareWriter {
    fn new(file: File) -> Self {
        CompareWriter {
            file,
            buf: Zeroizing::new(Vec::new()),
        }
    }

    /// Checks that the file has nothing past what was compared.
    fn finish(mut self) -> Result<(), CliError> {
        let mut byte = [0u8; 1];
        match self.file.read(&mut byte) {
            Ok(0) => Ok(()),
            Ok(_) => Err(CliError::new(
                Kind::Authentication,
                "the output is longer than the plaintext",
            )),
            Err(e) => Err(CliError::io_while("reading back", &e)),
        }
    }
}

impl Write for CompareWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.resize(data.len(), 0);
        self.file.read_exact(&mut self.buf)?;
        if self.buf[..] != *data {
            return Err(io::Error::other("the output differs from the plaintext"));
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn target_name(target: &Target) -> String {
    match target {
        Target::File(p) => p.display().to_string(),
        Target::Stdout => "standard output".to_string(),
        Target::Stream(2) => "standard error".to_string(),
        Target::Stream(fd) => format!("/dev/fd/{fd}"),
        Target::Sink => "nowhere".to_string(),
    }
}

fn write_error(target: &Target, err: io::Error) -> CliError {
    match coffer::Error::from_io(err) {
        coffer::Error::Io(e) => {
            if e.kind() == io::ErrorKind::BrokenPipe && target_is_stream(target) {
                return CliError::new(Kind::BrokenPipe, "broken pipe");
            }
            CliError::io_while(format_args!("writing {}", target_name(target)), &e)
        }
        other => CliError::lib(other),
    }
}

fn target_is_stream(target: &Target) -> bool {
    matches!(target, Target::Stdout | Target::Stream(_))
}

/// A library error from a run that wrote to `target`: a write failure (a full disk, a
/// closed pipe) names the destination, not the input.
fn output_error(target: &Target, err: coffer::Error) -> CliError {
    match err {
        coffer::Error::Io(e) if is_write_failure(&e, target) => write_error(target, e),
        other => CliError::lib(other),
    }
}

/// Errors that only writing gives (a full disk, a read-only file system, a closed pipe).
fn is_write_failure(err: &io::Error, target: &Target) -> bool {
    use rustix::io::Errno;
    let write_only = [Errno::NOSPC, Errno::DQUOT, Errno::FBIG, Errno::ROFS]
        .iter()
        .any(|errno| err.raw_os_error() == Some(errno.raw_os_error()));
    write_only || (err.kind() == io::ErrorKind::BrokenPipe && target_is_stream(target))
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// `io::copy` with a buffer that is wiped afterwards (it holds plaintext).
fn copy<R: Read + ?Sized, W: Write + ?Sized>(
    reader: &mut R,
    writer: &mut W,
) -> Result<u64, CopyError> {
    let mut buf = Zeroizing::new(vec![0u8; 64 * 1024]);
    let mut total = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        writer.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
}

/// `decrypt --range`: random access through the seekable reader, reading only the
/// header, the covering chunks and the final chunk.
fn decrypt_range(args: &DecryptArgs, range: RangeSpec, context: &ContextFlags) -> i32 {
    let started = Instant::now();
    install_signal_handler();
    let [path] = &args.files[..] else {
        return fail(
            &CliError::usage("--range needs exactly one input file")
                .hint("decrypt one file at a time with --range"),
        );
    };
    if path == Path::new("-") {
        return fail(
            &CliError::usage("--range needs a seekable input file, not stdin")
                .hint("save the input to a file first"),
        );
    }
    let target = match args.write.output.as_deref() {
        Some(p) if p != Path::new("-") => Target::File(p.to_path_buf()),
        _ => Target::Stdout,
    };
    let batch = &args.batch;
    let sink = if batch.json || batch.report.is_some() {
        match json_sink(
            batch.report.as_deref(),
            target == Target::Stdout,
            args.write.force,
        ) {
            Ok(sink) => Some(sink),
            Err(err) => return fail(&err),
        }
    } else {
        None
    };
    let reporter = Reporter::new("decrypt", batch.quiet, sink, started);
    reporter.expect_files([Some(path.clone())]);
    let input = Input::Path(path.clone());
    let result = (|| -> Result<u64, CliError> {
        let file = File::open(path).map_err(|e| CliError::io(e.to_string()))?;
        let meta = file.metadata().map_err(|e| CliError::io(e.to_string()))?;
        if !meta.is_file() {
            return Err(CliError::usage("--range needs a regular (seekable) file"));
        }
        check_target(&input, Some(&meta), &target, args.write.force)?;
        let identities = Identities::obtain(
            &batch.credentials,
            &args.identities,
            Limits {
                max_memory_mib: batch.max_kdf_memory,
                max_work_mib_passes: batch.max_kdf_work,
            },
        )?;
        let decryptor = Decryptor::new(file)?;
        context.check.check(decryptor.context())?;
        let file_key = identities.unlock(&decryptor)?;
        let mut reader = decryptor.into_seekable(&file_key)?;
        let (start, len) = range.resolve(reader.plaintext_len())?;
        reader
            .seek(SeekFrom::Start(start))
            .map_err(|e| CliError::lib(coffer::Error::from_io(e)))?;
        let mut output = Output::open(&target, false)?;
        let copied = copy(&mut (&mut reader).take(len), output.writer()).map_err(|e| match e {
            CopyError::Read(e) => CliError::lib(coffer::Error::from_io(e)),
            CopyError::Write(e) => write_error(&target, e),
        })?;
        output.commit(&Finish {
            overwrite: args.write.force,
            like: None,
            verify: None,
        })?;
        Ok(copied)
    })();
    let outcome = match result {
        Ok(bytes) => Outcome::Ok {
            output: Some(match &target {
                Target::File(p) => p.display().to_string(),
                _ => "-".to_string(),
            }),
            bytes,
        },
        Err(err) => Outcome::Failed(err.context(path.display().to_string())),
    };
    reporter.record(
        0,
        FileResult {
            path: Some(path.clone()),
            outcome,
        },
    );
    reporter.finish()
}

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

use super::args::{BatchArgs, DecryptArgs, EncryptArgs, RangeSpec, VerifyArgs, WriteArgs};
use super::credentials::{Identities, Recipients};
use super::error::{CliError, Kind};
use super::output::{cancel_flag, install_signal_handler, stdin_file, Output, Target};
use super::plan::{self, check_target, Input, Job, JobState, Mode, PlanOptions};
use super::progress::Progress;
use super::report::{json_sink, FileResult, Outcome, Reporter};

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
    run_batch(
        Mode::Encrypt,
        &args.files,
        Some(&args.write),
        &args.batch,
        Some(params),
    )
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
    match args.range {
        Some(range) => decrypt_range(args, range),
        None => run_batch(
            Mode::Decrypt,
            &args.files,
            Some(&args.write),
            &args.batch,
            None,
        ),
    }
}

pub fn verify(args: &VerifyArgs) -> i32 {
    run_batch(Mode::Verify, &args.files, None, &args.batch, None)
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
    cancel: Arc<AtomicBool>,
    reporter: &'a Reporter,
}

fn run_batch(
    mode: Mode,
    files: &[PathBuf],
    write: Option<&WriteArgs>,
    batch: &BatchArgs,
    params: Option<KdfParams>,
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
    };
    let delete_source = write.is_some_and(|w| w.delete_source);
    let jobs = match plan::plan(files, &opts) {
        Ok(jobs) => jobs,
        Err(err) => return fail(&err),
    };
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
        match json_sink(batch.report.as_deref(), to_stdout) {
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
        let obtained = match params {
            // One derivation for the whole run, whatever the file count.
            Some(params) => Recipients::obtain(credentials, params, &limits).map(|r| {
                if delete_source {
                    identities = Some(r.as_identities(limits));
                }
                recipients = Some(r);
            }),
            None => Identities::obtain(credentials, limits).map(|i| identities = Some(i)),
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
        cancel: cancel_flag(),
        reporter: &reporter,
    };
    execute(&jobs, &ctx, batch.threads, to_stdout, runnable_count);
    drop(ctx);
    reporter.finish()
}

/// Runs every job: files in parallel with one worker each when there are more files
/// than threads, else one at a time with every thread.
fn execute(jobs: &[Job], ctx: &Ctx<'_>, threads: usize, to_stdout: bool, runnable: usize) {
    let pool = match threads {
        0 => thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    if runnable > pool && pool > 1 && !to_stdout {
        let next = AtomicUsize::new(0);
        thread::scope(|scope| {
            for _ in 0..pool {
                scope.spawn(|| loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(index) else { break };
                    ctx.reporter.record(index, run_job(job, ctx, 1));
                });
            }
        });
    } else {
        for (index, job) in jobs.iter().enumerate() {
            ctx.reporter.record(index, run_job(job, ctx, threads));
        }
    }
}

fn run_job(job: &Job, ctx: &Ctx<'_>, threads: usize) -> FileResult {
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
                Target::Sink => None,
            };
            match process(job, ctx, threads) {
                Ok(bytes) => Outcome::Ok { output, bytes },
                Err(err) => Outcome::Failed(err.context(job.display())),
            }
        }
    };
    FileResult { path, outcome }
}

fn open_input(job: &Job) -> Result<(File, Option<u64>), CliError> {
    let file = match &job.input {
        Input::Stdin => stdin_file().map_err(|e| CliError::io_while("opening stdin", &e))?,
        Input::Path(p) => File::open(p).map_err(|e| CliError::io(e.to_string()))?,
    };
    let size = file
        .metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    Ok((file, size))
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

/// One file, start to finish. Returns the plaintext bytes.
fn process(job: &Job, ctx: &Ctx<'_>, threads: usize) -> Result<u64, CliError> {
    let (input, size) = open_input(job)?;
    let (options, reported) = pipeline_options(ctx, threads);
    let result = match ctx.mode {
        Mode::Encrypt => encrypt_file(job, ctx, input, size, &options),
        Mode::Decrypt | Mode::Verify => decrypt_file(job, ctx, input, size, &options),
    };
    if let Some(progress) = ctx.reporter.progress() {
        let reported = reported.map_or(0, |r| r.load(Ordering::Relaxed));
        progress.file_done(size, reported);
    }
    let bytes = result?;
    if ctx.delete_source && ctx.mode != Mode::Verify {
        if let (Input::Path(path), Target::File(out)) = (&job.input, &job.target) {
            if ctx.mode == Mode::Encrypt {
                verify_written(out, ctx, threads, bytes)?;
            }
            fs::remove_file(path).map_err(|e| {
                CliError::io_while(
                    "removing the source after success (the output is complete)",
                    &e,
                )
            })?;
        }
    }
    Ok(bytes)
}

fn is_small(size: Option<u64>) -> bool {
    size.is_some_and(|s| s < SMALL_FILE)
}

fn encrypt_file(
    job: &Job,
    ctx: &Ctx<'_>,
    mut input: File,
    size: Option<u64>,
    options: &PipelineOptions,
) -> Result<u64, CliError> {
    let recipients = ctx
        .recipients
        .as_ref()
        .expect("encrypt runs hold recipients");
    let mut output = Output::open(&job.target, ctx.mkdir)?;
    let encryptor = Encryptor::new(&recipients.list())?;
    let bytes = if is_small(size) {
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
        encryptor.encrypt_to_file(input, file, options)?
    } else {
        encryptor.encrypt(input, output.writer(), options)?
    };
    output.commit(ctx.force)?;
    Ok(bytes)
}

fn decrypt_file(
    job: &Job,
    ctx: &Ctx<'_>,
    input: File,
    size: Option<u64>,
    options: &PipelineOptions,
) -> Result<u64, CliError> {
    let identities = ctx
        .identities
        .as_ref()
        .expect("decrypt runs hold identities");
    let decryptor = Decryptor::new(input)?;
    let file_key = decryptor.unlock(&identities.list())?;
    let mut output = Output::open(&job.target, ctx.mkdir)?;
    let bytes = if is_small(size) {
        let mut reader = decryptor.into_reader(&file_key)?;
        copy(&mut reader, output.writer()).map_err(|e| match e {
            CopyError::Read(e) => CliError::lib(coffer::Error::from_io(e)),
            CopyError::Write(e) => write_error(&job.target, e),
        })?
    } else if let Some(file) = output.temp_file(size.and_then(|size| {
        // The plaintext length, if the ciphertext's length is a valid one.
        decryptor.plaintext_len(size).ok()
    })) {
        decryptor.decrypt_to_file(&file_key, file, options)?
    } else {
        decryptor.decrypt(&file_key, output.writer(), options)?
    };
    output.commit(ctx.force)?;
    Ok(bytes)
}

/// Reads an encrypt output back and authenticates it with the run's key (no derivation)
/// before `--delete-source` removes the input.
fn verify_written(
    out: &Path,
    ctx: &Ctx<'_>,
    threads: usize,
    expected: u64,
) -> Result<(), CliError> {
    let identities = ctx
        .identities
        .as_ref()
        .expect("--delete-source runs hold identities");
    let check = || -> Result<u64, CliError> {
        let file = File::open(out).map_err(|e| CliError::io(e.to_string()))?;
        let decryptor = Decryptor::new(file)?;
        let file_key = decryptor.unlock(&identities.list())?;
        let mut options = PipelineOptions::with_threads(threads);
        options.cancel = Some(Arc::clone(&ctx.cancel));
        Ok(decryptor.decrypt(&file_key, &mut io::sink(), &options)?)
    };
    match check() {
        Ok(n) if n == expected => Ok(()),
        Ok(n) => Err(CliError::new(
            Kind::Authentication,
            format!("read back {n} bytes instead of {expected}; the source was kept"),
        )
        .context(format!("verifying {}", out.display()))),
        Err(err) => Err(
            CliError::new(err.kind, format!("{}; the source was kept", err.message()))
                .context(format!("verifying {}", out.display())),
        ),
    }
}

fn write_error(target: &Target, err: io::Error) -> CliError {
    match coffer::Error::from_io(err) {
        coffer::Error::Io(e) => {
            let name = match target {
                Target::File(p) => p.display().to_string(),
                Target::Stdout => "standard output".to_string(),
                Target::Sink => "nowhere".to_string(),
            };
            CliError::io_while(format_args!("writing {name}"), &e)
        }
        other => CliError::lib(other),
    }
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
fn decrypt_range(args: &DecryptArgs, range: RangeSpec) -> i32 {
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
        match json_sink(batch.report.as_deref(), target == Target::Stdout) {
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
            Limits {
                max_memory_mib: batch.max_kdf_memory,
                max_work_mib_passes: batch.max_kdf_work,
            },
        )?;
        let decryptor = Decryptor::new(file)?;
        let file_key = decryptor.unlock(&identities.list())?;
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
        output.commit(args.write.force)?;
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

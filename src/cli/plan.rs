//! From FILE arguments to jobs: walking directories (`-r`), naming outputs, and the
//! checks that need no passphrase (existing outputs, input = output), so that a run that
//! cannot succeed fails before the prompt and the key derivation.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io::IsTerminal;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::error::CliError;
use super::output::{
    exists_error, same_file, stdin_file, stdout_file, stream_fd, Target, TEMP_PREFIX,
};
use super::source::Anchor;

/// The file name suffix of encrypted files.
pub const SUFFIX: &str = ".coffer";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Encrypt,
    Decrypt,
    Verify,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Encrypt => "encrypt",
            Mode::Decrypt => "decrypt",
            Mode::Verify => "verify",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    Path(PathBuf),
}

/// What to do with a job.
pub enum JobState {
    Run,
    Skip(String),
    Fail(CliError),
}

pub struct Job {
    pub input: Input,
    /// How to open the input relative to directory descriptors (`Input::Path`).
    pub anchor: Option<Anchor>,
    pub target: Target,
    /// Input size when it is a regular file.
    pub size: Option<u64>,
    pub state: JobState,
}

impl Job {
    pub fn path(&self) -> Option<&Path> {
        match &self.input {
            Input::Stdin => None,
            Input::Path(p) => Some(p),
        }
    }

    /// How errors name this input.
    pub fn display(&self) -> String {
        match &self.input {
            Input::Stdin => "<stdin>".to_string(),
            Input::Path(p) => p.display().to_string(),
        }
    }
}

/// The flags that shape a plan.
pub struct PlanOptions<'a> {
    pub mode: Mode,
    pub recursive: bool,
    pub follow_symlinks: bool,
    pub output: Option<&'a Path>,
    pub stdout: bool,
    pub output_dir: Option<&'a Path>,
    pub force: bool,
    pub delete_source: bool,
}

struct Found {
    input: Input,
    anchor: Option<Anchor>,
    /// Path relative to the directory argument (or the file name), for `--output-dir`.
    rel: PathBuf,
    meta: Option<fs::Metadata>,
    state: JobState,
}

impl Found {
    fn failed(path: &Path, err: CliError) -> Found {
        Found {
            input: Input::Path(path.to_path_buf()),
            anchor: None,
            rel: PathBuf::new(),
            meta: None,
            state: JobState::Fail(err.context(path.display().to_string())),
        }
    }

    fn skipped(path: &Path, reason: &str) -> Found {
        Found {
            input: Input::Path(path.to_path_buf()),
            anchor: None,
            rel: PathBuf::new(),
            meta: None,
            state: JobState::Skip(reason.to_string()),
        }
    }
}

/// Builds the jobs for `files` (empty: stdin).
///
/// # Errors
/// Usage errors that concern the whole command line (`-o` with several inputs, `-c` with
/// several inputs on encrypt, stdin twice). Per-file problems become failed jobs.
pub fn plan(files: &[PathBuf], opts: &PlanOptions<'_>) -> Result<Plan, CliError> {
    let mut found = Vec::new();
    let mut directories = Vec::new();
    let stdin_arg = Path::new("-");
    if files.is_empty() {
        found.push(stdin_found());
    }
    let mut stdin_count = 0;
    for file in files {
        if file == stdin_arg {
            stdin_count += 1;
            found.push(stdin_found());
            continue;
        }
        let meta = match fs::metadata(file) {
            Ok(meta) => meta,
            Err(e) => {
                found.push(Found::failed(file, CliError::io(e.to_string())));
                continue;
            }
        };
        if meta.is_dir() {
            if opts.recursive {
                let mut visited = HashSet::new();
                visited.insert((meta.dev(), meta.ino()));
                walk(file, file, opts, &mut visited, &mut found, &mut directories);
            } else {
                found.push(Found::failed(
                    file,
                    CliError::usage("is a directory").hint("use -r to process every file below it"),
                ));
            }
            continue;
        }
        if opts.delete_source {
            if let Err(err) = deletable_argument(file, &meta) {
                found.push(Found::failed(file, err));
                continue;
            }
        }
        let rel = file.file_name().map(PathBuf::from).unwrap_or_default();
        found.push(Found {
            input: Input::Path(file.clone()),
            // A named symbolic link is followed for reading, never with --delete-source
            // (refused above), which needs a regular file.
            anchor: Anchor::of_argument(file, !opts.delete_source, opts.delete_source),
            rel,
            meta: Some(meta),
            state: JobState::Run,
        });
    }
    if stdin_count > 1 {
        return Err(CliError::usage("stdin (\"-\") is named more than once"));
    }
    let inputs = found
        .iter()
        .filter(|f| !matches!(f.state, JobState::Skip(_)))
        .count();
    if opts.output.is_some() && inputs != 1 {
        return Err(CliError::usage(format!(
            "-o/--output needs exactly one input, but there are {inputs}"
        ))
        .hint("use --output-dir DIR for several inputs"));
    }
    if opts.mode == Mode::Encrypt && opts.stdout && inputs > 1 {
        return Err(
            CliError::usage("refusing to write several encrypted files to stdout (-c)")
                .hint("drop -c to write FILE.coffer beside each input, or use --output-dir DIR"),
        );
    }
    let mut jobs: Vec<Job> = found.into_iter().map(|f| to_job(f, opts)).collect();
    refuse_shared_targets(&mut jobs);
    Ok(Plan { jobs, directories })
}

/// What a run does.
pub struct Plan {
    pub jobs: Vec<Job>,
    /// With `-r --output-dir`: the output directory of every directory walked, so that
    /// empty ones come back too.
    pub directories: Vec<PathBuf>,
}

/// `--delete-source` removes regular files only: a symbolic link's removal would keep
/// the file it points to, and a fifo or device has nothing to keep.
fn deletable_argument(path: &Path, meta: &fs::Metadata) -> Result<(), CliError> {
    let link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if link {
        return Err(CliError::usage(
            "is a symbolic link: --delete-source would remove the link and keep the file \
             it points to",
        )
        .hint("name the file itself, or drop --delete-source"));
    }
    if !meta.is_file() && !meta.is_dir() {
        return Err(CliError::usage(
            "--delete-source removes regular files only, not a fifo, socket or device",
        ));
    }
    Ok(())
}

/// Fails every job whose output file is also another job's (`a/x b/x --output-dir out`,
/// `-r d1 d2`): the later one would replace the earlier output, and with
/// `--delete-source` both inputs would be gone with one ciphertext left.
fn refuse_shared_targets(jobs: &mut [Job]) {
    let mut first: std::collections::HashMap<PathBuf, String> = Default::default();
    for job in jobs.iter_mut() {
        let (JobState::Run, Target::File(out)) = (&job.state, &job.target) else {
            continue;
        };
        match first.get(out) {
            Some(earlier) => {
                let err = CliError::usage(format!(
                    "the output {} is also the output of {earlier}",
                    out.display()
                ))
                .hint("process them in separate runs or name the outputs apart");
                job.state = JobState::Fail(err.context(job.display()));
            }
            None => {
                first.insert(out.clone(), job.display());
            }
        }
    }
}

fn stdin_found() -> Found {
    Found {
        input: Input::Stdin,
        anchor: None,
        rel: PathBuf::new(),
        meta: None,
        state: JobState::Run,
    }
}

fn walk(
    dir: &Path,
    base: &Path,
    opts: &PlanOptions<'_>,
    visited: &mut HashSet<(u64, u64)>,
    found: &mut Vec<Found>,
    directories: &mut Vec<PathBuf>,
) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            found.push(Found::failed(dir, CliError::io(e.to_string())));
            return;
        }
    };
    if let (Some(out), Ok(rel)) = (opts.output_dir, dir.strip_prefix(base)) {
        directories.push(out.join(rel));
    }
    let mut entries: Vec<_> = entries
        .filter_map(|entry| match entry {
            Ok(entry) => Some(entry),
            Err(e) => {
                found.push(Found::failed(dir, CliError::io(e.to_string())));
                None
            }
        })
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let file_type = match entry.file_type() {
            Ok(t) => t,
            Err(e) => {
                found.push(Found::failed(&path, CliError::io(e.to_string())));
                continue;
            }
        };
        let meta = if file_type.is_symlink() {
            if opts.delete_source && fs::metadata(&path).is_ok_and(|m| !m.is_dir()) {
                found.push(Found::failed(
                    &path,
                    CliError::usage(
                        "is a symbolic link: --delete-source would remove the link and keep \
                         the file it points to; kept",
                    ),
                ));
                continue;
            }
            if !opts.follow_symlinks {
                found.push(Found::skipped(
                    &path,
                    "symbolic link (use --follow-symlinks to follow it)",
                ));
                continue;
            }
            match fs::metadata(&path) {
                Ok(meta) => meta,
                Err(_) => {
                    found.push(Found::skipped(&path, "broken symbolic link"));
                    continue;
                }
            }
        } else {
            match entry.metadata() {
                Ok(meta) => meta,
                Err(e) => {
                    found.push(Found::failed(&path, CliError::io(e.to_string())));
                    continue;
                }
            }
        };
        if meta.is_dir() {
            if visited.insert((meta.dev(), meta.ino())) {
                walk(&path, base, opts, visited, found, directories);
            } else {
                found.push(Found::skipped(
                    &path,
                    "directory already visited (symlink loop)",
                ));
            }
            continue;
        }
        if !meta.is_file() {
            found.push(Found::skipped(
                &path,
                "not a regular file (fifo, socket or device)",
            ));
            continue;
        }
        let name = entry.file_name();
        let name = name.as_bytes();
        match opts.mode {
            Mode::Encrypt => {
                if name.starts_with(TEMP_PREFIX.as_bytes()) {
                    continue;
                }
                if name.ends_with(SUFFIX.as_bytes()) {
                    found.push(Found::skipped(&path, "already ends in .coffer"));
                    continue;
                }
            }
            Mode::Decrypt | Mode::Verify => {
                if !name.ends_with(SUFFIX.as_bytes()) {
                    continue;
                }
            }
        }
        let rel = path
            .strip_prefix(base)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        found.push(Found {
            input: Input::Path(path),
            anchor: Some(Anchor {
                base: base.to_path_buf(),
                rel: rel.clone(),
                follow_dirs: opts.follow_symlinks,
                follow_last: opts.follow_symlinks && !opts.delete_source,
                regular_only: true,
            }),
            rel,
            meta: Some(meta),
            state: JobState::Run,
        });
    }
}

fn to_job(found: Found, opts: &PlanOptions<'_>) -> Job {
    let size = found.meta.as_ref().filter(|m| m.is_file()).map(|m| m.len());
    let mut job = Job {
        input: found.input,
        anchor: found.anchor,
        target: Target::Sink,
        size,
        state: found.state,
    };
    if !matches!(job.state, JobState::Run) {
        return job;
    }
    let checked = target_for(&job.input, &found.rel, opts).and_then(|target| {
        check_target(&job.input, found.meta.as_ref(), &target, opts.force)?;
        check_special_target(&target, opts)?;
        check_directory_writable(&target, opts.output_dir.is_some())?;
        Ok(target)
    });
    match checked {
        Ok(target) => job.target = target,
        Err(err) => job.state = JobState::Fail(err.context(job.display())),
    }
    job
}

/// The output of one input.
fn target_for(input: &Input, rel: &Path, opts: &PlanOptions<'_>) -> Result<Target, CliError> {
    if opts.mode == Mode::Verify {
        return Ok(Target::Sink);
    }
    if let Some(output) = opts.output {
        return Ok(if output == Path::new("-") {
            Target::Stdout
        } else if let Some(fd) = stream_fd(output) {
            // /dev/stdout, /dev/stderr, /proc/self/fd/N: the stream, not a file to replace.
            match fd {
                1 => Target::Stdout,
                fd => Target::Stream(fd),
            }
        } else {
            Target::File(output.to_path_buf())
        });
    }
    let path = match input {
        _ if opts.stdout => return Ok(Target::Stdout),
        Input::Stdin => return Ok(Target::Stdout),
        Input::Path(path) => path,
    };
    let name = path.file_name().unwrap_or_default().as_bytes();
    let out_name: OsString = match opts.mode {
        Mode::Encrypt => {
            let mut n = name.to_vec();
            n.extend_from_slice(SUFFIX.as_bytes());
            OsString::from_vec(n)
        }
        _ => match name.strip_suffix(SUFFIX.as_bytes()) {
            Some(stem) if !stem.is_empty() => OsString::from_vec(stem.to_vec()),
            _ => {
                return Err(CliError::usage(format!(
                    "the name does not end in {SUFFIX}, so the output cannot be named"
                ))
                .hint("use -o PATH to name the output, or -c to write to stdout"))
            }
        },
    };
    Ok(Target::File(match opts.output_dir {
        Some(dir) => dir
            .join(rel.parent().unwrap_or(Path::new("")))
            .join(out_name),
        None if is_device_path(path) => {
            return Err(CliError::usage(format!(
                "{} is a pipe or device (process substitution?): there is no directory \
                 to write {} in",
                path.display(),
                Path::new(&out_name).display()
            ))
            .hint("use -c to write to stdout, or -o PATH"))
        }
        None => path.with_file_name(out_name),
    }))
}

/// `/dev/fd/63` from `<(cmd)`, `/dev/stdin`, `/proc/self/fd/N`: names whose directory
/// can hold no output file.
fn is_device_path(path: &Path) -> bool {
    let dir = path.parent().unwrap_or(Path::new(""));
    dir == Path::new("/dev")
        || dir == Path::new("/dev/fd")
        || (dir.starts_with("/proc") && dir.file_name() == Some(std::ffi::OsStr::new("fd")))
}

/// Refuses an output that is the input, or that exists without `force`.
pub fn check_target(
    input: &Input,
    input_meta: Option<&fs::Metadata>,
    target: &Target,
    force: bool,
) -> Result<(), CliError> {
    let input_meta = match (input, input_meta) {
        (_, Some(meta)) => Some(meta.clone()),
        (Input::Stdin, None) => stdin_file().and_then(|f| f.metadata()).ok(),
        (Input::Path(_), None) => None,
    };
    let same = || CliError::usage("the input and the output are the same file");
    match target {
        Target::Sink => Ok(()),
        Target::Stdout | Target::Stream(_) => {
            let out = match target {
                Target::Stream(fd) => super::output::stream_file(*fd),
                _ => stdout_file(),
            };
            let out = out.and_then(|f| f.metadata()).ok();
            if let (Some(out), Some(inp)) = (out, input_meta) {
                if out.is_file() && same_file(&out, &inp) {
                    return Err(same());
                }
            }
            Ok(())
        }
        Target::File(out) => {
            if let Input::Path(p) = input {
                if p == out {
                    return Err(same());
                }
            }
            let Ok(out_meta) = fs::metadata(out) else {
                return Ok(());
            };
            if out_meta.is_dir() {
                return Err(CliError::usage(format!(
                    "the output {} is a directory",
                    out.display()
                )));
            }
            if !out_meta.is_file() {
                // /dev/null, a fifo: written in place, nothing to clobber.
                return Ok(());
            }
            if input_meta.is_some_and(|m| same_file(&m, &out_meta)) {
                return Err(same());
            }
            if !force {
                return Err(exists_error(&out.display().to_string()));
            }
            Ok(())
        }
    }
}

/// An existing fifo, socket or device is written only when named with `-o`, and never
/// with `--delete-source` (there is nothing to keep and check).
fn check_special_target(target: &Target, opts: &PlanOptions<'_>) -> Result<(), CliError> {
    let special = match target {
        Target::File(out) => fs::symlink_metadata(out)
            .is_ok_and(|m| !m.is_file() && !m.is_dir() && !m.file_type().is_symlink()),
        Target::Stream(_) | Target::Stdout => opts.delete_source,
        Target::Sink => false,
    };
    if !special {
        return Ok(());
    }
    if opts.delete_source {
        return Err(CliError::usage(
            "--delete-source needs a regular output file: a fifo, device or stream keeps \
             nothing to check",
        ));
    }
    if opts.output.is_none() {
        let Target::File(out) = target else {
            return Ok(());
        };
        return Err(CliError::io(format!(
            "the output {} exists and is not a regular file (fifo, socket or device)",
            out.display()
        ))
        .hint("name it with -o to write to it, or remove it"));
    }
    Ok(())
}

/// Refuses, before the passphrase prompt, an output whose directory exists but cannot be
/// written (read-only file system, no permission).
fn check_directory_writable(target: &Target, mkdir: bool) -> Result<(), CliError> {
    let Target::File(out) = target else {
        return Ok(());
    };
    if fs::symlink_metadata(out).is_ok_and(|m| !m.is_file()) {
        return Ok(());
    }
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        if mkdir {
            // --output-dir creates missing directories when writing.
            return Ok(());
        }
        return Err(CliError::io(format!(
            "cannot write {}: directory {} does not exist",
            out.display(),
            dir.display()
        ))
        .hint("create it first (--output-dir creates missing directories)"));
    }
    use rustix::fs::{access, Access};
    access(dir, Access::WRITE_OK | Access::EXEC_OK).map_err(|e| {
        CliError::io(format!(
            "cannot write to directory {}: {}",
            dir.display(),
            std::io::Error::from(e)
        ))
    })
}

/// Refuses a `--report` path that is an input or an output of the run (the report would
/// replace it, or be encrypted while it is written).
pub fn check_report_path(report: &Path, jobs: &[Job]) -> Result<(), CliError> {
    let report_meta = fs::metadata(report).ok();
    for job in jobs {
        let paths = [
            job.path(),
            match &job.target {
                Target::File(p) => Some(p.as_path()),
                _ => None,
            },
        ];
        for path in paths.into_iter().flatten() {
            let same_name = path == report;
            let same_file = report_meta
                .as_ref()
                .zip(fs::metadata(path).ok())
                .is_some_and(|(a, b)| same_file(a, &b));
            if same_name || same_file {
                return Err(CliError::usage(format!(
                    "the report {} is also an input or output of this run",
                    report.display()
                )));
            }
        }
    }
    Ok(())
}

/// Whether stdout is a terminal (refused for ciphertext).
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

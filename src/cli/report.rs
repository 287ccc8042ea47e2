//! What the user is told: errors and notes on stderr, JSON lines (`--json`), the summary,
//! and the exit code of the whole run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde_json::{json, Map, Value};

use super::error::{combine, CliError, Kind, SUCCESS};
use super::interrupt::{on_interrupt, HookGuard};
use super::progress::Progress;

/// How one file ended.
pub enum Outcome {
    Ok { output: Option<String>, bytes: u64 },
    Failed(CliError),
    Skipped(String),
}

/// One file's line in the report.
pub struct FileResult {
    /// The path as given or found (`-` for stdin).
    pub path: Option<std::path::PathBuf>,
    pub outcome: Outcome,
}

/// The reporter shared by all worker threads.
pub struct Reporter {
    quiet: bool,
    progress: Option<Progress>,
    lines: Arc<Lines>,
    /// Writes the `interrupted` lines and the summary if SIGINT/SIGTERM ends the run.
    _on_interrupt: Option<HookGuard>,
}

/// The JSON side of the report: what the signal handler needs to finish it.
struct Lines {
    command: &'static str,
    json: Option<Mutex<Box<dyn Write + Send>>>,
    state: Mutex<State>,
    started: Instant,
}

#[derive(Default)]
struct State {
    /// JSON lines waiting for earlier files, so lines come out in input order.
    pending: BTreeMap<usize, Value>,
    next: usize,
    /// The path of every file of the run, by index, for the lines of an interrupt.
    expected: Vec<Option<PathBuf>>,
    files: u64,
    ok: u64,
    failed: u64,
    skipped: u64,
    bytes: u64,
    exit_code: i32,
    /// The summary line is written: nothing may follow it.
    finished: bool,
}

impl Reporter {
    pub fn new(
        command: &'static str,
        quiet: bool,
        json: Option<Box<dyn Write + Send>>,
        started: Instant,
    ) -> Reporter {
        let lines = Arc::new(Lines {
            command,
            json: json.map(Mutex::new),
            state: Mutex::new(State::default()),
            started,
        });
        let on_interrupt = lines.json.is_some().then(|| {
            let lines = Arc::clone(&lines);
            on_interrupt(move || lines.interrupted())
        });
        Reporter {
            quiet,
            progress: None,
            lines,
            _on_interrupt: on_interrupt,
        }
    }

    /// The files of the run, by index: after an interrupt, each one not recorded yet
    /// gets an `interrupted` line.
    pub fn expect_files(&self, paths: impl IntoIterator<Item = Option<PathBuf>>) {
        self.lines.state().expected = paths.into_iter().collect();
    }

    pub fn set_progress(&mut self, progress: Progress) {
        self.progress = Some(progress);
    }

    pub fn progress(&self) -> Option<&Progress> {
        self.progress.as_ref()
    }

    fn eprint(&self, text: &str) {
        match &self.progress {
            Some(progress) => progress.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Prints an error (always, even with `-q`).
    pub fn error(&self, err: &CliError) {
        self.eprint(&err.render());
    }

    /// Prints a note unless `-q`.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            self.eprint(&format!("coffer: note: {text}"));
        }
    }

    /// Records file number `index` (every index from 0 must be recorded once).
    pub fn record(&self, index: usize, result: FileResult) {
        let display = result
            .path
            .as_deref()
            .map_or_else(|| "-".to_string(), |p| p.display().to_string());
        match &result.outcome {
            // Nobody is reading any more: say nothing (the exit code tells).
            Outcome::Failed(err) if err.kind == Kind::BrokenPipe => {}
            Outcome::Failed(err) => self.error(err),
            Outcome::Skipped(reason) => self.note(&format!("skipping {display}: {reason}")),
            Outcome::Ok { .. } => {}
        }
        self.lines.record(index, &result);
    }

    /// Ends the run: clears the bar, writes the summary line, returns the exit code.
    pub fn finish(&self) -> i32 {
        if let Some(progress) = &self.progress {
            progress.finish();
        }
        self.lines.finish()
    }
}

impl Lines {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, index: usize, result: &FileResult) {
        let mut state = self.state();
        state.files += 1;
        let code = match &result.outcome {
            Outcome::Ok { bytes, .. } => {
                state.ok += 1;
                state.bytes += bytes;
                SUCCESS
            }
            Outcome::Failed(err) => {
                state.failed += 1;
                err.kind.exit_code()
            }
            Outcome::Skipped(_) => {
                state.skipped += 1;
                SUCCESS
            }
        };
        state.exit_code = combine(state.exit_code, code);
        if self.json.is_some() && !state.finished {
            state.pending.insert(index, file_json(result, code));
            loop {
                let next = state.next;
                let Some(line) = state.pending.remove(&next) else {
                    break;
                };
                state.next += 1;
                self.write_json(&line);
            }
        }
    }

    fn write_json(&self, value: &Value) {
        if let Some(out) = &self.json {
            let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
            // A report that cannot be written is not worth failing the run over; the
            // exit code still tells the truth.
            let _ = writeln!(out, "{value}").and_then(|()| out.flush());
        }
    }

    fn finish(&self) -> i32 {
        let mut state = self.state();
        for (_, line) in std::mem::take(&mut state.pending) {
            self.write_json(&line);
        }
        self.write_summary(&mut state);
        state.exit_code
    }

    /// The signal handler's end of the report: every file not recorded yet (in flight
    /// or never started) gets an `interrupted` line, in input order, then the summary.
    fn interrupted(&self) {
        let mut state = self.state();
        if state.finished {
            return;
        }
        let expected = std::mem::take(&mut state.expected);
        let code = Kind::Interrupted.exit_code();
        for (index, path) in expected.into_iter().enumerate().skip(state.next) {
            let line = match state.pending.remove(&index) {
                Some(line) => line,
                None => {
                    state.files += 1;
                    state.failed += 1;
                    let result = FileResult {
                        path,
                        outcome: Outcome::Failed(CliError::lib(coffer::Error::Interrupted)),
                    };
                    file_json(&result, code)
                }
            };
            self.write_json(&line);
        }
        for (_, line) in std::mem::take(&mut state.pending) {
            self.write_json(&line);
        }
        state.exit_code = combine(state.exit_code, code);
        self.write_summary(&mut state);
    }

    fn write_summary(&self, state: &mut State) {
        if state.finished {
            return;
        }
        state.finished = true;
        let summary = json!({
            "summary": true,
            "command": self.command,
            "files": state.files,
            "ok": state.ok,
            "failed": state.failed,
            "skipped": state.skipped,
            "bytes": state.bytes,
            "kdf_derivations": coffer::kdf::derivation_count(),
            "exit_code": state.exit_code,
            "seconds": self.started.elapsed().as_secs_f64(),
        });
        self.write_json(&summary);
    }
}

/// Adds `"path"` (lossy) and, for a path that is not UTF-8, `"path_hex"`.
pub fn put_path(map: &mut Map<String, Value>, path: Option<&Path>) {
    match path {
        None => {
            map.insert("path".into(), Value::from("-"));
        }
        Some(path) => {
            map.insert(
                "path".into(),
                Value::from(path.to_string_lossy().into_owned()),
            );
            if path.to_str().is_none() {
                let mut hex = String::new();
                for b in path.as_os_str().as_bytes() {
                    let _ = write!(hex, "{b:02x}");
                }
                map.insert("path_hex".into(), Value::from(hex));
            }
        }
    }
}

fn file_json(result: &FileResult, code: i32) -> Value {
    let mut map = Map::new();
    put_path(&mut map, result.path.as_deref());
    let (output, bytes, outcome, kind, error, reason) = match &result.outcome {
        Outcome::Ok { output, bytes } => (
            output.clone().map(Value::from),
            Value::from(*bytes),
            "ok",
            Value::Null,
            Value::Null,
            None,
        ),
        Outcome::Failed(err) => (
            None,
            Value::Null,
            "error",
            Value::from(err.kind.name()),
            Value::from(err.message()),
            None,
        ),
        Outcome::Skipped(reason) => (
            None,
            Value::Null,
            "skipped",
            Value::Null,
            Value::Null,
            Some(reason.clone()),
        ),
    };
    map.insert("output".into(), output.unwrap_or(Value::Null));
    map.insert("bytes".into(), bytes);
    map.insert("outcome".into(), Value::from(outcome));
    map.insert("error_kind".into(), kind);
    map.insert("error".into(), error);
    map.insert("exit_code".into(), Value::from(code));
    if let Some(reason) = reason {
        map.insert("reason".into(), Value::from(reason));
    }
    Value::Object(map)
}

/// The stream JSON lines go to: `--report FILE`, else stderr when the data goes to stdout,
/// else stdout. A report file is created new (never through a symbolic link, never
/// truncating an existing file) unless `overwrite` (`-f`).
pub fn json_sink(
    report: Option<&Path>,
    data_on_stdout: bool,
    overwrite: bool,
) -> Result<Box<dyn Write + Send>, CliError> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(path) = report {
        let mut options = std::fs::OpenOptions::new();
        options
            .write(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
        if overwrite {
            options.create(true).truncate(true);
        } else {
            options.create_new(true);
        }
        let file = options.open(path).map_err(|e| {
            let err = CliError::io_while(format_args!("creating report {}", path.display()), &e);
            if e.kind() == io::ErrorKind::AlreadyExists {
                err.hint("use -f to overwrite it, or choose a new name")
            } else {
                err
            }
        })?;
        return Ok(Box::new(io::BufWriter::new(file)));
    }
    if data_on_stdout {
        Ok(Box::new(io::stderr()))
    } else {
        Ok(Box::new(io::stdout()))
    }
}

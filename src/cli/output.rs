//! Output safety: every output file is written to a `.coffer-tmp*` file (mode 0600) in
//! its destination directory and renamed into place only once complete. Live temporary
//! paths are kept in a registry so the SIGINT/SIGTERM handler can remove them before
//! exiting with 130.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard};

use tempfile::NamedTempFile;

use super::error::{CliError, Kind};

/// Prefix of every temporary output file.
pub const TEMP_PREFIX: &str = ".coffer-tmp";
const WRITE_BUFFER: usize = 64 * 1024;

/// Creating, renaming and removing temporary files happen under a shared (read) lock;
/// the signal handler takes the exclusive (write) lock, so it waits for those in flight
/// and none can start after its cleanup. Workers never wait for one another.
static GATE: RwLock<()> = RwLock::new(());
static CLOSING: AtomicBool = AtomicBool::new(false);
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn live() -> MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|poison| poison.into_inner())
}

fn shared_gate() -> RwLockReadGuard<'static, ()> {
    GATE.read().unwrap_or_else(|poison| poison.into_inner())
}

/// The flag that tells running pipelines to stop.
pub fn cancel_flag() -> Arc<AtomicBool> {
    static CANCEL: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    Arc::clone(CANCEL.get_or_init(|| Arc::new(AtomicBool::new(false))))
}

/// Installs the SIGINT/SIGTERM handler: stop the pipelines, remove every live temporary
/// file, exit 130. The exclusive lock is held until exit, so no temporary file can be
/// created (or renamed into place half-way) after the cleanup.
pub fn install_signal_handler() {
    let cancel = cancel_flag();
    // Failing to install leaves the default disposition, which also ends the process.
    let _ = ctrlc::set_handler(move || {
        cancel.store(true, Ordering::SeqCst);
        CLOSING.store(true, Ordering::SeqCst);
        let _exclusive = GATE.write().unwrap_or_else(|poison| poison.into_inner());
        for path in live().drain(..) {
            let _ = fs::remove_file(path);
        }
        super::interrupt::run_hooks();
        eprintln!("coffer: error: interrupted");
        std::process::exit(Kind::Interrupted.exit_code());
    });
}

/// The directory `path` is in (`.` for a bare file name).
fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A temporary output file that becomes `dest` on [`TempOutput::persist`] and vanishes
/// otherwise.
pub struct TempOutput {
    file: Option<NamedTempFile>,
    dest: PathBuf,
    /// Blocks were reserved past the end of the file ([`reserve_blocks`]).
    reserved: bool,
}

impl TempOutput {
    /// Creates the temporary file beside `dest`.
    pub fn create(dest: &Path) -> io::Result<TempOutput> {
        let dir = directory_of(dest);
        let _gate = shared_gate();
        if CLOSING.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        let file = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .permissions(Permissions::from_mode(0o600))
            .tempfile_in(dir)?;
        live().push(file.path().to_path_buf());
        Ok(TempOutput {
            file: Some(file),
            dest: dest.to_path_buf(),
            reserved: false,
        })
    }

    /// The temporary file itself.
    pub fn as_file(&self) -> &File {
        self.file
            .as_ref()
            .expect("present until persisted")
            .as_file()
    }

    /// A second handle on the temporary file, for writing.
    pub fn handle(&self) -> io::Result<File> {
        self.file
            .as_ref()
            .expect("present until persisted")
            .as_file()
            .try_clone()
    }

    /// Reserves disk blocks for `len` bytes ahead of positional writes; see
    /// [`reserve_blocks`].
    pub fn reserve(&mut self, len: u64) {
        self.reserved = reserve_blocks(self.as_file(), len);
    }

    /// Renames the file into place; without `overwrite`, fails if `dest` exists.
    pub fn persist(mut self, overwrite: bool) -> io::Result<()> {
        if self.reserved {
            // Blocks reserved past the end (the input shrank while it was read) would stay
            // allocated: truncating to the current length releases them. Best effort.
            let file = self.as_file();
            if let Ok(meta) = file.metadata() {
                let _ = file.set_len(meta.len());
            }
        }
        let file = self.file.take().expect("present until persisted");
        let temp_path = file.path().to_path_buf();
        let _gate = shared_gate();
        let result = if overwrite {
            file.persist(&self.dest).map(drop)
        } else {
            file.persist_noclobber(&self.dest).map(drop)
        };
        // On failure the temporary file inside the error is dropped here: removed.
        let result = result.map_err(|e| e.error);
        live().retain(|p| *p != temp_path);
        result
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            let path = file.path().to_path_buf();
            let _gate = shared_gate();
            drop(file);
            live().retain(|p| *p != path);
        }
    }
}

/// Reserves disk blocks for the first `len` bytes of `file` without changing its length
/// (`fallocate` with `FALLOC_FL_KEEP_SIZE`), returning whether it did. The pipeline's
/// positional writes then land in allocated blocks and skip ext4's per-page
/// delayed-allocation work: file to file ran 1.1x (encrypt) and 1.5x (decrypt) faster
/// (docs/PERFORMANCE.md). The length stays what was written, so a wrong guess cannot add
/// bytes to the output. Best effort: where it is unsupported the filesystem allocates as
/// it goes, and an error that matters (a full disk) comes back from the writes.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn reserve_blocks(file: &File, len: u64) -> bool {
    use rustix::fs::{fallocate, FallocateFlags};
    len > 0 && fallocate(file, FallocateFlags::KEEP_SIZE, 0, len).is_ok()
}

/// See the Linux version: elsewhere the filesystem allocates as it goes.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn reserve_blocks(_file: &File, _len: u64) -> bool {
    false
}

/// A file handle on stdout (a dup of fd 1): unbuffered, unlike `io::Stdout`.
pub fn stdout_file() -> io::Result<File> {
    Ok(File::from(io::stdout().as_fd().try_clone_to_owned()?))
}

/// A file handle on stdin (a dup of fd 0): unbuffered, unlike `io::Stdin`.
pub fn stdin_file() -> io::Result<File> {
    Ok(File::from(io::stdin().as_fd().try_clone_to_owned()?))
}

/// Where a job's output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A file, written via a temporary file and a rename.
    File(PathBuf),
    /// Standard output.
    Stdout,
    /// Nowhere (verify).
    Sink,
}

/// An open output: the writer, and the temporary file to rename when done.
pub struct Output {
    writer: Box<dyn Write + Send>,
    temp: Option<TempOutput>,
    name: String,
}

impl Output {
    /// Opens `target`. Existing special files (`/dev/null`, a fifo) are written directly;
    /// regular files get a temporary file. With `mkdir`, missing parent directories are
    /// created with mode 0700 (`--output-dir`).
    pub fn open(target: &Target, mkdir: bool) -> Result<Output, CliError> {
        match target {
            Target::Sink => Ok(Output {
                writer: Box::new(io::sink()),
                temp: None,
                name: String::new(),
            }),
            Target::Stdout => {
                let file =
                    stdout_file().map_err(|e| CliError::io_while("opening standard output", &e))?;
                Ok(Output {
                    writer: Box::new(BufWriter::with_capacity(WRITE_BUFFER, file)),
                    temp: None,
                    name: "standard output".into(),
                })
            }
            Target::File(path) => {
                let name = path.display().to_string();
                if let Ok(meta) = fs::metadata(path) {
                    if !meta.is_file() && !meta.is_dir() {
                        let file = OpenOptions::new()
                            .write(true)
                            .open(path)
                            .map_err(|e| CliError::io_while(format_args!("opening {name}"), &e))?;
                        return Ok(Output {
                            writer: Box::new(BufWriter::with_capacity(WRITE_BUFFER, file)),
                            temp: None,
                            name,
                        });
                    }
                }
                if mkdir {
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        fs::DirBuilder::new()
                            .recursive(true)
                            .mode(0o700)
                            .create(dir)
                            .map_err(|e| {
                                CliError::io_while(
                                    format_args!("creating directory {}", dir.display()),
                                    &e,
                                )
                            })?;
                    }
                }
                let temp = TempOutput::create(path).map_err(|e| {
                    let dir = directory_of(path);
                    if e.kind() == io::ErrorKind::NotFound && !dir.is_dir() {
                        CliError::io(format!(
                            "cannot write {name}: directory {} does not exist",
                            dir.display()
                        ))
                        .hint("create it first (--output-dir creates missing directories)")
                    } else {
                        CliError::io_while(format_args!("creating a temporary file for {name}"), &e)
                    }
                })?;
                let file = temp.handle().map_err(|e| CliError::io_while(&name, &e))?;
                Ok(Output {
                    writer: Box::new(BufWriter::with_capacity(WRITE_BUFFER, file)),
                    temp: Some(temp),
                    name,
                })
            }
        }
    }

    pub fn writer(&mut self) -> &mut Box<dyn Write + Send> {
        &mut self.writer
    }

    /// The temporary file behind a regular-file output, for positional writes by the
    /// pipeline's workers (nothing may have gone through [`Output::writer`]), with disk
    /// blocks reserved for `expected_len` bytes when that is known.
    pub fn temp_file(&mut self, expected_len: Option<u64>) -> Option<&File> {
        let temp = self.temp.as_mut()?;
        if let Some(len) = expected_len {
            temp.reserve(len);
        }
        Some(temp.as_file())
    }

    /// Flushes and renames the output into place.
    pub fn commit(self, overwrite: bool) -> Result<(), CliError> {
        let Output {
            mut writer,
            temp,
            name,
        } = self;
        writer
            .flush()
            .map_err(|e| CliError::io_while(format_args!("writing {name}"), &e))?;
        drop(writer);
        if let Some(temp) = temp {
            temp.persist(overwrite).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    exists_error(&name)
                } else {
                    CliError::io_while(format_args!("renaming the output into {name}"), &e)
                }
            })?;
        }
        Ok(())
    }
}

/// The error for an output that exists without `-f`.
pub fn exists_error(name: &str) -> CliError {
    CliError::io(format!("output {name} already exists")).hint("use -f to overwrite it")
}

/// Whether two files are the same (device and inode).
pub fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    /// The output keeps exactly the bytes written, and blocks reserved past them are
    /// released on persist: what happens when an input shrinks while it is encrypted.
    #[test]
    fn reserved_blocks_past_the_written_length_are_released_on_persist() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.coffer");
        let mut temp = TempOutput::create(&dest).unwrap();
        temp.reserve(8 << 20);
        let meta = temp.as_file().metadata().unwrap();
        assert_eq!(meta.len(), 0, "reserving must not change the length");
        if cfg!(target_os = "linux") {
            assert!(temp.reserved, "fallocate failed on the test's filesystem");
            assert!(
                meta.blocks() * 512 >= 8 << 20,
                "only {} blocks",
                meta.blocks()
            );
        }
        temp.as_file().write_all_at(b"ciphertext", 0).unwrap();
        temp.persist(false).unwrap();
        let meta = fs::metadata(&dest).unwrap();
        assert_eq!(meta.len(), 10);
        assert!(
            meta.blocks() * 512 < 1 << 20,
            "{} blocks still allocated",
            meta.blocks()
        );
    }

    /// A reservation that turns out too small is harmless: writes go past it.
    #[test]
    fn writes_past_the_reserved_length_extend_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.coffer");
        let mut temp = TempOutput::create(&dest).unwrap();
        temp.reserve(4096);
        temp.as_file().write_all_at(&[7; 10_000], 0).unwrap();
        temp.persist(false).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), vec![7; 10_000]);
    }
}

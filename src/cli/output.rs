//! Output safety: every output file is written to a temporary file (mode 0600) in its
//! destination directory, nameless (`O_TMPFILE`) where the platform allows, else a
//! `.coffer-tmp*` file, and put into place only once complete (and, with
//! `--delete-source`, synced and read back first). Live temporary paths are kept in a
//! registry so the SIGINT/SIGTERM handler can remove them before exiting with 130.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, FileTimes, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard};

use tempfile::NamedTempFile;
use zeroize::Zeroizing;

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

/// Identities (device, inode) of the outputs this run has written: one output is never
/// replaced by another of the same run, even with `-f` and paths that differ.
static WRITTEN: Mutex<Vec<OutputId>> = Mutex::new(Vec::new());

/// Device, inode, length and modification time: inode numbers alone are reused once a
/// file is deleted.
type OutputId = (u64, u64, u64, (i64, i64));

fn written() -> MutexGuard<'static, Vec<OutputId>> {
    WRITTEN.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// A temporary output file that becomes `dest` on [`TempOutput::persist`] and vanishes
/// otherwise. Where the platform has `O_TMPFILE` it has no name at all until then (a
/// crash or `kill -9` leaves nothing named holding partial output); elsewhere it is a
/// `.coffer-tmp*` file, removed on error and by the signal handler.
pub struct TempOutput {
    file: File,
    /// The named temporary file, when `O_TMPFILE` was not available.
    named: Option<NamedTempFile>,
    /// The destination directory, for linking, renaming and syncing relative to it.
    dir: File,
    dest: PathBuf,
    dest_name: OsString,
    /// Blocks were reserved past the end of the file ([`reserve_blocks`]).
    reserved: bool,
}

impl TempOutput {
    /// Creates the temporary file beside `dest`.
    pub fn create(dest: &Path) -> io::Result<TempOutput> {
        Self::create_with(dest, true)
    }

    /// [`TempOutput::create`], with `O_TMPFILE` only when `anonymous` (tests exercise the
    /// named fallback with `false`).
    fn create_with(dest: &Path, anonymous: bool) -> io::Result<TempOutput> {
        let dir_path = directory_of(dest);
        let dest_name = dest
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?
            .to_os_string();
        let _gate = shared_gate();
        if CLOSING.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        let dir = File::open(dir_path)?;
        let file = if anonymous {
            anonymous_file(&dir)?
        } else {
            None
        };
        if let Some(file) = file {
            return Ok(TempOutput {
                file,
                named: None,
                dir,
                dest: dest.to_path_buf(),
                dest_name,
                reserved: false,
            });
        }
        let named = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .permissions(Permissions::from_mode(0o600))
            .tempfile_in(dir_path)?;
        live().push(named.path().to_path_buf());
        Ok(TempOutput {
            file: named.as_file().try_clone()?,
            named: Some(named),
            dir,
            dest: dest.to_path_buf(),
            dest_name,
            reserved: false,
        })
    }

    /// The temporary file itself.
    pub fn as_file(&self) -> &File {
        &self.file
    }

    /// A second handle on the temporary file, for writing.
    pub fn handle(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// Whether the file has no name (`O_TMPFILE`).
    pub fn is_anonymous(&self) -> bool {
        self.named.is_none()
    }

    /// Reserves disk blocks for `len` bytes ahead of positional writes; see
    /// [`reserve_blocks`].
    pub fn reserve(&mut self, len: u64) {
        self.reserved = reserve_blocks(self.as_file(), len);
    }

    /// Gives back blocks reserved past the end (the input shrank while it was read),
    /// which would otherwise stay allocated. Best effort.
    fn release_reserved(&self) {
        if self.reserved {
            if let Ok(meta) = self.file.metadata() {
                let _ = self.file.set_len(meta.len());
            }
        }
    }

    /// Puts the file into place under its name; without `overwrite`, fails if `dest`
    /// exists. Never replaces an output this run wrote earlier.
    pub fn persist(mut self, overwrite: bool) -> io::Result<()> {
        self.release_reserved();
        let _gate = shared_gate();
        if overwrite {
            self.refuse_earlier_output()?;
        }
        let result = match self.named.take() {
            Some(named) => {
                let temp_path = named.path().to_path_buf();
                let result = if overwrite {
                    named.persist(&self.dest).map(drop)
                } else {
                    named.persist_noclobber(&self.dest).map(drop)
                };
                // On failure the temporary file inside the error is dropped here: removed.
                live().retain(|p| *p != temp_path);
                result.map_err(|e| e.error)
            }
            None if overwrite => self.link_then_rename(),
            None => link_anonymous(&self.file, &self.dir, &self.dest_name),
        };
        result?;
        let meta = self.file.metadata()?;
        written().push((
            meta.dev(),
            meta.ino(),
            meta.len(),
            (meta.mtime(), meta.mtime_nsec()),
        ));
        Ok(())
    }

    fn refuse_earlier_output(&self) -> io::Result<()> {
        use rustix::fs::{statat, AtFlags};
        if let Ok(stat) = statat(&self.dir, &self.dest_name, AtFlags::SYMLINK_NOFOLLOW) {
            #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
            let id = (
                stat.st_dev as u64,
                stat.st_ino as u64,
                stat.st_size as u64,
                (stat.st_mtime as i64, stat.st_mtime_nsec as i64),
            );
            if written().contains(&id) {
                return Err(io::Error::other(EARLIER_OUTPUT));
            }
        }
        Ok(())
    }

    /// With `-f`: link the anonymous file under a fresh temporary name, then rename it
    /// over `dest` (a link cannot replace a name).
    fn link_then_rename(&self) -> io::Result<()> {
        use rustix::fs::{renameat, unlinkat, AtFlags};
        let mut attempt = 0u32;
        loop {
            let temp_name =
                OsString::from(format!("{TEMP_PREFIX}{}-{attempt}", std::process::id()));
            match link_anonymous(&self.file, &self.dir, &temp_name) {
                Ok(()) => {
                    let temp_path = directory_of(&self.dest).join(&temp_name);
                    live().push(temp_path.clone());
                    let renamed = renameat(&self.dir, &temp_name, &self.dir, &self.dest_name);
                    if renamed.is_err() {
                        let _ = unlinkat(&self.dir, &temp_name, AtFlags::empty());
                    }
                    live().retain(|p| *p != temp_path);
                    return renamed.map_err(io::Error::from);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The message of a refused overwrite of an output of the same run.
const EARLIER_OUTPUT: &str = "it was written earlier in this run (two inputs, one output)";

impl Drop for TempOutput {
    fn drop(&mut self) {
        if let Some(named) = self.named.take() {
            let path = named.path().to_path_buf();
            let _gate = shared_gate();
            drop(named);
            live().retain(|p| *p != path);
        }
    }
}

/// Opens a nameless file in `dir` (`O_TMPFILE`, mode 0600), or `None` where the kernel
/// or the file system does not support it.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn anonymous_file(dir: &File) -> io::Result<Option<File>> {
    use rustix::fs::{openat, Mode, OFlags};
    use rustix::io::Errno;
    // Naming it later needs /proc/self/fd (or CAP_DAC_READ_SEARCH): without /proc, a
    // file that could never be named is not worth creating.
    static PROC_FD: OnceLock<bool> = OnceLock::new();
    if !*PROC_FD.get_or_init(|| Path::new("/proc/self/fd").is_dir()) {
        return Ok(None);
    }
    let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
    match openat(dir, ".", flags, Mode::from_raw_mode(0o600)) {
        Ok(fd) => Ok(Some(File::from(fd))),
        Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::NOENT | Errno::INVAL) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn anonymous_file(_dir: &File) -> io::Result<Option<File>> {
    Ok(None)
}

/// Gives an `O_TMPFILE` file the name `name` in `dir`; fails with `AlreadyExists` if the
/// name is taken (a link never replaces).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn link_anonymous(file: &File, dir: &File, name: &OsStr) -> io::Result<()> {
    use rustix::fs::{linkat, AtFlags, CWD};
    // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc/self/fd works for everyone.
    match linkat(file, "", dir, name, AtFlags::EMPTY_PATH) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Err(io::ErrorKind::AlreadyExists.into()),
        Err(_) => {
            let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
            linkat(CWD, proc_path.as_str(), dir, name, AtFlags::SYMLINK_FOLLOW)
                .map_err(io::Error::from)
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn link_anonymous(_file: &File, _dir: &File, _name: &OsStr) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
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

/// A handle on standard error (a dup of fd 2).
fn stderr_file() -> io::Result<File> {
    Ok(File::from(io::stderr().as_fd().try_clone_to_owned()?))
}

/// The standard stream (1 or 2) that an output path names: `/dev/stdout`,
/// `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N`, or a symbolic link to one of them.
/// Such a path is the stream itself, never a file to replace.
pub fn stream_fd(path: &Path) -> Option<i32> {
    let own = format!("/proc/{}/fd/", std::process::id());
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        let text = path.to_string_lossy();
        let fd = match text.as_ref() {
            "/dev/stdout" => Some(1),
            "/dev/stderr" => Some(2),
            t => [
                "/dev/fd/",
                "/proc/self/fd/",
                "/proc/thread-self/fd/",
                own.as_str(),
            ]
            .iter()
            .find_map(|prefix| t.strip_prefix(prefix))
            .and_then(|n| n.parse::<i32>().ok()),
        };
        if let Some(fd) = fd {
            return matches!(fd, 1 | 2).then_some(fd);
        }
        let target = fs::read_link(&path).ok()?;
        path = directory_of(&path).join(target);
    }
    None
}

/// A handle on the standard stream `fd` (1 or 2).
pub fn stream_file(fd: i32) -> io::Result<File> {
    match fd {
        2 => stderr_file(),
        _ => stdout_file(),
    }
}

/// Where a job's output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A file, written via a temporary file and a rename.
    File(PathBuf),
    /// Standard output.
    Stdout,
    /// Another standard stream named as a path (`-o /dev/stderr`).
    Stream(i32),
    /// Nowhere (verify).
    Sink,
}

/// A buffered writer whose buffer is wiped when dropped: it holds plaintext on decrypt
/// (unlike `BufWriter`, whose freed buffer would keep it in the heap).
struct WipedBufWriter<W: Write> {
    inner: W,
    buf: Zeroizing<Vec<u8>>,
}

impl<W: Write> WipedBufWriter<W> {
    fn new(inner: W) -> Self {
        WipedBufWriter {
            inner,
            buf: Zeroizing::new(Vec::with_capacity(WRITE_BUFFER)),
        }
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        let result = self.inner.write_all(&self.buf);
        // Cleared either way: a failed write is not retried. The bytes stay in the
        // allocation until the next fill overwrites them or the drop wipes them.
        self.buf.clear();
        result
    }
}

impl<W: Write> Write for WipedBufWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > WRITE_BUFFER {
            self.flush_buf()?;
        }
        if data.len() >= WRITE_BUFFER {
            return self.inner.write(data);
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    /// Large vectored writes (the pipeline's decrypted batches, 128 chunks each) go to
    /// the file as they are, with no copy into the buffer.
    fn write_vectored(&mut self, data: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let len: usize = data.iter().map(|slice| slice.len()).sum();
        if len < WRITE_BUFFER {
            let first = data.iter().find(|slice| !slice.is_empty());
            return self.write(first.map_or(&[][..], |slice| slice));
        }
        self.flush_buf()?;
        self.inner.write_vectored(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_buf()?;
        self.inner.flush()
    }
}

/// A check of a complete output through its descriptor.
pub type ReadBack<'a> = dyn Fn(&File) -> Result<(), CliError> + 'a;

/// How an output file is finished ([`Output::commit`]).
pub struct Finish<'a> {
    /// Replace an existing output (`-f`).
    pub overwrite: bool,
    /// Permission bits and times to carry over from the input.
    pub like: Option<&'a fs::Metadata>,
    /// Reads the complete file back through its descriptor before it gets its name; an
    /// error keeps it from being put into place.
    pub verify: Option<&'a ReadBack<'a>>,
}

/// An open output: the writer, and the temporary file to put into place when done.
pub struct Output {
    writer: Box<dyn Write + Send>,
    temp: Option<TempOutput>,
    name: String,
}

impl Output {
    /// Opens `target`. A fifo or device (allowed only when named with `-o`, see
    /// `plan`) is opened without following symbolic links and checked after opening;
    /// regular files get a temporary file. With `mkdir`, missing parent directories are
    /// created with mode 0700 (`--output-dir`).
    pub fn open(target: &Target, mkdir: bool) -> Result<Output, CliError> {
        let stream = |file: File, name: &str| Output {
            writer: Box::new(WipedBufWriter::new(file)),
            temp: None,
            name: name.into(),
        };
        match target {
            Target::Sink => Ok(Output {
                writer: Box::new(io::sink()),
                temp: None,
                name: String::new(),
            }),
            Target::Stdout | Target::Stream(_) => {
                let (fd, name) = match target {
                    Target::Stream(2) => (2, "standard error"),
                    _ => (1, "standard output"),
                };
                let file = stream_file(fd)
                    .map_err(|e| CliError::io_while(format_args!("opening {name}"), &e))?;
                Ok(stream(file, name))
            }
            Target::File(path) => {
                let name = path.display().to_string();
                if let Ok(meta) = fs::symlink_metadata(path) {
                    if !meta.is_file() && !meta.is_dir() && !meta.file_type().is_symlink() {
                        return open_special(path, &name).map(|file| stream(file, &name));
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
                        CliError::io_while(
                            format_args!("cannot write {name} in {}", dir.display()),
                            &e,
                        )
                    }
                })?;
                let file = temp.handle().map_err(|e| CliError::io_while(&name, &e))?;
                Ok(Output {
                    writer: Box::new(WipedBufWriter::new(file)),
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

    /// Flushes, carries the input's mode and times over, reads a file back when asked,
    /// and puts it into place.
    pub fn commit(self, finish: &Finish<'_>) -> Result<(), CliError> {
        match self.prepare(finish)? {
            Some(ready) => ready.persist(),
            None => Ok(()),
        }
    }

    /// [`Output::commit`] up to the naming: a file output comes back complete and
    /// checked but still unnamed, so that `--delete-source` can sync a whole batch of
    /// them before they get their names (see `removal`).
    pub fn prepare(self, finish: &Finish<'_>) -> Result<Option<Ready>, CliError> {
        let Output {
            mut writer,
            temp,
            name,
        } = self;
        writer
            .flush()
            .map_err(|e| CliError::io_while(format_args!("writing {name}"), &e))?;
        drop(writer);
        let Some(temp) = temp else {
            return Ok(None);
        };
        let failed = |doing: &str, e: &io::Error| CliError::io_while(format!("{doing} {name}"), e);
        let mut mode_after_rename = None;
        if let Some(like) = finish.like {
            set_times_like(temp.as_file(), like).map_err(|e| failed("setting the times of", &e))?;
            // A nameless file can take its final mode now; a named one stays 0600 until
            // the rename.
            if temp.is_anonymous() {
                set_mode_like(temp.as_file(), like.mode())
                    .map_err(|e| failed("setting the mode of", &e))?;
            } else {
                mode_after_rename = Some(like.mode());
            }
        }
        super::hooks::pause(super::hooks::point::WRITTEN);
        if let Some(verify) = finish.verify {
            verify(temp.as_file())?;
        }
        Ok(Some(Ready {
            temp,
            name,
            overwrite: finish.overwrite,
            mode_after_rename,
        }))
    }
}

/// A complete, checked output file that has no name yet ([`Output::prepare`]).
pub struct Ready {
    temp: TempOutput,
    /// The destination, for messages.
    pub name: String,
    overwrite: bool,
    mode_after_rename: Option<u32>,
}

impl Ready {
    /// The file.
    pub fn file(&self) -> &File {
        self.temp.as_file()
    }

    /// Its destination directory.
    pub fn directory(&self) -> &File {
        &self.temp.dir
    }

    /// Puts the file into place.
    ///
    /// # Errors
    /// The destination exists (without `-f`), was written earlier in this run, or the
    /// rename or link failed.
    pub fn persist(self) -> Result<(), CliError> {
        let Ready {
            temp,
            name,
            overwrite,
            mode_after_rename,
        } = self;
        let file = temp
            .handle()
            .map_err(|e| CliError::io_while(format_args!("writing {name}"), &e))?;
        temp.persist(overwrite).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                exists_error(&name)
            } else if e.to_string() == EARLIER_OUTPUT {
                CliError::io(format!("refusing to replace {name}: {EARLIER_OUTPUT}"))
            } else {
                CliError::io_while(format_args!("renaming the output into {name}"), &e)
            }
        })?;
        if let Some(mode) = mode_after_rename {
            set_mode_like(&file, mode)
                .map_err(|e| CliError::io_while(format_args!("setting the mode of {name}"), &e))?;
        }
        Ok(())
    }
}

/// Gives an output the input's modification (and access) time, as gzip and zstd do.
fn set_times_like(file: &File, like: &fs::Metadata) -> io::Result<()> {
    let times = FileTimes::new()
        .set_accessed(like.accessed()?)
        .set_modified(like.modified()?);
    file.set_times(times)
}

/// Gives an output the input's permission bits, without setuid, setgid and sticky: never
/// wider than the input.
fn set_mode_like(file: &File, mode: u32) -> io::Result<()> {
    file.set_permissions(Permissions::from_mode(mode & 0o777))
}

/// Opens an existing fifo or device named with `-o`: never through a symbolic link
/// (`O_NOFOLLOW`), and checked again after opening (it could have been replaced).
fn open_special(path: &Path, name: &str) -> Result<File, CliError> {
    let file = OpenOptions::new()
        .write(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(|e| CliError::io_while(format_args!("opening {name}"), &e))?;
    let meta = file
        .metadata()
        .map_err(|e| CliError::io_while(format_args!("opening {name}"), &e))?;
    if meta.is_file() || meta.is_dir() {
        return Err(CliError::io(format!(
            "{name} changed while it was opened (now a regular file or directory)"
        )));
    }
    Ok(file)
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

    /// Both kinds of temporary file: nothing named until persisted (`O_TMPFILE`) or only
    /// the `.coffer-tmp*` name; persisting never replaces without `overwrite`, and never
    /// replaces an output of the same run.
    #[test]
    fn temporary_outputs_persist_without_clobbering_and_never_over_an_earlier_output() {
        for anonymous in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let dest = dir.path().join("out");
            let names = || -> Vec<_> {
                fs::read_dir(dir.path())
                    .unwrap()
                    .map(|e| e.unwrap().file_name())
                    .collect()
            };
            let temp = TempOutput::create_with(&dest, anonymous).unwrap();
            if cfg!(target_os = "linux") && anonymous {
                assert!(temp.is_anonymous(), "O_TMPFILE unsupported here");
                assert!(names().is_empty(), "an O_TMPFILE output has no name");
            }
            temp.as_file().write_all_at(b"first", 0).unwrap();
            temp.persist(false).unwrap();
            let second = TempOutput::create_with(&dest, anonymous).unwrap();
            let err = second.persist(false).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
            let third = TempOutput::create_with(&dest, anonymous).unwrap();
            let err = third.persist(true).unwrap_err();
            assert_eq!(err.to_string(), EARLIER_OUTPUT);
            assert_eq!(fs::read(&dest).unwrap(), b"first");
            // A file this run did not write is replaced with `overwrite`.
            fs::remove_file(&dest).unwrap();
            fs::write(&dest, b"old").unwrap();
            let fourth = TempOutput::create_with(&dest, anonymous).unwrap();
            fourth.as_file().write_all_at(b"new", 0).unwrap();
            fourth.persist(true).unwrap();
            assert_eq!(fs::read(&dest).unwrap(), b"new");
            assert_eq!(
                names(),
                vec![std::ffi::OsString::from("out")],
                "anonymous: {anonymous}"
            );
        }
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

//! `--delete-source`, made durable in batches.
//!
//! A source may be removed only once its output (data and name) is on disk, and the
//! removal itself should survive a crash. Doing that with three fsyncs per file made a
//! tree of 10,000 small files about ten times slower (docs/PERFORMANCE.md), so verified
//! outputs wait here, up to [`BATCH`] of them; then one `syncfs` per file system makes
//! them all durable, the sources are checked and unlinked, and one more `syncfs` makes
//! the removals durable. Small batches (a single file) use fsync of each output and
//! directory instead, which does not wait for other processes' writes.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Mutex;

use super::error::CliError;
use super::output::Ready;
use super::report::{FileResult, Outcome, Reporter};
use super::source::Source;

/// Sources waiting at most; each holds four descriptors open while it waits.
const BATCH: usize = 64;
/// From this many files on, one `syncfs` per file system replaces per-file fsyncs.
const SYNCFS_FROM: usize = 8;

/// A file whose output is written and verified but not yet named; its source waits for
/// removal.
pub struct Removal {
    pub index: usize,
    pub path: Option<PathBuf>,
    pub output: Option<String>,
    pub bytes: u64,
    pub source: Source,
    /// Bytes that must equal the source's size (encrypt).
    pub consumed: Option<u64>,
    /// Keep a source with other hard links (encrypt: they would keep the plaintext).
    pub keep_hard_links: bool,
    pub ready: Ready,
}

/// The queue of sources waiting for removal, shared by the workers.
#[derive(Default)]
pub struct Removals {
    queue: Mutex<Vec<Removal>>,
}

impl Removals {
    /// Queues a removal; completes the batch when it is full.
    pub fn push(&self, removal: Removal, reporter: &Reporter) {
        let batch = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.push(removal);
            if queue.len() < BATCH {
                return;
            }
            std::mem::take(&mut *queue)
        };
        complete(batch, reporter);
    }

    /// Completes whatever is queued (the end of the run).
    pub fn finish(&self, reporter: &Reporter) {
        let batch = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()));
        if !batch.is_empty() {
            complete(batch, reporter);
        }
    }
}

/// A file of a batch on its way through [`complete`].
struct Entry {
    index: usize,
    path: Option<PathBuf>,
    output: Option<String>,
    bytes: u64,
    source: Source,
    consumed: Option<u64>,
    keep_hard_links: bool,
    /// The output's directory, once the output is named.
    dir: Option<File>,
    /// The first failure; later steps skip the file.
    state: Result<(), CliError>,
}

/// For a batch: syncs the outputs' data, names them, syncs the names, removes the
/// sources, syncs the removals, and records every file. A file that fails a step keeps
/// its source and skips the later steps.
fn complete(batch: Vec<Removal>, reporter: &Reporter) {
    let many = batch.len() >= SYNCFS_FROM;
    let data: Vec<[&dyn AsFd; 1]> = batch
        .iter()
        .map(|r| [r.ready.file() as &dyn AsFd])
        .collect();
    let data_synced = sync(&data, many);
    drop(data);
    let mut entries: Vec<Entry> = batch
        .into_iter()
        .zip(data_synced)
        .map(|(r, synced)| {
            let name = r.ready.name.clone();
            let dir = r.ready.directory().try_clone().ok();
            let state = synced
                .and_then(|()| dir.as_ref().map(drop).ok_or_else(io::Error::last_os_error))
                .map_err(|e| CliError::io_while(format_args!("syncing {name}"), &e))
                .and_then(|()| r.ready.persist());
            Entry {
                index: r.index,
                path: r.path,
                output: r.output,
                bytes: r.bytes,
                source: r.source,
                consumed: r.consumed,
                keep_hard_links: r.keep_hard_links,
                dir,
                state,
            }
        })
        .collect();
    sync_step(&mut entries, many, "syncing the output's directory", |e| {
        e.dir.as_ref().map(|d| d as &dyn AsFd)
    });
    for entry in entries.iter_mut().filter(|e| e.state.is_ok()) {
        entry.state = entry.source.remove(entry.consumed, entry.keep_hard_links);
    }
    sync_step(
        &mut entries,
        many,
        "syncing the directory after removing the source (the output is complete)",
        |e| Some(e.source.directory() as &dyn AsFd),
    );
    for entry in entries {
        let display = entry
            .path
            .as_deref()
            .map_or_else(|| "-".to_string(), |p| p.display().to_string());
        let outcome = match entry.state {
            Ok(()) => Outcome::Ok {
                output: entry.output,
                bytes: entry.bytes,
            },
            Err(err) => Outcome::Failed(err.kept().context(display)),
        };
        reporter.record(
            entry.index,
            FileResult {
                path: entry.path,
                outcome,
            },
        );
    }
}

/// Syncs `handle` of every entry still going; a failure becomes the entry's state.
fn sync_step(
    entries: &mut [Entry],
    many: bool,
    doing: &str,
    handle: impl Fn(&Entry) -> Option<&dyn AsFd>,
) {
    let live: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].state.is_ok() && handle(&entries[i]).is_some())
        .collect();
    let results = {
        let groups: Vec<[&dyn AsFd; 1]> = live
            .iter()
            .filter_map(|&i| handle(&entries[i]).map(|h| [h]))
            .collect();
        sync(&groups, many)
    };
    for (i, result) in live.into_iter().zip(results) {
        if let Err(e) = result {
            entries[i].state = Err(CliError::io_while(doing, &e));
        }
    }
}

/// Makes every handle of each group durable; one result per group. With `many`, one
/// `syncfs` per file system covers them all (where the platform has it).
fn sync<const N: usize>(groups: &[[&dyn AsFd; N]], many: bool) -> Vec<io::Result<()>> {
    let mut by_fs: HashMap<u64, Option<io::ErrorKind>> = HashMap::new();
    let mut one = |handle: &dyn AsFd| -> io::Result<()> {
        if many && HAVE_SYNCFS {
            #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
            let dev = rustix::fs::fstat(handle.as_fd())?.st_dev as u64;
            let failed = *by_fs
                .entry(dev)
                .or_insert_with(|| syncfs(handle).err().map(|e| e.kind()));
            return failed.map_or(Ok(()), |kind| Err(kind.into()));
        }
        rustix::fs::fsync(handle.as_fd()).map_err(io::Error::from)
    };
    groups
        .iter()
        .map(|group| group.iter().try_for_each(|handle| one(*handle)))
        .collect()
}

#[cfg(any(target_os = "linux", target_os = "android"))]
const HAVE_SYNCFS: bool = true;

/// `syncfs(2)`: since Linux 5.8 it also reports write-back errors of the file system.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn syncfs(handle: &dyn AsFd) -> io::Result<()> {
    rustix::fs::syncfs(handle.as_fd()).map_err(io::Error::from)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
const HAVE_SYNCFS: bool = false;

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn syncfs(handle: &dyn AsFd) -> io::Result<()> {
    rustix::fs::fsync(handle.as_fd()).map_err(io::Error::from)
}

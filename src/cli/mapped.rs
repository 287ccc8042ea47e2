//! Regular files read through a memory map, so the pipeline seals them where they lie in
//! the page cache: one pass over the bytes, where `read` would first copy every byte
//! (docs/PERFORMANCE.md, "Reading the input").
//!
//! A mapped file that another process truncates makes any read of a lost page raise
//! SIGBUS, which would kill the process and leave its temporary output behind. So a
//! SIGBUS handler catches the faults in the maps made here: it puts a page of zeros in
//! place of the lost one, so the read goes on, and marks the map as cut; the caller then
//! refuses the output as a file that changed while it was read. A fault anywhere else
//! gets what it would have got without the handler.
//!
//! The one module with unsafe code (the crate denies it elsewhere; the library forbids
//! it): the map itself, and the handler's calls to the C library.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use memmap2::{Mmap, MmapOptions};

/// Maps that can be guarded at once (the CLI maps one input per worker thread at most).
const GUARDS: usize = 8;

/// The address range of one guarded map (`start == 0`: free), and whether a read of it
/// faulted. Plain atomics: the signal handler reads them.
struct Guard {
    start: AtomicUsize,
    end: AtomicUsize,
    cut: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Guard = Guard {
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    cut: AtomicBool::new(false),
};
static GUARDED: [Guard; GUARDS] = [FREE; GUARDS];
/// How much of the map is let go at once (see [`MappedFile::release`]).
const RELEASE_BLOCK: usize = 8 << 20;
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);
/// The SIGBUS action before ours, restored for faults that are not ours. `Err`: the
/// handler could not be installed, so nothing is mapped.
static PREVIOUS: OnceLock<Result<libc::sigaction, i32>> = OnceLock::new();

/// A regular file's bytes, mapped read-only.
pub struct MappedFile {
    map: Mmap,
    guard: &'static Guard,
    read: Mutex<ReadSoFar>,
}

/// Which bytes of the map have been read, so that they are let go in order.
#[derive(Default)]
struct ReadSoFar {
    /// Every byte before this one was read.
    upto: usize,
    /// Every byte before this one was let go.
    dropped: usize,
    /// Ranges read beyond `upto` (workers finish out of order): start -> end.
    ahead: BTreeMap<usize, usize>,
}

impl ReadSoFar {
    /// Records `[start, end)` as read, and returns what to let go now: the read prefix
    /// not yet let go, once it is `RELEASE_BLOCK` long or reaches `len`.
    fn read(&mut self, start: usize, end: usize, len: usize) -> Option<Range<usize>> {
        self.ahead.insert(start, end);
        while let Some(end) = self.ahead.remove(&self.upto) {
            self.upto = end;
        }
        let pending = self.upto - self.dropped;
        if pending >= RELEASE_BLOCK || (pending > 0 && self.upto >= len) {
            let range = self.dropped..self.upto;
            self.dropped = self.upto;
            return Some(range);
        }
        None
    }
}

impl MappedFile {
    /// Maps the first `len` bytes of `file` (its length when opened), or says why not;
    /// the caller then reads it as a stream.
    pub fn new(file: &File, len: u64) -> io::Result<MappedFile> {
        install_handler()?;
        let len = usize::try_from(len).map_err(io::Error::other)?;
        // SAFETY: the map is read-only and private to this process, but the file's bytes
        // may still change under it: they only ever go to the cipher, once each, so a
        // change is what a `read` racing with a writer gives (a torn file, like tar's
        // "file changed as we read it"), and a cut is caught by the SIGBUS handler. The
        // caller compares the length afterwards either way.
        let map = unsafe { MmapOptions::new().len(len).map(file)? };
        // Pages are read once, in order: let the kernel read ahead and drop behind.
        let _ = map.advise(memmap2::Advice::Sequential);
        let guard = GUARDED
            .iter()
            .find(|guard| {
                guard
                    .start
                    .compare_exchange(0, usize::MAX, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            })
            .ok_or_else(|| io::Error::other("too many mapped inputs"))?;
        let start = map.as_ptr() as usize;
        guard.cut.store(false, Ordering::SeqCst);
        guard.end.store(start + map.len(), Ordering::SeqCst);
        guard.start.store(start, Ordering::SeqCst);
        Ok(MappedFile {
            map,
            guard,
            read: Mutex::default(),
        })
    }

    /// The file's bytes (zeros where it was cut while mapped).
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Called when `[start, start + len)` has been read: lets the pages of the map go
    /// from this process, so that its memory does not grow with the file (they stay in
    /// the page cache). Only pages before the first unread byte, and 8 MiB at a time:
    /// each call costs an interrupt to the other cores to flush their TLBs (perf: 5% of
    /// the cycles when every 2 MiB batch let its own pages go).
    pub fn release(&self, start: u64, len: usize) {
        let Ok(start) = usize::try_from(start) else {
            return;
        };
        let end = start.saturating_add(len).min(self.map.len());
        let range =
            self.read
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .read(start, end, self.map.len());
        if let Some(range) = range {
            // SAFETY: DONTNEED on a read-only map of a file (or on the zero pages put in
            // place of a cut one) only drops this process's view of the pages: a later
            // read faults the same bytes in again, so no reference to them is invalidated.
            let _ = unsafe {
                self.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    range.start,
                    range.len(),
                )
            };
        }
    }

    /// Whether a read of the map found the file shorter than when it was mapped.
    pub fn was_cut(&self) -> bool {
        self.guard.cut.load(Ordering::SeqCst)
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        // Unguarded before it is unmapped (the map field drops after this).
        self.guard.end.store(0, Ordering::SeqCst);
        self.guard.start.store(0, Ordering::SeqCst);
    }
}

fn install_handler() -> io::Result<()> {
    let previous = PREVIOUS.get_or_init(|| {
        // SAFETY: sysconf and sigaction with a zeroed, filled-in action; the handler only
        // uses atomics, mmap and sigaction, which are async-signal-safe on Linux and macOS.
        unsafe {
            PAGE_SIZE.store(libc::sysconf(libc::_SC_PAGESIZE) as usize, Ordering::SeqCst);
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, &action, &mut previous) == 0 {
                Ok(previous)
            } else {
                Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
            }
        }
    });
    match previous {
        Ok(_) => Ok(()),
        Err(errno) => Err(io::Error::from_raw_os_error(*errno)),
    }
}

extern "C" fn on_sigbus(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page_size = PAGE_SIZE.load(Ordering::SeqCst);
    for guard in &GUARDED {
        let start = guard.start.load(Ordering::SeqCst);
        let end = guard.end.load(Ordering::SeqCst);
        if start == 0 || start == usize::MAX || !(start..end).contains(&addr) {
            continue;
        }
        let page = addr & !(page_size - 1);
        // SAFETY: the page lies in a map this module owns and nobody else uses; a fixed
        // anonymous map replaces it with zeros, and the faulting read then goes on.
        let zeros = unsafe {
            libc::mmap(
                page as *mut libc::c_void,
                page_size,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if zeros != libc::MAP_FAILED {
            guard.cut.store(true, Ordering::SeqCst);
            return;
        }
    }
    // Not ours (or no page could be put there): restore the action from before, so the
    // fault, raised again when this returns, gets it.
    if let Some(Ok(previous)) = PREVIOUS.get() {
        // SAFETY: restoring the action the process had before.
        unsafe { libc::sigaction(libc::SIGBUS, previous, ptr::null_mut()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_file_cut_while_mapped_reads_as_zeros_and_is_marked() {
        let page = 4096;
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![7u8; 4 * page]).unwrap();
        let mapped = MappedFile::new(&file, 4 * page as u64).unwrap();
        assert_eq!(mapped.bytes()[0], 7);
        assert!(!mapped.was_cut());
        file.set_len(page as u64).unwrap();
        let tail: u64 = mapped.bytes()[2 * page..]
            .iter()
            .map(|&b| u64::from(b))
            .sum();
        assert_eq!(tail, 0, "the lost pages read as zeros");
        assert!(mapped.was_cut());
        assert_eq!(mapped.bytes()[0], 7, "the kept page is still the file's");
        drop(mapped);
        // The guard is free again for the next map.
        let again = MappedFile::new(&file, page as u64).unwrap();
        assert!(!again.was_cut());
    }

    /// Batches read out of order: nothing past the first unread byte is let go, every
    /// byte is let go exactly once, in blocks, and the end of the map too.
    #[test]
    fn pages_are_let_go_in_order_in_blocks() {
        const BATCH: usize = 2 << 20;
        let len = 13 * BATCH + 100;
        let mut order: Vec<usize> = (0..14).collect();
        order.swap(0, 3);
        order.swap(5, 9);
        order.swap(12, 13);
        let mut read = ReadSoFar::default();
        let mut done = [false; 14];
        let mut dropped = Vec::new();
        for &batch in &order {
            let end = ((batch + 1) * BATCH).min(len);
            done[batch] = true;
            if let Some(range) = read.read(batch * BATCH, end, len) {
                let first_unread = done.iter().position(|d| !d).map_or(len, |b| b * BATCH);
                assert!(range.end <= first_unread, "{range:?} before all was read");
                assert!(range.len() >= RELEASE_BLOCK || range.end == len);
                dropped.push(range);
            }
        }
        let mut next = 0;
        for range in &dropped {
            assert_eq!(range.start, next, "{dropped:?}");
            next = range.end;
        }
        assert_eq!(next, len, "{dropped:?}");
    }
}

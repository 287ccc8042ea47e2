//! The aggregate progress bar (stderr, terminals only), fed by the pipeline's callback.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer::ProgressFn;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a run goes unseen before the bar appears: a small piped input (its size is
/// unknown up front) is done long before, and no spinner flashes for it.
const SHOW_AFTER: Duration = Duration::from_millis(500);

pub struct Progress {
    multi: MultiProgress,
    bar: ProgressBar,
    files: u64,
    done: AtomicU64,
    reveal: Arc<Reveal>,
}

/// Draws to stderr from the first update after [`SHOW_AFTER`]; hidden until then.
struct Reveal {
    multi: MultiProgress,
    started: Instant,
    shown: AtomicBool,
}

impl Reveal {
    fn update(&self) {
        if !self.shown.load(Ordering::Relaxed)
            && self.started.elapsed() >= SHOW_AFTER
            && !self.shown.swap(true, Ordering::Relaxed)
        {
            self.multi.set_draw_target(ProgressDrawTarget::stderr());
        }
    }
}

impl Progress {
    /// A bar over `files` files of `total` bytes (unknown for stdin).
    pub fn new(total: Option<u64>, files: u64) -> Progress {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let bar = match total {
            Some(total) => {
                let bar = ProgressBar::new(total);
                let style = ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] [{wide_bar}] {bytes}/{total_bytes} \
                     {binary_bytes_per_sec} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style.progress_chars("=> "));
                bar
            }
            None => {
                let bar = ProgressBar::new_spinner();
                let style = ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bytes} {binary_bytes_per_sec} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
                bar.set_style(style);
                bar
            }
        };
        let bar = multi.add(bar);
        let reveal = Arc::new(Reveal {
            multi: multi.clone(),
            started: Instant::now(),
            shown: AtomicBool::new(false),
        });
        let progress = Progress {
            multi,
            bar,
            files,
            done: AtomicU64::new(0),
            reveal,
        };
        progress.set_message(0);
        progress
    }

    fn set_message(&self, done: u64) {
        self.bar.set_message(format!("{done}/{} files", self.files));
    }

    /// A pipeline callback for one file, and the counter of bytes it reported.
    pub fn callback(&self) -> (Arc<ProgressFn>, Arc<AtomicU64>) {
        let reported = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&reported);
        let bar = self.bar.clone();
        let reveal = Arc::clone(&self.reveal);
        let callback: Arc<ProgressFn> = Arc::new(move |n| {
            counter.fetch_add(n, Ordering::Relaxed);
            reveal.update();
            bar.inc(n);
        });
        (callback, reported)
    }

    /// A file finished: account for what its callback did not report (small files,
    /// headers) so the bar reaches the total.
    pub fn file_done(&self, size: Option<u64>, reported: u64) {
        if let Some(size) = size {
            self.bar.inc(size.saturating_sub(reported));
        }
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.reveal.update();
        self.set_message(done);
    }

    /// Prints a line without garbling the bar.
    pub fn println(&self, text: &str) {
        self.multi.suspend(|| eprintln!("{text}"));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

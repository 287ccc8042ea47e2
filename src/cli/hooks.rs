//! Test-only pause points, so that end-to-end tests can change the file system at an
//! exact moment of a run (rename a file onto an input, swap a directory for a symlink)
//! instead of racing the binary.
//!
//! Only built with the cargo feature `test-hooks`; otherwise [`pause`] does nothing and
//! the variables are ignored. With `COFFER_TEST_PAUSE=<point>` and
//! `COFFER_TEST_PAUSE_DIR=<dir>`, the first time the run reaches `<point>` it creates
//! `<dir>/<point>.paused` and waits (up to two minutes) until `<dir>/<point>.go` exists.

/// The named points, in the order a file goes through them.
pub mod point {
    /// After planning and the passphrase, before the first file is opened.
    pub const PLANNED: &str = "planned";
    /// After a large input was mapped into memory, before any of it is read.
    pub const MAPPED: &str = "mapped";
    /// After a file's input was read to its end, before its output is committed.
    pub const READ: &str = "read";
    /// After a file's output was written and synced, before it is read back and named.
    pub const WRITTEN: &str = "written";
    /// After the run, before the process exits (memory can still be inspected).
    pub const DONE: &str = "done";
}

/// Waits at `point` when a test asked for it; see the module documentation.
#[cfg(feature = "test-hooks")]
pub fn pause(point: &str) {
    use std::collections::HashSet;
    use std::path::PathBuf;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    static REACHED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    if std::env::var("COFFER_TEST_PAUSE").ok().as_deref() != Some(point) {
        return;
    }
    let Some(dir) = std::env::var_os("COFFER_TEST_PAUSE_DIR").map(PathBuf::from) else {
        return;
    };
    {
        let mut reached = REACHED.lock().unwrap_or_else(|p| p.into_inner());
        if !reached
            .get_or_insert_with(HashSet::new)
            .insert(point.to_string())
        {
            return;
        }
    }
    let _ = std::fs::write(dir.join(format!("{point}.paused")), b"");
    let go = dir.join(format!("{point}.go"));
    let started = Instant::now();
    while !go.exists() && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Without the `test-hooks` feature: nothing.
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn pause(_point: &str) {}

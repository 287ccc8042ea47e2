//! Last words on SIGINT/SIGTERM. The handler (`output::install_signal_handler`) exits the
//! process from its own thread, so no destructor of the interrupted work runs: whatever
//! must still happen (the report's `interrupted` and summary lines, the terminal's echo
//! turned back on) registers a hook here, and the handler runs the hooks before exiting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

type Hook = Box<dyn Fn() + Send>;

static HOOKS: Mutex<Vec<(u64, Hook)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn hooks() -> MutexGuard<'static, Vec<(u64, Hook)>> {
    HOOKS.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Keeps a hook registered; dropping it unregisters the hook.
#[must_use = "the hook is unregistered when the guard is dropped"]
pub struct HookGuard(u64);

impl Drop for HookGuard {
    fn drop(&mut self) {
        hooks().retain(|(id, _)| *id != self.0);
    }
}

/// Runs `hook` if the process is interrupted while the returned guard lives.
pub fn on_interrupt(hook: impl Fn() + Send + 'static) -> HookGuard {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    hooks().push((id, Box::new(hook)));
    HookGuard(id)
}

/// Runs every registered hook, newest first. Called by the signal handler only, just
/// before the process exits.
pub fn run_hooks() {
    for (_, hook) in hooks().iter().rev() {
        hook();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    #[test]
    fn hooks_run_while_registered_only() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let guard = on_interrupt(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let id = guard.0;
        let registered = || hooks().iter().any(|(other, _)| *other == id);
        assert!(registered());
        drop(guard);
        assert!(!registered());
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }
}

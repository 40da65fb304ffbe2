//! The kill switch: Ctrl-C, SIGTERM, a Stop button — anything may pull it; the loop checks
//! it between stages and while it waits (for the model, for the screen, for a person).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    stopped: AtomicBool,
    paused: AtomicBool,
    holding: AtomicBool,
    notify: Notify,
    /// Why, when the one who stopped said so.
    reason: std::sync::Mutex<Option<String>>,
}

impl StopSignal {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stop(&self) {
        self.0.stopped.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// Stop, saying why (the run's result says it instead of "stopped by the person").
    pub fn stop_because(&self, reason: impl Into<String>) {
        *self.0.reason.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.into());
        self.stop();
    }

    pub fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::SeqCst)
    }

    /// Why the run stopped, for its result.
    pub fn reason(&self) -> String {
        let r = self.0.reason.lock().unwrap_or_else(|p| p.into_inner());
        r.clone().unwrap_or_else(|| "stopped by the person".into())
    }

    /// Resolves once stopped.
    pub async fn stopped(&self) {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_stopped() {
                return;
            }
            notified.await;
        }
    }

    /// Hold the loop before its next step (the desktop app's Pause); a stop still ends it.
    pub fn pause(&self) {
        self.0.paused.store(true, Ordering::SeqCst);
    }

    pub fn resume(&self) {
        self.0.paused.store(false, Ordering::SeqCst);
    }

    pub fn is_paused(&self) -> bool {
        self.0.paused.load(Ordering::SeqCst)
    }

    /// Block while paused (returns at once otherwise, or when stopped).
    pub fn wait_while_paused(&self) {
        if !self.is_paused() {
            return;
        }
        self.0.holding.store(true, Ordering::SeqCst);
        while self.is_paused() && !self.is_stopped() {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.0.holding.store(false, Ordering::SeqCst);
    }

    /// The loop has reached a pause and is holding there (the step in progress is done).
    pub fn is_holding(&self) -> bool {
        self.0.holding.load(Ordering::SeqCst)
    }

    /// Sleep, waking early when stopped. Returns false if stopped.
    pub fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while !self.is_stopped() {
            let now = Instant::now();
            if now >= end {
                return true;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(20)));
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paused_loop_holds_until_resumed_or_stopped() {
        let s = StopSignal::new();
        s.wait_while_paused(); // not paused: returns at once
        assert!(!s.is_holding());
        s.pause();
        let t = {
            let s = s.clone();
            std::thread::spawn(move || s.wait_while_paused())
        };
        let start = Instant::now();
        while !s.is_holding() {
            assert!(start.elapsed() < Duration::from_secs(10), "the loop reached the pause");
            std::thread::sleep(Duration::from_millis(5));
        }
        s.resume();
        t.join().unwrap();
        assert!(!s.is_holding());
        s.pause();
        let t = {
            let s = s.clone();
            std::thread::spawn(move || s.wait_while_paused())
        };
        s.stop();
        t.join().unwrap();
    }
}

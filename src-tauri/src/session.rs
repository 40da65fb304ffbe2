//! One agent run (or replay) at a time, on its own thread, steered from the window.
//!
//! The window never shows in the agent's screenshots: when it lies on the monitor the agent
//! works on, it is hidden while the agent is at work (capturing, acting, settling) and shown
//! when a person is needed (a confirmation, a question), when paused, and at the end. Hiding
//! for the whole active phase, rather than around each capture, also keeps it from taking
//! the keyboard focus between a click and the keys that follow it.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use markpilot::action::Action;
use markpilot::agent::{Operator, StopSignal, Verdict};
use markpilot::capture::{Capturer, Target};

/// What the session needs from the window, so it can be tested without one.
pub trait WindowControl: Send + Sync {
    /// Hide the window if it covers the agent's monitor, and wait until it is off the screen;
    /// true when it was hidden now.
    fn hide_if_covering(&self, target: &Target) -> bool;
    fn show(&self);
}

/// A window that never covers anything (the app runs on another monitor, or in tests).
pub struct NoWindow;

impl WindowControl for NoWindow {
    fn hide_if_covering(&self, _: &Target) -> bool {
        false
    }
    fn show(&self) {}
}

/// The person's answers, from the window to the agent thread, each tagged with the step
/// whose confirmation or question it answers: a second click on Approve, or an answer typed
/// late, lands on nothing instead of on the next step's question.
pub enum Reply {
    Verdict { step: u32, verdict: Verdict },
    Answer { step: u32, answer: Option<String> },
}

/// The running session, as the command layer holds it.
pub struct Session {
    pub stop: StopSignal,
    pub replies: Sender<Reply>,
    pub thread: Option<JoinHandle<()>>,
    pub run_dir: String,
    /// A confirmation or question is waiting for the person.
    pub waiting: Arc<Mutex<Option<String>>>,
}

impl Session {
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

/// Tells the window the model asked the person something (step, question).
pub type AskHook = Box<dyn Fn(u32, &str) + Send>;

/// The agent's operator: asks the window, waits for its reply (or a stop).
pub struct WindowOperator {
    pub replies: Receiver<Reply>,
    pub window: Arc<dyn WindowControl>,
    pub target: Target,
    pub waiting: Arc<Mutex<Option<String>>>,
    /// Tells the window a question is waiting (confirmations come as agent events).
    pub ask: AskHook,
}

impl WindowOperator {
    fn wait(&mut self, what: String, stop: &StopSignal) -> Option<Reply> {
        if let Ok(mut w) = self.waiting.lock() {
            *w = Some(what);
        }
        self.window.show();
        let reply = loop {
            if stop.is_stopped() {
                break None;
            }
            match self.replies.recv_timeout(Duration::from_millis(50)) {
                Ok(r) => break Some(r),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break None,
            }
        };
        if let Ok(mut w) = self.waiting.lock() {
            *w = None;
        }
        if !stop.is_stopped() {
            self.window.hide_if_covering(&self.target);
        }
        reply
    }
}

impl Operator for WindowOperator {
    fn confirm(&mut self, step: u32, action: &Action, _reason: &str, stop: &StopSignal) -> Verdict {
        loop {
            match self.wait(format!("confirm {action}"), stop) {
                Some(Reply::Verdict { step: s, verdict }) if s == step => return verdict,
                // A verdict for another step, or an answer: not for this; keep waiting.
                Some(_) => continue,
                None => return Verdict::Refuse,
            }
        }
    }

    fn ask(&mut self, step: u32, question: &str, stop: &StopSignal) -> Option<String> {
        (self.ask)(step, question);
        loop {
            match self.wait(format!("answer {question}"), stop) {
                Some(Reply::Answer { step: s, answer }) if s == step => return answer,
                Some(_) => continue,
                None => return None,
            }
        }
    }
}

/// A capturer that makes sure the window is out of the picture: hidden (and given time to
/// disappear) before the first capture of an active phase.
pub struct HidingCapturer {
    pub inner: Box<dyn Capturer>,
    pub window: Arc<dyn WindowControl>,
}

impl Capturer for HidingCapturer {
    fn monitors(&self) -> Result<Vec<markpilot::coords::MonitorInfo>, markpilot::capture::CaptureError> {
        self.inner.monitors()
    }
    fn windows(&self) -> Result<Vec<markpilot::capture::WindowInfo>, markpilot::capture::CaptureError> {
        self.inner.windows()
    }
    fn capture(&self, target: &Target) -> Result<markpilot::capture::Frame, markpilot::capture::CaptureError> {
        self.window.hide_if_covering(target);
        self.inner.capture(target)
    }
}

/// Wait up to `limit` for `done`, polling.
pub fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

#[cfg(test)]
mod tests {
    use super::*;
    use markpilot::action::{ClickKind, Pointer};
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Default)]
    struct Counting {
        shown: AtomicU32,
        hidden: AtomicU32,
    }

    impl WindowControl for Counting {
        fn hide_if_covering(&self, _: &Target) -> bool {
            self.hidden.fetch_add(1, Ordering::SeqCst);
            true
        }
        fn show(&self) {
            self.shown.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn operator(window: Arc<Counting>) -> (WindowOperator, Sender<Reply>) {
        let (tx, rx) = mpsc::channel();
        let op = WindowOperator {
            replies: rx,
            window,
            target: Target::Monitor(None),
            waiting: Arc::new(Mutex::new(None)),
            ask: Box::new(|_, _| {}),
        };
        (op, tx)
    }

    #[test]
    fn a_confirmation_shows_the_window_waits_for_the_verdict_and_hides_it_again() {
        let window = Arc::new(Counting::default());
        let (mut op, tx) = operator(window.clone());
        let click = Action::Pointer { kind: ClickKind::Click, target: Pointer::Mark(3) };
        let edited = Action::Pointer { kind: ClickKind::DoubleClick, target: Pointer::Mark(3) };
        tx.send(Reply::Answer { step: 1, answer: Some("stray".into()) }).unwrap();
        tx.send(Reply::Verdict { step: 1, verdict: Verdict::Edit(edited.clone()) }).unwrap();
        assert_eq!(op.confirm(1, &click, "risky", &StopSignal::new()), Verdict::Edit(edited));
        assert!(window.shown.load(Ordering::SeqCst) >= 1);
        assert!(window.hidden.load(Ordering::SeqCst) >= 1, "hidden again before acting");
        assert!(op.waiting.lock().unwrap().is_none());
    }

    #[test]
    fn a_stop_while_waiting_refuses_and_a_question_gets_its_answer() {
        let window = Arc::new(Counting::default());
        let (mut op, tx) = operator(window);
        let stop = StopSignal::new();
        let s = stop.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            s.stop();
        });
        let click = Action::Pointer { kind: ClickKind::Click, target: Pointer::Mark(1) };
        assert_eq!(op.confirm(1, &click, "r", &stop), Verdict::Refuse);
        t.join().unwrap();
        tx.send(Reply::Answer { step: 2, answer: Some("blue".into()) }).unwrap();
        assert_eq!(op.ask(2, "which colour?", &StopSignal::new()), Some("blue".into()));
    }

    #[test]
    fn a_second_click_on_approve_does_not_approve_the_next_steps_action() {
        let (mut op, tx) = operator(Arc::new(Counting::default()));
        let click = Action::Pointer { kind: ClickKind::Click, target: Pointer::Mark(1) };
        // Approve clicked twice at step 3: the first answers step 3.
        tx.send(Reply::Verdict { step: 3, verdict: Verdict::Approve }).unwrap();
        tx.send(Reply::Verdict { step: 3, verdict: Verdict::Approve }).unwrap();
        assert_eq!(op.confirm(3, &click, "risky", &StopSignal::new()), Verdict::Approve);
        // Step 4's risky action waits for its own verdict: the stray one is passed over.
        let stop = StopSignal::new();
        let s = stop.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            s.stop();
        });
        assert_eq!(op.confirm(4, &click, "risky", &stop), Verdict::Refuse, "the stray approval approved step 4");
        t.join().unwrap();
        // A late answer to step 5's question does not answer step 6's.
        tx.send(Reply::Answer { step: 5, answer: Some("late".into()) }).unwrap();
        tx.send(Reply::Answer { step: 6, answer: Some("right".into()) }).unwrap();
        assert_eq!(op.ask(6, "?", &StopSignal::new()), Some("right".into()));
    }
}

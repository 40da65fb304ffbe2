//! The person beside the agent: asked to confirm risky actions and to answer the model's
//! questions. Headless runs ask on the terminal; the desktop app asks in its window.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::mpsc;
use std::time::Duration;

use super::StopSignal;
use crate::action::Action;

/// What the person said about an action awaiting confirmation.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Approve,
    Refuse,
    /// Perform this action instead.
    Edit(Action),
}

pub trait Operator: Send {
    fn confirm(&mut self, step: u32, action: &Action, reason: &str, stop: &StopSignal) -> Verdict;
    /// `None`: nobody answered.
    fn ask(&mut self, step: u32, question: &str, stop: &StopSignal) -> Option<String>;
}

/// Refuses everything risky and answers nothing: for unattended runs.
#[derive(Debug, Default)]
pub struct Unattended;

impl Operator for Unattended {
    fn confirm(&mut self, _: u32, _: &Action, _: &str, _: &StopSignal) -> Verdict {
        Verdict::Refuse
    }
    fn ask(&mut self, _: u32, _: &str, _: &StopSignal) -> Option<String> {
        None
    }
}

/// Asks on stderr and reads answers from stdin (a line each). End of input refuses.
///
/// On a terminal, only what is typed after a question answers it: lines typed ahead (a "y"
/// meant for the last question, pressed twice) are dropped when the next question is shown.
/// Piped input is a script's answers, given in order, and is read as it comes.
pub struct TerminalOperator {
    lines: Option<mpsc::Receiver<String>>,
    typed_ahead_is_dropped: bool,
}

impl std::fmt::Debug for TerminalOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TerminalOperator")
    }
}

impl Default for TerminalOperator {
    fn default() -> Self {
        Self::new()
    }
}

impl TerminalOperator {
    pub fn new() -> Self {
        let terminal = std::io::stdin().is_terminal();
        // On a terminal, lines are read from the start, so any typed before a question are
        // known as such when it is asked.
        Self { lines: terminal.then(read_stdin), typed_ahead_is_dropped: terminal }
    }

    /// Stdin is read on its own thread so a stop request is never stuck behind a read.
    fn read_line(&mut self, stop: &StopSignal) -> Option<String> {
        let rx = self.lines.get_or_insert_with(read_stdin);
        if self.typed_ahead_is_dropped && drop_typed_ahead(rx) > 0 {
            let mut err = std::io::stderr();
            let _ = write!(err, "(what was typed before this question is ignored) ");
            let _ = err.flush();
        }
        loop {
            if stop.is_stopped() {
                return None;
            }
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => return Some(line),
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}

fn read_stdin() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Drop the lines that arrived before now; returns how many.
fn drop_typed_ahead(rx: &mpsc::Receiver<String>) -> usize {
    std::iter::from_fn(|| rx.try_recv().ok()).count()
}

impl Operator for TerminalOperator {
    fn confirm(&mut self, step: u32, action: &Action, reason: &str, stop: &StopSignal) -> Verdict {
        let mut err = std::io::stderr();
        let _ = write!(err, "markpilot: step {step} wants to {action} ({reason}). Allow? [y/N] ");
        let _ = err.flush();
        match self.read_line(stop) {
            Some(l) if matches!(l.trim().to_lowercase().as_str(), "y" | "yes" | "예" | "네") => Verdict::Approve,
            Some(_) => Verdict::Refuse,
            None => {
                let _ = writeln!(err, "(no answer: refused)");
                Verdict::Refuse
            }
        }
    }

    fn ask(&mut self, step: u32, question: &str, stop: &StopSignal) -> Option<String> {
        let mut err = std::io::stderr();
        let _ = write!(err, "markpilot: step {step}: the model asks: {question}\n> ");
        let _ = err.flush();
        self.read_line(stop).map(|l| l.trim().to_string()).filter(|l| !l.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_typed_before_the_question_does_not_answer_it() {
        let (tx, rx) = mpsc::channel();
        // "y" pressed for the last question, and once more by accident.
        tx.send("y".to_string()).unwrap();
        tx.send("y".to_string()).unwrap();
        drop(tx);
        let mut op = TerminalOperator { lines: Some(rx), typed_ahead_is_dropped: true };
        let stop = StopSignal::new();
        // Nothing typed after the question: no answer, which refuses.
        assert_eq!(op.read_line(&stop), None);
        assert_eq!(op.confirm(1, &Action::Wait { seconds: 1.0 }, "test", &stop), Verdict::Refuse);

        // A script's piped answers are taken in order.
        let (tx, rx) = mpsc::channel();
        tx.send("y".to_string()).unwrap();
        let mut piped = TerminalOperator { lines: Some(rx), typed_ahead_is_dropped: false };
        assert_eq!(piped.read_line(&stop).as_deref(), Some("y"));
    }
}

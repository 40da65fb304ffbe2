//! The person beside the agent: asked to confirm risky actions and to answer the model's
//! questions. Headless runs ask on the terminal; the desktop app asks in its window.

use std::io::{BufRead, Write};
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
pub struct TerminalOperator {
    lines: Option<mpsc::Receiver<String>>,
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
        Self { lines: None }
    }

    /// Stdin is read on its own thread so a stop request is never stuck behind a read.
    fn read_line(&mut self, stop: &StopSignal) -> Option<String> {
        let rx = self.lines.get_or_insert_with(|| {
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
        });
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

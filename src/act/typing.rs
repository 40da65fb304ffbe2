//! Typing plan: how text is cut into pieces the X server can type reliably.
//!
//! On X11, enigo types a character missing from the keymap (Hangul, uppercase, most symbols)
//! by binding it to a spare keycode. Xvfb has about 18 spares; once they are used up they are
//! all rebound, and a client that has not yet processed the keymap change reads the old
//! characters — text arrives with letters lost or repeated. Typing those characters a few at
//! a time with a short pause between pieces gives every client time to catch up; plain
//! keymap characters (lowercase ASCII, digits, space, unshifted punctuation) need no pause.
//! Newlines and tabs are pressed as Return and Tab.

/// One piece of a typing plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Return,
    Tab,
    /// Milliseconds.
    Pause(u32),
}

/// How text is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypingConfig {
    /// Characters needing a keymap change per piece.
    pub remapped_per_piece: usize,
    /// Pause after a piece with such characters, in milliseconds.
    pub pause_ms: u32,
}

impl Default for TypingConfig {
    fn default() -> Self {
        Self { remapped_per_piece: 2, pause_ms: 20 }
    }
}

/// Characters on a US keymap without Shift: typed without touching the keymap.
fn in_base_keymap(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || " `-=[]\\;',./".contains(c)
}

pub fn plan(text: &str, cfg: &TypingConfig) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut remapped = 0usize;
    let flush = |cur: &mut String, remapped: &mut usize, out: &mut Vec<Piece>| {
        if !cur.is_empty() {
            out.push(Piece::Text(std::mem::take(cur)));
            if *remapped > 0 && cfg.pause_ms > 0 {
                out.push(Piece::Pause(cfg.pause_ms));
            }
        }
        *remapped = 0;
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                flush(&mut cur, &mut remapped, &mut out);
                out.push(Piece::Return);
            }
            '\t' => {
                flush(&mut cur, &mut remapped, &mut out);
                out.push(Piece::Tab);
            }
            c if c.is_control() => {}
            c => {
                if !in_base_keymap(c) {
                    if remapped >= cfg.remapped_per_piece.max(1) {
                        flush(&mut cur, &mut remapped, &mut out);
                    }
                    remapped += 1;
                }
                cur.push(c);
            }
        }
    }
    flush(&mut cur, &mut remapped, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(p: &[Piece]) -> String {
        p.iter()
            .map(|p| match p {
                Piece::Text(t) => t.clone(),
                Piece::Return => "\n".into(),
                Piece::Tab => "\t".into(),
                Piece::Pause(_) => String::new(),
            })
            .collect()
    }

    #[test]
    fn plain_ascii_is_one_piece_without_pauses() {
        assert_eq!(plan("hello world 42.", &TypingConfig::default()), vec![Piece::Text("hello world 42.".into())]);
    }

    #[test]
    fn korean_is_cut_into_paused_pieces_and_nothing_is_lost() {
        let s = "Kim 김민수 안녕하세요, 반갑습니다!";
        let cfg = TypingConfig { remapped_per_piece: 2, pause_ms: 20 };
        let p = plan(s, &cfg);
        assert_eq!(text_of(&p), s);
        for piece in &p {
            if let Piece::Text(t) = piece {
                assert!(t.chars().filter(|c| !in_base_keymap(*c)).count() <= 2, "{t}");
            }
        }
        assert!(p.contains(&Piece::Pause(20)));
    }

    #[test]
    fn newlines_and_tabs_become_keys_and_control_characters_are_dropped() {
        let p = plan("a\tb\r\nc\u{7}", &TypingConfig::default());
        assert_eq!(
            p,
            vec![Piece::Text("a".into()), Piece::Tab, Piece::Text("b".into()), Piece::Return, Piece::Text("c".into())]
        );
    }
}

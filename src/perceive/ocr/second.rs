//! The lines PP-OCR cannot read, read again by the second reader (Tesseract, for Korean):
//! which lines go to it, judged from PP-OCR's own answer and the pixels, and what of its
//! answer is kept.

use image::RgbaImage;

use super::rec::Reading;
use super::tess::Tesseract;
use super::{LineCrop, REC_MARGIN, TextStats, UNSURE, ink_runs, languages, regions};
use crate::geometry::Rect;

/// Read a line again with the second reader when PP-OCR's reading `first` calls for it, and
/// return the reading to keep.
#[allow(clippy::too_many_arguments)]
pub(super) fn read_again(
    second: &mut Tesseract,
    image: &RgbaImage,
    det_box: Rect,
    line: &LineCrop,
    crop: &RgbaImage,
    r: Reading,
    min_confidence: f32,
    stats: &mut TextStats,
) -> Reading {
    if !needs_second_reader(&r) && unread_ink(image, det_box, line.tight, &r).is_empty() {
        return r;
    }
    stats.lines_second += 1;
    let mut other = second.read_line(crop);
    let mut taken = second_reading_wins(&other, min_confidence);
    // An icon before the label ("[house] 홈") can spoil the whole line: read again without it.
    if !taken && let Some(rest) = after_leading_icon(image, det_box, line) {
        let shift = (rest.tight.x - line.tight.x) as f32;
        let mut again = second.read_line(&rest.render(image));
        if second_reading_wins(&again, min_confidence) {
            again.chars.iter_mut().for_each(|c| c.1 += shift);
            (other, taken) = (again, true);
        }
    }
    tracing::trace!(first = %r.text, first_conf = r.confidence, second = %other.text, taken, "second reader");
    if !taken {
        return r;
    }
    stats.lines_second_taken += 1;
    // Latin and digits PP-OCR read with confidence stay its own.
    merged(&r, &other, line.tight)
}

/// PP-OCR's reading is sure enough of itself to be kept without asking the second reader.
const FIRST_SURE: f32 = 0.85;

/// Whether a line PP-OCR read should be read again by the second reader: PP-OCR answers
/// script it has no characters for (Hangul) with Chinese ones, or without confidence. An
/// English line PP-OCR reads well is never read twice.
fn needs_second_reader(first: &Reading) -> bool {
    first.text.chars().any(languages::is_han)
        || first.confidence < FIRST_SURE
        // Hangul read as Latin letters ("아니요" as "OL|R"): some of them unsure, and no
        // word of three letters read with confidence (English lines have those).
        || (first.chars.iter().any(|(c, _, p)| !c.trim().is_empty() && *p < FIRST_SURE) && !has_sure_word(first))
}

/// Whether a reading holds three letters in a row, each read with confidence.
fn has_sure_word(r: &Reading) -> bool {
    let mut run = 0;
    for (c, _, p) in &r.chars {
        if c.chars().all(char::is_alphabetic) && !c.is_empty() && *p >= FIRST_SURE {
            run += 1;
            if run >= 3 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// The stretches (image columns, `(first, last + 1)`) of a line's ink PP-OCR read no
/// character in: glyph-sized runs of inked columns with no character near them are script
/// its dictionary lacks (the Hangul words of "파일 저장 (Ctrl+S)" are skipped silently, the
/// rest read with confidence). An icon beside a read label (taller than the label's ink) is
/// not such a stretch.
fn unread_ink(image: &RgbaImage, det_box: Rect, tight: Rect, first: &Reading) -> Vec<(i32, i32)> {
    if first.chars.iter().any(|(_, x, _)| *x < 0.0) {
        return Vec::new();
    }
    let left = (tight.x - REC_MARGIN) as f32;
    let read: Vec<f32> =
        first.chars.iter().filter(|(c, _, _)| !c.trim().is_empty()).map(|(_, x, _)| left + x).collect();
    let inked = regions::inked_columns(image, det_box, tight);
    let reach = (0.35 * tight.h as f32).max(3.0);
    let unread: Vec<bool> = inked
        .iter()
        .enumerate()
        .map(|(i, &ink)| {
            let x = (tight.x + i as i32) as f32 + 0.5;
            ink && !read.iter().any(|&c| (c - x).abs() <= reach)
        })
        .collect();
    let glyph = 0.5 * tight.h as f32;
    let stretches: Vec<(i32, i32)> =
        ink_runs(&unread, tight.x, 2).into_iter().filter(|(x0, x1)| (x1 - x0) as f32 >= glyph).collect();
    if stretches.is_empty() || read.is_empty() {
        return stretches;
    }
    // The ink PP-OCR did read, for its height.
    let read_height = ink_runs(&inked, tight.x, 1)
        .into_iter()
        .filter(|(x0, x1)| read.iter().any(|&c| c >= *x0 as f32 - reach && c <= *x1 as f32 + reach))
        .filter_map(|(x0, x1)| regions::ink_box(image, det_box, Rect::from_edges(x0, tight.y, x1, tight.bottom())))
        .map(|r| r.h)
        .max()
        .unwrap_or(tight.h);
    let bg = regions::background(image, det_box.clamp_to(image.width(), image.height()));
    let read_colour = ink_colour(image, tight, bg, |x| read.iter().any(|&c| (c - x as f32 - 0.5).abs() <= reach));
    stretches
        .into_iter()
        .filter(|&(x0, x1)| {
            // An icon is squarish and taller than the text (Hangul words stand taller than
            // Latin capitals too, but are wider than tall), or of another colour.
            let shape_ok = regions::ink_box(image, det_box, Rect::from_edges(x0, tight.y, x1, tight.bottom()))
                .is_some_and(|r| {
                    let squarish = (r.w as f32) <= 1.6 * r.h as f32;
                    !(squarish && r.h as f32 > 1.2 * read_height as f32)
                });
            let colour = ink_colour(image, tight, bg, |x| x >= x0 && x < x1);
            let same_colour = match (read_colour, colour) {
                (Some(a), Some(b)) => a.iter().zip(b).all(|(p, q)| (p - q).abs() <= 60.0),
                _ => true,
            };
            shape_ok && same_colour
        })
        .collect()
}

/// The mean colour of the strongest ink (the half farthest from the background) in the
/// columns of `line` that `take` picks.
fn ink_colour(image: &RgbaImage, line: Rect, bg: [u8; 3], take: impl Fn(i32) -> bool) -> Option<[f32; 3]> {
    let line = line.clamp_to(image.width(), image.height());
    let mut ink: Vec<(u32, [u8; 3])> = Vec::new();
    for x in (line.x..line.right()).filter(|&x| take(x)) {
        for y in line.y..line.bottom() {
            let p = image.get_pixel(x as u32, y as u32).0;
            let d: u32 = (0..3).map(|i| p[i].abs_diff(bg[i]) as u32).sum();
            if d > 96 {
                ink.push((d, [p[0], p[1], p[2]]));
            }
        }
    }
    if ink.is_empty() {
        return None;
    }
    ink.sort_by_key(|(d, _)| std::cmp::Reverse(*d));
    let strong = &ink[..ink.len().div_ceil(2)];
    let n = strong.len() as f32;
    let mut sum = [0f32; 3];
    for (_, p) in strong {
        for i in 0..3 {
            sum[i] += p[i] as f32;
        }
    }
    Some(sum.map(|v| v / n))
}

/// The line without its first ink, when that is an icon: a squarish blob as tall as the
/// line, set apart from the rest by a gap.
fn after_leading_icon(image: &RgbaImage, det_box: Rect, line: &LineCrop) -> Option<LineCrop> {
    let t = line.tight;
    let inked = regions::inked_columns(image, det_box, t);
    let runs = ink_runs(&inked, t.x, (0.3 * t.h as f32).ceil() as i32);
    let (&(x0, x1), &(next, _)) = (runs.first()?, runs.get(1)?);
    let icon = regions::ink_box(image, det_box, Rect::from_edges(x0, t.y, x1, t.bottom()))?;
    let squarish = (icon.w as f32) <= 1.4 * icon.h as f32 && (icon.w as f32) >= 0.6 * icon.h as f32;
    if !squarish || (icon.h as f32) < 0.85 * t.h as f32 {
        return None;
    }
    let tight = regions::ink_box(image, det_box, Rect::from_edges(next, t.y, t.right(), t.bottom()))?;
    Some(LineCrop { tight, ..*line })
}

/// The second reader's line with the first's characters where the second read Latin
/// letters, digits or signs and the first read them with confidence (Tesseract's Korean
/// model reads "(C)" as "(c)" and "Ctrl" as "Ctri"; PP-OCR reads those well).
fn merged(first: &Reading, second: &Reading, tight: Rect) -> Reading {
    let reach = 0.35 * tight.h as f32;
    let mut out: Vec<(String, f32, f32)> = Vec::with_capacity(second.chars.len());
    let mut i = 0;
    let chars = &second.chars;
    while i < chars.len() {
        let latin = |c: &str| !c.trim().is_empty() && !c.chars().any(languages::is_hangul);
        if !latin(&chars[i].0) {
            out.push(chars[i].clone());
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && latin(&chars[i].0) {
            i += 1;
        }
        // The stretch reaches a little beyond its characters, at most halfway to the next.
        let (mut x0, mut x1) = (chars[start].1 - reach, chars[i - 1].1 + reach);
        if start > 0 {
            x0 = x0.max((chars[start - 1].1 + chars[start].1) / 2.0);
        }
        if i < chars.len() {
            x1 = x1.min((chars[i - 1].1 + chars[i].1) / 2.0);
        }
        let theirs: Vec<&(String, f32, f32)> =
            first.chars.iter().filter(|(c, x, _)| !c.trim().is_empty() && *x >= x0 && *x <= x1).collect();
        let sure = !theirs.is_empty()
            && theirs.iter().all(|(c, _, _)| !c.chars().any(|ch| languages::is_han(ch) || languages::is_hangul(ch)))
            && theirs.iter().map(|c| c.2).sum::<f32>() / theirs.len() as f32 >= UNSURE;
        if sure {
            out.extend(theirs.into_iter().cloned());
        } else {
            out.extend(chars[start..i].iter().cloned());
        }
    }
    // Full-width brackets and signs (PP-OCR's Chinese dictionary has them) are ASCII on a
    // Korean screen; an access key after a Korean label, "취소(C)", is a capital letter.
    for c in out.iter_mut() {
        if let Some(ch) = c.0.chars().next().filter(|ch| ('\u{FF01}'..='\u{FF5E}').contains(ch))
            && c.0.chars().count() == 1
        {
            c.0 = char::from_u32(ch as u32 - 0xFF01 + 0x21).map(String::from).unwrap_or_default();
        }
    }
    let visible: Vec<usize> = (0..out.len()).filter(|&i| !out[i].0.trim().is_empty()).collect();
    for w in visible.windows(4) {
        let [h, open, key, close] = [w[0], w[1], w[2], w[3]];
        if out[h].0.chars().all(languages::is_hangul_syllable)
            && out[open].0 == "("
            && out[close].0 == ")"
            && out[key].0.chars().all(|c| c.is_ascii_alphabetic())
            && out[key].0.len() == 1
        {
            out[key].0 = out[key].0.to_ascii_uppercase();
        }
    }
    Reading::from_chars(out)
}

/// The second reader's answer is taken when it reads the script PP-OCR cannot (Hangul) and
/// is confident of its Hangul (its Latin letters and digits are PP-OCR's where PP-OCR is
/// sure, [`merged`]): a line neither reads gets PP-OCR's answer, which its own confidence
/// judges.
fn second_reading_wins(second: &Reading, min_confidence: f32) -> bool {
    let hangul: Vec<f32> = second
        .chars
        .iter()
        .filter(|(c, _, _)| c.chars().any(languages::is_hangul_syllable))
        .map(|(_, _, p)| *p)
        .collect();
    !hangul.is_empty() && hangul.iter().sum::<f32>() / hangul.len() as f32 >= min_confidence.max(SECOND_SURE)
}

/// Confidence a second reading needs (Tesseract's symbol confidences, 0–1): Tesseract is
/// sure of itself on icons too (a folder read as "별" at 0.95), and reads screen text at
/// 0.98 and more.
const SECOND_SURE: f32 = 0.975;

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(chars: &[(&str, f32, f32)]) -> Reading {
        Reading::from_chars(chars.iter().map(|(c, x, p)| (c.to_string(), *x, *p)))
    }

    #[test]
    fn english_lines_read_with_confidence_are_not_read_twice_and_garbled_ones_are() {
        let sure = reading(&[("S", 4.0, 0.99), ("a", 10.0, 0.99), ("v", 16.0, 0.99), ("e", 22.0, 0.7)]);
        assert!(!needs_second_reader(&sure), "one unsure letter in a sure word");
        // "아니요(N)" as PP-OCR reads it: letters, none of them a sure word.
        let garbled = reading(&[("O", 4.0, 0.9), ("L", 10.0, 0.6), ("|", 14.0, 0.5), ("R", 18.0, 0.8)]);
        assert!(needs_second_reader(&garbled));
        assert!(needs_second_reader(&reading(&[("喜", 6.0, 0.96)])), "Chinese for Hangul");
    }

    #[test]
    fn the_second_reading_keeps_its_hangul_and_takes_the_sure_latin_of_the_first() {
        let tight = Rect::new(4, 0, 80, 14);
        // Tesseract: "취소(0)"; PP-OCR: "(C)" with confidence at the same place.
        let second =
            reading(&[("취", 10.0, 0.99), ("소", 22.0, 0.99), ("(", 31.0, 1.0), ("0", 37.0, 0.93), (")", 43.0, 0.97)]);
        let first = reading(&[("(", 30.0, 0.9), ("c", 38.0, 0.8), (")", 45.0, 0.9)]);
        assert!(second_reading_wins(&second, 0.5));
        assert_eq!(merged(&first, &second, tight).text, "취소(C)", "PP-OCR's letter, a capital access key");
        // Nothing sure from PP-OCR there: Tesseract's own.
        let unsure = reading(&[("(", 30.0, 0.3), ("c", 38.0, 0.3), (")", 45.0, 0.3)]);
        assert_eq!(merged(&unsure, &second, tight).text, "취소(0)");
        // Full-width signs become ASCII.
        let wide = reading(&[
            ("저", 10.0, 0.99),
            ("장", 22.0, 0.99),
            ("（", 31.0, 0.99),
            ("S", 37.0, 0.99),
            ("）", 43.0, 0.99),
        ]);
        assert_eq!(merged(&Reading::default(), &wide, tight).text, "저장(S)");
    }

    #[test]
    fn icons_read_as_hangul_or_lone_jamo_are_not_taken() {
        // A folder icon Tesseract reads as "별" at 0.95, and a lone jamo.
        assert!(!second_reading_wins(&reading(&[("별", 8.0, 0.95)]), 0.5));
        assert!(!second_reading_wins(&reading(&[("ㅁ", 8.0, 0.99)]), 0.5));
        assert!(!second_reading_wins(&reading(&[("O", 8.0, 0.99), ("g", 14.0, 0.99)]), 0.5));
        assert!(second_reading_wins(&reading(&[("홈", 8.0, 0.99)]), 0.5));
    }
}

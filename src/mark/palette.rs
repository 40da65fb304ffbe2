//! Colours: the Okabe–Ito palette (safe for the common colour-vision deficiencies) and
//! WCAG contrast to pick black or white text on a badge.

pub type Rgb = [u8; 3];

/// Okabe–Ito, without black (invisible on dark themes). Ordered so neighbours in reading
/// order get clearly different hues.
pub const PALETTE: [Rgb; 7] = [
    [0xD5, 0x5E, 0x00], // vermillion
    [0x00, 0x72, 0xB2], // blue
    [0x00, 0x9E, 0x73], // bluish green
    [0xCC, 0x79, 0xA7], // reddish purple
    [0xE6, 0x9F, 0x00], // orange
    [0x56, 0xB4, 0xE9], // sky blue
    [0xF0, 0xE4, 0x42], // yellow
];

pub const BLACK: Rgb = [0, 0, 0];
pub const WHITE: Rgb = [255, 255, 255];

fn channel(c: u8) -> f64 {
    let c = c as f64 / 255.0;
    if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
}

/// WCAG relative luminance.
pub fn luminance(c: Rgb) -> f64 {
    0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2])
}

/// WCAG contrast ratio (1..21).
pub fn contrast(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// Black or white, whichever contrasts more with `bg`.
pub fn text_on(bg: Rgb) -> Rgb {
    if contrast(bg, BLACK) >= contrast(bg, WHITE) { BLACK } else { WHITE }
}

/// The colour of mark `id` (1-based).
pub fn color_for(id: u32) -> Rgb {
    PALETTE[(id.saturating_sub(1) as usize) % PALETTE.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_badge_colour_has_text_with_at_least_4_5_to_1_contrast() {
        for c in PALETTE {
            let t = text_on(c);
            assert!(contrast(c, t) >= 4.5, "{c:?} with {t:?}: {}", contrast(c, t));
        }
    }

    #[test]
    fn contrast_matches_the_wcag_extremes() {
        assert!((contrast(BLACK, WHITE) - 21.0).abs() < 1e-9);
        assert!((contrast(WHITE, WHITE) - 1.0).abs() < 1e-9);
        assert_eq!(text_on([0x00, 0x72, 0xB2]), WHITE);
        assert_eq!(text_on([0xF0, 0xE4, 0x42]), BLACK);
    }

    #[test]
    fn neighbouring_ids_get_different_colours() {
        for id in 1..50 {
            assert_ne!(color_for(id), color_for(id + 1));
        }
    }
}

//! Digits drawn from strokes: no font files, sharp at any size.
//!
//! Each digit is a few polylines in a 6×10 design box (y down). Rendering measures each
//! pixel's distance to the strokes and turns it into anti-aliased coverage. Rendered
//! glyphs are cached per size, so drawing a hundred badges costs a hundred blits.

use std::f32::consts::PI;

const DESIGN_W: f32 = 6.0;
const DESIGN_H: f32 = 10.0;
/// Stroke width in design units (bold).
const STROKE: f32 = 1.25;
/// Horizontal advance between digits, in design units.
const ADVANCE: f32 = 6.7;

type Poly = Vec<(f32, f32)>;

fn arc(cx: f32, cy: f32, rx: f32, ry: f32, from_deg: f32, to_deg: f32) -> Poly {
    let steps = (((to_deg - from_deg).abs() / 12.0).ceil() as usize).max(2);
    (0..=steps)
        .map(|i| {
            let t = (from_deg + (to_deg - from_deg) * i as f32 / steps as f32) * PI / 180.0;
            (cx + rx * t.cos(), cy + ry * t.sin())
        })
        .collect()
}

fn digit_strokes(d: u8) -> Vec<Poly> {
    match d {
        0 => vec![arc(3.0, 5.0, 2.3, 4.1, 0.0, 360.0)],
        1 => vec![vec![(1.4, 2.4), (3.3, 0.9), (3.3, 9.1)], vec![(1.4, 9.1), (5.2, 9.1)]],
        2 => {
            let mut p = arc(3.0, 3.1, 2.2, 2.2, 200.0, 385.0);
            p.extend([(0.8, 9.1), (5.3, 9.1)]);
            vec![p]
        }
        3 => {
            let mut p = arc(3.0, 2.85, 2.0, 1.95, 205.0, 450.0);
            p.extend(arc(3.0, 7.0, 2.25, 2.2, 270.0, 515.0));
            vec![p]
        }
        4 => vec![vec![(4.1, 9.1), (4.1, 0.9), (0.7, 6.6), (5.4, 6.6)]],
        5 => {
            let mut p = vec![(5.0, 0.9), (1.5, 0.9), (1.15, 4.85)];
            p.extend(arc(2.9, 6.7, 2.45, 2.4, 225.0, 505.0));
            vec![p]
        }
        6 => vec![arc(3.0, 6.85, 2.25, 2.25, 0.0, 360.0), arc(5.4, 6.85, 4.6, 6.0, 180.0, 258.0)],
        7 => vec![vec![(0.7, 0.9), (5.3, 0.9), (2.3, 9.1)]],
        8 => vec![arc(3.0, 2.8, 1.95, 1.9, 0.0, 360.0), arc(3.0, 7.05, 2.3, 2.15, 0.0, 360.0)],
        9 => digit_strokes(6)
            .into_iter()
            .map(|poly| poly.into_iter().map(|(x, y)| (DESIGN_W - x, DESIGN_H - y)).collect())
            .collect(),
        _ => Vec::new(),
    }
}

fn dist_to_segment(px: f32, py: f32, a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 { 0.0 } else { (((px - a.0) * dx + (py - a.1) * dy) / len2).clamp(0.0, 1.0) };
    let (qx, qy) = (a.0 + t * dx, a.1 + t * dy);
    ((px - qx).powi(2) + (py - qy).powi(2)).sqrt()
}

/// A rendered glyph: coverage 0..=255, `width`×`height`.
#[derive(Debug, Clone)]
pub struct Glyph {
    pub width: u32,
    pub height: u32,
    pub coverage: Vec<u8>,
}

/// Digits rendered at one height.
#[derive(Debug, Clone)]
pub struct DigitFont {
    pub height: u32,
    glyphs: Vec<Glyph>,
    advance: u32,
}

impl DigitFont {
    /// Render the ten digits `height` pixels tall.
    pub fn new(height: u32) -> Self {
        let height = height.max(5);
        let s = height as f32 / DESIGN_H;
        let width = (DESIGN_W * s).ceil() as u32 + 1;
        let half = (STROKE * s).max(1.2) / 2.0;
        let glyphs = (0..10u8)
            .map(|d| {
                let segs: Vec<((f32, f32), (f32, f32))> = digit_strokes(d)
                    .iter()
                    .flat_map(|poly| {
                        poly.windows(2)
                            .map(|w| ((w[0].0 * s, w[0].1 * s), (w[1].0 * s, w[1].1 * s)))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                let mut coverage = vec![0u8; (width * height) as usize];
                for y in 0..height {
                    for x in 0..width {
                        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                        let d = segs.iter().map(|&(a, b)| dist_to_segment(px, py, a, b)).fold(f32::MAX, f32::min);
                        let c = (half + 0.5 - d).clamp(0.0, 1.0);
                        coverage[(y * width + x) as usize] = (c * 255.0).round() as u8;
                    }
                }
                Glyph { width, height, coverage }
            })
            .collect();
        Self { height, glyphs, advance: (ADVANCE * s).round() as u32 }
    }

    pub fn glyph(&self, digit: u8) -> &Glyph {
        &self.glyphs[digit.min(9) as usize]
    }

    /// Width of a number's digits laid side by side.
    pub fn text_width(&self, n: u32) -> u32 {
        let digits = n.to_string().len() as u32;
        self.advance * (digits - 1) + self.glyphs[0].width
    }

    pub fn advance(&self) -> u32 {
        self.advance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ink(g: &Glyph) -> u32 {
        g.coverage.iter().filter(|&&c| c > 128).count() as u32
    }

    #[test]
    fn every_digit_has_ink_and_they_all_differ() {
        let f = DigitFont::new(18);
        let all: Vec<&Glyph> = (0..10).map(|d| f.glyph(d)).collect();
        for (d, g) in all.iter().enumerate() {
            assert!(ink(g) > 20, "digit {d} is nearly empty");
            assert_eq!(g.height, 18);
        }
        for a in 0..10 {
            for b in a + 1..10 {
                let diff = all[a].coverage.iter().zip(&all[b].coverage).filter(|(x, y)| x.abs_diff(**y) > 128).count();
                assert!(diff > 10, "digits {a} and {b} look alike");
            }
        }
    }

    #[test]
    fn glyphs_stay_inside_their_box_and_scale_with_height() {
        let small = DigitFont::new(12);
        let big = DigitFont::new(36);
        assert!(ink(big.glyph(8)) > 4 * ink(small.glyph(8)));
        assert_eq!(small.text_width(7), small.glyph(0).width);
        assert!(small.text_width(123) > 2 * small.advance());
    }
}

//! mark: [`Scene`] → annotated image with numbered marks.
//!
//! Boxes in the Okabe–Ito palette, number badges placed so they cover no other element
//! where a free spot exists ([`placement`]), badge text black or white by WCAG contrast
//! ([`palette`]), and digits drawn from strokes ([`font`]) sized so a number stays at
//! least [`MarkOptions::min_digit_px`] tall after the image is downscaled to
//! [`MarkOptions::reference_width`] (what a VLM typically sees).

pub mod font;
pub mod palette;
pub mod placement;

use std::str::FromStr;

use image::{Rgba, RgbaImage};
use serde::{Deserialize, Serialize};

use crate::geometry::Rect;
use crate::perceive::{Element, Scene};
use font::DigitFont;
use palette::Rgb;

/// How marks look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkStyle {
    /// Box outline + number badge.
    #[default]
    Box,
    /// Number badge only.
    Number,
    /// Translucent mask + outline + number (elements without a mask get a box).
    Mask,
}

impl FromStr for MarkStyle {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "box" => Ok(MarkStyle::Box),
            "number" => Ok(MarkStyle::Number),
            "mask" => Ok(MarkStyle::Mask),
            other => Err(format!("unknown mark style {other:?} (expected box, number or mask)")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MarkOptions {
    pub style: MarkStyle,
    /// Width the image is expected to be shown at (downscaled) to a VLM.
    pub reference_width: u32,
    /// Smallest digit height, in pixels, at that width.
    pub min_digit_px: u32,
    /// Where no badge of that size finds a free spot, a smaller one is tried: its digit
    /// height at that width (still legible: 9 px is what a model reads reliably).
    pub crowded_digit_px: u32,
    /// Mask fill opacity (mask style).
    pub mask_alpha: f32,
}

impl Default for MarkOptions {
    fn default() -> Self {
        Self { style: MarkStyle::Box, reference_width: 1280, min_digit_px: 12, crowded_digit_px: 9, mask_alpha: 0.3 }
    }
}

/// Sizes derived from the image size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarkMetrics {
    pub digit_px: u32,
    pub pad_x: u32,
    pub pad_y: u32,
    pub stroke: u32,
}

impl MarkMetrics {
    pub fn for_image(width: u32, opts: &MarkOptions) -> Self {
        let ratio = (width as f64 / opts.reference_width.max(1) as f64).max(1.0);
        // One pixel of margin so rounding in the downscale cannot take it below the floor.
        let digit_px = (opts.min_digit_px as f64 * ratio).ceil() as u32 + 1;
        Self {
            digit_px,
            pad_x: (digit_px as f64 * 0.18).round().max(2.0) as u32,
            pad_y: (digit_px as f64 * 0.12).round().max(2.0) as u32,
            stroke: (ratio * 1.5).round().clamp(1.0, 4.0) as u32,
        }
    }

    pub fn badge_size(&self, font: &DigitFont, id: u32) -> (u32, u32) {
        (font.text_width(id) + 2 * self.pad_x, self.digit_px + 2 * self.pad_y)
    }
}

/// Where each mark went (for reports and for checking placement).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlacedMark {
    pub id: u32,
    pub badge: Rect,
    pub color: Rgb,
    /// The badge's digit height in the image's pixels.
    pub digit_px: u32,
}

/// Draw the scene's marks on a copy of `image`.
pub fn render(image: &RgbaImage, scene: &Scene, opts: &MarkOptions) -> (RgbaImage, Vec<PlacedMark>) {
    let mut out = image.clone();
    let placed = render_into(&mut out, &scene.elements, opts);
    (out, placed)
}

/// Draw marks for `elements` onto `out` in place.
pub fn render_into(out: &mut RgbaImage, elements: &[Element], opts: &MarkOptions) -> Vec<PlacedMark> {
    let w = out.width();
    let metrics = MarkMetrics::for_image(w, opts);
    let font = DigitFont::new(metrics.digit_px);
    // Badges that find no free spot at full size try a smaller one.
    let crowded = MarkOptions { min_digit_px: opts.crowded_digit_px.clamp(1, opts.min_digit_px.max(1)), ..*opts };
    let small_metrics = MarkMetrics::for_image(w, &crowded);
    let small_font = DigitFont::new(small_metrics.digit_px);
    let styles = [(&metrics, &font), (&small_metrics, &small_font)];

    let rects: Vec<Rect> = elements.iter().map(|e| e.bbox).collect();
    let sizes: Vec<Vec<(u32, u32)>> =
        styles.iter().map(|(m, f)| elements.iter().map(|e| m.badge_size(f, e.id)).collect()).collect();
    let sizes: Vec<&[(u32, u32)]> = if small_metrics.digit_px < metrics.digit_px {
        sizes.iter().map(Vec::as_slice).collect()
    } else {
        vec![sizes[0].as_slice()]
    };
    let spots = placement::place_fitting(&rects, &sizes, out);

    // Large elements first, so small ones end on top.
    let mut order: Vec<usize> = (0..elements.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(elements[i].bbox.area()), elements[i].id));

    for &i in &order {
        let e = &elements[i];
        let color = palette::color_for(e.id);
        match opts.style {
            MarkStyle::Number => {}
            MarkStyle::Box => outline(out, &e.bbox, color, metrics.stroke),
            MarkStyle::Mask => match &e.mask {
                Some(mask) => fill_mask(out, mask, color, opts.mask_alpha),
                None => outline(out, &e.bbox, color, metrics.stroke),
            },
        }
    }
    let mut placed = Vec::with_capacity(elements.len());
    for &i in &order {
        let e = &elements[i];
        let color = palette::color_for(e.id);
        let (spot, size) = spots[i];
        let (m, f) = styles[size];
        badge(out, &spot, e.id, color, f, m);
        placed.push(PlacedMark { id: e.id, badge: spot, color, digit_px: m.digit_px });
    }
    placed.sort_by_key(|p| p.id);
    placed
}

fn put(out: &mut RgbaImage, x: i32, y: i32, c: Rgb, alpha: f32) {
    if x < 0 || y < 0 || x >= out.width() as i32 || y >= out.height() as i32 {
        return;
    }
    let p = out.get_pixel_mut(x as u32, y as u32);
    if alpha >= 1.0 {
        *p = Rgba([c[0], c[1], c[2], 255]);
        return;
    }
    for (dst, src) in p.0.iter_mut().zip(c) {
        *dst = (*dst as f32 * (1.0 - alpha) + src as f32 * alpha).round() as u8;
    }
}

fn fill_rect(out: &mut RgbaImage, r: &Rect, c: Rgb) {
    let r = r.clamp_to(out.width(), out.height());
    for y in r.y..r.bottom() {
        for x in r.x..r.right() {
            out.put_pixel(x as u32, y as u32, Rgba([c[0], c[1], c[2], 255]));
        }
    }
}

/// A box outline `stroke` pixels thick, drawn just outside the element so it hides none
/// of it (inside when the image edge leaves no room).
fn outline(out: &mut RgbaImage, r: &Rect, c: Rgb, stroke: u32) {
    let s = stroke as i32;
    let (w, h) = (out.width() as i32, out.height() as i32);
    let o = Rect::from_edges((r.x - s).max(0), (r.y - s).max(0), (r.right() + s).min(w), (r.bottom() + s).min(h));
    let inner = Rect::from_edges(o.x + s, o.y + s, o.right() - s, o.bottom() - s);
    fill_rect(out, &Rect::from_edges(o.x, o.y, o.right(), inner.y), c);
    fill_rect(out, &Rect::from_edges(o.x, inner.bottom(), o.right(), o.bottom()), c);
    fill_rect(out, &Rect::from_edges(o.x, inner.y, inner.x, inner.bottom()), c);
    fill_rect(out, &Rect::from_edges(inner.right(), inner.y, o.right(), inner.bottom()), c);
}

fn fill_mask(out: &mut RgbaImage, mask: &crate::perceive::Mask, c: Rgb, alpha: f32) {
    let b = mask.bbox;
    for y in b.y..b.bottom() {
        for x in b.x..b.right() {
            if !mask.get(x, y) {
                continue;
            }
            let edge = !mask.get(x - 1, y) || !mask.get(x + 1, y) || !mask.get(x, y - 1) || !mask.get(x, y + 1);
            put(out, x, y, c, if edge { 1.0 } else { alpha });
        }
    }
}

fn badge(out: &mut RgbaImage, spot: &Rect, id: u32, color: Rgb, font: &DigitFont, m: &MarkMetrics) {
    let text = palette::text_on(color);
    fill_rect(out, spot, color);
    // A hairline in the text colour keeps the badge distinct from a same-coloured background.
    outline_inside(out, spot, text, 0.35);
    let mut x = spot.x + m.pad_x as i32;
    let y = spot.y + m.pad_y as i32;
    for ch in id.to_string().bytes() {
        let g = font.glyph(ch - b'0');
        for gy in 0..g.height {
            for gx in 0..g.width {
                let cov = g.coverage[(gy * g.width + gx) as usize];
                if cov > 0 {
                    put(out, x + gx as i32, y + gy as i32, text, cov as f32 / 255.0);
                }
            }
        }
        x += font.advance() as i32;
    }
}

fn outline_inside(out: &mut RgbaImage, r: &Rect, c: Rgb, alpha: f32) {
    for x in r.x..r.right() {
        put(out, x, r.y, c, alpha);
        put(out, x, r.bottom() - 1, c, alpha);
    }
    for y in r.y + 1..r.bottom() - 1 {
        put(out, r.x, y, c, alpha);
        put(out, r.right() - 1, y, c, alpha);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perceive::ElementKind;

    fn el(id: u32, r: Rect) -> Element {
        Element {
            id,
            bbox: r,
            kind: ElementKind::Button,
            text: None,
            score: 0.9,
            source: "t".into(),
            mask: None,
            states: Vec::new(),
            path: None,
        }
    }

    #[test]
    fn digits_stay_at_least_12_px_after_downscaling_to_1280_wide() {
        for width in [640u32, 1280, 1366, 1920, 2560, 3840, 5120] {
            let m = MarkMetrics::for_image(width, &MarkOptions::default());
            let shown = m.digit_px as f64 * (1280.0 / width as f64).min(1.0);
            assert!(shown >= 12.0, "{width}: {shown}");
        }
    }

    #[test]
    fn rendering_draws_boxes_and_badges_without_touching_the_source() {
        let img = RgbaImage::from_pixel(300, 200, Rgba([240, 240, 240, 255]));
        let scene = Scene {
            width: 300,
            height: 200,
            elements: vec![el(1, Rect::new(50, 60, 80, 30)), el(12, Rect::new(160, 60, 80, 30))],
        };
        let (marked, placed) = render(&img, &scene, &MarkOptions::default());
        assert_eq!(placed.len(), 2);
        assert_ne!(marked, img);
        // The element's own pixels stay visible: the outline is drawn outside the box.
        assert_eq!(marked.get_pixel(90, 75), img.get_pixel(90, 75));
        // The badge carries the mark colour.
        let b = placed[0].badge;
        assert_eq!(&marked.get_pixel(b.x as u32 + 1, b.y as u32 + 1).0[..3], &palette::color_for(1)[..]);
    }

    #[test]
    fn number_style_draws_no_box() {
        let img = RgbaImage::from_pixel(300, 200, Rgba([240, 240, 240, 255]));
        let scene = Scene { width: 300, height: 200, elements: vec![el(1, Rect::new(150, 120, 80, 30))] };
        let opts = MarkOptions { style: MarkStyle::Number, ..Default::default() };
        let (marked, _) = render(&img, &scene, &opts);
        // Bottom edge of the box area is untouched.
        assert_eq!(marked.get_pixel(190, 150), img.get_pixel(190, 150));
    }

    #[test]
    fn mask_style_tints_the_mask() {
        let img = RgbaImage::from_pixel(100, 100, Rgba([255, 255, 255, 255]));
        let mut e = el(1, Rect::new(40, 40, 20, 20));
        e.mask = Some(crate::perceive::Mask { bbox: e.bbox, bits: vec![true; 400] });
        let scene = Scene { width: 100, height: 100, elements: vec![e] };
        let opts = MarkOptions { style: MarkStyle::Mask, ..Default::default() };
        let (marked, _) = render(&img, &scene, &opts);
        let p = marked.get_pixel(50, 55).0;
        assert!(p[0] < 255 || p[1] < 255 || p[2] < 255, "tinted: {p:?}");
    }
}

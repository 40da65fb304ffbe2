//! The built-in, model-free GUI element detector.
//!
//! 1. [`edges`]: every pixel is flat, ink (short edges: glyphs, icons) or line (long
//!    straight edges: borders, separators).
//! 2. Flat pixels split into regions bounded by edges. A region of control size that fills
//!    its box and touches all four sides of it is a control candidate (button face, entry,
//!    check box, selected row, tab, ...).
//! 3. Ink pixels form blobs, grouped into words and lines ([`text`]); a squarish lone blob
//!    is an icon.
//! 4. Structure: a candidate holding several items is a container (a list, a frame, a tab
//!    strip) and gives way to its items; of nested candidates the tighter one stays; a line
//!    inside a control is that control's content; a check box takes the label beside it.

mod controls;
pub mod edges;
mod joins;
mod links;
pub mod rows;
mod symbols;
pub mod text;
mod tiles;

use image::RgbaImage;
use serde::{Deserialize, Serialize};

use super::components::{Connectivity, label};
use super::{Detector, ImageInfo, PerceiveError, Proposal};
use crate::geometry::Rect;

/// Tunables of the built-in detector. The defaults suit ordinary desktop GUIs at 1× to 2×.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BuiltinConfig {
    /// Smallest channel difference between neighbours that counts as an edge.
    pub edge_threshold: u8,
    /// Edge threshold as a fraction of the brighter pixel's brightness (so dark themes,
    /// whose borders differ by little, still have edges).
    pub edge_relative: f32,
    /// Largest edge threshold, however bright the pixels (a white field's light bevel,
    /// #e6e6e6, differs from it by 25).
    pub edge_max: u8,
    /// Horizontal edge runs at least this long are lines (borders), not ink.
    pub line_min_h: u32,
    /// Vertical edge runs at least this long are lines.
    pub line_min_v: u32,
    /// Smallest control side, in pixels.
    pub min_control: u32,
    /// Largest control, as a fraction of the image's width and height (a maximised
    /// editor's page of text is nearly all of it).
    pub max_control_frac: f32,
    /// Largest gap inside a line of text, per unit of line height.
    pub word_gap: f32,
}

impl Default for BuiltinConfig {
    fn default() -> Self {
        Self {
            edge_threshold: 10,
            edge_relative: 0.1,
            edge_max: 24,
            line_min_h: 28,
            line_min_v: 22,
            min_control: 8,
            max_control_frac: 0.99,
            word_gap: 0.75,
        }
    }
}

/// The built-in detector (source name `builtin`).
#[derive(Debug, Clone, Default)]
pub struct BuiltinDetector {
    pub config: BuiltinConfig,
}

pub const SOURCE: &str = "builtin";

impl BuiltinDetector {
    pub fn new(config: BuiltinConfig) -> Self {
        Self { config }
    }
}

impl Detector for BuiltinDetector {
    fn name(&self) -> &str {
        SOURCE
    }

    fn detect(&mut self, image: &RgbaImage, info: &ImageInfo) -> Result<Vec<Proposal>, PerceiveError> {
        let (w, h) = image.dimensions();
        if w == 0 || h == 0 {
            return Err(PerceiveError::EmptyImage { width: w, height: h });
        }
        Ok(detect_at_scale(image, info.scale, &self.config))
    }
}

/// Detect on a screen drawn at `scale` (HiDPI): the image is brought to 100 % first, so
/// every size the detector knows (border lengths, glyph heights, control sizes) holds, and
/// the boxes are scaled back. Also four times less work at 200 %.
pub fn detect_at_scale(image: &RgbaImage, scale: f64, cfg: &BuiltinConfig) -> Vec<Proposal> {
    if !(scale.is_finite() && scale > 1.2) {
        return detect(image, cfg);
    }
    let (w, h) = image.dimensions();
    let (sw, sh) = (((w as f64 / scale).round() as u32).max(1), ((h as f64 / scale).round() as u32).max(1));
    let small = area_downscale(image, sw, sh);
    let (fx, fy) = (w as f64 / sw as f64, h as f64 / sh as f64);
    detect(&small, cfg)
        .into_iter()
        .map(|mut p| {
            let x0 = (p.bbox.x as f64 * fx).floor() as i32;
            let y0 = (p.bbox.y as f64 * fy).floor() as i32;
            let x1 = ((p.bbox.right() as f64 * fx).ceil() as i32).min(w as i32);
            let y1 = ((p.bbox.bottom() as f64 * fy).ceil() as i32).min(h as i32);
            p.bbox = Rect::from_edges(x0, y0, x1, y1);
            p
        })
        .collect()
}

/// The scale a screen was most likely drawn at, 1 or 2, from the size of its letters: for
/// an image whose screen is unknown (a file). Letters inside words (a close neighbour on
/// each side) are at most about 14 pixels tall at 100 % (the first quartile of their
/// heights: mostly lower-case letters, whatever the toolkit or page); a screen at 200 %
/// draws them twice as tall. Too few letters to tell: 1.
pub fn estimate_scale(image: &RgbaImage, cfg: &BuiltinConfig) -> f64 {
    if glyph_height(image, cfg) >= 15.5 { 2.0 } else { 1.0 }
}

/// The first quartile of the heights of the letters inside an image's words (0 when it
/// has too few): ink blobs of letter shape with a neighbour of similar height close on
/// each side on the same baseline (a row of icons is spaced wider).
pub fn glyph_height(image: &RgbaImage, cfg: &BuiltinConfig) -> f64 {
    let (w, h) = image.dimensions();
    let table = edges::thresholds(cfg.edge_threshold, cfg.edge_relative, cfg.edge_max);
    let mask = edges::classify(image.as_raw(), w, h, &table, cfg.line_min_h * 2, cfg.line_min_v * 2);
    let ink = label(&mask, w, h, edges::INK, Connectivity::Eight);
    let mut glyphs: Vec<Rect> = ink
        .comps
        .iter()
        .filter(|c| {
            let (cw, ch) = (c.width(), c.height());
            (6..=80).contains(&ch) && cw * 5 >= ch && cw <= ch * 3 / 2 && c.count >= 6
        })
        .map(|c| c.rect())
        .collect();
    glyphs.sort_by_key(|r| (r.bottom(), r.x));
    let mut heights = Vec::new();
    for (i, g) in glyphs.iter().enumerate() {
        // Neighbours on the same baseline: within a few rows of bottom, so near in the order.
        let lo = glyphs[..i].partition_point(|r| r.bottom() < g.bottom() - 2);
        let near = |r: &&Rect| *r != g && r.h * 2 >= g.h && g.h * 2 >= r.h && r.gap_x(g) <= g.h as i32 * 2 / 5 + 1;
        let mates = glyphs[lo..].iter().take_while(|r| r.bottom() <= g.bottom() + 2).filter(near);
        // Letters inside a word: a neighbour close on each side (a row of icons is spaced).
        let (mut left, mut right) = (false, false);
        for r in mates {
            left |= r.x < g.x;
            right |= r.x > g.x;
        }
        if left && right {
            heights.push(g.h);
        }
    }
    if heights.len() < 12 {
        return 0.0;
    }
    heights.sort_unstable();
    heights[heights.len() / 4] as f64
}

/// Run the whole detector on one image.
pub fn detect(image: &RgbaImage, cfg: &BuiltinConfig) -> Vec<Proposal> {
    let (w, h) = image.dimensions();
    let table = edges::thresholds(cfg.edge_threshold, cfg.edge_relative, cfg.edge_max);
    let mask = edges::classify(image.as_raw(), w, h, &table, cfg.line_min_h, cfg.line_min_v);

    let regions = label(&mask, w, h, edges::FLAT, Connectivity::Four);
    let candidates = controls::candidates(image, &regions, cfg);

    let ink = label(&mask, w, h, edges::INK, Connectivity::Eight);
    let max_blob_h = (h / 8).clamp(24, 96);
    let blobs: Vec<(Rect, u8)> = ink
        .comps
        .iter()
        .filter(|c| c.height() <= max_blob_h && c.width() <= w / 3 && c.count >= 2)
        .map(|c| (c.rect(), tint(image, &c.rect())))
        .collect();
    let lines = text::group(blobs, text::Grouping { gap_per_height: cfg.word_gap, min_gap: 3 });
    // Cells of a table are never lines of one paragraph, however close the rows.
    let cells: Vec<usize> = (0..lines.len()).filter(|&i| !lines[i].is_tinted()).collect();
    let table_cells: Vec<rows::Cell> = cells
        .iter()
        .map(|&i| rows::Cell {
            rect: lines[i].bbox,
            bg: background(image, &lines[i].bbox),
            icon: lines[i].looks_like_icon(),
        })
        .collect();
    let others: Vec<Rect> = lines.iter().filter(|l| l.is_tinted()).map(|l| l.bbox).collect();
    let mut in_table = vec![false; lines.len()];
    let cell_boxes: Vec<Rect> = table_cells.iter().map(|c| c.rect).collect();
    for t in rows::tables(&table_cells, &others) {
        if controls::split_by_rule(&mask, w, &t, &cell_boxes) {
            continue;
        }
        for r in &t.rows {
            for &i in &r.items {
                in_table[cells[i]] = true;
            }
        }
    }
    let mut cells = Vec::new();
    let mut prose = Vec::new();
    for (mut l, t) in lines.into_iter().zip(in_table) {
        if t {
            l.cell = true;
            cells.push(l)
        } else {
            prose.push(l)
        }
    }
    let mut lines = text::paragraphs(prose);
    lines.extend(cells);
    lines.sort_by_key(|l| (l.bbox.y, l.bbox.x, l.bbox.w, l.bbox.h));

    controls::assemble(image, &mask, candidates, lines)
}

/// The colour around a box: the median of eight pixels just outside it.
pub fn background(image: &RgbaImage, r: &Rect) -> [u8; 3] {
    let (w, h) = (image.width() as i32, image.height() as i32);
    let px = |x: i32, y: i32| image.get_pixel(x.clamp(0, w - 1) as u32, y.clamp(0, h - 1) as u32).0;
    let ring = [
        px(r.x - 1, r.y - 1),
        px(r.right(), r.y - 1),
        px(r.x - 1, r.bottom()),
        px(r.right(), r.bottom()),
        px(r.x + r.w as i32 / 2, r.y - 1),
        px(r.x + r.w as i32 / 2, r.bottom()),
        px(r.x - 1, r.y + r.h as i32 / 2),
        px(r.right(), r.y + r.h as i32 / 2),
    ];
    std::array::from_fn(|k| {
        let mut v: Vec<u8> = ring.iter().map(|p| p[k]).collect();
        v.sort_unstable();
        ((v[3] as u16 + v[4] as u16) / 2) as u8
    })
}

/// The tint of a blob's ink: 0 when neutral (black, grey, white: body text), else its hue
/// in six classes (1..=6: links are drawn in a colour). The ink is the blob's pixel that
/// stands out most from the colour around the blob.
pub fn tint(image: &RgbaImage, r: &Rect) -> u8 {
    if r.area() < 20 || r.h < 5 {
        return text::ANY_TINT;
    }
    let bg = background(image, r).map(|v| v as i32);
    let mut best = (0, [0i32; 3]);
    for y in r.y..r.bottom() {
        for x in r.x..r.right() {
            let p = image.get_pixel(x as u32, y as u32).0;
            let c = [p[0] as i32, p[1] as i32, p[2] as i32];
            let d = (c[0] - bg[0]).abs() + (c[1] - bg[1]).abs() + (c[2] - bg[2]).abs();
            if d > best.0 {
                best = (d, c);
            }
        }
    }
    let c = best.1;
    let (hi, lo) = (c[0].max(c[1]).max(c[2]), c[0].min(c[1]).min(c[2]));
    if best.0 < 60 || hi - lo < 64 {
        return 0;
    }
    let chroma = (hi - lo) as f32;
    let (r_, g, b) = (c[0] as f32, c[1] as f32, c[2] as f32);
    let hue = if hi == c[0] {
        ((g - b) / chroma).rem_euclid(6.0)
    } else if hi == c[1] {
        (b - r_) / chroma + 2.0
    } else {
        (r_ - g) / chroma + 4.0
    };
    1 + (hue.floor() as u8).min(5)
}

/// Shrink by averaging the source area each target pixel covers (a box filter with
/// fractional edges): at an integer factor, exactly the mean of each block.
fn area_downscale(src: &RgbaImage, tw: u32, th: u32) -> RgbaImage {
    let (sw, sh) = src.dimensions();
    // Per axis: for each target index, the source spans and their weights.
    let spans = |s: u32, t: u32| -> Vec<Vec<(u32, f32)>> {
        let f = s as f64 / t as f64;
        (0..t)
            .map(|i| {
                let (a, b) = (i as f64 * f, ((i + 1) as f64 * f).min(s as f64));
                let mut v = Vec::new();
                let mut k = a.floor() as u32;
                while (k as f64) < b && k < s {
                    let lo = (k as f64).max(a);
                    let hi = ((k + 1) as f64).min(b);
                    v.push((k, ((hi - lo) / (b - a)) as f32));
                    k += 1;
                }
                v
            })
            .collect()
    };
    let (xs, ys) = (spans(sw, tw), spans(sh, th));
    let raw = src.as_raw();
    let mut out = RgbaImage::new(tw, th);
    let mut row = vec![[0f32; 3]; tw as usize];
    for (ty, yspan) in ys.iter().enumerate() {
        row.iter_mut().for_each(|p| *p = [0.0; 3]);
        for &(sy, wy) in yspan {
            let base = sy as usize * sw as usize * 4;
            for (tx, xspan) in xs.iter().enumerate() {
                let acc = &mut row[tx];
                for &(sx, wx) in xspan {
                    let p = base + sx as usize * 4;
                    let w = wx * wy;
                    acc[0] += raw[p] as f32 * w;
                    acc[1] += raw[p + 1] as f32 * w;
                    acc[2] += raw[p + 2] as f32 * w;
                }
            }
        }
        for (tx, acc) in row.iter().enumerate() {
            let px = [acc[0].round() as u8, acc[1].round() as u8, acc[2].round() as u8, 255];
            out.put_pixel(tx as u32, ty as u32, image::Rgba(px));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(name: &str) -> RgbaImage {
        let path = format!("{}/assets/screens/{name}", env!("CARGO_MANIFEST_DIR"));
        image::open(path).expect("bench screen").into_rgba8()
    }

    #[test]
    fn a_screen_drawn_at_200_percent_gives_the_same_elements_twice_as_large() {
        let one = screen("zenity-forms.png");
        let (w, h) = one.dimensions();
        let two = image::imageops::resize(&one, w * 2, h * 2, image::imageops::FilterType::Nearest);
        let cfg = BuiltinConfig::default();
        let mut at1 = detect(&one, &cfg);
        let mut at2 = detect_at_scale(&two, 2.0, &cfg);
        at1.sort_by_key(|p| (p.bbox.y, p.bbox.x));
        at2.sort_by_key(|p| (p.bbox.y, p.bbox.x));
        assert_eq!(at1.len(), at2.len());
        for (a, b) in at1.iter().zip(&at2) {
            assert_eq!(a.kind, b.kind);
            assert!(
                (a.bbox.x * 2 - b.bbox.x).abs() <= 2 && (a.bbox.y * 2 - b.bbox.y).abs() <= 2,
                "{} vs {}",
                a.bbox,
                b.bbox
            );
            assert!((a.bbox.w as i32 * 2 - b.bbox.w as i32).abs() <= 3, "{} vs {}", a.bbox, b.bbox);
        }
    }

    #[test]
    fn the_scale_of_the_development_set_s_screens_is_estimated_from_their_text() {
        let dir = format!("{}/tests/devset", env!("CARGO_MANIFEST_DIR"));
        let truth: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{dir}/annotations.json")).unwrap()).unwrap();
        let mut wrong = Vec::new();
        for im in truth["images"].as_array().unwrap() {
            let file = im["file"].as_str().unwrap();
            let img = image::open(format!("{dir}/{file}")).unwrap().into_rgba8();
            let scale = estimate_scale(&img, &BuiltinConfig::default());
            if scale != im["scale"].as_f64().unwrap() {
                wrong.push(format!("{file}: {scale} (glyphs {})", glyph_height(&img, &BuiltinConfig::default())));
            }
        }
        // Today one screen is missed: GTK 4's calculator at 2x, dark, whose keys hold single
        // glyphs and no words, so nothing says how tall its letters are.
        assert!(wrong.len() <= 1, "{} screens get the wrong scale: {wrong:?}", wrong.len());
    }

    #[test]
    fn a_flat_image_has_no_elements() {
        let img = RgbaImage::from_pixel(640, 480, image::Rgba([246, 245, 244, 255]));
        assert!(detect(&img, &BuiltinConfig::default()).is_empty());
    }

    #[test]
    fn a_thin_scroll_thumb_with_rounded_ends_is_one_element() {
        // An overlay scroll bar: an 8 px grey thumb 250 px long on the pane, its ends rounded
        // (the corners show as specks of ink of their own).
        let mut img = RgbaImage::from_pixel(300, 400, image::Rgba([206, 206, 206, 255]));
        for y in 50..300u32 {
            let inset = match (y - 50).min(299 - y) {
                0 => 2,
                1 => 1,
                _ => 0,
            };
            for x in 150 + inset..158 - inset {
                img.put_pixel(x, y, image::Rgba([126, 129, 130, 255]));
            }
        }
        let found = detect(&img, &BuiltinConfig::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].bbox.h >= 240 && found[0].bbox.w <= 10, "{}", found[0].bbox);
    }

    #[test]
    fn a_small_icon_just_left_of_its_label_is_one_element_with_it() {
        // A menu item on a white page: an 8x8 icon (a plus), 12 px of space, then a "word" of
        // six glyphs 10 px tall.
        let mut img = RgbaImage::from_pixel(300, 120, image::Rgba([255, 255, 255, 255]));
        let ink = image::Rgba([33, 37, 41, 255]);
        for y in 53..61 {
            for x in 100..108 {
                if (103..=104).contains(&x) || (56..=57).contains(&y) {
                    img.put_pixel(x, y, ink);
                }
            }
        }
        for g in 0..6 {
            for y in 51..61 {
                for x in 0..5 {
                    if x == 0 || y == 51 || y == 60 {
                        img.put_pixel(120 + g * 7 + x, y, ink);
                    }
                }
            }
        }
        let found = detect(&img, &BuiltinConfig::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].bbox.x <= 100 && found[0].bbox.right() >= 160, "{}", found[0].bbox);
    }

    #[test]
    fn a_bordered_button_with_a_label_is_one_button() {
        // A 120x34 button: 1 px grey border, light face, a dark "label" of five glyphs.
        let mut img = RgbaImage::from_pixel(300, 120, image::Rgba([246, 245, 244, 255]));
        for y in 40..74 {
            for x in 90..210 {
                let border = y == 40 || y == 73 || x == 90 || x == 209;
                let c = if border { [205, 199, 194] } else { [240, 239, 237] };
                img.put_pixel(x, y, image::Rgba([c[0], c[1], c[2], 255]));
            }
        }
        for g in 0..5 {
            for y in 52..62 {
                for x in 0..5 {
                    if x == 0 || y == 52 || y == 61 {
                        img.put_pixel(125 + g * 8 + x, y, image::Rgba([46, 52, 54, 255]));
                    }
                }
            }
        }
        let found = detect(&img, &BuiltinConfig::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, crate::perceive::ElementKind::Button);
        assert_eq!(found[0].bbox, Rect::new(91, 41, 118, 32));
    }

    #[test]
    fn a_key_whose_symbol_is_a_short_bar_is_a_button() {
        // Keypad keys of 54x38 on a light window: a minus (a bar 8x2 in the middle) and a
        // point (a 2x2 dot).
        // The faces are barely lighter than the window, inside a faint border.
        let mut img = RgbaImage::from_pixel(300, 120, image::Rgba([243, 242, 241, 255]));
        for x0 in [40u32, 120] {
            for y in 40..78 {
                for x in x0..x0 + 54 {
                    let border = y == 40 || y == 77 || x == x0 || x == x0 + 53;
                    let c = if border { [200, 198, 196] } else { [250, 249, 248] };
                    img.put_pixel(x, y, image::Rgba([c[0], c[1], c[2], 255]));
                }
            }
        }
        for (x, y, w, h) in [(63u32, 58u32, 8u32, 2u32), (146, 58, 2, 2)] {
            for yy in y..y + h {
                for xx in x..x + w {
                    img.put_pixel(xx, yy, image::Rgba([40, 40, 40, 255]));
                }
            }
        }
        let found = detect(&img, &BuiltinConfig::default());
        let buttons: Vec<Rect> =
            found.iter().filter(|p| p.kind == crate::perceive::ElementKind::Button).map(|p| p.bbox).collect();
        assert_eq!(buttons.len(), 2, "{found:?}");
    }

    #[test]
    fn a_checked_box_drawn_filled_in_a_colour_is_a_check_box() {
        // A dark window: a filled blue square with a white tick (a checked check box whose
        // fill reads as ink), and a blue square with no light mark (an icon), far apart.
        let mut img = RgbaImage::from_pixel(300, 120, image::Rgba([45, 45, 45, 255]));
        for x0 in [60u32, 200] {
            for y in 50..66 {
                for x in x0..x0 + 16 {
                    img.put_pixel(x, y, image::Rgba([31, 117, 223, 255]));
                }
            }
        }
        for i in 0..4u32 {
            for t in 0..2u32 {
                img.put_pixel(63 + i, 56 + i + t, image::Rgba([255, 255, 255, 255]));
                img.put_pixel(67 + i, 59 - i + t, image::Rgba([255, 255, 255, 255]));
                img.put_pixel(70 + i, 56 - i + t, image::Rgba([255, 255, 255, 255]));
            }
        }
        let found = detect(&img, &BuiltinConfig::default());
        let boxes: Vec<Rect> =
            found.iter().filter(|p| p.kind == crate::perceive::ElementKind::CheckBox).map(|p| p.bbox).collect();
        assert_eq!(boxes.len(), 1, "{found:?}");
        assert!(boxes[0].x < 100, "{found:?}");
    }
}

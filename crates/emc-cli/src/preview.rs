//! A PNG grid of dataset samples, each with its label index drawn underneath in a small
//! built-in digit font (the class names go to the terminal as a legend).

use std::path::Path;

use anyhow::{Context, Result};
use emc_data::Dataset;
use image::{Rgb, RgbImage};

/// 3x5 bitmaps of the digits 0-9, one row per `u8` (bits 2..0 = left..right).
const DIGITS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b010, 0b010, 0b010],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// Height in pixels of the label strip under each tile (font drawn at 2x).
const STRIP: u32 = 14;
const GAP: u32 = 2;

fn draw_number(img: &mut RgbImage, mut x: u32, y: u32, number: usize) {
    for ch in number.to_string().bytes() {
        let glyph = DIGITS[(ch - b'0') as usize];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..3 {
                if bits >> (2 - col) & 1 == 1 {
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        let (px, py) = (x + 2 * col + dx, y + 2 * row as u32 + dy);
                        if px < img.width() && py < img.height() {
                            img.put_pixel(px, py, Rgb([255, 220, 0]));
                        }
                    }
                }
            }
        }
        x += 8;
    }
}

/// Writes the first `count` samples of `ds` as a grid to `out` (PNG).
pub fn write_grid(ds: &Dataset, count: usize, scale: usize, out: &Path) -> Result<()> {
    anyhow::ensure!(
        count > 0,
        "nothing to preview: the dataset (after variants) is empty"
    );
    anyhow::ensure!(scale > 0, "--scale must be at least 1");
    let shape = ds.shape();
    let (h, w) = ((shape.height * scale) as u32, (shape.width * scale) as u32);
    let tile_w = w.max(3 * 8) + GAP;
    let tile_h = h + STRIP + GAP;
    let cols = (count as f64).sqrt().ceil() as u32;
    let rows = (count as u32).div_ceil(cols);
    let mut img = RgbImage::from_pixel(cols * tile_w + GAP, rows * tile_h + GAP, Rgb([32, 32, 32]));
    let plane = shape.plane();
    for i in 0..count {
        let values = ds.image_f32(i);
        let (x0, y0) = (
            GAP + (i as u32 % cols) * tile_w,
            GAP + (i as u32 / cols) * tile_h,
        );
        for y in 0..h {
            for x in 0..w {
                let src = (y as usize / scale) * shape.width + x as usize / scale;
                let px = |c: usize| values[c * plane + src].round().clamp(0.0, 255.0) as u8;
                let rgb = if shape.channels >= 3 {
                    [px(0), px(1), px(2)]
                } else {
                    [px(0); 3]
                };
                img.put_pixel(x0 + x, y0 + y, Rgb(rgb));
            }
        }
        draw_number(&mut img, x0, y0 + h + 2, ds.labels()[i] as usize);
    }
    // Write beside the target, then rename: no half-written PNG is ever left behind.
    let tmp = out.with_extension("png.tmp");
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

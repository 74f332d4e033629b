//! The figures of `emc report`, one module per figure ([`params`], [`probes`], [`budget`],
//! and a claim's [`scatter`] plots), each drawn once by backend-generic code and written as
//! SVG (text as `<text>` elements) and PNG (text rasterised by `ab_glyph` from DejaVu Sans,
//! embedded through the `dejavu` crate: no system fonts, fontconfig or freetype needed).
//!
//! Files are rendered in memory, written to `NAME.tmp` and renamed, so a reader never sees a
//! half-written plot.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use crate::error::{chain, ReportError, Result};
use crate::input::{Config, Probe};
use params::EmcVsParams;
use probes::ProbeMap;
pub use scatter::{write_scatter, Scatter, ScatterPoint, SCATTER_SIZE};

mod budget;
mod params;
mod probes;
mod scatter;

/// Pixel size of `emc_vs_params.{svg,png}`.
pub const EMC_VS_PARAMS_SIZE: (u32, u32) = (900, 700);

/// Pixel size of `probes.{svg,png}` for `rows` (config, seed) rows: 1000 wide, 32 px a row
/// plus 170 px of title, legend and axis, at least 420 high.
pub fn probes_size(rows: usize) -> (u32, u32) {
    (1000, (170 + 32 * rows as u32).max(420))
}

const FONT: &str = "sans-serif";
const BLUE: RGBColor = RGBColor(31, 119, 180);
const GREEN: RGBColor = RGBColor(44, 160, 44);
const RED: RGBColor = RGBColor(214, 39, 40);
const GREY: RGBColor = RGBColor(110, 110, 110);
const BAND: RGBColor = RGBColor(238, 238, 238);

/// A figure that can be drawn on any plotters backend.
trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static;
}

/// Writes the figures into `dir` and returns the paths written: `emc_vs_params` and
/// `probes` always, `emc_vs_budget` and `fit_probability` when there is data for them.
///
/// `labels[i]` names `configs[i]` (its model, disambiguated where models repeat).
pub fn write_all(
    dir: &Path,
    configs: &[Config],
    labels: &[String],
    probes: &[Probe],
) -> Result<Vec<PathBuf>> {
    register_fonts()?;
    let mut written = Vec::new();
    let emc = EmcVsParams { configs, labels };
    written.extend(write_figure(dir, "emc_vs_params", &emc)?);
    let map = ProbeMap::new(configs, labels, probes);
    written.extend(write_figure(dir, "probes", &map)?);
    if let Some(fig) = budget::EmcVsBudget::new(configs, labels) {
        written.extend(write_figure(dir, "emc_vs_budget", &fig)?);
    }
    if let Some(fig) = budget::FitProbability::new(configs, labels, probes) {
        written.extend(write_figure(dir, "fit_probability", &fig)?);
    }
    Ok(written)
}

/// Makes DejaVu Sans the `sans-serif` family of the bitmap text renderer.
fn register_fonts() -> Result<()> {
    for (style, bytes) in [
        (FontStyle::Normal, dejavu::sans::regular()),
        (FontStyle::Bold, dejavu::sans::bold()),
    ] {
        plotters::style::register_font(FONT, style, bytes).map_err(|_| ReportError::Font)?;
    }
    Ok(())
}

fn write_figure(dir: &Path, stem: &str, figure: &impl Figure) -> Result<[PathBuf; 2]> {
    let (w, h) = figure.size();
    let svg_path = dir.join(format!("{stem}.svg"));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        figure.draw(&root).map_err(|e| drawing(&svg_path, e))?;
        root.present()?;
    }
    write_atomically(&svg_path, |tmp| Ok(std::fs::write(tmp, &svg)?))?;

    let png_path = dir.join(format!("{stem}.png"));
    let mut pixels = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        figure.draw(&root).map_err(|e| drawing(&png_path, e))?;
        root.present()?;
    }
    let image = image::RgbImage::from_raw(w, h, pixels).expect("buffer is w * h * 3 bytes");
    write_atomically(&png_path, |tmp| {
        Ok(image.save_with_format(tmp, image::ImageFormat::Png)?)
    })?;
    Ok([svg_path, png_path])
}

fn drawing(path: &Path, e: ReportError) -> ReportError {
    ReportError::Figure {
        action: "drawing",
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Why writing a file failed.
type WriteError = Box<dyn std::error::Error + Send + Sync>;

/// Writes `path` through `PATH.tmp` and a rename; the temporary file is removed on failure.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), WriteError>,
) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = write(&tmp).and_then(|()| Ok(std::fs::rename(&tmp, path)?));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| ReportError::Figure {
        action: "writing",
        path: path.to_owned(),
        message: chain(&*e),
    })
}

/// The smallest and largest positive finite value, if any (what a log axis can show).
fn positive_extent(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| *v > 0.0 && v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((v.min(lo), v.max(hi))),
        })
}

/// A log axis range from the power of ten at or below `min / 1.15` to the one at or above
/// `max * 1.15` (whole decades, so the axis always has labelled ticks).
fn decades(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let Some((min, max)) = positive_extent(values) else {
        return (1.0, 10.0);
    };
    let lo = 10f64.powf((min / 1.15).log10().floor()).max(1.0);
    let hi = 10f64.powf((max * 1.15).log10().ceil()).max(lo * 10.0);
    (lo, hi)
}

/// Tick labels: 500, 2k, 10k, 1.5M, 3G.
fn compact(v: f64) -> String {
    let (div, suffix) = match v.abs() {
        a if a >= 1e9 => (1e9, "G"),
        a if a >= 1e6 => (1e6, "M"),
        a if a >= 1e3 => (1e3, "k"),
        _ => (1.0, ""),
    };
    let s = format!("{:.2}", v / div);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{suffix}")
}

const PALETTE: [RGBColor; 10] = [
    BLUE,
    RGBColor(255, 127, 14),
    GREEN,
    RED,
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// A key in a strip: `items` centred in one row, each a marker `marker_w` pixels wide
/// (drawn by `marker(k, x, y)` at the item's left edge and the strip's middle), a gap, its
/// text, then `spacing` pixels to the next item.
pub(crate) fn draw_key<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    font_size: u32,
    items: &[&str],
    (marker_w, spacing): (i32, i32),
    mut marker: impl FnMut(usize, i32, i32) -> Result<()>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (w, h) = area.dim_in_pixel();
    let y = h as i32 / 2;
    let font = (FONT, font_size)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let widths: Vec<i32> = items
        .iter()
        .map(|t| font.font.box_size(t).map_or(200, |(w, _)| w as i32))
        .collect();
    let total: i32 = widths.iter().map(|w| marker_w + w + spacing).sum::<i32>() - spacing;
    let mut x = (w as i32 - total).max(0) / 2;
    for (k, (text, width)) in items.iter().zip(widths).enumerate() {
        marker(k, x, y)?;
        area.draw(&Text::new(*text, (x + marker_w, y), font.clone()))?;
        x += marker_w + width + spacing;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decades_cover_the_values_with_margin() {
        assert_eq!(decades([150.0, 9_000.0]), (100.0, 100_000.0));
        assert_eq!(decades([110.0, 8_000.0]), (10.0, 10_000.0));
        assert_eq!(decades([1_000.0]), (100.0, 10_000.0));
        assert_eq!(decades([]), (1.0, 10.0));
    }

    #[test]
    fn compact_tick_labels() {
        assert_eq!(compact(500.0), "500");
        assert_eq!(compact(2_000.0), "2k");
        assert_eq!(compact(1_500_000.0), "1.5M");
    }
}

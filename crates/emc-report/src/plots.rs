//! The figures of `emc report` (the budget figures in [`budget`]), each drawn once by backend-generic code and written as
//! SVG (text as `<text>` elements) and PNG (text rasterised by `ab_glyph` from DejaVu Sans,
//! embedded through the `dejavu` crate: no system fonts, fontconfig or freetype needed).
//!
//! Files are rendered in memory, written to `NAME.tmp` and renamed, so a reader never sees a
//! half-written plot.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use super::input::{Config, Probe};

mod budget;

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
        plotters::style::register_font(FONT, style, bytes)
            .map_err(|_| anyhow!("the embedded DejaVu Sans font did not load"))?;
    }
    Ok(())
}

fn write_figure(dir: &Path, stem: &str, figure: &impl Figure) -> Result<[PathBuf; 2]> {
    let (w, h) = figure.size();
    let svg_path = dir.join(format!("{stem}.svg"));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        figure
            .draw(&root)
            .with_context(|| format!("drawing {}", svg_path.display()))?;
        root.present()?;
    }
    write_atomically(&svg_path, |tmp| Ok(std::fs::write(tmp, &svg)?))?;

    let png_path = dir.join(format!("{stem}.png"));
    let mut pixels = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        figure
            .draw(&root)
            .with_context(|| format!("drawing {}", png_path.display()))?;
        root.present()?;
    }
    let image = image::RgbImage::from_raw(w, h, pixels).expect("buffer is w * h * 3 bytes");
    write_atomically(&png_path, |tmp| {
        Ok(image.save_with_format(tmp, image::ImageFormat::Png)?)
    })?;
    Ok([svg_path, png_path])
}

/// Writes `path` through `PATH.tmp` and a rename; the temporary file is removed on failure.
fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = write(&tmp).and_then(|()| Ok(std::fs::rename(&tmp, path)?));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
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

/// Log-log median EMC (bars: min–max over seeds) against parameters, with EMC = parameters.
struct EmcVsParams<'a> {
    configs: &'a [Config],
    labels: &'a [String],
}

impl Figure for EmcVsParams<'_> {
    fn size(&self) -> (u32, u32) {
        EMC_VS_PARAMS_SIZE
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        // One range for both axes, so that EMC = parameters is the diagonal.
        let (lo, hi) = decades(self.configs.iter().flat_map(|c| {
            [
                c.params as f64,
                c.aggregate.min.max(1) as f64,
                c.aggregate.max as f64,
            ]
        }));
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Effective Model Complexity against model size",
                (FONT, 24).into_font().style(FontStyle::Bold),
            )
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(80)
            .build_cartesian_2d((lo..hi).log_scale(), (lo..hi).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("trainable parameters")
            .y_desc("EMC (training samples fitted to 100% accuracy)")
            .x_label_formatter(&|v| compact(*v))
            .y_label_formatter(&|v| compact(*v))
            .label_style((FONT, 16))
            .axis_desc_style((FONT, 18))
            .light_line_style(RGBColor(245, 245, 245))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()?;

        let diagonal = GREY.stroke_width(2);
        chart
            .draw_series(LineSeries::new([(lo, lo), (hi, hi)], diagonal))?
            .label("EMC = parameters")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], diagonal));
        let at = lo * (hi / lo).powf(0.8);
        let line_label = (FONT, 17)
            .into_font()
            .color(&GREY)
            .pos(Pos::new(HPos::Right, VPos::Bottom));
        chart.draw_series([
            EmptyElement::at((at, at)) + Text::new("EMC = parameters", (-8, -8), line_label)
        ])?;

        // Labels right of their marker, or left of it near the right edge.
        let point_label = |x: f64| {
            let right_edge = (x / lo).ln() / (hi / lo).ln() > 0.7;
            let h = if right_edge { HPos::Right } else { HPos::Left };
            let dx = if right_edge { -12 } else { 12 };
            let style = (FONT, 16)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(h, VPos::Center));
            (dx, style)
        };
        chart
            .draw_series(self.configs.iter().zip(self.labels).map(|(c, label)| {
                let x = c.params as f64;
                let (dx, style) = point_label(x);
                EmptyElement::at((x, c.aggregate.median.max(1.0)))
                    + Circle::new((0, 0), 5, BLUE.filled())
                    + Text::new(label.clone(), (dx, 0), style)
            }))?
            .label("median EMC over seeds (bar: min to max)")
            .legend(|(x, y)| Circle::new((x + 12, y), 6, BLUE.filled()));
        // Bars over the markers: the spread over seeds is often smaller than a marker.
        let bar = BLACK.stroke_width(1);
        for c in self.configs {
            let (x, a) = (c.params as f64, &c.aggregate);
            let (min, max) = (a.min.max(1) as f64, a.max.max(1) as f64);
            chart.draw_series([PathElement::new([(x, min), (x, max)], bar)])?;
            chart
                .draw_series([min, max].map(|y| {
                    EmptyElement::at((x, y)) + PathElement::new([(-6, 0), (6, 0)], bar)
                }))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, 16))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    }
}

/// One row of the probe map: the probes of one (config, seed).
struct MapRow {
    label: String,
    /// Index of the config, for alternating background bands.
    config: usize,
    emc: Option<u64>,
    /// (n, fitted) of each probe.
    probes: Vec<(u64, bool)>,
}

/// Every probe as a fitted (green) or failed (red) marker at its n, one row per (config,
/// seed), with the seed's EMC marked. A seed searched at several budgets shows the probes
/// valid at its largest budget ([`Config::probes_at_budget`]).
struct ProbeMap {
    rows: Vec<MapRow>,
}

impl ProbeMap {
    fn new(configs: &[Config], labels: &[String], probes: &[Probe]) -> Self {
        let mut rows = Vec::new();
        for (k, (c, label)) in configs.iter().zip(labels).enumerate() {
            for s in &c.seeds {
                rows.push(MapRow {
                    label: format!("{label}, seed {}", s.seed),
                    config: k,
                    emc: Some(s.emc),
                    probes: c
                        .probes_at_budget(s, probes)
                        .iter()
                        .map(|p| (p.n, p.fitted))
                        .collect(),
                });
            }
        }
        Self { rows }
    }
}

impl Figure for ProbeMap {
    fn size(&self) -> (u32, u32) {
        probes_size(self.rows.len())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let rows = self.rows.len();
        // Row 0 at the top.
        let y_of = |i: usize| (rows - 1 - i) as f64;
        let (lo, hi) = decades(self.rows.iter().flat_map(|r| {
            r.probes
                .iter()
                .map(|p| p.0 as f64)
                .chain(r.emc.map(|e| e as f64))
        }));
        let label_font = (FONT, 15).into_font();
        let label_width = self
            .rows
            .iter()
            .filter_map(|r| label_font.box_size(&r.label).ok())
            .map(|(w, _)| w)
            .max()
            .unwrap_or(0);

        let root = root.titled(
            "Fit / no-fit map of every probe",
            (FONT, 24).into_font().style(FontStyle::Bold),
        )?;
        let (legend, plot) = root.split_vertically(36);
        draw_probe_legend(&legend)?;

        let mut chart = ChartBuilder::on(&plot)
            .margin(20)
            .margin_top(6)
            .x_label_area_size(60)
            .y_label_area_size(label_width + 50)
            .build_cartesian_2d((lo..hi).log_scale(), -0.5..rows.max(1) as f64 - 0.5)?;
        let labels: Vec<&str> = self.rows.iter().map(|r| r.label.as_str()).collect();
        chart
            .configure_mesh()
            .x_desc("training samples n")
            .y_desc("configuration, seed")
            .x_label_formatter(&|v| compact(*v))
            .y_labels(rows + 1)
            .y_label_formatter(&|y| {
                let i = rows as f64 - 1.0 - y;
                if (i - i.round()).abs() < 1e-6 && i >= -0.5 && (i.round() as usize) < rows {
                    labels[i.round() as usize].to_string()
                } else {
                    String::new()
                }
            })
            .disable_y_mesh()
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 18))
            .light_line_style(RGBColor(245, 245, 245))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()?;

        chart.draw_series(
            self.rows
                .iter()
                .enumerate()
                .filter(|(_, r)| r.config % 2 == 1)
                .map(|(i, _)| {
                    let y = y_of(i);
                    Rectangle::new([(lo, y - 0.5), (hi, y + 0.5)], BAND.filled())
                }),
        )?;
        let tick_font = (FONT, 12)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Bottom));
        for (i, row) in self.rows.iter().enumerate() {
            let y = y_of(i);
            // An EMC of 0 (not even the smallest n fitted) has no place on a log axis.
            if let Some(emc) = row.emc.filter(|&e| e > 0) {
                chart.draw_series([EmptyElement::at((emc as f64, y))
                    + PathElement::new([(0, -12), (0, 12)], BLACK.stroke_width(2))
                    + Text::new(format!("EMC {emc}"), (4, -8), tick_font.clone())])?;
            }
            chart.draw_series(row.probes.iter().map(|&(n, fitted)| {
                let at = (n.max(1) as f64, y);
                if fitted {
                    EmptyElement::at(at) + Circle::new((0, 0), 5, GREEN.filled()).into_dyn()
                } else {
                    EmptyElement::at(at) + Cross::new((0, 0), 5, RED.stroke_width(2)).into_dyn()
                }
            }))?;
        }
        Ok(())
    }
}

/// A scatter plot of one quantity against another: one labelled marker per point, coloured
/// by group, with the least-squares line (written by [`write_scatter`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scatter {
    /// File stem: the plot is written as `<stem>.svg` and `<stem>.png`.
    pub stem: String,
    /// Title.
    pub title: String,
    /// A line under the title (e.g. the correlation), may be empty.
    pub note: String,
    /// Horizontal axis.
    pub x_label: String,
    /// Vertical axis.
    pub y_label: String,
    /// The points.
    pub points: Vec<ScatterPoint>,
}

/// One point of a [`Scatter`].
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterPoint {
    /// Text beside the marker.
    pub label: String,
    /// Points of a group share a colour and a legend entry.
    pub group: String,
    /// Horizontal value.
    pub x: f64,
    /// Vertical value.
    pub y: f64,
}

/// Pixel size of a [`Scatter`].
pub const SCATTER_SIZE: (u32, u32) = (900, 700);

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

/// Writes `scatter` into `dir` as `<stem>.svg` and `<stem>.png` (atomically) and returns the
/// paths. Points with a non-finite coordinate are left out.
pub fn write_scatter(dir: &Path, scatter: &Scatter) -> Result<Vec<PathBuf>> {
    register_fonts()?;
    Ok(write_figure(dir, &scatter.stem, scatter)?.to_vec())
}

/// `[min, max]` widened by 8% on each side (and to a unit width when empty or flat).
fn padded(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { 0.08 * (hi - lo) } else { 0.5 };
    (lo - pad, hi + pad)
}

impl Figure for Scatter {
    fn size(&self) -> (u32, u32) {
        SCATTER_SIZE
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let points: Vec<&ScatterPoint> = self
            .points
            .iter()
            .filter(|p| p.x.is_finite() && p.y.is_finite())
            .collect();
        let (x0, x1) = padded(points.iter().map(|p| p.x));
        let (y0, y1) = padded(points.iter().map(|p| p.y));
        let root = root.titled(&self.title, (FONT, 24).into_font().style(FontStyle::Bold))?;
        let (note, plot) = root.split_vertically(if self.note.is_empty() { 0 } else { 28 });
        if !self.note.is_empty() {
            let (w, _) = note.dim_in_pixel();
            let style = (FONT, 16)
                .into_font()
                .color(&GREY)
                .pos(Pos::new(HPos::Center, VPos::Top));
            note.draw(&Text::new(self.note.clone(), (w as i32 / 2, 2), style))?;
        }
        let mut chart = ChartBuilder::on(&plot)
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(80)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .label_style((FONT, 16))
            .axis_desc_style((FONT, 18))
            .light_line_style(RGBColor(245, 245, 245))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()?;

        // Least-squares line over the visible x range.
        let n = points.len() as f64;
        let (mx, my) = (
            points.iter().map(|p| p.x).sum::<f64>() / n,
            points.iter().map(|p| p.y).sum::<f64>() / n,
        );
        let sxx: f64 = points.iter().map(|p| (p.x - mx).powi(2)).sum();
        if points.len() >= 2 && sxx > 0.0 {
            let slope = points.iter().map(|p| (p.x - mx) * (p.y - my)).sum::<f64>() / sxx;
            let line = GREY.stroke_width(2);
            chart
                .draw_series(LineSeries::new(
                    [x0, x1].map(|x| (x, my + slope * (x - mx))),
                    line,
                ))?
                .label("least-squares line")
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], line));
        }

        let mut groups: Vec<&str> = vec![];
        for p in &points {
            if !groups.contains(&p.group.as_str()) {
                groups.push(&p.group);
            }
        }
        // Labels right of their marker, or left of it near the right edge.
        let label = |x: f64| {
            let right_edge = (x - x0) / (x1 - x0) > 0.8;
            let (h, dx) = if right_edge {
                (HPos::Right, -9)
            } else {
                (HPos::Left, 9)
            };
            let style = (FONT, 14)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(h, VPos::Center));
            (dx, style)
        };
        for (g, group) in groups.iter().enumerate() {
            let colour = PALETTE[g % PALETTE.len()];
            chart
                .draw_series(points.iter().filter(|p| p.group == *group).map(|p| {
                    let (dx, style) = label(p.x);
                    EmptyElement::at((p.x, p.y))
                        + Circle::new((0, 0), 6, colour.filled())
                        + Text::new(p.label.clone(), (dx, 0), style)
                }))?
                .label(*group)
                .legend(move |(x, y)| Circle::new((x + 12, y), 6, colour.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 16))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    }
}

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

/// The probe map's key, in a strip above the plot: fitted, failed, EMC.
fn draw_probe_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let items = [
        "fitted (100% training accuracy)",
        "failed",
        "EMC: largest n the seed fitted",
    ];
    draw_key(area, 16, &items, (16, 36), |k, x, y| {
        match k {
            0 => area.draw(&Circle::new((x + 5, y), 5, GREEN.filled()))?,
            1 => area.draw(&Cross::new((x + 5, y), 5, RED.stroke_width(2)))?,
            _ => area.draw(&PathElement::new(
                [(x + 5, y - 10), (x + 5, y + 10)],
                BLACK.stroke_width(2),
            ))?,
        }
        Ok(())
    })
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
    fn scatter_writes_svg_and_png_and_skips_non_finite_points() {
        let dir = tempfile::tempdir().unwrap();
        let p = |label: &str, group: &str, x: f64, y: f64| ScatterPoint {
            label: label.into(),
            group: group.into(),
            x,
            y,
        };
        let s = Scatter {
            stem: "corr".into(),
            title: "EMC gap against generalization gap".into(),
            note: "Pearson r = -0.9".into(),
            x_label: "ln(EMC real / EMC random)".into(),
            y_label: "train - test accuracy".into(),
            points: vec![
                p("a", "mnist", 1.0, 0.1),
                p("b", "cifar", 0.2, 0.6),
                p("c", "cifar", f64::NAN, 0.3),
            ],
        };
        let written = write_scatter(dir.path(), &s).unwrap();
        assert_eq!(written.len(), 2);
        let svg = std::fs::read_to_string(dir.path().join("corr.svg")).unwrap();
        assert!(svg.contains("Pearson r = -0.9") && svg.contains("mnist"));
        assert!(dir.path().join("corr.png").is_file());
        assert_eq!(padded([2.0, 2.0]), (1.5, 2.5));
    }

    #[test]
    fn compact_tick_labels() {
        assert_eq!(compact(500.0), "500");
        assert_eq!(compact(2_000.0), "2k");
        assert_eq!(compact(1_500_000.0), "1.5M");
    }
}

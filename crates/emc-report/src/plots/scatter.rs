//! Scatter plots of one quantity against another ([`Scatter`]), the figures a claim adds.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use super::{register_fonts, write_figure, Figure, FONT, GREY, PALETTE};
use crate::error::Result;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! The figures of budget convergence and the fit/fail transition:
//!
//! - `emc_vs_budget`: median EMC over seeds (bars: min to max) against the budget multiplier
//!   (1x, 2x, 4x ... on a log2 axis), one line per configuration searched at several
//!   budgets; solid with filled markers when every seed budget-converged, dashed with hollow
//!   markers when some seed stayed budget-limited (the legend says how many). A seed that
//!   converged before the largest budget counts at its converged EMC from there on.
//! - `fit_probability`: one panel per configuration: the fraction of probes that fitted at
//!   each n (marker area: how many probes, all seeds pooled) and over quarter-octave bins of n
//!   (line), from the probes valid at each seed's largest budget, with n₅₀ of `summary.csv`
//!   (dashed) and the band where fits and failures overlap (shaded).

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use super::{compact, draw_key, positive_extent, Figure, BLUE, FONT, GREEN, GREY, PALETTE, RED};
use crate::error::Result;
use crate::input::{Band, Config, Probe};

const ORANGE: RGBColor = RGBColor(255, 127, 14);
const BAND_FILL: RGBColor = RGBColor(200, 220, 240);

/// A log axis range around the values: 25% beyond the smallest and the largest (the values
/// here span a few octaves; whole decades would squeeze them into a corner).
fn log_range(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let Some((min, max)) = positive_extent(values) else {
        return (1.0, 10.0);
    };
    ((min / 1.25).max(0.5), (max * 1.25).max(min * 2.0))
}

/// Round tick values inside `[lo, hi]` for a log axis: 1, 2 and 5 per decade; only powers of
/// ten over many decades, more (1, 1.5, 2, 3, 4, 5, 6, 8) when that gives fewer than four.
fn nice_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let ticks = |steps: &[f64]| -> Vec<f64> {
        let mut out = Vec::new();
        let mut decade = 10f64.powf(lo.log10().floor());
        while decade <= hi {
            out.extend(
                steps
                    .iter()
                    .map(|s| s * decade)
                    .filter(|t| (lo..=hi).contains(t)),
            );
            decade *= 10.0;
        }
        out
    };
    let coarse = ticks(&[1.0, 2.0, 5.0]);
    match coarse.len() {
        0..=3 => ticks(&[1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0]),
        4..=10 => coarse,
        _ => ticks(&[1.0]),
    }
}

/// One configuration's line of `emc_vs_budget`.
struct BudgetLine {
    label: String,
    /// Seeds that stayed budget-limited, of `seeds`.
    limited: usize,
    seeds: usize,
    /// Per budget level (`2^level` × the budget): median, min, max EMC over seeds.
    points: Vec<(usize, f64, u64, u64)>,
}

/// EMC against the training budget, one line per configuration with budget levels.
pub(super) struct EmcVsBudget {
    lines: Vec<BudgetLine>,
    /// The largest level of any line.
    top: usize,
}

fn median(sorted: &[u64]) -> f64 {
    let k = sorted.len();
    if k % 2 == 1 {
        sorted[k / 2] as f64
    } else {
        (sorted[k / 2 - 1] + sorted[k / 2]) as f64 / 2.0
    }
}

impl EmcVsBudget {
    /// `None` when no configuration was searched at more than its first budget.
    pub(super) fn new(configs: &[Config], labels: &[String]) -> Option<Self> {
        let mut lines = Vec::new();
        for (c, label) in configs.iter().zip(labels) {
            let seeds: Vec<_> = c.seeds.iter().filter(|s| !s.budgets.is_empty()).collect();
            let Some(top) = seeds.iter().map(|s| s.level()).max() else {
                continue;
            };
            let mut points = Vec::new();
            for level in 0..=top {
                let multiplier = 1u64 << level;
                let mut emcs: Vec<u64> = seeds
                    .iter()
                    .filter_map(|s| match s.budgets.iter().find(|b| b.0 == multiplier) {
                        Some(&(_, emc)) => Some(emc),
                        // Converged earlier: EMC stays where it converged.
                        None if s.budget_converged == Some(true) && s.level() < level => {
                            s.budgets.last().map(|b| b.1)
                        }
                        None => None,
                    })
                    .collect();
                if emcs.is_empty() {
                    continue;
                }
                emcs.sort_unstable();
                points.push((level, median(&emcs), emcs[0], emcs[emcs.len() - 1]));
            }
            lines.push(BudgetLine {
                label: label.clone(),
                limited: seeds
                    .iter()
                    .filter(|s| s.budget_converged != Some(true))
                    .count(),
                seeds: seeds.len(),
                points,
            });
        }
        let top = lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.0))
            .max()?;
        Some(Self { lines, top })
    }
}

impl BudgetLine {
    fn legend(&self) -> String {
        if self.limited == 0 {
            format!("{} (converged)", self.label)
        } else {
            format!(
                "{} (budget-limited: {} of {} seeds)",
                self.label, self.limited, self.seeds
            )
        }
    }
}

impl Figure for EmcVsBudget {
    fn size(&self) -> (u32, u32) {
        (1200, (170 + 26 * self.lines.len() as u32).max(650))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let root = root.titled(
            "Effective Model Complexity against the training budget",
            (FONT, 24).into_font().style(FontStyle::Bold),
        )?;
        let (plot, key) = root.split_horizontally(720);
        let (lo, hi) = log_range(
            self.lines
                .iter()
                .flat_map(|l| l.points.iter().flat_map(|p| [p.2.max(1), p.3.max(1)]))
                .map(|v| v as f64),
        );
        let top = self.top as f64;
        let mut chart = ChartBuilder::on(&plot)
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(80)
            .build_cartesian_2d(
                -0.4..top + 0.4,
                (lo..hi).log_scale().with_key_points(nice_ticks(lo, hi)),
            )?;
        chart
            .configure_mesh()
            .x_desc("epoch (and step) budget, multiple of the configured one")
            .y_desc("EMC (median over seeds; bar: min to max)")
            .x_labels(self.top + 2)
            .x_label_formatter(&|x| {
                // Levels only: 0 is 1x, 1 is 2x ...
                if (x - x.round()).abs() < 1e-6 && *x >= -1e-6 {
                    format!("{}x", 1u64 << x.round() as u32)
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| compact(*v))
            .label_style((FONT, 16))
            .axis_desc_style((FONT, 18))
            .light_line_style(RGBColor(245, 245, 245))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()?;

        // Lines side by side around each level, so that their bars do not hide each other.
        let k = self.lines.len() as f64;
        let step = (0.5 / k).min(0.06);
        for (i, line) in self.lines.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let dx = (i as f64 - (k - 1.0) / 2.0) * step;
            let at: Vec<(f64, f64)> = line
                .points
                .iter()
                .map(|&(l, m, _, _)| (l as f64 + dx, m.max(1.0)))
                .collect();
            let stroke = colour.stroke_width(2);
            if line.limited == 0 {
                chart.draw_series(LineSeries::new(at.clone(), stroke))?;
            } else {
                chart.draw_series(DashedLineSeries::new(at.clone(), 8, 5, stroke))?;
            }
            let bar = colour.stroke_width(1);
            for &(l, _, min, max) in &line.points {
                let x = l as f64 + dx;
                let (min, max) = (min.max(1) as f64, max.max(1) as f64);
                chart.draw_series([PathElement::new([(x, min), (x, max)], bar)])?;
                chart.draw_series([min, max].map(|y| {
                    EmptyElement::at((x, y)) + PathElement::new([(-4, 0), (4, 0)], bar)
                }))?;
            }
            let marker = if line.limited == 0 {
                colour.filled()
            } else {
                WHITE.filled()
            };
            chart.draw_series(at.iter().map(|&p| {
                EmptyElement::at(p)
                    + Circle::new((0, 0), 5, marker)
                    + Circle::new((0, 0), 5, colour.stroke_width(2))
            }))?;
        }
        self.draw_key(&key)
    }
}

impl EmcVsBudget {
    /// The legend, right of the plot: one entry per configuration.
    fn draw_key<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let font = (FONT, 14)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        let note = (FONT, 13)
            .into_font()
            .color(&GREY)
            .pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(
            "solid, filled: every seed budget-converged",
            (0, 30),
            note.clone(),
        ))?;
        area.draw(&Text::new(
            "dashed, hollow: some seed budget-limited",
            (0, 48),
            note.clone(),
        ))?;
        area.draw(&Text::new(
            "(a converged seed counts at its last EMC)",
            (0, 66),
            note,
        ))?;
        for (i, line) in self.lines.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let y = 96 + 26 * i as i32;
            let stroke = colour.stroke_width(2);
            if line.limited == 0 {
                area.draw(&PathElement::new([(0, y), (30, y)], stroke))?;
                area.draw(&Circle::new((15, y), 5, colour.filled()))?;
            } else {
                area.draw(&DashedPathElement::new([(0, y), (30, y)], 6, 4, stroke))?;
                area.draw(&Circle::new((15, y), 5, WHITE.filled()))?;
                area.draw(&Circle::new((15, y), 5, stroke))?;
            }
            area.draw(&Text::new(line.legend(), (40, y), font.clone()))?;
        }
        Ok(())
    }
}

/// One configuration's panel of `fit_probability`.
struct Panel {
    title: String,
    /// Per distinct n: (n, probes fitted, probes).
    at_n: Vec<(u64, usize, usize)>,
    /// Per quarter-octave bin with probes: (geometric mean n, fraction fitted).
    binned: Vec<(f64, f64)>,
    n50: Option<f64>,
    band: Option<(u64, u64)>,
}

/// Fit probability against n, one panel per configuration whose probes are known.
pub(super) struct FitProbability {
    panels: Vec<Panel>,
}

/// Panels per row, and each panel's pixel size.
const COLUMNS: usize = 3;
const PANEL: (u32, u32) = (440, 300);

impl FitProbability {
    /// `None` when no configuration's probes could be found.
    pub(super) fn new(configs: &[Config], labels: &[String], probes: &[Probe]) -> Option<Self> {
        let mut panels = Vec::new();
        for (c, label) in configs.iter().zip(labels) {
            let mut at_n: Vec<(u64, usize, usize)> = Vec::new();
            for s in &c.seeds {
                for p in c.probes_at_budget(s, probes) {
                    match at_n.iter_mut().find(|a| a.0 == p.n) {
                        Some(a) => {
                            a.1 += p.fitted as usize;
                            a.2 += 1;
                        }
                        None => at_n.push((p.n, p.fitted as usize, 1)),
                    }
                }
            }
            if at_n.is_empty() {
                continue;
            }
            at_n.sort_unstable();
            let total: usize = at_n.iter().map(|a| a.2).sum();
            let levels: Vec<u64> = c.seeds.iter().map(|s| 1u64 << s.level()).collect();
            let (least, most) = (
                levels.iter().min().copied().unwrap_or(1),
                levels.iter().max().copied().unwrap_or(1),
            );
            let budget = match (c.has_budget_levels(), least == most) {
                (false, _) => String::new(),
                (true, true) => format!(", {most}x budget"),
                (true, false) => format!(", {least}x-{most}x budget"),
            };
            panels.push(Panel {
                title: format!("{label}{budget} ({total} probes, {} seeds)", c.seeds.len()),
                binned: binned(&at_n),
                at_n,
                n50: c.aggregate.n50,
                band: match c.aggregate.band {
                    Some(Band::Overlap { lo, hi }) => Some((lo, hi)),
                    _ => None,
                },
            });
        }
        (!panels.is_empty()).then_some(Self { panels })
    }
}

/// The fraction fitted per quarter-octave bin of n (bins `[2^(k/4), 2^((k+1)/4))`).
fn binned(at_n: &[(u64, usize, usize)]) -> Vec<(f64, f64)> {
    let mut bins: Vec<(i64, f64, usize, usize)> = Vec::new();
    for &(n, fitted, count) in at_n.iter().filter(|a| a.0 > 0) {
        let k = (4.0 * (n as f64).log2()).floor() as i64;
        let ln = (n as f64).ln() * count as f64;
        match bins.iter_mut().find(|b| b.0 == k) {
            Some(b) => {
                b.1 += ln;
                b.2 += fitted;
                b.3 += count;
            }
            None => bins.push((k, ln, fitted, count)),
        }
    }
    bins.sort_by_key(|b| b.0);
    bins.iter()
        .map(|&(_, ln, fitted, count)| ((ln / count as f64).exp(), fitted as f64 / count as f64))
        .collect()
}

impl Figure for FitProbability {
    fn size(&self) -> (u32, u32) {
        let columns = self.panels.len().min(COLUMNS) as u32;
        let rows = self.panels.len().div_ceil(COLUMNS) as u32;
        ((columns * PANEL.0).max(1000), 90 + rows * PANEL.1)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let root = root.titled(
            "Fit probability against n at the largest budget (all seeds pooled)",
            (FONT, 22).into_font().style(FontStyle::Bold),
        )?;
        let (key, grid) = root.split_vertically(36);
        draw_fit_key(&key)?;
        let columns = self.panels.len().min(COLUMNS);
        let rows = self.panels.len().div_ceil(COLUMNS);
        for (panel, area) in self.panels.iter().zip(grid.split_evenly((rows, columns))) {
            panel.draw(&area)?;
        }
        Ok(())
    }
}

impl Panel {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let (lo, hi) = log_range(
            self.at_n.iter().map(|a| a.0 as f64).chain(self.n50).chain(
                self.band
                    .into_iter()
                    .flat_map(|(a, b)| [a as f64, b as f64]),
            ),
        );
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, (FONT, 14))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(
                (lo..hi).log_scale().with_key_points(nice_ticks(lo, hi)),
                -0.05..1.05,
            )?;
        chart
            .configure_mesh()
            .x_desc("training samples n")
            .y_desc("fraction fitted")
            .x_label_formatter(&|v| compact(*v))
            .y_labels(5)
            .y_label_formatter(&|v| format!("{v:.2}"))
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .light_line_style(RGBColor(245, 245, 245))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()?;
        if let Some((a, b)) = self.band {
            let (a, b) = (a.max(1) as f64, b.max(1) as f64);
            chart.draw_series([Rectangle::new(
                [(a.min(b), -0.05), (a.max(b), 1.05)],
                BAND_FILL.mix(0.7).filled(),
            )])?;
        }
        let line: Vec<(f64, f64)> = self.binned.iter().map(|&(n, f)| (n.max(1.0), f)).collect();
        chart.draw_series(LineSeries::new(line, BLUE.stroke_width(2)))?;
        chart.draw_series(self.at_n.iter().map(|&(n, fitted, count)| {
            let f = fitted as f64 / count as f64;
            let colour = match fitted {
                0 => RED,
                k if k == count => GREEN,
                _ => ORANGE,
            };
            let radius = 3 + (2.0 * ((count - 1) as f64).sqrt()).round() as i32;
            Circle::new((n.max(1) as f64, f), radius, colour.mix(0.75).filled())
        }))?;
        if let Some(n50) = self.n50.filter(|n| *n > 0.0) {
            let label = (FONT, 12)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Top));
            chart.draw_series(DashedLineSeries::new(
                [(n50, -0.05), (n50, 1.05)],
                5,
                4,
                BLACK.stroke_width(2),
            ))?;
            chart.draw_series([EmptyElement::at((n50, 1.05))
                + Text::new(format!("n50 = {}", compact(n50.round())), (4, 2), label)])?;
        }
        Ok(())
    }
}

/// The key of `fit_probability`, in a strip above the panels.
fn draw_fit_key<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let items = [
        "fraction fitted at n (area: probes)",
        "per quarter octave of n",
        "n50 (50% crossing)",
        "band: fits and failures overlap",
    ];
    draw_key(area, 14, &items, (30, 20), |k, x, y| {
        match k {
            0 => {
                area.draw(&Circle::new((x + 6, y), 5, GREEN.mix(0.75).filled()))?;
                area.draw(&Circle::new((x + 18, y), 5, RED.mix(0.75).filled()))?;
            }
            1 => area.draw(&PathElement::new(
                [(x, y), (x + 24, y)],
                BLUE.stroke_width(2),
            ))?,
            2 => area.draw(&DashedPathElement::new(
                [(x + 12, y - 10), (x + 12, y + 10)],
                5,
                4,
                BLACK.stroke_width(2),
            ))?,
            _ => area.draw(&Rectangle::new(
                [(x, y - 9), (x + 24, y + 9)],
                BAND_FILL.mix(0.7).filled(),
            ))?,
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_are_round_and_not_too_many() {
        assert_eq!(nice_ticks(38.0, 130.0), [40.0, 50.0, 60.0, 80.0, 100.0]);
        assert_eq!(
            nice_ticks(9.0, 600.0),
            [10.0, 20.0, 50.0, 100.0, 200.0, 500.0]
        );
        assert_eq!(nice_ticks(5.0, 2e6), [10.0, 100.0, 1e3, 1e4, 1e5, 1e6]);
    }

    #[test]
    fn bins_pool_probes_per_quarter_octave() {
        // 100 and 105 share the bin [2^6.5, 2^6.75); 64 and 200 are alone.
        let b = binned(&[(64, 2, 2), (100, 1, 1), (105, 0, 1), (200, 0, 3)]);
        assert_eq!(b.len(), 3);
        assert!((b[1].0 - (100.0f64 * 105.0).sqrt()).abs() < 1e-9);
        assert_eq!(b.iter().map(|x| x.1).collect::<Vec<_>>(), [1.0, 0.5, 0.0]);
    }
}

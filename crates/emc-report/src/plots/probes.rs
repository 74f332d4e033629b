//! `probes`: every probe at its n (log scale), fitted or failed, one row per (configuration,
//! seed), with the seed's EMC marked.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use super::{compact, decades, draw_key, probes_size, Figure, BAND, FONT, GREEN, RED};
use crate::error::Result;
use crate::input::{Config, Probe};

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
pub(super) struct ProbeMap {
    rows: Vec<MapRow>,
}

impl ProbeMap {
    pub(super) fn new(configs: &[Config], labels: &[String], probes: &[Probe]) -> Self {
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

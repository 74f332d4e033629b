//! `emc_vs_params`: median EMC (bars: min to max over seeds) against trainable parameters,
//! log-log, one labelled marker per configuration, with the line EMC = parameters.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use super::{compact, decades, Figure, BLUE, EMC_VS_PARAMS_SIZE, FONT, GREY};
use crate::error::Result;
use crate::input::Config;

/// Log-log median EMC (bars: min–max over seeds) against parameters, with EMC = parameters.
pub(super) struct EmcVsParams<'a> {
    pub(super) configs: &'a [Config],
    pub(super) labels: &'a [String],
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

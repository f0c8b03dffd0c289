//! The study's charts, as SVG through plotters: lines with a shaded band (the mean over seeds
//! and its 95 % interval), red crosses for runs that diverged, and bars with whiskers (the
//! interval).
//!
//! Coordinates are plain `f64` on every axis: a log axis plots `log10` of the values and
//! labels its ticks with the values; a categorical axis plots category `i` at `x = i`. So
//! one drawing routine serves every chart.

use crate::error::StudyError;
use crate::stats::Summary;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// The colour of runs without BatchNorm, in every chart.
pub const NO_BN: RGBColor = RGBColor(230, 120, 20);
/// The colour of runs with BatchNorm, in every chart.
pub const BN: RGBColor = RGBColor(31, 100, 180);
/// Further colours, for charts with more than two series.
pub const PALETTE: [RGBColor; 4] = [
    RGBColor(40, 150, 60),
    RGBColor(150, 60, 170),
    RGBColor(120, 120, 120),
    RGBColor(20, 170, 190),
];
const DIVERGED: RGBColor = RGBColor(210, 0, 0);

/// The colour of a run with or without BatchNorm.
pub fn bn_color(batch_norm: bool) -> RGBColor {
    if batch_norm {
        BN
    } else {
        NO_BN
    }
}

/// How an axis maps values.
pub enum Scale {
    /// As they are.
    Linear,
    /// `log10` of the values (which must be positive).
    Log10,
    /// Category `i` at `i`, labelled with its name.
    Categories(Vec<String>),
}

/// One axis: its label, scale, and optionally a fixed range (in values, not log10).
pub struct Axis {
    /// The text along the axis.
    pub label: String,
    /// How values are placed.
    pub scale: Scale,
    /// The range shown; `None` fits the data.
    pub range: Option<(f64, f64)>,
}

impl Axis {
    /// A linear axis fitted to the data.
    pub fn linear(label: &str) -> Axis {
        Axis {
            label: label.to_string(),
            scale: Scale::Linear,
            range: None,
        }
    }

    /// A log10 axis fitted to the data.
    pub fn log(label: &str) -> Axis {
        Axis {
            scale: Scale::Log10,
            ..Axis::linear(label)
        }
    }

    /// A categorical axis.
    pub fn categories(label: &str, names: impl IntoIterator<Item = String>) -> Axis {
        Axis {
            scale: Scale::Categories(names.into_iter().collect()),
            ..Axis::linear(label)
        }
    }

    /// The same axis showing `range`.
    pub fn range(self, low: f64, high: f64) -> Axis {
        Axis {
            range: Some((low, high)),
            ..self
        }
    }

    fn place(&self, v: f64) -> f64 {
        match self.scale {
            Scale::Log10 => v.log10(),
            _ => v,
        }
    }

    /// The lower end of a band as drawn: on a log axis an interval reaching 0 or below is
    /// cut at a tenth of the mean (a log axis has no 0).
    fn band_low(&self, b: &Summary) -> f64 {
        match self.scale {
            Scale::Log10 => b.lo.max(b.mean / 10.0),
            _ => b.lo,
        }
    }

    fn tick(&self, v: f64) -> String {
        match &self.scale {
            Scale::Linear => short(v),
            Scale::Log10 => short(10f64.powf(v)),
            Scale::Categories(names) => {
                let i = v.round();
                let on_category = (v - i).abs() < 1e-6 && i >= 0.0;
                let name = on_category.then(|| names.get(i as usize)).flatten();
                name.cloned().unwrap_or_default()
            }
        }
    }

    /// The plotted interval: the fixed range, or the data's with a margin.
    fn bounds(&self, values: impl Iterator<Item = f64>) -> (f64, f64) {
        if let Scale::Categories(names) = &self.scale {
            return (-0.5, names.len() as f64 - 0.5);
        }
        if let Some((low, high)) = self.range {
            return (self.place(low), self.place(high));
        }
        let (low, high) = values
            .map(|v| self.place(v))
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                (l.min(v), h.max(v))
            });
        if low > high {
            return (0.0, 1.0);
        }
        let pad = ((high - low) * 0.05).max(1e-3);
        (low - pad, high + pad)
    }
}

/// A chart's title and axes, and where its legend goes.
pub struct Axes {
    /// The title above the chart.
    pub title: String,
    /// The horizontal axis.
    pub x: Axis,
    /// The vertical axis.
    pub y: Axis,
    /// Where the legend is drawn.
    pub legend: SeriesLabelPosition,
}

/// A line with its band: at each `x`, the mean over seeds (line) and its 95 % interval
/// (shaded), plus a red cross at the bottom at each `x` where a run diverged.
/// A point whose mean is NaN ([`Summary::NONE`]) breaks the line.
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// The colour of line and band.
    pub color: RGBColor,
    /// `(x, band)` in order of `x`.
    pub points: Vec<(f64, Summary)>,
    /// Where runs of this series diverged.
    pub diverged: Vec<f64>,
    /// Line width in pixels.
    pub width: u32,
}

impl Series {
    /// A series of width 2 with no divergence.
    pub fn new(name: &str, color: RGBColor, points: Vec<(f64, Summary)>) -> Series {
        Series {
            name: name.to_string(),
            color,
            points,
            diverged: Vec::new(),
            width: 2,
        }
    }
}

/// One bar of a bar chart: the mean, a whisker over its 95 % interval, and a label above it.
pub struct Bar {
    /// The category under the bar.
    pub label: String,
    /// The values over seeds or repeats.
    pub value: Summary,
    /// The bar's colour.
    pub color: RGBColor,
    /// The text written above the bar.
    pub text: String,
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// Writes `path`: one line chart.
pub fn line_chart(path: &Path, axes: &Axes, series: &[Series]) -> Result<(), StudyError> {
    svg(path, (760, 460), |root| draw_lines(root, axes, series))
}

/// Writes `path`: line charts side by side (the paper's three-panel figure).
pub fn panels(path: &Path, panels: &[(Axes, Vec<Series>)]) -> Result<(), StudyError> {
    let size = (420 * panels.len() as u32, 400);
    svg(path, size, |root| {
        let areas = root.split_evenly((1, panels.len()));
        panels
            .iter()
            .zip(&areas)
            .try_for_each(|((axes, series), area)| draw_lines(area, axes, series))
    })
}

/// Writes `path`: a bar chart.
pub fn bar_chart(path: &Path, title: &str, y_label: &str, bars: &[Bar]) -> Result<(), StudyError> {
    svg(path, (760, 440), |root| {
        draw_bars(root, title, y_label, bars)
    })
}

fn svg(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&Area) -> DrawResult,
) -> Result<(), StudyError> {
    let root = SVGBackend::new(path, size).into_drawing_area();
    let drawn = root
        .fill(&WHITE)
        .and_then(|()| draw(&root))
        .and_then(|()| root.present());
    drawn.map_err(|e| StudyError::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn draw_lines(area: &Area, axes: &Axes, series: &[Series]) -> DrawResult {
    let xs = series.iter().flat_map(|s| {
        s.points
            .iter()
            .map(|p| p.0)
            .chain(s.diverged.iter().copied())
    });
    let ys = series.iter().flat_map(|s| {
        s.points
            .iter()
            .flat_map(|p| [axes.y.band_low(&p.1), p.1.hi])
    });
    let (x0, x1) = axes.x.bounds(xs);
    let (y0, y1) = axes.y.bounds(ys);
    let mut chart = ChartBuilder::on(area)
        .caption(&axes.title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let categories = match &axes.x.scale {
        Scale::Categories(names) => names.len(),
        _ => 10,
    };
    chart
        .configure_mesh()
        .x_desc(axes.x.label.as_str())
        .y_desc(axes.y.label.as_str())
        .x_labels(categories)
        .x_label_formatter(&|v| axes.x.tick(*v))
        .y_label_formatter(&|v| axes.y.tick(*v))
        .light_line_style(BLACK.mix(0.04))
        .draw()?;

    let (x, y) = (|v: f64| axes.x.place(v), |v: f64| axes.y.place(v));
    for s in series {
        // A NaN mean breaks the line: no value there (every run diverged).
        let segments = s.points.split(|(_, b)| b.mean.is_nan());
        for segment in segments.filter(|seg| seg.iter().any(|(_, b)| b.hi > b.lo)) {
            let upper = segment.iter().map(|(px, b)| (x(*px), y(b.hi)));
            let lower = segment
                .iter()
                .rev()
                .map(|(px, b)| (x(*px), y(axes.y.band_low(b))));
            let outline: Vec<(f64, f64)> = upper.chain(lower).collect();
            chart.draw_series([Polygon::new(outline, s.color.mix(0.18).filled())])?;
        }
        let (color, width) = (s.color, s.width);
        let lines = s.points.split(|(_, b)| b.mean.is_nan()).map(|segment| {
            let line = segment.iter().map(|(px, b)| (x(*px), y(b.mean)));
            PathElement::new(line.collect::<Vec<_>>(), color.stroke_width(width))
        });
        chart
            .draw_series(lines)?
            .label(s.name.as_str())
            .legend(move |(lx, ly)| {
                PathElement::new([(lx, ly), (lx + 18, ly)], color.stroke_width(width))
            });
        let dots: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|(_, b)| !b.mean.is_nan())
            .map(|(px, b)| (x(*px), y(b.mean)))
            .collect();
        if dots.len() <= 12 {
            chart.draw_series(dots.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
        }
    }
    // Diverged runs: a cross near the bottom of the chart, at their x.
    let bottom = y0 + (y1 - y0) * 0.03;
    let crosses: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.diverged.iter().map(|&d| (x(d), bottom)))
        .collect();
    if !crosses.is_empty() {
        chart
            .draw_series(
                crosses
                    .into_iter()
                    .map(|p| Cross::new(p, 6, DIVERGED.stroke_width(2))),
            )?
            .label("a run diverged (NaN/inf loss)")
            .legend(|(lx, ly)| Cross::new((lx + 9, ly), 5, DIVERGED.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(axes.legend.clone())
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

fn draw_bars(area: &Area, title: &str, y_label: &str, bars: &[Bar]) -> DrawResult {
    let top = bars.iter().map(|b| b.value.hi).fold(0.0, f64::max) * 1.18;
    let n = bars.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5..n - 0.5, 0.0..top.max(1e-9))?;
    let x_axis = Axis::categories("", bars.iter().map(|b| b.label.clone()));
    chart
        .configure_mesh()
        .y_desc(y_label)
        .x_labels(bars.len())
        .x_label_formatter(&|v| x_axis.tick(*v))
        .y_label_formatter(&|v| short(*v))
        .disable_x_mesh()
        .light_line_style(BLACK.mix(0.04))
        .draw()?;
    for (i, bar) in bars.iter().enumerate() {
        let (i, v) = (i as f64, bar.value);
        chart.draw_series([Rectangle::new(
            [(i - 0.33, 0.0), (i + 0.33, v.mean)],
            bar.color.filled(),
        )])?;
        if v.hi > v.lo {
            chart.draw_series([PathElement::new(
                [(i, v.lo), (i, v.hi)],
                BLACK.stroke_width(2),
            )])?;
        }
        let above = TextStyle::from(("sans-serif", 13).into_font())
            .pos(Pos::new(HPos::Center, VPos::Bottom));
        let label_at = (i, v.hi + top * 0.02);
        chart.draw_series([Text::new(bar.text.clone(), label_at, above)])?;
    }
    Ok(())
}

/// A tick label: three significant digits (enough for ticks like 97.5), whole numbers from
/// 100, thousands as `k` from 10,000.
fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return "0".to_string();
    }
    if v.abs() >= 10_000.0 {
        return format!("{}k", short(v / 1000.0));
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (2 - magnitude).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_short() {
        let cases = [
            (0.0316, "0.0316"),
            (3.16, "3.16"),
            (97.5, "97.5"),
            (0.5, "0.5"),
            (2.0, "2"),
            (316.0, "316"),
            (50_000.0, "50k"),
            (0.0, "0"),
        ];
        for (v, want) in cases {
            assert_eq!(short(v), want, "{v}");
        }
        let log = Axis::log("lr");
        assert_eq!(log.tick(-2.0), "0.01");
        let cats = Axis::categories("b", ["2".to_string(), "4".to_string()]);
        assert_eq!(
            (cats.tick(1.0), cats.tick(0.5)),
            ("4".to_string(), String::new())
        );
    }
}

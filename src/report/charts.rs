//! The charts, drawn as SVG strings with plotters. Every chart names what it shows in its
//! title (model, split, labels), uses fonts a person can read (14–20 px), puts its legend
//! beside the plot rather than over it, and lays long category names out horizontally so
//! that they never overlap.

use crate::eval::bootstrap::Interval;
use plotters::coord::ranged1d::SegmentValue;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::sync::Once;

static FONTS: Once = Once::new();

pub(super) const FONT: &str = "sans-serif";
// plotters' SVG writes a font size about 0.8 of the one asked for: these give 19, 17 and
// 16 px on the page.
pub(super) const CAPTION: u32 = 24;
pub(super) const DESC: u32 = 21;
pub(super) const TICK: u32 = 20;
pub(super) const WIDTH: u32 = 1100;
/// Width of the legend panel right of a plot.
pub(super) const LEGEND: u32 = 310;
/// Pixels per character of tick text, for fitting labels.
const CHAR: f64 = 9.5;

/// plotters measures text with ab_glyph; give it DejaVu Sans under the family name it asks
/// for, so reports render the same on machines without any fonts installed.
pub fn register_fonts() {
    FONTS.call_once(|| {
        for (style, bytes) in [
            (FontStyle::Normal, dejavu::sans::regular()),
            (FontStyle::Bold, dejavu::sans::bold()),
        ] {
            // DejaVu is a valid font; a failure here would be a packaging bug.
            plotters::style::register_font(FONT, style, bytes)
                .unwrap_or_else(|_| panic!("the embedded DejaVu font did not load"));
        }
    });
}

pub(super) fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Colours told apart by colour-blind readers (Okabe and Ito), then plotters' palette.
pub fn colour(i: usize) -> RGBColor {
    const OKABE_ITO: [RGBColor; 8] = [
        RGBColor(0, 114, 178),
        RGBColor(213, 94, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(230, 159, 0),
        RGBColor(86, 180, 233),
        RGBColor(120, 120, 120),
        RGBColor(240, 228, 66),
    ];
    match OKABE_ITO.get(i) {
        Some(c) => *c,
        None => {
            let c = Palette99::pick(i).to_rgba();
            RGBColor(c.0, c.1, c.2)
        }
    }
}

/// Cut a label to `max` characters with an ellipsis.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// A padded range around finite `values` (`fallback` when there are none).
fn range_of(values: impl Iterator<Item = f64>, fallback: (f64, f64)) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return fallback;
    }
    // A lone value (or a handful of equal ones) gets a window a reader can place it in:
    // at least 5% of its size either side, not a sliver of rounding.
    let pad = ((hi - lo) * 0.08).max(hi.abs().max(1e-3) * 0.05);
    (lo - pad, hi + pad)
}

/// Legend entries in the series' colours, in order.
fn coloured<'a>(names: impl Iterator<Item = &'a String>) -> Vec<(String, RGBColor)> {
    names
        .enumerate()
        .map(|(i, n)| (n.clone(), colour(i)))
        .collect()
}

/// Entries of a legend, drawn in their own panel: a swatch and a wrapped name each.
pub(super) fn draw_legend(
    area: &DrawingArea<SVGBackend, Shift>,
    title: &str,
    entries: &[(String, RGBColor)],
) -> Result<(), String> {
    let font = (FONT, TICK).into_font();
    area.draw(&Text::new(
        title.to_string(),
        (8, 48),
        (FONT, TICK).into_font().style(FontStyle::Bold),
    ))
    .map_err(err)?;
    let max_chars = ((LEGEND as f64 - 44.0) / CHAR) as usize;
    let mut y = 72;
    for (name, c) in entries {
        area.draw(&PathElement::new(
            vec![(8, y + 7), (30, y + 7)],
            c.stroke_width(3),
        ))
        .map_err(err)?;
        area.draw(&Circle::new((19, y + 7), 4, c.filled()))
            .map_err(err)?;
        // Long names wrap over two lines, then are cut.
        for line in wrap_two(name, max_chars) {
            area.draw(&Text::new(line, (38, y), font.clone()))
                .map_err(err)?;
            y += 22;
        }
        y += 4;
    }
    Ok(())
}

/// `name` on one line, or on two broken after a space, `=`, `,` or `.` where one falls in
/// the second half of the first line (else at the width); the second line is cut.
fn wrap_two(name: &str, max: usize) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= max {
        return vec![name.to_string()];
    }
    let at = (max / 2..max)
        .rev()
        .find(|&i| matches!(chars[i - 1], ' ' | '=' | ',' | '.'))
        .unwrap_or(max);
    let first: String = chars[..at].iter().collect();
    let rest: String = chars[at..].iter().collect();
    vec![
        first.trim_end().to_string(),
        shorten(rest.trim_start(), max),
    ]
}

/// One row of an interval chart: an arm and its seeds.
pub struct IntervalRow {
    pub label: String,
    /// One value per seed, drawn as dots.
    pub seeds: Vec<f64>,
    pub mean: f64,
    pub interval: Option<Interval>,
    pub baseline: bool,
}

/// Arms down the side, the score across: every seed a dot behind the mean (a square) and its
/// interval (a bar); a dashed line marks the baseline arm's mean.
pub fn intervals_chart(title: &str, x_label: &str, rows: &[IntervalRow]) -> Result<String, String> {
    let n = rows.len().max(1);
    // The baseline's label says so.
    let longest = rows
        .iter()
        .map(|r| r.label.chars().count() + if r.baseline { 11 } else { 0 })
        .max()
        .unwrap_or(4);
    let label_px = ((longest as f64 * CHAR) as u32 + 24).clamp(80, 520);
    let max_chars = ((label_px - 24) as f64 / CHAR).round() as usize;
    let height = 110 + 38 * n as u32;
    let (lo, hi) = range_of(
        rows.iter().flat_map(|r| {
            r.seeds
                .iter()
                .copied()
                .chain([r.mean])
                .chain(r.interval.iter().flat_map(|i| [i.low, i.high]))
        }),
        (0.0, 1.0),
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, CAPTION))
            .margin(14)
            .x_label_area_size(52)
            .y_label_area_size(label_px)
            .build_cartesian_2d(lo..hi, (0..n - 1).into_segmented())
            .map_err(err)?;
        let label_of = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) if *i < n => rows
                .get(n - 1 - *i)
                .map(|r| {
                    let l = if r.baseline {
                        format!("{} (baseline)", r.label)
                    } else {
                        r.label.clone()
                    };
                    shorten(&l, max_chars)
                })
                .unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .max_light_lines(1)
            .light_line_style(RGBColor(242, 242, 242))
            .x_desc(x_label)
            .y_labels(n)
            .y_label_formatter(&label_of)
            .label_style((FONT, TICK))
            .axis_desc_style((FONT, DESC))
            .draw()
            .map_err(err)?;
        if let Some(b) = rows.iter().find(|r| r.baseline) {
            chart
                .draw_series(DashedLineSeries::new(
                    [
                        (b.mean, SegmentValue::Exact(0)),
                        (b.mean, SegmentValue::Exact(n)),
                    ],
                    6,
                    4,
                    RGBColor(150, 150, 150).stroke_width(1),
                ))
                .map_err(err)?;
        }
        let ink = RGBColor(0, 114, 178);
        for (k, r) in rows.iter().enumerate() {
            let y = SegmentValue::CenterOf(n - 1 - k);
            let m = r.seeds.len().max(1) as i32;
            // Seeds spread a little up and down so that equal values stay visible.
            chart
                .draw_series(r.seeds.iter().enumerate().map(|(j, &v)| {
                    let dy = (j as i32 - (m - 1) / 2) * 4;
                    EmptyElement::at((v, y.clone()))
                        + Circle::new((0, dy), 4, RGBColor(150, 150, 150).mix(0.8).filled())
                }))
                .map_err(err)?;
            if let Some(i) = r.interval {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(i.low, y.clone()), (i.high, y.clone())],
                        ink.stroke_width(3),
                    )))
                    .map_err(err)?;
                chart
                    .draw_series([i.low, i.high].into_iter().map(|x| {
                        EmptyElement::at((x, y.clone()))
                            + PathElement::new(vec![(0, -8), (0, 8)], ink.stroke_width(3))
                    }))
                    .map_err(err)?;
            }
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((r.mean, y.clone()))
                        + Rectangle::new([(-6, -6), (6, 6)], ink.filled()),
                ))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One named series of points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Dots per run (x: run id), one colour per series, the legend beside the plot.
pub fn runs_chart(title: &str, y_label: &str, series: &[Series]) -> Result<String, String> {
    // Run ids are whole numbers: a window of at least ten of them, ticks on whole numbers.
    let (first, last) = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    let (first, last) = if first.is_finite() {
        (first, last)
    } else {
        (1.0, 1.0)
    };
    let span = (last - first).max(10.0);
    let (x0, x1) = (
        (first - span * 0.04).floor().max(0.0),
        (first + span * 1.04).ceil(),
    );
    let ticks = ((x1 - x0) as usize).clamp(2, 12);
    let (y0, y1) = range_of(
        series.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
        (0.0, 1.0),
    );
    let many = series.iter().map(|s| s.points.len()).sum::<usize>() > 300;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (plot, legend) = root.split_horizontally(WIDTH - LEGEND);
        let mut chart = ChartBuilder::on(&plot)
            .caption(title, (FONT, CAPTION))
            .margin(14)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .max_light_lines(1)
            .light_line_style(RGBColor(242, 242, 242))
            .x_desc("run")
            .y_desc(y_label)
            .x_labels(ticks)
            .x_label_formatter(&|x| {
                if x.fract() == 0.0 {
                    format!("{x:.0}")
                } else {
                    String::new()
                }
            })
            .label_style((FONT, TICK))
            .axis_desc_style((FONT, DESC))
            .draw()
            .map_err(err)?;
        let radius = if many { 2 } else { 4 };
        for (i, s) in series.iter().enumerate() {
            let c = colour(i);
            chart
                .draw_series(
                    s.points
                        .iter()
                        .filter(|p| p.1.is_finite())
                        .map(|&p| Circle::new(p, radius, c.filled())),
                )
                .map_err(err)?;
        }
        let entries: Vec<(String, RGBColor)> = series
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let n = s.points.len();
                let runs = if n == 1 { "run" } else { "runs" };
                (format!("{} ({n} {runs})", s.name), colour(i))
            })
            .collect();
        draw_legend(&legend, "headline model", &entries)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A line with an interval at each level of an axis.
pub struct AxisLine {
    pub name: String,
    /// (level index, mean, interval).
    pub points: Vec<(usize, f64, Option<Interval>)>,
}

/// A score against the levels of one swept axis (in order, evenly spaced), one line per
/// level of the other axes, each point the mean over seeds with its interval.
pub fn axis_chart(
    title: &str,
    axis: &str,
    levels: &[String],
    y_label: &str,
    legend_title: &str,
    lines: &[AxisLine],
) -> Result<String, String> {
    let k = levels.len().max(1);
    let (y0, y1) = range_of(
        lines.iter().flat_map(|l| {
            l.points.iter().flat_map(|p| {
                [p.1]
                    .into_iter()
                    .chain(p.2.iter().flat_map(|i| [i.low, i.high]))
            })
        }),
        (0.0, 1.0),
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 440)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (plot, legend) = root.split_horizontally(WIDTH - LEGEND);
        let max_chars = (((WIDTH - LEGEND - 100) as f64 / k as f64) / CHAR) as usize;
        let mut chart = ChartBuilder::on(&plot)
            .caption(title, (FONT, CAPTION))
            .margin(14)
            .x_label_area_size(52)
            .y_label_area_size(70)
            .build_cartesian_2d((0..k - 1).into_segmented(), y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .max_light_lines(1)
            .light_line_style(RGBColor(242, 242, 242))
            .x_desc(axis)
            .y_desc(y_label)
            .x_labels(k)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => levels
                    .get(*i)
                    .map(|l| shorten(l, max_chars.max(4)))
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .label_style((FONT, TICK))
            .axis_desc_style((FONT, DESC))
            .draw()
            .map_err(err)?;
        let spread = lines.len() as i32;
        for (li, line) in lines.iter().enumerate() {
            let c = colour(li);
            // Lines side by side at a level are nudged apart so their bars do not hide
            // each other.
            let dx = (li as i32 * 2 - (spread - 1)) * 3;
            // The line runs through the nudged markers: its points in pixels, drawn from the
            // first point's place.
            if let Some(first) = line.points.first() {
                let anchor = (SegmentValue::CenterOf(first.0), first.1);
                let origin = chart.backend_coord(&anchor);
                let path: Vec<(i32, i32)> = line
                    .points
                    .iter()
                    .map(|p| {
                        let at = chart.backend_coord(&(SegmentValue::CenterOf(p.0), p.1));
                        (at.0 - origin.0 + dx, at.1 - origin.1)
                    })
                    .collect();
                chart
                    .draw_series(std::iter::once(
                        EmptyElement::at(anchor) + PathElement::new(path, c.stroke_width(2)),
                    ))
                    .map_err(err)?;
            }
            for p in &line.points {
                let at = SegmentValue::CenterOf(p.0);
                if let Some(i) = p.2 {
                    let (top, bottom) = (
                        chart.backend_coord(&(at.clone(), i.high)).1,
                        chart.backend_coord(&(at.clone(), i.low)).1,
                    );
                    let mid = chart.backend_coord(&(at.clone(), p.1)).1;
                    chart
                        .draw_series(std::iter::once(
                            EmptyElement::at((at.clone(), p.1))
                                + PathElement::new(
                                    vec![(dx, top - mid), (dx, bottom - mid)],
                                    c.stroke_width(2),
                                ),
                        ))
                        .map_err(err)?;
                }
                chart
                    .draw_series(std::iter::once(
                        EmptyElement::at((at, p.1)) + Circle::new((dx, 0), 5, c.filled()),
                    ))
                    .map_err(err)?;
            }
        }
        draw_legend(
            &legend,
            legend_title,
            &coloured(lines.iter().map(|l| &l.name)),
        )?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Epochs and counts as whole numbers; a tick between them keeps its decimals.
fn whole_or_decimal(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// A curve with a band around it.
pub struct Band {
    pub name: String,
    /// (x, mean, low, high).
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// Curves over epochs, each with a shaded band (the spread over seeds; none for one run).
pub fn band_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    legend_title: &str,
    bands: &[Band],
) -> Result<String, String> {
    let (x0, x1) = range_of(
        bands.iter().flat_map(|b| b.points.iter().map(|p| p.0)),
        (1.0, 2.0),
    );
    let (y0, y1) = range_of(
        bands
            .iter()
            .flat_map(|b| b.points.iter().flat_map(|p| [p.2, p.3])),
        (0.0, 1.0),
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (plot, legend) = root.split_horizontally(WIDTH - LEGEND);
        let mut chart = ChartBuilder::on(&plot)
            .caption(title, (FONT, CAPTION))
            .margin(14)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(x0.max(0.0)..x1, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .max_light_lines(1)
            .light_line_style(RGBColor(242, 242, 242))
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&|x| whole_or_decimal(*x))
            .label_style((FONT, TICK))
            .axis_desc_style((FONT, DESC))
            .draw()
            .map_err(err)?;
        for (i, b) in bands.iter().enumerate() {
            let c = colour(i);
            let pts: Vec<&(f64, f64, f64, f64)> =
                b.points.iter().filter(|p| p.1.is_finite()).collect();
            if pts.iter().any(|p| p.3 > p.2) {
                let mut outline: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.3)).collect();
                outline.extend(pts.iter().rev().map(|p| (p.0, p.2)));
                chart
                    .draw_series(std::iter::once(Polygon::new(outline, c.mix(0.18).filled())))
                    .map_err(err)?;
            }
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|p| (p.0, p.1)),
                    c.stroke_width(2),
                ))
                .map_err(err)?;
        }
        draw_legend(
            &legend,
            legend_title,
            &coloured(bands.iter().map(|b| &b.name)),
        )?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A heat map of counts, shaded by each row's share, counts written in the cells; rows are
/// `rows` (the published label, or the true genre), columns the predicted genre.
pub fn confusion_chart(
    title: &str,
    rows: &str,
    classes: &[String],
    matrix: &[Vec<usize>],
) -> Result<String, String> {
    let shade: Vec<Vec<f64>> = matrix
        .iter()
        .map(|row| {
            let total: usize = row.iter().sum();
            row.iter()
                .map(|&c| {
                    if total > 0 {
                        c as f64 / total as f64
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    let text: Vec<Vec<String>> = matrix
        .iter()
        .map(|row| row.iter().map(|c| c.to_string()).collect())
        .collect();
    heatmap(title, rows, "predicted genre", classes, &shade, &text)
}

/// A conditional probability matrix, `[row][column]`, shaded and written to two places.
pub fn probability_chart(
    title: &str,
    rows: &str,
    columns: &str,
    classes: &[String],
    matrix: &[Vec<f64>],
) -> Result<String, String> {
    let text: Vec<Vec<String>> = matrix
        .iter()
        .map(|row| row.iter().map(|v| format!("{v:.2}")).collect())
        .collect();
    heatmap(title, rows, columns, classes, matrix, &text)
}

/// Square cells of classes × classes shaded by `shade` (0 to 1), `text` in each.
fn heatmap(
    title: &str,
    rows: &str,
    columns: &str,
    classes: &[String],
    shade_of: &[Vec<f64>],
    text: &[Vec<String>],
) -> Result<String, String> {
    let n = classes.len().max(1);
    let cell = (360 / n).clamp(34, 56) as u32;
    let side = cell * n as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (side + 200, side + 230)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, DESC))
            .margin(12)
            .x_label_area_size(120)
            .y_label_area_size(150)
            .build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented())
            .map_err(err)?;
        // Column names run upwards, so that long genre names fit under narrow cells.
        let name = |v: &SegmentValue<usize>, flip: bool| match v {
            SegmentValue::CenterOf(i) if *i < n => {
                let idx = if flip { n - 1 - *i } else { *i };
                shorten(&classes.get(idx).cloned().unwrap_or_default(), 14)
            }
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(columns)
            .y_desc(rows)
            .x_labels(n)
            .y_labels(n)
            .x_label_formatter(&|_| String::new())
            .y_label_formatter(&|v| name(v, true))
            .y_label_style((FONT, TICK))
            .axis_desc_style((FONT, DESC))
            .draw()
            .map_err(err)?;
        // Column names run downwards from just under their column, so that long genre names
        // fit under narrow cells; plotters' own rotated tick labels are centred on the tick
        // and would cross the axis.
        for i in 0..n {
            let (x, y) = chart.backend_coord(&(SegmentValue::CenterOf(i), SegmentValue::Exact(0)));
            root.draw(&Text::new(
                name(&SegmentValue::CenterOf(i), false),
                (x, y + 8),
                (FONT, TICK)
                    .into_font()
                    .transform(FontTransform::Rotate90)
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(err)?;
        }
        for (t, (row, words)) in shade_of.iter().zip(text).enumerate() {
            let y = n - 1 - t;
            for (p, (&share, word)) in row.iter().zip(words).enumerate() {
                let share = share.clamp(0.0, 1.0);
                let shade = (255.0 * (1.0 - 0.85 * share)) as u8;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [
                            (SegmentValue::Exact(p), SegmentValue::Exact(y)),
                            (SegmentValue::Exact(p + 1), SegmentValue::Exact(y + 1)),
                        ],
                        RGBColor(shade, shade, 255).filled(),
                    )))
                    .map_err(err)?;
                let ink = if share > 0.55 { WHITE } else { BLACK };
                chart
                    .draw_series(std::iter::once(Text::new(
                        word.clone(),
                        (SegmentValue::CenterOf(p), SegmentValue::CenterOf(y)),
                        (FONT, 17)
                            .into_font()
                            .color(&ink)
                            .pos(Pos::new(HPos::Center, VPos::Center)),
                    )))
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::wrap_two;

    #[test]
    fn legend_names_break_after_a_separator_and_the_rest_is_cut() {
        assert_eq!(wrap_two("noise.rate=0.1", 20), ["noise.rate=0.1"]);
        assert_eq!(
            wrap_two("factors.mfcc.clusters=256", 20),
            ["factors.mfcc.", "clusters=256"]
        );
        assert_eq!(
            wrap_two("abcdefghijklmnopqrstuvwxyz0123456789abcdefghij", 10),
            ["abcdefghij", "klmnopqrs…"]
        );
    }
}
